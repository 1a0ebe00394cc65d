//! Batch parallelism: how many batches of one epoch to prove at once, and proving them so.
//!
//! Every proof reads the same loaded keys (shared, never copied) and needs working memory of its
//! own: the constraint system with its matrices, the assignment and the QAP's domain-sized
//! vectors. More proofs at once than the machine has threads gain nothing (each MSM already uses
//! every core; what concurrency wins is the single-threaded witness and synthesis of one batch
//! overlapping another's MSMs), and more than free memory holds would swap or be killed. The
//! limit is therefore the smaller of the two, and never below one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ark_bn254::Bn254;
use ark_groth16::Proof;
use ark_relations::gr1cs::ConstraintSynthesizer;
use rand::{CryptoRng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::keys::Keys;
use crate::prove::{prove, ConstraintGroupNames, ProveError};
use crate::Fr;

/// Working memory of one proof per constraint of its circuit, beyond the shared keys: the
/// constraint system's linear combinations and matrices dominate. `gridproof bench` prints the
/// measured value beside this estimate: 573 MiB measured at (64, 96) against 716 MiB
/// estimated (README, "Benchmarks"). On the high side: underestimating risks the OOM killer.
pub const WORKING_BYTES_PER_CONSTRAINT: u64 = 1_024;

/// Working memory of one proof that does not grow with the circuit (buffers, thread stacks).
pub const WORKING_BYTES_FIXED: u64 = 64 << 20;

/// Memory left free for everything else on the machine (the service, the database, the page
/// cache the keys are read through) when the limit is derived from free memory.
pub const MEMORY_RESERVE_BYTES: u64 = 512 << 20;

/// The estimated working memory of one proof of a circuit of `num_constraints` constraints.
pub fn working_bytes_per_proof(num_constraints: usize) -> u64 {
    WORKING_BYTES_FIXED
        .saturating_add((num_constraints as u64).saturating_mul(WORKING_BYTES_PER_CONSTRAINT))
}

/// Memory this process can still use, in bytes: the kernel's `MemAvailable`, lowered to the
/// cgroup's remaining allowance when the process runs under a cgroup v2 memory limit. `None`
/// where neither can be read (not Linux), in which case callers prove one batch at a time.
pub fn available_memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok();
    let system = meminfo.as_deref().and_then(parse_mem_available);
    let cgroup = cgroup_remaining_bytes();
    match (system, cgroup) {
        (Some(s), Some(c)) => Some(s.min(c)),
        (s, c) => s.or(c),
    }
}

/// `MemAvailable:  123456 kB` from /proc/meminfo, in bytes.
fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut words = line.split_whitespace().skip(1);
    let value: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => value.checked_mul(1024),
        None => Some(value),
        Some(_) => None,
    }
}

/// `memory.max - memory.current` of this process's cgroup v2, if it has a limit.
fn cgroup_remaining_bytes() -> Option<u64> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    // cgroup v2: the single line "0::/path".
    let path = membership.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = std::path::Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let max = std::fs::read_to_string(dir.join("memory.max")).ok()?;
    let max: u64 = max.trim().parse().ok()?; // "max" (no limit) does not parse: None
    let current: u64 = std::fs::read_to_string(dir.join("memory.current"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(max.saturating_sub(current))
}

/// How many batches to prove at once, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConcurrencyPlan {
    /// Batches proved at once (at least 1).
    pub limit: usize,
    /// The machine's threads (the upper bound).
    pub threads: usize,
    /// Estimated working memory of one proof, bytes.
    pub working_bytes_per_proof: u64,
    /// Free memory when the plan was made, bytes (`None`: unknown, so one at a time).
    pub available_bytes: Option<u64>,
    /// Proofs that fit in free memory after the reserve (`None`: unknown).
    pub by_memory: Option<usize>,
}

impl ConcurrencyPlan {
    /// The plan for a circuit of `num_constraints` constraints on a machine with `threads`
    /// threads and `available_bytes` of free memory (the keys are already loaded, so free memory
    /// already excludes them): the smaller of the threads and the proofs that fit.
    pub fn new(num_constraints: usize, threads: usize, available_bytes: Option<u64>) -> Self {
        let working = working_bytes_per_proof(num_constraints);
        let by_memory = available_bytes.map(|free| {
            let usable = free.saturating_sub(MEMORY_RESERVE_BYTES);
            usize::try_from(usable / working.max(1)).unwrap_or(usize::MAX)
        });
        let threads = threads.max(1);
        let limit = by_memory.unwrap_or(1).min(threads).max(1);
        ConcurrencyPlan {
            limit,
            threads,
            working_bytes_per_proof: working,
            available_bytes,
            by_memory,
        }
    }

    /// The plan for these loaded keys on this machine now.
    pub fn for_keys(keys: &Keys) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::new(keys.num_constraints, threads, available_memory_bytes())
    }

    /// A one-line account of the limit, for logs and progress output.
    pub fn describe(&self) -> String {
        let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
        match (self.available_bytes, self.by_memory) {
            (Some(free), Some(fit)) => format!(
                "{} at once: {} threads; {:.0} MiB free holds {} proofs of ~{:.0} MiB after a \
                 {:.0} MiB reserve",
                self.limit,
                self.threads,
                mib(free),
                fit,
                mib(self.working_bytes_per_proof),
                mib(MEMORY_RESERVE_BYTES)
            ),
            _ => format!(
                "{} at once: free memory unknown, so one proof at a time",
                self.limit
            ),
        }
    }
}

/// One batch's outcome from [`prove_batches`].
pub struct BatchOutcome {
    /// The proof, or why the batch could not be proved.
    pub proof: Result<Proof<Bn254>, ProveError>,
    /// Wall time of this batch's proof (witness, synthesis, check, proof).
    pub elapsed: Duration,
}

/// Proves `circuits` with at most `limit` proofs at once, each with its own randomness drawn
/// from `rng` (in input order, before any proof starts, so the same `rng` state gives the same
/// proofs whatever the scheduling). Outcomes come back in input order; `on_done` is called as
/// each batch finishes (from the proving thread), for progress output.
pub fn prove_batches<C, R>(
    keys: &Keys,
    circuits: Vec<C>,
    limit: usize,
    rng: &mut R,
    on_done: &(dyn Fn(usize, &BatchOutcome) + Sync),
) -> Vec<BatchOutcome>
where
    C: ConstraintSynthesizer<Fr> + ConstraintGroupNames + Clone + Send + 'static,
    R: RngCore + CryptoRng,
{
    let jobs: Vec<Mutex<Option<(C, ChaCha20Rng)>>> = circuits
        .into_iter()
        .map(|c| {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            Mutex::new(Some((c, ChaCha20Rng::from_seed(seed))))
        })
        .collect();
    let next = AtomicUsize::new(0);
    let threads = limit.clamp(1, jobs.len().max(1));
    let mut done: Vec<(usize, BatchOutcome)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    // Each index is handed out once, so each job is taken exactly once.
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(job) = jobs.get(i) else { break };
                        let taken = match job.lock() {
                            Ok(mut j) => j.take(),
                            Err(poisoned) => poisoned.into_inner().take(),
                        };
                        let Some((circuit, mut batch_rng)) = taken else {
                            continue;
                        };
                        let start = Instant::now();
                        let proof = prove(keys, circuit, &mut batch_rng, &mut |_| {});
                        let outcome = BatchOutcome {
                            proof,
                            elapsed: start.elapsed(),
                        };
                        on_done(i, &outcome);
                        mine.push((i, outcome));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, outcome)| outcome).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_available_is_parsed_in_bytes() {
        let meminfo = "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   2048 kB\n";
        assert_eq!(parse_mem_available(meminfo), Some(2048 * 1024));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: lots kB\n"), None);
        assert_eq!(parse_mem_available("MemAvailable: 5 MB\n"), None);
    }

    #[test]
    fn the_limit_is_the_smaller_of_threads_and_what_fits() {
        let n = 668_193;
        let per = working_bytes_per_proof(n);
        // Plenty of memory: the threads bound it.
        let plan = ConcurrencyPlan::new(n, 2, Some(24 << 30));
        assert_eq!(plan.limit, 2);
        // Room for exactly one proof after the reserve: one.
        let plan = ConcurrencyPlan::new(n, 8, Some(MEMORY_RESERVE_BYTES + per + per / 2));
        assert_eq!((plan.limit, plan.by_memory), (1, Some(1)));
        // Room for three: three of eight threads.
        let plan = ConcurrencyPlan::new(n, 8, Some(MEMORY_RESERVE_BYTES + 3 * per));
        assert_eq!(plan.limit, 3);
        // Not even one fits, or memory unknown: still one (proving is never refused here).
        assert_eq!(ConcurrencyPlan::new(n, 8, Some(1 << 20)).limit, 1);
        assert_eq!(ConcurrencyPlan::new(n, 8, None).limit, 1);
        assert_eq!(ConcurrencyPlan::new(n, 0, Some(24 << 30)).limit, 1);
    }

    #[test]
    fn the_estimate_grows_with_the_circuit() {
        assert!(working_bytes_per_proof(170_341) < working_bytes_per_proof(668_193));
        assert!(working_bytes_per_proof(668_193) > 600 << 20);
    }
}

//! Other Groth16 provers run side by side with gridproof's (`gridproof bench --peer`): snarkjs
//! and rapidsnark prove the same batch from the same zkey and the same witness file, as
//! separate processes whose wall time and peak memory are measured here.
//!
//! Peak memory of a child is the largest `VmHWM` read from `/proc/<pid>/status` while it runs,
//! sampled every few milliseconds (the kernel drops the figure when the process exits, and
//! `std::process` has no `wait4`): a lower bound that misses at most the growth of the last
//! sampling interval.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How often a running peer's peak memory is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(5);

/// A prover other than gridproof that reads a snarkjs zkey and an iden3 witness file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// `snarkjs groth16 prove ZKEY WTNS PROOF PUBLIC` (JavaScript + WebAssembly).
    Snarkjs,
    /// rapidsnark's `prover ZKEY WTNS PROOF PUBLIC` (C++ and assembly).
    Rapidsnark,
}

impl PeerKind {
    /// The name shown in reports.
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Snarkjs => "snarkjs",
            PeerKind::Rapidsnark => "rapidsnark",
        }
    }
}

/// A peer prover and the program that runs it.
#[derive(Debug, Clone)]
pub struct Peer {
    /// Which prover.
    pub kind: PeerKind,
    /// The executable: `snarkjs` (its CLI script) or rapidsnark's `prover`.
    pub program: PathBuf,
}

/// One measured run of a peer.
#[derive(Debug, Clone)]
pub struct PeerRun {
    /// Which prover.
    pub kind: PeerKind,
    /// Wall time of the whole process: reading the zkey and the witness, proving, writing the
    /// proof.
    pub wall: Duration,
    /// The largest resident set size sampled while it ran.
    pub peak_rss_bytes: Option<u64>,
    /// The proof it wrote (snarkjs JSON).
    pub proof_json: PathBuf,
    /// The public signals it wrote (snarkjs JSON).
    pub public_json: PathBuf,
}

/// Why a peer run failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The program could not be started.
    #[error("could not start {peer} ({program}): {source}")]
    Start {
        /// The peer.
        peer: &'static str,
        /// The program.
        program: String,
        /// The reason.
        source: std::io::Error,
    },
    /// The output folder or a log could not be written.
    #[error("{peer}: could not {action} {path}: {source}")]
    Io {
        /// The peer.
        peer: &'static str,
        /// "create", "read", ...
        action: &'static str,
        /// The file.
        path: String,
        /// The reason.
        source: std::io::Error,
    },
    /// The program exited unsuccessfully.
    #[error("{peer} failed ({status}); its output:\n{output}")]
    Failed {
        /// The peer.
        peer: &'static str,
        /// The exit status.
        status: String,
        /// The end of what it printed.
        output: String,
    },
    /// The program exited successfully without writing its proof.
    #[error("{peer} exited successfully but wrote no proof at {path}")]
    NoProof {
        /// The peer.
        peer: &'static str,
        /// Where the proof should be.
        path: String,
    },
}

/// Runs `peer` on `zkey` and `wtns`, writing `<name>.proof.json` and `<name>.public.json` in
/// `out_dir`, and measures it.
pub fn run_peer(
    peer: &Peer,
    zkey: &Path,
    wtns: &Path,
    out_dir: &Path,
) -> Result<PeerRun, PeerError> {
    let name = peer.kind.name();
    let io = |action: &'static str, path: &Path| {
        let path = path.display().to_string();
        move |source| PeerError::Io {
            peer: name,
            action,
            path,
            source,
        }
    };
    fs::create_dir_all(out_dir).map_err(io("create", out_dir))?;
    let proof_json = out_dir.join(format!("{name}.proof.json"));
    let public_json = out_dir.join(format!("{name}.public.json"));
    let log = out_dir.join(format!("{name}.log"));
    // A stale proof must not pass for this run's.
    for stale in [&proof_json, &public_json] {
        match fs::remove_file(stale) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("remove", stale)(e)),
        }
    }
    let mut args: Vec<OsString> = Vec::new();
    if peer.kind == PeerKind::Snarkjs {
        args.extend(["groth16".into(), "prove".into()]);
    }
    args.extend([zkey, wtns, &proof_json, &public_json].map(|p| p.as_os_str().to_owned()));
    let log_file = fs::File::create(&log).map_err(io("create", &log))?;
    let log_err = log_file.try_clone().map_err(io("open", &log))?;

    let start = Instant::now();
    let mut child = Command::new(&peer.program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .spawn()
        .map_err(|source| PeerError::Start {
            peer: name,
            program: peer.program.display().to_string(),
            source,
        })?;
    let status_file = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut peak: Option<u64> = None;
    let status = loop {
        if let Some(kb) = vm_hwm_kib(&status_file) {
            peak = Some(peak.unwrap_or(0).max(kb * 1024));
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(SAMPLE_EVERY),
            Err(e) => return Err(io("wait for", &peer.program)(e)),
        }
    };
    let wall = start.elapsed();
    if !status.success() {
        let output = fs::read_to_string(&log).unwrap_or_default();
        let tail: String = output
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(PeerError::Failed {
            peer: name,
            status: status.to_string(),
            output: tail,
        });
    }
    if !proof_json.is_file() {
        return Err(PeerError::NoProof {
            peer: name,
            path: proof_json.display().to_string(),
        });
    }
    Ok(PeerRun {
        kind: peer.kind,
        wall,
        peak_rss_bytes: peak,
        proof_json,
        public_json,
    })
}

/// `VmHWM` of a running process, in KiB.
fn vm_hwm_kib(status_file: &Path) -> Option<u64> {
    let status = fs::read_to_string(status_file).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake peer (a shell script that allocates memory and writes the two files) is measured:
    /// its wall time covers its sleep and its peak memory is seen.
    #[test]
    fn a_peer_is_timed_and_its_memory_sampled() {
        let dir = std::env::temp_dir().join(format!("gridproof-peer-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let script = dir.join("fake-prover");
        // Arguments: ZKEY WTNS PROOF PUBLIC. Holds ~64 MiB in a shell variable for a moment.
        fs::write(
            &script,
            "#!/bin/sh\nx=$(head -c 67108864 /dev/zero | tr '\\0' a)\nsleep 0.2\necho '{}' > \"$3\"\necho '[]' > \"$4\"\n",
        )
        .unwrap();
        let status = Command::new("chmod")
            .arg("+x")
            .arg(&script)
            .status()
            .unwrap();
        assert!(status.success());
        let peer = Peer {
            kind: PeerKind::Rapidsnark,
            program: script,
        };
        let run = run_peer(&peer, Path::new("z"), Path::new("w"), &dir).unwrap();
        assert!(run.wall >= Duration::from_millis(200), "{:?}", run.wall);
        assert!(
            run.peak_rss_bytes.unwrap() >= 64 << 20,
            "{:?}",
            run.peak_rss_bytes
        );
        assert!(run.proof_json.is_file() && run.public_json.is_file());
        fs::remove_dir_all(&dir).unwrap();
    }

    /// A peer that fails is an error carrying its output, not a measurement.
    #[test]
    fn a_failing_peer_is_an_error_with_its_output() {
        let dir = std::env::temp_dir().join(format!("gridproof-peer-fail-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let script = dir.join("failing-prover");
        fs::write(
            &script,
            "#!/bin/sh\necho 'zkey is for another circuit' >&2\nexit 3\n",
        )
        .unwrap();
        assert!(Command::new("chmod")
            .arg("+x")
            .arg(&script)
            .status()
            .unwrap()
            .success());
        let peer = Peer {
            kind: PeerKind::Snarkjs,
            program: script,
        };
        let err = run_peer(&peer, Path::new("z"), Path::new("w"), &dir).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("another circuit") && message.contains("snarkjs"),
            "{message}"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}

//! Measures gridproof's Groth16 prover with each MSM backend on the batch statement (issue 9):
//! witness synthesis excluded, the time of each MSM and of the FFTs, and peak memory.
//!
//! ```text
//! cargo run --release -p gridproof-prover --example groth16_backends -- \
//!     --sites 64 --readings 96 --keys /tmp/keys-64-96 [--rounds 3] [--backend both]
//! ```
//! `--keys DIR` loads the keys there, or makes development keys and saves them there first
//! (without it, a development setup runs in memory every time). `--backend both` proves with
//! both backends interleaved in one process (two copies of the key: its peak memory is not the
//! prover's); `--backend arkworks` or `--backend hybrid` proves with one and reports the peak
//! resident memory from after the keys are loaded to the last proof, then makes one more proof
//! with the matrices moved in (freed before the MSMs) and reports its peak (`--rounds 0`: only
//! that proof, so its peak is not raised by memory the allocator kept from earlier proofs).

use std::error::Error;
use std::path::PathBuf;
use std::time::Instant;

use ark_groth16::r1cs_to_qap::LibsnarkReduction;
use ark_groth16::{prepare_verifying_key, Groth16};
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, Matrix, OptimizationGoal, SynthesisMode,
    R1CS_PREDICATE_LABEL,
};
use ark_std::UniformRand;
use gridproof_circuits::statement::BatchCircuit;
use gridproof_prover::bench::peak_rss_bytes;
use gridproof_prover::groth16::{compare_backends, create_proof, measure_backend};
use gridproof_prover::{
    sample_batch_witness, setup_development, BatchShape, Bn254, Fr, Keys, MsmBackend,
};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

struct Args {
    sites: usize,
    readings: usize,
    keys: Option<PathBuf>,
    rounds: usize,
    backend: Option<MsmBackend>,
    seed: u64,
}

fn parse_args() -> Result<Args, Box<dyn Error>> {
    let mut args = Args {
        sites: 16,
        readings: 96,
        keys: None,
        rounds: 3,
        backend: None,
        seed: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--sites" => args.sites = value()?.parse()?,
            "--readings" => args.readings = value()?.parse()?,
            "--keys" => args.keys = Some(PathBuf::from(value()?)),
            "--rounds" => args.rounds = value()?.parse()?,
            "--seed" => args.seed = value()?.parse()?,
            "--backend" => {
                let v = value()?;
                args.backend = if v == "both" { None } else { Some(v.parse()?) };
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(args)
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".to_string(), |b| {
        format!("{:.0} MiB", b as f64 / (1024.0 * 1024.0))
    })
}

fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    let shape = BatchShape::new(args.sites, args.readings, BatchShape::DEFAULT_PRICE_SLOTS)?;
    let mut rng = ChaCha20Rng::seed_from_u64(args.seed);

    let start = Instant::now();
    let keys = match &args.keys {
        Some(dir) if dir.join("manifest.json").exists() => Keys::load(dir)?,
        other => {
            let keys = setup_development(&shape, &mut rng)?;
            if let Some(dir) = other {
                keys.save(dir)?;
            }
            keys
        }
    };
    if keys.shape != shape {
        return Err(format!("the keys are for {:?}, not {:?}", keys.shape, shape).into());
    }
    println!(
        "shape S={} T={}: {} constraints; keys ready in {:.1} s; RSS {}, peak {}",
        args.sites,
        args.readings,
        keys.num_constraints,
        start.elapsed().as_secs_f64(),
        mib(rss_bytes()),
        mib(peak_rss_bytes())
    );
    // From here on the peak covers preparing the key, synthesis and proving.
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();

    let start = Instant::now();
    let witness = sample_batch_witness(&shape, args.seed)?;
    let circuit = BatchCircuit::new(shape, &witness)?;
    let (matrices, full, num_instance, num_constraints) = synthesize(circuit)?;
    println!(
        "witness + synthesis (excluded below): {:.0} ms; RSS {}, peak {}",
        start.elapsed().as_secs_f64() * 1e3,
        mib(rss_bytes()),
        mib(peak_rss_bytes())
    );
    let entries: usize = matrices.iter().flatten().map(Vec::len).sum();
    let rows: usize = matrices.iter().map(Vec::len).sum();
    println!(
        "R1CS: {} variables, {entries} nonzero entries in {rows} rows: ~{} MiB",
        full.len(),
        (entries * std::mem::size_of::<(Fr, usize)>() + rows * 24) >> 20
    );
    let sampler = RssSampler::start();

    let vk = keys.verifying_key.clone();
    let proof = match args.backend {
        None => {
            let start = Instant::now();
            let ark = keys
                .proving_key
                .clone()
                .into_backend(MsmBackend::Arkworks)?;
            let hybrid = keys.proving_key.into_backend(MsmBackend::Hybrid)?;
            println!(
                "prepared both keys in {:.0} ms (hybrid key points {} MiB)",
                start.elapsed().as_secs_f64() * 1e3,
                hybrid.points_bytes() >> 20
            );
            let report = compare_backends::<LibsnarkReduction, _>(
                &ark,
                &hybrid,
                &matrices,
                num_instance,
                num_constraints,
                &full,
                args.rounds,
                &mut rng,
            )?;
            print!("{report}");
            for (name, runs) in [
                ("arkworks", &report.arkworks.runs),
                ("hybrid", &report.hybrid.runs),
            ] {
                for t in runs.iter() {
                    println!(
                        "{name}: total {:.0} ms (CPU {:.0}) = witness map {:.0} + scalars {:.0} + \
                         MSMs {:.0} + other {:.0}",
                        t.total.wall_ms,
                        t.total.cpu_ms,
                        t.witness_map.wall_ms,
                        t.scalars.wall_ms,
                        t.msm().wall_ms,
                        t.total.wall_ms
                            - t.witness_map.wall_ms
                            - t.scalars.wall_ms
                            - t.msm().wall_ms
                    );
                }
            }
            let mut rng = ChaCha20Rng::seed_from_u64(args.seed + 1);
            measure_backend::<LibsnarkReduction, _>(
                &hybrid,
                &matrices,
                num_instance,
                num_constraints,
                &full,
                1,
                &mut rng,
            )?
            .0
        }
        Some(backend) => {
            let start = Instant::now();
            let pk = keys.proving_key.into_backend(backend)?;
            println!(
                "prepared the {backend} key in {:.0} ms (points {} MiB)",
                start.elapsed().as_secs_f64() * 1e3,
                pk.points_bytes() >> 20
            );
            let (_, timings) = measure_backend::<LibsnarkReduction, _>(
                &pk,
                &matrices,
                num_instance,
                num_constraints,
                &full,
                args.rounds,
                &mut rng,
            )?;
            if args.rounds > 0 {
                print!("{timings}");
                println!(
                    "peak RSS with the matrices borrowed: {}",
                    mib(peak_rss_bytes())
                );
            }
            // Once more with the matrices moved in (freed before the MSMs), as `prove` can.
            std::fs::write("/proc/self/clear_refs", "5").ok();
            let (r, s) = (Fr::rand(&mut rng), Fr::rand(&mut rng));
            let start = Instant::now();
            let proof = create_proof::<LibsnarkReduction>(
                &pk,
                r,
                s,
                matrices,
                num_instance,
                num_constraints,
                &full,
            )?;
            println!(
                "one more proof with the matrices moved in: {:.0} ms, peak RSS {}",
                start.elapsed().as_secs_f64() * 1e3,
                mib(peak_rss_bytes())
            );
            proof
        }
    };
    sampler.report();
    let pvk = prepare_verifying_key(&vk);
    let ok = Groth16::<Bn254>::verify_proof(&pvk, &proof, &full[1..num_instance])?;
    println!(
        "proof verifies: {ok}; peak RSS since the last reset (keys loaded / moved-in proof): {}{}",
        mib(peak_rss_bytes()),
        if reset {
            ""
        } else {
            " (could not reset: includes loading)"
        }
    );
    if !ok {
        return Err("the proof does not verify".into());
    }
    Ok(())
}

/// Samples the resident set every 5 ms and prints it against time, to see which step of the
/// prover holds the peak.
struct RssSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<Vec<(f64, u64)>>,
}

impl RssSampler {
    fn start() -> Self {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let start = Instant::now();
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                if let Some(rss) = rss_bytes() {
                    samples.push((start.elapsed().as_secs_f64() * 1e3, rss));
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            samples
        });
        Self { stop, handle }
    }

    /// Prints the highest RSS of each 250 ms.
    fn report(self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let Ok(samples) = self.handle.join() else {
            return;
        };
        let mut line = String::from("RSS (MiB) per 250 ms since synthesis:");
        for chunk in samples.chunk_by(|a, b| (a.0 / 250.0) as u64 == (b.0 / 250.0) as u64) {
            let max = chunk.iter().map(|s| s.1).max().unwrap_or(0);
            line.push_str(&format!(" {}", max >> 20));
        }
        println!("{line}");
    }
}

type Synthesized = (Vec<Matrix<Fr>>, Vec<Fr>, usize, usize);

/// As `prove` does: prove mode with matrices, fewer constraints, the system dropped afterwards.
fn synthesize(circuit: BatchCircuit) -> Result<Synthesized, Box<dyn Error>> {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Prove {
        construct_matrices: true,
        generate_lc_assignments: false,
    });
    circuit.generate_constraints(cs.clone())?;
    cs.finalize();
    let matrices = cs
        .to_matrices()?
        .remove(R1CS_PREDICATE_LABEL)
        .ok_or("no R1CS matrices")?;
    let (num_instance, num_constraints) = (cs.num_instance_variables(), cs.num_constraints());
    let full = {
        let inner = cs.borrow().ok_or("no constraint system")?;
        [inner.instance_assignment()?, inner.witness_assignment()?].concat()
    };
    Ok((matrices, full, num_instance, num_constraints))
}

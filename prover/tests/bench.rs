//! The benchmark library on a tiny circuit: every measurement is present and sane.

mod common;

use common::{shape, toy_keys, TempDir, Toy};
use gridproof_prover::{bench, BenchOptions, BenchReport};

#[test]
fn bench_measures_every_step_and_renders_a_table() {
    let work = TempDir::new("bench");
    let options = BenchOptions {
        work_dir: Some(work.path().to_path_buf()),
        ..Default::default()
    };
    let mut steps = Vec::new();
    let report = bench(
        &shape(),
        Toy::blank(3),
        || Ok::<_, String>((Toy::good(), Toy::good().public_inputs())),
        &options,
        &mut |s| steps.push(s.to_string()),
    )
    .unwrap();
    assert!(steps.iter().any(|s| s.contains("setup")), "{steps:?}");
    assert_eq!(report.constraints, toy_keys().num_constraints as u64);
    assert_eq!(report.public_inputs, 8);
    assert_eq!(report.constraints_per_site, report.constraints as f64 / 4.0);
    assert_eq!(
        report.constraints_per_reading,
        report.constraints as f64 / 96.0
    );
    assert!(report.setup_ms.is_some());
    assert!(report.proving_key_bytes > report.verifying_key_bytes);
    assert!(report.floor.total_ms > 0.0 && report.prove_over_floor > 0.0);
    assert!(
        (report.prove_total_ms
            - (report.witness_ms + report.synthesis_ms + report.check_ms + report.proof_ms))
            .abs()
            < 1e-9
    );
    if cfg!(target_os = "linux") {
        assert!(report.peak_rss_prove_bytes.unwrap() > 0);
    }
    // The temporary key directory is removed.
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);

    let json = serde_json::to_string(&report).unwrap();
    let back: BenchReport = serde_json::from_str(&json).unwrap();
    assert_eq!(back.constraints, report.constraints);
    assert_eq!(back.shape, report.shape);
    assert!((back.prove_over_floor - report.prove_over_floor).abs() < 1e-9);
    let table = report.to_string();
    for needle in [
        "constraints",
        "prove total / floor",
        "floor: 7 FFTs",
        "verify",
        "peak memory",
    ] {
        assert!(table.contains(needle), "{needle} missing from\n{table}");
    }
}

#[test]
fn bench_can_use_existing_keys_and_refuses_another_shape() {
    let keys = toy_keys();
    let tmp = TempDir::new("bench-keys");
    let dir = tmp.path().join("KEYS");
    keys.save(&dir).unwrap();
    let options = BenchOptions {
        keys_dir: Some(dir),
        ..Default::default()
    };
    let make = || Ok::<_, String>((Toy::good(), Toy::good().public_inputs()));
    let report = bench(&shape(), Toy::blank(3), make, &options, &mut |_| {}).unwrap();
    assert!(report.setup_ms.is_none());

    let mut other = shape();
    other.sites = 8;
    let err = bench(&other, Toy::blank(3), make, &options, &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("S=4"), "{err}");
}

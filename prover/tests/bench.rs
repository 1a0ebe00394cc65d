//! The benchmark library on a tiny circuit (every measurement is present and sane), and on the
//! batch statement at a tiny shape with the epoch check and the tamper pass.

mod common;

use common::{shape, toy_keys, TempDir, Toy};
use gridproof_prover::{bench, BatchShape, BenchOptions, BenchReport};

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

/// The batch statement at (S, T) = (4, 8): the measured proof, then the epoch check on a
/// synthetic epoch of 6 sites (two batches of 3 real sites and an empty position each) and the
/// tamper pass on its first batch, every case refused as expected.
#[test]
fn bench_batch_checks_an_epoch_and_refuses_every_tampered_input() {
    use gridproof_prover::bench::{bench_batch, sample_epoch};
    let shape = BatchShape::new(4, 8, BatchShape::DEFAULT_PRICE_SLOTS).unwrap();
    let work = TempDir::new("bench-epoch");
    let options = BenchOptions {
        work_dir: Some(work.path().to_path_buf()),
        seed: 3,
        ..Default::default()
    };
    let epoch = sample_epoch(&shape, 6, 3);
    let report = bench_batch(&shape, &options, Some(epoch), &mut |_| {}).unwrap();
    assert_eq!(report.failures(), Vec::<String>::new());

    let e = report.epoch.as_ref().expect("the epoch check ran");
    assert_eq!(e.sites, 6);
    assert_eq!(e.batches.len(), 2);
    assert!(e.all_verified);
    let t = e.throughput.as_ref().expect("the epoch's throughput");
    assert!(t.concurrency >= 1 && t.concurrency <= t.plan.threads.max(1));
    assert!(t.wall_ms > 0.0 && t.batches_per_hour > 0.0 && t.sites_per_second > 0.0);
    assert!(t.sequential_estimate_ms > 0.0);
    for b in &e.batches {
        assert_eq!(b.sites, 3, "batch {}", b.batch_index);
        assert!(
            b.verified && b.error.is_none(),
            "batch {}: {:?}",
            b.batch_index,
            b.error
        );
        assert!(b.total_energy_wh.parse::<u128>().unwrap() > 0);
        assert!(b.total_revenue_nusd.parse::<u128>().unwrap() > 0);
    }

    let t = report.tamper.as_ref().expect("the tamper pass ran");
    assert_eq!(t.batch_index, 0);
    assert!(t.skipped.is_empty(), "{:?}", t.skipped);
    // Site 0's peak reading (the first of the largest) is at index 3 or 4 of the sample curve.
    let row = |id: &str| {
        t.rows
            .iter()
            .find(|r| r.id == id)
            .unwrap_or_else(|| panic!("no tamper row {id}"))
    };
    let refused = |id: &str, observed: &str| {
        let r = row(id);
        assert!(
            r.ok,
            "{id}: expected {}, observed {}",
            r.expected, r.observed
        );
        assert!(
            r.observed.contains(observed),
            "{id}: observed {} lacks {observed}",
            r.observed
        );
        assert!(
            r.expected.contains(observed),
            "{id}: expected {}",
            r.expected
        );
    };
    refused("reading_over_bound", "capacity bound'");
    assert!(row("reading_over_bound")
        .case
        .contains("re-signed by its meter"));
    assert!(row("reading_over_bound")
        .observed
        .starts_with("unsatisfied: 'site 0: reading "));
    refused("reading_2_pow_32", " range'");
    assert!(row("reading_2_pow_32")
        .observed
        .starts_with("unsatisfied: 'site 0: reading "));
    refused("wrong_price", "unsatisfied: 'registry membership'");
    refused("wrong_slot", "unsatisfied: 'schedule'");
    refused("forged_signature", "unsatisfied: 'site 1: signature'");
    refused("swapped_signature", "unsatisfied: 'site 1: signature'");
    refused(
        "batch_index_plus_one",
        "unsatisfied: 'registry membership'; honest proof rejected",
    );
    refused(
        "leaf_of_another_batch",
        "unsatisfied: 'registry membership'",
    );
    assert!(row("leaf_of_another_batch")
        .case
        .contains("empty position 3"));
    refused(
        "total_revenue_plus_one",
        "unsatisfied: 'totals'; honest proof rejected",
    );
    refused(
        "total_revenue_wrapped",
        "unsatisfied: 'totals'; honest proof rejected",
    );
    refused(
        "total_energy_plus_one",
        "unsatisfied: 'totals'; honest proof rejected",
    );
    refused(
        "noncanonical_total_revenue",
        "parse refused at batches[0].public_inputs.total_revenue_nusd",
    );
    refused(
        "noncanonical_registry_root",
        "parse refused at batches[0].public_inputs.registry_root",
    );
    refused(
        "noncanonical_proof_coordinate",
        "parse refused at batches[0].proof.a[0]",
    );
    assert_eq!(t.rows.len(), 14);
    assert!(t.all_ok);

    // The report is complete as JSON and readable as a table.
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["epoch"]["batches"].as_array().unwrap().len(), 2);
    assert_eq!(json["tamper"]["rows"].as_array().unwrap().len(), 14);
    let back: BenchReport = serde_json::from_value(json).unwrap();
    assert_eq!(back.tamper, report.tamper);
    let table = report.to_string();
    for needle in [
        "epoch check: epoch 20300, 6 sites in 2 batches of 3, 3 real sites",
        "ok: 2 of 2 batches verified",
        "tamper pass on batch 0",
        "ok: 14 of 14 tampered inputs refused as expected",
        "peak memory (whole run)",
    ] {
        assert!(table.contains(needle), "{needle} missing from\n{table}");
    }
}

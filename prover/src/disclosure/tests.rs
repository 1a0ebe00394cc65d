//! Unit tests of the disclosure module on a real epoch: 7 sample sites at S = 4, T = 8 (two
//! batches), development keys, real proofs.

use std::sync::OnceLock;

use ark_ff::UniformRand;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::*;
use crate::batch::validate;
use crate::bench::sample_epoch;
use crate::epoch::prepare_epoch;
use crate::private_output::PrivateOutput;
use crate::proofs_file::{BatchProof, ProofJson, ProofsFile};
use crate::{prove, setup_development, BatchShape, Fr};

struct Fixture {
    verifier: DisclosureVerifier,
    private: PrivateOutput,
    proofs: ProofsFile,
    /// The same sites placed again with fresh salts: another registry (as another epoch has).
    other_private: PrivateOutput,
}

const NOW: u64 = 1_900_000_000;

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let shape = BatchShape::new(4, 8, 4).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(8);
        let keys = setup_development(&shape, &mut rng).unwrap();
        let input = sample_epoch(&shape, 7, 8);
        let validated = validate(&input.file, &shape, &input.policy).unwrap();
        let epoch = prepare_epoch(&validated, &mut rng).unwrap();
        let other_private = prepare_epoch(&validated, &mut rng).unwrap().private;
        let mut batches = Vec::new();
        for b in epoch.batches {
            let proof = prove(&keys, b.circuit, &mut rng, &mut |_| {}).unwrap();
            batches.push(BatchProof {
                batch_index: b.batch_index,
                public_inputs: b.public_inputs.to_field_elements(),
                proof,
            });
        }
        let proofs = ProofsFile::new(epoch.epoch, epoch.registry_root, batches).unwrap();
        Fixture {
            verifier: DisclosureVerifier::new(shape, &keys.verifying_key),
            private: epoch.private,
            proofs,
            other_private,
        }
    })
}

/// The bundle of the fixture's `n`-th site (in file order) and its binding.
fn bundle_of(n: usize) -> (DisclosureBundle, BundleBinding) {
    let f = fixture();
    let site = &f.private.sites[n];
    let batch = &f.proofs.batches[site.batch_index as usize];
    let bundle =
        DisclosureBundle::from_private_output(&f.private, batch, None, site.site_id).unwrap();
    let binding = BundleBinding {
        disclosure_id: "d-42".into(),
        site_id: site.site_id,
        epoch: f.private.epoch,
        expires_at: NOW + 86_400,
    };
    (bundle, binding)
}

fn regulator(seed: u8) -> RegulatorSecretKey {
    RegulatorSecretKey::from_bytes(&[seed; 32])
}

fn report(bundle: &DisclosureBundle, binding: &BundleBinding) -> DisclosureReport {
    let f = fixture();
    check(
        bundle,
        binding,
        &f.verifier,
        Some(PublicRecord::ProofsFile(&f.proofs)),
        NOW,
    )
}

/// Asserts that exactly the `broken` checks fail.
fn assert_broken(report: &DisclosureReport, broken: &[Check], case: &str) {
    let failed: Vec<Check> = report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .map(|r| r.check)
        .collect();
    assert_eq!(failed, broken, "{case}: {report:#?}");
}

#[test]
fn every_site_of_both_batches_checks_out() {
    let f = fixture();
    for n in 0..f.private.sites.len() {
        let (bundle, binding) = bundle_of(n);
        let r = report(&bundle, &binding);
        assert!(r.passed(), "site {n}: {r:#?}");
        assert!(matches!(
            r.outcome(Check::PublicRecord),
            Some(Outcome::Passed(_))
        ));
        assert_eq!(r.results.len(), Check::ALL.len());
    }
    // Batch 1's sites have position 0..3 in it, at leaves 4..6.
    let (bundle, _) = bundle_of(5);
    assert_eq!(bundle.batch.batch_index, 1);
    assert_eq!(bundle.registry_path.index, 5);
    assert_eq!(bundle.readings_path.index, 1);
    assert_eq!(bundle.registry_path.siblings.len(), 20);
    assert_eq!(bundle.readings_path.siblings.len(), 2);
}

#[test]
fn without_a_public_record_it_says_so_plainly_and_still_passes() {
    let (bundle, binding) = bundle_of(0);
    let r = check(&bundle, &binding, &fixture().verifier, None, NOW);
    assert!(r.passed());
    match r.outcome(Check::PublicRecord) {
        Some(Outcome::NotChecked(why)) => assert!(why.contains("NOT matched"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn building_refuses_an_unknown_site_and_the_wrong_batch_or_run() {
    let f = fixture();
    let err =
        DisclosureBundle::from_private_output(&f.private, &f.proofs.batches[0], None, 999_999)
            .unwrap_err();
    assert!(matches!(err, DisclosureError::SiteNotFound { .. }), "{err}");
    let site = f.private.sites[0].site_id;
    let err = DisclosureBundle::from_private_output(&f.private, &f.proofs.batches[1], None, site)
        .unwrap_err();
    assert!(matches!(err, DisclosureError::WrongBatch { .. }), "{err}");
    // A private output of another run (other salts) with this run's proofs file.
    let err =
        DisclosureBundle::from_private_output(&f.other_private, &f.proofs.batches[0], None, site)
            .unwrap_err();
    assert!(matches!(err, DisclosureError::Mismatch(_)), "{err}");
}

#[test]
fn bundle_json_round_trips_and_refuses_other_versions() {
    let (mut bundle, _) = bundle_of(2);
    bundle.batch.tx_hash = Some(TxHash([0xab; 32]));
    let json = bundle.to_json();
    assert_eq!(DisclosureBundle::from_json(&json).unwrap(), bundle);
    let mut value: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(
        value["batch"]["tx_hash"],
        serde_json::json!(format!("0x{}", "ab".repeat(32)))
    );
    value["version"] = serde_json::json!(2);
    let err = DisclosureBundle::from_json(value.to_string().as_bytes()).unwrap_err();
    assert!(err.to_string().contains("version 2"), "{err}");
    value["version"] = serde_json::json!(1);
    value["extra"] = serde_json::json!(1);
    assert!(DisclosureBundle::from_json(value.to_string().as_bytes()).is_err());
}

#[test]
fn seal_open_round_trip_with_the_binding() {
    let (bundle, binding) = bundle_of(1);
    let sk = regulator(1);
    let sealed = seal(&bundle, &binding, &sk.public_key()).unwrap();
    assert_eq!(&sealed[..8], b"GPBUNDLE");
    assert_eq!(read_binding(&sealed).unwrap(), binding);
    let (opened_binding, opened) = open(&sealed, &sk).unwrap();
    assert_eq!(opened_binding, binding);
    assert_eq!(opened, bundle);
    // Nothing of the site is readable in the sealed file.
    let text = String::from_utf8_lossy(&sealed);
    for secret in ["US-IL", "latitude", "salt", "readings"] {
        assert!(!text.contains(secret), "{secret}");
    }
    // A fresh ephemeral key each time.
    assert_ne!(seal(&bundle, &binding, &sk.public_key()).unwrap(), sealed);
}

#[test]
fn every_single_byte_flip_of_a_sealed_bundle_is_refused() {
    let (bundle, binding) = bundle_of(3);
    let sk = regulator(3);
    let sealed = seal(&bundle, &binding, &sk.public_key()).unwrap();
    for i in 0..sealed.len() {
        for flip in [0x01u8, 0x80] {
            let mut bad = sealed.clone();
            bad[i] ^= flip;
            assert!(
                open(&bad, &sk).is_err(),
                "byte {i} ^ {flip:#x} was accepted"
            );
        }
    }
    // Truncated or extended files too.
    for len in [0, 7, 16, 40, sealed.len() - 1] {
        assert!(open(&sealed[..len], &sk).is_err(), "truncated to {len}");
    }
    let mut longer = sealed.clone();
    longer.push(0);
    assert!(matches!(open(&longer, &sk), Err(DisclosureError::Open)));
    // The errors say what is wrong.
    let mut bad = sealed.clone();
    bad[0] ^= 1;
    assert!(matches!(open(&bad, &sk), Err(DisclosureError::NotABundle)));
    let mut bad = sealed.clone();
    bad[9] ^= 1;
    assert!(matches!(
        open(&bad, &sk),
        Err(DisclosureError::UnsupportedVersion(_))
    ));
    let mut bad = sealed.clone();
    *bad.last_mut().unwrap() ^= 1;
    assert!(matches!(open(&bad, &sk), Err(DisclosureError::Open)));
}

#[test]
fn another_regulators_key_is_refused() {
    let (bundle, binding) = bundle_of(0);
    let sealed = seal(&bundle, &binding, &regulator(1).public_key()).unwrap();
    let err = open(&sealed, &regulator(2)).unwrap_err();
    assert!(matches!(err, DisclosureError::Open), "{err}");
    assert!(err.to_string().contains("another key"), "{err}");
}

#[test]
fn a_binding_for_another_site_is_refused_when_sealing_and_when_checking() {
    let (bundle, mut binding) = bundle_of(0);
    binding.site_id += 1;
    let err = seal(&bundle, &binding, &regulator(1).public_key()).unwrap_err();
    assert!(matches!(err, DisclosureError::Binding(_)), "{err}");
    assert_broken(
        &report(&bundle, &binding),
        &[Check::Binding],
        "binding site",
    );
    binding.site_id -= 1;
    binding.disclosure_id = "with space".into();
    assert!(seal(&bundle, &binding, &regulator(1).public_key()).is_err());
}

#[test]
fn an_expired_disclosure_fails_expiry() {
    let (bundle, mut binding) = bundle_of(0);
    binding.expires_at = NOW;
    assert_broken(&report(&bundle, &binding), &[Check::Expiry], "expired");
}

#[test]
fn each_tampered_field_breaks_its_named_check() {
    let f = fixture();
    let (good, binding) = bundle_of(5);
    type Tamper = (&'static str, fn(&mut DisclosureBundle), &'static [Check]);
    let cases: Vec<Tamper> = vec![
        (
            "a reading",
            |b| b.site.readings_wh[3] += 1,
            &[Check::MeterSignature, Check::Revenue, Check::ReadingsPath],
        ),
        (
            "a reading and the stated totals to match",
            |b| {
                b.site.readings_wh[3] += 1;
                b.site.energy_wh += 1;
                let slot = b.slots[3] as usize;
                b.site.revenue_nusd += u128::from(b.site.prices_uusd_per_kwh[slot]);
            },
            &[Check::MeterSignature, Check::ReadingsPath],
        ),
        (
            "the capacity",
            |b| b.site.capacity_w = 1_000,
            &[Check::CapacityBound, Check::RegistryPath],
        ),
        (
            "a price",
            |b| b.site.prices_uusd_per_kwh[1] += 1,
            &[Check::Revenue, Check::RegistryPath],
        ),
        (
            "the stated revenue",
            |b| b.site.revenue_nusd += 1,
            &[Check::Revenue],
        ),
        (
            "the salt",
            |b| b.site.location_salt += Fr::from(1u64),
            &[Check::LocationCommitment],
        ),
        (
            "the location",
            |b| b.site.location.latitude_microdeg += 1,
            &[Check::LocationCommitment],
        ),
        (
            "the location commitment",
            |b| b.site.location_commitment += Fr::from(1u64),
            &[Check::LocationCommitment, Check::RegistryPath],
        ),
        (
            "a registry sibling",
            |b| b.registry_path.siblings[7] += Fr::from(1u64),
            &[Check::RegistryPath],
        ),
        (
            "the leaf index",
            |b| b.registry_path.index ^= 1 << 10,
            &[Check::Statement, Check::RegistryPath],
        ),
        (
            "a readings sibling",
            |b| b.readings_path.siblings[1] += Fr::from(1u64),
            &[Check::ReadingsPath],
        ),
        (
            "the meter key",
            |b| b.site.meter_public_key[0] += Fr::from(1u64),
            &[Check::MeterSignature, Check::RegistryPath],
        ),
        (
            "the signature",
            |b| b.site.signature.s += Fr::from(1u64),
            &[Check::MeterSignature],
        ),
        (
            "a proof coordinate",
            |b| b.batch.proof.a[0] = "1".into(),
            &[Check::Proof],
        ),
        (
            "a public input",
            |b| b.batch.public_inputs.total_energy_wh += Fr::from(1u64),
            &[Check::Proof, Check::PublicRecord],
        ),
        (
            "the schedule",
            |b| b.slots[0] = (b.slots[0] + 1) % 4,
            // Interval 0 is at night (reading 0): only the schedule's hash differs.
            &[Check::Statement],
        ),
    ];
    for (what, tamper, broken) in cases {
        let mut bundle = good.clone();
        tamper(&mut bundle);
        assert_ne!(bundle, good, "{what} did not change the bundle");
        assert_broken(&report(&bundle, &binding), broken, what);
    }

    // The proof of the other batch: valid points, not a proof of these inputs.
    let mut bundle = good.clone();
    bundle.batch.proof = ProofJson::from_proof(&f.proofs.batches[0].proof);
    assert_broken(&report(&bundle, &binding), &[Check::Proof], "another proof");

    // The site's path in another epoch's registry (other salts, other root).
    let other_tree = f.other_private.registry_tree().unwrap();
    let mut bundle = good.clone();
    bundle.registry_path.siblings = other_tree
        .path(bundle.registry_path.index)
        .unwrap()
        .siblings;
    assert_broken(
        &report(&bundle, &binding),
        &[Check::RegistryPath],
        "another epoch's path",
    );

    // A proofs file of another run does not match the public inputs.
    let other = ProofsFile::new(
        f.proofs.epoch,
        f.other_private.registry_root,
        f.proofs
            .batches
            .iter()
            .map(|b| {
                let mut b = b.clone();
                b.public_inputs[1] = f.other_private.registry_root;
                b
            })
            .collect(),
    )
    .unwrap();
    let r = check(
        &good,
        &binding,
        &f.verifier,
        Some(PublicRecord::ProofsFile(&other)),
        NOW,
    );
    assert_broken(&r, &[Check::PublicRecord], "another proofs file");
}

#[test]
fn the_chain_record_is_matched_field_by_field() {
    let f = fixture();
    let (mut bundle, binding) = bundle_of(5);
    let inputs = gridproof_circuits::statement::PublicInputs::from_field_elements(
        &bundle.batch.public_inputs.to_vec(),
    )
    .unwrap();
    let tx = TxHash([7; 32]);
    bundle.batch.tx_hash = Some(tx);
    let good = OnChainBatch {
        source: "RevenueOracle 0x00 on chain 31337".into(),
        registry_root: inputs.registry_root,
        schedule_hash: inputs.schedule_hash,
        interval_seconds: inputs.interval_seconds,
        batch_count: 2,
        accepted: Some(AcceptedBatch {
            total_energy_wh: inputs.total_energy_wh,
            total_revenue_nusd: inputs.total_revenue_nusd,
            readings_root: inputs.readings_root,
            tx_hash: Some(tx),
        }),
    };
    let run = |chain: &OnChainBatch| {
        check(
            &bundle,
            &binding,
            &f.verifier,
            Some(PublicRecord::Chain(chain)),
            NOW,
        )
    };
    assert!(run(&good).passed(), "{:#?}", run(&good));
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let bad: Vec<(&str, OnChainBatch)> = vec![
        (
            "not opened",
            OnChainBatch {
                batch_count: 0,
                ..good.clone()
            },
        ),
        (
            "other root",
            OnChainBatch {
                registry_root: Fr::rand(&mut rng),
                ..good.clone()
            },
        ),
        (
            "other schedule",
            OnChainBatch {
                schedule_hash: Fr::rand(&mut rng),
                ..good.clone()
            },
        ),
        (
            "not accepted",
            OnChainBatch {
                accepted: None,
                ..good.clone()
            },
        ),
        (
            "too few batches",
            OnChainBatch {
                batch_count: inputs.batch_index,
                ..good.clone()
            },
        ),
        (
            "other totals",
            OnChainBatch {
                accepted: good.accepted.clone().map(|a| AcceptedBatch {
                    total_revenue_nusd: a.total_revenue_nusd + 1,
                    ..a
                }),
                ..good.clone()
            },
        ),
        (
            "other transaction",
            OnChainBatch {
                accepted: good.accepted.clone().map(|a| AcceptedBatch {
                    tx_hash: Some(TxHash([8; 32])),
                    ..a
                }),
                ..good.clone()
            },
        ),
    ];
    for (what, chain) in bad {
        assert_broken(&run(&chain), &[Check::PublicRecord], what);
    }
}

#[test]
fn regulator_keys_round_trip_and_refuse_bad_input() {
    let sk = RegulatorSecretKey::generate();
    let pk = sk.public_key();
    assert_eq!(pk.to_hex().len(), 64);
    assert_eq!(RegulatorPublicKey::from_hex(&pk.to_hex()).unwrap(), pk);
    assert_eq!(
        RegulatorSecretKey::from_hex(&sk.to_hex())
            .unwrap()
            .public_key(),
        pk
    );
    assert!(!format!("{sk:?}").contains(&sk.to_hex()[..16]));
    assert!(RegulatorPublicKey::from_hex("abcd").is_err());
    assert!(RegulatorPublicKey::from_hex(&"zz".repeat(32)).is_err());
    // The all-zero point is of low order: refused.
    assert!(RegulatorPublicKey::from_hex(&"00".repeat(32)).is_err());

    let dir = std::env::temp_dir().join(format!("gridproof-disclosure-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("regulator.key");
    sk.write(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(RegulatorSecretKey::read(&path).unwrap().public_key(), pk);
    std::fs::write(&path, "not a key").unwrap();
    assert!(RegulatorSecretKey::read(&path).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

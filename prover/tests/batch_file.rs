//! Batch file v1: parsing (numbers and decimal strings, strictness), validation (every error
//! case DESIGN.md names, each naming the site and the reason), epoch placement and the private
//! output.

use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystem};
use gridproof_circuits::eddsa::PrivateKey;
use gridproof_circuits::encoding::field_to_decimal;
use gridproof_circuits::merkle::MerkleTree;
use gridproof_circuits::meter::MeterMessage;
use gridproof_circuits::registry::reading_bound_wh;
use gridproof_circuits::statement::BatchShape;
use gridproof_circuits::Fr;
use gridproof_prover::batch::{
    validate, BatchFile, BatchFileError, BatchProblem, LocationRecord, SignatureRecord,
    SiteProblem, SiteRecord, ValidationErrors, ValidationPolicy,
};
use gridproof_prover::epoch::{prepare_epoch, PlanError};
use gridproof_prover::private_output::{default_private_output_path, PrivateOutput};
use rand::SeedableRng;

const T: usize = 8;
const EPOCH: u64 = 20300;
const INTERVAL: u32 = 10800;
/// The BN254 scalar field modulus r.
const R: &str = "21888242871839275222246405745257275088548364400416034343698204186575808495617";

fn shape(sites: usize) -> BatchShape {
    BatchShape::new(sites, T, 4).unwrap()
}

fn key(site_id: u64) -> PrivateKey {
    let mut b = [7u8; 32];
    b[..8].copy_from_slice(&site_id.to_le_bytes());
    PrivateKey::from_bytes(b)
}

fn sign(site: &mut SiteRecord, epoch: u64, interval_seconds: u32) {
    let k = key(site.site_id);
    let message = MeterMessage {
        site_id: site.site_id,
        epoch,
        interval_seconds,
        readings_wh: site.readings_wh.clone(),
    };
    site.signature = SignatureRecord::from_signature(&k.sign(message.hash()));
}

fn site(site_id: u64) -> SiteRecord {
    let k = key(site_id).public_key();
    let mut s = SiteRecord {
        site_id,
        meter_public_key: [k.x, k.y],
        capacity_w: 250_000,
        prices_uusd_per_kwh: vec![60_000, 90_000, 180_000, 75_000],
        location: LocationRecord {
            latitude_microdeg: 41_878_113 + site_id as i64,
            longitude_microdeg: -87_629_799,
            region: "US-IL".into(),
        },
        readings_wh: (0..T as u32).map(|i| i * 1000 + site_id as u32).collect(),
        signature: SignatureRecord {
            r8: [Fr::from(0u64), Fr::from(0u64)],
            s: Fr::from(0u64),
        },
    };
    sign(&mut s, EPOCH, INTERVAL);
    s
}

fn file(n: u64) -> BatchFile {
    BatchFile {
        version: 1,
        epoch: EPOCH,
        interval_seconds: INTERVAL as u64,
        slots: vec![0, 0, 1, 1, 2, 2, 3, 3],
        sites: (0..n).map(|i| site(101 + i)).collect(),
    }
}

fn errors(f: &BatchFile, s: &BatchShape) -> ValidationErrors {
    match validate(f, s, &ValidationPolicy::default()) {
        Ok(_) => panic!("validation should fail"),
        Err(e) => e,
    }
}

fn site_problems(e: &ValidationErrors) -> Vec<(u64, usize, SiteProblem)> {
    e.problems
        .iter()
        .filter_map(|p| match p {
            BatchProblem::Site { site, problem } => {
                Some((site.site_id, site.position, problem.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_valid_file_round_trips_and_validates() {
    let f = file(6);
    let text = f.to_json_pretty();
    assert_eq!(BatchFile::from_json(&text).unwrap(), f);
    let v = validate(&f, &shape(4), &ValidationPolicy::default()).unwrap();
    assert_eq!(v.sites().len(), 6);
    assert_eq!(v.plan().len(), 2);
    assert_eq!((v.plan()[0].site_count, v.plan()[1].site_count), (3, 3));
    assert_eq!(v.shape(), &shape(4));
    assert_eq!(v.interval_seconds, INTERVAL);
}

#[test]
fn integers_may_be_numbers_or_decimal_strings() {
    let f = file(3);
    let mut value: serde_json::Value = serde_json::from_str(&f.to_json_pretty()).unwrap();
    value["epoch"] = serde_json::json!("20300");
    value["version"] = serde_json::json!("1");
    value["interval_seconds"] = serde_json::json!("10800");
    value["slots"][1] = serde_json::json!("0");
    let s = &mut value["sites"][0];
    s["site_id"] = serde_json::json!("101");
    s["capacity_w"] = serde_json::json!("250000");
    s["prices_uusd_per_kwh"][2] = serde_json::json!("180000");
    s["readings_wh"][3] = serde_json::json!(format!("{}", f.sites[0].readings_wh[3]));
    s["location"]["longitude_microdeg"] = serde_json::json!("-87629799");
    let parsed = BatchFile::from_json(&value.to_string()).unwrap();
    assert_eq!(parsed, f);
    // Field elements below 2^53 may be numbers too.
    let mut value: serde_json::Value = serde_json::from_str(&f.to_json_pretty()).unwrap();
    value["sites"][0]["signature"]["s"] = serde_json::json!(5);
    let parsed = BatchFile::from_json(&value.to_string()).unwrap();
    assert_eq!(parsed.sites[0].signature.s, Fr::from(5u64));
}

fn parse_error_with(path: &[&str], replacement: serde_json::Value) -> String {
    let mut value: serde_json::Value = serde_json::from_str(&file(3).to_json_pretty()).unwrap();
    let mut target = &mut value;
    for p in path {
        target = match p.parse::<usize>() {
            Ok(i) => &mut target[i],
            Err(_) => &mut target[*p],
        };
    }
    *target = replacement;
    match BatchFile::from_json(&value.to_string()) {
        Ok(_) => panic!("{path:?} should be rejected"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn malformed_integers_are_refused_and_the_site_is_named() {
    use serde_json::json;
    let cases: Vec<(Vec<&str>, serde_json::Value, &str)> = vec![
        (
            vec!["sites", "1", "readings_wh", "0"],
            json!(1.5),
            "not an integer",
        ),
        (
            vec!["sites", "1", "readings_wh", "0"],
            json!(1.0),
            "not an integer",
        ),
        (
            vec!["sites", "1", "readings_wh", "0"],
            json!(-1),
            "out of range",
        ),
        (
            vec!["sites", "1", "readings_wh", "0"],
            json!(4294967296u64),
            "out of range",
        ),
        (
            vec!["sites", "1", "readings_wh", "0"],
            json!("4294967296"),
            "does not fit in 32 bits",
        ),
        (
            vec!["sites", "1", "readings_wh", "0"],
            json!(" 1"),
            "not a decimal integer",
        ),
        (
            vec!["sites", "1", "readings_wh", "0"],
            json!("+1"),
            "not a decimal integer",
        ),
        (
            vec!["sites", "1", "readings_wh", "0"],
            json!("-1"),
            "not a decimal integer",
        ),
        (
            vec!["sites", "1", "readings_wh", "0"],
            json!("01"),
            "leading zeros",
        ),
        (
            vec!["sites", "1", "readings_wh", "0"],
            json!("1e3"),
            "not a decimal integer",
        ),
        (
            vec!["sites", "1", "readings_wh", "0"],
            json!("0x10"),
            "not a decimal integer",
        ),
        (vec!["sites", "1", "readings_wh", "0"], json!(""), "empty"),
        (
            vec!["sites", "1", "readings_wh", "0"],
            json!(null),
            "invalid type",
        ),
        (
            vec!["sites", "1", "capacity_w"],
            json!("-5"),
            "not a decimal integer",
        ),
        (
            vec!["sites", "1", "location", "latitude_microdeg"],
            json!("-0"),
            "-0",
        ),
        (
            vec!["sites", "1", "location", "latitude_microdeg"],
            json!("--5"),
            "not a decimal integer",
        ),
    ];
    for (path, replacement, expected) in cases {
        let message = parse_error_with(&path, replacement.clone());
        // The site, then the field: "site 102 (sites[1]): readings_wh[0]: ...".
        let mut field = String::new();
        for p in &path[2..] {
            match p.parse::<usize>() {
                Ok(i) => field.push_str(&format!("[{i}]")),
                Err(_) if field.is_empty() => field.push_str(p),
                Err(_) => field.push_str(&format!(".{p}")),
            }
        }
        assert!(
            message.contains(&format!("site 102 (sites[1]): {field}: "))
                && message.contains(expected),
            "{path:?} = {replacement}: {message}"
        );
    }
    // Top-level integers: too wide, float, exponent.
    for (replacement, expected) in [
        (json!("18446744073709551616"), "does not fit in 64 bits"),
        (
            serde_json::from_str::<serde_json::Value>("18446744073709551616").unwrap(),
            "out of range",
        ),
        (
            serde_json::from_str::<serde_json::Value>("2.03e4").unwrap(),
            "not an integer",
        ),
        (json!(-20300), "out of range"),
    ] {
        let message = parse_error_with(&["epoch"], replacement.clone());
        assert!(
            message.contains("  - epoch: ") && message.contains(expected),
            "epoch = {replacement}: {message}"
        );
    }
}

#[test]
fn non_canonical_field_elements_are_refused() {
    use serde_json::json;
    let x = field_to_decimal(&file(3).sites[2].meter_public_key[0]);
    // x + r encodes the same field element: not canonical.
    let big = num_bigint::BigUint::parse_bytes(x.as_bytes(), 10).unwrap()
        + num_bigint::BigUint::parse_bytes(R.as_bytes(), 10).unwrap();
    for (replacement, expected) in [
        (json!(big.to_string()), "non-canonical field element"),
        (json!(R), "not below the BN254 scalar field modulus"),
        (json!(format!("0{x}")), "leading zeros"),
        (json!(-3), "negative"),
        (json!("0x1f"), "not a decimal integer"),
    ] {
        let message = parse_error_with(
            &["sites", "2", "meter_public_key", "0"],
            replacement.clone(),
        );
        assert!(
            message.contains("site 103 (sites[2])") && message.contains(expected),
            "{replacement}: {message}"
        );
    }
    let message = parse_error_with(&["sites", "0", "signature", "s"], json!(R));
    assert!(message.contains("site 101 (sites[0])"), "{message}");
}

#[test]
fn unknown_and_missing_fields_are_refused() {
    use serde_json::json;
    let mut value: serde_json::Value = serde_json::from_str(&file(3).to_json_pretty()).unwrap();
    value["comment"] = json!("hi");
    let e = BatchFile::from_json(&value.to_string()).unwrap_err();
    assert!(matches!(e, BatchFileError::Format(_)), "{e}");
    assert!(e.to_string().contains("unknown field `comment`"), "{e}");

    let mut value: serde_json::Value = serde_json::from_str(&file(3).to_json_pretty()).unwrap();
    value["sites"][0]["location"]["city"] = json!("Chicago");
    value["sites"][2]
        .as_object_mut()
        .unwrap()
        .remove("signature");
    let e = BatchFile::from_json(&value.to_string()).unwrap_err();
    let message = e.to_string();
    assert!(
        message.contains("site 101 (sites[0]): location.city: unknown field `city`"),
        "{message}"
    );
    assert!(
        message.contains("site 103 (sites[2]): signature: missing field `signature`"),
        "{message}"
    );

    let e = BatchFile::from_json("{\"version\": 1,").unwrap_err();
    assert!(matches!(e, BatchFileError::Json(_)), "{e}");
}

#[test]
fn a_bad_signature_names_the_site() {
    let mut f = file(4);
    // A reading changed after signing.
    f.sites[2].readings_wh[5] += 1;
    // A signature made by another meter.
    let other = site(999);
    f.sites[3].signature = other.signature.clone();
    // Signed for another epoch.
    sign(&mut f.sites[0], EPOCH + 1, INTERVAL);
    let e = errors(&f, &shape(4));
    let problems = site_problems(&e);
    assert_eq!(problems.len(), 3, "{e}");
    for (id, pos) in [(101, 0), (103, 2), (104, 3)] {
        assert!(
            problems.iter().any(|(i, p, pr)| *i == id
                && *p == pos
                && matches!(pr, SiteProblem::BadSignature { epoch: EPOCH, .. })),
            "{e}"
        );
    }
    let text = e.to_string();
    assert!(
        text.contains("site 103 (sites[2]): bad signature"),
        "{text}"
    );
}

#[test]
fn a_reading_over_the_capacity_bound_names_the_index_and_the_bound() {
    let mut f = file(3);
    let bound = reading_bound_wh(f.sites[1].capacity_w, INTERVAL);
    assert_eq!(bound, 750_000);
    f.sites[1].readings_wh[4] = bound as u32 + 1;
    f.sites[1].readings_wh[6] = u32::MAX;
    sign(&mut f.sites[1], EPOCH, INTERVAL);
    let e = errors(&f, &shape(4));
    assert_eq!(
        site_problems(&e),
        vec![(
            102,
            1,
            SiteProblem::ReadingOverBound {
                index: 4,
                reading_wh: 750_001,
                bound_wh: 750_000,
                capacity_w: 250_000,
                interval_seconds: INTERVAL,
                more: 1
            }
        )]
    );
    let text = e.to_string();
    assert!(
        text.contains("site 102 (sites[1]): readings_wh[4] = 750001 Wh is over the capacity bound of 750000 Wh"),
        "{text}"
    );
    // Exactly at the bound is fine.
    f.sites[1].readings_wh[4] = bound as u32;
    f.sites[1].readings_wh[6] = 0;
    sign(&mut f.sites[1], EPOCH, INTERVAL);
    validate(&f, &shape(4), &ValidationPolicy::default()).unwrap();
}

#[test]
fn a_capacity_bound_over_2_pow_24_minus_1_is_refused_naming_the_site() {
    // INTERVAL is 3 hours, so the bound is 3 x capacity_w: 5592405 W gives 2^24 - 1 Wh, the
    // largest bound the statement proves (gridproof_circuits::statement::MAX_READING_BOUND_WH).
    let edge = 5_592_405;
    let mut f = file(3);
    f.sites[1].capacity_w = edge + 1;
    f.sites[2].capacity_w = u32::MAX;
    let e = errors(&f, &shape(4));
    assert_eq!(
        site_problems(&e),
        vec![
            (
                102,
                1,
                SiteProblem::CapacityBoundTooLarge {
                    bound_wh: 16_777_218,
                    capacity_w: edge + 1,
                    interval_seconds: INTERVAL,
                }
            ),
            (
                103,
                2,
                SiteProblem::CapacityBoundTooLarge {
                    bound_wh: 3 * u64::from(u32::MAX),
                    capacity_w: u32::MAX,
                    interval_seconds: INTERVAL,
                }
            ),
        ]
    );
    let text = e.to_string();
    assert!(
        text.contains("site 102 (sites[1]): the capacity bound floor(5592406 W x 10800 s / 3600) = 16777218 Wh is too large: it must be at most 16777215 (2^24 - 1) Wh per interval"),
        "{text}"
    );

    // At 2^24 - 1 the site is valid, and the circuit agrees: the bound fits its range check.
    f.sites[1].capacity_w = edge;
    f.sites[2].capacity_w = 250_000;
    let v = validate(&f, &shape(4), &ValidationPolicy::default()).unwrap();
    let epoch = prepare_epoch(&v, &mut rand_chacha::ChaCha20Rng::seed_from_u64(3)).unwrap();
    let cs = ConstraintSystem::<Fr>::new_ref();
    epoch.batches[0]
        .circuit
        .clone()
        .generate_constraints(cs.clone())
        .unwrap();
    assert!(cs.is_satisfied().unwrap());
}

#[test]
fn a_wrong_number_of_readings_is_refused() {
    // One site with T - 1 readings (correctly signed).
    let mut f = file(3);
    f.sites[0].readings_wh.pop();
    sign(&mut f.sites[0], EPOCH, INTERVAL);
    let e = errors(&f, &shape(4));
    assert_eq!(
        site_problems(&e),
        vec![(
            101,
            0,
            SiteProblem::ReadingsCount {
                got: T - 1,
                expected: T
            }
        )]
    );
    // Keys for another T: the schedule and every site are wrong.
    let f = file(3);
    let e = errors(&f, &BatchShape::new(4, 24, 4).unwrap());
    assert!(
        e.problems.contains(&BatchProblem::SlotsLength {
            got: 8,
            expected: 24
        }),
        "{e}"
    );
    assert_eq!(site_problems(&e).len(), 3, "{e}");
    assert!(
        e.to_string()
            .contains("has 8 readings; the keys prove T = 24"),
        "{e}"
    );
}

#[test]
fn a_duplicate_site_id_is_refused() {
    let mut f = file(4);
    f.sites[3] = site(102);
    let e = errors(&f, &shape(4));
    assert_eq!(
        site_problems(&e),
        vec![(102, 3, SiteProblem::DuplicateSiteId { first_position: 1 })]
    );
    assert!(
        e.to_string()
            .contains("site 102 (sites[3]): duplicate site_id"),
        "{e}"
    );
}

#[test]
fn too_few_sites_for_k_anonymity_are_refused() {
    // Two sites in all.
    let e = errors(&file(2), &shape(4));
    assert_eq!(
        e.problems,
        vec![BatchProblem::Plan(PlanError::TooFewSites {
            n_sites: 2,
            min: 3
        })]
    );
    assert!(
        e.to_string().contains("too few sites for k-anonymity"),
        "{e}"
    );
    // Five sites with S = 4: batches of 3 and 2.
    let e = errors(&file(5), &shape(4));
    assert_eq!(
        e.problems,
        vec![BatchProblem::Plan(PlanError::KAnonymity {
            n_sites: 5,
            sites_per_batch: 4,
            batches: 2,
            smallest: 2,
            min: 3
        })]
    );
    let text = e.to_string();
    assert!(
        text.contains("5 sites") && text.contains("2 batches") && text.contains("minimum of 3"),
        "{text}"
    );
    // The minimum is configurable.
    let lax = ValidationPolicy {
        min_sites_per_batch: 2,
    };
    let v = validate(&file(5), &shape(4), &lax).unwrap();
    assert_eq!(
        v.plan().iter().map(|a| a.site_count).collect::<Vec<_>>(),
        vec![3, 2]
    );
    let strict = ValidationPolicy {
        min_sites_per_batch: 5,
    };
    assert!(validate(&file(8), &shape(4), &strict).is_err());
}

#[test]
fn file_level_problems_are_reported() {
    let mut f = file(3);
    f.version = 2;
    f.interval_seconds = 0;
    f.slots[3] = 4;
    let e = errors(&f, &shape(4));
    assert!(e.problems.contains(&BatchProblem::Version(2)), "{e}");
    assert!(e.problems.contains(&BatchProblem::IntervalZero), "{e}");
    assert!(
        e.problems.contains(&BatchProblem::SlotOutOfRange {
            index: 3,
            slot: 4,
            price_slots: 4
        }),
        "{e}"
    );

    let mut f = file(3);
    f.interval_seconds = 1 << 32;
    let e = errors(&f, &shape(4));
    assert!(
        e.problems
            .contains(&BatchProblem::IntervalTooLarge(1 << 32)),
        "{e}"
    );

    let mut f = file(3);
    f.sites.clear();
    let e = errors(&f, &shape(4));
    assert!(e.problems.contains(&BatchProblem::NoSites), "{e}");
}

#[test]
fn site_level_problems_are_reported() {
    let mut f = file(6);
    f.sites[0].prices_uusd_per_kwh.push(1);
    f.sites[1].location.latitude_microdeg = 90_000_001;
    f.sites[2].location.region = String::new();
    f.sites[3].location.region = "X".repeat(32);
    f.sites[4].meter_public_key = [Fr::from(1u64), Fr::from(2u64)];
    let e = errors(&f, &shape(4));
    let p = site_problems(&e);
    assert!(
        matches!(
            p[0],
            (
                101,
                0,
                SiteProblem::PricesCount {
                    got: 5,
                    expected: 4
                }
            )
        ),
        "{e}"
    );
    assert!(
        matches!(&p[1], (102, 1, SiteProblem::Location(m)) if m.contains("latitude")),
        "{e}"
    );
    assert!(
        matches!(&p[2], (103, 2, SiteProblem::Location(m)) if m.contains("region")),
        "{e}"
    );
    assert!(
        matches!(&p[3], (104, 3, SiteProblem::Location(m)) if m.contains("region")),
        "{e}"
    );
    assert!(matches!(&p[4], (105, 4, SiteProblem::MeterKey(_))), "{e}");
    assert_eq!(p.len(), 5, "{e}");
}

#[test]
fn every_problem_is_collected_up_to_a_cap() {
    let mut f = file(60);
    for s in &mut f.sites {
        s.readings_wh[0] += 1; // breaks every signature
    }
    let e = errors(&f, &shape(4));
    assert_eq!(e.problems.len(), 50);
    assert_eq!(e.omitted, 10);
    assert_eq!(e.total(), 60);
    assert!(e.to_string().contains("... and 10 more"), "{e}");
    assert!(
        e.to_string()
            .starts_with("the batch file has 60 problem(s)"),
        "{e}"
    );
}

#[test]
fn the_epoch_is_placed_in_file_order_with_empty_leaves_at_the_end_of_each_batch() {
    let f = file(7);
    let s = shape(4);
    let v = validate(&f, &s, &ValidationPolicy::default()).unwrap();
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let epoch = prepare_epoch(&v, &mut rng).unwrap();
    assert_eq!(epoch.batches.len(), 2);
    assert_eq!(epoch.batches[0].site_ids, vec![101, 102, 103, 104]);
    assert_eq!(epoch.batches[1].site_ids, vec![105, 106, 107]);
    let private = &epoch.private;
    assert_eq!(private.registry_root, epoch.registry_root);
    let leaf_indices: Vec<u64> = private.sites.iter().map(|s| s.leaf_index).collect();
    assert_eq!(leaf_indices, vec![0, 1, 2, 3, 4, 5, 6]);
    // The registry tree over the leaves (and an empty leaf at 7) has the same root.
    let mut leaves: Vec<Fr> = private.sites.iter().map(|s| s.leaf).collect();
    leaves.push(Fr::from(0u64));
    assert_eq!(
        MerkleTree::new(20, &leaves).unwrap().root(),
        epoch.registry_root
    );
    // Salts are fresh and distinct.
    assert_ne!(
        private.sites[0].location_salt,
        private.sites[1].location_salt
    );
    // Totals add up.
    let energy: u128 = epoch
        .batches
        .iter()
        .map(|b| b.public_inputs.total_energy_wh)
        .sum();
    let expected: u128 = f
        .sites
        .iter()
        .flat_map(|s| s.readings_wh.iter().map(|&r| r as u128))
        .sum();
    assert_eq!(energy, expected);
    assert_eq!(epoch.batches[1].public_inputs.batch_index, 1);
    assert_eq!(
        epoch.batches[0].circuit.public_inputs(),
        Some(epoch.batches[0].public_inputs)
    );

    // 9 sites with S = 4: 3 batches of 3.
    let f = file(9);
    let v = validate(&f, &s, &ValidationPolicy::default()).unwrap();
    let epoch = prepare_epoch(&v, &mut rng).unwrap();
    let leaf_indices: Vec<u64> = epoch.private.sites.iter().map(|s| s.leaf_index).collect();
    assert_eq!(leaf_indices, vec![0, 1, 2, 4, 5, 6, 8, 9, 10]);
}

#[test]
fn the_private_output_is_written_secret_and_reads_back() {
    let f = file(3);
    let s = shape(4);
    let v = validate(&f, &s, &ValidationPolicy::default()).unwrap();
    let epoch = prepare_epoch(&v, &mut rand::rngs::OsRng).unwrap();
    let dir = std::env::temp_dir().join(format!("gridproof-private-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let proofs = dir.join("proofs.json");
    let path = default_private_output_path(&proofs);
    assert_eq!(path, dir.join("proofs.private.json"));
    epoch.private.write(&path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let back = PrivateOutput::read(&path).unwrap();
    assert_eq!(back, epoch.private);
    assert_eq!(back.sites[1].readings_wh, f.sites[1].readings_wh);
    assert_eq!(back.sites[2].location, f.sites[2].location);
    // Nothing but the file is left in the directory (no temporary files).
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

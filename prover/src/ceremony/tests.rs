//! Unit tests of the zkey import on zkeys written here from arkworks keys made with the circom
//! reduction (the layout of `snarkjs zkey new`, with a synthetic contribution record). The
//! interoperability with snarkjs itself is tested in `prover/tests/ceremony_interop.rs`.

use std::path::{Path, PathBuf};

use ark_bn254::{Bn254, G1Affine, G2Affine};
use ark_ec::{AffineRepr, CurveGroup};
use ark_ff::{BigInteger, PrimeField};
use ark_groth16::{Groth16, ProvingKey};
use ark_relations::gr1cs::{ConstraintSynthesizer, ConstraintSystemRef, SynthesisError, Variable};
use ark_relations::lc;
use blake2::{Blake2b512, Digest};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::zkey::{coefficient_bytes, g1_to_lem, g1_uncompressed, g2_to_lem, g2_uncompressed};
use super::*;
use crate::keys::ContributionKind;
use crate::prove::ConstraintGroupNames;

/// Public x1 = a (b + k), x2 = (a + 2b) a; with `extra`, also b * 1 = b (one more constraint,
/// no new variable). `k` changes one coefficient of B: "another circuit version".
#[derive(Clone)]
struct Toy {
    k: u64,
    extra: bool,
    witness: Option<(u64, u64)>,
}

impl Toy {
    fn blank() -> Self {
        Self {
            k: 7,
            extra: false,
            witness: None,
        }
    }

    fn witnessed(a: u64, b: u64) -> Self {
        Self {
            witness: Some((a, b)),
            ..Self::blank()
        }
    }

    fn public_inputs(&self) -> Vec<Fr> {
        let (a, b) = self.witness.expect("a witnessed toy");
        vec![Fr::from(a * (b + self.k)), Fr::from((a + 2 * b) * a)]
    }
}

impl ConstraintGroupNames for Toy {}

impl ConstraintSynthesizer<Fr> for Toy {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let missing = || SynthesisError::AssignmentMissing;
        let inputs = self.witness.map(|_| self.public_inputs());
        let x1 = cs.new_input_variable(|| inputs.as_ref().map(|v| v[0]).ok_or_else(missing))?;
        let x2 = cs.new_input_variable(|| inputs.as_ref().map(|v| v[1]).ok_or_else(missing))?;
        let a =
            cs.new_witness_variable(|| self.witness.map(|w| Fr::from(w.0)).ok_or_else(missing))?;
        let b =
            cs.new_witness_variable(|| self.witness.map(|w| Fr::from(w.1)).ok_or_else(missing))?;
        let k = Fr::from(self.k);
        cs.enforce_r1cs_constraint(
            || lc![a],
            || lc![(Fr::from(1u64), b), (k, Variable::One)],
            || lc![x1],
        )?;
        cs.enforce_r1cs_constraint(
            || lc![(Fr::from(1u64), a), (Fr::from(2u64), b)],
            || lc![a],
            || lc![x2],
        )?;
        if self.extra {
            cs.enforce_r1cs_constraint(|| lc![b], || lc![Variable::One], || lc![b])?;
        }
        Ok(())
    }
}

/// One contribution of the synthetic record: its name and whether it is a beacon.
struct FakeContribution {
    name: Option<&'static str>,
    beacon: bool,
}

fn two_contributions() -> Vec<FakeContribution> {
    vec![
        FakeContribution {
            name: Some("alice"),
            beacon: false,
        },
        FakeContribution {
            name: Some("final beacon"),
            beacon: true,
        },
    ]
}

fn circom_keys(circuit: Toy, seed: u64) -> ProvingKey<Bn254> {
    Groth16::<Bn254, CircomReduction>::generate_random_parameters_with_reduction(
        circuit,
        &mut ChaCha20Rng::seed_from_u64(seed),
    )
    .expect("toy setup")
}

fn section(out: &mut Vec<u8>, id: u32, body: &[u8]) {
    out.extend_from_slice(&id.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(body);
}

fn contributions_section(delta_g1: G1Affine, fakes: &[FakeContribution]) -> Vec<u8> {
    let circuit_hash = [0x5au8; 64];
    let mut body = circuit_hash.to_vec();
    body.extend_from_slice(&(fakes.len() as u32).to_le_bytes());
    let mut accumulated = Blake2b512::new();
    accumulated.update(circuit_hash);
    let g1 = G1Affine::generator();
    let g2 = G2Affine::generator();
    for (i, fake) in fakes.iter().enumerate() {
        let k = Fr::from(i as u64 + 3);
        let delta_after = if i + 1 == fakes.len() {
            delta_g1
        } else {
            (g1 * (k + Fr::from(50u64))).into_affine()
        };
        let g1_s = (g1 * k).into_affine();
        let g1_sx = (g1 * (k * k)).into_affine();
        let g2_spx = (g2 * (k + k)).into_affine();
        let mut ours = accumulated.clone();
        ours.update(g1_uncompressed(&g1_s));
        ours.update(g1_uncompressed(&g1_sx));
        let transcript: [u8; 64] = ours.finalize().into();
        accumulated.update(g1_uncompressed(&delta_after));
        accumulated.update(g1_uncompressed(&g1_s));
        accumulated.update(g1_uncompressed(&g1_sx));
        accumulated.update(g2_uncompressed(&g2_spx));
        accumulated.update(transcript);
        g1_to_lem(&delta_after, &mut body);
        g1_to_lem(&g1_s, &mut body);
        g1_to_lem(&g1_sx, &mut body);
        g2_to_lem(&g2_spx, &mut body);
        body.extend_from_slice(&transcript);
        body.extend_from_slice(&u32::from(fake.beacon).to_le_bytes());
        let mut params = Vec::new();
        if let Some(name) = fake.name {
            params.push(1u8);
            params.push(name.len() as u8);
            params.extend_from_slice(name.as_bytes());
        }
        if fake.beacon {
            params.extend_from_slice(&[2, 10, 3, 4, 0xde, 0xad, 0xbe, 0xef]);
        }
        body.extend_from_slice(&(params.len() as u32).to_le_bytes());
        body.extend_from_slice(&params);
    }
    body
}

/// A zkey in snarkjs' layout (sections in the order `zkey new` writes them) for `pk`, made for
/// the circuit `m` with the circom reduction.
fn write_zkey(pk: &ProvingKey<Bn254>, m: &CircuitMatrices, fakes: &[FakeContribution]) -> Vec<u8> {
    let num_public = m.num_instance - 1;
    let domain_size = m.domain_size().unwrap();
    let mut header = Vec::new();
    header.extend_from_slice(&32u32.to_le_bytes());
    header.extend_from_slice(&ark_bn254::Fq::MODULUS.to_bytes_le());
    header.extend_from_slice(&32u32.to_le_bytes());
    header.extend_from_slice(&Fr::MODULUS.to_bytes_le());
    for x in [m.num_variables(), num_public, domain_size] {
        header.extend_from_slice(&(x as u32).to_le_bytes());
    }
    g1_to_lem(&pk.vk.alpha_g1, &mut header);
    g1_to_lem(&pk.beta_g1, &mut header);
    g2_to_lem(&pk.vk.beta_g2, &mut header);
    g2_to_lem(&pk.vk.gamma_g2, &mut header);
    g1_to_lem(&pk.delta_g1, &mut header);
    g2_to_lem(&pk.vk.delta_g2, &mut header);

    let mut coefficients: Vec<(u32, usize, usize, Fr)> = Vec::new();
    for c in 0..m.num_constraints {
        for (matrix, rows) in [(0u32, &m.a), (1, &m.b)] {
            for &(value, signal) in &rows[c] {
                coefficients.push((matrix, c, signal, value));
            }
        }
    }
    for s in 0..m.num_instance {
        coefficients.push((0, m.num_constraints + s, s, Fr::from(1u64)));
    }
    let mut coefs = (coefficients.len() as u32).to_le_bytes().to_vec();
    for (matrix, c, s, value) in coefficients {
        for x in [matrix, c as u32, s as u32] {
            coefs.extend_from_slice(&x.to_le_bytes());
        }
        coefs.extend_from_slice(&coefficient_bytes(&value));
    }

    let g1s = |points: &[G1Affine]| {
        let mut out = Vec::new();
        points.iter().for_each(|p| g1_to_lem(p, &mut out));
        out
    };
    let mut b2 = Vec::new();
    pk.b_g2_query.iter().for_each(|p| g2_to_lem(p, &mut b2));

    let mut out = b"zkey".to_vec();
    out.extend_from_slice(&1u32.to_le_bytes());
    out.extend_from_slice(&10u32.to_le_bytes());
    section(&mut out, 1, &1u32.to_le_bytes());
    section(&mut out, 2, &header);
    section(&mut out, 4, &coefs);
    section(&mut out, 3, &g1s(&pk.vk.gamma_abc_g1));
    section(&mut out, 9, &g1s(&pk.h_query));
    section(&mut out, 8, &g1s(&pk.l_query));
    section(&mut out, 5, &g1s(&pk.a_query));
    section(&mut out, 6, &g1s(&pk.b_g1_query));
    section(&mut out, 7, &b2);
    section(&mut out, 10, &contributions_section(pk.delta_g1, fakes));
    out
}

/// A fresh directory under the system temp directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "gridproof-ceremony-unit-{}-{name}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn shape() -> BatchShape {
    BatchShape::new(2, 8, 4).unwrap()
}

fn import(path: &Path, circuit: Toy) -> Result<Keys, ImportError> {
    import_zkey_with(path, &shape(), circuit, "toy", &mut |_| {})
}

/// A toy zkey with two contributions, its proving key and the toy's matrices.
fn toy_zkey() -> (Vec<u8>, ProvingKey<Bn254>, CircuitMatrices) {
    let pk = circom_keys(Toy::blank(), 1);
    let m = CircuitMatrices::of(Toy::blank()).unwrap();
    (write_zkey(&pk, &m, &two_contributions()), pk, m)
}

/// Offset of section `id`'s body in a zkey written by [`write_zkey`].
fn section_offset(bytes: &[u8], id: u32) -> usize {
    let mut pos = 12;
    loop {
        let sid = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap());
        let len = u64::from_le_bytes(bytes[pos + 4..pos + 12].try_into().unwrap()) as usize;
        if sid == id {
            return pos + 12;
        }
        pos += 12 + len;
    }
}

#[test]
fn an_imported_zkey_proves_with_the_circom_reduction_and_records_the_ceremony() {
    let (bytes, pk, m) = toy_zkey();
    let tmp = TempDir::new("import");
    let path = tmp.write("final.zkey", &bytes);
    let mut phases = Vec::new();
    let keys = import_zkey_with(&path, &shape(), Toy::blank(), "toy", &mut |p| {
        phases.push(p)
    })
    .unwrap();
    assert_eq!(
        phases,
        [
            ImportPhase::Reading,
            ImportPhase::Parsing,
            ImportPhase::Comparing,
            ImportPhase::Checking
        ]
    );
    assert!(
        keys.proving_key.clone().into_proving_key() == pk,
        "the zkey's points become the same key"
    );
    assert_eq!(keys.qap_reduction, QapReduction::Circom);
    assert_eq!(keys.num_constraints, m.num_constraints);
    let Provenance::Ceremony {
        zkey_sha256,
        circuit_hash,
        contributions,
    } = &keys.provenance
    else {
        panic!("not a ceremony provenance: {:?}", keys.provenance);
    };
    assert_eq!(zkey_sha256, &sha256_hex(&bytes));
    assert_eq!(circuit_hash, &"5a".repeat(64));
    assert_eq!(contributions.len(), 2);
    assert_eq!(contributions[0].name, "alice");
    assert_eq!(contributions[0].kind, ContributionKind::Contribution);
    assert_eq!(contributions[0].beacon, None);
    assert_eq!(contributions[1].kind, ContributionKind::Beacon);
    let beacon = contributions[1].beacon.as_ref().unwrap();
    assert_eq!(
        (beacon.hash.as_str(), beacon.iterations_exp),
        ("deadbeef", 10)
    );
    assert!(contributions.iter().all(|c| c.hash.len() == 128));
    assert_ne!(contributions[0].hash, contributions[1].hash);

    let toy = Toy::witnessed(3, 5);
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let proof = crate::prove::prove(&keys, toy.clone(), &mut rng, &mut |_| {}).unwrap();
    let pvk = crate::verify::prepare(&keys.verifying_key);
    crate::verify::verify(&pvk, &toy.public_inputs(), &proof).unwrap();
    let mut wrong = toy.public_inputs();
    wrong[1] += Fr::from(1u64);
    assert!(crate::verify::verify(&pvk, &wrong, &proof).is_err());

    // The same keys with the libsnark reduction do not prove (prove's self-check fails).
    let mut libsnark = keys.clone();
    libsnark.qap_reduction = QapReduction::Libsnark;
    let err = crate::prove::prove(&libsnark, toy, &mut rng, &mut |_| {}).unwrap_err();
    assert!(matches!(err, crate::ProveError::SelfCheckFailed), "{err}");
}

#[test]
fn imported_keys_round_trip_through_a_key_directory() {
    let (bytes, _, _) = toy_zkey();
    let tmp = TempDir::new("save");
    let keys = import(&tmp.write("final.zkey", &bytes), Toy::blank()).unwrap();
    let dir = tmp.0.join("KEYS");
    let manifest = keys.save(&dir).unwrap();
    assert_eq!(manifest.qap_reduction, QapReduction::Circom);
    let text = std::fs::read_to_string(dir.join(crate::keys::MANIFEST_FILE)).unwrap();
    assert!(text.contains("\"qap_reduction\": \"circom\""), "{text}");
    assert!(text.contains("\"kind\": \"ceremony\""), "{text}");
    let loaded = Keys::load(&dir).unwrap();
    assert_eq!(loaded.qap_reduction, QapReduction::Circom);
    assert_eq!(loaded.provenance, keys.provenance);
    assert!(loaded.proving_key == keys.proving_key);
    assert_eq!(loaded.provenance.warning(), None);
    let toy = Toy::witnessed(2, 9);
    let proof = crate::prove::prove(
        &loaded,
        toy.clone(),
        &mut ChaCha20Rng::seed_from_u64(4),
        &mut |_| {},
    )
    .unwrap();
    let pvk = crate::verify::prepare(&loaded.verifying_key);
    crate::verify::verify(&pvk, &toy.public_inputs(), &proof).unwrap();

    // A manifest edited to the libsnark reduction is refused: the H query has n, not n - 1,
    // points (the manifest's hash does not cover itself, the key's length does).
    let edited = text.replace("  \"qap_reduction\": \"circom\",\n", "");
    assert_ne!(edited, text);
    std::fs::write(dir.join(crate::keys::MANIFEST_FILE), edited).unwrap();
    let err = Keys::load(&dir).unwrap_err();
    assert!(err.to_string().contains("H query has"), "{err}");
}

#[test]
fn development_manifests_keep_their_format_and_default_to_libsnark() {
    let keys = crate::keys::setup_development_with(
        &shape(),
        Toy::blank(),
        &mut ChaCha20Rng::seed_from_u64(3),
    )
    .unwrap();
    assert_eq!(keys.qap_reduction, QapReduction::Libsnark);
    let tmp = TempDir::new("dev");
    let dir = tmp.0.join("KEYS");
    keys.save(&dir).unwrap();
    let text = std::fs::read_to_string(dir.join(crate::keys::MANIFEST_FILE)).unwrap();
    // Written as before ceremonies existed, so older builds still read it.
    assert!(!text.contains("qap_reduction"), "{text}");
    assert_eq!(
        Keys::load(&dir).unwrap().qap_reduction,
        QapReduction::Libsnark
    );
}

#[test]
fn a_zkey_of_another_circuit_is_refused_saying_what_differs() {
    let (bytes, _, _) = toy_zkey();
    let tmp = TempDir::new("other");
    let path = tmp.write("final.zkey", &bytes);

    // Another coefficient (k = 8 instead of 7): B of constraint 0 on the constant one.
    let other = Toy {
        k: 8,
        ..Toy::blank()
    };
    let err = import(&path, other).unwrap_err();
    let ImportError::WrongCircuit { source, .. } = &err else {
        panic!("{err}");
    };
    assert!(
        matches!(
            source,
            CircuitMismatch::CoefficientDiffers {
                matrix: zkey::MatrixId::B,
                constraint: 0,
                signal: 0,
                ..
            }
        ),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("final.zkey"), "{message}");
    assert!(message.contains("B coefficient #"), "{message}");
    assert!(
        message.contains("another circuit version or a tampered r1cs"),
        "{message}"
    );

    // One more constraint.
    let bigger = Toy {
        extra: true,
        ..Toy::blank()
    };
    let err = import(&path, bigger).unwrap_err();
    assert!(
        err.to_string()
            .contains("the zkey has 2 constraints, the circuit toy has 3"),
        "{err}"
    );
}

#[test]
fn a_flipped_byte_in_an_a_coefficient_is_refused() {
    let (mut bytes, _, m) = toy_zkey();
    // The first coefficient is A of constraint 0 (signal a, value 1); flip its low byte.
    let value_at = section_offset(&bytes, 4) + 4 + 12;
    bytes[value_at] ^= 0x01;
    let tmp = TempDir::new("flip");
    let err = import(&tmp.write("final.zkey", &bytes), Toy::blank()).unwrap_err();
    let signal = m.a[0][0].1;
    assert!(
        err.to_string().contains(&format!(
            "A coefficient #0 (constraint 0, signal {signal}) differs"
        )),
        "{err}"
    );
    // Its top byte: no longer below r.
    bytes[value_at] ^= 0x01;
    bytes[value_at + 31] = 0xff;
    let err = import(&tmp.write("final2.zkey", &bytes), Toy::blank()).unwrap_err();
    assert!(
        err.to_string()
            .contains("coefficient #0: the value is not below r"),
        "{err}"
    );
}

#[test]
fn a_point_off_the_curve_is_refused_naming_it() {
    let (bytes, _, _) = toy_zkey();
    let tmp = TempDir::new("curve");
    for (id, name) in [(5, "A point #1"), (7, "B2 point #1"), (9, "H point #1")] {
        let mut bad = bytes.clone();
        let size = if id == 7 { 128 } else { 64 };
        // Point #1's y (or y.c0): + 1 in Montgomery form leaves the curve.
        let at = section_offset(&bad, id) + size + size / 2;
        bad[at] ^= 0x01;
        let err = import(&tmp.write("final.zkey", &bad), Toy::blank()).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&format!("{name}: not on the curve")),
            "{message}"
        );
    }
    // A coordinate >= q.
    let mut bad = bytes.clone();
    let at = section_offset(&bad, 5) + 64;
    bad[at..at + 32].fill(0xff);
    let err = import(&tmp.write("final.zkey", &bad), Toy::blank()).unwrap_err();
    assert!(
        err.to_string()
            .contains("A point #1: a coordinate is not below q"),
        "{err}"
    );
}

#[test]
fn a_zkey_without_contributions_is_refused() {
    let pk = circom_keys(Toy::blank(), 1);
    let m = CircuitMatrices::of(Toy::blank()).unwrap();
    let tmp = TempDir::new("none");
    let path = tmp.write("circuit_0000.zkey", &write_zkey(&pk, &m, &[]));
    let err = import(&path, Toy::blank()).unwrap_err();
    assert!(matches!(err, ImportError::NoContribution { .. }), "{err}");
    assert!(err.to_string().contains("no phase-2 contribution"), "{err}");
}

#[test]
fn an_edited_contribution_record_is_refused() {
    let (bytes, _, _) = toy_zkey();
    let tmp = TempDir::new("transcript");
    // The first contribution's transcript starts after the circuit hash, the count and its four
    // points.
    let mut bad = bytes.clone();
    let at = section_offset(&bad, 10) + 64 + 4 + 3 * 64 + 128;
    bad[at] ^= 0x01;
    let err = import(&tmp.write("final.zkey", &bad), Toy::blank()).unwrap_err();
    assert!(
        err.to_string()
            .contains("contribution #1 has an inconsistent transcript"),
        "{err}"
    );
    // A contribution record from another key: the last delta is not the key's delta.
    let other = circom_keys(Toy::blank(), 2);
    let m = CircuitMatrices::of(Toy::blank()).unwrap();
    let mut spliced = write_zkey(&circom_keys(Toy::blank(), 1), &m, &[]);
    let ours = section_offset(&spliced, 10) - 12;
    spliced.truncate(ours);
    section(
        &mut spliced,
        10,
        &contributions_section(other.delta_g1, &two_contributions()),
    );
    let err = import(&tmp.write("spliced.zkey", &spliced), Toy::blank()).unwrap_err();
    assert!(
        err.to_string()
            .contains("delta1 is not the delta after the last contribution"),
        "{err}"
    );
}

#[test]
fn delta_in_g1_and_g2_must_agree() {
    let mut pk = circom_keys(Toy::blank(), 1);
    let other = circom_keys(Toy::blank(), 2);
    pk.vk.delta_g2 = other.vk.delta_g2;
    let m = CircuitMatrices::of(Toy::blank()).unwrap();
    let tmp = TempDir::new("delta");
    let path = tmp.write("final.zkey", &write_zkey(&pk, &m, &two_contributions()));
    let err = import(&path, Toy::blank()).unwrap_err();
    assert!(
        err.to_string()
            .contains("delta1 and delta2 (or beta1 and beta2) are not the same exponent"),
        "{err}"
    );
}

#[test]
fn malformed_files_are_refused_without_panicking() {
    let (bytes, _, _) = toy_zkey();
    assert!(Zkey::parse(&bytes).is_ok());
    // Every truncation.
    for len in 0..bytes.len() {
        assert!(Zkey::parse(&bytes[..len]).is_err(), "prefix of {len} bytes");
    }
    // A flipped bit at many places: an error or (in an unchecked spot) a parse, never a panic.
    for at in (0..bytes.len()).step_by(7) {
        let mut bad = bytes.clone();
        bad[at] ^= 0x80;
        let _ = Zkey::parse(&bad);
    }
    let mut bad = bytes.clone();
    bad.extend_from_slice(&[0; 3]);
    assert_eq!(Zkey::parse(&bad), Err(ZkeyError::TrailingBytes(3)));
    assert_eq!(Zkey::parse(b"ptau\x01\0\0\0"), Err(ZkeyError::BadMagic));

    // A PLONK key.
    let mut plonk = bytes.clone();
    let at = section_offset(&plonk, 1);
    plonk[at] = 2;
    assert_eq!(Zkey::parse(&plonk), Err(ZkeyError::NotGroth16("PLONK")));
    // Another curve's q.
    let mut curve = bytes.clone();
    let at = section_offset(&curve, 2) + 4;
    curve[at] ^= 0x02;
    assert!(matches!(Zkey::parse(&curve), Err(ZkeyError::WrongCurve(_))));
    // A section length beyond the end of the file, and a huge coefficient count.
    let mut long = bytes.clone();
    let at = section_offset(&long, 4) - 8;
    long[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        Zkey::parse(&long),
        Err(ZkeyError::Truncated { .. })
    ));
    let mut count = bytes.clone();
    let at = section_offset(&count, 4);
    count[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        Zkey::parse(&count),
        Err(ZkeyError::SectionSize { id: 4, .. })
    ));
    // A duplicated section.
    let mut twice = bytes.clone();
    twice[8..12].copy_from_slice(&11u32.to_le_bytes());
    section(&mut twice, 1, &1u32.to_le_bytes());
    assert_eq!(
        Zkey::parse(&twice),
        Err(ZkeyError::DuplicateSection { id: 1 })
    );
}

#[test]
fn coefficients_use_snarkjs_double_montgomery_form() {
    // snarkjs writes v * R^2 mod r: for v = 1 that is R^2 mod r.
    let one = coefficient_bytes(&Fr::from(1u64));
    assert_eq!(one.to_vec(), Fr::R2.to_bytes_le());
    let (bytes, _, m) = toy_zkey();
    let zkey = Zkey::parse(&bytes).unwrap();
    let k = m.b[0]
        .iter()
        .find(|(_, signal)| *signal == 0)
        .map(|(value, _)| *value)
        .unwrap();
    assert_eq!(k, Fr::from(7u64));
    assert!(zkey
        .coefficients
        .iter()
        .any(|c| c.matrix == zkey::MatrixId::B && c.signal == 0 && c.value == k));
}

#[test]
fn snarkjs_hash_layout_is_four_lines_of_four_groups() {
    let mut hash = [0u8; 64];
    hash.iter_mut().enumerate().for_each(|(i, b)| *b = i as u8);
    let text = snarkjs_hash_lines(&hash);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0], "\t\t00010203 04050607 08090a0b 0c0d0e0f");
    assert_eq!(lines[3], "\t\t30313233 34353637 38393a3b 3c3d3e3f");
}

/// Measures an import at a real shape: a development setup with the circom reduction, written
/// as a zkey of the size and layout a ceremony's has, then [`import_zkey`] of the batch
/// statement. The zkey is kept at GRIDPROOF_ZKEY_PATH (when set) so a second run measures the
/// import only:
/// `GRIDPROOF_ZKEY_SHAPE=64,96 GRIDPROOF_ZKEY_PATH=/tmp/64x96.zkey cargo test --release -p
/// gridproof-prover --lib measure_import -- --ignored --nocapture`
#[test]
#[ignore = "a setup of minutes at S = 64; run in release to measure the import time"]
fn measure_import_at_scale() {
    use std::time::Instant;
    let spec = std::env::var("GRIDPROOF_ZKEY_SHAPE").unwrap_or_else(|_| "2,8".to_string());
    let (s, t) = spec.split_once(',').expect("GRIDPROOF_ZKEY_SHAPE=S,T");
    let shape = BatchShape::new(s.parse().unwrap(), t.parse().unwrap(), 4).unwrap();
    let tmp = TempDir::new("measure");
    let path = std::env::var_os("GRIDPROOF_ZKEY_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| tmp.0.join("measure.zkey"));
    if !path.exists() {
        let started = Instant::now();
        let blank = gridproof_circuits::statement::BatchCircuit::blank(shape);
        let pk = Groth16::<Bn254, CircomReduction>::generate_random_parameters_with_reduction(
            blank.clone(),
            &mut ChaCha20Rng::seed_from_u64(1),
        )
        .unwrap();
        let m = CircuitMatrices::of(blank).unwrap();
        let bytes = write_zkey(&pk, &m, &two_contributions());
        std::fs::write(&path, &bytes).unwrap();
        eprintln!(
            "wrote {} ({} bytes) in {:.1} s",
            path.display(),
            bytes.len(),
            started.elapsed().as_secs_f64()
        );
    }
    if std::env::var_os("GRIDPROOF_ZKEY_PARTS").is_some() {
        // Each part of the parsing phase alone (they overlap in an import).
        let timed = |what: &str, f: &mut dyn FnMut()| {
            let t = Instant::now();
            f();
            eprintln!("{what}: {:.2} s", t.elapsed().as_secs_f64());
        };
        let mut bytes = Vec::new();
        timed("read", &mut || bytes = std::fs::read(&path).unwrap());
        timed("sha256", &mut || drop(sha256_hex(&bytes)));
        let mut zkey = None;
        timed("parse", &mut || zkey = Some(Zkey::parse(&bytes).unwrap()));
        timed("synthesize without matrices", &mut || {
            crate::keys::count_constraints(gridproof_circuits::statement::BatchCircuit::blank(
                shape,
            ))
            .unwrap();
        });
        let mut m = None;
        timed("synthesize", &mut || {
            m = Some(
                CircuitMatrices::of(gridproof_circuits::statement::BatchCircuit::blank(shape))
                    .unwrap(),
            )
        });
        timed(
            "G2 subgroup checks of 100000 B2 points (not done by an import)",
            &mut || {
                use rayon::prelude::*;
                let b2 = &zkey.as_ref().unwrap().b_g2;
                assert!(b2
                    .par_iter()
                    .take(100_000)
                    .all(|p| p.is_in_correct_subgroup_assuming_on_curve()));
            },
        );
        timed("compare", &mut || {
            check_zkey_matches(zkey.as_ref().unwrap(), m.as_ref().unwrap(), "x").unwrap()
        });
    }
    let started = Instant::now();
    let mut last: Option<(Instant, ImportPhase)> = None;
    let keys = import_zkey(&path, &shape, &mut |phase| {
        if let Some((t, previous)) = last {
            eprintln!("{previous:?}: {:.2} s", t.elapsed().as_secs_f64());
        }
        last = Some((Instant::now(), phase));
    })
    .unwrap();
    if let Some((t, previous)) = last {
        eprintln!("{previous:?}: {:.2} s", t.elapsed().as_secs_f64());
    }
    eprintln!(
        "imported {} ({} constraints, {} threads) in {:.2} s",
        shape_name(&shape),
        keys.num_constraints,
        rayon::current_num_threads(),
        started.elapsed().as_secs_f64()
    );
}

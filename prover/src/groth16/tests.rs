//! The limb conversions, the hybrid MSM against arkworks' on random and edge inputs, and whole
//! proofs against ark-groth16's prover (same `r`, `s` => the same proof) and verifier.

use super::*;

use crate::r1cs::{qap_domain_size, ProverMatrices};

use ark_ec::PrimeGroup;
use ark_ff::{Field, One};
use ark_groth16::r1cs_to_qap::LibsnarkReduction;
use ark_groth16::{prepare_verifying_key, Groth16};
use ark_r1cs_std::{alloc::AllocVar, eq::EqGadget, fields::fp::FpVar, fields::FieldVar};
use ark_relations::gr1cs::{
    ConstraintSynthesizer, ConstraintSystem, ConstraintSystemRef, OptimizationGoal, SynthesisMode,
    R1CS_PREDICATE_LABEL,
};
use ark_relations::ns;
use ark_std::UniformRand;
use gridproof_circuits::statement::{BatchCircuit, BatchShape};
use halo2curves::ff::{Field as _, PrimeField as _};
use halo2curves::group::Group as _;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// Scalars at the edges of every size class arkworks and the hybrid split distinguish.
fn edge_scalars() -> Vec<Fr> {
    let two_64 = Fr::from(u64::MAX) + Fr::one();
    vec![
        Fr::zero(),
        Fr::one(),
        -Fr::one(), // r - 1
        -Fr::from(2u64),
        Fr::from(2u64),
        Fr::from(255u64),
        Fr::from(256u64),
        -Fr::from(300u64),
        Fr::from(u16::MAX as u64 + 1),
        Fr::from(u32::MAX as u64),
        -Fr::from(u32::MAX as u64 + 7),
        Fr::from(u64::MAX), // the largest small scalar
        two_64,             // the smallest full-size one
        -Fr::from(u64::MAX),
        -two_64,
        Fr::from(2u64).pow([253u64]),
        Fr::from(5u64).inverse().unwrap(),
    ]
}

#[test]
fn fr_limbs_convert_both_ways_and_keep_arithmetic() {
    let mut rng = rng(1);
    let mut values = edge_scalars();
    values.extend((0..50).map(|_| Fr::rand(&mut rng)));
    for &a in &values {
        let h = fr_to_h2(&a);
        assert_eq!(fr_to_ark(&h), a);
        // The same number: the canonical bytes agree (halo2curves' repr is little-endian).
        assert_eq!(
            h.to_repr().as_ref(),
            a.into_bigint().to_bytes_le().as_slice()
        );
        for &b in values.iter().take(20) {
            assert_eq!(fr_to_h2(&(a * b)), h * fr_to_h2(&b));
            assert_eq!(fr_to_h2(&(a + b)), h + fr_to_h2(&b));
        }
    }
    for k in [0u64, 1, 2, 7, u64::MAX] {
        assert_eq!(fr_to_h2(&Fr::from(k)), h2::Fr::from(k));
    }
    assert_eq!(fr_to_h2(&-Fr::one()), -h2::Fr::ONE);
}

#[test]
fn fq_and_fq2_limbs_convert_both_ways_and_keep_arithmetic() {
    let mut rng = rng(2);
    for _ in 0..50 {
        let (a, b) = (Fq::rand(&mut rng), Fq::rand(&mut rng));
        assert_eq!(fq_to_ark(&fq_to_h2(&a)), a);
        assert_eq!(fq_to_h2(&(a * b)), fq_to_h2(&a) * fq_to_h2(&b));
        let (x, y) = (Fq2::rand(&mut rng), Fq2::rand(&mut rng));
        assert_eq!(fq2_to_ark(&fq2_to_h2(&x)), x);
        // Fq2 = Fq[u]/(u^2 + 1) in both: products agree.
        assert_eq!(fq2_to_h2(&(x * y)), fq2_to_h2(&x) * fq2_to_h2(&y));
    }
    assert_eq!(fq_to_h2(&Fq::from(3u64)), h2::Fq::from(3u64));
}

fn check_points_convert<G: Group>(
    ark_generator: G::ArkGroup,
    h2_generator: <G::H2 as halo2curves::CurveAffine>::CurveExt,
) {
    let mut rng = rng(3);
    // The generators are the same point, and so are their multiples.
    for k in [1u64, 2, 3, 1000] {
        let ark = (ark_generator * Fr::from(k)).into_affine();
        let h2 = G::H2::from(h2_generator * h2::Fr::from(k));
        assert_eq!(G::to_h2(&ark), h2);
        assert_eq!(G::to_ark(&h2), ark);
    }
    for _ in 0..20 {
        let k = Fr::rand(&mut rng);
        let ark = (ark_generator * k).into_affine();
        let h2 = G::to_h2(&ark);
        assert!(bool::from(halo2curves::CurveAffine::is_on_curve(&h2)));
        assert_eq!(G::H2::from(h2_generator * fr_to_h2(&k)), h2);
        assert_eq!(G::to_ark(&h2), ark);
        assert_eq!(G::result_to_ark(h2.to_curve()), ark.into_group());
    }
    // The identity, both ways (arkworks and halo2curves both write it as (0, 0)).
    let id = G::to_h2(&G::Ark::zero());
    assert!(bool::from(id.is_identity()));
    assert!(G::to_ark(&G::H2::identity()).is_zero());
    assert!(G::result_to_ark(<G::H2 as PrimeCurveAffine>::Curve::identity()).is_zero());
}

#[test]
fn g1_points_convert_both_ways_including_the_identity() {
    check_points_convert::<G1>(G1Projective::generator(), h2::G1::generator());
}

#[test]
fn g2_points_convert_both_ways_including_the_identity() {
    check_points_convert::<G2>(G2Projective::generator(), h2::G2::generator());
}

/// `n` distinct pseudo-random points, cheaply: running sums of a few random ones.
fn points<G: Group>(n: usize, rng: &mut ChaCha20Rng) -> Vec<G::Ark>
where
    G::ArkGroup: UniformRand,
{
    let base: Vec<G::ArkGroup> = (0..16).map(|_| G::ArkGroup::rand(rng)).collect();
    let mut acc = G::ArkGroup::rand(rng);
    let projective: Vec<G::ArkGroup> = (0..n)
        .map(|i| {
            acc += base[i % base.len()];
            acc
        })
        .collect();
    G::ArkGroup::normalize_batch(&projective)
}

/// arkworks' MSM and the hybrid one (and the all-full-size path of the H query) agree.
fn check_msm<G: Group>(points: &[G::Ark], scalars: &[Fr]) {
    let bigints: Vec<BigInt<4>> = scalars.iter().map(|s| s.into_bigint()).collect();
    let expected = G::ArkGroup::msm_bigint(points, &bigints);
    if points.len() <= 64 {
        let naive: G::ArkGroup = points.iter().zip(scalars).map(|(p, s)| *p * s).sum();
        assert_eq!(expected, naive, "arkworks' own MSM is off");
    }
    let query = Query::new(points.iter().map(G::to_h2).collect::<Vec<_>>());
    let split = Split::of(&bigints);
    let z = Scalars {
        mont: scalars,
        bigints: &bigints,
    };
    assert_eq!(
        hybrid_msm::<G>(&query.points, 0, z, split.from(0)),
        expected,
        "hybrid, {} points",
        points.len()
    );
    assert_eq!(
        msm_full::<G>(&query, scalars.to_vec()),
        expected,
        "full, {} points",
        points.len()
    );
    // An offset window of the same scalars (as for the L query).
    if (4..=1000).contains(&points.len()) {
        let offset = 3;
        let tail = G::ArkGroup::msm_bigint(&points[offset..], &bigints[offset..]);
        assert_eq!(
            hybrid_msm::<G>(&query.points[offset..], offset, z, split.from(offset)),
            tail
        );
    }
}

fn mixed_scalars(n: usize, rng: &mut ChaCha20Rng) -> Vec<Fr> {
    let edges = edge_scalars();
    (0..n)
        .map(|i| match i % 4 {
            0 => edges[rng.gen_range(0..edges.len())],
            1 => Fr::from(rng.gen::<bool>()),
            2 => Fr::rand(rng),
            _ => Fr::from(rng.gen::<u32>()),
        })
        .collect()
}

fn check_msm_cases<G: Group>()
where
    G::ArkGroup: UniformRand,
{
    let mut rng = rng(4);
    // Empty, and one point with each edge scalar, on a point and on the identity.
    check_msm::<G>(&[], &[]);
    let p = points::<G>(1, &mut rng);
    for s in edge_scalars() {
        check_msm::<G>(&p, &[s]);
        check_msm::<G>(&[G::Ark::zero()], &[s]);
    }
    // Random points and mixed scalars, with identities among the points.
    for n in [2, 5, 31, 64, 300] {
        let mut pts = points::<G>(n, &mut rng);
        for i in (0..n).step_by(7) {
            pts[i] = G::Ark::zero();
        }
        check_msm::<G>(&pts, &mixed_scalars(n, &mut rng));
        let all_full: Vec<Fr> = (0..n).map(|_| Fr::rand(&mut rng)).collect();
        check_msm::<G>(&pts, &all_full);
    }
}

#[test]
fn g1_hybrid_msm_equals_arkworks_on_edge_and_random_inputs() {
    check_msm_cases::<G1>();
}

#[test]
fn g2_hybrid_msm_equals_arkworks_on_edge_and_random_inputs() {
    check_msm_cases::<G2>();
}

/// Above e^9 points `msm_best` switches to its batch-affine bucket method (window >= 10 bits),
/// whose edge cases are a bucket meeting the same point (doubling) or its negation (P + -P).
fn check_large_msm<G: Group>()
where
    G::ArkGroup: UniformRand,
{
    const N: usize = 9_000;
    let mut rng = rng(5);
    let distinct = points::<G>(N, &mut rng);
    let scalars: Vec<Fr> = (0..N).map(|_| Fr::rand(&mut rng)).collect();
    check_msm::<G>(&distinct, &scalars);
    check_msm::<G>(&distinct, &mixed_scalars(N, &mut rng));

    let few = points::<G>(3, &mut rng);
    let repeated: Vec<G::Ark> = (0..N)
        .map(|i| match i % 4 {
            0 | 1 => few[0],
            2 => (-few[0].into_group()).into_affine(),
            _ => few[1 + i % 2],
        })
        .collect();
    let k = Fr::rand(&mut rng);
    let same: Vec<Fr> = (0..N).map(|i| if i % 5 == 4 { -k } else { k }).collect();
    check_msm::<G>(&repeated, &same);
}

#[test]
fn g1_large_hybrid_msm_equals_arkworks_including_doublings_and_cancellations() {
    check_large_msm::<G1>();
}

#[test]
fn g2_large_hybrid_msm_equals_arkworks_including_doublings_and_cancellations() {
    check_large_msm::<G2>();
}

#[test]
fn the_split_sorts_scalars_by_size() {
    let bigints: Vec<BigInt<4>> = edge_scalars().iter().map(|s| s.into_bigint()).collect();
    let split = Split::of(&bigints);
    // 0 is in neither; u64::MAX and -u64::MAX are small; 2^64, -2^64, 2^253, 1/5 are full.
    assert_eq!(split.full, vec![12, 14, 15, 16]);
    assert_eq!(split.small.len(), bigints.len() - 1 - split.full.len());
    assert!(!split.small.contains(&0));
    let tail = split.from(13);
    assert_eq!(tail.full, &[14, 15, 16]);
    assert_eq!(tail.small, &[13]);
}

/// A toy statement with every kind of scalar: `x^3 + x + 5 = y` (full-size), the 16 bits of
/// `k` (0/1), a small negative number, public inputs 0 and 1, and `x^2` only in C (so the A and
/// B queries hold the identity).
#[derive(Clone)]
struct Cubic {
    witness: Option<(Fr, u64)>,
}

impl Cubic {
    fn with(x: Fr, k: u64) -> Self {
        Self {
            witness: Some((x, k)),
        }
    }

    fn public_inputs(&self) -> Vec<Fr> {
        let (x, k) = self.witness.expect("a witnessed circuit");
        vec![
            x * x * x + x + Fr::from(5u64),
            Fr::zero(),
            Fr::one(),
            Fr::from(k),
        ]
    }
}

impl ConstraintSynthesizer<Fr> for Cubic {
    fn generate_constraints(self, cs: ConstraintSystemRef<Fr>) -> Result<(), SynthesisError> {
        let missing = || SynthesisError::AssignmentMissing;
        let inputs = self.witness.map(|_| self.public_inputs());
        let input = |i: usize| {
            FpVar::new_input(ns!(cs, "inputs"), || {
                inputs.as_ref().map(|v| v[i]).ok_or_else(missing)
            })
        };
        let (y, zero, one, k_public) = (input(0)?, input(1)?, input(2)?, input(3)?);
        let x = FpVar::new_witness(ns!(cs, "x"), || {
            self.witness.map(|w| w.0).ok_or_else(missing)
        })?;
        let k = FpVar::new_witness(ns!(cs, "k"), || {
            self.witness.map(|w| Fr::from(w.1)).ok_or_else(missing)
        })?;
        let minus_three = FpVar::new_witness(ns!(cs, "minus three"), || Ok(-Fr::from(3u64)))?;
        (x.square()? * &x + &x + Fr::from(5u64)).enforce_equal(&y)?;
        let _only_in_c = x.square()?;
        let (_bits, _) = k.to_bits_le_with_top_bits_zero(16)?;
        k.enforce_equal(&k_public)?;
        (minus_three + Fr::from(3u64)).enforce_equal(&zero)?;
        one.enforce_equal(&FpVar::one())?;
        Ok(())
    }
}

/// The matrices and full assignment of `circuit`, as `prove` synthesizes them.
fn synthesize<C: ConstraintSynthesizer<Fr>>(
    circuit: C,
) -> (Vec<Matrix<Fr>>, Vec<Fr>, usize, usize) {
    let cs = ConstraintSystem::<Fr>::new_ref();
    cs.set_optimization_goal(OptimizationGoal::Constraints);
    cs.set_mode(SynthesisMode::Prove {
        construct_matrices: true,
        generate_lc_assignments: false,
    });
    circuit.generate_constraints(cs.clone()).unwrap();
    cs.finalize();
    assert!(cs.is_satisfied().unwrap());
    let matrices = cs
        .to_matrices()
        .unwrap()
        .remove(R1CS_PREDICATE_LABEL)
        .unwrap();
    let inner = cs.borrow().unwrap();
    let full = [
        inner.instance_assignment().unwrap(),
        inner.witness_assignment().unwrap(),
    ]
    .concat();
    (
        matrices,
        full,
        cs.num_instance_variables(),
        cs.num_constraints(),
    )
}

/// Both backends prove `circuit`: the proofs equal ark-groth16's for the same `r`, `s`
/// (with `edges`, also for r = 0 and s = 0) and verify with its verifier; wrong public inputs
/// do not.
fn check_proofs<QAP: R1CSToQAP + RowWitnessMap, C: ConstraintSynthesizer<Fr>>(
    pk: &ProvingKey<Bn254>,
    circuit: C,
    seed: u64,
    edges: bool,
) {
    let (matrices, full, num_instance, num_constraints) = synthesize(circuit);
    let pvk = prepare_verifying_key(&pk.vk);
    let public = &full[1..num_instance];
    let mut rng = rng(seed);
    let randomness = [
        (Fr::rand(&mut rng), Fr::rand(&mut rng)),
        (Fr::zero(), Fr::rand(&mut rng)),
        (Fr::rand(&mut rng), Fr::zero()),
        (Fr::zero(), Fr::zero()),
    ];
    let randomness = if edges {
        &randomness[..]
    } else {
        &randomness[..1]
    };
    for backend in MsmBackend::ALL {
        let prepared = PreparedProvingKey::new(pk.clone(), backend).unwrap();
        assert_eq!(prepared.backend(), backend);
        assert_eq!(prepared.num_variables(), full.len());
        assert_eq!(prepared.num_instance(), num_instance);
        for &(r, s) in randomness {
            let stock = Groth16::<Bn254, QAP>::create_proof_with_reduction_and_matrices(
                pk,
                r,
                s,
                &matrices,
                num_instance,
                num_constraints,
                &full,
            )
            .unwrap();
            let (ours, timings) = create_proof_timed::<QAP>(
                &prepared,
                r,
                s,
                &matrices,
                num_instance,
                num_constraints,
                &full,
            )
            .unwrap();
            assert_eq!(
                ours, stock,
                "{backend}: not arkworks' proof for the same r, s"
            );
            // From the compact matrices' row values (what `prove` does): the same proof.
            let compact = ProverMatrices::from_r1cs(&matrices, full.len()).unwrap();
            let size = qap_domain_size(num_constraints, num_instance).unwrap();
            let rows = compact.evaluate(&full, size).unwrap();
            assert_eq!(rows.first_unsatisfied(), None);
            let from_rows = create_proof_from_rows::<QAP>(
                &prepared,
                r,
                s,
                rows,
                num_instance,
                num_constraints,
                &full,
            );
            match backend {
                MsmBackend::Stock => {
                    assert!(matches!(from_rows, Err(Groth16Error::MalformedKey(_))))
                }
                _ => assert_eq!(
                    from_rows.unwrap().0,
                    stock,
                    "{backend}: the proof from row values is not arkworks' for the same r, s"
                ),
            }
            assert!(timings.total.wall_ms >= timings.msm().wall_ms);
            assert!(Groth16::<Bn254>::verify_proof(&pvk, &ours, public).unwrap());
        }
        let mut wrong = public.to_vec();
        wrong[0] += Fr::one();
        // Matrices moved in (freed before the MSMs) give a proof as good.
        let proof = create_proof::<QAP>(
            &prepared,
            Fr::rand(&mut rng),
            Fr::rand(&mut rng),
            matrices.clone(),
            num_instance,
            num_constraints,
            &full,
        )
        .unwrap();
        assert!(Groth16::<Bn254>::verify_proof(&pvk, &proof, public).unwrap());
        assert!(!Groth16::<Bn254>::verify_proof(&pvk, &proof, &wrong).unwrap());
    }
}

#[test]
fn a_toy_circuit_proves_as_arkworks_does_with_every_backend() {
    let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
        Cubic { witness: None },
        &mut rng(6),
    )
    .unwrap();
    // The test covers the identity in the A and B queries (x^2 only in C).
    assert!(pk.a_query.iter().any(|p| p.is_zero()));
    assert!(pk.b_g2_query.iter().any(|p| p.is_zero()));
    let mut rng = rng(7);
    check_proofs::<LibsnarkReduction, _>(&pk, Cubic::with(Fr::rand(&mut rng), 0xbeef), 8, true);
    check_proofs::<LibsnarkReduction, _>(&pk, Cubic::with(-Fr::one(), 0), 9, true);
}

/// Keys of snarkjs' reduction (imported zkeys) have one more H point: the prover is generic.
#[test]
fn a_toy_circuit_with_the_circom_reduction_proves_as_arkworks_does() {
    use crate::ceremony::reduction::CircomReduction;
    let pk = Groth16::<Bn254, CircomReduction>::generate_random_parameters_with_reduction(
        Cubic { witness: None },
        &mut rng(17),
    )
    .unwrap();
    let mut rng = rng(18);
    check_proofs::<CircomReduction, _>(&pk, Cubic::with(Fr::rand(&mut rng), 77), 19, true);
}

#[test]
fn the_batch_circuit_proves_as_arkworks_does_with_every_backend() {
    let shape = BatchShape::new(2, 8, BatchShape::DEFAULT_PRICE_SLOTS).unwrap();
    let keys = crate::setup_development(&shape, &mut rng(10)).unwrap();
    let witness = crate::sample_batch_witness(&shape, 11).unwrap();
    let circuit = BatchCircuit::new(shape, &witness).unwrap();

    // `prove` from the matrices kept with the keys (witness-only synthesis) makes the stock
    // path's proof (full synthesis, ark-groth16's prover) for the same randomness.
    let stock = keys.clone().with_backend(MsmBackend::Stock).unwrap();
    let reference = crate::prove(&stock, circuit.clone(), &mut rng(30), &mut |_| {}).unwrap();
    assert!(
        stock.matrices.heap_bytes().is_none(),
        "the stock path keeps no matrices"
    );
    let kept = keys.clone();
    let bytes = kept.prepare_for_proving().unwrap();
    assert_eq!(kept.matrices.heap_bytes(), Some(bytes));
    for _ in 0..2 {
        let proof = crate::prove(&kept, circuit.clone(), &mut rng(30), &mut |_| {}).unwrap();
        assert_eq!(proof, reference);
    }
    // Without preparing, the first proof builds them.
    let lazy = keys.clone();
    let proof = crate::prove(&lazy, circuit.clone(), &mut rng(30), &mut |_| {}).unwrap();
    assert_eq!(proof, reference);
    assert_eq!(lazy.matrices.heap_bytes(), Some(bytes));

    let pk = keys.proving_key.into_proving_key();
    check_proofs::<LibsnarkReduction, _>(&pk, circuit, 12, false);
}

#[test]
fn a_wrong_assignment_or_key_is_an_error_not_a_panic() {
    let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
        Cubic { witness: None },
        &mut rng(13),
    )
    .unwrap();
    let (matrices, full, num_instance, num_constraints) = synthesize(Cubic::with(Fr::one(), 1));
    let prepared = PreparedProvingKey::new(pk.clone(), MsmBackend::Hybrid).unwrap();
    let prove = |full: &[Fr], num_instance| {
        create_proof::<LibsnarkReduction>(
            &prepared,
            Fr::one(),
            Fr::one(),
            &matrices,
            num_instance,
            num_constraints,
            full,
        )
    };
    assert!(matches!(
        prove(&full[..full.len() - 1], num_instance),
        Err(Groth16Error::Shape { .. })
    ));
    assert!(matches!(
        prove(&full, num_instance + 1),
        Err(Groth16Error::Shape { .. })
    ));
    assert!(matches!(prove(&full, 0), Err(Groth16Error::Shape { .. })));

    let mut short = pk.clone();
    short.b_g2_query.pop();
    assert!(matches!(
        PreparedProvingKey::new(short, MsmBackend::Hybrid),
        Err(Groth16Error::MalformedKey(_))
    ));
    let mut empty = pk;
    empty.a_query.clear();
    empty.b_g1_query.clear();
    empty.b_g2_query.clear();
    assert!(matches!(
        PreparedProvingKey::new(empty, MsmBackend::Arkworks),
        Err(Groth16Error::MalformedKey(_))
    ));
}

#[test]
fn the_hybrid_key_is_no_larger_than_the_arkworks_key() {
    let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
        Cubic { witness: None },
        &mut rng(14),
    )
    .unwrap();
    let ark = PreparedProvingKey::new(pk.clone(), MsmBackend::Arkworks).unwrap();
    let hybrid = PreparedProvingKey::new(pk, MsmBackend::Hybrid).unwrap();
    assert!(hybrid.points_bytes() > 0);
    assert!(hybrid.points_bytes() <= ark.points_bytes());
}

#[test]
fn backends_compare_interleaved_and_agree() {
    let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
        Cubic { witness: None },
        &mut rng(15),
    )
    .unwrap();
    let (matrices, full, num_instance, num_constraints) =
        synthesize(Cubic::with(Fr::from(9u64).inverse().unwrap(), 3));
    let ark = PreparedProvingKey::new(pk.clone(), MsmBackend::Arkworks).unwrap();
    let hybrid = PreparedProvingKey::new(pk, MsmBackend::Hybrid).unwrap();
    let report = compare_backends::<LibsnarkReduction, _>(
        &ark,
        &hybrid,
        &matrices,
        num_instance,
        num_constraints,
        &full,
        3,
        &mut rng(16),
    )
    .unwrap();
    assert_eq!(report.arkworks.runs.len(), 3);
    assert_eq!(report.hybrid.runs.len(), 3);
    assert_eq!(report.scalars.total, full.len() - 1);
    assert!(report.scalars.unit > 0 && report.scalars.full > 0 && report.scalars.small > 0);
    assert!(report.to_string().contains("MSM B (G2)"));
}

#[test]
fn backend_names_parse() {
    for backend in MsmBackend::ALL {
        assert_eq!(backend.name().parse::<MsmBackend>().unwrap(), backend);
    }
    assert!(matches!(
        "rapidsnark".parse::<MsmBackend>(),
        Err(Groth16Error::UnknownBackend(_))
    ));
}

/// The prepared key writes the key file's bytes and converts back to the same key, whatever
/// its layout (the toy key holds identity points, which both layouts write as arkworks does).
#[test]
fn a_prepared_key_serializes_and_converts_back_as_the_arkworks_key() {
    let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
        Cubic { witness: None },
        &mut rng(20),
    )
    .unwrap();
    assert!(pk.a_query.iter().any(|p| p.is_zero()));
    let mut expected = Vec::new();
    pk.serialize_with_mode(&mut expected, Compress::No).unwrap();
    for backend in MsmBackend::ALL {
        let prepared = PreparedProvingKey::new(pk.clone(), backend).unwrap();
        let mut written = Vec::new();
        prepared.serialize_uncompressed(&mut written).unwrap();
        assert_eq!(written, expected, "{backend}");
        for other in MsmBackend::ALL {
            let moved = prepared.clone().into_backend(other).unwrap();
            assert_eq!(moved.backend(), other);
            assert_eq!(moved, PreparedProvingKey::new(pk.clone(), other).unwrap());
        }
        assert!(prepared.into_proving_key() == pk, "{backend}");
    }
}

/// The floor's MSMs run with each backend's code on a real assignment, and a wrong assignment
/// is an error there too.
#[test]
fn msms_are_timed_with_each_backend() {
    let pk = Groth16::<Bn254>::generate_random_parameters_with_reduction(
        Cubic { witness: None },
        &mut rng(21),
    )
    .unwrap();
    let (_, full, num_instance, _) = synthesize(Cubic::with(Fr::from(3u64), 4));
    let mut rng = rng(22);
    for backend in MsmBackend::ALL {
        let prepared = PreparedProvingKey::new(pk.clone(), backend).unwrap();
        let h: Vec<Fr> = (0..prepared.h_query_len())
            .map(|_| Fr::rand(&mut rng))
            .collect();
        let t = time_msms(&prepared, h.clone(), &full, num_instance).unwrap();
        assert_eq!(t.total, t.scalars + t.msm(), "{backend}");
        assert_eq!(t.witness_map, StepTime::default());
        assert!(matches!(
            time_msms(&prepared, h, &full[1..], num_instance),
            Err(Groth16Error::Shape { .. })
        ));
    }
}

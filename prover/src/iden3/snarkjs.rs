//! Groth16 proofs in snarkjs' JSON (`snarkjs groth16 prove` / rapidsnark output), so a proof
//! made by either side can be checked by the other:
//!
//! ```json
//! { "pi_a": ["x", "y", "1"],
//!   "pi_b": [["x.c0", "x.c1"], ["y.c0", "y.c1"], ["1", "0"]],
//!   "pi_c": ["x", "y", "1"],
//!   "protocol": "groth16", "curve": "bn128" }
//! ```
//! Coordinates are canonical decimals of the base field; points are projective with z = 1
//! (affine), G2 coordinates `[c0, c1]` for `c0 + c1 * u` (ffjavascript's order; the Solidity
//! calldata order `[c1, c0]` is not used here). `public.json` is the array of public inputs as
//! decimal strings, in the statement's order (wires 1..=n of the `.r1cs`).

use ark_bn254::{Bn254, Fq, Fq2, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInteger, PrimeField, Zero};
use ark_groth16::Proof;
use gridproof_circuits::encoding::{field_to_decimal, parse_decimal_below, parse_field};
use num_bigint::BigUint;
use serde_json::{json, Value};

use super::Iden3Error;
use crate::Fr;

/// snarkjs' name of BN254 (`curve` in proof.json).
pub const SNARKJS_CURVE: &str = "bn128";
/// Other names snarkjs' `getCurveFromName` accepts for BN254.
const CURVE_ALIASES: [&str; 3] = ["bn128", "bn254", "alt_bn128"];

fn fq_decimal(x: &Fq) -> String {
    BigUint::from_bytes_le(&x.into_bigint().to_bytes_le()).to_string()
}

/// A proof as snarkjs' `proof.json`.
pub fn snarkjs_proof_json(proof: &Proof<Bn254>) -> Value {
    let g1 = |p: &G1Affine| match p.xy() {
        Some((x, y)) => json!([fq_decimal(&x), fq_decimal(&y), "1"]),
        // snarkjs' toObject of the identity.
        None => json!(["0", "1", "0"]),
    };
    let b = match proof.b.xy() {
        Some((x, y)) => json!([
            [fq_decimal(&x.c0), fq_decimal(&x.c1)],
            [fq_decimal(&y.c0), fq_decimal(&y.c1)],
            ["1", "0"]
        ]),
        None => json!([["0", "0"], ["1", "0"], ["0", "0"]]),
    };
    json!({
        "pi_a": g1(&proof.a),
        "pi_b": b,
        "pi_c": g1(&proof.c),
        "protocol": "groth16",
        "curve": SNARKJS_CURVE,
    })
}

/// Public inputs as snarkjs' `public.json`: an array of decimal strings.
pub fn snarkjs_public_json(public_inputs: &[Fr]) -> Value {
    Value::Array(
        public_inputs
            .iter()
            .map(|x| Value::String(field_to_decimal(x)))
            .collect(),
    )
}

fn bad(at: impl Into<String>, reason: impl Into<String>) -> Iden3Error {
    Iden3Error::JsonValue {
        at: at.into(),
        reason: reason.into(),
    }
}

fn parse_json(text: &str) -> Result<Value, Iden3Error> {
    serde_json::from_str(text).map_err(|e| Iden3Error::Json(e.to_string()))
}

fn string_at<'a>(v: &'a Value, at: &str) -> Result<&'a str, Iden3Error> {
    v.as_str()
        .ok_or_else(|| bad(at, "must be a decimal string"))
}

fn array_at<'a>(v: &'a Value, at: &str, len: usize) -> Result<&'a [Value], Iden3Error> {
    match v.as_array() {
        Some(a) if a.len() == len => Ok(a),
        _ => Err(bad(at, format!("must be an array of {len} elements"))),
    }
}

fn fq_at(v: &Value, at: &str) -> Result<Fq, Iden3Error> {
    let modulus: BigUint = Fq::MODULUS.into();
    parse_decimal_below(string_at(v, at)?, &modulus)
        .map(Fq::from)
        .map_err(|e| {
            bad(
                at,
                format!("{e} (a coordinate must be below the base field modulus q)"),
            )
        })
}

/// The z coordinate: snarkjs writes affine points as projective with z = 1.
fn require_z(v: &Value, at: &str, expected: &[&str]) -> Result<(), Iden3Error> {
    let found: Vec<&str> = if expected.len() == 1 {
        vec![string_at(v, at)?]
    } else {
        array_at(v, at, expected.len())?
            .iter()
            .enumerate()
            .map(|(i, c)| string_at(c, &format!("{at}[{i}]")))
            .collect::<Result<_, _>>()?
    };
    if found != expected {
        let want = if expected.len() == 1 {
            format!("\"{}\"", expected[0])
        } else {
            format!("{expected:?}")
        };
        return Err(bad(
            at,
            format!(
                "z must be {want}: snarkjs writes affine points (found {found:?}; z = 0 is the \
                 point at infinity, never a valid proof element)"
            ),
        ));
    }
    Ok(())
}

fn checked<P: ark_ec::short_weierstrass::SWCurveConfig>(
    p: ark_ec::short_weierstrass::Affine<P>,
    at: &str,
) -> Result<ark_ec::short_weierstrass::Affine<P>, Iden3Error> {
    if !p.is_on_curve() {
        return Err(bad(at, "is not a point on the curve"));
    }
    if !p.is_in_correct_subgroup_assuming_on_curve() {
        return Err(bad(at, "is not in the prime-order subgroup"));
    }
    Ok(p)
}

fn g1_at(v: &Value, at: &str) -> Result<G1Affine, Iden3Error> {
    let c = array_at(v, at, 3)?;
    require_z(&c[2], &format!("{at}[2]"), &["1"])?;
    let x = fq_at(&c[0], &format!("{at}[0]"))?;
    let y = fq_at(&c[1], &format!("{at}[1]"))?;
    checked(G1Affine::new_unchecked(x, y), at)
}

fn g2_at(v: &Value, at: &str) -> Result<G2Affine, Iden3Error> {
    let c = array_at(v, at, 3)?;
    require_z(&c[2], &format!("{at}[2]"), &["1", "0"])?;
    let mut coordinates = [Fq2::zero(); 2];
    for (i, coordinate) in coordinates.iter_mut().enumerate() {
        let pair_at = format!("{at}[{i}]");
        let pair = array_at(&c[i], &pair_at, 2)?;
        *coordinate = Fq2::new(
            fq_at(&pair[0], &format!("{pair_at}[0]"))?,
            fq_at(&pair[1], &format!("{pair_at}[1]"))?,
        );
    }
    checked(G2Affine::new_unchecked(coordinates[0], coordinates[1]), at)
}

/// Parses snarkjs' `proof.json` of a Groth16 proof on BN254: `protocol` must be "groth16",
/// `curve` (optional: rapidsnark omits it) a name of BN254, points affine (z = 1), on the curve
/// and in the prime-order subgroup; any other field is refused.
pub fn parse_snarkjs_proof(text: &str) -> Result<Proof<Bn254>, Iden3Error> {
    let doc = parse_json(text)?;
    let map = doc
        .as_object()
        .ok_or_else(|| bad("the file", "must be a JSON object"))?;
    const FIELDS: [&str; 5] = ["pi_a", "pi_b", "pi_c", "protocol", "curve"];
    if let Some(unknown) = map.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(bad(
            unknown.as_str(),
            "is not a field of a snarkjs Groth16 proof",
        ));
    }
    let get = |name: &str| map.get(name).ok_or_else(|| bad(name, "is missing"));
    let protocol = string_at(get("protocol")?, "protocol")?;
    if protocol != "groth16" {
        return Err(bad(
            "protocol",
            format!("is {protocol:?}; only \"groth16\" proofs can be checked"),
        ));
    }
    if let Some(curve) = map.get("curve") {
        let curve = string_at(curve, "curve")?;
        if !CURVE_ALIASES.contains(&curve) {
            return Err(bad(
                "curve",
                format!("is {curve:?}; gridproof's proofs are on BN254 (\"bn128\")"),
            ));
        }
    }
    Ok(Proof {
        a: g1_at(get("pi_a")?, "pi_a")?,
        b: g2_at(get("pi_b")?, "pi_b")?,
        c: g1_at(get("pi_c")?, "pi_c")?,
    })
}

/// Parses snarkjs' `public.json`: an array of canonical decimal strings below r (snarkjs'
/// verifier refuses larger values too).
pub fn parse_snarkjs_public(text: &str) -> Result<Vec<Fr>, Iden3Error> {
    let doc = parse_json(text)?;
    let values = doc
        .as_array()
        .ok_or_else(|| bad("the file", "must be a JSON array of decimal strings"))?;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let at = format!("[{i}]");
            parse_field(string_at(v, &at)?).map_err(|e| bad(at, e.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_ec::CurveGroup;
    use ark_std::UniformRand;

    fn sample_proof() -> Proof<Bn254> {
        let mut rng = ark_std::test_rng();
        Proof {
            a: ark_bn254::G1Projective::rand(&mut rng).into_affine(),
            b: ark_bn254::G2Projective::rand(&mut rng).into_affine(),
            c: ark_bn254::G1Projective::rand(&mut rng).into_affine(),
        }
    }

    #[test]
    fn proofs_and_inputs_round_trip_in_snarkjs_form() {
        let proof = sample_proof();
        let json = snarkjs_proof_json(&proof);
        assert_eq!(json["protocol"], "groth16");
        assert_eq!(json["curve"], "bn128");
        assert_eq!(json["pi_a"][2], "1");
        assert_eq!(json["pi_b"][2], json!(["1", "0"]));
        let (bx, _) = proof.b.xy().unwrap();
        assert_eq!(json["pi_b"][0][0], fq_decimal(&bx.c0));
        assert_eq!(json["pi_b"][0][1], fq_decimal(&bx.c1));
        assert_eq!(parse_snarkjs_proof(&json.to_string()).unwrap(), proof);

        let inputs = vec![Fr::from(20300u64), -Fr::from(1u64), Fr::from(0u64)];
        let public = snarkjs_public_json(&inputs);
        assert_eq!(public[0], "20300");
        assert_eq!(parse_snarkjs_public(&public.to_string()).unwrap(), inputs);
    }

    #[test]
    fn malformed_snarkjs_json_is_refused_with_its_path() {
        let good = snarkjs_proof_json(&sample_proof());
        let refuse = |edit: &dyn Fn(&mut Value), needle: &str| {
            let mut v = good.clone();
            edit(&mut v);
            let e = parse_snarkjs_proof(&v.to_string()).unwrap_err();
            assert!(e.to_string().contains(needle), "{needle:?} not in {e}");
        };
        refuse(&|v| v["protocol"] = json!("plonk"), "protocol");
        refuse(&|v| v["curve"] = json!("bls12381"), "curve");
        refuse(&|v| v["extra"] = json!(1), "extra");
        refuse(&|v| v["pi_a"][2] = json!("0"), "pi_a[2]");
        refuse(&|v| v["pi_b"][2] = json!(["1", "1"]), "pi_b[2]");
        refuse(
            &|v| v["pi_a"][0] = json!("1"),
            "pi_a: is not a point on the curve",
        );
        refuse(
            &|v| v["pi_c"][1] = json!(7),
            "pi_c[1]: must be a decimal string",
        );
        refuse(&|v| v["pi_b"][1][1] = json!("01"), "pi_b[1][1]");
        refuse(
            &|v| {
                v["pi_b"][0][0] = json!(
                    "21888242871839275222246405745257275088696311157297823662689037894645226208583"
                )
            },
            "below the base field modulus",
        );
        refuse(
            &|v| v.as_object_mut().unwrap().retain(|k, _| k != "pi_c"),
            "pi_c: is missing",
        );
        refuse(&|v| v["pi_a"] = json!(["1", "2"]), "array of 3");
        // rapidsnark writes no curve: accepted.
        let mut no_curve = good.clone();
        no_curve.as_object_mut().unwrap().remove("curve");
        assert!(parse_snarkjs_proof(&no_curve.to_string()).is_ok());
        assert!(matches!(parse_snarkjs_proof("{"), Err(Iden3Error::Json(_))));

        for (text, needle) in [
            ("{}", "array"),
            ("[1]", "[0]: must be a decimal string"),
            (
                "[\"21888242871839275222246405745257275088548364400416034343698204186575808495617\"]",
                "[0]",
            ),
            ("[\"-1\"]", "[0]"),
        ] {
            let e = parse_snarkjs_public(text).unwrap_err();
            assert!(e.to_string().contains(needle), "{needle:?} not in {e}");
        }
    }
}

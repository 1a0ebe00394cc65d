//! The Solidity Groth16 verifier of a verifying key (`gridproof export-verifier`), rendered from
//! the template `prover/templates/Groth16Verifier.sol.tmpl` kept in the repository, and the
//! EIP-197 word layout of a proof that the generated contract takes as calldata.
//!
//! The output is deterministic: the same key and description give the same bytes, so a deployed
//! verifier can be re-generated and compared. The generated contract returns `false` (never
//! reverts, never accepts) on a public input >= r, a coordinate >= q, a point off its curve or a
//! proof that does not verify; see the template for the pairing equation.

use ark_bn254::{Bn254, Fq, G1Affine, G2Affine};
use ark_ec::AffineRepr;
use ark_ff::{BigInteger, PrimeField};
use ark_groth16::{Proof, VerifyingKey};
use ark_serialize::CanonicalSerialize;
use sha2::{Digest, Sha256};

use crate::{BatchShape, Provenance};

/// The one-line description `gridproof export-verifier` puts in the contract's NatSpec: the batch
/// shape and the key's provenance (so a deployed verifier says whether it is a development key).
pub fn describe_key(shape: &BatchShape, provenance: &Provenance) -> String {
    let provenance = match provenance {
        Provenance::Development => {
            "development keys (single-party setup: whoever ran it can forge proofs)".to_string()
        }
        // Contributor names are free text: the description names the zkey by its hash only.
        Provenance::Ceremony {
            zkey_sha256,
            contributions,
            ..
        } => format!(
            "keys of a snarkjs phase-2 ceremony ({} contributions, zkey sha256 {zkey_sha256})",
            contributions.len()
        ),
        #[allow(unreachable_patterns)]
        other => format!("{other:?} keys"),
    };
    format!(
        "Batch shape: S = {} sites, T = {} readings per site, P = {} price slots, registry depth {}; {}.",
        shape.sites, shape.readings_per_site, shape.price_slots, shape.registry_depth, provenance
    )
}

/// The template, compiled into the binary so the generator needs no file at run time.
pub const VERIFIER_TEMPLATE: &str = include_str!("../templates/Groth16Verifier.sol.tmpl");

/// Why a verifier could not be generated from a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SolidityError {
    /// A point of the key is the point at infinity: such a key is broken (and
    /// `load_verifying_key` refuses it); the generator refuses it too rather than emit zeros.
    #[error("verifying key point {0} is the point at infinity")]
    PointAtInfinity(String),
    /// The key has no public inputs (gamma_abc_g1 must hold at least two points).
    #[error("the verifying key has no public inputs")]
    NoPublicInputs,
    /// The description would break out of its NatSpec comment line.
    #[error("the description must be one line without `*/`")]
    BadDescription,
    /// The template lacks a placeholder or keeps an unknown one (a broken template).
    #[error("template placeholder {0} is missing or unknown")]
    Template(String),
}

/// A base field element as a 0x-prefixed, 64-digit lower-case hex Solidity literal.
fn fq_hex(x: &Fq) -> String {
    format!("0x{}", hex::encode(x.into_bigint().to_bytes_be()))
}

fn g1_xy(p: &G1Affine, name: &str) -> Result<(Fq, Fq), SolidityError> {
    p.xy()
        .ok_or_else(|| SolidityError::PointAtInfinity(name.to_string()))
}

/// The EIP-197 words of a G2 point: x.c1, x.c0, y.c1, y.c0.
fn g2_words(p: &G2Affine, name: &str) -> Result<[Fq; 4], SolidityError> {
    let (x, y) = p
        .xy()
        .ok_or_else(|| SolidityError::PointAtInfinity(name.to_string()))?;
    Ok([x.c1, x.c0, y.c1, y.c0])
}

/// SHA-256 of the key's ark-serialize compressed encoding, as a `bytes32` literal.
fn vk_sha256(vk: &VerifyingKey<Bn254>) -> String {
    let mut bytes = Vec::new();
    vk.serialize_compressed(&mut bytes)
        .expect("serializing into a Vec cannot fail");
    format!("0x{}", hex::encode(Sha256::digest(&bytes)))
}

/// Renders the Solidity source of contract `Groth16Verifier` for `vk`.
///
/// `description` is one line shown in the contract's NatSpec (for example the batch shape and
/// the key's provenance). The result depends only on its two arguments.
pub fn render_verifier(
    vk: &VerifyingKey<Bn254>,
    description: &str,
) -> Result<String, SolidityError> {
    if description.contains('\n') || description.contains('\r') || description.contains("*/") {
        return Err(SolidityError::BadDescription);
    }
    let n = vk
        .gamma_abc_g1
        .len()
        .checked_sub(1)
        .filter(|&n| n > 0)
        .ok_or(SolidityError::NoPublicInputs)?;

    let (alpha_x, alpha_y) = g1_xy(&vk.alpha_g1, "alpha_g1")?;
    let beta = g2_words(&-vk.beta_g2, "beta_g2")?;
    let gamma = g2_words(&-vk.gamma_g2, "gamma_g2")?;
    let delta = g2_words(&-vk.delta_g2, "delta_g2")?;

    let mut ic_constants = String::new();
    for (i, point) in vk.gamma_abc_g1.iter().enumerate() {
        let (x, y) = g1_xy(point, &format!("gamma_abc_g1[{i}]"))?;
        ic_constants.push_str(&format!(
            "    uint256 internal constant IC{i}_X = {};\n    uint256 internal constant IC{i}_Y = {};\n",
            fq_hex(&x),
            fq_hex(&y)
        ));
    }
    let ic_constants = ic_constants.trim_end().to_string();

    let mut msm = String::from("            let s := 0\n");
    for i in 0..n {
        let k = i + 1;
        msm.push_str(&format!(
            "            // public input {i}\n            \
             s := calldataload(add(publicInputs, {offset:#x}))\n            \
             ok := and(ok, lt(s, R))\n            \
             mstore(g, IC{k}_X)\n            \
             mstore(add(g, 0x20), IC{k}_Y)\n            \
             mstore(add(g, 0x40), s)\n            \
             ok := and(ok, staticcall(gas(), EC_MUL, g, 0x60, g, 0x40))\n            \
             ok := and(ok, staticcall(gas(), EC_ADD, m, 0x80, m, 0x40))\n",
            offset = i * 32
        ));
    }
    let msm = msm.trim_end().to_string();

    let values: Vec<(&str, String)> = vec![
        ("DESCRIPTION", description.to_string()),
        ("NUM_PUBLIC_INPUTS", n.to_string()),
        ("VERIFYING_KEY_SHA256", vk_sha256(vk)),
        ("ALPHA_X", fq_hex(&alpha_x)),
        ("ALPHA_Y", fq_hex(&alpha_y)),
        ("BETA_NEG_X1", fq_hex(&beta[0])),
        ("BETA_NEG_X0", fq_hex(&beta[1])),
        ("BETA_NEG_Y1", fq_hex(&beta[2])),
        ("BETA_NEG_Y0", fq_hex(&beta[3])),
        ("GAMMA_NEG_X1", fq_hex(&gamma[0])),
        ("GAMMA_NEG_X0", fq_hex(&gamma[1])),
        ("GAMMA_NEG_Y1", fq_hex(&gamma[2])),
        ("GAMMA_NEG_Y0", fq_hex(&gamma[3])),
        ("DELTA_NEG_X1", fq_hex(&delta[0])),
        ("DELTA_NEG_X0", fq_hex(&delta[1])),
        ("DELTA_NEG_Y1", fq_hex(&delta[2])),
        ("DELTA_NEG_Y0", fq_hex(&delta[3])),
        ("IC_CONSTANTS", ic_constants),
        ("MSM_STEPS", msm),
    ];
    fill_template(VERIFIER_TEMPLATE, &values)
}

/// Replaces each `{{NAME}}` of `template` by its value; every name must be used and no
/// placeholder may remain.
fn fill_template(template: &str, values: &[(&str, String)]) -> Result<String, SolidityError> {
    let mut out = template.to_string();
    for (name, value) in values {
        let placeholder = format!("{{{{{name}}}}}");
        if !out.contains(&placeholder) {
            return Err(SolidityError::Template((*name).to_string()));
        }
        out = out.replace(&placeholder, value);
    }
    if let Some(start) = out.find("{{") {
        let rest = &out[start..];
        let end = rest.find("}}").map_or(rest.len(), |e| e + 2);
        return Err(SolidityError::Template(rest[..end].to_string()));
    }
    Ok(out)
}

/// The proof as the generated verifier's `uint256[8] proof` argument, big-endian 32-byte words:
/// `[A.x, A.y, B.x.c1, B.x.c0, B.y.c1, B.y.c0, C.x, C.y]` (EIP-197 order; note that the proofs
/// file's `b` is in snarkjs order `[[x.c0, x.c1], [y.c0, y.c1]]`). The point at infinity is
/// encoded as zeros, as EIP-197 does.
pub fn proof_words(proof: &Proof<Bn254>) -> [[u8; 32]; 8] {
    let word = |x: &Fq| -> [u8; 32] {
        let bytes = x.into_bigint().to_bytes_be();
        let mut w = [0u8; 32];
        w[32 - bytes.len()..].copy_from_slice(&bytes);
        w
    };
    let (ax, ay) = proof.a.xy().unwrap_or_default();
    let (bx, by) = proof.b.xy().unwrap_or_default();
    let (cx, cy) = proof.c.xy().unwrap_or_default();
    [
        word(&ax),
        word(&ay),
        word(&bx.c1),
        word(&bx.c0),
        word(&by.c1),
        word(&by.c0),
        word(&cx),
        word(&cy),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_template_refuses_missing_and_leftover_placeholders() {
        assert_eq!(
            fill_template("a {{X}} b", &[("X", "1".into())]).as_deref(),
            Ok("a 1 b")
        );
        assert!(matches!(
            fill_template("a {{X}} {{Y}}", &[("X", "1".into())]),
            Err(SolidityError::Template(name)) if name == "{{Y}}"
        ));
        assert!(matches!(
            fill_template("a", &[("X", "1".into())]),
            Err(SolidityError::Template(name)) if name == "X"
        ));
    }

    #[test]
    fn the_template_has_every_placeholder_once_filled() {
        for name in [
            "DESCRIPTION",
            "IC_CONSTANTS",
            "MSM_STEPS",
            "ALPHA_X",
            "DELTA_NEG_Y0",
        ] {
            assert!(
                VERIFIER_TEMPLATE.contains(&format!("{{{{{name}}}}}")),
                "{name}"
            );
        }
    }
}

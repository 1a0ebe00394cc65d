//! Meter message v1 (DESIGN.md, normative): the field element a meter signs for one epoch of
//! readings. Native side; the specification that [`constraints`] mirrors.
//!
//! ```text
//! chunk  : c_k = sum_{j=0..6} r[7k+j] * 2^(32 j)     for k in 0..ceil(T/7)   (missing readings 0)
//! h      : h = Poseidon(DOMAIN, site_id, epoch, interval_seconds, T)
//!          for i in 0..ceil(#chunks/4): h = Poseidon(h, c_4i, c_4i+1, c_4i+2, c_4i+3) (missing 0)
//! message: h
//! ```
//! Readings are u32, so a chunk packs 7 of them injectively in 224 bits (< 254). T is part of the
//! first hash, so trailing zero readings cannot be added or dropped.

pub mod constraints;

use crate::{encoding::field_from_be_bytes, poseidon, Fr};

/// ASCII of the domain separator, read as a big-endian integer by [`domain`].
pub const DOMAIN_TAG: &[u8] = b"gridproof/meter/v1";

/// Readings packed into one chunk (7 x 32 bits = 224 bits, below the 254-bit field).
pub const READINGS_PER_CHUNK: usize = 7;

/// Chunks absorbed by one chain hash (Poseidon of 5: the previous h and 4 chunks).
pub const CHUNKS_PER_HASH: usize = 4;

/// "gridproof/meter/v1" as a big-endian integer: the domain separator of meter message v1.
pub fn domain() -> Fr {
    field_from_be_bytes(DOMAIN_TAG)
}

/// `2^(32 j)` for j < 7: the weight of the j-th reading of a chunk.
pub(crate) fn reading_weights() -> [Fr; READINGS_PER_CHUNK] {
    let mut w = [Fr::from(1u64); READINGS_PER_CHUNK];
    for j in 1..READINGS_PER_CHUNK {
        w[j] = w[j - 1] * Fr::from(1u64 << 32);
    }
    w
}

/// One epoch of a site's readings, as the meter signs them. Public to no one: the readings and
/// the site are private witnesses of the batch proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterMessage {
    /// The site's registry identifier.
    pub site_id: u64,
    /// The epoch number the readings belong to.
    pub epoch: u64,
    /// Length of one reading interval in seconds (e.g. 3600 or 900).
    pub interval_seconds: u32,
    /// Energy per interval in Wh, T readings in time order.
    pub readings_wh: Vec<u32>,
}

impl MeterMessage {
    /// The packed readings `c_k = sum_{j<7} r[7k+j] * 2^(32 j)` for `k < ceil(T/7)`.
    pub fn chunks(&self) -> Vec<Fr> {
        let w = reading_weights();
        self.readings_wh
            .chunks(READINGS_PER_CHUNK)
            .map(|rs| {
                rs.iter()
                    .zip(&w)
                    .fold(Fr::from(0u64), |acc, (r, w)| acc + Fr::from(*r) * w)
            })
            .collect()
    }

    /// Every intermediate h of the hash chain, first `Poseidon(DOMAIN, site_id, epoch,
    /// interval_seconds, T)` and then one per group of 4 chunks (the vectors' "chain"); never
    /// empty, and its last element is the message.
    pub fn hash_chain(&self) -> Vec<Fr> {
        let t = u64::try_from(self.readings_wh.len()).expect("a Vec length fits in u64");
        let mut h = hash5([
            domain(),
            Fr::from(self.site_id),
            Fr::from(self.epoch),
            Fr::from(self.interval_seconds),
            Fr::from(t),
        ]);
        let chunks = self.chunks();
        let mut chain = Vec::with_capacity(1 + chunks.len().div_ceil(CHUNKS_PER_HASH));
        chain.push(h);
        for group in chunks.chunks(CHUNKS_PER_HASH) {
            let mut inputs = [Fr::from(0u64); 1 + CHUNKS_PER_HASH];
            inputs[0] = h;
            inputs[1..=group.len()].copy_from_slice(group);
            h = hash5(inputs);
            chain.push(h);
        }
        chain
    }

    /// The message the meter signs (EdDSA-Poseidon over this one field element).
    pub fn hash(&self) -> Fr {
        *self
            .hash_chain()
            .last()
            .expect("the chain always holds the first hash")
    }
}

fn hash5(inputs: [Fr; 5]) -> Fr {
    poseidon::hash(&inputs).expect("5 inputs is a valid Poseidon arity")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding::parse_field;

    #[test]
    fn domain_is_the_ascii_tag() {
        assert_eq!(
            domain(),
            parse_field("9011497731250232032731529736352141130298929").unwrap()
        );
    }

    #[test]
    fn chunks_pack_seven_readings_little_endian() {
        let m = MeterMessage {
            site_id: 1,
            epoch: 2,
            interval_seconds: 3600,
            readings_wh: (1..=9).collect(),
        };
        let c = m.chunks();
        assert_eq!(c.len(), 2);
        let two32 = Fr::from(1u64 << 32);
        let mut want = Fr::from(0u64);
        for r in (1..=7u64).rev() {
            want = want * two32 + Fr::from(r);
        }
        assert_eq!(c[0], want);
        assert_eq!(c[1], Fr::from(8u64) + Fr::from(9u64) * two32);
        // Max readings stay below 2^224, so no wrap-around.
        let max = MeterMessage {
            readings_wh: vec![u32::MAX; 7],
            ..m.clone()
        };
        let expect = parse_field(
            "26959946667150639794667015087019630673637144422540572481103610249215", // 2^224 - 1
        )
        .unwrap();
        assert_eq!(max.chunks(), vec![expect]);
    }

    #[test]
    fn chain_length_and_zero_padding() {
        let base = MeterMessage {
            site_id: 7,
            epoch: 20300,
            interval_seconds: 900,
            readings_wh: vec![],
        };
        assert_eq!(base.hash_chain().len(), 1);
        for (t, links) in [(1, 2), (28, 2), (29, 3), (96, 5)] {
            let m = MeterMessage {
                readings_wh: vec![5; t],
                ..base.clone()
            };
            assert_eq!(m.chunks().len(), t.div_ceil(7));
            assert_eq!(m.hash_chain().len(), links, "T = {t}");
        }
        // A trailing zero reading changes T and therefore the message.
        let a = MeterMessage {
            readings_wh: vec![5; 6],
            ..base.clone()
        };
        let b = MeterMessage {
            readings_wh: vec![5, 5, 5, 5, 5, 5, 0],
            ..base.clone()
        };
        assert_eq!(a.chunks(), b.chunks());
        assert_ne!(a.hash(), b.hash());
    }

    #[test]
    fn every_field_changes_the_message() {
        let m = MeterMessage {
            site_id: 101,
            epoch: 20300,
            interval_seconds: 3600,
            readings_wh: (0..24).map(|i| i * 1000).collect(),
        };
        let h = m.hash();
        let mut variants = vec![
            MeterMessage {
                site_id: 102,
                ..m.clone()
            },
            MeterMessage {
                epoch: 20301,
                ..m.clone()
            },
            MeterMessage {
                interval_seconds: 900,
                ..m.clone()
            },
        ];
        for i in [0, 6, 7, 23] {
            let mut v = m.clone();
            v.readings_wh[i] += 1;
            variants.push(v);
        }
        for v in variants {
            assert_ne!(v.hash(), h, "{v:?}");
        }
    }
}

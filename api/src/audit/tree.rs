//! RFC 6962 Merkle trees over SHA-256, without I/O: leaf and node hashes (§2.1), the Merkle Tree
//! Hash, audit paths `PATH(m, D[n])` (§2.1.1) and consistency proofs `PROOF(m, D[n])` (§2.1.2),
//! and their verifiers as RFC 9162 §2.1.3.2 and §2.1.4.2 give them.
//!
//! Proofs are produced as *plans*: the leaf ranges whose Merkle Tree Hashes make up the proof, in
//! the RFC's order. Every such range starts on a multiple of a power of two at least as large as
//! the range, so its hash folds from a handful of complete subtrees ([`Subtree`]); a store that
//! keeps the hash of every complete subtree answers any proof with O(log n) lookups
//! ([`resolve`]). Complete subtrees never change once their last leaf is appended, which is what
//! makes them safe to store.

use sha2::{Digest, Sha256};

/// A SHA-256 output: leaf hashes, node hashes, roots.
pub type Hash = [u8; 32];

/// Why a proof could not be made (the sizes or the index are out of range).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeError {
    /// The index is not below the tree size.
    #[error("index {index} is not in a tree of {tree_size} entries")]
    IndexOutOfRange {
        /// The leaf asked for.
        index: u64,
        /// The tree's size.
        tree_size: u64,
    },
    /// A consistency proof needs 0 < old size <= new size.
    #[error("no consistency proof from size {old_size} to size {new_size} (needs 0 < old <= new)")]
    BadSizes {
        /// The older tree's size.
        old_size: u64,
        /// The newer tree's size.
        new_size: u64,
    },
    /// A subtree hash needed for the proof is not available (the store lacks a node).
    #[error("the hash of subtree level {} index {} is missing", .0.level, .0.index)]
    MissingNode(Subtree),
}

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The index is not below the tree size.
    #[error("index {index} is not in a tree of {tree_size} entries")]
    IndexOutOfRange {
        /// The leaf.
        index: u64,
        /// The tree's size.
        tree_size: u64,
    },
    /// The old size is zero or larger than the new one.
    #[error("sizes {old_size} -> {new_size}: a log never shrinks and an empty log proves nothing")]
    BadSizes {
        /// The older tree's size.
        old_size: u64,
        /// The newer tree's size.
        new_size: u64,
    },
    /// The proof has more or fewer hashes than the sizes call for.
    #[error("the proof has the wrong number of hashes ({got})")]
    WrongLength {
        /// Hashes in the proof.
        got: usize,
    },
    /// The proof leads to another root than the one given.
    #[error(
        "the proof leads to another root: the entry is not in the tree, or the log was rewritten"
    )]
    RootMismatch,
    /// The consistency proof does not lead to the old root.
    #[error(
        "the proof does not lead to the old root: the old tree is not a prefix of the new one"
    )]
    OldRootMismatch,
}

/// The hash of a leaf: `SHA-256(0x00 || entry)` (RFC 6962 §2.1).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(entry);
    h.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)` (RFC 6962 §2.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The Merkle Tree Hash of the empty list: `SHA-256()`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A complete subtree: the `2^level` leaves from `index * 2^level`. Its hash is final once its
/// last leaf exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subtree {
    /// log2 of its number of leaves (0: a single leaf).
    pub level: u32,
    /// Its position among the subtrees of its level.
    pub index: u64,
}

impl Subtree {
    /// Its first leaf.
    pub fn start(self) -> u64 {
        self.index << self.level
    }

    /// One past its last leaf.
    pub fn end(self) -> u64 {
        (self.index + 1) << self.level
    }
}

/// The leaves `start..end` of a tree, whose Merkle Tree Hash is one element of a proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafRange {
    /// First leaf.
    pub start: u64,
    /// One past the last leaf.
    pub end: u64,
}

/// The largest power of two smaller than `n` (`n >= 2`): RFC 6962's split point `k`.
fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The complete subtrees whose hashes fold into the Merkle Tree Hash of `range`, left to right:
/// the binary decomposition of its length, largest first. Valid for the ranges of
/// [`inclusion_ranges`] and [`consistency_ranges`] and for `0..n` (their starts are multiples of
/// every block size that follows).
pub fn subtrees_of(range: LeafRange) -> Vec<Subtree> {
    let mut out = Vec::new();
    let mut start = range.start;
    let mut left = range.end.saturating_sub(range.start);
    while left > 0 {
        let level = 63 - left.leading_zeros();
        out.push(Subtree {
            level,
            index: start >> level,
        });
        start += 1 << level;
        left -= 1 << level;
    }
    out
}

/// The Merkle Tree Hash of a range from its complete subtrees' hashes (left to right, as
/// [`subtrees_of`] lists them): `node(s1, node(s2, ... node(s_k-1, s_k)))`. `None` if empty.
pub fn fold_subtrees(hashes: &[Hash]) -> Option<Hash> {
    let (last, rest) = hashes.split_last()?;
    Some(rest.iter().rev().fold(*last, |acc, h| node_hash(h, &acc)))
}

/// The complete subtrees that appending leaf `index` completes, smallest first: the leaf itself
/// (level 0), then one parent per trailing one bit of `index`. Each parent is
/// `node(left, previous)` where `left` is the [`left_child`] of the parent (a subtree completed
/// earlier) and `previous` the element before it in this list.
pub fn completed_by_append(index: u64) -> Vec<Subtree> {
    (0..=index.trailing_ones())
        .map(|level| Subtree {
            level,
            index: index >> level,
        })
        .collect()
}

/// The left child of a complete subtree of level >= 1 (its right child is `left + 1`).
pub fn left_child(s: Subtree) -> Subtree {
    Subtree {
        level: s.level - 1,
        index: s.index << 1,
    }
}

/// The ranges of the audit path `PATH(index, D[tree_size])` (RFC 6962 §2.1.1), in the RFC's
/// order: the leaf's sibling first, the root's other child last.
pub fn inclusion_ranges(index: u64, tree_size: u64) -> Result<Vec<LeafRange>, TreeError> {
    if index >= tree_size {
        return Err(TreeError::IndexOutOfRange { index, tree_size });
    }
    // Walk down from the root, then reverse: PATH(m, D[n]) = PATH(m', D[sub]) : MTH(other side).
    let mut out = Vec::new();
    let (mut start, mut end) = (0u64, tree_size);
    while end - start > 1 {
        let k = split(end - start);
        let mid = start + k;
        if index < mid {
            out.push(LeafRange { start: mid, end });
            end = mid;
        } else {
            out.push(LeafRange { start, end: mid });
            start = mid;
        }
    }
    out.reverse();
    Ok(out)
}

/// The ranges of the consistency proof `PROOF(old_size, D[new_size])` (RFC 6962 §2.1.2), in the
/// RFC's order. Empty when the sizes are equal.
pub fn consistency_ranges(old_size: u64, new_size: u64) -> Result<Vec<LeafRange>, TreeError> {
    if old_size == 0 || old_size > new_size {
        return Err(TreeError::BadSizes { old_size, new_size });
    }
    // SUBPROOF(m, D[start..end], b), appending after the recursive part.
    fn subproof(m: u64, start: u64, end: u64, complete: bool, out: &mut Vec<LeafRange>) {
        let n = end - start;
        if m == n {
            if !complete {
                out.push(LeafRange { start, end });
            }
            return;
        }
        let k = split(n);
        if m <= k {
            subproof(m, start, start + k, complete, out);
            out.push(LeafRange {
                start: start + k,
                end,
            });
        } else {
            subproof(m - k, start + k, end, false, out);
            out.push(LeafRange {
                start,
                end: start + k,
            });
        }
    }
    let mut out = Vec::new();
    subproof(old_size, 0, new_size, true, &mut out);
    Ok(out)
}

/// Every complete subtree that the hashes of `ranges` need, sorted and without repeats (what a
/// store reads in one query).
pub fn subtrees_needed(ranges: &[LeafRange]) -> Vec<Subtree> {
    let mut all: Vec<Subtree> = ranges.iter().flat_map(|r| subtrees_of(*r)).collect();
    all.sort_unstable();
    all.dedup();
    all
}

/// The Merkle Tree Hash of each range, from the hashes of complete subtrees given by `lookup`.
pub fn resolve(
    ranges: &[LeafRange],
    mut lookup: impl FnMut(Subtree) -> Option<Hash>,
) -> Result<Vec<Hash>, TreeError> {
    ranges
        .iter()
        .map(|r| {
            let hashes = subtrees_of(*r)
                .into_iter()
                .map(|s| lookup(s).ok_or(TreeError::MissingNode(s)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(fold_subtrees(&hashes).unwrap_or_else(empty_root))
        })
        .collect()
}

/// The Merkle Tree Hash of a list of leaf hashes, straight from RFC 6962's recursive definition
/// (O(n); for clients that fetched every entry, and for tests).
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// Verifies an audit path (RFC 9162 §2.1.3.2): `leaf` is entry `index` of the tree of
/// `tree_size` entries whose root is `root`.
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    tree_size: u64,
    path: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    if index >= tree_size {
        return Err(ProofError::IndexOutOfRange { index, tree_size });
    }
    let (mut fnode, mut snode) = (index, tree_size - 1);
    let mut r = *leaf;
    for p in path {
        if snode == 0 {
            return Err(ProofError::WrongLength { got: path.len() });
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength { got: path.len() });
    }
    if &r != root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2): the tree of `old_size` entries with root
/// `old_root` is a prefix of the tree of `new_size` entries with root `new_root`. Equal sizes
/// need an empty proof and equal roots.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    if old_size == 0 || old_size > new_size {
        return Err(ProofError::BadSizes { old_size, new_size });
    }
    if old_size == new_size {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength { got: proof.len() });
        }
        return if old_root == new_root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch)
        };
    }
    if proof.is_empty() {
        return Err(ProofError::WrongLength { got: 0 });
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if snode == 0 {
            return Err(ProofError::WrongLength { got: proof.len() });
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fnode & 1 == 0 {
                while fnode & 1 == 0 && fnode != 0 {
                    fnode >>= 1;
                    snode >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::WrongLength { got: proof.len() });
    }
    if &fr != old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if &sr != new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The leaves of the transparency-dev/merkle (and certificate-transparency) reference tests.
    const KAT_LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];

    /// Their roots for sizes 1..=8 (certificate-transparency merkle_tree_test, RFC 6962 hashing).
    const KAT_ROOTS: [&str; 8] = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn h(hex_str: &str) -> Hash {
        hex::decode(hex_str).unwrap().try_into().unwrap()
    }

    fn kat_leaves(n: usize) -> Vec<Hash> {
        KAT_LEAVES[..n]
            .iter()
            .map(|l| leaf_hash(&hex::decode(l).unwrap()))
            .collect()
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
            .collect()
    }

    /// A proof over in-memory leaves: each range's hash straight from the recursive definition.
    fn prove(ranges: &[LeafRange], leaves: &[Hash]) -> Vec<Hash> {
        ranges
            .iter()
            .map(|r| root_of(&leaves[r.start as usize..r.end as usize]))
            .collect()
    }

    /// The same proof through the complete-subtree decomposition a store uses.
    fn prove_from_subtrees(ranges: &[LeafRange], leaves: &[Hash]) -> Vec<Hash> {
        resolve(ranges, |s| {
            let (a, b) = (s.start() as usize, s.end() as usize);
            (b <= leaves.len()).then(|| root_of(&leaves[a..b]))
        })
        .unwrap()
    }

    #[test]
    fn hashes_are_rfc_6962() {
        // SHA-256 of the empty string, of 0x00, of 0x01 || a || b, computed by hand with sha2.
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(hex::encode(leaf_hash(b"")), KAT_ROOTS[0]);
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        let c = leaf_hash(b"c");
        let by_hand = |parts: &[&[u8]]| -> Hash {
            let mut s = Sha256::new();
            for p in parts {
                s.update(p);
            }
            s.finalize().into()
        };
        assert_eq!(a, by_hand(&[&[0], b"a"]));
        let ab = by_hand(&[&[1], &a, &b]);
        assert_eq!(node_hash(&a, &b), ab);
        // Three leaves: the split is 2 | 1, so MTH = H(1 || H(1 || a || b) || c).
        assert_eq!(root_of(&[a, b, c]), by_hand(&[&[1], &ab, &c]));
        // And never the "duplicate the last leaf" of Bitcoin-style trees.
        assert_ne!(root_of(&[a, b, c]), root_of(&[a, b, c, c]));
    }

    #[test]
    fn known_roots_of_the_reference_tree() {
        for n in 1..=8 {
            let l = kat_leaves(n);
            assert_eq!(hex::encode(root_of(&l)), KAT_ROOTS[n - 1], "size {n}");
            // Through the decomposition into complete subtrees too.
            let full = [LeafRange {
                start: 0,
                end: n as u64,
            }];
            assert_eq!(
                hex::encode(prove_from_subtrees(&full, &l)[0]),
                KAT_ROOTS[n - 1]
            );
        }
    }

    #[test]
    fn known_proofs_of_the_reference_tree() {
        // transparency-dev/merkle testonly/reference_test.go.
        let inclusion: [(u64, u64, &[&str]); 5] = [
            (0, 1, &[]),
            (
                0,
                2,
                &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"],
            ),
            (
                2,
                3,
                &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
            ),
            (
                1,
                5,
                &[
                    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
            (
                5,
                8,
                &[
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        let l = kat_leaves(8);
        for (index, size, expected) in inclusion {
            let leaves = &l[..size as usize];
            let proof = prove_from_subtrees(&inclusion_ranges(index, size).unwrap(), leaves);
            let expected: Vec<Hash> = expected.iter().map(|e| h(e)).collect();
            assert_eq!(proof, expected, "PATH({index}, D[{size}])");
            verify_inclusion(&l[index as usize], index, size, &proof, &root_of(leaves)).unwrap();
        }
        let consistency: [(u64, u64, &[&str]); 4] = [
            (1, 1, &[]),
            (
                1,
                8,
                &[
                    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
                ],
            ),
            (
                2,
                5,
                &[
                    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                ],
            ),
            (
                6,
                8,
                &[
                    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                ],
            ),
        ];
        for (m, n, expected) in consistency {
            let proof = prove_from_subtrees(&consistency_ranges(m, n).unwrap(), &l[..n as usize]);
            let expected: Vec<Hash> = expected.iter().map(|e| h(e)).collect();
            assert_eq!(proof, expected, "PROOF({m}, D[{n}])");
            verify_consistency(
                m,
                n,
                &root_of(&l[..m as usize]),
                &root_of(&l[..n as usize]),
                &proof,
            )
            .unwrap();
        }
    }

    /// Every (m, n) up to 20: proofs from the decomposition equal proofs from the recursive
    /// definition and equal ct-merkle's (an independent implementation), and verify.
    #[test]
    fn every_small_tree_round_trips_and_matches_ct_merkle() {
        use ct_merkle::mem_backed_tree::MemoryBackedTree;
        const MAX: u64 = 20;
        let all = leaves(MAX);
        for n in 1..=MAX {
            let l = &all[..n as usize];
            let root = root_of(l);
            let mut ct = MemoryBackedTree::<sha2_011::Sha256, Vec<u8>>::new();
            for i in 0..n {
                ct.push(format!("entry {i}").into_bytes());
            }
            assert_eq!(ct.root().as_bytes().as_slice(), root, "root of {n}");
            for m in 0..n {
                let ranges = inclusion_ranges(m, n).unwrap();
                let proof = prove_from_subtrees(&ranges, l);
                assert_eq!(proof, prove(&ranges, l));
                let ct_proof = ct.prove_inclusion(m as usize);
                assert_eq!(proof.concat(), ct_proof.as_bytes(), "PATH({m}, D[{n}])");
                verify_inclusion(&l[m as usize], m, n, &proof, &root).unwrap();
                // Another leaf, index or size is refused.
                assert!(verify_inclusion(&leaf_hash(b"x"), m, n, &proof, &root).is_err());
                if n > 1 {
                    assert!(
                        verify_inclusion(&l[m as usize], (m + 1) % n, n, &proof, &root).is_err()
                    );
                }
                // A path fits several sizes (the signed head fixes the size); twice the size never.
                assert!(verify_inclusion(&l[m as usize], m, 2 * n, &proof, &root).is_err());
            }
            for m in 1..=n {
                let ranges = consistency_ranges(m, n).unwrap();
                let proof = prove_from_subtrees(&ranges, l);
                assert_eq!(proof, prove(&ranges, l));
                if m < n {
                    let ct_proof = ct.prove_consistency((n - m) as usize);
                    assert_eq!(proof.concat(), ct_proof.as_bytes(), "PROOF({m}, D[{n}])");
                }
                let old = root_of(&all[..m as usize]);
                verify_consistency(m, n, &old, &root, &proof).unwrap();
                // A rewritten old tree (another leaf m - 1) is not a prefix.
                let mut rewritten = all[..m as usize].to_vec();
                rewritten[m as usize - 1] = leaf_hash(b"rewritten");
                assert!(verify_consistency(m, n, &root_of(&rewritten), &root, &proof).is_err());
                assert!(verify_consistency(m, n, &old, &leaf_hash(b"x"), &proof).is_err());
                if m > 1 {
                    assert!(verify_consistency(m - 1, n, &old, &root, &proof).is_err());
                }
            }
        }
    }

    #[test]
    fn tampered_proofs_are_refused() {
        let l = leaves(13);
        let root = root_of(&l);
        for m in 0..13u64 {
            let proof = prove(&inclusion_ranges(m, 13).unwrap(), &l);
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i][7] ^= 1;
                assert_eq!(
                    verify_inclusion(&l[m as usize], m, 13, &bad, &root),
                    Err(ProofError::RootMismatch)
                );
            }
            let mut longer = proof.clone();
            longer.push(root);
            assert!(verify_inclusion(&l[m as usize], m, 13, &longer, &root).is_err());
            let shorter = &proof[..proof.len() - 1];
            assert!(verify_inclusion(&l[m as usize], m, 13, shorter, &root).is_err());
        }
        for m in 1..13u64 {
            let old = root_of(&l[..m as usize]);
            let proof = prove(&consistency_ranges(m, 13).unwrap(), &l);
            for i in 0..proof.len() {
                let mut bad = proof.clone();
                bad[i][0] ^= 0x80;
                assert!(
                    verify_consistency(m, 13, &old, &root, &bad).is_err(),
                    "{m} {i}"
                );
            }
            assert!(verify_consistency(m, 13, &old, &root, &proof[1..]).is_err());
            let mut longer = proof.clone();
            longer.push(old);
            assert!(verify_consistency(m, 13, &old, &root, &longer).is_err());
        }
        // Sizes that make no sense.
        assert!(verify_consistency(0, 5, &empty_root(), &root, &[]).is_err());
        assert!(verify_consistency(6, 5, &root, &root, &[]).is_err());
        assert_eq!(verify_consistency(5, 5, &root, &root, &[]), Ok(()));
        assert!(verify_consistency(5, 5, &root, &empty_root(), &[]).is_err());
        assert!(verify_consistency(5, 5, &root, &root, &[root]).is_err());
        assert!(inclusion_ranges(3, 3).is_err());
        assert!(consistency_ranges(0, 3).is_err());
        assert!(consistency_ranges(4, 3).is_err());
    }

    #[test]
    fn appends_complete_the_right_subtrees() {
        // Leaf 11 (0b1011) completes leaf 11, the pair 10..12 and the quad 8..12.
        let done = completed_by_append(11);
        assert_eq!(
            done.iter()
                .map(|s| (s.start(), s.end()))
                .collect::<Vec<_>>(),
            vec![(11, 12), (10, 12), (8, 12)]
        );
        assert_eq!(completed_by_append(12).len(), 1);
        assert_eq!(left_child(done[2]), Subtree { level: 1, index: 4 });
        // Proofs of a large tree need few subtrees.
        let n = 1_000_000;
        for m in [0, 1, 499_999, 524_288, 999_999] {
            let path = inclusion_ranges(m, n).unwrap();
            assert!(subtrees_needed(&path).len() <= 40, "{m}");
        }
        for m in [1, 3, 524_288, 777_777, 999_999] {
            let proof = consistency_ranges(m, n).unwrap();
            assert!(subtrees_needed(&proof).len() <= 60, "{m}");
        }
    }
}

//! Fixed-depth binary Poseidon Merkle tree: the registry of an epoch (depth 20) and the
//! readings tree of a batch (depth log2 S).
//!
//! A node is `poseidon::hash2(left, right)`, an empty leaf is 0 and an empty subtree of height h
//! is `zero_hash(h)`. Leaves sit at indices `0..n`; the tree keeps only the nodes that depend on
//! them, so a depth-20 registry of a few thousand sites costs a few thousand hashes.

pub mod constraints;

use crate::{poseidon, Fr};

/// Depth of the registry tree: room for 2^20 installations.
pub const REGISTRY_DEPTH: usize = 20;

/// The deepest tree this module builds; indices are `u64` and paths hold one sibling per level.
pub const MAX_DEPTH: usize = 40;

/// Why a tree or a path cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// The depth is above [`MAX_DEPTH`].
    #[error("tree depth {0} is above the maximum {MAX_DEPTH}")]
    DepthTooLarge(usize),
    /// More leaves than the tree has room for.
    #[error("{leaves} leaves do not fit a tree of depth {depth}")]
    TooManyLeaves {
        /// Number of leaves given.
        leaves: usize,
        /// The tree's depth.
        depth: usize,
    },
    /// An index past the last leaf (or subtree) of the tree.
    #[error("index {index} is outside a tree level of {width} nodes")]
    IndexOutOfRange {
        /// The index asked for.
        index: u64,
        /// Number of nodes on that level.
        width: u128,
    },
    /// A subtree height above the tree's depth.
    #[error("subtree height {height} is above the tree depth {depth}")]
    HeightTooLarge {
        /// The height asked for.
        height: usize,
        /// The tree's depth.
        depth: usize,
    },
}

/// The root of an empty subtree of height `height` (`zero_hash(0) = 0`).
pub fn zero_hash(height: usize) -> Fr {
    zero_hashes(height)[height]
}

/// `zero_hash(h)` for every h in `0..=height`.
pub fn zero_hashes(height: usize) -> Vec<Fr> {
    let mut zeros = Vec::with_capacity(height + 1);
    zeros.push(Fr::from(0u64));
    for h in 0..height {
        let z = zeros[h];
        zeros.push(poseidon::hash2(z, z));
    }
    zeros
}

/// A sparse fixed-depth Poseidon Merkle tree over leaves at indices `0..n`.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    depth: usize,
    /// `levels[h]` holds the nodes of height h that have a non-empty leaf below them.
    levels: Vec<Vec<Fr>>,
    zeros: Vec<Fr>,
}

/// The siblings from a leaf (or subtree root) up to the root, bottom-up, and its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerklePath {
    /// Index of the node on its level; bit i says whether it is a right child at level i.
    pub index: u64,
    /// One sibling per level, bottom-up.
    pub siblings: Vec<Fr>,
}

impl MerklePath {
    /// The root that this path leads to from `node`.
    pub fn root_from(&self, node: Fr) -> Fr {
        let mut acc = node;
        for (level, sibling) in self.siblings.iter().enumerate() {
            acc = if (self.index >> level) & 1 == 1 {
                poseidon::hash2(*sibling, acc)
            } else {
                poseidon::hash2(acc, *sibling)
            };
        }
        acc
    }
}

fn level_width(depth: usize, height: usize) -> u128 {
    1u128 << (depth - height)
}

impl MerkleTree {
    /// Builds the tree of `depth` with `leaves` at indices `0..leaves.len()`, the rest empty.
    pub fn new(depth: usize, leaves: &[Fr]) -> Result<Self, MerkleError> {
        if depth > MAX_DEPTH {
            return Err(MerkleError::DepthTooLarge(depth));
        }
        if leaves.len() as u128 > level_width(depth, 0) {
            return Err(MerkleError::TooManyLeaves {
                leaves: leaves.len(),
                depth,
            });
        }
        let zeros = zero_hashes(depth);
        let mut levels = Vec::with_capacity(depth + 1);
        levels.push(leaves.to_vec());
        for h in 0..depth {
            let below: &Vec<Fr> = &levels[h];
            let next: Vec<Fr> = below
                .chunks(2)
                .map(|pair| poseidon::hash2(pair[0], pair.get(1).copied().unwrap_or(zeros[h])))
                .collect();
            levels.push(next);
        }
        if levels[depth].is_empty() {
            levels[depth].push(zeros[depth]);
        }
        Ok(Self {
            depth,
            levels,
            zeros,
        })
    }

    /// The tree's depth (number of levels above the leaves).
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The root.
    pub fn root(&self) -> Fr {
        self.levels[self.depth][0]
    }

    fn node(&self, height: usize, index: u64) -> Result<Fr, MerkleError> {
        let width = level_width(self.depth, height);
        if index as u128 >= width {
            return Err(MerkleError::IndexOutOfRange { index, width });
        }
        Ok(self.levels[height]
            .get(index as usize)
            .copied()
            .unwrap_or(self.zeros[height]))
    }

    /// The leaf at `index` (0 when empty).
    pub fn leaf(&self, index: u64) -> Result<Fr, MerkleError> {
        self.node(0, index)
    }

    /// The authentication path of the leaf at `index`.
    pub fn path(&self, index: u64) -> Result<MerklePath, MerkleError> {
        self.subtree_path(0, index)
    }

    /// The root of the subtree of height `height` whose leaves are
    /// `index * 2^height .. (index + 1) * 2^height`.
    pub fn subtree_root(&self, height: usize, index: u64) -> Result<Fr, MerkleError> {
        if height > self.depth {
            return Err(MerkleError::HeightTooLarge {
                height,
                depth: self.depth,
            });
        }
        self.node(height, index)
    }

    /// The siblings from that subtree's root up to the root (`depth - height` of them).
    pub fn subtree_path(&self, height: usize, index: u64) -> Result<MerklePath, MerkleError> {
        self.subtree_root(height, index)?;
        let siblings = (height..self.depth)
            .map(|h| self.node(h, (index >> (h - height)) ^ 1))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MerklePath { index, siblings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: u64) -> Vec<Fr> {
        (1..=n).map(Fr::from).collect()
    }

    #[test]
    fn sparse_tree_equals_the_dense_one() {
        // A dense depth-3 tree by hand.
        let l = leaves(5);
        let z = Fr::from(0u64);
        let h = poseidon::hash2;
        let n1 = [h(l[0], l[1]), h(l[2], l[3]), h(l[4], z), h(z, z)];
        let n2 = [h(n1[0], n1[1]), h(n1[2], n1[3])];
        let root = h(n2[0], n2[1]);
        let tree = MerkleTree::new(3, &l).unwrap();
        assert_eq!(tree.root(), root);
        assert_eq!(tree.subtree_root(1, 2).unwrap(), n1[2]);
        assert_eq!(tree.subtree_root(1, 3).unwrap(), zero_hash(1));
        assert_eq!(tree.leaf(7).unwrap(), z);
    }

    #[test]
    fn every_path_leads_to_the_root() {
        let tree = MerkleTree::new(REGISTRY_DEPTH, &leaves(13)).unwrap();
        for i in [0u64, 1, 7, 12, 13, (1 << 20) - 1] {
            let path = tree.path(i).unwrap();
            assert_eq!(path.siblings.len(), REGISTRY_DEPTH);
            assert_eq!(path.root_from(tree.leaf(i).unwrap()), tree.root());
            // A wrong leaf leads elsewhere.
            assert_ne!(path.root_from(Fr::from(999u64)), tree.root());
        }
        for (height, index) in [(2usize, 0u64), (2, 3), (3, 1), (20, 0)] {
            let path = tree.subtree_path(height, index).unwrap();
            assert_eq!(path.siblings.len(), REGISTRY_DEPTH - height);
            assert_eq!(
                path.root_from(tree.subtree_root(height, index).unwrap()),
                tree.root()
            );
        }
    }

    #[test]
    fn empty_tree_root_is_the_zero_hash() {
        assert_eq!(MerkleTree::new(4, &[]).unwrap().root(), zero_hash(4));
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert_eq!(
            MerkleTree::new(2, &leaves(5)).unwrap_err(),
            MerkleError::TooManyLeaves {
                leaves: 5,
                depth: 2
            }
        );
        assert!(MerkleTree::new(MAX_DEPTH + 1, &[]).is_err());
        let tree = MerkleTree::new(3, &leaves(2)).unwrap();
        assert!(tree.path(8).is_err());
        assert!(tree.subtree_root(4, 0).is_err());
        assert!(tree.subtree_path(2, 2).is_err());
    }
}

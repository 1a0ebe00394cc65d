//! In-circuit twin of the Merkle tree: the root of a whole subtree from its leaves, and the
//! climb from a node to the root along a path whose direction bits the caller has allocated.

use ark_r1cs_std::{boolean::Boolean, fields::fp::FpVar};
use ark_relations::gr1cs::SynthesisError;

use crate::{poseidon::constraints::hash2_var, Fr};

/// The root of the complete subtree over `leaves` (a power of two of them; one leaf is its own
/// root). Costs `leaves.len() - 1` Poseidon(2) hashes.
///
/// A length that is not a power of two is `SynthesisError::Unsatisfiable`: the shape is a
/// circuit constant, so this is a programming error caught at synthesis.
pub fn subtree_root_var(leaves: &[FpVar<Fr>]) -> Result<FpVar<Fr>, SynthesisError> {
    if leaves.is_empty() || !leaves.len().is_power_of_two() {
        return Err(SynthesisError::Unsatisfiable);
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| hash2_var(&pair[0], &pair[1]))
            .collect::<Result<Vec<_>, _>>()?;
    }
    Ok(level.remove(0))
}

/// The root reached from `node` along `siblings` (bottom-up), where `index_bits[i]` is true
/// when the node is the right child at level i. Costs one constraint and one Poseidon(2) per
/// level. The caller binds `index_bits` to the index (its bits, range-checked by their count).
pub fn root_from_path_var(
    node: &FpVar<Fr>,
    index_bits: &[Boolean<Fr>],
    siblings: &[FpVar<Fr>],
) -> Result<FpVar<Fr>, SynthesisError> {
    if index_bits.len() != siblings.len() {
        return Err(SynthesisError::Unsatisfiable);
    }
    let mut acc = node.clone();
    for (is_right, sibling) in index_bits.iter().zip(siblings) {
        // left = is_right ? sibling : acc (one constraint); right = acc + sibling - left (free).
        let left = is_right.select(sibling, &acc)?;
        let right = &acc + sibling - &left;
        acc = hash2_var(&left, &right)?;
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::MerkleTree;
    use ark_r1cs_std::prelude::*;
    use ark_relations::gr1cs::{ConstraintSystem, SynthesisMode};

    fn leaves(n: u64) -> Vec<Fr> {
        (1..=n).map(|i| Fr::from(i * 7919)).collect()
    }

    #[test]
    fn subtree_and_path_agree_with_the_native_tree() {
        let depth = 6;
        let tree = MerkleTree::new(depth, &leaves(11)).unwrap();
        let height = 2;
        for index in [0u64, 2, 15] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let sub: Vec<FpVar<Fr>> = (0..4)
                .map(|j| {
                    FpVar::new_witness(cs.clone(), || {
                        tree.leaf(index * 4 + j)
                            .map_err(|_| SynthesisError::AssignmentMissing)
                    })
                })
                .collect::<Result<_, _>>()
                .unwrap();
            let root = subtree_root_var(&sub).unwrap();
            assert_eq!(
                root.value().unwrap(),
                tree.subtree_root(height, index).unwrap()
            );
            let path = tree.subtree_path(height, index).unwrap();
            let bits: Vec<Boolean<Fr>> = (0..depth - height)
                .map(|i| Boolean::new_witness(cs.clone(), || Ok((index >> i) & 1 == 1)))
                .collect::<Result<_, _>>()
                .unwrap();
            let sibs: Vec<FpVar<Fr>> = path
                .siblings
                .iter()
                .map(|s| FpVar::new_witness(cs.clone(), || Ok(*s)))
                .collect::<Result<_, _>>()
                .unwrap();
            let top = root_from_path_var(&root, &bits, &sibs).unwrap();
            let expected = FpVar::new_input(cs.clone(), || Ok(tree.root())).unwrap();
            top.enforce_equal(&expected).unwrap();
            assert!(cs.is_satisfied().unwrap());
        }
    }

    #[test]
    fn a_wrong_leaf_or_direction_is_unsatisfied() {
        let depth = 4;
        let tree = MerkleTree::new(depth, &leaves(5)).unwrap();
        let path = tree.path(2).unwrap();
        for (leaf, index) in [
            (tree.leaf(2).unwrap() + Fr::from(1u64), 2u64),
            (tree.leaf(2).unwrap(), 3u64),
        ] {
            let cs = ConstraintSystem::<Fr>::new_ref();
            let node = FpVar::new_witness(cs.clone(), || Ok(leaf)).unwrap();
            let bits: Vec<_> = (0..depth)
                .map(|i| Boolean::new_witness(cs.clone(), || Ok((index >> i) & 1 == 1)).unwrap())
                .collect();
            let sibs: Vec<_> = path
                .siblings
                .iter()
                .map(|s| FpVar::new_witness(cs.clone(), || Ok(*s)).unwrap())
                .collect();
            let top = root_from_path_var(&node, &bits, &sibs).unwrap();
            top.enforce_equal(&FpVar::new_input(cs.clone(), || Ok(tree.root())).unwrap())
                .unwrap();
            assert!(!cs.is_satisfied().unwrap());
        }
    }

    #[test]
    fn constraint_count_is_pinned_and_setup_mode_works() {
        let count = |setup: bool| {
            let cs = ConstraintSystem::<Fr>::new_ref();
            if setup {
                cs.set_mode(SynthesisMode::Setup);
            }
            let l: Vec<_> = (0..4)
                .map(|i| FpVar::new_witness(cs.clone(), || Ok(Fr::from(i as u64))).unwrap())
                .collect();
            let root = subtree_root_var(&l).unwrap();
            let bits: Vec<_> = (0..3)
                .map(|_| Boolean::new_witness(cs.clone(), || Ok(false)).unwrap())
                .collect();
            let sibs: Vec<_> = (0..3)
                .map(|_| FpVar::new_witness(cs.clone(), || Ok(Fr::from(0u64))).unwrap())
                .collect();
            let _ = root_from_path_var(&root, &bits, &sibs).unwrap();
            cs.num_constraints()
        };
        let poseidon2 = 240;
        // 3 hashes for the subtree; per level: 1 boolean + 1 select + 1 hash.
        assert_eq!(count(false), 3 * poseidon2 + 3 * (2 + poseidon2));
        assert_eq!(count(true), count(false));
    }

    #[test]
    fn bad_shapes_are_errors() {
        let cs = ConstraintSystem::<Fr>::new_ref();
        let l: Vec<_> = (0..3)
            .map(|_| FpVar::new_witness(cs.clone(), || Ok(Fr::from(1u64))).unwrap())
            .collect();
        assert!(subtree_root_var(&l).is_err());
        assert!(subtree_root_var(&[]).is_err());
        assert!(root_from_path_var(&l[0], &[Boolean::TRUE], &[]).is_err());
    }
}

// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title The interface of gridproof's generated Groth16 verifier (`gridproof export-verifier`)
/// @notice A verifier never accepts a public input >= r or a malformed proof; it returns false.
interface IGroth16Verifier {
    /// @notice Number of public inputs of the statement the verifier was generated for.
    /// @return count The number of public inputs (8 for gridproof's batch statement).
    function NUM_PUBLIC_INPUTS() external view returns (uint256 count);

    /// @notice Checks a Groth16 proof.
    /// @param proof (A, B, C) as EIP-197 words: [A.x, A.y, B.x.c1, B.x.c0, B.y.c1, B.y.c0, C.x, C.y].
    /// @param publicInputs The statement's public inputs in circuit order.
    /// @return valid True only for a valid proof of these inputs.
    function verifyProof(uint256[8] calldata proof, uint256[8] calldata publicInputs) external view returns (bool valid);
}

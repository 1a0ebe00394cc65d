// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Groth16Verifier} from "../src/Groth16Verifier.sol";
import {Fixtures} from "./utils/Fixtures.sol";

/// @notice The generated verifier against real proofs: accepts them (and their re-randomized
/// twins), rejects every input >= r, every changed input, every flipped proof byte and points
/// off their curve, always by returning false.
contract Groth16VerifierTest is Fixtures {
    Groth16Verifier internal verifier;

    function setUp() public {
        loadFixtures();
        verifier = new Groth16Verifier();
    }

    function test_acceptsTheFixtureProofs() public view {
        for (uint256 i = 0; i < fxInputs.length; i++) {
            assertTrue(verifier.verifyProof(fxProofs[i], fxInputs[i]), "fixture proof");
        }
    }

    function test_acceptsARerandomizedProof() public view {
        assertTrue(verifier.verifyProof(rerandomized(fxProofs[0]), fxInputs[0]), "(-A, -B, C)");
    }

    function test_numPublicInputs() public view {
        assertEq(verifier.NUM_PUBLIC_INPUTS(), 8, "public inputs");
    }

    function test_rejectsAProofOfAnotherBatch() public view {
        assertFalse(verifier.verifyProof(fxProofs[1], fxInputs[0]), "swapped proof");
    }

    function test_rejectsInputPlusR() public view {
        for (uint256 i = 0; i < 8; i++) {
            uint256[8] memory inputs = fxInputs[0];
            inputs[i] += R; // the same residue mod r: ecMul alone would accept it
            assertFalse(verifier.verifyProof(fxProofs[0], inputs), "input + r");
        }
    }

    function test_rejectsPointsOffCurveAndInfinity() public view {
        uint256[8] memory proof = fxProofs[0];
        proof[0] = 1;
        proof[1] = 3; // (1, 3) is not on y^2 = x^3 + 3
        assertFalse(verifier.verifyProof(proof, fxInputs[0]), "A off curve");
        proof = fxProofs[0];
        proof[0] = 0;
        proof[1] = 0; // A = infinity
        assertFalse(verifier.verifyProof(proof, fxInputs[0]), "A at infinity");
        proof = fxProofs[0];
        proof[6] += Q; // C.x not reduced
        assertFalse(verifier.verifyProof(proof, fxInputs[0]), "C.x + q");
        proof = fxProofs[0];
        proof[2] = 1; // B.x changed: off the twist
        assertFalse(verifier.verifyProof(proof, fxInputs[0]), "B off curve");
        proof = fxProofs[0];
        for (uint256 k = 2; k < 6; k++) {
            proof[k] = 0; // B = infinity
        }
        assertFalse(verifier.verifyProof(proof, fxInputs[0]), "B at infinity");
    }

    /// @notice B = (2 + u, y) is on the twist y^2 = x^3 + 3/(9 + u) but (with overwhelming
    /// probability, the cofactor being about 2^254) outside the order-r subgroup: it passes the
    /// verifier's curve check and the pairing precompile must refuse it.
    function test_rejectsATwistPointOutsideTheSubgroup() public view {
        uint256[8] memory proof = fxProofs[0];
        proof[2] = 1; // x.c1
        proof[3] = 2; // x.c0
        proof[4] = 19659275751359636165940301690575149581329631496732780143538578556285923319774; // y.c1
        proof[5] = 7292567877523311580221095596750716176434782432868683424513645834767876293070; // y.c0
        assertFalse(verifier.verifyProof(proof, fxInputs[0]), "B outside G2");
    }

    /// forge-config: default.fuzz.runs = 512
    function testFuzz_rejectsAnyInputAtLeastR(uint8 index, uint256 value) public view {
        value = bound(value, R, type(uint256).max);
        uint256[8] memory inputs = fxInputs[0];
        inputs[index % 8] = value;
        assertFalse(verifier.verifyProof(fxProofs[0], inputs), "input >= r");
    }

    /// forge-config: default.fuzz.runs = 512
    function testFuzz_rejectsAnyChangedInput(uint8 index, uint256 value) public view {
        uint256[8] memory inputs = fxInputs[0];
        vm.assume(inputs[index % 8] != value);
        inputs[index % 8] = value;
        assertFalse(verifier.verifyProof(fxProofs[0], inputs), "changed input");
    }

    /// forge-config: default.fuzz.runs = 512
    function testFuzz_rejectsAFlippedProofByte(uint8 word, uint8 byteIndex, uint8 mask) public view {
        mask = uint8(bound(mask, 1, 255));
        uint256[8] memory proof = fxProofs[0];
        proof[word % 8] ^= uint256(mask) << (8 * (byteIndex % 32));
        assertFalse(verifier.verifyProof(proof, fxInputs[0]), "flipped proof byte");
    }

    function testFuzz_rejectsRandomProofs(uint256[8] memory proof) public view {
        assertFalse(verifier.verifyProof(proof, fxInputs[0]), "random proof");
    }

    function test_gasOfOneVerification() public {
        uint256[8] memory proof = fxProofs[0];
        uint256[8] memory inputs = fxInputs[0];
        uint256 before = gasleft();
        bool ok = verifier.verifyProof(proof, inputs);
        uint256 used = before - gasleft();
        assertTrue(ok, "verifies");
        if (isolated()) return; // the gas report gives the number then
        // Precompiles alone: 8 x (6000 ecMul + 150 ecAdd) + 45000 + 4 x 34000 pairing = 230,200.
        assertLe(used, 245_000, "verifier gas");
    }
}

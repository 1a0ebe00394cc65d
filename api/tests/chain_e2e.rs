//! End to end on a local chain: proofs made by `gridproof prove` (S = 4, T = 8) are published
//! with alloy to the contracts on anvil (127.0.0.1, from verifier-contract/node_modules, started
//! and killed by the test). The verifier is generated from the fresh keys and compiled with the
//! npm forge, as `gridproof demo` does. Checks that a real proof is accepted and finalizes the
//! epoch, and that a replayed statement (the same proof or a re-randomized one), a public input
//! plus r, a changed total and a flipped proof byte are all rejected with the decoded reason.

use std::path::{Path, PathBuf};
use std::process::Command;

use alloy::primitives::U256;
use alloy::sol_types::SolCall;
use gridproof_api::chain::bindings::Groth16Verifier;
use gridproof_api::chain::bindings::RevenueOracle::{self, RevenueOracleErrors};
use gridproof_api::chain::bindings::SGridVault::SGridVaultErrors;
use gridproof_api::chain::{
    batch_words, toolchain, Anvil, Chain, ChainError, EpochOpening, TempDir, VaultParams,
    ANVIL_DEV_PRIVATE_KEY,
};
use gridproof_prover::ProofsFile;

/// BN254's scalar field modulus r.
const R: &str = "21888242871839275222246405745257275088548364400416034343698204186575808495617";
/// BN254's base field modulus q.
const Q: &str = "21888242871839275222246405745257275088696311157297823662689037894645226208583";

fn gridproof(args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_gridproof"))
        .args(args)
        .env_remove("GRIDPROOF_KEYS")
        .output()
        .expect("the gridproof binary runs");
    assert!(
        out.status.success(),
        "gridproof {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn contracts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../verifier-contract")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("temporary paths are UTF-8")
}

fn assert_oracle_rejects(
    result: Result<impl std::fmt::Debug, ChainError>,
    what: &str,
    expected: fn(&RevenueOracleErrors) -> bool,
) {
    match result {
        Err(ChainError::OracleRejected { reason, .. }) if expected(&reason) => {}
        other => panic!("{what}: expected a specific RevenueOracle error, got {other:?}"),
    }
}

#[test]
fn chain_e2e_prove_accepts_once_and_rejects_tampering() {
    let contracts = contracts_dir();
    if let Err(e) = toolchain::foundry_binary(&contracts, "anvil") {
        panic!("the on-chain test needs the npm Foundry toolchain: {e}");
    }
    let work = TempDir::new("chain-e2e").unwrap();
    let keys = work.path().join("keys");
    let batch = work.path().join("batch.json");
    let proofs_path = work.path().join("proofs.json");
    let verifier_sol = work.path().join("Groth16Verifier.sol");
    gridproof(&[
        "setup",
        "--sites",
        "4",
        "--readings-per-site",
        "8",
        "--out",
        s(&keys),
    ]);
    gridproof(&[
        "meter",
        "simulate",
        "--sites",
        "8",
        "--epoch",
        "20300",
        "--readings-per-site",
        "8",
        "--seed",
        "chain-e2e",
        "--out",
        s(&batch),
    ]);
    gridproof(&[
        "prove",
        "--keys",
        s(&keys),
        "--batch",
        s(&batch),
        "--out",
        s(&proofs_path),
    ]);
    gridproof(&[
        "export-verifier",
        "--keys",
        s(&keys),
        "--out",
        s(&verifier_sol),
    ]);
    let proofs = ProofsFile::read(&proofs_path).unwrap();
    assert_eq!(proofs.batches.len(), 2);
    let source = std::fs::read_to_string(&verifier_sol).unwrap();
    let code = toolchain::compile_verifier(&contracts, &source).unwrap();

    let anvil = Anvil::start(&contracts).unwrap();
    let endpoint = anvil.endpoint();
    assert!(endpoint.starts_with("http://127.0.0.1:"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Never hang the test command: every step below takes well under a second on anvil.
    let steps = async {
        let chain = Chain::connect(&endpoint, ANVIL_DEV_PRIVATE_KEY)
            .await
            .unwrap();
        assert_eq!(chain.chain_id(), 31337);
        // anvil's first default account.
        assert_eq!(
            chain.sender().to_string(),
            "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        );
        let d = chain.deploy(code, &VaultParams::default()).await.unwrap();
        let (inputs0, proof0) = batch_words(&proofs.batches[0]).unwrap();
        let (inputs1, proof1) = batch_words(&proofs.batches[1]).unwrap();
        let opening = EpochOpening::from_inputs(&inputs0, 2).unwrap();
        chain.open_epoch(d.oracle, &opening).await.unwrap();

        let r: U256 = R.parse().unwrap();
        let q: U256 = Q.parse().unwrap();

        // A public input + r (readings_root: only the verifier checks it): the verifier itself
        // says false, and the oracle refuses.
        let mut plus_r = inputs0;
        plus_r[5] += r;
        let verifier = Groth16Verifier::new(d.verifier, chain.provider().clone());
        assert!(verifier.verifyProof(proof0, inputs0).call().await.unwrap());
        assert!(!verifier.verifyProof(proof0, plus_r).call().await.unwrap());
        assert_oracle_rejects(
            chain.submit_batch(d.oracle, plus_r, proof0).await,
            "public input + r",
            |e| matches!(e, RevenueOracleErrors::InvalidProof(_)),
        );
        // A changed total.
        let mut more = inputs0;
        more[4] += U256::from(1u64);
        assert_oracle_rejects(
            chain.submit_batch(d.oracle, more, proof0).await,
            "revenue + 1",
            |e| matches!(e, RevenueOracleErrors::InvalidProof(_)),
        );
        // A flipped proof byte (the last byte of A.x, and of C.y).
        for word in [0usize, 7] {
            let mut flipped = proof0;
            flipped[word] ^= U256::from(1u64);
            assert_oracle_rejects(
                chain.submit_batch(d.oracle, inputs0, flipped).await,
                "flipped proof byte",
                |e| matches!(e, RevenueOracleErrors::InvalidProof(_)),
            );
        }

        // The real proof is accepted, within the gas target.
        let first = chain.submit_batch(d.oracle, inputs0, proof0).await.unwrap();
        assert!(first.finalized.is_none());
        assert_eq!(first.total_revenue_nusd, inputs0[4]);
        assert!(first.tx.gas_used <= 300_000, "gas {}", first.tx.gas_used);
        assert_eq!(first.calldata.len(), 4 + 16 * 32);
        assert_eq!(
            first.calldata[..4],
            RevenueOracle::submitBatchCall::SELECTOR
        );

        // The same statement twice: the same proof, and a re-randomized one (-A, -B, C), which
        // still verifies.
        assert_oracle_rejects(
            chain.submit_batch(d.oracle, inputs0, proof0).await,
            "same proof twice",
            |e| matches!(e, RevenueOracleErrors::BatchAlreadyAccepted(_)),
        );
        let mut negated = proof0;
        negated[1] = q - negated[1];
        negated[4] = q - negated[4];
        negated[5] = q - negated[5];
        assert!(verifier.verifyProof(negated, inputs0).call().await.unwrap());
        assert_oracle_rejects(
            chain.submit_batch(d.oracle, inputs0, negated).await,
            "re-randomized proof of the same statement",
            |e| matches!(e, RevenueOracleErrors::BatchAlreadyAccepted(_)),
        );

        // The last batch finalizes the epoch with the sum of the batches' totals.
        let last = chain.submit_batch(d.oracle, inputs1, proof1).await.unwrap();
        let energy = inputs0[3] + inputs1[3];
        let revenue = inputs0[4] + inputs1[4];
        assert_eq!(last.finalized, Some((energy, revenue)));
        let totals = chain.epoch_totals(d.oracle, opening.epoch).await.unwrap();
        assert!(totals.is_final);
        assert_eq!(
            (totals.total_energy_wh, totals.total_revenue_nusd),
            (energy, revenue)
        );

        // Yield for the investors (1,000 GRID deposited): exactly revenue x 8,000 bps, in GRID
        // wei (1 nano-USD = 1e9 wei), once.
        let grid_wei = U256::from(10u64).pow(U256::from(18u64));
        chain
            .deposit(&d, U256::from(1_000u64) * grid_wei)
            .await
            .unwrap();
        let release = chain.fund_and_release(&d, opening.epoch).await.unwrap();
        assert_eq!(
            release.amount_grid_wei,
            revenue * U256::from(8_000u64) * U256::from(1_000_000_000u64) / U256::from(10_000u64)
        );
        match chain.fund_and_release(&d, opening.epoch).await {
            Err(ChainError::VaultRejected { reason, .. })
                if matches!(*reason, SGridVaultErrors::YieldAlreadyReleased(_)) => {}
            other => panic!("a second release must be refused, got {other:?}"),
        }
    };
    runtime
        .block_on(async { tokio::time::timeout(std::time::Duration::from_secs(300), steps).await })
        .expect("the on-chain steps finish within 300 s");
    drop(anvil);
}

#[test]
fn demo_json_publishes_a_small_epoch_on_its_own_anvil_and_stops_it() {
    let work = TempDir::new("demo-e2e").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gridproof"))
        .args(["demo", "--json", "--sites", "8", "--readings-per-site", "8"])
        .args(["--seed", "demo-e2e", "--cache-dir", s(work.path())])
        .env_remove("GRIDPROOF_PRIVATE_KEY")
        .output()
        .expect("the gridproof binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed: {stderr}");
    assert!(stderr.contains("demo [10/10]"), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["chain_id"], 31337);
    assert_eq!(summary["epoch_state"]["is_final"], true);
    let batches = summary["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 2);
    for b in batches {
        assert!(b["gas_used"].as_u64().unwrap() <= 300_000, "{b}");
        assert!(b["calldata"].as_str().unwrap().starts_with("0x"));
        assert_eq!(b["public_inputs"]["epoch"], "20300");
    }
    assert_ne!(summary["yield"]["released_grid_wei"], "0");
    // The keys were cached under the shape, constraint count and circuit digest.
    let cached: Vec<_> = std::fs::read_dir(work.path().join("demo-keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cached.len(), 1);
    assert!(cached[0].starts_with("s4-t8-p4-c"), "{cached:?}");
    // The demo's anvil is gone.
    let url = summary["chain"].as_str().unwrap();
    let port = url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches(')')
        .parse::<u16>()
        .unwrap();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

//! End to end on a local chain: proofs made by `gridproof prove` (S = 4, T = 8) are published
//! with alloy to the contracts on anvil (127.0.0.1, from verifier-contract/node_modules, started
//! and killed by the test). The verifier is generated from the fresh keys and compiled with the
//! npm forge, as `gridproof demo` does. Checks that a real proof is accepted and finalizes the
//! epoch, and that a replayed statement (the same proof or a re-randomized one), a public input
//! plus r, a changed total and a flipped proof byte are all rejected with the decoded reason.
//! Along the way, disclosure bundles made with `gridproof disclose` from `prove`'s private output
//! are checked by `gridproof verify --disclosure --rpc-url --oracle` against that chain: refused
//! while their epoch is not opened or their batch not accepted, with another oracle address or a
//! transaction that is not the batch's, and accepted once the batch is on chain.

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
use gridproof_prover::private_output::{default_private_output_path, PrivateOutput};
use gridproof_prover::ProofsFile;

#[allow(dead_code)]
#[path = "support/cli.rs"]
mod cli;

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

/// Runs `gridproof verify --disclosure BUNDLE` against RevenueOracle `oracle` on `endpoint` and
/// returns its stdout. With `why` `None` it must succeed; otherwise it must exit 1 (no panic)
/// with the `public record` link as the only broken one and `why` in its reason.
fn verify_on_chain(
    keys: &Path,
    bundle: &Path,
    regulator_key: &Path,
    endpoint: &str,
    oracle: &str,
    why: Option<&str>,
) -> String {
    let args = [
        "verify",
        "--disclosure",
        s(bundle),
        "--regulator-key",
        s(regulator_key),
        "--keys",
        s(keys),
        "--rpc-url",
        endpoint,
        "--oracle",
        oracle,
    ];
    match why {
        None => {
            let stdout = cli::ok(&args);
            assert!(!stdout.contains("FAILED"), "{stdout}");
            stdout
        }
        Some(why) => {
            let out = cli::gridproof(&args);
            let stderr = cli::text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
            assert!(!stderr.contains("panicked"), "{stderr}");
            assert!(
                stderr.contains("disclosure REJECTED: public record failed: ")
                    && stderr.contains(why)
                    && stderr.contains("(1 check(s) failed)"),
                "{why:?} not in {stderr}"
            );
            // Every other link was still checked, and held.
            let stdout = cli::text(&out.stdout);
            assert_eq!(stdout.matches("\nok          ").count(), 10, "{stdout}");
            assert!(stdout.contains("FAILED      public record: "), "{stdout}");
            stdout
        }
    }
}

/// `gridproof disclose` of `site` from the private output beside `proofs`, sealed to
/// `regulator_pub`, into `out`; `extra` arguments appended.
fn disclose(proofs: &Path, site: u64, regulator_pub: &str, out: &Path, extra: &[&str]) {
    let private = default_private_output_path(proofs);
    let site = site.to_string();
    let mut args = vec![
        "disclose",
        "--private",
        s(&private),
        "--site",
        &site,
        "--regulator-key",
        regulator_pub,
        "--out",
        s(out),
        "--force",
    ];
    args.extend_from_slice(extra);
    cli::ok(&args);
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

    // A regulator, and bundles of one site of each batch sealed to it from the private output
    // that `prove` wrote beside the proofs file.
    let regulator_key = work.path().join("regulator.key");
    let regulator_pub = cli::ok(&["regulator", "keygen", "--out", s(&regulator_key)]);
    let regulator_pub = regulator_pub.trim();
    assert_eq!(regulator_pub.len(), 64, "{regulator_pub}");
    let private = PrivateOutput::read(&default_private_output_path(&proofs_path)).unwrap();
    let site_in = |batch: u64| {
        private
            .sites
            .iter()
            .find(|site| site.batch_index == batch)
            .unwrap()
            .site_id
    };
    let (site0, site1) = (site_in(0), site_in(1));
    let bundle0 = work.path().join("site0.bundle");
    let bundle1 = work.path().join("site1.bundle");
    disclose(&proofs_path, site0, regulator_pub, &bundle0, &[]);
    disclose(&proofs_path, site1, regulator_pub, &bundle1, &[]);
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
        let d = chain
            .deploy(code.clone(), &VaultParams::default())
            .await
            .unwrap();
        let oracle = d.oracle.to_string();
        let (inputs0, proof0) = batch_words(&proofs.batches[0]).unwrap();
        let (inputs1, proof1) = batch_words(&proofs.batches[1]).unwrap();
        // Nothing on chain yet: a bundle is refused, naming the link that is missing. (The
        // `gridproof` processes block this thread; only they talk to anvil meanwhile.)
        let verify = |bundle: &Path, oracle: &str, why: Option<&str>| {
            verify_on_chain(&keys, bundle, &regulator_key, &endpoint, oracle, why)
        };
        verify(&bundle0, &oracle, Some("epoch 20300 was never opened"));
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

        // Batch 0 is on chain, batch 1 not yet: site 0's bundle matches the chain, site 1's is
        // refused.
        let stdout = verify(&bundle0, &oracle, None);
        assert!(
            stdout.contains(&format!(
                "ok          public record: RevenueOracle {oracle} on chain 31337: registry \
                 root, schedule and interval of epoch 20300 as published; batch 0 accepted in \
                 transaction {} with these totals and readings root",
                first.tx.tx_hash
            )),
            "{stdout}"
        );
        verify(
            &bundle1,
            &oracle,
            Some("batch 1 of epoch 20300 was not accepted"),
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

        // Batch 1 on chain: the bundle refused above now matches.
        let stdout = verify(&bundle1, &oracle, None);
        assert!(
            stdout.contains("batch 1 accepted in transaction") && stdout.contains(&oracle),
            "{stdout}"
        );
        // Another address: a contract that is not the oracle (the verifier), an address
        // without code, another RevenueOracle that never heard of the epoch.
        verify(
            &bundle0,
            &d.verifier.to_string(),
            Some(&format!("from RevenueOracle {}: epochConfig:", d.verifier)),
        );
        let nobody = "0x000000000000000000000000000000000000dEaD";
        verify(
            &bundle0,
            nobody,
            Some("no contract at the oracle address 0x000000000000000000000000000000000000dEaD"),
        );
        let other = chain.deploy(code, &VaultParams::default()).await.unwrap();
        verify(
            &bundle0,
            &other.oracle.to_string(),
            Some(&format!(
                "RevenueOracle {} on chain 31337: epoch 20300 was never opened",
                other.oracle
            )),
        );
        // A bundle naming its batch's transaction matches; naming another one is refused.
        let named0 = work.path().join("site0-tx.bundle");
        let tx0 = first.tx.tx_hash.to_string();
        let tx1 = last.tx.tx_hash.to_string();
        disclose(
            &proofs_path,
            site0,
            regulator_pub,
            &named0,
            &["--tx-hash", &tx0],
        );
        let stdout = verify(&named0, &oracle, None);
        assert!(
            stdout.contains(&format!("  transaction: {tx0}")),
            "{stdout}"
        );
        disclose(
            &proofs_path,
            site0,
            regulator_pub,
            &named0,
            &["--tx-hash", &tx1],
        );
        verify(
            &named0,
            &oracle,
            Some(&format!(
                "batch 0 was accepted in transaction {tx0}, the bundle names {tx1}"
            )),
        );
    };
    runtime
        .block_on(async { tokio::time::timeout(std::time::Duration::from_secs(300), steps).await })
        .expect("the on-chain steps finish within 300 s");
    drop(anvil);
}

/// `gridproof demo` goes through the service: its clients feed the API over HTTP, the worker
/// proves, the publisher finalizes on the demo's anvil, the yield is released; the service,
/// anvil and the temporary folder are gone afterwards; `--keep` leaves the database.
#[test]
fn demo_json_runs_an_epoch_through_the_service_to_final_and_stops_everything() {
    let work = TempDir::new("demo-e2e").unwrap();
    let kept = work.path().join("kept");
    let demo = |keep: &Path| {
        let child = Command::new(env!("CARGO_BIN_EXE_gridproof"))
            .args(["demo", "--json", "--sites", "8", "--readings-per-site", "8"])
            .args(["--seed", "demo-e2e", "--cache-dir", s(work.path())])
            .args(["--keep", s(keep)])
            .env_remove("GRIDPROOF_PRIVATE_KEY")
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the gridproof binary runs");
        let pid = child.id();
        (pid, child.wait_with_output().unwrap())
    };
    let (pid, out) = demo(&kept);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "demo failed: {stderr}");
    assert!(stderr.contains("demo [10/10]"), "{stderr}");
    for said in [
        "PUT /v1/epochs/20300",
        "POST /v1/installations",
        "POST /v1/readings",
        "POST /v1/epochs/20300/close",
        "epoch 20300 final: 2 batches planned, 2 proved, 2 published",
    ] {
        assert!(stderr.contains(said), "{said:?} not in {stderr}");
    }
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["chain_id"], 31337);
    assert_eq!(summary["service"]["installations"], 8);
    assert_eq!(summary["service"]["readings_stored"], 8);
    assert_eq!(summary["service"]["epoch_status"], "final");
    assert_eq!(summary["epoch_state"]["is_final"], true);
    assert_eq!(summary["epoch_state"]["batches_accepted"], "2");
    assert!(summary["epoch"]["open_tx_hash"]
        .as_str()
        .unwrap()
        .starts_with("0x"));
    let batches = summary["batches"].as_array().unwrap();
    assert_eq!(batches.len(), 2);
    let mut revenue = U256::ZERO;
    for b in batches {
        assert!(b["gas_used"].as_u64().unwrap() <= 300_000, "{b}");
        assert!(b["calldata"].as_str().unwrap().starts_with("0x"));
        assert!(b["tx_hash"].as_str().unwrap().starts_with("0x"), "{b}");
        assert_eq!(b["public_inputs"]["epoch"], "20300");
        revenue += b["public_inputs"]["total_revenue_nusd"]
            .as_str()
            .unwrap()
            .parse::<U256>()
            .unwrap();
    }
    assert_eq!(
        batches
            .iter()
            .filter(|b| b["finalized_epoch"] == true)
            .count(),
        1,
        "exactly one submission finalized the epoch"
    );
    assert_eq!(
        summary["epoch_state"]["total_revenue_nusd"],
        revenue.to_string()
    );
    // The yield released is 8,000 bps of the verified revenue, in GRID wei (1e9 per nano-USD).
    assert!(revenue > U256::ZERO);
    assert_eq!(
        summary["yield"]["released_grid_wei"],
        (revenue * U256::from(800_000_000u64)).to_string()
    );
    // The keys were cached under the shape, constraint count and circuit digest.
    let cached: Vec<_> = std::fs::read_dir(work.path().join("demo-keys"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cached.len(), 1);
    assert!(cached[0].starts_with("s4-t8-p4-c"), "{cached:?}");
    // The demo's anvil and its service are gone, and so is its temporary folder.
    let port_of = |url: &str| {
        url.rsplit(':')
            .next()
            .unwrap()
            .trim_end_matches(')')
            .parse::<u16>()
            .unwrap()
    };
    let anvil_port = port_of(summary["chain"].as_str().unwrap());
    assert!(std::net::TcpStream::connect(("127.0.0.1", anvil_port)).is_err());
    let api_port = port_of(summary["service"]["api"].as_str().unwrap());
    assert!(std::net::TcpStream::connect(("127.0.0.1", api_port)).is_err());
    let prefix = format!("gridproof-demo-{pid}-");
    let left: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "temporary folders left: {left:?}");

    // --keep: the service's database stayed, with the epoch final and every reading.
    assert_eq!(
        summary["service"]["database"],
        s(&kept.join("gridproof.db"))
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = gridproof_api::store::Store::open(
            s(&kept.join("gridproof.db")),
            &gridproof_api::store::StoreOptions::default(),
        )
        .await
        .unwrap();
        let epoch = store.epoch(20300).await.unwrap().unwrap();
        assert_eq!(epoch.status, gridproof_api::store::EpochStatus::Final);
        assert_eq!(store.count_readings(20300).await.unwrap(), 8);
        store.close().await;
    });
    // A folder that holds a database already is refused before anything runs.
    let (_, again) = demo(&kept);
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("exists there already"), "{stderr}");
    assert!(!stderr.contains("demo [1/10]"), "{stderr}");
}

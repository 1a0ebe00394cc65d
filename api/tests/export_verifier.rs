//! `gridproof export-verifier` end to end: the committed fixture key gives exactly the committed
//! `verifier-contract/src/Groth16Verifier.sol`; an existing output needs `--force`; a directory
//! that is not a key directory is refused cleanly.

use std::path::PathBuf;

mod support;
use support::cli::gridproof;

fn contracts_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../verifier-contract")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "gridproof-export-verifier-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn export_verifier_writes_the_committed_verifier_and_needs_force_to_replace() {
    let dir = temp_dir("ok");
    let out = dir.join("Groth16Verifier.sol");
    let keys = contracts_dir().join("test/fixtures/keys");
    let args = [
        "export-verifier",
        "--keys",
        keys.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let run = gridproof(&args);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let written = std::fs::read_to_string(&out).unwrap();
    let committed =
        std::fs::read_to_string(contracts_dir().join("src/Groth16Verifier.sol")).unwrap();
    assert!(written == committed, "the committed verifier is stale");
    assert!(String::from_utf8_lossy(&run.stderr).contains("development"));

    let again = gridproof(&args);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let mut forced = args.to_vec();
    forced.push("--force");
    assert!(gridproof(&forced).status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn export_verifier_refuses_a_directory_without_keys() {
    let dir = temp_dir("nokeys");
    let out = dir.join("V.sol");
    let run = gridproof(&[
        "export-verifier",
        "--keys",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&run.stderr).contains("panicked"));
    assert!(!out.exists(), "no partial output");
    let _ = std::fs::remove_dir_all(&dir);
}

//! Running the built `gridproof` binary: success with its stdout, or a clean refusal (exit
//! status 1 or 2, a message naming the problem, never a panic).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `gridproof args` (without a GRIDPROOF_KEYS of the caller's environment).
pub fn gridproof(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gridproof"))
        .args(args)
        .env_remove("GRIDPROOF_KEYS")
        .output()
        .expect("the gridproof binary runs")
}

/// Bytes of a process's output as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs and expects success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = gridproof(args);
    assert!(
        out.status.success(),
        "gridproof {args:?} failed ({}):\n{}",
        out.status,
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs and expects a clean failure (status 1 or 2, no panic) whose stderr contains `needle`;
/// returns stderr.
pub fn fails(args: &[&str], needle: &str) -> String {
    let out = gridproof(args);
    let stderr = text(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(1) | Some(2)),
        "gridproof {args:?} should fail cleanly, exited with {}:\n{stderr}",
        out.status
    );
    assert!(
        !stderr.contains("panicked"),
        "gridproof {args:?} panicked:\n{stderr}"
    );
    assert!(
        stderr.contains(needle),
        "gridproof {args:?}: stderr lacks {needle:?}:\n{stderr}"
    );
    stderr
}

/// A fresh empty directory for one test, under the target directory (bounded: replaced by the
/// next run, never left in /tmp).
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("gridproof-{}-{name}", env!("CARGO_CRATE_NAME")));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A path as a command-line argument.
pub fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

//! Shared by the vector tests: where the published circomlibjs vectors are and how to read them.
//!
//! The folder is `$GRIDPROOF_VECTORS_DIR` if set, else `../shared/vectors`; a relative path is
//! resolved against the workspace root (the parent of this crate's manifest directory). A missing
//! folder or file fails the test with a message naming the path: the vectors are never skipped.

#![allow(dead_code)]

use std::path::PathBuf;

use gridproof_circuits::{encoding::parse_field, Fr};
use serde_json::Value;

pub fn vectors_dir() -> PathBuf {
    let workspace_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let configured = std::env::var_os("GRIDPROOF_VECTORS_DIR");
    let dir = workspace_root.join(
        configured
            .clone()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("../shared/vectors")),
    );
    assert!(
        dir.is_dir(),
        "vectors folder {} not found ({}); set GRIDPROOF_VECTORS_DIR to the folder holding \
         poseidon.json and meter_v1.json (relative paths are resolved against the workspace root)",
        dir.display(),
        if configured.is_some() {
            "from GRIDPROOF_VECTORS_DIR"
        } else {
            "default ../shared/vectors"
        },
    );
    dir
}

pub fn load(name: &str) -> Vec<Value> {
    let path = vectors_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read vector file {}: {e}", path.display()));
    let json: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    let vectors = json["vectors"]
        .as_array()
        .unwrap_or_else(|| panic!("{} has no \"vectors\" array", path.display()))
        .clone();
    assert!(!vectors.is_empty(), "{} holds no vectors", path.display());
    vectors
}

/// A decimal string or JSON number, as the vectors write integers.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("expected a number or decimal string, got {other}"),
    }
}

pub fn field(v: &Value) -> Fr {
    parse_field(&text(v)).unwrap_or_else(|e| panic!("bad field element {v}: {e}"))
}

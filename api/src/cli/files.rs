//! File helpers of the command line: reads and atomic writes whose errors name the file.

use std::path::Path;

use gridproof_prover::fs::{StagedFile, SECRET_FILE_MODE};

use super::CliError;

pub use gridproof_prover::fs::PUBLIC_FILE_MODE;

/// Reads a whole text file.
pub fn read_to_string(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })
}

/// Refuses to go on if `path` exists and `force` is not set.
pub fn ensure_absent(path: &Path, force: bool) -> Result<(), CliError> {
    if !force && path.symlink_metadata().is_ok() {
        return Err(CliError::Exists(path.to_path_buf()));
    }
    Ok(())
}

/// Writes a file atomically with the given mode: a temporary file beside `path`, fsynced, then
/// renamed over it ([`StagedFile`]).
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CliError> {
    let io = |source| CliError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    };
    StagedFile::create(path, bytes, mode)
        .map_err(io)?
        .commit()
        .map_err(io)
}

/// Writes a secret file (keys, locations) atomically with mode 0600.
pub fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    write_atomically(path, bytes, SECRET_FILE_MODE)
}

/// Pretty JSON with a trailing newline.
pub fn pretty_json(value: &impl serde::Serialize) -> String {
    let mut s = serde_json::to_string_pretty(value)
        .expect("the command line only serializes string-keyed JSON values");
    s.push('\n');
    s
}

//! File helpers of the command line: reads and atomic writes whose errors name the file.

use std::path::{Path, PathBuf};

use gridproof_prover::private_output::{StagedFile, SECRET_FILE_MODE};

use super::CliError;

/// Mode of files that hold nothing secret (proofs files).
pub const PUBLIC_FILE_MODE: u32 = 0o644;

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

/// Writes `bytes` to a temporary file beside `path` (fsynced), ready to be renamed over it.
pub fn stage(path: &Path, bytes: &[u8], mode: u32) -> Result<StagedFile, CliError> {
    StagedFile::create(path, bytes, mode).map_err(|source| CliError::Io {
        action: "write",
        path: path.to_path_buf(),
        source,
    })
}

/// Renames a staged file over its target.
pub fn commit(staged: StagedFile) -> Result<(), CliError> {
    let path: PathBuf = staged.target().to_path_buf();
    staged.commit().map_err(|source| CliError::Io {
        action: "write",
        path,
        source,
    })
}

/// Writes a file atomically with the given mode.
pub fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CliError> {
    commit(stage(path, bytes, mode)?)
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

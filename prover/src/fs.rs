//! The prover's file handling, in one place: atomic writes (a temporary file in the target's
//! directory, fsynced, then renamed over the target, so a reader never sees a partial file),
//! size-bounded reads, and the replacement of a whole directory that can be rolled back.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// File mode of secret files (private outputs, meter keys, batch files with locations):
/// readable and writable by the owner only.
pub const SECRET_FILE_MODE: u32 = 0o600;

/// File mode of files that hold nothing secret (proofs files).
pub const PUBLIC_FILE_MODE: u32 = 0o644;

/// The directory that `path` is in (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// A fresh hidden name beside `target`, `.{name}.{tag}-{pid}-{random}`, for a temporary or
/// backup copy: in the same directory, so that renaming it to `target` never crosses file
/// systems.
pub fn sibling_path(target: &Path, tag: &str) -> io::Result<PathBuf> {
    let name = target
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    Ok(parent_dir(target).join(format!(
        ".{}.{tag}-{}-{:016x}",
        name.to_string_lossy(),
        std::process::id(),
        rand::random::<u64>()
    )))
}

/// Makes the renames done in `dir` durable (fsync of the directory). Not every platform can
/// open a directory: callers that only want the best effort ignore the error.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A file written to a temporary name in its target's directory and fsynced, waiting to be
/// renamed over the target. Dropping it without [`StagedFile::commit`] removes the temporary
/// file, so a failed run leaves nothing behind and never a partial target.
#[derive(Debug)]
pub struct StagedFile {
    temporary: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl StagedFile {
    /// Writes `bytes` to a new temporary file next to `target` with the given Unix mode
    /// ([`SECRET_FILE_MODE`] or [`PUBLIC_FILE_MODE`]; ignored elsewhere).
    pub fn create(target: &Path, bytes: &[u8], mode: u32) -> io::Result<Self> {
        Self::create_with(target, mode, |file| file.write_all(bytes))
    }

    /// Like [`StagedFile::create`], but the content is streamed by `write` (for files too large
    /// to hold in memory, e.g. a powers-of-tau file); the file is fsynced once `write` returns
    /// `Ok`. If `write` fails, the temporary file is removed and its error returned.
    pub fn create_with<E: From<io::Error>>(
        target: &Path,
        mode: u32,
        write: impl FnOnce(&mut File) -> Result<(), E>,
    ) -> Result<Self, E> {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let staged = Self {
            temporary: sibling_path(target, "tmp")?,
            target: target.to_path_buf(),
            committed: false,
        };
        let mut file = options.open(&staged.temporary)?;
        write(&mut file)?;
        file.sync_all()?;
        Ok(staged)
    }

    /// The path the file will have once committed.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Renames the temporary file over the target and syncs the directory.
    pub fn commit(mut self) -> io::Result<()> {
        fs::rename(&self.temporary, &self.target)?;
        self.committed = true;
        // Directory fsync makes the rename durable; not every platform allows opening one.
        let _ = sync_dir(parent_dir(&self.target));
        Ok(())
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.temporary);
        }
    }
}

/// Why [`read_bounded`] returned no bytes.
#[derive(Debug, thiserror::Error)]
pub enum BoundedReadError {
    /// The file could not be opened or read.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The file is larger than the caller allows.
    #[error("the file is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// The file's size in bytes (at least `limit + 1`).
        size: u64,
        /// The limit in bytes.
        limit: u64,
    },
}

/// Reads a whole file of at most `limit` bytes; a larger one is refused as
/// [`BoundedReadError::TooLarge`] without reading it (or, if its size is not known in advance,
/// after reading `limit + 1` bytes).
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, BoundedReadError> {
    let file = File::open(path)?;
    let size = file.metadata()?.len();
    if size > limit {
        return Err(BoundedReadError::TooLarge { size, limit });
    }
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(BoundedReadError::TooLarge {
            size: size.max(bytes.len() as u64),
            limit,
        });
    }
    Ok(bytes)
}

/// Why [`replace_dir`] did not complete. Each message says where the old and the new
/// directory are.
#[derive(Debug, thiserror::Error)]
pub enum ReplaceDirError {
    /// The old directory could not be moved aside: nothing changed.
    #[error("cannot move {} aside to {}: {source}; nothing was changed", target.display(), backup.display())]
    MoveAside {
        /// The directory being replaced.
        target: PathBuf,
        /// Where it was to be kept until the replacement is in place.
        backup: PathBuf,
        /// The reason.
        #[source]
        source: io::Error,
    },
    /// The new directory could not be moved into place; the old one was put back.
    #[error("cannot move {} to {}: {source}; the previous {} was put back", staged.display(), target.display(), target.display())]
    MoveIn {
        /// The new directory (left where it is).
        staged: PathBuf,
        /// The directory being replaced.
        target: PathBuf,
        /// The reason.
        #[source]
        source: io::Error,
    },
    /// The new directory could not be moved into place, nor the old one put back.
    #[error("cannot move {} to {} ({move_error}), nor put the previous one back: {source}; it is at {}", staged.display(), target.display(), backup.display())]
    Restore {
        /// The new directory (left where it is).
        staged: PathBuf,
        /// The directory being replaced, now absent.
        target: PathBuf,
        /// Where the previous directory is.
        backup: PathBuf,
        /// Why the new directory could not be moved in.
        move_error: io::Error,
        /// Why the previous one could not be put back.
        #[source]
        source: io::Error,
    },
    /// The new directory is in place, but the previous one could not be deleted.
    #[error("replaced {}, but could not delete the previous one at {}: {source}; delete it by hand", target.display(), backup.display())]
    BackupLeft {
        /// The replaced directory (now the new one).
        target: PathBuf,
        /// Where the previous directory still is.
        backup: PathBuf,
        /// The reason.
        #[source]
        source: io::Error,
    },
}

/// Replaces the directory `target` with `staged` (a directory beside it): `target` is moved
/// aside to a backup, `staged` renamed to `target`, then the backup deleted; if `staged` cannot
/// be moved in, the backup is put back. Between the two renames `target` is briefly absent
/// (swapping two directories atomically has no portable call).
pub fn replace_dir(staged: &Path, target: &Path) -> Result<(), ReplaceDirError> {
    let backup = sibling_path(target, "old").map_err(|source| ReplaceDirError::MoveAside {
        target: target.to_path_buf(),
        backup: target.to_path_buf(),
        source,
    })?;
    fs::rename(target, &backup).map_err(|source| ReplaceDirError::MoveAside {
        target: target.to_path_buf(),
        backup: backup.clone(),
        source,
    })?;
    if let Err(move_error) = fs::rename(staged, target) {
        return Err(match fs::rename(&backup, target) {
            Ok(()) => ReplaceDirError::MoveIn {
                staged: staged.to_path_buf(),
                target: target.to_path_buf(),
                source: move_error,
            },
            Err(source) => ReplaceDirError::Restore {
                staged: staged.to_path_buf(),
                target: target.to_path_buf(),
                backup,
                move_error,
                source,
            },
        });
    }
    let _ = sync_dir(parent_dir(target));
    fs::remove_dir_all(&backup).map_err(|source| ReplaceDirError::BackupLeft {
        target: target.to_path_buf(),
        backup,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temporary directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "gridproof-fs-{name}-{}-{:x}",
                std::process::id(),
                rand::random::<u32>()
            ));
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn staged_files_appear_only_on_commit() {
        let scratch = Scratch::new("staged");
        let target = scratch.0.join("out.json");
        let staged = StagedFile::create(&target, b"one", SECRET_FILE_MODE).unwrap();
        assert!(!target.exists());
        assert_eq!(names(&scratch.0).len(), 1);
        staged.commit().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&target).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, SECRET_FILE_MODE);
        }
        // Dropped without commit: the target keeps its content, no temporary file is left.
        drop(StagedFile::create(&target, b"two", PUBLIC_FILE_MODE).unwrap());
        assert_eq!(fs::read(&target).unwrap(), b"one");
        assert_eq!(names(&scratch.0), ["out.json"]);
    }

    #[test]
    fn bounded_reads_refuse_larger_files_with_their_size() {
        let scratch = Scratch::new("bounded");
        let path = scratch.0.join("f");
        fs::write(&path, b"12345").unwrap();
        assert_eq!(read_bounded(&path, 5).unwrap(), b"12345");
        match read_bounded(&path, 4) {
            Err(BoundedReadError::TooLarge { size: 5, limit: 4 }) => {}
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            read_bounded(&scratch.0.join("missing"), 4),
            Err(BoundedReadError::Io(_))
        ));
    }

    #[test]
    fn a_directory_is_replaced_or_left_as_it_was() {
        let scratch = Scratch::new("replace");
        let target = scratch.0.join("keys");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("manifest.json"), b"old").unwrap();

        // The new directory cannot be moved in (it does not exist): the old one is put back.
        let missing = scratch.0.join("missing");
        let err = replace_dir(&missing, &target).unwrap_err();
        assert!(matches!(err, ReplaceDirError::MoveIn { .. }), "{err}");
        assert!(err.to_string().contains("was put back"), "{err}");
        assert_eq!(fs::read(target.join("manifest.json")).unwrap(), b"old");
        assert_eq!(names(&scratch.0), ["keys"]);

        // A good replacement leaves only the new directory.
        let staged = scratch.0.join(".keys.new");
        fs::create_dir(&staged).unwrap();
        fs::write(staged.join("manifest.json"), b"new").unwrap();
        replace_dir(&staged, &target).unwrap();
        assert_eq!(fs::read(target.join("manifest.json")).unwrap(), b"new");
        assert_eq!(names(&scratch.0), ["keys"]);

        // Nothing to replace: nothing changes.
        let err = replace_dir(&staged, &scratch.0.join("absent")).unwrap_err();
        assert!(matches!(err, ReplaceDirError::MoveAside { .. }), "{err}");
    }
}

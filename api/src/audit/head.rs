//! Signed tree heads: the service's Ed25519 key signs `(tree_size, root_hash, timestamp_ms)` in a
//! fixed binary encoding, so that anyone holding an old head can later prove the service showed
//! them that log (and a consistency proof shows whether the current log extends it).
//!
//! The key lives in a file (64 hex characters of the 32-byte Ed25519 seed, mode 0600), never in
//! the database: a copy of the database cannot sign a rewritten log.

use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand::RngCore;
use zeroize::Zeroizing;

use super::tree::Hash;

/// Domain separation of the signed message (a signature over a head is never valid for anything
/// else the key might sign).
pub const HEAD_SIGNATURE_DOMAIN: &[u8] = b"gridproof audit tree head v1\0";

/// The environment variable `serve` reads the key file's path from (like `--audit-key`).
pub const AUDIT_KEY_FILE_ENV: &str = "GRIDPROOF_AUDIT_KEY_FILE";

/// Why a key could not be loaded, made or used, or a head does not verify.
#[derive(Debug, thiserror::Error)]
pub enum AuditKeyError {
    /// The key file could not be read.
    #[error("cannot read the audit key file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// The key file could not be written.
    #[error("cannot write the audit key file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: std::io::Error,
    },
    /// Group or others may read the key file.
    #[error("the audit key file {path} has mode {mode:o}; it must not be readable by group or others (chmod 600)")]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file does not hold 64 hex characters.
    #[error("the audit key in {0} is not 64 hex characters (an Ed25519 seed)")]
    Malformed(String),
}

/// Why a signed head does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    /// The public key is not a valid Ed25519 point.
    #[error("the public key is not a valid Ed25519 key")]
    BadPublicKey,
    /// The signature does not verify over the head with the key.
    #[error("the signature does not verify over (tree_size, root_hash, timestamp_ms) with the public key")]
    BadSignature,
}

/// The bytes an Ed25519 signature covers: [`HEAD_SIGNATURE_DOMAIN`], then `tree_size` and
/// `timestamp_ms` as 8 bytes big-endian around the 32-byte root: 77 bytes in all.
pub fn head_message(tree_size: u64, root_hash: &Hash, timestamp_ms: u64) -> Vec<u8> {
    let mut m = Vec::with_capacity(HEAD_SIGNATURE_DOMAIN.len() + 48);
    m.extend_from_slice(HEAD_SIGNATURE_DOMAIN);
    m.extend_from_slice(&tree_size.to_be_bytes());
    m.extend_from_slice(root_hash);
    m.extend_from_slice(&timestamp_ms.to_be_bytes());
    m
}

/// A tree head with its signature and the key that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTreeHead {
    /// Entries in the log.
    pub tree_size: u64,
    /// The RFC 6962 Merkle Tree Hash of those entries.
    pub root_hash: Hash,
    /// When the head was signed (Unix ms).
    pub timestamp_ms: u64,
    /// The Ed25519 public key of the service.
    pub public_key: [u8; 32],
    /// Ed25519 over [`head_message`].
    pub signature: [u8; 64],
}

impl SignedTreeHead {
    /// Checks the signature with the head's own public key (strict verification: no small-order
    /// keys or malleable signatures). Whether that key is the one expected is the caller's check.
    pub fn verify(&self) -> Result<(), HeadError> {
        let key =
            VerifyingKey::from_bytes(&self.public_key).map_err(|_| HeadError::BadPublicKey)?;
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(
            &head_message(self.tree_size, &self.root_hash, self.timestamp_ms),
            &signature,
        )
        .map_err(|_| HeadError::BadSignature)
    }
}

/// The service's head-signing key (`Debug` shows only the public key).
pub struct AuditKey {
    signing: SigningKey,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AuditKey(public {})", self.public_key_hex())
    }
}

impl AuditKey {
    /// A new random key (not saved anywhere: for tests; the service uses a key file).
    pub fn generate() -> AuditKey {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut seed[..]);
        AuditKey {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The key of a 32-byte seed.
    pub fn from_seed(seed: &[u8; 32]) -> AuditKey {
        AuditKey {
            signing: SigningKey::from_bytes(seed),
        }
    }

    fn from_hex(text: &str, source: &str) -> Result<AuditKey, AuditKeyError> {
        let bytes = Zeroizing::new(
            hex::decode(text.trim()).map_err(|_| AuditKeyError::Malformed(source.into()))?,
        );
        let seed: &[u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| AuditKeyError::Malformed(source.into()))?;
        Ok(AuditKey::from_seed(seed))
    }

    /// Loads the key of a file written by [`AuditKey::create_file`] (or
    /// `gridproof audit keygen`); refuses a file that group or others may read.
    pub fn load(path: &Path) -> Result<AuditKey, AuditKeyError> {
        let read = |source| AuditKeyError::Read {
            path: path.to_path_buf(),
            source,
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(read)?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(AuditKeyError::Permissions {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(read)?);
        AuditKey::from_hex(&text, &path.display().to_string())
    }

    /// Writes a new random key to `path` (created with mode 0600; an existing file is an error,
    /// so a key is never overwritten) and returns it.
    pub fn create_file(path: &Path) -> Result<AuditKey, AuditKeyError> {
        use std::io::Write;
        let write = |source| AuditKeyError::Write {
            path: path.to_path_buf(),
            source,
        };
        let key = AuditKey::generate();
        let text = Zeroizing::new(format!("{}\n", hex::encode(key.signing.to_bytes())));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(write)?;
        file.write_all(text.as_bytes()).map_err(write)?;
        file.sync_all().map_err(write)?;
        Ok(key)
    }

    /// The key of `path`, made there first if the file does not exist (`true` when it was).
    pub fn load_or_create(path: &Path) -> Result<(AuditKey, bool), AuditKeyError> {
        match AuditKey::create_file(path) {
            Ok(key) => Ok((key, true)),
            Err(AuditKeyError::Write { source, .. })
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                Ok((AuditKey::load(path)?, false))
            }
            Err(e) => Err(e),
        }
    }

    /// The public key (what clients pin).
    pub fn public_key(&self) -> [u8; 32] {
        self.signing.verifying_key().to_bytes()
    }

    /// The public key as 64 hex characters (safe to log).
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public_key())
    }

    /// Signs a head.
    pub fn sign_head(&self, tree_size: u64, root_hash: Hash, timestamp_ms: u64) -> SignedTreeHead {
        let signature = self
            .signing
            .sign(&head_message(tree_size, &root_hash, timestamp_ms));
        SignedTreeHead {
            tree_size,
            root_hash,
            timestamp_ms,
            public_key: self.public_key(),
            signature: signature.to_bytes(),
        }
    }
}

/// Where `serve` keeps its audit key when none is given and the store is an SQLite file: beside
/// it, `<database>.audit-key`. `None` for PostgreSQL (the key must then be given explicitly).
pub fn default_key_path(database_url: &str) -> Option<PathBuf> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        return None;
    }
    let path = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))
        .unwrap_or(database_url);
    if path.is_empty() || path.contains("://") || path.starts_with(':') {
        return None;
    }
    Some(PathBuf::from(format!("{path}.audit-key")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_verify_and_any_change_is_refused() {
        let key = AuditKey::from_seed(&[7; 32]);
        let head = key.sign_head(42, [9; 32], 1_700_000_000_000);
        head.verify().unwrap();
        assert_eq!(head_message(42, &[9; 32], 1).len(), 77);
        let mut bad = head.clone();
        bad.tree_size = 41;
        assert_eq!(bad.verify(), Err(HeadError::BadSignature));
        let mut bad = head.clone();
        bad.root_hash[31] ^= 1;
        assert_eq!(bad.verify(), Err(HeadError::BadSignature));
        let mut bad = head.clone();
        bad.timestamp_ms += 1;
        assert_eq!(bad.verify(), Err(HeadError::BadSignature));
        let mut bad = head.clone();
        bad.signature[0] ^= 1;
        assert!(bad.verify().is_err());
        let mut bad = head.clone();
        bad.public_key = AuditKey::from_seed(&[8; 32]).public_key();
        assert_eq!(bad.verify(), Err(HeadError::BadSignature));
    }

    #[test]
    fn key_files_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        let (made, created) = AuditKey::load_or_create(&path).unwrap();
        assert!(created);
        let (again, created) = AuditKey::load_or_create(&path).unwrap();
        assert!(!created);
        assert_eq!(made.public_key(), again.public_key());
        assert!(AuditKey::create_file(&path).is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                AuditKey::load(&path),
                Err(AuditKeyError::Permissions { .. })
            ));
        }
        let bad = dir.path().join("bad.key");
        std::fs::write(&bad, "abcd\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert!(matches!(
            AuditKey::load(&bad),
            Err(AuditKeyError::Malformed(_))
        ));
        assert!(!format!("{made:?}").contains(&hex::encode(made.signing.to_bytes())));
    }

    #[test]
    fn default_key_paths() {
        assert_eq!(
            default_key_path("gridproof.db"),
            Some(PathBuf::from("gridproof.db.audit-key"))
        );
        assert_eq!(
            default_key_path("sqlite:///var/lib/g.db"),
            Some(PathBuf::from("/var/lib/g.db.audit-key"))
        );
        assert_eq!(default_key_path("postgres://db/x"), None);
    }
}

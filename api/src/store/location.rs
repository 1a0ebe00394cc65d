//! Locations at rest: an installation's location and commitment salt are CEII, so the database
//! only ever holds them sealed with XChaCha20-Poly1305 under a key that lives outside it (a
//! file or an environment variable).
//!
//! Sealed form (`installations.location_sealed`): `0x01 || nonce (24 random bytes) ||
//! ciphertext+tag`, where the plaintext has a fixed length (81 bytes: the region is padded to
//! 31 bytes, so the size reveals nothing) and the associated data is
//! `"gridproof/location/v1" || site_id (u64 big-endian)`: a sealed location copied onto another
//! site's row does not open. Each row also names the key it was sealed with
//! ([`LocationCipher::key_id`], a fingerprint of the key, not the key), so a wrong key is
//! reported as such rather than as tampering.

use std::fmt;
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use gridproof_circuits::registry::{Location, MAX_REGION_BYTES};
use gridproof_circuits::Fr;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::codec::{fr_from_bytes, fr_to_bytes};

/// Environment variable holding the location key as 64 hexadecimal characters.
pub const LOCATION_KEY_ENV: &str = "GRIDPROOF_LOCATION_KEY";
/// Environment variable naming a file that holds the location key (64 hex characters).
pub const LOCATION_KEY_FILE_ENV: &str = "GRIDPROOF_LOCATION_KEY_FILE";

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const PLAINTEXT_LEN: usize = 1 + 8 + 8 + 32 + 1 + MAX_REGION_BYTES;
const AAD_DOMAIN: &[u8] = b"gridproof/location/v1";

/// What a sealed location holds: the location and the salt of its registry commitment
/// (`Location::commitment(salt)`). Both are secret; `Debug` prints neither.
#[derive(Clone, PartialEq, Eq)]
pub struct LocationSecret {
    /// Where the installation is (CEII).
    pub location: Location,
    /// The salt that hides the location in the registry leaf; a disclosure reveals it.
    pub salt: Fr,
}

impl fmt::Debug for LocationSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LocationSecret(<redacted>)")
    }
}

/// A location as stored: opaque bytes plus the id of the key that sealed them.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedLocation {
    /// [`LocationCipher::key_id`] of the sealing key.
    pub key_id: String,
    /// `0x01 || nonce || ciphertext+tag`.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for SealedLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedLocation {{ key_id: {:?}, {} bytes }}",
            self.key_id,
            self.bytes.len()
        )
    }
}

/// Why a location key could not be loaded or a location not sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum LocationError {
    /// The key file could not be read.
    #[error("cannot read the location key file {path}: {source}")]
    KeyFileRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The key file may be read by other users (Unix permissions); it must be 0600 or 0400.
    #[error(
        "the location key file {path} is readable by group or others (mode {mode:o}); \
         run `chmod 600 {path}`"
    )]
    KeyFilePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key text is not 64 hexadecimal characters.
    #[error("the location key from {source_name} must be 64 hexadecimal characters (32 bytes)")]
    KeyFormat {
        /// Where it came from: a file path or an environment variable.
        source_name: String,
    },
    /// Neither [`LOCATION_KEY_ENV`] nor [`LOCATION_KEY_FILE_ENV`] is set.
    #[error("no location key: set {LOCATION_KEY_FILE_ENV} to a key file or {LOCATION_KEY_ENV} to 64 hex characters")]
    NoKey,
    /// The location is outside the ranges the registry commitment accepts.
    #[error("invalid location: {0}")]
    Invalid(#[from] gridproof_circuits::registry::RegistryError),
    /// The row was sealed under another key than the one loaded.
    #[error(
        "the location of site {site_id} was sealed with key {stored_key_id}, but the loaded key \
         is {loaded_key_id}"
    )]
    WrongKey {
        /// The site.
        site_id: u64,
        /// Key id recorded with the row.
        stored_key_id: String,
        /// Key id of the loaded key.
        loaded_key_id: String,
    },
    /// Authentication failed under the right key: the bytes were altered or moved from
    /// another site's row.
    #[error("the sealed location of site {site_id} does not authenticate (altered or moved)")]
    Tampered {
        /// The site.
        site_id: u64,
    },
    /// The sealed bytes have an unknown format or length.
    #[error("the sealed location of site {site_id} is malformed: {detail}")]
    Malformed {
        /// The site.
        site_id: u64,
        /// What is wrong.
        detail: &'static str,
    },
    /// The key file could not be written.
    #[error("cannot write the location key file {path}: {source}")]
    KeyFileWrite {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Seals and opens installation locations. Holds the 32-byte key (zeroized on drop); its
/// `Debug` shows only the key id. Build it once at start-up and share it (`Arc`).
#[derive(Clone)]
pub struct LocationCipher {
    aead: XChaCha20Poly1305,
    key_id: String,
}

impl fmt::Debug for LocationCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LocationCipher {{ key_id: {:?} }}", self.key_id)
    }
}

impl LocationCipher {
    /// A cipher over a 32-byte key.
    pub fn from_key(key: &[u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(b"gridproof/location-key-id/v1");
        h.update(key);
        let key_id = hex::encode(&h.finalize()[..8]);
        let aead = XChaCha20Poly1305::new(&(*key).into());
        LocationCipher { aead, key_id }
    }

    /// A cipher over a key given as 64 hex characters (surrounding whitespace ignored);
    /// `source_name` names where the text came from, for the error message.
    pub fn from_hex(text: &str, source_name: &str) -> Result<Self, LocationError> {
        let format_error = || LocationError::KeyFormat {
            source_name: source_name.to_string(),
        };
        let text = text.trim();
        if text.len() != 64 {
            return Err(format_error());
        }
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(text, &mut key[..]).map_err(|_| format_error())?;
        Ok(Self::from_key(&key))
    }

    /// Loads the key from a file holding 64 hex characters. On Unix the file must not be
    /// readable by group or others.
    pub fn from_key_file(path: &Path) -> Result<Self, LocationError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path).map_err(|source| LocationError::KeyFileRead {
                path: path.to_path_buf(),
                source,
            })?;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(LocationError::KeyFilePermissions {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
            LocationError::KeyFileRead {
                path: path.to_path_buf(),
                source,
            }
        })?);
        Self::from_hex(&text, &path.display().to_string())
    }

    /// Loads the key from [`LOCATION_KEY_FILE_ENV`] (a path) or else [`LOCATION_KEY_ENV`]
    /// (the hex key itself).
    pub fn from_env() -> Result<Self, LocationError> {
        if let Some(path) = std::env::var_os(LOCATION_KEY_FILE_ENV) {
            return Self::from_key_file(Path::new(&path));
        }
        match std::env::var(LOCATION_KEY_ENV) {
            Ok(text) => Self::from_hex(&Zeroizing::new(text), LOCATION_KEY_ENV),
            Err(_) => Err(LocationError::NoKey),
        }
    }

    /// Writes a new random key to `path` (created with mode 0600; an existing file is an
    /// error, so a key is never overwritten) and returns its cipher. For first runs and demos;
    /// production keys come from the operator's secret store.
    pub fn create_key_file(path: &Path) -> Result<Self, LocationError> {
        use std::io::Write;
        let write_error = |source| LocationError::KeyFileWrite {
            path: path.to_path_buf(),
            source,
        };
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut key[..]);
        let text = Zeroizing::new(format!("{}\n", hex::encode(&key[..])));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(write_error)?;
        file.write_all(text.as_bytes()).map_err(write_error)?;
        file.sync_all().map_err(write_error)?;
        Ok(Self::from_key(&key))
    }

    /// Fingerprint of the key (16 hex characters of a domain-separated SHA-256): recorded with
    /// each sealed row, safe to log.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Seals `secret` for `site_id` (a fresh random nonce each time). Refuses a location the
    /// registry could not commit to.
    pub fn seal(
        &self,
        site_id: u64,
        secret: &LocationSecret,
    ) -> Result<SealedLocation, LocationError> {
        secret.location.validate()?;
        let plaintext = Zeroizing::new(encode_plaintext(secret));
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = associated_data(site_id);
        let ciphertext = self
            .aead
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &plaintext[..],
                    aad: &aad,
                },
            )
            // Encryption fails only for inputs over ~256 GiB; ours are 81 bytes.
            .expect("XChaCha20-Poly1305 encrypts an 81-byte message");
        let mut bytes = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        bytes.push(FORMAT_V1);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Ok(SealedLocation {
            key_id: self.key_id.clone(),
            bytes,
        })
    }

    /// Opens the sealed location of `site_id`: [`LocationError::WrongKey`] if it was sealed
    /// under another key, [`LocationError::Tampered`] if it does not authenticate.
    pub fn open(
        &self,
        site_id: u64,
        sealed: &SealedLocation,
    ) -> Result<LocationSecret, LocationError> {
        if sealed.key_id != self.key_id {
            return Err(LocationError::WrongKey {
                site_id,
                stored_key_id: sealed.key_id.clone(),
                loaded_key_id: self.key_id.clone(),
            });
        }
        let b = &sealed.bytes;
        if b.first() != Some(&FORMAT_V1) {
            return Err(LocationError::Malformed {
                site_id,
                detail: "unknown format byte",
            });
        }
        if b.len() != 1 + NONCE_LEN + PLAINTEXT_LEN + TAG_LEN {
            return Err(LocationError::Malformed {
                site_id,
                detail: "wrong length",
            });
        }
        let nonce: [u8; NONCE_LEN] = b[1..1 + NONCE_LEN]
            .try_into()
            .expect("length checked above");
        let aad = associated_data(site_id);
        let plaintext = Zeroizing::new(
            self.aead
                .decrypt(
                    &XNonce::from(nonce),
                    Payload {
                        msg: &b[1 + NONCE_LEN..],
                        aad: &aad,
                    },
                )
                .map_err(|_| LocationError::Tampered { site_id })?,
        );
        decode_plaintext(&plaintext).ok_or(LocationError::Malformed {
            site_id,
            detail: "bad plaintext",
        })
    }
}

fn associated_data(site_id: u64) -> Vec<u8> {
    let mut aad = AAD_DOMAIN.to_vec();
    aad.extend_from_slice(&site_id.to_be_bytes());
    aad
}

/// `version (1) || lat i64 BE || lon i64 BE || salt (32) || region length (1) || region padded
/// with zeros to 31 bytes`: fixed length.
fn encode_plaintext(secret: &LocationSecret) -> Vec<u8> {
    let mut p = Vec::with_capacity(PLAINTEXT_LEN);
    p.push(FORMAT_V1);
    p.extend_from_slice(&secret.location.latitude_microdeg.to_be_bytes());
    p.extend_from_slice(&secret.location.longitude_microdeg.to_be_bytes());
    p.extend_from_slice(&fr_to_bytes(&secret.salt));
    let region = secret.location.region.as_bytes();
    // validate() bounds the region to MAX_REGION_BYTES (31), so it fits one length byte.
    p.push(region.len() as u8);
    p.extend_from_slice(region);
    p.resize(PLAINTEXT_LEN, 0);
    p
}

fn decode_plaintext(p: &[u8]) -> Option<LocationSecret> {
    if p.len() != PLAINTEXT_LEN || p[0] != FORMAT_V1 {
        return None;
    }
    let latitude_microdeg = i64::from_be_bytes(p[1..9].try_into().ok()?);
    let longitude_microdeg = i64::from_be_bytes(p[9..17].try_into().ok()?);
    let salt = fr_from_bytes(&p[17..49], "location salt").ok()?;
    let n = usize::from(p[49]);
    if n > MAX_REGION_BYTES {
        return None;
    }
    let region = std::str::from_utf8(&p[50..50 + n]).ok()?.to_string();
    Some(LocationSecret {
        location: Location {
            latitude_microdeg,
            longitude_microdeg,
            region,
        },
        salt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> LocationSecret {
        LocationSecret {
            location: Location {
                latitude_microdeg: 41_878_113,
                longitude_microdeg: -87_629_799,
                region: "US-IL".into(),
            },
            salt: Fr::from(987_654_321u64),
        }
    }

    #[test]
    fn seal_open_round_trip_and_fixed_size() {
        let c = LocationCipher::from_key(&[7u8; 32]);
        let a = c.seal(101, &secret()).unwrap();
        let mut long = secret();
        long.location.region = "X".repeat(MAX_REGION_BYTES);
        let b = c.seal(101, &long).unwrap();
        assert_eq!(
            a.bytes.len(),
            b.bytes.len(),
            "the size must not reveal the region"
        );
        assert_eq!(c.open(101, &a).unwrap(), secret());
        assert_eq!(c.open(101, &b).unwrap(), long);
        // Fresh nonce each time.
        assert_ne!(c.seal(101, &secret()).unwrap().bytes, a.bytes);
    }

    #[test]
    fn wrong_key_other_site_and_flipped_bits_are_refused() {
        let c = LocationCipher::from_key(&[7u8; 32]);
        let other = LocationCipher::from_key(&[8u8; 32]);
        let sealed = c.seal(101, &secret()).unwrap();
        assert!(matches!(
            other.open(101, &sealed),
            Err(LocationError::WrongKey { .. })
        ));
        assert!(matches!(
            c.open(102, &sealed),
            Err(LocationError::Tampered { site_id: 102 })
        ));
        for i in 0..sealed.bytes.len() {
            let mut t = sealed.clone();
            t.bytes[i] ^= 1;
            assert!(c.open(101, &t).is_err(), "flipped byte {i} accepted");
        }
        // A forged key id does not help the wrong key either.
        let mut relabelled = sealed.clone();
        relabelled.key_id = other.key_id().to_string();
        assert!(matches!(
            other.open(101, &relabelled),
            Err(LocationError::Tampered { .. })
        ));
    }

    #[test]
    fn invalid_locations_are_not_sealed_and_debug_hides_secrets() {
        let c = LocationCipher::from_key(&[0x5a; 32]);
        let mut bad = secret();
        bad.location.latitude_microdeg = 91_000_000;
        assert!(matches!(c.seal(1, &bad), Err(LocationError::Invalid(_))));
        let shown = format!("{c:?} {:?} {:?}", secret(), c.seal(1, &secret()).unwrap());
        assert!(!shown.contains("5a5a"), "{shown}");
        assert!(
            !shown.contains("US-IL") && !shown.contains("41878113"),
            "{shown}"
        );
    }

    #[test]
    fn key_text_and_files() {
        let hex_key = "11".repeat(32);
        let a = LocationCipher::from_hex(&format!(" {hex_key}\n"), "test").unwrap();
        assert_eq!(a.key_id(), LocationCipher::from_key(&[0x11; 32]).key_id());
        assert!(matches!(
            LocationCipher::from_hex("abcd", "test"),
            Err(LocationError::KeyFormat { .. })
        ));
        assert!(LocationCipher::from_hex(&"zz".repeat(32), "test").is_err());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("location.key");
        let made = LocationCipher::create_key_file(&path).unwrap();
        assert_eq!(
            LocationCipher::from_key_file(&path).unwrap().key_id(),
            made.key_id()
        );
        assert!(matches!(
            LocationCipher::create_key_file(&path),
            Err(LocationError::KeyFileWrite { .. })
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(
                LocationCipher::from_key_file(&path),
                Err(LocationError::KeyFilePermissions { .. })
            ));
        }
    }
}

//! Regulator keys: X25519 key pairs of HPKE's DHKEM(X25519, HKDF-SHA256). A regulator makes its
//! pair once (`gridproof regulator keygen`), keeps the secret key in a mode-0600 file and gives
//! the public key (64 hex characters) to the service, which seals bundles to it.
//!
//! Secret key file: the 32-byte key (clamped, RFC 9180's SerializePrivateKey) as 64 lowercase
//! hex characters and a newline.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, Serializable};
use zeroize::Zeroizing;

use super::DisclosureError;
use crate::fs::{read_bounded, BoundedReadError, StagedFile, SECRET_FILE_MODE};

type KemPrivateKey = <X25519HkdfSha256 as Kem>::PrivateKey;
type KemPublicKey = <X25519HkdfSha256 as Kem>::PublicKey;

/// Largest key file read (64 hex characters, a newline, some whitespace).
const MAX_KEY_FILE_BYTES: u64 = 1024;

/// A regulator's X25519 secret key: opens the bundles sealed to its public key. Secret: never
/// logged (its `Debug` shows nothing), written only with mode 0600.
#[derive(Clone)]
pub struct RegulatorSecretKey(KemPrivateKey);

/// A regulator's X25519 public key: what bundles are sealed to. Public; printed and parsed as
/// 64 hex characters.
#[derive(Clone, PartialEq, Eq)]
pub struct RegulatorPublicKey(KemPublicKey);

impl fmt::Debug for RegulatorSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RegulatorSecretKey(<secret>)")
    }
}

impl fmt::Debug for RegulatorPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegulatorPublicKey({})", self.to_hex())
    }
}

fn parse_hex32(text: &str, what: &str) -> Result<Zeroizing<[u8; 32]>, DisclosureError> {
    let text = text.trim();
    let mut bytes = Zeroizing::new([0u8; 32]);
    if text.len() != 64 {
        return Err(DisclosureError::Key(format!(
            "{what} must be 64 hex characters (32 bytes), got {} characters",
            text.len()
        )));
    }
    hex::decode_to_slice(text, bytes.as_mut())
        .map_err(|e| DisclosureError::Key(format!("{what} is not hex: {e}")))?;
    Ok(bytes)
}

impl RegulatorSecretKey {
    /// A fresh key pair from the operating system's random generator.
    pub fn generate() -> Self {
        let (secret, _) = X25519HkdfSha256::gen_keypair();
        Self(secret)
    }

    /// The key of 32 bytes (clamped as X25519 requires; every 32 bytes make a valid key). For
    /// deterministic tests and for keys kept elsewhere.
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(KemPrivateKey::from_bytes(bytes).expect("an X25519 secret key is any 32 bytes"))
    }

    /// The key's 32 bytes (clamped). Secret.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&self.0.to_bytes());
        out
    }

    /// Parses 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, DisclosureError> {
        Ok(Self::from_bytes(&*parse_hex32(
            text,
            "a regulator secret key",
        )?))
    }

    /// The key as 64 lowercase hex characters. Secret.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.to_bytes().as_ref()))
    }

    /// The public key that bundles for this regulator are sealed to.
    pub fn public_key(&self) -> RegulatorPublicKey {
        RegulatorPublicKey(X25519HkdfSha256::sk_to_pk(&self.0))
    }

    /// Writes the key to `path` atomically with mode 0600 (replacing any file there: callers
    /// refuse an existing file first if they must).
    pub fn write(&self, path: &Path) -> Result<(), DisclosureError> {
        let mut text = Zeroizing::new(String::with_capacity(65));
        text.push_str(&self.to_hex());
        text.push('\n');
        let io = |source| DisclosureError::Io {
            path: path.display().to_string(),
            source,
        };
        StagedFile::create(path, text.as_bytes(), SECRET_FILE_MODE)
            .map_err(io)?
            .commit()
            .map_err(io)
    }

    /// Reads a key file written by [`RegulatorSecretKey::write`].
    pub fn read(path: &Path) -> Result<Self, DisclosureError> {
        let display = path.display().to_string();
        let bytes =
            Zeroizing::new(read_bounded(path, MAX_KEY_FILE_BYTES).map_err(|e| match e {
                BoundedReadError::Io(source) => DisclosureError::Io {
                    path: display.clone(),
                    source,
                },
                BoundedReadError::TooLarge { size, .. } => DisclosureError::Key(format!(
                    "{display} is {size} bytes: not a regulator key file (64 hex characters)"
                )),
            })?);
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| DisclosureError::Key(format!("{display} is not a regulator key file")))?;
        Self::from_hex(text).map_err(|e| DisclosureError::Key(format!("{display}: {e}")))
    }

    pub(super) fn kem_key(&self) -> &KemPrivateKey {
        &self.0
    }
}

impl RegulatorPublicKey {
    /// The key of 32 bytes. Refuses a low-order point (an encapsulation to it would give the
    /// all-zero shared secret, which RFC 9180 forbids).
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, DisclosureError> {
        let key = KemPublicKey::from_bytes(bytes)
            .map_err(|e| DisclosureError::Key(format!("not an X25519 public key: {e}")))?;
        // One encapsulation tells a usable key from a low-order point.
        hpke::setup_sender::<hpke::aead::ChaCha20Poly1305, hpke::kdf::HkdfSha256, X25519HkdfSha256>(
            &hpke::OpModeS::Base,
            &key,
            b"gridproof/regulator-key-check",
        )
        .map_err(|_| {
            DisclosureError::Key(
                "the regulator public key is a low-order X25519 point; nothing can be sealed to it"
                    .into(),
            )
        })?;
        Ok(Self(key))
    }

    /// The key's 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&self.0.to_bytes());
        out
    }

    /// Parses 64 hex characters (surrounding whitespace ignored).
    pub fn from_hex(text: &str) -> Result<Self, DisclosureError> {
        Self::from_bytes(&*parse_hex32(text, "a regulator public key")?)
    }

    /// The key as 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.to_bytes())
    }

    pub(super) fn kem_key(&self) -> &KemPublicKey {
        &self.0
    }
}

impl fmt::Display for RegulatorPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl FromStr for RegulatorPublicKey {
    type Err = DisclosureError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

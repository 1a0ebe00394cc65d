//! The BUNDLE file: a [`DisclosureBundle`] sealed to one regulator's X25519 key with HPKE
//! (RFC 9180) in base mode, suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305,
//! with the [`BundleBinding`] in clear in the header and authenticated as associated data.
//!
//! ```text
//! offset  size  field
//! 0       8     magic "GPBUNDLE"
//! 8       2     format version, big-endian: 1
//! 10      6     HPKE suite: kem_id 0x0020, kdf_id 0x0001, aead_id 0x0003 (big-endian u16 each)
//! 16      n     binding: u16 length of disclosure_id, its bytes, u64 site_id, u64 epoch,
//!               u64 expires_at (unix seconds), all big-endian
//! 16+n    32    HPKE encapsulated key (the sender's ephemeral X25519 public key)
//! 48+n    rest  ciphertext: the bundle's JSON sealed by ChaCha20-Poly1305 (16-byte tag at the end)
//! ```
//! HPKE `info` is `"gridproof/disclosure-bundle/v1"`; the associated data is every byte before
//! the ciphertext (magic, version, suite, binding, encapsulated key). Any changed byte is
//! refused: the magic, version and suite by their value, everything else by the AEAD tag.

use hpke::aead::ChaCha20Poly1305;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};

use super::{DisclosureBundle, DisclosureError, RegulatorPublicKey, RegulatorSecretKey};

/// The first 8 bytes of every BUNDLE file.
pub const BUNDLE_MAGIC: [u8; 8] = *b"GPBUNDLE";

/// The BUNDLE file format version written and read by this build.
pub const BUNDLE_FILE_VERSION: u16 = 1;

/// RFC 9180 identifiers of the suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
/// ChaCha20-Poly1305.
pub const HPKE_SUITE: [u16; 3] = [0x0020, 0x0001, 0x0003];

/// HPKE `info` of every bundle: separates these keys' use from any other.
pub const HPKE_INFO: &[u8] = b"gridproof/disclosure-bundle/v1";

/// Longest disclosure id, in bytes.
pub const MAX_DISCLOSURE_ID_BYTES: usize = 256;

/// Largest BUNDLE file read (a bundle of T = 65,536 readings is about 1 MB).
pub const MAX_BUNDLE_BYTES: u64 = 16 << 20;

const ENCAPPED_KEY_BYTES: usize = 32;
const TAG_BYTES: usize = 16;

/// What a bundle is for: the disclosure it answers, the site and epoch, and until when the
/// regulator may rely on it. Authenticated (HPKE associated data) and readable without the key,
/// so the opener knows which disclosure a file is before opening it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleBinding {
    /// The disclosure request's id (1 to 256 printable ASCII characters).
    pub disclosure_id: String,
    /// The disclosed site.
    pub site_id: u64,
    /// The disclosed epoch.
    pub epoch: u64,
    /// When the disclosure expires, unix seconds.
    pub expires_at: u64,
}

impl BundleBinding {
    /// Checks the disclosure id (1 to [`MAX_DISCLOSURE_ID_BYTES`] printable ASCII characters, so
    /// it prints safely and encodes in one way).
    pub fn validate(&self) -> Result<(), DisclosureError> {
        let id = self.disclosure_id.as_bytes();
        if id.is_empty()
            || id.len() > MAX_DISCLOSURE_ID_BYTES
            || !id.iter().all(|b| (0x21..=0x7e).contains(b))
        {
            return Err(DisclosureError::Binding(format!(
                "a disclosure id must be 1 to {MAX_DISCLOSURE_ID_BYTES} printable ASCII \
                 characters without spaces, got {} bytes",
                id.len()
            )));
        }
        Ok(())
    }

    /// The canonical encoding (the header's binding field): u16 length and bytes of the id,
    /// then site_id, epoch and expires_at as big-endian u64.
    pub fn to_bytes(&self) -> Result<Vec<u8>, DisclosureError> {
        self.validate()?;
        let id = self.disclosure_id.as_bytes();
        let mut out = Vec::with_capacity(2 + id.len() + 24);
        out.extend_from_slice(&(id.len() as u16).to_be_bytes());
        out.extend_from_slice(id);
        out.extend_from_slice(&self.site_id.to_be_bytes());
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&self.expires_at.to_be_bytes());
        Ok(out)
    }
}

/// A cursor over the header that names what is missing when the file ends early.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DisclosureError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or(DisclosureError::Truncated(what))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, DisclosureError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, DisclosureError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8, what)?);
        Ok(u64::from_be_bytes(b))
    }
}

/// The header's fixed part: magic, version, suite.
fn fixed_header() -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&BUNDLE_MAGIC);
    out.extend_from_slice(&BUNDLE_FILE_VERSION.to_be_bytes());
    for id in HPKE_SUITE {
        out.extend_from_slice(&id.to_be_bytes());
    }
    out
}

/// Seals `bundle` to `regulator`: the bytes of a BUNDLE file. Refuses a binding whose site or
/// epoch differs from the bundle's (the opener relies on the binding to know what it holds).
/// Each call draws a fresh ephemeral key, so two seals of one bundle differ.
pub fn seal(
    bundle: &DisclosureBundle,
    binding: &BundleBinding,
    regulator: &RegulatorPublicKey,
) -> Result<Vec<u8>, DisclosureError> {
    if binding.site_id != bundle.site.site_id || binding.epoch != bundle.epoch {
        return Err(DisclosureError::Binding(format!(
            "the binding names site {} of epoch {}, the bundle holds site {} of epoch {}",
            binding.site_id, binding.epoch, bundle.site.site_id, bundle.epoch
        )));
    }
    let binding_bytes = binding.to_bytes()?;
    let (encapped, mut context) = hpke::setup_sender::<
        ChaCha20Poly1305,
        HkdfSha256,
        X25519HkdfSha256,
    >(&OpModeS::Base, regulator.kem_key(), HPKE_INFO)
    .map_err(|e| DisclosureError::Seal(e.to_string()))?;
    let mut header = fixed_header();
    header.extend_from_slice(&binding_bytes);
    header.extend_from_slice(&encapped.to_bytes());
    let plaintext = zeroize::Zeroizing::new(bundle.to_json());
    let ciphertext = context
        .seal(&plaintext, &header)
        .map_err(|e| DisclosureError::Seal(e.to_string()))?;
    header.extend_from_slice(&ciphertext);
    Ok(header)
}

/// Reads the binding of a BUNDLE file without opening it (it is in clear; it is authenticated
/// only when [`open`] succeeds).
pub fn read_binding(bytes: &[u8]) -> Result<BundleBinding, DisclosureError> {
    parse_header(bytes).map(|(binding, _, _)| binding)
}

/// Parses the header: the binding, the offset of the ciphertext (= length of the associated
/// data) and the encapsulated key.
fn parse_header(bytes: &[u8]) -> Result<(BundleBinding, usize, &[u8]), DisclosureError> {
    let mut r = Reader { bytes, at: 0 };
    let magic = r.take(BUNDLE_MAGIC.len(), "the magic")?;
    if magic != BUNDLE_MAGIC {
        return Err(DisclosureError::NotABundle);
    }
    let version = r.u16("the format version")?;
    if version != BUNDLE_FILE_VERSION {
        return Err(DisclosureError::UnsupportedVersion(version));
    }
    let suite = [
        r.u16("the HPKE suite")?,
        r.u16("the HPKE suite")?,
        r.u16("the HPKE suite")?,
    ];
    if suite != HPKE_SUITE {
        return Err(DisclosureError::UnsupportedSuite(suite));
    }
    let id_len = r.u16("the disclosure id")? as usize;
    let id = r.take(id_len, "the disclosure id")?;
    let disclosure_id = String::from_utf8(id.to_vec())
        .map_err(|_| DisclosureError::Binding("the disclosure id is not ASCII".into()))?;
    let binding = BundleBinding {
        disclosure_id,
        site_id: r.u64("the site id")?,
        epoch: r.u64("the epoch")?,
        expires_at: r.u64("the expiry")?,
    };
    binding.validate()?;
    let encapped = r.take(ENCAPPED_KEY_BYTES, "the encapsulated key")?;
    if bytes.len() - r.at < TAG_BYTES {
        return Err(DisclosureError::Truncated("the ciphertext"));
    }
    Ok((binding, r.at, encapped))
}

/// Opens a BUNDLE file with the regulator's secret key: the authenticated binding and the
/// bundle. Fails with [`DisclosureError::Open`] if the file was sealed to another key or any
/// byte of it was changed.
pub fn open(
    bytes: &[u8],
    regulator: &RegulatorSecretKey,
) -> Result<(BundleBinding, DisclosureBundle), DisclosureError> {
    let (binding, aad_len, encapped) = parse_header(bytes)?;
    let encapped = <X25519HkdfSha256 as Kem>::EncappedKey::from_bytes(encapped)
        .map_err(|_| DisclosureError::Open)?;
    let mut context = hpke::setup_receiver::<ChaCha20Poly1305, HkdfSha256, X25519HkdfSha256>(
        &OpModeR::Base,
        regulator.kem_key(),
        &encapped,
        HPKE_INFO,
    )
    .map_err(|_| DisclosureError::Open)?;
    let plaintext = zeroize::Zeroizing::new(
        context
            .open(&bytes[aad_len..], &bytes[..aad_len])
            .map_err(|_| DisclosureError::Open)?,
    );
    let bundle = DisclosureBundle::from_json(&plaintext)?;
    Ok((binding, bundle))
}

//! `gridproof meter`: test meters. `keygen` makes an EdDSA-Poseidon key on Baby Jubjub, `sign`
//! signs meter message v1 of some readings exactly as a circomlibjs meter would
//! (`signPoseidon`), `simulate` writes a realistic batch file of signed solar readings.
//!
//! Key file (written by `keygen --out`, mode 0600, secret):
//! `{ "note": "...", "private_key_hex": "<64 hex digits>", "public_key": ["<x>", "<y>"] }`.
//! The private key is the 32 bytes circomlibjs takes as `prv` (`eddsa.prv2pub(prv)`).

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use gridproof_circuits::eddsa::{PrivateKey, PublicKey};
use gridproof_circuits::encoding::{field_to_decimal, parse_uint};
use gridproof_circuits::meter::MeterMessage;
use serde::{Deserialize, Serialize};

use super::files::{ensure_absent, pretty_json, read_to_string, write_secret};
use super::simulate::{self, SimulateArgs};
use super::{parse_interval_seconds, parse_u64, CliError};

/// The `meter` subcommands.
#[derive(Debug, Subcommand)]
pub enum MeterCommand {
    /// Make a meter key. Prints the private key (hex, 32 bytes, as circomlibjs takes it) and
    /// the public key; with --out, writes both to FILE (mode 0600) and prints only the public key.
    Keygen(KeygenArgs),
    /// Sign meter message v1 of some readings (as circomlibjs `signPoseidon` does) and print the
    /// message hash and the signature as JSON.
    Sign(SignArgs),
    /// Write a realistic batch file v1: solar sites in Illinois and Massachusetts with signed
    /// readings for one epoch (deterministic with --seed).
    Simulate(SimulateArgs),
}

/// Options of `meter keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Write the key to FILE (JSON, mode 0600) instead of printing the private key.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace FILE if it exists.
    #[arg(long, requires = "out")]
    pub force: bool,
}

/// Where `meter sign` takes its key from (exactly one).
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct KeySource {
    /// The private key as 64 hex digits (visible to other users in the process list: prefer
    /// --key-file).
    #[arg(long, value_name = "HEX")]
    pub key: Option<String>,
    /// A key file written by `meter keygen --out` (or a file holding just the hex key).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

/// Where `meter sign` takes its readings from (exactly one).
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct ReadingsSource {
    /// Readings in Wh per interval, comma separated: "0,0,4200,51000".
    #[arg(long, value_name = "LIST")]
    pub readings: Option<String>,
    /// A file of readings: a JSON array (numbers or decimal strings) or a comma / whitespace
    /// separated list.
    #[arg(long, value_name = "FILE")]
    pub readings_file: Option<PathBuf>,
}

/// Options of `meter sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The meter's private key.
    #[command(flatten)]
    pub key: KeySource,
    /// The site the readings belong to (u64).
    #[arg(long, value_parser = parse_u64)]
    pub site_id: u64,
    /// The epoch (u64; the tools use days since 1970-01-01).
    #[arg(long, value_parser = parse_u64)]
    pub epoch: u64,
    /// Length of one reading interval in seconds (1..=4294967295).
    #[arg(long, value_parser = parse_interval_seconds)]
    pub interval_seconds: u32,
    /// The readings.
    #[command(flatten)]
    pub readings: ReadingsSource,
}

/// A meter key file (secret).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// A reminder that the file is secret.
    #[serde(default)]
    pub note: Option<String>,
    /// The 32-byte private key in hex.
    pub private_key_hex: String,
    /// The public key (x, y), decimal; checked against the private key on load.
    pub public_key: [String; 2],
}

/// The JSON that `meter sign` prints: the body of `POST /v1/readings` plus the message hash and
/// the public key.
#[derive(Debug, Serialize, Deserialize)]
pub struct SignedReadings {
    /// The site.
    pub site_id: u64,
    /// The epoch.
    pub epoch: u64,
    /// Interval length in seconds.
    pub interval_seconds: u32,
    /// The readings in Wh.
    pub readings_wh: Vec<u32>,
    /// Meter message v1 (decimal field element): what was signed.
    pub message: String,
    /// The signer's public key (x, y), decimal.
    pub meter_public_key: [String; 2],
    /// The signature: `{ "r8": [x, y], "s": s }`, decimal.
    pub signature: SignatureJson,
}

/// An EdDSA-Poseidon signature in decimal.
#[derive(Debug, Serialize, Deserialize)]
pub struct SignatureJson {
    /// R8 (x, y).
    pub r8: [String; 2],
    /// S.
    pub s: String,
}

/// Runs a `meter` subcommand.
pub fn run(command: MeterCommand) -> Result<(), CliError> {
    match command {
        MeterCommand::Keygen(args) => keygen(&args),
        MeterCommand::Sign(args) => sign(&args),
        MeterCommand::Simulate(args) => simulate::run(&args),
    }
}

/// The decimal (x, y) of a public key.
pub fn public_key_json(key: &PublicKey) -> [String; 2] {
    [field_to_decimal(&key.x), field_to_decimal(&key.y)]
}

/// The key file of a private key.
pub fn key_file(key: &PrivateKey) -> KeyFile {
    KeyFile {
        note: Some(
            "SECRET: a gridproof test meter's private key (EdDSA-Poseidon, Baby Jubjub)".into(),
        ),
        private_key_hex: hex::encode(key.to_bytes()),
        public_key: public_key_json(&key.public_key()),
    }
}

fn keygen(args: &KeygenArgs) -> Result<(), CliError> {
    let key = PrivateKey::random(&mut rand::rngs::OsRng);
    let file = key_file(&key);
    match &args.out {
        None => print!("{}", pretty_json(&file)),
        Some(path) => {
            ensure_absent(path, args.force)?;
            write_secret(path, pretty_json(&file).as_bytes())?;
            eprintln!("wrote the private key to {} (mode 0600)", path.display());
            print!(
                "{}",
                pretty_json(&serde_json::json!({ "public_key": file.public_key }))
            );
        }
    }
    Ok(())
}

/// Parses a private key: 64 hex digits, optionally prefixed with 0x.
pub fn parse_private_key_hex(text: &str) -> Result<PrivateKey, CliError> {
    let t = text.trim();
    let t = t.strip_prefix("0x").unwrap_or(t);
    let bytes = hex::decode(t).map_err(|e| {
        CliError::Input(format!(
            "the private key is not hex ({e}); expected 64 hex digits"
        ))
    })?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
        CliError::Input(format!(
            "the private key has {} bytes; expected 32 (64 hex digits)",
            b.len()
        ))
    })?;
    Ok(PrivateKey::from_bytes(bytes))
}

/// Reads a key file written by `keygen --out`, or a file holding only the hex key.
pub fn read_key_file(path: &Path) -> Result<PrivateKey, CliError> {
    let text = read_to_string(path)?;
    if !text.trim_start().starts_with('{') {
        return parse_private_key_hex(&text)
            .map_err(|e| CliError::Input(format!("{}: {e}", path.display())));
    }
    let file: KeyFile = serde_json::from_str(&text)
        .map_err(|e| CliError::Input(format!("{} is not a meter key file: {e}", path.display())))?;
    let key = parse_private_key_hex(&file.private_key_hex)
        .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?;
    if public_key_json(&key.public_key()) != file.public_key {
        return Err(CliError::Input(format!(
            "{}: public_key does not belong to private_key_hex",
            path.display()
        )));
    }
    Ok(key)
}

/// Parses readings: a JSON array of integers (numbers or decimal strings), or a list separated
/// by commas and/or whitespace. Each must be a canonical u32.
pub fn parse_readings(text: &str) -> Result<Vec<u32>, CliError> {
    let t = text.trim();
    let items: Vec<String> = if t.starts_with('[') {
        let values: Vec<serde_json::Value> = serde_json::from_str(t)
            .map_err(|e| CliError::Input(format!("readings are not a JSON array: {e}")))?;
        values
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect()
    } else {
        t.split(|c: char| c == ',' || c.is_ascii_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    if items.is_empty() {
        return Err(CliError::Input("no readings given".to_string()));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, s)| {
            parse_uint(s, 32).map(|v| v as u32).map_err(|e| {
                CliError::Input(format!(
                    "reading {i}: {e} (readings are Wh, 0..=4294967295)"
                ))
            })
        })
        .collect()
}

/// Signs meter message v1 of `readings_wh` and returns the JSON that `meter sign` prints.
pub fn sign_readings(
    key: &PrivateKey,
    site_id: u64,
    epoch: u64,
    interval_seconds: u32,
    readings_wh: Vec<u32>,
) -> SignedReadings {
    let message = MeterMessage {
        site_id,
        epoch,
        interval_seconds,
        readings_wh,
    };
    let hash = message.hash();
    let signature = key.sign(hash);
    SignedReadings {
        site_id,
        epoch,
        interval_seconds,
        readings_wh: message.readings_wh,
        message: field_to_decimal(&hash),
        meter_public_key: public_key_json(&key.public_key()),
        signature: SignatureJson {
            r8: [
                field_to_decimal(&signature.r8_x),
                field_to_decimal(&signature.r8_y),
            ],
            s: field_to_decimal(&signature.s),
        },
    }
}

fn sign(args: &SignArgs) -> Result<(), CliError> {
    let key = match (&args.key.key, &args.key.key_file) {
        (Some(hex), _) => parse_private_key_hex(hex)?,
        (None, Some(path)) => read_key_file(path)?,
        (None, None) => return Err(CliError::Input("give --key or --key-file".into())),
    };
    let readings = match (&args.readings.readings, &args.readings.readings_file) {
        (Some(list), _) => parse_readings(list)?,
        (None, Some(path)) => parse_readings(&read_to_string(path)?)
            .map_err(|e| CliError::Input(format!("{}: {e}", path.display())))?,
        (None, None) => return Err(CliError::Input("give --readings or --readings-file".into())),
    };
    let signed = sign_readings(
        &key,
        args.site_id,
        args.epoch,
        args.interval_seconds,
        readings,
    );
    print!("{}", pretty_json(&signed));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_lists_are_parsed_strictly() {
        assert_eq!(parse_readings("1,2, 3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_readings("[1, \"2\", 3]").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_readings("4 5\n6").unwrap(), vec![4, 5, 6]);
        assert!(parse_readings("").is_err());
        assert!(parse_readings("1,-2").is_err());
        assert!(parse_readings("1,2.5").is_err());
        assert!(parse_readings("[1.0]").is_err());
        assert!(parse_readings("4294967296").is_err());
        assert!(parse_readings("01").is_err());
    }

    #[test]
    fn private_keys_must_be_32_bytes_of_hex() {
        assert!(parse_private_key_hex(&"ab".repeat(32)).is_ok());
        assert!(parse_private_key_hex(&format!("0x{}", "ab".repeat(32))).is_ok());
        assert!(parse_private_key_hex(&"ab".repeat(31)).is_err());
        assert!(parse_private_key_hex("zz").is_err());
    }
}

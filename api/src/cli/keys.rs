//! `gridproof keys`: key directories. `import` turns the final `.zkey` of a snarkjs phase-2
//! ceremony (CEREMONY.md) into a key directory that `prove`, `verify` and `export-verifier` use
//! like any other; `info` shows a key directory's shape and provenance.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};
use gridproof_circuits::statement::BatchShape;
use gridproof_prover::ceremony::{import_zkey, shape_name, snarkjs_hash_lines, ImportPhase};
use gridproof_prover::fs::{replace_dir, sibling_path, ReplaceDirError};
use gridproof_prover::keys::{ContributionRecord, MANIFEST_FILE};
use gridproof_prover::{read_manifest, ContributionKind, Keys, Manifest, Provenance, QapReduction};

use super::files::pretty_json;
use super::{parse_count, CliError};

/// The `keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Import the final .zkey of a snarkjs phase-2 ceremony as a key directory for S sites x T
    /// readings. Refuses a zkey made for another circuit, a tampered one, and one without
    /// contributions; prints each contribution's hash to compare with the ceremony's
    /// transcript. Run `snarkjs zkey verify` on the zkey first (CEREMONY.md).
    Import(ImportArgs),
    /// Show a key directory's shape, constraint count and provenance: development (with its
    /// warning) or ceremony (zkey SHA-256, each contribution's name and hash, the beacon).
    Info(InfoArgs),
}

/// Options of `keys import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The final zkey of the ceremony (after the last contribution and the beacon).
    #[arg(long, value_name = "FINAL.zkey")]
    pub zkey: PathBuf,
    /// S: sites per batch (a power of two), as the ceremony's circuit was exported.
    #[arg(long, value_parser = parse_count)]
    pub sites: usize,
    /// T: readings per site per epoch.
    #[arg(long, value_parser = parse_count)]
    pub readings_per_site: usize,
    /// P: time-of-use price slots per site (4 to 11).
    #[arg(long, default_value_t = BatchShape::DEFAULT_PRICE_SLOTS, value_parser = parse_count)]
    pub price_slots: usize,
    /// The key directory to create (manifest.json, proving.key, verifying.key).
    #[arg(long, value_name = "KEYS")]
    pub out: PathBuf,
    /// Replace KEYS if it exists (only if it is a key directory).
    #[arg(long)]
    pub force: bool,
}

/// Options of `keys info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The key directory.
    #[arg(long, value_name = "KEYS")]
    pub keys: PathBuf,
    /// Print manifest.json as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `keys` subcommand.
pub fn run(command: KeysCommand) -> Result<(), CliError> {
    match command {
        KeysCommand::Import(args) => {
            let summary = import(&args)?;
            print!("{}", pretty_json(&summary));
            Ok(())
        }
        KeysCommand::Info(args) => {
            let manifest = read_manifest(&args.keys)?;
            if args.json {
                print!("{}", pretty_json(&manifest));
            } else {
                print!("{}", describe(&args.keys, &manifest));
            }
            Ok(())
        }
    }
}

/// Whether `out` holds something (an empty directory counts as nothing); refuses to go on
/// without `force`, or if it is not a key directory.
pub fn check_out_dir(out: &Path, force: bool) -> Result<bool, CliError> {
    let occupied = match std::fs::read_dir(out) {
        Ok(mut entries) => entries.next().is_some(),
        Err(_) => out.symlink_metadata().is_ok(),
    };
    if occupied {
        if !force {
            return Err(CliError::Exists(out.to_path_buf()));
        }
        if !out.join(MANIFEST_FILE).is_file() {
            return Err(CliError::Input(format!(
                "{} exists and is not a gridproof key directory; refusing to replace it even with --force",
                out.display()
            )));
        }
    }
    Ok(occupied)
}

/// Saves `keys` at `out`; if `out` is `occupied` (and was checked to be a key directory), the
/// new keys are saved beside it and swapped in, the old ones kept until the new are in place.
pub fn save_keys(keys: &Keys, out: &Path, occupied: bool) -> Result<Manifest, CliError> {
    if !occupied {
        return Ok(keys.save(out)?);
    }
    let staged = sibling_path(out, "new").map_err(|source| CliError::Io {
        action: "write",
        path: out.to_path_buf(),
        source,
    })?;
    let manifest = keys.save(&staged)?;
    match replace_dir(&staged, out) {
        Ok(()) => {}
        // The new keys are in place; only the old copy is left over.
        Err(e @ ReplaceDirError::BackupLeft { .. }) => eprintln!("warning: {e}"),
        Err(e) => {
            if !matches!(e, ReplaceDirError::Restore { .. }) {
                let _ = std::fs::remove_dir_all(&staged);
            }
            return Err(e.into());
        }
    }
    Ok(manifest)
}

/// The work of `keys import` (progress and the contribution hashes on stderr): imports, saves,
/// and returns the summary printed on stdout.
pub fn import(args: &ImportArgs) -> Result<serde_json::Value, CliError> {
    let shape = BatchShape::new(args.sites, args.readings_per_site, args.price_slots)?;
    let occupied = check_out_dir(&args.out, args.force)?;
    eprintln!(
        "keys import: {} for the circuit {} (S = {}, T = {}, P = {}, registry depth {})",
        args.zkey.display(),
        shape_name(&shape),
        shape.sites,
        shape.readings_per_site,
        shape.price_slots,
        shape.registry_depth
    );
    let started = Instant::now();
    let mut phase_started: Option<Instant> = None;
    let imported = import_zkey(&args.zkey, &shape, &mut |phase| {
        let what = match phase {
            ImportPhase::Reading => "reading the zkey",
            ImportPhase::Parsing => {
                "checking its points, hashing it, synthesizing the circuit (in parallel)"
            }
            ImportPhase::Comparing => "comparing its A and B matrices with the circuit's",
            ImportPhase::Checking => "checking the contributions and the verifying key",
        };
        if let Some(t) = phase_started {
            eprintln!(" {:.1} s", t.elapsed().as_secs_f64());
        }
        eprint!("keys import: {what} ...");
        phase_started = Some(Instant::now());
    });
    match (&imported, phase_started) {
        (Ok(_), Some(t)) => eprintln!(" {:.1} s", t.elapsed().as_secs_f64()),
        (Err(_), Some(_)) => eprintln!(" failed"),
        (_, None) => {}
    }
    let keys = imported?;
    eprintln!(
        "keys import: the zkey fits: {} constraints, {} public inputs, {} contributions; imported in {:.1} s",
        keys.num_constraints,
        keys.num_public_inputs(),
        contributions(&keys.provenance).len(),
        started.elapsed().as_secs_f64()
    );
    eprint!("{}", describe_provenance(&keys.provenance));
    let saving = Instant::now();
    let manifest = save_keys(&keys, &args.out, occupied)?;
    eprintln!(
        "keys import: wrote {} in {:.1} s (proving key {} bytes, verifying key {} bytes)",
        args.out.display(),
        saving.elapsed().as_secs_f64(),
        manifest.proving_key.bytes,
        manifest.verifying_key.bytes
    );
    let Provenance::Ceremony {
        zkey_sha256,
        circuit_hash,
        contributions,
    } = &manifest.provenance
    else {
        return Err(CliError::Input(
            "internal error: an import made keys without a ceremony provenance".to_string(),
        ));
    };
    Ok(serde_json::json!({
        "keys": args.out.display().to_string(),
        "provenance": "ceremony",
        "zkey": args.zkey.display().to_string(),
        "zkey_sha256": zkey_sha256,
        "circuit_hash": circuit_hash,
        "contributions": contributions,
        "sites": shape.sites,
        "readings_per_site": shape.readings_per_site,
        "price_slots": shape.price_slots,
        "registry_depth": shape.registry_depth,
        "num_constraints": manifest.num_constraints,
        "verifying_key_sha256": manifest.verifying_key.sha256,
        "proving_key_sha256": manifest.proving_key.sha256,
    }))
}

fn contributions(provenance: &Provenance) -> &[ContributionRecord] {
    match provenance {
        Provenance::Ceremony { contributions, .. } => contributions,
        _ => &[],
    }
}

/// A contribution hash (128 hex digits) in snarkjs' four-line layout, or as it is if malformed.
fn hash_lines(hex_hash: &str) -> String {
    match hex::decode(hex_hash)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b).ok())
    {
        Some(hash) => snarkjs_hash_lines(&hash),
        None => format!("\t\t{hex_hash}"),
    }
}

/// The provenance as text: the development warning, or the ceremony's record in the layout of
/// `snarkjs zkey verify` so the hashes can be compared line by line.
pub fn describe_provenance(provenance: &Provenance) -> String {
    let mut out = String::new();
    match provenance {
        Provenance::Ceremony {
            zkey_sha256,
            circuit_hash,
            contributions,
        } => {
            out.push_str("provenance: snarkjs phase-2 ceremony\n");
            out.push_str(&format!("  zkey sha256: {zkey_sha256}\n"));
            out.push_str(&format!(
                "  circuit hash (snarkjs):\n{}\n",
                hash_lines(circuit_hash)
            ));
            for (i, c) in contributions.iter().enumerate() {
                let kind = match c.kind {
                    ContributionKind::Beacon => " [beacon]",
                    ContributionKind::Contribution => "",
                };
                out.push_str(&format!(
                    "  contribution #{} {}{kind}:\n{}\n",
                    i + 1,
                    c.name,
                    hash_lines(&c.hash)
                ));
                if let Some(beacon) = &c.beacon {
                    out.push_str(&format!(
                        "    beacon generator: {}\n    beacon iterations exp: {}\n",
                        beacon.hash, beacon.iterations_exp
                    ));
                }
            }
            out.push_str(
                "  these keys are as trustworthy as the ceremony: check that `snarkjs zkey verify` \
                 accepted this zkey and that the hashes match the published transcript\n",
            );
        }
        other => {
            let name = match other {
                Provenance::Development => "development (single-party setup)".to_string(),
                other => format!("{other:?}"),
            };
            out.push_str(&format!("provenance: {name}\n"));
            if let Some(warning) = other.warning() {
                out.push_str(&format!("WARNING: {warning}\n"));
            }
        }
    }
    out
}

/// `keys info` as text.
pub fn describe(dir: &Path, manifest: &Manifest) -> String {
    let reduction = match manifest.qap_reduction {
        QapReduction::Libsnark => "libsnark (arkworks' default)",
        QapReduction::Circom => "circom (snarkjs')",
    };
    format!(
        "keys: {}\nshape: {}\nconstraints: {}\npublic inputs: {}\nQAP reduction: {reduction}\n\
         proving key: {} bytes, sha256 {}\nverifying key: {} bytes, sha256 {}\ncreated: {}\n{}",
        dir.display(),
        manifest.shape,
        manifest.num_constraints,
        manifest.num_public_inputs,
        manifest.proving_key.bytes,
        manifest.proving_key.sha256,
        manifest.verifying_key.bytes,
        manifest.verifying_key.sha256,
        manifest.created_at,
        describe_provenance(&manifest.provenance)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use gridproof_prover::keys::{BeaconRecord, KeyFileRecord, FORMAT_VERSION};
    use gridproof_prover::ShapeRecord;

    fn manifest(provenance: Provenance, qap_reduction: QapReduction) -> Manifest {
        let record = |file: &str| KeyFileRecord {
            file: file.into(),
            bytes: 1,
            sha256: "0".repeat(64),
        };
        Manifest {
            format_version: FORMAT_VERSION,
            shape: ShapeRecord::of(&BatchShape::new(4, 8, 4).unwrap()),
            provenance,
            num_constraints: 24_924,
            num_public_inputs: 8,
            qap_reduction,
            proving_key: record("proving.key"),
            verifying_key: record("verifying.key"),
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn info_shows_the_development_warning() {
        let text = describe(
            Path::new("KEYS"),
            &manifest(Provenance::Development, QapReduction::Libsnark),
        );
        assert!(text.contains("constraints: 24924"), "{text}");
        assert!(text.contains("provenance: development"), "{text}");
        assert!(
            text.contains("WARNING:") && text.contains("forge"),
            "{text}"
        );
        assert!(text.contains("QAP reduction: libsnark"), "{text}");
    }

    #[test]
    fn info_shows_the_ceremony_in_snarkjs_layout() {
        let hash: String = (0u8..64).map(|b| format!("{b:02x}")).collect();
        let provenance = Provenance::Ceremony {
            zkey_sha256: "ab".repeat(32),
            circuit_hash: "cd".repeat(64),
            contributions: vec![
                ContributionRecord {
                    name: "alice".into(),
                    hash: hash.clone(),
                    kind: ContributionKind::Contribution,
                    beacon: None,
                },
                ContributionRecord {
                    name: "final beacon".into(),
                    hash,
                    kind: ContributionKind::Beacon,
                    beacon: Some(BeaconRecord {
                        hash: "0102".into(),
                        iterations_exp: 10,
                    }),
                },
            ],
        };
        let text = describe(
            Path::new("KEYS"),
            &manifest(provenance, QapReduction::Circom),
        );
        assert!(!text.contains("WARNING"), "{text}");
        assert!(
            text.contains(&format!("zkey sha256: {}", "ab".repeat(32))),
            "{text}"
        );
        assert!(
            text.contains("contribution #1 alice:\n\t\t00010203 04050607"),
            "{text}"
        );
        assert!(
            text.contains("contribution #2 final beacon [beacon]:"),
            "{text}"
        );
        assert!(text.contains("beacon generator: 0102"), "{text}");
        assert!(text.contains("beacon iterations exp: 10"), "{text}");
        assert!(text.contains("QAP reduction: circom"), "{text}");
    }
}

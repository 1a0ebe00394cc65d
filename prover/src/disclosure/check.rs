//! The regulator's checks of an opened bundle: pure functions of the bundle, its binding, the
//! verifying key, an optional public record and the time. Each link of the chain from the site's
//! data to public data is one [`Check`] with its own outcome, so a broken link is named.

use std::fmt;

use ark_bn254::Bn254;
use ark_groth16::{PreparedVerifyingKey, VerifyingKey};
use gridproof_circuits::eddsa::PublicKey;
use gridproof_circuits::encoding::field_to_decimal;
use gridproof_circuits::merkle::MerklePath;
use gridproof_circuits::meter::MeterMessage;
use gridproof_circuits::registry::{checked_reading_bound_wh, RegistryEntry};
use gridproof_circuits::schedule::Schedule;
use gridproof_circuits::statement::{BatchShape, PublicInputs, SiteWitness};
use gridproof_circuits::Fr;

use super::{BundleBinding, DisclosureBundle, TxHash, BUNDLE_VERSION};
use crate::proofs_file::ProofsFile;
use crate::shape::ShapeRecord;
use crate::verify::{prepare, verify};

/// One link of the chain that a regulator checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Check {
    /// The bundle is for the site and epoch its authenticated binding names.
    Binding,
    /// The bundle fits the statement: the keys' shape, the schedule's hash, the epoch, interval
    /// and batch in the public inputs, the site's position in its batch.
    Statement,
    /// The meter's signature verifies over meter message v1 of the readings.
    MeterSignature,
    /// Every reading is within the capacity bound (and the bound is provable).
    CapacityBound,
    /// Energy and revenue recomputed from readings x tariff equal the stated ones and fit the
    /// batch's totals.
    Revenue,
    /// The location and salt open the location commitment of the leaf.
    LocationCommitment,
    /// The leaf (from its preimage) and the path lead to the batch's registry root.
    RegistryPath,
    /// The meter message and the path lead to the batch's readings root.
    ReadingsPath,
    /// The Groth16 proof verifies with the batch's public inputs under the verifying key.
    Proof,
    /// The public inputs equal a public record (proofs file or chain).
    PublicRecord,
    /// The disclosure has not expired.
    Expiry,
}

impl Check {
    /// Every check, in the order they are run and reported.
    pub const ALL: [Check; 11] = [
        Check::Binding,
        Check::Statement,
        Check::MeterSignature,
        Check::CapacityBound,
        Check::Revenue,
        Check::LocationCommitment,
        Check::RegistryPath,
        Check::ReadingsPath,
        Check::Proof,
        Check::PublicRecord,
        Check::Expiry,
    ];

    /// The check's name as printed (stable: scripts may match it).
    pub fn name(self) -> &'static str {
        match self {
            Check::Binding => "binding",
            Check::Statement => "statement",
            Check::MeterSignature => "meter signature",
            Check::CapacityBound => "capacity bound",
            Check::Revenue => "revenue",
            Check::LocationCommitment => "location commitment",
            Check::RegistryPath => "registry path",
            Check::ReadingsPath => "readings path",
            Check::Proof => "proof",
            Check::PublicRecord => "public record",
            Check::Expiry => "expiry",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome of one check, with what was compared (never a location or salt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The link holds.
    Passed(String),
    /// The link is broken: why.
    Failed(String),
    /// The link was not checked (no public record given): why, plainly.
    NotChecked(String),
}

/// One check and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The check.
    pub check: Check,
    /// Its outcome.
    pub outcome: Outcome,
}

/// Every check's outcome, in [`Check::ALL`]'s order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisclosureReport {
    /// One result per check.
    pub results: Vec<CheckResult>,
}

impl DisclosureReport {
    /// The first broken link, if any.
    pub fn first_failure(&self) -> Option<&CheckResult> {
        self.results
            .iter()
            .find(|r| matches!(r.outcome, Outcome::Failed(_)))
    }

    /// True if no link is broken (a public record not given is not a broken link).
    pub fn passed(&self) -> bool {
        self.first_failure().is_none()
    }

    /// The outcome of `check`.
    pub fn outcome(&self, check: Check) -> Option<&Outcome> {
        self.results
            .iter()
            .find(|r| r.check == check)
            .map(|r| &r.outcome)
    }

    /// True if `check` failed.
    pub fn failed(&self, check: Check) -> bool {
        matches!(self.outcome(check), Some(Outcome::Failed(_)))
    }
}

/// The verifying key of the statement and the shape it was made for, prepared once.
pub struct DisclosureVerifier {
    /// The keys' shape (S, T, P, registry depth).
    pub shape: BatchShape,
    /// The prepared verifying key.
    pub pvk: PreparedVerifyingKey<Bn254>,
}

impl DisclosureVerifier {
    /// Prepares `vk` (made for `shape`, as `load_verifying_key` returns them).
    pub fn new(shape: BatchShape, vk: &VerifyingKey<Bn254>) -> Self {
        Self {
            shape,
            pvk: prepare(vk),
        }
    }
}

/// A batch as RevenueOracle records it, read by the caller from the chain (this crate does no
/// I/O): the epoch's opening and, if accepted, the batch's `BatchAccepted` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnChainBatch {
    /// Where it was read, for the report (e.g. "RevenueOracle 0x... on chain 31337").
    pub source: String,
    /// `epochConfig(epoch).registryRoot`.
    pub registry_root: Fr,
    /// `epochConfig(epoch).scheduleHash`.
    pub schedule_hash: Fr,
    /// `epochConfig(epoch).intervalSeconds`.
    pub interval_seconds: u32,
    /// `epochProgress(epoch).batchCount` (0: the epoch was never opened).
    pub batch_count: u64,
    /// The batch's `BatchAccepted` event, if the oracle accepted it.
    pub accepted: Option<AcceptedBatch>,
}

/// What the `BatchAccepted` event of a batch says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedBatch {
    /// The batch's energy, Wh.
    pub total_energy_wh: u128,
    /// The batch's revenue, nano-USD.
    pub total_revenue_nusd: u128,
    /// The batch's readings root.
    pub readings_root: Fr,
    /// The transaction that emitted the event.
    pub tx_hash: Option<TxHash>,
}

/// A public record to match the bundle's public inputs against.
#[derive(Debug, Clone, Copy)]
pub enum PublicRecord<'a> {
    /// A proofs file v1 the regulator obtained publicly.
    ProofsFile(&'a ProofsFile),
    /// The oracle's record on chain.
    Chain(&'a OnChainBatch),
}

fn ok(s: impl Into<String>) -> Outcome {
    Outcome::Passed(s.into())
}

fn fail(s: impl Into<String>) -> Outcome {
    Outcome::Failed(s.into())
}

/// Runs every check of `bundle` (opened with `binding`) against `verifier`, `public` (or
/// reports plainly that the public inputs were not matched) and the time `now_unix` (seconds).
/// Never stops at the first failure: every link gets its outcome.
pub fn check(
    bundle: &DisclosureBundle,
    binding: &BundleBinding,
    verifier: &DisclosureVerifier,
    public: Option<PublicRecord<'_>>,
    now_unix: u64,
) -> DisclosureReport {
    let site = &bundle.site;
    let inputs_vec = bundle.batch.public_inputs.to_vec();
    let inputs = PublicInputs::from_field_elements(&inputs_vec);
    // The meter key as a point, unchecked: the signature check validates it and says why.
    let meter_key = PublicKey {
        x: site.meter_public_key[0],
        y: site.meter_public_key[1],
    };
    let entry = RegistryEntry {
        site_id: site.site_id,
        meter_key,
        capacity_w: site.capacity_w,
        prices_uusd_per_kwh: site.prices_uusd_per_kwh.clone(),
        location_commitment: site.location_commitment,
    };
    let message = MeterMessage {
        site_id: site.site_id,
        epoch: bundle.epoch,
        interval_seconds: bundle.interval_seconds,
        readings_wh: site.readings_wh.clone(),
    }
    .hash();

    let mut results = Vec::with_capacity(Check::ALL.len());
    for check in Check::ALL {
        let outcome = match check {
            Check::Binding => check_binding(bundle, binding),
            Check::Statement => check_statement(bundle, &verifier.shape, &inputs),
            Check::MeterSignature => match PublicKey::new(meter_key.x, meter_key.y) {
                Err(e) => fail(format!("the meter key is not valid: {e}")),
                Ok(key) => match key.verify(message, &site.signature.to_signature()) {
                    Ok(()) => ok(format!(
                        "the meter signed these {} readings of site {} for epoch {}",
                        site.readings_wh.len(),
                        site.site_id,
                        bundle.epoch
                    )),
                    Err(e) => fail(format!(
                        "the meter's signature does not verify over the readings: {e}"
                    )),
                },
            },
            Check::CapacityBound => check_capacity(bundle),
            Check::Revenue => check_revenue(bundle, &entry, &inputs),
            Check::LocationCommitment => {
                match site.location.to_location().commitment(site.location_salt) {
                    Err(e) => fail(format!("the location is not valid: {e}")),
                    Ok(c) if c == site.location_commitment => {
                        ok("the location and salt open the leaf's location commitment")
                    }
                    Ok(_) => {
                        fail("the location and salt do not open the leaf's location commitment")
                    }
                }
            }
            Check::RegistryPath => match entry.leaf() {
                Err(e) => fail(format!("the leaf cannot be computed: {e}")),
                Ok(leaf) => path_outcome(
                    "the site's leaf",
                    leaf,
                    &bundle.registry_path.index,
                    &bundle.registry_path.siblings,
                    bundle.shape.registry_depth,
                    "registry_root",
                    bundle.batch.public_inputs.registry_root,
                ),
            },
            Check::ReadingsPath => path_outcome(
                "the site's meter message",
                message,
                &bundle.readings_path.index,
                &bundle.readings_path.siblings,
                u64::from(bundle.shape.sites.trailing_zeros()),
                "readings_root",
                bundle.batch.public_inputs.readings_root,
            ),
            Check::Proof => match bundle.batch.proof.to_proof() {
                Err(e) => fail(format!("the proof is malformed: {e}")),
                Ok(proof) => match verify(&verifier.pvk, &inputs_vec, &proof) {
                    Ok(()) => ok(format!(
                        "the Groth16 proof of batch {} verifies with its public inputs",
                        bundle.batch.batch_index
                    )),
                    Err(e) => fail(e.to_string()),
                },
            },
            Check::PublicRecord => match public {
                None => Outcome::NotChecked(
                    "the public inputs were NOT matched against a public record (give --proofs \
                     FILE or --rpc-url URL --oracle ADDR): the proof is valid for these inputs, \
                     but nothing here shows they are the published ones"
                        .into(),
                ),
                Some(PublicRecord::ProofsFile(file)) => match_proofs_file(bundle, file),
                Some(PublicRecord::Chain(chain)) => match_chain(bundle, &inputs, chain),
            },
            Check::Expiry => {
                if now_unix < binding.expires_at {
                    ok(format!(
                        "valid until {} (unix seconds; now {now_unix})",
                        binding.expires_at
                    ))
                } else {
                    fail(format!(
                        "the disclosure expired at {} (unix seconds; now {now_unix})",
                        binding.expires_at
                    ))
                }
            }
        };
        results.push(CheckResult { check, outcome });
    }
    DisclosureReport { results }
}

fn check_binding(bundle: &DisclosureBundle, binding: &BundleBinding) -> Outcome {
    if bundle.version != BUNDLE_VERSION {
        return fail(format!("bundle version {}", bundle.version));
    }
    if binding.site_id != bundle.site.site_id || binding.epoch != bundle.epoch {
        return fail(format!(
            "the binding names site {} of epoch {}, the bundle holds site {} of epoch {}",
            binding.site_id, binding.epoch, bundle.site.site_id, bundle.epoch
        ));
    }
    ok(format!(
        "disclosure {}: site {} of epoch {}",
        binding.disclosure_id, binding.site_id, binding.epoch
    ))
}

fn check_statement(
    bundle: &DisclosureBundle,
    shape: &BatchShape,
    inputs: &Result<PublicInputs, gridproof_circuits::statement::StatementError>,
) -> Outcome {
    let keys = ShapeRecord::of(shape);
    if bundle.shape != keys {
        return fail(format!(
            "the bundle is for keys of shape {}, the verifying key is for {keys}",
            bundle.shape
        ));
    }
    let inputs = match inputs {
        Ok(inputs) => inputs,
        Err(e) => return fail(format!("the batch's public inputs: {e}")),
    };
    let t = shape.readings_per_site;
    let site = &bundle.site;
    for (what, got, expected) in [
        ("intervals in the schedule", bundle.slots.len(), t),
        ("readings", site.readings_wh.len(), t),
        ("prices", site.prices_uusd_per_kwh.len(), shape.price_slots),
    ] {
        if got != expected {
            return fail(format!("{got} {what}, the keys take {expected}"));
        }
    }
    let schedule = match schedule_of(bundle, shape.price_slots) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let batch = &bundle.batch;
    let checks = [
        ("epoch", "epoch", inputs.epoch == bundle.epoch),
        (
            "batch_index",
            "batch",
            inputs.batch_index == batch.batch_index,
        ),
        (
            "interval_seconds",
            "interval",
            inputs.interval_seconds == bundle.interval_seconds,
        ),
        (
            "schedule_hash",
            "schedule",
            inputs.schedule_hash == schedule.hash(),
        ),
    ];
    if let Some((name, what, _)) = checks.iter().find(|(_, _, holds)| !holds) {
        return fail(format!(
            "the public input {name} does not match the bundle's {what}"
        ));
    }
    let s = shape.sites as u64;
    let first_leaf = batch.batch_index.checked_mul(s);
    let position = bundle.readings_path.index;
    if position >= s
        || first_leaf.and_then(|f| f.checked_add(position)) != Some(bundle.registry_path.index)
    {
        return fail(format!(
            "leaf {} is not position {position} of batch {} (S = {s})",
            bundle.registry_path.index, batch.batch_index
        ));
    }
    ok(format!(
        "shape {keys}; epoch {}, batch {}, position {position}, schedule and interval match the \
         public inputs",
        bundle.epoch, batch.batch_index
    ))
}

fn schedule_of(bundle: &DisclosureBundle, price_slots: usize) -> Result<Schedule, String> {
    let slots = bundle
        .slots
        .iter()
        .map(|&s| u8::try_from(s))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| "a schedule slot above 255".to_string())?;
    Schedule::new(slots, price_slots).map_err(|e| format!("the schedule: {e}"))
}

fn check_capacity(bundle: &DisclosureBundle) -> Outcome {
    let site = &bundle.site;
    let Some(bound) = checked_reading_bound_wh(site.capacity_w, bundle.interval_seconds) else {
        return fail(format!(
            "capacity {} W at {} s intervals gives a bound the statement cannot prove",
            site.capacity_w, bundle.interval_seconds
        ));
    };
    if let Some((i, r)) = site
        .readings_wh
        .iter()
        .enumerate()
        .find(|(_, &r)| r > bound)
    {
        return fail(format!(
            "reading {i} is {r} Wh, above the bound of {bound} Wh per interval (capacity {} W)",
            site.capacity_w
        ));
    }
    ok(format!(
        "every reading <= {bound} Wh per interval (capacity {} W x {} s / 3600)",
        site.capacity_w, bundle.interval_seconds
    ))
}

fn check_revenue(
    bundle: &DisclosureBundle,
    entry: &RegistryEntry,
    inputs: &Result<PublicInputs, gridproof_circuits::statement::StatementError>,
) -> Outcome {
    let site = &bundle.site;
    let schedule = match schedule_of(bundle, site.prices_uusd_per_kwh.len()) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    // The statement's own arithmetic (the native twin of the circuit).
    let witness = SiteWitness {
        entry: entry.clone(),
        readings_wh: site.readings_wh.clone(),
        signature: site.signature.to_signature(),
    };
    let (energy, revenue) = witness.totals(&schedule);
    if energy != site.energy_wh || revenue != site.revenue_nusd {
        return fail(format!(
            "readings x tariff give {energy} Wh and {revenue} nUSD, the bundle states {} Wh and \
             {} nUSD",
            site.energy_wh, site.revenue_nusd
        ));
    }
    if let Ok(inputs) = inputs {
        if energy > inputs.total_energy_wh || revenue > inputs.total_revenue_nusd {
            return fail(format!(
                "the site's {energy} Wh / {revenue} nUSD exceed the batch's totals {} Wh / {} nUSD",
                inputs.total_energy_wh, inputs.total_revenue_nusd
            ));
        }
    }
    ok(format!(
        "{energy} Wh, {revenue} nUSD recomputed from readings x tariff (within the batch's totals)"
    ))
}

fn path_outcome(
    what: &str,
    node: Fr,
    index: &u64,
    siblings: &[Fr],
    depth: u64,
    root_name: &str,
    root: Fr,
) -> Outcome {
    if siblings.len() as u64 != depth {
        return fail(format!(
            "the path has {} siblings, the tree has depth {depth}",
            siblings.len()
        ));
    }
    if depth < 64 && *index >> depth != 0 {
        return fail(format!("index {index} is outside a tree of depth {depth}"));
    }
    let path = MerklePath {
        index: *index,
        siblings: siblings.to_vec(),
    };
    if path.root_from(node) == root {
        ok(format!(
            "{what} at index {index} leads to the batch's {root_name}"
        ))
    } else {
        fail(format!(
            "{what} at index {index} and its path do not lead to the batch's {root_name}"
        ))
    }
}

fn match_proofs_file(bundle: &DisclosureBundle, file: &ProofsFile) -> Outcome {
    let inputs = bundle.batch.public_inputs.to_vec();
    if file.epoch != bundle.epoch {
        return fail(format!(
            "the proofs file is for epoch {}, the bundle for epoch {}",
            file.epoch, bundle.epoch
        ));
    }
    if file.registry_root != bundle.batch.public_inputs.registry_root {
        return fail("the proofs file's registry_root differs from the bundle's");
    }
    let Some(batch) = file
        .batches
        .iter()
        .find(|b| b.batch_index == bundle.batch.batch_index)
    else {
        return fail(format!(
            "the proofs file has no batch {}",
            bundle.batch.batch_index
        ));
    };
    if let Some((name, _)) = PublicInputs::NAMES
        .iter()
        .zip(inputs.iter().zip(&batch.public_inputs))
        .find(|(_, (a, b))| a != b)
    {
        return fail(format!(
            "the proofs file's batch {} has another {name}",
            batch.batch_index
        ));
    }
    ok(format!(
        "registry root {} and batch {}'s public inputs equal the proofs file's",
        short(&file.registry_root),
        batch.batch_index
    ))
}

fn match_chain(
    bundle: &DisclosureBundle,
    inputs: &Result<PublicInputs, gridproof_circuits::statement::StatementError>,
    chain: &OnChainBatch,
) -> Outcome {
    let inputs = match inputs {
        Ok(inputs) => inputs,
        Err(e) => return fail(format!("the batch's public inputs: {e}")),
    };
    let src = &chain.source;
    if chain.batch_count == 0 {
        return fail(format!("{src}: epoch {} was never opened", inputs.epoch));
    }
    if chain.registry_root != inputs.registry_root {
        return fail(format!(
            "{src}: the published registry root of epoch {} is {}, the bundle's {}",
            inputs.epoch,
            short(&chain.registry_root),
            short(&inputs.registry_root)
        ));
    }
    if chain.schedule_hash != inputs.schedule_hash
        || chain.interval_seconds != inputs.interval_seconds
    {
        return fail(format!(
            "{src}: the published schedule or interval of epoch {} differs from the bundle's",
            inputs.epoch
        ));
    }
    if inputs.batch_index >= chain.batch_count {
        return fail(format!(
            "{src}: epoch {} has {} batches, not a batch {}",
            inputs.epoch, chain.batch_count, inputs.batch_index
        ));
    }
    let Some(accepted) = &chain.accepted else {
        return fail(format!(
            "{src}: batch {} of epoch {} was not accepted",
            inputs.batch_index, inputs.epoch
        ));
    };
    if accepted.total_energy_wh != inputs.total_energy_wh
        || accepted.total_revenue_nusd != inputs.total_revenue_nusd
        || accepted.readings_root != inputs.readings_root
    {
        return fail(format!(
            "{src}: the accepted batch {} has other totals or readings root than the bundle's",
            inputs.batch_index
        ));
    }
    if let (Some(claimed), Some(found)) = (bundle.batch.tx_hash, accepted.tx_hash) {
        if claimed != found {
            return fail(format!(
                "{src}: batch {} was accepted in transaction {found}, the bundle names {claimed}",
                inputs.batch_index
            ));
        }
    }
    let tx = accepted
        .tx_hash
        .map(|t| format!(" in transaction {t}"))
        .unwrap_or_default();
    ok(format!(
        "{src}: registry root, schedule and interval of epoch {} as published; batch {} accepted{tx} with these totals and readings root",
        inputs.epoch, inputs.batch_index
    ))
}

/// A field element shortened for a report line: its first and last digits.
fn short(x: &Fr) -> String {
    let d = field_to_decimal(x);
    if d.len() <= 16 {
        d
    } else {
        format!("{}...{}", &d[..8], &d[d.len() - 6..])
    }
}

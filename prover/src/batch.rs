//! Batch file v1 (DESIGN.md, normative): the registry and meter-signed readings of one epoch, as
//! `gridproof prove` reads them, and its validation against a proving key's shape.
//!
//! Reading is strict so that one value has one encoding: every integer may be a JSON number or a
//! decimal string, but never a float, an exponent, a sign where the value is unsigned, a space, a
//! leading zero, or a value too wide for its field; field elements are canonical decimal strings
//! below r; unknown fields are errors. Validation then checks everything the circuit would
//! otherwise reject (and the k-anonymity policy the circuit cannot see) and reports every problem
//! it finds, each naming the site (its `site_id` and its position `sites[i]`) and the reason.
//!
//! Sites keep the order of the file: site `sites[i]` goes to the i-th registry slot of the epoch
//! plan (see [`crate::epoch`]).

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use gridproof_circuits::eddsa::{PublicKey, Signature};
use gridproof_circuits::meter::MeterMessage;
use gridproof_circuits::registry::{checked_reading_bound_wh, reading_bound_wh, Location};
use gridproof_circuits::schedule::Schedule;
use gridproof_circuits::statement::BatchShape;
use gridproof_circuits::statement::MAX_READING_BOUND_WH;
use gridproof_circuits::Fr;
use serde::{Deserialize, Serialize};

use crate::epoch::{plan_batches, BatchAssignment};

/// The only batch file version this tool reads and writes.
pub const BATCH_FILE_VERSION: u64 = 1;

/// The k-anonymity minimum used unless configured: no batch may hold fewer real sites, because a
/// batch's totals are public and a batch of one site would reveal that site's revenue.
pub const DEFAULT_MIN_SITES_PER_BATCH: usize = 3;

/// At most this many problems are listed by [`ValidationErrors`]; the rest are counted.
pub const MAX_LISTED_PROBLEMS: usize = 50;

/// A whole batch file v1: one epoch's public schedule and its sites. Integers are read leniently
/// only in form (number or decimal string), never in value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchFile {
    /// Format version; must be 1.
    #[serde(with = "int::u64")]
    pub version: u64,
    /// The epoch the readings belong to (signed into every meter message).
    #[serde(with = "int::u64")]
    pub epoch: u64,
    /// Length of one reading interval in seconds; validation requires 1..=2^32-1 (kept wide here
    /// so that a too-large value is reported with the other problems, not as a parse error).
    #[serde(with = "int::u64")]
    pub interval_seconds: u64,
    /// `slots[i]`: the time-of-use slot of interval i (the public schedule); `slots.len()` is T.
    #[serde(with = "int::vec_u32")]
    pub slots: Vec<u32>,
    /// The installations, in the order they are placed in the registry.
    pub sites: Vec<SiteRecord>,
}

/// One installation of a batch file: its registry entry, its readings and its meter's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteRecord {
    /// The installation's identifier; unique within the file. Secret once proved (hidden by the
    /// proof) but not a location.
    #[serde(with = "int::u64")]
    pub site_id: u64,
    /// The meter's Baby Jubjub public key (x, y), canonical field elements.
    #[serde(with = "field::pair")]
    pub meter_public_key: [Fr; 2],
    /// Nameplate capacity in watts; bounds every reading (see [`reading_bound_wh`]).
    #[serde(with = "int::u32")]
    pub capacity_w: u32,
    /// The site's tariff: price in micro-USD per kWh for each time-of-use slot (P of them).
    #[serde(with = "int::vec_u32")]
    pub prices_uusd_per_kwh: Vec<u32>,
    /// Where the site is. Critical energy infrastructure information (CEII): never written to a
    /// proofs file, only committed to with a random salt.
    pub location: LocationRecord,
    /// Energy per interval in Wh (T of them), as signed by the meter.
    #[serde(with = "int::vec_u32")]
    pub readings_wh: Vec<u32>,
    /// The meter's EdDSA-Poseidon signature over meter message v1 of these readings.
    pub signature: SignatureRecord,
}

/// A site's location as written in a batch file. Secret (CEII).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationRecord {
    /// Latitude in millionths of a degree, -90e6..=90e6.
    #[serde(with = "int::i64")]
    pub latitude_microdeg: i64,
    /// Longitude in millionths of a degree, -180e6..=180e6.
    #[serde(with = "int::i64")]
    pub longitude_microdeg: i64,
    /// Region code, 1..=31 ASCII bytes, e.g. "US-IL".
    pub region: String,
}

impl LocationRecord {
    /// The circuit library's location (not yet validated).
    pub fn to_location(&self) -> Location {
        Location {
            latitude_microdeg: self.latitude_microdeg,
            longitude_microdeg: self.longitude_microdeg,
            region: self.region.clone(),
        }
    }

    /// The record of a location, as the batch file writes it.
    pub fn from_location(location: &Location) -> Self {
        Self {
            latitude_microdeg: location.latitude_microdeg,
            longitude_microdeg: location.longitude_microdeg,
            region: location.region.clone(),
        }
    }
}

/// An EdDSA-Poseidon signature as written in batch files: `{ "r8": [x, y], "s": s }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureRecord {
    /// The point R8 (x, y).
    #[serde(with = "field::pair")]
    pub r8: [Fr; 2],
    /// The scalar S (below the subgroup order for a valid signature; checked by verification).
    #[serde(with = "field::single")]
    pub s: Fr,
}

impl SignatureRecord {
    /// The circuit library's signature.
    pub fn to_signature(&self) -> Signature {
        Signature {
            r8_x: self.r8[0],
            r8_y: self.r8[1],
            s: self.s,
        }
    }

    /// The record of a signature, as batch files write it.
    pub fn from_signature(signature: &Signature) -> Self {
        Self {
            r8: [signature.r8_x, signature.r8_y],
            s: signature.s,
        }
    }
}

/// Why a batch file could not be read (before any check of its content against the keys).
#[derive(Debug, thiserror::Error)]
pub enum BatchFileError {
    /// The file could not be read.
    #[error("cannot read the batch file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The text is not JSON.
    #[error("the batch file is not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    /// JSON, but not batch file v1: each problem names the site (if any), the field and why.
    #[error("{}", list_format_problems(.0))]
    Format(Vec<FormatProblem>),
}

/// One place where a batch file does not follow batch file v1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatProblem {
    /// The site it is in: its position in `sites` and its `site_id` as written (if readable).
    pub site: Option<(usize, Option<String>)>,
    /// The field, as a JSON path within the site (or the file), e.g. `readings_wh[3]`.
    pub field: String,
    /// Why it is refused.
    pub message: String,
}

impl fmt::Display for FormatProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.site {
            Some((position, Some(id))) => write!(f, "site {id} (sites[{position}]): ")?,
            Some((position, None)) => write!(f, "sites[{position}]: ")?,
            None => {}
        }
        if self.field.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

fn list_format_problems(problems: &[FormatProblem]) -> String {
    let mut out = format!(
        "the batch file does not follow batch file v1 ({} problem(s)):",
        problems.len()
    );
    for p in problems.iter().take(MAX_LISTED_PROBLEMS) {
        out.push_str("\n  - ");
        out.push_str(&p.to_string());
    }
    if problems.len() > MAX_LISTED_PROBLEMS {
        out.push_str(&format!(
            "\n  ... and {} more",
            problems.len() - MAX_LISTED_PROBLEMS
        ));
    }
    out
}

/// The shape of batch file v1, used only to say where a file that serde refused goes wrong.
enum Schema {
    U64,
    U32,
    I64,
    Text,
    Field,
    List(&'static Schema),
    Pair(&'static Schema),
    Object(&'static [(&'static str, Schema)]),
}

const LOCATION_SCHEMA: Schema = Schema::Object(&[
    ("latitude_microdeg", Schema::I64),
    ("longitude_microdeg", Schema::I64),
    ("region", Schema::Text),
]);
const SIGNATURE_SCHEMA: Schema =
    Schema::Object(&[("r8", Schema::Pair(&Schema::Field)), ("s", Schema::Field)]);
const SITE_SCHEMA: Schema = Schema::Object(&[
    ("site_id", Schema::U64),
    ("meter_public_key", Schema::Pair(&Schema::Field)),
    ("capacity_w", Schema::U32),
    ("prices_uusd_per_kwh", Schema::List(&Schema::U32)),
    ("location", LOCATION_SCHEMA),
    ("readings_wh", Schema::List(&Schema::U32)),
    ("signature", SIGNATURE_SCHEMA),
]);
const FILE_FIELDS: &[(&str, Schema)] = &[
    ("version", Schema::U64),
    ("epoch", Schema::U64),
    ("interval_seconds", Schema::U64),
    ("slots", Schema::List(&Schema::U32)),
];

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Appends (field path, reason) for every place `value` departs from `schema`.
fn diagnose(
    value: &serde_json::Value,
    schema: &Schema,
    path: &str,
    out: &mut Vec<(String, String)>,
) {
    use serde_json::Value;
    let leaf = |r: Result<(), serde_json::Error>, out: &mut Vec<(String, String)>| {
        if let Err(e) = r {
            out.push((path.to_string(), e.to_string()));
        }
    };
    match schema {
        Schema::U64 => leaf(int::Flex::<u64>::deserialize(value).map(drop), out),
        Schema::U32 => leaf(int::Flex::<u32>::deserialize(value).map(drop), out),
        Schema::I64 => leaf(int::Flex::<i64>::deserialize(value).map(drop), out),
        Schema::Text => leaf(String::deserialize(value).map(drop), out),
        Schema::Field => leaf(field::FieldDe::deserialize(value).map(drop), out),
        Schema::List(item) | Schema::Pair(item) => match value {
            Value::Array(items) => {
                if matches!(schema, Schema::Pair(_)) && items.len() != 2 {
                    out.push((
                        path.to_string(),
                        format!("expected 2 elements, got {}", items.len()),
                    ));
                }
                for (i, v) in items.iter().enumerate() {
                    diagnose(v, item, &format!("{path}[{i}]"), out);
                }
            }
            other => out.push((
                path.to_string(),
                format!("expected an array, got {}", kind(other)),
            )),
        },
        Schema::Object(fields) => diagnose_object(value, fields, path, out),
    }
}

fn diagnose_object(
    value: &serde_json::Value,
    fields: &[(&str, Schema)],
    path: &str,
    out: &mut Vec<(String, String)>,
) {
    let Some(map) = value.as_object() else {
        out.push((
            path.to_string(),
            format!("expected an object, got {}", kind(value)),
        ));
        return;
    };
    for (name, schema) in fields {
        match map.get(*name) {
            Some(v) => diagnose(v, schema, &join(path, name), out),
            None => out.push((join(path, name), format!("missing field `{name}`"))),
        }
    }
    for key in map.keys() {
        let known = fields.iter().any(|(name, _)| name == key);
        // `sites` is diagnosed site by site by the caller.
        let sites = path.is_empty() && key == "sites";
        if !known && !sites {
            out.push((join(path, key), format!("unknown field `{key}`")));
        }
    }
}

fn kind(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Every place a JSON value departs from batch file v1, each with its site.
fn format_problems(value: &serde_json::Value) -> Vec<FormatProblem> {
    let mut problems = Vec::new();
    let mut top = Vec::new();
    diagnose_object(value, FILE_FIELDS, "", &mut top);
    if let Some(map) = value.as_object() {
        match map.get("sites") {
            None => top.push(("sites".into(), "missing field `sites`".into())),
            Some(serde_json::Value::Array(sites)) => {
                for (position, site) in sites.iter().enumerate() {
                    let mut found = Vec::new();
                    diagnose(site, &SITE_SCHEMA, "", &mut found);
                    let site_id = site.get("site_id").and_then(|id| match id {
                        serde_json::Value::Number(n) => Some(n.to_string()),
                        serde_json::Value::String(s) => Some(format!("{s:?}")),
                        _ => None,
                    });
                    problems.extend(found.into_iter().map(|(field, message)| FormatProblem {
                        site: Some((position, site_id.clone())),
                        field,
                        message,
                    }));
                }
            }
            Some(other) => top.push((
                "sites".into(),
                format!("expected an array, got {}", kind(other)),
            )),
        }
    }
    let mut all: Vec<FormatProblem> = top
        .into_iter()
        .map(|(field, message)| FormatProblem {
            site: None,
            field,
            message,
        })
        .collect();
    all.append(&mut problems);
    all
}

impl BatchFile {
    /// Parses a batch file. When it is JSON but not batch file v1, every problem is reported,
    /// each with its site (`site_id` and position) and field, not only the first.
    pub fn from_json(text: &str) -> Result<Self, BatchFileError> {
        let error = match serde_json::from_str::<BatchFile>(text) {
            Ok(file) => return Ok(file),
            Err(e) => e,
        };
        use serde_json::error::Category;
        match error.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                return Err(BatchFileError::Json(error))
            }
            Category::Data => {}
        }
        let problems = serde_json::from_str::<serde_json::Value>(text)
            .map(|value| format_problems(&value))
            .unwrap_or_default();
        if problems.is_empty() {
            // The diagnosis found nothing more precise: serde's message (with line and column).
            return Err(BatchFileError::Format(vec![FormatProblem {
                site: None,
                field: String::new(),
                message: error.to_string(),
            }]));
        }
        Err(BatchFileError::Format(problems))
    }

    /// Reads and parses a batch file from disk.
    pub fn read(path: &Path) -> Result<Self, BatchFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| BatchFileError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text)
    }

    /// The file as pretty JSON (integers as numbers where JSON readers keep them exact, field
    /// elements as decimal strings).
    pub fn to_json_pretty(&self) -> String {
        compact_scalar_arrays(
            &serde_json::to_string_pretty(self)
                .expect("a batch file has only string keys and finite numbers"),
        )
    }
}

/// Pretty JSON with every array of scalars on one line (`[0, 0, 4200, ...]`), so that a site's
/// readings take one line instead of T. The JSON value is unchanged.
pub fn compact_scalar_arrays(pretty: &str) -> String {
    let b = pretty.as_bytes();
    // The index of the `]` closing the array opened at `start`, if it holds no array or object.
    let scalar_array_end = |start: usize| -> Option<usize> {
        let mut i = start + 1;
        let mut in_string = false;
        while i < b.len() {
            match (in_string, b[i]) {
                (true, b'\\') => i += 1,
                (true, b'"') => in_string = false,
                (false, b'"') => in_string = true,
                (false, b'[' | b'{') => return None,
                (false, b']') => return Some(i),
                _ => {}
            }
            i += 1;
        }
        None
    };
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut in_string = false;
    let mut compact_until = None;
    while i < b.len() {
        let c = b[i];
        if in_string {
            out.push(c);
            if c == b'\\' && i + 1 < b.len() {
                out.push(b[i + 1]);
                i += 1;
            } else if c == b'"' {
                in_string = false;
            }
        } else if c == b'"' {
            in_string = true;
            out.push(c);
        } else if compact_until.is_some_and(|end| i <= end) {
            if !c.is_ascii_whitespace() {
                out.push(c);
                if c == b',' {
                    out.push(b' ');
                }
            }
        } else {
            if c == b'[' {
                compact_until = scalar_array_end(i);
            }
            out.push(c);
        }
        i += 1;
    }
    String::from_utf8(out).expect("only ASCII whitespace outside strings was removed")
}

/// Names a site in error messages: `site 101 (sites[2])`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SiteRef {
    /// Position in the file's `sites` (0-based).
    pub position: usize,
    /// The site's `site_id`.
    pub site_id: u64,
}

impl fmt::Display for SiteRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "site {} (sites[{}])", self.site_id, self.position)
    }
}

/// What is wrong with one site.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiteProblem {
    /// Another site before it has the same `site_id`.
    #[error("duplicate site_id: sites[{first_position}] already uses it")]
    DuplicateSiteId {
        /// Where the id first appears.
        first_position: usize,
    },
    /// Not exactly T readings.
    #[error("has {got} readings; the keys prove T = {expected} readings per site")]
    ReadingsCount {
        /// Readings in the file.
        got: usize,
        /// The keys' T.
        expected: usize,
    },
    /// Not exactly P prices.
    #[error("has {got} prices; the keys need P = {expected} (one per time-of-use slot)")]
    PricesCount {
        /// Prices in the file.
        got: usize,
        /// The keys' P.
        expected: usize,
    },
    /// The meter key is not a point of the prime-order subgroup of Baby Jubjub.
    #[error("meter_public_key is not a valid Baby Jubjub public key: {0}")]
    MeterKey(String),
    /// The signature does not verify over meter message v1 of the site's readings.
    #[error(
        "bad signature: it does not verify over meter message v1 of these {readings} readings \
         for epoch {epoch} and interval_seconds {interval_seconds}{}",
        .reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default()
    )]
    BadSignature {
        /// The epoch the message was built for.
        epoch: u64,
        /// The interval the message was built for.
        interval_seconds: u64,
        /// Number of readings in the message.
        readings: usize,
        /// Extra detail from the verifier, if any.
        reason: Option<String>,
    },
    /// The capacity bound floor(capacity_w * interval_seconds / 3600) is above
    /// [`MAX_READING_BOUND_WH`] (2^24 - 1): the circuit range-checks it and every reading to 24
    /// bits, so the site cannot be proved with this interval.
    #[error(
        "the capacity bound floor({capacity_w} W x {interval_seconds} s / 3600) = {bound_wh} Wh \
         is too large: it must be at most {MAX_READING_BOUND_WH} (2^24 - 1) Wh per interval; \
         lower capacity_w or interval_seconds"
    )]
    CapacityBoundTooLarge {
        /// The bound, above [`MAX_READING_BOUND_WH`].
        bound_wh: u64,
        /// The site's capacity.
        capacity_w: u32,
        /// The interval length.
        interval_seconds: u32,
    },
    /// A reading exceeds what the installation can produce in one interval.
    #[error(
        "readings_wh[{index}] = {reading_wh} Wh is over the capacity bound of {bound_wh} Wh \
         (floor({capacity_w} W x {interval_seconds} s / 3600)){}",
        if *.more > 0 { format!("; {} more readings are over it", .more) } else { String::new() }
    )]
    ReadingOverBound {
        /// Index of the first reading over the bound.
        index: usize,
        /// That reading.
        reading_wh: u32,
        /// The bound.
        bound_wh: u32,
        /// The site's capacity.
        capacity_w: u32,
        /// The interval length.
        interval_seconds: u32,
        /// How many further readings of this site are over the bound.
        more: usize,
    },
    /// The location is out of range or its region is not 1..=31 ASCII bytes.
    #[error("bad location: {0}")]
    Location(String),
}

/// One problem found in a batch file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchProblem {
    /// `version` is not 1.
    #[error("version is {0}; this tool reads batch file version 1")]
    Version(u64),
    /// `sites` is empty.
    #[error("the file lists no sites")]
    NoSites,
    /// `interval_seconds` is 0.
    #[error("interval_seconds is 0; it must be 1..=4294967295")]
    IntervalZero,
    /// `interval_seconds` does not fit 32 bits.
    #[error("interval_seconds is {0}; it must be at most 4294967295 (2^32 - 1)")]
    IntervalTooLarge(u64),
    /// `slots` does not have T entries.
    #[error("slots has {got} entries; the keys prove T = {expected} readings per site")]
    SlotsLength {
        /// Entries in the file.
        got: usize,
        /// The keys' T.
        expected: usize,
    },
    /// A slot does not name one of the P prices.
    #[error("slots[{index}] is {slot}, but the keys have only {price_slots} price slots (0..={})", .price_slots - 1)]
    SlotOutOfRange {
        /// Interval index.
        index: usize,
        /// The slot written.
        slot: u32,
        /// The keys' P.
        price_slots: usize,
    },
    /// The schedule is refused by the circuit library for another reason.
    #[error("the time-of-use schedule is invalid: {0}")]
    Schedule(String),
    /// The sites cannot be spread over batches without breaking k-anonymity, or do not fit.
    #[error("{0}")]
    Plan(#[from] crate::epoch::PlanError),
    /// A problem with one site.
    #[error("{site}: {problem}")]
    Site {
        /// Which site.
        site: SiteRef,
        /// What is wrong.
        problem: SiteProblem,
    },
}

/// Every problem found in a batch file (the first [`MAX_LISTED_PROBLEMS`] of them listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationErrors {
    /// The listed problems, in file order (file-level ones first).
    pub problems: Vec<BatchProblem>,
    /// Problems found beyond the listed ones.
    pub omitted: usize,
}

impl ValidationErrors {
    /// Total number of problems found.
    pub fn total(&self) -> usize {
        self.problems.len() + self.omitted
    }
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the batch file has {} problem(s); nothing was proved:",
            self.total()
        )?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        if self.omitted > 0 {
            write!(f, "\n  ... and {} more", self.omitted)?;
        }
        Ok(())
    }
}

impl std::error::Error for ValidationErrors {}

/// Policy that the circuit cannot enforce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValidationPolicy {
    /// k-anonymity: every batch must hold at least this many real sites.
    pub min_sites_per_batch: usize,
}

impl Default for ValidationPolicy {
    fn default() -> Self {
        Self {
            min_sites_per_batch: DEFAULT_MIN_SITES_PER_BATCH,
        }
    }
}

/// A site that passed every check, in the circuit library's types. Contains secrets (CEII
/// location, readings, prices, meter key).
#[derive(Debug, Clone)]
pub struct ValidatedSite {
    /// Position in the file.
    pub position: usize,
    /// The site's id.
    pub site_id: u64,
    /// The meter key (on the curve, in the subgroup).
    pub meter_key: PublicKey,
    /// Capacity in W.
    pub capacity_w: u32,
    /// P prices in micro-USD per kWh.
    pub prices_uusd_per_kwh: Vec<u32>,
    /// The location (validated).
    pub location: Location,
    /// T readings in Wh, each within the capacity bound.
    pub readings_wh: Vec<u32>,
    /// The meter's signature (verified).
    pub signature: Signature,
    /// Meter message v1 of the readings (what the signature signs).
    pub meter_message: Fr,
}

/// A batch file that passed validation against a key shape: ready to be placed and proved.
#[derive(Debug, Clone)]
pub struct ValidatedBatch {
    /// The epoch.
    pub epoch: u64,
    /// Interval length in seconds (1..=2^32-1).
    pub interval_seconds: u32,
    /// The public time-of-use schedule (T slots, each < P).
    pub schedule: Schedule,
    /// The shape the file was validated against (the keys').
    shape: BatchShape,
    /// The sites, in file order.
    sites: Vec<ValidatedSite>,
    /// How the sites are spread over batches; private so that it always covers `sites`.
    plan: Vec<BatchAssignment>,
}

impl ValidatedBatch {
    /// The shape the file was validated against: every site has its T readings and P prices.
    pub fn shape(&self) -> &BatchShape {
        &self.shape
    }

    /// The sites, in file order.
    pub fn sites(&self) -> &[ValidatedSite] {
        &self.sites
    }

    /// How the sites are spread over batches (k-anonymity already checked): batch b holds
    /// `sites()[plan[b].first_site..][..plan[b].site_count]`, in order, covering every site.
    pub fn plan(&self) -> &[BatchAssignment] {
        &self.plan
    }
}

struct Collector {
    problems: Vec<BatchProblem>,
    omitted: usize,
}

impl Collector {
    fn push(&mut self, p: BatchProblem) {
        if self.problems.len() < MAX_LISTED_PROBLEMS {
            self.problems.push(p);
        } else {
            self.omitted += 1;
        }
    }
    fn site(&mut self, site: SiteRef, problem: SiteProblem) {
        self.push(BatchProblem::Site { site, problem });
    }
}

/// Checks a batch file against the keys' shape and the policy, and returns it in the circuit
/// library's types. Every problem is collected: the error lists them all (up to
/// [`MAX_LISTED_PROBLEMS`], then a count).
///
/// `shape` must be valid (`BatchShape::validate`), as every shape from `BatchShape::new` or
/// [`crate::keys::read_shape`] is.
pub fn validate(
    file: &BatchFile,
    shape: &BatchShape,
    policy: &ValidationPolicy,
) -> Result<ValidatedBatch, ValidationErrors> {
    let mut c = Collector {
        problems: Vec::new(),
        omitted: 0,
    };
    let t = shape.readings_per_site;
    let p = shape.price_slots;

    if file.version != BATCH_FILE_VERSION {
        c.push(BatchProblem::Version(file.version));
    }
    let interval_seconds = match file.interval_seconds {
        0 => {
            c.push(BatchProblem::IntervalZero);
            None
        }
        i => match u32::try_from(i) {
            Ok(i) => Some(i),
            Err(_) => {
                c.push(BatchProblem::IntervalTooLarge(i));
                None
            }
        },
    };
    if file.slots.len() != t {
        c.push(BatchProblem::SlotsLength {
            got: file.slots.len(),
            expected: t,
        });
    }
    let mut slots_ok = file.slots.len() == t;
    for (index, &slot) in file.slots.iter().enumerate() {
        if slot as usize >= p {
            slots_ok = false;
            c.push(BatchProblem::SlotOutOfRange {
                index,
                slot,
                price_slots: p,
            });
        }
    }
    let schedule = if slots_ok {
        // Every slot is < P <= 11 here, so the narrowing cannot lose a value.
        let slots: Vec<u8> = file.slots.iter().map(|&s| s as u8).collect();
        match Schedule::new(slots, p) {
            Ok(s) => Some(s),
            Err(e) => {
                c.push(BatchProblem::Schedule(e.to_string()));
                None
            }
        }
    } else {
        None
    };

    if file.sites.is_empty() {
        c.push(BatchProblem::NoSites);
    }

    let mut first_seen: HashMap<u64, usize> = HashMap::with_capacity(file.sites.len());
    let mut sites = Vec::with_capacity(file.sites.len());
    for (position, record) in file.sites.iter().enumerate() {
        let site = SiteRef {
            position,
            site_id: record.site_id,
        };
        let mut ok = true;
        match first_seen.get(&record.site_id) {
            Some(&first_position) => {
                ok = false;
                c.site(site, SiteProblem::DuplicateSiteId { first_position });
            }
            None => {
                first_seen.insert(record.site_id, position);
            }
        }
        if record.readings_wh.len() != t {
            ok = false;
            c.site(
                site,
                SiteProblem::ReadingsCount {
                    got: record.readings_wh.len(),
                    expected: t,
                },
            );
        }
        if record.prices_uusd_per_kwh.len() != p {
            ok = false;
            c.site(
                site,
                SiteProblem::PricesCount {
                    got: record.prices_uusd_per_kwh.len(),
                    expected: p,
                },
            );
        }
        let location = record.location.to_location();
        if let Err(e) = location.validate() {
            ok = false;
            c.site(site, SiteProblem::Location(e.to_string()));
        }
        if let Some(interval_seconds) = interval_seconds {
            // The same check as the circuit's: a bound of 2^24 or more fails its range check.
            let capacity_w = record.capacity_w;
            match checked_reading_bound_wh(capacity_w, interval_seconds) {
                None => {
                    ok = false;
                    c.site(
                        site,
                        SiteProblem::CapacityBoundTooLarge {
                            bound_wh: reading_bound_wh(capacity_w, interval_seconds),
                            capacity_w,
                            interval_seconds,
                        },
                    );
                }
                Some(bound_wh) => {
                    let mut over = record
                        .readings_wh
                        .iter()
                        .enumerate()
                        .filter(|(_, &r)| r > bound_wh);
                    if let Some((index, &reading_wh)) = over.next() {
                        ok = false;
                        let more = over.count();
                        c.site(
                            site,
                            SiteProblem::ReadingOverBound {
                                index,
                                reading_wh,
                                bound_wh,
                                capacity_w,
                                interval_seconds,
                                more,
                            },
                        );
                    }
                }
            }
        }
        let meter_key = match PublicKey::new(record.meter_public_key[0], record.meter_public_key[1])
        {
            Ok(k) => Some(k),
            Err(e) => {
                ok = false;
                c.site(site, SiteProblem::MeterKey(e.to_string()));
                None
            }
        };
        let signature = record.signature.to_signature();
        let mut meter_message = None;
        if let (Some(key), Some(interval_seconds)) = (&meter_key, interval_seconds) {
            let message = MeterMessage {
                site_id: record.site_id,
                epoch: file.epoch,
                interval_seconds,
                readings_wh: record.readings_wh.clone(),
            }
            .hash();
            match signature_check(key, message, &signature) {
                Ok(()) => meter_message = Some(message),
                Err(reason) => {
                    ok = false;
                    c.site(
                        site,
                        SiteProblem::BadSignature {
                            epoch: file.epoch,
                            interval_seconds: u64::from(interval_seconds),
                            readings: record.readings_wh.len(),
                            reason,
                        },
                    );
                }
            }
        }
        if let (true, Some(meter_key), Some(meter_message)) = (ok, meter_key, meter_message) {
            sites.push(ValidatedSite {
                position,
                site_id: record.site_id,
                meter_key,
                capacity_w: record.capacity_w,
                prices_uusd_per_kwh: record.prices_uusd_per_kwh.clone(),
                location,
                readings_wh: record.readings_wh.clone(),
                signature,
                meter_message,
            });
        }
    }

    let plan = if file.sites.is_empty() {
        None
    } else {
        match plan_batches(file.sites.len(), shape, policy.min_sites_per_batch) {
            Ok(plan) => Some(plan),
            Err(e) => {
                // File-level problems are listed before the sites' ones.
                let at = c
                    .problems
                    .iter()
                    .take_while(|p| !matches!(p, BatchProblem::Site { .. }))
                    .count();
                if c.problems.len() < MAX_LISTED_PROBLEMS {
                    c.problems.insert(at, BatchProblem::Plan(e));
                } else {
                    c.problems.insert(at, BatchProblem::Plan(e));
                    c.problems.pop();
                    c.omitted += 1;
                }
                None
            }
        }
    };

    match (c.problems.is_empty(), interval_seconds, schedule, plan) {
        (true, Some(interval_seconds), Some(schedule), Some(plan)) => Ok(ValidatedBatch {
            epoch: file.epoch,
            interval_seconds,
            schedule,
            shape: *shape,
            sites,
            plan,
        }),
        _ => Err(ValidationErrors {
            problems: c.problems,
            omitted: c.omitted,
        }),
    }
}

/// Verifies natively; `Err(Some(reason))` when the verifier explains itself.
fn signature_check(
    key: &PublicKey,
    message: Fr,
    signature: &Signature,
) -> Result<(), Option<String>> {
    key.verify(message, signature).map_err(|e| match e {
        // The plain mismatch needs no further words; the other cases explain themselves.
        gridproof_circuits::eddsa::EddsaError::BadSignature => None,
        other => Some(other.to_string()),
    })
}

/// serde helpers for integers written as JSON numbers or canonical decimal strings.
pub(crate) mod int {
    use std::fmt;
    use std::marker::PhantomData;

    use gridproof_circuits::encoding::parse_uint;
    use serde::de::{self, Deserializer, SeqAccess, Visitor};
    use serde::ser::{SerializeSeq, Serializer};
    use serde::Deserialize;

    /// JSON readers in JavaScript lose precision above 2^53 - 1; wider u64 are written as strings.
    const MAX_SAFE_JSON_INTEGER: u64 = (1 << 53) - 1;

    pub(crate) trait FlexInt: Sized + Copy {
        const EXPECTED: &'static str;
        fn from_u64(v: u64) -> Option<Self>;
        fn from_i64(v: i64) -> Option<Self>;
        fn parse(s: &str) -> Result<Self, String>;
    }

    fn parse_unsigned(s: &str, bits: u32) -> Result<u64, String> {
        parse_uint(s, bits).map_err(|e| e.to_string())
    }

    impl FlexInt for u64 {
        const EXPECTED: &'static str = "an unsigned 64-bit integer (JSON number or decimal string)";
        fn from_u64(v: u64) -> Option<Self> {
            Some(v)
        }
        fn from_i64(v: i64) -> Option<Self> {
            u64::try_from(v).ok()
        }
        fn parse(s: &str) -> Result<Self, String> {
            parse_unsigned(s, 64)
        }
    }

    impl FlexInt for u32 {
        const EXPECTED: &'static str = "an unsigned 32-bit integer (JSON number or decimal string)";
        fn from_u64(v: u64) -> Option<Self> {
            u32::try_from(v).ok()
        }
        fn from_i64(v: i64) -> Option<Self> {
            u32::try_from(v).ok()
        }
        fn parse(s: &str) -> Result<Self, String> {
            parse_unsigned(s, 32).map(|v| v as u32)
        }
    }

    impl FlexInt for i64 {
        const EXPECTED: &'static str = "a signed 64-bit integer (JSON number or decimal string)";
        fn from_u64(v: u64) -> Option<Self> {
            i64::try_from(v).ok()
        }
        fn from_i64(v: i64) -> Option<Self> {
            Some(v)
        }
        fn parse(s: &str) -> Result<Self, String> {
            let (negative, digits) = match s.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, s),
            };
            if negative && digits == "0" {
                return Err("'-0' is not canonical; write 0".to_string());
            }
            // Magnitude up to 2^63 (i64::MIN's), then the sign.
            let magnitude = i128::from(parse_unsigned(digits, 64)?);
            let value = if negative { -magnitude } else { magnitude };
            i64::try_from(value).map_err(|_| format!("{s} does not fit in a signed 64-bit integer"))
        }
    }

    struct FlexVisitor<T>(PhantomData<T>);

    impl<'de, T: FlexInt> Visitor<'de> for FlexVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(T::EXPECTED)
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
            T::from_u64(v)
                .ok_or_else(|| E::custom(format!("{v} is out of range for {}", T::EXPECTED)))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
            T::from_i64(v)
                .ok_or_else(|| E::custom(format!("{v} is out of range for {}", T::EXPECTED)))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
            // serde_json hands over floats, exponents and integers wider than 64 bits this way.
            if v.fract() == 0.0 && v.abs() >= 1.0e18 {
                Err(E::custom(format!(
                    "{v} is out of range for {} (or is written as a float)",
                    T::EXPECTED
                )))
            } else {
                Err(E::custom(format!(
                    "{v:?} is not an integer: expected {} without fraction or exponent",
                    T::EXPECTED
                )))
            }
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            T::parse(v).map_err(E::custom)
        }
    }

    /// One integer in either form.
    pub(crate) struct Flex<T>(pub T);

    impl<'de, T: FlexInt> Deserialize<'de> for Flex<T> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(FlexVisitor::<T>(PhantomData)).map(Flex)
        }
    }

    fn deserialize_vec<'de, D: Deserializer<'de>, T: FlexInt>(d: D) -> Result<Vec<T>, D::Error> {
        struct SeqVisitor<T>(PhantomData<T>);
        impl<'de, T: FlexInt> Visitor<'de> for SeqVisitor<T> {
            type Value = Vec<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "an array of {}", T::EXPECTED)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
                while let Some(Flex(v)) = seq.next_element::<Flex<T>>()? {
                    out.push(v);
                }
                Ok(out)
            }
        }
        d.deserialize_seq(SeqVisitor::<T>(PhantomData))
    }

    pub(crate) mod u64 {
        use super::*;
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
            Flex::<u64>::deserialize(d).map(|f| f.0)
        }
        pub(crate) fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
            if *v <= MAX_SAFE_JSON_INTEGER {
                s.serialize_u64(*v)
            } else {
                s.serialize_str(&v.to_string())
            }
        }
    }

    pub(crate) mod u32 {
        use super::*;
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
            Flex::<u32>::deserialize(d).map(|f| f.0)
        }
        pub(crate) fn serialize<S: Serializer>(v: &u32, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_u32(*v)
        }
    }

    pub(crate) mod i64 {
        use super::*;
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
            Flex::<i64>::deserialize(d).map(|f| f.0)
        }
        pub(crate) fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
            if v.unsigned_abs() <= MAX_SAFE_JSON_INTEGER {
                s.serialize_i64(*v)
            } else {
                s.serialize_str(&v.to_string())
            }
        }
    }

    pub(crate) mod vec_u32 {
        use super::*;
        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u32>, D::Error> {
            deserialize_vec::<D, u32>(d)
        }
        pub(crate) fn serialize<S: Serializer>(v: &[u32], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(v.len()))?;
            for x in v {
                seq.serialize_element(x)?;
            }
            seq.end()
        }
    }
}

/// serde helpers for field elements as canonical decimal strings (numbers below 2^53 accepted
/// too): the batch file's form, shared with the service's JSON API so both read and write the
/// same way (`#[serde(with = "field::single")]`, `field::pair`).
pub mod field {
    use std::fmt;

    use gridproof_circuits::encoding::{field_to_decimal, parse_field};
    use gridproof_circuits::Fr;
    use serde::de::{self, Deserializer, Visitor};
    use serde::ser::{SerializeTuple, Serializer};
    use serde::Deserialize;

    struct FieldVisitor;

    impl<'de> Visitor<'de> for FieldVisitor {
        type Value = Fr;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a field element as a canonical decimal string below r")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Fr, E> {
            Ok(Fr::from(v))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Fr, E> {
            Err(E::custom(format!(
                "{v} is negative; a field element is 0..r-1"
            )))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Fr, E> {
            Err(E::custom(format!(
                "{v} is a float or too wide for a JSON number; write field elements as decimal strings"
            )))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Fr, E> {
            parse_field(v).map_err(|e| E::custom(format!("non-canonical field element: {e}")))
        }
    }

    /// A field element read from a string or a small number.
    pub(crate) struct FieldDe(pub(crate) Fr);

    impl<'de> Deserialize<'de> for FieldDe {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(FieldVisitor).map(FieldDe)
        }
    }

    /// One field element.
    pub mod single {
        use super::*;
        /// Reads a decimal string or a small number; refuses non-canonical values.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Fr, D::Error> {
            FieldDe::deserialize(d).map(|f| f.0)
        }
        /// Writes canonical decimal strings.
        pub fn serialize<S: Serializer>(v: &Fr, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&field_to_decimal(v))
        }
    }

    /// A pair of field elements (a point).
    pub mod pair {
        use super::*;
        /// Reads a decimal string or a small number; refuses non-canonical values.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[Fr; 2], D::Error> {
            let [FieldDe(x), FieldDe(y)] = <[FieldDe; 2]>::deserialize(d)?;
            Ok([x, y])
        }
        /// Writes canonical decimal strings.
        pub fn serialize<S: Serializer>(v: &[Fr; 2], s: S) -> Result<S::Ok, S::Error> {
            let mut t = s.serialize_tuple(2)?;
            t.serialize_element(&field_to_decimal(&v[0]))?;
            t.serialize_element(&field_to_decimal(&v[1]))?;
            t.end()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacting_arrays_keeps_the_json_value() {
        let value = serde_json::json!({
            "a": [1, 2, 3],
            "b": [["x", "y"], ["[z]", "q\"]"]],
            "c": [{"d": [4, 5]}, []],
            "e": "text [with] brackets",
            "f": []
        });
        let pretty = serde_json::to_string_pretty(&value).unwrap();
        let compact = compact_scalar_arrays(&pretty);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&compact).unwrap(),
            value
        );
        assert!(compact.contains("\"a\": [1, 2, 3]"), "{compact}");
        assert!(compact.contains("[\"[z]\", \"q\\\"]\"]"), "{compact}");
        assert!(compact.contains("\"d\": [4, 5]"), "{compact}");
        assert!(compact.lines().count() < pretty.lines().count());
    }

    #[test]
    fn plans_are_even_and_refuse_small_batches() {
        use crate::epoch::plan_batches;
        let shape = |sites, registry_depth| BatchShape {
            sites,
            readings_per_site: 1,
            price_slots: 4,
            registry_depth,
        };
        let sizes = |n, s, min| {
            plan_batches(n, &shape(s, 20), min)
                .map(|p| p.iter().map(|a| a.site_count).collect::<Vec<_>>())
        };
        assert_eq!(sizes(7, 4, 3), Ok(vec![4, 3]));
        assert_eq!(sizes(9, 4, 3), Ok(vec![3, 3, 3]));
        assert_eq!(sizes(10, 4, 3), Ok(vec![4, 3, 3]));
        assert_eq!(sizes(4, 4, 3), Ok(vec![4]));
        assert_eq!(sizes(65, 64, 3), Ok(vec![33, 32]));
        assert!(sizes(5, 4, 3).is_err());
        assert!(sizes(2, 4, 3).is_err());
        assert!(sizes(0, 4, 3).is_err());
        assert_eq!(
            plan_batches(5, &shape(4, 2), 1),
            Err(crate::epoch::PlanError::TooManySites {
                n_sites: 5,
                batches: 2,
                sites_per_batch: 4,
                registry_depth: 2
            }),
            "2 batches of 4 need 8 leaves > 2^2"
        );
        assert_eq!(plan_batches(4, &shape(4, 2), 1).map(|p| p.len()), Ok(1));
        let plan = plan_batches(10, &shape(4, 20), 3).unwrap();
        assert_eq!(plan[2].first_site, 7);
        assert_eq!(plan[2].first_leaf(4), 8);
    }
}

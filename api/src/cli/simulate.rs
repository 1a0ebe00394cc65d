//! `gridproof meter simulate`: a realistic batch file v1 for one epoch.
//!
//! Sites are commercial solar installations around Chicago, Springfield IL and Peoria (region
//! "US-IL") and Boston, Worcester and Springfield MA ("US-MA"), 50 kW to 2 MW (log-uniform).
//! Readings start at local midnight of the epoch's day (the epoch is read as days since
//! 1970-01-01) and follow clear-sky irradiance (Haurwitz model) for the site's latitude, the sun's
//! declination on that day of the year, the equation of time, the site's longitude within its
//! time zone and daylight saving time; then each city's weather of the day (clear, partly cloudy
//! with passing clouds, overcast) and each site's losses. About a third of the sites have a
//! battery that stores part of the late-morning output and exports it in the evening peak. Every
//! reading is at most the capacity bound floor(capacity_w * interval_seconds / 3600).
//!
//! The schedule is a 4-slot time-of-use tariff by local hour: night [0, 6), morning [6, 16),
//! peak [16, 21), evening [21, 24); each site's prices are a regional base times a site factor.
//! Each site's meter key is drawn from the seed, so `--seed` makes the whole file (keys and
//! signatures included) reproducible.

use std::f64::consts::PI;
use std::path::PathBuf;

use clap::Args;
use gridproof_circuits::eddsa::PrivateKey;
use gridproof_circuits::meter::MeterMessage;
use gridproof_circuits::registry::{checked_reading_bound_wh, MAX_REGION_BYTES};
use gridproof_circuits::statement::MAX_READINGS_PER_SITE;
use gridproof_circuits::statement::MAX_READING_BOUND_WH;
use gridproof_prover::batch::{
    BatchFile, LocationRecord, SignatureRecord, SiteRecord, BATCH_FILE_VERSION,
};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::files::{ensure_absent, pretty_json, write_secret};
use super::meter::{key_file, KeyFile};
use super::{parse_count, parse_interval_seconds, parse_u64, CliError};

/// Most sites one simulated file may hold (the registry's 2^20 leaves).
pub const MAX_SIMULATED_SITES: usize = 1 << 20;

/// Longest time a simulated epoch may cover, interval_seconds x readings_per_site: 366 days
/// (the weather is drawn per day, so this also bounds the memory it takes).
pub const MAX_SIMULATED_SECONDS: u64 = 366 * 86_400;

/// Smallest simulated installation, in W.
const MIN_CAPACITY_W: u32 = 50_000;
/// Largest simulated installation, in W; its capacity bound must fit the statement's 32 bits.
const MAX_CAPACITY_W: u32 = 2_000_000;

/// The largest simulated capacity at this interval: [`MAX_CAPACITY_W`], or less where a 2 MW
/// site's capacity bound would exceed what the statement proves (daily intervals and longer).
fn max_capacity_w(interval_seconds: u32) -> u32 {
    let fits = u64::from(MAX_READING_BOUND_WH) * 3600 / u64::from(interval_seconds.max(1));
    // Rounded down to the 500 W steps the simulation draws.
    let fits = u32::try_from(fits / 500 * 500).unwrap_or(u32::MAX);
    MAX_CAPACITY_W.min(fits)
}

/// Options of `meter simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Number of sites (installations) to simulate.
    #[arg(long, value_parser = parse_count)]
    pub sites: usize,
    /// The epoch: a day, as days since 1970-01-01 (20300 is 2025-07-31); it sets the season.
    #[arg(long, value_parser = parse_u64)]
    pub epoch: u64,
    /// Length of one reading interval in seconds.
    #[arg(long, default_value = "3600", value_parser = parse_interval_seconds)]
    pub interval_seconds: u32,
    /// Readings per site (T); must match the keys' T to prove the file. T x interval seconds
    /// is the time covered from local midnight (e.g. 8 readings of 10800 s cover a whole day).
    #[arg(long, default_value = "24", value_parser = parse_count)]
    pub readings_per_site: usize,
    /// Any text; the same seed gives the same file (meter keys and signatures included).
    /// Without it a random seed is drawn and printed on stderr.
    #[arg(long)]
    pub seed: Option<String>,
    /// Where to write the batch file (JSON, mode 0600: it holds locations).
    #[arg(long, value_name = "BATCH.json")]
    pub out: PathBuf,
    /// Also write the meters' private keys to FILE (JSON, mode 0600, secret).
    #[arg(long, value_name = "FILE")]
    pub keys_out: Option<PathBuf>,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
}

/// What to simulate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimulationParams {
    /// Number of sites.
    pub sites: usize,
    /// The epoch (days since 1970-01-01).
    pub epoch: u64,
    /// Interval length in seconds (>= 1).
    pub interval_seconds: u32,
    /// Readings per site.
    pub readings_per_site: usize,
}

/// A simulated epoch: the batch file and the meter keys that signed it (secret).
pub struct Simulation {
    /// The batch file v1.
    pub batch: BatchFile,
    /// Each site's meter key, in site order.
    pub meter_keys: Vec<(u64, PrivateKey)>,
}

/// The meters' keys as `--keys-out` writes them (secret).
#[derive(Debug, Serialize)]
pub struct MeterKeysFile {
    /// A reminder that the file is secret.
    pub note: String,
    /// The seed that reproduces the simulation.
    pub seed: String,
    /// One key per site.
    pub meters: Vec<MeterKeyEntry>,
}

/// One meter's key.
#[derive(Debug, Serialize)]
pub struct MeterKeyEntry {
    /// The site.
    pub site_id: u64,
    /// The key.
    #[serde(flatten)]
    pub key: KeyFile,
}

struct City {
    region: &'static str,
    latitude: f64,
    longitude: f64,
    /// Standard-time meridian of the city's time zone (Central -90, Eastern -75).
    zone_meridian: f64,
    /// Share of the simulated sites.
    weight: f64,
    /// Retail price level relative to Chicago.
    price_level: f64,
}

const CITIES: [City; 6] = [
    // Chicago
    City {
        region: "US-IL",
        latitude: 41.8781,
        longitude: -87.6298,
        zone_meridian: -90.0,
        weight: 0.28,
        price_level: 1.00,
    },
    // Springfield, Illinois
    City {
        region: "US-IL",
        latitude: 39.7817,
        longitude: -89.6501,
        zone_meridian: -90.0,
        weight: 0.12,
        price_level: 0.95,
    },
    // Peoria
    City {
        region: "US-IL",
        latitude: 40.6936,
        longitude: -89.5890,
        zone_meridian: -90.0,
        weight: 0.10,
        price_level: 0.95,
    },
    // Boston
    City {
        region: "US-MA",
        latitude: 42.3601,
        longitude: -71.0589,
        zone_meridian: -75.0,
        weight: 0.24,
        price_level: 1.30,
    },
    // Worcester
    City {
        region: "US-MA",
        latitude: 42.2626,
        longitude: -71.8023,
        zone_meridian: -75.0,
        weight: 0.14,
        price_level: 1.25,
    },
    // Springfield, Massachusetts
    City {
        region: "US-MA",
        latitude: 42.1015,
        longitude: -72.5898,
        zone_meridian: -75.0,
        weight: 0.12,
        price_level: 1.25,
    },
];

/// Base time-of-use prices in micro-USD per kWh: night, morning, peak, evening.
const BASE_PRICES_UUSD_PER_KWH: [f64; 4] = [60_000.0, 90_000.0, 180_000.0, 75_000.0];

/// The time-of-use slot of a local clock hour: night 0, morning 1, peak 2, evening 3.
pub fn tou_slot(local_hour: u32) -> u32 {
    match local_hour % 24 {
        0..=5 => 0,
        6..=15 => 1,
        16..=20 => 2,
        _ => 3,
    }
}

/// (year, month, day) of a day number since 1970-01-01 (proleptic Gregorian).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Day of the year (1..=366) of a day number since 1970-01-01.
pub fn day_of_year(days: i64) -> u32 {
    let (y, m, d) = civil_from_days(days);
    const CUMULATIVE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    CUMULATIVE[(m - 1) as usize] + d + u32::from(leap && m > 2)
}

/// Clear-sky global horizontal irradiance as a fraction of 1000 W/m^2 (Haurwitz model), at a
/// local clock time (hours since local midnight) on a day of the year.
pub fn clear_sky_fraction(
    latitude: f64,
    longitude: f64,
    zone_meridian: f64,
    doy: u32,
    clock_hours: f64,
) -> f64 {
    let doy = f64::from(doy);
    let declination = (23.44f64).to_radians() * (2.0 * PI * (284.0 + doy) / 365.0).sin();
    let b = 2.0 * PI * (doy - 81.0) / 364.0;
    let equation_of_time_min = 9.87 * (2.0 * b).sin() - 7.53 * b.cos() - 1.5 * b.sin();
    // US daylight saving time, approximately second Sunday of March to first Sunday of November.
    let dst = if (70.0..=307.0).contains(&doy) {
        1.0
    } else {
        0.0
    };
    let solar_time =
        clock_hours - dst + (4.0 * (longitude - zone_meridian) + equation_of_time_min) / 60.0;
    let hour_angle = (15.0 * (solar_time - 12.0)).to_radians();
    let lat = latitude.to_radians();
    let sin_altitude =
        lat.sin() * declination.sin() + lat.cos() * declination.cos() * hour_angle.cos();
    if sin_altitude <= 0.01 {
        return 0.0;
    }
    1.098 * sin_altitude * (-0.057 / sin_altitude).exp()
}

/// The ChaCha seed of a `--seed` text.
pub fn seed_bytes(seed: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"gridproof/meter-simulate/v1\0");
    h.update(seed.as_bytes());
    h.finalize().into()
}

struct Weather {
    /// Fraction of clear-sky irradiance reaching the panels on average that day.
    level: f64,
    /// Range of the per-interval factor (passing clouds).
    noise: (f64, f64),
}

fn draw_weather(rng: &mut impl Rng) -> Weather {
    let p: f64 = rng.gen();
    if p < 0.45 {
        Weather {
            level: rng.gen_range(0.92..1.0),
            noise: (0.95, 1.02),
        }
    } else if p < 0.80 {
        Weather {
            level: rng.gen_range(0.55..0.85),
            noise: (0.35, 1.15),
        }
    } else {
        Weather {
            level: rng.gen_range(0.12..0.35),
            noise: (0.80, 1.15),
        }
    }
}

/// Simulates an epoch deterministically from `seed`.
pub fn simulate(params: &SimulationParams, seed: [u8; 32]) -> Result<Simulation, CliError> {
    if params.sites == 0 || params.sites > MAX_SIMULATED_SITES {
        return Err(CliError::Input(format!(
            "--sites must be 1..={MAX_SIMULATED_SITES}, got {}",
            params.sites
        )));
    }
    if params.readings_per_site == 0 || params.readings_per_site > MAX_READINGS_PER_SITE {
        return Err(CliError::Input(format!(
            "--readings-per-site must be 1..={MAX_READINGS_PER_SITE}, got {}",
            params.readings_per_site
        )));
    }
    if params.interval_seconds == 0 {
        return Err(CliError::Input(
            "--interval-seconds must be at least 1".into(),
        ));
    }
    let covered_seconds = u64::from(params.interval_seconds) * params.readings_per_site as u64;
    if covered_seconds > MAX_SIMULATED_SECONDS {
        return Err(CliError::Input(format!(
            "--interval-seconds {} x --readings-per-site {} covers {covered_seconds} s (about {} \
             days); a simulated epoch covers at most 366 days ({MAX_SIMULATED_SECONDS} s)",
            params.interval_seconds,
            params.readings_per_site,
            covered_seconds / 86_400
        )));
    }
    // Every simulated site must be provable: its capacity bound must be at most
    // MAX_READING_BOUND_WH (2^24 - 1 Wh per interval). Long intervals shrink the largest
    // simulated site instead; an interval too long even for the smallest one is refused.
    let max_capacity_w = max_capacity_w(params.interval_seconds);
    if checked_reading_bound_wh(MIN_CAPACITY_W, params.interval_seconds).is_none() {
        return Err(CliError::Input(format!(
            "--interval-seconds {} is too long: even a {MIN_CAPACITY_W} W site's capacity bound \
             would be over {MAX_READING_BOUND_WH} Wh per interval, which the statement cannot prove",
            params.interval_seconds
        )));
    }
    let day0 = i64::try_from(params.epoch).map_err(|_| {
        CliError::Input(format!(
            "epoch {} is too large to be a day number",
            params.epoch
        ))
    })?;
    if day0 > 100_000_000 {
        return Err(CliError::Input(format!(
            "epoch {} is too large to be a day number (days since 1970-01-01)",
            params.epoch
        )));
    }
    let mut rng = ChaCha20Rng::from_seed(seed);
    let t = params.readings_per_site;
    let interval = u64::from(params.interval_seconds);
    let days = covered_seconds.div_ceil(86_400).max(1) as usize;

    let slots: Vec<u32> = (0..t as u64)
        .map(|i| tou_slot(((i * interval % 86_400) / 3600) as u32))
        .collect();

    // Weather of each city for each day covered.
    let weather: Vec<Vec<Weather>> = CITIES
        .iter()
        .map(|_| (0..days).map(|_| draw_weather(&mut rng)).collect())
        .collect();

    let mut sites = Vec::with_capacity(params.sites);
    let mut meter_keys = Vec::with_capacity(params.sites);
    for i in 0..params.sites {
        let site_id = 101 + i as u64;
        let mut key_bytes = [0u8; 32];
        rng.fill_bytes(&mut key_bytes);
        let key = PrivateKey::from_bytes(key_bytes);

        let pick: f64 = rng.gen();
        let mut acc = 0.0;
        let city_index = CITIES
            .iter()
            .position(|c| {
                acc += c.weight;
                pick < acc
            })
            .unwrap_or(CITIES.len() - 1);
        let city = &CITIES[city_index];
        let latitude = city.latitude + rng.gen_range(-0.10..0.10);
        let longitude = city.longitude + rng.gen_range(-0.13..0.13);
        debug_assert!(city.region.len() <= MAX_REGION_BYTES);

        // Log-uniform 50 kW .. 2 MW, in steps of 500 W.
        let (min_w, max_w) = (f64::from(MIN_CAPACITY_W), f64::from(max_capacity_w));
        let capacity = (rng.gen_range(min_w.ln()..=max_w.ln())).exp();
        let capacity_w = ((capacity / 500.0).round() * 500.0).clamp(min_w, max_w) as u32;
        let site_factor = rng.gen_range(0.85..1.20);
        let prices_uusd_per_kwh: Vec<u32> = BASE_PRICES_UUSD_PER_KWH
            .iter()
            .map(|p| ((p * city.price_level * site_factor / 100.0).round() * 100.0) as u32)
            .collect();
        let derate = rng.gen_range(0.78..0.88);
        let battery = rng.gen_bool(0.3).then(|| rng.gen_range(0.15..0.35));

        let bound_wh = u64::from(
            checked_reading_bound_wh(capacity_w, params.interval_seconds)
                .expect("capacity_w <= max_capacity_w, whose bound fits the statement"),
        );
        let samples = interval.div_ceil(300).clamp(1, 48);
        let mut energy: Vec<f64> = Vec::with_capacity(t);
        for k in 0..t as u64 {
            let start = k * interval;
            let day = (start / 86_400) as usize;
            let w = &weather[city_index][day.min(days - 1)];
            let noise = rng.gen_range(w.noise.0..w.noise.1);
            let mut power_sum = 0.0;
            for j in 0..samples {
                let at = start as f64 + (j as f64 + 0.5) * interval as f64 / samples as f64;
                let day_offset = (at / 86_400.0).floor();
                let clock_hours = (at - day_offset * 86_400.0) / 3600.0;
                let doy = day_of_year(day0 + day_offset as i64);
                power_sum +=
                    clear_sky_fraction(latitude, longitude, city.zone_meridian, doy, clock_hours);
            }
            let fraction = (power_sum / samples as f64) * w.level * noise * derate;
            energy.push(f64::from(capacity_w) * fraction.min(1.0) * interval as f64 / 3600.0);
        }
        if let Some(share) = battery {
            shift_to_evening_peak(&mut energy, interval, share, bound_wh as f64);
        }
        let readings_wh: Vec<u32> = energy
            .iter()
            .map(|e| (e.max(0.0).floor() as u64).min(bound_wh) as u32)
            .collect();

        let message = MeterMessage {
            site_id,
            epoch: params.epoch,
            interval_seconds: params.interval_seconds,
            readings_wh,
        };
        let public_key = key.public_key();
        let signature = key.sign(message.hash());
        sites.push(SiteRecord {
            site_id,
            meter_public_key: [public_key.x, public_key.y],
            capacity_w,
            prices_uusd_per_kwh,
            location: LocationRecord {
                latitude_microdeg: (latitude * 1e6).round() as i64,
                longitude_microdeg: (longitude * 1e6).round() as i64,
                region: city.region.to_string(),
            },
            readings_wh: message.readings_wh,
            signature: SignatureRecord::from_signature(&signature),
        });
        meter_keys.push((site_id, key));
    }
    Ok(Simulation {
        batch: BatchFile {
            version: BATCH_FILE_VERSION,
            epoch: params.epoch,
            interval_seconds: u64::from(params.interval_seconds),
            slots,
            sites,
        },
        meter_keys,
    })
}

/// A battery: stores `share` of what is produced from 10:00 to 14:00 (90 % round trip) and
/// exports it from 16:00 to 21:00 (the peak), spread over the day's remaining peak intervals,
/// never above the capacity bound; what is left at midnight stays for the next day.
fn shift_to_evening_peak(energy: &mut [f64], interval: u64, share: f64, bound_wh: f64) {
    let hour = |k: usize| ((k as u64 * interval % 86_400) / 3600) as u32;
    let day = |k: usize| k as u64 * interval / 86_400;
    let charging = |k: usize| (10..14).contains(&hour(k));
    let discharging = |k: usize| (16..21).contains(&hour(k));
    let mut stored = 0.0;
    for k in 0..energy.len() {
        if charging(k) {
            let taken = energy[k] * share;
            energy[k] -= taken;
            stored += taken * 0.9;
        } else if discharging(k) && stored > 0.0 {
            let remaining = (k..energy.len())
                .take_while(|&j| day(j) == day(k))
                .filter(|&j| discharging(j))
                .count()
                .max(1);
            let out = (stored / remaining as f64).min((bound_wh - energy[k]).max(0.0));
            energy[k] += out;
            stored -= out;
        }
    }
}

/// Runs `meter simulate`.
pub fn run(args: &SimulateArgs) -> Result<(), CliError> {
    ensure_absent(&args.out, args.force)?;
    if let Some(keys_out) = &args.keys_out {
        ensure_absent(keys_out, args.force)?;
        if keys_out == &args.out {
            return Err(CliError::Input(
                "--keys-out and --out must be different files".into(),
            ));
        }
    }
    let seed_text = match &args.seed {
        Some(s) => s.clone(),
        None => {
            let s = hex::encode(rand::random::<[u8; 16]>());
            eprintln!("meter simulate: no --seed given; this run is reproduced with --seed {s}");
            s
        }
    };
    let params = SimulationParams {
        sites: args.sites,
        epoch: args.epoch,
        interval_seconds: args.interval_seconds,
        readings_per_site: args.readings_per_site,
    };
    let sim = simulate(&params, seed_bytes(&seed_text))?;

    if let Some(keys_out) = &args.keys_out {
        let file = MeterKeysFile {
            note: "SECRET: private keys of simulated gridproof test meters".into(),
            seed: seed_text.clone(),
            meters: sim
                .meter_keys
                .iter()
                .map(|(site_id, key)| MeterKeyEntry {
                    site_id: *site_id,
                    key: key_file(key),
                })
                .collect(),
        };
        write_secret(keys_out, pretty_json(&file).as_bytes())?;
    }
    let mut text = sim.batch.to_json_pretty();
    text.push('\n');
    write_secret(&args.out, text.as_bytes())?;

    let il = sim
        .batch
        .sites
        .iter()
        .filter(|s| s.location.region == "US-IL")
        .count();
    let energy_wh: u64 = sim
        .batch
        .sites
        .iter()
        .flat_map(|s| s.readings_wh.iter().map(|&r| u64::from(r)))
        .sum();
    let (y, m, d) = civil_from_days(args.epoch.min(100_000_000) as i64);
    eprintln!(
        "wrote {}: epoch {} ({y:04}-{m:02}-{d:02}), {} sites ({} in US-IL, {} in US-MA), {} readings of {} s each, {:.1} kWh in total",
        args.out.display(),
        args.epoch,
        sim.batch.sites.len(),
        il,
        sim.batch.sites.len() - il,
        args.readings_per_site,
        args.interval_seconds,
        energy_wh as f64 / 1000.0
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_is_right() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20300), (2025, 7, 31));
        assert_eq!(day_of_year(20300), 212);
        assert_eq!(day_of_year(civil_days(2024, 12, 31)), 366);
    }

    fn civil_days(y: i64, m: u32, d: u32) -> i64 {
        (0..40_000)
            .find(|&n| civil_from_days(n) == (y, m, d))
            .unwrap()
    }

    #[test]
    fn the_sun_shines_by_day_more_in_summer() {
        let (lat, lon, zone) = (41.8781, -87.6298, -90.0);
        let summer = day_of_year(20300);
        let winter = day_of_year(civil_days(2025, 12, 21));
        assert_eq!(clear_sky_fraction(lat, lon, zone, summer, 2.0), 0.0);
        assert_eq!(clear_sky_fraction(lat, lon, zone, summer, 23.0), 0.0);
        let noon_summer = clear_sky_fraction(lat, lon, zone, summer, 13.0);
        let noon_winter = clear_sky_fraction(lat, lon, zone, winter, 12.0);
        assert!(noon_summer > 0.85 && noon_summer < 1.0, "{noon_summer}");
        assert!(noon_winter > 0.3 && noon_winter < 0.55, "{noon_winter}");
        assert_eq!(clear_sky_fraction(lat, lon, zone, winter, 17.5), 0.0);
    }

    #[test]
    fn tou_slots_follow_the_hour() {
        let slots: Vec<u32> = (0..24).map(tou_slot).collect();
        assert_eq!(
            slots,
            [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3]
        );
    }
}

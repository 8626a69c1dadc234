//! Where a reading is generated: a plausible day of weather per sensor, deterministic per seed.
//!
//! Temperature follows a daily curve (coolest at 05:00, warmest at 15:00 local to the stream's
//! UTC day), plus a slow random drift and a little per-reading jitter; humidity moves against
//! temperature. Everything comes from one seed, so a rerun writes the same values, and a rerun
//! that resumes half-way regenerates (and skips) the first half to stay on the same path.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// Milliseconds in a day.
pub const DAY_MS: u64 = 86_400_000;

/// One sensor's reading at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// 1-based sensor number.
    pub sensor: u32,
    /// Temperature in tenths of a degree Celsius (`274` is 27.4 °C): exact to one decimal.
    pub temperature_tenths: i32,
    /// Relative humidity in percent, 0 to 100.
    pub humidity: u8,
}

impl Reading {
    /// The temperature as the text the stream stores, one decimal: `27.4`, `-0.5`.
    pub fn temperature_text(&self) -> String {
        String::from_utf8_lossy(format_tenths(self.temperature_tenths, &mut [0; 16])).into_owned()
    }
}

/// Formats tenths as a decimal with one digit after the point into `buf`, without floats or
/// allocation (this runs once per entry on the producer's hot path).
pub fn format_tenths(tenths: i32, buf: &mut [u8; 16]) -> &[u8] {
    let mut len = 0;
    if tenths < 0 {
        buf[0] = b'-';
        len = 1;
    }
    let abs = tenths.unsigned_abs();
    let mut whole = itoa::Buffer::new();
    let whole = whole.format(abs / 10).as_bytes();
    buf[len..len + whole.len()].copy_from_slice(whole);
    len += whole.len();
    buf[len] = b'.';
    buf[len + 1] = b'0' + (abs % 10) as u8;
    &buf[..len + 2]
}

/// A stable 64-bit seed from text (FNV-1a), so the default seed of a city and date never
/// changes between builds (std's hasher makes no such promise).
pub fn seed_from(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Where on its daily curve a time of day sits: -1 at 05:00 (dawn), +1 at 15:00.
fn daily_curve(ms_of_day: u64) -> f64 {
    use std::f64::consts::PI;
    let hours = ms_of_day as f64 / 3_600_000.0;
    if (5.0..15.0).contains(&hours) {
        -(PI * (hours - 5.0) / 10.0).cos()
    } else {
        let since_peak = (hours - 15.0).rem_euclid(24.0);
        (PI * since_peak / 14.0).cos()
    }
}

/// One sensor's climate and its drifting state.
#[derive(Debug)]
struct Sensor {
    rng: StdRng,
    mean: f64,
    swing: f64,
    humidity_mean: f64,
    drift: f64,
}

/// The weather over a city's sensors: call [`Weather::reading`] in time order per sensor.
#[derive(Debug)]
pub struct Weather {
    sensors: Vec<Sensor>,
}

impl Weather {
    /// Weather for `sensors` sensors, all drawn from `seed`.
    pub fn new(seed: u64, sensors: u32) -> Self {
        let sensors = (0..u64::from(sensors))
            .map(|index| {
                let mut rng =
                    StdRng::seed_from_u64(seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
                Sensor {
                    mean: rng.random_range(22.0..30.0),
                    swing: rng.random_range(3.0..6.5),
                    humidity_mean: rng.random_range(55.0..80.0),
                    drift: 0.0,
                    rng,
                }
            })
            .collect();
        Weather { sensors }
    }

    /// The next reading of sensor `index` (0-based) at unix time `ms`.
    ///
    /// # Panics
    /// If `index` is not below the sensor count given to [`Weather::new`].
    pub fn reading(&mut self, index: u32, ms: u64) -> Reading {
        let sensor = &mut self.sensors[index as usize];
        // A slow mean-reverting drift (clouds, wind) plus a little jitter per reading.
        sensor.drift = 0.995 * sensor.drift + sensor.rng.random_range(-0.05..0.05);
        let jitter = sensor.rng.random_range(-0.1..0.1);
        let celsius = sensor.mean + sensor.swing * daily_curve(ms % DAY_MS) + sensor.drift + jitter;
        let humidity = sensor.humidity_mean - 3.0 * (celsius - sensor.mean) + 4.0 * sensor.drift;
        Reading {
            sensor: index + 1,
            temperature_tenths: (celsius * 10.0).round() as i32,
            humidity: humidity.round().clamp(0.0, 100.0) as u8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tenths print with exactly one decimal, negatives included.
    #[test]
    fn tenths_print_exactly() {
        for (tenths, text) in [
            (274, "27.4"),
            (0, "0.0"),
            (-5, "-0.5"),
            (-123, "-12.3"),
            (300, "30.0"),
        ] {
            let reading = Reading {
                sensor: 1,
                temperature_tenths: tenths,
                humidity: 50,
            };
            assert_eq!(reading.temperature_text(), text);
        }
    }

    /// The same seed gives the same day; another seed another day.
    #[test]
    fn deterministic_per_seed() {
        let day = |seed| {
            let mut weather = Weather::new(seed, 2);
            (0..500)
                .map(|i| weather.reading(i % 2, u64::from(i) * 1000))
                .collect::<Vec<_>>()
        };
        assert_eq!(day(7), day(7));
        assert_ne!(day(7), day(8));
        assert_eq!(
            seed_from("chennai@2018-08-15"),
            seed_from("chennai@2018-08-15")
        );
        assert_ne!(
            seed_from("chennai@2018-08-15"),
            seed_from("pune@2018-08-15")
        );
    }

    /// Dawn is cooler than the afternoon, and humidity stays within 0..=100.
    #[test]
    fn plausible_day() {
        let mut weather = Weather::new(42, 1);
        let day: Vec<Reading> = (0..86_400).map(|s| weather.reading(0, s * 1000)).collect();
        let mean = |from: usize, to: usize| {
            day[from..to]
                .iter()
                .map(|r| f64::from(r.temperature_tenths))
                .sum::<f64>()
                / (to - from) as f64
        };
        assert!(
            mean(5 * 3600, 6 * 3600) + 40.0 < mean(14 * 3600, 16 * 3600),
            "dawn not cooler"
        );
        assert!(day.iter().all(|r| r.humidity <= 100 && r.sensor == 1));
        assert!(
            day.iter()
                .all(|r| (-100..600).contains(&r.temperature_tenths))
        );
    }
}

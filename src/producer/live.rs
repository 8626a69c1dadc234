//! `producer --live`: one reading per sensor per interval, at the current time, with
//! server-assigned IDs, until Ctrl-C or `--count`. One writer per server (per master on a
//! cluster) pipelines every city's tick, so a country's 4,000 cities take one thread and one
//! connection, not 4,000.
//!
//! ```text
//! XADD chennai [MAXLEN ~ N] * sensor 1 temperature 27.4 humidity 71   every sensor of every
//! XADD pune ...                                                        city, one pipeline a tick
//! EVAL "<trim>" 1 chennai 3600000 0                                    --retain: in it, per city
//! XTRIM chennai:dead MINID ...                                         --retain-dead, per tick
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::ProgressBar;

use super::retain::Trimmer;
use super::{CityReport, CityRun};
use crate::error::Result;
use crate::reading::Weather;
use crate::server::Link;
use crate::server::window::{Landed, Settled, Window};
use crate::server::xadd::XaddEncoder;
use crate::shutdown::Shutdown;

/// One city as the live writer keeps it.
pub struct LiveCity<'a> {
    /// What it was asked to do.
    pub run: &'a CityRun,
    /// Its trims (`--retain`, `--retain-dead`).
    pub trimmer: Trimmer,
    /// Its key, shared by its segments of each tick.
    key: Arc<str>,
    /// Its XADDs, encoded.
    encoder: XaddEncoder,
    /// Its weather.
    weather: Weather,
    /// Entries the server took.
    written: u64,
}

impl<'a> LiveCity<'a> {
    /// A city to write live, with its trims.
    pub fn new(run: &'a CityRun, trimmer: Trimmer) -> Self {
        LiveCity {
            run,
            trimmer,
            key: Arc::from(run.key.as_str()),
            encoder: XaddEncoder::new(&run.key, run.maxlen),
            weather: Weather::new(run.seed, run.schedule.sensors),
            written: 0,
        }
    }
}

/// Appends live readings of every city in `cities` on `link` (all on the node it talks to):
/// `count` ticks, or until a stop is asked for; each tick is one pipeline. Returns each city's
/// report; each report carries the worst lag of a tick behind its time.
pub fn produce_live(
    link: &mut Link,
    cities: &mut [LiveCity<'_>],
    count: Option<u64>,
    shutdown: &Shutdown,
    bar: &ProgressBar,
) -> Result<Vec<CityReport>> {
    let Some(first) = cities.first().map(|c| c.run) else {
        return Ok(Vec::new());
    };
    let interval = Duration::from_millis(first.schedule.interval_ms);
    let started = Instant::now();
    let mut ticks: u64 = 0;
    let mut worst_lag = Duration::ZERO;
    // One tick in flight at a time: a tick's `*` IDs make a blind retry write twice, so after a
    // break the tick is let go and the next one goes on.
    let mut window = Window::new(1);
    while count.is_none_or(|count| ticks < count) && !shutdown.is_requested() {
        let due = started + interval * u32::try_from(ticks).unwrap_or(u32::MAX);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut tick = window.batch();
        for city in cities.iter_mut() {
            tick.begin(&city.key);
            for sensor in 0..city.run.schedule.sensors {
                let reading = city.weather.reading(sensor, now_ms);
                tick.push_reading(&city.encoder, None, &reading);
            }
            if let Some(trim) = city.trimmer.pipelined() {
                tick.push_trim(trim);
            }
        }
        if window.send(link, tick)? {
            match window.settle_oldest(link)? {
                Landed::Settled(settled, _) => settle(cities, settled)?,
                Landed::Broke => window.clear(),
            }
        } else {
            window.clear();
        }
        for city in cities.iter_mut() {
            city.trimmer.name_holders(link)?;
            city.trimmer.trim_dead()?;
        }
        worst_lag = worst_lag.max(due.elapsed());
        ticks += 1;
        bar.set_position(cities.iter().map(|c| c.written).sum());
        bar.set_message(format!(
            "{ticks} ticks, the worst {:.0} ms behind",
            worst_lag.as_secs_f64() * 1000.0
        ));
        let next = started + interval * u32::try_from(ticks).unwrap_or(u32::MAX);
        if count.is_none_or(|count| ticks < count) {
            shutdown.sleep(next.saturating_duration_since(Instant::now()));
        }
    }
    let elapsed = started.elapsed();
    Ok(cities
        .iter()
        .map(|city| CityReport {
            key: city.run.key.clone(),
            written: city.written,
            total: city.written,
            elapsed,
            already_complete: false,
            interrupted: count.is_some_and(|count| ticks < count),
            trimmed: city.trimmer.trimmed(),
            only_trimmed: false,
            live: Some((ticks, worst_lag)),
            imported: None,
            replicated: None,
        })
        .collect())
}

/// Takes a tick's replies, city by city: each sensor's XADD, then its trim when it has one. A
/// refused XADD stops the producer, naming the city.
fn settle(cities: &mut [LiveCity<'_>], settled: Vec<Settled>) -> Result<()> {
    for (city, segment) in cities.iter_mut().zip(settled) {
        if let Some(err) = segment.refused {
            return Err(err);
        }
        city.written += segment.written;
        if let Some(meter) = &city.run.meter {
            meter.wrote(&city.run.key, segment.written);
        }
        for trim in segment.trims {
            city.trimmer.record(trim?)?;
        }
    }
    Ok(())
}

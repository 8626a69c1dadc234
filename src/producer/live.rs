//! `producer --live`: one reading per sensor per interval, at the current time, with
//! server-assigned IDs, until Ctrl-C or `--count`.
//!
//! ```text
//! XADD chennai [MAXLEN ~ N] * sensor 1 temperature 27.4 humidity 71    (one pipeline per tick)
//! EVAL "<trim>" 1 chennai 3600000 0; XTRIM chennai:dead MINID ...    --retain(-dead), per tick
//! ```

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::{ConnectionLike, Value};

use super::retain::Trimmer;
use super::{CityReport, CityRun};
use crate::encode::XaddEncoder;
use crate::error::Result;
use crate::reading::Weather;
use crate::server::Link;
use crate::shutdown::Shutdown;

/// Appends live readings to one city's stream on `link`; `count` ticks, or until a stop is
/// asked for. With `--retain`/`--retain-dead`, each tick ends with the trims.
pub fn produce_live(
    link: &mut Link,
    run: &CityRun,
    trimmer: &mut Trimmer,
    count: Option<u64>,
    shutdown: &Shutdown,
) -> Result<CityReport> {
    let encoder = XaddEncoder::new(&run.key, run.maxlen);
    let mut weather = Weather::new(run.seed, run.schedule.sensors);
    let interval = Duration::from_millis(run.schedule.interval_ms);
    let started = Instant::now();
    let mut written = 0;
    let mut ticks = 0;
    let mut buffer = Vec::new();
    while count.is_none_or(|count| ticks < count) && !shutdown.is_requested() {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        buffer.clear();
        for sensor in 0..run.schedule.sensors {
            encoder.push(&mut buffer, None, &weather.reading(sensor, now_ms));
        }
        let sensors = run.schedule.sensors as usize;
        // A tick is small and its `*` IDs make a blind retry write twice: on a break, reconnect
        // and go on with the next tick rather than resend this one.
        let sent = link.con().req_packed_commands(&buffer, 0, sensors);
        let what = format!("XADD {}", run.key);
        match sent {
            Ok(replies) => {
                let before = written;
                for reply in replies {
                    if let Err(err) = Value::extract_error(reply) {
                        return Err(link.target().error(&what, &err));
                    }
                    written += 1;
                }
                if let Some(meter) = &run.meter {
                    meter.wrote(&run.key, written - before);
                }
                link.settled();
            }
            Err(err) => link.ride_out(&what, &err)?,
        }
        trimmer.trim(link)?;
        trimmer.trim_dead()?;
        ticks += 1;
        let next = started + interval * u32::try_from(ticks).unwrap_or(u32::MAX);
        if count.is_none_or(|count| ticks < count) {
            shutdown.sleep(next.saturating_duration_since(Instant::now()));
        }
    }
    Ok(CityReport {
        key: run.key.clone(),
        written,
        total: written,
        elapsed: started.elapsed(),
        already_complete: false,
        interrupted: count.is_some_and(|count| ticks < count),
        trimmed: trimmer.trimmed(),
        only_trimmed: false,
    })
}

//! The producer: each city's readings written into its stream, cities concurrently, one
//! connection each. A city's run opens its link, checks the key is a stream (or missing), deletes
//! it first on `--replace`, then writes in the run's [`Mode`]:
//!
//! - [`day`]: where a batch is written: a day (or `--count`) of readings with exact IDs,
//!   pipelined, resumable, more than one batch in flight.
//! - [`live`]: `--live`: readings at the current time with server-assigned IDs, one tick per
//!   interval.

pub mod day;
pub mod live;

use std::io::Write;
use std::time::Duration;

use crate::error::Result;
use crate::fanout::{Shared, fan_out};
use crate::metrics::producer::ProducerMeter;
use crate::progress;
use crate::schedule::Schedule;
use crate::server::{Link, Target, queries};
use crate::shutdown::Shutdown;

/// What the producer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The schedule's readings with exact IDs, resuming after what the stream holds.
    Day,
    /// One reading per sensor per interval at the current time, with server-assigned IDs.
    Live {
        /// Ticks to write; `None`: until stopped.
        ticks: Option<u64>,
    },
}

/// What one city's producer run is asked to do.
#[derive(Debug, Clone)]
pub struct CityRun {
    /// The stream key (prefix + city).
    pub key: String,
    /// The entries to write.
    pub schedule: Schedule,
    /// Seed of the weather.
    pub seed: u64,
    /// XADDs per pipelined batch.
    pub batch: usize,
    /// Approximate MAXLEN to trim to as we write.
    pub maxlen: Option<u64>,
    /// Delete the stream first.
    pub replace: bool,
    /// How long to keep reconnecting after the connection breaks (`None`: for ever).
    pub retry_for: Option<Duration>,
    /// `--metrics`: where entries written and reconnects are counted.
    pub meter: Option<ProducerMeter>,
}

/// What a producer run did for one city.
#[derive(Debug, Clone, PartialEq)]
pub struct CityReport {
    /// The stream key.
    pub key: String,
    /// Entries this run added.
    pub written: u64,
    /// Entries the whole range holds.
    pub total: u64,
    /// Wall time spent writing.
    pub elapsed: Duration,
    /// The stream already held the whole range; nothing was written.
    pub already_complete: bool,
    /// Stopped by Ctrl-C/SIGTERM before the range was written.
    pub interrupted: bool,
}

impl CityReport {
    /// The summary line printed on stdout.
    pub fn summary(&self) -> String {
        if self.already_complete {
            return format!(
                "{} already holds all {} records of the range; nothing to insert",
                self.key, self.total
            );
        }
        let ms = self.elapsed.as_secs_f64() * 1000.0;
        let rate = if ms > 0.0 {
            self.written as f64 / ms
        } else {
            0.0
        };
        let line = format!(
            "Inserted {} records into {} in {:.0} ms ({rate:.1} records/ms)",
            self.written, self.key, ms
        );
        if self.interrupted {
            format!("Interrupted: {line}; rerun to complete the range")
        } else {
            line
        }
    }
}

/// Produces every city concurrently, one connection (and thread) each, printing each city's
/// summary line on `out` as it finishes. Returns the reports; the first error wins once every
/// city has stopped (one city's failure does not stop the others' writing).
pub fn produce_cities<W: Write + Send>(
    target: &Target,
    runs: &[CityRun],
    mode: Mode,
    shutdown: &Shutdown,
    out: W,
) -> Result<Vec<CityReport>> {
    let bars = progress::bars();
    let out = Shared::new(out);
    fan_out(
        runs,
        |run| format!("the producer of {}", run.key),
        &out,
        None,
        |run, out| {
            let mut link = open(target, run)?;
            link.stop_on(shutdown);
            let report = match mode {
                Mode::Day => {
                    let bar = progress::entries_bar(&bars, &run.key, run.schedule.total());
                    day::produce_day(&mut link, run, shutdown, &bar)
                }
                Mode::Live { ticks } => live::produce_live(&mut link, run, ticks, shutdown),
            }?;
            // One write per line, so lines of cities finishing together never interleave.
            (&*out).write_all(format!("{}\n", report.summary()).as_bytes())?;
            Ok(report)
        },
    )
}

/// Opens a city's link, checks its key is a stream or missing, and deletes it on `--replace`.
fn open(target: &Target, run: &CityRun) -> Result<Link> {
    let mut link = Link::open(target, &run.key, run.retry_for)?;
    if let Some(meter) = &run.meter {
        link.report_to(meter.health());
    }
    if run.replace {
        queries::delete_stream(&mut link, &run.key)?;
    } else {
        queries::ensure_stream(&mut link, &run.key)?;
    }
    Ok(link)
}

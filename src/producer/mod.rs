//! The producer: each city's readings written into its stream, cities concurrently, one
//! connection each. A city's run opens its link, checks the key is a stream (or missing), deletes
//! it first on `--replace`, then writes in the run's [`Mode`]:
//!
//! - [`day`]: where a batch is written: a day (or `--count`) of readings with exact IDs,
//!   pipelined, resumable, more than one batch in flight.
//! - [`live`]: `--live`: readings at the current time with server-assigned IDs, one tick per
//!   interval.
//! - [`retain`]: `--retain` and `--retain-dead`: the stream trimmed after every batch or tick
//!   (never past what a consumer group still needs), the dead letters by the clock; with
//!   `--count 0` ([`Mode::Trim`]) a run only trims, once.

pub mod day;
pub mod live;
pub mod retain;

use std::io::Write;
use std::time::Duration;

use crate::error::Result;
use crate::fanout::{Shared, fan_out};
use crate::metrics::producer::ProducerMeter;
use crate::progress;
use crate::schedule::Schedule;
use crate::server::{Link, Target, queries};
use crate::shutdown::Shutdown;
use retain::{Retention, Trimmed, Trimmer};

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
    /// `--count 0`: write nothing, trim once (`--retain`, `--retain-dead`), e.g. from cron.
    Trim,
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
    /// Trim the stream to its last DUR as it is written (`--retain`).
    pub retention: Option<Retention>,
    /// Trim `<stream>:dead` to the dead letters of the last DUR, by the clock (`--retain-dead`).
    pub retain_dead: Option<Duration>,
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
    /// What `--retain` and `--retain-dead` trimmed.
    pub trimmed: Trimmed,
    /// The run only trimmed (`--count 0`).
    pub only_trimmed: bool,
}

impl CityReport {
    /// The summary line printed on stdout.
    pub fn summary(&self) -> String {
        if self.only_trimmed {
            // "Trimmed 82800 entries from chennai; trimmed 3 from chennai:dead"
            let mut line = self.trims().join("; ");
            if let Some(first) = line.get_mut(..1) {
                first.make_ascii_uppercase();
            }
            return line;
        }
        if self.already_complete {
            return format!(
                "{} already holds all {} records of the range; nothing to insert{}",
                self.key,
                self.total,
                self.trim_note()
            );
        }
        let ms = self.elapsed.as_secs_f64() * 1000.0;
        let rate = if ms > 0.0 {
            self.written as f64 / ms
        } else {
            0.0
        };
        let line = format!(
            "Inserted {} records into {} in {:.0} ms ({rate:.1} records/ms){}",
            self.written,
            self.key,
            ms,
            self.trim_note()
        );
        if self.interrupted {
            format!("Interrupted: {line}; rerun to complete the range")
        } else {
            line
        }
    }

    /// What `--retain` and `--retain-dead` trimmed, as clauses of the summary line.
    fn trims(&self) -> Vec<String> {
        let stream = self
            .trimmed
            .stream
            .map(|n| format!("trimmed {n} entries from {}", self.key));
        let dead = self
            .trimmed
            .dead
            .map(|n| format!("trimmed {n} from {}", retain::dead_key(&self.key)));
        stream.into_iter().chain(dead).collect()
    }

    /// [`CityReport::trims`] to append to a line: empty without `--retain`/`--retain-dead`.
    fn trim_note(&self) -> String {
        self.trims().iter().map(|t| format!("; {t}")).collect()
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
            let retain = (run.retention, run.retain_dead);
            let mut trimmer = Trimmer::new(target, &run.key, retain, run.retry_for, shutdown)?;
            let report = match mode {
                Mode::Day => {
                    let bar = progress::entries_bar(&bars, &run.key, run.schedule.total());
                    day::produce_day(&mut link, run, &mut trimmer, shutdown, &bar)
                }
                Mode::Live { ticks } => {
                    live::produce_live(&mut link, run, &mut trimmer, ticks, shutdown)
                }
                Mode::Trim => trim_only(&mut link, run, &mut trimmer),
            }?;
            // One write per line, so lines of cities finishing together never interleave.
            (&*out).write_all(format!("{}\n", report.summary()).as_bytes())?;
            Ok(report)
        },
    )
}

/// `--count 0`: writes nothing and checks no range (the stream may hold any day); trims once.
fn trim_only(link: &mut Link, run: &CityRun, trimmer: &mut Trimmer) -> Result<CityReport> {
    let started = std::time::Instant::now();
    trimmer.trim(link)?;
    trimmer.trim_dead()?;
    Ok(CityReport {
        key: run.key.clone(),
        written: 0,
        total: 0,
        elapsed: started.elapsed(),
        already_complete: false,
        interrupted: false,
        trimmed: trimmer.trimmed(),
        only_trimmed: true,
    })
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

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
//! - [`durable`]: `--wait-replicas`: a batch counted as confirmed once N replicas have it.
//! - [`file`]: `--from`: a file's rows written instead of readings, resumable like a day;
//!   [`rerun`]: where a rerun proves that the stream holds the rows it does not write again.

pub mod day;
pub mod durable;
pub mod file;
pub mod live;
pub mod rerun;
pub mod retain;

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use crate::error::Result;
use crate::fanout::{Shared, fan_out};
use crate::import::Import;
use crate::metrics::producer::ProducerMeter;
use crate::progress;
use crate::schedule::Schedule;
use crate::server::replicas::Replicas;
use crate::server::target::CONNECT_TIMEOUT;
use crate::server::{Link, Target, cluster, streams};
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
    /// `--from`: the rows of a file, resuming after what the stream holds.
    Import,
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
    /// `--from`: the file to write instead of readings.
    pub import: Option<Import>,
    /// `--wait-replicas`: a batch counts as written once this many replicas have it.
    pub wait: Option<Replicas>,
}

/// `--wait-replicas`: how many entries of a run were confirmed on how many replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replicated {
    /// Replicas asked for (N of `--wait-replicas N`).
    pub replicas: u64,
    /// Entries this run wrote that N replicas were seen to have, counted from where it began,
    /// so also those whose replies a break took (a rerun of a complete day: the whole day,
    /// which it confirms).
    pub entries: u64,
}

/// What an import read (`--from`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// The file's name (`stdin` for `-`).
    pub from: String,
    /// Rows read.
    pub rows: u64,
    /// Rows at or before the stream's last ID, not written again: held, or trimmed since.
    pub skipped: rerun::Skipped,
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
    /// `--live`: the ticks written, and the worst lag of a tick behind its time.
    pub live: Option<(u64, Duration)>,
    /// `--from`: what the import read.
    pub imported: Option<Imported>,
    /// `--wait-replicas`: the entries confirmed on N replicas.
    pub replicated: Option<Replicated>,
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
        if let Some(imported) = &self.imported {
            return self.import_summary(imported);
        }
        if self.already_complete {
            return format!(
                "{} already holds all {} records of the range; nothing to insert{}",
                self.key,
                self.total,
                self.trim_note()
            );
        }
        let (ms, rate) = self.speed();
        if let Some((ticks, lag)) = self.live {
            // Live: records/ms of a run paced by the clock says nothing; ticks and lag do.
            let secs = self.elapsed.as_secs_f64();
            let per_sec = if secs > 0.0 {
                self.written as f64 / secs
            } else {
                0.0
            };
            let line = format!(
                "Inserted {} records into {} in {secs:.1} s: {ticks} ticks, {per_sec:.0} records/s, \
                 the worst {:.0} ms behind its time{}",
                self.written,
                self.key,
                lag.as_secs_f64() * 1000.0,
                self.trim_note()
            );
            return match self.interrupted {
                true => format!("Interrupted: {line}"),
                false => line,
            };
        }
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

    /// The report as one JSON object: what the summary says, as numbers (`null` where a
    /// part does not apply: `trimmed_*` without a trim, `live` off `--live`, `import` off
    /// `--from`).
    pub fn to_json(&self) -> serde_json::Value {
        let (ms, rate) = self.speed();
        serde_json::json!({
            "stream": self.key,
            "written": self.written,
            "total": if self.live.is_some() || self.only_trimmed { None } else { Some(self.total) },
            "elapsed_ms": (ms * 1000.0).round() / 1000.0,
            "records_per_ms": (rate * 10.0).round() / 10.0,
            "already_complete": self.already_complete,
            "interrupted": self.interrupted,
            "only_trimmed": self.only_trimmed,
            "trimmed_entries": self.trimmed.stream,
            "trimmed_dead_letters": self.trimmed.dead,
            "live": self.live.map(|(ticks, lag)| serde_json::json!({
                "ticks": ticks,
                "worst_lag_ms": lag.as_millis() as u64,
            })),
            "replicas": self.replicated.map(|r| r.replicas),
            "confirmed": self.replicated.map(|r| r.entries),
            "import": self.imported.as_ref().map(|i| serde_json::json!({
                "from": i.from,
                "rows": i.rows,
                "skipped": i.skipped.held,
                "trimmed": i.skipped.trimmed,
            })),
        })
    }

    /// The wall time in ms and the records written per ms.
    fn speed(&self) -> (f64, f64) {
        let ms = self.elapsed.as_secs_f64() * 1000.0;
        let rate = if ms > 0.0 {
            self.written as f64 / ms
        } else {
            0.0
        };
        (ms, rate)
    }

    /// The summary of `--from`: rows written, and those an earlier run had written.
    fn import_summary(&self, imported: &Imported) -> String {
        let from = &imported.from;
        if self.already_complete {
            return format!(
                "{} already holds all {} rows of {from}; nothing to insert{}",
                self.key,
                imported.rows,
                self.trim_note()
            );
        }
        let (ms, rate) = self.speed();
        let held = match imported.skipped.held {
            0 => String::new(),
            n => format!("; skipped {n} rows already written (the stream holds them)"),
        };
        let trimmed = match imported.skipped.trimmed {
            0 => String::new(),
            n => format!("; skipped {n} rows written before and trimmed since"),
        };
        let line = format!(
            "Inserted {} records into {} from {from} in {ms:.0} ms ({rate:.1} records/ms)\
             {held}{trimmed}{}",
            self.written,
            self.key,
            self.trim_note()
        );
        if self.interrupted {
            format!("Interrupted: {line}; rerun to import the rest")
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

    /// [`CityReport::trims`] and what `--wait-replicas` confirmed, to append to a line: empty
    /// without `--retain`/`--retain-dead`/`--wait-replicas`.
    fn trim_note(&self) -> String {
        let confirmed = self.replicated.map(|r| {
            format!(
                "{} confirmed on {}",
                r.entries,
                crate::error::replicas(r.replicas)
            )
        });
        self.trims()
            .into_iter()
            .chain(confirmed)
            .map(|t| format!("; {t}"))
            .collect()
    }
}

/// How each city's report is printed on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStyle {
    /// One sentence per city ([`CityReport::summary`]).
    Lines,
    /// One JSON object per city ([`CityReport::to_json`]), for scripts.
    Json,
    /// Nothing (`--quiet`).
    Quiet,
}

impl ReportStyle {
    /// The text to print for `report`, with its newline (empty when quiet).
    pub fn render(self, report: &CityReport) -> String {
        match self {
            ReportStyle::Lines => format!("{}\n", report.summary()),
            ReportStyle::Json => format!("{}\n", report.to_json()),
            ReportStyle::Quiet => String::new(),
        }
    }
}

/// Cities written at once by the day producer (and trimmed at once by `--count 0`): each has a
/// thread and a connection, so a country's 4,000 cities go 16 at a time.
pub const CITIES_AT_ONCE: usize = 16;

/// Produces every city, printing each city's summary line on `out` as it finishes. Days (and
/// trims) run concurrently, one connection and thread per city, [`CITIES_AT_ONCE`] at a time;
/// live readings are written by one thread per server (per master on a cluster) for all its
/// cities. Returns the reports; the first error wins once every city has stopped (one city's
/// failure does not stop the others' writing).
pub fn produce_cities<W: Write + Send>(
    target: &Target,
    runs: &[CityRun],
    (mode, style): (Mode, ReportStyle),
    shutdown: &Shutdown,
    out: W,
) -> Result<Vec<CityReport>> {
    let out = Shared::new(out);
    if let Mode::Live { ticks } = mode {
        return produce_live_cities(target, runs, (ticks, style), shutdown, &out);
    }
    let bars = progress::bars();
    let mut reports = Vec::with_capacity(runs.len());
    for wave in runs.chunks(CITIES_AT_ONCE) {
        if shutdown.is_requested() && !reports.is_empty() {
            break;
        }
        reports.extend(fan_out(
            wave,
            |run| format!("the producer of {}", run.key),
            &out,
            None,
            |run, out| {
                // The file is opened and its header read before the server is touched: a
                // file that cannot be imported never costs a stream (`--replace` deletes it).
                let rows = match (mode, &run.import) {
                    (Mode::Import, Some(import)) => Some(import.open()?),
                    _ => None,
                };
                let mut link = open(target, run, shutdown)?;
                let retain = (run.retention, run.retain_dead);
                let mut trimmer = Trimmer::new(target, &run.key, retain, run.retry_for, shutdown)?;
                let report = match (mode, rows) {
                    (Mode::Trim, _) => trim_only(&mut link, run, &mut trimmer),
                    (_, Some(rows)) => {
                        let bar = progress::bytes_bar(&bars, &run.key);
                        file::produce_import(&mut link, run, rows, &mut trimmer, shutdown, &bar)
                    }
                    _ => {
                        let bar = progress::entries_bar(&bars, &run.key, run.schedule.total());
                        day::produce_day(&mut link, run, &mut trimmer, shutdown, &bar)
                    }
                }?;
                // One write per line, so lines of cities finishing together never interleave;
                // with the bars hidden meanwhile, or their redrawing on the same terminal
                // would wipe the line out.
                let line = style.render(&report);
                bars.suspend(|| (&*out).write_all(line.as_bytes()))?;
                Ok(report)
            },
        )?);
    }
    Ok(reports)
}

/// `--live`: the cities grouped by the server that holds them (one group off a cluster), one
/// thread and one link per group, every city's tick in one pipeline.
fn produce_live_cities<W: Write + Send>(
    target: &Target,
    runs: &[CityRun],
    (ticks, style): (Option<u64>, ReportStyle),
    shutdown: &Shutdown,
    out: &Shared<W>,
) -> Result<Vec<CityReport>> {
    let keys: Vec<String> = runs.iter().map(|r| r.key.clone()).collect();
    let index: HashMap<&str, &CityRun> = runs.iter().map(|r| (r.key.as_str(), r)).collect();
    let groups: Vec<Vec<&CityRun>> =
        cluster::by_node(target, &keys, CONNECT_TIMEOUT, Some(shutdown))?
            .iter()
            .map(|keys| {
                keys.iter()
                    .filter_map(|k| index.get(k.as_str()).copied())
                    .collect()
            })
            .collect();
    let bars = progress::bars();
    let reports = fan_out(
        &groups,
        |group| format!("the live producer of {} cities", group.len()),
        out,
        None,
        |group, out| {
            let Some(first) = group.first() else {
                return Ok(Vec::new());
            };
            let mut link = open(target, first, shutdown)?;
            for run in &group[1..] {
                prepare(&mut link, run)?;
            }
            let mut cities = group
                .iter()
                .map(|run| {
                    let retain = (run.retention, run.retain_dead);
                    let trimmer = Trimmer::new(target, &run.key, retain, run.retry_for, shutdown)?;
                    Ok(live::LiveCity::new(run, trimmer))
                })
                .collect::<Result<Vec<_>>>()?;
            let label = match group.len() {
                1 => first.key.clone(),
                n => format!("{n} cities"),
            };
            let bar = progress::live_bar(&bars, &label);
            let reports = live::produce_live(&mut link, &mut cities, ticks, shutdown, &bar)?;
            bar.finish_and_clear();
            let text: String = reports.iter().map(|r| style.render(r)).collect();
            bars.suspend(|| (&*out).write_all(text.as_bytes()))?;
            Ok(reports)
        },
    )?;
    Ok(reports.into_iter().flatten().collect())
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
        live: None,
        imported: None,
        replicated: None,
    })
}

/// Opens a city's link (every wait for the server, its first connect's included, ended by a
/// stop), checks its key is a stream or missing, and deletes it on `--replace`.
fn open(target: &Target, run: &CityRun, shutdown: &Shutdown) -> Result<Link> {
    let mut link = Link::open_until(target, &run.key, run.retry_for, Some(shutdown))?;
    if let Some(meter) = &run.meter {
        link.report_to(meter.health());
    }
    prepare(&mut link, run)?;
    Ok(link)
}

/// Checks a city's key is a stream or missing, and deletes it on `--replace`.
fn prepare(link: &mut Link, run: &CityRun) -> Result<()> {
    if run.replace {
        streams::delete_stream(link, &run.key)
    } else {
        streams::ensure_stream(link, &run.key)
    }
}

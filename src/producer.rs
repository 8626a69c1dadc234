//! Where a batch is written: one city's readings pipelined into its stream, resuming after
//! whatever the stream already holds, with more than one batch in flight.
//!
//! ```text
//! XADD chennai [MAXLEN ~ N] 1534291200000-0 sensor 1 temperature 27.4 humidity 71
//! XADD chennai [MAXLEN ~ N] 1534291201000-0 sensor 1 temperature 27.4 humidity 71
//! ...                                        (--batch commands, then the next batch is sent
//!                                             before the replies of the previous are read)
//! ```

use std::collections::VecDeque;
use std::io::Write;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use redis::{RedisError, Value};

use crate::cluster;
use crate::connection::{self, Link, Target};
use crate::encode::XaddEncoder;
use crate::error::{Error, Result};
use crate::progress;
use crate::reading::Weather;
use crate::schedule::{Resume, Schedule};
use crate::shutdown::Shutdown;
use crate::stream_id::StreamId;

/// Batches sent ahead of the replies we are waiting for: while the server works through one,
/// the next is already encoded and on its way, so the server never idles on our encoding.
const IN_FLIGHT: usize = 2;

/// How long one reply may take before the connection counts as broken.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

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
    /// The URL is a seed of a Redis Cluster: write to the node that owns the key's slot.
    pub cluster: bool,
}

/// What a producer run did for one city.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
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

impl Report {
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
/// summary line on `out` as it finishes. `live` switches to [`crate::live::produce_live`] with
/// `count` ticks. Returns the reports; the first error wins once every city has stopped.
pub fn produce_cities(
    target: &Target,
    runs: &[CityRun],
    live: Option<Option<u64>>,
    shutdown: &Shutdown,
    out: &mut (dyn Write + Send),
) -> Result<Vec<Report>> {
    let bars = progress::bars();
    let out = std::sync::Mutex::new(out);
    let outcomes: Vec<Result<Report>> = std::thread::scope(|scope| {
        let workers: Vec<_> = runs
            .iter()
            .map(|run| {
                let (bars, out) = (&bars, &out);
                scope.spawn(move || {
                    let report = match live {
                        Some(count) => crate::live::produce_live(target, run, count, shutdown),
                        None => produce_city(
                            target,
                            run,
                            shutdown,
                            &progress::entries_bar(bars, &run.key, run.schedule.total()),
                        ),
                    }?;
                    // A closed stdout (`producer | head`) must not stop the writing.
                    if let Ok(mut out) = out.lock() {
                        let _ = writeln!(out, "{}", report.summary());
                    }
                    Ok(report)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or(Err(Error::Interrupted)))
            .collect()
    });
    outcomes.into_iter().collect()
}

/// The last ID the stream ever had (`None` for a missing or never-written stream).
///
/// This is `last-generated-id`, not the last entry: XADD must go above it even when the newest
/// entries were deleted, and after a server crash it is what the server really kept.
pub fn last_id(link: &mut Link, key: &str) -> Result<Option<StreamId>> {
    if connection::key_type(link, key)? == "none" {
        return Ok(None);
    }
    let info: Value = link.call(&format!("XINFO STREAM {key}"), |con| {
        redis::cmd("XINFO").arg("STREAM").arg(key).query(con)
    })?;
    let last = info
        .as_map_iter()
        .into_iter()
        .flatten()
        .find(|(name, _)| {
            matches!(name, Value::BulkString(b) if b == b"last-generated-id")
                || matches!(name, Value::SimpleString(s) if s == "last-generated-id")
        })
        .and_then(|(_, id)| match id {
            Value::BulkString(raw) => StreamId::parse_bytes(raw),
            Value::SimpleString(raw) => raw.parse().ok(),
            _ => None,
        });
    Ok(last.filter(|id| *id != StreamId::ZERO))
}

/// Writes one city's range, resuming after what the stream holds; see the module docs.
pub fn produce_city(
    target: &Target,
    run: &CityRun,
    shutdown: &Shutdown,
    bar: &ProgressBar,
) -> Result<Report> {
    let mut link = Link::open_for(target, &run.key, run.cluster, run.retry_for)?;
    link.set_read_timeout(Some(READ_TIMEOUT))?;
    connection::ensure_stream(&mut link, &run.key)?;
    if run.replace {
        link.call(&format!("DEL {}", run.key), |con| {
            redis::cmd("DEL").arg(&run.key).query::<i64>(con)
        })?;
    }
    let total = run.schedule.total();
    let Some(mut position) = resume(&mut link, run)? else {
        return Ok(Report {
            key: run.key.clone(),
            written: 0,
            total,
            elapsed: Duration::ZERO,
            already_complete: true,
            interrupted: false,
        });
    };
    let first = position;
    bar.set_length(total);
    bar.set_position(position);
    let started = Instant::now();
    loop {
        match write_from(&mut link, run, position, shutdown, bar) {
            Ok(end) => {
                position = end;
                break;
            }
            Err(WriteError::Fatal(err)) => return Err(err),
            Err(WriteError::Broken(cause)) => {
                // What the server kept is the truth, not what we counted: a crash can lose
                // acknowledged writes, so ask again where the stream ends.
                link.reconnect(&cause)?;
                position = resume(&mut link, run)?.unwrap_or(total);
                bar.set_position(position);
            }
        }
    }
    bar.finish_and_clear();
    Ok(Report {
        key: run.key.clone(),
        written: position.saturating_sub(first),
        total,
        elapsed: started.elapsed(),
        already_complete: false,
        interrupted: position < total,
    })
}

/// The index to start writing from (`None`: the stream already holds the whole range), or the
/// error for a stream already past the range.
fn resume(link: &mut Link, run: &CityRun) -> Result<Option<u64>> {
    let last = last_id(link, &run.key)?;
    match run.schedule.resume(last) {
        Resume::From(index) => Ok(Some(index)),
        Resume::Complete => Ok(None),
        Resume::PastRange => {
            let last = last.unwrap_or_default();
            Err(Error::PastRange {
                key: run.key.clone(),
                last,
                last_time: last.iso_time(),
                range_end: run.schedule.last_id(),
            })
        }
    }
}

/// Why writing stopped early.
enum WriteError {
    /// The connection broke: reconnect and resume from what the server kept.
    Broken(RedisError),
    /// The server refused a write: give up.
    Fatal(Error),
}

/// Writes entries `from..` until done or asked to stop; returns the index after the last
/// confirmed entry.
fn write_from(
    link: &mut Link,
    run: &CityRun,
    from: u64,
    shutdown: &Shutdown,
    bar: &ProgressBar,
) -> std::result::Result<u64, WriteError> {
    let encoder = XaddEncoder::new(&run.key, run.maxlen);
    let batch = run.batch.max(1);
    let mut entries = run
        .schedule
        .entries(Weather::new(run.seed, run.schedule.sensors))
        .skip(from as usize)
        .peekable();
    let mut buffer = Vec::with_capacity(batch * 128);
    let mut in_flight: VecDeque<usize> = VecDeque::with_capacity(IN_FLIGHT + 1);
    let mut confirmed = from;
    loop {
        let stop = shutdown.is_requested() || entries.peek().is_none();
        if !stop {
            buffer.clear();
            let mut count = 0;
            for (id, reading) in entries.by_ref().take(batch) {
                encoder.push(&mut buffer, Some(id), &reading);
                count += 1;
            }
            link.con()
                .send_packed_command(&buffer)
                .map_err(WriteError::Broken)?;
            in_flight.push_back(count);
        }
        if in_flight.len() >= IN_FLIGHT || (stop && !in_flight.is_empty()) {
            let count = in_flight.pop_front().unwrap_or_default();
            for _ in 0..count {
                let reply = link.con().recv_response().and_then(Value::extract_error);
                match reply {
                    Ok(_) => {}
                    Err(cause)
                        if connection::is_disconnect(&cause)
                            || (run.cluster && cluster::is_redirect(&cause)) =>
                    {
                        return Err(WriteError::Broken(cause));
                    }
                    Err(cause) => {
                        return Err(WriteError::Fatal(
                            link.target().error(&format!("XADD {}", run.key), &cause),
                        ));
                    }
                }
            }
            confirmed += count as u64;
            bar.set_position(confirmed);
        } else if stop {
            return Ok(confirmed);
        }
    }
}

//! Where a batch is written: one city's readings pipelined into its stream with exact IDs,
//! resuming after whatever the stream already holds, with more than one batch in flight.
//!
//! ```text
//! XADD chennai [MAXLEN ~ N] 1534291200000-0 sensor 1 temperature 27.4 humidity 71
//! XADD chennai [MAXLEN ~ N] 1534291201000-0 sensor 1 temperature 27.4 humidity 71
//! ...                                        (--batch commands, then the next batch is sent
//!                                             before the replies of the previous are read)
//! EVAL "<trim>" 1 chennai 3600000 0          with --retain: the trim, last in each batch
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use redis::RedisError;

use super::retain::Trimmer;
use super::{CityReport, CityRun};
use crate::encode::XaddEncoder;
use crate::error::{Error, Result};
use crate::reading::Weather;
use crate::schedule::Resume;
use crate::server::Link;
use crate::server::queries;
use crate::server::records::StreamInfo;
use crate::shutdown::Shutdown;
use crate::stream_id::StreamId;

/// Batches sent ahead of the replies we are waiting for: while the server works through one,
/// the next is already encoded and on its way, so the server never idles on our encoding.
const IN_FLIGHT: usize = 2;

/// Writes one city's range on `link`, resuming after what the stream holds; see the module
/// docs. Ends, done or stopped, by checking that what the range wrote is still there.
///
/// With `--retain` the stream is trimmed once before writing (so a user the ACL does not let
/// trim is refused before anything is written, and a complete day is trimmed too), after every
/// batch within the pipeline, and once at the end (a break may have lost the last batch's
/// trim). `--retain-dead` trims the dead letters once, at the end.
pub fn produce_day(
    link: &mut Link,
    run: &CityRun,
    trimmer: &mut Trimmer,
    shutdown: &Shutdown,
    bar: &ProgressBar,
) -> Result<CityReport> {
    let total = run.schedule.total();
    let resumed = resume(link, run)?;
    trimmer.trim(link)?;
    let Some(mut position) = resumed else {
        trimmer.trim_dead()?;
        return Ok(CityReport {
            key: run.key.clone(),
            written: 0,
            total,
            elapsed: Duration::ZERO,
            already_complete: true,
            interrupted: false,
            trimmed: trimmer.trimmed(),
            only_trimmed: false,
            live: None,
            imported: None,
        });
    };
    bar.set_length(total);
    bar.set_position(position);
    let started = Instant::now();
    let mut written = 0;
    loop {
        let progress = (position, &mut written);
        match write_from(link, run, trimmer, progress, shutdown, bar) {
            Ok(end) => {
                position = end;
                break;
            }
            Err(halt) => {
                // Another writer got there first (a second producer on the same range): no
                // break, just a stream that moved on.
                if !halt.is_taken() {
                    halt.ride_out(link, &run.key, trimmer)?;
                }
                // What the server kept is the truth, not what we counted: a crash can lose
                // acknowledged writes, so ask again where the stream ends.
                position = resume(link, run)?.unwrap_or(total);
                bar.set_position(position);
            }
        }
    }
    bar.finish_and_clear();
    trimmer.trim(link)?;
    trimmer.trim_dead()?;
    // The same checks once more, also when stopped early: a stream deleted under us is
    // reported now, not after a rerun has written the rest ("rerun to complete" cannot). A
    // stream another writer has taken past the range since is no failure of this run.
    match resume(link, run) {
        Ok(_) | Err(Error::PastRange { .. }) => {}
        Err(err) => return Err(err),
    }
    Ok(CityReport {
        key: run.key.clone(),
        written,
        total,
        elapsed: started.elapsed(),
        already_complete: false,
        interrupted: position < total,
        trimmed: trimmer.trimmed(),
        only_trimmed: false,
        live: None,
        imported: None,
    })
}

/// Why [`write_from`] (or an import's batch) stopped before the end.
pub(super) enum Halt {
    /// An XADD failed, or the connection broke (for [`Link::ride_out`] to judge).
    Xadd(RedisError),
    /// The server answered a pipelined retention trim with an error.
    Trim(RedisError),
    /// A retention trim's reply made no sense.
    Failed(Error),
}

impl From<RedisError> for Halt {
    /// A failure to send or to read a reply: the connection's, whichever command it was for.
    fn from(err: RedisError) -> Self {
        Halt::Xadd(err)
    }
}

/// Whether an XADD was refused because the stream already reached its ID: another writer wrote
/// it (or a later one) first.
fn taken_by_another_writer(err: &RedisError) -> bool {
    err.detail()
        .is_some_and(|detail| detail.contains("equal or smaller than the target stream top item"))
}

impl Halt {
    /// Rides out a break (`Ok`: reconnected, the caller re-syncs); anything else the server said
    /// is the error. A trim is never "another writer": its refusal (NOPERM) is reported as the
    /// trim's, naming EVAL and the key.
    pub(super) fn ride_out(self, link: &mut Link, key: &str, trimmer: &Trimmer) -> Result<()> {
        match self {
            Halt::Xadd(cause) => link.ride_out(&format!("XADD {key}"), &cause),
            Halt::Trim(cause) => link.ride_out(&trimmer.what(), &cause),
            Halt::Failed(err) => Err(err),
        }
    }

    /// Whether an XADD was refused because another writer took the stream past it.
    pub(super) fn is_taken(&self) -> bool {
        matches!(self, Halt::Xadd(cause) if taken_by_another_writer(cause))
    }
}

/// Fails unless the stream still holds the range's first `done` entries, trims excepted.
/// XINFO STREAM's `entries-added` survives trims (`--maxlen`) but not a DEL: a stream deleted
/// mid-run starts counting again, and the entries before are gone for good. Entries before the
/// range (an earlier day) only add to it; a server without it (before Redis 7.0) is not checked.
fn check_kept(run: &CityRun, info: &StreamInfo, done: u64) -> Result<()> {
    match info.entries_added {
        Some(added) if added < done => Err(Error::Missing {
            key: run.key.clone(),
            missing: done - added,
        }),
        _ => Ok(()),
    }
}

/// The index to start writing from (`None`: the stream already holds the whole range), or the
/// error for a stream already past the range, written with another sensor count, or missing
/// entries of the range it held ([`check_kept`]: no rerun can write those again).
///
/// Resuming goes by `last-generated-id`, not the last entry: XADD must go above it even when
/// the newest entries were deleted, and after a server crash it is what the server really kept.
fn resume(link: &mut Link, run: &CityRun) -> Result<Option<u64>> {
    let info = queries::stream_info(link, &run.key)?.unwrap_or_default();
    let Some(last) = info.last_generated_id else {
        return Ok(Some(0));
    };
    check_sensors(link, run, last)?;
    let total = run.schedule.total();
    let done = match run.schedule.resume(Some(last)) {
        Resume::From(index) => index,
        Resume::Complete => total,
        Resume::PastRange => {
            return Err(Error::PastRange {
                key: run.key.clone(),
                last,
                last_time: last.iso_time(),
                range_end: run.schedule.final_id(),
            });
        }
    };
    check_kept(run, &info, done)?;
    Ok((done < total).then_some(done))
}

/// Fails when the stream's part of this range was written with another `--sensors`: resuming
/// would write a broken day (the missing sensors of the last second only, or nothing).
///
/// Entry IDs are `<ms>-<sensor index>`: the last timestamp may be partial (an interrupted run),
/// so the count is read from the range's timestamp before it, which is whole; only when the
/// range has none, from the last one, and then only when it shows more sensors than asked for.
fn check_sensors(link: &mut Link, run: &CityRun, last: StreamId) -> Result<()> {
    let schedule = &run.schedule;
    if last.ms < schedule.start_ms || last.ms > schedule.final_id().ms {
        return Ok(());
    }
    let asked = u64::from(schedule.sensors);
    let whole = match last.ms.checked_sub(1) {
        Some(before) => queries::newest_entry_up_to(link, &run.key, &before.to_string())?
            .filter(|id| id.ms >= schedule.start_ms)
            .map(|id| id.seq + 1),
        None => None,
    };
    let written = whole.or((last.seq >= asked).then_some(last.seq + 1));
    match written {
        Some(written) if written != asked => Err(Error::SensorMismatch {
            key: run.key.clone(),
            written,
            asked,
        }),
        _ => Ok(()),
    }
}

/// Writes entries `from..` until done or asked to stop; returns the index after the last
/// confirmed entry, or what stopped it. Counts the entries the server took in `written`.
///
/// With `--retain`, each batch ends with the retention trim, whose reply is read after the
/// batch's XADD replies; a group that held it back is named by the caller's last trim, when no
/// batch is in flight any more.
///
/// When the server refuses an entry (another writer got there first) or a trim, every reply
/// still due is read before returning, so the connection stays in step for the resume.
fn write_from(
    link: &mut Link,
    run: &CityRun,
    trimmer: &mut Trimmer,
    (from, written): (u64, &mut u64),
    shutdown: &Shutdown,
    bar: &ProgressBar,
) -> std::result::Result<u64, Halt> {
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
    let mut refused: Option<Halt> = None;
    loop {
        let stop = refused.is_some() || shutdown.is_requested() || entries.peek().is_none();
        if !stop {
            buffer.clear();
            let mut count = 0;
            for (id, reading) in entries.by_ref().take(batch) {
                encoder.push(&mut buffer, Some(id), &reading);
                count += 1;
            }
            if let Some(trim) = trimmer.pipelined() {
                buffer.extend_from_slice(trim);
            }
            link.con().send_packed_command(&buffer)?;
            in_flight.push_back(count);
        }
        if in_flight.len() >= IN_FLIGHT || (stop && !in_flight.is_empty()) {
            let count = in_flight.pop_front().unwrap_or_default();
            for _ in 0..count {
                // A broken connection ends at once; a refusal is noted and the rest read.
                match link.con().recv_response()?.extract_error() {
                    Ok(_) => *written += 1,
                    Err(err) => {
                        refused.get_or_insert(Halt::Xadd(err));
                    }
                }
            }
            if trimmer.pipelined().is_some() {
                match link.con().recv_response()?.extract_error() {
                    Ok(reply) => {
                        if let Err(err) = trimmer.record(link, reply) {
                            refused.get_or_insert(Halt::Failed(err));
                        }
                    }
                    Err(err) => {
                        refused.get_or_insert(Halt::Trim(err));
                    }
                }
            }
            link.settled();
            if refused.is_none() {
                confirmed += count as u64;
                bar.set_position(confirmed);
            }
        } else if stop {
            return match refused {
                Some(halt) => Err(halt),
                None => Ok(confirmed),
            };
        }
    }
}

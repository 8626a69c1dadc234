//! Where a batch is written: one city's readings pipelined into its stream with exact IDs,
//! resuming after whatever the stream already holds, with more than one batch in flight.
//!
//! ```text
//! XADD chennai [MAXLEN ~ N] 1534291200000-0 sensor 1 temperature 27.4 humidity 71
//! XADD chennai [MAXLEN ~ N] 1534291201000-0 sensor 1 temperature 27.4 humidity 71
//! ...                                        (--batch commands, then the next batch is sent
//!                                             before the replies of the previous are read)
//! EVAL "<trim>" 1 chennai 3600000 0          with --retain: the trim, last in each batch
//! WAIT 1 1000                                with --wait-replicas: last of all ([`durable`])
//! ```
//!
//! [`durable`]: super::durable

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;

use super::durable::Confirmation;
use super::retain::Trimmer;
use super::{CityReport, CityRun};
use crate::error::{Error, Result};
use crate::reading::Weather;
use crate::schedule::Resume;
use crate::server::Link;
use crate::server::info::StreamInfo;
use crate::server::streams;
use crate::server::window::{Landed, Settled, Window};
use crate::server::xadd::XaddEncoder;
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
    let mut confirmation = Confirmation::of(run);
    let resumed = resume(link, run)?;
    trimmer.trim(link)?;
    let Some(mut position) = resumed else {
        trimmer.trim_dead()?;
        // A rerun of a complete day confirms that the replicas hold all of it.
        if let Some(confirmation) = &mut confirmation {
            while !confirmation.confirm(link, total)? {}
        }
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
            replicated: confirmation.as_ref().map(Confirmation::report),
        });
    };
    bar.set_length(total);
    bar.set_position(position);
    let started = Instant::now();
    let first = position;
    let mut written = 0;
    loop {
        let progress = (first, position, &mut written);
        let wrote = write_from(
            link,
            run,
            trimmer,
            progress,
            &mut confirmation,
            (shutdown, bar),
        );
        match wrote? {
            // What was written and not confirmed yet (after a break, with nothing left to send
            // whose WAIT would cover it) is confirmed now; a break meanwhile asks again.
            Written::To(end) => {
                position = end;
                let done = position - first;
                match &mut confirmation {
                    Some(c) if !c.covers(done) && !shutdown.is_requested() => {
                        match c.confirm(link, done) {
                            Ok(true) | Err(Error::Stopped { .. }) => break,
                            Ok(false) => {}
                            Err(err) => return Err(err),
                        }
                    }
                    _ => break,
                }
            }
            // A break (ridden out), or another writer got there first (a second producer on the
            // same range): what the server kept is the truth, not what we counted (a crash can
            // lose acknowledged writes), so ask again where the stream ends.
            Written::Resync => {}
        }
        position = resume(link, run)?.unwrap_or(total);
        if let Some(confirmation) = &mut confirmation {
            confirmation.held(position.saturating_sub(first));
        }
        bar.set_position(position);
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
        replicated: confirmation.as_ref().map(Confirmation::report),
    })
}

/// Where [`write_from`] stopped.
enum Written {
    /// Everything up to this index is confirmed (the end, or a stop).
    To(u64),
    /// The stream must be asked again where it ends: the connection broke (and was ridden
    /// out), or another writer took the stream past an entry.
    Resync,
}

/// Takes a batch's settled replies: counts what was written, hands trim replies to the trimmer.
/// Returns whether another writer took the stream past an entry; a refusal is the error.
pub(super) fn take_settled(
    settled: Vec<Settled>,
    trimmer: &mut Trimmer,
    written: &mut u64,
) -> Result<bool> {
    let mut taken = false;
    for segment in settled {
        *written += segment.written;
        taken |= segment.taken;
        if let Some(err) = segment.refused {
            return Err(err);
        }
        for trim in segment.trims {
            trimmer.record(trim?)?;
        }
    }
    Ok(taken)
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
    let info = streams::stream_info(link, &run.key)?.unwrap_or_default();
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
        Some(before) => streams::newest_entry_up_to(link, &run.key, &before.to_string())?
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

/// Writes entries `from..` until done or asked to stop, through a window of [`IN_FLIGHT`]
/// batches; returns the index after the last acknowledged entry, or that the stream must be asked
/// again. Counts the entries the server took in `written`.
///
/// With `--wait-replicas` ([`Confirmation`]), a batch's WAIT answered short stops new batches:
/// those in flight are settled, then WAIT is asked again until the replicas have it all.
///
/// With `--retain`, each batch ends with the retention trim, whose reply is read after the
/// batch's XADD replies; a group that held it back is named by the caller's last trim, when no
/// batch is in flight any more. When another writer took the stream past an entry, the replies
/// still due are read before asking again.
fn write_from(
    link: &mut Link,
    run: &CityRun,
    trimmer: &mut Trimmer,
    (first, from, written): (u64, u64, &mut u64),
    confirmation: &mut Option<Confirmation>,
    (shutdown, bar): (&Shutdown, &ProgressBar),
) -> Result<Written> {
    let encoder = XaddEncoder::new(&run.key, run.maxlen);
    let key: Arc<str> = Arc::from(run.key.as_str());
    let batch = run.batch.max(1);
    let mut entries = run
        .schedule
        .entries(Weather::new(run.seed, run.schedule.sensors))
        .skip(from as usize)
        .peekable();
    let mut window = Window::new(IN_FLIGHT).waiting_for(run.wait);
    // The index after the last entry the server acknowledged.
    let mut acked = from;
    let mut taken = false;
    loop {
        let short = confirmation.as_ref().is_some_and(Confirmation::is_short);
        if short && window.is_empty() && !shutdown.is_requested() {
            let done = acked - first;
            // A stop meanwhile ends the run as any stop does: what is confirmed is reported.
            match confirmation.as_mut().map(|c| c.confirm(link, done)) {
                Some(Ok(true) | Err(Error::Stopped { .. })) | None => continue,
                Some(Ok(false)) => return Ok(Written::Resync),
                Some(Err(err)) => return Err(err),
            }
        }
        let stop = taken || short || shutdown.is_requested() || entries.peek().is_none();
        if !stop && !window.is_full() {
            let mut outgoing = window.batch();
            outgoing.begin(&key);
            for (id, reading) in entries.by_ref().take(batch) {
                outgoing.push_reading(&encoder, Some(id), &reading);
            }
            if let Some(trim) = trimmer.pipelined() {
                outgoing.push_trim(trim);
            }
            if !window.send(link, outgoing)? {
                return Ok(Written::Resync);
            }
            continue;
        }
        if window.is_empty() {
            return Ok(match taken {
                true => Written::Resync,
                false => Written::To(acked),
            });
        }
        let before = *written;
        match window.settle_oldest(link)? {
            Landed::Broke => return Ok(Written::Resync),
            Landed::Settled(settled, replicas) => {
                match take_settled(settled, trimmer, written) {
                    Ok(was_taken) => taken |= was_taken,
                    Err(err) => {
                        window.drain(link);
                        return Err(err);
                    }
                }
                if !taken {
                    acked += *written - before;
                    bar.set_position(acked);
                    if let (Some(c), Some(got)) = (confirmation.as_mut(), replicas)
                        && let Err(err) = c.answered(link, got, acked - first)
                    {
                        window.drain(link);
                        return Err(err);
                    }
                }
            }
        }
    }
}

//! Where a batch is written: one city's readings pipelined into its stream with exact IDs,
//! resuming after whatever the stream already holds, with more than one batch in flight.
//!
//! ```text
//! XADD chennai [MAXLEN ~ N] 1534291200000-0 sensor 1 temperature 27.4 humidity 71
//! XADD chennai [MAXLEN ~ N] 1534291201000-0 sensor 1 temperature 27.4 humidity 71
//! ...                                        (--batch commands, then the next batch is sent
//!                                             before the replies of the previous are read)
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use redis::{RedisError, Value};

use super::{CityReport, CityRun};
use crate::encode::XaddEncoder;
use crate::error::{Error, Result};
use crate::reading::Weather;
use crate::schedule::Resume;
use crate::server::{Link, queries};
use crate::shutdown::Shutdown;

/// Batches sent ahead of the replies we are waiting for: while the server works through one,
/// the next is already encoded and on its way, so the server never idles on our encoding.
const IN_FLIGHT: usize = 2;

/// Writes one city's range on `link`, resuming after what the stream holds; see the module
/// docs.
pub fn produce_day(
    link: &mut Link,
    run: &CityRun,
    shutdown: &Shutdown,
    bar: &ProgressBar,
) -> Result<CityReport> {
    let total = run.schedule.total();
    let Some(mut position) = resume(link, run)? else {
        return Ok(CityReport {
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
        match write_from(link, run, position, shutdown, bar) {
            Ok(end) => {
                position = end;
                break;
            }
            Err(cause) => {
                link.ride_out(&format!("XADD {}", run.key), &cause)?;
                // What the server kept is the truth, not what we counted: a crash can lose
                // acknowledged writes, so ask again where the stream ends.
                position = resume(link, run)?.unwrap_or(total);
                bar.set_position(position);
            }
        }
    }
    bar.finish_and_clear();
    Ok(CityReport {
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
///
/// Resuming goes by `last-generated-id`, not the last entry: XADD must go above it even when
/// the newest entries were deleted, and after a server crash it is what the server really kept.
fn resume(link: &mut Link, run: &CityRun) -> Result<Option<u64>> {
    let last = queries::stream_info(link, &run.key)?.and_then(|info| info.last_generated_id);
    match run.schedule.resume(last) {
        Resume::From(index) => Ok(Some(index)),
        Resume::Complete => Ok(None),
        Resume::PastRange => {
            let last = last.unwrap_or_default();
            Err(Error::PastRange {
                key: run.key.clone(),
                last,
                last_time: last.iso_time(),
                range_end: run.schedule.final_id(),
            })
        }
    }
}

/// Writes entries `from..` until done or asked to stop; returns the index after the last
/// confirmed entry, or the failure (for [`Link::ride_out`] to judge) that stopped it.
fn write_from(
    link: &mut Link,
    run: &CityRun,
    from: u64,
    shutdown: &Shutdown,
    bar: &ProgressBar,
) -> std::result::Result<u64, RedisError> {
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
            link.con().send_packed_command(&buffer)?;
            in_flight.push_back(count);
        }
        if in_flight.len() >= IN_FLIGHT || (stop && !in_flight.is_empty()) {
            let count = in_flight.pop_front().unwrap_or_default();
            for _ in 0..count {
                link.con().recv_response().and_then(Value::extract_error)?;
            }
            link.settled();
            confirmed += count as u64;
            bar.set_position(confirmed);
        } else if stop {
            return Ok(confirmed);
        }
    }
}

//! The requests every part of monsoon asks of a stream, each a named operation sent through a
//! [`Link`]: the key's type, XINFO, XPENDING, pages of XRANGE, the newest entry, lengths and
//! memory, blocking XREAD, and deleting a stream on `--replace`.
//!
//! ```text
//! TYPE chennai                          none / stream / string ...
//! XINFO STREAM chennai                  length, last-generated-id, entries-added, ...
//! XINFO GROUPS chennai; XINFO CONSUMERS chennai mygroup
//! XPENDING chennai mygroup [- + 100 [alice]]
//! XRANGE chennai - + COUNT 1000         (XREVRANGE for newest first), page after page
//! XREAD COUNT n BLOCK ms STREAMS chennai pune <after> <after>
//! XLEN chennai; MEMORY USAGE chennai SAMPLES 0; INFO memory
//! DEL chennai                           only after TYPE said it is a stream
//! ```

use std::sync::Arc;
use std::time::Duration;

use super::batch::Batch;
use super::info::{self, Group, Member, PendingEntry, PendingSummary, StreamInfo};
use super::link::Link;
use super::resp::{Command, Reply, ServerError};
use crate::error::{Error, Result};
use crate::stream_id::StreamId;

/// An error for a reply that does not have the shape `what`'s reply must have.
pub(super) fn shape(link: &Link, what: &str, expected: &'static str) -> Error {
    Error::Server {
        address: link.target().address().to_string(),
        what: what.to_string(),
        reason: format!("unexpected reply: {expected}"),
    }
}

/// The type of `key` as Redis names it (`none`, `stream`, `string`, ...).
pub fn key_type(link: &mut Link, key: &str) -> Result<String> {
    let reply = link.call(&Command::new("TYPE").arg(key), || format!("TYPE {key}"))?;
    reply
        .text()
        .ok_or_else(|| shape(link, &format!("TYPE {key}"), "not a type name"))
}

/// Whether `key` is a stream (`false`: it does not exist); a key of another type is
/// [`Error::WrongType`], and is never changed.
pub fn stream_exists(link: &mut Link, key: &str) -> Result<bool> {
    match key_type(link, key)?.as_str() {
        "none" => Ok(false),
        "stream" => Ok(true),
        other => Err(Error::WrongType {
            key: key.to_string(),
            actual: other.to_string(),
        }),
    }
}

/// Fails unless `key` is missing or a stream (for writers and readers that wait for it).
pub fn ensure_stream(link: &mut Link, key: &str) -> Result<()> {
    stream_exists(link, key).map(|_| ())
}

/// Fails with [`Error::NoStream`] unless `key` is an existing stream (for readers of what is
/// there: `inspect range`, `groups`, `pending`, `chart`, `memory`).
pub fn require_stream(link: &mut Link, key: &str) -> Result<()> {
    match stream_exists(link, key)? {
        true => Ok(()),
        false => Err(Error::NoStream {
            key: key.to_string(),
        }),
    }
}

/// XINFO STREAM of `key`; `None` when the stream does not exist.
pub fn stream_info(link: &mut Link, key: &str) -> Result<Option<StreamInfo>> {
    if !stream_exists(link, key)? {
        return Ok(None);
    }
    let what = || format!("XINFO STREAM {key}");
    let reply = link.call(&Command::new("XINFO").arg("STREAM").arg(key), what)?;
    info::stream_info(reply)
        .map(Some)
        .ok_or_else(|| shape(link, &what(), "not a stream description"))
}

/// The stream's last ID (`last-generated-id`: XADD must go above it even when the newest
/// entries were deleted); `None` for a missing or never-written stream.
pub fn last_generated_id(link: &mut Link, key: &str) -> Result<Option<StreamId>> {
    Ok(stream_info(link, key)?.and_then(|info| info.last_generated_id))
}

/// Deletes the stream `key` (`--replace`); a key of another type is refused, never deleted.
pub fn delete_stream(link: &mut Link, key: &str) -> Result<()> {
    ensure_stream(link, key)?;
    link.call(&Command::new("DEL").arg(key), || format!("DEL {key}"))?;
    Ok(())
}

/// Deletes the entries `ids` of `key` (XDEL).
pub fn delete_entries(link: &mut Link, key: &str, ids: &[StreamId]) -> Result<()> {
    let command = Command::new("XDEL").arg(key).args(ids.iter().copied());
    link.call(&command, || format!("XDEL {key}"))?;
    Ok(())
}

/// Every group of `key` with its consumers; a missing stream is [`Error::NoStream`].
pub fn groups(link: &mut Link, key: &str) -> Result<Vec<Group>> {
    require_stream(link, key)?;
    let mut groups = group_list(link, key)?;
    for group in &mut groups {
        group.members = members(link, key, &group.name)?;
    }
    Ok(groups)
}

/// The groups of the stream `key` as XINFO GROUPS alone tells them (no consumers listed).
pub fn group_list(link: &mut Link, key: &str) -> Result<Vec<Group>> {
    let what = || format!("XINFO GROUPS {key}");
    let reply = link.call(&Command::new("XINFO").arg("GROUPS").arg(key), what)?;
    info::groups(reply).ok_or_else(|| shape(link, &what(), "not a list of groups"))
}

/// The group `group` of `key` as XINFO GROUPS tells it, if it exists.
pub fn group(link: &mut Link, key: &str, group: &str) -> Result<Option<Group>> {
    Ok(group_list(link, key)?.into_iter().find(|g| g.name == group))
}

/// The consumers of `group` on `key`; a missing group is [`Error::NoGroup`].
pub fn members(link: &mut Link, key: &str, group: &str) -> Result<Vec<Member>> {
    let what = || format!("XINFO CONSUMERS {key} {group}");
    let command = Command::new("XINFO").arg("CONSUMERS").arg(key).arg(group);
    let reply = no_group(link.call_or(&command, what, is_nogroup)?, key, group)?;
    info::members(reply).ok_or_else(|| shape(link, &what(), "not a list of consumers"))
}

/// The XPENDING summary of `group` on `key`; a missing group is [`Error::NoGroup`].
pub fn pending_summary(link: &mut Link, key: &str, group: &str) -> Result<PendingSummary> {
    let what = || format!("XPENDING {key} {group}");
    let command = Command::new("XPENDING").arg(key).arg(group);
    let reply = no_group(link.call_or(&command, what, is_nogroup)?, key, group)?;
    info::pending_summary(reply).ok_or_else(|| {
        shape(
            link,
            &what(),
            "the summary is not [count, min, max, consumers]",
        )
    })
}

/// Which pending entries to list: an ID range, how many, whose.
#[derive(Debug, Clone, Copy)]
pub struct PendingRange<'a> {
    /// The smallest ID (`-` for the start).
    pub start: &'a str,
    /// The largest ID (`+` for the end).
    pub end: &'a str,
    /// At most this many rows.
    pub count: u64,
    /// Only this consumer's entries.
    pub consumer: Option<&'a str>,
}

impl PendingRange<'_> {
    /// The first `count` pending entries of the whole group.
    pub fn first(count: u64) -> PendingRange<'static> {
        PendingRange {
            start: "-",
            end: "+",
            count,
            consumer: None,
        }
    }
}

/// The XPENDING detail of `group` on `key` over `range`; a missing group is [`Error::NoGroup`].
pub fn pending_entries(
    link: &mut Link,
    key: &str,
    group: &str,
    range: PendingRange<'_>,
) -> Result<Vec<PendingEntry>> {
    let what = || format!("XPENDING {key} {group}");
    let mut command = Command::new("XPENDING")
        .arg(key)
        .arg(group)
        .arg(range.start)
        .arg(range.end)
        .arg(range.count);
    if let Some(consumer) = range.consumer {
        command.push(consumer);
    }
    let reply = no_group(link.call_or(&command, what, is_nogroup)?, key, group)?;
    info::pending_entries(reply).ok_or_else(|| {
        shape(
            link,
            &what(),
            "the detail is not a list of [id, consumer, idle, deliveries]",
        )
    })
}

/// Whether the server said the group does not exist.
fn is_nogroup(err: &ServerError) -> bool {
    err.is("NOGROUP")
}

/// Turns the server's NOGROUP answer into [`Error::NoGroup`] naming the group and the stream.
fn no_group(
    reply: std::result::Result<Reply, ServerError>,
    key: &str,
    group: &str,
) -> Result<Reply> {
    reply.map_err(|_| Error::NoGroup {
        key: key.to_string(),
        group: group.to_string(),
    })
}

/// The reply size (field bytes) a read aims to stay under.
pub const REPLY_BUDGET: usize = 16 << 20;

/// The COUNT of the next read, after a read of `count` that returned `got` messages of `bytes`
/// field bytes: half after a reply over budget, double after a full one well under it.
pub fn next_count(count: usize, got: usize, bytes: usize, max: usize) -> usize {
    let next = if bytes > REPLY_BUDGET {
        count / 2
    } else if got >= count && bytes.saturating_mul(2) <= REPLY_BUDGET {
        count.saturating_mul(2)
    } else {
        count
    };
    next.clamp(1, max.max(1))
}

/// Which way a range is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// XRANGE: oldest first.
    Forward,
    /// XREVRANGE: newest first.
    Backward,
}

/// Reads the entries of `key` from `start` to `end` (XRANGE arguments: IDs, milliseconds, `-`,
/// `+`) page by page, at most `limit` of them, handing each page to `each`, which returns
/// whether to go on. Memory stays flat however long the range.
pub fn range_pages(
    link: &mut Link,
    key: &str,
    (start, end): (&str, &str),
    direction: Direction,
    page: u64,
    limit: Option<u64>,
    mut each: impl FnMut(&Batch) -> Result<bool>,
) -> Result<()> {
    let stream: Arc<str> = Arc::from(key);
    let (mut start, mut end) = (start.to_string(), end.to_string());
    let mut left = limit.unwrap_or(u64::MAX);
    let mut batch = Batch::new();
    // Pages grow from one entry up to `page` while they stay small (see [`next_count`]).
    let mut size = 1usize;
    while left > 0 {
        let count = left.min(size as u64);
        let (name, first, second) = match direction {
            Direction::Forward => ("XRANGE", &start, &end),
            Direction::Backward => ("XREVRANGE", &end, &start),
        };
        let command = Command::new(name)
            .arg(key)
            .arg(first)
            .arg(second)
            .arg("COUNT")
            .arg(count);
        link.call_with(
            &command,
            || format!("{name} {key}"),
            |reply| batch.read_range(reply, &stream),
        )?;
        let Some(last) = batch.ids().last() else {
            return Ok(());
        };
        let got = batch.len() as u64;
        let full = got == count;
        left -= got;
        let bytes = batch.iter().map(|e| e.size()).sum();
        let max = usize::try_from(page).unwrap_or(usize::MAX);
        size = next_count(size, batch.len(), bytes, max);
        if !each(&batch)? || !full {
            return Ok(());
        }
        // Read on from just past the last entry, in the direction of travel.
        match direction {
            Direction::Forward => start = last.successor().to_string(),
            Direction::Backward => match last.predecessor() {
                Some(before) => end = before.to_string(),
                None => return Ok(()),
            },
        }
    }
    Ok(())
}

/// The ID of the newest entry of `key`, `None` when it is empty or missing.
pub fn newest_entry(link: &mut Link, key: &str) -> Result<Option<StreamId>> {
    newest_entry_up_to(link, key, "+")
}

/// The ID of the newest entry of `key` at or below `end` (an ID, a bare `<ms>`, or `+`), `None`
/// when there is none.
pub fn newest_entry_up_to(link: &mut Link, key: &str, end: &str) -> Result<Option<StreamId>> {
    let mut newest = None;
    range_pages(
        link,
        key,
        ("-", end),
        Direction::Backward,
        1,
        Some(1),
        |page| {
            newest = page.ids().next();
            Ok(false)
        },
    )?;
    Ok(newest)
}

/// The first entry of `key` strictly after `id`.
pub fn first_entry_after(link: &mut Link, key: &str, id: StreamId) -> Result<Option<StreamId>> {
    let mut first = None;
    let from = id.successor().to_string();
    range_pages(
        link,
        key,
        (&from, "+"),
        Direction::Forward,
        1,
        Some(1),
        |page| {
            first = page.ids().next();
            Ok(false)
        },
    )?;
    Ok(first)
}

/// How many entries of `key` lie from `from` to `end` (an ID or `+`), both included, counted
/// page by page (O(entries): only where the count is worth it, never on a routine path).
pub fn count_entries(link: &mut Link, key: &str, from: StreamId, end: &str) -> Result<u64> {
    let mut count = 0;
    let from = from.to_string();
    range_pages(
        link,
        key,
        (&from, end),
        Direction::Forward,
        10_000,
        None,
        |page| {
            count += page.len() as u64;
            Ok(true)
        },
    )?;
    Ok(count)
}

/// XLEN of `key`.
pub fn length(link: &mut Link, key: &str) -> Result<u64> {
    let what = || format!("XLEN {key}");
    let reply = link.call(&Command::new("XLEN").arg(key), what)?;
    reply
        .int()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| shape(link, &what(), "not a length"))
}

/// MEMORY USAGE of `key`, every node of it counted (`SAMPLES 0`); `None` for a missing key.
pub fn memory_usage(link: &mut Link, key: &str) -> Result<Option<u64>> {
    let command = Command::new("MEMORY")
        .arg("USAGE")
        .arg(key)
        .arg("SAMPLES")
        .arg(0u64);
    let reply = link.call(&command, || format!("MEMORY USAGE {key}"))?;
    Ok(reply.int().and_then(|n| u64::try_from(n).ok()))
}

/// The server's `used_memory` (INFO memory), `None` when it does not report it.
pub fn used_memory(link: &mut Link) -> Result<Option<u64>> {
    let reply = link.call(&Command::new("INFO").arg("memory"), || {
        String::from("INFO memory")
    })?;
    Ok(info::used_memory(&reply))
}

/// Entries of `keys` after `after` (one ID each), at most `count`, waiting up to `block` for
/// the first (`XREAD`): into `batch`, nothing when the wait ran out.
pub fn read_after(
    link: &mut Link,
    keys: &[Arc<str>],
    after: &[StreamId],
    (count, block): (u64, Duration),
    batch: &mut Batch,
) -> Result<()> {
    let command = Command::new("XREAD")
        .arg("COUNT")
        .arg(count)
        .arg("BLOCK")
        .arg(block.as_millis().max(1) as u64)
        .arg("STREAMS")
        .args(keys.iter().map(|k| k.as_bytes()))
        .args(after.iter().copied());
    let what = || {
        let names: Vec<&str> = keys.iter().map(|k| &**k).collect();
        format!("XREAD on {}", names.join(" "))
    };
    link.call_with(&command, what, |reply| batch.read_streams(reply, keys))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// COUNT doubles after full, small replies up to the batch, halves after a big one, and
    /// never drops below one.
    #[test]
    fn count_adapts_to_reply_size() {
        assert_eq!(next_count(1, 1, 100, 500), 2);
        assert_eq!(next_count(256, 256, 25_600, 500), 500);
        assert_eq!(next_count(500, 500, 50_000, 500), 500);
        assert_eq!(next_count(64, 10, 1_000, 500), 64, "a short reply keeps it");
        assert_eq!(next_count(4, 4, 20 << 20, 500), 2);
        assert_eq!(next_count(1, 1, 100 << 20, 500), 1);
        assert_eq!(
            next_count(4, 4, 10 << 20, 500),
            4,
            "no doubling past half the budget"
        );
        assert_eq!(next_count(8, 8, 10, 1), 1, "one at a time with --delay");
    }
}

//! The requests every part of monsoon asks of a stream, each sent through a [`Link`] and its
//! reply read by [`super::records`] or [`super::entries`]: the key's type, XINFO, XPENDING,
//! pages of XRANGE, the newest entry, and deleting a stream on `--replace`.
//!
//! ```text
//! TYPE chennai                          none / stream / string ...
//! XINFO STREAM chennai                  length, last-generated-id, entries-added, ...
//! XINFO GROUPS chennai; XINFO CONSUMERS chennai mygroup
//! XPENDING chennai mygroup [- + 100 [alice]]
//! XRANGE chennai - + COUNT 1000         (XREVRANGE for newest first), page after page
//! DEL chennai                           only after TYPE said it is a stream
//! ```

use std::sync::Arc;

use redis::Value;

use super::entries::decode_entries;
use super::link::Link;
use super::records::{self, Group, Member, PendingEntry, PendingSummary, StreamInfo};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::stream_id::StreamId;

/// A reply we could not make sense of, as an error naming the server and the command.
pub fn bad_reply(link: &Link, what: &str, reason: impl std::fmt::Display) -> Error {
    Error::Server {
        address: link.target().address().to_string(),
        what: what.to_string(),
        reason: format!("unexpected reply: {reason}"),
    }
}

/// The type of `key` as Redis names it (`none`, `stream`, `string`, ...).
pub fn key_type(link: &mut Link, key: &str) -> Result<String> {
    link.call(&format!("TYPE {key}"), |con| {
        redis::cmd("TYPE").arg(key).query::<String>(con)
    })
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
    let what = format!("XINFO STREAM {key}");
    let reply: Value = link.call(&what, |con| {
        redis::cmd("XINFO").arg("STREAM").arg(key).query(con)
    })?;
    records::stream_info(reply)
        .map(Some)
        .ok_or_else(|| bad_reply(link, &what, "not a stream description"))
}

/// Deletes the stream `key` (`--replace`); a key of another type is refused, never deleted.
pub fn delete_stream(link: &mut Link, key: &str) -> Result<()> {
    ensure_stream(link, key)?;
    link.call(&format!("DEL {key}"), |con| {
        redis::cmd("DEL").arg(key).query::<i64>(con)
    })?;
    Ok(())
}

/// Every group of `key` with its consumers; a missing stream is [`Error::NoStream`].
pub fn groups(link: &mut Link, key: &str) -> Result<Vec<Group>> {
    require_stream(link, key)?;
    let what = format!("XINFO GROUPS {key}");
    let reply: Value = link.call(&what, |con| {
        redis::cmd("XINFO").arg("GROUPS").arg(key).query(con)
    })?;
    let mut groups =
        records::groups(reply).ok_or_else(|| bad_reply(link, &what, "not a list of groups"))?;
    for group in &mut groups {
        group.members = members(link, key, &group.name)?;
    }
    Ok(groups)
}

/// The groups of the stream `key` as XINFO GROUPS alone tells them (no consumers listed).
pub fn group_list(link: &mut Link, key: &str) -> Result<Vec<Group>> {
    let what = format!("XINFO GROUPS {key}");
    let reply: Value = link.call(&what, |con| {
        redis::cmd("XINFO").arg("GROUPS").arg(key).query(con)
    })?;
    records::groups(reply).ok_or_else(|| bad_reply(link, &what, "not a list of groups"))
}

/// The names of the groups of the stream `key` (XINFO GROUPS alone, no consumers).
pub fn group_names(link: &mut Link, key: &str) -> Result<Vec<String>> {
    Ok(group_list(link, key)?.into_iter().map(|g| g.name).collect())
}

/// The consumers of `group` on `key`; a missing group is [`Error::NoGroup`].
pub fn members(link: &mut Link, key: &str, group: &str) -> Result<Vec<Member>> {
    let what = format!("XINFO CONSUMERS {key} {group}");
    let reply: Result<Value> = link.call(&what, |con| {
        redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(key)
            .arg(group)
            .query(con)
    });
    let reply = no_group(reply, key, group)?;
    records::members(reply).ok_or_else(|| bad_reply(link, &what, "not a list of consumers"))
}

/// The XPENDING summary of `group` on `key`; a missing group is [`Error::NoGroup`].
pub fn pending_summary(link: &mut Link, key: &str, group: &str) -> Result<PendingSummary> {
    let what = format!("XPENDING {key} {group}");
    let reply: Result<Value> = link.call(&what, |con| {
        redis::cmd("XPENDING").arg(key).arg(group).query(con)
    });
    let reply = no_group(reply, key, group)?;
    records::pending_summary(reply).ok_or_else(|| {
        bad_reply(
            link,
            &what,
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
    let what = format!("XPENDING {key} {group}");
    let reply: Result<Value> = link.call(&what, |con| {
        let mut cmd = redis::cmd("XPENDING");
        cmd.arg(key)
            .arg(group)
            .arg(range.start)
            .arg(range.end)
            .arg(range.count);
        if let Some(consumer) = range.consumer {
            cmd.arg(consumer);
        }
        cmd.query(con)
    });
    let reply = no_group(reply, key, group)?;
    records::pending_entries(reply).ok_or_else(|| {
        bad_reply(
            link,
            &what,
            "the detail is not a list of [id, consumer, idle, deliveries]",
        )
    })
}

/// Turns the server's NOGROUP answer into [`Error::NoGroup`] naming the group and the stream.
fn no_group(reply: Result<Value>, key: &str, group: &str) -> Result<Value> {
    match reply {
        Err(Error::Server { reason, .. }) if reason.starts_with("NOGROUP") => Err(Error::NoGroup {
            key: key.to_string(),
            group: group.to_string(),
        }),
        other => other,
    }
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
    mut each: impl FnMut(Vec<Message>) -> Result<bool>,
) -> Result<()> {
    let stream: Arc<str> = Arc::from(key);
    let (mut start, mut end) = (start.to_string(), end.to_string());
    let mut left = limit.unwrap_or(u64::MAX);
    // Pages grow from one entry up to `page` while they stay small (see [`next_count`]).
    let mut size = 1usize;
    while left > 0 {
        let count = left.min(size as u64);
        let (command, first, second) = match direction {
            Direction::Forward => ("XRANGE", &start, &end),
            Direction::Backward => ("XREVRANGE", &end, &start),
        };
        let what = format!("{command} {key}");
        let reply: Value = link.call(&what, |con| {
            redis::cmd(command)
                .arg(key)
                .arg(first)
                .arg(second)
                .arg("COUNT")
                .arg(count)
                .query(con)
        })?;
        let mut messages = Vec::new();
        decode_entries(reply, &stream, &mut messages).map_err(|e| bad_reply(link, &what, e))?;
        let Some(last) = messages.last().map(|m| m.id) else {
            return Ok(());
        };
        let full = messages.len() as u64 == count;
        left -= messages.len() as u64;
        let bytes = messages.iter().map(Message::size).sum();
        let max = usize::try_from(page).unwrap_or(usize::MAX);
        size = next_count(size, messages.len(), bytes, max);
        if !each(messages)? || !full {
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
            newest = page.first().map(|m| m.id);
            Ok(false)
        },
    )?;
    Ok(newest)
}

/// The server's `used_memory` (INFO memory), `None` when it does not report it.
pub fn used_memory(link: &mut Link) -> Result<Option<u64>> {
    let info: Value = link.call("INFO memory", |con| {
        redis::cmd("INFO").arg("memory").query(con)
    })?;
    Ok(records::used_memory(&info))
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

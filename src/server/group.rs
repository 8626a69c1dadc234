//! A consumer group on the server: creating or joining it, re-creating it when it vanished,
//! moving it (`--reset-to`), delivery counts from the pending list, claiming from dead
//! consumers, keeping what is in hand, pruning idle consumers.
//!
//! ```text
//! XGROUP CREATE chennai mygroup 0 MKSTREAM        (BUSYGROUP: it exists, join it)
//! XINFO STREAM chennai; XRANGE chennai (<id> <last-generated-id>    ENTRIESREAD n for <id>
//! XGROUP SETID chennai mygroup <id> ENTRIESREAD n  (CREATE ... ENTRIESREAD n when missing)
//! XPENDING chennai mygroup 1-0 9-0 100 alice       delivery counts of re-read entries
//! XAUTOCLAIM chennai mygroup alice 30000 0-0 COUNT 10     a step: no more than it can finish
//! EVAL "XPENDING ..; XCLAIM .. JUSTID" 1 chennai mygroup alice 1-0 ..   keep in hand what is ours
//! EVAL "XPENDING ..; XGROUP DELCONSUMER .." 1 chennai mygroup bob       prune one that holds nothing
//! ```

use std::sync::Arc;
use std::time::Duration;

use super::batch::Batch;
use super::link::Link;
use super::resp::Command;
use super::streams::{self, PendingRange};
use crate::error::Result;
use crate::stream_id::StreamId;

/// Joins `group` on `key`, creating it at `start` (and the stream, if needed) when it does not
/// exist yet. Joining an existing group writes nothing (a server at maxmemory refuses every
/// write, XGROUP CREATE included). Returns whether it was created.
pub fn join(link: &mut Link, key: &str, group: &str, start: &str) -> Result<bool> {
    if streams::stream_exists(link, key)? && streams::group(link, key, group)?.is_some() {
        return Ok(false);
    }
    let command = Command::new("XGROUP")
        .arg("CREATE")
        .arg(key)
        .arg(group)
        .arg(start)
        .arg("MKSTREAM");
    let what = || format!("XGROUP CREATE {key} {group}");
    // Another consumer created it in between (BUSYGROUP): join it.
    let created = link.call_or(&command, what, |e| e.is("BUSYGROUP"))?;
    Ok(created.is_ok())
}

/// Re-creates a group that vanished (the stream was deleted, the group destroyed, the server
/// restarted without persistence) at `at` (`--recreate-at`, `0` by default), and returns how
/// many entries of the stream it will deliver again; `None` when the group was there after all
/// (another consumer re-created it first).
///
/// At `0` every entry still in the stream comes again: duplicates are possible, nothing is
/// skipped. Any later position would skip what a dead consumer held when the group vanished
/// (its pending list vanished with the group), so that is only done when asked for.
pub fn recreate(link: &mut Link, key: &str, group: &str, at: &str) -> Result<Option<u64>> {
    if !join(link, key, group, at)? {
        return Ok(None);
    }
    let again = match at {
        "$" => 0,
        "0" | "0-0" => streams::stream_info(link, key)?.map_or(0, |info| info.length),
        id => match id.parse::<StreamId>() {
            // Counted once, on this rare path (a group that vanished), never routinely.
            Ok(id) => streams::count_entries(link, key, id.successor(), "+")?,
            Err(_) => 0,
        },
    };
    Ok(Some(again))
}

/// The ENTRIESREAD of a group placed at `to` on `key`: how many entries were ever added up to
/// `to`, i.e. `entries-added` less the entries after `to`; `None` where the server does not count
/// (before 7.0) or the stream was never written.
///
/// The two must be of one moment. Counted up to `+` while a producer writes, what it added after
/// `entries-added` was read would be subtracted too, and the group's lag would stay that much too
/// high even once it has read everything. One XINFO STREAM answers `entries-added` and
/// `last-generated-id` together (a command runs atomically), and the count stops at that ID: what
/// is written later lies above it. The count runs page by page (it can be millions of entries,
/// which a script or MULTI would count while the server does nothing else).
pub fn entries_read_at(link: &mut Link, key: &str, to: StreamId) -> Result<Option<u64>> {
    let Some(info) = streams::stream_info(link, key)? else {
        return Ok(None);
    };
    let (Some(added), Some(last)) = (info.entries_added, info.last_generated_id) else {
        return Ok(None);
    };
    let after = match to < last {
        true => streams::count_entries(link, key, to.successor(), &last.to_string())?,
        false => 0,
    };
    Ok(Some(added.saturating_sub(after)))
}

/// Moves `group` on `key` to `to` (XGROUP SETID), or creates it there when `create`, with
/// ENTRIESREAD where known, so its lag stays exact.
pub fn set_id(
    link: &mut Link,
    (key, group): (&str, &str),
    to: StreamId,
    entries_read: Option<u64>,
    create: bool,
) -> Result<()> {
    let sub = if create { "CREATE" } else { "SETID" };
    let mut command = Command::new("XGROUP").arg(sub).arg(key).arg(group).arg(to);
    if let Some(n) = entries_read {
        command.push("ENTRIESREAD");
        command.push(n);
    }
    link.call(&command, || format!("XGROUP {sub} {key} {group}"))?;
    Ok(())
}

/// Fills in each entry's delivery count from `consumer`'s pending list (for entries re-read
/// with ID `0` or claimed: the read reply itself carries no count).
pub fn fill_deliveries(
    link: &mut Link,
    (group, consumer): (&str, &str),
    batch: &mut Batch,
) -> Result<()> {
    let mut start = 0;
    while start < batch.len() {
        let Some(first) = batch.get(start) else { break };
        let stream = Arc::clone(first.stream);
        let end = start
            + batch
                .iter()
                .skip(start)
                .take_while(|e| **e.stream == *stream)
                .count();
        let ids: Vec<StreamId> = batch.ids().skip(start).take(end - start).collect();
        let (low, high) = (ids[0].to_string(), ids[ids.len() - 1].to_string());
        let range = PendingRange {
            start: &low,
            end: &high,
            count: (end - start) as u64,
            consumer: Some(consumer),
        };
        let rows = streams::pending_entries(link, &stream, group, range)?;
        for (offset, id) in ids.iter().enumerate() {
            if let Some(row) = rows.iter().find(|row| row.id == *id) {
                batch.set_deliveries(start + offset, row.deliveries);
            }
        }
        start = end;
    }
    Ok(())
}

/// One XAUTOCLAIM step from `cursor`: takes over at most `count` entries of `key` pending
/// longer than `min_idle` on any consumer, into `batch` with delivery counts filled in; returns
/// the next cursor (`0-0`: the scan is complete) and the IDs that were pending but are gone from
/// the stream. The caller processes the entries before the next step, so what it takes it can
/// finish before it looks idle to the others.
pub fn claim_step(
    link: &mut Link,
    key: &Arc<str>,
    (group, consumer): (&str, &str),
    (min_idle, cursor, count): (Duration, StreamId, usize),
    batch: &mut Batch,
) -> Result<(StreamId, Vec<StreamId>)> {
    let min_idle_ms = min_idle.as_millis().min(u128::from(u64::MAX)) as u64;
    let command = Command::new("XAUTOCLAIM")
        .arg(&**key)
        .arg(group)
        .arg(consumer)
        .arg(min_idle_ms)
        .arg(cursor)
        .arg("COUNT")
        .arg(count);
    let what = || format!("XAUTOCLAIM {key} {group}");
    let step = link.call_with(&command, what, |reply| batch.read_autoclaim(reply, key))?;
    fill_deliveries(link, (group, consumer), batch)?;
    Ok(step)
}

/// Keeps entries in hand from looking idle to other consumers: re-claims those of `ids` still
/// pending on `consumer` (XCLAIM ... JUSTID resets the idle time and counts no delivery) and
/// returns them; the others were taken by someone else and must be dropped, not processed.
///
/// The ownership check and the claim run as one script: a plain XCLAIM would take an entry
/// back from whoever holds it now, and both would process it.
pub fn reclaim_own(
    link: &mut Link,
    key: &str,
    (group, consumer): (&str, &str),
    ids: &[StreamId],
) -> Result<Vec<StreamId>> {
    const CLAIM_IF_MINE: &str = r"
        local kept = {}
        for i = 3, #ARGV do
            local row = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
            if #row == 1 and row[1][2] == ARGV[2] then
                redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
                kept[#kept + 1] = ARGV[i]
            end
        end
        return kept";
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let command = Command::new("EVAL")
        .arg(CLAIM_IF_MINE)
        .arg(1u64)
        .arg(key)
        .arg(group)
        .arg(consumer)
        .args(ids.iter().copied());
    let what = || format!("XCLAIM {key} {group} (keeping entries in hand)");
    let kept = link.call(&command, what)?;
    Ok(kept
        .into_array()
        .unwrap_or_default()
        .iter()
        .filter_map(|id| id.text()?.parse().ok())
        .collect())
}

/// Deletes consumers of `group` on `key` idle longer than `idle` with nothing pending; never one
/// that still holds entries, never `me`. Returns the names deleted.
///
/// The check and the delete run as one script, so an entry cannot slip into the consumer's
/// pending list between them.
pub fn prune_idle(
    link: &mut Link,
    key: &str,
    (group, me): (&str, &str),
    idle: Duration,
) -> Result<Vec<String>> {
    const DELETE_IF_EMPTY: &str = r"
        local pending = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
        if #pending == 0 then
            redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
            return 1
        end
        return 0";
    let mut deleted = Vec::new();
    for member in streams::members(link, key, group)? {
        let name = member.name;
        if name == me || u128::from(member.idle_ms) < idle.as_millis() {
            continue;
        }
        // EVAL, not EVALSHA: EVALSHA needs SCRIPT LOAD, one more command an ACL user would
        // need; the script is a few hundred bytes.
        let command = Command::new("EVAL")
            .arg(DELETE_IF_EMPTY)
            .arg(1u64)
            .arg(key)
            .arg(group)
            .arg(name.as_str());
        let what = || format!("XGROUP DELCONSUMER {key} {group} {name}");
        if link.call(&command, what)?.int() == Some(1) {
            deleted.push(name);
        }
    }
    Ok(deleted)
}

/// Acknowledges `ids` of `key` in one round trip (safe to repeat after a reconnect).
pub fn ack(link: &mut Link, key: &str, group: &str, ids: &[StreamId]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let command = Command::new("XACK")
        .arg(key)
        .arg(group)
        .args(ids.iter().copied());
    link.call(&command, || format!("XACK {key} {group}"))?;
    Ok(())
}

//! The consumer group on the server: creating or joining it, re-creating it when it vanished,
//! delivery counts from the pending list, claiming from dead consumers, pruning them.
//!
//! ```text
//! XGROUP CREATE chennai mygroup 0 MKSTREAM        (BUSYGROUP: it exists, join it)
//! XPENDING chennai mygroup 1-0 9-0 100 alice       delivery counts of re-read entries
//! XAUTOCLAIM chennai mygroup alice 30000 0-0 COUNT 10     a step: no more than it can finish
//! EVAL "XPENDING ..; XCLAIM .. JUSTID" 1 chennai mygroup alice 1-0 ..   keep in hand what is ours
//! ```

use std::sync::Arc;
use std::time::Duration;

use redis::Value;

use crate::error::Result;
use crate::message::Message;
use crate::server::queries::{self, PendingRange};
use crate::server::records::{self, AutoClaim};
use crate::server::target::has_code;
use crate::server::{Link, pins};
use crate::stream_id::StreamId;

/// Joins `group` on `key`, creating it at `start` (and the stream, if needed) when it does not
/// exist yet. Joining an existing group writes nothing (a server at maxmemory refuses every
/// write, XGROUP CREATE included). Returns whether it was created.
pub fn create(link: &mut Link, key: &str, group: &str, start: &str) -> Result<bool> {
    if queries::stream_exists(link, key)?
        && queries::group_names(link, key)?.iter().any(|g| g == group)
    {
        return Ok(false);
    }
    let what = format!("XGROUP CREATE {key} {group}");
    let created = link.call(&what, |con| {
        match redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(key)
            .arg(group)
            .arg(start)
            .arg("MKSTREAM")
            .query::<()>(con)
        {
            Ok(()) => Ok(true),
            // Another consumer created it in between: join it.
            Err(err) if has_code(&err, "BUSYGROUP") => Ok(false),
            Err(err) => Err(err),
        }
    })?;
    Ok(created)
}

/// Re-creates a group that vanished (the stream was deleted, the group destroyed, the server
/// restarted without persistence) at `at` (`--recreate-at`, `0` by default), and returns how
/// many entries of the stream it will deliver again.
///
/// At `0` every entry still in the stream comes again: duplicates are possible, nothing is
/// skipped. Any later position would skip what a dead consumer held when the group vanished
/// (its pending list vanished with the group), so that is only done when asked for.
pub fn recreate(link: &mut Link, key: &str, group: &str, at: &str) -> Result<u64> {
    create(link, key, group, at)?;
    match at {
        "$" => Ok(0),
        "0" | "0-0" => Ok(queries::stream_info(link, key)?.map_or(0, |info| info.length)),
        id => match id.parse::<StreamId>() {
            Ok(id) => pins::count_entries(link, key, id.successor(), "+"),
            Err(_) => Ok(0),
        },
    }
}

/// Fills in each message's delivery count from `consumer`'s pending list (for entries re-read
/// with ID `0` or claimed: the read reply itself carries no count).
pub fn fill_deliveries(
    link: &mut Link,
    group: &str,
    consumer: &str,
    messages: &mut [Message],
) -> Result<()> {
    let mut start = 0;
    while start < messages.len() {
        let stream = Arc::clone(&messages[start].stream);
        let end = start
            + messages[start..]
                .iter()
                .take_while(|m| m.stream == stream)
                .count();
        let (first, last) = (
            messages[start].id.to_string(),
            messages[end - 1].id.to_string(),
        );
        let range = PendingRange {
            start: &first,
            end: &last,
            count: (end - start) as u64,
            consumer: Some(consumer),
        };
        let rows = queries::pending_entries(link, &stream, group, range)?;
        for message in &mut messages[start..end] {
            if let Some(row) = rows.iter().find(|row| row.id == message.id) {
                message.deliveries = row.deliveries;
            }
        }
        start = end;
    }
    Ok(())
}

/// One XAUTOCLAIM step from `cursor`: takes over at most `count` entries of `key` pending
/// longer than `min_idle` on any consumer, with delivery counts filled in. The caller processes
/// them before the next step (from the returned cursor), so what it takes it can finish
/// before it looks idle to the others.
pub fn claim_step(
    link: &mut Link,
    key: &Arc<str>,
    (group, consumer): (&str, &str),
    min_idle: Duration,
    cursor: StreamId,
    count: usize,
) -> Result<AutoClaim> {
    let min_idle_ms = min_idle.as_millis().min(u128::from(u64::MAX)) as u64;
    let what = format!("XAUTOCLAIM {key} {group}");
    let reply: Value = link.call(&what, |con| {
        redis::cmd("XAUTOCLAIM")
            .arg(&**key)
            .arg(group)
            .arg(consumer)
            .arg(min_idle_ms)
            .arg(cursor.to_string())
            .arg("COUNT")
            .arg(count)
            .query(con)
    })?;
    let mut step =
        records::auto_claim(reply, key).map_err(|e| queries::bad_reply(link, &what, e))?;
    fill_deliveries(link, group, consumer, &mut step.messages)?;
    Ok(step)
}

/// Keeps entries in hand from looking idle to other consumers: re-claims those of `ids` still
/// pending on `consumer` (XCLAIM ... JUSTID resets the idle time and counts no delivery) and
/// returns them; the others were taken by someone else and must be dropped, not processed.
///
/// The ownership check and the claim run as one script: a plain XCLAIM would take an entry
/// back from whoever holds it now, and both would process it.
pub fn keep_in_hand(
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
    let what = format!("XCLAIM {key} {group} (keeping entries in hand)");
    let kept: Vec<String> = link.call(&what, |con| {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(CLAIM_IF_MINE)
            .arg(1)
            .arg(key)
            .arg(group)
            .arg(consumer);
        for id in ids {
            cmd.arg(id.to_string());
        }
        cmd.query(con)
    })?;
    Ok(kept.iter().filter_map(|id| id.parse().ok()).collect())
}

/// Deletes consumers of `group` on `key` idle longer than `idle` with nothing pending; never one
/// that still holds entries. Returns the names deleted.
///
/// The check and the delete run as one script, so an entry cannot slip into the consumer's
/// pending list between them.
pub fn prune_idle(
    link: &mut Link,
    key: &str,
    group: &str,
    me: &str,
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
    for member in queries::members(link, key, group)? {
        let name = member.name;
        if name == me || u128::from(member.idle_ms) < idle.as_millis() {
            continue;
        }
        let what = format!("XGROUP DELCONSUMER {key} {group} {name}");
        let done: i64 = link.call(&what, |con| {
            // EVAL, not EVALSHA: redis-rs would fall back to SCRIPT LOAD, one more command an
            // ACL user would need; the script is a few hundred bytes.
            redis::cmd("EVAL")
                .arg(DELETE_IF_EMPTY)
                .arg(1)
                .arg(key)
                .arg(group)
                .arg(&name)
                .query(con)
        })?;
        if done == 1 {
            deleted.push(name);
        }
    }
    Ok(deleted)
}

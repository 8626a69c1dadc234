//! The consumer group on the server: creating or joining it, re-creating it when it vanished,
//! delivery counts from the pending list, claiming from dead consumers, pruning them.
//!
//! ```text
//! XGROUP CREATE chennai mygroup 0 MKSTREAM        (BUSYGROUP: it exists, join it)
//! XPENDING chennai mygroup 1-0 9-0 100 alice       delivery counts of re-read entries
//! XAUTOCLAIM chennai mygroup alice 30000 0-0 COUNT 100
//! ```

use std::sync::Arc;
use std::time::Duration;

use redis::Value;

use crate::error::Result;
use crate::message::Message;
use crate::server::queries::{self, Direction, PendingRange};
use crate::server::target::has_code;
use crate::server::{Link, records};
use crate::stream_id::StreamId;

/// Creates `group` on `key` at `start` (making the stream if needed); joins it if it exists.
/// Returns whether it was created.
pub fn create(link: &mut Link, key: &str, group: &str, start: &str) -> Result<bool> {
    queries::ensure_stream(link, key)?;
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
            Err(err) if has_code(&err, "BUSYGROUP") => Ok(false),
            Err(err) => Err(err),
        }
    })?;
    Ok(created)
}

/// Re-creates a group that vanished (stream deleted, or group destroyed), positioned so that no
/// entry still in the stream is skipped and none this consumer acknowledged comes back: at the
/// last ID it acknowledged while that entry is still there, else at `0` (a new stream, or one
/// trimmed past it, holds nothing it has seen).
pub fn recreate(
    link: &mut Link,
    key: &str,
    group: &str,
    last_acked: Option<StreamId>,
) -> Result<String> {
    let start = match last_acked {
        Some(id) if still_there(link, key, id)? => id.to_string(),
        _ => String::from("0"),
    };
    create(link, key, group, &start)?;
    Ok(start)
}

/// Whether the stream still holds the entry `id`.
fn still_there(link: &mut Link, key: &str, id: StreamId) -> Result<bool> {
    let id = id.to_string();
    let mut found = false;
    queries::range_pages(
        link,
        key,
        (&id, &id),
        Direction::Forward,
        1,
        Some(1),
        |page| {
            found = !page.is_empty();
            Ok(false)
        },
    )?;
    Ok(found)
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

/// What one XAUTOCLAIM sweep over a stream found.
#[derive(Debug, Default)]
pub struct Claimed {
    /// Entries now pending on us, with their fields.
    pub messages: Vec<Message>,
    /// IDs that were pending but are no longer in the stream (trimmed or deleted).
    pub deleted: Vec<StreamId>,
}

/// Takes over every entry of `key` pending longer than `min_idle` on any consumer (XAUTOCLAIM,
/// following its cursor to the end), with delivery counts filled in.
pub fn claim_idle(
    link: &mut Link,
    key: &Arc<str>,
    group: &str,
    consumer: &str,
    min_idle: Duration,
    count: usize,
) -> Result<Claimed> {
    let mut claimed = Claimed::default();
    let mut cursor = StreamId::ZERO;
    let min_idle_ms = min_idle.as_millis().min(u128::from(u64::MAX)) as u64;
    let what = format!("XAUTOCLAIM {key} {group}");
    loop {
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
        let step =
            records::auto_claim(reply, key).map_err(|e| queries::bad_reply(link, &what, e))?;
        claimed.messages.extend(step.messages);
        claimed.deleted.extend(step.deleted);
        if step.next == StreamId::ZERO {
            break;
        }
        cursor = step.next;
    }
    fill_deliveries(link, group, consumer, &mut claimed.messages)?;
    Ok(claimed)
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

//! The records the server answers with, as pure parsing functions: XINFO STREAM / GROUPS /
//! CONSUMERS, the XPENDING summary and detail, and XAUTOCLAIM. Name/value replies are read by
//! name rather than by position, so new fields in later server versions change nothing.
//!
//! ```text
//! XINFO GROUPS chennai (RESP2: a flat list per group; RESP3: a map)
//! *1
//!   *12  name mygroup  consumers 2  pending 1  last-delivered-id 1534291200041-0
//!        entries-read 42  lag 86358
//! XPENDING chennai mygroup            [count, smallest ID, largest ID, [[consumer, count], ...]]
//! XPENDING chennai mygroup - + 100    [[id, consumer, idle ms, deliveries], ...]
//! XAUTOCLAIM ... COUNT 100            [next cursor, [[id, fields], ...], [deleted id, ...]]
//! ```

use std::sync::Arc;

use redis::Value;

use super::entries::{BadReply, decode_entries};
use crate::message::Message;
use crate::stream_id::StreamId;

/// One record of a reply: its fields by name, in server order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record(pub Vec<(String, Value)>);

impl Record {
    /// A record from a flat `[name, value, ...]` list or a map; `None` for anything else.
    pub fn from_value(value: Value) -> Option<Self> {
        let pairs = match value {
            Value::Array(flat) => {
                let mut pairs = Vec::with_capacity(flat.len() / 2);
                let mut flat = flat.into_iter();
                while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                    pairs.push((text(&k)?, v));
                }
                pairs
            }
            Value::Map(map) => map
                .into_iter()
                .map(|(k, v)| Some((text(&k)?, v)))
                .collect::<Option<_>>()?,
            _ => return None,
        };
        Some(Record(pairs))
    }

    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Field `name` as text.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).and_then(text)
    }

    /// Field `name` as a number (`None` when missing or nil, as `lag` can be).
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(int)
    }

    /// Field `name` as a stream ID.
    pub fn id(&self, name: &str) -> Option<StreamId> {
        self.text(name)?.parse().ok()
    }
}

/// A list of records (one per group, per consumer); `None` when the reply is not a list.
pub fn records(value: Value) -> Option<Vec<Record>> {
    match value {
        Value::Array(items) => items.into_iter().map(Record::from_value).collect(),
        _ => None,
    }
}

/// A string-like value as text.
pub fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(raw) => Some(String::from_utf8_lossy(raw).into_owned()),
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A number, whether the server sent it as an integer or as text.
pub fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Int(n) => Some(*n),
        other => text(other)?.parse().ok(),
    }
}

/// A non-negative count field (missing or nil: 0).
fn count(record: &Record, name: &str) -> u64 {
    record
        .int(name)
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0)
}

/// A stream as XINFO STREAM describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamInfo {
    /// Entries in the stream now (XLEN).
    pub length: u64,
    /// The last ID the stream ever had, even if that entry was deleted since (`None`: never
    /// written). XADD must go above it.
    pub last_generated_id: Option<StreamId>,
    /// Entries ever added (Redis 7.0+): survives trims, not a DEL.
    pub entries_added: Option<u64>,
    /// The ID of the oldest entry in the stream.
    pub first_entry: Option<StreamId>,
    /// The ID of the newest entry in the stream.
    pub last_entry: Option<StreamId>,
}

/// Reads XINFO STREAM's reply.
pub fn stream_info(reply: Value) -> Option<StreamInfo> {
    let record = Record::from_value(reply)?;
    let entry_id = |name: &str| match record.get(name)? {
        Value::Array(parts) => parts.first().and_then(text)?.parse().ok(),
        _ => None,
    };
    Some(StreamInfo {
        length: count(&record, "length"),
        last_generated_id: record
            .id("last-generated-id")
            .filter(|id| *id != StreamId::ZERO),
        entries_added: record
            .int("entries-added")
            .and_then(|n| u64::try_from(n).ok()),
        first_entry: entry_id("first-entry"),
        last_entry: entry_id("last-entry"),
    })
}

/// One consumer group, as XINFO GROUPS and XINFO CONSUMERS describe it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Group {
    /// The group's name.
    pub name: String,
    /// How many consumers it has.
    pub consumers: u64,
    /// Entries delivered to it and not acknowledged.
    pub pending: u64,
    /// The last ID delivered to any of its consumers.
    pub last_delivered: Option<StreamId>,
    /// Entries delivered to it so far (Redis 7.0+; `None` where the server cannot tell).
    pub entries_read: Option<u64>,
    /// Entries not yet delivered to it (Redis 7.0+; `None` where the server cannot tell).
    pub lag: Option<u64>,
    /// Its consumers (filled in from XINFO CONSUMERS).
    pub members: Vec<Member>,
}

/// One consumer of a group, as XINFO CONSUMERS describes it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Member {
    /// The consumer's name.
    pub name: String,
    /// Entries it holds, unacknowledged.
    pub pending: u64,
    /// Milliseconds since it last read or claimed.
    pub idle_ms: u64,
}

/// Reads XINFO GROUPS's reply (members left empty).
pub fn groups(reply: Value) -> Option<Vec<Group>> {
    Some(records(reply)?.iter().map(group).collect())
}

/// A group from its XINFO GROUPS record.
fn group(record: &Record) -> Group {
    Group {
        name: record.text("name").unwrap_or_default(),
        consumers: count(record, "consumers"),
        pending: count(record, "pending"),
        last_delivered: record.id("last-delivered-id"),
        entries_read: record
            .int("entries-read")
            .and_then(|n| u64::try_from(n).ok()),
        lag: record.int("lag").and_then(|n| u64::try_from(n).ok()),
        members: Vec::new(),
    }
}

/// Reads XINFO CONSUMERS's reply.
pub fn members(reply: Value) -> Option<Vec<Member>> {
    Some(
        records(reply)?
            .iter()
            .map(|record| Member {
                name: record.text("name").unwrap_or_default(),
                pending: count(record, "pending"),
                idle_ms: count(record, "idle"),
            })
            .collect(),
    )
}

/// A group's pending list in short, as the XPENDING summary form gives it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PendingSummary {
    /// Entries delivered and not yet acknowledged.
    pub pending: u64,
    /// The smallest pending ID.
    pub min: Option<StreamId>,
    /// The largest pending ID.
    pub max: Option<StreamId>,
    /// Pending entries per consumer (consumers holding none are not listed by the server).
    pub members: Vec<(String, u64)>,
}

/// Reads the summary reply `[count, min, max, [[consumer, count], ...]]`.
pub fn pending_summary(reply: Value) -> Option<PendingSummary> {
    let Value::Array(items) = reply else {
        return None;
    };
    let [count, min, max, members] = <[Value; 4]>::try_from(items).ok()?;
    let id = |v: &Value| text(v).and_then(|t| t.parse().ok());
    let members = match members {
        Value::Nil => Vec::new(),
        Value::Array(rows) => rows
            .iter()
            .map(|row| match row {
                Value::Array(pair) if pair.len() == 2 => {
                    Some((text(&pair[0])?, u64::try_from(int(&pair[1])?).ok()?))
                }
                _ => None,
            })
            .collect::<Option<_>>()?,
        _ => return None,
    };
    Some(PendingSummary {
        pending: u64::try_from(int(&count)?).ok()?,
        min: id(&min),
        max: id(&max),
        members,
    })
}

/// One pending entry, as the XPENDING detail form gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEntry {
    /// Its ID.
    pub id: StreamId,
    /// Who holds it.
    pub consumer: String,
    /// Milliseconds since it was last delivered.
    pub idle_ms: u64,
    /// Times it was delivered.
    pub deliveries: u64,
}

/// Reads the detail reply `[[id, consumer, idle ms, deliveries], ...]`.
pub fn pending_entries(reply: Value) -> Option<Vec<PendingEntry>> {
    let Value::Array(rows) = reply else {
        return None;
    };
    rows.iter()
        .map(|row| {
            let Value::Array(cells) = row else {
                return None;
            };
            let [id, consumer, idle, deliveries] = cells.as_slice() else {
                return None;
            };
            Some(PendingEntry {
                id: text(id)?.parse().ok()?,
                consumer: text(consumer)?,
                idle_ms: u64::try_from(int(idle)?).ok()?,
                deliveries: u64::try_from(int(deliveries)?).ok()?,
            })
        })
        .collect()
}

/// One XAUTOCLAIM step: where the next one starts, what was claimed, what was gone.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AutoClaim {
    /// The cursor for the next call; `0-0` when the scan is complete.
    pub next: StreamId,
    /// Entries now pending on the claimer, with their fields (delivery counts not filled in).
    pub messages: Vec<Message>,
    /// IDs that were pending but are no longer in the stream (Redis 7.0+ lists them; 6.2 shows
    /// them as entries with nil fields, counted here too).
    pub deleted: Vec<StreamId>,
}

/// Reads XAUTOCLAIM's reply `[next, [[id, fields], ...], [deleted id, ...]]` for `stream`.
pub fn auto_claim(reply: Value, stream: &Arc<str>) -> Result<AutoClaim, BadReply> {
    let Value::Array(parts) = reply else {
        return Err(BadReply("the XAUTOCLAIM reply is not a list"));
    };
    let mut parts = parts.into_iter();
    let next = parts
        .next()
        .as_ref()
        .and_then(text)
        .and_then(|t| t.parse().ok())
        .ok_or(BadReply("the XAUTOCLAIM reply has no cursor"))?;
    let mut claimed = AutoClaim {
        next,
        ..AutoClaim::default()
    };
    if let Some(entries) = parts.next() {
        decode_entries(entries, stream, &mut claimed.messages)?;
    }
    if let Some(Value::Array(ids)) = parts.next() {
        claimed.deleted.extend(
            ids.iter()
                .filter_map(|v| text(v).and_then(|t| t.parse::<StreamId>().ok())),
        );
    }
    let (gone, kept): (Vec<_>, Vec<_>) = claimed
        .messages
        .into_iter()
        .partition(|m| m.fields.is_none());
    claimed.deleted.extend(gone.into_iter().map(|m| m.id));
    claimed.messages = kept;
    Ok(claimed)
}

/// `used_memory` from INFO memory's reply (`used_memory:3145728` among its lines).
pub fn used_memory(reply: &Value) -> Option<u64> {
    text(reply)?
        .lines()
        .find_map(|line| line.trim().strip_prefix("used_memory:"))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    /// Flat lists and maps both read by name; nil stays missing.
    #[test]
    fn reads_by_name() {
        let flat = Value::Array(vec![
            bulk("name"),
            bulk("mygroup"),
            bulk("lag"),
            Value::Nil,
            bulk("pending"),
            Value::Int(3),
            bulk("last-delivered-id"),
            bulk("5-1"),
        ]);
        let record = Record::from_value(flat).unwrap();
        assert_eq!(record.text("name").as_deref(), Some("mygroup"));
        assert_eq!(record.int("pending"), Some(3));
        assert_eq!(record.int("lag"), None);
        assert_eq!(record.id("last-delivered-id"), Some(StreamId::new(5, 1)));
        let map = Value::Map(vec![(bulk("pending"), Value::Int(7))]);
        assert_eq!(Record::from_value(map).unwrap().int("pending"), Some(7));
        assert_eq!(records(Value::Int(1)), None);
    }

    /// XINFO STREAM gives the length, the last generated ID (none for `0-0`), entries added and
    /// the IDs of the first and last entries.
    #[test]
    fn reads_stream_info() {
        let entry =
            |id: &str| Value::Array(vec![bulk(id), Value::Array(vec![bulk("t"), bulk("1")])]);
        let reply = Value::Array(vec![
            bulk("length"),
            Value::Int(2),
            bulk("last-generated-id"),
            bulk("1534291201000-0"),
            bulk("entries-added"),
            Value::Int(5),
            bulk("first-entry"),
            entry("1534291200000-0"),
            bulk("last-entry"),
            entry("1534291201000-0"),
        ]);
        assert_eq!(
            stream_info(reply),
            Some(StreamInfo {
                length: 2,
                last_generated_id: Some(StreamId::new(1534291201000, 0)),
                entries_added: Some(5),
                first_entry: Some(StreamId::new(1534291200000, 0)),
                last_entry: Some(StreamId::new(1534291201000, 0)),
            })
        );
        let empty = Value::Array(vec![
            bulk("length"),
            Value::Int(0),
            bulk("last-generated-id"),
            bulk("0-0"),
            bulk("first-entry"),
            Value::Nil,
        ]);
        let info = stream_info(empty).unwrap();
        assert_eq!((info.last_generated_id, info.first_entry), (None, None));
    }

    /// XINFO GROUPS and XINFO CONSUMERS read by name, with an unknown lag as `None`.
    #[test]
    fn reads_groups_and_members() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("name"),
            bulk("mygroup"),
            bulk("consumers"),
            Value::Int(2),
            bulk("pending"),
            Value::Int(1),
            bulk("last-delivered-id"),
            bulk("1534291241000-0"),
            bulk("entries-read"),
            Value::Int(42),
            bulk("lag"),
            Value::Nil,
        ])]);
        assert_eq!(
            groups(reply),
            Some(vec![Group {
                name: String::from("mygroup"),
                consumers: 2,
                pending: 1,
                last_delivered: Some(StreamId::new(1534291241000, 0)),
                entries_read: Some(42),
                lag: None,
                members: Vec::new(),
            }])
        );
        let consumers = Value::Array(vec![Value::Array(vec![
            bulk("name"),
            bulk("bob"),
            bulk("pending"),
            Value::Int(1),
            bulk("idle"),
            Value::Int(4100),
        ])]);
        assert_eq!(
            members(consumers),
            Some(vec![Member {
                name: String::from("bob"),
                pending: 1,
                idle_ms: 4100
            }])
        );
        assert_eq!(groups(Value::Int(1)), None);
    }

    /// The XPENDING summary reads counts per consumer; an empty one is nils.
    #[test]
    fn reads_pending_summary() {
        let reply = Value::Array(vec![
            Value::Int(3),
            bulk("1-0"),
            bulk("5-0"),
            Value::Array(vec![Value::Array(vec![bulk("bob"), bulk("3")])]),
        ]);
        assert_eq!(
            pending_summary(reply),
            Some(PendingSummary {
                pending: 3,
                min: Some(StreamId::new(1, 0)),
                max: Some(StreamId::new(5, 0)),
                members: vec![(String::from("bob"), 3)],
            })
        );
        let empty = Value::Array(vec![Value::Int(0), Value::Nil, Value::Nil, Value::Nil]);
        assert_eq!(pending_summary(empty), Some(PendingSummary::default()));
        assert_eq!(pending_summary(Value::Array(vec![Value::Int(0)])), None);
    }

    /// The XPENDING detail reads each row; a malformed row fails the whole reply.
    #[test]
    fn reads_pending_entries() {
        let row =
            |id: &str| Value::Array(vec![bulk(id), bulk("bob"), Value::Int(3240), Value::Int(2)]);
        assert_eq!(
            pending_entries(Value::Array(vec![row("1534291205000-0")])),
            Some(vec![PendingEntry {
                id: StreamId::new(1534291205000, 0),
                consumer: String::from("bob"),
                idle_ms: 3240,
                deliveries: 2,
            }])
        );
        assert_eq!(pending_entries(Value::Array(vec![row("soon")])), None);
    }

    /// XAUTOCLAIM gives the cursor, the claimed entries, and deleted IDs (listed, or as nil
    /// entries in 6.2).
    #[test]
    fn reads_auto_claim() {
        let reply = Value::Array(vec![
            bulk("7-0"),
            Value::Array(vec![
                Value::Array(vec![
                    bulk("5-0"),
                    Value::Array(vec![bulk("temperature"), bulk("21")]),
                ]),
                Value::Array(vec![bulk("6-0"), Value::Nil]),
            ]),
            Value::Array(vec![bulk("4-0")]),
        ]);
        let claimed = auto_claim(reply, &Arc::from("chennai")).unwrap();
        assert_eq!(claimed.next, StreamId::new(7, 0));
        assert_eq!(claimed.messages.len(), 1);
        assert_eq!(claimed.messages[0].id, StreamId::new(5, 0));
        assert_eq!(claimed.deleted, [StreamId::new(4, 0), StreamId::new(6, 0)]);
        assert!(auto_claim(Value::Int(0), &Arc::from("chennai")).is_err());
    }

    /// used_memory is found among INFO's lines.
    #[test]
    fn reads_used_memory() {
        let info = bulk("# Memory\r\nused_memory:3145728\r\nused_memory_human:3.00M\r\n");
        assert_eq!(used_memory(&info), Some(3_145_728));
        assert_eq!(used_memory(&bulk("# Memory\r\n")), None);
    }
}

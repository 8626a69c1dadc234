//! What the server tells about streams and groups, as pure parsing functions: XINFO STREAM /
//! GROUPS / CONSUMERS and the XPENDING summary and detail. Name/value replies are read by name
//! rather than by position, so new fields in later server versions change nothing.
//!
//! ```text
//! XINFO GROUPS chennai (a flat list of names and values per group)
//! *1
//!   *12  name mygroup  consumers 2  pending 1  last-delivered-id 1534291200041-0
//!        entries-read 42  lag 86358
//! XPENDING chennai mygroup            [count, smallest ID, largest ID, [[consumer, count], ...]]
//! XPENDING chennai mygroup - + 100    [[id, consumer, idle ms, deliveries], ...]
//! ```

use super::resp::Reply;
use crate::stream_id::StreamId;

/// One record of a reply: its fields by name, in server order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record(pub Vec<(String, Reply)>);

impl Record {
    /// A record from a flat `[name, value, ...]` list; `None` for anything else.
    pub fn from_reply(reply: Reply) -> Option<Self> {
        let flat = reply.into_array()?;
        let mut pairs = Vec::with_capacity(flat.len() / 2);
        let mut flat = flat.into_iter();
        while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
            pairs.push((k.text()?, v));
        }
        Some(Record(pairs))
    }

    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&Reply> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Field `name` as text.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).and_then(Reply::text)
    }

    /// Field `name` as a number (`None` when missing or nil, as `lag` can be).
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(Reply::int)
    }

    /// Field `name` as a stream ID.
    pub fn id(&self, name: &str) -> Option<StreamId> {
        self.text(name)?.parse().ok()
    }
}

/// A list of records (one per group, per consumer); `None` when the reply is not a list.
pub fn records(reply: Reply) -> Option<Vec<Record>> {
    reply
        .into_array()?
        .into_iter()
        .map(Record::from_reply)
        .collect()
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
pub fn stream_info(reply: Reply) -> Option<StreamInfo> {
    let record = Record::from_reply(reply)?;
    let entry_id = |name: &str| match record.get(name)? {
        Reply::Array(parts) => parts.first().and_then(Reply::text)?.parse().ok(),
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
pub fn groups(reply: Reply) -> Option<Vec<Group>> {
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
pub fn members(reply: Reply) -> Option<Vec<Member>> {
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
pub fn pending_summary(reply: Reply) -> Option<PendingSummary> {
    let items = reply.into_array()?;
    let [count, min, max, members] = <[Reply; 4]>::try_from(items).ok()?;
    let id = |v: &Reply| v.text().and_then(|t| t.parse().ok());
    let members = match members {
        Reply::Nil => Vec::new(),
        Reply::Array(rows) => rows
            .iter()
            .map(|row| match row {
                Reply::Array(pair) if pair.len() == 2 => {
                    Some((pair[0].text()?, u64::try_from(pair[1].int()?).ok()?))
                }
                _ => None,
            })
            .collect::<Option<_>>()?,
        _ => return None,
    };
    Some(PendingSummary {
        pending: u64::try_from(count.int()?).ok()?,
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
pub fn pending_entries(reply: Reply) -> Option<Vec<PendingEntry>> {
    reply
        .into_array()?
        .iter()
        .map(|row| {
            let Reply::Array(cells) = row else {
                return None;
            };
            let [id, consumer, idle, deliveries] = cells.as_slice() else {
                return None;
            };
            Some(PendingEntry {
                id: id.text()?.parse().ok()?,
                consumer: consumer.text()?,
                idle_ms: u64::try_from(idle.int()?).ok()?,
                deliveries: u64::try_from(deliveries.int()?).ok()?,
            })
        })
        .collect()
}

/// `used_memory` from INFO memory's reply (`used_memory:3145728` among its lines).
pub fn used_memory(reply: &Reply) -> Option<u64> {
    reply
        .text()?
        .lines()
        .find_map(|line| line.trim().strip_prefix("used_memory:"))
        .and_then(|n| n.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(s.as_bytes().to_vec())
    }

    /// Flat lists read by name; nil stays missing.
    #[test]
    fn reads_by_name() {
        let flat = Reply::Array(vec![
            bulk("name"),
            bulk("mygroup"),
            bulk("lag"),
            Reply::Nil,
            bulk("pending"),
            Reply::Int(3),
            bulk("last-delivered-id"),
            bulk("5-1"),
        ]);
        let record = Record::from_reply(flat).unwrap();
        assert_eq!(record.text("name").as_deref(), Some("mygroup"));
        assert_eq!(record.int("pending"), Some(3));
        assert_eq!(record.int("lag"), None);
        assert_eq!(record.id("last-delivered-id"), Some(StreamId::new(5, 1)));
        assert_eq!(records(Reply::Int(1)), None);
    }

    /// XINFO STREAM gives the length, the last generated ID (none for `0-0`), entries added and
    /// the IDs of the first and last entries.
    #[test]
    fn reads_stream_info() {
        let entry =
            |id: &str| Reply::Array(vec![bulk(id), Reply::Array(vec![bulk("t"), bulk("1")])]);
        let reply = Reply::Array(vec![
            bulk("length"),
            Reply::Int(2),
            bulk("last-generated-id"),
            bulk("1534291201000-0"),
            bulk("entries-added"),
            Reply::Int(5),
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
        let empty = Reply::Array(vec![
            bulk("length"),
            Reply::Int(0),
            bulk("last-generated-id"),
            bulk("0-0"),
            bulk("first-entry"),
            Reply::Nil,
        ]);
        let info = stream_info(empty).unwrap();
        assert_eq!((info.last_generated_id, info.first_entry), (None, None));
    }

    /// XINFO GROUPS and XINFO CONSUMERS read by name, with an unknown lag as `None`.
    #[test]
    fn reads_groups_and_members() {
        let reply = Reply::Array(vec![Reply::Array(vec![
            bulk("name"),
            bulk("mygroup"),
            bulk("consumers"),
            Reply::Int(2),
            bulk("pending"),
            Reply::Int(1),
            bulk("last-delivered-id"),
            bulk("1534291241000-0"),
            bulk("entries-read"),
            Reply::Int(42),
            bulk("lag"),
            Reply::Nil,
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
        let consumers = Reply::Array(vec![Reply::Array(vec![
            bulk("name"),
            bulk("bob"),
            bulk("pending"),
            Reply::Int(1),
            bulk("idle"),
            Reply::Int(4100),
        ])]);
        assert_eq!(
            members(consumers),
            Some(vec![Member {
                name: String::from("bob"),
                pending: 1,
                idle_ms: 4100
            }])
        );
        assert_eq!(groups(Reply::Int(1)), None);
    }

    /// The XPENDING summary reads counts per consumer; an empty one is nils.
    #[test]
    fn reads_pending_summary() {
        let reply = Reply::Array(vec![
            Reply::Int(3),
            bulk("1-0"),
            bulk("5-0"),
            Reply::Array(vec![Reply::Array(vec![bulk("bob"), bulk("3")])]),
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
        let empty = Reply::Array(vec![Reply::Int(0), Reply::Nil, Reply::Nil, Reply::Nil]);
        assert_eq!(pending_summary(empty), Some(PendingSummary::default()));
        assert_eq!(pending_summary(Reply::Array(vec![Reply::Int(0)])), None);
    }

    /// The XPENDING detail reads each row; a malformed row fails the whole reply.
    #[test]
    fn reads_pending_entries() {
        let row =
            |id: &str| Reply::Array(vec![bulk(id), bulk("bob"), Reply::Int(3240), Reply::Int(2)]);
        assert_eq!(
            pending_entries(Reply::Array(vec![row("1534291205000-0")])),
            Some(vec![PendingEntry {
                id: StreamId::new(1534291205000, 0),
                consumer: String::from("bob"),
                idle_ms: 3240,
                deliveries: 2,
            }])
        );
        assert_eq!(pending_entries(Reply::Array(vec![row("soon")])), None);
    }

    /// used_memory is found among INFO's lines.
    #[test]
    fn reads_used_memory() {
        let info = bulk("# Memory\r\nused_memory:3145728\r\nused_memory_human:3.00M\r\n");
        assert_eq!(used_memory(&info), Some(3_145_728));
        assert_eq!(used_memory(&bulk("# Memory\r\n")), None);
    }
}

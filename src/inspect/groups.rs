//! `inspect groups STREAM`: each consumer group with its consumers, pending count, last
//! delivered ID and lag; each consumer with its pending count and idle time.
//!
//! ```text
//! XINFO GROUPS chennai                 name, consumers, pending, last-delivered-id,
//!                                      entries-read, lag (the last two from Redis 7.0)
//! XINFO CONSUMERS chennai mygroup      name, pending, idle (ms)
//! ```

use std::io::Write;

use redis::Value;

use super::reply::{Record, records};
use super::table::Table;
use crate::connection::{Link, key_type};
use crate::error::{Error, Result};
use crate::stream_id::StreamId;

/// `groups`: which stream, printed how.
#[derive(Debug, Clone)]
pub struct Groups {
    /// The full stream key.
    pub key: String,
    /// One JSON object per group instead of columns.
    pub json: bool,
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
    /// Its consumers.
    pub members: Vec<Member>,
}

/// One consumer of a group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Member {
    /// The consumer's name.
    pub name: String,
    /// Entries it holds, unacknowledged.
    pub pending: u64,
    /// Milliseconds since it last read or claimed.
    pub idle_ms: u64,
}

impl Groups {
    /// Asks for the groups and their consumers, and writes them.
    pub fn run(&self, link: &mut Link, out: &mut impl Write) -> Result<()> {
        let groups = read_groups(link, &self.key)?;
        let text = if self.json {
            groups
                .iter()
                .map(|g| format!("{}\n", to_json(&self.key, g)))
                .collect()
        } else {
            render(&self.key, &groups)
        };
        super::emit(out, &text)
    }
}

/// Every group of `key` with its consumers; a missing stream is an error naming it.
pub fn read_groups(link: &mut Link, key: &str) -> Result<Vec<Group>> {
    require_stream(link, key)?;
    let what = format!("XINFO GROUPS {key}");
    let reply: Value = link.call(&what, |con| {
        redis::cmd("XINFO").arg("GROUPS").arg(key).query(con)
    })?;
    let mut groups = records(reply)
        .map(|r| r.iter().map(group).collect::<Vec<_>>())
        .ok_or_else(|| super::bad_reply(link, &what, "not a list of groups"))?;
    for group in &mut groups {
        group.members = read_members(link, key, &group.name)?;
    }
    Ok(groups)
}

/// The consumers of `group` on `key`.
pub fn read_members(link: &mut Link, key: &str, group: &str) -> Result<Vec<Member>> {
    let what = format!("XINFO CONSUMERS {key} {group}");
    let reply: Value = link.call(&what, |con| {
        redis::cmd("XINFO")
            .arg("CONSUMERS")
            .arg(key)
            .arg(group)
            .query(con)
    })?;
    records(reply)
        .map(|r| r.iter().map(member).collect())
        .ok_or_else(|| super::bad_reply(link, &what, "not a list of consumers"))
}

/// Fails with a sentence naming `key` when it does not exist or is not a stream.
pub fn require_stream(link: &mut Link, key: &str) -> Result<()> {
    match key_type(link, key)?.as_str() {
        "stream" => Ok(()),
        "none" => Err(Error::Usage(format!(
            "stream {key} does not exist; check the name and --prefix"
        ))),
        other => Err(Error::WrongType {
            key: key.to_string(),
            actual: other.to_string(),
        }),
    }
}

fn count(record: &Record, name: &str) -> u64 {
    record
        .int(name)
        .and_then(|n| u64::try_from(n).ok())
        .unwrap_or(0)
}

/// A group from its XINFO GROUPS record.
pub fn group(record: &Record) -> Group {
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

/// A consumer from its XINFO CONSUMERS record.
pub fn member(record: &Record) -> Member {
    Member {
        name: record.text("name").unwrap_or_default(),
        pending: count(record, "pending"),
        idle_ms: count(record, "idle"),
    }
}

/// A group as a JSON object: `stream`, `name`, `consumers` (a count), `pending`,
/// `last_delivered_id`, `entries_read`, `lag` (null where the server cannot tell) and `members`
/// (`name`, `pending`, `idle_ms`).
pub fn to_json(stream: &str, group: &Group) -> serde_json::Value {
    serde_json::json!({
        "stream": stream,
        "name": group.name,
        "consumers": group.consumers,
        "pending": group.pending,
        "last_delivered_id": group.last_delivered.map(|id| id.to_string()),
        "entries_read": group.entries_read,
        "lag": group.lag,
        "members": group.members.iter()
            .map(|m| serde_json::json!({"name": m.name, "pending": m.pending, "idle_ms": m.idle_ms}))
            .collect::<Vec<_>>(),
    })
}

/// The groups for people: one table of groups, then one table of consumers per group.
pub fn render(stream: &str, groups: &[Group]) -> String {
    if groups.is_empty() {
        return format!("{stream} has no consumer groups\n");
    }
    let mut table = Table::new(&[
        "GROUP",
        "CONSUMERS",
        "PENDING",
        "LAST DELIVERED (UTC)",
        "LAG",
    ]);
    table.right(1).right(2).right(4);
    for group in groups {
        table.row(vec![
            group.name.clone(),
            group.consumers.to_string(),
            group.pending.to_string(),
            super::id_with_time(group.last_delivered),
            group
                .lag
                .map_or_else(|| String::from("?"), |lag| lag.to_string()),
        ]);
    }
    let mut text = table.render(true);
    for group in groups {
        text.push_str(&format!("\nconsumers of {}:\n", group.name));
        if group.members.is_empty() {
            text.push_str("(none)\n");
            continue;
        }
        let mut members = Table::new(&["CONSUMER", "PENDING", "IDLE"]);
        members.right(1).right(2);
        for member in &group.members {
            members.row(vec![
                member.name.clone(),
                member.pending.to_string(),
                super::human_ms(member.idle_ms),
            ]);
        }
        text.push_str(&members.render(true));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn sample() -> Group {
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
        let mut group = group(&records(reply).unwrap()[0]);
        let consumers = Value::Array(vec![
            Value::Array(vec![
                bulk("name"),
                bulk("alice"),
                bulk("pending"),
                Value::Int(0),
                bulk("idle"),
                Value::Int(120),
            ]),
            Value::Array(vec![
                bulk("name"),
                bulk("bob"),
                bulk("pending"),
                Value::Int(1),
                bulk("idle"),
                Value::Int(4100),
            ]),
        ]);
        group.members = records(consumers).unwrap().iter().map(member).collect();
        group
    }

    /// A group's JSON has the issue's names, with an unknown lag as null.
    #[test]
    fn json_shape() {
        assert_eq!(
            to_json("chennai", &sample()),
            serde_json::json!({"stream": "chennai", "name": "mygroup", "consumers": 2,
                "pending": 1, "last_delivered_id": "1534291241000-0", "entries_read": 42,
                "lag": null, "members": [{"name": "alice", "pending": 0, "idle_ms": 120},
                {"name": "bob", "pending": 1, "idle_ms": 4100}]})
        );
    }

    /// People see the groups, then each group's consumers, in aligned columns.
    #[test]
    fn renders_for_people() {
        assert_eq!(
            render("chennai", &[sample()]),
            "GROUP    CONSUMERS  PENDING  LAST DELIVERED (UTC)                    LAG\n\
             mygroup          2        1  1534291241000-0 (2018-08-15T00:00:41Z)    ?\n\
             \n\
             consumers of mygroup:\n\
             CONSUMER  PENDING   IDLE\n\
             alice           0  120ms\n\
             bob             1   4.1s\n"
        );
        assert_eq!(render("chennai", &[]), "chennai has no consumer groups\n");
    }
}

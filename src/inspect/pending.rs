//! `inspect pending STREAM [--group G]`: what a group's consumers hold and have not acknowledged.
//!
//! ```text
//! XPENDING chennai mygroup               summary: count, smallest ID, largest ID,
//!                                        [[consumer, count], ...]
//! XPENDING chennai mygroup - + 100       detail: [[id, consumer, idle ms, deliveries], ...]
//! ```
//!
//! This is where the audience sees the message bob was holding when he died: still pending,
//! owned by bob, its idle time growing until someone claims it.

use std::io::Write;

use redis::Value;

use super::reply::{int, text};
use super::table::Table;
use crate::connection::{Link, ensure_stream};
use crate::error::Result;
use crate::stream_id::StreamId;

/// `pending`: which group of which stream, and how many detail rows.
#[derive(Debug, Clone)]
pub struct Pending {
    /// The full stream key.
    pub key: String,
    /// The consumer group.
    pub group: String,
    /// At most this many entries in the detail.
    pub count: u64,
    /// One JSON object instead of columns.
    pub json: bool,
}

/// The pending list of a group: the summary and the first entries in detail.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    /// The full stream key.
    pub stream: String,
    /// The consumer group.
    pub group: String,
    /// Entries delivered and not yet acknowledged.
    pub pending: u64,
    /// The smallest pending ID.
    pub min: Option<StreamId>,
    /// The largest pending ID.
    pub max: Option<StreamId>,
    /// Pending entries per consumer (consumers holding none are not listed by the server).
    pub members: Vec<(String, u64)>,
    /// The first pending entries, oldest ID first.
    pub entries: Vec<Entry>,
}

/// One pending entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Its ID.
    pub id: StreamId,
    /// Who holds it.
    pub consumer: String,
    /// Milliseconds since it was last delivered.
    pub idle_ms: u64,
    /// Times it was delivered.
    pub deliveries: u64,
}

impl Pending {
    /// Asks for the summary and the detail, and writes the report.
    pub fn run(&self, link: &mut Link, out: &mut impl Write) -> Result<()> {
        let report = self.report(link)?;
        let text = if self.json {
            format!("{}\n", to_json(&report))
        } else {
            render(&report)
        };
        super::emit(out, &text)
    }

    /// The report, from two XPENDING calls.
    pub fn report(&self, link: &mut Link) -> Result<Report> {
        ensure_stream(link, &self.key)?;
        let what = format!("XPENDING {} {}", self.key, self.group);
        let summary: Value = link.call(&what, |con| {
            redis::cmd("XPENDING")
                .arg(&self.key)
                .arg(&self.group)
                .query(con)
        })?;
        let detail: Value = link.call(&what, |con| {
            redis::cmd("XPENDING")
                .arg(&self.key)
                .arg(&self.group)
                .arg("-")
                .arg("+")
                .arg(self.count)
                .query(con)
        })?;
        let mut report = parse_summary(summary).ok_or_else(|| {
            super::bad_reply(
                link,
                &what,
                "the summary is not [count, min, max, consumers]",
            )
        })?;
        report.entries = parse_detail(detail).ok_or_else(|| {
            super::bad_reply(
                link,
                &what,
                "the detail is not a list of [id, consumer, idle, deliveries]",
            )
        })?;
        report.stream = self.key.clone();
        report.group = self.group.clone();
        Ok(report)
    }
}

/// Reads the summary reply `[count, min, max, [[consumer, count], ...]]`.
pub fn parse_summary(reply: Value) -> Option<Report> {
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
    Some(Report {
        pending: u64::try_from(int(&count)?).ok()?,
        min: id(&min),
        max: id(&max),
        members,
        ..Report::default()
    })
}

/// Reads the detail reply `[[id, consumer, idle ms, deliveries], ...]`.
pub fn parse_detail(reply: Value) -> Option<Vec<Entry>> {
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
            Some(Entry {
                id: text(id)?.parse().ok()?,
                consumer: text(consumer)?,
                idle_ms: u64::try_from(int(idle)?).ok()?,
                deliveries: u64::try_from(int(deliveries)?).ok()?,
            })
        })
        .collect()
}

/// The report as one JSON object: `stream`, `group`, `pending`, `min`, `max`, `members`
/// (`name`, `pending`) and `entries` (`id`, `consumer`, `idle_ms`, `deliveries`).
pub fn to_json(report: &Report) -> serde_json::Value {
    let id = |id: Option<StreamId>| id.map(|i| i.to_string());
    serde_json::json!({
        "stream": report.stream,
        "group": report.group,
        "pending": report.pending,
        "min": id(report.min),
        "max": id(report.max),
        "members": report.members.iter()
            .map(|(name, pending)| serde_json::json!({"name": name, "pending": pending}))
            .collect::<Vec<_>>(),
        "entries": report.entries.iter()
            .map(|e| serde_json::json!({"id": e.id.to_string(), "consumer": e.consumer,
                "idle_ms": e.idle_ms, "deliveries": e.deliveries}))
            .collect::<Vec<_>>(),
    })
}

/// The report for people: a summary line, pending per consumer, then the entries.
pub fn render(report: &Report) -> String {
    let mut text = format!("{}, group {}: ", report.stream, report.group);
    if report.pending == 0 {
        text.push_str("nothing pending\n");
        return text;
    }
    text.push_str(&format!(
        "{} pending, from {} to {}\n\n",
        report.pending,
        super::id_with_time(report.min),
        super::id_with_time(report.max)
    ));
    let mut members = Table::new(&["CONSUMER", "PENDING"]);
    members.right(1);
    for (name, pending) in &report.members {
        members.row(vec![name.clone(), pending.to_string()]);
    }
    text.push_str(&members.render(true));
    text.push('\n');
    let mut entries = Table::new(&["ID", "TIME (UTC)", "CONSUMER", "IDLE", "DELIVERIES"]);
    entries.right(3).right(4);
    for entry in &report.entries {
        entries.row(vec![
            entry.id.to_string(),
            entry.id.iso_time(),
            entry.consumer.clone(),
            super::human_ms(entry.idle_ms),
            entry.deliveries.to_string(),
        ]);
    }
    text.push_str(&entries.render(true));
    if (report.entries.len() as u64) < report.pending {
        text.push_str(&format!(
            "(the first {} of {} shown; --count N shows more)\n",
            report.entries.len(),
            report.pending
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn report() -> Report {
        let summary = Value::Array(vec![
            Value::Int(1),
            bulk("1534291205000-0"),
            bulk("1534291205000-0"),
            Value::Array(vec![Value::Array(vec![bulk("bob"), bulk("1")])]),
        ]);
        let detail = Value::Array(vec![Value::Array(vec![
            bulk("1534291205000-0"),
            bulk("bob"),
            Value::Int(3240),
            Value::Int(1),
        ])]);
        let mut report = parse_summary(summary).unwrap();
        report.entries = parse_detail(detail).unwrap();
        report.stream = String::from("chennai");
        report.group = String::from("mygroup");
        report
    }

    /// The JSON object carries the summary, the members and the detail under the issue's names.
    #[test]
    fn json_shape() {
        assert_eq!(
            to_json(&report()),
            serde_json::json!({"stream": "chennai", "group": "mygroup", "pending": 1,
                "min": "1534291205000-0", "max": "1534291205000-0",
                "members": [{"name": "bob", "pending": 1}],
                "entries": [{"id": "1534291205000-0", "consumer": "bob", "idle_ms": 3240,
                    "deliveries": 1}]})
        );
    }

    /// An empty pending list is a summary of nils and parses to nothing pending.
    #[test]
    fn empty_summary() {
        let summary = Value::Array(vec![Value::Int(0), Value::Nil, Value::Nil, Value::Nil]);
        let report = parse_summary(summary).unwrap();
        assert_eq!(report.pending, 0);
        assert_eq!(report.min, None);
        assert_eq!(to_json(&report)["min"], serde_json::Value::Null);
        assert_eq!(render(&report), ", group : nothing pending\n");
    }

    /// People see who holds what, since when and how often it was delivered.
    #[test]
    fn renders_for_people() {
        assert_eq!(
            render(&report()),
            "chennai, group mygroup: 1 pending, from 1534291205000-0 (2018-08-15T00:00:05Z) \
             to 1534291205000-0 (2018-08-15T00:00:05Z)\n\
             \n\
             CONSUMER  PENDING\n\
             bob             1\n\
             \n\
             ID               TIME (UTC)            CONSUMER  IDLE  DELIVERIES\n\
             1534291205000-0  2018-08-15T00:00:05Z  bob       3.2s           1\n"
        );
    }
}

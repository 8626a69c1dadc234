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

use super::table::Table;
use crate::error::Result;
use crate::server::Link;
use crate::server::info::{PendingEntry, PendingSummary};
use crate::server::streams::{self, PendingRange};
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
pub struct PendingReport {
    /// The full stream key.
    pub stream: String,
    /// The consumer group.
    pub group: String,
    /// The summary: how many, from which ID to which, per consumer.
    pub summary: PendingSummary,
    /// The first pending entries, oldest ID first.
    pub entries: Vec<PendingEntry>,
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

    /// The report, from two XPENDING calls; a missing stream or group is an error naming it.
    pub fn report(&self, link: &mut Link) -> Result<PendingReport> {
        streams::require_stream(link, &self.key)?;
        Ok(PendingReport {
            stream: self.key.clone(),
            group: self.group.clone(),
            summary: streams::pending_summary(link, &self.key, &self.group)?,
            entries: streams::pending_entries(
                link,
                &self.key,
                &self.group,
                PendingRange::first(self.count),
            )?,
        })
    }
}

/// The report as one JSON object: `stream`, `group`, `pending`, `min`, `max`, `members`
/// (`name`, `pending`) and `entries` (`id`, `consumer`, `idle_ms`, `deliveries`).
pub fn to_json(report: &PendingReport) -> serde_json::Value {
    let id = |id: Option<StreamId>| id.map(|i| i.to_string());
    serde_json::json!({
        "stream": report.stream,
        "group": report.group,
        "pending": report.summary.pending,
        "min": id(report.summary.min),
        "max": id(report.summary.max),
        "members": report.summary.members.iter()
            .map(|(name, pending)| serde_json::json!({"name": name, "pending": pending}))
            .collect::<Vec<_>>(),
        "entries": report.entries.iter()
            .map(|e| serde_json::json!({"id": e.id.to_string(), "consumer": e.consumer,
                "idle_ms": e.idle_ms, "deliveries": e.deliveries}))
            .collect::<Vec<_>>(),
    })
}

/// The report for people: a summary line, pending per consumer, then the entries.
pub fn render(report: &PendingReport) -> String {
    let mut text = format!("{}, group {}: ", report.stream, report.group);
    if report.summary.pending == 0 {
        text.push_str("nothing pending\n");
        return text;
    }
    text.push_str(&format!(
        "{} pending, from {} to {}\n\n",
        report.summary.pending,
        super::id_with_time(report.summary.min),
        super::id_with_time(report.summary.max)
    ));
    let mut members = Table::new(&["CONSUMER", "PENDING"]);
    members.right(1);
    for (name, pending) in &report.summary.members {
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
    if (report.entries.len() as u64) < report.summary.pending {
        text.push_str(&format!(
            "(the first {} of {} shown; --count N shows more)\n",
            report.entries.len(),
            report.summary.pending
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> PendingReport {
        let id = StreamId::new(1534291205000, 0);
        PendingReport {
            stream: String::from("chennai"),
            group: String::from("mygroup"),
            summary: PendingSummary {
                pending: 1,
                min: Some(id),
                max: Some(id),
                members: vec![(String::from("bob"), 1)],
            },
            entries: vec![PendingEntry {
                id,
                consumer: String::from("bob"),
                idle_ms: 3240,
                deliveries: 1,
            }],
        }
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

    /// An empty pending list says nothing is pending, with null IDs in JSON.
    #[test]
    fn empty_summary() {
        let report = PendingReport::default();
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

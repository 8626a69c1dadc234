//! `consumer --reset-to TIME|ID`: group time travel. Moves the group's last-delivered-id to the
//! entry just before a time, so the group's next read delivers from there again (a replay), or
//! past a stretch it should skip; then exits without consuming.
//!
//! ```text
//! XREVRANGE chennai (1534334400000-0 - COUNT 1      the entry just before noon
//! XRANGE chennai (1534334399000-0 + ...             counted: what the group will read again
//! XINFO STREAM chennai                              entries-added and last-generated-id, at once
//! XRANGE chennai (1534334399000-0 <last-generated-id> ...     counted: what lies after it
//! XGROUP SETID chennai mygroup 1534334399000-0 ENTRIESREAD 43200     (CREATE when missing)
//! ```
//!
//! ENTRIESREAD (Redis 7.0+, Valkey) keeps the group's lag exact: it is the number of entries
//! ever added up to the new position, i.e. `entries-added` less what lies after it, both of one
//! moment ([`group::entries_read_at`]) even while a producer writes.

use std::io::Write;

use super::Settings;
use crate::error::{Error, Result};
use crate::server::info::Group;
use crate::server::streams::{self, count_entries};
use crate::server::{Link, Target, group};
use crate::stream_id::StreamId;

/// What `--reset-to` did (or, with `--dry-run`, would do) to one stream's group.
#[derive(Debug, Clone, PartialEq)]
pub struct Reset {
    /// The stream key.
    pub stream: String,
    /// The group.
    pub group: String,
    /// Its last-delivered-id before (`None`: the group did not exist and is created).
    pub from: Option<StreamId>,
    /// Its last-delivered-id after: the newest entry before the time asked for (`0-0` if none).
    pub to: StreamId,
    /// Entries it had been given that it will be given again.
    pub redelivered: u64,
    /// Entries it had not been given yet that it now skips.
    pub skipped: u64,
    /// Entries after `to`: what the group reads next, its lag once moved.
    pub to_deliver: u64,
    /// Entries ever added up to `to` (ENTRIESREAD), where the server counts them.
    pub entries_read: Option<u64>,
    /// Only printed, nothing changed.
    pub dry_run: bool,
}

impl Reset {
    /// One line for people.
    pub fn line(&self) -> String {
        let (stream, group, to) = (&self.stream, &self.group, self.to);
        let mut line = match (self.from, self.dry_run) {
            (Some(from), dry_run) => format!(
                "{stream} {group}: {} last-delivered-id from {from} ({}) to {to} ({}); {} entries \
                 will be delivered again",
                if dry_run { "would move" } else { "moved" },
                from.iso_time(),
                to.iso_time(),
                self.redelivered
            ),
            (None, dry_run) => format!(
                "{stream} {group}: {} the group at {to} ({}); {} entries will be delivered",
                if dry_run { "would create" } else { "created" },
                to.iso_time(),
                self.to_deliver
            ),
        };
        if self.skipped > 0 {
            line.push_str(&format!(", {} skipped", self.skipped));
        }
        if self.dry_run {
            line.push_str(" (dry run: nothing changed)");
        }
        line
    }

    /// One JSON object for scripts.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "stream": self.stream,
            "group": self.group,
            "from": self.from.map(|id| id.to_string()),
            "to": self.to.to_string(),
            "redelivered": self.redelivered,
            "skipped": self.skipped,
            "to_deliver": self.to_deliver,
            "entries_read": self.entries_read,
            "dry_run": self.dry_run,
        })
    }
}

/// Resets the group of `settings` on each of its streams so that its next read starts at `at`
/// (the first entry at or after it), printing one line (or JSON object with `--json`) per
/// stream on `out`.
pub fn run(
    target: &Target,
    settings: &Settings,
    at: StreamId,
    dry_run: bool,
    mut out: impl Write,
) -> Result<Vec<Reset>> {
    let mut done = Vec::new();
    for key in &settings.streams {
        let mut link = Link::open(target, key, settings.retry_for)?;
        let reset = reset_one(&mut link, key, &settings.group, at, dry_run)?;
        let line = match settings.json {
            true => reset.to_json().to_string(),
            false => reset.line(),
        };
        writeln!(out, "{line}")?;
        done.push(reset);
    }
    Ok(done)
}

/// Plans and (unless `dry_run`) applies the reset of one stream.
fn reset_one(
    link: &mut Link,
    key: &str,
    group_name: &str,
    at: StreamId,
    dry_run: bool,
) -> Result<Reset> {
    streams::require_stream(link, key)?;
    let last = streams::newest_entry(link, key)?;
    if last.is_none_or(|last| at > last) {
        return Err(Error::Usage(format!(
            "invalid value for --reset-to: {} ({}) is after the end of {key} ({}); the group \
             would read nothing again",
            at,
            at.iso_time(),
            last.map_or_else(
                || String::from("it is empty"),
                |id| format!("its last entry is {id}, {}", id.iso_time())
            )
        )));
    }
    let to = match at.predecessor() {
        Some(before) => streams::newest_entry_up_to(link, key, &before.to_string())?,
        None => None,
    }
    .unwrap_or(StreamId::ZERO);
    let existing: Option<Group> = streams::group_list(link, key)?
        .into_iter()
        .find(|g| g.name == group_name);
    let from = existing
        .as_ref()
        .map(|g| g.last_delivered.unwrap_or(StreamId::ZERO));
    let between = |link: &mut Link, low: StreamId, high: StreamId| {
        count_entries(link, key, low.successor(), &high.to_string())
    };
    let (redelivered, skipped) = match from {
        Some(from) if to < from => (between(link, to, from)?, 0),
        Some(from) if to > from => (0, between(link, from, to)?),
        _ => (0, 0),
    };
    let entries_read = group::entries_read_at(link, key, to)?;
    let to_deliver = count_entries(link, key, to.successor(), "+")?;
    if !dry_run {
        group::set_id(link, (key, group_name), to, entries_read, from.is_none())?;
    }
    Ok(Reset {
        stream: key.to_string(),
        group: group_name.to_string(),
        from,
        to,
        redelivered,
        skipped,
        to_deliver,
        entries_read,
        dry_run,
    })
}

//! `inspect range STREAM`: entries oldest first, or newest first with `--rev`.
//!
//! ```text
//! XRANGE chennai 1534291200000 + COUNT 1000        a page, oldest first
//! XREVRANGE chennai + 1534291200000 COUNT 1000     a page, newest first
//! ```
//!
//! A whole day is read in pages of [`PAGE`] and printed page by page, so memory stays flat and
//! the first lines appear at once.

use std::io::Write;
use std::sync::Arc;

use redis::Value;

use super::bound::Bound;
use crate::connection::{Link, ensure_stream};
use crate::error::Result;
use crate::message::{Message, decode_entries};
use crate::stream_id::StreamId;

/// Entries fetched per round trip.
pub const PAGE: u64 = 1000;

/// `range`: which entries of which stream, in which order, printed how.
#[derive(Debug, Clone)]
pub struct Range {
    /// The full stream key.
    pub key: String,
    /// First entry to include (oldest end).
    pub from: Bound,
    /// Last entry to include (newest end).
    pub to: Bound,
    /// At most this many entries.
    pub count: Option<u64>,
    /// Newest first.
    pub rev: bool,
    /// One JSON object per entry instead of columns.
    pub json: bool,
}

impl Range {
    /// Reads the range page by page and writes it to `out`.
    pub fn run(&self, link: &mut Link, out: &mut impl Write) -> Result<()> {
        ensure_stream(link, &self.key)?;
        let stream: Arc<str> = Arc::from(self.key.as_str());
        let (mut start, mut end) = (self.from.start_arg(), self.to.end_arg());
        let mut left = self.count.unwrap_or(u64::MAX);
        let mut printed = 0u64;
        while left > 0 {
            let page = left.min(PAGE);
            let (command, first, second) = match self.rev {
                false => ("XRANGE", &start, &end),
                true => ("XREVRANGE", &end, &start),
            };
            let what = format!("{command} {}", self.key);
            let reply: Value = link.call(&what, |con| {
                redis::cmd(command)
                    .arg(&self.key)
                    .arg(first)
                    .arg(second)
                    .arg("COUNT")
                    .arg(page)
                    .query(con)
            })?;
            let mut messages = Vec::new();
            decode_entries(reply, &stream, &mut messages)
                .map_err(|e| super::bad_reply(link, &what, e))?;
            let Some(last) = messages.last().map(|m| m.id) else {
                break;
            };
            self.write_page(&messages, printed == 0, out)?;
            printed += messages.len() as u64;
            left -= messages.len() as u64;
            if (messages.len() as u64) < page {
                break;
            }
            // Read on from just past the last entry, in the direction of travel.
            match self.rev {
                false => start = last.successor().to_string(),
                true => match predecessor(last) {
                    Some(before) => end = before.to_string(),
                    None => break,
                },
            }
        }
        if printed == 0 && !self.json {
            super::emit(
                out,
                &format!(
                    "no entries in {} from {} to {}\n",
                    self.key,
                    self.from.start_arg(),
                    self.to.end_arg()
                ),
            )?;
        }
        Ok(())
    }

    /// Writes one page: columns (the header only before the first page), or JSON lines.
    fn write_page(&self, messages: &[Message], first: bool, out: &mut impl Write) -> Result<()> {
        let text = render(messages, first, self.json);
        super::emit(out, &text)
    }
}

/// A page of entries as text: aligned columns (with the header when `header`), or JSON lines.
pub fn render(messages: &[Message], header: bool, json: bool) -> String {
    if json {
        return messages
            .iter()
            .map(|m| format!("{}\n", super::entry_json(m)))
            .collect();
    }
    super::entries_table(messages, false).render(header)
}

/// The ID just before `id`, if there is one.
fn predecessor(id: StreamId) -> Option<StreamId> {
    match (id.ms, id.seq) {
        (0, 0) => None,
        (ms, 0) => Some(StreamId::new(ms - 1, u64::MAX)),
        (ms, seq) => Some(StreamId::new(ms, seq - 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reverse paging steps to the ID just before the last one seen.
    #[test]
    fn predecessors() {
        assert_eq!(predecessor(StreamId::new(5, 1)), Some(StreamId::new(5, 0)));
        assert_eq!(
            predecessor(StreamId::new(5, 0)),
            Some(StreamId::new(4, u64::MAX))
        );
        assert_eq!(predecessor(StreamId::ZERO), None);
    }

    /// A page renders as columns with a header, or as one JSON object per line.
    #[test]
    fn renders_a_page() {
        let message = Message {
            stream: Arc::from("chennai"),
            id: StreamId::new(1534291200000, 0),
            fields: Some(vec![(b"humidity".to_vec(), b"71".to_vec())]),
            deliveries: 1,
        };
        assert_eq!(
            render(std::slice::from_ref(&message), true, false),
            "ID               TIME (UTC)            FIELDS\n\
             1534291200000-0  2018-08-15T00:00:00Z  humidity=71\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(render(&[message], true, true).trim_end()).unwrap();
        assert_eq!(json["id"], "1534291200000-0");
        assert_eq!(json["fields"]["humidity"], "71");
    }
}

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

use super::bound::Bound;
use crate::error::Result;
use crate::message::Message;
use crate::server::Link;
use crate::server::queries::{self, Direction};

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
    /// Reads the range page by page and writes it to `out`; a missing stream is an error.
    pub fn run(&self, link: &mut Link, out: &mut impl Write) -> Result<()> {
        queries::require_stream(link, &self.key)?;
        let direction = match self.rev {
            false => Direction::Forward,
            true => Direction::Backward,
        };
        let mut printed = 0u64;
        queries::range_pages(
            link,
            &self.key,
            (&self.from.start_arg(), &self.to.end_arg()),
            direction,
            PAGE,
            self.count,
            |page| {
                self.write_page(&page, printed == 0, out)?;
                printed += page.len() as u64;
                Ok(true)
            },
        )?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_id::StreamId;
    use std::sync::Arc;

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

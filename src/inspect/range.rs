//! `inspect range STREAM`: entries oldest first, or newest first with `--rev`.
//!
//! ```text
//! XRANGE chennai 1534291200000 + COUNT 1000        a page, oldest first
//! XREVRANGE chennai + 1534291200000 COUNT 1000     a page, newest first
//! ```
//!
//! A whole day is read in pages of [`PAGE`] and printed page by page, so memory stays flat and
//! the first lines appear at once.

use std::borrow::Cow;
use std::io::Write;

use super::bound::Bound;
use crate::error::Result;
use crate::import::dialect::{self, MARK};
use crate::message::Entry;
use crate::server::streams::{self, Direction};
use crate::server::{Batch, Link};
use crate::template::Template;

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
    /// CSV instead of columns (see [`Range::run_csv`]).
    pub csv: bool,
    /// One line per entry in this shape instead of columns (`--template`).
    pub template: Option<Template>,
}

impl Range {
    /// Reads the range page by page and writes it to `out`; a missing stream is an error.
    pub fn run(&self, link: &mut Link, out: &mut impl Write) -> Result<()> {
        streams::require_stream(link, &self.key)?;
        if self.csv {
            return self.run_csv(link, out);
        }
        let mut printed = 0u64;
        self.pages(link, &self.to.end_arg(), |page| {
            self.write_page(page, printed == 0, out)?;
            printed += page.len() as u64;
            Ok(true)
        })?;
        if printed == 0 && !self.json && self.template.is_none() {
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

    /// CSV: a first pass over the range finds the fields (in the order they first appear) and
    /// where the range ends now, a second writes the header and one row per entry, page by
    /// page (memory stays flat however long the range; entries added meanwhile are left out).
    fn run_csv(&self, link: &mut Link, out: &mut impl Write) -> Result<()> {
        let direction = self.direction();
        let mut fields: Vec<Vec<u8>> = Vec::new();
        let mut edge = None;
        self.pages(link, &self.to.end_arg(), |page| {
            for message in page.iter() {
                for (name, _) in message.fields.iter().flat_map(|f| f.iter()) {
                    if !fields.iter().any(|f| f == name) {
                        fields.push(name.to_vec());
                    }
                }
            }
            // The newest entry read: forward, the last of the last page; backward, the first.
            edge = match direction {
                Direction::Forward => page.ids().last().or(edge),
                Direction::Backward => edge.or(page.ids().next()),
            };
            Ok(true)
        })?;
        let mut header = Vec::new();
        let names = fields.iter().map(|name| dialect::escape(name));
        let cells: Vec<Cow<[u8]>> = [MARK.as_bytes(), b"time"]
            .into_iter()
            .map(Cow::Borrowed)
            .chain(names)
            .collect();
        dialect::write_row(&mut header, cells.iter().map(|c| c.as_ref()));
        out.write_all(&header)?;
        let Some(edge) = edge else {
            return Ok(out.flush()?);
        };
        self.pages(link, &edge.to_string(), |page| {
            let mut rows = Vec::new();
            page.iter().for_each(|m| csv_row(&m, &fields, &mut rows));
            out.write_all(&rows)?;
            Ok(true)
        })?;
        Ok(out.flush()?)
    }

    /// Oldest first, or newest first with `--rev`.
    fn direction(&self) -> Direction {
        match self.rev {
            false => Direction::Forward,
            true => Direction::Backward,
        }
    }

    /// The range's pages from `--from` to `end` (the newest end), at most `--count` entries.
    fn pages(
        &self,
        link: &mut Link,
        end: &str,
        each: impl FnMut(&Batch) -> Result<bool>,
    ) -> Result<()> {
        let start = self.from.start_arg();
        streams::range_pages(
            link,
            &self.key,
            (&start, end),
            self.direction(),
            PAGE,
            self.count,
            each,
        )
    }

    /// Writes one page: columns (the header only before the first page), or JSON lines.
    fn write_page(&self, page: &Batch, first: bool, out: &mut impl Write) -> Result<()> {
        if let Some(template) = &self.template {
            let mut lines = Vec::with_capacity(page.len() * 64);
            page.iter().for_each(|e| template.write(&mut lines, "", &e));
            out.write_all(&lines)?;
            out.flush()?;
            return Ok(());
        }
        let text = render(page.iter(), first, self.json);
        super::emit(out, &text)
    }
}

/// Appends an entry's CSV row to `out`: ID, time, then each of `fields` in monsoon's own
/// dialect ([`dialect`]: an empty cell where the entry has no such field, formulas neutralised).
fn csv_row(message: &Entry<'_>, fields: &[Vec<u8>], out: &mut Vec<u8>) {
    let (id, time) = (message.id.to_string(), message.id.iso_time());
    let values = fields.iter().map(|name| {
        message
            .fields
            .iter()
            .flat_map(|f| f.iter())
            .find(|(k, _)| k == name)
            .map_or(Cow::Borrowed(&b""[..]), |(_, v)| dialect::escape(v))
    });
    let cells: Vec<Cow<[u8]>> = [
        dialect::escape(id.as_bytes()),
        dialect::escape(time.as_bytes()),
    ]
    .into_iter()
    .chain(values)
    .collect();
    dialect::write_row(out, cells.iter().map(|c| c.as_ref()));
}

/// A page of entries as text: aligned columns (with the header when `header`), or JSON lines.
pub fn render<'e>(entries: impl Iterator<Item = Entry<'e>>, header: bool, json: bool) -> String {
    if json {
        return entries
            .map(|e| format!("{}\n", super::entry_json(&e)))
            .collect();
    }
    super::entries_table(entries, false).render(header)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use crate::stream_id::StreamId;
    use std::sync::Arc;

    /// A CSV row quotes what needs it, neutralises a formula, and leaves a missing field an
    /// empty cell (an empty value is `'`).
    #[test]
    fn csv_row_quotes_and_neutralises() {
        let message = Message {
            stream: Arc::from("chennai"),
            id: StreamId::new(1534291200000, 0),
            fields: Some(
                [("note", "hot, \"very\""), ("f", "=1+1"), ("e", "")]
                    .into_iter()
                    .collect(),
            ),
            deliveries: 1,
        };
        let fields: Vec<Vec<u8>> = ["note", "humidity", "f", "e"]
            .iter()
            .map(|f| f.as_bytes().to_vec())
            .collect();
        let mut row = Vec::new();
        csv_row(&message.entry(), &fields, &mut row);
        assert_eq!(
            String::from_utf8(row).unwrap(),
            "1534291200000-0,2018-08-15T00:00:00Z,\"hot, \"\"very\"\"\",,\"'=1+1\",\"'\"\n"
        );
    }

    /// A page renders as columns with a header, or as one JSON object per line.
    #[test]
    fn renders_a_page() {
        let message = Message {
            stream: Arc::from("chennai"),
            id: StreamId::new(1534291200000, 0),
            fields: Some([("humidity", "71")].into_iter().collect()),
            deliveries: 1,
        };
        assert_eq!(
            render(std::iter::once(message.entry()), true, false),
            "ID               TIME (UTC)            FIELDS\n\
             1534291200000-0  2018-08-15T00:00:00Z  humidity=71\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(render(std::iter::once(message.entry()), true, true).trim_end())
                .unwrap();
        assert_eq!(json["id"], "1534291200000-0");
        assert_eq!(json["fields"]["humidity"], "71");
    }
}

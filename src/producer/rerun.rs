//! Where an import's rerun proves the rows it does not write again: a row at or before the
//! stream's last ID is "already written" only if the stream holds it, with the same fields.
//!
//! ```text
//! XINFO STREAM chennai                           first entry, length, entries-added
//! XRANGE chennai <first held> <last held> COUNT n    page after page, matched by ID
//! ```
//!
//! The rows are checked [`CHECK`] at a time, against the stream's entries over their span. A
//! row the stream does not hold is an error ([`Error::RowMissing`]), unless a trim explains it:
//! it lies before the stream's first entry, and the stream has lost at least that many entries
//! since it began (XINFO's `entries-added` minus its length). A row whose ID holds other
//! fields is an error too ([`Error::RowDiffers`]).

use crate::error::{Error, Result};
use crate::import::Row;
use crate::server::streams::{self, Direction};
use crate::server::{Link, info::StreamInfo};
use crate::stream_id::StreamId;

/// Rows checked per XINFO and span of XRANGE pages.
pub const CHECK: usize = 1000;

/// Entries read per XRANGE page of a span.
const PAGE: u64 = 1000;

/// What the rows a rerun skipped turned out to be.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Rows the stream holds, fields and all: written before.
    pub held: u64,
    /// Rows before the stream's first entry that a trim took since.
    pub trimmed: u64,
}

/// Checks `rows` (in ID order, each at or before the stream's `last` ID) against what stream
/// `key` holds, adding to `skipped`; `file` names them in errors.
pub fn check(
    link: &mut Link,
    key: &str,
    file: &str,
    (rows, last): (&[Row], StreamId),
    skipped: &mut Skipped,
) -> Result<()> {
    let (Some(first), Some(newest)) = (rows.first(), rows.last()) else {
        return Ok(());
    };
    let info = streams::stream_info(link, key)?.unwrap_or_default();
    let mut judge = Judge {
        key,
        file,
        last,
        info,
        skipped,
    };
    let mut rows = rows.iter().peekable();
    let span = (first.id.to_string(), newest.id.to_string());
    streams::range_pages(
        link,
        key,
        (&span.0, &span.1),
        Direction::Forward,
        PAGE,
        None,
        |page| {
            for entry in page.iter() {
                while let Some(row) = rows.next_if(|row| row.id < entry.id) {
                    judge.absent(row)?;
                }
                if let Some(row) = rows.next_if(|row| row.id == entry.id) {
                    let fields = entry.fields.iter().flat_map(|f| f.iter());
                    judge.held(row, fields)?;
                }
            }
            Ok(rows.peek().is_some())
        },
    )?;
    rows.try_for_each(|row| judge.absent(row))
}

/// The verdicts on one batch of rows.
struct Judge<'a> {
    key: &'a str,
    file: &'a str,
    last: StreamId,
    info: StreamInfo,
    skipped: &'a mut Skipped,
}

impl Judge<'_> {
    /// A row whose ID the stream holds: written before if the fields are the same.
    fn held<'f>(
        &mut self,
        row: &Row,
        mut fields: impl Iterator<Item = (&'f [u8], &'f [u8])>,
    ) -> Result<()> {
        let mut ours = row.fields.iter();
        let same = fields.all(|(name, value)| {
            ours.next()
                .is_some_and(|(our_name, our_value)| our_name == name && our_value == value)
        }) && ours.next().is_none();
        if !same {
            return Err(Error::RowDiffers {
                row: format!("{}:{}", self.file, row.line),
                key: self.key.to_string(),
                id: row.id,
            });
        }
        self.skipped.held += 1;
        Ok(())
    }

    /// A row the stream does not hold: trimmed since, or never written (the error).
    fn absent(&mut self, row: &Row) -> Result<()> {
        let info = &self.info;
        let before_first = info.first_entry.is_none_or(|first| row.id < first);
        // A server without entries-added (before Redis 7.0) cannot tell: a trim is believed.
        let lost = info
            .entries_added
            .map(|added| added.saturating_sub(info.length));
        if before_first && lost.is_none_or(|lost| self.skipped.trimmed < lost) {
            self.skipped.trimmed += 1;
            return Ok(());
        }
        Err(Error::RowMissing {
            row: format!("{}:{}", self.file, row.line),
            key: self.key.to_string(),
            id: row.id,
            time: row.id.iso_time(),
            last: self.last,
        })
    }
}

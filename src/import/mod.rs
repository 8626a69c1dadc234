//! Where a file's rows become entries (`producer --from`): a CSV file with a header, or JSON
//! lines, read row by row; each row gets the ID of its time, and the rows must be in time order.
//!
//! ```text
//! time,sensor,temperature                XADD chennai 1534291200000-0 sensor 1 temperature 27.4
//! 2018-08-15T00:00:00Z,1,27.4     ->     XADD chennai 1534291200000-1 sensor 2 temperature 26.9
//! 2018-08-15T00:00:00Z,2,26.9            XADD chennai 1534291201000-0 sensor 1 temperature 27.5
//! 2018-08-15T00:00:01Z,1,27.5
//! ```
//!
//! A row's ID is `<ms>-<n>`, n counting the rows of the same millisecond from 0, so the IDs follow
//! the file's order and the same file always gives every row the same ID: a rerun skips what the
//! stream already holds and writes the rest once. The file is read as it is written, never whole,
//! so a file of any size (or an endless stdin) takes the memory of a few batches.
//!
//! - [`records`]: the two formats, each row as its time and its fields, with its line.
//! - [`dialect`]: monsoon's own CSV, which `inspect range --csv` writes and this reads back
//!   exactly: absent fields, formulas neutralised for spreadsheets.

pub mod dialect;
pub mod records;

use std::cell::Cell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::stream_id::StreamId;
use records::{Records, TimeValue};

/// The formats `--from` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header line (RFC 4180 quoting).
    Csv,
    /// One JSON object per line.
    Jsonl,
}

impl Format {
    /// The format a file's extension names: `.csv`, or `.jsonl`/`.ndjson`/`.json`.
    pub fn of_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" | "json" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// What `--from` and its options ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The file; `-` is stdin.
    pub from: PathBuf,
    /// How to read it.
    pub format: Format,
    /// The column (or JSON key) that holds each row's time.
    pub time_column: String,
    /// A chrono strftime pattern for the times, instead of ISO 8601 or Unix milliseconds.
    pub time_format: Option<String>,
    /// The fields to write, in this order (`--fields`); by default every column but the time.
    pub fields: Option<Vec<String>>,
}

impl Import {
    /// Checks the combination: `-` needs `--format`, and a file's format must be known.
    pub fn new(
        from: PathBuf,
        format: Option<Format>,
        time_column: String,
        time_format: Option<String>,
        fields: Option<Vec<String>>,
    ) -> Result<Import> {
        let format = match format {
            Some(format) => format,
            None if from.as_os_str() == "-" => {
                return Err(Error::Usage(String::from(
                    "--from - (stdin) needs --format csv or --format jsonl",
                )));
            }
            None => Format::of_path(&from).ok_or_else(|| {
                Error::Usage(format!(
                    "cannot tell the format of --from {} by its extension; pass --format csv \
                     or --format jsonl",
                    from.display()
                ))
            })?,
        };
        Ok(Import {
            from,
            format,
            time_column,
            time_format,
            fields,
        })
    }

    /// The name errors give the file: its path, or `stdin`.
    pub fn name(&self) -> String {
        if self.from.as_os_str() == "-" {
            String::from("stdin")
        } else {
            self.from.display().to_string()
        }
    }

    /// Opens the file (or stdin) and reads the CSV header; an unreadable file, or a header
    /// without the time column or a `--fields` column, is an error naming it (exit 2).
    pub fn open(&self) -> Result<Rows> {
        let name = self.name();
        let (input, size): (Box<dyn Read>, Option<u64>) = if self.from.as_os_str() == "-" {
            (Box::new(std::io::stdin().lock()), None)
        } else {
            let file = std::fs::File::open(&self.from)
                .map_err(|e| Error::Usage(format!("cannot read --from {name}: {e}")))?;
            let size = file.metadata().ok().map(|m| m.len());
            (Box::new(file), size)
        };
        let read = Rc::new(Cell::new(0));
        let counted = Counted {
            inner: input,
            read: Rc::clone(&read),
        };
        let records = Records::open(self, &name, Box::new(counted))?;
        Ok(Rows {
            name,
            records,
            time_column: self.time_column.clone(),
            time_format: self.time_format.clone(),
            previous: None,
            read,
            size,
        })
    }
}

/// One row of the file, ready to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The line of the file the row starts on (a CSV header is line 1).
    pub line: u64,
    /// Its entry ID: its time's milliseconds, then its place among rows of that millisecond.
    pub id: StreamId,
    /// Field names and values, as they are in the file.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The rows of an opened file, in order, each with its ID.
pub struct Rows {
    name: String,
    records: Records,
    time_column: String,
    time_format: Option<String>,
    /// The last row's ID and line, for the order check and the sequence numbers.
    previous: Option<(StreamId, u64)>,
    read: Rc<Cell<u64>>,
    /// The file's size in bytes (`None` for stdin).
    pub size: Option<u64>,
}

impl Rows {
    /// The file's name in messages: its path, or `stdin`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bytes of the file read so far (ahead of the rows returned by a buffer's worth).
    pub fn bytes_read(&self) -> u64 {
        self.read.get()
    }

    /// The next row, `None` at the end; a row that cannot be written (a bad or missing time,
    /// a time before the previous row's, the wrong number of columns, no field) is an error
    /// `FILE:LINE: ...` naming the column (exit 2).
    pub fn next_row(&mut self) -> Result<Option<Row>> {
        let Some(record) = self.records.next_record(&self.name)? else {
            return Ok(None);
        };
        let at = |reason: String| Error::Usage(format!("{}:{}: {reason}", self.name, record.line));
        let column = &self.time_column;
        let ms = match &record.time {
            None => return Err(at(format!("column {column} is missing"))),
            Some(TimeValue::Millis(ms)) => *ms,
            Some(TimeValue::Text(text)) => self.parse_time(text).map_err(at)?,
        };
        let Ok(ms) = u64::try_from(ms) else {
            return Err(at(format!(
                "column {column}: the time is before 1970 (entry IDs are Unix milliseconds)"
            )));
        };
        let id = match self.previous {
            Some((prev, _)) if prev.ms == ms => StreamId::new(ms, prev.seq + 1),
            Some((prev, line)) if prev.ms > ms => {
                return Err(at(format!(
                    "column {column}: {} is before {} on line {line}; rows must be in time order",
                    StreamId::new(ms, 0).iso_time(),
                    prev.iso_time()
                )));
            }
            _ => StreamId::new(ms, 0),
        };
        if id == StreamId::new(0, 0) {
            return Err(at(format!(
                "column {column}: 1970-01-01T00:00:00Z would be entry ID 0-0, which Redis refuses"
            )));
        }
        if record.fields.is_empty() {
            return Err(at(format!("no field to write besides column {column}")));
        }
        self.previous = Some((id, record.line));
        Ok(Some(Row {
            line: record.line,
            id,
            fields: record.fields,
        }))
    }

    /// A time's milliseconds, by `--time-format` or as ISO 8601 / Unix milliseconds.
    fn parse_time(&self, text: &str) -> std::result::Result<i64, String> {
        let column = &self.time_column;
        match &self.time_format {
            Some(pattern) => crate::time::parse_with(text, pattern).map_err(|e| {
                format!("column {column}: '{text}' does not match --time-format '{pattern}': {e}")
            }),
            None => crate::time::parse_iso(text).ok_or_else(|| {
                format!(
                    "column {column}: '{text}' is not a time (ISO 8601 such as \
                     2018-08-15T12:00:00Z, or Unix milliseconds; other forms need --time-format)"
                )
            }),
        }
    }
}

/// A reader that counts the bytes read through it, for the progress bar.
struct Counted {
    inner: Box<dyn Read>,
    read: Rc<Cell<u64>>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

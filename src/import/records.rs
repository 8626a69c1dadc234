//! The two formats `--from` reads, each row as its line, its time and its fields.
//!
//! - CSV: the header names the columns; every row has as many. The time column is the time,
//!   every other column a field (or the `--fields` columns, in that order). The ID column
//!   that `inspect range --csv` writes first (`monsoon-id,time,...`, and `id,time,...` before
//!   0.2.0) is left out unless `--fields` names it: the IDs are made again from the times. A
//!   file headed `monsoon-id` is our own export and is read in its [`dialect`]: an empty cell is
//!   no field, and the `'` the export put before a cell is taken off; any other file is read
//!   as it is (an empty cell is an empty field, a `'` stays).
//! - JSON lines: one object per line (blank lines skipped). The time is a string or integer
//!   milliseconds; every other key is a field, strings as they are and other values as JSON
//!   text (a `null` is no field). A line shaped as `inspect range --json` and `consumer --json`
//!   print it, with the fields in an object under `fields`, gives those fields.

use std::io::{BufRead, BufReader, Read};

use serde_json::{Map, Value};

use super::{Import, dialect};
use crate::error::{Error, Result};

/// A row's time as the file holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeValue {
    /// Text, for the time parser.
    Text(String),
    /// A JSON integer: Unix milliseconds.
    Millis(i64),
}

/// One row before its time is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The line it starts on.
    pub line: u64,
    /// Its time (`None`: the row has none).
    pub time: Option<TimeValue>,
    /// Its fields, in order.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The rows of either format.
pub enum Records {
    /// A CSV file after its header.
    Csv(CsvRecords),
    /// JSON lines.
    Jsonl(JsonlRecords),
}

impl Records {
    /// Opens `input` as `import.format` says; for CSV, reads and checks the header.
    pub fn open(import: &Import, name: &str, input: Box<dyn Read>) -> Result<Records> {
        Ok(match import.format {
            super::Format::Csv => Records::Csv(CsvRecords::open(import, name, input)?),
            super::Format::Jsonl => Records::Jsonl(JsonlRecords {
                lines: BufReader::with_capacity(256 * 1024, input),
                line: 0,
                buffer: Vec::new(),
                time_column: import.time_column.clone(),
                fields: import.fields.clone(),
            }),
        })
    }

    /// The next row, `None` at the end of the file.
    pub fn next_record(&mut self, name: &str) -> Result<Option<Record>> {
        match self {
            Records::Csv(csv) => csv.next_record(name),
            Records::Jsonl(jsonl) => jsonl.next_record(name),
        }
    }
}

/// An error reading the input itself (not a row's content).
fn unreadable(name: &str, err: impl std::fmt::Display) -> Error {
    Error::Usage(format!("cannot read --from {name}: {err}"))
}

/// A CSV file's rows, after the header.
pub struct CsvRecords {
    reader: csv::Reader<Box<dyn Read>>,
    header: Vec<Vec<u8>>,
    /// Index of the time column.
    time: usize,
    /// Indices of the field columns, in the order they are written.
    fields: Vec<usize>,
    /// Our own export ([`dialect::MARK`]): cells are read in its [`dialect`].
    marked: bool,
    record: csv::ByteRecord,
}

impl CsvRecords {
    /// Reads the header and finds the time and field columns in it.
    fn open(import: &Import, name: &str, input: Box<dyn Read>) -> Result<CsvRecords> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .buffer_capacity(256 * 1024)
            .from_reader(input);
        let cells = reader.byte_headers().map_err(|e| unreadable(name, e))?;
        let marked = cells.get(0) == Some(dialect::MARK.as_bytes());
        // In our own export a field's name is escaped like a value (and never empty).
        let header: Vec<Vec<u8>> = cells
            .iter()
            .map(|cell| match marked {
                true => dialect::unescape(cell).unwrap_or(cell).to_vec(),
                false => cell.to_vec(),
            })
            .collect();
        if header.is_empty() {
            return Err(Error::Usage(format!(
                "{name}:1: the file is empty; a CSV file starts with a header line naming its \
                 columns"
            )));
        }
        let listed = header
            .iter()
            .map(|h| String::from_utf8_lossy(h))
            .collect::<Vec<_>>()
            .join(",");
        let find = |column: &str, what: &str| {
            header
                .iter()
                .position(|h| h == column.as_bytes())
                .ok_or_else(|| {
                    Error::Usage(format!(
                        "{name}:1: no column {column} in the header ({listed}); {what}"
                    ))
                })
        };
        let time = find(
            &import.time_column,
            "name the time column with --time-column",
        )?;
        let fields = match &import.fields {
            Some(names) => names
                .iter()
                .map(|n| find(n, "check --fields"))
                .collect::<Result<Vec<_>>>()?,
            None => {
                // `inspect range --csv` writes `monsoon-id,time,...` (`id,time,...` before
                // 0.2.0): its IDs are made again from the times, so they are no field.
                let exported_id =
                    marked || (time == 1 && header.first().is_some_and(|h| h == b"id"));
                (0..header.len())
                    .filter(|&i| i != time && !(exported_id && i == 0))
                    .collect()
            }
        };
        Ok(CsvRecords {
            reader,
            header,
            time,
            fields,
            marked,
            record: csv::ByteRecord::new(),
        })
    }

    /// The value of column `i` of the current row: as it is, or in our own export read in its
    /// [`dialect`] (`None`: an empty cell, no field).
    fn value(&self, i: usize) -> Option<&[u8]> {
        let cell = &self.record[i];
        match self.marked {
            true => dialect::unescape(cell),
            false => Some(cell),
        }
    }

    fn next_record(&mut self, name: &str) -> Result<Option<Record>> {
        if !self
            .reader
            .read_byte_record(&mut self.record)
            .map_err(|e| unreadable(name, e))?
        {
            return Ok(None);
        }
        let line = self.record.position().map_or(0, |p| p.line());
        let (got, want) = (self.record.len(), self.header.len());
        if got != want {
            let reason = if got < want {
                let missing = String::from_utf8_lossy(&self.header[got]);
                format!("the row has {got} columns, the header {want}: column {missing} is missing")
            } else {
                format!(
                    "the row has {got} columns, the header {want}: column {} has no name",
                    want + 1
                )
            };
            return Err(Error::Usage(format!("{name}:{line}: {reason}")));
        }
        let time = self.value(self.time).unwrap_or_default();
        let time = match std::str::from_utf8(time) {
            Ok(text) if text.trim().is_empty() => None,
            Ok(text) => Some(TimeValue::Text(text.to_string())),
            Err(_) => Some(TimeValue::Text(String::from_utf8_lossy(time).into_owned())),
        };
        let fields = self
            .fields
            .iter()
            .filter_map(|&i| Some((self.header[i].clone(), self.value(i)?.to_vec())))
            .collect();
        Ok(Some(Record { line, time, fields }))
    }
}

/// JSON lines: one object per line.
pub struct JsonlRecords {
    lines: BufReader<Box<dyn Read>>,
    line: u64,
    buffer: Vec<u8>,
    time_column: String,
    fields: Option<Vec<String>>,
}

impl JsonlRecords {
    fn next_record(&mut self, name: &str) -> Result<Option<Record>> {
        loop {
            self.buffer.clear();
            let n = self
                .lines
                .read_until(b'\n', &mut self.buffer)
                .map_err(|e| unreadable(name, e))?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            if self.buffer.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let at = |reason: String| Error::Usage(format!("{name}:{}: {reason}", self.line));
            let mut object: Map<String, Value> = serde_json::from_slice(&self.buffer)
                .map_err(|e| at(format!("not a JSON object: {e}")))?;
            let time = match object.shift_remove(&self.time_column) {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) => Some(TimeValue::Text(text)),
                Some(Value::Number(n)) => match n.as_i64() {
                    Some(ms) => Some(TimeValue::Millis(ms)),
                    None => {
                        return Err(at(format!(
                            "key {}: {n} is not whole Unix milliseconds",
                            self.time_column
                        )));
                    }
                },
                Some(other) => {
                    return Err(at(format!(
                        "key {}: {other} is not a time",
                        self.time_column
                    )));
                }
            };
            // The layout our own --json prints: the fields are the object under `fields`.
            if matches!(object.get("fields"), Some(Value::Object(_)))
                && let Some(Value::Object(nested)) = object.remove("fields")
            {
                object = nested;
            }
            let fields = match &self.fields {
                None => object
                    .into_iter()
                    .filter_map(|(k, v)| value_bytes(v).map(|v| (k.into_bytes(), v)))
                    .collect(),
                Some(names) => names
                    .iter()
                    .map(|k| {
                        object
                            .remove(k)
                            .and_then(value_bytes)
                            .map(|v| (k.clone().into_bytes(), v))
                            .ok_or_else(|| at(format!("key {k} (of --fields) is missing")))
                    })
                    .collect::<Result<Vec<_>>>()?,
            };
            return Ok(Some(Record {
                line: self.line,
                time,
                fields,
            }));
        }
    }
}

/// A JSON value as a field value: a string as it is, `null` as no field, anything else as its
/// JSON text.
fn value_bytes(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.into_bytes()),
        other => Some(other.to_string().into_bytes()),
    }
}

//! `--from`: a file's rows written into one city's stream, pipelined and batched like a day,
//! resuming after the stream's last ID.
//!
//! Rows at or before the stream's last ID are skipped (an earlier run wrote them), the rest are
//! sent `--batch` at a time with `IN_FLIGHT` batches on the wire. The batches in flight are
//! kept until their replies are read: after a break (or another writer moving the stream on),
//! the stream's last ID is asked again and only what lies after it is sent again, so every row
//! lands once. A bad row stops the import after everything before it is written; the error
//! names its line, and a rerun of the fixed file writes the rest.

use std::collections::VecDeque;
use std::time::Instant;

use indicatif::ProgressBar;
use redis::RedisError;

use super::day::taken_by_another_writer;
use super::retain::Trimmer;
use super::{CityReport, CityRun, Imported};
use crate::encode::XaddEncoder;
use crate::error::{Error, Result};
use crate::import::{Import, Rows};
use crate::server::{Link, queries};
use crate::shutdown::Shutdown;
use crate::stream_id::StreamId;

/// Batches sent ahead of the replies we are waiting for (as for a day).
const IN_FLIGHT: usize = 2;

/// A batch on the wire: its entries' IDs and where each starts in the encoded commands.
#[derive(Default)]
struct Batch {
    ids: Vec<StreamId>,
    starts: Vec<usize>,
    commands: Vec<u8>,
}

impl Batch {
    /// Keeps only the entries after `last`: the others are in the stream already.
    fn keep_after(&mut self, last: Option<StreamId>) {
        let Some(last) = last else { return };
        let first = self.ids.partition_point(|id| *id <= last);
        if first == 0 {
            return;
        }
        let cut = self
            .starts
            .get(first)
            .copied()
            .unwrap_or(self.commands.len());
        self.commands.drain(..cut);
        self.ids.drain(..first);
        self.starts.drain(..first);
        for start in &mut self.starts {
            *start -= cut;
        }
    }
}

/// The import of one file into one stream.
struct Importer<'a> {
    run: &'a CityRun,
    encoder: XaddEncoder,
    /// The stream's last ID when last asked: rows up to it are not written.
    last: Option<StreamId>,
    in_flight: VecDeque<Batch>,
    imported: Imported,
    written: u64,
}

/// Writes the rows of `import` into the run's stream; see the module docs. A bad row is an
/// error once the rows before it are written; a stop (Ctrl-C) ends after the batches in flight.
pub fn produce_import(
    link: &mut Link,
    run: &CityRun,
    import: &Import,
    trimmer: &mut Trimmer,
    shutdown: &Shutdown,
    bar: &ProgressBar,
) -> Result<CityReport> {
    trimmer.trim(link)?;
    let mut rows = import.open()?;
    match rows.size {
        Some(size) => bar.set_length(size),
        None => bar.finish_and_clear(),
    }
    let started = Instant::now();
    let mut importer = Importer {
        run,
        encoder: XaddEncoder::new(&run.key, run.maxlen),
        last: last_id(link, &run.key)?,
        in_flight: VecDeque::with_capacity(IN_FLIGHT + 1),
        imported: Imported {
            from: import.name(),
            ..Imported::default()
        },
        written: 0,
    };
    let mut bad_row = None;
    let mut at_end = false;
    loop {
        while !at_end && bad_row.is_none() && importer.in_flight.len() < IN_FLIGHT {
            if shutdown.is_requested() {
                break;
            }
            let (batch, end) = importer.read_batch(&mut rows);
            match end {
                Ok(end) => at_end = end,
                Err(err) => bad_row = Some(err),
            }
            bar.set_position(rows.bytes_read());
            if !batch.ids.is_empty() {
                importer.in_flight.push_back(batch);
                if let Err(err) = importer.send_last(link) {
                    importer.recover(link, err)?;
                }
            }
        }
        if importer.in_flight.is_empty() {
            break;
        }
        if let Err(err) = importer.settle_oldest(link) {
            importer.recover(link, err)?;
        }
    }
    bar.finish_and_clear();
    trimmer.trim(link)?;
    trimmer.trim_dead()?;
    if let Some(err) = bad_row {
        return Err(match err {
            Error::Usage(reason) if importer.imported.rows > 0 => Error::Usage(format!(
                "{reason} (the rows before it are in {}: a rerun of the fixed file writes the rest)",
                run.key
            )),
            other => other,
        });
    }
    let interrupted = !at_end;
    Ok(CityReport {
        key: run.key.clone(),
        written: importer.written,
        total: importer.imported.rows,
        elapsed: started.elapsed(),
        already_complete: !interrupted && importer.written == 0 && importer.imported.skipped > 0,
        interrupted,
        trimmed: trimmer.trimmed(),
        only_trimmed: false,
        live: None,
        imported: Some(importer.imported),
    })
}

impl Importer<'_> {
    /// Up to `--batch` rows that the stream does not hold yet, encoded; and whether the file
    /// ended. A bad row ends the batch with the error (the rows before it are still written).
    fn read_batch(&mut self, rows: &mut Rows) -> (Batch, Result<bool>) {
        let mut batch = Batch::default();
        while batch.ids.len() < self.run.batch.max(1) {
            let row = match rows.next_row() {
                Ok(Some(row)) => row,
                Ok(None) => return (batch, Ok(true)),
                Err(err) => return (batch, Err(err)),
            };
            self.imported.rows += 1;
            if self.last.is_some_and(|last| row.id <= last) {
                self.imported.skipped += 1;
                continue;
            }
            batch.starts.push(batch.commands.len());
            batch.ids.push(row.id);
            self.encoder
                .push_fields(&mut batch.commands, row.id, &row.fields);
        }
        (batch, Ok(false))
    }

    /// Sends the newest batch in flight.
    fn send_last(&mut self, link: &mut Link) -> std::result::Result<(), RedisError> {
        match self.in_flight.back() {
            Some(batch) => link.con().send_packed_command(&batch.commands),
            None => Ok(()),
        }
    }

    /// Reads the replies of the oldest batch in flight. Every reply is read even after a
    /// refusal, so the connection stays in step; the first refusal is returned.
    fn settle_oldest(&mut self, link: &mut Link) -> std::result::Result<(), RedisError> {
        let Some(batch) = self.in_flight.front() else {
            return Ok(());
        };
        let mut refused = None;
        for _ in 0..batch.ids.len() {
            match link.con().recv_response()?.extract_error() {
                Ok(_) => self.written += 1,
                Err(err) => {
                    refused.get_or_insert(err);
                }
            }
        }
        self.in_flight.pop_front();
        link.settled();
        refused.map_or(Ok(()), Err)
    }

    /// After a failure: a break is ridden out (anything else the server said is the error);
    /// when another writer moved the stream on, the replies still due are read. Then the
    /// stream's last ID is asked again and what the batches in flight hold after it is sent
    /// again.
    fn recover(&mut self, link: &mut Link, err: RedisError) -> Result<()> {
        let mut err = Some(err);
        while let Some(cause) = err.take() {
            if taken_by_another_writer(&cause) {
                while !self.in_flight.is_empty() {
                    if let Err(next) = self.settle_oldest(link) {
                        err = (!taken_by_another_writer(&next)).then_some(next);
                        break;
                    }
                }
                if err.is_some() {
                    continue;
                }
            } else {
                link.ride_out(&format!("XADD {}", self.run.key), &cause)?;
            }
            self.last = last_id(link, &self.run.key)?;
            for batch in &mut self.in_flight {
                batch.keep_after(self.last);
            }
            self.in_flight.retain(|batch| !batch.ids.is_empty());
            for index in 0..self.in_flight.len() {
                let commands = &self.in_flight[index].commands;
                if let Err(next) = link.con().send_packed_command(commands) {
                    err = Some(next);
                    break;
                }
            }
        }
        Ok(())
    }
}

/// The stream's last ID (`last-generated-id`: XADD must go above it even when the newest
/// entries were deleted); `None` for a missing stream.
fn last_id(link: &mut Link, key: &str) -> Result<Option<StreamId>> {
    Ok(queries::stream_info(link, key)?.and_then(|info| info.last_generated_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeping what lies after an ID drops a prefix of the entries and of their commands.
    #[test]
    fn keep_after_cuts_the_prefix() {
        let encoder = XaddEncoder::new("k", None);
        let mut batch = Batch::default();
        for ms in 1..=3 {
            batch.starts.push(batch.commands.len());
            batch.ids.push(StreamId::new(ms, 0));
            encoder.push_fields(&mut batch.commands, StreamId::new(ms, 0), &[]);
        }
        let mut expected = Vec::new();
        encoder.push_fields(&mut expected, StreamId::new(3, 0), &[]);
        batch.keep_after(None);
        assert_eq!(batch.ids.len(), 3);
        batch.keep_after(Some(StreamId::new(2, 0)));
        assert_eq!(batch.ids, vec![StreamId::new(3, 0)]);
        assert_eq!(batch.starts, vec![0]);
        assert_eq!(batch.commands, expected);
        batch.keep_after(Some(StreamId::new(9, 0)));
        assert!(batch.ids.is_empty() && batch.commands.is_empty());
    }
}

//! `--from`: a file's rows written into one city's stream, pipelined and batched like a day,
//! resuming after the stream's last ID.
//!
//! Rows at or before the stream's last ID are skipped (an earlier run wrote them), the rest are
//! sent `--batch` at a time with `IN_FLIGHT` batches on the wire. The batches in flight are
//! kept until their replies are read: after a break (or another writer moving the stream on),
//! the stream's last ID is asked again and only what lies after it is sent again, so every row
//! lands once. A bad row stops the import after everything before it is written; the error
//! names its line, and a rerun of the fixed file writes the rest. With `--retain`, each batch
//! ends with the retention trim, as a day's does, so a long file never sits whole in Redis.

use std::collections::VecDeque;
use std::time::Instant;

use indicatif::ProgressBar;
use redis::RedisError;

use super::day::Halt;
use super::retain::Trimmer;
use super::{CityReport, CityRun, Imported};
use crate::encode::XaddEncoder;
use crate::error::{Error, Result};
use crate::import::Rows;
use crate::server::{Link, queries};
use crate::shutdown::Shutdown;
use crate::stream_id::StreamId;

/// Batches sent ahead of the replies we are waiting for (as for a day).
const IN_FLIGHT: usize = 2;

/// A batch on the wire: its entries' IDs and where each starts in the encoded commands, which
/// end with the retention trim when `trim`.
#[derive(Default)]
struct Batch {
    ids: Vec<StreamId>,
    starts: Vec<usize>,
    commands: Vec<u8>,
    trim: bool,
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
    trimmer: &'a mut Trimmer,
    encoder: XaddEncoder,
    /// The stream's last ID when last asked: rows up to it are not written.
    last: Option<StreamId>,
    in_flight: VecDeque<Batch>,
    imported: Imported,
    written: u64,
}

/// Writes the `rows` of an opened file into the run's stream; see the module docs. A bad row is an
/// error once the rows before it are written; a stop (Ctrl-C) ends after the batches in flight.
pub fn produce_import(
    link: &mut Link,
    run: &CityRun,
    mut rows: Rows,
    trimmer: &mut Trimmer,
    shutdown: &Shutdown,
    bar: &ProgressBar,
) -> Result<CityReport> {
    trimmer.trim(link)?;
    match rows.size {
        Some(size) => bar.set_length(size),
        None => bar.finish_and_clear(),
    }
    let started = Instant::now();
    let mut importer = Importer {
        run,
        trimmer,
        encoder: XaddEncoder::new(&run.key, run.maxlen),
        last: last_id(link, &run.key)?,
        in_flight: VecDeque::with_capacity(IN_FLIGHT + 1),
        imported: Imported {
            from: rows.name().to_string(),
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
                    importer.recover(link, err.into())?;
                }
            }
        }
        if importer.in_flight.is_empty() {
            break;
        }
        if let Err(halt) = importer.settle_oldest(link) {
            importer.recover(link, halt)?;
        }
    }
    bar.finish_and_clear();
    let (written, imported) = (importer.written, importer.imported);
    // The last batch's trim may have been lost to a break; the groups that held a trim back
    // are named now that nothing is in flight.
    trimmer.trim(link)?;
    trimmer.trim_dead()?;
    if let Some(err) = bad_row {
        return Err(match err {
            Error::Usage(reason) if imported.rows > 0 => Error::Usage(format!(
                "{reason} (the rows before it are in {}: a rerun of the fixed file writes the rest)",
                run.key
            )),
            other => other,
        });
    }
    let interrupted = !at_end;
    Ok(CityReport {
        key: run.key.clone(),
        written,
        total: imported.rows,
        elapsed: started.elapsed(),
        already_complete: !interrupted && written == 0 && imported.skipped > 0,
        interrupted,
        trimmed: trimmer.trimmed(),
        only_trimmed: false,
        live: None,
        imported: Some(imported),
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
                Ok(None) => {
                    self.end_with_trim(&mut batch);
                    return (batch, Ok(true));
                }
                Err(err) => {
                    self.end_with_trim(&mut batch);
                    return (batch, Err(err));
                }
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
        self.end_with_trim(&mut batch);
        (batch, Ok(false))
    }

    /// Appends the retention trim to a batch that writes anything (`--retain`).
    fn end_with_trim(&self, batch: &mut Batch) {
        if let (false, Some(trim)) = (batch.ids.is_empty(), self.trimmer.pipelined()) {
            batch.commands.extend_from_slice(trim);
            batch.trim = true;
        }
    }

    /// Sends the newest batch in flight.
    fn send_last(&mut self, link: &mut Link) -> std::result::Result<(), RedisError> {
        match self.in_flight.back() {
            Some(batch) => link.con().send_packed_command(&batch.commands),
            None => Ok(()),
        }
    }

    /// Reads the replies of the oldest batch in flight, its trim's last. Every reply is read
    /// even after a refusal, so the connection stays in step; the first refusal is returned.
    fn settle_oldest(&mut self, link: &mut Link) -> std::result::Result<(), Halt> {
        let Some(batch) = self.in_flight.front() else {
            return Ok(());
        };
        let (entries, trim) = (batch.ids.len(), batch.trim);
        let mut refused = None;
        for _ in 0..entries {
            match link.con().recv_response()?.extract_error() {
                Ok(_) => self.written += 1,
                Err(err) => {
                    refused.get_or_insert(Halt::Xadd(err));
                }
            }
        }
        if trim {
            match link.con().recv_response()?.extract_error() {
                Ok(reply) => {
                    if let Err(err) = self.trimmer.record(link, reply) {
                        refused.get_or_insert(Halt::Failed(err));
                    }
                }
                Err(err) => {
                    refused.get_or_insert(Halt::Trim(err));
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
    fn recover(&mut self, link: &mut Link, halt: Halt) -> Result<()> {
        let mut halt = Some(halt);
        while let Some(cause) = halt.take() {
            if cause.is_taken() {
                while !self.in_flight.is_empty() {
                    match self.settle_oldest(link) {
                        Err(next) if !next.is_taken() => {
                            halt = Some(next);
                            break;
                        }
                        _ => {}
                    }
                }
                if halt.is_some() {
                    continue;
                }
            } else {
                cause.ride_out(link, &self.run.key, self.trimmer)?;
            }
            self.last = last_id(link, &self.run.key)?;
            for batch in &mut self.in_flight {
                batch.keep_after(self.last);
            }
            self.in_flight.retain(|batch| !batch.ids.is_empty());
            for index in 0..self.in_flight.len() {
                let commands = &self.in_flight[index].commands;
                if let Err(next) = link.con().send_packed_command(commands) {
                    halt = Some(next.into());
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

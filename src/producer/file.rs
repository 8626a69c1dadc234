//! `--from`: a file's rows written into one city's stream, pipelined and batched like a day,
//! resuming after the stream's last ID.
//!
//! Rows at or before the stream's last ID are not written again: [`rerun`] checks that the
//! stream holds them (an earlier run wrote them) before anything after them is sent, and a row
//! it lacks is an error. The rest are sent `--batch` at a time with `IN_FLIGHT` batches on the
//! wire. The batches in flight are kept until their replies are read: after a break (or another
//! writer moving the stream on), the stream's last ID is asked again and only what lies after it
//! is sent again, so every row lands once. A bad row stops the import after everything before it
//! is written; the error names its line, and a rerun of the fixed file writes the rest. With
//! `--retain`, each batch ends with the retention trim, as a day's does, so a long file never
//! sits whole in Redis. With `--wait-replicas`, each batch ends with a WAIT, as a day's does
//! ([`super::durable`]).

use std::sync::Arc;
use std::time::Instant;

use indicatif::ProgressBar;

use super::day::take_settled;
use super::durable::Confirmation;
use super::rerun::{self, CHECK};
use super::retain::Trimmer;
use super::{CityReport, CityRun, Imported};
use crate::error::{Error, Result};
use crate::import::{Row, Rows};
use crate::server::window::{Landed, Outgoing, Window};
use crate::server::xadd::XaddEncoder;
use crate::server::{Link, streams};
use crate::shutdown::Shutdown;
use crate::stream_id::StreamId;

/// Batches sent ahead of the replies we are waiting for (as for a day).
const IN_FLIGHT: usize = 2;

/// How settling a batch went.
enum Settle {
    /// Every row written.
    Done,
    /// The connection broke (ridden out): the batches in flight are in doubt.
    Broke,
    /// Another writer took the stream past a row.
    Taken,
}

/// The import of one file into one stream.
struct Importer<'a> {
    run: &'a CityRun,
    key: Arc<str>,
    trimmer: &'a mut Trimmer,
    encoder: XaddEncoder,
    /// The stream's last ID when last asked: rows up to it are not written.
    last: Option<StreamId>,
    /// Rows up to `last` read and not yet checked against the stream ([`rerun::check`]).
    held: Vec<Row>,
    /// The newest row the server has acknowledged: a stream that ends before it after a break
    /// lost acknowledged writes.
    acknowledged: Option<StreamId>,
    window: Window,
    imported: Imported,
    written: u64,
    /// `--wait-replicas`: how many of the rows written N replicas have.
    confirmation: Option<Confirmation>,
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
        key: Arc::from(run.key.as_str()),
        trimmer,
        encoder: XaddEncoder::new(&run.key, run.maxlen),
        last: streams::last_generated_id(link, &run.key)?,
        held: Vec::new(),
        acknowledged: None,
        window: Window::new(IN_FLIGHT).waiting_for(run.wait),
        imported: Imported {
            from: rows.name().to_string(),
            ..Imported::default()
        },
        written: 0,
        confirmation: Confirmation::of(run),
    };
    let mut bad_row = None;
    let mut at_end = false;
    // A break: ask the stream where it ends, then send again what it lacks.
    let mut resync = false;
    // Another writer moved the stream on: read the replies still due, then resync.
    let mut draining = false;
    loop {
        let short = importer
            .confirmation
            .as_ref()
            .is_some_and(Confirmation::is_short);
        while !resync
            && !draining
            && !short
            && !at_end
            && bad_row.is_none()
            && !importer.window.is_full()
        {
            if shutdown.is_requested() {
                break;
            }
            let (batch, end) = importer.read_batch(link, &mut rows)?;
            match end {
                Ok(end) => at_end = end,
                Err(err) => bad_row = Some(err),
            }
            bar.set_position(rows.bytes_read());
            resync = !importer.window.send(link, batch)?;
        }
        if resync {
            resync = !importer.resync(link)?;
            continue;
        }
        if importer.window.is_empty() {
            if std::mem::take(&mut draining) {
                resync = true;
                continue;
            }
            // Short: WAIT again. Not short, yet not confirmed: written on a connection that
            // broke since, and nothing is left to send whose WAIT would cover it.
            let written = importer.written;
            if let Some(c) = &mut importer.confirmation
                && !c.covers(written)
                && !shutdown.is_requested()
            {
                // A stop meanwhile ends the import as any stop does.
                match c.confirm(link, written) {
                    Ok(confirmed) => resync = !confirmed,
                    Err(Error::Stopped { .. }) => break,
                    Err(err) => return Err(err),
                }
                continue;
            }
            break;
        }
        match importer.settle_oldest(link)? {
            Settle::Done => {}
            Settle::Broke => resync = true,
            Settle::Taken => draining = true,
        }
    }
    bar.finish_and_clear();
    let replicated = importer.confirmation.as_ref().map(Confirmation::report);
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
        already_complete: !interrupted
            && written == 0
            && imported.rows > 0
            && imported.skipped.held == imported.rows,
        interrupted,
        trimmed: trimmer.trimmed(),
        only_trimmed: false,
        live: None,
        imported: Some(imported),
        replicated,
    })
}

impl Importer<'_> {
    /// Up to `--batch` rows that the stream does not hold yet, encoded; and whether the file
    /// ended. A bad row ends the batch with the error (the rows before it are still written);
    /// a row up to the stream's last ID that it does not hold is the error of the whole run.
    ///
    /// The rows up to `last` are checked here, on the link, before any row after them is
    /// pushed: they come first in the file (rows are in ID order), and whenever one is read
    /// nothing is in flight (at the start nothing was sent; after a resync, a row still in
    /// flight lies after `last`, and so does every row not read yet).
    fn read_batch(&mut self, link: &mut Link, rows: &mut Rows) -> Result<(Outgoing, Result<bool>)> {
        let mut batch = self.window.batch();
        batch.begin(&self.key);
        let end = loop {
            if batch.entries() >= self.run.batch.max(1) {
                break Ok(false);
            }
            let row = match rows.next_row() {
                Ok(Some(row)) => row,
                Ok(None) => break Ok(true),
                Err(err) => break Err(err),
            };
            self.imported.rows += 1;
            if self.last.is_some_and(|last| row.id <= last) {
                self.held.push(row);
                if self.held.len() >= CHECK {
                    self.check_held(link)?;
                }
                continue;
            }
            self.check_held(link)?;
            batch.push_fields(&self.encoder, row.id, &row.fields);
        };
        self.check_held(link)?;
        if let (false, Some(trim)) = (batch.is_empty(), self.trimmer.pipelined()) {
            batch.push_trim(trim);
        }
        Ok((batch, end))
    }

    /// Checks the rows held back against the stream ([`rerun::check`]) and forgets them.
    fn check_held(&mut self, link: &mut Link) -> Result<()> {
        let Some(last) = self.last else {
            return Ok(());
        };
        let held = std::mem::take(&mut self.held);
        let (key, file) = (&self.run.key, &self.imported.from);
        rerun::check(link, key, file, (&held, last), &mut self.imported.skipped)
    }

    /// Reads the replies of the oldest batch in flight.
    fn settle_oldest(&mut self, link: &mut Link) -> Result<Settle> {
        let newest = self
            .window
            .in_flight()
            .next()
            .and_then(|b| b.ids().last().copied());
        match self.window.settle_oldest(link)? {
            Landed::Broke => Ok(Settle::Broke),
            Landed::Settled(settled, replicas) => {
                match take_settled(settled, self.trimmer, &mut self.written) {
                    Ok(true) => return Ok(Settle::Taken),
                    Ok(false) => {}
                    Err(err) => {
                        self.window.drain(link);
                        return Err(err);
                    }
                }
                self.acknowledged = self.acknowledged.max(newest);
                if let (Some(c), Some(got)) = (&mut self.confirmation, replicas)
                    && let Err(err) = c.answered(link, got, self.written)
                {
                    self.window.drain(link);
                    return Err(err);
                }
                Ok(Settle::Done)
            }
        }
    }

    /// After a break (or another writer moving the stream on): asks the stream's last ID again,
    /// drops from the batches in flight what it holds, and sends the rest again; `false`: it
    /// broke again. A stream that now ends before a row it had acknowledged lost writes (a
    /// restart without persistence, a failover): the rows are not at hand any more, so that is
    /// an error, and a rerun writes them.
    fn resync(&mut self, link: &mut Link) -> Result<bool> {
        self.last = streams::last_generated_id(link, &self.run.key)?;
        if let Some(acknowledged) = self.acknowledged
            && self.last.is_none_or(|last| last < acknowledged)
        {
            return Err(Error::Lost {
                key: self.run.key.clone(),
                acknowledged,
                last: self.last.unwrap_or_default(),
            });
        }
        self.window.keep_after(self.last);
        self.window.resend(link)
    }
}

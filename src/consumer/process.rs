//! Where a message is processed and acknowledged: poison to the dead-letter stream, `--delay`,
//! one write of the batch's lines, then XACK in one round trip per stream.
//!
//! ```text
//! XADD chennai:dead * stream chennai id 1534291200000-0 reason ... field:temperature abc
//! XACK chennai mygroup 1534291200000-0 1534291201000-0 ...
//! ```

use std::collections::VecDeque;
use std::collections::hash_map::Entry;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::Value;

use super::{Consumer, Done, Source, poison};
use crate::error::{Error, Result};
use crate::message::{self, Message};
use crate::metrics::consumer::Outcome;
use crate::server::Link;
use crate::server::queries::{self, Direction};
use crate::server::target::has_code;
use crate::stream_id::StreamId;

impl<W: Write> Consumer<'_, W> {
    /// Processes messages: dead-letters poison, waits `--delay`, prints, then acknowledges.
    pub(super) fn handle(&mut self, messages: Vec<Message>, source: Source) -> Result<()> {
        match source {
            Source::New => {}
            Source::OwnPending => self.summary.recovered += messages.len() as u64,
            Source::Claimed => {
                self.summary.claimed += messages.len() as u64;
                for run in messages.chunk_by(|a, b| a.stream == b.stream) {
                    self.counted(&run[0].stream, Outcome::Claimed, run.len() as u64);
                }
            }
        }
        if self.settings.exec.is_some() {
            return self.handle_exec(messages);
        }
        if self.settings.pipe.is_some() {
            return self.handle_pipe(messages);
        }
        if self.settings.delay.is_zero() {
            return self.handle_batch(messages);
        }
        let mut queue = VecDeque::from(messages);
        loop {
            self.keep_in_hand(&mut queue)?;
            let Some(message) = queue.pop_front() else {
                return Ok(());
            };
            self.handle_batch(vec![message])?;
        }
    }

    /// Handles messages as one batch: one write of their lines, one round trip of XACKs.
    ///
    /// A dead letter the server refuses to take leaves its entry pending (nothing is lost) and
    /// stops the consumer with that refusal, once the batch's valid entries are processed.
    pub(super) fn handle_batch(&mut self, messages: Vec<Message>) -> Result<()> {
        let settings = self.settings;
        let started = Instant::now();
        self.buffer.clear();
        let mut done: Vec<Done> = Vec::with_capacity(messages.len());
        let mut refused = None;
        for message in &messages {
            if message.fields.is_none() {
                self.summary.deleted += 1;
            } else if let Some(reason) = poison::verdict(message, settings.max_deliveries) {
                match self.dead_letter(message, &reason) {
                    Ok(()) => {}
                    Err(err @ Error::DeadLetter { .. }) => {
                        refused.get_or_insert(err);
                        continue;
                    }
                    Err(err) => return Err(err),
                }
            } else {
                if !settings.delay.is_zero() {
                    std::thread::sleep(settings.delay);
                }
                if settings.json {
                    message::write_json(&mut self.buffer, &settings.name, message);
                } else {
                    message::write_line(&mut self.buffer, &settings.name, message);
                }
                self.summary.processed += 1;
                self.counted(&message.stream, Outcome::Acked, 1);
            }
            done.push((Arc::clone(&message.stream), message.id, started));
        }
        if !self.buffer.is_empty() {
            self.out.write_all(&self.buffer)?;
            self.out.flush()?;
        }
        if self.defers_acks() {
            // Printed: acknowledged with the next read, in the same write.
            self.deferred.extend(done);
        } else {
            self.ack_done(&done)?;
        }
        refused.map_or(Ok(()), Err)
    }

    /// Processes what a read in flight brought, then acknowledges what was printed and not
    /// acknowledged yet, on its own (also when processing failed: what was printed is done).
    pub(super) fn flush_acks(&mut self) -> Result<()> {
        let settled = self.settle_in_flight();
        let deferred = std::mem::take(&mut self.deferred);
        let acked = self.ack_done(&deferred);
        settled.and(acked)
    }

    /// Acknowledges `done` with one XACK per run of entries of the same stream.
    pub(super) fn ack_done(&mut self, done: &[Done]) -> Result<()> {
        for run in done.chunk_by(|a, b| a.0 == b.0) {
            let ids: Vec<StreamId> = run.iter().map(|(_, id, _)| *id).collect();
            self.ack(&run[0].0, &ids)?;
        }
        if let Some(meter) = &self.settings.meter {
            for (_, _, since) in done {
                meter.processed_in(since.elapsed());
            }
        }
        Ok(())
    }

    /// Acknowledges `ids` of `key` in one round trip (safe to repeat after a reconnect).
    pub(super) fn ack(&mut self, key: &str, ids: &[StreamId]) -> Result<()> {
        let group = &self.settings.group;
        let mut cmd = redis::cmd("XACK");
        cmd.arg(key).arg(group);
        for id in ids {
            cmd.arg(id.to_string());
        }
        self.link
            .call(&format!("XACK {key} {group}"), |con| cmd.query::<i64>(con))?;
        Ok(())
    }

    /// Writes a poison message to the dead-letter stream; the caller then acknowledges it.
    fn dead_letter(&mut self, message: &Message, reason: &str) -> Result<()> {
        self.dead_letter_with(message, reason, None)
    }

    /// Writes a dead letter, with the handler's last stderr as field `stderr` when given.
    pub(super) fn dead_letter_with(
        &mut self,
        message: &Message,
        reason: &str,
        stderr: Option<&[u8]>,
    ) -> Result<()> {
        let settings = self.settings;
        let key = settings
            .dead_letter
            .clone()
            .unwrap_or_else(|| format!("{}:dead", message.stream));
        let mut cmd = redis::cmd("XADD");
        cmd.arg(&key).arg("*");
        for (name, value) in poison::dead_letter_fields(message, reason, &settings.name) {
            cmd.arg(name).arg(value);
        }
        if let Some(stderr) = stderr {
            cmd.arg("stderr").arg(stderr);
        }
        let link = if self.target.is_cluster() {
            // `<stream>:dead` hashes to its own slot, likely on another node.
            match self.dead_links.entry(key.clone()) {
                Entry::Occupied(link) => link.into_mut(),
                Entry::Vacant(slot) => {
                    let mut link = Link::open(&self.target, &key, settings.retry_for)?;
                    link.stop_on(self.shutdown);
                    if let Some(meter) = &settings.meter {
                        link.report_to(meter.health());
                    }
                    slot.insert(link)
                }
            }
        } else {
            &mut self.link
        };
        write_once(link, &key, &cmd, message)?;
        eprintln!(
            "{}: {} {} went to {key}: {reason}",
            settings.name, message.stream, message.id
        );
        self.summary.dead_lettered += 1;
        self.counted(&message.stream, Outcome::DeadLettered, 1);
        Ok(())
    }
}

/// Sends the dead-letter XADD `cmd` to `key` exactly once, across breaks: after a reconnect it
/// first looks whether the attempt that broke had landed (an XADD with `*` repeated blindly
/// writes a second dead letter). A refusal by the server is [`Error::DeadLetter`].
fn write_once(link: &mut Link, key: &str, cmd: &redis::Cmd, message: &Message) -> Result<()> {
    let what = format!("XADD {key}");
    loop {
        let err = match cmd.query::<Value>(link.con()) {
            Ok(_) => {
                link.settled();
                return Ok(());
            }
            Err(err) => err,
        };
        if has_code(&err, "LOADING") {
            // A restarted server loading its data: it will take the write in a moment.
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        match link.ride_out(&what, &err) {
            Ok(()) if landed(link, key, message)? => return Ok(()),
            Ok(()) => {}
            Err(Error::Server { reason, .. } | Error::Refused { reason, .. }) => {
                return Err(Error::DeadLetter {
                    key: key.to_string(),
                    entry: format!("{} {}", message.stream, message.id),
                    reason,
                });
            }
            Err(other) => return Err(other),
        }
    }
}

/// Whether the dead-letter stream `key` already holds a dead letter of `message`, among its
/// newest entries (a dead letter that landed just before a break is among the last written).
fn landed(link: &mut Link, key: &str, message: &Message) -> Result<bool> {
    /// How far back to look: far more dead letters than other consumers write in a break.
    const LOOK_BACK: u64 = 10_000;
    let (stream, id) = (message.stream.as_bytes(), message.id.to_string());
    let mut found = false;
    queries::range_pages(
        link,
        key,
        ("-", "+"),
        Direction::Backward,
        1000,
        Some(LOOK_BACK),
        |page| {
            found = page.iter().any(|dead| {
                dead.field("stream") == Some(stream) && dead.field("id") == Some(id.as_bytes())
            });
            Ok(!found)
        },
    )?;
    Ok(found)
}

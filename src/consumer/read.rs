//! Where messages are read: the consumer's own pending list first, then new entries, each read
//! asking for as many as fit in memory.
//!
//! ```text
//! XREADGROUP GROUP mygroup alice COUNT n STREAMS chennai 0            own pending first
//! XREADGROUP GROUP mygroup alice COUNT n BLOCK 1000 STREAMS chennai >   then new ones
//! ```
//!
//! COUNT starts at 1 and doubles while replies stay small, up to `--batch`; a reply of more
//! than [`queries::REPLY_BUDGET`] halves it. A day of readings reaches `--batch` within a few reads, and a
//! stream of 5 MB entries is read a few at a time instead of `--batch` at once.
//!
//! The hot path: new messages are read on the link's plain connection, the reply straight from
//! the bytes (`server::resp`), no generic value tree; with `--delay 0` and no handler, the XACK
//! of what was just printed goes out in the same write: one round trip per batch. An error
//! answer is asked again on the ordinary path, which knows what to do about it (NOGROUP, MOVED).
//!
//! ```text
//! XACK chennai mygroup 1534291200000-0 ... ; XREADGROUP ... STREAMS chennai >   one write
//! ```

use std::io::Write;
use std::time::Duration;

use redis::Value;

use super::{Consumer, Source, group};
use crate::error::Result;
use crate::message::Message;
use crate::server::raw::RawError;
use crate::server::resp::{self, ReadReply, Simple};
use crate::server::target::has_code;
use crate::server::{entries, queries};
use crate::stream_id::StreamId;

impl<W: Write> Consumer<'_, W> {
    /// Re-processes what this consumer had read but not acknowledged (after a crash or a broken
    /// connection), reading its pending list with ID `0` and moving on from the last one seen.
    pub(super) fn recover_pending(&mut self) -> Result<()> {
        // What was printed is done: acknowledged first, so it is not read again as pending.
        self.flush_acks()?;
        let mut from = vec![StreamId::ZERO; self.streams.len()];
        let mut open = vec![true; self.streams.len()];
        while open.iter().any(|o| *o) && !self.shutdown.is_requested() {
            let keys: Vec<usize> = (0..self.streams.len()).filter(|i| open[*i]).collect();
            let ids: Vec<String> = keys.iter().map(|i| from[*i].to_string()).collect();
            let reply = self.read_raw(&keys, &ids, None)?;
            let mut messages = self.decode(reply)?;
            for index in &keys {
                let last = messages
                    .iter()
                    .filter(|m| *m.stream == *self.streams[*index])
                    .map(|m| m.id)
                    .max();
                match last {
                    Some(last) => from[*index] = last,
                    None => open[*index] = false,
                }
            }
            if messages.is_empty() {
                break;
            }
            group::fill_deliveries(
                &mut self.link,
                &self.settings.group,
                &self.settings.name,
                &mut messages,
            )?;
            self.handle(messages, Source::OwnPending)?;
        }
        Ok(())
    }

    /// Reads from every stream at `id` (`>` for new messages), re-creating a vanished group and
    /// reconnecting a broken connection as needed.
    pub(super) fn read(&mut self, id: &str, block: Duration) -> Result<Vec<Message>> {
        let keys: Vec<usize> = (0..self.streams.len()).collect();
        let ids = vec![id.to_string(); keys.len()];
        // BLOCK 0 would mean "for ever": never ask for less than a millisecond.
        let block = block.max(Duration::from_millis(1));
        if id == ">"
            && let Some(messages) = self.read_fast(block)?
        {
            return Ok(messages);
        }
        let reply = self.read_raw(&keys, &ids, Some(block))?;
        self.decode(reply)
    }

    /// Whether acks wait for the next read, to go out in its write: `--delay 0`, no handler
    /// (a handler's or a slow message's ack goes out at once).
    pub(super) fn defers_acks(&self) -> bool {
        let settings = self.settings;
        settings.delay.is_zero() && settings.exec.is_none() && settings.pipe.is_none()
    }

    /// XACK of what was printed, and XREADGROUP of new messages, in one write on the link's
    /// plain connection; `None` when the ordinary path must serve (over TLS, or to judge an
    /// error answer).
    fn read_fast(&mut self, block: Duration) -> Result<Option<Vec<Message>>> {
        let settings = self.settings;
        let mut packed = Vec::with_capacity(64 + 24 * self.deferred.len());
        let mut acks = 0;
        for run in self.deferred.chunk_by(|a, b| a.0 == b.0) {
            let mut cmd = redis::cmd("XACK");
            cmd.arg(&*run[0].0).arg(&settings.group);
            for (_, id, _) in run {
                cmd.arg(id.to_string());
            }
            cmd.write_packed_command(&mut packed);
            acks += 1;
        }
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&settings.group)
            .arg(&settings.name)
            .arg("COUNT")
            .arg(self.read_count)
            .arg("BLOCK")
            .arg(block.as_millis() as u64)
            .arg("STREAMS");
        for stream in &self.streams {
            cmd.arg(&**stream);
        }
        for _ in &self.streams {
            cmd.arg(">");
        }
        cmd.write_packed_command(&mut packed);
        let streams = &self.streams;
        let Some(raw) = self.link.raw()? else {
            return Ok(None);
        };
        let mut refused = None;
        let mut landed = false;
        let exchange = raw.send(&packed).map_err(RawError::from).and_then(|()| {
            for _ in 0..acks {
                if let Simple::Error(reason) = raw.receive(resp::simple_reply)? {
                    refused.get_or_insert(reason);
                }
            }
            // Acknowledged now, before the read's reply (which may block for --block).
            landed = refused.is_none();
            if landed && let Some(meter) = &settings.meter {
                for (_, _, since) in &self.deferred {
                    meter.processed_in(since.elapsed());
                }
            }
            raw.receive(|bytes| resp::read_reply(bytes, streams))
        });
        match exchange {
            Ok(reply) => {
                self.link.settled();
                let acked = std::mem::take(&mut self.deferred);
                if refused.is_some() {
                    // The ordinary path asks again, and reports the refusal as it would.
                    self.ack_done(&acked)?;
                }
                match reply {
                    ReadReply::Messages(messages) => {
                        self.adapt_count(&messages);
                        Ok(Some(messages))
                    }
                    ReadReply::Error(_) => Ok(None),
                }
            }
            Err(err) => {
                if landed {
                    self.deferred.clear();
                }
                let what = format!("XREADGROUP on {}", settings.streams.join(" "));
                self.link.raw_failed(&what, err)?;
                // Reconnected: the acks may not have landed (XACK is safe to repeat), and a reply
                // lost with the connection left its entries pending on us, unseen.
                self.recover_pending()?;
                Ok(Some(Vec::new()))
            }
        }
    }

    /// One XREADGROUP; handles NOGROUP/UNBLOCKED and broken connections, returns the raw reply.
    fn read_raw(
        &mut self,
        keys: &[usize],
        ids: &[String],
        block: Option<Duration>,
    ) -> Result<Value> {
        let settings = self.settings;
        let count = self.read_count;
        loop {
            let mut cmd = redis::cmd("XREADGROUP");
            cmd.arg("GROUP")
                .arg(&settings.group)
                .arg(&settings.name)
                .arg("COUNT")
                .arg(count);
            if let Some(block) = block {
                cmd.arg("BLOCK").arg(block.as_millis() as u64);
            }
            cmd.arg("STREAMS");
            for index in keys {
                cmd.arg(&*self.streams[*index]);
            }
            cmd.arg(ids);
            match cmd.query::<Value>(self.link.con()) {
                Ok(reply) => {
                    self.link.settled();
                    return Ok(reply);
                }
                Err(err) if has_code(&err, "NOGROUP") || has_code(&err, "UNBLOCKED") => {
                    for index in keys {
                        let key = &*self.streams[*index];
                        let at = &settings.recreate_at;
                        let again = group::recreate(&mut self.link, key, &settings.group, at)?;
                        eprintln!(
                            "{}: group {} on {key} had vanished; re-created it at {at}: {again} \
                             entries of the stream will be delivered again (duplicates possible; \
                             --recreate-at chooses otherwise)",
                            settings.name, settings.group
                        );
                    }
                }
                Err(err) => {
                    let what = format!("XREADGROUP on {}", settings.streams.join(" "));
                    self.link.ride_out(&what, &err)?;
                    // A reply lost with the connection left its entries pending on us, unseen.
                    if ids.iter().any(|id| id == ">") {
                        self.recover_pending()?;
                    }
                }
            }
        }
    }

    /// The messages of an XREADGROUP reply; the next read's COUNT adapts to their size.
    fn decode(&mut self, reply: Value) -> Result<Vec<Message>> {
        let messages = entries::decode_read(reply, &self.streams)
            .map_err(|e| queries::bad_reply(&self.link, "XREADGROUP", e))?;
        self.adapt_count(&messages);
        Ok(messages)
    }

    /// The next read's COUNT, after a read that returned `messages`.
    fn adapt_count(&mut self, messages: &[Message]) {
        let bytes = messages.iter().map(Message::size).sum();
        self.read_count =
            queries::next_count(self.read_count, messages.len(), bytes, self.max_count());
    }

    /// The most messages one read may ask for: `--batch`, or one at a time with a `--delay`.
    pub(super) fn max_count(&self) -> usize {
        if let Some(exec) = &self.settings.exec {
            // No more than the handlers can take at once: the rest would only wait in hand.
            return exec.jobs.max(1);
        }
        match self.settings.delay.is_zero() {
            true => self.settings.batch.max(1),
            false => 1,
        }
    }
}

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
//! New messages are read on the hot path when there is one (`fast.rs`); an error answer there
//! is asked again here, on the ordinary path, which knows what to do about it (NOGROUP, MOVED).

use std::io::Write;
use std::time::Duration;

use redis::Value;

use super::{Consumer, Source, group};
use crate::error::Result;
use crate::message::Message;
use crate::server::target::has_code;
use crate::server::{cluster, entries, queries};
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
            let mut messages = self.read_all(&keys, &ids, None)?;
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
    pub(super) fn read(&mut self, id: &str, block: Option<Duration>) -> Result<Vec<Message>> {
        let keys: Vec<usize> = (0..self.streams.len()).collect();
        let ids = vec![id.to_string(); keys.len()];
        // BLOCK 0 would mean "for ever": never ask for less than a millisecond.
        let block = block.map(|block| block.max(Duration::from_millis(1)));
        if id == ">"
            && let Some(messages) = self.read_fast(block)?
        {
            return Ok(messages);
        }
        self.read_all(&keys, &ids, block)
    }

    /// The streams of `keys` in groups a read may name together: all of them off a cluster; on
    /// a cluster one group per hash slot (a command on keys of two slots is refused, CROSSSLOT,
    /// even when one node serves both).
    pub(super) fn slot_groups(&self, keys: &[usize]) -> Vec<Vec<usize>> {
        if !self.target.is_cluster() {
            return vec![keys.to_vec()];
        }
        let mut groups: Vec<(u16, Vec<usize>)> = Vec::new();
        for &index in keys {
            let slot = cluster::slot(&self.streams[index]);
            match groups.iter_mut().find(|(s, _)| *s == slot) {
                Some((_, group)) => group.push(index),
                None => groups.push((slot, vec![index])),
            }
        }
        groups.into_iter().map(|(_, group)| group).collect()
    }

    /// Whether reads ask without blocking (one read per slot: a BLOCK on one would hold up the
    /// others), so the caller waits between empty ones.
    pub(super) fn polled(&self) -> bool {
        self.slots > 1
    }

    /// Reads `keys` at `ids` on the ordinary path, one XREADGROUP per slot group (without BLOCK
    /// when there are several), and decodes the replies.
    fn read_all(
        &mut self,
        keys: &[usize],
        ids: &[String],
        block: Option<Duration>,
    ) -> Result<Vec<Message>> {
        let groups = self.slot_groups(keys);
        let block = if groups.len() > 1 { None } else { block };
        let mut messages = Vec::new();
        for group in groups {
            let group_ids: Vec<String> = group
                .iter()
                .map(|i| ids[keys.iter().position(|k| k == i).unwrap_or_default()].clone())
                .collect();
            let reply = self.read_raw(&group, &group_ids, block)?;
            messages.extend(self.decode(reply)?);
        }
        Ok(messages)
    }

    /// Whether acks wait for the next read, to go out in its write: `--delay 0`, no handler
    /// (a handler's or a slow message's ack goes out at once).
    pub(super) fn defers_acks(&self) -> bool {
        let settings = self.settings;
        settings.delay.is_zero() && settings.exec.is_none() && settings.pipe.is_none()
    }

    /// One XREADGROUP; handles NOGROUP/UNBLOCKED and broken connections, returns the raw reply.
    fn read_raw(
        &mut self,
        keys: &[usize],
        ids: &[String],
        block: Option<Duration>,
    ) -> Result<Value> {
        let settings = self.settings;
        loop {
            let cmd = self.xreadgroup(keys, ids, block);
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

    /// `XREADGROUP GROUP g name COUNT n [BLOCK ms] STREAMS <keys> <ids>` for the streams of
    /// `keys` at `ids` (an ID each, or one for all: `>`).
    pub(super) fn xreadgroup<S: AsRef<str>>(
        &self,
        keys: &[usize],
        ids: &[S],
        block: Option<Duration>,
    ) -> redis::Cmd {
        let settings = self.settings;
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&settings.group)
            .arg(&settings.name)
            .arg("COUNT")
            .arg(self.read_count);
        if let Some(block) = block {
            cmd.arg("BLOCK").arg(block.as_millis() as u64);
        }
        cmd.arg("STREAMS");
        for index in keys {
            cmd.arg(&*self.streams[*index]);
        }
        for index in 0..keys.len() {
            cmd.arg(ids.get(index).or(ids.first()).map_or("", |id| id.as_ref()));
        }
        cmd
    }

    /// The messages of an XREADGROUP reply; the next read's COUNT adapts to their size.
    fn decode(&mut self, reply: Value) -> Result<Vec<Message>> {
        let messages = entries::decode_read(reply, &self.streams)
            .map_err(|e| queries::bad_reply(&self.link, "XREADGROUP", e))?;
        self.adapt_count(&messages);
        Ok(messages)
    }

    /// The next read's COUNT, after a read that returned `messages`.
    pub(super) fn adapt_count(&mut self, messages: &[Message]) {
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

//! Where a message is processed and acknowledged: poison to the dead-letter stream, `--delay`,
//! one write of the batch's lines, then XACK in one round trip per stream.
//!
//! ```text
//! XADD chennai:dead * stream chennai id 1534291200000-0 reason ... field:temperature abc
//! XACK chennai mygroup 1534291200000-0 1534291201000-0 ...
//! ```

use std::collections::hash_map::Entry;
use std::io::Write;
use std::sync::Arc;

use redis::Value;

use super::{Consumer, Source, poison};
use crate::error::Result;
use crate::message::{self, Message};
use crate::server::Link;
use crate::stream_id::StreamId;

impl<W: Write> Consumer<'_, W> {
    /// Processes messages: dead-letters poison, waits `--delay`, prints, then acknowledges.
    pub(super) fn handle(&mut self, messages: Vec<Message>, source: Source) -> Result<()> {
        match source {
            Source::New => {}
            Source::OwnPending => self.summary.recovered += messages.len() as u64,
            Source::Claimed => self.summary.claimed += messages.len() as u64,
        }
        if self.settings.delay.is_zero() {
            return self.handle_batch(messages);
        }
        for message in messages {
            self.handle_batch(vec![message])?;
        }
        Ok(())
    }

    /// Handles messages as one batch: one write of their lines, one round trip of XACKs.
    fn handle_batch(&mut self, messages: Vec<Message>) -> Result<()> {
        let settings = self.settings;
        self.buffer.clear();
        let mut done: Vec<(Arc<str>, StreamId)> = Vec::with_capacity(messages.len());
        for message in &messages {
            if message.fields.is_none() {
                self.summary.deleted += 1;
            } else if let Some(reason) = poison::verdict(message, settings.max_deliveries) {
                self.dead_letter(message, &reason)?;
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
            }
            done.push((Arc::clone(&message.stream), message.id));
        }
        if !self.buffer.is_empty() {
            self.out.write_all(&self.buffer)?;
            self.out.flush()?;
        }
        let mut start = 0;
        while start < done.len() {
            let stream = Arc::clone(&done[start].0);
            let end = start
                + done[start..]
                    .iter()
                    .take_while(|(s, _)| *s == stream)
                    .count();
            let ids: Vec<StreamId> = done[start..end].iter().map(|(_, id)| *id).collect();
            self.ack(&stream, &ids)?;
            start = end;
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
        if let (Some(index), Some(max)) = (
            self.streams.iter().position(|s| **s == *key),
            ids.iter().max(),
        ) {
            let last = &mut self.last_acked[index];
            *last = (*last).max(Some(*max));
        }
        Ok(())
    }

    /// Writes a poison message to the dead-letter stream; the caller then acknowledges it.
    fn dead_letter(&mut self, message: &Message, reason: &str) -> Result<()> {
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
        let what = format!("XADD {key}");
        if self.target.is_cluster() {
            // `<stream>:dead` hashes to its own slot, likely on another node.
            let link = match self.dead_links.entry(key.clone()) {
                Entry::Occupied(link) => link.into_mut(),
                Entry::Vacant(slot) => {
                    slot.insert(Link::open(&self.target, &key, settings.retry_for)?)
                }
            };
            link.call(&what, |con| cmd.query::<Value>(con))?;
        } else {
            self.link.call(&what, |con| cmd.query::<Value>(con))?;
        }
        eprintln!(
            "{}: {} {} went to {key}: {reason}",
            settings.name, message.stream, message.id
        );
        self.summary.dead_lettered += 1;
        Ok(())
    }
}

//! Where entries are taken over from dead consumers, and where entries in hand are kept from
//! looking idle to the living ones.
//!
//! ```text
//! XAUTOCLAIM chennai mygroup alice 30000 0-0 COUNT n     a step: n it can finish in time
//! EVAL <check and XCLAIM JUSTID> 1 chennai mygroup alice 1-0 2-0 ...   every --claim-idle/3
//! ```
//!
//! A sweep takes a step of entries, processes them, and only then takes the next step: taking a
//! whole idle backlog at once and working through it slowly let it go idle again, and other
//! consumers took it back (processed twice, and dead-lettered as over-delivered). While a message
//! waits in hand, its consumer re-claims what it holds every `--claim-idle`/3, so none of it
//! looks idle; what it finds taken by another consumer it drops.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use super::{Consumer, Source, group};
use crate::error::Result;
use crate::message::Message;
use crate::stream_id::StreamId;

impl<W: Write> Consumer<'_, W> {
    /// Entries one claim step takes: what the consumer can finish well within `--claim-idle`
    /// (half of it, at `--delay` per message), at most a read's worth.
    fn claim_count(&self) -> usize {
        let settings = self.settings;
        let per_message = self.per_message();
        if per_message.is_zero() {
            return settings.batch.max(1);
        }
        let fits = settings.claim_idle.as_nanos() / (per_message.as_nanos() * 2).max(1);
        usize::try_from(fits)
            .unwrap_or(usize::MAX)
            .clamp(1, settings.batch.max(1))
    }

    /// One claim sweep over every stream, step by step (and pruning, when asked); returns what
    /// it took over.
    pub(super) fn claim_and_prune(&mut self) -> Result<u64> {
        let mut taken = 0;
        for index in 0..self.streams.len() {
            let key = Arc::clone(&self.streams[index]);
            let settings = self.settings;
            let mut cursor = StreamId::ZERO;
            let count = self.claim_count();
            loop {
                let step = group::claim_step(
                    &mut self.link,
                    &key,
                    (&settings.group, &settings.name),
                    settings.claim_idle,
                    cursor,
                    count,
                )?;
                if !step.deleted.is_empty() {
                    self.ack(&key, &step.deleted)?;
                    self.summary.deleted += step.deleted.len() as u64;
                    taken += step.deleted.len() as u64;
                }
                if !step.messages.is_empty() {
                    taken += step.messages.len() as u64;
                    self.mark_kept();
                    self.handle(step.messages, Source::Claimed)?;
                }
                if step.next == StreamId::ZERO || self.shutdown.is_requested() {
                    break;
                }
                cursor = step.next;
            }
            if let Some(idle) = settings.prune_idle {
                let pruned =
                    group::prune_idle(&mut self.link, &key, &settings.group, &settings.name, idle)?;
                for name in &pruned {
                    eprintln!(
                        "{}: deleted idle consumer {name} from group {} on {key}",
                        settings.name, settings.group
                    );
                }
                self.summary.pruned += pruned.len() as u64;
            }
        }
        Ok(taken)
    }

    /// The longest one message can take: `--delay`, or the handler timeout with `--exec` or
    /// `--pipe`.
    pub(super) fn per_message(&self) -> std::time::Duration {
        match (&self.settings.exec, &self.settings.pipe) {
            (Some(exec), _) => exec.timeout,
            (_, Some(pipe)) => pipe.timeout,
            _ => self.settings.delay,
        }
    }

    /// Whether what is in hand could look idle to others before the next message is done, with
    /// a third of `--claim-idle` to spare. (Re-claiming at every message would cost a round trip
    /// each: with a handler's timeout of 10 s and a claim time of 30 s, a `--pipe` handler
    /// answered 700 messages a second instead of 250,000.)
    pub(super) fn keep_due(&self) -> bool {
        self.kept_at.elapsed() + self.per_message() >= self.settings.claim_idle * 2 / 3
    }

    /// Notes that every entry in hand was just delivered or re-claimed (idle time 0).
    pub(super) fn mark_kept(&mut self) {
        self.kept_at = Instant::now();
    }

    /// Before the next message of `queue` is worked on: if the entries in hand could otherwise
    /// look idle to others before that message is done, re-claims those still ours and drops
    /// from `queue` those another consumer took meanwhile.
    pub(super) fn keep_in_hand(&mut self, queue: &mut VecDeque<Message>) -> Result<()> {
        let settings = self.settings;
        if queue.is_empty() || !self.keep_due() {
            return Ok(());
        }
        let mut kept: Vec<(Arc<str>, StreamId)> = Vec::with_capacity(queue.len());
        for key in self.streams.clone() {
            let ids: Vec<StreamId> = queue
                .iter()
                .filter(|m| m.stream == key)
                .map(|m| m.id)
                .collect();
            let mine = group::keep_in_hand(
                &mut self.link,
                &key,
                (&settings.group, &settings.name),
                &ids,
            )?;
            kept.extend(mine.into_iter().map(|id| (Arc::clone(&key), id)));
        }
        self.mark_kept();
        let before = queue.len();
        queue.retain(|m| kept.iter().any(|(s, id)| *s == m.stream && *id == m.id));
        let lost = (before - queue.len()) as u64;
        if lost > 0 {
            eprintln!(
                "{}: {lost} entries in hand were taken over by another consumer; dropped",
                settings.name
            );
            self.summary.taken_by_others += lost;
        }
        Ok(())
    }
}

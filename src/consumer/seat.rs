//! What every worker of a consumer shares: its link to the group, its dead letters, where it
//! prints, what it did, and the entries in hand, kept from looking idle to the others.
//!
//! ```text
//! XACK chennai mygroup 1534291200000-0 ...                     what is done
//! XADD chennai:dead * stream chennai id ... reason ...         what is poison or failed for good
//! EVAL <check and XCLAIM JUSTID> 1 chennai mygroup alice ...   what is in hand, every --claim-idle/3
//! ```

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Settings, Summary, poison};
use crate::color::{self, Paint};
use crate::error::{Error, Result};
use crate::message::{Entry, Message};
use crate::metrics::consumer::Outcome;
use crate::server::Batch;
use crate::server::dead::DeadLetters;
use crate::server::group_link::{Done, GroupLink};
use crate::shutdown::Shutdown;
use crate::stream_id::StreamId;

/// The longest wait before a failed run is delivered again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One consumer's shared state; see the module docs.
pub(super) struct Seat<'a, W: Write> {
    /// What it was asked to do.
    pub settings: &'a Settings,
    /// Raised by Ctrl-C/SIGTERM.
    pub shutdown: &'a Shutdown,
    /// Its link to the group: reads, acks, claims.
    pub group: GroupLink,
    /// Where dead letters are written.
    pub dead: DeadLetters,
    /// Where processed messages are printed.
    pub out: W,
    /// A batch's output, written in one go.
    pub buffer: Vec<u8>,
    /// What it did so far.
    pub summary: Summary,
    /// When the entries in hand were last delivered or re-claimed.
    kept_at: Instant,
    /// When failed handler runs are due again (re-delivered from the pending list).
    pub retry_at: Option<Instant>,
}

impl<'a, W: Write> Seat<'a, W> {
    /// A seat on `group`, writing dead letters with `dead` and output to `out`.
    pub fn new(
        settings: &'a Settings,
        shutdown: &'a Shutdown,
        (group, dead): (GroupLink, DeadLetters),
        out: W,
    ) -> Self {
        Seat {
            settings,
            shutdown,
            group,
            dead,
            out,
            buffer: Vec::with_capacity(64 * 1024),
            summary: Summary::default(),
            kept_at: Instant::now(),
            retry_at: None,
        }
    }

    /// Counts `n` messages of `stream` that ended in `outcome`, for `--metrics`.
    pub fn counted(&self, stream: &str, outcome: Outcome, n: u64) {
        if let Some(meter) = &self.settings.meter {
            meter.count(stream, outcome, n);
        }
    }

    /// Acknowledges `done` now (with whatever waited for the next read).
    pub fn ack(&mut self, done: &[Done]) -> Result<()> {
        self.group.ack(done)
    }

    /// Why `entry` is not processed, if it is poison.
    pub fn poison(&self, entry: &Entry<'_>) -> Option<String> {
        poison::verdict(entry, self.settings.max_deliveries, &self.settings.require)
    }

    /// Writes a dead letter of `entry` (with the handler's last stderr when given), once; the
    /// caller then acknowledges the entry.
    pub fn dead_letter(
        &mut self,
        entry: &Entry<'_>,
        reason: &str,
        stderr: Option<&[u8]>,
    ) -> Result<()> {
        let key = self.settings.dead_letter_key(entry.stream);
        let mut fields = poison::dead_letter_fields(entry, reason, &self.settings.name);
        if let Some(stderr) = stderr {
            fields.push((b"stderr".to_vec(), stderr.to_vec()));
        }
        self.dead.write(&key, &fields, (entry.stream, entry.id))?;
        let line = format!(
            "{}: {} {} went to {key}: {reason}",
            self.settings.name, entry.stream, entry.id
        );
        eprintln!("{}", color::stderr(Paint::DeadLetter, &line));
        self.summary.dead_lettered += 1;
        *self
            .summary
            .dead_reasons
            .entry(poison::class(reason))
            .or_default() += 1;
        self.counted(entry.stream, Outcome::DeadLettered, 1);
        Ok(())
    }

    /// Entries no handler gets: deleted ones are counted, poison is dead-lettered; all are
    /// acknowledged. A refused dead letter leaves its entry pending and is the error, once the
    /// others are acknowledged; so does one that too few replicas confirmed (`--wait-replicas`),
    /// and the entries after it stay pending too (each would wait as long).
    pub fn set_aside(&mut self, entries: &Batch) -> Result<()> {
        let now = Instant::now();
        let mut done = Vec::with_capacity(entries.len());
        let mut refused = None;
        for entry in entries.iter() {
            match self.poison(&entry) {
                _ if entry.fields.is_none() => self.summary.deleted += 1,
                Some(reason) => match self.dead_letter(&entry, &reason, None) {
                    Ok(()) => {}
                    Err(err @ Error::DeadLetter { .. }) => {
                        refused.get_or_insert(err);
                        continue;
                    }
                    Err(err @ Error::NotReplicated { .. }) => {
                        refused = Some(err);
                        break;
                    }
                    Err(err) => return Err(err),
                },
                None => {}
            }
            done.push((Arc::clone(entry.stream), entry.id, now));
        }
        self.ack(&done)?;
        refused.map_or(Ok(()), Err)
    }

    /// A failed handler run of `message` (`--exec` or `--pipe`): dead-lettered (with the
    /// handler's stderr, when there is one) and marked done when it was the last delivery
    /// allowed; else left pending for a retry through the server after a backoff. Returns
    /// whether it will be retried.
    pub fn failed_delivery(
        &mut self,
        message: &Message,
        reason: &str,
        stderr: Option<&[u8]>,
        (since, done): (Instant, &mut Vec<Done>),
    ) -> Result<bool> {
        self.summary.failed += 1;
        self.counted(&message.stream, Outcome::Failed, 1);
        if message.deliveries >= self.settings.max_deliveries {
            self.dead_letter(&message.entry(), reason, stderr)?;
            done.push((Arc::clone(&message.stream), message.id, since));
            return Ok(false);
        }
        let at = Instant::now() + backoff(message.deliveries, self.settings.claim_idle);
        self.retry_at = Some(self.retry_at.map_or(at, |due| due.min(at)));
        Ok(true)
    }

    /// Whether what is in hand could look idle to others before the next message is done
    /// (one taking up to `per_message`), with a third of `--claim-idle` to spare. (Re-claiming
    /// at every message would cost a round trip each: with a handler's timeout of 10 s and a
    /// claim time of 30 s, a `--pipe` handler answered 700 messages a second instead of
    /// 250,000.)
    pub fn keep_due(&self, per_message: Duration) -> bool {
        self.kept_at.elapsed() + per_message >= self.settings.claim_idle * 2 / 3
    }

    /// Notes that every entry in hand was just delivered or re-claimed (idle time 0).
    pub fn mark_kept(&mut self) {
        self.kept_at = Instant::now();
    }

    /// Before the next message of `queue` is worked on (one taking up to `per_message`): if
    /// the entries in hand could otherwise look idle to others before it is done, re-claims
    /// those still ours (with what a read sent ahead brought) and drops from `queue` those
    /// another consumer took meanwhile.
    pub fn keep_in_hand(
        &mut self,
        queue: &mut VecDeque<Message>,
        per_message: Duration,
    ) -> Result<()> {
        if queue.is_empty() || !self.keep_due(per_message) {
            return Ok(());
        }
        let mut kept: Vec<(Arc<str>, StreamId)> = Vec::with_capacity(queue.len());
        for key in self.group.streams().to_vec() {
            let ids: Vec<StreamId> = queue
                .iter()
                .filter(|m| m.stream == key)
                .map(|m| m.id)
                .collect();
            let mine = self.group.reclaim_own(&key, &ids)?;
            kept.extend(mine.into_iter().map(|id| (Arc::clone(&key), id)));
        }
        // What a read sent ahead brought waits its turn behind the queue: kept too.
        let lost_ahead = self.group.keep_read_ahead()?;
        self.mark_kept();
        let before = queue.len();
        queue.retain(|m| kept.iter().any(|(s, id)| *s == m.stream && *id == m.id));
        let lost = (before - queue.len()) as u64 + lost_ahead;
        if lost > 0 {
            let line = format!(
                "{}: {lost} entries in hand were taken over by another consumer; dropped",
                self.settings.name
            );
            eprintln!("{}", color::stderr(Paint::Claim, &line));
            self.summary.taken_by_others += lost;
        }
        Ok(())
    }

    /// Writes what the batch printed (its lines, in one write) and flushes.
    pub fn write_out(&mut self) -> Result<()> {
        if !self.buffer.is_empty() {
            self.out.write_all(&self.buffer)?;
            self.out.flush()?;
            self.buffer.clear();
        }
        Ok(())
    }
}

/// The wait before delivery `deliveries + 1` of a failed message: doubling from 100 ms, at most
/// [`MAX_BACKOFF`], and below a third of `--claim-idle` (the entry waits pending on this
/// consumer; a re-delivery keeps it from looking idle to the others).
fn backoff(deliveries: u64, claim_idle: Duration) -> Duration {
    let doubled = Duration::from_millis(100) * 2u32.pow((deliveries.clamp(1, 16) - 1) as u32);
    doubled.min(MAX_BACKOFF).min(claim_idle / 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Retries back off by doubling, capped, and always below a third of --claim-idle.
    #[test]
    fn backoff_doubles_with_a_cap() {
        let idle = Duration::from_secs(30);
        assert_eq!(backoff(1, idle), Duration::from_millis(100));
        assert_eq!(backoff(3, idle), Duration::from_millis(400));
        assert_eq!(backoff(12, idle), MAX_BACKOFF);
        assert_eq!(backoff(12, Duration::from_secs(3)), Duration::from_secs(1));
    }
}

//! Where entries are taken over from dead consumers, and idle consumers pruned.
//!
//! ```text
//! XAUTOCLAIM chennai mygroup alice 30000 0-0 COUNT n     a step: n it can finish in time
//! ```
//!
//! A sweep takes a step of entries, processes them, and only then takes the next step: taking a
//! whole idle backlog at once and working through it slowly let it go idle again, and other
//! consumers took it back (processed twice, and dead-lettered as over-delivered).

use std::io::Write;
use std::sync::Arc;

use super::consume::{Consumer, Source};
use crate::error::Result;
use crate::stream_id::StreamId;

impl<'a, W: Write + 'a> Consumer<'a, W> {
    /// Entries one claim step takes: what the consumer can finish well within `--claim-idle`
    /// (half of it, at the worker's time per message), at most a read's worth.
    fn claim_count(&self) -> usize {
        let settings = self.seat.settings;
        let batch = settings.batch.max(1);
        let per_message = self.worker.per_message();
        if per_message.is_zero() {
            return batch;
        }
        let fits = settings.claim_idle.as_nanos() / (per_message.as_nanos() * 2).max(1);
        usize::try_from(fits).unwrap_or(usize::MAX).clamp(1, batch)
    }

    /// One claim sweep over every stream, step by step (and pruning, when asked); returns what
    /// it took over. What a read in flight brought is processed first, so what another
    /// consumer sees pending is what we really hold.
    pub(super) fn claim_sweep(&mut self) -> Result<u64> {
        self.settle()?;
        let settings = self.seat.settings;
        let count = self.claim_count();
        let mut taken = 0;
        for index in 0..self.seat.group.streams().len() {
            let key = Arc::clone(&self.seat.group.streams()[index]);
            let mut cursor = StreamId::ZERO;
            loop {
                let step = (settings.claim_idle, cursor, count);
                let (next, deleted) = self.seat.group.claim_step(index, step, &mut self.batch)?;
                if !deleted.is_empty() {
                    self.seat.group.ack_gone(index, &deleted)?;
                    self.seat.summary.deleted += deleted.len() as u64;
                    taken += deleted.len() as u64;
                }
                if !self.batch.is_empty() {
                    taken += self.batch.len() as u64;
                    self.seat.mark_kept();
                    self.handle(Source::Claimed)?;
                }
                if next == StreamId::ZERO || self.seat.shutdown.is_requested() {
                    break;
                }
                cursor = next;
            }
            if let Some(idle) = settings.prune_idle {
                let pruned = self.seat.group.prune_idle(index, idle)?;
                for name in &pruned {
                    eprintln!(
                        "{}: deleted idle consumer {name} from group {} on {key}",
                        settings.name, settings.group
                    );
                }
                self.seat.summary.pruned += pruned.len() as u64;
            }
        }
        Ok(taken)
    }
}

//! The consumer's work as a type: one [`Worker`] per mode, chosen once from the
//! [`super::Work`] the command line asked for (`Work::worker` is the one place that matches it). The consume loop asks
//! the worker what it can take and hands it what was read; each worker owns its own state (a
//! `--pipe` handler process, the `--exec` handlers running).

use std::io::Write;
use std::time::Duration;

use super::seat::Seat;
use crate::error::Result;
use crate::server::Batch;

/// What a consumer does with what it reads.
pub(super) trait Worker<W: Write> {
    /// The most entries one read may bring: what the work can take at once (`batch` is
    /// `--batch`).
    fn max_count(&self, batch: usize) -> usize;

    /// The longest one message can take: a claim step takes only what fits within
    /// `--claim-idle`, and what is in hand is re-claimed before it could look idle.
    fn per_message(&self) -> Duration;

    /// Whether the next read goes out as soon as a batch arrives (without BLOCK), the batch's
    /// acks riding with a later read: print mode without `--delay`, where nothing else waits,
    /// and `--pipe` and `--exec`, whose handlers work meanwhile (what a read brings is kept in
    /// hand until it is handed over: [`Seat::keep_in_hand`]).
    fn reads_ahead(&self) -> bool;

    /// Messages with the handlers now (running, or sent and not answered), for the progress
    /// line; nothing in print mode.
    fn in_flight(&self) -> usize {
        0
    }

    /// Processes `batch`: every entry ends acknowledged (done or dead-lettered), or pending on
    /// us for a retry, or dropped because another consumer took it.
    /// (A worker that is [`Worker::busy`] may return before it is all done.)
    fn handle(&mut self, seat: &mut Seat<'_, W>, batch: &Batch) -> Result<()>;

    /// Whether work is still under way after [`Worker::handle`] returned (`--exec` handlers
    /// running): the loop's next read then does not block, and an empty one waits in
    /// [`Worker::wait`] instead.
    fn busy(&self) -> bool {
        false
    }

    /// Waits up to `limit` for work under way to end, settling what ended (and starting what
    /// that left to do).
    fn wait(&mut self, _seat: &mut Seat<'_, W>, _limit: Duration) -> Result<()> {
        Ok(())
    }

    /// Lets the work under way end and settles it: before anything that must see the pending
    /// list as it is (recovery, a claim sweep, `--idle-exit`, a stop).
    fn finish(&mut self, _seat: &mut Seat<'_, W>) -> Result<()> {
        Ok(())
    }

    /// Ends the work when the consumer stops (a `--pipe` handler's last output is passed on).
    fn close(&mut self, _seat: &mut Seat<'_, W>) -> Result<()> {
        Ok(())
    }
}

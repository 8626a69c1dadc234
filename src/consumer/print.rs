//! Print mode: each message is printed (after `--delay`, the simulated work) and then
//! acknowledged; poison goes to the dead letters.
//!
//! ```text
//! alice chennai 1534291200000-0 2018-08-15T00:00:00Z sensor=1 temperature=27.4 humidity=71
//! ```
//!
//! Without `--delay` a batch is printed in one write and its XACK rides with a later read (see
//! [`crate::server::group_link`]): the ack means "written to stdout". With a `--delay`,
//! messages are taken one at a time (so consumers share the work) and each is acknowledged as
//! soon as it is printed.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::seat::Seat;
use super::worker::Worker;
use crate::error::{Error, Result};
use crate::message::{self, Entry};
use crate::metrics::consumer::Outcome;
use crate::server::Batch;
use crate::server::group_link::Done;

/// Print mode.
pub(super) struct Printer {
    /// The simulated work per message.
    delay: Duration,
    /// JSON lines instead of human lines.
    json: bool,
}

impl Printer {
    /// Prints after `delay` each, as JSON with `json`.
    pub fn new(delay: Duration, json: bool) -> Self {
        Printer { delay, json }
    }

    /// Prints the entries of `entries` (dead-lettering poison) and returns what is done.
    ///
    /// A dead letter the server refuses to take leaves its entry pending (nothing is lost) and
    /// stops the consumer with that refusal, once the batch's valid entries are processed.
    fn print<'e, W: Write>(
        &self,
        seat: &mut Seat<'_, W>,
        entries: impl Iterator<Item = Entry<'e>>,
    ) -> Result<(Vec<Done>, Option<Error>)> {
        let started = Instant::now();
        let mut done = Vec::new();
        let mut refused = None;
        for entry in entries {
            if entry.fields.is_none() {
                seat.summary.deleted += 1;
            } else if let Some(reason) = seat.poison(&entry) {
                match seat.dead_letter(&entry, &reason, None) {
                    Ok(()) => {}
                    Err(err @ Error::DeadLetter { .. }) => {
                        refused.get_or_insert(err);
                        continue;
                    }
                    Err(err) => return Err(err),
                }
            } else {
                if !self.delay.is_zero() {
                    std::thread::sleep(self.delay);
                }
                if self.json {
                    message::write_json(&mut seat.buffer, &seat.settings.name, &entry);
                } else {
                    message::write_line(&mut seat.buffer, &seat.settings.name, &entry);
                }
                seat.summary.processed += 1;
                seat.counted(entry.stream, Outcome::Acked, 1);
            }
            done.push((Arc::clone(entry.stream), entry.id, started));
        }
        seat.write_out()?;
        Ok((done, refused))
    }
}

impl<W: Write> Worker<W> for Printer {
    fn max_count(&self, batch: usize) -> usize {
        match self.delay.is_zero() {
            true => batch,
            false => 1,
        }
    }

    fn per_message(&self) -> Duration {
        self.delay
    }

    fn reads_ahead(&self) -> bool {
        self.delay.is_zero()
    }

    fn handle(&mut self, seat: &mut Seat<'_, W>, batch: &Batch) -> Result<()> {
        if self.delay.is_zero() {
            let (done, refused) = self.print(seat, batch.iter())?;
            // Printed: acknowledged with the next read, in the same write.
            seat.group.ack_later(done);
            return refused.map_or(Ok(()), Err);
        }
        let mut queue = VecDeque::from(batch.to_messages());
        loop {
            seat.keep_in_hand(&mut queue, self.delay)?;
            let Some(message) = queue.pop_front() else {
                return Ok(());
            };
            let (done, refused) = self.print(seat, std::iter::once(message.entry()))?;
            seat.ack(&done)?;
            if let Some(err) = refused {
                return Err(err);
            }
        }
    }
}

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
use crate::template::Template;

/// Print mode.
pub(super) struct Printer {
    /// The simulated work per message.
    delay: Duration,
    /// JSON lines instead of human lines.
    json: bool,
    /// Lines in this shape instead (`--template`).
    template: Option<Template>,
}

impl Printer {
    /// Prints after `delay` each, as JSON with `json`, or in the shape of `template`.
    pub fn new(delay: Duration, json: bool, template: Option<Template>) -> Self {
        Printer {
            delay,
            json,
            template,
        }
    }

    /// Appends `entry` as printed by `consumer`: its line, its JSON line, or its template's.
    fn render(&self, out: &mut Vec<u8>, consumer: &str, entry: &Entry<'_>) {
        match (&self.template, self.json) {
            (Some(template), _) => template.write(out, consumer, entry),
            (None, true) => message::write_json(out, consumer, entry),
            (None, false) => message::write_line(out, consumer, entry),
        }
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
        // A batch's entries know their number: room for all of them at once.
        let mut done = Vec::with_capacity(entries.size_hint().1.unwrap_or(0));
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
                self.render(&mut seat.buffer, &seat.settings.name, &entry);
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

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::counting_alloc::allocations;
    use crate::reading::Weather;
    use crate::schedule::Schedule;
    use crate::server::resp::Framer;

    /// An XREADGROUP reply of `count` entries of a generated day of `chennai`, as the server
    /// sends it.
    fn reply(count: usize) -> Vec<u8> {
        let date = NaiveDate::from_ymd_opt(2018, 8, 15).unwrap();
        let mut out = format!("*1\r\n*2\r\n$7\r\nchennai\r\n*{count}\r\n").into_bytes();
        let bulk = |out: &mut Vec<u8>, text: &str| {
            out.extend_from_slice(format!("${}\r\n{text}\r\n", text.len()).as_bytes());
        };
        let entries = Schedule::day(date, 1000, None, 1).entries(Weather::new(7, 1));
        for (id, reading) in entries.take(count) {
            out.extend_from_slice(b"*2\r\n");
            bulk(&mut out, &id.to_string());
            out.extend_from_slice(b"*6\r\n");
            bulk(&mut out, "sensor");
            bulk(&mut out, &reading.sensor.to_string());
            bulk(&mut out, "temperature");
            bulk(&mut out, &reading.temperature_text());
            bulk(&mut out, "humidity");
            bulk(&mut out, &reading.humidity.to_string());
        }
        out
    }

    /// What the print path does with one reply, counted: frames it as it arrives (in pieces of
    /// 1500 bytes, a packet's worth), reads it into `batch` and renders every entry into `out`
    /// as `printer` does. Returns the allocations that took and how many lines came out.
    fn allocations_to_print(
        printer: &Printer,
        reply: &[u8],
        batch: &mut Batch,
        out: &mut Vec<u8>,
    ) -> (u64, usize) {
        let streams = [Arc::<str>::from("chennai")];
        let before = allocations();
        let mut framer = Framer::default();
        let mut arrived = 0;
        let len = loop {
            arrived = (arrived + 1500).min(reply.len());
            if let Some(len) = framer.scan(&reply[..arrived]).unwrap() {
                break len;
            }
        };
        batch.read_streams(&reply[..len], &streams).unwrap();
        out.clear();
        for entry in batch.iter() {
            printer.render(out, "alice", &entry);
        }
        let lines = out.iter().filter(|&&b| b == b'\n').count();
        (allocations() - before, lines)
    }

    /// Reading and printing a batch, lines or JSON, allocates nothing once the batch and the
    /// output buffer have grown: not per message, not per batch, for 500 entries as for 10.
    #[test]
    fn printing_allocates_nothing_per_message() {
        let (small, large) = (reply(10), reply(500));
        for json in [false, true] {
            let printer = Printer::new(Duration::ZERO, json, None);
            let (mut batch, mut out) = (Batch::new(), Vec::new());
            let (_, lines) = allocations_to_print(&printer, &large, &mut batch, &mut out);
            assert_eq!(lines, 500);
            for (reply, count) in [(&large, 500), (&small, 10), (&large, 500)] {
                let counted = allocations_to_print(&printer, reply, &mut batch, &mut out);
                assert_eq!(counted, (0, count), "json: {json}");
            }
        }
    }
}

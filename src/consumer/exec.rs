//! `--exec CMD`: where a handler program does the work and only its success acks a message.
//!
//! ```text
//! sh -c CMD < {"consumer":"alice","stream":"chennai","id":"...",...}     up to --jobs at once
//! exit 0                                   XACK chennai mygroup <id>
//! exit 3 / killed / past --handler-timeout left pending: delivered again after a backoff
//!                                          (XREADGROUP ... 0, which counts the delivery)
//! the --max-deliveries-th delivery fails   XADD chennai:dead ... reason ... stderr ...; XACK
//! ```
//!
//! Retrying through the server keeps the delivery count on the server, so it survives a restart
//! of the consumer, and what waits for its retry stays pending on this consumer, in hand.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Exec;
use super::handler::{self, Run};
use super::seat::Seat;
use super::worker::Worker;
use crate::error::{Error, Result};
use crate::message::{self, Message};
use crate::metrics::consumer::Outcome;
use crate::server::Batch;
use crate::server::group_link::Done;

/// `--exec`: a handler run per message, `--jobs` at a time.
pub(super) struct ExecWorker {
    exec: Exec,
    /// Whether a handler ever ran (a command that cannot run at all is caught on the first).
    handler_ran: bool,
}

impl ExecWorker {
    /// The worker for `exec`.
    pub fn new(exec: Exec) -> Self {
        ExecWorker {
            exec,
            handler_ran: false,
        }
    }

    /// Runs the handler once for each message, all at once (each on its own thread, which
    /// lives as long as its handler: the handler's parent-death signal follows that thread).
    fn run_handlers(&self, (name, group): (&str, &str), work: &[Message]) -> Result<Vec<Run>> {
        let (command, timeout) = (self.exec.command.as_str(), self.exec.timeout);
        let outcomes: Vec<std::io::Result<Run>> = std::thread::scope(|scope| {
            let runs: Vec<_> = work
                .iter()
                .map(|message| {
                    scope.spawn(move || {
                        let entry = message.entry();
                        let mut input = Vec::with_capacity(256);
                        message::write_json(&mut input, name, &entry);
                        let env = handler::environment(&entry, name, group);
                        handler::run(command, &input, &env, timeout)
                    })
                })
                .collect();
            runs.into_iter()
                .map(|run| {
                    run.join().unwrap_or_else(|_| {
                        Err(std::io::Error::other("a handler's thread panicked"))
                    })
                })
                .collect()
        });
        outcomes
            .into_iter()
            .collect::<std::io::Result<Vec<Run>>>()
            .map_err(|e| Error::Usage(format!("cannot start --exec {command}: {e}")))
    }

    /// Passes the runs' output on, acks what succeeded, dead-letters what failed for the last
    /// time, and schedules a retry for the rest.
    fn settle<W: Write>(
        &mut self,
        seat: &mut Seat<'_, W>,
        work: &[Message],
        (mut runs, since): (Vec<Run>, Instant),
    ) -> Result<()> {
        let settings = seat.settings;
        // A command that cannot run at all (a typo) must not dead-letter a stream: stop before
        // anything is acked.
        if !self.handler_ran
            && let Some(run) = runs.iter().find(|r| r.ended.cannot_run())
        {
            return Err(Error::Usage(format!(
                "--exec {}: the command cannot run ({}: {}); nothing was acknowledged",
                self.exec.command,
                run.ended.reason(),
                String::from_utf8_lossy(run.stderr_tail()).trim()
            )));
        }
        self.handler_ran |= !runs.is_empty();
        let mut done: Vec<Done> = Vec::new();
        for (message, run) in work.iter().zip(&mut runs) {
            // Each handler's output whole, never interleaved inside a line.
            run.pass_on(&mut seat.out, || {
                format!(
                    "{}: {} {}",
                    settings.name,
                    message::word(&message.stream),
                    message.id
                )
            })?;
            if run.ended.is_done() {
                seat.summary.processed += 1;
                seat.counted(&message.stream, Outcome::Acked, 1);
                done.push((Arc::clone(&message.stream), message.id, since));
                continue;
            }
            let reason = run.ended.reason();
            let stderr = Some(run.stderr_tail());
            if seat.failed_delivery(message, &reason, stderr, (since, &mut done))? {
                eprintln!(
                    "{}: {} {} failed ({reason}, delivery {} of {}); it will be delivered again",
                    settings.name,
                    message::word(&message.stream),
                    message.id,
                    message.deliveries,
                    settings.max_deliveries
                );
            }
        }
        seat.out.flush()?;
        seat.ack(&done)
    }
}

impl<W: Write> Worker<W> for ExecWorker {
    fn max_count(&self, _batch: usize) -> usize {
        // No more than the handlers can take at once: the rest would only wait in hand.
        self.exec.jobs.max(1)
    }

    fn per_message(&self) -> Duration {
        self.exec.timeout
    }

    fn reads_ahead(&self) -> bool {
        false
    }

    /// Hands the messages to the handler, `--jobs` at a time, acking each one whose run
    /// succeeded; failed ones stay pending for a retry, or go to the dead letters once their
    /// last allowed delivery failed. A stop asked for ends it between rounds: what was not
    /// started stays pending.
    fn handle(&mut self, seat: &mut Seat<'_, W>, batch: &Batch) -> Result<()> {
        let mut queue = VecDeque::from(batch.to_messages());
        while !queue.is_empty() {
            seat.keep_in_hand(&mut queue, self.exec.timeout)?;
            let round: Vec<Message> = queue.drain(..self.exec.jobs.min(queue.len())).collect();
            // Entries that are deleted (or poison) never reach the handler.
            let mut work = Vec::with_capacity(round.len());
            let mut skipped = Batch::new();
            for message in round {
                let entry = message.entry();
                match entry.fields.is_none() || seat.poison(&entry).is_some() {
                    true => skipped.push(&entry),
                    false => work.push(message),
                }
            }
            if !skipped.is_empty() {
                seat.set_aside(&skipped)?;
            }
            let since = Instant::now();
            let who = (seat.settings.name.as_str(), seat.settings.group.as_str());
            let runs = self.run_handlers(who, &work)?;
            self.settle(seat, &work, (runs, since))?;
            if seat.shutdown.is_requested() {
                break;
            }
        }
        Ok(())
    }
}

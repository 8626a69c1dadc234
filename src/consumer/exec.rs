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

use super::handler::{self, Run};
use super::{Consumer, Done, poison};
use crate::error::{Error, Result};
use crate::message::{self, Message};
use crate::metrics::consumer::Outcome;

/// The longest wait before a failed run is delivered again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl<W: Write> Consumer<'_, W> {
    /// Hands `messages` to the handler, `--jobs` at a time, acking each one whose run
    /// succeeded; failed ones stay pending for a retry, or go to the dead letters once their
    /// last allowed delivery failed. A stop asked for ends it between rounds: what was not
    /// started stays pending.
    pub(super) fn handle_exec(&mut self, messages: Vec<Message>) -> Result<()> {
        let Some(exec) = self.settings.exec.clone() else {
            return Ok(());
        };
        let mut queue = VecDeque::from(messages);
        while !queue.is_empty() {
            self.keep_in_hand(&mut queue)?;
            let round: Vec<Message> = queue.drain(..exec.jobs.min(queue.len())).collect();
            // Entries that are not readings (or were delivered too often) keep the poison
            // rule: they never reach the handler.
            let (poison, work): (Vec<Message>, Vec<Message>) = round.into_iter().partition(|m| {
                m.fields.is_none() || poison::verdict(m, self.settings.max_deliveries).is_some()
            });
            if !poison.is_empty() {
                self.handle_batch(poison)?;
            }
            self.handling_since = Instant::now();
            let runs = self.run_handlers(&exec.command, exec.timeout, &work)?;
            self.settle(&work, runs)?;
            if self.shutdown.is_requested() {
                break;
            }
        }
        Ok(())
    }

    /// Runs the handler once for each message, all at once (each on its own thread, which
    /// lives as long as its handler: the handler's parent-death signal follows that thread).
    fn run_handlers(&self, command: &str, timeout: Duration, work: &[Message]) -> Result<Vec<Run>> {
        let settings = self.settings;
        let outcomes: Vec<std::io::Result<Run>> = std::thread::scope(|scope| {
            let runs: Vec<_> = work
                .iter()
                .map(|message| {
                    scope.spawn(move || {
                        let mut input = Vec::with_capacity(256);
                        message::write_json(&mut input, &settings.name, message);
                        let env = handler::environment(message, &settings.name, &settings.group);
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
    fn settle(&mut self, work: &[Message], runs: Vec<Run>) -> Result<()> {
        let settings = self.settings;
        // A command that cannot run at all (a typo) must not dead-letter a stream: stop before
        // anything is acked.
        if !self.handler_ran
            && let Some(run) = runs.iter().find(|r| r.outcome.cannot_run())
        {
            let command = settings.exec.as_ref().map_or("", |e| e.command.as_str());
            return Err(Error::Usage(format!(
                "--exec {command}: the command cannot run ({}: {}); nothing was acknowledged",
                run.outcome.reason(),
                String::from_utf8_lossy(run.stderr_tail()).trim()
            )));
        }
        self.handler_ran |= !runs.is_empty();
        let mut done: Vec<Done> = Vec::new();
        for (message, run) in work.iter().zip(&runs) {
            // Each handler's output whole, never interleaved inside a line.
            if !run.stdout.is_empty() {
                self.out.write_all(&run.stdout)?;
                if !run.stdout.ends_with(b"\n") {
                    self.out.write_all(b"\n")?;
                }
            }
            if !run.stderr.is_empty() {
                let _ = std::io::stderr().write_all(&run.stderr);
            }
            if run.outcome.is_done() {
                self.summary.processed += 1;
                self.counted(&message.stream, Outcome::Acked, 1);
                done.push((Arc::clone(&message.stream), message.id, self.handling_since));
                continue;
            }
            let reason = run.outcome.reason();
            let since = self.handling_since;
            let stderr = Some(run.stderr_tail());
            if self.failed_delivery(message, &reason, stderr, since, &mut done)? {
                eprintln!(
                    "{}: {} {} failed ({reason}, delivery {} of {}); it will be delivered again",
                    settings.name,
                    message.stream,
                    message.id,
                    message.deliveries,
                    settings.max_deliveries
                );
            }
        }
        self.out.flush()?;
        self.ack_done(&done)
    }

    /// A failed handler run of `message` (`--exec` or `--pipe`): dead-lettered (with the
    /// handler's stderr, when there is one) and marked done when it was the last delivery
    /// allowed; else left pending for a retry through the server after a backoff. Returns
    /// whether it will be retried.
    pub(super) fn failed_delivery(
        &mut self,
        message: &Message,
        reason: &str,
        stderr: Option<&[u8]>,
        since: Instant,
        done: &mut Vec<Done>,
    ) -> Result<bool> {
        self.summary.failed += 1;
        self.counted(&message.stream, Outcome::Failed, 1);
        if message.deliveries >= self.settings.max_deliveries {
            self.dead_letter_with(message, reason, stderr)?;
            done.push((Arc::clone(&message.stream), message.id, since));
            return Ok(false);
        }
        let at = Instant::now() + backoff(message.deliveries, self.settings.claim_idle);
        self.retry_at = Some(self.retry_at.map_or(at, |due| due.min(at)));
        Ok(true)
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

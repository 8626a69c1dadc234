//! `--pipe CMD`: one long-running handler that answers for each message it was sent.
//!
//! ```text
//! consumer -> handler stdin:   alice chennai 1534291200000-0 2018-08-15T00:00:00Z sensor=1 ...
//!                              (or the JSON object with --json), up to --in-flight unanswered
//! handler stdout -> consumer:  ack chennai 1534291200000-0            done: XACK (in batches)
//!                              fail chennai 1534291200000-0 REASON... a failed delivery
//!                              any other line                       passed on to stdout
//! ```
//!
//! A message is acknowledged only after its `ack` line. If the handler exits (or closes its
//! stdout), it is started again and sent every message it had not answered; its death counts as
//! a failed delivery only for the oldest of them, the one it most likely died on. A message
//! unanswered for `--handler-timeout` counts as failed and the handler is restarted.

mod process;

pub(super) use process::{PipeProcess, ask_once};

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use super::handler::Outcome;
use super::{Consumer, Done, Pipe, poison};
use crate::error::{Error, Result};
use crate::message::{self, Message};
use crate::metrics::consumer::Outcome as Counted;
use process::{Answer, answer};

/// Acks gathered before one XACK goes out.
const ACK_BATCH: usize = 500;

/// The longest pause before a crashed handler is started again.
const MAX_RESTART_PAUSE: Duration = Duration::from_secs(5);

impl<W: Write> Consumer<'_, W> {
    /// Sends `messages` to the `--pipe` handler and settles each by its answer: `ack` acks it,
    /// `fail`, a crash while it was the oldest unanswered, or no answer within the timeout
    /// count as a failed delivery (retried through the server, dead-lettered on the last).
    pub(super) fn handle_pipe(&mut self, messages: Vec<Message>) -> Result<()> {
        let Some(pipe) = self.settings.pipe.clone() else {
            return Ok(());
        };
        let (poison, work): (Vec<Message>, Vec<Message>) = messages.into_iter().partition(|m| {
            m.fields.is_none() || poison::verdict(m, self.settings.max_deliveries).is_some()
        });
        if !poison.is_empty() {
            self.handle_batch(poison)?;
        }
        let mut queue = VecDeque::from(work);
        let mut unanswered: VecDeque<(Message, Instant)> = VecDeque::new();
        let mut done: Vec<Done> = Vec::new();
        loop {
            let stopping = self.shutdown.is_requested();
            // What fits in flight goes out in one write (a write per message capped a quick
            // handler at the cost of the system calls).
            let mut outgoing = Vec::new();
            while !stopping && unanswered.len() < pipe.in_flight {
                let Some(message) = queue.pop_front() else {
                    break;
                };
                outgoing.extend_from_slice(&self.render(&message));
                unanswered.push_back((message, Instant::now()));
            }
            if !outgoing.is_empty() && !self.pipe_process(&pipe)?.send(&outgoing) {
                self.pipe_died(&pipe, &mut unanswered, &mut queue, &mut done)?;
            }
            if unanswered.is_empty() && (queue.is_empty() || stopping) {
                break;
            }
            self.keep_pipe_in_hand(&mut queue, &mut unanswered)?;
            let Some((_, sent)) = unanswered.front() else {
                continue;
            };
            let wait = (*sent + pipe.timeout).saturating_duration_since(Instant::now());
            // Wake at least every third of --claim-idle, to keep what is in hand claimed.
            let wait = wait
                .min(Duration::from_secs(1))
                .min(self.settings.claim_idle / 3);
            let mut heard = match &self.pipe {
                Some(process) => process.lines.try_recv().map_err(|e| match e {
                    TryRecvError::Empty => RecvTimeoutError::Timeout,
                    TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                }),
                None => Err(RecvTimeoutError::Disconnected),
            };
            if heard == Err(RecvTimeoutError::Timeout) {
                // Nothing more to read right now: ack what is done before waiting, so acks go
                // out in batches under load and at once when the handler is slow.
                self.ack_gathered(&mut done)?;
                if let Some(process) = &self.pipe {
                    heard = process.lines.recv_timeout(wait);
                }
            }
            match heard {
                Ok(Some(line)) => self.heard(&line, &mut unanswered, &mut done)?,
                Ok(None) | Err(RecvTimeoutError::Disconnected) => {
                    self.pipe_died(&pipe, &mut unanswered, &mut queue, &mut done)?
                }
                Err(RecvTimeoutError::Timeout) => {
                    if unanswered
                        .front()
                        .is_some_and(|(_, sent)| sent.elapsed() >= pipe.timeout)
                    {
                        self.pipe_timed_out(&pipe, &mut unanswered, &mut queue, &mut done)?;
                    }
                }
            }
            if done.len() >= ACK_BATCH {
                self.ack_gathered(&mut done)?;
            }
        }
        self.out.flush()?;
        self.ack_gathered(&mut done)
    }

    /// Ends the `--pipe` handler when the consumer stops: closes its stdin and passes on what it
    /// still prints until it exits (within the handler timeout).
    pub(super) fn close_pipe(&mut self) -> Result<()> {
        let Some(mut process) = self.pipe.take() else {
            return Ok(());
        };
        drop(process.stdin.take());
        let timeout = self
            .settings
            .pipe
            .as_ref()
            .map_or(Duration::ZERO, |p| p.timeout);
        let deadline = Instant::now() + timeout;
        while let Ok(Some(line)) = process
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if answer(&line).is_none() {
                self.out.write_all(&line)?;
            }
        }
        self.out.flush()?;
        process.stop();
        Ok(())
    }

    /// Acknowledges what the handler acked so far, one XACK per stream, and forgets it.
    fn ack_gathered(&mut self, done: &mut Vec<Done>) -> Result<()> {
        done.sort();
        self.ack_done(done)?;
        done.clear();
        Ok(())
    }

    /// The line a message is sent as: the human line, or the JSON object with `--json`.
    fn render(&self, message: &Message) -> Vec<u8> {
        let mut line = Vec::with_capacity(128);
        match self.settings.json {
            true => message::write_json(&mut line, &self.settings.name, message),
            false => message::write_line(&mut line, &self.settings.name, message),
        }
        line
    }

    /// The running handler, started (again) when there is none.
    fn pipe_process(&mut self, pipe: &Pipe) -> Result<&mut PipeProcess> {
        if self.pipe.is_none() {
            if self.pipe_started && self.pipe_restarts > 1 {
                // Capped backoff over restarts with no answer in between; a handler that
                // answered since its last start is started again at once.
                let pause = Duration::from_millis(50) * 2u32.pow(self.pipe_restarts.min(8));
                self.shutdown.sleep(pause.min(MAX_RESTART_PAUSE));
            }
            let process = PipeProcess::start(&pipe.command)
                .map_err(|e| Error::Usage(format!("cannot start --pipe {}: {e}", pipe.command)))?;
            self.pipe_started = true;
            self.pipe = Some(process);
        }
        self.pipe
            .as_mut()
            .ok_or_else(|| Error::Usage(String::from("the --pipe handler is not running")))
    }

    /// Settles what one stdout line of the handler says.
    fn heard(
        &mut self,
        line: &[u8],
        unanswered: &mut VecDeque<(Message, Instant)>,
        done: &mut Vec<Done>,
    ) -> Result<()> {
        let (stream, id, failure) = match answer(line) {
            Some(Answer::Ack(stream, id)) => (stream, id, None),
            Some(Answer::Fail(stream, id, reason)) => (stream, id, Some(reason)),
            None => {
                self.out.write_all(line)?;
                return Ok(());
            }
        };
        let Some(at) = unanswered
            .iter()
            .position(|(m, _)| *m.stream == *stream && m.id == id)
        else {
            eprintln!(
                "{}: the --pipe handler answered for {stream} {id}, which it was not sent; ignored",
                self.settings.name
            );
            return Ok(());
        };
        let Some((message, sent)) = unanswered.remove(at) else {
            return Ok(());
        };
        self.handler_ran = true;
        self.pipe_restarts = 0;
        match failure {
            None => {
                self.summary.processed += 1;
                self.counted(&message.stream, Counted::Acked, 1);
                done.push((Arc::clone(&message.stream), message.id, sent));
            }
            Some(reason) => {
                let reason = format!("handler failed: {reason}");
                self.failed_delivery(&message, &reason, None, sent, done)?;
            }
        }
        Ok(())
    }

    /// The handler exited or closed its stdout: the oldest unanswered message counts as failed,
    /// the others are sent again to a new handler.
    fn pipe_died(
        &mut self,
        pipe: &Pipe,
        unanswered: &mut VecDeque<(Message, Instant)>,
        queue: &mut VecDeque<Message>,
        done: &mut Vec<Done>,
    ) -> Result<()> {
        let outcome = self
            .pipe
            .take()
            .map_or(Outcome::Exited(-1), |mut p| p.stop());
        if !self.handler_ran && outcome.cannot_run() {
            return Err(Error::Usage(format!(
                "--pipe {}: the command cannot run ({}); nothing was acknowledged",
                pipe.command,
                outcome.reason()
            )));
        }
        let reason = outcome.reason();
        self.restart_after(
            &reason,
            &format!("{reason} while handling it"),
            unanswered,
            queue,
            done,
        )
    }

    /// The oldest unanswered message waited past `--handler-timeout`: it counts as failed, and
    /// the handler is restarted.
    fn pipe_timed_out(
        &mut self,
        pipe: &Pipe,
        unanswered: &mut VecDeque<(Message, Instant)>,
        queue: &mut VecDeque<Message>,
        done: &mut Vec<Done>,
    ) -> Result<()> {
        if let Some(mut process) = self.pipe.take() {
            process.stop();
        }
        let reason = Outcome::TimedOut(pipe.timeout).reason();
        self.restart_after(&reason, &reason, unanswered, queue, done)
    }

    /// After the handler stopped (`why`): counts the restart, fails the oldest unanswered message
    /// with `reason` (the one it most likely stopped on), and queues the others to be sent again
    /// without counting against them.
    fn restart_after(
        &mut self,
        why: &str,
        reason: &str,
        unanswered: &mut VecDeque<(Message, Instant)>,
        queue: &mut VecDeque<Message>,
        done: &mut Vec<Done>,
    ) -> Result<()> {
        self.restarted(why);
        if let Some((oldest, sent)) = unanswered.pop_front() {
            self.failed_delivery(&oldest, reason, None, sent, done)?;
        }
        requeue(unanswered, queue);
        Ok(())
    }

    /// Counts a restart, saying so on stderr the first time.
    fn restarted(&mut self, why: &str) {
        if self.summary.restarts == 0 {
            eprintln!(
                "{}: the --pipe handler stopped ({why}); starting it again and sending what it \
                 had not answered (further restarts are counted in the summary)",
                self.settings.name
            );
        }
        self.summary.restarts += 1;
        self.pipe_restarts += 1;
    }

    /// Keeps everything in hand (queued or unanswered) from looking idle to other consumers.
    fn keep_pipe_in_hand(
        &mut self,
        queue: &mut VecDeque<Message>,
        unanswered: &mut VecDeque<(Message, Instant)>,
    ) -> Result<()> {
        if !self.keep_due() {
            return Ok(());
        }
        let mut all: VecDeque<Message> = unanswered.iter().map(|(m, _)| m.clone()).collect();
        all.extend(queue.iter().cloned());
        let before = all.len();
        self.keep_in_hand(&mut all)?;
        if all.len() < before {
            let kept = |m: &Message| all.iter().any(|k| k.stream == m.stream && k.id == m.id);
            unanswered.retain(|(m, _)| kept(m));
            queue.retain(kept);
        }
        Ok(())
    }
}

/// Puts unanswered messages back at the front of the queue, oldest first, to be sent again
/// (without counting a delivery against them).
fn requeue(unanswered: &mut VecDeque<(Message, Instant)>, queue: &mut VecDeque<Message>) {
    while let Some((message, _)) = unanswered.pop_back() {
        queue.push_front(message);
    }
}

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

pub(super) use process::{PipeProcess, ask_once, finish};

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use super::Pipe;
use super::handler::Ended;
use super::seat::Seat;
use super::worker::Worker;
use crate::error::{Error, Result};
use crate::message::{self, Message};
use crate::metrics::consumer::Outcome;
use crate::server::Batch;
use crate::server::group_link::Done;
use process::{Answer, Said};

/// Acks gathered before one XACK goes out.
const ACK_BATCH: usize = 500;

/// The longest pause before a crashed handler is started again.
const MAX_RESTART_PAUSE: Duration = Duration::from_secs(5);

/// `--pipe`: one long-running handler, started again when it stops.
pub(super) struct PipeWorker {
    pipe: Pipe,
    /// Messages go to the handler as JSON lines (`--json`) instead of human lines.
    json: bool,
    /// The running handler.
    process: Option<PipeProcess>,
    /// Whether a handler was ever started (a restart waits a moment first).
    started: bool,
    /// Restarts since its last answer (the pause before the next).
    restarts: u32,
    /// Whether it ever answered (a command that cannot run at all is caught on the first).
    handler_ran: bool,
}

impl PipeWorker {
    /// The worker for `pipe`, sending JSON lines with `json`.
    pub fn new(pipe: Pipe, json: bool) -> Self {
        PipeWorker {
            pipe,
            json,
            process: None,
            started: false,
            restarts: 0,
            handler_ran: false,
        }
    }
}

impl<W: Write> Worker<W> for PipeWorker {
    fn max_count(&self, batch: usize) -> usize {
        batch
    }

    fn per_message(&self) -> Duration {
        self.pipe.timeout
    }

    fn reads_ahead(&self) -> bool {
        false
    }

    /// Sends the messages to the `--pipe` handler and settles each by its answer: `ack` acks
    /// it, `fail`, a crash while it was the oldest unanswered, or no answer within the timeout
    /// count as a failed delivery (retried through the server, dead-lettered on the last).
    fn handle(&mut self, seat: &mut Seat<'_, W>, batch: &Batch) -> Result<()> {
        let mut skipped = Batch::new();
        let mut work = Vec::with_capacity(batch.len());
        for entry in batch.iter() {
            match entry.fields.is_none() || seat.poison(&entry).is_some() {
                true => skipped.push(&entry),
                false => work.push(entry.to_message()),
            }
        }
        if !skipped.is_empty() {
            seat.set_aside(&skipped)?;
        }
        self.serve(seat, work)
    }

    /// Ends the `--pipe` handler when the consumer stops: closes its stdin and passes on what it
    /// still prints until it exits (within the handler timeout).
    fn close(&mut self, seat: &mut Seat<'_, W>) -> Result<()> {
        match self.process.take() {
            Some(process) => finish(process, self.pipe.timeout, &mut seat.out),
            None => Ok(()),
        }
    }
}

impl PipeWorker {
    /// The handler's side of [`Worker::handle`]: what fits in flight goes out, answers come back.
    fn serve<W: Write>(&mut self, seat: &mut Seat<'_, W>, work: Vec<Message>) -> Result<()> {
        let pipe = self.pipe.clone();
        let mut queue = VecDeque::from(work);
        let mut unanswered: VecDeque<(Message, Instant)> = VecDeque::new();
        let mut done: Vec<Done> = Vec::new();
        loop {
            let stopping = seat.shutdown.is_requested();
            // What fits in flight goes out in one write (a write per message capped a quick
            // handler at the cost of the system calls).
            let mut outgoing = Vec::new();
            while !stopping && unanswered.len() < pipe.in_flight {
                let Some(message) = queue.pop_front() else {
                    break;
                };
                self.render(&seat.settings.name, &message, &mut outgoing);
                unanswered.push_back((message, Instant::now()));
            }
            if !outgoing.is_empty() && !self.process(&pipe, seat)?.send(&outgoing) {
                self.died(seat, &mut unanswered, &mut queue, &mut done)?;
            }
            if unanswered.is_empty() && (queue.is_empty() || stopping) {
                break;
            }
            self.keep_in_hand(seat, &mut queue, &mut unanswered)?;
            let Some((_, sent)) = unanswered.front() else {
                continue;
            };
            let wait = (*sent + pipe.timeout).saturating_duration_since(Instant::now());
            // Wake at least every third of --claim-idle, to keep what is in hand claimed.
            let wait = wait
                .min(Duration::from_secs(1))
                .min(seat.settings.claim_idle / 3);
            let mut heard = match &self.process {
                Some(process) => process.lines.try_recv().map_err(|e| match e {
                    TryRecvError::Empty => RecvTimeoutError::Timeout,
                    TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
                }),
                None => Err(RecvTimeoutError::Disconnected),
            };
            if heard == Err(RecvTimeoutError::Timeout) {
                // Nothing more to read right now: ack what is done before waiting, so acks go
                // out in batches under load and at once when the handler is slow.
                ack_gathered(seat, &mut done)?;
                if let Some(process) = &self.process {
                    heard = process.lines.recv_timeout(wait);
                }
            }
            match heard {
                Ok(Some(line)) => self.heard(seat, &line, &mut unanswered, &mut done)?,
                Ok(None) | Err(RecvTimeoutError::Disconnected) => {
                    self.died(seat, &mut unanswered, &mut queue, &mut done)?
                }
                Err(RecvTimeoutError::Timeout) => {
                    if unanswered
                        .front()
                        .is_some_and(|(_, sent)| sent.elapsed() >= pipe.timeout)
                    {
                        self.timed_out(seat, &mut unanswered, &mut queue, &mut done)?;
                    }
                }
            }
            if done.len() >= ACK_BATCH {
                ack_gathered(seat, &mut done)?;
            }
        }
        seat.out.flush()?;
        ack_gathered(seat, &mut done)
    }

    /// Appends the line a message is sent as: the human line, or the JSON object with `--json`.
    fn render(&self, name: &str, message: &Message, out: &mut Vec<u8>) {
        match self.json {
            true => message::write_json(out, name, &message.entry()),
            false => message::write_line(out, name, &message.entry()),
        }
    }

    /// The running handler, started (again) when there is none.
    fn process<W: Write>(&mut self, pipe: &Pipe, seat: &Seat<'_, W>) -> Result<&mut PipeProcess> {
        if self.process.is_none() {
            if self.started && self.restarts > 1 {
                // Capped backoff over restarts with no answer in between; a handler that
                // answered since its last start is started again at once.
                let pause = Duration::from_millis(50) * 2u32.pow(self.restarts.min(8));
                seat.shutdown.sleep(pause.min(MAX_RESTART_PAUSE));
            }
            let process = PipeProcess::start(&pipe.command)
                .map_err(|e| Error::Usage(format!("cannot start --pipe {}: {e}", pipe.command)))?;
            self.started = true;
            self.process = Some(process);
        }
        self.process
            .as_mut()
            .ok_or_else(|| Error::Usage(String::from("the --pipe handler is not running")))
    }

    /// Settles what one stdout line of the handler says.
    fn heard<W: Write>(
        &mut self,
        seat: &mut Seat<'_, W>,
        said: &Said,
        unanswered: &mut VecDeque<(Message, Instant)>,
        done: &mut Vec<Done>,
    ) -> Result<()> {
        let (stream, id, failure) = match said.answer() {
            Some(Answer::Ack(stream, id)) => (stream, id, None),
            Some(Answer::Fail(stream, id, reason)) => (stream, id, Some(reason)),
            None => {
                seat.out.write_all(&said.bytes)?;
                return Ok(());
            }
        };
        let Some(at) = unanswered
            .iter()
            .position(|(m, _)| *m.stream == *stream && m.id == id)
        else {
            eprintln!(
                "{}: the --pipe handler answered for {} {id}, which it was not sent; ignored",
                seat.settings.name,
                message::word(&stream)
            );
            return Ok(());
        };
        let Some((message, sent)) = unanswered.remove(at) else {
            return Ok(());
        };
        self.handler_ran = true;
        self.restarts = 0;
        match failure {
            None => {
                seat.summary.processed += 1;
                seat.counted(&message.stream, Outcome::Acked, 1);
                done.push((Arc::clone(&message.stream), message.id, sent));
            }
            Some(reason) => {
                let reason = format!("handler failed: {reason}");
                seat.failed_delivery(&message, &reason, None, (sent, done))?;
            }
        }
        Ok(())
    }

    /// The handler exited or closed its stdout: the oldest unanswered message counts as failed,
    /// the others are sent again to a new handler.
    fn died<W: Write>(
        &mut self,
        seat: &mut Seat<'_, W>,
        unanswered: &mut VecDeque<(Message, Instant)>,
        queue: &mut VecDeque<Message>,
        done: &mut Vec<Done>,
    ) -> Result<()> {
        let ended = self
            .process
            .take()
            .map_or(Ended::Exited(-1), |mut p| p.stop());
        if !self.handler_ran && ended.cannot_run() {
            return Err(Error::Usage(format!(
                "--pipe {}: the command cannot run ({}); nothing was acknowledged",
                self.pipe.command,
                ended.reason()
            )));
        }
        let reason = ended.reason();
        let failed = format!("{reason} while handling it");
        self.restart_after(seat, (&reason, &failed), (unanswered, queue), done)
    }

    /// The oldest unanswered message waited past `--handler-timeout`: it counts as failed, and
    /// the handler is restarted.
    fn timed_out<W: Write>(
        &mut self,
        seat: &mut Seat<'_, W>,
        unanswered: &mut VecDeque<(Message, Instant)>,
        queue: &mut VecDeque<Message>,
        done: &mut Vec<Done>,
    ) -> Result<()> {
        if let Some(mut process) = self.process.take() {
            process.stop();
        }
        let reason = Ended::TimedOut(self.pipe.timeout).reason();
        self.restart_after(seat, (&reason, &reason), (unanswered, queue), done)
    }

    /// After the handler stopped (`why`): counts the restart, fails the oldest unanswered message
    /// with `reason` (the one it most likely stopped on), and queues the others to be sent again
    /// without counting against them.
    fn restart_after<W: Write>(
        &mut self,
        seat: &mut Seat<'_, W>,
        (why, reason): (&str, &str),
        (unanswered, queue): (&mut VecDeque<(Message, Instant)>, &mut VecDeque<Message>),
        done: &mut Vec<Done>,
    ) -> Result<()> {
        if seat.summary.restarts == 0 {
            eprintln!(
                "{}: the --pipe handler stopped ({why}); starting it again and sending what it \
                 had not answered (further restarts are counted in the summary)",
                seat.settings.name
            );
        }
        seat.summary.restarts += 1;
        self.restarts += 1;
        if let Some((oldest, sent)) = unanswered.pop_front() {
            seat.failed_delivery(&oldest, reason, None, (sent, done))?;
        }
        requeue(unanswered, queue);
        Ok(())
    }

    /// Keeps everything in hand (queued or unanswered) from looking idle to other consumers.
    fn keep_in_hand<W: Write>(
        &mut self,
        seat: &mut Seat<'_, W>,
        queue: &mut VecDeque<Message>,
        unanswered: &mut VecDeque<(Message, Instant)>,
    ) -> Result<()> {
        if !seat.keep_due(self.pipe.timeout) {
            return Ok(());
        }
        let mut all: VecDeque<Message> = unanswered.iter().map(|(m, _)| m.clone()).collect();
        all.extend(queue.iter().cloned());
        let before = all.len();
        seat.keep_in_hand(&mut all, self.pipe.timeout)?;
        if all.len() < before {
            let kept = |m: &Message| all.iter().any(|k| k.stream == m.stream && k.id == m.id);
            unanswered.retain(|(m, _)| kept(m));
            queue.retain(kept);
        }
        Ok(())
    }
}

/// Acknowledges what the handler acked so far, one XACK per stream, and forgets it.
fn ack_gathered<W: Write>(seat: &mut Seat<'_, W>, done: &mut Vec<Done>) -> Result<()> {
    done.sort();
    seat.ack(done)?;
    done.clear();
    Ok(())
}

/// Puts unanswered messages back at the front of the queue, oldest first, to be sent again
/// (without counting a delivery against them).
fn requeue(unanswered: &mut VecDeque<(Message, Instant)>, queue: &mut VecDeque<Message>) {
    while let Some((message, _)) = unanswered.pop_back() {
        queue.push_front(message);
    }
}

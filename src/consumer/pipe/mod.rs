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
//!
//! The handler is kept busy across reads: a batch is handed over as soon as it fits in flight,
//! and the next read goes out while the handler still works on up to `--in-flight` messages
//! (it does not wait for their answers). Answers are taken as they come, all that came at once,
//! and their XACK rides with the next read (no round trip of its own), or goes on its own once
//! an answer waited [`ACK_WAIT`] for a read. Before anything that must see the pending list as
//! it is (a recovery, a claim, `--idle-exit`, a stop), the consumer waits for the answers of
//! everything sent ([`Worker::finish`]); on a stop nothing more is sent, and what was not sent
//! stays pending, to be delivered again.
//!
//! ```text
//! XREADGROUP ... COUNT 500 STREAMS chennai >                  batch 1, sent to the handler
//! XREADGROUP ... COUNT 500 STREAMS chennai >                  batch 2, read while it works
//! XACK chennai g <answered>; XREADGROUP ... STREAMS chennai > batch 3, with the acks so far
//! ```

mod answer;
mod process;

pub(super) use process::{PipeProcess, ask_once, finish};

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;
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
use answer::{Answer, Said};

/// The longest an answered message waits for a read to carry its XACK before it is sent on its
/// own: a quick handler's acks always ride with a read, a slow one's are not held up by it.
const ACK_WAIT: Duration = Duration::from_millis(100);

/// The longest pause before a crashed handler is started again.
const MAX_RESTART_PAUSE: Duration = Duration::from_secs(5);

/// How far [`PipeWorker::serve`] goes before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// Every message handed over was sent (the next read may go out).
    Sent,
    /// Every message sent was answered (or failed).
    Answered,
}

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
    /// Messages handed over and not sent to the handler yet, oldest first.
    queue: VecDeque<Message>,
    /// Messages sent and not answered yet, oldest first, each with when it was sent.
    unanswered: VecDeque<(Message, Instant)>,
    /// Messages done (answered `ack`, or dead-lettered) and not acknowledged yet.
    done: Vec<Done>,
    /// When the oldest of `done` was done.
    done_since: Option<Instant>,
    /// Where the lines of one write to the handler are rendered.
    outgoing: Vec<u8>,
    /// When the oldest of what was handed on to go with the next read was done, while no read
    /// took it yet (a drain waiting on a slow handler sends it on its own).
    handed_since: Option<Instant>,
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
            queue: VecDeque::new(),
            unanswered: VecDeque::new(),
            done: Vec::new(),
            done_since: None,
            outgoing: Vec::new(),
            handed_since: None,
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

    /// The next read goes out as soon as a batch arrives, so the server works on it while the
    /// batch goes to the handler; what it brings is kept in hand with the rest meanwhile.
    fn reads_ahead(&self) -> bool {
        true
    }

    /// Hands the messages to the `--pipe` handler, returning once all of them are sent (the
    /// handler may still work on up to `--in-flight`). Each is settled by its answer: `ack`
    /// acks it, `fail`, a crash while it was the oldest unanswered, or no answer within the
    /// timeout count as a failed delivery (retried through the server, dead-lettered on the
    /// last).
    fn handle(&mut self, seat: &mut Seat<'_, W>, batch: &Batch) -> Result<()> {
        let mut skipped = Batch::new();
        for entry in batch.iter() {
            match entry.fields.is_none() || seat.poison(&entry).is_some() {
                true => skipped.push(&entry),
                false => self.queue.push_back(entry.to_message()),
            }
        }
        if !skipped.is_empty() {
            seat.set_aside(&skipped)?;
        }
        self.serve(seat, Until::Sent)
    }

    fn busy(&self) -> bool {
        !self.queue.is_empty() || !self.unanswered.is_empty()
    }

    fn in_flight(&self) -> usize {
        self.unanswered.len()
    }

    /// Nothing more to read: the answers of everything handed over are waited for before a
    /// read blocks (one handler: there is nothing else to start meanwhile).
    fn wait(&mut self, seat: &mut Seat<'_, W>, _limit: Duration) -> Result<()> {
        self.serve(seat, Until::Answered)
    }

    /// Waits for the answers of everything sent to the handler (what was not sent yet is sent
    /// first, unless stopping), so nothing handed over is still with it.
    fn finish(&mut self, seat: &mut Seat<'_, W>) -> Result<()> {
        self.serve(seat, Until::Answered)
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
    /// The handler's side of the work, until `until`: what fits in flight goes out, answers
    /// come back. On an error what was not sent yet is dropped (it stays pending, to be
    /// delivered again), and what was sent is left to [`Worker::finish`].
    fn serve<W: Write>(&mut self, seat: &mut Seat<'_, W>, until: Until) -> Result<()> {
        let served = self.serve_until(seat, until);
        if served.is_err() {
            self.queue.clear();
        }
        let flushed = seat.out.flush().map_err(Error::from);
        let acked = self.pass_on_acks(seat, false);
        served.and(flushed).and(acked)
    }

    /// [`PipeWorker::serve`]'s loop.
    fn serve_until<W: Write>(&mut self, seat: &mut Seat<'_, W>, until: Until) -> Result<()> {
        loop {
            // Every turn, whatever the last one did (a timeout, a restart): acks that waited
            // long enough for a read go out now.
            self.pass_on_acks(seat, true)?;
            if seat.shutdown.is_requested() {
                // Stopping: nothing more goes out; what was not sent stays pending.
                self.queue.clear();
            }
            self.send_what_fits(seat)?;
            let settled = self.settled(until);
            self.keep_in_hand(seat)?;
            let wait = match settled {
                // Only what already came is taken.
                true => Duration::ZERO,
                false => self.listen_for(seat),
            };
            self.listen(seat, wait)?;
            if self
                .unanswered
                .front()
                .is_some_and(|(_, sent)| sent.elapsed() >= self.pipe.timeout)
            {
                self.timed_out(seat)?;
                continue;
            }
            if settled && self.settled(until) {
                return Ok(());
            }
        }
    }

    /// Whether the work reached `until`.
    fn settled(&self, until: Until) -> bool {
        self.queue.is_empty() && (until == Until::Sent || self.unanswered.is_empty())
    }

    /// The longest wait for the handler's next output: until the oldest unanswered message
    /// times out, waking at least every second (to notice a stop) and every third of
    /// `--claim-idle` (to keep what is in hand claimed).
    fn listen_for<W: Write>(&self, seat: &Seat<'_, W>) -> Duration {
        let timeout = match self.unanswered.front() {
            Some((_, sent)) => {
                (*sent + self.pipe.timeout).saturating_duration_since(Instant::now())
            }
            None => self.pipe.timeout,
        };
        timeout
            .min(Duration::from_secs(1))
            .min(seat.settings.claim_idle / 3)
    }

    /// Sends what fits in flight, in one write (a write per message capped a quick handler at
    /// the cost of the system calls).
    fn send_what_fits<W: Write>(&mut self, seat: &mut Seat<'_, W>) -> Result<()> {
        // One buffer for every write: it grows once, to what a batch takes.
        let mut outgoing = std::mem::take(&mut self.outgoing);
        outgoing.clear();
        let now = Instant::now();
        while self.unanswered.len() < self.pipe.in_flight {
            let Some(message) = self.queue.pop_front() else {
                break;
            };
            self.render(&seat.settings.name, &message, &mut outgoing);
            self.unanswered.push_back((message, now));
        }
        let sent = outgoing.is_empty() || self.process(seat)?.send(&outgoing);
        self.outgoing = outgoing;
        if !sent {
            // It stopped reading: what it printed before (its answers) is taken first, or
            // the restart would send those messages again as unanswered.
            if let Some(process) = self.process.as_mut() {
                let heard = process.hear(Duration::ZERO);
                for said in &heard {
                    self.heard(seat, said)?;
                }
            }
            self.died(seat)?;
        }
        Ok(())
    }

    /// Takes everything the handler printed (waiting up to `wait` when nothing came yet) and
    /// settles it; a handler whose output ended has died.
    fn listen<W: Write>(&mut self, seat: &mut Seat<'_, W>, wait: Duration) -> Result<()> {
        let Some(process) = self.process.as_mut() else {
            return Ok(());
        };
        let heard = process.hear(wait);
        let ended = process.ended();
        for said in &heard {
            self.heard(seat, said)?;
        }
        if ended {
            self.died(seat)?;
        }
        Ok(())
    }

    /// Acknowledges what is done: with the next read (`ack_later`), or, when `overdue` is
    /// asked for and the oldest (here or waiting for a read) waited [`ACK_WAIT`], now, with
    /// what waits for a read. One XACK per stream either way.
    fn pass_on_acks<W: Write>(&mut self, seat: &mut Seat<'_, W>, overdue: bool) -> Result<()> {
        if self.handed_since.is_some() && !seat.group.acks_waiting() {
            // A read took them.
            self.handed_since = None;
        }
        match overdue {
            true => {
                let oldest = self.done_since.into_iter().chain(self.handed_since).min();
                if oldest.is_none_or(|since| since.elapsed() < ACK_WAIT) {
                    return Ok(());
                }
                (self.done_since, self.handed_since) = (None, None);
                let mut done = std::mem::take(&mut self.done);
                done.sort();
                seat.ack(&done)
            }
            false => {
                if let Some(since) = self.done_since.take() {
                    self.handed_since.get_or_insert(since);
                }
                self.done.sort();
                seat.group.ack_later(self.done.drain(..));
                Ok(())
            }
        }
    }

    /// Appends the line a message is sent as: the human line, or the JSON object with `--json`.
    fn render(&self, name: &str, message: &Message, out: &mut Vec<u8>) {
        match self.json {
            true => message::write_json(out, name, &message.entry()),
            false => message::write_line(out, name, &message.entry()),
        }
    }

    /// The running handler, started (again) when there is none.
    fn process<W: Write>(&mut self, seat: &Seat<'_, W>) -> Result<&mut PipeProcess> {
        if self.process.is_none() {
            if self.started && self.restarts > 1 {
                // Capped backoff over restarts with no answer in between; a handler that
                // answered since its last start is started again at once.
                let pause = Duration::from_millis(50) * 2u32.pow(self.restarts.min(8));
                seat.shutdown.sleep(pause.min(MAX_RESTART_PAUSE));
            }
            let command = &self.pipe.command;
            let process = PipeProcess::start(command)
                .map_err(|e| Error::Usage(format!("cannot start --pipe {command}: {e}")))?;
            self.started = true;
            self.process = Some(process);
        }
        self.process
            .as_mut()
            .ok_or_else(|| Error::Usage(String::from("the --pipe handler is not running")))
    }

    /// Settles what one stdout line of the handler says.
    fn heard<W: Write>(&mut self, seat: &mut Seat<'_, W>, said: &Said) -> Result<()> {
        if said.whole
            && let Some((oldest, _)) = self.unanswered.front()
            && answer::acks(&said.bytes, &oldest.stream, oldest.id)
        {
            // The usual answer, read without allocating: `ack` for the oldest one sent.
            return self.answered(seat, 0, None);
        }
        let (stream, id, failure) = match said.answer() {
            Some(Answer::Ack(stream, id)) => (stream, id, None),
            Some(Answer::Fail(stream, id, reason)) => (stream, id, Some(reason)),
            None => {
                seat.out.write_all(&said.bytes)?;
                return Ok(());
            }
        };
        let Some(at) = self
            .unanswered
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
        self.answered(seat, at, failure)
    }

    /// Settles the unanswered message at `at`, answered `ack` (no `failure`) or `fail`.
    fn answered<W: Write>(
        &mut self,
        seat: &mut Seat<'_, W>,
        at: usize,
        failure: Option<String>,
    ) -> Result<()> {
        let Some((message, sent)) = self.unanswered.remove(at) else {
            return Ok(());
        };
        self.handler_ran = true;
        self.restarts = 0;
        let before = self.done.len();
        match failure {
            None => {
                seat.summary.processed += 1;
                seat.counted(&message.stream, Outcome::Acked, 1);
                self.done
                    .push((Arc::clone(&message.stream), message.id, sent));
            }
            Some(reason) => {
                let reason = format!("handler failed: {reason}");
                seat.failed_delivery(&message, &reason, None, (sent, &mut self.done))?;
            }
        }
        self.note_done(before);
        Ok(())
    }

    /// Notes when the first of what is done (`done` held `before` entries) became done.
    fn note_done(&mut self, before: usize) {
        if self.done.len() > before && self.done_since.is_none() {
            self.done_since = Some(Instant::now());
        }
    }

    /// The handler exited or closed its stdout: the oldest unanswered message counts as failed,
    /// the others are sent again to a new handler.
    fn died<W: Write>(&mut self, seat: &mut Seat<'_, W>) -> Result<()> {
        let ended = self
            .process
            .take()
            .map_or(Ended::Exited(-1), |mut p| p.stop());
        if !self.handler_ran && ended.cannot_run() {
            // Nothing it was sent is answered now: all of it stays pending.
            self.unanswered.clear();
            self.queue.clear();
            return Err(Error::Usage(format!(
                "--pipe {}: the command cannot run ({}); nothing was acknowledged",
                self.pipe.command,
                ended.reason()
            )));
        }
        let reason = ended.reason();
        let failed = format!("{reason} while handling it");
        self.restart_after(seat, (&reason, &failed))
    }

    /// The oldest unanswered message waited past `--handler-timeout`: it counts as failed, and
    /// the handler is restarted.
    fn timed_out<W: Write>(&mut self, seat: &mut Seat<'_, W>) -> Result<()> {
        if let Some(mut process) = self.process.take() {
            process.stop();
        }
        let reason = Ended::TimedOut(self.pipe.timeout).reason();
        self.restart_after(seat, (&reason, &reason))
    }

    /// After the handler stopped (`why`): counts the restart, fails the oldest unanswered message
    /// with `reason` (the one it most likely stopped on), and queues the others to be sent again
    /// without counting against them.
    fn restart_after<W: Write>(
        &mut self,
        seat: &mut Seat<'_, W>,
        (why, reason): (&str, &str),
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
        if let Some((oldest, sent)) = self.unanswered.pop_front() {
            let before = self.done.len();
            seat.failed_delivery(&oldest, reason, None, (sent, &mut self.done))?;
            self.note_done(before);
        }
        // Back at the front of the queue, oldest first, to be sent again (without counting a
        // delivery against them).
        while let Some((message, _)) = self.unanswered.pop_back() {
            self.queue.push_front(message);
        }
        Ok(())
    }

    /// Keeps everything in hand (queued or unanswered) from looking idle to other consumers.
    fn keep_in_hand<W: Write>(&mut self, seat: &mut Seat<'_, W>) -> Result<()> {
        if !seat.keep_due(self.pipe.timeout) {
            return Ok(());
        }
        let mut all: VecDeque<Message> = self.unanswered.iter().map(|(m, _)| m.clone()).collect();
        all.extend(self.queue.iter().cloned());
        let before = all.len();
        seat.keep_in_hand(&mut all, self.pipe.timeout)?;
        if all.len() < before {
            let kept = |m: &Message| all.iter().any(|k| k.stream == m.stream && k.id == m.id);
            self.unanswered.retain(|(m, _)| kept(m));
            self.queue.retain(kept);
        }
        Ok(())
    }
}

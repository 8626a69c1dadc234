//! `--exec CMD`: where a handler program does the work and only its success acks a message.
//!
//! ```text
//! sh -c CMD < {"consumer":"alice","stream":"chennai","id":"...",...}     up to --jobs at once,
//!                                          the next started as soon as one ends
//! sh -c CMD < N such lines                 --exec-batch N: one run for up to N messages
//! exit 0                                   XACK chennai mygroup <id> ..., with the next read
//! exit 3 / killed / past --handler-timeout left pending: delivered again after a backoff
//!                                          (XREADGROUP ... 0, which counts the delivery)
//! a batch's run fails                      each of its messages runs again alone, at once
//! the --max-deliveries-th delivery fails   XADD chennai:dead ... reason ... stderr ...; XACK
//! ```
//!
//! Retrying through the server keeps the delivery count on the server, so it survives a restart
//! of the consumer, and what waits for its retry stays pending on this consumer, in hand.
//!
//! The handlers run in a [`Pool`] watched from the consumer's own thread. [`Worker::handle`]
//! starts what a read brought and returns as soon as a handler could take more, so the next
//! read goes out (with the acks of what ended) while the others run; while they run, the loop
//! reads without blocking and waits on them ([`Worker::busy`], [`Worker::wait`]).

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Exec;
use super::handler::{self, Run};
use super::handler_pool::Pool;
use super::seat::Seat;
use super::worker::Worker;
use crate::error::{Error, Result};
use crate::message::{self, Message};
use crate::metrics::consumer::Outcome;
use crate::server::Batch;
use crate::server::group_link::Done;
use crate::stream_id::StreamId;

/// What one handler is handed.
#[derive(Debug)]
enum Handed {
    /// One message, its own MONSOON_* in the environment: what `--exec` runs, and what runs a
    /// message of a failed batch again; a failure counts against it.
    Alone(Message),
    /// `--exec-batch`: up to N messages as JSON lines; a failure runs each of them again alone.
    Batch(Vec<Message>),
}

impl Handed {
    /// The messages it holds.
    fn messages(&self) -> &[Message] {
        match self {
            Handed::Alone(message) => std::slice::from_ref(message),
            Handed::Batch(messages) => messages,
        }
    }

    /// Keeps only the messages `kept` says are still ours; whether any is left.
    fn keep(&mut self, kept: impl Fn(&Message) -> bool) -> bool {
        match self {
            Handed::Alone(message) => kept(message),
            Handed::Batch(messages) => {
                messages.retain(kept);
                !messages.is_empty()
            }
        }
    }

    /// The handler's stdin and environment.
    fn input(&self, consumer: &str, group: &str) -> (Vec<u8>, Vec<(String, std::ffi::OsString)>) {
        let messages = self.messages();
        let mut input = Vec::with_capacity(256 * messages.len());
        for message in messages {
            message::write_json(&mut input, consumer, &message.entry());
        }
        let env = match self {
            Handed::Alone(message) => handler::environment(&message.entry(), consumer, group),
            Handed::Batch(messages) => handler::batch_environment(consumer, group, messages.len()),
        };
        (input, env)
    }

    /// What it is, for a line on stderr: `chennai 1534291200000-0`, or a batch's size and
    /// first message.
    fn describe(&self) -> String {
        match self {
            Handed::Alone(message) => {
                format!("{} {}", message::word(&message.stream), message.id)
            }
            Handed::Batch(messages) => describe_batch(messages),
        }
    }
}

/// A batch, for a line on stderr: its size and first message.
fn describe_batch(messages: &[Message]) -> String {
    match messages.first() {
        Some(first) => format!(
            "a batch of {} from {} {}",
            messages.len(),
            message::word(&first.stream),
            first.id
        ),
        None => String::from("an empty batch"),
    }
}

/// A handler started: what it was handed, and when.
struct Started {
    handed: Handed,
    since: Instant,
}

/// `--exec`: a handler run per message (or per batch), up to `--jobs` at a time.
pub(super) struct ExecWorker {
    exec: Exec,
    /// Whether a handler ever ran (a command that cannot run at all is caught on the first).
    handler_ran: bool,
    /// The handlers running.
    pool: Pool<Started>,
    /// What was read and waits for a free handler (at most a read's worth), and the messages of
    /// a failed batch, to run again alone.
    queue: VecDeque<Handed>,
    /// `--exec-batch`: the messages whose own run failed and that wait for their retry: they
    /// come again alone, not in a batch they would fail again.
    retrying: HashSet<(Arc<str>, StreamId)>,
}

impl ExecWorker {
    /// The worker for `exec`.
    pub fn new(exec: Exec) -> Self {
        ExecWorker {
            exec,
            handler_ran: false,
            pool: Pool::new(),
            queue: VecDeque::new(),
            retrying: HashSet::new(),
        }
    }

    /// Queues `work`: a handler each, or with `--exec-batch` in batches of up to N (a message
    /// waiting for its retry alone).
    fn enqueue(&mut self, work: Vec<Message>) {
        let Some(size) = self.exec.batch else {
            self.queue.extend(work.into_iter().map(Handed::Alone));
            return;
        };
        let (alone, mut batched): (Vec<Message>, Vec<Message>) = work
            .into_iter()
            .partition(|m| self.retrying.contains(&(Arc::clone(&m.stream), m.id)));
        self.queue.extend(alone.into_iter().map(Handed::Alone));
        while !batched.is_empty() {
            let rest = batched.split_off(batched.len().min(size));
            self.queue.push_back(Handed::Batch(batched));
            batched = rest;
        }
    }

    /// Starts what is queued as handlers free up, until the queue is empty and a handler could
    /// take more. A stop asked for starts nothing more: what was not started stays pending.
    fn run_queue<W: Write>(&mut self, seat: &mut Seat<'_, W>) -> Result<()> {
        loop {
            if seat.shutdown.is_requested() {
                self.queue.clear();
                return Ok(());
            }
            self.keep_in_hand(seat)?;
            while self.pool.len() < self.exec.jobs {
                let Some(handed) = self.queue.pop_front() else {
                    break;
                };
                self.start(seat, handed)?;
            }
            if self.queue.is_empty() && self.pool.len() < self.exec.jobs {
                return Ok(());
            }
            self.settle_ended(seat, self.exec.timeout)?;
        }
    }

    /// Starts a handler for `handed`.
    fn start<W: Write>(&mut self, seat: &Seat<'_, W>, handed: Handed) -> Result<()> {
        let (input, env) = handed.input(&seat.settings.name, &seat.settings.group);
        let started = Started {
            handed,
            since: Instant::now(),
        };
        self.pool
            .start(
                &self.exec.command,
                (input, &env),
                self.exec.timeout,
                started,
            )
            .map_err(|e| Error::Usage(format!("cannot start --exec {}: {e}", self.exec.command)))
    }

    /// Waits up to `limit` for handlers to end (waking at least every third of `--claim-idle`
    /// to keep what is in hand claimed) and settles those that did.
    fn settle_ended<W: Write>(&mut self, seat: &mut Seat<'_, W>, limit: Duration) -> Result<()> {
        let limit = limit.min(seat.settings.claim_idle / 3);
        let ended = self.pool.wait(limit).map_err(|e| Error::Internal {
            what: String::from("watching the --exec handlers"),
            message: e.to_string(),
        })?;
        for (started, run) in ended {
            self.settle(seat, started, run)?;
        }
        Ok(())
    }

    /// Passes a run's output on and settles what it was handed: acked (with the next read) when
    /// it succeeded; else, for a message alone, dead-lettered when it was its last delivery or
    /// left pending for a retry, and for a batch, each message queued to run again alone.
    fn settle<W: Write>(
        &mut self,
        seat: &mut Seat<'_, W>,
        Started { handed, since }: Started,
        mut run: Run,
    ) -> Result<()> {
        let settings = seat.settings;
        // A command that cannot run at all (a typo) must not dead-letter a stream: stop before
        // anything is acknowledged, taking down what else runs.
        if !self.handler_ran && run.ended.cannot_run() {
            self.pool = Pool::new();
            self.queue.clear();
            return Err(Error::Usage(format!(
                "--exec {}: the command cannot run ({}: {}); nothing was acknowledged",
                self.exec.command,
                run.ended.reason(),
                String::from_utf8_lossy(run.stderr_tail()).trim()
            )));
        }
        self.handler_ran = true;
        // Each handler's output whole, never interleaved inside a line.
        run.pass_on(&mut seat.out, || {
            format!("{}: {}", settings.name, handed.describe())
        })?;
        let mut done: Vec<Done> = Vec::new();
        let reason = run.ended.reason();
        match handed {
            Handed::Batch(messages) if !run.ended.is_done() => {
                eprintln!(
                    "{}: {} failed ({reason}); each of its messages runs again alone",
                    settings.name,
                    describe_batch(&messages)
                );
                // At once and first: the same delivery, now settled message by message.
                for message in messages.into_iter().rev() {
                    self.queue.push_front(Handed::Alone(message));
                }
            }
            Handed::Batch(messages) => {
                for message in messages {
                    self.done(seat, message, since, &mut done);
                }
            }
            Handed::Alone(message) if run.ended.is_done() => {
                self.done(seat, message, since, &mut done);
            }
            Handed::Alone(message) => {
                let stderr = Some(run.stderr_tail());
                let key = (Arc::clone(&message.stream), message.id);
                if seat.failed_delivery(&message, &reason, stderr, (since, &mut done))? {
                    eprintln!(
                        "{}: {} {} failed ({reason}, delivery {} of {}); it will be delivered \
                         again",
                        settings.name,
                        message::word(&message.stream),
                        message.id,
                        message.deliveries,
                        settings.max_deliveries
                    );
                    if self.exec.batch.is_some() {
                        self.retrying.insert(key);
                    }
                } else {
                    self.retrying.remove(&key);
                }
            }
        }
        seat.out.flush()?;
        // No round trip of its own: the acks go out with the next read.
        seat.group.ack_later(done);
        Ok(())
    }

    /// Counts `message` as processed and adds it to what is acknowledged.
    fn done<W: Write>(
        &mut self,
        seat: &mut Seat<'_, W>,
        message: Message,
        since: Instant,
        done: &mut Vec<Done>,
    ) {
        seat.summary.processed += 1;
        seat.counted(&message.stream, Outcome::Acked, 1);
        if !self.retrying.is_empty() {
            self.retrying
                .remove(&(Arc::clone(&message.stream), message.id));
        }
        done.push((message.stream, message.id, since));
    }

    /// Keeps everything in hand (running or queued) from looking idle to other consumers;
    /// drops from the queue what another consumer took meanwhile (what runs carries on).
    fn keep_in_hand<W: Write>(&mut self, seat: &mut Seat<'_, W>) -> Result<()> {
        if !seat.keep_due(self.exec.timeout) {
            return Ok(());
        }
        let mut all: VecDeque<Message> = self
            .pool
            .tags_mut()
            .flat_map(|started| started.handed.messages().to_vec())
            .collect();
        all.extend(self.queue.iter().flat_map(|h| h.messages().to_vec()));
        let before = all.len();
        seat.keep_in_hand(&mut all, self.exec.timeout)?;
        if all.len() < before {
            let kept = |m: &Message| all.iter().any(|k| k.stream == m.stream && k.id == m.id);
            self.queue.retain_mut(|handed| handed.keep(kept));
        }
        Ok(())
    }
}

impl<W: Write> Worker<W> for ExecWorker {
    fn max_count(&self, _batch: usize) -> usize {
        // No more than the handlers can take at once: the rest would only wait in hand.
        self.exec.batch.unwrap_or(self.exec.jobs).max(1)
    }

    fn per_message(&self) -> Duration {
        self.exec.timeout
    }

    fn reads_ahead(&self) -> bool {
        // The next read is answered while the handlers run: a handler that ends finds its
        // successor's message here, not a round trip away. Not before a handler ran: a command
        // that cannot run would only take more messages into hand.
        self.handler_ran
    }

    /// Hands the messages to handlers, `--jobs` at a time, and returns as soon as a handler
    /// could take more (what runs carries on); deleted and poison entries never reach a handler.
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
        self.enqueue(work);
        self.run_queue(seat)
    }

    fn busy(&self) -> bool {
        !self.pool.is_empty()
    }

    fn in_flight(&self) -> usize {
        self.pool
            .tags()
            .map(|started| started.handed.messages().len())
            .sum()
    }

    fn wait(&mut self, seat: &mut Seat<'_, W>, limit: Duration) -> Result<()> {
        self.settle_ended(seat, limit)?;
        self.run_queue(seat)
    }

    /// Lets every running handler end (what a failed batch left to run again runs too, unless
    /// a stop was asked for) and settles it.
    fn finish(&mut self, seat: &mut Seat<'_, W>) -> Result<()> {
        loop {
            self.run_queue(seat)?;
            if self.pool.is_empty() {
                return Ok(());
            }
            self.settle_ended(seat, self.exec.timeout)?;
        }
    }
}

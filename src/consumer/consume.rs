//! The consume loop: one consumer of a group, until Ctrl-C, `--idle-exit` or an error.
//!
//! Each turn of the loop takes one step, the first that is due:
//!
//! ```text
//! stop        Ctrl-C: what a read in flight brought is processed, the worker's work in hand
//!             finished (a --pipe handler's answers waited for), acks flushed, done
//! recover     at start, after a break, after a retry's backoff: re-read our own pending list
//! claim       every --claim-idle/2: take over what dead consumers left, a step at a time
//! idle-exit   nothing for --idle-exit: leave, unless something can still be claimed
//! read        new entries (blocking up to --block), handed to the worker
//! ```
//!
//! A break anywhere (the link rides it out) or a group found gone makes the next step a
//! recovery: whatever a lost reply delivered is pending on us, unseen. No step calls another
//! step: recovery is the loop's, not a callback's.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::progress::Progress;
use super::seat::Seat;
use super::worker::Worker;
use super::{Settings, Summary, Work};
use crate::color::{self, Paint};
use crate::error::{Error, Result};
use crate::fanout::{Shared, fan_out};
use crate::metrics::consumer::Outcome;
use crate::server::budget::Budget;
use crate::server::dead::DeadLetters;
use crate::server::group_link::{GroupLink, Read, Wanted};
use crate::server::{Batch, Target, cluster};
use crate::shutdown::{Shutdown, stopped_is_done};
use crate::stream_id::StreamId;

/// How late the server may answer a BLOCK that timed out: its timers run every 100 ms (hz 10).
const SERVER_TICK: Duration = Duration::from_millis(100);

/// The pause between reads that do not block, in the last moments before `--idle-exit`.
const POLL: Duration = Duration::from_millis(5);

/// While handlers run and nothing new came, how long they are waited on before the next look
/// for new entries (a read without BLOCK: a blocked read would not see a handler end).
const BUSY_POLL: Duration = Duration::from_millis(50);

/// The pauses after empty reads of several slots (which cannot block): from this, doubling...
const MIN_POLL_PAUSE: Duration = Duration::from_millis(5);

/// ... up to this.
const MAX_POLL_PAUSE: Duration = Duration::from_millis(200);

/// Where entries come from, which decides how they are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Source {
    /// New entries (`>`).
    New,
    /// Our own pending entries, re-read.
    OwnPending,
    /// Taken over from another consumer.
    Claimed,
}

/// Runs a consumer doing `work` until Ctrl-C, `--idle-exit`, or an error.
///
/// In cluster mode each node's streams are read by a thread of their own (a read on one node
/// must not hold up the others), one read per hash slot, all in one write; the threads share
/// the output and one summary.
pub(super) fn run<W: Write + Send>(
    target: &Target,
    settings: &Settings,
    work: &Work,
    shutdown: &Shutdown,
    out: W,
) -> Result<Summary> {
    let started = Instant::now();
    // `--count`: one budget for every node's reader.
    let budget = settings.count.map(|n| Arc::new(Budget::new(n)));
    let budget = budget.as_ref();
    if !target.is_cluster() || settings.streams.len() < 2 {
        let consumer = match Consumer::start(target, settings, (work, budget), shutdown, out) {
            // Stopped while the server could not be reached yet: nothing was in hand.
            Err(Error::Stopped { .. }) => return Ok(Summary::default()),
            other => other?,
        };
        let mut summary = consumer.run()?;
        summary.elapsed = started.elapsed();
        return Ok(summary);
    }
    let limit = crate::server::target::CONNECT_TIMEOUT;
    let per_node: Vec<Settings> =
        cluster::by_node(target, &settings.streams, limit, Some(shutdown))?
            .into_iter()
            .map(|streams| Settings {
                streams,
                ..settings.clone()
            })
            .collect();
    let out = Shared::new(out);
    // One node's part failing stops the others too: the consumer exits as a whole.
    let parts = fan_out(
        &per_node,
        |one| format!("the consumer of {}", one.streams.join(" ")),
        &out,
        Some(shutdown),
        |one, out| Consumer::start(target, one, (work, budget), shutdown, out)?.run(),
    )?;
    let mut total = Summary::default();
    for part in &parts {
        total.add(part);
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

/// One running consumer: its seat, its worker, the batch it reads into.
pub(super) struct Consumer<'a, W: Write> {
    pub(super) seat: Seat<'a, W>,
    pub(super) worker: Box<dyn Worker<W> + 'a>,
    /// Reused for every read.
    pub(super) batch: Batch,
    /// The link's epoch last seen: when it moves, a break happened and recovery is due.
    epoch: u64,
    /// Whether the next step is a recovery (a break, a vanished group, a retry due).
    recover: bool,
    /// The pause after an empty read that did not block.
    poll_pause: Duration,
    /// `--count`: what is left to read, shared with the other nodes' readers.
    budget: Option<Arc<Budget>>,
    /// The progress line of a long handler run.
    progress: Progress,
}

impl<'a, W: Write + 'a> Consumer<'a, W> {
    /// Connects, creates or joins the group on every stream.
    fn start(
        target: &Target,
        settings: &'a Settings,
        (work, budget): (&Work, Option<&Arc<Budget>>),
        shutdown: &'a Shutdown,
        out: W,
    ) -> Result<Self> {
        let who = (settings.group.as_str(), settings.name.as_str());
        let health = settings.meter.as_ref().map(|m| m.health());
        let mut group = GroupLink::open(
            target,
            &settings.streams,
            who,
            settings.block,
            (settings.retry_for, shutdown),
        )?;
        group.report_to(health);
        if let Some(meter) = settings.meter.clone() {
            group.on_acked(move |done| {
                for (_, _, since) in done {
                    meter.processed_in(since.elapsed());
                }
            });
        }
        group.recreate_at(&settings.recreate_at);
        if let Some(budget) = budget {
            group.share_budget(Arc::clone(budget));
        }
        group.join(&settings.start)?;
        let mut dead = DeadLetters::new(target, settings.retry_for);
        dead.watch(shutdown, health);
        dead.wait_for(settings.wait);
        let worker = work.worker::<W>(settings);
        group.set_max_count(worker.max_count(settings.batch.max(1)));
        let epoch = group.epoch();
        Ok(Consumer {
            seat: Seat::new(settings, shutdown, (group, dead), out),
            worker,
            batch: Batch::new(),
            epoch,
            recover: true,
            poll_pause: MIN_POLL_PAUSE,
            budget: budget.cloned(),
            progress: Progress::new(matches!(work, Work::Handle(_))),
        })
    }

    /// Serves until stopped, then processes what a read in flight brought, acknowledges what was
    /// done and not acknowledged yet (also when serving failed: what was printed is done), and
    /// closes the worker.
    fn run(mut self) -> Result<Summary> {
        let served = stopped_is_done(self.serve());
        let settled = stopped_is_done(self.settle());
        served.and(settled)?;
        self.worker.close(&mut self.seat)?;
        Ok(self.seat.summary)
    }

    /// The loop; see the module docs.
    fn serve(&mut self) -> Result<()> {
        let settings = self.seat.settings;
        let claim_every =
            (settings.claim_idle / 2).clamp(Duration::from_millis(100), Duration::from_secs(30));
        let mut next_claim = Instant::now();
        let mut last_message = Instant::now();
        loop {
            if self.seat.shutdown.is_requested() || self.spent() {
                return Ok(());
            }
            let done = self.seat.summary.processed + self.seat.summary.dead_lettered;
            self.progress
                .tick(&settings.name, done, self.worker.in_flight());
            if self.seat.group.epoch() != self.epoch {
                self.epoch = self.seat.group.epoch();
                self.recover = true;
            }
            if self.seat.retry_at.is_some_and(|at| Instant::now() >= at) {
                // Failed runs come again through the server, which counts the delivery.
                self.seat.retry_at = None;
                self.recover = true;
            }
            if self.recover {
                self.recover = false;
                if self.recover_pending()? {
                    last_message = Instant::now();
                }
                continue;
            }
            if Instant::now() >= next_claim {
                if self.claim_sweep()? > 0 {
                    last_message = Instant::now();
                }
                next_claim = Instant::now() + claim_every;
                continue;
            }
            let mut block = settings
                .block
                .min(next_claim.saturating_duration_since(Instant::now()));
            if let Some(at) = self.seat.retry_at {
                block = block.min(at.saturating_duration_since(Instant::now()));
            }
            if let Some(idle_exit) = settings.idle_exit {
                let idle = last_message.elapsed();
                // Never leave while failed runs wait for their retry: they are in hand.
                if idle >= idle_exit && self.seat.retry_at.is_none() {
                    // Never leave while entries others dropped can still be taken over.
                    if self.claim_sweep()? == 0 {
                        return Ok(());
                    }
                    last_message = Instant::now();
                    continue;
                }
                block = block.min(idle_exit.saturating_sub(idle));
            }
            if self.read_new(block)? {
                // Idle from when the work was done, not from when it arrived.
                last_message = Instant::now();
            }
        }
    }

    /// Reads new entries, waiting up to `block`, and hands them to the worker; whether any came.
    ///
    /// The server times a BLOCK out at its own tick (every 100 ms by default), so a wait that
    /// must end on time (`--idle-exit`) blocks only to a tick before its end, then asks without
    /// blocking and waits here.
    ///
    /// While work is under way (`--exec` handlers running) the read does not block: an empty
    /// one waits on the work instead, and counts as activity.
    fn read_new(&mut self, block: Duration) -> Result<bool> {
        let settings = self.seat.settings;
        let busy = self.worker.busy();
        let exact = settings.idle_exit.is_some() && block < settings.block;
        let wait = match exact {
            _ if busy => None,
            true if block <= SERVER_TICK * 2 => None,
            true => Some(block - SERVER_TICK),
            false => Some(block),
        };
        // With --count no read goes out before the last is done with: it could bring too many.
        let ahead = self.worker.reads_ahead()
            && !self.seat.shutdown.is_requested()
            && self.budget.is_none();
        let read = self
            .seat
            .group
            .read(Wanted::New, wait, ahead, &mut self.batch)?;
        self.note(read);
        if self.batch.is_empty() {
            if busy {
                self.worker.wait(&mut self.seat, block.min(BUSY_POLL))?;
                return Ok(true);
            }
            if self.budget.is_some() && !self.spent() {
                // What is left is taken by another node's reader: wait for it to be done.
                self.seat.shutdown.sleep(POLL.min(block));
            }
            if exact && wait.is_none() {
                self.seat.shutdown.sleep(block.min(POLL));
            } else if self.seat.group.polled() && !exact {
                // Reads of several slots do not block: wait between empty ones, longer and
                // longer while nothing comes.
                self.seat.shutdown.sleep(self.poll_pause.min(block));
                self.poll_pause = (self.poll_pause * 2).min(MAX_POLL_PAUSE);
            }
            return Ok(false);
        }
        self.poll_pause = MIN_POLL_PAUSE;
        self.handle(Source::New)?;
        Ok(true)
    }

    /// Hands the batch read to the worker, counting where it came from.
    pub(super) fn handle(&mut self, source: Source) -> Result<()> {
        let seat = &mut self.seat;
        match source {
            Source::New => {}
            Source::OwnPending => seat.summary.recovered += self.batch.len() as u64,
            Source::Claimed => {
                seat.summary.claimed += self.batch.len() as u64;
                let mut counts: Vec<(std::sync::Arc<str>, u64)> = Vec::new();
                for entry in self.batch.iter() {
                    match counts.iter_mut().find(|(s, _)| s == entry.stream) {
                        Some((_, n)) => *n += 1,
                        None => counts.push((std::sync::Arc::clone(entry.stream), 1)),
                    }
                }
                for (stream, n) in counts {
                    seat.counted(&stream, Outcome::Claimed, n);
                }
            }
        }
        self.worker.handle(&mut self.seat, &self.batch)?;
        if let Some(budget) = &self.budget {
            // Print mode is done with a batch once handled: printed, dead-lettered or deleted.
            budget.done(self.batch.len() as u64);
        }
        Ok(())
    }

    /// Whether `--count` messages are done with: time to stop.
    fn spent(&self) -> bool {
        self.budget.as_ref().is_some_and(|b| b.is_spent())
    }

    /// Says what a read brought besides entries: groups re-created (what we held went with the
    /// group: look again). A break makes the next step a recovery too.
    fn note(&mut self, read: Read) {
        let settings = self.seat.settings;
        for (key, again) in read.recreated {
            let line = format!(
                "{}: group {} on {key} had vanished; re-created it at {}: {again} entries of the \
                 stream will be delivered again (duplicates possible; --recreate-at chooses \
                 otherwise)",
                settings.name, settings.group, settings.recreate_at
            );
            eprintln!("{}", color::stderr(Paint::Warning, &line));
            self.recover = true;
        }
        self.recover |= read.broke;
    }

    /// Processes what a read in flight brought (it was delivered to us: it is in hand), lets
    /// the work under way end, then acknowledges what is done and waits for a later read, so
    /// that the pending list is what it looks like (before claims, `--idle-exit`, recovery and
    /// a stop).
    pub(super) fn settle(&mut self) -> Result<()> {
        let read = self.seat.group.settle(&mut self.batch)?;
        self.note(read);
        let handled = match self.batch.is_empty() {
            true => Ok(()),
            false => self.handle(Source::New),
        };
        // Also after a failure: what the handlers answered is acknowledged.
        let finished = self.worker.finish(&mut self.seat);
        let acked = self.seat.ack(&[]);
        handled.and(finished).and(acked)
    }

    /// Re-processes what this consumer had read but not acknowledged (after a crash, a broken
    /// connection, or a handler's failure), reading its pending list with ID `0` and moving on
    /// from the last one seen. Returns whether it found any. A break during it makes the loop
    /// recover again.
    fn recover_pending(&mut self) -> Result<bool> {
        // What was printed is done: acknowledged first, so it is not read again as pending.
        self.settle()?;
        let streams = self.seat.group.streams().len();
        let mut after: Vec<Option<StreamId>> = vec![Some(StreamId::ZERO); streams];
        let mut found = false;
        while after.iter().any(Option::is_some) && !self.seat.shutdown.is_requested() {
            let read =
                self.seat
                    .group
                    .read(Wanted::Pending(&after), None, false, &mut self.batch)?;
            self.note(read);
            if self.recover {
                // A break or a vanished group: the loop starts over.
                return Ok(found);
            }
            for (index, from) in after.iter_mut().enumerate() {
                if from.is_none() {
                    continue;
                }
                let key = &self.seat.group.streams()[index];
                let last = self
                    .batch
                    .iter()
                    .filter(|e| e.stream == key)
                    .map(|e| e.id)
                    .max();
                *from = last;
            }
            if self.batch.is_empty() {
                break;
            }
            found = true;
            self.seat.group.fill_deliveries(&mut self.batch)?;
            self.handle(Source::OwnPending)?;
        }
        Ok(found)
    }
}

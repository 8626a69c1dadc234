//! Where a message is read, processed, printed and acknowledged: one consumer of a group.
//!
//! ```text
//! XREADGROUP GROUP mygroup alice COUNT 100 STREAMS chennai 0          own pending first
//! XREADGROUP GROUP mygroup alice COUNT 100 BLOCK 1000 STREAMS chennai >   then new ones
//! XACK chennai mygroup 1534291200000-0 ...                            one round trip per batch
//! ```
//!
//! Per message: wait `--delay` (the simulated work), print, then XACK; or, with `--exec`, hand
//! it to a handler program and XACK only when that succeeded. A crash leaves what was in hand
//! pending (processed again, never lost).
//!
//! - `read.rs`: own pending first, then new entries, COUNT adapted to the entries' size.
//! - `fast.rs`: the hot path: new messages read from the bytes on a plain connection, the XACK
//!   of a printed batch in the next read's write, the next batch asked for while one is printed.
//! - `process.rs`: print mode, dead letters (written once), XACK.
//! - `exec.rs` and `handler.rs`: `--exec`: running handlers, retries, their dead letters.
//! - `pipe/`: `--pipe`: one long-running handler answering `ack`/`fail` per message.
//! - [`redrive`]: `--redrive`: the dead letters handed to the handler once more.
//! - [`reset`]: `--reset-to`: the group moved back (a replay) or on, without consuming.
//! - `claim.rs`: taking over from dead consumers, and keeping what is in hand from looking idle.
//! - [`group`]: the group on the server: create or join, re-create, XAUTOCLAIM, prune.
//! - [`poison`]: what is not a reading; [`Summary`]: what it did, printed at the end.

mod claim;
mod exec;
mod fast;
pub mod group;
mod handler;
mod pipe;
pub mod poison;
mod process;
mod read;
pub mod redrive;
pub mod reset;
mod summary;

pub use summary::Summary;

use crate::metrics::consumer::{Meter, Outcome};

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::fanout::{Shared, fan_out};
use crate::server::{Link, Target, cluster};
use crate::shutdown::Shutdown;

/// How late the server may answer a BLOCK that timed out: its timers run every 100 ms (hz 10).
const SERVER_TICK: Duration = Duration::from_millis(100);

/// The pause between reads that do not block, in the last moments before `--idle-exit`.
const POLL: Duration = Duration::from_millis(5);

/// The pauses after empty reads of several slots (which cannot block): from this, doubling...
const MIN_POLL_PAUSE: Duration = Duration::from_millis(5);

/// ... up to this.
const MAX_POLL_PAUSE: Duration = Duration::from_millis(200);

/// Read timeout on top of BLOCK: the server answers a BLOCK read when it expires, so the socket
/// timeout must never fire first (a late reply would leave delivered entries pending, unseen).
const READ_TIMEOUT_MARGIN: Duration = Duration::from_secs(10);

/// What one consumer is asked to do.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Consumer name within the group.
    pub name: String,
    /// Stream keys to read (prefix + city).
    pub streams: Vec<String>,
    /// Group name.
    pub group: String,
    /// Simulated processing time per message; above zero, one message at a time.
    pub delay: Duration,
    /// Messages per read when `delay` is zero.
    pub batch: usize,
    /// Where a newly created group starts: `0`, `$` or an ID.
    pub start: String,
    /// Where a group that vanished is re-created: `0` (every entry again), `$` or an ID.
    pub recreate_at: String,
    /// BLOCK of each read.
    pub block: Duration,
    /// Exit after this long without a message.
    pub idle_exit: Option<Duration>,
    /// Print JSON lines instead of human lines.
    pub json: bool,
    /// Claim entries pending on other consumers for longer than this.
    pub claim_idle: Duration,
    /// Deliveries after which an entry is dead-lettered instead of processed.
    pub max_deliveries: u64,
    /// Dead-letter stream key; `None`: `<stream>:dead`.
    pub dead_letter: Option<String>,
    /// Delete consumers idle longer than this once they hold nothing.
    pub prune_idle: Option<Duration>,
    /// How long to keep reconnecting after a break (`None`: for ever).
    pub retry_for: Option<Duration>,
    /// `--exec`: a handler program does the work, and only its success acks a message.
    pub exec: Option<Exec>,
    /// `--pipe`: one long-running handler answers `ack` or `fail` for each message.
    pub pipe: Option<Pipe>,
    /// `--metrics`: where what happens to messages is counted.
    pub meter: Option<Meter>,
}

/// `--pipe CMD [--in-flight N] [--handler-timeout DUR]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pipe {
    /// The command, started once with `sh -c` (and again after it stops).
    pub command: String,
    /// Messages sent and not yet answered, at most.
    pub in_flight: usize,
    /// How long a message may wait for its answer before it counts as failed.
    pub timeout: Duration,
}

/// `--exec CMD [--jobs N] [--handler-timeout DUR]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exec {
    /// The command, run with `sh -c` once per message.
    pub command: String,
    /// Handlers running at once.
    pub jobs: usize,
    /// How long one run may take before it counts as failed (then it is stopped).
    pub timeout: Duration,
}

/// A message done with (processed or dead-lettered), to be acknowledged: its stream, its ID, and
/// when it was taken up (for `monsoon_consumer_processing_seconds`).
type Done = (Arc<str>, crate::stream_id::StreamId, Instant);

/// Where messages come from, which decides how their delivery count is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    New,
    OwnPending,
    Claimed,
}

/// One running consumer.
pub struct Consumer<'a, W: Write> {
    /// What it was asked to do.
    settings: &'a Settings,
    /// The link its reads, claims and acks go through.
    link: Link,
    /// The stream keys, shared by every message read from them.
    streams: Vec<Arc<str>>,
    /// Where processed messages are printed.
    out: W,
    /// A batch's output, written in one go.
    buffer: Vec<u8>,
    /// What it did so far.
    summary: Summary,
    /// Raised by Ctrl-C/SIGTERM.
    shutdown: &'a Shutdown,
    /// COUNT of the next read (see `read.rs`: it adapts to the entries' size).
    read_count: usize,
    /// When the entries in hand were last delivered or re-claimed (see `claim.rs`).
    kept_at: Instant,
    /// When failed handler runs are due again (re-delivered from the pending list).
    retry_at: Option<Instant>,
    /// Whether a handler ever ran (a command that cannot run at all is caught on the first).
    handler_ran: bool,
    /// The running `--pipe` handler.
    pipe: Option<pipe::PipeProcess>,
    /// Whether a `--pipe` handler was ever started (a restart waits a moment first).
    pipe_started: bool,
    /// Restarts of the `--pipe` handler since its last answer (the pause before the next).
    pipe_restarts: u32,
    /// The seed, for dead-letter streams on other cluster nodes.
    target: Target,
    /// Links to the nodes of dead-letter streams (cluster mode only).
    dead_links: HashMap<String, Link>,
    /// When the `--exec` round in hand was taken up.
    handling_since: Instant,
    /// Printed and not acknowledged yet: their XACK goes out with the next read, in one write
    /// (`--delay 0` without a handler; see `fast.rs`).
    deferred: Vec<Done>,
    /// A read sent on the hot path whose replies are not read yet.
    in_flight: Option<fast::InFlight>,
    /// Sending it failed: its replies never come (judged when they are read).
    in_flight_error: Option<std::io::Error>,
    /// How many hash slots its streams span (1 off a cluster): reads per round.
    slots: usize,
    /// The pause after an empty read that did not block (see `read.rs`: `polled`).
    poll_pause: Duration,
}

/// Runs a consumer until Ctrl-C, `--idle-exit`, or an error; see the module docs.
///
/// In cluster mode each node's streams are read by a thread of their own (a read on one node
/// must not hold up the others), one read per hash slot, all in one write; the threads share
/// the output and one summary.
pub fn run<W: Write + Send>(
    target: &Target,
    settings: &Settings,
    shutdown: &Shutdown,
    out: W,
) -> Result<Summary> {
    let started = Instant::now();
    if !target.is_cluster() || settings.streams.len() < 2 {
        let mut consumer = Consumer::start(target, settings, shutdown, out)?;
        let outcome = consumer.serve_then_settle();
        consumer.summary.elapsed = started.elapsed();
        return outcome.map(|()| consumer.summary);
    }
    let per_node: Vec<Settings> = cluster::by_node(
        target,
        &settings.streams,
        crate::server::target::CONNECT_TIMEOUT,
        Some(shutdown),
    )?
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
        |one, out| {
            let mut consumer = Consumer::start(target, one, shutdown, out)?;
            consumer.serve_then_settle().map(|()| consumer.summary)
        },
    )?;
    let mut total = Summary::default();
    for part in &parts {
        total.add(part);
    }
    total.elapsed = started.elapsed();
    Ok(total)
}

/// A stop asked for while the connection was down ends the consumer like any graceful stop:
/// nothing is in hand then (what was delivered and not acked stays pending, on the server).
fn stopped_is_done(outcome: Result<()>) -> Result<()> {
    match outcome {
        Err(Error::Stopped { .. }) => Ok(()),
        other => other,
    }
}

impl<'a, W: Write> Consumer<'a, W> {
    /// Connects, creates or joins the group on every stream.
    fn start(
        target: &Target,
        settings: &'a Settings,
        shutdown: &'a Shutdown,
        out: W,
    ) -> Result<Self> {
        let mut link = Link::open(target, &settings.streams[0], settings.retry_for)?;
        link.stop_on(shutdown);
        if let Some(meter) = &settings.meter {
            link.report_to(meter.health());
        }
        link.set_read_timeout(Some(settings.block + READ_TIMEOUT_MARGIN))?;
        for key in &settings.streams {
            group::create(&mut link, key, &settings.group, &settings.start)?;
        }
        Ok(Consumer {
            settings,
            link,
            streams: settings
                .streams
                .iter()
                .map(|s| Arc::from(s.as_str()))
                .collect(),
            out,
            buffer: Vec::with_capacity(64 * 1024),
            summary: Summary::default(),
            shutdown,
            read_count: 1,
            kept_at: Instant::now(),
            retry_at: None,
            handler_ran: false,
            pipe: None,
            pipe_started: false,
            pipe_restarts: 0,
            target: target.clone(),
            dead_links: HashMap::new(),
            handling_since: Instant::now(),
            deferred: Vec::new(),
            in_flight: None,
            in_flight_error: None,
            slots: match target.is_cluster() {
                true => crate::server::cluster::by_slot(&settings.streams, true).len(),
                false => 1,
            },
            poll_pause: MIN_POLL_PAUSE,
        })
    }

    /// Counts `n` messages of `stream` that ended in `outcome`, for `--metrics`.
    fn counted(&self, stream: &str, outcome: Outcome, n: u64) {
        if let Some(meter) = &self.settings.meter {
            meter.count(stream, outcome, n);
        }
    }

    /// Serves until stopped, then acknowledges what was printed and not acknowledged yet (also
    /// when serving failed: what was printed is done) and closes a `--pipe` handler.
    fn serve_then_settle(&mut self) -> Result<()> {
        let served = stopped_is_done(self.serve());
        let acked = self.flush_acks();
        served.and(stopped_is_done(acked))?;
        self.close_pipe()
    }

    /// The main loop: own pending first, claims, then new messages until told to stop.
    fn serve(&mut self) -> Result<()> {
        self.recover_pending()?;
        let claim_every = (self.settings.claim_idle / 2)
            .clamp(Duration::from_millis(100), Duration::from_secs(30));
        let mut next_claim = Instant::now();
        let mut last_message = Instant::now();
        loop {
            if self.shutdown.is_requested() {
                return Ok(());
            }
            if self.retry_at.is_some_and(|at| Instant::now() >= at) {
                // Failed runs come again through the server, which counts the delivery.
                self.retry_at = None;
                self.recover_pending()?;
                last_message = Instant::now();
            }
            if Instant::now() >= next_claim {
                // What another consumer sees pending must be what we really hold.
                self.flush_acks()?;
                if self.claim_and_prune()? > 0 {
                    last_message = Instant::now();
                }
                next_claim = Instant::now() + claim_every;
            }
            let mut block = self
                .settings
                .block
                .min(next_claim.saturating_duration_since(Instant::now()));
            if let Some(at) = self.retry_at {
                block = block.min(at.saturating_duration_since(Instant::now()));
            }
            if let Some(idle_exit) = self.settings.idle_exit {
                let idle = last_message.elapsed();
                // Never leave while failed runs wait for their retry: they are in hand.
                if idle >= idle_exit && self.retry_at.is_none() {
                    self.flush_acks()?;
                    // Never leave while entries others dropped can still be taken over.
                    if self.claim_and_prune()? == 0 {
                        return Ok(());
                    }
                    last_message = Instant::now();
                    continue;
                }
                block = block.min(idle_exit.saturating_sub(idle));
            }
            // The server times a BLOCK out at its own tick (every 100 ms by default), so a wait
            // that must end on time (--idle-exit) blocks only to a tick before its end, then asks
            // without blocking and waits here.
            let exact = self.settings.idle_exit.is_some() && block < self.settings.block;
            let messages = if exact && block <= SERVER_TICK * 2 {
                let messages = self.read(">", None)?;
                if messages.is_empty() {
                    self.shutdown.sleep(block.min(POLL));
                }
                messages
            } else if exact {
                self.read(">", Some(block - SERVER_TICK))?
            } else {
                self.read(">", Some(block))?
            };
            if self.polled() && !exact {
                // Reads of several slots do not block: wait between empty ones, longer and
                // longer while nothing comes.
                if messages.is_empty() {
                    self.shutdown.sleep(self.poll_pause.min(block));
                    self.poll_pause = (self.poll_pause * 2).min(MAX_POLL_PAUSE);
                } else {
                    self.poll_pause = MIN_POLL_PAUSE;
                }
            }
            if !messages.is_empty() {
                self.handle(messages, Source::New)?;
                // Idle from when the work was done, not from when it arrived.
                last_message = Instant::now();
            }
        }
    }
}

//! Where a message is read, processed, printed and acknowledged: one consumer of a group.
//!
//! ```text
//! XREADGROUP GROUP mygroup alice COUNT 100 STREAMS chennai 0          own pending first
//! XREADGROUP GROUP mygroup alice COUNT 100 BLOCK 1000 STREAMS chennai >   then new ones
//! XACK chennai mygroup 1534291200000-0 ...                            one round trip per batch
//! ```
//!
//! What a consumer is asked to do is one [`Job`], matched once in [`run`]: consume (its
//! [`Work`] being print, `--exec` or `--pipe`), redrive dead letters, or move the group. While
//! consuming, the work is one [`worker::Worker`], chosen once from the [`Work`] (in
//! `Work::worker`); the loop that reads, claims, recovers and stops is the same for all.
//! A crash leaves what was in hand pending (processed again, never lost).
//!
//! - [`consume`]: the consume loop: own pending first, then claims and new entries, as steps of
//!   one loop; a break or a vanished group is a step too (re-read what is ours), not recursion.
//! - [`seat`]: what every worker shares: the group's link, dead letters, acks, the summary,
//!   and keeping what is in hand from looking idle to the others.
//! - [`worker`]: the work as a type, one per mode; [`print`]: print mode (`--delay`, `--json`,
//!   `--template`); [`exec`], [`handler`], [`handler_pool`] and [`handler_pipes`]: `--exec`;
//!   [`pipe`]: `--pipe`; [`output`]: a handler's output, held with bounded memory;
//!   [`progress`]: how far a long handler run is, on a terminal.
//! - [`claim`]: taking over from dead consumers, step by step.
//! - [`redrive`]: `--redrive`: the dead letters handed to the handler once more.
//! - [`reset`]: `--reset-to`: the group moved back (a replay) or on, without consuming.
//! - [`poison`]: what is not a reading; [`Summary`]: what it did, printed at the end.

mod claim;
mod consume;
mod exec;
pub mod handler;
mod handler_pipes;
mod handler_pool;
pub mod output;
mod pipe;
pub mod poison;
mod print;
mod progress;
pub mod redrive;
pub mod reset;
mod seat;
mod summary;
mod worker;

pub use summary::Summary;

use exec::ExecWorker;
use pipe::PipeWorker;
use print::Printer;
use worker::Worker;

use std::io::Write;
use std::time::Duration;

use crate::error::Result;
use crate::metrics::consumer::Meter;
use crate::server::Target;
use crate::shutdown::Shutdown;
use crate::stream_id::StreamId;
use crate::template::Template;

/// What one consumer is asked to do, whatever its job: who it is, where it reads, and how it
/// treats the group.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Consumer name within the group.
    pub name: String,
    /// Stream keys to read (prefix + city).
    pub streams: Vec<String>,
    /// Group name.
    pub group: String,
    /// Messages per read (and per XACK round trip) at most.
    pub batch: usize,
    /// Where a newly created group starts: `0`, `$` or an ID.
    pub start: String,
    /// Where a group that vanished is re-created: `0` (every entry again), `$` or an ID.
    pub recreate_at: String,
    /// BLOCK of each read.
    pub block: Duration,
    /// Exit after this long without a message.
    pub idle_exit: Option<Duration>,
    /// Print (or hand a `--pipe` handler) JSON lines instead of human lines.
    pub json: bool,
    /// Print each message in this shape instead (`--template`).
    pub template: Option<Template>,
    /// Stop once this many messages are done with, reading no more (`--count`).
    pub count: Option<u64>,
    /// Claim entries pending on other consumers for longer than this.
    pub claim_idle: Duration,
    /// Deliveries after which an entry is dead-lettered instead of processed.
    pub max_deliveries: u64,
    /// `--require`: what an entry must hold to be processed (else it is dead-lettered).
    pub require: Vec<poison::Require>,
    /// Dead-letter stream key; `None`: `<stream>:dead`.
    pub dead_letter: Option<String>,
    /// Delete consumers idle longer than this once they hold nothing.
    pub prune_idle: Option<Duration>,
    /// How long to keep reconnecting after a break (`None`: for ever); with `--wait-replicas`,
    /// also how long fewer replicas than asked for may have a dead letter.
    pub retry_for: Option<Duration>,
    /// `--wait-replicas`: a dead letter counts as written (and its entry is acknowledged) only
    /// once this many replicas have it.
    pub wait: Option<crate::server::replicas::Replicas>,
    /// `--metrics`: where what happens to messages is counted.
    pub meter: Option<Meter>,
}

impl Settings {
    /// The dead-letter stream of entries of `stream`.
    pub fn dead_letter_key(&self, stream: &str) -> String {
        self.dead_letter
            .clone()
            .unwrap_or_else(|| format!("{stream}:dead"))
    }
}

/// What the consumer does with each message it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Work {
    /// Print it (after `--delay`, the simulated work), then acknowledge it.
    Print {
        /// Simulated processing time per message; above zero, one message at a time.
        delay: Duration,
    },
    /// Hand it to a handler program; only the handler's success acknowledges it.
    Handle(Handler),
}

impl Work {
    /// The worker that does this work: the one place the consumer's mode is matched.
    fn worker<'w, W: std::io::Write + 'w>(&self, settings: &Settings) -> Box<dyn Worker<W> + 'w> {
        match self {
            Work::Print { delay } => Box::new(Printer::new(
                *delay,
                settings.json,
                settings.template.clone(),
            )),
            Work::Handle(Handler::Exec(exec)) => Box::new(ExecWorker::new(exec.clone())),
            Work::Handle(Handler::Pipe(pipe)) => {
                Box::new(PipeWorker::new(pipe.clone(), settings.json))
            }
        }
    }
}

/// A handler program that does the work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handler {
    /// `--exec`: a run per message.
    Exec(Exec),
    /// `--pipe`: one long-running process answering for each message.
    Pipe(Pipe),
}

/// `--exec CMD [--jobs N] [--exec-batch N] [--handler-timeout DUR]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exec {
    /// The command, run with `sh -c` once per message (or per batch).
    pub command: String,
    /// Handlers running at once.
    pub jobs: usize,
    /// `--exec-batch`: up to this many messages per run, as JSON lines (`None`: one per run,
    /// with its own MONSOON_* environment).
    pub batch: Option<usize>,
    /// How long one run may take before it counts as failed (then it is stopped).
    pub timeout: Duration,
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

/// What the consumer binary is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// Join the group and consume until stopped (or `--idle-exit`).
    Consume(Work),
    /// `--redrive`: hand the dead letters to the handler once more, then exit.
    Redrive(Handler),
    /// `--reset-to`: move the group so its next read starts at this ID, then exit.
    ResetTo {
        /// The first ID the group reads again.
        at: StreamId,
        /// Only say what would move.
        dry_run: bool,
    },
}

/// What a job did, for its last line on stderr.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// What consuming did.
    Consumed(Summary),
    /// What a redrive did.
    Redriven(redrive::Redriven),
    /// The group was moved (the lines went to stdout).
    Reset,
}

impl Outcome {
    /// The line said on stderr at the end (nothing after a reset, which printed its own); with
    /// `json`, a consumer's summary is one JSON object (`{"summary": {...}}`) holding every count.
    pub fn line(&self, name: &str, json: bool) -> Option<String> {
        match self {
            Outcome::Consumed(summary) if json => {
                Some(serde_json::json!({ "summary": summary.to_json(name) }).to_string())
            }
            Outcome::Consumed(summary) => Some(summary.line(name)),
            Outcome::Redriven(done) => Some(done.line(name)),
            Outcome::Reset => None,
        }
    }

    /// The warning said on stderr at the end, even with `--quiet`: how many messages went to
    /// the dead letters and why.
    pub fn warning(&self, name: &str) -> Option<String> {
        match self {
            Outcome::Consumed(summary) => summary.dead_line(name),
            _ => None,
        }
    }

    /// The exit code: [`exit::ALL_DEAD`] when consuming dead-lettered every message it read.
    pub fn code(&self) -> i32 {
        match self {
            Outcome::Consumed(summary) if summary.all_dead() => crate::exit::ALL_DEAD,
            _ => crate::exit::SUCCESS,
        }
    }
}

/// Runs `job`, writing what it prints to `out`; see the module docs.
pub fn run<W: Write + Send>(
    target: &Target,
    settings: &Settings,
    job: &Job,
    shutdown: &Shutdown,
    out: W,
) -> Result<Outcome> {
    match job {
        Job::Consume(work) => {
            consume::run(target, settings, work, shutdown, out).map(Outcome::Consumed)
        }
        Job::Redrive(handler) => {
            redrive::run(target, settings, handler, shutdown, out).map(Outcome::Redriven)
        }
        Job::ResetTo { at, dry_run } => {
            reset::run(target, settings, *at, *dry_run, out).map(|_| Outcome::Reset)
        }
    }
}

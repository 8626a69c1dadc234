//! Where a message is read, processed, printed and acknowledged: one consumer of a group.
//!
//! ```text
//! XREADGROUP GROUP mygroup alice COUNT 100 STREAMS chennai 0          own pending first
//! XREADGROUP GROUP mygroup alice COUNT 100 BLOCK 1000 STREAMS chennai >   then new ones
//! XACK chennai mygroup 1534291200000-0 ...                            one round trip per batch
//! ```
//!
//! Per message: wait `--delay` (the simulated work), print, then XACK. A message is acked only
//! after its line was written, so a crash leaves it pending (processed again, never lost).

pub mod group;
pub mod poison;
mod process;
mod summary;

pub use summary::Summary;

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::Value;

use crate::error::Result;
use crate::fanout::{Shared, fan_out};
use crate::message::Message;
use crate::server::target::has_code;
use crate::server::{Link, Target, entries, queries};
use crate::shutdown::Shutdown;
use crate::stream_id::StreamId;

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
}

/// Where messages come from, which decides how their delivery count is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    New,
    OwnPending,
    Claimed,
}

/// One running consumer.
pub struct Consumer<'a, W: Write> {
    settings: &'a Settings,
    link: Link,
    streams: Vec<Arc<str>>,
    last_acked: Vec<Option<StreamId>>,
    out: W,
    buffer: Vec<u8>,
    summary: Summary,
    shutdown: &'a Shutdown,
    /// The seed, for dead-letter streams on other cluster nodes.
    target: Target,
    /// Links to the nodes of dead-letter streams (cluster mode only).
    dead_links: HashMap<String, Link>,
}

/// Runs a consumer until Ctrl-C, `--idle-exit`, or an error; see the module docs.
///
/// In cluster mode each stream is read by its own thread on the node that owns it (a blocking
/// read on one node must not hold up the others), sharing the output and one summary.
pub fn run<W: Write + Send>(
    target: &Target,
    settings: &Settings,
    shutdown: &Shutdown,
    out: W,
) -> Result<Summary> {
    let started = Instant::now();
    if !target.is_cluster() || settings.streams.len() < 2 {
        let mut consumer = Consumer::start(target, settings, shutdown, out)?;
        let outcome = consumer.serve();
        consumer.summary.elapsed = started.elapsed();
        return outcome.map(|()| consumer.summary);
    }
    let per_stream: Vec<Settings> = settings
        .streams
        .iter()
        .map(|key| Settings {
            streams: vec![key.clone()],
            ..settings.clone()
        })
        .collect();
    let out = Shared::new(out);
    // One stream failing stops the others too: the consumer exits as a whole.
    let parts = fan_out(
        &per_stream,
        |one| format!("the consumer of {}", one.streams[0]),
        &out,
        Some(shutdown),
        |one, out| {
            let mut consumer = Consumer::start(target, one, shutdown, out)?;
            consumer.serve().map(|()| consumer.summary)
        },
    )?;
    let mut total = Summary::default();
    for part in &parts {
        total.add(part);
    }
    total.elapsed = started.elapsed();
    Ok(total)
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
            last_acked: vec![None; settings.streams.len()],
            out,
            buffer: Vec::with_capacity(64 * 1024),
            summary: Summary::default(),
            shutdown,
            target: target.clone(),
            dead_links: HashMap::new(),
        })
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
            if Instant::now() >= next_claim {
                if self.claim_and_prune()? > 0 {
                    last_message = Instant::now();
                }
                next_claim = Instant::now() + claim_every;
            }
            let mut block = self
                .settings
                .block
                .min(next_claim.saturating_duration_since(Instant::now()));
            if let Some(idle_exit) = self.settings.idle_exit {
                let idle = last_message.elapsed();
                if idle >= idle_exit {
                    // Never leave while entries others dropped can still be taken over.
                    if self.claim_and_prune()? == 0 {
                        return Ok(());
                    }
                    last_message = Instant::now();
                    continue;
                }
                block = block.min(idle_exit - idle);
            }
            let messages = self.read(">", block)?;
            if !messages.is_empty() {
                last_message = Instant::now();
                self.handle(messages, Source::New)?;
            }
        }
    }

    /// Re-processes what this consumer had read but not acknowledged (after a crash or a broken
    /// connection), reading its pending list with ID `0` and moving on from the last one seen.
    fn recover_pending(&mut self) -> Result<()> {
        let mut from = vec![StreamId::ZERO; self.streams.len()];
        let mut open = vec![true; self.streams.len()];
        while open.iter().any(|o| *o) && !self.shutdown.is_requested() {
            let keys: Vec<usize> = (0..self.streams.len()).filter(|i| open[*i]).collect();
            let ids: Vec<String> = keys.iter().map(|i| from[*i].to_string()).collect();
            let reply = self.read_raw(&keys, &ids, None)?;
            let mut messages = self.decode(reply)?;
            for index in &keys {
                let last = messages
                    .iter()
                    .filter(|m| *m.stream == *self.streams[*index])
                    .map(|m| m.id)
                    .max();
                match last {
                    Some(last) => from[*index] = last,
                    None => open[*index] = false,
                }
            }
            if messages.is_empty() {
                break;
            }
            group::fill_deliveries(
                &mut self.link,
                &self.settings.group,
                &self.settings.name,
                &mut messages,
            )?;
            self.handle(messages, Source::OwnPending)?;
        }
        Ok(())
    }

    /// One claim sweep over every stream (and pruning, when asked); returns what it took over.
    fn claim_and_prune(&mut self) -> Result<u64> {
        let mut taken = 0;
        for index in 0..self.streams.len() {
            let key = Arc::clone(&self.streams[index]);
            let settings = self.settings;
            let claimed = group::claim_idle(
                &mut self.link,
                &key,
                &settings.group,
                &settings.name,
                settings.claim_idle,
                settings.batch.max(10),
            )?;
            if !claimed.deleted.is_empty() {
                self.ack(&key, &claimed.deleted)?;
                self.summary.deleted += claimed.deleted.len() as u64;
                taken += claimed.deleted.len() as u64;
            }
            if !claimed.messages.is_empty() {
                taken += claimed.messages.len() as u64;
                self.handle(claimed.messages, Source::Claimed)?;
            }
            if let Some(idle) = settings.prune_idle {
                let pruned =
                    group::prune_idle(&mut self.link, &key, &settings.group, &settings.name, idle)?;
                for name in &pruned {
                    eprintln!(
                        "{}: deleted idle consumer {name} from group {} on {key}",
                        settings.name, settings.group
                    );
                }
                self.summary.pruned += pruned.len() as u64;
            }
        }
        Ok(taken)
    }

    /// Reads from every stream at `id` (`>` for new messages), re-creating a vanished group and
    /// reconnecting a broken connection as needed.
    fn read(&mut self, id: &str, block: Duration) -> Result<Vec<Message>> {
        let keys: Vec<usize> = (0..self.streams.len()).collect();
        let ids = vec![id.to_string(); keys.len()];
        // BLOCK 0 would mean "for ever": never ask for less than a millisecond.
        let block = block.max(Duration::from_millis(1));
        let reply = self.read_raw(&keys, &ids, Some(block))?;
        self.decode(reply)
    }

    /// One XREADGROUP; handles NOGROUP/UNBLOCKED and broken connections, returns the raw reply.
    fn read_raw(
        &mut self,
        keys: &[usize],
        ids: &[String],
        block: Option<Duration>,
    ) -> Result<Value> {
        let settings = self.settings;
        let count = if settings.delay.is_zero() {
            settings.batch.max(1)
        } else {
            1
        };
        loop {
            let mut cmd = redis::cmd("XREADGROUP");
            cmd.arg("GROUP")
                .arg(&settings.group)
                .arg(&settings.name)
                .arg("COUNT")
                .arg(count);
            if let Some(block) = block {
                cmd.arg("BLOCK").arg(block.as_millis() as u64);
            }
            cmd.arg("STREAMS");
            for index in keys {
                cmd.arg(&*self.streams[*index]);
            }
            cmd.arg(ids);
            match cmd.query::<Value>(self.link.con()) {
                Ok(reply) => {
                    self.link.settled();
                    return Ok(reply);
                }
                Err(err) if has_code(&err, "NOGROUP") || has_code(&err, "UNBLOCKED") => {
                    for index in keys {
                        let key = &*self.streams[*index];
                        let at = group::recreate(
                            &mut self.link,
                            key,
                            &settings.group,
                            self.last_acked[*index],
                        )?;
                        eprintln!(
                            "{}: group {} on {key} had vanished; re-created it at {at}",
                            settings.name, settings.group
                        );
                    }
                }
                Err(err) => {
                    let what = format!("XREADGROUP on {}", settings.streams.join(" "));
                    self.link.ride_out(&what, &err)?;
                    // A reply lost with the connection left its entries pending on us, unseen.
                    if ids.iter().any(|id| id == ">") {
                        self.recover_pending()?;
                    }
                }
            }
        }
    }

    /// The messages of an XREADGROUP reply.
    fn decode(&self, reply: Value) -> Result<Vec<Message>> {
        entries::decode_read(reply, &self.streams)
            .map_err(|e| queries::bad_reply(&self.link, "XREADGROUP", e))
    }
}

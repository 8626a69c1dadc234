//! `--retain` and `--retain-dead`: when a city's run trims its stream and its dead letters, and
//! what it says about a consumer group that held a trim back.
//!
//! ```text
//! XADD chennai ... (a batch); EVAL "<trim>" 1 chennai 3600000 0     after every batch or tick
//! XRANGE chennai <pin> <wanted cut - 1> COUNT 10000 ...             counting what a group pins
//! XTRIM chennai:dead MINID <now ms - DUR>                           --retain-dead
//! ```
//!
//! The trim itself, and what counts as a group's pin, is [`crate::server::retention`].

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::server::resp::Reply;
use crate::server::retention::{self, Trim};
use crate::server::{Link, Target, streams};
use crate::shutdown::Shutdown;
use crate::stream_id::StreamId;

/// How a city's stream is kept short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Keep the entries newer than this before the stream's newest entry (`--retain`).
    pub keep: Duration,
    /// Trim past what consumer groups still need (`--retain-ignore-groups`).
    pub ignore_groups: bool,
}

/// What a run trimmed, per stream (`None`: that trim was not asked for).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Trimmed {
    /// Entries `--retain` deleted from the city's stream.
    pub stream: Option<u64>,
    /// Dead letters `--retain-dead` deleted from `<stream>:dead`.
    pub dead: Option<u64>,
}

/// The dead-letter stream `--retain-dead` trims: the consumer's default for `key`.
pub fn dead_key(key: &str) -> String {
    format!("{key}:dead")
}

/// One city's trims over a run: the stream's (`--retain`), the dead letters' (`--retain-dead`),
/// and which holding groups were already named. Does nothing, and costs nothing, without them.
pub struct Trimmer {
    /// The city's stream key.
    key: String,
    /// `--retain`.
    retention: Option<Retention>,
    /// The retention trim, packed once for the day producer's pipeline.
    packed: Vec<u8>,
    /// `--retain-dead`, with its own link: in a cluster `<stream>:dead` may live on another node.
    dead: Option<(Link, Duration)>,
    /// Groups already named as holding the trim back: each is named once per run.
    named: HashSet<String>,
    /// Trims held back by a group not named yet, waiting until the connection is free to count
    /// what the group pins (a pipeline may still have batches in flight).
    held: Vec<Trim>,
    /// What was trimmed so far.
    trimmed: Trimmed,
}

impl Trimmer {
    /// The trims of `key`; opens the dead letters' link (stopping on `shutdown` while
    /// reconnecting) when `--retain-dead` asks for it.
    pub fn new(
        target: &Target,
        key: &str,
        (retention, retain_dead): (Option<Retention>, Option<Duration>),
        retry_for: Option<Duration>,
        shutdown: &Shutdown,
    ) -> Result<Self> {
        let dead = match retain_dead {
            Some(keep) => {
                let mut link = Link::open(target, &dead_key(key), retry_for)?;
                link.stop_on(shutdown);
                Some((link, keep))
            }
            None => None,
        };
        let packed = retention.map_or_else(Vec::new, |r| {
            retention::trim_command(key, millis(r.keep), r.ignore_groups).packed()
        });
        Ok(Trimmer {
            key: key.to_string(),
            retention,
            packed,
            dead,
            named: HashSet::new(),
            held: Vec::new(),
            trimmed: Trimmed {
                stream: retention.map(|_| 0),
                dead: retain_dead.map(|_| 0),
            },
        })
    }

    /// The retention trim to append to a pipelined batch; `None` without `--retain`.
    pub fn pipelined(&self) -> Option<&[u8]> {
        self.retention.map(|_| self.packed.as_slice())
    }

    /// What a failed retention trim is called in errors (the command and the key).
    pub fn what(&self) -> String {
        retention::trim_what(&self.key)
    }

    /// Takes the reply of a pipelined trim; a group that held it back is named by the next
    /// [`Trimmer::trim`] or [`Trimmer::name_holders`], once the pipeline is drained.
    pub fn record(&mut self, reply: Reply) -> Result<()> {
        let trim = retention::parse_trim(reply).ok_or_else(|| Error::Server {
            address: String::from("the server"),
            what: self.what(),
            reason: String::from("unexpected reply: not [deleted, wanted cut, applied cut, group]"),
        })?;
        self.note(trim);
        Ok(())
    }

    /// Trims the stream (`--retain`) once now on `link`, and names a group that held it back.
    pub fn trim(&mut self, link: &mut Link) -> Result<()> {
        if let Some(retention) = self.retention {
            let keep = millis(retention.keep);
            let trim = retention::trim(link, &self.key, keep, retention.ignore_groups)?;
            self.note(trim);
        }
        self.name_holders(link)
    }

    /// Trims the dead letters (`--retain-dead`) to those of the last DUR by the clock.
    pub fn trim_dead(&mut self) -> Result<()> {
        let Some((link, keep)) = &mut self.dead else {
            return Ok(());
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, millis);
        if let Some(min_ms) = now.checked_sub(millis(*keep)) {
            let deleted =
                retention::trim_dead(link, &dead_key(&self.key), StreamId::new(min_ms, 0))?;
            *self.trimmed.dead.get_or_insert(0) += deleted;
        }
        Ok(())
    }

    /// What was trimmed so far.
    pub fn trimmed(&self) -> Trimmed {
        self.trimmed
    }

    /// Counts it as trimmed, and keeps it for naming when a group not named yet held it back;
    /// a later trim held back by the same group replaces the earlier one (the day producer
    /// names holders after its last batch: what they pin then is what matters).
    fn note(&mut self, trim: Trim) {
        *self.trimmed.stream.get_or_insert(0) += trim.deleted;
        let Some(group) = &trim.held_by else {
            return;
        };
        if self.named.contains(group) {
            return;
        }
        match self
            .held
            .iter_mut()
            .find(|held| held.held_by == trim.held_by)
        {
            Some(earlier) => *earlier = trim,
            None => self.held.push(trim),
        }
    }

    /// Says on stderr, once per run for each, which group held a trim back and how many entries
    /// it pinned that retention would have trimmed; counted now, after the trim, page by page.
    pub fn name_holders(&mut self, link: &mut Link) -> Result<()> {
        let keep = self.retention.map_or(Duration::ZERO, |r| r.keep);
        for trim in std::mem::take(&mut self.held) {
            let (Some(group), Some(pin), Some(wanted)) = (trim.held_by, trim.applied, trim.wanted)
            else {
                continue;
            };
            let pinned = match wanted.predecessor().filter(|last| *last >= pin) {
                Some(last) => streams::count_entries(link, &self.key, pin, &last.to_string())?,
                None => 0,
            };
            eprintln!("{}", held_back(&self.key, &group, pin, pinned, keep));
            self.named.insert(group);
        }
        Ok(())
    }
}

/// The line that names a group holding a trim back.
pub fn held_back(key: &str, group: &str, pin: StreamId, pinned: u64, keep: Duration) -> String {
    format!(
        "producer: retention of {key} held back by group {group} at {pin}: it still needs \
         {pinned} entries older than {}",
        humantime::format_duration(keep)
    )
}

/// A duration in whole milliseconds (saturating).
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The held-back line names the stream, the group, its pin, the count and the duration.
    #[test]
    fn held_back_line() {
        assert_eq!(
            held_back(
                "chennai",
                "slow",
                StreamId::new(1_534_309_200_000, 0),
                64_800,
                Duration::from_secs(3600)
            ),
            "producer: retention of chennai held back by group slow at 1534309200000-0: it \
             still needs 64800 entries older than 1h"
        );
    }
}

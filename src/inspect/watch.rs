//! `inspect watch STREAM [--group G]`: a live view, redrawn every second while consumers run:
//! the stream's length, the group's lag, and per consumer its rate, pending count and idle time,
//! so an audience sees bob join, share the work, and stop.
//!
//! ```text
//! XLEN chennai; XINFO GROUPS chennai; XINFO CONSUMERS chennai mygroup    once per frame
//! XPENDING chennai mygroup - + 100                                       every 50 ms
//! ```
//!
//! Redis keeps no per-consumer count of processed entries, only the group's `entries-read`
//! (7.0+). So between frames we sample the pending list every [`SAMPLE`]: an entry a consumer
//! is working on sits there until it is acknowledged, and a consumer that takes one message at a
//! time (`--delay`) holds each long enough to be seen. Each consumer's share of what was seen,
//! times the group's exact delivery rate, is its rate; without `entries-read`, the raw count of
//! entries seen per second is shown instead.
//!
//! On a terminal each frame clears the screen and the cursor is hidden, and shown again on the
//! way out (Ctrl-C included); elsewhere (a pipe, a file, a test) frames simply follow each other.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};

use super::table::Table;
use crate::color::{self, Paint};
use crate::error::{Error, Result};
use crate::message::Message;
use crate::server::Link;
use crate::server::info::{Group, Member};
use crate::server::streams::{self, PendingRange};
use crate::shutdown::Shutdown;
use crate::stream_id::StreamId;

/// How often the pending list is sampled between frames.
pub const SAMPLE: Duration = Duration::from_millis(50);

/// Pending entries looked at per sample.
const SAMPLE_COUNT: u64 = 100;

/// Clears the screen and moves the cursor home.
const CLEAR: &str = "\x1b[H\x1b[2J";
/// Hides the cursor while frames are drawn.
const HIDE_CURSOR: &str = "\x1b[?25l";
/// Shows the cursor again.
const SHOW_CURSOR: &str = "\x1b[?25h";

/// `watch`: which group of which stream, how often, how many frames, drawn how.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The full stream key.
    pub key: String,
    /// The consumer group.
    pub group: String,
    /// Time between frames.
    pub interval: Duration,
    /// Stop after this many frames (for scripts and tests).
    pub frames: Option<u64>,
    /// One JSON object per frame instead of a drawing.
    pub json: bool,
    /// Whether to redraw in place with ANSI escapes (stdout is a terminal).
    pub ansi: bool,
    /// A consumer idle this long is tagged: `claimable` with entries pending (another
    /// consumer's `--claim-idle` sweep takes them), `idle` without.
    pub claim_idle: Duration,
}

/// What one frame shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frame {
    /// When the frame was taken.
    pub at: DateTime<Utc>,
    /// The full stream key.
    pub stream: String,
    /// The group watched.
    pub group: String,
    /// Whether the stream exists (the view waits for it to appear).
    pub exists: bool,
    /// XLEN of the stream (0 while it does not exist).
    pub length: u64,
    /// The group, once it exists.
    pub info: Option<Group>,
    /// Every group of the stream, with its consumers (for `serve`'s metrics).
    pub groups: Vec<Group>,
    /// The newest entry of the stream.
    pub newest: Option<Message>,
    /// Entries delivered to the group per second since the last frame.
    pub rate: Option<f64>,
    /// Each consumer's rate per second since the last frame, by name.
    pub rates: BTreeMap<String, f64>,
}

impl Watch {
    /// Draws frames until `frames` were drawn or a stop is asked for; the cursor is shown again
    /// whatever happens.
    pub fn run(&self, link: &mut Link, shutdown: &Shutdown, out: &mut impl Write) -> Result<()> {
        link.limit_replies(Duration::from_secs(5))?;
        let draw = self.ansi && !self.json;
        if draw {
            super::emit(out, HIDE_CURSOR)?;
        }
        let result = self.frames_loop(link, shutdown, out);
        if draw {
            // Best effort: the terminal must come back even when the frames failed.
            let _ = super::emit(out, SHOW_CURSOR);
        }
        result
    }

    fn frames_loop(
        &self,
        link: &mut Link,
        shutdown: &Shutdown,
        out: &mut impl Write,
    ) -> Result<()> {
        let mut drawn = 0u64;
        let mut watcher = Watcher::new(&self.key, &self.group);
        loop {
            let taken = Instant::now();
            let frame = watcher.frame(link)?;
            let text = if self.json {
                format!("{}\n", to_json(&frame))
            } else if self.ansi {
                format!("{CLEAR}{}", render(&frame, self.interval, self.claim_idle))
            } else {
                format!("{}\n", render(&frame, self.interval, self.claim_idle))
            };
            super::emit(out, &text)?;
            drawn += 1;
            if self.frames.is_some_and(|n| drawn >= n) {
                return Ok(());
            }
            let next = taken + self.interval;
            while Instant::now() < next {
                watcher.sample(link)?;
                let pause = SAMPLE.min(next.saturating_duration_since(Instant::now()));
                if shutdown.sleep(pause) {
                    return Ok(());
                }
            }
        }
    }
}

/// Takes the frames of one stream and group, keeping what rates are computed from: the last
/// frame's time and `entries-read`, and the entries seen pending since, per consumer. Shared by
/// `watch` and `serve`.
#[derive(Debug, Clone)]
pub struct Watcher {
    /// The full stream key.
    key: String,
    /// The group watched.
    group: String,
    /// When the last frame was taken, and the group's `entries-read` then.
    previous: Option<(Instant, Option<u64>)>,
    /// Entries seen pending since the last frame, per consumer.
    seen: BTreeMap<String, BTreeSet<StreamId>>,
    /// What was seen in the interval before (counted then, not again).
    seen_before: BTreeMap<String, BTreeSet<StreamId>>,
    /// Whether the group existed at the last frame (no sampling before it does).
    group_exists: bool,
}

impl Watcher {
    /// A watcher of `group` on `key`.
    pub fn new(key: &str, group: &str) -> Self {
        Watcher {
            key: key.to_string(),
            group: group.to_string(),
            previous: None,
            seen: BTreeMap::new(),
            seen_before: BTreeMap::new(),
            group_exists: false,
        }
    }

    /// The next frame, with rates since the one before.
    pub fn frame(&mut self, link: &mut Link) -> Result<Frame> {
        let taken = Instant::now();
        let mut frame = self.snapshot(link)?;
        if let Some((then, read_then)) = self.previous {
            let seconds = taken.duration_since(then).as_secs_f64();
            let read_now = frame.info.as_ref().and_then(|g| g.entries_read);
            frame.rate = match (read_then, read_now) {
                (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / seconds),
                _ => None,
            };
            // An entry held across frames (a slow message, or one a dead consumer keeps) counts
            // once, in the frame it first showed up in: a stuck consumer has no rate.
            let counts: BTreeMap<String, u64> = self
                .seen
                .iter()
                .map(|(name, ids)| {
                    let before = self.seen_before.get(name);
                    let new = ids
                        .iter()
                        .filter(|id| before.is_none_or(|b| !b.contains(id)));
                    (name.clone(), new.count() as u64)
                })
                .collect();
            frame.rates = consumer_rates(&counts, frame.rate, seconds);
            for member in frame.info.iter().flat_map(|g| &g.members) {
                frame.rates.entry(member.name.clone()).or_insert(0.0);
            }
        }
        self.previous = Some((taken, frame.info.as_ref().and_then(|g| g.entries_read)));
        self.seen_before = std::mem::take(&mut self.seen);
        self.group_exists = frame.info.is_some();
        Ok(frame)
    }

    /// Length, groups, consumers and the newest entry, now.
    fn snapshot(&self, link: &mut Link) -> Result<Frame> {
        let mut frame = Frame {
            at: Utc::now(),
            stream: self.key.clone(),
            group: self.group.clone(),
            ..Frame::default()
        };
        frame.exists = streams::stream_exists(link, &self.key)?;
        if !frame.exists {
            return Ok(frame);
        }
        frame.length = streams::length(link, &self.key)?;
        frame.groups = streams::groups(link, &self.key)?;
        frame.info = frame.groups.iter().find(|g| g.name == self.group).cloned();
        streams::range_pages(
            link,
            &self.key,
            ("-", "+"),
            streams::Direction::Backward,
            1,
            Some(1),
            |page| {
                frame.newest = page.get(0).map(|e| e.to_message());
                Ok(false)
            },
        )?;
        Ok(frame)
    }

    /// Notes which entries each consumer holds right now (once the group exists).
    pub fn sample(&mut self, link: &mut Link) -> Result<()> {
        if !self.group_exists {
            return Ok(());
        }
        let range = PendingRange::first(SAMPLE_COUNT);
        match streams::pending_entries(link, &self.key, &self.group, range) {
            Ok(entries) => {
                for entry in entries {
                    self.seen
                        .entry(entry.consumer)
                        .or_default()
                        .insert(entry.id);
                }
                Ok(())
            }
            // The group or stream went away between frames: the next frame will say so.
            Err(Error::NoGroup { .. } | Error::Server { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }
}

/// Per consumer entries per second: its share of the entries seen pending, times the group's
/// exact delivery rate when the server reports one; else what was seen, per second.
pub fn consumer_rates(
    seen: &BTreeMap<String, u64>,
    group_rate: Option<f64>,
    seconds: f64,
) -> BTreeMap<String, f64> {
    let total: u64 = seen.values().sum();
    seen.iter()
        .map(|(name, &count)| {
            let rate = match group_rate {
                Some(rate) if total > 0 => rate * count as f64 / total as f64,
                _ if seconds > 0.0 => count as f64 / seconds,
                _ => 0.0,
            };
            (name.clone(), rate)
        })
        .collect()
}

fn rate_text(rate: Option<f64>) -> String {
    rate.map_or_else(|| String::from("-"), |r| format!("{r:.1}"))
}

/// The tag of a consumer idle for `claim_idle` or more: `claimable` while it holds entries,
/// else `idle`; painted when stdout is coloured.
fn tag(member: &Member, claim_idle: Duration) -> Option<String> {
    if u128::from(member.idle_ms) < claim_idle.as_millis() {
        return None;
    }
    let (word, paint) = match member.pending {
        0 => ("idle", Paint::Warning),
        _ => ("claimable", Paint::Claim),
    };
    Some(color::stdout(paint, word).into_owned())
}

/// A frame for people; consumers idle for `claim_idle` are tagged after their row, so the
/// columns stay where they are.
pub fn render(frame: &Frame, interval: Duration, claim_idle: Duration) -> String {
    let mut text = format!(
        "inspect watch: {} / group {}   {} UTC, every {}, Ctrl-C to quit\n\n",
        frame.stream,
        frame.group,
        frame.at.format("%H:%M:%S"),
        humantime::format_duration(interval)
    );
    if !frame.exists {
        text.push_str(&format!(
            "stream {}: does not exist yet (shown when it appears)\n",
            frame.stream
        ));
        return text;
    }
    text.push_str(&format!(
        "stream {}: {} entries\n",
        frame.stream, frame.length
    ));
    let Some(group) = &frame.info else {
        text.push_str(&format!("group {}: not created yet\n", frame.group));
        return text;
    };
    text.push_str(&format!(
        "group {}: lag {}, delivered {} ({}/s), pending {}, last delivered {}\n\n",
        group.name,
        group
            .lag
            .map_or_else(|| String::from("?"), |l| l.to_string()),
        group
            .entries_read
            .map_or_else(|| String::from("?"), |n| n.to_string()),
        rate_text(frame.rate),
        group.pending,
        super::id_with_time(group.last_delivered),
    ));
    if group.members.is_empty() {
        text.push_str("no consumers yet\n");
        return text;
    }
    let mut table = Table::new(&["CONSUMER", "RATE/s", "PENDING", "IDLE"]);
    table.right(1).right(2).right(3);
    for member in &group.members {
        table.row(vec![
            member.name.clone(),
            rate_text(frame.rates.get(&member.name).copied()),
            member.pending.to_string(),
            super::human_ms(member.idle_ms),
        ]);
    }
    let rows = table.render(true);
    let tags = std::iter::once(None).chain(group.members.iter().map(|m| tag(m, claim_idle)));
    for (line, tag) in rows.lines().zip(tags) {
        text.push_str(line);
        if let Some(tag) = tag {
            text.push_str("  ");
            text.push_str(&tag);
        }
        text.push('\n');
    }
    text
}

/// A frame as one JSON object: `time`, `stream`, `group`, `length`, `stream_exists`, `exists`
/// (the group), `lag`, `entries_read`, `pending`, `rate`, `members` (`name`, `rate`, `pending`,
/// `idle_ms`) and `newest` (the newest entry as `range --json` prints it, or null).
pub fn to_json(frame: &Frame) -> serde_json::Value {
    let group = frame.info.as_ref();
    serde_json::json!({
        "time": frame.at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "stream": frame.stream,
        "group": frame.group,
        "length": frame.length,
        "stream_exists": frame.exists,
        "exists": group.is_some(),
        "lag": group.and_then(|g| g.lag),
        "entries_read": group.and_then(|g| g.entries_read),
        "pending": group.map_or(0, |g| g.pending),
        "rate": frame.rate,
        "members": group.iter().flat_map(|g| &g.members).map(|m| serde_json::json!({
            "name": m.name,
            "rate": frame.rates.get(&m.name),
            "pending": m.pending,
            "idle_ms": m.idle_ms,
        })).collect::<Vec<_>>(),
        "newest": frame.newest.as_ref().map(|m| super::entry_json(&m.entry())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::info::Member;

    fn frame() -> Frame {
        Frame {
            at: DateTime::from_timestamp_millis(1534291200000).unwrap_or_default(),
            stream: String::from("chennai"),
            group: String::from("mygroup"),
            exists: true,
            length: 86400,
            info: Some(Group {
                name: String::from("mygroup"),
                consumers: 2,
                pending: 1,
                last_delivered: Some(StreamId::new(1534291241000, 0)),
                entries_read: Some(42),
                lag: Some(86358),
                members: vec![
                    Member {
                        name: String::from("alice"),
                        pending: 0,
                        idle_ms: 40,
                    },
                    Member {
                        name: String::from("bob"),
                        pending: 1,
                        idle_ms: 12_000,
                    },
                ],
            }),
            rate: Some(20.0),
            rates: BTreeMap::from([(String::from("alice"), 20.0), (String::from("bob"), 0.0)]),
            ..Frame::default()
        }
    }

    /// Each consumer gets its seen share of the group's exact rate, or its raw count per second.
    #[test]
    fn rates_split_the_group_rate() {
        let seen = BTreeMap::from([(String::from("alice"), 3), (String::from("bob"), 1)]);
        let rates = consumer_rates(&seen, Some(20.0), 1.0);
        assert_eq!(rates["alice"], 15.0);
        assert_eq!(rates["bob"], 5.0);
        assert_eq!(consumer_rates(&seen, None, 2.0)["alice"], 1.5);
    }

    /// A frame shows length, lag, rates, pending and idle time per consumer.
    #[test]
    fn renders_a_frame() {
        let text = render(&frame(), Duration::from_secs(1), Duration::from_secs(10));
        assert_eq!(
            text,
            "inspect watch: chennai / group mygroup   00:00:00 UTC, every 1s, Ctrl-C to quit\n\
             \n\
             stream chennai: 86400 entries\n\
             group mygroup: lag 86358, delivered 42 (20.0/s), pending 1, last delivered \
             1534291241000-0 (2018-08-15T00:00:41Z)\n\
             \n\
             CONSUMER  RATE/s  PENDING   IDLE\n\
             alice       20.0        0   40ms\n\
             bob          0.0        1  12.0s  claimable\n"
        );
        let later = render(&frame(), Duration::from_secs(1), Duration::from_secs(30));
        assert!(
            later.ends_with("bob          0.0        1  12.0s\n"),
            "{later}"
        );
        let before = Frame {
            info: None,
            ..frame()
        };
        assert!(
            render(&before, Duration::from_secs(1), Duration::from_secs(30))
                .ends_with("group mygroup: not created yet\n")
        );
        let missing = Frame {
            exists: false,
            length: 0,
            info: None,
            ..frame()
        };
        assert!(
            render(&missing, Duration::from_secs(1), Duration::from_secs(30))
                .ends_with("stream chennai: does not exist yet (shown when it appears)\n")
        );
    }

    /// A frame's JSON carries the same figures as data.
    #[test]
    fn json_frame() {
        let json = to_json(&frame());
        assert_eq!(json["length"], 86400);
        assert_eq!(json["lag"], 86358);
        assert_eq!(json["exists"], true);
        assert_eq!(
            json["members"][1],
            serde_json::json!({"name": "bob", "rate": 0.0, "pending": 1, "idle_ms": 12000})
        );
    }
}

//! `inspect tail STREAM...`: a blocking read over one or more streams, printing entries as they
//! arrive (the original demo's XREAD over chennai and coimbatore).
//!
//! ```text
//! XREVRANGE chennai + - COUNT 1                   `$` resolved once to the stream's last ID
//! XREAD COUNT 100 BLOCK 1000 STREAMS chennai coimbatore 1534377599000-0 0-0
//! ```
//!
//! `$` is resolved to a concrete ID once, at start: passing `$` to every XREAD would skip
//! whatever arrived between two reads. BLOCK stays well below the socket read timeout, so the
//! server always answers before the client gives up on it, and Ctrl-C is noticed between reads.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use redis::Value;

use super::bound::Bound;
use crate::connection::{Link, ensure_stream};
use crate::error::Result;
use crate::message::decode_read;
use crate::shutdown::Shutdown;
use crate::stream_id::StreamId;

/// How long each XREAD waits for new entries.
pub const BLOCK: Duration = Duration::from_secs(1);

/// Socket read timeout on top of [`BLOCK`]: the server answers when BLOCK expires, so a read
/// that takes this much longer means the connection is gone.
const READ_TIMEOUT_MARGIN: Duration = Duration::from_secs(5);

/// Entries asked for per read.
const READ_COUNT: u64 = 100;

/// Where `tail` starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// `$`: only entries added after the start.
    New,
    /// Entries from this bound on (an ID: strictly after it, as XREAD does).
    From(Bound),
}

/// `tail`: which streams, from where, for how long.
#[derive(Debug, Clone)]
pub struct Tail {
    /// The full stream keys.
    pub keys: Vec<String>,
    /// Where to start reading.
    pub start: Start,
    /// Exit after this many entries.
    pub count: Option<u64>,
    /// One JSON object per entry instead of columns.
    pub json: bool,
}

impl Tail {
    /// Reads until `count` entries were printed or a stop is asked for.
    pub fn run(&self, link: &mut Link, shutdown: &Shutdown, out: &mut impl Write) -> Result<()> {
        for key in &self.keys {
            ensure_stream(link, key)?;
        }
        let streams: Vec<Arc<str>> = self.keys.iter().map(|k| Arc::from(k.as_str())).collect();
        let mut after = Vec::with_capacity(self.keys.len());
        for key in &self.keys {
            after.push(match self.start {
                Start::New => last_id(link, key)?,
                Start::From(bound) => bound.read_after(),
            });
        }
        link.set_read_timeout(Some(BLOCK + READ_TIMEOUT_MARGIN))?;
        let width = self
            .keys
            .iter()
            .map(|k| k.chars().count())
            .max()
            .unwrap_or(0);
        let mut left = self.count.unwrap_or(u64::MAX);
        let mut header = true;
        let what = format!("XREAD on {}", self.keys.join(" "));
        while left > 0 && !shutdown.is_requested() {
            let reply: Value = link.call(&what, |con| {
                redis::cmd("XREAD")
                    .arg("COUNT")
                    .arg(left.min(READ_COUNT))
                    .arg("BLOCK")
                    .arg(BLOCK.as_millis() as u64)
                    .arg("STREAMS")
                    .arg(&self.keys)
                    .arg(after.iter().map(StreamId::to_string).collect::<Vec<_>>())
                    .query(con)
            })?;
            let mut messages =
                decode_read(reply, &streams).map_err(|e| super::bad_reply(link, &what, e))?;
            messages.truncate(usize::try_from(left).unwrap_or(usize::MAX));
            if messages.is_empty() {
                continue;
            }
            for message in &messages {
                if let Some(i) = streams.iter().position(|s| Arc::ptr_eq(s, &message.stream)) {
                    after[i] = after[i].max(message.id);
                }
            }
            left -= messages.len() as u64;
            let text = if self.json {
                messages
                    .iter()
                    .map(|m| format!("{}\n", super::entry_json(m)))
                    .collect()
            } else {
                let mut table = super::entries_table(&messages, true);
                table.min_width(0, width);
                table.render(std::mem::take(&mut header))
            };
            super::emit(out, &text)?;
        }
        Ok(())
    }
}

/// The last entry ID of `key`, or `0-0` when it is empty or missing.
fn last_id(link: &mut Link, key: &str) -> Result<StreamId> {
    let what = format!("XREVRANGE {key}");
    let reply: Value = link.call(&what, |con| {
        redis::cmd("XREVRANGE")
            .arg(key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query(con)
    })?;
    let mut messages = Vec::new();
    crate::message::decode_entries(reply, &Arc::from(key), &mut messages)
        .map_err(|e| super::bad_reply(link, &what, e))?;
    Ok(messages.first().map_or(StreamId::ZERO, |m| m.id))
}

/// The clap value parser for `tail --from`: `$`, or a bound as `range` takes it.
pub fn parse_start(text: &str) -> std::result::Result<Start, String> {
    match text.trim() {
        "$" => Ok(Start::New),
        other => super::bound::parse_bound(other).map(Start::From),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--from` takes `$` or anything `range` takes.
    #[test]
    fn starts() {
        assert_eq!(parse_start("$"), Ok(Start::New));
        assert_eq!(parse_start("0"), Ok(Start::From(Bound::Ms(0))));
        assert_eq!(
            parse_start("5-1"),
            Ok(Start::From(Bound::Id(StreamId::new(5, 1))))
        );
        assert!(parse_start("later").is_err());
    }
}

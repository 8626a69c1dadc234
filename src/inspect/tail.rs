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
//!
//! In a Redis Cluster a multi-key XREAD must name keys of one hash slot (CROSSSLOT otherwise,
//! even when one node owns both slots), so the streams are split by slot and each part is read
//! by its own thread on the node that owns it; every thread blocks on its own connection, and
//! the entries go out through one locked output, a whole batch per write.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use super::bound::Bound;
use crate::error::Result;
use crate::fanout::{Shared, fan_out};
use crate::server::{Batch, Link, Target, cluster, streams};
use crate::shutdown::Shutdown;
use crate::stream_id::StreamId;
use crate::template::Template;

/// How long each XREAD waits for new entries.
pub const BLOCK: Duration = Duration::from_secs(1);

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
    /// One line per entry in this shape instead of columns (`--template`).
    pub template: Option<Template>,
}

/// The one output all readers share: what is left to print, and whether the header is out.
struct Printer<'a, W> {
    /// Where the entries go.
    out: &'a mut W,
    /// Entries still to print before `--count` is reached.
    left: u64,
    /// Whether the column header is still to be printed.
    header: bool,
    /// Width of the STREAM column: the longest key, so batches from every reader line up.
    width: usize,
    /// One JSON object per entry instead of columns.
    json: bool,
    /// One line per entry in this shape instead (`--template`).
    template: Option<&'a Template>,
}

impl<W: Write> Printer<'_, W> {
    /// Prints as many of `batch`'s entries as `--count` still allows, in one write; returns
    /// whether the count is now reached.
    fn print(&mut self, batch: &Batch) -> Result<bool> {
        let take = batch
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        if take == 0 {
            return Ok(self.left == 0);
        }
        self.left -= take as u64;
        let entries = batch.iter().take(take);
        if let Some(template) = self.template {
            let mut lines = Vec::with_capacity(take * 64);
            entries.for_each(|e| template.write(&mut lines, "", &e));
            self.out.write_all(&lines)?;
            self.out.flush()?;
            return Ok(self.left == 0);
        }
        let text = if self.json {
            entries
                .map(|e| format!("{}\n", super::entry_json(&e)))
                .collect()
        } else {
            let mut table = super::entries_table(entries, true);
            // Batches are rendered one by one: columns as wide as any row may need, so they line
            // up from batch to batch (live IDs carry a sequence, live times milliseconds).
            table
                .min_width(0, self.width)
                .min_width(1, "1534291200000-999".len())
                .min_width(2, "2018-08-15T00:00:00.250Z".len());
            table.render(std::mem::take(&mut self.header))
        };
        super::emit(self.out, &text)?;
        Ok(self.left == 0)
    }
}

impl Tail {
    /// Reads until `count` entries were printed or a stop is asked for. When `seed` is a
    /// cluster seed, each slot's streams are read on their own node, in their own thread.
    pub fn run<W: Write + Send>(
        &self,
        seed: &Target,
        shutdown: &Shutdown,
        out: &mut W,
    ) -> Result<()> {
        let printer = Shared::new(Printer {
            out,
            left: self.count.unwrap_or(u64::MAX),
            header: true,
            width: self
                .keys
                .iter()
                .map(|k| k.chars().count())
                .max()
                .unwrap_or(0),
            json: self.json,
            template: self.template.as_ref(),
        });
        // Raised when --count is reached or a reader fails: every reader stops after its read.
        let done = Shutdown::new();
        let parts = cluster::by_slot(&self.keys, seed.is_cluster());
        fan_out(
            &parts,
            |keys| format!("the reader of {}", keys.join(" ")),
            &printer,
            Some(&done),
            |keys, printer| {
                let outcome = self.follow(seed, keys, shutdown, &done, printer);
                // Whichever part ends first (--count reached) ends the tail as a whole.
                done.request();
                outcome
            },
        )?;
        Ok(())
    }

    /// Reads `keys` (one slot's, or all of them off a cluster) on one connection until `done`
    /// or `shutdown` is raised, printing through `printer`.
    fn follow<W: Write>(
        &self,
        seed: &Target,
        keys: &[String],
        shutdown: &Shutdown,
        done: &Shutdown,
        printer: &Shared<Printer<'_, W>>,
    ) -> Result<()> {
        let Some(first) = keys.first() else {
            return Ok(());
        };
        let mut link = Link::open(seed, first, Some(super::RETRY_FOR))?;
        link.stop_on(shutdown);
        for key in keys {
            streams::ensure_stream(&mut link, key)?;
        }
        let keys_of: Vec<Arc<str>> = keys.iter().map(|k| Arc::from(k.as_str())).collect();
        let mut after = Vec::with_capacity(keys.len());
        for key in keys {
            after.push(match self.start {
                Start::New => streams::newest_entry(&mut link, key)?.unwrap_or(StreamId::ZERO),
                Start::From(bound) => bound.read_after(),
            });
        }
        link.block_for(BLOCK)?;
        let stopped = || shutdown.is_requested() || done.is_requested();
        let mut batch = Batch::new();
        while !stopped() {
            let left = printer.lock()?.left;
            if left == 0 {
                break;
            }
            let wait = (left.min(READ_COUNT), BLOCK);
            streams::read_after(&mut link, &keys_of, &after, wait, &mut batch)?;
            for entry in batch.iter() {
                if let Some(i) = keys_of.iter().position(|s| s == entry.stream) {
                    after[i] = after[i].max(entry.id);
                }
            }
            // Another reader may have reached --count while this one waited: the printer prints
            // nothing past it, and this reader stops too.
            if printer.lock()?.print(&batch)? {
                break;
            }
        }
        Ok(())
    }
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

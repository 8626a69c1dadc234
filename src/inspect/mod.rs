//! `inspect`: read streams and look into consumer groups, for people (aligned columns, IDs with
//! their UTC time) and for scripts (`--json`, built as data).
//!
//! One file per subcommand, each with the same shape: a settings struct, a `run` that asks the
//! server and writes, and pure functions that turn replies into data and data into text.
//!
//! - [`range`]: `range STREAM` (XRANGE / XREVRANGE), oldest or newest first.
//! - [`tail`]: `tail STREAM...` (blocking XREAD over several streams), entries as they arrive.
//! - [`pending`]: `pending STREAM` (XPENDING summary and detail): who holds what, for how long.
//! - [`groups`]: `groups STREAM` (XINFO GROUPS / CONSUMERS): groups, lag, consumers.
//! - [`watch`]: `watch STREAM`: a live view redrawn every second while consumers run.
//! - [`chart`]: `chart STREAM`: a field over time, downsampled to the terminal width.
//! - [`serve`]: `serve STREAM...`: the live view as a web page, Server-Sent Events and metrics.
//! - [`server`]: `server`: where it is connected: role, replicas and how far they lag.
//! - [`memory`]: `memory STREAM...` (MEMORY USAGE, INFO memory): what a day costs in Redis.
//! - [`bound`]: `--from`/`--to`: full IDs, millisecond timestamps or ISO 8601 UTC times.
//! - [`table`]: aligned columns.

pub mod bound;
pub mod chart;
pub mod groups;
pub mod memory;
pub mod pending;
pub mod range;
pub mod serve;
pub mod server;
pub mod table;
pub mod tail;
pub mod watch;

use std::io::Write;
use std::time::Duration;

use crate::error::Result;
use crate::message::{Entry, escaped, to_json};
use crate::server::{Link, Target};
use crate::shutdown::{Shutdown, stopped_is_done};
use crate::stream_id::StreamId;

/// How long a broken connection is retried before `inspect` gives up (exit 3): long enough for a
/// restarting server, short enough that a script is not left hanging.
pub const RETRY_FOR: Duration = Duration::from_secs(10);

/// One validated subcommand, ready to run.
#[derive(Debug, Clone)]
pub enum Request {
    /// `range STREAM`.
    Range(range::Range),
    /// `tail STREAM...`.
    Tail(tail::Tail),
    /// `pending STREAM`.
    Pending(pending::Pending),
    /// `groups STREAM`.
    Groups(groups::Groups),
    /// `watch STREAM`.
    Watch(watch::Watch),
    /// `chart STREAM`.
    Chart(chart::Chart),
    /// `memory STREAM...`.
    Memory(memory::Memory),
    /// `serve STREAM...`.
    Serve(serve::Serve),
    /// `server`.
    Server(server::Server),
}

/// Runs `request` against `target`, writing to `out`; `shutdown` ends `tail` and `watch`.
///
/// When `target` is a cluster seed, each stream is read on the node that owns its slot (found
/// again after a redirect), `tail` reads each slot's streams in its own thread, and `memory`
/// adds up used_memory over the nodes involved.
pub fn run<W: Write + Send>(
    target: &Target,
    request: &Request,
    shutdown: &Shutdown,
    out: &mut W,
) -> Result<()> {
    let open = |key: &str| Link::open(target, key, Some(RETRY_FOR));
    match request {
        Request::Range(range) => range.run(&mut open(&range.key)?, out),
        Request::Tail(tail) => stopped_is_done(tail.run(target, shutdown, out)),
        Request::Pending(pending) => pending.run(&mut open(&pending.key)?, out),
        Request::Groups(groups) => groups.run(&mut open(&groups.key)?, out),
        Request::Watch(watch) => {
            let mut link = open(&watch.key)?;
            link.stop_on(shutdown);
            stopped_is_done(watch.run(&mut link, shutdown, out))
        }
        Request::Chart(chart) => chart.run(&mut open(&chart.key)?, out),
        Request::Memory(memory) => memory.run(target, out),
        Request::Serve(serve) => serve.run(target, shutdown, out),
        Request::Server(server) => stopped_is_done(server.run(target, shutdown, out)),
    }
}

/// The JSON object of a stream entry: `stream`, `id`, `time` (ISO 8601 UTC) and `fields`.
pub fn entry_json(message: &Entry<'_>) -> serde_json::Value {
    let mut value = to_json("", message);
    if let Some(object) = value.as_object_mut() {
        object.shift_remove("consumer");
        object.shift_remove("deliveries");
    }
    value
}

/// Entries as aligned columns: `[STREAM] ID TIME FIELDS`, fields as `name=value` pairs in stream
/// order, the way the consumer prints them.
pub fn entries_table<'e>(
    messages: impl IntoIterator<Item = Entry<'e>>,
    with_stream: bool,
) -> table::Table {
    let mut header = vec!["ID", "TIME (UTC)", "FIELDS"];
    if with_stream {
        header.insert(0, "STREAM");
    }
    let mut table = table::Table::new(&header);
    // Fixed minimum widths keep pages of a long range (and batches of a tail) aligned alike.
    let first = usize::from(with_stream);
    table.min_width(first, 15).min_width(first + 1, 20);
    for message in messages {
        let mut row = vec![
            message.id.to_string(),
            message.id.iso_time(),
            fields_text(&message),
        ];
        if with_stream {
            row.insert(0, escaped(message.stream));
        }
        table.row(row);
    }
    table
}

/// `sensor=1 temperature=27.4 humidity=71`, or `(deleted)`.
fn fields_text(message: &Entry<'_>) -> String {
    match &message.fields {
        Some(fields) => fields
            .iter()
            .map(|(k, v)| {
                // Escaped: a newline or an escape sequence in a value must not forge a row.
                format!(
                    "{}={}",
                    escaped(&String::from_utf8_lossy(k)),
                    escaped(&String::from_utf8_lossy(v))
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
        None => String::from("(deleted)"),
    }
}

/// An ID with its UTC time, `1534291200000-0 (2018-08-15T00:00:00Z)`, or `-` when there is none.
pub fn id_with_time(id: Option<StreamId>) -> String {
    match id {
        Some(id) => format!("{id} ({})", id.iso_time()),
        None => String::from("-"),
    }
}

/// A duration in milliseconds the way a person reads it: `850ms`, `3.2s`, `4m05s`, `2h07m`.
pub fn human_ms(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, ms / 1000 % 60),
        3_600_000..86_400_000 => format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60),
        _ => format!("{}d{:02}h", ms / 86_400_000, ms / 3_600_000 % 24),
    }
}

/// Writes `text` and flushes, so a reader at the other end of a pipe sees it at once.
fn emit(out: &mut impl Write, text: &str) -> Result<()> {
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Message;
    use std::sync::Arc;

    fn message() -> Message {
        Message {
            stream: Arc::from("chennai"),
            id: StreamId::new(1534291200000, 0),
            fields: Some(
                [("sensor", "1"), ("temperature", "27.4")]
                    .into_iter()
                    .collect(),
            ),
            deliveries: 1,
        }
    }

    /// An entry's JSON has exactly stream, id, time and fields, in that order.
    #[test]
    fn entry_json_shape() {
        let text = entry_json(&message().entry()).to_string();
        assert!(
            text.starts_with(r#"{"stream":"chennai","id":"1534291200000-0","time":"#),
            "{text}"
        );
        assert_eq!(
            entry_json(&message().entry()),
            serde_json::json!({"stream": "chennai", "id": "1534291200000-0",
                "time": "2018-08-15T00:00:00Z", "fields": {"sensor": "1", "temperature": "27.4"}})
        );
    }

    /// Entries render as aligned columns with the UTC time next to the ID.
    #[test]
    fn entries_render_as_columns() {
        let text = entries_table([message().entry()], true).render(true);
        assert_eq!(
            text,
            "STREAM   ID               TIME (UTC)            FIELDS\n\
             chennai  1534291200000-0  2018-08-15T00:00:00Z  sensor=1 temperature=27.4\n"
        );
    }

    /// Durations read naturally at every scale.
    #[test]
    fn durations() {
        assert_eq!(human_ms(850), "850ms");
        assert_eq!(human_ms(3_240), "3.2s");
        assert_eq!(human_ms(245_000), "4m05s");
        assert_eq!(human_ms(7_620_000), "2h07m");
        assert_eq!(id_with_time(None), "-");
        assert_eq!(
            id_with_time(Some(StreamId::new(1534291200000, 0))),
            "1534291200000-0 (2018-08-15T00:00:00Z)"
        );
    }
}

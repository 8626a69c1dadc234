//! `inspect memory STREAM...`: what the streams take in Redis, next to the original demo's figure.
//!
//! ```text
//! XLEN chennai
//! MEMORY USAGE chennai SAMPLES 0      every node counted, not an estimate from samples
//! INFO memory                         used_memory: the whole server
//! ```
//!
//! Only these read-only commands are needed: no CONFIG, no DEBUG. In a Redis Cluster each stream
//! is measured on the node that owns it, and used_memory is the sum over the distinct nodes that
//! own the streams asked about (not the whole cluster, unless they cover every node).

use std::io::Write;

use super::table::Table;
use crate::error::Result;
use crate::server::{Link, Target, streams};

/// What the original walkthrough reported for a day of readings: 2.3 MB for 86,400 entries.
pub const ORIGINAL_BYTES: u64 = 2_300_000;
/// Entries in the original's day.
pub const ORIGINAL_ENTRIES: u64 = 86_400;

/// `memory`: which streams.
#[derive(Debug, Clone)]
pub struct Memory {
    /// The full stream keys.
    pub keys: Vec<String>,
    /// One JSON object instead of columns.
    pub json: bool,
}

/// The memory a stream takes.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamMemory {
    /// The full stream key.
    pub stream: String,
    /// XLEN.
    pub entries: u64,
    /// MEMORY USAGE, in bytes.
    pub bytes: u64,
}

/// The servers' own figure: used_memory summed over the nodes that hold the streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsedMemory {
    /// The sum of used_memory, or `None` when a node did not report it.
    pub bytes: Option<u64>,
    /// How many distinct servers were counted (1 off a cluster).
    pub nodes: usize,
    /// Whether they are nodes of a Redis Cluster (the human output then says how many).
    pub cluster: bool,
}

impl Memory {
    /// Asks for each stream's size on the server (or cluster node) that holds it, and for the
    /// used_memory of each of those servers, and writes them.
    pub fn run(&self, seed: &Target, out: &mut impl Write) -> Result<()> {
        let cluster = seed.is_cluster();
        let mut streams = Vec::new();
        // One link per distinct server, kept for its INFO memory.
        let mut nodes: Vec<Link> = Vec::new();
        for key in &self.keys {
            // Off a cluster the one server answers for every stream; in a cluster each stream
            // gets a link that follows it, kept only when it reached a node not seen yet.
            let mut link = match nodes.pop() {
                Some(link) if !cluster => link,
                other => {
                    nodes.extend(other);
                    Link::open(seed, key, Some(super::RETRY_FOR))?
                }
            };
            streams.push(measure(&mut link, key)?);
            let address = link.target().address();
            if !nodes.iter().any(|n| n.target().address() == address) {
                nodes.push(link);
            }
        }
        let mut used = UsedMemory {
            bytes: Some(0),
            nodes: nodes.len(),
            cluster,
        };
        for link in &mut nodes {
            let one = streams::used_memory(link)?;
            used.bytes = used.bytes.zip(one).map(|(sum, one)| sum + one);
        }
        let text = if self.json {
            format!("{}\n", to_json(&streams, used))
        } else {
            render(&streams, used)
        };
        super::emit(out, &text)
    }
}

/// XLEN and MEMORY USAGE of `key`, which must be a stream.
fn measure(link: &mut Link, key: &str) -> Result<StreamMemory> {
    streams::require_stream(link, key)?;
    let entries = streams::length(link, key)?;
    let bytes = streams::memory_usage(link, key)?;
    Ok(StreamMemory {
        stream: key.to_string(),
        entries,
        bytes: bytes.unwrap_or(0),
    })
}

/// Bytes as decimal megabytes, `1.93 MB`.
fn megabytes(bytes: u64) -> String {
    format!("{:.2} MB", bytes as f64 / 1e6)
}

/// The sizes as one JSON object: `streams` (`stream`, `entries`, `bytes`, `bytes_per_entry`),
/// `used_memory` (summed over the servers), `nodes` (how many servers that is), and the
/// `original` figure (`bytes`, `entries`).
pub fn to_json(streams: &[StreamMemory], used: UsedMemory) -> serde_json::Value {
    serde_json::json!({
        "streams": streams.iter().map(|s| serde_json::json!({
            "stream": s.stream,
            "entries": s.entries,
            "bytes": s.bytes,
            "bytes_per_entry": (s.entries > 0).then(|| (s.bytes as f64 / s.entries as f64 * 10.0).round() / 10.0),
        })).collect::<Vec<_>>(),
        "used_memory": used.bytes,
        "nodes": used.nodes,
        "original": {"bytes": ORIGINAL_BYTES, "entries": ORIGINAL_ENTRIES},
    })
}

/// The sizes for people, with the original's figure underneath for comparison.
pub fn render(streams: &[StreamMemory], used: UsedMemory) -> String {
    let mut table = Table::new(&["STREAM", "ENTRIES", "MEMORY USAGE", "BYTES/ENTRY"]);
    table.right(1).right(2).right(3);
    for s in streams {
        let per_entry = match s.entries {
            0 => String::from("-"),
            n => format!("{:.1}", s.bytes as f64 / n as f64),
        };
        table.row(vec![
            s.stream.clone(),
            s.entries.to_string(),
            megabytes(s.bytes),
            per_entry,
        ]);
    }
    let mut text = table.render(true);
    let servers = match (used.cluster, used.nodes) {
        (false, _) => String::from("the whole server"),
        (true, 1) => String::from("1 node"),
        (true, n) => format!("{n} nodes"),
    };
    text.push_str(&format!(
        "\nused_memory ({servers}): {}\n",
        used.bytes.map_or_else(|| String::from("?"), megabytes)
    ));
    text.push_str(&format!(
        "the original walkthrough: {} for {} entries ({:.1} bytes/entry)\n",
        megabytes(ORIGINAL_BYTES),
        ORIGINAL_ENTRIES,
        ORIGINAL_BYTES as f64 / ORIGINAL_ENTRIES as f64
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> StreamMemory {
        StreamMemory {
            stream: String::from("chennai"),
            entries: 86_400,
            bytes: 1_930_000,
        }
    }

    fn server(bytes: Option<u64>) -> UsedMemory {
        UsedMemory {
            bytes,
            nodes: 1,
            cluster: false,
        }
    }

    /// The sizes sit next to the original's 2.3 MB for 86,400 entries.
    #[test]
    fn renders_next_to_the_original() {
        assert_eq!(
            render(&[day()], server(Some(3_145_728))),
            "STREAM   ENTRIES  MEMORY USAGE  BYTES/ENTRY\n\
             chennai    86400       1.93 MB         22.3\n\
             \n\
             used_memory (the whole server): 3.15 MB\n\
             the original walkthrough: 2.30 MB for 86400 entries (26.6 bytes/entry)\n"
        );
    }

    /// In a cluster, used_memory says how many nodes it adds up.
    #[test]
    fn renders_the_nodes_of_a_cluster() {
        let used = UsedMemory {
            bytes: Some(9_000_000),
            nodes: 3,
            cluster: true,
        };
        assert!(render(&[day()], used).contains("\nused_memory (3 nodes): 9.00 MB\n"));
    }

    /// The JSON carries bytes, entries, the node count and the original figure as numbers.
    #[test]
    fn json_shape() {
        assert_eq!(
            to_json(&[day()], server(None)),
            serde_json::json!({"streams": [{"stream": "chennai", "entries": 86400,
                "bytes": 1930000, "bytes_per_entry": 22.3}], "used_memory": null, "nodes": 1,
                "original": {"bytes": 2300000, "entries": 86400}})
        );
    }
}

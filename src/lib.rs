//! monsoon: weather-sensor readings on Redis Streams, produced in bulk, shared by a consumer
//! group, inspected live.
//!
//! # Layout
//!
//! Imports run one way: the domain, then the server layer on it, then the producer, the
//! consumer and `inspect` on both, then the binaries (`src/bin/`), which only parse arguments.
//!
//! The domain (no server in sight):
//! - [`stream_id`]: stream entry IDs (`<ms>-<seq>`), parsing, ordering, UTC time.
//! - [`reading`]: where a reading is generated: a plausible, seeded day of weather per sensor.
//! - [`schedule`]: which entries a producer run writes, and where a rerun resumes.
//! - [`message`]: a stream entry as a consumer gets it ([`message::Entry`], borrowed from the
//!   reply's bytes), rendered as a line or JSON.
//! - [`template`]: `--template`: an entry as one line in the shape a script asks for.
//! - [`time`]: times as people write them (ISO 8601, Unix ms, a strftime pattern), in ms.
//! - [`import`]: where a file's rows become entries: CSV or JSON lines, IDs from their times.
//!
//! The server layer, the one door to Redis: nothing else builds a command, holds a socket or
//! judges an error.
//! - [`server`]: the target (URL, TLS, cluster seeds, a master found through Redis Sentinel),
//!   one connection type speaking RESP2, the judge of every failure and the reconnecting
//!   [`server::Link`] with its one retry policy, and the named operations everyone uses: a
//!   stream's XINFO and XRANGE pages, a group's reads with read-ahead and its acks
//!   ([`server::group_link`], within a `--count` budget: [`server::budget`]), dead letters
//!   written exactly once, the producer's pipelined write window (where a batch is encoded
//!   and written: [`server::xadd`], [`server::window`]),
//!   durable writes (`--wait-replicas`: WAIT until N replicas have a write,
//!   [`server::replicas`]), and the retention trim.
//!
//! What runs on it:
//! - [`metrics`]: `--metrics`: counts and samples served for Prometheus, and a health check.
//! - [`producer`]: a day (or a file's rows) pipelined and resumable, or live readings; and where
//!   a stream is trimmed (`--retain`, never past what a consumer group still needs).
//! - [`consumer`]: where a message is read, processed (printed, or handed to an `--exec` or
//!   `--pipe` handler) and acknowledged in a group: one [`consumer::Job`], one
//!   [`consumer::Work`], one loop.
//! - [`inspect`]: the `inspect` binary: ranges, tails, pending lists, groups, watch, charts,
//!   memory, a web view.
//!
//! Shared by all of them:
//! - [`http`]: the one HTTP server (`--metrics`, `inspect serve`): a thread per connection;
//!   connections, streams, a request head's size and time, and every write bounded.
//! - [`fanout`]: one thread per city/stream/slot, one locked output; a panic is an internal error.
//! - [`shutdown`]: Ctrl-C/SIGTERM as a value: first asks to stop, second exits.
//! - [`progress`]: the progress-bar factory (hidden when stderr is not a terminal, or quiet).
//! - [`notice`]: notes on stderr that need no action, silenced by `--quiet`.
//! - [`color`]: `--color auto|always|never` (NO_COLOR honoured), for the few lines that must
//!   stand out.
//! - [`cli`]: the command lines of the binaries, turned into validated settings; `--generate`
//!   (man pages and shell completions).
//! - [`error`] and [`exit`]: errors as sentences, and the one table of exit codes.
//! - [`edge`]: the top of every binary: one line per error, its exit code, broken pipes, panics.
//! - `counting_alloc` (unit tests only): their allocator, counting each thread's allocations, so
//!   a test can prove a path allocates nothing per message.

pub mod cli;
pub mod color;
pub mod consumer;
#[cfg(test)]
mod counting_alloc;
pub mod edge;
pub mod error;
pub mod exit;
pub mod fanout;
pub mod http;
pub mod import;
pub mod inspect;
pub mod message;
pub mod metrics;
pub mod notice;
pub mod producer;
pub mod progress;
pub mod reading;
pub mod schedule;
pub mod server;
pub mod shutdown;
pub mod stream_id;
pub mod template;
pub mod time;

pub use error::{Error, Result};
pub use reading::Reading;
pub use stream_id::StreamId;

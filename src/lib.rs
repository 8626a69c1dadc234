//! monsoon: weather-sensor readings on Redis Streams, produced in bulk, shared by a consumer
//! group, inspected live.
//!
//! # Layout
//!
//! - [`stream_id`]: stream entry IDs (`<ms>-<seq>`), parsing, ordering, UTC time.
//! - [`reading`]: where a reading is generated: a plausible, seeded day of weather per sensor.
//! - [`schedule`]: which entries a producer run writes, and where a rerun resumes.
//! - [`encode`]: where a batch is encoded: XADD straight into a reusable RESP buffer.
//! - [`producer`]: where a batch is written: pipelined, resumable, more than one batch in flight.
//! - [`live`]: `producer --live`: readings at the current time with server-assigned IDs.
//! - [`consumer`]: where a message is read, processed, printed and acknowledged in a group.
//! - [`inspect`]: the `inspect` binary: ranges, tails, pending lists, groups, watch, charts, memory.
//! - [`message`]: where a reply is decoded into messages, and messages are rendered as lines/JSON.
//! - [`cluster`]: Redis Cluster: which node owns a stream's slot, and redirects.
//! - [`connection`]: the Redis URL (password kept secret), connecting, reconnecting, error mapping.
//! - [`shutdown`]: Ctrl-C/SIGTERM as a value: first asks to stop, second exits.
//! - [`progress`]: the progress-bar factory (hidden when stderr is not a terminal).
//! - [`cli`]: the command lines of the binaries, turned into validated settings.
//! - [`error`] and [`exit`]: errors as sentences, and the exit code each one means.

pub mod cli;
pub mod cluster;
pub mod connection;
pub mod consumer;
pub mod encode;
pub mod error;
pub mod exit;
pub mod inspect;
pub mod live;
pub mod message;
pub mod producer;
pub mod progress;
pub mod reading;
pub mod schedule;
pub mod shutdown;
pub mod stream_id;

pub use error::{Error, Result};
pub use reading::Reading;
pub use stream_id::StreamId;

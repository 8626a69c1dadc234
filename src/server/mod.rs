//! Everything that talks to the server, in one layer the producer, the consumer and `inspect`
//! stand on; none of them parses a reply or judges an error by itself.
//!
//! - [`redact`]: passwords kept out of all output, whatever the URL looks like.
//! - [`target`]: the server: URL (password kept secret), TLS, whether it is a cluster seed,
//!   connecting within a bound, and server errors turned into sentences.
//! - [`cluster`]: Redis Cluster routing: which node owns a key's slot, which keys share a slot.
//! - [`link`]: the reconnecting link, the one place that decides whether an error is a break to
//!   ride out.
//! - [`records`]: XINFO STREAM / GROUPS / CONSUMERS, XPENDING and XAUTOCLAIM replies, parsed.
//! - [`entries`]: XREAD / XREADGROUP / XRANGE replies decoded into messages.
//! - [`resp`] and [`raw`]: the consumer's hot path: XACK + XREADGROUP in one write on a plain
//!   connection of the link's, the replies read straight from the bytes.
//! - [`queries`]: the requests everyone asks of a stream: its type, XINFO, XPENDING, XRANGE pages.
//! - [`pins`]: what a group still needs of its stream (its pin), which retention never trims.
//! - [`retention`]: trimming a stream to its last DUR in one script that never cuts into what a
//!   consumer group still needs, and a dead-letter stream by the clock.

pub mod cluster;
pub mod entries;
pub mod link;
pub mod pins;
pub mod queries;
pub mod raw;
pub mod records;
pub mod redact;
pub mod resp;
pub mod retention;
pub mod target;

pub use link::{Health, Link};
pub use target::{Target, TlsFiles};

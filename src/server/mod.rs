//! Everything that talks to the server: the one door. The producer, the consumer and `inspect`
//! call named operations here (read a batch, ack, dead-letter, join a group, set its ID, write a
//! window of XADDs); none of them builds a command, holds a socket, parses a reply or judges an
//! error by itself.
//!
//! monsoon speaks RESP2 itself, on one connection type for every request: the consumer's hot
//! path needs replies read straight from the bytes (a generic client's value tree and its
//! allocations were most of its time), and one stack for everything means one decoder, one
//! timeout, one retry policy.
//!
//! The wire:
//! - [`redact`]: passwords kept out of all output, whatever the URL looks like.
//! - [`target`]: the server: URL (password kept secret), TLS, whether it is a cluster seed (or
//!   several), connecting within a bound, and why a connection failed, in words.
//! - [`sentinel`]: Redis Sentinel: the master asked of the sentinels on every connect.
//! - [`tls`]: rustls set up from `--tls-ca`, `--tls-cert`, `--tls-key`, `--tls-insecure`.
//! - [`conn`]: one connection: the socket (TCP, unix, TLS), the login, replies framed as they
//!   arrive.
//! - [`socket`]: the socket under it, and each wait's bounds: a reply's timeout, a write that
//!   moves nothing, a stop (Ctrl-C) given a short grace.
//! - [`resp`]: RESP2: commands encoded, replies framed and read into values.
//! - [`batch`]: stream entries read straight from a reply's bytes, without a value per entry.
//! - [`xadd`]: where a batch is encoded: XADDs straight into a reusable buffer.
//!
//! The judge and the policy:
//! - [`fault`]: every failure judged once: a break, a redirect, loading, a demoted master, a
//!   refusal, or the server's answer; and the sentence each becomes.
//! - [`link`]: the reconnecting link and its one retry policy (`--retry-for`, Ctrl-C).
//! - [`cluster`]: Redis Cluster routing: which node owns a key's slot, asked of any node known.
//!
//! Named operations:
//! - [`replication`]: a node's role and its replicas' offsets (INFO replication).
//! - [`streams`]: what everyone asks of a stream: its type, XINFO, XPENDING, XRANGE pages, XREAD.
//! - [`info`]: XINFO and XPENDING replies, parsed.
//! - [`group`]: a consumer group: join, re-create, move, claim, keep in hand, prune, ack.
//! - [`group_link`]: one consumer's link to its group: reads with read-ahead, deferred acks.
//! - [`dead`]: dead letters, exactly once across breaks, on whichever node holds them.
//! - [`window`]: the producer's pipelined write window.
//! - [`replicas`]: durable writes (`--wait-replicas`): WAIT after a write, again while short.
//! - [`pins`]: what a group still needs of its stream (its pin), which retention never trims.
//! - [`retention`]: trimming a stream to its last DUR in one script that never cuts into what a
//!   consumer group still needs, and a dead-letter stream by the clock.

pub mod batch;
pub mod budget;
pub mod cluster;
pub mod conn;
pub mod dead;
pub mod fault;
pub mod group;
pub mod group_link;
pub mod info;
pub mod link;
pub mod pins;
pub mod redact;
pub mod replicas;
pub mod replication;
pub mod resp;
pub mod retention;
pub mod sentinel;
pub mod socket;
pub mod streams;
pub mod target;
pub mod tls;
pub mod window;
pub mod xadd;

pub use batch::Batch;
pub use link::{Health, Link};
pub use target::Target;
pub use tls::TlsFiles;

//! Errors a user can act on, and the exit code each one means.
//!
//! Every message reads as a sentence that names the thing at fault (the address, the key, the
//! flag), so `main` can print it as `Error: {e}` on one line and exit with [`Error::exit_code`].

use crate::exit;
use crate::stream_id::StreamId;

/// What went wrong, in words a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command-line value that clap could not check by itself (a URL, a stream ID).
    #[error("{0}")]
    Usage(String),

    /// The server could not be reached when we first connected.
    #[error("cannot connect to Redis at {address}: {reason}")]
    Connect {
        /// `host:port` of the server, without any password.
        address: String,
        /// Why the connection failed, as the OS or the server put it.
        reason: String,
    },

    /// A connection that was up broke, and reconnecting did not succeed within `--retry-for`.
    #[error(
        "lost the connection to Redis at {address} and gave up reconnecting after {waited}: {reason}"
    )]
    GaveUp {
        /// `host:port` of the server, without any password.
        address: String,
        /// How long we kept trying, as a human duration.
        waited: String,
        /// The last failure.
        reason: String,
    },

    /// The server refused the credentials or the command (WRONGPASS, NOAUTH, NOPERM).
    #[error("Redis at {address} refused {what}: {reason}")]
    Refused {
        /// `host:port` of the server.
        address: String,
        /// What was refused: "the login", "XADD on key chennai", ...
        what: String,
        /// The server's own reason.
        reason: String,
    },

    /// A key we need as a stream holds another type; we never touch it.
    #[error(
        "key {key} holds a {actual}, not a stream; it was left as it was (use another name or --prefix)"
    )]
    WrongType {
        /// The full key.
        key: String,
        /// The type the key holds (`string`, `list`, ...).
        actual: String,
    },

    /// The server refused a dead letter; the poison entry stays pending.
    #[error(
        "Redis refused the dead letter of {entry} on {key}: {reason}; the entry stays pending \
         (make {key} a writable stream, or pass --dead-letter KEY)"
    )]
    DeadLetter {
        /// The dead-letter stream key.
        key: String,
        /// The poison entry: `<stream> <id>`.
        entry: String,
        /// The server's reason.
        reason: String,
    },

    /// The stream lost entries of the range to something other than a trim (a DEL).
    #[error(
        "stream {key} is missing {missing} entries of the range that were written before (the \
         stream was deleted or emptied, not trimmed); streams are append-only, so only --replace \
         can write them again"
    )]
    Missing {
        /// The full key.
        key: String,
        /// How many entries of the range are gone.
        missing: u64,
    },

    /// After a break the stream ended before what the server had acknowledged: it lost writes
    /// (a restart without persistence, a failover to a replica that never had them).
    #[error(
        "the server lost writes to {key} it had acknowledged: the stream now ends at {last}, \
         before {acknowledged} (a restart without persistence, or a failover); rerun the import: \
         it writes what comes after the stream's end"
    )]
    Lost {
        /// The full key.
        key: String,
        /// The newest entry acknowledged.
        acknowledged: StreamId,
        /// Where the stream ends now.
        last: StreamId,
    },

    /// `--wait-replicas N`: the replicas that have a write stayed fewer than N for `--retry-for`.
    #[error(
        "Redis at {address} had {what} on {shown}, not the {wanted} --wait-replicas asks for, \
         for {waited} (--retry-for): not known to survive a failover; {outcome}",
        shown = replicas(*.got)
    )]
    NotReplicated {
        /// `host:port` of the master.
        address: String,
        /// What was to be confirmed, e.g. "the writes to chennai".
        what: String,
        /// Replicas asked for.
        wanted: u64,
        /// Replicas the last WAIT reported.
        got: u64,
        /// How long WAIT kept coming back short, as a human duration.
        waited: String,
        /// What the failure leaves as it is (what was confirmed; the entry stays pending).
        outcome: String,
    },

    /// A rerun asked for another sensor count than the stream was written with.
    #[error(
        "stream {key} was written with {written} sensors, not --sensors {asked}; rerun with \
         --sensors {written} to complete it, or pass --replace to write it anew"
    )]
    SensorMismatch {
        /// The full key.
        key: String,
        /// Sensors per timestamp in the stream.
        written: u64,
        /// Sensors asked for.
        asked: u64,
    },

    /// The stream already ends after the whole range we were asked to write.
    #[error(
        "stream {key} already ends at {last} ({last_time}), past the last reading to write \
         ({range_end}); streams are append-only, so pick a later --date or pass --replace"
    )]
    PastRange {
        /// The full key.
        key: String,
        /// The stream's last ID.
        last: StreamId,
        /// The last ID as a UTC time.
        last_time: String,
        /// The last ID this run would write.
        range_end: StreamId,
    },

    /// A rerun's row at or before the stream's last ID that the stream does not hold (and no
    /// trim explains): not written before, and an append-only stream cannot take it now.
    #[error(
        "{row}: stream {key} does not hold this row (ID {id}, {time}), yet it lies at or \
         before the stream's last ID {last}, so it cannot be written there (streams are \
         append-only); import the file into a new stream, or pass --replace"
    )]
    RowMissing {
        /// The row, as `FILE:LINE`.
        row: String,
        /// The full key.
        key: String,
        /// The row's entry ID.
        id: StreamId,
        /// The row's time (UTC).
        time: String,
        /// The stream's last ID.
        last: StreamId,
    },

    /// A rerun's row whose ID the stream holds with other fields: not what was written before.
    #[error(
        "{row}: stream {key} holds ID {id} with other fields than this row, so the row was not \
         written before; streams are append-only: import the file into a new stream, or pass \
         --replace"
    )]
    RowDiffers {
        /// The row, as `FILE:LINE`.
        row: String,
        /// The full key.
        key: String,
        /// The row's entry ID.
        id: StreamId,
    },

    /// Ctrl-C or SIGTERM while waiting for a broken connection to come back.
    #[error("stopped while reconnecting to Redis at {address}")]
    Stopped {
        /// `host:port` of the server.
        address: String,
    },

    /// A stream that must exist to be read does not.
    #[error("stream {key} does not exist; check the name and --prefix")]
    NoStream {
        /// The full key.
        key: String,
    },

    /// A consumer group that must exist to be read does not.
    #[error("group {group} does not exist on stream {key}; check --group")]
    NoGroup {
        /// The full stream key.
        key: String,
        /// The group asked for.
        group: String,
    },

    /// A bug of ours: a worker thread panicked. Never "interrupted".
    #[error("internal error in {what}: {message}")]
    Internal {
        /// What the thread was doing, e.g. "the producer of chennai".
        what: String,
        /// The panic's message.
        message: String,
    },

    /// Any other reply from the server that we did not expect.
    #[error("Redis at {address} failed on {what}: {reason}")]
    Server {
        /// `host:port` of the server.
        address: String,
        /// The command and key, e.g. "XADD chennai".
        what: String,
        /// The server's message.
        reason: String,
    },

    /// Writing our own output failed (other than a closed pipe, which is a normal end).
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

impl Error {
    /// Whether this is our output closing under us (`producer | head`): a normal end, not an
    /// error, handled once at the top of every binary.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(err) if err.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// The process exit code this error stands for; see [`crate::exit`].
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Connect { .. } | Error::GaveUp { .. } => exit::CONNECT,
            Error::Stopped { .. } => exit::INTERRUPTED,
            Error::NotReplicated { .. } => exit::NOT_REPLICATED,
            Error::Refused { .. }
            | Error::WrongType { .. }
            | Error::PastRange { .. }
            | Error::RowMissing { .. }
            | Error::RowDiffers { .. }
            | Error::SensorMismatch { .. }
            | Error::DeadLetter { .. } => exit::REFUSED,
            Error::Server { .. }
            | Error::Output(_)
            | Error::NoStream { .. }
            | Error::Missing { .. }
            | Error::Lost { .. }
            | Error::NoGroup { .. }
            | Error::Internal { .. } => exit::FAILURE,
        }
    }
}

/// "1 replica", "0 replicas": how errors and reports count replicas.
pub fn replicas(count: u64) -> String {
    match count {
        1 => String::from("1 replica"),
        n => format!("{n} replicas"),
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

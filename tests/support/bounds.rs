//! What the network partition and failover tests (`tests/partition.rs`,
//! `tests/partition_failover.rs`) share: the limits they give the binaries, so that their
//! figures compare, the binaries' own bound they derive theirs from, and the check that a time
//! measured is within its bound.

use std::time::Duration;

use crate::Running;

/// `--timeout` of the binaries cut off: how long a reply may take before the connection counts
/// as broken.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// `--block` of the consumers cut off: a blocking read may take it plus [`TIMEOUT`].
pub const BLOCK: Duration = Duration::from_millis(500);

/// `--retry-for` of the binaries that ride a partition or a failover out: well beyond either.
pub const RETRY_FOR: &str = "60s";

/// The longest pause between two reconnect attempts (`MAX_PAUSE` in the server layer).
pub const MAX_PAUSE: Duration = Duration::from_secs(2);

/// What a loaded machine may add to any bound (process start and exit, scheduling, polling).
pub const SLACK: Duration = Duration::from_secs(2);

/// A duration as the binaries' flags take it.
pub fn humantime(duration: Duration) -> String {
    format!("{}ms", duration.as_millis())
}

/// Asserts `took` is within `bound` (and prints it), naming `what` and the binary's stderr
/// when not.
pub fn within(what: &str, took: Duration, bound: Duration, binary: &Running) {
    eprintln!("measured: {what}: {took:.2?} (bound {bound:.2?})");
    assert!(
        took < bound,
        "{what} took {took:.2?}, more than {bound:.2?}\nstderr: {}",
        binary.errors()
    );
}

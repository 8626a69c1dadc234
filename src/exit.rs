//! Exit codes, the same for every binary (`edge::run_main` maps each error to its code).
//!
//! ```text
//! 0    success (a consumer stopped by Ctrl-C included, and a live producer without
//!      --count: it is done when stopped)
//! 1    any other failure (a stream or group that does not exist, entries of the range
//!      missing from the stream, output that cannot be written, an internal error)
//! 2    usage error (a bad flag or value; an --exec/--pipe command that cannot run)
//! 3    cannot connect, or gave up reconnecting
//! 4    refused by the server (authentication, permission, wrong key type, a stream
//!      already past the range or written with other --sensors, a refused dead letter)
//! 130  interrupted (a second Ctrl-C; a producer stopped before it was done)
//! ```

/// Success.
pub const SUCCESS: i32 = 0;
/// Any failure not listed below.
pub const FAILURE: i32 = 1;
/// A bad flag or value on the command line.
pub const USAGE: i32 = 2;
/// The server could not be reached, or a broken connection could not be re-established.
pub const CONNECT: i32 = 3;
/// The server refused: authentication, permission, wrong key type, stream past the range.
pub const REFUSED: i32 = 4;
/// Stopped by a signal before the work was done.
pub const INTERRUPTED: i32 = 130;

/// The table above, for the end of every binary's `--help`.
pub const HELP: &str = "\
Exit codes:
  0    success (a consumer stopped by Ctrl-C included, and a live producer
       without --count: it is done when stopped)
  1    any other failure (a stream or group that does not exist, entries of
       the range missing, output that cannot be written, an internal error)
  2    usage error (an --exec/--pipe command that cannot run included)
  3    cannot connect, or gave up reconnecting
  4    refused by the server (authentication, permission, wrong key type, a
       stream past the range or written with other --sensors, a refused dead letter)
  130  interrupted (a second Ctrl-C; a producer stopped before done)";

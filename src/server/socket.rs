//! The socket under a connection (TCP, a unix socket, or TLS over TCP) and how long one wait
//! for the server may last. No socket call blocks longer than a `SLICE`: between calls, a
//! `Wait` looks at its own bound (a reply's timeout, a write that moves nothing) and at a stop
//! (Ctrl-C), so that neither a silent server nor a stop is left waiting for a socket timeout.

use std::io::{self, Read, Write};
use std::net::{self, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rustls::{ClientConnection, StreamOwned};

use crate::shutdown::Shutdown;

/// How long a read or write still waits for the server once a stop (Ctrl-C) is asked for: long
/// enough for a blocking read of the default `--block` (1 s) to be answered, with room for the
/// server's timer, so that a stop on a healthy server never leaves a batch delivered and unseen;
/// a server that stays silent (a network partition) is given up on then, not after `--timeout`.
pub const STOP_GRACE: Duration = Duration::from_millis(1500);

/// The most one socket call blocks (its SO_RCVTIMEO/SO_SNDTIMEO): between calls, a read or a
/// write looks at its own bound and at a stop. A read or write that goes on never waits for
/// this: the call returns as soon as bytes move.
pub(super) const SLICE: Duration = Duration::from_millis(100);

/// The socket under a connection.
pub(super) enum Socket {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Socket {
    /// Makes every read and write call block at most `slice`.
    pub(super) fn set_slice(&self, slice: Duration) -> io::Result<()> {
        let tcp = match self {
            Socket::Tcp(tcp) => tcp,
            Socket::Tls(tls) => &tls.sock,
            Socket::Unix(unix) => {
                unix.set_read_timeout(Some(slice))?;
                return unix.set_write_timeout(Some(slice));
            }
        };
        tcp.set_read_timeout(Some(slice))?;
        tcp.set_write_timeout(Some(slice))
    }

    pub(super) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Socket::Tcp(tcp) => tcp.read(buf),
            Socket::Unix(unix) => unix.read(buf),
            Socket::Tls(tls) => tls.read(buf),
        }
    }

    /// Writes what it can of `bytes` within one [`SLICE`]: how many of them it took, and
    /// whether anything moved (a TLS connection first sends what it holds encrypted).
    pub(super) fn write_some(&mut self, bytes: &[u8]) -> io::Result<(usize, bool)> {
        let written = match self {
            Socket::Tcp(tcp) => tcp.write(bytes),
            Socket::Unix(unix) => unix.write(bytes),
            Socket::Tls(tls) if tls.conn.wants_write() => {
                return stalled_is_none(tls.conn.write_tls(&mut tls.sock)).map(|n| (0, n > 0));
            }
            Socket::Tls(tls) => tls.conn.writer().write(bytes),
        };
        stalled_is_none(written).map(|n| (n, n > 0))
    }

    /// Whether bytes taken are still to go out (TLS records not yet on the socket).
    pub(super) fn holds_unsent(&self) -> bool {
        match self {
            Socket::Tls(tls) => tls.conn.wants_write(),
            Socket::Tcp(_) | Socket::Unix(_) => false,
        }
    }

    pub(super) fn shutdown(&self) {
        let _ = match self {
            Socket::Tcp(tcp) => tcp.shutdown(net::Shutdown::Both),
            Socket::Unix(unix) => unix.shutdown(net::Shutdown::Both),
            Socket::Tls(tls) => tls.sock.shutdown(net::Shutdown::Both),
        };
    }
}

/// A socket call that timed out (its [`SLICE`] passed) or was interrupted moved nothing.
fn stalled_is_none(result: io::Result<usize>) -> io::Result<usize> {
    match result {
        Err(err) if is_stall(&err) || err.kind() == io::ErrorKind::Interrupted => Ok(0),
        other => other,
    }
}

/// Whether a socket call gave up for its timeout.
pub(super) fn is_stall(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// One wait for the server: a read's for its reply, a write's for the server to take bytes.
pub(super) struct Wait {
    /// When it began (a write's: when bytes last moved).
    pub(super) since: Instant,
    /// How long it may last (`None`: for ever).
    limit: Option<Duration>,
    /// What did not happen, for the error: "no answer" (within 2s).
    words: &'static str,
    /// When this wait first saw the stop raised: each wait has a grace of its own, so an ack
    /// sent after a stop still gets its answer from a healthy server.
    stop_seen: Option<Instant>,
}

impl Wait {
    pub(super) fn new(limit: Option<Duration>, words: &'static str) -> Self {
        Wait {
            since: Instant::now(),
            limit,
            words,
            stop_seen: None,
        }
    }

    /// Fails once the wait has lasted its limit ("no answer within 2s", a
    /// [`io::ErrorKind::TimedOut`]), or [`STOP_GRACE`] after it first saw `stop` raised
    /// ([`io::ErrorKind::Interrupted`]).
    pub(super) fn check(&mut self, stop: Option<&Shutdown>) -> io::Result<()> {
        if let Some(limit) = self.limit
            && self.since.elapsed() >= limit
        {
            let limit = Duration::from_millis(limit.as_millis() as u64);
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "{} within {}",
                    self.words,
                    humantime::format_duration(limit)
                ),
            ));
        }
        if stop.is_some_and(Shutdown::is_requested) {
            let seen = *self.stop_seen.get_or_insert_with(Instant::now);
            if seen.elapsed() >= STOP_GRACE {
                return Err(io::Error::new(
                    io::ErrorKind::Interrupted,
                    "stopped while waiting for the server",
                ));
            }
        }
        Ok(())
    }
}

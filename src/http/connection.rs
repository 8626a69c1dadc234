//! One connection's thread: its requests answered in order (pipelined or kept alive), each
//! head read within [`HEAD_DEADLINE`] and [`super::MAX_HEAD`] bytes, each answer written within
//! [`WRITE_TIMEOUT`]; and a stream's [`Sink`], which goes on on a thread of its own.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::head::{Fault, Heads};
use super::{
    HEAD_DEADLINE, Handler, LINGER, MAX_STREAMS, Reply, Slot, Slots, WRITE_TIMEOUT, poll, response,
};

/// The most bytes read and dropped while lingering after a last answer.
const LINGER_BYTES: usize = 64 * 1024;

/// One connection: its requests answered in order until it closes, fails or breaks a limit;
/// `slot` is its place among the open connections, `streams` the places of streams.
pub(super) fn converse(
    stream: TcpStream,
    slot: Slot,
    streams: &Arc<Slots>,
    handler: &impl Handler,
) {
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    let _ = stream.set_nodelay(true);
    let mut heads = Heads::new();
    loop {
        let request = match heads.next(&stream, Instant::now() + HEAD_DEADLINE) {
            Ok(request) => request,
            Err(Fault::Gone) => return,
            Err(fault) => {
                let (status, body) = match fault {
                    Fault::Late => (408, "the request's head took too long\n"),
                    Fault::TooLarge => (431, "the request's head is too large\n"),
                    _ => (400, "not an HTTP/1 request\n"),
                };
                let text = response(status, "text/plain", body, false);
                if write_within(&stream, &text, Instant::now() + WRITE_TIMEOUT).is_ok() {
                    linger(&stream);
                }
                return;
            }
        };
        let (status, content_type, body) = match handler.answer(&request) {
            Reply::Whole {
                status,
                content_type,
                body,
            } => (status, content_type, body),
            Reply::Stream { thread, run } => match streams.take() {
                Some(place) => {
                    let sink = Sink {
                        stream,
                        _connection: slot,
                        _stream: place,
                    };
                    let _ = thread::Builder::new()
                        .name(thread.to_string())
                        .spawn(move || run(sink));
                    return;
                }
                None => (
                    503,
                    "text/plain",
                    format!("busy: {MAX_STREAMS} streams are open already, try again shortly\n"),
                ),
            },
        };
        let open = request.keeps_open();
        let text = response(status, content_type, &body, open);
        if write_within(&stream, &text, Instant::now() + WRITE_TIMEOUT).is_err() {
            return;
        }
        if !open {
            linger(&stream);
            return;
        }
    }
}

/// Writes `bytes` whole before `deadline`: each write waits at most until then, so that a
/// client reading a byte at a time gains nothing.
fn write_within(stream: &TcpStream, mut bytes: &[u8], deadline: Instant) -> io::Result<()> {
    while !bytes.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::from(ErrorKind::TimedOut));
        }
        stream.set_write_timeout(Some(left))?;
        match (&*stream).write(bytes) {
            Ok(0) => return Err(io::Error::from(ErrorKind::WriteZero)),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Ends the sending side, then reads and drops what the client still sends, for at most
/// [`LINGER`] and [`LINGER_BYTES`], before the socket closes.
fn linger(stream: &TcpStream) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    let deadline = Instant::now() + LINGER;
    let mut scrap = [0; 4096];
    let mut read = 0;
    while read < LINGER_BYTES {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match (&*stream).read(&mut scrap) {
            Ok(0) | Err(_) => return,
            Ok(n) => read += n,
        }
    }
}

/// A stream's connection: each [`Sink::send`] bounded by [`WRITE_TIMEOUT`]. Dropping it closes
/// the connection and frees its places among the open connections and streams.
pub struct Sink {
    /// The client.
    stream: TcpStream,
    /// Its place among the open connections.
    _connection: Slot,
    /// Its place among the open streams.
    _stream: Slot,
}

/// What ended a [`Sink::wait`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The bell rang: there is something new to send.
    Rung,
    /// The client closed its side or the connection broke: the stream should end.
    Gone,
    /// Neither, within the time given.
    Quiet,
}

impl Sink {
    /// Writes `bytes` whole within [`WRITE_TIMEOUT`]; an error means the client is gone (or
    /// does not read), and the stream should end.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        write_within(&self.stream, bytes, Instant::now() + WRITE_TIMEOUT)
    }

    /// Waits up to `wait` for `bell` to become readable or for the client to go away,
    /// whichever comes first: a stream whose browser closed ends now, not at its next write
    /// (which would still succeed). What the client sends meanwhile is read and dropped.
    pub fn wait(&mut self, bell: BorrowedFd<'_>, wait: Duration) -> Wake {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Wake::Quiet;
            }
            let mut fds = [
                libc::pollfd {
                    fd: self.stream.as_raw_fd(),
                    // Its end of file makes it readable too: `drop_input` tells.
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: bell.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            if poll(&mut fds, Some(left)).is_err() {
                return Wake::Gone;
            }
            let client = fds[0].revents;
            if client & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                return Wake::Gone;
            }
            if client & libc::POLLIN != 0 && !self.drop_input() {
                return Wake::Gone;
            }
            if fds[1].revents != 0 {
                return Wake::Rung;
            }
        }
    }

    /// Reads and drops what the client sent, without waiting; `false` at its end of file.
    fn drop_input(&mut self) -> bool {
        let mut scrap = [0; 1024];
        if self.stream.set_nonblocking(true).is_err() {
            return false;
        }
        let more = match (&self.stream).read(&mut scrap) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted),
        };
        more && self.stream.set_nonblocking(false).is_ok()
    }
}

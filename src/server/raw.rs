//! A plain connection that speaks RESP itself, for the consumer's hot path: XACK and the next
//! XREADGROUP sent in one write, their replies read from the bytes by [`super::resp`].
//!
//! It lives behind the [`super::Link`]: the link opens it to whatever node it talks to now,
//! drops it on any failure, and judges the failure as it judges every other (a break is
//! ridden out, then this connection is opened again). Over TLS there is none: the link's
//! redis-rs connection serves instead (`Link::raw` answers `None`).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use redis::ConnectionAddr;

use super::entries::BadReply;
use super::resp::{Parsed, Simple, simple_reply};
use super::target::{COMMAND_TIMEOUT, Target, WRITE_TIMEOUT};

/// The least free room a read is given, so a big reply comes in few reads (and few parses).
const MIN_READ: usize = 256 * 1024;

/// Why a raw exchange failed.
#[derive(Debug)]
pub enum RawError {
    /// The connection failed (or timed out): a break for the link to judge.
    Io(std::io::Error),
    /// The bytes were not the reply expected.
    Bad(BadReply),
    /// The server refused the login (AUTH, SELECT), in its words.
    Refused(String),
}

impl From<std::io::Error> for RawError {
    fn from(err: std::io::Error) -> Self {
        RawError::Io(err)
    }
}

/// A plain TCP connection with a receive buffer.
pub struct Raw {
    /// The socket.
    stream: TcpStream,
    /// Bytes received and not consumed yet: `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Raw {
    /// Connects to `target` and logs in as its URL says (AUTH, SELECT); `None` for a TLS
    /// target. A refused login is [`RawError::Refused`].
    pub fn connect(target: &Target, limit: Duration) -> Result<Option<Raw>, RawError> {
        let info = target.connection_info();
        let ConnectionAddr::Tcp(host, port) = info.addr() else {
            return Ok(None);
        };
        let addr = (host.as_str(), *port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other(format!("{host} has no address")))?;
        let stream = TcpStream::connect_timeout(&addr, limit)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(COMMAND_TIMEOUT))?;
        stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
        let mut raw = Raw {
            stream,
            buf: Vec::new(),
            start: 0,
            end: 0,
        };
        let settings = info.redis_settings();
        let mut login: Vec<Vec<u8>> = Vec::new();
        if let Some(password) = settings.password() {
            let mut auth = redis::cmd("AUTH");
            if let Some(username) = settings.username() {
                auth.arg(username);
            }
            login.push(auth.arg(password).get_packed_command());
        }
        if settings.db() != 0 {
            login.push(redis::cmd("SELECT").arg(settings.db()).get_packed_command());
        }
        for command in login {
            raw.send(&command)?;
            if let Simple::Error(reason) = raw.receive(simple_reply)? {
                return Err(RawError::Refused(reason));
            }
        }
        Ok(Some(raw))
    }

    /// Sets the socket's read timeout (a blocking read needs more than its BLOCK).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }

    /// Writes `bytes` (one or more packed commands).
    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Reads until `parse` finds a whole reply at the front of what was received, and consumes
    /// it.
    pub fn receive<T>(
        &mut self,
        mut parse: impl FnMut(&[u8]) -> Result<Parsed<T>, BadReply>,
    ) -> Result<T, RawError> {
        loop {
            if self.end > self.start {
                match parse(&self.buf[self.start..self.end]).map_err(RawError::Bad)? {
                    Parsed::Done(reply, used) => {
                        self.start += used;
                        if self.start == self.end {
                            (self.start, self.end) = (0, 0);
                        }
                        return Ok(reply);
                    }
                    Parsed::Partial => {}
                }
            }
            self.fill()?;
        }
    }

    /// Reads what the socket has, into at least [`MIN_READ`] (or as much as is buffered) of room.
    fn fill(&mut self) -> std::io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        let room = MIN_READ.max(self.end);
        if self.buf.len() < self.end + room {
            self.buf.resize(self.end + room, 0);
        }
        let n = self.stream.read(&mut self.buf[self.end..])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        self.end += n;
        Ok(())
    }
}

//! A request's head, read from the socket into a buffer of fixed size within a deadline, and
//! parsed: the method, the path and what decides whether the connection stays open.
//!
//! ```text
//! GET /metrics?x=1 HTTP/1.1\r\n      method, target (the path is what comes before '?'), version
//! Host: 127.0.0.1:9464\r\n           headers: only Connection, Content-Length and
//! Connection: keep-alive\r\n         Transfer-Encoding matter here
//! \r\n                               the end of the head ("\n\n" is taken too)
//! ```
//!
//! Bytes after a head (pipelined requests) stay in the buffer for the next one, so the memory a
//! connection holds is the buffer, [`MAX_HEAD`] bytes, whatever the client sends.

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::time::Instant;

/// The most bytes a request's head (request line and headers) may take; a longer one is
/// answered 431 and the connection closed. 16 KiB: browsers send cookies for 127.0.0.1 with
/// every request whatever the port, so other local apps' cookies count too.
pub const MAX_HEAD: usize = 16 * 1024;

/// One request, as far as the endpoints care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method, as sent (`GET`).
    method: String,
    /// The target's path: what comes before `?`.
    path: String,
    /// Whether the client keeps the connection open after the answer (HTTP/1.1 unless it said
    /// `Connection: close`; HTTP/1.0 only if it said `keep-alive`).
    keep_alive: bool,
    /// Whether a body follows the head (`Content-Length` above 0, or `Transfer-Encoding`):
    /// nothing served reads one, so the connection closes after the answer instead.
    has_body: bool,
}

impl Request {
    /// Whether it is a GET (the only method answered).
    pub fn is_get(&self) -> bool {
        self.method == "GET"
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Whether the connection may carry another request after this one's answer.
    pub fn keeps_open(&self) -> bool {
        self.keep_alive && !self.has_body
    }
}

/// Why no request could be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The client closed, the socket failed, or the deadline passed with nothing sent (an idle
    /// connection): closed without an answer.
    Gone,
    /// The deadline passed in the middle of a head: 408.
    Late,
    /// The head is longer than [`MAX_HEAD`]: 431.
    TooLarge,
    /// Not an HTTP/1 request head: 400.
    Malformed,
}

/// A connection's read buffer: [`MAX_HEAD`] bytes, of which `len` are filled.
pub struct Heads {
    /// The bytes read and not yet parsed.
    buf: Box<[u8]>,
    /// How many of `buf` are filled.
    len: usize,
}

impl Heads {
    /// An empty buffer.
    pub fn new() -> Self {
        Heads {
            buf: vec![0; MAX_HEAD].into_boxed_slice(),
            len: 0,
        }
    }

    /// The next request's head, from what is buffered and what `stream` sends before
    /// `deadline` (each read waits at most until then, so a client sending a byte at a time
    /// gains nothing).
    pub fn next(&mut self, stream: &TcpStream, deadline: Instant) -> Result<Request, Fault> {
        loop {
            // Empty lines before a request line are allowed (RFC 9112, 2.2).
            let blank = self.buf[..self.len]
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            self.consume(blank);
            if let Some(end) = head_end(&self.buf[..self.len]) {
                let request = parse(&self.buf[..end]);
                self.consume(end);
                return request;
            }
            if self.len == MAX_HEAD {
                return Err(Fault::TooLarge);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(if self.len == 0 {
                    Fault::Gone
                } else {
                    Fault::Late
                });
            }
            stream
                .set_read_timeout(Some(left))
                .map_err(|_| Fault::Gone)?;
            match (&*stream).read(&mut self.buf[self.len..]) {
                Ok(0) => return Err(Fault::Gone),
                Ok(n) => self.len += n,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(_) => return Err(Fault::Gone),
            }
        }
    }

    /// Drops the first `n` bytes (parsed), keeping what follows.
    fn consume(&mut self, n: usize) {
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

impl Default for Heads {
    fn default() -> Self {
        Heads::new()
    }
}

/// Where the head in `bytes` ends (just past its empty line), if it is all there.
fn head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .find_map(|(i, _)| match bytes.get(i + 1..) {
            Some([b'\n', ..]) => Some(i + 2),
            Some([b'\r', b'\n', ..]) => Some(i + 3),
            _ => None,
        })
}

/// The request in `head` (its request line and headers, ending in an empty line).
fn parse(head: &[u8]) -> Result<Request, Fault> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text
        .split('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line));
    let line = lines.next().ok_or(Fault::Malformed)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Fault::Malformed);
    };
    let old = match version {
        "HTTP/1.0" => true,
        "HTTP/1.1" => false,
        _ => return Err(Fault::Malformed),
    };
    if method.is_empty() || target.is_empty() {
        return Err(Fault::Malformed);
    }
    let (mut close, mut keep, mut has_body) = (false, false, false);
    for header in lines.filter(|line| !line.is_empty()) {
        let (name, value) = header.split_once(':').ok_or(Fault::Malformed)?;
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                close |= token.eq_ignore_ascii_case("close");
                keep |= token.eq_ignore_ascii_case("keep-alive");
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            let length: u64 = value.parse().map_err(|_| Fault::Malformed)?;
            has_body |= length > 0;
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            has_body = true;
        }
    }
    Ok(Request {
        method: method.to_string(),
        path: target.split('?').next().unwrap_or_default().to_string(),
        keep_alive: !close && (!old || keep),
        has_body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A head ends at its first empty line, with CRLF or bare LF.
    #[test]
    fn heads_end_at_the_empty_line() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET"), Some(27));
        assert_eq!(head_end(b"GET / HTTP/1.1\nHost: x\n\nrest"), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(head_end(b""), None);
    }

    /// Method, path without the query, and whether the connection stays open, by version and
    /// `Connection`; a body closes it.
    #[test]
    fn parses_what_the_endpoints_need() {
        let get = parse(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
        assert!(get.is_get() && get.keeps_open());
        assert_eq!(get.path(), "/metrics");
        let close = parse(b"GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").unwrap();
        assert!(!close.keeps_open());
        let old = parse(b"GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(!old.keeps_open());
        let old_kept = parse(b"GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n").unwrap();
        assert!(old_kept.keeps_open());
        let post = parse(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n").unwrap();
        assert!(!post.is_get() && !post.keeps_open());
        let empty = parse(b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").unwrap();
        assert!(empty.keeps_open());
    }

    /// What is not an HTTP/1 head is refused.
    #[test]
    fn refuses_what_is_not_http() {
        for head in [
            &b"\r\n"[..],
            b"GET /\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nno colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: many\r\n\r\n",
        ] {
            assert_eq!(
                parse(head),
                Err(Fault::Malformed),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
    }
}

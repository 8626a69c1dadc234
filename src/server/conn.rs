//! One connection to one server: a socket (TCP, a unix socket, or TLS over TCP), the login,
//! and the bytes that come back, framed reply by reply. Everything monsoon sends goes through
//! one of these, the hot path included: one stack, one decoder.
//!
//! ```text
//! [AUTH user password] [SELECT db] PING      the login, in one write; PONG means ready
//! <commands, one or many in one write>        then the replies, in order, read as they come
//! ```
//!
//! A connection never retries anything itself: a failure is a [`Fault`] for its
//! [`super::Link`] to judge.

use std::io;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::fault::{Failure, Fault};
use super::resp::{Command, Framer, Reply};
use super::socket::{SLICE, Socket, Wait, is_stall};
use crate::shutdown::Shutdown;

/// The default of `--timeout`: how long one command's reply may take before the connection
/// counts as broken, unless the caller sets its own (a blocking read needs more than its BLOCK).
/// Long enough to ride out a server that is busy for a while (a large pipeline, a slow disk).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The most a write may go without the server taking a byte (less when `--timeout` is less),
/// however many socket calls it needs. A server that reads at all drains the socket buffer
/// continuously, so a write that moves nothing means a stalled server or a silent network.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The most a blocking read's reply may take beyond its BLOCK before the connection counts as
/// broken (less when `--timeout` is less): the server answers a BLOCK when it expires, so the
/// socket timeout must never fire first (a late reply would leave delivered entries pending,
/// unseen).
pub const READ_TIMEOUT_MARGIN: Duration = Duration::from_secs(10);

/// The least free room a read is given, so a big reply comes in few reads.
const MIN_READ: usize = 64 * 1024;

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A host (name or IP) and port.
    Tcp {
        /// The host as the URL names it.
        host: String,
        /// The port.
        port: u16,
    },
    /// A unix socket.
    Unix(PathBuf),
}

/// Who to log in as, and which database to use.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Login {
    /// The ACL user (`None`: the default user).
    pub user: Option<String>,
    /// The password, never printed.
    pub password: Option<String>,
    /// The database number (`SELECT`), 0 by default.
    pub db: u32,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("db", &self.db)
            .finish()
    }
}

/// TLS to use on a connection: the client configuration and the name the server's certificate
/// must carry.
#[derive(Debug, Clone)]
pub struct Tls {
    /// rustls's client configuration (roots, client certificate, verification).
    pub config: Arc<ClientConfig>,
    /// The server name checked against its certificate.
    pub name: ServerName<'static>,
}

/// How far an open got: connecting.
pub const CONNECTING: u8 = 0;
/// How far an open got: the TCP connection is up, the TLS handshake (if any) under way.
pub const HANDSHAKE: u8 = 1;
/// How far an open got: logging in.
pub const LOGIN: u8 = 2;

/// Why a connection could not be opened.
#[derive(Debug)]
pub enum OpenFailure {
    /// Reaching the server failed (refused, unreachable, no answer in time).
    Io(io::Error),
    /// The TLS handshake did not complete.
    Handshake(io::Error),
    /// The login was answered with an error, or with something that is not the protocol.
    Login(Failure),
}

/// An open, logged-in connection.
pub struct Conn {
    socket: Socket,
    /// Bytes received and not consumed yet: `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Where the reply at `start` has been scanned to.
    framer: Framer,
    /// Whether `framer` is part way into the reply at `start` (a [`Conn::next_reply`] that
    /// did not complete).
    framing: bool,
    /// How long a reply may take (`None`: for ever).
    read_timeout: Option<Duration>,
    /// How long a write may take no byte.
    write_timeout: Duration,
    /// A stop that ends a wait for the server after [`STOP_GRACE`](super::socket::STOP_GRACE).
    stop: Option<Shutdown>,
    /// Whether a read or write failed: the connection is then out of step with the server (a
    /// reply half read, a command half written), and every later use fails at once.
    failed: bool,
    /// The node reached and the master name it serves, when it is not the target's own address
    /// (the master a sentinel named).
    reached: Option<(String, String)>,
}

impl Conn {
    /// Connects to `node`, completes TLS when given, and logs in, all within `limit`; `phase`
    /// follows how far it got (for the words of a timeout seen from another thread). Replies
    /// then may take `timeout` (a write may take no byte for at most [`WRITE_TIMEOUT`] of it).
    pub fn open(
        node: &Node,
        login: &Login,
        tls: Option<&Tls>,
        (limit, timeout, phase): (Duration, Duration, &AtomicU8),
    ) -> Result<Conn, OpenFailure> {
        let deadline = Instant::now() + limit;
        let left = || {
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        };
        let socket = match node {
            Node::Tcp { host, port } => {
                let tcp = connect_tcp(host, *port, deadline).map_err(OpenFailure::Io)?;
                tcp.set_nodelay(true).map_err(OpenFailure::Io)?;
                phase.store(HANDSHAKE, Ordering::Relaxed);
                match tls {
                    None => Socket::Tcp(tcp),
                    Some(tls) => Socket::Tls(Box::new(
                        handshake(tcp, tls, left()).map_err(OpenFailure::Handshake)?,
                    )),
                }
            }
            Node::Unix(path) => Socket::Unix(UnixStream::connect(path).map_err(OpenFailure::Io)?),
        };
        socket.set_slice(SLICE).map_err(OpenFailure::Io)?;
        let mut conn = Conn {
            socket,
            buf: Vec::new(),
            start: 0,
            end: 0,
            framer: Framer::default(),
            framing: false,
            read_timeout: Some(left()),
            write_timeout: left(),
            stop: None,
            failed: false,
            reached: None,
        };
        phase.store(LOGIN, Ordering::Relaxed);
        conn.login(login)?;
        conn.read_timeout = Some(timeout);
        conn.write_timeout = WRITE_TIMEOUT.min(timeout);
        Ok(conn)
    }

    /// AUTH and SELECT as the URL says, then PING: one write, then the replies. A refused login
    /// or a reply that is not the protocol fails the open; PING answered LOADING (a restarted
    /// server) is a connection all the same: the commands that follow wait for the data.
    fn login(&mut self, login: &Login) -> Result<(), OpenFailure> {
        let mut out = Vec::with_capacity(128);
        let mut replies = 1;
        if let Some(password) = &login.password {
            let mut auth = Command::new("AUTH");
            if let Some(user) = &login.user {
                auth.push(user.as_str());
            }
            auth.arg(password.as_str()).write_to(&mut out);
            replies += 1;
        }
        if login.db != 0 {
            Command::new("SELECT").arg(login.db).write_to(&mut out);
            replies += 1;
        }
        Command::new("PING").write_to(&mut out);
        let fail = |f: Fault| match f {
            Fault::Io(err) => OpenFailure::Io(err),
            other => OpenFailure::Login(Failure::Fault(other)),
        };
        self.send(&out).map_err(OpenFailure::Io)?;
        let mut refusal = None;
        for index in 0..replies {
            let reply = self.reply().map_err(fail)?;
            if let Reply::Error(err) = reply {
                let last = index + 1 == replies;
                let not_ready = last && (err.is("LOADING") || err.is("MASTERDOWN"));
                if !not_ready {
                    refusal.get_or_insert(err);
                }
            }
        }
        match refusal {
            Some(err) => Err(OpenFailure::Login(Failure::Answer(err))),
            None => Ok(()),
        }
    }

    /// The node reached, when it is not the target's own address (the master a sentinel named).
    pub fn reached(&self) -> Option<&str> {
        self.reached.as_ref().map(|(address, _)| address.as_str())
    }

    /// The node reached with the master name it serves (`127.0.0.1:6380 (master mm)`), for
    /// notices; `None` as for [`Conn::reached`].
    pub fn reached_label(&self) -> Option<String> {
        self.reached
            .as_ref()
            .map(|(address, master)| format!("{address} (master {master})"))
    }

    /// Records which node this connection reached, serving the master named `master`.
    pub(super) fn set_reached(&mut self, address: String, master: &str) {
        self.reached = Some((address, master.to_string()));
    }

    /// Sets the read timeout (a blocking read needs more than its BLOCK).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout = timeout;
        Ok(())
    }

    /// Makes every wait for the server give up [`STOP_GRACE`](super::socket::STOP_GRACE) after `stop` is raised, with an
    /// [`io::ErrorKind::Interrupted`] error: a silent server must not keep a stop waiting for
    /// `--timeout`.
    pub fn stop_on(&mut self, stop: Option<&Shutdown>) {
        self.stop = stop.cloned();
    }

    /// Writes `bytes` (one or more encoded commands). Fails once the server has taken no byte
    /// for the write timeout (however many calls the write needs: a server that stopped reading,
    /// or a network that went silent, costs one timeout, not one per partial write), or a stop
    /// was asked for [`STOP_GRACE`](super::socket::STOP_GRACE) ago.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.unless_failed(|conn| conn.write(bytes))
    }

    /// Runs `io` on a connection that has not failed yet, and marks it failed if `io` fails.
    fn unless_failed<T>(&mut self, io: impl FnOnce(&mut Self) -> io::Result<T>) -> io::Result<T> {
        if self.failed {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the connection failed before",
            ));
        }
        let outcome = io(self);
        self.failed = outcome.is_err();
        outcome
    }

    /// [`Conn::send`]'s writing.
    fn write(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        let mut wait = Wait::new(Some(self.write_timeout), "the server took no bytes");
        while !bytes.is_empty() || self.socket.holds_unsent() {
            let (taken, progress) = self.socket.write_some(bytes)?;
            bytes = &bytes[taken..];
            match progress {
                true => wait.since = Instant::now(),
                false => wait.check(self.stop.as_ref())?,
            }
        }
        Ok(())
    }

    /// Sends one command and reads its reply as a value (an error reply included).
    pub fn call(&mut self, command: &Command) -> Result<Reply, Fault> {
        self.send(&command.packed())?;
        self.reply()
    }

    /// As [`Conn::call`], the reply waited for until `deadline` at most (a node that hangs
    /// must not hold a search of several nodes for the whole `--timeout`; 250 ms at least);
    /// the connection's own read timeout is restored after.
    pub fn call_until(&mut self, command: &Command, deadline: Instant) -> Result<Reply, Fault> {
        let was = self.read_timeout;
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(250));
        self.set_read_timeout(Some(left.min(was.unwrap_or(left))))?;
        let reply = self.call(command);
        self.set_read_timeout(was)?;
        reply
    }

    /// The next reply, as a value.
    pub fn reply(&mut self) -> Result<Reply, Fault> {
        Ok(Reply::parse(self.next_reply()?)?)
    }

    /// The next whole reply's bytes, read from the socket as far as needed.
    pub fn next_reply(&mut self) -> Result<&[u8], Fault> {
        loop {
            self.framing = true;
            if let Some(len) = self.framer.scan(&self.buf[self.start..self.end])? {
                self.framing = false;
                let at = self.start;
                self.start += len;
                if self.start == self.end {
                    (self.start, self.end) = (0, 0);
                }
                return Ok(&self.buf[at..at + len]);
            }
            self.unless_failed(Conn::fill)?;
        }
    }

    /// Takes the next reply without framing or decoding it when it is already here and is
    /// exactly `expected`, a whole reply encoded (the echo of an XADD's ID: most replies of a
    /// batch); `false` leaves it for [`Conn::next_reply`]. `expected` must be one whole reply,
    /// so bytes that begin with it hold that reply and nothing of the next.
    pub fn take_reply_if(&mut self, expected: &[u8]) -> bool {
        // A reply half scanned (a read that failed, or bytes that are not the protocol) is the
        // framer's to finish, or nobody's.
        if self.framing || expected.is_empty() {
            return false;
        }
        let here = self.buf.get(self.start..self.end).unwrap_or_default();
        if !here.starts_with(expected) {
            return false;
        }
        self.start += expected.len();
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
        true
    }

    /// Whether received bytes wait to be read (a reply, or part of one, already here).
    pub fn has_buffered(&self) -> bool {
        self.end > self.start
    }

    /// Reads what the socket has, into at least [`MIN_READ`] (or as much as is buffered) of room.
    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        let room = MIN_READ.max(self.end);
        if self.buf.len() < self.end + room {
            self.buf.resize(self.end + room, 0);
        }
        let mut wait = Wait::new(self.read_timeout, "no answer");
        loop {
            match self.socket.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the server closed the connection",
                    ));
                }
                Ok(n) => {
                    self.end += n;
                    return Ok(());
                }
                Err(err) if is_stall(&err) || err.kind() == io::ErrorKind::Interrupted => {
                    wait.check(self.stop.as_ref())?;
                }
                Err(err) => return Err(err),
            }
        }
    }
}

impl Drop for Conn {
    /// Closes at once, also a connection another thread might still read (none does).
    fn drop(&mut self) {
        self.socket.shutdown();
    }
}

/// Connects to the first address of `host` that answers, before `deadline`.
fn connect_tcp(host: &str, port: u16, deadline: Instant) -> io::Result<TcpStream> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
    for addr in (host, port).to_socket_addrs()? {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection timed out",
            ));
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(tcp) => return Ok(tcp),
            Err(err) => last = err,
        }
    }
    Err(last)
}

/// Completes the TLS handshake on `tcp` within `limit`.
fn handshake(
    mut tcp: TcpStream,
    tls: &Tls,
    limit: Duration,
) -> io::Result<StreamOwned<ClientConnection, TcpStream>> {
    tcp.set_read_timeout(Some(limit))?;
    tcp.set_write_timeout(Some(limit))?;
    let deadline = Instant::now() + limit;
    let mut session = ClientConnection::new(Arc::clone(&tls.config), tls.name.clone())
        .map_err(io::Error::other)?;
    while session.is_handshaking() {
        if Instant::now() >= deadline {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time"));
        }
        session.complete_io(&mut tcp)?;
    }
    Ok(StreamOwned::new(session, tcp))
}

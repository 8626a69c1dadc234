//! The server we talk to: the Redis URL (its password kept secret), TLS, whether it is a seed
//! of a Redis Cluster, and connecting within a bound, with the failure said in words that point
//! at the likely mistake.
//!
//! ```text
//! redis://[user:password@]host[:port][/db]      rediss:// for TLS
//! unix:///path/to/redis.sock[?db=N&user=U&pass=P]
//! ```

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU8;
use std::time::{Duration, Instant};

use percent_encoding::percent_decode_str;

use super::conn::{self, Conn, Login, Node, OpenFailure, Tls};
use super::fault::{self, Failure, Fault};
use super::redact::redact;
use super::tls::{TlsFiles, server_name};
use crate::error::{Error, Result};
use crate::shutdown::Shutdown;

/// How long the first connection may take before we report the server unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a connect attempt looks whether a stop was asked for.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// The server we talk to: where it is, who we log in as, TLS, and whether it is a seed node of
/// a Redis Cluster.
#[derive(Clone)]
pub struct Target {
    node: Node,
    login: Login,
    /// TLS for this node (its own server name), when the URL is `rediss://`.
    tls: Option<Tls>,
    /// `host:port` (or the socket's path), never a password; `(TLS)` added for TLS.
    address: String,
    cluster: bool,
    /// `--timeout`: how long a reply may take before the connection counts as broken.
    timeout: Duration,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("address", &self.address)
            .field("cluster", &self.cluster)
            .finish()
    }
}

impl Target {
    /// Parses `--redis-url`; a bad URL is a usage error that shows the URL without its password.
    pub fn parse(url: &str) -> Result<Self> {
        Target::with_tls(url, &TlsFiles::default())
    }

    /// Parses `--redis-url` with TLS files and flags; see [`TlsFiles`].
    pub fn with_tls(url: &str, files: &TlsFiles) -> Result<Self> {
        let bad =
            |reason: &str| Error::Usage(format!("invalid --redis-url {}: {reason}", redact(url)));
        let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
        let tls = match scheme {
            "redis" | "unix" | "redis+unix" => false,
            "rediss" => true,
            _ => {
                return Err(bad(
                    "expected redis://[user:password@]host[:port][/db] (rediss:// for TLS)",
                ));
            }
        };
        if files.any() && !tls {
            return Err(Error::Usage(String::from(
                "--tls-ca, --tls-cert, --tls-key and --tls-insecure need a rediss:// --redis-url",
            )));
        }
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        let decode = |text: &str| percent_decode_str(text).decode_utf8_lossy().into_owned();
        let (node, login) = match scheme {
            "unix" | "redis+unix" => {
                let mut login = Login::default();
                for (name, value) in parsed.query_pairs() {
                    match name.as_ref() {
                        "db" => login.db = value.parse().map_err(|_| bad("db is not a number"))?,
                        "user" => login.user = Some(value.into_owned()),
                        "pass" | "password" => login.password = Some(value.into_owned()),
                        _ => {}
                    }
                }
                (Node::Unix(PathBuf::from(parsed.path())), login)
            }
            _ => {
                let host = parsed
                    .host_str()
                    .filter(|h| !h.is_empty())
                    .ok_or_else(|| bad("it names no host"))?
                    .to_string();
                let port = parsed.port().unwrap_or(6379);
                let user = Some(decode(parsed.username())).filter(|u| !u.is_empty());
                let password = parsed.password().map(decode);
                let db = match parsed.path().trim_matches('/') {
                    "" => 0,
                    db => db
                        .parse()
                        .map_err(|_| bad("the database (after the /) is not a number"))?,
                };
                (Node::Tcp { host, port }, Login { user, password, db })
            }
        };
        let tls = match (tls, &node) {
            (true, Node::Tcp { host, .. }) => Some(Tls {
                config: files.client_config()?,
                name: server_name(host)?,
            }),
            _ => None,
        };
        Ok(Target::build(node, login, tls, false))
    }

    fn build(node: Node, login: Login, tls: Option<Tls>, cluster: bool) -> Self {
        let address = match &node {
            Node::Tcp { host, port } => match tls {
                Some(_) => format!("{host}:{port} (TLS)"),
                None => format!("{host}:{port}"),
            },
            Node::Unix(path) => path.display().to_string(),
        };
        Target {
            node,
            login,
            tls,
            address,
            cluster,
            timeout: conn::DEFAULT_TIMEOUT,
        }
    }

    /// The same server with replies allowed `timeout` (`--timeout`) before a connection counts
    /// as broken.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long a reply may take before the connection counts as broken (`--timeout`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The same server as a seed node of a Redis Cluster (`--cluster`): each key is then read
    /// and written on the node that owns its slot.
    pub fn in_cluster(mut self, cluster: bool) -> Self {
        self.cluster = cluster;
        self
    }

    /// Whether this is a seed node of a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// The host name or IP the URL names (for cluster nodes announced without a host).
    pub fn host(&self) -> String {
        match &self.node {
            Node::Tcp { host, .. } => host.clone(),
            Node::Unix(_) => String::from("127.0.0.1"),
        }
    }

    /// The same server settings (credentials, database, TLS) for another node, e.g. the cluster
    /// node that owns a key's slot.
    pub fn at(&self, host: &str, port: u16) -> Result<Target> {
        let tls = match &self.tls {
            Some(tls) => Some(Tls {
                config: tls.config.clone(),
                name: server_name(host)?,
            }),
            None => None,
        };
        let node = Node::Tcp {
            host: host.to_string(),
            port,
        };
        Ok(Target::build(node, self.login.clone(), tls, self.cluster).with_timeout(self.timeout))
    }

    /// `host:port` of the server, for messages.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Whether both name the same node.
    pub fn same_node(&self, other: &Target) -> bool {
        self.node == other.node
    }

    /// Opens a connection, giving up after [`CONNECT_TIMEOUT`]; a refused login is
    /// [`Error::Refused`], anything else [`Error::Connect`].
    pub fn connect(&self) -> Result<Conn> {
        self.connect_within(CONNECT_TIMEOUT, None)
    }

    /// Opens a connection, giving up after `limit` however the server behaves, or as soon as
    /// `stop` is raised ([`Error::Stopped`]).
    ///
    /// A TCP connect cannot be interrupted, so the attempt runs on its own thread and we stop
    /// waiting at `limit` (or at a stop); a late attempt ends by itself within `limit`, and its
    /// connection is dropped.
    pub fn connect_within(&self, limit: Duration, stop: Option<&Shutdown>) -> Result<Conn> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let (node, login, tls) = (self.node.clone(), self.login.clone(), self.tls.clone());
        let timeout = self.timeout;
        let phase = Arc::new(AtomicU8::new(conn::CONNECTING));
        let reached = Arc::clone(&phase);
        std::thread::spawn(move || {
            let _ = sender.send(Conn::open(
                &node,
                &login,
                tls.as_ref(),
                (limit, timeout, &reached),
            ));
        });
        let deadline = Instant::now() + limit;
        let outcome = loop {
            let slice = deadline
                .saturating_duration_since(Instant::now())
                .min(STOP_CHECK);
            match receiver.recv_timeout(slice) {
                Ok(outcome) => break outcome,
                Err(_) if stop.is_some_and(Shutdown::is_requested) => {
                    return Err(Error::Stopped {
                        address: self.address.clone(),
                    });
                }
                Err(_) if Instant::now() < deadline => {}
                Err(_) => {
                    let late = std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "no answer within {}",
                            humantime::format_duration(Duration::from_millis(
                                limit.as_millis() as u64
                            ))
                        ),
                    );
                    let tls_pending = self.tls.is_some()
                        && phase.load(std::sync::atomic::Ordering::Relaxed) == conn::HANDSHAKE;
                    break Err(match tls_pending {
                        true => OpenFailure::Handshake(late),
                        false => OpenFailure::Io(late),
                    });
                }
            }
        };
        outcome.map_err(|failure| self.open_error(failure))
    }

    /// Why a connection could not be opened, in words that point at the likely mistake: a
    /// certificate that does not verify, a `rediss://` URL to a plain port (the handshake never
    /// completes), a port where something other than Redis listens, a refused login.
    fn open_error(&self, failure: OpenFailure) -> Error {
        let connect = |reason: String| Error::Connect {
            address: self.address.clone(),
            reason,
        };
        match failure {
            OpenFailure::Io(err) => connect(fault::describe_io(&err, None)),
            OpenFailure::Handshake(err) => {
                let reason = fault::describe_io(&err, None);
                match reason.contains("certificate") {
                    true => connect(format!(
                        "the server's TLS certificate was not accepted ({reason}); pass --tls-ca \
                         with the CA that signed it (--tls-insecure skips the check)"
                    )),
                    false => connect(format!(
                        "the server did not complete a TLS handshake ({reason}); is it serving \
                         TLS on this port? (use redis:// for a plain port)"
                    )),
                }
            }
            OpenFailure::Login(Failure::Answer(err))
                if fault::judge_answer(&err, false) == fault::Verdict::Refused
                    || err.is("ERR") && err.detail().contains("AUTH") =>
            {
                Error::Refused {
                    address: self.address.clone(),
                    what: String::from("the login"),
                    reason: fault::reason(&err, false),
                }
            }
            OpenFailure::Login(Failure::Answer(err)) => connect(fault::reason(&err, false)),
            OpenFailure::Login(Failure::Fault(Fault::Garbled(err))) => {
                connect(fault::garbled(&err))
            }
            OpenFailure::Login(Failure::Fault(Fault::Io(err))) => {
                connect(fault::describe_io(&err, None))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bad URL is a usage error that does not print the password.
    #[test]
    fn bad_url_is_usage_error_without_password() {
        for url in [
            "http://:hunter2@host",
            "redis://:hunter2@host:notaport",
            "redis://:hunter2@",
            "redis://:hunter2@host/x",
        ] {
            let err = Target::parse(url).unwrap_err();
            assert_eq!(err.exit_code(), crate::exit::USAGE, "{url}");
            assert!(!err.to_string().contains("hunter2"), "{err}");
            assert!(err.to_string().contains("--redis-url"), "{err}");
        }
        assert_eq!(
            Target::parse("redis://127.0.0.1:7000").unwrap().address(),
            "127.0.0.1:7000"
        );
    }

    /// The URL's parts: user, password (percent-decoded), database, default port, TLS.
    #[test]
    fn url_parts() {
        let target = Target::parse("redis://sensor:p%40ss@127.0.0.1/3").unwrap();
        assert_eq!(target.address(), "127.0.0.1:6379");
        assert_eq!(target.login.user.as_deref(), Some("sensor"));
        assert_eq!(target.login.password.as_deref(), Some("p@ss"));
        assert_eq!(target.login.db, 3);
        let only_password = Target::parse("redis://:secret@localhost:7000").unwrap();
        assert_eq!(only_password.login.user, None);
        assert_eq!(only_password.login.password.as_deref(), Some("secret"));
        let tls = Target::parse("rediss://127.0.0.1:6380").unwrap();
        assert_eq!(tls.address(), "127.0.0.1:6380 (TLS)");
        let unix = Target::parse("unix:///tmp/redis.sock?db=2&pass=x").unwrap();
        assert_eq!(unix.address(), "/tmp/redis.sock");
        assert_eq!(
            (unix.login.db, unix.login.password.as_deref()),
            (2, Some("x"))
        );
        assert!(format!("{:?}", only_password.login).contains("***"));
        assert!(!format!("{:?}", only_password.login).contains("secret"));
    }
}

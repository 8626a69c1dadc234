//! The server we talk to: the Redis URL (its password kept secret), TLS, whether it is a seed
//! of a Redis Cluster, and connecting within a bound, with the failure said in words that point
//! at the likely mistake.
//!
//! ```text
//! redis://[user:password@]host[:port][,host:port...][/db]   rediss:// for TLS; several hosts:
//!                                                            seeds of a cluster (--cluster)
//! redis+sentinel://[user:password@]host[:port][,host:port...]/MASTER[/db]
//!     [?sentinel_user=U&sentinel_password=P]                 rediss+sentinel:// for TLS
//! unix:///path/to/redis.sock[?db=N&user=U&pass=P]
//! ```
//!
//! A sentinel URL's hosts are the sentinels (port 26379 by default); its user and password log
//! in to the master (and replicas), the sentinels are asked without credentials unless
//! `sentinel_user` / `sentinel_password` are given. Connecting asks the sentinels where the
//! master is each time ([`super::sentinel`]), so every reconnect finds the current master.

use std::path::PathBuf;
use std::sync::atomic::AtomicU8;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use percent_encoding::percent_decode_str;

use super::conn::{self, Conn, Login, Node, OpenFailure, Tls};
use super::fault::{self, Failure, Fault};
use super::redact::redact;
use super::sentinel::{Open, Sentinels};
use super::tls::{TlsFiles, server_name};
use crate::error::{Error, Result};
use crate::shutdown::Shutdown;

/// How long the first connection may take before we report the server unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How often a connect attempt looks whether a stop was asked for.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// The server we talk to: where it is, who we log in as, TLS, and whether it is a seed node of
/// a Redis Cluster (or a master found through sentinels).
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
    /// Every node a cluster may be asked through: the URL's hosts (several seeds), then each
    /// node a slot map named, the last one that answered first. Shared by every copy, so what
    /// one link learns every link knows when the node it asked dies.
    known: Arc<Mutex<Vec<(String, u16)>>>,
    /// For `redis+sentinel://`: the sentinels asked for the master on every connect.
    sentinels: Option<Arc<Sentinels>>,
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
        let (tls, sentinel) = match scheme {
            "redis" | "unix" | "redis+unix" => (false, false),
            "rediss" => (true, false),
            "redis+sentinel" => (false, true),
            "rediss+sentinel" => (true, true),
            _ => {
                return Err(bad(
                    "expected redis://[user:password@]host[:port][/db] (rediss:// for TLS) or \
                     redis+sentinel://host[:port][,host:port...]/MASTER[/db]",
                ));
            }
        };
        if files.any() && !tls {
            return Err(Error::Usage(String::from(
                "--tls-ca, --tls-cert, --tls-key and --tls-insecure need a rediss:// --redis-url",
            )));
        }
        if matches!(scheme, "unix" | "redis+unix") {
            let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
            let mut login = Login::default();
            for (name, value) in parsed.query_pairs() {
                match name.as_ref() {
                    "db" => login.db = value.parse().map_err(|_| bad("db is not a number"))?,
                    "user" => login.user = Some(value.into_owned()),
                    "pass" | "password" => login.password = Some(value.into_owned()),
                    _ => {}
                }
            }
            let node = Node::Unix(PathBuf::from(parsed.path()));
            return Ok(Target::build(node, login, None, false));
        }
        let (first, hosts) = split_hosts(url, sentinel, &bad)?;
        let parsed = url::Url::parse(&first).map_err(|e| bad(&e.to_string()))?;
        let decode = |text: &str| percent_decode_str(text).decode_utf8_lossy().into_owned();
        let user = Some(decode(parsed.username())).filter(|u| !u.is_empty());
        let password = parsed.password().map(decode);
        let path = parsed.path().trim_matches('/');
        let (master, db) = match sentinel {
            true => match path.split_once('/') {
                Some((master, db)) => (master, db),
                None => (path, ""),
            },
            false => ("", path),
        };
        let db = match db {
            "" => 0,
            db => db
                .parse()
                .map_err(|_| bad("the database (after the /) is not a number"))?,
        };
        let login = Login { user, password, db };
        let (host, port) = hosts[0].clone();
        let tls = match tls {
            true => Some(Tls {
                config: files.client_config()?,
                name: server_name(&host)?,
            }),
            false => None,
        };
        let mut target = Target::build(Node::Tcp { host, port }, login, tls, false);
        if sentinel {
            let master = decode(master);
            if master.is_empty() {
                return Err(bad(
                    "it names no master: redis+sentinel://host[:port][,host:port...]/MASTER[/db]",
                ));
            }
            let mut login = Login::default();
            for (name, value) in parsed.query_pairs() {
                match name.as_ref() {
                    "sentinel_user" => login.user = Some(value.into_owned()),
                    "sentinel_password" => login.password = Some(value.into_owned()),
                    _ => {}
                }
            }
            let list = hosts
                .iter()
                .map(|(host, port)| format!("{host}:{port}"))
                .collect::<Vec<_>>()
                .join(",");
            let tls_said = if target.tls.is_some() { " (TLS)" } else { "" };
            target.address = format!("master {master} of sentinels {list}{tls_said}");
            target.sentinels = Some(Arc::new(Sentinels {
                hosts,
                master,
                login,
            }));
        } else {
            target.known = Arc::new(Mutex::new(hosts));
        }
        Ok(target)
    }

    fn build(node: Node, login: Login, tls: Option<Tls>, cluster: bool) -> Self {
        let address = match &node {
            Node::Tcp { host, port } => match tls {
                Some(_) => format!("{host}:{port} (TLS)"),
                None => format!("{host}:{port}"),
            },
            Node::Unix(path) => path.display().to_string(),
        };
        let known = match &node {
            Node::Tcp { host, port } => vec![(host.clone(), *port)],
            Node::Unix(_) => Vec::new(),
        };
        Target {
            node,
            login,
            tls,
            address,
            cluster,
            timeout: conn::DEFAULT_TIMEOUT,
            known: Arc::new(Mutex::new(known)),
            sentinels: None,
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

    /// Whether this names a master through sentinels (`redis+sentinel://`).
    pub fn is_sentinel(&self) -> bool {
        self.sentinels.is_some()
    }

    /// How many hosts the URL names (several: seeds of a cluster, or sentinels).
    pub fn hosts(&self) -> usize {
        match &self.sentinels {
            Some(sentinels) => sentinels.hosts.len(),
            None => self.known_nodes().len().max(1),
        }
    }

    /// The same server settings (credentials, database, TLS) for another node, e.g. the cluster
    /// node that owns a key's slot, or the master a sentinel names; it knows what this knows.
    pub fn at(&self, host: &str, port: u16) -> Result<Target> {
        let mut target = self.with_login_at(host, port, self.login.clone())?;
        target.known = Arc::clone(&self.known);
        Ok(target)
    }

    /// A plain target at `host:port` logged in as `login`, with this one's TLS and timeout.
    fn with_login_at(&self, host: &str, port: u16, login: Login) -> Result<Target> {
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
        Ok(Target::build(node, login, tls, self.cluster).with_timeout(self.timeout))
    }

    /// The nodes a cluster may be asked through, the last one that answered first.
    pub(super) fn known_nodes(&self) -> Vec<(String, u16)> {
        self.known.lock().map(|k| k.clone()).unwrap_or_default()
    }

    /// Records that `answered` gave a slot map naming `nodes`: it is asked first next time, and
    /// every node named is known from now on.
    pub(super) fn learn(&self, answered: &(String, u16), nodes: Vec<(String, u16)>) {
        if let Ok(mut known) = self.known.lock() {
            known.retain(|node| node != answered);
            known.insert(0, answered.clone());
            for node in nodes {
                if !known.contains(&node) {
                    known.push(node);
                }
            }
        }
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
    ///
    /// Through sentinels, the master is looked up first, every time ([`super::sentinel`]).
    pub fn connect_within(&self, limit: Duration, stop: Option<&Shutdown>) -> Result<Conn> {
        match &self.sentinels {
            Some(sentinels) => {
                let mut open = |host: &str, port: u16, which: Open, within: Duration| {
                    let node = match which {
                        Open::Sentinel => self.with_login_at(host, port, sentinels.login.clone()),
                        Open::Master => self.at(host, port),
                    };
                    node?.open_within(within, stop)
                };
                sentinels.connect_master(&self.address, limit, &mut open)
            }
            None => self.open_within(limit, stop),
        }
    }

    /// Opens a connection to this very node, as [`Target::connect_within`] says.
    fn open_within(&self, limit: Duration, stop: Option<&Shutdown>) -> Result<Conn> {
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

/// The URL with only its first host, for the url crate (which takes one), and every host of
/// its list as `(host, port)`; a sentinel's port is 26379 by default, a server's 6379.
fn split_hosts(
    url: &str,
    sentinel: bool,
    bad: &dyn Fn(&str) -> Error,
) -> Result<(String, Vec<(String, u16)>)> {
    let Some((_, rest)) = url.split_once("://") else {
        return Err(bad("it names no host"));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (userinfo, list) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    let default_port = if sentinel { 26_379 } else { 6379 };
    let hosts = list
        .split(',')
        .map(|one| {
            let parsed =
                url::Url::parse(&format!("redis://{one}")).map_err(|e| bad(&e.to_string()))?;
            let host = parsed
                .host_str()
                .filter(|h| !h.is_empty())
                .ok_or_else(|| bad("it names no host"))?;
            Ok((host.to_string(), parsed.port().unwrap_or(default_port)))
        })
        .collect::<Result<Vec<_>>>()?;
    let first = list.split(',').next().unwrap_or_default();
    Ok((format!("redis://{userinfo}{first}{tail}"), hosts))
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

    /// A sentinel URL: the sentinels (26379 by default), the master, the database, the data
    /// nodes' login and the sentinels' own; several seeds of a cluster are all known.
    #[test]
    fn sentinel_and_seed_lists() {
        let target = Target::parse(
            "redis+sentinel://app:s%40cret@10.0.0.1,10.0.0.2:26380/mymaster/2?sentinel_password=x",
        )
        .unwrap();
        let sentinels = target.sentinels.as_ref().unwrap();
        assert_eq!(
            sentinels.hosts,
            [
                (String::from("10.0.0.1"), 26_379),
                (String::from("10.0.0.2"), 26_380)
            ]
        );
        assert_eq!(sentinels.master, "mymaster");
        assert_eq!(sentinels.login.password.as_deref(), Some("x"));
        assert_eq!(sentinels.login.user, None);
        assert_eq!(target.login.user.as_deref(), Some("app"));
        assert_eq!(target.login.password.as_deref(), Some("s@cret"));
        assert_eq!(target.login.db, 2);
        assert_eq!(
            target.address(),
            "master mymaster of sentinels 10.0.0.1:26379,10.0.0.2:26380"
        );
        let tls = Target::parse("rediss+sentinel://h:1/mm").unwrap();
        assert!(tls.address().ends_with("(TLS)"));
        let seeds = Target::parse("redis://:pw@h1:7000,h2/1").unwrap();
        assert_eq!(seeds.hosts(), 2);
        assert_eq!(seeds.address(), "h1:7000");
        assert_eq!(seeds.known_nodes()[1], (String::from("h2"), 6379));
        for bad in [
            "redis+sentinel://h:1",
            "redis+sentinel://h:1,/mm",
            "redis://h:x,h:1",
        ] {
            let err = Target::parse(bad).unwrap_err();
            assert_eq!(err.exit_code(), crate::exit::USAGE, "{bad}");
        }
    }
}

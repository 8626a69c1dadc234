//! The server we talk to: the Redis URL (its password kept secret), TLS files, whether it is a
//! seed of a Redis Cluster, connecting within a bound, and turning server replies into
//! [`Error`]s that name the address and the key.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redis::{
    ClientTlsConfig, Connection, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisError,
    TlsCertificates,
};

use super::redact::redact;
use crate::error::{Error, Result};
use crate::shutdown::Shutdown;

/// How long the first connection may take before we report the server unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one socket write may make no progress. A server that reads at all drains the
/// socket buffer continuously, so a stalled write means a stalled server; shorter than
/// [`COMMAND_TIMEOUT`] because a large batch is written in several calls, each with this bound.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often a connect attempt looks whether a stop was asked for.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// How long one command's reply (or one write) may take before the connection counts as broken.
/// Long enough to ride out a server that is busy for a while (a large pipeline, a slow disk).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// TLS files and flags from the command line (`--tls-ca`, `--tls-cert`, `--tls-key`,
/// `--tls-insecure`); they apply to `rediss://` URLs only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM file of the CA that signed the server's certificate (instead of the system roots).
    pub ca: Option<PathBuf>,
    /// PEM client certificate, for servers that require one.
    pub cert: Option<PathBuf>,
    /// PEM key of the client certificate.
    pub key: Option<PathBuf>,
    /// Accept any server certificate: only when asked for, with a warning.
    pub insecure: bool,
}

impl TlsFiles {
    fn any(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.key.is_some() || self.insecure
    }

    /// Reads the PEM files; a missing file is a usage error naming its flag.
    fn certificates(&self) -> Result<Option<TlsCertificates>> {
        let read = |flag: &str, path: &Path| {
            std::fs::read(path)
                .map_err(|e| Error::Usage(format!("cannot read {flag} {}: {e}", path.display())))
        };
        let client_tls = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some(ClientTlsConfig {
                client_cert: read("--tls-cert", cert)?,
                client_key: read("--tls-key", key)?,
            }),
            (None, None) => None,
            _ => {
                return Err(Error::Usage(String::from(
                    "--tls-cert and --tls-key go together",
                )));
            }
        };
        let root_cert = self
            .ca
            .as_deref()
            .map(|ca| read("--tls-ca", ca))
            .transpose()?;
        Ok(
            (client_tls.is_some() || root_cert.is_some()).then_some(TlsCertificates {
                client_tls,
                root_cert,
            }),
        )
    }
}

/// The server we talk to: a parsed URL, its printable address (never its password), and whether
/// it is a seed node of a Redis Cluster.
#[derive(Clone)]
pub struct Target {
    client: redis::Client,
    address: String,
    certificates: Option<TlsCertificates>,
    cluster: bool,
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
    pub fn with_tls(url: &str, tls: &TlsFiles) -> Result<Self> {
        let bad =
            |reason: &str| Error::Usage(format!("invalid --redis-url {}: {reason}", redact(url)));
        if !(url.starts_with("redis://")
            || url.starts_with("rediss://")
            || url.starts_with("unix://"))
        {
            return Err(bad(
                "expected redis://[user:password@]host[:port][/db] (rediss:// for TLS)",
            ));
        }
        if tls.any() && !url.starts_with("rediss://") {
            return Err(Error::Usage(String::from(
                "--tls-ca, --tls-cert, --tls-key and --tls-insecure need a rediss:// --redis-url",
            )));
        }
        let mut info = url
            .into_connection_info()
            .map_err(|e| bad(&scrub(&e.to_string(), url)))?;
        if let ConnectionAddr::TcpTls { host, port, .. } = info.addr().clone() {
            // Verification stays on unless --tls-insecure says otherwise: never a silent fallback.
            info = info.set_addr(ConnectionAddr::TcpTls {
                host,
                port,
                insecure: tls.insecure,
                tls_params: None,
            });
        }
        Target::build(info, tls.certificates()?)
    }

    fn build(info: ConnectionInfo, certificates: Option<TlsCertificates>) -> Result<Self> {
        let address = match info.addr() {
            ConnectionAddr::Tcp(host, port) => format!("{host}:{port}"),
            ConnectionAddr::TcpTls { host, port, .. } => format!("{host}:{port} (TLS)"),
            ConnectionAddr::Unix(path) => path.display().to_string(),
            _ => String::from("the server"),
        };
        let client = match &certificates {
            Some(certificates) => redis::Client::build_with_tls(info, certificates.clone()),
            None => redis::Client::open(info),
        }
        .map_err(|e| {
            Error::Usage(format!(
                "cannot use the TLS settings for {address}: {}",
                describe(&e)
            ))
        })?;
        Ok(Target {
            client,
            address,
            certificates,
            cluster: false,
        })
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
        match self.client.get_connection_info().addr() {
            ConnectionAddr::Tcp(host, _) | ConnectionAddr::TcpTls { host, .. } => host.clone(),
            _ => String::from("127.0.0.1"),
        }
    }

    /// The same server settings (credentials, database, TLS) for another node, e.g. the cluster
    /// node that owns a key's slot.
    pub fn at(&self, host: &str, port: u16) -> Result<Target> {
        let info = self.client.get_connection_info().clone();
        let addr = match info.addr() {
            ConnectionAddr::TcpTls { insecure, .. } => ConnectionAddr::TcpTls {
                host: host.to_string(),
                port,
                insecure: *insecure,
                tls_params: None,
            },
            _ => ConnectionAddr::Tcp(host.to_string(), port),
        };
        Ok(Target::build(info.set_addr(addr), self.certificates.clone())?.in_cluster(self.cluster))
    }

    /// Where and as whom to connect (the URL's parts), for the raw connection.
    pub(super) fn connection_info(&self) -> &ConnectionInfo {
        self.client.get_connection_info()
    }

    /// `host:port` of the server, for messages.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Opens a connection, giving up after [`CONNECT_TIMEOUT`]; a refused login is
    /// [`Error::Refused`], anything else [`Error::Connect`].
    pub fn connect(&self) -> Result<Connection> {
        self.connect_within(CONNECT_TIMEOUT, None)
    }

    /// Opens a connection, giving up after `limit` however the server behaves, or as soon as
    /// `stop` is raised ([`Error::Stopped`]).
    ///
    /// redis-rs bounds each socket read of the handshake (AUTH, SELECT, CLIENT SETINFO) by the
    /// timeout, not the handshake as a whole: a port that accepts and never answers took twice
    /// the timeout. So the attempt runs on its own thread and we stop waiting at `limit`; a late
    /// attempt ends by itself at redis-rs's own timeout, and its connection is dropped.
    pub fn connect_within(&self, limit: Duration, stop: Option<&Shutdown>) -> Result<Connection> {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let client = self.client.clone();
        std::thread::spawn(move || {
            let _ = sender.send(client.get_connection_with_timeout(limit));
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
                    break Err(RedisError::from(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!(
                            "no answer within {}",
                            humantime::format_duration(Duration::from_millis(
                                limit.as_millis() as u64
                            ))
                        ),
                    )));
                }
            }
        };
        let con = outcome.map_err(|err| match refusal(&err) {
            Some(reason) => Error::Refused {
                address: self.address.clone(),
                what: String::from("the login"),
                reason,
            },
            None => Error::Connect {
                address: self.address.clone(),
                reason: self.connect_failure(&err),
            },
        })?;
        // Every later command has a bound too, until the caller sets its own (a blocking read
        // needs more than its BLOCK).
        con.set_read_timeout(Some(COMMAND_TIMEOUT))
            .and_then(|()| con.set_write_timeout(Some(WRITE_TIMEOUT)))
            .map_err(|e| self.error("setting socket timeouts", &e))?;
        Ok(con)
    }

    /// Why a connection failed, in words that point at the likely mistake: a `rediss://` URL
    /// to a plain port (the TLS handshake never completes), or a port where something other
    /// than Redis listens (its answer is not the Redis protocol).
    fn connect_failure(&self, err: &RedisError) -> String {
        let reason = describe(err);
        let tls = matches!(
            self.client.get_connection_info().addr(),
            ConnectionAddr::TcpTls { .. }
        );
        let handshake = err.is_timeout()
            || reason.contains("os error 11")
            || reason.contains("no answer within")
            || reason.to_ascii_lowercase().contains("tls")
            || reason.contains("corrupt");
        if tls && !err.is_connection_refusal() && handshake {
            return format!(
                "the server did not complete a TLS handshake ({reason}); is it serving TLS on this \
                 port? (use redis:// for a plain port)"
            );
        }
        not_redis(err).unwrap_or(reason)
    }

    /// Turns a failed command into an [`Error`] naming this server and `what` was asked.
    pub fn error(&self, what: &str, err: &RedisError) -> Error {
        if let Some(reason) = refusal(err) {
            return Error::Refused {
                address: self.address.clone(),
                what: what.to_string(),
                reason,
            };
        }
        let mut reason = not_redis(err).unwrap_or_else(|| describe(err));
        if has_code(err, "MOVED") || has_code(err, "ASK") {
            reason.push_str(" (this server is part of a Redis Cluster: pass --cluster)");
        }
        Error::Server {
            address: self.address.clone(),
            what: what.to_string(),
            reason,
        }
    }
}

/// Removes the URL (and so its password) from a message that might quote it.
fn scrub(message: &str, url: &str) -> String {
    message.replace(url, &redact(url))
}

/// The server's words for a refused login or command, if that is what `err` is.
fn refusal(err: &RedisError) -> Option<String> {
    let code = err.code().unwrap_or_default();
    let auth = err.kind() == redis::ErrorKind::AuthenticationFailed;
    let mut reason =
        (auth || matches!(code, "WRONGPASS" | "NOAUTH" | "NOPERM") || script_refused(err))
            .then(|| describe(err))?;
    if code == "NOAUTH" {
        reason.push_str(
            " (the server wants a password: redis://:PASSWORD@host, best given in REDIS_URL)",
        );
    }
    Some(reason)
}

/// Whether a script was refused a command by the ACL: the server answers ERR, not NOPERM, in
/// its own words (Redis 7: "The user executing the script can't run this command", Valkey 8:
/// "ACL failure in script").
fn script_refused(err: &RedisError) -> bool {
    err.code() == Some("ERR")
        && err.detail().is_some_and(|detail| {
            detail.contains("user executing the script can't run")
                || detail.contains("ACL failure in script")
        })
}

/// What to say when the answer was not the Redis protocol at all (an HTTP server, say).
///
/// redis-rs gives the same kind to a reply that is not RESP and to a real reply of another type
/// than asked for; only its protocol parser's own words ("Parse error at ...") mean the former.
fn not_redis(err: &RedisError) -> Option<String> {
    let parse = err.kind() == redis::ErrorKind::Parse
        && err.detail().is_some_and(|d| d.starts_with("Parse error"));
    parse.then(|| {
        format!(
            "what answered is not a Redis server (its reply is not the Redis protocol: {})",
            describe(err)
        )
    })
}

/// One line for an error: the server's code and detail, or the OS's reason.
pub fn describe(err: &RedisError) -> String {
    match (err.code(), err.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        _ => err.to_string(),
    }
    .replace('\n', " ")
}

/// Whether `err` means the connection broke (as opposed to the server answering with an error).
pub(super) fn is_disconnect(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_timeout()
        || err.is_connection_refusal()
}

/// Whether the server answered with this error code (`WRONGTYPE`, `NOGROUP`, `BUSYGROUP`, ...).
pub fn has_code(err: &RedisError, code: &str) -> bool {
    err.code() == Some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only bytes that are not the Redis protocol mean "not a Redis server"; a reply of another
    /// type than asked for, from a real server, is reported as what it is.
    #[test]
    fn only_a_protocol_error_means_not_redis() {
        let target = Target::parse("redis://127.0.0.1:7000").unwrap();
        let http = redis::parse_redis_value(b"HTTP/1.1 400 Bad Request\r\n\r\n").unwrap_err();
        let said = target.error("XRANGE chennai", &http).to_string();
        assert!(said.contains("is not a Redis server"), "{said}");
        let ok = redis::Value::SimpleString(String::from("OK"));
        let wrong_type = <i64 as redis::FromRedisValue>::from_redis_value(ok).unwrap_err();
        let said = target
            .error("XACK chennai mygroup", &wrong_type.into())
            .to_string();
        assert!(!said.contains("not a Redis server"), "{said}");
    }

    /// A command a script was refused by the ACL is a refusal (exit 4), as NOPERM is; any other
    /// script error is not.
    #[test]
    fn a_script_refused_by_the_acl_is_a_refusal() {
        let target = Target::parse("redis://127.0.0.1:7000").unwrap();
        let reply = |line: &str| {
            redis::parse_redis_value(format!("-{line}\r\n").as_bytes())
                .unwrap()
                .extract_error()
                .unwrap_err()
        };
        for refused in [
            "ERR The user executing the script can't run this command or subcommand script: 85, on @user_script:32.",
            "ERR ACL failure in script: User sensor has no permissions to run the 'xtrim' command script: 85, on @user_script:32.",
        ] {
            let err = target.error("EVAL on chennai", &reply(refused));
            assert_eq!(err.exit_code(), crate::exit::REFUSED, "{err}");
        }
        let failed = target.error(
            "EVAL on chennai",
            &reply("ERR user_script:1: Script attempted to access nonexistent global variable 'x'"),
        );
        assert_eq!(failed.exit_code(), crate::exit::FAILURE, "{failed}");
    }

    /// A bad URL is a usage error that does not print the password.
    #[test]
    fn bad_url_is_usage_error_without_password() {
        for url in [
            "http://:hunter2@host",
            "redis://:hunter2@host:notaport",
            "redis://:hunter2@",
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
}

//! Where we connect: the Redis URL (kept secret), the first connection, reconnecting after a
//! break, and turning server replies into [`Error`]s that name the address and the key.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use redis::{
    ClientTlsConfig, Connection, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisError,
    TlsCertificates,
};

use crate::error::{Error, Result};

/// How long the first connection may take before we report the server unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A URL with any password replaced by `***`, safe to print.
///
/// Works on text that does not parse as a URL too, because it is used to report exactly that.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    let userinfo = &rest[..at];
    let shown = match userinfo.split_once(':') {
        Some((user, _password)) => format!("{user}:***"),
        None if userinfo.is_empty() => String::new(),
        // `redis://secret@host` puts the password where the user goes.
        None => String::from("***"),
    };
    format!("{}{shown}{}", &url[..scheme_end + 3], &rest[at..])
}

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

/// The server we talk to: a parsed URL, its printable address, never its password.
#[derive(Clone)]
pub struct Target {
    client: redis::Client,
    address: String,
    certificates: Option<TlsCertificates>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("address", &self.address)
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
        })
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
        Target::build(info.set_addr(addr), self.certificates.clone())
    }

    /// `host:port` of the server, for messages.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Opens a connection, giving up after [`CONNECT_TIMEOUT`]; a refused login is
    /// [`Error::Refused`], anything else [`Error::Connect`].
    pub fn connect(&self) -> Result<Connection> {
        self.client
            .get_connection_with_timeout(CONNECT_TIMEOUT)
            .map_err(|err| match refusal(&err) {
                Some(reason) => Error::Refused {
                    address: self.address.clone(),
                    what: String::from("the login"),
                    reason,
                },
                None => Error::Connect {
                    address: self.address.clone(),
                    reason: describe(&err),
                },
            })
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
        let mut reason = describe(err);
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
    (auth || matches!(code, "WRONGPASS" | "NOAUTH" | "NOPERM")).then(|| describe(err))
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
pub fn is_disconnect(err: &RedisError) -> bool {
    err.is_io_error()
        || err.is_connection_dropped()
        || err.is_timeout()
        || err.is_connection_refusal()
}

/// Whether the server answered with this error code (`WRONGTYPE`, `NOGROUP`, `BUSYGROUP`, ...).
pub fn has_code(err: &RedisError, code: &str) -> bool {
    err.code() == Some(code)
}

/// A connection that re-establishes itself after a break, within `retry_for`; in cluster mode
/// it follows its key to whichever node owns the key's slot.
pub struct Link {
    target: Target,
    con: Connection,
    retry_for: Option<Duration>,
    read_timeout: Option<Duration>,
    route: Option<Route>,
    /// Since when the cluster keeps redirecting us (reset by [`Link::settled`]).
    redirected_since: Option<Instant>,
    /// The pause before asking the cluster again.
    redirect_pause: Duration,
}

/// How a cluster link finds its node again: the seed, and the key it serves.
struct Route {
    seed: Target,
    key: String,
}

impl Link {
    /// Connects now; failing to reach the server at start is reported at once, never retried.
    pub fn open(target: &Target, retry_for: Option<Duration>) -> Result<Self> {
        let con = target.connect()?;
        Ok(Link {
            target: target.clone(),
            con,
            retry_for,
            read_timeout: None,
            route: None,
            redirected_since: None,
            redirect_pause: Duration::from_millis(50),
        })
    }

    /// A link for commands on `key`: to `seed` itself, or with `cluster` to the node that owns
    /// the key's slot (found again after a redirect or a break).
    pub fn open_for(
        seed: &Target,
        key: &str,
        cluster: bool,
        retry_for: Option<Duration>,
    ) -> Result<Self> {
        if !cluster {
            return Link::open(seed, retry_for);
        }
        let mut link = Link::open(&crate::cluster::node_for(seed, key)?, retry_for)?;
        link.route = Some(Route {
            seed: seed.clone(),
            key: key.to_string(),
        });
        Ok(link)
    }

    /// Records that a request went through: the next redirect starts a new spell.
    pub fn settled(&mut self) {
        if self.redirected_since.take().is_some() {
            self.redirect_pause = Duration::from_millis(50);
        }
    }

    /// The server this link talks to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The live connection.
    pub fn con(&mut self) -> &mut Connection {
        &mut self.con
    }

    /// Sets the socket read timeout, now and on every reconnect.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.read_timeout = timeout;
        self.con
            .set_read_timeout(timeout)
            .map_err(|e| self.target.error("setting a read timeout", &e))
    }

    /// Runs one request; when the connection broke, reconnects (see [`Link::reconnect`]) and runs
    /// it again. Only for requests that are safe to repeat.
    pub fn call<T>(
        &mut self,
        what: &str,
        mut request: impl FnMut(&mut Connection) -> redis::RedisResult<T>,
    ) -> Result<T> {
        let mut loading_since: Option<Instant> = None;
        loop {
            match request(&mut self.con) {
                Ok(value) => {
                    self.settled();
                    return Ok(value);
                }
                Err(err) if is_disconnect(&err) => self.reconnect(&err)?,
                Err(err) if self.route.is_some() && crate::cluster::is_redirect(&err) => {
                    self.reconnect(&err)?
                }
                // A restarted server answers LOADING until its data is back: wait, it is coming.
                Err(err) if has_code(&err, "LOADING") => {
                    let waited = loading_since.get_or_insert_with(Instant::now).elapsed();
                    if self.retry_for.is_some_and(|limit| waited >= limit) {
                        return Err(self.target.error(what, &err));
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(err) => return Err(self.target.error(what, &err)),
            }
        }
    }

    /// Re-establishes a broken connection with capped exponential backoff, saying so on stderr;
    /// gives up with [`Error::GaveUp`] once `retry_for` has passed.
    pub fn reconnect(&mut self, cause: &RedisError) -> Result<()> {
        let mut started = Instant::now();
        let mut pause = Duration::from_millis(50);
        let redirect = self.route.is_some() && crate::cluster::is_redirect(cause);
        if redirect {
            // A cluster that is down or moving slots answers at once, again and again: pause
            // between tries, say so once, and count the whole spell against --retry-for.
            if self.redirected_since.is_none() {
                let key = self.route.as_ref().map_or("", |r| r.key.as_str());
                eprintln!(
                    "monsoon: {key} is not served where it was ({}); asking the cluster again",
                    describe(cause)
                );
            }
            started = *self.redirected_since.get_or_insert(started);
            std::thread::sleep(self.redirect_pause);
            self.redirect_pause = (self.redirect_pause * 2).min(Duration::from_secs(1));
        } else {
            eprintln!(
                "monsoon: lost the connection to {} ({}); reconnecting",
                self.target.address,
                describe(cause)
            );
        }
        let mut last = describe(cause);
        loop {
            if let Some(limit) = self.retry_for
                && started.elapsed() >= limit
            {
                let waited = Duration::from_secs(started.elapsed().as_secs());
                return Err(Error::GaveUp {
                    address: self.target.address.clone(),
                    waited: humantime::format_duration(waited).to_string(),
                    reason: last,
                });
            }
            let attempt = match &self.route {
                Some(route) => crate::cluster::node_for(&route.seed, &route.key)
                    .and_then(|node| node.connect().map(|con| (node, con))),
                None => self.target.connect().map(|con| (self.target.clone(), con)),
            };
            match attempt {
                Ok((target, con)) => {
                    con.set_read_timeout(self.read_timeout)
                        .map_err(|e| target.error("setting a read timeout", &e))?;
                    if !redirect || target.address != self.target.address {
                        eprintln!("monsoon: reconnected to {}", target.address);
                    }
                    self.target = target;
                    self.con = con;
                    return Ok(());
                }
                Err(err @ Error::Refused { .. }) => return Err(err),
                Err(err) => last = err.to_string(),
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }
}

/// The type of `key` as Redis names it (`none`, `stream`, `string`, ...).
pub fn key_type(link: &mut Link, key: &str) -> Result<String> {
    link.call(&format!("TYPE {key}"), |con| {
        redis::cmd("TYPE").arg(key).query::<String>(con)
    })
}

/// Fails with [`Error::WrongType`] unless `key` is missing or a stream; never changes the key.
pub fn ensure_stream(link: &mut Link, key: &str) -> Result<()> {
    match key_type(link, key)?.as_str() {
        "none" | "stream" => Ok(()),
        other => Err(Error::WrongType {
            key: key.to_string(),
            actual: other.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Passwords never survive redaction, whatever the URL looks like.
    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact("redis://:hunter2@host:6379/0"),
            "redis://:***@host:6379/0"
        );
        assert_eq!(redact("redis://bob:hunter2@host"), "redis://bob:***@host");
        assert_eq!(redact("rediss://hunter2@host"), "rediss://***@host");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
        assert_eq!(redact("redis://a:b@c@host/x@y"), "redis://a:***@host/x@y");
        assert_eq!(redact("nonsense"), "nonsense");
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

//! The reconnecting link: one connection that re-establishes itself after a break, within
//! `--retry-for`, and in a Redis Cluster follows its key to whichever node owns the key's slot.
//!
//! This is the one place that decides whether an error is a break to ride out (the connection
//! dropped or timed out; a cluster redirect or a cluster that is down) or an answer to report.
//! Callers hand every failure to [`Link::ride_out`] and never judge it themselves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::{Connection, RedisError};

use super::cluster;
use super::raw::{Raw, RawError};
use super::target::{CONNECT_TIMEOUT, Target, describe, has_code, is_disconnect};
use crate::error::{Error, Result};
use crate::notice;
use crate::shutdown::Shutdown;

/// The shortest connect attempt worth making when little of `--retry-for` is left.
const MIN_ATTEMPT: Duration = Duration::from_millis(250);

/// A connection that re-establishes itself after a break, within `retry_for`; in cluster mode
/// it follows its key to whichever node owns the key's slot.
pub struct Link {
    /// The server (or cluster node) this link talks to now.
    target: Target,
    /// The live connection.
    con: Connection,
    /// How long to keep reconnecting after a break (`None`: for ever).
    retry_for: Option<Duration>,
    /// The socket read timeout, restored on every reconnect.
    read_timeout: Option<Duration>,
    /// How a cluster link finds its node again (`None` off a cluster).
    route: Option<Route>,
    /// Since when the cluster keeps redirecting us (reset by [`Link::settled`]).
    redirected_since: Option<Instant>,
    /// The pause before asking the cluster again.
    redirect_pause: Duration,
    /// Raised by Ctrl-C/SIGTERM: a reconnect stops waiting ([`Error::Stopped`]).
    stop: Option<Shutdown>,
    /// Where breaks and reconnects are reported (metrics, health check).
    health: Option<Arc<Health>>,
    /// The plain connection of the consumer's hot path, opened on first use ([`Link::raw`]).
    raw: Option<Raw>,
    /// The target is TLS: no raw connection, the redis-rs one serves.
    raw_unavailable: bool,
}

/// How the links of one program are doing, for its metrics and health check: breaks being
/// ridden out now, and reconnects so far. Shared by every link that reports to it.
#[derive(Debug, Default)]
pub struct Health {
    /// Links reconnecting now.
    down: AtomicU64,
    /// Connections re-established after a break.
    reconnects: AtomicU64,
}

impl Health {
    /// Whether every link that reports here is connected.
    pub fn is_up(&self) -> bool {
        self.down.load(Ordering::Relaxed) == 0
    }

    /// Connections re-established after a break so far.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
}

/// How a cluster link finds its node again: the seed, and the key it serves.
struct Route {
    /// The seed node given by `--redis-url`.
    seed: Target,
    /// The key whose slot decides the node.
    key: String,
}

impl Link {
    /// A link for commands on `key`: to `target` itself, or when `target` is a cluster seed, to
    /// the node that owns the key's slot (found again after a redirect or a break). Failing to
    /// reach the server at start is reported at once, never retried.
    pub fn open(target: &Target, key: &str, retry_for: Option<Duration>) -> Result<Self> {
        let (node, route) = if target.is_cluster() {
            let route = Route {
                seed: target.clone(),
                key: key.to_string(),
            };
            (
                cluster::node_for(target, key, CONNECT_TIMEOUT, None)?,
                Some(route),
            )
        } else {
            (target.clone(), None)
        };
        let con = node.connect()?;
        Ok(Link {
            target: node,
            con,
            retry_for,
            read_timeout: Some(super::target::COMMAND_TIMEOUT),
            route,
            redirected_since: None,
            redirect_pause: Duration::from_millis(50),
            stop: None,
            health: None,
            raw: None,
            raw_unavailable: false,
        })
    }

    /// Makes reconnecting give up within a moment once `stop` is raised (Ctrl-C/SIGTERM), with
    /// [`Error::Stopped`]: a person stopping a program during an outage is not kept waiting for
    /// the server.
    pub fn stop_on(&mut self, stop: &Shutdown) {
        self.stop = Some(stop.clone());
    }

    /// Reports this link's breaks and reconnects to `health`.
    pub fn report_to(&mut self, health: &Arc<Health>) {
        self.health = Some(Arc::clone(health));
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

    /// The live connection, for requests that handle their own replies (pipelines, blocking
    /// reads); their failures go to [`Link::ride_out`].
    pub fn con(&mut self) -> &mut Connection {
        &mut self.con
    }

    /// The plain connection to the same node for the consumer's hot path (see
    /// [`super::raw`]), opened on first use; `None` over TLS. Its failures go to
    /// [`Link::raw_failed`].
    pub fn raw(&mut self) -> Result<Option<&mut Raw>> {
        if self.raw_unavailable {
            return Ok(None);
        }
        if self.raw.is_none() {
            loop {
                match Raw::connect(&self.target, CONNECT_TIMEOUT) {
                    Ok(Some(raw)) => {
                        if let Some(timeout) = self.read_timeout {
                            raw.set_read_timeout(Some(timeout)).map_err(|e| {
                                self.target.error("setting a read timeout", &e.into())
                            })?;
                        }
                        self.raw = Some(raw);
                        break;
                    }
                    Ok(None) => {
                        self.raw_unavailable = true;
                        return Ok(None);
                    }
                    Err(err) => self.raw_failed("connecting", err)?,
                }
            }
        }
        Ok(self.raw.as_mut())
    }

    /// The plain connection if it is open: a request sent on it is answered on it, never on one
    /// opened since.
    pub fn raw_if_open(&mut self) -> Option<&mut Raw> {
        self.raw.as_mut()
    }

    /// Judges a failure of the raw connection as any other: a break is ridden out (and the raw
    /// connection opened again on next use), a refusal or a reply that makes no sense is an
    /// error naming this server.
    pub fn raw_failed(&mut self, what: &str, err: RawError) -> Result<()> {
        self.raw = None;
        match err {
            RawError::Io(err) => self.ride_out(what, &RedisError::from(err)),
            RawError::Bad(bad) => Err(Error::Server {
                address: self.target.address().to_string(),
                what: what.to_string(),
                reason: format!("unexpected reply: {bad}"),
            }),
            RawError::Refused(reason) => Err(Error::Refused {
                address: self.target.address().to_string(),
                what: String::from("the login"),
                reason,
            }),
        }
    }

    /// Sets the socket read timeout, now and on every reconnect.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.read_timeout = timeout;
        if let Some(raw) = &self.raw {
            raw.set_read_timeout(timeout)
                .map_err(|e| self.target.error("setting a read timeout", &e.into()))?;
        }
        self.con
            .set_read_timeout(timeout)
            .map_err(|e| self.target.error("setting a read timeout", &e))
    }

    /// Runs one request; when the connection broke, reconnects and runs it again. Only for
    /// requests that are safe to repeat.
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
                // A restarted server answers LOADING until its data is back: wait, it is coming.
                Err(err) if has_code(&err, "LOADING") => {
                    let waited = loading_since.get_or_insert_with(Instant::now).elapsed();
                    if self.retry_for.is_some_and(|limit| waited >= limit) {
                        return Err(self.target.error(what, &err));
                    }
                    self.pause(Duration::from_millis(100))?;
                }
                Err(err) => self.ride_out(what, &err)?,
            }
        }
    }

    /// Whether `err` is a break this link rides out: the connection dropped or timed out, or (in
    /// a cluster) the key is served elsewhere or the cluster is not ready.
    fn is_break(&self, err: &RedisError) -> bool {
        is_disconnect(err) || (self.route.is_some() && cluster::is_redirect(err))
    }

    /// Rides out a failure of `what`: a break is reconnected (`Ok`: the caller re-syncs and goes
    /// on); anything else is the server's answer, returned as an [`Error`] naming this server.
    pub fn ride_out(&mut self, what: &str, err: &RedisError) -> Result<()> {
        if !self.is_break(err) {
            return Err(self.target.error(what, err));
        }
        let Some(health) = self.health.clone() else {
            return self.reconnect(err);
        };
        health.down.fetch_add(1, Ordering::Relaxed);
        let outcome = self.reconnect(err);
        health.down.fetch_sub(1, Ordering::Relaxed);
        if outcome.is_ok() {
            health.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }

    /// Re-establishes a broken connection with capped exponential backoff, saying so on stderr;
    /// gives up with [`Error::GaveUp`] once `retry_for` has passed. No wait outlives that bound
    /// by more than one short connect attempt.
    fn reconnect(&mut self, cause: &RedisError) -> Result<()> {
        let mut started = Instant::now();
        let mut pause = Duration::from_millis(50);
        let redirect = self.route.is_some() && cluster::is_redirect(cause);
        if redirect {
            // A cluster that is down or moving slots answers at once, again and again: pause
            // between tries, say so once, and count the whole spell against --retry-for.
            if self.redirected_since.is_none() {
                let key = self.route.as_ref().map_or("", |r| r.key.as_str());
                notice::note(&format!(
                    "monsoon: {key} is not served where it was ({}); asking the cluster again",
                    describe(cause)
                ));
            }
            started = *self.redirected_since.get_or_insert(started);
            self.pause(self.bounded(self.redirect_pause, started))?;
            self.redirect_pause = (self.redirect_pause * 2).min(Duration::from_secs(1));
        } else {
            notice::note(&format!(
                "monsoon: lost the connection to {} ({}); reconnecting",
                self.target.address(),
                describe(cause)
            ));
        }
        let mut last = describe(cause);
        loop {
            self.pause(Duration::ZERO)?;
            if let Some(limit) = self.retry_for
                && started.elapsed() >= limit
            {
                let waited = Duration::from_secs(started.elapsed().as_secs());
                return Err(Error::GaveUp {
                    address: self.target.address().to_string(),
                    waited: humantime::format_duration(waited).to_string(),
                    reason: last,
                });
            }
            let attempt_limit = self.bounded(CONNECT_TIMEOUT, started).max(MIN_ATTEMPT);
            let stop = self.stop.as_ref();
            let attempt = match &self.route {
                Some(route) => cluster::node_for(&route.seed, &route.key, attempt_limit, stop)
                    .and_then(|node| {
                        let con = node.connect_within(attempt_limit, stop)?;
                        Ok((node, con))
                    }),
                None => self
                    .target
                    .connect_within(attempt_limit, stop)
                    .map(|con| (self.target.clone(), con)),
            };
            match attempt {
                Ok((target, con)) => {
                    con.set_read_timeout(self.read_timeout)
                        .map_err(|e| target.error("setting a read timeout", &e))?;
                    if !redirect || target.address() != self.target.address() {
                        notice::note(&format!("monsoon: reconnected to {}", target.address()));
                    }
                    self.target = target;
                    self.con = con;
                    // The node may have changed: the raw connection follows on next use.
                    self.raw = None;
                    return Ok(());
                }
                Err(err @ (Error::Refused { .. } | Error::Stopped { .. })) => return Err(err),
                Err(err) => last = err.to_string(),
            }
            self.pause(self.bounded(pause, started))?;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    /// Waits `pause` between attempts, or fails with [`Error::Stopped`] as soon as a stop is
    /// asked for.
    fn pause(&self, pause: Duration) -> Result<()> {
        let stopped = match &self.stop {
            Some(stop) => stop.sleep(pause),
            None => {
                std::thread::sleep(pause);
                false
            }
        };
        match stopped {
            true => Err(Error::Stopped {
                address: self.target.address().to_string(),
            }),
            false => Ok(()),
        }
    }

    /// `wait`, cut to what is left of `--retry-for` since `started`.
    fn bounded(&self, wait: Duration, started: Instant) -> Duration {
        match self.retry_for {
            Some(limit) => wait.min(limit.saturating_sub(started.elapsed())),
            None => wait,
        }
    }
}

//! The reconnecting link: one connection that re-establishes itself after a break, within
//! `--retry-for`, and in a Redis Cluster follows its key to whichever node owns the key's slot.
//!
//! Every failure goes through [`Link::ride_out`], which asks the judge ([`super::fault`]) and
//! applies the one retry policy: a break is reconnected, a redirect re-routed, a loading server
//! waited for, a demoted master left for the master; each wait is part of one spell that
//! `--retry-for` bounds and a stop (Ctrl-C) ends within a moment. Anything else is an error
//! naming the server and what was asked.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::cluster;
use super::conn::{Conn, READ_TIMEOUT_MARGIN};
use super::fault::{self, Failure, Fault, Verdict};
use super::resp::{BadReply, Command, Reply, ServerError};
use super::target::{CONNECT_TIMEOUT, Target};
use crate::error::{Error, Result};
use crate::notice;
use crate::shutdown::Shutdown;

/// The shortest connect attempt worth making when little of `--retry-for` is left.
const MIN_ATTEMPT: Duration = Duration::from_millis(250);

/// The first pause of a spell; each pause doubles, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(50);

/// The longest pause between attempts.
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// How often a loading server is asked again.
const LOADING_PAUSE: Duration = Duration::from_millis(100);

/// A connection that re-establishes itself after a break, within `retry_for`; in cluster mode
/// it follows its key to whichever node owns the key's slot.
pub struct Link {
    /// The server (or cluster node) this link talks to now.
    target: Target,
    /// The live connection.
    conn: Conn,
    /// How long to keep reconnecting after a break (`None`: for ever).
    retry_for: Option<Duration>,
    /// The socket read timeout, restored on every reconnect.
    read_timeout: Option<Duration>,
    /// How a cluster link finds its node again (`None` off a cluster).
    route: Option<Route>,
    /// When the failures ridden out since the last exchange that went through began.
    spell: Option<Spell>,
    /// Raised by Ctrl-C/SIGTERM: a wait stops ([`Error::Stopped`]).
    stop: Option<Shutdown>,
    /// Where breaks and reconnects are reported (metrics, health check).
    health: Option<Arc<Health>>,
    /// Connections re-established so far: whoever keeps state on the server re-syncs when it
    /// changes (what a lost reply delivered is pending, unseen).
    epoch: u64,
}

/// One spell of failures, from the first to the next exchange that goes through: `--retry-for`
/// bounds it as a whole, however many breaks, redirects or loading answers it holds.
struct Spell {
    since: Instant,
    pause: Duration,
    /// What was said about it already (each kind once per spell).
    said_redirect: bool,
    said_loading: bool,
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
        Link::open_until(target, key, retry_for, None)
    }

    /// As [`Link::open`], with every wait, the first connect's included, given up within a
    /// moment once `stop` is raised ([`Error::Stopped`]; see [`Link::stop_on`]).
    pub fn open_until(
        target: &Target,
        key: &str,
        retry_for: Option<Duration>,
        stop: Option<&Shutdown>,
    ) -> Result<Self> {
        let (node, route) = if target.is_cluster() {
            let route = Route {
                seed: target.clone(),
                key: key.to_string(),
            };
            (
                cluster::node_for(target, key, CONNECT_TIMEOUT, stop)?,
                Some(route),
            )
        } else {
            (target.clone(), None)
        };
        let mut conn = node.connect_within(CONNECT_TIMEOUT, stop)?;
        conn.stop_on(stop);
        Ok(Link {
            target: node,
            conn,
            retry_for,
            read_timeout: Some(target.timeout()),
            route,
            spell: None,
            stop: stop.cloned(),
            health: None,
            epoch: 0,
        })
    }

    /// Makes every wait give up within a moment once `stop` is raised (Ctrl-C/SIGTERM), with
    /// [`Error::Stopped`]: a person stopping a program during an outage is not kept waiting for
    /// the server.
    pub fn stop_on(&mut self, stop: &Shutdown) {
        self.stop = Some(stop.clone());
        self.conn.stop_on(self.stop.as_ref());
    }

    /// Whether a stop (Ctrl-C/SIGTERM) was asked for: a wait that is not a pause (WAIT for
    /// replicas) gives up then too.
    pub(super) fn is_stopping(&self) -> bool {
        self.stop.as_ref().is_some_and(Shutdown::is_requested)
    }

    /// Reports this link's breaks and reconnects to `health`.
    pub fn report_to(&mut self, health: &Arc<Health>) {
        self.health = Some(Arc::clone(health));
    }

    /// The server this link talks to now.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The node this link is connected to: the master a sentinel named, else the target's
    /// own address (never a password).
    pub fn node_address(&self) -> &str {
        self.conn.reached().unwrap_or(self.target.address())
    }

    /// How many times the connection was re-established.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Lets each reply take up to `at_most` (less when `--timeout` is less), now and on every
    /// reconnect: a live view refreshes rather than freeze for the whole `--timeout`.
    pub fn limit_replies(&mut self, at_most: Duration) -> Result<()> {
        self.set_read_timeout(Some(at_most.min(self.target.timeout())))
    }

    /// Lets each reply take `block` (a blocking read's BLOCK) and a margin beyond it, now and on
    /// every reconnect: the server answers a BLOCK when it expires, so the socket gives up only
    /// once [`READ_TIMEOUT_MARGIN`] (or `--timeout`, if less) has passed after that.
    pub fn block_for(&mut self, block: Duration) -> Result<()> {
        self.set_read_timeout(Some(block + READ_TIMEOUT_MARGIN.min(self.target.timeout())))
    }

    /// Sets the socket read timeout, now and on every reconnect.
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.read_timeout = timeout;
        self.conn
            .set_read_timeout(timeout)
            .map_err(|e| self.local_error("setting a read timeout", &e))
    }

    /// The live connection, for the server layer's own exchanges (pipelines, the consumer's
    /// reads); their failures go to [`Link::ride_out`], their successes to [`Link::settled`].
    pub(super) fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    /// Records that an exchange went through: the next failure starts a new spell.
    pub(super) fn settled(&mut self) {
        self.spell = None;
    }

    /// Runs `command` (safe to repeat) until it is answered, riding out breaks; any error answer
    /// is an [`Error`] naming the server and `what` (built only when needed).
    pub(super) fn call(&mut self, command: &Command, what: impl Fn() -> String) -> Result<Reply> {
        self.call_with(command, what, Reply::parse)
    }

    /// As [`Link::call`], but a server error that `expected` picks comes back as it is, for the
    /// caller to act on (NOGROUP, BUSYGROUP, WRONGTYPE, ...).
    pub(super) fn call_or(
        &mut self,
        command: &Command,
        what: impl Fn() -> String,
        expected: impl Fn(&ServerError) -> bool,
    ) -> Result<std::result::Result<Reply, ServerError>> {
        self.request(command, &what, &expected, &mut Reply::parse)
    }

    /// As [`Link::call`], with the reply's bytes read by `decode` (stream entries, straight
    /// into a batch) instead of into a value.
    pub(super) fn call_with<T>(
        &mut self,
        command: &Command,
        what: impl Fn() -> String,
        mut decode: impl FnMut(&[u8]) -> std::result::Result<T, BadReply>,
    ) -> Result<T> {
        match self.request(command, &what, &|_| false, &mut decode)? {
            Ok(value) => Ok(value),
            Err(answer) => Err(self.error(&what, &Failure::Answer(answer))),
        }
    }

    /// Sends `command` until it is answered: a failure is ridden out and the command sent again;
    /// an `expected` error answer comes back to the caller.
    fn request<T>(
        &mut self,
        command: &Command,
        what: &dyn Fn() -> String,
        expected: &dyn Fn(&ServerError) -> bool,
        decode: &mut dyn FnMut(&[u8]) -> std::result::Result<T, BadReply>,
    ) -> Result<std::result::Result<T, ServerError>> {
        let packed = command.packed();
        loop {
            let failure = match self.exchange(&packed, decode) {
                Ok(Ok(value)) => {
                    self.settled();
                    return Ok(Ok(value));
                }
                Ok(Err(err)) if expected(&err) => {
                    self.settled();
                    return Ok(Err(err));
                }
                Ok(Err(err)) => Failure::Answer(err),
                Err(fault) => Failure::Fault(fault),
            };
            self.ride_out(what, failure)?;
        }
    }

    /// One attempt of `command`, nothing ridden out: for requests that are not safe to repeat
    /// blindly, whose caller judges a failure itself (through [`fault::judge`] and
    /// [`Link::ride_out`]) and looks whether the attempt landed.
    pub(super) fn attempt(
        &mut self,
        command: &Command,
    ) -> std::result::Result<std::result::Result<Reply, ServerError>, Fault> {
        self.exchange(&command.packed(), &mut Reply::parse)
    }

    /// Whether failures are judged as a cluster's (redirects ridden out).
    pub(super) fn is_routed(&self) -> bool {
        self.route.is_some()
    }

    /// One command's bytes out, its reply back: decoded, or the server's error.
    fn exchange<T>(
        &mut self,
        packed: &[u8],
        decode: &mut dyn FnMut(&[u8]) -> std::result::Result<T, BadReply>,
    ) -> std::result::Result<std::result::Result<T, ServerError>, Fault> {
        self.conn.send(packed)?;
        let bytes = self.conn.next_reply()?;
        if bytes.first() == Some(&b'-') {
            return match Reply::parse(bytes)? {
                Reply::Error(err) => Ok(Err(err)),
                _ => Err(Fault::Garbled(BadReply("an error reply that is not one"))),
            };
        }
        Ok(Ok(decode(bytes)?))
    }

    /// The one retry policy: rides out `failure` of `what` as the judge says (`Ok`: the link is
    /// ready again, and the caller repeats or re-syncs); anything that is not to be ridden out
    /// is the error, naming this server.
    pub(super) fn ride_out(&mut self, what: &dyn Fn() -> String, failure: Failure) -> Result<()> {
        let cluster = self.route.is_some();
        match fault::judge(&failure, cluster) {
            Verdict::Break | Verdict::Demoted => {
                let cause = self.cause(&failure);
                self.reconnect(&cause, false)
            }
            Verdict::Redirect => {
                let cause = self.cause(&failure);
                self.reconnect(&cause, true)
            }
            Verdict::Loading => self.wait_loading(&failure),
            Verdict::Refused | Verdict::Answer => Err(self.error(what, &failure)),
        }
    }

    /// The error for a failure that is not ridden out.
    pub(super) fn error(&self, what: &dyn Fn() -> String, failure: &Failure) -> Error {
        fault::error(self.target.address(), what(), failure, self.route.is_some())
    }

    /// An error of our own side of the socket (setting a timeout).
    fn local_error(&self, what: &str, err: &std::io::Error) -> Error {
        Error::Server {
            address: self.target.address().to_string(),
            what: what.to_string(),
            reason: err.to_string(),
        }
    }

    /// One line for the failure, for notices.
    fn cause(&self, failure: &Failure) -> String {
        match failure {
            Failure::Fault(Fault::Io(err)) => fault::describe_io(err, None),
            Failure::Fault(Fault::Garbled(err)) => fault::garbled(err),
            Failure::Answer(err) => err.to_string(),
        }
    }

    /// The current spell, begun now if there is none.
    fn spell(&mut self) -> &mut Spell {
        self.spell.get_or_insert_with(|| Spell {
            since: Instant::now(),
            pause: FIRST_PAUSE,
            said_redirect: false,
            said_loading: false,
        })
    }

    /// Fails with [`Error::GaveUp`] once the spell has lasted `--retry-for`.
    fn check_spell(&mut self, last: &str) -> Result<()> {
        let since = self.spell().since;
        match self.retry_for {
            Some(limit) if since.elapsed() >= limit => Err(Error::GaveUp {
                address: self.target.address().to_string(),
                waited: humantime::format_duration(Duration::from_secs(since.elapsed().as_secs()))
                    .to_string(),
                reason: last.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// A server loading its data answers LOADING until the data is back: wait and ask again,
    /// within the spell's bound.
    fn wait_loading(&mut self, failure: &Failure) -> Result<()> {
        let cause = self.cause(failure);
        if !std::mem::replace(&mut self.spell().said_loading, true) {
            notice::note(&format!(
                "monsoon: {} is loading its data ({cause}); waiting",
                self.target.address()
            ));
        }
        self.check_spell(&cause)?;
        let pause = self.bounded(LOADING_PAUSE);
        self.pause(pause)?;
        self.check_spell(&cause)
    }

    /// Re-establishes the connection with capped exponential backoff, saying so on stderr; on a
    /// `redirect`, first asks the cluster again where the key lives. Gives up with
    /// [`Error::GaveUp`] once the spell has lasted `retry_for`. No wait outlives that bound by
    /// more than one short connect attempt.
    fn reconnect(&mut self, cause: &str, redirect: bool) -> Result<()> {
        // A wait the stop cut short, or a break after the spell ran out (an ack flushed on the
        // way out), is no outage to announce.
        self.pause(Duration::ZERO)?;
        self.check_spell(cause)?;
        if redirect {
            // A cluster that is down or moving slots answers at once, again and again: pause
            // between tries, say so once, and count the whole spell against --retry-for.
            if !std::mem::replace(&mut self.spell().said_redirect, true) {
                let key = self.route.as_ref().map_or("", |r| r.key.as_str());
                notice::note(&format!(
                    "monsoon: {key} is not served where it was ({cause}); asking the cluster again"
                ));
            }
            let pause = self.next_pause();
            self.pause(pause)?;
        } else {
            let at = self
                .conn
                .reached_label()
                .unwrap_or_else(|| self.target.address().to_string());
            notice::note(&format!(
                "monsoon: lost the connection to {at} ({cause}); reconnecting"
            ));
        }
        let health = self.health.clone();
        if let Some(health) = &health {
            health.down.fetch_add(1, Ordering::Relaxed);
        }
        let outcome = self.connect_again(cause, redirect);
        if let Some(health) = &health {
            health.down.fetch_sub(1, Ordering::Relaxed);
            if outcome.is_ok() {
                health.reconnects.fetch_add(1, Ordering::Relaxed);
            }
        }
        outcome
    }

    /// Connect attempts until one succeeds, the spell runs out, or a stop.
    fn connect_again(&mut self, cause: &str, redirect: bool) -> Result<()> {
        let mut last = cause.to_string();
        loop {
            self.pause(Duration::ZERO)?;
            self.check_spell(&last)?;
            let attempt_limit = self.bounded(CONNECT_TIMEOUT).max(MIN_ATTEMPT);
            let stop = self.stop.as_ref();
            let attempt = match &self.route {
                Some(route) => cluster::node_for(&route.seed, &route.key, attempt_limit, stop)
                    .and_then(|node| {
                        let conn = node.connect_within(attempt_limit, stop)?;
                        Ok((node, conn))
                    }),
                None => self
                    .target
                    .connect_within(attempt_limit, stop)
                    .map(|conn| (self.target.clone(), conn)),
            };
            match attempt {
                Ok((target, mut conn)) => {
                    conn.set_read_timeout(self.read_timeout)
                        .map_err(|e| self.local_error("setting a read timeout", &e))?;
                    conn.stop_on(self.stop.as_ref());
                    if !redirect || !target.same_node(&self.target) {
                        let at = conn
                            .reached_label()
                            .unwrap_or_else(|| target.address().to_string());
                        notice::note(&format!("monsoon: reconnected to {at}"));
                    }
                    self.target = target;
                    self.conn = conn;
                    self.epoch += 1;
                    return Ok(());
                }
                Err(err @ (Error::Refused { .. } | Error::Stopped { .. })) => return Err(err),
                Err(err) => last = err.to_string(),
            }
            let pause = self.next_pause();
            self.pause(pause)?;
        }
    }

    /// The spell's next pause (doubling, capped), cut to what is left of `--retry-for`.
    fn next_pause(&mut self) -> Duration {
        let spell = self.spell();
        let pause = spell.pause;
        spell.pause = (pause * 2).min(MAX_PAUSE);
        self.bounded(pause)
    }

    /// Waits `pause`, or fails with [`Error::Stopped`] as soon as a stop is asked for.
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

    /// `wait`, cut to what is left of `--retry-for` in this spell.
    fn bounded(&self, wait: Duration) -> Duration {
        match (self.retry_for, &self.spell) {
            (Some(limit), Some(spell)) => wait.min(limit.saturating_sub(spell.since.elapsed())),
            _ => wait,
        }
    }
}

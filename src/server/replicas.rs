//! Durable writes (`--wait-replicas N`): a write counts as done only once N replicas have it.
//! Redis replicates asynchronously: a master can acknowledge a write, die, and the replica
//! promoted in its place never had it. `WAIT N TIMEOUT` says how many replicas have every write
//! of this connection so far.
//!
//! ```text
//! XADD chennai 1534291200000-0 ... x 1000, WAIT 1 1000   a batch and its WAIT, one pipeline
//! :1                                                      on 1 replica: confirmed
//! :0                                                      short: no new write is sent, but
//! WAIT 1 1000                                             WAIT again, within --retry-for
//! XINFO STREAM chennai; XSETID chennai <its last ID>      after a reconnect: see [`touch`]
//! ```
//!
//! Because WAIT covers everything the connection wrote, a short answer is followed by more WAITs
//! on the same connection with no write in between; the writes are confirmed as soon as one says
//! N. [`Durability`] keeps that spell within `--retry-for`, then fails with
//! [`Error::NotReplicated`].

use std::time::{Duration, Instant};

use super::fault::{Failure, Fault};
use super::link::Link;
use super::resp::{BadReply, Command, Reply};
use crate::error::{Error, Result};

/// `--wait-replicas N --wait-timeout DUR`: how many replicas must have a write, and how long one
/// WAIT may block for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replicas {
    /// Replicas that must acknowledge (N of `WAIT N`).
    pub wanted: u64,
    /// How long one WAIT blocks at most (never 0: `WAIT N 0` blocks for ever).
    pub timeout: Duration,
}

impl Replicas {
    /// `WAIT N TIMEOUT-MS`.
    pub fn command(&self) -> Command {
        let ms = self.timeout.as_millis().max(1) as u64;
        Command::new("WAIT").arg(self.wanted).arg(ms)
    }
}

/// Reads a WAIT reply: the replicas that have every write so far.
pub fn read_reply(reply: &Reply) -> Option<u64> {
    match reply {
        Reply::Int(n) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// One confirmation's spell: WAITs answered short, since when, and what they said last; bounded
/// by `--retry-for`.
#[derive(Debug)]
pub struct Durability {
    replicas: Replicas,
    retry_for: Option<Duration>,
    /// When the first short answer of this spell came, and what the last one said.
    short: Option<(Instant, u64)>,
}

/// What a confirmation is of, for its error (built only when it fails): what the WAIT is to
/// cover ("the writes to chennai"), and what the failure leaves as it is ("the entry stays
/// pending").
pub type About<'a> = &'a dyn Fn() -> (String, String);

impl Durability {
    /// A confirmation of `replicas`, given up after `retry_for` of short answers.
    pub fn new(replicas: Replicas, retry_for: Option<Duration>) -> Self {
        Durability {
            replicas,
            retry_for,
            short: None,
        }
    }

    /// What is asked for.
    pub fn replicas(&self) -> Replicas {
        self.replicas
    }

    /// Takes a WAIT's answer `got`: `true` when it is enough (the spell ends), `false` when it is
    /// short and `--retry-for` is not over yet; after that, [`Error::NotReplicated`].
    pub fn answered(&mut self, link: &Link, got: u64, about: About<'_>) -> Result<bool> {
        if got >= self.replicas.wanted {
            self.short = None;
            return Ok(true);
        }
        let since = self.short.map_or_else(Instant::now, |(since, _)| since);
        self.short = Some((since, got));
        match self.retry_for {
            Some(limit) if since.elapsed() >= limit => {
                let (what, outcome) = about();
                Err(Error::NotReplicated {
                    address: link.target().address().to_string(),
                    what,
                    wanted: self.replicas.wanted,
                    got,
                    waited: humantime::format_duration(Duration::from_secs(
                        since.elapsed().as_secs(),
                    ))
                    .to_string(),
                    outcome,
                })
            }
            _ => Ok(false),
        }
    }

    /// Whether a WAIT came back short and no later one said enough.
    pub fn is_short(&self) -> bool {
        self.short.is_some()
    }

    /// WAITs on `link` until one says enough (`true`), `--retry-for` of short answers has passed
    /// ([`Error::NotReplicated`]), a stop is asked for ([`Error::Stopped`]), or the connection
    /// breaks (`false`: ridden out, the caller asks the server again what it holds). `fresh`: the writes to confirm were made on an earlier
    /// connection, so this one first [`touch`]es `key`.
    pub fn confirm(
        &mut self,
        link: &mut Link,
        (key, fresh): (&str, bool),
        about: About<'_>,
    ) -> Result<bool> {
        if fresh && !touch(link, key)? {
            return Ok(false);
        }
        let command = self.replicas.command();
        loop {
            if link.is_stopping() {
                return Err(Error::Stopped {
                    address: link.target().address().to_string(),
                });
            }
            let failure = match link.attempt(&command) {
                Ok(Ok(reply)) => match read_reply(&reply) {
                    Some(got) => {
                        link.settled();
                        if self.answered(link, got, about)? {
                            return Ok(true);
                        }
                        continue;
                    }
                    None => {
                        Failure::Fault(Fault::Garbled(BadReply("WAIT did not answer a number")))
                    }
                },
                Ok(Err(answer)) => Failure::Answer(answer),
                Err(fault) => Failure::Fault(fault),
            };
            // A WAIT repeated on a new connection would confirm nothing: the caller re-syncs.
            link.ride_out(&|| String::from("WAIT"), failure)?;
            return Ok(false);
        }
    }
}

/// Gives this connection a write that comes after everything stream `key` holds, so that a WAIT
/// on it covers them: `XSETID key <its last-generated-id>`, which changes nothing yet is
/// replicated. WAIT's contract covers only the connection's own writes: a brand-new connection's
/// WAIT is answered at once whatever the replicas hold (measured: `:1` from a stalled replica).
/// Redis 7.0 and Valkey 8 also count any other command (after the login's PING, WAIT blocks),
/// but that is their implementation, not the contract. `false`: the connection broke (ridden
/// out). If another writer appends in
/// between, XSETID is refused and tried again with the new last ID; one that appended and
/// deleted its entry in that moment would see the last ID set back to ours.
pub fn touch(link: &mut Link, key: &str) -> Result<bool> {
    let epoch = link.epoch();
    loop {
        let Some(last) = super::streams::last_generated_id(link, key)? else {
            return Ok(true);
        };
        let command = Command::new("XSETID").arg(key).arg(last);
        let what = || format!("XSETID {key}");
        let answer = link.call_or(&command, what, super::fault::is_taken_by_setid)?;
        if link.epoch() != epoch {
            return Ok(false);
        }
        if answer.is_ok() {
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// WAIT is packed with whole milliseconds, never 0 (which would block for ever).
    #[test]
    fn wait_command() {
        let replicas = Replicas {
            wanted: 2,
            timeout: Duration::from_micros(10),
        };
        let mut expected = Vec::new();
        Command::new("WAIT")
            .arg(2u64)
            .arg(1u64)
            .write_to(&mut expected);
        assert_eq!(replicas.command().packed(), expected);
        assert_eq!(crate::error::replicas(1), "1 replica");
        assert_eq!(crate::error::replicas(0), "0 replicas");
        assert_eq!(read_reply(&Reply::Int(1)), Some(1));
        assert_eq!(read_reply(&Reply::Nil), None);
    }
}

//! Redis Sentinel: where the master is now. A `redis+sentinel://` target asks its sentinels on
//! every connect, in the URL's order, and connects to the first answer that the node itself
//! confirms is the master: a sentinel that has not seen a failover yet names the old master
//! (dead, or demoted to a replica), and the next one is asked. A link's reconnect after a break
//! or a demotion (READONLY, MASTERDOWN) is such a connect, so it finds the new master.
//!
//! ```text
//! SENTINEL get-master-addr-by-name mm   ->  ["127.0.0.1", "6380"]   (nil: no master mm)
//! ROLE                                  ->  ["master", offset, replicas]   on the master
//!                                           ["slave", host, port, state, offset]   elsewhere
//! ```

use std::time::{Duration, Instant};

use super::conn::{Conn, Login};
use super::fault::{self, Fault};
use super::resp::{Command, Reply};
use crate::error::{Error, Result};

/// The sentinels of a `redis+sentinel://` URL: who says where the master is now.
#[derive(Debug, Clone)]
pub struct Sentinels {
    /// The sentinels, `(host, port)`, in the URL's order.
    pub hosts: Vec<(String, u16)>,
    /// The name the sentinels monitor the master by (the URL's first path segment).
    pub master: String,
    /// How the sentinels are logged in to (`sentinel_user`, `sentinel_password`), database 0.
    pub login: Login,
}

/// Which node a search opens: a sentinel (with the sentinels' login), or the master one named
/// (with the URL's login).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    /// A sentinel, to ask.
    Sentinel,
    /// The master a sentinel named, to check and use.
    Master,
}

/// How a search opens a node: `(host, port, which, within)`; the target's own connect.
pub type Opener<'a> = dyn FnMut(&str, u16, Open, Duration) -> Result<Conn> + 'a;

/// The shortest share of the connect bound given to one sentinel.
const MIN_SHARE: Duration = Duration::from_millis(250);

/// What asking one sentinel led to, when it did not lead to the master.
enum Miss {
    /// The sentinel monitors no master of that name.
    Unknown,
    /// Something else: unreachable, or it named a node that is not (yet) the master.
    Said(String),
}

impl Sentinels {
    /// Asks each sentinel in turn where the master is and connects to it with `open`, all
    /// within `limit`; a refused login or a stop ends at once, anything else moves on to the
    /// next sentinel. The error names `address` (the master and its sentinels).
    pub fn connect_master(
        &self,
        address: &str,
        limit: Duration,
        open: &mut Opener<'_>,
    ) -> Result<Conn> {
        let deadline = Instant::now() + limit;
        let mut misses = Vec::with_capacity(self.hosts.len());
        for (index, (host, port)) in self.hosts.iter().enumerate() {
            let left = deadline.saturating_duration_since(Instant::now());
            let share = (left / (self.hosts.len() - index) as u32)
                .max(MIN_SHARE)
                .min(left.max(MIN_SHARE));
            match self.ask_sentinel((host, *port), share, open) {
                Ok(conn) => return Ok(conn),
                Err(Ok(miss)) => misses.push((format!("{host}:{port}"), miss)),
                Err(Err(err)) => return Err(err),
            }
        }
        Err(Error::Connect {
            address: address.to_string(),
            reason: self.missed(&misses),
        })
    }

    /// One sentinel asked, and the master it names reached and checked, within `limit`:
    /// the connection, a miss, or an error that ends the search (refused, stopped).
    fn ask_sentinel(
        &self,
        (host, port): (&str, u16),
        limit: Duration,
        open: &mut Opener<'_>,
    ) -> std::result::Result<Conn, std::result::Result<Miss, Error>> {
        let deadline = Instant::now() + limit;
        let mut conn = open(host, port, Open::Sentinel, limit).map_err(miss_or_end)?;
        let ask = Command::new("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(self.master.as_str());
        let (master_host, master_port) = match conn.call_until(&ask, deadline) {
            Ok(reply) => match master_addr(reply) {
                Ok(Some(addr)) => addr,
                Ok(None) => return Err(Ok(Miss::Unknown)),
                Err(said) => return Err(Ok(Miss::Said(said))),
            },
            Err(fault) => return Err(Ok(Miss::Said(in_words(fault)))),
        };
        drop(conn);
        let named = format!("{master_host}:{master_port}");
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(MIN_SHARE);
        let opened = open(&master_host, master_port, Open::Master, left);
        let mut conn = opened.map_err(|err| {
            miss_or_end(err).map(|miss| match miss {
                Miss::Said(why) => Miss::Said(format!("it names {named}: {why}")),
                unknown => unknown,
            })
        })?;
        match conn.call_until(&Command::new("ROLE"), deadline) {
            Ok(reply) if is_replica(&reply) => Err(Ok(Miss::Said(format!(
                "it names {named}, which is a replica now (a failover under way?)"
            )))),
            // A user not allowed ROLE is trusted with the sentinel's word: a write to a replica
            // is answered READONLY, which finds the master again.
            Ok(_) => {
                conn.set_reached(named.clone(), &self.master);
                Ok(conn)
            }
            Err(fault) => Err(Ok(Miss::Said(format!(
                "it names {named}: {}",
                in_words(fault)
            )))),
        }
    }
}

/// A failed exchange, in words.
fn in_words(failure: Fault) -> String {
    match failure {
        Fault::Io(err) => fault::describe_io(&err, None),
        Fault::Garbled(err) => fault::garbled(&err),
    }
}

/// A failure to reach a node, as a miss (look further) or an error that ends the search.
fn miss_or_end(err: Error) -> std::result::Result<Miss, Error> {
    match err {
        Error::Connect { reason, .. } => Ok(Miss::Said(reason)),
        other => Err(other),
    }
}

/// The `(host, port)` of a reply to `SENTINEL get-master-addr-by-name`; `None` for nil (no
/// master of that name); an error answer or an odd shape, in words.
fn master_addr(reply: Reply) -> std::result::Result<Option<(String, u16)>, String> {
    match reply {
        Reply::Nil => Ok(None),
        Reply::Error(err) => Err(format!("it answered {err} (is it a sentinel?)")),
        reply => {
            let parts = reply.into_array().unwrap_or_default();
            let host = parts.first().and_then(Reply::text);
            let port = parts
                .get(1)
                .and_then(Reply::text)
                .and_then(|p| p.parse::<u16>().ok());
            match (host, port) {
                (Some(host), Some(port)) => Ok(Some((host, port))),
                _ => Err(String::from("its answer is not a host and a port")),
            }
        }
    }
}

/// Whether a ROLE reply says the node is a replica (not the master, not a sentinel).
fn is_replica(reply: &Reply) -> bool {
    match reply {
        Reply::Array(parts) => parts
            .first()
            .and_then(Reply::text)
            .is_some_and(|role| role == "slave" || role == "replica"),
        _ => false,
    }
}

impl Sentinels {
    /// The reason no sentinel led to the master: which one said what.
    fn missed(&self, misses: &[(String, Miss)]) -> String {
        let list = self
            .hosts
            .iter()
            .map(|(host, port)| format!("{host}:{port}"))
            .collect::<Vec<_>>()
            .join(",");
        let said: Vec<String> = misses
            .iter()
            .filter_map(|(sentinel, miss)| match miss {
                Miss::Unknown => None,
                Miss::Said(why) => Some(format!("{sentinel}: {why}")),
            })
            .collect();
        match said.is_empty() {
            true => format!("no sentinel of {list} knows master {}", self.master),
            false => format!(
                "no sentinel of {list} led to master {} ({})",
                self.master,
                said.join("; ")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sentinel's answer: an address, nil for an unknown master, anything else in words.
    #[test]
    fn reads_master_addresses() {
        let bulk = |s: &str| Reply::Bulk(s.as_bytes().to_vec());
        assert_eq!(
            master_addr(Reply::Array(vec![bulk("127.0.0.1"), bulk("6380")])),
            Ok(Some((String::from("127.0.0.1"), 6380)))
        );
        assert_eq!(master_addr(Reply::Nil), Ok(None));
        assert!(master_addr(Reply::Array(vec![bulk("x")])).is_err());
        let replica = Reply::Array(vec![bulk("slave"), bulk("127.0.0.1"), Reply::Int(6379)]);
        assert!(is_replica(&replica));
        assert!(!is_replica(&Reply::Array(vec![
            bulk("master"),
            Reply::Int(0)
        ])));
    }
}

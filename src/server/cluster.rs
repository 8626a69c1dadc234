//! Redis Cluster: which node owns a stream's slot, so each stream is written and read on its own
//! node with a plain connection (a multi-key command must stay within one slot anyway).
//!
//! ```text
//! CLUSTER SLOTS   ->  [[0, 5460, ["127.0.0.1", 30001, id], [replica...]], [5461, ...], ...]
//! ```
//!
//! The slot map is asked of any node known: the seeds of `--redis-url` and every master and
//! replica a slot map named, the last one that answered first. So when a master dies (the seed
//! included) and its replica takes over, the next question goes to a live node, and a link
//! re-routed after a break finds the new master rather than the dead one.

use std::time::{Duration, Instant};

use super::fault::{self, Failure};
use super::resp::{Command, Reply};
use super::target::Target;
use crate::error::{Error, Result};
use crate::shutdown::Shutdown;

/// Slots in a Redis Cluster.
const SLOTS: u16 = 16_384;

/// The hash slot of `key`: CRC16 (XMODEM) of the key, or of its `{hash tag}` when it has one, so
/// `{chennai}:dead` lands where `chennai` does.
pub fn slot(key: &str) -> u16 {
    let bytes = key.as_bytes();
    let hashed = bytes
        .iter()
        .position(|b| *b == b'{')
        .and_then(|open| {
            let close = bytes[open + 1..].iter().position(|b| *b == b'}')?;
            (close > 0).then(|| &bytes[open + 1..open + 1 + close])
        })
        .unwrap_or(bytes);
    crc16::State::<crc16::XMODEM>::calculate(hashed) % SLOTS
}

/// The master node that owns `key`, as a target with the seed's credentials and TLS settings;
/// asking the seed gives up after `limit`, or when `stop` is raised.
pub fn node_for(
    seed: &Target,
    key: &str,
    limit: Duration,
    stop: Option<&Shutdown>,
) -> Result<Target> {
    let wanted = i64::from(slot(key));
    let owner = cluster_slots(seed, limit, stop)?
        .into_iter()
        .find(|range| (range.start..=range.end).contains(&wanted));
    match owner {
        Some(range) => seed.at(&range.master.0, range.master.1),
        None => Err(Error::Server {
            address: seed.address().to_string(),
            what: format!("CLUSTER SLOTS for key {key}"),
            reason: format!("no node owns slot {wanted}; is the cluster complete?"),
        }),
    }
}

/// The shortest share of the bound given to one node asked for the slot map.
const MIN_SHARE: Duration = Duration::from_millis(250);

/// The slot map, asked of each node known in turn (the last that answered first) until one
/// answers; gives up after `limit`, or when `stop` is raised. The error is the last node's.
fn cluster_slots(seed: &Target, limit: Duration, stop: Option<&Shutdown>) -> Result<Vec<Range>> {
    let deadline = Instant::now() + limit;
    let known = seed.known_nodes();
    let mut last = None;
    for (index, node) in known.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() && last.is_some() {
            break;
        }
        let share = (left / (known.len() - index) as u32).max(MIN_SHARE);
        match ask_slots(&seed.at(&node.0, node.1)?, share, stop) {
            Ok(ranges) => {
                let named = ranges
                    .iter()
                    .flat_map(|r| r.nodes.iter().cloned())
                    .collect();
                seed.learn(node, named);
                return Ok(ranges);
            }
            Err(err @ (Error::Stopped { .. } | Error::Refused { .. })) => return Err(err),
            Err(err) => last = Some(err),
        }
    }
    Err(last.unwrap_or_else(|| Error::Usage(String::from("--cluster needs a host:port URL"))))
}

/// One node's CLUSTER SLOTS, within `limit`.
fn ask_slots(node: &Target, limit: Duration, stop: Option<&Shutdown>) -> Result<Vec<Range>> {
    let deadline = Instant::now() + limit;
    let mut conn = node.connect_within(limit, stop)?;
    let what =
        || String::from("CLUSTER SLOTS (is the server in cluster mode? drop --cluster if not)");
    let failure = match conn.call_until(&Command::new("CLUSTER").arg("SLOTS"), deadline) {
        Ok(Reply::Error(err)) => Failure::Answer(err),
        Ok(reply) => return Ok(slot_ranges(reply, &node.host())),
        Err(fault) => Failure::Fault(fault),
    };
    Err(fault::error(node.address(), what(), &failure, false))
}

/// Every master of the slot map, once each, as targets with the seed's credentials and TLS
/// settings (and not themselves cluster seeds: each is asked on its own).
pub fn masters(seed: &Target, limit: Duration, stop: Option<&Shutdown>) -> Result<Vec<Target>> {
    let mut seen: Vec<(String, u16)> = Vec::new();
    for range in cluster_slots(seed, limit, stop)? {
        if !seen.contains(&range.master) {
            seen.push(range.master);
        }
    }
    seen.into_iter()
        .map(|(host, port)| Ok(seed.at(&host, port)?.in_cluster(false)))
        .collect()
}

/// The keys grouped by the master that owns them (one CLUSTER SLOTS for all), in the order
/// given; off a cluster, one group.
pub fn by_node(
    seed: &Target,
    keys: &[String],
    limit: Duration,
    stop: Option<&Shutdown>,
) -> Result<Vec<Vec<String>>> {
    if !seed.is_cluster() {
        return Ok(vec![keys.to_vec()]);
    }
    let ranges = cluster_slots(seed, limit, stop)?;
    let mut groups: Vec<((String, u16), Vec<String>)> = Vec::new();
    for key in keys {
        let wanted = i64::from(slot(key));
        let Some(range) = ranges
            .iter()
            .find(|range| (range.start..=range.end).contains(&wanted))
        else {
            return Err(Error::Server {
                address: seed.address().to_string(),
                what: format!("CLUSTER SLOTS for key {key}"),
                reason: format!("no node owns slot {wanted}; is the cluster complete?"),
            });
        };
        let node = range.master.clone();
        match groups.iter_mut().find(|(n, _)| *n == node) {
            Some((_, part)) => part.push(key.clone()),
            None => groups.push((node, vec![key.clone()])),
        }
    }
    Ok(groups.into_iter().map(|(_, keys)| keys).collect())
}

/// The keys each multi-key read may cover, in the order given: all of them off a cluster; in a
/// cluster, one group per hash slot (a multi-key command must stay within one slot, even when
/// one node owns both: CROSSSLOT otherwise), so keys sharing a `{hash tag}` share a group.
pub fn by_slot(keys: &[String], cluster: bool) -> Vec<Vec<String>> {
    if !cluster {
        return vec![keys.to_vec()];
    }
    let mut parts: Vec<(u16, Vec<String>)> = Vec::new();
    for key in keys {
        let slot = slot(key);
        match parts.iter_mut().find(|(s, _)| *s == slot) {
            Some((_, part)) => part.push(key.clone()),
            None => parts.push((slot, vec![key.clone()])),
        }
    }
    parts.into_iter().map(|(_, part)| part).collect()
}

/// One range of a slot map: its slots, the master that owns them, every node that serves them.
#[derive(Debug, PartialEq, Eq)]
struct Range {
    /// The first slot.
    start: i64,
    /// The last slot.
    end: i64,
    /// The master, `(host, port)`.
    master: (String, u16),
    /// The master, then its replicas.
    nodes: Vec<(String, u16)>,
}

/// The ranges of a CLUSTER SLOTS reply given by a node on `host`: an empty host means "the
/// address you reached me on".
fn slot_ranges(reply: Reply, host: &str) -> Vec<Range> {
    let Some(ranges) = reply.into_array() else {
        return Vec::new();
    };
    let node = |part: Reply| -> Option<(String, u16)> {
        let mut fields = part.into_array()?.into_iter();
        let named = fields.next()?.text()?;
        let port = u16::try_from(fields.next()?.int()?).ok()?;
        Some((
            if named.is_empty() {
                host.to_string()
            } else {
                named
            },
            port,
        ))
    };
    ranges
        .into_iter()
        .filter_map(|range| {
            let mut parts = range.into_array()?.into_iter();
            let start = parts.next()?.int()?;
            let end = parts.next()?.int()?;
            let nodes: Vec<(String, u16)> = parts.filter_map(node).collect();
            let master = nodes.first()?.clone();
            Some(Range {
                start,
                end,
                master,
                nodes,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slots match Redis's own CLUSTER KEYSLOT, hash tags included.
    #[test]
    fn slots_like_redis() {
        assert_eq!(slot("foo"), 12182);
        assert_eq!(slot("123456789"), 12739);
        assert_eq!(slot("{chennai}:dead"), slot("chennai"));
        // An empty tag `{}` is no tag: the whole key is hashed (Redis's CLUSTER KEYSLOT a{}b).
        assert_eq!(slot("a{}b"), 13_694);
        assert_ne!(slot("chennai:dead"), slot("chennai"));
    }

    /// Off a cluster one read covers every key; in a cluster, one per hash slot, in order.
    #[test]
    fn one_read_per_slot_in_a_cluster() {
        let keys: Vec<String> = ["chennai", "coimbatore", "{chennai}:dead", "pune"]
            .iter()
            .map(|k| k.to_string())
            .collect();
        assert_eq!(by_slot(&keys, false), vec![keys.clone()]);
        assert_eq!(
            by_slot(&keys, true),
            vec![
                vec![String::from("chennai"), String::from("{chennai}:dead")],
                vec![String::from("coimbatore")],
                vec![String::from("pune")],
            ]
        );
    }

    /// A CLUSTER SLOTS reply yields each range's master and replicas; an empty host is the
    /// answering node's.
    #[test]
    fn reads_slot_ranges() {
        let bulk = |s: &str| Reply::Bulk(s.as_bytes().to_vec());
        let reply = Reply::Array(vec![Reply::Array(vec![
            Reply::Int(0),
            Reply::Int(5460),
            Reply::Array(vec![bulk("127.0.0.1"), Reply::Int(30001), bulk("abc")]),
            Reply::Array(vec![bulk(""), Reply::Int(30004), bulk("def")]),
        ])]);
        let seed = (String::from("127.0.0.1"), 30001);
        assert_eq!(
            slot_ranges(reply, "10.0.0.1"),
            vec![Range {
                start: 0,
                end: 5460,
                master: seed.clone(),
                nodes: vec![seed, (String::from("10.0.0.1"), 30004)],
            }]
        );
    }
}

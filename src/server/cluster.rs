//! Redis Cluster: which node owns a stream's slot, so each stream is written and read on its own
//! node with a plain connection (a multi-key command must stay within one slot anyway).
//!
//! ```text
//! CLUSTER SLOTS   ->  [[0, 5460, ["127.0.0.1", 30001, id]], [5461, 10922, [...]], ...]
//! ```

use std::time::Duration;

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
    let owner = slot_ranges(cluster_slots(seed, limit, stop)?)
        .into_iter()
        .find(|(start, end, _, _)| (*start..=*end).contains(&wanted));
    match owner {
        Some((_, _, host, port)) => {
            // An empty host means "the address you reached me on".
            let host = if host.is_empty() { seed.host() } else { host };
            seed.at(&host, port)
        }
        None => Err(Error::Server {
            address: seed.address().to_string(),
            what: format!("CLUSTER SLOTS for key {key}"),
            reason: format!("no node owns slot {wanted}; is the cluster complete?"),
        }),
    }
}

/// The seed's CLUSTER SLOTS reply; asking gives up after `limit`, or when `stop` is raised.
fn cluster_slots(seed: &Target, limit: Duration, stop: Option<&Shutdown>) -> Result<Reply> {
    let mut conn = seed.connect_within(limit, stop)?;
    let what =
        || String::from("CLUSTER SLOTS (is the server in cluster mode? drop --cluster if not)");
    let failure = match conn.call(&Command::new("CLUSTER").arg("SLOTS")) {
        Ok(Reply::Error(err)) => Failure::Answer(err),
        Ok(reply) => return Ok(reply),
        Err(fault) => Failure::Fault(fault),
    };
    Err(fault::error(seed.address(), what(), &failure, false))
}

/// Every master of the slot map, once each, as targets with the seed's credentials and TLS
/// settings (and not themselves cluster seeds: each is asked on its own).
pub fn masters(seed: &Target, limit: Duration, stop: Option<&Shutdown>) -> Result<Vec<Target>> {
    let mut seen: Vec<(String, u16)> = Vec::new();
    for (_, _, host, port) in slot_ranges(cluster_slots(seed, limit, stop)?) {
        let host = if host.is_empty() { seed.host() } else { host };
        if !seen.contains(&(host.clone(), port)) {
            seen.push((host, port));
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
    let ranges = slot_ranges(cluster_slots(seed, limit, stop)?);
    let mut groups: Vec<((String, u16), Vec<String>)> = Vec::new();
    for key in keys {
        let wanted = i64::from(slot(key));
        let Some((_, _, host, port)) = ranges
            .iter()
            .find(|(start, end, _, _)| (*start..=*end).contains(&wanted))
        else {
            return Err(Error::Server {
                address: seed.address().to_string(),
                what: format!("CLUSTER SLOTS for key {key}"),
                reason: format!("no node owns slot {wanted}; is the cluster complete?"),
            });
        };
        let node = (host.clone(), *port);
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

/// `(first slot, last slot, master host, master port)` of each range in a CLUSTER SLOTS reply.
fn slot_ranges(reply: Reply) -> Vec<(i64, i64, String, u16)> {
    let Some(ranges) = reply.into_array() else {
        return Vec::new();
    };
    ranges
        .into_iter()
        .filter_map(|range| {
            let mut parts = range.into_array()?.into_iter();
            let start = parts.next()?.int()?;
            let end = parts.next()?.int()?;
            let mut master = parts.next()?.into_array()?.into_iter();
            let host = master.next()?.text()?;
            let port = u16::try_from(master.next()?.int()?).ok()?;
            Some((start, end, host, port))
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

    /// A CLUSTER SLOTS reply yields each range's master.
    #[test]
    fn reads_slot_ranges() {
        let bulk = |s: &str| Reply::Bulk(s.as_bytes().to_vec());
        let reply = Reply::Array(vec![Reply::Array(vec![
            Reply::Int(0),
            Reply::Int(5460),
            Reply::Array(vec![bulk("127.0.0.1"), Reply::Int(30001), bulk("abc")]),
        ])]);
        assert_eq!(
            slot_ranges(reply),
            vec![(0, 5460, String::from("127.0.0.1"), 30001)]
        );
    }
}

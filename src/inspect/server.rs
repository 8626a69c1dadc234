//! `inspect server`: where monsoon is connected: each master's address, server and replication
//! offset, and its replicas with how far each lags; with `--interval`, again every interval
//! (riding out breaks and failovers), so a demo can show a promotion happening.
//!
//! ```text
//! 127.0.0.1:6379  master  redis 7.0.15  offset 1000
//!   replica 127.0.0.1:6380  online  offset 900  100 bytes behind  last ack 0 s ago
//! ```
//!
//! In a Redis Cluster every master of the slot map is shown; asked through a replica, the
//! replica says which master it follows.

use std::io::Write;
use std::time::Duration;

use crate::error::Result;
use crate::server::replication::{self, Node, Role};
use crate::server::{Link, Target, cluster};
use crate::shutdown::Shutdown;

/// `server`: once, or every `interval`.
#[derive(Debug, Clone)]
pub struct Server {
    /// Time between frames (`None`: one frame).
    pub interval: Option<Duration>,
    /// Stop after this many frames.
    pub frames: Option<u64>,
    /// One JSON object per frame.
    pub json: bool,
}

impl Server {
    /// Writes the nodes `target` leads to, once or every interval until `shutdown` or the
    /// frame count.
    pub fn run(&self, target: &Target, shutdown: &Shutdown, out: &mut impl Write) -> Result<()> {
        // Off a cluster, one link kept across frames: it rides out a break (and finds the new
        // master again) within inspect's --retry-for.
        let mut single = match target.is_cluster() {
            true => None,
            false => {
                let mut link = Link::open(target, "", Some(super::RETRY_FOR))?;
                link.stop_on(shutdown);
                Some(link)
            }
        };
        let mut drawn = 0u64;
        loop {
            let nodes = match single.as_mut() {
                Some(link) => vec![replication::node(link)?],
                None => cluster_nodes(target, shutdown)?,
            };
            let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let text = match self.json {
                true => format!("{}\n", to_json(&time, &nodes)),
                false => render(self.interval.map(|_| time.as_str()), &nodes),
            };
            super::emit(out, &text)?;
            drawn += 1;
            let Some(interval) = self.interval else {
                return Ok(());
            };
            if self.frames.is_some_and(|n| drawn >= n) || shutdown.sleep(interval) {
                return Ok(());
            }
        }
    }
}

/// Every master of the cluster's slot map, as it says of itself.
fn cluster_nodes(seed: &Target, shutdown: &Shutdown) -> Result<Vec<Node>> {
    let mut nodes = Vec::new();
    for master in cluster::masters(seed, crate::server::target::CONNECT_TIMEOUT, Some(shutdown))? {
        let mut link = Link::open(&master, "", Some(super::RETRY_FOR))?;
        link.stop_on(shutdown);
        nodes.push(replication::node(&mut link)?);
    }
    Ok(nodes)
}

/// The nodes as lines: each node, then its replicas indented; a time line first when framed.
pub fn render(time: Option<&str>, nodes: &[Node]) -> String {
    let mut text = String::new();
    if let Some(time) = time {
        text.push_str(&format!("{time}\n"));
    }
    for node in nodes {
        let role = match &node.role {
            Role::Master => String::from("master"),
            Role::Replica { master, link_up } => format!(
                "replica of {master} (link {})",
                if *link_up { "up" } else { "down" }
            ),
        };
        text.push_str(&format!(
            "{}  {role}  {}  offset {}\n",
            node.address, node.server, node.offset
        ));
        if node.role == Role::Master && node.replicas.is_empty() {
            text.push_str("  no replicas\n");
        }
        for replica in &node.replicas {
            text.push_str(&format!(
                "  replica {}  {}  offset {}  {} bytes behind  last ack {} s ago\n",
                replica.address,
                replica.state,
                replica.offset,
                replica.behind(node),
                replica.lag_seconds
            ));
        }
    }
    text
}

/// One frame as JSON: `time`, and `nodes` (`address`, `server`, `role`, `master` and `link_up`
/// for a replica, `offset`, `replicas` with `address`, `state`, `offset`, `behind` (bytes),
/// `lag_seconds`).
pub fn to_json(time: &str, nodes: &[Node]) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = nodes
        .iter()
        .map(|node| {
            let mut value = serde_json::json!({
                "address": node.address,
                "server": node.server,
                "role": match node.role { Role::Master => "master", Role::Replica { .. } => "replica" },
                "offset": node.offset,
                "replicas": node.replicas.iter().map(|r| serde_json::json!({
                    "address": r.address,
                    "state": r.state,
                    "offset": r.offset,
                    "behind": r.behind(node),
                    "lag_seconds": r.lag_seconds,
                })).collect::<Vec<_>>(),
            });
            if let (Role::Replica { master, link_up }, Some(object)) =
                (&node.role, value.as_object_mut())
            {
                object.insert(String::from("master"), master.clone().into());
                object.insert(String::from("link_up"), (*link_up).into());
            }
            value
        })
        .collect();
    serde_json::json!({ "time": time, "nodes": nodes })
}

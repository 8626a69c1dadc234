//! Where a link is connected: the node's role, and a master's replicas with how far each lags
//! (INFO server and INFO replication), so a failover can be watched happening.
//!
//! ```text
//! INFO server        redis_version:7.0.15  (server_name:valkey  valkey_version:8.1.1)
//! INFO replication   role:master  master_repl_offset:1234
//!                    slave0:ip=127.0.0.1,port=6380,state=online,offset=1234,lag=0
//!                    role:slave   master_host:...  master_port:...  master_link_status:up
//! ```

use super::link::Link;
use super::resp::Command;
use crate::error::Result;

/// What a node says of itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// `host:port` of the node the link reached (the master a sentinel named; never a
    /// password).
    pub address: String,
    /// `redis 7.0.15`, `valkey 8.1.1`.
    pub server: String,
    /// Master or replica.
    pub role: Role,
    /// Its replication offset (`master_repl_offset`, or `slave_repl_offset` on a replica).
    pub offset: i64,
    /// A master's replicas (none on a replica).
    pub replicas: Vec<Replica>,
}

/// A node's role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// It takes writes.
    Master,
    /// It copies `master` (`host:port`); `link_up` while its link to it is up.
    Replica {
        /// The master it follows.
        master: String,
        /// Whether `master_link_status` is `up`.
        link_up: bool,
    },
}

/// One replica of a master, as the master sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replica {
    /// `host:port` it announced.
    pub address: String,
    /// `online`, `wait_bgsave`, `send_bulk`...
    pub state: String,
    /// The replication offset it acknowledged.
    pub offset: i64,
    /// Seconds since its last acknowledgement.
    pub lag_seconds: i64,
}

impl Replica {
    /// Bytes of the master's stream it has not acknowledged yet.
    pub fn behind(&self, master: &Node) -> i64 {
        (master.offset - self.offset).max(0)
    }
}

/// Asks the node `link` is connected to who it is.
pub fn node(link: &mut Link) -> Result<Node> {
    let server = info(link, "server")?;
    let replication = info(link, "replication")?;
    Ok(parse(link.node_address(), &server, &replication))
}

/// The text of one INFO section.
fn info(link: &mut Link, section: &str) -> Result<String> {
    let reply = link.call(&Command::new("INFO").arg(section), || {
        format!("INFO {section}")
    })?;
    Ok(reply.text().unwrap_or_default())
}

/// The node from its INFO server and INFO replication texts.
pub fn parse(address: &str, server: &str, replication: &str) -> Node {
    let field = |text: &str, name: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))
            .map(str::to_string)
    };
    let number = |text: &str, name: &str| field(text, name).and_then(|v| v.parse().ok());
    let server = match field(server, "valkey_version") {
        Some(version) => format!("valkey {version}"),
        None => format!(
            "redis {}",
            field(server, "redis_version").unwrap_or_else(|| String::from("?"))
        ),
    };
    let role = match field(replication, "role").as_deref() {
        Some("slave") => Role::Replica {
            master: format!(
                "{}:{}",
                field(replication, "master_host").unwrap_or_default(),
                field(replication, "master_port").unwrap_or_default()
            ),
            link_up: field(replication, "master_link_status").as_deref() == Some("up"),
        },
        _ => Role::Master,
    };
    let offset = match role {
        Role::Master => number(replication, "master_repl_offset"),
        Role::Replica { .. } => number(replication, "slave_repl_offset"),
    };
    let replicas = replication
        .lines()
        .filter(|line| {
            line.strip_prefix("slave")
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .filter_map(|line| replica(line.trim().split_once(':')?.1))
        .collect();
    Node {
        address: address.to_string(),
        server,
        role,
        offset: offset.unwrap_or(0),
        replicas,
    }
}

/// A replica from its `ip=...,port=...,state=...,offset=...,lag=...` line.
fn replica(line: &str) -> Option<Replica> {
    let part = |name: &str| {
        line.split(',')
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
    };
    Some(Replica {
        address: format!("{}:{}", part("ip")?, part("port")?),
        state: part("state").unwrap_or("?").to_string(),
        offset: part("offset").and_then(|o| o.parse().ok()).unwrap_or(0),
        lag_seconds: part("lag").and_then(|l| l.parse().ok()).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A master's replicas are read from its `slaveN:` lines; a replica names its master.
    #[test]
    fn reads_roles_and_replicas() {
        let master = parse(
            "127.0.0.1:6379",
            "# Server\r\nredis_version:7.0.15\r\n",
            "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
             slave0:ip=127.0.0.1,port=6380,state=online,offset=900,lag=0\r\n\
             slave1:ip=127.0.0.1,port=6381,state=wait_bgsave,offset=0,lag=3\r\n\
             master_repl_offset:1000\r\n",
        );
        assert_eq!(master.server, "redis 7.0.15");
        assert_eq!(master.role, Role::Master);
        assert_eq!(master.offset, 1000);
        assert_eq!(master.replicas.len(), 2);
        assert_eq!(master.replicas[0].address, "127.0.0.1:6380");
        assert_eq!(master.replicas[0].behind(&master), 100);
        assert_eq!(master.replicas[1].state, "wait_bgsave");
        assert_eq!(master.replicas[1].lag_seconds, 3);
        let replica = parse(
            "127.0.0.1:6380",
            "server_name:valkey\r\nredis_version:7.2.4\r\nvalkey_version:8.1.1\r\n",
            "role:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:6379\r\n\
             master_link_status:down\r\nslave_repl_offset:900\r\n",
        );
        assert_eq!(replica.server, "valkey 8.1.1");
        assert_eq!(
            replica.role,
            Role::Replica {
                master: String::from("127.0.0.1:6379"),
                link_up: false
            }
        );
        assert_eq!(replica.offset, 900);
        assert!(replica.replicas.is_empty());
    }
}

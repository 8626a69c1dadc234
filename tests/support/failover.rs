//! Servers that fail over: a Sentinel set (a master, its replicas, three sentinels) and a Redis
//! Cluster whose masters each have a replica. Each piece is a private process in its own temp
//! dir, killed on drop, like every [`Server`].

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Namespace, Server, bin, cluster_nodes, free_port, server_bin, wait_until};

/// The name the sentinels monitor the master by.
pub const MASTER: &str = "mm";

/// How long the sentinels wait before they call a silent master down (`down-after-milliseconds`).
pub const DOWN_AFTER: Duration = Duration::from_millis(1000);

/// The unix socket of the master of [`SentinelSet::start_in`], in its dir.
const UNIX_SOCKET: &str = "redis.sock";

/// A cluster node's `cluster-node-timeout` in [`ReplicatedCluster`].
pub const NODE_TIMEOUT: Duration = Duration::from_millis(1000);

/// One sentinel: `redis-server sentinel.conf --sentinel`, its config writable in its own dir.
pub struct Sentinel {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Sentinel {
    /// Starts a sentinel monitoring the master on `master_host`:`master_port` as [`MASTER`]
    /// (quorum 2), retried on another port if the one picked was taken.
    fn start(master_host: &str, master_port: u16) -> Sentinel {
        Sentinel::start_with((master_host, master_port), 2, None)
    }

    /// Starts a lone sentinel (quorum 1) serving TLS only, with the PEM files in `certs` (see
    /// [`crate::make_certificates`]), that reaches the master on `master_port` with TLS too.
    pub fn start_tls(master_port: u16, certs: &Path) -> Sentinel {
        Sentinel::start_with(("127.0.0.1", master_port), 1, Some(certs))
    }

    /// A sentinel of `quorum` monitoring the master at `master`, over TLS when `certs` are given
    /// (then its port is a TLS port).
    fn start_with(
        (master_host, master_port): (&str, u16),
        quorum: u8,
        certs: Option<&Path>,
    ) -> Sentinel {
        for _ in 0..10 {
            let dir = tempfile::tempdir().expect("a temp dir for the sentinel");
            let port = free_port();
            let listen = match certs {
                None => format!("port {port}\n"),
                Some(certs) => format!(
                    "port 0\ntls-port {port}\ntls-replication yes\ntls-auth-clients no\n\
                     tls-cert-file {c}/server.pem\ntls-key-file {c}/server.key\n\
                     tls-ca-cert-file {c}/ca.pem\n",
                    c = certs.display()
                ),
            };
            let conf = dir.path().join("sentinel.conf");
            // The sentinels tell each other (in their hellos) the address they listen on, not
            // the one their link to a node has: a master in a namespace sees them at its veth's
            // host end, where they do not listen.
            let text = format!(
                "{listen}bind 127.0.0.1\ndir {dir}\nlogfile {dir}/sentinel.log\n\
                 sentinel announce-ip 127.0.0.1\n\
                 sentinel monitor {MASTER} {master_host} {master_port} {quorum}\n\
                 sentinel down-after-milliseconds {MASTER} {down}\n\
                 sentinel failover-timeout {MASTER} 4000\n",
                dir = dir.path().display(),
                down = DOWN_AFTER.as_millis(),
            );
            std::fs::write(&conf, text).expect("write sentinel.conf");
            let bin = match certs {
                Some(_) => String::from("redis-server"),
                None => server_bin(),
            };
            let mut child = Command::new(bin)
                .arg(&conf)
                .arg("--sentinel")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start a sentinel");
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // the port was taken, most likely
                }
                let up = match certs {
                    Some(_) => std::net::TcpStream::connect(("127.0.0.1", port)).is_ok(),
                    None => ask(port, &["PING"])
                        .is_some_and(|r| r == redis::Value::SimpleString("PONG".into())),
                };
                if up {
                    return Sentinel { port, dir, child };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start a sentinel after 10 tries");
    }

    /// Where this sentinel says the master is now.
    pub fn master_port(&self) -> Option<u16> {
        let reply = ask(self.port, &["SENTINEL", "get-master-addr-by-name", MASTER])?;
        let (_, port): (String, u16) = redis::from_redis_value(reply).ok()?;
        Some(port)
    }

    /// How many `what` ("replicas", "sentinels") this sentinel knows of the master.
    fn knows(&self, what: &str) -> usize {
        ask(self.port, &["SENTINEL", what, MASTER])
            .and_then(|reply| redis::from_redis_value::<Vec<redis::Value>>(reply).ok())
            .map_or(0, |list| list.len())
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One command to the server on `port`, its reply (`None`: no answer, or an error).
fn ask(port: u16, args: &[&str]) -> Option<redis::Value> {
    ask_at(&format!("redis://127.0.0.1:{port}"), args)
}

/// One command to the server at `url`, its reply (`None`: no answer, or an error).
fn ask_at(url: &str, args: &[&str]) -> Option<redis::Value> {
    let client = redis::Client::open(url).ok()?;
    let mut con = client
        .get_connection_with_timeout(Duration::from_secs(2))
        .ok()?;
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(&mut con).ok()
}

/// A master, its replicas (`--replicaof`) and three sentinels watching it; every data node is
/// a [`Server`], the master first.
pub struct SentinelSet {
    /// The data nodes: the first master, then its replicas.
    pub nodes: Vec<Server>,
    /// The three sentinels.
    pub sentinels: Vec<Sentinel>,
}

impl SentinelSet {
    /// Starts a master, `replicas` replicas of it and three sentinels, and waits until every
    /// sentinel knows every replica and the other sentinels (else a failover cannot start).
    pub fn start(replicas: usize) -> SentinelSet {
        SentinelSet::around(Server::start(), replicas, &[])
    }

    /// As [`SentinelSet::start`], with the master inside `namespace` ([`Server::start_in`]) and
    /// the replicas and sentinels in ours, so that [`Namespace::partition`] cuts the master off
    /// from all of them (and from every client). A server in the namespace reaches only the host
    /// end of its veth: the replicas listen there too, which is where the master sees them, so
    /// where the sentinels find them, and where the old master reaches the promoted one once
    /// healed. Every node syncs a new replica at once (no 5 s wait for more to come).
    pub fn start_in(namespace: &Namespace, replicas: usize) -> SentinelSet {
        // A unix socket (relative: in its dir) is a way in that the partition does not cut.
        let master_args = [
            "--repl-diskless-sync-delay",
            "0",
            "--unixsocket",
            UNIX_SOCKET,
        ];
        let master = Server::start_in(namespace, &master_args);
        // The later --bind wins over the one every server is given.
        let replica_args = [
            "--bind",
            "127.0.0.1",
            namespace.host_address(),
            "--protected-mode",
            "no",
            "--repl-diskless-sync-delay",
            "0",
        ];
        SentinelSet::around(master, replicas, &replica_args)
    }

    /// Starts `replicas` replicas of `master` (each with `replica_args` too) and three sentinels
    /// watching it, and waits until they all know each other.
    fn around(master: Server, replicas: usize, replica_args: &[&str]) -> SentinelSet {
        let (host, port) = (master.host.clone(), master.port);
        let port_arg = port.to_string();
        let mut nodes = vec![master];
        for _ in 0..replicas {
            let mut args = vec!["--replicaof", &host, &port_arg];
            args.extend_from_slice(replica_args);
            nodes.push(Server::start_with(&args));
        }
        let sentinels: Vec<Sentinel> = (0..3).map(|_| Sentinel::start(&host, port)).collect();
        let set = SentinelSet { nodes, sentinels };
        for replica in &set.nodes[1..] {
            wait_until("a replica in sync with its master", || {
                in_sync(replica.port)
            });
        }
        for sentinel in &set.sentinels {
            wait_until(
                "each sentinel knows the replicas and the other sentinels",
                || sentinel.knows("replicas") == replicas && sentinel.knows("sentinels") == 2,
            );
        }
        set
    }

    /// `redis+sentinel://127.0.0.1:S1,127.0.0.1:S2,127.0.0.1:S3/mm`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect();
        format!("redis+sentinel://{}/{MASTER}", hosts.join(","))
    }

    /// The port of the master, as the first sentinel says.
    pub fn master_port(&self) -> u16 {
        self.sentinels[0]
            .master_port()
            .expect("a sentinel names the master")
    }

    /// A connection to the master now, for the test's own checks.
    pub fn master(&self) -> redis::Connection {
        let port = self.master_port();
        self.nodes
            .iter()
            .find(|n| n.port == port)
            .expect("the master is one of ours")
            .con()
    }

    /// SIGKILLs the master, and returns its port.
    pub fn kill_master(&mut self) -> u16 {
        let port = self.master_port();
        self.nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("the master is one of ours")
            .kill();
        port
    }

    /// Asks the sentinels for a failover (`SENTINEL FAILOVER`: the master is demoted to a
    /// replica of the promoted one, and stays up), and returns the old master's port.
    pub fn fail_over(&mut self) -> u16 {
        let port = self.master_port();
        let asked = ask(self.sentinels[0].port, &["SENTINEL", "FAILOVER", MASTER]);
        assert!(asked.is_some(), "SENTINEL FAILOVER was refused");
        port
    }

    /// Waits until every sentinel names a master other than `old` that says ROLE master.
    pub fn wait_failover(&self, old: u16) {
        wait_until("the sentinels promote a replica", || self.failed_over(old));
    }

    /// Whether every sentinel names a master other than `old` that says ROLE master.
    pub fn failed_over(&self, old: u16) -> bool {
        self.sentinels.iter().all(|s| {
            s.master_port()
                .is_some_and(|port| port != old && role(port).as_deref() == Some("master"))
        })
    }

    /// A connection to the master [`SentinelSet::start_in`] started, over its unix socket: the
    /// test's look at it while it is cut off.
    pub fn first_master_unix(&self) -> redis::Connection {
        let socket = self.nodes[0].dir.path().join(UNIX_SOCKET);
        redis::Client::open(format!("redis+unix://{}", socket.display()))
            .and_then(|c| c.get_connection())
            .expect("connect to the first master's unix socket")
    }

    /// Waits until the sentinels have made node `index` (the old master, back after a
    /// partition) a replica again, its link to the master they name up.
    pub fn wait_rejoined(&self, index: usize) {
        let node = &self.nodes[index];
        let master = self.master_port();
        wait_until(
            "the old master is made a replica of the new one, in sync",
            || {
                ask_at(&node.url(), &["INFO", "replication"])
                    .and_then(|reply| redis::from_redis_value::<String>(reply).ok())
                    .is_some_and(|info| {
                        info.contains("role:slave")
                            && info.contains(&format!("master_port:{master}"))
                            && info.contains("master_link_status:up")
                    })
            },
        );
    }
}

/// What ROLE says the node on `port` is.
fn role(port: u16) -> Option<String> {
    let reply = ask(port, &["ROLE"])?;
    let parts: Vec<redis::Value> = redis::from_redis_value(reply).ok()?;
    redis::from_redis_value(parts.first()?.clone()).ok()
}

/// Whether the replica on `port` has its link to its master up.
fn in_sync(port: u16) -> bool {
    ask(port, &["INFO", "replication"])
        .and_then(|reply| redis::from_redis_value::<String>(reply).ok())
        .is_some_and(|info| info.contains("master_link_status:up"))
}

/// A Redis Cluster of three masters, each with one replica, `cluster-node-timeout` of
/// [`NODE_TIMEOUT`]: a master killed is replaced by its replica within a few seconds.
pub struct ReplicatedCluster {
    /// The six nodes; `redis-cli --cluster create` makes the first three the masters.
    pub nodes: Vec<Server>,
}

impl ReplicatedCluster {
    /// Starts six cluster-mode nodes, joins them with one replica per master, and waits until
    /// every node says `cluster_state:ok` and every replica is in sync.
    pub fn start() -> ReplicatedCluster {
        let timeout = NODE_TIMEOUT.as_millis().to_string();
        let args = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            &timeout,
        ];
        let nodes = cluster_nodes(6, 1, &args);
        let cluster = ReplicatedCluster { nodes };
        cluster.wait_ok(&[]);
        for node in &cluster.nodes {
            if role(node.port).as_deref() == Some("slave") {
                wait_until("a cluster replica in sync", || in_sync(node.port));
            }
        }
        cluster
    }

    /// Waits until every node but those on `dead` ports says `cluster_state:ok`.
    pub fn wait_ok(&self, dead: &[u16]) {
        for node in self.nodes.iter().filter(|n| !dead.contains(&n.port)) {
            wait_until("cluster_state:ok", || {
                ask(node.port, &["CLUSTER", "INFO"])
                    .and_then(|reply| redis::from_redis_value::<String>(reply).ok())
                    .is_some_and(|info| info.contains("cluster_state:ok"))
            });
        }
    }

    /// Waits until the node on `port` is a master (its replica promoted).
    pub fn wait_master(&self, port: u16) {
        wait_until("a replica promoted to master", || {
            role(port).as_deref() == Some("master")
        });
    }

    /// The port of the replica of the master on `master` (as the replica's ROLE says).
    pub fn replica_of(&self, master: u16) -> u16 {
        self.nodes
            .iter()
            .find(|n| {
                ask(n.port, &["ROLE"])
                    .and_then(|r| redis::from_redis_value::<Vec<redis::Value>>(r).ok())
                    .is_some_and(|parts| {
                        parts.len() > 2
                            && redis::from_redis_value::<u16>(parts[2].clone()).ok() == Some(master)
                    })
            })
            .map(|n| n.port)
            .expect("a replica of that master")
    }

    /// A cluster-aware connection through the live nodes, for the test's own checks.
    pub fn con(&self, dead: &[u16]) -> redis::cluster::ClusterConnection {
        let urls: Vec<String> = self
            .nodes
            .iter()
            .filter(|n| !dead.contains(&n.port))
            .map(Server::url)
            .collect();
        redis::cluster::ClusterClient::new(urls)
            .and_then(|c| c.get_connection())
            .expect("connect to the test cluster")
    }
}

/// A command for a binary pointed at `url` (a sentinel or several seeds), the environment
/// cleared of our variables.
pub fn command_at(name: &str, url: &str) -> Command {
    let mut cmd = Command::new(bin(name));
    cmd.env_remove("REDIS_URL")
        .env_remove("MONSOON_PREFIX")
        .arg("--redis-url")
        .arg(url);
    cmd
}

/// The sentinel's log, for failure messages.
pub fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("sentinel.log")).unwrap_or_default()
}

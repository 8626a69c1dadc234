//! `inspect server`: where monsoon is connected, each master's replicas and how far they lag,
//! for people and for scripts, on one server, through a replica, and over a cluster.

use support::{Cluster, Server, assert_ok, json_lines, run, stdout, wait_until, xadd};

/// A replica of `master`, its link up.
fn replica_of(master: &Server) -> Server {
    let port = master.port.to_string();
    let replica = Server::start_with(&["--replicaof", "127.0.0.1", &port]);
    wait_until("the replica's link is up", || {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut replica.con())
            .unwrap_or_default();
        info.contains("master_link_status:up")
    });
    replica
}

/// The master shows its replica online and caught up (0 bytes behind once it acknowledged a
/// write), in words and as JSON; asked through the replica, the replica names its master.
#[test]
fn shows_the_master_and_its_replicas() {
    let master = Server::start();
    let replica = replica_of(&master);
    xadd(&mut master.con(), "chennai", &[("temperature", b"21")]);
    let replica_address = format!("127.0.0.1:{}", replica.port);
    let mut json = serde_json::Value::Null;
    wait_until("the replica has acknowledged the write", || {
        let out = run("inspect", &master, &["server", "--json"]);
        json = json_lines(&stdout(&out)).remove(0);
        let node = &json["nodes"][0];
        node["replicas"][0]["behind"] == 0 && node["offset"].as_i64() > Some(0)
    });
    let node = &json["nodes"][0];
    assert_eq!(node["role"], "master");
    assert_eq!(node["address"], format!("127.0.0.1:{}", master.port));
    assert!(node["server"].as_str().unwrap().contains(' '), "{node}");
    assert_eq!(node["replicas"][0]["address"], replica_address);
    assert_eq!(node["replicas"][0]["state"], "online");

    let out = run("inspect", &master, &["server"]);
    assert_ok(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].contains("  master  "), "{text}");
    assert!(
        lines[1].starts_with(&format!("  replica {replica_address}  online")),
        "{text}"
    );

    let out = run("inspect", &replica, &["server", "--json"]);
    assert_ok(&out);
    let node = &json_lines(&stdout(&out))[0]["nodes"][0];
    assert_eq!(node["role"], "replica");
    assert_eq!(node["master"], format!("127.0.0.1:{}", master.port));
    assert_eq!(node["link_up"], true);
}

/// With --interval it shows a frame every interval, each with its time, until --frames.
#[test]
fn frames_every_interval() {
    let master = Server::start();
    let out = run(
        "inspect",
        &master,
        &["server", "--interval", "100ms", "--frames", "3", "--json"],
    );
    assert_ok(&out);
    let frames = json_lines(&stdout(&out));
    assert_eq!(frames.len(), 3);
    assert!(frames.iter().all(|f| f["time"].is_string()));
    assert_eq!(frames[0]["nodes"][0]["replicas"], serde_json::json!([]));
    let text = stdout(&run("inspect", &master, &["server"]));
    assert!(text.contains("  no replicas"), "{text}");
}

/// Over a cluster, every master of the slot map is shown once.
#[test]
fn shows_every_master_of_a_cluster() {
    let cluster = Cluster::start(&[]);
    let mut cmd = support::command("inspect", &cluster.nodes[0]);
    cmd.args(["--cluster", "server", "--json"]);
    let out = cmd.output().expect("run inspect");
    assert_ok(&out);
    let frame = &json_lines(&stdout(&out))[0];
    let mut shown: Vec<String> = frame["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["address"].as_str().unwrap().to_string())
        .collect();
    shown.sort();
    let mut masters: Vec<String> = cluster
        .nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    masters.sort();
    assert_eq!(shown, masters);
}

/// Through the sentinels it shows the master they name (its own address, not the sentinels'),
/// and with --interval it follows a failover: a later frame shows the promoted replica as the
/// master.
#[test]
fn heavy_failover_inspect_server_follows_the_master() {
    let mut set = support::failover::SentinelSet::start(1);
    let old = set.master_port();
    let mut watch = support::failover::command_at("inspect", &set.url());
    watch.args(["--timeout", "2s", "server", "--interval", "200ms", "--json"]);
    let watching = support::spawn_command(watch);
    let master_of =
        |frame: &serde_json::Value| frame["nodes"][0]["address"].as_str().map(String::from);
    wait_until("a frame of the first master", || {
        json_lines(&watching.lines().join("\n"))
            .last()
            .and_then(master_of)
            == Some(format!("127.0.0.1:{old}"))
    });
    set.kill_master();
    set.wait_failover(old);
    let new = set.master_port();
    wait_until("a frame of the promoted master", || {
        json_lines(&watching.lines().join("\n"))
            .last()
            .and_then(master_of)
            == Some(format!("127.0.0.1:{new}"))
    });
    let mut watching = watching;
    support::signal(&watching.child, "INT");
    assert_eq!(watching.wait(), Some(0), "{}", watching.errors());
}

//! `inspect --cluster`: every stream read on the node that owns its slot, against a local
//! 3-master Redis Cluster.

use std::process::{Command, Output, Stdio};

use serde_json::Value as Json;
use support::{
    CITIES, Cluster, DATE, assert_ok, city_args, json_lines, stderr, stdout, wait_until,
};

/// A binary pointed at the cluster's seed with `--cluster`.
fn command(cluster: &Cluster, name: &str) -> Command {
    let mut cmd = support::command(name, &cluster.nodes[0]);
    cmd.arg("--cluster").stdin(Stdio::null());
    cmd
}

/// Runs a binary against the cluster to the end.
fn run(cluster: &Cluster, name: &str, args: &[&str]) -> Output {
    command(cluster, name).args(args).output().unwrap()
}

/// Runs `inspect --cluster`, expects success, returns stdout.
fn inspect_ok(cluster: &Cluster, args: &[&str]) -> String {
    let output = run(cluster, "inspect", args);
    assert_ok(&output);
    stdout(&output)
}

/// Produces 50 seconds of 2018-08-15 for all six cities, each on its own node.
fn produce_six(cluster: &Cluster) {
    let mut args = vec!["--date", DATE, "--count", "50"];
    args.extend(city_args());
    assert_ok(&run(cluster, "producer", &args));
}

/// A city whose slot is owned by a node other than the seed.
fn off_seed(cluster: &Cluster) -> &'static str {
    CITIES
        .into_iter()
        .find(|c| cluster.owner(c).port != cluster.nodes[0].port)
        .expect("a city off the seed node")
}

/// Two cities owned by different nodes.
fn on_two_nodes(cluster: &Cluster) -> (&'static str, &'static str) {
    let first = CITIES[0];
    let port = cluster.owner(first).port;
    let second = CITIES
        .into_iter()
        .find(|c| cluster.owner(c).port != port)
        .expect("a city on another node");
    (first, second)
}

/// Two cities owned by the same node (six cities over three masters: some node has two).
fn on_one_node(cluster: &Cluster) -> (&'static str, &'static str) {
    for (i, a) in CITIES.iter().enumerate() {
        if let Some(b) = CITIES[i + 1..]
            .iter()
            .find(|b| cluster.owner(b).port == cluster.owner(a).port)
        {
            return (a, b);
        }
    }
    panic!("no node owns two of the six cities");
}

/// `blocked_clients` from a node's INFO clients.
fn blocked_clients(node: &support::Server) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("clients")
        .query(&mut node.con())
        .unwrap_or_default();
    info.lines()
        .find_map(|l| l.trim().strip_prefix("blocked_clients:"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// `range --cluster` reads a city owned by a node other than the seed, both ways.
#[test]
fn heavy_range_reads_a_city_on_another_node() {
    let cluster = Cluster::start(&[]);
    produce_six(&cluster);
    let city = off_seed(&cluster);
    let text = inspect_ok(&cluster, &["range", city, "--count", "3"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], "ID               TIME (UTC)            FIELDS");
    assert!(
        lines[1].starts_with("1534291200000-0  2018-08-15T00:00:00Z  sensor=1 temperature="),
        "{text}"
    );
    let entries = json_lines(&inspect_ok(&cluster, &["range", city, "--rev", "--json"]));
    assert_eq!(entries.len(), 50);
    assert_eq!(entries[0]["stream"], city);
    assert_eq!(entries[0]["id"], "1534291249000-0");
    assert_eq!(entries[49]["time"], "2018-08-15T00:00:00Z");
}

/// `chart` and `watch` with `--cluster` read a city owned by a node other than the seed.
#[test]
fn heavy_chart_and_watch_on_another_node() {
    let cluster = Cluster::start(&[]);
    produce_six(&cluster);
    let city = off_seed(&cluster);
    let chart = &json_lines(&inspect_ok(&cluster, &["chart", city, "--json"]))[0];
    assert_eq!(chart["readings"], 50);
    let frame = &json_lines(&inspect_ok(
        &cluster,
        &["watch", city, "--frames", "1", "--json"],
    ))[0];
    assert_eq!(frame["length"], 50);
}

/// After a `--cluster` consumer ran, `groups` and `pending` show its group on the city's node,
/// with the entries another consumer holds.
#[test]
fn heavy_groups_and_pending_after_a_consumer() {
    let cluster = Cluster::start(&[]);
    produce_six(&cluster);
    let city = off_seed(&cluster);
    let alice = run(
        &cluster,
        "consumer",
        &["alice", "--city", city, "--idle-exit", "300ms"],
    );
    assert_ok(&alice);
    assert_eq!(stdout(&alice).lines().count(), 50, "{}", stderr(&alice));
    let mut con = cluster.con();
    for _ in 0..3 {
        let _: String = redis::cmd("XADD")
            .arg(city)
            .arg("*")
            .arg("temperature")
            .arg("30.0")
            .query(&mut con)
            .unwrap();
    }
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("mygroup")
        .arg("bob")
        .arg("COUNT")
        .arg(3)
        .arg("STREAMS")
        .arg(city)
        .arg(">")
        .query(&mut con)
        .unwrap();

    let groups = json_lines(&inspect_ok(&cluster, &["groups", city, "--json"]));
    assert_eq!(groups.len(), 1, "{groups:?}");
    assert_eq!(groups[0]["name"], "mygroup");
    assert_eq!(groups[0]["consumers"], 2);
    assert_eq!(groups[0]["pending"], 3);
    assert_eq!(groups[0]["lag"], 0);
    let names: Vec<&Json> = groups[0]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["name"])
        .collect();
    assert_eq!(names, ["alice", "bob"]);

    let report = &json_lines(&inspect_ok(&cluster, &["pending", city, "--json"]))[0];
    assert_eq!(report["stream"], city);
    assert_eq!(report["pending"], 3);
    assert_eq!(
        report["members"],
        serde_json::json!([{"name": "bob", "pending": 3}])
    );
    assert_eq!(report["entries"].as_array().unwrap().len(), 3);
    let text = inspect_ok(&cluster, &["pending", city]);
    assert!(
        text.starts_with(&format!("{city}, group mygroup: 3 pending")),
        "{text}"
    );
}

/// `tail --cluster` over two cities on different nodes blocks on both nodes and prints the
/// entries a live producer writes to each, stopping at --count.
#[test]
fn heavy_tail_follows_two_nodes_while_a_producer_writes() {
    let cluster = Cluster::start(&[]);
    produce_six(&cluster);
    let (a, b) = on_two_nodes(&cluster);
    let mut cmd = command(&cluster, "inspect");
    cmd.args(["tail", a, b, "--count", "10", "--json"]);
    let mut tail = support::spawn_command(cmd);
    wait_until("the tail blocks on both nodes", || {
        blocked_clients(cluster.owner(a)) > 0 && blocked_clients(cluster.owner(b)) > 0
    });
    let live = run(
        &cluster,
        "producer",
        &[
            "--live",
            "--count",
            "5",
            "--interval",
            "100ms",
            "--city",
            a,
            "--city",
            b,
        ],
    );
    assert_ok(&live);
    assert_eq!(tail.wait(), Some(0), "{}", tail.errors());
    let entries = json_lines(&tail.lines().join("\n"));
    assert_eq!(entries.len(), 10, "{entries:?}");
    for city in [a, b] {
        let ids: Vec<&str> = entries
            .iter()
            .filter(|e| e["stream"] == city)
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids.len(), 5, "{city}: {entries:?}");
        // Only new entries: the produced day (2018) is long before a live reading.
        assert!(ids.iter().all(|id| *id > "1534291249000-0"), "{ids:?}");
    }
}

/// `tail --cluster` over two cities of one node (different slots, so one XREAD would be
/// CROSSSLOT) reads both, in columns with one header.
#[test]
fn heavy_tail_reads_two_slots_of_one_node() {
    let cluster = Cluster::start(&[]);
    produce_six(&cluster);
    let (a, b) = on_one_node(&cluster);
    let text = inspect_ok(&cluster, &["tail", a, b, "--from", "0", "--count", "100"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 101, "{text}");
    assert!(lines[0].starts_with("STREAM "), "{text}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("STREAM ")).count(), 1);
    for city in [a, b] {
        let rows = lines
            .iter()
            .filter(|l| l.starts_with(&format!("{city} ")))
            .count();
        assert_eq!(rows, 50, "{city}: {text}");
    }
}

/// `memory --cluster` measures each city on its own node and adds up used_memory over the
/// nodes involved, saying how many.
#[test]
fn heavy_memory_adds_up_the_nodes() {
    let cluster = Cluster::start(&[]);
    produce_six(&cluster);
    let report = &json_lines(&inspect_ok(
        &cluster,
        &[&["memory", "--json"][..], &CITIES].concat(),
    ))[0];
    let streams = report["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 6);
    for (stream, city) in streams.iter().zip(CITIES) {
        assert_eq!(stream["stream"], city);
        assert_eq!(stream["entries"], 50);
        assert!(stream["bytes"].as_u64().unwrap() > 50, "{stream}");
    }
    assert_eq!(report["nodes"], 3);
    let one_node = cluster
        .nodes
        .iter()
        .map(|n| {
            let info: String = redis::cmd("INFO")
                .arg("memory")
                .query(&mut n.con())
                .unwrap();
            info.lines()
                .find_map(|l| l.trim().strip_prefix("used_memory:"))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap()
        })
        .max()
        .unwrap();
    assert!(
        report["used_memory"].as_u64().unwrap() > one_node,
        "{report}"
    );
    assert_eq!(report["original"]["bytes"], 2_300_000);

    let (a, b) = on_two_nodes(&cluster);
    let text = inspect_ok(&cluster, &["memory", a, b]);
    assert!(text.contains("\nused_memory (2 nodes): "), "{text}");
}

/// Without --cluster, `range` of a city owned by another node fails with a message naming the
/// key and suggesting --cluster.
#[test]
fn heavy_range_without_cluster_suggests_it() {
    let cluster = Cluster::start(&[]);
    let city = off_seed(&cluster);
    let output = support::run("inspect", &cluster.nodes[0], &["range", city]);
    assert_ne!(output.status.code(), Some(0));
    let message = stderr(&output);
    assert!(message.contains("pass --cluster"), "{message}");
    assert!(message.contains(city), "{message}");
    assert!(stdout(&output).is_empty());
}

//! Redis Cluster with replicas: a master SIGKILLed and its replica promoted (a node timeout of
//! one second) is ridden out within `--retry-for` by a producer and a consumer at work, also
//! when the dead master is the only seed `--redis-url` names: the slot map is asked again of the
//! nodes it named before.

use std::collections::BTreeSet;
use std::time::Instant;

use support::failover::{ReplicatedCluster, command_at};
use support::{DATE, spawn_command, wait_until, whole_day};

/// Two cities on the first master (the seed), two on the others.
const CITIES: [&str; 4] = ["kochi", "hyderabad", "pune", "chennai"];

/// `XLEN key` through the cluster (0 while it does not exist).
fn len(con: &mut redis::cluster::ClusterConnection, key: &str) -> u64 {
    redis::cmd("XLEN").arg(key).query(con).unwrap_or(0)
}

/// The master that is the only seed of `--redis-url` is SIGKILLed while a producer writes four
/// cities (two on that master) and a consumer drains them: its replica takes over, both ride
/// it out, every day ends whole and exactly once, every entry is processed, nothing is pending.
#[test]
fn heavy_failover_cluster_seed_master_killed() {
    let mut cluster = ReplicatedCluster::start();
    let seed = cluster.nodes[0].port;
    let replica = cluster.replica_of(seed);
    let url = format!("redis://127.0.0.1:{seed}");
    let cities: Vec<&str> = CITIES.iter().flat_map(|c| ["--city", c]).collect();
    let mut producer = spawn_command({
        let mut cmd = command_at("producer", &url);
        cmd.args([
            "--cluster",
            "--date",
            DATE,
            "--batch",
            "10",
            "--retry-for",
            "60s",
        ])
        .args(&cities);
        cmd
    });
    let mut con = cluster.con(&[]);
    wait_until("every city has begun", || {
        CITIES.iter().all(|city| len(&mut con, city) > 0)
    });
    let mut consumer = spawn_command({
        let mut cmd = command_at("consumer", &url);
        cmd.args(["alice", "--cluster", "--batch", "50", "--retry-for", "60s"])
            .args(["--idle-exit", "5s"])
            .args(&cities);
        cmd
    });
    let mut on_seed = cluster.nodes[0].con();
    wait_until("the seed's cities are well into the day", || {
        support::xlen(&mut on_seed, "kochi") >= 20_000 && consumer.lines().len() >= 10_000
    });
    let killed = Instant::now();
    cluster.nodes[0].kill();
    cluster.wait_master(replica);
    let promoted = killed.elapsed();
    assert_eq!(producer.wait(), Some(0), "{}", producer.errors());
    let produced = killed.elapsed();
    assert_eq!(consumer.wait(), Some(0), "{}", consumer.errors());
    cluster.wait_ok(&[seed]);
    let mut con = cluster.con(&[seed]);
    let mut expected = BTreeSet::new();
    for city in CITIES {
        let rows: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(city)
            .arg("-")
            .arg("+")
            .query(&mut con)
            .expect("XRANGE");
        let ids: Vec<String> = rows.into_iter().map(|(id, _)| id).collect();
        assert!(
            ids == whole_day(),
            "{city}: the day is not whole and in order"
        );
        let pending: Vec<redis::Value> = redis::cmd("XPENDING")
            .arg(city)
            .arg("mygroup")
            .query(&mut con)
            .expect("XPENDING");
        let count: u64 = redis::from_redis_value(pending[0].clone()).expect("a count");
        assert_eq!(count, 0, "{city}: entries left pending");
        expected.extend(ids.into_iter().map(|id| (city.to_string(), id)));
    }
    let lines = consumer.lines();
    assert!(
        support::stream_ids(&lines) == expected,
        "not every entry was processed"
    );
    eprintln!(
        "figures: replica promoted {promoted:?} after the kill, producer done {produced:?} after \
         it; {} duplicates of {} lines; producer said {:?} / {:?}; consumer said {:?}",
        lines.len() - expected.len(),
        lines.len(),
        producer.lines(),
        producer.errors(),
        consumer.errors()
    );
}

/// Several seeds: the first one dead (nothing listens on it), the binaries reach the cluster
/// through the next one; without --cluster, several hosts are a usage error.
#[test]
fn heavy_several_seeds_pass_over_a_dead_one() {
    let cluster = support::Cluster::start(&[]);
    let dead = support::free_port();
    let url = format!(
        "redis://127.0.0.1:{dead},127.0.0.1:{}",
        cluster.nodes[1].port
    );
    let out = command_at("producer", &url)
        .args(["--cluster", "--date", DATE, "--count", "100"])
        .args(["--city", "kochi", "--city", "pune", "--city", "chennai"])
        .output()
        .expect("run the producer");
    assert!(out.status.success(), "{}", support::stderr(&out));
    let out = command_at("inspect", &url)
        .args(["--cluster", "range", "kochi", "--json"])
        .output()
        .expect("run inspect");
    assert!(out.status.success(), "{}", support::stderr(&out));
    assert_eq!(support::json_lines(&support::stdout(&out)).len(), 100);
    let out = command_at("inspect", &url)
        .args(["range", "kochi"])
        .output()
        .expect("run inspect");
    assert_eq!(out.status.code(), Some(2), "{}", support::stderr(&out));
}

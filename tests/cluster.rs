//! Redis Cluster: six cities spread over three masters, produced and consumed with `--cluster`.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use support::{CITIES, Cluster, DATE, city_args, stderr, stdout};

/// Runs a binary against the cluster's seed with `--cluster`.
fn run_cluster(cluster: &Cluster, name: &str, args: &[&str]) -> Output {
    Command::new(support::bin(name))
        .args(["--redis-url", &cluster.url(), "--cluster"])
        .args(args)
        .output()
        .unwrap()
}

/// Six cities land on all three masters; two consumers process every entry exactly once,
/// a poison entry goes to its city's dead-letter stream on whichever node owns it, nothing pending.
#[test]
fn heavy_six_cities_over_three_masters() {
    let cluster = Cluster::start(&[]);
    let owners: BTreeSet<u16> = CITIES.iter().map(|c| cluster.owner(c).port).collect();
    assert_eq!(owners.len(), 3, "the cities do not cover all three masters");
    let produce = run_cluster(
        &cluster,
        "producer",
        &[&["--date", DATE, "--count", "500"][..], &city_args()].concat(),
    );
    assert!(produce.status.success(), "{}", stderr(&produce));
    assert_eq!(
        stdout(&produce)
            .lines()
            .filter(|l| l.starts_with("Inserted 500 records into "))
            .count(),
        6
    );
    for city in CITIES {
        let len: u64 = redis::cmd("XLEN")
            .arg(city)
            .query(&mut cluster.owner(city).con())
            .unwrap();
        assert_eq!(len, 500, "{city} is not complete on its own node");
    }
    let mut con = cluster.con();
    let _: String = redis::cmd("XADD")
        .arg("kochi")
        .arg("*")
        .arg("temperature")
        .arg("bad")
        .query(&mut con)
        .unwrap();

    let consume = |name: &str| {
        Command::new(support::bin("consumer"))
            .args([
                name,
                "--redis-url",
                &cluster.url(),
                "--cluster",
                "--idle-exit",
                "1s",
                "--batch",
                "50",
                "--require",
                "temperature:number",
            ])
            .args(city_args())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (alice, bob) = (consume("alice"), consume("bob"));
    let (alice, bob) = (
        alice.wait_with_output().unwrap(),
        bob.wait_with_output().unwrap(),
    );
    assert!(
        alice.status.success() && bob.status.success(),
        "{}\n{}",
        stderr(&alice),
        stderr(&bob)
    );
    let mut seen: Vec<String> = Vec::new();
    for out in [&alice, &bob] {
        seen.extend(
            stdout(out)
                .lines()
                .map(|l| l.split(' ').take(3).skip(1).collect::<Vec<_>>().join(" ")),
        );
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), unique.len(), "an entry was processed twice");
    assert_eq!(seen.len(), 3000);
    for city in CITIES {
        assert_eq!(
            seen.iter()
                .filter(|s| s.starts_with(&format!("{city} ")))
                .count(),
            500,
            "{city}"
        );
        let pending: redis::Value = redis::cmd("XPENDING")
            .arg(city)
            .arg("mygroup")
            .query(&mut con)
            .unwrap();
        let redis::Value::Array(summary) = pending else {
            panic!("XPENDING shape")
        };
        assert_eq!(
            summary[0],
            redis::Value::Int(0),
            "{city} has pending entries"
        );
    }
    let dead: u64 = redis::cmd("XLEN")
        .arg("kochi:dead")
        .query(&mut con)
        .unwrap();
    assert_eq!(dead, 1);
}

/// Without --cluster, a key owned by another node is a clear error that suggests --cluster.
#[test]
fn heavy_moved_without_cluster_flag_says_so() {
    let cluster = Cluster::start(&[]);
    let elsewhere = CITIES
        .iter()
        .find(|c| cluster.owner(c).port != cluster.nodes[0].port)
        .unwrap();
    let out = Command::new(support::bin("producer"))
        .args([
            "--redis-url",
            &cluster.url(),
            "--city",
            elsewhere,
            "--date",
            DATE,
        ])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("pass --cluster"), "{}", stderr(&out));
}

/// A master restarted under a running --cluster consumer and producer: both carry on, every
/// entry processed once, nothing pending.
#[test]
fn heavy_node_restart_is_ridden_out() {
    let mut cluster = Cluster::start(&["--appendonly", "yes", "--appendfsync", "always"]);
    let produce = |cluster: &Cluster, count: &str| {
        run_cluster(
            cluster,
            "producer",
            &["--date", DATE, "--count", count, "--city", "chennai"],
        )
    };
    assert!(produce(&cluster, "100").status.success());
    let mut consumer = Command::new(support::bin("consumer"));
    consumer.args([
        "alice",
        "--redis-url",
        &cluster.url(),
        "--cluster",
        "--block",
        "200ms",
        "--city",
        "chennai",
    ]);
    let mut alice = support::spawn_command(consumer);
    support::wait_until("first 100 processed", || alice.lines().len() == 100);
    let owner = cluster
        .nodes
        .iter()
        .position(|n| n.port == cluster.owner("chennai").port)
        .unwrap();
    cluster.nodes[owner].kill();
    cluster.nodes[owner].restart();
    cluster.wait_ok();
    let more = produce(&cluster, "200");
    assert!(more.status.success(), "{}", stderr(&more));
    support::wait_until("the next 100 processed", || alice.lines().len() >= 200);
    support::signal(&alice.child, "TERM");
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
    assert!(alice.errors().contains("reconnected"), "{}", alice.errors());
    let lines = alice.lines();
    let seen: BTreeSet<String> = lines
        .iter()
        .map(|l| l.split(' ').nth(2).unwrap().to_string())
        .collect();
    assert_eq!(seen.len(), 200);
    assert_eq!(lines.len(), 200, "an entry was processed twice");
    let pending: redis::Value = redis::cmd("XPENDING")
        .arg("chennai")
        .arg("mygroup")
        .query(&mut cluster.owner("chennai").con())
        .unwrap();
    let redis::Value::Array(summary) = pending else {
        panic!("XPENDING shape")
    };
    assert_eq!(summary[0], redis::Value::Int(0));
}

/// On a cluster, the least-privilege user needs only README's `--cluster` row more
/// (`+cluster|slots`), and without it is refused.
#[test]
fn heavy_least_privilege_user_on_a_cluster() {
    let cluster = Cluster::start(&[]);
    let url = cluster
        .url()
        .replace("redis://", "redis://sensor:pw-sensor-7@");
    let run = |name: &str, args: &[&str]| {
        Command::new(support::bin(name))
            .args(["--redis-url", &url, "--cluster"])
            .args(args)
            .output()
            .unwrap()
    };
    let cities = ["--city", "chennai", "--city", "pune"];
    for node in &cluster.nodes {
        support::create_stream_user(&mut node.con(), &["chennai", "pune"], &[] as &[&str]);
    }
    let refused = run(
        "producer",
        &[&["--date", DATE, "--count", "5"][..], &cities].concat(),
    );
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("NOPERM"), "{}", stderr(&refused));
    for node in &cluster.nodes {
        let rules = support::readme_rules("--cluster");
        support::create_stream_user(&mut node.con(), &["chennai", "pune"], &rules);
    }
    let out = run(
        "producer",
        &[&["--date", DATE, "--count", "50"][..], &cities].concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(
        "consumer",
        &[&["alice", "--idle-exit", "300ms"][..], &cities].concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 100);
}

/// 60 cities over three masters, live from one producer and read by one consumer: each process
/// has a thread per master at most (never one per stream), every entry is written once and
/// read once, and nothing is left pending.
#[test]
fn heavy_many_cities_on_a_cluster_take_a_thread_per_node() {
    use std::io::Write;
    let cluster = Cluster::start(&[]);
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for i in 1..=60 {
        writeln!(file, "town{i}").unwrap();
    }
    let path = file.path().to_str().unwrap().to_string();
    let (producer_peak, consumer_peak) =
        (support::ThreadPeak::create(), support::ThreadPeak::create());
    let spawn = |name: &str, args: &[&str], peak: &support::ThreadPeak| {
        let mut cmd = Command::new(support::bin(name));
        cmd.env_remove("REDIS_URL")
            .env_remove("MONSOON_PREFIX")
            .arg("--redis-url")
            .arg(cluster.url())
            .arg("--cluster")
            .args(args);
        support::spawn_command(peak.command(&cmd))
    };
    let mut producer = spawn(
        "producer",
        &[
            "--cities-from",
            &path,
            "--sensors",
            "2",
            "--live",
            "--interval",
            "200ms",
            "--count",
            "10",
        ],
        &producer_peak,
    );
    let mut consumer = spawn(
        "consumer",
        &["alice", "--cities-from", &path, "--idle-exit", "2s"],
        &consumer_peak,
    );
    assert_eq!(producer.wait(), Some(0), "{}", producer.errors());
    assert_eq!(consumer.wait(), Some(0), "{}", consumer.errors());
    // The kernel's peak counts every thread that ever ran at once: per master a worker and,
    // while it connects, the connect attempt's own thread; then a few of the process's own (the
    // main thread, the signal handler's). Never one per stream (60).
    let (most_producer, most_consumer) = (producer_peak.peak(), consumer_peak.peak());
    let masters = 3;
    for (who, most) in [("producer", most_producer), ("consumer", most_consumer)] {
        assert!(
            most <= 2 * masters + 4,
            "{who}: {most} threads for 60 cities on {masters} masters"
        );
    }
    let lines = consumer.lines();
    let read = support::stream_ids(&lines);
    assert_eq!(
        (lines.len(), read.len()),
        (60 * 20, 60 * 20),
        "each entry read once"
    );
    let mut con = cluster.con();
    for i in [1, 30, 60] {
        let key = format!("town{i}");
        let len: u64 = redis::cmd("XLEN").arg(&key).query(&mut con).unwrap();
        assert_eq!(len, 20, "{key}");
        let summary: redis::Value = redis::cmd("XPENDING")
            .arg(&key)
            .arg("mygroup")
            .query(&mut con)
            .unwrap();
        let redis::Value::Array(items) = summary else {
            panic!("XPENDING: {summary:?}");
        };
        assert_eq!(items.first(), Some(&redis::Value::Int(0)), "{key}");
    }
}

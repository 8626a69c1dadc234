//! `--metrics`: what the consumer and the live producer serve for Prometheus, scraped over
//! HTTP and read with a Prometheus text-format parser, against what the server says.

use std::net::TcpListener;

use support::{
    DATE, Running, Server, assert_ok, get, pending, run, scrape, signal, spawn, stderr, value,
    wait_until,
};

/// The address a binary announced on stderr (`metrics on http://ADDR/metrics`).
fn metrics_addr(running: &Running) -> String {
    let mut addr = None;
    wait_until("the metrics address is announced", || {
        addr = running.errors().lines().find_map(|line| {
            line.strip_prefix("monsoon: metrics on http://")
                .and_then(|rest| rest.strip_suffix("/metrics"))
                .map(str::to_string)
        });
        addr.is_some()
    });
    addr.unwrap()
}

/// A message counter of alice on chennai.
fn messages(scrape: &prometheus_parse::Scrape, outcome: &str) -> Option<f64> {
    value(
        scrape,
        "monsoon_consumer_messages_total",
        &[
            ("stream", "chennai"),
            ("group", "mygroup"),
            ("consumer", "alice"),
            ("outcome", outcome),
        ],
    )
}

/// XINFO GROUPS's lag of mygroup on chennai (`None`: the server cannot tell) and its
/// last-delivered-id.
fn group_lag(con: &mut redis::Connection) -> (Option<u64>, String) {
    let groups: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("chennai")
        .query(con)
        .unwrap();
    let group = &groups[0];
    (
        redis::from_redis_value(group["lag"].clone()).unwrap(),
        redis::from_redis_value(group["last-delivered-id"].clone()).unwrap(),
    )
}

/// Entries pending on `consumer` (XPENDING's per-consumer summary).
fn pending_of(con: &mut redis::Connection, consumer: &str) -> u64 {
    let Ok(summary) = redis::cmd("XPENDING")
        .arg("chennai")
        .arg("mygroup")
        .query::<redis::streams::StreamPendingReply>(con)
    else {
        return 0; // no group yet
    };
    match summary {
        redis::streams::StreamPendingReply::Data(data) => data
            .consumers
            .iter()
            .find(|c| c.name == consumer)
            .map_or(0, |c| c.pending as u64),
        _ => 0,
    }
}

/// A day with a poison entry, consumed by alice after bob was SIGKILLed with a message in hand:
/// the counters equal what alice printed, dead-lettered and claimed; pending and lag equal
/// XPENDING and XINFO; after its connection is killed it counts one reconnect and is up again.
#[test]
fn heavy_consumer_metrics_match_the_server() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE]));
    let mut con = server.con();
    let _: String = redis::cmd("XADD")
        .arg("chennai")
        .arg("*")
        .arg("temperature")
        .arg("not a number")
        .query(&mut con)
        .unwrap();
    let mut bob = spawn(
        "consumer",
        &server,
        &["bob", "--delay", "30s", "--claim-idle", "60s"],
    );
    wait_until("bob holds a message", || pending_of(&mut con, "bob") == 1);
    signal(&bob.child, "KILL");
    bob.wait();

    let mut alice = spawn(
        "consumer",
        &server,
        &[
            "alice",
            "--claim-idle",
            "1s",
            "--metrics",
            "127.0.0.1:0",
            "--require",
            "temperature:number",
        ],
    );
    let addr = metrics_addr(&alice);
    wait_until("alice has consumed everything", || {
        pending(&mut con, "chennai", "mygroup") == 0
            && group_lag(&mut con).0 == Some(0)
            && alice.lines().len() == 86_400
    });
    let scraped = scrape(&addr);
    assert_eq!(messages(&scraped, "acked"), Some(86_400.0));
    assert_eq!(messages(&scraped, "dead_lettered"), Some(1.0));
    assert_eq!(
        support::xlen(&mut con, "chennai:dead"),
        1,
        "the poison entry went there"
    );
    assert_eq!(messages(&scraped, "claimed"), Some(1.0), "bob's message");
    assert_eq!(messages(&scraped, "failed"), Some(0.0));
    let labels = [("stream", "chennai"), ("group", "mygroup")];
    assert_eq!(value(&scraped, "monsoon_group_lag", &labels), Some(0.0));
    assert_eq!(
        value(&scraped, "monsoon_consumer_pending", &labels),
        Some(pending_of(&mut con, "alice") as f64)
    );
    assert_eq!(value(&scraped, "monsoon_consumer_up", &[]), Some(1.0));
    assert_eq!(
        value(&scraped, "monsoon_consumer_reconnects_total", &[]),
        Some(0.0)
    );
    let processed = scraped
        .samples
        .iter()
        .find(|s| s.metric == "monsoon_consumer_processing_seconds")
        .expect("the processing histogram");
    match &processed.value {
        prometheus_parse::Value::Histogram(buckets) => {
            let all = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
            assert_eq!(all, 86_401.0, "every message acked or dead-lettered, timed");
        }
        other => panic!("not a histogram: {other:?}"),
    }
    assert_eq!(get(&addr, "/healthz").0, 200);
    assert_eq!(get(&addr, "/nothing").0, 404);

    // Its connection killed under it, alice reconnects and counts it.
    let _: redis::Value = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .query(&mut con)
        .unwrap();
    wait_until("alice counts a reconnect", || {
        value(&scrape(&addr), "monsoon_consumer_reconnects_total", &[]) == Some(1.0)
    });
    assert_eq!(get(&addr, "/healthz").0, 200);
    signal(&alice.child, "TERM");
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
}

/// What one scrape of alice's `/metrics` asked the server, on a stream of `entries` entries
/// with one deleted ahead of the group (the server's lag turns null) and a message in alice's
/// hand: the scrape, the calls per command it made (INFO commandstats) and the bytes the server
/// sent (INFO stats), with alice herself asleep in her `--delay` meanwhile.
fn one_scrape(
    entries: u64,
) -> (
    prometheus_parse::Scrape,
    std::collections::BTreeMap<String, u64>,
    u64,
) {
    let server = Server::start();
    let count = entries.to_string();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", &count],
    ));
    let mut con = server.con();
    let mut alice = spawn(
        "consumer",
        &server,
        &[
            "alice",
            "--delay",
            "60s",
            "--claim-idle",
            "180s",
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    let addr = metrics_addr(&alice);
    wait_until("alice holds a message", || {
        pending_of(&mut con, "alice") == 1
    });
    let _: u64 = redis::cmd("XDEL")
        .arg("chennai")
        .arg("1534291290000-0")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        group_lag(&mut con).0,
        None,
        "the server cannot tell the lag after a deletion"
    );
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut con)
        .unwrap();
    let scraped = scrape(&addr);
    let stats: String = redis::cmd("INFO").arg("stats").query(&mut con).unwrap();
    let commands: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut con)
        .unwrap();
    let sent = stats
        .lines()
        .find_map(|l| l.strip_prefix("total_net_output_bytes:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    let calls = commands
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_string(), calls))
        })
        .filter(|(name, _)| !matches!(name.as_str(), "info" | "config|resetstat"))
        .collect();
    signal(&alice.child, "KILL");
    alice.wait();
    (scraped, calls, sent)
}

/// A scrape costs the server the same few replies on a stream of 200 entries and on one of
/// 50,000, also when the server cannot tell the group's lag (after a deletion): it reads no
/// entries, and leaves the lag out rather than count it; pending is still XPENDING's.
#[test]
fn a_scrape_reads_a_bounded_number_of_entries() {
    let labels = [
        ("stream", "chennai"),
        ("group", "mygroup"),
        ("consumer", "alice"),
    ];
    let (short, short_calls, short_sent) = one_scrape(200);
    let (long, long_calls, long_sent) = one_scrape(50_000);
    for scraped in [&short, &long] {
        assert_eq!(value(scraped, "monsoon_group_lag", &labels[..2]), None);
        assert_eq!(
            value(scraped, "monsoon_consumer_pending", &labels),
            Some(1.0)
        );
    }
    assert_eq!(
        short_calls, long_calls,
        "the same commands, as often, whatever the length"
    );
    assert!(
        !long_calls
            .iter()
            .any(|(name, _)| name.starts_with("xrange") || name.starts_with("xrevrange")),
        "{long_calls:?}"
    );
    // The replies of the two scrapes differ only in numbers (a length, an ID's digits).
    assert!(
        long_sent.abs_diff(short_sent) < 200,
        "{short_sent} vs {long_sent} bytes"
    );
}

/// A live producer counts what it wrote: between XLEN before and after the scrape.
#[test]
fn live_producer_counts_entries() {
    let server = Server::start();
    let mut producer = spawn(
        "producer",
        &server,
        &[
            "--live",
            "--interval",
            "50ms",
            "--sensors",
            "2",
            "--metrics",
            "127.0.0.1:0",
        ],
    );
    let addr = metrics_addr(&producer);
    let mut con = server.con();
    wait_until("the producer writes", || {
        support::xlen(&mut con, "chennai") >= 10
    });
    let before = support::xlen(&mut con, "chennai") as f64;
    let scraped = scrape(&addr);
    let after = support::xlen(&mut con, "chennai") as f64;
    let written = value(
        &scraped,
        "monsoon_producer_entries_total",
        &[("stream", "chennai")],
    )
    .expect("the entries counter");
    assert!(
        before <= written && written <= after,
        "{before} <= {written} <= {after}"
    );
    assert_eq!(
        value(&scraped, "monsoon_producer_reconnects_total", &[]),
        Some(0.0)
    );
    assert_eq!(get(&addr, "/healthz").0, 200);
    signal(&producer.child, "INT");
    assert_eq!(producer.wait(), Some(0), "{}", producer.errors());
}

/// A port in use is a usage error (exit 2) naming the address, before anything is consumed;
/// `--metrics` on a producer that is not live is a usage error too.
#[test]
fn metrics_on_a_port_in_use_is_refused_before_consuming() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "10"],
    ));
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(
        "consumer",
        &server,
        &["alice", "--metrics", &addr, "--idle-exit", "1s"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("--metrics") && err.contains(&addr), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(out.stdout.is_empty());
    let groups: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("chennai")
        .query(&mut server.con())
        .unwrap();
    assert!(groups.is_empty(), "no group was created");

    let out = run("producer", &server, &["--metrics", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--live"), "{}", stderr(&out));
    let out = run("consumer", &server, &["alice", "--metrics", "localhost"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--metrics"), "{}", stderr(&out));
}

/// XINFO GROUPS's entries-read and lag of mygroup on chennai.
fn entries_read_and_lag(con: &mut redis::Connection) -> (u64, Option<u64>) {
    let groups: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("chennai")
        .query(con)
        .unwrap();
    let Some(group) = groups.first() else {
        return (0, None);
    };
    (
        redis::from_redis_value(group["entries-read"].clone()).unwrap_or(0),
        redis::from_redis_value(group["lag"].clone()).unwrap(),
    )
}

/// Counters of one scrape of alice on chennai: (acked, claimed, reconnects).
fn counters(addr: &str) -> (f64, f64, f64) {
    let scraped = scrape(addr);
    let reconnects = value(&scraped, "monsoon_consumer_reconnects_total", &[]);
    (
        messages(&scraped, "acked").unwrap_or(0.0),
        messages(&scraped, "claimed").unwrap_or(0.0),
        reconnects.expect("the reconnects counter"),
    )
}

/// Asserts that no counter in `samples` (scrapes in order) ever went down.
fn assert_never_backwards(samples: &[(f64, f64, f64)]) {
    for pair in samples.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert!(
            b.0 >= a.0 && b.1 >= a.1 && b.2 >= a.2,
            "a counter went backwards: {a:?} then {b:?}"
        );
    }
}

/// Across a server restart (SIGKILL, then the same port and append-only file) alice's counters,
/// scraped all along, never go backwards; she is down (`up` 0) while it is gone, counts the break
/// as a reconnect, and once caught up `acked` is what she printed, every entry among it.
#[test]
fn heavy_counters_survive_a_server_restart() {
    let mut server = Server::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "600"],
    ));
    let mut alice = spawn(
        "consumer",
        &server,
        &["alice", "--delay", "5ms", "--metrics", "127.0.0.1:0"],
    );
    let addr = metrics_addr(&alice);
    let mut samples = Vec::new();
    wait_until("alice acked 100", || {
        samples.push(counters(&addr));
        samples.last().unwrap().0 >= 100.0
    });
    server.kill();
    wait_until("alice is down", || {
        samples.push(counters(&addr));
        value(&scrape(&addr), "monsoon_consumer_up", &[]) == Some(0.0)
    });
    samples.push(counters(&addr));
    server.restart();
    let mut con = server.con();
    wait_until("alice caught up after the restart", || {
        samples.push(counters(&addr));
        pending(&mut con, "chennai", "mygroup") == 0
            && group_lag(&mut con).0 == Some(0)
            && support::stream_ids(&alice.lines()).len() == 600
    });
    let (acked, _, reconnects) = counters(&addr);
    samples.push((acked, 0.0, reconnects));
    assert_never_backwards(&samples);
    assert!(reconnects >= 1.0, "the restart was not counted");
    assert_eq!(value(&scrape(&addr), "monsoon_consumer_up", &[]), Some(1.0));
    assert_eq!(
        acked,
        alice.lines().len() as f64,
        "acked is what she printed"
    );
    signal(&alice.child, "TERM");
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
}

/// Bob's `--pipe` handler answers his first 16 messages and then none; bob, stuck on the rest of
/// that batch, is SIGKILLed, and alice claims what he held: her `claimed` counter rises to
/// exactly that, counters never go backwards, and her `acked` total is the other 184 entries
/// (claimed and new), each printed once, nothing pending.
#[test]
fn heavy_counters_across_a_claim() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "200"],
    ));
    let mut con = server.con();
    let answers_sixteen = "awk 'NR <= 16 { print \"ack\", $2, $3; fflush() }'";
    let bob_args = [
        "bob",
        "--pipe",
        answers_sixteen,
        "--handler-timeout",
        "60s",
        "--claim-idle",
        "120s",
    ];
    let mut bob = spawn("consumer", &server, &bob_args);
    // Once his 16 are acked, bob waits on the rest of their batch (up to --handler-timeout)
    // before reading more: what he holds then is what he holds when killed.
    wait_until("bob acked 16 and holds the rest of his batch", || {
        let (read, _) = entries_read_and_lag(&mut con);
        let held = pending_of(&mut con, "bob");
        held > 0 && read - held == 16
    });
    let held = pending_of(&mut con, "bob");
    signal(&bob.child, "KILL");
    bob.wait();
    assert_eq!(pending_of(&mut con, "bob"), held);

    let mut alice = spawn(
        "consumer",
        &server,
        &["alice", "--claim-idle", "1s", "--metrics", "127.0.0.1:0"],
    );
    let addr = metrics_addr(&alice);
    let mut samples = Vec::new();
    wait_until("alice claimed bob's and read the rest", || {
        samples.push(counters(&addr));
        pending(&mut con, "chennai", "mygroup") == 0 && samples.last().unwrap().1 >= held as f64
    });
    let last = counters(&addr);
    samples.push(last);
    assert_never_backwards(&samples);
    assert_eq!(last.1, held as f64, "claimed: what bob held");
    assert_eq!(last.0, 184.0, "acked: all but bob's 16");
    assert_eq!(alice.lines().len(), 184);
    assert_eq!(support::stream_ids(&alice.lines()).len(), 184);
    assert_eq!(entries_read_and_lag(&mut con), (200, Some(0)));
    assert_eq!(messages(&scrape(&addr), "failed"), Some(0.0));
    signal(&alice.child, "TERM");
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
}

//! Consumers in a group against a private redis-server: joining, sharing, stopping, restarting.

use std::collections::BTreeSet;

use support::{DATE, Server, assert_ok, pending, run, stderr, stdout, wait_until};

/// The entry IDs (third column) of human output lines.
fn ids(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.split(' ').nth(2).map(str::to_string))
        .collect()
}

/// All IDs a producer run of `count` one-sensor timestamps on DATE writes.
fn expected_ids(count: u64) -> BTreeSet<String> {
    (0..count)
        .map(|i| format!("{}-0", 1534291200000 + i * 1000))
        .collect()
}

/// The group is created when missing (whole stream from 0) and joined when it exists.
#[test]
fn creates_and_joins_the_group() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "100"],
    ));
    let alice = run("consumer", &server, &["alice", "--idle-exit", "500ms"]);
    assert_ok(&alice);
    let lines: Vec<String> = stdout(&alice).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 100);
    // The first line is the first entry as the server holds it, field by field in its order.
    let first: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("chennai")
        .arg("-")
        .arg("+")
        .arg("COUNT")
        .arg(1)
        .query(&mut server.con())
        .unwrap();
    let (id, fields) = &first[0];
    let fields: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(
        lines[0],
        format!(
            "alice chennai {id} 2018-08-15T00:00:00Z {}",
            fields.join(" ")
        )
    );
    assert_eq!(id, "1534291200000-0");
    assert!(
        lines[0].contains(" sensor=1 temperature=") && lines[0].contains(" humidity="),
        "{}",
        lines[0]
    );
    assert!(
        stderr(&alice).contains("alice: processed 100 messages"),
        "{}",
        stderr(&alice)
    );
    // bob joins the existing group: everything was taken, nothing is delivered twice.
    let bob = run("consumer", &server, &["bob", "--idle-exit", "300ms"]);
    assert_ok(&bob);
    assert_eq!(stdout(&bob), "");
    let groups: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("chennai")
        .query(&mut server.con())
        .unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(
        groups[0]["name"],
        redis::Value::BulkString(b"mygroup".to_vec())
    );
    assert_eq!(groups[0]["consumers"], redis::Value::Int(2));
    assert_eq!(pending(&mut server.con(), "chennai", "mygroup"), 0);
}

/// A group created at `$` sees only entries added after it, and a missing stream is created.
#[test]
fn start_at_dollar_and_mkstream() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "10"],
    ));
    let out = run(
        "consumer",
        &server,
        &["alice", "--start", "$", "--idle-exit", "300ms"],
    );
    assert_ok(&out);
    assert_eq!(stdout(&out), "");
    let fresh = run(
        "consumer",
        &server,
        &["alice", "--city", "nowhere", "--idle-exit", "300ms"],
    );
    assert_ok(&fresh);
    let kind: String = redis::cmd("TYPE")
        .arg("nowhere")
        .query(&mut server.con())
        .unwrap();
    assert_eq!(kind, "stream");
}

/// alice and bob share the work while both run; together every message exactly once, none pending.
#[test]
fn heavy_alice_and_bob_share_every_message_exactly_once() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "400"],
    ));
    let args = ["--delay", "10ms", "--idle-exit", "2s"];
    let mut alice = support::spawn("consumer", &server, &[&["alice"][..], &args].concat());
    wait_until("alice is working", || alice.lines().len() >= 5);
    let mut bob = support::spawn("consumer", &server, &[&["bob"][..], &args].concat());
    // Sharing, whatever the scheduling: after bob joined, both go on taking messages (one at a
    // time each, with --delay), until the stream runs out.
    let alice_before_bob = alice.lines().len();
    wait_until("both take messages while both run", || {
        bob.lines().len() >= 5 && alice.lines().len() >= alice_before_bob + 5
    });
    for consumer in [&mut alice, &mut bob] {
        assert_eq!(consumer.wait(), Some(0), "{}", consumer.errors());
    }
    let (alice_ids, bob_ids) = (ids(&alice.lines()), ids(&bob.lines()));
    let mut all: Vec<String> = alice_ids.iter().chain(&bob_ids).cloned().collect();
    all.sort();
    let unique: BTreeSet<String> = all.iter().cloned().collect();
    assert_eq!(all.len(), unique.len(), "a message was processed twice");
    assert_eq!(unique, expected_ids(400));
    assert_eq!(pending(&mut server.con(), "chennai", "mygroup"), 0);
}

/// Ctrl-C finishes and acks the message in hand, prints a summary and exits 0.
#[test]
fn ctrl_c_finishes_the_message_in_hand() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "50"],
    ));
    let mut alice = support::spawn("consumer", &server, &["alice", "--delay", "300ms"]);
    let mut con = server.con();
    wait_until("alice holds a message", || {
        pending(&mut con, "chennai", "mygroup") == 1 && !alice.lines().is_empty()
    });
    support::signal(&alice.child, "INT");
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
    assert!(
        alice.errors().contains("alice: processed"),
        "{}",
        alice.errors()
    );
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
}

/// A second Ctrl-C exits at once with 130 and leaves the message in hand pending.
#[test]
fn second_ctrl_c_exits_at_once() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "5"]));
    let mut alice = support::spawn(
        "consumer",
        &server,
        &["alice", "--delay", "60s", "--claim-idle", "120s"],
    );
    let mut con = server.con();
    wait_until("alice holds a message", || {
        pending(&mut con, "chennai", "mygroup") == 1
    });
    support::signal(&alice.child, "INT");
    wait_until("alice says she is stopping", || {
        alice.errors().contains("Ctrl-C again")
    });
    support::signal(&alice.child, "INT");
    assert_eq!(alice.wait(), Some(130));
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 1);
}

/// A consumer killed with SIGKILL re-processes its own pending message on restart (deliveries 2).
#[test]
fn sigkilled_consumer_reprocesses_its_pending_message() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "3"]));
    let mut alice = support::spawn(
        "consumer",
        &server,
        &["alice", "--delay", "60s", "--claim-idle", "120s"],
    );
    let mut con = server.con();
    wait_until("alice holds a message", || {
        pending(&mut con, "chennai", "mygroup") == 1
    });
    support::signal(&alice.child, "KILL");
    alice.wait();
    let out = run(
        "consumer",
        &server,
        &["alice", "--json", "--idle-exit", "300ms"],
    );
    assert_ok(&out);
    let first: serde_json::Value =
        serde_json::from_str(stdout(&out).lines().next().unwrap()).unwrap();
    assert_eq!(first["id"], "1534291200000-0");
    assert_eq!(first["deliveries"], 2);
    assert_eq!(stdout(&out).lines().count(), 3);
    // With --json the summary is JSON too.
    assert!(
        stderr(&out).contains(r#""recovered":1,"#),
        "{}",
        stderr(&out)
    );
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
}

/// --json prints one object per line with consumer, stream, id, time, fields and deliveries.
#[test]
fn json_output_shape() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "2", "--prefix", "j:"],
    ));
    let out = run(
        "consumer",
        &server,
        &["bob", "--json", "--idle-exit", "300ms", "--prefix", "j:"],
    );
    assert_ok(&out);
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let second = &lines[1];
    assert_eq!(second["consumer"], "bob");
    assert_eq!(second["stream"], "j:chennai");
    assert_eq!(second["id"], "1534291201000-0");
    assert_eq!(second["time"], "2018-08-15T00:00:01Z");
    assert_eq!(second["deliveries"], 1);
    let fields = second["fields"].as_object().unwrap();
    assert_eq!(
        fields.keys().collect::<BTreeSet<_>>(),
        ["humidity", "sensor", "temperature"]
            .iter()
            .map(|s| s.to_string())
            .collect::<BTreeSet<_>>()
            .iter()
            .collect()
    );
    assert_eq!(fields["sensor"], "1");
}

/// Several cities are read by one consumer in one group.
#[test]
fn several_cities_in_one_group() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &[
            "--date", DATE, "--count", "20", "--city", "chennai", "--city", "pune",
        ],
    ));
    let out = run(
        "consumer",
        &server,
        &[
            "alice",
            "--city",
            "chennai",
            "--city",
            "pune",
            "--idle-exit",
            "300ms",
        ],
    );
    assert_ok(&out);
    let text = stdout(&out);
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("alice chennai "))
            .count(),
        20
    );
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("alice pune "))
            .count(),
        20
    );
}

/// Bad values are usage errors (exit 2) naming the flag; an unreachable server is exit 3.
#[test]
fn bad_input() {
    let server = Server::start();
    for args in [
        &["alice", "--delay", "soon"][..],
        &["alice", "--batch", "0"],
        &["alice", "--start", "yesterday"],
        &["alice", "--block", "0"],
        &["alice", "--idle-exit", "x"],
    ] {
        let out = run("consumer", &server, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(args[1]), "{args:?}: {}", stderr(&out));
    }
    let missing = run("consumer", &server, &[]);
    assert_eq!(missing.status.code(), Some(2));
    let port = support::free_port();
    let out = std::process::Command::new(support::bin("consumer"))
        .args([
            "alice",
            "--redis-url",
            &format!("redis://:hunter2@127.0.0.1:{port}"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains(&format!("127.0.0.1:{port}")) && !stderr(&out).contains("hunter2"),
        "{}",
        stderr(&out)
    );
}

/// The hot path's own connection logs in as the URL says: a password-protected server and
/// database 3 in the URL; every entry is printed once and acknowledged in database 3, and
/// database 0 is left untouched.
#[test]
fn the_fast_path_logs_in_and_selects_the_database() {
    let server = Server::start_with(&["--requirepass", "s3cret-pw"]);
    let url = format!("redis://:s3cret-pw@127.0.0.1:{}/3", server.port);
    let run_at = |name: &str, args: &[&str]| {
        std::process::Command::new(support::bin(name))
            .env_remove("REDIS_URL")
            .env_remove("MONSOON_PREFIX")
            .arg("--redis-url")
            .arg(&url)
            .args(args)
            .output()
            .unwrap()
    };
    assert_ok(&run_at("producer", &["--date", DATE, "--count", "2000"]));
    let alice = run_at("consumer", &["alice", "--idle-exit", "300ms"]);
    assert_ok(&alice);
    let lines: Vec<String> = stdout(&alice).lines().map(str::to_string).collect();
    assert_eq!(
        ids(&lines).into_iter().collect::<BTreeSet<_>>(),
        expected_ids(2000)
    );
    assert_eq!(lines.len(), 2000, "each entry printed once");
    assert!(!stderr(&alice).contains("s3cret-pw"));
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut db3 = client.get_connection().unwrap();
    assert_eq!(pending(&mut db3, "chennai", "mygroup"), 0);
    let client0 =
        redis::Client::open(format!("redis://:s3cret-pw@127.0.0.1:{}/0", server.port)).unwrap();
    let exists: bool = redis::cmd("EXISTS")
        .arg("chennai")
        .query(&mut client0.get_connection().unwrap())
        .unwrap();
    assert!(!exists, "database 0 untouched");
    // The hot path answered everything itself: had it not logged in or selected database 3,
    // its XREADGROUP and XACK calls would have been rejected (NOAUTH) or failed (NOGROUP).
    let stats: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut db3)
        .unwrap();
    for command in ["xreadgroup", "xack"] {
        let line = stats
            .lines()
            .find(|l| l.starts_with(&format!("cmdstat_{command}:")))
            .unwrap_or_else(|| panic!("no {command} in {stats}"));
        assert!(line.contains("rejected_calls=0,failed_calls=0"), "{line}");
    }
}

/// A graceful stop in the middle of a fast drain (where the next batch is asked for while one
/// is printed) leaves nothing pending: every entry delivered was printed once and acknowledged.
#[test]
fn heavy_a_stop_mid_drain_leaves_nothing_pending() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE]));
    let mut alice = support::spawn("consumer", &server, &["alice"]);
    wait_until("alice prints", || alice.lines().len() >= 5_000);
    support::signal(&alice.child, "TERM");
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
    let mut con = server.con();
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
    let lines = alice.lines();
    let printed: BTreeSet<String> = ids(&lines).into_iter().collect();
    assert_eq!(printed.len(), lines.len(), "each printed once");
    let groups: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("chennai")
        .query(&mut con)
        .unwrap();
    let delivered: u64 = redis::from_redis_value(groups[0]["entries-read"].clone()).unwrap();
    assert_eq!(
        delivered,
        lines.len() as u64,
        "what was delivered was printed"
    );
    assert!(lines.len() < 86_400, "stopped mid-drain");
}

/// The summary names only what happened (no zero counts), its rate a whole number with its
/// unit; with --json it is one JSON object on stderr holding every count, zeros included.
#[test]
fn the_summary_says_what_happened() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "30"],
    ));
    let out = run("consumer", &server, &["alice", "--idle-exit", "300ms"]);
    assert_ok(&out);
    let said = stderr(&out);
    let line = said
        .lines()
        .find(|l| l.starts_with("alice: processed 30 messages in "))
        .unwrap_or_else(|| panic!("no summary: {said}"));
    assert!(line.ends_with(" messages/s)"), "{line}");
    assert!(!line.contains(" 0 "), "{line}");

    let out = run(
        "consumer",
        &server,
        &["bob", "--group", "json", "--json", "--idle-exit", "300ms"],
    );
    assert_ok(&out);
    let said = stderr(&out);
    let summary: serde_json::Value = said
        .lines()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .unwrap_or_else(|| panic!("no JSON summary: {said}"));
    let summary = &summary["summary"];
    assert_eq!(summary["consumer"], "bob");
    assert_eq!(summary["processed"], 30);
    assert_eq!(summary["claimed"], 0);
    assert_eq!(summary["dead_reasons"], serde_json::json!({}));
    assert!(summary["messages_per_second"].is_u64(), "{summary}");
}

/// Connections killed in the middle of a fast drain (a read in flight while a batch is printed,
/// its acks riding on the next read's write) lose nothing: the consumer reconnects each time,
/// every entry of the day is printed, and at the end nothing is pending or unread. An entry is
/// printed twice only when the kill took its ack: never more than one read's worth per kill.
#[test]
fn heavy_connections_killed_mid_drain_lose_nothing() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE]));
    let mut alice = support::spawn("consumer", &server, &["alice", "--delay", "0"]);
    let mut con = server.con();
    for (kill, after) in [(1, 3_000), (2, 20_000), (3, 45_000)] {
        wait_until(&format!("{after} lines before kill {kill}"), || {
            alice.lines().len() >= after
        });
        assert!(
            support::kill_clients(&mut con) >= 1,
            "kill {kill} found alice"
        );
    }
    let printed =
        |alice: &support::Running| ids(&alice.lines()).into_iter().collect::<BTreeSet<_>>();
    wait_until("every entry printed", || printed(&alice).len() == 86_400);
    support::signal(&alice.child, "TERM");
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
    assert_eq!(
        printed(&alice),
        expected_ids(86_400),
        "the whole day, nothing else"
    );
    let lines = alice.lines().len();
    assert!(
        lines <= 86_400 + 3 * 500,
        "{lines} lines: more doubles than three reads' worth"
    );
    assert!(alice.errors().contains("reconnected"), "{}", alice.errors());
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
    let groups: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg("chennai")
        .query(&mut con)
        .unwrap();
    let lag: u64 = redis::from_redis_value(groups[0]["lag"].clone()).unwrap();
    assert_eq!(lag, 0, "nothing left unread");
}

/// `--template` prints each message in the shape asked for (kcat's `-f`), acknowledged as a
/// printed line is; a mistake in it is a usage error naming the placeholder.
#[test]
fn a_template_shapes_each_message() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "3"]));
    let out = run(
        "consumer",
        &server,
        &[
            "alice",
            "--idle-exit",
            "300ms",
            "--template",
            "{consumer}|{stream}|{id}|{deliveries}|{time}\\t{field:sensor}",
        ],
    );
    assert_ok(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        (0..3u64)
            .map(|i| format!(
                "alice|chennai|{}-0|1|2018-08-15T00:00:0{i}Z\t1",
                1534291200000 + i * 1000
            ))
            .collect::<Vec<_>>()
    );
    assert_eq!(pending(&mut server.con(), "chennai", "mygroup"), 0);
    let bad = run("consumer", &server, &["alice", "--template", "{when}"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("unknown placeholder {when}"),
        "{}",
        stderr(&bad)
    );
}

/// `--count N` (kcat's `-c`): N messages printed and acknowledged, its own pending and claimed
/// ones among them, then exit 0, having read no more than N: nothing is left pending and the
/// group's entries-read says exactly what was taken, also over two streams.
#[test]
fn count_prints_n_and_leaves_nothing_pending() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "100"],
    ));
    assert_ok(&run(
        "producer",
        &server,
        &["--city", "pune", "--date", DATE, "--count", "100"],
    ));
    let mut con = server.con();
    support::create_group(&mut con, "chennai", "mygroup");
    support::read_without_ack(&mut con, "chennai", "mygroup", "alice", 3, ">");
    support::read_without_ack(&mut con, "chennai", "mygroup", "bob", 2, ">");
    let entries_read = |con: &mut redis::Connection, key: &str| -> u64 {
        let groups: Vec<std::collections::HashMap<String, redis::Value>> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg(key)
            .query(con)
            .unwrap();
        redis::from_redis_value(groups[0]["entries-read"].clone()).unwrap()
    };
    // bob's two go idle past alice's --claim-idle before she starts.
    wait_until("bob's entries idle 250 ms", || {
        let idle: Vec<redis::Value> = redis::cmd("XPENDING")
            .arg("chennai")
            .arg("mygroup")
            .arg("IDLE")
            .arg(250)
            .arg("-")
            .arg("+")
            .arg(10)
            .arg("bob")
            .query(&mut server.con())
            .unwrap();
        idle.len() == 2
    });
    let out = run(
        "consumer",
        &server,
        &["alice", "--count", "10", "--claim-idle", "200ms"],
    );
    assert_ok(&out);
    assert_eq!(stdout(&out).lines().count(), 10, "{}", stdout(&out));
    let errors = stderr(&out);
    assert!(
        errors.contains("processed 10 messages")
            && errors.contains("3 re-read from its own pending list")
            && errors.contains("2 claimed from other consumers"),
        "{errors}"
    );
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
    assert_eq!(
        entries_read(&mut con, "chennai"),
        10,
        "read no more than it printed"
    );

    let both = run(
        "consumer",
        &server,
        &[
            "carol", "--city", "pune", "--city", "chennai", "--group", "two", "--count", "5",
        ],
    );
    assert_ok(&both);
    assert_eq!(stdout(&both).lines().count(), 5, "{}", stdout(&both));
    let taken = entries_read(&mut con, "pune")
        + redis::cmd("XINFO")
            .arg("GROUPS")
            .arg("chennai")
            .query::<Vec<std::collections::HashMap<String, redis::Value>>>(&mut con)
            .unwrap()
            .iter()
            .find(|g| g["name"] == redis::Value::BulkString(b"two".to_vec()))
            .map(|g| redis::from_redis_value::<u64>(g["entries-read"].clone()).unwrap())
            .unwrap();
    assert_eq!(taken, 5, "two streams read no more than 5 in all");
    assert_eq!(
        pending(&mut con, "pune", "two") + pending(&mut con, "chennai", "two"),
        0
    );
}

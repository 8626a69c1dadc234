//! `inspect`: every subcommand, human and JSON output, against a private redis-server.

use std::io::{BufRead, BufReader};
use std::process::{Output, Stdio};

use serde_json::Value as Json;
use support::{DATE, Server, assert_ok, json_lines, run, stdout, wait_until};

/// Writes `count` seconds of chennai (or `city`) for 2018-08-15.
fn produce(server: &Server, city: &str, count: u64) {
    let count = count.to_string();
    assert_ok(&run(
        "producer",
        server,
        &["--city", city, "--date", DATE, "--count", &count],
    ));
}

/// Runs inspect to the end.
fn inspect(server: &Server, args: &[&str]) -> Output {
    run("inspect", server, args)
}

/// Runs inspect, expects success, returns stdout.
fn inspect_ok(server: &Server, args: &[&str]) -> String {
    let output = inspect(server, args);
    assert_ok(&output);
    stdout(&output)
}

/// Creates the group and leaves `holds` entries pending on each named consumer, in order.
fn hold(server: &Server, holds: &[(&str, u64)]) {
    let mut con = server.con();
    support::create_group(&mut con, "chennai", "mygroup");
    for (consumer, count) in holds {
        support::read_without_ack(&mut con, "chennai", "mygroup", consumer, *count, ">");
    }
}

/// `range` prints entries oldest first in aligned columns, each ID next to its UTC time.
#[test]
fn range_prints_columns_oldest_first() {
    let server = Server::start();
    produce(&server, "chennai", 10);
    let text = inspect_ok(&server, &["range", "chennai", "--count", "3"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(lines[0], "ID               TIME (UTC)            FIELDS");
    assert!(lines[1].starts_with("1534291200000-0  2018-08-15T00:00:00Z  sensor=1 temperature="));
    assert!(lines[3].starts_with("1534291202000-0  2018-08-15T00:00:02Z  sensor=1 "));
    assert!(lines[1].contains(" humidity="), "{text}");
}

/// `range --rev --json` prints one object per entry, newest first, with stream/id/time/fields.
#[test]
fn range_rev_json_newest_first() {
    let server = Server::start();
    produce(&server, "chennai", 10);
    let entries = json_lines(&inspect_ok(
        &server,
        &["range", "chennai", "--rev", "--count", "2", "--json"],
    ));
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["stream"], "chennai");
    assert_eq!(entries[0]["id"], "1534291209000-0");
    assert_eq!(entries[0]["time"], "2018-08-15T00:00:09Z");
    assert_eq!(entries[1]["id"], "1534291208000-0");
    let fields = entries[0]["fields"].as_object().unwrap();
    let names: Vec<&str> = fields.keys().map(String::as_str).collect();
    // In the entry's own order, as written.
    assert_eq!(names, ["sensor", "temperature", "humidity"]);
}

/// `--from`/`--to` take ISO 8601 UTC times, milliseconds and full IDs alike.
#[test]
fn range_bounds_take_times_ms_and_ids() {
    let server = Server::start();
    produce(&server, "chennai", 10);
    for (from, to) in [
        ("2018-08-15T00:00:03Z", "2018-08-15T00:00:05Z"),
        ("1534291203000", "1534291205000"),
        ("1534291203000-0", "1534291205000-0"),
    ] {
        let entries = json_lines(&inspect_ok(
            &server,
            &["range", "chennai", "--from", from, "--to", to, "--json"],
        ));
        let ids: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
        assert_eq!(
            ids,
            ["1534291203000-0", "1534291204000-0", "1534291205000-0"],
            "{from}..{to}"
        );
    }
    let bad = inspect(&server, &["range", "chennai", "--from", "noon"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// A range longer than a page comes out whole and in order, both ways.
#[test]
fn range_reads_past_a_page() {
    let server = Server::start();
    produce(&server, "chennai", 2500);
    for rev in [false, true] {
        let mut args = vec!["range", "chennai", "--json"];
        if rev {
            args.push("--rev");
        }
        let entries = json_lines(&inspect_ok(&server, &args));
        assert_eq!(entries.len(), 2500);
        let first = if rev {
            "1534293699000-0"
        } else {
            "1534291200000-0"
        };
        assert_eq!(entries[0]["id"], first);
    }
}

/// `tail --from 0` over two streams prints the entries of both, with a stream column.
#[test]
fn tail_reads_two_streams() {
    let server = Server::start();
    produce(&server, "chennai", 3);
    produce(&server, "coimbatore", 3);
    let text = inspect_ok(
        &server,
        &[
            "tail",
            "chennai",
            "coimbatore",
            "--from",
            "0",
            "--count",
            "6",
        ],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 7, "{text}");
    assert!(
        lines[0].starts_with("STREAM      ID                 TIME (UTC)"),
        "{text}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("chennai     1534291"))
            .count(),
        3
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("coimbatore  1534291"))
            .count(),
        3
    );
}

/// `tail` blocks from `$` and prints an entry added while it waits, as JSON, then exits at --count.
#[test]
fn tail_blocks_for_new_entries() {
    let server = Server::start();
    produce(&server, "chennai", 3);
    let mut child = support::command("inspect", &server)
        .args(["tail", "chennai", "--count", "1", "--json"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut con = server.con();
    wait_until("tail blocks in XREAD", || {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut con).unwrap();
        info.contains("blocked_clients:1")
    });
    let _: String = redis::cmd("XADD")
        .arg("chennai")
        .arg("1534377599000-0")
        .arg("sensor")
        .arg("1")
        .arg("temperature")
        .arg("25.0")
        .query(&mut con)
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(child.wait().unwrap().success());
    let entry: Json = serde_json::from_str(&line).unwrap();
    assert_eq!(
        entry,
        serde_json::json!({"stream": "chennai", "id": "1534377599000-0",
            "time": "2018-08-15T23:59:59Z", "fields": {"sensor": "1", "temperature": "25.0"}})
    );
}

/// `pending` shows the summary per consumer and each held entry with its consumer and deliveries.
#[test]
fn pending_shows_who_holds_what() {
    let server = Server::start();
    produce(&server, "chennai", 10);
    hold(&server, &[("bob", 2), ("alice", 1)]);
    let text = inspect_ok(&server, &["pending", "chennai"]);
    assert!(
        text.starts_with(
            "chennai, group mygroup: 3 pending, from 1534291200000-0 (2018-08-15T00:00:00Z) \
             to 1534291202000-0 (2018-08-15T00:00:02Z)\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("CONSUMER  PENDING\nalice           1\nbob             2\n"),
        "{text}"
    );
    assert!(
        text.contains("ID               TIME (UTC)            CONSUMER  IDLE"),
        "{text}"
    );
    assert!(
        text.contains("\n1534291201000-0  2018-08-15T00:00:01Z  bob  "),
        "{text}"
    );

    let report = &json_lines(&inspect_ok(&server, &["pending", "chennai", "--json"]))[0];
    assert_eq!(report["stream"], "chennai");
    assert_eq!(report["group"], "mygroup");
    assert_eq!(report["pending"], 3);
    assert_eq!(report["min"], "1534291200000-0");
    assert_eq!(report["max"], "1534291202000-0");
    assert_eq!(
        report["members"],
        serde_json::json!([{"name": "alice", "pending": 1}, {"name": "bob", "pending": 2}])
    );
    let entry = &report["entries"][2];
    assert_eq!(entry["id"], "1534291202000-0");
    assert_eq!(entry["consumer"], "alice");
    assert_eq!(entry["deliveries"], 1);
    assert!(entry["idle_ms"].is_u64());
}

/// With nothing pending the report says so; an unknown group is an error naming it.
#[test]
fn pending_empty_and_unknown_group() {
    let server = Server::start();
    produce(&server, "chennai", 3);
    hold(&server, &[]);
    let text = inspect_ok(&server, &["pending", "chennai"]);
    assert_eq!(text, "chennai, group mygroup: nothing pending\n");
    let report = &json_lines(&inspect_ok(&server, &["pending", "chennai", "--json"]))[0];
    assert_eq!(report["pending"], 0);
    assert_eq!(report["min"], Json::Null);
    assert_eq!(report["entries"], serde_json::json!([]));
    let missing = inspect(&server, &["pending", "chennai", "--group", "nosuch"]);
    assert_eq!(missing.status.code(), Some(1));
    let error = support::stderr(&missing);
    assert!(
        error.contains("nosuch") && error.contains("chennai"),
        "{error}"
    );
}

/// `groups` lists each group (consumers, pending, last delivered with its time, lag) and its
/// consumers, in columns and as JSON.
#[test]
fn groups_lists_groups_and_consumers() {
    let server = Server::start();
    produce(&server, "chennai", 10);
    hold(&server, &[("bob", 2), ("alice", 1)]);
    let text = inspect_ok(&server, &["groups", "chennai"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "GROUP    CONSUMERS  PENDING  LAST DELIVERED (UTC)                    LAG  \
         PINS (UTC)                              PINNED  STALE"
    );
    assert_eq!(
        lines[1],
        "mygroup          2        3  1534291202000-0 (2018-08-15T00:00:02Z)    7  \
         1534291200000-0 (2018-08-15T00:00:00Z)      10  no"
    );
    assert!(
        text.contains("consumers of mygroup:\nCONSUMER  PENDING"),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("bob             2")),
        "{text}"
    );

    let groups = json_lines(&inspect_ok(&server, &["groups", "chennai", "--json"]));
    assert_eq!(groups.len(), 1);
    let group = &groups[0];
    assert_eq!(group["name"], "mygroup");
    assert_eq!(group["consumers"], 2);
    assert_eq!(group["pending"], 3);
    assert_eq!(group["last_delivered_id"], "1534291202000-0");
    assert_eq!(group["lag"], 7);
    assert_eq!(group["pins"], "1534291200000-0");
    assert_eq!(group["pinned_entries"], 10);
    assert_eq!(group["stale"], false);
    let members = group["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(members[0]["name"], "alice");
    assert_eq!(members[0]["pending"], 1);
    assert!(members[1]["idle_ms"].is_u64());
}

/// `groups` shows what each group holds back from retention: its smallest pending ID, else the
/// entry after its last delivered one, and the entries from there on, counted also when the
/// server cannot tell the lag (an entry deleted in the middle); a group that read and acked
/// everything pins nothing, and one without consumers is stale.
#[test]
fn groups_show_what_each_group_pins() {
    let server = Server::start();
    produce(&server, "chennai", 10);
    let mut con = server.con();
    support::create_group(&mut con, "chennai", "done");
    let ack = |con: &mut redis::Connection, group: &str, seconds: std::ops::Range<u64>| {
        let ids: Vec<String> = seconds
            .map(|s| format!("{}-0", 1534291200000 + s * 1000))
            .collect();
        let acked: u64 = redis::cmd("XACK")
            .arg("chennai")
            .arg(group)
            .arg(&ids)
            .query(con)
            .unwrap();
        assert_eq!(acked, ids.len() as u64);
    };
    support::read_without_ack(&mut con, "chennai", "done", "alice", 10, ">");
    ack(&mut con, "done", 0..10);
    support::create_group(&mut con, "chennai", "acked");
    support::read_without_ack(&mut con, "chennai", "acked", "bob", 3, ">");
    ack(&mut con, "acked", 0..3);
    support::create_group(&mut con, "chennai", "holding");
    support::read_without_ack(&mut con, "chennai", "holding", "carol", 4, ">");
    ack(&mut con, "holding", 0..1);
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg("chennai")
        .arg("nobody")
        .arg("0")
        .query(&mut con)
        .unwrap();
    let by_name = |groups: &[serde_json::Value], name: &str| {
        groups.iter().find(|g| g["name"] == name).unwrap().clone()
    };
    let groups = json_lines(&inspect_ok(&server, &["groups", "chennai", "--json"]));
    let done = by_name(&groups, "done");
    assert_eq!(
        (done["pins"].clone(), done["pinned_entries"].clone()),
        (serde_json::Value::Null, 0.into())
    );
    let acked = by_name(&groups, "acked");
    assert_eq!(acked["pins"], "1534291203000-0");
    assert_eq!(acked["pinned_entries"], 7);
    let holding = by_name(&groups, "holding");
    assert_eq!(holding["pins"], "1534291201000-0");
    assert_eq!(holding["pinned_entries"], 9);
    assert_eq!(holding["stale"], false);
    let nobody = by_name(&groups, "nobody");
    assert_eq!(nobody["pins"], "1534291200000-0");
    assert_eq!(nobody["pinned_entries"], 10);
    assert_eq!(nobody["stale"], true);

    // A deletion after the last delivered entry leaves the server unable to tell the lag: the
    // entries are counted instead.
    let _: u64 = redis::cmd("XDEL")
        .arg("chennai")
        .arg("1534291208000-0")
        .query(&mut con)
        .unwrap();
    let groups = json_lines(&inspect_ok(&server, &["groups", "chennai", "--json"]));
    assert_eq!(by_name(&groups, "holding")["lag"], serde_json::Value::Null);
    assert_eq!(by_name(&groups, "holding")["pinned_entries"], 8);
    assert_eq!(by_name(&groups, "acked")["pinned_entries"], 6);
}

/// `groups` on a stream that does not exist fails with a sentence naming the key (exit 2).
#[test]
fn groups_of_a_missing_stream() {
    let server = Server::start();
    let output = inspect(&server, &["--prefix", "t-", "groups", "chennai"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(support::stderr(&output).contains("stream t-chennai does not exist"));
}

/// `watch` off a terminal prints one plain frame per interval (no escapes) and stops at --frames.
#[test]
fn watch_prints_plain_frames() {
    let server = Server::start();
    produce(&server, "chennai", 10);
    hold(&server, &[("bob", 1)]);
    let text = inspect_ok(&server, &["watch", "chennai", "--frames", "2"]);
    assert!(!text.contains('\x1b'), "{text:?}");
    assert_eq!(
        text.matches("inspect watch: chennai / group mygroup")
            .count(),
        2
    );
    assert!(text.contains("stream chennai: 10 entries\n"), "{text}");
    assert!(text.contains("group mygroup: lag 9, delivered 1"), "{text}");
    assert!(text.contains("CONSUMER  RATE/s  PENDING"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("bob ") && l.contains(" 1 ")),
        "{text}"
    );
}

/// `watch --json` shows a working consumer's rate, and a group that does not exist yet.
#[test]
fn watch_json_sees_a_consumer_work() {
    let server = Server::start();
    let before = &json_lines(&inspect_ok(
        &server,
        &["watch", "chennai", "--frames", "1", "--json"],
    ))[0];
    assert_eq!(before["exists"], false);
    assert_eq!(before["length"], 0);

    produce(&server, "chennai", 2000);
    let mut alice = support::command("consumer", &server)
        .args(["alice", "--delay", "20ms", "--idle-exit", "60s"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut con = server.con();
    wait_until("alice is working", || {
        support::pending(&mut con, "chennai", "mygroup") > 0
    });
    let frames = json_lines(&inspect_ok(
        &server,
        &["watch", "chennai", "--frames", "4", "--json"],
    ));
    support::signal(&alice, "KILL");
    let _ = alice.wait();
    assert_eq!(frames.len(), 4);
    let last = &frames[3];
    assert_eq!(last["length"], 2000);
    assert_eq!(last["exists"], true);
    assert!(last["lag"].as_u64().unwrap() < 2000);
    assert!(
        frames[1..]
            .iter()
            .any(|f| f["rate"].as_f64().unwrap_or(0.0) > 0.0)
    );
    assert!(
        frames[1..]
            .iter()
            .any(|f| f["members"][0]["name"] == "alice"
                && f["members"][0]["rate"].as_f64().unwrap_or(0.0) > 0.0),
        "{frames:?}"
    );
}

/// `chart` draws the field over the range within --width, and as JSON its downsampled points.
#[test]
fn chart_draws_within_the_width() {
    let server = Server::start();
    produce(&server, "chennai", 3600);
    let text = inspect_ok(
        &server,
        &["chart", "chennai", "--width", "60", "--height", "8"],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1 + 8 + 3, "{text}");
    assert!(
        lines[0].starts_with("chennai temperature: 3600 readings, min "),
        "{text}"
    );
    assert!(
        lines[11].contains("each column: the mean of 1m07s"),
        "{text}"
    );
    assert!(lines.iter().all(|l| l.chars().count() <= 60), "{text}");
    assert!(lines[8].contains('█'), "{text}");
    assert!(
        lines[10].trim_start().starts_with("08-15 00:00") && lines[10].ends_with("08-15 00:59")
    );

    let chart = &json_lines(&inspect_ok(
        &server,
        &[
            "chart",
            "chennai",
            "--width",
            "60",
            "--field",
            "humidity",
            "--json",
            "--to",
            "2018-08-15T00:29:59Z",
        ],
    ))[0];
    assert_eq!(chart["field"], "humidity");
    assert_eq!(chart["readings"], 1800);
    let points = chart["points"].as_array().unwrap();
    assert!(!points.is_empty() && points.len() <= 60);
    let counted: u64 = points.iter().map(|p| p["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 1800);
    assert_eq!(points[0]["time"], "2018-08-15T00:00:00Z");
}

/// `chart` of a field the stream does not have fails with a sentence naming it.
#[test]
fn chart_of_a_missing_field() {
    let server = Server::start();
    produce(&server, "chennai", 10);
    let output = inspect(&server, &["chart", "chennai", "--field", "pressure"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(support::stderr(&output).contains("no numeric --field pressure"));
}

/// `memory` reports the stream's MEMORY USAGE and used_memory next to the original's 2.3 MB.
#[test]
fn memory_reports_stream_and_server() {
    let server = Server::start();
    produce(&server, "chennai", 1000);
    let text = inspect_ok(&server, &["memory", "chennai"]);
    assert!(
        text.starts_with("STREAM   ENTRIES  MEMORY USAGE  BYTES/ENTRY\nchennai     1000  "),
        "{text}"
    );
    assert!(text.contains("used_memory (the whole server): "), "{text}");
    assert!(
        text.contains("the original walkthrough: 2.30 MB for 86400 entries"),
        "{text}"
    );
    let report = &json_lines(&inspect_ok(&server, &["memory", "chennai", "--json"]))[0];
    assert_eq!(report["streams"][0]["entries"], 1000);
    assert!(report["streams"][0]["bytes"].as_u64().unwrap() > 1000);
    assert!(report["used_memory"].as_u64().unwrap() > 0);
    assert_eq!(report["original"]["bytes"], 2_300_000);
}

/// `--prefix` (before or after the subcommand, or from MONSOON_PREFIX) applies to every stream.
#[test]
fn prefix_applies_to_every_stream() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &[
            "--prefix", "demo-1-", "--city", "chennai", "--date", DATE, "--count", "2",
        ],
    ));
    let before = json_lines(&inspect_ok(
        &server,
        &["--prefix", "demo-1-", "range", "chennai", "--json"],
    ));
    assert_eq!(before.len(), 2);
    assert_eq!(before[0]["stream"], "demo-1-chennai");
    let after = json_lines(&inspect_ok(
        &server,
        &["range", "chennai", "--json", "--prefix", "demo-1-"],
    ));
    assert_eq!(after, before);
    let output = support::command("inspect", &server)
        .env("MONSOON_PREFIX", "demo-1-")
        .args(["range", "chennai", "--json"])
        .output()
        .unwrap();
    assert_eq!(json_lines(&stdout(&output)), before);
    // Without the prefix the stream is another one, which does not exist.
    let plain = inspect(&server, &["range", "chennai"]);
    assert_eq!(plain.status.code(), Some(1));
    assert!(support::stderr(&plain).starts_with("Error: stream chennai does not exist"));
}

/// An unreachable server is a one-line error naming the address, exit 3, without the password.
#[test]
fn unreachable_server() {
    let port = support::free_port();
    let output = std::process::Command::new(support::bin("inspect"))
        .env_remove("REDIS_URL")
        .args([
            "--redis-url",
            &format!("redis://:hunter2@127.0.0.1:{port}"),
            "groups",
            "chennai",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let error = support::stderr(&output);
    assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
}

/// `range --csv` prints a header `id,time,<fields>` (fields in the order they first appear
/// across the range, a later entry's extra field last) and one RFC 4180 row per entry, read back
/// by a CSV parser with the same values; `--rev --count` bounds it like the columns.
#[test]
fn range_exports_csv() {
    let server = Server::start();
    produce(&server, "chennai", 5);
    let mut con = server.con();
    let _: String = redis::cmd("XADD")
        .arg("chennai")
        .arg("*")
        .arg("temperature")
        .arg("27.1")
        .arg("note")
        .arg("hot, \"very\"\nindeed")
        .query(&mut con)
        .unwrap();
    let text = inspect_ok(&server, &["range", "chennai", "--csv"]);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    assert_eq!(
        header,
        [
            "monsoon-id",
            "time",
            "sensor",
            "temperature",
            "humidity",
            "note"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 6);
    assert_eq!(&rows[0][0], "1534291200000-0");
    assert_eq!(&rows[0][1], "2018-08-15T00:00:00Z");
    assert_eq!(&rows[0][5], "", "no note on a reading");
    assert_eq!(&rows[5][5], "hot, \"very\"\nindeed");
    assert_eq!(&rows[5][2], "", "no sensor on the extra entry");
    let last_two = inspect_ok(
        &server,
        &["range", "chennai", "--csv", "--rev", "--count", "2"],
    );
    let mut reader = csv::Reader::from_reader(last_two.as_bytes());
    let ids: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[0].to_string())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_eq!(ids[1], "1534291204000-0");
    let conflict = inspect(&server, &["range", "chennai", "--csv", "--json"]);
    assert_eq!(conflict.status.code(), Some(2));
}

/// `tail` prints each arrival as it comes; rows of later arrivals line up with the first, even
/// when their IDs carry a longer sequence and their times milliseconds.
#[test]
fn tail_keeps_columns_aligned_across_arrivals() {
    let server = Server::start();
    produce(&server, "chennai", 1);
    produce(&server, "coimbatore", 1);
    let mut tail = support::spawn(
        "inspect",
        &server,
        &["tail", "chennai", "coimbatore", "--count", "2"],
    );
    let mut con = server.con();
    support::wait_until("tail blocks on XREAD", || {
        let clients: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(&mut con)
            .unwrap_or_default();
        clients.contains("cmd=xread")
    });
    let _: String = redis::cmd("XADD")
        .arg("chennai")
        .arg("1534291300000-0")
        .arg("temperature")
        .arg("27.4")
        .query(&mut con)
        .unwrap();
    support::wait_until("the first arrival is printed", || tail.lines().len() >= 2);
    let _: String = redis::cmd("XADD")
        .arg("coimbatore")
        .arg("1534291300250-123")
        .arg("temperature")
        .arg("26.1")
        .query(&mut con)
        .unwrap();
    assert_eq!(tail.wait(), Some(0), "{}", tail.errors());
    let lines = tail.lines();
    assert_eq!(lines.len(), 3, "{lines:?}");
    let at = |line: &str| line.find("temperature=").unwrap();
    assert_eq!(at(&lines[1]), at(&lines[2]), "{lines:#?}");
    assert_eq!(lines[0].find("FIELDS"), Some(at(&lines[1])), "{lines:#?}");
}

/// `--template` shapes `range` and `tail` one line per entry, as kcat's `-f` does: placeholders
/// filled in, values escaped as in the columns, no header; a mistake in it is a usage error
/// naming the placeholder.
#[test]
fn range_and_tail_take_a_template() {
    let server = Server::start();
    produce(&server, "chennai", 2);
    let _: String = redis::cmd("XADD")
        .arg("chennai")
        .arg("1534291202000-0")
        .arg("temperature")
        .arg("27\n9")
        .query(&mut server.con())
        .unwrap();
    let text = inspect_ok(
        &server,
        &[
            "range",
            "chennai",
            "--template",
            "{id}\\t{time} {field:temperature}",
        ],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[0].starts_with("1534291200000-0\t2018-08-15T00:00:00Z "),
        "{text}"
    );
    assert_eq!(lines[2], "1534291202000-0\t2018-08-15T00:00:02Z 27\\n9");
    produce(&server, "coimbatore", 1);
    let tail = inspect_ok(
        &server,
        &[
            "tail",
            "chennai",
            "coimbatore",
            "--from",
            "0",
            "--count",
            "4",
            "--template",
            "{stream} {ms} {fields}",
        ],
    );
    let mut lines: Vec<&str> = tail.lines().collect();
    lines.sort();
    assert_eq!(lines.len(), 4, "{tail}");
    assert!(
        lines[0].starts_with("chennai 1534291200000 sensor=1 temperature="),
        "{tail}"
    );
    assert!(
        lines[3].starts_with("coimbatore 1534291200000 sensor=1 "),
        "{tail}"
    );
    let bad = inspect(&server, &["range", "chennai", "--template", "{temp}"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        support::stderr(&bad).contains("unknown placeholder {temp}"),
        "{}",
        support::stderr(&bad)
    );
}

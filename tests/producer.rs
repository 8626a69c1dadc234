//! The producer against a private redis-server: IDs, fields, reruns, cities, sensors, signals.

use std::time::Instant;

use support::{DATE, Server, assert_ok, run, stderr, stdout, wait_until, xlen};

/// Reads `count` entries of `key` from `start` as (id, [(field, value)]).
fn entries(
    con: &mut redis::Connection,
    key: &str,
    start: &str,
    count: usize,
) -> Vec<(String, Vec<(String, String)>)> {
    let reply: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(key)
        .arg(start)
        .arg("+")
        .arg("COUNT")
        .arg(count)
        .query(con)
        .expect("XRANGE");
    reply
}

/// Last entry's ID.
fn last_id(con: &mut redis::Connection, key: &str) -> String {
    let reply: Vec<(String, Vec<(String, String)>)> = redis::cmd("XREVRANGE")
        .arg(key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(1)
        .query(con)
        .expect("XREVRANGE");
    reply.first().map(|e| e.0.clone()).unwrap_or_default()
}

/// A day is 86,400 entries from 1534291200000-0 to 1534377599000-0 with sensor/temperature/humidity.
#[test]
fn writes_a_day_with_exact_ids_and_fields() {
    let server = Server::start();
    let out = run("producer", &server, &["--date", DATE]);
    assert_ok(&out);
    assert!(
        stdout(&out).starts_with("Inserted 86400 records into chennai in "),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains(" records/ms)"));
    let mut con = server.con();
    assert_eq!(xlen(&mut con, "chennai"), 86_400);
    assert_eq!(last_id(&mut con, "chennai"), "1534377599000-0");
    let first = entries(&mut con, "chennai", "-", 1000);
    assert_eq!(first[0].0, "1534291200000-0");
    assert_eq!(first[1].0, "1534291201000-0");
    for (_, fields) in &first {
        let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["sensor", "temperature", "humidity"]);
        assert_eq!(fields[0].1, "1");
        let (whole, tenth) = fields[1].1.split_once('.').expect("one decimal");
        assert!(
            whole.parse::<i32>().is_ok() && tenth.len() == 1,
            "{}",
            fields[1].1
        );
        assert!(fields[2].1.parse::<u8>().is_ok_and(|h| h <= 100));
    }
}

/// A rerun of a complete day writes nothing, says so and exits 0.
#[test]
fn rerun_writes_nothing() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "500"],
    ));
    let again = run("producer", &server, &["--date", DATE, "--count", "500"]);
    assert_ok(&again);
    assert!(
        stdout(&again).contains("nothing to insert"),
        "{}",
        stdout(&again)
    );
    assert_eq!(xlen(&mut server.con(), "chennai"), 500);
}

/// A partial stream is completed with exactly the entries and values a single full run writes.
#[test]
fn rerun_completes_a_partial_day_with_the_same_data() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "300", "--prefix", "a:"],
    ));
    let out = run(
        "producer",
        &server,
        &["--date", DATE, "--count", "1000", "--prefix", "a:"],
    );
    assert_ok(&out);
    assert!(
        stdout(&out).starts_with("Inserted 700 records into a:chennai"),
        "{}",
        stdout(&out)
    );
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "1000", "--prefix", "b:"],
    ));
    let mut con = server.con();
    assert_eq!(
        entries(&mut con, "a:chennai", "-", 2000),
        entries(&mut con, "b:chennai", "-", 2000)
    );
    assert_eq!(xlen(&mut con, "a:chennai"), 1000);
}

/// A stream that already ends after the range is a clear error (exit 4), left untouched.
#[test]
fn stream_past_the_range_is_refused() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", "2018-08-16", "--count", "10"],
    ));
    let out = run("producer", &server, &["--date", DATE, "--count", "10"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.starts_with("Error: stream chennai already ends at 1534377609000-0"),
        "{err}"
    );
    assert!(
        err.contains("append-only") && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(xlen(&mut server.con(), "chennai"), 10);
    // --replace starts over, only when asked.
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "10", "--replace"],
    ));
    assert_eq!(last_id(&mut server.con(), "chennai"), "1534291209000-0");
}

/// Several cities are produced into their own streams, each with a summary line.
#[test]
fn two_cities() {
    let server = Server::start();
    let out = run(
        "producer",
        &server,
        &[
            "--date", DATE, "--city", "chennai", "--city", "pune", "--count", "2000",
        ],
    );
    assert_ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains("Inserted 2000 records into chennai")
            && text.contains("Inserted 2000 records into pune"),
        "{text}"
    );
    let mut con = server.con();
    assert_eq!(xlen(&mut con, "chennai"), 2000);
    assert_eq!(xlen(&mut con, "pune"), 2000);
    assert_ne!(
        entries(&mut con, "chennai", "-", 50),
        entries(&mut con, "pune", "-", 50),
        "cities share their weather"
    );
}

/// N sensors give N entries per timestamp, IDs <ms>-0..<ms>-(N-1), sensor fields 1..N.
#[test]
fn sensors_share_a_timestamp() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &[
            "--date",
            DATE,
            "--sensors",
            "3",
            "--count",
            "4",
            "--interval",
            "250ms",
        ],
    ));
    let mut con = server.con();
    let all = entries(&mut con, "chennai", "-", 100);
    let ids: Vec<&str> = all.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        ids[..4],
        [
            "1534291200000-0",
            "1534291200000-1",
            "1534291200000-2",
            "1534291200250-0"
        ]
    );
    assert_eq!(all.len(), 12);
    assert_eq!(all[11].0, "1534291200750-2");
    let sensors: Vec<&str> = all.iter().map(|e| e.1[0].1.as_str()).take(3).collect();
    assert_eq!(sensors, ["1", "2", "3"]);
}

/// --prefix names the key, --maxlen trims approximately, --seed changes the weather.
#[test]
fn prefix_maxlen_and_seed() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &[
            "--date", DATE, "--prefix", "t1:", "--count", "5000", "--maxlen", "1000",
        ],
    ));
    let mut con = server.con();
    let len = xlen(&mut con, "t1:chennai");
    assert!((1000..1200).contains(&len), "MAXLEN ~ 1000 left {len}");
    assert_eq!(xlen(&mut con, "chennai"), 0);
    assert_ok(&run(
        "producer",
        &server,
        &[
            "--date", DATE, "--prefix", "s1:", "--count", "50", "--seed", "1",
        ],
    ));
    assert_ok(&run(
        "producer",
        &server,
        &[
            "--date", DATE, "--prefix", "s2:", "--count", "50", "--seed", "2",
        ],
    ));
    assert_ne!(
        entries(&mut con, "s1:chennai", "-", 50),
        entries(&mut con, "s2:chennai", "-", 50)
    );
}

/// --live appends readings at the current time with server-assigned IDs.
#[test]
fn live_appends_current_readings() {
    let server = Server::start();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let out = run(
        "producer",
        &server,
        &[
            "--live",
            "--count",
            "3",
            "--interval",
            "50ms",
            "--sensors",
            "2",
        ],
    );
    assert_ok(&out);
    let mut con = server.con();
    let all = entries(&mut con, "chennai", "-", 100);
    assert_eq!(all.len(), 6);
    let ms: u64 = all[0].0.split('-').next().unwrap().parse().unwrap();
    assert!(
        ms + 1000 >= before,
        "live IDs are not current: {ms} vs {before}"
    );
    assert!(
        stdout(&out).contains("Inserted 6 records into chennai"),
        "{}",
        stdout(&out)
    );
}

/// SIGTERM stops after the batch in flight with exit 130; a rerun completes the range exactly.
#[test]
fn heavy_sigterm_stops_and_rerun_completes() {
    let server = Server::start();
    let mut con = server.con();
    let child = support::command("producer", &server)
        .args(["--date", DATE, "--sensors", "10", "--batch", "200"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("some entries written", || xlen(&mut con, "chennai") > 1000);
    support::signal(&child, "TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let written = xlen(&mut con, "chennai");
    assert!(written < 864_000, "finished before the signal");
    assert!(
        stdout(&out).starts_with(&format!("Interrupted: Inserted {written} records")),
        "{} vs {written}",
        stdout(&out)
    );
    let again = run(
        "producer",
        &server,
        &["--date", DATE, "--sensors", "10", "--batch", "200"],
    );
    assert_ok(&again);
    assert_eq!(xlen(&mut con, "chennai"), 864_000);
    assert_eq!(last_id(&mut con, "chennai"), "1534377599000-9");
}

/// An unreachable server fails within seconds naming the address (exit 3).
#[test]
fn unreachable_server_is_reported_quickly() {
    let port = support::free_port();
    let started = Instant::now();
    let out = std::process::Command::new(support::bin("producer"))
        .args([
            "--redis-url",
            &format!("redis://127.0.0.1:{port}"),
            "--date",
            DATE,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    // One connect attempt, never retried at start.
    assert!(
        started.elapsed() < support::CONNECT_TIMEOUT,
        "{:?}",
        started.elapsed()
    );
    assert!(
        stderr(&out).contains(&format!("127.0.0.1:{port}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1);
}

/// Bad values are usage errors (exit 2) that name the flag, and never echo a password.
#[test]
fn bad_input_is_a_usage_error() {
    let server = Server::start();
    for args in [
        &["--date", "2018-13-01"][..],
        &["--date", "tomorrow"],
        &["--interval", "soon"],
        &["--interval", "1500us"],
        &["--count", "0"],
        &["--sensors", "zero"],
        &["--batch", "0"],
        &["--city", ""],
    ] {
        let out = run("producer", &server, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(args[0]), "{args:?}: {}", stderr(&out));
    }
    let out = std::process::Command::new(support::bin("producer"))
        .args(["--redis-url", "redis://:hunter2@127.0.0.1:notaport"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !stderr(&out).contains("hunter2") && stderr(&out).contains("--redis-url"),
        "{}",
        stderr(&out)
    );
}

/// --version and --help work, and help never shows a password from REDIS_URL.
#[test]
fn version_and_help_hide_the_password() {
    let server = Server::start();
    let out = run("producer", &server, &["--version"]);
    assert_ok(&out);
    assert!(stdout(&out).starts_with("producer "));
    let help = support::command("producer", &server)
        .env("REDIS_URL", "redis://:hunter2@h:1")
        .arg("--help")
        .output()
        .unwrap();
    assert_ok(&help);
    assert!(!stdout(&help).contains("hunter2") && stdout(&help).contains("Exit codes"));
}

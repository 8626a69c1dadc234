//! `producer --from` against a private redis-server: CSV and JSON lines in, `inspect range
//! --csv`/`--json` out and back, every time form, bad rows by line, reruns, stdin, breaks.

use std::io::Write;
use std::process::Stdio;

use support::import_file as import;
use support::{
    DATE, Server, assert_ok, command, entries, run, spawn_command, stderr, stdout, wait_until, xlen,
};

/// Runs `producer --from -` with `input` on stdin.
fn import_stdin(server: &Server, city: &str, input: &[u8], args: &[&str]) -> std::process::Output {
    let mut child = command("producer", server)
        .args(["--city", city, "--from", "-"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the producer");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait for the producer")
}

/// A day of two sensors exported with `inspect range --csv` and imported into another stream
/// holds the same IDs, times and field values; so does the `--json` export piped into
/// `--from - --format jsonl`; and importing the same file again writes nothing.
#[test]
fn heavy_a_day_exported_and_imported_is_the_same_day() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--sensors", "2", "--interval", "2s"],
    ));
    let csv = run("inspect", &server, &["range", "chennai", "--csv"]);
    assert_ok(&csv);
    let path = dir.path().join("chennai.csv");
    std::fs::write(&path, &csv.stdout).expect("write the export");

    let out = import(&server, "copy", &path, &["--time-column", "time"]);
    assert_ok(&out);
    assert!(
        stdout(&out).starts_with("Inserted 86400 records into copy from "),
        "{}",
        stdout(&out)
    );
    let mut con = server.con();
    let original = entries(&mut con, "chennai");
    assert_eq!(original.len(), 86_400);
    assert_eq!(entries(&mut con, "copy"), original);
    let again = run("inspect", &server, &["range", "copy", "--csv"]);
    assert_eq!(stdout(&again), stdout(&csv), "the export of the copy");

    let rerun = import(&server, "copy", &path, &[]);
    assert_ok(&rerun);
    assert!(
        stdout(&rerun).contains("copy already holds all 86400 rows of"),
        "{}",
        stdout(&rerun)
    );
    assert_eq!(xlen(&mut con, "copy"), 86_400);

    let json = run("inspect", &server, &["range", "chennai", "--jsonl"]);
    assert_ok(&json);
    let out = import_stdin(&server, "fromjson", &json.stdout, &["--format", "jsonl"]);
    assert_ok(&out);
    assert!(
        stdout(&out).starts_with("Inserted 86400 records into fromjson from stdin"),
        "{}",
        stdout(&out)
    );
    assert_eq!(entries(&mut con, "fromjson"), original);
}

/// Times with a zone, without one (UTC), in Unix milliseconds and by a strftime pattern give
/// the same instant; rows of one millisecond get sequence numbers 0, 1, 2 in file order; values
/// are written as they are, quotes and commas and all; `--fields` picks and orders.
#[test]
fn every_time_form_and_duplicate_times() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("logger.csv");
    std::fs::write(
        &path,
        "station,time,temp,note\n\
         a,2018-08-15T12:00:00Z,21.5,plain\n\
         b,2018-08-15T14:00:00+02:00,21.6,\"with, comma\"\n\
         c,2018-08-15 12:00:00,21.7,\"say \"\"hi\"\"\"\n\
         d,1534334400001,21.8,\n\
         e,2018-08-15T12:00:00.002,21.9,x\n",
    )
    .expect("write the file");
    assert_ok(&import(&server, "csv", &path, &[]));
    let mut con = server.con();
    let fields = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        entries(&mut con, "csv"),
        vec![
            (
                "1534334400000-0".to_string(),
                fields(&[("station", "a"), ("temp", "21.5"), ("note", "plain")])
            ),
            (
                "1534334400000-1".to_string(),
                fields(&[("station", "b"), ("temp", "21.6"), ("note", "with, comma")])
            ),
            (
                "1534334400000-2".to_string(),
                fields(&[("station", "c"), ("temp", "21.7"), ("note", "say \"hi\"")])
            ),
            (
                "1534334400001-0".to_string(),
                fields(&[("station", "d"), ("temp", "21.8"), ("note", "")])
            ),
            (
                "1534334400002-0".to_string(),
                fields(&[("station", "e"), ("temp", "21.9"), ("note", "x")])
            ),
        ]
    );

    let pattern = dir.path().join("pattern.csv");
    std::fs::write(
        &pattern,
        "when,temp,humidity\n2018/08/15 12:00,21.5,70\n2018/08/15 12:01,21.6,71\n",
    )
    .expect("write the file");
    let out = import(
        &server,
        "pattern",
        &pattern,
        &[
            "--time-column",
            "when",
            "--time-format",
            "%Y/%m/%d %H:%M",
            "--fields",
            "humidity,temp",
        ],
    );
    assert_ok(&out);
    assert_eq!(
        entries(&mut con, "pattern"),
        vec![
            (
                "1534334400000-0".to_string(),
                fields(&[("humidity", "70"), ("temp", "21.5")])
            ),
            (
                "1534334460000-0".to_string(),
                fields(&[("humidity", "71"), ("temp", "21.6")])
            ),
        ]
    );
}

/// JSON lines from stdin: string times and integer milliseconds, numbers and booleans written
/// as their JSON text, a null left out, blank lines skipped, key order kept.
#[test]
fn json_lines_from_stdin() {
    let server = Server::start();
    let input = b"{\"time\": \"2018-08-15T12:00:00Z\", \"temp\": 21.5, \"ok\": true, \"site\": \"pier 4\"}\n\
        \n\
        {\"time\": 1534334400000, \"temp\": -3, \"gust\": null, \"site\": \"x\"}\n";
    let out = import_stdin(&server, "json", input, &["--format", "jsonl"]);
    assert_ok(&out);
    let mut con = server.con();
    let got = entries(&mut con, "json");
    let pairs = |e: &(String, Vec<(String, String)>)| {
        let fields: Vec<String> = e.1.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{} {}", e.0, fields.join(" "))
    };
    assert_eq!(
        got.iter().map(pairs).collect::<Vec<_>>(),
        [
            "1534334400000-0 temp=21.5 ok=true site=pier 4",
            "1534334400000-1 temp=-3 site=x"
        ]
    );
    let bad = import_stdin(&server, "json", b"[1, 2]\n", &["--format", "jsonl"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).starts_with("Error: stdin:1: not a JSON object"),
        "{}",
        stderr(&bad)
    );
}

/// A bad time on line 1,234 stops the import with `FILE:1234: ...` naming the column and exit
/// 2, after the 1,232 rows before it are written; a rerun of the fixed file writes the rest,
/// each row once. An out-of-order row and a short row are reported the same way.
#[test]
fn a_bad_row_stops_at_its_line_and_a_rerun_completes() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("readings.csv");
    let row = |i: u64| format!("{},{}.5\n", 1_534_291_200_000 + i * 1000, i % 40);
    let mut text = String::from("time,temperature\n");
    // Lines 2..=2001 hold rows 0..2000; row 1232 is on line 1234.
    for i in 0..2000 {
        text.push_str(&row(i));
    }
    let good = text.clone();
    let broken = text.replace(&row(1232), "yesterday noon,9.5\n");
    std::fs::write(&path, &broken).expect("write the file");

    let out = import(&server, "readings", &path, &["--batch", "100"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(
        message.starts_with(&format!(
            "Error: {}:1234: column time: 'yesterday noon' is not a time",
            path.display()
        )),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
    let mut con = server.con();
    assert_eq!(xlen(&mut con, "readings"), 1232);

    std::fs::write(&path, &good).expect("fix the file");
    let out = import(&server, "readings", &path, &["--batch", "100"]);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("Inserted 768 records") && stdout(&out).contains("skipped 1232"),
        "{}",
        stdout(&out)
    );
    let ids: Vec<String> = entries(&mut con, "readings")
        .into_iter()
        .map(|e| e.0)
        .collect();
    let expected: Vec<String> = (0..2000)
        .map(|i: u64| format!("{}-0", 1_534_291_200_000 + i * 1000))
        .collect();
    assert_eq!(ids, expected);

    let unordered = dir.path().join("unordered.csv");
    std::fs::write(&unordered, "time,t\n2000,1\n3000,2\n1000,3\n").expect("write");
    let out = import(&server, "unordered", &unordered, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unordered.csv:4: column time: 1970-01-01T00:00:01Z is before"),
        "{}",
        stderr(&out)
    );
    assert_eq!(xlen(&mut con, "unordered"), 2);

    let short = dir.path().join("short.csv");
    std::fs::write(&short, "time,a,b\n1000,1,2\n2000,1\n").expect("write");
    let out = import(&server, "short", &short, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("short.csv:3: the row has 2 columns, the header 3: column b"),
        "{}",
        stderr(&out)
    );
}

/// `--from` goes with none of the flags of simulated readings nor with two cities, `-` needs
/// `--format`, an unknown extension needs it too, and an empty file or a header without the
/// time column or a `--fields` column is refused: each a usage error (exit 2) that writes
/// nothing, and deletes nothing with `--replace`.
#[test]
fn usage_errors_write_nothing() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("r.csv");
    std::fs::write(&path, "time,t\n1000,1\n").expect("write");
    let p = path.to_str().expect("UTF-8");
    let odd = dir.path().join("r.txt");
    std::fs::write(&odd, "time,t\n1000,1\n").expect("write");
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "").expect("write");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--from", empty.to_str().expect("UTF-8")],
            "empty.csv:1: the file is empty",
        ),
        (vec!["--from", p, "--date", DATE], "cannot be used with"),
        (vec!["--from", p, "--sensors", "2"], "cannot be used with"),
        (vec!["--from", p, "--interval", "2s"], "cannot be used with"),
        (vec!["--from", p, "--count", "5"], "cannot be used with"),
        (vec!["--from", p, "--seed", "5"], "cannot be used with"),
        (vec!["--from", p, "--live"], "cannot be used with"),
        (
            vec!["--from", p, "--city", "a", "--city", "b"],
            "give one --city",
        ),
        (vec!["--from", "-"], "needs --format"),
        (
            vec!["--from", odd.to_str().expect("UTF-8")],
            "pass --format",
        ),
        (vec!["--from", p, "--time-column", "when"], "no column when"),
        (vec!["--from", p, "--fields", "t,u"], "no column u"),
        (vec!["--time-format", "%s"], "--from"),
    ];
    for (args, expected) in cases {
        let out = run("producer", &server, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    let mut con = server.con();
    let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(&mut con).expect("KEYS");
    assert!(keys.is_empty(), "{keys:?}");

    // A file that cannot be imported is refused before --replace deletes anything.
    assert_ok(&run(
        "producer",
        &server,
        &["--count", "10", "--date", DATE],
    ));
    for bad in [vec!["--time-column", "when"], vec![]] {
        let from = if bad.is_empty() { "missing.csv" } else { p };
        let mut args = vec!["--from", from, "--replace"];
        args.extend(bad);
        let out = run("producer", &server, &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert_eq!(xlen(&mut con, "chennai"), 10, "{args:?} touched the stream");
    }
}

/// The connection killed in the middle of an import from stdin: the producer reconnects, asks
/// where the stream ends, and every row lands exactly once.
#[test]
fn heavy_a_killed_connection_mid_import_writes_every_row_once() {
    let server = Server::start();
    let mut cmd = command("producer", &server);
    cmd.args([
        "--city", "piped", "--from", "-", "--format", "csv", "--batch", "50",
    ])
    .stdin(Stdio::piped());
    let mut producer = spawn_command(cmd);
    let mut input = producer.child.stdin.take().expect("stdin");
    let row = |i: u64| format!("{},{i}\n", 1_534_291_200_000 + i * 10);
    let mut first = String::from("time,n\n");
    (0..5000).for_each(|i| first.push_str(&row(i)));
    input.write_all(first.as_bytes()).expect("write");
    input.flush().expect("flush");
    let mut con = server.con();
    wait_until("the first rows are written", || {
        xlen(&mut con, "piped") >= 4900
    });
    assert!(support::kill_clients(&mut con) >= 1);
    let rest: String = (5000..10_000).map(row).collect();
    input.write_all(rest.as_bytes()).expect("write");
    drop(input);
    assert_eq!(producer.wait(), Some(0), "{}", producer.errors());
    assert!(
        producer.errors().contains("reconnected"),
        "the kill was noticed: {}",
        producer.errors()
    );
    let ns: Vec<String> = entries(&mut con, "piped")
        .into_iter()
        .map(|(id, fields)| format!("{id} {}", fields[0].1))
        .collect();
    let expected: Vec<String> = (0..10_000)
        .map(|i: u64| format!("{}-0 {i}", 1_534_291_200_000 + i * 10))
        .collect();
    assert_eq!(ns, expected);
}

/// `--retain` trims after every batch of an import, as for a day: an import stalled after an
/// hour of rows already holds only its last ten minutes, and the whole file ends the same way.
#[test]
fn retain_trims_after_every_batch_of_an_import() {
    let server = Server::start();
    let mut cmd = command("producer", &server);
    cmd.args([
        "--city", "kept", "--from", "-", "--format", "csv", "--batch", "100", "--retain", "10m",
    ])
    .stdin(Stdio::piped());
    let mut producer = spawn_command(cmd);
    let mut input = producer.child.stdin.take().expect("stdin");
    let row = |i: u64| format!("{},{i}\n", 1_534_291_200_000 + i * 1000);
    let first: String = std::iter::once(String::from("time,n\n"))
        .chain((0..3600).map(row))
        .collect();
    input.write_all(first.as_bytes()).expect("write");
    input.flush().expect("flush");
    let mut con = server.con();
    wait_until(
        "the first hour is written and trimmed to ten minutes",
        || {
            let ids: Vec<(String, Vec<(String, String)>)> = redis::cmd("XREVRANGE")
                .arg("kept")
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query(&mut con)
                .expect("XREVRANGE");
            ids.first().map(|e| e.0.as_str()) == Some("1534294799000-0")
                && xlen(&mut con, "kept") == 600
        },
    );
    let rest: String = (3600..7200).map(row).collect();
    input.write_all(rest.as_bytes()).expect("write");
    drop(input);
    assert_eq!(producer.wait(), Some(0), "{}", producer.errors());
    let ids: Vec<String> = entries(&mut con, "kept").into_iter().map(|e| e.0).collect();
    let expected: Vec<String> = (6600..7200u64)
        .map(|i| format!("{}-0", 1_534_291_200_000 + i * 1000))
        .collect();
    assert_eq!(ids, expected);
    assert!(
        producer
            .lines()
            .concat()
            .contains("trimmed 6600 entries from kept"),
        "{:?}",
        producer.lines()
    );
}

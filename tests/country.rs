//! `--cities-from FILE`: many cities from one process. The live producer writes them all from
//! one thread (no thread per city), every tick of every city exactly once; one consumer reads
//! them all in one group; bad files are usage errors.

use std::collections::BTreeSet;
use std::io::Write;

use support::{DATE, Server, assert_ok, pending, run, stderr, stdout, xlen};

/// A file naming `n` cities `land1` .. `landN`, with a comment, a blank line and a repeat.
fn cities_file(n: usize) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "# the test's cities").unwrap();
    for i in 1..=n {
        writeln!(file, "land{i}").unwrap();
        if i == 1 {
            writeln!(file).unwrap();
        }
    }
    writeln!(file, "land1").unwrap();
    file
}

/// 200 cities x 3 sensors live for 8 ticks from one producer: never more than a handful of
/// threads, every stream holds exactly its 24 entries at distinct IDs, and every city reports
/// its ticks and worst lag. One consumer then reads all 200 streams, each entry once.
#[test]
fn heavy_a_country_live_from_one_process() {
    let server = Server::start();
    let file = cities_file(200);
    let path = file.path().to_str().unwrap();
    let peak = support::ThreadPeak::create();
    let mut cmd = support::command("producer", &server);
    cmd.args([
        "--cities-from",
        path,
        "--sensors",
        "3",
        "--live",
        "--interval",
        "250ms",
        "--count",
        "8",
    ]);
    let mut producer = support::spawn_command(peak.command(&cmd));
    assert_eq!(producer.wait(), Some(0), "{}", producer.errors());
    let most = peak.peak();
    let mut con = server.con();
    assert!(most <= 6, "{most} threads for 200 cities");
    let lines = producer.lines();
    assert_eq!(lines.len(), 200, "one line per city, the repeat once");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("Inserted 24 records into land")
                && l.contains(": 8 ticks, ")
                && l.contains(" ms behind its time")),
        "{lines:?}"
    );
    for i in 1..=200 {
        let key = format!("land{i}");
        let ids: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(&key)
            .arg("-")
            .arg("+")
            .query(&mut con)
            .unwrap();
        let distinct: BTreeSet<&String> = ids.iter().map(|(id, _)| id).collect();
        assert_eq!((ids.len(), distinct.len()), (24, 24), "{key}");
    }

    let consumer = run(
        "consumer",
        &server,
        &["alice", "--cities-from", path, "--idle-exit", "500ms"],
    );
    assert_ok(&consumer);
    let read: Vec<String> = stdout(&consumer).lines().map(str::to_string).collect();
    assert_eq!(read.len(), 200 * 24);
    let distinct = support::stream_ids(&read);
    assert_eq!(distinct.len(), 200 * 24, "each entry once");
    for i in [1, 100, 200] {
        assert_eq!(pending(&mut con, &format!("land{i}"), "mygroup"), 0);
    }
}

/// `--cities-from` adds to `--city`; a day for each, 16 at a time, all written.
#[test]
fn cities_from_a_file_and_the_command_line() {
    let server = Server::start();
    let file = cities_file(20);
    let out = run(
        "producer",
        &server,
        &[
            "--city",
            "chennai",
            "--cities-from",
            file.path().to_str().unwrap(),
            "--date",
            DATE,
            "--count",
            "50",
        ],
    );
    assert_ok(&out);
    assert_eq!(stdout(&out).lines().count(), 21, "{}", stdout(&out));
    let mut con = server.con();
    assert_eq!(xlen(&mut con, "chennai"), 50);
    assert_eq!(xlen(&mut con, "land20"), 50);
}

/// A file that cannot be read, or names no city, is a usage error (exit 2) naming it, before
/// anything is written.
#[test]
fn bad_city_files() {
    let server = Server::start();
    let out = run(
        "producer",
        &server,
        &["--cities-from", "/nonexistent/cities.txt"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--cities-from") && stderr(&out).contains("/nonexistent/cities.txt")
    );
    let empty = tempfile::NamedTempFile::new().unwrap();
    let path = empty.path().to_str().unwrap();
    let out = run("consumer", &server, &["alice", "--cities-from", path]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("names no city"), "{}", stderr(&out));
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query(&mut server.con())
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

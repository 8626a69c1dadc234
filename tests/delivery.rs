//! Nothing lost, nothing doubled, nothing hangs: the consumer's cases a hostile tryout found
//! (a vanished group, a stop during a read or an outage, claims under contention, dead letters
//! across breaks and refusals, huge entries).

use std::time::{Duration, Instant};

use redis::Value;
use support::{
    DATE, Server, assert_ok, create_group, pending, read_without_ack, run, stderr, stdout,
    wait_until, xlen,
};

/// Entry IDs in human output lines (the third word).
fn ids(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter_map(|l| l.split_whitespace().nth(2).map(String::from))
        .collect()
}

/// A group that vanished is re-created at 0: the entries a dead consumer held when it vanished
/// are delivered again (not skipped), and stderr says how many entries come again.
#[test]
fn a_vanished_group_delivers_everything_again() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "30"],
    ));
    let mut con = server.con();
    create_group(&mut con, "chennai", "mygroup");
    // bob takes the first ten and dies holding them.
    read_without_ack(&mut con, "chennai", "mygroup", "bob", 10, ">");
    let held: Vec<String> = (0..10)
        .map(|s| format!("{}-0", 1534291200000u64 + s * 1000))
        .collect();
    let mut alice = support::spawn("consumer", &server, &["alice", "--block", "100ms"]);
    wait_until("alice took the other twenty", || alice.lines().len() == 20);
    let _: i64 = redis::cmd("XGROUP")
        .arg("DESTROY")
        .arg("chennai")
        .arg("mygroup")
        .query(&mut con)
        .unwrap();
    wait_until("alice got all thirty again", || alice.lines().len() == 50);
    support::signal(&alice.child, "TERM");
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
    let seen = ids(&alice.lines());
    for id in &held {
        assert!(seen.contains(id), "{id} held by bob was skipped: {seen:?}");
    }
    assert!(
        alice
            .errors()
            .contains("re-created it at 0: 30 entries of the stream will be delivered again"),
        "{}",
        alice.errors()
    );
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
}

/// `--recreate-at $` re-creates a vanished group after the stream's end: nothing comes again.
#[test]
fn recreate_at_end_delivers_nothing_again() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "5"]));
    let mut alice = support::spawn(
        "consumer",
        &server,
        &["alice", "--block", "100ms", "--recreate-at", "$"],
    );
    wait_until("alice took five", || alice.lines().len() == 5);
    let mut con = server.con();
    let _: i64 = redis::cmd("XGROUP")
        .arg("DESTROY")
        .arg("chennai")
        .arg("mygroup")
        .query(&mut con)
        .unwrap();
    wait_until("alice re-created the group", || {
        alice.errors().contains("re-created it at $: 0 entries")
    });
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "7"]));
    wait_until("alice took the two new ones", || alice.lines().len() == 7);
    support::signal(&alice.child, "TERM");
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
}

/// SIGTERM to a consumer blocked in a read is a stop, not a lost connection: no reconnect is
/// reported, exit 0.
#[test]
fn a_signal_is_not_a_lost_connection() {
    let server = Server::start();
    let mut con = server.con();
    let mut alice = support::spawn("consumer", &server, &["alice", "--block", "2s"]);
    wait_until("alice blocks in XREADGROUP", || {
        let clients: String = redis::cmd("CLIENT")
            .arg("LIST")
            .query(&mut con)
            .unwrap_or_default();
        clients.contains("cmd=xreadgroup")
    });
    support::signal(&alice.child, "TERM");
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
    let errors = alice.errors();
    assert!(!errors.contains("lost the connection"), "{errors}");
    assert!(!errors.contains("reconnect"), "{errors}");
}

/// A graceful stop in the middle of a drain processes and acks every entry delivered to it:
/// nothing of its own stays pending (tried several times, at different points).
#[test]
fn heavy_a_graceful_stop_leaves_nothing_pending() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE]));
    let mut con = server.con();
    for round in 0..6 {
        let name = format!("c{round}");
        let mut consumer = support::spawn("consumer", &server, &[&name, "--batch", "1000"]);
        wait_until("the consumer is draining", || consumer.lines().len() > 100);
        support::signal(&consumer.child, "TERM");
        assert_eq!(consumer.wait(), Some(0), "{}", consumer.errors());
        let errors = consumer.errors();
        assert!(!errors.contains("lost the connection"), "{errors}");
        let mine: Value = redis::cmd("XPENDING")
            .arg("chennai")
            .arg("mygroup")
            .arg("-")
            .arg("+")
            .arg(10)
            .arg(&name)
            .query(&mut con)
            .unwrap();
        assert_eq!(mine, Value::Array(vec![]), "round {round}: {errors}");
    }
}

/// SIGTERM while the server is down stops a consumer within a moment (exit 0, its summary) and
/// a live producer (exit 130), instead of waiting for the server.
#[test]
fn a_stop_during_an_outage_is_prompt() {
    let mut server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "3"]));
    // Both would wait a minute for the server; each connect attempt alone takes up to
    // CONNECT_TIMEOUT on the held port below (it accepts, and never answers).
    let mut alice = support::spawn(
        "consumer",
        &server,
        &["alice", "--block", "100ms", "--retry-for", "1m"],
    );
    let mut live = support::spawn(
        "producer",
        &server,
        &[
            "--city",
            "pune",
            "--live",
            "--interval",
            "100ms",
            "--retry-for",
            "1m",
        ],
    );
    wait_until("alice drained", || alice.lines().len() == 3);
    let mut con = server.con();
    wait_until("the live producer writes", || xlen(&mut con, "pune") > 0);
    server.kill();
    // Hold the freed port, so that no other test's server can answer in its place.
    let _hold = std::net::TcpListener::bind(("127.0.0.1", server.port));
    wait_until("both notice", || {
        alice.errors().contains("lost the connection")
            && live.errors().contains("lost the connection")
    });
    let asked = Instant::now();
    support::signal(&alice.child, "TERM");
    support::signal(&live.child, "TERM");
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
    assert_eq!(live.wait(), Some(130), "{}", live.errors());
    // Sooner than one connect attempt: the stop cuts the attempt in progress short.
    assert!(
        asked.elapsed() < support::CONNECT_TIMEOUT,
        "{:?}",
        asked.elapsed()
    );
    assert!(alice.errors().contains("alice: processed 3 messages"));
}

/// Two consumers taking over a dead consumer's backlog (--delay 50ms, --claim-idle 1s) process
/// every entry exactly once: a claim takes only what it can finish in time, and what is in
/// hand is kept from going idle, so nobody steals it and nothing is dead-lettered.
#[test]
fn heavy_claims_under_contention_process_each_entry_once() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "200"],
    ));
    let mut con = server.con();
    create_group(&mut con, "chennai", "mygroup");
    read_without_ack(&mut con, "chennai", "mygroup", "dead", 200, ">");
    wait_until("the dead consumer's entries are idle", || {
        let rows: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
            .arg("chennai")
            .arg("mygroup")
            .arg("-")
            .arg("+")
            .arg(1)
            .query(&mut con)
            .unwrap();
        rows.first().is_some_and(|row| row.2 >= 1000)
    });
    let args = [
        "--delay",
        "50ms",
        "--claim-idle",
        "1s",
        "--block",
        "100ms",
        "--idle-exit",
        "2s",
    ];
    let mut alice = support::spawn("consumer", &server, &[&["alice"][..], &args].concat());
    let mut bob = support::spawn("consumer", &server, &[&["bob"][..], &args].concat());
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
    assert_eq!(bob.wait(), Some(0), "{}", bob.errors());
    let mut seen = ids(&alice.lines());
    seen.extend(ids(&bob.lines()));
    let total = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 200, "every entry processed");
    assert_eq!(total, 200, "no entry processed twice");
    assert_eq!(xlen(&mut con, "chennai:dead"), 0, "nothing dead-lettered");
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
}

/// A --claim-idle not above --delay is a usage error that says why.
#[test]
fn claim_idle_must_exceed_the_delay() {
    let server = Server::start();
    let out = run(
        "consumer",
        &server,
        &["alice", "--delay", "2s", "--claim-idle", "1s"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--claim-idle") && stderr(&out).contains("--delay"),
        "{}",
        stderr(&out)
    );
}

/// Exactly one dead letter per poison entry, while the consumer's connections are killed again
/// and again (CLIENT KILL): a dead letter is never written twice across a break.
#[test]
fn heavy_dead_letters_are_written_once_across_breaks() {
    let server = Server::start();
    let mut con = server.con();
    let mut pipe = redis::pipe();
    for n in 0..3000 {
        pipe.cmd("XADD")
            .arg("chennai")
            .arg("*")
            .arg("temperature")
            .arg(format!("hot{n}"))
            .ignore();
    }
    let () = pipe.query(&mut con).unwrap();
    let mut alice = support::spawn(
        "consumer",
        &server,
        &[
            "alice",
            "--batch",
            "10",
            "--block",
            "100ms",
            "--require",
            "temperature:number",
        ],
    );
    // Kill its connections 40 times while it works (the pauses only space the kills out), once
    // it is working: a server that cuts the connection while the consumer starts is an error at
    // start (exit 3, "cannot connect"), not a break to ride out.
    wait_until("alice works", || xlen(&mut con, "chennai:dead") > 0);
    let mut kills = 0;
    let deadline = Instant::now() + support::PATIENCE;
    while xlen(&mut con, "chennai:dead") < 3000 && kills < 40 && Instant::now() < deadline {
        kills += support::kill_clients(&mut con).min(1);
        std::thread::sleep(Duration::from_millis(30));
    }
    let deadline = Instant::now() + support::PATIENCE;
    while pending(&mut con, "chennai", "mygroup") > 0 || xlen(&mut con, "chennai:dead") < 3000 {
        // Say what the consumer said, should it have stopped or stalled.
        assert!(
            Instant::now() < deadline && alice.child.try_wait().unwrap().is_none(),
            "not every poison entry was dead-lettered and acked: pending {}, dead {}, kills \
             {kills}; alice said: {}",
            pending(&mut con, "chennai", "mygroup"),
            xlen(&mut con, "chennai:dead"),
            alice.errors()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    support::signal(&alice.child, "TERM");
    // Everything it read went to the dead letters: exit 5, whatever stopped it.
    assert_eq!(alice.wait(), Some(5), "{}", alice.errors());
    assert!(kills >= 10, "only {kills} kills landed");
    let dead: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg("chennai:dead")
        .arg("-")
        .arg("+")
        .query(&mut con)
        .unwrap();
    let mut originals: Vec<String> = dead
        .iter()
        .filter_map(|(_, fields)| fields.iter().find(|(k, _)| k == "id").map(|f| f.1.clone()))
        .collect();
    originals.sort();
    let before = originals.len();
    originals.dedup();
    assert_eq!(before, originals.len(), "a dead letter was written twice");
    assert_eq!(originals.len(), 3000);
}

/// A dead letter the server refuses (the dead-letter key is a string) stops the consumer with
/// exit 4 naming the key and the reason; the valid entries are processed and acked, and the
/// poison entry stays pending (before, the consumer wedged on it and printed none of them).
#[test]
fn a_refused_dead_letter_keeps_the_entry_pending() {
    let server = Server::start();
    let mut con = server.con();
    let _: () = redis::cmd("SET")
        .arg("chennai:dead")
        .arg("not a stream")
        .query(&mut con)
        .unwrap();
    for n in 0..8 {
        let temperature = if n == 7 { "hot" } else { "21.5" };
        support::xadd(
            &mut con,
            "chennai",
            &[("temperature", temperature.as_bytes())],
        );
    }
    let out = run(
        "consumer",
        &server,
        &[
            "alice",
            "--idle-exit",
            "300ms",
            "--require",
            "temperature:number",
        ],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("chennai:dead") && err.contains("WRONGTYPE"),
        "{err}"
    );
    assert_eq!(
        stdout(&out).lines().count(),
        7,
        "the valid entries were processed"
    );
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 1);
}

/// Joining an existing group writes nothing: a server at maxmemory (refusing every write that
/// needs memory) still lets a consumer join its group and drain it.
#[test]
fn joining_a_group_writes_nothing() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "5"]));
    let mut con = server.con();
    create_group(&mut con, "chennai", "mygroup");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("1")
        .query(&mut con)
        .unwrap();
    let out = run("consumer", &server, &["alice", "--idle-exit", "300ms"]);
    assert_ok(&out);
    assert_eq!(stdout(&out).lines().count(), 5);
}

/// Peak memory (RSS, from wait4) of the consumer and of `inspect range` stays bounded on a
/// stream of 5 MB entries: reads adapt their COUNT to the entries' size.
#[test]
fn heavy_huge_entries_are_read_a_few_at_a_time() {
    const MB: usize = 1 << 20;
    let server = Server::start();
    let mut con = server.con();
    let value = "x".repeat(5 * MB);
    for _ in 0..40 {
        let _: String = redis::cmd("XADD")
            .arg("chennai")
            .arg("*")
            .arg("temperature")
            .arg("21")
            .arg("blob")
            .arg(&value)
            .query(&mut con)
            .unwrap();
    }
    let peak = |name: &str, args: &[&str]| -> (i32, usize) {
        let child = support::command(name, &server)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        support::wait_with_peak_rss(child)
    };
    let (code, consumer_rss) = peak(
        "consumer",
        &["alice", "--idle-exit", "500ms", "--batch", "500"],
    );
    assert_eq!(code, 0);
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
    let (code, range_rss) = peak("inspect", &["range", "chennai", "--json"]);
    assert_eq!(code, 0);
    // 40 entries of 5 MB read at once took about 1 GB.
    assert!(consumer_rss < 128 * MB, "consumer peak RSS {consumer_rss}");
    assert!(range_rss < 128 * MB, "inspect range peak RSS {range_rss}");
}

/// How long the server stalls in [`heavy_a_stall_longer_than_the_timeout_is_ridden_out`]: well
/// past its `--timeout 2s` (the consumer's blocking read: its 1 s BLOCK and the 2 s), within the
/// producer's default `--retry-for 30s`.
const STALL_SECONDS: u64 = 8;

/// A server that stops answering (DEBUG SLEEP) for longer than `--timeout` in the middle of a
/// run is ridden out: both break off, reconnect once it answers again, and the producer completes
/// its range exactly once and the consumer processes every entry, nothing pending.
#[test]
fn heavy_a_stall_longer_than_the_timeout_is_ridden_out() {
    let server = Server::start_with(&["--enable-debug-command", "yes"]);
    let mut con = server.con();
    let timeout = ["--timeout", "2s"];
    let mut alice = support::spawn(
        "consumer",
        &server,
        &[&["alice", "--batch", "100"][..], &timeout].concat(),
    );
    let mut producer = support::spawn(
        "producer",
        &server,
        &[
            &["--date", DATE, "--sensors", "4", "--batch", "100"][..],
            &timeout,
        ]
        .concat(),
    );
    wait_until("the producer is half way", || {
        xlen(&mut con, "chennai") > 100_000
    });
    let url = server.url();
    let stall = std::thread::spawn(move || {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        let _: redis::Value = redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg(STALL_SECONDS)
            .query(&mut con)
            .unwrap();
    });
    stall.join().unwrap();
    assert_eq!(producer.wait(), Some(0), "{}", producer.errors());
    assert_eq!(xlen(&mut con, "chennai"), 4 * 86_400);
    wait_until("alice drained the day", || {
        alice.lines().len() >= 4 * 86_400 && pending(&mut con, "chennai", "mygroup") == 0
    });
    support::signal(&alice.child, "TERM");
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
    let mut seen = ids(&alice.lines());
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 4 * 86_400);
    // Both gave up on the stalled connection within their timeout, and said why.
    for errors in [producer.errors(), alice.errors()] {
        assert!(errors.contains("no answer within"), "{errors}");
    }
}

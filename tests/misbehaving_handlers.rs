//! Handlers that misbehave: a `--pipe` handler that stops reading, an `--exec` handler that
//! leaves a process holding its output, stream keys with spaces, and output without end. None
//! of them may hang the consumer, make another consumer process what it holds, lose an
//! answer, or grow its memory with what the handler prints.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use support::{Server, assert_ok, pending, run, stdout, wait_until, xadd, xlen};

/// How long a handler's output is read after its exit (`handler::OUTPUT_GRACE`).
const OUTPUT_GRACE: Duration = Duration::from_millis(500);

/// Writes `count` entries of about 1 KiB each into `key`.
fn big_entries(server: &Server, key: &str, count: usize) {
    let mut con = server.con();
    let note = vec![b'x'; 1000];
    for _ in 0..count {
        xadd(&mut con, key, &[("temperature", b"21"), ("note", &note)]);
    }
}

/// Idle times (ms) of what `consumer` holds pending in `key` (none before the group exists).
fn idle_of(con: &mut redis::Connection, key: &str, consumer: &str) -> Vec<u64> {
    let rows: redis::RedisResult<Vec<(String, String, u64, u64)>> = redis::cmd("XPENDING")
        .arg(key)
        .arg("mygroup")
        .arg("-")
        .arg("+")
        .arg(100_000)
        .arg(consumer)
        .query(con);
    rows.unwrap_or_default()
        .into_iter()
        .map(|(_, _, idle, _)| idle)
        .collect()
}

/// A `--pipe` handler that reads its stdin far slower than the consumer writes, so a batch
/// (500 entries of 1 KiB, eight times a pipe's buffer) cannot be written at once: the consumer
/// is not stuck in the write. It keeps what it holds from looking idle (so no other consumer
/// takes it), goes on timing the handler out, and stops on SIGTERM within the handler timeout.
#[test]
fn heavy_a_pipe_handler_that_stops_reading_never_hangs_the_consumer() {
    let server = Server::start();
    big_entries(&server, "chennai", 3000);
    let (timeout, claim_idle) = (Duration::from_secs(2), Duration::from_secs(3));
    // Quick while the reads grow to full batches, then one line every 50 ms: a batch of 500
    // takes it 25 s to read.
    let handler = "n=0; while read -r line; do n=$((n + 1)); [ $n -gt 400 ] && sleep 0.05; \
                   set -- $line; echo \"ack $2 $3\"; done";
    let mut alice = support::spawn(
        "consumer",
        &server,
        &[
            "alice",
            "--pipe",
            handler,
            "--handler-timeout",
            "2s",
            "--claim-idle",
            "3s",
            "--max-deliveries",
            "1000",
        ],
    );
    let mut con = server.con();
    wait_until("alice holds a full batch", || {
        idle_of(&mut con, "chennai", "alice").len() >= 500
    });
    let spawned = Instant::now();
    // While the handler lags, what alice holds stays fresh: sampled over more than one
    // --claim-idle, the only entries of hers as idle as --claim-idle are the ones whose delivery
    // failed (at most one per handler timeout), which wait for their retry.
    let until = Instant::now() + claim_idle + timeout;
    let mut samples = 0;
    while Instant::now() < until {
        let idle = idle_of(&mut con, "chennai", "alice");
        let stale = idle
            .iter()
            .filter(|&&ms| ms >= claim_idle.as_millis() as u64)
            .count();
        let failed = (spawned.elapsed().as_secs_f64() / timeout.as_secs_f64()).ceil() as usize;
        assert!(
            stale <= failed,
            "{stale} of {} entries in hand looked idle (at most {failed} failed): {}",
            idle.len(),
            alice.errors()
        );
        samples += 1;
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(samples > 5);
    let stopped = Instant::now();
    support::signal(&alice.child, "TERM");
    let code = alice.wait();
    assert!(
        stopped.elapsed() < timeout * 2 + Duration::from_secs(5),
        "SIGTERM took {:?}: {}",
        stopped.elapsed(),
        alice.errors()
    );
    assert_eq!(code, Some(0), "{}", alice.errors());
    assert_eq!(xlen(&mut con, "chennai:dead"), 0);
}

/// An `--exec` handler that exits 0 but leaves a process (outside its group) holding its
/// stdout: its exit is what counts. Each message is acked once the handler exited and its
/// output was read for at most the grace period, not when the leftover process ends; the
/// consumer says what happened on stderr.
#[test]
fn an_exec_handler_that_leaves_its_output_open_is_done_at_its_exit() {
    let server = Server::start();
    let mut con = server.con();
    for _ in 0..3 {
        xadd(&mut con, "chennai", &[("temperature", b"21")]);
    }
    // The leftover process marks that it left the handler's group before the handler exits.
    let handler = format!(
        "f={}/left-$MONSOON_ID; setsid sh -c \"touch $f; exec sleep 47\" & \
         while [ ! -e $f ]; do sleep 0.01; done; echo done",
        server.dir.path().display()
    );
    let started = Instant::now();
    let out = run(
        "consumer",
        &server,
        &["alice", "--exec", &handler, "--idle-exit", "300ms"],
    );
    let took = started.elapsed();
    let _ = std::process::Command::new("pkill")
        .args(["-f", "sleep 47"])
        .status();
    assert_ok(&out);
    // Three handlers, each given the grace period after its exit, and start-up: far below the
    // 47 s the leftover sleeps hold the pipes for.
    assert!(
        took < OUTPUT_GRACE * 3 + Duration::from_secs(15),
        "took {took:?}"
    );
    assert_eq!(stdout(&out).lines().collect::<Vec<_>>(), ["done"; 3]);
    assert!(
        support::stderr(&out).contains("left a process holding its output"),
        "{}",
        support::stderr(&out)
    );
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
}

/// A stream key with a space: the human line prints it as one word (`new\x20delhi`), a
/// `--pipe` handler that echoes that word (awk's `$2`) or a JSON string (`"new delhi"`) is
/// understood, and every entry is acked, none dead-lettered as timed out.
#[test]
fn a_stream_key_with_a_space_is_answered_for() {
    let server = Server::start();
    let mut con = server.con();
    for _ in 0..20 {
        xadd(&mut con, "new delhi", &[("temperature", b"31")]);
    }
    let printed = run(
        "consumer",
        &server,
        &[
            "alice",
            "--stream",
            "new delhi",
            "--group",
            "printers",
            "--idle-exit",
            "300ms",
        ],
    );
    assert_ok(&printed);
    let lines = stdout(&printed);
    assert!(
        lines
            .lines()
            .all(|l| l.split(' ').nth(1) == Some("new\\x20delhi")),
        "{lines}"
    );
    let awk = "awk '{print \"ack\", $2, $3; fflush()}'";
    let json = "python3 -u -c 'import json, sys\n\
                for line in sys.stdin:\n    m = json.loads(line)\n    \
                print(\"ack\", json.dumps(m[\"stream\"]), m[\"id\"], flush=True)'";
    for (group, handler, json_flag) in [("awk", awk, None), ("python", json, Some("--json"))] {
        let mut args = vec![
            "alice",
            "--stream",
            "new delhi",
            "--group",
            group,
            "--pipe",
            handler,
            "--handler-timeout",
            "5s",
            "--idle-exit",
            "500ms",
        ];
        args.extend(json_flag);
        let out = run("consumer", &server, &args);
        assert_ok(&out);
        assert_eq!(pending(&mut con, "new delhi", group), 0, "{group}");
        assert_eq!(xlen(&mut con, "new delhi:dead"), 0, "{group}");
    }
}

/// Runs the consumer with `args` on `server`, counting the bytes it prints (without holding
/// them); returns its exit code, its peak RSS, the byte count and its stderr.
fn counted_run(server: &Server, args: &[&str]) -> (i32, usize, u64, String) {
    let mut cmd = support::command("consumer", server);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start the consumer");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let counter = std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = err.read_to_string(&mut text);
        text
    });
    let (code, rss) = support::wait_with_peak_rss(child);
    let bytes = counter.join().unwrap().unwrap();
    (code, rss, bytes, errors.join().unwrap())
}

/// Output without end costs no memory: two `--exec` handlers at once each print 100 MB of
/// zeros with no newline, and a `--pipe` handler prints a 100 MB line. The consumer passes every
/// byte on (each `--exec` output whole, plus the newline that ends it), says on stderr that
/// the `--pipe` line was too long to be an answer, acks everything, and its peak RSS stays far
/// below what it printed.
#[test]
fn heavy_output_without_end_costs_no_memory() {
    const BIG: u64 = 100_000_000;
    const BOUND: usize = 64 * 1024 * 1024;
    let server = Server::start();
    let mut con = server.con();
    for _ in 0..2 {
        xadd(&mut con, "chennai", &[("temperature", b"21")]);
    }
    let exec = format!("head -c {BIG} /dev/zero");
    let (code, rss, bytes, errors) = counted_run(
        &server,
        &[
            "alice",
            "--exec",
            &exec,
            "--jobs",
            "2",
            "--idle-exit",
            "500ms",
        ],
    );
    assert_eq!(code, 0, "{errors}");
    assert_eq!(
        bytes,
        2 * (BIG + 1),
        "each output whole, ended by a newline"
    );
    assert!(rss < BOUND, "peak RSS {rss} bytes for --exec");
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);

    let pipe = format!("head -c {BIG} /dev/zero; echo; awk '{{print \"ack\", $2, $3; fflush()}}'");
    let (code, rss, bytes, errors) = counted_run(
        &server,
        &[
            "alice",
            "--group",
            "piped",
            "--pipe",
            &pipe,
            "--handler-timeout",
            "20s",
            "--idle-exit",
            "500ms",
        ],
    );
    assert_eq!(code, 0, "{errors}");
    assert_eq!(bytes, BIG + 1, "the long line passed on whole");
    assert!(errors.contains("printed a line longer than"), "{errors}");
    assert!(rss < BOUND, "peak RSS {rss} bytes for --pipe");
    assert_eq!(pending(&mut con, "chennai", "piped"), 0);
}

//! Real, silent network partitions: the server runs in a network namespace of its own, cut off
//! by `iptables -j DROP` (packets vanish, no reset comes: only the binaries' own timeouts can
//! notice), then healed. Root only ([`support::Namespace`]); scripts/test.sh skips these,
//! loudly, without root.
//!
//! Every bound is derived from the limits the test sets (`--timeout`, `--block`,
//! `--retry-for`) and the binaries' own (a connect attempt, the grace a stop gives a reply),
//! plus [`SLACK`] for a busy 2-core machine (all in [`support::bounds`]). Each test prints what
//! it measured.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use support::bounds::{BLOCK, MAX_PAUSE, RETRY_FOR, SLACK, TIMEOUT, humantime, within};
use support::{
    CONNECT_TIMEOUT, DATE, Namespace, Running, Server, assert_ok, pending, run, wait_until, xlen,
};

/// How long the partitions that are ridden out last.
const PARTITION: Duration = Duration::from_secs(20);

/// How long a wait for a silent server still lasts once a stop is asked for (`STOP_GRACE` in
/// the server layer).
const STOP_GRACE: Duration = Duration::from_millis(1500);

/// How long since `since` until `condition` holds (polled; panics after the support's patience).
fn time_until(what: &str, since: Instant, mut condition: impl FnMut() -> bool) -> Duration {
    wait_until(what, &mut condition);
    since.elapsed()
}

/// Waits until `binary` says it lost the connection to `server` and is reconnecting: how long
/// since `since` that was.
fn noticed(binary: &Running, server: &Server, since: Instant) -> Duration {
    let words = format!("lost the connection to {}", address(server));
    time_until("the partition is noticed", since, || {
        binary.errors().contains(&words)
    })
}

/// Waits until `binary` says it reconnected: how long since `since` that was.
fn resumed(binary: &Running, since: Instant) -> Duration {
    time_until("the connection is back", since, || {
        binary.errors().contains("reconnected to")
    })
}

/// Sends SIGINT (Ctrl-C) to `binary` and waits for it to exit: its code and how long since the
/// signal was sent.
fn interrupt(binary: &mut Running) -> (Option<i32>, Duration) {
    let began = Instant::now();
    support::signal(&binary.child, "INT");
    let code = binary.wait();
    (code, began.elapsed())
}

/// Waits for every one of `binaries` to exit (polled together, so each is timed alone): each
/// one's code and how long since `since` it took.
fn all_exit(binaries: &mut [Running], since: Instant) -> Vec<(Option<i32>, Duration)> {
    let mut exits: Vec<Option<Duration>> = vec![None; binaries.len()];
    wait_until("every binary exits", || {
        for (binary, exit) in binaries.iter_mut().zip(&mut exits) {
            if exit.is_none() && binary.child.try_wait().is_ok_and(|s| s.is_some()) {
                *exit = Some(since.elapsed());
            }
        }
        exits.iter().all(Option::is_some)
    });
    binaries
        .iter_mut()
        .zip(exits)
        .map(|(binary, took)| (binary.wait(), took.unwrap_or_default()))
        .collect()
}

/// Asserts that the last line `binary` wrote on stderr (its error) contains `words`.
fn ends_saying(binary: &Running, words: &str) {
    let errors = binary.errors();
    let last = errors.lines().last().unwrap_or_default();
    assert!(
        last.contains(words),
        "the last line is not about {words}:\n{errors}"
    );
}

/// `host:port` of `server`, as the binaries name it.
fn address(server: &Server) -> String {
    server.url().trim_start_matches("redis://").to_string()
}

/// The consumer's flags for a partition test: its group, `--timeout`, `--block`, `--retry-for`.
fn consumer_args<'a>(group: &'a str, retry_for: &'a str) -> Vec<String> {
    [
        "--group",
        group,
        "--timeout",
        &humantime(TIMEOUT),
        "--block",
        &humantime(BLOCK),
        "--retry-for",
        retry_for,
    ]
    .map(String::from)
    .to_vec()
}

/// Starts `name` against `server` with `args`.
fn start(name: &str, server: &Server, args: &[String]) -> Running {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    support::spawn(name, server, &args)
}

/// The entry IDs of the first `count` seconds of [`DATE`], one sensor.
fn first_seconds(count: u64) -> BTreeSet<String> {
    (0..count)
        .map(|i| format!("{}-0", 1_534_291_200_000u64 + i * 1000))
        .collect()
}

/// A consumer printing, and one handing each message to an awk `--pipe` acker, are cut off from
/// their server for 20 s mid-drain: each notices within its blocking read's bound (`--block` +
/// `--timeout`), rides it out within `--retry-for`, reconnects soon after the heal, and every
/// entry is processed, none left pending.
#[test]
fn heavy_partition_consumers_ride_out_20s() {
    let namespace = Namespace::create();
    let server = Server::start_in(&namespace, &[]);
    let count = 1500;
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", &count.to_string()],
    ));
    // Both paced (a few ms a message), so the partition comes mid-drain.
    let mut printer = consumer_args("printers", RETRY_FOR);
    printer.extend(["alice", "--delay", "5ms"].map(String::from));
    let mut piper = consumer_args("pipers", RETRY_FOR);
    // `did` before `ack`: a line after a batch's last answer is passed on with the next batch.
    let acker =
        "awk '{ print \"did\", $3; print \"ack\", $2, $3; fflush(); system(\"sleep 0.005\") }'";
    piper.extend(["bob", "--pipe", acker].map(String::from));
    let mut consumers = [
        start("consumer", &server, &printer),
        start("consumer", &server, &piper),
    ];
    wait_until("both consumers are under way", || {
        consumers.iter().all(|c| c.lines().len() >= 100)
    });
    namespace.partition();
    let cut = Instant::now();
    for consumer in &consumers {
        let took = noticed(consumer, &server, cut);
        within(
            "consumer noticed the partition",
            took,
            BLOCK + TIMEOUT + SLACK,
            consumer,
        );
    }
    let before: Vec<usize> = consumers.iter().map(|c| c.lines().len()).collect();
    std::thread::sleep(PARTITION);
    namespace.heal();
    let healed = Instant::now();
    for consumer in &consumers {
        let took = resumed(consumer, healed);
        // The connect attempt under way when the partition heals may have sent its last SYN
        // (they go at 0, 1 and 3 s): it runs out, and the next one, a pause later, connects.
        within(
            "consumer resumed after the heal",
            took,
            CONNECT_TIMEOUT + MAX_PAUSE + SLACK,
            consumer,
        );
    }
    let expected = first_seconds(count);
    let mut con = server.con();
    for (consumer, group) in consumers.iter().zip(["printers", "pipers"]) {
        let deadline = Instant::now() + support::PATIENCE;
        while Instant::now() < deadline
            && (ids(consumer) != expected || pending(&mut con, "chennai", group) > 0)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let missing: Vec<String> = expected.difference(&ids(consumer)).cloned().collect();
        assert!(
            missing.is_empty() && pending(&mut con, "chennai", group) == 0,
            "{group}: {} of {count} never processed (first {:?}), {} pending\nstderr: {}",
            missing.len(),
            missing.first(),
            pending(&mut con, "chennai", group),
            consumer.errors()
        );
    }
    for (consumer, before) in consumers.iter_mut().zip(before) {
        assert!(
            before < count as usize,
            "the partition came after the drain"
        );
        support::signal(&consumer.child, "TERM");
        assert_eq!(consumer.wait(), Some(0), "{}", consumer.errors());
    }
}

/// The entry IDs a consumer processed: the third word of a printed line, the second of an awk
/// acker's `did` line.
fn ids(consumer: &Running) -> BTreeSet<String> {
    consumer
        .lines()
        .iter()
        .filter_map(|line| match line.strip_prefix("did ") {
            Some(id) => Some(id.to_string()),
            None => line.split(' ').nth(2).map(str::to_string),
        })
        .collect()
}

/// A producer writing a day of 10 sensors is cut off for 20 s mid-run: it notices within
/// `--timeout` (a write that the server stops taking, or a reply that does not come), rides it
/// out, and after the heal the day is whole, every reading exactly once.
#[test]
fn heavy_partition_producer_rides_out_20s() {
    let namespace = Namespace::create();
    let server = Server::start_in(&namespace, &[]);
    let args = [
        "--date",
        DATE,
        "--sensors",
        "10",
        "--timeout",
        &humantime(TIMEOUT),
        "--retry-for",
        RETRY_FOR,
    ]
    .map(String::from);
    let mut producer = start("producer", &server, &args);
    let mut con = server.con();
    wait_until("the producer is under way", || {
        xlen(&mut con, "chennai") > 100_000
    });
    namespace.partition();
    let took = noticed(&producer, &server, Instant::now());
    within(
        "producer noticed the partition",
        took,
        TIMEOUT + SLACK,
        &producer,
    );
    std::thread::sleep(PARTITION);
    namespace.heal();
    let took = resumed(&producer, Instant::now());
    within(
        "producer resumed after the heal",
        took,
        CONNECT_TIMEOUT + MAX_PAUSE + SLACK,
        &producer,
    );
    assert_eq!(producer.wait(), Some(0), "{}", producer.errors());
    support::assert_day_once(&mut server.con(), "chennai", 10);
}

/// Binaries at work on a server in a namespace of its own (fields in drop order: the server
/// and its namespace go last).
struct Busy {
    /// Consumers of group `mygroup` draining chennai, a few ms a message.
    consumers: Vec<Running>,
    /// Producers each writing a day of 10 sensors into a city of its own.
    producers: Vec<Running>,
    /// The server.
    server: Server,
    /// The server's namespace.
    namespace: Namespace,
}

/// Starts a server in a namespace of its own holding 2000 entries in chennai, a consumer for
/// each of `names` and a producer for each of `cities` (all with `--timeout` [`TIMEOUT`] and
/// `--retry-for` `retry_for`); returns once all of them are under way.
fn busy(names: &[&str], cities: &[&str], retry_for: &str) -> Busy {
    let namespace = Namespace::create();
    let server = Server::start_in(&namespace, &[]);
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "2000"],
    ));
    let consumers: Vec<Running> = names
        .iter()
        .map(|name| {
            let mut args = consumer_args("mygroup", retry_for);
            args.extend([name, "--delay", "5ms"].map(String::from));
            start("consumer", &server, &args)
        })
        .collect();
    let producers: Vec<Running> = cities
        .iter()
        .map(|city| {
            let args = [
                "--date",
                DATE,
                "--city",
                city,
                "--sensors",
                "10",
                "--timeout",
                &humantime(TIMEOUT),
                "--retry-for",
                retry_for,
            ];
            start("producer", &server, &args.map(String::from))
        })
        .collect();
    let mut con = server.con();
    wait_until("all are under way", || {
        consumers.iter().all(|c| c.lines().len() >= 50)
            && cities.iter().all(|city| xlen(&mut con, city) > 100_000)
    });
    Busy {
        consumers,
        producers,
        server,
        namespace,
    }
}

/// Ctrl-C during a partition stops a consumer (exit 0: a consumer stopped is done; what it held
/// stays pending) and a producer (exit 130: stopped before done) within a moment: right after
/// the cut, while each waits on the silent server (bounded by the grace a stop gives a reply),
/// and later, while each reconnects (a connect attempt looks at the stop every 100 ms).
#[test]
fn heavy_partition_ctrl_c_stops_within_a_moment() {
    let Busy {
        mut consumers,
        mut producers,
        server,
        namespace,
    } = busy(&["alice", "bob"], &["pune", "kochi"], RETRY_FOR);
    namespace.partition();
    // The first of each: stopped at once, in the middle of an exchange with the silent server.
    for (binary, code) in [(&mut consumers[0], 0), (&mut producers[0], 130)] {
        let (exit, took) = interrupt(binary);
        within("stopped mid-exchange", took, STOP_GRACE + SLACK, binary);
        assert_eq!(exit, Some(code), "{}", binary.errors());
    }
    // The second of each: stopped while it reconnects.
    for (binary, code) in [(&mut consumers[1], 0), (&mut producers[1], 130)] {
        noticed(binary, &server, Instant::now());
        let (exit, took) = interrupt(binary);
        within("stopped while reconnecting", took, SLACK, binary);
        assert_eq!(exit, Some(code), "{}", binary.errors());
    }
}

/// A partition longer than `--retry-for`: the consumer and the producer each exit 3 with one
/// line naming the server's address, within the time to notice, `--retry-for`, and the last
/// short connect attempt; no hang.
#[test]
fn heavy_partition_longer_than_retry_for_gives_up() {
    let retry_for = Duration::from_secs(5);
    let Busy {
        consumers,
        producers,
        server,
        namespace,
    } = busy(&["alice"], &["pune"], &humantime(retry_for));
    namespace.partition();
    let mut binaries: Vec<Running> = consumers.into_iter().chain(producers).collect();
    let outcomes = all_exit(&mut binaries, Instant::now());
    let address = address(&server);
    let notices = [BLOCK + TIMEOUT, TIMEOUT];
    for ((binary, (code, took)), notice) in binaries.iter().zip(outcomes).zip(notices) {
        within("gave up", took, notice + retry_for + SLACK, binary);
        assert_eq!(code, Some(3), "{}", binary.errors());
        ends_saying(
            binary,
            &format!("lost the connection to Redis at {address} and gave up reconnecting after"),
        );
    }
}

/// A server partitioned before the binaries start: no SYN is answered, so each gives up within
/// its connect bound with exit 3 and one line naming the address; and Ctrl-C during that first
/// connect stops each within a moment.
#[test]
fn heavy_partition_at_start_fails_to_connect_in_time() {
    let namespace = Namespace::create();
    let server = Server::start_in(&namespace, &[]);
    namespace.partition();
    let address = address(&server);
    let timeout = ["--timeout", &humantime(TIMEOUT)].map(String::from);
    let binaries = || {
        [
            start(
                "consumer",
                &server,
                &[&["alice".to_string()][..], &timeout].concat(),
            ),
            start(
                "producer",
                &server,
                &[&["--date".to_string(), DATE.to_string()][..], &timeout].concat(),
            ),
        ]
    };
    let mut first = binaries();
    let outcomes = all_exit(&mut first, Instant::now());
    for (binary, (code, took)) in first.iter().zip(outcomes) {
        within("gave up connecting", took, CONNECT_TIMEOUT + SLACK, binary);
        assert_eq!(code, Some(3), "{}", binary.errors());
        ends_saying(binary, &format!("cannot connect to Redis at {address}"));
    }
    for (mut binary, code) in binaries().into_iter().zip([0, 130]) {
        // Well into its first connect attempt, which no answer ends.
        std::thread::sleep(Duration::from_millis(500));
        let (exit, took) = interrupt(&mut binary);
        within("stopped while connecting", took, SLACK, &binary);
        assert_eq!(exit, Some(code), "{}", binary.errors());
    }
}

//! A partition that isolates a Sentinel-watched master from its sentinels, its replicas and its
//! clients: the master runs in a network namespace of its own ([`support::Namespace`]), the
//! replicas, the three sentinels and the binaries in ours, so that `iptables -j DROP` inside it
//! cuts the master off from all of them at once, silently (no reset: only timeouts notice). The
//! sentinels (the majority) promote a replica; the clients notice within their timeouts, find
//! the new master through the sentinels and go on; then the partition heals and the sentinels
//! make the old master a replica of the new one. Root only; scripts/test.sh skips these,
//! loudly, without root.
//!
//! Every bound is derived from the limits the test sets (`--timeout`, `--block`, `--retry-for`,
//! the sentinels' `down-after-milliseconds`), the binaries' own (a connect attempt, the longest
//! pause between two), the failover as the sentinels made it, and [`SLACK`] for a busy 2-core
//! machine. Each test prints what it measured.

use std::time::{Duration, Instant};

use support::bounds::{BLOCK, MAX_PAUSE, RETRY_FOR, SLACK, TIMEOUT, humantime, within};
use support::failover::{DOWN_AFTER, SentinelSet, command_at};
use support::{CONNECT_TIMEOUT, DATE, Namespace, Running, spawn_command, wait_until, xlen};

/// The default `--wait-timeout`: one WAIT of `--wait-replicas` may block this long, then its
/// reply may take [`TIMEOUT`].
const WAIT_TIMEOUT: Duration = Duration::from_secs(1);

/// `--idle-exit` of the consumers: they leave once nothing came for this long, which must
/// outlast the failover (the cut noticed, the sentinels' down-after and election, a connect
/// attempt to the old master, a pause) and the producer's own way back.
const IDLE_EXIT: Duration = Duration::from_secs(15);

/// The replicas of the master: one is promoted, and the other, made its replica in the
/// failover, is what lets `--wait-replicas 1` go on before the old master comes back.
const REPLICAS: usize = 2;

/// Entries on the master when the partition comes: well into the day, far from its end.
const CUT_AT: u64 = 20_000;

/// Polls `conditions` together until each has held once (so each is timed alone): how long
/// since `since` each took to.
fn times(
    what: &str,
    since: Instant,
    conditions: &mut [Box<dyn FnMut() -> bool + '_>],
) -> Vec<Duration> {
    let mut took: Vec<Option<Duration>> = vec![None; conditions.len()];
    wait_until(what, || {
        for (condition, took) in conditions.iter_mut().zip(&mut took) {
            if took.is_none() && condition() {
                *took = Some(since.elapsed());
            }
        }
        took.iter().all(Option::is_some)
    });
    took.into_iter().map(Option::unwrap_or_default).collect()
}

/// Whether `client` said it lost the connection to `old` and, when `reconnected`, that it
/// reconnected after that.
fn said(client: &Running, old: &str, reconnected: bool) -> bool {
    let errors = client.errors();
    let lost = format!("lost the connection to {old}");
    errors
        .find(&lost)
        .is_some_and(|at| !reconnected || errors[at..].contains("reconnected to"))
}

/// What one run of [`partition_under_a_day`] saw.
struct Figures {
    /// The producer's stdout (its report).
    report: Vec<String>,
    /// Lines the consumers printed beyond one per entry of the day.
    duplicates: usize,
    /// From the cut until every sentinel named the promoted replica.
    promoted: Duration,
    /// From the cut until the last client reconnected to the new master.
    went_on: Duration,
    /// From the heal until the old master was a replica of the new one, in sync.
    rejoined: Duration,
    /// Entries on the master when the test decided to cut, at least.
    on_old: u64,
    /// Entries on the old master when it was cut off (read over its unix socket).
    kept_by_old: u64,
    /// Entries on the promoted replica when the promotion was seen.
    on_new: u64,
    /// Whether the producer had reconnected by then (then `on_new` may hold some it rewrote).
    producer_first: bool,
}

/// A Sentinel set whose master lives in a namespace, a producer writing a day through the
/// sentinels (`--wait-replicas 1` when `wait_replicas`) and two consumers (alice, bob) draining
/// it; the namespace is partitioned once the master holds [`CUT_AT`] entries, and healed once
/// every client has gone on with the promoted replica. Asserts that each client noticed within
/// its timeouts and went on within the failover's bound, that everyone exits 0, that the old
/// master is made a replica of the new one, and that the new master holds the day whole, each
/// second once, every entry processed by alice or bob, none pending.
fn partition_under_a_day(wait_replicas: bool) -> Figures {
    let namespace = Namespace::create();
    let set = SentinelSet::start_in(&namespace, REPLICAS);
    let url = set.url();
    let old = format!("{}:{}", namespace.address(), set.master_port());
    let consumer = |name: &str| {
        let mut cmd = command_at("consumer", &url);
        cmd.args([name, "--timeout", &humantime(TIMEOUT)])
            .args(["--block", &humantime(BLOCK), "--retry-for", RETRY_FOR])
            .args(["--idle-exit", &humantime(IDLE_EXIT)]);
        spawn_command(cmd)
    };
    let (mut alice, mut bob) = (consumer("alice"), consumer("bob"));
    let mut producer = {
        let mut cmd = command_at("producer", &url);
        cmd.args(["--date", DATE, "--batch", "10"]).args([
            "--timeout",
            &humantime(TIMEOUT),
            "--retry-for",
            RETRY_FOR,
        ]);
        if wait_replicas {
            cmd.args(["--wait-replicas", "1"]);
        }
        spawn_command(cmd)
    };
    let mut master = set.master();
    wait_until("the producer is well into the day", || {
        xlen(&mut master, "chennai") >= CUT_AT
    });
    let on_old = xlen(&mut master, "chennai");
    drop(master);
    namespace.partition();
    let cut = Instant::now();
    let clients = [&producer, &alice, &bob];
    let old_port = set.nodes[0].port;
    // The promoted replica's entries when the promotion is seen, and whether the producer had
    // reconnected by then (then it may have written there already).
    let mut at_promotion = None;
    let mut conditions: Vec<Box<dyn FnMut() -> bool>> = vec![Box::new(|| {
        let done = set.failed_over(old_port);
        if done {
            let entries = xlen(&mut set.master(), "chennai");
            at_promotion = Some((entries, said(&producer, &old, true)));
        }
        done
    })];
    for client in clients {
        let old = old.as_str();
        conditions.push(Box::new(move || said(client, old, false)));
        conditions.push(Box::new(move || said(client, old, true)));
    }
    let took = times(
        "the failover, and every client going on",
        cut,
        &mut conditions,
    );
    drop(conditions);
    let promoted = took[0];
    // A client may still be in the connect attempt that went to the old master (a sentinel
    // named it until the promotion), then pause once before the next.
    let bound = promoted + CONNECT_TIMEOUT + MAX_PAUSE + SLACK;
    // A producer may be waiting on a WAIT; a consumer, on its blocking read.
    let waiting = if wait_replicas {
        WAIT_TIMEOUT
    } else {
        Duration::ZERO
    };
    let notice = [TIMEOUT + waiting, BLOCK + TIMEOUT, BLOCK + TIMEOUT];
    for ((client, took), notice) in clients.iter().zip(took[1..].chunks(2)).zip(notice) {
        within("noticed the partition", took[0], notice + SLACK, client);
        within("went on with the new master", took[1], bound, client);
    }
    let went_on = took[1..].chunks(2).map(|t| t[1]).max().unwrap_or_default();
    // The consumers are idle from the cut until the producer writes on the new master.
    assert!(
        went_on + SLACK < IDLE_EXIT,
        "the failover ({went_on:.2?}) came too close to the consumers' --idle-exit"
    );
    // Nothing reached the old master since the cut: what it holds is what it held then.
    let kept_by_old = xlen(&mut set.first_master_unix(), "chennai");
    let (on_new, producer_first) = at_promotion.unwrap_or_default();
    namespace.heal();
    let healed = Instant::now();
    set.wait_rejoined(0);
    let rejoined = healed.elapsed();
    assert_eq!(producer.wait(), Some(0), "{}", producer.errors());
    assert_eq!(alice.wait(), Some(0), "{}", alice.errors());
    assert_eq!(bob.wait(), Some(0), "{}", bob.errors());
    let mut con = set.master();
    support::assert_day_once(&mut con, "chennai", 1);
    let lines = [alice.lines(), bob.lines()].concat();
    let processed = support::stream_ids(&lines);
    let missing: Vec<String> = support::whole_day()
        .into_iter()
        .filter(|id| !processed.contains(&(String::from("chennai"), id.clone())))
        .collect();
    assert!(
        missing.is_empty(),
        "{} entries never processed (first {:?})\nalice: {}\nbob: {}",
        missing.len(),
        missing.first(),
        alice.errors(),
        bob.errors()
    );
    assert_eq!(support::pending(&mut con, "chennai", "mygroup"), 0);
    Figures {
        report: producer.lines(),
        duplicates: lines.len() - processed.len(),
        promoted,
        went_on,
        rejoined,
        on_old,
        kept_by_old,
        on_new,
        producer_first,
    }
}

impl Figures {
    /// Prints the figures, for the run described by `what`.
    fn print(&self, what: &str) {
        let lost = self.kept_by_old.saturating_sub(self.on_new);
        let maybe = if self.producer_first { " at least" } else { "" };
        eprintln!(
            "figures: {what}: {} entries on the old master when cut off ({} when the cut was \
             decided), {} on the promoted replica: lost with the old master, and rewritten by \
             the producer:{maybe} {lost}; promoted {:.2?} after the cut (down-after \
             {DOWN_AFTER:?}); every client went on {:.2?} after it; the old master a replica \
             again {:.2?} after the heal; {} duplicates among the consumers; producer said: {:?}",
            self.kept_by_old,
            self.on_old,
            self.on_new,
            self.promoted,
            self.went_on,
            self.rejoined,
            self.duplicates,
            self.report
        );
    }
}

/// A partition that isolates the master from its sentinels and replicas under a producer with
/// `--wait-replicas 1` and two consumers: the majority promotes a replica, every client goes on
/// with it within the failover's bound, and the new master ends with the day whole, each second
/// once, every entry processed at least once and none pending.
#[test]
fn heavy_failover_partition_durable_producer_and_consumers_lose_nothing() {
    partition_under_a_day(true).print("--wait-replicas 1");
}

/// The same partition under a producer without `--wait-replicas`: whatever the old master had
/// not passed on is gone with it, and the running producer, resuming from the new master's last
/// ID, writes it again: the day still ends whole, each second once, and the consumers lose
/// nothing.
#[test]
fn heavy_failover_partition_producer_without_wait_ends_the_day_whole() {
    partition_under_a_day(false).print("no --wait-replicas");
}

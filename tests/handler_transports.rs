//! The handler modes (`consumer --exec`, `consumer --pipe`) over a Redis Cluster (`--cluster`,
//! six cities on three masters) and over TLS (`rediss://` with a private CA): every entry is
//! handed to the handler once and acknowledged, and nothing stays pending.

use std::collections::BTreeMap;
use std::process::{Command, Output, Stdio};

use support::{CITIES, Cluster, DATE, Server, city_args, make_certificates, stderr, stdout};

/// Entries per city.
const PER_CITY: u64 = 50;

/// An `--exec` handler that names what it was handed.
const EXEC: &str = r#"echo "handled $MONSOON_STREAM $MONSOON_ID""#;

/// A `--pipe` handler that names what it was sent (`alice STREAM ID ...`) and acks it.
const PIPE: &str = r#"awk '{ print "handled", $2, $3; print "ack", $2, $3; fflush() }'"#;

/// How many times each (stream, ID) was handled, from the handler's `handled STREAM ID` lines.
fn handled(out: &Output) -> BTreeMap<(String, String), u32> {
    let mut times = BTreeMap::new();
    for line in stdout(out).lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        assert_eq!(parts.len(), 3, "not a handler line: {line}");
        assert_eq!(parts[0], "handled", "{line}");
        *times
            .entry((parts[1].to_string(), parts[2].to_string()))
            .or_insert(0) += 1;
    }
    times
}

/// Asserts that `out` is a successful run that handled each of `PER_CITY` entries of every one
/// of `cities` exactly once.
fn assert_each_handled_once(out: &Output, cities: &[&str]) {
    assert!(out.status.success(), "{}", stderr(out));
    let times = handled(out);
    assert!(times.values().all(|n| *n == 1), "handled twice: {times:?}");
    for city in cities {
        let of_city = times.keys().filter(|(stream, _)| stream == city).count() as u64;
        assert_eq!(of_city, PER_CITY, "{city}: {}", stderr(out));
    }
    assert_eq!(times.len() as u64, PER_CITY * cities.len() as u64);
}

/// The group's (entries-read, pending) in an `XINFO GROUPS` reply with one group.
fn read_and_pending(groups: Vec<std::collections::HashMap<String, redis::Value>>) -> (u64, u64) {
    assert_eq!(groups.len(), 1, "{groups:?}");
    let number = |name: &str| redis::from_redis_value(groups[0][name].clone()).unwrap();
    (number("entries-read"), number("pending"))
}

/// Writes `PER_CITY` readings of DATE into each city with the producer, `args` naming the
/// server and the cities.
fn produce(args: &[&str]) {
    let out = Command::new(support::bin("producer"))
        .args(["--date", DATE, "--count", &PER_CITY.to_string()])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Runs `consumer alice` on every city of the cluster with the handler flags `mode`.
fn consume_on_cluster(cluster: &Cluster, mode: &[&str]) -> Output {
    Command::new(support::bin("consumer"))
        .args(["alice", "--redis-url", &cluster.url(), "--cluster"])
        .args(["--idle-exit", "1s"])
        .args(mode)
        .args(city_args())
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `--exec` (four handlers at once) and `--pipe` over `--cluster`, each in a group of its own:
/// six cities in slots of all three masters, each entry handled once and acknowledged on its own
/// node, nothing pending.
#[test]
fn heavy_handlers_over_a_cluster() {
    let cluster = Cluster::start(&[]);
    produce(
        &[
            &["--redis-url", &cluster.url(), "--cluster"][..],
            &city_args(),
        ]
        .concat(),
    );
    for (group, mode) in [
        ("exec", ["--exec", EXEC, "--jobs", "4"]),
        ("pipe", ["--pipe", PIPE, "--in-flight", "7"]),
    ] {
        let out = consume_on_cluster(&cluster, &[&mode[..], &["--group", group]].concat());
        assert_each_handled_once(&out, &CITIES);
        for city in CITIES {
            let groups: Vec<_> = redis::cmd("XINFO")
                .arg("GROUPS")
                .arg(city)
                .query(&mut cluster.owner(city).con())
                .unwrap();
            let ours = groups
                .into_iter()
                .filter(|g: &std::collections::HashMap<String, redis::Value>| {
                    g["name"] == redis::Value::BulkString(group.as_bytes().to_vec())
                })
                .collect();
            assert_eq!(read_and_pending(ours), (PER_CITY, 0), "{city} in {group}");
        }
    }
}

/// `redis-cli --tls` against `server` with the CA in `certs`: the raw reply to `args`, one value
/// a line.
fn tls_cli(server: &Server, certs: &std::path::Path, args: &[&str]) -> Vec<String> {
    let out = Command::new("redis-cli")
        .args([
            "--tls",
            "--cacert",
            &certs.join("ca.pem").display().to_string(),
        ])
        .args(["-p", &server.port.to_string(), "--raw"])
        .args(args)
        .output()
        .expect("redis-cli is required (apt-get install redis-tools)");
    assert!(out.status.success(), "redis-cli {args:?}: {}", stderr(&out));
    stdout(&out).lines().map(String::from).collect()
}

/// `--exec` and `--pipe` over TLS (`rediss://`, a private CA), each in a group of its own on two
/// streams: each entry handled once and acknowledged, nothing pending.
#[test]
fn handlers_over_tls() {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let server = Server::start_tls(certs.path(), &["--tls-auth-clients", "no"]);
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let ca = certs.path().join("ca.pem").display().to_string();
    let cities = ["chennai", "pune"];
    let city_flags = ["--city", cities[0], "--city", cities[1]];
    produce(&[&["--redis-url", &url, "--tls-ca", &ca][..], &city_flags].concat());
    for (group, mode) in [
        ("exec", ["--exec", EXEC, "--jobs", "4"]),
        ("pipe", ["--pipe", PIPE, "--in-flight", "7"]),
    ] {
        let out = Command::new(support::bin("consumer"))
            .args(["alice", "--redis-url", &url, "--tls-ca", &ca])
            .args(["--idle-exit", "500ms", "--group", group])
            .args(mode)
            .args(city_flags)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_each_handled_once(&out, &cities);
        for city in cities {
            let flat = tls_cli(&server, certs.path(), &["XINFO", "GROUPS", city]);
            // Flat name/value pairs, one group after another: ours from its name on.
            let at = flat
                .windows(2)
                .position(|w| w[0] == "name" && w[1] == group)
                .unwrap_or_else(|| panic!("no group {group} on {city}: {flat:?}"));
            let ours = &flat[at..];
            let value = |name: &str| -> u64 {
                let i = ours.iter().position(|v| v == name).expect(name);
                ours[i + 1].parse().expect(name)
            };
            assert_eq!(
                (value("entries-read"), value("pending")),
                (PER_CITY, 0),
                "{city} in {group}"
            );
        }
    }
}

//! `inspect serve`: the page in a real headless Chromium (driven over WebDriver by Debian's
//! chromedriver), the event stream against `inspect watch --json`, the metrics against XINFO and
//! XPENDING, and the bad inputs: a port in use, a missing stream, browsers that come and go.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use support::{
    DATE, Running, Server, assert_ok, free_port, get, json_lines, run, scrape, serve_addr, signal,
    spawn, stderr, threads, value, wait_until,
};

/// Starts `inspect serve` on a free port with `args` after the streams.
fn start_serve(server: &Server, streams: &[&str], args: &[&str]) -> (Running, String) {
    let mut all = vec!["serve"];
    all.extend_from_slice(streams);
    all.extend_from_slice(&["--listen", "127.0.0.1:0"]);
    all.extend_from_slice(args);
    let serve = spawn("inspect", server, &all);
    let addr = serve_addr(&serve);
    (serve, addr)
}

/// An open `/events` stream, read frame by frame.
struct Events {
    reader: BufReader<TcpStream>,
}

impl Events {
    /// Connects and reads past the response head.
    fn open(addr: &str) -> Events {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(stream, "GET /events HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("HTTP/1.1 200"), "{line}");
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            if line.to_ascii_lowercase().starts_with("content-type") {
                assert!(line.contains("text/event-stream"), "{line}");
            }
        }
        Events { reader }
    }

    /// The next frame, parsed.
    fn next(&mut self) -> Value {
        let mut line = String::new();
        loop {
            line.clear();
            assert!(
                self.reader.read_line(&mut line).unwrap() > 0,
                "the stream ended"
            );
            if let Some(data) = line.strip_prefix("data: ") {
                return serde_json::from_str(data.trim_end()).unwrap();
            }
        }
    }

    /// The next frame for which `accept` holds (within the test's patience).
    fn until(&mut self, what: &str, accept: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + support::PATIENCE;
        loop {
            let frame = self.next();
            if accept(&frame) {
                return frame;
            }
            assert!(Instant::now() < deadline, "no frame: {what}\nlast: {frame}");
        }
    }
}

/// The stream object named `key` in a frame.
fn stream_of<'a>(frame: &'a Value, key: &str) -> &'a Value {
    frame["streams"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["stream"] == key))
        .unwrap_or_else(|| panic!("no stream {key} in {frame}"))
}

/// `serve --field` charts another field; a stream without `temperature` charts its first numeric
/// field; the chart's span carries the date, and the year when it crosses one.
#[test]
fn serve_charts_any_numeric_field() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "60"],
    ));
    let mut con = server.con();
    // Daily rows across a new year, without a temperature: its first numeric field is charted.
    for (ms, weather, temp_max) in [
        ("1356912000000", "rain", "8.3"),
        ("1356998400000", "sun", "7.2"),
        ("1357084800000", "rain", "6.1"),
    ] {
        let _: String = redis::cmd("XADD")
            .arg("seattle")
            .arg(format!("{ms}-0"))
            .arg("weather")
            .arg(weather)
            .arg("temp_max")
            .arg(temp_max)
            .query(&mut con)
            .unwrap();
    }
    let (mut serve, addr) = start_serve(&server, &["chennai", "seattle"], &["--interval", "200ms"]);
    let frame = Events::open(&addr).next();
    let chennai = stream_of(&frame, "chennai");
    assert_eq!(chennai["field"], "temperature");
    assert_eq!(chennai["span"], "08-15 00:00 – 08-15 00:00 UTC");
    let seattle = stream_of(&frame, "seattle");
    assert_eq!(seattle["field"], "temp_max");
    assert_eq!(seattle["span"], "2012-12-31 00:00 – 2013-01-02 00:00 UTC");
    let counted: u64 = seattle["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["count"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, 3);
    signal(&serve.child, "INT");
    assert_eq!(serve.wait(), Some(0), "{}", serve.errors());
    let (mut serve, addr) = start_serve(
        &server,
        &["chennai"],
        &["--interval", "200ms", "--field", "humidity"],
    );
    let frame = Events::open(&addr).next();
    assert_eq!(stream_of(&frame, "chennai")["field"], "humidity");
    signal(&serve.child, "INT");
    assert_eq!(serve.wait(), Some(0), "{}", serve.errors());
}

/// Each `/events` frame carries, per stream, the object `inspect watch --json` prints (same
/// keys, same figures while nothing moves) plus its chart points; `/metrics` parses and equals
/// XINFO and XPENDING; `/healthz` answers; nothing else is served.
#[test]
fn events_match_watch_and_metrics_match_the_server() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "600"],
    ));
    let mut con = server.con();
    support::create_group(&mut con, "chennai", "mygroup");
    support::read_without_ack(&mut con, "chennai", "mygroup", "bob", 2, ">");
    support::read_without_ack(&mut con, "chennai", "mygroup", "alice", 5, ">");
    let (mut serve, addr) = start_serve(&server, &["chennai"], &["--interval", "200ms"]);

    let watch = json_lines(&support::stdout(&run(
        "inspect",
        &server,
        &["watch", "chennai", "--json", "--frames", "1"],
    )))
    .remove(0);
    let frame = Events::open(&addr).next();
    assert_eq!(frame["redis"], "connected");
    assert_eq!(frame["group"], "mygroup");
    assert_eq!(frame["claim_idle_ms"], 30_000);
    let ours = stream_of(&frame, "chennai");
    for (name, value) in watch.as_object().unwrap() {
        assert!(ours.get(name).is_some(), "{name} missing from {ours}");
        if !matches!(name.as_str(), "time" | "rate" | "members") {
            assert_eq!(&ours[name], value, "{name}");
        }
    }
    let names = |v: &Value| -> Vec<(String, u64)> {
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_string(),
                    m["pending"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(names(ours), names(&watch));
    assert_eq!(names(ours), vec![("alice".into(), 5), ("bob".into(), 2)]);
    assert_eq!(ours["length"], 600);
    assert_eq!(ours["pending"], 7);
    assert_eq!(ours["lag"], 593);
    let points = ours["points"].as_array().unwrap();
    assert!(
        !points.is_empty() && points.len() <= 240,
        "{}",
        points.len()
    );
    let counted: u64 = points.iter().map(|p| p["count"].as_u64().unwrap()).sum();
    assert_eq!(counted, 600, "every reading is in the chart");

    let scraped = scrape(&addr);
    let stream = [("stream", "chennai")];
    let group = [("stream", "chennai"), ("group", "mygroup")];
    assert_eq!(
        value(&scraped, "monsoon_stream_length", &stream),
        Some(600.0)
    );
    assert_eq!(
        value(&scraped, "monsoon_stream_first_entry_time_seconds", &stream),
        Some(1534291200.0)
    );
    assert_eq!(
        value(&scraped, "monsoon_stream_last_entry_time_seconds", &stream),
        Some(1534291799.0)
    );
    assert_eq!(value(&scraped, "monsoon_group_lag", &group), Some(593.0));
    assert_eq!(value(&scraped, "monsoon_group_pending", &group), Some(7.0));
    assert_eq!(
        value(&scraped, "monsoon_group_entries_read", &group),
        Some(7.0)
    );
    assert_eq!(
        value(&scraped, "monsoon_group_consumers", &group),
        Some(2.0)
    );
    let bob = [
        ("stream", "chennai"),
        ("group", "mygroup"),
        ("consumer", "bob"),
    ];
    assert_eq!(value(&scraped, "monsoon_consumer_pending", &bob), Some(2.0));
    assert!(value(&scraped, "monsoon_consumer_idle_seconds", &bob).is_some());

    assert_eq!(get(&addr, "/healthz").0, 200);
    assert_eq!(get(&addr, "/nothing").0, 404);
    let (status, page) = get(&addr, "/");
    assert_eq!(status, 200);
    assert!(
        page.contains("EventSource(\"events\")"),
        "the page reads /events"
    );
    // The SVG namespace is a name, not a fetch; nothing else points outside.
    let outside = page.replace("http://www.w3.org/2000/svg", "");
    assert!(
        !outside.contains("http:") && !outside.contains("https:"),
        "nothing fetched from elsewhere"
    );
    assert!(
        !page.contains("<link") && !page.contains("src="),
        "no external script or style"
    );
    assert!(
        !page.contains(&server.url()),
        "the URL never reaches the page"
    );
    signal(&serve.child, "INT");
    assert_eq!(serve.wait(), Some(0), "{}", serve.errors());
}

/// A stream that does not exist yet is said so, and shown once it appears; a server that goes
/// away shows as "reconnecting" and the view recovers by itself; a port in use is exit 2.
#[test]
fn missing_streams_outages_and_ports_in_use() {
    let mut server = Server::start();
    let (mut serve, addr) = start_serve(&server, &["chennai"], &["--interval", "200ms"]);
    let mut events = Events::open(&addr);
    let frame = events.next();
    assert_eq!(stream_of(&frame, "chennai")["stream_exists"], false);
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "30"],
    ));
    events.until("the stream appears", |f| {
        f["streams"][0]["stream_exists"] == true && f["streams"][0]["length"] == 30
    });

    server.kill();
    let down = events.until("Redis is down", |f| f["redis"] == "reconnecting");
    assert!(
        down["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{down}"
    );
    assert_eq!(get(&addr, "/healthz").0, 503);
    server.restart();
    events.until("Redis is back", |f| f["redis"] == "connected");
    assert_eq!(get(&addr, "/healthz").0, 200);

    let taken = addr.clone();
    let out = run(
        "inspect",
        &server,
        &["serve", "chennai", "--listen", &taken],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("--listen") && stderr(&out).contains(&taken),
        "{}",
        stderr(&out)
    );
    assert_eq!(stderr(&out).lines().count(), 1, "{}", stderr(&out));
    signal(&serve.child, "INT");
    assert_eq!(serve.wait(), Some(0), "{}", serve.errors());
}

/// A hundred browsers that connect and leave cost nothing once gone (no thread stays behind),
/// and one that stays keeps getting frames meanwhile.
#[test]
fn heavy_browsers_come_and_go_without_leaking() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--date", DATE, "--count", "30"],
    ));
    let (mut serve, addr) = start_serve(&server, &["chennai"], &["--interval", "100ms"]);
    let mut staying = Events::open(&addr);
    staying.next();
    let pid = serve.child.id();
    let before = threads(pid);
    for _ in 0..100 {
        let mut events = Events::open(&addr);
        events.next();
        drop(events);
    }
    let first = staying.next()["time"].clone();
    let later = staying.next()["time"].clone();
    assert_ne!(first, later, "the staying browser gets new frames");
    // A browser's thread ends as it leaves, the last ones a moment after: the count comes back.
    wait_until("the threads of browsers that left end", || {
        threads(pid) <= before + 4
    });
    signal(&serve.child, "INT");
    assert_eq!(serve.wait(), Some(0), "{}", serve.errors());
}

/// A WebDriver session with Debian's chromedriver and headless Chromium.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

impl Browser {
    /// Starts chromedriver and a 1280x720 headless Chromium; fails loudly when they are not
    /// installed (`scripts/test.sh` installs them, or says it skips this test).
    fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian: apt-get install chromium chromium-driver)");
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
        };
        wait_until("chromedriver is ready", || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
                && browser.call("GET", "/status", None)["value"]["ready"] == true
        });
        let caps = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--window-size=1280,720", "--hide-scrollbars"]}}}});
        let session = browser.call("POST", "/session", Some(caps));
        browser.session = session["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {session}"))
            .to_string();
        // The window's size includes the browser's frame: the page itself gets exactly 1280x720.
        let path = format!("/session/{}/goog/cdp/execute", browser.session);
        let metrics = json!({"cmd": "Emulation.setDeviceMetricsOverride", "params":
            {"width": 1280, "height": 720, "deviceScaleFactor": 1, "mobile": false}});
        browser.call("POST", &path, Some(metrics));
        browser
    }

    /// One WebDriver request; the reply's JSON.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        // chromedriver keeps the connection open: the body is as long as Content-Length says.
        let mut reader = BufReader::new(stream);
        let mut length = 0;
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
            line.clear();
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        serde_json::from_slice(&body).unwrap_or(Value::Null)
    }

    /// Runs `script` in the page and returns its value.
    fn eval(&self, script: &str) -> Value {
        let path = format!("/session/{}/execute/sync", self.session);
        self.call("POST", &path, Some(json!({"script": script, "args": []})))["value"].clone()
    }

    /// Saves a PNG of the viewport to `path`.
    fn screenshot(&self, path: &PathBuf) {
        let reply = self.call(
            "GET",
            &format!("/session/{}/screenshot", self.session),
            None,
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(reply["value"].as_str().expect("a screenshot"))
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            self.call("DELETE", &format!("/session/{}", self.session), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// What the page shows, read from its visible text: per stream the length, and per consumer
/// the pending count and its mark; the status; and whether it scrolls.
const READ_PAGE: &str = r#"
const streams = {};
for (const card of document.querySelectorAll("[data-stream]")) {
  const consumers = {};
  for (const row of card.querySelectorAll("tr[data-consumer]")) {
    consumers[row.cells[0].textContent] = {
      pending: Number(row.querySelector(".pending").textContent),
      mark: row.querySelector(".mark").textContent,
    };
  }
  const length = card.querySelector(".length");
  const span = card.querySelector(".chartbox .span");
  const group = card.querySelector(".group");
  const lag = group ? group.querySelector("b") : null;
  streams[card.dataset.stream] = {
    length: length ? Number(length.textContent.replace(/[^0-9]/g, "")) : null,
    consumers,
    span: span ? span.textContent : null,
    lines: card.querySelectorAll("polyline.mean").length,
    lag: lag ? Number(lag.textContent) : null,
    groupLines: group
      ? Math.round(group.getBoundingClientRect().height / parseFloat(getComputedStyle(group).lineHeight))
      : null,
    groupFits: group ? group.scrollWidth <= group.clientWidth : null,
    columns: [...card.querySelectorAll("tr")].map(r =>
      [...r.cells].map(c => Math.round(c.getBoundingClientRect().left))),
  };
}
return {
  status: document.getElementById("status").textContent,
  streams,
  scrolls: document.documentElement.scrollHeight > window.innerHeight
    || document.documentElement.scrollWidth > window.innerWidth,
};
"#;

/// Entries pending on `consumer` of mygroup on `key`.
fn pending_on(con: &mut redis::Connection, key: &str, consumer: &str) -> u64 {
    let reply: Value = redis::cmd("XPENDING")
        .arg(key)
        .arg("mygroup")
        .query::<redis::Value>(con)
        .map(|v| match v {
            redis::Value::Array(items) => match items.get(3) {
                Some(redis::Value::Array(members)) => json!(
                    members
                        .iter()
                        .filter_map(|m| match m {
                            redis::Value::Array(pair) => Some((
                                redis::from_redis_value::<String>(pair[0].clone()).ok()?,
                                redis::from_redis_value::<String>(pair[1].clone()).ok()?,
                            )),
                            _ => None,
                        })
                        .collect::<std::collections::HashMap<_, _>>()
                ),
                _ => json!({}),
            },
            _ => json!({}),
        })
        .unwrap_or(json!({}));
    reply[consumer]
        .as_str()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The walkthrough in a real browser: while a producer writes two cities and alice, bob and
/// carol share them, the page shows the lengths and pending counts the server has; bob,
/// SIGKILLed with a message in hand, shows 1 pending, marked as claimable once idle past the
/// claim time, and 0 once alice has claimed it; everything fits 1280x720. The layout stays put:
/// the table's columns do not move when bob's `claimable` tag appears, and the group's line
/// stays one line, whole, with a five-digit lag. Saves a screenshot
/// (target/screenshots/inspect-serve.png).
#[test]
fn heavy_browser_shows_the_walkthrough() {
    let server = Server::start();
    let cities = ["--city", "chennai", "--city", "pune"];
    let mut producer = spawn(
        "producer",
        &server,
        &[
            &["--live", "--interval", "100ms", "--count", "60"][..],
            &cities,
        ]
        .concat(),
    );
    // The page marks bob claimable after 3 s; alice and carol take his message after 5 s, so
    // the mark stays up for 2 s at least (with one --claim-idle for both, the consumers' sweep
    // could take it within one page sample of its appearing).
    let consumer = |name: &str| {
        spawn(
            "consumer",
            &server,
            &[
                &[name, "--delay", "200ms", "--claim-idle", "5s"][..],
                &cities,
            ]
            .concat(),
        )
    };
    let mut alice = consumer("alice");
    let mut bob = consumer("bob");
    let mut carol = consumer("carol");
    let (mut serve, addr) = start_serve(
        &server,
        &["chennai", "pune"],
        &["--claim-idle", "3s", "--interval", "250ms"],
    );
    let browser = Browser::start();
    let path = format!("/session/{}/url", browser.session);
    browser.call(
        "POST",
        &path,
        Some(json!({"url": format!("http://{addr}/")})),
    );
    let mut con = server.con();

    wait_until(
        "the page shows both streams and all three consumers",
        || {
            let page = browser.eval(READ_PAGE);
            ["chennai", "pune"].iter().all(|s| {
                let consumers = &page["streams"][s]["consumers"];
                ["alice", "bob", "carol"]
                    .iter()
                    .all(|c| consumers.get(c).is_some())
            })
        },
    );
    // Every row's cells start where the header's do; bob's tag will not move them.
    let columns = browser.eval(READ_PAGE)["streams"]["chennai"]["columns"].clone();
    let rows = columns.as_array().expect("the table's rows");
    assert!(
        rows.len() == 4 && rows.iter().all(|r| *r == rows[0]),
        "{columns}"
    );
    wait_until("bob holds a message of chennai", || {
        pending_on(&mut con, "chennai", "bob") == 1
    });
    signal(&bob.child, "KILL");
    bob.wait();
    wait_until("the page shows bob holding it, claimable", || {
        let page = browser.eval(READ_PAGE);
        let bob = &page["streams"]["chennai"]["consumers"]["bob"];
        bob["pending"] == 1 && bob["mark"] == "claimable"
    });
    browser.screenshot(
        &PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("..")
            .join("screenshots")
            .join("inspect-serve.png"),
    );
    let page = browser.eval(READ_PAGE);
    assert_eq!(page["status"], "live");
    assert_eq!(
        page["streams"]["chennai"]["columns"], columns,
        "the columns moved when bob's tag appeared"
    );
    // The chart is labelled with its field and its span's dates (`MM-DD HH:MM`), one line
    // while no reading is missing.
    let chennai = &page["streams"]["chennai"];
    let dated = |s: &str| {
        let bytes = s.as_bytes();
        bytes.len() == 11 && bytes[2] == b'-' && bytes[5] == b' ' && bytes[8] == b':'
    };
    assert!(
        chennai["span"].as_str().is_some_and(|s| {
            let times = s
                .strip_prefix("temperature, ")
                .and_then(|s| s.strip_suffix(" UTC"));
            times
                .and_then(|t| t.split_once(" – "))
                .is_some_and(|(a, b)| dated(a) && dated(b))
        }),
        "{page}"
    );
    assert_eq!(chennai["lines"], 1, "{page}");
    assert_eq!(
        page["scrolls"], false,
        "two streams and three consumers fit 1280x720"
    );
    wait_until("alice or carol claims bob's message", || {
        pending_on(&mut con, "chennai", "bob") == 0
    });
    wait_until("the page shows bob with nothing pending", || {
        browser.eval(READ_PAGE)["streams"]["chennai"]["consumers"]["bob"]["pending"] == 0
    });

    assert_eq!(producer.wait(), Some(0), "{}", producer.errors());
    for city in ["chennai", "pune"] {
        let length = support::xlen(&mut con, city);
        assert_eq!(length, 60);
        wait_until("the page shows the final length", || {
            browser.eval(READ_PAGE)["streams"][city]["length"] == length
        });
    }
    for consumer in [&mut alice, &mut carol] {
        signal(&consumer.child, "TERM");
        assert_eq!(consumer.wait(), Some(0), "{}", consumer.errors());
    }
    for city in ["chennai", "pune"] {
        wait_until("the page shows what the server says is pending", || {
            let shown = &browser.eval(READ_PAGE)["streams"][city]["consumers"];
            ["alice", "bob", "carol"]
                .iter()
                .all(|c| shown[c]["pending"] == pending_on(&mut con, city, c))
        });
    }
    // Twenty thousand readings nobody reads yet: a five-digit lag on one line, whole.
    assert_ok(&run(
        "producer",
        &server,
        &["--city", "pune", "--date", "2030-01-01", "--count", "20000"],
    ));
    // What alice and carol left unread when they stopped comes on top of the twenty thousand.
    let five_digits = |page: &Value| page["streams"]["pune"]["lag"].as_u64() >= Some(20_000);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let page = browser.eval(READ_PAGE);
        if five_digits(&page) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no five-digit lag on pune: {page}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pune = &browser.eval(READ_PAGE)["streams"]["pune"];
    assert_eq!(pune["groupLines"], 1, "{pune}");
    assert_eq!(pune["groupFits"], true, "{pune}");
    drop(browser);
    signal(&serve.child, "INT");
    assert_eq!(serve.wait(), Some(0), "{}", serve.errors());
}

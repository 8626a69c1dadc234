//! The HTTP endpoints (`inspect serve`, `consumer --metrics`) against hostile clients, over real
//! sockets: one that never reads its answers, one that sends a head without end, one that sends
//! it slowly, hundreds that hold connections open, more event streams than allowed. Each bound
//! is derived from the limit it exercises (`monsoon::http`).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use monsoon::http::{HEAD_DEADLINE, MAX_CONNECTIONS, MAX_HEAD, MAX_STREAMS, WRITE_TIMEOUT};
use support::{DATE, Running, Server, ThreadPeak, assert_ok, run, signal, wait_until};

/// Which endpoint a test runs against.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// `inspect serve chennai`.
    Serve,
    /// `consumer alice --metrics`.
    Consumer,
}

/// An endpoint under test: its process, its address and the server it reads.
struct Endpoint {
    /// The process serving.
    running: Running,
    /// Where it listens (`127.0.0.1:PORT`).
    addr: String,
    /// Its Redis (kept alive for the endpoint's sake).
    _server: Server,
}

impl Endpoint {
    /// Starts `kind` on a free port (inside `peak`'s cgroup if given), on a stream of 30
    /// entries, and waits until `/healthz` says 200.
    fn start(kind: Kind, peak: Option<&ThreadPeak>) -> Endpoint {
        let server = Server::start();
        assert_ok(&run(
            "producer",
            &server,
            &["--date", DATE, "--count", "30"],
        ));
        let (name, args): (&str, &[&str]) = match kind {
            Kind::Serve => (
                "inspect",
                &[
                    "serve",
                    "chennai",
                    "--listen",
                    "127.0.0.1:0",
                    "--interval",
                    "200ms",
                ],
            ),
            Kind::Consumer => ("consumer", &["alice", "--metrics", "127.0.0.1:0"]),
        };
        let mut cmd = support::command(name, &server);
        cmd.args(args);
        let running = support::spawn_command(match peak {
            Some(peak) => peak.command(&cmd),
            None => cmd,
        });
        let mut addr = None;
        wait_until("the endpoint says where it listens", || {
            let said = format!("{}\n{}", running.lines().join("\n"), running.errors());
            addr = said.lines().find_map(|line| {
                let rest = line
                    .strip_prefix("inspect serve: open http://")
                    .or_else(|| line.strip_prefix("monsoon: metrics on http://"))?;
                Some(rest.split('/').next()?.to_string())
            });
            addr.is_some()
        });
        let endpoint = Endpoint {
            running,
            addr: addr.unwrap(),
            _server: server,
        };
        wait_until("the endpoint is healthy", || {
            ask(&endpoint.addr, "/healthz", WRITE_TIMEOUT).0 == 200
        });
        endpoint
    }

    /// The process's id.
    fn pid(&self) -> u32 {
        self.running.child.id()
    }

    /// Stops it with Ctrl-C; it exits 0.
    fn stop(mut self) {
        signal(&self.running.child, "INT");
        assert_eq!(self.running.wait(), Some(0), "{}", self.running.errors());
    }
}

impl Drop for Endpoint {
    /// A test that failed leaves no endpoint running (after [`Endpoint::stop`]: nothing to do).
    fn drop(&mut self) {
        let _ = self.running.child.kill();
    }
}

/// GET `path` on a connection of its own, waiting at most `patience` for the answer: its status
/// (0 when none came) and body.
fn ask(addr: &str, path: &str, patience: Duration) -> (u16, String) {
    let Ok(mut stream) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    stream.set_read_timeout(Some(patience)).unwrap();
    if write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").is_err() {
        return (0, String::new());
    }
    let reply = read_what_comes(&mut stream);
    support::status_and_body(&reply)
}

/// What `stream` sends until it ends, breaks or stays silent for its read timeout.
fn read_what_comes(stream: &mut TcpStream) -> String {
    let mut reply = Vec::new();
    let mut chunk = [0; 4096];
    while let Ok(n @ 1..) = stream.read(&mut chunk) {
        reply.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&reply).into_owned()
}

/// A field of `/proc/PID/status` in bytes (`VmHWM`, `VmRSS`: given there in kB).
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kb: u64 = line.trim().trim_end_matches(" kB").trim().parse().unwrap();
    kb * 1024
}

/// How long a write may make no progress before the test takes the endpoint to have stopped
/// reading (it is busy writing answers nobody reads).
const STALL: Duration = Duration::from_secs(1);

/// A client that pipelines thousands of GETs and never reads the answers: once the endpoint is
/// stuck writing to it, another client's `/healthz` is answered at once (well within the write
/// timeout: it never waits on that client), and the hostile one is dropped by the write timeout.
fn a_client_that_never_reads_blocks_only_itself(kind: Kind) {
    let endpoint = Endpoint::start(kind, None);
    let mut hostile = TcpStream::connect(&endpoint.addr).unwrap();
    hostile.set_write_timeout(Some(STALL)).unwrap();
    let requests = "GET / HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
    let mut sent = 0;
    loop {
        match hostile.write(requests.as_bytes()) {
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("the endpoint dropped a client still sending: {e}"),
        }
        assert!(sent < 1 << 30, "the endpoint reads without end");
    }
    let stuck = Instant::now();
    for _ in 0..5 {
        let asked = Instant::now();
        let (status, body) = ask(&endpoint.addr, "/healthz", WRITE_TIMEOUT);
        assert_eq!((status, body.as_str()), (200, "ok\n"), "{kind:?}");
        assert!(
            asked.elapsed() < WRITE_TIMEOUT / 5,
            "{kind:?}: /healthz took {:?} beside a client that does not read",
            asked.elapsed()
        );
    }
    // The hostile client is cut off once a write to it has waited WRITE_TIMEOUT.
    let dropped = loop {
        match hostile.write(requests.as_bytes()) {
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => break stuck.elapsed(),
        }
        assert!(
            stuck.elapsed() < WRITE_TIMEOUT + 3 * STALL,
            "{kind:?}: a client that never reads is still connected"
        );
    };
    assert!(dropped <= WRITE_TIMEOUT + 2 * STALL, "{dropped:?}");
    endpoint.stop();
}

/// `inspect serve`: a client that never reads blocks only its own connection.
#[test]
fn serve_a_client_that_never_reads_blocks_only_itself() {
    a_client_that_never_reads_blocks_only_itself(Kind::Serve);
}

/// `consumer --metrics`: a client that never reads blocks only its own connection.
#[test]
fn metrics_a_client_that_never_reads_blocks_only_itself() {
    a_client_that_never_reads_blocks_only_itself(Kind::Consumer);
}

/// A header line without end (up to 96 MiB sent): the endpoint answers 431 and closes once the
/// head passes MAX_HEAD, and its peak memory (VmHWM) grows by far less than what was sent.
fn an_endless_header_line_costs_no_memory(kind: Kind) {
    const SENT: usize = 96 << 20;
    let endpoint = Endpoint::start(kind, None);
    let pid = endpoint.pid();
    let before = status_bytes(pid, "VmHWM");
    let mut client = TcpStream::connect(&endpoint.addr).unwrap();
    client.set_write_timeout(Some(WRITE_TIMEOUT)).unwrap();
    client
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Endless: ")
        .unwrap();
    let chunk = vec![b'a'; 1 << 20];
    let mut sent = 0;
    let cut = loop {
        if sent >= SENT {
            break false;
        }
        match client.write(&chunk) {
            Ok(n) => sent += n,
            Err(_) => break true,
        }
    };
    client.set_read_timeout(Some(WRITE_TIMEOUT)).unwrap();
    let reply = read_what_comes(&mut client);
    let grown = status_bytes(pid, "VmHWM").saturating_sub(before);
    assert!(
        grown < 16 << 20,
        "{kind:?}: peak RSS grew by {} MiB for {} MiB of header",
        grown >> 20,
        sent >> 20
    );
    assert!(
        cut,
        "{kind:?}: {} MiB of one header line were taken",
        sent >> 20
    );
    assert!(
        sent < SENT / 2,
        "{kind:?}: cut off only after {} MiB (MAX_HEAD is {MAX_HEAD} bytes)",
        sent >> 20
    );
    assert!(
        reply.starts_with("HTTP/1.1 431 ") && reply.contains("Connection: close"),
        "{kind:?}: {reply:?}"
    );
    assert_eq!(ask(&endpoint.addr, "/healthz", WRITE_TIMEOUT).0, 200);
    endpoint.stop();
}

/// `inspect serve`: an endless header line is refused in constant memory.
#[test]
fn heavy_serve_an_endless_header_line_costs_no_memory() {
    an_endless_header_line_costs_no_memory(Kind::Serve);
}

/// `consumer --metrics`: an endless header line is refused in constant memory.
#[test]
fn heavy_metrics_an_endless_header_line_costs_no_memory() {
    an_endless_header_line_costs_no_memory(Kind::Consumer);
}

/// A request whose head is sent a byte a second is answered 408 and closed at HEAD_DEADLINE
/// (the deadline is the whole head's, not each read's), and an idle kept-alive connection is
/// closed at HEAD_DEADLINE after its last answer; neither before it.
fn slow_heads_and_idle_connections_are_closed_at_the_deadline(kind: Kind) {
    let endpoint = Endpoint::start(kind, None);
    let mut idle = TcpStream::connect(&endpoint.addr).unwrap();
    write!(idle, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut slow = TcpStream::connect(&endpoint.addr).unwrap();
    let started = Instant::now();
    write!(slow, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut reply = Vec::new();
    let mut chunk = [0; 1024];
    let closed = loop {
        match slow.read(&mut chunk) {
            Ok(0) => break started.elapsed(),
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if slow.write_all(b"x").is_err() {
                    break started.elapsed();
                }
            }
            Err(_) => break started.elapsed(),
        }
        assert!(
            started.elapsed() < 2 * HEAD_DEADLINE,
            "{kind:?}: a head sent a byte a second is still being read"
        );
    };
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        closed >= HEAD_DEADLINE * 9 / 10,
        "{kind:?}: closed after {closed:?}"
    );
    assert!(reply.starts_with("HTTP/1.1 408 "), "{kind:?}: {reply:?}");

    // The idle connection got its answer, then nothing, and was closed meanwhile.
    idle.set_read_timeout(Some(HEAD_DEADLINE)).unwrap();
    let answer = read_what_comes(&mut idle);
    assert!(answer.starts_with("HTTP/1.1 200 "), "{kind:?}: {answer:?}");
    assert!(answer.ends_with("\r\n\r\nok\n"), "{kind:?}: {answer:?}");
    let mut rest = [0; 16];
    assert!(
        matches!(idle.read(&mut rest), Ok(0) | Err(_)),
        "{kind:?}: an idle connection stays open"
    );
    assert!(started.elapsed() < 2 * HEAD_DEADLINE);
    endpoint.stop();
}

/// `inspect serve`: slow heads and idle connections are closed at the head deadline.
#[test]
fn serve_slow_heads_and_idle_connections_are_closed_at_the_deadline() {
    slow_heads_and_idle_connections_are_closed_at_the_deadline(Kind::Serve);
}

/// `consumer --metrics`: slow heads and idle connections are closed at the head deadline.
#[test]
fn metrics_slow_heads_and_idle_connections_are_closed_at_the_deadline() {
    slow_heads_and_idle_connections_are_closed_at_the_deadline(Kind::Consumer);
}

/// 300 connections that send half a request and wait: at most MAX_CONNECTIONS are held (the
/// rest answered 503 at once), the process's threads never exceed MAX_CONNECTIONS more than
/// before (its pids cgroup's peak), a new client is refused with 503 meanwhile, and served
/// again once they are gone.
fn hundreds_of_half_open_connections_are_capped(kind: Kind) {
    const HELD: usize = 300;
    let peak = ThreadPeak::create();
    let endpoint = Endpoint::start(kind, Some(&peak));
    let before = peak.peak();
    let held: Vec<TcpStream> = (0..HELD)
        .map(|_| {
            let mut stream = TcpStream::connect(&endpoint.addr).unwrap();
            write!(stream, "GET /healthz HTTP/1.1\r\n").unwrap();
            stream
        })
        .collect();
    let opened = Instant::now();
    let (status, body) = ask(&endpoint.addr, "/healthz", WRITE_TIMEOUT);
    assert_eq!(status, 503, "{kind:?}: {body}");
    assert!(body.starts_with("busy"), "{kind:?}: {body}");
    let refused = held
        .iter()
        .filter(|stream| {
            // Refused at their accept: the answer is there already, or never comes.
            let mut stream: &TcpStream = stream;
            stream.set_nonblocking(true).unwrap();
            let mut head = [0; 12];
            matches!(stream.read(&mut head), Ok(12) if &head == b"HTTP/1.1 503")
        })
        .count();
    assert!(
        opened.elapsed() < HEAD_DEADLINE,
        "the test was too slow to see them held"
    );
    assert!(
        refused >= HELD - MAX_CONNECTIONS,
        "{kind:?}: {refused} of {HELD} refused"
    );
    let most = peak.peak();
    assert!(
        most <= before + MAX_CONNECTIONS + 2,
        "{kind:?}: {most} threads at most with {HELD} connections open ({before} before)"
    );
    drop(held);
    wait_until("the endpoint serves again", || {
        ask(&endpoint.addr, "/healthz", WRITE_TIMEOUT).0 == 200
    });
    endpoint.stop();
}

/// `inspect serve`: hundreds of half-open connections are capped.
#[test]
fn heavy_serve_hundreds_of_half_open_connections_are_capped() {
    hundreds_of_half_open_connections_are_capped(Kind::Serve);
}

/// `consumer --metrics`: hundreds of half-open connections are capped.
#[test]
fn heavy_metrics_hundreds_of_half_open_connections_are_capped() {
    hundreds_of_half_open_connections_are_capped(Kind::Consumer);
}

/// Opens `/events` and reads its head; the status line.
fn open_events(addr: &str) -> (TcpStream, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WRITE_TIMEOUT)).unwrap();
    write!(stream, "GET /events HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut head = Vec::new();
    let mut byte = [0];
    while !head.ends_with(b"\r\n\r\n") && matches!(stream.read(&mut byte), Ok(1)) {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head.lines().next().unwrap_or_default().to_string();
    (stream, status)
}

/// `inspect serve`: past MAX_STREAMS open `/events`, one more is answered 503 while `/healthz`
/// and the page still answer; a browser that leaves frees its place at once.
#[test]
fn event_streams_past_the_cap_are_refused() {
    let endpoint = Endpoint::start(Kind::Serve, None);
    let mut open: Vec<TcpStream> = (0..MAX_STREAMS)
        .map(|i| {
            let (stream, status) = open_events(&endpoint.addr);
            assert_eq!(status, "HTTP/1.1 200 OK", "stream {i}");
            stream
        })
        .collect();
    let (mut refused, status) = open_events(&endpoint.addr);
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
    let body = read_what_comes(&mut refused);
    assert!(body.starts_with("busy: "), "{body}");
    assert_eq!(
        ask(&endpoint.addr, "/healthz", WRITE_TIMEOUT),
        (200, "ok\n".into())
    );
    assert_eq!(ask(&endpoint.addr, "/", WRITE_TIMEOUT).0, 200);
    // The streams open still get frames.
    let mut seen = Vec::new();
    let mut chunk = [0; 1024];
    while !String::from_utf8_lossy(&seen).contains("data: {") {
        let n = open[0].read(&mut chunk).unwrap();
        assert!(n > 0, "the stream ended");
        seen.extend_from_slice(&chunk[..n]);
    }
    drop(open.pop());
    wait_until("a stream's place is free again", || {
        open_events(&endpoint.addr).1 == "HTTP/1.1 200 OK"
    });
    endpoint.stop();
}

//! Shared test support: private redis-servers on free ports, the binaries, polling helpers.
//!
//! Every test starts its own server in its own temp dir and kills it when dropped; nothing here
//! ever talks to the server on 6379. A missing redis-server fails the test loudly.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod netns;
pub use netns::Namespace;
pub mod bounds;
pub mod failover;

/// How long any awaited condition may take on a slow, shared 2-core machine.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// The date every test produces: a default of "yesterday" would move at midnight.
pub const DATE: &str = "2018-08-15";

/// The server binary: `SERVER_BIN` (e.g. valkey-server) or redis-server.
pub fn server_bin() -> String {
    std::env::var("SERVER_BIN").unwrap_or_else(|_| String::from("redis-server"))
}

/// A private redis-server on a free port and a temp dir, killed on drop.
pub struct Server {
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    extra: Vec<String>,
    /// Serves TLS only (on `port`); readiness is then a TCP connect.
    tls: bool,
    /// Where it listens: 127.0.0.1, or the address of its own network namespace.
    host: String,
    /// The network namespace it runs in (`None`: ours).
    netns: Option<String>,
}

impl Server {
    /// Starts a plain server (no persistence).
    pub fn start() -> Server {
        Server::start_with(&[])
    }

    /// Starts a server with extra arguments (e.g. `--appendonly yes`).
    pub fn start_with(extra: &[&str]) -> Server {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        // Binding port 0 and handing the port on is racy: retry on a failed start.
        for _ in 0..10 {
            let dir = tempfile::tempdir().expect("a temp dir for the server");
            let mut server = Server {
                port: free_port(),
                dir,
                child: None,
                extra: extra.clone(),
                tls: false,
                host: String::from("127.0.0.1"),
                netns: None,
            };
            if server.spawn() {
                return server;
            }
        }
        panic!(
            "could not start {} on a free port after 10 tries",
            server_bin()
        );
    }

    /// Starts redis-server (always Redis: Valkey's wheel is built without TLS) serving TLS only
    /// on its port, with the PEM files in `certs` (see [`make_certificates`]) and `extra` flags.
    pub fn start_tls(certs: &Path, extra: &[&str]) -> Server {
        for _ in 0..10 {
            let port = free_port();
            let file = |name: &str| certs.join(name).display().to_string();
            let mut args: Vec<String> = vec![
                "--tls-port".into(),
                port.to_string(),
                "--tls-cert-file".into(),
                file("server.pem"),
                "--tls-key-file".into(),
                file("server.key"),
                "--tls-ca-cert-file".into(),
                file("ca.pem"),
            ];
            args.extend(extra.iter().map(|s| s.to_string()));
            let dir = tempfile::tempdir().expect("a temp dir for the server");
            let mut server = Server {
                port,
                dir,
                child: None,
                extra: args,
                tls: true,
                host: String::from("127.0.0.1"),
                netns: None,
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("could not start redis-server with TLS after 10 tries");
    }

    /// Starts a plain server inside `namespace` (see [`Namespace`]), listening on its address
    /// only, so that [`Namespace::partition`] cuts every client off it. Protected mode is off:
    /// the clients come from outside the server's loopback.
    pub fn start_in(namespace: &Namespace, extra: &[&str]) -> Server {
        let mut args = vec![String::from("--protected-mode"), String::from("no")];
        args.extend(extra.iter().map(|s| s.to_string()));
        let dir = tempfile::tempdir().expect("a temp dir for the server");
        let mut server = Server {
            // The namespace is new and empty: every port in it is free.
            port: 6380,
            dir,
            child: None,
            extra: args,
            tls: false,
            host: namespace.address().to_string(),
            netns: Some(namespace.name().to_string()),
        };
        assert!(
            server.spawn(),
            "could not start {} in network namespace {}: {}",
            server_bin(),
            namespace.name(),
            server.log()
        );
        server
    }

    /// The server's command line: `bin` on `port` (0: no plain port) in the temp dir, saving
    /// nothing on its own, logging to server.log, with the extra arguments.
    fn command(&self, bin: &str, port: u16) -> Command {
        // `ip netns exec` execs the server in place: the child's PID is the server's.
        let mut cmd = match &self.netns {
            None => Command::new(bin),
            Some(name) => {
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", name, bin]);
                cmd
            }
        };
        cmd.arg("--port")
            .arg(port.to_string())
            .arg("--bind")
            .arg(&self.host)
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg("no")
            .arg("--logfile")
            .arg(self.dir.path().join("server.log"))
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    /// Launches the process on `self.port`; true once it answers PING.
    fn spawn(&mut self) -> bool {
        let bin = if self.tls {
            String::from("redis-server")
        } else {
            server_bin()
        };
        let plain_port = if self.tls { 0 } else { self.port };
        let child = self.command(&bin, plain_port).spawn().unwrap_or_else(|e| {
            panic!("cannot run {bin}: {e}. Install it (Debian: apt-get install redis-server) or set SERVER_BIN")
        });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                return false; // exited: port taken, most likely
            }
            if self.tls {
                if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            // Any answer counts as up: a server with --requirepass answers PING with NOAUTH.
            let answer = redis::Client::open(self.url())
                .and_then(|c| c.get_connection())
                .and_then(|mut con| redis::cmd("PING").query::<String>(&mut con));
            if answer.is_ok() || answer.is_err_and(|e| e.code() == Some("NOAUTH")) {
                // A port taken by another test's server must not pass for ours.
                return self.answers_as_our_child();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        false
    }

    /// Whether the server answering on our port is our own child: its INFO `process_id` is our
    /// child's PID. (A server with --requirepass cannot be asked; it is trusted, as only the
    /// tests that set a password start one.) A stranger's server makes the start fail, and it is
    /// tried again on another port.
    pub fn answers_as_our_child(&mut self) -> bool {
        let Some(pid) = self.child.as_ref().map(Child::id) else {
            return false;
        };
        let info = redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .and_then(|mut con| redis::cmd("INFO").arg("server").query::<String>(&mut con));
        let answered = match info {
            Ok(info) => info
                .lines()
                .find_map(|l| l.strip_prefix("process_id:"))
                .and_then(|p| p.trim().parse::<u32>().ok()),
            Err(e) if e.code() == Some("NOAUTH") => return true,
            Err(_) => None,
        };
        if answered == Some(pid) {
            return true;
        }
        self.kill();
        false
    }

    /// `redis://<host>:<port>` (the host is 127.0.0.1 but in a [`Namespace`]).
    pub fn url(&self) -> String {
        format!("redis://{}:{}", self.host, self.port)
    }

    /// A fresh connection for the test's own checks.
    pub fn con(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .expect("connect to the test server")
    }

    /// Kills the server with SIGKILL (a crash) and waits for it to go.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and dir (after [`Server::kill`]).
    pub fn restart(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if self.spawn() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("could not restart the server on port {}", self.port);
    }

    /// Restarts the server (killed first) so that it loads its data slowly, answering LOADING
    /// for about `seconds`: it saves `seconds * 20` keys of 2 KB each uncompressed, then comes
    /// back with a 50 ms delay per key loaded and events processed after each key (the server's
    /// own test knobs, `key-load-delay` and `loading-process-events-interval-bytes`). Returns
    /// once the server answers, with LOADING.
    pub fn restart_loading(&mut self, seconds: u64) {
        let mut con = self.con();
        let value = "x".repeat(2_000);
        let mut pipe = redis::pipe();
        for key in 0..seconds * 20 {
            pipe.set(format!("load:{key}"), &value).ignore();
        }
        let _: () = pipe.query(&mut con).expect("the keys to load");
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("rdbcompression")
            .arg("no")
            .query(&mut con)
            .expect("CONFIG SET rdbcompression");
        let _: () = redis::cmd("SAVE").query(&mut con).expect("SAVE");
        self.kill();
        let plain = std::mem::take(&mut self.extra);
        self.extra = plain.clone();
        self.extra.extend(
            [
                "--key-load-delay",
                "50000",
                "--loading-process-events-interval-bytes",
                "1024",
            ]
            .map(String::from),
        );
        let bin = server_bin();
        let child = self
            .command(&bin, self.port)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
        self.child = Some(child);
        self.extra = plain;
        wait_until("the server answers LOADING", || {
            let answer = redis::Client::open(self.url())
                .and_then(|c| c.get_connection())
                .and_then(|mut con| redis::cmd("TYPE").arg("x").query::<String>(&mut con));
            answer.is_err_and(|e| e.code() == Some("LOADING"))
        });
    }

    /// Starts a replica of `master` (`--replicaof`) and waits until it is in sync: its link to
    /// the master is up and the master counts it online.
    pub fn start_replica(master: &Server) -> Server {
        master.sync_replicas_at_once();
        let port = master.port.to_string();
        let replica = Server::start_with(&["--replicaof", "127.0.0.1", &port]);
        wait_until("the replica's link to its master is up", || {
            replica
                .info("replication")
                .contains("master_link_status:up")
        });
        master.wait_online(&replica);
        replica
    }

    /// Makes this master sync a new replica at once (it waits 5 s by default for more to come).
    fn sync_replicas_at_once(&self) {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("repl-diskless-sync-delay")
            .arg(0)
            .query(&mut self.con())
            .expect("CONFIG SET repl-diskless-sync-delay");
    }

    /// Waits until this master counts `replica` online (in sync).
    fn wait_online(&self, replica: &Server) {
        let mark = format!("port={},state=online", replica.port);
        wait_until("the master counts its replica online", || {
            self.info("replication").contains(&mark)
        });
    }

    /// `INFO <section>` of the server.
    pub fn info(&self, section: &str) -> String {
        redis::cmd("INFO")
            .arg(section)
            .query(&mut self.con())
            .expect("INFO")
    }

    /// Sends the server's process a signal by name (`STOP`: it stops answering, as a server
    /// stalled on a disk or swapped out would; `CONT`: it goes on).
    pub fn signal(&self, name: &str) {
        signal(self.child.as_ref().expect("the server runs"), name);
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Path of one of monsoon's binaries: cargo builds them beside the test being run
/// (`target/<profile>/`, the test itself in its `deps/`).
pub fn bin(name: &str) -> PathBuf {
    let test = std::env::current_exe().expect("the test's own path");
    let deps = test.parent().expect("the test's folder");
    let path = deps.parent().expect("the profile's folder").join(name);
    assert!(
        path.exists(),
        "no binary {} (cargo builds it for the tests)",
        path.display()
    );
    path
}

/// The project's folder (where its Cargo.toml and README.md are).
pub fn project_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A command for a binary, pointed at `server`, with the environment cleared of our variables.
pub fn command(name: &str, server: &Server) -> Command {
    let mut cmd = Command::new(bin(name));
    cmd.env_remove("REDIS_URL")
        .env_remove("MONSOON_PREFIX")
        .arg("--redis-url")
        .arg(server.url());
    cmd
}

/// Runs a binary to the end and returns its output.
pub fn run(name: &str, server: &Server, args: &[&str]) -> Output {
    command(name, server)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the binary")
}

/// Stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts a successful exit, showing stderr otherwise.
pub fn assert_ok(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
}

/// Polls `condition` until it holds or [`PATIENCE`] runs out (then panics with `what`).
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if condition() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("timed out waiting for: {what}");
}

/// Sends a signal to a child process (`libc`-free: uses the `kill` command).
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} failed");
}

/// Kills every client connection of the server but `con`'s own (CLIENT KILL TYPE normal SKIPME
/// yes), as a network break would; returns how many were killed.
pub fn kill_clients(con: &mut redis::Connection) -> u64 {
    redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("normal")
        .arg("SKIPME")
        .arg("yes")
        .query(con)
        .expect("CLIENT KILL")
}

/// Number of entries pending in `group` on `key`.
pub fn pending(con: &mut redis::Connection, key: &str, group: &str) -> u64 {
    let Ok(summary) = redis::cmd("XPENDING")
        .arg(key)
        .arg(group)
        .query::<redis::Value>(con)
    else {
        return 0; // no group yet
    };
    match summary {
        redis::Value::Array(items) => match items.first() {
            Some(redis::Value::Int(n)) => *n as u64,
            _ => 0,
        },
        _ => 0,
    }
}

/// XLEN of `key`.
pub fn xlen(con: &mut redis::Connection, key: &str) -> u64 {
    redis::cmd("XLEN").arg(key).query(con).expect("XLEN")
}

/// A running binary whose stdout lines and stderr text are collected as they come.
pub struct Running {
    /// The process.
    pub child: Child,
    /// Stdout, line by line.
    pub lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Stderr, as text.
    pub errors: std::sync::Arc<std::sync::Mutex<String>>,
    /// The threads collecting stdout and stderr (done once the pipes close).
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// Starts `name` against `server` with `args`, collecting its output in the background.
pub fn spawn(name: &str, server: &Server, args: &[&str]) -> Running {
    let mut cmd = command(name, server);
    cmd.args(args);
    spawn_command(cmd)
}

/// Starts `cmd`, collecting its stdout lines and stderr in the background (so it never blocks
/// on a full pipe).
pub fn spawn_command(mut cmd: Command) -> Running {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the binary");
    let (out, err) = (
        child.stdout.take().expect("stdout"),
        child.stderr.take().expect("stderr"),
    );
    let mut running = Running {
        child,
        lines: Default::default(),
        errors: Default::default(),
        readers: Vec::new(),
    };
    let (lines, errors) = (running.lines.clone(), running.errors.clone());
    running.readers.push(std::thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .for_each(|line| lines.lock().unwrap().push(line))
    }));
    running.readers.push(std::thread::spawn(move || {
        BufReader::new(err)
            .lines()
            .map_while(Result::ok)
            .for_each(|line| errors.lock().unwrap().push_str(&(line + "\n")))
    }));
    running
}

impl Running {
    /// Stdout lines so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Stderr so far.
    pub fn errors(&self) -> String {
        self.errors.lock().unwrap().clone()
    }

    /// Waits for the exit and returns its code, once everything it wrote has been collected
    /// (its pipes closed; a child of its own still holding them is waited for a while only).
    pub fn wait(&mut self) -> Option<i32> {
        let code = self.child.wait().expect("wait for the binary").code();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.readers.iter().all(|r| r.is_finished()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        code
    }
}

/// Threads of a process now (Linux), 0 once it is gone.
pub fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| tasks.count())
        .unwrap_or(0)
}

/// A pids cgroup of its own for one process: the kernel's `pids.peak` is the most threads the
/// process ever had at once, a short peak included (sampling /proc can miss one). Needs root, as
/// CI has; without it the test fails saying so. Removed when dropped (after the process ended).
pub struct ThreadPeak {
    dir: PathBuf,
}

impl ThreadPeak {
    /// A new, empty pids cgroup (cgroup v1's pids hierarchy, or cgroup v2's root).
    pub fn create() -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let name = format!(
            "monsoon-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        for root in ["/sys/fs/cgroup/pids", "/sys/fs/cgroup"] {
            let dir = Path::new(root).join(&name);
            if std::fs::create_dir(&dir).is_ok() {
                if dir.join("pids.peak").exists() {
                    return ThreadPeak { dir };
                }
                let _ = std::fs::remove_dir(&dir);
            }
        }
        panic!(
            "this test reads a process's peak thread count from a pids cgroup (pids.peak): it \
             needs root and a kernel with the pids controller (CI has both)"
        );
    }

    /// `cmd` started inside the cgroup: a shell moves itself in, then becomes `cmd`'s program
    /// (same arguments, environment and directory), so that no thread starts outside it.
    pub fn command(&self, cmd: &Command) -> Command {
        let mut wrapped = Command::new("sh");
        wrapped
            .arg("-c")
            .arg("echo $$ > \"$0/cgroup.procs\" && exec \"$@\"")
            .arg(&self.dir)
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (name, value) in cmd.get_envs() {
            match value {
                Some(value) => wrapped.env(name, value),
                None => wrapped.env_remove(name),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            wrapped.current_dir(dir);
        }
        wrapped
    }

    /// The most threads the process had at once so far.
    pub fn peak(&self) -> usize {
        std::fs::read_to_string(self.dir.join("pids.peak"))
            .expect("pids.peak")
            .trim()
            .parse()
            .expect("pids.peak is a number")
    }
}

impl Drop for ThreadPeak {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Every entry of `key` as (id, [(field, value)]), oldest first.
pub fn entries(con: &mut redis::Connection, key: &str) -> Vec<(String, Vec<(String, String)>)> {
    redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query(con)
        .expect("XRANGE")
}

/// Runs `producer --city CITY --from PATH` plus `args` against `server`.
pub fn import_file(server: &Server, city: &str, path: &Path, args: &[&str]) -> Output {
    let path = path.to_str().expect("a UTF-8 path");
    let mut all = vec!["--city", city, "--from", path];
    all.extend_from_slice(args);
    run("producer", server, &all)
}

/// XADD of `fields` (raw bytes) to `key` with an ID the server picks; the ID.
pub fn xadd(con: &mut redis::Connection, key: &str, fields: &[(&str, &[u8])]) -> String {
    let mut cmd = redis::cmd("XADD");
    cmd.arg(key).arg("*");
    for (name, value) in fields {
        cmd.arg(*name).arg(*value);
    }
    cmd.query(con).unwrap()
}

/// The dead letters of `key` as field lists.
pub fn dead_letters(con: &mut redis::Connection, key: &str) -> Vec<Vec<(String, String)>> {
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query(con)
        .unwrap();
    entries.into_iter().map(|(_, fields)| fields).collect()
}

/// The value of field `name` in `fields` (empty when it has none).
pub fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The binaries' bound on one connect attempt (`CONNECT_TIMEOUT` in the server layer): the
/// bound of every wait that ends with one more attempt.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Makes a private CA, a server certificate for 127.0.0.1 and a client certificate in `dir`
/// (`ca.pem`, `server.pem`/`server.key`, `client.pem`/`client.key`) with openssl.
pub fn make_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is required for the TLS tests (apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=monsoon test CA",
    ]);
    for (name, cn) in [("server", "127.0.0.1"), ("client", "monsoon client")] {
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={cn}"),
        ]);
        openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &format!("{name}.pem"),
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
        ]);
    }
}

/// The flags of a cluster node.
const CLUSTER_NODE: [&str; 6] = [
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf",
    "--cluster-node-timeout",
    "5000",
];

/// Starts a cluster-mode server with `args` on a port below 55536 (its bus port is port +
/// 10000).
fn cluster_node(args: &[&str]) -> Server {
    loop {
        let server = Server::start_with(args);
        if server.port < 55_536 {
            break server;
        }
    }
}

/// Whether `node` reports `cluster_state:ok`.
fn cluster_ok(node: &Server) -> bool {
    let info: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query(&mut node.con())
        .unwrap_or_default();
    info.contains("cluster_state:ok")
}

/// A local Redis Cluster of three masters (no replicas), each a private [`Server`].
pub struct Cluster {
    /// The masters, in creation order.
    pub nodes: Vec<Server>,
}

impl Cluster {
    /// Starts three cluster-mode servers (ports below 55536: the bus port is port + 10000),
    /// joins them with `redis-cli --cluster create`, and waits for `cluster_state:ok` everywhere.
    pub fn start(extra: &[&str]) -> Cluster {
        let mut args = CLUSTER_NODE.to_vec();
        args.extend_from_slice(extra);
        let nodes = cluster_nodes(3, 0, &args);
        let cluster = Cluster { nodes };
        cluster.wait_ok();
        cluster
    }

    /// Waits until every node reports `cluster_state:ok`.
    pub fn wait_ok(&self) {
        for node in &self.nodes {
            wait_until("cluster_state:ok", || cluster_ok(node));
        }
    }

    /// The seed URL (the first node).
    pub fn url(&self) -> String {
        self.nodes[0].url()
    }

    /// A cluster-aware connection for the test's own checks.
    pub fn con(&self) -> redis::cluster::ClusterConnection {
        redis::cluster::ClusterClient::new(vec![self.url()])
            .and_then(|c| c.get_connection())
            .expect("connect to the test cluster")
    }

    /// The node that owns `key`'s slot.
    pub fn owner(&self, key: &str) -> &Server {
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut self.nodes[0].con())
            .unwrap();
        let slots: Vec<(i64, i64, (String, u16))> = {
            let raw: Vec<redis::Value> = redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query(&mut self.nodes[0].con())
                .unwrap();
            raw.into_iter()
                .map(|range| {
                    let redis::Value::Array(parts) = range else {
                        panic!("CLUSTER SLOTS shape")
                    };
                    let start: i64 = redis::from_redis_value(parts[0].clone()).unwrap();
                    let end: i64 = redis::from_redis_value(parts[1].clone()).unwrap();
                    let redis::Value::Array(master) = parts[2].clone() else {
                        panic!("CLUSTER SLOTS shape")
                    };
                    let port: u16 = redis::from_redis_value(master[1].clone()).unwrap();
                    (start, end, (String::new(), port))
                })
                .collect()
        };
        let port = slots
            .iter()
            .find(|(s, e, _)| (*s..=*e).contains(&slot))
            .map(|r| r.2.1)
            .expect("an owner");
        self.nodes
            .iter()
            .find(|n| n.port == port)
            .expect("owner among our nodes")
    }

    /// Starts a cluster-mode server, joins it to the cluster as a replica of `master` (CLUSTER
    /// MEET, then CLUSTER REPLICATE), and waits until it is in sync and the cluster is ok. The
    /// replica is not among [`Cluster::nodes`] (a test holds it).
    pub fn add_replica(&self, master: &Server) -> Server {
        master.sync_replicas_at_once();
        let replica = cluster_node(&CLUSTER_NODE);
        let id: String = redis::cmd("CLUSTER")
            .arg("MYID")
            .query(&mut master.con())
            .expect("CLUSTER MYID");
        let _: () = redis::cmd("CLUSTER")
            .arg("MEET")
            .arg("127.0.0.1")
            .arg(master.port)
            .query(&mut replica.con())
            .expect("CLUSTER MEET");
        wait_until("the new node knows the master", || {
            let nodes: String = redis::cmd("CLUSTER")
                .arg("NODES")
                .query(&mut replica.con())
                .unwrap_or_default();
            nodes.contains(&id)
        });
        let _: () = redis::cmd("CLUSTER")
            .arg("REPLICATE")
            .arg(&id)
            .query(&mut replica.con())
            .expect("CLUSTER REPLICATE");
        master.wait_online(&replica);
        self.wait_ok();
        wait_until("the replica sees the cluster ok", || cluster_ok(&replica));
        replica
    }
}

/// Starts `count` cluster-mode servers with `args` (ports below 55536: the bus port is port +
/// 10000) and joins them with `redis-cli --cluster create`, `replicas` replicas per master (the
/// first `count / (replicas + 1)` nodes become the masters).
pub fn cluster_nodes(count: usize, replicas: usize, args: &[&str]) -> Vec<Server> {
    let nodes: Vec<Server> = (0..count)
        .map(|_| {
            loop {
                let server = Server::start_with(args);
                if server.port < 55_536 {
                    break server;
                }
            }
        })
        .collect();
    let addresses: Vec<String> = nodes
        .iter()
        .map(|n| format!("127.0.0.1:{}", n.port))
        .collect();
    let out = Command::new("redis-cli")
        .arg("--cluster")
        .arg("create")
        .args(&addresses)
        .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli is required to create the test cluster (apt-get install redis-tools)");
    assert!(
        out.status.success(),
        "redis-cli --cluster create: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    nodes
}

/// Creates `group` on `key` at `0` (the stream must exist), as a consumer would on first use.
pub fn create_group(con: &mut redis::Connection, key: &str, group: &str) {
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(key)
        .arg(group)
        .arg("0")
        .query(con)
        .expect("XGROUP CREATE");
}

/// Delivers up to `count` entries of `key` (`id`: `>` for new ones, `0` to re-deliver its own
/// pending ones) to `consumer` without acknowledging them: a consumer that died holding them.
pub fn read_without_ack(
    con: &mut redis::Connection,
    key: &str,
    group: &str,
    consumer: &str,
    count: u64,
    id: &str,
) {
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(group)
        .arg(consumer)
        .arg("COUNT")
        .arg(count)
        .arg("STREAMS")
        .arg(key)
        .arg(id)
        .query(con)
        .expect("XREADGROUP");
}

/// Six cities whose slots cover all three masters of a 3-master cluster.
pub const CITIES: [&str; 6] = [
    "chennai",
    "coimbatore",
    "pune",
    "hyderabad",
    "kochi",
    "jaipur",
];

/// `--city` flags for every city in [`CITIES`].
pub fn city_args() -> Vec<&'static str> {
    CITIES.iter().flat_map(|c| ["--city", *c]).collect()
}

/// The ACL README documents: the rules of its `ACL SETUSER sensor ...` line after the key
/// patterns, and each row of its table as (mode, rules), read from README.md itself so the
/// README cannot say other than what the tests grant.
pub fn readme_acl() -> (Vec<String>, Vec<(String, Vec<String>)>) {
    let readme = std::fs::read_to_string(project_dir().join("README.md")).expect("README.md");
    let section = &readme[readme
        .find("### Least-privilege ACL users")
        .expect("ACL section")..];
    let line = section
        .lines()
        .find(|l| l.starts_with("ACL SETUSER sensor on >PASSWORD "))
        .expect("the ACL SETUSER line");
    let base = line
        .split_whitespace()
        .skip(4)
        .filter(|rule| !rule.starts_with('~'))
        .map(String::from)
        .collect();
    let rows = section
        .lines()
        .skip_while(|l| !l.starts_with("| binary and mode"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|row| {
            let row = row.replace("\\|", "\u{1}");
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let code = |cell: &str| cell.split('`').nth(1).unwrap_or("").replace('\u{1}', "|");
            let rules = code(cells[2])
                .split_whitespace()
                .map(String::from)
                .collect();
            (code(cells[1]), rules)
        })
        .collect();
    (base, rows)
}

/// The rules README's table adds for `mode` (e.g. "producer --replace").
pub fn readme_rules(mode: &str) -> Vec<String> {
    let (_, rows) = readme_acl();
    rows.into_iter()
        .find(|(m, _)| m == mode)
        .unwrap_or_else(|| panic!("README's ACL table has no row for {mode}"))
        .1
}

/// Creates the least-privilege user README documents (`sensor`, password `pw-sensor-7`) with
/// README's rules on `cities` and their `:*` keys, plus `extra` rules (e.g. a table row's).
pub fn create_stream_user<S: AsRef<str>>(
    con: &mut redis::Connection,
    cities: &[&str],
    extra: &[S],
) {
    let mut cmd = redis::cmd("ACL");
    cmd.arg("SETUSER")
        .arg("sensor")
        .arg("reset")
        .arg("on")
        .arg(">pw-sensor-7");
    for city in cities {
        cmd.arg(format!("~{city}")).arg(format!("~{city}:*"));
    }
    cmd.arg(readme_acl().0);
    for rule in extra {
        cmd.arg(rule.as_ref());
    }
    let _: () = cmd.query(con).expect("ACL SETUSER");
}

/// Each line of `text` parsed as JSON (a failure names the line).
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Waits for `child` and returns its exit code (-1 when killed by a signal) and its own peak
/// RSS in bytes, from wait4's rusage (the child's alone, not the test's or its other children).
pub fn wait_with_peak_rss(child: Child) -> (i32, usize) {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: rusage is plain data filled in by the kernel; wait4 reaps exactly this child,
    // which `child` then never waits for again (it is forgotten below).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    std::mem::forget(child);
    assert_eq!(reaped, pid, "wait4 failed");
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    // Linux reports ru_maxrss in KiB.
    (code, usage.ru_maxrss as usize * 1024)
}

/// GET `path` from `addr`: the status code and the body.
pub fn get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect to the metrics endpoint");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    status_and_body(&reply)
}

/// An HTTP reply's status code (0 when there is none) and its body.
pub fn status_and_body(reply: &str) -> (u16, String) {
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, body.to_string())
}

/// `/metrics`, parsed by prometheus-parse.
pub fn scrape(addr: &str) -> prometheus_parse::Scrape {
    let (status, body) = get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap()
}

/// The value of the sample `name` whose labels include `labels`; `None` when there is none.
pub fn value(
    scrape: &prometheus_parse::Scrape,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .and_then(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => Some(v),
            _ => None,
        })
}

/// The distinct (stream, ID) pairs of consumer output lines (`alice chennai 1534291200000-0 ...`).
pub fn stream_ids(lines: &[String]) -> std::collections::BTreeSet<(String, String)> {
    lines
        .iter()
        .filter_map(|l| {
            let mut parts = l.split(' ').skip(1);
            Some((parts.next()?.to_string(), parts.next()?.to_string()))
        })
        .collect()
}

/// Removes from `cmd`'s environment the variables cargo sets for the crate it builds or runs
/// (`CARGO_PKG_*`, `CARGO_MANIFEST_DIR`, ...), which every test inherits: a cargo started with
/// them reruns some build scripts (ring's asks for them) that a cargo started from a shell does
/// not, so the two rebuild each other's dependencies. `scripts/lib/deps.sh`'s `forget_crate_env`
/// drops the same set.
pub fn forget_crate_env(cmd: &mut Command) -> &mut Command {
    const PREFIXES: [&str; 4] = [
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "CARGO_BIN_EXE_",
        "CARGO_CFG_",
    ];
    const NAMES: [&str; 5] = [
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "OUT_DIR",
    ];
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        if PREFIXES.iter().any(|p| name.starts_with(p)) || NAMES.contains(&&*name) {
            cmd.env_remove(&*name);
        }
    }
    cmd
}

/// The address `inspect serve` prints (`inspect serve: open http://ADDR/ ...`).
pub fn serve_addr(serve: &Running) -> String {
    let mut addr = None;
    wait_until("serve prints its address", || {
        addr = serve.lines().iter().find_map(|line| {
            let rest = line.strip_prefix("inspect serve: open http://")?;
            Some(rest.split('/').next()?.to_string())
        });
        addr.is_some()
    });
    addr.unwrap()
}

/// Every entry ID of `key`, oldest first.
pub fn entry_ids(con: &mut redis::Connection, key: &str) -> Vec<String> {
    let rows: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query(con)
        .expect("XRANGE");
    rows.into_iter().map(|(id, _)| id).collect()
}

/// The first second of [`DATE`], in ms.
pub const DAY_START_MS: u64 = 1_534_291_200_000;

/// Every ID of a day of [`DATE`] at one second, one sensor, in order.
pub fn whole_day() -> Vec<String> {
    (0..86_400u64)
        .map(|s| format!("{}-0", DAY_START_MS + s * 1000))
        .collect()
}

/// Asserts that `key` holds a whole day of [`DATE`] with `sensors` readings a second, each
/// exactly once and in order (`<ms>-0` to `<ms>-<sensors - 1>` for every second), read a page
/// at a time.
pub fn assert_day_once(con: &mut redis::Connection, key: &str, sensors: u64) {
    assert_eq!(xlen(con, key), 86_400 * sensors, "XLEN of {key}");
    let mut expected = (0..86_400u64)
        .flat_map(|s| (0..sensors).map(move |i| format!("{}-{i}", DAY_START_MS + s * 1000)));
    let mut from = String::from("-");
    loop {
        let page: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
            .arg(key)
            .arg(&from)
            .arg("+")
            .arg("COUNT")
            .arg(20_000)
            .query(con)
            .expect("XRANGE");
        let Some(last) = page.last() else { break };
        from = format!("({}", last.0);
        for (id, _) in &page {
            assert_eq!(
                Some(id.clone()),
                expected.next(),
                "gap or duplicate in {key}"
            );
        }
    }
    assert_eq!(expected.next(), None, "entries missing at the end of {key}");
}

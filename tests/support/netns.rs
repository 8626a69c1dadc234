//! A network namespace of its own for a server, joined to ours by a veth pair, which a test can
//! cut silently (`iptables -j DROP` inside it: packets vanish, no reset comes) and heal. Root
//! only: a test that needs one and runs without root fails, saying so; it never skips.
//!
//! ```text
//! our namespace                         the test's namespace (mn<pid>x<n>)
//! mn<pid>x<n>h 10.X.Y.Z+1/30  <-veth->  mn<pid>x<n>n 10.X.Y.Z+2/30, lo up, the server
//! ```

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Namespaces made by this process so far: part of each name, so two in one test differ.
static MADE: AtomicU32 = AtomicU32::new(0);

/// The first name of every namespace (and veth) these tests make, so a stale one is known.
const PREFIX: &str = "mn";

/// A network namespace with a veth pair to ours, a /30 of its own and loopback up; deleted
/// (veth, rules, whatever still runs in it) when dropped, also after a panic.
pub struct Namespace {
    /// The namespace's name, also the stem of its veth ends' names.
    name: String,
    /// Our end of the veth pair.
    host_end: String,
    /// The address inside the namespace (the server's).
    address: String,
    /// The address of our end of the veth pair: the only one outside that the namespace
    /// reaches (it has no default route).
    host_address: String,
}

impl Namespace {
    /// A new namespace with a unique name (this process's PID and a counter) and a /30 that no
    /// interface uses yet. A leftover of a killed test run (a namespace whose process is gone)
    /// is deleted first, so it can neither hold a subnet nor clash with a name.
    pub fn create() -> Namespace {
        require_root();
        delete_stale();
        let pid = std::process::id();
        let made = MADE.fetch_add(1, Ordering::Relaxed);
        let name = format!("{PREFIX}{pid}x{made}");
        let (host_end, inner_end) = (format!("{name}h"), format!("{name}n"));
        // Interface names are at most 15 bytes: "mn" + 7 digits + "x" + a counter + "h".
        assert!(host_end.len() <= 15, "interface name {host_end} too long");
        // Our own name may be left over from a killed process that had our PID.
        let _ = quiet(Command::new("ip").args(["netns", "delete", &name]));
        let _ = quiet(Command::new("ip").args(["link", "delete", &host_end]));
        let subnet = free_subnet(pid.wrapping_mul(64).wrapping_add(made));
        let namespace = Namespace {
            name: name.clone(),
            host_end: host_end.clone(),
            address: host(subnet, 2).to_string(),
            host_address: host(subnet, 1).to_string(),
        };
        let ours = format!("{}/30", namespace.host_address);
        let theirs = format!("{}/30", namespace.address);
        ip(&["netns", "add", &name]);
        ip(&[
            "link", "add", &host_end, "type", "veth", "peer", "name", &inner_end,
        ]);
        ip(&["link", "set", &inner_end, "netns", &name]);
        ip(&["addr", "add", &ours, "dev", &host_end]);
        ip(&["link", "set", &host_end, "up"]);
        namespace.ip(&["addr", "add", &theirs, "dev", &inner_end]);
        namespace.ip(&["link", "set", &inner_end, "up"]);
        namespace.ip(&["link", "set", "lo", "up"]);
        namespace
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The address inside the namespace, where its server listens.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The address of our end of the veth pair: the only address outside that a server in the
    /// namespace reaches, so a node of ours it must reach (a replica) listens there too.
    pub fn host_address(&self) -> &str {
        &self.host_address
    }

    /// Cuts the namespace off, silently both ways: every packet in or out is dropped, so a
    /// client sees neither an answer nor a reset, only its own timeouts.
    pub fn partition(&self) {
        for chain in ["INPUT", "OUTPUT"] {
            self.iptables(&["-A", chain, "-j", "DROP"]);
        }
    }

    /// Lifts [`Namespace::partition`]: connections that outlived it go on.
    pub fn heal(&self) {
        for chain in ["INPUT", "OUTPUT"] {
            self.iptables(&["-D", chain, "-j", "DROP"]);
        }
    }

    /// `ip netns exec NAME ip ARGS`, which must succeed.
    fn ip(&self, args: &[&str]) {
        let mut all = vec!["netns", "exec", &self.name, "ip"];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// `iptables ARGS` inside the namespace, which must succeed.
    fn iptables(&self, args: &[&str]) {
        let mut all = vec!["netns", "exec", &self.name, "iptables"];
        all.extend_from_slice(args);
        ip(&all);
    }
}

impl Drop for Namespace {
    /// Ends what still runs inside (a server the test did not stop), then deletes our veth end
    /// (its peer goes with it) and the namespace (its rules go with it).
    fn drop(&mut self) {
        remove(&self.name, Some(&self.host_end));
    }
}

/// Fails the test, saying why, unless it runs as root with `ip` and `iptables` at hand.
fn require_root() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    assert!(
        root,
        "this test cuts a server off in a network namespace of its own (ip netns, veth, \
         iptables): it needs root, as CI has (scripts/test.sh skips it, loudly, without root)"
    );
    for tool in ["ip", "iptables"] {
        let found = quiet(Command::new(tool).arg("-V")).is_ok_and(|ok| ok);
        assert!(
            found,
            "this test needs `{tool}` (Debian: apt-get install iproute2 iptables; \
             scripts/test.sh installs iptables)"
        );
    }
}

/// Deletes every namespace these tests made whose process is gone (a run killed before its
/// namespaces' drop).
fn delete_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let pid = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('x'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            remove(name, Some(&format!("{name}h")));
        }
    }
}

/// Kills what runs in namespace `name`, deletes `host_end` and the namespace; quietly (either
/// may be gone already).
fn remove(name: &str, host_end: Option<&str>) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = quiet(Command::new("kill").args(["-KILL", pid]));
        }
    }
    if let Some(host_end) = host_end {
        let _ = quiet(Command::new("ip").args(["link", "delete", host_end]));
    }
    let _ = quiet(Command::new("ip").args(["netns", "delete", name]));
}

/// A /30 in 10.200.0.0-10.255.255.255 that no interface of ours holds: its first address
/// (`10.X.Y.Z`, Z a multiple of 4), searched from one picked by `seed` (so tests running at once
/// start apart).
fn free_subnet(seed: u32) -> std::net::Ipv4Addr {
    // 56 second octets × 256 third octets × 64 /30s in each /24.
    const SUBNETS: u32 = 56 * 256 * 64;
    let used = Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
        .unwrap_or_default();
    (0..SUBNETS)
        .map(|step| seed.wrapping_add(step) % SUBNETS)
        .map(|n| {
            std::net::Ipv4Addr::new(
                10,
                (200 + n / (256 * 64)) as u8,
                (n / 64 % 256) as u8,
                (n % 64 * 4) as u8,
            )
        })
        .find(|base| !used.contains(&format!(" {}/30 ", host(*base, 1))))
        .expect("a free /30 in 10.200.0.0-10.255.255.255")
}

/// Host `n` (1 or 2) of the /30 starting at `base`.
fn host(base: std::net::Ipv4Addr, n: u32) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::from(u32::from(base) + n)
}

/// `ip ARGS`, which must succeed (a failure shows its stderr).
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ip (iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Runs `cmd` with no output; whether it succeeded.
fn quiet(cmd: &mut Command) -> std::io::Result<bool> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|status| status.success())
}

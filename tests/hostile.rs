//! Hostile entries and secrets: values that would forge output lines or drive the terminal, a
//! field written twice, passwords that break URL parsing, and servers that are not what the
//! URL says.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;

use support::{Server, assert_ok, run, stderr, stdout, xadd};

/// A value with a newline, an escape sequence, CR and NUL prints as one escaped line in the
/// consumer's output and in `inspect range`, never as a forged line or raw control bytes.
#[test]
fn control_characters_never_forge_a_line() {
    let server = Server::start();
    let mut con = server.con();
    let forged = b"x\nalice chennai 1534291200000-0 2018-08-15T00:00:00Z temperature=99";
    xadd(
        &mut con,
        "chennai",
        &[("temperature", b"21"), ("note", forged)],
    );
    xadd(
        &mut con,
        "chennai",
        &[("temperature", b"20"), ("note", b"\x1b[2J\r\0")],
    );
    let out = run("consumer", &server, &["alice", "--idle-exit", "300ms"]);
    assert_ok(&out);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(text.contains("note=x\\nalice chennai"), "{text}");
    assert!(text.contains("note=\\x1b[2J\\r\\x00"), "{text}");
    assert!(!text.contains('\x1b') && !text.contains('\r') && !text.contains('\0'));
    let range = run("inspect", &server, &["range", "chennai"]);
    assert_ok(&range);
    let table = stdout(&range);
    assert_eq!(table.lines().count(), 3, "header and two rows: {table}");
    assert!(table.contains("note=x\\nalice chennai"), "{table}");
    assert!(table.contains("note=\\x1b[2J\\r\\x00"), "{table}");
    assert!(!table.contains('\x1b') && !table.contains('\r') && !table.contains('\0'));
}

/// `--json` keeps fields in the entry's order, not sorted by name.
#[test]
fn json_keeps_the_entrys_field_order() {
    let server = Server::start();
    let mut con = server.con();
    xadd(
        &mut con,
        "chennai",
        &[("z", b"1"), ("temperature", b"2"), ("m", b"3")],
    );
    let out = run("inspect", &server, &["range", "chennai", "--json"]);
    assert_ok(&out);
    assert!(
        stdout(&out).contains(r#""fields":{"z":"1","temperature":"2","m":"3"}"#),
        "{}",
        stdout(&out)
    );
    let out = run(
        "consumer",
        &server,
        &["alice", "--json", "--idle-exit", "300ms"],
    );
    assert!(
        stdout(&out).contains(r#""fields":{"z":"1","temperature":"2","m":"3"}"#),
        "{}",
        stdout(&out)
    );
}

/// A password never appears, even in a URL that does not parse (an unencoded `/`, `#`, `?` or
/// `//` in it, no scheme, no host): every binary refuses it (exit 2) without printing it.
#[test]
fn a_password_never_appears_however_the_url_looks() {
    for url in [
        "redis://user:S3C/RETpw@127.0.0.1:1",
        "redis://user:S3C#RETpw@127.0.0.1:1",
        "redis://:S3C?RETpw@127.0.0.1:1",
        "user:S3CRETpw@127.0.0.1:6379",
        "127.0.0.1:S3CRETpw@host",
        "user:S3C//RETpw@127.0.0.1:6379",
        "redis://user:S3CRETpw",
    ] {
        for (name, args) in [
            ("producer", &["--date", "2018-08-15"][..]),
            ("consumer", &["alice"]),
            ("inspect", &["range", "chennai"]),
        ] {
            let out = Command::new(support::bin(name))
                .env_remove("REDIS_URL")
                .arg("--redis-url")
                .arg(url)
                .args(args)
                .output()
                .unwrap();
            let all = format!("{}{}", stdout(&out), stderr(&out));
            assert!(!all.contains("S3C"), "{name} {url}: {all}");
            assert_eq!(out.status.code(), Some(2), "{name} {url}: {all}");
        }
    }
}

/// A `rediss://` URL to a plain port says the TLS handshake did not complete.
#[test]
fn tls_to_a_plain_port_says_so() {
    let server = Server::start();
    let url = format!("rediss://127.0.0.1:{}", server.port);
    let out = Command::new(support::bin("inspect"))
        .env_remove("REDIS_URL")
        .args(["--redis-url", &url, "--tls-insecure", "range", "chennai"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("did not complete a TLS handshake"),
        "{}",
        stderr(&out)
    );
}

/// A port where something else listens (an HTTP server) is named as not a Redis server.
#[test]
fn a_port_that_is_not_redis_says_so() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4) {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 512];
            let _ = stream.read(&mut request);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let out = Command::new(support::bin("inspect"))
        .env_remove("REDIS_URL")
        .args(["--redis-url", &format!("redis://{address}"), "range", "x"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("is not a Redis server"),
        "{}",
        stderr(&out)
    );
}

/// NOAUTH (the server wants a password, none was given) hints at where the password goes.
#[test]
fn noauth_hints_at_the_password() {
    let server = Server::start_with(&["--requirepass", "pw-x"]);
    let out = run("inspect", &server, &["range", "chennai"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("redis://:PASSWORD@host"),
        "{}",
        stderr(&out)
    );
}

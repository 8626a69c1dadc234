//! Any stream, any fields: entries other programs write (no `temperature`, binary values, a name
//! written twice) are printed or handed to handlers and acknowledged, never dead-lettered for
//! their content; `--require` is the schema when a user wants one.

use support::{Server, assert_ok, dead_letters, field, pending, run, stderr, stdout, xadd, xlen};

/// Entries of an orders stream as another program writes them: plain fields, a binary value,
/// a name twice. Returns their IDs in order.
fn orders(server: &Server) -> Vec<String> {
    let mut con = server.con();
    vec![
        xadd(&mut con, "orders", &[("item", b"book"), ("qty", b"2")]),
        xadd(
            &mut con,
            "orders",
            &[("item", b"pen"), ("blob", b"\xff\x00\x01")],
        ),
        xadd(&mut con, "orders", &[("tag", b"a"), ("tag", b"b")]),
    ]
}

/// In print mode every entry prints in the reading's form with its own fields, a binary value
/// escaped as `\xNN`; all are acknowledged, none is dead-lettered, exit 0.
#[test]
fn entries_of_any_shape_are_printed_and_acked() {
    let server = Server::start();
    let ids = orders(&server);
    let out = run(
        "consumer",
        &server,
        &["alice", "--city", "orders", "--idle-exit", "300ms"],
    );
    assert_ok(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(lines[0].starts_with(&format!("alice orders {} ", ids[0])));
    assert!(lines[0].ends_with(" item=book qty=2"), "{}", lines[0]);
    assert!(
        lines[1].ends_with(" item=pen blob=\\xff\\x00\\x01"),
        "{}",
        lines[1]
    );
    assert!(lines[2].ends_with(" tag=a tag=b"), "{}", lines[2]);
    let mut con = server.con();
    assert_eq!(pending(&mut con, "orders", "mygroup"), 0);
    assert_eq!(xlen(&mut con, "orders:dead"), 0);
    assert!(!stderr(&out).contains("dead-lettered:"), "{}", stderr(&out));
}

/// `--json` keeps the object form for the common case, `{"base64": ...}` for a binary value,
/// and the list of pairs when a name repeats: nothing is lost.
#[test]
fn json_is_lossless() {
    let server = Server::start();
    orders(&server);
    let out = run(
        "consumer",
        &server,
        &[
            "alice",
            "--city",
            "orders",
            "--idle-exit",
            "300ms",
            "--json",
        ],
    );
    assert_ok(&out);
    let lines = support::json_lines(&stdout(&out));
    assert_eq!(
        lines[0]["fields"],
        serde_json::json!({"item": "book", "qty": "2"})
    );
    assert_eq!(
        lines[1]["fields"],
        serde_json::json!({"item": "pen", "blob": {"base64": "/wAB"}})
    );
    assert_eq!(
        lines[2]["fields"],
        serde_json::json!([["tag", "a"], ["tag", "b"]])
    );
}

/// Behind `--exec` and `--pipe` the handler decides: it gets every entry (the JSON on stdin,
/// UTF-8 fields in MONSOON_FIELD_*), and its success acknowledges it.
#[test]
fn handlers_get_every_entry() {
    let server = Server::start();
    orders(&server);
    let exec = run(
        "consumer",
        &server,
        &[
            "alice",
            "--city",
            "orders",
            "--idle-exit",
            "300ms",
            "--exec",
            "echo \"item=${MONSOON_FIELD_ITEM-none} blob=${MONSOON_FIELD_BLOB-none}\"",
        ],
    );
    assert_ok(&exec);
    let text = stdout(&exec);
    let mut seen: Vec<&str> = text.lines().collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            "item=book blob=none",
            "item=none blob=none",
            "item=pen blob=none"
        ]
    );
    let mut con = server.con();
    assert_eq!(pending(&mut con, "orders", "mygroup"), 0);
    // A second group, read by a --pipe handler that answers `ack` for each line it gets.
    let pipe = run(
        "consumer",
        &server,
        &[
            "bob",
            "--group",
            "piped",
            "--city",
            "orders",
            "--idle-exit",
            "300ms",
            "--pipe",
            "awk '{ print > \"/dev/stderr\"; print \"ack\", $2, $3; fflush() }'",
        ],
    );
    assert_ok(&pipe);
    assert_eq!(
        stderr(&pipe).matches("bob orders ").count(),
        3,
        "{}",
        stderr(&pipe)
    );
    assert_eq!(pending(&mut con, "orders", "piped"), 0);
    assert_eq!(xlen(&mut con, "orders:dead"), 0);
}

/// `--require` sends exactly the entries that fail it to the dead letters, the field and rule
/// named in each reason; the run ends with the count per reason on stderr.
#[test]
fn require_dead_letters_exactly_the_violations() {
    let server = Server::start();
    let mut con = server.con();
    let good = xadd(&mut con, "chennai", &[("temperature", b"21.5")]);
    let words = xadd(&mut con, "chennai", &[("temperature", b"warm")]);
    let none = xadd(&mut con, "chennai", &[("humidity", b"40")]);
    let out = run(
        "consumer",
        &server,
        &[
            "alice",
            "--idle-exit",
            "300ms",
            "--require",
            "temperature:number",
        ],
    );
    assert_ok(&out);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(&good));
    let dead = dead_letters(&mut con, "chennai:dead");
    assert_eq!(dead.len(), 2);
    assert_eq!(field(&dead[0], "id"), words);
    assert_eq!(
        field(&dead[0], "reason"),
        "temperature \"warm\" is not a number (--require temperature:number)"
    );
    assert_eq!(field(&dead[1], "id"), none);
    assert_eq!(
        field(&dead[1], "reason"),
        "no temperature field (--require temperature:number)"
    );
    assert!(
        stderr(&out).contains("alice: 2 of 3 dead-lettered: 2 failed --require temperature:number"),
        "{}",
        stderr(&out)
    );
    assert_eq!(pending(&mut con, "chennai", "mygroup"), 0);
}

/// A run that dead-letters everything it read says so and exits 5 (README's table), even with
/// `--quiet`.
#[test]
fn a_run_that_dead_letters_everything_exits_5() {
    let server = Server::start();
    orders(&server);
    let out = run(
        "consumer",
        &server,
        &[
            "alice",
            "--city",
            "orders",
            "--idle-exit",
            "300ms",
            "--quiet",
            "--require",
            "temperature",
        ],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("alice: 3 of 3 dead-lettered: 3 failed --require temperature\n"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");
}

/// A field name with control characters is escaped in the reason on stderr: one line, never a
/// forged one.
#[test]
fn a_dead_letter_reason_is_one_escaped_line() {
    let server = Server::start();
    let mut con = server.con();
    let name = "n\x1b[2J\nalice: forged";
    xadd(&mut con, "chennai", &[(name, b"x")]);
    let rule = format!("{name}:number");
    let out = run(
        "consumer",
        &server,
        &["alice", "--idle-exit", "300ms", "--require", &rule],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let errors = stderr(&out);
    assert!(
        errors.contains("n\\x1b[2J\\nalice: forged \"x\" is not a number"),
        "{errors}"
    );
    assert!(!errors.contains('\x1b'), "{errors}");
    assert!(
        !errors.lines().any(|l| l.starts_with("alice: forged")),
        "{errors}"
    );
    assert_eq!(xlen(&mut con, "chennai:dead"), 1);
}

/// `--stream KEY` names a key exactly as given, whatever `--prefix` says: the producer imports
/// a file into it, the consumer reads it beside a prefixed city, and `inspect --no-prefix`
/// reads it back.
#[test]
fn a_stream_by_its_own_name() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("orders.csv");
    std::fs::write(
        &csv,
        "time,item\n2024-01-01T00:00:00Z,book\n2024-01-01T00:00:01Z,pen\n",
    )
    .unwrap();
    let csv = csv.to_str().unwrap();
    let prefix = ["--prefix", "demo:"];
    let import = run(
        "producer",
        &server,
        &[&prefix[..], &["--from", csv, "--stream", "shop:orders"]].concat(),
    );
    assert_ok(&import);
    let mut con = server.con();
    assert_eq!(xlen(&mut con, "shop:orders"), 2);
    assert_ok(&run(
        "producer",
        &server,
        &[&prefix[..], &["--date", support::DATE, "--count", "1"]].concat(),
    ));
    assert_eq!(xlen(&mut con, "demo:chennai"), 1);
    let out = run(
        "consumer",
        &server,
        &[
            &prefix[..],
            &[
                "alice",
                "--city",
                "chennai",
                "--stream",
                "shop:orders",
                "--idle-exit",
                "300ms",
            ],
        ]
        .concat(),
    );
    assert_ok(&out);
    let text = stdout(&out);
    assert_eq!(text.matches(" shop:orders ").count(), 2, "{text}");
    assert_eq!(text.matches(" demo:chennai ").count(), 1, "{text}");
    let range = run(
        "inspect",
        &server,
        &[&prefix[..], &["--no-prefix", "range", "shop:orders"]].concat(),
    );
    assert_ok(&range);
    assert!(stdout(&range).contains("item=pen"), "{}", stdout(&range));
    // A file of stream keys works as --stream does; one that names none is a usage error.
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "# streams\nshop:orders\n").unwrap();
    let out = run(
        "consumer",
        &server,
        &[
            "bob",
            "--group",
            "other",
            "--streams-from",
            keys.to_str().unwrap(),
            "--idle-exit",
            "300ms",
        ],
    );
    assert_ok(&out);
    assert_eq!(stdout(&out).lines().count(), 2);
    std::fs::write(&keys, "# none\n").unwrap();
    let out = run(
        "consumer",
        &server,
        &["bob", "--streams-from", keys.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--streams-from"), "{}", stderr(&out));
}

//! What a person sees at a terminal (a real pseudo-terminal from `script`, rendered by a VT100
//! emulator), and what `--quiet` and `--json` leave for scripts.

use std::process::{Command, Stdio};

use support::{DATE, Server, assert_ok, bin, run, spawn, stdout, wait_until, xlen};

/// Columns and rows of the pseudo-terminal.
const SIZE: (u16, u16) = (150, 50);

/// Runs `name` with `args` against `server` on a pseudo-terminal (stdout and stderr both on
/// it, as in a shell); returns its exit code, everything it wrote, and the screen at the end.
fn on_terminal(name: &str, server: &Server, args: &[&str]) -> (Option<i32>, String, String) {
    on_terminal_with(name, server, args, &[])
}

/// [`on_terminal`] with the variables `env` set.
fn on_terminal_with(
    name: &str,
    server: &Server,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let quoted: Vec<String> = [
        bin(name).display().to_string(),
        "--redis-url".into(),
        server.url(),
    ]
    .into_iter()
    .chain(args.iter().map(|a| a.to_string()))
    .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
    .collect();
    let (cols, rows) = SIZE;
    let script = format!("stty cols {cols} rows {rows}; exec {}", quoted.join(" "));
    let out = Command::new("script")
        .args(["-qec", &script, "/dev/null"])
        .env_remove("REDIS_URL")
        .env_remove("MONSOON_PREFIX")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("script (util-linux) runs the binary on a pseudo-terminal");
    let nonzero = |n: u16| std::num::NonZeroU16::new(n).expect("a size above 0");
    let mut screen = vt100::Parser::new(nonzero(rows), nonzero(cols), 0);
    screen.process(&out.stdout);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        screen.screen().contents(),
    )
}

/// Three cities at once on a terminal: the progress bars are drawn, and each city's result
/// line stays on the screen once they are gone (none is drawn over by a bar).
#[test]
fn heavy_three_cities_on_a_terminal_keep_their_result_lines() {
    let server = Server::start();
    let (code, raw, screen) = on_terminal(
        "producer",
        &server,
        &[
            "--city",
            "pune",
            "--city",
            "delhi",
            "--city",
            "goa",
            "--sensors",
            "20",
            "--count",
            "3000",
            "--date",
            DATE,
        ],
    );
    assert_eq!(code, Some(0), "{raw}");
    assert!(raw.contains("/60000 entries ("), "no bar was drawn: {raw}");
    for city in ["pune", "delhi", "goa"] {
        let line = format!("Inserted 60000 records into {city} in ");
        assert!(
            screen.contains(&line),
            "{city} missing from the screen:\n{screen}"
        );
    }
    assert!(!screen.contains("entries ("), "a bar was left:\n{screen}");
}

/// `producer --live` on a terminal counts what it writes while it runs (entries, a whole rate,
/// ticks and lag), then leaves only its report: ticks and the worst lag, not records/ms.
#[test]
fn the_live_producer_shows_its_count_while_it_runs() {
    let server = Server::start();
    let (code, raw, screen) = on_terminal(
        "producer",
        &server,
        &[
            "--city",
            "pune",
            "--live",
            "--count",
            "8",
            "--interval",
            "150ms",
        ],
    );
    assert_eq!(code, Some(0), "{raw}");
    let live = regex_like(&raw, " entries (", "/s) ");
    assert!(live, "no live count: {raw}");
    assert!(raw.contains(" ticks, the worst "), "{raw}");
    assert!(
        !raw.contains(".0000/s") && !raw.contains("records/ms"),
        "{raw}"
    );
    assert!(
        screen.contains("Inserted 8 records into pune in ") && screen.contains(": 8 ticks, "),
        "{screen}"
    );
    assert!(
        !screen.contains(" entries ("),
        "the counter was left:\n{screen}"
    );
}

/// `--from` on a terminal shows a bar by bytes of the file, then the report alone.
#[test]
fn an_import_on_a_terminal_counts_bytes() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.csv");
    let mut text = String::from("time,temperature,humidity,station\n");
    for i in 0..200_000u64 {
        text.push_str(&format!(
            "{},{}.5,{},pier 4\n",
            1_534_291_200_000 + i,
            i % 40,
            i % 100
        ));
    }
    std::fs::write(&path, &text).expect("write the file");
    let file = path.to_str().expect("UTF-8");
    let (code, raw, screen) = on_terminal("producer", &server, &["--city", "big", "--from", file]);
    assert_eq!(code, Some(0), "{raw}");
    assert!(raw.contains(" MiB/"), "no bar by bytes: {raw}");
    assert!(
        screen.contains("Inserted 200000 records into big from "),
        "{screen}"
    );
    assert!(!screen.contains(" MiB/"), "the bar was left:\n{screen}");
}

/// Whether `text` has `start`, then digits, then `end` (a whole number between them).
fn regex_like(text: &str, start: &str, end: &str) -> bool {
    text.match_indices(start).any(|(at, _)| {
        let rest = &text[at + start.len()..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        digits > 0 && rest[digits..].starts_with(end)
    })
}

/// `--quiet` on a terminal: the producer draws no bar and prints no report, and still writes
/// everything.
#[test]
fn a_quiet_producer_prints_nothing_on_a_terminal() {
    let server = Server::start();
    let (code, raw, _) = on_terminal(
        "producer",
        &server,
        &[
            "--city", "pune", "--count", "20000", "--date", DATE, "--quiet",
        ],
    );
    assert_eq!(code, Some(0), "{raw}");
    assert_eq!(raw.trim(), "", "printed: {raw}");
    assert_eq!(xlen(&mut server.con(), "pune"), 20_000);
}

/// Runs consumer `name` in its own group over the 2,000 entries of chennai, kills its
/// connection once it is reading, and returns it finished, having checked it printed every
/// message once.
fn consume_through_a_kill(server: &Server, name: &str, quiet: bool) -> support::Running {
    let mut args = vec![name, "--idle-exit", "1s", "--delay", "1ms", "--group", name];
    if quiet {
        args.push("--quiet");
    }
    let mut consumer = spawn("consumer", server, &args);
    wait_until("the consumer is reading", || consumer.lines().len() >= 100);
    assert!(support::kill_clients(&mut server.con()) >= 1);
    assert_eq!(consumer.wait(), Some(0), "{}", consumer.errors());
    assert_eq!(support::stream_ids(&consumer.lines()).len(), 2000);
    consumer
}

/// `consumer --quiet`: every message line is printed, but no summary and no note about the
/// connection it lost and got back; without `--quiet` both are said.
#[test]
fn a_quiet_consumer_prints_its_messages_and_no_notes() {
    let server = Server::start();
    assert_ok(&run(
        "producer",
        &server,
        &["--count", "2000", "--date", DATE],
    ));
    let loud = consume_through_a_kill(&server, "alice", false);
    assert!(loud.errors().contains("reconnected"), "{}", loud.errors());
    assert!(
        loud.errors().contains("alice: "),
        "no summary: {}",
        loud.errors()
    );
    let quiet = consume_through_a_kill(&server, "bob", true);
    assert_eq!(quiet.errors(), "", "notes on stderr");
}

/// `producer --json`: one JSON object per city with what the report says, for a day, a rerun
/// that has nothing to do, and an import.
#[test]
fn producer_json_reports_one_object_per_city() {
    let server = Server::start();
    let out = run(
        "producer",
        &server,
        &[
            "--city", "pune", "--city", "goa", "--count", "100", "--date", DATE, "--json",
        ],
    );
    assert_ok(&out);
    let mut reports = support::json_lines(&stdout(&out));
    reports.sort_by_key(|r| r["stream"].as_str().map(str::to_string));
    assert_eq!(reports.len(), 2, "{}", stdout(&out));
    for (report, city) in reports.iter().zip(["goa", "pune"]) {
        assert_eq!(report["stream"], city);
        assert_eq!(report["written"], 100);
        assert_eq!(report["total"], 100);
        assert_eq!(report["already_complete"], false);
        assert_eq!(report["interrupted"], false);
        assert!(report["elapsed_ms"].as_f64().is_some_and(|ms| ms >= 0.0));
    }
    let again = run(
        "producer",
        &server,
        &[
            "--city", "pune", "--count", "100", "--date", DATE, "--json", "--quiet",
        ],
    );
    assert_ok(&again);
    let report = &support::json_lines(&stdout(&again))[0];
    assert_eq!(
        (&report["written"], &report["already_complete"]),
        (&0.into(), &true.into())
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("r.csv");
    std::fs::write(&file, "time,t\n1000,1\n2000,2\n").expect("write");
    let path = file.to_str().expect("UTF-8");
    let import = run(
        "producer",
        &server,
        &["--city", "r", "--from", path, "--json"],
    );
    assert_ok(&import);
    let report = &support::json_lines(&stdout(&import))[0];
    assert_eq!(report["written"], 2);
    assert_eq!(report["import"]["rows"], 2);
    assert_eq!(report["import"]["skipped"], 0);
    assert_eq!(report["import"]["from"], path);
}

/// Colour as ripgrep has it: on a terminal a dead letter, its summary line and `Error:` are
/// painted; NO_COLOR or `--color never` leaves them plain; `--color always` paints them through
/// a pipe too; and the message lines themselves are never painted.
#[test]
fn colour_marks_dead_letters_and_errors_and_never_the_messages() {
    const RED: &str = "\x1b[31m";
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "2"]));
    let _: String = redis::cmd("XADD")
        .arg("chennai")
        .arg("*")
        .arg("temperature")
        .arg("warm")
        .query(&mut server.con())
        .unwrap();
    let consume = |group: &'static str, color: &'static str| {
        [
            "alice",
            "--group",
            group,
            "--require",
            "temperature:number",
            "--idle-exit",
            "300ms",
            "--color",
            color,
        ]
    };
    let (code, raw, screen) = on_terminal("consumer", &server, &consume("g1", "auto"));
    assert_eq!(code, Some(0), "{raw}");
    assert!(raw.contains(&format!("{RED}alice: chennai ")), "{raw:?}");
    assert!(
        raw.contains(&format!("{RED}alice: 1 of 3 dead-lettered")),
        "{raw:?}"
    );
    assert!(
        screen.contains("alice chennai 1534291200000-0 "),
        "{screen}"
    );
    assert!(
        !raw.contains(&format!("{RED}alice chennai")),
        "a message painted: {raw:?}"
    );
    let plain = [
        on_terminal("consumer", &server, &consume("g2", "never")),
        on_terminal_with(
            "consumer",
            &server,
            &consume("g3", "auto"),
            &[("NO_COLOR", "1")],
        ),
    ];
    for (code, raw, _) in plain {
        assert_eq!(code, Some(0), "{raw}");
        assert!(
            raw.contains("1 of 3 dead-lettered") && !raw.contains('\x1b'),
            "{raw:?}"
        );
    }
    let piped = support::command("consumer", &server)
        .args(consume("g4", "always"))
        .output()
        .unwrap();
    let errors = String::from_utf8_lossy(&piped.stderr);
    assert!(
        errors.contains(&format!("{RED}alice: 1 of 3 dead-lettered")),
        "{errors:?}"
    );
    assert!(!stdout(&piped).contains('\x1b'), "{}", stdout(&piped));
    let auto_piped = support::command("consumer", &server)
        .args(consume("g5", "auto"))
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&auto_piped.stderr).contains('\x1b'));
    let (code, raw, _) = on_terminal("inspect", &server, &["range", "nothing-here"]);
    assert_ne!(code, Some(0));
    assert!(raw.contains("\x1b[1;31mError:\x1b[0m "), "{raw:?}");
}

/// A long handler run says how far it is on a terminal (messages done, rate, in flight), every
/// two seconds; through a pipe, or with `--quiet`, it says nothing of the kind.
#[test]
fn a_long_handler_run_shows_its_progress_on_a_terminal() {
    let server = Server::start();
    assert_ok(&run("producer", &server, &["--date", DATE, "--count", "8"]));
    // 8 messages of 0.6 s, two at a time: 2.4 s, past the first progress line at 2 s.
    let slow = |group: &'static str, quiet: bool| {
        let mut args = vec![
            "alice",
            "--group",
            group,
            "--exec",
            "sleep 0.6",
            "--jobs",
            "2",
            "--idle-exit",
            "300ms",
        ];
        if quiet {
            args.push("--quiet");
        }
        args
    };
    let (code, raw, _) = on_terminal("consumer", &server, &slow("g1", false));
    assert_eq!(code, Some(0), "{raw}");
    let progress: Vec<&str> = raw
        .lines()
        .filter(|l| l.contains(" messages done in "))
        .collect();
    assert!(!progress.is_empty(), "no progress line: {raw}");
    assert!(
        progress.iter().all(|l| l.starts_with("alice: ")
            && l.contains(" messages/s), ")
            && l.trim_end().ends_with(" in flight")),
        "{progress:?}"
    );
    let (code, raw, _) = on_terminal("consumer", &server, &slow("g2", true));
    assert_eq!(code, Some(0), "{raw}");
    assert!(!raw.contains("messages done in"), "{raw}");
    let piped = support::command("consumer", &server)
        .args(slow("g3", false))
        .output()
        .unwrap();
    assert_ok(&piped);
    assert!(!String::from_utf8_lossy(&piped.stderr).contains("messages done in"));
}

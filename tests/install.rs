//! Installing monsoon the way command-line tools are: `--generate` man pages and shell
//! completions for every binary (tried in a real bash and rendered by `man`), and
//! `cargo install --path .` putting the three binaries on a PATH.

use std::process::Command;

use support::{assert_ok, stderr};

/// Runs a binary with `args` and no server anywhere in sight.
fn generate(name: &str, kind: &str) -> String {
    let out = Command::new(support::bin(name))
        .env_remove("REDIS_URL")
        .args(["--generate", kind])
        .output()
        .unwrap();
    assert_ok(&out);
    String::from_utf8(out.stdout).unwrap()
}

/// Every binary prints every kind without another argument (`consumer` without a NAME,
/// `inspect` without a subcommand), and each names the binary.
#[test]
fn every_binary_generates_every_kind() {
    for name in ["producer", "consumer", "inspect"] {
        for kind in [
            "man",
            "complete-bash",
            "complete-zsh",
            "complete-fish",
            "complete-powershell",
        ] {
            let text = generate(name, kind);
            assert!(text.contains(name), "{name} --generate {kind}: {text}");
        }
    }
    let bad = Command::new(support::bin("consumer"))
        .args(["--generate", "complete-tcsh"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("complete-bash"), "{}", stderr(&bad));
}

/// The bash completion, sourced in a real bash, completes `consumer --de` with `--delay` and
/// `--dead-letter`, and `inspect se` with `serve`.
#[test]
fn bash_completes_options_and_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["consumer", "inspect"] {
        std::fs::write(dir.path().join(name), generate(name, "complete-bash")).unwrap();
    }
    let complete = |name: &str, words: &str| {
        let script = format!(
            "source {dir}/{name}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             COMP_LINE=\"{words}\"; COMP_POINT=${{#COMP_LINE}}; \
             _{name} {name} \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; \
             echo \"${{COMPREPLY[@]}}\"",
            dir = dir.path().display()
        );
        let out = Command::new("bash").arg("-c").arg(script).output().unwrap();
        assert_ok(&out);
        String::from_utf8(out.stdout).unwrap()
    };
    let offered = complete("consumer", "consumer --de");
    let words: Vec<&str> = offered.split_whitespace().collect();
    assert!(
        words.contains(&"--delay") && words.contains(&"--dead-letter"),
        "{offered}"
    );
    let offered = complete("inspect", "inspect se");
    assert!(
        offered.split_whitespace().any(|w| w == "serve"),
        "{offered}"
    );
}

/// `man -l` renders each page without a warning, and it documents the options.
#[test]
fn man_renders_each_page_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["producer", "consumer", "inspect"] {
        let page = dir.path().join(format!("{name}.1"));
        std::fs::write(&page, generate(name, "man")).unwrap();
        let out = Command::new("man")
            .env("MANWIDTH", "80")
            .args(["--warnings", "-l"])
            .arg(&page)
            .output()
            .expect("man (Debian: apt-get install man-db)");
        assert_ok(&out);
        assert_eq!(stderr(&out), "", "{name}: man warned");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("--redis-url"), "{name}: {text}");
    }
}

/// `cargo install --locked --path . --root DIR` installs the three binaries, and each runs
/// `--version` from there.
#[test]
fn heavy_cargo_install_puts_three_binaries_on_a_path() {
    let root = tempfile::tempdir().unwrap();
    let mut cargo = Command::new(env!("CARGO"));
    // As from a shell, so it shares the release build of the demo and of a shell.
    let out = support::forget_crate_env(&mut cargo)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["install", "--locked", "--offline", "--path", ".", "--root"])
        .arg(root.path())
        // The release build the demo makes serves here too.
        .args([
            "--target-dir",
            concat!(env!("CARGO_MANIFEST_DIR"), "/target"),
        ])
        .output()
        .unwrap();
    assert_ok(&out);
    for name in ["producer", "consumer", "inspect"] {
        let version = Command::new(root.path().join("bin").join(name))
            .arg("--version")
            .output()
            .unwrap();
        assert_ok(&version);
        assert_eq!(
            String::from_utf8_lossy(&version.stdout).trim(),
            format!("{name} {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

/// The `rust-version` Cargo.toml states (and README names) is no older than what any crate in
/// Cargo.lock asks for, so a cargo that accepts monsoon's minimum can build all of it.
#[test]
fn rust_version_covers_every_dependency() {
    let out = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .unwrap();
    assert_ok(&out);
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let version =
        |text: &str| -> Vec<u32> { text.split('.').map(|part| part.parse().unwrap()).collect() };
    let packages = metadata["packages"].as_array().unwrap();
    let ours = packages
        .iter()
        .find(|p| p["name"] == "monsoon")
        .and_then(|p| p["rust_version"].as_str())
        .expect("Cargo.toml states a rust-version");
    for package in packages {
        if let Some(theirs) = package["rust_version"].as_str() {
            assert!(
                version(theirs) <= version(ours),
                "{} {} needs Rust {theirs}, above rust-version {ours}",
                package["name"],
                package["version"]
            );
        }
    }
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert!(
        readme.contains(&format!("It needs Rust {ours} or later")),
        "README names another minimum than {ours}"
    );
}

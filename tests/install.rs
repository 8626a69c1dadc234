//! Installing monsoon the way command-line tools are: `--generate` man pages and shell
//! completions for every binary (tried in a real bash and rendered by `man`), and
//! `cargo install --path .` putting the three binaries on a PATH.

use std::process::Command;

use monsoon::cli::inspect::InspectArgs;
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

/// `man -l` renders each page without a warning, inspect's subcommands' pages too (the ones
/// `inspect.1` refers to as inspect-range(1) ...), and each documents the options; inspect.1
/// names `--csv`, which only `range` takes.
#[test]
fn man_renders_each_page_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let pages = ["producer", "consumer", "inspect"]
        .map(|name| {
            (
                name.to_string(),
                vec!["--generate".to_string(), "man".into()],
            )
        })
        .into_iter()
        .chain(InspectArgs::subcommands().into_iter().map(|sub| {
            let args = vec![sub.clone(), "--generate".into(), "man".into()];
            (format!("inspect-{sub}"), args)
        }));
    let inspect_page = String::from_utf8(
        Command::new(support::bin("inspect"))
            .args(["--generate", "man"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    for (page_name, args) in pages {
        let binary = page_name.split('-').next().unwrap();
        let out = Command::new(support::bin(binary))
            .env_remove("REDIS_URL")
            .args(&args)
            .output()
            .unwrap();
        assert_ok(&out);
        let page = dir.path().join(format!("{page_name}.1"));
        std::fs::write(&page, &out.stdout).unwrap();
        let out = Command::new("man")
            .env("MANWIDTH", "80")
            .args(["--warnings", "-l"])
            .arg(&page)
            .output()
            .expect("man (Debian: apt-get install man-db)");
        assert_ok(&out);
        assert_eq!(stderr(&out), "", "{page_name}: man warned");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("--redis-url"), "{page_name}: {text}");
        assert!(
            text.starts_with(&format!("{page_name}(1)")),
            "{page_name}: {text}"
        );
        if page_name.starts_with("inspect-") {
            let reference = page_name.replace('-', "\\-") + "(1)";
            assert!(
                inspect_page.contains(&reference),
                "inspect.1 lacks {reference}"
            );
        }
    }
    let text = |page: &str| std::fs::read_to_string(dir.path().join(page)).unwrap();
    assert!(
        text("inspect.1").contains("\\-\\-csv"),
        "inspect.1 names --csv"
    );
    assert!(text("inspect-range.1").contains("\\-\\-csv"));
}

/// The `sh` blocks of README's Install section, as they stand, and its PowerShell block.
fn install_blocks() -> (Vec<String>, Vec<String>) {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Install\n"))
        .expect("README has an Install section");
    let (mut sh, mut powershell) = (Vec::new(), Vec::new());
    let mut fences = section.split("```").skip(1).step_by(2);
    for block in fences.by_ref() {
        let (lang, body) = block.split_once('\n').unwrap();
        match lang {
            "sh" => sh.push(body.to_string()),
            "powershell" => powershell.push(body.to_string()),
            other => panic!("an Install block in {other:?}"),
        }
    }
    (sh, powershell)
}

/// README's Install lines run verbatim in a fresh HOME (no ~/.local/share/man, no ~/.zfunc):
/// `cargo install` puts the three binaries in ~/.cargo/bin, the loops write every man page and
/// completion without an error, and then `man -w` finds each page (inspect's subcommands too)
/// with nothing but ~/.cargo/bin on PATH. PowerShell's `$PROFILE` line is a block of its own.
#[test]
fn heavy_readme_install_lines_run_verbatim_on_a_fresh_home() {
    let (sh, powershell) = install_blocks();
    assert!(sh.len() >= 2, "{sh:?}");
    assert!(
        sh.iter().all(|b| !b.contains("$PROFILE")),
        "$PROFILE in an sh block"
    );
    assert!(
        powershell.iter().any(|b| b.contains("$PROFILE")),
        "{powershell:?}"
    );
    let home = tempfile::tempdir().unwrap();
    let own_home = std::env::var("HOME").unwrap();
    let own = |name: &str, dir: &str| std::env::var(name).unwrap_or(format!("{own_home}/{dir}"));
    let bin = home.path().join(".cargo/bin");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let fresh = |cmd: &mut Command| {
        support::forget_crate_env(cmd)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("HOME", home.path())
            .env("PATH", &path)
            .env_remove("MANPATH")
            .env_remove("REDIS_URL")
            // Cargo and the toolchain stay where they are (no download into the fresh HOME);
            // what `cargo install` installs goes into it, from the release build the demo makes.
            .env("CARGO_HOME", own("CARGO_HOME", ".cargo"))
            .env("RUSTUP_HOME", own("RUSTUP_HOME", ".rustup"))
            .env("CARGO_INSTALL_ROOT", home.path().join(".cargo"))
            .env(
                "CARGO_TARGET_DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/target"),
            )
            .env("CARGO_NET_OFFLINE", "true");
    };
    for block in &sh {
        let mut bash = Command::new("bash");
        fresh(bash.args(["-euo", "pipefail", "-c", block]));
        let out = bash.output().unwrap();
        assert_ok(&out);
        let errors = stderr(&out);
        assert!(
            !errors.contains("No such file") && !errors.contains("ambiguous"),
            "{block}: {errors}"
        );
    }
    for name in ["producer", "consumer", "inspect"] {
        let version = Command::new(bin.join(name))
            .arg("--version")
            .output()
            .unwrap();
        assert_ok(&version);
        assert_eq!(
            String::from_utf8_lossy(&version.stdout).trim(),
            format!("{name} {}", env!("CARGO_PKG_VERSION"))
        );
        for file in [
            format!(".local/share/bash-completion/completions/{name}"),
            format!(".zfunc/_{name}"),
            format!(".config/fish/completions/{name}.fish"),
        ] {
            let text = std::fs::read_to_string(home.path().join(&file)).unwrap();
            assert!(text.contains(name), "{file}: {text}");
        }
    }
    let pages = ["producer", "consumer", "inspect"]
        .map(String::from)
        .into_iter()
        .chain(
            InspectArgs::subcommands()
                .into_iter()
                .map(|s| format!("inspect-{s}")),
        );
    for page in pages {
        let mut man = Command::new("man");
        fresh(man.args(["-w", &page]));
        let out = man.output().expect("man (Debian: apt-get install man-db)");
        assert_ok(&out);
        let found = String::from_utf8_lossy(&out.stdout);
        assert!(
            found.starts_with(&home.path().display().to_string()),
            "{page}: {found}"
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

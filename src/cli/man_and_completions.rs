//! `--generate KIND`: what a binary prints about itself for installing it the way command-line
//! tools are: a man page, or shell completions, written on stdout (as ripgrep does it).
//!
//! ```text
//! producer --generate man > producer.1
//! consumer --generate complete-bash > ~/.local/share/bash-completion/completions/consumer
//! ```

use std::ffi::OsString;
use std::io::Write;

use clap::ValueEnum;
use clap_complete::Shell;

/// What `--generate` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Generate {
    /// The man page (roff), for `man -l` or a `man1` directory.
    Man,
    /// Bash completions.
    CompleteBash,
    /// Zsh completions.
    CompleteZsh,
    /// Fish completions.
    CompleteFish,
    /// PowerShell completions.
    CompletePowershell,
}

/// Writes `kind` for the command line `cmd` on `out`.
pub fn write(kind: Generate, mut cmd: clap::Command, out: &mut impl Write) -> std::io::Result<()> {
    let name = cmd.get_name().to_string();
    let shell = match kind {
        Generate::Man => {
            // A subcommand's page (`inspect-range`) comes from the binary, not from `range`.
            let binary = cmd.get_bin_name().unwrap_or(&name);
            let binary = binary.split(' ').next().unwrap_or(binary).to_string();
            let source = format!("{binary} {}", cmd.get_version().unwrap_or_default());
            return clap_mangen::Man::new(cmd).source(source).render(out);
        }
        Generate::CompleteBash => Shell::Bash,
        Generate::CompleteZsh => Shell::Zsh,
        Generate::CompleteFish => Shell::Fish,
        Generate::CompletePowershell => Shell::PowerShell,
    };
    // clap_complete panics on a failed write (`| head`): render first, then write.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, name, &mut script);
    out.write_all(&script)
}

/// Whether `args` (the program name first) hold `--generate`.
pub(super) fn asks_to_generate(args: &[OsString]) -> bool {
    args.iter().skip(1).any(|arg| {
        arg == "--generate" || arg.to_str().is_some_and(|a| a.starts_with("--generate="))
    })
}

/// `cmd` with nothing required: no argument, in no subcommand, and no subcommand. For
/// `--generate`, which needs none of them (`consumer --generate man` no NAME), while `--help` and
/// usage errors still show what a run requires (`consumer <NAME>`), which marking NAME
/// "required unless --generate" would hide.
pub(super) fn relaxed(cmd: clap::Command) -> clap::Command {
    let required: Vec<clap::Id> = cmd
        .get_arguments()
        .filter(|arg| arg.is_required_set())
        .map(|arg| arg.get_id().clone())
        .collect();
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|sub| sub.get_name().to_string())
        .collect();
    let cmd = required
        .iter()
        .fold(cmd, |cmd, id| cmd.mut_arg(id, |arg| arg.required(false)))
        .subcommand_required(false);
    names
        .iter()
        .fold(cmd, |cmd, name| cmd.mut_subcommand(name, relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--generate` is seen as a flag or with `=`, not as a value or the program's name.
    #[test]
    fn generate_is_asked_as_a_flag() {
        let args = |list: &[&str]| list.iter().map(OsString::from).collect::<Vec<_>>();
        assert!(asks_to_generate(&args(&[
            "inspect",
            "range",
            "--generate",
            "man"
        ])));
        assert!(asks_to_generate(&args(&["consumer", "--generate=man"])));
        assert!(!asks_to_generate(&args(&["--generate", "alice"])));
        assert!(!asks_to_generate(&args(&[
            "consumer", "alice", "--group", "g"
        ])));
    }

    /// Relaxed, a command takes `--generate` without its required arguments and subcommand.
    #[test]
    fn relaxed_requires_nothing() {
        let cmd = clap::Command::new("inspect")
            .arg(clap::Arg::new("generate").long("generate").global(true))
            .subcommand_required(true)
            .subcommand(clap::Command::new("range").arg(clap::Arg::new("stream").required(true)));
        assert!(
            cmd.clone()
                .try_get_matches_from(["inspect", "range"])
                .is_err()
        );
        assert!(
            cmd.clone()
                .try_get_matches_from(["inspect", "--generate", "man"])
                .is_err()
        );
        let relaxed = || relaxed(cmd.clone());
        let matches = relaxed()
            .try_get_matches_from(["inspect", "range", "--generate", "man"])
            .unwrap();
        assert_eq!(matches.subcommand_name(), Some("range"));
        assert!(
            relaxed()
                .try_get_matches_from(["inspect", "--generate", "man"])
                .is_ok()
        );
    }
}

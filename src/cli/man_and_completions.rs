//! `--generate KIND`: what a binary prints about itself for installing it the way command-line
//! tools are: a man page, or shell completions, written on stdout (as ripgrep does it).
//!
//! ```text
//! producer --generate man > producer.1
//! consumer --generate complete-bash > ~/.local/share/bash-completion/completions/consumer
//! ```

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
        Generate::Man => return clap_mangen::Man::new(cmd).render(out),
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

//! `inspect <SUBCOMMAND>`: read streams and look into consumer groups; see `inspect --help`.

use monsoon::cli::inspect::{InspectArgs, stdout_is_terminal};
use monsoon::cli::man_and_completions;
use monsoon::shutdown::Shutdown;
use monsoon::{edge, exit};

fn main() {
    edge::run_main(|| {
        let args = InspectArgs::parse_args();
        if let Some(kind) = args.generate {
            man_and_completions::write(kind, InspectArgs::command_line(), &mut std::io::stdout())?;
            return Ok(exit::SUCCESS);
        }
        let Some(request) = args.request(stdout_is_terminal()) else {
            return Ok(exit::USAGE);
        };
        let target = args.connection.target()?;
        let shutdown = Shutdown::install("inspect: stopping (Ctrl-C again to exit at once)")?;
        // Unlocked stdout: `tail --cluster` writes from one thread per slot, each write whole.
        // `inspect range chennai | head` ends on a closed pipe: run_main takes that as success.
        monsoon::inspect::run(&target, &request, &shutdown, &mut std::io::stdout())?;
        Ok(exit::SUCCESS)
    })
}

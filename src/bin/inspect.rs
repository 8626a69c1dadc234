//! `inspect <SUBCOMMAND>`: read streams and look into consumer groups; see `inspect --help`.

use monsoon::cli::inspect::{InspectArgs, Invocation, stdout_is_terminal};
use monsoon::cli::man_and_completions;
use monsoon::shutdown::Shutdown;
use monsoon::{edge, exit};

fn main() {
    edge::run_main(|| {
        let args = match InspectArgs::parse_args() {
            Invocation::Generate(kind, page) => {
                man_and_completions::write(kind, *page, &mut std::io::stdout())?;
                return Ok(exit::SUCCESS);
            }
            Invocation::Run(args) => args,
        };
        monsoon::color::init(args.color);
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

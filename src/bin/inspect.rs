//! `inspect <SUBCOMMAND>`: read streams and look into consumer groups; see `inspect --help`.

use std::io::ErrorKind;

use monsoon::inspect::cli::{InspectArgs, stdout_is_terminal};
use monsoon::shutdown::Shutdown;
use monsoon::{Error, exit};

fn main() {
    exit::run_main(|| {
        let args = InspectArgs::parse_args();
        let request = args.request(stdout_is_terminal());
        let target = args.connection.target()?;
        let shutdown = Shutdown::install("inspect: stopping (Ctrl-C again to exit at once)")?;
        let cluster = args.connection.cluster;
        // Unlocked stdout: `tail --cluster` writes from one thread per slot, each write whole.
        let mut out = std::io::stdout();
        match monsoon::inspect::run(&target, cluster, &request, &shutdown, &mut out) {
            Ok(()) => Ok(exit::SUCCESS),
            // `inspect range chennai | head`: the reader has what it wanted.
            Err(Error::Output(err)) if err.kind() == ErrorKind::BrokenPipe => Ok(exit::SUCCESS),
            Err(err) => Err(err.into()),
        }
    })
}

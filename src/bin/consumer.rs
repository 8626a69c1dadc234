//! `consumer <NAME>`: one member of a consumer group; see `consumer --help`.

use std::io::ErrorKind;

use clap::Parser;
use monsoon::cli::ConsumerArgs;
use monsoon::shutdown::Shutdown;
use monsoon::{Error, exit};

fn main() {
    exit::run_main(|| {
        let args = ConsumerArgs::parse();
        let settings = args.settings()?;
        let target = args.connection.target()?;
        let shutdown = Shutdown::install(
            "consumer: stopping after the message in hand (Ctrl-C again to exit at once; it stays pending)",
        )?;
        match monsoon::consumer::run(&target, &settings, &shutdown, std::io::stdout()) {
            Ok(summary) => {
                eprintln!("{}", summary.line(&settings.name));
                Ok(exit::SUCCESS)
            }
            // `consumer | head`: the reader left; what was not printed stays pending, not lost.
            Err(Error::Output(err)) if err.kind() == ErrorKind::BrokenPipe => Ok(exit::SUCCESS),
            Err(err) => Err(err.into()),
        }
    })
}

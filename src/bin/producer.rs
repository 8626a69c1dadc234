//! `producer`: writes a day of weather readings per city; see `producer --help`.

use clap::Parser;
use monsoon::cli::ProducerArgs;
use monsoon::shutdown::Shutdown;
use monsoon::{edge, exit};

fn main() {
    edge::run_main(|| {
        let args = ProducerArgs::parse();
        let target = args.connection.target()?;
        let shutdown = Shutdown::install(
            "producer: stopping after the batch in flight (Ctrl-C again to exit at once)",
        )?;
        let reports = monsoon::producer::produce_cities(
            &target,
            &args.city_runs()?,
            args.mode(),
            &shutdown,
            std::io::stdout(),
        )?;
        // Stopped before done: 130, so scripts know to rerun. A live run without --count is done
        // when it is stopped.
        Ok(if reports.iter().any(|r| r.interrupted) {
            exit::INTERRUPTED
        } else {
            exit::SUCCESS
        })
    })
}

//! `producer`: writes a day of weather readings per city; see `producer --help`.

use clap::Parser;
use monsoon::cli::ProducerArgs;
use monsoon::exit;
use monsoon::shutdown::Shutdown;

fn main() {
    exit::run_main(|| {
        let args = ProducerArgs::parse();
        let target = args.connection.target()?;
        let shutdown = Shutdown::install(
            "producer: stopping after the batch in flight (Ctrl-C again to exit at once)",
        )?;
        let live = args.live.then_some(args.count);
        let reports = monsoon::producer::produce_cities(
            &target,
            &args.city_runs(),
            live,
            &shutdown,
            &mut std::io::stdout(),
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

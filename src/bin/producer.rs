//! `producer`: writes a day of weather readings per city; see `producer --help`.

use clap::{CommandFactory, FromArgMatches};
use monsoon::cli::ProducerArgs;
use monsoon::cli::man_and_completions;
use monsoon::metrics::{Endpoint, announce};
use monsoon::shutdown::Shutdown;
use monsoon::{edge, exit};

fn main() {
    edge::run_main(|| {
        let matches = monsoon::cli::get_matches(ProducerArgs::command());
        let args = ProducerArgs::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        if let Some(kind) = args.generate {
            man_and_completions::write(kind, ProducerArgs::command(), &mut std::io::stdout())?;
            return Ok(exit::SUCCESS);
        }
        monsoon::color::init(args.color);
        monsoon::notice::set_quiet(args.quiet);
        let target = args.connection.target()?;
        let runs = args.city_runs()?;
        if let (Some(addr), Some(meter)) =
            (args.metrics, runs.first().and_then(|r| r.meter.as_ref()))
        {
            let endpoint = Endpoint::bind(addr)?;
            announce(&endpoint);
            endpoint.serve(meter.exporter());
        }
        let shutdown = Shutdown::install(
            "producer: stopping after the batch in flight (Ctrl-C again to exit at once)",
        )?;
        let reports = monsoon::producer::produce_cities(
            &target,
            &runs,
            (args.mode(), args.report_style()),
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

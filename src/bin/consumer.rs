//! `consumer <NAME>`: one member of a consumer group; see `consumer --help`.

use clap::{CommandFactory, FromArgMatches};
use monsoon::cli::ConsumerArgs;
use monsoon::cli::man_and_completions;
use monsoon::metrics::consumer::ConsumerExporter;
use monsoon::metrics::{Endpoint, announce};
use monsoon::shutdown::Shutdown;
use monsoon::{edge, exit};

fn main() {
    edge::run_main(|| {
        let matches = monsoon::cli::get_matches(ConsumerArgs::command());
        let args = ConsumerArgs::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        if let Some(kind) = args.generate {
            man_and_completions::write(kind, ConsumerArgs::command(), &mut std::io::stdout())?;
            return Ok(exit::SUCCESS);
        }
        monsoon::color::init(args.color);
        monsoon::notice::set_quiet(args.quiet);
        let settings = args.settings()?;
        let job = args.job()?;
        let target = args.connection.target()?;
        if let (Some(addr), Some(meter)) = (args.metrics, settings.meter.as_ref()) {
            let endpoint = Endpoint::bind(addr)?;
            announce(&endpoint);
            endpoint.serve(ConsumerExporter::new(meter, &target, &settings.streams));
        }
        let shutdown = Shutdown::install(
            "consumer: stopping after the message in hand (Ctrl-C again to exit at once; it stays pending)",
        )?;
        // `consumer | head`: the reader left; what was not printed stays pending, not lost
        // (a closed pipe is a normal end, handled by run_main).
        let outcome =
            monsoon::consumer::run(&target, &settings, &job, &shutdown, std::io::stdout())?;
        if let Some(line) = outcome.line(&settings.name, settings.json) {
            monsoon::notice::note(&line);
        }
        if let Some(line) = outcome.warning(&settings.name) {
            eprintln!("{line}");
        }
        Ok(outcome.code())
    })
}

//! `consumer <NAME>`: one member of a consumer group; see `consumer --help`.

use clap::{CommandFactory, Parser};
use monsoon::cli::ConsumerArgs;
use monsoon::metrics::consumer::ConsumerExporter;
use monsoon::metrics::{Endpoint, announce};
use monsoon::shutdown::Shutdown;
use monsoon::{edge, exit, generate};

fn main() {
    edge::run_main(|| {
        let args = ConsumerArgs::parse();
        if let Some(kind) = args.generate {
            generate::write(kind, ConsumerArgs::command(), &mut std::io::stdout())?;
            return Ok(exit::SUCCESS);
        }
        monsoon::notice::set_quiet(args.quiet);
        let settings = args.settings()?;
        let target = args.connection.target()?;
        if let (Some(addr), Some(meter)) = (args.metrics, settings.meter.as_ref()) {
            let endpoint = Endpoint::bind(addr)?;
            announce(&endpoint);
            endpoint.serve(ConsumerExporter::new(meter, &target, &settings.streams));
        }
        let shutdown = Shutdown::install(
            "consumer: stopping after the message in hand (Ctrl-C again to exit at once; it stays pending)",
        )?;
        if let Some(at) = args.reset_to {
            monsoon::consumer::reset::run(
                &target,
                &settings,
                at,
                args.dry_run,
                &mut std::io::stdout(),
            )?;
            return Ok(exit::SUCCESS);
        }
        if args.redrive {
            let done = monsoon::consumer::redrive::run(
                &target,
                &settings,
                &shutdown,
                &mut std::io::stdout(),
            )?;
            monsoon::notice::note(&done.line(&settings.name));
            return Ok(exit::SUCCESS);
        }
        // `consumer | head`: the reader left; what was not printed stays pending, not lost
        // (a closed pipe is a normal end, handled by run_main).
        let summary = monsoon::consumer::run(&target, &settings, &shutdown, std::io::stdout())?;
        monsoon::notice::note(&summary.line(&settings.name));
        Ok(exit::SUCCESS)
    })
}

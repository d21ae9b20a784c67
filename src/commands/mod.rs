//! The command line's commands: `serve` (the default), `check`, `token`,
//! `import`, `export`, `synth`. `main` parses the arguments and calls
//! `run`; errors carry their context and are printed by `main`.
//!
//! Must not: hold domain logic (each command calls the library).

/// A line of a command's output (`println!`'s arguments), through `say`.
macro_rules! say {
    ($($t:tt)*) => {
        $crate::commands::say(format_args!($($t)*))
    };
}

mod import;
mod serve;
mod token;

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;

use crate::catalog::Catalog;
use crate::config::{Cli, Command};

/// Run the command the command line names.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None => serve::run(cli.serve),
        Some(Command::Serve(args)) => serve::run(args),
        Some(Command::Check(args)) => {
            let started = Instant::now();
            let not_valid = || format!("{}: the data folder is not valid", args.data.display());
            let data = crate::load::load_folder(&args.data).with_context(not_valid)?;
            let catalog = Catalog::from_dataset(data).with_context(not_valid)?;
            say!(
                "{}: {} layers, valid (loaded and indexed in {:.2?})",
                args.data.display(),
                catalog.layers.len(),
                started.elapsed()
            );
            for s in catalog.summaries() {
                say!("  {s}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Token(cmd)) => token::run(cmd),
        Some(Command::Import(args)) => import::run(args),
        Some(Command::Export(args)) => {
            let crs = import::crs_flag(args.crs.as_deref())?;
            let n = crate::export::export(&args.store, &args.layer, &args.out, crs)
                .map_err(|e| anyhow::anyhow!("exporting {}: {e}", args.layer))?;
            say!("{}: {n} features of {}", args.out.display(), args.layer);
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Synth(args)) => {
            let started = Instant::now();
            let stats = crate::synth::write(&args.out, args.segments, args.seed)
                .with_context(|| format!("writing {}", args.out.display()))?;
            say!(
                "{}: {} segments in {} features, {:.1} MB, in {:.2?}",
                args.out.display(),
                stats.segments,
                stats.features,
                stats.bytes as f64 / 1e6,
                started.elapsed()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Write one line of output. A reader that went away (`zoneatlas check |
/// head -1`) ends the command quietly, as a Unix tool does, where
/// `println!` panics; any other failure to write is said on stderr.
pub(crate) fn say(line: std::fmt::Arguments) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_fmt(line).and_then(|()| out.write_all(b"\n")) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: writing the output: {e}");
            std::process::exit(1)
        }
    }
}

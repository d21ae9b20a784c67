//! The `zoneatlas` binary: start tracing, parse the command line, run the
//! command. All logic lives in the library (`zoneatlas::commands`).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// mimalloc rather than glibc's malloc: snapshots are built on the writer
/// thread and freed on whichever reader lets go last, and glibc's per-thread
/// arenas make that cross-thread traffic costly under load. Built without
/// asking for transparent huge pages (`no_thp`): the kernel zeroing 2 MB
/// pages was over a third of a 10M-segment start on a virtual machine
/// (10M to `/health` in 4.1-4.5 s without them, 6.4 s with). The price:
/// the 1M nearest query ran 5-10% slower without them in an A/B (fewer
/// TLB misses with them); see docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Logs go to stderr (stdout carries command output); colour only on a
    // terminal, so a log file holds no escape codes. `RUST_LOG` takes a
    // level (`debug`) or `target=level` pairs (`zoneatlas::live=debug,info`).
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| s.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO));
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(filter)
        .init();
    let cli = zoneatlas::config::Cli::parse();
    match zoneatlas::commands::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // `{:#}` prints the context chain on one line; never a backtrace,
            // whatever RUST_BACKTRACE says: these are the user's errors.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

//! The `zoneatlas` binary: start tracing, parse the command line, run the
//! command. All logic lives in the library (`zoneatlas::commands`).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc rather than glibc's malloc: snapshots are built on the writer
/// thread and freed on whichever reader lets go last, and glibc's per-thread
/// arenas make that cross-thread traffic costly under load.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Logs go to stderr (stdout carries command output); colour only on a
    // terminal, so a log file holds no escape codes.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
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

//! Command line and environment: what to serve, from where, on which address.
//!
//! Must not: read data or start anything; `main` does that.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// zoneatlas: a development zone's infrastructure on a map, over OGC API - Features.
#[derive(Debug, Parser)]
#[command(version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Serve settings when no command is given (`zoneatlas --addr ...`).
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API and the map (the default when no command is given).
    Serve(ServeArgs),
    /// Validate a data folder and print a summary of each layer, without serving.
    Check(DataArgs),
    /// Write a seeded synthetic city-scale data folder (for benchmarks).
    Synth(SynthArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Data folder: layers.toml plus one <id>.geojson per layer.
    #[arg(long, env = "ZONEATLAS_DATA", default_value = "geodata")]
    pub data: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// Address to listen on; port 0 picks a free port (the bound address is logged).
    #[arg(long, env = "ZONEATLAS_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Folder of the web page served at /.
    #[arg(long, env = "ZONEATLAS_WEB", default_value = "web")]
    pub web: PathBuf,
    /// Base URL used in links (e.g. https://maps.example.org) when behind a proxy;
    /// by default links use the request's Host header.
    #[arg(long, env = "ZONEATLAS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Basemap tile URL template for the web map, e.g.
    /// https://tile.openstreetmap.org/{z}/{x}/{y}.png; none draws on a plain background.
    #[arg(long, env = "ZONEATLAS_BASEMAP_URL")]
    pub basemap_url: Option<String>,
    /// Attribution shown with the basemap.
    #[arg(long, env = "ZONEATLAS_BASEMAP_ATTRIBUTION", default_value = "")]
    pub basemap_attribution: String,
}

#[derive(Debug, Clone, Args)]
pub struct SynthArgs {
    /// How many line segments to generate in all.
    #[arg(long, default_value_t = 1_000_000)]
    pub segments: usize,
    /// Output folder (created; existing layer files in it are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the generator: the same seed writes the same bytes.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

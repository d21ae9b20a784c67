//! Command line and environment: what to serve, from where, on which address.
//!
//! Must not: read data or start anything; `main` does that.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

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
    /// Manage the access tokens of a store.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Import a GeoPackage table, a Shapefile or a GeoJSON file into a store
    /// layer (created, or appended to), as one revision.
    Import(ImportArgs),
    /// Write a store layer as a GeoPackage, a Shapefile or GeoJSON.
    Export(ExportArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    #[arg(long)]
    pub store: PathBuf,
    #[arg(long)]
    pub layer: String,
    /// OUT.gpkg, OUT.shp (with .shx, .dbf, .cpg, .prj) or OUT.geojson; must
    /// not exist.
    pub out: PathBuf,
    /// The output CRS (default CRS84 lon/lat): EPSG:4547, EPSG:3857, ...
    #[arg(long)]
    pub crs: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The store (created empty if missing). A server running on it sees a
    /// new layer after a restart.
    #[arg(long)]
    pub store: PathBuf,
    /// The layer to create or append to (lowercase letters, digits, _ or -).
    #[arg(long, required_unless_present = "osm")]
    pub layer: Option<String>,
    /// FILE.gpkg (or FILE.gpkg:TABLE), FILE.shp (with its .dbf, .prj, .cpg)
    /// or FILE.geojson.
    #[arg(required_unless_present = "osm", conflicts_with = "osm")]
    pub source: Option<String>,
    /// An OpenStreetMap extract (.osm.pbf), mapped into roads, power_lines,
    /// pipelines, substations, parks and sites.
    #[arg(long, conflicts_with = "layer")]
    pub osm: Option<PathBuf>,
    /// With --osm: a TOML file replacing which tags select each layer.
    #[arg(long, requires = "osm")]
    pub profile: Option<PathBuf>,
    /// The source's CRS, overriding its own (.prj, gpkg_spatial_ref_sys):
    /// EPSG:4547, gcj02, ... (coordinates easting/longitude first).
    #[arg(long)]
    pub crs: Option<String>,
    /// A Shapefile's text encoding, overriding its .cpg (GBK, UTF-8, ...).
    #[arg(long)]
    pub encoding: Option<String>,
    /// Rename a source field: FIELD=PROPERTY (repeatable; PROPERTY id sets
    /// the feature id).
    #[arg(long = "map", value_name = "FIELD=PROPERTY")]
    pub map: Vec<String>,
    /// Set a property on every feature: PROPERTY=VALUE (a JSON value, else
    /// text; repeatable).
    #[arg(long = "set", value_name = "PROPERTY=VALUE")]
    pub set: Vec<String>,
    /// Import the valid features and report each invalid one, instead of
    /// importing nothing.
    #[arg(long)]
    pub skip_invalid: bool,
    /// The new layer's title.
    #[arg(long)]
    pub title: Option<String>,
    /// After importing, give the store these coverage rules (a
    /// coverage.toml), checked against its layers.
    #[arg(long)]
    pub rules: Option<PathBuf>,
}

/// The store file `serve` uses when given neither `--store` nor `--data`
/// (gitignored; delete it to start over from `geodata/`).
pub use crate::store::open::DEFAULT_STORE;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; its secret is printed once, as the last line.
    Add {
        #[arg(long, env = "ZONEATLAS_STORE", default_value = DEFAULT_STORE)]
        store: PathBuf,
        /// viewer (reads with --private), editor (writes) or admin.
        #[arg(long, value_parser = ["viewer", "editor", "admin"])]
        role: String,
        /// Who the token is for; edits are recorded under this name.
        #[arg(long)]
        name: String,
    },
    /// List the tokens (names and roles; secrets are never stored).
    List {
        #[arg(long, env = "ZONEATLAS_STORE", default_value = DEFAULT_STORE)]
        store: PathBuf,
    },
    /// Revoke a token by name.
    Revoke {
        #[arg(long, env = "ZONEATLAS_STORE", default_value = DEFAULT_STORE)]
        store: PathBuf,
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Data folder: layers.toml plus one <id>.geojson per layer.
    #[arg(long, env = "ZONEATLAS_DATA", default_value = "geodata")]
    pub data: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Data folder (layers.toml plus one <id>.geojson per layer). Alone, it
    /// is served read-only; with --store, it seeds a store that does not
    /// exist yet. Default: geodata.
    #[arg(long, env = "ZONEATLAS_DATA")]
    pub data: Option<PathBuf>,
    /// GeoPackage store to serve and edit; created from the data folder if
    /// missing. Default, when neither --store nor --data is given:
    /// zoneatlas.gpkg (created from geodata/ on first start).
    #[arg(long, env = "ZONEATLAS_STORE")]
    pub store: Option<PathBuf>,
    /// Reads need a token too (any role); without it reads are public.
    #[arg(long, env = "ZONEATLAS_PRIVATE")]
    pub private: bool,
    /// Address to listen on, HOST:PORT (a name such as localhost is resolved);
    /// port 0 picks a free port (the bound address is logged).
    #[arg(long, env = "ZONEATLAS_ADDR", default_value = "127.0.0.1:8080", value_parser = parse_addr)]
    pub addr: SocketAddr,
    /// Folder of the web page served at /.
    #[arg(long, env = "ZONEATLAS_WEB", default_value = "web")]
    pub web: PathBuf,
    /// Base URL used in links (e.g. https://maps.example.org) when behind a proxy;
    /// by default links use the request's Host header.
    #[arg(long, env = "ZONEATLAS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The address of a reverse proxy whose X-Forwarded-Proto (links) and
    /// X-Forwarded-For (the client address per-client limits count) are
    /// believed; from anyone else they are dropped.
    #[arg(long, env = "ZONEATLAS_TRUSTED_PROXY")]
    pub trusted_proxy: Option<std::net::IpAddr>,
    /// Basemap tile URL template for the web map, e.g.
    /// https://tile.openstreetmap.org/{z}/{x}/{y}.png; none draws on a plain background.
    #[arg(long, env = "ZONEATLAS_BASEMAP_URL")]
    pub basemap_url: Option<String>,
    /// Attribution shown with the basemap.
    #[arg(long, env = "ZONEATLAS_BASEMAP_ATTRIBUTION", default_value = "")]
    pub basemap_attribution: String,
    /// The datum the basemap's tiles are drawn in: wgs84, or gcj02 (the
    /// page then shifts every overlay onto it).
    #[arg(long, env = "ZONEATLAS_BASEMAP_DATUM", default_value = "wgs84", value_parser = ["wgs84", "gcj02"])]
    pub basemap_datum: String,
    /// A basemap preset instead of a URL: tianditu (needs --basemap-key),
    /// amap (GCJ-02), osm.
    #[arg(long, env = "ZONEATLAS_BASEMAP", conflicts_with = "basemap_url")]
    pub basemap: Option<String>,
    /// The key a preset needs (Tianditu's developer key).
    #[arg(long, env = "ZONEATLAS_BASEMAP_KEY")]
    pub basemap_key: Option<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// How long and how much a client may hold on to (see README, "Limits").
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Seconds a client has to send a request's headers; also how long an idle
    /// kept-alive connection stays open.
    #[arg(long, env = "ZONEATLAS_HEADER_TIMEOUT", default_value = "10", value_parser = parse_seconds)]
    pub header_timeout: Duration,
    /// Seconds a client has to send a whole request body.
    #[arg(long, env = "ZONEATLAS_BODY_TIMEOUT", default_value = "30", value_parser = parse_seconds)]
    pub body_timeout: Duration,
    /// Seconds of CPU a coverage computation (a parcel, the sites) may take
    /// before it is abandoned with a 503.
    #[arg(long, env = "ZONEATLAS_COMPUTE_DEADLINE", default_value = "10", value_parser = parse_seconds)]
    pub compute_deadline: Duration,
    /// Most connections open at once; more wait in the accept queue.
    #[arg(long, env = "ZONEATLAS_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Seconds open connections get to finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "ZONEATLAS_SHUTDOWN_GRACE", default_value = "10", value_parser = parse_seconds)]
    pub shutdown_grace: Duration,
}

/// HOST:PORT, where HOST may be a name (`localhost:0`) or an address.
fn parse_addr(s: &str) -> Result<SocketAddr, String> {
    s.to_socket_addrs()
        .map_err(|e| format!("{s:?} is not HOST:PORT ({e})"))?
        .next()
        .ok_or_else(|| format!("{s:?} resolves to no address"))
}

/// A positive number of seconds (fractions allowed), at most a day.
fn parse_seconds(s: &str) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(v > 0.0 && v <= 86_400.0) {
        return Err(format!(
            "{s:?}: give a number of seconds above 0 and at most 86400"
        ));
    }
    Ok(Duration::from_secs_f64(v))
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

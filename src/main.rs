//! The `zoneatlas` binary: parse the command line, start tracing, then serve,
//! check or synthesise. All logic lives in the library.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;

use zoneatlas::catalog::Catalog;
use zoneatlas::config::{Cli, Command, ServeArgs, TokenCommand, DEFAULT_STORE};
use zoneatlas::live::{token_hash, Live};
use zoneatlas::store::folder::FolderStore;
use zoneatlas::store::gpkg::GpkgStore;
use zoneatlas::store::{pg, Role, Store, StoreError};

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
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // `{:#}` prints the context chain on one line; never a backtrace,
            // whatever RUST_BACKTRACE says: these are the user's errors.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        None => serve(cli.serve),
        Some(Command::Serve(args)) => serve(args),
        Some(Command::Check(args)) => {
            let started = Instant::now();
            let catalog = Catalog::open(&args.data).with_context(|| {
                format!("{}: the data folder is not valid", args.data.display())
            })?;
            println!(
                "{}: {} layers, valid (loaded and indexed in {:.2?})",
                args.data.display(),
                catalog.layers.len(),
                started.elapsed()
            );
            for s in catalog.summaries() {
                println!("  {s}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Token(cmd)) => token(cmd),
        Some(Command::Import(args)) => import(args),
        Some(Command::Export(args)) => {
            let crs = crs_flag(args.crs.as_deref())?;
            let n = zoneatlas::export::export(&args.store, &args.layer, &args.out, crs)
                .map_err(|e| anyhow::anyhow!("exporting {}: {e}", args.layer))?;
            println!("{}: {n} features of {}", args.out.display(), args.layer);
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Synth(args)) => {
            let started = Instant::now();
            let stats = zoneatlas::synth::write(&args.out, args.segments, args.seed)
                .with_context(|| format!("writing {}", args.out.display()))?;
            println!(
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

/// Which store `serve` opens: `--store` (created from the data folder when
/// missing), else `--data` read-only, else the default store created from
/// `geodata/`.
fn open_store(args: &ServeArgs) -> anyhow::Result<Box<dyn Store>> {
    let store_path = match (&args.store, &args.data) {
        (Some(p), _) if p.to_str().is_some_and(pg::is_url) => {
            return open_postgis(p.to_str().unwrap_or_default(), args.data.as_deref())
        }
        (Some(p), _) => p.clone(),
        (None, Some(dir)) => return Ok(Box::new(FolderStore::new(dir.clone()))),
        (None, None) => PathBuf::from(DEFAULT_STORE),
    };
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| PathBuf::from("geodata"));
    if !store_path.exists() {
        let started = Instant::now();
        let created =
            zoneatlas::store::gpkg::create_from_folder(&store_path, &data).with_context(|| {
                format!("creating {} from {}", store_path.display(), data.display())
            })?;
        tracing::info!(
            store = %store_path.display(),
            from = %data.display(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "created the store from the data folder"
        );
        return Ok(Box::new(created));
    }
    let store = GpkgStore::open(&store_path)
        .with_context(|| format!("opening the store {}", store_path.display()))?;
    Ok(Box::new(store))
}

/// A PostGIS store (waiting for the database), filled from the data folder
/// when it holds no zone yet.
fn open_postgis(url: &str, data: Option<&std::path::Path>) -> anyhow::Result<Box<dyn Store>> {
    let shown = pg::shown(url);
    let mut store = pg::PgStore::open(url, true).with_context(|| format!("opening {shown}"))?;
    if !store.is_empty()? {
        return Ok(Box::new(store));
    }
    let data = data.unwrap_or(std::path::Path::new("geodata"));
    let started = Instant::now();
    let created = pg::create_from_folder(url, data)
        .with_context(|| format!("filling {shown} from {}", data.display()))?;
    tracing::info!(
        store = %shown,
        from = %data.display(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "filled the database from the data folder"
    );
    Ok(Box::new(created))
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let store = open_store(&args)?;
    let description = store.describe();
    let live = Live::open(store).with_context(|| format!("{description}: cannot be served"))?;
    let catalog = live.snapshot();
    for s in catalog.summaries() {
        tracing::info!(layer = %s.id, features = s.features, "{s}");
    }
    tracing::info!(
        layers = catalog.layers.len(),
        revision = catalog.revision,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "loaded and indexed {description}"
    );
    let web_dir = args.web.is_dir().then(|| args.web.clone());
    if web_dir.is_none() {
        tracing::warn!(web = %args.web.display(), "web folder not found; serving the API only");
    }
    if catalog.coverage.is_some() {
        // Zone shares and gaps take a moment to compute; do it off the
        // request path so /api/coverage/zone answers from the cache.
        let warm = Arc::clone(&catalog);
        std::thread::spawn(move || {
            let started = Instant::now();
            if let Some(c) = &warm.coverage {
                c.warm(&warm.layers);
            }
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "zone coverage computed"
            );
        });
    }
    drop(catalog);
    let basemap = match (&args.basemap, &args.basemap_url) {
        (Some(name), _) => Some(
            zoneatlas::api::Basemap::preset(name, args.basemap_key.as_deref())
                .map_err(|e| anyhow::anyhow!("--basemap: {e}"))?,
        ),
        (None, Some(url)) => Some(zoneatlas::api::Basemap {
            url: url.clone(),
            attribution: args.basemap_attribution.clone(),
            subdomains: "abc".into(),
            datum: args.basemap_datum.clone(),
        }),
        (None, None) => None,
    };
    let live = Arc::new(live);
    if Live::follow(&live).context("following the store's other writers")? {
        tracing::info!(
            "following the database: other servers' and SQL edits are applied as they commit"
        );
    }
    let app = zoneatlas::app(
        live,
        zoneatlas::api::Options {
            public_url: args.public_url.clone(),
            web_dir,
            basemap,
            body_timeout: args.limits.body_timeout,
            compute_deadline: args.limits.compute_deadline,
            private: args.private,
        },
    );
    let limits = zoneatlas::api::server::ConnectionLimits {
        header_timeout: args.limits.header_timeout,
        max_connections: args.limits.max_connections as usize,
        shutdown_grace: args.limits.shutdown_grace,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("binding {}", args.addr))?;
        let bound = listener.local_addr()?;
        tracing::info!(addr = %bound, "listening on http://{bound}/ (API at http://{bound}/api)");
        let clean = zoneatlas::api::server::serve(listener, app, limits, shutdown_signal()).await;
        tracing::info!(clean, "stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// A store whose tokens `zoneatlas token` manages.
enum TokenStore {
    Gpkg(GpkgStore),
    Pg(pg::PgStore),
}

impl TokenStore {
    fn open(p: &std::path::Path) -> anyhow::Result<TokenStore> {
        match p.to_str().filter(|s| pg::is_url(s)) {
            Some(url) => Ok(TokenStore::Pg(
                pg::PgStore::open(url, false)
                    .with_context(|| format!("opening {}", pg::shown(url)))?,
            )),
            None => {
                Ok(TokenStore::Gpkg(GpkgStore::open(p).with_context(|| {
                    format!("opening the store {}", p.display())
                })?))
            }
        }
    }
    fn add(&mut self, name: &str, role: Role, hash: &[u8; 32]) -> Result<(), StoreError> {
        match self {
            TokenStore::Gpkg(s) => s.add_token(name, role, hash),
            TokenStore::Pg(s) => s.add_token(name, role, hash),
        }
    }
    fn revoke(&mut self, name: &str) -> Result<bool, StoreError> {
        match self {
            TokenStore::Gpkg(s) => s.revoke_token(name),
            TokenStore::Pg(s) => s.revoke_token(name),
        }
    }
    fn list(&mut self) -> Result<Vec<zoneatlas::store::TokenRecord>, StoreError> {
        match self {
            TokenStore::Gpkg(s) => s.tokens(),
            TokenStore::Pg(s) => s.tokens(),
        }
    }
}

/// `zoneatlas token add|list|revoke`.
fn token(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCommand::Add { store, role, name } => {
            let mut s = TokenStore::open(&store)?;
            let role = Role::parse(&role).context("role must be viewer, editor or admin")?;
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes)
                .map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
            let secret = format!("za_{}", zoneatlas::store::gpkg::hex(&bytes));
            s.add(&name, role, &token_hash(&secret))?;
            println!(
                "token {name:?} ({}) added to {}; keep the secret below, it is not stored:",
                role.name(),
                zoneatlas::store::display_name(&store)
            );
            println!("{secret}");
        }
        TokenCommand::List { store } => {
            for t in TokenStore::open(&store)?.list()? {
                println!("{}\t{}\tcreated {}", t.name, t.role.name(), t.created);
            }
        }
        TokenCommand::Revoke { store, name } => {
            if !TokenStore::open(&store)?.revoke(&name)? {
                anyhow::bail!(
                    "no token named {name:?} in {}",
                    zoneatlas::store::display_name(&store)
                );
            }
            println!("token {name:?} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C, or SIGTERM from a service manager or container runtime: finish
/// the requests in flight, then exit.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

fn import(args: zoneatlas::config::ImportArgs) -> anyhow::Result<ExitCode> {
    let code = import_data(&args)?;
    if let Some(path) = &args.rules {
        let text = zoneatlas::load::read_regular_text(path)
            .with_context(|| format!("{}", path.display()))?;
        zoneatlas::import::set_rules(&args.store, &text).with_context(|| {
            format!(
                "{}: setting its coverage rules",
                zoneatlas::store::display_name(&args.store)
            )
        })?;
        println!(
            "{}: coverage rules from {}",
            zoneatlas::store::display_name(&args.store),
            path.display()
        );
    }
    Ok(code)
}

fn import_data(args: &zoneatlas::config::ImportArgs) -> anyhow::Result<ExitCode> {
    if let Some(pbf) = &args.osm {
        let profile = args
            .profile
            .as_ref()
            .map(|p| {
                zoneatlas::load::read_regular_text(p).with_context(|| format!("{}", p.display()))
            })
            .transpose()?;
        let started = Instant::now();
        let s = zoneatlas::import::import_osm(&args.store, pbf, profile.as_deref()).with_context(
            || {
                format!(
                    "importing {} into {}",
                    pbf.display(),
                    zoneatlas::store::display_name(&args.store)
                )
            },
        )?;
        for (layer, n, skipped) in &s.layers {
            println!(
                "  {layer}: {n} features{}",
                if *skipped > 0 {
                    format!(" ({skipped} skipped: invalid geometry or id in use)")
                } else {
                    String::new()
                }
            );
        }
        println!(
            "{}: {} features from {} in {:.2?}, revision {}{}",
            zoneatlas::store::display_name(&args.store),
            s.layers.iter().map(|l| l.1).sum::<usize>(),
            pbf.display(),
            started.elapsed(),
            s.revision
                .map_or("unchanged (nothing to import)".into(), |r| r.to_string()),
            if s.dropped > 0 {
                format!(
                    "; {} elements without a buildable geometry dropped",
                    s.dropped
                )
            } else {
                String::new()
            }
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(layer), Some(source)) = (args.layer.clone(), args.source.clone()) else {
        anyhow::bail!("give --layer ID SOURCE, or --osm EXTRACT.osm.pbf");
    };
    let progress = std::sync::Arc::new(zoneatlas::import::Progress::default());
    let pair = |s: &str, what: &str| -> anyhow::Result<(String, String)> {
        s.split_once('=')
            .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
            .filter(|(a, _)| !a.is_empty())
            .ok_or_else(|| anyhow::anyhow!("--{what} {s:?}: expected NAME=VALUE"))
    };
    let crs = crs_flag(args.crs.as_deref())?;
    let opts = zoneatlas::import::Options {
        layer,
        crs,
        encoding: args.encoding.clone(),
        map: args
            .map
            .iter()
            .map(|m| pair(m, "map"))
            .collect::<Result<_, _>>()?,
        set: args
            .set
            .iter()
            .map(|m| {
                pair(m, "set").map(|(k, v)| {
                    let value = serde_json::from_str(&v).unwrap_or(serde_json::Value::String(v));
                    (k, value)
                })
            })
            .collect::<Result<_, _>>()?,
        skip_invalid: args.skip_invalid,
        title: args.title.clone(),
        progress: Some(progress.clone()),
    };
    // A progress line on a terminal while a large file is validated.
    let shown = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let ticker = std::io::stderr().is_terminal().then(|| {
        let (p, shown) = (progress.clone(), shown.clone());
        std::thread::spawn(move || loop {
            std::thread::sleep(std::time::Duration::from_millis(250));
            let (done, total) = (
                p.done.load(std::sync::atomic::Ordering::Relaxed),
                p.total.load(std::sync::atomic::Ordering::Relaxed),
            );
            if total >= 10_000 && done < total {
                shown.store(true, std::sync::atomic::Ordering::Relaxed);
                eprint!(
                    "\rvalidating {done}/{total} features ({:.0}%)",
                    done as f64 * 100.0 / total as f64
                );
            }
            if total > 0 && done >= total {
                break;
            }
        })
    });
    let started = Instant::now();
    let result = zoneatlas::import::import(&args.store, &source, &opts);
    progress
        .done
        .store(usize::MAX, std::sync::atomic::Ordering::Relaxed);
    progress
        .total
        .store(1, std::sync::atomic::Ordering::Relaxed);
    if let Some(t) = ticker {
        let _ = t.join();
    }
    if shown.load(std::sync::atomic::Ordering::Relaxed) {
        eprintln!();
    }
    let s = result.with_context(|| {
        format!(
            "importing {source} into {}",
            zoneatlas::store::display_name(&args.store)
        )
    })?;
    for skip in &s.skipped {
        eprintln!("skipped: {skip}");
    }
    println!(
        "{}: {} features {} layer {} from {} ({}), revision {}, in {:.2?}{}",
        zoneatlas::store::display_name(&args.store),
        s.imported,
        if s.created_layer {
            "into the new"
        } else {
            "appended to"
        },
        s.layer,
        source,
        s.crs,
        s.revision,
        started.elapsed(),
        if s.skipped.is_empty() {
            String::new()
        } else {
            format!(", {} skipped", s.skipped.len())
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// A `--crs` flag's CRS.
fn crs_flag(text: Option<&str>) -> anyhow::Result<Option<zoneatlas::crs::Crs>> {
    text.map(zoneatlas::crs::Crs::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--crs: {e}"))
}

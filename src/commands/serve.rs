//! `zoneatlas serve`: open the store, build the first snapshot, compute the
//! zone results in the background, then serve the API and the map until
//! Ctrl-C or SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use crate::config::ServeArgs;
use crate::live::Live;

/// Serve until told to stop.
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    // Zone computations start before the router exists: count them.
    crate::metrics::global();
    let store = crate::store::open::for_serving(args.store.as_deref(), args.data.as_deref())
        .context("opening the store")?;
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
    {
        // What the layers' properties hold: every /items request and edit
        // reads it, and it takes seconds to count at tens of millions of
        // features. Counted off the request path, beside the zone.
        let warm = Arc::clone(&catalog);
        std::thread::spawn(move || {
            let started = Instant::now();
            for l in &warm.layers {
                l.properties();
            }
            tracing::info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "property summaries counted"
            );
        });
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
            crate::api::Basemap::preset(name, args.basemap_key.as_deref())
                .map_err(|e| anyhow::anyhow!("--basemap: {e}"))?,
        ),
        (None, Some(url)) => Some(crate::api::Basemap {
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
            "following the store: edits by other servers and tools (QGIS, SQL) are applied as they commit"
        );
    }
    let app = crate::app(
        live,
        crate::api::Options {
            public_url: args.public_url.clone(),
            web_dir,
            basemap,
            body_timeout: args.limits.body_timeout,
            compute_deadline: args.limits.compute_deadline,
            private: args.private,
        },
    );
    let limits = crate::api::server::ConnectionLimits {
        header_timeout: args.limits.header_timeout,
        max_connections: args.limits.max_connections as usize,
        shutdown_grace: args.limits.shutdown_grace,
        operator_paths: crate::api::OPERATOR_PATHS,
        trusted_proxy: args.trusted_proxy,
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let grace = args.limits.shutdown_grace;
    let outcome = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("binding {}", args.addr))?;
        let bound = listener.local_addr()?;
        tracing::info!(addr = %bound, "listening on http://{bound}/ (API at http://{bound}/api)");
        let clean = crate::api::server::serve(listener, app, limits, shutdown_signal()).await;
        tracing::info!(clean, "stopped");
        Ok(ExitCode::SUCCESS)
    });
    // Dropping a runtime waits for every blocking task (a request waiting
    // on a zone computation); the grace period has passed already, so
    // leave them (the computation threads end with the process).
    runtime.shutdown_timeout(grace.min(std::time::Duration::from_secs(1)));
    outcome
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

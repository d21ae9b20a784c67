//! The HTTP boundary: the only module that knows axum, http, hyper and tower.
//!
//! `router` mounts every resource's endpoint table under `/api` (`/health`
//! included) and the web page (static files) at `/`, then wraps it in the
//! middleware stack: panic catching, request tracing, CORS, compression,
//! security headers, Host and URI checks, a bounded body read, and ETags.
//! `server` runs the connection loop with its timeouts. One file per
//! resource (`ogc`, `items`, `edit`, `coverage`, `plan`, `history`,
//! `proposals`, `tiles`, `ops`, `auth`), each with its endpoint table.

mod auth;
mod basemap;
pub mod compute;
pub mod coverage;
pub mod edit;
mod error;
mod feature;
mod filter;
pub mod history;
pub mod items;
mod links;
pub mod media;
mod middleware;
pub mod ogc;
pub mod openapi;
mod ops;
pub mod params;
pub mod plan;
mod proposals;
pub mod server;
mod state;
mod streams;
mod throttle;
pub mod tiles;
pub use ops::OPERATOR_PATHS;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::IntoResponse;
use axum::Router;
use tower::Layer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::services::ServeDir;

pub use basemap::Basemap;
pub use error::ApiError;
pub use media::json_response;
pub use middleware::limits::{valid_host, MAX_BODY_BYTES, MAX_URI_BYTES};
pub use middleware::pin::{MIN_REVISION_HEADER, PROPOSAL_HEADER, REVISION_HEADER};
use middleware::{etag, headers, limits, observe, pin, private};
use openapi::Endpoint;
pub use state::{base_url, find_layer, AppState, Ctx, Options, Shared};

use crate::live::Live;

/// Every endpoint of the server, in documentation order.
pub fn endpoints() -> Vec<&'static Endpoint> {
    ogc::ENDPOINTS
        .iter()
        .chain(items::ENDPOINTS)
        .chain(auth::ENDPOINTS)
        .chain(edit::ENDPOINTS)
        .chain(coverage::ENDPOINTS)
        .chain(plan::ENDPOINTS)
        .chain(history::ENDPOINTS)
        .chain(proposals::ENDPOINTS)
        .chain(tiles::ENDPOINTS)
        .chain(ops::ENDPOINTS)
        .collect()
}

/// The whole application: API, health check, web page, middleware.
pub fn router(live: Arc<Live>, options: Options) -> Router {
    // The registry watches zone computations from its first use on.
    crate::metrics::global();
    let state = AppState(Arc::new(Shared {
        live,
        public_url: options
            .public_url
            .map(|u| Arc::from(u.trim_end_matches('/'))),
        basemap: options.basemap.map(Arc::new),
        compute: compute::Compute::new(options.compute_deadline),
        body_timeout: options.body_timeout,
        private: options.private,
        streams: Arc::default(),
        failed_tokens: throttle::Throttle::default(),
    }));
    let csp = headers::content_security_policy(state.basemap.as_deref().map(|b| b.url.as_str()));
    let mut routes = Router::new();
    for e in endpoints() {
        routes = routes.route(e.path, (e.route)());
    }
    // Unknown paths under /api get a JSON 404 even when the web page is the
    // fallback for everything else.
    let mut app = routes
        .route(
            "/api/{*rest}",
            axum::routing::any(|| async { ApiError::not_found("no such API resource") }),
        )
        .method_not_allowed_fallback(|method: Method| async move {
            ApiError::method_not_allowed(format!("method {method} is not allowed on this resource"))
        });
    app = match options.web_dir {
        // ServeDir answers a missing file with an empty 404; say something.
        Some(dir) => app.fallback_service(ServeDir::new(dir).not_found_service(
            axum::routing::any(|| async { (StatusCode::NOT_FOUND, "not found\n") }),
        )),
        None => app.fallback(|| async { ApiError::not_found("not found") }),
    };
    let app = app
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(from_fn_with_state(state.clone(), etag::etag))
        .layer(from_fn_with_state(state.clone(), limits::buffer_body))
        .layer(from_fn_with_state(state.clone(), pin::pin_snapshot))
        .layer(from_fn_with_state(state.clone(), private::private_reads));

    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        // Listed, not `*`: a wildcard does not cover Authorization.
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::IF_NONE_MATCH,
            header::ACCEPT,
            header::HeaderName::from_static("last-event-id"),
            header::HeaderName::from_static(MIN_REVISION_HEADER),
            header::HeaderName::from_static(PROPOSAL_HEADER),
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::LINK,
            header::HeaderName::from_static(REVISION_HEADER),
            header::HeaderName::from_static(PROPOSAL_HEADER),
        ])
        .max_age(Duration::from_secs(3600));

    let inner = app
        .layer(from_fn(limits::check_request))
        // The fastest level (gzip 1, brotli 1), as NGINX compresses on the
        // fly by default: a dense vector tile is 1.6 MB, and brotli's 4
        // costs more server time than it saves on any local network.
        .layer(CompressionLayer::new().quality(tower_http::CompressionLevel::Fastest))
        .layer(from_fn(move |req: Request, next: Next| {
            let csp = csp.clone();
            headers::security_headers(req, next, csp)
        }))
        .layer(cors)
        .layer(from_fn(observe::observe))
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::internal("a handler panicked").into_response()
            },
        ))
        .with_state(state);
    // `/api/` and `/api/collections/` are the same resources as without the
    // slash (OWSLib appends one). Rewriting must happen before routing, so
    // the normalising service wraps the whole router.
    Router::new().fallback_service(NormalizePathLayer::trim_trailing_slash().layer(inner))
}

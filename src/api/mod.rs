//! The HTTP boundary: the only module that knows axum, http and tower.
//!
//! `router` mounts every resource's endpoint table under `/api`, `/health`,
//! and the web page (static files) at `/`, then wraps it in the middleware
//! stack: panic catching, request tracing, CORS, compression, a URI length
//! limit and ETags.

pub mod coverage;
mod error;
pub mod items;
pub mod ogc;
pub mod openapi;
pub mod params;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::services::ServeDir;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use error::ApiError;
use openapi::Endpoint;

use crate::catalog::Catalog;

/// Longest URI (path + query) accepted; longer ones get 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest request body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler can see.
#[derive(Clone)]
pub struct AppState {
    pub catalog: Arc<Catalog>,
    /// Base URL for links (`http://host:port`), when set in the config;
    /// otherwise taken from each request's `Host` header.
    pub public_url: Option<Arc<str>>,
    /// Basemap tile URL and attribution for the web map (in the landing page).
    pub basemap: Option<Arc<(String, String)>>,
}

/// How the router is put together.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub public_url: Option<String>,
    /// Folder of the web page; `None` serves no page.
    pub web_dir: Option<PathBuf>,
    /// Basemap tile URL template and attribution, if any.
    pub basemap: Option<(String, String)>,
}

/// Every endpoint of the API, in documentation order.
pub fn endpoints() -> Vec<&'static Endpoint> {
    ogc::ENDPOINTS
        .iter()
        .chain(items::ENDPOINTS)
        .chain(coverage::ENDPOINTS)
        .collect()
}

/// The whole application: API, health check, web page, middleware.
pub fn router(catalog: Arc<Catalog>, options: Options) -> Router {
    let state = AppState {
        catalog,
        public_url: options
            .public_url
            .map(|u| Arc::from(u.trim_end_matches('/'))),
        basemap: options.basemap.map(Arc::new),
    };
    let mut api = Router::new();
    for e in endpoints() {
        api = api.route(e.path, (e.route)());
    }
    // Unknown paths under /api get a JSON 404 even when the web page is the
    // fallback for everything else.
    let api = api
        .route(
            "/api/{*rest}",
            axum::routing::any(|| async { ApiError::not_found("no such API resource") }),
        )
        .layer(middleware::from_fn_with_state(state.clone(), etag));

    let mut app = Router::new()
        .route("/health", get(health))
        .merge(api)
        .method_not_allowed_fallback(|method: Method| async move {
            ApiError {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: "MethodNotAllowed",
                description: format!("method {method} is not allowed on this resource"),
            }
        });
    app = match options.web_dir {
        Some(dir) => app.fallback_service(ServeDir::new(dir)),
        None => app.fallback(|| async { ApiError::not_found("not found") }),
    };

    let trace = TraceLayer::new_for_http()
        .make_span_with(|req: &Request| {
            let path = req
                .extensions()
                .get::<MatchedPath>()
                .map(|m| m.as_str().to_owned())
                .unwrap_or_else(|| req.uri().path().to_owned());
            tracing::info_span!("request", method = %req.method(), path, uri = %req.uri())
        })
        .on_response(
            DefaultOnResponse::new()
                .level(Level::INFO)
                .latency_unit(tower_http::LatencyUnit::Micros),
        );
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::OPTIONS])
        .allow_headers(Any)
        .expose_headers([header::ETAG])
        .max_age(Duration::from_secs(3600));

    app.layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(limit_uri))
        .layer(CompressionLayer::new())
        .layer(cors)
        .layer(trace)
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                ApiError::internal("a handler panicked").into_response()
            },
        ))
        .with_state(state)
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    // The server binds only after the catalog is loaded, so reaching this
    // handler means the data is in.
    let features: usize = state
        .catalog
        .layers
        .iter()
        .map(|l| l.layer.features.len())
        .sum();
    axum::Json(serde_json::json!({
        "status": "ok",
        "layers": state.catalog.layers.len(),
        "features": features,
    }))
}

async fn limit_uri(req: Request, next: Next) -> Response {
    let len = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if len > MAX_URI_BYTES {
        return ApiError {
            status: StatusCode::URI_TOO_LONG,
            code: "URITooLong",
            description: format!("the URI is {len} bytes; at most {MAX_URI_BYTES} are accepted"),
        }
        .into_response();
    }
    next.run(req).await
}

/// Weak ETags from the data version and the request: the data never changes
/// while the process runs, so the same URL (and Host, which links embed)
/// always yields the same body. Matching `If-None-Match` gets 304 without
/// running the handler.
async fn etag(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return next.run(req).await;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hash::hash(&req.uri().to_string(), &mut h);
    std::hash::Hash::hash(
        &req.headers().get(header::HOST).map(|v| v.as_bytes()),
        &mut h,
    );
    let tag = format!(
        "W/\"{:016x}{:016x}\"",
        state.catalog.version,
        std::hash::Hasher::finish(&h)
    );
    let matches = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == tag.trim_start_matches("W/")
        });
    let value = HeaderValue::from_str(&tag).ok();
    if matches {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        if let Some(v) = value {
            resp.headers_mut().insert(header::ETAG, v);
        }
        return resp;
    }
    let mut resp = next.run(req).await;
    if resp.status() == StatusCode::OK {
        if let Some(v) = value {
            resp.headers_mut().insert(header::ETAG, v);
        }
    }
    resp
}

/// `http://host:port` of this server as the client sees it.
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &state.public_url {
        return u.to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{proto}://{host}")
}

/// A layer by collection id, or a 404 that lists the collections.
pub fn find_layer<'a>(
    s: &'a AppState,
    id: &str,
) -> Result<&'a crate::index::IndexedLayer, ApiError> {
    s.catalog.layer(id).ok_or_else(|| {
        let known: Vec<&str> = s
            .catalog
            .layers
            .iter()
            .map(|l| l.layer.meta.id.as_str())
            .collect();
        ApiError::not_found(format!(
            "no collection {id:?}; the collections are: {}",
            known.join(", ")
        ))
    })
}

/// A JSON response with an explicit media type.
pub fn json_response(media_type: &'static str, body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, media_type)], body).into_response()
}

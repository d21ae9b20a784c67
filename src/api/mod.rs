//! The HTTP boundary: the only module that knows axum, http, hyper and tower.
//!
//! `router` mounts every resource's endpoint table under `/api` (`/health`
//! included) and the web page (static files) at `/`, then wraps it in the
//! middleware stack: panic catching, request tracing, CORS, compression,
//! security headers, Host and URI checks, a bounded body read, and ETags.
//! `server` runs the connection loop with its timeouts.

pub mod compute;
pub mod coverage;
pub mod edit;
mod error;
mod filter;
pub mod history;
pub mod items;
pub mod ogc;
pub mod openapi;
pub mod params;
pub mod plan;
pub mod server;
pub mod tiles;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{MatchedPath, RawQuery, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use tower::Layer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{Any, CorsLayer};
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::services::ServeDir;

pub use error::ApiError;
use openapi::Endpoint;

use crate::catalog::Catalog;
use crate::live::Live;

/// A handler's view of one request: the snapshot pinned for it (so its body
/// and its ETag agree, whatever edits land meanwhile) and the shared state.
pub struct Ctx {
    pub catalog: Arc<Catalog>,
    shared: AppState,
}

impl std::ops::Deref for Ctx {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.shared
    }
}

impl axum::extract::FromRequestParts<AppState> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let catalog = parts
            .extensions
            .get::<Arc<Catalog>>()
            .cloned()
            .unwrap_or_else(|| state.live.snapshot());
        Ok(Ctx {
            catalog,
            shared: state.clone(),
        })
    }
}

/// With `--private`, every API read needs a valid token of any role
/// (`/health` and the page's static files stay public: they hold no data).
async fn private_reads(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.private && req.uri().path().starts_with("/api") && req.method() != Method::OPTIONS {
        let checked = edit::bearer(req.headers()).map(|t| state.live.check_token(t));
        if let Some(Err(e)) = checked {
            return edit::unchecked(e).into_response();
        }
        if !matches!(checked, Some(Ok(Some(_)))) {
            return ApiError::unauthorized(
                "this server is private: send Authorization: Bearer <token> (any role)",
            )
            .into_response();
        }
    }
    next.run(req).await
}

/// Pin one snapshot for the request (outermost, before ETags): the current
/// one, or with `asof` the data as it stood then (built off the async
/// workers). Every answer says which revision it reflects, in
/// `Zoneatlas-Revision`.
async fn pin_snapshot(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // Decoded only when it may hold one (literally, or percent-encoded):
    // this runs on every request.
    let asof = match req
        .uri()
        .query()
        .filter(|q| q.contains("asof") || q.contains('%'))
    {
        None => None,
        Some(raw) => match params::QueryPairs::parse(Some(raw)).single("asof") {
            Ok(a) => a.map(str::to_owned),
            Err(e) => return e.into_response(),
        },
    };
    if let Some(v) = req.headers().get(MIN_REVISION_HEADER) {
        let Some(wanted) = v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) else {
            return ApiError::bad_request(format!(
                "{MIN_REVISION_HEADER} must be a revision number (a whole number)"
            ))
            .into_response();
        };
        if let Err(e) = at_least(&state.live, wanted).await {
            return e;
        }
    }
    let reads = matches!(*req.method(), Method::GET | Method::HEAD | Method::POST);
    // A revision or instant asked before needs no trip to the blocking pool.
    let cached = asof
        .as_deref()
        .filter(|_| reads)
        .and_then(|t| state.live.as_of_cached(t));
    let snapshot = match (asof, cached) {
        (_, Some(s)) => s,
        (Some(text), None) if reads => {
            let live = Arc::clone(&state.live);
            let pinned = tokio::task::spawn_blocking(move || {
                let revision = crate::history::resolve(&live, &text)?;
                live.as_of(revision)
            })
            .await;
            match pinned {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return ApiError::from(e).into_response(),
                Err(e) => return ApiError::internal(e).into_response(),
            }
        }
        _ => state.live.snapshot(),
    };
    let revision = snapshot.revision;
    req.extensions_mut().insert(snapshot);
    let mut resp = next.run(req).await;
    // A write names the revision it committed itself.
    resp.headers_mut()
        .entry(REVISION_HEADER)
        .or_insert(HeaderValue::from(revision));
    resp
}

/// Wait (briefly) until the live snapshot is at `wanted` or later: what a
/// client that just wrote through another server asks for.
async fn at_least(live: &Live, wanted: u64) -> Result<(), Response> {
    let deadline = std::time::Instant::now() + MIN_REVISION_WAIT;
    loop {
        let at = live.snapshot().revision;
        if at >= wanted {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            let mut resp = ApiError::not_ready(format!(
                "this server is at revision {at}, not yet at {wanted}; retry shortly"
            ))
            .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Err(resp);
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The request header asking for an answer at this revision or later.
pub const MIN_REVISION_HEADER: &str = "zoneatlas-min-revision";
/// How long a request waits for the revision it asks for.
const MIN_REVISION_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The response header naming the revision an answer reflects.
pub const REVISION_HEADER: &str = "zoneatlas-revision";

/// Longest URI (path + query) accepted; longer ones get 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Largest request body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// What every handler can see, behind one `Arc`: the middleware layers and
/// extractors clone it for every request, and that is then one atomic
/// increment rather than one per field.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The fields of `AppState`.
pub struct Shared {
    /// The live seat: snapshots for reads, the writer for edits.
    pub live: Arc<Live>,
    /// Base URL for links (`http://host:port`), when set in the config;
    /// otherwise taken from each request's (validated) `Host` header.
    pub public_url: Option<Arc<str>>,
    /// The web map's basemap (in the landing page).
    pub basemap: Option<Arc<Basemap>>,
    /// Reads need a token too (`--private`).
    pub private: bool,
    /// Runs CPU-heavy answers off the async workers, bounded.
    pub compute: compute::Compute,
    pub body_timeout: Duration,
}

/// A tile basemap for the web map.
#[derive(Debug, Clone)]
pub struct Basemap {
    /// Leaflet URL template (`{z}`, `{x}`, `{y}`, `{s}`).
    pub url: String,
    pub attribution: String,
    /// What `{s}` takes (Leaflet's default: `abc`).
    pub subdomains: String,
    /// The datum its tiles are drawn in: `wgs84`, or `gcj02` (Amap and most
    /// Chinese web maps), in which case the page shifts every overlay.
    pub datum: String,
}

impl Basemap {
    /// A named preset: `tianditu` (needs `key`; CGCS2000, drawn as WGS84),
    /// `amap` (GCJ-02), `osm`.
    pub fn preset(name: &str, key: Option<&str>) -> Result<Basemap, String> {
        match name {
            "tianditu" => {
                let key = key.ok_or("the tianditu basemap needs --basemap-key (a Tianditu developer key)")?;
                Ok(Basemap {
                    url: format!("https://t{{s}}.tianditu.gov.cn/DataServer?T=vec_w&x={{x}}&y={{y}}&l={{z}}&tk={key}"),
                    attribution: "© 天地图 Tianditu".into(),
                    subdomains: "01234567".into(),
                    datum: "wgs84".into(),
                })
            }
            "amap" => Ok(Basemap {
                url: "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}".into(),
                attribution: "© 高德地图 AutoNavi".into(),
                subdomains: "1234".into(),
                datum: "gcj02".into(),
            }),
            "osm" => Ok(Basemap {
                url: "https://tile.openstreetmap.org/{z}/{x}/{y}.png".into(),
                attribution: "© OpenStreetMap contributors".into(),
                subdomains: "abc".into(),
                datum: "wgs84".into(),
            }),
            other => Err(format!("no basemap preset {other:?}; the presets are tianditu, amap, osm")),
        }
    }
}

/// How the router is put together.
#[derive(Debug, Clone)]
pub struct Options {
    pub public_url: Option<String>,
    /// Folder of the web page; `None` serves no page.
    pub web_dir: Option<PathBuf>,
    /// The web map's basemap, if any.
    pub basemap: Option<Basemap>,
    /// How long a client has to send a whole request body (then 408).
    pub body_timeout: Duration,
    /// How long a CPU-heavy computation may run (then 503).
    pub compute_deadline: Duration,
    /// Reads need a token too.
    pub private: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            public_url: None,
            web_dir: None,
            basemap: None,
            body_timeout: Duration::from_secs(30),
            compute_deadline: Duration::from_secs(10),
            private: false,
        }
    }
}

/// `/health`: 200 once the data is loaded (the server binds only then).
pub const HEALTH: Endpoint = Endpoint {
    method: "get",
    path: "/health",
    operation_id: "getHealth",
    summary: "Liveness: the data is loaded; layer and feature counts",
    tag: "Capabilities",
    params: &[],
    request_body: None,
    responses: &[
        (
            200,
            "application/json",
            "The server is up and its data loaded",
        ),
        (
            400,
            "application/json",
            "A parameter was given (none is accepted)",
        ),
    ],
    route: || get(health),
};

/// `/ready`: for load balancers, 200 while the server can take writes and
/// follow other servers' edits, 503 while its store is out of reach (it
/// still answers reads from its last snapshot).
pub const READY: Endpoint = Endpoint {
    method: "get",
    path: "/ready",
    operation_id: "getReady",
    summary: "Readiness: the store can be reached (503 while it cannot)",
    tag: "Capabilities",
    params: &[],
    request_body: None,
    responses: &[
        (200, "application/json", "Ready: reads and writes work"),
        (
            400,
            "application/json",
            "A parameter was given (none is accepted)",
        ),
        (
            503,
            "application/json",
            "The store is out of reach: reads answer from the last snapshot, writes fail",
        ),
    ],
    route: || get(ready),
};

/// `/metrics`: counters for Prometheus.
pub const METRICS: Endpoint = Endpoint {
    method: "get",
    path: "/metrics",
    operation_id: "getMetrics",
    summary: "Prometheus metrics: requests and latency per route and status, requests in flight, snapshot revision, zone computations, memory",
    tag: "Capabilities",
    params: &[],
    request_body: None,
    responses: &[
        (
            200,
            "text/plain",
            "The Prometheus text exposition format, version 0.0.4",
        ),
        (
            400,
            "application/json",
            "A parameter was given (none is accepted)",
        ),
    ],
    route: || get(metrics),
};

/// Every endpoint of the server, in documentation order.
pub fn endpoints() -> Vec<&'static Endpoint> {
    ogc::ENDPOINTS
        .iter()
        .chain(items::ENDPOINTS)
        .chain(edit::ENDPOINTS)
        .chain(coverage::ENDPOINTS)
        .chain(plan::ENDPOINTS)
        .chain(history::ENDPOINTS)
        .chain(tiles::ENDPOINTS)
        .chain(std::iter::once(&HEALTH))
        .chain(std::iter::once(&READY))
        .chain(std::iter::once(&METRICS))
        .collect()
}

/// The whole application: API, health check, web page, middleware.
pub fn router(live: Arc<Live>, options: Options) -> Router {
    let state = AppState(Arc::new(Shared {
        live,
        public_url: options
            .public_url
            .map(|u| Arc::from(u.trim_end_matches('/'))),
        basemap: options.basemap.map(Arc::new),
        compute: compute::Compute::new(options.compute_deadline),
        body_timeout: options.body_timeout,
        private: options.private,
    }));
    let csp = content_security_policy(state.basemap.as_deref().map(|b| b.url.as_str()));
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
            ApiError {
                status: StatusCode::METHOD_NOT_ALLOWED,
                code: "MethodNotAllowed",
                description: format!("method {method} is not allowed on this resource"),
            }
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
        .layer(middleware::from_fn_with_state(state.clone(), etag))
        .layer(middleware::from_fn_with_state(state.clone(), buffer_body))
        .layer(middleware::from_fn_with_state(state.clone(), pin_snapshot))
        .layer(middleware::from_fn_with_state(state.clone(), private_reads));

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
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::HeaderName::from_static(REVISION_HEADER),
        ])
        .max_age(Duration::from_secs(3600));

    let inner = app
        .layer(middleware::from_fn(check_request))
        // The fastest level (gzip 1, brotli 1), as NGINX compresses on the
        // fly by default: a dense vector tile is 1.6 MB, and brotli's 4
        // costs more server time than it saves on any local network.
        .layer(CompressionLayer::new().quality(tower_http::CompressionLevel::Fastest))
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let csp = csp.clone();
            security_headers(req, next, csp)
        }))
        .layer(cors)
        .layer(middleware::from_fn(observe))
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

/// The page's Content-Security-Policy: everything from this server, plus
/// the configured basemap's tiles. Leaflet positions tiles with inline
/// styles, hence `'unsafe-inline'` for styles only.
fn content_security_policy(basemap: Option<&str>) -> HeaderValue {
    let tiles = basemap
        .and_then(|url| {
            let rest = url.split_once("://")?;
            let host = rest.1.split('/').next()?;
            // Template hosts like {s}.tile.example.org or t{s}.tianditu.gov.cn
            // become a wildcard for their first label.
            let host = match host.split_once('.') {
                Some((first, rest)) if first.contains("{s}") => format!("*.{rest}"),
                _ => host.to_owned(),
            };
            Some(format!(" {}://{host}", rest.0))
        })
        .unwrap_or_default();
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:{tiles}; connect-src 'self'; object-src 'none'; \
         base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
    );
    HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("default-src 'self'"))
}

async fn security_headers(req: Request, next: Next, csp: HeaderValue) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let is_html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    resp
}

async fn health(state: Ctx, RawQuery(q): RawQuery) -> Response {
    if let Err(e) = params::QueryPairs::parse(q.as_deref()).reject_unknown(&[]) {
        return e.into_response();
    }
    // The server binds only after the catalog is loaded, so reaching this
    // handler means the data is in.
    let features: usize = state
        .catalog
        .layers
        .iter()
        .map(|l| l.layer.features.len())
        .sum();
    let degraded = state.live.degraded();
    axum::Json(serde_json::json!({
        "status": if degraded.is_some() { "degraded" } else { "ok" },
        "store": match &degraded {
            Some(why) => serde_json::json!({"status": "unreachable", "reason": why}),
            None => serde_json::json!({"status": "ok"}),
        },
        "layers": state.catalog.layers.len(),
        "features": features,
        "revision": state.catalog.revision,
    }))
    .into_response()
}

async fn ready(state: Ctx, RawQuery(q): RawQuery) -> Response {
    if let Err(e) = params::QueryPairs::parse(q.as_deref()).reject_unknown(&[]) {
        return e.into_response();
    }
    match state.live.degraded() {
        None => axum::Json(serde_json::json!({
            "ready": true,
            "revision": state.catalog.revision,
        }))
        .into_response(),
        Some(why) => ApiError::not_ready(format!(
            "the store is out of reach ({why}); reads answer from revision {}",
            state.catalog.revision
        ))
        .into_response(),
    }
}

async fn metrics(state: Ctx, RawQuery(q): RawQuery) -> Response {
    if let Err(e) = params::QueryPairs::parse(q.as_deref()).reject_unknown(&[]) {
        return e.into_response();
    }
    let text = crate::metrics::global().render(state.live.snapshot().revision);
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        text,
    )
        .into_response()
}

/// Counts every request (`metrics`) by its route pattern, never its raw
/// path, and logs it at debug level; a 5xx is logged as a warning. The
/// per-request log line at info cost a quarter of the throughput of cheap
/// requests.
async fn observe(req: Request, next: Next) -> Response {
    use tracing::Instrument;
    let m = crate::metrics::global();
    let _in_flight = m.start();
    let started = std::time::Instant::now();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let route = route.as_ref().map_or("(unmatched)", |r| r.as_str());
    let method = req.method().clone();
    let span = tracing::debug_span!("request", method = %method, path = route, uri = %req.uri());
    let resp = next.run(req).instrument(span.clone()).await;
    let took = started.elapsed();
    let status = resp.status().as_u16();
    m.record(route, method.as_str(), status, took);
    let _enter = span.enter();
    if status >= 500 {
        tracing::warn!(status, latency_us = took.as_micros() as u64, "server error");
    } else {
        tracing::debug!(status, latency_us = took.as_micros() as u64, "answered");
    }
    resp
}

/// Refuse a request line or Host no handler should see: an overlong URI
/// (414) or a Host that is not a plausible `host[:port]` (400). One layer
/// for both, as every request passes it.
async fn check_request(req: Request, next: Next) -> Response {
    if let Some(h) = req.headers().get(header::HOST) {
        if !h.to_str().is_ok_and(valid_host) {
            return ApiError::bad_request(
                "the Host header is not a valid host[:port]; links are built from it",
            )
            .into_response();
        }
    }
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

/// Whether a `Host` header is a plausible `host[:port]`: a DNS name or IPv4
/// address, or a bracketed IPv6 address. Links embed it, so anything else
/// (quotes, angle brackets, spaces) would be an injection.
pub fn valid_host(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, tail)) => {
                if v6.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                ("ipv6", tail.strip_prefix(':'))
            }
            None => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok());
    let name_ok = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    port_ok && name_ok
}

/// Read the whole request body before routing, within `MAX_BODY_BYTES` and
/// the body timeout, so no handler waits on a slow or lying client: a
/// declared length over the limit is refused at once (413), a body that
/// does not arrive in time gets 408.
async fn buffer_body(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return ApiError::too_large(format!(
            "the body is declared as {} bytes; at most {MAX_BODY_BYTES} are accepted",
            declared.unwrap_or_default()
        ))
        .into_response();
    }
    // Nothing to wait for (a GET, or an empty body): no timer to arm.
    if declared == Some(0) || axum::body::HttpBody::is_end_stream(req.body()) {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_BODY_BYTES);
    let bytes = match tokio::time::timeout(state.body_timeout, limited.collect()).await {
        Err(_) => {
            return ApiError {
                status: StatusCode::REQUEST_TIMEOUT,
                code: "RequestTimeout",
                description: format!(
                    "the request body did not arrive within {} s",
                    state.body_timeout.as_secs_f64()
                ),
            }
            .into_response()
        }
        Ok(Err(e)) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return ApiError::too_large(format!(
                    "the body is larger than {MAX_BODY_BYTES} bytes"
                ))
                .into_response();
            }
            return ApiError::bad_request(format!("cannot read the request body: {e}"))
                .into_response();
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Weak ETags from the snapshot's version and the request: within one
/// snapshot the same URL (and Host, which links embed) always yields the
/// same body, and every edit makes a new version. A handler may set its own
/// (strong, per-feature) ETag instead. The handler runs first, so only a
/// resource that exists (a 200) can answer 304, `If-None-Match: *` included;
/// an exact match of the URL's tag skips the handler (it was a 200).
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
    let version = req
        .extensions()
        .get::<Arc<Catalog>>()
        .map_or_else(|| state.live.snapshot().version, |c| c.version);
    let url_tag = format!(
        "W/\"{:016x}{:016x}\"",
        version,
        std::hash::Hasher::finish(&h)
    );
    let wanted: Vec<String> = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_owned())
        .collect();
    // The same URL at the same snapshot version gives the same body, and
    // this tag was only ever sent with a 200: a client holding it gets its
    // 304 without the work (a dense tile, a big page) being redone.
    if wanted
        .iter()
        .any(|t| t.trim_start_matches("W/") == url_tag.trim_start_matches("W/"))
    {
        let mut resp = StatusCode::NOT_MODIFIED.into_response();
        if let Ok(v) = HeaderValue::from_str(&url_tag) {
            resp.headers_mut().insert(header::ETAG, v);
        }
        return resp;
    }
    let mut resp = next.run(req).await;
    let streaming = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    // A body that changes without a new revision (the metrics) says so.
    let volatile = resp
        .headers()
        .get(header::CACHE_CONTROL)
        .is_some_and(|v| v.as_bytes() == b"no-store");
    if resp.status() != StatusCode::OK || streaming || volatile {
        return resp;
    }
    let Some(tag) = resp
        .headers()
        .get(header::ETAG)
        .cloned()
        .or_else(|| HeaderValue::from_str(&url_tag).ok())
    else {
        return resp;
    };
    let text = tag
        .to_str()
        .unwrap_or("")
        .trim_start_matches("W/")
        .to_owned();
    let matches = wanted
        .iter()
        .any(|t| t == "*" || t.trim_start_matches("W/") == text);
    if matches {
        resp = StatusCode::NOT_MODIFIED.into_response();
    }
    resp.headers_mut().insert(header::ETAG, tag);
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
    catalog: &'a Catalog,
    id: &str,
) -> Result<&'a crate::index::IndexedLayer, ApiError> {
    catalog.layer(id).ok_or_else(|| {
        let known: Vec<&str> = catalog
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

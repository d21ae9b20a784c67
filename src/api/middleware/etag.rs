//! ETags: weak ones from the snapshot's version and the request for every
//! GET, and the 304 when the client holds the current one.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::AppState;
use crate::catalog::Catalog;

/// Weak ETags from the snapshot's version and the request: within one
/// snapshot the same URL (and Host, which links embed) always yields the
/// same body, and every edit makes a new version. A handler may set its own
/// (strong, per-feature) ETag instead. The handler runs first, so only a
/// resource that exists (a 200) can answer 304, `If-None-Match: *` included;
/// an exact match of the URL's tag skips the handler (it was a 200).
pub(in crate::api) async fn etag(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
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

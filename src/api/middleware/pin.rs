//! Pinning one snapshot per request: the current one, or with `asof` the
//! data as it stood then (built off the async workers), or, with
//! `Zoneatlas-Min-Revision`, the current one once it is at least that
//! revision. Every answer names its revision in `Zoneatlas-Revision`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::params::{QueryPairs, ASOF};
use crate::api::{ApiError, AppState};
use crate::live::Live;

/// Pin one snapshot for the request (outermost, before ETags): the current
/// one, or with `asof` the data as it stood then (built off the async
/// workers). Every answer says which revision it reflects, in
/// `Zoneatlas-Revision`.
pub(in crate::api) async fn pin_snapshot(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    // Decoded only when it may hold one (literally, or percent-encoded):
    // this runs on every request.
    let asof = match req
        .uri()
        .query()
        .filter(|q| q.contains(ASOF) || q.contains('%'))
    {
        None => None,
        Some(raw) => match QueryPairs::parse(Some(raw)).single(ASOF) {
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

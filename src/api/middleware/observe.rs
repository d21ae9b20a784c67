//! Every request counted for `/metrics` by its route pattern and logged at
//! debug level; a 5xx logged as a warning.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Counts every request (`metrics`) by its route pattern, never its raw
/// path, and logs it at debug level; a 5xx is logged as a warning. The
/// per-request log line at info cost a quarter of the throughput of cheap
/// requests.
pub(in crate::api) async fn observe(req: Request, next: Next) -> Response {
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

//! For operators: `/health` (liveness, what is loaded), `/ready` (the
//! store can be reached) and `/metrics` (Prometheus).

use axum::extract::RawQuery;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::media::{JSON, PROMETHEUS};
use super::openapi::Endpoint;
use super::params::QueryPairs;
use super::{ApiError, Ctx};

/// The operators' endpoints.
pub const ENDPOINTS: &[Endpoint] = &[HEALTH, READY, METRICS, PROBLEMS];

/// `/api/problems`: what an operator should fix in the store.
const PROBLEMS: Endpoint = Endpoint {
    method: "get",
    path: "/api/problems",
    operation_id: "getProblems",
    summary: "Stored features left out of the served data because they break their layer's rules (edited with another tool), each with the reason",
    tag: "Capabilities",
    params: &[],
    request_body: None,
    responses: &[
        (200, JSON, "The features left out: layer, id, reason"),
        (400, JSON, "A parameter was given (none is accepted)"),
    ],
    route: || get(problems),
};

async fn problems(state: Ctx, RawQuery(q): RawQuery) -> Response {
    if let Err(e) = QueryPairs::parse(q.as_deref()).reject_unknown(&[]) {
        return e.into_response();
    }
    let left_out = state.live.left_out();
    let mut resp = axum::Json(serde_json::json!({
        "left_out": left_out,
        "numberLeftOut": left_out.len(),
    }))
    .into_response();
    // It changes with other tools' edits, not only with our revisions.
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The paths the connection loop's operators' lane answers at the
/// connection limit (`server::ConnectionLimits::operator_paths`).
pub const OPERATOR_PATHS: &[&str] = &[HEALTH.path, READY.path];

/// `/health`: 200 once the data is loaded (the server binds only then).
const HEALTH: Endpoint = Endpoint {
    method: "get",
    path: "/health",
    operation_id: "getHealth",
    summary: "Liveness: the data is loaded; layer and feature counts",
    tag: "Capabilities",
    params: &[],
    request_body: None,
    responses: &[
        (200, JSON, "The server is up and its data loaded"),
        (400, JSON, "A parameter was given (none is accepted)"),
    ],
    route: || get(health),
};

/// `/ready`: for load balancers, 200 while the server can take writes and
/// follow other servers' edits, 503 while its store is out of reach (it
/// still answers reads from its last snapshot).
const READY: Endpoint = Endpoint {
    method: "get",
    path: "/ready",
    operation_id: "getReady",
    summary: "Readiness: the store can be reached (503 while it cannot)",
    tag: "Capabilities",
    params: &[],
    request_body: None,
    responses: &[
        (200, JSON, "Ready: reads and writes work"),
        (400, JSON, "A parameter was given (none is accepted)"),
        (
            503,
            JSON,
            "The store is out of reach: reads answer from the last snapshot, writes fail",
        ),
    ],
    route: || get(ready),
};

/// `/metrics`: counters for Prometheus.
const METRICS: Endpoint = Endpoint {
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
            JSON,
            "A parameter was given (none is accepted)",
        ),
    ],
    route: || get(metrics),
};

async fn health(state: Ctx, RawQuery(q): RawQuery) -> Response {
    if let Err(e) = QueryPairs::parse(q.as_deref()).reject_unknown(&[]) {
        return e.into_response();
    }
    // The server binds only after the catalog is loaded, so reaching this
    // handler means the data is in.
    let features: usize = state
        .catalog
        .layers
        .iter()
        .map(|l| l.layer.features.count())
        .sum();
    let degraded = state.live.degraded();
    let failing = state.live.write_failure();
    let left_out = state.live.left_out().len();
    let computations = state.compute.running();
    let troubled = degraded.is_some() || failing.is_some() || computations.overdue > 0;
    let mut resp = axum::Json(serde_json::json!({
        "status": if troubled { "degraded" } else { "ok" },
        "store": match (&degraded, &failing) {
            (Some(why), _) => serde_json::json!({"status": "unreachable", "reason": why}),
            // Reads still work; writes fail (a full disk, a read-only file).
            (None, Some((why, since))) => serde_json::json!({"status": "writes failing", "reason": why, "since": since}),
            (None, None) => serde_json::json!({"status": "ok"}),
        },
        "layers": state.catalog.layers.len(),
        "features": features,
        "revision": state.catalog.revision,
        // Stored features that break their layer's rules: /api/problems.
        "left_out": left_out,
        // CPU-heavy answers running now, and any past their deadline.
        "computations": computations,
        // Zone coverage being computed now (after start-up or an edit).
        "zone_progress": crate::metrics::global().zone_running().iter().map(|(service, scenario, done, cells)| {
            serde_json::json!({"service": service, "scenario": scenario, "cells_done": done, "cells": cells})
        }).collect::<Vec<_>>(),
    }))
    .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn ready(state: Ctx, RawQuery(q): RawQuery) -> Response {
    if let Err(e) = QueryPairs::parse(q.as_deref()).reject_unknown(&[]) {
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
    if let Err(e) = QueryPairs::parse(q.as_deref()).reject_unknown(&[]) {
        return e.into_response();
    }
    let text = crate::metrics::global().render(state.live.snapshot().revision);
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(PROMETHEUS)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        text,
    )
        .into_response()
}

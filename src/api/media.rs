//! Media types and the one way a handler answers with bytes of one: the
//! names are defined here once.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// JSON (`application/json`).
pub const JSON: &str = "application/json";
/// GeoJSON (RFC 7946).
pub const GEOJSON: &str = "application/geo+json";
/// A JSON Merge Patch (RFC 7396).
pub const MERGE_PATCH: &str = "application/merge-patch+json";
/// An HTML page (the site report).
pub const HTML: &str = "text/html; charset=utf-8";
/// The OpenAPI 3.0 document.
pub const OPENAPI: &str = "application/vnd.oai.openapi+json;version=3.0";
/// A site report printed (`f=pdf`).
pub const PDF: &str = "application/pdf";
/// The progress report as a table (`f=csv`).
pub const CSV: &str = "text/csv; charset=utf-8";
/// Server-Sent Events (`/api/events`).
pub const EVENT_STREAM: &str = "text/event-stream";
/// The Prometheus text exposition format, version 0.0.4 (`/metrics`).
pub const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Mapbox Vector Tiles.
pub const MVT: &str = "application/vnd.mapbox-vector-tile";

/// A response of `media_type` holding `body`.
pub fn json_response(media_type: &'static str, body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, media_type)], body).into_response()
}

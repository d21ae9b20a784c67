//! One feature's answer, as reading it (`GET .../items/{id}`) and writing
//! it (POST, PUT, PATCH) give it: GeoJSON with its links, and its strong
//! ETag (the revision that last wrote it, what If-Match takes).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::media::GEOJSON;
use crate::encode::{FeatureJson, Link};
use crate::model::Feature;

/// The feature ETag: strong, the revision that last wrote it.
pub fn feature_etag(f: &Feature) -> String {
    format!("\"{}\"", f.revision)
}

/// Percent-encode a path segment (feature ids may hold any character).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A feature's URL under `base` (`http://host:port`).
pub fn feature_href(base: &str, collection: &str, id: &str) -> String {
    format!(
        "{base}/api/collections/{collection}/items/{}",
        encode_segment(id)
    )
}

/// `feature` (as served: maybe in another CRS) as GeoJSON with `links`,
/// under the ETag of `stored` (the feature as the store holds it).
pub fn feature_response(
    status: StatusCode,
    feature: &Feature,
    stored: &Feature,
    links: &[Link],
) -> Response {
    let body = serde_json::to_vec(&FeatureJson { feature, links }).unwrap_or_default();
    let mut resp = (status, [(header::CONTENT_TYPE, GEOJSON)], body).into_response();
    if let Ok(v) = HeaderValue::from_str(&feature_etag(stored)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

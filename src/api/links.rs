//! Links as `Link` headers (RFC 8288) besides the body's `links`: OGC API -
//! Features recommends both, and clients that page without reading the
//! body (the conformance suite among them) follow the headers.

use axum::http::{header, HeaderValue};
use axum::response::Response;
use serde_json::Value;

use crate::encode::Link;

/// One `Link` header value for the links, or `None` when there are none
/// (or one cannot be a header value).
fn value<'a>(links: impl Iterator<Item = (&'a str, &'a str, &'a str)>) -> Option<HeaderValue> {
    let text: Vec<String> = links
        .map(|(href, rel, media)| format!("<{href}>; rel=\"{rel}\"; type=\"{media}\""))
        .collect();
    if text.is_empty() {
        return None;
    }
    HeaderValue::from_str(&text.join(", ")).ok()
}

/// `resp` with a `Link` header listing `links`.
pub fn with_links(mut resp: Response, links: &[Link]) -> Response {
    if let Some(v) = value(links.iter().map(|l| (l.href.as_str(), l.rel, l.media_type))) {
        resp.headers_mut().insert(header::LINK, v);
    }
    resp
}

/// `resp` with a `Link` header listing the `links` of a JSON document.
pub fn with_json_links(mut resp: Response, doc: &Value) -> Response {
    let links = doc["links"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let triples = links.iter().filter_map(|l| {
        Some((
            l["href"].as_str()?,
            l["rel"].as_str()?,
            l["type"].as_str().unwrap_or("application/json"),
        ))
    });
    if let Some(v) = value(triples) {
        resp.headers_mut().insert(header::LINK, v);
    }
    resp
}

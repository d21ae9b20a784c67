//! What a request line and body may be: a plausible `Host` (links embed
//! it), a URI within `MAX_URI_BYTES`, a body within `MAX_BODY_BYTES` that
//! arrives within the body timeout, read whole before routing so no
//! handler waits on a slow client.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use crate::api::{ApiError, AppState};

/// Longest URI (path + query) accepted; longer ones get 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Largest request body accepted; larger ones get 413.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Refuse a request line or Host no handler should see: an overlong URI
/// (414) or a Host that is not a plausible `host[:port]` (400). One layer
/// for both, as every request passes it.
pub(in crate::api) async fn check_request(req: Request, next: Next) -> Response {
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
        return ApiError::uri_too_long(format!(
            "the URI is {len} bytes; at most {MAX_URI_BYTES} are accepted"
        ))
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
pub(in crate::api) async fn buffer_body(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
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
            return ApiError::request_timeout(format!(
                "the request body did not arrive within {} s",
                state.body_timeout.as_secs_f64()
            ))
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

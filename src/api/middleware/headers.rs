//! Security headers on every answer (`nosniff`, no referrer) and the
//! page's Content-Security-Policy (this server, plus the configured
//! basemap's tiles).

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The page's Content-Security-Policy: everything from this server, plus
/// the configured basemap's tiles. Leaflet positions tiles with inline
/// styles, hence `'unsafe-inline'` for styles only.
pub(in crate::api) fn content_security_policy(basemap: Option<&str>) -> HeaderValue {
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

pub(in crate::api) async fn security_headers(
    req: Request,
    next: Next,
    csp: HeaderValue,
) -> Response {
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

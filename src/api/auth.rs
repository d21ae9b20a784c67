//! Who a request is: the bearer token's name and role (401 without a valid
//! one, 403 for a role below what the resource needs, 503 when the tokens
//! cannot be read now), and `/api/session` for the web map's sign-in.

use axum::extract::RawQuery;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::media::JSON;
use super::openapi::{params as p, Endpoint};
use super::params::QueryPairs;
use super::{ApiError, AppState, Ctx};
use crate::auth::Role;

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "get",
        path: "/api/session",
        operation_id: "getSession",
        summary: "Who the bearer token is: its name, its role, and whether the store takes edits (the web map's sign-in)",
        tag: "Editing",
        params: &[p::AUTHORIZATION],
        request_body: None,
        responses: &[
            (200, JSON, "The token's name and role"),
            (400, JSON, "A parameter was given (none is accepted)"),
            (401, JSON, "No token, or not a valid one"),
        ],
        route: || get(session),
    },
];

/// The secret of an `Authorization: Bearer <token>` header, if there is one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The name behind a bearer token of a role allowed to edit: 401 without a
/// valid token, 403 for a viewer.
pub fn require_role(s: &Ctx, headers: &HeaderMap, least: Role) -> Result<String, ApiError> {
    let Some(secret) = bearer(headers) else {
        return Err(ApiError::unauthorized(
            "this needs Authorization: Bearer <token> (zoneatlas token add)",
        ));
    };
    let Some((name, role)) = identify(s, s.peer, secret)? else {
        return Err(ApiError::unauthorized(
            "the bearer token is not valid (revoked or mistyped)",
        ));
    };
    if role < least {
        return Err(ApiError::forbidden(format!(
            "token {name:?} is a {}; this needs {} or above",
            role.name(),
            least.name()
        )));
    }
    Ok(name)
}

/// The name and role behind a token (`None`: not a valid one), throttled
/// per client address: 429 once it has sent too many wrong ones.
pub fn identify(
    state: &AppState,
    peer: Option<std::net::IpAddr>,
    secret: &str,
) -> Result<Option<(String, Role)>, ApiError> {
    state.failed_tokens.check(peer)?;
    let found = state.live.check_token(secret).map_err(unchecked)?;
    if found.is_none() {
        state.failed_tokens.failed(peer);
    }
    Ok(found)
}

/// 503: a token that could not be checked (the store is out of reach).
pub fn unchecked(e: crate::store::StoreError) -> ApiError {
    ApiError::store_unavailable(format!("cannot check the token now, retry shortly: {e}"))
}

async fn session(
    s: Ctx,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    QueryPairs::parse(raw.as_deref()).reject_unknown(&[])?;
    let (name, role) = bearer(&headers)
        .map(|t| identify(&s, s.peer, t))
        .transpose()?
        .flatten()
        .ok_or_else(|| {
            ApiError::unauthorized(
                "send Authorization: Bearer <token> with a valid token (zoneatlas token add)",
            )
        })?;
    let v = serde_json::json!({"name": name, "role": role.name(), "editable": s.live.editable()});
    Ok((
        [(header::CONTENT_TYPE, JSON)],
        serde_json::to_vec(&v).unwrap_or_default(),
    )
        .into_response())
}

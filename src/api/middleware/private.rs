//! `--private`: every API read needs a valid token of any role.

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::auth::{bearer, identify};
use crate::api::{ApiError, AppState};

/// With `--private`, every API read needs a valid token of any role
/// (`/health` and the page's static files stay public: they hold no data).
pub(in crate::api) async fn private_reads(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    if state.private && req.uri().path().starts_with("/api") && req.method() != Method::OPTIONS {
        let peer = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let checked = bearer(req.headers()).map(|t| identify(&state, peer, t));
        if let Some(Err(e)) = checked {
            return e.into_response();
        }
        if !matches!(checked, Some(Ok(Some(_)))) {
            return ApiError::unauthorized(
                "this server is private: send Authorization: Bearer <token> (any role)",
            )
            .into_response();
        }
    }
    next.run(req).await
}

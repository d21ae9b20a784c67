//! The one error type of the HTTP boundary.
//!
//! Every failure a client can cause becomes a 4xx with a JSON body
//! `{"code", "description"}` (the OGC API exception shape) saying what was
//! wrong. 5xx responses are logged with their cause and say nothing of it.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answer of the API.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status}: {description}")]
pub struct ApiError {
    pub status: StatusCode,
    /// OGC exception code, e.g. `InvalidParameterValue`.
    pub code: &'static str,
    /// What was wrong, for a human.
    pub description: String,
}

impl ApiError {
    /// 400: a parameter or body is malformed.
    pub fn bad_request(description: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "InvalidParameterValue",
            description: description.into(),
        }
    }

    /// 404: no such collection, feature or route.
    pub fn not_found(description: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "NotFound",
            description: description.into(),
        }
    }

    /// 413: the request body is larger than allowed.
    pub fn too_large(description: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            code: "PayloadTooLarge",
            description: description.into(),
        }
    }

    /// 401: no valid credentials (answered with `WWW-Authenticate`).
    pub fn unauthorized(description: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "Unauthorized",
            description: description.into(),
        }
    }

    /// 503: a cached result is still being computed; retry after a while.
    pub fn not_ready(description: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "NotReady",
            description: description.into(),
        }
    }

    /// 500: our fault. The cause is logged, not shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "ServerError",
            description: "internal server error".into(),
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    description: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&Body {
            code: self.code,
            description: &self.description,
        })
        .unwrap_or_default();
        let mut resp = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"zoneatlas\""),
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        resp
    }
}

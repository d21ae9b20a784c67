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

    /// 403: a valid token whose role may not do this.
    pub fn forbidden(description: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "Forbidden", description)
    }

    /// 405: this method is not one the resource takes.
    pub fn method_not_allowed(description: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            description,
        )
    }

    /// 405: the server serves a data folder, which takes no edits.
    pub fn read_only(description: impl Into<String>) -> Self {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "ReadOnly", description)
    }

    /// 408: the request body did not arrive in time.
    pub fn request_timeout(description: impl Into<String>) -> Self {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, "RequestTimeout", description)
    }

    /// 412: If-Match is not the current version (or not an ETag of ours).
    pub fn precondition_failed(description: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "PreconditionFailed",
            description,
        )
    }

    /// 414: the URI is longer than allowed.
    pub fn uri_too_long(description: impl Into<String>) -> Self {
        ApiError::new(StatusCode::URI_TOO_LONG, "URITooLong", description)
    }

    /// 415: a body of a media type the resource does not take.
    pub fn unsupported_media_type(description: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            description,
        )
    }

    /// 428: a write without If-Match.
    pub fn precondition_required(description: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "PreconditionRequired",
            description,
        )
    }

    /// 501: a feature this build or machine lacks.
    pub fn not_implemented(description: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_IMPLEMENTED, "NotImplemented", description)
    }

    /// 503: the store cannot be reached or take writes now; nothing changed.
    pub fn store_unavailable(description: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "StoreUnavailable",
            description,
        )
    }

    /// Any status and code (those without a constructor of their own).
    pub fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
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
            [(header::CONTENT_TYPE, super::media::JSON)],
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
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        resp
    }
}

//! What every handler sees: the shared state (the live seat, options, the
//! compute pool) and, per request, the snapshot pinned for it (`Ctx`);
//! with the helpers every resource needs from them (the base URL of links,
//! a layer or a 404).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap};

use super::{compute, ApiError, Basemap};
use crate::catalog::Catalog;
use crate::live::Live;

/// A handler's view of one request: the snapshot pinned for it (so its body
/// and its ETag agree, whatever edits land meanwhile) and the shared state.
pub struct Ctx {
    pub catalog: Arc<Catalog>,
    /// The client's address, when the connection loop gave one.
    pub peer: Option<std::net::IpAddr>,
    /// The proposal the request reads or edits (`proposal=`), whose view
    /// `catalog` is.
    pub proposal: Option<Arc<str>>,
    shared: AppState,
}

impl std::ops::Deref for Ctx {
    type Target = AppState;
    fn deref(&self) -> &AppState {
        &self.shared
    }
}

impl axum::extract::FromRequestParts<AppState> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let catalog = parts
            .extensions
            .get::<Arc<Catalog>>()
            .cloned()
            .unwrap_or_else(|| state.live.snapshot());
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip());
        let proposal = parts
            .extensions
            .get::<super::middleware::pin::Pinned>()
            .map(|p| Arc::clone(&p.0));
        Ok(Ctx {
            catalog,
            peer,
            proposal,
            shared: state.clone(),
        })
    }
}

/// What every handler can see, behind one `Arc`: the middleware layers and
/// extractors clone it for every request, and that is then one atomic
/// increment rather than one per field.
#[derive(Clone)]
pub struct AppState(pub(super) Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The fields of `AppState`.
pub struct Shared {
    /// The live seat: snapshots for reads, the writer for edits.
    pub live: Arc<Live>,
    /// Base URL for links (`http://host:port`), when set in the config;
    /// otherwise taken from each request's (validated) `Host` header.
    pub public_url: Option<Arc<str>>,
    /// The web map's basemap (in the landing page).
    pub basemap: Option<Arc<Basemap>>,
    /// Reads need a token too (`--private`).
    pub private: bool,
    /// Runs CPU-heavy answers off the async workers, bounded.
    pub compute: compute::Compute,
    pub body_timeout: Duration,
    /// Event streams open, capped in all and per client.
    pub streams: Arc<super::streams::Streams>,
    /// Wrong bearer tokens per client, throttled.
    pub failed_tokens: super::throttle::Throttle,
}

/// How the router is put together.
#[derive(Debug, Clone)]
pub struct Options {
    pub public_url: Option<String>,
    /// Folder of the web page; `None` serves no page.
    pub web_dir: Option<PathBuf>,
    /// The web map's basemap, if any.
    pub basemap: Option<Basemap>,
    /// How long a client has to send a whole request body (then 408).
    pub body_timeout: Duration,
    /// How long a CPU-heavy computation may run (then 503).
    pub compute_deadline: Duration,
    /// Reads need a token too.
    pub private: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            public_url: None,
            web_dir: None,
            basemap: None,
            body_timeout: Duration::from_secs(30),
            compute_deadline: Duration::from_secs(10),
            private: false,
        }
    }
}

/// `http://host:port` of this server as the client sees it.
pub fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = &state.public_url {
        return u.to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|p| *p == "https" || *p == "http")
        .unwrap_or("http");
    format!("{proto}://{host}")
}

/// A layer by collection id, or a 404 that lists the collections.
pub fn find_layer<'a>(
    catalog: &'a Catalog,
    id: &str,
) -> Result<&'a crate::index::IndexedLayer, ApiError> {
    catalog.layer(id).ok_or_else(|| {
        let known: Vec<&str> = catalog
            .layers
            .iter()
            .map(|l| l.layer.meta.id.as_str())
            .collect();
        ApiError::not_found(format!(
            "no collection {id:?}; the collections are: {}",
            known.join(", ")
        ))
    })
}

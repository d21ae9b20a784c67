//! Pinning one snapshot per request: the current one, or with `asof` the
//! data as it stood then (built off the async workers), or, with
//! `Zoneatlas-Min-Revision`, the current one once it is at least that
//! revision; with `proposal` (or `Zoneatlas-Proposal`), that proposal's
//! view of it (an edit then goes into the proposal). Every answer names
//! its revision in `Zoneatlas-Revision`, and its proposal in
//! `Zoneatlas-Proposal`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::params::{QueryPairs, ASOF, PROPOSAL};
use crate::api::{ApiError, AppState};
use crate::live::Live;

/// Pin one snapshot for the request (outermost, before ETags): the current
/// one, or with `asof` the data as it stood then (built off the async
/// workers). Every answer says which revision it reflects, in
/// `Zoneatlas-Revision`.
pub(in crate::api) async fn pin_snapshot(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    // Decoded only when it may hold one (literally, or percent-encoded):
    // this runs on every request.
    let (asof, mut proposal) = match req
        .uri()
        .query()
        .filter(|q| q.contains(ASOF) || q.contains(PROPOSAL) || q.contains('%'))
    {
        None => (None, None),
        Some(raw) => {
            let q = QueryPairs::parse(Some(raw));
            match (q.single(ASOF), q.single(PROPOSAL)) {
                (Ok(a), Ok(p)) => (a.map(str::to_owned), p.map(str::to_owned)),
                (Err(e), _) | (_, Err(e)) => return e.into_response(),
            }
        }
    };
    if let Some(v) = req.headers().get(PROPOSAL_HEADER) {
        let named = v.to_str().ok().map(str::trim).filter(|t| !t.is_empty());
        match (named, &proposal) {
            (None, _) => {
                return ApiError::bad_request(format!("{PROPOSAL_HEADER} must name a proposal"))
                    .into_response()
            }
            (Some(h), Some(p)) if h != p => {
                return ApiError::bad_request(format!(
                    "the {PROPOSAL} parameter ({p:?}) and {PROPOSAL_HEADER} ({h:?}) name different proposals"
                ))
                .into_response()
            }
            (Some(h), _) => proposal = Some(h.to_owned()),
        }
    }
    // Proposals have their own resources; the parameter pins reads and
    // edits of the record's.
    if req.uri().path().starts_with("/api/proposals") {
        proposal = None;
    }
    if let Some(v) = req.headers().get(MIN_REVISION_HEADER) {
        let Some(wanted) = v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) else {
            return ApiError::bad_request(format!(
                "{MIN_REVISION_HEADER} must be a revision number (a whole number)"
            ))
            .into_response();
        };
        if let Err(e) = at_least(&state.live, wanted).await {
            return e;
        }
    }
    if let Some(id) = proposal {
        return pin_proposal(&state, req, next, id, asof).await;
    }
    let reads = matches!(*req.method(), Method::GET | Method::HEAD | Method::POST);
    // A revision or instant asked before needs no trip to the blocking pool.
    let cached = asof
        .as_deref()
        .filter(|_| reads)
        .and_then(|t| state.live.as_of_cached(t));
    let snapshot = match (asof, cached) {
        (_, Some(s)) => s,
        (Some(text), None) if reads => {
            let live = Arc::clone(&state.live);
            let pinned = tokio::task::spawn_blocking(move || {
                let revision = crate::history::resolve(&live, &text)?;
                live.as_of(revision)
            })
            .await;
            match pinned {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return ApiError::from(e).into_response(),
                Err(e) => return ApiError::internal(e).into_response(),
            }
        }
        _ => state.live.snapshot(),
    };
    let revision = snapshot.revision;
    req.extensions_mut().insert(snapshot);
    let mut resp = next.run(req).await;
    // A write names the revision it committed itself.
    resp.headers_mut()
        .entry(REVISION_HEADER)
        .or_insert(HeaderValue::from(revision));
    resp
}

/// Pin a proposal's view (as of `asof` when given), built off the async
/// workers unless it is at hand; the request's extensions name the
/// proposal, so an edit goes into it.
async fn pin_proposal(
    state: &AppState,
    mut req: Request,
    next: Next,
    id: String,
    asof: Option<String>,
) -> Response {
    let live = Arc::clone(&state.live);
    let named = id.clone();
    // A view already built needs no trip to the blocking pool.
    let cached = match asof {
        None => live.proposal_view_cached(&id).map(|(v, _)| v),
        Some(_) => None,
    };
    // Built on the bounded compute pool: a client cycling through many
    // proposals waits its turn (or gets a 503) rather than holding as
    // many views in memory at once.
    let pinned: Result<Result<Arc<crate::catalog::Catalog>, ApiError>, ApiError> = match cached {
        Some(v) => Ok(Ok(v)),
        None => {
            state
                .compute
                .run(
                    move |_deadline| -> Result<Result<_, ApiError>, crate::budget::Exceeded> {
                        Ok((|| match asof {
                            None => Ok(live.proposal_view(&named)?.0),
                            Some(text) => {
                                // Its rows saved by the instant, over the record as of then.
                                let revision = crate::history::resolve(&live, &text)?;
                                let past = live.as_of(revision)?;
                                let time = match crate::clock::parse(&text) {
                                    Ok(t) => crate::clock::format(t),
                                    Err(_) => live
                                        .with_history(|h| h.revision_time(revision))?
                                        .unwrap_or_default(),
                                };
                                Ok(live.proposal_as_of(&named, &past, &time)?)
                            }
                        })())
                    },
                )
                .await
        }
    };
    let snapshot = match pinned {
        Ok(Ok(s)) => s,
        Ok(Err(e)) | Err(e) => return e.into_response(),
    };
    let revision = snapshot.revision;
    req.extensions_mut().insert(snapshot);
    req.extensions_mut().insert(Pinned(Arc::from(id.as_str())));
    let mut resp = next.run(req).await;
    resp.headers_mut()
        .entry(REVISION_HEADER)
        .or_insert(HeaderValue::from(revision));
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(PROPOSAL_HEADER, v);
    }
    resp
}

/// The proposal a request reads or edits (in its extensions).
#[derive(Debug, Clone)]
pub struct Pinned(pub Arc<str>);

/// The header naming a proposal, in a request (instead of `proposal=`) and
/// in every answer from one.
pub const PROPOSAL_HEADER: &str = "zoneatlas-proposal";

/// Wait (briefly) until the live snapshot is at `wanted` or later: what a
/// client that just wrote through another server asks for.
async fn at_least(live: &Live, wanted: u64) -> Result<(), Response> {
    let deadline = std::time::Instant::now() + MIN_REVISION_WAIT;
    loop {
        let at = live.snapshot().revision;
        if at >= wanted {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            let mut resp = ApiError::not_ready(format!(
                "this server is at revision {at}, not yet at {wanted}; retry shortly"
            ))
            .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            return Err(resp);
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// The request header asking for an answer at this revision or later.
pub const MIN_REVISION_HEADER: &str = "zoneatlas-min-revision";

/// How long a request waits for the revision it asks for.
const MIN_REVISION_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The response header naming the revision an answer reflects.
pub const REVISION_HEADER: &str = "zoneatlas-revision";

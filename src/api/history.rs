//! The past and the live feed over HTTP: a feature's versions, the change
//! feed, Server-Sent Events, and the progress report. `asof` on reads is
//! resolved in `api::pin_snapshot`, before any handler runs.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::RawQuery;
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{json, Value};

use super::media::{CSV, EVENT_STREAM, JSON};
use super::openapi::{params as p, Endpoint, Param};
use super::params::{self, ApiPath, QueryPairs};
use super::{base_url, find_layer, json_response, ApiError, Ctx};
use crate::clock;
use crate::live::{HistoryError, Live};
use crate::store::ChangeRecord;

const SINCE: Param = Param {
    name: "since",
    location: "query",
    required: false,
    schema: r#"{"type":"integer","minimum":0}"#,
    description: "Changes of revisions after this one (default 0: from the import on).",
};
const AFTER: Param = Param {
    name: "after",
    location: "query",
    required: false,
    schema: r#"{"type":"integer","minimum":0}"#,
    description:
        "Changes after this log position (seq); what the next link carries. Not with since.",
};
const COLLECTION: Param = Param {
    name: "collection",
    location: "query",
    required: true,
    schema: r#"{"type":"string"}"#,
    description: "The collection to report on.",
};
const FROM: Param = Param {
    name: "from",
    location: "query",
    required: false,
    schema: r#"{"type":"string"}"#,
    description: "Start (RFC 3339 instant or date); default: the import.",
};
const TO: Param = Param {
    name: "to",
    location: "query",
    required: false,
    schema: r#"{"type":"string"}"#,
    description: "End (RFC 3339 instant or date); default: now.",
};
const STEP: Param = Param {
    name: "step",
    location: "query",
    required: false,
    schema: r#"{"type":"string","enum":["month","quarter","year"],"default":"quarter"}"#,
    description: "Calendar step (UTC); the first and last steps are cut at from and to.",
};
const F_CSV: Param = Param {
    name: "f",
    location: "query",
    required: false,
    schema: r#"{"type":"string","enum":["json","csv"]}"#,
    description: "json (default) or csv (one row per step).",
};
const ERR_400: (u16, &str, &str) = (
    400,
    JSON,
    "A parameter is malformed or unknown, or the store keeps no history",
);

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "get",
        path: "/api/collections/{collectionId}/items/{featureId}/history",
        operation_id: "getFeatureHistory",
        summary: "A feature's versions, oldest first: revision, time, who, operation, the feature after it",
        tag: "History",
        params: &[p::COLLECTION_ID, p::FEATURE_ID, p::F],
        request_body: None,
        responses: &[(200, JSON, "The versions"), ERR_400, (404, JSON, "No such collection, or the feature never existed")],
        route: || get(feature_history),
    },
    Endpoint {
        method: "get",
        path: "/api/changes",
        operation_id: "getChanges",
        summary: "The change feed across all collections, in commit order, a page at a time",
        tag: "History",
        params: &[SINCE, AFTER, p::LIMIT, p::F],
        request_body: None,
        responses: &[(200, JSON, "A page of changes with a next link while more follow"), ERR_400],
        route: || get(changes),
    },
    Endpoint {
        method: "get",
        path: "/api/events",
        operation_id: "getEvents",
        summary: "Server-Sent Events: one `change` event per committed change (id: its log position; resume with Last-Event-ID), a comment every 10 s",
        tag: "History",
        params: &[],
        request_body: None,
        responses: &[
            (200, EVENT_STREAM, "The event stream"),
            ERR_400,
            (
                503,
                JSON,
                "Too many event streams open (in all, or from this address); retry after Retry-After",
            ),
        ],
        route: || get(events),
    },
    Endpoint {
        method: "get",
        path: "/api/stats/progress",
        operation_id: "getProgress",
        summary: "Per step: count and length (lines) or area (polygons) per status at its end, and what was built, started, added, removed in it",
        tag: "History",
        params: &[COLLECTION, FROM, TO, STEP, F_CSV],
        request_body: None,
        responses: &[(200, JSON, "The report (text/csv with f=csv)"), ERR_400, (404, JSON, "No such collection")],
        route: || get(progress),
    },
];

impl From<HistoryError> for ApiError {
    fn from(e: HistoryError) -> Self {
        match e {
            HistoryError::NoHistory(m) | HistoryError::Unknown(m) => ApiError::bad_request(m),
            HistoryError::Store(e) => {
                ApiError::not_ready(format!("cannot read the change log: {e}"))
            }
        }
    }
}

/// Run `f` against the live seat on the blocking pool (the log is SQLite).
async fn blocking<T: Send + 'static>(
    live: &Arc<Live>,
    f: impl FnOnce(&Live) -> Result<T, HistoryError> + Send + 'static,
) -> Result<T, ApiError> {
    let live = Arc::clone(live);
    tokio::task::spawn_blocking(move || f(&live))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

fn body(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

async fn feature_history(
    s: Ctx,
    ApiPath((collection, id)): ApiPath<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    super::ogc::only_format(raw.as_deref())?;
    find_layer(&s.catalog, &collection)?;
    let (c, i) = (collection.clone(), id.clone());
    let versions = blocking(&s.live, move |live| {
        let mut v = live.with_history(|h| h.feature(&c, &i))?;
        live.annotate(&mut v);
        Ok(v)
    })
    .await?;
    if versions.is_empty() {
        return Err(ApiError::not_found(format!(
            "collection {collection:?} never had a feature {id:?}"
        )));
    }
    let v = json!({"collection": collection, "id": id, "versions": versions});
    Ok(json_response(JSON, body(&v)))
}

/// Most changes in one page of the feed.
const MAX_PAGE: usize = 10_000;

async fn changes(
    s: Ctx,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = QueryPairs::parse(raw.as_deref());
    q.reject_unknown(&["since", "after", "limit", "f"])?;
    params::format(&q)?;
    let number = |name: &str| -> Result<Option<u64>, ApiError> {
        q.single(name)?
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "{name} {v:?} is not a whole number of 0 or more"
                    ))
                })
            })
            .transpose()
    };
    let (since, after) = (number("since")?, number("after")?);
    if since.is_some() && after.is_some() {
        return Err(ApiError::bad_request(
            "give since (a revision) or after (a log position), not both",
        ));
    }
    let limit = params::limit(q.single("limit")?)?.min(MAX_PAGE);
    let latest = s.catalog.revision;
    if let Some(n) = since {
        if n > latest {
            return Err(ApiError::bad_request(format!(
                "since {n} is beyond the latest revision, {latest}"
            )));
        }
    }
    let page = blocking(&s.live, move |live| {
        let mut page = live.with_history(|h| {
            let from = match (since, after) {
                (_, Some(a)) => a,
                (Some(n), None) if n > 0 => h.seq_of(n)?,
                _ => 0,
            };
            h.after(from, limit)
        })?;
        live.annotate(&mut page);
        Ok(page)
    })
    .await?;
    let base = base_url(&s, &headers);
    let mut links = vec![
        json!({"rel": "self", "type": JSON, "href": format!("{base}/api/changes{}", raw.map(|r| format!("?{r}")).unwrap_or_default())}),
    ];
    if page.len() == limit {
        if let Some(last) = page.last() {
            links.push(json!({"rel": "next", "type": JSON, "href": format!("{base}/api/changes?after={}&limit={limit}", last.seq)}));
        }
    }
    let v = json!({"latest": latest, "changes": page, "links": links});
    Ok(json_response(JSON, body(&v)))
}

/// One SSE event per change: its log position as the event id, so that a
/// reconnecting client's Last-Event-ID resumes right after it.
fn event(r: &ChangeRecord) -> Event {
    Event::default().event("change").id(r.seq.to_string()).data(
        json!({"seq": r.seq, "revision": r.revision, "time": r.time, "who": r.who,
                   "op": r.op, "collection": r.collection, "id": r.feature_id,
                   "proposal": r.proposal})
        .to_string(),
    )
}

/// Changes read from the log per catch-up query.
const CATCH_UP_PAGE: usize = 1000;

async fn events(s: Ctx, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    match stream_events(s, headers, raw).await {
        Ok(sse) => sse.into_response(),
        Err(e) => {
            // A refused stream (caps full) closes its connection too: a
            // client retrying in a loop holds no idle connection meanwhile.
            let mut resp = e.into_response();
            resp.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            resp
        }
    }
}

async fn stream_events(
    s: Ctx,
    headers: HeaderMap,
    raw: Option<String>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    QueryPairs::parse(raw.as_deref()).reject_unknown(&[])?;
    s.live.require_history()?;
    let ticket = s.streams.admit(s.peer)?;
    let resume = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "Last-Event-ID is not an event id of this stream (a whole number)",
                    )
                })?,
        ),
    };
    // Listen first, then read the log: nothing committed in between is lost
    // (duplicates are skipped by position).
    let rx = s.live.subscribe();
    let live = Arc::clone(&s.live);
    let start = match resume {
        Some(seq) => seq,
        None => {
            blocking(&live, |l| {
                l.with_history(|h| h.latest().and_then(|(r, _)| h.seq_of(r)))
            })
            .await?
        }
    };
    struct State {
        /// Holds the stream's place under the caps until it ends.
        _ticket: super::streams::Ticket,
        live: Arc<Live>,
        rx: tokio::sync::broadcast::Receiver<Arc<Vec<ChangeRecord>>>,
        /// The last position sent.
        sent: u64,
        /// Read from the log, not yet sent.
        backlog: std::collections::VecDeque<ChangeRecord>,
        /// The log may hold more than the backlog (catching up).
        catching_up: bool,
    }
    let state = State {
        _ticket: ticket,
        live,
        rx,
        sent: start,
        backlog: Default::default(),
        catching_up: true,
    };
    let stream = futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(r) = st.backlog.pop_front() {
                if r.seq > st.sent {
                    st.sent = r.seq;
                    return Some((Ok(event(&r)), st));
                }
                continue;
            }
            if st.catching_up {
                let after = st.sent;
                let page = blocking(&st.live, move |l| {
                    let mut page = l.with_history(|h| h.after(after, CATCH_UP_PAGE))?;
                    l.annotate(&mut page);
                    Ok(page)
                })
                .await;
                match page {
                    Ok(p) => {
                        st.catching_up = p.len() == CATCH_UP_PAGE;
                        st.backlog.extend(p);
                    }
                    Err(_) => {
                        // The log is unreadable for now: retry shortly.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                continue;
            }
            match st.rx.recv().await {
                Ok(records) => st.backlog.extend(records.iter().cloned()),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => st.catching_up = true,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(10))))
}

async fn progress(s: Ctx, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let q = QueryPairs::parse(raw.as_deref());
    q.reject_unknown(&["collection", "from", "to", "step", "f"])?;
    let csv = match q.single("f")? {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "f {other:?} is not offered here; use json or csv"
            )))
        }
    };
    let collection = q
        .single("collection")?
        .ok_or_else(|| ApiError::bad_request("collection is required, e.g. collection=roads"))?
        .to_owned();
    find_layer(&s.catalog, &collection)?;
    let time = |name: &str| -> Result<Option<clock::Unix>, ApiError> {
        q.single(name)?
            .map(|v| clock::parse(v).map_err(|e| ApiError::bad_request(format!("{name}: {e}"))))
            .transpose()
    };
    let step = match q.single("step")? {
        None => clock::Step::Quarter,
        Some(v) => clock::Step::parse(v).ok_or_else(|| {
            ApiError::bad_request(format!(
                "step {v:?} is not known; the steps are: month, quarter, year"
            ))
        })?,
    };
    let request = crate::history::Progress {
        collection,
        from: time("from")?,
        to: time("to")?,
        step,
    };
    let snap = Arc::clone(&s.catalog);
    let report = blocking(&s.live, move |live| {
        crate::history::progress(live, &snap, &request)
    })
    .await?;
    if csv {
        let name = format!(
            "progress-{}.csv",
            report["collection"].as_str().unwrap_or("report")
        );
        return Ok((
            [
                (header::CONTENT_TYPE, CSV.to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            crate::history::progress_csv(&report),
        )
            .into_response());
    }
    Ok(json_response(JSON, body(&report)))
}

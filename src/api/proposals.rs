//! Proposals over HTTP: create, list, read, rename, compare (`/diff`, JSON
//! or a printable bilingual page), adopt, rebase and withdraw. Reading and
//! editing inside a proposal use the record's own resources with
//! `proposal={id}` (see `middleware::pin`).
//!
//! Editors create, edit, rename, rebase and withdraw proposals; adopting
//! one changes the record for everyone, so it needs an admin token.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use serde_json::{json, Value};

use super::auth::require_role;
use super::media::{HTML, JSON, PDF};
use super::openapi::{params as p, Endpoint, Param};
use super::params::{ApiPath, QueryPairs};
use super::{base_url, ApiError, Ctx};
use crate::live::{Keep, ProposalError};
use crate::store::proposal::ProposalMeta;
use crate::store::Role;

const PROPOSAL_ID: Param = Param {
    name: "proposalId",
    location: "path",
    required: true,
    schema: r#"{"type":"string"}"#,
    description: "The proposal's id, as POST /api/proposals answered it.",
};
const CONSEQUENCES: Param = Param {
    name: "consequences",
    location: "query",
    required: false,
    schema: r#"{"type":"boolean","default":true}"#,
    description: "false: the features alone, without the consequences (which cost what the coverage answers cost).",
};
const DIFF_F: Param = Param {
    name: "f",
    location: "query",
    required: false,
    schema: r#"{"type":"string","enum":["json","html","pdf"],"default":"json"}"#,
    description: "json: the comparison; html: the same as a printable page in Chinese and English; pdf: that page printed by headless Chromium.",
};
const DESCRIBE_BODY: &str = r#"{"type":"object","properties":{"title":{"type":"string","maxLength":200},"description":{"type":"string","maxLength":10000}}}"#;
const REBASE_BODY: &str = r#"{"type":"object","required":["features"],"properties":{"features":{"type":"array","items":{"type":"object","required":["collection","id","keep"],"properties":{"collection":{"type":"string"},"id":{"type":"string"},"keep":{"type":"string","enum":["record","proposal"]}}}}}}"#;
const ERR_401: (u16, &str, &str) = (401, JSON, "No valid bearer token");
const ERR_403: (u16, &str, &str) = (403, JSON, "The token's role may not do this");
const ERR_404: (u16, &str, &str) = (404, JSON, "No such proposal");
const ERR_409: (u16, &str, &str) = (
    409,
    JSON,
    "The proposal is not open, or (adopt) the record changed features it changes too: `conflicts` lists them",
);
const ERR_405: (u16, &str, &str) = (405, JSON, "The server keeps no proposals (a data folder)");

/// Longest title and description accepted.
const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 10_000;

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "get",
        path: "/api/proposals",
        operation_id: "listProposals",
        summary: "Every proposal: title, author, base revision, changes, status (open, adopted, withdrawn)",
        tag: "Proposals",
        params: &[],
        request_body: None,
        responses: &[(200, JSON, "The proposals, oldest first"), ERR_405],
        route: || get(list),
    },
    Endpoint {
        method: "post",
        path: "/api/proposals",
        operation_id: "createProposal",
        summary: "Open a proposal over the record's current revision (editor)",
        tag: "Proposals",
        params: &[p::AUTHORIZATION],
        request_body: Some(DESCRIBE_BODY),
        responses: &[(201, JSON, "The proposal; Location names it"), (400, JSON, "No title, or too long"), ERR_401, ERR_403, ERR_405],
        route: || post(create),
    },
    Endpoint {
        method: "get",
        path: "/api/proposals/{proposalId}",
        operation_id: "getProposal",
        summary: "One proposal, with the features the record changed since it took them (conflicts)",
        tag: "Proposals",
        params: &[PROPOSAL_ID],
        request_body: None,
        responses: &[(200, JSON, "The proposal"), ERR_404],
        route: || get(one),
    },
    Endpoint {
        method: "patch",
        path: "/api/proposals/{proposalId}",
        operation_id: "describeProposal",
        summary: "Rename a proposal or change its description (editor)",
        tag: "Proposals",
        params: &[PROPOSAL_ID, p::AUTHORIZATION],
        request_body: Some(DESCRIBE_BODY),
        responses: &[(200, JSON, "The proposal"), (400, JSON, "Not a title or description"), ERR_401, ERR_403, ERR_404, ERR_409],
        route: || patch(describe),
    },
    Endpoint {
        method: "get",
        path: "/api/proposals/{proposalId}/changes",
        operation_id: "proposalChanges",
        summary: "The proposal's own change log: who changed which feature in it, when",
        tag: "Proposals",
        params: &[PROPOSAL_ID],
        request_body: None,
        responses: &[(200, JSON, "The rows, oldest first"), ERR_404],
        route: || get(changes),
    },
    Endpoint {
        method: "get",
        path: "/api/proposals/{proposalId}/diff",
        operation_id: "proposalDiff",
        summary: "The proposal against the record: features added, changed (before/after) and removed, and the consequences side by side (zone shares, sites, substation loads, single points of failure, assets by status)",
        tag: "Proposals",
        params: &[PROPOSAL_ID, DIFF_F, CONSEQUENCES],
        request_body: None,
        responses: &[(200, JSON, "The comparison (text/html with f=html, application/pdf with f=pdf)"), ERR_404, (501, JSON, "f=pdf without Chromium"), (503, JSON, "Busy, or past the deadline")],
        route: || get(diff),
    },
    Endpoint {
        method: "post",
        path: "/api/proposals/{proposalId}/adopt",
        operation_id: "adoptProposal",
        summary: "Apply every change of the proposal to the record as one revision (admin)",
        tag: "Proposals",
        params: &[PROPOSAL_ID, p::AUTHORIZATION],
        request_body: None,
        responses: &[(200, JSON, "Adopted: the record's new revision"), ERR_401, ERR_403, ERR_404, ERR_409, (503, JSON, "The store cannot take writes now")],
        route: || post(adopt),
    },
    Endpoint {
        method: "post",
        path: "/api/proposals/{proposalId}/rebase",
        operation_id: "rebaseProposal",
        summary: "Settle conflicts feature by feature: keep the record's feature or the proposal's (editor)",
        tag: "Proposals",
        params: &[PROPOSAL_ID, p::AUTHORIZATION],
        request_body: Some(REBASE_BODY),
        responses: &[(200, JSON, "The proposal"), (400, JSON, "Not a list of features the proposal changes"), ERR_401, ERR_403, ERR_404, ERR_409],
        route: || post(rebase),
    },
    Endpoint {
        method: "post",
        path: "/api/proposals/{proposalId}/withdraw",
        operation_id: "withdrawProposal",
        summary: "Close a proposal without adopting it; it stays readable (editor)",
        tag: "Proposals",
        params: &[PROPOSAL_ID, p::AUTHORIZATION],
        request_body: None,
        responses: &[(200, JSON, "The proposal"), ERR_401, ERR_403, ERR_404, ERR_409],
        route: || post(withdraw),
    },
];

impl From<ProposalError> for ApiError {
    fn from(e: ProposalError) -> Self {
        let text = e.to_string();
        match e {
            ProposalError::NotFound(_) => ApiError::not_found(text),
            ProposalError::Closed { .. } | ProposalError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "Conflict", text)
            }
            ProposalError::Invalid(_) => ApiError::bad_request(text),
            ProposalError::NoProposals(_) => ApiError::read_only(text),
            ProposalError::Edit(e) => ApiError::bad_request(e.to_string()),
            ProposalError::Store(crate::store::StoreError::Refused(m)) => ApiError::bad_request(m),
            ProposalError::Store(e) => ApiError::store_unavailable(format!(
                "the store could not do it, nothing was changed: {e}"
            )),
        }
    }
}

/// Run `f` against the live seat on the blocking pool (saves wait on the
/// disk).
async fn blocking<T: Send + 'static>(
    s: &Ctx,
    f: impl FnOnce(&crate::live::Live) -> Result<T, ProposalError> + Send + 'static,
) -> Result<T, ApiError> {
    let live = Arc::clone(&s.live);
    tokio::task::spawn_blocking(move || f(&live))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

/// A proposal as JSON, with its links.
fn proposal_json(s: &Ctx, headers: &HeaderMap, meta: &ProposalMeta, changes: usize) -> Value {
    let base = base_url(s, headers);
    let href = format!(
        "{base}/api/proposals/{}",
        super::feature::encode_segment(&meta.id)
    );
    let q = format!("proposal={}", super::feature::encode_segment(&meta.id));
    json!({
        "id": meta.id,
        "title": meta.title,
        "description": meta.description,
        "author": meta.author,
        "base": meta.base,
        "status": meta.status,
        "created": meta.created,
        "updated": meta.updated,
        "version": meta.version,
        "changes": changes,
        "adopted_revision": meta.adopted_revision,
        "links": [
            {"href": href, "rel": "self", "type": JSON},
            {"href": format!("{href}/diff"), "rel": "diff", "type": JSON, "title": "The proposal against the record"},
            {"href": format!("{href}/diff?f=html"), "rel": "diff", "type": HTML, "title": "The comparison, printable"},
            {"href": format!("{href}/changes"), "rel": "changes", "type": JSON},
            {"href": format!("{base}/api/collections?{q}"), "rel": "data", "type": JSON, "title": "The collections as the proposal makes them"},
            {"href": format!("{base}/?{q}"), "rel": "alternate", "type": HTML, "title": "The proposal on the map"},
        ],
    })
}

/// A proposal's answers change with its saves, which move no record
/// revision: never cached on the record's ETag (see `middleware::etag`).
const NO_STORE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-store");

fn answer(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, JSON), NO_STORE],
        serde_json::to_vec(v).unwrap_or_default(),
    )
        .into_response()
}

/// The title and description of a body, checked (`title` required when
/// `need_title`).
fn describe_body(
    bytes: &Bytes,
    current: Option<&ProposalMeta>,
) -> Result<(String, String), ApiError> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let Some(o) = v.as_object() else {
        return Err(ApiError::bad_request(
            "the body is a JSON object: {\"title\": \"...\", \"description\": \"...\"}",
        ));
    };
    if let Some(k) = o.keys().find(|k| *k != "title" && *k != "description") {
        return Err(ApiError::bad_request(format!(
            "unknown member {k:?}; a proposal has a title and a description"
        )));
    }
    let text = |k: &str| -> Result<Option<String>, ApiError> {
        match o.get(k) {
            None => Ok(None),
            Some(Value::String(t)) => Ok(Some(t.trim().to_owned())),
            Some(_) => Err(ApiError::bad_request(format!("{k} is a string"))),
        }
    };
    let title = match (text("title")?, current) {
        (Some(t), _) => t,
        (None, Some(m)) => m.title.clone(),
        (None, None) => return Err(ApiError::bad_request("a proposal needs a title")),
    };
    let description = match (text("description")?, current) {
        (Some(d), _) => d,
        (None, Some(m)) => m.description.clone(),
        (None, None) => String::new(),
    };
    if title.is_empty() || title.chars().count() > MAX_TITLE {
        return Err(ApiError::bad_request(format!(
            "title: 1 to {MAX_TITLE} characters"
        )));
    }
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::bad_request(format!(
            "description: at most {MAX_DESCRIPTION} characters"
        )));
    }
    Ok((title, description))
}

async fn list(s: Ctx, headers: HeaderMap, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    QueryPairs::parse(raw.as_deref()).reject_unknown(&["f"])?;
    let all = blocking(&s, |live| live.proposal_list()).await?;
    let items: Vec<Value> = all
        .iter()
        .map(|(m, n)| proposal_json(&s, &headers, m, *n))
        .collect();
    Ok(answer(
        StatusCode::OK,
        &json!({"proposals": items, "record_revision": s.catalog.revision}),
    ))
}

async fn create(
    s: Ctx,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    QueryPairs::parse(raw.as_deref()).reject_unknown(&[])?;
    s.live.require_proposals()?;
    let who = require_role(&s, &headers, Role::Editor)?;
    let (title, description) = describe_body(&bytes, None)?;
    let meta = blocking(&s, move |live| {
        live.create_proposal(&title, &description, &who)
    })
    .await?;
    let v = proposal_json(&s, &headers, &meta, 0);
    let mut resp = answer(StatusCode::CREATED, &v);
    if let Some(Ok(loc)) = v["links"][0]["href"]
        .as_str()
        .map(header::HeaderValue::from_str)
    {
        resp.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(resp)
}

async fn one(
    s: Ctx,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    QueryPairs::parse(raw.as_deref()).reject_unknown(&["f"])?;
    let snap = Arc::clone(&s.catalog);
    let (meta, n, conflicts) = blocking(&s, move |live| {
        let (meta, n) = live.proposal(&id)?;
        let (_, state) = live.proposal_state(&id, &snap, None)?;
        let conflicts = match meta.status {
            crate::store::proposal::ProposalStatus::Open => live.proposal_conflicts(&snap, &state),
            _ => vec![],
        };
        Ok((meta, n, conflicts))
    })
    .await?;
    let mut v = proposal_json(&s, &headers, &meta, n);
    v["conflicts"] = json!(conflicts);
    v["record_revision"] = json!(s.catalog.revision);
    Ok(answer(StatusCode::OK, &v))
}

async fn describe(
    s: Ctx,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    RawQuery(raw): RawQuery,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    QueryPairs::parse(raw.as_deref()).reject_unknown(&[])?;
    let who = require_role(&s, &headers, Role::Editor)?;
    let pid = id.clone();
    let (current, _) = blocking(&s, move |live| live.proposal(&pid)).await?;
    let (title, description) = describe_body(&bytes, Some(&current))?;
    let meta = blocking(&s, move |live| {
        live.describe_proposal(&id, &title, &description, &who)
    })
    .await?;
    let n = blocking(&s, {
        let id = meta.id.clone();
        move |live| live.proposal(&id).map(|(_, n)| n)
    })
    .await?;
    Ok(answer(
        StatusCode::OK,
        &proposal_json(&s, &headers, &meta, n),
    ))
}

async fn changes(
    s: Ctx,
    ApiPath(id): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    QueryPairs::parse(raw.as_deref()).reject_unknown(&["f"])?;
    let rows = blocking(&s, move |live| live.proposal_rows(&id)).await?;
    Ok(answer(StatusCode::OK, &json!({"changes": rows})))
}

async fn diff(
    s: Ctx,
    ApiPath(id): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = QueryPairs::parse(raw.as_deref());
    q.reject_unknown(&["f", "consequences"])?;
    let with_consequences = match q.single("consequences")? {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "consequences: {other:?} is not true or false"
            )))
        }
    };
    let (html, pdf) = match q.single("f")? {
        None | Some("json") => (false, false),
        Some("html") => (true, false),
        Some("pdf") => (true, true),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "f: {other:?} is not a format of the comparison; use json, html or pdf"
            )))
        }
    };
    if pdf && crate::report::pdf::chromium().is_none() {
        return Err(ApiError::not_implemented(
            crate::report::pdf::PdfError::NoChromium.to_string(),
        ));
    }
    let live = Arc::clone(&s.live);
    let v = s
        .compute
        .run(move |deadline| comparison(&live, &id, with_consequences, &deadline))
        .await??;
    if html {
        let titles = s
            .catalog
            .coverage
            .as_ref()
            .map(|c| {
                c.rules
                    .services
                    .iter()
                    .map(|(name, r)| (name.clone(), (r.title.clone(), r.title_zh.clone())))
                    .collect()
            })
            .unwrap_or_default();
        let page = crate::report::proposal::proposal_html(&v, &titles);
        if pdf {
            // Printed as the site report is (Chromium's own bound).
            let timeout = s.compute.deadline().max(std::time::Duration::from_secs(45));
            let printed =
                tokio::task::spawn_blocking(move || crate::report::pdf::render(&page, timeout))
                    .await
                    .map_err(ApiError::internal)?
                    .map_err(|e| ApiError::not_ready(e.to_string()))?;
            return Ok(([(header::CONTENT_TYPE, PDF), NO_STORE], printed).into_response());
        }
        return Ok(([(header::CONTENT_TYPE, HTML), NO_STORE], page).into_response());
    }
    Ok(answer(StatusCode::OK, &v))
}

/// The comparison of proposal `id` with the record, on the compute pool
/// (the view may need building; the consequences cost what the coverage
/// answers do): `Err` only past the deadline. An adopted proposal is
/// compared as the record stood just before and just after its adoption.
fn comparison(
    live: &crate::live::Live,
    id: &str,
    with_consequences: bool,
    deadline: &crate::budget::Deadline,
) -> Result<Result<Value, ApiError>, crate::budget::Exceeded> {
    let prepared = (|| -> Result<_, ApiError> {
        let record = live.snapshot();
        let (view, meta) = live.proposal_view(id)?;
        let (_, state) = live.proposal_state(id, &record, None)?;
        let conflicts = match meta.status {
            crate::store::proposal::ProposalStatus::Open => {
                live.proposal_conflicts(&record, &state)
            }
            _ => vec![],
        };
        let (before, after) = match meta.adopted_revision {
            Some(r) if r > 0 => (live.as_of(r - 1)?, live.as_of(r)?),
            _ => (record, view),
        };
        Ok((
            before,
            after,
            meta,
            conflicts,
            state.into_keys().collect::<Vec<_>>(),
        ))
    })();
    let (before, after, meta, conflicts, keys) = match prepared {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    let features = crate::compare::feature_diff(
        &before,
        &after,
        keys.iter().map(|(l, i)| (l.as_str(), i.as_str())),
    );
    // The features alone cost what the changes do; the consequences cost
    // what the coverage answers do.
    let consequences = match with_consequences {
        true => crate::compare::consequences(&before, &after, deadline)?,
        false => Value::Null,
    };
    Ok(Ok(json!({
        "proposal": meta,
        "record_revision": before.revision,
        "conflicts": conflicts,
        "features": features,
        "consequences": consequences,
    })))
}

async fn adopt(
    s: Ctx,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    QueryPairs::parse(raw.as_deref()).reject_unknown(&[])?;
    s.live.require_proposals()?;
    let who = require_role(&s, &headers, Role::Admin)?;
    let pid = id.clone();
    let outcome = tokio::task::spawn_blocking({
        let live = Arc::clone(&s.live);
        move || live.adopt_proposal(&pid, &who)
    })
    .await
    .map_err(ApiError::internal)?;
    let (meta, revision) = match outcome {
        Ok(done) => done,
        Err(ProposalError::Conflict(list)) => {
            let text = ProposalError::Conflict(list.clone()).to_string();
            let mut resp = answer(
                StatusCode::CONFLICT,
                &json!({"code": "Conflict", "description": text, "conflicts": list}),
            );
            resp.headers_mut().insert(
                super::REVISION_HEADER,
                header::HeaderValue::from(s.catalog.revision),
            );
            return Ok(resp);
        }
        Err(e) => return Err(e.into()),
    };
    let n = blocking(&s, move |live| live.proposal(&id).map(|(_, n)| n)).await?;
    let mut v = proposal_json(&s, &headers, &meta, n);
    v["revision"] = json!(revision);
    let mut resp = answer(StatusCode::OK, &v);
    resp.headers_mut()
        .insert(super::REVISION_HEADER, header::HeaderValue::from(revision));
    Ok(resp)
}

async fn rebase(
    s: Ctx,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    RawQuery(raw): RawQuery,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    QueryPairs::parse(raw.as_deref()).reject_unknown(&[])?;
    let who = require_role(&s, &headers, Role::Editor)?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let bad = || {
        ApiError::bad_request(
            "the body is {\"features\": [{\"collection\": \"...\", \"id\": \"...\", \"keep\": \"record\" or \"proposal\"}, ...]}",
        )
    };
    let list = v
        .get("features")
        .and_then(Value::as_array)
        .ok_or_else(bad)?;
    if list.is_empty() {
        return Err(bad());
    }
    let mut choices = Vec::with_capacity(list.len());
    for f in list {
        let text = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_owned);
        let keep = match f.get("keep").and_then(Value::as_str) {
            Some("record") => Keep::Record,
            Some("proposal") => Keep::Proposal,
            _ => return Err(bad()),
        };
        // An id may be a number in GeoJSON.
        let fid =
            text("id").or_else(|| f.get("id").filter(|v| v.is_number()).map(|v| v.to_string()));
        choices.push((
            text("collection").ok_or_else(bad)?,
            fid.ok_or_else(bad)?,
            keep,
        ));
    }
    let pid = id.clone();
    let meta = blocking(&s, move |live| live.rebase_proposal(&pid, &choices, &who)).await?;
    let n = blocking(&s, move |live| live.proposal(&id).map(|(_, n)| n)).await?;
    Ok(answer(
        StatusCode::OK,
        &proposal_json(&s, &headers, &meta, n),
    ))
}

async fn withdraw(
    s: Ctx,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    QueryPairs::parse(raw.as_deref()).reject_unknown(&[])?;
    let who = require_role(&s, &headers, Role::Editor)?;
    let pid = id.clone();
    let meta = blocking(&s, move |live| live.withdraw_proposal(&pid, &who)).await?;
    let n = blocking(&s, move |live| live.proposal(&id).map(|(_, n)| n)).await?;
    Ok(answer(
        StatusCode::OK,
        &proposal_json(&s, &headers, &meta, n),
    ))
}

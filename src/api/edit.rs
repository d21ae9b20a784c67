//! Editing through OGC API - Features Part 4: create (POST), replace (PUT),
//! update (PATCH, a JSON Merge Patch) and delete (DELETE) features.
//!
//! Every write needs `Authorization: Bearer <token>` of an editor or admin,
//! and PUT, PATCH and DELETE need `If-Match` with the feature's current ETag
//! (`"<revision>"`, as GET answers it): no lost updates. A write is durable
//! before its 2xx (see `live` and `store::gpkg`).

use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, patch, post, put};
use serde_json::Value;

use super::auth::require_role;
use super::feature::{feature_href, feature_response};
use super::media::{GEOJSON, JSON, MERGE_PATCH};
use super::openapi::{params as p, Endpoint};
use super::params::{ApiPath, QueryPairs};
use super::{base_url, find_layer, ApiError, Ctx};
use crate::encode::{FeatureJson, Link};
use crate::live::{Applied, Edit, EditError, ProposalError};
use crate::model::Feature;
use crate::store::Role;

const ERR_401: (u16, &str, &str) = (401, JSON, "No valid bearer token (WWW-Authenticate)");
const ERR_403: (u16, &str, &str) = (403, JSON, "The token's role may not edit");
const ERR_405: (u16, &str, &str) = (405, JSON, "The server serves a read-only data folder");
const ERR_404_FEATURE: (u16, &str, &str) = (404, JSON, "No such collection or feature");
const ERR_412: (u16, &str, &str) = (
    412,
    JSON,
    "If-Match is not the current version (ETag has the current one)",
);
const ERR_428: (u16, &str, &str) = (428, JSON, "If-Match is missing");
const ERR_503: (u16, &str, &str) = (
    503,
    JSON,
    "The store cannot take writes now (read-only file, disk full, locked); nothing was changed",
);

const FEATURE_BODY: &str = r#"{"type":"object","description":"A GeoJSON Feature (or, for POST, a FeatureCollection created all-or-nothing)","required":["type"],"properties":{"type":{"type":"string","enum":["Feature","FeatureCollection"]}}}"#;
const PATCH_BODY: &str = r#"{"type":"object","description":"A JSON Merge Patch (RFC 7396) of the feature: {\"properties\": {...}} and/or {\"geometry\": {...}}"}"#;

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "post",
        path: "/api/collections/{collectionId}/items",
        operation_id: "createFeature",
        summary: "Create a feature (or a FeatureCollection of them, all or nothing)",
        tag: "Editing",
        params: &[p::COLLECTION_ID, p::PROPOSAL],
        request_body: Some(FEATURE_BODY),
        responses: &[
            (
                201,
                GEOJSON,
                "Created: the stored feature(s); Location of a single one",
            ),
            (400, JSON, "Invalid feature: one line per problem"),
            ERR_401,
            ERR_403,
            (404, JSON, "No such collection"),
            ERR_405,
            (409, JSON, "The id is in use; nothing stored"),
            (413, JSON, "Body over 1 MiB"),
            (415, JSON, "Not application/geo+json or application/json"),
            ERR_503,
        ],
        route: || post(create),
    },
    Endpoint {
        method: "put",
        path: "/api/collections/{collectionId}/items/{featureId}",
        operation_id: "replaceFeature",
        summary: "Replace a feature (If-Match required)",
        tag: "Editing",
        params: &[p::COLLECTION_ID, p::FEATURE_ID, p::IF_MATCH, p::PROPOSAL],
        request_body: Some(FEATURE_BODY),
        responses: &[
            (200, GEOJSON, "The stored feature, with its new ETag"),
            (400, JSON, "Invalid feature: one line per problem"),
            ERR_401,
            ERR_403,
            ERR_404_FEATURE,
            ERR_405,
            ERR_412,
            (415, JSON, "Not application/geo+json or application/json"),
            ERR_428,
            ERR_503,
        ],
        route: || put(replace),
    },
    Endpoint {
        method: "patch",
        path: "/api/collections/{collectionId}/items/{featureId}",
        operation_id: "updateFeature",
        summary: "Update a feature with a JSON Merge Patch (If-Match required)",
        tag: "Editing",
        params: &[p::COLLECTION_ID, p::FEATURE_ID, p::IF_MATCH, p::PROPOSAL],
        request_body: Some(PATCH_BODY),
        responses: &[
            (200, GEOJSON, "The stored feature, with its new ETag"),
            (
                400,
                JSON,
                "The patched feature is invalid: one line per problem",
            ),
            ERR_401,
            ERR_403,
            ERR_404_FEATURE,
            ERR_405,
            ERR_412,
            (415, JSON, "Not application/merge-patch+json"),
            ERR_428,
            ERR_503,
        ],
        route: || patch(update),
    },
    Endpoint {
        method: "delete",
        path: "/api/collections/{collectionId}/items/{featureId}",
        operation_id: "deleteFeature",
        summary: "Delete a feature (If-Match required)",
        tag: "Editing",
        params: &[p::COLLECTION_ID, p::FEATURE_ID, p::IF_MATCH, p::PROPOSAL],
        request_body: None,
        responses: &[
            (204, "", "Deleted"),
            ERR_401,
            ERR_403,
            ERR_404_FEATURE,
            ERR_405,
            ERR_412,
            ERR_428,
            ERR_503,
        ],
        route: || delete(remove),
    },
];

/// The revision in `If-Match` (428 without it, 412 when malformed).
fn if_match(headers: &HeaderMap) -> Result<u64, ApiError> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Err(ApiError::precondition_required(
            "If-Match is required: send the ETag of the feature as you read it (GET the feature first)",
        ));
    };
    let text = v.to_str().unwrap_or("").trim();
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| {
            ApiError::precondition_failed(format!(
                "If-Match {text:?} is not an ETag of this server (a quoted revision, e.g. \"12\")"
            ))
        })
}

fn require_type(headers: &HeaderMap, accepted: &[&str]) -> Result<(), ApiError> {
    let (ct, essence) = super::params::content_type(headers);
    if accepted.contains(&essence.as_str()) {
        return Ok(());
    }
    Err(ApiError::unsupported_media_type(format!(
        "Content-Type {:?} is not accepted here; send {}",
        ct,
        accepted.join(" or ")
    )))
}

/// Bodies up to this size are parsed where the request is: tens of
/// microseconds, less than a trip to the blocking pool and back.
const PARSE_IN_PLACE: usize = 16 * 1024;

/// The body as JSON; a bigger body on the blocking pool: one near the
/// 1 MiB limit takes milliseconds to parse, which no async worker should
/// spend.
async fn body_json(bytes: Bytes) -> Result<Value, ApiError> {
    let parsed = if bytes.len() <= PARSE_IN_PLACE {
        serde_json::from_slice(&bytes)
    } else {
        tokio::task::spawn_blocking(move || serde_json::from_slice(&bytes))
            .await
            .map_err(ApiError::internal)?
    };
    parsed.map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))
}

fn no_params(raw: Option<&str>) -> Result<(), ApiError> {
    QueryPairs::parse(raw).reject_unknown(&[super::params::PROPOSAL])
}

/// 405 when the server serves a data folder: editing needs a store.
fn editable(s: &Ctx) -> Result<(), ApiError> {
    if s.live.editable() {
        return Ok(());
    }
    Err(ApiError::read_only(format!(
        "the server serves {} read-only; start it with --store FILE.gpkg to edit",
        s.live.describe()
    )))
}

fn edit_error(e: EditError) -> ApiError {
    let status = match &e {
        EditError::NoCollection(_) | EditError::NoFeature(..) => StatusCode::NOT_FOUND,
        EditError::IdInUse(..) => StatusCode::CONFLICT,
        EditError::Stale { .. } => StatusCode::PRECONDITION_FAILED,
        EditError::Invalid(_) => StatusCode::BAD_REQUEST,
        EditError::ReadOnly(_) | EditError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let code = match status {
        StatusCode::NOT_FOUND => "NotFound",
        StatusCode::CONFLICT => "Conflict",
        StatusCode::PRECONDITION_FAILED => "PreconditionFailed",
        StatusCode::BAD_REQUEST => "InvalidFeature",
        _ => "StoreUnavailable",
    };
    let description = match &e {
        EditError::Invalid(lines) => format!("the feature is not valid:\n{}", lines.join("\n")),
        other => other.to_string(),
    };
    ApiError::new(status, code, description)
}

/// Run edits: into the record (queued for the writer, which waits on the
/// disk on the blocking pool), or into the proposal the request names.
async fn submit(s: &Ctx, edits: Vec<Edit>, who: String) -> Result<Applied, ApiError> {
    let live = std::sync::Arc::clone(&s.live);
    let proposal = s.proposal.clone();
    let outcome = match proposal {
        None => live
            .submit_async(edits, who)
            .await
            .map_err(ProposalError::Edit),
        Some(p) => tokio::task::spawn_blocking(move || live.submit_to_proposal(&p, edits, &who))
            .await
            .map_err(|e| ApiError::internal(format!("the writer failed: {e}")))?,
    };
    let outcome = match outcome {
        Ok(a) => Ok(a),
        Err(ProposalError::Edit(e)) => Err(e),
        Err(other) => return Err(other.into()),
    };
    outcome.map_err(|e| {
        let current = match &e {
            EditError::Stale { current, .. } => Some(*current),
            _ => None,
        };
        let mut err = edit_error(e);
        if let Some(c) = current {
            err.description = format!("{} (current ETag \"{c}\")", err.description);
        }
        err
    })
}

fn written(s: &Ctx, headers: &HeaderMap, layer: &str, status: StatusCode, f: &Feature) -> Response {
    let href = feature_href(&base_url(s, headers), layer, &f.id);
    let links = [Link {
        href: href.clone(),
        rel: "self",
        media_type: GEOJSON,
        title: None,
    }];
    let mut resp = feature_response(status, f, f, &links);
    if status == StatusCode::CREATED {
        if let Ok(v) = HeaderValue::from_str(&href) {
            resp.headers_mut().insert(header::LOCATION, v);
        }
    }
    // The feature was written by the revision just committed (in a
    // proposal, its ETag is the proposal's; the record's revision stays).
    match s.proposal {
        None => committed(resp, f.revision),
        Some(_) => committed(resp, s.catalog.revision),
    }
}

async fn create(
    s: Ctx,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    RawQuery(raw): RawQuery,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    no_params(raw.as_deref())?;
    find_layer(&s.catalog, &id)?;
    editable(&s)?;
    let who = require_role(&s, &headers, Role::Editor)?;
    require_type(&headers, &[GEOJSON, JSON])?;
    let body = body_json(bytes).await?;
    // A Feature answers as one (with `Location`), a collection as a collection.
    let single = body.get("type").and_then(Value::as_str) == Some("Feature");
    let edits: Vec<Edit> = match body.get("type").and_then(Value::as_str) {
        Some("Feature") => vec![Edit::Create {
            layer: id.clone(),
            feature: body,
        }],
        Some("FeatureCollection") => body
            .get("features")
            .and_then(Value::as_array)
            .ok_or_else(|| ApiError::bad_request("a FeatureCollection needs a \"features\" array"))?
            .iter()
            .map(|f| Edit::Create {
                layer: id.clone(),
                feature: f.clone(),
            })
            .collect(),
        _ => {
            return Err(ApiError::bad_request(
                "the body must be a GeoJSON Feature or FeatureCollection",
            ))
        }
    };
    if edits.is_empty() {
        return Err(ApiError::bad_request(
            "the FeatureCollection has no features",
        ));
    }
    let applied = submit(&s, edits, who).await?;
    let revision = applied.revision;
    let stored: Vec<Feature> = applied
        .features
        .into_iter()
        .filter_map(|(_, f)| f)
        .collect();
    if single {
        if let Some(f) = stored.first() {
            return Ok(written(&s, &headers, &id, StatusCode::CREATED, f));
        }
    }
    let body = serde_json::to_vec(&serde_json::json!({
        "type": "FeatureCollection",
        "features": stored.iter().map(|f| serde_json::to_value(FeatureJson { feature: f, links: &[] }).unwrap_or(Value::Null)).collect::<Vec<_>>(),
    }))
    .unwrap_or_default();
    Ok(committed(
        (StatusCode::CREATED, [(header::CONTENT_TYPE, GEOJSON)], body).into_response(),
        revision,
    ))
}

/// A write's answer names the revision it committed (not the one the
/// request started on).
fn committed(mut resp: Response, revision: u64) -> Response {
    resp.headers_mut().insert(
        super::REVISION_HEADER,
        axum::http::HeaderValue::from(revision),
    );
    resp
}

/// The checks every write to an existing feature makes, in order: no
/// parameters, the collection, an editable store, the role, `If-Match`, and
/// the body's type when it has one. Returns who writes and the version they
/// saw.
fn precheck_existing(
    s: &Ctx,
    headers: &HeaderMap,
    raw: Option<&str>,
    collection: &str,
    types: Option<&[&str]>,
) -> Result<(String, u64), ApiError> {
    no_params(raw)?;
    find_layer(&s.catalog, collection)?;
    editable(s)?;
    let who = require_role(s, headers, Role::Editor)?;
    let version = if_match(headers)?;
    if let Some(types) = types {
        require_type(headers, types)?;
    }
    Ok((who, version))
}

/// Submit one edit of an existing feature and answer with it as stored.
async fn write_existing(
    s: &Ctx,
    headers: &HeaderMap,
    collection: &str,
    edit: Edit,
    who: String,
) -> Result<Response, ApiError> {
    let applied = submit(s, vec![edit], who).await?;
    match applied.features.into_iter().next() {
        Some((_, Some(f))) => Ok(written(s, headers, collection, StatusCode::OK, &f)),
        _ => Err(ApiError::internal("a write stored no feature")),
    }
}

async fn replace(
    s: Ctx,
    headers: HeaderMap,
    ApiPath((id, feature_id)): ApiPath<(String, String)>,
    RawQuery(raw): RawQuery,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let (who, version) =
        precheck_existing(&s, &headers, raw.as_deref(), &id, Some(&[GEOJSON, JSON]))?;
    let feature = body_json(bytes).await?;
    if feature.get("type").and_then(Value::as_str) != Some("Feature") {
        return Err(ApiError::bad_request("the body must be a GeoJSON Feature"));
    }
    let edit = Edit::Replace {
        layer: id.clone(),
        id: feature_id,
        feature,
        if_match: version,
    };
    write_existing(&s, &headers, &id, edit, who).await
}

async fn update(
    s: Ctx,
    headers: HeaderMap,
    ApiPath((id, feature_id)): ApiPath<(String, String)>,
    RawQuery(raw): RawQuery,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let (who, version) = precheck_existing(
        &s,
        &headers,
        raw.as_deref(),
        &id,
        Some(&[MERGE_PATCH, JSON]),
    )?;
    let patch = body_json(bytes).await?;
    if !patch.is_object() {
        return Err(ApiError::bad_request(
            "a merge patch of a feature is a JSON object, e.g. {\"properties\": {\"status\": \"existing\"}}",
        ));
    }
    let edit = Edit::Patch {
        layer: id.clone(),
        id: feature_id,
        patch,
        if_match: version,
    };
    write_existing(&s, &headers, &id, edit, who).await
}

async fn remove(
    s: Ctx,
    headers: HeaderMap,
    ApiPath((id, feature_id)): ApiPath<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (who, version) = precheck_existing(&s, &headers, raw.as_deref(), &id, None)?;
    let applied = submit(
        &s,
        vec![Edit::Delete {
            layer: id,
            id: feature_id,
            if_match: version,
        }],
        who,
    )
    .await?;
    Ok(committed(
        StatusCode::NO_CONTENT.into_response(),
        applied.revision,
    ))
}

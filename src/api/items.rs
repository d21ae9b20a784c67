//! Features of a collection: `/items` (bbox, filters, paging) and one feature.

use axum::extract::RawQuery;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;

use super::openapi::{params as p, Endpoint};
use super::params::{self as params, format, ApiPath, QueryPairs};
use super::{base_url, find_layer, json_response, ApiError, Ctx};
use crate::encode::{FeatureJson, FeaturePage, Features, Link};
use crate::model::Feature;

const GEOJSON: &str = "application/geo+json";
const JSON: &str = "application/json";

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "get",
        path: "/api/collections/{collectionId}/items",
        operation_id: "getFeatures",
        summary: "Features of a collection, filtered by bbox and properties, one page at a time",
        tag: "Data",
        params: &[
            p::COLLECTION_ID,
            p::BBOX,
            p::BBOX_CRS,
            p::LIMIT,
            p::OFFSET,
            p::F,
            p::ASOF,
        ],
        request_body: None,
        responses: &[
            (200, GEOJSON, "A page of features (FeatureCollection)"),
            (400, JSON, "A parameter is malformed or unknown"),
            (404, JSON, "No such collection"),
        ],
        route: || get(items),
    },
    Endpoint {
        method: "get",
        path: "/api/collections/{collectionId}/items/{featureId}",
        operation_id: "getFeature",
        summary: "One feature",
        tag: "Data",
        params: &[p::COLLECTION_ID, p::FEATURE_ID, p::F, p::ASOF],
        request_body: None,
        responses: &[
            (200, GEOJSON, "The feature"),
            (400, JSON, "A parameter is malformed"),
            (404, JSON, "No such collection or feature"),
        ],
        route: || get(item),
    },
];

/// Parameters `/items` understands besides the layer's queryables.
const STANDARD: &[&str] = &["bbox", "limit", "offset", "f", "bbox-crs", "asof"];

async fn items(
    s: Ctx,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let l = find_layer(&s.catalog, &id)?;
    let q = QueryPairs::parse(raw.as_deref());
    format(&q)?;
    let meta = &l.layer.meta;
    let mut known: Vec<&str> = STANDARD.to_vec();
    known.extend(meta.queryable.iter().map(String::as_str));
    if let Some(bad) = q.unknown(&known).next() {
        return Err(ApiError::bad_request(format!(
            "unknown parameter {bad:?}; {} accepts bbox, bbox-crs, limit, offset, f, asof and the queryables: {}",
            meta.id,
            if meta.queryable.is_empty() {
                "(none)".to_string()
            } else {
                meta.queryable.join(", ")
            }
        )));
    }
    if let Some(crs) = q.single("bbox-crs")? {
        if crs != super::ogc::CRS84 {
            return Err(ApiError::bad_request(format!(
                "bbox-crs {crs:?} is not supported; only {} is",
                super::ogc::CRS84
            )));
        }
    }
    let limit = params::limit(q.single("limit")?)?;
    let offset = params::offset(q.single("offset")?)?;
    let rects = q.single("bbox")?.map(params::bbox).transpose()?;
    let mut filters = Vec::new();
    for name in &meta.queryable {
        if let Some(v) = q.single(name)? {
            filters.push((name.as_str(), v));
        }
    }

    let candidates: Vec<usize> = match &rects {
        Some(r) => l.bbox(r),
        None => (0..l.layer.features.len()).collect(),
    };
    let matched: Vec<&Feature> = candidates
        .into_iter()
        .map(|i| &*l.layer.features[i])
        .filter(|f| filters.iter().all(|(n, v)| f.property_equals(n, v)))
        .collect();
    let number_matched = matched.len();
    let page: Vec<&Feature> = matched.into_iter().skip(offset).take(limit).collect();

    let base = base_url(&s, &headers);
    let href = |offset: usize| -> String {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &q.0 {
            if k != "limit" && k != "offset" {
                ser.append_pair(k, v);
            }
        }
        ser.append_pair("limit", &limit.to_string());
        ser.append_pair("offset", &offset.to_string());
        format!("{base}/api/collections/{}/items?{}", meta.id, ser.finish())
    };
    let mut links = vec![Link {
        href: href(offset),
        rel: "self",
        media_type: GEOJSON,
        title: Some("This page".into()),
    }];
    if offset.saturating_add(page.len()) < number_matched {
        links.push(Link {
            href: href(offset + page.len()),
            rel: "next",
            media_type: GEOJSON,
            title: Some("Next page".into()),
        });
    }
    if offset > 0 {
        links.push(Link {
            href: href(
                offset
                    .saturating_sub(limit)
                    .min(number_matched.saturating_sub(1)),
            ),
            rel: "prev",
            media_type: GEOJSON,
            title: Some("Previous page".into()),
        });
    }
    links.push(Link {
        href: format!("{base}/api/collections/{}", meta.id),
        rel: "collection",
        media_type: JSON,
        title: Some(meta.title.clone()),
    });

    let body = FeaturePage {
        kind: "FeatureCollection",
        number_matched,
        number_returned: page.len(),
        time_stamp: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        links,
        features: Features(page),
    };
    let bytes = serde_json::to_vec(&body).map_err(ApiError::internal)?;
    Ok(json_response(GEOJSON, bytes))
}

async fn item(
    s: Ctx,
    headers: HeaderMap,
    ApiPath((id, feature_id)): ApiPath<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = QueryPairs::parse(raw.as_deref());
    q.reject_unknown(&["f", "asof"])?;
    format(&q)?;
    let l = find_layer(&s.catalog, &id)?;
    let i = s.catalog.feature_index(&id, &feature_id).ok_or_else(|| {
        ApiError::not_found(format!("collection {id:?} has no feature {feature_id:?}"))
    })?;
    let base = base_url(&s, &headers);
    let collection = format!("{base}/api/collections/{id}");
    let links = [
        Link {
            href: format!("{collection}/items/{}", encode_segment(&feature_id)),
            rel: "self",
            media_type: GEOJSON,
            title: None,
        },
        Link {
            href: collection,
            rel: "collection",
            media_type: JSON,
            title: Some(l.layer.meta.title.clone()),
        },
    ];
    let bytes = serde_json::to_vec(&FeatureJson {
        feature: &l.layer.features[i],
        links: &links,
    })
    .map_err(ApiError::internal)?;
    let mut resp = json_response(GEOJSON, bytes);
    // Strong and per feature: what If-Match takes for editing.
    if let Ok(v) =
        axum::http::HeaderValue::from_str(&super::edit::feature_etag(&l.layer.features[i]))
    {
        resp.headers_mut().insert(axum::http::header::ETAG, v);
    }
    Ok(resp)
}

/// Percent-encode a path segment (feature ids may hold any character).
pub fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

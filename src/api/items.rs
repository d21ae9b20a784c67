//! Features of a collection: `/items` (bbox, filters, paging) and one feature.

use axum::extract::RawQuery;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;

use super::feature::{encode_segment, feature_response};
use super::links::with_links;
use super::media::{GEOJSON, JSON};
use super::openapi::{params as p, Endpoint};
use super::params::{self as params, format, ApiPath, QueryPairs, READ_PARAMS};
use super::{base_url, find_layer, json_response, ApiError, Ctx};
use crate::crs::{Crs, Order};
use crate::encode::{FeaturePage, Features, Link};
use crate::model::Feature;

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
            p::CRS,
            p::ASOF,
            p::PROPOSAL,
            p::FILTER,
            p::FILTER_LANG,
            p::FILTER_CRS,
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
        params: &[
            p::COLLECTION_ID,
            p::FEATURE_ID,
            p::F,
            p::CRS,
            p::ASOF,
            p::PROPOSAL,
        ],
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
const STANDARD: &[&str] = &[
    "bbox",
    "limit",
    "offset",
    "f",
    "bbox-crs",
    "crs",
    "filter",
    "filter-lang",
    "filter-crs",
];

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
    let reserved: Vec<&str> = STANDARD.iter().chain(READ_PARAMS).copied().collect();
    // Every queryable (every property some feature carries, as
    // /queryables lists them) filters by equality; the standard
    // parameters keep their names.
    let mut queryable: Vec<&str> = meta.queryable.iter().map(String::as_str).collect();
    queryable.extend(l.properties().0.keys().map(String::as_str));
    queryable.sort_unstable();
    queryable.dedup();
    queryable.retain(|p| !reserved.contains(p));
    let known: Vec<&str> = reserved.iter().chain(&queryable).copied().collect();
    if let Some(bad) = q.unknown(&known).next() {
        return Err(ApiError::bad_request(format!(
            "unknown parameter {bad:?}; {} accepts bbox, bbox-crs, crs, limit, offset, f, asof, filter, filter-lang, filter-crs and its queryables (/collections/{}/queryables): {}",
            meta.id,
            meta.id,
            if queryable.is_empty() {
                "(none)".to_string()
            } else {
                queryable.join(", ")
            }
        )));
    }
    let out_crs = answer_crs(&q)?;
    let bbox_crs = match q.single("bbox-crs")? {
        None => Crs::Crs84,
        Some(c) => offered(c, "bbox-crs")?,
    };
    let limit = params::limit(q.single("limit")?)?;
    let offset = params::offset(q.single("offset")?)?;
    // A bbox in another CRS: candidates from its lon/lat envelope, then
    // each tested exactly in that CRS.
    let (rects, exact) = match q.single("bbox")? {
        None => (None, None),
        Some(b) if bbox_crs == Crs::Crs84 => (Some(params::bbox(b)?), None),
        Some(b) => {
            let (envelope, rect) = projected_bbox(b, &bbox_crs)?;
            (Some(vec![envelope]), Some(rect))
        }
    };
    let mut filters = Vec::new();
    for name in &queryable {
        if let Some(v) = q.single(name)? {
            filters.push((*name, v));
        }
    }

    let filter = match super::filter::requested(&q)? {
        Some(r) => Some(r.compile(l).map_err(|e| super::filter::bad(&meta.id, e))?),
        None => None,
    };
    // The index first: the bbox, else the box a spatial filter implies.
    let candidates: Vec<usize> = match (&rects, filter.as_ref().and_then(|f| f.envelope())) {
        (Some(r), _) => l.bbox(r),
        (None, Some(env)) => l.envelope_candidates(env),
        (None, None) => l.layer.features.indexed().map(|(p, _)| p).collect(),
    };
    let simple = |f: &Feature| {
        filters.iter().all(|(n, v)| f.property_equals(n, v))
            && exact.is_none_or(|r| intersects_in(&f.geometry, &bbox_crs, &r))
    };
    let positions: Vec<usize> = match filter {
        None => candidates
            .into_iter()
            .filter(|&i| simple(&l.layer.features[i]))
            .collect(),
        // A CQL2 filter can cost real CPU per feature (a spatial relation
        // with a 500-vertex literal over a million features): it runs on
        // the bounded pool, under the compute deadline (503 past it).
        Some(f) => {
            let kept: Vec<usize> = candidates
                .into_iter()
                .filter(|&i| simple(&l.layer.features[i]))
                .collect();
            let catalog = std::sync::Arc::clone(&s.catalog);
            let id = meta.id.clone();
            s.compute
                .run(move |deadline| {
                    let Some(l) = catalog.layer(&id) else {
                        return Ok(Vec::new());
                    };
                    f.select(&l.layer.features, &kept, &deadline)
                })
                .await?
        }
    };
    let matched: Vec<&Feature> = positions
        .into_iter()
        .map(|i| &*l.layer.features[i])
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
    // Part 3: a filterable resource links to what it can be filtered on.
    links.push(Link {
        href: format!("{base}/api/collections/{}/queryables", meta.id),
        rel: "http://www.opengis.net/def/rel/ogc/1.0/queryables",
        media_type: "application/schema+json",
        title: Some("Filterable properties".into()),
    });

    let projected: Vec<Feature> = match &out_crs {
        Crs::Crs84 => Vec::new(),
        c => page.iter().map(|f| in_crs(f, c)).collect(),
    };
    let page = if projected.is_empty() {
        page
    } else {
        projected.iter().collect()
    };
    let header_links = links.clone();
    let body = FeaturePage {
        kind: "FeatureCollection",
        number_matched,
        number_returned: page.len(),
        time_stamp: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
        links,
        features: Features(page),
    };
    let resp = json_response(GEOJSON, body.to_bytes());
    Ok(with_content_crs(with_links(resp, &header_links), &out_crs))
}

async fn item(
    s: Ctx,
    headers: HeaderMap,
    ApiPath((id, feature_id)): ApiPath<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = QueryPairs::parse(raw.as_deref());
    q.reject_unknown_read(&["f", "crs"])?;
    format(&q)?;
    let out_crs = answer_crs(&q)?;
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
    let projected;
    let feature: &Feature = match &out_crs {
        Crs::Crs84 => &l.layer.features[i],
        c => {
            projected = in_crs(&l.layer.features[i], c);
            &projected
        }
    };
    // Strong and per feature: what If-Match takes for editing.
    let resp = feature_response(
        axum::http::StatusCode::OK,
        feature,
        &l.layer.features[i],
        &links,
    );
    Ok(with_content_crs(resp, &out_crs))
}

/// A CRS a client named, if it is one the collections offer (by URI).
fn offered(text: &str, what: &str) -> Result<Crs, ApiError> {
    let crs = Crs::parse(text).map_err(|e| ApiError::bad_request(format!("{what}: {e}")))?;
    if crs.uri().is_none() {
        return Err(ApiError::bad_request(format!(
            "{what}: {} has no URI; ask by URI for one of the collection's crs list (CRS84, EPSG:4326, 4490, 3857, 4513-4554, 32601-32660)",
            crs.name()
        )));
    }
    Ok(crs)
}

/// The CRS the answer is asked in (`crs=`), CRS84 by default.
fn answer_crs(q: &QueryPairs) -> Result<Crs, ApiError> {
    match q.single("crs")? {
        None => Ok(Crs::Crs84),
        Some(c) => offered(c, "crs"),
    }
}

/// `Content-Crs: <uri>` (OGC API - Features Part 2).
fn with_content_crs(mut resp: Response, crs: &Crs) -> Response {
    if let Some(v) = crs
        .uri()
        .and_then(|u| axum::http::HeaderValue::from_str(&format!("<{u}>")).ok())
    {
        resp.headers_mut().insert("content-crs", v);
    }
    resp
}

/// A copy of `f` with its coordinates in `crs`, in the CRS's axis order.
fn in_crs(f: &Feature, crs: &Crs) -> Feature {
    use geo::MapCoords;
    let mut out = f.clone();
    out.geometry = f.geometry.map_coords(|c| {
        let [x, y] = crs.from_lonlat(c, Order::Authority);
        geo::Coord { x, y }
    });
    out
}

/// A bbox given in a projected or latitude-first CRS: its lon/lat envelope
/// (edges sampled, as they curve) and the box in the CRS's easting-first
/// terms.
fn projected_bbox(value: &str, crs: &Crs) -> Result<(geo::Rect, geo::Rect), ApiError> {
    let nums: Vec<f64> = value
        .split(',')
        .map(|p| {
            p.trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| ApiError::bad_request(format!("bbox: {p:?} is not a number")))
        })
        .collect::<Result<_, _>>()?;
    if nums.len() != 4 {
        return Err(ApiError::bad_request(format!(
            "bbox in {} takes 4 numbers (its two axes' minimums, then maximums, in its axis order), found {}",
            crs.name(),
            nums.len()
        )));
    }
    let lo = crs.from_lonlat(
        crs.to_lonlat([nums[0], nums[1]], Order::Authority)
            .map_err(|e| ApiError::bad_request(format!("bbox: {e}")))?,
        Order::Traditional,
    );
    let hi = crs.from_lonlat(
        crs.to_lonlat([nums[2], nums[3]], Order::Authority)
            .map_err(|e| ApiError::bad_request(format!("bbox: {e}")))?,
        Order::Traditional,
    );
    if lo[0] > hi[0] || lo[1] > hi[1] {
        return Err(ApiError::bad_request(
            "bbox: a minimum is above its maximum",
        ));
    }
    let rect = geo::Rect::new(
        geo::coord! {x: lo[0], y: lo[1]},
        geo::coord! {x: hi[0], y: hi[1]},
    );
    const STEPS: usize = 16;
    let mut xs = Vec::with_capacity(4 * STEPS);
    for k in 0..=STEPS {
        let t = k as f64 / STEPS as f64;
        let (x, y) = (lo[0] + t * (hi[0] - lo[0]), lo[1] + t * (hi[1] - lo[1]));
        for p in [[x, lo[1]], [x, hi[1]], [lo[0], y], [hi[0], y]] {
            xs.push(
                crs.to_lonlat(p, Order::Traditional)
                    .map_err(|e| ApiError::bad_request(format!("bbox: {e}")))?,
            );
        }
    }
    let (mut min, mut max) = (xs[0], xs[0]);
    for c in &xs {
        min = geo::coord! {x: min.x.min(c.x), y: min.y.min(c.y)};
        max = geo::coord! {x: max.x.max(c.x), y: max.y.max(c.y)};
    }
    // An edge bulges between samples by far less than this (1e-6° ≈ 0.1 m).
    let pad = 1e-6 + (max.x - min.x).max(max.y - min.y) * 1e-3;
    let envelope = geo::Rect::new(
        geo::coord! {x: min.x - pad, y: min.y - pad},
        geo::coord! {x: max.x + pad, y: max.y + pad},
    );
    Ok((envelope, rect))
}

/// Whether a geometry intersects a box given in `crs` (easting first).
fn intersects_in(g: &geo::Geometry, crs: &Crs, rect: &geo::Rect) -> bool {
    use geo::{Intersects, MapCoords};
    let projected = g.map_coords(|c| {
        let [x, y] = crs.from_lonlat(c, Order::Traditional);
        geo::Coord { x, y }
    });
    projected.intersects(rect)
}

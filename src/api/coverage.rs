//! Coverage and statistics endpoints: a point, a parcel, the zone, its gaps,
//! every site, and the headline figures. All take `scenario`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::RawQuery;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use std::sync::Arc;

use geo::{Geometry, MultiPolygon};
use serde_json::{json, Value};

use super::media::{GEOJSON, JSON};
use super::openapi::{
    params::{ASOF, F, PROPOSAL},
    Endpoint, Param,
};
use super::params::{self, QueryPairs};
use super::{json_response, ApiError, Ctx};
use crate::budget::Exceeded;
use crate::coverage::{Coverage, ParcelRefusal, Scenario, Switch};
use crate::encode::GeometryJson;
use crate::load::ClientPolygonError;

/// Most vertices a posted parcel may have.
pub const MAX_PARCEL_VERTICES: usize = 50_000;

const COVERAGE_CRS: Param = Param {
    name: "crs",
    location: "query",
    required: false,
    schema: r#"{"type":"string"}"#,
    description: "The CRS of the point (lon and lat then carry its x and y, easting first) or of the parcel's coordinates (easting first, as GeoJSON files hold them): a URI, EPSG:code, gcj02 or bd09. Answers are in metres either way.",
};
pub(super) const SCENARIO: Param = Param {
    name: "scenario",
    location: "query",
    required: false,
    schema: r#"{"type":"string","enum":["current","planned"],"default":"current"}"#,
    description:
        "current: existing assets only; planned: also those under construction and planned.",
};
const WITHOUT: Param = Param {
    name: "without",
    location: "query",
    required: false,
    schema: r#"{"type":"string"}"#,
    description:
        "Id of a network feature (pipe, feeder, feed, substation) to switch off hypothetically.",
};
const SERVICES: Param = Param {
    name: "services",
    location: "query",
    required: false,
    schema: r#"{"type":"string","example":"water,power"}"#,
    description: "Comma-separated services to answer for (all when absent).",
};
const LON: Param = Param {
    name: "lon",
    location: "query",
    required: true,
    schema: r#"{"type":"number","minimum":-180,"maximum":180}"#,
    description: "Longitude, WGS84 degrees.",
};
const LAT: Param = Param {
    name: "lat",
    location: "query",
    required: true,
    schema: r#"{"type":"number","minimum":-90,"maximum":90}"#,
    description: "Latitude, WGS84 degrees.",
};
const SERVICE: Param = Param {
    name: "service",
    location: "query",
    required: true,
    schema: r#"{"type":"string","enum":["water","gas","steam","power","road","park"]}"#,
    description: "The service whose gaps to return.",
};
pub(super) const ERR_400: (u16, &str, &str) = (400, JSON, "A parameter or the body is malformed");
pub(super) const ERR_404: (u16, &str, &str) =
    (404, JSON, "The data folder defines no coverage rules");
/// A 409: the rules do not fit the data of the snapshot asked about.
pub(super) const ERR_409: (u16, &str, &str) = (
    409,
    JSON,
    "The coverage rules do not fit the data at this revision (asof before the zone existed, or the zone deleted): items are served, coverage is not",
);
pub(super) const ERR_503: (u16, &str, &str) = (
    503,
    JSON,
    "Zone results are still being computed after start-up; retry (Retry-After)",
);

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "get",
        path: "/api/coverage",
        operation_id: "getCoverageAtPoint",
        summary: "Every service at a point: covered or not, distance to the nearest asset, what serves it, which sources feed it",
        tag: "Coverage",
        params: &[LON, LAT, COVERAGE_CRS, SCENARIO, WITHOUT, F, ASOF, PROPOSAL],
        request_body: None,
        responses: &[(200, JSON, "Per-service answers"), ERR_400, ERR_404, ERR_409],
        route: || get(at_point),
    },
    Endpoint {
        method: "post",
        path: "/api/coverage",
        operation_id: "getCoverageOfParcel",
        summary: "A parcel's area and, per service, the area and share within reach and the assets that reach it",
        tag: "Coverage",
        params: &[SCENARIO, WITHOUT, SERVICES, COVERAGE_CRS, F, ASOF, PROPOSAL],
        request_body: Some(r#"{"type":"object","description":"A GeoJSON Polygon, MultiPolygon, or Feature holding one (WGS84)","required":["type"],"properties":{"type":{"type":"string","enum":["Polygon","MultiPolygon","Feature"]}}}"#),
        responses: &[
            (200, JSON, "Per-service shares"),
            ERR_400,
            ERR_404, ERR_409,
            (408, JSON, "The body did not arrive within the body timeout"),
            (413, JSON, "Body over 1 MiB, more than 10,000 vertices, or a parcel too costly to compute (vertices x candidate assets)"),
            (415, JSON, "The body is not declared as application/json or application/geo+json"),
            (503, JSON, "Busy, or the computation ran past its deadline (Retry-After)"),
        ],
        route: || axum::routing::post(parcel),
    },
    Endpoint {
        method: "get",
        path: "/api/coverage/zone",
        operation_id: "getZoneCoverage",
        summary: "Per service, the share and area of the zone within reach",
        tag: "Coverage",
        params: &[SCENARIO, F, ASOF, PROPOSAL],
        request_body: None,
        responses: &[(200, JSON, "Zone shares"), ERR_400, ERR_404, ERR_409, ERR_503],
        route: || get(zone),
    },
    Endpoint {
        method: "get",
        path: "/api/coverage/gaps",
        operation_id: "getCoverageGaps",
        summary: "The parts of the zone a service does not reach, as polygons with their area",
        tag: "Coverage",
        params: &[SERVICE, SCENARIO, F, ASOF, PROPOSAL],
        request_body: None,
        responses: &[(200, GEOJSON, "FeatureCollection of gap polygons"), ERR_400, ERR_404, ERR_409, ERR_503],
        route: || get(gaps),
    },
    Endpoint {
        method: "get",
        path: "/api/coverage/sites",
        operation_id: "getSitesCoverage",
        summary: "Every project site with its per-service share and supply",
        tag: "Coverage",
        params: &[SCENARIO, WITHOUT, F, ASOF, PROPOSAL],
        request_body: None,
        responses: &[
            (200, JSON, "The checklist"),
            ERR_400,
            ERR_404, ERR_409,
            (503, JSON, "Busy, or the computation ran past its deadline (Retry-After)"),
        ],
        route: || get(sites),
    },
    Endpoint {
        method: "get",
        path: "/api/stats",
        operation_id: "getStatistics",
        summary: "Roads by status, network lengths, substations by voltage, park area, sites, zone shares",
        tag: "Coverage",
        params: &[SCENARIO, F, ASOF, PROPOSAL],
        request_body: None,
        responses: &[(200, JSON, "The figures"), ERR_400, ERR_404, ERR_409, ERR_503],
        route: || get(stats),
    },
];

pub(super) fn rules(s: &Ctx) -> Result<&Coverage, ApiError> {
    s.catalog
        .coverage
        .as_ref()
        .ok_or_else(|| match &s.catalog.coverage_error {
            Some(e) => ApiError::new(
                StatusCode::CONFLICT,
                "CoverageUnavailable",
                format!(
                    "the coverage rules do not fit the data at revision {} ({e}); items are served, coverage is not",
                    s.catalog.revision
                ),
            ),
            None => ApiError::not_found("this data folder has no coverage rules (coverage.toml)"),
        })
}

/// Make sure every zone result of a scenario is computed, on the blocking
/// pool: after an edit a service's result is recomputed on first use, and at
/// city scale that takes seconds no async worker may spend.
pub(super) async fn zone_results(s: &Ctx, sc: Scenario) -> Result<(), ApiError> {
    let c = rules(s)?;
    if c.service_names().iter().all(|n| c.zone_cached(n, sc)) {
        return Ok(());
    }
    let catalog = Arc::clone(&s.catalog);
    s.compute
        .run(move |_| {
            if let Some(c) = &catalog.coverage {
                for name in c.service_names() {
                    c.zone(&catalog.layers, name, sc);
                }
            }
            Ok(())
        })
        .await
}

/// 503 while the background start-up computation of zone results for this
/// scenario is still running (seconds at a million segments).
pub(super) fn zone_ready(c: &Coverage, sc: Scenario) -> Result<(), ApiError> {
    if c.zone_ready(sc) {
        Ok(())
    } else {
        // Say how far it got (also in /health and /metrics).
        let running: Vec<String> = crate::metrics::global()
            .zone_running()
            .iter()
            .map(|(service, scenario, done, cells)| {
                format!("{service} ({scenario}) {done} of {cells} cells")
            })
            .collect();
        let progress = match running.is_empty() {
            true => String::new(),
            false => format!(": {}", running.join(", ")),
        };
        Err(ApiError::not_ready(format!(
            "zone coverage is still being computed after start-up{progress}; retry in a few seconds"
        )))
    }
}

pub(super) fn scenario(q: &QueryPairs) -> Result<Scenario, ApiError> {
    Ok(scenario_given(q)?.unwrap_or(Scenario::Current))
}

/// The `scenario` parameter, if given (tiles take none to mean every
/// feature).
pub(super) fn scenario_given(q: &QueryPairs) -> Result<Option<Scenario>, ApiError> {
    q.single("scenario")?
        .map(|v| {
            Scenario::parse(v).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "scenario {v:?} is not known; the scenarios are: current, planned"
                ))
            })
        })
        .transpose()
}

fn without(s: &Ctx, c: &Coverage, q: &QueryPairs) -> Result<Option<(Switch, String)>, ApiError> {
    match q.single("without")? {
        None => Ok(None),
        Some(id) => c
            .find_switch(&s.catalog.layers, id)
            .map(|sw| Some((sw, id.to_owned())))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "without: no network feature (pipe, feeder, feed or substation) has id {id:?}"
                ))
            }),
    }
}

/// Positions (arrays starting with a number) anywhere in a JSON value.
fn count_positions(v: &Value) -> usize {
    match v {
        Value::Array(items) if items.first().is_some_and(Value::is_number) => 1,
        Value::Array(items) => items.iter().map(count_positions).sum(),
        Value::Object(m) => m.values().map(count_positions).sum(),
        _ => 0,
    }
}

pub(super) fn body(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

async fn at_point(s: Ctx, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let c = rules(&s)?;
    let q = QueryPairs::parse(raw.as_deref());
    q.reject_unknown_read(&["lon", "lat", "crs", "scenario", "without", "f"])?;
    params::format(&q)?;
    let p = params::point(&q)?;
    let sc = scenario(&q)?;
    let off = without(&s, c, &q)?;
    let answers = c.at_point(&s.catalog.layers, p, sc, off.as_ref().map(|o| o.0));
    // Written straight from typed values, with no `Value` tree between:
    // this is the cheapest question and the one asked most.
    #[derive(serde::Serialize)]
    struct Location {
        lat: f64,
        lon: f64,
    }
    #[derive(serde::Serialize)]
    struct Answer {
        location: Location,
        scenario: Scenario,
        services: Vec<crate::coverage::PointAnswer>,
        without: Option<String>,
    }
    let answer = Answer {
        location: Location { lat: p.y, lon: p.x },
        scenario: sc,
        services: answers,
        without: off.map(|o| o.1),
    };
    Ok(json_response(
        JSON,
        serde_json::to_vec(&answer).unwrap_or_default(),
    ))
}

async fn parcel(
    s: Ctx,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    rules(&s)?;
    let q = QueryPairs::parse(raw.as_deref());
    q.reject_unknown_read(&["scenario", "without", "services", "crs", "f"])?;
    let body_crs = q
        .single("crs")?
        .map(|t| crate::crs::Crs::parse(t).map_err(|e| ApiError::bad_request(format!("crs: {e}"))))
        .transpose()?;
    params::format(&q)?;
    let sc = scenario(&q)?;
    let c = rules(&s)?;
    let off = without(&s, c, &q)?;
    let only = services(c, &q)?;
    params::require_json(&headers)?;
    let bytes = bytes.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!(
                "the body is larger than {} bytes",
                super::MAX_BODY_BYTES
            ))
        } else {
            ApiError::bad_request(format!("cannot read the body: {e}"))
        }
    })?;
    let mut value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    if let Some(crs) = body_crs.filter(|c| !c.is_lonlat()) {
        params::geometry_to_lonlat(&mut value, &crs)?;
    }
    // Count before validating: validation is the costly part.
    let vertices = count_positions(&value);
    if vertices > MAX_PARCEL_VERTICES {
        return Err(ApiError::too_large(format!(
            "the parcel has {vertices} vertices; at most {MAX_PARCEL_VERTICES} are accepted"
        )));
    }
    let catalog = Arc::clone(&s.catalog);
    let switch = off.as_ref().map(|o| o.0);
    // A small parcel among few assets (the usual question) costs well under
    // a millisecond: answered in place, as a deep vector tile is; anything
    // bigger goes to the bounded pool under its deadline.
    let pick = only.clone();
    let answer = move |catalog: &crate::catalog::Catalog, parcel: &MultiPolygon, deadline| {
        let c = c_of(catalog)?;
        Ok(c.parcel(
            &catalog.layers,
            parcel,
            sc,
            switch,
            only.as_deref(),
            &deadline,
        ))
    };
    let (area_m2, answers) = if vertices <= INLINE_MAX_VERTICES {
        let parcel = client_parcel(value)?;
        if priced(&catalog, &parcel, pick.as_deref())? <= INLINE_MAX_COST {
            let deadline = crate::budget::Deadline::after(s.compute.deadline());
            answer(&catalog, &parcel, deadline)?
                .map_err(|e| ApiError::not_ready(format!("{e}; send a smaller or simpler area")))?
        } else {
            s.compute
                .run(move |deadline| split(answer(&catalog, &parcel, deadline)))
                .await??
        }
    } else {
        s.compute
            .run(move |deadline| {
                split((|| {
                    let parcel = client_parcel(value)?;
                    priced(&catalog, &parcel, pick.as_deref())?;
                    answer(&catalog, &parcel, deadline)
                })())
            })
            .await??
    };
    let v = json!({
        "scenario": sc,
        "without": off.map(|o| o.1),
        "area_m2": area_m2.round(),
        "services": answers,
    });
    Ok(json_response(JSON, body(&v)))
}

/// Parcels of at most this many vertices are validated and priced in place.
const INLINE_MAX_VERTICES: usize = 64;
/// Parcels priced at most this (`Coverage::parcel_cost`; see
/// `MAX_PARCEL_COST` for the scale) are answered in place: under a
/// millisecond by scanlines.
const INLINE_MAX_COST: u64 = 25_000;

/// A client's GeoJSON parcel, validated.
fn client_parcel(value: Value) -> Result<MultiPolygon, ApiError> {
    let geometry = crate::load::polygon_from_geojson(value).map_err(|e| match e {
        ClientPolygonError::TooComplex(m) => ApiError::too_large(m),
        ClientPolygonError::Invalid(m) => {
            ApiError::bad_request(format!("the parcel is not a valid polygon: {m}"))
        }
    })?;
    match geometry {
        Geometry::Polygon(p) => Ok(MultiPolygon(vec![p])),
        Geometry::MultiPolygon(m) => Ok(m),
        _ => Err(ApiError::bad_request(
            "the parcel must be a Polygon or MultiPolygon",
        )),
    }
}

fn c_of(catalog: &crate::catalog::Catalog) -> Result<&Coverage, ApiError> {
    catalog
        .coverage
        .as_ref()
        .ok_or_else(|| ApiError::not_found("no coverage rules"))
}

/// A computation's outcome as the pool wants it: running past the deadline
/// apart from the answer or a client error.
fn split<T>(r: Result<Result<T, Exceeded>, ApiError>) -> Result<Result<T, ApiError>, Exceeded> {
    match r {
        Ok(Ok(answer)) => Ok(Ok(answer)),
        Ok(Err(exceeded)) => Err(exceeded),
        Err(api) => Ok(Err(api)),
    }
}

/// Refuse a parcel too wide or too costly; its cost when accepted.
fn priced(
    catalog: &crate::catalog::Catalog,
    parcel: &MultiPolygon,
    only: Option<&[&str]>,
) -> Result<u64, ApiError> {
    let c = c_of(catalog)?;
    c.check_parcel(&catalog.layers, parcel, only)
        .map_err(|e| match e {
            ParcelRefusal::TooWide { .. } => ApiError::bad_request(e.to_string()),
            ParcelRefusal::TooCostly { .. } => ApiError::too_large(e.to_string()),
        })
}

/// `services=water,gas`: the services to answer for (all when absent).
pub(super) fn services(
    c: &Coverage,
    q: &QueryPairs,
) -> Result<Option<Vec<&'static str>>, ApiError> {
    let Some(list) = q.single("services")? else {
        return Ok(None);
    };
    let names = c.service_names();
    let mut only = Vec::new();
    for want in list.split(',').map(str::trim) {
        let Some(&name) = names.iter().find(|&&n| n == want) else {
            return Err(ApiError::bad_request(format!(
                "services: {want:?} is not a service; the services are: {}",
                names.join(", ")
            )));
        };
        if !only.contains(&name) {
            only.push(name);
        }
    }
    Ok(Some(only))
}

async fn zone(s: Ctx, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let c = rules(&s)?;
    let q = QueryPairs::parse(raw.as_deref());
    q.reject_unknown_read(&["scenario", "f"])?;
    params::format(&q)?;
    let sc = scenario(&q)?;
    zone_ready(c, sc)?;
    zone_results(&s, sc).await?;
    let mut area = 0.0;
    let services: Vec<Value> = c
        .service_names()
        .into_iter()
        .filter_map(|name| {
            let z = c.zone(&s.catalog.layers, name, sc)?;
            area = z.area_m2;
            Some(json!({"service": name, "share": z.share, "covered_m2": z.covered_m2.round()}))
        })
        .collect();
    let v = json!({"scenario": sc, "area_m2": area.round(), "services": services});
    Ok(json_response(JSON, body(&v)))
}

async fn gaps(s: Ctx, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let c = rules(&s)?;
    let q = QueryPairs::parse(raw.as_deref());
    q.reject_unknown_read(&["service", "scenario", "f"])?;
    params::format(&q)?;
    let sc = scenario(&q)?;
    let names = c.service_names();
    let service = q.single("service")?.ok_or_else(|| {
        ApiError::bad_request(format!(
            "parameter \"service\" is required; one of: {}",
            names.join(", ")
        ))
    })?;
    if !names.contains(&service) {
        return Err(ApiError::bad_request(format!(
            "service {service:?} is not known; the services are: {}",
            names.join(", ")
        )));
    }
    // Only a well-formed request waits for (or is told to retry) the
    // start-up computation.
    zone_ready(c, sc)?;
    zone_results(&s, sc).await?;
    let Some(z) = c.zone(&s.catalog.layers, service, sc) else {
        return Err(ApiError::bad_request(format!(
            "service {service:?} is not known"
        )));
    };
    let features: Vec<Value> = z
        .gaps
        .0
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let area = crate::geodesy::polygon_area_m2(p);
            json!({
                "type": "Feature",
                "id": format!("gap-{service}-{}", i + 1),
                "geometry": serde_json::to_value(GeometryJson(&Geometry::Polygon(p.clone()))).unwrap_or(Value::Null),
                "properties": {"service": service, "scenario": sc, "area_m2": area.round()},
            })
        })
        .collect();
    let v = json!({
        "type": "FeatureCollection",
        "service": service,
        "scenario": sc,
        "share": z.share,
        "uncovered_m2": (z.area_m2 - z.covered_m2).max(0.0).round(),
        "features": features,
    });
    Ok(json_response(GEOJSON, body(&v)))
}

async fn sites(s: Ctx, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let c = rules(&s)?;
    let q = QueryPairs::parse(raw.as_deref());
    q.reject_unknown_read(&["scenario", "without", "f"])?;
    params::format(&q)?;
    let sc = scenario(&q)?;
    let off = without(&s, c, &q)?;
    let catalog = Arc::clone(&s.catalog);
    let switch = off.as_ref().map(|o| o.0);
    let answers = s
        .compute
        .run(move |deadline| match catalog.coverage.as_ref() {
            Some(c) => c.sites(&catalog.layers, sc, switch, &deadline),
            None => Ok(Arc::new(vec![])),
        })
        .await?;
    let list: Vec<Value> = answers
        .iter()
        .map(|(site, area, answers)| {
            // A planner asks first whether a site can connect; the covered
            // share (every point within reach) is reported beside it.
            let lacking: Vec<&str> = answers
                .iter()
                .filter(|a| !a.connectable)
                .map(|a| a.service)
                .collect();
            json!({"site": site, "area_m2": area.round(), "lacking": lacking, "services": answers})
        })
        .collect();
    let v = json!({"scenario": sc, "without": off.map(|o| o.1), "sites": list});
    Ok(json_response(JSON, body(&v)))
}

async fn stats(s: Ctx, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let c = rules(&s)?;
    let q = QueryPairs::parse(raw.as_deref());
    q.reject_unknown_read(&["scenario", "f"])?;
    params::format(&q)?;
    let sc = scenario(&q)?;
    zone_ready(c, sc)?;
    zone_results(&s, sc).await?;
    let mut v = c.stats(&s.catalog.layers, sc);
    v["revision"] = json!(s.catalog.revision);
    Ok(json_response(JSON, body(&v)))
}

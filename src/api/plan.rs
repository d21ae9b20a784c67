//! The planner's questions over HTTP: where a plant can go
//! (`/api/coverage/suitable`), what an outage cuts off
//! (`/api/network/outage`), which single assets would (`/api/network/critical`),
//! whether the substations carry their sites (`/api/network/capacity`), and
//! the printable site report (`/api/reports/site/{id}`, HTML or PDF).
//! Every computation runs on the bounded compute pool under its deadline.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::RawQuery;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use geo::Geometry;
use serde_json::{json, Value};

use super::coverage::{
    body, rules, scenario, services, zone_ready, zone_results, ERR_400, ERR_404, ERR_409, ERR_503,
    SCENARIO,
};
use super::media::{GEOJSON, HTML, JSON, PDF};
use super::openapi::{
    params::{ASOF, F, PROPOSAL},
    Endpoint, Param,
};
use super::params::{ApiPath, QueryPairs};
use super::{json_response, ApiError, Ctx};
use crate::coverage::capacity::CapacityError;
use crate::coverage::outage::PlanError;
use crate::coverage::suitable::{Question, DEFAULT_EXCLUDE, MAX_SUITABLE_COST};
use crate::encode::GeometryJson;
use crate::model::GeometryKind;
use crate::report::{self, pdf, ReportError, Stamp};

/// Most assets one outage question may switch off.
const MAX_OUTAGE_ASSETS: usize = 200;
/// Most metres of connection beyond the reach a site-finder question may
/// accept (the local projection's accuracy bounds the whole anyway).
const MAX_EXTRA_M: f64 = 5_000.0;
/// The smallest piece of land returned when `min_area_m2` is not given.
const DEFAULT_MIN_AREA_M2: f64 = 10_000.0;

const SERVICES_ALL: Param = Param {
    name: "services",
    location: "query",
    required: false,
    schema: r#"{"type":"string","example":"water,gas,steam,power,road"}"#,
    description: "Comma-separated services the land must have within reach (all when absent).",
};
const MIN_AREA: Param = Param {
    name: "min_area_m2",
    location: "query",
    required: false,
    schema: r#"{"type":"number","minimum":0,"default":10000}"#,
    description: "Smallest piece returned, m².",
};
const EXCLUDE: Param = Param {
    name: "exclude",
    location: "query",
    required: false,
    schema: r#"{"type":"string","default":"sites,parks,water,roads"}"#,
    description: "Comma-separated collections whose features are taken land: polygons as drawn, lines as a reserve width_m wide (20 m where not stated); empty for none.",
};
const FIT: Param = Param {
    name: "fit",
    location: "query",
    required: false,
    schema: r#"{"type":"string","pattern":"^[0-9.]+x[0-9.]+$","example":"200x400"}"#,
    description: "A rectangle, width x depth in metres, that must fit inside a piece in some orientation (tried every 5°).",
};
const EXTRA: Param = Param {
    name: "extra_m",
    location: "query",
    required: false,
    schema: r#"{"type":"number","minimum":0,"maximum":5000,"default":0}"#,
    description: "Metres of connection accepted beyond each service's reach (a plant's own branch): the served land grown by as much.",
};
const ASSETS: Param = Param {
    name: "assets",
    location: "query",
    required: true,
    schema: r#"{"type":"string","example":"W-FEED-NORTH"}"#,
    description: "Comma-separated ids of the assets to switch off (pipes, feeds, feeders, substations, roads...).",
};
const NETWORK_SERVICE: Param = Param {
    name: "service",
    location: "query",
    required: true,
    schema: r#"{"type":"string","enum":["water","power"]}"#,
    description: "A service with a traced network.",
};
const SITE_ID: Param = Param {
    name: "id",
    location: "path",
    required: true,
    schema: r#"{"type":"string"}"#,
    description: "The site's id.",
};
const REPORT_F: Param = Param {
    name: "f",
    location: "query",
    required: false,
    schema: r#"{"type":"string","enum":["html","pdf"],"default":"html"}"#,
    description: "html: the printable page; pdf: the same page printed by headless Chromium.",
};
const BUSY: (u16, &str, &str) = (
    503,
    JSON,
    "Busy, or the computation ran past its deadline (Retry-After)",
);

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "get",
        path: "/api/coverage/suitable",
        operation_id: "findSuitableLand",
        summary: "Where a new plant can go: the parts of the zone within reach of every listed service, minus taken land, largest first, with the serving assets",
        tag: "Planning",
        params: &[SERVICES_ALL, SCENARIO, MIN_AREA, EXCLUDE, FIT, EXTRA, F, ASOF, PROPOSAL],
        request_body: None,
        responses: &[
            (200, GEOJSON, "FeatureCollection of pieces of land"),
            ERR_400,
            ERR_404, ERR_409,
            (413, JSON, "The question would overlay more than the bound allows over the whole zone (a city's road reserves, say)"),
            ERR_503,
        ],
        route: || get(suitable),
    },
    Endpoint {
        method: "get",
        path: "/api/network/outage",
        operation_id: "getOutageImpact",
        summary: "What switching off assets cuts off: per service, the sites that lose supply or redundancy, the assets left without supply, the zone area lost",
        tag: "Planning",
        params: &[ASSETS, SCENARIO, F, ASOF, PROPOSAL],
        request_body: None,
        responses: &[(200, JSON, "The impact per service"), ERR_400, ERR_404, ERR_409, BUSY],
        route: || get(outage),
    },
    Endpoint {
        method: "get",
        path: "/api/network/critical",
        operation_id: "getCriticalAssets",
        summary: "N-1: every single asset whose loss cuts at least one site off, with the sites (articulation points of the network)",
        tag: "Planning",
        params: &[NETWORK_SERVICE, SCENARIO, F, ASOF, PROPOSAL],
        request_body: None,
        responses: &[(200, JSON, "The critical assets"), ERR_400, ERR_404, ERR_409, BUSY],
        route: || get(critical),
    },
    Endpoint {
        method: "get",
        path: "/api/network/capacity",
        operation_id: "getSubstationCapacity",
        summary: "Site power demand against substation capacity, per substation, with overloads flagged",
        tag: "Planning",
        params: &[SCENARIO, F, ASOF, PROPOSAL],
        request_body: None,
        responses: &[(200, JSON, "The capacity report"), ERR_400, ERR_404, ERR_409, BUSY],
        route: || get(capacity),
    },
    Endpoint {
        method: "get",
        path: "/api/reports/site/{id}",
        operation_id: "getSiteReport",
        summary: "A printable report for one site (Chinese and English): map, coverage per service in both scenarios, changes once planned, single points of failure, capacity, revision",
        tag: "Planning",
        params: &[SITE_ID, REPORT_F, ASOF, PROPOSAL],
        request_body: None,
        responses: &[
            (200, "text/html", "The report page (or application/pdf with f=pdf)"),
            ERR_400,
            (404, JSON, "No such site, or no coverage rules"),
            (501, JSON, "A PDF was asked for and this server has no Chromium to print it"),
            BUSY,
        ],
        route: || get(site_report),
    },
];

/// A number parameter of 0 or more, if given.
fn number(q: &QueryPairs, name: &str) -> Result<Option<f64>, ApiError> {
    let Some(v) = q.single(name)? else {
        return Ok(None);
    };
    let x = super::params::number(name, v)?;
    if x < 0.0 {
        return Err(ApiError::bad_request(format!("{name}: {v:?} is below 0")));
    }
    Ok(Some(x))
}

/// `fit=WxD` in metres.
fn fit(q: &QueryPairs) -> Result<Option<(f64, f64)>, ApiError> {
    let Some(v) = q.single("fit")? else {
        return Ok(None);
    };
    let bad = || {
        ApiError::bad_request(format!(
            "fit: {v:?} is not a rectangle; write width x depth in metres, e.g. fit=200x400"
        ))
    };
    let (w, d) = v.split_once(['x', 'X', '*']).ok_or_else(bad)?;
    let parse = |t: &str| {
        t.trim()
            .parse::<f64>()
            .ok()
            .filter(|x| x.is_finite() && *x > 0.0 && *x <= 20_000.0)
    };
    Ok(Some((parse(w).ok_or_else(bad)?, parse(d).ok_or_else(bad)?)))
}

/// The excluded collections: positions of polygon layers.
fn exclude(s: &Ctx, q: &QueryPairs) -> Result<(Vec<usize>, Vec<String>), ApiError> {
    let named: Vec<String> = match q.single("exclude")? {
        None => DEFAULT_EXCLUDE
            .iter()
            .filter(|id| s.catalog.layer_position(id).is_some())
            .map(|s| s.to_string())
            .collect(),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
    };
    let mut out = Vec::new();
    for id in &named {
        let l = s
            .catalog
            .layer_position(id)
            .ok_or_else(|| ApiError::bad_request(format!("exclude: no collection {id:?}")))?;
        if s.catalog.layers[l].layer.meta.geometry == GeometryKind::Point {
            return Err(ApiError::bad_request(format!(
                "exclude: {id:?} holds points, which take no land; name polygon or line collections"
            )));
        }
        out.push(l);
    }
    Ok((out, named))
}

async fn suitable(s: Ctx, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let c = rules(&s)?;
    let q = QueryPairs::parse(raw.as_deref());
    q.reject_unknown_read(&[
        "services",
        "scenario",
        "min_area_m2",
        "exclude",
        "fit",
        "extra_m",
        "f",
    ])?;
    super::params::format(&q)?;
    let sc = scenario(&q)?;
    let names: Vec<&'static str> = services(c, &q)?.unwrap_or_else(|| c.service_names());
    if names.is_empty() {
        return Err(ApiError::bad_request(
            "services: name at least one service the land needs",
        ));
    }
    let min_area_m2 = number(&q, "min_area_m2")?.unwrap_or(DEFAULT_MIN_AREA_M2);
    let (layers, excluded) = exclude(&s, &q)?;
    let fit = fit(&q)?;
    let extra_m = number(&q, "extra_m")?.unwrap_or(0.0);
    if extra_m > MAX_EXTRA_M {
        return Err(ApiError::bad_request(format!(
            "extra_m: {extra_m} m is more than the {MAX_EXTRA_M} m of extra connection a question may accept"
        )));
    }
    zone_ready(c, sc)?;
    zone_results(&s, sc).await?;
    let catalog = Arc::clone(&s.catalog);
    let question = Question {
        services: names.clone(),
        scenario: sc,
        min_area_m2,
        exclude: layers,
        fit,
        extra_m,
    };
    let found = s
        .compute
        .run(move |deadline| {
            let Some(c) = catalog.coverage.as_ref() else {
                return Ok(Err(ApiError::not_found("no coverage rules")));
            };
            // Priced on the pool too: counting a city's vertices takes
            // milliseconds.
            let cost = c.suitable_cost(&catalog.layers, &question);
            if cost > MAX_SUITABLE_COST {
                return Ok(Err(ApiError::too_large(format!(
                    "this question would overlay {cost} vertices over the whole zone (at most {MAX_SUITABLE_COST}): leave road reserves out (exclude=sites,parks,water), ask without extra_m, or ask about a parcel (POST /api/coverage)"
                ))));
            }
            c.suitable(&catalog.layers, &question, &deadline).map(Ok)
        })
        .await??;
    let features: Vec<Value> = found
        .pieces
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let serving: serde_json::Map<String, Value> = p
                .serving
                .iter()
                .map(|sv| {
                    (
                        sv.service.to_string(),
                        json!({"asset": sv.asset, "distance_m": sv.distance_m}),
                    )
                })
                .collect();
            json!({
                "type": "Feature",
                "id": format!("land-{}", k + 1),
                "geometry": serde_json::to_value(GeometryJson(&Geometry::Polygon(p.polygon.clone()))).unwrap_or(Value::Null),
                "properties": {
                    "rank": k + 1,
                    "area_m2": p.area_m2.round(),
                    "area_ha": (p.area_m2 / 100.0).round() / 100.0,
                    "serving": serving,
                },
            })
        })
        .collect();
    let v = json!({
        "type": "FeatureCollection",
        "scenario": sc,
        "services": names,
        "exclude": excluded,
        "min_area_m2": min_area_m2,
        "extra_m": extra_m,
        "fit": fit.map(|(w, d)| json!({"width_m": w, "depth_m": d, "step_deg": crate::coverage::suitable::FIT_STEP_DEG})),
        "suitable_m2": found.total_m2.round(),
        "numberReturned": features.len(),
        "features": features,
    });
    Ok(json_response(GEOJSON, body(&v)))
}

async fn outage(s: Ctx, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    let c = rules(&s)?;
    let q = QueryPairs::parse(raw.as_deref());
    q.reject_unknown_read(&["assets", "scenario", "f"])?;
    super::params::format(&q)?;
    let sc = scenario(&q)?;
    let list = q.single("assets")?.ok_or_else(|| {
        ApiError::bad_request("parameter \"assets\" is required: comma-separated asset ids")
    })?;
    let ids: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if ids.is_empty() {
        return Err(ApiError::bad_request("assets: name at least one asset id"));
    }
    if ids.len() > MAX_OUTAGE_ASSETS {
        return Err(ApiError::bad_request(format!(
            "assets: {} ids; at most {MAX_OUTAGE_ASSETS} in one question",
            ids.len()
        )));
    }
    let found = c
        .find_assets(&s.catalog.layers, &ids)
        .map_err(|e| ApiError::bad_request(format!("assets: {e}")))?;
    let catalog = Arc::clone(&s.catalog);
    let answers = s
        .compute
        .run(move |deadline| match catalog.coverage.as_ref() {
            Some(c) => c.outage(&catalog.layers, &found, sc, &deadline),
            None => Ok(vec![]),
        })
        .await?;
    let services: Vec<Value> = answers
        .iter()
        .map(|a| {
            let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
            v["lost_area"] =
                serde_json::to_value(GeometryJson(&Geometry::MultiPolygon(a.lost_area.clone())))
                    .unwrap_or(Value::Null);
            v
        })
        .collect();
    let v = json!({"scenario": sc, "assets": ids, "services": services});
    Ok(json_response(JSON, body(&v)))
}

async fn critical(s: Ctx, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    rules(&s)?;
    let q = QueryPairs::parse(raw.as_deref());
    q.reject_unknown_read(&["service", "scenario", "f"])?;
    super::params::format(&q)?;
    let sc = scenario(&q)?;
    let service = q
        .single("service")?
        .ok_or_else(|| ApiError::bad_request("parameter \"service\" is required (water or power)"))?
        .to_owned();
    let catalog = Arc::clone(&s.catalog);
    let answer = s
        .compute
        .run(move |deadline| {
            let Some(c) = catalog.coverage.as_ref() else {
                return Ok(Err(ApiError::not_found("no coverage rules")));
            };
            match c.critical(&catalog.layers, &service, sc, &deadline) {
                Ok(v) => Ok(Ok(v)),
                Err(PlanError::Exceeded(e)) => Err(e),
                Err(PlanError::Unknown(m)) => {
                    Ok(Err(ApiError::bad_request(format!("service: {m}"))))
                }
            }
        })
        .await??;
    Ok(json_response(
        JSON,
        body(&serde_json::to_value(&answer).unwrap_or(Value::Null)),
    ))
}

async fn capacity(s: Ctx, RawQuery(raw): RawQuery) -> Result<Response, ApiError> {
    rules(&s)?;
    let q = QueryPairs::parse(raw.as_deref());
    q.reject_unknown_read(&["scenario", "f"])?;
    super::params::format(&q)?;
    let sc = scenario(&q)?;
    let catalog = Arc::clone(&s.catalog);
    let answer = s
        .compute
        .run(move |deadline| {
            let Some(c) = catalog.coverage.as_ref() else {
                return Ok(Err(ApiError::not_found("no coverage rules")));
            };
            match c.capacity(&catalog.layers, sc, &deadline) {
                Ok(v) => Ok(Ok(v)),
                Err(CapacityError::Exceeded(e)) => Err(e),
                Err(CapacityError::NotConfigured(m)) => Ok(Err(ApiError::not_found(m))),
            }
        })
        .await??;
    let mut v = serde_json::to_value(&answer).unwrap_or(Value::Null);
    v["revision"] = json!(s.catalog.revision);
    Ok(json_response(JSON, body(&v)))
}

async fn site_report(
    s: Ctx,
    ApiPath(id): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    rules(&s)?;
    let q = QueryPairs::parse(raw.as_deref());
    q.reject_unknown_read(&["f"])?;
    let want_pdf = match q.single("f")? {
        None | Some("html") => false,
        Some("pdf") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "f: {other:?} is not a report format; use html or pdf"
            )))
        }
    };
    if want_pdf && pdf::chromium().is_none() {
        return Err(ApiError::not_implemented(
            pdf::PdfError::NoChromium.to_string(),
        ));
    }
    let catalog = Arc::clone(&s.catalog);
    let live = Arc::clone(&s.live);
    let timeout = s.compute.deadline();
    let made = s
        .compute
        .run(move |deadline| {
            let revision = catalog.revision;
            let revision_time = live
                .with_history(|h| h.revision_time(revision))
                .ok()
                .flatten();
            let stamp = Stamp {
                revision,
                revision_time,
                generated: crate::clock::format(crate::clock::now()),
            };
            let html = match report::site_html(&catalog, &id, &stamp, &deadline) {
                Ok(h) => h,
                Err(ReportError::Exceeded(e)) => return Err(e),
                Err(ReportError::NotFound(m)) => return Ok(Err(ApiError::not_found(m))),
            };
            if !want_pdf {
                return Ok(Ok((html.into_bytes(), HTML)));
            }
            // Printing is Chromium's time, not the deadline's steps: its own
            // bound, the deadline but at least 45 s (its start alone takes
            // seconds on two cores, and beyond 20 s on two busy ones: a
            // slow report beats a refused one).
            Ok(pdf::render(&html, timeout.max(Duration::from_secs(45)))
                .map(|b| (b, PDF))
                .map_err(|e| match e {
                    pdf::PdfError::NoChromium => ApiError::not_implemented(e.to_string()),
                    other => ApiError::not_ready(other.to_string()),
                }))
        })
        .await??;
    let (bytes, media) = made;
    Ok(([(header::CONTENT_TYPE, media)], bytes).into_response())
}

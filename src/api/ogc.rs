//! OGC API - Features discovery resources: landing page, conformance, the
//! OpenAPI document, collections and their queryables.

use axum::extract::RawQuery;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde_json::{json, Map, Value};

use super::links::with_json_links;
use super::media::{GEOJSON, JSON, OPENAPI};
use super::openapi::{params as p, Endpoint};
use super::params::{format, ApiPath, QueryPairs};
use super::{base_url, find_layer, json_response, ApiError, Ctx};
use crate::index::IndexedLayer;

const SCHEMA: &str = "application/schema+json";
/// The only CRS served: WGS84 longitude/latitude.
pub const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";

const ERR_400: (u16, &str, &str) = (400, JSON, "A parameter is malformed");
const ERR_404: (u16, &str, &str) = (404, JSON, "No such collection or feature");

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "get",
        path: "/api",
        operation_id: "getLandingPage",
        summary: "Landing page: links to the API description, conformance and collections",
        tag: "Capabilities",
        params: &[p::F],
        request_body: None,
        responses: &[(200, JSON, "The landing page"), ERR_400],
        route: || get(landing),
    },
    Endpoint {
        method: "get",
        path: "/api/conformance",
        operation_id: "getConformance",
        summary: "The conformance classes this server implements",
        tag: "Capabilities",
        params: &[p::F],
        request_body: None,
        responses: &[(200, JSON, "Conformance declaration"), ERR_400],
        route: || get(conformance),
    },
    Endpoint {
        method: "get",
        path: "/api/openapi.json",
        operation_id: "getOpenApi",
        summary: "This document",
        tag: "Capabilities",
        params: &[p::F],
        request_body: None,
        responses: &[(200, OPENAPI, "The OpenAPI 3.0 document"), ERR_400],
        route: || get(openapi_doc),
    },
    Endpoint {
        method: "get",
        path: "/api/collections",
        operation_id: "getCollections",
        summary: "Every layer with its title, description and extent",
        tag: "Data",
        params: &[p::F],
        request_body: None,
        responses: &[(200, JSON, "The collections"), ERR_400],
        route: || get(collections),
    },
    Endpoint {
        method: "get",
        path: "/api/collections/{collectionId}",
        operation_id: "describeCollection",
        summary: "One layer's metadata",
        tag: "Data",
        params: &[p::COLLECTION_ID, p::F],
        request_body: None,
        responses: &[(200, JSON, "The collection"), ERR_400, ERR_404],
        route: || get(collection),
    },
    Endpoint {
        method: "get",
        path: "/api/collections/{collectionId}/queryables",
        operation_id: "getQueryables",
        summary: "JSON Schema of the properties /items can filter on",
        tag: "Data",
        params: &[p::COLLECTION_ID, p::F],
        request_body: None,
        responses: &[(200, SCHEMA, "The queryables"), ERR_400, ERR_404],
        route: || get(queryables),
    },
    Endpoint {
        method: "get",
        path: "/api/collections/{collectionId}/schema",
        operation_id: "getSchema",
        summary: "JSON Schema of a collection's features' properties (OGC API - Features Part 5 style): types, allowed values, required ones; what an editing form is built from",
        tag: "Data",
        params: &[p::COLLECTION_ID, p::F],
        request_body: None,
        responses: &[(200, SCHEMA, "The schema"), ERR_400, ERR_404],
        route: || get(schema),
    },
];

/// Discovery resources take only `f` (and the read parameters the
/// middleware acts on: `asof`, `proposal`); anything else is a 400.
pub fn only_format(raw: Option<&str>) -> Result<(), ApiError> {
    let q = QueryPairs::parse(raw);
    // The middleware's own (`asof`, `proposal`) pin the snapshot described.
    q.reject_unknown_read(&["f"])?;
    format(&q)
}

fn link(href: String, rel: &str, media: &str, title: &str) -> Value {
    json!({ "href": href, "rel": rel, "type": media, "title": title })
}

fn body(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

async fn landing(s: Ctx, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    only_format(q.as_deref())?;
    let base = base_url(&s, &headers);
    let m = &s.catalog.manifest;
    let mut v = json!({
        "title": m.title,
        "title_zh": m.title_zh,
        "description": m.description,
        // What the properties are called and measured in.
        "properties": m.properties,
        "links": [
            link(format!("{base}/api"), "self", JSON, "This document"),
            link(format!("{base}/api/openapi.json"), "service-desc", OPENAPI, "The API definition"),
            link(format!("{base}/api/conformance"), "conformance", JSON, "Conformance classes"),
            link(format!("{base}/api/collections"), "data", JSON, "The layers"),
            link(format!("{base}/api/tiles"), "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", JSON, "Vector tiles of all layers"),
            link(format!("{base}/api/tileMatrixSets"), "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes", JSON, "Tile matrix sets"),
        ],
    });
    // Whether history, `asof` and live events are served (a store), so the
    // map asks for them only then.
    v["history"] = json!(s.live.require_history().is_ok());
    // Which status values each scenario counts, so the map fades what a
    // scenario leaves out without knowing the property's name.
    if let Some(c) = s.catalog.coverage.as_ref() {
        let sc = &c.rules.scenarios;
        v["scenarios"] = json!({
            "status_property": sc.status_property,
            "current": sc.current,
            "planned": sc.planned,
        });
        // The services (in the rules' order, with their titles), and
        // whether substation capacity is configured: the map asks only for
        // what exists.
        v["services"] = c
            .rules
            .services
            .iter()
            .map(|(name, r)| {
                json!({
                    "name": name,
                    "title": r.title,
                    "title_zh": r.title_zh,
                    "collection": r.collection,
                    "network": r.network.is_some(),
                    // The lines its network is traced through, when not
                    // its own assets (power: the power lines).
                    "lines": r.network.as_ref().and_then(|n| n.lines.as_ref()).map(|l| &l.collection),
                })
            })
            .collect();
        v["capacity"] = json!(c.rules.capacity.is_some());
        // The project sites' layer (site reports, the checklist).
        v["sites"] = json!(c
            .rules
            .sites
            .as_ref()
            .map(|s| json!({ "collection": s.collection })));
        // The layer whose features make the zone: where the map opens.
        v["zone"] = json!({ "collection": zone_collection(&s) });
    }
    if let Some(b) = &s.basemap {
        v["basemap"] = json!({ "url": b.url, "attribution": b.attribution, "subdomains": b.subdomains, "datum": b.datum });
    }
    Ok(with_json_links(json_response(JSON, body(&v)), &v))
}

async fn conformance(s: Ctx, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    only_format(q.as_deref())?;
    let mut classes = vec![
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
        "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
        "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
        "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
        "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
        "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
        "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions-plus",
        "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/dataset-tilesets",
        "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
        "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
        "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
    ];
    // Part 4 (create, replace, delete; update) only when edits are possible.
    if s.live.editable() {
        classes.extend([
            "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
            "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
            "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
        ]);
    }
    let v = json!({ "conformsTo": classes });
    Ok(json_response(JSON, body(&v)))
}

async fn openapi_doc(
    s: Ctx,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    only_format(q.as_deref())?;
    let doc = super::openapi::document(&super::endpoints(), &s.catalog, &base_url(&s, &headers));
    Ok(json_response(OPENAPI, body(&doc)))
}

/// A layer's collection description, as listed and as served alone.
/// The layer whose features make the zone, when there are coverage rules.
fn zone_collection(s: &Ctx) -> Option<&str> {
    let c = s.catalog.coverage.as_ref()?;
    Some(c.rules.zone.collection.as_str())
}

fn describe(l: &IndexedLayer, base: &str, zone: Option<&str>) -> Value {
    let meta = &l.layer.meta;
    let href = format!("{base}/api/collections/{}", meta.id);
    let mut v = json!({
        "id": meta.id,
        "title": meta.title,
        "description": meta.description,
        "itemType": "feature",
        "crs": crate::crs::offered_uris(),
        "storageCrs": CRS84,
        "links": [
            link(href.clone(), "self", JSON, &meta.title),
            link(format!("{href}/items"), "items", GEOJSON, "The features"),
            link(format!("{href}/queryables"), "http://www.opengis.net/def/rel/ogc/1.0/queryables", SCHEMA, "Filterable properties"),
            link(format!("{href}/tiles"), "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", JSON, "Vector tiles"),
        ],
        "geometryType": meta.geometry.name(),
        "numberOfFeatures": l.layer.features.count(),
        "style": meta.style_or_default(zone == Some(meta.id.as_str())),
    });
    if let Some(t) = &meta.title_zh {
        v["title_zh"] = json!(t);
    }
    if let Some(a) = &meta.attribution {
        v["attribution"] = json!(a);
    }
    if let Some(e) = l.layer.extent {
        v["extent"] = json!({
            "spatial": {
                "bbox": [[e.min().x, e.min().y, e.max().x, e.max().y]],
                "crs": CRS84,
            }
        });
    }
    v
}

async fn collections(
    s: Ctx,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    only_format(q.as_deref())?;
    let base = base_url(&s, &headers);
    let list: Vec<Value> = s
        .catalog
        .layers
        .iter()
        .map(|l| describe(l, &base, zone_collection(&s)))
        .collect();
    let v = json!({
        "links": [ link(format!("{base}/api/collections"), "self", JSON, "The layers") ],
        "collections": list,
    });
    Ok(with_json_links(json_response(JSON, body(&v)), &v))
}

async fn collection(
    s: Ctx,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    only_format(q.as_deref())?;
    let l = find_layer(&s.catalog, &id)?;
    let v = describe(l, &base_url(&s, &headers), zone_collection(&s));
    Ok(with_json_links(json_response(JSON, body(&v)), &v))
}

async fn queryables(
    s: Ctx,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    only_format(q.as_deref())?;
    let l = find_layer(&s.catalog, &id)?;
    // Every property some feature carries (CQL2 filters on any of them),
    // and the geometry for the spatial functions.
    let mut props = Map::new();
    props.insert(
        "geometry".into(),
        json!({"format": format!("geometry-{}", geometry_format(l)), "title": "geometry"}),
    );
    for name in l.properties().0.keys() {
        props.insert(
            name.clone(),
            property_schema(l, name, &s.catalog.manifest.properties),
        );
    }
    let v = json!({
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": format!("{}/api/collections/{}/queryables", base_url(&s, &headers), id),
        "type": "object",
        "title": l.layer.meta.title,
        "properties": props,
        "additionalProperties": false,
    });
    Ok(json_response(SCHEMA, body(&v)))
}

/// Part 3's geometry format for the layer's type (each layer takes the
/// single and the multi form).
fn geometry_format(l: &IndexedLayer) -> String {
    let single = l.layer.meta.geometry.name().to_ascii_lowercase();
    format!("{single}-or-multi{single}")
}

async fn schema(
    s: Ctx,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    only_format(q.as_deref())?;
    let l = find_layer(&s.catalog, &id)?;
    let meta = &l.layer.meta;
    let mut names: std::collections::BTreeSet<&str> =
        meta.required.iter().map(String::as_str).collect();
    for f in l.layer.features.live() {
        names.extend(f.properties.keys());
    }
    let mut props = Map::new();
    for name in names {
        // Values the layer holds are suggestions, not a closed list: a new
        // road may have a class no road had before.
        let mut p = property_schema(l, name, &s.catalog.manifest.properties);
        if let Some(seen) = p.as_object_mut().and_then(|o| o.remove("enum")) {
            p["examples"] = seen;
        }
        props.insert(name.to_owned(), p);
    }
    // The status a write may set is any of the scenarios', held or not.
    let rules = s.catalog.coverage.as_ref().map(|c| &c.rules);
    if let Some(sc) = rules
        .map(|r| &r.scenarios)
        .filter(|sc| props.contains_key(&sc.status_property))
    {
        let mut allowed: Vec<&String> = sc.planned.iter().chain(&sc.current).collect();
        allowed.sort_unstable();
        allowed.dedup();
        props.insert(
            sc.status_property.clone(),
            json!({"type": "string", "enum": allowed}),
        );
        let titled = property_schema(l, &sc.status_property, &s.catalog.manifest.properties);
        for key in ["title", "x-title_zh"] {
            if let Some(t) = titled.get(key) {
                props[&sc.status_property][key] = t.clone();
            }
        }
    }
    let v = json!({
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": format!("{}/api/collections/{}/schema", base_url(&s, &headers), id),
        "type": "object",
        "title": meta.title,
        "x-geometryType": meta.geometry.name(),
        "required": meta.required,
        "properties": props,
    });
    Ok(json_response(SCHEMA, body(&v)))
}

/// JSON Schema of one property, from what the layer's features hold
/// (`IndexedLayer::properties`): its type, and its texts as an enum when
/// there are few; its title (and Chinese title, `x-title_zh`, and unit,
/// `x-ogc-unit`) from the manifest's `[properties]`, else its name.
fn property_schema(
    l: &IndexedLayer,
    name: &str,
    titles: &std::collections::BTreeMap<String, crate::model::PropertyMeta>,
) -> Value {
    let mut v = property_type(l, name);
    match titles.get(name) {
        Some(t) => {
            v["title"] = json!(t.title);
            if let Some(zh) = &t.title_zh {
                v["x-title_zh"] = json!(zh);
            }
            if let Some(unit) = &t.unit {
                v["x-ogc-unit"] = json!(unit);
            }
        }
        None => v["title"] = json!(name),
    }
    v
}

/// A property's JSON Schema type (and enum), from the layer's features.
fn property_type(l: &IndexedLayer, name: &str) -> Value {
    use crate::model::PropertyKind;
    let Some(info) = l.properties().get(name) else {
        return json!({"type": "string"});
    };
    let mut v = match info.kind {
        PropertyKind::Number if info.integer => json!({"type": "integer"}),
        PropertyKind::Number => json!({"type": "number"}),
        PropertyKind::Bool => json!({"type": "boolean"}),
        PropertyKind::Text => json!({"type": "string"}),
        PropertyKind::Mixed => json!({}),
    };
    if let Some(values) = &info.values {
        v["enum"] = json!(values);
    }
    v
}

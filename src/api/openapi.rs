//! The OpenAPI 3.0 document, generated from the same endpoint table that
//! builds the router, so a route cannot exist without its documentation.
//!
//! Each resource module exports `ENDPOINTS: &[Endpoint]`; `api::router` mounts
//! exactly those, and `document` describes exactly those, plus one concrete
//! `/collections/<id>/items` path per layer that lists its filter parameters.

use axum::routing::MethodRouter;
use serde_json::{json, Map, Value};

use super::AppState;
use crate::catalog::Catalog;

/// One operation of the API.
pub struct Endpoint {
    /// `get` or `post`.
    pub method: &'static str,
    /// Path in axum and OpenAPI syntax (`{name}` for a path parameter).
    pub path: &'static str,
    pub operation_id: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    pub params: &'static [Param],
    /// A JSON Schema (as JSON text) of the request body, for POST.
    pub request_body: Option<&'static str>,
    /// Status, media type and description of each response.
    pub responses: &'static [(u16, &'static str, &'static str)],
    /// The axum handler, wrapped for its method.
    pub route: fn() -> MethodRouter<AppState>,
}

/// One parameter of an operation.
pub struct Param {
    pub name: &'static str,
    /// `query` or `path`.
    pub location: &'static str,
    pub required: bool,
    /// A JSON Schema as JSON text.
    pub schema: &'static str,
    pub description: &'static str,
}

/// Shared parameter definitions.
pub mod params {
    use super::Param;

    pub const F: Param = Param {
        name: "f",
        location: "query",
        required: false,
        schema: r#"{"type":"string","enum":["json","geojson"]}"#,
        description: "Output format; only JSON is offered.",
    };
    pub const COLLECTION_ID: Param = Param {
        name: "collectionId",
        location: "path",
        required: true,
        schema: r#"{"type":"string"}"#,
        description: "Collection (layer) id, as listed by /api/collections.",
    };
    pub const FEATURE_ID: Param = Param {
        name: "featureId",
        location: "path",
        required: true,
        schema: r#"{"type":"string"}"#,
        description: "Feature id within the collection.",
    };
    pub const BBOX: Param = Param {
        name: "bbox",
        location: "query",
        required: false,
        schema: r#"{"type":"array","minItems":4,"maxItems":6,"items":{"type":"number"}}"#,
        description: "west,south,east,north (CRS84), or the 6-number form with heights (5 numbers are refused); features whose geometry intersects it. west > east crosses the antimeridian. The schema is the standard's (OGC API - Features Part 1, bbox.yaml).",
    };
    pub const BBOX_CRS: Param = Param {
        name: "bbox-crs",
        location: "query",
        required: false,
        schema: r#"{"type":"string","format":"uri","default":"http://www.opengis.net/def/crs/OGC/1.3/CRS84"}"#,
        description: "CRS of bbox (OGC API - Features Part 2): any URI of a collection's crs list; its coordinates in that CRS's axis order (EPSG:4326 latitude first, the Gauss-Kruger CRSs northing first).",
    };
    pub const CRS: Param = Param {
        name: "crs",
        location: "query",
        required: false,
        schema: r#"{"type":"string","format":"uri","default":"http://www.opengis.net/def/crs/OGC/1.3/CRS84"}"#,
        description: "CRS of the answer's coordinates (OGC API - Features Part 2): any URI of the collection's crs list, in that CRS's axis order; the Content-Crs header names it.",
    };
    pub const LIMIT: Param = Param {
        name: "limit",
        location: "query",
        required: false,
        schema: r#"{"type":"integer","minimum":1,"default":100}"#,
        description: "Page size; values above 10000 are treated as 10000 (OGC API - Features asks servers to clamp, not refuse).",
    };
    pub const IF_MATCH: Param = Param {
        name: "If-Match",
        location: "header",
        required: true,
        schema: r#"{"type":"string"}"#,
        description: "The feature's ETag as last read (a quoted revision); the write fails with 412 if it changed since.",
    };
    pub const ASOF: Param = Param {
        name: crate::api::params::ASOF,
        location: "query",
        required: false,
        schema: r#"{"type":"string","pattern":"^(rev:[0-9]+|[0-9]{4}-[0-9]{2}-[0-9]{2}.*)$"}"#,
        description: "Answer as the data stood then: rev:N (a revision), an RFC 3339 instant (the last revision committed at or before it) or a date (its midnight UTC). The Zoneatlas-Revision header says which revision answered.",
    };
    pub const PROPOSAL: Param = Param {
        name: crate::api::params::PROPOSAL,
        location: "query",
        required: false,
        schema: r#"{"type":"string"}"#,
        description: "Answer from a proposal's view (the record at its current revision with the proposal's changes), or, on an edit, write into the proposal and leave the record untouched. The Zoneatlas-Proposal header says which proposal answered.",
    };
    pub const AUTHORIZATION: Param = Param {
        name: "Authorization",
        location: "header",
        required: true,
        schema: r#"{"type":"string","pattern":"^Bearer "}"#,
        description: "Bearer <token>, as printed by zoneatlas token add.",
    };
    pub const FILTER: Param = Param {
        name: "filter",
        location: "query",
        required: false,
        schema: r#"{"type":"string"}"#,
        description: "A CQL2 filter (OGC API - Features Part 3), e.g. status = 'planned' AND width_m > 30, or S_DWITHIN(geometry, POINT(113.53 34.69), 200) (metres; an extension). Properties are those of the collection's queryables; a feature lacking one does not match. Errors name the character (text) or JSON pointer (JSON) of the problem.",
    };
    pub const FILTER_LANG: Param = Param {
        name: "filter-lang",
        location: "query",
        required: false,
        schema: r#"{"type":"string","enum":["cql2-text","cql2-json"],"default":"cql2-text"}"#,
        description: "The language of filter.",
    };
    pub const FILTER_CRS: Param = Param {
        name: "filter-crs",
        location: "query",
        required: false,
        schema: r#"{"type":"string","format":"uri","default":"http://www.opengis.net/def/crs/OGC/1.3/CRS84"}"#,
        description: "CRS of the filter's geometry literals, in its axis order.",
    };
    pub const OFFSET: Param = Param {
        name: "offset",
        location: "query",
        required: false,
        schema: r#"{"type":"integer","minimum":0,"default":0}"#,
        description: "Number of matching features to skip (the next/prev links carry it).",
    };
}

fn schema(text: &str) -> Value {
    // The texts are constants in this crate; a unit test parses every one.
    serde_json::from_str(text).unwrap_or_else(|_| json!({}))
}

fn param_json(p: &Param) -> Value {
    let mut v = json!({
        "name": p.name,
        "in": p.location,
        "required": p.required,
        "description": p.description,
        "schema": schema(p.schema),
    });
    // Query parameters are form-style and not exploded (OGC API - Features
    // declares it for bbox and limit; it is OpenAPI's default for the rest).
    if p.location == "query" {
        v["style"] = json!("form");
        v["explode"] = json!(false);
    }
    v
}

fn operation(e: &Endpoint, extra_params: &[Value]) -> Value {
    let mut responses = Map::new();
    for (status, media, description) in e.responses {
        let mut r = json!({ "description": description });
        if !media.is_empty() {
            let body_schema = if *status >= 400 {
                json!({"$ref": "#/components/schemas/Exception"})
            } else {
                json!({"type": "object"})
            };
            r["content"] = json!({ *media: { "schema": body_schema } });
        }
        responses.insert(status.to_string(), r);
    }
    // Every route sits behind the URI length limit.
    responses.insert(
        "414".into(),
        json!({"description": "URI longer than 8 KiB",
               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Exception"}}}}),
    );
    let mut params: Vec<Value> = e.params.iter().map(param_json).collect();
    params.extend_from_slice(extra_params);
    let mut op = json!({
        "operationId": e.operation_id,
        "summary": e.summary,
        "tags": [e.tag],
        "parameters": params,
        "responses": responses,
    });
    if let Some(body) = e.request_body {
        op["requestBody"] = if e.method == "patch" {
            json!({
                "required": true,
                "content": { "application/merge-patch+json": { "schema": schema(body) } }
            })
        } else {
            json!({
                "required": true,
                "content": { "application/json": { "schema": schema(body) },
                             "application/geo+json": { "schema": schema(body) } }
            })
        };
    }
    if e.tag == "Editing" || e.params.iter().any(|p| p.name == "Authorization") {
        op["security"] = json!([{ "bearer": [] }]);
    }
    op
}

/// The whole OpenAPI 3.0 document for this catalog.
pub fn document(endpoints: &[&Endpoint], catalog: &Catalog, server_url: &str) -> Value {
    let mut paths = Map::new();
    for e in endpoints {
        // Paths are relative to the server URL, which is the API root
        // (`.../api`), as OGC clients and conformance suites expect; routes
        // outside it (`/health`) say so with a server of their own.
        let (key, outside) = match e.path.strip_prefix("/api") {
            Some("") => ("/".to_owned(), false),
            Some(rest) => (rest.to_owned(), false),
            None => (e.path.to_owned(), true),
        };
        let entry = paths.entry(key).or_insert_with(|| json!({}));
        entry[e.method] = operation(e, &[]);
        if outside {
            entry["servers"] = json!([{ "url": server_url }]);
        }
    }
    // One concrete items path per collection, so its filters are declared
    // parameters (clients build forms from them; OGC recommends it).
    if let Some(items) = endpoints.iter().find(|e| e.operation_id == "getFeatures") {
        for l in &catalog.layers {
            let filters: Vec<Value> = l
                .layer
                .meta
                .queryable
                .iter()
                .map(|name| {
                    json!({
                        "name": name, "in": "query", "required": false,
                        "schema": {"type": "string"},
                        "description": format!("Only features whose {name} equals this value."),
                    })
                })
                .collect();
            let mut op = operation(items, &filters);
            op["operationId"] = json!(format!("getFeatures_{}", l.layer.meta.id));
            op["summary"] = json!(format!("Features of {}", l.layer.meta.title));
            if let Some(ps) = op["parameters"].as_array_mut() {
                ps.retain(|p| p["name"] != "collectionId");
            }
            paths.insert(
                format!("/collections/{}/items", l.layer.meta.id),
                json!({ "get": op }),
            );
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": format!("zoneatlas: {}", catalog.manifest.title),
            "description": "Infrastructure layers of a development zone over OGC API - Features \
                            (Part 1: Core, GeoJSON, OpenAPI 3.0), with coverage queries.",
            "version": env!("CARGO_PKG_VERSION"),
            "license": { "name": "MIT OR Apache-2.0" },
        },
        "servers": [ { "url": format!("{server_url}/api") } ],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `zoneatlas token add` (editor or admin to edit)."
                }
            },
            "schemas": {
                "Exception": {
                    "type": "object",
                    "required": ["code"],
                    "properties": {
                        "code": { "type": "string" },
                        "description": { "type": "string" }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_schema_text_is_json() {
        for e in super::super::endpoints() {
            for p in e.params {
                serde_json::from_str::<serde_json::Value>(p.schema)
                    .unwrap_or_else(|err| panic!("{} {}: {err}", e.path, p.name));
            }
            if let Some(b) = e.request_body {
                serde_json::from_str::<serde_json::Value>(b).expect("body schema");
            }
        }
    }
}

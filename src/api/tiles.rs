//! OGC API - Tiles over the collections: the WebMercatorQuad tile matrix
//! set, tileset lists and metadata (OGC tileset metadata and TileJSON 3.0
//! in one document), and Mapbox Vector Tiles per collection and for all of
//! them, rendered from the pinned snapshot by `tiles::render`.
//!
//! A tile honours `scenario`, `filter` (CQL2, as `/items`), `properties`
//! and `asof`; an empty tile is a 204. The ETag middleware keys every tile
//! by the snapshot's revision and the URL, so no cache serves a tile from
//! before an edit.

use axum::extract::RawQuery;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{json, Value};

use super::media::{JSON, MVT};
use super::openapi::{params as p, Endpoint, Param};
use super::params::{ApiPath, QueryPairs, READ_PARAMS};
use super::{base_url, find_layer, json_response, ApiError, Ctx};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::budget::{Deadline, Exceeded};
use crate::coverage::Scenario;
use crate::index::IndexedLayer;
use crate::tiles::{self, Properties, Source, TileId};

const TMS_ID: &str = "WebMercatorQuad";
const TMS_URI: &str = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad";
const EPSG_3857: &str = "http://www.opengis.net/def/crs/EPSG/0/3857";
/// The deepest level tilesets advertise (the matrix goes to 24).
const MAX_ZOOM_ADVERTISED: u8 = 22;

const TMS: Param = Param {
    name: "tileMatrixSetId",
    location: "path",
    required: true,
    schema: r#"{"type":"string","enum":["WebMercatorQuad"]}"#,
    description: "The tile matrix set; this server offers WebMercatorQuad.",
};
const TILE_MATRIX: Param = Param {
    name: "tileMatrix",
    location: "path",
    required: true,
    schema: r#"{"type":"integer","minimum":0,"maximum":24}"#,
    description: "Zoom level.",
};
const TILE_ROW: Param = Param {
    name: "tileRow",
    location: "path",
    required: true,
    schema: r#"{"type":"integer","minimum":0}"#,
    description: "Row, from the north (y).",
};
const TILE_COL: Param = Param {
    name: "tileCol",
    location: "path",
    required: true,
    schema: r#"{"type":"integer","minimum":0}"#,
    description: "Column, from the west (x).",
};
const SCENARIO: Param = Param {
    name: "scenario",
    location: "query",
    required: false,
    schema: r#"{"type":"string","enum":["current","planned"]}"#,
    description: "Only the features that count in this scenario (current: existing; planned: also under construction and planned). Without it, every feature.",
};
const PROPERTIES: Param = Param {
    name: "properties",
    location: "query",
    required: false,
    schema: r#"{"type":"array","items":{"type":"string"}}"#,
    description:
        "Comma-separated properties to put in the tile (the feature id always is); without it, all.",
};
const COLLECTIONS: Param = Param {
    name: "collections",
    location: "query",
    required: false,
    schema: r#"{"type":"array","items":{"type":"string"}}"#,
    description: "Comma-separated collections to include, one tile layer each; without it, all.",
};
const F_TILE: Param = Param {
    name: "f",
    location: "query",
    required: false,
    schema: r#"{"type":"string","enum":["mvt"]}"#,
    description: "Tile format; Mapbox Vector Tile is offered.",
};
const F_META: Param = Param {
    name: "f",
    location: "query",
    required: false,
    schema: r#"{"type":"string","enum":["json","tilejson"]}"#,
    description: "Metadata format: JSON (OGC tileset metadata, which is also TileJSON 3.0).",
};

const ERR_400: (u16, &str, &str) = (400, JSON, "A parameter is malformed or unknown");
const ERR_404: (u16, &str, &str) = (404, JSON, "No such collection, tile matrix set or tile");

pub const ENDPOINTS: &[Endpoint] = &[
    Endpoint {
        method: "get",
        path: "/api/tileMatrixSets",
        operation_id: "getTileMatrixSets",
        summary: "The tile matrix sets offered",
        tag: "Tiles",
        params: &[p::F],
        request_body: None,
        responses: &[(200, JSON, "The list"), ERR_400],
        route: || get(matrix_sets),
    },
    Endpoint {
        method: "get",
        path: "/api/tileMatrixSets/{tileMatrixSetId}",
        operation_id: "getTileMatrixSet",
        summary: "A tile matrix set's definition (OGC 2D TMS JSON)",
        tag: "Tiles",
        params: &[TMS, p::F],
        request_body: None,
        responses: &[(200, JSON, "The definition"), ERR_400, ERR_404],
        route: || get(matrix_set),
    },
    Endpoint {
        method: "get",
        path: "/api/tiles",
        operation_id: "getDatasetTilesets",
        summary: "Vector tilesets of all collections together",
        tag: "Tiles",
        params: &[p::F],
        request_body: None,
        responses: &[(200, JSON, "The tilesets"), ERR_400],
        route: || get(dataset_tilesets),
    },
    Endpoint {
        method: "get",
        path: "/api/tiles/{tileMatrixSetId}",
        operation_id: "getDatasetTileset",
        summary: "Tileset metadata (and TileJSON) of all collections together",
        tag: "Tiles",
        params: &[TMS, F_META, COLLECTIONS, SCENARIO, PROPERTIES, p::FILTER, p::FILTER_LANG, p::FILTER_CRS, p::ASOF, p::PROPOSAL],
        request_body: None,
        responses: &[(200, JSON, "The tileset"), ERR_400, ERR_404],
        route: || get(dataset_tileset),
    },
    Endpoint {
        method: "get",
        path: "/api/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
        operation_id: "getDatasetTile",
        summary: "A vector tile with one layer per collection",
        tag: "Tiles",
        params: &[TMS, TILE_MATRIX, TILE_ROW, TILE_COL, F_TILE, COLLECTIONS, SCENARIO, PROPERTIES, p::FILTER, p::FILTER_LANG, p::FILTER_CRS, p::ASOF, p::PROPOSAL],
        request_body: None,
        responses: &[(200, MVT, "The tile"), (204, MVT, "The tile is empty"), ERR_400, ERR_404],
        route: || get(dataset_tile),
    },
    Endpoint {
        method: "get",
        path: "/api/collections/{collectionId}/tiles",
        operation_id: "getCollectionTilesets",
        summary: "A collection's vector tilesets",
        tag: "Tiles",
        params: &[p::COLLECTION_ID, p::F],
        request_body: None,
        responses: &[(200, JSON, "The tilesets"), ERR_400, ERR_404],
        route: || get(collection_tilesets),
    },
    Endpoint {
        method: "get",
        path: "/api/collections/{collectionId}/tiles/{tileMatrixSetId}",
        operation_id: "getCollectionTileset",
        summary: "A collection's tileset metadata (and TileJSON)",
        tag: "Tiles",
        params: &[p::COLLECTION_ID, TMS, F_META, SCENARIO, PROPERTIES, p::FILTER, p::FILTER_LANG, p::FILTER_CRS, p::ASOF, p::PROPOSAL],
        request_body: None,
        responses: &[(200, JSON, "The tileset"), ERR_400, ERR_404],
        route: || get(collection_tileset),
    },
    Endpoint {
        method: "get",
        path: "/api/collections/{collectionId}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}",
        operation_id: "getCollectionTile",
        summary: "A collection's vector tile",
        tag: "Tiles",
        params: &[p::COLLECTION_ID, TMS, TILE_MATRIX, TILE_ROW, TILE_COL, F_TILE, SCENARIO, PROPERTIES, p::FILTER, p::FILTER_LANG, p::FILTER_CRS, p::ASOF, p::PROPOSAL],
        request_body: None,
        responses: &[(200, MVT, "The tile"), (204, MVT, "The tile is empty"), ERR_400, ERR_404],
        route: || get(collection_tile),
    },
];

/// What a tile takes besides `collections`.
const TILE_PARAMS: &[&str] = &[
    "f",
    "scenario",
    "properties",
    "filter",
    "filter-lang",
    "filter-crs",
];

fn known_tms(id: &str) -> Result<(), ApiError> {
    if id == TMS_ID {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "no tile matrix set {id:?}; this server offers WebMercatorQuad"
        )))
    }
}

fn meta_format(q: &QueryPairs) -> Result<(), ApiError> {
    match q.single("f")? {
        None | Some("json") | Some("tilejson") | Some("application/json") => Ok(()),
        Some(other) => Err(ApiError::bad_request(format!(
            "f: format {other:?} is not offered; use json"
        ))),
    }
}

async fn matrix_sets(
    s: Ctx,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    super::ogc::only_format(q.as_deref())?;
    let base = base_url(&s, &headers);
    let v = json!({
        "tileMatrixSets": [{
            "id": TMS_ID,
            "title": "Google Maps Compatible for the World",
            "uri": TMS_URI,
            "crs": EPSG_3857,
            "links": [{"rel": "self", "type": JSON, "href": format!("{base}/api/tileMatrixSets/{TMS_ID}")}],
        }]
    });
    Ok(json_response(JSON, bytes(&v)))
}

async fn matrix_set(
    ApiPath(id): ApiPath<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    super::ogc::only_format(q.as_deref())?;
    known_tms(&id)?;
    // OGC 17-083r4 Annex D, WebMercatorQuad.
    const ORIGIN: f64 = 20_037_508.342_789_244;
    const SCALE0: f64 = 559_082_264.028_717_2;
    let matrices: Vec<Value> = (0..=tiles::MAX_ZOOM)
        .map(|z| {
            let n = 1u64 << z;
            let scale = SCALE0 / n as f64;
            json!({
                "id": z.to_string(),
                "scaleDenominator": scale,
                "cellSize": scale * 0.28e-3,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-ORIGIN, ORIGIN],
                "tileWidth": 256,
                "tileHeight": 256,
                "matrixWidth": n,
                "matrixHeight": n,
            })
        })
        .collect();
    let v = json!({
        "id": TMS_ID,
        "title": "Google Maps Compatible for the World",
        "uri": TMS_URI,
        "crs": EPSG_3857,
        "orderedAxes": ["X", "Y"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "tileMatrices": matrices,
    });
    Ok(json_response(JSON, bytes(&v)))
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// A tileset list with one entry, the WebMercatorQuad tileset at `href`.
fn tileset_list(base: &str, href: &str, title: &str) -> Value {
    json!({
        "links": [{"rel": "self", "type": JSON, "href": href}],
        "tilesets": [{
            "title": title,
            "dataType": "vector",
            "crs": EPSG_3857,
            "tileMatrixSetURI": TMS_URI,
            "links": [
                {"rel": "self", "type": JSON, "href": format!("{href}/{TMS_ID}")},
                {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "type": JSON, "href": format!("{base}/api/tileMatrixSets/{TMS_ID}")},
            ],
        }],
    })
}

async fn dataset_tilesets(
    s: Ctx,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    super::ogc::only_format(q.as_deref())?;
    let base = base_url(&s, &headers);
    let v = tileset_list(
        &base,
        &format!("{base}/api/tiles"),
        &s.catalog.manifest.title,
    );
    Ok(json_response(JSON, bytes(&v)))
}

async fn collection_tilesets(
    s: Ctx,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    super::ogc::only_format(q.as_deref())?;
    let l = find_layer(&s.catalog, &id)?;
    let base = base_url(&s, &headers);
    let v = tileset_list(
        &base,
        &format!("{base}/api/collections/{id}/tiles"),
        &l.layer.meta.title,
    );
    Ok(json_response(JSON, bytes(&v)))
}

/// Tileset metadata: OGC's fields and TileJSON 3.0's in one document; the
/// tile URL templates carry the request's own parameters (a filter asked
/// for here is the filter of every tile).
fn tileset(base: &str, href: &str, q: &QueryPairs, title: &str, layers: &[&IndexedLayer]) -> Value {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &q.0 {
        if k != "f" {
            ser.append_pair(k, v);
        }
    }
    let query = ser.finish();
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    let extent = layers.iter().filter_map(|l| l.layer.extent).reduce(|a, b| {
        geo::Rect::new(
            geo::coord! {x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y)},
            geo::coord! {x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y)},
        )
    });
    let bounds = extent.map_or(json!([-180.0, -85.0511, 180.0, 85.0511]), |e| {
        json!([e.min().x, e.min().y, e.max().x, e.max().y])
    });
    let center = extent.map_or(json!([0.0, 0.0, 0]), |e| {
        json!([e.center().x, e.center().y, 12])
    });
    let vector_layers: Vec<Value> = layers
        .iter()
        .map(|l| {
            let fields: serde_json::Map<String, Value> =
                std::iter::once(("id".to_string(), json!("String")))
                    .chain(l.properties().0.iter().map(|(k, info)| {
                        let t = match info.kind {
                            crate::model::PropertyKind::Number => "Number",
                            crate::model::PropertyKind::Bool => "Boolean",
                            _ => "String",
                        };
                        (k.clone(), json!(t))
                    }))
                    .collect();
            json!({
                "id": l.layer.meta.id,
                "description": l.layer.meta.title,
                "fields": fields,
                "minzoom": 0,
                "maxzoom": MAX_ZOOM_ADVERTISED,
                "geometry_type": l.layer.meta.geometry.name(),
            })
        })
        .collect();
    let ogc_layers: Vec<Value> = layers
        .iter()
        .map(|l| {
            json!({
                "id": l.layer.meta.id,
                "title": l.layer.meta.title,
                "dataType": "vector",
                "geometryDimension": match l.layer.meta.geometry {
                    crate::model::GeometryKind::Point => 0,
                    crate::model::GeometryKind::LineString => 1,
                    crate::model::GeometryKind::Polygon => 2,
                },
                "links": [{"rel": "collection", "type": JSON, "href": format!("{base}/api/collections/{}", l.layer.meta.id)}],
            })
        })
        .collect();
    json!({
        "title": title,
        "dataType": "vector",
        "crs": EPSG_3857,
        "tileMatrixSetURI": TMS_URI,
        "links": [
            {"rel": "self", "type": JSON, "href": format!("{href}{query}")},
            {"rel": "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme", "type": JSON, "href": format!("{base}/api/tileMatrixSets/{TMS_ID}")},
            {"rel": "item", "type": MVT, "templated": true, "href": format!("{href}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}{query}")},
        ],
        "layers": ogc_layers,
        "tilejson": "3.0.0",
        "name": title,
        "scheme": "xyz",
        "tiles": [format!("{href}/{{z}}/{{y}}/{{x}}{query}")],
        "minzoom": 0,
        "maxzoom": MAX_ZOOM_ADVERTISED,
        "bounds": bounds,
        "center": center,
        "vector_layers": vector_layers,
    })
}

async fn collection_tileset(
    s: Ctx,
    headers: HeaderMap,
    ApiPath((id, tms)): ApiPath<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = QueryPairs::parse(raw.as_deref());
    q.reject_unknown_read(TILE_PARAMS)?;
    meta_format(&q)?;
    known_tms(&tms)?;
    let l = find_layer(&s.catalog, &id)?;
    // Check the parameters now, not at the first tile.
    Request::parse(&s, &q, false)?.sources_for(&[l])?;
    let base = base_url(&s, &headers);
    let href = format!("{base}/api/collections/{id}/tiles/{TMS_ID}");
    let v = tileset(&base, &href, &q, &l.layer.meta.title, &[l]);
    Ok(json_response(JSON, bytes(&v)))
}

async fn dataset_tileset(
    s: Ctx,
    headers: HeaderMap,
    ApiPath(tms): ApiPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = QueryPairs::parse(raw.as_deref());
    let mut known: Vec<&str> = TILE_PARAMS.iter().chain(READ_PARAMS).copied().collect();
    known.push("collections");
    q.reject_unknown(&known)?;
    meta_format(&q)?;
    known_tms(&tms)?;
    let r = Request::parse(&s, &q, true)?;
    let layers = r.layers(&s)?;
    r.sources_for(&layers)?;
    let base = base_url(&s, &headers);
    let href = format!("{base}/api/tiles/{TMS_ID}");
    let v = tileset(&base, &href, &q, &s.catalog.manifest.title, &layers);
    Ok(json_response(JSON, bytes(&v)))
}

/// A tile request's parameters, parsed.
struct Request {
    scenario: Option<Scenario>,
    properties: Properties,
    filter: Option<super::filter::Requested>,
    collections: Option<Vec<String>>,
}

/// One collection's part of a tile: the layer and its compiled filter.
struct Part<'a> {
    layer: &'a IndexedLayer,
    filter: Option<crate::cql2::Filter>,
}

impl Request {
    fn parse(s: &Ctx, q: &QueryPairs, dataset: bool) -> Result<Request, ApiError> {
        let scenario = super::coverage::scenario_given(q)?;
        if scenario.is_some() && s.catalog.coverage.is_none() {
            return Err(ApiError::bad_request(
                "scenario: this data has no coverage.toml, so no scenarios",
            ));
        }
        let list = |name: &str| -> Result<Option<Vec<String>>, ApiError> {
            Ok(q.single(name)?.map(|v| {
                v.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            }))
        };
        let properties = match list("properties")? {
            None => Properties::All,
            Some(names) if names.iter().any(|n| n == "*") => Properties::All,
            Some(names) => Properties::Only(names),
        };
        let collections = if dataset { list("collections")? } else { None };
        Ok(Request {
            scenario,
            properties,
            filter: super::filter::requested(q)?,
            collections,
        })
    }

    /// The collections a dataset tile covers.
    fn layers<'a>(&self, s: &'a Ctx) -> Result<Vec<&'a IndexedLayer>, ApiError> {
        match &self.collections {
            None => Ok(s.catalog.layers.iter().map(|l| &**l).collect()),
            Some(ids) => ids.iter().map(|id| find_layer(&s.catalog, id)).collect(),
        }
    }

    /// Each collection with its filter compiled. In a many-collection
    /// tile, a collection lacking a property the filter names matches
    /// nothing (its features lack it); the filter is an error only if no
    /// collection has it, or for any other problem.
    fn sources_for<'a>(&self, layers: &[&'a IndexedLayer]) -> Result<Vec<Part<'a>>, ApiError> {
        // A property no collection has is a mistake, named as such.
        if let (Some(r), true) = (&self.filter, layers.len() > 1) {
            for (name, loc) in r.expr.properties() {
                if name != "geometry" && layers.iter().all(|l| l.properties().get(name).is_none()) {
                    let mut e = ApiError::bad_request(format!(
                        "filter {loc}: no collection here has a property {name:?} (see their queryables)"
                    ));
                    e.code = "UnknownProperty";
                    return Err(e);
                }
            }
        }
        let mut out = Vec::with_capacity(layers.len());
        let mut first_unknown = None;
        for l in layers {
            let filter = match &self.filter {
                None => None,
                Some(r) => match r.compile(l) {
                    Ok(f) => Some(f),
                    Err(e) if e.unknown_property && layers.len() > 1 => {
                        first_unknown.get_or_insert((l.layer.meta.id.clone(), e));
                        continue;
                    }
                    Err(e) => return Err(super::filter::bad(&l.layer.meta.id, e)),
                },
            };
            out.push(Part { layer: l, filter });
        }
        if out.is_empty() {
            if let Some((id, e)) = first_unknown {
                return Err(super::filter::bad(&id, e));
            }
        }
        Ok(out)
    }
}

fn tile_id(z: &str, y: &str, x: &str) -> Result<TileId, ApiError> {
    let num = |name: &str, v: &str| -> Result<u32, ApiError> {
        v.parse::<u32>()
            .map_err(|_| ApiError::bad_request(format!("{name} {v:?} is not a whole number")))
    };
    let (z, y, x) = (
        num("tileMatrix", z)?,
        num("tileRow", y)?,
        num("tileCol", x)?,
    );
    TileId::new(z, x, y).map_err(ApiError::not_found)
}

fn tile_format(q: &QueryPairs) -> Result<(), ApiError> {
    match q.single("f")? {
        None | Some("mvt") | Some("application/vnd.mapbox-vector-tile") => Ok(()),
        Some(other) => Err(ApiError::bad_request(format!(
            "f: format {other:?} is not offered for tiles; use mvt"
        ))),
    }
}

/// Tiles at this zoom and deeper are rendered on the request's own thread.
const INLINE_FROM_ZOOM: u8 = 12;

/// Which features of a collection a tile takes.
type Keep<'a> = dyn Fn(&crate::model::Feature) -> bool + Sync + 'a;

/// Render the tile; answer 204 when it is empty.
async fn render(
    s: &Ctx,
    r: Request,
    tile: TileId,
    layers: Vec<String>,
) -> Result<Response, ApiError> {
    let catalog = std::sync::Arc::clone(&s.catalog);
    let filtered = r.filter.is_some();
    let work = move |deadline: Deadline| -> Result<Result<Vec<u8>, ApiError>, Exceeded> {
        let found: Vec<&IndexedLayer> = layers.iter().filter_map(|id| catalog.layer(id)).collect();
        let parts = match r.sources_for(&found) {
            Ok(p) => p,
            Err(e) => return Ok(Err(e)),
        };
        let rules = catalog.coverage.as_ref().map(|c| &c.rules.scenarios);
        // The deadline is checked every 256 features; once past it, every
        // feature is refused, so the render ends at once.
        let seen = AtomicUsize::new(0);
        let late = AtomicBool::new(false);
        let on_time = || {
            if seen.fetch_add(1, Ordering::Relaxed).is_multiple_of(256) && deadline.check().is_err()
            {
                late.store(true, Ordering::Relaxed);
            }
            !late.load(Ordering::Relaxed)
        };
        let keeps: Vec<Box<Keep<'_>>> = parts
            .iter()
            .map(|part| {
                let filter = part.filter.clone();
                let scenario = r.scenario;
                let on_time = &on_time;
                let keep = move |f: &crate::model::Feature| {
                    on_time()
                        && scenario.is_none_or(|sc| rules.is_none_or(|x| x.counts(f, sc)))
                        && filter.as_ref().is_none_or(|x| x.matches(f))
                };
                Box::new(keep) as Box<Keep<'_>>
            })
            .collect();
        let sources: Vec<Source> = parts
            .iter()
            .zip(&keeps)
            .map(|(part, keep)| Source {
                layer: part.layer,
                keep: &**keep,
                within: part.filter.as_ref().and_then(|f| f.envelope()),
                properties: &r.properties,
            })
            .collect();
        let bytes = tiles::render(tile, &sources);
        deadline.check()?;
        if late.load(Ordering::Relaxed) {
            return Err(Exceeded {
                allowed: deadline.allowed(),
            });
        }
        Ok(Ok(bytes))
    };
    // A street-level tile without a filter is a fraction of a millisecond:
    // rendered in place. A low-zoom one over a city (tens of milliseconds)
    // or a filtered one (a spatial relation per feature) goes to the
    // bounded pool under the compute deadline (503 past it).
    let body = if tile.z >= INLINE_FROM_ZOOM && !filtered {
        work(Deadline::none()).map_err(|e| ApiError::internal(e.to_string()))??
    } else {
        s.compute.run(work).await??
    };
    if body.is_empty() {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    // Revalidate every time: the ETag (revision and URL) makes that a 304
    // until an edit lands, and never a stale tile after one.
    Ok((
        [
            (header::CONTENT_TYPE, MVT),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}

async fn collection_tile(
    s: Ctx,
    ApiPath((id, tms, z, y, x)): ApiPath<(String, String, String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = QueryPairs::parse(raw.as_deref());
    q.reject_unknown_read(TILE_PARAMS)?;
    tile_format(&q)?;
    known_tms(&tms)?;
    find_layer(&s.catalog, &id)?;
    let tile = tile_id(&z, &y, &x)?;
    let r = Request::parse(&s, &q, false)?;
    render(&s, r, tile, vec![id]).await
}

async fn dataset_tile(
    s: Ctx,
    ApiPath((tms, z, y, x)): ApiPath<(String, String, String, String)>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = QueryPairs::parse(raw.as_deref());
    let mut known: Vec<&str> = TILE_PARAMS.iter().chain(READ_PARAMS).copied().collect();
    known.push("collections");
    q.reject_unknown(&known)?;
    tile_format(&q)?;
    known_tms(&tms)?;
    let tile = tile_id(&z, &y, &x)?;
    let r = Request::parse(&s, &q, true)?;
    let ids: Vec<String> = r
        .layers(&s)?
        .iter()
        .map(|l| l.layer.meta.id.clone())
        .collect();
    render(&s, r, tile, ids).await
}

//! Features and geometries that do not come from a data file: what clients
//! send (a feature to store, a patch's geometry, a polygon to ask about),
//! checked within the sweep budget, and what the change log holds.

use geo::Geometry;
use serde::Deserialize;
use serde_json::Value;

use super::geojson::{checked, Ids};
use super::geometry::{build_geometry, build_geometry_unchecked, polygons_in};
use super::raw::{Budget, RawFeature, RawGeometry};
use super::validity::{polygon_problem, SweepProblem, MAX_SWEEP_PAIRS};
use crate::model::{Feature, GeometryKind, LayerMeta};

/// A client's GeoJSON Feature for a layer, checked as layer data is (the
/// layer's geometry kind, valid coordinates and rings, required
/// properties) and within the sweep budget. Its id is optional (`""` when
/// absent: the server assigns one). Problems come one per line.
pub fn feature_from_client(v: &Value, meta: &LayerMeta) -> Result<Feature, Vec<String>> {
    refuse_z(v.get("geometry").and_then(|g| g.get("coordinates"))).map_err(|e| vec![e])?;
    let raw = RawFeature::deserialize(v)
        .map_err(|e| vec![format!("not a valid GeoJSON feature: {e}")])?;
    checked(raw, meta, Budget::Client, Ids::Optional)
}

/// Features are stored in two dimensions: a position with a third number
/// (a height) sent to be stored is refused rather than silently flattened.
fn refuse_z(coordinates: Option<&Value>) -> Result<(), String> {
    fn walk(v: &Value, depth: usize) -> bool {
        match v {
            Value::Array(items) if items.first().is_some_and(Value::is_number) => items.len() > 2,
            Value::Array(items) if depth < 4 => items.iter().any(|i| walk(i, depth + 1)),
            _ => false,
        }
    }
    match coordinates.is_some_and(|c| walk(c, 0)) {
        true => Err(
            "a position has a third number (a height); features are stored in 2D (lon, lat): send two numbers per position"
                .into(),
        ),
        false => Ok(()),
    }
}

/// A feature as another writer stored it (the change log: another server,
/// QGIS, SQL), checked as data files are: an id required, no budget.
pub fn feature_from_geojson(v: &Value, meta: &LayerMeta) -> Result<Feature, Vec<String>> {
    let raw = RawFeature::deserialize(v)
        .map_err(|e| vec![format!("not a valid GeoJSON feature: {e}")])?;
    checked(raw, meta, Budget::Files, Ids::Required)
}

/// A client's GeoJSON geometry for a layer of `kind` (a patch's), checked
/// within the sweep budget.
pub fn geometry_from_client(v: &Value, kind: GeometryKind) -> Result<Geometry, String> {
    refuse_z(v.get("coordinates"))?;
    let raw = RawGeometry::deserialize(v).map_err(|e| format!("not a GeoJSON geometry: {e}"))?;
    build_geometry(raw, kind, Budget::Client)
}

/// Why a client's polygon was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientPolygonError {
    /// Not a valid GeoJSON polygon (the message says why).
    #[error("{0}")]
    Invalid(String),
    /// Valid or not, too costly to validate.
    #[error("{0}")]
    TooComplex(String),
}

/// A client's polygon (a GeoJSON Polygon, MultiPolygon, or a Feature holding
/// one), validated as strictly as layer data: finite in-range coordinates,
/// closed non-degenerate rings, no self-intersection; within the sweep budget.
pub fn polygon_from_geojson(v: Value) -> Result<Geometry, ClientPolygonError> {
    use ClientPolygonError::Invalid;
    let geometry = match v.get("type").and_then(Value::as_str) {
        Some("Feature") => v.get("geometry").cloned().unwrap_or(Value::Null),
        Some(_) => v,
        None => return Err(Invalid("not GeoJSON: no \"type\" member".into())),
    };
    if geometry.is_null() {
        return Err(Invalid("the Feature has no geometry".into()));
    }
    let raw: RawGeometry = serde_json::from_value(geometry)
        .map_err(|e| Invalid(format!("not a GeoJSON geometry: {e}")))?;
    let geometry = build_geometry_unchecked(raw, GeometryKind::Polygon).map_err(Invalid)?;
    if let Some(p) = polygon_problem(polygons_in(&geometry), Some(MAX_SWEEP_PAIRS)) {
        return Err(match p {
            SweepProblem::TooComplex(m) => ClientPolygonError::TooComplex(m),
            SweepProblem::Invalid(m) => Invalid(format!("invalid polygon: {m}")),
        });
    }
    Ok(geometry)
}

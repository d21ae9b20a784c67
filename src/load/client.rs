//! What clients send: a feature to store (checked as layer data is) and a
//! polygon to ask about (checked within the sweep budget).

use std::path::Path;
use std::sync::Arc;

use geo::Geometry;
use serde_json::Value;

use super::geojson::{parse_layer, RawGeometry};
use super::geometry::{build_geometry_unchecked, polygons_in};
use super::validity::{polygon_problem, SweepProblem, MAX_SWEEP_PAIRS};
use crate::model::{Feature, GeometryKind, LayerMeta};

/// One client feature (a GeoJSON Feature object) validated as layer data
/// is: the layer's geometry kind, valid coordinates and rings, an id,
/// required properties. Problems come one per line, without a file name.
pub fn feature_from_geojson(v: &Value, meta: &LayerMeta) -> Result<Feature, Vec<String>> {
    let wrapped = serde_json::json!({"type": "FeatureCollection", "features": [v]});
    let bytes = serde_json::to_vec(&wrapped).map_err(|e| vec![e.to_string()])?;
    match parse_layer(Path::new("body"), &bytes, meta.clone()) {
        Ok(mut layer) => layer
            .features
            .pop()
            .map(Arc::unwrap_or_clone)
            .ok_or_else(|| vec!["no feature".to_owned()]),
        Err(problems) => Err(problems.into_iter().map(|p| p.message).collect()),
    }
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

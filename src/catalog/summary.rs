//! A layer's headline figures, as `zoneatlas check` and the start-up log
//! print them: features by geometry type, extent, length or area.

use std::collections::BTreeMap;
use std::fmt;

use geo::{Geometry, Rect};

use crate::geodesy;
use crate::index::IndexedLayer;

/// A layer's headline figures.
#[derive(Debug, Clone)]
pub struct LayerSummary {
    pub id: String,
    pub features: usize,
    /// GeoJSON geometry type -> count.
    pub geometry_types: BTreeMap<&'static str, usize>,
    pub extent: Option<Rect>,
    /// Total length of lines, in km (lines only).
    pub length_km: Option<f64>,
    /// Total area of polygons, in km² (polygons only).
    pub area_km2: Option<f64>,
}

impl fmt::Display for LayerSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let types: Vec<String> = self
            .geometry_types
            .iter()
            .map(|(t, n)| format!("{n} {t}"))
            .collect();
        write!(
            f,
            "{:<14} {:>7} features  [{}]",
            self.id,
            self.features,
            types.join(", ")
        )?;
        if let Some(km) = self.length_km {
            write!(f, "  {km:.3} km")?;
        }
        if let Some(km2) = self.area_km2 {
            write!(f, "  {km2:.3} km²")?;
        }
        if let Some(e) = self.extent {
            write!(
                f,
                "  bbox {:.5},{:.5},{:.5},{:.5}",
                e.min().x,
                e.min().y,
                e.max().x,
                e.max().y
            )?;
        }
        Ok(())
    }
}

pub(super) fn summarise(l: &IndexedLayer) -> LayerSummary {
    let mut geometry_types = BTreeMap::new();
    let (mut length, mut area) = (0.0, 0.0);
    for f in l.layer.features.live() {
        let name = match &f.geometry {
            Geometry::Point(_) => "Point",
            Geometry::MultiPoint(_) => "MultiPoint",
            Geometry::LineString(ls) => {
                length += geodesy::length_m(&ls.0);
                "LineString"
            }
            Geometry::MultiLineString(m) => {
                length += m.0.iter().map(|ls| geodesy::length_m(&ls.0)).sum::<f64>();
                "MultiLineString"
            }
            Geometry::Polygon(p) => {
                area += geodesy::polygon_area_m2(p);
                "Polygon"
            }
            Geometry::MultiPolygon(m) => {
                area += m.0.iter().map(geodesy::polygon_area_m2).sum::<f64>();
                "MultiPolygon"
            }
            _ => "other",
        };
        *geometry_types.entry(name).or_insert(0) += 1;
    }
    use crate::model::GeometryKind::*;
    LayerSummary {
        id: l.layer.meta.id.clone(),
        features: l.layer.features.count(),
        geometry_types,
        extent: l.layer.extent,
        length_km: (l.layer.meta.geometry == LineString).then_some(length / 1000.0),
        area_km2: (l.layer.meta.geometry == Polygon).then_some(area / 1e6),
    }
}

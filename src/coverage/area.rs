//! Areas within reach, in metres: buffers, unions and intersections computed
//! in a local metric projection (`geodesy::LocalProjection`) with geo's
//! i_overlay-based boolean operations.
//!
//! Round caps and joins use 0.05 rad steps (126 segments a circle), so a
//! buffer is an inscribed polygon at most 0.03% short of the true radius.
//!
//! Must not: know about layers, scenarios or HTTP.

use geo::algorithm::buffer::{BufferStyle, LineCap, LineJoin};
use geo::{
    Area, BooleanOps, BoundingRect, Buffer, Coord, Distance, Euclidean, Geometry, MapCoords,
    MultiPolygon, Polygon,
};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use crate::geodesy::LocalProjection;

const ARC_STEP_RAD: f64 = 0.05;

fn style(r: f64) -> BufferStyle<f64> {
    BufferStyle::new(r)
        .line_join(LineJoin::Round(ARC_STEP_RAD))
        .line_cap(LineCap::Round(ARC_STEP_RAD))
}

/// A lon/lat geometry in projected metres.
pub fn to_metric(g: &Geometry, proj: &LocalProjection) -> Geometry {
    g.map_coords(|c| {
        let [x, y] = proj.to_xy(c);
        Coord { x, y }
    })
}

/// Lon/lat polygons in projected metres.
pub fn to_metric_mp(mp: &MultiPolygon, proj: &LocalProjection) -> MultiPolygon {
    mp.map_coords(|c| {
        let [x, y] = proj.to_xy(c);
        Coord { x, y }
    })
}

/// Projected polygons back to lon/lat.
pub fn to_lonlat(mp: &MultiPolygon, proj: &LocalProjection) -> MultiPolygon {
    mp.map_coords(|c| proj.to_lonlat([c.x, c.y]))
}

/// The area within `r` metres of a projected geometry.
pub fn buffer(g: &Geometry, r: f64) -> MultiPolygon {
    g.buffer_with_style(style(r))
}

/// Union of polygons (empty input gives an empty result).
pub fn union_all(parts: &[MultiPolygon]) -> MultiPolygon {
    let polys: Vec<&Polygon> = parts.iter().flat_map(|m| m.0.iter()).collect();
    if polys.is_empty() {
        return MultiPolygon::new(vec![]);
    }
    geo::unary_union(polys)
}

/// Area in m² of a projected (multi)polygon.
pub fn area_m2(mp: &MultiPolygon) -> f64 {
    mp.unsigned_area()
}

/// `a ∩ b`.
pub fn intersection(a: &MultiPolygon, b: &MultiPolygon) -> MultiPolygon {
    a.intersection(b)
}

/// `a − b`.
pub fn difference(a: &MultiPolygon, b: &MultiPolygon) -> MultiPolygon {
    a.difference(b)
}

/// The parts of a metric (multi)polygon indexed by extent, so the distance
/// from many assets to one parcel visits only the parts near each asset
/// rather than every part (a 5,000-part parcel against hundreds of assets).
pub struct Parts<'a> {
    parts: &'a [Polygon],
    tree: RTree<GeomWithData<Rectangle<[f64; 2]>, usize>>,
}

impl<'a> Parts<'a> {
    /// Index the parts of `mp`.
    pub fn new(mp: &'a MultiPolygon) -> Self {
        let boxes =
            mp.0.iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    let b = p.bounding_rect()?;
                    Some(GeomWithData::new(
                        Rectangle::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]),
                        i,
                    ))
                })
                .collect();
        Parts {
            parts: &mp.0,
            tree: RTree::bulk_load(boxes),
        }
    }

    /// Metres from `g` to the nearest part whose extent lies within `limit`
    /// of `g`'s extent; `None` when no part does (then `g` is farther than
    /// `limit` from every part).
    pub fn distance_within(&self, g: &Geometry, limit: f64) -> Option<f64> {
        let b = g.bounding_rect()?;
        let window = AABB::from_corners(
            [b.min().x - limit, b.min().y - limit],
            [b.max().x + limit, b.max().y + limit],
        );
        self.tree
            .locate_in_envelope_intersecting(&window)
            .map(|part| Euclidean.distance(g, &self.parts[part.data]))
            .min_by(f64::total_cmp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{point, wkt};

    #[test]
    fn a_buffered_point_is_a_circle_to_within_a_thousandth() {
        let c = buffer(&Geometry::Point(point!(x: 0.0, y: 0.0)), 100.0);
        let exact = std::f64::consts::PI * 100.0 * 100.0;
        assert!((area_m2(&c) - exact).abs() / exact < 1e-3);
    }

    #[test]
    fn a_buffered_segment_is_a_stadium() {
        let g = Geometry::LineString(wkt!(LINESTRING(0. 0., 1000. 0.)));
        let exact = 1000.0 * 200.0 + std::f64::consts::PI * 100.0 * 100.0;
        let got = area_m2(&buffer(&g, 100.0));
        assert!((got - exact).abs() / exact < 1e-3, "{got} vs {exact}");
    }
}

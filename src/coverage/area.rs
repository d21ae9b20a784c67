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
    orient::Direction, Area, BooleanOps, BoundingRect, Buffer, Coord, Distance, Euclidean,
    Geometry, LineString, MapCoords, MultiPolygon, Orient, Polygon,
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

/// The area within `r` metres of any of the projected geometries: the
/// buffer of each, united once. A single segment's buffer is its capsule,
/// drawn here (two half circles at the stroke's arc step, the same
/// inscribed polygon): a stroke is an overlay of its own, and a city's
/// roads between junctions are mostly single segments (a sixth less time
/// on a zone cell of 4,000 of them). A stroke of all lines at once would
/// be cheaper still, but i_overlay 4.5.2 loops in it on some dense mains
/// until memory runs out.
pub fn buffer_all(gs: &[Geometry], r: f64) -> MultiPolygon {
    let parts: Vec<MultiPolygon> = gs
        .iter()
        .map(|g| match one_segment(g) {
            Some((a, b)) if r > 0.0 => capsule(a, b, r),
            _ => buffer(g, r),
        })
        // `union_all` takes its fill rule from the first ring's winding:
        // every part wound the same way.
        .map(|m| m.orient(Direction::Default))
        .collect();
    union_all(&parts)
}

/// The ends of a geometry that is one segment.
fn one_segment(g: &Geometry) -> Option<(Coord, Coord)> {
    match g {
        Geometry::Line(l) => Some((l.start, l.end)),
        Geometry::LineString(l) if l.0.len() == 2 => Some((l.0[0], l.0[1])),
        // A line cut to the part near a zone cell (`zone::near_window`).
        Geometry::MultiLineString(m) if m.0.len() == 1 && m.0[0].0.len() == 2 => {
            Some((m.0[0].0[0], m.0[0].0[1]))
        }
        _ => None,
    }
}

/// The points within `r` of the segment `a`-`b`, as an inscribed polygon:
/// each end's half circle in steps of at most `ARC_STEP_RAD`.
fn capsule(a: Coord, b: Coord, r: f64) -> MultiPolygon {
    use std::f64::consts::PI;
    let steps = (PI / ARC_STEP_RAD).ceil() as usize;
    let along = (b.y - a.y).atan2(b.x - a.x);
    let mut ring = Vec::with_capacity(2 * steps + 3);
    for (centre, from) in [(b, along - PI / 2.0), (a, along + PI / 2.0)] {
        for k in 0..=steps {
            let t = from + PI * k as f64 / steps as f64;
            ring.push(Coord {
                x: centre.x + r * t.cos(),
                y: centre.y + r * t.sin(),
            });
        }
    }
    ring.push(ring[0]);
    MultiPolygon(vec![Polygon::new(LineString(ring), vec![])])
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

    /// Capsules drawn here and geo's strokes give the same area, at every
    /// direction, for a zero-length segment (a circle) and mixed in with
    /// longer lines, points and polygons.
    #[test]
    fn buffering_all_gives_the_union_of_geos_buffers() {
        let mut gs: Vec<Geometry> = (0..12)
            .map(|k| {
                let t = k as f64 * 0.55;
                let (x, y) = (k as f64 * 90.0, (k % 3) as f64 * 70.0);
                Geometry::LineString(LineString(vec![
                    Coord { x, y },
                    Coord {
                        x: x + 150.0 * t.cos(),
                        y: y + 150.0 * t.sin(),
                    },
                ]))
            })
            .collect();
        gs.push(Geometry::Line(geo::Line::new((3000., 0.), (3000., 0.))));
        gs.push(Geometry::LineString(
            wkt!(LINESTRING(0. 900., 500. 900., 500. 1300.)),
        ));
        gs.push(Geometry::Point(point!(x: -300.0, y: 0.0)));
        gs.push(Geometry::Polygon(
            wkt!(POLYGON((0. 2000., 200. 2000., 200. 2200., 0. 2000.))),
        ));
        let each: Vec<MultiPolygon> = gs.iter().map(|g| buffer(g, 60.0)).collect();
        let want = area_m2(&union_all(&each));
        let got = area_m2(&buffer_all(&gs, 60.0));
        // Both inscribed polygons, their vertices placed differently.
        assert!((got - want).abs() / want < 1e-4, "{got} vs {want}");
        let circle = std::f64::consts::PI * 60.0 * 60.0;
        let alone = area_m2(&buffer_all(&gs[12..13], 60.0));
        assert!(
            (alone - circle).abs() / circle < 1e-3,
            "{alone} vs {circle}"
        );
    }

    #[test]
    fn a_buffered_segment_is_a_stadium() {
        let g = Geometry::LineString(wkt!(LINESTRING(0. 0., 1000. 0.)));
        let exact = 1000.0 * 200.0 + std::f64::consts::PI * 100.0 * 100.0;
        let got = area_m2(&buffer(&g, 100.0));
        assert!((got - exact).abs() / exact < 1e-3, "{got} vs {exact}");
    }
}

//! Metres on the WGS84 ellipsoid without leaving longitude/latitude storage.
//!
//! Everything zoneatlas stores and serves is WGS84 longitude/latitude (RFC 7946);
//! everything it measures is in metres. This module is the only bridge between
//! the two. It uses a *local equirectangular projection* whose scale factors are
//! the ellipsoid's prime-vertical and meridional radii at a reference latitude
//! (the "cheap ruler" of Mapbox). At a development zone's scale (tens of km)
//! that is within 0.01% of Karney's geodesic distance when the ruler is taken at
//! the mid-latitude of the two points, and within `slack` (a bound we compute)
//! when a single ruler is used for a whole layer. The unit tests check both
//! against `geo::Geodesic` (Karney, via geographiclib).
//!
//! Must not: do I/O, know about layers or HTTP.

use geo::{Coord, Rect};

/// WGS84 semi-major axis in metres.
const WGS84_A: f64 = 6_378_137.0;
/// WGS84 flattening.
const WGS84_F: f64 = 1.0 / 298.257_223_563;

/// Widest extent (metres, east-west or north-south) measured in one local
/// projection. Within it the projection's scale error at the edges is at most
/// tan(lat) x 25 km / R: 0.27% at 35 deg N, 0.7% at 60 deg N, so a 100 m
/// reach is drawn 0.3 m short or long at worst, and areas stay within 0.1%
/// of Karney's (tested). Larger parcels are refused rather than measured wrong.
pub const MAX_EXTENT_M: f64 = 50_000.0;

/// Metres per degree of longitude (`kx`) and latitude (`ky`) at a latitude.
///
/// ```
/// let (kx, ky) = zoneatlas::geodesy::metres_per_degree(0.0);
/// assert!((kx - 111_319.49).abs() < 0.01);
/// assert!((ky - 110_574.28).abs() < 0.01);
/// ```
pub fn metres_per_degree(lat_deg: f64) -> (f64, f64) {
    let e2 = WGS84_F * (2.0 - WGS84_F);
    let s = lat_deg.to_radians().sin();
    let w2 = 1.0 / (1.0 - e2 * s * s);
    let w = w2.sqrt();
    let rad = std::f64::consts::PI / 180.0;
    // Prime-vertical radius N = a*w, meridional radius M = a*w^3*(1-e2).
    let kx = WGS84_A * w * lat_deg.to_radians().cos() * rad;
    let ky = WGS84_A * w * w2 * (1.0 - e2) * rad;
    (kx, ky)
}

/// A lon/lat box grown by at least `d` metres on every side, 1% over:
/// degrees of longitude measured where they are shortest in the grown box
/// (its pole-most latitude), degrees of latitude where they are shortest
/// (its equator-most). The one way the code turns a distance into a search
/// window.
///
/// ```
/// use geo::{coord, Rect};
/// let r = Rect::new(coord! {x: 113.5, y: 34.7}, coord! {x: 113.6, y: 34.8});
/// let g = zoneatlas::geodesy::grow_box_m(r, 1000.0);
/// let west = zoneatlas::geodesy::distance_m(coord! {x: g.min().x, y: 34.8}, coord! {x: 113.5, y: 34.8});
/// assert!(west >= 1000.0 && west < 1011.0);
/// ```
pub fn grow_box_m(r: Rect, d: f64) -> Rect {
    let d = d.max(0.0) * 1.01;
    let (lo, hi) = (r.min().y.abs(), r.max().y.abs());
    let straddles = r.min().y < 0.0 && r.max().y > 0.0;
    let poleward = (lo.max(hi) + d / 100_000.0).min(89.9);
    let equatorward = if straddles { 0.0 } else { lo.min(hi) };
    let kx = metres_per_degree(poleward).0;
    let ky = metres_per_degree(equatorward).1;
    let (dx, dy) = (d / kx + 1e-9, d / ky + 1e-9);
    Rect::new(
        Coord {
            x: r.min().x - dx,
            y: r.min().y - dy,
        },
        Coord {
            x: r.max().x + dx,
            y: r.max().y + dy,
        },
    )
}

/// Distance in metres between two lon/lat points, with the ruler taken at their
/// mid-latitude. Within 0.01% of the geodesic distance below ~50 km.
///
/// ```
/// use geo::coord;
/// let d = zoneatlas::geodesy::distance_m(coord! {x: 113.52, y: 34.70}, coord! {x: 113.53, y: 34.70});
/// assert!((d - 915.9).abs() < 1.0);
/// ```
pub fn distance_m(a: Coord, b: Coord) -> f64 {
    let (kx, ky) = metres_per_degree((a.y + b.y) / 2.0);
    let dx = wrap_lon(b.x - a.x) * kx;
    let dy = (b.y - a.y) * ky;
    dx.hypot(dy)
}

/// Length in metres of a polyline given as lon/lat coordinates.
pub fn length_m(coords: &[Coord]) -> f64 {
    coords.windows(2).map(|w| distance_m(w[0], w[1])).sum()
}

fn wrap_lon(d: f64) -> f64 {
    if d > 180.0 {
        d - 360.0
    } else if d < -180.0 {
        d + 360.0
    } else {
        d
    }
}

/// A local equirectangular projection: lon/lat degrees to x/y metres around an
/// origin. Linear, so straight segments stay straight and inverting is exact.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LocalProjection {
    origin: Coord,
    kx: f64,
    ky: f64,
}

impl LocalProjection {
    /// A projection centred on `origin` (lon/lat degrees).
    pub fn new(origin: Coord) -> Self {
        let (kx, ky) = metres_per_degree(origin.y);
        LocalProjection { origin, kx, ky }
    }

    /// lon/lat degrees to metres east/north of the origin.
    pub fn to_xy(&self, c: Coord) -> [f64; 2] {
        [
            wrap_lon(c.x - self.origin.x) * self.kx,
            (c.y - self.origin.y) * self.ky,
        ]
    }

    /// Metres east/north of the origin back to lon/lat degrees.
    pub fn to_lonlat(&self, p: [f64; 2]) -> Coord {
        Coord {
            x: self.origin.x + p[0] / self.kx,
            y: self.origin.y + p[1] / self.ky,
        }
    }

    /// The longitudes within 180° of the origin's, where `to_xy` does not
    /// wrap: there it is monotone in each axis (non-decreasing, as
    /// rounding is), so a lon/lat box maps onto a projected box.
    fn monotone_lon(&self) -> (f64, f64) {
        (self.origin.x - 180.0, self.origin.x + 180.0)
    }

    /// Whether `r` lies where `to_xy` is monotone.
    pub fn monotone_over(&self, r: Rect) -> bool {
        let (w, e) = self.monotone_lon();
        w <= r.min().x && r.max().x <= e
    }

    /// The part of `r` where `to_xy` is monotone; None when none is.
    pub fn monotone_part(&self, r: Rect) -> Option<Rect> {
        let (w, e) = self.monotone_lon();
        let (lo, hi) = (r.min().x.max(w), r.max().x.min(e));
        (lo <= hi).then(|| Rect::new((lo, r.min().y), (hi, r.max().y)))
    }

    /// How much a distance measured in this projection can overstate or
    /// understate the same distance measured with a ruler at any latitude in
    /// `[lat_min, lat_max]`: `projected / slack <= ruler <= projected * slack`.
    ///
    /// Index queries prune with projected distances and rank with ruler
    /// distances; this bound keeps the pruning exact.
    pub fn slack(&self, lat_min: f64, lat_max: f64) -> f64 {
        let mut worst: f64 = 1.0;
        for lat in [lat_min, lat_max, self.origin.y] {
            let (kx, ky) = metres_per_degree(lat);
            for r in [kx / self.kx, ky / self.ky] {
                worst = worst.max(r).max(1.0 / r);
            }
        }
        // The x scale is monotone in |lat| except across the equator, where
        // cos peaks; include it when the range straddles 0.
        if lat_min < 0.0 && lat_max > 0.0 {
            let (kx, ky) = metres_per_degree(0.0);
            for r in [kx / self.kx, ky / self.ky] {
                worst = worst.max(r).max(1.0 / r);
            }
        }
        worst * (1.0 + 1e-9)
    }
}

/// Distance from a lon/lat point `q` to the straight lon/lat segment `a`-`b`,
/// in metres, and the closest point on the segment (lon/lat).
///
/// The closest point is found in a ruler centred on `q`; the distance to it is
/// then measured at the mid-latitude, which removes the first-order error of a
/// single ruler. A degenerate segment (`a == b`) is a point.
pub fn point_segment_distance_m(q: Coord, a: Coord, b: Coord) -> (f64, Coord) {
    let (kx, ky) = metres_per_degree(q.y);
    let ax = wrap_lon(a.x - q.x) * kx;
    let ay = (a.y - q.y) * ky;
    let bx = wrap_lon(b.x - q.x) * kx;
    let by = (b.y - q.y) * ky;
    let (dx, dy) = (bx - ax, by - ay);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let p = Coord {
        x: a.x + t * wrap_lon(b.x - a.x),
        y: a.y + t * (b.y - a.y),
    };
    (distance_m(q, p), p)
}

/// Area in m² of a polygon ring (lon/lat, closed or not), always positive.
/// Shoelace formula in a projection centred on the ring's own centre.
pub fn ring_area_m2(ring: &[Coord]) -> f64 {
    if ring.len() < 3 {
        return 0.0;
    }
    let (mut lat_min, mut lat_max) = (f64::INFINITY, f64::NEG_INFINITY);
    for c in ring {
        lat_min = lat_min.min(c.y);
        lat_max = lat_max.max(c.y);
    }
    let proj = LocalProjection::new(Coord {
        x: ring[0].x,
        y: (lat_min + lat_max) / 2.0,
    });
    let pts: Vec<[f64; 2]> = ring.iter().map(|c| proj.to_xy(*c)).collect();
    let mut twice = 0.0;
    for i in 0..pts.len() {
        let p = pts[i];
        let q = pts[(i + 1) % pts.len()];
        twice += p[0] * q[1] - q[0] * p[1];
    }
    twice.abs() / 2.0
}

/// Area in m² of a polygon: exterior minus holes.
pub fn polygon_area_m2(p: &geo::Polygon) -> f64 {
    let outer = ring_area_m2(&p.exterior().0);
    let holes: f64 = p.interiors().iter().map(|r| ring_area_m2(&r.0)).sum();
    (outer - holes).max(0.0)
}

/// What a feature counts for in totals: kilometres for lines, square
/// kilometres for polygons, nothing for points (and for a geometry that
/// does not match its layer's kind).
pub fn feature_size(kind: crate::model::GeometryKind, g: &geo::Geometry) -> f64 {
    use crate::model::GeometryKind as K;
    use geo::Geometry as G;
    match (kind, g) {
        (K::LineString, G::LineString(l)) => length_m(&l.0) / 1000.0,
        (K::LineString, G::MultiLineString(m)) => {
            m.0.iter().map(|l| length_m(&l.0)).sum::<f64>() / 1000.0
        }
        (K::Polygon, G::Polygon(p)) => polygon_area_m2(p) / 1e6,
        (K::Polygon, G::MultiPolygon(m)) => m.0.iter().map(polygon_area_m2).sum::<f64>() / 1e6,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{coord, Distance, Geodesic, GeodesicArea, Point, Polygon};

    /// A small deterministic generator, so failures reproduce.
    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 11) as f64 / (1u64 << 53) as f64
    }

    #[test]
    fn distance_matches_karney_within_a_ten_thousandth_up_to_30_km() {
        let mut seed = 7;
        for _ in 0..2000 {
            let a = coord! { x: 113.3 + lcg(&mut seed) * 0.5, y: 34.5 + lcg(&mut seed) * 0.4 };
            let b = coord! { x: a.x + (lcg(&mut seed) - 0.5) * 0.3, y: a.y + (lcg(&mut seed) - 0.5) * 0.25 };
            let ours = distance_m(a, b);
            let karney = Geodesic.distance(Point(a), Point(b));
            if karney > 1.0 {
                let rel = (ours - karney).abs() / karney;
                assert!(
                    rel < 1e-4,
                    "{a:?} {b:?}: ours {ours} karney {karney} rel {rel}"
                );
            }
        }
    }

    #[test]
    fn point_segment_distance_matches_dense_geodesic_scan() {
        // Oracle: sample the segment every ~0.5 m and take the smallest Karney distance.
        let mut seed = 11;
        for _ in 0..200 {
            let a = coord! { x: 113.5 + lcg(&mut seed) * 0.08, y: 34.66 + lcg(&mut seed) * 0.06 };
            let b = coord! { x: a.x + (lcg(&mut seed) - 0.5) * 0.01, y: a.y + (lcg(&mut seed) - 0.5) * 0.01 };
            let q = coord! { x: 113.5 + lcg(&mut seed) * 0.08, y: 34.66 + lcg(&mut seed) * 0.06 };
            let (ours, _) = point_segment_distance_m(q, a, b);
            let n = (distance_m(a, b) / 0.5).ceil().max(1.0) as usize;
            let oracle = (0..=n)
                .map(|i| {
                    let t = i as f64 / n as f64;
                    let p = coord! { x: a.x + t * (b.x - a.x), y: a.y + t * (b.y - a.y) };
                    Geodesic.distance(Point(q), Point(p))
                })
                .fold(f64::INFINITY, f64::min);
            assert!(
                (ours - oracle).abs() <= oracle * 1e-4 + 0.5,
                "ours {ours} oracle {oracle}"
            );
        }
    }

    #[test]
    fn polygon_area_matches_karney_within_a_thousandth() {
        let square = Polygon::new(
            vec![
                coord! {x: 113.50, y: 34.68},
                coord! {x: 113.56, y: 34.68},
                coord! {x: 113.56, y: 34.72},
                coord! {x: 113.50, y: 34.72},
                coord! {x: 113.50, y: 34.68},
            ]
            .into(),
            vec![],
        );
        let ours = polygon_area_m2(&square);
        let karney = square.geodesic_area_unsigned();
        assert!((ours - karney).abs() / karney < 1e-3, "{ours} vs {karney}");
    }

    #[test]
    fn areas_in_one_local_projection_hold_up_to_the_widest_extent() {
        // A square MAX_EXTENT_M across at the zone's latitude and at 60 deg N,
        // projected around its centre as parcels are, against Karney.
        for lat in [34.7, 60.0] {
            let (kx, ky) = metres_per_degree(lat);
            let (hw, hh) = (MAX_EXTENT_M / 2.0 / kx, MAX_EXTENT_M / 2.0 / ky);
            let c = coord! {x: 113.5, y: lat};
            let ring: Vec<Coord> = [(-hw, -hh), (hw, -hh), (hw, hh), (-hw, hh), (-hw, -hh)]
                .iter()
                .map(|(dx, dy)| coord! {x: c.x + dx, y: c.y + dy})
                .collect();
            let square = Polygon::new(ring.clone().into(), vec![]);
            let proj = LocalProjection::new(c);
            let xy: Vec<[f64; 2]> = ring.iter().map(|p| proj.to_xy(*p)).collect();
            let planar: f64 = xy
                .windows(2)
                .map(|w| w[0][0] * w[1][1] - w[1][0] * w[0][1])
                .sum::<f64>()
                .abs()
                / 2.0;
            let karney = square.geodesic_area_unsigned();
            assert!(
                (planar - karney).abs() / karney < 1e-3,
                "{lat}: {planar} vs {karney}"
            );
        }
    }

    #[test]
    fn projection_round_trips_and_slack_bounds_the_ruler() {
        let proj = LocalProjection::new(coord! {x: 113.53, y: 34.69});
        let c = coord! {x: 113.58, y: 34.66};
        let back = proj.to_lonlat(proj.to_xy(c));
        assert!((back.x - c.x).abs() < 1e-12 && (back.y - c.y).abs() < 1e-12);
        let slack = proj.slack(34.66, 34.72);
        // At the zone's scale a single projection is within 0.1%.
        assert!(slack > 1.0 && slack < 1.001, "{slack}");
    }
}

//! What the distance trees hold: a feature of one segment (or one
//! point) as a `Piece` that is the segment itself, the other features'
//! segments as `Run`s of up to `RUN` that name their part of the feature,
//! and the walks over a geometry's parts and segments that make them.
//!
//! Must not: know about layers, tiers or HTTP.

use geo::{Coord, Geometry};
use rstar::{PointDistance, RTreeObject, AABB};

use crate::geodesy::{point_segment_distance_m, LocalProjection};

/// A segment (or a point) in projected metres, kept as its bounding box:
/// its ends are two opposite corners of the box. Bulk-loading the tree
/// compares envelopes n log n times; built from the ends, each comparison
/// rebuilt a box (rstar's component-wise min and max, not always inlined:
/// a third of a million-segment start-up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Piece {
    pub(super) bounds: AABB<[f64; 2]>,
    /// The feature's position.
    pub feature: u32,
    /// The segment joins the box's top-left and bottom-right corners
    /// (otherwise its bottom-left and top-right ones).
    falling: bool,
}

impl Piece {
    fn new(a: [f64; 2], b: [f64; 2], feature: u32) -> Piece {
        Piece {
            bounds: AABB::from_corners(a, b),
            feature,
            falling: (a[0] < b[0] && a[1] > b[1]) || (a[0] > b[0] && a[1] < b[1]),
        }
    }

    /// The segment's two ends (in either order).
    pub fn ends(&self) -> ([f64; 2], [f64; 2]) {
        let (lo, hi) = (self.bounds.lower(), self.bounds.upper());
        if self.falling {
            ([lo[0], hi[1]], [hi[0], lo[1]])
        } else {
            (lo, hi)
        }
    }
}

/// The squared distance from `p` to the segment `a`-`b` (a point when
/// they are equal), in a projection's metres.
pub fn segment_distance_2(a: [f64; 2], b: [f64; 2], p: &[f64; 2]) -> f64 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (cx, cy) = (a[0] + t * dx - p[0], a[1] + t * dy - p[1]);
    cx * cx + cy * cy
}

impl RTreeObject for Piece {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.bounds
    }
}

impl PointDistance for Piece {
    fn distance_2(&self, p: &[f64; 2]) -> f64 {
        let (a, b) = self.ends();
        segment_distance_2(a, b, p)
    }
}

/// Segments a run holds at most: enough that a city's features (a street
/// between junctions, a pipe between valves: a few to a dozen segments)
/// are one or two runs, few enough that a run's box stays tight and a
/// query reaching it measures a handful of segments.
const RUN: usize = 8;

/// Up to `RUN` consecutive segments of one part (line or ring: see
/// [`part`]) of a feature, kept as their projected bounding box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Run {
    bounds: AABB<[f64; 2]>,
    /// The feature's position.
    pub feature: u32,
    /// The part of the feature's geometry, its first segment here, and how
    /// many segments follow it here.
    part: u32,
    first: u32,
    pub(super) count: u32,
}

impl RTreeObject for Run {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.bounds
    }
}

/// The distance to the run's box: a lower bound of the distance to its
/// segments, which the queries measure on the feature itself.
impl PointDistance for Run {
    fn distance_2(&self, p: &[f64; 2]) -> f64 {
        rstar::Envelope::distance_2(&self.bounds, p)
    }
}

/// Whether `each` holds for any part of a geometry whose segments the
/// distance queries measure, in order, with its number: a point (a
/// segment from itself to itself), a line, or a polygon's ring (exterior
/// first, then its holes). Stops at the first that holds. The one walk
/// over parts: [`part`] and [`any_segment`] are made from it.
fn any_part<'a>(g: &'a Geometry, mut each: impl FnMut(u32, &'a [Coord]) -> bool) -> bool {
    let mut n = 0;
    let mut one = |c: &'a [Coord]| {
        n += 1;
        each(n - 1, c)
    };
    let mut polygon =
        |p: &'a geo::Polygon| one(&p.exterior().0) || p.interiors().iter().any(|r| one(&r.0));
    match g {
        Geometry::Point(p) => one(std::slice::from_ref(&p.0)),
        Geometry::MultiPoint(mp) => mp.0.iter().any(|p| one(std::slice::from_ref(&p.0))),
        Geometry::LineString(l) => one(&l.0),
        Geometry::MultiLineString(m) => m.0.iter().any(|l| one(&l.0)),
        Geometry::Polygon(p) => polygon(p),
        Geometry::MultiPolygon(mp) => mp.0.iter().any(polygon),
        // The loader only produces the six kinds above.
        _ => false,
    }
}

/// The `n`th part of a geometry (see [`any_part`]).
fn part(g: &Geometry, n: usize) -> Option<&[Coord]> {
    let mut found = None;
    any_part(g, |i, c| {
        if i as usize == n {
            found = Some(c);
        }
        found.is_some()
    });
    found
}

/// How many segments a part of `n` coordinates has: a lone point is one.
fn segments_in(n: usize) -> usize {
    if n == 1 {
        1
    } else {
        n.saturating_sub(1)
    }
}

/// The ends of a part's `i`th segment.
fn segment_of(c: &[Coord], i: usize) -> (Coord, Coord) {
    (c[i], c[(i + 1).min(c.len() - 1)])
}

/// A feature's runs, in its parts' order.
pub(super) fn push_runs(g: &Geometry, feature: u32, proj: &LocalProjection, out: &mut Vec<Run>) {
    any_part(g, |part, c| {
        let segments = segments_in(c.len());
        for first in (0..segments).step_by(RUN) {
            let count = RUN.min(segments - first);
            let last = (first + count).min(c.len() - 1);
            let mut lo = proj.to_xy(c[first]);
            let mut hi = lo;
            for &p in &c[first + 1..=last] {
                let p = proj.to_xy(p);
                lo = [lo[0].min(p[0]), lo[1].min(p[1])];
                hi = [hi[0].max(p[0]), hi[1].max(p[1])];
            }
            out.push(Run {
                bounds: AABB::from_corners(lo, hi),
                feature,
                part,
                first: first as u32,
                count: count as u32,
            });
        }
        false
    });
}

/// Whether a geometry is one piece of the piece tree: a point or a single
/// segment.
pub(super) fn one_piece(g: &Geometry) -> bool {
    match g {
        Geometry::Point(_) => true,
        Geometry::LineString(l) => l.0.len() == 2,
        Geometry::MultiPoint(m) => m.0.len() == 1,
        Geometry::MultiLineString(m) => m.0.len() == 1 && m.0[0].0.len() == 2,
        _ => false,
    }
}

/// An entry of either distance tree.
#[derive(Clone, Copy)]
pub(super) enum Entry<'a> {
    Piece(&'a Piece),
    Run(&'a Run),
}

pub(super) fn push_pieces(
    g: &Geometry,
    feature: u32,
    proj: &LocalProjection,
    out: &mut Vec<Piece>,
) {
    any_segment(g, |a, b| {
        out.push(Piece::new(proj.to_xy(a), proj.to_xy(b), feature));
        false
    });
}

/// Whether `each` holds for any segment of a geometry, in order: its
/// lines' segments, its rings' (boundaries only), and each point as a
/// segment from itself to itself. Stops at the first that holds.
pub fn any_segment(g: &Geometry, mut each: impl FnMut(Coord, Coord) -> bool) -> bool {
    any_part(g, |_, c| {
        (0..segments_in(c.len())).any(|i| {
            let (a, b) = segment_of(c, i);
            each(a, b)
        })
    })
}

impl Entry<'_> {
    /// The distance in metres from `q` to the entry of a feature whose
    /// geometry is `g` (the one the entry was made from), and the entry's
    /// point closest to `q`: a piece from its own ends, a run from its
    /// segments in the feature.
    pub(super) fn distance(self, q: Coord, g: &Geometry, proj: &LocalProjection) -> (f64, Coord) {
        let run = match self {
            Entry::Piece(piece) => {
                let (a, b) = piece.ends();
                return point_segment_distance_m(q, proj.to_lonlat(a), proj.to_lonlat(b));
            }
            Entry::Run(run) => run,
        };
        let mut best = (f64::INFINITY, q);
        if let Some(c) = part(g, run.part as usize) {
            let first = run.first as usize;
            for s in first..first + run.count as usize {
                let (a, b) = segment_of(c, s);
                let here = point_segment_distance_m(q, a, b);
                if here.0 < best.0 {
                    best = here;
                }
            }
        }
        best
    }
}

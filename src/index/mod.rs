//! R-trees around a layer, and the spatial queries built on them.
//!
//! Each layer gets up to three bulk-loaded R-trees:
//! - `envelopes`: each feature's lon/lat bounding box, for bbox queries and
//!   point-in-polygon candidates. A bbox query then tests the real geometry
//!   (`geo::Intersects`), so a feature whose envelope touches the box but whose
//!   lines do not is not returned.
//! - `pieces`: every feature of one segment (or one point) in a local
//!   metric projection, the segment itself held in the entry, for nearest
//!   and within-distance queries in metres;
//! - `runs`: the other features' segments, in runs of up to `RUN`
//!   consecutive segments of one line or ring, each entry its run's
//!   projected box; a query that reaches a run reads its segments from the
//!   feature. A segment each would be ten million entries for a city of
//!   ten million segments (56 bytes each, and most of its start-up);
//!   runs make them an eighth.
//!
//! A layer whose every feature is one piece (points, single segments: a
//! city's road graph) gets only the piece tree: the projection is monotone
//! in each axis, so a lon/lat box is a projected box, and a piece's box is
//! its feature's. That halves a big layer's index and its start-up work.
//!
//! Edits do not rebuild a big layer. Tree entries name a feature's
//! position, which is stable across edits (see `features`); a layer's trees
//! come in tiers, oldest first: the base (the layer as built), levels, and
//! the small tier (rebuilt at each edit), all but the last shared by `Arc`
//! across versions. An edited feature is indexed in the small tier, and an
//! entry of an older tier for a position a newer tier holds is stale, as is
//! any entry whose place is now empty. The small tier becomes a level of
//! its own when it outgrows `SMALL_MAX`, and the newest two levels are
//! merged while the newer is at least half the older (a binary counter:
//! an edited feature is indexed again about log₂(levels' size / SMALL_MAX)
//! times, where merging into one level re-indexed the whole level every
//! `SMALL_MAX` pieces). The layer is re-indexed whole when the levels
//! outgrow a sixteenth of the base: an edit costs the tiers it rebuilds,
//! amortised O(k log n) for k changed features.
//!
//! Distances are pruned with projected distances and ranked with
//! `geodesy::point_segment_distance_m`; `LocalProjection::slack` bounds the gap
//! between the two, so the answers equal a brute-force scan (`tests.rs`
//! and `tests/index_props.rs` check exactly that). A run's entry is its
//! box, a lower bound of its segments' distance: a query visits runs
//! nearest box first and stops past the best answer, as with pieces.
//!
//! Must not: do I/O, fail, or know about HTTP.

use std::sync::Arc;

use geo::{Coord, Intersects, Point, Rect};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{RTree, AABB};

use crate::geodesy::LocalProjection;
use crate::model::{GeometryKind, Layer, PropertySummary, PropertyTally};
use std::sync::OnceLock;

mod pieces;
#[cfg(test)]
mod tests;

pub use pieces::{any_segment, segment_distance_2, Piece, Run};
use pieces::{one_piece, push_pieces, push_runs, Entry};

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

/// The small tier becomes a level once it holds more pieces than this.
const SMALL_MAX: usize = 256;

/// The layer is re-indexed whole once its levels hold more pieces than
/// this, or more than a sixteenth of the base's.
const COMPACT_AT: usize = 4096;

/// The trees over some positions.
#[derive(Debug, Default)]
struct Trees {
    /// The positions indexed here, for the tiers above the base (the base
    /// holds every position below its end that a newer tier does not).
    held: hashbrown::HashSet<u32, foldhash::fast::RandomState>,
    /// None when every feature here is one piece, within 180° of longitude
    /// of the projection's origin (where it is monotone): the piece tree
    /// then answers box queries too (`IndexedLayer::meeting`).
    envelopes: Option<RTree<Envelope>>,
    /// Features of one piece.
    pieces: RTree<Piece>,
    /// The other features' segments, in runs.
    runs: RTree<Run>,
    /// How many segments (and points) the two trees hold.
    segments: usize,
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
            let (mut pieces, mut runs) = (Vec::new(), Vec::new());
            for &(slot, f) in &features {
                if one_piece(&f.geometry) {
                    push_pieces(&f.geometry, slot, proj, &mut pieces);
                } else {
                    push_runs(&f.geometry, slot, proj, &mut runs);
                }
            }
            let segments = pieces.len() + runs.iter().map(|r| r.count as usize).sum::<usize>();
            (RTree::bulk_load(pieces), RTree::bulk_load(runs), segments)
        };
        if features.len() < PARALLEL_OVER {
            let (pieces, runs, segments) = pieces();
            return Trees {
                held,
                envelopes: envelopes(),
                pieces,
                runs,
                segments,
                ids: ids(),
            };
        }
        // A big layer (a city's roads): the trees and the id map on their
        // own threads, at start-up when nothing else runs. The distance
        // trees take longest; with two cores they have one to themselves,
        // and the envelope tree and the id map share the other, rather
        // than three threads contending for two cores and the longest
        // finishing last (without an envelope tree, the id map has the
        // other alone).
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
            let (pieces, runs, segments) = pieces;
            Trees {
                held,
                envelopes,
                pieces,
                runs,
                segments,
                ids,
            }
        })
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

/// Which tier of trees an entry comes from: its place in `tiers`.
type Tier = usize;

/// A layer with its R-trees. Immutable once built; `with_features` makes
/// the next version.
#[derive(Debug)]
pub struct IndexedLayer {
    pub layer: Layer,
    proj: LocalProjection,
    /// Oldest first: the trees over the layer as built, the levels (over
    /// positions edited since, each shared across versions), and the small
    /// tier (positions edited since the newest level). Never fewer than two.
    tiers: Vec<Arc<Trees>>,
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
            tiers: vec![Arc::new(base), Default::default()],
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
        let (base, levels, small_was) = self.parts();
        let mut small: Vec<u32> = small_was.held.iter().copied().collect();
        small.extend(changed.iter().map(|&p| p as u32));
        live(&mut small);
        let entries = |slots: &[u32]| -> Vec<(u32, &crate::model::Feature)> {
            slots.iter().map(|&p| (p, &*features[p as usize])).collect()
        };
        let build =
            |slots: &[u32]| Arc::new(Trees::build(entries(slots).into_iter(), &self.proj, true));
        let mut tiers: Vec<Arc<Trees>> = std::iter::once(base).chain(levels).cloned().collect();
        if pieces(&small) > SMALL_MAX {
            tiers.push(build(&small));
            small.clear();
            // The newest two levels (never the base) merged while the
            // newer is at least half the older.
            while tiers.len() > 2
                && tiers[tiers.len() - 1].segments * 2 >= tiers[tiers.len() - 2].segments
            {
                let (newer, older) = (tiers.pop(), tiers.pop());
                let mut slots: Vec<u32> = older
                    .iter()
                    .chain(&newer)
                    .flat_map(|t| t.held.iter().copied())
                    .collect();
                live(&mut slots);
                tiers.push(build(&slots));
            }
            let in_levels: usize = tiers[1..].iter().map(|t| t.segments).sum();
            if in_levels > COMPACT_AT.max(base.segments / 16) {
                return IndexedLayer::build(layer, self.proj);
            }
        }
        tiers.push(build(&small));
        // Tallies of the chunks the edit did not write carry over.
        let chunks = features.chunk_count();
        let same = |c: usize| features.same_chunk(&self.layer.features, c);
        let tallies = carried(&self.tallies, chunks, same);
        let groups = carried(&self.groups, chunks.div_ceil(TALLY_GROUP), |g| {
            (g * TALLY_GROUP..((g + 1) * TALLY_GROUP).min(chunks)).all(same)
        });
        IndexedLayer {
            proj: self.proj,
            tiers,
            tallies,
            groups,
            layer,
            properties: OnceLock::new(),
        }
    }

    /// The position an entry of `tier` names, if its feature is live and no
    /// newer tier indexes that position.
    fn live(&self, tier: Tier, slot: u32) -> Option<usize> {
        let stale = self.tiers[tier + 1..]
            .iter()
            .any(|t| !t.held.is_empty() && t.held.contains(&slot));
        let p = slot as usize;
        (!stale && self.layer.features.get(p).is_some()).then_some(p)
    }

    /// Every tier, oldest first.
    fn trees(&self) -> impl DoubleEndedIterator<Item = (Tier, &Trees)> + '_ {
        self.tiers.iter().map(|t| &**t).enumerate()
    }

    /// The base, the levels and the small tier.
    fn parts(&self) -> (&Arc<Trees>, &[Arc<Trees>], &Arc<Trees>) {
        let n = self.tiers.len();
        (&self.tiers[0], &self.tiers[1..n - 1], &self.tiers[n - 1])
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
        self.trees().rev().find_map(|(tier, t)| {
            let holds = |slot: u32| {
                self.live(tier, slot)
                    .is_some_and(|p| self.layer.features[p].id == id)
            };
            t.ids.find(id, holds).map(|slot| slot as usize)
        })
    }

    /// How many segments and points the distance trees hold.
    pub fn piece_count(&self) -> usize {
        self.trees().map(|(_, t)| t.segments).sum()
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
        // Each tree in turn, nearest entries first (for runs, nearest
        // boxes: a lower bound), pruned against the best found so far.
        for (tier, t) in self.trees() {
            // Whether entries farther than `d2` may still be nearer.
            let mut visit = |slot: u32, d2: f64, entry: Entry| {
                if best.len() == k && d2.sqrt() / slack > best[k - 1].distance_m {
                    return false;
                }
                if let Some(i) = self.live(tier, slot).filter(|&i| keep(i)) {
                    let (d, closest) = self.exact(q, i, entry);
                    let hit = Hit {
                        feature: i,
                        distance_m: d,
                        closest,
                    };
                    insert_hit(&mut best, k, hit);
                }
                true
            };
            for (p, d2) in t.pieces.nearest_neighbor_iter_with_distance_2(&qxy) {
                if !visit(p.feature, d2, Entry::Piece(p)) {
                    break;
                }
            }
            for (r, d2) in t.runs.nearest_neighbor_iter_with_distance_2(&qxy) {
                if !visit(r.feature, d2, Entry::Run(r)) {
                    break;
                }
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
        let near = self.trees().flat_map(|(tier, t)| {
            let pieces = t.pieces.locate_within_distance(qxy, r * r);
            let runs = t.runs.locate_within_distance(qxy, r * r);
            pieces
                .map(move |p| (tier, p.feature, Entry::Piece(p)))
                .chain(runs.map(move |r| (tier, r.feature, Entry::Run(r))))
        });
        for (tier, slot, entry) in near {
            let Some(i) = self.live(tier, slot) else {
                continue;
            };
            if !keep(i) {
                continue;
            }
            let (d, closest) = self.exact(q, i, entry);
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
            .filter_map(|(tier, t)| Some((tier, t.envelopes.as_ref()?)))
            .flat_map(|(tier, e)| {
                e.locate_all_at_point(&[q.x, q.y])
                    .map(move |e| (tier, e.data))
            })
            .filter_map(|(tier, slot)| self.live(tier, slot))
            .filter(|&i| self.layer.features[i].geometry.intersects(&Point(q)))
            .collect()
    }

    /// The distance in metres from `q` to an entry of the feature at
    /// position `i` (live: the feature the entry was made from).
    fn exact(&self, q: Coord, i: usize, entry: Entry) -> (f64, Coord) {
        entry.distance(q, &self.layer.features[i].geometry, &self.proj)
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

//! A service's coverage of the whole zone in bounded memory: the zone's
//! extent is split (a quadtree) into cells until each cell's candidate
//! assets hold at most `CELL_VERTICES` vertices; each cell's covered part
//! and gaps are computed alone, cells in parallel on every core, and only
//! the gaps are kept. Peak memory is then that of one cell per core (the
//! overlay of ~130 buffer vertices per asset vertex), not of the zone.
//!
//! A zone small enough to be one cell (the sample's) is computed exactly as
//! before, on the zone itself. Gap pieces that meet a cell edge are united
//! at the end, so a gap crossing cells is one polygon.
//!
//! After an edit of a service's assets, the next computation starts from
//! the previous one (`Seed`): a cell whose extent no edited feature's reach
//! touches, and which the new subdivision cuts the same, keeps its answer;
//! only the others are computed again. One road edited in a city redoes a
//! handful of cells, not the zone.
//!
//! Must not: know about HTTP.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use geo::{
    BoundingRect, Coord, Geometry, LineString, MultiLineString, MultiPolygon, Polygon, Rect,
};

use super::{area, round_share, Coverage, Region, Scenario, Service, ZoneResult};
use crate::budget::Deadline;
use crate::index::IndexedLayer;
use std::sync::Arc;

/// Most candidate-asset vertices (within reach of a cell) a cell may hold
/// before it is split: about 1.1M buffer vertices in the overlay, some
/// 150 MB at its peak.
pub const CELL_VERTICES: usize = 8_000;

/// Cells are not split below this side (m), whatever they hold.
const MIN_CELL_M: f64 = 250.0;

/// How often a long computation says how far it got (in the log).
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// How often it tells a watcher (`/metrics`, `/health`).
const TELL_EVERY: Duration = Duration::from_millis(250);

/// Gap slivers below 1 m² are arithmetic noise of the overlay, not gaps.
const MIN_GAP_M2: f64 = 1.0;

/// One cell's part of a zone result (projected): kept with the result so
/// that the next snapshot's computation can reuse it.
#[derive(Debug, Clone)]
pub struct CellPart {
    rect: Rect,
    covered_m2: f64,
    gaps: Vec<Polygon>,
}

/// A cell's answer as a computation gathers them: its position, covered
/// m², gaps, and whether it was kept from the previous answer.
type CellDone = (usize, f64, Vec<Polygon>, bool);

/// Most edited extents a seed keeps. Edits in a row with no zone asked
/// for carry their seed from snapshot to snapshot, and a long editing
/// session would otherwise copy a list as long as the session at every
/// commit (56,000 creates in ten seconds made it most of a commit's work).
const MAX_DIRTY: usize = 256;

/// Where the next zone computation of a service may start: the previous
/// snapshot's result and the extents (projected, grown by the reach) of
/// the assets an edit changed, at most `MAX_DIRTY` of them.
#[derive(Debug, Clone)]
pub struct Seed {
    pub previous: Arc<ZoneResult>,
    dirty: Vec<Rect>,
}

impl Seed {
    pub fn new(previous: Arc<ZoneResult>, dirty: Vec<Rect>) -> Seed {
        let mut seed = Seed {
            previous,
            dirty: Vec::new(),
        };
        seed.add(dirty);
        seed
    }

    /// More edited extents. Past `MAX_DIRTY`, neighbours are merged into
    /// their common box: what counts as touched only grows, so a merge
    /// can cost cells computed again but never keeps a stale cell.
    pub fn add(&mut self, dirty: impl IntoIterator<Item = Rect>) {
        self.dirty.extend(dirty);
        if self.dirty.len() > MAX_DIRTY {
            self.dirty = coarsened(std::mem::take(&mut self.dirty), MAX_DIRTY / 2);
        }
    }

    /// The previous answer for `cell`, when it had the same cell and no
    /// edit reached it.
    fn reusable(&self, cell: Rect) -> Option<&CellPart> {
        if self.touches(cell) {
            return None;
        }
        self.previous.cells.iter().find(|c| c.rect == cell)
    }

    /// Whether an edit's reach meets `cell` (its assets within reach then
    /// may differ from the previous answer's).
    fn touches(&self, cell: Rect) -> bool {
        self.dirty.iter().any(|d| {
            d.min().x <= cell.max().x
                && d.max().x >= cell.min().x
                && d.min().y <= cell.max().y
                && d.max().y >= cell.min().y
        })
    }
}

impl Coverage {
    /// The lon/lat extent of a projected rectangle.
    fn lonlat_rect(&self, r: Rect) -> Rect {
        Rect::new(
            self.proj.to_lonlat([r.min().x, r.min().y]),
            self.proj.to_lonlat([r.max().x, r.max().y]),
        )
    }

    /// Vertices of the service's candidate assets within reach of a cell.
    fn cell_load(&self, layers: &[Arc<IndexedLayer>], s: &Service, cell: Rect) -> usize {
        let layer = &layers[s.layer];
        layer
            .envelope_candidates(self.reach_window(s, self.lonlat_rect(cell)))
            .into_iter()
            .map(|i| geo::CoordsIter::coords_count(&layer.layer.features[i].geometry))
            .sum()
    }

    /// The zone's extent cut into cells of at most `limit` load (afresh).
    #[cfg(test)]
    fn cells(&self, layers: &[Arc<IndexedLayer>], s: &Service, limit: usize) -> Vec<Rect> {
        self.cells_from(layers, s, limit, None)
    }

    /// `cells`, from the previous answer's cells where it can: a square no
    /// edit reached holds the same assets within reach as before, so it is
    /// cut as it was (a previous cell stays one; one holding previous
    /// cells is split) without counting its load again.
    fn cells_from(
        &self,
        layers: &[Arc<IndexedLayer>],
        s: &Service,
        limit: usize,
        seed: Option<&Seed>,
    ) -> Vec<Rect> {
        let Some(extent) = self.zone_metric.bounding_rect() else {
            return vec![];
        };
        let untouched = |c: Rect| -> Option<bool> {
            let sd = seed?;
            if sd.touches(c) {
                return None;
            }
            // Some(true): a previous cell (a leaf); Some(false): previous
            // cells lie inside it (it was split).
            let cells = &sd.previous.cells;
            if cells.iter().any(|p| p.rect == c) {
                return Some(true);
            }
            cells
                .iter()
                .any(|p| {
                    p.rect.min().x >= c.min().x
                        && p.rect.max().x <= c.max().x
                        && p.rect.min().y >= c.min().y
                        && p.rect.max().y <= c.max().y
                })
                .then_some(false)
        };
        let mut todo = vec![extent];
        let mut cells = Vec::new();
        while let Some(c) = todo.pop() {
            let big = c.width().max(c.height()) > 2.0 * MIN_CELL_M;
            let split = match untouched(c) {
                Some(leaf) => !leaf,
                None => big && self.cell_load(layers, s, c) > limit,
            };
            if split {
                let m = c.center();
                let (lo, hi) = (c.min(), c.max());
                for (a, b) in [
                    (lo, m),
                    (Coord { x: m.x, y: lo.y }, Coord { x: hi.x, y: m.y }),
                    (Coord { x: lo.x, y: m.y }, Coord { x: m.x, y: hi.y }),
                    (m, hi),
                ] {
                    todo.push(Rect::new(a, b));
                }
            } else {
                cells.push(c);
            }
        }
        // Row by row, so the gaps come out in a stable order.
        cells.sort_by(|a, b| {
            (a.min().y, a.min().x)
                .partial_cmp(&(b.min().y, b.min().x))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        cells
    }

    /// One cell's covered area (m²) and gaps (projected).
    fn cell_result(
        &self,
        layers: &[Arc<IndexedLayer>],
        s: &Service,
        sc: Scenario,
        cell: Rect,
        whole: bool,
    ) -> (f64, Vec<Polygon>) {
        let clipped;
        let region: &MultiPolygon = if whole {
            &self.zone_metric
        } else {
            clipped = area::intersection(&self.zone_metric, &MultiPolygon(vec![cell.to_polygon()]));
            &clipped
        };
        let Some(b) = region.bounding_rect() else {
            return (0.0, vec![]);
        };
        let parts = area::Parts::new(region);
        let at = Region {
            shape: region,
            parts: &parts,
            bbox: self.lonlat_rect(b),
            proj: &self.proj,
        };
        let none = Deadline::none();
        let covered = match self
            .near(layers, s, sc, None, &at, &none)
            .and_then(|mut near| {
                if !whole {
                    // A long line contributes only its segments near the cell.
                    let window = grow(b, s.max_reach * 1.01);
                    for (_, _, g) in &mut near.reaching {
                        *g = near_window(g, window);
                    }
                }
                let reaching = near.reaching.into_iter().map(|(_, i, g)| (i, g));
                Self::covered_shape(s, reaching, region, &none)
            }) {
            Ok(c) => c,
            Err(never) => unreachable!("no deadline: {never}"),
        };
        let gaps = area::difference(region, &covered);
        let gaps = gaps
            .0
            .into_iter()
            .filter(|p| geo::Area::unsigned_area(p) >= MIN_GAP_M2)
            .collect();
        (area::area_m2(&covered), gaps)
    }

    /// A service's coverage of the zone, cell by cell on every core (from
    /// the previous snapshot's where an edit left it a seed).
    pub(super) fn zone_result(
        &self,
        layers: &[Arc<IndexedLayer>],
        s: &Service,
        sc: Scenario,
        seed: Option<Seed>,
    ) -> ZoneResult {
        self.zone_result_in(layers, s, sc, CELL_VERTICES, seed.as_ref())
    }

    fn zone_result_in(
        &self,
        layers: &[Arc<IndexedLayer>],
        s: &Service,
        sc: Scenario,
        limit: usize,
        seed: Option<&Seed>,
    ) -> ZoneResult {
        let started = Instant::now();
        let area_m2 = area::area_m2(&self.zone_metric);
        let cells = self.cells_from(layers, s, limit, seed);
        let whole = cells.len() == 1;
        let reused = AtomicUsize::new(0);
        let next = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let said = Mutex::new(Instant::now());
        let told = Mutex::new(Instant::now());
        let report = |done: usize| {
            super::runs::progress(super::runs::ZoneProgress {
                service: s.name,
                scenario: sc.name(),
                done,
                cells: cells.len(),
            })
        };
        report(0);
        let results: Mutex<Vec<CellDone>> = Mutex::new(Vec::new());
        let workers = std::thread::available_parallelism()
            .map_or(2, |n| n.get())
            .min(cells.len())
            .max(1);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&cell) = cells.get(k) else {
                        break;
                    };
                    let (covered, gaps, kept) = match seed.and_then(|sd| sd.reusable(cell)) {
                        Some(part) => {
                            reused.fetch_add(1, Ordering::Relaxed);
                            (part.covered_m2, part.gaps.clone(), true)
                        }
                        None => {
                            let (c, g) = self.cell_result(layers, s, sc, cell, whole);
                            (c, g, false)
                        }
                    };
                    let mut all = results.lock().unwrap_or_else(|p| p.into_inner());
                    all.push((k, covered, gaps, kept));
                    drop(all);
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    let mut shown = told.lock().unwrap_or_else(|p| p.into_inner());
                    if shown.elapsed() >= TELL_EVERY {
                        *shown = Instant::now();
                        report(n);
                    }
                    drop(shown);
                    let mut last = said.lock().unwrap_or_else(|p| p.into_inner());
                    if last.elapsed() >= PROGRESS_EVERY {
                        *last = Instant::now();
                        tracing::info!(
                            service = s.name,
                            scenario = ?sc,
                            "zone coverage: {n} of {} cells in {:.0} s",
                            cells.len(),
                            started.elapsed().as_secs_f64()
                        );
                    }
                });
            }
        });
        let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
        results.sort_by_key(|r| r.0);
        let covered_m2 = results.iter().map(|r| r.1).sum::<f64>().min(area_m2);
        let parts = results
            .iter()
            .map(|(k, covered, gaps, _)| CellPart {
                rect: cells[*k],
                covered_m2: *covered,
                gaps: gaps.clone(),
            })
            .collect();
        let previous = seed
            .map(|sd| &sd.previous)
            .filter(|p| !p.joined.is_empty() || p.gaps.0.is_empty());
        let kept = reused.load(Ordering::Relaxed);
        let gaps = match previous {
            _ if whole => results.into_iter().flat_map(|r| r.2).collect(),
            // Most cells kept: the previous joined gaps, cut where cells
            // were computed again and joined with their new pieces, rather
            // than every edge piece of the zone joined afresh.
            Some(prev) if kept > 0 => {
                let (again, fresh): (Vec<Rect>, Vec<Polygon>) = results
                    .into_iter()
                    .filter(|r| !r.3)
                    .fold((Vec::new(), Vec::new()), |(mut rs, mut ps), r| {
                        rs.push(cells[r.0]);
                        ps.extend(r.2);
                        (rs, ps)
                    });
                join_again(&prev.joined, &again, fresh)
            }
            _ => join_at_cell_edges(&cells, results),
        };
        tracing::info!(
            service = s.name,
            scenario = ?sc,
            cells = cells.len(),
            reused = reused.load(Ordering::Relaxed),
            gaps = gaps.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "zone coverage computed"
        );
        super::runs::finished(super::runs::ZoneRun {
            service: s.name,
            scenario: sc.name(),
            seconds: started.elapsed().as_secs_f64(),
            cells: cells.len(),
        });
        let gaps = MultiPolygon(gaps);
        ZoneResult {
            area_m2,
            covered_m2,
            share: round_share(covered_m2 / area_m2),
            gaps: area::to_lonlat(&gaps, &self.proj),
            cells: parts,
            joined: gaps.0,
        }
    }
}

/// At most `most` boxes covering `rects`: sorted along a Z-order curve of
/// their centres (neighbours on the curve are mostly neighbours on the
/// ground), then cut into runs where the curve jumps farthest, each run
/// merged into its box. Edits in two districts never share a box.
fn coarsened(mut rects: Vec<Rect>, most: usize) -> Vec<Rect> {
    if rects.len() <= most {
        return rects;
    }
    let Some(all) = rects.iter().copied().reduce(cover) else {
        return rects;
    };
    // One scale for both axes, so that the curve's first cut is across the
    // longer side.
    let span = all.width().max(all.height()).max(f64::MIN_POSITIVE);
    let cell = |v: f64, lo: f64| ((v - lo) / span * f64::from(u16::MAX)) as u32;
    let z = |r: &Rect| {
        let c = r.center();
        let (x, y) = (cell(c.x, all.min().x), cell(c.y, all.min().y));
        (0..16).fold(0u32, |k, bit| {
            k | ((x >> bit) & 1) << (2 * bit) | ((y >> bit) & 1) << (2 * bit + 1)
        })
    };
    rects.sort_by_cached_key(z);
    let mut jumps: Vec<(f64, usize)> = rects
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let (a, b) = (w[0].center(), w[1].center());
            ((a.x - b.x).hypot(a.y - b.y), i + 1)
        })
        .collect();
    let cuts = most.max(1) - 1;
    jumps.select_nth_unstable_by(cuts, |a, b| b.0.total_cmp(&a.0));
    let mut at: Vec<usize> = jumps[..cuts].iter().map(|j| j.1).collect();
    at.sort_unstable();
    at.push(rects.len());
    let mut from = 0;
    at.into_iter()
        .filter_map(|to| {
            let run = rects[from..to].iter().copied().reduce(cover);
            from = to;
            run
        })
        .collect()
}

/// The box holding both.
fn cover(a: Rect, b: Rect) -> Rect {
    Rect::new(
        Coord {
            x: a.min().x.min(b.min().x),
            y: a.min().y.min(b.min().y),
        },
        Coord {
            x: a.max().x.max(b.max().x),
            y: a.max().y.max(b.max().y),
        },
    )
}

/// The joined gaps after some cells were computed again: the previous
/// joined gaps near those cells (`again`) lose what lies in them and are
/// joined with the cells' new pieces (`fresh`); the others stay as they
/// were. What a join of every piece would give, for the cost of the
/// pieces near the cells computed again.
fn join_again(previous: &[Polygon], again: &[Rect], fresh: Vec<Polygon>) -> Vec<Polygon> {
    // Within a millimetre, as `join_at_cell_edges` judges an edge.
    let near = |b: Rect, c: &Rect| {
        b.min().x <= c.max().x + 1e-3
            && b.max().x >= c.min().x - 1e-3
            && b.min().y <= c.max().y + 1e-3
            && b.max().y >= c.min().y - 1e-3
    };
    let cut = area::union_all(
        &again
            .iter()
            .map(|r| MultiPolygon(vec![r.to_polygon()]))
            .collect::<Vec<_>>(),
    );
    let mut out = Vec::new();
    let mut pool: Vec<MultiPolygon> = fresh.into_iter().map(|p| MultiPolygon(vec![p])).collect();
    for p in previous {
        match p.bounding_rect() {
            Some(b) if again.iter().any(|r| near(b, r)) => {
                pool.push(area::difference(&MultiPolygon(vec![p.clone()]), &cut));
            }
            _ => out.push(p.clone()),
        }
    }
    out.extend(area::union_all(&pool).0);
    out
}

/// Unite the gap pieces that meet their cell's edge (the same gap cut by
/// the grid); pieces inside a cell pass through.
fn join_at_cell_edges(cells: &[Rect], results: Vec<CellDone>) -> Vec<Polygon> {
    let mut inner = Vec::new();
    let mut edge = Vec::new();
    for (k, _, gaps, _) in results {
        let c = cells[k];
        for p in gaps {
            // Within a millimetre: the overlay may move an edge's vertex
            // by rounding.
            let touches = p.bounding_rect().is_some_and(|b| {
                b.min().x <= c.min().x + 1e-3
                    || b.min().y <= c.min().y + 1e-3
                    || b.max().x >= c.max().x - 1e-3
                    || b.max().y >= c.max().y - 1e-3
            });
            if touches {
                edge.push(MultiPolygon(vec![p]));
            } else {
                inner.push(p);
            }
        }
    }
    inner.extend(area::union_all(&edge).0);
    inner
}

fn grow(r: Rect, d: f64) -> Rect {
    Rect::new(
        Coord {
            x: r.min().x - d,
            y: r.min().y - d,
        },
        Coord {
            x: r.max().x + d,
            y: r.max().y + d,
        },
    )
}

/// The runs of a projected line geometry's segments whose extent meets
/// `window`: within the window, their buffer is the whole line's. Other
/// geometries are kept whole.
fn near_window(g: &Geometry, window: Rect) -> Geometry {
    let meets = |a: Coord, b: Coord| {
        a.x.min(b.x) <= window.max().x
            && a.x.max(b.x) >= window.min().x
            && a.y.min(b.y) <= window.max().y
            && a.y.max(b.y) >= window.min().y
    };
    let runs = |ls: &LineString, out: &mut Vec<LineString>| {
        let mut run: Vec<Coord> = Vec::new();
        for l in ls.lines() {
            if meets(l.start, l.end) {
                if run.is_empty() {
                    run.push(l.start);
                }
                run.push(l.end);
            } else if !run.is_empty() {
                out.push(LineString(std::mem::take(&mut run)));
            }
        }
        if !run.is_empty() {
            out.push(LineString(run));
        }
    };
    let mut out = Vec::new();
    match g {
        Geometry::LineString(ls) => runs(ls, &mut out),
        Geometry::MultiLineString(m) => m.iter().for_each(|ls| runs(ls, &mut out)),
        other => return other.clone(),
    }
    Geometry::MultiLineString(MultiLineString(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::wkt;

    /// The sample's zone cut into many small cells gives the same shares
    /// and gap areas as the zone computed whole.
    #[test]
    fn cells_add_up_to_the_whole_zone() {
        let catalog = crate::testkit::sample();
        let cov = catalog.coverage.as_ref().expect("rules");
        let layers = &catalog.layers;
        for s in &cov.services {
            assert_eq!(cov.cells(layers, s, CELL_VERTICES).len(), 1, "{}", s.name);
            for sc in Scenario::ALL {
                let whole = cov.zone_result_in(layers, s, sc, usize::MAX, None);
                let cut = cov.zone_result_in(layers, s, sc, 40, None);
                let n = cov.cells(layers, s, 40).len();
                let gap = |z: &ZoneResult| area::area_m2(&area::to_metric_mp(&z.gaps, &cov.proj));
                let what = format!("{} {sc:?} in {n} cells", s.name);
                assert!(
                    (cut.covered_m2 - whole.covered_m2).abs() <= 1e-6 * whole.area_m2,
                    "{what}: {} vs {}",
                    cut.covered_m2,
                    whole.covered_m2
                );
                assert!(
                    (gap(&cut) - gap(&whole)).abs() <= 1e-6 * whole.area_m2 + 10.0,
                    "{what}"
                );
                // Joined again: no more pieces than cells could have cut.
                assert!(
                    cut.gaps.0.len() <= whole.gaps.0.len() + n,
                    "{what}: {} gaps vs {}",
                    cut.gaps.0.len(),
                    whole.gaps.0.len()
                );
            }
        }
        let road = cov
            .services
            .iter()
            .find(|s| s.name == "road")
            .expect("road");
        let n = cov.cells(layers, road, 40).len();
        assert!(n >= 16, "{n} cells");
    }

    /// The road service's index in a coverage.
    fn road(c: &Coverage) -> usize {
        c.services
            .iter()
            .position(|s| s.name == "road")
            .expect("road")
    }

    /// `catalog` with the road at position `pick` moved by (`dx`, `dy`)
    /// degrees through `with_changes`, and where the edit reached.
    fn road_moved(
        catalog: &crate::catalog::Catalog,
        pick: usize,
        dx: f64,
        dy: f64,
    ) -> (crate::catalog::Catalog, Vec<geo::Rect>) {
        let cov = catalog.coverage.as_ref().expect("rules");
        let s = &cov.services[road(cov)];
        let roads = &catalog.layers[s.layer].layer;
        let mut f = (*roads.features[pick]).clone();
        geo::MapCoordsInPlace::map_coords_in_place(&mut f.geometry, |c| Coord {
            x: c.x + dx,
            y: c.y + dy,
        });
        f.bbox = f.geometry.bounding_rect().expect("a road");
        let changes: crate::catalog::Changes = std::collections::HashMap::from([(
            roads.meta.id.clone(),
            std::collections::HashMap::from([(f.id.clone(), Some(Arc::new(f)))]),
        )]);
        let next = catalog
            .with_changes(&changes, catalog.revision + 1, catalog.revision + 1)
            .expect("the edit applies");
        let cov2 = next.coverage.as_ref().expect("rules");
        let s2 = &cov2.services[road(cov2)];
        let dirty = cov2.edited_reach(
            &catalog.layers[s.layer],
            &next.layers[s2.layer],
            s.max_reach.max(s2.max_reach),
        );
        (next, dirty)
    }

    /// A long session's edited extents, in two districts 50 km apart:
    /// a seed keeps at most `MAX_DIRTY` boxes, every edit lies in one of
    /// them, and no box spans the empty land between the districts.
    #[test]
    fn a_seed_keeps_a_bounded_cover_of_every_edit() {
        let mut rnd = crate::testkit::rng(7);
        let mut edits = Vec::new();
        for k in 0..20_000 {
            let x0 = if k % 2 == 0 { 0.0 } else { 50_000.0 };
            let (x, y) = (x0 + rnd() * 3_000.0, rnd() * 3_000.0);
            edits.push(Rect::new(
                Coord { x, y },
                Coord {
                    x: x + 250.0,
                    y: y + 250.0,
                },
            ));
        }
        let empty = ZoneResult {
            area_m2: 1.0,
            covered_m2: 0.0,
            share: 0.0,
            gaps: MultiPolygon(vec![]),
            cells: vec![],
            joined: vec![],
        };
        let mut seed = Seed::new(Arc::new(empty), vec![]);
        for chunk in edits.chunks(7) {
            seed.add(chunk.iter().copied());
            assert!(seed.dirty.len() <= MAX_DIRTY);
        }
        let inside = |a: &Rect, b: &Rect| {
            b.min().x <= a.min().x
                && b.min().y <= a.min().y
                && b.max().x >= a.max().x
                && b.max().y >= a.max().y
        };
        for e in &edits {
            assert!(seed.dirty.iter().any(|d| inside(e, d)), "{e:?} lost");
            assert!(seed.touches(*e));
        }
        let between = Rect::new(
            Coord {
                x: 20_000.0,
                y: 0.0,
            },
            Coord {
                x: 30_000.0,
                y: 3_000.0,
            },
        );
        assert!(!seed.touches(between), "a box spans the gap");
    }

    /// A road moved 300 m: computed from the previous answer, only the
    /// cells the road's reach touches (before and after) are computed
    /// again, and the answer equals a computation from scratch.
    #[test]
    fn after_an_edit_only_the_cells_it_reached_are_computed_again() {
        let catalog = crate::testkit::sample();
        let cov = catalog.coverage.as_ref().expect("rules");
        let s = &cov.services[road(cov)];
        let sc = Scenario::Current;
        let before = cov.zone_result_in(&catalog.layers, s, sc, 40, None);
        let (next, dirty) = road_moved(&catalog, 0, 0.0, 0.0027);
        let cov2 = next.coverage.as_ref().expect("rules");
        let s2 = &cov2.services[road(cov2)];
        assert_eq!(dirty.len(), 2, "the road before and after");
        let seed = Seed::new(Arc::new(before), dirty);
        let cells = cov2.cells(&next.layers, s2, 40);
        let reused = cells
            .iter()
            .filter(|&&c| seed.reusable(c).is_some())
            .count();
        assert!(
            reused > 0 && reused < cells.len(),
            "{reused} of {}",
            cells.len()
        );
        let incremental = cov2.zone_result_in(&next.layers, s2, sc, 40, Some(&seed));
        let fresh = cov2.zone_result_in(&next.layers, s2, sc, 40, None);
        assert!(
            (incremental.covered_m2 - fresh.covered_m2).abs() <= 1e-9 * fresh.area_m2,
            "{} vs {}",
            incremental.covered_m2,
            fresh.covered_m2
        );
        let gap = |z: &ZoneResult| area::area_m2(&area::to_metric_mp(&z.gaps, &cov2.proj));
        assert!((gap(&incremental) - gap(&fresh)).abs() <= 1e-6 * fresh.area_m2);
        assert_eq!(incremental.gaps.0.len(), fresh.gaps.0.len());
        // Gap by gap (the join started from the previous joined gaps).
        let areas = |z: &ZoneResult| {
            let mut a: Vec<f64> = z
                .joined
                .iter()
                .map(|p| (area::area_m2(&MultiPolygon(vec![p.clone()])) * 1e3).round() / 1e3)
                .collect();
            a.sort_by(f64::total_cmp);
            a
        };
        let (ai, af) = (areas(&incremental), areas(&fresh));
        assert!(
            ai.iter()
                .zip(&af)
                .all(|(x, y)| (x - y).abs() <= 1e-6 * y.max(1.0)),
            "{ai:?} vs {af:?}"
        );
        // And the edit changed the answer (the test is not vacuous).
        assert_ne!(fresh.covered_m2, seed.previous.covered_m2);
    }

    /// Ten edits in a row (roads moved, each from the last answer, which
    /// was itself computed incrementally): after every one the answer
    /// equals a computation from scratch, gap by gap.
    #[test]
    fn a_chain_of_edits_keeps_the_incremental_zone_equal_to_a_fresh_one() {
        let mut catalog = crate::testkit::sample();
        let sc = Scenario::Current;
        let first = {
            let cov = catalog.coverage.as_ref().expect("rules");
            cov.zone_result_in(&catalog.layers, &cov.services[road(cov)], sc, 40, None)
        };
        let mut previous = Arc::new(first);
        let mut seed_state = 12345u64;
        for step in 0..10 {
            seed_state = seed_state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let cov = catalog.coverage.as_ref().expect("rules");
            let roads = &catalog.layers[cov.services[road(cov)].layer].layer;
            let pick = roads
                .features
                .nth_position((seed_state >> 33) as usize % roads.features.count())
                .expect("a live road");
            let dy = ((seed_state >> 12) % 600) as f64 * 1e-5 - 0.003;
            let (next, dirty) = road_moved(&catalog, pick, dy / 2.0, dy);
            let cov2 = next.coverage.as_ref().expect("rules");
            let s2 = &cov2.services[road(cov2)];
            let seed = Seed {
                previous: Arc::clone(&previous),
                dirty,
            };
            // The cells, cut from the previous ones, are those cut afresh.
            assert_eq!(
                cov2.cells_from(&next.layers, s2, 40, Some(&seed)),
                cov2.cells(&next.layers, s2, 40),
                "step {step}: cells"
            );
            let incremental = cov2.zone_result_in(&next.layers, s2, sc, 40, Some(&seed));
            let fresh = cov2.zone_result_in(&next.layers, s2, sc, 40, None);
            let areas = |z: &ZoneResult| {
                let mut a: Vec<f64> = z
                    .joined
                    .iter()
                    .map(|p| area::area_m2(&MultiPolygon(vec![p.clone()])))
                    .collect();
                a.sort_by(f64::total_cmp);
                a
            };
            let (ai, af) = (areas(&incremental), areas(&fresh));
            assert_eq!(ai.len(), af.len(), "step {step}: gap count");
            assert!(
                ai.iter()
                    .zip(&af)
                    .all(|(x, y)| (x - y).abs() <= 1e-6 * y.max(1.0)),
                "step {step}: {ai:?} vs {af:?}"
            );
            assert!((incremental.covered_m2 - fresh.covered_m2).abs() <= 1e-9 * fresh.area_m2);
            previous = Arc::new(incremental);
            catalog = next;
        }
    }

    #[test]
    fn only_the_segments_near_the_window_are_kept() {
        let g = Geometry::LineString(wkt!(LINESTRING(0. 0., 100. 0., 200. 0., 300. 0., 400. 0.)));
        let w = Rect::new(Coord { x: 150.0, y: -10.0 }, Coord { x: 160.0, y: 10.0 });
        let Geometry::MultiLineString(m) = near_window(&g, w) else {
            panic!("lines stay lines")
        };
        assert_eq!(m.0, vec![wkt!(LINESTRING(100. 0., 200. 0.))]);
    }

    #[test]
    fn gap_pieces_cut_by_a_cell_edge_are_one_polygon_again() {
        let cells = [
            Rect::new(Coord { x: 0.0, y: 0.0 }, Coord { x: 10.0, y: 10.0 }),
            Rect::new(Coord { x: 10.0, y: 0.0 }, Coord { x: 20.0, y: 10.0 }),
        ];
        let left = wkt!(POLYGON((5. 2., 10. 2., 10. 4., 5. 4., 5. 2.)));
        let right = wkt!(POLYGON((10. 2., 15. 2., 15. 4., 10. 4., 10. 2.)));
        let inner = wkt!(POLYGON((1. 6., 2. 6., 2. 7., 1. 7., 1. 6.)));
        let out = join_at_cell_edges(
            &cells,
            vec![
                (0, 0.0, vec![left, inner.clone()], false),
                (1, 0.0, vec![right], false),
            ],
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], inner);
        assert!((geo::Area::unsigned_area(&out[1]) - 20.0).abs() < 1e-9);
    }
}

//! Coverage of an area (a parcel or a site): per service, whether it can be
//! connected, to what, how far, and the share within reach, priced before
//! it is computed (`check_parcel`). Shares come from scanlines (`sweep`),
//! never polygon overlay, except for areas as big as a district.

use std::collections::BTreeMap;
use std::sync::Arc;

use geo::{BoundingRect, Coord, Geometry, MultiPolygon, Rect};

use super::{area, picked, round_share, sweep};
use super::{AreaAnswer, Coverage, Feeds, ParcelRefusal, Scenario, Service, Switch};
use crate::budget::{Deadline, Exceeded};
use crate::geodesy::{self, LocalProjection};
use crate::index::IndexedLayer;

/// The assets of one service near one region (`Coverage::near`).
pub(super) struct Near {
    /// Assets whose reach touches the region: distance (m), position,
    /// projected geometry.
    pub(super) reaching: Vec<(f64, usize, Geometry)>,
    /// The nearest eligible asset in the reach window, with its distance (m).
    pub(super) nearest: Option<(f64, usize)>,
}

impl Near {
    /// The nearest asset whose own reach includes the region.
    pub(super) fn connect(&self) -> Option<usize> {
        self.reaching
            .iter()
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|&(_, i, _)| i)
    }

    pub(super) fn positions(&self) -> Vec<usize> {
        self.reaching.iter().map(|&(_, i, _)| i).collect()
    }
}

/// An area to measure: projected shape, its lon/lat extent, the projection.
#[derive(Clone, Copy)]
pub(super) struct Region<'a> {
    pub(super) shape: &'a MultiPolygon,
    /// The shape's parts, indexed for distances.
    pub(super) parts: &'a area::Parts<'a>,
    pub(super) bbox: Rect,
    pub(super) proj: &'a LocalProjection,
}

/// Largest cost (`parcel_cost`) a parcel request may have. Calibrated, when
/// every parcel went through buffers and overlay, on a 10,000-vertex star
/// over the sample (cost 85M, 4 s on one core: its spikes cross every buffer
/// boundary) and zone-sized rectangles over the 1M-segment city (cost 100M,
/// about 5 s), so the costliest accepted parcel stays under the default 10 s
/// deadline. Shares by scanlines made the star 1.7 s; the 37.6 km square
/// (overlay above `SWEEP_MAX_CAPSULES`) takes 5.1 s; `benches/queries.rs`
/// measures both.
pub const MAX_PARCEL_COST: u64 = 100_000_000;

/// Above this many asset segments near a region, its area within reach is
/// measured by overlay, not scanlines: rows (one per capsule end at least)
/// times the capsules each row crosses grow faster than the overlay. The
/// costliest accepted parcel on the 1M-segment city (a 37.6 km square,
/// about 600,000 candidate vertices) took 6.8 s by scanlines, 4.1 s by
/// overlay; a 200 m parcel (tens of segments) takes 80 µs by scanlines,
/// 1.5 ms by overlay (`cargo bench --bench queries`).
const SWEEP_MAX_CAPSULES: usize = 5_000;

/// Weight of a parcel vertex against a candidate asset vertex: distances
/// and the overlay's crossings grow with their product.
const PARCEL_VERTEX_WEIGHT: u64 = 7;

/// Buffer vertices per asset vertex (126-segment circles): what a candidate
/// costs to buffer and union even against a 4-vertex parcel.
const BUFFER_WEIGHT: u64 = 130;

impl Coverage {
    /// The lon/lat window in which assets can reach a region: its extent
    /// grown by the service's largest reach (plus 1%).
    pub(super) fn reach_window(&self, s: &Service, bbox: Rect) -> Rect {
        geodesy::grow_box_m(bbox, s.max_reach)
    }

    /// The assets of a service near a region: those whose reach touches
    /// it (with their projected geometry) and the nearest eligible one in
    /// the reach window, with distances in metres.
    pub(super) fn near(
        &self,
        layers: &[Arc<IndexedLayer>],
        s: &Service,
        sc: Scenario,
        off: Option<Switch>,
        region: &Region,
        deadline: &Deadline,
    ) -> Result<Near, Exceeded> {
        let grown = self.reach_window(s, region.bbox);
        let limit = s.max_reach * 1.01;
        let layer = &layers[s.layer];
        let mut near = Near {
            reaching: Vec::new(),
            nearest: None,
        };
        for (n, i) in layer.envelope_candidates(grown).into_iter().enumerate() {
            if n % 64 == 0 {
                deadline.check()?;
            }
            if !self.on(s, sc, off, i) {
                continue;
            }
            let g = area::to_metric(&layer.layer.features[i].geometry, region.proj);
            // Beyond the largest reach from every part: neither reaching
            // nor reported as nearest.
            let Some(d) = region.parts.distance_within(&g, limit) else {
                continue;
            };
            if near.nearest.is_none_or(|(best, _)| d < best) {
                near.nearest = Some((d, i));
            }
            if d <= s.reach[i] {
                near.reaching.push((d, i, g));
            }
        }
        deadline.check()?;
        if near.nearest.is_none() {
            near.nearest = self.nearest_beyond(layers, s, sc, off, region, deadline)?;
        }
        Ok(near)
    }

    /// The nearest eligible asset to a region when none lies within the
    /// service's largest reach ("the nearest park is 1.8 km away"): the `k`
    /// nearest to the region's centre, `k` growing, until the `k`-th is so
    /// far from the centre that no asset beyond it can be nearer to the
    /// region than the best found (an asset's distance to the region is at
    /// least its distance to the centre less the region's radius).
    fn nearest_beyond(
        &self,
        layers: &[Arc<IndexedLayer>],
        s: &Service,
        sc: Scenario,
        off: Option<Switch>,
        region: &Region,
        deadline: &Deadline,
    ) -> Result<Option<(f64, usize)>, Exceeded> {
        let layer = &layers[s.layer];
        let centre = region.bbox.center();
        let radius = [region.bbox.min(), region.bbox.max()]
            .iter()
            .flat_map(|a| {
                [
                    *a,
                    Coord {
                        x: a.x,
                        y: centre.y * 2.0 - a.y,
                    },
                ]
            })
            .map(|c| geodesy::distance_m(centre, c))
            .fold(0.0, f64::max);
        let keep = |i: usize| self.on(s, sc, off, i);
        let mut k = 8;
        loop {
            deadline.check()?;
            let hits = layer.nearest_where(centre, k, keep);
            let mut best: Option<(f64, usize)> = None;
            for h in &hits {
                let g = area::to_metric(&layer.layer.features[h.feature].geometry, region.proj);
                if let Some(d) = region.parts.distance_within(&g, f64::INFINITY) {
                    if best.is_none_or(|(b, _)| d < b) {
                        best = Some((d, h.feature));
                    }
                }
            }
            let exhausted = hits.len() < k;
            // 1% slack for the two projections' differences in scale.
            let beyond = hits.last().map_or(0.0, |h| h.distance_m * 0.99 - radius);
            if exhausted || best.is_some_and(|(b, _)| b <= beyond) {
                return Ok(best);
            }
            k *= 4;
        }
    }

    /// `near` for a lon/lat (multi)polygon, in its own local projection.
    pub(super) fn near_parcel(
        &self,
        layers: &[Arc<IndexedLayer>],
        s: &Service,
        sc: Scenario,
        parcel: &MultiPolygon,
        deadline: &Deadline,
    ) -> Result<Near, Exceeded> {
        let Some(bbox) = parcel.bounding_rect() else {
            return Ok(Near {
                reaching: vec![],
                nearest: None,
            });
        };
        let proj = LocalProjection::new(bbox.center());
        let region = area::to_metric_mp(parcel, &proj);
        let parts = area::Parts::new(&region);
        let whole = Region {
            shape: &region,
            parts: &parts,
            bbox,
            proj: &proj,
        };
        self.near(layers, s, sc, None, &whole, deadline)
    }

    /// The part of a region within reach (projected), by buffers and
    /// overlay: for gap polygons, where the shape itself is the answer.
    pub(super) fn covered_shape(
        s: &Service,
        reaching: impl IntoIterator<Item = (usize, Geometry)>,
        region: &MultiPolygon,
        deadline: &Deadline,
    ) -> Result<MultiPolygon, Exceeded> {
        Self::covered_shape_by(s, reaching, region, 0.0, deadline)
    }

    /// `covered_shape` with every reach `extra` metres longer.
    pub(super) fn covered_shape_by(
        s: &Service,
        reaching: impl IntoIterator<Item = (usize, Geometry)>,
        region: &MultiPolygon,
        extra: f64,
        deadline: &Deadline,
    ) -> Result<MultiPolygon, Exceeded> {
        let mut by_reach: BTreeMap<u64, Vec<Geometry>> = BTreeMap::new();
        for (i, g) in reaching {
            by_reach
                .entry((s.reach[i] + extra).to_bits())
                .or_default()
                .push(g);
        }
        // One buffer per distinct reach: i_overlay unions within a call.
        let mut parts = Vec::with_capacity(by_reach.len());
        for (r, gs) in by_reach {
            parts.push(area::buffer_all(&gs, f64::from_bits(r)));
            deadline.check()?;
        }
        let reach_area = area::union_all(&parts);
        deadline.check()?;
        Ok(area::intersection(&reach_area, region))
    }

    /// The area (m²) of a region within reach, without overlay: none when
    /// nothing reaches it, all of it when one asset segment's reach holds
    /// its convex hull, else by scanlines (`sweep`).
    pub(super) fn covered_area(
        s: &Service,
        near: &Near,
        region: &Region,
        (hull, total): (&[Coord], f64),
        deadline: &Deadline,
    ) -> Result<f64, Exceeded> {
        if near.reaching.is_empty() {
            return Ok(0.0);
        }
        let Some(window) = region.shape.bounding_rect() else {
            return Ok(0.0);
        };
        let mut reach = sweep::Reach::new(window);
        for (_, i, g) in &near.reaching {
            reach.add(g, s.reach[*i]);
        }
        if reach.one_covers(hull) || reach.covers(region.shape) {
            return Ok(total);
        }
        if reach.capsules() > SWEEP_MAX_CAPSULES {
            // A region as big as a district: every capsule end is a slab
            // edge, and rows times capsules outgrow the overlay's cost.
            let reaching = near.reaching.iter().map(|(_, i, g)| (*i, g.clone()));
            let shape = Self::covered_shape(s, reaching, region.shape, deadline)?;
            return Ok(area::area_m2(&shape).min(total));
        }
        Ok(reach.area_within(region.shape, deadline)?.min(total))
    }

    /// The cost of a parcel request before computing it: the parcel's
    /// vertices (weighted) plus a buffer's, times the vertices of every
    /// candidate asset of every service within reach of its extent.
    /// Distances and overlay crossings grow with parcel × asset vertices,
    /// buffers and their union with ~130 × asset vertices.
    pub fn parcel_cost(
        &self,
        layers: &[Arc<IndexedLayer>],
        parcel: &MultiPolygon,
        only: Option<&[&str]>,
    ) -> (usize, usize, u64) {
        let Some(bbox) = parcel.bounding_rect() else {
            return (0, 0, 0);
        };
        let vertices: usize = parcel
            .0
            .iter()
            .map(|p| p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>())
            .sum();
        let mut candidates = 0usize;
        for s in self.services.iter().filter(|s| picked(only, s.name)) {
            let layer = &layers[s.layer];
            for i in layer.envelope_candidates(self.reach_window(s, bbox)) {
                candidates += geo::CoordsIter::coords_count(&layer.layer.features[i].geometry);
            }
        }
        let cost = (vertices as u64 * PARCEL_VERTEX_WEIGHT + BUFFER_WEIGHT)
            .saturating_mul(candidates as u64);
        (vertices, candidates, cost)
    }

    /// Refuse a parcel the method cannot compute accurately or cheaply
    /// enough, before spending anything on it; its cost when accepted.
    pub fn check_parcel(
        &self,
        layers: &[Arc<IndexedLayer>],
        parcel: &MultiPolygon,
        only: Option<&[&str]>,
    ) -> Result<u64, ParcelRefusal> {
        if let Some(b) = parcel.bounding_rect() {
            let (kx, ky) = geodesy::metres_per_degree(b.center().y);
            let across_m = (b.width() * kx).max(b.height() * ky);
            if across_m > geodesy::MAX_EXTENT_M {
                return Err(ParcelRefusal::TooWide {
                    across_m,
                    max_m: geodesy::MAX_EXTENT_M,
                });
            }
        }
        let (vertices, candidates, cost) = self.parcel_cost(layers, parcel, only);
        if cost > MAX_PARCEL_COST {
            return Err(ParcelRefusal::TooCostly {
                vertices,
                candidates,
                cost,
                max: MAX_PARCEL_COST,
            });
        }
        Ok(cost)
    }

    /// Coverage of a lon/lat (multi)polygon, per service (those `only`
    /// names, or all). Callers check it with `check_parcel` first when it
    /// comes from a client.
    pub fn parcel(
        &self,
        layers: &[Arc<IndexedLayer>],
        parcel: &MultiPolygon,
        sc: Scenario,
        off: Option<Switch>,
        only: Option<&[&str]>,
        deadline: &Deadline,
    ) -> Result<(f64, Vec<AreaAnswer>), Exceeded> {
        self.area_answers(layers, parcel, None, sc, off, only, deadline)
    }

    /// `parcel`, for a site (its position) or any parcel: a site with its
    /// own connections in a service's network is supplied through them.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn area_answers(
        &self,
        layers: &[Arc<IndexedLayer>],
        parcel: &MultiPolygon,
        site: Option<usize>,
        sc: Scenario,
        off: Option<Switch>,
        only: Option<&[&str]>,
        deadline: &Deadline,
    ) -> Result<(f64, Vec<AreaAnswer>), Exceeded> {
        let Some(bbox) = parcel.bounding_rect() else {
            return Ok((0.0, vec![]));
        };
        let proj = LocalProjection::new(bbox.center());
        let region = area::to_metric_mp(parcel, &proj);
        let total = area::area_m2(&region);
        let parts = area::Parts::new(&region);
        let hull = sweep::hull_vertices(&region);
        let whole = Region {
            shape: &region,
            parts: &parts,
            bbox,
            proj: &proj,
        };
        let mut answers = Vec::with_capacity(self.services.len());
        for s in self.services.iter().filter(|s| picked(only, s.name)) {
            let near = self.near(layers, s, sc, off, &whole, deadline)?;
            let covered_m2 = Self::covered_area(s, &near, &whole, (&hull, total), deadline)?;
            let connect = near.connect();
            let reaching = near.positions();
            answers.push(AreaAnswer {
                service: s.name,
                connectable: connect.is_some(),
                distance_m: near.nearest.map(|(d, _)| (d * 100.0).round() / 100.0),
                connect_to: connect.map(|i| self.asset(layers, s.layer, i)),
                covered_m2: covered_m2.round(),
                share: if total > 0.0 {
                    round_share(covered_m2 / total)
                } else {
                    0.0
                },
                reach_m: connect.map_or(s.default_reach, |i| s.reach[i]),
                assets: reaching
                    .iter()
                    .map(|&i| self.asset(layers, s.layer, i))
                    .collect(),
                supply: {
                    let links = site.and_then(|site| Self::links_of(s, sc, site));
                    let feeds = links.map_or_else(|| Feeds::Assets(reaching.clone()), Feeds::Links);
                    self.supply(layers, s, sc, off, &feeds)
                },
            });
        }
        Ok((total, answers))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit;
    use geo::{Polygon, Rotate};

    /// The fast paths (nothing reaches: 0; one segment holds the hull, or
    /// cells prove the whole region within reach: all) and the scanline
    /// area agree with buffers and overlay, the way zone
    /// gaps are still computed, on random parcels over the sample.
    #[test]
    pub(super) fn area_paths_agree_with_the_overlay_on_random_parcels() {
        let catalog = testkit::sample();
        let cov = catalog.coverage.as_ref().expect("rules");
        let layers = &catalog.layers;
        let mut rnd = testkit::rng(99);
        let none = Deadline::none();
        let mut paths = [0usize; 4];
        for n in 0..150 {
            let (lon, lat) = (113.49 + rnd() * 0.09, 34.665 + rnd() * 0.055);
            let (kx, ky) = geodesy::metres_per_degree(lat);
            let (w, h) = (10.0 + rnd() * 800.0, 10.0 + rnd() * 800.0);
            let rect = Rect::new(
                Coord { x: lon, y: lat },
                Coord {
                    x: lon + w / kx,
                    y: lat + h / ky,
                },
            );
            let mut p: Polygon = rect.to_polygon().rotate_around_centroid(rnd() * 90.0);
            if n % 3 == 0 {
                // A triangle: not every parcel is a rectangle.
                let mut ring = p.exterior().0.clone();
                ring.remove(1);
                p = Polygon::new(geo::LineString(ring), vec![]);
            }
            let parcel = MultiPolygon(vec![p]);
            let bbox = parcel.bounding_rect().expect("extent");
            let proj = LocalProjection::new(bbox.center());
            let region = area::to_metric_mp(&parcel, &proj);
            let parts = area::Parts::new(&region);
            let whole = Region {
                shape: &region,
                parts: &parts,
                bbox,
                proj: &proj,
            };
            let hull = sweep::hull_vertices(&region);
            let total = area::area_m2(&region);
            for sc in Scenario::ALL {
                for s in &cov.services {
                    let near = cov.near(layers, s, sc, None, &whole, &none).unwrap();
                    let fast =
                        Coverage::covered_area(s, &near, &whole, (&hull, total), &none).unwrap();
                    let path = if near.reaching.is_empty() {
                        0
                    } else {
                        let mut reach = sweep::Reach::new(region.bounding_rect().unwrap());
                        for (_, i, g) in &near.reaching {
                            reach.add(g, s.reach[*i]);
                        }
                        if reach.one_covers(&hull) {
                            1
                        } else if reach.covers(&region) {
                            2
                        } else {
                            3
                        }
                    };
                    paths[path] += 1;
                    let reaching = near.reaching.into_iter().map(|(_, i, g)| (i, g));
                    let shape = Coverage::covered_shape(s, reaching, &region, &none).unwrap();
                    let slow = area::area_m2(&shape).min(total);
                    // The overlay's 126-gons fall short of the circles by up
                    // to their sagitta, r(1 - cos 0.025), along the covered
                    // part's boundary.
                    let sagitta = s.max_reach * (1.0 - 0.025f64.cos());
                    let boundary: f64 = shape
                        .iter()
                        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
                        .map(|r| geo::Length::length(&geo::Euclidean, r))
                        .sum();
                    let tol = 0.0005 * total + 1.0 + sagitta * boundary;
                    assert!(
                        (fast - slow).abs() <= tol,
                        "parcel {n} {} ({sc:?}) path {path}: {fast} vs {slow} of {total}",
                        s.name
                    );
                }
            }
        }
        assert!(paths.iter().all(|&k| k >= 50), "paths taken: {paths:?}");
    }
}

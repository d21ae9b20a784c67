//! Where can a new plant go? The parts of the zone within reach of every
//! service it needs, minus the land already taken (sites, parks, water),
//! and road reserves, in pieces large enough, each with the assets that
//! would serve it.
//!
//! "Within reach" holds for every point of the land, as the zone gaps say;
//! `extra_m` accepts that many metres of connection beyond each reach (every
//! reach that much longer, over the whole zone: not cached, bounded by the
//! deadline), for a plant that lays its own branch.
//! The served part of the zone is the zone minus each service's gaps (the
//! cached zone results), so a question costs a few overlays, not a fresh
//! coverage computation. A `fit` test asks whether a w × d rectangle fits
//! inside a piece in some orientation, tried every `FIT_STEP_DEG` degrees:
//! for one orientation, the centres where it fits are the piece minus every
//! boundary edge swept by the rectangle (a hexagon per edge), so it fits
//! when that set keeps some area.
//!
//! Must not: know about HTTP.

use std::collections::BTreeMap;
use std::sync::Arc;

use geo::{Area, BoundingRect, Coord, Geometry, MultiPolygon, Polygon, Rotate};
use serde::Serialize;

use super::{area, polygons_of, AssetRef, Coverage, Scenario, Service};
use crate::budget::{Deadline, Exceeded};
use crate::index::IndexedLayer;

/// Orientations a `fit` rectangle is tried in: every 5° over a half turn.
pub const FIT_STEP_DEG: f64 = 5.0;

/// The land taken unless a question says otherwise, where these
/// collections exist: site, park and water polygons, and road reserves.
pub const DEFAULT_EXCLUDE: [&str; 4] = ["sites", "parks", "water", "roads"];

/// The width of a line's reserve where it states no `width_m`.
pub const DEFAULT_RESERVE_M: f64 = 20.0;

/// Largest overlay a site-finder question may ask for, in vertices: every
/// gap polygon's, every excluded feature's (a line's buffer weighs
/// `BUFFER_WEIGHT` per vertex) and, with `extra_m`, every asset's buffer.
/// The question is zone-wide and, unlike the zone results, not cut into
/// cells: above this (a city's road reserves, some 500 MB of overlay) it is
/// refused before anything is computed.
pub const MAX_SUITABLE_COST: u64 = 4_000_000;

/// Buffer vertices per line vertex (126-segment ends and joins, as the
/// parcel pricing counts them).
const BUFFER_WEIGHT: u64 = 130;

/// Pieces below this are the overlay's arithmetic noise, not land.
const SPECK_M2: f64 = 1.0;

/// A site-finder question.
#[derive(Debug, Clone)]
pub struct Question<'a> {
    pub services: Vec<&'a str>,
    pub scenario: Scenario,
    pub min_area_m2: f64,
    /// Layers (positions) whose features are taken land: polygons as they
    /// are, lines (roads) as their reserve, `width_m` wide (else
    /// `DEFAULT_RESERVE_M`).
    pub exclude: Vec<usize>,
    /// A rectangle (width, depth in metres) that must fit in a piece.
    pub fit: Option<(f64, f64)>,
    /// Metres of connection accepted beyond each service's reach (a plant
    /// may lay a longer branch): the served land grown by this much.
    pub extra_m: f64,
}

/// One service's nearest serving asset for a piece.
#[derive(Debug, Clone, Serialize)]
pub struct Serving {
    pub service: &'static str,
    pub asset: Option<AssetRef>,
    /// Metres from the piece to it (0 when it lies inside or crosses it).
    pub distance_m: Option<f64>,
}

/// One piece of suitable land.
#[derive(Debug, Clone)]
pub struct Piece {
    /// Lon/lat.
    pub polygon: Polygon,
    pub area_m2: f64,
    pub serving: Vec<Serving>,
}

/// The answer: pieces largest first, and the whole suitable area (pieces
/// under the minimum included).
#[derive(Debug, Clone)]
pub struct Suitable {
    pub pieces: Vec<Piece>,
    pub total_m2: f64,
}

impl Coverage {
    /// Answer a site-finder question. Every service named must exist (the
    /// caller checks); zone results are computed if not cached.
    pub fn suitable(
        &self,
        layers: &[Arc<IndexedLayer>],
        q: &Question,
        deadline: &Deadline,
    ) -> Result<Suitable, Exceeded> {
        // Taken: every service's gaps and every excluded feature.
        let mut taken = Vec::new();
        for s in self
            .services
            .iter()
            .filter(|s| q.services.contains(&s.name))
        {
            if q.extra_m > 0.0 {
                taken.push(self.unreached(layers, s, q.scenario, q.extra_m, deadline)?);
            } else if let Some(z) = self.zone(layers, s.name, q.scenario) {
                taken.push(area::to_metric_mp(&z.gaps, &self.proj));
            }
            deadline.check()?;
        }
        for &l in &q.exclude {
            taken.push(self.taken_by(&layers[l], deadline)?);
        }
        let taken = area::union_all(&taken);
        deadline.check()?;
        let free = area::difference(&self.zone_metric, &taken);
        deadline.check()?;
        let mut total_m2 = 0.0;
        let mut pieces = Vec::new();
        for p in free.0 {
            let a = p.unsigned_area();
            if a < SPECK_M2 {
                continue;
            }
            total_m2 += a;
            if a < q.min_area_m2 {
                continue;
            }
            if let Some((w, d)) = q.fit {
                if !fits_rectangle(&p, w, d, deadline)? {
                    continue;
                }
            }
            let lonlat = area::to_lonlat(&MultiPolygon(vec![p]), &self.proj);
            let Some(polygon) = lonlat.0.into_iter().next() else {
                continue;
            };
            let serving = self.serving(layers, q, &polygon, deadline)?;
            pieces.push(Piece {
                polygon,
                area_m2: a,
                serving,
            });
        }
        pieces.sort_by(|a, b| b.area_m2.total_cmp(&a.area_m2));
        Ok(Suitable { pieces, total_m2 })
    }

    /// What a question would cost to overlay (see `MAX_SUITABLE_COST`),
    /// counted from vertex counts alone. Zone results not yet computed are
    /// counted as nothing (the caller computes them first).
    pub fn suitable_cost(&self, layers: &[Arc<IndexedLayer>], q: &Question) -> u64 {
        let vertices = |g: &Geometry| geo::CoordsIter::coords_count(g) as u64;
        let mut cost = 0u64;
        for s in self
            .services
            .iter()
            .filter(|s| q.services.contains(&s.name))
        {
            if q.extra_m > 0.0 {
                let layer = &layers[s.layer];
                cost += layer
                    .layer
                    .features
                    .indexed()
                    .filter(|(i, _)| s.eligible[q.scenario.at()][*i])
                    .map(|(_, f)| vertices(&f.geometry) * BUFFER_WEIGHT)
                    .sum::<u64>();
            } else if let Some(z) = self.zone(layers, s.name, q.scenario) {
                cost += geo::CoordsIter::coords_count(&z.gaps) as u64;
            }
        }
        for &l in &q.exclude {
            cost += layers[l]
                .layer
                .features
                .live()
                .map(|f| match f.geometry {
                    Geometry::LineString(_) | Geometry::MultiLineString(_) => {
                        vertices(&f.geometry) * BUFFER_WEIGHT
                    }
                    _ => vertices(&f.geometry),
                })
                .sum::<u64>();
        }
        cost
    }

    /// The zone (metric) beyond every eligible asset's reach plus `extra`
    /// metres: buffers and overlay over the whole zone, as the oracle
    /// computes it (growing the cached covered part instead would grow the
    /// overlay's specks and slivers into discs).
    fn unreached(
        &self,
        layers: &[Arc<IndexedLayer>],
        s: &Service,
        sc: Scenario,
        extra: f64,
        deadline: &Deadline,
    ) -> Result<MultiPolygon, Exceeded> {
        let layer = &layers[s.layer];
        let Some(z) = self.zone.bounding_rect() else {
            return Ok(MultiPolygon(vec![]));
        };
        let window = crate::geodesy::grow_box_m(z, s.max_reach + extra);
        let assets: Vec<(usize, Geometry)> = layer
            .envelope_candidates(window)
            .into_iter()
            .filter(|&i| s.eligible[sc.at()][i])
            .map(|i| {
                (
                    i,
                    area::to_metric(&layer.layer.features[i].geometry, &self.proj),
                )
            })
            .collect();
        let served = Self::covered_shape_by(s, assets, &self.zone_metric, extra, deadline)?;
        Ok(area::difference(&self.zone_metric, &served))
    }

    /// The land a layer's features take (metric): polygons as they are,
    /// lines buffered by half their reserve width, grouped by width so
    /// each group is one buffer.
    fn taken_by(
        &self,
        layer: &IndexedLayer,
        deadline: &Deadline,
    ) -> Result<MultiPolygon, Exceeded> {
        let mut polys = Vec::new();
        let mut lines: BTreeMap<u64, Vec<Geometry>> = BTreeMap::new();
        for f in layer.layer.features.live() {
            match &f.geometry {
                Geometry::Polygon(_) | Geometry::MultiPolygon(_) => {
                    polys.extend(polygons_of(&f.geometry))
                }
                Geometry::LineString(_) | Geometry::MultiLineString(_) => {
                    let w = f
                        .properties
                        .get("width_m")
                        .and_then(serde_json::Value::as_f64)
                        .filter(|w| w.is_finite() && *w > 0.0)
                        .unwrap_or(DEFAULT_RESERVE_M);
                    lines
                        .entry((w / 2.0).to_bits())
                        .or_default()
                        .push(area::to_metric(&f.geometry, &self.proj));
                }
                _ => {}
            }
        }
        let mut parts = vec![area::to_metric_mp(&MultiPolygon(polys), &self.proj)];
        for (half, gs) in lines {
            parts.push(area::buffer_all(&gs, f64::from_bits(half)));
            deadline.check()?;
        }
        Ok(area::union_all(&parts))
    }

    /// Each asked service's nearest asset whose reach includes the piece.
    fn serving(
        &self,
        layers: &[Arc<IndexedLayer>],
        q: &Question,
        piece: &Polygon,
        deadline: &Deadline,
    ) -> Result<Vec<Serving>, Exceeded> {
        let parcel = MultiPolygon(vec![piece.clone()]);
        let mut out = Vec::new();
        for s in self
            .services
            .iter()
            .filter(|s| q.services.contains(&s.name))
        {
            let near = self.near_parcel(layers, s, q.scenario, &parcel, deadline)?;
            // The nearest asset whose reach includes the piece; with extra
            // metres accepted, else the nearest one (within the largest
            // reach of the piece).
            let best = near
                .reaching
                .iter()
                .min_by(|a, b| a.0.total_cmp(&b.0))
                .map(|&(d, i, _)| (d, i))
                .or(near.nearest.filter(|_| q.extra_m > 0.0));
            out.push(Serving {
                service: s.name,
                asset: best.map(|(_, i)| self.asset(layers, s.layer, i)),
                distance_m: best.map(|(d, _)| (d * 100.0).round() / 100.0),
            });
        }
        Ok(out)
    }
}

/// Whether a `w` × `d` metre rectangle fits inside a metric polygon in some
/// orientation (tried every `FIT_STEP_DEG`).
pub fn fits_rectangle(p: &Polygon, w: f64, d: f64, deadline: &Deadline) -> Result<bool, Exceeded> {
    if area::area_m2(&MultiPolygon(vec![p.clone()])) < w * d {
        return Ok(false);
    }
    let origin = geo::Point::new(0.0, 0.0);
    let steps = (180.0 / FIT_STEP_DEG).round() as usize;
    let (hw, hd) = (w / 2.0, d / 2.0);
    let corners = [(-hw, -hd), (hw, -hd), (hw, hd), (-hw, hd)];
    for k in 0..steps {
        deadline.check()?;
        // Turn the piece instead of the rectangle.
        let turned = p.rotate_around_point(-(k as f64) * FIT_STEP_DEG, origin);
        let mut swept = Vec::new();
        for ring in std::iter::once(turned.exterior()).chain(turned.interiors()) {
            for e in ring.lines() {
                let pts: Vec<Coord> = [e.start, e.end]
                    .iter()
                    .flat_map(|c| {
                        corners.iter().map(move |(x, y)| Coord {
                            x: c.x + x,
                            y: c.y + y,
                        })
                    })
                    .collect();
                let hull = geo::ConvexHull::convex_hull(&geo::MultiPoint::from(pts));
                swept.push(MultiPolygon(vec![hull]));
            }
        }
        let bad = area::union_all(&swept);
        let centres = area::difference(&MultiPolygon(vec![turned]), &bad);
        if area::area_m2(&centres) > 1e-3 {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::Rect;

    fn rect(w: f64, h: f64) -> Polygon {
        Rect::new(Coord { x: 0.0, y: 0.0 }, Coord { x: w, y: h }).to_polygon()
    }

    #[test]
    fn a_rectangle_fits_where_it_should_and_turned_when_it_must() {
        let none = Deadline::none();
        // 300 x 200 holds 250 x 150 and, turned, 150 x 250; not 310 x 100.
        assert!(fits_rectangle(&rect(300.0, 200.0), 250.0, 150.0, &none).unwrap());
        assert!(fits_rectangle(&rect(300.0, 200.0), 150.0, 250.0, &none).unwrap());
        assert!(!fits_rectangle(&rect(300.0, 200.0), 310.0, 100.0, &none).unwrap());
        // A long thin diagonal strip holds a long rectangle only turned:
        // 1000 x 40 turned by 35°.
        let strip = rect(1000.0, 40.0).rotate_around_point(35.0, geo::Point::new(0.0, 0.0));
        assert!(fits_rectangle(&strip, 900.0, 35.0, &none).unwrap());
        assert!(!fits_rectangle(&strip, 200.0, 60.0, &none).unwrap());
        // A square ring (a 100 m hole in a 300 m square) has the area for a
        // 250 x 250 square but not the room.
        let ring = Polygon::new(
            rect(300.0, 300.0).exterior().clone(),
            vec![
                Rect::new(Coord { x: 100.0, y: 100.0 }, Coord { x: 200.0, y: 200.0 })
                    .to_polygon()
                    .exterior()
                    .clone(),
            ],
        );
        assert!(!fits_rectangle(&ring, 250.0, 250.0, &none).unwrap());
        assert!(fits_rectangle(&ring, 290.0, 90.0, &none).unwrap());
    }
}

#[cfg(test)]
mod cost_tests {
    use super::*;

    fn question<'a>(catalog: &crate::catalog::Catalog, extra_m: f64) -> Question<'a> {
        Question {
            services: vec!["water", "gas", "steam", "power", "road"],
            scenario: Scenario::Current,
            min_area_m2: 80_000.0,
            exclude: DEFAULT_EXCLUDE
                .iter()
                .filter_map(|id| catalog.layer_position(id))
                .collect(),
            fit: None,
            extra_m,
        }
    }

    /// The sample's questions are well under the bound; a city's road
    /// reserves (a synthetic 200,000-segment city, 100,000 of them roads)
    /// are over it, counted by hand: every road vertex times the buffer
    /// weight.
    #[test]
    fn the_sample_is_cheap_and_a_citys_road_reserves_are_refused() {
        let sample = crate::testkit::sample();
        let cov = sample.coverage.as_ref().unwrap();
        for extra in [0.0, 200.0] {
            let cost = cov.suitable_cost(&sample.layers, &question(&sample, extra));
            assert!(
                cost > 0 && cost < MAX_SUITABLE_COST / 10,
                "sample, extra {extra}: {cost}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        crate::synth::write(dir.path(), 200_000, 7).unwrap();
        let city = crate::testkit::open_folder(dir.path());
        let cov = city.coverage.as_ref().unwrap();
        let roads = city.layer("roads").unwrap();
        let road_vertices: u64 = roads
            .layer
            .features
            .live()
            .map(|f| geo::CoordsIter::coords_count(&f.geometry) as u64)
            .sum();
        let q = Question {
            services: vec![],
            exclude: vec![city.layer_position("roads").unwrap()],
            ..question(&city, 0.0)
        };
        assert_eq!(
            cov.suitable_cost(&city.layers, &q),
            road_vertices * BUFFER_WEIGHT
        );
        assert!(
            road_vertices * BUFFER_WEIGHT > MAX_SUITABLE_COST,
            "{road_vertices}"
        );
    }
}

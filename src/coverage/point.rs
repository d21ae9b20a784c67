//! Coverage at a point: per service, whether it is within reach, of which
//! asset, how far, and the sources feeding it.

use std::sync::Arc;

use geo::Coord;

use super::{Coverage, Feeds, PointAnswer, Scenario, Supply, Switch};
use crate::index::IndexedLayer;

impl Coverage {
    /// Every service's answer at a lon/lat point.
    pub fn at_point(
        &self,
        layers: &[Arc<IndexedLayer>],
        q: Coord,
        sc: Scenario,
        off: Option<Switch>,
    ) -> Vec<PointAnswer> {
        self.services
            .iter()
            .map(|s| {
                let layer = &layers[s.layer];
                let keep = |i: usize| self.on(s, sc, off, i);
                // Serving: the nearest asset whose own reach includes q.
                // When the nearest asset's reach includes q, it is that
                // one; when it is beyond the largest reach, none is. Only
                // in between (reaches that differ by asset) are the other
                // assets within reach looked at.
                let nearest = layer.nearest_where(q, 1, keep).into_iter().next();
                let serving = match nearest {
                    Some(h) if h.distance_m <= s.reach[h.feature] => Some(h),
                    Some(h) if h.distance_m <= s.max_reach => layer
                        .within_where(q, s.max_reach, keep)
                        .into_iter()
                        .find(|h| h.distance_m <= s.reach[h.feature]),
                    _ => None,
                };
                let (hit, covered) = match serving {
                    Some(h) => (Some(h), true),
                    None => (nearest, false),
                };
                let supply = match (&s.network, hit) {
                    (Some(_), Some(h)) if covered => {
                        self.supply(layers, s, sc, off, &Feeds::Assets(vec![h.feature]))
                    }
                    (Some(_), _) => Some(Supply {
                        sources: vec![],
                        redundant: false,
                    }),
                    (None, _) => None,
                };
                PointAnswer {
                    service: s.name,
                    covered,
                    distance_m: hit.map(|h| (h.distance_m * 100.0).round() / 100.0),
                    reach_m: hit.map_or(s.default_reach, |h| s.reach[h.feature]),
                    nearest: hit.map(|h| self.asset(layers, s.layer, h.feature)),
                    supply,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geodesy;
    use crate::testkit;

    /// A point's serving asset, found from the nearest asset first, is the
    /// nearest of those whose own reach includes the point, as a scan of
    /// every asset within the largest reach finds it (power's reaches
    /// differ by substation, so all three cases occur).
    #[test]
    pub(super) fn the_serving_asset_is_the_nearest_whose_reach_includes_the_point() {
        let catalog = testkit::sample();
        let cov = catalog.coverage.as_ref().expect("rules");
        let layers = &catalog.layers;
        let mut rnd = testkit::rng(5);
        let mut cases = [0usize; 3];
        // Random points over the zone, and points just beyond each power
        // asset's own reach, where a larger substation may serve instead.
        let mut points: Vec<Coord> = (0..300)
            .map(|_| Coord {
                x: 113.47 + rnd() * 0.13,
                y: 34.65 + rnd() * 0.09,
            })
            .collect();
        let power = cov
            .services
            .iter()
            .find(|s| s.name == "power")
            .expect("power");
        for (i, f) in layers[power.layer].layer.features.indexed() {
            let Some(c) = geo::Centroid::centroid(&f.geometry) else {
                continue;
            };
            let (kx, ky) = geodesy::metres_per_degree(c.y());
            let d = power.reach[i] + 100.0;
            for k in 0..8 {
                let a = k as f64 * std::f64::consts::FRAC_PI_4;
                points.push(Coord {
                    x: c.x() + d * a.cos() / kx,
                    y: c.y() + d * a.sin() / ky,
                });
            }
        }
        for q in points {
            for sc in Scenario::ALL {
                let answers = cov.at_point(layers, q, sc, None);
                for (s, a) in cov.services.iter().zip(&answers) {
                    let keep = |i: usize| cov.on(s, sc, None, i);
                    let scan = layers[s.layer].within_where(q, s.max_reach, keep);
                    let want = scan.iter().find(|h| h.distance_m <= s.reach[h.feature]);
                    assert_eq!(a.covered, want.is_some(), "{} at {q:?}", s.name);
                    if let Some(h) = want {
                        let id = &layers[s.layer].layer.features[h.feature].id;
                        assert_eq!(a.nearest.as_ref().map(|n| &n.id), Some(id));
                        let nearest_serves = scan[0].feature == h.feature;
                        cases[usize::from(!nearest_serves)] += 1;
                    } else {
                        cases[2] += 1;
                    }
                }
            }
        }
        assert!(cases.iter().all(|&k| k > 0), "cases: {cases:?}");
    }
}

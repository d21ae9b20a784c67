//! Coverage answers against independent oracles:
//! - distances at random points against a brute-force scan of every asset
//!   with geo's Karney geodesic distance (not our ruler);
//!
//! Parcel and zone shares against shapely + pyproj are in `tests/tools.rs`
//! (they need Python).

mod common;

use common::{file_features, geodata, get};
use geo::{Closest, Contains, Distance, Geodesic, Geometry, HaversineClosestPoint, Point};
use serde_json::Value;

fn rng(seed: &mut u64) -> f64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*seed >> 11) as f64 / (1u64 << 53) as f64
}

fn geometry(f: &Value) -> Geometry {
    let g: geojson::Geometry = serde_json::from_value(f["geometry"].clone()).unwrap();
    Geometry::try_from(g).unwrap()
}

/// Karney distance from p to a geometry: 0 inside polygons, else to the
/// closest point geo finds on its boundary or lines.
fn karney(p: Point, g: &Geometry) -> f64 {
    if let Geometry::Polygon(poly) = g {
        if poly.contains(&p) {
            return 0.0;
        }
    }
    let to = |c: Closest<f64>| match c {
        Closest::Intersection(q) | Closest::SinglePoint(q) => Geodesic.distance(p, q),
        Closest::Indeterminate => f64::INFINITY,
    };
    match g {
        Geometry::Point(q) => Geodesic.distance(p, *q),
        Geometry::LineString(ls) => to(ls.haversine_closest_point(&p)),
        Geometry::Polygon(poly) => to(poly.exterior().haversine_closest_point(&p)),
        other => panic!("unexpected {other:?}"),
    }
}

/// (service, collection, equality filter)
type ServiceSpec = (
    &'static str,
    &'static str,
    Option<(&'static str, &'static str)>,
);

#[tokio::test]
async fn point_distances_equal_a_brute_force_geodesic_scan() {
    let app = common::app_on(&geodata());
    let services: [ServiceSpec; 5] = [
        ("water", "pipelines", Some(("utility", "water"))),
        ("gas", "pipelines", Some(("utility", "gas"))),
        ("steam", "pipelines", Some(("utility", "steam"))),
        ("road", "roads", None),
        ("park", "parks", None),
    ];
    let mut seed = 77;
    for _ in 0..40 {
        let (lon, lat) = (
            113.49 + rng(&mut seed) * 0.09,
            34.665 + rng(&mut seed) * 0.055,
        );
        let p = Point::new(lon, lat);
        for scenario in ["current", "planned"] {
            let statuses: &[&str] = if scenario == "current" {
                &["existing"]
            } else {
                &["existing", "under_construction", "planned"]
            };
            let v = get(
                &app,
                &format!("/api/coverage?lon={lon}&lat={lat}&scenario={scenario}"),
            )
            .await
            .json();
            for (name, layer, filter) in services {
                let best = file_features(&geodata(), layer)
                    .iter()
                    .filter(|f| filter.is_none_or(|(k, val)| f["properties"][k] == val))
                    .filter(|f| statuses.contains(&f["properties"]["status"].as_str().unwrap()))
                    .map(|f| karney(p, &geometry(f)))
                    .fold(f64::INFINITY, f64::min);
                let ans = v["services"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|s| s["service"] == name)
                    .unwrap();
                let got = ans["distance_m"].as_f64().unwrap();
                assert!(
                    (got - best).abs() <= best * 0.005 + 0.5,
                    "{name} at {lon},{lat} ({scenario}): {got} vs {best}"
                );
                let reach = ans["reach_m"].as_f64().unwrap();
                if (best - reach).abs() > reach * 0.005 {
                    assert_eq!(ans["covered"], best <= reach, "{name} at {lon},{lat}");
                }
            }
            // Power: covered when some substation in the scenario is within its radius.
            let subs = file_features(&geodata(), "substations");
            let covering = subs
                .iter()
                .filter(|f| statuses.contains(&f["properties"]["status"].as_str().unwrap()))
                .any(|f| {
                    let r = f["properties"]["service_radius_m"]
                        .as_f64()
                        .unwrap_or(3000.0);
                    karney(p, &geometry(f)) <= r * 0.995
                });
            let power = v["services"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["service"] == "power")
                .unwrap();
            if covering {
                assert_eq!(power["covered"], true, "power at {lon},{lat} ({scenario})");
            }
        }
    }
}

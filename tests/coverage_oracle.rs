//! Coverage answers against independent oracles:
//! - distances at random points against a brute-force scan of every asset
//!   with geo's Karney geodesic distance (not our ruler);
//! - parcel and zone shares against shapely + pyproj in UTM 49N
//!   (`tests/oracle/coverage_oracle.py`).

mod common;

use common::{file_features, geodata, get, python_has, run_python};
use geo::{Closest, Contains, Distance, Geodesic, Geometry, HaversineClosestPoint, Point};
use serde_json::{json, Value};

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

#[tokio::test]
async fn parcel_and_zone_shares_equal_shapely_in_utm() {
    if !python_has("shapely") || !python_has("pyproj") {
        return;
    }
    let app = common::app_on(&geodata());
    let mut seed = 4242;
    let parcels: Vec<Vec<[f64; 2]>> = (0..25)
        .map(|_| {
            // 200 m x 200 m parcels, some turned by up to 45°.
            let (lon, lat) = (
                113.50 + rng(&mut seed) * 0.07,
                34.67 + rng(&mut seed) * 0.045,
            );
            let (kx, ky) = zoneatlas::geodesy::metres_per_degree(lat);
            let turn = rng(&mut seed) * std::f64::consts::FRAC_PI_4;
            let mut ring: Vec<[f64; 2]> = (0..4)
                .map(|k| {
                    let a =
                        turn + k as f64 * std::f64::consts::FRAC_PI_2 + std::f64::consts::FRAC_PI_4;
                    let r = 100.0 * std::f64::consts::SQRT_2;
                    [lon + r * a.cos() / kx, lat + r * a.sin() / ky]
                })
                .collect();
            ring.push(ring[0]);
            ring
        })
        .collect();
    for scenario in ["current", "planned"] {
        let oracle = run_python(
            "coverage_oracle.py",
            &[],
            Some(&json!({"dir": geodata(), "scenario": scenario, "parcels": parcels}).to_string()),
        );
        let mut partial = 0;
        for (i, ring) in parcels.iter().enumerate() {
            let body = json!({"type": "Polygon", "coordinates": [ring]}).to_string();
            let r = common::send(
                &app,
                axum::http::Request::post(format!("/api/coverage?scenario={scenario}"))
                    .header("host", "localhost")
                    .header("content-type", "application/geo+json")
                    .body(axum::body::Body::from(body))
                    .unwrap(),
            )
            .await
            .json();
            let o = &oracle["parcels"][i];
            let area = o["area_m2"].as_f64().unwrap();
            let ours_area = r["area_m2"].as_f64().unwrap();
            assert!(
                (ours_area - area).abs() <= area * 0.002,
                "parcel {i}: area {ours_area} vs {area}"
            );
            for s in r["services"].as_array().unwrap() {
                let name = s["service"].as_str().unwrap();
                let want = o["covered_m2"][name].as_f64().unwrap();
                let got = s["covered_m2"].as_f64().unwrap();
                assert!(
                    (got - want).abs() <= area * 0.01,
                    "parcel {i} {name} ({scenario}): {got} vs {want} of {area}"
                );
                partial += usize::from(want > 0.05 * area && want < 0.95 * area);
            }
        }
        assert!(
            partial >= 10,
            "only {partial} partly covered answers: the parcels test too little"
        );
        let zone = get(&app, &format!("/api/coverage/zone?scenario={scenario}"))
            .await
            .json();
        for s in zone["services"].as_array().unwrap() {
            let name = s["service"].as_str().unwrap();
            let want = oracle["zone"]["share"][name].as_f64().unwrap();
            let got = s["share"].as_f64().unwrap();
            assert!(
                (got - want).abs() <= 0.005,
                "zone {name} ({scenario}): {got} vs {want}"
            );
        }
    }
}

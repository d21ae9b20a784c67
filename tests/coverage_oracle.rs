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

/// Karney distance between a site polygon and an asset: 0 when they
/// intersect (an asset inside the site or crossing it); otherwise the least
/// over the site's vertices to the asset and the asset's vertices to the
/// site's boundary (two disjoint shapes are nearest at a vertex of one).
fn site_distance(site: &geo::Polygon, asset: &Geometry) -> f64 {
    use geo::{CoordsIter, Intersects};
    if site.intersects(asset) {
        return 0.0;
    }
    let from_site = site
        .exterior()
        .points()
        .map(|p| karney(p, asset))
        .fold(f64::INFINITY, f64::min);
    let boundary = Geometry::LineString(site.exterior().clone());
    let from_asset = asset
        .coords_iter()
        .map(|c| karney(Point::from(c), &boundary))
        .fold(f64::INFINITY, f64::min);
    from_site.min(from_asset)
}

#[tokio::test]
async fn sites_connect_as_the_article_says_checked_against_karney_boundary_distances() {
    let app = common::app_on(&geodata());
    let v = get(&app, "/api/coverage/sites").await.json();
    let sites = file_features(&geodata(), "sites");
    // (service, collection, filter, reach) as coverage.toml says; power's
    // reach is each substation's radius (3 km at 110 kV unless overridden).
    #[allow(clippy::type_complexity)]
    let services: [(&str, &str, Option<(&str, &str)>, f64); 5] = [
        ("water", "pipelines", Some(("utility", "water")), 200.0),
        ("gas", "pipelines", Some(("utility", "gas")), 500.0),
        ("steam", "pipelines", Some(("utility", "steam")), 500.0),
        ("road", "roads", None, 100.0),
        ("park", "parks", None, 500.0),
    ];
    let mut checked = 0;
    let mut beyond = 0;
    for row in v["sites"].as_array().unwrap() {
        let id = row["site"]["id"].as_str().unwrap();
        let f = sites.iter().find(|f| f["id"] == id).unwrap();
        let Geometry::Polygon(poly) = geometry(f) else {
            panic!("{id} is not a polygon")
        };
        let enterprise = f["properties"]["kind"] != "residential";
        let answer = |name: &str| -> &Value {
            row["services"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["service"] == name)
                .unwrap()
        };
        for (name, collection, filter, reach) in services {
            let best = file_features(&geodata(), collection)
                .iter()
                .filter(|a| a["properties"]["status"] == "existing")
                .filter(|a| filter.is_none_or(|(k, want)| a["properties"][k] == want))
                .map(|a| site_distance(&poly, &geometry(a)))
                .fold(f64::INFINITY, f64::min);
            let ans = answer(name);
            let got = ans["distance_m"].as_f64().unwrap_or(f64::INFINITY);
            // The distance to the nearest asset, within reach or not ("the
            // nearest park is 1.8 km away").
            assert!(
                (got - best).abs() <= best * 0.005 + 0.5,
                "{id} {name}: distance {got} vs Karney {best}"
            );
            beyond += usize::from(best > reach * 1.01);
            // Connectable exactly when within reach (away from the edge).
            if (best - reach).abs() > 1.0 {
                assert_eq!(ans["connectable"], best <= reach, "{id} {name}: {best} m");
            }
            if enterprise && name != "park" {
                // The article: water, gas, steam and roads serve every
                // enterprise today, each with margin, not by a centimetre.
                assert!(best <= reach * 0.9, "{id} {name}: {best} m of {reach}");
                assert_eq!(ans["connectable"], true, "{id} {name}");
            }
            checked += 1;
        }
        // Power: a substation whose radius reaches the site's boundary.
        let power = file_features(&geodata(), "substations")
            .iter()
            .filter(|s| s["properties"]["status"] == "existing")
            .any(|s| {
                let r = s["properties"]["service_radius_m"]
                    .as_f64()
                    .unwrap_or(3000.0);
                site_distance(&poly, &geometry(s)) <= r
            });
        assert_eq!(answer("power")["connectable"], power, "{id} power");
        if enterprise {
            assert!(power, "{id}: no power today");
            // Water from both feeds, north and south.
            let water = answer("water");
            assert_eq!(water["redundant"], true, "{id} water");
            let feeds: Vec<&str> = water["sources"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap())
                .collect();
            assert_eq!(feeds.len(), 2, "{id}: {feeds:?}");
            let lacking: Vec<&str> = row["lacking"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect();
            for s in ["water", "gas", "steam", "power", "road"] {
                assert!(!lacking.contains(&s), "{id} lacks {s}");
            }
        }
    }
    assert!(checked >= 50, "{checked}");
    // Some site lies beyond a service's reach, so the distance beyond it is checked.
    assert!(beyond > 0, "no site beyond reach of any service");
}

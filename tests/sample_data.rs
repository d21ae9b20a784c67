//! Data tests of the bundled sample (`geodata/`), computed from the files with
//! serde_json and geo's geodesic (Karney) algorithms only: none of the
//! service's own loading, indexing or measuring code is involved.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use common::SAMPLE_LAYERS as LAYERS;
use geo::{
    Contains, Distance, Geodesic, GeodesicArea, Geometry, HaversineClosestPoint, Length,
    LineString, MultiPolygon, Point, Validation,
};
use geojson::GeoJson;
use serde_json::Value;

fn dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/geodata"))
}

fn features(layer: &str) -> Vec<(String, Geometry, serde_json::Map<String, Value>)> {
    let text = std::fs::read_to_string(dir().join(format!("{layer}.geojson"))).unwrap();
    let GeoJson::FeatureCollection(fc) = text.parse::<GeoJson>().unwrap() else {
        panic!("{layer}: not a FeatureCollection")
    };
    fc.features
        .into_iter()
        .map(|f| {
            let id = match f.id.clone().expect("id") {
                geojson::feature::Id::String(s) => s,
                geojson::feature::Id::Number(n) => n.to_string(),
            };
            let g: Geometry = f
                .geometry
                .clone()
                .expect("geometry")
                .try_into()
                .expect("geo");
            (id, g, f.properties.clone().unwrap_or_default())
        })
        .collect()
}

fn zone() -> MultiPolygon {
    let z = features("zone")
        .into_iter()
        .find(|f| f.0 == "Z-ERQI")
        .unwrap()
        .1;
    match z {
        Geometry::Polygon(p) => MultiPolygon(vec![p]),
        Geometry::MultiPolygon(m) => m,
        other => panic!("zone is {other:?}"),
    }
}

#[test]
fn road_counts_and_geodesic_lengths_match_the_article() {
    let mut by_status: HashMap<String, (usize, f64)> = HashMap::new();
    for (_, g, p) in features("roads") {
        let Geometry::LineString(ls) = g else {
            panic!("road not a line")
        };
        let e = by_status
            .entry(p["status"].as_str().unwrap().to_owned())
            .or_default();
        e.0 += 1;
        e.1 += Geodesic.length(&ls);
    }
    for (status, count, km) in [
        ("existing", 25, 44.0),
        ("under_construction", 22, 23.87),
        ("planned", 15, 15.0),
    ] {
        let (n, m) = by_status[status];
        assert_eq!(n, count, "{status} count");
        assert!(
            (m / 1000.0 - km).abs() <= km * 0.01,
            "{status}: {} km vs {km}",
            m / 1000.0
        );
    }
}

#[test]
fn the_smart_port_is_164_mu() {
    let (_, g, _) = features("sites")
        .into_iter()
        .find(|f| f.0 == "ST-SMARTPORT")
        .unwrap();
    let ha = g.geodesic_area_unsigned() / 10_000.0;
    // 164 mu x 666.67 m² = 10.93 ha, within 2%.
    assert!((ha - 10.93).abs() <= 10.93 * 0.02, "{ha} ha");
}

#[test]
fn zone_is_40_to_55_km2_and_names_the_fenghu_area() {
    let km2 = zone().geodesic_area_unsigned() / 1e6;
    assert!((40.0..=55.0).contains(&km2), "{km2} km²");
    let fenghu = features("zone")
        .into_iter()
        .find(|f| f.2["kind"] == "sub_area")
        .unwrap();
    assert!(fenghu.2["name"].as_str().unwrap().contains("凤湖"));
    assert!(fenghu.2["name_en"].as_str().unwrap().contains("Fenghu"));
}

#[test]
fn every_geometry_is_valid_and_inside_the_zone() {
    let zone = zone();
    // The zone has the reservoir cut out; pipes may touch its edge, so allow
    // a metre of slack measured geodesically.
    let slack_m = 1.0;
    for layer in LAYERS {
        if layer == "zone" || layer == "water" {
            continue;
        }
        for (id, g, _) in features(layer) {
            assert!(g.is_valid(), "{layer} {id}: {:?}", g.validation_errors());
            let coords: Vec<geo::Coord> = match &g {
                Geometry::Point(p) => vec![p.0],
                Geometry::LineString(ls) => ls.0.clone(),
                Geometry::Polygon(p) => p.exterior().0.clone(),
                other => panic!("{layer} {id}: {other:?}"),
            };
            for c in coords {
                let p = Point(c);
                if zone.contains(&p) {
                    continue;
                }
                let d = zone
                    .0
                    .iter()
                    .flat_map(|poly| std::iter::once(poly.exterior()).chain(poly.interiors()))
                    .map(|ring| dist_to_line(p, ring))
                    .fold(f64::INFINITY, f64::min);
                assert!(
                    d <= slack_m,
                    "{layer} {id}: vertex {c:?} is {d:.1} m outside the zone"
                );
            }
        }
    }
}

#[test]
fn ids_are_unique_and_required_properties_present() {
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(dir().join("layers.toml")).unwrap()).unwrap();
    for layer in manifest["layer"].as_array().unwrap() {
        let id = layer["id"].as_str().unwrap();
        let required: Vec<&str> = layer
            .get("required")
            .and_then(|r| r.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let mut seen = HashSet::new();
        for (fid, _, props) in features(id) {
            assert!(seen.insert(fid.clone()), "{id}: duplicate {fid}");
            for base in ["name", "name_en", "source"] {
                assert!(
                    props.get(base).is_some_and(|v| !v.is_null()),
                    "{id} {fid}: {base}"
                );
            }
            let source = props["source"].as_str().unwrap();
            assert!(
                ["approximate", "osm", "illustrative"].contains(&source),
                "{id} {fid}: source {source}"
            );
            for r in &required {
                assert!(
                    props.get(*r).is_some_and(|v| !v.is_null()),
                    "{id} {fid}: {r}"
                );
            }
        }
    }
}

#[test]
fn area_properties_agree_with_the_geometry() {
    for layer in ["parks", "sites"] {
        for (id, g, p) in features(layer) {
            let stated = p["area_m2"].as_f64().unwrap();
            let real = g.geodesic_area_unsigned();
            assert!(
                (stated - real).abs() <= real * 0.01,
                "{layer} {id}: {stated} vs {real}"
            );
        }
    }
}

/// Geodesic distance from a point to a polyline, via geo's closest point.
fn dist_to_line(p: Point, ls: &LineString) -> f64 {
    match ls.haversine_closest_point(&p) {
        geo::Closest::Intersection(q) | geo::Closest::SinglePoint(q) => Geodesic.distance(p, q),
        geo::Closest::Indeterminate => f64::INFINITY,
    }
}

fn road_lines() -> Vec<LineString> {
    features("roads")
        .into_iter()
        .map(|(id, g, _)| match g {
            Geometry::LineString(ls) => ls,
            other => panic!("road {id} is {other:?}"),
        })
        .collect()
}

#[test]
fn roads_meet_at_junctions() {
    let roads = road_lines();
    let (mut ends, mut joined) = (0, 0);
    for (i, r) in roads.iter().enumerate() {
        for end in [r.0[0], *r.0.last().unwrap()] {
            ends += 1;
            let on_other = roads
                .iter()
                .enumerate()
                .any(|(j, o)| j != i && dist_to_line(Point(end), o) < 1.0);
            joined += usize::from(on_other);
        }
    }
    assert!(
        joined * 100 >= ends * 80,
        "{joined}/{ends} road ends meet another road"
    );
}

#[test]
fn pipelines_and_power_lines_follow_road_corridors() {
    let roads = road_lines();
    for layer in ["pipelines", "power_lines"] {
        // Length-weighted: a segment counts as along a road when points
        // sampled every ~25 m on it all lie within 60 m of some road.
        let (mut near, mut total) = (0.0, 0.0);
        for (_, g, _) in features(layer) {
            let Geometry::LineString(ls) = g else {
                unreachable!()
            };
            for w in ls.0.windows(2) {
                let len = Geodesic.distance(Point(w[0]), Point(w[1]));
                total += len;
                let n = (len / 25.0).ceil().max(1.0) as usize;
                let along = (0..=n).all(|i| {
                    let t = i as f64 / n as f64;
                    let p = Point::new(
                        w[0].x + t * (w[1].x - w[0].x),
                        w[0].y + t * (w[1].y - w[0].y),
                    );
                    roads.iter().any(|r| dist_to_line(p, r) < 60.0)
                });
                if along {
                    near += len;
                }
            }
        }
        let share = near / total;
        println!(
            "{layer}: {:.1}% of {:.1} km along roads",
            share * 100.0,
            total / 1000.0
        );
        assert!(
            share >= 0.8,
            "{layer}: only {:.1}% of the length follows roads",
            share * 100.0
        );
    }
}

#[test]
fn trunk_skeleton_reads_as_6_plus_5_in_the_main_area_and_4_plus_2_in_fenghu() {
    let fenghu = features("zone")
        .into_iter()
        .find(|f| f.2["kind"] == "sub_area")
        .unwrap()
        .1;
    // corridor -> (east-west metres, north-south metres, length-weighted sum
    // of section midpoints, total length)
    let mut corridors: HashMap<String, (f64, f64, Point, f64)> = HashMap::new();
    for (_, g, p) in features("roads") {
        let Some(corridor) = p.get("corridor").and_then(Value::as_str) else {
            continue;
        };
        let Geometry::LineString(ls) = g else {
            unreachable!()
        };
        let (a, b) = (ls.0[0], *ls.0.last().unwrap());
        let ew = Geodesic.distance(Point::new(a.x, a.y), Point::new(b.x, a.y));
        let ns = Geodesic.distance(Point::new(a.x, a.y), Point::new(a.x, b.y));
        let len = Geodesic.length(&ls);
        let mid = Point::new((a.x + b.x) / 2.0, (a.y + b.y) / 2.0);
        let e =
            corridors
                .entry(corridor.to_owned())
                .or_insert((0.0, 0.0, Point::new(0.0, 0.0), 0.0));
        e.0 += ew;
        e.1 += ns;
        e.2 = Point::new(e.2.x() + mid.x() * len, e.2.y() + mid.y() * len);
        e.3 += len;
    }
    let mut counts: HashMap<(&str, &str), usize> = HashMap::new();
    for (ew, ns, sum, len) in corridors.values() {
        let centre = Point::new(sum.x() / len, sum.y() / len);
        let area = if fenghu.contains(&centre) {
            "fenghu"
        } else {
            "main"
        };
        let axis = if ns > ew { "north-south" } else { "east-west" };
        *counts.entry((area, axis)).or_default() += 1;
    }
    assert_eq!(counts.get(&("main", "north-south")), Some(&6), "{counts:?}");
    assert_eq!(counts.get(&("main", "east-west")), Some(&5), "{counts:?}");
    assert_eq!(
        counts.get(&("fenghu", "north-south")),
        Some(&4),
        "{counts:?}"
    );
    assert_eq!(counts.get(&("fenghu", "east-west")), Some(&2), "{counts:?}");
}

#[test]
fn existing_water_mains_form_one_network_that_joins_both_feeds() {
    // Independent of the service's tracing: union-find over rounded endpoints.
    let pipes: Vec<(String, LineString)> = features("pipelines")
        .into_iter()
        .filter(|(_, _, p)| p["utility"] == "water" && p["status"] == "existing")
        .map(|(id, g, _)| match g {
            Geometry::LineString(ls) => (id, ls),
            _ => unreachable!(),
        })
        .collect();
    let key = |c: geo::Coord| ((c.x * 1e6).round() as i64, (c.y * 1e6).round() as i64);
    let mut parent: HashMap<(i64, i64), (i64, i64)> = HashMap::new();
    fn find(p: &mut HashMap<(i64, i64), (i64, i64)>, x: (i64, i64)) -> (i64, i64) {
        let mut r = x;
        while let Some(&q) = p.get(&r) {
            if q == r {
                break;
            }
            r = q;
        }
        r
    }
    for (_, ls) in &pipes {
        for c in &ls.0 {
            parent.entry(key(*c)).or_insert(key(*c));
        }
        for w in ls.0.windows(2) {
            let (a, b) = (find(&mut parent, key(w[0])), find(&mut parent, key(w[1])));
            parent.insert(a, b);
        }
    }
    let roots: HashSet<(i64, i64)> = pipes
        .iter()
        .map(|(_, ls)| find(&mut parent, key(ls.0[0])))
        .collect();
    assert_eq!(
        roots.len(),
        1,
        "existing water mains form {} networks",
        roots.len()
    );
    let feeds: Vec<&String> = pipes
        .iter()
        .map(|(id, _)| id)
        .filter(|id| id.starts_with("W-FEED"))
        .collect();
    assert_eq!(feeds.len(), 2);
}

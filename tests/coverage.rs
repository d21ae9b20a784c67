//! Coverage and statistics through the HTTP API on the sample data: the
//! article's claims, network tracing, and bad input.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{geodata, get, sample_copy, send};
use geo::{Area, BooleanOps, Geometry, MultiPolygon};
use serde_json::{json, Value};

fn app() -> axum::Router {
    common::app_on(&geodata())
}

fn service<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == name)
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

async fn post_json(app: &axum::Router, uri: &str, body: String) -> common::Reply {
    send(
        app,
        Request::post(uri)
            .header("host", "localhost")
            .header("content-type", "application/geo+json")
            .body(Body::from(body))
            .unwrap(),
    )
    .await
}

/// A square parcel of `side` metres centred on (lon, lat).
fn square(lon: f64, lat: f64, side: f64) -> Value {
    let (kx, ky) = zoneatlas::geodesy::metres_per_degree(lat);
    let (dx, dy) = (side / 2.0 / kx, side / 2.0 / ky);
    json!({"type": "Polygon", "coordinates": [[
        [lon - dx, lat - dy], [lon + dx, lat - dy], [lon + dx, lat + dy], [lon - dx, lat + dy], [lon - dx, lat - dy]
    ]]})
}

#[tokio::test]
async fn gas_covers_the_whole_zone_today() {
    let v = get(&app(), "/api/coverage/zone").await.json();
    assert_eq!(service(&v, "gas")["share"], 1.0);
    let g = get(&app(), "/api/coverage/gaps?service=gas").await.json();
    assert_eq!(g["features"].as_array().unwrap().len(), 0);
}

fn fenghu() -> MultiPolygon {
    let zone = common::file_features(&geodata(), "zone");
    let f = zone
        .iter()
        .find(|f| f["properties"]["kind"] == "sub_area")
        .unwrap();
    let g: geojson::Geometry = serde_json::from_value(f["geometry"].clone()).unwrap();
    match Geometry::try_from(g).unwrap() {
        Geometry::Polygon(p) => MultiPolygon(vec![p]),
        Geometry::MultiPolygon(m) => m,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn power_misses_the_fenghu_area_today_and_covers_all_once_planned() {
    let app = app();
    let today = get(&app, "/api/coverage/zone").await.json();
    let share = service(&today, "power")["share"].as_f64().unwrap();
    assert!(share < 0.95, "power today {share}");
    let planned = get(&app, "/api/coverage/zone?scenario=planned")
        .await
        .json();
    assert_eq!(service(&planned, "power")["share"], 1.0);

    // The gap lies in the Fenghu Smart New Area (areas in degrees² are
    // enough for a ratio of two areas this small).
    let gaps = get(&app, "/api/coverage/gaps?service=power").await.json();
    let mut gap_polys = Vec::new();
    for f in gaps["features"].as_array().unwrap() {
        let g: geojson::Geometry = serde_json::from_value(f["geometry"].clone()).unwrap();
        if let Geometry::Polygon(p) = Geometry::try_from(g).unwrap() {
            gap_polys.push(p);
        }
    }
    let gap = MultiPolygon(gap_polys);
    assert!(gap.unsigned_area() > 0.0);
    let inside = gap.intersection(&fenghu()).unsigned_area();
    assert!(
        inside / gap.unsigned_area() > 0.999,
        "{} of the gap in Fenghu",
        inside / gap.unsigned_area()
    );

    // A point in Fenghu flips from uncovered to served by Jiangang.
    let p = "/api/coverage?lon=113.5700&lat=34.7050";
    let now = get(&app, p).await.json();
    assert_eq!(service(&now, "power")["covered"], false);
    let later = get(&app, &format!("{p}&scenario=planned")).await.json();
    assert_eq!(service(&later, "power")["covered"], true);
    assert_eq!(service(&later, "power")["nearest"]["id"], "SS-JIANGANG");
}

#[tokio::test]
async fn steam_reaches_every_industrial_site_and_water_is_dual_fed_at_every_site() {
    let v = get(&app(), "/api/coverage/sites").await.json();
    let sites = v["sites"].as_array().unwrap();
    assert_eq!(
        sites.len(),
        common::file_features(&geodata(), "sites").len()
    );
    let kinds: std::collections::HashMap<String, String> =
        common::file_features(&geodata(), "sites")
            .iter()
            .map(|f| {
                (
                    f["id"].as_str().unwrap().to_owned(),
                    f["properties"]["kind"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
    let mut industrial = 0;
    for s in sites {
        let id = s["site"]["id"].as_str().unwrap();
        if kinds[id] == "industrial" {
            industrial += 1;
            assert_eq!(service(s, "steam")["share"], 1.0, "{id}");
        }
        let water = service(s, "water");
        assert_eq!(water["redundant"], true, "{id}: {water}");
        let feeds: Vec<&str> = water["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap())
            .collect();
        assert_eq!(feeds, ["W-FEED-NORTH", "W-FEED-SOUTH"], "{id}");
    }
    assert!(industrial >= 4);
}

#[tokio::test]
async fn switching_off_a_feed_removes_redundancy() {
    let v = get(&app(), "/api/coverage/sites?without=W-FEED-NORTH")
        .await
        .json();
    assert_eq!(v["without"], "W-FEED-NORTH");
    for s in v["sites"].as_array().unwrap() {
        let water = service(s, "water");
        assert_eq!(water["redundant"], false);
        assert_eq!(water["sources"][0]["id"], "W-FEED-SOUTH");
    }
}

#[tokio::test]
async fn power_is_traced_by_level_so_a_substation_out_cuts_its_own_feeders() {
    // Hand-checked from geodata/: Liandong U Valley's only connection is the
    // 10 kV dedicated feeder P-10-S01, which starts at the Industrial Park
    // substation (SS-GONGYE) where the 110 kV lines and feeder P-10-014 also
    // meet. Voltage levels meet only through a substation, and a substation
    // is where supply enters, not a junction: with SS-GONGYE out, P-10-S01
    // reaches no other substation, while the 10 kV mesh keeps Mazhai and
    // Nanhu.
    let app = app();
    let out = get(&app, "/api/network/outage?assets=SS-GONGYE")
        .await
        .json();
    let power = out["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "power")
        .expect("power in the outage");
    let lost: Vec<&str> = power["lose_supply"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(lost, ["ST-LIANDONG"], "{power}");
    let sites = get(&app, "/api/coverage/sites").await.json();
    let liandong = sites["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["site"]["id"] == "ST-LIANDONG")
        .unwrap();
    let fed: Vec<&str> = service(liandong, "power")["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(fed, ["SS-GONGYE"], "its feeder's substation alone");

    // A point 30 m south of Mazhai substation is served by Mazhai (3 km
    // reach at 110 kV) and fed by it alone; with Mazhai out, the Industrial
    // Park substation 2.3 km south serves it instead.
    let p = "/api/coverage?lon=113.5250&lat=34.7100";
    let all = get(&app, p).await.json();
    assert_eq!(service(&all, "power")["sources"][0]["id"], "SS-MAZHAI");
    assert_eq!(service(&all, "power")["redundant"], false);
    let cut = get(&app, &format!("{p}&without=SS-MAZHAI")).await.json();
    assert_eq!(service(&cut, "power")["nearest"]["id"], "SS-GONGYE");
    assert_eq!(service(&cut, "power")["sources"][0]["id"], "SS-GONGYE");
}

#[tokio::test]
async fn stats_read_the_article_road_figures() {
    let v = get(&app(), "/api/stats").await.json();
    let roads = &v["road"]["by_status"];
    for (status, n, km) in [
        ("existing", 25, 44.0),
        ("under_construction", 22, 23.87),
        ("planned", 15, 15.0),
    ] {
        assert_eq!(roads[status]["count"], n);
        let got = roads[status]["length_km"].as_f64().unwrap();
        assert!((got - km).abs() <= km * 0.01, "{status}: {got}");
    }
    assert_eq!(v["sites"]["count"], 10);
    assert_eq!(v["zone"]["coverage_share"]["gas"], 1.0);
    assert!(v["water"]["length_km"].as_f64().unwrap() > 10.0);
}

#[tokio::test]
async fn a_parcel_gets_per_service_shares_that_add_up() {
    let app = app();
    // 150 m x 150 m centred on Dongfang Rd (x = 3200 m east of 113.49 E in
    // the sample's grid): no point is more than 75 m from the road.
    let dongfang = 113.49 + 3200.0 / zoneatlas::geodesy::metres_per_degree(34.6925).0;
    let r = post_json(
        &app,
        "/api/coverage",
        square(dongfang, 34.7050, 150.0).to_string(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    let area = v["area_m2"].as_f64().unwrap();
    assert!((area - 22_500.0).abs() < 25.0, "{area}");
    for s in v["services"].as_array().unwrap() {
        let share = s["share"].as_f64().unwrap();
        let covered = s["covered_m2"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&share));
        assert!((covered - share * area).abs() <= area * 1e-3 + 1.0, "{s}");
    }
    assert_eq!(service(&v, "gas")["share"], 1.0);
    assert_eq!(service(&v, "road")["share"], 1.0);
    // A Feature wrapper works the same.
    let feature =
        json!({"type": "Feature", "properties": {}, "geometry": square(dongfang, 34.7050, 150.0)});
    let f = post_json(&app, "/api/coverage", feature.to_string())
        .await
        .json();
    assert_eq!(f["area_m2"], v["area_m2"]);
    // `services=` answers for those only, with the same figures.
    let only = post_json(
        &app,
        "/api/coverage?services=road,gas",
        square(dongfang, 34.7050, 150.0).to_string(),
    )
    .await
    .json();
    let names: Vec<&str> = only["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["service"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gas", "road"]);
    assert_eq!(service(&only, "road"), service(&v, "road"));
    let bad = post_json(
        &app,
        "/api/coverage?services=road,sewer",
        square(dongfang, 34.7050, 150.0).to_string(),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["description"]
        .as_str()
        .unwrap()
        .contains("\"sewer\" is not a service"));
}

#[tokio::test]
async fn bad_coverage_input_gets_4xx_with_a_reason() {
    let app = app();
    common::expect_rejections(
        &app,
        &[
            ("/api/coverage", 400, "\"lon\" is required"),
            ("/api/coverage?lon=113.5", 400, "\"lat\" is required"),
            ("/api/coverage?lon=abc&lat=34.7", 400, "not a number"),
            ("/api/coverage?lon=NaN&lat=34.7", 400, "finite"),
            ("/api/coverage?lon=inf&lat=34.7", 400, "finite"),
            ("/api/coverage?lon=113.5&lat=95", 400, "outside [-90, 90]"),
            (
                "/api/coverage?lon=213.5&lat=34.7",
                400,
                "outside [-180, 180]",
            ),
            (
                "/api/coverage?lon=113.5&lat=34.7&scenario=future",
                400,
                "current, planned",
            ),
            ("/api/coverage?lon=113.5&lat=34.7&without=nope", 400, "nope"),
            ("/api/coverage?lon=113.5&lat=34.7&radius=3", 400, "radius"),
            (
                "/api/coverage/gaps",
                400,
                "water, gas, steam, power, road, park",
            ),
            (
                "/api/coverage/gaps?service=sewage",
                400,
                "water, gas, steam, power, road, park",
            ),
            ("/api/coverage/zone?scenario=x", 400, "current, planned"),
            ("/api/stats?scenario=x", 400, "current, planned"),
        ],
    )
    .await;
    let bowtie = json!({"type": "Polygon", "coordinates": [[[113.52, 34.70], [113.53, 34.71], [113.53, 34.70], [113.52, 34.71], [113.52, 34.70]]]});
    // 50,001 short positions fit in the body limit but not the vertex cap.
    let many: Vec<[f64; 2]> = (0..=50_001)
        .map(|i| [113.5 + (i % 7) as f64 * 0.1, 34.5 + (i % 5) as f64 * 0.1])
        .collect();
    let mut many = many;
    many.push(many[0]);
    // A large but allowed parcel (9,000 vertices) is accepted.
    let big: Vec<[f64; 2]> = (0..9_000)
        .map(|i| {
            let a = i as f64 / 9_000.0 * std::f64::consts::TAU;
            [113.52 + 0.01 * a.cos(), 34.70 + 0.01 * a.sin()]
        })
        .chain(std::iter::once([113.53, 34.70]))
        .collect();
    let r = post_json(
        &app,
        "/api/coverage",
        json!({"type": "Polygon", "coordinates": [big]}).to_string(),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.bytes)
    );
    let huge = format!(
        "{{\"type\":\"Polygon\",\"coordinates\":[[{}]]}}",
        "[113.5,34.7],".repeat(90_000)
    );
    for (body, status, needle) in [
        ("not json".to_string(), 400, "not JSON"),
        (json!({"type": "Point", "coordinates": [113.5, 34.7]}).to_string(), 400, "Polygon"),
        (json!({"type": "Polygon", "coordinates": [[[113.5, 34.7], [113.6, 34.7], [113.6, 34.8]]]}).to_string(), 400, "at least 4"),
        (bowtie.to_string(), 400, "invalid polygon"),
        (json!({"type": "Polygon", "coordinates": [many]}).to_string(), 413, "50000"),
        (huge, 413, "larger than"),
    ] {
        let r = post_json(&app, "/api/coverage", body).await;
        assert_eq!(r.status.as_u16(), status, "{needle}");
        let d = r.json()["description"].as_str().unwrap_or_default().to_owned();
        assert!(d.contains(needle), "{needle}: {d}");
    }
}

#[tokio::test]
async fn regression_110_and_110_0_are_one_value_in_filters_and_coverage_rules() {
    // GDAL writes integers back as reals: voltage_kv 110 becomes 110.0. The
    // default reach is lowered to 500 m so that falling back to it shows.
    let dir = sample_copy(|name, text| match name {
        "substations.geojson" => text.replace("\"voltage_kv\":110,", "\"voltage_kv\":110.0,"),
        "coverage.toml" => text.replace("reach_m = 3000", "reach_m = 500"),
        _ => text,
    });
    assert!(
        std::fs::read_to_string(dir.path().join("substations.geojson"))
            .unwrap()
            .contains("110.0")
    );
    let app = common::app_on(dir.path());
    // A point 1.5 km from the Mazhai substation and no other: within the
    // 110 kV reach (3 km) but not the 500 m default.
    let subs = common::file_features(dir.path(), "substations");
    let mazhai = subs.iter().find(|s| s["id"] == "SS-MAZHAI").unwrap();
    let (lon, lat) = (
        mazhai["geometry"]["coordinates"][0].as_f64().unwrap(),
        mazhai["geometry"]["coordinates"][1].as_f64().unwrap(),
    );
    let (kx, _) = zoneatlas::geodesy::metres_per_degree(lat);
    let v = get(
        &app,
        &format!("/api/coverage?lon={}&lat={lat}", lon - 1500.0 / kx),
    )
    .await
    .json();
    let power = service(&v, "power");
    assert_eq!(power["covered"], true, "{power}");
    assert_eq!(power["reach_m"], 3000.0, "{power}");
    // /items filters agree: 110 and 110.0 select the same substations.
    let count = |q: &'static str| {
        let app = app.clone();
        async move {
            get(&app, &format!("/api/collections/substations/items?{q}"))
                .await
                .json()["numberMatched"]
                .as_u64()
                .unwrap()
        }
    };
    let want = subs
        .iter()
        .filter(|s| s["properties"]["voltage_kv"].as_f64() == Some(110.0))
        .count() as u64;
    assert!(want >= 3);
    assert_eq!(count("voltage_kv=110").await, want);
    assert_eq!(count("voltage_kv=110.0").await, want);
}

#[tokio::test]
async fn stats_give_every_service_its_assets_by_status_as_a_file_scan_counts_them() {
    // The oracle: the rules' selectors applied to the GeoJSON files by
    // serde_json alone, counted by status.
    let rules: toml::Table =
        toml::from_str(&std::fs::read_to_string(common::geodata().join("coverage.toml")).unwrap())
            .unwrap();
    let v = get(&app(), "/api/stats?scenario=current").await.json();
    for (name, rule) in rules["services"].as_table().unwrap() {
        let collection = rule["collection"].as_str().unwrap();
        let filter = rule
            .get("where")
            .and_then(|w| w.as_table())
            .cloned()
            .unwrap_or_default();
        let mut want: std::collections::BTreeMap<String, u64> = Default::default();
        for f in common::file_features(&common::geodata(), collection) {
            let p = &f["properties"];
            let keep = filter.iter().all(|(k, x)| match x {
                toml::Value::String(s) => p[k] == s.as_str(),
                toml::Value::Integer(i) => p[k].as_f64() == Some(*i as f64),
                other => panic!("a filter value the oracle does not read: {other:?}"),
            });
            if keep {
                *want
                    .entry(p["status"].as_str().unwrap_or("").to_owned())
                    .or_default() += 1;
            }
        }
        let got = v[name]["by_status"].as_object().unwrap();
        let got: std::collections::BTreeMap<String, u64> = got
            .iter()
            .map(|(k, e)| (k.clone(), e["count"].as_u64().unwrap()))
            .collect();
        assert_eq!(got, want, "{name}");
        let measure = v[name]["measure"].as_str().unwrap();
        assert!(
            ["length_km", "area_m2", "count"].contains(&measure),
            "{name}: {measure}"
        );
    }
    // The measures add up to the lengths the service reports for the
    // planned scenario (every status counted).
    let planned = get(&app(), "/api/stats?scenario=planned").await.json();
    let km: f64 = planned["water"]["by_status"]
        .as_object()
        .unwrap()
        .values()
        .map(|e| e["length_km"].as_f64().unwrap())
        .sum();
    let total = planned["water"]["length_km"].as_f64().unwrap();
    assert!((km - total).abs() < 0.01, "{km} vs {total}");
}

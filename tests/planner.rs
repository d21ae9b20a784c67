//! The planner's questions through the HTTP API on the sample: outages
//! against the tracing answers with `without=`, the N-1 list against
//! knocking each entry out alone, capacity against a hand computation from
//! the files, the site finder's invariants, the site report, and bad input.
//! (Shapely and networkx oracles: `tests/tools.rs`.)

mod common;

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use common::{file_features, geodata, get, sample_copy};
use serde_json::Value;

fn app() -> axum::Router {
    common::app_on(&geodata())
}

/// Per site: its sources for a service (ids), from the sites checklist.
async fn sources(app: &axum::Router, service: &str, query: &str) -> BTreeMap<String, Vec<String>> {
    let v = get(app, &format!("/api/coverage/sites?{query}")).await;
    assert_eq!(v.status, StatusCode::OK, "{query}");
    v.json()["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let a = s["services"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["service"] == service)
                .unwrap();
            let ids = a["sources"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .map(|r| r["id"].as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            (s["site"]["id"].as_str().unwrap().to_owned(), ids)
        })
        .collect()
}

fn ids(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Every network asset of water and power: switched off alone, the outage
/// answer's lost supply and lost redundancy equal what the sites checklist
/// traces with `without=` (sources before non-empty and after empty; two
/// or more before and one after).
#[tokio::test]
async fn outage_answers_equal_the_tracing_answers_with_without() {
    let app = app();
    let mut assets: Vec<(String, &str)> = Vec::new();
    for f in file_features(&geodata(), "pipelines") {
        if f["properties"]["utility"] == "water" {
            assets.push((f["id"].as_str().unwrap().to_owned(), "water"));
        }
    }
    for layer in ["power_lines", "substations"] {
        for f in file_features(&geodata(), layer) {
            assets.push((f["id"].as_str().unwrap().to_owned(), "power"));
        }
    }
    let mut cuts = 0;
    for sc in ["current", "planned"] {
        let before: BTreeMap<&str, _> = [
            (
                "water",
                sources(&app, "water", &format!("scenario={sc}")).await,
            ),
            (
                "power",
                sources(&app, "power", &format!("scenario={sc}")).await,
            ),
        ]
        .into_iter()
        .collect();
        for (k, (id, service)) in assets.iter().enumerate() {
            // Every asset in the current scenario, every third once planned.
            if sc == "planned" && k % 3 != 0 {
                continue;
            }
            let after = sources(&app, service, &format!("scenario={sc}&without={id}")).await;
            let mut lose = BTreeSet::new();
            let mut weak = BTreeSet::new();
            for (site, was) in &before[service] {
                let now = &after[site];
                if !was.is_empty() && now.is_empty() {
                    lose.insert(site.clone());
                } else if was.len() >= 2 && now.len() == 1 {
                    weak.insert(site.clone());
                }
            }
            let r = get(
                &app,
                &format!("/api/network/outage?assets={id}&scenario={sc}"),
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{id}");
            let v = r.json();
            let answer = v["services"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["service"] == *service);
            let (got_lose, got_weak) = match answer {
                Some(a) => (ids(&a["lose_supply"]), ids(&a["lose_redundancy"])),
                // Not in service in this scenario: nothing changes.
                None => (BTreeSet::new(), BTreeSet::new()),
            };
            assert_eq!(got_lose, lose, "{id} {sc}: lose supply");
            assert_eq!(got_weak, weak, "{id} {sc}: lose redundancy");
            cuts += lose.len();
        }
    }
    assert!(cuts > 0, "some single asset cuts a site off in the sample");
}

/// The article's dual feed: without the north feed every site keeps water
/// from the south feed alone.
#[tokio::test]
async fn knocking_out_the_north_feed_lists_every_site_as_losing_the_dual_feed() {
    let app = app();
    let v = get(&app, "/api/network/outage?assets=W-FEED-NORTH")
        .await
        .json();
    let water = v["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["service"] == "water")
        .unwrap();
    let sites: BTreeSet<String> = file_features(&geodata(), "sites")
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids(&water["lose_redundancy"]), sites);
    assert!(water["lose_supply"].as_array().unwrap().is_empty());
    assert!(ids(&water["dead_assets"]).contains("W-FEED-NORTH"));
    let after = sources(&app, "water", "without=W-FEED-NORTH").await;
    assert!(after.values().all(|s| s == &["W-FEED-SOUTH"]), "{after:?}");
    // Two assets at once: the north feed and Dingyi's branch main.
    let v = get(&app, "/api/network/outage?assets=W-FEED-NORTH,W-B01")
        .await
        .json();
    let water = &v["services"][0];
    assert_eq!(
        ids(&water["lose_supply"]),
        BTreeSet::from(["ST-DINGYI".to_owned()])
    );
    assert_eq!(
        water["lose_redundancy"].as_array().unwrap().len(),
        sites.len() - 1
    );
}

/// Each entry of the N-1 list, knocked out alone, cuts off exactly the
/// sites it lists; the sample's branch mains and dedicated feeder are on it.
#[tokio::test]
async fn every_critical_asset_knocked_out_alone_cuts_off_its_sites() {
    let app = app();
    for service in ["water", "power"] {
        for sc in ["current", "planned"] {
            let v = get(
                &app,
                &format!("/api/network/critical?service={service}&scenario={sc}"),
            )
            .await
            .json();
            let before = sources(&app, service, &format!("scenario={sc}")).await;
            let list = v["assets"].as_array().unwrap();
            for entry in list {
                let id = entry["asset"]["id"].as_str().unwrap();
                let after = sources(&app, service, &format!("scenario={sc}&without={id}")).await;
                let cut: BTreeSet<String> = before
                    .iter()
                    .filter(|(s, was)| !was.is_empty() && after[*s].is_empty())
                    .map(|(s, _)| s.clone())
                    .collect();
                assert_eq!(ids(&entry["sites"]), cut, "{service} {sc} {id}");
            }
            let listed: BTreeSet<&str> = list
                .iter()
                .map(|e| e["asset"]["id"].as_str().unwrap())
                .collect();
            let want: &[&str] = if service == "water" {
                &["W-B01", "W-B02"]
            } else {
                // Liandong's dedicated feeder and the substation it starts
                // at: power is traced by level, so the 110 kV lines meeting
                // at SS-GONGYE do not back-feed the 10 kV feeder.
                &["P-10-S01", "SS-GONGYE"]
            };
            assert_eq!(listed, want.iter().copied().collect(), "{service} {sc}");
        }
    }
}

/// Capacity, by hand from the files: each counted site's stated demand or
/// `area_m2` × the density of its kind, summed per substation; an edit
/// that states a 95 MW demand overloads its substation.
#[tokio::test]
async fn capacity_sums_equal_a_hand_computation_and_flag_an_overload() {
    let dir = sample_copy(|name, text| {
        if name != "sites.geojson" {
            return text;
        }
        let mut fc: Value = serde_json::from_str(&text).unwrap();
        for f in fc["features"].as_array_mut().unwrap() {
            if f["id"] == "ST-DINGYI" {
                f["properties"]["demand_kw"] = 95_000.into();
            }
        }
        fc.to_string()
    });
    let app = common::app_on(dir.path());
    let density: BTreeMap<&str, f64> = [
        ("industrial", 50.0),
        ("logistics", 4.0),
        ("incubator", 60.0),
        ("residential", 25.0),
    ]
    .into();
    let sites: BTreeMap<String, Value> = file_features(dir.path(), "sites")
        .into_iter()
        .map(|f| {
            (
                f["id"].as_str().unwrap().to_owned(),
                f["properties"].clone(),
            )
        })
        .collect();
    for sc in ["current", "planned"] {
        let v = get(&app, &format!("/api/network/capacity?scenario={sc}"))
            .await
            .json();
        let mut seen = BTreeSet::new();
        for s in v["substations"].as_array().unwrap() {
            let mut want = 0.0;
            for d in s["sites"].as_array().unwrap() {
                let id = d["site"]["id"].as_str().unwrap();
                let p = &sites[id];
                assert!(seen.insert(id.to_owned()), "{id} listed twice");
                if sc == "current" {
                    assert_eq!(p["status"], "existing", "{id} counts today");
                }
                let kw = p["demand_kw"].as_f64().unwrap_or_else(|| {
                    p["area_m2"].as_f64().unwrap() * density[p["kind"].as_str().unwrap()] / 1000.0
                });
                assert!(
                    (d["demand_kw"].as_f64().unwrap() - kw).abs() <= kw * 0.002 + 0.1,
                    "{id}: {d}"
                );
                want += kw;
            }
            let got = s["demand_kw"].as_f64().unwrap();
            assert!(
                (got - want).abs() <= want * 0.002 + 0.1,
                "{sc} {}: {got} vs {want}",
                s["substation"]["id"]
            );
            let cap = s["capacity_mva"].as_f64().unwrap() * 1000.0 * 0.9;
            assert_eq!(s["capacity_kw"].as_f64().unwrap(), cap);
            assert_eq!(s["overloaded"], got > cap, "{s}");
        }
        let counted = sites
            .values()
            .filter(|p| sc == "planned" || p["status"] == "existing")
            .count();
        assert_eq!(
            seen.len() + v["unserved"].as_array().unwrap().len(),
            counted,
            "{sc}"
        );
        // Dingyi's 95 MW is over the Industrial Park substation's 90 MW.
        let gongye = v["substations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["substation"]["id"] == "SS-GONGYE")
            .unwrap();
        assert_eq!(gongye["overloaded"], true, "{gongye}");
        assert_eq!(
            v["substations"][0]["substation"]["id"], "SS-GONGYE",
            "most loaded first"
        );
    }
}

/// The site finder: pieces at least the minimum, largest first, each with
/// every asked service within reach; more land once the planned works are
/// built (they add assets, never remove them); a rectangle test that
/// shrinks the list.
#[tokio::test]
async fn suitable_land_grows_once_planned_and_every_piece_is_served() {
    let app = app();
    let q = "services=water,gas,steam,power,road&min_area_m2=80000";
    let mut total = BTreeMap::new();
    for sc in ["current", "planned"] {
        let r = get(&app, &format!("/api/coverage/suitable?{q}&scenario={sc}")).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-type"), Some("application/geo+json"));
        let v = r.json();
        let pieces = v["features"].as_array().unwrap();
        assert!(
            !pieces.is_empty(),
            "{sc}: an 8 ha plant has somewhere to go"
        );
        let areas: Vec<f64> = pieces
            .iter()
            .map(|f| f["properties"]["area_m2"].as_f64().unwrap())
            .collect();
        assert!(areas.iter().all(|&a| a >= 80_000.0), "{areas:?}");
        assert!(areas.windows(2).all(|w| w[0] >= w[1]), "largest first");
        for f in pieces {
            let serving = f["properties"]["serving"].as_object().unwrap();
            for s in ["water", "gas", "steam", "power", "road"] {
                assert!(serving[s]["asset"]["id"].is_string(), "{s}: {f}");
            }
            assert!(serving["water"]["distance_m"].as_f64().unwrap() <= 200.0);
        }
        total.insert(sc, v["suitable_m2"].as_f64().unwrap());
    }
    assert!(total["planned"] > total["current"] * 1.05, "{total:?}");
    let all = get(
        &app,
        &format!("/api/coverage/suitable?{q}&scenario=planned"),
    )
    .await
    .json();
    let fit = get(
        &app,
        &format!("/api/coverage/suitable?{q}&scenario=planned&fit=60x300"),
    )
    .await
    .json();
    let (n_all, n_fit) = (
        all["numberReturned"].as_u64().unwrap(),
        fit["numberReturned"].as_u64().unwrap(),
    );
    assert!(n_fit <= n_all, "{n_fit} vs {n_all}");
    let wide = get(
        &app,
        &format!("/api/coverage/suitable?{q}&scenario=planned&fit=300x300"),
    )
    .await
    .json();
    assert_eq!(
        wide["numberReturned"], 0,
        "road reach (100 m) leaves no 300 m square: {wide}"
    );
}

#[tokio::test]
async fn the_site_report_is_a_bilingual_page_naming_its_single_points_of_failure() {
    let app = app();
    let r = get(&app, "/api/reports/site/ST-DINGYI").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
    let html = String::from_utf8(r.bytes.clone()).unwrap();
    for needle in [
        "郑州顶益食品",
        "Zhengzhou Dingyi Foods",
        "现状 Current",
        "规划建成后 Planned",
        "W-B01",
        "<svg",
        "数据版本 Revision",
        "电力容量 Power capacity",
    ] {
        assert!(html.contains(needle), "{needle}");
    }
    // A site with no single point of failure says so.
    let html = String::from_utf8(get(&app, "/api/reports/site/ST-ZHONGWU").await.bytes).unwrap();
    assert!(html.contains("None: no single asset"), "Zhongwu has none");
}

#[tokio::test]
async fn bad_planner_input_gets_a_4xx_naming_what_was_wrong() {
    let app = app();
    common::expect_rejections(
        &app,
        &[
            ("/api/network/outage", 400, "assets"),
            ("/api/network/outage?assets=NOPE", 400, "NOPE"),
            ("/api/network/outage?assets=,", 400, "at least one"),
            (
                "/api/network/outage?assets=W-B01&scenario=someday",
                400,
                "someday",
            ),
            ("/api/network/critical", 400, "service"),
            (
                "/api/network/critical?service=gas",
                400,
                "no traced network",
            ),
            ("/api/network/critical?service=water&foo=1", 400, "foo"),
            ("/api/coverage/suitable?services=water,tea", 400, "tea"),
            ("/api/coverage/suitable?min_area_m2=-5", 400, "min_area_m2"),
            (
                "/api/coverage/suitable?min_area_m2=lots",
                400,
                "min_area_m2",
            ),
            ("/api/coverage/suitable?exclude=substations", 400, "points"),
            ("/api/coverage/suitable?exclude=nowhere", 400, "nowhere"),
            ("/api/coverage/suitable?fit=big", 400, "fit"),
            ("/api/coverage/suitable?fit=0x100", 400, "fit"),
            ("/api/coverage/suitable?extra_m=9000", 400, "extra_m"),
            ("/api/network/capacity?scenario=x", 400, "scenario"),
            ("/api/reports/site/NOPE", 404, "NOPE"),
            ("/api/reports/site/ST-DINGYI?f=doc", 400, "doc"),
        ],
    )
    .await;
}

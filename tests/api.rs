//! OGC API - Features behaviour through the HTTP router, on the sample data.

mod common;

use std::collections::HashSet;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{file_features, geodata, get, send};
use serde_json::{json, Value};

fn app() -> axum::Router {
    common::app_on(&geodata())
}

fn hrefs(v: &Value, rel: &str) -> Vec<String> {
    v["links"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .filter(|l| l["rel"] == rel)
                .filter_map(|l| l["href"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A link's path and query, to send back through the router.
fn local(href: &str) -> String {
    href.strip_prefix("http://localhost")
        .expect("absolute link")
        .to_owned()
}

#[tokio::test]
async fn landing_page_links_the_four_required_resources() {
    let r = get(&app(), "/api").await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    for rel in ["self", "service-desc", "conformance", "data"] {
        assert_eq!(hrefs(&v, rel).len(), 1, "{rel} link in {v}");
    }
    assert_eq!(hrefs(&v, "data")[0], "http://localhost/api/collections");
}

#[tokio::test]
async fn a_configured_basemap_is_offered_on_the_landing_page() {
    let live = zoneatlas::live::Live::open(Box::new(zoneatlas::store::folder::FolderStore::new(
        geodata(),
    )))
    .unwrap();
    let app = zoneatlas::app(
        std::sync::Arc::new(live),
        zoneatlas::api::Options {
            basemap: Some(zoneatlas::api::Basemap {
                url: "https://tiles.example/{z}/{x}/{y}.png".into(),
                attribution: "© example".into(),
                subdomains: "abc".into(),
                datum: "wgs84".into(),
            }),
            ..Default::default()
        },
    );
    let v = get(&app, "/api").await.json();
    assert_eq!(v["basemap"]["url"], "https://tiles.example/{z}/{x}/{y}.png");
    // Without one, none is offered (the map draws on a plain background).
    assert!(get(&common::app_on(&geodata()), "/api")
        .await
        .json()
        .get("basemap")
        .is_none());
}

#[test]
fn check_passes_on_the_sample_and_summarises_every_layer() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
        .args(["check", "--data"])
        .arg(geodata())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for layer in common::SAMPLE_LAYERS {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(layer)),
            "{layer} missing in {text}"
        );
    }
    // 25 + 22 + 15 roads, 82.87 km in all.
    assert!(
        text.contains("62 features") && text.contains("82.87"),
        "{text}"
    );
}

#[tokio::test]
async fn conformance_declares_core_geojson_and_oas30() {
    let v = get(&app(), "/api/conformance").await.json();
    let classes: Vec<&str> = v["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for c in ["core", "geojson", "oas30"] {
        let uri = format!("http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{c}");
        assert!(classes.contains(&uri.as_str()), "{c} missing");
    }
}

#[tokio::test]
async fn collections_list_every_layer_of_the_manifest_with_its_extent() {
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(geodata().join("layers.toml")).unwrap()).unwrap();
    let wanted: Vec<String> = manifest["layer"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    let v = get(&app(), "/api/collections").await.json();
    let got: Vec<String> = v["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, wanted);
    for c in v["collections"].as_array().unwrap() {
        let bbox = &c["extent"]["spatial"]["bbox"][0];
        let (w, s, e, n) = (
            bbox[0].as_f64().unwrap(),
            bbox[1].as_f64().unwrap(),
            bbox[2].as_f64().unwrap(),
            bbox[3].as_f64().unwrap(),
        );
        // The sample lies around Mazhai, south-west Zhengzhou.
        assert!(w > 113.45 && e < 113.6 && s > 34.6 && n < 34.75, "{c}");
        assert_eq!(c["itemType"], "feature");
    }
}

#[tokio::test]
async fn paging_through_next_links_returns_every_road_exactly_once() {
    let app = app();
    let expected: HashSet<String> = file_features(&geodata(), "roads")
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    let mut seen = Vec::new();
    let mut uri = "/api/collections/roads/items?limit=7".to_owned();
    for _ in 0..100 {
        let r = get(&app, &uri).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-type"), Some("application/geo+json"));
        let v = r.json();
        assert_eq!(v["numberMatched"], expected.len());
        let page = v["features"].as_array().unwrap();
        assert_eq!(v["numberReturned"], page.len());
        assert!(v["timeStamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        seen.extend(page.iter().map(|f| f["id"].as_str().unwrap().to_owned()));
        match hrefs(&v, "next").first() {
            Some(next) => uri = local(next),
            None => break,
        }
    }
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), unique.len(), "a feature came twice");
    assert_eq!(unique, expected);
}

#[tokio::test]
async fn prev_link_walks_back_to_the_first_page() {
    let app = app();
    let v = get(&app, "/api/collections/pipelines/items?limit=10&offset=25")
        .await
        .json();
    let prev = local(&hrefs(&v, "prev")[0]);
    assert!(prev.contains("offset=15"), "{prev}");
    let first = get(&app, "/api/collections/pipelines/items?limit=10&offset=5")
        .await
        .json();
    assert!(local(&hrefs(&first, "prev")[0]).contains("offset=0"));
    assert!(hrefs(
        &get(&app, "/api/collections/pipelines/items?limit=10")
            .await
            .json(),
        "prev"
    )
    .is_empty());
}

#[tokio::test]
async fn equality_filters_match_a_count_of_the_file() {
    let app = app();
    for (layer, prop, value) in [
        ("roads", "status", "planned"),
        ("roads", "class", "trunk"),
        ("pipelines", "utility", "gas"),
        ("power_lines", "voltage_kv", "110"),
    ] {
        let expected = file_features(&geodata(), layer)
            .iter()
            .filter(|f| {
                let p = &f["properties"][prop];
                p.as_str() == Some(value)
                    || p.as_f64().map(|n| n.to_string()) == Some(value.to_owned())
            })
            .count();
        assert!(expected > 0, "{layer} {prop}={value} has no features");
        let v = get(
            &app,
            &format!("/api/collections/{layer}/items?{prop}={value}&limit=10000"),
        )
        .await
        .json();
        assert_eq!(v["numberMatched"], expected, "{layer} {prop}={value}");
        for f in v["features"].as_array().unwrap() {
            let p = &f["properties"][prop];
            assert!(
                p.as_str() == Some(value)
                    || p.as_f64().map(|n| n.to_string()) == Some(value.to_owned())
            );
        }
    }
}

#[tokio::test]
async fn one_feature_by_id_and_its_links() {
    let app = app();
    let r = get(&app, "/api/collections/sites/items/ST-SMARTPORT").await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(v["type"], "Feature");
    assert_eq!(v["properties"]["area_mu"], 164);
    assert_eq!(
        hrefs(&v, "self")[0],
        "http://localhost/api/collections/sites/items/ST-SMARTPORT"
    );
    assert_eq!(hrefs(&v, "collection").len(), 1);
}

#[tokio::test]
async fn queryables_describe_the_filterable_properties() {
    let v = get(&app(), "/api/collections/roads/queryables")
        .await
        .json();
    assert_eq!(v["type"], "object");
    let status = &v["properties"]["status"];
    assert_eq!(status["type"], "string");
    let mut e: Vec<&str> = status["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    e.sort();
    assert_eq!(e, ["existing", "planned", "under_construction"]);
}

#[tokio::test]
async fn malformed_requests_get_4xx_with_a_json_reason() {
    let app = app();
    let cases = [
        ("/api/collections/roads/items?bbox=1,2,3", 400, "4 or 6"),
        ("/api/collections/roads/items?bbox=1,2,3,4,5", 400, "4 or 6"),
        (
            "/api/collections/roads/items?bbox=a,b,c,d",
            400,
            "not a number",
        ),
        (
            "/api/collections/roads/items?bbox=NaN,34,114,35",
            400,
            "finite",
        ),
        (
            "/api/collections/roads/items?bbox=113,-91,114,35",
            400,
            "latitude",
        ),
        (
            "/api/collections/roads/items?bbox=113,35,114,34",
            400,
            "above north",
        ),
        ("/api/collections/roads/items?limit=0", 400, "limit"),
        ("/api/collections/roads/items?limit=-5", 400, "limit"),
        ("/api/collections/roads/items?limit=ten", 400, "limit"),
        ("/api/collections/roads/items?offset=-1", 400, "offset"),
        ("/api/collections/roads/items?colour=red", 400, "colour"),
        (
            "/api/collections/roads/items?limit=1&limit=2",
            400,
            "more than once",
        ),
        ("/api/collections/roads/items?f=xml", 400, "xml"),
        (
            "/api/collections/roads/items?bbox-crs=EPSG:2000&bbox=1,2,3,4",
            400,
            "bbox-crs",
        ),
        ("/api/collections/nope/items", 404, "nope"),
        ("/api/collections/nope", 404, "nope"),
        ("/api/collections/roads/items/R-999", 404, "R-999"),
        ("/api/nothing-here", 404, "no such"),
    ];
    common::expect_rejections(&app, &cases).await;
    // Still up afterwards.
    assert_eq!(get(&app, "/health").await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_wrong_method_gets_405_with_a_json_reason() {
    let r = send(
        &app(),
        Request::delete("/api/collections")
            .header("host", "localhost")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.json()["description"].as_str().unwrap().contains("DELETE"));
}

#[tokio::test]
async fn an_overlong_uri_gets_414() {
    let uri = format!("/api/collections/roads/items?status={}", "x".repeat(10_000));
    let r = get(&app(), &uri).await;
    assert_eq!(r.status, StatusCode::URI_TOO_LONG);
    assert_eq!(r.json()["code"], "URITooLong");
}

#[tokio::test]
async fn a_limit_above_the_maximum_is_clamped_not_refused() {
    let v = get(&app(), "/api/collections/pipelines/items?limit=99999")
        .await
        .json();
    assert_eq!(v["numberReturned"], v["numberMatched"]);
    assert!(hrefs(&v, "self")[0].contains("limit=10000"));
}

#[tokio::test]
async fn etag_then_304_for_an_unchanged_resource() {
    let app = app();
    let first = get(&app, "/api/collections/roads/items?limit=3").await;
    let tag = first.header("etag").expect("etag").to_owned();
    let again = send(
        &app,
        Request::get("/api/collections/roads/items?limit=3")
            .header("host", "localhost")
            .header("if-none-match", &tag)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.bytes.is_empty());
    let other = get(&app, "/api/collections/roads/items?limit=4").await;
    assert_ne!(other.header("etag"), Some(tag.as_str()));
}

#[tokio::test]
async fn gzip_and_brotli_when_asked_and_cors_open() {
    let app = app();
    for enc in ["gzip", "br"] {
        let r = send(
            &app,
            Request::get("/api/collections/pipelines/items")
                .header("host", "localhost")
                .header("accept-encoding", enc)
                .header("origin", "http://example.org")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.header("content-encoding"), Some(enc));
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    }
}

#[tokio::test]
async fn health_answers_once_loaded() {
    let v = get(&app(), "/health").await.json();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["layers"], 8);
}

#[tokio::test]
async fn openapi_documents_every_route_and_each_collections_filters() {
    let app = app();
    let r = get(&app, "/api/openapi.json").await;
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.oai.openapi+json;version=3.0")
    );
    let v = r.json();
    assert_eq!(v["openapi"], "3.0.3");
    let server = v["servers"][0]["url"].as_str().unwrap().to_owned();
    let server_path = server.trim_start_matches("http://localhost").to_owned();
    assert_eq!(server_path, "/api");
    let paths = v["paths"].as_object().unwrap();
    // A documented path as a request path: relative to its server.
    let concrete = |path: &str, item: &Value| -> String {
        let base = item["servers"][0]["url"]
            .as_str()
            .map(|u| u.trim_start_matches("http://localhost").to_owned())
            .unwrap_or_else(|| server_path.clone());
        let p = path
            .replace("{collectionId}", "roads")
            .replace("{featureId}", "R-001");
        if p == "/" {
            base
        } else {
            format!("{base}{p}")
        }
    };
    let road_params: Vec<&str> = paths["/collections/roads/items"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in [
        "bbox", "bbox-crs", "limit", "offset", "f", "status", "class",
    ] {
        assert!(road_params.contains(&name), "{name}");
    }
    // The router, walked from outside: every link the server hands out (from
    // the landing page down) is a documented path.
    let templates: Vec<String> = paths.iter().map(|(p, i)| concrete(p, i)).collect();
    let mut todo = vec!["/api".to_owned(), "/health".to_owned()];
    let mut seen = std::collections::BTreeSet::new();
    while let Some(url) = todo.pop() {
        if !seen.insert(url.clone()) || seen.len() > 60 {
            continue;
        }
        let r = get(&app, &url).await;
        assert_eq!(r.status, StatusCode::OK, "{url}");
        let path = url.split('?').next().unwrap().to_owned();
        let documented = templates.contains(&path)
            || paths.keys().any(|t| {
                // Any `{parameter}` segment matches one segment.
                let (tp, pp): (Vec<&str>, Vec<&str>) = (
                    t.split('/').collect(),
                    path.trim_start_matches("/api").split('/').collect(),
                );
                tp.len() == pp.len()
                    && tp
                        .iter()
                        .zip(&pp)
                        .all(|(a, b)| a.starts_with('{') || a == b)
            });
        assert!(
            documented,
            "{path} is served but not in the OpenAPI document"
        );
        if let Ok(v) = serde_json::from_slice::<Value>(&r.bytes) {
            let mut links = Vec::new();
            collect_hrefs(&v, &mut links);
            for href in links {
                if let Some(rest) = href.strip_prefix("http://localhost") {
                    // Templates (tile URLs) are not links to follow.
                    if !rest.contains("/items?") && !rest.contains("/items/") && !rest.contains('{')
                    {
                        todo.push(rest.to_owned());
                    }
                }
            }
        }
    }
    assert!(seen.len() >= 12, "walked only {seen:?}");
    // Every documented operation accepts each documented query parameter
    // (no "unknown parameter") and refuses an undocumented one.
    for (path, item) in paths {
        let Some(op) = item.get("get") else { continue };
        let url = concrete(path, item);
        let params: Vec<&Value> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "query")
            .collect();
        for p in &params {
            let name = p["name"].as_str().unwrap();
            let r = get(&app, &format!("{url}?{name}=x")).await;
            let text = String::from_utf8_lossy(&r.bytes).into_owned();
            assert!(!text.contains("unknown parameter"), "{url}: {name}: {text}");
        }
        let r = get(&app, &format!("{url}?zz_undocumented=1")).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{url} accepts an undocumented parameter"
        );
        assert!(r.json()["description"]
            .as_str()
            .unwrap()
            .contains("zz_undocumented"));
        // Documented GET paths without a template or required parameter answer.
        // A required parameter (a query one, or a header such as
        // Authorization) means a bare GET is not expected to succeed.
        let required = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["required"] == true);
        if !path.contains('{') && !required {
            // This app serves a data folder, which keeps no history: the
            // history resources say so (tests/history.rs covers them).
            let history = op["tags"].as_array().unwrap().contains(&json!("History"));
            let proposals = op["tags"].as_array().unwrap().contains(&json!("Proposals"));
            let r = get(&app, &url).await;
            if proposals {
                // Nor proposals (tests/proposals.rs covers them).
                assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{url}");
                assert!(r.json()["description"]
                    .as_str()
                    .unwrap()
                    .contains("keeps no proposals"));
            } else if history {
                assert_eq!(r.status, StatusCode::BAD_REQUEST, "{url}");
                assert!(r.json()["description"]
                    .as_str()
                    .unwrap()
                    .contains("keeps no history"));
            } else {
                assert_eq!(r.status, StatusCode::OK, "{url}");
            }
        }
    }
}

fn collect_hrefs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "href" {
                    if let Some(s) = x.as_str() {
                        out.push(s.to_owned());
                    }
                } else {
                    collect_hrefs(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_hrefs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn a_data_folder_refuses_asof_rather_than_faking_a_past() {
    let app = common::app_on(&common::geodata());
    let r = get(&app, "/api/stats?asof=rev:1").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.json()["description"]
        .as_str()
        .unwrap()
        .contains("keeps no history"));
    // Without asof, the answer says which revision it reflects (0: a folder).
    let r = get(&app, "/api/stats").await;
    assert_eq!(r.headers.get("zoneatlas-revision").unwrap(), "0");
}

/// Whether every key and value in `want` (a manifest's table, as JSON) is
/// in `got` (what the server serves), numbers compared as numbers.
fn holds(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w
            .iter()
            .all(|(k, v)| g.get(k).is_some_and(|gv| holds(v, gv))),
        (Value::Array(w), Value::Array(g)) => {
            w.len() == g.len() && w.iter().zip(g).all(|(a, b)| holds(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => want == got,
    }
}

#[tokio::test]
async fn each_collection_serves_its_manifest_style_and_the_landing_its_scenarios() {
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(geodata().join("layers.toml")).unwrap()).unwrap();
    let v = get(&app(), "/api/collections").await.json();
    let served = v["collections"].as_array().unwrap();
    for layer in manifest["layer"].as_array().unwrap() {
        let id = layer["id"].as_str().unwrap();
        let want = serde_json::to_value(&layer["style"]).unwrap();
        let c = served.iter().find(|c| c["id"] == id).unwrap();
        assert!(
            holds(&want, &c["style"]),
            "{id}: {want} is not in {}",
            c["style"]
        );
    }
    // The sample's water comes from OpenStreetMap and says so.
    let water = served.iter().find(|c| c["id"] == "water").unwrap();
    assert!(water["attribution"]
        .as_str()
        .unwrap()
        .contains("OpenStreetMap"));
    assert!(served
        .iter()
        .filter(|c| c["id"] != "water")
        .all(|c| c.get("attribution").is_none()));

    let rules: toml::Table =
        toml::from_str(&std::fs::read_to_string(geodata().join("coverage.toml")).unwrap()).unwrap();
    let landing = get(&app(), "/api").await.json();
    assert_eq!(landing["title_zh"], manifest["title_zh"].as_str().unwrap());
    // Property titles and units: on the landing page as the manifest gives
    // them, and in each layer's schema and queryables.
    let titles = serde_json::to_value(&manifest["properties"]).unwrap();
    assert_eq!(landing["properties"], titles);
    for path in ["schema", "queryables"] {
        let v = get(&app(), &format!("/api/collections/roads/{path}"))
            .await
            .json();
        for (name, p) in v["properties"].as_object().unwrap() {
            let Some(t) = titles.get(name) else { continue };
            assert_eq!(p["title"], t["title"], "{path} {name}");
            assert_eq!(p.get("x-title_zh"), t.get("title_zh"), "{path} {name}");
            assert_eq!(p.get("x-ogc-unit"), t.get("unit"), "{path} {name}");
        }
        assert_eq!(v["properties"]["width_m"]["x-ogc-unit"], "m", "{path}");
    }
    // A data folder keeps no history: the map asks for none.
    assert_eq!(landing["history"], false);
    let scenarios = serde_json::to_value(&rules["scenarios"]).unwrap();
    assert_eq!(landing["scenarios"], scenarios);
    assert_eq!(
        landing["zone"]["collection"],
        rules["zone"]["collection"].as_str().unwrap()
    );
    assert_eq!(
        landing["sites"]["collection"],
        rules["sites"]["collection"].as_str().unwrap()
    );
    // Each service as the rules define it: its assets, whether it is traced
    // as a network, and through which lines.
    let services = rules["services"].as_table().unwrap();
    assert_eq!(
        landing["services"].as_array().unwrap().len(),
        services.len()
    );
    for s in landing["services"].as_array().unwrap() {
        let rule = &services[s["name"].as_str().unwrap()];
        assert_eq!(s["collection"], rule["collection"].as_str().unwrap());
        let network = rule.get("network");
        assert_eq!(s["network"], network.is_some(), "{s}");
        let lines = network
            .and_then(|n| n.get("lines"))
            .map(|l| l["collection"].as_str().unwrap());
        assert_eq!(s["lines"].as_str(), lines, "{s}");
        assert_eq!(s["title"], rule["title"].as_str().unwrap());
    }
}

#[tokio::test]
async fn a_layer_without_a_style_is_drawn_by_its_kind_and_the_zone_as_an_outline() {
    let dir = tempfile::tempdir().unwrap();
    zoneatlas::synth::write(dir.path(), 2_000, 7).unwrap();
    let v = get(&common::app_on(dir.path()), "/api/collections")
        .await
        .json();
    let style = |id: &str| {
        let c = v["collections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap();
        c["style"].clone()
    };
    // The zone (the coverage rules' zone layer) is unfilled, so what it
    // surrounds stays visible and clickable; other areas are filled.
    assert!(style("zone").get("fill").is_none(), "{}", style("zone"));
    assert!(style("zone")["dash"].is_string());
    assert!(style("parks")["fill"].is_string(), "{}", style("parks"));
    // Lines are unfilled strokes, points filled circles; each layer its
    // own colour among the line layers.
    for id in ["roads", "pipelines", "power_lines"] {
        assert!(style(id).get("fill").is_none() && style(id)["width"].as_f64().unwrap() > 0.0);
    }
    assert!(style("substations")["fill"].is_string());
    // The same colours on every start (picked from the id, not at random).
    let again = get(&common::app_on(dir.path()), "/api/collections")
        .await
        .json();
    assert_eq!(v["collections"], again["collections"]);
}

#[test]
fn a_manifest_style_that_is_not_a_colour_stops_the_load_naming_it() {
    let dir = common::sample_copy(|name, text| match name {
        "layers.toml" => text.replacen("color = \"#4d4d4d\"", "color = \"grey\"", 1),
        _ => text,
    });
    let err = zoneatlas::live::Live::open(Box::new(zoneatlas::store::folder::FolderStore::new(
        dir.path(),
    )))
    .err()
    .expect("a bad colour is refused")
    .to_string();
    assert!(err.contains("roads") && err.contains("\"grey\""), "{err}");
}

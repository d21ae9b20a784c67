//! Editing against the `zoneatlas` binary on a GeoPackage store: the new
//! user's round trip, bad writes, tokens, If-Match races, coverage that
//! follows the data, readers during a write burst, and SIGKILL at random
//! moments (every acknowledged write survives).

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{file_features, geodata, http, Raw, Server};
use serde_json::{json, Value};

use common::token;

fn auth(t: &str) -> String {
    format!("Bearer {t}")
}

fn road(id: &str, status: &str, lon: f64) -> Value {
    json!({"type": "Feature", "id": id,
           "geometry": {"type": "LineString", "coordinates": [[lon, 34.700], [lon + 0.005, 34.700]]},
           "properties": {"name": format!("测试路{id}"), "name_en": format!("Test Rd {id}"),
                          "status": status, "class": "branch", "width_m": 16, "source": "illustrative"}})
}

fn post(server: &Server, collection: &str, t: &str, body: &Value) -> Raw {
    let a = auth(t);
    http(
        "POST",
        &format!("{}/api/collections/{collection}/items", server.base),
        &[
            ("Authorization", &a),
            ("Content-Type", "application/geo+json"),
        ],
        body.to_string().as_bytes(),
    )
}

fn patch(server: &Server, collection: &str, id: &str, t: &str, etag: &str, body: &Value) -> Raw {
    let a = auth(t);
    http(
        "PATCH",
        &format!("{}/api/collections/{collection}/items/{id}", server.base),
        &[
            ("Authorization", &a),
            ("Content-Type", "application/merge-patch+json"),
            ("If-Match", etag),
        ],
        body.to_string().as_bytes(),
    )
}

fn get(server: &Server, path: &str) -> Raw {
    http("GET", &format!("{}{path}", server.base), &[], b"")
}

fn count(server: &Server, collection: &str) -> u64 {
    get(
        server,
        &format!("/api/collections/{collection}/items?limit=1"),
    )
    .json()["numberMatched"]
        .as_u64()
        .unwrap()
}

/// Stop a server and check its store with SQLite's own integrity check.
fn finish(mut server: Server) {
    let store = server.store.clone();
    let dir = server.take_dir();
    drop(server);
    integrity_ok(&store);
    drop(dir);
}

/// The same for a server shared with (now finished) threads.
fn finish_shared(server: Arc<Server>) {
    finish(Arc::try_unwrap(server).unwrap_or_else(|_| panic!("the server is still shared")));
}

use common::integrity_ok;

fn stats_km(server: &Server, status: &str) -> f64 {
    let mut r = get(server, "/api/stats");
    for _ in 0..200 {
        if r.status != 503 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        r = get(server, "/api/stats");
    }
    r.json()["road"]["by_status"][status]["length_km"]
        .as_f64()
        .unwrap()
}

#[test]
fn a_new_user_adds_a_road_marks_it_built_and_finds_it_after_a_restart() {
    let server = Server::start(&[]);
    // A store keeps history: the landing page says so (the map then shows
    // its time slider, progress chart and live updates).
    assert_eq!(get(&server, "/api").json()["history"], true);
    let t = token(&server.store, "editor", "planner");
    let before = count(&server, "roads");
    let existing_km = stats_km(&server, "existing");
    let r = post(&server, "roads", &t, &road("R-TEST-1", "planned", 113.52));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let location = r.header("location").unwrap().to_owned();
    assert!(
        location.ends_with("/api/collections/roads/items/R-TEST-1"),
        "{location}"
    );
    let etag = r.header("etag").unwrap().to_owned();
    assert_eq!(r.json()["properties"]["status"], "planned");
    // GET answers the same ETag.
    let g = get(&server, "/api/collections/roads/items/R-TEST-1");
    assert_eq!(g.header("etag"), Some(etag.as_str()));
    // Built: PATCH the status with the ETag just read.
    let r = patch(
        &server,
        "roads",
        "R-TEST-1",
        &t,
        &etag,
        &json!({"properties": {"status": "existing"}}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_ne!(r.header("etag"), Some(etag.as_str()));
    // The statistics moved by the road's geodesic length (0.005 deg of
    // longitude at 34.7 N, ~457.9 m).
    let moved = stats_km(&server, "existing") - existing_km;
    let (kx, _) = zoneatlas::geodesy::metres_per_degree(34.7);
    assert!((moved - 0.005 * kx / 1000.0).abs() < 0.002, "{moved} km");
    assert_eq!(count(&server, "roads"), before + 1);
    // Stop, start on the same store: it is still there, as built.
    let store = server.store.clone();
    let mut server = server;
    let dir = server.take_dir();
    drop(server);
    let server = Server::start_on(&store, &[]);
    let g = get(&server, "/api/collections/roads/items/R-TEST-1");
    assert_eq!(g.status, 200);
    assert_eq!(g.json()["properties"]["status"], "existing");
    assert_eq!(count(&server, "roads"), before + 1);
    drop(server);
    integrity_ok(&store);
    drop(dir);
}

#[test]
fn bad_writes_get_4xx_json_and_change_nothing() {
    let server = Server::start(&[]);
    let t = token(&server.store, "editor", "e");
    let base = format!("{}/api/collections", server.base);
    let a = auth(&t);
    let json_ct = [
        ("Authorization", a.as_str()),
        ("Content-Type", "application/geo+json"),
    ];
    let roads_before = count(&server, "roads");
    let parks_before = count(&server, "parks");
    let health = |s: &Server| get(s, "/health").json()["revision"].as_u64().unwrap();
    let rev_before = health(&server);
    let bowtie = json!({"type": "Feature", "id": "P-BAD",
        "geometry": {"type": "Polygon", "coordinates": [[[113.52, 34.70], [113.53, 34.71], [113.53, 34.70], [113.52, 34.71], [113.52, 34.70]]]},
        "properties": {"name": "x", "name_en": "x", "status": "planned", "source": "illustrative", "area_m2": 1}});
    let mut missing = road("R-BAD-2", "planned", 113.52);
    missing["properties"]
        .as_object_mut()
        .unwrap()
        .remove("name");
    let mut point = road("R-BAD-3", "planned", 113.52);
    point["geometry"] = json!({"type": "Point", "coordinates": [113.52, 34.7]});
    let clash = road("R-001", "planned", 113.52);
    #[allow(clippy::type_complexity)]
    let cases: Vec<(&str, String, Vec<(&str, &str)>, String, u16, &str)> = vec![
        ("POST", format!("{base}/roads/items"), json_ct.to_vec(), point.to_string(), 400, "Point"),
        ("POST", format!("{base}/parks/items"), json_ct.to_vec(), bowtie.to_string(), 400, "self-intersect"),
        ("POST", format!("{base}/roads/items"), json_ct.to_vec(), missing.to_string(), 400, "\"name\" is missing"),
        ("POST", format!("{base}/roads/items"), json_ct.to_vec(), road("R-BAD-4", "demolished", 113.52).to_string(), 400, "allowed"),
        ("POST", format!("{base}/roads/items"), json_ct.to_vec(), "{not json".into(), 400, "not JSON"),
        ("POST", format!("{base}/roads/items"), vec![("Authorization", a.as_str()), ("Content-Type", "text/plain")], road("R-BAD-5", "planned", 113.52).to_string(), 415, "Content-Type"),
        // Declared over the limit: refused before a byte of body is read.
        ("POST", format!("{base}/roads/items"), vec![("Authorization", a.as_str()), ("Content-Type", "application/geo+json"), ("Content-Length", "1100000")], String::new(), 413, "bytes"),
        ("POST", format!("{base}/nope/items"), json_ct.to_vec(), road("R-BAD-6", "planned", 113.52).to_string(), 404, "nope"),
        ("POST", format!("{base}/roads/items"), json_ct.to_vec(), clash.to_string(), 409, "R-001"),
        // All or nothing: the second feature of the collection clashes.
        ("POST", format!("{base}/roads/items"), json_ct.to_vec(), json!({"type": "FeatureCollection", "features": [road("R-OK-7", "planned", 113.52), road("R-001", "planned", 113.53)]}).to_string(), 409, "R-001"),
        ("PATCH", format!("{base}/roads/items/R-001"), vec![("Authorization", a.as_str()), ("Content-Type", "application/merge-patch+json")], "{}".into(), 428, "If-Match"),
        ("PATCH", format!("{base}/roads/items/R-001"), vec![("Authorization", a.as_str()), ("Content-Type", "application/merge-patch+json"), ("If-Match", "\"999\"")], "{}".into(), 412, "changed since"),
        ("PATCH", format!("{base}/roads/items/R-001"), vec![("Authorization", a.as_str()), ("Content-Type", "application/merge-patch+json"), ("If-Match", "\"1\"")], r#"{"properties": {"status": 7}}"#.into(), 400, "allowed"),
        ("PATCH", format!("{base}/roads/items/R-NOPE"), vec![("Authorization", a.as_str()), ("Content-Type", "application/merge-patch+json"), ("If-Match", "\"1\"")], "{}".into(), 404, "R-NOPE"),
        ("DELETE", format!("{base}/roads/items/R-001"), vec![("Authorization", a.as_str())], String::new(), 428, "If-Match"),
        ("POST", format!("{base}/roads/items"), vec![("Content-Type", "application/geo+json")], road("R-BAD-8", "planned", 113.52).to_string(), 401, "Bearer"),
        ("POST", format!("{base}/roads/items"), vec![("Authorization", "Bearer za_wrong"), ("Content-Type", "application/geo+json")], road("R-BAD-9", "planned", 113.52).to_string(), 401, "not valid"),
    ];
    for (method, url, headers, body, status, needle) in &cases {
        let r = http(method, url, headers, body.as_bytes());
        assert_eq!(
            r.status,
            *status,
            "{method} {url} {needle}: {}",
            String::from_utf8_lossy(&r.body)
        );
        let v = r.json();
        let d = v["description"].as_str().unwrap_or("");
        assert!(d.contains(needle), "{method} {url}: {d:?} lacks {needle:?}");
        if *status == 401 {
            assert!(r
                .header("www-authenticate")
                .is_some_and(|h| h.starts_with("Bearer")));
        }
    }
    assert_eq!(count(&server, "roads"), roads_before);
    assert_eq!(count(&server, "parks"), parks_before);
    assert_eq!(
        health(&server),
        rev_before,
        "a refused write made a revision"
    );
    assert_eq!(
        get(&server, "/api/collections/roads/items/R-OK-7").status,
        404
    );
    let store = server.store.clone();
    let mut server = server;
    let dir = server.take_dir();
    drop(server);
    integrity_ok(&store);
    drop(dir);
}

#[test]
fn roles_viewers_cannot_edit_revoked_tokens_stop_and_private_reads_need_a_token() {
    let server = Server::start(&["--private"]);
    let viewer = token(&server.store, "viewer", "v");
    let editor = token(&server.store, "editor", "e");
    let r = post(&server, "roads", &viewer, &road("R-V", "planned", 113.52));
    assert_eq!(r.status, 403);
    assert!(r.json()["description"].as_str().unwrap().contains("viewer"));
    // Private: reads need a token, /health does not.
    assert_eq!(get(&server, "/api/collections").status, 401);
    assert_eq!(get(&server, "/health").status, 200);
    let a = auth(&viewer);
    let r = http(
        "GET",
        &format!("{}/api/collections", server.base),
        &[("Authorization", &a)],
        b"",
    );
    assert_eq!(r.status, 200);
    // Revoked: refused within the token cache's second.
    let out = Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
        .args(["token", "revoke", "--store"])
        .arg(&server.store)
        .args(["--name", "e"])
        .output()
        .unwrap();
    assert!(out.status.success());
    std::thread::sleep(Duration::from_millis(1500));
    let r = post(&server, "roads", &editor, &road("R-E", "planned", 113.52));
    assert_eq!(r.status, 401, "{}", String::from_utf8_lossy(&r.body));
    // Tokens are stored hashed only: the secret is nowhere in the file.
    // (Look in the WAL too: recent pages live there until a checkpoint.)
    let mut bytes = std::fs::read(&server.store).unwrap();
    bytes.extend(std::fs::read(server.store.with_extension("gpkg-wal")).unwrap_or_default());
    assert!(bytes.len() > 100_000);
    let hash = zoneatlas::hex::encode(&zoneatlas::auth::token_hash(&viewer));
    assert!(
        bytes.windows(hash.len()).any(|w| w == hash.as_bytes()),
        "the hash is stored"
    );
    for secret in [&viewer, &editor] {
        assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
    finish(server);
}

#[test]
fn twenty_concurrent_patches_with_one_etag_exactly_one_wins() {
    let server = Arc::new(Server::start(&[]));
    let t = token(&server.store, "editor", "racer");
    let etag = get(&server, "/api/collections/roads/items/R-001")
        .header("etag")
        .unwrap()
        .to_owned();
    let workers: Vec<_> = (0..20)
        .map(|i| {
            let (server, t, etag) = (Arc::clone(&server), t.clone(), etag.clone());
            std::thread::spawn(move || {
                patch(
                    &server,
                    "roads",
                    "R-001",
                    &t,
                    &etag,
                    &json!({"properties": {"name_en": format!("racer {i}")}}),
                )
                .status
            })
        })
        .collect();
    let statuses: Vec<u16> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 412).count(),
        19,
        "{statuses:?}"
    );
    finish_shared(server);
}

#[test]
fn coverage_follows_the_data_a_new_substation_closes_the_fenghu_gap() {
    let server = Server::start(&[]);
    let t = token(&server.store, "editor", "grid");
    // Fenghu has no power today (the article: until Jiangang runs).
    let at = "/api/coverage?lon=113.570&lat=34.705";
    let power = |s: &Server| {
        let v = get(s, at).json();
        v["services"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["service"] == "power")
            .unwrap()
            .clone()
    };
    assert_eq!(power(&server)["covered"], false);
    let sub = json!({"type": "Feature", "id": "SS-NEW-FENGHU",
        "geometry": {"type": "Point", "coordinates": [113.566, 34.703]},
        "properties": {"name": "新凤湖110kV变电站", "name_en": "New Fenghu 110 kV substation",
                       "status": "existing", "voltage_kv": 110, "capacity_mva": 100, "source": "illustrative"}});
    let r = post(&server, "substations", &t, &sub);
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // The very next request sees it.
    let p = power(&server);
    assert_eq!(p["covered"], true, "{p}");
    assert_eq!(p["nearest"]["id"], "SS-NEW-FENGHU");
    // And the sites checklist and zone shares follow too.
    let sites = get(&server, "/api/coverage/sites").json();
    assert!(sites.to_string().contains("SS-NEW-FENGHU"));
    finish(server);
}

#[test]
fn readers_during_a_write_burst_never_see_half_a_request_or_an_error() {
    let server = Arc::new(Server::start(&[]));
    let t = token(&server.store, "editor", "burst");
    let stop = Arc::new(AtomicBool::new(false));
    let problems = Arc::new(Mutex::new(Vec::<String>::new()));
    let readers: Vec<_> = (0..3)
        .map(|k| {
            let (server, stop, problems) = (
                Arc::clone(&server),
                Arc::clone(&stop),
                Arc::clone(&problems),
            );
            std::thread::spawn(move || {
                let mut reads = 0;
                while !stop.load(Ordering::Relaxed) && reads < 2_000 {
                    let r = if k == 2 {
                        get(&server, "/api/coverage?lon=113.525&lat=34.700")
                    } else {
                        get(&server, "/api/collections/roads/items?limit=10000")
                    };
                    reads += 1;
                    if r.status != 200 {
                        problems.lock().unwrap().push(format!(
                            "{}: {}",
                            r.status,
                            String::from_utf8_lossy(&r.body)
                        ));
                        continue;
                    }
                    if k != 2 {
                        // Pairs are created together: a snapshot holds both or neither.
                        let v = r.json();
                        let ids: BTreeSet<String> = v["features"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .filter_map(|f| f["id"].as_str())
                            .filter(|i| i.starts_with("R-PAIR-"))
                            .map(str::to_owned)
                            .collect();
                        for id in &ids {
                            let twin = if let Some(base) = id.strip_suffix("-a") {
                                format!("{base}-b")
                            } else {
                                id.replace("-b", "-a")
                            };
                            if !ids.contains(&twin) {
                                problems
                                    .lock()
                                    .unwrap()
                                    .push(format!("{id} without {twin}"));
                            }
                        }
                        if v["numberMatched"].as_u64()
                            != Some(v["features"].as_array().unwrap().len() as u64)
                        {
                            problems
                                .lock()
                                .unwrap()
                                .push("numberMatched disagrees with the page".into());
                        }
                    }
                }
                reads
            })
        })
        .collect();
    for i in 0..60 {
        let lon = 113.50 + (i % 30) as f64 * 0.002;
        let body = json!({"type": "FeatureCollection", "features": [
            road(&format!("R-PAIR-{i}-a"), "planned", lon), road(&format!("R-PAIR-{i}-b"), "planned", lon)]});
        let r = post(&server, "roads", &t, &body);
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }
    stop.store(true, Ordering::Relaxed);
    let reads: usize = readers.into_iter().map(|r| r.join().unwrap()).sum();
    let problems = problems.lock().unwrap();
    assert!(
        problems.is_empty(),
        "{} problems in {reads} reads: {:?}",
        problems.len(),
        &problems[..problems.len().min(5)]
    );
    assert!(reads > 30, "{reads}");
    assert_eq!(
        count(&server, "roads"),
        file_features(&geodata(), "roads").len() as u64 + 120
    );
    finish_shared(server);
}

#[test]
fn a_locked_store_answers_writes_503_and_reads_keep_working() {
    let server = Server::start(&[]);
    let t = token(&server.store, "editor", "lock");
    // Another process holds the write lock (as a backup tool might).
    let conn = rusqlite::Connection::open(&server.store).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let started = Instant::now();
    let r = post(&server, "roads", &t, &road("R-LOCKED", "planned", 113.52));
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.json()["description"]
        .as_str()
        .unwrap()
        .contains("nothing was changed"));
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(
        get(&server, "/api/collections/roads/items?limit=1").status,
        200
    );
    // /health says writes are failing, and why.
    let h = get(&server, "/health").json();
    assert_eq!(h["status"], "degraded", "{h}");
    assert_eq!(h["store"]["status"], "writes failing", "{h}");
    conn.execute_batch("ROLLBACK").unwrap();
    // Once released, writes work again and nothing half-done remains.
    assert_eq!(
        get(&server, "/api/collections/roads/items/R-LOCKED").status,
        404
    );
    let r = post(&server, "roads", &t, &road("R-LOCKED", "planned", 113.52));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(get(&server, "/health").json()["status"], "ok");
    drop(conn);
    finish(server);
}

#[test]
fn a_data_folder_served_read_only_refuses_edits_with_405() {
    let out = Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("--store"));
    let app = common::app_on(&geodata());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let r = rt.block_on(common::send(
        &app,
        axum::http::Request::post("/api/collections/roads/items")
            .header("host", "localhost")
            .header("content-type", "application/geo+json")
            .body(axum::body::Body::from(
                road("R-RO", "planned", 113.52).to_string(),
            ))
            .unwrap(),
    ));
    assert_eq!(r.status.as_u16(), 405);
    assert!(r.json()["description"]
        .as_str()
        .unwrap()
        .contains("--store"));
}

/// Writers in several threads, SIGKILL at `kill_after`; every write that got
/// a 2xx must be in the restarted store, intact, and nothing else half-done.
fn kill_during_writes(kill_after: Duration) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("z.gpkg");
    let mut server = Server::start_on(&store, &[]);
    let t = token(&store, "editor", "durable");
    let acked = Arc::new(Mutex::new(Vec::<(String, Value)>::new()));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (base, t, acked) = (server.base.clone(), t.clone(), Arc::clone(&acked));
            std::thread::spawn(move || {
                for i in 0..200 {
                    let id = format!("R-D-{w}-{i}");
                    let f = road(&id, "planned", 113.50 + (i % 40) as f64 * 0.001);
                    let a = auth(&t);
                    let url = format!("{base}/api/collections/roads/items");
                    let attempt = std::panic::catch_unwind(|| {
                        http(
                            "POST",
                            &url,
                            &[
                                ("Authorization", &a),
                                ("Content-Type", "application/geo+json"),
                            ],
                            f.to_string().as_bytes(),
                        )
                    });
                    match attempt {
                        Ok(r) if r.status == 201 => acked.lock().unwrap().push((id, f)),
                        _ => break, // the server is gone
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(kill_after);
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    for w in writers {
        let _ = w.join();
    }
    drop(server);
    integrity_ok(&store);
    let acked = acked.lock().unwrap().clone();
    assert!(
        !acked.is_empty(),
        "no write was acknowledged before the kill"
    );
    let server = Server::start_on(&store, &[]);
    let v = get(&server, "/api/collections/roads/items?limit=10000").json();
    let stored: std::collections::HashMap<String, Value> = v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_str().unwrap().to_owned(), f.clone()))
        .collect();
    for (id, sent) in &acked {
        let got = stored
            .get(id)
            .unwrap_or_else(|| panic!("acknowledged {id} is lost"));
        // Coordinates are served to 1e-7 degree (about a centimetre).
        let (g, w) = (
            &got["geometry"]["coordinates"],
            &sent["geometry"]["coordinates"],
        );
        for k in 0..2 {
            for j in 0..2 {
                let d = g[k][j].as_f64().unwrap() - w[k][j].as_f64().unwrap();
                assert!(d.abs() < 1e-7, "{id}: {g} vs {w}");
            }
        }
        assert_eq!(got["properties"], sent["properties"], "{id}");
    }
    // Nothing but whole features: every test road is complete.
    for (id, f) in &stored {
        if id.starts_with("R-D-") {
            assert_eq!(f["properties"]["class"], "branch", "{id} is half-written");
        }
    }
    drop(server);
    integrity_ok(&store);
}

#[test]
fn every_acknowledged_write_survives_sigkill_at_three_moments() {
    for ms in [150, 400, 900] {
        kill_during_writes(Duration::from_millis(ms));
    }
}

#[test]
fn an_edited_road_keeps_the_other_services_zone_results() {
    use zoneatlas::coverage::Scenario;
    use zoneatlas::live::{Edit, Live};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.gpkg");
    let store = zoneatlas::store::gpkg::create_from_folder(&path, &geodata()).unwrap();
    let live = Live::open(Box::new(store)).unwrap();
    let before = live.snapshot();
    let c = before.coverage.as_ref().unwrap();
    c.warm(&before.layers);
    let applied = live
        .submit(
            vec![Edit::Create {
                layer: "roads".into(),
                feature: road("R-CACHE", "existing", 113.52),
            }],
            "test",
        )
        .unwrap();
    let after = live.snapshot();
    assert_eq!(after.revision, applied.revision);
    assert_eq!(after.revision, before.revision + 1);
    let c = after.coverage.as_ref().unwrap();
    for service in ["water", "gas", "steam", "power", "park"] {
        assert!(
            c.zone_cached(service, Scenario::Current),
            "{service} recomputed"
        );
    }
    assert!(
        !c.zone_cached("road", Scenario::Current),
        "road kept a stale result"
    );
    // Unchanged layers are shared, the edited one is new.
    let pos = |id: &str| after.layer_position(id).unwrap();
    assert!(std::sync::Arc::ptr_eq(
        &before.layers[pos("pipelines")],
        &after.layers[pos("pipelines")]
    ));
    assert!(!std::sync::Arc::ptr_eq(
        &before.layers[pos("roads")],
        &after.layers[pos("roads")]
    ));
}

#[test]
fn with_no_arguments_the_default_store_is_created_from_geodata_then_reused() {
    // `cargo run --release` from a checkout: the working directory holds
    // geodata/ and no store yet.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("geodata");
    std::fs::create_dir(&data).unwrap();
    for e in std::fs::read_dir(geodata()).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), data.join(e.file_name())).unwrap();
        }
    }
    let start = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
            .current_dir(dir.path())
            .args(["--addr", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = child.stderr.take().unwrap();
        let mut text = String::new();
        let started = Instant::now();
        let mut buf = [0u8; 4096];
        while !text.contains("listening on") && started.elapsed() < Duration::from_secs(30) {
            match std::io::Read::read(&mut err, &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        text
    };
    let first = start();
    assert!(first.contains("created the store"), "{first}");
    assert!(dir.path().join("zoneatlas.gpkg").is_file());
    let second = start();
    assert!(!second.contains("created the store"), "{second}");
    // Revision 1 is the import, then one per date of geodata/history.toml.
    let history: toml::Value =
        toml::from_str(&std::fs::read_to_string(common::geodata().join("history.toml")).unwrap())
            .unwrap();
    let import = history["import"].as_str().unwrap();
    let dates: std::collections::BTreeSet<&str> = history["feature"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["status"].as_array().unwrap())
        .map(|e| e[0].as_str().unwrap())
        .filter(|t| *t != import)
        .collect();
    let want = format!("zoneatlas.gpkg (GeoPackage, revision {})", 1 + dates.len());
    assert!(second.contains(&want), "{want} not in {second}");
    integrity_ok(&dir.path().join("zoneatlas.gpkg"));
}

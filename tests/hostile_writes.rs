//! Hostile writes against the `zoneatlas` binary on a loopback port: names
//! the store cannot keep, ids and bodies that contradict their URL, one bad
//! writer among many good ones. Each was a way one request could fail
//! others or poison a layer (issue 29); every loop is bounded.

mod common;

use std::time::Duration;

use common::{http, token, Raw, Server};
use serde_json::{json, Value};

fn road(id: &str, extra: Value) -> Vec<u8> {
    let mut props = json!({
        "name": "测试路", "name_en": "Test Rd", "status": "planned",
        "class": "branch", "width_m": 16, "source": "test"
    });
    for (k, v) in extra.as_object().expect("object") {
        props[k] = v.clone();
    }
    let mut f = json!({
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[113.52, 34.70], [113.53, 34.70]]},
        "properties": props,
    });
    if !id.is_empty() {
        f["id"] = json!(id);
    }
    f.to_string().into_bytes()
}

struct Client {
    items: String,
    auth: String,
}

impl Client {
    fn new(server: &Server) -> Client {
        Client {
            items: format!("{}/api/collections/roads/items", server.base),
            auth: format!("Bearer {}", token(&server.store, "editor", "e")),
        }
    }

    fn send(&self, method: &str, url: &str, etag: Option<&str>, ct: &str, body: &[u8]) -> Raw {
        let mut headers = vec![("Authorization", self.auth.as_str()), ("Content-Type", ct)];
        if let Some(e) = etag {
            headers.push(("If-Match", e));
        }
        http(method, url, &headers, body)
    }

    fn post(&self, body: &[u8]) -> Raw {
        self.send("POST", &self.items, None, "application/geo+json", body)
    }

    fn etag(&self, id: &str) -> String {
        let r = http("GET", &format!("{}/{id}", self.items), &[], b"");
        assert_eq!(r.status, 200, "{id}");
        r.header("etag").expect("etag").to_owned()
    }
}

fn description(r: &Raw) -> String {
    r.json()["description"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Give the roads table a column no feature uses: a feature with property
/// `Zed`, created then deleted (the column stays, as columns do).
fn leave_a_bare_column(c: &Client) {
    let r = c.post(&road("R-ZED", json!({"Zed": 1})));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let etag = c.etag("R-ZED");
    let url = format!("{}/R-ZED", c.items);
    let r = c.send("DELETE", &url, Some(&etag), "application/json", b"");
    assert_eq!(r.status, 204);
}

#[test]
fn regression_a_write_failing_on_a_column_never_poisons_the_layer() {
    let server = Server::start(&[]);
    let c = Client::new(&server);
    // A name beside the layer's `name` in another case, with a new one
    // before it: refused whole, naming the property, before any SQL.
    let r = c.post(&road("", json!({"ANEW": 1, "NAME": "x"})));
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert!(description(&r).contains("\"NAME\""), "{}", description(&r));
    // The store's own columns and SQLite's row ids, in any case.
    for bad in [
        "FID",
        "GEOM",
        "rowid",
        "_rowid_",
        "OID",
        "zoneatlas_revision",
    ] {
        let r = c.post(&road("", json!({ bad: 1 })));
        assert_eq!(r.status, 400, "{bad}: {}", String::from_utf8_lossy(&r.body));
        assert!(description(&r).contains(bad), "{bad}: {}", description(&r));
    }
    // A column no feature uses any more: the store refuses its other case
    // with a 400 too (the check runs inside the commit).
    leave_a_bare_column(&c);
    let r = c.post(&road("", json!({"zed": 2})));
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert!(description(&r).contains("\"Zed\""), "{}", description(&r));
    // Then 100 ordinary writes: every one lands.
    for i in 0..100 {
        let r = c.post(&road(&format!("R-OK-{i}"), json!({"ANEW": i})));
        assert_eq!(
            r.status,
            201,
            "write {i}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
    let n = http("GET", &format!("{}?limit=1000", c.items), &[], b"").json()["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"].as_str().unwrap().starts_with("R-OK-"))
        .count();
    assert_eq!(n, 100);
    let h = http("GET", &format!("{}/health", server.base), &[], b"").json();
    assert_eq!(h["status"], "ok", "{h}");
}

#[test]
fn one_bad_name_writer_among_31_good_writers_fails_alone() {
    let server = Server::start(&[]);
    let c = std::sync::Arc::new(Client::new(&server));
    leave_a_bare_column(&c);
    // Good writers and one writer whose name the store refuses at commit:
    // concurrent requests share a commit, and a refused batch is committed
    // again request by request, so only the bad one fails.
    let threads: Vec<_> = (0..32)
        .map(|t| {
            let c = std::sync::Arc::clone(&c);
            std::thread::spawn(move || {
                let mut statuses = Vec::new();
                for i in 0..8 {
                    let body = if t == 0 {
                        road("", json!({"zed": i}))
                    } else {
                        road(&format!("R-{t}-{i}"), json!({}))
                    };
                    statuses.push(c.post(&body).status);
                }
                (t, statuses)
            })
        })
        .collect();
    let mut good = 0;
    for th in threads {
        let (t, statuses) = th.join().unwrap();
        if t == 0 {
            assert!(
                statuses.iter().all(|&s| s == 400),
                "bad writer: {statuses:?}"
            );
        } else {
            assert!(
                statuses.iter().all(|&s| s == 201),
                "writer {t}: {statuses:?}"
            );
            good += statuses.len();
        }
    }
    assert_eq!(good, 31 * 8);
    let split = server.log.lock().unwrap().matches("one by one").count();
    eprintln!("{split} batches were committed again request by request");
}

#[test]
fn ids_that_contradict_or_overflow_their_url_are_refused() {
    let server = Server::start(&[]);
    let c = Client::new(&server);
    // A 1 MB id: a 400 naming the limit, nothing stored.
    let huge = "x".repeat(1_000_000);
    let r = c.post(&road(&huge, json!({})));
    assert_eq!(r.status, 400, "{}", description(&r));
    assert!(
        description(&r).contains("at most 256"),
        "{}",
        description(&r)
    );
    // A 100 KB text in a property: 400 naming it.
    let r = c.post(&road("R-LONG", json!({"note": "长".repeat(35_000)})));
    assert_eq!(r.status, 400, "{}", description(&r));
    assert!(description(&r).contains("\"note\""), "{}", description(&r));
    // PUT whose body names another feature; PATCH of the id.
    let r = c.post(&road("R-MINE", json!({})));
    assert_eq!(r.status, 201);
    let etag = c.etag("R-MINE");
    let url = format!("{}/R-MINE", c.items);
    let r = c.send(
        "PUT",
        &url,
        Some(&etag),
        "application/geo+json",
        &road("R-OTHER", json!({})),
    );
    assert_eq!(r.status, 400, "{}", description(&r));
    assert!(
        description(&r).contains("\"R-OTHER\""),
        "{}",
        description(&r)
    );
    let r = c.send(
        "PATCH",
        &url,
        Some(&etag),
        "application/merge-patch+json",
        br#"{"id":"R-OTHER"}"#,
    );
    assert_eq!(r.status, 400, "{}", description(&r));
    // The same id in the body is no contradiction.
    let r = c.send(
        "PUT",
        &url,
        Some(&etag),
        "application/geo+json",
        &road("R-MINE", json!({})),
    );
    assert_eq!(r.status, 200, "{}", description(&r));
    assert_eq!(
        http("GET", &format!("{}/R-OTHER", c.items), &[], b"").status,
        404
    );
    // A URI far past the limit gets a JSON 414, not an empty body.
    let long = format!("{}?name={}", c.items, "a".repeat(100_000));
    let r = http("GET", &long, &[], b"");
    assert_eq!(r.status, 414);
    assert!(
        r.json()["description"].is_string(),
        "{:?}",
        String::from_utf8_lossy(&r.body)
    );
    std::thread::sleep(Duration::from_millis(1));
}

/// A road of `n` vertices zig-zagging 0.1 m across its course, 0.09 m
/// apart: 3.6 km for 40,000 vertices.
fn zigzag(n: usize) -> geo::Geometry {
    geo::Geometry::LineString(geo::LineString(
        (0..n)
            .map(|i| geo::coord! {x: 113.50 + i as f64 * 1e-6, y: 34.70 + (i % 2) as f64 * 9e-7})
            .collect(),
    ))
}

#[test]
fn regression_a_zigzag_road_is_refused_and_a_store_holding_one_starts_and_answers() {
    let mut server = Server::start(&[]);
    let c = Client::new(&server);
    let g = zigzag(40_000);
    let mut body: Value = serde_json::from_slice(&road("R-ZIGZAG", json!({}))).unwrap();
    body["geometry"] = serde_json::to_value(geojson::Geometry::from(&g)).unwrap();
    let bytes = body.to_string().into_bytes();
    assert!(bytes.len() < 1 << 20, "{} bytes", bytes.len());
    let started = std::time::Instant::now();
    let r = c.post(&bytes);
    assert_eq!(r.status, 400, "{}", description(&r));
    assert!(
        description(&r).contains("40000 vertices"),
        "{}",
        description(&r)
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // Another tool writes it into the store while no server runs.
    let dir = server.take_dir();
    let store = server.store.clone();
    server.terminate();
    drop(server);
    {
        let conn = rusqlite::Connection::open(&store).unwrap();
        conn.execute(
            "INSERT INTO roads(geom, zoneatlas_id, name, name_en, status, class, width_m, source) VALUES (?1, 'R-ZIGZAG', 'z', 'z', 'planned', 'branch', 16, 'test')",
            rusqlite::params![zoneatlas::store::wkb::encode(&g, 4326)],
        )
        .unwrap();
    }
    // The next start leaves it out, names it, and answers the zone.
    let started = std::time::Instant::now();
    let server = Server::start_on(&store, &[]);
    let up = started.elapsed();
    assert!(up < Duration::from_secs(10), "started in {up:?}");
    let problems = http("GET", &format!("{}/api/problems", server.base), &[], b"").json();
    assert!(problems.to_string().contains("R-ZIGZAG"), "{problems}");
    let zone = format!("{}/api/coverage/zone", server.base);
    let answered = loop {
        let r = http("GET", &zone, &[], b"");
        if r.status == 200 {
            break started.elapsed();
        }
        assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "zone never answered"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        answered < Duration::from_secs(10),
        "zone answered after {answered:?}"
    );
    drop(dir);
}

/// The store's revision, read with SQLite directly.
fn store_revision(store: &std::path::Path) -> String {
    let conn = rusqlite::Connection::open(store).unwrap();
    conn.query_row(
        "SELECT value FROM zoneatlas_meta WHERE key = 'revision'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}

/// `zoneatlas import ...`: its exit status, output, and the largest
/// resident set seen while it ran (kB, sampled from /proc).
fn import(args: &[&str]) -> (bool, String, u64) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
        .arg("import")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    let started = std::time::Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(&status_file) {
            if let Some(kb) = s
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            {
                peak = peak.max(kb);
            }
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "import hangs");
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text, peak)
}

#[test]
fn regression_imports_that_fail_leave_the_store_as_it_was() {
    let mut server = Server::start(&[]);
    let dir = server.take_dir().unwrap();
    let store = server.store.clone();
    server.terminate();
    drop(server);
    let before = store_revision(&store);
    let s = store.to_str().unwrap();
    // A rules file with a mistake: nothing imported.
    let rules = dir.path().join("bad.toml");
    std::fs::write(&rules, "[scenarios]\nstatus_property = 3\n").unwrap();
    let roads = format!("{}/geodata/roads.geojson", env!("CARGO_MANIFEST_DIR"));
    let (ok, out, _) = import(&[
        "--store",
        s,
        "--layer",
        "roads2",
        &roads,
        "--rules",
        rules.to_str().unwrap(),
    ]);
    assert!(!ok, "{out}");
    assert!(out.contains("nothing was imported"), "{out}");
    assert_eq!(store_revision(&store), before);
    // A 1 GiB sparse file named .shp: refused from its header, without
    // reading it into memory.
    let big = dir.path().join("big.shp");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    std::fs::write(dir.path().join("big.dbf"), b"").unwrap();
    let (ok, out, peak_kb) = import(&["--store", s, "--layer", "big", big.to_str().unwrap()]);
    assert!(!ok, "{out}");
    assert!(out.contains("9994"), "{out}");
    assert!(peak_kb < 200 * 1024, "peak RSS {peak_kb} kB");
    assert_eq!(store_revision(&store), before);
}

#[test]
fn heights_are_refused_and_numeric_ids_keep_their_type_across_a_restart() {
    let mut server = Server::start(&[]);
    let c = Client::new(&server);
    let mut body: Value = serde_json::from_slice(&road("R-3D", json!({}))).unwrap();
    body["geometry"]["coordinates"] = json!([[113.52, 34.70, 110.0], [113.53, 34.70, 112.0]]);
    let r = c.post(body.to_string().as_bytes());
    assert_eq!(r.status, 400, "{}", description(&r));
    assert!(description(&r).contains("2D"), "{}", description(&r));
    // A numeric id is served as a number, before and after a restart.
    let mut body: Value = serde_json::from_slice(&road("", json!({}))).unwrap();
    body["id"] = json!(4242);
    let r = c.post(body.to_string().as_bytes());
    assert_eq!(r.status, 201, "{}", description(&r));
    let id_of = |base: &str| {
        http(
            "GET",
            &format!("{base}/api/collections/roads/items/4242"),
            &[],
            b"",
        )
        .json()["id"]
            .clone()
    };
    assert_eq!(id_of(&server.base), json!(4242));
    let dir = server.take_dir();
    let store = server.store.clone();
    drop(server);
    let server = Server::start_on(&store, &[]);
    assert_eq!(id_of(&server.base), json!(4242));
    drop(dir);
}

#[test]
fn an_unreadable_geometry_in_a_geopackage_is_reported_and_skip_invalid_skips_it() {
    let mut server = Server::start(&[]);
    let dir = server.take_dir().unwrap();
    let store = server.store.clone();
    server.terminate();
    drop(server);
    let s = store.to_str().unwrap();
    let out = dir.path().join("roads.gpkg");
    let exported = std::process::Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
        .args([
            "export",
            "--store",
            s,
            "--layer",
            "roads",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let rows: i64 = {
        let conn = rusqlite::Connection::open(&out).unwrap();
        conn.execute(
            "UPDATE roads SET geom = x'4750000100000000' WHERE id = 'R-001'",
            [],
        )
        .unwrap();
        conn.query_row("SELECT count(*) FROM roads", [], |r| r.get(0))
            .unwrap()
    };
    let before = store_revision(&store);
    let src = out.to_str().unwrap();
    let (ok, text, _) = import(&["--store", s, "--layer", "roads_copy", src]);
    assert!(!ok, "{text}");
    assert!(text.contains("unreadable geometry"), "{text}");
    assert_eq!(store_revision(&store), before, "nothing imported");
    let (ok, text, _) = import(&["--store", s, "--layer", "roads_copy", src, "--skip-invalid"]);
    assert!(ok, "{text}");
    assert!(
        text.contains("unreadable geometry"),
        "the skip is listed: {text}"
    );
    let conn = rusqlite::Connection::open(&store).unwrap();
    let copied: i64 = conn
        .query_row("SELECT count(*) FROM roads_copy", [], |r| r.get(0))
        .unwrap();
    assert_eq!(copied, rows - 1);
}

#[test]
fn a_store_that_lost_its_wal_says_so_at_start() {
    let mut server = Server::start(&[]);
    let c = Client::new(&server);
    for i in 0..3 {
        assert_eq!(c.post(&road(&format!("R-WAL-{i}"), json!({}))).status, 201);
    }
    let dir = server.take_dir();
    let store = server.store.clone();
    drop(server); // SIGKILL: the commits stay in the -wal
    let mut wal = store.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::remove_file(&wal).expect("a -wal to delete");
    let server = Server::start_on(&store, &[]);
    std::thread::sleep(Duration::from_millis(200));
    let log = server.log.lock().unwrap().clone();
    assert!(log.contains("are gone"), "{log}");
    drop(dir);
}

//! History against the `zoneatlas` binary on a fresh store (which replays
//! the sample's illustrative history): a feature's versions, `asof` against
//! the test's own replay of the change feed, the progress report against
//! sums over `asof` answers (lengths by `geo`'s Karney geodesic), the event
//! stream across a reconnect, and bad input.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant};

use common::{file_features, geodata, http, token, Raw, Server, SAMPLE_LAYERS};
use geo::{Geodesic, Length};
use serde_json::{json, Value};

fn get(server: &Server, path: &str) -> Raw {
    http("GET", &format!("{}{path}", server.base), &[], b"")
}

fn write(
    server: &Server,
    method: &str,
    path: &str,
    t: &str,
    etag: Option<&str>,
    body: &Value,
) -> Raw {
    let a = format!("Bearer {t}");
    let mut headers = vec![("Authorization", a.as_str())];
    let kind = if method == "PATCH" {
        "application/merge-patch+json"
    } else {
        "application/geo+json"
    };
    headers.push(("Content-Type", kind));
    if let Some(e) = etag {
        headers.push(("If-Match", e));
    }
    let body = if method == "DELETE" {
        vec![]
    } else {
        body.to_string().into_bytes()
    };
    http(method, &format!("{}{path}", server.base), &headers, &body)
}

fn road(id: &str, status: &str, lon: f64) -> Value {
    json!({"type": "Feature", "id": id,
           "geometry": {"type": "LineString", "coordinates": [[lon, 34.700], [lon + 0.005, 34.701]]},
           "properties": {"name": format!("测试路{id}"), "name_en": format!("Test Rd {id}"),
                          "status": status, "class": "branch", "width_m": 16, "source": "illustrative"}})
}

fn revision_of(r: &Raw) -> u64 {
    r.header("etag")
        .or(r.header("zoneatlas-revision"))
        .unwrap_or_else(|| panic!("no revision in {} {:?}", r.status, r.headers))
        .trim_matches('"')
        .parse()
        .unwrap()
}

/// The whole change feed, following `next` links (pages of `limit`).
fn feed(server: &Server, limit: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let mut path = format!("/api/changes?since=0&limit={limit}");
    loop {
        let r = get(server, &path);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        let page = v["changes"].as_array().unwrap().clone();
        assert!(page.len() <= limit);
        out.extend(page);
        let next = v["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
            .map(|l| l["href"].as_str().unwrap().to_owned());
        match next {
            Some(href) => path = href.trim_start_matches(&server.base).to_owned(),
            None => return out,
        }
    }
}

/// JSON numbers as numbers: `4790` and `4790.0` are one value (RFC 8259
/// has no integer type; the store reads whole REALs back as integers).
fn numeric(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(a) => Value::Array(a.iter().map(numeric).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), numeric(x))).collect()),
        other => other.clone(),
    }
}

/// Per collection, its features by id: (geometry, properties).
type Collections = BTreeMap<String, BTreeMap<String, (Value, Value)>>;

/// Features by id of one collection's answer.
fn by_id(items: &Value) -> BTreeMap<String, (Value, Value)> {
    items["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let id = match &f["id"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (id, (numeric(&f["geometry"]), numeric(&f["properties"])))
        })
        .collect()
}

#[test]
fn a_features_history_is_the_sequence_of_its_edits() {
    let server = Server::start(&[]);
    let t = token(&server.store, "editor", "historian");
    let created = write(
        &server,
        "POST",
        "/api/collections/roads/items",
        &t,
        None,
        &road("H-1", "planned", 113.60),
    );
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let path = "/api/collections/roads/items/H-1";
    let e1 = created.header("etag").unwrap().to_owned();
    let patched = write(
        &server,
        "PATCH",
        path,
        &t,
        Some(&e1),
        &json!({"properties": {"status": "under_construction"}}),
    );
    assert_eq!(patched.status, 200);
    let e2 = patched.header("etag").unwrap().to_owned();
    let mut replacement = road("H-1", "existing", 113.61);
    replacement["properties"]["width_m"] = json!(24);
    let put = write(&server, "PUT", path, &t, Some(&e2), &replacement);
    assert_eq!(put.status, 200);
    let e3 = put.header("etag").unwrap().to_owned();
    let deleted = write(&server, "DELETE", path, &t, Some(&e3), &Value::Null);
    assert_eq!(deleted.status, 204);
    let want_revisions = [
        revision_of(&created),
        revision_of(&patched),
        revision_of(&put),
        revision_of(&deleted),
    ];

    let h = get(&server, &format!("{path}/history"));
    assert_eq!(h.status, 200, "{}", String::from_utf8_lossy(&h.body));
    let versions = h.json()["versions"].as_array().unwrap().clone();
    let ops: Vec<&str> = versions.iter().map(|v| v["op"].as_str().unwrap()).collect();
    // A merge patch is an update; a PUT replaces.
    assert_eq!(ops, ["create", "update", "replace", "delete"]);
    let revisions: Vec<u64> = versions
        .iter()
        .map(|v| v["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(revisions, want_revisions);
    assert!(versions.iter().all(|v| v["who"] == "historian"));
    let statuses: Vec<&Value> = versions[..3]
        .iter()
        .map(|v| &v["feature"]["properties"]["status"])
        .collect();
    assert_eq!(
        statuses,
        [
            &json!("planned"),
            &json!("under_construction"),
            &json!("existing")
        ]
    );
    assert_eq!(versions[2]["feature"]["properties"]["width_m"], 24);
    assert_eq!(versions[2]["feature"]["geometry"], replacement["geometry"]);
    assert!(
        versions[3].get("feature").is_none(),
        "a delete has no feature"
    );
    let times: Vec<&str> = versions
        .iter()
        .map(|v| v["time"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    // Gone now, but its past is still there.
    assert_eq!(get(&server, path).status, 404);
    let before = get(&server, &format!("{path}?asof=rev:{}", want_revisions[1]));
    assert_eq!(before.status, 200);
    assert_eq!(before.json()["properties"]["status"], "under_construction");
    assert_eq!(
        get(&server, "/api/collections/roads/items/NEVER/history").status,
        404
    );
    common::integrity_ok(&server.store);
}

#[test]
fn asof_at_every_revision_equals_a_replay_of_the_change_feed() {
    let server = Server::start(&[]);
    let t = token(&server.store, "editor", "replayer");
    // Live edits on top of the replayed history: a create, an update, a
    // delete of a sample feature.
    let r = write(
        &server,
        "POST",
        "/api/collections/roads/items",
        &t,
        None,
        &road("H-2", "planned", 113.60),
    );
    assert_eq!(r.status, 201);
    let item = get(&server, "/api/collections/substations/items/SS-JIANGANG");
    let e = item.header("etag").unwrap().to_owned();
    let r = write(
        &server,
        "PATCH",
        "/api/collections/substations/items/SS-JIANGANG",
        &t,
        Some(&e),
        &json!({"properties": {"status": "existing"}}),
    );
    assert_eq!(r.status, 200);
    let item = get(&server, "/api/collections/parks/items/PK-MAZHAI");
    let e = item.header("etag").unwrap().to_owned();
    assert_eq!(
        write(
            &server,
            "DELETE",
            "/api/collections/parks/items/PK-MAZHAI",
            &t,
            Some(&e),
            &Value::Null
        )
        .status,
        204
    );

    let log = feed(&server, 37);
    let latest = log.last().unwrap()["revision"].as_u64().unwrap();
    assert_eq!(get(&server, "/api/changes").json()["latest"], latest);
    // The test's own replay: per revision, every collection's features.
    let mut state: Collections = BTreeMap::new();
    let mut at: BTreeMap<u64, Collections> = BTreeMap::new();
    let mut time_of: BTreeMap<u64, String> = BTreeMap::new();
    let mut seqs = Vec::new();
    for (i, c) in log.iter().enumerate() {
        seqs.push(c["seq"].as_u64().unwrap());
        let rev = c["revision"].as_u64().unwrap();
        let layer = state
            .entry(c["collection"].as_str().unwrap().to_owned())
            .or_default();
        let id = c["feature_id"].as_str().unwrap().to_owned();
        match c.get("feature") {
            Some(f) => layer.insert(id, (numeric(&f["geometry"]), numeric(&f["properties"]))),
            None => layer.remove(&id),
        };
        time_of.insert(rev, c["time"].as_str().unwrap().to_owned());
        let last_of_revision = log
            .get(i + 1)
            .is_none_or(|n| n["revision"] != c["revision"]);
        if last_of_revision {
            at.insert(rev, state.clone());
        }
    }
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "the feed is in log order, once each"
    );
    assert_eq!(
        at.keys().copied().collect::<Vec<_>>(),
        (1..=latest).collect::<Vec<_>>()
    );
    for (&rev, collections) in &at {
        for layer in SAMPLE_LAYERS {
            let r = get(
                &server,
                &format!("/api/collections/{layer}/items?asof=rev:{rev}&limit=10000"),
            );
            assert_eq!(
                r.status,
                200,
                "{layer} at {rev}: {}",
                String::from_utf8_lossy(&r.body)
            );
            assert_eq!(
                r.header("zoneatlas-revision"),
                Some(rev.to_string().as_str())
            );
            let want = collections.get(layer).cloned().unwrap_or_default();
            assert_eq!(by_id(&r.json()), want, "{layer} as of revision {rev}");
        }
        // By time: the last revision committed at or before that instant.
        let t = &time_of[&rev];
        let by_time = time_of
            .iter()
            .filter(|(_, x)| *x <= t)
            .map(|(r, _)| *r)
            .max()
            .unwrap();
        let r = get(&server, &format!("/api/stats?asof={t}"));
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("zoneatlas-revision"),
            Some(by_time.to_string().as_str())
        );
        assert_eq!(r.json()["revision"], by_time);
    }
    // The data at the end of the replayed history is the folder's.
    let history_end = log
        .iter()
        .filter(|c| c["who"] != "replayer")
        .map(|c| c["revision"].as_u64().unwrap())
        .max()
        .unwrap();
    for layer in SAMPLE_LAYERS {
        let files: BTreeMap<String, (Value, Value)> = file_features(&geodata(), layer)
            .iter()
            .map(|f| {
                (
                    f["id"].as_str().unwrap().to_owned(),
                    (numeric(&f["geometry"]), numeric(&f["properties"])),
                )
            })
            .collect();
        assert_eq!(
            at[&history_end][layer], files,
            "{layer}: the replayed history ends at the data folder"
        );
    }
    common::integrity_ok(&server.store);
}

/// Kilometres per status of a roads answer, by Karney's geodesic.
fn km_by_status(items: &Value) -> BTreeMap<String, (u64, f64)> {
    let mut out: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    for f in items["features"].as_array().unwrap() {
        let g: geo::Geometry = serde_json::from_value::<geojson::Geometry>(f["geometry"].clone())
            .unwrap()
            .try_into()
            .unwrap();
        let km = match g {
            geo::Geometry::LineString(l) => Geodesic.length(&l),
            geo::Geometry::MultiLineString(m) => m.0.iter().map(|l| Geodesic.length(l)).sum(),
            other => panic!("a road that is not a line: {other:?}"),
        } / 1000.0;
        let e = out
            .entry(f["properties"]["status"].as_str().unwrap().to_owned())
            .or_default();
        e.0 += 1;
        e.1 += km;
    }
    out
}

#[test]
fn the_progress_report_equals_sums_over_asof_answers() {
    let mut server = Server::start(&[]);
    let r = get(&server, "/api/stats/progress?collection=roads&step=quarter");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let report = r.json();
    let steps = report["steps"].as_array().unwrap();
    assert!(
        steps.len() >= 11,
        "2024-01 to now in quarters: {}",
        steps.len()
    );
    let log = feed(&server, 1000);
    let status = |f: &Value| f["properties"]["status"].as_str().map(str::to_owned);
    for (i, step) in steps.iter().enumerate() {
        let end = step["end"].as_str().unwrap();
        let items = get(
            &server,
            &format!("/api/collections/roads/items?asof={end}&limit=10000"),
        );
        assert_eq!(items.status, 200);
        assert_eq!(
            items.header("zoneatlas-revision").unwrap(),
            step["revision"].to_string()
        );
        let want = km_by_status(&items.json());
        let got = step["by_status"].as_object().unwrap();
        assert_eq!(got.len(), want.len(), "step {i}: {got:?} vs {want:?}");
        for (s, (n, km)) in &want {
            assert_eq!(got[s]["count"], *n, "step {i} {s}");
            let reported = got[s]["length_km"].as_f64().unwrap();
            // Reported to the metre; our ruler is within 0.01% of Karney.
            assert!(
                (reported - km).abs() <= 0.0005 + km * 1e-4,
                "step {i} {s}: {reported} vs {km}"
            );
        }
        // What changed in the step, counted from the feed.
        let start_rev = if i == 0 {
            1
        } else {
            steps[i - 1]["revision"].as_u64().unwrap()
        };
        let end_rev = step["revision"].as_u64().unwrap();
        // Per road: its status now (absent: it does not exist).
        let mut last: BTreeMap<&str, String> = BTreeMap::new();
        let mut counts = [0u64; 4];
        for c in log.iter().filter(|c| c["collection"] == "roads") {
            let id = c["feature_id"].as_str().unwrap();
            let rev = c["revision"].as_u64().unwrap();
            let after = c.get("feature").map(|f| status(f).unwrap_or_default());
            let before = match &after {
                Some(a) => last.insert(id, a.clone()),
                None => last.remove(id),
            };
            if rev <= start_rev || rev > end_rev {
                continue;
            }
            match (before, after) {
                (None, Some(_)) => counts[2] += 1,
                (Some(_), None) => counts[3] += 1,
                (Some(b), Some(a)) => {
                    counts[0] += u64::from(a == "existing" && b != "existing");
                    counts[1] += u64::from(a == "under_construction" && b != a);
                }
                (None, None) => {}
            }
        }
        let ch = &step["changes"];
        assert_eq!(
            [&ch["built"], &ch["started"], &ch["added"], &ch["removed"]],
            counts.map(|n| json!(n)).each_ref(),
            "step {i}"
        );
    }
    // The last step ends at the article's figures.
    let end = &steps.last().unwrap()["by_status"];
    assert_eq!(
        (
            end["existing"]["count"].as_u64(),
            end["existing"]["length_km"].as_f64()
        ),
        (Some(25), Some(44.0))
    );
    assert_eq!(end["under_construction"]["count"], 22);
    assert_eq!(end["planned"]["count"], 15);
    // The CSV holds the same figures, a row per step.
    let csv = get(
        &server,
        "/api/stats/progress?collection=roads&step=quarter&f=csv",
    );
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let text = String::from_utf8(csv.body.clone()).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), steps.len() + 1);
    let head: Vec<&str> = rows[0].split(',').collect();
    let last: Vec<&str> = rows.last().unwrap().split(',').collect();
    let col = |name: &str| last[head.iter().position(|h| *h == name).unwrap()];
    assert_eq!(col("existing_count"), "25");
    assert_eq!(col("existing_length_km").parse::<f64>().unwrap(), 44.0);

    // A log row without its recorded status and size (as a store made
    // before they were kept has) is measured from its GeoJSON instead:
    // the same report, to the metre.
    let to = report["to"].as_str().unwrap().to_owned();
    let dir = server.take_dir();
    let store = server.store.clone();
    drop(server);
    let conn = rusqlite::Connection::open(&store).unwrap();
    conn.execute(
        "UPDATE zoneatlas_changes SET status = NULL, size = NULL",
        [],
    )
    .unwrap();
    drop(conn);
    let again = Server::start_on(&store, &[]);
    let path = format!("/api/stats/progress?collection=roads&step=quarter&to={to}");
    let r = get(&again, &path);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["steps"], report["steps"]);
    drop(again);
    drop(dir);
}

/// Read SSE events (HTTP/1.0, so the body is the raw stream) until `done`
/// says stop or `deadline` passes; returns (id, data) pairs.
fn read_events(
    server: &Server,
    last_event_id: Option<u64>,
    deadline: Instant,
    opened: impl FnOnce(),
    mut done: impl FnMut(&[(u64, Value)]) -> bool,
) -> Vec<(u64, Value)> {
    let mut s = std::net::TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut head = format!(
        "GET /api/events HTTP/1.0\r\nHost: {}\r\nAccept: text/event-stream\r\n",
        server.addr
    );
    if let Some(id) = last_event_id {
        head.push_str(&format!("Last-Event-ID: {id}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let mut reader = BufReader::new(s);
    let mut out = Vec::new();
    let (mut id, mut data) = (None, None);
    let mut line = String::new();
    // The status line: the server has subscribed this stream by now.
    while Instant::now() < deadline && line.is_empty() {
        if reader.read_line(&mut line).is_err() {
            continue;
        }
    }
    opened();
    while Instant::now() < deadline && !done(&out) {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(_) => continue,
        }
        let l = line.trim_end();
        if let Some(v) = l.strip_prefix("id: ") {
            id = v.parse().ok();
        } else if let Some(v) = l.strip_prefix("data: ") {
            data = serde_json::from_str(v).ok();
        } else if l.is_empty() {
            if let (Some(i), Some(d)) = (id.take(), data.take()) {
                out.push((i, d));
            }
        }
    }
    out
}

#[test]
fn an_event_client_that_reconnects_with_last_event_id_gets_every_revision_once() {
    let server = Server::start(&[]);
    let t = token(&server.store, "editor", "burst");
    let base = server.base.clone();
    // The burst starts once the first stream is open, so it misses none.
    let (go, start) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        let _ = start.recv();
        let mut revisions = Vec::new();
        for i in 0..200 {
            let body = road(
                &format!("EV-{i}"),
                "planned",
                113.60 + (i % 40) as f64 * 0.001,
            );
            let r = http(
                "POST",
                &format!("{base}/api/collections/roads/items"),
                &[
                    ("Authorization", &format!("Bearer {t}")),
                    ("Content-Type", "application/geo+json"),
                ],
                body.to_string().as_bytes(),
            );
            assert_eq!(r.status, 201);
            revisions.push(revision_of(&r));
            std::thread::sleep(Duration::from_millis(2));
        }
        revisions
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    // First connection: leave after 40 events, mid-burst.
    let first = read_events(
        &server,
        None,
        deadline,
        move || {
            let _ = go.send(());
        },
        |got| got.len() >= 40,
    );
    assert_eq!(
        first.len(),
        40,
        "the stream delivered events while the burst ran"
    );
    let last_id = first.last().unwrap().0;
    std::thread::sleep(Duration::from_millis(300));
    let written = writer.join().unwrap();
    let want: BTreeSet<u64> = written.iter().copied().collect();
    let second = read_events(
        &server,
        Some(last_id),
        deadline,
        || {},
        |got| got.iter().filter_map(|(_, d)| d["revision"].as_u64()).max() >= want.last().copied(),
    );
    let revisions: Vec<u64> = first
        .iter()
        .chain(&second)
        .map(|(_, d)| d["revision"].as_u64().unwrap())
        .collect();
    assert!(
        revisions.windows(2).all(|w| w[0] < w[1]),
        "each revision once, in order"
    );
    assert_eq!(
        revisions.iter().copied().collect::<BTreeSet<_>>(),
        want,
        "every acknowledged write, nothing else"
    );
    let ids: Vec<u64> = first.iter().chain(&second).map(|(i, _)| *i).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn bad_history_questions_get_a_clear_400() {
    let server = Server::start(&[]);
    let cases: &[(&str, &str)] = &[
        ("/api/stats?asof=rev:0", "no revision 0"),
        ("/api/stats?asof=rev:999999", "no revision 999999"),
        ("/api/stats?asof=rev:x", "revision number"),
        (
            "/api/collections/roads/items?asof=2023-12-31",
            "before the first revision",
        ),
        (
            "/api/collections/roads/items?asof=2999-01-01",
            "in the future",
        ),
        (
            "/api/coverage?lon=113.55&lat=34.70&asof=2025-13-01",
            "not an RFC 3339",
        ),
        ("/api/coverage/zone?asof=yesterday", "not an RFC 3339"),
        ("/api/changes?since=999999", "beyond the latest revision"),
        ("/api/changes?since=1&after=3", "not both"),
        ("/api/changes?since=-1", "whole number"),
        (
            "/api/stats/progress?collection=roads&step=week",
            "step \"week\"",
        ),
        ("/api/stats/progress?step=year", "collection is required"),
        ("/api/stats/progress?collection=nowhere", "no collection"),
        (
            "/api/stats/progress?collection=roads&from=2026-01-01&to=2025-01-01",
            "must be before",
        ),
        ("/api/stats/progress?collection=roads&f=xml", "json or csv"),
    ];
    for (path, says) in cases {
        let r = get(&server, path);
        assert!(r.status == 400 || r.status == 404, "{path}: {}", r.status);
        let v = r.json();
        let d = v["description"].as_str().unwrap_or_default();
        assert!(d.contains(says), "{path}: {d:?} does not say {says:?}");
    }
    // A position past the end (even past i64) is simply nothing yet.
    let r = get(&server, "/api/changes?after=18446744073709551615");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["changes"], json!([]));
    let r = http(
        "GET",
        &format!("{}/api/events", server.base),
        &[("Last-Event-ID", "abc")],
        b"",
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["description"]
        .as_str()
        .unwrap()
        .contains("Last-Event-ID"));
}

//! Hostile clients against the `zoneatlas` binary on a loopback port: bad
//! requests of every kind, expensive parcels in parallel, slow, idle and
//! half-sent requests, SIGTERM mid-request, a flood of silent sockets.
//! Every loop is bounded in count and time; nothing leaves 127.0.0.1.
//! Regression tests for the hardening issue are named `regression_*`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{http, parse_response, token, Raw, Server};
use serde_json::{json, Value};

/// Raw bytes to the server, then whatever it answers until it closes.
fn raw(addr: &str, bytes: &[u8]) -> Raw {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(bytes).unwrap();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse_response(&buf)
}

fn is_json_error(r: &Raw) -> bool {
    r.header("content-type")
        .is_some_and(|c| c.starts_with("application/json"))
        && serde_json::from_slice::<Value>(&r.body)
            .is_ok_and(|v| v["code"].is_string() && v["description"].is_string())
}

/// A star of `n` vertices around (lon, lat): long spikes that cross every
/// buffer boundary, the costliest shape per vertex for the overlay.
fn star(n: usize, lon: f64, lat: f64, r1: f64, r2: f64) -> Value {
    let mut ring: Vec<[f64; 2]> = (0..n)
        .map(|i| {
            let a = i as f64 / n as f64 * std::f64::consts::TAU;
            let r = if i % 2 == 0 { r1 } else { r2 };
            [lon + r * a.cos() / 0.82, lat + r * a.sin()]
        })
        .collect();
    ring.push(ring[0]);
    json!({"type": "Polygon", "coordinates": [ring]})
}

#[test]
fn bad_requests_table_every_error_is_json_with_its_status() {
    let server = Server::start(&[]);
    let b = &server.base;
    let geo = ("Content-Type", "application/geo+json");
    let square = r#"{"type":"Polygon","coordinates":[[[113.52,34.70],[113.521,34.70],[113.521,34.701],[113.52,34.701],[113.52,34.70]]]}"#;
    #[allow(clippy::type_complexity)]
    let cases: Vec<(&str, String, Vec<(&str, &str)>, &str, u16, &str)> = vec![
        ("GET", "/api/nothing".into(), vec![], "", 404, "no such"),
        ("GET", "/api/proposals/nope".into(), vec![], "", 404, "nope"),
        (
            "GET",
            "/api/tiles/WebMercatorQuad/14/6000/13000?proposal=nope".into(),
            vec![],
            "",
            404,
            "nope",
        ),
        (
            "GET",
            "/api/stats?proposal=a&proposal=b".into(),
            vec![],
            "",
            400,
            "more than once",
        ),
        (
            "GET",
            "/api/proposals/nope/diff?consequences=maybe".into(),
            vec![],
            "",
            400,
            "consequences",
        ),
        (
            "POST",
            "/api/proposals".into(),
            vec![],
            r#"{"title":"x"}"#,
            401,
            "Bearer",
        ),
        (
            "POST",
            "/api/proposals/nope/adopt".into(),
            vec![],
            "",
            401,
            "Bearer",
        ),
        (
            "GET",
            "/api/collections/%FF/items".into(),
            vec![],
            "",
            400,
            "path",
        ),
        (
            "GET",
            "/api/collections/%FF".into(),
            vec![],
            "",
            400,
            "path",
        ),
        (
            "GET",
            "/api/collections/roads/items/%FF%FE".into(),
            vec![],
            "",
            400,
            "path",
        ),
        (
            "GET",
            "/api/collections/nope".into(),
            vec![],
            "",
            404,
            "nope",
        ),
        (
            "GET",
            "/api/collections/nope/items".into(),
            vec![],
            "",
            404,
            "nope",
        ),
        (
            "GET",
            "/api/collections/roads/items/R-999".into(),
            vec![],
            "",
            404,
            "R-999",
        ),
        (
            "GET",
            "/api/collections/roads/items?bbox=1,2,3".into(),
            vec![],
            "",
            400,
            "4 or 6",
        ),
        (
            "GET",
            "/api/collections/roads/items?bbox=1,2,3,4,5".into(),
            vec![],
            "",
            400,
            "4 or 6",
        ),
        (
            "GET",
            "/api/collections/roads/items?bbox=a,b,c,d".into(),
            vec![],
            "",
            400,
            "not a number",
        ),
        (
            "GET",
            "/api/collections/roads/items?limit=0".into(),
            vec![],
            "",
            400,
            "limit",
        ),
        (
            "GET",
            "/api/collections/roads/items?offset=-1".into(),
            vec![],
            "",
            400,
            "offset",
        ),
        (
            "GET",
            "/api/collections/roads/items?colour=red".into(),
            vec![],
            "",
            400,
            "colour",
        ),
        (
            "GET",
            "/api/collections/roads/items?f=xml".into(),
            vec![],
            "",
            400,
            "xml",
        ),
        (
            "GET",
            "/api/collections/roads/items?bbox-crs=EPSG:2000".into(),
            vec![],
            "",
            400,
            "bbox-crs",
        ),
        ("GET", "/api?colour=red".into(), vec![], "", 400, "colour"),
        ("GET", "/api/?colour=red".into(), vec![], "", 400, "colour"),
        (
            "GET",
            "/api/conformance?x=1".into(),
            vec![],
            "",
            400,
            "\"x\"",
        ),
        (
            "GET",
            "/api/collections?x=1".into(),
            vec![],
            "",
            400,
            "\"x\"",
        ),
        (
            "GET",
            "/api/collections/roads?x=1".into(),
            vec![],
            "",
            400,
            "\"x\"",
        ),
        (
            "GET",
            "/api/collections/roads/queryables?x=1".into(),
            vec![],
            "",
            400,
            "\"x\"",
        ),
        (
            "GET",
            "/api/collections/roads/items/R-001?x=1".into(),
            vec![],
            "",
            400,
            "\"x\"",
        ),
        (
            "GET",
            "/api/openapi.json?x=1".into(),
            vec![],
            "",
            400,
            "\"x\"",
        ),
        ("GET", "/health?x=1".into(), vec![], "", 400, "\"x\""),
        ("GET", "/api/coverage".into(), vec![], "", 400, "lon"),
        (
            "GET",
            "/api/coverage?lon=200&lat=34".into(),
            vec![],
            "",
            400,
            "lon",
        ),
        (
            "GET",
            "/api/coverage?lon=113.5&lat=34.7&scenario=later".into(),
            vec![],
            "",
            400,
            "scenario",
        ),
        (
            "GET",
            "/api/coverage?lon=113.5&lat=34.7&without=NOPE".into(),
            vec![],
            "",
            400,
            "NOPE",
        ),
        (
            "GET",
            "/api/coverage/gaps".into(),
            vec![],
            "",
            400,
            "service",
        ),
        (
            "GET",
            "/api/coverage/gaps?service=internet".into(),
            vec![],
            "",
            400,
            "internet",
        ),
        (
            "GET",
            "/api/coverage/sites?f=csv".into(),
            vec![],
            "",
            400,
            "csv",
        ),
        (
            "DELETE",
            "/api/collections".into(),
            vec![],
            "",
            405,
            "DELETE",
        ),
        (
            "POST",
            "/api/coverage".into(),
            vec![("Content-Type", "text/plain")],
            square,
            415,
            "Content-Type",
        ),
        (
            "POST",
            "/api/coverage".into(),
            vec![],
            square,
            415,
            "Content-Type",
        ),
        (
            "POST",
            "/api/coverage".into(),
            vec![geo],
            "not json",
            400,
            "not JSON",
        ),
        (
            "POST",
            "/api/coverage".into(),
            vec![geo],
            r#"{"type":"Point","coordinates":[113.5,34.7]}"#,
            400,
            "Polygon",
        ),
        (
            "POST",
            "/api/coverage".into(),
            vec![geo],
            r#"{"type":"Polygon","coordinates":[[[-170,-80],[170,-80],[170,80],[-170,80],[-170,-80]]]}"#,
            400,
            "across",
        ),
        (
            "GET",
            "/api/collections".into(),
            vec![("Host", "evil.example\"><script>")],
            "",
            400,
            "Host",
        ),
        (
            "GET",
            "/api/collections".into(),
            vec![("Host", "a b")],
            "",
            400,
            "Host",
        ),
        (
            "GET",
            "/api/collections/nope".into(),
            vec![("If-None-Match", "*")],
            "",
            404,
            "nope",
        ),
    ];
    assert!(cases.len() >= 30);
    for (method, path, headers, body, status, needle) in &cases {
        let r = http(method, &format!("{b}{path}"), headers, body.as_bytes());
        assert_eq!(
            r.status,
            *status,
            "{method} {path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(
            is_json_error(&r),
            "{method} {path}: not a JSON error: {:?} {}",
            r.header("content-type"),
            String::from_utf8_lossy(&r.body)
        );
        let d = r.json()["description"].as_str().unwrap_or("").to_owned();
        assert!(
            d.contains(needle),
            "{method} {path}: {d:?} lacks {needle:?}"
        );
    }
    // Outside /api the web page's 404 may be plain, but never empty.
    let r = http("GET", &format!("{b}/nothing-here"), &[], b"");
    assert_eq!(r.status, 404);
    assert!(!r.body.is_empty());
    // And the server is still up.
    assert_eq!(http("GET", &format!("{b}/health"), &[], b"").status, 200);
}

#[test]
fn regression_the_api_answers_with_a_trailing_slash() {
    let server = Server::start(&[]);
    for path in [
        "/api/",
        "/api/collections/",
        "/api/collections/roads/items/",
    ] {
        let r = http("GET", &format!("{}{path}", server.base), &[], b"");
        assert_eq!(r.status, 200, "{path}");
        r.json();
    }
}

#[test]
fn regression_if_none_match_star_on_a_missing_resource_is_404_not_304() {
    let server = Server::start(&[]);
    let star = [("If-None-Match", "*")];
    let r = http(
        "GET",
        &format!("{}/api/collections/nope", server.base),
        &star,
        b"",
    );
    assert_eq!(r.status, 404);
    let r = http(
        "GET",
        &format!("{}/api/collections/roads", server.base),
        &star,
        b"",
    );
    assert_eq!(r.status, 304);
}

#[test]
fn regression_unknown_parameters_are_refused_on_every_resource() {
    let server = Server::start(&[]);
    for path in [
        "/api",
        "/api/conformance",
        "/api/collections",
        "/api/collections/roads",
        "/api/collections/roads/queryables",
        "/api/collections/roads/items/R-001",
        "/api/coverage/zone",
        "/api/stats",
        "/health",
    ] {
        let r = http("GET", &format!("{}{path}?limt=5", server.base), &[], b"");
        assert_eq!(r.status, 400, "{path}");
        assert!(r.json()["description"].as_str().unwrap().contains("limt"));
    }
}

#[test]
fn regression_post_bodies_need_a_json_content_type() {
    let server = Server::start(&[]);
    let body = star(8, 113.52, 34.70, 0.001, 0.001).to_string();
    let url = format!("{}/api/coverage", server.base);
    for (ct, status) in [
        ("text/plain", 415),
        ("application/x-www-form-urlencoded", 415),
        ("application/json", 200),
        ("application/geo+json; charset=utf-8", 200),
    ] {
        let r = http("POST", &url, &[("Content-Type", ct)], body.as_bytes());
        assert_eq!(
            r.status,
            status,
            "{ct}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
}

#[test]
fn regression_security_headers_on_the_api_and_the_page() {
    let server = Server::start(&[]);
    let api = http("GET", &format!("{}/api", server.base), &[], b"");
    let page = http("GET", &format!("{}/", server.base), &[], b"");
    for r in [&api, &page] {
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    }
    let csp = page
        .header("content-security-policy")
        .expect("CSP on the page");
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(String::from_utf8_lossy(&page.body).contains("<html"));
}

#[test]
fn regression_the_host_header_is_never_copied_into_links_unchecked() {
    let server = Server::start(&[]);
    let r = http(
        "GET",
        &format!("{}/api", server.base),
        &[("Host", "evil.example\"><script>alert(1)</script>")],
        b"",
    );
    assert_eq!(r.status, 400);
    assert!(!String::from_utf8_lossy(&r.body).contains("<script>"));
    // A proper host:port still makes the links.
    let r = http(
        "GET",
        &format!("{}/api", server.base),
        &[("Host", "maps.example.org:8443")],
        b"",
    );
    assert_eq!(r.status, 200);
    assert!(r.json()["links"][0]["href"]
        .as_str()
        .unwrap()
        .starts_with("http://maps.example.org:8443/api"));
}

#[test]
fn regression_log_lines_carry_no_colour_codes_when_not_on_a_terminal() {
    let server = Server::start(&[]);
    http("GET", &format!("{}/api", server.base), &[], b"");
    std::thread::sleep(Duration::from_millis(200));
    let log = server.log.lock().unwrap().clone();
    assert!(log.contains("listening on"), "{log}");
    assert!(!log.contains('\u{1b}'), "ANSI escape in the log: {log:?}");
}

#[test]
fn regression_addr_takes_a_host_name() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--addr", "localhost:0", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    // And it really serves there.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["--addr", "localhost:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = child.stderr.take().unwrap();
    let started = Instant::now();
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains("listening on") && started.elapsed() < Duration::from_secs(30) {
        match err.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(text.contains("listening on http://127.0.0.1:"), "{text}");
}

#[test]
fn regression_a_declared_huge_body_is_refused_at_once() {
    let server = Server::start(&[]);
    let started = Instant::now();
    let r = raw(
        &server.addr,
        b"POST /api/coverage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2147483648\r\n\r\n{",
    );
    assert_eq!(r.status, 413);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn regression_a_whole_world_parcel_is_refused_not_mismeasured() {
    let server = Server::start(&[]);
    let world = json!({"type":"Polygon","coordinates":[[[-179,-85],[179,-85],[179,85],[-179,85],[-179,-85]]]});
    let r = http(
        "POST",
        &format!("{}/api/coverage", server.base),
        &[("Content-Type", "application/json")],
        world.to_string().as_bytes(),
    );
    assert_eq!(r.status, 400);
    assert!(r.json()["description"]
        .as_str()
        .unwrap()
        .contains("50000 m across"));
}

#[test]
fn expensive_parcels_in_parallel_leave_health_fast() {
    let server = Server::start(&["--compute-deadline", "4"]);
    let body = star(9_000, 113.53, 34.70, 0.03, 0.005).to_string();
    let url = format!("{}/api/coverage", server.base);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (url, body) = (url.clone(), body.clone());
            std::thread::spawn(move || {
                http(
                    "POST",
                    &url,
                    &[("Content-Type", "application/json")],
                    body.as_bytes(),
                )
            })
        })
        .collect();
    // Meanwhile /health answers within 100 ms, every time.
    std::thread::sleep(Duration::from_millis(100));
    let health = format!("{}/health", server.base);
    let mut worst = Duration::ZERO;
    let until = Instant::now() + Duration::from_secs(3);
    let mut probes = 0;
    while Instant::now() < until {
        let t = Instant::now();
        assert_eq!(http("GET", &health, &[], b"").status, 200);
        worst = worst.max(t.elapsed());
        probes += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(probes > 20);
    assert!(worst < Duration::from_millis(100), "health took {worst:?}");
    for w in workers {
        let r = w.join().unwrap();
        // Either answered, or refused as busy / past the deadline: never a
        // 500 or a dropped connection.
        assert!(
            [200, 503].contains(&r.status),
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(r.status == 200 || r.header("retry-after").is_some());
    }
}

#[test]
fn readers_cycling_through_many_proposals_leave_health_fast_and_fail_alone() {
    let server = Server::start(&[]);
    let bearer = format!("Bearer {}", common::token(&server.store, "editor", "ed"));
    // Twenty proposals, one change each: more than the views kept, so a
    // reader cycling through them has views rebuilt again and again.
    let ids: Vec<String> = (0..20)
        .map(|i| {
            let r = http(
                "POST",
                &format!("{}/api/proposals", server.base),
                &[
                    ("Authorization", &bearer),
                    ("Content-Type", "application/json"),
                ],
                json!({"title": format!("option {i}")})
                    .to_string()
                    .as_bytes(),
            );
            assert_eq!(r.status, 201);
            let id = r.json()["id"].as_str().unwrap().to_owned();
            let url = format!(
                "{}/api/collections/roads/items/R-001?proposal={id}",
                server.base
            );
            let etag = http("GET", &url, &[], b"")
                .header("etag")
                .unwrap()
                .to_owned();
            let r = http(
                "PATCH",
                &url,
                &[
                    ("Authorization", &bearer),
                    ("If-Match", &etag),
                    ("Content-Type", "application/merge-patch+json"),
                ],
                json!({"properties": {"width_m": 10 + i}})
                    .to_string()
                    .as_bytes(),
            );
            assert_eq!(r.status, 200);
            id
        })
        .collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..8)
        .map(|k| {
            let (ids, base, stop) = (ids.clone(), server.base.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut i = k;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let id = &ids[i % ids.len()];
                    let r = http(
                        "GET",
                        &format!("{base}/api/collections/roads/items/R-001?proposal={id}"),
                        &[],
                        b"",
                    );
                    seen.push((
                        r.status,
                        is_json_error(&r),
                        r.json()["properties"]["width_m"].clone(),
                        i % ids.len(),
                    ));
                    i += 3;
                }
                seen
            })
        })
        .collect();
    let health = format!("{}/health", server.base);
    let mut worst = Duration::ZERO;
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let t = Instant::now();
        assert_eq!(http("GET", &health, &[], b"").status, 200);
        worst = worst.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(worst < Duration::from_millis(100), "health took {worst:?}");
    let mut answered = 0;
    for r in readers {
        for (status, json_error, width, k) in r.join().unwrap() {
            // Each proposal's own answer, or a JSON 503 (busy): never
            // another proposal's, never a 500.
            match status {
                200 => {
                    assert_eq!(width, json!(10 + k), "proposal {k}");
                    answered += 1;
                }
                503 => assert!(json_error),
                other => panic!("status {other}"),
            }
        }
    }
    assert!(answered > 100, "only {answered} reads answered");
}

#[test]
fn a_parcel_too_costly_for_the_budget_gets_413_before_any_work() {
    let server = Server::start(&[]);
    // 20,000 spikes over the whole zone: twice the cost budget.
    let body = star(20_000, 113.53, 34.70, 0.03, 0.005).to_string();
    let started = Instant::now();
    let r = http(
        "POST",
        &format!("{}/api/coverage", server.base),
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(r.status, 413, "{}", String::from_utf8_lossy(&r.body));
    let d = r.json()["description"].as_str().unwrap().to_owned();
    assert!(d.contains("too complex") || d.contains("too costly"), "{d}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

/// A park redrawn as a 50,000-vertex star (spikes that all overlap along
/// both axes: billions of segment pairs for the validity sweep), in 4
/// decimals so the body stays under the 1 MiB limit.
fn star_park_body(id: &str) -> String {
    let n = 50_000;
    let ring: Vec<String> = (0..=n)
        .map(|i| {
            let a = (i % n) as f64 / n as f64 * std::f64::consts::TAU;
            let r = if i % 2 == 0 { 0.03 } else { 0.005 };
            format!(
                "[{:.4},{:.4}]",
                113.53 + r * a.cos() / 0.82,
                34.70 + r * a.sin()
            )
        })
        .collect();
    format!(
        r#"{{"type":"Feature","id":"{id}","properties":{{"name":"star","status":"existing"}},"geometry":{{"type":"Polygon","coordinates":[[{}]]}}}}"#,
        ring.join(",")
    )
}

/// Regression (the house issue): an edit's polygon skipped the sweep budget
/// that a posted parcel gets, and was validated while the writer waited.
/// A 50k-vertex star in a PUT is refused with a JSON 400 in bounded time,
/// writes go on, and /health stays fast while such PUTs keep coming.
#[test]
fn regression_a_pathological_polygon_in_a_put_is_refused_by_the_budget() {
    let server = Server::start(&[]);
    let editor = token(&server.store, "editor", "e");
    let parks = http(
        "GET",
        &format!("{}/api/collections/parks/items?limit=1", server.base),
        &[],
        b"",
    )
    .json();
    let id = parks["features"][0]["id"].as_str().unwrap().to_owned();
    let url = format!("{}/api/collections/parks/items/{id}", server.base);
    let etag = http("GET", &url, &[], b"")
        .header("etag")
        .unwrap()
        .to_owned();
    let body = star_park_body(&id);
    assert!(body.len() < 1 << 20, "{} bytes", body.len());
    let auth = format!("Bearer {editor}");
    let put = {
        let (url, etag, auth, body) = (url.clone(), etag.clone(), auth.clone(), body.clone());
        move || {
            let started = Instant::now();
            let r = http(
                "PUT",
                &url,
                &[
                    ("Authorization", &auth),
                    ("If-Match", &etag),
                    ("Content-Type", "application/geo+json"),
                ],
                body.as_bytes(),
            );
            (r, started.elapsed())
        }
    };
    let (r, took) = put();
    assert_eq!(r.status, 400, "{}", String::from_utf8_lossy(&r.body));
    assert!(is_json_error(&r));
    let d = r.json()["description"].as_str().unwrap().to_owned();
    assert!(d.contains("too complex to validate"), "{d}");
    assert!(took < Duration::from_secs(5), "refused after {took:?}");
    // Two clients keep sending it while /health is probed.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let senders: Vec<_> = (0..2)
        .map(|_| {
            let (put, stop) = (put.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let (r, _) = put();
                    assert_eq!(r.status, 400);
                    n += 1;
                }
                n
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let health = format!("{}/health", server.base);
    let mut times = Vec::new();
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let t = Instant::now();
        assert_eq!(http("GET", &health, &[], b"").status, 200);
        times.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(30));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent: usize = senders.into_iter().map(|s| s.join().unwrap()).sum();
    times.sort();
    // Other tests of this binary run beside this one on two cores: the
    // 95th percentile is held to 50 ms (12 ms worst seen alone).
    let p95 = times[times.len() * 95 / 100];
    assert!(sent >= 4, "only {sent} PUTs in 3 s");
    assert!(
        p95 < Duration::from_millis(50),
        "/health p95 {p95:?} of {times:?}"
    );
    // The park is as it was, and an ordinary edit of it goes through.
    let ok = http(
        "PATCH",
        &url,
        &[
            ("Authorization", &auth),
            ("If-Match", &etag),
            ("Content-Type", "application/merge-patch+json"),
        ],
        br#"{"properties":{"name":"still a park"}}"#,
    );
    assert_eq!(ok.status, 200, "{}", String::from_utf8_lossy(&ok.body));
}

/// Whether the server has closed a connection: a read returns 0 (or an
/// error) rather than timing out.
fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    s.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue, // e.g. a 408 answer before the close
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return None
            }
            Err(_) => return Some(started.elapsed()),
        }
    }
}

#[test]
fn slow_and_idle_clients_are_closed_after_the_documented_timeouts() {
    let server = Server::start(&["--header-timeout", "1", "--body-timeout", "1"]);
    // Idle: connects and says nothing.
    let mut idle = TcpStream::connect(&server.addr).unwrap();
    // Half a header.
    let mut half = TcpStream::connect(&server.addr).unwrap();
    half.write_all(b"GET /api HTTP/1.1\r\nHost: x\r\n").unwrap();
    // Kept alive after one request, then idle.
    let mut kept = TcpStream::connect(&server.addr).unwrap();
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // A body that drips.
    let mut drip = TcpStream::connect(&server.addr).unwrap();
    drip.write_all(b"POST /api/coverage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{").unwrap();
    for (name, s) in [
        ("idle", &mut idle),
        ("half header", &mut half),
        ("kept alive", &mut kept),
    ] {
        let t = closed_within(s, Duration::from_secs(4));
        assert!(t.is_some(), "{name} connection still open after 4 s");
    }
    drip.set_read_timeout(Some(Duration::from_secs(4))).unwrap();
    let mut buf = Vec::new();
    let _ = drip.read_to_end(&mut buf);
    let r = parse_response(&buf);
    assert_eq!(r.status, 408, "{}", String::from_utf8_lossy(&r.body));
}

#[test]
fn sigterm_with_a_half_sent_request_exits_within_the_grace_period() {
    let mut server = Server::start(&["--header-timeout", "60", "--shutdown-grace", "1"]);
    let mut half = TcpStream::connect(&server.addr).unwrap();
    half.write_all(b"GET /api HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    server.terminate();
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "still running 4 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_flood_of_silent_sockets_is_shed_and_health_recovers() {
    let server = Server::start(&["--header-timeout", "1", "--max-connections", "16"]);
    let flood: Vec<TcpStream> = (0..64)
        .filter_map(|_| TcpStream::connect(&server.addr).ok())
        .collect();
    assert!(flood.len() >= 32);
    // Within a few header timeouts every silent socket is gone and the
    // server answers again.
    let started = Instant::now();
    let health = format!("{}/health", server.base);
    let answered = loop {
        if http("GET", &health, &[], b"").status == 200 {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "health never answered"
        );
    };
    assert!(answered < Duration::from_secs(10), "{answered:?}");
    drop(flood);
}

/// A costly CQL2 filter (a spatial relation with a 300-vertex literal for
/// every feature of a city) is cut off at the compute deadline with a 503,
/// on `/items` and on a tile, and the server keeps answering meanwhile.
#[test]
fn a_costly_filter_ends_at_the_deadline_with_a_503() {
    let city = tempfile::tempdir().unwrap();
    zoneatlas::synth::write(city.path(), 400_000, 42).unwrap();
    let dir = city.path().to_str().unwrap();
    let server = Server::start(&["--data", dir, "--compute-deadline", "1"]);
    // The synthetic city's centre; the circle holds all of it.
    let (cx, cy, r) = (113.62, 34.75, 0.2);
    let ring: Vec<String> = (0..=300)
        .map(|k| {
            let a = std::f64::consts::TAU * f64::from(k % 300) / 300.0;
            format!("{:.5} {:.5}", cx + r * a.cos(), cy + r * a.sin())
        })
        .collect();
    let filter = format!("S_TOUCHES(geometry, POLYGON(({})))", ring.join(", "));
    let q: String = form_urlencoded::byte_serialize(filter.as_bytes()).collect();
    for path in [
        format!("/api/collections/roads/items?limit=1&filter={q}"),
        format!("/api/tiles/WebMercatorQuad/10/406/835?filter={q}"),
    ] {
        let started = Instant::now();
        let (tx, rx) = std::sync::mpsc::channel();
        let url = format!("{}{path}", server.base);
        std::thread::spawn(move || tx.send(http("GET", &url, &[], b"")).unwrap());
        std::thread::sleep(Duration::from_millis(300));
        // The async workers stay free while it runs.
        let health = http("GET", &format!("{}/health", server.base), &[], b"");
        assert_eq!(health.status, 200);
        let r = rx.recv_timeout(Duration::from_secs(30)).expect("an answer");
        assert_eq!(
            r.status,
            503,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(is_json_error(&r));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}

#[test]
fn regression_sigterm_during_zone_work_exits_within_the_grace_period() {
    // A city whose zone takes seconds: requests that need it are waiting
    // on the blocking pool when SIGTERM comes; the process must not wait
    // for them past the grace period.
    let city = tempfile::tempdir().unwrap();
    zoneatlas::synth::write(city.path(), 400_000, 7).unwrap();
    let dir = city.path().to_str().unwrap();
    let mut server = Server::start(&["--data", dir, "--shutdown-grace", "1"]);
    for path in [
        "/api/stats",
        "/api/coverage/sites",
        "/api/coverage/zone",
        "/api/coverage/gaps?service=road",
        "/api/coverage/suitable?services=road,water&min_area_m2=1000",
        "/api/coverage/zone?scenario=planned",
    ] {
        let url = format!("{}{path}", server.base);
        std::thread::spawn(move || http("GET", &url, &[], b""));
    }
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    server.terminate();
    loop {
        if server.child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(6),
            "still running 6 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
}

/// While a city's zone is computed after start-up, `/health` and `/metrics`
/// say how far it got (cells done of its cells, never going back), the
/// statistics' 503 names it, and once done the progress is gone and the
/// finished computation's cell count is the one the progress counted to.
#[test]
fn zone_progress_is_visible_while_it_is_computed() {
    let city = tempfile::tempdir().unwrap();
    zoneatlas::synth::write(city.path(), 400_000, 11).unwrap();
    let dir = city.path().to_str().unwrap();
    let server = Server::start(&["--data", dir]);
    let mut seen: std::collections::BTreeMap<(String, String), Vec<(u64, u64)>> =
        Default::default();
    let mut named = false;
    let mut metric = false;
    let started = Instant::now();
    loop {
        let h = http("GET", &format!("{}/health", server.base), &[], b"").json();
        for p in h["zone_progress"].as_array().unwrap() {
            let key = (
                p["service"].as_str().unwrap().to_owned(),
                p["scenario"].as_str().unwrap().to_owned(),
            );
            let v = (
                p["cells_done"].as_u64().unwrap(),
                p["cells"].as_u64().unwrap(),
            );
            seen.entry(key).or_default().push(v);
        }
        let stats = http("GET", &format!("{}/api/stats", server.base), &[], b"");
        if stats.status == 503 {
            named |= stats.json()["description"]
                .as_str()
                .unwrap()
                .contains(" cells");
            let m = http("GET", &format!("{}/metrics", server.base), &[], b"");
            metric |= String::from_utf8_lossy(&m.body)
                .lines()
                .any(|l| l.starts_with("zoneatlas_zone_running_cells{"));
        } else {
            assert_eq!(stats.status, 200);
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the zone took over 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!seen.is_empty(), "no progress was ever shown");
    assert!(named, "the statistics' 503 never said how far the zone got");
    assert!(metric, "/metrics never showed a running computation");
    // The planned scenario's computation follows the current one's.
    while http(
        "GET",
        &format!("{}/api/stats?scenario=planned", server.base),
        &[],
        b"",
    )
    .status
        == 503
    {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "the planned zone took over 4 minutes"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let m =
        String::from_utf8(http("GET", &format!("{}/metrics", server.base), &[], b"").body).unwrap();
    for ((service, scenario), obs) in &seen {
        assert!(
            obs.windows(2).all(|w| w[1].0 >= w[0].0 && w[1].1 == w[0].1),
            "{service} {scenario}: {obs:?}"
        );
        assert!(obs.iter().all(|(d, n)| d <= n), "{obs:?}");
        let cells = obs[0].1 as f64;
        let line = format!(
            "zoneatlas_zone_computation_cells{{service=\"{service}\",scenario=\"{scenario}\"}} "
        );
        let finished: Option<f64> = m.lines().find_map(|l| l.strip_prefix(&line)?.parse().ok());
        assert_eq!(finished, Some(cells), "{service} {scenario}: {obs:?}");
    }
    let h = http("GET", &format!("{}/health", server.base), &[], b"").json();
    assert_eq!(
        h["zone_progress"],
        serde_json::json!([]),
        "done, yet shown as running"
    );
}

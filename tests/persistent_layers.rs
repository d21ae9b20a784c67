//! Property test of the persistent layers (issue 31): a synthetic city
//! edited through `Catalog::with_changes` — the one way the server changes a
//! snapshot — in random batches of replacements, deletions and creations,
//! many enough to move edited features through every tier of the index and
//! to leave the roads sparse enough to be renumbered, answers exactly as a
//! catalog built from scratch over the same features:
//!
//! - the items, in layer order, equal a model the test keeps (replaced in
//!   place, deleted dropped, created after the others in id order);
//! - every id finds its feature, and deleted ids none;
//! - bbox queries equal a brute-force scan of the model; nearest and
//!   within-distance queries equal the fresh catalog's;
//! - what the properties hold (queryables) and point coverage in both
//!   scenarios equal the fresh catalog's.

use std::collections::HashMap;
use std::sync::Arc;

use geo::{coord, Geometry, Intersects, LineString, Rect};
use zoneatlas::catalog::{Catalog, Changes};
use zoneatlas::coverage::Scenario;
use zoneatlas::model::Feature;
use zoneatlas::synth::Rng;

#[path = "common/rebuilt.rs"]
mod rebuilt;
use rebuilt::fresh;

const STATUSES: [&str; 3] = ["existing", "planned", "under_construction"];

/// A road moved to a random spot of `extent`, with a random status.
fn moved(f: &Feature, id: String, extent: Rect, rng: &mut Rng) -> Feature {
    let mut g = f.clone();
    g.id = id;
    let x = extent.min().x + rng.unit() * extent.width();
    let y = extent.min().y + rng.unit() * extent.height();
    let mut line = vec![coord! {x: x, y: y}];
    for _ in 0..rng.below(4) + 1 {
        let last = *line.last().expect("a vertex");
        line.push(
            coord! {x: last.x + (rng.unit() - 0.5) * 0.004, y: last.y + (rng.unit() - 0.5) * 0.004},
        );
    }
    g.geometry = Geometry::LineString(LineString(line));
    g.bbox = geo::BoundingRect::bounding_rect(&g.geometry).expect("non-empty");
    g.properties.insert(
        "status",
        serde_json::json!(STATUSES[rng.below(STATUSES.len())]),
    );
    g
}

fn ids(snap: &Catalog, positions: impl IntoIterator<Item = usize>) -> Vec<String> {
    let roads = &snap.layer("roads").expect("roads").layer.features;
    positions.into_iter().map(|p| roads[p].id.clone()).collect()
}

#[test]
fn k_random_edits_to_a_persistent_layer_answer_as_a_rebuild() {
    let dir = tempfile::tempdir().expect("temp dir");
    zoneatlas::synth::write(dir.path(), 40_000, 31).expect("synthetic city");
    let mut snap = Catalog::from_dataset(zoneatlas::load::load_folder(dir.path()).expect("loads"))
        .expect("rules resolve");
    let roads = snap.layer("roads").expect("roads");
    let extent = roads.layer.extent.expect("roads have an extent");
    let mut model: Vec<Arc<Feature>> = roads.layer.features.to_vec();
    let first_generation = roads.layer.features.generation();
    let mut rng = Rng(7);
    let mut serial = 0;
    let mut gone: Vec<String> = Vec::new();
    let mut renumbered = 0;
    let mut kept_numbering = 0;
    let mut found = 0;
    for batch in 0..60u64 {
        // Batches of 1 to 150 changes; deletions weigh most so the layer
        // grows sparse.
        let mut changes: HashMap<String, Option<Arc<Feature>>> = HashMap::new();
        let mut created: Vec<Arc<Feature>> = Vec::new();
        for _ in 0..rng.below(150) + 1 {
            let k = rng.below(model.len());
            let id = model[k].id.clone();
            if changes.contains_key(&id) {
                continue;
            }
            match rng.below(10) {
                0..=3 => {
                    let f = Arc::new(moved(&model[k], id.clone(), extent, &mut rng));
                    model[k] = Arc::clone(&f);
                    changes.insert(id, Some(f));
                }
                4..=8 => {
                    model.remove(k);
                    gone.push(id.clone());
                    changes.insert(id, None);
                }
                _ => {
                    serial += 1;
                    let new_id = format!("new-{serial:05}");
                    let f = Arc::new(moved(&model[k], new_id.clone(), extent, &mut rng));
                    created.push(Arc::clone(&f));
                    changes.insert(new_id, Some(f));
                }
            }
        }
        created.sort_by(|a, b| a.id.cmp(&b.id));
        model.extend(created);
        let before = snap
            .layer("roads")
            .expect("roads")
            .layer
            .features
            .generation();
        let all: Changes = HashMap::from([("roads".to_string(), changes)]);
        snap = snap
            .with_changes(&all, batch + 2, batch + 2)
            .expect("edits apply");
        let roads = snap.layer("roads").expect("roads");
        if roads.layer.features.generation() == before {
            kept_numbering += 1;
        } else {
            renumbered += 1;
        }
        // The items, in layer order, are the model's.
        let got: Vec<&str> = roads.layer.features.live().map(|f| f.id.as_str()).collect();
        let want: Vec<&str> = model.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(got, want, "batch {batch}: items in layer order");
        assert!(roads
            .layer
            .features
            .live()
            .zip(&model)
            .all(|(a, b)| Arc::ptr_eq(a, b)));
        if batch % 6 != 5 {
            continue;
        }
        for f in &model {
            let p = roads.position_of(&f.id).expect("a live id is found");
            assert!(Arc::ptr_eq(&roads.layer.features[p], f));
        }
        for id in &gone {
            assert_eq!(roads.position_of(id), None, "deleted {id} is not found");
        }
        let scratch = fresh(&snap);
        let scratch_roads = scratch.layer("roads").expect("roads");
        // What the properties hold (queryables, filters), from the chunks'
        // tallies, equals a count over the rebuilt layer.
        assert_eq!(roads.properties(), scratch_roads.properties());
        for _ in 0..30 {
            let (x, y) = (
                extent.min().x + rng.unit() * extent.width(),
                extent.min().y + rng.unit() * extent.height(),
            );
            let (w, h) = (rng.unit() * 0.02, rng.unit() * 0.02);
            let r = Rect::new(coord! {x: x, y: y}, coord! {x: x + w, y: y + h});
            let brute: Vec<String> = model
                .iter()
                .filter(|f| f.geometry.intersects(&r))
                .map(|f| f.id.clone())
                .collect();
            found += brute.len();
            assert_eq!(
                ids(&snap, roads.bbox(&[r])),
                brute,
                "batch {batch}: bbox {r:?}"
            );
            let q = coord! {x: x, y: y};
            let near = roads.nearest(q, 5);
            let want = scratch_roads.nearest(q, 5);
            assert_eq!(near.len(), want.len());
            for (a, b) in near.iter().zip(&want) {
                assert!(
                    (a.distance_m - b.distance_m).abs() < 1e-9,
                    "nearest at {q:?}"
                );
            }
            let mut within = ids(&snap, roads.within(q, 400.0).iter().map(|h| h.feature));
            let mut within_fresh: Vec<String> = scratch_roads
                .within(q, 400.0)
                .iter()
                .map(|h| scratch_roads.layer.features[h.feature].id.clone())
                .collect();
            within.sort();
            within_fresh.sort();
            assert_eq!(within, within_fresh, "within 400 m of {q:?}");
            let cov = snap.coverage.as_ref().expect("coverage");
            let cov_fresh = scratch.coverage.as_ref().expect("coverage");
            for sc in Scenario::ALL {
                let a = serde_json::to_value(cov.at_point(&snap.layers, q, sc, None)).unwrap();
                let b =
                    serde_json::to_value(cov_fresh.at_point(&scratch.layers, q, sc, None)).unwrap();
                assert_eq!(a, b, "batch {batch}: coverage at {q:?} {sc:?}");
            }
        }
    }
    // The walk used both paths: edits in place, and renumbering once the
    // deletions left the layer sparse.
    assert!(
        kept_numbering > 40,
        "{kept_numbering} batches kept positions"
    );
    assert!(renumbered >= 1, "the sparse layer was renumbered");
    assert!(found > 300, "the boxes held roads: {found}");
    assert_ne!(
        snap.layer("roads").unwrap().layer.features.generation(),
        first_generation
    );
}

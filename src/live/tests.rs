//! The writer against a real GeoPackage store: a snapshot left behind the
//! store (by a failure after a commit, or by another process writing the
//! file) never lets a stale If-Match win.

use std::sync::atomic::Ordering;

use serde_json::json;

use super::{Edit, EditError, Live};
use crate::store::gpkg::GpkgStore;
use crate::store::Store;

/// A store made from the sample in a temporary folder.
fn sample_store(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("t.gpkg");
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("geodata");
    crate::store::gpkg::create_from_folder(&path, &sample).expect("store");
    path
}

fn patch(id: &str, status: &str, if_match: u64) -> Edit {
    Edit::Patch {
        layer: "roads".into(),
        id: id.into(),
        patch: json!({"properties": {"status": status}}),
        if_match,
    }
}

#[test]
fn a_snapshot_left_behind_by_a_failure_after_a_commit_refuses_a_stale_if_match() {
    let dir = tempfile::tempdir().unwrap();
    let live = Live::open(Box::new(
        GpkgStore::open(&sample_store(dir.path())).unwrap(),
    ))
    .unwrap();
    let snap = live.snapshot();
    let seen = snap.layer("roads").unwrap().layer.features[0].clone();
    // Alice saves; her commit lands but the next snapshot fails to build.
    live.fail_next_snapshot.store(true, Ordering::SeqCst);
    let alice = live
        .submit(vec![patch(&seen.id, "planned", seen.revision)], "alice")
        .expect("alice's edit is committed");
    assert_eq!(live.snapshot().revision, snap.revision, "left behind");
    // Bob read the feature before Alice's save and sends its old ETag.
    let bob = live.submit(vec![patch(&seen.id, "existing", seen.revision)], "bob");
    match bob {
        Err(EditError::Stale { current, .. }) => assert_eq!(current, alice.revision),
        other => panic!("a stale If-Match must get 412, got {other:?}"),
    }
    // The server caught up: it serves Alice's value, as the store holds it.
    let now = live.snapshot();
    assert_eq!(now.revision, alice.revision);
    let f =
        &now.layer("roads").unwrap().layer.features[now.feature_index("roads", &seen.id).unwrap()];
    assert_eq!(f.property_text("status").as_deref(), Some("planned"));
    assert_eq!(f.revision, alice.revision);
}

#[test]
fn another_process_writing_the_store_is_caught_up_before_validating() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_store(dir.path());
    let live = Live::open(Box::new(GpkgStore::open(&path).unwrap())).unwrap();
    let snap = live.snapshot();
    let seen = snap.layer("roads").unwrap().layer.features[1].clone();
    // Another process commits a change to the same feature, from the
    // store's revision, behind this server's back.
    let mut other = GpkgStore::open(&path).unwrap();
    let mut theirs = seen.as_ref().clone();
    theirs.properties.insert(
        "status",
        serde_json::Value::String("under_construction".into()),
    );
    let committed = other
        .commit(
            snap.revision,
            &[(
                "other".into(),
                crate::store::Change::Replace {
                    layer: "roads".into(),
                    feature: theirs,
                },
            )],
            None,
        )
        .unwrap();
    // A client holding the ETag from before that change is refused.
    let mine = live.submit(vec![patch(&seen.id, "existing", seen.revision)], "me");
    assert!(
        matches!(mine, Err(EditError::Stale { current, .. }) if current == committed.revision),
        "{mine:?}"
    );
    // With the current ETag it succeeds, on top of the other process's.
    let ok = live
        .submit(vec![patch(&seen.id, "existing", committed.revision)], "me")
        .unwrap();
    assert_eq!(ok.revision, committed.revision + 1);
}

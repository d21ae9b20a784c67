//! One store suite, two backends: a GeoPackage file and a PostGIS database
//! (a throwaway cluster) pass the same checks through the `Store` trait and
//! the live seat: what was created from the sample loads back exactly (the
//! oracle: the data folder itself), edits are durable and their change log
//! answers every history question, refused writes leave nothing behind,
//! tokens work.
//!
//! A custom harness (libtest-mimic): without PostgreSQL the PostGIS half is
//! reported ignored, with the reason; with `ZONEATLAS_REQUIRE_TOOLS=1` it
//! fails.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::check;
use common::pg::{trial, Cluster};
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::{json, Value};
use zoneatlas::auth::token_hash;
use zoneatlas::live::{Edit, EditError, Live};
use zoneatlas::store::folder::FolderStore;
use zoneatlas::store::{gpkg, pg, Role, Store};

/// A place a store lives, made fresh for each check.
trait Backend {
    /// A new store filled from the sample.
    fn create(&self) -> Box<dyn Store>;
    /// The same store opened again (as after a restart).
    fn reopen(&self) -> Box<dyn Store>;
    fn add_token(&self, name: &str, role: Role, hash: &[u8; 32]);
}

struct Gpkg(tempfile::TempDir);

impl Gpkg {
    fn path(&self) -> PathBuf {
        self.0.path().join("zone.gpkg")
    }
}

impl Backend for Gpkg {
    fn create(&self) -> Box<dyn Store> {
        Box::new(gpkg::create_from_folder(&self.path(), &common::geodata()).unwrap())
    }
    fn reopen(&self) -> Box<dyn Store> {
        Box::new(gpkg::GpkgStore::open(&self.path()).unwrap())
    }
    fn add_token(&self, name: &str, role: Role, hash: &[u8; 32]) {
        gpkg::GpkgStore::open(&self.path())
            .unwrap()
            .add_token(name, role, hash)
            .unwrap();
    }
}

struct Postgis(Cluster);

impl Backend for Postgis {
    fn create(&self) -> Box<dyn Store> {
        Box::new(pg::create_from_folder(&self.0.url(), &common::geodata()).unwrap())
    }
    fn reopen(&self) -> Box<dyn Store> {
        Box::new(pg::PgStore::open(&self.0.url(), false).unwrap())
    }
    fn add_token(&self, name: &str, role: Role, hash: &[u8; 32]) {
        pg::PgStore::open(&self.0.url(), false)
            .unwrap()
            .add_token(name, role, hash)
            .unwrap();
    }
}

type Check = fn(&dyn Backend) -> Result<(), Failed>;

const CHECKS: &[(&str, Check)] = &[
    (
        "loads_exactly_what_it_was_created_from",
        loads_what_it_was_made_of,
    ),
    (
        "edits_are_durable_and_the_log_answers_history",
        edits_are_durable,
    ),
    (
        "refused_writes_leave_nothing_behind",
        refused_writes_leave_nothing,
    ),
    ("tokens_are_stored_hashed_and_authenticate", tokens_work),
];

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for (name, check) in CHECKS {
        let check = *check;
        trials.push(Trial::test(format!("gpkg::{name}"), move || {
            check(&Gpkg(tempfile::tempdir().unwrap()))
        }));
        trials.push(trial(&format!("postgis::{name}"), move || {
            check(&Postgis(Cluster::start()))
        }));
    }
    libtest_mimic::run(&args, trials).exit();
}

/// Numbers as f64: a GeoPackage column gives a whole REAL back as an
/// integer (18199.0 as 18199), equal by the API's one equality rule.
fn numbers_as_f64(v: Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(a) => Value::Array(a.into_iter().map(numbers_as_f64).collect()),
        Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, v)| (k, numbers_as_f64(v))).collect())
        }
        other => other,
    }
}

/// Per layer: id -> (geometry, properties) as GeoJSON values.
fn contents(store: &mut dyn Store) -> BTreeMap<String, BTreeMap<String, (Value, Value)>> {
    let data = store.load().unwrap();
    data.layers
        .iter()
        .map(|l| {
            let features = l
                .features
                .live()
                .map(|f| {
                    let v: Value =
                        serde_json::from_str(&zoneatlas::store::feature_json(f)).unwrap();
                    let v = numbers_as_f64(v);
                    (
                        f.id.clone(),
                        (v["geometry"].clone(), v["properties"].clone()),
                    )
                })
                .collect();
            (l.meta.id.clone(), features)
        })
        .collect()
}

fn loads_what_it_was_made_of(b: &dyn Backend) -> Result<(), Failed> {
    let mut store = b.create();
    let folder = contents(&mut FolderStore::new(common::geodata()));
    let stored = contents(&mut *store);
    check(folder.keys().eq(stored.keys()), || {
        format!("layers differ: {:?} vs {:?}", folder.keys(), stored.keys())
    })?;
    for (layer, features) in &folder {
        let got = &stored[layer];
        check(features.len() == got.len(), || {
            format!(
                "{layer}: {} features, the folder has {}",
                got.len(),
                features.len()
            )
        })?;
        for (id, want) in features {
            check(got.get(id) == Some(want), || {
                format!(
                    "{layer}/{id}: stored {:?}, the folder has {want:?}",
                    got.get(id)
                )
            })?;
        }
    }
    // Reopened, the same again, and the revision the log ends at.
    let mut again = b.reopen();
    check(contents(&mut *again) == stored, || {
        "reopened, the data differs".into()
    })?;
    let revision = again.load().unwrap().revision;
    let mut h = again.history().unwrap().expect("a change log");
    let (latest, _) = h.latest().unwrap();
    check(latest == revision && revision >= 1, || {
        format!("the store is at revision {revision}, its log ends at {latest}")
    })
}

/// A substation as GeoJSON, from the store's own data.
fn substation(live: &Live, id: &str) -> (Value, u64) {
    let snap = live.snapshot();
    let layer = snap.layer("substations").unwrap();
    let f = layer
        .layer
        .features
        .live()
        .find(|f| f.id == id)
        .unwrap_or_else(|| panic!("no substation {id}"));
    (
        serde_json::from_str(&zoneatlas::store::feature_json(f)).unwrap(),
        f.revision,
    )
}

fn edits_are_durable(b: &dyn Backend) -> Result<(), Failed> {
    let live = Live::open(b.create()).unwrap();
    let rev0 = live.snapshot().revision;
    let (mut new, _) = substation(&live, "SS-MAZHAI");
    new["id"] = json!("SS-TEST");
    new["properties"]["name_en"] = json!("Test 35 kV substation");
    let (_, gongye_rev) = substation(&live, "SS-GONGYE");
    let (nanhu, nanhu_rev) = substation(&live, "SS-NANHU");
    let old_status = nanhu["properties"]["status"].clone();
    let sub = |edit: Edit| live.submit(vec![edit], "suite").map_err(|e| e.to_string());
    sub(Edit::Create {
        layer: "substations".into(),
        feature: new.clone(),
    })?;
    sub(Edit::Patch {
        layer: "substations".into(),
        id: "SS-NANHU".into(),
        patch: json!({"properties": {"status": "planned"}}),
        if_match: nanhu_rev,
    })?;
    let applied = sub(Edit::Delete {
        layer: "substations".into(),
        id: "SS-GONGYE".into(),
        if_match: gongye_rev,
    })?;
    check(applied.revision == rev0 + 3, || {
        format!("three edits from {rev0} made revision {}", applied.revision)
    })?;
    drop(live);

    // A new process sees it all.
    let mut store = b.reopen();
    let data = contents(&mut *store);
    let subs = &data["substations"];
    check(
        subs.get("SS-TEST").map(|f| &f.1["name_en"]) == Some(&json!("Test 35 kV substation")),
        || {
            format!(
                "the created substation is not back: {:?}",
                subs.get("SS-TEST")
            )
        },
    )?;
    check(subs["SS-NANHU"].1["status"] == json!("planned"), || {
        format!("the patch is not back: {:?}", subs["SS-NANHU"])
    })?;
    check(!subs.contains_key("SS-GONGYE"), || {
        "the deleted substation is back".into()
    })?;
    check(store.load().unwrap().revision == rev0 + 3, || {
        "revision not kept".into()
    })?;

    // The log answers the history questions.
    let mut h = store.history().unwrap().expect("a change log");
    check(h.latest().unwrap().0 == rev0 + 3, || {
        "latest revision".into()
    })?;
    let created = h.feature("substations", "SS-TEST").unwrap();
    check(
        created.len() == 1 && created[0].op == "create" && created[0].who == "suite",
        || format!("the created feature's log: {created:?}"),
    )?;
    let seq = h.seq_of(rev0).unwrap();
    let after: Vec<(String, String)> = h
        .after(seq, 10)
        .unwrap()
        .into_iter()
        .map(|r| (r.op, r.feature_id))
        .collect();
    let want = [
        ("create", "SS-TEST"),
        ("update", "SS-NANHU"),
        ("delete", "SS-GONGYE"),
    ]
    .map(|(a, b)| (a.to_owned(), b.to_owned()));
    check(after == want, || {
        format!("the log after revision {rev0}: {after:?}")
    })?;
    let mut states = h.states_at(rev0).unwrap();
    states.sort_by(|a, b| a.1.cmp(&b.1));
    let summary: Vec<(String, Option<Value>)> = states
        .iter()
        .map(|(_, id, s)| {
            (
                id.clone(),
                s.as_ref().map(|(_, f)| f["properties"]["status"].clone()),
            )
        })
        .collect();
    check(
        summary
            == vec![
                ("SS-GONGYE".to_owned(), Some(json!("existing"))),
                ("SS-NANHU".to_owned(), Some(old_status.clone())),
                ("SS-TEST".to_owned(), None),
            ],
        || format!("the states as of revision {rev0}: {summary:?}"),
    )?;
    let shapes = h
        .shape_changes("substations", "status", rev0, rev0 + 3)
        .unwrap();
    let kinds: Vec<(bool, bool, Option<String>, Option<String>)> = shapes
        .iter()
        .map(|s| {
            (
                s.before.is_some(),
                s.after.is_some(),
                s.before.as_ref().and_then(|b| b.status.clone()),
                s.after.as_ref().and_then(|a| a.status.clone()),
            )
        })
        .collect();
    check(
        kinds
            == vec![
                (false, true, None, Some("existing".into())),
                (
                    true,
                    true,
                    old_status.as_str().map(String::from),
                    Some("planned".into()),
                ),
                (true, false, Some("existing".into()), None),
            ],
        || format!("shape changes: {kinds:?}"),
    )
}

fn refused_writes_leave_nothing(b: &dyn Backend) -> Result<(), Failed> {
    let live = Live::open(b.create()).unwrap();
    let before = live.snapshot().revision;
    let (nanhu, rev) = substation(&live, "SS-NANHU");
    let stale = live.submit(
        vec![Edit::Patch {
            layer: "substations".into(),
            id: "SS-NANHU".into(),
            patch: json!({"properties": {"status": "planned"}}),
            if_match: rev + 100,
        }],
        "suite",
    );
    check(matches!(stale, Err(EditError::Stale { .. })), || {
        format!("a stale If-Match: {stale:?}")
    })?;
    // A request of two edits, the second invalid: neither is stored.
    let mut ok = nanhu.clone();
    ok["id"] = json!("SS-NEW");
    let mut bad = nanhu.clone();
    bad["id"] = json!("SS-BAD");
    bad["geometry"] = json!({"type": "LineString", "coordinates": [[113.5, 34.7], [113.6, 34.7]]});
    let invalid = live.submit(
        vec![
            Edit::Create {
                layer: "substations".into(),
                feature: ok,
            },
            Edit::Create {
                layer: "substations".into(),
                feature: bad,
            },
        ],
        "suite",
    );
    check(matches!(invalid, Err(EditError::Invalid(_))), || {
        format!("a line in a point layer: {invalid:?}")
    })?;
    drop(live);
    let mut store = b.reopen();
    let data = contents(&mut *store);
    check(store.load().unwrap().revision == before, || {
        "the revision moved".into()
    })?;
    check(!data["substations"].contains_key("SS-NEW"), || {
        "half of a refused request was stored".into()
    })?;
    check(
        data["substations"]["SS-NANHU"].1 == numbers_as_f64(nanhu["properties"].clone()),
        || "the stale patch was stored".into(),
    )
}

fn tokens_work(b: &dyn Backend) -> Result<(), Failed> {
    let mut store = b.create();
    let secret = "za_suite_secret";
    b.add_token("ed", Role::Editor, &token_hash(secret));
    let tokens = store.tokens().unwrap();
    check(
        tokens.len() == 1
            && tokens[0].name == "ed"
            && tokens[0].role == Role::Editor
            && tokens[0].hash == token_hash(secret),
        || format!("tokens: {tokens:?}"),
    )?;
    let live = Live::open(store).unwrap();
    check(
        live.authenticate(secret) == Some(("ed".into(), Role::Editor)),
        || "the token does not authenticate".into(),
    )?;
    check(live.authenticate("za_wrong").is_none(), || {
        "a wrong secret authenticates".into()
    })
}

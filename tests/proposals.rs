//! Proposals against the `zoneatlas` binary on a GeoPackage store, tried as
//! a planner would: draft "Jiangang in service, two 10 kV feeders to
//! Fenghu" beside the record, compare it, adopt it; a conflict settled
//! each way; a thousand random edits in proposals that never change a
//! record answer; `asof` inside a proposal; what a closed or unknown
//! proposal answers. The oracles are the server's own read endpoints asked
//! with and without `proposal=` (the comparison must equal them), and a
//! model of the edits kept by the test.

mod common;

use std::collections::BTreeMap;

use common::{http, Raw, Server, SAMPLE_LAYERS};
use serde_json::{json, Value};

fn auth(t: &str) -> String {
    format!("Bearer {t}")
}

fn get(s: &Server, path: &str) -> Raw {
    http("GET", &format!("{}{path}", s.base), &[], b"")
}

/// A 200's JSON; a 503 (zone coverage still warming after start-up) is
/// asked again, for up to a minute, as its Retry-After says.
fn get_json(s: &Server, path: &str) -> Value {
    let mut r = get(s, path);
    for _ in 0..240 {
        if r.status != 503 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
        r = get(s, path);
    }
    assert_eq!(
        r.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&r.body)
    );
    r.json()
}

fn send(
    s: &Server,
    method: &str,
    path: &str,
    token: &str,
    ctype: &str,
    extra: &[(&str, &str)],
    body: &Value,
) -> Raw {
    let a = auth(token);
    let mut headers = vec![("Authorization", a.as_str()), ("Content-Type", ctype)];
    headers.extend_from_slice(extra);
    let bytes = match body {
        Value::Null => vec![],
        b => b.to_string().into_bytes(),
    };
    http(method, &format!("{}{path}", s.base), &headers, &bytes)
}

/// POST a proposal's action (`adopt`, `withdraw`) with no body.
fn act(s: &Server, token: &str, proposal: &str, action: &str) -> Raw {
    send(
        s,
        "POST",
        &format!("/api/proposals/{proposal}/{action}"),
        token,
        "application/json",
        &[],
        &Value::Null,
    )
}

fn create_proposal(s: &Server, token: &str, title: &str) -> String {
    let r = send(
        s,
        "POST",
        "/api/proposals",
        token,
        "application/json",
        &[],
        &json!({"title": title, "description": "a test"}),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert!(r
        .header("location")
        .is_some_and(|l| l.ends_with(v["id"].as_str().unwrap())));
    v["id"].as_str().unwrap().to_owned()
}

/// A feature's body and ETag, in the record or in a proposal.
fn feature(s: &Server, layer: &str, id: &str, proposal: Option<&str>) -> (Value, String) {
    let q = proposal
        .map(|p| format!("?proposal={p}"))
        .unwrap_or_default();
    let r = get(s, &format!("/api/collections/{layer}/items/{id}{q}"));
    assert_eq!(
        r.status,
        200,
        "{layer}/{id}{q}: {}",
        String::from_utf8_lossy(&r.body)
    );
    (r.json(), r.header("etag").unwrap().to_owned())
}

fn patch_props(
    s: &Server,
    token: &str,
    layer: &str,
    id: &str,
    proposal: Option<&str>,
    props: Value,
) -> Raw {
    let (_, etag) = feature(s, layer, id, proposal);
    let q = proposal
        .map(|p| format!("?proposal={p}"))
        .unwrap_or_default();
    send(
        s,
        "PATCH",
        &format!("/api/collections/{layer}/items/{id}{q}"),
        token,
        "application/merge-patch+json",
        &[("If-Match", &etag)],
        &json!({"properties": props}),
    )
}

/// Every layer's items, sorted by id, without links: what a client reads.
fn items(s: &Server, proposal: Option<&str>) -> BTreeMap<String, Vec<Value>> {
    let q = proposal
        .map(|p| format!("&proposal={p}"))
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    for layer in SAMPLE_LAYERS {
        let v = get_json(s, &format!("/api/collections/{layer}/items?limit=10000{q}"));
        let mut fs: Vec<Value> = v["features"].as_array().cloned().unwrap_or_default();
        for f in &mut fs {
            f.as_object_mut().unwrap().remove("links");
        }
        fs.sort_by_key(|f| f["id"].to_string());
        out.insert(layer.to_owned(), fs);
    }
    out
}

/// The planning answers a comparison reports, from their own endpoints.
fn answers(s: &Server, proposal: Option<&str>) -> Value {
    let q = proposal
        .map(|p| format!("&proposal={p}"))
        .unwrap_or_default();
    let mut out = serde_json::Map::new();
    for sc in ["current", "planned"] {
        let mut stats = get_json(s, &format!("/api/stats?scenario={sc}{q}"));
        stats.as_object_mut().unwrap().remove("revision");
        let mut cap = get_json(s, &format!("/api/network/capacity?scenario={sc}{q}"));
        cap.as_object_mut().unwrap().remove("revision");
        out.insert(
            sc.to_owned(),
            json!({
                "stats": stats,
                "sites": get_json(s, &format!("/api/coverage/sites?scenario={sc}{q}")),
                "capacity": cap,
                "critical_power": get_json(s, &format!("/api/network/critical?service=power&scenario={sc}{q}")),
                "critical_water": get_json(s, &format!("/api/network/critical?service=water&scenario={sc}{q}")),
            }),
        );
    }
    Value::Object(out)
}

/// A 10 kV feeder from Jiangang to a point on the Jinmao site's boundary.
fn feeder(id: &str, via_lat: f64, to: [f64; 2]) -> Value {
    json!({"type": "Feature", "id": id,
           "geometry": {"type": "LineString", "coordinates": [[113.5696697, 34.6956486], [113.5696697, via_lat], [to[0], via_lat], to]},
           "properties": {"name": format!("尖岗—金茂10kV线{id}"), "name_en": format!("Jiangang - Jinmao 10 kV feeder {id}"),
                          "voltage_kv": 10, "status": "existing", "site_id": "ST-JINMAO", "source": "proposal"}})
}

fn zone_feature(s: &Server, id: &str) -> Value {
    get_json(s, &format!("/api/collections/zone/items/{id}"))["geometry"].clone()
}

/// The share of `service` over a polygon, by POST /api/coverage.
fn parcel_share(s: &Server, geometry: &Value, service: &str, query: &str) -> f64 {
    let r = http(
        "POST",
        &format!("{}/api/coverage?{query}", s.base),
        &[("Content-Type", "application/geo+json")],
        json!({"type": "Feature", "geometry": geometry, "properties": {}})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(
        r.status,
        200,
        "{query}: {}",
        String::from_utf8_lossy(&r.body)
    );
    let v = r.json();
    v["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["service"] == service)
        .and_then(|a| a["share"].as_f64())
        .unwrap_or_else(|| panic!("no {service} in {v}"))
}

/// What a feature-by-feature comparison expects of one feature: its
/// change, and its record and proposal versions.
type Expected<'a> = (&'static str, Option<&'a Value>, Option<&'a Value>);

/// The comparison's features, checked against the two items pages (the
/// test's own feature-by-feature comparison, not the server's).
fn check_diff_features(
    diff: &Value,
    record: &BTreeMap<String, Vec<Value>>,
    proposal: &BTreeMap<String, Vec<Value>>,
) {
    let mut expected: BTreeMap<(String, String), Expected> = BTreeMap::new();
    for layer in SAMPLE_LAYERS {
        fn index(fs: &[Value]) -> BTreeMap<String, &Value> {
            fs.iter().map(|f| (f["id"].to_string(), f)).collect()
        }
        let (r, p) = (index(&record[layer]), index(&proposal[layer]));
        for (id, f) in &p {
            match r.get(id) {
                None => {
                    expected.insert((layer.to_owned(), id.clone()), ("added", None, Some(*f)));
                }
                Some(g) if *g != *f => {
                    expected.insert(
                        (layer.to_owned(), id.clone()),
                        ("changed", Some(*g), Some(*f)),
                    );
                }
                _ => {}
            }
        }
        for (id, g) in &r {
            if !p.contains_key(id) {
                expected.insert((layer.to_owned(), id.clone()), ("removed", Some(*g), None));
            }
        }
    }
    let got: BTreeMap<(String, String), &Value> = diff["features"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                (
                    f["collection"].as_str().unwrap().to_owned(),
                    f["id"].to_string(),
                ),
                f,
            )
        })
        .collect();
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>(),
        "the features the comparison lists"
    );
    for (k, (change, before, after)) in &expected {
        let f = got[k];
        assert_eq!(f["change"], *change, "{k:?}");
        if let Some(a) = after {
            assert_eq!(f["geometry"], a["geometry"], "{k:?} geometry");
            assert_eq!(f["properties"], a["properties"], "{k:?} properties");
        }
        if *change == "changed" {
            assert_eq!(f["before"], before.unwrap()["properties"], "{k:?} before");
            assert_eq!(f["after"], after.unwrap()["properties"], "{k:?} after");
        }
        if *change == "removed" {
            assert_eq!(
                f["geometry"],
                before.unwrap()["geometry"],
                "{k:?} removed geometry"
            );
        }
    }
}

/// The comparison's consequences, each equal to its endpoint asked with
/// and without `proposal=`.
fn check_consequences(diff: &Value, before: &Value, after: &Value) {
    for sc in ["current", "planned"] {
        let c = &diff["consequences"][sc];
        let (b, a) = (&before[sc], &after[sc]);
        // Zone shares and assets by status, from /api/stats.
        for (service, z) in c["zone"].as_object().unwrap() {
            assert_eq!(
                z["before"], b["stats"]["zone"]["coverage_share"][service],
                "{sc} {service} before"
            );
            assert_eq!(
                z["after"], a["stats"]["zone"]["coverage_share"][service],
                "{sc} {service} after"
            );
            let bs = &c["by_status"][service];
            assert_eq!(
                bs["before"], b["stats"][service]["by_status"],
                "{sc} {service} by status"
            );
            assert_eq!(
                bs["after"], a["stats"][service]["by_status"],
                "{sc} {service} by status"
            );
        }
        // Sites: listed exactly when connectability, connection, supply or
        // redundancy differs in /api/coverage/sites.
        let view = |sites: &Value| -> BTreeMap<(String, String), Value> {
            let mut m = BTreeMap::new();
            for s in sites["sites"].as_array().unwrap() {
                for a in s["services"].as_array().unwrap() {
                    m.insert(
                        (
                            s["site"]["id"].as_str().unwrap().to_owned(),
                            a["service"].as_str().unwrap().to_owned(),
                        ),
                        json!([
                            a["connectable"],
                            a["connect_to"]["id"],
                            a["sources"]
                                .as_array()
                                .map(|l| l.iter().map(|x| x["id"].clone()).collect::<Vec<_>>()),
                            a["redundant"]
                        ]),
                    );
                }
            }
            m
        };
        let (vb, va) = (view(&b["sites"]), view(&a["sites"]));
        let mut differing: Vec<(String, String)> = va
            .keys()
            .filter(|k| vb.get(*k) != va.get(*k))
            .cloned()
            .collect();
        differing.sort();
        let mut listed: Vec<(String, String)> = c["sites"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                let id = s["site"]["id"].as_str().unwrap().to_owned();
                s["services"]
                    .as_object()
                    .unwrap()
                    .keys()
                    .map(move |k| (id.clone(), k.clone()))
                    .collect::<Vec<_>>()
            })
            .collect();
        listed.sort();
        assert_eq!(listed, differing, "{sc}: sites whose service changes");
        // Substation loads, from /api/network/capacity.
        let loads = |cap: &Value| -> BTreeMap<String, Value> {
            cap["substations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["substation"]["id"].as_str().unwrap().to_owned(),
                        json!([s["load_ratio"], s["demand_kw"]]),
                    )
                })
                .collect()
        };
        let (lb, la) = (loads(&b["capacity"]), loads(&a["capacity"]));
        for s in c["substations"].as_array().unwrap() {
            let id = s["id"].as_str().unwrap();
            let side = |v: &Value| {
                if v.is_null() {
                    Value::Null
                } else {
                    json!([v["load_ratio"], v["demand_kw"]])
                }
            };
            assert_eq!(
                side(&s["before"]),
                lb.get(id).cloned().unwrap_or(Value::Null),
                "{sc} {id} before"
            );
            assert_eq!(
                side(&s["after"]),
                la.get(id).cloned().unwrap_or(Value::Null),
                "{sc} {id} after"
            );
        }
        let changed: Vec<&String> = la
            .keys()
            .chain(lb.keys())
            .filter(|k| lb.get(*k) != la.get(*k))
            .collect();
        for id in changed {
            assert!(
                c["substations"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s["id"] == **id),
                "{sc}: {id}'s load changes but is not listed"
            );
        }
        // Single points of failure, from /api/network/critical.
        for service in ["power", "water"] {
            let ids = |v: &Value| -> std::collections::BTreeSet<String> {
                v["assets"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["asset"]["id"].as_str().unwrap().to_owned())
                    .collect()
            };
            let key = format!("critical_{service}");
            let (cb, ca) = (ids(&b[&key]), ids(&a[&key]));
            let listed = |k: &str| -> std::collections::BTreeSet<String> {
                c["critical"][service][k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["asset"]["id"].as_str().unwrap().to_owned())
                    .collect()
            };
            assert_eq!(
                listed("gained"),
                ca.difference(&cb).cloned().collect(),
                "{sc} {service} gained"
            );
            assert_eq!(
                listed("lost"),
                cb.difference(&ca).cloned().collect(),
                "{sc} {service} lost"
            );
        }
    }
}

#[test]
fn a_planner_drafts_jiangang_in_service_compares_it_and_adopts_it() {
    let mut server = Server::start(&[]);
    let editor = common::token(&server.store, "editor", "planner");
    let admin = common::token(&server.store, "admin", "chief");
    let revision = get_json(&server, "/health")["revision"].as_u64().unwrap();
    let record_items = items(&server, None);
    let record_answers = answers(&server, None);

    let p = create_proposal(
        &server,
        &editor,
        "Jiangang in service, two 10 kV feeders to Fenghu",
    );
    let listed = get_json(&server, "/api/proposals");
    let entry = &listed["proposals"][0];
    assert_eq!(
        (
            entry["id"].as_str(),
            entry["status"].as_str(),
            entry["author"].as_str()
        ),
        (Some(p.as_str()), Some("open"), Some("planner"))
    );
    assert_eq!(
        (entry["base"].as_u64(), entry["changes"].as_u64()),
        (Some(revision), Some(0))
    );

    // Drafted as a planner would: the substation in service, two feeders.
    let r = patch_props(
        &server,
        &editor,
        "substations",
        "SS-JIANGANG",
        Some(&p),
        json!({"status": "existing"}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("zoneatlas-proposal"), Some(p.as_str()));
    assert_eq!(
        r.header("zoneatlas-revision"),
        Some(revision.to_string().as_str()),
        "the record's revision stays"
    );
    let feeders = json!({"type": "FeatureCollection", "features": [
        feeder("P-10-JG-JINMAO-1", 34.6985, [113.5590288, 34.6985]),
        feeder("P-10-JG-JINMAO-2", 34.6960, [113.5590288, 34.6975]),
    ]});
    let r = send(
        &server,
        "POST",
        &format!("/api/collections/power_lines/items?proposal={p}"),
        &editor,
        "application/geo+json",
        &[],
        &feeders,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    // If-Match inside a proposal names the feature as it stands there.
    let (_, record_etag) = feature(&server, "substations", "SS-JIANGANG", None);
    let stale = send(
        &server,
        "PATCH",
        &format!("/api/collections/substations/items/SS-JIANGANG?proposal={p}"),
        &editor,
        "application/merge-patch+json",
        &[("If-Match", &record_etag)],
        &json!({"properties": {"capacity_mva": 1}}),
    );
    assert_eq!(
        stale.status, 412,
        "the record's ETag is stale inside the proposal"
    );

    // The record is untouched; the proposal answers from its view.
    assert_eq!(
        items(&server, None),
        record_items,
        "the record changed before adoption"
    );
    assert_eq!(
        get_json(&server, "/health")["revision"].as_u64(),
        Some(revision)
    );
    let proposal_items = items(&server, Some(&p));
    let proposal_answers = answers(&server, Some(&p));
    assert_eq!(
        feature(&server, "substations", "SS-JIANGANG", Some(&p)).0["properties"]["status"],
        "existing"
    );

    // The comparison: its features equal a feature-by-feature comparison of
    // the two items pages, each consequence its endpoint with and without.
    let diff = get_json(&server, &format!("/api/proposals/{p}/diff"));
    check_diff_features(&diff, &record_items, &proposal_items);
    assert_eq!(
        (
            diff["features"]["added"].as_u64(),
            diff["features"]["changed"].as_u64(),
            diff["features"]["removed"].as_u64()
        ),
        (Some(2), Some(1), Some(0))
    );
    check_consequences(&diff, &record_answers, &proposal_answers);

    // Fenghu's power coverage today goes to its planned share.
    let fenghu = zone_feature(&server, "Z-FENGHU");
    let now = parcel_share(&server, &fenghu, "power", "scenario=current");
    let planned = parcel_share(&server, &fenghu, "power", "scenario=planned");
    let proposed = parcel_share(
        &server,
        &fenghu,
        "power",
        &format!("scenario=current&proposal={p}"),
    );
    assert!(
        planned > now + 0.1,
        "the sample's planned works add power to Fenghu ({now} → {planned})"
    );
    assert!(
        (proposed - planned).abs() < 1e-6,
        "Fenghu today in the proposal {proposed} = planned {planned}"
    );
    let area = diff["consequences"]["current"]["areas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "Z-FENGHU")
        .unwrap();
    assert!((area["services"]["power"]["before"].as_f64().unwrap() - now).abs() < 1e-6);
    assert!((area["services"]["power"]["after"].as_f64().unwrap() - proposed).abs() < 1e-6);
    // The site the feeders name is supplied from Jiangang, and Jiangang
    // carries its load (planned: the site is under construction).
    let sites = &proposal_answers["planned"]["sites"]["sites"];
    let jinmao = sites
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["site"]["id"] == "ST-JINMAO")
        .unwrap();
    let power = jinmao["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["service"] == "power")
        .unwrap();
    assert!(
        power["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == "SS-JIANGANG"),
        "{power}"
    );
    let jiangang = diff["consequences"]["planned"]["substations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "SS-JIANGANG");
    let cap = proposal_answers["planned"]["capacity"]["substations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["substation"]["id"] == "SS-JIANGANG")
        .unwrap()
        .clone();
    assert!(
        cap["load_ratio"].as_f64().unwrap() > 0.0
            && cap["sites"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["site"]["id"] == "ST-JINMAO"),
        "{cap}"
    );
    if let Some(j) = jiangang {
        assert_eq!(j["after"]["load_ratio"], cap["load_ratio"]);
    }
    // The printable comparison names the proposal and the substation.
    let html = get(&server, &format!("/api/proposals/{p}/diff?f=html"));
    assert_eq!(html.status, 200);
    let page = String::from_utf8_lossy(&html.body);
    assert!(
        page.contains("Jiangang in service")
            && page.contains("SS-JIANGANG")
            && page.contains("方案比较"),
        "{page}"
    );

    // Adoption needs an admin; then the record equals the proposal.
    let r = act(&server, &editor, &p, "adopt");
    assert_eq!(r.status, 403);
    let r = act(&server, &admin, &p, "adopt");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let adopted = r.json();
    assert_eq!(adopted["status"], "adopted");
    assert_eq!(
        adopted["revision"].as_u64(),
        Some(revision + 1),
        "one revision"
    );
    assert_eq!(
        items(&server, None),
        proposal_items,
        "the record equals the proposal"
    );
    assert_eq!(
        answers(&server, None),
        proposal_answers,
        "every answer equals the proposal's"
    );
    // The change log names the proposal.
    let log = get_json(&server, &format!("/api/changes?since={revision}"));
    let rows = log["changes"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{log}");
    assert!(
        rows.iter()
            .all(|r| r["proposal"] == p.as_str() && r["who"] == "chief"),
        "{log}"
    );
    // Closed: readable, not editable.
    let r = patch_props(
        &server,
        &editor,
        "roads",
        "R-001",
        Some(&p),
        json!({"width_m": 9}),
    );
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        get_json(&server, &format!("/api/proposals/{p}/diff"))["features"]["numberReturned"]
            .as_u64(),
        Some(3)
    );
    let own = get_json(&server, &format!("/api/proposals/{p}/changes"));
    assert_eq!(own["changes"].as_array().unwrap().len(), 3, "{own}");
    assert!(own["changes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["who"] == "planner"));

    // A restart keeps it.
    let dir = server.take_dir();
    let store = server.store.clone();
    drop(server);
    let again = Server::start_on(&store, &[]);
    let p2 = get_json(&again, &format!("/api/proposals/{p}"));
    assert_eq!(
        (p2["status"].as_str(), p2["adopted_revision"].as_u64()),
        (Some("adopted"), Some(revision + 1))
    );
    drop(dir);
}

#[test]
fn a_conflict_is_named_and_a_rebase_takes_either_side() {
    let server = Server::start(&[]);
    let editor = common::token(&server.store, "editor", "planner");
    let admin = common::token(&server.store, "admin", "chief");
    let p = create_proposal(&server, &editor, "Wider roads");
    for (id, w) in [("R-001", 30), ("R-002", 31), ("R-003", 33)] {
        assert_eq!(
            patch_props(
                &server,
                &editor,
                "roads",
                id,
                Some(&p),
                json!({"width_m": w})
            )
            .status,
            200
        );
    }
    // Someone changes two of the same roads in the record meanwhile, and
    // deletes... nothing the proposal holds: one conflict each way.
    assert_eq!(
        patch_props(
            &server,
            &editor,
            "roads",
            "R-001",
            None,
            json!({"width_m": 50})
        )
        .status,
        200
    );
    assert_eq!(
        patch_props(
            &server,
            &editor,
            "roads",
            "R-003",
            None,
            json!({"width_m": 60})
        )
        .status,
        200
    );
    let one = get_json(&server, &format!("/api/proposals/{p}"));
    let named: Vec<&str> = one["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(named, ["R-001", "R-003"]);
    let r = act(&server, &admin, &p, "adopt");
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    let body = r.json();
    let named: Vec<&str> = body["conflicts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(named, ["R-001", "R-003"], "{body}");
    assert!(body["description"]
        .as_str()
        .unwrap()
        .contains("roads/R-001"));
    // Keep the proposal's R-001, the record's R-003.
    let r = send(
        &server,
        "POST",
        &format!("/api/proposals/{p}/rebase"),
        &editor,
        "application/json",
        &[],
        &json!({"features": [{"collection": "roads", "id": "R-001", "keep": "proposal"}, {"collection": "roads", "id": "R-003", "keep": "record"}]}),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.json()["changes"].as_u64(),
        Some(2),
        "R-003 is no longer changed by the proposal"
    );
    assert_eq!(
        feature(&server, "roads", "R-003", Some(&p)).0["properties"]["width_m"],
        60
    );
    assert_eq!(
        feature(&server, "roads", "R-001", Some(&p)).0["properties"]["width_m"],
        30
    );
    let bad = send(
        &server,
        "POST",
        &format!("/api/proposals/{p}/rebase"),
        &editor,
        "application/json",
        &[],
        &json!({"features": [{"collection": "roads", "id": "R-009", "keep": "record"}]}),
    );
    assert_eq!(bad.status, 400, "a feature the proposal does not change");
    let r = act(&server, &admin, &p, "adopt");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let width = |id: &str| feature(&server, "roads", id, None).0["properties"]["width_m"].clone();
    assert_eq!(
        (width("R-001"), width("R-002"), width("R-003")),
        (json!(30), json!(31), json!(60))
    );

    // A feature the record deletes is a conflict too; kept by the
    // proposal, adoption brings it back.
    let q = create_proposal(&server, &editor, "Keep R-004");
    assert_eq!(
        patch_props(
            &server,
            &editor,
            "roads",
            "R-004",
            Some(&q),
            json!({"width_m": 44})
        )
        .status,
        200
    );
    let (_, etag) = feature(&server, "roads", "R-004", None);
    let del = send(
        &server,
        "DELETE",
        "/api/collections/roads/items/R-004",
        &editor,
        "application/json",
        &[("If-Match", &etag)],
        &Value::Null,
    );
    assert_eq!(del.status, 204);
    let c = get_json(&server, &format!("/api/proposals/{q}"));
    assert_eq!(c["conflicts"][0]["id"], "R-004");
    assert!(c["conflicts"][0]["record_revision"].is_null(), "{c}");
    send(
        &server,
        "POST",
        &format!("/api/proposals/{q}/rebase"),
        &editor,
        "application/json",
        &[],
        &json!({"features": [{"collection": "roads", "id": "R-004", "keep": "proposal"}]}),
    );
    let r = act(&server, &admin, &q, "adopt");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(width("R-004"), json!(44));
}

/// A tiny deterministic generator (no dependency for one test).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

#[test]
fn a_thousand_random_edits_in_proposals_never_change_a_record_answer() {
    let server = Server::start(&[]);
    let editor = common::token(&server.store, "editor", "planner");
    let record_items = items(&server, None);
    let record_answers = answers(&server, None);
    let proposals: Vec<String> = (0..3)
        .map(|i| create_proposal(&server, &editor, &format!("option {i}")))
        .collect();
    // The model: per proposal, the roads it holds (id -> width, None:
    // deleted), over the record's roads.
    let record_roads: BTreeMap<String, Value> = record_items["roads"]
        .iter()
        .map(|f| (f["id"].as_str().unwrap().to_owned(), f.clone()))
        .collect();
    let mut model: Vec<BTreeMap<String, Option<Value>>> = vec![BTreeMap::new(); 3];
    let mut rng = Lcg(20261207);
    let mut made = 0;
    for step in 0..1000 {
        let k = rng.next(3);
        let p = &proposals[k];
        let live: Vec<String> = record_roads
            .keys()
            .filter(|id| !matches!(model[k].get(*id), Some(None)))
            .cloned()
            .chain(
                model[k]
                    .iter()
                    .filter(|(id, v)| v.is_some() && !record_roads.contains_key(*id))
                    .map(|(id, _)| id.clone()),
            )
            .collect();
        match rng.next(10) {
            0 => {
                made += 1;
                let id = format!("R-P{k}-{made}");
                let lon = 113.50 + rng.next(600) as f64 * 1e-4;
                let f = json!({"type": "Feature", "id": id,
                    "geometry": {"type": "LineString", "coordinates": [[lon, 34.69], [lon + 0.003, 34.69]]},
                    "properties": {"name": format!("方案路{id}"), "name_en": format!("Option Rd {id}"), "status": "planned",
                                   "class": "branch", "width_m": 12, "source": "proposal"}});
                let r = send(
                    &server,
                    "POST",
                    &format!("/api/collections/roads/items?proposal={p}"),
                    &editor,
                    "application/geo+json",
                    &[],
                    &f,
                );
                assert_eq!(
                    r.status,
                    201,
                    "step {step}: {}",
                    String::from_utf8_lossy(&r.body)
                );
                model[k].insert(id, Some(json!(12)));
            }
            1 => {
                let id = &live[rng.next(live.len())];
                let (_, etag) = feature(&server, "roads", id, Some(p));
                let r = send(
                    &server,
                    "DELETE",
                    &format!("/api/collections/roads/items/{id}?proposal={p}"),
                    &editor,
                    "application/json",
                    &[("If-Match", &etag)],
                    &Value::Null,
                );
                assert_eq!(
                    r.status,
                    204,
                    "step {step}: {}",
                    String::from_utf8_lossy(&r.body)
                );
                model[k].insert(id.clone(), None);
            }
            _ => {
                let id = &live[rng.next(live.len())];
                let w = 5 + rng.next(60);
                let r = patch_props(
                    &server,
                    &editor,
                    "roads",
                    id,
                    Some(p),
                    json!({"width_m": w}),
                );
                assert_eq!(
                    r.status,
                    200,
                    "step {step}: {}",
                    String::from_utf8_lossy(&r.body)
                );
                model[k].insert(id.clone(), Some(json!(w)));
            }
        }
        if step % 250 == 249 {
            assert_eq!(
                items(&server, None)["roads"],
                record_items["roads"],
                "step {step}: the record's roads changed"
            );
        }
    }
    assert_eq!(
        items(&server, None),
        record_items,
        "the record's items changed"
    );
    assert_eq!(
        answers(&server, None),
        record_answers,
        "a record answer changed"
    );
    // Each proposal's roads are the record's with the model's edits.
    for (k, p) in proposals.iter().enumerate() {
        let got: BTreeMap<String, Value> = items(&server, Some(p))["roads"]
            .iter()
            .map(|f| {
                (
                    f["id"].as_str().unwrap().to_owned(),
                    f["properties"]["width_m"].clone(),
                )
            })
            .collect();
        let mut want: BTreeMap<String, Value> = record_roads
            .iter()
            .map(|(id, f)| (id.clone(), f["properties"]["width_m"].clone()))
            .collect();
        for (id, state) in &model[k] {
            match state {
                Some(w) => {
                    want.insert(id.clone(), w.clone());
                }
                None => {
                    want.remove(id);
                }
            }
        }
        assert_eq!(got, want, "proposal {k}'s roads");
    }
}

#[test]
fn asof_inside_a_proposal_shows_its_saves_by_then() {
    let server = Server::start(&[]);
    let editor = common::token(&server.store, "editor", "planner");
    let p = create_proposal(&server, &editor, "Two steps");
    assert_eq!(
        patch_props(
            &server,
            &editor,
            "roads",
            "R-001",
            Some(&p),
            json!({"width_m": 21})
        )
        .status,
        200
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let between = get_json(&server, &format!("/api/proposals/{p}"))["updated"]
        .as_str()
        .unwrap()
        .to_owned();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(
        patch_props(
            &server,
            &editor,
            "roads",
            "R-001",
            Some(&p),
            json!({"width_m": 22})
        )
        .status,
        200
    );
    let at = |q: &str| {
        get_json(
            &server,
            &format!("/api/collections/roads/items/R-001?proposal={p}{q}"),
        )["properties"]["width_m"]
            .clone()
    };
    assert_eq!(at(""), json!(22));
    assert_eq!(at(&format!("&asof={between}")), json!(21));
}

#[test]
fn closed_unknown_and_malformed_proposal_requests_say_what_was_wrong() {
    let server = Server::start(&[]);
    let editor = common::token(&server.store, "editor", "planner");
    let viewer = common::token(&server.store, "viewer", "reader");
    for (path, status) in [
        ("/api/proposals/nope", 404),
        ("/api/proposals/nope/diff", 404),
        ("/api/collections/roads/items?proposal=nope", 404),
        ("/api/stats?proposal=nope", 404),
    ] {
        let r = get(&server, path);
        assert_eq!(r.status, status, "{path}");
        assert!(
            r.json()["description"].as_str().unwrap().contains("nope"),
            "{path}"
        );
    }
    let r = send(
        &server,
        "POST",
        "/api/proposals",
        &viewer,
        "application/json",
        &[],
        &json!({"title": "x"}),
    );
    assert_eq!(r.status, 403);
    for body in [
        json!({}),
        json!({"title": ""}),
        json!({"title": 3}),
        json!({"title": "x", "colour": "red"}),
        json!([1]),
    ] {
        let r = send(
            &server,
            "POST",
            "/api/proposals",
            &editor,
            "application/json",
            &[],
            &body,
        );
        assert_eq!(r.status, 400, "{body}");
        assert!(r.json()["description"].is_string());
    }
    let p = create_proposal(&server, &editor, "To withdraw");
    let r = send(
        &server,
        "PATCH",
        &format!("/api/proposals/{p}"),
        &editor,
        "application/json",
        &[],
        &json!({"title": "Renamed"}),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["title"], "Renamed");
    let r = act(&server, &editor, &p, "withdraw");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "withdrawn");
    let r = patch_props(
        &server,
        &editor,
        "roads",
        "R-001",
        Some(&p),
        json!({"width_m": 9}),
    );
    assert_eq!(r.status, 409);
    assert!(r.json()["description"]
        .as_str()
        .unwrap()
        .contains("withdrawn"));
    assert_eq!(
        get(
            &server,
            &format!("/api/collections/roads/items/R-001?proposal={p}")
        )
        .status,
        200,
        "still readable"
    );
    // The parameter and the header must agree.
    let r = http(
        "GET",
        &format!("{}/api/stats?proposal={p}", server.base),
        &[("Zoneatlas-Proposal", "other")],
        b"",
    );
    assert_eq!(r.status, 400);

    // A data folder keeps no proposals.
    let folder = Server::start_folder(&common::geodata());
    let r = get(&folder, "/api/proposals");
    assert_eq!(r.status, 405);
    assert!(r.json()["description"]
        .as_str()
        .unwrap()
        .contains("--store"));
}

#[test]
fn every_read_answers_from_the_proposal_and_names_it() {
    let server = Server::start(&[]);
    let editor = common::token(&server.store, "editor", "planner");
    let p = create_proposal(&server, &editor, "Jiangang in service");
    let r = patch_props(
        &server,
        &editor,
        "substations",
        "SS-JIANGANG",
        Some(&p),
        json!({"status": "existing"}),
    );
    assert_eq!(r.status, 200);
    // Jiangang's outage today: the record has nothing in service to cut;
    // the proposal does.
    let reads = [
        "/api/collections",
        "/api/collections/substations/items/SS-JIANGANG",
        "/api/collections/roads/items?limit=5",
        "/api/collections/roads/tiles/WebMercatorQuad/14/6506/13358",
        "/api/tiles/WebMercatorQuad/14/6506/13358",
        "/api/coverage?lon=113.5690&lat=34.6960",
        "/api/coverage/zone",
        "/api/coverage/gaps?service=power",
        "/api/coverage/sites",
        "/api/coverage/suitable?services=power&min_area_m2=50000",
        "/api/network/outage?assets=SS-JIANGANG",
        "/api/network/critical?service=power",
        "/api/network/capacity",
        "/api/stats",
        "/api/reports/site/ST-JINMAO",
    ];
    for path in reads {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut inside = get(&server, &format!("{path}{sep}proposal={p}"));
        for _ in 0..240 {
            if inside.status != 503 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(250));
            inside = get(&server, &format!("{path}{sep}proposal={p}"));
        }
        assert_eq!(
            inside.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&inside.body)
        );
        assert_eq!(
            inside.header("zoneatlas-proposal"),
            Some(p.as_str()),
            "{path}"
        );
    }
    // Where the substation's status matters, the answers differ.
    for path in [
        "/api/network/outage?assets=SS-JIANGANG",
        "/api/coverage?lon=113.5690&lat=34.6960",
        "/api/coverage/zone",
    ] {
        let sep = if path.contains('?') { '&' } else { '?' };
        let record = get_json(&server, path);
        let inside = get_json(&server, &format!("{path}{sep}proposal={p}"));
        assert_ne!(record, inside, "{path} is the same inside the proposal");
    }
}

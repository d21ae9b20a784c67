//! Several `zoneatlas` servers on one PostGIS database, started as the
//! README starts them (`zoneatlas --store postgresql://…`) against a
//! throwaway cluster: a write through one is read through the other, SQL
//! edits reach both, a burst of concurrent writes spread over both leaves
//! them identical (items and coverage, and equal to the database's rows), a
//! restarted replica and one whose notifications were cut catch up from the
//! log, one ETag lets exactly one of two replicas write, and a database
//! restart never fails a read.
//!
//! A custom harness (libtest-mimic): without PostgreSQL every trial is
//! reported ignored, with the reason; with `ZONEATLAS_REQUIRE_TOOLS=1` they
//! fail.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::check;
use common::pg::{trial, Cluster};
use common::{http, Server, SAMPLE_LAYERS};
use libtest_mimic::{Arguments, Failed};
use serde_json::{json, Value};

fn main() {
    let args = Arguments::from_args();
    let trials = vec![
        trial(
            "a_write_through_one_replica_is_read_through_the_other",
            || shared(write_then_read),
        ),
        trial("replicas_converge_after_a_concurrent_burst", || {
            shared(converge)
        }),
        trial("a_restarted_replica_catches_up_from_the_log", || {
            shared(restarted)
        }),
        trial("a_cut_notification_is_recovered_from_the_log", || {
            shared(cut_notification)
        }),
        trial("one_etag_on_two_replicas_lets_exactly_one_write", || {
            shared(one_winner)
        }),
        trial(
            "a_proposal_drafted_through_one_replica_is_adopted_through_the_other",
            || shared(proposal_across_replicas),
        ),
        trial(
            "proposals_saved_at_once_through_two_replicas_are_all_seen_by_both",
            || shared(concurrent_proposal_saves),
        ),
        trial("a_database_restart_never_fails_a_read", || {
            alone(database_restart)
        }),
        trial("import_export_and_tokens_take_the_database_url", || {
            shared(cli_on_url)
        }),
        trial("a_server_started_before_its_database_waits_for_it", || {
            shared(waits_for_the_database)
        }),
    ];
    libtest_mimic::run(&args, trials).exit();
}

/// The restart trial runs alone: its timings (reconnection, readiness)
/// should not depend on other clusters loading the two cores.
static ALONE: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn shared(body: fn() -> Result<(), Failed>) -> Result<(), Failed> {
    let _turn = ALONE.read().unwrap_or_else(|e| e.into_inner());
    body()
}

fn alone(body: fn() -> Result<(), Failed>) -> Result<(), Failed> {
    let _turn = ALONE.write().unwrap_or_else(|e| e.into_inner());
    body()
}

/// A database and two servers on it (the first fills it from the sample),
/// with an editor's token made by the CLI.
struct Pair {
    db: Cluster,
    a: Server,
    b: Server,
    token: String,
}

fn pair() -> Pair {
    let db = Cluster::start();
    let url = db.url();
    let a = Server::start_on(Path::new(&url), &[]);
    let b = Server::start_on(Path::new(&url), &[]);
    let token = common::token(Path::new(&url), "editor", "ed");
    Pair { db, a, b, token }
}

fn revision(base: &str) -> u64 {
    let r = http("GET", &format!("{base}/health"), &[], b"");
    r.json()["revision"].as_u64().unwrap_or(0)
}

/// Poll `cond` every 10 ms until it holds or `limit` passes.
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

fn feature(base: &str, layer: &str, id: &str) -> (Value, String) {
    let r = http(
        "GET",
        &format!("{base}/api/collections/{layer}/items/{id}"),
        &[],
        b"",
    );
    assert_eq!(r.status, 200, "{layer}/{id}");
    (r.json(), r.header("etag").unwrap_or_default().to_owned())
}

fn patch(base: &str, token: &str, layer: &str, id: &str, etag: &str, body: Value) -> u16 {
    http(
        "PATCH",
        &format!("{base}/api/collections/{layer}/items/{id}"),
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("If-Match", etag),
            ("Content-Type", "application/merge-patch+json"),
        ],
        body.to_string().as_bytes(),
    )
    .status
}

/// Read a road's ETag through `base`, then set its width there.
fn set_width(base: &str, token: &str, id: &str, width: u64) -> u16 {
    let (_, etag) = feature(base, "roads", id);
    patch(
        base,
        token,
        "roads",
        id,
        &etag,
        json!({"properties": {"width_m": width}}),
    )
}

/// Everything a client reads that must agree across replicas: every
/// layer's items (sorted by id) and the zone coverage of every service.
fn answers(base: &str) -> Value {
    let mut out = serde_json::Map::new();
    for layer in SAMPLE_LAYERS {
        let r = http(
            "GET",
            &format!("{base}/api/collections/{layer}/items?limit=10000"),
            &[],
            b"",
        );
        let mut features: Vec<Value> = r.json()["features"].as_array().cloned().unwrap_or_default();
        features.sort_by_key(|f| f["id"].to_string());
        out.insert(layer.to_owned(), Value::Array(features));
    }
    for service in ["water", "road", "power", "gas", "steam", "park"] {
        let r = http(
            "GET",
            &format!("{base}/api/coverage/zone?service={service}&scenario=planned"),
            &[],
            b"",
        );
        out.insert(format!("zone:{service}"), r.json());
    }
    Value::Object(out)
}

/// Every layer's items through `base`, sorted, without links (in a
/// proposal when one is named).
fn items(base: &str, proposal: Option<&str>) -> Value {
    let q = proposal
        .map(|p| format!("&proposal={p}"))
        .unwrap_or_default();
    let mut out = serde_json::Map::new();
    for layer in SAMPLE_LAYERS {
        let r = http(
            "GET",
            &format!("{base}/api/collections/{layer}/items?limit=10000{q}"),
            &[],
            b"",
        );
        let mut fs: Vec<Value> = r.json()["features"].as_array().cloned().unwrap_or_default();
        for f in &mut fs {
            if let Some(o) = f.as_object_mut() {
                o.remove("links");
            }
        }
        fs.sort_by_key(|f| f["id"].to_string());
        out.insert(layer.to_owned(), Value::Array(fs));
    }
    Value::Object(out)
}

/// The statistics and substation loads through `base` in both scenarios
/// (in a proposal when one is named), without their revision.
fn figures(base: &str, proposal: Option<&str>) -> Value {
    let q = proposal
        .map(|p| format!("&proposal={p}"))
        .unwrap_or_default();
    let mut out = serde_json::Map::new();
    for sc in ["current", "planned"] {
        for what in ["stats", "network/capacity"] {
            let mut v = Value::Null;
            for _ in 0..240 {
                let r = http(
                    "GET",
                    &format!("{base}/api/{what}?scenario={sc}{q}"),
                    &[],
                    b"",
                );
                if r.status != 503 {
                    v = r.json();
                    break;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            if let Some(o) = v.as_object_mut() {
                o.remove("revision");
            }
            out.insert(format!("{what} {sc}"), v);
        }
    }
    Value::Object(out)
}

/// Two proposals saved at the same time, one through each replica, 40
/// saves each: afterwards both replicas list every save of both (no row
/// missed because another server's earlier position committed late).
fn concurrent_proposal_saves() -> Result<(), Failed> {
    let p = pair();
    let bearer = format!("Bearer {}", p.token);
    let make = |base: &str, title: &str| -> String {
        let r = http(
            "POST",
            &format!("{base}/api/proposals"),
            &[
                ("Authorization", &bearer),
                ("Content-Type", "application/json"),
            ],
            json!({"title": title}).to_string().as_bytes(),
        );
        r.json()["id"].as_str().unwrap_or_default().to_owned()
    };
    let ids = [make(&p.a.base, "via A"), make(&p.b.base, "via B")];
    let workers: Vec<_> = [(&p.a.base, &ids[0], "R-001"), (&p.b.base, &ids[1], "R-002")]
        .into_iter()
        .map(|(base, id, road)| {
            let (base, id, road, bearer) =
                (base.clone(), id.clone(), road.to_owned(), bearer.clone());
            std::thread::spawn(move || {
                let mut ok = 0;
                for w in 0..40 {
                    let url = format!("{base}/api/collections/roads/items/{road}?proposal={id}");
                    let etag = http("GET", &url, &[], b"")
                        .header("etag")
                        .unwrap_or_default()
                        .to_owned();
                    let r = http(
                        "PATCH",
                        &url,
                        &[
                            ("Authorization", &bearer),
                            ("If-Match", &etag),
                            ("Content-Type", "application/merge-patch+json"),
                        ],
                        json!({"properties": {"width_m": 10 + w}})
                            .to_string()
                            .as_bytes(),
                    );
                    ok += usize::from(r.status == 200);
                }
                ok
            })
        })
        .collect();
    let saved: Vec<usize> = workers.into_iter().map(|w| w.join().unwrap_or(0)).collect();
    check(saved == [40, 40], || {
        format!("saves answered 200: {saved:?}")
    })?;
    for id in &ids {
        let agreed = wait_until(Duration::from_secs(3), || {
            [&p.a, &p.b].iter().all(|s| {
                http(
                    "GET",
                    &format!("{}/api/proposals/{id}/changes", s.base),
                    &[],
                    b"",
                )
                .json()["changes"]
                    .as_array()
                    .map_or(0, Vec::len)
                    == 40
            })
        });
        check(agreed, || {
            format!("a replica misses saves of proposal {id}")
        })?;
        let width = |s: &Server| {
            http(
                "GET",
                &format!(
                    "{}/api/collections/roads/items?limit=100&proposal={id}",
                    s.base
                ),
                &[],
                b"",
            )
            .json()["features"]
                .as_array()
                .map(|f| {
                    f.iter()
                        .map(|x| x["properties"]["width_m"].clone())
                        .collect::<Vec<_>>()
                })
        };
        check(width(&p.a) == width(&p.b), || {
            format!("A and B show proposal {id} differently")
        })?;
    }
    Ok(())
}

/// A proposal made, edited and read through A and B, adopted through B:
/// both then serve the proposal's data as the record.
fn proposal_across_replicas() -> Result<(), Failed> {
    let p = pair();
    let admin = common::token(Path::new(&p.db.url()), "admin", "chief");
    let bearer = format!("Bearer {}", p.token);
    let record = items(&p.a.base, None);
    let r = http(
        "POST",
        &format!("{}/api/proposals", p.a.base),
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/json"),
        ],
        json!({"title": "Jiangang in service"})
            .to_string()
            .as_bytes(),
    );
    check(r.status == 201, || {
        format!(
            "create through A: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        )
    })?;
    let id = r.json()["id"].as_str().unwrap_or_default().to_owned();
    let url = |base: &str, path: &str| format!("{base}/api/collections/{path}?proposal={id}");
    let etag = http(
        "GET",
        &url(&p.a.base, "substations/items/SS-JIANGANG"),
        &[],
        b"",
    )
    .header("etag")
    .unwrap_or_default()
    .to_owned();
    let r = http(
        "PATCH",
        &url(&p.a.base, "substations/items/SS-JIANGANG"),
        &[
            ("Authorization", &bearer),
            ("If-Match", &etag),
            ("Content-Type", "application/merge-patch+json"),
        ],
        json!({"properties": {"status": "existing"}})
            .to_string()
            .as_bytes(),
    );
    check(r.status == 200, || format!("edit through A: {}", r.status))?;
    // The second edit goes through B, once B has read the first.
    let seen = wait_until(Duration::from_secs(2), || {
        http("GET", &format!("{}/api/proposals/{id}", p.b.base), &[], b"").json()["changes"]
            == json!(1)
    });
    check(seen, || "B did not see A's proposal edit within 2 s".into())?;
    let road = json!({"type": "Feature", "id": "R-PROP-1",
        "geometry": {"type": "LineString", "coordinates": [[113.56, 34.70], [113.565, 34.70]]},
        "properties": {"name": "方案路", "name_en": "Proposal Rd", "status": "planned", "class": "branch", "width_m": 16, "source": "proposal"}});
    let r = http(
        "POST",
        &url(&p.b.base, "roads/items"),
        &[
            ("Authorization", &bearer),
            ("Content-Type", "application/geo+json"),
        ],
        road.to_string().as_bytes(),
    );
    check(r.status == 201, || {
        format!(
            "edit through B: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        )
    })?;
    let agreed = wait_until(Duration::from_secs(2), || {
        items(&p.a.base, Some(&id)) == items(&p.b.base, Some(&id))
    });
    check(agreed, || "A and B disagree on the proposal".into())?;
    let proposal = items(&p.b.base, Some(&id));
    check(proposal != record, || "the proposal shows no change".into())?;
    let proposal_figures = figures(&p.b.base, Some(&id));
    check(proposal_figures == figures(&p.a.base, Some(&id)), || {
        "A and B give the proposal different statistics".into()
    })?;
    check(
        items(&p.a.base, None) == record && items(&p.b.base, None) == record,
        || "the record changed before adoption".into(),
    )?;
    let before = revision(&p.a.base);
    let r = http(
        "POST",
        &format!("{}/api/proposals/{id}/adopt", p.b.base),
        &[("Authorization", &format!("Bearer {admin}"))],
        b"",
    );
    check(r.status == 200, || {
        format!(
            "adopt through B: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        )
    })?;
    let adopted = r.json()["revision"].as_u64().unwrap_or(0);
    check(adopted == before + 1, || {
        format!("adopted as {adopted}, after {before}")
    })?;
    let caught = wait_until(Duration::from_secs(2), || revision(&p.a.base) >= adopted);
    check(caught, || "A did not reach the adopting revision".into())?;
    for (name, s) in [("A", &p.a), ("B", &p.b)] {
        check(items(&s.base, None) == proposal, || {
            format!("{name}'s record is not the proposal")
        })?;
        check(figures(&s.base, None) == proposal_figures, || {
            format!("{name}'s statistics are not the proposal's")
        })?;
        let status = http("GET", &format!("{}/api/proposals/{id}", s.base), &[], b"").json()
            ["status"]
            .clone();
        check(status == json!("adopted"), || {
            format!("{name} says the proposal is {status}")
        })?;
    }
    Ok(())
}

fn db_revision(db: &Cluster) -> u64 {
    db.psql("SELECT value FROM zoneatlas._meta WHERE key = 'revision'")
        .parse()
        .unwrap_or(0)
}

fn write_then_read() -> Result<(), Failed> {
    let p = pair();
    let started = Instant::now();
    let status = set_width(&p.a.base, &p.token, "R-001", 41);
    check(status == 200, || format!("PATCH through A: {status}"))?;
    let seen = wait_until(Duration::from_secs(1), || {
        feature(&p.b.base, "roads", "R-001").0["properties"]["width_m"] == json!(41)
    });
    check(seen, || "B did not show A's write within a second".into())?;
    eprintln!("A's write visible through B after {:?}", started.elapsed());
    // An UPDATE made with psql, as a DBA would: both servers show it.
    p.db.psql(
        "UPDATE zoneatlas.roads SET properties = jsonb_set(properties, '{status}', '\"under_construction\"') WHERE zoneatlas_id = 'R-002'",
    );
    for (name, s) in [("A", &p.a), ("B", &p.b)] {
        let seen = wait_until(Duration::from_secs(1), || {
            feature(&s.base, "roads", "R-002").0["properties"]["status"]
                == json!("under_construction")
        });
        check(seen, || {
            format!("{name} did not show the psql UPDATE within a second")
        })?;
    }
    // The SQL edit got its own revision and ETag, and its log row names it.
    let (_, etag) = feature(&p.b.base, "roads", "R-002");
    let rev = db_revision(&p.db);
    check(etag == format!("\"{rev}\""), || {
        format!("ETag {etag} after the SQL edit at revision {rev}")
    })?;
    let who = p.db.psql(
        "SELECT who FROM zoneatlas._changes WHERE feature_id = 'R-002' ORDER BY seq DESC LIMIT 1",
    );
    check(who == "sql:postgres", || format!("the log names {who:?}"))?;
    // Asking B for a revision it has: answered; for one nobody has: 503.
    let r = http(
        "GET",
        &format!("{}/api/collections/roads/items/R-001", p.b.base),
        &[("Zoneatlas-Min-Revision", &rev.to_string())],
        b"",
    );
    check(r.status == 200, || {
        format!("min revision {rev}: {}", r.status)
    })?;
    let r = http(
        "GET",
        &format!("{}/api/collections/roads/items/R-001", p.b.base),
        &[("Zoneatlas-Min-Revision", &(rev + 50).to_string())],
        b"",
    );
    check(
        r.status == 503 && r.header("retry-after") == Some("1"),
        || {
            format!(
                "a revision not yet made: {} {:?}",
                r.status,
                r.header("retry-after")
            )
        },
    )
}

/// Concurrent writers spread over both servers: each patches its own roads
/// (retrying on 412, as a client does) and creates substations.
fn burst(p: &Pair, writers: usize, rounds: usize) {
    let roads: Vec<String> = http(
        "GET",
        &format!("{}/api/collections/roads/items?limit=100", p.a.base),
        &[],
        b"",
    )
    .json()["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    let bases = [p.a.base.clone(), p.b.base.clone()];
    std::thread::scope(|s| {
        for w in 0..writers {
            let (bases, roads, token) = (&bases, &roads, &p.token);
            s.spawn(move || {
                for i in 0..rounds {
                    let base = &bases[(w + i) % 2];
                    let id = &roads[(w * rounds + i) % roads.len()];
                    for _attempt in 0..20 {
                        let (_, etag) = feature(base, "roads", id);
                        let body = json!({"properties": {"width_m": 10 + w * 100 + i}});
                        match patch(base, token, "roads", id, &etag, body) {
                            200 => break,
                            412 | 503 => continue,
                            other => panic!("PATCH {id}: {other}"),
                        }
                    }
                    let site = json!({"type": "Feature", "id": format!("SS-W{w}-{i}"),
                        "geometry": {"type": "Point", "coordinates": [113.5 + w as f64 * 0.01, 34.7 + i as f64 * 0.001]},
                        "properties": {"name": "test", "name_en": "test", "status": "planned", "voltage_kv": 10, "capacity_mva": 1, "source": "test"}});
                    // 503 (the store busy or away) means nothing was
                    // written: a client tries again.
                    for attempt in 0..20 {
                        let r = http(
                            "POST",
                            &format!("{base}/api/collections/substations/items"),
                            &[("Authorization", &format!("Bearer {token}")), ("Content-Type", "application/geo+json")],
                            site.to_string().as_bytes(),
                        );
                        if r.status == 503 && attempt < 19 {
                            continue;
                        }
                        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
                        break;
                    }
                }
            });
        }
    });
}

fn converge() -> Result<(), Failed> {
    let p = pair();
    burst(&p, 4, 12);
    let rev = db_revision(&p.db);
    let same = wait_until(Duration::from_secs(5), || {
        revision(&p.a.base) == rev && revision(&p.b.base) == rev
    });
    check(same, || {
        format!(
            "database at {rev}, A at {}, B at {}",
            revision(&p.a.base),
            revision(&p.b.base)
        )
    })?;
    let (a, b) = (answers(&p.a.base), answers(&p.b.base));
    for (k, v) in a.as_object().unwrap() {
        check(&b[k] == v, || format!("{k} differs between the replicas"))?;
    }
    // And both equal the database: every row, every substation created.
    for layer in SAMPLE_LAYERS {
        let rows: usize =
            p.db.psql(&format!("SELECT count(*) FROM zoneatlas.{layer}"))
                .parse()
                .unwrap();
        let served = a[layer].as_array().unwrap().len();
        check(rows == served, || {
            format!("{layer}: {rows} rows, {served} served")
        })?;
    }
    let created = a["substations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"].as_str().unwrap().starts_with("SS-W"))
        .count();
    check(created == 48, || {
        format!("{created} of 48 created substations served")
    })
}

fn restarted() -> Result<(), Failed> {
    let mut p = pair();
    // SIGTERM, as a service manager stops a server: a clean exit.
    p.b.terminate();
    let exit = p.b.child.wait().map_err(|e| e.to_string())?;
    check(exit.success(), || {
        format!("B stopped with {exit}: {}", p.b.log.lock().unwrap())
    })?;
    for i in 0..5 {
        let status = set_width(&p.a.base, &p.token, "R-001", 50 + i);
        check(status == 200, || format!("PATCH {i}: {status}"))?;
    }
    p.b = Server::start_on(Path::new(&p.db.url()), &[]);
    check(revision(&p.b.base) == revision(&p.a.base), || {
        "the restarted replica is behind".into()
    })?;
    check(answers(&p.a.base) == answers(&p.b.base), || {
        "the restarted replica differs".into()
    })
}

fn cut_notification() -> Result<(), Failed> {
    let p = pair();
    // Cut every follower's connection, then write at once: the
    // announcement goes out while nobody listens.
    let cut = p.db.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'zoneatlas-follower'");
    check(cut == "2", || format!("{cut} followers cut, expected 2"))?;
    let status = set_width(&p.a.base, &p.token, "R-003", 77);
    check(status == 200, || format!("PATCH: {status}"))?;
    let rev = db_revision(&p.db);
    let seen = wait_until(Duration::from_secs(5), || revision(&p.b.base) == rev);
    check(seen, || {
        format!(
            "B stayed at {} after its follower was cut (database at {rev})",
            revision(&p.b.base)
        )
    })?;
    check(
        feature(&p.b.base, "roads", "R-003").0["properties"]["width_m"] == json!(77),
        || "B caught up without the write".into(),
    )
}

fn one_winner() -> Result<(), Failed> {
    let p = pair();
    for round in 0..10 {
        let (_, etag) = feature(&p.a.base, "roads", "R-004");
        let rev = revision(&p.a.base);
        // Both replicas hold the same version before the race.
        check(
            wait_until(Duration::from_secs(2), || revision(&p.b.base) >= rev),
            || "B did not catch up".into(),
        )?;
        let barrier = std::sync::Barrier::new(2);
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let handles: Vec<_> = [&p.a.base, &p.b.base]
                .into_iter()
                .enumerate()
                .map(|(k, base)| {
                    let (barrier, etag, token) = (&barrier, &etag, &p.token);
                    s.spawn(move || {
                        barrier.wait();
                        patch(
                            base,
                            token,
                            "roads",
                            "R-004",
                            etag,
                            json!({"properties": {"width_m": 100 + round * 2 + k}}),
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = statuses.clone();
        sorted.sort();
        check(sorted == [200, 412], || {
            format!("round {round}: {statuses:?}")
        })?;
    }
    Ok(())
}

fn database_restart() -> Result<(), Failed> {
    let p = pair();
    let stop = Arc::new(AtomicBool::new(false));
    let (reads, failures) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let readers: Vec<_> = [
        p.a.base.clone(),
        p.b.base.clone(),
        p.a.base.clone(),
        p.b.base.clone(),
    ]
    .into_iter()
    .map(|base| {
        let (stop, reads, failures) = (stop.clone(), reads.clone(), failures.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let r = http(
                    "GET",
                    &format!("{base}/api/collections/roads/items?limit=20"),
                    &[],
                    b"",
                );
                reads.fetch_add(1, Ordering::Relaxed);
                if r.status != 200 {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    })
    .collect();
    std::thread::sleep(Duration::from_millis(300));
    p.db.stop();
    let (_, etag) = feature(&p.a.base, "roads", "R-005");
    let write = || {
        patch(
            &p.a.base,
            &p.token,
            "roads",
            "R-005",
            &etag,
            json!({"properties": {"width_m": 33}}),
        )
    };
    let down = write();
    let degraded = wait_until(Duration::from_secs(5), || {
        http("GET", &format!("{}/ready", p.b.base), &[], b"").status == 503
    });
    let health = http("GET", &format!("{}/health", p.b.base), &[], b"").json();
    std::thread::sleep(Duration::from_millis(500));
    p.db.start_again();
    let mut up = 0;
    let back = wait_until(Duration::from_secs(15), || {
        up = write();
        up == 200
    });
    let ready = wait_until(Duration::from_secs(30), || {
        http("GET", &format!("{}/ready", p.b.base), &[], b"").status == 200
    });
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    let (reads, failures) = (
        reads.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed),
    );
    eprintln!("{reads} reads during the restart, {failures} failed");
    check(down == 503, || {
        format!("a write while the database is down: {down}")
    })?;
    check(degraded, || {
        "B's /ready did not say 503 while the database was down".into()
    })?;
    check(health["status"] == json!("degraded"), || {
        format!("B's /health while down: {health}")
    })?;
    check(back, || {
        format!("writes did not come back after the restart (last {up})")
    })?;
    check(ready, || {
        let log = p.b.log.lock().unwrap();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        format!(
            "B's /ready did not come back; B's log ends:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        )
    })?;
    check(failures == 0 && reads > 50, || {
        format!("{failures} of {reads} reads failed")
    })
}

fn zoneatlas(args: &[&str]) -> Result<String, Failed> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    check(out.status.success(), || {
        format!(
            "zoneatlas {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn cli_on_url() -> Result<(), Failed> {
    let p = pair();
    let url = p.db.url();
    let dir = tempfile::tempdir().unwrap();
    // Three substations in a file, imported into the running zone: both
    // servers serve them without a restart.
    let file = dir.path().join("new.geojson");
    let features: Vec<Value> = (0..3)
        .map(|i| json!({"type": "Feature", "id": format!("SS-IMP{i}"),
            "geometry": {"type": "Point", "coordinates": [113.55 + f64::from(i) * 0.01, 34.72]},
            "properties": {"name": format!("导入{i}"), "name_en": format!("Imported {i}"), "status": "planned",
                           "voltage_kv": 10, "capacity_mva": 2.5, "source": "test"}}))
        .collect();
    std::fs::write(
        &file,
        json!({"type": "FeatureCollection", "features": features}).to_string(),
    )
    .unwrap();
    zoneatlas(&[
        "import",
        "--store",
        &url,
        "--layer",
        "substations",
        file.to_str().unwrap(),
    ])?;
    for s in [&p.a, &p.b] {
        let seen = wait_until(Duration::from_secs(2), || {
            http(
                "GET",
                &format!("{}/api/collections/substations/items/SS-IMP2", s.base),
                &[],
                b"",
            )
            .status
                == 200
        });
        check(seen, || {
            format!("{}: the imported substation is not served", s.base)
        })?;
    }
    // Exported back out of the database: the sample's four and the three.
    let out = dir.path().join("subs.geojson");
    zoneatlas(&[
        "export",
        "--store",
        &url,
        "--layer",
        "substations",
        out.to_str().unwrap(),
    ])?;
    let exported: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let mut ids: Vec<String> = exported["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    check(
        ids.len() == 7 && ids.contains(&"SS-IMP0".to_owned()),
        || format!("exported ids {ids:?}"),
    )?;
    // Tokens: listed and revoked through the URL; a revoked token no longer writes.
    let list = zoneatlas(&["token", "list", "--store", &url])?;
    check(list.starts_with("ed\teditor"), || {
        format!("token list: {list:?}")
    })?;
    zoneatlas(&["token", "revoke", "--store", &url, "--name", "ed"])?;
    std::thread::sleep(Duration::from_millis(1100));
    let status = set_width(&p.a.base, &p.token, "R-001", 12);
    check(status == 401, || format!("a revoked token wrote: {status}"))
}

fn waits_for_the_database() -> Result<(), Failed> {
    let db = Cluster::start();
    db.stop();
    let url = db.url();
    // The server starts while the database is down; it comes up 2 s later.
    let starting = std::thread::spawn(move || Server::start_on(Path::new(&url), &[]));
    std::thread::sleep(Duration::from_secs(2));
    db.start_again();
    let server = starting.join().map_err(|_| "the server did not start")?;
    let log = server.log.lock().unwrap().clone();
    check(log.contains("waiting for the database"), || {
        format!("no line saying it waits: {log}")
    })?;
    let health = http("GET", &format!("{}/health", server.base), &[], b"").json();
    check(
        health["status"] == json!("ok") && health["features"].as_u64() > Some(200),
        || format!("after waiting: {health}"),
    )
}

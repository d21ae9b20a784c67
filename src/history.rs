//! Questions about the past, answered from the change log: which revision
//! an `asof` names, and the progress report (per step: count and size per
//! status, and what was built, started, added and removed).
//!
//! Must not: know about HTTP.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use geo::Geometry;
use serde_json::{json, Value};

use crate::catalog::Catalog;
use crate::clock::{self, Step, Unix};
use crate::geodesy;
use crate::index::IndexedLayer;
use crate::live::{HistoryError, Live};
use crate::model::{Feature, GeometryKind};
use crate::store::{self, Shape, ShapeChange};

/// The revision an `asof` value names: `rev:N`, or an RFC 3339 instant (or
/// a date), which names the last revision committed at or before it.
/// Blocking (it may read the log).
pub fn resolve(live: &Live, text: &str) -> Result<u64, HistoryError> {
    let latest = live.snapshot().revision;
    if let Some(n) = text.strip_prefix("rev:") {
        let n: u64 = n.parse().map_err(|_| {
            HistoryError::Unknown(format!(
                "asof {text:?}: after rev: comes a revision number, e.g. rev:12"
            ))
        })?;
        live.require_history()?;
        if n == 0 || n > latest {
            return Err(HistoryError::Unknown(format!(
                "asof {text:?}: there is no revision {n}; revisions run from 1 to {latest}"
            )));
        }
        return Ok(n);
    }
    let t = clock::parse(text).map_err(|e| HistoryError::Unknown(format!("asof: {e}")))?;
    if t > clock::now() {
        return Err(HistoryError::Unknown(format!(
            "asof {text:?} is in the future; the data is known up to now"
        )));
    }
    let found = live.with_history(|h| {
        let first = h.revision_time(1)?;
        Ok((store::revision_at(h, t)?, first))
    })?;
    match found {
        (Some(rev), _) => {
            let rev = rev.min(latest);
            live.name_revision(text, rev);
            Ok(rev)
        }
        (None, first) => Err(HistoryError::Unknown(format!(
            "asof {text:?} is before the first revision (the import, at {})",
            first.unwrap_or_default()
        ))),
    }
}

/// Count and size per status.
type Tally = BTreeMap<String, (i64, f64)>;

/// A feature's status and size, as the report counts it.
struct Counted {
    status: String,
    size: f64,
}

fn counted(f: &Feature, kind: GeometryKind, status_prop: &str) -> Counted {
    Counted {
        status: f.property_text(status_prop).unwrap_or_default(),
        size: geodesy::feature_size(kind, &f.geometry),
    }
}

/// A logged shape's status and size: its coordinates parsed at the depth
/// its type says, nothing else (the log's features were valid when stored).
fn counted_shape(kind: GeometryKind, s: &Shape) -> Counted {
    if let Some(size) = s.size {
        return Counted {
            status: s.status.clone().unwrap_or_default(),
            size,
        };
    }
    type Ring = Vec<Vec<f64>>;
    let coords = |r: &Ring| -> Vec<geo::Coord> {
        r.iter()
            .filter(|p| p.len() >= 2)
            .map(|p| geo::coord! {x: p[0], y: p[1]})
            .collect()
    };
    let polygon = |rings: &[Ring]| -> geo::Polygon {
        let mut it = rings.iter().map(|r| geo::LineString(coords(r)));
        let outer = it.next().unwrap_or_else(|| geo::LineString(vec![]));
        geo::Polygon::new(outer, it.collect())
    };
    let c = &s.coordinates;
    let geometry = match s.geometry_type.as_str() {
        "LineString" => serde_json::from_str::<Ring>(c)
            .ok()
            .map(|r| Geometry::LineString(geo::LineString(coords(&r)))),
        "MultiLineString" => serde_json::from_str::<Vec<Ring>>(c).ok().map(|m| {
            Geometry::MultiLineString(geo::MultiLineString(
                m.iter().map(|r| geo::LineString(coords(r))).collect(),
            ))
        }),
        "Polygon" => serde_json::from_str::<Vec<Ring>>(c)
            .ok()
            .map(|p| Geometry::Polygon(polygon(&p))),
        "MultiPolygon" => serde_json::from_str::<Vec<Vec<Ring>>>(c).ok().map(|m| {
            Geometry::MultiPolygon(geo::MultiPolygon(m.iter().map(|p| polygon(p)).collect()))
        }),
        _ => None,
    };
    Counted {
        status: s.status.clone().unwrap_or_default(),
        size: geometry.map_or(0.0, |g| geodesy::feature_size(kind, &g)),
    }
}

fn add(t: &mut Tally, c: &Counted, sign: i64) {
    let e = t.entry(c.status.clone()).or_default();
    e.0 += sign;
    e.1 += sign as f64 * c.size;
}

/// Tallies of live layer versions: at a million segments one costs tens
/// of milliseconds, and a layer version never changes. Entries go with
/// their layer (a dead `Weak`).
static TALLIES: Mutex<Vec<(Weak<IndexedLayer>, String, Tally)>> = Mutex::new(Vec::new());

fn current_tally(layer: &Arc<IndexedLayer>, status_prop: &str) -> Tally {
    let key = Arc::downgrade(layer);
    if let Ok(cache) = TALLIES.lock() {
        if let Some((_, _, t)) = cache
            .iter()
            .find(|(w, p, _)| Weak::ptr_eq(w, &key) && p == status_prop)
        {
            return t.clone();
        }
    }
    let mut tally = Tally::new();
    let kind = layer.layer.meta.geometry;
    for f in layer.layer.features.live() {
        add(&mut tally, &counted(f, kind, status_prop), 1);
    }
    if let Ok(mut cache) = TALLIES.lock() {
        cache.retain(|(w, _, _)| w.strong_count() > 0);
        if cache.len() >= 16 {
            cache.remove(0);
        }
        cache.push((key, status_prop.to_owned(), tally.clone()));
    }
    tally
}

/// A progress report request.
pub struct Progress {
    pub collection: String,
    /// Defaults: the import's time, and now.
    pub from: Option<Unix>,
    pub to: Option<Unix>,
    pub step: Step,
}

/// The report as JSON: per step, the tally at its end and what changed in
/// it. `built` counts features whose status entered the current scenario
/// (`existing`), `started` those whose status became `under_construction`,
/// `added` creations and `removed` deletions. Blocking.
pub fn progress(live: &Live, snap: &Catalog, q: &Progress) -> Result<Value, HistoryError> {
    let layer = snap
        .layer(&q.collection)
        .ok_or_else(|| HistoryError::Unknown(format!("no collection {:?}", q.collection)))?;
    let meta = &layer.layer.meta;
    let status_prop = snap.coverage.as_ref().map_or("status".to_owned(), |c| {
        c.rules.scenarios.status_property.clone()
    });
    let current_set: Vec<String> = snap.coverage.as_ref().map_or(vec!["existing".into()], |c| {
        c.rules.scenarios.current.clone()
    });
    let first_time = live.with_history(|h| h.revision_time(1))?;
    let import = clock::parse(&first_time.unwrap_or_default())
        .map_err(|e| HistoryError::Unknown(format!("the change log's first time: {e}")))?;
    let now = clock::now();
    let from = q.from.unwrap_or(import);
    let to = q.to.unwrap_or(now);
    if from >= to {
        return Err(HistoryError::Unknown(format!(
            "from ({}) must be before to ({})",
            clock::format(from),
            clock::format(to)
        )));
    }
    if to > now {
        return Err(HistoryError::Unknown(format!(
            "to ({}) is in the future",
            clock::format(to)
        )));
    }
    let mut bounds = vec![from];
    while let Some(&b) = bounds.last() {
        let next = q.step.next_boundary(b);
        if next >= to {
            break;
        }
        bounds.push(next);
    }
    bounds.push(to);
    if bounds.len() > MAX_STEPS + 1 {
        return Err(HistoryError::Unknown(format!(
            "{} steps asked; at most {MAX_STEPS} (use a longer step or a shorter span)",
            bounds.len() - 1
        )));
    }
    let latest = snap.revision;
    let started = std::time::Instant::now();
    let (revs, changes) = live.with_history(|h| {
        let mut revs = Vec::with_capacity(bounds.len());
        for &b in &bounds {
            revs.push(store::revision_at(h, b)?.unwrap_or(0).min(latest));
        }
        let changes = h.shape_changes(&q.collection, &status_prop, revs[0], latest)?;
        Ok((revs, changes))
    })?;
    let kind = meta.geometry;
    let parsed: Vec<(u64, Option<Counted>, Option<Counted>)> = changes
        .iter()
        .map(
            |ShapeChange {
                 revision,
                 before,
                 after,
             }| {
                (
                    *revision,
                    before.as_ref().map(|b| counted_shape(kind, b)),
                    after.as_ref().map(|a| counted_shape(kind, a)),
                )
            },
        )
        .collect();
    let read_ms = started.elapsed().as_secs_f64() * 1e3;
    // The tally now, then undone back to the report's start.
    let pos = snap.layer_position(&q.collection).unwrap_or_default();
    let mut tally = current_tally(&snap.layers[pos], &status_prop);
    let tally_ms = started.elapsed().as_secs_f64() * 1e3 - read_ms;
    tracing::info!(collection = %q.collection, changes = parsed.len(), read_ms, tally_ms, "progress report");
    for (_, before, after) in parsed.iter().rev() {
        if let Some(a) = after {
            add(&mut tally, a, -1);
        }
        if let Some(b) = before {
            add(&mut tally, b, 1);
        }
    }
    let is_current = |s: &str| current_set.iter().any(|v| v == s);
    let mut steps = Vec::new();
    let mut k = 0;
    for i in 1..bounds.len() {
        let mut changed = [0u64; 4];
        while k < parsed.len() && parsed[k].0 <= revs[i] {
            let (_, before, after) = &parsed[k];
            match (before, after) {
                (None, Some(_)) => changed[2] += 1,
                (Some(_), None) => changed[3] += 1,
                (Some(b), Some(a)) => {
                    if is_current(&a.status) && !is_current(&b.status) {
                        changed[0] += 1;
                    }
                    if a.status == "under_construction" && b.status != a.status {
                        changed[1] += 1;
                    }
                }
                (None, None) => {}
            }
            if let Some(b) = before {
                add(&mut tally, b, -1);
            }
            if let Some(a) = after {
                add(&mut tally, a, 1);
            }
            k += 1;
        }
        steps.push(json!({
            "start": clock::format(bounds[i - 1]),
            "end": clock::format(bounds[i]),
            "revision": revs[i],
            "by_status": tally_json(&tally, meta.geometry),
            "changes": {"built": changed[0], "started": changed[1], "added": changed[2], "removed": changed[3]},
        }));
    }
    Ok(json!({
        "collection": q.collection,
        "status_property": status_prop,
        "measure": size_name(meta.geometry),
        "from": clock::format(from),
        "to": clock::format(to),
        "step": match q.step { Step::Month => "month", Step::Quarter => "quarter", Step::Year => "year" },
        "revision": latest,
        "steps": steps,
    }))
}

/// Most steps in one report (ten years of months).
pub const MAX_STEPS: usize = 120;

/// The size's name in the report: `length_km`, `area_km2`, or none.
pub fn size_name(kind: GeometryKind) -> Option<&'static str> {
    match kind {
        GeometryKind::LineString => Some("length_km"),
        GeometryKind::Polygon => Some("area_km2"),
        GeometryKind::Point => None,
    }
}

fn tally_json(t: &Tally, kind: GeometryKind) -> Value {
    let round = |x: f64| (x * 1000.0).round() / 1000.0;
    let mut out = serde_json::Map::new();
    for (status, &(n, size)) in t {
        if n == 0 {
            continue;
        }
        let mut v = json!({"count": n});
        if let Some(name) = size_name(kind) {
            v[name] = json!(round(size));
        }
        out.insert(status.clone(), v);
    }
    Value::Object(out)
}

/// The report as CSV: one row per step, a count (and size) column per
/// status, then the changes.
pub fn progress_csv(report: &Value) -> String {
    let steps = report["steps"].as_array().cloned().unwrap_or_default();
    let size = report["measure"].as_str();
    let statuses: std::collections::BTreeSet<String> = steps
        .iter()
        .filter_map(|s| s["by_status"].as_object())
        .flat_map(|m| m.keys().cloned())
        .collect();
    let mut head = vec!["start".to_owned(), "end".into(), "revision".into()];
    for s in &statuses {
        head.push(format!("{s}_count"));
        if let Some(size) = size {
            head.push(format!("{s}_{size}"));
        }
    }
    head.extend(["built", "started", "added", "removed"].map(String::from));
    let mut out = head.join(",") + "\r\n";
    for st in &steps {
        let mut row = vec![
            st["start"].as_str().unwrap_or("").to_owned(),
            st["end"].as_str().unwrap_or("").to_owned(),
            st["revision"].to_string(),
        ];
        for s in &statuses {
            let v = &st["by_status"][s];
            row.push(v["count"].as_i64().unwrap_or(0).to_string());
            if let Some(size) = size {
                row.push(v[size].as_f64().unwrap_or(0.0).to_string());
            }
        }
        for c in ["built", "started", "added", "removed"] {
            row.push(st["changes"][c].to_string());
        }
        out += &(row.join(",") + "\r\n");
    }
    out
}

//! Two snapshots side by side (the record and a proposal): the features
//! one adds, changes and removes, and the consequences a planner weighs,
//! each computed by the same coverage code the endpoints answer with, on
//! each snapshot: zone coverage shares per service, the same per area of
//! the zone's collection (its sub-areas) as `POST /api/coverage` gives
//! them, sites whose
//! connectability, supply or redundancy changes, substation loads, single
//! points of failure gained and lost, and every service's assets by status.
//!
//! Must not: know about HTTP or do I/O.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::budget::{Deadline, Exceeded};
use crate::catalog::Catalog;
use crate::coverage::capacity::CapacityError;
use crate::coverage::outage::PlanError;
use crate::coverage::{AreaAnswer, Scenario};
use crate::encode::GeometryJson;
use crate::model::Feature;

/// The features `after` differs from `before` in, among `keys`
/// (collection, id): a GeoJSON FeatureCollection whose features carry
/// `collection`, `change` (`added`, `changed`, `removed`) and, when
/// changed, `before` and `after` (properties) and whether the geometry
/// moved. Features equal on both sides are left out.
pub fn feature_diff<'a>(
    before: &Catalog,
    after: &Catalog,
    keys: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Value {
    let mut features = Vec::new();
    let (mut added, mut changed, mut removed) = (0, 0, 0);
    for (layer, id) in keys {
        let (b, a) = (get(before, layer, id), get(after, layer, id));
        let (b, a) = (b.as_deref(), a.as_deref());
        let geometry =
            |f: &Feature| serde_json::to_value(GeometryJson(&f.geometry)).unwrap_or(Value::Null);
        let props = |f: &Feature| {
            Value::Object(
                f.properties
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.clone()))
                    .collect(),
            )
        };
        let id_json = |f: &Feature| match f.numeric_id {
            true => f.id.parse::<f64>().map(|n| json!(n)).unwrap_or(json!(f.id)),
            false => json!(f.id),
        };
        let v = match (b, a) {
            (None, Some(a)) => {
                added += 1;
                json!({"type": "Feature", "id": id_json(a), "collection": layer, "change": "added",
                       "geometry": geometry(a), "properties": props(a)})
            }
            (Some(b), None) => {
                removed += 1;
                json!({"type": "Feature", "id": id_json(b), "collection": layer, "change": "removed",
                       "geometry": geometry(b), "properties": props(b)})
            }
            (Some(b), Some(a)) => {
                let moved = a.geometry != b.geometry;
                let (pb, pa) = (props(b), props(a));
                if !moved && pb == pa {
                    continue;
                }
                changed += 1;
                let names: BTreeSet<&String> = pb
                    .as_object()
                    .into_iter()
                    .chain(pa.as_object())
                    .flat_map(|o| o.keys())
                    .collect();
                let differ: Vec<&String> = names
                    .into_iter()
                    .filter(|k| pb.get(k.as_str()) != pa.get(k.as_str()))
                    .collect();
                json!({"type": "Feature", "id": id_json(a), "collection": layer, "change": "changed",
                       "geometry": geometry(a), "properties": pa, "before": pb, "after": pa,
                       "changed_properties": differ, "geometry_changed": moved,
                       "before_geometry": if moved { geometry(b) } else { Value::Null }})
            }
            (None, None) => continue,
        };
        features.push(v);
    }
    json!({
        "type": "FeatureCollection",
        "added": added, "changed": changed, "removed": removed,
        "numberReturned": features.len(),
        "features": features,
    })
}

/// A feature of a snapshot by collection and id.
fn get(c: &Catalog, layer: &str, id: &str) -> Option<std::sync::Arc<Feature>> {
    let l = c.layer(layer)?;
    c.feature_index(layer, id)
        .map(|i| std::sync::Arc::clone(&l.layer.features[i]))
}

/// The consequences of going from `before` to `after`, per scenario: the
/// same figures `/api/stats`, `/api/coverage/sites`,
/// `/api/network/capacity` and `/api/network/critical` give for each.
pub fn consequences(
    before: &Catalog,
    after: &Catalog,
    deadline: &Deadline,
) -> Result<Value, Exceeded> {
    let (Some(cb), Some(ca)) = (before.coverage.as_ref(), after.coverage.as_ref()) else {
        return Ok(
            json!({"error": before.coverage_error.as_ref().or(after.coverage_error.as_ref())}),
        );
    };
    let mut out = Map::new();
    for sc in Scenario::ALL {
        let mut s = Map::new();
        // Zone shares and assets by status, from the statistics.
        let (sb, sa) = (cb.stats(&before.layers, sc), ca.stats(&after.layers, sc));
        let mut zone = Map::new();
        let mut by_status = Map::new();
        for name in cb.service_names() {
            let share = |v: &Value| v["zone"]["coverage_share"][name].as_f64();
            let (b, a) = (share(&sb), share(&sa));
            zone.insert(
                name.to_owned(),
                json!({"before": b, "after": a, "change": a.zip(b).map(|(a, b)| a - b)}),
            );
            let (bb, ba) = (&sb[name]["by_status"], &sa[name]["by_status"]);
            by_status.insert(
                name.to_owned(),
                json!({"measure": sa[name]["measure"], "before": bb, "after": ba, "differs": bb != ba}),
            );
        }
        s.insert("zone".into(), Value::Object(zone));
        s.insert("areas".into(), areas(before, after, sc, deadline)?);
        s.insert("by_status".into(), Value::Object(by_status));
        s.insert("sites".into(), sites(before, after, sc, deadline)?);
        s.insert(
            "substations".into(),
            substations(before, after, sc, deadline)?,
        );
        s.insert("critical".into(), critical(before, after, sc, deadline)?);
        out.insert(sc.name().to_owned(), Value::Object(s));
    }
    Ok(Value::Object(out))
}

/// Most features of the zone's collection compared one by one.
const MAX_AREAS: usize = 32;

/// Each feature of the zone's collection (the zone, its sub-areas) as a
/// parcel: its share per service before and after. Areas too wide or too
/// costly to compute as a parcel are listed with the reason.
fn areas(before: &Catalog, after: &Catalog, sc: Scenario, d: &Deadline) -> Result<Value, Exceeded> {
    let (Some(cb), Some(ca)) = (before.coverage.as_ref(), after.coverage.as_ref()) else {
        return Ok(Value::Array(vec![]));
    };
    let Some(layer) = after.layer(&ca.rules.zone.collection) else {
        return Ok(Value::Array(vec![]));
    };
    let mut out = Vec::new();
    for f in layer.layer.features.live().take(MAX_AREAS) {
        let parcel = geo::MultiPolygon(crate::coverage::polygons_of(&f.geometry));
        let name = f.property_text("name");
        let name_en = f.property_text("name_en");
        let shares = |c: &crate::coverage::Coverage,
                      cat: &Catalog|
         -> Result<Result<BTreeMap<&'static str, f64>, String>, Exceeded> {
            if let Err(e) = c.check_parcel(&cat.layers, &parcel, None) {
                return Ok(Err(e.to_string()));
            }
            let (_, answers) = c.parcel(&cat.layers, &parcel, sc, None, None, d)?;
            Ok(Ok(answers.iter().map(|a| (a.service, a.share)).collect()))
        };
        let v = match (shares(cb, before)?, shares(ca, after)?) {
            (Ok(b), Ok(a)) => {
                let services: Map<String, Value> = a
                    .iter()
                    .map(|(k, va)| {
                        let vb = b.get(k).copied();
                        (
                            (*k).to_owned(),
                            json!({"before": vb, "after": va, "change": vb.map(|vb| va - vb)}),
                        )
                    })
                    .collect();
                json!({"id": f.id, "name": name, "name_en": name_en, "services": services})
            }
            (Err(e), _) | (_, Err(e)) => {
                json!({"id": f.id, "name": name, "name_en": name_en, "skipped": e})
            }
        };
        out.push(v);
    }
    Ok(Value::Array(out))
}

/// What a site's answer for one service says a planner acts on.
fn site_view(a: &AreaAnswer) -> Value {
    json!({
        "connectable": a.connectable,
        "connect_to": a.connect_to.as_ref().map(|r| &r.id),
        "sources": a.supply.as_ref().map(|s| s.sources.iter().map(|r| r.id.clone()).collect::<Vec<_>>()),
        "redundant": a.supply.as_ref().map(|s| s.redundant),
        "share": (a.share * 1e4).round() / 1e4,
    })
}

/// A site (as JSON) and what each service's answer says of it.
type SiteViews = (Value, BTreeMap<&'static str, Value>);

/// Sites whose connectability, connection, supply or redundancy changes.
fn sites(before: &Catalog, after: &Catalog, sc: Scenario, d: &Deadline) -> Result<Value, Exceeded> {
    let of = |c: &Catalog| -> Result<BTreeMap<String, SiteViews>, Exceeded> {
        let Some(cov) = c.coverage.as_ref() else {
            return Ok(BTreeMap::new());
        };
        Ok(cov
            .sites(&c.layers, sc, None, d)?
            .iter()
            .map(|(site, _, answers)| {
                let per: BTreeMap<&'static str, Value> =
                    answers.iter().map(|a| (a.service, site_view(a))).collect();
                (site.id.clone(), (json!(site), per))
            })
            .collect())
    };
    let (b, a) = (of(before)?, of(after)?);
    let ids: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    let mut list = Vec::new();
    for id in ids {
        let (sb, sa) = (b.get(id), a.get(id));
        let site = sa.or(sb).map(|s| s.0.clone()).unwrap_or(Value::Null);
        let services: BTreeSet<&&str> = sb.into_iter().chain(sa).flat_map(|s| s.1.keys()).collect();
        let mut changes = Map::new();
        for sv in services {
            let vb = sb.and_then(|s| s.1.get(*sv));
            let va = sa.and_then(|s| s.1.get(*sv));
            // The share moves with any nearby change; what a planner acts
            // on is whether and how the site connects and is supplied.
            let key = |v: Option<&Value>| {
                v.map(|v| {
                    (
                        v["connectable"].clone(),
                        v["connect_to"].clone(),
                        v["sources"].clone(),
                        v["redundant"].clone(),
                    )
                })
            };
            if key(vb) != key(va) {
                changes.insert(sv.to_string(), json!({"before": vb, "after": va}));
            }
        }
        if !changes.is_empty() {
            list.push(json!({"site": site, "services": changes}));
        }
    }
    Ok(Value::Array(list))
}

/// Every substation's load before and after, where either differs.
fn substations(
    before: &Catalog,
    after: &Catalog,
    sc: Scenario,
    d: &Deadline,
) -> Result<Value, Exceeded> {
    let of = |c: &Catalog| -> Result<Option<BTreeMap<String, Value>>, Exceeded> {
        let Some(cov) = c.coverage.as_ref() else {
            return Ok(None);
        };
        match cov.capacity(&c.layers, sc, d) {
            Ok(r) => Ok(Some(
                r.substations
                    .iter()
                    .map(|s| {
                        (
                            s.substation.id.clone(),
                            json!({"substation": s.substation, "capacity_kw": s.capacity_kw,
                                   "demand_kw": s.demand_kw, "load_ratio": s.load_ratio,
                                   "overloaded": s.overloaded, "sites": s.sites.len()}),
                        )
                    })
                    .collect(),
            )),
            Err(CapacityError::Exceeded(e)) => Err(e),
            Err(CapacityError::NotConfigured(_)) => Ok(None),
        }
    };
    let (Some(b), Some(a)) = (of(before)?, of(after)?) else {
        return Ok(Value::Null);
    };
    let ids: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    let list: Vec<Value> = ids
        .into_iter()
        .filter(|id| b.get(*id) != a.get(*id))
        .map(|id| json!({"id": id, "before": b.get(id), "after": a.get(id)}))
        .collect();
    Ok(Value::Array(list))
}

/// Single points of failure gained and lost, per networked service.
fn critical(
    before: &Catalog,
    after: &Catalog,
    sc: Scenario,
    d: &Deadline,
) -> Result<Value, Exceeded> {
    let mut out = Map::new();
    let Some(cb) = before.coverage.as_ref() else {
        return Ok(Value::Object(out));
    };
    for name in cb.service_names() {
        let of = |c: &Catalog| -> Result<Option<BTreeMap<String, Value>>, Exceeded> {
            let Some(cov) = c.coverage.as_ref() else {
                return Ok(None);
            };
            match cov.critical(&c.layers, name, sc, d) {
                Ok(r) => Ok(Some(
                    r.assets
                        .iter()
                        .map(|a| {
                            (
                                a.asset.id.clone(),
                                json!({"asset": a.asset, "sites": a.sites.len()}),
                            )
                        })
                        .collect(),
                )),
                Err(PlanError::Exceeded(e)) => Err(e),
                Err(PlanError::Unknown(_)) => Ok(None),
            }
        };
        let (Some(b), Some(a)) = (of(before)?, of(after)?) else {
            continue;
        };
        let gained: Vec<&Value> = a
            .iter()
            .filter(|(k, _)| !b.contains_key(*k))
            .map(|(_, v)| v)
            .collect();
        let lost: Vec<&Value> = b
            .iter()
            .filter(|(k, _)| !a.contains_key(*k))
            .map(|(_, v)| v)
            .collect();
        out.insert(
            name.to_owned(),
            json!({"before": b.len(), "after": a.len(), "gained": gained, "lost": lost}),
        );
    }
    Ok(Value::Object(out))
}

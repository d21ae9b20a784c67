//! A client's edit parsed and checked against its layer's rules before it
//! reaches the writer: the geometry (within the sweep budget), required
//! properties, the status rule.

use serde_json::Value;

use super::{Edit, EditError, FeaturePatch, Prepared};
use crate::catalog::Catalog;
use crate::model::{Feature, LayerMeta};

/// The layer's rules as an edit needs them.
fn meta<'a>(snap: &'a Catalog, layer: &str) -> Result<&'a LayerMeta, EditError> {
    snap.layer(layer)
        .map(|l| &l.layer.meta)
        .ok_or_else(|| EditError::NoCollection(layer.to_owned()))
}

/// A feature the client sent, checked: problems one per line.
fn feature(snap: &Catalog, meta: &LayerMeta, v: &Value) -> Result<Feature, Vec<String>> {
    let f = crate::load::feature_from_client(v, meta)?;
    if !f.id.is_empty() {
        crate::ids::check(&f.id).map_err(|p| vec![p])?;
    }
    if let Some(l) = snap.layer(&meta.id) {
        super::names::check(
            f.properties.keys().collect::<Vec<_>>().into_iter(),
            l.properties(),
        )?;
    }
    super::names::check_values(f.properties.iter())?;
    check_status(snap, &f).map_err(|p| vec![p])?;
    Ok(f)
}

/// A body naming another feature than its URL: ids cannot be changed by
/// an edit (delete and create instead).
fn id_contradicts(body: &str, url: &str) -> String {
    format!(
        "the body's id {:?} is not the URL's {url:?}; an id cannot be changed (create the feature anew and delete the old one)",
        body.chars().take(64).collect::<String>()
    )
}

/// The status rule of the snapshot's coverage rules, if it has any.
pub(super) fn check_status(snap: &Catalog, f: &Feature) -> Result<(), String> {
    match &snap.coverage {
        Some(c) => c.rules.scenarios.check_status(f),
        None => Ok(()),
    }
}

/// Most numbers (coordinates) a request's features may hold for its check
/// to run on an async worker (`light`): a thousand positions check in well
/// under a millisecond.
const LIGHT_NUMBERS: usize = 2_000;

/// Whether checking these edits costs microseconds: a few features with
/// few coordinates, checked where the request is, without a trip to the
/// blocking pool.
pub fn light(edits: &[Edit]) -> bool {
    /// The numbers in `v`, counting no further than `most`.
    fn numbers(v: &Value, most: usize) -> usize {
        match v {
            Value::Number(_) => 1,
            Value::Array(a) => {
                let mut n = 0;
                for x in a {
                    n += numbers(x, most - n.min(most));
                    if n > most {
                        break;
                    }
                }
                n
            }
            Value::Object(o) => o.values().map(|x| numbers(x, most)).sum(),
            _ => 0,
        }
    }
    edits.len() <= 4
        && edits
            .iter()
            .map(|e| match e {
                Edit::Create { feature: v, .. } | Edit::Replace { feature: v, .. } => {
                    v.get("geometry").map_or(0, |g| numbers(g, LIGHT_NUMBERS))
                }
                Edit::Patch { patch, .. } => patch
                    .get("geometry")
                    .map_or(0, |g| numbers(g, LIGHT_NUMBERS)),
                Edit::Delete { .. } => 0,
            })
            .sum::<usize>()
            <= LIGHT_NUMBERS
}

/// A request's edits parsed and checked by their layers' rules (all or
/// nothing): each problem prefixed with its edit's index when there are
/// several. Blocking (a polygon's check may take a fraction of a second);
/// run it before the writer, never holding it.
pub fn prepare(snap: &Catalog, edits: Vec<Edit>) -> Result<Vec<Prepared>, EditError> {
    let several = edits.len() > 1;
    let mut out = Vec::with_capacity(edits.len());
    let mut problems = Vec::new();
    for (n, e) in edits.into_iter().enumerate() {
        let parsed = match e {
            Edit::Create { layer, feature: v } => {
                let meta = meta(snap, &layer)?;
                feature(snap, meta, &v).map(|feature| Prepared::Create { layer, feature })
            }
            Edit::Replace {
                layer,
                id,
                feature: v,
                if_match,
            } => {
                let meta = meta(snap, &layer)?;
                feature(snap, meta, &v)
                    .and_then(|f| match f.id.is_empty() || f.id == id {
                        true => Ok(f),
                        false => Err(vec![id_contradicts(&f.id, &id)]),
                    })
                    .map(|feature| Prepared::Replace {
                        layer,
                        id,
                        feature,
                        if_match,
                    })
            }
            Edit::Patch {
                layer,
                id,
                patch,
                if_match,
            } => {
                let meta = meta(snap, &layer)?;
                let named = match patch.get("id") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(other) => Some(other.to_string()),
                };
                FeaturePatch::parse(&patch, meta.geometry)
                    .and_then(|p| match named.filter(|n| *n != id) {
                        None => Ok(p),
                        Some(n) => Err(vec![id_contradicts(&n, &id)]),
                    })
                    .and_then(|patch| {
                        let l = snap.layer(&layer).map(|l| l.properties());
                        match (patch.set_names(), l) {
                            (Some(names), Some(known)) => {
                                super::names::check(names.into_iter(), known)?;
                                super::names::check_values(patch.set_values())?;
                                Ok(patch)
                            }
                            _ => Ok(patch),
                        }
                    })
                    .map(|patch| Prepared::Patch {
                        layer,
                        id,
                        patch,
                        if_match,
                    })
            }
            Edit::Delete {
                layer,
                id,
                if_match,
            } => Ok(Prepared::Delete {
                layer,
                id,
                if_match,
            }),
        };
        match parsed {
            Ok(p) => out.push(p),
            Err(lines) if several => {
                problems.extend(lines.into_iter().map(|l| format!("feature {n}: {l}")))
            }
            Err(lines) => problems.extend(lines),
        }
    }
    match problems.is_empty() {
        true => Ok(out),
        false => Err(EditError::Invalid(problems)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn create(coords: usize) -> Edit {
        let line: Vec<[f64; 2]> = (0..coords)
            .map(|i| [113.0 + i as f64 * 1e-4, 34.5])
            .collect();
        Edit::Create {
            layer: "roads".into(),
            feature: json!({"type": "Feature", "geometry": {"type": "LineString", "coordinates": line}, "properties": {}}),
        }
    }

    /// A road of a few hundred positions is checked in place; a 5,000
    /// position one, or a request of many features, on the blocking pool.
    #[test]
    fn only_small_requests_are_light() {
        assert!(light(&[create(2)]));
        assert!(light(&[create(900), create(50)]));
        assert!(!light(&[create(5_000)]));
        assert!(!light(&[create(600), create(600)]));
        assert!(!light(&(0..10).map(|_| create(2)).collect::<Vec<_>>()));
        let delete = Edit::Delete {
            layer: "roads".into(),
            id: "r1".into(),
            if_match: 1,
        };
        assert!(light(&[delete]));
    }
}

//! The writer's checks of one request's edits against the current data
//! (the snapshot, plus what earlier requests of the same batch changed):
//! the feature exists, its id is free, If-Match names its current version.
//! A patch is applied here, to the feature as it stands.

use std::collections::HashMap;

use super::prepare::check_status;
use super::{EditError, Prepared};
use crate::catalog::Catalog;
use crate::model::Feature;
use crate::store::Change;

/// Per edit, the feature id and the feature as stored (`None`: deleted).
pub(crate) type Results = Vec<(String, Option<Feature>)>;

/// Per layer, feature id -> its state after some edits (`None`: deleted).
pub(crate) type Overlay = HashMap<String, HashMap<String, Option<Feature>>>;

/// What an edit does to the stored feature, as the change log names it.
enum Op {
    Create,
    Replace,
    Update,
}

/// A feature's current state as a request sees it: its own earlier edits
/// (`mine`), else the batch's (`batch`), else the snapshot's.
fn current<'a>(
    snap: &'a Catalog,
    batch: &'a Overlay,
    mine: &'a Overlay,
    layer: &str,
    id: &str,
) -> Option<&'a Feature> {
    for overlay in [mine, batch] {
        if let Some(state) = overlay.get(layer).and_then(|m| m.get(id)) {
            return state.as_ref();
        }
    }
    let l = snap.layer(layer)?;
    snap.feature_index(layer, id).map(|i| &*l.layer.features[i])
}

/// The If-Match rule: an edit of an existing feature names the revision
/// that last wrote it. A feature changed earlier in this batch carries the
/// batch's revision (`next`), which no client can have seen yet.
fn check_version(old: &Feature, id: &str, yours: u64, next: u64) -> Result<(), EditError> {
    if old.revision != yours || old.revision == next {
        return Err(EditError::Stale {
            id: id.to_owned(),
            yours,
            current: old.revision,
        });
    }
    Ok(())
}

/// The feature an edit of an existing one targets, if it exists and the
/// client's version is current.
fn existing_at<'a>(
    snap: &'a Catalog,
    batch: &'a Overlay,
    mine: &'a Overlay,
    layer: &str,
    id: &str,
    yours: u64,
    next: u64,
) -> Result<&'a Feature, EditError> {
    let old = current(snap, batch, mine, layer, id)
        .ok_or_else(|| EditError::NoFeature(layer.to_owned(), id.to_owned()))?;
    check_version(old, id, yours, next)?;
    Ok(old)
}

/// Validate one request's edits against the snapshot plus the batch so far
/// (all or nothing), recording their effect in `mine`; `next` is the
/// revision the batch will commit as.
pub(crate) fn validate(
    snap: &Catalog,
    batch: &Overlay,
    mine: &mut Overlay,
    edits: &[Prepared],
    next: u64,
) -> Result<(Results, Vec<Change>), EditError> {
    let mut results = Vec::new();
    let mut changes = Vec::new();
    let mut problems = Vec::new();
    for (n, e) in edits.iter().enumerate() {
        let layer_id = e.layer().to_owned();
        let Some(layer) = snap.layer(&layer_id) else {
            return Err(EditError::NoCollection(layer_id));
        };
        let meta = &layer.layer.meta;
        let stored = match e {
            Prepared::Create { feature, .. } => {
                let mut f = feature.clone();
                if f.id.is_empty() {
                    f.id = crate::ids::new_id(&layer_id);
                    f.numeric_id = false;
                } else if current(snap, batch, mine, &layer_id, &f.id).is_some() {
                    return Err(EditError::IdInUse(layer_id, f.id));
                }
                Some((f, Op::Create))
            }
            Prepared::Replace {
                id,
                feature,
                if_match,
                ..
            } => {
                let old = existing_at(snap, batch, mine, &layer_id, id, *if_match, next)?;
                let mut f = feature.clone();
                // The id is the URL's, as it was given (text or number).
                f.id = old.id.clone();
                f.numeric_id = old.numeric_id;
                Some((f, Op::Replace))
            }
            Prepared::Patch {
                id,
                patch,
                if_match,
                ..
            } => {
                let old = existing_at(snap, batch, mine, &layer_id, id, *if_match, next)?;
                let patched = patch
                    .apply(old, meta)
                    .and_then(|f| check_status(snap, &f).map(|()| f).map_err(|p| vec![p]));
                match patched {
                    Ok(f) => Some((f, Op::Update)),
                    Err(lines) => {
                        let prefix = match edits.len() > 1 {
                            true => format!("feature {n}: "),
                            false => String::new(),
                        };
                        problems.extend(lines.into_iter().map(|l| format!("{prefix}{l}")));
                        continue;
                    }
                }
            }
            Prepared::Delete { id, if_match, .. } => {
                let old = existing_at(snap, batch, mine, &layer_id, id, *if_match, next)?;
                let (id, numeric) = (old.id.clone(), old.numeric_id);
                mine.entry(layer_id.clone())
                    .or_default()
                    .insert(id.clone(), None);
                changes.push(Change::Delete {
                    layer: layer_id.clone(),
                    id: id.clone(),
                    numeric,
                });
                results.push((id, None));
                None
            }
        };
        let Some((mut f, op)) = stored else {
            continue;
        };
        f.revision = next;
        mine.entry(layer_id.clone())
            .or_default()
            .insert(f.id.clone(), Some(f.clone()));
        results.push((f.id.clone(), Some(f.clone())));
        changes.push(match op {
            Op::Create => Change::Create {
                layer: layer_id,
                feature: f,
            },
            Op::Replace => Change::Replace {
                layer: layer_id,
                feature: f,
            },
            Op::Update => Change::Update {
                layer: layer_id,
                feature: f,
            },
        });
    }
    if !problems.is_empty() {
        return Err(EditError::Invalid(problems));
    }
    Ok((results, changes))
}

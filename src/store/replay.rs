//! A data folder's history (`history.toml`): how some features' status
//! moved over time, replayed into a new store so that its change log, `asof`
//! and progress reports have a past. The folder's files are the end state;
//! the history says where each listed feature started and when it changed.
//!
//! ```toml
//! import = "2024-01-08T09:00:00+08:00"   # revision 1: the initial load
//! who = "planning office"                 # the author of every step
//! [[feature]]
//! collection = "roads"
//! id = "R-026"
//! # (time, status): the first entry at `import` means "there from the
//! # start", a later one "added then"; the last status must be the file's.
//! status = [["2024-01-08T09:00:00+08:00", "planned"], ["2025-04-15T09:00:00+08:00", "existing"]]
//! ```
//!
//! Must not: write anything (the store does, through `Store::commit`).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::{Change, Dataset};
use crate::clock::{self, Unix};

/// The history file's name in a data folder.
pub const HISTORY_FILE: &str = "history.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    import: String,
    who: String,
    #[serde(default, rename = "feature")]
    features: Vec<Timeline>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Timeline {
    collection: String,
    id: String,
    status: Vec<(String, String)>,
}

/// What to write into a new store: the data at `import`, then each step as
/// one revision at its time.
#[derive(Debug)]
pub struct Replay {
    pub import: Unix,
    pub steps: Vec<(Unix, Vec<(String, Change)>)>,
}

/// Read `dir/history.toml` if there is one, check it against `data` (the
/// folder's end state) and turn `data` into the state at import. Errors
/// name the file and the entry.
pub fn read(dir: &Path, data: &mut Dataset) -> Result<Option<Replay>, String> {
    let path = dir.join(HISTORY_FILE);
    let text = match crate::load::read_regular_text(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let at = |what: String| format!("{}: {what}", path.display());
    let file: File = toml::from_str(&text).map_err(|e| at(e.to_string()))?;
    let import = clock::parse(&file.import).map_err(|e| at(format!("import: {e}")))?;
    let status_property = super::log::status_property(data.rules.as_deref());
    // Per time: the changes of that step.
    let mut steps: BTreeMap<Unix, Vec<(String, Change)>> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    let now = clock::now();
    for (n, t) in file.features.iter().enumerate() {
        let what = |m: String| {
            at(format!(
                "feature {} ({}/{}): {m}",
                n + 1,
                t.collection,
                t.id
            ))
        };
        if !seen.insert((t.collection.clone(), t.id.clone())) {
            return Err(what("listed twice".into()));
        }
        let layer = data
            .layers
            .iter_mut()
            .find(|l| l.meta.id == t.collection)
            .ok_or_else(|| what("no such collection".into()))?;
        let pos = layer
            .position(&t.id)
            .ok_or_else(|| what("no such feature in the data folder".into()))?;
        let end = layer.features[pos].clone();
        let Some(last) = t.status.last() else {
            return Err(what("an empty status timeline".into()));
        };
        let file_status = end.properties.get(&status_property);
        if file_status != Some(&Value::String(last.1.clone())) {
            return Err(what(format!(
                "the last status is {:?}, but the data folder has {status_property} = {}",
                last.1,
                file_status.map_or("nothing".into(), |v| v.to_string())
            )));
        }
        let mut previous = None;
        for (i, (time, status)) in t.status.iter().enumerate() {
            let when = clock::parse(time).map_err(&what)?;
            if when < import || previous.is_some_and(|p| when <= p) || when > now {
                return Err(what(format!(
                    "time {time:?} is not after the previous entry's and the import's, or is in the future"
                )));
            }
            previous = Some(when);
            let mut f = (*end).clone();
            f.properties
                .insert(&status_property, Value::String(status.clone()));
            let layer_id = t.collection.clone();
            let change = match (i, when == import) {
                // There from the start: the import holds this state.
                (0, true) => {
                    layer.features.replace(pos, Arc::new(f));
                    continue;
                }
                (0, false) => Change::Create {
                    layer: layer_id,
                    feature: f,
                },
                _ => Change::Replace {
                    layer: layer_id,
                    feature: f,
                },
            };
            steps
                .entry(when)
                .or_default()
                .push((file.who.clone(), change));
        }
    }
    // Features added later are not in the import.
    let added: HashMap<&str, Vec<&str>> =
        steps
            .values()
            .flatten()
            .fold(HashMap::new(), |mut m, (_, c)| {
                if let Change::Create { layer, feature } = c {
                    m.entry(layer.as_str())
                        .or_default()
                        .push(feature.id.as_str());
                }
                m
            });
    for layer in &mut data.layers {
        if let Some(ids) = added.get(layer.meta.id.as_str()) {
            let kept = layer
                .features
                .live()
                .filter(|f| !ids.contains(&f.id.as_str()))
                .cloned()
                .collect();
            *layer = crate::model::Layer::from_shared(layer.meta.clone(), kept);
        }
    }
    for layer in &mut data.layers {
        // The replaced features change the extent.
        *layer = crate::model::Layer::of(layer.meta.clone(), layer.features.clone());
    }
    Ok(Some(Replay {
        import,
        steps: steps.into_iter().collect(),
    }))
}

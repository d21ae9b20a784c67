//! Stored features that break their layer's rules — written with another
//! tool (QGIS, SQL) as a self-intersecting park, a road without its
//! status, a status no scenario knows — are left out of the served data,
//! never keeping the server from starting, and listed for operators
//! (`/health`, `/api/problems`) until they are fixed or deleted.
//!
//! Must not: know about HTTP.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::Live;
use crate::coverage::rules::Scenarios;
use crate::model::{Dataset, Feature, LayerMeta, LeftOut};

/// What a stored feature must satisfy beyond the geometry the store checks:
/// the layer's required properties and the status rule. The problems, one
/// per line.
pub(super) fn problems(
    f: &Feature,
    meta: &LayerMeta,
    scenarios: Option<&Scenarios>,
) -> Vec<String> {
    let mut out = meta.missing_required(&f.properties);
    if let Some(Err(e)) = scenarios.map(|s| s.check_status(f)) {
        out.push(e);
    }
    out
}

/// The scenarios of a store's rules, when its rules parse (when they do
/// not, the snapshot cannot be built and says so itself).
pub(super) fn scenarios_of(data: &Dataset) -> Option<Scenarios> {
    let text = data.rules.as_deref()?;
    crate::coverage::rules::parse(text)
        .ok()
        .map(|r| r.scenarios)
}

/// Move every feature of `data` that breaks its layer's rules to
/// `data.left_out`, with the reasons.
pub(super) fn split_off(data: &mut Dataset) {
    let scenarios = scenarios_of(data);
    for layer in &mut data.layers {
        let meta = layer.meta.clone();
        let mut features = layer.features.to_vec();
        let bad: Vec<(usize, Vec<String>)> = features
            .iter()
            .enumerate()
            .map(|(i, f)| (i, problems(f, &meta, scenarios.as_ref())))
            .filter(|(_, p)| !p.is_empty())
            .collect();
        if bad.is_empty() {
            continue;
        }
        for (i, reasons) in bad.iter().rev() {
            let f = features.remove(*i);
            tracing::warn!(layer = %meta.id, id = %f.id, "left out a feature that breaks the layer's rules: {}", reasons.join("; "));
            data.left_out.push(LeftOut {
                layer: meta.id.clone(),
                id: f.id.clone(),
                reason: reasons.join("; "),
            });
        }
        *layer = crate::model::Layer::from_shared(meta, features);
    }
}

/// The features left out, by layer and id.
pub(super) type Registry = BTreeMap<(String, String), LeftOut>;

impl Live {
    /// Every stored feature left out of the served data, and why.
    pub fn left_out(&self) -> Vec<LeftOut> {
        self.left_out
            .lock()
            .map(|r| r.values().cloned().collect())
            .unwrap_or_default()
    }

    /// A feature another writer stored, as the snapshot may serve it:
    /// `Some` when it keeps its layer's rules, `None` (and listed) when it
    /// does not; a valid or deleted feature leaves the list.
    pub(super) fn admit(
        &self,
        meta: &LayerMeta,
        id: &str,
        state: Result<Option<Feature>, String>,
        scenarios: Option<&Scenarios>,
    ) -> Option<Arc<Feature>> {
        let key = (meta.id.clone(), id.to_owned());
        let verdict = match state {
            Ok(None) => Ok(None),
            Ok(Some(f)) => {
                let p = problems(&f, meta, scenarios);
                match p.is_empty() {
                    true => Ok(Some(Arc::new(f))),
                    false => Err(p.join("; ")),
                }
            }
            Err(e) => Err(e),
        };
        let Ok(mut registry) = self.left_out.lock() else {
            return verdict.ok().flatten();
        };
        match verdict {
            Ok(f) => {
                registry.remove(&key);
                f
            }
            Err(reason) => {
                tracing::warn!(layer = %meta.id, id, "left out a change that breaks the layer's rules: {reason}");
                registry.insert(
                    key,
                    LeftOut {
                        layer: meta.id.clone(),
                        id: id.to_owned(),
                        reason,
                    },
                );
                None
            }
        }
    }
}

//! The data as it stood at a past revision (`asof`): the current snapshot
//! with every feature changed since put back as it was then, through the
//! same `Catalog::with_changes` an edit uses. The last few are kept, and
//! instants already resolved to a revision.
//!
//! Must not: know about HTTP.

use std::sync::Arc;

use super::Live;
use crate::catalog::{Catalog, Changes};
use crate::store::{History, StoreError};

/// Past snapshots kept (each shares all it can with the current one).
const PAST_SNAPSHOTS: usize = 4;
/// Resolved `asof` instants kept.
const ASOF_NAMES: usize = 1024;

/// Why a question about the past could not be answered.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The store keeps no change log (a data folder).
    #[error("{0}")]
    NoHistory(String),
    /// No such revision, or a time before the first one.
    #[error("{0}")]
    Unknown(String),
    #[error(transparent)]
    Store(StoreError),
}

impl Live {
    /// An error saying so when the store keeps no history (a data folder).
    pub fn require_history(&self) -> Result<(), HistoryError> {
        match self.history {
            Some(_) => Ok(()),
            None => Err(self.no_history()),
        }
    }

    fn no_history(&self) -> HistoryError {
        HistoryError::NoHistory(format!(
            "{} keeps no history (a data folder); serve a store (--store FILE.gpkg) for history, asof and events",
            self.description
        ))
    }

    /// Run `f` on the change log. Blocking: call it off the async workers.
    pub fn with_history<T>(
        &self,
        f: impl FnOnce(&mut dyn History) -> Result<T, StoreError>,
    ) -> Result<T, HistoryError> {
        let h = self.history.as_ref().ok_or_else(|| self.no_history())?;
        let mut h = h.lock().map_err(|_| {
            HistoryError::Store(StoreError::Unavailable(
                "the history reader is poisoned".into(),
            ))
        })?;
        f(&mut **h).map_err(HistoryError::Store)
    }

    /// The snapshot an `asof` value names, when it is at hand without
    /// reading the log: the current one, or a past one already built for a
    /// revision or an instant asked before.
    pub fn as_of_cached(&self, asof: &str) -> Option<Arc<Catalog>> {
        let revision = match asof.strip_prefix("rev:") {
            Some(n) => n.parse().ok()?,
            None => *self.asof_names.lock().ok()?.get(asof)?,
        };
        if self.history.is_none() || revision == 0 {
            return None;
        }
        let snap = self.snapshot();
        if revision == snap.revision {
            return Some(snap);
        }
        let past = self.past.lock().ok()?;
        past.iter().find(|c| c.revision == revision).cloned()
    }

    /// Remember that the instant `asof` names `revision`, if that can no
    /// longer change (it is not the latest revision).
    pub fn name_revision(&self, asof: &str, revision: u64) {
        if revision >= self.snapshot().revision {
            return;
        }
        if let Ok(mut names) = self.asof_names.lock() {
            if names.len() >= ASOF_NAMES {
                names.clear();
            }
            names.insert(asof.to_owned(), revision);
        }
    }

    /// The data as it stood at `revision`: the current snapshot with every
    /// feature changed since put back as it was then (indexes and coverage
    /// rebuilt only for what differs). The last few are kept. Blocking.
    pub fn as_of(&self, revision: u64) -> Result<Arc<Catalog>, HistoryError> {
        let snap = self.snapshot();
        if self.history.is_none() || revision == 0 || revision > snap.revision {
            // The error names what exists.
            self.require_history()?;
            return Err(HistoryError::Unknown(format!(
                "there is no revision {revision}: revisions run from 1 to {}",
                snap.revision
            )));
        }
        if revision == snap.revision {
            return Ok(snap);
        }
        if let Ok(mut past) = self.past.lock() {
            if let Some(i) = past.iter().position(|c| c.revision == revision) {
                let hit = past.remove(i);
                past.push(Arc::clone(&hit));
                return Ok(hit);
            }
        }
        let states = self.with_history(|h| h.states_at(revision))?;
        let mut changes = Changes::new();
        for (layer_id, id, state) in &states {
            let Some(meta) = snap.layer(layer_id).map(|l| &l.layer.meta) else {
                continue;
            };
            let f = match state {
                None => None,
                Some((rev, json)) => {
                    let mut f = crate::load::feature_from_geojson(json, meta).map_err(|e| {
                        HistoryError::Store(StoreError::Corrupt {
                            path: self.description.clone(),
                            message: format!("{layer_id}/{id} at revision {rev}: {}", e.join("; ")),
                        })
                    })?;
                    f.revision = *rev;
                    Some(Arc::new(f))
                }
            };
            changes
                .entry(layer_id.clone())
                .or_default()
                .insert(id.clone(), f);
        }
        let past = Arc::new(
            snap.with_changes(&changes, revision, revision)
                .map_err(|e| {
                    HistoryError::Store(StoreError::Corrupt {
                        path: self.description.clone(),
                        message: format!("the data as of revision {revision}: {e}"),
                    })
                })?,
        );
        if let Ok(mut cache) = self.past.lock() {
            if cache.len() >= PAST_SNAPSHOTS {
                cache.remove(0);
            }
            cache.push(Arc::clone(&past));
        }
        Ok(past)
    }
}

//! A replica kept fresh. When the store is shared (PostGIS), other servers
//! and SQL edits commit too: a follower thread waits for their
//! announcements and applies the change log after this server's revision
//! to its snapshot, in order. On every (re)connection it catches up from
//! the log, so an announcement missed while away loses nothing. A batch
//! whose commit finds the store ahead of its snapshot catches up the same
//! way (`catch_up_locked`), whatever the store.
//!
//! While the database cannot be reached the server keeps serving its last
//! snapshot; `health` says why it is degraded.
//!
//! Must not: know about HTTP.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::Live;
use crate::catalog::Changes;
use crate::store::{ChangeRecord, Store, StoreError};

/// How long the follower waits for an announcement before checking that
/// its connection is still alive.
const FOLLOW_POLL: Duration = Duration::from_secs(1);
/// The longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

impl Live {
    /// Start following the store's other writers, if it has any (PostGIS);
    /// false for a store only this server writes. The thread stops with
    /// the last `Arc<Live>`.
    pub fn follow(live: &Arc<Live>) -> Result<bool, StoreError> {
        let follower = live.lock_writer().follower()?;
        let Some(mut follower) = follower else {
            return Ok(false);
        };
        let weak: Weak<Live> = Arc::downgrade(live);
        std::thread::Builder::new()
            .name("zoneatlas-follow".into())
            .spawn(move || {
                let mut delay = Duration::from_millis(100);
                // Set by an announcement, a reconnection or a failure, and
                // cleared only by a catch-up that succeeded: a round that
                // fails half-way is caught up in the next.
                let mut behind = true;
                loop {
                    let woke = follower.wait(FOLLOW_POLL);
                    let Some(live) = weak.upgrade() else { return };
                    let outcome = match woke {
                        Ok(announced) => {
                            behind |= announced;
                            match behind {
                                true => live.catch_up().map(|_| ()),
                                false => Ok(()),
                            }
                        }
                        Err(e) => Err(e),
                    };
                    match outcome {
                        Ok(()) => {
                            behind = false;
                            live.set_degraded(None);
                            delay = Duration::from_millis(100);
                        }
                        Err(e) => {
                            behind = true;
                            live.set_degraded(Some(e.to_string()));
                            drop(live);
                            std::thread::sleep(delay);
                            delay = (delay * 2).min(MAX_BACKOFF);
                        }
                    }
                }
            })
            .map_err(|e| StoreError::Unavailable(format!("cannot start the follower: {e}")))?;
        Ok(true)
    }

    /// Why the server is degraded (the database is out of reach), if it is.
    pub fn degraded(&self) -> Option<String> {
        self.degraded.lock().ok().and_then(|d| d.clone())
    }

    fn set_degraded(&self, why: Option<String>) {
        let Ok(mut d) = self.degraded.lock() else {
            return;
        };
        match (&*d, &why) {
            (None, Some(e)) => tracing::warn!(
                error = %e,
                revision = self.snapshot().revision,
                "the database is out of reach: serving the last snapshot, writes answer 503"
            ),
            (Some(_), None) => tracing::info!(
                revision = self.snapshot().revision,
                "the database is back; caught up"
            ),
            _ => {}
        }
        *d = why;
    }

    /// Apply what others committed since our snapshot (blocking); the
    /// revision served after.
    pub fn catch_up(&self) -> Result<u64, StoreError> {
        let mut store = self.lock_writer();
        self.catch_up_locked(&mut **store)?;
        Ok(self.snapshot().revision)
    }

    /// `catch_up` with the writer lock already held (by a batch whose
    /// commit found the store ahead).
    pub(super) fn catch_up_locked(&self, store: &mut dyn Store) -> Result<(), StoreError> {
        // Other servers' proposal saves are announced the same way.
        self.refresh_proposals_locked(store)?;
        let snap = self.snapshot();
        let Some((latest, records)) = store.changes_since(snap.revision)? else {
            return Ok(());
        };
        if latest <= snap.revision {
            return Ok(());
        }
        // Per layer, id -> its last state in the log, as the snapshot may
        // serve it (what breaks the layer's rules is left out and listed).
        let scenarios = snap.coverage.as_ref().map(|c| &c.rules.scenarios);
        let mut states = Changes::new();
        for r in &records {
            let Some(layer) = snap.layer(&r.collection) else {
                tracing::warn!(layer = %r.collection, "a change to a layer this server does not serve (added since it started?); restart it to serve the layer");
                continue;
            };
            let meta = &layer.layer.meta;
            let state = match (r.op.as_str(), &r.feature) {
                ("delete", _) => Ok(None),
                // Settled after the row was deleted: its delete follows.
                (_, Some(serde_json::Value::Null)) | (_, None) => continue,
                (_, Some(json)) => crate::load::feature_from_geojson(json, meta)
                    .map(|mut f| {
                        f.revision = r.revision;
                        Some(f)
                    })
                    .map_err(|p| p.join("; ")),
            };
            let admitted = self.admit(meta, &r.feature_id, state, scenarios);
            states
                .entry(r.collection.clone())
                .or_default()
                .insert(r.feature_id.clone(), admitted);
        }
        let next = snap
            .with_changes(&states, latest, latest)
            .map_err(|message| StoreError::Corrupt {
                path: self.description.clone(),
                message: format!("the data at revision {latest}: {message}"),
            })?;
        self.install(next);
        tracing::info!(
            from = snap.revision,
            to = latest,
            changes = records.len(),
            "caught up with the store"
        );
        // Event streams get each revision's rows, as for our own commits.
        let mut by_revision: Vec<Vec<ChangeRecord>> = Vec::new();
        for mut r in records {
            r.feature = None;
            match by_revision.last_mut() {
                Some(group) if group[0].revision == r.revision => group.push(r),
                _ => by_revision.push(vec![r]),
            }
        }
        for group in by_revision {
            let _ = self.events.send(Arc::new(group));
        }
        Ok(())
    }
}

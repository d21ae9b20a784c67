//! The single writer: edits queue up, and whoever leads (the first to
//! queue while nobody does) takes the whole queue as one batch — validate
//! each request against the current snapshot (all or nothing per
//! request), commit the batch in one durable store transaction from the
//! snapshot's revision, build the next snapshot (re-indexing only the
//! layers it touched), swap it in, then answer every request of the batch.
//! Concurrent writers thus share one fsync, and wait for their answer
//! asleep (never polling: 32 waiting clients woken every few milliseconds
//! cost a tenth of the server's CPU). A batch that finds the store ahead
//! (another writer, or a snapshot left behind) catches up from the change
//! log and is validated again; a batch the store refuses is committed
//! again request by request, so one bad request fails alone.
//!
//! Must not: know about HTTP.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::Live;
use crate::catalog::{Catalog, CatalogError, Changes};
use crate::edit::{prepare, validate, Applied, Edit, EditError, Overlay, Prepared, Results};
use crate::store::{Change, Store, StoreError};

/// Times a batch is validated again after finding the store ahead.
const BEHIND_ROUNDS: usize = 8;

/// One request waiting for the writer.
pub(super) struct Pending {
    edits: Vec<Prepared>,
    who: String,
    reply: tokio::sync::oneshot::Sender<Result<Applied, EditError>>,
}

/// A request queued: its answer, and whether its sender must lead.
struct Queued {
    answer: Answer,
    lead: bool,
}

/// The error of a request whose leader stopped (a panic) before answering.
fn stopped() -> EditError {
    EditError::Unavailable("the writer stopped".into())
}

/// The requests waiting, and whether a leader is applying them.
#[derive(Default)]
pub(super) struct Queue {
    pending: Vec<Pending>,
    leading: bool,
}

/// Held by the leader: should a batch panic, nobody leads any more and
/// the requests still queued are answered (their replies dropped: "the
/// writer stopped") rather than left waiting for a leader.
struct Leading<'a>(&'a Live);

impl Drop for Leading<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut q = self.0.lock_queue();
            q.leading = false;
            q.pending.clear();
        }
    }
}

/// A request's answer, to come from whoever leads.
type Answer = tokio::sync::oneshot::Receiver<Result<Applied, EditError>>;

impl Live {
    /// Apply one request's edits (all or none), batched with any others
    /// waiting. They are parsed and checked by their layers' rules first,
    /// on the caller's thread (`edit::prepare`), so what a client's
    /// geometry costs never holds the writer. Blocking: call it off the
    /// async workers.
    pub fn submit(&self, edits: Vec<Edit>, who: &str) -> Result<Applied, EditError> {
        let queued = self.queue_edits(self.prepared(edits)?, who);
        if queued.lead {
            self.lead();
        }
        queued
            .answer
            .blocking_recv()
            .unwrap_or_else(|_| Err(stopped()))
    }

    /// `submit` for an async caller: a request whose edits cost
    /// microseconds to check (`edit::light`) is checked in place, and it
    /// waits for its answer without a thread; whoever queues first while
    /// nobody leads starts a leader on the blocking pool. Each request
    /// then costs one wake-up, where a blocking thread per request cost
    /// three (a fifth of the server's CPU at 32 writing clients).
    pub async fn submit_async(
        self: Arc<Self>,
        edits: Vec<Edit>,
        who: String,
    ) -> Result<Applied, EditError> {
        let prepared = if crate::edit::light(&edits) {
            self.prepared(edits)?
        } else {
            let live = Arc::clone(&self);
            tokio::task::spawn_blocking(move || live.prepared(edits))
                .await
                .map_err(|e| EditError::Unavailable(format!("checking the edit failed: {e}")))??
        };
        let queued = self.queue_edits(prepared, &who);
        if queued.lead {
            let live = Arc::clone(&self);
            tokio::task::spawn_blocking(move || live.lead());
        }
        queued.answer.await.unwrap_or_else(|_| Err(stopped()))
    }

    /// The request's edits checked by their layers' rules, when the server
    /// writes at all.
    fn prepared(&self, edits: Vec<Edit>) -> Result<Vec<Prepared>, EditError> {
        if !self.writable {
            return Err(EditError::ReadOnly(format!(
                "{} cannot be written by this server; nothing was changed",
                self.description
            )));
        }
        prepare(&self.snapshot(), edits)
    }

    /// Queue a request; `lead` is set when nobody leads, and the caller
    /// must then lead (`lead`). The queue's lock decides who leads, so a
    /// request queued as the leader lets go has a leader of its own.
    fn queue_edits(&self, edits: Vec<Prepared>, who: &str) -> Queued {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let mut q = self.lock_queue();
        q.pending.push(Pending {
            edits,
            who: who.to_owned(),
            reply,
        });
        let lead = !std::mem::replace(&mut q.leading, true);
        Queued { answer, lead }
    }

    /// Apply everything queued, batch after batch, until the queue is
    /// empty; the requests' senders sleep until answered meanwhile.
    fn lead(&self) {
        let _leading = Leading(self);
        let mut store = self.lock_writer();
        loop {
            let batch = {
                let mut q = self.lock_queue();
                if q.pending.is_empty() {
                    q.leading = false;
                    break;
                }
                std::mem::take(&mut q.pending)
            };
            self.apply_batch(&mut **store, batch);
        }
    }

    /// The write queue (a panic while it was held left it whole: requests
    /// are pushed and taken in one step).
    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|p| {
            self.queue.clear_poison();
            p.into_inner()
        })
    }

    /// Why the last write failed, and when, until one succeeds (`/health`).
    pub fn write_failure(&self) -> Option<(String, String)> {
        self.write_failure.lock().ok().and_then(|w| w.clone())
    }

    pub(super) fn set_write_failure(&self, why: Option<String>) {
        if let Ok(mut w) = self.write_failure.lock() {
            *w = why.map(|m| (m, crate::clock::format(crate::clock::now())));
        }
    }

    /// The snapshot after a commit: `snap` with the batch's states.
    fn next_snapshot(
        &self,
        snap: &Catalog,
        states: &Changes,
        revision: u64,
    ) -> Result<Catalog, CatalogError> {
        #[cfg(test)]
        if self
            .fail_next_snapshot
            .swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            return Err(CatalogError::Mismatch("injected for a test".into()));
        }
        snap.with_changes(states, revision, revision)
    }

    fn apply_batch(&self, store: &mut dyn Store, mut batch: Vec<Pending>) {
        // A store others write too may have moved on since our snapshot:
        // then catch up and validate the batch again (bounded: each round
        // means another writer got in, so the store is making progress).
        for round in 0.. {
            match self.try_batch(store, batch) {
                None => return,
                Some(again) if round < BEHIND_ROUNDS => {
                    if let Err(e) = self.catch_up_locked(store) {
                        let msg = EditError::Unavailable(format!(
                            "the store could not save the edit, nothing was changed: {e}"
                        ));
                        for p in again {
                            let _ = p.reply.send(Err(msg.clone()));
                        }
                        return;
                    }
                    batch = again;
                }
                Some(again) => {
                    for p in again {
                        let _ = p.reply.send(Err(EditError::Unavailable(
                            "other writers kept the store busy; nothing was changed, try again"
                                .into(),
                        )));
                    }
                    return;
                }
            }
        }
    }

    /// Validate and commit one batch; the batch back when the store was
    /// ahead of our snapshot (nothing written, nobody answered).
    fn try_batch(&self, store: &mut dyn Store, batch: Vec<Pending>) -> Option<Vec<Pending>> {
        let snap = self.snapshot();
        let next = snap.revision + 1;
        // The batch's view: what earlier requests of this batch changed. A
        // request's own changes go to `mine` first and join the batch's only
        // if the whole request is valid.
        let mut overlay: Overlay = HashMap::new();
        let mut accepted: Vec<(Pending, Results, Vec<Change>)> = Vec::new();
        for p in batch {
            let mut mine = Overlay::new();
            match validate(&snap, &overlay, &mut mine, &p.edits, next) {
                Ok((results, changes)) => {
                    for (layer, states) in mine {
                        overlay.entry(layer).or_default().extend(states);
                    }
                    accepted.push((p, results, changes));
                }
                Err(e) => {
                    let _ = p.reply.send(Err(e));
                }
            }
        }
        if accepted.is_empty() {
            return None;
        }
        let changes: Vec<(String, Change)> = accepted
            .iter()
            .flat_map(|(p, _, cs)| cs.iter().map(|c| (p.who.clone(), c.clone())))
            .collect();
        let started = Instant::now();
        // Validated against `snap`: the store must still be at its revision.
        let committed = store.commit(snap.revision, &changes, None);
        let (revision, records) = match committed {
            Ok(c) => (c.revision, c.records),
            Err(StoreError::Behind(_)) => {
                return Some(accepted.into_iter().map(|(p, _, _)| p).collect());
            }
            Err(e) if accepted.len() > 1 => {
                // One request may have asked what the store cannot keep:
                // commit each alone, so that it fails alone.
                tracing::warn!(error = %e, requests = accepted.len(), "a batch failed; committing its requests one by one");
                for (p, _, _) in accepted {
                    self.apply_batch(store, vec![p]);
                }
                return None;
            }
            Err(StoreError::Refused(m)) => {
                for (p, _, _) in accepted {
                    let _ = p.reply.send(Err(EditError::Invalid(vec![m.clone()])));
                }
                return None;
            }
            Err(e) => {
                tracing::error!(error = %e, "commit failed; nothing of the batch was stored");
                self.set_write_failure(Some(e.to_string()));
                let msg = match e {
                    StoreError::ReadOnly(m) => EditError::ReadOnly(m),
                    other => EditError::Unavailable(format!(
                        "the store could not save the edit, nothing was changed: {other}"
                    )),
                };
                for (p, _, _) in accepted {
                    let _ = p.reply.send(Err(msg.clone()));
                }
                return None;
            }
        };
        let committed_ms = started.elapsed().as_secs_f64() * 1e3;
        self.set_write_failure(None);
        // The next snapshot: changed layers rebuilt, the rest shared.
        let states: Changes = overlay
            .into_iter()
            .map(|(layer, states)| {
                let states = states
                    .into_iter()
                    .map(|(id, f)| (id, f.map(Arc::new)))
                    .collect();
                (layer, states)
            })
            .collect();
        match self.next_snapshot(&snap, &states, revision) {
            Ok(next_snapshot) => {
                self.install(next_snapshot);
                // Nobody listening is not an error.
                let _ = self.events.send(Arc::new(records));
            }
            Err(e) => {
                // A bug: the rules resolved against the same collections
                // before. The edit is stored; the snapshot stays behind
                // the store, so the next batch finds it `Behind`, catches
                // up from the change log (sending these events) and is
                // validated again: no stale If-Match can win meanwhile.
                tracing::error!(error = %e, revision, "cannot build the snapshot after a commit");
            }
        }
        tracing::info!(
            revision,
            requests = accepted.len(),
            changes = changes.len(),
            commit_ms = committed_ms,
            total_ms = started.elapsed().as_secs_f64() * 1e3,
            "committed"
        );
        for (p, results, _) in accepted {
            let _ = p.reply.send(Ok(Applied {
                revision,
                features: results,
            }));
        }
        None
    }
}

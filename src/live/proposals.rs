//! Proposals: named sets of changes drafted beside the record. A proposal
//! copies nothing; its view is the current snapshot with its changes
//! applied through the same `Catalog::with_changes` an edit uses (kept for
//! a few proposals, rebuilt when the record or the proposal moves on).
//! Its features carry revisions of their own (`PROPOSAL_REVISIONS` + the
//! save that wrote them), so If-Match inside a proposal names the feature
//! as it stands there. Saves and adoption go through the writer lock;
//! adoption commits every change as one revision of the record, in the
//! same store transaction that marks the proposal adopted, unless the
//! record changed one of the same features since the proposal took it.
//!
//! Must not: know about HTTP.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;

use super::Live;
use crate::catalog::{Catalog, Changes};
use crate::edit::{prepare, validate, Applied, Edit, EditError, Overlay};
use crate::model::Feature;
use crate::store::proposal::{ProposalMeta, ProposalRow, ProposalStatus};
use crate::store::{Change, ChangeRecord, Store, StoreError};

/// Revisions of features saved in a proposal start here (far above any
/// record revision), so their ETags never name a record's version.
pub const PROPOSAL_REVISIONS: u64 = 1 << 40;
/// Proposal views kept (each shares all it can with the current snapshot).
const VIEWS: usize = 8;
/// Times a save is tried again after another server saved first.
const SAVE_ROUNDS: usize = 8;

/// Why a proposal request could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ProposalError {
    #[error("no proposal {0:?}")]
    NotFound(String),
    #[error("proposal {id:?} is {status}; only an open proposal can be changed")]
    Closed { id: String, status: &'static str },
    /// The record changed features the proposal changes too.
    #[error("the record changed {} feature(s) this proposal changes too since it took them: {}; rebase them (POST .../rebase) first", .0.len(), .0.iter().map(|c| format!("{}/{}", c.collection, c.id)).collect::<Vec<_>>().join(", "))]
    Conflict(Vec<Conflict>),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Edit(#[from] EditError),
    #[error("{0}")]
    NoProposals(String),
    #[error(transparent)]
    Store(StoreError),
}

/// A feature both the record and a proposal changed since it took it.
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    pub collection: String,
    pub id: String,
    /// The record's revision of the feature when the proposal took it (0:
    /// it did not exist).
    pub proposal_from: u64,
    /// The record's revision of it now (`None`: the record deleted it).
    pub record_revision: Option<u64>,
}

/// Which side a rebase keeps for one feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The record's current feature: the proposal drops its change.
    Record,
    /// The proposal's feature, now over the record's current one.
    Proposal,
}

/// One feature a proposal changes, as it stands in the proposal.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `None`: the proposal deletes it.
    pub state: Option<Arc<Feature>>,
    pub from_revision: u64,
}

/// Per (collection, feature id), what the proposal makes of it.
pub type State = BTreeMap<(String, String), Entry>;

/// What this server knows of the proposals: every description and every
/// row read so far.
#[derive(Default)]
pub(super) struct Book {
    metas: BTreeMap<String, ProposalMeta>,
    rows: HashMap<String, Vec<ProposalRow>>,
    /// The last row position read.
    seen: u64,
}

/// Proposal views: (proposal, its version, the record's revision, view).
pub(super) type Views = Vec<(String, u64, u64, Arc<Catalog>)>;

impl Live {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.proposals.lock().unwrap_or_else(|p| {
            self.proposals.clear_poison();
            p.into_inner()
        })
    }

    /// Read what the store holds of proposals since the last read (every
    /// description, the new rows).
    pub(super) fn refresh_proposals_locked(&self, store: &mut dyn Store) -> Result<(), StoreError> {
        let seen = self.book().seen;
        let Some((metas, rows)) = store.proposals_since(seen)? else {
            return Ok(());
        };
        let mut book = self.book();
        book.metas = metas.into_iter().map(|m| (m.id.clone(), m)).collect();
        for r in rows {
            book.seen = book.seen.max(r.seq);
            let list = book.rows.entry(r.proposal.clone()).or_default();
            // A proposal's saves are serialised, so its rows come in
            // position order: one at or before its last is known already
            // (this server's own save, kept at once).
            if list.last().is_some_and(|last| last.seq >= r.seq) {
                continue;
            }
            list.push(r);
        }
        Ok(())
    }

    /// Every proposal, oldest first, with how many features each changes.
    pub fn proposal_list(&self) -> Result<Vec<(ProposalMeta, usize)>, ProposalError> {
        self.require_proposals()?;
        let book = self.book();
        Ok(book
            .metas
            .values()
            .map(|m| (m.clone(), changed_count(book.rows.get(&m.id))))
            .collect())
    }

    /// One proposal's description and how many features it changes.
    pub fn proposal(&self, id: &str) -> Result<(ProposalMeta, usize), ProposalError> {
        self.require_proposals()?;
        let book = self.book();
        let meta = book
            .metas
            .get(id)
            .cloned()
            .ok_or_else(|| ProposalError::NotFound(id.to_owned()))?;
        Ok((meta, changed_count(book.rows.get(id))))
    }

    /// A proposal's change log, oldest first.
    pub fn proposal_rows(&self, id: &str) -> Result<Vec<ProposalRow>, ProposalError> {
        self.proposal(id)?;
        Ok(self.book().rows.get(id).cloned().unwrap_or_default())
    }

    /// The proposal that a record revision adopted, if one did.
    pub fn adopted_by(&self, revision: u64) -> Option<String> {
        self.book()
            .metas
            .values()
            .find(|m| m.adopted_revision == Some(revision))
            .map(|m| m.id.clone())
    }

    /// Name the adopting proposal in change-log rows that have one.
    pub fn annotate(&self, records: &mut [ChangeRecord]) {
        let book = self.book();
        let adopted: HashMap<u64, &str> = book
            .metas
            .values()
            .filter_map(|m| Some((m.adopted_revision?, m.id.as_str())))
            .collect();
        for r in records {
            if let Some(p) = adopted.get(&r.revision) {
                r.proposal = Some((*p).to_owned());
            }
        }
    }

    /// An error saying so when the store keeps no proposals (a data folder
    /// or a read-only file).
    pub fn require_proposals(&self) -> Result<(), ProposalError> {
        match self.writable && self.history.is_some() {
            true => Ok(()),
            false => Err(ProposalError::NoProposals(format!(
                "{} keeps no proposals (a data folder or a read-only file); serve a store (--store FILE.gpkg)",
                self.description
            ))),
        }
    }

    /// What a proposal makes of each feature it changes (at its latest
    /// version, or at `upto` when given: the rows that far).
    pub fn proposal_state(
        &self,
        id: &str,
        snap: &Catalog,
        upto: Option<&dyn Fn(&ProposalRow) -> bool>,
    ) -> Result<(ProposalMeta, State), ProposalError> {
        let (meta, _) = self.proposal(id)?;
        let rows = self.book().rows.get(id).cloned().unwrap_or_default();
        let mut last: BTreeMap<(String, String), &ProposalRow> = BTreeMap::new();
        for r in rows.iter().filter(|r| upto.is_none_or(|f| f(r))) {
            last.insert((r.collection.clone(), r.feature_id.clone()), r);
        }
        let mut state = State::new();
        for (key, r) in last {
            if r.op == "revert" {
                continue;
            }
            let feature = match &r.feature {
                None => None,
                Some(text) => {
                    let Some(layer) = snap.layer(&r.collection) else {
                        tracing::warn!(proposal = id, layer = %r.collection, "a proposal's change to a layer this server does not serve");
                        continue;
                    };
                    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
                        ProposalError::Store(StoreError::Corrupt {
                            path: self.description.clone(),
                            message: format!("proposal {id}: {}/{}: {e}", key.0, key.1),
                        })
                    })?;
                    let mut f = crate::load::feature_from_geojson(&json, &layer.layer.meta)
                        .map_err(|e| {
                            ProposalError::Store(StoreError::Corrupt {
                                path: self.description.clone(),
                                message: format!(
                                    "proposal {id}: {}/{}: {}",
                                    key.0,
                                    key.1,
                                    e.join("; ")
                                ),
                            })
                        })?;
                    f.revision = PROPOSAL_REVISIONS + r.version;
                    Some(Arc::new(f))
                }
            };
            state.insert(
                key,
                Entry {
                    state: feature,
                    from_revision: r.from_revision,
                },
            );
        }
        Ok((meta, state))
    }

    /// The data as the proposal makes it: the current snapshot with the
    /// proposal's changes (kept for the next request at the same versions).
    pub fn proposal_view(&self, id: &str) -> Result<(Arc<Catalog>, ProposalMeta), ProposalError> {
        if let Some(hit) = self.proposal_view_cached(id) {
            return Ok(hit);
        }
        let snap = self.snapshot();
        let (meta, state) = self.proposal_state(id, &snap, None)?;
        let view = Arc::new(view_of(&snap, id, meta.version, &state).map_err(|e| {
            ProposalError::Invalid(format!(
                "proposal {id} over revision {}: {e}",
                snap.revision
            ))
        })?);
        if let Ok(mut views) = self.proposal_views.lock() {
            views.retain(|(p, _, _, _)| p != id);
            if views.len() >= VIEWS {
                views.remove(0);
            }
            views.push((
                id.to_owned(),
                meta.version,
                snap.revision,
                Arc::clone(&view),
            ));
        }
        Ok((view, meta))
    }

    /// The proposal's view when one is kept for its current version over
    /// the current revision: no counting, no building (every read inside
    /// a proposal asks this first, on the async worker).
    pub fn proposal_view_cached(&self, id: &str) -> Option<(Arc<Catalog>, ProposalMeta)> {
        let revision = self.snapshot().revision;
        let meta = self.book().metas.get(id)?.clone();
        let views = self.proposal_views.lock().ok()?;
        views
            .iter()
            .find(|(p, ver, rev, _)| p == id && *ver == meta.version && *rev == revision)
            .map(|(_, _, _, v)| (Arc::clone(v), meta))
    }

    /// A past view of a proposal: the record as of `at` with the proposal's
    /// rows saved by then (`asof` inside a proposal).
    pub fn proposal_as_of(
        &self,
        id: &str,
        at: &Catalog,
        time: &str,
    ) -> Result<Arc<Catalog>, ProposalError> {
        let upto = |r: &ProposalRow| r.time.as_str() <= time;
        let (_, state) = self.proposal_state(id, at, Some(&upto))?;
        let version = self
            .book()
            .rows
            .get(id)
            .and_then(|rows| rows.iter().filter(|r| upto(r)).map(|r| r.version).max())
            .unwrap_or(0);
        view_of(at, id, version, &state)
            .map(Arc::new)
            .map_err(|e| ProposalError::Invalid(format!("proposal {id} as of {time}: {e}")))
    }

    /// Open a new proposal over the record's current revision.
    pub fn create_proposal(
        &self,
        title: &str,
        description: &str,
        who: &str,
    ) -> Result<ProposalMeta, ProposalError> {
        self.require_proposals()?;
        let now = crate::clock::format(crate::clock::now());
        let mut store = self.lock_writer();
        let meta = ProposalMeta {
            id: crate::ids::new_id("p"),
            title: title.to_owned(),
            description: description.to_owned(),
            author: who.to_owned(),
            base: self.snapshot().revision,
            status: ProposalStatus::Open,
            created: now.clone(),
            updated: now,
            version: 0,
            adopted_revision: None,
        };
        store
            .save_proposal(&meta, None, &[])
            .map_err(ProposalError::Store)?;
        self.book().metas.insert(meta.id.clone(), meta.clone());
        Ok(meta)
    }

    /// Save a new version of an open proposal: `change` makes its new
    /// description and rows from the current one (under the writer lock,
    /// after reading what other servers saved; tried again when one saved
    /// meanwhile). The description and rows saved.
    fn save<T>(
        &self,
        id: &str,
        who: &str,
        mut change: impl FnMut(&ProposalMeta, u64) -> Result<(Vec<ProposalRow>, T), ProposalError>,
        status: Option<ProposalStatus>,
        rename: Option<(&str, &str)>,
    ) -> Result<(ProposalMeta, T), ProposalError> {
        self.require_proposals()?;
        let mut store = self.lock_writer();
        for _ in 0..SAVE_ROUNDS {
            self.refresh_proposals_locked(&mut **store)
                .map_err(ProposalError::Store)?;
            let (meta, _) = self.proposal(id)?;
            if meta.status != ProposalStatus::Open {
                return Err(ProposalError::Closed {
                    id: id.to_owned(),
                    status: meta.status.name(),
                });
            }
            let next = meta.version + 1;
            let (mut rows, out) = change(&meta, next)?;
            let now = crate::clock::format(crate::clock::now());
            let mut saved = meta.clone();
            saved.version = next;
            saved.updated = now.clone();
            if let Some(s) = status {
                saved.status = s;
            }
            if let Some((t, d)) = rename {
                saved.title = t.to_owned();
                saved.description = d.to_owned();
            }
            for r in &mut rows {
                r.proposal = id.to_owned();
                r.version = next;
                r.time = now.clone();
                r.who = who.to_owned();
            }
            match store.save_proposal(&saved, Some(meta.version), &rows) {
                Ok(seqs) => {
                    let mut book = self.book();
                    // Kept at once, but `seen` stays: another server's save
                    // may hold an earlier position this one has not read.
                    for (r, seq) in rows.iter_mut().zip(seqs) {
                        r.seq = seq;
                    }
                    book.rows.entry(id.to_owned()).or_default().extend(rows);
                    book.metas.insert(id.to_owned(), saved.clone());
                    return Ok((saved, out));
                }
                Err(StoreError::Behind(_)) => continue,
                Err(e) => return Err(ProposalError::Store(e)),
            }
        }
        Err(ProposalError::Store(StoreError::Unavailable(
            "other servers kept saving this proposal; nothing was changed, try again".into(),
        )))
    }

    /// Rename a proposal or change its description.
    pub fn describe_proposal(
        &self,
        id: &str,
        title: &str,
        description: &str,
        who: &str,
    ) -> Result<ProposalMeta, ProposalError> {
        self.save(
            id,
            who,
            |_, _| Ok((vec![], ())),
            None,
            Some((title, description)),
        )
        .map(|(m, ())| m)
    }

    /// Close a proposal without adopting it (it stays readable).
    pub fn withdraw_proposal(&self, id: &str, who: &str) -> Result<ProposalMeta, ProposalError> {
        self.save(
            id,
            who,
            |_, _| Ok((vec![], ())),
            Some(ProposalStatus::Withdrawn),
            None,
        )
        .map(|(m, ())| m)
    }

    /// Apply one request's edits to a proposal (all or none), checked as
    /// an edit of the record is, against the proposal's view. The record
    /// is untouched.
    pub fn submit_to_proposal(
        &self,
        id: &str,
        edits: Vec<Edit>,
        who: &str,
    ) -> Result<Applied, ProposalError> {
        let prepared = prepare(&self.snapshot(), edits)?;
        let (_, applied) = self.save(
            id,
            who,
            |_, next| {
                let record = self.snapshot();
                let (view, _) = self.proposal_view(id)?;
                let (_, state) = self.proposal_state(id, &record, None)?;
                let mut mine = Overlay::new();
                let (results, changes) = validate(
                    &view,
                    &Overlay::new(),
                    &mut mine,
                    &prepared,
                    PROPOSAL_REVISIONS + next,
                )?;
                let rows = changes.iter().map(|c| row_of(c, &record, &state)).collect();
                Ok((
                    rows,
                    Applied {
                        revision: record.revision,
                        features: results,
                    },
                ))
            },
            None,
            None,
        )?;
        Ok(applied)
    }

    /// The features whose record changed since the proposal took them.
    pub fn proposal_conflicts(&self, snap: &Catalog, state: &State) -> Vec<Conflict> {
        state
            .iter()
            .filter_map(|((layer, id), e)| {
                let now = record_revision(snap, layer, id);
                (now.unwrap_or(0) != e.from_revision).then(|| Conflict {
                    collection: layer.clone(),
                    id: id.clone(),
                    proposal_from: e.from_revision,
                    record_revision: now,
                })
            })
            .collect()
    }

    /// Settle conflicts feature by feature: keep the record's feature (the
    /// proposal drops its change) or the proposal's (now over the record's
    /// current one). `choices` name features the proposal changes.
    pub fn rebase_proposal(
        &self,
        id: &str,
        choices: &[(String, String, Keep)],
        who: &str,
    ) -> Result<ProposalMeta, ProposalError> {
        self.save(
            id,
            who,
            |_, _| {
                let record = self.snapshot();
                let (_, state) = self.proposal_state(id, &record, None)?;
                let mut rows = Vec::new();
                for (layer, fid, keep) in choices {
                    let key = (layer.clone(), fid.clone());
                    let Some(e) = state.get(&key) else {
                        return Err(ProposalError::Invalid(format!(
                            "proposal {id} does not change {layer}/{fid}"
                        )));
                    };
                    let now = record_revision(&record, layer, fid).unwrap_or(0);
                    let (op, feature) = match (keep, &e.state) {
                        (Keep::Record, _) => ("revert", None),
                        (Keep::Proposal, Some(f)) => {
                            ("rebase", Some(crate::store::feature_json(f)))
                        }
                        (Keep::Proposal, None) => ("delete", None),
                    };
                    rows.push(new_row(op, layer, fid, feature, now));
                }
                Ok((rows, ()))
            },
            None,
            None,
        )
        .map(|(m, ())| m)
    }

    /// Adopt a proposal: every change it makes, committed to the record as
    /// one revision (durable before this returns), the proposal marked
    /// adopted in the same transaction; `Conflict` when the record changed
    /// one of its features since it took them. The record's new revision.
    pub fn adopt_proposal(
        &self,
        id: &str,
        who: &str,
    ) -> Result<(ProposalMeta, u64), ProposalError> {
        self.require_proposals()?;
        let mut store = self.lock_writer();
        for _ in 0..SAVE_ROUNDS {
            self.catch_up_locked(&mut **store)
                .map_err(ProposalError::Store)?;
            let snap = self.snapshot();
            let (meta, state) = self.proposal_state(id, &snap, None)?;
            if meta.status != ProposalStatus::Open {
                return Err(ProposalError::Closed {
                    id: id.to_owned(),
                    status: meta.status.name(),
                });
            }
            let conflicts = self.proposal_conflicts(&snap, &state);
            if !conflicts.is_empty() {
                return Err(ProposalError::Conflict(conflicts));
            }
            let mut changes: Vec<(String, Change)> = Vec::new();
            for ((layer, fid), e) in &state {
                let present = snap.feature_index(layer, fid).is_some();
                let change = match &e.state {
                    Some(f) => {
                        let feature = (**f).clone();
                        match present {
                            true => Change::Replace {
                                layer: layer.clone(),
                                feature,
                            },
                            false => Change::Create {
                                layer: layer.clone(),
                                feature,
                            },
                        }
                    }
                    None if present => {
                        let l = snap.layer(layer).expect("present above");
                        let i = snap.feature_index(layer, fid).expect("present above");
                        Change::Delete {
                            layer: layer.clone(),
                            id: fid.clone(),
                            numeric: l.layer.features[i].numeric_id,
                        }
                    }
                    None => continue,
                };
                changes.push((who.to_owned(), change));
            }
            let now = crate::clock::format(crate::clock::now());
            let mut adopted = meta.clone();
            adopted.status = ProposalStatus::Adopted;
            adopted.version = meta.version + 1;
            adopted.updated = now;
            let committed = store.adopt(snap.revision, &changes, &adopted, meta.version);
            let mut committed = match committed {
                Ok(c) => c,
                Err(StoreError::Behind(_)) => continue,
                Err(e) => {
                    self.set_write_failure(Some(e.to_string()));
                    return Err(ProposalError::Store(e));
                }
            };
            self.set_write_failure(None);
            let revision = committed.revision;
            adopted.adopted_revision = Some(revision);
            let mut states = Changes::new();
            for ((layer, fid), e) in state {
                let f = e.state.map(|f| {
                    let mut f = (*f).clone();
                    f.revision = revision;
                    Arc::new(f)
                });
                states.entry(layer).or_default().insert(fid, f);
            }
            self.book().metas.insert(id.to_owned(), adopted.clone());
            match snap.with_changes(&states, revision, revision) {
                Ok(next) => {
                    self.install(next);
                    for r in &mut committed.records {
                        r.proposal = Some(id.to_owned());
                    }
                    let _ = self.events.send(Arc::new(committed.records));
                }
                Err(e) => {
                    // As in `writer`: stored; the next batch catches up.
                    tracing::error!(error = %e, revision, "cannot build the snapshot after adopting a proposal");
                }
            }
            tracing::info!(
                proposal = id,
                revision,
                changes = changes.len(),
                "adopted a proposal"
            );
            return Ok((adopted, revision));
        }
        Err(ProposalError::Store(StoreError::Unavailable(
            "other writers kept the store busy; nothing was adopted, try again".into(),
        )))
    }
}

/// How many features a proposal's rows leave changed.
fn changed_count(rows: Option<&Vec<ProposalRow>>) -> usize {
    let mut last: HashMap<(&str, &str), &str> = HashMap::new();
    for r in rows.into_iter().flatten() {
        last.insert((&r.collection, &r.feature_id), &r.op);
    }
    last.values().filter(|op| **op != "revert").count()
}

/// The record's revision of a feature (`None`: it has none).
fn record_revision(snap: &Catalog, layer: &str, id: &str) -> Option<u64> {
    let l = snap.layer(layer)?;
    snap.feature_index(layer, id)
        .map(|i| l.layer.features[i].revision)
}

fn new_row(op: &str, layer: &str, id: &str, feature: Option<String>, from: u64) -> ProposalRow {
    ProposalRow {
        seq: 0,
        proposal: String::new(),
        version: 0,
        time: String::new(),
        who: String::new(),
        op: op.to_owned(),
        collection: layer.to_owned(),
        feature_id: id.to_owned(),
        feature,
        from_revision: from,
    }
}

/// A proposal's row for one validated change: what the record had of the
/// feature when the proposal first took it stays its starting point.
fn row_of(c: &Change, record: &Catalog, state: &State) -> ProposalRow {
    let layer = c.layer();
    let (op, id, feature) = match c {
        Change::Create { feature, .. } => ("create", feature.id.clone(), Some(feature)),
        Change::Replace { feature, .. } => ("replace", feature.id.clone(), Some(feature)),
        Change::Update { feature, .. } => ("update", feature.id.clone(), Some(feature)),
        Change::Delete { id, .. } => ("delete", id.clone(), None),
        Change::AddLayer { meta } => ("create", meta.id.clone(), None),
    };
    let from = match state.get(&(layer.to_owned(), id.clone())) {
        Some(e) => e.from_revision,
        None => record_revision(record, layer, &id).unwrap_or(0),
    };
    new_row(
        op,
        layer,
        &id,
        feature.map(crate::store::feature_json),
        from,
    )
}

/// `snap` with a proposal's changes, under a version of its own (ETags of
/// collections differ from the record's).
fn view_of(
    snap: &Catalog,
    id: &str,
    version: u64,
    state: &State,
) -> Result<Catalog, crate::catalog::CatalogError> {
    let mut changes = Changes::new();
    for ((layer, fid), e) in state {
        changes
            .entry(layer.clone())
            .or_default()
            .insert(fid.clone(), e.state.clone());
    }
    // FNV-1a of the proposal's id, mixed with its version and the record's.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let tag = (h ^ version.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ snap.version.rotate_left(17))
        | (1 << 63);
    snap.with_changes(&changes, tag, snap.revision)
}

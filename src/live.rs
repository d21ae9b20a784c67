//! The one live seat: the current snapshot (`Catalog`), the store, and the
//! single writer.
//!
//! Readers call `snapshot()` (a lock-free `ArcSwap` load) and keep that
//! `Arc` for the whole request, so they never block and never see half an
//! edit. Writers call `submit(edits)`: edits queue up, and whoever holds the
//! writer lock takes the whole queue as one batch — validate each request
//! against the current snapshot (all-or-nothing per request), commit the
//! batch in one durable store transaction, build the next snapshot
//! (re-indexing only the layers it touched), swap it in, then answer every
//! request of the batch. Concurrent writers thus share one fsync.
//!
//! Must not: know about HTTP (errors are `EditError`, the API maps them).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::catalog::Catalog;
use crate::model::{Feature, Layer};
use crate::store::{Change, ChangeRecord, History, Role, Store, StoreError, TokenRecord};

mod follow;

/// One requested edit of one feature (from a client, not yet validated).
#[derive(Debug, Clone)]
pub enum Edit {
    /// Create a feature from a GeoJSON Feature (its id, if any, is used).
    Create { layer: String, feature: Value },
    /// Replace a feature wholesale; `if_match` is the revision the client saw.
    Replace {
        layer: String,
        id: String,
        feature: Value,
        if_match: u64,
    },
    /// Apply a JSON Merge Patch (RFC 7396) to the feature object.
    Patch {
        layer: String,
        id: String,
        patch: Value,
        if_match: u64,
    },
    /// Delete a feature.
    Delete {
        layer: String,
        id: String,
        if_match: u64,
    },
}

/// Why an edit was refused; nothing of the request was stored.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EditError {
    #[error("no collection {0:?}")]
    NoCollection(String),
    #[error("collection {0:?} has no feature {1:?}")]
    NoFeature(String, String),
    #[error("collection {0:?} already has a feature {1:?}")]
    IdInUse(String, String),
    /// The client's version is not the current one.
    #[error("feature {id:?} changed since you read it (your version {yours}, current {current})")]
    Stale {
        id: String,
        yours: u64,
        current: u64,
    },
    /// The feature breaks the layer's rules; one line per problem.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
    /// The store takes no writes (a data folder, a read-only file).
    #[error("{0}")]
    ReadOnly(String),
    /// The store could not commit (busy, full, failing); retry later.
    #[error("{0}")]
    Unavailable(String),
}

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

/// Commits an event stream may fall behind before it must re-read the log.
const EVENT_BACKLOG: usize = 1024;
/// Past snapshots kept (each shares all it can with the current one).
const PAST_SNAPSHOTS: usize = 4;
/// Times a batch is validated again after finding the store ahead.
const BEHIND_ROUNDS: usize = 8;
/// Resolved `asof` instants kept.
const ASOF_NAMES: usize = 1024;

/// What a successful request changed: the new revision and, per edit, the
/// feature as stored (`None` for a delete).
#[derive(Debug, Clone)]
pub struct Applied {
    pub revision: u64,
    pub features: Results,
}

/// Per edit, the feature id and the feature as stored (`None`: deleted).
type Results = Vec<(String, Option<Feature>)>;

/// Per layer, feature id -> its state after some edits (`None`: deleted).
type Overlay = HashMap<String, HashMap<String, Option<Feature>>>;

struct Pending {
    edits: Vec<Edit>,
    who: String,
    reply: std::sync::mpsc::SyncSender<Result<Applied, EditError>>,
}

/// Tokens read from the store, refreshed at most once a second so that a
/// `zoneatlas token add` takes effect without a restart.
struct TokenCache {
    read_at: Option<Instant>,
    tokens: Vec<TokenRecord>,
}

/// The live seat.
pub struct Live {
    current: ArcSwap<Catalog>,
    writer: Mutex<Box<dyn Store>>,
    queue: Mutex<Vec<Pending>>,
    /// Snapshots replaced by an edit and maybe still read: kept here so the
    /// last reference is dropped on the writer thread (the next batch), not
    /// on a reader's, which would pay for freeing them mid-request.
    retired: Mutex<Vec<Arc<Catalog>>>,
    tokens: Mutex<TokenCache>,
    /// The change log's reader (`None`: the store keeps no history).
    history: Option<Mutex<Box<dyn History>>>,
    /// Snapshots as of past revisions, most recently used last.
    past: Mutex<Vec<Arc<Catalog>>>,
    /// `asof` instants already resolved to a revision before the latest
    /// (which later commits cannot change).
    asof_names: Mutex<HashMap<String, u64>>,
    /// Each commit's change-log rows, for live event streams.
    events: tokio::sync::broadcast::Sender<Arc<Vec<ChangeRecord>>>,
    editable: bool,
    writable: bool,
    description: String,
    /// Why the store is out of reach, while it is (see `follow`).
    degraded: Mutex<Option<String>>,
}

/// SHA-256 of a token's secret, as stored.
pub fn token_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// The token with this hash, comparing against every token so the time
/// taken says nothing of which one (if any) matched.
fn find_token(tokens: &[TokenRecord], hash: &[u8; 32]) -> Option<(String, Role)> {
    let mut found = None;
    for t in tokens {
        if constant_time_eq(&t.hash, hash) {
            found = Some((t.name.clone(), t.role));
        }
    }
    found
}

/// Equality that takes the same time wherever the first difference is.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Live {
    /// Load the store and build the first snapshot.
    pub fn open(mut store: Box<dyn Store>) -> Result<Live, StoreError> {
        let data = store.load()?;
        let tokens = store.tokens()?;
        let history = store.history()?.map(Mutex::new);
        let catalog = Catalog::build(
            data.manifest,
            data.layers,
            data.rules,
            data.version,
            data.revision,
        )
        .map_err(|message| StoreError::Corrupt {
            path: store.describe(),
            message: format!("coverage rules: {message}"),
        })?;
        Ok(Live {
            current: ArcSwap::from_pointee(catalog),
            editable: store.editable(),
            writable: store.writable(),
            description: store.describe(),
            writer: Mutex::new(store),
            queue: Mutex::new(Vec::new()),
            retired: Mutex::new(Vec::new()),
            history,
            past: Mutex::new(Vec::new()),
            asof_names: Mutex::new(HashMap::new()),
            events: tokio::sync::broadcast::channel(EVENT_BACKLOG).0,
            degraded: Mutex::new(None),
            tokens: Mutex::new(TokenCache {
                read_at: Some(Instant::now()),
                tokens,
            }),
        })
    }

    /// The current snapshot; keep it for the whole request.
    pub fn snapshot(&self) -> Arc<Catalog> {
        self.current.load_full()
    }

    /// Whether the store takes edits at all (a data folder does not).
    pub fn editable(&self) -> bool {
        self.editable
    }

    /// What is being served, for logs.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The name and role of the token with this secret, if any. Tokens are
    /// re-read from the store at least once a second (so a revocation takes
    /// effect within a second), and on an unknown secret (so a token just
    /// added works at once; the read is a small indexed table, and skipped
    /// while the writer is busy).
    pub fn authenticate(&self, secret: &str) -> Option<(String, Role)> {
        self.check_token(secret).ok().flatten()
    }

    /// `authenticate`, telling an unknown token from one that could not be
    /// checked: an error when the secret is not among the cached tokens and
    /// the store cannot be read (a database out of reach).
    pub fn check_token(&self, secret: &str) -> Result<Option<(String, Role)>, StoreError> {
        let hash = token_hash(secret);
        let mut cache = self
            .tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let age = cache.read_at.map_or(Duration::MAX, |t| t.elapsed());
        let mut found = find_token(&cache.tokens, &hash);
        let refresh = age > Duration::from_secs(1) || found.is_none();
        if refresh {
            // Never wait for the writer (it may be in an fsync, or a
            // follower's catch-up): a known secret is served from the cache
            // a little longer; an unknown one is answered "cannot check
            // now" (503, retry) rather than "invalid".
            let store = self.writer.try_lock().ok();
            match store.map(|mut s| s.tokens()) {
                Some(Ok(t)) => {
                    cache.tokens = t;
                    cache.read_at = Some(Instant::now());
                    found = find_token(&cache.tokens, &hash);
                }
                Some(Err(e)) if found.is_none() => return Err(e),
                Some(Err(e)) => tracing::warn!(error = %e, "cannot read the access tokens"),
                None if found.is_none() => {
                    return Err(StoreError::Unavailable(
                        "the store is busy and this token is not among those already read".into(),
                    ))
                }
                None => {}
            }
        }
        Ok(found)
    }

    /// Listen to commits: each message is one revision's change-log rows,
    /// sent after its snapshot is served. A receiver that falls more than
    /// `EVENT_BACKLOG` commits behind gets `Lagged` and must catch up from
    /// the log.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Vec<ChangeRecord>>> {
        self.events.subscribe()
    }

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
        let mut by_layer: HashMap<&str, Vec<&crate::store::PastState>> = HashMap::new();
        for s in &states {
            by_layer.entry(&s.0).or_default().push(s);
        }
        let mut replaced = Vec::new();
        for (layer_id, changes) in by_layer {
            let Some(meta) = snap.layer(layer_id).map(|l| &l.layer.meta) else {
                continue;
            };
            let mut then: Vec<(&str, Option<Arc<Feature>>)> = Vec::with_capacity(changes.len());
            for (_, id, state) in changes {
                let f = match state {
                    None => None,
                    Some((rev, json)) => {
                        let mut f = crate::load::feature_from_geojson(json, meta).map_err(|e| {
                            HistoryError::Store(StoreError::Corrupt {
                                path: self.description.clone(),
                                message: format!(
                                    "{layer_id}/{id} at revision {rev}: {}",
                                    e.join("; ")
                                ),
                            })
                        })?;
                        f.revision = *rev;
                        Some(Arc::new(f))
                    }
                };
                then.push((id.as_str(), f));
            }
            replaced.extend(patched(&snap, layer_id, then));
        }
        let past = Arc::new(
            snap.with_layers(replaced, revision, revision)
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

    /// Apply one request's edits (all or none), batched with any others
    /// waiting. Blocking: call it off the async workers.
    pub fn submit(&self, edits: Vec<Edit>, who: &str) -> Result<Applied, EditError> {
        if !self.writable {
            return Err(EditError::ReadOnly(format!(
                "{} cannot be written by this server; nothing was changed",
                self.description
            )));
        }
        let (reply, answer) = std::sync::mpsc::sync_channel(1);
        self.queue
            .lock()
            .map_err(|_| EditError::Unavailable("the write queue is poisoned".into()))?
            .push(Pending {
                edits,
                who: who.to_owned(),
                reply,
            });
        // Leader and followers: whoever gets the writer lock applies
        // everything queued, batch after batch, until the queue is empty;
        // the others wait for their answer rather than queue on the lock
        // (which would split the next batch into ones). The timeout covers
        // a request queued just as the leader let go.
        loop {
            match answer.try_recv() {
                Ok(result) => return result,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    return Err(EditError::Unavailable("the writer stopped".into()))
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => {}
            }
            match self.writer.try_lock() {
                Ok(mut store) => loop {
                    let batch = match self.queue.lock() {
                        Ok(mut q) => std::mem::take(&mut *q),
                        Err(_) => {
                            return Err(EditError::Unavailable(
                                "the write queue is poisoned".into(),
                            ))
                        }
                    };
                    if batch.is_empty() {
                        break;
                    }
                    self.apply_batch(&mut **store, batch);
                },
                Err(std::sync::TryLockError::Poisoned(p)) => {
                    // A panic in an earlier batch: the store itself is
                    // consistent (SQLite rolled back); carry on.
                    drop(p.into_inner());
                    self.writer.clear_poison();
                }
                Err(std::sync::TryLockError::WouldBlock) => {
                    match answer.recv_timeout(Duration::from_millis(2)) {
                        Ok(result) => return result,
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                            return Err(EditError::Unavailable("the writer stopped".into()))
                        }
                    }
                }
            }
        }
    }

    /// Serve `next` from now on.
    fn install(&self, next: Catalog) {
        let old = self.current.swap(Arc::new(next));
        if let Ok(mut retired) = self.retired.lock() {
            // Free those no reader holds any more; keep the rest.
            retired.retain(|c| Arc::strong_count(c) > 1);
            retired.push(old);
        }
    }

    /// The store, waiting for the writer (a panic in an earlier batch left
    /// the store consistent: its transaction rolled back).
    fn lock_writer(&self) -> std::sync::MutexGuard<'_, Box<dyn Store>> {
        self.writer.lock().unwrap_or_else(|p| {
            self.writer.clear_poison();
            p.into_inner()
        })
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
        let committed = store.commit(&changes, None);
        let (revision, records) = match committed {
            Ok(c) => (c.revision, c.records),
            Err(StoreError::Behind(_)) => {
                return Some(accepted.into_iter().map(|(p, _, _)| p).collect());
            }
            Err(e) => {
                tracing::error!(error = %e, "commit failed; nothing of the batch was stored");
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
        // The next snapshot: changed layers rebuilt, the rest shared.
        let replaced: Vec<(usize, Layer)> = overlay
            .iter()
            .filter_map(|(layer_id, changes)| {
                patched(
                    &snap,
                    layer_id,
                    changes.iter().map(|(id, state)| {
                        (id.as_str(), state.as_ref().map(|f| Arc::new(f.clone())))
                    }),
                )
            })
            .collect();
        match snap.with_layers(replaced, revision, revision) {
            Ok(next_snapshot) => self.install(next_snapshot),
            Err(e) => {
                // The rules resolved against the same collections before;
                // this is a bug. The edit is stored and will be served after
                // a restart.
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
        // Nobody listening is not an error.
        let _ = self.events.send(Arc::new(records));
        for (p, results, _) in accepted {
            let _ = p.reply.send(Ok(Applied {
                revision,
                features: results,
            }));
        }
        None
    }
}

/// Layer `layer_id` of `snap` with `changes` applied (id → the feature's
/// new state, `None`: gone): replaced in place, deleted, or appended in id
/// order. Pointers, not features, are copied, so unchanged features stay
/// shared (and keep their place in the indexes). `None` for no such layer.
fn patched<'a>(
    snap: &Catalog,
    layer_id: &str,
    changes: impl IntoIterator<Item = (&'a str, Option<Arc<Feature>>)>,
) -> Option<(usize, Layer)> {
    let pos = snap.layer_position(layer_id)?;
    let old = &snap.layers[pos].layer;
    let mut features: Vec<Arc<Feature>> = old.features.clone();
    let mut gone = Vec::new();
    let mut created: Vec<Arc<Feature>> = Vec::new();
    // The layer's extent, grown by what is new; measured afresh only when a
    // feature that leaves or changes touched its edge (reading every
    // feature's box is most of an edit's cost on a million features).
    let mut extent = Some(old.extent);
    let grow = |extent: &mut Option<Option<geo::Rect>>, b: geo::Rect| {
        if let Some(e) = extent {
            *e = Some(e.map_or(b, |e| union(e, b)));
        }
    };
    for (id, state) in changes {
        let at = snap.feature_index(layer_id, id);
        if let (Some(p), Some(Some(e))) = (at, extent) {
            if on_edge(e, features[p].bbox) {
                extent = None;
            }
        }
        match (at, state) {
            (Some(p), Some(newer)) => {
                grow(&mut extent, newer.bbox);
                features[p] = newer;
            }
            (Some(p), None) => gone.push(p),
            (None, Some(newer)) => {
                grow(&mut extent, newer.bbox);
                created.push(newer);
            }
            (None, None) => {}
        }
    }
    if !gone.is_empty() {
        gone.sort_unstable();
        let mut k = 0;
        let mut i = 0;
        features.retain(|_| {
            let keep = gone.get(k) != Some(&i);
            if !keep {
                k += 1;
            }
            i += 1;
            keep
        });
    }
    created.sort_by(|a, b| a.id.cmp(&b.id));
    features.extend(created);
    let layer = match extent {
        Some(extent) if !features.is_empty() => Layer {
            meta: old.meta.clone(),
            features,
            extent,
        },
        _ => Layer::from_shared(old.meta.clone(), features),
    };
    Some((pos, layer))
}

fn union(a: geo::Rect, b: geo::Rect) -> geo::Rect {
    geo::Rect::new(
        geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
        geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
    )
}

/// Whether `b` (inside `extent`) reaches its edge: removing it may shrink it.
fn on_edge(extent: geo::Rect, b: geo::Rect) -> bool {
    b.min().x <= extent.min().x
        || b.min().y <= extent.min().y
        || b.max().x >= extent.max().x
        || b.max().y >= extent.max().y
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

/// A feature's id as GeoJSON has it: a number when it was given as one.
fn id_json(f: &Feature) -> Value {
    match f.id.parse::<serde_json::Number>() {
        Ok(n) if f.numeric_id => Value::Number(n),
        _ => Value::String(f.id.clone()),
    }
}

/// A feature as its GeoJSON object (for merge patches).
fn feature_value(f: &Feature) -> Value {
    serde_json::to_value(crate::encode::FeatureJson {
        feature: f,
        links: &[],
    })
    .unwrap_or(Value::Null)
}

/// RFC 7396: objects merge member by member, `null` removes, anything else
/// replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Validate one request's edits against the snapshot plus the batch so far,
/// recording their effect in `mine`.
fn validate(
    snap: &Catalog,
    batch: &Overlay,
    mine: &mut Overlay,
    edits: &[Edit],
    next: u64,
) -> Result<(Results, Vec<Change>), EditError> {
    let mut results = Vec::new();
    let mut changes = Vec::new();
    let mut problems = Vec::new();
    for (n, e) in edits.iter().enumerate() {
        let layer_id = match e {
            Edit::Create { layer, .. }
            | Edit::Replace { layer, .. }
            | Edit::Patch { layer, .. }
            | Edit::Delete { layer, .. } => layer.clone(),
        };
        let Some(layer) = snap.layer(&layer_id) else {
            return Err(EditError::NoCollection(layer_id));
        };
        let meta = &layer.layer.meta;
        // The feature as the client wants it, for creates and replaces.
        let (id_given, wanted, existing) = match e {
            Edit::Create { feature, .. } => {
                let id = match feature.get("id") {
                    Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                };
                if let Some(id) = &id {
                    if current(snap, batch, mine, &layer_id, id).is_some() {
                        return Err(EditError::IdInUse(layer_id, id.clone()));
                    }
                }
                (id, Some(feature.clone()), None)
            }
            Edit::Replace {
                id,
                feature,
                if_match,
                ..
            } => {
                let old = existing_at(snap, batch, mine, &layer_id, id, *if_match, next)?;
                let mut f = feature.clone();
                if let Value::Object(m) = &mut f {
                    m.insert("id".into(), id_json(old));
                }
                (Some(id.clone()), Some(f), Some(old.clone()))
            }
            Edit::Patch {
                id,
                patch,
                if_match,
                ..
            } => {
                let old = existing_at(snap, batch, mine, &layer_id, id, *if_match, next)?;
                let mut f = feature_value(old);
                merge_patch(&mut f, patch);
                if let Value::Object(m) = &mut f {
                    // The id is the URL's; a patch cannot move a feature.
                    m.insert("id".into(), id_json(old));
                }
                (Some(id.clone()), Some(f), Some(old.clone()))
            }
            Edit::Delete { id, if_match, .. } => {
                let old = existing_at(snap, batch, mine, &layer_id, id, *if_match, next)?;
                (Some(id.clone()), None, Some(old.clone()))
            }
        };
        let Some(mut wanted) = wanted else {
            // A delete.
            let old = existing.expect("a delete has the old feature");
            mine.entry(layer_id.clone())
                .or_default()
                .insert(old.id.clone(), None);
            changes.push(Change::Delete {
                layer: layer_id,
                id: old.id.clone(),
                numeric: old.numeric_id,
            });
            results.push((old.id, None));
            continue;
        };
        if let Value::Object(m) = &mut wanted {
            if id_given.is_none() {
                m.insert("id".into(), Value::String(new_id(&layer_id)));
            }
            m.entry("type").or_insert(Value::String("Feature".into()));
        }
        let feature = match crate::load::feature_from_geojson(&wanted, meta) {
            Ok(f) => f,
            Err(lines) => {
                let prefix = if edits.len() > 1 {
                    format!("feature {n}: ")
                } else {
                    String::new()
                };
                problems.extend(lines.into_iter().map(|l| format!("{prefix}{l}")));
                continue;
            }
        };
        if let Some(rules) = snap.coverage.as_ref().map(|c| &c.rules) {
            let prop = &rules.scenarios.status_property;
            if let Some(v) = feature.properties.get(prop) {
                let allowed: Vec<&String> = rules
                    .scenarios
                    .planned
                    .iter()
                    .chain(&rules.scenarios.current)
                    .collect();
                if !allowed
                    .iter()
                    .any(|a| crate::query::value_equals(Some(v), a))
                {
                    let mut names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
                    names.sort_unstable();
                    names.dedup();
                    problems.push(format!(
                        "property {prop:?} is {v}; allowed: {}",
                        names.join(", ")
                    ));
                    continue;
                }
            }
        }
        let mut stored = feature;
        stored.revision = next;
        mine.entry(layer_id.clone())
            .or_default()
            .insert(stored.id.clone(), Some(stored.clone()));
        results.push((stored.id.clone(), Some(stored.clone())));
        changes.push(if existing.is_some() {
            Change::Replace {
                layer: layer_id,
                feature: stored,
            }
        } else {
            Change::Create {
                layer: layer_id,
                feature: stored,
            }
        });
    }
    if !problems.is_empty() {
        return Err(EditError::Invalid(problems));
    }
    Ok((results, changes))
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

fn check_version(old: &Feature, id: &str, yours: u64, next: u64) -> Result<(), EditError> {
    // A feature changed earlier in this batch carries the batch's revision,
    // which no client can have seen yet.
    if old.revision != yours || old.revision == next {
        return Err(EditError::Stale {
            id: id.to_owned(),
            yours,
            current: old.revision,
        });
    }
    Ok(())
}

/// A fresh feature id: the collection and 12 random hex digits.
fn new_id(layer: &str) -> String {
    let mut bytes = [0u8; 6];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back to the clock, still unique enough
        // within a layer when combined with the id check.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes.copy_from_slice(&t.to_le_bytes()[..6]);
    }
    format!("{layer}-{}", crate::store::gpkg::hex(&bytes))
}

#[cfg(test)]
mod tests {
    use super::merge_patch;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_the_examples_of_rfc_7396_appendix_a() {
        // (target, patch, result) from RFC 7396, Appendix A.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (mut target, patch, want) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, want, "patch {patch}");
        }
    }
}

#[cfg(test)]
mod extent_tests {
    use super::{patched, Arc, Catalog, Feature};

    /// The extent kept incrementally equals the one measured afresh, over
    /// a walk of edits that grow it, shrink it (removing the features on
    /// its edges) and leave it alone.
    #[test]
    fn an_edited_layers_extent_equals_a_fresh_measure() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("geodata");
        let mut snap = Catalog::open(&dir).expect("sample loads");
        let mut seed = 7u64;
        for step in 0..200 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let layer = &snap.layer("roads").unwrap().layer;
            let n = layer.features.len();
            let pick = (seed >> 33) as usize % n;
            let f = &layer.features[pick];
            let change: (String, Option<Arc<Feature>>) = match step % 4 {
                // Delete the feature holding the western edge.
                0 => {
                    let west = layer
                        .features
                        .iter()
                        .min_by(|a, b| a.bbox.min().x.total_cmp(&b.bbox.min().x))
                        .unwrap();
                    (west.id.clone(), None)
                }
                // Move a feature by up to ±0.05°, in or out of the extent.
                1 | 2 => {
                    let dx = ((seed >> 20) % 1000) as f64 / 1e4 - 0.05;
                    let mut g = (**f).clone();
                    g.geometry = geo::MapCoords::map_coords(
                        &g.geometry,
                        |c| geo::coord! {x: c.x + dx, y: c.y - dx},
                    );
                    g.bbox = geo::BoundingRect::bounding_rect(&g.geometry).unwrap();
                    (g.id.clone(), Some(Arc::new(g)))
                }
                // A new copy far east.
                _ => {
                    let mut g = (**f).clone();
                    g.id = format!("NEW-{step}");
                    g.geometry = geo::MapCoords::map_coords(
                        &g.geometry,
                        |c| geo::coord! {x: c.x + 0.2, y: c.y},
                    );
                    g.bbox = geo::BoundingRect::bounding_rect(&g.geometry).unwrap();
                    (g.id.clone(), Some(Arc::new(g)))
                }
            };
            let (pos, layer) =
                patched(&snap, "roads", [(change.0.as_str(), change.1.clone())]).unwrap();
            let fresh =
                crate::model::Layer::from_shared(layer.meta.clone(), layer.features.clone());
            assert_eq!(layer.extent, fresh.extent, "step {step}");
            snap = snap
                .with_layers(vec![(pos, layer)], step + 1, step + 1)
                .unwrap();
        }
    }
}

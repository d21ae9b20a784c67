//! The one live seat: the current snapshot (`Catalog`), the store behind
//! the single writer, the access tokens, the change log's reader.
//!
//! Readers call `snapshot()` (a lock-free `ArcSwap` load) and keep that
//! `Arc` for the whole request, so they never block and never see half an
//! edit. The files beside this one: `writer` (edits batched into one
//! durable commit each), `past` (`asof` snapshots), `follow` (other
//! writers' commits applied from the change log), `proposals` (drafts
//! beside the record: their views, saves and adoption).
//!
//! Must not: know about HTTP (errors are `EditError` and `HistoryError`,
//! the API maps them).

mod follow;
mod left_out;
mod past;
mod proposals;
mod writer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::auth::{Role, Tokens};
use crate::catalog::Catalog;
use crate::store::{ChangeRecord, History, Store, StoreError};

pub use crate::edit::{Applied, Edit, EditError};
pub use past::HistoryError;
pub use proposals::{Conflict, Entry, Keep, ProposalError, State, PROPOSAL_REVISIONS};
use writer::Queue;

/// Commits an event stream may fall behind before it must re-read the log.
const EVENT_BACKLOG: usize = 1024;

/// The live seat.
pub struct Live {
    current: ArcSwap<Catalog>,
    writer: Mutex<Box<dyn Store>>,
    queue: Mutex<Queue>,
    /// Snapshots replaced by an edit and maybe still read: kept here so the
    /// last reference is dropped on the writer thread (the next batch), not
    /// on a reader's, which would pay for freeing them mid-request.
    retired: Mutex<Vec<Arc<Catalog>>>,
    tokens: Tokens,
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
    /// The last commit's failure (a full disk, a read-only file), until a
    /// commit succeeds: with the time it happened.
    write_failure: Mutex<Option<(String, String)>>,
    /// Stored features that break their layer's rules (see `left_out`).
    left_out: Mutex<left_out::Registry>,
    /// The proposals as read from the store (see `proposals`).
    proposals: Mutex<proposals::Book>,
    /// Proposal views recently read.
    proposal_views: Mutex<proposals::Views>,
    /// Tests only: the next snapshot after a commit fails to build, as a
    /// bug would make it (the edit is stored; the snapshot stays behind).
    #[cfg(test)]
    fail_next_snapshot: std::sync::atomic::AtomicBool,
}

impl Live {
    /// Load the store and build the first snapshot.
    pub fn open(mut store: Box<dyn Store>) -> Result<Live, StoreError> {
        let mut data = store.load()?;
        left_out::split_off(&mut data);
        let registry: left_out::Registry = data
            .left_out
            .iter()
            .map(|l| ((l.layer.clone(), l.id.clone()), l.clone()))
            .collect();
        let tokens = Tokens::new(store.tokens()?, store.token_reader()?);
        let history = store.history()?.map(Mutex::new);
        let catalog = Catalog::from_dataset(data).map_err(|e| StoreError::Corrupt {
            path: store.describe(),
            message: e.to_string(),
        })?;
        let live = Live {
            current: ArcSwap::from_pointee(catalog),
            editable: store.editable(),
            writable: store.writable(),
            description: store.describe(),
            writer: Mutex::new(store),
            queue: Mutex::new(Queue::default()),
            retired: Mutex::new(Vec::new()),
            tokens,
            history,
            past: Mutex::new(Vec::new()),
            asof_names: Mutex::new(HashMap::new()),
            events: tokio::sync::broadcast::channel(EVENT_BACKLOG).0,
            degraded: Mutex::new(None),
            write_failure: Mutex::new(None),
            left_out: Mutex::new(registry),
            proposals: Mutex::default(),
            proposal_views: Mutex::default(),
            #[cfg(test)]
            fail_next_snapshot: std::sync::atomic::AtomicBool::new(false),
        };
        {
            let mut store = live.lock_writer();
            live.refresh_proposals_locked(&mut **store)?;
        }
        Ok(live)
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

    /// The name and role of the token with this secret, if any (see
    /// `auth::Tokens::check`); never waits for the writer.
    pub fn check_token(&self, secret: &str) -> Result<Option<(String, Role)>, StoreError> {
        self.tokens.check(secret)
    }

    /// `check_token`, with a token that cannot be checked now taken as none.
    pub fn authenticate(&self, secret: &str) -> Option<(String, Role)> {
        self.check_token(secret).ok().flatten()
    }

    /// Listen to commits: each message is one revision's change-log rows,
    /// sent after its snapshot is served. A receiver that falls more than
    /// `EVENT_BACKLOG` commits behind gets `Lagged` and must catch up from
    /// the log.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Arc<Vec<ChangeRecord>>> {
        self.events.subscribe()
    }

    /// Serve `next` from now on: the only swap of the current snapshot.
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
}

#[cfg(test)]
mod tests;

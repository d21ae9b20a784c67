//! Where the data lives: a `Store` loads the whole dataset and commits
//! edits durably. Three implementations: a data folder (read-only, as
//! shipped in `geodata/`), a GeoPackage file (read-write, one server) and a
//! PostGIS database (read-write, any number of servers, edits from QGIS or
//! SQL too).
//!
//! The trait is synchronous and free of SQLite and PostgreSQL types.
//! `live::Live` is its only caller while serving.
//!
//! Must not: know about HTTP, indexes or coverage answers.

pub mod folder;
pub mod gpkg;
pub mod gpkg_source;
pub(crate) mod log;
pub mod open;
pub mod pg;
pub mod proposal;
pub mod replay;
pub mod wkb;

use crate::model::Feature;

pub use crate::model::Dataset;
pub use log::feature_json;
pub use open::{create, display_name, is_postgres, open_existing};

/// One change to one feature, already validated.
#[derive(Debug, Clone)]
pub enum Change {
    /// A new feature (its id is not in use).
    Create { layer: String, feature: Feature },
    /// The whole feature replaced (by PUT).
    Replace { layer: String, feature: Feature },
    /// The feature changed by a merge patch (PATCH): stored whole as
    /// `Replace` is, logged as an update.
    Update { layer: String, feature: Feature },
    /// The feature removed (`numeric`: its id was a JSON number).
    Delete {
        layer: String,
        id: String,
        numeric: bool,
    },
    /// A new, empty layer (an import's first step; a running server sees it
    /// after a restart).
    AddLayer { meta: crate::model::LayerMeta },
}

impl Change {
    /// The collection the change is in.
    pub fn layer(&self) -> &str {
        match self {
            Change::Create { layer, .. }
            | Change::Replace { layer, .. }
            | Change::Update { layer, .. }
            | Change::Delete { layer, .. } => layer,
            Change::AddLayer { meta } => &meta.id,
        }
    }
}

/// An access token's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Editor,
    Admin,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

/// A stored token: its name, role and the SHA-256 of its secret.
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub name: String,
    pub role: Role,
    pub hash: [u8; 32],
    pub created: String,
}

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot take writes (a data folder, a read-only file).
    #[error("the store is read-only: {0}")]
    ReadOnly(String),
    /// The database is busy, full, failing or out of reach; a write was
    /// not made.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The file holds something we cannot read.
    #[error("{path}: {message}")]
    Corrupt { path: String, message: String },
    /// Another server (or an SQL edit) committed since this one's snapshot;
    /// nothing was written. Catch up (`changes_since`) and try again.
    #[error("the store is at revision {0}, ahead of this server")]
    Behind(u64),
    /// The store cannot keep what one change asks (a property name its
    /// table cannot hold beside another); nothing was written. The
    /// client's fault, unlike `Unavailable`.
    #[error("{0}")]
    Refused(String),
    /// Loading a data folder failed.
    #[error(transparent)]
    Load(#[from] crate::load::LoadError),
}

/// A dataset's home. Implementations must make `commit` durable before it
/// returns `Ok`: a crash right after loses nothing it reported committed.
pub trait Store: Send {
    /// What the store is, for logs (`geodata/ (folder, read-only)`).
    fn describe(&self) -> String;
    /// Read the whole dataset.
    fn load(&mut self) -> Result<Dataset, StoreError>;
    /// Whether this kind of store takes edits at all (a data folder does not).
    fn editable(&self) -> bool;
    /// Whether `commit` can succeed now (false for a read-only file).
    fn writable(&self) -> bool;
    /// Apply `changes` (each with who made it) atomically as revision
    /// `base + 1`, recorded in the change log at `time` (now when `None`; a
    /// time before the latest commit's is taken as the latest's, so the log
    /// stays in time order). Either every change is stored or none is.
    /// `base` is the revision the changes were validated against: when the
    /// store is at any other (someone else committed since), nothing is
    /// written and the answer is `Behind` with the store's revision. The
    /// store keeps no revision counter of its own.
    fn commit(
        &mut self,
        base: u64,
        changes: &[(String, Change)],
        time: Option<crate::clock::Unix>,
    ) -> Result<Committed, StoreError>;
    /// The access tokens (empty for a folder: no writes, no private mode).
    fn tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError>;
    /// A reader of the access tokens on its own connection, so that a
    /// token check never waits for a commit; `None` for a store without
    /// tokens (a data folder).
    fn token_reader(&self) -> Result<Option<Box<dyn TokenReader>>, StoreError> {
        Ok(None)
    }
    /// A reader of the change log, on its own connection so that history
    /// queries never wait for a commit; `None` for a store without history
    /// (a data folder).
    fn history(&self) -> Result<Option<Box<dyn History>>, StoreError>;
    /// The store's latest revision and the change-log rows after
    /// `revision` (with their features), in log order: what others (other
    /// servers, QGIS, SQL) committed since a snapshot. `None` for a store
    /// without a change log (a data folder).
    fn changes_since(
        &mut self,
        _revision: u64,
    ) -> Result<Option<(u64, Vec<ChangeRecord>)>, StoreError> {
        Ok(None)
    }
    /// Add an access token (the caller holds the secret; the store keeps
    /// its hash).
    fn add_token(&mut self, _name: &str, _role: Role, _hash: &[u8; 32]) -> Result<(), StoreError> {
        Err(StoreError::ReadOnly(format!(
            "{} keeps no tokens; serve a store (--store FILE.gpkg)",
            self.describe()
        )))
    }
    /// Remove an access token by name; false when there was none.
    fn revoke_token(&mut self, _name: &str) -> Result<bool, StoreError> {
        Err(StoreError::ReadOnly(format!(
            "{} keeps no tokens; serve a store (--store FILE.gpkg)",
            self.describe()
        )))
    }
    /// Replace the coverage rules (checked by the caller against the
    /// layers); servers read them at start-up.
    fn set_rules(&mut self, _text: &str) -> Result<(), StoreError> {
        Err(StoreError::ReadOnly(format!(
            "{} keeps its rules in coverage.toml",
            self.describe()
        )))
    }
    /// What wakes a server when others commit, on its own connection
    /// (`None`: nobody else commits).
    fn follower(&self) -> Result<Option<Box<dyn Follower>>, StoreError> {
        Ok(None)
    }
    /// Every proposal's description and the proposals' change-log rows
    /// after position `after`; `None` for a store without proposals (a
    /// data folder).
    fn proposals_since(
        &mut self,
        _after: u64,
    ) -> Result<Option<proposal::ProposalsRead>, StoreError> {
        Ok(None)
    }
    /// Save a proposal durably: `meta` (new when `expected` is `None`, else
    /// written over the stored version `expected`; `Behind` with the stored
    /// version when another save came first) with its new `rows`, in one
    /// transaction. The rows' positions.
    fn save_proposal(
        &mut self,
        _meta: &proposal::ProposalMeta,
        _expected: Option<u64>,
        _rows: &[proposal::ProposalRow],
    ) -> Result<Vec<u64>, StoreError> {
        Err(StoreError::ReadOnly(format!(
            "{} keeps no proposals; serve a store (--store FILE.gpkg)",
            self.describe()
        )))
    }
    /// `commit`, with the adopted proposal's `meta` (over its stored
    /// version `expected`, its adopting revision set to the commit's) saved
    /// in the same transaction: the record and the proposal change
    /// together or not at all.
    fn adopt(
        &mut self,
        _base: u64,
        _changes: &[(String, Change)],
        _meta: &proposal::ProposalMeta,
        _expected: u64,
    ) -> Result<Committed, StoreError> {
        Err(StoreError::ReadOnly(format!(
            "{} keeps no proposals; serve a store (--store FILE.gpkg)",
            self.describe()
        )))
    }
}

/// Reads the access tokens (see `Store::token_reader`).
pub trait TokenReader: Send {
    fn tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError>;
}

/// Waits for other writers' commits (PostgreSQL's LISTEN).
pub trait Follower: Send {
    /// Block until a commit is announced or `timeout` passes; true when
    /// something was announced or the connection was made afresh (either
    /// way the caller should catch up). An error means the database cannot
    /// be reached; the next call tries to reconnect.
    fn wait(&mut self, timeout: std::time::Duration) -> Result<bool, StoreError>;
}

/// What a commit made: its revision and its rows of the change log
/// (without the features, which the caller has).
#[derive(Debug, Clone)]
pub struct Committed {
    pub revision: u64,
    pub records: Vec<ChangeRecord>,
}

/// One row of the change log: one feature changed by one revision.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChangeRecord {
    /// Position in the log (increasing; what an event stream resumes from).
    pub seq: u64,
    pub revision: u64,
    /// RFC 3339, UTC.
    pub time: String,
    /// The token's name (`import` for the initial load).
    pub who: String,
    /// `create`, `replace` or `delete`.
    pub op: String,
    pub collection: String,
    pub feature_id: String,
    /// The feature as GeoJSON after the change; `None` for a delete (and in
    /// what `commit` returns).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature: Option<serde_json::Value>,
    /// The proposal this revision adopted, if it adopted one (filled in
    /// by the server from the proposals, not stored in the log).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal: Option<String>,
}

/// A feature's status and geometry as the change log holds them: what a
/// progress report counts and measures.
#[derive(Debug, Clone)]
pub struct Shape {
    pub status: Option<String>,
    /// Its size as `geodesy::feature_size` gives it, when the log kept it;
    /// else the GeoJSON geometry type and coordinates (JSON text) to
    /// compute it from.
    pub size: Option<f64>,
    pub geometry_type: String,
    pub coordinates: String,
}

/// One change of a feature's shape: before (`None`: it did not exist) and
/// after (`None`: deleted).
#[derive(Debug, Clone)]
pub struct ShapeChange {
    pub revision: u64,
    pub before: Option<Shape>,
    pub after: Option<Shape>,
}

/// A feature's state at a past revision: collection, id, and the revision
/// that wrote that state with the feature as GeoJSON (`None`: absent then).
pub type PastState = (String, String, Option<(u64, serde_json::Value)>);

/// Read access to a store's change log. Revisions are committed in time
/// order, so a time maps to the last revision at or before it.
pub trait History: Send {
    /// The latest revision and its time.
    fn latest(&mut self) -> Result<(u64, String), StoreError>;
    /// The time of a revision, `None` if there is no such revision.
    fn revision_time(&mut self, revision: u64) -> Result<Option<String>, StoreError>;
    /// A feature's changes, oldest first.
    fn feature(&mut self, collection: &str, id: &str) -> Result<Vec<ChangeRecord>, StoreError>;
    /// Up to `limit` changes after log position `after_seq`, in log order.
    fn after(&mut self, after_seq: u64, limit: usize) -> Result<Vec<ChangeRecord>, StoreError>;
    /// The log position of the last change of `revision` or earlier.
    fn seq_of(&mut self, revision: u64) -> Result<u64, StoreError>;
    /// Every feature changed after `revision`, with its state at `revision`
    /// and the revision that wrote it (`None`: it did not exist then): what
    /// turns the current data into the data as of `revision`.
    fn states_at(&mut self, revision: u64) -> Result<Vec<PastState>, StoreError>;
    /// The changes of `collection` in revisions `(from, to]`, in log order,
    /// each with the feature's status (property `status_property`) and
    /// geometry before and after it.
    fn shape_changes(
        &mut self,
        collection: &str,
        status_property: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<ShapeChange>, StoreError>;
}

/// The last revision committed at or before `t`, by bisection over the
/// revisions (committed in time order); `None` when `t` is before the first.
pub fn revision_at(h: &mut dyn History, t: crate::clock::Unix) -> Result<Option<u64>, StoreError> {
    let time = crate::clock::format(t);
    let (latest, _) = h.latest()?;
    let (mut lo, mut hi) = (0u64, latest);
    // Invariant: revision lo is at or before t (0: none), hi+1 is after it.
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        match h.revision_time(mid)? {
            Some(at) if at <= time => lo = mid,
            _ => hi = mid - 1,
        }
    }
    Ok((lo > 0).then_some(lo))
}

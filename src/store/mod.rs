//! Where the data lives: a `Store` loads the whole dataset and commits
//! edits durably. Two implementations: a data folder (read-only, as shipped
//! in `geodata/`) and a GeoPackage file (read-write, the system of record).
//!
//! The trait is synchronous and free of SQLite types, so a PostGIS store can
//! implement it too. `live::Live` is its only caller while serving.
//!
//! Must not: know about HTTP, indexes or coverage answers.

pub mod folder;
pub mod gpkg;
pub mod wkb;

use crate::coverage::rules::Rules;
use crate::load::Manifest;
use crate::model::{Feature, Layer};

/// Everything a store holds, as loaded.
#[derive(Debug)]
pub struct Dataset {
    pub manifest: Manifest,
    pub layers: Vec<Layer>,
    pub rules: Option<Rules>,
    /// The store's revision (0 for a folder).
    pub revision: u64,
    /// Changes whenever the data does; ETags derive from it.
    pub version: u64,
}

/// One change to one feature, already validated.
#[derive(Debug, Clone)]
pub enum Change {
    /// A new feature (its id is not in use).
    Create { layer: String, feature: Feature },
    /// The whole feature replaced (by PUT or PATCH).
    Replace { layer: String, feature: Feature },
    /// The feature removed (`numeric`: its id was a JSON number).
    Delete {
        layer: String,
        id: String,
        numeric: bool,
    },
}

impl Change {
    /// The collection the change is in.
    pub fn layer(&self) -> &str {
        match self {
            Change::Create { layer, .. }
            | Change::Replace { layer, .. }
            | Change::Delete { layer, .. } => layer,
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
    /// The database is busy, full or failing; the write was not made.
    #[error("the store could not commit: {0}")]
    Unavailable(String),
    /// The file holds something we cannot read.
    #[error("{path}: {message}")]
    Corrupt { path: String, message: String },
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
    /// Apply `changes` (each with who made it) atomically as one new
    /// revision, which it returns. Either every change is stored or none is.
    fn commit(&mut self, changes: &[(String, Change)]) -> Result<u64, StoreError>;
    /// The access tokens (empty for a folder: no writes, no private mode).
    fn tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError>;
}

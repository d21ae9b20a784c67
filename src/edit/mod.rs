//! Edits of features, from what a client asked to the changes a store
//! commits: a new feature, a replacement, a JSON Merge Patch applied to a
//! feature directly (no round trip through JSON; its geometry checked again
//! only when the patch changes it), a delete. Everything a client sends is
//! parsed and checked before the writer sees it (`prepare`), within the
//! sweep budget, so no request holds the writer for what its geometry
//! costs; the writer checks what depends on the current data (`validate`:
//! the feature exists, the id is free, If-Match is current).
//!
//! Must not: know about HTTP, or touch the store (`live`'s writer does).

pub mod names;
mod patch;
mod prepare;
mod validate;

pub use patch::{merge_patch, FeaturePatch};
pub use prepare::{light, prepare};
pub(crate) use validate::{validate, Overlay, Results};

use serde_json::Value;

use crate::model::Feature;

/// One requested edit of one feature, as a client sends it (GeoJSON, a
/// merge patch), not yet parsed.
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

/// An edit parsed and checked against its layer's rules (`prepare`), not
/// yet against the current data (`validate`).
#[derive(Debug, Clone)]
pub enum Prepared {
    /// A new feature (`""` as its id has one assigned).
    Create { layer: String, feature: Feature },
    /// A replacement (the id is the URL's).
    Replace {
        layer: String,
        id: String,
        feature: Feature,
        if_match: u64,
    },
    Patch {
        layer: String,
        id: String,
        patch: FeaturePatch,
        if_match: u64,
    },
    Delete {
        layer: String,
        id: String,
        if_match: u64,
    },
}

impl Prepared {
    /// The collection the edit is in.
    pub fn layer(&self) -> &str {
        match self {
            Prepared::Create { layer, .. }
            | Prepared::Replace { layer, .. }
            | Prepared::Patch { layer, .. }
            | Prepared::Delete { layer, .. } => layer,
        }
    }
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

/// What a successful request changed: the new revision and, per edit, the
/// feature as stored (`None` for a delete).
#[derive(Debug, Clone)]
pub struct Applied {
    pub revision: u64,
    pub features: Results,
}

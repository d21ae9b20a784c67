//! Proposals as a store keeps them: a proposal's description (title,
//! author, the record's revision it started from, its status and its
//! version) and its own change log, one row per feature changed by one of
//! its saves. A proposal copies nothing of the record: its rows are the
//! features it changed, as GeoJSON, each with the record's revision of that
//! feature when the proposal first took it (`from_revision`, what adoption
//! checks for conflicts).
//!
//! Must not: run SQL (each store writes these rows in its own dialect).

use serde::Serialize;

use super::StoreError;

/// Where a proposal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProposalStatus {
    Open,
    Adopted,
    Withdrawn,
}

impl ProposalStatus {
    pub fn name(self) -> &'static str {
        match self {
            ProposalStatus::Open => "open",
            ProposalStatus::Adopted => "adopted",
            ProposalStatus::Withdrawn => "withdrawn",
        }
    }
    pub fn parse(s: &str) -> Option<ProposalStatus> {
        match s {
            "open" => Some(ProposalStatus::Open),
            "adopted" => Some(ProposalStatus::Adopted),
            "withdrawn" => Some(ProposalStatus::Withdrawn),
            _ => None,
        }
    }
}

/// A proposal's description.
#[derive(Debug, Clone, Serialize)]
pub struct ProposalMeta {
    pub id: String,
    pub title: String,
    pub description: String,
    /// The token's name that created it.
    pub author: String,
    /// The record's revision when it was created.
    pub base: u64,
    pub status: ProposalStatus,
    /// RFC 3339, UTC.
    pub created: String,
    pub updated: String,
    /// Counts the proposal's saves (0 when created): a save is refused
    /// unless the store still holds the version it was made from.
    pub version: u64,
    /// The record's revision that adopted it.
    pub adopted_revision: Option<u64>,
}

/// One row of a proposal's change log: one feature changed by one save.
#[derive(Debug, Clone, Serialize)]
pub struct ProposalRow {
    /// Position among every proposal's rows (increasing).
    pub seq: u64,
    pub proposal: String,
    /// The save that wrote it.
    pub version: u64,
    pub time: String,
    pub who: String,
    /// `create`, `replace`, `update`, `delete`; `revert` (the proposal
    /// leaves the feature as the record has it) or `rebase` (the proposal
    /// keeps its feature, now over the record's current one).
    pub op: String,
    pub collection: String,
    pub feature_id: String,
    /// The feature as GeoJSON text after the change (`None`: deleted, or
    /// reverted).
    #[serde(skip)]
    pub feature: Option<String>,
    /// The record's revision of the feature when the proposal took it (0:
    /// the record had no such feature).
    pub from_revision: u64,
}

/// Every proposal's description, and the rows after a position.
pub type ProposalsRead = (Vec<ProposalMeta>, Vec<ProposalRow>);

/// Whether a save over version `expected` (`None`: a new proposal) may go
/// ahead when the store holds version `at` of proposal `id` (`None`: no
/// such proposal): `Behind` with the stored version when another save came
/// first. Both stores ask it inside their save's transaction.
pub(crate) fn may_save(id: &str, expected: Option<u64>, at: Option<u64>) -> Result<(), StoreError> {
    match (expected, at) {
        (None, Some(_)) => Err(StoreError::Refused(format!(
            "a proposal {id:?} exists already"
        ))),
        (Some(_), None) => Err(StoreError::Refused(format!("no proposal {id:?}"))),
        (Some(e), Some(a)) if a != e => Err(StoreError::Behind(a)),
        _ => Ok(()),
    }
}

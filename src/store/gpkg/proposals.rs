//! Proposals in a GeoPackage store: `zoneatlas_proposals` (one row per
//! proposal) and `zoneatlas_proposal_changes` (each proposal's change log),
//! made when a store is first opened for writing. A save is one
//! transaction, refused unless the proposal is still at the version it was
//! made from; adoption writes the proposal's new state in the record's
//! commit transaction (`commit::commit_at`).

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{sql_err, GpkgStore};
use crate::store::proposal::{may_save, ProposalMeta, ProposalRow, ProposalStatus, ProposalsRead};
use crate::store::StoreError;

/// The tables, made if missing (stores made before proposals existed).
pub(super) const PROPOSAL_TABLES: &str = "
CREATE TABLE IF NOT EXISTS zoneatlas_proposals (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, description TEXT NOT NULL, author TEXT NOT NULL,
    base INTEGER NOT NULL, status TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL,
    version INTEGER NOT NULL, adopted_revision INTEGER);
CREATE TABLE IF NOT EXISTS zoneatlas_proposal_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, proposal TEXT NOT NULL, version INTEGER NOT NULL,
    time TEXT NOT NULL, who TEXT NOT NULL, op TEXT NOT NULL, collection TEXT NOT NULL,
    feature_id TEXT NOT NULL, feature TEXT, from_revision INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS zoneatlas_proposal_changes_proposal
    ON zoneatlas_proposal_changes(proposal, seq);";

/// Write `meta` (a new proposal when `expected` is `None`, else over the
/// version `expected`: `Behind` with the stored version otherwise) and
/// `rows`; the rows' positions.
pub(super) fn save_in(
    tx: &rusqlite::Transaction,
    meta: &ProposalMeta,
    expected: Option<u64>,
    rows: &[ProposalRow],
) -> Result<Vec<u64>, StoreError> {
    let fail = |e: rusqlite::Error| StoreError::Unavailable(format!("proposal {}: {e}", meta.id));
    let at: Option<i64> = tx
        .query_row(
            "SELECT version FROM zoneatlas_proposals WHERE id = ?1",
            params![meta.id],
            |r| r.get(0),
        )
        .optional()
        .map_err(fail)?;
    may_save(&meta.id, expected, at.map(|a| a as u64))?;
    tx.execute(
        "INSERT OR REPLACE INTO zoneatlas_proposals(id, title, description, author, base, status, created, updated, version, adopted_revision)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            meta.id,
            meta.title,
            meta.description,
            meta.author,
            meta.base as i64,
            meta.status.name(),
            meta.created,
            meta.updated,
            meta.version as i64,
            meta.adopted_revision.map(|r| r as i64)
        ],
    )
    .map_err(fail)?;
    let mut seqs = Vec::with_capacity(rows.len());
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO zoneatlas_proposal_changes(proposal, version, time, who, op, collection, feature_id, feature, from_revision)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .map_err(fail)?;
    for r in rows {
        insert
            .execute(params![
                meta.id,
                r.version as i64,
                r.time,
                r.who,
                r.op,
                r.collection,
                r.feature_id,
                r.feature,
                r.from_revision as i64
            ])
            .map_err(fail)?;
        seqs.push(tx.last_insert_rowid() as u64);
    }
    Ok(seqs)
}

impl GpkgStore {
    /// `Store::save_proposal`.
    pub(super) fn save_proposal_at(
        &mut self,
        meta: &ProposalMeta,
        expected: Option<u64>,
        rows: &[ProposalRow],
    ) -> Result<Vec<u64>, StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly(format!(
                "{} is not writable by this process",
                self.path.display()
            )));
        }
        let path = self.path.clone();
        let fail = sql_err(&path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&fail)?;
        let seqs = save_in(&tx, meta, expected, rows)?;
        tx.commit().map_err(&fail)?;
        Ok(seqs)
    }

    /// `Store::proposals_since`.
    pub(super) fn proposals_after(&mut self, after: u64) -> Result<ProposalsRead, StoreError> {
        let path = self.path.clone();
        let fail = sql_err(&path);
        let exists: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'zoneatlas_proposals'",
                [],
                |r| r.get(0),
            )
            .map_err(&fail)?;
        if exists == 0 {
            return Ok((vec![], vec![]));
        }
        let tx = self.conn.transaction().map_err(&fail)?;
        let metas = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT id, title, description, author, base, status, created, updated, version, adopted_revision
                     FROM zoneatlas_proposals ORDER BY created, id",
                )
                .map_err(&fail)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(ProposalMeta {
                        id: r.get(0)?,
                        title: r.get(1)?,
                        description: r.get(2)?,
                        author: r.get(3)?,
                        base: r.get::<_, i64>(4)? as u64,
                        status: ProposalStatus::parse(&r.get::<_, String>(5)?)
                            .unwrap_or(ProposalStatus::Withdrawn),
                        created: r.get(6)?,
                        updated: r.get(7)?,
                        version: r.get::<_, i64>(8)? as u64,
                        adopted_revision: r.get::<_, Option<i64>>(9)?.map(|v| v as u64),
                    })
                })
                .map_err(&fail)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&fail)?
        };
        let rows = {
            let mut stmt = tx
                .prepare_cached(
                    "SELECT seq, proposal, version, time, who, op, collection, feature_id, feature, from_revision
                     FROM zoneatlas_proposal_changes WHERE seq > ?1 ORDER BY seq",
                )
                .map_err(&fail)?;
            let rows = stmt
                .query_map(params![after.min(i64::MAX as u64) as i64], |r| {
                    Ok(ProposalRow {
                        seq: r.get::<_, i64>(0)? as u64,
                        proposal: r.get(1)?,
                        version: r.get::<_, i64>(2)? as u64,
                        time: r.get(3)?,
                        who: r.get(4)?,
                        op: r.get(5)?,
                        collection: r.get(6)?,
                        feature_id: r.get(7)?,
                        feature: r.get(8)?,
                        from_revision: r.get::<_, i64>(9)? as u64,
                    })
                })
                .map_err(&fail)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&fail)?
        };
        tx.commit().map_err(&fail)?;
        Ok((metas, rows))
    }
}

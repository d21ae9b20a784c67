//! Proposals in PostGIS: `_proposals` and `_proposal_changes` (schema
//! migration 2). A save locks the proposal's row, so two servers saving
//! the same proposal are serialised and the second, made from an older
//! version, is refused (`Behind`); every save is announced (`NOTIFY`) so
//! the other servers read it. Adoption writes the proposal's new state in
//! the record's commit transaction (`commit::commit_at`).

use super::{PgStore, CHANNEL};
use crate::store::proposal::{may_save, ProposalMeta, ProposalRow, ProposalStatus, ProposalsRead};
use crate::store::StoreError;

/// What a save found: done (the rows' positions), or refused (`Behind`:
/// the proposal is at another version).
pub(super) type Saved = Result<Vec<u64>, StoreError>;

/// Write `meta` over version `expected` (new when `None`) and `rows`, in
/// `tx`; announced on commit.
pub(super) fn save_in(
    tx: &mut postgres::Transaction,
    meta: &ProposalMeta,
    expected: Option<u64>,
    rows: &[ProposalRow],
) -> Result<Saved, postgres::Error> {
    // Every save in turn (until its commit): row positions then commit in
    // their order, so a reader that has seen position N has seen all
    // before it.
    tx.batch_execute("SELECT pg_advisory_xact_lock(hashtext('zoneatlas.proposals'))")?;
    let at: Option<i64> = tx
        .query_opt(
            "SELECT version FROM zoneatlas._proposals WHERE id = $1 FOR UPDATE",
            &[&meta.id],
        )?
        .map(|r| r.get(0));
    if let Err(e) = may_save(&meta.id, expected, at.map(|a| a as u64)) {
        return Ok(Err(e));
    }
    let adopted = meta.adopted_revision.map(|r| r as i64);
    tx.execute(
        "INSERT INTO zoneatlas._proposals(id, title, description, author, base, status, created, updated, version, adopted_revision)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (id) DO UPDATE SET title = excluded.title, description = excluded.description,
           status = excluded.status, updated = excluded.updated, version = excluded.version,
           adopted_revision = excluded.adopted_revision",
        &[
            &meta.id,
            &meta.title,
            &meta.description,
            &meta.author,
            &(meta.base as i64),
            &meta.status.name(),
            &meta.created,
            &meta.updated,
            &(meta.version as i64),
            &adopted,
        ],
    )?;
    let insert = tx.prepare(
        "INSERT INTO zoneatlas._proposal_changes(proposal, version, time, who, op, collection, feature_id, feature, from_revision)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING seq",
    )?;
    let mut seqs = Vec::with_capacity(rows.len());
    for r in rows {
        let seq: i64 = tx
            .query_one(
                &insert,
                &[
                    &meta.id,
                    &(r.version as i64),
                    &r.time,
                    &r.who,
                    &r.op,
                    &r.collection,
                    &r.feature_id,
                    &r.feature,
                    &(r.from_revision as i64),
                ],
            )?
            .get(0);
        seqs.push(seq as u64);
    }
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &"proposal"])?;
    Ok(Ok(seqs))
}

impl PgStore {
    /// `Store::save_proposal`.
    pub(super) fn save_proposal_at(
        &mut self,
        meta: &ProposalMeta,
        expected: Option<u64>,
        rows: &[ProposalRow],
    ) -> Result<Vec<u64>, StoreError> {
        let saved = self.with(|c| {
            let mut tx = c.transaction()?;
            let saved = save_in(&mut tx, meta, expected, rows)?;
            if saved.is_ok() {
                tx.commit()?;
            }
            Ok(saved)
        })?;
        saved
    }

    /// `Store::proposals_since`, read in one snapshot of the database.
    pub(super) fn proposals_after(&mut self, after: u64) -> Result<ProposalsRead, StoreError> {
        self.with(|c| {
            let mut tx = c
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let metas = tx
                .query(
                    "SELECT id, title, description, author, base, status, created, updated, version, adopted_revision
                     FROM zoneatlas._proposals ORDER BY created, id",
                    &[],
                )?
                .iter()
                .map(|r| ProposalMeta {
                    id: r.get(0),
                    title: r.get(1),
                    description: r.get(2),
                    author: r.get(3),
                    base: r.get::<_, i64>(4) as u64,
                    status: ProposalStatus::parse(r.get(5)).unwrap_or(ProposalStatus::Withdrawn),
                    created: r.get(6),
                    updated: r.get(7),
                    version: r.get::<_, i64>(8) as u64,
                    adopted_revision: r.get::<_, Option<i64>>(9).map(|v| v as u64),
                })
                .collect();
            let rows = tx
                .query(
                    "SELECT seq, proposal, version, time, who, op, collection, feature_id, feature, from_revision
                     FROM zoneatlas._proposal_changes WHERE seq > $1 ORDER BY seq",
                    &[&(after.min(i64::MAX as u64) as i64)],
                )?
                .iter()
                .map(|r| ProposalRow {
                    seq: r.get::<_, i64>(0) as u64,
                    proposal: r.get(1),
                    version: r.get::<_, i64>(2) as u64,
                    time: r.get(3),
                    who: r.get(4),
                    op: r.get(5),
                    collection: r.get(6),
                    feature_id: r.get(7),
                    feature: r.get(8),
                    from_revision: r.get::<_, i64>(9) as u64,
                })
                .collect();
            tx.commit()?;
            Ok((metas, rows))
        })
    }
}

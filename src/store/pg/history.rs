//! The change log of a PostGIS store, read on its own connection so that
//! history queries never wait for a commit.

use postgres::Client;

use super::conn::Conn;
use super::{log, shown};
use crate::store::{ChangeRecord, History, PastState, Shape, ShapeChange, StoreError};

pub(super) const RECORD_COLUMNS: &str =
    "seq, revision, time, who, op, collection, feature_id, feature::text";

pub(super) fn record(r: &postgres::Row) -> ChangeRecord {
    let feature: Option<String> = r.get(7);
    ChangeRecord {
        seq: r.get::<_, i64>(0) as u64,
        revision: r.get::<_, i64>(1) as u64,
        time: r.get(2),
        who: r.get(3),
        op: r.get(4),
        collection: r.get(5),
        feature_id: r.get(6),
        feature: feature.and_then(|t| serde_json::from_str(&t).ok()),
        proposal: None,
    }
}

/// The change log, read on its own connection.
pub(super) struct PgHistory(pub(super) Conn);

impl PgHistory {
    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        self.0.with(f)
    }

    fn records(
        &mut self,
        sql: &str,
        args: &[&(dyn postgres::types::ToSql + Sync)],
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        self.with(|c| c.query(sql, args))
            .map(|rows| rows.iter().map(record).collect())
    }
}

impl History for PgHistory {
    fn latest(&mut self) -> Result<(u64, String), StoreError> {
        self.with(|c| {
            c.query_one(
                "SELECT coalesce((SELECT revision FROM zoneatlas._changes ORDER BY seq DESC LIMIT 1), 1),
                        coalesce((SELECT time FROM zoneatlas._changes ORDER BY seq DESC LIMIT 1),
                                 (SELECT value FROM zoneatlas._meta WHERE key = 'created'), '')",
                &[],
            )
        })
        .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
    }

    fn revision_time(&mut self, revision: u64) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            c.query_one(
                "SELECT coalesce((SELECT time FROM zoneatlas._changes WHERE revision = $1 LIMIT 1),
                                 CASE WHEN $1 = 1 THEN (SELECT value FROM zoneatlas._meta WHERE key = 'created') END)",
                &[&(revision.min(i64::MAX as u64) as i64)],
            )
        })
        .map(|r| r.get::<_, Option<String>>(0))
    }

    fn feature(&mut self, collection: &str, id: &str) -> Result<Vec<ChangeRecord>, StoreError> {
        self.records(
            &format!("SELECT {RECORD_COLUMNS} FROM zoneatlas._changes WHERE collection = $1 AND feature_id = $2 ORDER BY seq"),
            &[&collection, &id],
        )
    }

    fn after(&mut self, after_seq: u64, limit: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        self.records(
            &format!("SELECT {RECORD_COLUMNS} FROM zoneatlas._changes WHERE seq > $1 ORDER BY seq LIMIT $2"),
            &[&(after_seq.min(i64::MAX as u64) as i64), &(limit.min(i64::MAX as usize) as i64)],
        )
    }

    fn seq_of(&mut self, revision: u64) -> Result<u64, StoreError> {
        self.with(|c| {
            c.query_one(
                "SELECT coalesce(max(seq), 0) FROM zoneatlas._changes WHERE revision <= $1",
                &[&(revision.min(i64::MAX as u64) as i64)],
            )
        })
        .map(|r| r.get::<_, i64>(0) as u64)
    }

    fn states_at(&mut self, revision: u64) -> Result<Vec<PastState>, StoreError> {
        let rows = self.with(|c| {
            c.query(
                "SELECT c.collection, c.feature_id, d.revision, d.feature::text
                 FROM (SELECT DISTINCT collection, feature_id FROM zoneatlas._changes WHERE revision > $1) c
                 LEFT JOIN LATERAL (
                   SELECT revision, feature FROM zoneatlas._changes e
                    WHERE e.collection = c.collection AND e.feature_id = c.feature_id AND e.revision <= $1
                    ORDER BY e.seq DESC LIMIT 1) d ON true",
                &[&(revision.min(i64::MAX as u64) as i64)],
            )
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let rev: Option<i64> = r.get(2);
            let row = rev.map(|rev| (rev, r.get(3)));
            out.push(log::past_state(
                &shown(&self.0.url),
                r.get(0),
                r.get(1),
                row,
            )?);
        }
        Ok(out)
    }

    fn shape_changes(
        &mut self,
        collection: &str,
        status_property: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<ShapeChange>, StoreError> {
        // Status and size as logged; rows from SQL edits carry neither, and
        // fall back to the feature's GeoJSON.
        let rows = self.with(|c| {
            c.query(
                "SELECT c.revision,
                   c.feature IS NOT NULL, coalesce(c.status, c.feature->'properties'->>$4), c.size,
                   c.feature->'geometry'->>'type', CASE WHEN c.size IS NULL THEN (c.feature->'geometry'->'coordinates')::text END,
                   b.feature IS NOT NULL, coalesce(b.status, b.feature->'properties'->>$4), b.size,
                   b.feature->'geometry'->>'type', CASE WHEN b.size IS NULL THEN (b.feature->'geometry'->'coordinates')::text END
                 FROM zoneatlas._changes c
                 LEFT JOIN LATERAL (
                   SELECT d.status, d.size, d.feature FROM zoneatlas._changes d
                    WHERE d.collection = c.collection AND d.feature_id = c.feature_id AND d.seq < c.seq
                    ORDER BY d.seq DESC LIMIT 1) b ON true
                 WHERE c.collection = $1 AND c.revision > $2 AND c.revision <= $3 ORDER BY c.seq",
                &[
                    &collection,
                    &(from.min(i64::MAX as u64) as i64),
                    &(to.min(i64::MAX as u64) as i64),
                    &status_property,
                ],
            )
        })?;
        let shape = |r: &postgres::Row, at: usize| -> Option<Shape> {
            if !r.get::<_, bool>(at) {
                return None;
            }
            Some(Shape {
                status: r.get(at + 1),
                size: r.get(at + 2),
                geometry_type: r.get::<_, Option<String>>(at + 3).unwrap_or_default(),
                coordinates: r.get::<_, Option<String>>(at + 4).unwrap_or_default(),
            })
        };
        Ok(rows
            .iter()
            .map(|r| ShapeChange {
                revision: r.get::<_, i64>(0) as u64,
                after: shape(r, 1),
                before: shape(r, 6),
            })
            .collect())
    }
}

//! The change log of a GeoPackage store, read on its own connection (WAL:
//! it reads the last committed state and never blocks the writer).

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::schema::log_has_sizes;
use super::{log, sql_err, GpkgStore};
use crate::store::{ChangeRecord, History, PastState, Shape, ShapeChange, StoreError};

impl GpkgStore {
    pub(super) fn history_reader(&self) -> Result<Box<dyn History>, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| self.corrupt(format!("cannot open the change log for reading: {e}")))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| self.corrupt(e.to_string()))?;
        let sizes = log_has_sizes(&conn).map_err(|e| self.corrupt(e.to_string()))?;
        Ok(Box::new(GpkgHistory {
            conn,
            path: self.path.clone(),
            sizes,
        }))
    }
}

/// The change log of a GeoPackage store, read on its own connection (WAL:
/// it reads the last committed state and never blocks the writer).
struct GpkgHistory {
    conn: Connection,
    path: PathBuf,
    /// The log has `status` and `size` columns.
    sizes: bool,
}

pub(super) const RECORD_COLUMNS: &str =
    "seq, revision, time, who, op, collection, feature_id, feature";

pub(super) fn record(r: &rusqlite::Row) -> rusqlite::Result<ChangeRecord> {
    let feature: Option<String> = r.get(7)?;
    Ok(ChangeRecord {
        seq: r.get::<_, i64>(0)? as u64,
        revision: r.get::<_, i64>(1)? as u64,
        time: r.get(2)?,
        who: r.get(3)?,
        op: r.get(4)?,
        collection: r.get(5)?,
        feature_id: r.get(6)?,
        feature: feature.and_then(|t| serde_json::from_str(&t).ok()),
        proposal: None,
    })
}

impl GpkgHistory {
    fn records(
        &mut self,
        sql: &str,
        args: impl rusqlite::Params,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        let fail = sql_err(&self.path);
        let mut stmt = self.conn.prepare_cached(sql).map_err(&fail)?;
        let rows = stmt.query_map(args, record).map_err(&fail)?;
        rows.collect::<rusqlite::Result<_>>().map_err(&fail)
    }
}

impl History for GpkgHistory {
    fn latest(&mut self) -> Result<(u64, String), StoreError> {
        self.conn
            .query_row(
                "SELECT coalesce((SELECT revision FROM zoneatlas_changes ORDER BY seq DESC LIMIT 1), 1),
                        coalesce((SELECT time FROM zoneatlas_changes ORDER BY seq DESC LIMIT 1),
                                 (SELECT value FROM zoneatlas_meta WHERE key = 'created'), '')",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
            )
            .map_err(sql_err(&self.path))
    }

    fn revision_time(&mut self, revision: u64) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT coalesce((SELECT time FROM zoneatlas_changes WHERE revision = ?1 LIMIT 1),
                                 CASE WHEN ?1 = 1 THEN (SELECT value FROM zoneatlas_meta WHERE key = 'created') END)",
            )
            .and_then(|mut s| {
                s.query_row(params![revision as i64], |r| r.get::<_, Option<String>>(0))
                    .optional()
                    .map(Option::flatten)
            })
            .map_err(sql_err(&self.path))
    }

    fn feature(&mut self, collection: &str, id: &str) -> Result<Vec<ChangeRecord>, StoreError> {
        self.records(
            &format!("SELECT {RECORD_COLUMNS} FROM zoneatlas_changes WHERE collection = ?1 AND feature_id = ?2 ORDER BY seq"),
            params![collection, id],
        )
    }

    fn after(&mut self, after_seq: u64, limit: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        self.records(
            &format!("SELECT {RECORD_COLUMNS} FROM zoneatlas_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2"),
            params![after_seq.min(i64::MAX as u64) as i64, limit as i64],
        )
    }

    fn seq_of(&mut self, revision: u64) -> Result<u64, StoreError> {
        self.conn
            .prepare_cached(
                "SELECT coalesce(max(seq), 0) FROM zoneatlas_changes WHERE revision <= ?1",
            )
            .and_then(|mut s| s.query_row(params![revision as i64], |r| r.get::<_, i64>(0)))
            .map(|s| s as u64)
            .map_err(sql_err(&self.path))
    }

    fn states_at(&mut self, revision: u64) -> Result<Vec<PastState>, StoreError> {
        let fail = sql_err(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT c.collection, c.feature_id,
                   (SELECT d.seq FROM zoneatlas_changes d
                     WHERE d.collection = c.collection AND d.feature_id = c.feature_id AND d.revision <= ?1
                     ORDER BY d.seq DESC LIMIT 1) AS last
                 FROM (SELECT DISTINCT collection, feature_id FROM zoneatlas_changes WHERE revision > ?1) c",
            )
            .map_err(&fail)?;
        let rows = stmt
            .query_map(params![revision as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, Option<i64>>(2)?))
            })
            .map_err(&fail)?;
        let lasts: Vec<(String, String, Option<i64>)> =
            rows.collect::<rusqlite::Result<_>>().map_err(&fail)?;
        drop(stmt);
        let mut out = Vec::with_capacity(lasts.len());
        let mut by_seq = self
            .conn
            .prepare_cached("SELECT revision, feature FROM zoneatlas_changes WHERE seq = ?1")
            .map_err(&fail)?;
        for (collection, id, last) in lasts {
            let row = match last {
                None => None,
                Some(seq) => Some(
                    by_seq
                        .query_row(params![seq], |r| Ok((r.get(0)?, r.get(1)?)))
                        .map_err(&fail)?,
                ),
            };
            let path = self.path.display().to_string();
            out.push(log::past_state(&path, collection, id, row)?);
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
        let fail = sql_err(&self.path);
        // Status and size as logged (no geometry parsed); a row from before
        // the log kept them falls back to SQLite's JSON functions.
        let (cs, cz, bs, bz) = if self.sizes {
            ("c.status", "c.size", "b.status", "b.size")
        } else {
            ("NULL", "NULL", "NULL", "NULL")
        };
        let sql = format!(
            "SELECT c.revision,
               c.feature IS NOT NULL, coalesce({cs}, json_extract(c.feature, ?4)), {cz},
               CASE WHEN {cz} IS NULL THEN json_extract(c.feature, '$.geometry.type') END,
               CASE WHEN {cz} IS NULL THEN json_extract(c.feature, '$.geometry.coordinates') END,
               b.feature IS NOT NULL, coalesce({bs}, json_extract(b.feature, ?4)), {bz},
               CASE WHEN {bz} IS NULL THEN json_extract(b.feature, '$.geometry.type') END,
               CASE WHEN {bz} IS NULL THEN json_extract(b.feature, '$.geometry.coordinates') END
             FROM zoneatlas_changes c
             LEFT JOIN zoneatlas_changes b ON b.seq = (
               SELECT d.seq FROM zoneatlas_changes d
                WHERE d.collection = c.collection AND d.feature_id = c.feature_id AND d.seq < c.seq
                ORDER BY d.seq DESC LIMIT 1)
             WHERE c.collection = ?1 AND c.revision > ?2 AND c.revision <= ?3 ORDER BY c.seq"
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(&fail)?;
        let path = format!("$.properties.\"{}\"", status_property.replace('"', "\\\""));
        let shape = |r: &rusqlite::Row, at: usize| -> rusqlite::Result<Option<Shape>> {
            if !r.get::<_, bool>(at)? {
                return Ok(None);
            }
            let status = match r.get_ref(at + 1)? {
                rusqlite::types::ValueRef::Null => None,
                rusqlite::types::ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                rusqlite::types::ValueRef::Integer(i) => Some(i.to_string()),
                rusqlite::types::ValueRef::Real(x) => Some(x.to_string()),
                rusqlite::types::ValueRef::Blob(_) => None,
            };
            Ok(Some(Shape {
                status,
                size: r.get(at + 2)?,
                geometry_type: r.get::<_, Option<String>>(at + 3)?.unwrap_or_default(),
                coordinates: r.get::<_, Option<String>>(at + 4)?.unwrap_or_default(),
            }))
        };
        let rows = stmt
            .query_map(params![collection, from as i64, to as i64, path], |r| {
                Ok(ShapeChange {
                    revision: r.get::<_, i64>(0)? as u64,
                    after: shape(r, 1)?,
                    before: shape(r, 6)?,
                })
            })
            .map_err(&fail)?;
        rows.collect::<rusqlite::Result<_>>().map_err(&fail)
    }
}

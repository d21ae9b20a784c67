//! Edits made to the GeoPackage with other tools (QGIS, GDAL, sqlite3):
//! triggers on every layer table log each insert, update and delete into
//! the change log as a revision of its own (who `sql:external`), and give a
//! row inserted without `zoneatlas_id` one (`<layer>-<fid>`). A trigger
//! cannot write GeoJSON, so it logs the change without the feature; the
//! server settles such rows (`settle`) before it reads the log: it fills in
//! the feature as the table holds it and stamps the row's
//! `zoneatlas_revision`, so its ETag changes.
//!
//! zoneatlas's own writes set `zoneatlas_meta.writing` to 1 inside their
//! transaction (no other connection ever sees it: SQLite commits the
//! transaction whole), and the triggers stay silent for them.
//!
//! Must not: validate features against the layer's rules (the server
//! does, and leaves out what breaks them).

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::schema::ColumnType;
use super::{log, quote};
use crate::model::GeometryKind;
use crate::store::StoreError;

/// Who the change log names for an edit made outside zoneatlas.
pub(super) const EXTERNAL: &str = "sql:external";

/// The time as the change log writes it (`clock::format`), in SQL.
const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')";

/// Mark the transaction as zoneatlas's own: the triggers log nothing in it.
pub(super) fn begin_own(tx: &Transaction) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO zoneatlas_meta(key, value) VALUES ('writing', '1')
         ON CONFLICT(key) DO UPDATE SET value = '1'",
        [],
    )?;
    Ok(())
}

/// Unmark it before it commits (a rollback unmarks it too).
pub(super) fn end_own(tx: &Transaction) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE zoneatlas_meta SET value = '0' WHERE key = 'writing'",
        [],
    )?;
    Ok(())
}

/// The triggers of one layer table (created anew: `DROP ... IF EXISTS`).
pub(super) fn create_triggers(conn: &Connection, layer: &str) -> rusqlite::Result<()> {
    let t = quote(layer);
    let name = |what: &str| quote(&format!("zoneatlas_{layer}_{what}"));
    let lit = |s: &str| format!("'{}'", s.replace('\'', "''"));
    let l = lit(layer);
    let silent = "(SELECT value FROM zoneatlas_meta WHERE key = 'writing') IS NOT '1'";
    // A revision of its own for each logged change, and its log row.
    let log = |op: &str, id: &str| {
        format!(
            "UPDATE zoneatlas_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision';
             INSERT INTO zoneatlas_changes(revision, time, who, op, collection, feature_id)
               SELECT CAST(value AS INTEGER), {NOW}, '{EXTERNAL}', '{op}', {l}, {id}
               FROM zoneatlas_meta WHERE key = 'revision';"
        )
    };
    let new_id = format!("coalesce(NEW.zoneatlas_id, {l} || '-' || NEW.fid)");
    let old_id = format!("coalesce(OLD.zoneatlas_id, {l} || '-' || OLD.fid)");
    conn.execute_batch(&format!(
        "DROP TRIGGER IF EXISTS {ins};
         CREATE TRIGGER {ins} AFTER INSERT ON {t} WHEN {silent}
         BEGIN
           UPDATE {t} SET zoneatlas_id = {l} || '-' || NEW.fid
             WHERE fid = NEW.fid AND zoneatlas_id IS NULL;
           {log_create}
         END;
         DROP TRIGGER IF EXISTS {upd};
         CREATE TRIGGER {upd} AFTER UPDATE ON {t}
           WHEN {silent} AND OLD.zoneatlas_id IS NOT NULL AND OLD.zoneatlas_id IS NEW.zoneatlas_id
         BEGIN
           {log_update}
         END;
         DROP TRIGGER IF EXISTS {ren};
         CREATE TRIGGER {ren} AFTER UPDATE ON {t}
           WHEN {silent} AND OLD.zoneatlas_id IS NOT NULL AND OLD.zoneatlas_id IS NOT NEW.zoneatlas_id
         BEGIN
           {log_gone}
           {log_renamed}
         END;
         DROP TRIGGER IF EXISTS {del};
         CREATE TRIGGER {del} AFTER DELETE ON {t} WHEN {silent}
         BEGIN
           {log_delete}
         END;",
        ins = name("insert"),
        upd = name("update"),
        ren = name("rename"),
        del = name("delete"),
        log_create = log("create", &new_id),
        log_update = log("update", &new_id),
        log_gone = log("delete", &old_id),
        log_renamed = log("create", &new_id),
        log_delete = log("delete", &old_id),
    ))
}

/// Whether a layer table already has its triggers.
fn has_triggers(conn: &Connection, layer: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
        params![format!("zoneatlas_{layer}_rename")],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// Bring a store made before external edits were tracked up to date: its
/// layer tables take rows without an id or a revision (a tool inserting a
/// feature gives neither), and carry the triggers. Idempotent.
pub(super) fn migrate(
    conn: &mut Connection,
    layers: &[(String, GeometryKind)],
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for (layer, _) in layers {
        let strict: bool = tx.query_row(
            &format!(
                "SELECT count(*) FROM pragma_table_info({}) WHERE name IN ('zoneatlas_id', 'zoneatlas_revision') AND \"notnull\" = 1",
                lit(layer)
            ),
            [],
            |r| r.get::<_, i64>(0),
        )? > 0;
        if strict {
            relax(&tx, layer)?;
        }
        if strict || !has_triggers(&tx, layer)? {
            create_triggers(&tx, layer)?;
        }
    }
    tx.execute_batch(
        "CREATE INDEX IF NOT EXISTS zoneatlas_changes_pending ON zoneatlas_changes(seq)
           WHERE feature IS NULL AND op != 'delete';
         INSERT INTO zoneatlas_meta(key, value) VALUES ('writing', '0') ON CONFLICT(key) DO NOTHING;",
    )?;
    tx.commit()
}

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Rebuild a layer table with `zoneatlas_id` and `zoneatlas_revision`
/// nullable (SQLite cannot drop a NOT NULL in place): same columns, same
/// rows, same fids.
fn relax(tx: &Transaction, layer: &str) -> rusqlite::Result<()> {
    let sql: String = tx.query_row(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
        params![layer],
        |r| r.get(0),
    )?;
    let relaxed = sql
        .replacen(
            "zoneatlas_id TEXT NOT NULL UNIQUE",
            "zoneatlas_id TEXT UNIQUE",
            1,
        )
        .replacen(
            "zoneatlas_revision INTEGER NOT NULL",
            "zoneatlas_revision INTEGER",
            1,
        );
    let t = quote(layer);
    let tmp = quote(&format!("zoneatlas_relax_{layer}"));
    let body = relaxed
        .split_once('(')
        .map(|(_, rest)| rest.to_owned())
        .unwrap_or_default();
    tx.execute_batch(&format!(
        "CREATE TABLE {tmp} ({body};
         INSERT INTO {tmp} SELECT * FROM {t};
         DROP TABLE {t};
         ALTER TABLE {tmp} RENAME TO {t};"
    ))?;
    tracing::info!(layer, "the layer table now takes rows added by other tools");
    Ok(())
}

/// One logged change still without its feature: its log position, its
/// revision, layer and id.
struct Pending {
    seq: i64,
    revision: i64,
    layer: String,
    id: String,
}

/// Fill in the features of changes the triggers logged (as each table
/// holds the feature now) and stamp each changed row with the revision of
/// its latest change. In the caller's transaction, marked as its own.
/// Returns how many changes were settled.
pub(super) fn settle(
    tx: &Transaction,
    columns: &std::collections::HashMap<String, BTreeMap<String, ColumnType>>,
    kinds: &std::collections::HashMap<String, GeometryKind>,
    status_property: &str,
) -> Result<usize, StoreError> {
    let fail =
        |e: rusqlite::Error| StoreError::Unavailable(format!("settling external edits: {e}"));
    let pending: Vec<Pending> = {
        let mut stmt = tx
            .prepare(
                "SELECT seq, revision, collection, feature_id FROM zoneatlas_changes
                 WHERE feature IS NULL AND op != 'delete' ORDER BY seq",
            )
            .map_err(fail)?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Pending {
                    seq: r.get(0)?,
                    revision: r.get(1)?,
                    layer: r.get(2)?,
                    id: r.get(3)?,
                })
            })
            .map_err(fail)?;
        rows.collect::<rusqlite::Result<_>>().map_err(fail)?
    };
    for p in &pending {
        let (Some(cols), Some(kind)) = (columns.get(&p.layer), kinds.get(&p.layer)) else {
            continue;
        };
        let row = super::read::row_by_id(tx, &p.layer, cols, &p.id).map_err(fail)?;
        let Some(mut f) = row else {
            // Deleted since (its delete is logged after): nothing to show.
            tx.execute(
                "UPDATE zoneatlas_changes SET feature = 'null' WHERE seq = ?1",
                params![p.seq],
            )
            .map_err(fail)?;
            continue;
        };
        f.revision = p.revision as u64;
        let (status, size) = log::logged_shape(&f, *kind, status_property);
        tx.execute(
            "UPDATE zoneatlas_changes SET feature = ?1, status = ?2, size = ?3 WHERE seq = ?4",
            params![log::feature_json(&f), status, size, p.seq],
        )
        .map_err(fail)?;
        tx.execute(
            &format!(
                "UPDATE {} SET zoneatlas_revision = max(coalesce(zoneatlas_revision, 0), ?1) WHERE zoneatlas_id = ?2",
                quote(&p.layer)
            ),
            params![p.revision, p.id],
        )
        .map_err(fail)?;
    }
    Ok(pending.len())
}

/// Whether any change awaits settling (cheap: a partial index).
pub(super) fn any_pending(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT seq FROM zoneatlas_changes WHERE feature IS NULL AND op != 'delete' LIMIT 1",
        [],
        |r| r.get::<_, i64>(0),
    )
    .optional()
    .map(|s| s.is_some())
}

//! Committing a batch of changes to a GeoPackage store: one SQLite
//! transaction that checks the store is still at the revision the batch
//! was validated against, writes the features, adds columns for new
//! property names, and logs every change. What the store keeps in memory
//! (columns, layer kinds) changes only once SQLite's COMMIT succeeded.

use std::collections::{BTreeMap, HashMap};

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::schema::{
    create_layer_table, id_value, insert_feature, insert_sql, ColumnType, OWN_COLUMNS,
};
use super::{external, quote, revision_in, sql_err, GpkgStore};
use crate::load::Manifest;
use crate::model::{GeometryKind, Layer};
use crate::store::log::Entry;
use crate::store::proposal::ProposalMeta;
use crate::store::{Change, ChangeRecord, Committed, StoreError};

/// The most property columns a layer's table is given (SQLite allows 2,000
/// columns in all; the edit path caps names per layer well below this).
const MAX_COLUMNS: usize = 1_000;

impl GpkgStore {
    /// `Store::commit`: the batch as revision `base + 1`, or `Behind` when
    /// the store is no longer at `base` (another process wrote it).
    pub(super) fn commit_at(
        &mut self,
        base: u64,
        changes: &[(String, Change)],
        time: Option<crate::clock::Unix>,
    ) -> Result<Committed, StoreError> {
        self.commit_adopting(base, changes, time, None)
    }

    /// `commit_at`, with a proposal's new state (adopted) written in the
    /// same transaction when one is given (its meta over version `.1`).
    pub(super) fn commit_adopting(
        &mut self,
        base: u64,
        changes: &[(String, Change)],
        time: Option<crate::clock::Unix>,
        adopting: Option<(&ProposalMeta, u64)>,
    ) -> Result<Committed, StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly(format!(
                "{} is not writable by this process",
                self.path.display()
            )));
        }
        let path = self.path.clone();
        let fail = sql_err(&path);
        // IMMEDIATE: the write lock first, so the revision read below and
        // the writes are one step for every other writer of the file.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&fail)?;
        let at = revision_in(&tx, &path)?;
        if at != base {
            return Err(StoreError::Behind(at));
        }
        // Our own writes: the triggers for other tools' edits stay silent.
        external::begin_own(&tx).map_err(&fail)?;
        let next = base + 1;
        // A commit is never logged before the one before it.
        let last: Option<String> = tx
            .query_row(
                "SELECT time FROM zoneatlas_changes ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(&fail)?;
        let last = last.and_then(|t| crate::clock::parse(&t).ok()).unwrap_or(0);
        let now = crate::clock::format(time.unwrap_or_else(crate::clock::now).max(last));

        // Working copies of what the commit may add: kept only if it lands.
        let mut kinds: HashMap<String, GeometryKind> = HashMap::new();
        let mut columns: HashMap<String, BTreeMap<String, ColumnType>> = HashMap::new();
        for (_, c) in changes {
            let layer = c.layer();
            if !columns.contains_key(layer) {
                columns.insert(
                    layer.to_owned(),
                    self.columns.get(layer).cloned().unwrap_or_default(),
                );
            }
        }
        let mut records = Vec::with_capacity(changes.len());
        let outcome = (|| -> Result<(), StoreError> {
            // New layers first (their features follow in the same transaction).
            for (_, c) in changes {
                let Change::AddLayer { meta } = c else {
                    continue;
                };
                if self.kinds.contains_key(&meta.id) || kinds.contains_key(&meta.id) {
                    return Err(StoreError::Unavailable(format!(
                        "layer {:?} exists already",
                        meta.id
                    )));
                }
                create_layer_table(&tx, &Layer::new(meta.clone(), vec![]), &BTreeMap::new())
                    .map_err(&fail)?;
                external::create_triggers(&tx, &meta.id).map_err(&fail)?;
                let text: String = tx
                    .query_row(
                        "SELECT value FROM zoneatlas_meta WHERE key = 'manifest'",
                        [],
                        |r| r.get(0),
                    )
                    .map_err(&fail)?;
                let mut manifest: Manifest = serde_json::from_str(&text)
                    .map_err(|e| StoreError::Unavailable(format!("the manifest: {e}")))?;
                manifest.layers.push(meta.clone());
                let text = serde_json::to_string(&manifest)
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                tx.execute(
                    "UPDATE zoneatlas_meta SET value = ?1 WHERE key = 'manifest'",
                    params![text],
                )
                .map_err(&fail)?;
                kinds.insert(meta.id.clone(), meta.geometry);
                columns.insert(meta.id.clone(), BTreeMap::new());
            }
            // New property names become columns (typed by their first value).
            for (_, c) in changes {
                let (Change::Create { layer, feature }
                | Change::Replace { layer, feature }
                | Change::Update { layer, feature }) = c
                else {
                    continue;
                };
                let cols = columns.entry(layer.clone()).or_default();
                for (k, v) in &feature.properties {
                    if OWN_COLUMNS.contains(&k) || cols.contains_key(k) {
                        continue;
                    }
                    // SQLite's column names ignore case: a name equal to a
                    // column but for case (one no feature uses any more,
                    // or one another tool added) cannot be added.
                    if let Some(c) = cols.keys().find(|c| c.eq_ignore_ascii_case(k)) {
                        return Err(StoreError::Refused(format!(
                            "property name {k:?} differs from the column {c:?} of {layer:?} only in case; use {c:?}"
                        )));
                    }
                    if cols.len() >= MAX_COLUMNS {
                        return Err(StoreError::Refused(format!(
                            "{layer:?} has {} property columns, the most a layer's table holds; property {k:?} cannot be added",
                            cols.len()
                        )));
                    }
                    if let Some(t) = ColumnType::of(v) {
                        tx.execute_batch(&format!(
                            "ALTER TABLE {} ADD COLUMN {} {}",
                            quote(layer),
                            quote(k),
                            t.sql()
                        ))
                        .map_err(&fail)?;
                        cols.insert(k.to_owned(), t);
                    }
                }
            }
            let mut touched = std::collections::BTreeSet::new();
            for (who, c) in changes {
                let layer = c.layer();
                let kind = kinds
                    .get(layer)
                    .or_else(|| self.kinds.get(layer))
                    .copied()
                    .unwrap_or(GeometryKind::Point);
                let Some(entry) = Entry::of(c, next, kind, &self.status_property) else {
                    continue;
                };
                let sql = |e| fail(e);
                match (c, &entry.feature) {
                    (Change::Delete { id, numeric, .. }, _) => {
                        let key = match id.parse::<i64>() {
                            Ok(i) if *numeric => rusqlite::types::Value::Integer(i),
                            _ => rusqlite::types::Value::Text(id.clone()),
                        };
                        tx.prepare_cached(&format!(
                            "DELETE FROM {} WHERE zoneatlas_id = ?1",
                            quote(layer)
                        ))
                        .and_then(|mut s| s.execute(params![key]))
                        .map_err(sql)?;
                    }
                    (_, Some(f)) => {
                        if matches!(c, Change::Replace { .. } | Change::Update { .. }) {
                            tx.prepare_cached(&format!(
                                "DELETE FROM {} WHERE zoneatlas_id = ?1",
                                quote(layer)
                            ))
                            .and_then(|mut s| s.execute(params![id_value(f)]))
                            .map_err(sql)?;
                        }
                        let cols = columns.get(layer).cloned().unwrap_or_default();
                        tx.prepare_cached(&insert_sql(layer, &cols))
                            .and_then(|mut s| insert_feature(&mut s, &cols, f))
                            .map_err(sql)?;
                    }
                    _ => continue,
                }
                tx.prepare_cached(
                    "INSERT INTO zoneatlas_changes(revision, time, who, op, collection, feature_id, feature, status, size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        next as i64,
                        now,
                        who,
                        entry.op,
                        layer,
                        entry.id,
                        entry.after,
                        entry.status,
                        entry.size
                    ])
                })
                .map_err(sql)?;
                records.push(entry.record(tx.last_insert_rowid() as u64, next, &now, who, layer));
                touched.insert(layer);
            }
            // Once per layer a commit wrote, not once per change.
            for layer in touched {
                tx.prepare_cached(
                    "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name = ?1",
                )
                .and_then(|mut s| s.execute(params![layer]))
                .map_err(&fail)?;
            }
            tx.prepare_cached("UPDATE zoneatlas_meta SET value = ?1 WHERE key = 'revision'")
                .and_then(|mut s| s.execute(params![next.to_string()]))
                .map_err(&fail)?;
            external::end_own(&tx).map_err(&fail)?;
            if let Some((meta, expected)) = adopting {
                let mut meta = meta.clone();
                meta.adopted_revision = Some(next);
                meta.updated = now.clone();
                super::proposals::save_in(&tx, &meta, Some(expected), &[])?;
            }
            Ok(())
        })();
        // On any error the transaction rolls back as it drops, and nothing
        // of the working copies is kept.
        outcome?;
        tx.commit().map_err(&fail)?;
        super::marker::note(&self.path, next);
        self.kinds.extend(kinds);
        self.columns.extend(columns);
        Ok(Committed {
            revision: next,
            records,
        })
    }

    /// Settle what other tools wrote since (see `external::settle`), in a
    /// transaction of our own.
    pub(super) fn settle_external(&mut self) -> Result<(), StoreError> {
        let pending = external::any_pending(&self.conn).map_err(sql_err(&self.path))?;
        if !pending {
            return Ok(());
        }
        // Columns another tool added since are read as text.
        self.read_manifest()?;
        let fail = sql_err(&self.path);
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(&fail)?;
        external::begin_own(&tx).map_err(&fail)?;
        let n = external::settle(&tx, &self.columns, &self.kinds, &self.status_property)?;
        external::end_own(&tx).map_err(&fail)?;
        tx.commit().map_err(&fail)?;
        if let Ok(r) = self.read_revision() {
            super::marker::note(&self.path, r);
        }
        tracing::info!(changes = n, "logged edits made with other tools");
        Ok(())
    }

    /// `Store::changes_since`: the store's revision and the change-log rows
    /// after `revision` (with their features), read in one transaction.
    pub(super) fn rows_since(
        &mut self,
        revision: u64,
    ) -> Result<(u64, Vec<ChangeRecord>), StoreError> {
        if !self.read_only {
            self.settle_external()?;
        }
        let path = self.path.clone();
        let fail = sql_err(&path);
        let tx = self.conn.transaction().map_err(&fail)?;
        let latest = revision_in(&tx, &path)?;
        if latest <= revision {
            return Ok((latest, Vec::new()));
        }
        let records = {
            let mut stmt = tx
                .prepare_cached(&format!(
                    "SELECT {} FROM zoneatlas_changes WHERE revision > ?1 AND revision <= ?2 ORDER BY seq",
                    super::history::RECORD_COLUMNS
                ))
                .map_err(&fail)?;
            let rows = stmt
                .query_map(
                    params![revision as i64, latest as i64],
                    super::history::record,
                )
                .map_err(&fail)?;
            rows.collect::<rusqlite::Result<Vec<_>>>().map_err(&fail)?
        };
        tx.commit().map_err(&fail)?;
        Ok((latest, records))
    }
}

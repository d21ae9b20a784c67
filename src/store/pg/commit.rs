//! Committing a batch to PostGIS: the revision row's lock serialises every
//! writer (servers and SQL), a batch validated against any revision but
//! the database's is refused (`Behind`), and every change is logged and
//! announced (`NOTIFY`) in the same transaction.

use super::schema::create_layer_table;
use super::{quote, shown, PgStore, CHANNEL};
use crate::model::GeometryKind;
use crate::store::log::Entry;
use crate::store::proposal::ProposalMeta;
use crate::store::{wkb, Change, ChangeRecord, Committed, StoreError};

impl PgStore {
    /// `Store::commit`: the batch as revision `base + 1`, or `Behind`.
    pub(super) fn commit_at(
        &mut self,
        base: u64,
        changes: &[(String, Change)],
        time: Option<crate::clock::Unix>,
    ) -> Result<Committed, StoreError> {
        self.commit_adopting(base, changes, time, None)
    }

    /// `commit_at`, with an adopted proposal's new state (its meta over
    /// version `.1`) saved in the same transaction when one is given.
    pub(super) fn commit_adopting(
        &mut self,
        base: u64,
        changes: &[(String, Change)],
        time: Option<crate::clock::Unix>,
        adopting: Option<(&ProposalMeta, u64)>,
    ) -> Result<Committed, StoreError> {
        let next = base + 1;
        let kinds = self.kinds.clone();
        let status_property = self.status_property.clone();
        let adds_layers = changes
            .iter()
            .any(|(_, c)| matches!(c, Change::AddLayer { .. }));
        let mut manifest = match adds_layers {
            true => self.read_manifest()?,
            false => None,
        };
        let mut new_layers = Vec::new();
        let outcome = self.with(|c| {
            let mut tx = c.transaction()?;
            tx.batch_execute("SET LOCAL zoneatlas.writer = 'on'")?;
            // The revision row's lock serialises every writer, ours and SQL's.
            let at: i64 = tx
                .query_one(
                    "SELECT value::bigint FROM zoneatlas._meta WHERE key = 'revision' FOR UPDATE",
                    &[],
                )?
                .get(0);
            if at as u64 != base {
                return Ok(Err(Ok(at as u64)));
            }
            let last: Option<String> = tx
                .query_opt(
                    "SELECT time FROM zoneatlas._changes ORDER BY seq DESC LIMIT 1",
                    &[],
                )?
                .map(|r| r.get(0));
            let last = last.and_then(|t| crate::clock::parse(&t).ok()).unwrap_or(0);
            let now = crate::clock::format(time.unwrap_or_else(crate::clock::now).max(last));
            for (_, c) in changes {
                if let Change::AddLayer { meta } = c {
                    create_layer_table(&mut tx, &meta.id)?;
                    let Some(manifest) = manifest.as_mut() else {
                        continue;
                    };
                    manifest.layers.push(meta.clone());
                    let text = serde_json::to_string(&manifest).unwrap_or_default();
                    tx.execute(
                        "UPDATE zoneatlas._meta SET value = $1 WHERE key = 'manifest'",
                        &[&text],
                    )?;
                    new_layers.push((meta.id.clone(), meta.geometry));
                }
            }
            let mut records = Vec::with_capacity(changes.len());
            let log = tx.prepare(
                "INSERT INTO zoneatlas._changes(revision, time, who, op, collection, feature_id, feature, status, size)
                 VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8, $9) RETURNING seq",
            )?;
            for (who, c) in changes {
                let layer = c.layer();
                let t = quote(layer);
                let kind = kinds
                    .get(layer)
                    .copied()
                    .or_else(|| new_layers.iter().find(|(l, _)| l == layer).map(|(_, k)| *k))
                    .unwrap_or(GeometryKind::Point);
                let Some(entry) = Entry::of(c, next, kind, &status_property) else {
                    continue;
                };
                match (c, &entry.feature) {
                    (Change::Delete { id, .. }, _) => {
                        tx.execute(
                            &format!("DELETE FROM {t} WHERE zoneatlas_id = $1"),
                            &[id],
                        )?;
                    }
                    (_, Some(f)) => {
                        let wkb = wkb::encode_wkb(&f.geometry);
                        let props = serde_json::to_string(&f.properties).unwrap_or_default();
                        let rev = next as i64;
                        let n = if matches!(c, Change::Create { .. }) {
                            tx.execute(
                                &format!("INSERT INTO {t} (zoneatlas_id, zoneatlas_numeric, zoneatlas_revision, geom, properties) VALUES ($1, $2, $3, ST_GeomFromWKB($4, 4326), $5::text::jsonb)"),
                                &[&f.id, &f.numeric_id, &rev, &wkb, &props],
                            )?
                        } else {
                            tx.execute(
                                &format!("UPDATE {t} SET zoneatlas_numeric = $2, zoneatlas_revision = $3, geom = ST_GeomFromWKB($4, 4326), properties = $5::text::jsonb WHERE zoneatlas_id = $1"),
                                &[&f.id, &f.numeric_id, &rev, &wkb, &props],
                            )?
                        };
                        if n != 1 {
                            // The snapshot said the row was there; it is
                            // not: an SQL edit not yet logged to us.
                            return Ok(Err(Ok(at as u64 + 1)));
                        }
                    }
                    _ => continue,
                }
                let seq: i64 = tx
                    .query_one(
                        &log,
                        &[
                            &(next as i64),
                            &now,
                            who,
                            &entry.op,
                            &layer,
                            &entry.id,
                            &entry.after,
                            &entry.status,
                            &entry.size,
                        ],
                    )?
                    .get(0);
                records.push(entry.record(seq as u64, next, &now, who, layer));
            }
            let rev = next.to_string();
            tx.execute(
                "UPDATE zoneatlas._meta SET value = $1 WHERE key = 'revision'",
                &[&rev],
            )?;
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &rev])?;
            if let Some((meta, expected)) = adopting {
                let mut meta = meta.clone();
                meta.adopted_revision = Some(next);
                meta.updated = now.clone();
                if let Err(e) = super::proposals::save_in(&mut tx, &meta, Some(expected), &[])? {
                    return Ok(Err(Err(e)));
                }
            }
            tx.commit()?;
            Ok(Ok(records))
        });
        match outcome? {
            Ok(records) => {
                self.kinds.extend(new_layers);
                Ok(Committed {
                    revision: next,
                    records,
                })
            }
            Err(Ok(at)) => Err(StoreError::Behind(at)),
            Err(Err(e)) => Err(e),
        }
    }

    /// `Store::changes_since`: the database's revision and the change-log
    /// rows after `revision`, read in one snapshot of the database.
    pub(super) fn rows_since(
        &mut self,
        revision: u64,
    ) -> Result<(u64, Vec<ChangeRecord>), StoreError> {
        let (latest, records) = self.with(|c| {
            let mut tx = c
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let latest: i64 = tx
                .query_one(
                    "SELECT value::bigint FROM zoneatlas._meta WHERE key = 'revision'",
                    &[],
                )?
                .get(0);
            if latest as u64 <= revision {
                return Ok((latest as u64, Vec::new()));
            }
            let rows = tx.query(
                &format!("SELECT {} FROM zoneatlas._changes WHERE revision > $1 AND revision <= $2 ORDER BY seq", super::history::RECORD_COLUMNS),
                &[&(revision as i64), &latest],
            )?;
            tx.commit()?;
            Ok((latest as u64, rows.iter().map(super::history::record).collect()))
        })?;
        if latest < revision {
            tracing::error!(
                store = %shown(&self.conn.url),
                database = latest,
                served = revision,
                "the database is behind what this server serves (restored from a backup?); restart the server"
            );
        }
        Ok((latest.max(revision), records))
    }
}

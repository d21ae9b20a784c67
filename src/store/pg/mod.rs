//! PostGIS as the system of record (`--store postgresql://user@host/db`):
//! any number of zoneatlas servers share one database, and QGIS or SQL may
//! edit its tables too.
//!
//! Everything lives in the schema `zoneatlas`: one table per layer (named
//! as the layer: `geom geometry(Geometry, 4326)` with a GiST index,
//! `properties jsonb`, the feature id and revision), and the tables `_meta`
//! (manifest, coverage rules, revision, schema version), `_changes` (the
//! change log, each row with the feature as GeoJSON), `_tokens`, and
//! `_proposals` with `_proposal_changes` (drafts beside the record).
//!
//! Every commit takes the revision row's lock first, so commits are
//! serialised and the log is in revision order. A server commits only from
//! the revision its snapshot shows (`StoreError::Behind` otherwise: catch
//! up, validate again, retry), and announces each revision with
//! `NOTIFY zoneatlas`. A row trigger logs edits made outside zoneatlas the
//! same way (one revision per transaction), so every server hears of them.
//!
//! The files: `conn` (connections that reconnect), `schema` (migrations,
//! layer tables), `copy` (a layer in bulk, a row back to a feature),
//! `commit`, `follow` (LISTEN), `history` (the change log's reader),
//! `proposals`.
//!
//! Must not: know about HTTP, indexes or coverage answers.

mod commit;
mod conn;
mod copy;
mod follow;
mod history;
mod proposals;
mod schema;

use std::collections::HashMap;
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;

use super::log;
use super::{
    ChangeRecord, Committed, Dataset, Follower, History, Role, Store, StoreError, TokenRecord,
};
use crate::load::Manifest;
use crate::model::{GeometryKind, Layer, LayerMeta, DEFAULT_STATUS_PROPERTY};
use conn::{connect, Conn};
use copy::{copy_layer, feature_from_row};
use follow::PgFollower;
use history::PgHistory;
use schema::{create_layer_table, migrate};

/// The channel commits are announced on.
pub const CHANNEL: &str = "zoneatlas";

/// Whether a `--store` value names a PostgreSQL database.
pub fn is_url(s: &str) -> bool {
    s.starts_with("postgresql://") || s.starts_with("postgres://")
}

/// The URL without its password, for logs and messages.
pub fn shown(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.split_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{scheme}://{name}:***@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

pub(super) fn quote(name: &str) -> String {
    format!("zoneatlas.\"{}\"", name.replace('"', "\"\""))
}

/// A PostGIS database holding a zone.
pub struct PgStore {
    conn: Conn,
    status_property: String,
    kinds: HashMap<String, GeometryKind>,
}

impl PgStore {
    /// Connect (waiting for the database with a log line every attempt when
    /// `wait`), bring the schema up to date, read the revision. The store
    /// may still hold no zone (`is_empty`): see `create`.
    pub fn open(url: &str, wait: bool) -> Result<PgStore, StoreError> {
        let mut delay = Duration::from_millis(250);
        let mut client = loop {
            match connect(url, "writer") {
                Ok(c) => break c,
                Err(e) if wait => {
                    tracing::warn!(error = %e, retry_in = ?delay, "waiting for the database");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
                Err(e) => return Err(e),
            }
        };
        migrate(&mut client, url)?;
        let mut store = PgStore {
            conn: Conn {
                url: url.to_owned(),
                role: "writer",
                client: Some(client),
            },
            status_property: DEFAULT_STATUS_PROPERTY.to_owned(),
            kinds: HashMap::new(),
        };
        if let Some(m) = store.read_manifest()? {
            store.kinds = m
                .layers
                .iter()
                .map(|l| (l.id.clone(), l.geometry))
                .collect();
        }
        store.status_property = log::status_property(store.read_rules()?.as_deref());
        Ok(store)
    }

    /// Whether the database holds no zone yet.
    pub fn is_empty(&mut self) -> Result<bool, StoreError> {
        Ok(self.read_manifest()?.is_none())
    }

    pub(super) fn with<T>(
        &mut self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        self.conn.with(f)
    }

    fn meta(&mut self, key: &str) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            c.query_opt("SELECT value FROM zoneatlas._meta WHERE key = $1", &[&key])
                .map(|r| r.map(|r| r.get(0)))
        })
    }

    pub(super) fn read_revision(&mut self) -> Result<u64, StoreError> {
        Ok(self
            .meta("revision")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    pub(super) fn read_manifest(&mut self) -> Result<Option<Manifest>, StoreError> {
        let Some(text) = self.meta("manifest")? else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| self.corrupt(format!("the manifest in _meta: {e}")))
    }

    /// The coverage rules' text, if any (the catalog parses them).
    fn read_rules(&mut self) -> Result<Option<String>, StoreError> {
        self.meta("coverage")
    }

    pub(super) fn corrupt(&self, message: String) -> StoreError {
        StoreError::Corrupt {
            path: shown(&self.conn.url),
            message,
        }
    }

    /// Add a token (the caller holds the secret).
    pub fn add_token(&mut self, name: &str, role: Role, hash: &[u8; 32]) -> Result<(), StoreError> {
        let now = crate::clock::format(crate::clock::now());
        let hash = crate::hex::encode(hash);
        self.with(|c| {
            c.execute(
                "INSERT INTO zoneatlas._tokens(name, role, hash, created) VALUES ($1, $2, $3, $4)",
                &[&name, &role.name(), &hash, &now],
            )
        })
        .map(|_| ())
    }

    /// Remove a token; false when there was none of that name.
    pub fn revoke_token(&mut self, name: &str) -> Result<bool, StoreError> {
        self.with(|c| c.execute("DELETE FROM zoneatlas._tokens WHERE name = $1", &[&name]))
            .map(|n| n > 0)
    }

    /// Fill an empty database from a dataset as revision 1, in one
    /// transaction; with a `replay`, each of its steps follows as its own
    /// revision. When another server filled it meanwhile, theirs is kept.
    pub fn create(
        url: &str,
        data: &Dataset,
        replay: Option<&crate::store::replay::Replay>,
    ) -> Result<PgStore, StoreError> {
        let mut store = PgStore::open(url, true)?;
        let status_property = log::status_property(data.rules.as_deref());
        let now = crate::clock::format(replay.map_or_else(crate::clock::now, |r| r.import));
        let fresh = store.with(|c| {
            let mut tx = c.transaction()?;
            tx.batch_execute(
                "SELECT pg_advisory_xact_lock(hashtext('zoneatlas')); SET LOCAL zoneatlas.writer = 'on'",
            )?;
            let taken = tx
                .query_opt("SELECT 1 FROM zoneatlas._meta WHERE key = 'manifest'", &[])?
                .is_some();
            if taken {
                return Ok(false);
            }
            let manifest = serde_json::to_string(&data.manifest).unwrap_or_default();
            tx.execute(
                "INSERT INTO zoneatlas._meta(key, value) VALUES ('manifest', $1), ('created', $2)",
                &[&manifest, &now],
            )?;
            tx.execute(
                "UPDATE zoneatlas._meta SET value = '1' WHERE key = 'revision'",
                &[],
            )?;
            if let Some(text) = &data.rules {
                tx.execute(
                    "INSERT INTO zoneatlas._meta(key, value) VALUES ('coverage', $1)",
                    &[&text],
                )?;
            }
            for layer in &data.layers {
                create_layer_table(&mut tx, &layer.meta.id)?;
                copy_layer(&mut tx, layer, &now, &status_property)?;
                tx.batch_execute(&format!("ANALYZE {}", quote(&layer.meta.id)))?;
            }
            tx.commit()?;
            Ok(true)
        })?;
        if !fresh {
            tracing::info!(store = %shown(url), "the database was filled by another server meanwhile; keeping it");
        }
        let mut store = PgStore::open(url, false)?;
        if fresh {
            if let Some(replay) = replay {
                for (time, changes) in &replay.steps {
                    let base = store.read_revision()?;
                    store.commit_at(base, changes, Some(*time))?;
                }
            }
        }
        Ok(store)
    }

    fn read_layer(
        &mut self,
        meta: &LayerMeta,
        left_out: &mut Vec<crate::model::LeftOut>,
    ) -> Result<Layer, StoreError> {
        let sql = format!(
            "SELECT zoneatlas_id, zoneatlas_numeric, zoneatlas_revision, ST_AsBinary(geom), properties::text FROM {} ORDER BY fid",
            quote(&meta.id)
        );
        let mut skipped = Vec::new();
        let features = self.with(|c| {
            let mut rows = c.query_raw(&sql, std::iter::empty::<String>())?;
            let mut features = Vec::new();
            while let Some(row) = rows.next()? {
                let id: String = row.get(0);
                match feature_from_row(
                    id.clone(),
                    row.get(1),
                    row.get(2),
                    row.get(3),
                    row.get(4),
                    meta.geometry,
                ) {
                    Ok(f) => features.push(f),
                    Err(e) => skipped.push((id, e.to_string())),
                }
            }
            Ok(features)
        })?;
        // Rows edited outside zoneatlas may break the layer's rules; they
        // are left out (and named) rather than keeping the zone from loading.
        for (id, reason) in skipped {
            tracing::warn!(layer = %meta.id, id = %id, "left out a feature that breaks the layer's rules: {reason}");
            left_out.push(crate::model::LeftOut {
                layer: meta.id.clone(),
                id,
                reason,
            });
        }
        Ok(Layer::new(meta.clone(), features))
    }
}

/// Fill an empty database from a data folder (validated as `check` does),
/// keeping its `coverage.toml` text; as `gpkg::create_from_folder`.
pub fn create_from_folder(url: &str, dir: &std::path::Path) -> Result<PgStore, StoreError> {
    let (data, replay) = super::folder::read_for_store(dir)?;
    PgStore::create(url, &data, replay.as_ref())
}

/// The access tokens, read through `conn`.
fn read_tokens(conn: &mut Conn) -> Result<Vec<TokenRecord>, StoreError> {
    let rows = conn.with(|c| {
        c.query(
            "SELECT name, role, hash, created FROM zoneatlas._tokens ORDER BY name",
            &[],
        )
    })?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(TokenRecord {
                name: r.get(0),
                role: Role::parse(r.get(1))?,
                hash: crate::hex::decode32(r.get(2))?,
                created: r.get(3),
            })
        })
        .collect())
}

/// The tokens' reader, on its own connection.
struct PgTokens(Conn);

impl super::TokenReader for PgTokens {
    fn tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError> {
        read_tokens(&mut self.0)
    }
}

impl Store for PgStore {
    fn describe(&self) -> String {
        format!("{} (PostGIS)", shown(&self.conn.url))
    }

    fn load(&mut self) -> Result<Dataset, StoreError> {
        let manifest = self.read_manifest()?.ok_or_else(|| {
            self.corrupt("holds no zone yet; serve it once with --data DIR to fill it".into())
        })?;
        let rules = self.read_rules()?;
        let revision = self.read_revision()?;
        self.kinds = manifest
            .layers
            .iter()
            .map(|l| (l.id.clone(), l.geometry))
            .collect();
        let mut left_out = Vec::new();
        let layers = manifest
            .layers
            .iter()
            .map(|m| self.read_layer(m, &mut left_out))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Dataset {
            manifest,
            layers,
            rules,
            revision,
            version: revision,
            left_out,
        })
    }

    fn editable(&self) -> bool {
        true
    }

    fn writable(&self) -> bool {
        true
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError> {
        read_tokens(&mut self.conn)
    }

    fn history(&self) -> Result<Option<Box<dyn History>>, StoreError> {
        Ok(Some(Box::new(PgHistory(Conn::new(
            &self.conn.url,
            "history",
        )))))
    }

    fn set_rules(&mut self, text: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO zoneatlas._meta(key, value) VALUES ('coverage', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&text],
            )
        })
        .map(|_| ())
    }

    fn follower(&self) -> Result<Option<Box<dyn Follower>>, StoreError> {
        Ok(Some(Box::new(PgFollower(Conn::new(
            &self.conn.url,
            "follower",
        )))))
    }

    fn add_token(&mut self, name: &str, role: Role, hash: &[u8; 32]) -> Result<(), StoreError> {
        PgStore::add_token(self, name, role, hash)
    }

    fn revoke_token(&mut self, name: &str) -> Result<bool, StoreError> {
        PgStore::revoke_token(self, name)
    }

    fn token_reader(&self) -> Result<Option<Box<dyn super::TokenReader>>, StoreError> {
        Ok(Some(Box::new(PgTokens(Conn::new(
            &self.conn.url,
            "tokens",
        )))))
    }

    fn commit(
        &mut self,
        base: u64,
        changes: &[(String, super::Change)],
        time: Option<crate::clock::Unix>,
    ) -> Result<Committed, StoreError> {
        self.commit_at(base, changes, time)
    }

    fn changes_since(
        &mut self,
        revision: u64,
    ) -> Result<Option<(u64, Vec<ChangeRecord>)>, StoreError> {
        self.rows_since(revision).map(Some)
    }

    fn proposals_since(
        &mut self,
        after: u64,
    ) -> Result<Option<super::proposal::ProposalsRead>, StoreError> {
        self.proposals_after(after).map(Some)
    }

    fn save_proposal(
        &mut self,
        meta: &super::proposal::ProposalMeta,
        expected: Option<u64>,
        rows: &[super::proposal::ProposalRow],
    ) -> Result<Vec<u64>, StoreError> {
        self.save_proposal_at(meta, expected, rows)
    }

    fn adopt(
        &mut self,
        base: u64,
        changes: &[(String, super::Change)],
        meta: &super::proposal::ProposalMeta,
        expected: u64,
    ) -> Result<Committed, StoreError> {
        self.commit_adopting(base, changes, None, Some((meta, expected)))
    }
}

#[cfg(test)]
mod tests {
    use super::copy::{copy_text, ewkb_hex};
    use super::*;

    #[test]
    fn passwords_never_reach_the_logs() {
        assert_eq!(
            shown("postgresql://za:s3cret@db.example:5432/zone"),
            "postgresql://za:***@db.example:5432/zone"
        );
        assert_eq!(
            shown("postgresql://za@127.0.0.1/zone"),
            "postgresql://za@127.0.0.1/zone"
        );
        assert!(is_url("postgres://x/y") && !is_url("zone.gpkg"));
    }

    #[test]
    fn ewkb_carries_srid_4326() {
        let g = geo::Geometry::Point(geo::Point::new(113.5, 34.75));
        let h = ewkb_hex(&g);
        // little endian, type 1 with the SRID flag, SRID 4326 (0x10E6).
        assert!(h.starts_with("0101000020e6100000"), "{h}");
        assert_eq!(h.len(), 2 * (1 + 4 + 4 + 16));
    }

    #[test]
    fn copy_text_escapes_what_copy_reads_specially() {
        let mut out = String::new();
        copy_text("a\\b\tc\nd", &mut out);
        assert_eq!(out, "a\\\\b\\tc\\nd");
    }
}

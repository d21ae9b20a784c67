//! PostGIS as the system of record (`--store postgresql://user@host/db`):
//! any number of zoneatlas servers share one database, and QGIS or SQL may
//! edit its tables too.
//!
//! Everything lives in the schema `zoneatlas`: one table per layer (named
//! as the layer: `geom geometry(Geometry, 4326)` with a GiST index,
//! `properties jsonb`, the feature id and revision), and the tables `_meta`
//! (manifest, coverage rules, revision, schema version), `_changes` (the
//! change log, each row with the feature as GeoJSON) and `_tokens`.
//!
//! Every commit takes the revision row's lock first, so commits are
//! serialised and the log is in revision order. A server commits only from
//! the revision its snapshot shows (`StoreError::Behind` otherwise: catch
//! up, validate again, retry), and announces each revision with
//! `NOTIFY zoneatlas`. A row trigger logs edits made outside zoneatlas the
//! same way (one revision per transaction), so every server hears of them.
//!
//! Must not: know about HTTP, indexes or coverage answers.

use std::collections::HashMap;
use std::time::Duration;

use geo::BoundingRect;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};

use super::gpkg::{feature_json, hex, logged_shape, unhex};
use super::{
    wkb, Change, ChangeRecord, Committed, Dataset, Follower, History, Role, Shape, ShapeChange,
    Store, StoreError, TokenRecord,
};
use crate::coverage::rules::{self, Rules};
use crate::load::Manifest;
use crate::model::{Feature, GeometryKind, Layer, LayerMeta};

/// The channel commits are announced on.
pub const CHANNEL: &str = "zoneatlas";

/// Schema migrations, applied in order; `_meta.schema_version` counts those
/// applied. Append, never edit: a database at version N runs N+1.. only.
const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE zoneatlas._changes (
    seq bigserial PRIMARY KEY, revision bigint NOT NULL, time text NOT NULL,
    who text NOT NULL, op text NOT NULL, collection text NOT NULL,
    feature_id text NOT NULL, feature jsonb, status text, size double precision);
CREATE INDEX _changes_revision ON zoneatlas._changes(revision);
CREATE INDEX _changes_feature ON zoneatlas._changes(collection, feature_id);
CREATE TABLE zoneatlas._tokens (
    name text PRIMARY KEY, role text NOT NULL, hash text NOT NULL, created text NOT NULL);
INSERT INTO zoneatlas._meta(key, value) VALUES ('revision', '0');
CREATE FUNCTION zoneatlas._feature(fid text, num boolean, g geometry, p jsonb)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $f$
  SELECT jsonb_build_object('type', 'Feature',
    'id', CASE WHEN num THEN to_jsonb(fid::numeric) ELSE to_jsonb(fid) END,
    'geometry', ST_AsGeoJSON(g, 15)::jsonb,
    'properties', coalesce(p, '{}'::jsonb))
$f$;
-- Edits made outside zoneatlas (QGIS, psql): one revision per transaction,
-- logged and announced like zoneatlas's own. zoneatlas's writes set
-- zoneatlas.writer and log themselves.
CREATE FUNCTION zoneatlas._log_edit() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE
  rev bigint;
  t text := to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"');
  who text := 'sql:' || session_user;
BEGIN
  IF current_setting('zoneatlas.writer', true) = 'on' THEN
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
  END IF;
  rev := nullif(current_setting('zoneatlas.sql_revision', true), '')::bigint;
  IF rev IS NULL THEN
    UPDATE zoneatlas._meta SET value = (value::bigint + 1)::text
      WHERE key = 'revision' RETURNING value::bigint INTO rev;
    PERFORM set_config('zoneatlas.sql_revision', rev::text, true);
    PERFORM pg_notify('zoneatlas', rev::text);
  END IF;
  IF TG_OP = 'DELETE' THEN
    INSERT INTO zoneatlas._changes(revision, time, who, op, collection, feature_id)
      VALUES (rev, t, who, 'delete', TG_TABLE_NAME, OLD.zoneatlas_id);
    RETURN OLD;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    IF NEW.zoneatlas_id IS DISTINCT FROM OLD.zoneatlas_id THEN
      INSERT INTO zoneatlas._changes(revision, time, who, op, collection, feature_id)
        VALUES (rev, t, who, 'delete', TG_TABLE_NAME, OLD.zoneatlas_id);
    END IF;
  END IF;
  NEW.zoneatlas_revision := rev;
  INSERT INTO zoneatlas._changes(revision, time, who, op, collection, feature_id, feature)
    VALUES (rev, t, who, CASE WHEN TG_OP = 'INSERT' THEN 'create' ELSE 'replace' END,
            TG_TABLE_NAME, NEW.zoneatlas_id,
            zoneatlas._feature(NEW.zoneatlas_id, NEW.zoneatlas_numeric, NEW.geom, NEW.properties));
  RETURN NEW;
END
$f$;
"#];

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

fn quote(name: &str) -> String {
    format!("zoneatlas.\"{}\"", name.replace('"', "\"\""))
}

/// Run blocking database work. The `postgres` client drives its own small
/// runtime, which tokio forbids on an async worker thread; some store calls
/// (token checks) come from one, so they leave the worker first.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Closing a client blocks too (it says goodbye to the server), and a
/// server shutting down drops its store inside the runtime.
fn close(client: &mut Option<Client>) {
    if let Some(c) = client.take() {
        blocking(move || drop(c));
    }
}

/// A connection, failing within a few seconds when the server is away.
fn connect(url: &str, role: &str) -> Result<Client, StoreError> {
    blocking(|| connect_now(url, role))
}

fn connect_now(url: &str, role: &str) -> Result<Client, StoreError> {
    let mut cfg: postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", shown(url))))?;
    cfg.connect_timeout(Duration::from_secs(3))
        .keepalives_idle(Duration::from_secs(10))
        .application_name(&format!("zoneatlas-{role}"));
    cfg.connect(NoTls)
        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", shown(url))))
}

/// A database error as a store error (the write, if any, was not made).
fn failed(url: &str) -> impl Fn(postgres::Error) -> StoreError + '_ {
    move |e| StoreError::Unavailable(format!("{}: {}", shown(url), describe_error(&e)))
}

fn describe_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// A PostGIS database holding a zone.
pub struct PgStore {
    conn: Conn,
    /// The revision this server's snapshot shows (what it commits from).
    revision: u64,
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
            revision: 0,
            status_property: rules::DEFAULT_STATUS_PROPERTY.to_owned(),
            kinds: HashMap::new(),
        };
        store.revision = store.read_revision()?;
        if let Some(m) = store.read_manifest()? {
            store.kinds = m
                .layers
                .iter()
                .map(|l| (l.id.clone(), l.geometry))
                .collect();
        }
        if let Some(r) = store.read_rules()? {
            store.status_property = r.scenarios.status_property;
        }
        Ok(store)
    }

    /// Whether the database holds no zone yet.
    pub fn is_empty(&mut self) -> Result<bool, StoreError> {
        Ok(self.read_manifest()?.is_none())
    }

    fn with<T>(
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

    fn read_revision(&mut self) -> Result<u64, StoreError> {
        Ok(self
            .meta("revision")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    fn read_manifest(&mut self) -> Result<Option<Manifest>, StoreError> {
        let Some(text) = self.meta("manifest")? else {
            return Ok(None);
        };
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| self.corrupt(format!("the manifest in _meta: {e}")))
    }

    fn read_rules(&mut self) -> Result<Option<Rules>, StoreError> {
        let Some(text) = self.meta("coverage")? else {
            return Ok(None);
        };
        rules::parse(&text)
            .map(Some)
            .map_err(|e| self.corrupt(format!("the coverage rules in _meta: {e}")))
    }

    fn corrupt(&self, message: String) -> StoreError {
        StoreError::Corrupt {
            path: shown(&self.conn.url),
            message,
        }
    }

    fn read_layer(&mut self, meta: &LayerMeta) -> Result<Layer, StoreError> {
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
                    Err(e) => skipped.push(format!("{id:?}: {e}")),
                }
            }
            Ok(features)
        })?;
        // Rows edited outside zoneatlas may break the layer's rules; they
        // are left out (and named) rather than keeping the zone from loading.
        for s in &skipped {
            tracing::warn!(layer = %meta.id, "left out a feature that breaks the layer's rules: {s}");
        }
        Ok(Layer::new(meta.clone(), features))
    }

    /// Add a token (the caller holds the secret).
    pub fn add_token(&mut self, name: &str, role: Role, hash: &[u8; 32]) -> Result<(), StoreError> {
        let now = crate::clock::format(crate::clock::now());
        let hash = hex(hash);
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
        rules_text: Option<&str>,
        replay: Option<&super::replay::Replay>,
    ) -> Result<PgStore, StoreError> {
        let mut store = PgStore::open(url, true)?;
        let status_property = data
            .rules
            .as_ref()
            .map_or(rules::DEFAULT_STATUS_PROPERTY, |r| {
                r.scenarios.status_property.as_str()
            })
            .to_owned();
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
            if let Some(text) = rules_text {
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
                    store.commit(changes, Some(*time))?;
                }
            }
        }
        Ok(store)
    }
}

/// Bring the schema to the latest version, under an advisory lock so that
/// servers starting together migrate once.
fn migrate(client: &mut Client, url: &str) -> Result<(), StoreError> {
    let fail = failed(url);
    let mut tx = client.transaction().map_err(&fail)?;
    tx.batch_execute(
        "SELECT pg_advisory_xact_lock(hashtext('zoneatlas'));
         CREATE EXTENSION IF NOT EXISTS postgis;
         CREATE SCHEMA IF NOT EXISTS zoneatlas;
         CREATE TABLE IF NOT EXISTS zoneatlas._meta (key text PRIMARY KEY, value text NOT NULL);",
    )
    .map_err(&fail)?;
    let version: usize = tx
        .query_opt(
            "SELECT value FROM zoneatlas._meta WHERE key = 'schema_version'",
            &[],
        )
        .map_err(&fail)?
        .and_then(|r| r.get::<_, String>(0).parse().ok())
        .unwrap_or(0);
    if version > MIGRATIONS.len() {
        return Err(StoreError::Unavailable(format!(
            "{}: the schema is at version {version}, newer than this zoneatlas knows ({}); upgrade zoneatlas",
            shown(url),
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        tx.batch_execute(sql).map_err(&fail)?;
        tracing::info!(store = %shown(url), version = i + 1, "schema migrated");
    }
    tx.execute(
        "INSERT INTO zoneatlas._meta(key, value) VALUES ('schema_version', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&MIGRATIONS.len().to_string()],
    )
    .map_err(&fail)?;
    tx.commit().map_err(&fail)
}

fn create_layer_table(tx: &mut postgres::Transaction, id: &str) -> Result<(), postgres::Error> {
    let t = quote(id);
    let bare = id.replace('"', "\"\"");
    tx.batch_execute(&format!(
        "CREATE TABLE {t} (
            fid bigserial PRIMARY KEY,
            zoneatlas_id text NOT NULL UNIQUE DEFAULT gen_random_uuid()::text,
            zoneatlas_numeric boolean NOT NULL DEFAULT false,
            zoneatlas_revision bigint NOT NULL DEFAULT 0,
            geom geometry(Geometry, 4326) NOT NULL,
            properties jsonb NOT NULL DEFAULT '{{}}'::jsonb);
         CREATE INDEX \"{bare}_geom\" ON {t} USING gist (geom);
         CREATE TRIGGER log_edit BEFORE INSERT OR UPDATE OR DELETE ON {t}
            FOR EACH ROW EXECUTE FUNCTION zoneatlas._log_edit();"
    ))
}

/// COPY text format: backslash, tab and line breaks escaped.
fn copy_text(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// EWKB in hex, the geometry text PostGIS reads in COPY (SRID 4326 in it).
fn ewkb_hex(g: &geo::Geometry) -> String {
    let mut b = wkb::encode_wkb(g);
    let kind = u32::from_le_bytes([b[1], b[2], b[3], b[4]]) | 0x2000_0000;
    b.splice(1..5, kind.to_le_bytes());
    b.splice(5..5, 4326u32.to_le_bytes());
    hex(&b)
}

/// A layer's features and their change-log rows, by COPY (fast enough for
/// a million features).
fn copy_layer(
    tx: &mut postgres::Transaction,
    layer: &Layer,
    now: &str,
    status_property: &str,
) -> Result<(), postgres::Error> {
    use std::io::Write;
    let mut rows = String::new();
    let mut log = String::new();
    for f in &layer.features {
        let mut f = (**f).clone();
        f.revision = 1;
        copy_text(&f.id, &mut rows);
        rows.push('\t');
        rows.push(if f.numeric_id { 't' } else { 'f' });
        rows.push_str("\t1\t");
        rows.push_str(&ewkb_hex(&f.geometry));
        rows.push('\t');
        copy_text(
            &serde_json::to_string(&f.properties).unwrap_or_default(),
            &mut rows,
        );
        rows.push('\n');
        let (status, size) = logged_shape(&f, layer.meta.geometry, status_property);
        for (i, field) in [
            "1",
            now,
            "import",
            "create",
            &layer.meta.id,
            &f.id,
            &feature_json(&f),
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                log.push('\t');
            }
            copy_text(field, &mut log);
        }
        log.push('\t');
        match status {
            Some(s) => copy_text(&s, &mut log),
            None => log.push_str("\\N"),
        }
        log.push_str(&format!("\t{size}\n"));
    }
    let mut w = tx.copy_in(&format!(
        "COPY {} (zoneatlas_id, zoneatlas_numeric, zoneatlas_revision, geom, properties) FROM STDIN",
        quote(&layer.meta.id)
    ))?;
    // An io error here is the connection's; `finish` reports it.
    let _ = w.write_all(rows.as_bytes());
    w.finish()?;
    let mut w = tx.copy_in(
        "COPY zoneatlas._changes (revision, time, who, op, collection, feature_id, feature, status, size) FROM STDIN",
    )?;
    let _ = w.write_all(log.as_bytes());
    w.finish()?;
    Ok(())
}

fn feature_from_row(
    id: String,
    numeric_id: bool,
    revision: i64,
    geom: Vec<u8>,
    properties: String,
    kind: GeometryKind,
) -> Result<Feature, String> {
    let geometry = wkb::decode_wkb(&geom).map_err(|e| e.to_string())?;
    crate::load::validate_geometry(&geometry, kind)?;
    let bbox = geometry.bounding_rect().ok_or("empty geometry")?;
    let properties: crate::props::Props = serde_json::from_str(&properties)
        .map_err(|e| format!("properties are not a JSON object: {e}"))?;
    Ok(Feature {
        id,
        numeric_id,
        geometry,
        properties,
        bbox,
        revision: revision.max(0) as u64,
    })
}

/// One connection, opened on first use and again after a break; all its
/// work (closing too) done off the async workers.
struct Conn {
    url: String,
    /// `application_name` suffix, to tell the connections apart.
    role: &'static str,
    /// `None` until connected, and after the connection broke.
    client: Option<Client>,
}

impl Conn {
    fn new(url: &str, role: &'static str) -> Conn {
        Conn {
            url: url.to_owned(),
            role,
            client: None,
        }
    }

    /// Run `f` on the connection, connecting first if needed; a connection
    /// found broken is dropped so the next call reconnects.
    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        blocking(|| {
            if self.client.as_ref().is_none_or(|c| c.is_closed()) {
                self.client = None;
                self.client = Some(connect(&self.url, self.role)?);
            }
            let client = self.client.as_mut().expect("connected above");
            let out = f(client);
            if client.is_closed() {
                self.client = None;
            }
            out.map_err(failed(&self.url))
        })
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        close(&mut self.client);
    }
}

impl Store for PgStore {
    fn describe(&self) -> String {
        format!(
            "{} (PostGIS, revision {})",
            shown(&self.conn.url),
            self.revision
        )
    }

    fn load(&mut self) -> Result<Dataset, StoreError> {
        let manifest = self.read_manifest()?.ok_or_else(|| {
            self.corrupt("holds no zone yet; serve it once with --data DIR to fill it".into())
        })?;
        let rules = self.read_rules()?;
        self.revision = self.read_revision()?;
        self.kinds = manifest
            .layers
            .iter()
            .map(|l| (l.id.clone(), l.geometry))
            .collect();
        let layers = manifest
            .layers
            .iter()
            .map(|m| self.read_layer(m))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Dataset {
            manifest,
            layers,
            rules,
            revision: self.revision,
            version: self.revision,
        })
    }

    fn editable(&self) -> bool {
        true
    }

    fn writable(&self) -> bool {
        true
    }

    fn commit(
        &mut self,
        changes: &[(String, Change)],
        time: Option<crate::clock::Unix>,
    ) -> Result<Committed, StoreError> {
        let expected = self.revision;
        let next = expected + 1;
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
            if at as u64 != expected {
                return Ok(Err(at as u64));
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
                let (op, id, after, status, size) = match c {
                    Change::AddLayer { .. } => continue,
                    Change::Create { feature, .. } | Change::Replace { feature, .. } => {
                        let mut f = feature.clone();
                        f.revision = next;
                        let wkb = wkb::encode_wkb(&f.geometry);
                        let props = serde_json::to_string(&f.properties).unwrap_or_default();
                        let rev = next as i64;
                        let create = matches!(c, Change::Create { .. });
                        let n = if create {
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
                            // Our snapshot said the row was there; it is
                            // not: some SQL edit we have not heard of yet.
                            return Ok(Err(at as u64 + 1));
                        }
                        let kind = kinds.get(layer).copied().unwrap_or(GeometryKind::Point);
                        let (status, size) = logged_shape(&f, kind, &status_property);
                        let op = if create { "create" } else { "replace" };
                        (op, f.id.clone(), Some(feature_json(&f)), status, Some(size))
                    }
                    Change::Delete { id, .. } => {
                        tx.execute(
                            &format!("DELETE FROM {t} WHERE zoneatlas_id = $1"),
                            &[id],
                        )?;
                        ("delete", id.clone(), None, None, None)
                    }
                };
                let seq: i64 = tx
                    .query_one(
                        &log,
                        &[&(next as i64), &now, who, &op, &layer, &id, &after, &status, &size],
                    )?
                    .get(0);
                records.push(ChangeRecord {
                    seq: seq as u64,
                    revision: next,
                    time: now.clone(),
                    who: who.clone(),
                    op: op.to_owned(),
                    collection: layer.to_owned(),
                    feature_id: id,
                    feature: None,
                });
            }
            let rev = next.to_string();
            tx.execute(
                "UPDATE zoneatlas._meta SET value = $1 WHERE key = 'revision'",
                &[&rev],
            )?;
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &rev])?;
            tx.commit()?;
            Ok(Ok(records))
        });
        match outcome? {
            Ok(records) => {
                self.revision = next;
                self.kinds.extend(new_layers);
                Ok(Committed {
                    revision: next,
                    records,
                })
            }
            Err(at) => Err(StoreError::Behind(at)),
        }
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError> {
        let rows = self.with(|c| {
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
                    hash: unhex(r.get(2))?,
                    created: r.get(3),
                })
            })
            .collect())
    }

    fn history(&self) -> Result<Option<Box<dyn History>>, StoreError> {
        Ok(Some(Box::new(PgHistory(Conn::new(
            &self.conn.url,
            "history",
        )))))
    }

    fn set_rules(&mut self, text: &str) -> Result<(), StoreError> {
        rules::parse(text).map_err(|e| StoreError::Unavailable(format!("coverage rules: {e}")))?;
        self.with(|c| {
            c.execute(
                "INSERT INTO zoneatlas._meta(key, value) VALUES ('coverage', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&text],
            )
        })
        .map(|_| ())
    }

    fn changes_since(
        &mut self,
        revision: u64,
    ) -> Result<Option<(u64, Vec<ChangeRecord>)>, StoreError> {
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
                &format!("SELECT {RECORD_COLUMNS} FROM zoneatlas._changes WHERE revision > $1 AND revision <= $2 ORDER BY seq"),
                &[&(revision as i64), &latest],
            )?;
            tx.commit()?;
            Ok((latest as u64, rows.iter().map(record).collect()))
        })?;
        if latest < revision {
            tracing::error!(
                store = %shown(&self.conn.url),
                database = latest,
                served = revision,
                "the database is behind what this server serves (restored from a backup?); restart the server"
            );
        }
        self.revision = latest.max(revision);
        Ok(Some((self.revision, records)))
    }

    fn follower(&self) -> Result<Option<Box<dyn Follower>>, StoreError> {
        Ok(Some(Box::new(PgFollower(Conn::new(
            &self.conn.url,
            "follower",
        )))))
    }
}

/// LISTENs on its own connection (on its own thread, never an async
/// worker).
struct PgFollower(Conn);

impl Follower for PgFollower {
    fn wait(&mut self, timeout: Duration) -> Result<bool, StoreError> {
        let conn = &mut self.0;
        let Some(client) = conn.client.as_mut().filter(|c| !c.is_closed()) else {
            conn.client = None;
            conn.with(|c| c.batch_execute(&format!("LISTEN {CHANNEL}")))?;
            // Whatever was announced while we were away is in the log.
            return Ok(true);
        };
        let got = client.notifications().timeout_iter(timeout).next();
        match got {
            Ok(Some(_)) => {
                // One catch-up covers every announcement already here.
                while let Ok(Some(_)) = client.notifications().iter().next() {}
                Ok(true)
            }
            Ok(None) => match client.is_valid(Duration::from_secs(2)) {
                Ok(()) => Ok(false),
                Err(e) => {
                    conn.client = None;
                    Err(failed(&conn.url)(e))
                }
            },
            Err(e) => {
                conn.client = None;
                Err(failed(&conn.url)(e))
            }
        }
    }
}

const RECORD_COLUMNS: &str = "seq, revision, time, who, op, collection, feature_id, feature::text";

fn record(r: &postgres::Row) -> ChangeRecord {
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
    }
}

/// The change log, read on its own connection.
struct PgHistory(Conn);

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
                "SELECT revision, time FROM zoneatlas._changes ORDER BY seq DESC LIMIT 1",
                &[],
            )
        })
        .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
    }

    fn revision_time(&mut self, revision: u64) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            c.query_opt(
                "SELECT time FROM zoneatlas._changes WHERE revision = $1 LIMIT 1",
                &[&(revision.min(i64::MAX as u64) as i64)],
            )
        })
        .map(|r| r.map(|r| r.get(0)))
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

    fn states_at(&mut self, revision: u64) -> Result<Vec<super::PastState>, StoreError> {
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
            let (collection, id): (String, String) = (r.get(0), r.get(1));
            let rev: Option<i64> = r.get(2);
            let text: Option<String> = r.get(3);
            let state = match (rev, text) {
                (Some(rev), Some(t)) => Some((
                    rev as u64,
                    serde_json::from_str(&t).map_err(|e| StoreError::Corrupt {
                        path: shown(&self.0.url),
                        message: format!("change log entry of {collection}/{id}: {e}"),
                    })?,
                )),
                _ => None,
            };
            out.push((collection, id, state));
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

/// Fill an empty database from a data folder (validated as `check` does),
/// keeping its `coverage.toml` text; as `gpkg::create_from_folder`.
pub fn create_from_folder(url: &str, dir: &std::path::Path) -> Result<PgStore, StoreError> {
    let (data, replay, rules_text) = super::folder::read_for_store(dir)?;
    PgStore::create(url, &data, rules_text.as_deref(), replay.as_ref())
}

#[cfg(test)]
mod tests {
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

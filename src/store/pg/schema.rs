//! The `zoneatlas` schema in PostgreSQL: migrations applied once under an
//! advisory lock, and a layer's table.

use postgres::Client;

use super::conn::failed;
use super::{quote, shown};
use crate::store::StoreError;

/// Schema migrations, applied in order; `_meta.schema_version` counts those
/// applied. Append, never edit: a database at version N runs N+1.. only.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
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
"#,
    r#"
CREATE TABLE zoneatlas._proposals (
    id text PRIMARY KEY, title text NOT NULL, description text NOT NULL, author text NOT NULL,
    base bigint NOT NULL, status text NOT NULL, created text NOT NULL, updated text NOT NULL,
    version bigint NOT NULL, adopted_revision bigint);
CREATE TABLE zoneatlas._proposal_changes (
    seq bigserial PRIMARY KEY, proposal text NOT NULL, version bigint NOT NULL,
    time text NOT NULL, who text NOT NULL, op text NOT NULL, collection text NOT NULL,
    feature_id text NOT NULL, feature text, from_revision bigint NOT NULL);
CREATE INDEX _proposal_changes_proposal ON zoneatlas._proposal_changes(proposal, seq);
"#,
];

/// Bring the schema to the latest version, under an advisory lock so that
/// servers starting together migrate once.
pub(super) fn migrate(client: &mut Client, url: &str) -> Result<(), StoreError> {
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

pub(super) fn create_layer_table(
    tx: &mut postgres::Transaction,
    id: &str,
) -> Result<(), postgres::Error> {
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

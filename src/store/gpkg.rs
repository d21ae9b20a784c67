//! The GeoPackage store: one SQLite file (OGC GeoPackage 1.3) holding the
//! whole dataset, readable by QGIS and GDAL as it is.
//!
//! Layout:
//! - one feature table per layer (`gpkg_contents`, `gpkg_geometry_columns`,
//!   geometries in GeoPackage binary, EPSG:4326): `fid`, `geom`,
//!   `zoneatlas_id` (the feature id, TEXT or INTEGER as given),
//!   `zoneatlas_revision` (the revision that last wrote it), one typed column
//!   per scalar property, and `zoneatlas_extra` (JSON) for what a column
//!   cannot hold exactly (arrays, objects, nulls, a value of another type);
//! - `zoneatlas_meta`: the manifest (JSON), the coverage rules (TOML text),
//!   the revision;
//! - `zoneatlas_changes`: one row per changed feature per revision (the
//!   change log: who, when, what, the feature after the change);
//! - `zoneatlas_tokens`: access tokens, as SHA-256 hashes only.
//!
//! Durability: WAL journal, `synchronous=FULL`; `commit` returns after
//! SQLite's COMMIT, i.e. after the WAL is on disk.
//!
//! Must not: know about HTTP, indexes or coverage answers.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use geo::BoundingRect;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde_json::{Map, Value};

use super::{
    wkb, Change, ChangeRecord, Committed, Dataset, History, Role, Shape, ShapeChange, Store,
    StoreError, TokenRecord,
};
use crate::coverage::rules::{self, Rules};
use crate::load::Manifest;
use crate::model::{Feature, GeometryKind, Layer};

/// GeoPackage's `application_id` ("GPKG") and `user_version` for 1.3.
pub(super) const APPLICATION_ID: i64 = 0x4750_4B47;
const USER_VERSION: i64 = 10300;
/// Columns of ours in every feature table, besides the properties.
const OWN_COLUMNS: [&str; 5] = [
    "fid",
    "geom",
    "zoneatlas_id",
    "zoneatlas_revision",
    "zoneatlas_extra",
];

/// A GeoPackage file.
pub struct GpkgStore {
    path: PathBuf,
    conn: Connection,
    read_only: bool,
    /// Per layer: property name -> declared column type.
    columns: HashMap<String, BTreeMap<String, ColumnType>>,
    revision: u64,
    /// The latest commit's time: a commit is never logged before it.
    last_time: crate::clock::Unix,
    /// What the change log records of each feature besides its GeoJSON:
    /// its status (this property) and its size by layer kind, so progress
    /// reports never parse geometries (see `logged_shape`).
    status_property: String,
    kinds: HashMap<String, GeometryKind>,
}

/// A feature's status and size as the change log keeps them.
pub(super) fn logged_shape(
    f: &Feature,
    kind: GeometryKind,
    status_property: &str,
) -> (Option<String>, f64) {
    (
        f.property_text(status_property),
        crate::geodesy::feature_size(kind, &f.geometry),
    )
}

/// Whether the change log has the `status` and `size` columns (stores made
/// before they existed lack them until opened for writing).
fn log_has_sizes(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM pragma_table_info('zoneatlas_changes') WHERE name = 'size'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// The SQL type a property's column was declared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnType {
    Text,
    Integer,
    Real,
    Boolean,
}

impl ColumnType {
    fn sql(self) -> &'static str {
        match self {
            ColumnType::Text => "TEXT",
            ColumnType::Integer => "INTEGER",
            ColumnType::Real => "REAL",
            ColumnType::Boolean => "BOOLEAN",
        }
    }
    fn parse(s: &str) -> Option<ColumnType> {
        match s.to_ascii_uppercase().as_str() {
            "TEXT" => Some(ColumnType::Text),
            "INTEGER" | "INT" | "MEDIUMINT" | "SMALLINT" | "TINYINT" => Some(ColumnType::Integer),
            "REAL" | "DOUBLE" | "FLOAT" => Some(ColumnType::Real),
            "BOOLEAN" => Some(ColumnType::Boolean),
            _ => None,
        }
    }
    /// The column type a JSON value asks for; `None` for what no column
    /// holds exactly (null, arrays, objects). Numbers get REAL columns,
    /// whole or not: a width of 16 today may be 16.5 tomorrow, and an
    /// INTEGER column would make GDAL truncate it. A whole number reads
    /// back as a JSON integer.
    fn of(v: &Value) -> Option<ColumnType> {
        match v {
            Value::String(_) => Some(ColumnType::Text),
            Value::Bool(_) => Some(ColumnType::Boolean),
            Value::Number(_) => Some(ColumnType::Real),
            _ => None,
        }
    }
    /// Whether this column stores the value exactly.
    fn holds(self, v: &Value) -> bool {
        match (self, v) {
            (ColumnType::Text, Value::String(_)) | (ColumnType::Boolean, Value::Bool(_)) => true,
            (ColumnType::Real, Value::Number(n)) => real_exact(n),
            (ColumnType::Integer, Value::Number(n)) => n.is_i64(),
            _ => false,
        }
    }
}

pub(super) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |e| {
        // Busy, locked, full, read-only, I/O: the write was not made and a
        // later one may succeed.
        StoreError::Unavailable(format!("{}: {e}", path.display()))
    }
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

fn geometry_type_name(kind: GeometryKind) -> &'static str {
    // The multi- form is accepted too, so declare the generic kind GDAL
    // and QGIS understand for mixed single/multi tables.
    match kind {
        GeometryKind::Point => "GEOMETRY",
        GeometryKind::LineString => "GEOMETRY",
        GeometryKind::Polygon => "GEOMETRY",
    }
}

impl GpkgStore {
    /// Open an existing store file for reading and writing (read-only when
    /// the file or its folder is not writable).
    pub fn open(path: &Path) -> Result<GpkgStore, StoreError> {
        let corrupt = |message: String| StoreError::Corrupt {
            path: path.display().to_string(),
            message,
        };
        if !path.is_file() {
            return Err(corrupt(
                "no such store file (`zoneatlas serve --store FILE` creates it from a data folder on first start)".into(),
            ));
        }
        let writable = std::fs::OpenOptions::new().append(true).open(path).is_ok();
        let flags = if writable {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let conn = Connection::open_with_flags(path, flags)
            .map_err(|e| corrupt(format!("cannot open: {e}")))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| corrupt(e.to_string()))?;
        let app: i64 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| corrupt(format!("not an SQLite database: {e}")))?;
        if app != APPLICATION_ID {
            return Err(corrupt(format!(
                "not a GeoPackage (application_id {app:#x}, expected {APPLICATION_ID:#x})"
            )));
        }
        let has_meta: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'zoneatlas_meta'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(|e| corrupt(e.to_string()))?;
        if !has_meta {
            return Err(corrupt(
                "a GeoPackage, but not a zoneatlas store (no zoneatlas_meta table); import its layers instead".into(),
            ));
        }
        if writable {
            pragmas(&conn).map_err(|e| corrupt(e.to_string()))?;
        }
        let mut store = GpkgStore {
            path: path.to_path_buf(),
            conn,
            read_only: !writable,
            columns: HashMap::new(),
            revision: 0,
            last_time: 0,
            status_property: rules::DEFAULT_STATUS_PROPERTY.to_owned(),
            kinds: HashMap::new(),
        };
        store.revision = store.read_revision()?;
        let last: Option<String> = store
            .conn
            .query_row(
                "SELECT time FROM zoneatlas_changes ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| store.corrupt(format!("cannot read the change log: {e}")))?;
        if let Some(t) = last {
            store.last_time = crate::clock::parse(&t)
                .map_err(|e| store.corrupt(format!("the change log's latest time: {e}")))?;
        }
        // `commit` needs the columns even before a `load`.
        let manifest = store.read_manifest()?;
        store.kinds = manifest
            .layers
            .iter()
            .map(|l| (l.id.clone(), l.geometry))
            .collect();
        if let Some(rules) = store.read_rules()? {
            store.status_property = rules.scenarios.status_property;
        }
        if writable && !log_has_sizes(&store.conn).map_err(|e| store.corrupt(e.to_string()))? {
            // An older store: new changes record status and size; the old
            // ones are measured from their GeoJSON when asked.
            store
                .conn
                .execute_batch("ALTER TABLE zoneatlas_changes ADD COLUMN status TEXT; ALTER TABLE zoneatlas_changes ADD COLUMN size REAL;")
                .map_err(|e| store.corrupt(format!("cannot extend the change log: {e}")))?;
        }
        Ok(store)
    }

    /// Give the store coverage rules (the text of a `coverage.toml`), in
    /// place of any it had. The caller checks they resolve against the
    /// layers; a server on the store reads them at its next start.
    pub fn set_rules(&mut self, text: &str) -> Result<(), StoreError> {
        rules::parse(text).map_err(|e| StoreError::Unavailable(format!("coverage rules: {e}")))?;
        self.conn
            .execute(
                "INSERT INTO zoneatlas_meta(key, value) VALUES ('coverage', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![text],
            )
            .map_err(sql_err(&self.path))?;
        Ok(())
    }

    /// The coverage rules the store was created with, if any.
    fn read_rules(&self) -> Result<Option<Rules>, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM zoneatlas_meta WHERE key = 'coverage'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.corrupt(e.to_string()))?;
        text.map(|t| rules::parse(&t).map_err(|e| self.corrupt(format!("coverage rules: {e}"))))
            .transpose()
    }

    /// The manifest, and each layer's property columns as they are now.
    fn read_manifest(&mut self) -> Result<Manifest, StoreError> {
        let manifest: String = self
            .conn
            .query_row(
                "SELECT value FROM zoneatlas_meta WHERE key = 'manifest'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.corrupt(format!("no manifest: {e}")))?;
        let manifest: Manifest = serde_json::from_str(&manifest)
            .map_err(|e| self.corrupt(format!("the manifest is not valid: {e}")))?;
        self.read_columns(&manifest)?;
        Ok(manifest)
    }

    /// Create a new store file from a dataset (a data folder's), as revision
    /// 1 by `import`. The file is written under a temporary name and renamed
    /// into place, so a crash never leaves a half-made store.
    /// With a `replay`, `data` is the state at its import time, and each of
    /// its steps is committed after, at its own time, before the file is
    /// put in place.
    pub fn create(
        path: &Path,
        data: &Dataset,
        rules_text: Option<&str>,
        replay: Option<&super::replay::Replay>,
    ) -> Result<GpkgStore, StoreError> {
        if path.exists() {
            return Err(StoreError::Unavailable(format!(
                "{} exists already",
                path.display()
            )));
        }
        let tmp = path.with_extension(format!("partial-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let fail = |e: rusqlite::Error| StoreError::Unavailable(format!("{}: {e}", tmp.display()));
        {
            let mut conn = Connection::open(&tmp).map_err(fail)?;
            conn.execute_batch(&format!(
                "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {USER_VERSION};"
            ))
            .map_err(fail)?;
            let tx = conn.transaction().map_err(fail)?;
            create_schema(&tx).map_err(fail)?;
            let manifest = serde_json::to_string(&data.manifest)
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let now = crate::clock::format(replay.map_or_else(crate::clock::now, |r| r.import));
            tx.execute(
                "INSERT INTO zoneatlas_meta(key, value) VALUES ('manifest', ?1), ('revision', '1'), ('created', ?2)",
                params![manifest, now],
            )
            .map_err(fail)?;
            if let Some(text) = rules_text {
                tx.execute(
                    "INSERT INTO zoneatlas_meta(key, value) VALUES ('coverage', ?1)",
                    params![text],
                )
                .map_err(fail)?;
            }
            for layer in &data.layers {
                let columns = columns_for(&layer.features);
                create_layer_table(&tx, layer, &columns).map_err(fail)?;
                let mut insert = tx
                    .prepare(&insert_sql(&layer.meta.id, &columns))
                    .map_err(fail)?;
                let mut log = tx
                    .prepare(
                        "INSERT INTO zoneatlas_changes(revision, time, who, op, collection, feature_id, feature, status, size) VALUES (1, ?1, 'import', 'create', ?2, ?3, ?4, ?5, ?6)",
                    )
                    .map_err(fail)?;
                let status_property = data
                    .rules
                    .as_ref()
                    .map_or(rules::DEFAULT_STATUS_PROPERTY, |r| {
                        r.scenarios.status_property.as_str()
                    });
                for f in &layer.features {
                    let mut f = (**f).clone();
                    f.revision = 1;
                    insert_feature(&mut insert, &columns, &f).map_err(fail)?;
                    let (status, size) = logged_shape(&f, layer.meta.geometry, status_property);
                    log.execute(params![
                        now,
                        layer.meta.id,
                        f.id,
                        feature_json(&f),
                        status,
                        size
                    ])
                    .map_err(fail)?;
                }
            }
            tx.commit().map_err(fail)?;
        }
        if let Some(replay) = replay {
            let mut store = GpkgStore::open(&tmp)?;
            for (time, changes) in &replay.steps {
                store.commit(changes, Some(*time))?;
            }
        }
        {
            // One self-contained file (no -wal beside it) to link in place.
            let conn = Connection::open(&tmp).map_err(fail)?;
            conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")
                .map_err(fail)?;
        }
        sync_file(&tmp);
        // Link rather than rename: if another process created the store
        // meanwhile, keep theirs (a rename would pull it from under them).
        let linked = std::fs::hard_link(&tmp, path);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(StoreError::Unavailable(format!("{}: {e}", path.display()))),
        }
        if let Some(dir) = path.parent() {
            sync_file(dir);
        }
        GpkgStore::open(path)
    }

    /// Whether this process may write the file.
    pub fn is_writable(&self) -> bool {
        !self.read_only
    }

    fn read_revision(&self) -> Result<u64, StoreError> {
        let v: String = self
            .conn
            .query_row(
                "SELECT value FROM zoneatlas_meta WHERE key = 'revision'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.corrupt(format!("no revision: {e}")))?;
        v.parse()
            .map_err(|_| self.corrupt(format!("revision {v:?} is not a number")))
    }

    fn corrupt(&self, message: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.display().to_string(),
            message,
        }
    }

    /// Read each layer table's declared property columns.
    fn read_columns(&mut self, manifest: &Manifest) -> Result<(), StoreError> {
        self.columns.clear();
        for meta in &manifest.layers {
            let mut cols = BTreeMap::new();
            let mut stmt = self
                .conn
                .prepare(&format!("PRAGMA table_info({})", quote(&meta.id)))
                .map_err(|e| self.corrupt(e.to_string()))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
                .map_err(|e| self.corrupt(e.to_string()))?;
            for row in rows {
                let (name, ty) = row.map_err(|e| self.corrupt(e.to_string()))?;
                if OWN_COLUMNS.contains(&name.as_str()) {
                    continue;
                }
                // A column added by another tool with a type we do not know
                // is read as text.
                cols.insert(name, ColumnType::parse(&ty).unwrap_or(ColumnType::Text));
            }
            if cols.is_empty() && !self.table_exists(&meta.id)? {
                return Err(self.corrupt(format!("layer {:?} has no table", meta.id)));
            }
            self.columns.insert(meta.id.clone(), cols);
        }
        Ok(())
    }

    fn table_exists(&self, name: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                params![name],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(|e| self.corrupt(e.to_string()))
    }

    fn read_layer(&self, meta: &crate::model::LayerMeta) -> Result<Layer, StoreError> {
        let cols = self.columns.get(&meta.id).cloned().unwrap_or_default();
        let names: Vec<&String> = cols.keys().collect();
        let mut sql =
            String::from("SELECT geom, zoneatlas_id, zoneatlas_revision, zoneatlas_extra");
        for n in &names {
            sql.push_str(", ");
            sql.push_str(&quote(n));
        }
        sql.push_str(&format!(" FROM {} ORDER BY fid", quote(&meta.id)));
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(|e| self.corrupt(e.to_string()))?;
        let mut rows = stmt.query([]).map_err(|e| self.corrupt(e.to_string()))?;
        let mut features = Vec::new();
        let mut problems = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.corrupt(e.to_string()))? {
            let blob: Vec<u8> = row.get(0).map_err(|e| self.corrupt(e.to_string()))?;
            let (id, numeric_id) = match row.get_ref(1).map_err(|e| self.corrupt(e.to_string()))? {
                rusqlite::types::ValueRef::Integer(i) => (i.to_string(), true),
                rusqlite::types::ValueRef::Text(t) => {
                    (String::from_utf8_lossy(t).into_owned(), false)
                }
                other => {
                    problems.push(format!(
                        "a feature has an id of type {:?}",
                        other.data_type()
                    ));
                    continue;
                }
            };
            let revision: i64 = row.get(2).map_err(|e| self.corrupt(e.to_string()))?;
            let extra: Option<String> = row.get(3).map_err(|e| self.corrupt(e.to_string()))?;
            let mut properties = Map::new();
            for (k, name) in names.iter().enumerate() {
                let v = match row
                    .get_ref(4 + k)
                    .map_err(|e| self.corrupt(e.to_string()))?
                {
                    rusqlite::types::ValueRef::Null => continue,
                    rusqlite::types::ValueRef::Integer(i) => match cols[*name] {
                        ColumnType::Boolean => Value::Bool(i != 0),
                        _ => Value::from(i),
                    },
                    rusqlite::types::ValueRef::Real(x) => real_json(x),
                    rusqlite::types::ValueRef::Text(t) => {
                        Value::String(String::from_utf8_lossy(t).into_owned())
                    }
                    rusqlite::types::ValueRef::Blob(_) => continue,
                };
                properties.insert((*name).clone(), v);
            }
            if let Some(extra) = extra {
                match serde_json::from_str::<Map<String, Value>>(&extra) {
                    Ok(m) => properties.extend(m),
                    Err(e) => problems.push(format!(
                        "feature {id:?}: zoneatlas_extra is not a JSON object: {e}"
                    )),
                }
            }
            let geometry = match wkb::decode(&blob) {
                Ok(g) => g,
                Err(e) => {
                    problems.push(format!("feature {id:?}: {e}"));
                    continue;
                }
            };
            if let Err(e) = crate::load::validate_geometry(&geometry, meta.geometry) {
                problems.push(format!("feature {id:?}: {e}"));
                continue;
            }
            let Some(bbox) = geometry.bounding_rect() else {
                problems.push(format!("feature {id:?}: empty geometry"));
                continue;
            };
            features.push(Feature {
                id,
                numeric_id,
                geometry,
                properties: properties.into(),
                bbox,
                revision: revision.max(0) as u64,
            });
        }
        if !problems.is_empty() {
            return Err(self.corrupt(format!("layer {:?}: {}", meta.id, problems.join("; "))));
        }
        Ok(Layer::new(meta.clone(), features))
    }

    /// Add a token; returns nothing (the caller holds the secret).
    pub fn add_token(&mut self, name: &str, role: Role, hash: &[u8; 32]) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO zoneatlas_tokens(name, role, hash, created) VALUES (?1, ?2, ?3, ?4)",
                params![name, role.name(), hex(hash), now_rfc3339()],
            )
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    StoreError::Unavailable(format!("a token named {name:?} exists already"))
                }
                e => sql_err(&self.path)(e),
            })?;
        Ok(())
    }

    /// Remove a token by name; false when there was none.
    pub fn revoke_token(&mut self, name: &str) -> Result<bool, StoreError> {
        self.conn
            .execute(
                "DELETE FROM zoneatlas_tokens WHERE name = ?1",
                params![name],
            )
            .map(|n| n > 0)
            .map_err(sql_err(&self.path))
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn pragmas(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")
}

fn sync_file(path: &Path) {
    if let Ok(f) = std::fs::File::open(path) {
        let _ = f.sync_all();
    }
}

/// Create a store at `path` from a data folder (validated as `check` does),
/// keeping its `coverage.toml` text as it is.
pub fn create_from_folder(path: &Path, dir: &Path) -> Result<GpkgStore, StoreError> {
    let (data, replay, rules_text) = super::folder::read_for_store(dir)?;
    GpkgStore::create(path, &data, rules_text.as_deref(), replay.as_ref())
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn unhex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, chunk) in s.as_bytes().chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(chunk).ok()?, 16).ok()?;
    }
    Some(out)
}

fn create_schema(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE gpkg_spatial_ref_sys (
            srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
            organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
         INSERT INTO gpkg_spatial_ref_sys VALUES
            ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
            ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system'),
            ('WGS 84 geodetic', 4326, 'EPSG', 4326,
             'GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563,AUTHORITY[\"EPSG\",\"7030\"]],AUTHORITY[\"EPSG\",\"6326\"]],PRIMEM[\"Greenwich\",0,AUTHORITY[\"EPSG\",\"8901\"]],UNIT[\"degree\",0.0174532925199433,AUTHORITY[\"EPSG\",\"9122\"]],AXIS[\"Latitude\",NORTH],AXIS[\"Longitude\",EAST],AUTHORITY[\"EPSG\",\"4326\"]]',
             'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid');
         CREATE TABLE gpkg_contents (
            table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
            description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
            min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
            CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
         CREATE TABLE gpkg_geometry_columns (
            table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
            srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
            CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
            CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
            CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
         CREATE TABLE zoneatlas_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE zoneatlas_changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, revision INTEGER NOT NULL, time TEXT NOT NULL,
            who TEXT NOT NULL, op TEXT NOT NULL, collection TEXT NOT NULL, feature_id TEXT NOT NULL,
            feature TEXT, status TEXT, size REAL);
         CREATE INDEX zoneatlas_changes_revision ON zoneatlas_changes(revision);
         CREATE INDEX zoneatlas_changes_feature ON zoneatlas_changes(collection, feature_id);
         CREATE TABLE zoneatlas_tokens (
            name TEXT PRIMARY KEY, role TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
            hash TEXT NOT NULL UNIQUE, created TEXT NOT NULL);",
    )
}

/// Whether a JSON number survives a trip through a REAL column: a float
/// always; an integer when it is within 2^53 (and then reads back whole).
fn real_exact(n: &serde_json::Number) -> bool {
    n.is_f64() || n.as_i64().is_some_and(|i| i.unsigned_abs() < (1 << 53))
}

/// A REAL read back: whole numbers (to 2^53) as JSON integers, so `110`
/// stays `110`.
fn real_json(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
        Value::from(x as i64)
    } else {
        serde_json::json!(x)
    }
}

/// Property columns for a layer: each scalar property, typed by its values.
fn columns_for(features: &[std::sync::Arc<Feature>]) -> BTreeMap<String, ColumnType> {
    let mut cols: BTreeMap<String, ColumnType> = BTreeMap::new();
    for f in features {
        for (k, v) in &f.properties {
            if OWN_COLUMNS.contains(&k) {
                continue;
            }
            let Some(t) = ColumnType::of(v) else { continue };
            cols.entry(k.to_owned()).or_insert(t);
        }
    }
    cols
}

fn create_layer_table(
    tx: &rusqlite::Transaction,
    layer: &Layer,
    columns: &BTreeMap<String, ColumnType>,
) -> rusqlite::Result<()> {
    let id = &layer.meta.id;
    let mut sql = format!(
        "CREATE TABLE {} (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom {} NOT NULL, zoneatlas_id TEXT NOT NULL UNIQUE, zoneatlas_revision INTEGER NOT NULL, zoneatlas_extra TEXT",
        quote(id),
        geometry_type_name(layer.meta.geometry)
    );
    for (name, t) in columns {
        sql.push_str(&format!(", {} {}", quote(name), t.sql()));
    }
    sql.push(')');
    tx.execute_batch(&sql)?;
    let e = layer.extent;
    tx.execute(
        "INSERT INTO gpkg_contents(table_name, data_type, identifier, description, min_x, min_y, max_x, max_y, srs_id)
         VALUES (?1, 'features', ?2, ?3, ?4, ?5, ?6, ?7, 4326)",
        params![
            id,
            layer.meta.title,
            layer.meta.description,
            e.map(|r| r.min().x),
            e.map(|r| r.min().y),
            e.map(|r| r.max().x),
            e.map(|r| r.max().y)
        ],
    )?;
    tx.execute(
        "INSERT INTO gpkg_geometry_columns VALUES (?1, 'geom', ?2, 4326, 0, 0)",
        params![id, geometry_type_name(layer.meta.geometry)],
    )?;
    Ok(())
}

fn insert_sql(layer: &str, columns: &BTreeMap<String, ColumnType>) -> String {
    let mut names = vec![
        "geom".to_owned(),
        "zoneatlas_id".into(),
        "zoneatlas_revision".into(),
        "zoneatlas_extra".into(),
    ];
    names.extend(columns.keys().map(|k| quote(k)));
    let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote(layer),
        names.join(", "),
        marks.join(", ")
    )
}

/// Bind and run an insert prepared by `insert_sql`.
fn insert_feature(
    stmt: &mut rusqlite::Statement,
    columns: &BTreeMap<String, ColumnType>,
    f: &Feature,
) -> rusqlite::Result<()> {
    use rusqlite::types::Value as Sql;
    let mut values: Vec<Sql> = Vec::with_capacity(4 + columns.len());
    values.push(Sql::Blob(wkb::encode(&f.geometry, 4326)));
    values.push(if f.numeric_id {
        f.id.parse::<i64>()
            .map(Sql::Integer)
            .unwrap_or(Sql::Text(f.id.clone()))
    } else {
        Sql::Text(f.id.clone())
    });
    values.push(Sql::Integer(f.revision as i64));
    let mut extra = Map::new();
    for (k, v) in &f.properties {
        let fits = columns.get(k).is_some_and(|c| c.holds(v));
        if !fits {
            extra.insert(k.to_owned(), v.clone());
        }
    }
    values.push(if extra.is_empty() {
        Sql::Null
    } else {
        Sql::Text(Value::Object(extra).to_string())
    });
    for (name, ty) in columns {
        let v = f.properties.get(name);
        values.push(match (v, ty) {
            (Some(Value::String(s)), ColumnType::Text) => Sql::Text(s.clone()),
            (Some(Value::Bool(b)), ColumnType::Boolean) => Sql::Integer(i64::from(*b)),
            (Some(Value::Number(n)), ColumnType::Integer) if n.is_i64() => {
                Sql::Integer(n.as_i64().unwrap_or_default())
            }
            // A whole number beyond 2^53 would lose digits as a REAL: it
            // goes to zoneatlas_extra instead (see `holds`).
            (Some(Value::Number(n)), ColumnType::Real) if real_exact(n) => {
                Sql::Real(n.as_f64().unwrap_or_default())
            }
            _ => Sql::Null,
        });
    }
    stmt.execute(rusqlite::params_from_iter(values))?;
    Ok(())
}

/// The feature as GeoJSON text, for the change log.
pub fn feature_json(f: &Feature) -> String {
    let links: [crate::encode::Link; 0] = [];
    serde_json::to_string(&crate::encode::FeatureJson {
        feature: f,
        links: &links,
    })
    .unwrap_or_default()
}

impl Store for GpkgStore {
    fn describe(&self) -> String {
        format!(
            "{} (GeoPackage, revision {}{})",
            self.path.display(),
            self.revision,
            if self.read_only { ", read-only" } else { "" }
        )
    }

    fn load(&mut self) -> Result<Dataset, StoreError> {
        // Again: another process may have added columns since `open`.
        let manifest = self.read_manifest()?;
        let rules = self.read_rules()?;
        self.revision = self.read_revision()?;
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
        !self.read_only
    }

    fn commit(
        &mut self,
        changes: &[(String, Change)],
        time: Option<crate::clock::Unix>,
    ) -> Result<Committed, StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly(format!(
                "{} is not writable by this process",
                self.path.display()
            )));
        }
        let path = self.path.clone();
        let fail = sql_err(&path);
        let next = self.revision + 1;
        let at = time.unwrap_or_else(crate::clock::now).max(self.last_time);
        let now = crate::clock::format(at);
        let mut records = Vec::with_capacity(changes.len());
        let tx = self.conn.transaction().map_err(&fail)?;
        // New layers first (their features follow in the same transaction).
        let mut new_layers = Vec::new();
        for (_, c) in changes {
            if let Change::AddLayer { meta } = c {
                if self.kinds.contains_key(&meta.id) {
                    return Err(StoreError::Unavailable(format!(
                        "layer {:?} exists already",
                        meta.id
                    )));
                }
                create_layer_table(&tx, &Layer::new(meta.clone(), vec![]), &BTreeMap::new())
                    .map_err(&fail)?;
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
                new_layers.push((meta.id.clone(), meta.geometry));
            }
        }
        for (id, kind) in &new_layers {
            self.kinds.insert(id.clone(), *kind);
            self.columns.entry(id.clone()).or_default();
        }
        // New property names become columns (typed by their first value).
        let mut added: Vec<(String, String, ColumnType)> = Vec::new();
        for (_, c) in changes {
            let (Change::Create { layer, feature } | Change::Replace { layer, feature }) = c else {
                continue;
            };
            let cols = self.columns.entry(layer.clone()).or_default();
            for (k, v) in &feature.properties {
                if OWN_COLUMNS.contains(&k) || cols.contains_key(k) {
                    continue;
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
                    added.push((layer.clone(), k.to_owned(), t));
                }
            }
        }
        let outcome = (|| -> rusqlite::Result<()> {
            for (who, c) in changes
                .iter()
                .filter(|(_, c)| !matches!(c, Change::AddLayer { .. }))
            {
                let layer = c.layer();
                let cols = self.columns.get(layer).cloned().unwrap_or_default();
                let (op, id, after, shape) = match c {
                    Change::Create { feature, .. } | Change::Replace { feature, .. } => {
                        let mut f = feature.clone();
                        f.revision = next;
                        if matches!(c, Change::Replace { .. }) {
                            tx.prepare_cached(&format!(
                                "DELETE FROM {} WHERE zoneatlas_id = ?1",
                                quote(layer)
                            ))?
                            .execute(params![id_value(&f)])?;
                        }
                        let mut stmt = tx.prepare_cached(&insert_sql(layer, &cols))?;
                        insert_feature(&mut stmt, &cols, &f)?;
                        let op = if matches!(c, Change::Create { .. }) {
                            "create"
                        } else {
                            "replace"
                        };
                        let kind = self
                            .kinds
                            .get(layer)
                            .copied()
                            .unwrap_or(GeometryKind::Point);
                        let (status, size) = logged_shape(&f, kind, &self.status_property);
                        (
                            op,
                            f.id.clone(),
                            Some(feature_json(&f)),
                            (status, Some(size)),
                        )
                    }
                    Change::Delete { id, numeric, .. } => {
                        let key = match id.parse::<i64>() {
                            Ok(i) if *numeric => rusqlite::types::Value::Integer(i),
                            _ => rusqlite::types::Value::Text(id.clone()),
                        };
                        tx.execute(
                            &format!("DELETE FROM {} WHERE zoneatlas_id = ?1", quote(layer)),
                            params![key],
                        )?;
                        ("delete", id.clone(), None, (None, None))
                    }
                    Change::AddLayer { .. } => unreachable!("filtered out above"),
                };
                tx.prepare_cached(
                    "INSERT INTO zoneatlas_changes(revision, time, who, op, collection, feature_id, feature, status, size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?
                .execute(params![next as i64, now, who, op, layer, id, after, shape.0, shape.1])?;
                records.push(ChangeRecord {
                    seq: tx.last_insert_rowid() as u64,
                    revision: next,
                    time: now.clone(),
                    who: who.clone(),
                    op: op.to_owned(),
                    collection: layer.to_owned(),
                    feature_id: id,
                    feature: None,
                });
                tx.prepare_cached(
                    "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ','now') WHERE table_name = ?1",
                )?
                .execute(params![layer])?;
            }
            tx.prepare_cached("UPDATE zoneatlas_meta SET value = ?1 WHERE key = 'revision'")?
                .execute(params![next.to_string()])?;
            Ok(())
        })();
        match outcome.and_then(|()| tx.commit()) {
            Ok(()) => {
                self.revision = next;
                self.last_time = at;
                Ok(Committed {
                    revision: next,
                    records,
                })
            }
            Err(e) => {
                for (id, _) in &new_layers {
                    self.kinds.remove(id);
                    self.columns.remove(id);
                }
                // Rolled back: forget columns this attempt added.
                for (layer, name, _) in added {
                    if let Some(cols) = self.columns.get_mut(&layer) {
                        cols.remove(&name);
                    }
                }
                Err(fail(e))
            }
        }
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name, role, hash, created FROM zoneatlas_tokens ORDER BY name")
            .map_err(sql_err(&self.path))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })
            .map_err(sql_err(&self.path))?;
        let mut out = Vec::new();
        for row in rows {
            let (name, role, hash, created) = row.map_err(sql_err(&self.path))?;
            if let (Some(role), Some(hash)) = (Role::parse(&role), unhex(&hash)) {
                out.push(TokenRecord {
                    name,
                    role,
                    hash,
                    created,
                });
            }
        }
        Ok(out)
    }

    fn set_rules(&mut self, text: &str) -> Result<(), StoreError> {
        GpkgStore::set_rules(self, text)
    }

    fn history(&self) -> Result<Option<Box<dyn History>>, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| self.corrupt(format!("cannot open the change log for reading: {e}")))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| self.corrupt(e.to_string()))?;
        let sizes = log_has_sizes(&conn).map_err(|e| self.corrupt(e.to_string()))?;
        Ok(Some(Box::new(GpkgHistory {
            conn,
            path: self.path.clone(),
            sizes,
        })))
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

const RECORD_COLUMNS: &str = "seq, revision, time, who, op, collection, feature_id, feature";

fn record(r: &rusqlite::Row) -> rusqlite::Result<ChangeRecord> {
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
                "SELECT revision, time FROM zoneatlas_changes ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
            )
            .map_err(sql_err(&self.path))
    }

    fn revision_time(&mut self, revision: u64) -> Result<Option<String>, StoreError> {
        self.conn
            .prepare_cached("SELECT time FROM zoneatlas_changes WHERE revision = ?1 LIMIT 1")
            .and_then(|mut s| {
                s.query_row(params![revision as i64], |r| r.get(0))
                    .optional()
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

    fn states_at(&mut self, revision: u64) -> Result<Vec<super::PastState>, StoreError> {
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
            let state = match last {
                None => None,
                Some(seq) => {
                    let (rev, text): (i64, Option<String>) = by_seq
                        .query_row(params![seq], |r| Ok((r.get(0)?, r.get(1)?)))
                        .map_err(&fail)?;
                    match text {
                        None => None,
                        Some(t) => Some((
                            rev as u64,
                            serde_json::from_str(&t).map_err(|e| StoreError::Corrupt {
                                path: self.path.display().to_string(),
                                message: format!("change log entry of {collection}/{id}: {e}"),
                            })?,
                        )),
                    }
                }
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

/// The id as stored: INTEGER for a numeric id, TEXT otherwise.
fn id_value(f: &Feature) -> rusqlite::types::Value {
    if f.numeric_id {
        if let Ok(i) = f.id.parse::<i64>() {
            return rusqlite::types::Value::Integer(i);
        }
    }
    rusqlite::types::Value::Text(f.id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LayerMeta;
    use serde_json::json;

    fn feature(id: &str, props: Value) -> Feature {
        let geometry = geo::Geometry::Point(geo::Point::new(113.5, 34.7));
        Feature {
            id: id.into(),
            numeric_id: false,
            bbox: geometry.bounding_rect().unwrap(),
            geometry,
            properties: props.as_object().unwrap().clone().into(),
            revision: 0,
        }
    }

    #[test]
    fn every_kind_of_property_survives_the_store_exactly() {
        let props = [
            json!({"name": "马寨", "n": 110, "x": 16.5, "ok": true, "gone": null,
                   "list": [1, "a"], "obj": {"k": 1}, "big": 1_152_921_504_606_846_976u64}),
            // A string where the column is REAL, a number where it is TEXT.
            json!({"name": 7, "n": "one hundred", "x": 2, "ok": false}),
        ];
        let meta: LayerMeta =
            toml::from_str("id = \"things\"\ntitle = \"Things\"\ngeometry = \"Point\"").unwrap();
        let features: Vec<Feature> = props
            .iter()
            .enumerate()
            .map(|(i, p)| feature(&format!("F-{i}"), p.clone()))
            .collect();
        let data = Dataset {
            manifest: Manifest {
                title: "t".into(),
                description: String::new(),
                layers: vec![meta.clone()],
            },
            layers: vec![Layer::new(meta, features)],
            rules: None,
            revision: 0,
            version: 0,
        };
        let dir = tempfile::tempdir().unwrap();
        let mut store = GpkgStore::create(&dir.path().join("t.gpkg"), &data, None, None).unwrap();
        let back = store.load().unwrap();
        assert_eq!(back.revision, 1);
        for (f, want) in back.layers[0].features.iter().zip(&props) {
            assert_eq!(&Value::Object(f.properties.to_map()), want, "{}", f.id);
            assert_eq!(f.revision, 1);
        }
    }
}

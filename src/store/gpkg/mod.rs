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
//! - `zoneatlas_tokens`: access tokens, as SHA-256 hashes only;
//! - `zoneatlas_proposals`, `zoneatlas_proposal_changes`: drafts beside the
//!   record and their change logs (see `proposals`).
//!
//! Durability: WAL journal, `synchronous=FULL`; `commit` returns after
//! SQLite's COMMIT, i.e. after the WAL is on disk.
//!
//! The files: `schema` (tables, columns, rows), `read` (the dataset,
//! the manifest, the rules' text), `commit` (a batch as one transaction),
//! `tokens`, `history` (the change log's reader), `proposals`.
//!
//! Must not: know about HTTP, indexes or coverage answers.

mod commit;
mod external;
mod history;
mod marker;
mod proposals;
mod read;
mod schema;
mod tokens;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, OpenFlags};

use super::log;
use super::{Change, Committed, Dataset, History, Store, StoreError, TokenRecord};
use crate::model::{GeometryKind, DEFAULT_STATUS_PROPERTY};
use schema::{
    columns_for, create_layer_table, create_schema, insert_feature, insert_sql, log_has_sizes,
    ColumnType,
};

/// GeoPackage's `application_id` ("GPKG") and `user_version` for 1.3.
pub(in crate::store) const APPLICATION_ID: i64 = 0x4750_4B47;
const USER_VERSION: i64 = 10300;

/// A GeoPackage file.
pub struct GpkgStore {
    path: PathBuf,
    conn: Connection,
    read_only: bool,
    /// Per layer: property name -> declared column type.
    columns: HashMap<String, BTreeMap<String, ColumnType>>,
    /// What the change log records of each feature besides its GeoJSON:
    /// its status (this property) and its size by layer kind, so progress
    /// reports never parse geometries (see `logged_shape`).
    status_property: String,
    kinds: HashMap<String, GeometryKind>,
}

pub(in crate::store) fn quote(name: &str) -> String {
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
            status_property: DEFAULT_STATUS_PROPERTY.to_owned(),
            kinds: HashMap::new(),
        };
        let revision = store.read_revision()?;
        if let Some(warning) = marker::check(path, revision) {
            tracing::error!("{warning}");
        }
        if writable {
            marker::note(path, revision);
        }
        // `commit` needs the columns even before a `load`.
        let manifest = store.read_manifest()?;
        store.kinds = manifest
            .layers
            .iter()
            .map(|l| (l.id.clone(), l.geometry))
            .collect();
        store.status_property = log::status_property(store.read_rules()?.as_deref());
        if writable {
            let layers: Vec<(String, GeometryKind)> = manifest
                .layers
                .iter()
                .map(|l| (l.id.clone(), l.geometry))
                .collect();
            external::migrate(&mut store.conn, &layers).map_err(|e| {
                store.corrupt(format!("cannot track edits made with other tools: {e}"))
            })?;
        }
        if writable && !log_has_sizes(&store.conn).map_err(|e| store.corrupt(e.to_string()))? {
            // An older store: new changes record status and size; the old
            // ones are measured from their GeoJSON when asked.
            store
                .conn
                .execute_batch("ALTER TABLE zoneatlas_changes ADD COLUMN status TEXT; ALTER TABLE zoneatlas_changes ADD COLUMN size REAL;")
                .map_err(|e| store.corrupt(format!("cannot extend the change log: {e}")))?;
        }
        if writable {
            store
                .conn
                .execute_batch(proposals::PROPOSAL_TABLES)
                .map_err(|e| store.corrupt(format!("cannot make the proposal tables: {e}")))?;
        }
        Ok(store)
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
        replay: Option<&crate::store::replay::Replay>,
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
            if let Some(text) = &data.rules {
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
                let status_property = log::status_property(data.rules.as_deref());
                for f in layer.features.live() {
                    let mut f = (**f).clone();
                    f.revision = 1;
                    insert_feature(&mut insert, &columns, &f).map_err(fail)?;
                    let (status, size) =
                        log::logged_shape(&f, layer.meta.geometry, &status_property);
                    log.execute(params![
                        now,
                        layer.meta.id,
                        f.id,
                        log::feature_json(&f),
                        status,
                        size
                    ])
                    .map_err(fail)?;
                }
                // Later edits with other tools are logged (see `external`).
                external::create_triggers(&tx, &layer.meta.id).map_err(fail)?;
            }
            tx.execute(
                "INSERT INTO zoneatlas_meta(key, value) VALUES ('writing', '0')",
                [],
            )
            .map_err(fail)?;
            tx.commit().map_err(fail)?;
        }
        if let Some(replay) = replay {
            let mut store = GpkgStore::open(&tmp)?;
            for (time, changes) in &replay.steps {
                let base = store.read_revision()?;
                store.commit_at(base, changes, Some(*time))?;
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

    pub(super) fn read_revision(&self) -> Result<u64, StoreError> {
        revision_in(&self.conn, &self.path)
    }

    pub(super) fn corrupt(&self, message: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.display().to_string(),
            message,
        }
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The revision the file holds (inside a transaction: the one it is at).
pub(super) fn revision_in(conn: &Connection, path: &Path) -> Result<u64, StoreError> {
    let corrupt = |message: String| StoreError::Corrupt {
        path: path.display().to_string(),
        message,
    };
    let v: String = conn
        .query_row(
            "SELECT value FROM zoneatlas_meta WHERE key = 'revision'",
            [],
            |r| r.get(0),
        )
        .map_err(|e| corrupt(format!("no revision: {e}")))?;
    v.parse()
        .map_err(|_| corrupt(format!("revision {v:?} is not a number")))
}

/// Waits for commits by other connections to the file (QGIS, sqlite3, a
/// command-line import): SQLite's `data_version` changes with each.
struct ExternalFollower {
    conn: Connection,
    seen: Option<i64>,
}

/// How often the follower looks at `data_version`.
const EXTERNAL_POLL: Duration = Duration::from_millis(100);

fn external_follower(path: &Path) -> Result<Box<dyn super::Follower>, StoreError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
    Ok(Box::new(ExternalFollower { conn, seen: None }))
}

impl super::Follower for ExternalFollower {
    fn wait(&mut self, timeout: Duration) -> Result<bool, StoreError> {
        let started = std::time::Instant::now();
        loop {
            let now: i64 = self
                .conn
                .query_row("PRAGMA data_version", [], |r| r.get(0))
                .map_err(|e| StoreError::Unavailable(format!("the store: {e}")))?;
            let changed = self.seen != Some(now);
            self.seen = Some(now);
            if changed {
                return Ok(true);
            }
            if started.elapsed() >= timeout {
                return Ok(false);
            }
            std::thread::sleep(EXTERNAL_POLL);
        }
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
    let (data, replay) = crate::store::folder::read_for_store(dir)?;
    GpkgStore::create(path, &data, replay.as_ref())
}

impl Store for GpkgStore {
    fn describe(&self) -> String {
        // The revision as the file holds it now (the store keeps no counter).
        let revision = self
            .read_revision()
            .map_or_else(|_| "unknown".into(), |r| r.to_string());
        format!(
            "{} (GeoPackage, revision {revision}{})",
            self.path.display(),
            if self.read_only { ", read-only" } else { "" }
        )
    }

    fn load(&mut self) -> Result<Dataset, StoreError> {
        // Again: another process may have added columns since `open`.
        let manifest = self.read_manifest()?;
        if !self.read_only {
            self.settle_external()?;
        }
        let rules = self.read_rules()?;
        let revision = self.read_revision()?;
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

    fn follower(&self) -> Result<Option<Box<dyn super::Follower>>, StoreError> {
        external_follower(&self.path).map(Some)
    }

    fn editable(&self) -> bool {
        true
    }

    fn writable(&self) -> bool {
        !self.read_only
    }

    fn set_rules(&mut self, text: &str) -> Result<(), StoreError> {
        GpkgStore::set_rules(self, text)
    }

    fn commit(
        &mut self,
        base: u64,
        changes: &[(String, Change)],
        time: Option<crate::clock::Unix>,
    ) -> Result<Committed, StoreError> {
        self.commit_at(base, changes, time)
    }

    fn changes_since(
        &mut self,
        revision: u64,
    ) -> Result<Option<(u64, Vec<super::ChangeRecord>)>, StoreError> {
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
        changes: &[(String, Change)],
        meta: &super::proposal::ProposalMeta,
        expected: u64,
    ) -> Result<Committed, StoreError> {
        self.commit_adopting(base, changes, None, Some((meta, expected)))
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError> {
        tokens::read(&self.conn, &self.path)
    }

    fn add_token(
        &mut self,
        name: &str,
        role: super::Role,
        hash: &[u8; 32],
    ) -> Result<(), StoreError> {
        GpkgStore::add_token(self, name, role, hash)
    }

    fn revoke_token(&mut self, name: &str) -> Result<bool, StoreError> {
        GpkgStore::revoke_token(self, name)
    }

    fn token_reader(&self) -> Result<Option<Box<dyn super::TokenReader>>, StoreError> {
        self.token_reader_connection().map(Some)
    }

    fn history(&self) -> Result<Option<Box<dyn History>>, StoreError> {
        self.history_reader().map(Some)
    }
}

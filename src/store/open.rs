//! Which store a command line names, opened or created: a PostgreSQL URL
//! or a GeoPackage file (created from a data folder on first start), or a
//! data folder served read-only.
//!
//! Must not: know about HTTP or the catalog.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::folder::FolderStore;
use super::{Dataset, Store, StoreError};

/// The store `serve` opens when none is named (gitignored; delete it to
/// start over from the data folder).
pub const DEFAULT_STORE: &str = "zoneatlas.gpkg";
/// The data folder a new store is made from when none is named.
pub const DEFAULT_DATA: &str = "geodata";

/// The store `serve` serves: `store` (a database filled, or a file created,
/// from the data folder when it holds no zone yet), else the data folder
/// `data` read-only, else the default store made from the default folder.
pub fn for_serving(
    store: Option<&Path>,
    data: Option<&Path>,
) -> Result<Box<dyn Store>, StoreError> {
    let store_path = match (store, data) {
        (Some(p), _) if is_postgres(p) => {
            return postgis_for_serving(p.to_str().unwrap_or_default(), data)
        }
        (Some(p), _) => p.to_path_buf(),
        (None, Some(dir)) => return Ok(Box::new(FolderStore::new(dir))),
        (None, None) => PathBuf::from(DEFAULT_STORE),
    };
    let data = data.unwrap_or(Path::new(DEFAULT_DATA));
    if !store_path.exists() {
        let started = Instant::now();
        let created = super::gpkg::create_from_folder(&store_path, data)?;
        tracing::info!(
            store = %store_path.display(),
            from = %data.display(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "created the store from the data folder"
        );
        return Ok(Box::new(created));
    }
    Ok(Box::new(super::gpkg::GpkgStore::open(&store_path)?))
}

/// A PostGIS store (waiting for the database), filled from the data folder
/// when it holds no zone yet.
fn postgis_for_serving(url: &str, data: Option<&Path>) -> Result<Box<dyn Store>, StoreError> {
    let mut store = super::pg::PgStore::open(url, true)?;
    if !store.is_empty()? {
        return Ok(Box::new(store));
    }
    let data = data.unwrap_or(Path::new(DEFAULT_DATA));
    let started = Instant::now();
    let created = super::pg::create_from_folder(url, data)?;
    tracing::info!(
        store = %super::pg::shown(url),
        from = %data.display(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "filled the database from the data folder"
    );
    Ok(Box::new(created))
}

/// Whether a store name from the command line is a PostgreSQL URL.
pub fn is_postgres(name: &std::path::Path) -> bool {
    name.to_str().is_some_and(super::pg::is_url)
}

/// A store name from the command line as messages show it (a PostgreSQL
/// URL without its password).
pub fn display_name(name: &std::path::Path) -> String {
    match name.to_str() {
        Some(s) if super::pg::is_url(s) => super::pg::shown(s),
        _ => name.display().to_string(),
    }
}

/// The store a command line names, when it holds a zone: a PostGIS
/// database (waiting for it) or a GeoPackage file; `None` for a file that
/// does not exist or a database that holds no zone yet.
pub fn open_existing(name: &std::path::Path) -> Result<Option<Box<dyn Store>>, StoreError> {
    if let Some(url) = name.to_str().filter(|s| super::pg::is_url(s)) {
        let mut store = super::pg::PgStore::open(url, true)?;
        return Ok((!store.is_empty()?).then(|| Box::new(store) as Box<dyn Store>));
    }
    if !name.exists() {
        return Ok(None);
    }
    Ok(Some(Box::new(super::gpkg::GpkgStore::open(name)?)))
}

/// A new store holding `data`, where `name` says (a URL or a file path).
pub fn create(name: &std::path::Path, data: &Dataset) -> Result<Box<dyn Store>, StoreError> {
    match name.to_str().filter(|s| super::pg::is_url(s)) {
        Some(url) => Ok(Box::new(super::pg::PgStore::create(url, data, None)?)),
        None => Ok(Box::new(super::gpkg::GpkgStore::create(name, data, None)?)),
    }
}

//! A data folder as a store: `layers.toml`, one GeoJSON file per layer and
//! an optional `coverage.toml`, loaded strictly. Read-only: edits need a
//! GeoPackage store (`--store`).

use std::path::{Path, PathBuf};

use super::{Change, Committed, Dataset, History, Store, StoreError, TokenRecord};
use crate::load;

/// A folder of layer files.
pub struct FolderStore {
    dir: PathBuf,
}

impl FolderStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        FolderStore { dir: dir.into() }
    }
}

impl Store for FolderStore {
    fn describe(&self) -> String {
        format!("{} (data folder, read-only)", self.dir.display())
    }

    fn load(&mut self) -> Result<Dataset, StoreError> {
        Ok(load::load_folder(&self.dir)?)
    }

    fn editable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        false
    }

    fn commit(
        &mut self,
        _: u64,
        _: &[(String, Change)],
        _: Option<crate::clock::Unix>,
    ) -> Result<Committed, StoreError> {
        Err(StoreError::ReadOnly(format!(
            "{} is a data folder; serve a GeoPackage (--store FILE.gpkg) to edit",
            self.dir.display()
        )))
    }

    fn tokens(&mut self) -> Result<Vec<TokenRecord>, StoreError> {
        Ok(vec![])
    }

    fn history(&self) -> Result<Option<Box<dyn History>>, StoreError> {
        Ok(None)
    }
}

/// What a new store is made of from a data folder: its data (validated as
/// `check` does, with its `coverage.toml` text as it is) and its
/// `history.toml` replay if any.
pub fn read_for_store(dir: &Path) -> Result<(Dataset, Option<super::replay::Replay>), StoreError> {
    let mut data = FolderStore::new(dir).load()?;
    let replay = super::replay::read(dir, &mut data).map_err(|message| StoreError::Corrupt {
        path: dir.display().to_string(),
        message,
    })?;
    Ok((data, replay))
}

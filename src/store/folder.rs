//! A data folder as a store: `layers.toml`, one GeoJSON file per layer and
//! an optional `coverage.toml`, loaded strictly. Read-only: edits need a
//! GeoPackage store (`--store`).

use std::path::PathBuf;

use super::{Change, Committed, Dataset, History, Store, StoreError, TokenRecord};
use crate::coverage::rules;
use crate::load::{self, LoadError};

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
        let loaded = load::load_dir(&self.dir)?;
        let rules = rules::read(&self.dir).map_err(|message| LoadError::Manifest {
            path: self.dir.join(rules::RULES_FILE),
            message,
        })?;
        Ok(Dataset {
            manifest: loaded.manifest,
            layers: loaded.layers,
            rules,
            revision: 0,
            version: loaded.version,
        })
    }

    fn editable(&self) -> bool {
        false
    }

    fn writable(&self) -> bool {
        false
    }

    fn commit(
        &mut self,
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

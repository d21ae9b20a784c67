//! A data folder as a store: `layers.toml`, one GeoJSON file per layer and
//! an optional `coverage.toml`, loaded strictly. Read-only: edits need a
//! GeoPackage store (`--store`).

use std::path::{Path, PathBuf};

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

/// What a new store is made of from a data folder: its data (validated as
/// `check` does), its `history.toml` replay if any, and its
/// `coverage.toml` text as it is.
pub fn read_for_store(
    dir: &Path,
) -> Result<(Dataset, Option<super::replay::Replay>, Option<String>), StoreError> {
    let mut data = FolderStore::new(dir).load()?;
    let replay = super::replay::read(dir, &mut data).map_err(|message| StoreError::Corrupt {
        path: dir.display().to_string(),
        message,
    })?;
    let file = dir.join(crate::coverage::rules::RULES_FILE);
    let rules_text = match crate::load::read_regular_text(&file) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(StoreError::Unavailable(format!("{}: {e}", file.display()))),
    };
    Ok((data, replay, rules_text))
}

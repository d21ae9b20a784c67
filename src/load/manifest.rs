//! The manifest of a data folder, `layers.toml`: the dataset's title and its
//! layers (ids, titles, geometry kind, required and queryable properties,
//! how the map draws them).

use std::collections::HashSet;
use std::path::Path;

use super::{read_regular_text, LoadError};
pub use crate::model::Manifest;

/// The manifest file's name inside a data folder.
pub const MANIFEST: &str = "layers.toml";

/// Read the manifest of a data folder.
pub fn read_manifest(dir: &Path) -> Result<Manifest, LoadError> {
    let path = dir.join(MANIFEST);
    let text = read_regular_text(&path).map_err(|source| LoadError::Io {
        path: path.clone(),
        source,
    })?;
    let manifest: Manifest = toml::from_str(&text).map_err(|e| LoadError::Manifest {
        path: path.clone(),
        message: e.to_string().trim().replace('\n', " "),
    })?;
    let mut seen = HashSet::new();
    for layer in &manifest.layers {
        let valid = !layer.id.is_empty()
            && layer
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !valid {
            return Err(LoadError::Manifest {
                path,
                message: format!(
                    "layer id {:?} must be lowercase letters, digits, '_' or '-'",
                    layer.id
                ),
            });
        }
        if !seen.insert(layer.id.clone()) {
            return Err(LoadError::Manifest {
                path,
                message: format!("layer id {:?} is listed twice", layer.id),
            });
        }
        if let Some(problem) = layer.style.iter().flat_map(|s| s.problems()).next() {
            return Err(LoadError::Manifest {
                path,
                message: format!("layer {}: {problem}", layer.id),
            });
        }
    }
    Ok(manifest)
}

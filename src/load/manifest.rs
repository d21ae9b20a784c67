//! The manifest of a data folder, `layers.toml`: the dataset's title and its
//! layers (ids, titles, geometry kind, required and queryable properties).

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{read_regular_text, LoadError};
use crate::model::LayerMeta;

/// The manifest file's name inside a data folder.
pub const MANIFEST: &str = "layers.toml";

/// The manifest, `layers.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Title of the whole dataset (the OGC landing page's title).
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Layers in display order.
    #[serde(rename = "layer")]
    pub layers: Vec<LayerMeta>,
}

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
    }
    Ok(manifest)
}

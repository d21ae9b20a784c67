//! A data folder on disk -> validated layers, or every problem found.
//!
//! A data folder holds `layers.toml` (the manifest: which layers exist, their
//! titles, geometry kind, required and queryable properties) and one
//! `<id>.geojson` FeatureCollection per layer. Loading is strict and
//! all-or-nothing: each problem becomes one line naming the file, the feature
//! (its index in `features[]`, counting from 0, and its id) and what is wrong,
//! and nothing is returned unless there are none.
//!
//! The files beside this one: `files` (reading regular files only),
//! `manifest` (`layers.toml`), `geojson` (FeatureCollections parsed with our
//! own serde types, on every core for a big file), `geometry` (coordinates,
//! lines, rings), `validity` (polygon validity by a sweep, within a budget)
//! and `client` (a client's feature or polygon, checked by the same rules).
//!
//! Must not: know about HTTP or indexes.

mod client;
mod files;
mod geojson;
mod geometry;
mod manifest;
mod raw;
mod split;
mod validity;

use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use crate::model::{Dataset, Layer, LayerMeta};

pub use client::{
    feature_from_client, feature_from_geojson, geometry_from_client, polygon_from_geojson,
    ClientPolygonError,
};
use files::regular_file_size;
pub use files::{read_regular_file, read_regular_text};
pub use geojson::parse_layer;
use geojson::{parse_parallel, parse_serial, PARALLEL_PARSE_BYTES};
pub use geometry::validate_geometry;
pub use manifest::{read_manifest, Manifest, MANIFEST};
pub use validity::MAX_SWEEP_PAIRS;

/// Why a data folder could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file could not be read at all.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `layers.toml` is missing or malformed.
    #[error("{path}: {message}")]
    Manifest { path: PathBuf, message: String },
    /// One or more layers failed validation; one line per problem.
    #[error("{}", .0.iter().map(|p| p.to_string()).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Problem>),
}

/// One thing wrong with one file or feature.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub file: PathBuf,
    /// Index in `features[]` and the id, when the problem is a feature's.
    pub feature: Option<(usize, Option<String>)>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file.display())?;
        if let Some((index, id)) = &self.feature {
            match id {
                Some(id) => write!(f, "feature {index} (id {id:?}): ")?,
                None => write!(f, "feature {index}: ")?,
            }
        }
        f.write_str(&self.message)
    }
}

/// What a successful load returns.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub manifest: Manifest,
    pub layers: Vec<Layer>,
    /// A hash of every byte read: changes whenever the data does (ETags).
    pub version: u64,
}

/// The coverage rules' file name inside a data folder.
pub const RULES_FILE: &str = "coverage.toml";

/// A data folder as a dataset: its layers loaded and validated, its
/// `coverage.toml` as text (the catalog parses it), revision 0.
pub fn load_folder(dir: &Path) -> Result<Dataset, LoadError> {
    let loaded = load_dir(dir)?;
    let path = dir.join(RULES_FILE);
    let rules = match read_regular_text(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => return Err(LoadError::Io { path, source }),
    };
    Ok(Dataset {
        left_out: Vec::new(),
        manifest: loaded.manifest,
        layers: loaded.layers,
        rules,
        revision: 0,
        version: loaded.version,
    })
}

/// Load and validate a whole data folder. Layers are parsed in parallel.
pub fn load_dir(dir: &Path) -> Result<Loaded, LoadError> {
    let manifest = read_manifest(dir)?;
    let mut problems = Vec::new();

    // Stray GeoJSON files are a problem too: a layer the user meant to add
    // but forgot to list would otherwise vanish silently.
    let listed: HashSet<String> = manifest
        .layers
        .iter()
        .map(|l| format!("{}.geojson", l.id))
        .collect();
    let entries = std::fs::read_dir(dir).map_err(|source| LoadError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".geojson") && !listed.contains(&name) {
            problems.push(Problem {
                file: dir.join(&name),
                feature: None,
                message: format!("not listed in {MANIFEST}; add a [[layer]] entry or remove it"),
            });
        }
    }

    let results: Vec<Result<(Layer, u64), Vec<Problem>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = manifest
            .layers
            .iter()
            .map(|meta| {
                let path = dir.join(format!("{}.geojson", meta.id));
                scope.spawn(move || load_layer_file(&path, meta.clone()))
            })
            .collect();
        // A loader thread that panicked must not leave its layer silently
        // out: report it as a problem, so nothing is served half-loaded.
        handles
            .into_iter()
            .zip(&manifest.layers)
            .map(|(h, meta)| {
                h.join().unwrap_or_else(|_| {
                    Err(vec![Problem {
                        file: dir.join(format!("{}.geojson", meta.id)),
                        feature: None,
                        message: "internal error while loading (a bug: please report it)".into(),
                    }])
                })
            })
            .collect()
    });

    let mut layers = Vec::new();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for result in results {
        match result {
            Ok((layer, hash)) => {
                hash.hash(&mut hasher);
                layers.push(layer);
            }
            Err(mut p) => problems.append(&mut p),
        }
    }
    if !problems.is_empty() {
        return Err(LoadError::Invalid(problems));
    }
    Ok(Loaded {
        manifest,
        layers,
        version: hasher.finish(),
    })
}

/// Read and validate one layer file; returns the layer and a hash of its bytes.
pub fn load_layer_file(path: &Path, meta: LayerMeta) -> Result<(Layer, u64), Vec<Problem>> {
    let problem = |message: String| Problem {
        file: path.to_path_buf(),
        feature: None,
        message,
    };
    let cannot = |e: std::io::Error| vec![problem(format!("cannot read: {e}"))];
    // The same hash either way: every byte, in order (SipHash streams).
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    if regular_file_size(path).map_err(cannot)? >= PARALLEL_PARSE_BYTES as u64 {
        let file = std::fs::File::open(path).map_err(cannot)?;
        if let Some(done) = parse_parallel(path, file, &mut hasher, &meta) {
            return Ok((Layer::from_shared(meta, done?), hasher.finish()));
        }
        hasher = Default::default();
    }
    let bytes = read_regular_file(path).map_err(cannot)?;
    hasher.write(&bytes);
    let features = parse_serial(path, &bytes, &meta)?;
    Ok((Layer::from_shared(meta, features), hasher.finish()))
}

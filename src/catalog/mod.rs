//! A snapshot of what the server holds: the validated layers with their
//! indexes and the coverage rules resolved against them, at one revision.
//!
//! Immutable once built and shared behind an `Arc`: a request pins one
//! snapshot, so its body and its ETag (derived from `version`) agree. An edit
//! builds the next snapshot with `Catalog::with_layers`, re-indexing only the
//! layers it changed; positions are stable while a layer keeps its
//! generation (see `model::features`), feature ids across all snapshots.
//!
//! `changes` applies a set of feature changes (an edit, another writer's
//! commits, the past) to make the next snapshot; `summary` gives a layer's
//! figures.
//!
//! Must not: know about HTTP or do I/O.

mod changes;
mod summary;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use geo::Coord;

use crate::coverage::rules::{self, Rules};
use crate::coverage::Coverage;
use crate::geodesy::LocalProjection;
use crate::index::IndexedLayer;
use crate::load::Manifest;
use crate::model::{union_rect, Dataset};

pub use changes::Changes;
use summary::summarise;
pub use summary::LayerSummary;

/// Why a snapshot could not be built: the coverage rules.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CatalogError {
    /// The rules' text does not parse, or breaks a rule of its own.
    #[error("coverage rules: {0}")]
    Rules(String),
    /// The rules name what the layers do not hold (a collection, a zone).
    #[error("coverage rules do not fit the data: {0}")]
    Mismatch(String),
}

/// The loaded, indexed dataset.
#[derive(Debug)]
pub struct Catalog {
    pub manifest: Manifest,
    pub layers: Vec<Arc<IndexedLayer>>,
    by_id: HashMap<String, usize>,
    /// The projection every index uses (centred on the data).
    pub projection: LocalProjection,
    /// Changes whenever the data does (ETags): a hash of a data folder's
    /// bytes, or a function of the store revision.
    pub version: u64,
    /// The store's revision this snapshot reflects (0 for a data folder).
    pub revision: u64,
    /// When the data was loaded.
    pub loaded_at: SystemTime,
    /// Coverage rules resolved against the layers, when the folder has
    /// `coverage.toml` and they resolve.
    pub coverage: Option<Coverage>,
    /// Why the rules do not resolve against this snapshot's layers (the
    /// zone was deleted, or this is a revision before the zone was
    /// imported): items are served, coverage answers say why not.
    pub coverage_error: Option<String>,
}

impl Catalog {
    /// Index a store's dataset and resolve its coverage rules (parsed
    /// from their text here) against it.
    pub fn from_dataset(data: Dataset) -> Result<Catalog, CatalogError> {
        let rules = data
            .rules
            .as_deref()
            .map(rules::parse)
            .transpose()
            .map_err(CatalogError::Rules)?;
        Catalog::build(
            data.manifest,
            data.layers,
            rules,
            data.version,
            data.revision,
        )
    }

    /// Index validated layers and resolve the coverage rules against them.
    /// Errors are the rules' (a collection they name is missing, say).
    pub fn build(
        manifest: Manifest,
        layers: Vec<crate::model::Layer>,
        rules: Option<Rules>,
        version: u64,
        revision: u64,
    ) -> Result<Catalog, CatalogError> {
        let mut catalog = Catalog::from_layers(manifest, layers, version);
        catalog.revision = revision;
        if let Some(rules) = rules {
            match Coverage::build(&catalog.layers, catalog.projection, rules) {
                Ok(c) => catalog.coverage = Some(c),
                Err(e) => {
                    tracing::warn!(revision, "the coverage rules do not fit the data: {e}");
                    catalog.coverage_error = Some(e);
                }
            }
        }
        Ok(catalog)
    }

    /// The next snapshot: `replaced` holds the new content of the layers an
    /// edit changed (by position); the others are shared with this one,
    /// indexes and all. Coverage is resolved again (it reads every layer).
    pub fn with_layers(
        &self,
        replaced: Vec<(usize, crate::model::Layer)>,
        version: u64,
        revision: u64,
    ) -> Result<Catalog, CatalogError> {
        let mut layers = self.layers.clone();
        let projection = self.projection;
        // Each changed layer indexes only what changed (see `index`).
        for (i, l) in replaced {
            layers[i] = Arc::new(self.layers[i].with_features(l));
        }
        let mut coverage_error = self.coverage_error.clone();
        let coverage = match &self.coverage {
            Some(c) => {
                match Coverage::build_reusing(
                    &layers,
                    projection,
                    c.rules.clone(),
                    Some((c, &self.layers)),
                ) {
                    Ok(next) => {
                        next.keep_unchanged_zone_results(c, &self.layers, &layers);
                        Some(next)
                    }
                    Err(e) => {
                        coverage_error = Some(e);
                        None
                    }
                }
            }
            None => None,
        };
        Ok(Catalog {
            manifest: self.manifest.clone(),
            layers,
            by_id: self.by_id.clone(),
            projection,
            version,
            revision,
            loaded_at: SystemTime::now(),
            coverage,
            coverage_error,
        })
    }

    /// Index already-validated layers.
    pub fn from_layers(manifest: Manifest, layers: Vec<crate::model::Layer>, version: u64) -> Self {
        let extent = layers.iter().filter_map(|l| l.extent).reduce(union_rect);
        let centre = extent
            .map(|e| e.center())
            .unwrap_or(Coord { x: 0.0, y: 0.0 });
        let projection = LocalProjection::new(centre);
        let by_id = layers
            .iter()
            .enumerate()
            .map(|(i, l)| (l.meta.id.clone(), i))
            .collect();
        // Indexes are independent: build them on all cores.
        let layers = std::thread::scope(|s| {
            let handles: Vec<_> = layers
                .into_iter()
                .map(|l| s.spawn(move || Arc::new(IndexedLayer::build(l, projection))))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("index build does not panic"))
                .collect()
        });
        Catalog {
            manifest,
            layers,
            by_id,
            projection,
            version,
            revision: 0,
            loaded_at: SystemTime::now(),
            coverage: None,
            coverage_error: None,
        }
    }

    /// A layer's position by collection id.
    pub fn layer_position(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    /// A layer by collection id.
    pub fn layer(&self, id: &str) -> Option<&IndexedLayer> {
        self.by_id.get(id).map(|&i| &*self.layers[i])
    }

    /// A feature's index in a layer, by feature id.
    pub fn feature_index(&self, layer_id: &str, feature_id: &str) -> Option<usize> {
        let l = *self.by_id.get(layer_id)?;
        self.layers[l].position_of(feature_id)
    }

    /// Per-layer figures, as `zoneatlas check` prints them.
    pub fn summaries(&self) -> Vec<LayerSummary> {
        self.layers.iter().map(|l| summarise(l)).collect()
    }
}

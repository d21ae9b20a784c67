//! A snapshot of what the server holds: the validated layers with their
//! indexes and the coverage rules resolved against them, at one revision.
//!
//! Immutable once built and shared behind an `Arc`: a request pins one
//! snapshot, so its body and its ETag (derived from `version`) agree. An edit
//! builds the next snapshot with `Catalog::with_layers`, re-indexing only the
//! layers it changed; positions are valid inside one snapshot only, feature
//! ids across snapshots.
//!
//! Must not: know about HTTP or do I/O beyond `open` (a data folder).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use geo::{Coord, Geometry, Rect};

use crate::coverage::rules::Rules;
use crate::coverage::{rules, Coverage};
use crate::geodesy::{self, LocalProjection};
use crate::index::IndexedLayer;
use crate::load::{self, LoadError, Manifest};

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
    /// `coverage.toml`.
    pub coverage: Option<Coverage>,
}

impl Catalog {
    /// Load, validate and index a data folder.
    pub fn open(dir: &Path) -> Result<Catalog, LoadError> {
        let loaded = load::load_dir(dir)?;
        let rules_path = dir.join(rules::RULES_FILE);
        let rules = rules::read(dir).map_err(|message| LoadError::Manifest {
            path: rules_path.clone(),
            message,
        })?;
        Catalog::build(loaded.manifest, loaded.layers, rules, loaded.version, 0).map_err(
            |message| LoadError::Manifest {
                path: rules_path,
                message,
            },
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
    ) -> Result<Catalog, String> {
        let mut catalog = Catalog::from_layers(manifest, layers, version);
        catalog.revision = revision;
        if let Some(rules) = rules {
            catalog.coverage = Some(Coverage::build(&catalog.layers, catalog.projection, rules)?);
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
    ) -> Result<Catalog, String> {
        let mut layers = self.layers.clone();
        let projection = self.projection;
        // Each changed layer indexes only what changed (see `index`).
        for (i, l) in replaced {
            layers[i] = Arc::new(self.layers[i].with_features(l));
        }
        let coverage = match &self.coverage {
            Some(c) => {
                let next = Coverage::build_reusing(
                    &layers,
                    projection,
                    c.rules.clone(),
                    Some((c, &self.layers)),
                )?;
                next.keep_unchanged_zone_results(c, &self.layers, &layers);
                Some(next)
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

fn union_rect(a: Rect, b: Rect) -> Rect {
    Rect::new(
        Coord {
            x: a.min().x.min(b.min().x),
            y: a.min().y.min(b.min().y),
        },
        Coord {
            x: a.max().x.max(b.max().x),
            y: a.max().y.max(b.max().y),
        },
    )
}

/// A layer's headline figures.
#[derive(Debug, Clone)]
pub struct LayerSummary {
    pub id: String,
    pub features: usize,
    /// GeoJSON geometry type -> count.
    pub geometry_types: BTreeMap<&'static str, usize>,
    pub extent: Option<Rect>,
    /// Total length of lines, in km (lines only).
    pub length_km: Option<f64>,
    /// Total area of polygons, in km² (polygons only).
    pub area_km2: Option<f64>,
}

impl fmt::Display for LayerSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let types: Vec<String> = self
            .geometry_types
            .iter()
            .map(|(t, n)| format!("{n} {t}"))
            .collect();
        write!(
            f,
            "{:<14} {:>7} features  [{}]",
            self.id,
            self.features,
            types.join(", ")
        )?;
        if let Some(km) = self.length_km {
            write!(f, "  {km:.3} km")?;
        }
        if let Some(km2) = self.area_km2 {
            write!(f, "  {km2:.3} km²")?;
        }
        if let Some(e) = self.extent {
            write!(
                f,
                "  bbox {:.5},{:.5},{:.5},{:.5}",
                e.min().x,
                e.min().y,
                e.max().x,
                e.max().y
            )?;
        }
        Ok(())
    }
}

fn summarise(l: &IndexedLayer) -> LayerSummary {
    let mut geometry_types = BTreeMap::new();
    let (mut length, mut area) = (0.0, 0.0);
    for f in &l.layer.features {
        let name = match &f.geometry {
            Geometry::Point(_) => "Point",
            Geometry::MultiPoint(_) => "MultiPoint",
            Geometry::LineString(ls) => {
                length += geodesy::length_m(&ls.0);
                "LineString"
            }
            Geometry::MultiLineString(m) => {
                length += m.0.iter().map(|ls| geodesy::length_m(&ls.0)).sum::<f64>();
                "MultiLineString"
            }
            Geometry::Polygon(p) => {
                area += geodesy::polygon_area_m2(p);
                "Polygon"
            }
            Geometry::MultiPolygon(m) => {
                area += m.0.iter().map(geodesy::polygon_area_m2).sum::<f64>();
                "MultiPolygon"
            }
            _ => "other",
        };
        *geometry_types.entry(name).or_insert(0) += 1;
    }
    use crate::model::GeometryKind::*;
    LayerSummary {
        id: l.layer.meta.id.clone(),
        features: l.layer.features.len(),
        geometry_types,
        extent: l.layer.extent,
        length_km: (l.layer.meta.geometry == LineString).then_some(length / 1000.0),
        area_km2: (l.layer.meta.geometry == Polygon).then_some(area / 1e6),
    }
}

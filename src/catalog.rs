//! What the server holds: the validated layers with their indexes.
//!
//! Built once at start-up from a data folder and shared read-only behind an
//! `Arc`; nothing mutates it afterwards, which is why responses can carry an
//! ETag derived from `version`.
//!
//! Must not: know about HTTP.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::time::SystemTime;

use geo::{Coord, Geometry, Rect};

use crate::coverage::{rules, Coverage};
use crate::geodesy::{self, LocalProjection};
use crate::index::IndexedLayer;
use crate::load::{self, LoadError, Manifest};

/// The loaded, indexed dataset.
#[derive(Debug)]
pub struct Catalog {
    pub manifest: Manifest,
    pub layers: Vec<IndexedLayer>,
    by_id: HashMap<String, usize>,
    feature_ids: Vec<HashMap<String, usize>>,
    /// The projection every index uses (centred on the data).
    pub projection: LocalProjection,
    /// Changes whenever any byte of the data does.
    pub version: u64,
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
        let mut catalog = Catalog::from_layers(loaded.manifest, loaded.layers, loaded.version);
        if let Some(rules) = rules {
            let coverage =
                Coverage::build(&catalog.layers, catalog.projection, rules).map_err(|message| {
                    LoadError::Manifest {
                        path: rules_path,
                        message,
                    }
                })?;
            catalog.coverage = Some(coverage);
        }
        Ok(catalog)
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
        let feature_ids = layers
            .iter()
            .map(|l| {
                l.features
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (f.id.clone(), i))
                    .collect()
            })
            .collect();
        // Indexes are independent: build them on all cores.
        let layers = std::thread::scope(|s| {
            let handles: Vec<_> = layers
                .into_iter()
                .map(|l| s.spawn(move || IndexedLayer::build(l, projection)))
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
            feature_ids,
            projection,
            version,
            loaded_at: SystemTime::now(),
            coverage: None,
        }
    }

    /// A layer by collection id.
    pub fn layer(&self, id: &str) -> Option<&IndexedLayer> {
        self.by_id.get(id).map(|&i| &self.layers[i])
    }

    /// A feature's index in a layer, by feature id.
    pub fn feature_index(&self, layer_id: &str, feature_id: &str) -> Option<usize> {
        let l = *self.by_id.get(layer_id)?;
        self.feature_ids[l].get(feature_id).copied()
    }

    /// Per-layer figures, as `zoneatlas check` prints them.
    pub fn summaries(&self) -> Vec<LayerSummary> {
        self.layers.iter().map(summarise).collect()
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

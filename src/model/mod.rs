//! The domain's plain types: layers, their manifest entries, features.
//!
//! A `Layer` is one collection of features that share a geometry kind, as
//! described by one `[[layer]]` entry of the data folder's `layers.toml`.
//! Coordinates are WGS84 lon/lat (`x` = longitude, `y` = latitude).
//! `features` holds a layer's features by stable position, persistent
//! across snapshots; `properties` what their properties hold.
//!
//! Must not: do I/O, know about HTTP, or hold indexes (see `index`).

use std::collections::BTreeMap;

use geo::{Geometry, Rect};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

mod features;
mod properties;
pub use features::Features;
pub use properties::{PropertyInfo, PropertyKind, PropertySummary, PropertyTally};

/// The geometry a layer holds. Each kind also accepts its multi- form, so a
/// road made of two disjoint pieces is still a road.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum GeometryKind {
    Point,
    LineString,
    Polygon,
}

impl GeometryKind {
    /// The GeoJSON type names this kind accepts.
    pub fn accepts(self) -> [&'static str; 2] {
        match self {
            GeometryKind::Point => ["Point", "MultiPoint"],
            GeometryKind::LineString => ["LineString", "MultiLineString"],
            GeometryKind::Polygon => ["Polygon", "MultiPolygon"],
        }
    }

    /// The OGC `itemType`-adjacent geometry name used in docs and summaries.
    pub fn name(self) -> &'static str {
        match self {
            GeometryKind::Point => "Point",
            GeometryKind::LineString => "LineString",
            GeometryKind::Polygon => "Polygon",
        }
    }
}

/// One `[[layer]]` entry of `layers.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LayerMeta {
    /// Collection id; the file is `<id>.geojson`.
    pub id: String,
    /// Human title (English).
    pub title: String,
    /// Human title (Chinese), optional.
    #[serde(default)]
    pub title_zh: Option<String>,
    /// What the layer holds.
    #[serde(default)]
    pub description: String,
    /// The geometry every feature must have.
    pub geometry: GeometryKind,
    /// Properties every feature must carry (non-null).
    #[serde(default)]
    pub required: Vec<String>,
    /// Properties clients may filter on with `?name=value`.
    #[serde(default)]
    pub queryable: Vec<String>,
    /// Whose data it is, as the map credits it (`© OpenStreetMap
    /// contributors (ODbL)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<String>,
    /// How the map draws it (`style`); by geometry kind when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<crate::style::LayerStyle>,
}

impl LayerMeta {
    /// The layer's style, or the default for its geometry kind (for the
    /// layer whose features make the zone, an unfilled outline: it covers
    /// everything else).
    pub fn style_or_default(&self, is_zone: bool) -> crate::style::LayerStyle {
        let default = || match is_zone {
            true => crate::style::LayerStyle::outline(),
            false => {
                let drawn = match self.geometry {
                    GeometryKind::Point => crate::style::Drawn::Points,
                    GeometryKind::LineString => crate::style::Drawn::Lines,
                    GeometryKind::Polygon => crate::style::Drawn::Areas,
                };
                crate::style::LayerStyle::default_for(&self.id, drawn)
            }
        };
        self.style.clone().unwrap_or_else(default)
    }
}

impl LayerMeta {
    /// The layer's required properties `props` lacks (or holds as null),
    /// one problem each.
    pub fn missing_required(&self, props: &crate::props::Props) -> Vec<String> {
        self.required
            .iter()
            .filter(|name| props.get(name).is_none_or(Value::is_null))
            .map(|name| format!("property {name:?} is missing"))
            .collect()
    }
}

/// The property holding a feature's status where no coverage rules name
/// another (history, progress, the change log).
pub const DEFAULT_STATUS_PROPERTY: &str = "status";

/// The manifest, `layers.toml`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Title of the whole dataset (the OGC landing page's title).
    pub title: String,
    /// Its Chinese title (the map's, in Chinese).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_zh: Option<String>,
    #[serde(default)]
    pub description: String,
    /// Layers in display order.
    #[serde(rename = "layer")]
    pub layers: Vec<LayerMeta>,
    /// What properties are called and measured in (`[properties.width_m]`:
    /// title, title_zh, unit), for every layer that has them: the schemas'
    /// titles, the map's popups and forms.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, PropertyMeta>,
}

/// A property's titles and unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PropertyMeta {
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_zh: Option<String>,
    /// The unit its numbers are in (`m`, `kV`, `MVA`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// Everything a store holds, as loaded: layers validated, the coverage
/// rules as text (the catalog parses and checks them against the layers).
#[derive(Debug)]
pub struct Dataset {
    pub manifest: Manifest,
    pub layers: Vec<Layer>,
    /// The text of the coverage rules (`coverage.toml`), if any.
    pub rules: Option<String>,
    /// The store's revision (0 for a folder).
    pub revision: u64,
    /// Changes whenever the data does; ETags derive from it.
    pub version: u64,
    /// Features the store holds that break their layer's rules (edited
    /// with another tool): left out of the data, named here.
    pub left_out: Vec<LeftOut>,
}

/// A stored feature left out of the served data, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LeftOut {
    pub layer: String,
    pub id: String,
    pub reason: String,
}

/// A feature's id: GeoJSON allows a string or a number; we keep its text.
pub type FeatureId = String;

/// One validated feature.
#[derive(Debug, Clone)]
pub struct Feature {
    /// Unique within its layer.
    pub id: FeatureId,
    /// Whether the id was a JSON number (served back as a number).
    pub numeric_id: bool,
    pub geometry: Geometry<f64>,
    pub properties: crate::props::Props,
    /// lon/lat bounding box of the geometry.
    pub bbox: Rect<f64>,
    /// The store revision that last wrote this feature (0 when served from a
    /// data folder); its ETag for editing.
    pub revision: u64,
}

/// The smallest box holding both.
pub fn union_rect(a: Rect, b: Rect) -> Rect {
    Rect::new(
        geo::coord! { x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y) },
        geo::coord! { x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y) },
    )
}

/// Bring features into cache before reading them, level by level: the
/// records, then their coordinates (and, with `properties`, their ids,
/// property names and values' text). Features picked from a large layer
/// (a page, a box's candidates) lie anywhere in memory, so each of these
/// is a cache miss; loads that do not depend on one another are in flight
/// together, where reading the features one by one waits for each miss in
/// turn. Safe code has no prefetch instruction: plain loads, summed so
/// they are kept.
pub fn warm(features: &[&Feature], properties: bool) {
    let mut sum = 0usize;
    for f in features {
        // A record spans two or three cache lines (160 bytes with its
        // count, not aligned to them): one field from each end, so every
        // line of it is loaded (a tile missed on the box's far corner).
        let ends = f.bbox.min().x.to_bits() ^ f.bbox.max().y.to_bits() ^ f.revision;
        sum = sum.wrapping_add(f.id.len() ^ f.properties.len() ^ ends as usize);
    }
    for f in features {
        sum = sum.wrapping_add(match &f.geometry {
            Geometry::LineString(l) => touch(&l.0),
            Geometry::MultiLineString(ml) => ml.0.iter().map(|l| touch(&l.0)).sum(),
            Geometry::Polygon(p) => touch(&p.exterior().0),
            g => geo::CoordsIter::coords_iter(g)
                .next()
                .map_or(0, |c| c.x.to_bits() as usize),
        });
        if properties {
            sum = sum
                .wrapping_add(f.id.bytes().next().map_or(0, usize::from))
                .wrapping_add(f.properties.keys().next().map_or(0, str::len));
        }
    }
    if properties {
        for f in features {
            for (k, v) in f.properties.iter() {
                let text = match v {
                    Value::String(s) => s.bytes().next().map_or(0, usize::from),
                    _ => 0,
                };
                sum = sum.wrapping_add(text ^ k.bytes().next().map_or(0, usize::from));
            }
        }
    }
    std::hint::black_box(sum);
}

/// One coordinate from each cache line of a feature's first `TOUCH_MAX`
/// vertices (four to a line): a tile projects every vertex, and a line's
/// later lines missed where only its first was read.
fn touch(coords: &[geo::Coord]) -> usize {
    const TOUCH_MAX: usize = 128;
    let head = &coords[..coords.len().min(TOUCH_MAX)];
    let last = head.last().map_or(0, |c| c.y.to_bits() as usize);
    head.iter()
        .step_by(4)
        .fold(last, |s, c| s ^ c.x.to_bits() as usize)
}

/// Features read at a time by `warmed`: enough loads in flight, and the
/// block still in cache when its features are used.
const WARM_BLOCK: usize = 256;

/// The features at `positions`, in order, with their positions, each block
/// of `WARM_BLOCK` brought into cache (`warm`) before it is handed out: for
/// reading many features picked from a big layer (candidates of a box, a
/// filter or a tile).
pub fn warmed<'a, 'p>(
    features: &'a Features,
    positions: &'p [usize],
    properties: bool,
) -> impl Iterator<Item = (usize, &'a Feature)> + use<'a, 'p> {
    positions.chunks(WARM_BLOCK).flat_map(move |chunk| {
        let block: Vec<&Feature> = chunk.iter().map(|&i| &*features[i]).collect();
        warm(&block, properties);
        chunk.iter().copied().zip(block)
    })
}

impl Feature {
    /// A property as text, for labels and grouping. A whole number reads
    /// the same whether stored as `110` or `110.0`. Equality goes through
    /// `query::value_equals`, not through this text.
    pub fn property_text(&self, name: &str) -> Option<String> {
        match self.properties.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            Value::Number(n) => match n.as_f64() {
                Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => Some(format!("{}", x as i64)),
                _ => Some(n.to_string()),
            },
            other => Some(other.to_string()),
        }
    }

    /// Whether a property equals the text `wanted` (see `query`).
    pub fn property_equals(&self, name: &str, wanted: &str) -> bool {
        crate::query::value_equals(self.properties.get(name), wanted)
    }
}

/// One loaded collection.
#[derive(Debug, Clone)]
pub struct Layer {
    pub meta: LayerMeta,
    /// By position, shared chunk by chunk with other snapshots: an edit
    /// copies what it changes, not the layer (see `features`).
    pub features: Features,
    /// lon/lat extent of all features; `None` for an empty layer.
    pub extent: Option<Rect<f64>>,
}

impl Layer {
    /// Build a layer, computing its extent.
    pub fn new(meta: LayerMeta, features: Vec<Feature>) -> Self {
        Layer::from_shared(meta, features.into_iter().map(Arc::new).collect())
    }

    /// Build a layer of features some other snapshot may share, numbered
    /// afresh (a new generation of positions).
    pub fn from_shared(meta: LayerMeta, features: Vec<Arc<Feature>>) -> Self {
        Layer::of(meta, Features::new(features))
    }

    /// Build a layer over `features` as they are numbered, measuring its
    /// extent.
    pub fn of(meta: LayerMeta, features: Features) -> Self {
        let extent = features.live().map(|f| f.bbox).reduce(union_rect);
        Layer {
            meta,
            features,
            extent,
        }
    }

    /// Position of a feature by id (linear scan; the catalog keeps a map).
    pub fn position(&self, id: &str) -> Option<usize> {
        self.features
            .indexed()
            .find(|(_, f)| f.id == id)
            .map(|(p, _)| p)
    }
}

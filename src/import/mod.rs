//! Bring your own data: a GeoPackage table, a Shapefile or a GeoJSON file,
//! in any CRS `crs` knows, into a store layer (created, or appended to).
//! Every feature is validated as loading does; nothing is written unless
//! all pass (or `skip_invalid` drops and reports the failures), and the
//! whole import is one revision of the store, by `import`.
//!
//! Must not: know about HTTP.

pub mod osm;
mod pbf;
pub mod shp;

use std::path::{Path, PathBuf};

use geo::{Geometry, MapCoords};
use serde_json::{json, Map, Value};

use crate::crs::{Crs, Order};
use crate::model::{Feature, GeometryKind, LayerMeta};
use crate::store::{Change, Store, StoreError};

/// One source row: its 1-based number (as the user counts rows), its id if
/// the source has one, the geometry in the source's CRS (easting first).
#[derive(Debug)]
pub struct Row {
    pub number: usize,
    pub id: Option<Value>,
    /// The row's geometry, or why it could not be read (reported, and
    /// skipped with `--skip-invalid`).
    pub geometry: Result<Geometry, String>,
    pub properties: Map<String, Value>,
}

/// Why an import did not happen; the store is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{0}")]
    Source(String),
    #[error("{} feature(s) failed validation, nothing imported (--skip-invalid imports the rest): {}", .0.len(), first_few(.0))]
    Invalid(Vec<String>),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The first problems, on one line.
fn first_few(problems: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = problems
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > SHOWN {
        text.push_str(&format!("; and {} more", problems.len() - SHOWN));
    }
    text
}

/// What to import and how.
#[derive(Debug, Default)]
pub struct Options {
    pub layer: String,
    /// Overrides the source's own CRS.
    pub crs: Option<Crs>,
    /// Overrides a Shapefile's `.cpg`.
    pub encoding: Option<String>,
    /// Source field → property name.
    pub map: Vec<(String, String)>,
    /// Properties set on every feature.
    pub set: Vec<(String, Value)>,
    pub skip_invalid: bool,
    pub title: Option<String>,
    /// Counts rows as they are validated, for a progress display.
    pub progress: Option<std::sync::Arc<Progress>>,
}

/// How far an import is: rows validated out of rows read.
#[derive(Debug, Default)]
pub struct Progress {
    pub total: std::sync::atomic::AtomicUsize,
    pub done: std::sync::atomic::AtomicUsize,
}

/// What an import did.
#[derive(Debug)]
pub struct Summary {
    pub layer: String,
    pub created_layer: bool,
    pub imported: usize,
    pub skipped: Vec<String>,
    pub revision: u64,
    pub crs: String,
}

/// Read a source: `FILE.gpkg[:TABLE]`, `FILE.shp`, or `FILE.geojson`/`.json`.
pub fn read_source(
    spec: &str,
    encoding: Option<&str>,
) -> Result<(Vec<Row>, Option<Crs>), ImportError> {
    let (path, table) = match spec.rsplit_once(':') {
        Some((p, t)) if p.to_ascii_lowercase().ends_with(".gpkg") => (PathBuf::from(p), Some(t)),
        _ => (PathBuf::from(spec), None),
    };
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "gpkg" => {
            let t = crate::store::gpkg_source::read_source_table(&path, table)
                .map_err(|m| ImportError::Source(format!("{}: {m}", path.display())))?;
            let crs = match t.epsg {
                Some(4326) => Some(Crs::Crs84),
                Some(code) => Some(Crs::epsg(code).ok_or_else(|| {
                    ImportError::Source(format!(
                        "{}: its CRS is EPSG:{code}, which this server does not convert; reproject it first, or give --crs; {}",
                        path.display(),
                        Crs::supported()
                    ))
                })?),
                None => None,
            };
            let rows = t
                .rows
                .into_iter()
                .enumerate()
                .map(|(i, (fid, geometry, properties))| Row {
                    number: i + 1,
                    id: Some(Value::from(fid)),
                    geometry,
                    properties,
                })
                .collect();
            Ok((rows, crs))
        }
        "shp" => shp::read(&path, encoding),
        "geojson" | "json" => read_geojson(&path),
        _ => Err(ImportError::Usage(format!(
            "{spec}: give a .gpkg (optionally :TABLE), a .shp or a .geojson file"
        ))),
    }
}

fn read_geojson(path: &Path) -> Result<(Vec<Row>, Option<Crs>), ImportError> {
    let bad = |m: String| ImportError::Source(format!("{}: {m}", path.display()));
    let bytes = crate::load::read_regular_file(path).map_err(|e| bad(e.to_string()))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| bad(format!("not JSON: {e}")))?;
    // The pre-RFC 7946 `crs` member, as GDAL still writes for projected data.
    let crs = match v.pointer("/crs/properties/name").and_then(Value::as_str) {
        None => None,
        Some(name) => {
            let code = name.rsplit(':').next().unwrap_or_default();
            Some(match name {
                n if n.ends_with("CRS84") => Crs::Crs84,
                _ => match code.parse::<u32>().ok() {
                    Some(4326) => Crs::Crs84,
                    Some(c) => Crs::epsg(c).ok_or_else(|| {
                        bad(format!(
                            "its crs {name} is not supported; {}",
                            Crs::supported()
                        ))
                    })?,
                    None => return Err(bad(format!("its crs {name:?} is not understood"))),
                },
            })
        }
    };
    let features = v["features"]
        .as_array()
        .ok_or_else(|| bad("not a GeoJSON FeatureCollection".into()))?;
    let mut rows = Vec::with_capacity(features.len());
    for (i, f) in features.iter().enumerate() {
        let geometry = serde_json::from_value::<geojson::Geometry>(f["geometry"].clone())
            .map_err(|e| e.to_string())
            .and_then(|g| Geometry::try_from(g).map_err(|e| e.to_string()))
            .map_err(|e| format!("geometry: {e}"));
        rows.push(Row {
            number: i + 1,
            id: f.get("id").cloned(),
            geometry,
            properties: f["properties"].as_object().cloned().unwrap_or_default(),
        });
    }
    Ok((rows, crs))
}

fn kind_of(g: &Geometry) -> Option<GeometryKind> {
    match g {
        Geometry::Point(_) | Geometry::MultiPoint(_) => Some(GeometryKind::Point),
        Geometry::LineString(_) | Geometry::MultiLineString(_) => Some(GeometryKind::LineString),
        Geometry::Polygon(_) | Geometry::MultiPolygon(_) => Some(GeometryKind::Polygon),
        _ => None,
    }
}

/// Read `source`, convert, validate, and write it into `store` (created
/// empty if missing) as one revision.
pub fn import(store_path: &Path, source: &str, opts: &Options) -> Result<Summary, ImportError> {
    let (rows, declared) = read_source(source, opts.encoding.as_deref())?;
    if rows.is_empty() {
        return Err(ImportError::Source(format!("{source}: no features")));
    }
    let crs = opts.crs.or(declared).unwrap_or(Crs::Crs84);
    let (store, data) = existing(store_path)?;
    let existing = data.layers.iter().find(|l| l.meta.id == opts.layer);
    let mut kinds: Vec<GeometryKind> = Vec::new();
    for k in rows
        .iter()
        .filter_map(|r| r.geometry.as_ref().ok().and_then(kind_of))
    {
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    let kind = match (existing, kinds.as_slice()) {
        (Some(l), _) => l.meta.geometry,
        (None, [one]) => *one,
        (None, _) => {
            return Err(ImportError::Source(format!(
                "{source}: mixed geometry kinds ({kinds:?}); import each kind into its own layer"
            )))
        }
    };
    if !opts
        .layer
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        || opts.layer.is_empty()
    {
        return Err(ImportError::Usage(format!(
            "layer id {:?}: use lowercase letters, digits, _ or -",
            opts.layer
        )));
    }
    let meta = match existing {
        Some(l) => l.meta.clone(),
        None => LayerMeta {
            id: opts.layer.clone(),
            title: opts.title.clone().unwrap_or_else(|| opts.layer.clone()),
            title_zh: None,
            description: format!(
                "Imported from {}",
                Path::new(source)
                    .file_name()
                    .map_or(source.into(), |n| n.to_string_lossy())
            ),
            geometry: kind,
            required: vec![],
            style: None,
            attribution: None,
            queryable: if rows.iter().any(|r| r.properties.contains_key("status")) {
                vec!["status".into()]
            } else {
                vec![]
            },
        },
    };
    let taken: std::collections::HashSet<String> = existing
        .map(|l| l.features.live().map(|f| f.id.clone()).collect())
        .unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    let (mut features, mut problems) = (Vec::new(), Vec::new());
    if let Some(p) = &opts.progress {
        p.total
            .store(rows.len(), std::sync::atomic::Ordering::Relaxed);
    }
    for row in rows {
        let number = row.number;
        if let Some(p) = &opts.progress {
            p.done.store(number, std::sync::atomic::Ordering::Relaxed);
        }
        match prepare(row, &crs, opts, &meta) {
            Ok(f) if taken.contains(&f.id) || !seen.insert(f.id.clone()) => {
                problems.push(format!(
                    "row {number}: id {:?} is already in layer {}",
                    f.id, meta.id
                ));
            }
            Ok(f) => features.push(f),
            Err(p) => problems.push(p),
        }
    }
    if !problems.is_empty() && !opts.skip_invalid {
        return Err(ImportError::Invalid(problems));
    }
    if features.is_empty() {
        return Err(ImportError::Source(format!("{source}: no valid features")));
    }
    let mut changes: Vec<(String, Change)> = Vec::with_capacity(features.len() + 1);
    if existing.is_none() {
        changes.push(("import".into(), Change::AddLayer { meta: meta.clone() }));
    }
    let imported = features.len();
    changes.extend(features.into_iter().map(|feature| {
        (
            "import".to_owned(),
            Change::Create {
                layer: meta.id.clone(),
                feature,
            },
        )
    }));
    let committed = commit_to(store, store_path, data.revision, &changes)?;
    Ok(Summary {
        layer: meta.id,
        created_layer: existing.is_none(),
        imported,
        skipped: problems,
        revision: committed.revision,
        crs: crs.name(),
    })
}

/// The store and what it holds, if it exists (a file, or a database
/// holding a zone); else nothing yet and an empty dataset (the store is
/// created only once the import is known to succeed).
fn existing(name: &Path) -> Result<(Option<Box<dyn Store>>, crate::store::Dataset), ImportError> {
    if let Some(mut store) = crate::store::open_existing(name)? {
        let data = store.load()?;
        return Ok((Some(store), data));
    }
    let title = match crate::store::is_postgres(name) {
        true => "zoneatlas".to_owned(),
        false => name
            .file_stem()
            .map_or("zoneatlas".into(), |s| s.to_string_lossy().into_owned()),
    };
    Ok((
        None,
        crate::store::Dataset {
            left_out: Vec::new(),
            manifest: crate::load::Manifest {
                title,
                title_zh: None,
                description: String::new(),
                layers: vec![],
                // Titles for the properties an import writes (an OSM
                // import's; a file's of the same names).
                properties: toml::from_str(osm::PROPERTY_TITLES).unwrap_or_default(),
            },
            layers: vec![],
            rules: None,
            revision: 0,
            version: 0,
        },
    ))
}

/// A new, empty store.
/// Commit an import's changes as one revision, from the revision its
/// store was read at (`read_at`); a store that did not exist is created
/// now, empty, at revision 1.
fn commit_to(
    store: Option<Box<dyn Store>>,
    name: &Path,
    read_at: u64,
    changes: &[(String, Change)],
) -> Result<crate::store::Committed, ImportError> {
    let (mut store, base) = match store {
        Some(s) => (s, read_at),
        None => (create_empty(name)?, 1),
    };
    Ok(store.commit(base, changes, None)?)
}

fn create_empty(name: &Path) -> Result<Box<dyn Store>, ImportError> {
    let (_, empty) = existing(name)?;
    Ok(crate::store::create(name, &empty)?)
}

/// One row to a validated feature: fields mapped, properties set, the
/// geometry to WGS84 lon/lat, then the loader's own checks.
fn prepare(row: Row, crs: &Crs, opts: &Options, meta: &LayerMeta) -> Result<Feature, String> {
    let at = |m: String| format!("row {}: {m}", row.number);
    let mut props = Map::new();
    for (k, v) in row.properties {
        let name = opts
            .map
            .iter()
            .find(|(from, _)| *from == k)
            .map_or(k, |(_, to)| to.clone());
        props.insert(name, v);
    }
    for (k, v) in &opts.set {
        props.insert(k.clone(), v.clone());
    }
    let id = match props.remove("id") {
        Some(v) if !v.is_null() => v,
        _ => row
            .id
            .unwrap_or_else(|| json!(format!("{}-{}", meta.id, row.number))),
    };
    let geometry = row.geometry.map_err(&at)?;
    let geometry = if crs.is_lonlat() {
        geometry
    } else {
        geometry
            .try_map_coords(|c| crs.to_lonlat([c.x, c.y], Order::Traditional))
            .map_err(|e| {
                at(format!(
                    "{e} (is the CRS {} right? --crs overrides it)",
                    crs.name()
                ))
            })?
    };
    let geometry = serde_json::to_value(crate::encode::GeometryJson(&geometry))
        .map_err(|e| at(e.to_string()))?;
    let v = json!({"type": "Feature", "id": id, "geometry": geometry, "properties": props});
    crate::load::feature_from_geojson(&v, meta).map_err(|lines| at(lines.join("; ")))
}

/// What an OSM import did to one layer.
#[derive(Debug)]
pub struct LayerImport {
    pub layer: String,
    /// The elements the profile mapped into it.
    pub mapped: usize,
    pub imported: usize,
    /// Mapped but refused (breaking the layer's rules, or an id in use).
    pub refused: usize,
    /// The first few distinct reasons, with how many rows each refused.
    pub reasons: Vec<(String, usize)>,
}

/// How many distinct refusal reasons a summary lists per layer.
const REASONS_SHOWN: usize = 5;

/// What an OSM import did, per layer.
#[derive(Debug)]
pub struct OsmSummary {
    pub layers: Vec<LayerImport>,
    /// Elements whose geometry could not be built (a way missing nodes from
    /// the extract, a ring that does not close).
    pub dropped: usize,
    pub revision: Option<u64>,
}

impl OsmSummary {
    /// The layers the profile mapped elements into and that received
    /// none of them: the import did not do what was asked.
    pub fn empty_layers(&self) -> Vec<&LayerImport> {
        self.layers
            .iter()
            .filter(|l| l.mapped > 0 && l.imported == 0)
            .collect()
    }
}

/// Map an OpenStreetMap extract into the store's layers (created when
/// missing) as one revision. OSM data is imperfect: features whose geometry
/// cannot be built or fails validation (an unclosed ring, a
/// self-intersection) are skipped and counted, not fatal.
pub fn import_osm(
    store_path: &Path,
    pbf: &Path,
    profile: Option<&str>,
) -> Result<OsmSummary, ImportError> {
    let profile = osm::Profile::parse(profile.unwrap_or(osm::DEFAULT_PROFILE))
        .map_err(|e| ImportError::Usage(format!("the profile: {e}")))?;
    let extract = osm::read(pbf, &profile)?;
    let (store, data) = existing(store_path)?;
    let mut changes: Vec<(String, Change)> = Vec::new();
    let mut layers = Vec::new();
    for (id, (kind, rows)) in extract.layers {
        if rows.is_empty() {
            continue;
        }
        let existing = data.layers.iter().find(|l| l.meta.id == id);
        let rule = profile.layer.get(&id);
        if existing.is_some_and(|l| l.meta.geometry != kind) {
            return Err(ImportError::Usage(format!(
                "layer {id} holds {}s; the profile maps {}s into it",
                existing.map_or("", |l| l.meta.geometry.name()),
                kind.name()
            )));
        }
        let meta = existing
            .map(|l| l.meta.clone())
            .unwrap_or_else(|| LayerMeta {
                id: id.clone(),
                title: rule
                    .and_then(|r| r.title.clone())
                    .unwrap_or_else(|| id.replace('_', " ")),
                title_zh: rule.and_then(|r| r.title_zh.clone()),
                style: rule.and_then(|r| r.style.clone()),
                attribution: Some(osm::ATTRIBUTION.into()),
                description: format!(
                    "From OpenStreetMap ({})",
                    pbf.file_name()
                        .map_or(String::new(), |n| n.to_string_lossy().into_owned())
                ),
                geometry: kind,
                required: vec![],
                queryable: vec!["status".into()],
            });
        let taken: std::collections::HashSet<String> = existing
            .map(|l| l.features.live().map(|f| f.id.clone()).collect())
            .unwrap_or_default();
        let opts = Options {
            layer: id.clone(),
            ..Options::default()
        };
        let mapped = rows.len();
        let mut good = Vec::new();
        let mut reasons: Vec<(String, usize)> = Vec::new();
        let mut refuse = |why: String| {
            // "row 12: property "width_m" is missing" -> the reason alone.
            let why = why
                .split_once(": ")
                .map_or(why.clone(), |(_, r)| r.to_owned());
            match reasons.iter_mut().find(|(r, _)| *r == why) {
                Some((_, n)) => *n += 1,
                None => reasons.push((why, 1)),
            }
        };
        for row in rows {
            match prepare(row, &Crs::Crs84, &opts, &meta) {
                Ok(f) if taken.contains(&f.id) => {
                    refuse(format!("row: id {:?} is in use in the layer", f.id))
                }
                Ok(f) => good.push(f),
                Err(e) => refuse(e),
            }
        }
        let refused = mapped - good.len();
        reasons.sort_by_key(|r| std::cmp::Reverse(r.1));
        reasons.truncate(REASONS_SHOWN);
        layers.push(LayerImport {
            layer: id.clone(),
            mapped,
            imported: good.len(),
            refused,
            reasons,
        });
        if good.is_empty() {
            continue;
        }
        if existing.is_none() {
            changes.push(("import".into(), Change::AddLayer { meta: meta.clone() }));
        }
        changes.extend(good.into_iter().map(|feature| {
            (
                "import".to_owned(),
                Change::Create {
                    layer: id.clone(),
                    feature,
                },
            )
        }));
    }
    let mut summary = OsmSummary {
        layers,
        dropped: extract.dropped,
        revision: None,
    };
    // All or nothing: a layer the profile mapped elements into that
    // would receive none of them means the import is not what was asked
    // (the layer's rules refuse the data): nothing is written.
    if summary.empty_layers().is_empty() && !changes.is_empty() {
        summary.revision = Some(commit_to(store, store_path, data.revision, &changes)?.revision);
    }
    Ok(summary)
}

/// Give a store coverage rules (a `coverage.toml`), after checking that they
/// resolve against its layers as the server will resolve them.
pub fn set_rules(store_path: &Path, text: &str) -> Result<(), ImportError> {
    let mut store = crate::store::open_existing(store_path)?.ok_or_else(|| {
        ImportError::Usage(format!(
            "{}: no such store",
            crate::store::display_name(store_path)
        ))
    })?;
    let data = store.load()?;
    let rules = crate::coverage::rules::parse(text)
        .map_err(|e| ImportError::Usage(format!("the rules: {e}")))?;
    crate::catalog::Catalog::build(data.manifest, data.layers, Some(rules), 0, 0)
        .map_err(|e| ImportError::Usage(format!("the rules do not fit the store's layers: {e}")))?;
    store.set_rules(text)?;
    Ok(())
}

//! A data folder on disk -> validated layers, or every problem found.
//!
//! A data folder holds `layers.toml` (the manifest: which layers exist, their
//! titles, geometry kind, required and queryable properties) and one
//! `<id>.geojson` FeatureCollection per layer. Loading is strict and
//! all-or-nothing: each problem becomes one line naming the file, the feature
//! (its index in `features[]`, counting from 0, and its id) and what is wrong,
//! and nothing is returned unless there are none.
//!
//! GeoJSON is read with our own serde types rather than `geojson::GeoJson`:
//! it skips the intermediate `serde_json::Value` tree, which matters at a
//! million segments. A big file is parsed on every core: one thread cuts
//! the `features` array into elements' text, the others parse batches of
//! them, and the result (problems included) is the one-thread parse's.
//!
//! Must not: know about HTTP or indexes.

use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use geo::sweep::Cross;
use geo::{
    BoundingRect, Contains, Coord, Geometry, Intersections, Line, LineIntersection, LineString,
    MultiLineString, MultiPoint, MultiPolygon, Point, Polygon,
};
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{Envelope, RTree, RTreeObject, AABB};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Feature, GeometryKind, Layer, LayerMeta};

mod split;

/// The manifest file's name inside a data folder.
pub const MANIFEST: &str = "layers.toml";

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

/// What a successful load returns.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub manifest: Manifest,
    pub layers: Vec<Layer>,
    /// A hash of every byte read: changes whenever the data does (ETags).
    pub version: u64,
}

/// Read a whole file, refusing anything that is not a regular file: a FIFO
/// or a device named as a layer would block the loader forever.
pub fn read_regular_file(path: &Path) -> std::io::Result<Vec<u8>> {
    regular_file_size(path)?;
    std::fs::read(path)
}

/// The size of a regular file; an error for anything else (opening a FIFO
/// would block).
fn regular_file_size(path: &Path) -> std::io::Result<u64> {
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, device or folder cannot be a data file)",
        ));
    }
    Ok(meta.len())
}

/// `read_regular_file` for a text file (UTF-8).
pub fn read_regular_text(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_regular_file(path)?)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
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

/// Validate a GeoJSON FeatureCollection's bytes as the layer `meta` describes.
/// `path` only labels problems.
pub fn parse_layer(path: &Path, bytes: &[u8], meta: LayerMeta) -> Result<Layer, Vec<Problem>> {
    let parallel = (bytes.len() >= PARALLEL_PARSE_BYTES)
        .then(|| parse_parallel(path, bytes, &mut NoHash, &meta))
        .flatten();
    let features = match parallel {
        Some(done) => done,
        None => parse_serial(path, bytes, &meta),
    }?;
    Ok(Layer::from_shared(meta, features))
}

/// `parse_layer` on one thread; the reference for `parse_parallel`, and
/// what words the problem when a file does not parse.
fn parse_serial(
    path: &Path,
    bytes: &[u8],
    meta: &LayerMeta,
) -> Result<Vec<Arc<Feature>>, Vec<Problem>> {
    let problem = |feature, message| problem_in(path, feature, message);
    // Each feature is converted as soon as it is parsed: a million raw
    // features (nested coordinate arrays, strings) never exist at once.
    let mut c = Collector::new(path, meta);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let kind = CollectionSeed(&mut c)
        .deserialize(&mut de)
        .and_then(|k| de.end().map(|()| k))
        .map_err(|e| {
            if e.is_syntax() || e.is_eof() {
                return vec![problem(None, format!("invalid JSON: {e}"))];
            }
            // Well-formed JSON of the wrong shape: find which feature, so
            // the message names its index and id rather than only a byte
            // column.
            match locate_bad_feature(bytes) {
                Some((at, message)) => vec![problem(Some(at), message)],
                None => vec![problem(
                    None,
                    format!("not a GeoJSON FeatureCollection: {e}"),
                )],
            }
        })?;
    if kind.as_deref() != Some("FeatureCollection") {
        return Err(vec![problem(
            None,
            match kind {
                Some(k) => format!("\"type\" is {k:?}, expected \"FeatureCollection\""),
                None => "\"type\" is missing, expected \"FeatureCollection\"".into(),
            },
        )]);
    }
    c.finish()
}

/// Layer files at least this big are parsed on every core.
const PARALLEL_PARSE_BYTES: usize = 4 << 20;

/// `parse_layer` on every core, reading `input` as it goes: this thread
/// reads and cuts the `features` array into its elements' text
/// (`split`), and worker threads parse and check batches of them; the
/// batches are put back in order and checked for duplicate ids as the
/// serial parse does. Every byte read goes to `hasher`. None when anything
/// does not parse (bad JSON, a malformed feature, not a
/// FeatureCollection): the serial parse then finds and words the problem.
fn parse_parallel(
    path: &Path,
    input: impl std::io::Read,
    hasher: &mut impl Hasher,
    meta: &LayerMeta,
) -> Option<Result<Vec<Arc<Feature>>, Vec<Problem>>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if threads < 2 {
        return None;
    }
    let (tx, rx) = std::sync::mpsc::sync_channel::<split::Batch>(threads * 2);
    let queue = std::sync::Mutex::new(rx);
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| scope.spawn(|| parse_batches(&queue, &failed, path, meta)))
            .collect();
        // Workers gone (one panicked): nothing to do but finish reading;
        // the join reports it.
        let kind = split::split(input, hasher, |batch| {
            let _ = tx.send(batch);
        });
        // The sender is gone: workers finish what is queued and stop.
        drop(tx);
        let mut parts = Vec::new();
        for w in workers {
            parts.extend(w.join().ok()??);
        }
        if kind?.as_deref() != Some("FeatureCollection") {
            return None;
        }
        parts.sort_by_key(|(start, _)| *start);
        let mut all = Collector::new(path, meta);
        all.features
            .reserve_exact(parts.iter().map(|(_, c)| c.features.len()).sum());
        for (_, c) in parts {
            all.features.extend(c.features);
            all.problems.extend(c.problems);
            all.rejected.extend(c.rejected);
        }
        Some(all.finish())
    })
}

/// A parsing thread of `parse_parallel`: batches from the queue, each into
/// its own collector. None when an element does not parse. It drains the
/// queue to the end either way: a worker that stopped early would leave
/// the splitter blocked on a full queue once every worker had (a file of
/// malformed features would hang the load).
fn parse_batches<'a>(
    queue: &std::sync::Mutex<std::sync::mpsc::Receiver<split::Batch>>,
    failed: &std::sync::atomic::AtomicBool,
    path: &'a Path,
    meta: &'a LayerMeta,
) -> Option<Vec<(usize, Collector<'a>)>> {
    use std::sync::atomic::Ordering::Relaxed;
    let mut done = Vec::new();
    loop {
        // A poisoned lock: another worker panicked, and its join says so.
        let next = queue
            .lock()
            .map_or(Err(std::sync::mpsc::RecvError), |q| q.recv());
        let Ok(batch) = next else {
            return (!failed.load(Relaxed)).then_some(done);
        };
        if failed.load(Relaxed) {
            continue;
        }
        let mut c = Collector::new(path, meta);
        for (k, text) in batch.elements().enumerate() {
            match serde_json::from_slice::<RawFeature>(text) {
                Ok(f) => c.take(batch.first + k, f),
                Err(_) => {
                    failed.store(true, Relaxed);
                    break;
                }
            }
        }
        done.push((batch.first, c));
    }
}

/// A hasher for bytes whose hash nobody needs.
struct NoHash;

impl Hasher for NoHash {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, _: &[u8]) {}
}

/// A problem with a file, or with one of its features (index, id).
fn problem_in(path: &Path, feature: Option<(usize, Option<String>)>, message: String) -> Problem {
    Problem {
        file: path.to_path_buf(),
        feature,
        message,
    }
}

/// Features converted and checked as they are parsed (`parse_layer`), all
/// of a file or one batch of it; `finish` checks ids across features.
struct Collector<'a> {
    path: &'a Path,
    meta: &'a LayerMeta,
    problems: Vec<Problem>,
    features: Vec<Arc<Feature>>,
    /// The features left out, by index, with their ids: duplicates are
    /// looked for among every feature, kept or not.
    rejected: Vec<(usize, Option<String>)>,
}

impl<'a> Collector<'a> {
    fn new(path: &'a Path, meta: &'a LayerMeta) -> Self {
        Collector {
            path,
            meta,
            problems: Vec::new(),
            features: Vec::new(),
            rejected: Vec::new(),
        }
    }

    /// Every feature taken, in order: the features, or every problem
    /// (duplicate ids included), in feature order.
    fn finish(mut self) -> Result<Vec<Arc<Feature>>, Vec<Problem>> {
        let n = self.features.len() + self.rejected.len();
        let mut seen: HashSet<&str, foldhash::fast::RandomState> =
            HashSet::with_capacity_and_hasher(n, Default::default());
        let (mut kept, mut left_out) = (self.features.iter(), self.rejected.iter().peekable());
        let mut duplicates = Vec::new();
        for index in 0..n {
            let id = match left_out.peek() {
                Some((at, id)) if *at == index => {
                    left_out.next();
                    id.as_deref()
                }
                _ => kept.next().map(|f| f.id.as_str()),
            };
            if let Some(id) = id {
                if !seen.insert(id) {
                    duplicates.push(problem_in(
                        self.path,
                        Some((index, Some(id.to_owned()))),
                        format!("duplicate id {id:?}"),
                    ));
                }
            }
        }
        if duplicates.is_empty() && self.problems.is_empty() {
            return Ok(self.features);
        }
        self.problems.extend(duplicates);
        // Stable: a feature's own problems stay in the order found.
        self.problems
            .sort_by_key(|p| p.feature.as_ref().map(|f| f.0));
        Err(self.problems)
    }

    fn problem(&self, feature: Option<(usize, Option<String>)>, message: String) -> Problem {
        problem_in(self.path, feature, message)
    }

    /// Check one raw feature and keep it, or record what is wrong with it.
    fn take(&mut self, index: usize, f: RawFeature) {
        let (id, numeric_id) = match &f.id {
            Some(Value::String(s)) if !s.is_empty() => (Some(s.clone()), false),
            Some(Value::Number(n)) => (Some(n.to_string()), true),
            _ => (None, false),
        };
        let at = Some((index, id.clone()));
        let before = self.problems.len();
        if f.kind.as_deref() != Some("Feature") {
            let p = self.problem(
                at.clone(),
                format!(
                    "\"type\" is {:?}, expected \"Feature\"",
                    f.kind.unwrap_or_default()
                ),
            );
            self.problems.push(p);
        }
        // Duplicates are found across every feature, in `finish`.
        if id.is_none() {
            let p = self.problem(
                at.clone(),
                "\"id\" is missing (a non-empty string or a number is required)".into(),
            );
            self.problems.push(p);
        }
        let properties = f.properties.unwrap_or_default();
        for name in &self.meta.required {
            if properties.get(name).is_none_or(Value::is_null) {
                let p = self.problem(at.clone(), format!("property {name:?} is missing"));
                self.problems.push(p);
            }
        }
        let geometry = match f.geometry {
            None => {
                let p = self.problem(at.clone(), "geometry is missing (null)".into());
                self.problems.push(p);
                None
            }
            Some(g) => match build_geometry(g, self.meta.geometry) {
                Ok(g) => Some(g),
                Err(message) => {
                    let p = self.problem(at.clone(), message);
                    self.problems.push(p);
                    None
                }
            },
        };
        if self.problems.len() > before {
            self.rejected.push((index, id));
            return;
        }
        if let (Some(id), Some(geometry)) = (id, geometry) {
            let Some(bbox) = geometry.bounding_rect() else {
                let p = self.problem(at, "geometry is empty".into());
                self.problems.push(p);
                self.rejected.push((index, Some(id)));
                return;
            };
            // Each in its own `Arc` at once, as layers hold them: a
            // million features are not built twice.
            self.features.push(Arc::new(Feature {
                id,
                numeric_id,
                revision: 0,
                geometry,
                properties,
                bbox,
            }));
        }
    }
}

/// A FeatureCollection, its features handed to a `Collector`; yields
/// its `"type"`.
struct CollectionSeed<'c, 'a>(&'c mut Collector<'a>);

impl<'de> DeserializeSeed<'de> for CollectionSeed<'_, '_> {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CollectionSeed<'_, '_> {
    type Value = Option<String>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a GeoJSON FeatureCollection object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Option<String>, A::Error> {
        let mut kind = None;
        let mut seen_features = false;
        while let Some(key) = m.next_key::<std::borrow::Cow<'de, str>>()? {
            match &*key {
                "type" => kind = Some(m.next_value::<String>()?),
                "features" => {
                    m.next_value_seed(FeaturesSeed(&mut *self.0))?;
                    seen_features = true;
                }
                _ => {
                    m.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        if !seen_features {
            return Err(serde::de::Error::missing_field("features"));
        }
        Ok(kind)
    }
}

/// The `features` array, each element handed to the collector in turn.
struct FeaturesSeed<'c, 'a>(&'c mut Collector<'a>);

impl<'de> DeserializeSeed<'de> for FeaturesSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for FeaturesSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of GeoJSON Features")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(f) = s.next_element::<RawFeature>()? {
            self.0.take(index, f);
            index += 1;
        }
        Ok(())
    }
}

/// One client feature (a GeoJSON Feature object) validated as layer data
/// is: the layer's geometry kind, valid coordinates and rings, an id,
/// required properties. Problems come one per line, without a file name.
pub fn feature_from_geojson(v: &Value, meta: &LayerMeta) -> Result<Feature, Vec<String>> {
    let wrapped = serde_json::json!({"type": "FeatureCollection", "features": [v]});
    let bytes = serde_json::to_vec(&wrapped).map_err(|e| vec![e.to_string()])?;
    match parse_layer(Path::new("body"), &bytes, meta.clone()) {
        Ok(mut layer) => layer
            .features
            .pop()
            .map(Arc::unwrap_or_clone)
            .ok_or_else(|| vec!["no feature".to_owned()]),
        Err(problems) => Err(problems.into_iter().map(|p| p.message).collect()),
    }
}

/// The first feature that does not deserialize, with its index, id and the
/// reason; only called on the error path (it builds a `Value` tree).
fn locate_bad_feature(bytes: &[u8]) -> Option<((usize, Option<String>), String)> {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    let features = v.get("features")?.as_array()?;
    features.iter().enumerate().find_map(|(i, f)| {
        let e = RawFeature::deserialize(f).err()?;
        let id = match f.get("id") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        Some(((i, id), format!("not a valid GeoJSON feature: {e}")))
    })
}

/// Most segment pairs the validation sweep may compare for a client's
/// polygon. The sweep compares every pair of segments whose x (or y) ranges
/// overlap: near-linear for ordinary shapes, quadratic for a star whose
/// spikes all span the same range. Counting the pairs first costs
/// O(n log n); a polygon over the budget is refused before the sweep runs.
/// 50M pairs take about 0.3 s on one core (release build).
pub const MAX_SWEEP_PAIRS: u64 = 50_000_000;

/// Why a client's polygon was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientPolygonError {
    /// Not a valid GeoJSON polygon (the message says why).
    #[error("{0}")]
    Invalid(String),
    /// Valid or not, too costly to validate.
    #[error("{0}")]
    TooComplex(String),
}

/// A client's polygon (a GeoJSON Polygon, MultiPolygon, or a Feature holding
/// one), validated as strictly as layer data: finite in-range coordinates,
/// closed non-degenerate rings, no self-intersection; within the sweep budget.
pub fn polygon_from_geojson(v: Value) -> Result<Geometry, ClientPolygonError> {
    use ClientPolygonError::Invalid;
    let geometry = match v.get("type").and_then(Value::as_str) {
        Some("Feature") => v.get("geometry").cloned().unwrap_or(Value::Null),
        Some(_) => v,
        None => return Err(Invalid("not GeoJSON: no \"type\" member".into())),
    };
    if geometry.is_null() {
        return Err(Invalid("the Feature has no geometry".into()));
    }
    let raw: RawGeometry = serde_json::from_value(geometry)
        .map_err(|e| Invalid(format!("not a GeoJSON geometry: {e}")))?;
    let geometry = build_geometry_unchecked(raw, GeometryKind::Polygon).map_err(Invalid)?;
    if let Some(p) = polygon_problem(polygons_in(&geometry), Some(MAX_SWEEP_PAIRS)) {
        return Err(match p {
            SweepProblem::TooComplex(m) => ClientPolygonError::TooComplex(m),
            SweepProblem::Invalid(m) => Invalid(format!("invalid polygon: {m}")),
        });
    }
    Ok(geometry)
}

/// The polygons of a (Multi)Polygon geometry; none for other kinds.
fn polygons_in(g: &Geometry) -> &[Polygon] {
    match g {
        Geometry::Polygon(p) => std::slice::from_ref(p),
        Geometry::MultiPolygon(m) => &m.0,
        _ => &[],
    }
}

/// What the polygon check found.
enum SweepProblem {
    Invalid(String),
    TooComplex(String),
}

/// Pairs of segments whose ranges overlap along one axis (what the sweep
/// compares), counted in O(n log n) by sorting the ranges' starts.
fn overlapping_pairs(ranges: &mut [(f64, f64)]) -> u64 {
    ranges.sort_by(|a, b| a.0.total_cmp(&b.0));
    let starts: Vec<f64> = ranges.iter().map(|r| r.0).collect();
    ranges
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let end = starts.partition_point(|s| *s <= r.1);
            end.saturating_sub(i + 1) as u64
        })
        .sum()
}

#[derive(Deserialize)]
struct RawFeature {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    properties: Option<crate::props::Props>,
    #[serde(default)]
    geometry: Option<RawGeometry>,
}

#[derive(Deserialize)]
struct RawGeometry {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    coordinates: Option<Nested>,
}

/// GeoJSON `coordinates`: numbers nested to any depth.
enum Nested {
    Num(f64),
    List(Vec<Nested>),
}

impl<'de> Deserialize<'de> for Nested {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Nested;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or an array of coordinates")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Nested, E> {
                Ok(Nested::Num(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Nested, E> {
                Ok(Nested::Num(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Nested, E> {
                Ok(Nested::Num(v as f64))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Nested, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(4));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Nested::List(items))
            }
        }
        d.deserialize_any(V)
    }
}

fn list<'a>(n: &'a Nested, what: &str) -> Result<&'a [Nested], String> {
    match n {
        Nested::List(items) => Ok(items),
        Nested::Num(_) => Err(format!("{what} must be an array, found a number")),
    }
}

fn position(n: &Nested) -> Result<Coord, String> {
    let items = list(n, "a position")?;
    if !(2..=3).contains(&items.len()) {
        return Err(format!(
            "a position must have 2 or 3 numbers, found {}",
            items.len()
        ));
    }
    let num = |i: usize| match items[i] {
        Nested::Num(v) => Ok(v),
        Nested::List(_) => Err("a position must hold numbers, found an array".to_string()),
    };
    let (lon, lat) = (num(0)?, num(1)?);
    if items.len() == 3 {
        num(2)?;
    }
    if !lon.is_finite() || !lat.is_finite() {
        return Err(format!("coordinate [{lon}, {lat}] is not finite"));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(format!(
            "longitude {lon} is out of range [-180, 180] (are the coordinates WGS84 lon/lat?)"
        ));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(format!(
            "latitude {lat} is out of range [-90, 90] (are the coordinates lon/lat, in that order?)"
        ));
    }
    Ok(Coord { x: lon, y: lat })
}

fn line(n: &Nested) -> Result<LineString, String> {
    let coords = list(n, "a LineString")?
        .iter()
        .map(position)
        .collect::<Result<Vec<_>, _>>()?;
    if coords.len() < 2 {
        return Err(format!(
            "a LineString needs at least 2 positions, found {}",
            coords.len()
        ));
    }
    if coords.iter().all(|c| *c == coords[0]) {
        return Err("a LineString has zero length (all positions are equal)".into());
    }
    Ok(LineString(coords))
}

fn ring(n: &Nested, which: &str) -> Result<LineString, String> {
    let mut coords = list(n, "a ring")?
        .iter()
        .map(position)
        .collect::<Result<Vec<_>, _>>()?;
    // Repeated consecutive positions add nothing (and are not an error).
    coords.dedup();
    if coords.len() < 4 {
        return Err(format!(
            "{which} ring needs at least 4 positions, found {}",
            coords.len()
        ));
    }
    if coords.first() != coords.last() {
        return Err(format!(
            "{which} ring is not closed (first and last positions differ)"
        ));
    }
    if collinear(&coords) {
        return Err(format!(
            "{which} ring is degenerate (its positions lie on one line)"
        ));
    }
    Ok(LineString(coords))
}

/// True when every position lies on one line (or all are equal): such a
/// ring encloses nothing. A self-intersecting ring whose lobes cancel out
/// (zero signed area) is *not* collinear; validation reports it instead.
fn collinear(coords: &[Coord]) -> bool {
    let a = coords[0];
    let Some(b) = coords.iter().find(|c| **c != a) else {
        return true;
    };
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let scale = dx.abs().max(dy.abs());
    coords.iter().all(|c| {
        let cross = dx * (c.y - a.y) - dy * (c.x - a.x);
        cross.abs() <= 1e-12 * scale.max((c.x - a.x).abs().max((c.y - a.y).abs()))
    })
}

fn polygon(n: &Nested) -> Result<Polygon, String> {
    let rings = list(n, "a Polygon")?;
    let Some((outer, holes)) = rings.split_first() else {
        return Err("a Polygon needs at least one ring".into());
    };
    let outer = ring(outer, "the exterior")?;
    let holes = holes
        .iter()
        .map(|h| ring(h, "an interior"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Polygon::new(outer, holes))
}

/// A ring segment, for the sweep: which ring, which segment of how many.
#[derive(Clone)]
struct RingSegment {
    line: Line,
    ring: usize,
    index: usize,
    count: usize,
}

impl Cross for RingSegment {
    type Scalar = f64;
    fn line(&self) -> Line {
        self.line
    }
}

/// OGC validity of polygons in O((n + m) log n) with a sweep (geo's own
/// validation compares every segment pair, which takes seconds at 10,000
/// vertices): no ring touches or crosses itself, rings of the same or other
/// polygons do not cross (they may touch at a point), holes lie inside their
/// exterior, and polygons of a MultiPolygon do not nest.
fn polygon_problem(polygons: &[Polygon], max_pairs: Option<u64>) -> Option<SweepProblem> {
    polygon_problem_text(polygons, max_pairs).map(|r| match r {
        Ok(m) => SweepProblem::Invalid(m),
        Err(m) => SweepProblem::TooComplex(m),
    })
}

/// `Some(Ok(invalid))`, `Some(Err(too complex))` or `None` when valid.
fn polygon_problem_text(
    polygons: &[Polygon],
    max_pairs: Option<u64>,
) -> Option<Result<String, String>> {
    let mut segments = Vec::new();
    let mut ring = 0;
    for p in polygons {
        for r in std::iter::once(p.exterior()).chain(p.interiors()) {
            let count = r.0.len() - 1;
            for (index, line) in r.lines().enumerate() {
                segments.push(RingSegment {
                    line,
                    ring,
                    index,
                    count,
                });
            }
            ring += 1;
        }
    }
    // Sweep along the axis with fewer overlapping pairs: intersections do
    // not change when x and y trade places (messages swap them back).
    let mut xs: Vec<(f64, f64)> = segments
        .iter()
        .map(|s| {
            (
                s.line.start.x.min(s.line.end.x),
                s.line.start.x.max(s.line.end.x),
            )
        })
        .collect();
    let mut ys: Vec<(f64, f64)> = segments
        .iter()
        .map(|s| {
            (
                s.line.start.y.min(s.line.end.y),
                s.line.start.y.max(s.line.end.y),
            )
        })
        .collect();
    let (px, py) = (overlapping_pairs(&mut xs), overlapping_pairs(&mut ys));
    let swapped = py < px;
    if let Some(max) = max_pairs {
        if px.min(py) > max {
            return Some(Err(format!(
                "the polygon is too complex to validate: its {} edges overlap in {} pairs along either axis (at most {max} are checked); send a simpler polygon",
                segments.len(),
                px.min(py)
            )));
        }
    }
    if swapped {
        let flip = |c: Coord| Coord { x: c.y, y: c.x };
        for s in &mut segments {
            s.line = Line::new(flip(s.line.start), flip(s.line.end));
        }
    }
    let at = |c: Coord| {
        let c = if swapped { Coord { x: c.y, y: c.x } } else { c };
        format!("near [{:.7}, {:.7}]", c.x, c.y)
    };
    for (a, b, x) in Intersections::from_iter(segments) {
        let adjacent = a.ring == b.ring
            && ((a.index + 1) % a.count == b.index || (b.index + 1) % b.count == a.index);
        match x {
            LineIntersection::Collinear { intersection } => {
                return Some(Ok(format!(
                    "a ring overlaps itself or another {}",
                    at(intersection.start)
                )));
            }
            LineIntersection::SinglePoint {
                intersection,
                is_proper,
            } => {
                if a.ring == b.ring && !adjacent {
                    return Some(Ok(format!("a ring self-intersects {}", at(intersection))));
                }
                if a.ring != b.ring && is_proper {
                    return Some(Ok(format!("two rings cross {}", at(intersection))));
                }
            }
        }
    }
    // From here on coordinates come from the polygons themselves.
    let at = |c: Coord| format!("near [{:.7}, {:.7}]", c.x, c.y);
    // No two rings cross (checked above), so a ring lies inside another
    // polygon as soon as one of its vertices does. An R-tree of the parts'
    // extents keeps this near-linear: only parts whose extents contain each
    // other are tested, instead of every pair.
    for p in polygons {
        if p.interiors().is_empty() {
            continue;
        }
        let shell = Polygon::new(p.exterior().clone(), vec![]);
        for hole in p.interiors() {
            if !hole.0.iter().any(|c| shell.contains(c)) {
                return Some(Ok(format!(
                    "a hole lies outside its exterior ring {}",
                    at(hole.0[0])
                )));
            }
        }
    }
    if polygons.len() > 1 {
        let extents: Vec<GeomWithData<Rectangle<[f64; 2]>, usize>> = polygons
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let b = p.exterior().bounding_rect()?;
                Some(GeomWithData::new(
                    Rectangle::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]),
                    i,
                ))
            })
            .collect();
        let tree = RTree::bulk_load(extents);
        for (j, q) in polygons.iter().enumerate() {
            let Some(b) = q.exterior().bounding_rect() else {
                continue;
            };
            let inner = AABB::from_corners([b.min().x, b.min().y], [b.max().x, b.max().y]);
            // Parts whose extent contains q's: the only ones q can lie in.
            for candidate in tree.locate_in_envelope_intersecting(&inner) {
                let i = candidate.data;
                let outer = candidate.geom().envelope();
                if i == j || !outer.contains_envelope(&inner) {
                    continue;
                }
                if q.exterior().0.iter().any(|c| polygons[i].contains(c)) {
                    return Some(Ok(format!(
                        "polygons of a MultiPolygon overlap {}",
                        at(q.exterior().0[0])
                    )));
                }
            }
        }
    }
    None
}

/// Check a geometry already built (read from a store, or sent by a client)
/// by the rules of loading: the layer's kind, finite in-range coordinates,
/// lines of two distinct positions, valid rings and polygons.
pub fn validate_geometry(g: &Geometry, kind: GeometryKind) -> Result<(), String> {
    let name = match g {
        Geometry::Point(_) => "Point",
        Geometry::MultiPoint(_) => "MultiPoint",
        Geometry::LineString(_) => "LineString",
        Geometry::MultiLineString(_) => "MultiLineString",
        Geometry::Polygon(_) => "Polygon",
        Geometry::MultiPolygon(_) => "MultiPolygon",
        _ => "GeometryCollection",
    };
    let raw = RawGeometry {
        kind: name.to_owned(),
        coordinates: Some(nested_of(g)),
    };
    build_geometry(raw, kind).map(|_| ())
}

/// A geometry's coordinates as the nested arrays GeoJSON would hold.
fn nested_of(g: &Geometry) -> Nested {
    let pos = |c: &Coord| Nested::List(vec![Nested::Num(c.x), Nested::Num(c.y)]);
    let line = |l: &LineString| Nested::List(l.0.iter().map(pos).collect());
    let poly = |p: &Polygon| {
        Nested::List(
            std::iter::once(p.exterior())
                .chain(p.interiors())
                .map(line)
                .collect(),
        )
    };
    match g {
        Geometry::Point(p) => pos(&p.0),
        Geometry::MultiPoint(m) => Nested::List(m.0.iter().map(|p| pos(&p.0)).collect()),
        Geometry::LineString(l) => line(l),
        Geometry::MultiLineString(m) => Nested::List(m.0.iter().map(line).collect()),
        Geometry::Polygon(p) => poly(p),
        Geometry::MultiPolygon(m) => Nested::List(m.0.iter().map(poly).collect()),
        _ => Nested::List(vec![]),
    }
}

/// A layer feature's geometry, checked without a sweep budget (data files
/// are validated once, at load).
fn build_geometry(raw: RawGeometry, kind: GeometryKind) -> Result<Geometry, String> {
    let geometry = build_geometry_unchecked(raw, kind)?;
    // Self-intersections, crossing rings, holes outside their shell.
    match polygon_problem(polygons_in(&geometry), None) {
        Some(SweepProblem::Invalid(m)) | Some(SweepProblem::TooComplex(m)) => {
            Err(format!("invalid polygon: {m}"))
        }
        None => Ok(geometry),
    }
}

/// The geometry of a GeoJSON geometry object, every check but the polygon
/// sweep done.
fn build_geometry_unchecked(raw: RawGeometry, kind: GeometryKind) -> Result<Geometry, String> {
    if !kind.accepts().contains(&raw.kind.as_str()) {
        return Err(format!(
            "geometry is a {}, but this layer holds {} (or {})",
            raw.kind,
            kind.accepts()[0],
            kind.accepts()[1]
        ));
    }
    let coords = raw
        .coordinates
        .ok_or_else(|| format!("{} has no \"coordinates\"", raw.kind))?;
    let geometry = match raw.kind.as_str() {
        "Point" => Geometry::Point(Point(position(&coords)?)),
        "MultiPoint" => Geometry::MultiPoint(MultiPoint(
            list(&coords, "a MultiPoint")?
                .iter()
                .map(|p| position(p).map(Point))
                .collect::<Result<_, _>>()?,
        )),
        "LineString" => Geometry::LineString(line(&coords)?),
        "MultiLineString" => Geometry::MultiLineString(MultiLineString(
            list(&coords, "a MultiLineString")?
                .iter()
                .map(line)
                .collect::<Result<_, _>>()?,
        )),
        "Polygon" => Geometry::Polygon(polygon(&coords)?),
        "MultiPolygon" => Geometry::MultiPolygon(MultiPolygon(
            list(&coords, "a MultiPolygon")?
                .iter()
                .map(polygon)
                .collect::<Result<_, _>>()?,
        )),
        other => return Err(format!("unsupported geometry type {other:?}")),
    };
    if let Geometry::MultiPoint(mp) = &geometry {
        if mp.0.is_empty() {
            return Err("a MultiPoint has no points".into());
        }
    }
    Ok(geometry)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(kind: GeometryKind) -> LayerMeta {
        LayerMeta {
            id: "t".into(),
            title: "T".into(),
            title_zh: None,
            description: String::new(),
            geometry: kind,
            required: vec!["status".into()],
            queryable: vec![],
        }
    }

    fn first_problem(json: &str, kind: GeometryKind) -> String {
        match parse_layer(Path::new("t.geojson"), json.as_bytes(), meta(kind)) {
            Ok(_) => panic!("expected a problem"),
            Err(p) => p[0].to_string(),
        }
    }

    /// A FeatureCollection over `PARALLEL_PARSE_BYTES`, with `spoil`
    /// applied to some features' text.
    fn big_collection(spoil: impl Fn(usize, String) -> String) -> String {
        let mut parts = Vec::new();
        let mut i = 0;
        let mut len = 0;
        while len < PARALLEL_PARSE_BYTES + 1000 {
            let (x, y) = (
                113.0 + (i % 1000) as f64 * 1e-3,
                34.0 + (i / 1000) as f64 * 1e-3,
            );
            let f = format!(
                r#"{{"type":"Feature","id":"r{i}","properties":{{"status":"existing","n":{i},"name":"road \"{i}\""}},"geometry":{{"type":"LineString","coordinates":[[{x},{y}],[{},{}]]}}}}"#,
                x + 1e-4,
                y + 2e-4
            );
            let f = spoil(i, f);
            len += f.len() + 2;
            parts.push(f);
            i += 1;
        }
        format!(
            "{{\"type\":\"FeatureCollection\",\"name\":\"t\",\"features\":[\n{}\n]}}",
            parts.join(",\n")
        )
    }

    #[test]
    fn a_big_file_parsed_on_every_core_equals_the_serial_parse() {
        let m = meta(GeometryKind::LineString);
        let path = Path::new("t.geojson");
        let json = big_collection(|_, f| f);
        let parallel = parse_parallel(path, json.as_bytes(), &mut NoHash, &m).expect("parses");
        let serial = parse_serial(path, json.as_bytes(), &m);
        let (p, s) = (parallel.expect("valid"), serial.expect("valid"));
        assert!(p.len() > 2 * split::BATCH_FEATURES, "{} features", p.len());
        let key = |f: &Arc<Feature>| {
            (
                f.id.clone(),
                f.numeric_id,
                f.geometry.clone(),
                f.properties.clone(),
            )
        };
        assert_eq!(
            p.iter().map(key).collect::<Vec<_>>(),
            s.iter().map(key).collect::<Vec<_>>()
        );
        // Problems, duplicate ids across batches among them, come out the
        // same and in feature order.
        let far = 3 * split::BATCH_FEATURES + 17;
        let spoilt = big_collection(|i, f| match i {
            5 => f.replace(r#""status":"existing","#, ""),
            100 => f.replace("[[", "[[200.0,0.0],["),
            n if n == far => f.replace(&format!(r#""id":"r{n}""#), r#""id":"r7""#),
            n if n == far + 1 => f.replace(r#""id":"#, r#""idx":"#),
            _ => f,
        });
        let parallel = parse_parallel(path, spoilt.as_bytes(), &mut NoHash, &m).expect("parses");
        let serial = parse_serial(path, spoilt.as_bytes(), &m);
        let words = |r: Result<Vec<Arc<Feature>>, Vec<Problem>>| -> Vec<String> {
            r.expect_err("problems")
                .iter()
                .map(|p| p.to_string())
                .collect()
        };
        let (p, s) = (words(parallel), words(serial));
        assert_eq!(p, s);
        assert_eq!(p.len(), 4, "{p:#?}");
        assert!(
            p[2].contains(&format!("feature {far} (id \"r7\"): duplicate id")),
            "{p:#?}"
        );
        // A feature that is not an object: the serial parse words it.
        let broken = big_collection(|i, f| if i == far { "17".into() } else { f });
        assert!(parse_parallel(path, broken.as_bytes(), &mut NoHash, &m).is_none());
        let err = parse_layer(path, broken.as_bytes(), m.clone()).expect_err("invalid");
        assert!(
            err[0].to_string().contains(&format!("feature {far}")),
            "{}",
            err[0]
        );
    }

    #[test]
    fn a_big_file_of_malformed_features_is_refused_without_hanging() {
        // Every element malformed: every parsing thread fails on its first
        // batch, and the splitter must still get to the end of the array.
        let m = meta(GeometryKind::LineString);
        let all_bad = big_collection(|_, _| r#"{"type":"Feature","geometry":17}"#.into());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(parse_layer(Path::new("t.geojson"), all_bad.as_bytes(), m).err());
        });
        let err = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the parse returns")
            .expect("invalid");
        assert!(err[0].to_string().contains("feature 0"), "{}", err[0]);
    }

    #[test]
    fn a_big_file_is_read_as_it_parses_with_the_hash_of_its_bytes() {
        let dir = std::env::temp_dir().join(format!("zoneatlas-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.geojson");
        let json = big_collection(|_, f| f);
        std::fs::write(&path, &json).unwrap();
        let m = meta(GeometryKind::LineString);
        let (layer, hash) = load_layer_file(&path, m.clone()).expect("valid");
        let mut want = std::collections::hash_map::DefaultHasher::new();
        want.write(json.as_bytes());
        assert_eq!(hash, want.finish());
        let serial = parse_serial(&path, json.as_bytes(), &m).expect("valid");
        assert_eq!(layer.features.len(), serial.len());
        assert!(layer.features.iter().zip(&serial).all(|(a, b)| a.id == b.id
            && a.geometry == b.geometry
            && a.properties == b.properties));
        // A broken big file: the serial parse's words, and the same hash.
        let broken = json.replacen(r#""id":"r9""#, r#""id":["r9"]"#, 1);
        std::fs::write(&path, &broken).unwrap();
        let err = load_layer_file(&path, m).expect_err("invalid");
        assert!(err[0].to_string().contains("feature 9"), "{}", err[0]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_valid_line_layer_loads_with_its_extent() {
        let json = r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","id":"a","properties":{"status":"existing"},
           "geometry":{"type":"LineString","coordinates":[[113.5,34.7],[113.6,34.8,12.0]]}}]}"#;
        let layer = parse_layer(
            Path::new("t"),
            json.as_bytes(),
            meta(GeometryKind::LineString),
        )
        .expect("valid");
        let e = layer.extent.expect("extent");
        assert_eq!((e.min().x, e.max().y), (113.5, 34.8));
    }

    #[test]
    fn problems_name_file_feature_id_and_cause() {
        let json = r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","id":"R-1","properties":{},
           "geometry":{"type":"LineString","coordinates":[[113.5,34.7],[113.6,34.8]]}}]}"#;
        assert_eq!(
            first_problem(json, GeometryKind::LineString),
            "t.geojson: feature 0 (id \"R-1\"): property \"status\" is missing"
        );
    }

    #[test]
    fn swapped_lat_lon_is_reported_as_out_of_range() {
        let json = r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","id":1,"properties":{"status":"x"},
           "geometry":{"type":"Point","coordinates":[34.7,113.5]}}]}"#;
        let p = first_problem(json, GeometryKind::Point);
        assert!(
            p.contains("feature 0 (id \"1\")") && p.contains("latitude 113.5"),
            "{p}"
        );
    }

    #[test]
    fn bowtie_polygon_is_invalid() {
        let json = r#"{"type":"FeatureCollection","features":[
          {"type":"Feature","id":"z","properties":{"status":"x"},
           "geometry":{"type":"Polygon","coordinates":[[[0,0],[1,1],[1,0],[0,1],[0,0]]]}}]}"#;
        let p = first_problem(json, GeometryKind::Polygon);
        assert!(p.contains("invalid polygon"), "{p}");
    }
}

//! GeoJSON FeatureCollections -> validated features, with our own serde
//! types rather than `geojson::GeoJson`: it skips the intermediate
//! `serde_json::Value` tree, which matters at a million segments. A big
//! file is parsed on every core: one thread cuts the `features` array into
//! elements' text (`split`), the others parse batches of them, and the
//! result (problems included) is the one-thread parse's.

use std::collections::HashSet;
use std::hash::Hasher;
use std::path::Path;
use std::sync::Arc;

use geo::BoundingRect;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::geometry::build_geometry;
use super::raw::{Budget, RawFeature};
use super::{split, Problem};
use crate::model::{Feature, Layer, LayerMeta};

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
pub(super) fn parse_serial(
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
pub(super) const PARALLEL_PARSE_BYTES: usize = 4 << 20;

/// `parse_layer` on every core, reading `input` as it goes: this thread
/// reads and cuts the `features` array into its elements' text
/// (`split`), and worker threads parse and check batches of them; the
/// batches are put back in order and checked for duplicate ids as the
/// serial parse does. Every byte read goes to `hasher`. None when anything
/// does not parse (bad JSON, a malformed feature, not a
/// FeatureCollection): the serial parse then finds and words the problem.
pub(super) fn parse_parallel(
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
pub(super) fn parse_batches<'a>(
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
pub(super) struct NoHash;

impl Hasher for NoHash {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, _: &[u8]) {}
}

/// A problem with a file, or with one of its features (index, id).
pub(super) fn problem_in(
    path: &Path,
    feature: Option<(usize, Option<String>)>,
    message: String,
) -> Problem {
    Problem {
        file: path.to_path_buf(),
        feature,
        message,
    }
}

/// Features converted and checked as they are parsed (`parse_layer`), all
/// of a file or one batch of it; `finish` checks ids across features.
pub(super) struct Collector<'a> {
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
        let id = raw_id(&f).map(|(id, _)| id);
        match checked(f, self.meta, Budget::Files, Ids::Required) {
            Ok(feature) => self.features.push(Arc::new(feature)),
            Err(messages) => {
                let at = Some((index, id.clone()));
                for m in messages {
                    let p = self.problem(at.clone(), m);
                    self.problems.push(p);
                }
                self.rejected.push((index, id));
            }
        }
    }
}

/// Whether a feature must carry its id (a file's, the change log's) or may
/// leave it to the server (a client's new feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ids {
    Required,
    Optional,
}

/// A feature's id as its text and whether it was a number; `None` when
/// absent or empty.
pub(super) fn raw_id(f: &RawFeature) -> Option<(String, bool)> {
    match &f.id {
        Some(Value::String(s)) if !s.is_empty() => Some((s.clone(), false)),
        Some(Value::Number(n)) => Some((n.to_string(), true)),
        _ => None,
    }
}

/// One raw feature checked by the layer's rules: `"type"`, an id (unless
/// optional: then `""`), required properties, the geometry (kind,
/// coordinates, rings, polygon validity within `budget`). Every problem,
/// one message each, in that order.
pub(super) fn checked(
    f: RawFeature,
    meta: &LayerMeta,
    budget: Budget,
    ids: Ids,
) -> Result<Feature, Vec<String>> {
    let mut problems = Vec::new();
    let id = raw_id(&f);
    if f.kind.as_deref() != Some("Feature") {
        problems.push(format!(
            "\"type\" is {:?}, expected \"Feature\"",
            f.kind.clone().unwrap_or_default()
        ));
    }
    // Duplicates are found across every feature, by the caller.
    if id.is_none() && ids == Ids::Required {
        problems.push("\"id\" is missing (a non-empty string or a number is required)".into());
    }
    let properties = f.properties.unwrap_or_default();
    problems.extend(meta.missing_required(&properties));
    let geometry = match f.geometry {
        None => {
            problems.push("geometry is missing (null)".into());
            None
        }
        Some(g) => match build_geometry(g, meta.geometry, budget) {
            Ok(g) => Some(g),
            Err(message) => {
                problems.push(message);
                None
            }
        },
    };
    let (Some(geometry), true) = (geometry, problems.is_empty()) else {
        return Err(problems);
    };
    let Some(bbox) = geometry.bounding_rect() else {
        return Err(vec!["geometry is empty".into()]);
    };
    let (id, numeric_id) = id.unwrap_or_default();
    Ok(Feature {
        id,
        numeric_id,
        revision: 0,
        geometry,
        properties,
        bbox,
    })
}

/// A FeatureCollection, its features handed to a `Collector`; yields
/// its `"type"`.
pub(super) struct CollectionSeed<'c, 'a>(&'c mut Collector<'a>);

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
pub(super) struct FeaturesSeed<'c, 'a>(&'c mut Collector<'a>);

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

/// The first feature that does not deserialize, with its index, id and the
/// reason; only called on the error path (it builds a `Value` tree).
pub(super) fn locate_bad_feature(bytes: &[u8]) -> Option<((usize, Option<String>), String)> {
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

#[cfg(test)]
mod tests {
    use super::super::load_layer_file;
    use super::*;
    use crate::model::GeometryKind;

    fn meta(kind: GeometryKind) -> LayerMeta {
        LayerMeta {
            id: "t".into(),
            title: "T".into(),
            title_zh: None,
            description: String::new(),
            geometry: kind,
            required: vec!["status".into()],
            queryable: vec![],
            style: None,
            attribution: None,
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
        assert_eq!(layer.features.count(), serial.len());
        assert!(layer.features.live().zip(&serial).all(|(a, b)| a.id == b.id
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

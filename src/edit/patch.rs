//! JSON Merge Patch (RFC 7396) of a feature, applied to the `Feature`
//! itself: properties merged member by member, the geometry replaced (or,
//! for a partial geometry object, merged into the old one's GeoJSON), the
//! rest of the feature untouched. The answer equals patching the feature's
//! GeoJSON and reading it back, without the round trip.

use geo::{BoundingRect, Geometry};
use serde_json::{Map, Value};

use crate::model::{Feature, GeometryKind, LayerMeta};

/// RFC 7396: objects merge member by member, `null` removes, anything else
/// replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// What a patch does to a feature's geometry.
#[derive(Debug, Clone)]
enum GeometryPatch {
    /// Not named: unchanged.
    Keep,
    /// A whole geometry (type and coordinates), already checked.
    Replace(Geometry),
    /// Part of a geometry object, merged into the old one when applied.
    Merge(Value),
    /// `null`, or not an object: the feature would have no valid geometry.
    Invalid(String),
}

/// A merge patch of a feature, parsed (see `parse`).
#[derive(Debug, Clone)]
pub struct FeaturePatch {
    /// `"type"`, when the patch sets it (anything but `"Feature"` is an
    /// error once applied; `null` removes it).
    kind: Option<Value>,
    /// The patch's `properties` member, when it has one.
    properties: Option<Value>,
    geometry: GeometryPatch,
}

impl FeaturePatch {
    /// A patch object (the caller checked it is one) for a layer of `kind`:
    /// a whole geometry in it is checked now, within the sweep budget.
    /// The id cannot be patched (it is the URL's); members a feature does
    /// not keep (`bbox`, `links`, ...) change nothing.
    pub fn parse(patch: &Value, kind: GeometryKind) -> Result<FeaturePatch, Vec<String>> {
        let geometry = match patch.get("geometry") {
            None => GeometryPatch::Keep,
            Some(Value::Null) => GeometryPatch::Invalid("geometry is missing (null)".into()),
            Some(g @ Value::Object(m)) => {
                let whole = ["type", "coordinates"]
                    .iter()
                    .all(|k| m.get(*k).is_some_and(|v| !v.is_null()));
                if whole {
                    GeometryPatch::Replace(
                        crate::load::geometry_from_client(g, kind).map_err(|e| vec![e])?,
                    )
                } else {
                    GeometryPatch::Merge(g.clone())
                }
            }
            Some(other) => GeometryPatch::Invalid(format!(
                "not a valid GeoJSON feature: the geometry is {other}, not an object"
            )),
        };
        Ok(FeaturePatch {
            kind: patch.get("type").cloned(),
            properties: patch.get("properties").cloned(),
            geometry,
        })
    }

    /// The property names the patch sets (to anything but null), when it
    /// sets any.
    pub fn set_names(&self) -> Option<Vec<&str>> {
        let Some(Value::Object(m)) = &self.properties else {
            return None;
        };
        Some(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, _)| k.as_str())
                .collect(),
        )
    }

    /// The (name, value) pairs the patch sets (to anything but null).
    pub fn set_values(&self) -> impl Iterator<Item = (&str, &Value)> {
        let m = match &self.properties {
            Some(Value::Object(m)) => Some(m),
            _ => None,
        };
        m.into_iter()
            .flat_map(|m| m.iter())
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (k.as_str(), v))
    }

    /// Whether the patch changes the geometry.
    pub fn touches_geometry(&self) -> bool {
        !matches!(self.geometry, GeometryPatch::Keep)
    }

    /// `old` with the patch applied, checked by the layer's rules: the
    /// type, required properties, the geometry when it changed. Problems
    /// one per line, in the order loading reports them.
    pub fn apply(&self, old: &Feature, meta: &LayerMeta) -> Result<Feature, Vec<String>> {
        let mut problems = Vec::new();
        match &self.kind {
            None => {}
            Some(Value::String(s)) if s == "Feature" => {}
            Some(v) => problems.push(format!(
                "\"type\" is {:?}, expected \"Feature\"",
                v.as_str().unwrap_or_default()
            )),
        }
        let properties = match &self.properties {
            None => Some(old.properties.clone()),
            Some(Value::Null) => Some(crate::props::Props::default()),
            Some(p @ Value::Object(_)) => {
                let mut target = Value::Object(old.properties.to_map());
                merge_patch(&mut target, p);
                match target {
                    Value::Object(m) => Some(m.into()),
                    _ => None,
                }
            }
            Some(other) => {
                problems.push(format!(
                    "not a valid GeoJSON feature: properties is {other}, not an object"
                ));
                None
            }
        };
        if let Some(props) = &properties {
            problems.extend(meta.missing_required(props));
            if props.len() > super::names::MAX_PER_FEATURE {
                problems.push(format!(
                    "the feature would have {} properties; at most {} are accepted",
                    props.len(),
                    super::names::MAX_PER_FEATURE
                ));
            }
        }
        let geometry = match &self.geometry {
            GeometryPatch::Keep => Some(old.geometry.clone()),
            GeometryPatch::Replace(g) => Some(g.clone()),
            GeometryPatch::Merge(part) => {
                let mut target = serde_json::to_value(crate::encode::GeometryJson(&old.geometry))
                    .unwrap_or(Value::Null);
                merge_patch(&mut target, part);
                match crate::load::geometry_from_client(&target, meta.geometry) {
                    Ok(g) => Some(g),
                    Err(e) => {
                        problems.push(e);
                        None
                    }
                }
            }
            GeometryPatch::Invalid(e) => {
                problems.push(e.clone());
                None
            }
        };
        let (Some(properties), Some(geometry), true) = (properties, geometry, problems.is_empty())
        else {
            return Err(problems);
        };
        let Some(bbox) = geometry.bounding_rect() else {
            return Err(vec!["geometry is empty".into()]);
        };
        Ok(Feature {
            id: old.id.clone(),
            numeric_id: old.numeric_id,
            geometry,
            properties,
            bbox,
            revision: old.revision,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{merge_patch, FeaturePatch};
    use crate::model::{Feature, GeometryKind, LayerMeta};
    use serde_json::{json, Value};

    #[test]
    fn merge_patch_follows_the_examples_of_rfc_7396_appendix_a() {
        // (target, patch, result) from RFC 7396, Appendix A.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (mut target, patch, want) in cases {
            merge_patch(&mut target, &patch);
            assert_eq!(target, want, "patch {patch}");
        }
    }

    fn road() -> (Feature, LayerMeta) {
        let meta: LayerMeta = toml::from_str(
            "id = \"roads\"\ntitle = \"Roads\"\ngeometry = \"LineString\"\nrequired = [\"status\"]",
        )
        .unwrap();
        let v = json!({"type": "Feature", "id": 7,
            "properties": {"status": "planned", "name": "A", "tags": {"x": 1, "y": 2}},
            "geometry": {"type": "LineString", "coordinates": [[113.5, 34.7], [113.6, 34.8]]}});
        let mut f = crate::load::feature_from_geojson(&v, &meta).unwrap();
        f.revision = 4;
        (f, meta)
    }

    /// Patching the feature directly gives what patching its GeoJSON and
    /// reading that back gives (the independent path: serde_json's own
    /// objects and the loader), for property, geometry and mixed patches.
    #[test]
    fn a_patch_applied_to_the_feature_equals_the_patched_geojson_read_back() {
        let (old, meta) = road();
        let patches = [
            json!({"properties": {"status": "existing"}}),
            json!({"properties": {"name": null, "width_m": 24.5}}),
            json!({"properties": {"tags": {"x": null, "z": [1, 2]}}}),
            json!({"geometry": {"type": "LineString", "coordinates": [[113.5, 34.7], [113.55, 34.75], [113.6, 34.8]]}}),
            json!({"geometry": {"coordinates": [[113.4, 34.7], [113.6, 34.9]]}}),
            json!({"type": "Feature", "bbox": [0, 0, 1, 1], "properties": {"status": "existing"}}),
        ];
        for p in patches {
            let mut doc = serde_json::to_value(crate::encode::FeatureJson {
                feature: &old,
                links: &[],
            })
            .unwrap();
            merge_patch(&mut doc, &p);
            let mut want = crate::load::feature_from_geojson(&doc, &meta).unwrap();
            want.revision = old.revision;
            let got = FeaturePatch::parse(&p, GeometryKind::LineString)
                .unwrap()
                .apply(&old, &meta)
                .unwrap();
            assert_eq!(got.id, want.id, "{p}");
            assert_eq!(got.numeric_id, want.numeric_id, "{p}");
            assert_eq!(got.geometry, want.geometry, "{p}");
            assert_eq!(got.bbox, want.bbox, "{p}");
            assert_eq!(
                Value::Object(got.properties.to_map()),
                Value::Object(want.properties.to_map()),
                "{p}"
            );
        }
    }

    #[test]
    fn a_patch_that_breaks_the_rules_names_each_problem() {
        let (old, meta) = road();
        let p = json!({"type": "Thing", "properties": {"status": null}});
        let err = FeaturePatch::parse(&p, GeometryKind::LineString)
            .unwrap()
            .apply(&old, &meta)
            .unwrap_err();
        assert_eq!(
            err,
            vec![
                "\"type\" is \"Thing\", expected \"Feature\"".to_owned(),
                "property \"status\" is missing".to_owned()
            ]
        );
        let p = json!({"geometry": {"type": "Point", "coordinates": [113.5, 34.7]}});
        let err = FeaturePatch::parse(&p, GeometryKind::LineString).unwrap_err();
        assert!(err[0].contains("this layer holds LineString"), "{err:?}");
        let p = json!({"geometry": null});
        let err = FeaturePatch::parse(&p, GeometryKind::LineString)
            .unwrap()
            .apply(&old, &meta)
            .unwrap_err();
        assert_eq!(err, vec!["geometry is missing (null)".to_owned()]);
    }
}

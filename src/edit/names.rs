//! Which property names an edit may use. A property is a column of its
//! layer's table in the GeoPackage store (so QGIS filters and styles by it),
//! and SQLite's column names ignore case: a name that clashes with another
//! in case only, or with a column of ours, would fail the whole commit it
//! rides in. So names are checked here, before any SQL, and refused with a
//! 400 naming them; and the number of names a layer can gain is capped,
//! because every new name adds a column for good.

/// The longest property name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// The most properties one feature may carry.
pub const MAX_PER_FEATURE: usize = 100;

/// The longest text a property value may hold, in bytes (a description, a
/// note; anything longer belongs in a document, not a map feature).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;

/// The problems with a feature's property values: texts past
/// `MAX_TEXT_BYTES` (inside arrays and objects too).
pub fn check_values<'a>(
    values: impl Iterator<Item = (&'a str, &'a serde_json::Value)>,
) -> Result<(), Vec<String>> {
    fn longest(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::String(s) => s.len(),
            serde_json::Value::Array(a) => a.iter().map(longest).max().unwrap_or(0),
            serde_json::Value::Object(o) => o.values().map(longest).max().unwrap_or(0),
            _ => 0,
        }
    }
    let problems: Vec<String> = values
        .filter(|(_, v)| longest(v) > MAX_TEXT_BYTES)
        .map(|(k, v)| {
            format!(
                "property {k:?} holds a text of {} bytes; at most {MAX_TEXT_BYTES} are accepted",
                longest(v)
            )
        })
        .collect();
    match problems.is_empty() {
        true => Ok(()),
        false => Err(problems),
    }
}

/// The most distinct property names a layer may hold (SQLite's own limit is
/// 2,000 columns per table, and each column costs every row and every read).
pub const MAX_PER_LAYER: usize = 250;

/// Names the stores keep for themselves, compared without case: the
/// GeoPackage store's own columns (`fid`, `geom`, and everything starting
/// with `zoneatlas_`) and SQLite's aliases of the row id.
const RESERVED: [&str; 5] = ["fid", "geom", "rowid", "oid", "_rowid_"];
const OWN_PREFIX: &str = "zoneatlas_";

/// The layer's property names as they stand, to check new ones against.
pub trait KnownNames {
    /// The known name equal to `name` without regard to case, if any.
    fn same_but_case(&self, name: &str) -> Option<&str>;
    /// How many distinct names the layer holds.
    fn count(&self) -> usize;
}

impl KnownNames for crate::model::PropertySummary {
    fn same_but_case(&self, name: &str) -> Option<&str> {
        self.0
            .keys()
            .find(|k| k.eq_ignore_ascii_case(name))
            .map(String::as_str)
    }

    fn count(&self) -> usize {
        self.0.len()
    }
}

/// Why one name cannot be a property, if it cannot.
fn check_one(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a property name is empty".into());
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!(
            "property name {:?}... is {} bytes long; at most {MAX_NAME_BYTES} are accepted",
            name.chars().take(32).collect::<String>(),
            name.len()
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!("property name {name:?} holds a control character"));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED.contains(&lower.as_str()) || lower.starts_with(OWN_PREFIX) {
        return Err(format!(
            "property name {name:?} is reserved for the store (fid, geom, rowid, oid, _rowid_ and names starting with {OWN_PREFIX:?}, in any case)"
        ));
    }
    Ok(())
}

/// The problems with a feature's property names, one per line: each name
/// checked alone, then against the feature's other names and the layer's
/// (a name may differ from another only in more than case), then the
/// counts.
pub fn check<'a>(
    names: impl ExactSizeIterator<Item = &'a str>,
    layer: &dyn KnownNames,
) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    if names.len() > MAX_PER_FEATURE {
        problems.push(format!(
            "the feature has {} properties; at most {MAX_PER_FEATURE} are accepted",
            names.len()
        ));
        return Err(problems);
    }
    let mut seen: Vec<&str> = Vec::with_capacity(names.len());
    let mut new = 0;
    for name in names {
        if let Err(p) = check_one(name) {
            problems.push(p);
            continue;
        }
        if let Some(other) = seen.iter().find(|s| s.eq_ignore_ascii_case(name)) {
            problems.push(format!(
                "property names {other:?} and {name:?} differ only in case; the store cannot keep both"
            ));
        }
        seen.push(name);
        match layer.same_but_case(name) {
            Some(known) if known != name => problems.push(format!(
                "property name {name:?} differs from the layer's {known:?} only in case; use {known:?}"
            )),
            Some(_) => {}
            None => new += 1,
        }
    }
    if new > 0 && layer.count() + new > MAX_PER_LAYER {
        problems.push(format!(
            "the layer has {} property names and this feature adds {new}; a layer holds at most {MAX_PER_LAYER}",
            layer.count()
        ));
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(problems),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PropertyInfo, PropertyKind, PropertySummary};
    use crate::props::Props;
    use serde_json::json;

    fn props(v: serde_json::Value) -> Props {
        serde_json::from_value(v).expect("props")
    }

    fn check(p: &Props, layer: &dyn KnownNames) -> Result<(), Vec<String>> {
        super::check(p.keys().collect::<Vec<_>>().into_iter(), layer)
    }

    fn layer(names: &[&str]) -> PropertySummary {
        let mut s = PropertySummary::default();
        for n in names {
            let info = PropertyInfo {
                kind: PropertyKind::Mixed,
                integer: false,
                count: 1,
                values: None,
            };
            s.0.insert((*n).to_owned(), info);
        }
        s
    }

    #[test]
    fn names_the_store_cannot_keep_are_refused_and_others_pass() {
        let known = layer(&["name", "status"]);
        assert!(check(
            &props(json!({"name": "a", "status": "x", "new_one": 1})),
            &known
        )
        .is_ok());
        // Every column of the GeoPackage store's own, and SQLite's row id
        // aliases, in any case.
        for bad in [
            "fid",
            "FID",
            "geom",
            "GEOM",
            "rowid",
            "OID",
            "_rowid_",
            "zoneatlas_id",
            "zoneatlas_revision",
            "ZONEATLAS_EXTRA",
        ] {
            let e = check(&props(json!({ bad: 1 })), &known).unwrap_err();
            assert!(e[0].contains(bad), "{bad}: {e:?}");
        }
        // Case clashes: with the layer's names and within the feature.
        let e = check(&props(json!({"Status": "x"})), &known).unwrap_err();
        assert!(e[0].contains("\"status\""), "{e:?}");
        let e = check(&props(json!({"ANEW": 1, "anew": 2})), &known).unwrap_err();
        assert!(e[0].contains("only in case"), "{e:?}");
        // Length and characters.
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        assert!(check(&props(json!({ long: 1 })), &known).is_err());
        assert!(check(&props(json!({"a\u{0}b": 1})), &known).is_err());
    }

    #[test]
    fn long_texts_are_refused_wherever_they_sit() {
        let ok = json!({"note": "x".repeat(MAX_TEXT_BYTES)});
        let long = json!({"note": "x".repeat(MAX_TEXT_BYTES + 1)});
        let nested = json!({"tags": {"a": ["y".repeat(MAX_TEXT_BYTES + 1)]}});
        let values = |v: &serde_json::Value| -> Vec<(String, serde_json::Value)> {
            v.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        let run = |v: &serde_json::Value| {
            let vs = values(v);
            check_values(vs.iter().map(|(k, v)| (k.as_str(), v))).map_err(|e| e.join("; "))
        };
        assert!(run(&ok).is_ok());
        assert!(run(&long).unwrap_err().contains("\"note\""));
        assert!(run(&nested).unwrap_err().contains("\"tags\""));
    }

    #[test]
    fn counts_are_capped_per_feature_and_per_layer() {
        let many: serde_json::Map<String, serde_json::Value> = (0..=MAX_PER_FEATURE)
            .map(|i| (format!("p{i}"), json!(i)))
            .collect();
        let e = check(&props(serde_json::Value::Object(many)), &layer(&[])).unwrap_err();
        assert!(e[0].contains("at most 100"), "{e:?}");
        let full: Vec<String> = (0..MAX_PER_LAYER).map(|i| format!("q{i}")).collect();
        let full_refs: Vec<&str> = full.iter().map(String::as_str).collect();
        let known = layer(&full_refs);
        // A known name is fine; a new one is one too many.
        assert!(check(&props(json!({"q0": 1})), &known).is_ok());
        let e = check(&props(json!({"brand_new": 1})), &known).unwrap_err();
        assert!(e[0].contains("at most 250"), "{e:?}");
    }
}

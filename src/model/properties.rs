//! What a layer's properties hold: the names, kinds and (few) texts CQL2
//! filters, queryables and edits check against.
//!
//! A `PropertyTally` counts some features and adds up with others, so a
//! layer's summary is the sum of its chunks' tallies (see `index`): after
//! an edit only the chunks it wrote are counted again.
//!
//! Must not: do I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value;

use super::Feature;

/// What a property holds across a layer's features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropertyKind {
    Text,
    Number,
    Bool,
    /// Several kinds (or arrays, objects).
    Mixed,
}

/// One property of a layer, as queryables describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyInfo {
    pub kind: PropertyKind,
    /// Every value is a whole number.
    pub integer: bool,
    /// How many features carry it (non-null).
    pub count: usize,
    /// Its distinct texts, when there are at most `PropertySummary::ENUM_MAX`.
    pub values: Option<Vec<String>>,
}

/// Every property any feature of a layer carries: what CQL2 filters and
/// queryables name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PropertySummary(pub BTreeMap<String, PropertyInfo>);

impl PropertySummary {
    /// Texts beyond this many distinct values are not listed as an enum.
    pub const ENUM_MAX: usize = 32;

    /// Scan a layer's features.
    pub fn of<'f>(features: impl Iterator<Item = &'f Arc<Feature>>) -> PropertySummary {
        PropertyTally::of(features).summary()
    }

    pub fn get(&self, name: &str) -> Option<&PropertyInfo> {
        self.0.get(name)
    }
}

/// One property over some features.
#[derive(Debug, Clone)]
struct Tally {
    /// Seen: text, number, bool, other (nulls count as none).
    kinds: [bool; 4],
    integer: bool,
    count: usize,
    /// Its distinct texts; `None` once more than `ENUM_MAX`.
    texts: Option<BTreeSet<String>>,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            kinds: [false; 4],
            integer: true,
            count: 0,
            texts: Some(BTreeSet::new()),
        }
    }
}

impl Tally {
    fn add_text(&mut self, s: &str) {
        if let Some(t) = &mut self.texts {
            if !t.contains(s) {
                t.insert(s.to_owned());
                if t.len() > PropertySummary::ENUM_MAX {
                    self.texts = None;
                }
            }
        }
    }
}

/// What some features' properties hold, to be added up (see the module
/// doc).
#[derive(Debug, Clone, Default)]
pub struct PropertyTally(BTreeMap<String, Tally>);

impl PropertyTally {
    /// Count `features`.
    pub fn of<'f>(features: impl Iterator<Item = &'f Arc<Feature>>) -> PropertyTally {
        let mut acc: BTreeMap<String, Tally> = BTreeMap::new();
        for f in features {
            for (k, v) in &f.properties {
                // A name is known even when it holds only nulls.
                let a = match acc.get_mut(k) {
                    Some(a) => a,
                    None => acc.entry(k.to_owned()).or_default(),
                };
                match v {
                    Value::Null => continue,
                    Value::String(s) => {
                        a.kinds[0] = true;
                        a.add_text(s);
                    }
                    Value::Number(n) => {
                        a.kinds[1] = true;
                        a.integer &= n.is_i64() || n.is_u64();
                    }
                    Value::Bool(_) => a.kinds[2] = true,
                    _ => a.kinds[3] = true,
                }
                a.count += 1;
            }
        }
        PropertyTally(acc)
    }

    /// Add `other`'s features to these.
    pub fn add(&mut self, other: &PropertyTally) {
        for (k, b) in &other.0 {
            let Some(a) = self.0.get_mut(k) else {
                self.0.insert(k.clone(), b.clone());
                continue;
            };
            for (x, y) in a.kinds.iter_mut().zip(b.kinds) {
                *x |= y;
            }
            a.integer &= b.integer;
            a.count += b.count;
            match &b.texts {
                None => a.texts = None,
                Some(texts) => texts.iter().for_each(|s| a.add_text(s)),
            }
        }
    }

    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// As queryables and filters read it.
    pub fn summary(&self) -> PropertySummary {
        PropertySummary(
            self.0
                .iter()
                .map(|(k, a)| {
                    let kind = match a.kinds {
                        [true, false, false, false] => PropertyKind::Text,
                        [false, true, false, false] => PropertyKind::Number,
                        [false, false, true, false] => PropertyKind::Bool,
                        // Several kinds, or only nulls (nothing to compare,
                        // but the name exists).
                        _ => PropertyKind::Mixed,
                    };
                    let values = match (kind, &a.texts) {
                        (PropertyKind::Text, Some(t)) => Some(t.iter().cloned().collect()),
                        _ => None,
                    };
                    let info = PropertyInfo {
                        kind,
                        integer: a.integer,
                        count: a.count,
                        values,
                    };
                    (k.clone(), info)
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A layer's tally added up from pieces equals the one counted whole,
    /// at every split (texts past the enum limit in some pieces, nulls,
    /// mixed kinds).
    #[test]
    fn tallies_add_up_to_the_whole() {
        let features: Vec<Arc<Feature>> = (0..120)
            .map(|i| {
                let v = serde_json::json!({
                    "status": if i % 2 == 0 { "existing" } else { "planned" },
                    "name": format!("road {}", i % 40),
                    "width": if i % 3 == 0 { serde_json::json!(12) } else { serde_json::json!(12.5) },
                    "odd": if i % 7 == 0 { serde_json::json!(true) } else { Value::Null },
                    "mixed": if i == 50 { serde_json::json!("x") } else { serde_json::json!(i) },
                });
                Arc::new(Feature {
                    id: format!("f{i}"),
                    numeric_id: false,
                    geometry: geo::Point::new(0.0, 0.0).into(),
                    bbox: geo::Rect::new((0.0, 0.0), (0.0, 0.0)),
                    properties: crate::props::Props::from(
                        v.as_object().expect("an object").clone(),
                    ),
                    revision: 0,
                })
            })
            .collect();
        let whole = PropertySummary::of(features.iter());
        assert_eq!(
            whole.get("status").unwrap().values.as_ref().unwrap().len(),
            2
        );
        assert_eq!(whole.get("name").unwrap().values, None, "40 names > 32");
        assert_eq!(whole.get("odd").unwrap().count, 18);
        assert_eq!(whole.get("mixed").unwrap().kind, PropertyKind::Mixed);
        for split in [1, 7, 33, 60, 119] {
            let mut sum = PropertyTally::of(features[..split].iter());
            sum.add(&PropertyTally::of(features[split..].iter()));
            assert_eq!(sum.summary(), whole, "split at {split}");
        }
    }
}

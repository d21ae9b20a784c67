//! A feature's properties, compactly: one boxed slice of (key, value)
//! pairs sorted by key, the keys shared across features.
//!
//! A million features each holding a `serde_json::Map` (a `BTreeMap`) cost
//! a 640-byte tree node and a heap string per key even for three
//! properties. Here each feature holds exactly its pairs (48 bytes each) and
//! points at one copy of each key name (`intern`). Lookups are a binary
//! search; iteration and serialization are in key order, as the map's were,
//! so GeoJSON output and ETags are unchanged.
//!
//! Must not: do I/O or know about layers.

use std::cell::RefCell;
use std::collections::HashSet;
use std::sync::Arc;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// A property name, shared by every feature that carries it.
pub type Key = Arc<str>;

/// Distinct names kept for sharing per thread; beyond it (a client
/// inventing names) each is allocated on its own, so the table stays
/// bounded.
const INTERN_MAX: usize = 4096;

thread_local! {
    static KEYS: RefCell<HashSet<Key>> = RefCell::new(HashSet::new());
}

/// Whether two texts are equal: lengths first, short ones byte by byte in
/// line rather than through libc's memcmp (names and enum-like values are
/// a few bytes, compared per feature and property in tiles and filters).
#[inline]
pub fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 32 {
        return a == b;
    }
    a.iter().zip(b).all(|(x, y)| x == y)
}

/// The shared copy of a property name.
pub fn intern(name: &str) -> Key {
    KEYS.with(|k| {
        let mut k = k.borrow_mut();
        if let Some(hit) = k.get(name) {
            return Arc::clone(hit);
        }
        let key: Key = Arc::from(name);
        if k.len() < INTERN_MAX {
            k.insert(Arc::clone(&key));
        }
        key
    })
}

/// A feature's properties (see the module doc).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Props(Box<[(Key, Value)]>);

impl Props {
    /// The value of a property, if the feature carries it.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.find(name).map(|i| &self.0[i].1)
    }

    /// The property's name (as stored) and value.
    pub fn get_key_value(&self, name: &str) -> Option<(&str, &Value)> {
        self.find(name).map(|i| (&*self.0[i].0, &self.0[i].1))
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    fn find(&self, name: &str) -> Option<usize> {
        // A handful of properties (the usual case): a scan comparing
        // lengths before bytes calls memcmp about once, where a binary
        // search calls it at every step (a tile looks up several names per
        // feature).
        if self.0.len() <= 8 {
            return self.0.iter().position(|(k, _)| same_text(k, name));
        }
        self.0.binary_search_by(|(k, _)| (**k).cmp(name)).ok()
    }

    /// (name, value) pairs in name order.
    pub fn iter(&self) -> Iter<'_> {
        self.0
            .iter()
            .map(pair as fn(&(Key, Value)) -> (&str, &Value))
    }

    /// The names, in order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| &**k)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Set a property (rebuilding the slice: for the rare edit in place).
    pub fn insert(&mut self, name: &str, value: Value) {
        let mut pairs = std::mem::take(&mut self.0).into_vec();
        match pairs.binary_search_by(|(k, _)| (**k).cmp(name)) {
            Ok(i) => pairs[i].1 = value,
            Err(i) => pairs.insert(i, (intern(name), value)),
        }
        self.0 = pairs.into_boxed_slice();
    }

    /// As a JSON object (for edits, exports and comparisons).
    pub fn to_map(&self) -> Map<String, Value> {
        self.iter()
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect()
    }
}

impl From<Map<String, Value>> for Props {
    /// Takes a JSON object's pairs (a `Map` iterates in key order, which the
    /// slice keeps).
    fn from(m: Map<String, Value>) -> Props {
        let mut pairs: Vec<(Key, Value)> = m.into_iter().map(|(k, v)| (intern(&k), v)).collect();
        // Whatever order the map had (serde_json's preserve_order would keep
        // insertion order), lookups need name order.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        Props(pairs.into_boxed_slice())
    }
}

/// What iterating a `Props` yields, as a nameable type (no boxing: the
/// property summary iterates every feature of a layer).
pub type Iter<'a> = std::iter::Map<
    std::slice::Iter<'a, (Key, Value)>,
    fn(&'a (Key, Value)) -> (&'a str, &'a Value),
>;

fn pair((k, v): &(Key, Value)) -> (&str, &Value) {
    (k, v)
}

impl<'a> IntoIterator for &'a Props {
    type Item = (&'a str, &'a Value);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<'de> Deserialize<'de> for Props {
    /// Straight from a JSON object into pairs: no map built on the way (a
    /// million features loaded at once would hold a million maps).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Props, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Props;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object of properties")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Props, A::Error> {
                let mut pairs: Vec<(Key, Value)> = Vec::with_capacity(m.size_hint().unwrap_or(8));
                while let Some(k) = m.next_key::<std::borrow::Cow<'de, str>>()? {
                    let v: Value = m.next_value()?;
                    pairs.push((intern(&k), v));
                }
                // Name order; a repeated name keeps its last value, as a
                // JSON object read into a map does.
                pairs.reverse();
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
                pairs.dedup_by(|later, first| later.0 == first.0);
                Ok(Props(pairs.into_boxed_slice()))
            }
        }
        d.deserialize_map(V)
    }
}

impl Serialize for Props {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.iter() {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_and_writes_as_the_map_it_came_from() {
        let m = json!({"status": "existing", "b": 1, "a": null, "name": "路"})
            .as_object()
            .cloned()
            .unwrap();
        let p = Props::from(m.clone());
        assert_eq!(p.to_map(), m);
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            serde_json::to_string(&m).unwrap()
        );
        assert_eq!(p.get("b"), Some(&json!(1)));
        assert_eq!(p.get("a"), Some(&Value::Null));
        assert_eq!(p.get("zz"), None);
        assert!(p.contains_key("name") && !p.contains_key("nam"));
        assert_eq!(p.keys().collect::<Vec<_>>(), ["a", "b", "name", "status"]);
    }

    #[test]
    fn deserializes_as_a_map_would_repeated_names_included() {
        let text = r#"{"z": 1, "a": "x", "z": 2, "m": [1, {"k": null}]}"#;
        let p: Props = serde_json::from_str(text).unwrap();
        let m: Map<String, Value> = serde_json::from_str(text).unwrap();
        assert_eq!(p.to_map(), m);
        assert_eq!(p.get("z"), Some(&json!(2)));
        assert!(serde_json::from_str::<Props>("[1]").is_err());
    }

    #[test]
    fn names_are_shared() {
        let a = intern("status");
        let b = intern(&String::from("status"));
        assert!(Arc::ptr_eq(&a, &b));
    }
}

//! GeoJSON as read, before any check: a feature, a geometry, coordinates
//! nested to any depth (our own serde types: no `serde_json::Value` tree
//! at a million features), and what a check of them may cost.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

/// How much a polygon's validation may cost: a data file's features are
/// validated once, at load, whatever they cost; a client's within
/// `MAX_SWEEP_PAIRS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    Files,
    Client,
}

/// A GeoJSON Feature as read.
#[derive(Deserialize)]
pub(super) struct RawFeature {
    #[serde(rename = "type", default)]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) id: Option<Value>,
    #[serde(default)]
    pub(super) properties: Option<crate::props::Props>,
    #[serde(default)]
    pub(super) geometry: Option<RawGeometry>,
}

/// A GeoJSON geometry object as read.
#[derive(Deserialize)]
pub(super) struct RawGeometry {
    #[serde(rename = "type")]
    pub(super) kind: String,
    #[serde(default)]
    pub(super) coordinates: Option<Nested>,
}

/// GeoJSON `coordinates`: numbers nested to any depth.
pub(super) enum Nested {
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

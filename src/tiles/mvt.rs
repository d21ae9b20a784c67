//! Mapbox Vector Tile 2.1 encoding: the protobuf wire format written by
//! hand (varints, packed fields), one `LayerWriter` per layer with its key
//! and value tables deduplicated, and the geometry command stream.
//!
//! Written here rather than taken from a crate: the format is a page of
//! protobuf, and the encoders on crates.io bring a protobuf code generator
//! (prost-build) into the build for it. Checked by an independent decoder
//! (Python's `mapbox-vector-tile`, GDAL's MVT driver) in `tests/tools.rs`.

use std::collections::HashMap;

/// A property value as MVT stores it.
#[derive(Debug, Clone, PartialEq)]
pub enum TileValue {
    Text(String),
    Int(i64),
    Double(f64),
    Bool(bool),
}

/// Geometry types (the `GeomType` enum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeomType {
    Point = 1,
    LineString = 2,
    Polygon = 3,
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, u64::from(field << 3 | u32::from(wire)));
}

fn bytes_field(out: &mut Vec<u8>, field: u32, data: &[u8]) {
    key(out, field, 2);
    varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

fn packed(out: &mut Vec<u8>, field: u32, values: &[u32]) {
    let mut buf = Vec::with_capacity(values.len() * 2);
    for v in values {
        varint(&mut buf, u64::from(*v));
    }
    bytes_field(out, field, &buf);
}

pub fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// A geometry's command stream, coordinates as deltas from the cursor.
#[derive(Debug, Default)]
pub struct Commands {
    pub out: Vec<u32>,
    cursor: (i32, i32),
}

impl Commands {
    fn command(id: u32, count: usize) -> u32 {
        (id & 0x7) | ((count as u32) << 3)
    }
    fn push_points(&mut self, pts: &[(i32, i32)]) {
        for &(x, y) in pts {
            self.out.push(zigzag(x - self.cursor.0));
            self.out.push(zigzag(y - self.cursor.1));
            self.cursor = (x, y);
        }
    }
    /// Points: one MoveTo with every point.
    pub fn points(&mut self, pts: &[(i32, i32)]) {
        self.out.push(Self::command(1, pts.len()));
        self.push_points(pts);
    }
    /// A line (at least two points).
    pub fn line(&mut self, pts: &[(i32, i32)]) {
        self.out.push(Self::command(1, 1));
        self.push_points(&pts[..1]);
        self.out.push(Self::command(2, pts.len() - 1));
        self.push_points(&pts[1..]);
    }
    /// A ring, given without its closing point (at least three points).
    pub fn ring(&mut self, pts: &[(i32, i32)]) {
        self.line(pts);
        self.out.push(Self::command(7, 1));
    }
}

/// One layer being written.
#[derive(Debug)]
pub struct LayerWriter {
    name: String,
    extent: u32,
    keys: Vec<String>,
    key_index: HashMap<String, u32>,
    values: Vec<TileValue>,
    /// Values by an exact key (doubles by their bits).
    value_index: HashMap<(u8, String), u32>,
    features: Vec<u8>,
    count: usize,
}

impl LayerWriter {
    pub fn new(name: &str, extent: u32) -> LayerWriter {
        LayerWriter {
            name: name.to_string(),
            extent,
            keys: Vec::new(),
            key_index: HashMap::new(),
            values: Vec::new(),
            value_index: HashMap::new(),
            features: Vec::new(),
            count: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn key_of(&mut self, k: &str) -> u32 {
        if let Some(&i) = self.key_index.get(k) {
            return i;
        }
        let i = self.keys.len() as u32;
        self.keys.push(k.to_string());
        self.key_index.insert(k.to_string(), i);
        i
    }

    fn value_of(&mut self, v: TileValue) -> u32 {
        let k = match &v {
            TileValue::Text(s) => (0, s.clone()),
            TileValue::Int(i) => (1, i.to_string()),
            TileValue::Double(d) => (2, d.to_bits().to_string()),
            TileValue::Bool(b) => (3, b.to_string()),
        };
        if let Some(&i) = self.value_index.get(&k) {
            return i;
        }
        let i = self.values.len() as u32;
        self.values.push(v);
        self.value_index.insert(k, i);
        i
    }

    /// Add a feature: its id (MVT ids are unsigned integers), its tags and
    /// its geometry commands.
    pub fn feature(
        &mut self,
        id: Option<u64>,
        tags: impl IntoIterator<Item = (String, TileValue)>,
        kind: GeomType,
        geometry: &Commands,
    ) {
        let mut t = Vec::new();
        for (k, v) in tags {
            t.push(self.key_of(&k));
            t.push(self.value_of(v));
        }
        let mut f = Vec::with_capacity(16 + geometry.out.len() * 2);
        if let Some(id) = id {
            key(&mut f, 1, 0);
            varint(&mut f, id);
        }
        if !t.is_empty() {
            packed(&mut f, 2, &t);
        }
        key(&mut f, 3, 0);
        varint(&mut f, kind as u64);
        packed(&mut f, 4, &geometry.out);
        bytes_field(&mut self.features, 2, &f);
        self.count += 1;
    }

    /// Append this layer to a tile's bytes (`Tile.layers`, field 3).
    pub fn finish(self, tile: &mut Vec<u8>) {
        let mut l = Vec::with_capacity(self.features.len() + 256);
        key(&mut l, 15, 0);
        varint(&mut l, 2);
        bytes_field(&mut l, 1, self.name.as_bytes());
        l.extend_from_slice(&self.features);
        for k in &self.keys {
            bytes_field(&mut l, 3, k.as_bytes());
        }
        for v in &self.values {
            let mut m = Vec::new();
            match v {
                TileValue::Text(s) => bytes_field(&mut m, 1, s.as_bytes()),
                TileValue::Double(d) => {
                    key(&mut m, 3, 1);
                    m.extend_from_slice(&d.to_le_bytes());
                }
                TileValue::Int(i) => {
                    key(&mut m, 6, 0);
                    varint(&mut m, ((*i << 1) ^ (*i >> 63)) as u64);
                }
                TileValue::Bool(b) => {
                    key(&mut m, 7, 0);
                    varint(&mut m, u64::from(*b));
                }
            }
            bytes_field(&mut l, 4, &m);
        }
        key(&mut l, 5, 0);
        varint(&mut l, u64::from(self.extent));
        bytes_field(tile, 3, &l);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_match_the_protobuf_spec() {
        let mut v = Vec::new();
        varint(&mut v, 300);
        assert_eq!(v, [0xAC, 0x02]);
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(-2), 3);
    }

    #[test]
    fn the_spec_example_line_encodes_as_published() {
        // MVT 2.1 spec, 4.3.5 example: LINESTRING(2 2, 2 10, 10 10).
        let mut c = Commands::default();
        c.line(&[(2, 2), (2, 10), (10, 10)]);
        assert_eq!(c.out, [9, 4, 4, 18, 0, 16, 16, 0]);
        // Polygon example: POLYGON((3 6, 8 12, 20 34, 3 6)).
        let mut c = Commands::default();
        c.ring(&[(3, 6), (8, 12), (20, 34)]);
        assert_eq!(c.out, [9, 6, 12, 18, 10, 12, 24, 44, 15]);
    }
}

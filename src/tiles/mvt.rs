//! Mapbox Vector Tile 2.1 encoding: the protobuf wire format written by
//! hand (varints, packed fields), one `LayerWriter` per layer with its key
//! and value tables deduplicated, and the geometry command stream.
//!
//! Written here rather than taken from a crate: the format is a page of
//! protobuf, and the encoders on crates.io bring a protobuf code generator
//! (prost-build) into the build for it. Checked by an independent decoder
//! (Python's `mapbox-vector-tile`, GDAL's MVT driver) in `tests/tools.rs`.

use std::collections::HashMap;

/// Keys and values of a tile are looked up once per feature and property:
/// foldhash, fixed seed (the output does not depend on it).
type FastMap<K> = HashMap<K, u32, foldhash::fast::FixedState>;

/// A property value as MVT stores it, borrowed from the feature for as
/// long as its layer is written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TileValue<'a> {
    Text(&'a str),
    /// A text no other feature of the layer carries (its id): written
    /// without a lookup, so it may repeat another value's text, which the
    /// spec allows (values SHOULD be unique) and decoders read alike.
    OwnText(&'a str),
    Int(i64),
    Double(f64),
    Bool(bool),
}

/// A layer's value table, one map per kind, so a lookup allocates
/// nothing. Texts are borrowed from the features (a road's name or id is
/// a value of its own: a tile adds thousands).
#[derive(Debug, Default)]
struct Values<'a> {
    texts: FastMap<Text<'a>>,
    ints: FastMap<i64>,
    doubles: FastMap<u64>,
    bools: [Option<u32>; 2],
    count: u32,
    /// Every value as the layer's field 4 (a `Value` message), in index
    /// order.
    encoded: Vec<u8>,
    /// One value's message, reused.
    one: Vec<u8>,
}

/// A value's text as a table key: equal when its bytes are, compared in
/// line (a tile finds its few statuses and classes hundreds of times, and
/// `==` on slices calls libc's memcmp for each).
#[derive(Debug, Clone, Copy, Eq, Hash)]
struct Text<'a>(&'a str);

impl PartialEq for Text<'_> {
    fn eq(&self, other: &Self) -> bool {
        crate::props::same_text(self.0, other.0)
    }
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

fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// The bytes of a packed field's payload: compares without branches,
/// which the compiler vectorises (a tile sums thousands).
fn packed_len(values: &[u32]) -> usize {
    values
        .iter()
        .map(|&v| {
            1 + usize::from(v >= 1 << 7)
                + usize::from(v >= 1 << 14)
                + usize::from(v >= 1 << 21)
                + usize::from(v >= 1 << 28)
        })
        .sum()
}

/// A packed field written in place (its length computed first, so no
/// buffer).
fn packed(out: &mut Vec<u8>, field: u32, values: &[u32], len: usize) {
    key(out, field, 2);
    varint(out, len as u64);
    for v in values {
        varint(out, u64::from(*v));
    }
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
    /// Begin a feature's commands (the cursor starts at the origin for
    /// each feature): where they start in `out`.
    pub fn start(&mut self) -> usize {
        self.cursor = (0, 0);
        self.out.len()
    }

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

/// One layer being written; keys and texts borrowed for `'a`.
#[derive(Debug)]
pub struct LayerWriter<'a> {
    name: &'a str,
    extent: u32,
    keys: Vec<&'a str>,
    key_index: FastMap<&'a str>,
    values: Values<'a>,
    features: Vec<u8>,
    count: usize,
    /// One feature's tags, reused.
    tags: Vec<u32>,
}

impl<'a> LayerWriter<'a> {
    /// A layer of about `features` features (the tables are sized for
    /// them: growing them was 2% of a tile).
    pub fn new(name: &'a str, extent: u32, features: usize) -> LayerWriter<'a> {
        let mut values = Values::default();
        values.texts.reserve(features * 2);
        values.encoded.reserve(features * 24);
        LayerWriter {
            name,
            extent,
            keys: Vec::new(),
            key_index: FastMap::default(),
            values,
            features: Vec::with_capacity(features * 32),
            count: 0,
            tags: Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn key_of(&mut self, k: &'a str) -> u32 {
        // Property names are shared across features (`props::intern`):
        // the same name is nearly always the same pointer, found among a
        // layer's first keys without hashing it.
        let same = |s: &&str| std::ptr::eq(s.as_ptr(), k.as_ptr()) && s.len() == k.len();
        if let Some(i) = self.keys.iter().take(16).position(same) {
            return i as u32;
        }
        let next = self.keys.len() as u32;
        let i = *self.key_index.entry(k).or_insert(next);
        if i == next {
            self.keys.push(k);
        }
        i
    }

    fn value_of(&mut self, v: TileValue<'a>) -> u32 {
        let vals = &mut self.values;
        let next = vals.count;
        let mut own = next;
        let slot = match v {
            TileValue::Text(t) => vals.texts.entry(Text(t)).or_insert(next),
            TileValue::OwnText(_) => &mut own,
            TileValue::Int(i) => vals.ints.entry(i).or_insert(next),
            TileValue::Double(d) => vals.doubles.entry(d.to_bits()).or_insert(next),
            TileValue::Bool(b) => vals.bools[usize::from(b)].get_or_insert(next),
        };
        if *slot != next {
            return *slot;
        }
        let m = &mut vals.one;
        m.clear();
        match v {
            TileValue::Text(t) | TileValue::OwnText(t) => bytes_field(m, 1, t.as_bytes()),
            TileValue::Double(d) => {
                key(m, 3, 1);
                m.extend_from_slice(&d.to_le_bytes());
            }
            TileValue::Int(i) => {
                key(m, 6, 0);
                varint(m, ((i << 1) ^ (i >> 63)) as u64);
            }
            TileValue::Bool(b) => {
                key(m, 7, 0);
                varint(m, u64::from(b));
            }
        }
        bytes_field(&mut vals.encoded, 4, m);
        vals.count += 1;
        next
    }

    /// Add a feature: its id (MVT ids are unsigned integers), its tags and
    /// its geometry commands.
    pub fn feature(
        &mut self,
        id: Option<u64>,
        tags: impl IntoIterator<Item = (&'a str, TileValue<'a>)>,
        kind: GeomType,
        geometry: &[u32],
    ) {
        let mut t = std::mem::take(&mut self.tags);
        t.clear();
        for (k, v) in tags {
            t.push(self.key_of(k));
            t.push(self.value_of(v));
        }
        // The feature's length first, then its fields straight into the
        // layer's bytes.
        let (tags_len, geom_len) = (packed_len(&t), packed_len(geometry));
        let field = |payload: usize| 1 + varint_len(payload as u64) + payload;
        let len = id.map_or(0, |id| 1 + varint_len(id))
            + if t.is_empty() { 0 } else { field(tags_len) }
            + 1
            + varint_len(kind as u64)
            + field(geom_len);
        let f = &mut self.features;
        key(f, 2, 2);
        varint(f, len as u64);
        if let Some(id) = id {
            key(f, 1, 0);
            varint(f, id);
        }
        if !t.is_empty() {
            packed(f, 2, &t, tags_len);
        }
        key(f, 3, 0);
        varint(f, kind as u64);
        packed(f, 4, geometry, geom_len);
        self.count += 1;
        self.tags = t;
    }

    /// Append this layer to a tile's bytes (`Tile.layers`, field 3).
    pub fn finish(self, tile: &mut Vec<u8>) {
        // The layer's length first, then its fields straight into the tile
        // (no copy of the layer's bytes).
        let text = |t: &str| 1 + varint_len(t.len() as u64) + t.len();
        let len = 2
            + text(self.name)
            + self.features.len()
            + self.keys.iter().map(|k| text(k)).sum::<usize>()
            + self.values.encoded.len()
            + 1
            + varint_len(u64::from(self.extent));
        tile.reserve(len + 8);
        key(tile, 3, 2);
        varint(tile, len as u64);
        let start = tile.len();
        key(tile, 15, 0);
        varint(tile, 2);
        bytes_field(tile, 1, self.name.as_bytes());
        tile.extend_from_slice(&self.features);
        for k in &self.keys {
            bytes_field(tile, 3, k.as_bytes());
        }
        tile.extend_from_slice(&self.values.encoded);
        key(tile, 5, 0);
        varint(tile, u64::from(self.extent));
        debug_assert_eq!(tile.len() - start, len, "the layer's length as written");
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
    fn varint_lengths_match_the_encoding() {
        for v in [0, 1, 127, 128, 300, 16_383, 16_384, 1 << 35, u64::MAX] {
            let mut b = Vec::new();
            varint(&mut b, v);
            assert_eq!(varint_len(v), b.len(), "{v}");
        }
        let small = [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            1 << 28,
            u32::MAX,
        ];
        let mut b = Vec::new();
        small.iter().for_each(|v| varint(&mut b, u64::from(*v)));
        assert_eq!(packed_len(&small), b.len());
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

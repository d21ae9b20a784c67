//! OpenStreetMap PBF, read blob by blob: the protobuf wire format decoded
//! by hand for the few messages an extract holds (`BlobHeader`, `Blob`,
//! `PrimitiveBlock` with plain and dense nodes, ways and relations), zlib
//! through flate2. Memory is one blob at a time (at most 32 MiB, as the
//! format says). What it reads is checked against pyosmium's counts on real
//! extracts (`tests/tools.rs`).
//!
//! Must not: map tags to layers (see `osm`).

use std::io::Read;
use std::path::Path;

/// The largest blob the format allows, compressed or not.
const MAX_BLOB: usize = 32 << 20;
/// The largest blob header.
const MAX_HEADER: usize = 64 << 10;

/// One OSM element, as the reader hands it over.
#[derive(Debug, Clone, PartialEq)]
pub enum Element<'a> {
    Node {
        id: i64,
        lon: f64,
        lat: f64,
        tags: Vec<(&'a str, &'a str)>,
    },
    Way {
        id: i64,
        refs: Vec<i64>,
        tags: Vec<(&'a str, &'a str)>,
    },
    Relation {
        id: i64,
        tags: Vec<(&'a str, &'a str)>,
        /// (type: 0 node, 1 way, 2 relation; id; role).
        members: Vec<(u8, i64, &'a str)>,
    },
}

/// A protobuf field's value.
enum Wire<'a> {
    Varint(u64),
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32,
}

/// Protobuf fields of a message, in order.
struct Fields<'a> {
    buf: &'a [u8],
}

fn varint(buf: &mut &[u8]) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = buf.split_first().ok_or("a truncated varint")?;
        *buf = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err("a varint longer than 10 bytes".into())
}

fn zigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Wire<'a>), String>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() {
            return None;
        }
        let mut step = || -> Result<(u32, Wire<'a>), String> {
            let key = varint(&mut self.buf)?;
            let (field, wire) = ((key >> 3) as u32, key & 7);
            let value = match wire {
                0 => Wire::Varint(varint(&mut self.buf)?),
                1 => {
                    self.buf = self.buf.get(8..).ok_or("a truncated fixed64")?;
                    Wire::Fixed64
                }
                2 => {
                    let len = varint(&mut self.buf)? as usize;
                    if len > self.buf.len() {
                        return Err("a field longer than its message".into());
                    }
                    let (bytes, rest) = self.buf.split_at(len);
                    self.buf = rest;
                    Wire::Bytes(bytes)
                }
                5 => {
                    self.buf = self.buf.get(4..).ok_or("a truncated fixed32")?;
                    Wire::Fixed32
                }
                w => return Err(format!("wire type {w} is not one of protobuf's")),
            };
            Ok((field, value))
        };
        let r = step();
        if r.is_err() {
            self.buf = &[];
        }
        Some(r)
    }
}

fn fields(buf: &[u8]) -> Fields<'_> {
    Fields { buf }
}

/// The varints of a packed field.
fn packed(mut buf: &[u8]) -> Result<Vec<u64>, String> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        out.push(varint(&mut buf)?);
    }
    Ok(out)
}

/// Delta-coded signed values (ids, coordinates) of a packed field.
fn deltas(buf: &[u8]) -> Result<Vec<i64>, String> {
    let mut acc = 0i64;
    packed(buf)?
        .into_iter()
        .map(|v| {
            acc = acc.wrapping_add(zigzag(v));
            Ok(acc)
        })
        .collect()
}

/// Read every element of the extract at `path`, handing each to `visit`.
pub fn read(path: &Path, mut visit: impl FnMut(Element)) -> Result<(), String> {
    let mut file = std::io::BufReader::new(std::fs::File::open(path).map_err(|e| e.to_string())?);
    let mut raw = Vec::new();
    let mut data = Vec::new();
    loop {
        let mut len = [0u8; 4];
        match file.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
        let header_len = u32::from_be_bytes(len) as usize;
        if header_len > MAX_HEADER {
            return Err(format!(
                "a blob header of {header_len} bytes (at most {MAX_HEADER})"
            ));
        }
        let mut header = vec![0u8; header_len];
        file.read_exact(&mut header).map_err(|e| e.to_string())?;
        let (mut kind, mut size) = (String::new(), 0usize);
        for f in fields(&header) {
            match f? {
                (1, Wire::Bytes(b)) => kind = String::from_utf8_lossy(b).into_owned(),
                (3, Wire::Varint(v)) => size = v as usize,
                _ => {}
            }
        }
        if size > MAX_BLOB {
            return Err(format!("a blob of {size} bytes (at most {MAX_BLOB})"));
        }
        raw.resize(size, 0);
        file.read_exact(&mut raw).map_err(|e| e.to_string())?;
        blob_data(&raw, &mut data)?;
        match kind.as_str() {
            "OSMHeader" => header_block(&data)?,
            "OSMData" => primitive_block(&data, &mut visit)?,
            // Unknown blob types are to be skipped, the format says.
            _ => {}
        }
    }
}

/// A blob's data, uncompressed, into `out`.
fn blob_data(blob: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    out.clear();
    let mut raw_size = None;
    for f in fields(blob) {
        match f? {
            (1, Wire::Bytes(b)) => {
                out.extend_from_slice(b);
                return Ok(());
            }
            (2, Wire::Varint(v)) => raw_size = Some(v as usize),
            (3, Wire::Bytes(b)) => {
                let expected = raw_size.unwrap_or(0).min(MAX_BLOB);
                out.reserve(expected);
                flate2::read::ZlibDecoder::new(b)
                    .take(MAX_BLOB as u64 + 1)
                    .read_to_end(out)
                    .map_err(|e| format!("a zlib blob does not inflate: {e}"))?;
                if out.len() > MAX_BLOB {
                    return Err(format!("a blob inflates past {MAX_BLOB} bytes"));
                }
                return Ok(());
            }
            (4..=7, _) => {
                return Err(
                    "a blob compressed other than by zlib (lzma, bzip2, lz4, zstd): convert it with `osmium cat -f pbf`"
                        .into(),
                )
            }
            _ => {}
        }
    }
    Err("a blob without data".into())
}

/// The header block: refuse features this reader does not implement.
fn header_block(data: &[u8]) -> Result<(), String> {
    for f in fields(data) {
        if let (4, Wire::Bytes(b)) = f? {
            let feature = String::from_utf8_lossy(b);
            if !matches!(
                feature.as_ref(),
                "OsmSchema-V0.6" | "DenseNodes" | "HistoricalInformation"
            ) {
                return Err(format!(
                    "the extract requires {feature:?}, which this reader does not implement"
                ));
            }
        }
    }
    Ok(())
}

/// The keys and values of a plain node, way or relation.
fn tags<'a>(
    strings: &[&'a str],
    keys: &[u64],
    vals: &[u64],
) -> Result<Vec<(&'a str, &'a str)>, String> {
    keys.iter()
        .zip(vals)
        .map(|(&k, &v)| {
            let s = |i: u64| {
                strings
                    .get(i as usize)
                    .copied()
                    .ok_or("a string index past the table")
            };
            Ok((s(k)?, s(v)?))
        })
        .collect()
}

fn primitive_block(data: &[u8], visit: &mut impl FnMut(Element)) -> Result<(), String> {
    let mut strings: Vec<&str> = Vec::new();
    let mut groups = Vec::new();
    let (mut granularity, mut lat_offset, mut lon_offset) = (100i64, 0i64, 0i64);
    for f in fields(data) {
        match f? {
            (1, Wire::Bytes(table)) => {
                for s in fields(table) {
                    if let (1, Wire::Bytes(b)) = s? {
                        strings.push(
                            std::str::from_utf8(b).map_err(|_| "a string that is not UTF-8")?,
                        );
                    }
                }
            }
            (2, Wire::Bytes(g)) => groups.push(g),
            (17, Wire::Varint(v)) => granularity = v as i64,
            (19, Wire::Varint(v)) => lat_offset = v as i64,
            (20, Wire::Varint(v)) => lon_offset = v as i64,
            _ => {}
        }
    }
    let degrees = |offset: i64, v: i64| 1e-9 * (offset + granularity * v) as f64;
    for group in groups {
        for f in fields(group) {
            match f? {
                (1, Wire::Bytes(n)) => {
                    let (mut id, mut lat, mut lon) = (0, 0, 0);
                    let (mut keys, mut vals) = (Vec::new(), Vec::new());
                    for g in fields(n) {
                        match g? {
                            (1, Wire::Varint(v)) => id = zigzag(v),
                            (2, Wire::Bytes(b)) => keys = packed(b)?,
                            (3, Wire::Bytes(b)) => vals = packed(b)?,
                            (8, Wire::Varint(v)) => lat = zigzag(v),
                            (9, Wire::Varint(v)) => lon = zigzag(v),
                            _ => {}
                        }
                    }
                    visit(Element::Node {
                        id,
                        lon: degrees(lon_offset, lon),
                        lat: degrees(lat_offset, lat),
                        tags: tags(&strings, &keys, &vals)?,
                    });
                }
                (2, Wire::Bytes(d)) => dense(d, &strings, &degrees, lat_offset, lon_offset, visit)?,
                (3, Wire::Bytes(w)) => {
                    let (mut id, mut refs) = (0, Vec::new());
                    let (mut keys, mut vals) = (Vec::new(), Vec::new());
                    for g in fields(w) {
                        match g? {
                            (1, Wire::Varint(v)) => id = v as i64,
                            (2, Wire::Bytes(b)) => keys = packed(b)?,
                            (3, Wire::Bytes(b)) => vals = packed(b)?,
                            (8, Wire::Bytes(b)) => refs = deltas(b)?,
                            _ => {}
                        }
                    }
                    visit(Element::Way {
                        id,
                        refs,
                        tags: tags(&strings, &keys, &vals)?,
                    });
                }
                (4, Wire::Bytes(r)) => {
                    let mut id = 0;
                    let (mut keys, mut vals) = (Vec::new(), Vec::new());
                    let (mut roles, mut ids, mut types) = (Vec::new(), Vec::new(), Vec::new());
                    for g in fields(r) {
                        match g? {
                            (1, Wire::Varint(v)) => id = v as i64,
                            (2, Wire::Bytes(b)) => keys = packed(b)?,
                            (3, Wire::Bytes(b)) => vals = packed(b)?,
                            (8, Wire::Bytes(b)) => roles = packed(b)?,
                            (9, Wire::Bytes(b)) => ids = deltas(b)?,
                            (10, Wire::Bytes(b)) => types = packed(b)?,
                            _ => {}
                        }
                    }
                    let members = ids
                        .iter()
                        .zip(&types)
                        .zip(&roles)
                        .map(|((&m, &t), &role)| {
                            let role = strings
                                .get(role as usize)
                                .copied()
                                .ok_or("a role past the table")?;
                            Ok((t.min(2) as u8, m, role))
                        })
                        .collect::<Result<_, String>>()?;
                    visit(Element::Relation {
                        id,
                        tags: tags(&strings, &keys, &vals)?,
                        members,
                    });
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Dense nodes: ids and coordinates delta-coded, tags as one run of
/// key/value string indexes per node, each run ended by a 0.
fn dense(
    d: &[u8],
    strings: &[&str],
    degrees: &impl Fn(i64, i64) -> f64,
    lat_offset: i64,
    lon_offset: i64,
    visit: &mut impl FnMut(Element),
) -> Result<(), String> {
    let (mut ids, mut lats, mut lons, mut kv) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for f in fields(d) {
        match f? {
            (1, Wire::Bytes(b)) => ids = deltas(b)?,
            (8, Wire::Bytes(b)) => lats = deltas(b)?,
            (9, Wire::Bytes(b)) => lons = deltas(b)?,
            (10, Wire::Bytes(b)) => kv = packed(b)?,
            _ => {}
        }
    }
    if lats.len() != ids.len() || lons.len() != ids.len() {
        return Err("dense nodes with as many ids as coordinates".into());
    }
    let mut kv = kv.into_iter();
    let s = |i: u64| {
        strings
            .get(i as usize)
            .copied()
            .ok_or("a string index past the table")
    };
    for ((&id, &lat), &lon) in ids.iter().zip(&lats).zip(&lons) {
        let mut tags = Vec::new();
        // No tags at all in the block: `keys_vals` is empty.
        while let Some(k) = kv.next() {
            if k == 0 {
                break;
            }
            let v = kv.next().ok_or("a key without its value")?;
            tags.push((s(k)?, s(v)?));
        }
        visit(Element::Node {
            id,
            lon: degrees(lon_offset, lon),
            lat: degrees(lat_offset, lat),
            tags,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A varint's bytes.
    fn enc(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn bytes_field(field: u32, b: &[u8], out: &mut Vec<u8>) {
        enc(u64::from(field) << 3 | 2, out);
        enc(b.len() as u64, out);
        out.extend_from_slice(b);
    }

    fn zz(v: i64) -> u64 {
        ((v << 1) ^ (v >> 63)) as u64
    }

    /// A hand-encoded block (values from the protobuf definitions, not from
    /// this reader) decodes to the elements it holds.
    #[test]
    fn a_hand_made_block_reads_back() {
        let mut table = Vec::new();
        for s in ["", "highway", "primary", "name", "Mannerheimintie", "outer"] {
            bytes_field(1, s.as_bytes(), &mut table);
        }
        // Dense: ids 10, 12; lat 60.17, 60.18; lon 24.94, 24.95 (units of
        // 100 nanodegrees); node 12 tagged highway=primary.
        let mut dense = Vec::new();
        let pack = |vals: &[u64]| {
            let mut b = Vec::new();
            for &v in vals {
                enc(v, &mut b);
            }
            b
        };
        bytes_field(1, &pack(&[zz(10), zz(2)]), &mut dense);
        bytes_field(8, &pack(&[zz(601_700_000), zz(100_000)]), &mut dense);
        bytes_field(9, &pack(&[zz(249_400_000), zz(100_000)]), &mut dense);
        bytes_field(10, &pack(&[0, 1, 2, 0]), &mut dense);
        let mut way = Vec::new();
        enc(1 << 3, &mut way);
        enc(77, &mut way);
        bytes_field(2, &pack(&[3]), &mut way);
        bytes_field(3, &pack(&[4]), &mut way);
        bytes_field(8, &pack(&[zz(10), zz(2)]), &mut way);
        let mut rel = Vec::new();
        enc(1 << 3, &mut rel);
        enc(5, &mut rel);
        bytes_field(8, &pack(&[5]), &mut rel);
        bytes_field(9, &pack(&[zz(77)]), &mut rel);
        bytes_field(10, &pack(&[1]), &mut rel);
        let mut group = Vec::new();
        bytes_field(2, &dense, &mut group);
        bytes_field(3, &way, &mut group);
        bytes_field(4, &rel, &mut group);
        let mut block = Vec::new();
        bytes_field(1, &table, &mut block);
        bytes_field(2, &group, &mut block);
        let mut seen = Vec::new();
        primitive_block(&block, &mut |e| seen.push(format!("{e:?}"))).unwrap();
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(
            seen[0].contains("id: 10") && seen[0].contains("tags: []"),
            "{}",
            seen[0]
        );
        assert!(
            seen[1].contains("id: 12") && seen[1].contains("(\"highway\", \"primary\")"),
            "{}",
            seen[1]
        );
        assert!(
            seen[1].contains("lon: 24.95") && seen[1].contains("lat: 60.18"),
            "{}",
            seen[1]
        );
        assert!(
            seen[2].contains("refs: [10, 12]") && seen[2].contains("Mannerheimintie"),
            "{}",
            seen[2]
        );
        assert!(
            seen[3].contains("members: [(1, 77, \"outer\")]"),
            "{}",
            seen[3]
        );
    }

    #[test]
    fn a_truncated_message_is_an_error_not_a_panic() {
        for bad in [&[0x0a, 0x05, 1, 2][..], &[0x08][..], &[0x0f][..]] {
            assert!(primitive_block(bad, &mut |_| {}).is_err(), "{bad:?}");
        }
    }
}

//! GeoPackage binary geometries (OGC 12-128r18, 2.1.3): a small header
//! (magic `GP`, version, flags, SRS id, envelope) followed by ISO WKB.
//!
//! Written little-endian with an xy envelope, as GDAL writes them; read in
//! either byte order, with any envelope kind. 2D only: z and m are refused
//! when reading, since the model holds lon/lat pairs.
//!
//! Must not: touch SQLite or know about layers.

use geo::{
    BoundingRect, Coord, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point,
    Polygon,
};

/// Why a blob is not a geometry we can read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("not a GeoPackage geometry: {0}")]
pub struct WkbError(pub String);

fn err<T>(m: impl Into<String>) -> Result<T, WkbError> {
    Err(WkbError(m.into()))
}

/// Encode a geometry with SRS id `srs_id` (4326 for lon/lat).
pub fn encode(g: &Geometry, srs_id: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(b"GP");
    out.push(0); // version 1
    let envelope = g.bounding_rect();
    // Bit 0: little-endian header; bits 1-3: envelope [minx, maxx, miny, maxy].
    let flags: u8 = if envelope.is_some() {
        0b0000_0011
    } else {
        0b0001_0001
    };
    out.push(flags);
    out.extend_from_slice(&srs_id.to_le_bytes());
    if let Some(e) = envelope {
        for v in [e.min().x, e.max().x, e.min().y, e.max().y] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    write_wkb(g, &mut out);
    out
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_coord(out: &mut Vec<u8>, c: Coord) {
    out.extend_from_slice(&c.x.to_le_bytes());
    out.extend_from_slice(&c.y.to_le_bytes());
}

fn put_ring(out: &mut Vec<u8>, r: &LineString) {
    put_u32(out, r.0.len() as u32);
    for c in &r.0 {
        put_coord(out, *c);
    }
}

fn put_polygon_body(out: &mut Vec<u8>, p: &Polygon) {
    put_u32(out, 1 + p.interiors().len() as u32);
    put_ring(out, p.exterior());
    for h in p.interiors() {
        put_ring(out, h);
    }
}

fn write_wkb(g: &Geometry, out: &mut Vec<u8>) {
    out.push(1); // little endian
    match g {
        Geometry::Point(p) => {
            put_u32(out, 1);
            put_coord(out, p.0);
        }
        Geometry::LineString(l) => {
            put_u32(out, 2);
            put_ring(out, l);
        }
        Geometry::Polygon(p) => {
            put_u32(out, 3);
            put_polygon_body(out, p);
        }
        Geometry::MultiPoint(m) => {
            put_u32(out, 4);
            put_u32(out, m.0.len() as u32);
            for p in &m.0 {
                write_wkb(&Geometry::Point(*p), out);
            }
        }
        Geometry::MultiLineString(m) => {
            put_u32(out, 5);
            put_u32(out, m.0.len() as u32);
            for l in &m.0 {
                out.push(1);
                put_u32(out, 2);
                put_ring(out, l);
            }
        }
        Geometry::MultiPolygon(m) => {
            put_u32(out, 6);
            put_u32(out, m.0.len() as u32);
            for p in &m.0 {
                out.push(1);
                put_u32(out, 3);
                put_polygon_body(out, p);
            }
        }
        // The model never holds other kinds (loading refuses them); an
        // empty collection keeps the blob well-formed regardless.
        _ => {
            put_u32(out, 7);
            put_u32(out, 0);
        }
    }
}

/// A cursor over WKB bytes in one byte order.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    little: bool,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], WkbError> {
        let end = self.at + N;
        let Some(slice) = self.bytes.get(self.at..end) else {
            return err("the blob ends too early");
        };
        self.at = end;
        let mut a = [0u8; N];
        a.copy_from_slice(slice);
        Ok(a)
    }
    fn u32(&mut self) -> Result<u32, WkbError> {
        let b = self.take::<4>()?;
        Ok(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }
    fn f64(&mut self) -> Result<f64, WkbError> {
        let b = self.take::<8>()?;
        Ok(if self.little {
            f64::from_le_bytes(b)
        } else {
            f64::from_be_bytes(b)
        })
    }
    fn count(&mut self) -> Result<usize, WkbError> {
        let n = self.u32()? as usize;
        // Each item takes at least 16 bytes (a coordinate) or 5 (a header):
        // a count the remaining bytes cannot hold is corrupt, not a reason
        // to allocate gigabytes.
        if n > self.bytes.len().saturating_sub(self.at) {
            return err(format!("a count of {n} exceeds the blob"));
        }
        Ok(n)
    }
    fn coord(&mut self) -> Result<Coord, WkbError> {
        Ok(Coord {
            x: self.f64()?,
            y: self.f64()?,
        })
    }
    fn line(&mut self) -> Result<LineString, WkbError> {
        let n = self.count()?;
        // Exactly `n` (bounded by `count`): a collect into a `Result`
        // would grow by doubling and keep up to twice the room.
        let mut coords = Vec::with_capacity(n);
        for _ in 0..n {
            coords.push(self.coord()?);
        }
        Ok(LineString(coords))
    }
    fn polygon(&mut self) -> Result<Polygon, WkbError> {
        let rings = self.count()?;
        if rings == 0 {
            return Ok(Polygon::new(LineString(vec![]), vec![]));
        }
        let exterior = self.line()?;
        let holes = (1..rings)
            .map(|_| self.line())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Polygon::new(exterior, holes))
    }
}

fn read_wkb(bytes: &[u8], at: &mut usize) -> Result<Geometry, WkbError> {
    let order = *bytes.get(*at).ok_or_else(|| WkbError("no WKB".into()))?;
    let mut r = Reader {
        bytes,
        at: *at + 1,
        little: match order {
            0 => false,
            1 => true,
            b => return err(format!("byte order {b}")),
        },
    };
    let kind = r.u32()?;
    let g = match kind {
        1 => Geometry::Point(Point(r.coord()?)),
        2 => Geometry::LineString(r.line()?),
        3 => Geometry::Polygon(r.polygon()?),
        4..=6 => {
            let n = r.count()?;
            let mut parts = Vec::with_capacity(n);
            let mut pos = r.at;
            for _ in 0..n {
                parts.push(read_wkb(bytes, &mut pos)?);
            }
            r.at = pos;
            match kind {
                4 => Geometry::MultiPoint(MultiPoint(
                    parts
                        .into_iter()
                        .map(|p| match p {
                            Geometry::Point(p) => Ok(p),
                            _ => err("a MultiPoint holds a non-point"),
                        })
                        .collect::<Result<_, _>>()?,
                )),
                5 => Geometry::MultiLineString(MultiLineString(
                    parts
                        .into_iter()
                        .map(|p| match p {
                            Geometry::LineString(l) => Ok(l),
                            _ => err("a MultiLineString holds a non-line"),
                        })
                        .collect::<Result<_, _>>()?,
                )),
                _ => Geometry::MultiPolygon(MultiPolygon(
                    parts
                        .into_iter()
                        .map(|p| match p {
                            Geometry::Polygon(p) => Ok(p),
                            _ => err("a MultiPolygon holds a non-polygon"),
                        })
                        .collect::<Result<_, _>>()?,
                )),
            }
        }
        k if k > 1000 => return err(format!("geometry type {k} has z or m; only 2D is read")),
        k => return err(format!("geometry type {k} is not supported")),
    };
    *at = r.at;
    Ok(g)
}

/// Plain ISO WKB (little-endian), as PostGIS's `ST_GeomFromWKB` reads it.
pub fn encode_wkb(g: &Geometry) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    write_wkb(g, &mut out);
    out
}

/// Plain WKB (either byte order), as PostGIS's `ST_AsBinary` writes it.
pub fn decode_wkb(bytes: &[u8]) -> Result<Geometry, WkbError> {
    let mut at = 0;
    let g = read_wkb(bytes, &mut at)?;
    if at != bytes.len() {
        return err("bytes left after the geometry");
    }
    Ok(g)
}

/// Decode a GeoPackage geometry blob.
pub fn decode(blob: &[u8]) -> Result<Geometry, WkbError> {
    if blob.len() < 8 || &blob[..2] != b"GP" {
        return err("no GP magic");
    }
    let flags = blob[3];
    if flags & 0b0010_0000 != 0 {
        return err("extended (non-standard) geometry types are not read");
    }
    let envelope_len = match (flags >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        e => return err(format!("envelope indicator {e}")),
    };
    let mut at = 8 + envelope_len;
    if at > blob.len() {
        return err("the header is longer than the blob");
    }
    read_wkb(blob, &mut at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{coord, polygon};

    #[test]
    fn every_kind_round_trips() {
        let p = polygon![(x: 113.5, y: 34.7), (x: 113.6, y: 34.7), (x: 113.6, y: 34.8), (x: 113.5, y: 34.7)];
        let line = LineString(vec![coord! {x: 1.0, y: 2.0}, coord! {x: 3.5, y: -4.25}]);
        for g in [
            Geometry::Point(Point::new(113.5, 34.7)),
            Geometry::LineString(line.clone()),
            Geometry::Polygon(p.clone()),
            Geometry::MultiPoint(MultiPoint(vec![Point::new(1.0, 2.0), Point::new(3.0, 4.0)])),
            Geometry::MultiLineString(MultiLineString(vec![line.clone(), line])),
            Geometry::MultiPolygon(MultiPolygon(vec![p.clone(), p])),
        ] {
            let blob = encode(&g, 4326);
            assert_eq!(&blob[..2], b"GP");
            assert_eq!(i32::from_le_bytes(blob[4..8].try_into().unwrap()), 4326);
            assert_eq!(decode(&blob).unwrap(), g);
            assert_eq!(decode_wkb(&encode_wkb(&g)).unwrap(), g);
        }
    }

    #[test]
    fn corrupt_blobs_are_errors_not_panics() {
        let good = encode(&Geometry::Point(Point::new(1.0, 2.0)), 4326);
        for cut in 0..good.len() {
            assert!(decode(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = encode(&Geometry::LineString(LineString(vec![])), 4326);
        let n = huge.len();
        huge[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode(&huge).is_err());
        assert!(decode(b"XX\0\x01\0\0\0\0\x01\x01\0\0\0").is_err());
    }

    #[test]
    fn big_endian_wkb_reads_too() {
        // GP header (little-endian flags, no envelope) + big-endian WKB point.
        let mut blob = vec![b'G', b'P', 0, 0b0000_0001];
        blob.extend_from_slice(&4326i32.to_le_bytes());
        blob.push(0);
        blob.extend_from_slice(&1u32.to_be_bytes());
        blob.extend_from_slice(&113.5f64.to_be_bytes());
        blob.extend_from_slice(&34.7f64.to_be_bytes());
        assert_eq!(
            decode(&blob).unwrap(),
            Geometry::Point(Point::new(113.5, 34.7))
        );
    }
}

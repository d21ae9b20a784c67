//! Esri Shapefiles: the `.shp` geometries (points, multipoints, polylines,
//! polygons; Z and M variants read as 2D), the `.dbf` attributes decoded in
//! the file's code page (`.cpg`, or the caller's: GBK works), and the
//! `.prj` turned into a CRS this server knows.
//!
//! Must not: know about layers or the store.

use std::path::Path;

use geo::{Coord, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon};
use serde_json::{Map, Value};

use super::{ImportError, Row};
use crate::crs::Crs;

/// Every row of a Shapefile: geometry in the file's coordinates, attributes.
pub fn read(path: &Path, encoding: Option<&str>) -> Result<(Vec<Row>, Option<Crs>), ImportError> {
    let bad = |m: String| ImportError::Source(format!("{}: {m}", path.display()));
    let sibling = |ext: &str| path.with_extension(ext);
    check_header(path).map_err(bad)?;
    let shp = crate::load::read_regular_file(path).map_err(|e| bad(e.to_string()))?;
    let dbf = crate::load::read_regular_file(&sibling("dbf"))
        .map_err(|e| bad(format!("its .dbf: {e}")))?;
    let label = match encoding {
        Some(e) => e.to_owned(),
        None => match crate::load::read_regular_text(&sibling("cpg")) {
            Ok(t) => t.trim().to_owned(),
            Err(_) => "UTF-8".to_owned(),
        },
    };
    let codec =
        encoding_for(&label).ok_or_else(|| bad(format!("unknown text encoding {label:?}")))?;
    let crs = match crate::load::read_regular_text(&sibling("prj")) {
        Ok(wkt) => Some(crs_from_wkt(&wkt).map_err(|e| bad(format!("its .prj: {e}")))?),
        Err(_) => None,
    };
    let geometries = shapes(&shp).map_err(bad)?;
    let records = records(&dbf, codec).map_err(|m| bad(format!("its .dbf: {m}")))?;
    if records.len() != geometries.len() {
        return Err(bad(format!(
            "{} shapes but {} attribute records",
            geometries.len(),
            records.len()
        )));
    }
    let rows = geometries
        .into_iter()
        .zip(records)
        .enumerate()
        .filter_map(|(i, (g, props))| {
            g.map(|geometry| Row {
                number: i + 1,
                id: None,
                geometry: Ok(geometry),
                properties: props,
            })
        })
        .collect();
    Ok((rows, crs))
}

/// An encoding by label (`UTF-8`, `GBK`, `936`, `CP936`, `GB2312`, ...).
fn encoding_for(label: &str) -> Option<&'static encoding_rs::Encoding> {
    let l = label.trim().to_ascii_lowercase();
    let l = match l.as_str() {
        "936" | "cp936" | "ansi 936" => "gbk",
        "65001" => "utf-8",
        other => other,
    };
    encoding_rs::Encoding::for_label(l.as_bytes())
}

fn le_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn le_f64(b: &[u8], at: usize) -> Option<f64> {
    Some(f64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The `.shp` header, read alone before the file is: a file that is not a
/// Shapefile (a 1 GiB sparse file named `.shp`) is refused without reading
/// it into memory.
fn check_header(path: &Path) -> Result<(), String> {
    use std::io::Read;
    let mut head = [0u8; 100];
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let size = f.metadata().map_err(|e| e.to_string())?.len();
    f.read_exact(&mut head)
        .map_err(|_| "not a Shapefile (shorter than its 100-byte header)".to_owned())?;
    if be_i32(&head, 0) != Some(9994) {
        return Err("not a Shapefile (no 9994 file code in its header)".into());
    }
    let declared = be_i32(&head, 24).map_or(0, |w| w as i64 * 2);
    if declared < 100 || declared as u64 > size {
        return Err(format!(
            "the header says the file is {declared} bytes long, but it is {size}: the file is truncated"
        ));
    }
    Ok(())
}

/// The `.shp` records, in order (`None` for a null shape).
fn shapes(b: &[u8]) -> Result<Vec<Option<Geometry>>, String> {
    if b.len() < 100 || be_i32(b, 0) != Some(9994) {
        return Err("not a Shapefile (no 9994 file code in its header)".into());
    }
    let mut out = Vec::new();
    let mut at = 100;
    while at + 8 <= b.len() {
        let n = out.len() + 1;
        let len = be_i32(b, at + 4).ok_or("truncated record header")? as usize * 2;
        let rec = b
            .get(at + 8..at + 8 + len)
            .ok_or_else(|| format!("record {n} is cut short (the file is truncated)"))?;
        out.push(shape(rec).map_err(|m| format!("record {n}: {m}"))?);
        at += 8 + len;
    }
    Ok(out)
}

fn shape(r: &[u8]) -> Result<Option<Geometry>, String> {
    let kind = le_i32(r, 0).ok_or("empty record")?;
    let short = || "the record is shorter than its shape type needs".to_string();
    let point = |at: usize| -> Result<Coord, String> {
        Ok(Coord {
            x: le_f64(r, at).ok_or_else(short)?,
            y: le_f64(r, at + 8).ok_or_else(short)?,
        })
    };
    match kind {
        0 => Ok(None),
        1 | 11 | 21 => Ok(Some(Geometry::Point(Point(point(4)?)))),
        8 | 18 | 28 => {
            let n = le_i32(r, 36).ok_or_else(short)? as usize;
            let pts = (0..n)
                .map(|i| point(40 + 16 * i).map(Point))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Some(Geometry::MultiPoint(MultiPoint(pts))))
        }
        3 | 13 | 23 | 5 | 15 | 25 => {
            let parts = le_i32(r, 36).ok_or_else(short)? as usize;
            let n = le_i32(r, 40).ok_or_else(short)? as usize;
            if parts > r.len() || n > r.len() {
                return Err(short());
            }
            let starts = (0..parts)
                .map(|i| le_i32(r, 44 + 4 * i).map(|s| s as usize).ok_or_else(short))
                .collect::<Result<Vec<_>, _>>()?;
            let base = 44 + 4 * parts;
            let pts = (0..n)
                .map(|i| point(base + 16 * i))
                .collect::<Result<Vec<_>, _>>()?;
            let mut rings = Vec::with_capacity(parts);
            for (i, &s) in starts.iter().enumerate() {
                let e = starts.get(i + 1).copied().unwrap_or(n);
                if s > e || e > n {
                    return Err("part offsets out of order".into());
                }
                rings.push(LineString(pts[s..e].to_vec()));
            }
            if matches!(kind, 3 | 13 | 23) {
                Ok(Some(if rings.len() == 1 {
                    Geometry::LineString(rings.remove(0))
                } else {
                    Geometry::MultiLineString(MultiLineString(rings))
                }))
            } else {
                Ok(Some(polygons(rings)))
            }
        }
        other => Err(format!("shape type {other} is not supported (MultiPatch?)")),
    }
}

/// Shapefile rings to polygons: clockwise rings are shells, the others
/// holes of the shell that contains them.
fn polygons(rings: Vec<LineString>) -> Geometry {
    use geo::{Contains, Winding};
    let (mut shells, mut holes) = (Vec::new(), Vec::new());
    for r in rings {
        if r.is_cw() {
            shells.push(Polygon::new(r, vec![]));
        } else {
            holes.push(r);
        }
    }
    if shells.is_empty() {
        // Some writers wind every ring the other way: take them as shells.
        shells = holes.drain(..).map(|r| Polygon::new(r, vec![])).collect();
    }
    for h in holes {
        let inside =
            h.0.first()
                .and_then(|c| shells.iter().position(|s| s.contains(c)));
        match inside {
            Some(i) => shells[i].interiors_push(h),
            None => shells.push(Polygon::new(h, vec![])),
        }
    }
    let mut shells: Vec<Polygon> = shells
        .into_iter()
        .map(|mut p| {
            // GeoJSON winding: shells counter-clockwise, holes clockwise.
            p.exterior_mut(|e| e.make_ccw_winding());
            p.interiors_mut(|hs| hs.iter_mut().for_each(|h| h.make_cw_winding()));
            p
        })
        .collect();
    if shells.len() == 1 {
        Geometry::Polygon(shells.remove(0))
    } else {
        Geometry::MultiPolygon(MultiPolygon(shells))
    }
}

/// The `.dbf` records as JSON properties (deleted records are skipped by
/// the caller's count check: a deleted record still pairs with its shape).
fn records(
    b: &[u8],
    codec: &'static encoding_rs::Encoding,
) -> Result<Vec<Map<String, Value>>, String> {
    if b.len() < 32 {
        return Err("too short for a dBase header".into());
    }
    let count = u32::from_le_bytes(b[4..8].try_into().map_err(|_| "header")?) as usize;
    let header = u16::from_le_bytes([b[8], b[9]]) as usize;
    let size = u16::from_le_bytes([b[10], b[11]]) as usize;
    let mut fields = Vec::new();
    let mut at = 32;
    while at + 32 <= header && b.get(at) != Some(&0x0D) {
        let d = &b[at..at + 32];
        let name_end = d[..11].iter().position(|&c| c == 0).unwrap_or(11);
        let (name, _, bad) = codec.decode(&d[..name_end]);
        if bad {
            return Err(format!(
                "field name {:?} is not valid text in this encoding",
                String::from_utf8_lossy(&d[..name_end])
            ));
        }
        fields.push((name.trim().to_owned(), d[11], d[16] as usize, d[17]));
        at += 32;
    }
    let width: usize = fields.iter().map(|f| f.2).sum();
    if width + 1 > size {
        return Err("field widths exceed the record size".into());
    }
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let start = header + i * size;
        let rec = b
            .get(start..start + size)
            .ok_or_else(|| format!("record {} is cut short", i + 1))?;
        let mut props = Map::new();
        let mut off = 1;
        for (name, kind, len, decimals) in &fields {
            let raw = &rec[off..off + len];
            off += len;
            let (text, _, bad) = codec.decode(raw);
            if bad {
                return Err(format!(
                    "record {}, field {name}: the bytes are not valid {} text (give the right --encoding)",
                    i + 1,
                    codec.name()
                ));
            }
            let t = text.trim_matches(|c: char| c == ' ' || c == '\0');
            let v = match kind {
                _ if t.is_empty() => Value::Null,
                b'N' | b'F' if *decimals == 0 => t
                    .parse::<i64>()
                    .map(Value::from)
                    .or_else(|_| t.parse::<f64>().map(Value::from))
                    .map_err(|_| {
                        format!("record {}, field {name}: {t:?} is not a number", i + 1)
                    })?,
                b'N' | b'F' => t.parse::<f64>().map(Value::from).map_err(|_| {
                    format!("record {}, field {name}: {t:?} is not a number", i + 1)
                })?,
                b'L' => match t {
                    "T" | "t" | "Y" | "y" => Value::Bool(true),
                    "F" | "f" | "N" | "n" => Value::Bool(false),
                    _ => Value::Null,
                },
                b'D' if t.len() == 8 => {
                    Value::String(format!("{}-{}-{}", &t[..4], &t[4..6], &t[6..]))
                }
                _ => Value::String(t.to_owned()),
            };
            props.insert(name.clone(), v);
        }
        out.push(props);
    }
    Ok(out)
}

/// A CRS from a `.prj`'s WKT (Esri or OGC flavour): an EPSG authority if
/// given, else recognised by its datum and projection parameters.
pub fn crs_from_wkt(wkt: &str) -> Result<Crs, String> {
    let upper = wkt.to_ascii_uppercase();
    // The CRS's own AUTHORITY closes the outermost node (only `]` after it).
    if let Some(pos) = upper.rfind("AUTHORITY[\"EPSG\",") {
        let tail = &upper[pos..];
        let own = tail
            .find(']')
            .is_some_and(|close| tail[close + 1..].trim().chars().all(|c| c == ']'));
        let code = tail[18..]
            .trim_start_matches('"')
            .split('"')
            .next()
            .and_then(|c| c.parse::<u32>().ok());
        if let (true, Some(c)) = (own, code.and_then(Crs::epsg)) {
            // EPSG:4326 in a file is longitude first: the traditional order.
            return Ok(c);
        }
    }
    let param = |name: &str| -> Option<f64> {
        let key = format!("PARAMETER[\"{}\",", name.to_ascii_uppercase());
        let at = upper.find(&key)? + key.len();
        upper[at..].split(']').next()?.trim().parse().ok()
    };
    let china = upper.contains("CHINA_2000")
        || upper.contains("CGCS2000")
        || upper.contains("CHINA GEODETIC COORDINATE SYSTEM 2000")
        || upper.contains("CHINA_GEODETIC_COORDINATE_SYSTEM_2000");
    let wgs84 = upper.contains("WGS_1984") || upper.contains("WGS 84") || upper.contains("WGS84");
    if !upper.contains("PROJCS") {
        return match (china, wgs84) {
            (true, _) => Ok(Crs::Geographic { epsg: 4490 }),
            (_, true) => Ok(Crs::Crs84),
            _ => Err("a geographic CRS on a datum other than WGS 84 or CGCS2000".into()),
        };
    }
    if upper.contains("MERCATOR_AUXILIARY_SPHERE")
        || upper.contains("PSEUDO-MERCATOR")
        || upper.contains("POPULAR_VISUALISATION")
    {
        return Crs::epsg(3857).ok_or_else(|| "3857".into());
    }
    if upper.contains("TRANSVERSE_MERCATOR") || upper.contains("GAUSS_KRUGER") {
        let cm = param("central_meridian").ok_or("no central meridian")?;
        let fe = param("false_easting").unwrap_or(0.0);
        let k = param("scale_factor").unwrap_or(1.0);
        let fits = |code: u32| match Crs::epsg(code) {
            Some(Crs::TransverseMercator {
                central_meridian,
                false_easting,
                scale,
                ..
            }) => {
                (central_meridian - cm).abs() < 1e-9
                    && (false_easting - fe).abs() < 1e-3
                    && (scale - k).abs() < 1e-9
            }
            _ => false,
        };
        let candidates: Vec<u32> = if china {
            (4513..=4554).collect()
        } else if wgs84 {
            (32601..=32660).collect()
        } else {
            vec![]
        };
        if let Some(code) = candidates.into_iter().find(|&c| fits(c)) {
            return Crs::epsg(code).ok_or_else(|| "code".into());
        }
        return Err(format!(
            "a transverse Mercator (central meridian {cm}, false easting {fe}, scale {k}) that is none of {}",
            Crs::supported()
        ));
    }
    Err(format!(
        "a projection this server does not know; {}",
        Crs::supported()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_crs_written_as_wkt_reads_back_as_itself() {
        let mut codes: Vec<u32> = vec![4326, 4490, 3857];
        codes.extend(4513..=4554);
        codes.extend([32601, 32649, 32660]);
        for code in codes {
            let crs = Crs::epsg(code).unwrap();
            let back = crs_from_wkt(&crs.wkt().unwrap()).unwrap();
            assert_eq!(back.epsg_code(), Some(code));
        }
    }

    #[test]
    fn gdal_esri_prj_for_gauss_krueger_without_authority_is_recognised() {
        // As GDAL writes a Shapefile's .prj for EPSG:4547 (Esri WKT).
        let prj = r#"PROJCS["CGCS2000_3_Degree_GK_CM_114E",GEOGCS["GCS_China_Geodetic_Coordinate_System_2000",DATUM["D_China_2000",SPHEROID["CGCS2000",6378137.0,298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Gauss_Kruger"],PARAMETER["False_Easting",500000.0],PARAMETER["False_Northing",0.0],PARAMETER["Central_Meridian",114.0],PARAMETER["Scale_Factor",1.0],PARAMETER["Latitude_Of_Origin",0.0],UNIT["Meter",1.0]]"#;
        assert_eq!(crs_from_wkt(prj).unwrap().epsg_code(), Some(4547));
        assert!(crs_from_wkt("PROJCS[\"x\",PROJECTION[\"Lambert_Conformal_Conic\"]]").is_err());
    }
}

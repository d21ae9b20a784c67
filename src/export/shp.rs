//! Writing an Esri Shapefile: `.shp` and `.shx` (points, polylines,
//! polygons with shells clockwise as the format wants), `.dbf` (UTF-8 text,
//! declared in `.cpg`), and `.prj` (the CRS's WKT).
//!
//! Must not: read the store.

use std::path::Path;

use geo::{Coord, Geometry, LineString, Polygon};
use serde_json::{Map, Value};

use crate::model::GeometryKind;

/// The parts (rings or lines) of a geometry in Shapefile order.
fn parts(g: &Geometry) -> Vec<Vec<Coord>> {
    use geo::Winding;
    let poly = |p: &Polygon| -> Vec<Vec<Coord>> {
        let mut shell: LineString = p.exterior().clone();
        shell.make_cw_winding();
        let mut out = vec![shell.0];
        for h in p.interiors() {
            let mut h = h.clone();
            h.make_ccw_winding();
            out.push(h.0);
        }
        out
    };
    match g {
        Geometry::LineString(l) => vec![l.0.clone()],
        Geometry::MultiLineString(m) => m.0.iter().map(|l| l.0.clone()).collect(),
        Geometry::Polygon(p) => poly(p),
        Geometry::MultiPolygon(m) => m.0.iter().flat_map(poly).collect(),
        Geometry::Point(p) => vec![vec![p.0]],
        Geometry::MultiPoint(m) => vec![m.0.iter().map(|p| p.0).collect()],
        _ => vec![],
    }
}

fn bbox(points: impl Iterator<Item = Coord>) -> [f64; 4] {
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for c in points {
        b = [b[0].min(c.x), b[1].min(c.y), b[2].max(c.x), b[3].max(c.y)];
    }
    if b[0].is_infinite() {
        [0.0; 4]
    } else {
        b
    }
}

/// Write `base`.shp/.shx/.dbf/.cpg(/.prj) from features (geometry in the
/// output CRS, properties).
pub fn write(
    base: &Path,
    kind: GeometryKind,
    features: &[(String, Geometry, Map<String, Value>)],
    wkt: Option<&str>,
) -> std::io::Result<()> {
    let multipoint = features
        .iter()
        .any(|(_, g, _)| matches!(g, Geometry::MultiPoint(_)));
    let shape_type: i32 = match kind {
        GeometryKind::Point if multipoint => 8,
        GeometryKind::Point => 1,
        GeometryKind::LineString => 3,
        GeometryKind::Polygon => 5,
    };
    let mut records: Vec<Vec<u8>> = Vec::with_capacity(features.len());
    for (_, g, _) in features {
        let mut r = Vec::new();
        r.extend_from_slice(&shape_type.to_le_bytes());
        let ps = parts(g);
        if shape_type == 1 {
            let c = ps
                .first()
                .and_then(|p| p.first())
                .copied()
                .unwrap_or(Coord { x: 0.0, y: 0.0 });
            r.extend_from_slice(&c.x.to_le_bytes());
            r.extend_from_slice(&c.y.to_le_bytes());
        } else if shape_type == 8 {
            let pts: Vec<Coord> = ps.into_iter().flatten().collect();
            for v in bbox(pts.iter().copied()) {
                r.extend_from_slice(&v.to_le_bytes());
            }
            r.extend_from_slice(&(pts.len() as i32).to_le_bytes());
            for c in pts {
                r.extend_from_slice(&c.x.to_le_bytes());
                r.extend_from_slice(&c.y.to_le_bytes());
            }
        } else {
            let b = bbox(ps.iter().flatten().copied());
            for v in b {
                r.extend_from_slice(&v.to_le_bytes());
            }
            let n: usize = ps.iter().map(Vec::len).sum();
            r.extend_from_slice(&(ps.len() as i32).to_le_bytes());
            r.extend_from_slice(&(n as i32).to_le_bytes());
            let mut start = 0i32;
            for p in &ps {
                r.extend_from_slice(&start.to_le_bytes());
                start += p.len() as i32;
            }
            for c in ps.iter().flatten() {
                r.extend_from_slice(&c.x.to_le_bytes());
                r.extend_from_slice(&c.y.to_le_bytes());
            }
        }
        records.push(r);
    }
    let total = bbox(
        features
            .iter()
            .flat_map(|(_, g, _)| parts(g).into_iter().flatten()),
    );
    let header = |len_words: usize| -> Vec<u8> {
        let mut h = Vec::with_capacity(100);
        h.extend_from_slice(&9994i32.to_be_bytes());
        h.extend_from_slice(&[0u8; 20]);
        h.extend_from_slice(&(len_words as i32).to_be_bytes());
        h.extend_from_slice(&1000i32.to_le_bytes());
        h.extend_from_slice(&shape_type.to_le_bytes());
        for v in total {
            h.extend_from_slice(&v.to_le_bytes());
        }
        h.extend_from_slice(&[0u8; 32]);
        h
    };
    let shp_len: usize = 100 + records.iter().map(|r| 8 + r.len()).sum::<usize>();
    let mut shp = header(shp_len / 2);
    let mut shx = header((100 + 8 * records.len()) / 2);
    for (i, r) in records.iter().enumerate() {
        shx.extend_from_slice(&((shp.len() / 2) as i32).to_be_bytes());
        shx.extend_from_slice(&((r.len() / 2) as i32).to_be_bytes());
        shp.extend_from_slice(&(i as i32 + 1).to_be_bytes());
        shp.extend_from_slice(&((r.len() / 2) as i32).to_be_bytes());
        shp.extend_from_slice(r);
    }
    std::fs::write(base.with_extension("shp"), shp)?;
    std::fs::write(base.with_extension("shx"), shx)?;
    std::fs::write(base.with_extension("dbf"), dbf(features))?;
    std::fs::write(base.with_extension("cpg"), "UTF-8")?;
    if let Some(w) = wkt {
        std::fs::write(base.with_extension("prj"), w)?;
    }
    Ok(())
}

/// A dBase III table: `id` first, then each property (text as `C` up to 254
/// bytes, numbers as `N`, booleans as `L`; names cut to 10 bytes).
fn dbf(features: &[(String, Geometry, Map<String, Value>)]) -> Vec<u8> {
    // Field: name, type, width, decimals.
    let mut fields: Vec<(String, u8, usize, u8)> = vec![("id".into(), b'C', 1, 0)];
    let mut names: Vec<String> = Vec::new();
    for (_, _, p) in features {
        for k in p.keys() {
            if k != "id" && !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let text = |v: &Value| -> String {
        match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    };
    for n in &names {
        let values: Vec<&Value> = features
            .iter()
            .filter_map(|(_, _, p)| p.get(n))
            .filter(|v| !v.is_null())
            .collect();
        let numbers = !values.is_empty() && values.iter().all(|v| v.is_number());
        let bools = !values.is_empty() && values.iter().all(|v| v.is_boolean());
        let field = if numbers {
            let ints = values.iter().all(|v| v.is_i64() || v.is_u64());
            (
                n.clone(),
                b'N',
                if ints { 18 } else { 24 },
                if ints { 0 } else { 10 },
            )
        } else if bools {
            (n.clone(), b'L', 1, 0)
        } else {
            let w = values
                .iter()
                .map(|v| text(v).len())
                .max()
                .unwrap_or(1)
                .clamp(1, 254);
            (n.clone(), b'C', w, 0)
        };
        fields.push(field);
    }
    fields[0].2 = features
        .iter()
        .map(|(id, _, _)| id.len())
        .max()
        .unwrap_or(1)
        .clamp(1, 254);
    let record_len = 1 + fields.iter().map(|f| f.2).sum::<usize>();
    let header_len = 32 + 32 * fields.len() + 1;
    let mut out = Vec::with_capacity(header_len + record_len * features.len() + 1);
    out.push(0x03);
    out.extend_from_slice(&[126, 1, 1]);
    out.extend_from_slice(&(features.len() as u32).to_le_bytes());
    out.extend_from_slice(&(header_len as u16).to_le_bytes());
    out.extend_from_slice(&(record_len as u16).to_le_bytes());
    out.extend_from_slice(&[0u8; 20]);
    for (name, kind, width, decimals) in &fields {
        let mut d = [0u8; 32];
        let bytes = name.as_bytes();
        // Cut on a character boundary within 10 bytes.
        let mut cut = bytes.len().min(10);
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        d[..cut].copy_from_slice(&bytes[..cut]);
        d[11] = *kind;
        d[16] = *width as u8;
        d[17] = *decimals;
        out.extend_from_slice(&d);
    }
    out.push(0x0D);
    for (id, _, props) in features {
        out.push(b' ');
        for (i, (name, kind, width, decimals)) in fields.iter().enumerate() {
            let v = if i == 0 {
                Value::String(id.clone())
            } else {
                props.get(name).cloned().unwrap_or(Value::Null)
            };
            let mut cell = match (kind, &v) {
                (_, Value::Null) => String::new(),
                (b'N', Value::Number(n)) if *decimals == 0 => n.to_string(),
                (b'N', Value::Number(n)) => {
                    format!("{:.*}", *decimals as usize, n.as_f64().unwrap_or(0.0))
                }
                (b'L', Value::Bool(b)) => {
                    if *b {
                        "T".into()
                    } else {
                        "F".into()
                    }
                }
                _ => text(&v),
            };
            // Truncate text on a character boundary to the field width.
            let mut cut = cell.len().min(*width);
            while !cell.is_char_boundary(cut) {
                cut -= 1;
            }
            cell.truncate(cut);
            let pad = width - cell.len();
            if *kind == b'N' {
                out.extend(std::iter::repeat_n(b' ', pad));
                out.extend_from_slice(cell.as_bytes());
            } else {
                out.extend_from_slice(cell.as_bytes());
                out.extend(std::iter::repeat_n(b' ', pad));
            }
        }
    }
    out.push(0x1A);
    out
}

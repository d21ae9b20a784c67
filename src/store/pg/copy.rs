//! A layer into its table in bulk (COPY, with its change-log rows), and a
//! table's row back to a feature.

use geo::BoundingRect;

use super::quote;
use crate::model::{Feature, GeometryKind, Layer};
use crate::store::{log, wkb};

/// COPY text format: backslash, tab and line breaks escaped.
pub(super) fn copy_text(s: &str, out: &mut String) {
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// EWKB in hex, the geometry text PostGIS reads in COPY (SRID 4326 in it).
pub(super) fn ewkb_hex(g: &geo::Geometry) -> String {
    let mut b = wkb::encode_wkb(g);
    let kind = u32::from_le_bytes([b[1], b[2], b[3], b[4]]) | 0x2000_0000;
    b.splice(1..5, kind.to_le_bytes());
    b.splice(5..5, 4326u32.to_le_bytes());
    crate::hex::encode(&b)
}

/// A layer's features and their change-log rows, by COPY (fast enough for
/// a million features).
pub(super) fn copy_layer(
    tx: &mut postgres::Transaction,
    layer: &Layer,
    now: &str,
    status_property: &str,
) -> Result<(), postgres::Error> {
    use std::io::Write;
    let mut rows = String::new();
    let mut log = String::new();
    for f in layer.features.live() {
        let mut f = (**f).clone();
        f.revision = 1;
        copy_text(&f.id, &mut rows);
        rows.push('\t');
        rows.push(if f.numeric_id { 't' } else { 'f' });
        rows.push_str("\t1\t");
        rows.push_str(&ewkb_hex(&f.geometry));
        rows.push('\t');
        copy_text(
            &serde_json::to_string(&f.properties).unwrap_or_default(),
            &mut rows,
        );
        rows.push('\n');
        let (status, size) = log::logged_shape(&f, layer.meta.geometry, status_property);
        for (i, field) in [
            "1",
            now,
            "import",
            "create",
            &layer.meta.id,
            &f.id,
            &log::feature_json(&f),
        ]
        .iter()
        .enumerate()
        {
            if i > 0 {
                log.push('\t');
            }
            copy_text(field, &mut log);
        }
        log.push('\t');
        match status {
            Some(s) => copy_text(&s, &mut log),
            None => log.push_str("\\N"),
        }
        log.push_str(&format!("\t{size}\n"));
    }
    let mut w = tx.copy_in(&format!(
        "COPY {} (zoneatlas_id, zoneatlas_numeric, zoneatlas_revision, geom, properties) FROM STDIN",
        quote(&layer.meta.id)
    ))?;
    // An io error here is the connection's; `finish` reports it.
    let _ = w.write_all(rows.as_bytes());
    w.finish()?;
    let mut w = tx.copy_in(
        "COPY zoneatlas._changes (revision, time, who, op, collection, feature_id, feature, status, size) FROM STDIN",
    )?;
    let _ = w.write_all(log.as_bytes());
    w.finish()?;
    Ok(())
}

pub(super) fn feature_from_row(
    id: String,
    numeric_id: bool,
    revision: i64,
    geom: Vec<u8>,
    properties: String,
    kind: GeometryKind,
) -> Result<Feature, String> {
    let geometry = wkb::decode_wkb(&geom).map_err(|e| e.to_string())?;
    crate::load::validate_geometry(&geometry, kind)?;
    let bbox = geometry.bounding_rect().ok_or("empty geometry")?;
    let properties: crate::props::Props = serde_json::from_str(&properties)
        .map_err(|e| format!("properties are not a JSON object: {e}"))?;
    Ok(Feature {
        id,
        numeric_id,
        geometry,
        properties,
        bbox,
        revision: revision.max(0) as u64,
    })
}

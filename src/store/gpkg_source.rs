//! Reading any GeoPackage's feature table (GDAL's, QGIS's) for `import`:
//! rows with their fid, geometry and attribute columns, and the table's
//! EPSG code.
//!
//! Must not: write anything.

use std::path::Path;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde_json::{Map, Value};

use super::gpkg::{quote, APPLICATION_ID};
use super::wkb;

/// One feature table of any GeoPackage (GDAL's, QGIS's), for importing:
/// each row's fid, geometry and attribute columns, and the EPSG code of its
/// spatial reference system, if it has one.
pub struct SourceTable {
    pub rows: Vec<(i64, geo::Geometry, Map<String, Value>)>,
    pub epsg: Option<u32>,
}

/// Read `table` (or the file's only feature table) of a GeoPackage.
/// Errors are one line naming what is wrong.
pub fn read_source_table(path: &Path, table: Option<&str>) -> Result<SourceTable, String> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| format!("cannot open: {e}"))?;
    let fail = |e: rusqlite::Error| e.to_string();
    let app: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| format!("not an SQLite database: {e}"))?;
    if app != APPLICATION_ID {
        return Err("not a GeoPackage (application_id)".into());
    }
    let mut stmt = conn
        .prepare("SELECT c.table_name, c.column_name, s.organization, s.organization_coordsys_id FROM gpkg_geometry_columns c LEFT JOIN gpkg_spatial_ref_sys s ON s.srs_id = c.srs_id")
        .map_err(fail)?;
    let spatial: Vec<(String, String, Option<String>, Option<i64>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .map_err(fail)?
        .collect::<rusqlite::Result<_>>()
        .map_err(fail)?;
    let names: Vec<&str> = spatial.iter().map(|s| s.0.as_str()).collect();
    let chosen = match table {
        Some(t) => spatial.iter().find(|s| s.0 == t).ok_or_else(|| {
            format!(
                "table {t:?} has no geometry column (feature tables: {})",
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            )
        })?,
        None if spatial.len() == 1 => &spatial[0],
        None => {
            return Err(format!(
                "{} feature tables; name one as FILE.gpkg:TABLE ({})",
                spatial.len(),
                names.join(", ")
            ))
        }
    };
    let (name, geom_col, org, code) = chosen;
    let epsg = match (org.as_deref().map(str::to_ascii_uppercase).as_deref(), code) {
        (Some("EPSG"), Some(c)) if *c > 0 => Some(*c as u32),
        _ => None,
    };
    let mut stmt = conn
        .prepare(&format!("SELECT * FROM {}", quote(name)))
        .map_err(fail)?;
    let columns: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let pk: Option<String> = conn
        .query_row(
            "SELECT name FROM pragma_table_info(?1) WHERE pk = 1",
            params![name],
            |r| r.get(0),
        )
        .optional()
        .map_err(fail)?;
    let mut rows = Vec::new();
    let mut q = stmt.query([]).map_err(fail)?;
    let mut n = 0i64;
    while let Some(r) = q.next().map_err(fail)? {
        n += 1;
        let mut props = Map::new();
        let (mut fid, mut geometry) = (n, None);
        for (i, col) in columns.iter().enumerate() {
            let v = r.get_ref(i).map_err(fail)?;
            if col == geom_col {
                if let rusqlite::types::ValueRef::Blob(b) = v {
                    geometry = Some(wkb::decode(b).map_err(|e| format!("row {n}: {e}"))?);
                }
                continue;
            }
            if Some(col) == pk.as_ref() {
                if let rusqlite::types::ValueRef::Integer(i) = v {
                    fid = i;
                }
                continue;
            }
            let value = match v {
                rusqlite::types::ValueRef::Null => Value::Null,
                rusqlite::types::ValueRef::Integer(i) => Value::from(i),
                rusqlite::types::ValueRef::Real(x) => {
                    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
                }
                rusqlite::types::ValueRef::Text(t) => {
                    Value::String(String::from_utf8_lossy(t).into_owned())
                }
                rusqlite::types::ValueRef::Blob(_) => continue,
            };
            props.insert(col.clone(), value);
        }
        match geometry {
            Some(g) => rows.push((fid, g, props)),
            None => return Err(format!("row {n} (fid {fid}) has no geometry")),
        }
    }
    Ok(SourceTable { rows, epsg })
}

//! Plain GeoPackages, as other tools make and read them: one feature
//! table read for `import` (rows with fid, geometry and attribute columns,
//! and the table's EPSG code), or written for `export` (one table in any
//! CRS, with its WKT).
//!
//! Must not: touch a zoneatlas store.

use std::path::Path;

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde_json::{Map, Value};

use super::gpkg::{quote, APPLICATION_ID};
use super::wkb;

/// One feature table of any GeoPackage (GDAL's, QGIS's), for importing:
/// each row's fid, geometry and attribute columns, and the EPSG code of its
/// spatial reference system, if it has one.
pub struct SourceTable {
    pub rows: Vec<SourceRow>,
    pub epsg: Option<u32>,
}

/// One row of a source table: its fid, its geometry or why it cannot be
/// read, its attributes.
pub type SourceRow = (i64, Result<geo::Geometry, String>, Map<String, Value>);

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
                    geometry =
                        Some(wkb::decode(b).map_err(|e| format!("unreadable geometry: {e}")));
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
        let geometry = geometry.unwrap_or_else(|| Err("no geometry".into()));
        rows.push((fid, geometry, props));
    }
    Ok(SourceTable { rows, epsg })
}

/// Write a new GeoPackage at `path` holding one feature table `table` of
/// `kind`, in the CRS of EPSG `code` (with its `wkt`): each feature's id, its
/// geometry (already in that CRS) and its properties (a column per name,
/// typed by its values: INTEGER, REAL, BOOLEAN or TEXT; other JSON as text).
pub fn write_plain(
    path: &Path,
    table: &str,
    kind: crate::model::GeometryKind,
    code: u32,
    wkt: &str,
    features: &[(String, geo::Geometry, Map<String, Value>)],
) -> Result<(), String> {
    let fail = |e: rusqlite::Error| e.to_string();
    let mut conn = Connection::open(path).map_err(fail)?;
    conn.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 10300;"
    ))
    .map_err(fail)?;
    let tx = conn.transaction().map_err(fail)?;
    tx.execute_batch(
        "CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
            organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
         INSERT INTO gpkg_spatial_ref_sys VALUES ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', NULL),
            ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', NULL);
         CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
            description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
            min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER);
         CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
            srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL, PRIMARY KEY (table_name, column_name));",
    )
    .map_err(fail)?;
    // GeoPackage Req 11: the WGS 84 row is there whatever the data's CRS.
    let wgs84 = crate::crs::Crs::Crs84.wkt().unwrap_or_default();
    for (c, w) in [(4326u32, wgs84.as_str()), (code, wkt)] {
        tx.execute(
            "INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?1, ?2, 'EPSG', ?2, ?3, NULL)",
            params![format!("EPSG:{c}"), c as i64, w],
        )
        .map_err(fail)?;
    }
    // Columns: every property name, typed by the values it holds.
    let mut names: Vec<(String, &'static str)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    // The feature id is the `id` column, as a Shapefile's `id` field and a
    // GeoJSON Feature's `id`: `import` reads it back from any of the three.
    seen.insert("id".to_owned());
    for (_, _, p) in features {
        for k in p.keys() {
            if seen.insert(k.clone()) {
                let values: Vec<&Value> = features
                    .iter()
                    .filter_map(|(_, _, q)| q.get(k))
                    .filter(|v| !v.is_null())
                    .collect();
                let t = if !values.is_empty() && values.iter().all(|v| v.is_i64()) {
                    "INTEGER"
                } else if !values.is_empty() && values.iter().all(|v| v.is_number()) {
                    "REAL"
                } else if !values.is_empty() && values.iter().all(|v| v.is_boolean()) {
                    "BOOLEAN"
                } else {
                    "TEXT"
                };
                names.push((k.clone(), t));
            }
        }
    }
    let geometry_type = match kind {
        crate::model::GeometryKind::Point => "GEOMETRY",
        crate::model::GeometryKind::LineString => "GEOMETRY",
        crate::model::GeometryKind::Polygon => "GEOMETRY",
    };
    let mut sql = format!("CREATE TABLE {} (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom {geometry_type} NOT NULL, id TEXT", quote(table));
    for (n, t) in &names {
        sql.push_str(&format!(", {} {t}", quote(n)));
    }
    sql.push(')');
    tx.execute_batch(&sql).map_err(fail)?;
    let extent = features
        .iter()
        .filter_map(|(_, g, _)| geo::BoundingRect::bounding_rect(g))
        .reduce(|a, b| {
            geo::Rect::new(
                geo::coord! {x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y)},
                geo::coord! {x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y)},
            )
        });
    tx.execute(
        "INSERT INTO gpkg_contents(table_name, data_type, identifier, min_x, min_y, max_x, max_y, srs_id) VALUES (?1, 'features', ?1, ?2, ?3, ?4, ?5, ?6)",
        params![table, extent.map(|e| e.min().x), extent.map(|e| e.min().y), extent.map(|e| e.max().x), extent.map(|e| e.max().y), code as i64],
    )
    .map_err(fail)?;
    tx.execute(
        "INSERT INTO gpkg_geometry_columns VALUES (?1, 'geom', ?2, ?3, 0, 0)",
        params![table, geometry_type, code as i64],
    )
    .map_err(fail)?;
    {
        let cols: Vec<String> = names.iter().map(|(n, _)| quote(n)).collect();
        let marks: Vec<String> = (0..names.len()).map(|i| format!("?{}", i + 3)).collect();
        let sql = format!(
            "INSERT INTO {} (geom, id{}{}) VALUES (?1, ?2{}{})",
            quote(table),
            if cols.is_empty() { "" } else { ", " },
            cols.join(", "),
            if marks.is_empty() { "" } else { ", " },
            marks.join(", ")
        );
        let mut stmt = tx.prepare(&sql).map_err(fail)?;
        for (id, g, p) in features {
            let mut values: Vec<rusqlite::types::Value> = vec![
                rusqlite::types::Value::Blob(wkb::encode(g, code as i32)),
                rusqlite::types::Value::Text(id.clone()),
            ];
            for (n, t) in &names {
                values.push(match p.get(n) {
                    None | Some(Value::Null) => rusqlite::types::Value::Null,
                    Some(Value::Bool(b)) => rusqlite::types::Value::Integer(i64::from(*b)),
                    Some(Value::Number(x)) if *t == "INTEGER" => {
                        rusqlite::types::Value::Integer(x.as_i64().unwrap_or(0))
                    }
                    Some(Value::Number(x)) if *t == "REAL" => {
                        rusqlite::types::Value::Real(x.as_f64().unwrap_or(0.0))
                    }
                    Some(Value::String(s)) => rusqlite::types::Value::Text(s.clone()),
                    Some(other) => rusqlite::types::Value::Text(other.to_string()),
                });
            }
            stmt.execute(rusqlite::params_from_iter(values))
                .map_err(fail)?;
        }
    }
    tx.commit().map_err(fail)
}

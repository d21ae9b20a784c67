//! The GeoPackage tables of a store: the schema made at creation, one
//! feature table per layer with a typed column per property (what a column
//! cannot hold exactly goes to `zoneatlas_extra`, JSON), and a feature's row.

use std::collections::BTreeMap;

use rusqlite::{params, Connection};
use serde_json::{Map, Value};

use super::quote;
use crate::model::{Feature, GeometryKind, Layer};
use crate::store::wkb;

/// Columns of ours in every feature table, besides the properties.
pub(super) const OWN_COLUMNS: [&str; 5] = [
    "fid",
    "geom",
    "zoneatlas_id",
    "zoneatlas_revision",
    "zoneatlas_extra",
];

/// The mark in `zoneatlas_extra` of a feature whose id is a number: the id
/// column has TEXT affinity, so SQLite turns an INTEGER stored there into
/// text, and the mark keeps the id's type (a property cannot have this
/// name: names starting with `zoneatlas_` are refused).
pub(super) const NUMERIC_ID_KEY: &str = "zoneatlas_numeric_id";

/// Whether the change log has the `status` and `size` columns (stores made
/// before they existed lack them until opened for writing).
pub(super) fn log_has_sizes(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM pragma_table_info('zoneatlas_changes') WHERE name = 'size'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// The SQL type a property's column was declared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ColumnType {
    Text,
    Integer,
    Real,
    Boolean,
}

impl ColumnType {
    pub(super) fn sql(self) -> &'static str {
        match self {
            ColumnType::Text => "TEXT",
            ColumnType::Integer => "INTEGER",
            ColumnType::Real => "REAL",
            ColumnType::Boolean => "BOOLEAN",
        }
    }
    pub(super) fn parse(s: &str) -> Option<ColumnType> {
        match s.to_ascii_uppercase().as_str() {
            "TEXT" => Some(ColumnType::Text),
            "INTEGER" | "INT" | "MEDIUMINT" | "SMALLINT" | "TINYINT" => Some(ColumnType::Integer),
            "REAL" | "DOUBLE" | "FLOAT" => Some(ColumnType::Real),
            "BOOLEAN" => Some(ColumnType::Boolean),
            _ => None,
        }
    }
    /// The column type a JSON value asks for; `None` for what no column
    /// holds exactly (null, arrays, objects). Numbers get REAL columns,
    /// whole or not: a width of 16 today may be 16.5 tomorrow, and an
    /// INTEGER column would make GDAL truncate it. A whole number reads
    /// back as a JSON integer.
    pub(super) fn of(v: &Value) -> Option<ColumnType> {
        match v {
            Value::String(_) => Some(ColumnType::Text),
            Value::Bool(_) => Some(ColumnType::Boolean),
            Value::Number(_) => Some(ColumnType::Real),
            _ => None,
        }
    }
    /// Whether this column stores the value exactly.
    pub(super) fn holds(self, v: &Value) -> bool {
        match (self, v) {
            (ColumnType::Text, Value::String(_)) | (ColumnType::Boolean, Value::Bool(_)) => true,
            (ColumnType::Real, Value::Number(n)) => real_exact(n),
            (ColumnType::Integer, Value::Number(n)) => n.is_i64(),
            _ => false,
        }
    }
}

pub(super) fn geometry_type_name(kind: GeometryKind) -> &'static str {
    // The multi- form is accepted too, so declare the generic kind GDAL
    // and QGIS understand for mixed single/multi tables.
    match kind {
        GeometryKind::Point => "GEOMETRY",
        GeometryKind::LineString => "GEOMETRY",
        GeometryKind::Polygon => "GEOMETRY",
    }
}

pub(super) fn create_schema(tx: &rusqlite::Transaction) -> rusqlite::Result<()> {
    tx.execute_batch(
        "CREATE TABLE gpkg_spatial_ref_sys (
            srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
            organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
         INSERT INTO gpkg_spatial_ref_sys VALUES
            ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
            ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system'),
            ('WGS 84 geodetic', 4326, 'EPSG', 4326,
             'GEOGCS[\"WGS 84\",DATUM[\"WGS_1984\",SPHEROID[\"WGS 84\",6378137,298.257223563,AUTHORITY[\"EPSG\",\"7030\"]],AUTHORITY[\"EPSG\",\"6326\"]],PRIMEM[\"Greenwich\",0,AUTHORITY[\"EPSG\",\"8901\"]],UNIT[\"degree\",0.0174532925199433,AUTHORITY[\"EPSG\",\"9122\"]],AXIS[\"Latitude\",NORTH],AXIS[\"Longitude\",EAST],AUTHORITY[\"EPSG\",\"4326\"]]',
             'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid');
         CREATE TABLE gpkg_contents (
            table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
            description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
            min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
            CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
         CREATE TABLE gpkg_geometry_columns (
            table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL,
            srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
            CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
            CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
            CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
         CREATE TABLE zoneatlas_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         CREATE TABLE zoneatlas_changes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, revision INTEGER NOT NULL, time TEXT NOT NULL,
            who TEXT NOT NULL, op TEXT NOT NULL, collection TEXT NOT NULL, feature_id TEXT NOT NULL,
            feature TEXT, status TEXT, size REAL);
         CREATE INDEX zoneatlas_changes_revision ON zoneatlas_changes(revision);
         CREATE INDEX zoneatlas_changes_feature ON zoneatlas_changes(collection, feature_id);
         CREATE INDEX zoneatlas_changes_pending ON zoneatlas_changes(seq)
           WHERE feature IS NULL AND op != 'delete';
         CREATE TABLE zoneatlas_tokens (
            name TEXT PRIMARY KEY, role TEXT NOT NULL CHECK (role IN ('viewer', 'editor', 'admin')),
            hash TEXT NOT NULL UNIQUE, created TEXT NOT NULL);",
    )
}

/// Whether a JSON number survives a trip through a REAL column: a float
/// always; an integer when it is within 2^53 (and then reads back whole).
pub(super) fn real_exact(n: &serde_json::Number) -> bool {
    n.is_f64() || n.as_i64().is_some_and(|i| i.unsigned_abs() < (1 << 53))
}

/// A REAL read back: whole numbers (to 2^53) as JSON integers, so `110`
/// stays `110`.
pub(super) fn real_json(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
        Value::from(x as i64)
    } else {
        serde_json::json!(x)
    }
}

/// Property columns for a layer: each scalar property, typed by its values.
pub(super) fn columns_for(features: &crate::model::Features) -> BTreeMap<String, ColumnType> {
    let mut cols: BTreeMap<String, ColumnType> = BTreeMap::new();
    for f in features.live() {
        for (k, v) in &f.properties {
            if OWN_COLUMNS.contains(&k) {
                continue;
            }
            let Some(t) = ColumnType::of(v) else { continue };
            cols.entry(k.to_owned()).or_insert(t);
        }
    }
    cols
}

pub(super) fn create_layer_table(
    tx: &rusqlite::Transaction,
    layer: &Layer,
    columns: &BTreeMap<String, ColumnType>,
) -> rusqlite::Result<()> {
    let id = &layer.meta.id;
    let mut sql = format!(
        "CREATE TABLE {} (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom {} NOT NULL, zoneatlas_id TEXT UNIQUE, zoneatlas_revision INTEGER, zoneatlas_extra TEXT",
        quote(id),
        geometry_type_name(layer.meta.geometry)
    );
    for (name, t) in columns {
        sql.push_str(&format!(", {} {}", quote(name), t.sql()));
    }
    sql.push(')');
    tx.execute_batch(&sql)?;
    let e = layer.extent;
    tx.execute(
        "INSERT INTO gpkg_contents(table_name, data_type, identifier, description, min_x, min_y, max_x, max_y, srs_id)
         VALUES (?1, 'features', ?2, ?3, ?4, ?5, ?6, ?7, 4326)",
        params![
            id,
            layer.meta.title,
            layer.meta.description,
            e.map(|r| r.min().x),
            e.map(|r| r.min().y),
            e.map(|r| r.max().x),
            e.map(|r| r.max().y)
        ],
    )?;
    tx.execute(
        "INSERT INTO gpkg_geometry_columns VALUES (?1, 'geom', ?2, 4326, 0, 0)",
        params![id, geometry_type_name(layer.meta.geometry)],
    )?;
    Ok(())
}

pub(super) fn insert_sql(layer: &str, columns: &BTreeMap<String, ColumnType>) -> String {
    let mut names = vec![
        "geom".to_owned(),
        "zoneatlas_id".into(),
        "zoneatlas_revision".into(),
        "zoneatlas_extra".into(),
    ];
    names.extend(columns.keys().map(|k| quote(k)));
    let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO {} ({}) VALUES ({})",
        quote(layer),
        names.join(", "),
        marks.join(", ")
    )
}

/// Bind and run an insert prepared by `insert_sql`.
pub(super) fn insert_feature(
    stmt: &mut rusqlite::Statement,
    columns: &BTreeMap<String, ColumnType>,
    f: &Feature,
) -> rusqlite::Result<()> {
    use rusqlite::types::Value as Sql;
    let mut values: Vec<Sql> = Vec::with_capacity(4 + columns.len());
    values.push(Sql::Blob(wkb::encode(&f.geometry, 4326)));
    values.push(if f.numeric_id {
        f.id.parse::<i64>()
            .map(Sql::Integer)
            .unwrap_or(Sql::Text(f.id.clone()))
    } else {
        Sql::Text(f.id.clone())
    });
    values.push(Sql::Integer(f.revision as i64));
    let mut extra = Map::new();
    if f.numeric_id {
        extra.insert(NUMERIC_ID_KEY.into(), Value::Bool(true));
    }
    for (k, v) in &f.properties {
        let fits = columns.get(k).is_some_and(|c| c.holds(v));
        if !fits {
            extra.insert(k.to_owned(), v.clone());
        }
    }
    values.push(if extra.is_empty() {
        Sql::Null
    } else {
        Sql::Text(Value::Object(extra).to_string())
    });
    for (name, ty) in columns {
        let v = f.properties.get(name);
        values.push(match (v, ty) {
            (Some(Value::String(s)), ColumnType::Text) => Sql::Text(s.clone()),
            (Some(Value::Bool(b)), ColumnType::Boolean) => Sql::Integer(i64::from(*b)),
            (Some(Value::Number(n)), ColumnType::Integer) if n.is_i64() => {
                Sql::Integer(n.as_i64().unwrap_or_default())
            }
            // A whole number beyond 2^53 would lose digits as a REAL: it
            // goes to zoneatlas_extra instead (see `holds`).
            (Some(Value::Number(n)), ColumnType::Real) if real_exact(n) => {
                Sql::Real(n.as_f64().unwrap_or_default())
            }
            _ => Sql::Null,
        });
    }
    stmt.execute(rusqlite::params_from_iter(values))?;
    Ok(())
}

/// The id as stored: INTEGER for a numeric id, TEXT otherwise.
pub(super) fn id_value(f: &Feature) -> rusqlite::types::Value {
    if f.numeric_id {
        if let Ok(i) = f.id.parse::<i64>() {
            return rusqlite::types::Value::Integer(i);
        }
    }
    rusqlite::types::Value::Text(f.id.clone())
}

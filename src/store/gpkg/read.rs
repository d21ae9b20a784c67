//! Reading a GeoPackage store: the manifest, each layer table's columns,
//! the features (validated as loading validates them), the rules' text.

use std::collections::BTreeMap;

use geo::BoundingRect;
use rusqlite::{params, OptionalExtension};
use serde_json::{Map, Value};

use super::schema::{real_json, ColumnType, NUMERIC_ID_KEY, OWN_COLUMNS};
use super::{log, quote, sql_err, GpkgStore};
use crate::load::Manifest;
use crate::model::{Feature, Layer, LeftOut};
use crate::store::{wkb, StoreError};

impl GpkgStore {
    /// Give the store coverage rules (the text of a `coverage.toml`), in
    /// place of any it had. The caller checks they resolve against the
    /// layers; a server on the store reads them at its next start.
    pub fn set_rules(&mut self, text: &str) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO zoneatlas_meta(key, value) VALUES ('coverage', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![text],
            )
            .map_err(sql_err(&self.path))?;
        self.status_property = log::status_property(Some(text));
        Ok(())
    }

    /// The coverage rules' text the store was created with, if any (the
    /// catalog parses and checks them).
    pub(super) fn read_rules(&self) -> Result<Option<String>, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM zoneatlas_meta WHERE key = 'coverage'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.corrupt(e.to_string()))?;
        Ok(text)
    }

    /// The manifest, and each layer's property columns as they are now.
    pub(super) fn read_manifest(&mut self) -> Result<Manifest, StoreError> {
        let manifest: String = self
            .conn
            .query_row(
                "SELECT value FROM zoneatlas_meta WHERE key = 'manifest'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.corrupt(format!("no manifest: {e}")))?;
        let manifest: Manifest = serde_json::from_str(&manifest)
            .map_err(|e| self.corrupt(format!("the manifest is not valid: {e}")))?;
        self.read_columns(&manifest)?;
        Ok(manifest)
    }

    /// Read each layer table's declared property columns.
    fn read_columns(&mut self, manifest: &Manifest) -> Result<(), StoreError> {
        self.columns.clear();
        for meta in &manifest.layers {
            let mut cols = BTreeMap::new();
            let mut stmt = self
                .conn
                .prepare(&format!("PRAGMA table_info({})", quote(&meta.id)))
                .map_err(|e| self.corrupt(e.to_string()))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, String>(2)?)))
                .map_err(|e| self.corrupt(e.to_string()))?;
            for row in rows {
                let (name, ty) = row.map_err(|e| self.corrupt(e.to_string()))?;
                if OWN_COLUMNS.contains(&name.as_str()) {
                    continue;
                }
                // A column added by another tool with a type we do not know
                // is read as text.
                cols.insert(name, ColumnType::parse(&ty).unwrap_or(ColumnType::Text));
            }
            if cols.is_empty() && !self.table_exists(&meta.id)? {
                return Err(self.corrupt(format!("layer {:?} has no table", meta.id)));
            }
            self.columns.insert(meta.id.clone(), cols);
        }
        Ok(())
    }

    fn table_exists(&self, name: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                params![name],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(|e| self.corrupt(e.to_string()))
    }

    /// A layer's features; rows that break the layer's geometry rules (a
    /// tool may write anything) are left out and named in `left_out`.
    pub(super) fn read_layer(
        &self,
        meta: &crate::model::LayerMeta,
        left_out: &mut Vec<LeftOut>,
    ) -> Result<Layer, StoreError> {
        let cols = self.columns.get(&meta.id).cloned().unwrap_or_default();
        let sql = format!("{} ORDER BY fid", select_sql(&meta.id, &cols));
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(|e| self.corrupt(e.to_string()))?;
        let mut rows = stmt.query([]).map_err(|e| self.corrupt(e.to_string()))?;
        let mut features = Vec::new();
        while let Some(row) = rows.next().map_err(|e| self.corrupt(e.to_string()))? {
            let decoded = decode_row(row, &cols)
                .map_err(|e| self.corrupt(e.to_string()))?
                .and_then(
                    |f| match crate::load::validate_geometry(&f.geometry, meta.geometry) {
                        Ok(()) => Ok(f),
                        Err(e) => Err((f.id, e)),
                    },
                );
            match decoded {
                Ok(f) => features.push(f),
                Err((id, reason)) => {
                    tracing::warn!(layer = %meta.id, id = %id, "left out a feature that breaks the layer's rules: {reason}");
                    left_out.push(LeftOut {
                        layer: meta.id.clone(),
                        id,
                        reason,
                    });
                }
            }
        }
        Ok(Layer::new(meta.clone(), features))
    }
}

/// `SELECT` of a layer's rows as `decode_row` reads them.
fn select_sql(layer: &str, cols: &BTreeMap<String, ColumnType>) -> String {
    let mut sql =
        String::from("SELECT geom, zoneatlas_id, zoneatlas_revision, zoneatlas_extra, fid");
    for n in cols.keys() {
        sql.push_str(", ");
        sql.push_str(&quote(n));
    }
    sql.push_str(&format!(" FROM {}", quote(layer)));
    sql
}

/// One row as it stands in a layer's table, by id (settling an external
/// edit); `None` when there is no such row. Not validated.
pub(super) fn row_by_id(
    conn: &rusqlite::Connection,
    layer: &str,
    cols: &BTreeMap<String, ColumnType>,
    id: &str,
) -> rusqlite::Result<Option<Feature>> {
    let sql = format!("{} WHERE zoneatlas_id = ?1", select_sql(layer, cols));
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params![id])?;
    match rows.next()? {
        None => Ok(None),
        Some(row) => Ok(decode_row(row, cols)?.ok()),
    }
}

/// A row as a feature (geometry decoded, not validated); `Err((id, why))`
/// when it cannot be one at all (no geometry, an unreadable one).
fn decode_row(
    row: &rusqlite::Row,
    cols: &BTreeMap<String, ColumnType>,
) -> rusqlite::Result<Result<Feature, (String, String)>> {
    let fid: i64 = row.get(4)?;
    let (id, numeric_id) = match row.get_ref(1)? {
        rusqlite::types::ValueRef::Integer(i) => (i.to_string(), true),
        rusqlite::types::ValueRef::Text(t) => (String::from_utf8_lossy(t).into_owned(), false),
        _ => {
            return Ok(Err((
                format!("fid {fid}"),
                "the row has no zoneatlas_id".into(),
            )))
        }
    };
    let revision: Option<i64> = row.get(2)?;
    let extra: Option<String> = row.get(3)?;
    let mut properties = Map::new();
    for (k, (name, t)) in cols.iter().enumerate() {
        let v = match row.get_ref(5 + k)? {
            rusqlite::types::ValueRef::Null => continue,
            rusqlite::types::ValueRef::Integer(i) => match t {
                ColumnType::Boolean => Value::Bool(i != 0),
                _ => Value::from(i),
            },
            rusqlite::types::ValueRef::Real(x) => real_json(x),
            rusqlite::types::ValueRef::Text(t) => {
                Value::String(String::from_utf8_lossy(t).into_owned())
            }
            rusqlite::types::ValueRef::Blob(_) => continue,
        };
        properties.insert(name.clone(), v);
    }
    let mut numeric_id = numeric_id;
    if let Some(extra) = extra {
        match serde_json::from_str::<Map<String, Value>>(&extra) {
            Ok(mut m) => {
                numeric_id |= m.remove(NUMERIC_ID_KEY) == Some(Value::Bool(true))
                    && id.parse::<i64>().is_ok();
                properties.extend(m)
            }
            Err(e) => {
                return Ok(Err((
                    id,
                    format!("zoneatlas_extra is not a JSON object: {e}"),
                )))
            }
        }
    }
    let blob: Option<Vec<u8>> = row.get(0)?;
    let Some(blob) = blob else {
        return Ok(Err((id, "the row has no geometry".into())));
    };
    let geometry = match wkb::decode(&blob) {
        Ok(g) => g,
        Err(e) => return Ok(Err((id, e.to_string()))),
    };
    let Some(bbox) = geometry.bounding_rect() else {
        return Ok(Err((id, "empty geometry".into())));
    };
    Ok(Ok(Feature {
        id,
        numeric_id,
        geometry,
        properties: properties.into(),
        bbox,
        revision: revision.unwrap_or(0).max(0) as u64,
    }))
}

#[cfg(test)]
mod tests {
    use super::super::GpkgStore;
    use crate::load::Manifest;
    use crate::model::{Feature, Layer, LayerMeta};
    use crate::store::{Dataset, Store};
    use geo::BoundingRect;
    use serde_json::{json, Value};

    fn feature(id: &str, props: Value) -> Feature {
        let geometry = geo::Geometry::Point(geo::Point::new(113.5, 34.7));
        Feature {
            id: id.into(),
            numeric_id: false,
            bbox: geometry.bounding_rect().unwrap(),
            geometry,
            properties: props.as_object().unwrap().clone().into(),
            revision: 0,
        }
    }

    #[test]
    fn every_kind_of_property_survives_the_store_exactly() {
        let props = [
            json!({"name": "马寨", "n": 110, "x": 16.5, "ok": true, "gone": null,
                   "list": [1, "a"], "obj": {"k": 1}, "big": 1_152_921_504_606_846_976u64}),
            // A string where the column is REAL, a number where it is TEXT.
            json!({"name": 7, "n": "one hundred", "x": 2, "ok": false}),
        ];
        let meta: LayerMeta =
            toml::from_str("id = \"things\"\ntitle = \"Things\"\ngeometry = \"Point\"").unwrap();
        let features: Vec<Feature> = props
            .iter()
            .enumerate()
            .map(|(i, p)| feature(&format!("F-{i}"), p.clone()))
            .collect();
        let data = Dataset {
            manifest: Manifest {
                title: "t".into(),
                title_zh: None,
                description: String::new(),
                layers: vec![meta.clone()],
                properties: Default::default(),
            },
            layers: vec![Layer::new(meta, features)],
            rules: None,
            revision: 0,
            version: 0,
            left_out: vec![],
        };
        let dir = tempfile::tempdir().unwrap();
        let mut store = GpkgStore::create(&dir.path().join("t.gpkg"), &data, None).unwrap();
        let back = store.load().unwrap();
        assert_eq!(back.revision, 1);
        for (f, want) in back.layers[0].features.live().zip(&props) {
            assert_eq!(&Value::Object(f.properties.to_map()), want, "{}", f.id);
            assert_eq!(f.revision, 1);
        }
    }
}

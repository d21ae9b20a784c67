//! Data back out to the tools it came from: one store layer written as a
//! GeoPackage, a Shapefile or GeoJSON, in WGS84 or any CRS `crs` can write
//! (coordinates easting / longitude first, as files hold them).
//!
//! Must not: change the store.

pub mod shp;

use std::path::Path;

use geo::{Geometry, MapCoords};
use serde_json::{json, Map, Value};

use crate::crs::{Crs, Order};

/// Write `layer` of `store` to `out` (`.gpkg`, `.shp`, `.geojson`/`.json`)
/// in `crs` (CRS84 by default); returns the feature count. `out` must not
/// exist.
pub fn export(store: &Path, layer: &str, out: &Path, crs: Option<Crs>) -> Result<usize, String> {
    let crs = crs.unwrap_or(Crs::Crs84);
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if !matches!(ext.as_str(), "gpkg" | "shp" | "geojson" | "json") {
        return Err(format!(
            "{}: write a .gpkg, .shp or .geojson file",
            out.display()
        ));
    }
    for f in members(out, &ext) {
        if f.exists() {
            return Err(format!("{} exists already", f.display()));
        }
    }
    let mut s = crate::store::open_existing(store)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("{}: no such store", crate::store::display_name(store)))?;
    let data = s.load().map_err(|e| e.to_string())?;
    let l = data
        .layers
        .iter()
        .find(|l| l.meta.id == layer)
        .ok_or_else(|| {
            let ids: Vec<&str> = data.layers.iter().map(|l| l.meta.id.as_str()).collect();
            format!(
                "no layer {layer:?} in {}; the layers are: {}",
                crate::store::display_name(store),
                ids.join(", ")
            )
        })?;
    let features: Vec<(String, Geometry, Map<String, Value>)> = l
        .features
        .live()
        .map(|f| {
            let g = f.geometry.map_coords(|c| {
                let [x, y] = crs.from_lonlat(c, Order::Traditional);
                geo::Coord { x, y }
            });
            (f.id.clone(), g, f.properties.to_map())
        })
        .collect();
    let wkt = crs.wkt();
    // Written under a temporary name, then put in place whole: a full disk
    // or a crash leaves no half-written file in the way of a retry.
    let tmp = out.with_file_name(format!(
        ".{}.partial-{}.{ext}",
        out.file_stem()
            .map_or(String::new(), |s| s.to_string_lossy().into_owned()),
        std::process::id()
    ));
    let written = write(
        &tmp,
        &ext,
        layer,
        l.meta.geometry,
        crs,
        wkt.as_deref(),
        &features,
    );
    let placed = written.and_then(|()| place(&tmp, out, &ext));
    for f in members(&tmp, &ext) {
        let _ = std::fs::remove_file(f);
    }
    placed?;
    Ok(features.len())
}

/// The files an export to `out` makes: one, or a Shapefile's set.
fn members(out: &Path, ext: &str) -> Vec<std::path::PathBuf> {
    match ext {
        "shp" => ["shp", "shx", "dbf", "prj", "cpg"]
            .iter()
            .map(|e| out.with_extension(e))
            .collect(),
        _ => vec![out.to_path_buf()],
    }
}

/// Link every written member in place (a link refuses to replace a file
/// someone made meanwhile, where a rename would not); all or none.
fn place(tmp: &Path, out: &Path, ext: &str) -> Result<(), String> {
    let mut done = Vec::new();
    for (from, to) in members(tmp, ext).into_iter().zip(members(out, ext)) {
        if !from.exists() {
            continue;
        }
        if let Err(e) = std::fs::hard_link(&from, &to) {
            for d in done {
                let _ = std::fs::remove_file(d);
            }
            return Err(format!("{}: {e}", to.display()));
        }
        done.push(to);
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Write the features to `out` in the format its extension names.
fn write(
    out: &Path,
    ext: &str,
    layer: &str,
    kind: crate::model::GeometryKind,
    crs: Crs,
    wkt: Option<&str>,
    features: &[(String, Geometry, Map<String, Value>)],
) -> Result<(), String> {
    match ext {
        "gpkg" => {
            let (code, wkt) = crs.epsg_code().zip(wkt).ok_or_else(|| {
                format!("a GeoPackage needs an EPSG CRS; {} has none", crs.name())
            })?;
            crate::store::gpkg_source::write_plain(out, layer, kind, code, wkt, features)?
        }
        "shp" => shp::write(out, kind, features, wkt).map_err(|e| e.to_string())?,
        _ => {
            let list: Vec<Value> = features
                .iter()
                .map(|(id, g, p)| {
                    json!({"type": "Feature", "id": id,
                           "geometry": serde_json::to_value(crate::encode::GeometryJson(g)).unwrap_or(Value::Null),
                           "properties": p})
                })
                .collect();
            let mut fc = json!({"type": "FeatureCollection", "features": list});
            // RFC 7946 is CRS84 only; other CRSs get the old `crs` member
            // that GDAL and QGIS read.
            if let Some(code) = crs.epsg_code().filter(|_| crs != Crs::Crs84) {
                fc["crs"] = json!({"type": "name", "properties": {"name": format!("urn:ogc:def:crs:EPSG::{code}")}});
            }
            let text = serde_json::to_vec(&fc).map_err(|e| e.to_string())?;
            std::fs::write(out, text).map_err(|e| format!("{}: {e}", out.display()))?;
            std::fs::File::open(out)
                .and_then(|f| f.sync_all())
                .map_err(|e| format!("{}: {e}", out.display()))?;
        }
    }
    Ok(())
}

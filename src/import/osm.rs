//! OpenStreetMap extracts (`.osm.pbf`) mapped into the zone's layers:
//! `highway=*` to roads (status from `highway=construction`,
//! `construction=*`, `highway=proposed`, `proposed=*`; class from the highway
//! type), `power=line|minor_line|cable` to power lines (voltage in kV),
//! `power=substation` (node or area, as a point) to substations,
//! `man_made=pipeline` to pipelines (utility from `substance`),
//! `leisure=park` to parks and `landuse=industrial|commercial` to sites.
//! Ways are assembled from their nodes, multipolygon relations into
//! polygons (outer rings joined way to way, inner rings given to the outer
//! that holds them). A profile file may replace which tags select each
//! layer (and give the layers it creates their titles and map styles).
//! Feature ids are the OSM element's type letter and id (`n123`,
//! `w4236349`, `r77`): no `/`, so every id can name its feature in a URL.
//!
//! Must not: write anything (`import` does).

use std::collections::HashMap;
use std::path::Path;

use geo::{Centroid, Contains, Coord, Geometry, LineString, MultiPolygon, Point, Polygon};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::pbf::Element;
use super::{ImportError, Row};
use crate::model::GeometryKind;

/// Which tags select a layer: key → accepted values (`*`: any).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerRule {
    pub geometry: GeometryKind,
    #[serde(rename = "match")]
    pub tags: HashMap<String, Vec<String>>,
    /// Titles of a layer the import creates (English, Chinese).
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub title_zh: Option<String>,
    /// How the map draws a layer the import creates.
    #[serde(default)]
    pub style: Option<crate::style::LayerStyle>,
}

/// A profile: layer id → its rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub layer: std::collections::BTreeMap<String, LayerRule>,
}

/// The credit OpenStreetMap's licence (ODbL) asks of a map drawn from it.
pub const ATTRIBUTION: &str = "© OpenStreetMap contributors (ODbL)";

/// What the properties the mapping writes are called (English, Chinese)
/// and measured in: a store the import creates starts with these as its
/// manifest's `[properties]`, so the map titles them.
pub const PROPERTY_TITLES: &str = r#"
name = { title = "Name", title_zh = "名称" }
name_en = { title = "Name (English)", title_zh = "英文名称" }
status = { title = "Status", title_zh = "状态" }
class = { title = "Class", title_zh = "道路等级" }
highway = { title = "OSM highway", title_zh = "OSM 道路类型" }
width_m = { title = "Width", title_zh = "宽度", unit = "m" }
voltage_kv = { title = "Voltage", title_zh = "电压等级", unit = "kV" }
capacity_mva = { title = "Capacity", title_zh = "容量", unit = "MVA" }
utility = { title = "Utility", title_zh = "管线类别" }
operator = { title = "Operator", title_zh = "运营单位" }
diameter_mm = { title = "Diameter", title_zh = "管径", unit = "mm" }
area_m2 = { title = "Area", title_zh = "面积", unit = "m²" }
kind = { title = "Kind", title_zh = "类型" }
source = { title = "Source", title_zh = "数据来源" }
"#;

/// The built-in mapping (the module doc's).
pub const DEFAULT_PROFILE: &str = r##"
[layer.roads]
geometry = "LineString"
match = { highway = ["*"] }
title = "Roads"
title_zh = "道路"
[layer.roads.style]
color = "#4d4d4d"
width = 1.5
[[layer.roads.style.by]]
property = "class"
values = [
  { value = "trunk", title = "Trunk road", title_zh = "主干路", width = 4 },
  { value = "secondary", title = "Secondary road", title_zh = "次干路", width = 2.5 },
  { value = "branch", title = "Branch road", title_zh = "支路", width = 1.5 },
]
[layer.power_lines]
geometry = "LineString"
match = { power = ["line", "minor_line", "cable"] }
title = "Power lines"
title_zh = "电力线路"
[layer.power_lines.style]
color = "#a58bd0"
width = 1.6
[[layer.power_lines.style.by]]
property = "voltage_kv"
values = [
  { value = "500", title = "500 kV line", title_zh = "500 kV 线路", color = "#3f007d", width = 4 },
  { value = "220", title = "220 kV line", title_zh = "220 kV 线路", color = "#54278f", width = 3.5 },
  { value = "110", title = "110 kV line", title_zh = "110 kV 线路", color = "#6a3d9a", width = 3 },
]
[layer.pipelines]
geometry = "LineString"
match = { man_made = ["pipeline"] }
title = "Pipelines"
title_zh = "管道"
[layer.pipelines.style]
color = "#777777"
width = 2.2
[[layer.pipelines.style.by]]
property = "utility"
split = true
values = [
  { value = "water", title = "Water pipes", title_zh = "给水管", color = "#1f78b4" },
  { value = "gas", title = "Gas pipes", title_zh = "燃气管", color = "#f39c12" },
  { value = "steam", title = "Heat and steam pipes", title_zh = "热力管", color = "#d7301f" },
  { value = "unknown", title = "Pipes of unknown use", title_zh = "用途不明的管道" },
]
[layer.substations]
geometry = "Point"
match = { power = ["substation"] }
title = "Substations"
title_zh = "变电站"
style = { color = "#4a2a7a", width = 6, fill = "#6a3d9a", fill_opacity = 1 }
[layer.parks]
geometry = "Polygon"
match = { leisure = ["park"] }
title = "Parks"
title_zh = "公园"
style = { color = "#2e7d32", width = 1.5, fill = "#66bb6a", fill_opacity = 0.4 }
[layer.sites]
geometry = "Polygon"
match = { landuse = ["industrial", "commercial"] }
title = "Industrial and commercial land"
title_zh = "工业及商业用地"
style = { color = "#b15928", width = 1.5, fill = "#fdbf6f", fill_opacity = 0.25, label = "name" }
"##;

impl Profile {
    pub fn parse(text: &str) -> Result<Profile, String> {
        let p: Profile = toml::from_str(text).map_err(|e| e.to_string())?;
        for (id, rule) in &p.layer {
            if let Some(problem) = rule.style.iter().flat_map(|s| s.problems()).next() {
                return Err(format!("layer {id}: {problem}"));
            }
        }
        Ok(p)
    }

    /// The layers whose rule an element's tags satisfy.
    fn layers_for(&self, tags: &HashMap<String, String>) -> Vec<(&str, GeometryKind)> {
        self.layer
            .iter()
            .filter(|(_, r)| {
                r.tags.iter().any(|(k, vs)| {
                    tags.get(k)
                        .is_some_and(|v| vs.iter().any(|a| a == "*" || a == v))
                })
            })
            .map(|(id, r)| (id.as_str(), r.geometry))
            .collect()
    }
}

/// Rows per layer, and how many elements were dropped (no geometry to build).
pub struct Extract {
    pub layers: std::collections::BTreeMap<String, (GeometryKind, Vec<Row>)>,
    pub dropped: usize,
}

struct Way {
    refs: Vec<i64>,
    tags: HashMap<String, String>,
}

/// A multipolygon relation: id, tags, member ways with their roles.
type Multipolygon = (i64, HashMap<String, String>, Vec<(i64, String)>);

/// Read an extract and map it by `profile`.
pub fn read(path: &Path, profile: &Profile) -> Result<Extract, ImportError> {
    let bad = |m: String| ImportError::Source(format!("{}: {m}", path.display()));
    let mut head = [0u8; 16];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
        let n = f.read(&mut head).map_err(|e| bad(e.to_string()))?;
        // A PBF starts with a 4-byte length then the "OSMHeader" blob type.
        if n < 16 || !head[4..].windows(9).any(|w| w == b"OSMHeader") {
            return Err(bad(
                "not an OpenStreetMap PBF file (.osm.pbf); convert XML with osmium first".into(),
            ));
        }
    }
    let mut nodes: HashMap<i64, Coord> = HashMap::new();
    let mut tagged_nodes: Vec<(i64, HashMap<String, String>)> = Vec::new();
    let mut ways: HashMap<i64, Way> = HashMap::new();
    let mut relations: Vec<Multipolygon> = Vec::new();
    let owned = |tags: Vec<(&str, &str)>| -> HashMap<String, String> {
        tags.into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    };
    super::pbf::read(path, |el| match el {
        Element::Node { id, lon, lat, tags } => {
            nodes.insert(id, Coord { x: lon, y: lat });
            if !tags.is_empty() {
                tagged_nodes.push((id, owned(tags)));
            }
        }
        Element::Way { id, refs, tags } => {
            ways.insert(
                id,
                Way {
                    refs,
                    tags: owned(tags),
                },
            );
        }
        Element::Relation { id, tags, members } => {
            let tags = owned(tags);
            if matches!(tags.get("type").map(String::as_str), Some("multipolygon")) {
                let members = members
                    .into_iter()
                    .filter(|(kind, _, _)| *kind == 1)
                    .map(|(_, m, role)| (m, role.to_owned()))
                    .collect();
                relations.push((id, tags, members));
            }
        }
    })
    .map_err(|e| bad(format!("cannot read the PBF: {e}")))?;

    let mut out = Extract {
        layers: profile
            .layer
            .iter()
            .map(|(id, r)| (id.clone(), (r.geometry, Vec::new())))
            .collect(),
        dropped: 0,
    };
    let mut push = |layer: &str, id: String, g: Geometry, tags: &HashMap<String, String>| {
        if let Some((_, rows)) = out.layers.get_mut(layer) {
            let n = rows.len() + 1;
            let properties = properties(layer, &g, tags);
            rows.push(Row {
                number: n,
                id: Some(Value::String(id)),
                geometry: Ok(g),
                properties,
            });
        }
    };
    let mut dropped = 0;
    for (id, tags) in &tagged_nodes {
        for (layer, kind) in profile.layers_for(tags) {
            if kind == GeometryKind::Point {
                push(
                    layer,
                    format!("n{id}"),
                    Geometry::Point(Point(nodes[id])),
                    tags,
                );
            }
        }
    }
    let line = |refs: &[i64]| -> Option<LineString> {
        refs.iter()
            .map(|r| nodes.get(r).copied())
            .collect::<Option<Vec<_>>>()
            .map(LineString)
    };
    let mut way_ids: Vec<&i64> = ways.keys().collect();
    way_ids.sort_unstable();
    for id in way_ids {
        let w = &ways[id];
        if w.tags.is_empty() {
            continue;
        }
        for (layer, kind) in profile.layers_for(&w.tags) {
            let Some(ls) = line(&w.refs) else {
                dropped += 1;
                continue;
            };
            let closed = w.refs.len() >= 4 && w.refs.first() == w.refs.last();
            let g = match kind {
                GeometryKind::LineString => Some(Geometry::LineString(ls)),
                GeometryKind::Polygon if closed => {
                    Some(Geometry::Polygon(Polygon::new(ls, vec![])))
                }
                GeometryKind::Point if closed => {
                    Polygon::new(ls, vec![]).centroid().map(Geometry::Point)
                }
                _ => None,
            };
            match g {
                Some(g) => push(layer, format!("w{id}"), g, &w.tags),
                None => dropped += 1,
            }
        }
    }
    for (id, tags, members) in &relations {
        let matched = profile.layers_for(tags);
        if matched.is_empty() {
            continue;
        }
        let ring_set = |role: &str| -> Option<Vec<LineString>> {
            let parts: Vec<Vec<i64>> = members
                .iter()
                .filter(|(_, r)| r == role || (role == "outer" && r.is_empty()))
                .map(|(w, _)| ways.get(w).map(|w| w.refs.clone()))
                .collect::<Option<_>>()?;
            join_rings(parts)?.iter().map(|r| line(r)).collect()
        };
        let (Some(outers), Some(inners)) = (ring_set("outer"), ring_set("inner")) else {
            dropped += matched.len();
            continue;
        };
        let mut polys: Vec<Polygon> = outers
            .into_iter()
            .map(|o| Polygon::new(o, vec![]))
            .collect();
        for inner in inners {
            if let Some(p) = inner
                .0
                .first()
                .and_then(|c| polys.iter_mut().find(|p| p.contains(c)))
            {
                p.interiors_push(inner);
            }
        }
        if polys.is_empty() {
            dropped += matched.len();
            continue;
        }
        let mp = MultiPolygon(polys);
        for (layer, kind) in matched {
            let g = match kind {
                GeometryKind::Polygon => Some(Geometry::MultiPolygon(mp.clone())),
                GeometryKind::Point => mp.centroid().map(Geometry::Point),
                GeometryKind::LineString => None,
            };
            match g {
                Some(g) => push(layer, format!("r{id}"), g, tags),
                None => dropped += 1,
            }
        }
    }
    out.dropped = dropped;
    Ok(out)
}

/// Join ways (node id lists) end to end into closed rings; `None` if one
/// cannot be closed (a member missing from the extract, say).
fn join_rings(mut parts: Vec<Vec<i64>>) -> Option<Vec<Vec<i64>>> {
    let mut rings = Vec::new();
    while let Some(mut ring) = parts.pop() {
        while ring.first() != ring.last() || ring.len() < 4 {
            let end = *ring.last()?;
            let next = parts
                .iter()
                .position(|p| p.first() == Some(&end) || p.last() == Some(&end))?;
            let mut p = parts.swap_remove(next);
            if p.first() != Some(&end) {
                p.reverse();
            }
            ring.extend(p.into_iter().skip(1));
        }
        rings.push(ring);
    }
    Some(rings)
}

/// The road width a class gets when OSM gives none (`width=*`): the
/// sample's planning widths (trunk 40 m, secondary 24 m, branch 12 m).
fn default_width_m(class: &str) -> f64 {
    match class {
        "trunk" => 40.0,
        "secondary" => 24.0,
        _ => 12.0,
    }
}

/// A number from a tag (`12`, `12.5`, `12 m`, `300 mm`), unit dropped.
fn number(text: &str) -> Option<f64> {
    let head: String = text
        .trim()
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    head.parse().ok()
}

/// The properties an element gets in a layer, every one the sample's
/// schema requires supplied (the defaults documented in the README):
/// `name` and `name_en` (from `name:zh`, `name:en`, `name`, `ref`; empty
/// when OSM has none), `status` (from `construction`/`proposed`), `source`;
/// roads `class` (from the highway type) and `width_m` (`width`, else by
/// class); pipelines `utility` (`substance`), `operator` (else
/// `unknown`), `diameter_mm` (`diameter`, else 0: unknown); power
/// `voltage_kv` (`voltage`, in volts, the highest circuit); substations
/// `capacity_mva` (`rating`, when given); parks and sites `area_m2` (of the
/// geometry) and sites `kind` (the landuse).
fn properties(layer: &str, g: &Geometry, tags: &HashMap<String, String>) -> Map<String, Value> {
    let mut p = Map::new();
    let tag = |k: &str| tags.get(k).cloned();
    let name = tag("name:zh")
        .or_else(|| tag("name"))
        .or_else(|| tag("ref"));
    let name_en = tag("name:en")
        .or_else(|| tag("name"))
        .or_else(|| tag("ref"));
    p.insert("name".into(), json!(name.unwrap_or_default()));
    p.insert("name_en".into(), json!(name_en.unwrap_or_default()));
    let highway = tag("highway").unwrap_or_default();
    let status = if highway == "construction" || tags.contains_key("construction") {
        "under_construction"
    } else if highway == "proposed" || tags.contains_key("proposed") {
        "planned"
    } else {
        "existing"
    };
    p.insert("status".into(), json!(status));
    let area = || {
        let polygons = crate::coverage::polygons_of(g);
        let m2: f64 = polygons.iter().map(crate::geodesy::polygon_area_m2).sum();
        json!(m2.round())
    };
    match layer {
        "roads" => {
            let kind = if highway == "construction" || highway == "proposed" {
                tag("construction")
                    .or_else(|| tag("proposed"))
                    .unwrap_or_default()
            } else {
                highway.clone()
            };
            let class = match kind.as_str() {
                "motorway" | "trunk" | "primary" | "motorway_link" | "trunk_link"
                | "primary_link" => "trunk",
                "secondary" | "tertiary" | "secondary_link" | "tertiary_link" => "secondary",
                _ => "branch",
            };
            let width = tag("width")
                .as_deref()
                .and_then(number)
                .filter(|w| *w > 0.0)
                .unwrap_or_else(|| default_width_m(class));
            p.insert("class".into(), json!(class));
            p.insert("width_m".into(), json!(width));
            p.insert("highway".into(), json!(highway));
        }
        "power_lines" | "substations" => {
            // `voltage` is in volts, several circuits separated by `;`.
            if let Some(kv) = tag("voltage").and_then(|v| {
                v.split(';')
                    .filter_map(|x| x.trim().parse::<f64>().ok())
                    .reduce(f64::max)
            }) {
                p.insert("voltage_kv".into(), json!(kv / 1000.0));
            }
            if let Some(mva) = tag("rating").as_deref().and_then(number) {
                p.insert("capacity_mva".into(), json!(mva));
            }
        }
        "pipelines" => {
            let substance = tag("substance");
            let utility = match substance.as_deref() {
                Some("water") | Some("drinking_water") => "water",
                Some("gas") | Some("natural_gas") => "gas",
                Some("heat") | Some("steam") | Some("hot_water") => "steam",
                Some(other) => other,
                None => "unknown",
            };
            p.insert("utility".into(), json!(utility));
            p.insert(
                "operator".into(),
                json!(tag("operator").unwrap_or_else(|| "unknown".into())),
            );
            let diameter = tag("diameter").as_deref().and_then(number).unwrap_or(0.0);
            p.insert("diameter_mm".into(), json!(diameter));
        }
        "parks" => {
            p.insert("area_m2".into(), area());
        }
        "sites" => {
            p.insert("area_m2".into(), area());
            p.insert(
                "kind".into(),
                json!(tag("landuse").unwrap_or_else(|| "industrial".into())),
            );
        }
        _ => {}
    }
    p.insert("source".into(), json!(ATTRIBUTION));
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_profile_and_property_titles_parse_and_title_every_layer() {
        let p = Profile::parse(DEFAULT_PROFILE).unwrap();
        for (id, rule) in &p.layer {
            assert!(rule.title.is_some() && rule.title_zh.is_some(), "{id}");
            assert!(rule.style.is_some(), "{id}");
        }
        let titles: std::collections::BTreeMap<String, crate::model::PropertyMeta> =
            toml::from_str(PROPERTY_TITLES).unwrap();
        // Every property the mapping writes has a title in both languages.
        for name in [
            "name",
            "status",
            "class",
            "width_m",
            "voltage_kv",
            "utility",
            "source",
        ] {
            assert!(
                titles.get(name).is_some_and(|t| t.title_zh.is_some()),
                "{name}"
            );
        }
    }
}

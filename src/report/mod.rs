//! The site report: one printable page per project site, in Chinese and
//! English, for the file a planner hands on. A map of the site and its
//! surroundings (an inline SVG drawn from the snapshot, so it prints
//! offline), the coverage table per service in both scenarios, what changes
//! once the planned works are built, the single assets whose loss cuts the
//! site off, its power demand against its substation, and the data's
//! revision. `pdf` prints the same page with headless Chromium.
//!
//! Must not: know about HTTP. Every text from the data is escaped.

pub mod pdf;
pub mod proposal;

use std::fmt::Write as _;
use std::sync::Arc;

use geo::{BoundingRect, Coord, Geometry, Rect};

use crate::budget::{Deadline, Exceeded};
use crate::catalog::Catalog;
use crate::coverage::capacity::CapacityReport;
use crate::coverage::{AreaAnswer, Scenario};
use crate::geodesy::{self, LocalProjection};
use crate::index::IndexedLayer;

/// Metres of surroundings drawn around the site.
const MAP_MARGIN_M: f64 = 500.0;
/// The map's size in CSS pixels.
const MAP_W: f64 = 640.0;
const MAP_H: f64 = 420.0;

/// Why a report cannot be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReportError {
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Exceeded(#[from] Exceeded),
}

/// Where the data stands: shown in the report's header.
#[derive(Debug, Clone)]
pub struct Stamp {
    pub revision: u64,
    /// When that revision was committed (RFC 3339), where a history knows.
    pub revision_time: Option<String>,
    /// When the report was made (RFC 3339).
    pub generated: String,
}

/// HTML-escape a text from the data.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn service_label(s: &str) -> &'static str {
    match s {
        "water" => "给水 Water",
        "gas" => "燃气 Gas",
        "steam" => "蒸汽 Steam",
        "power" => "电力 Power",
        "road" => "道路 Road",
        "park" => "公园 Park",
        _ => "",
    }
}

fn scenario_label(sc: Scenario) -> &'static str {
    match sc {
        Scenario::Current => "现状 Current",
        Scenario::Planned => "规划建成后 Planned",
    }
}

/// One service's answer as table cells.
fn answer_cells(a: &AreaAnswer) -> [String; 6] {
    let reach = if a.connectable {
        "✔ 可接入 yes".to_string()
    } else {
        "✘ 否 no".to_string()
    };
    let share = format!("{:.1} %", a.share * 100.0);
    let distance = a.distance_m.map_or("—".to_string(), |d| {
        format!("{d:.0} m / {:.0} m", a.reach_m)
    });
    let asset = a.connect_to.as_ref().map_or("—".to_string(), |r| {
        format!(
            "{} <span class=id>{}</span>",
            esc(r.name.as_deref().unwrap_or("")),
            esc(&r.id)
        )
    });
    let (sources, redundant) = match &a.supply {
        None => ("—".to_string(), "—".to_string()),
        Some(s) => (
            if s.sources.is_empty() {
                "无 none".to_string()
            } else {
                s.sources
                    .iter()
                    .map(|r| esc(r.name.as_deref().unwrap_or(&r.id)))
                    .collect::<Vec<_>>()
                    .join("<br>")
            },
            if s.redundant {
                "是 yes".to_string()
            } else {
                "否 no".to_string()
            },
        ),
    };
    [reach, share, distance, asset, sources, redundant]
}

/// What differs between a service's current and planned answers, in words.
fn change(now: &AreaAnswer, later: &AreaAnswer) -> Option<String> {
    let mut parts = Vec::new();
    if now.connectable != later.connectable {
        parts.push(if later.connectable {
            "becomes connectable 可接入".to_string()
        } else {
            "loses its connection 不再可接入".to_string()
        });
    }
    if (now.share - later.share).abs() >= 0.0005 {
        parts.push(format!(
            "share {:.1} % → {:.1} %",
            now.share * 100.0,
            later.share * 100.0
        ));
    }
    let name = |a: &AreaAnswer| a.connect_to.as_ref().map(|r| r.id.clone());
    if name(now) != name(later) {
        parts.push(format!(
            "connects to {} → {}",
            esc(&name(now).unwrap_or_else(|| "—".into())),
            esc(&name(later).unwrap_or_else(|| "—".into()))
        ));
    }
    let sources = |a: &AreaAnswer| a.supply.as_ref().map(|s| s.sources.len());
    if sources(now) != sources(later) {
        parts.push(format!(
            "sources {} → {}",
            sources(now).unwrap_or(0),
            sources(later).unwrap_or(0)
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The site report as a complete HTML page.
pub fn site_html(
    catalog: &Catalog,
    site_id: &str,
    stamp: &Stamp,
    deadline: &Deadline,
) -> Result<String, ReportError> {
    let cov = catalog.coverage.as_ref().ok_or_else(|| {
        ReportError::NotFound("this data has no coverage rules (coverage.toml)".into())
    })?;
    let sites_id = cov
        .rules
        .sites
        .as_ref()
        .map(|s| s.collection.clone())
        .ok_or_else(|| ReportError::NotFound("the coverage rules name no sites".into()))?;
    let sl = catalog
        .layer_position(&sites_id)
        .ok_or_else(|| ReportError::NotFound(format!("no collection {sites_id:?}")))?;
    let layers = &catalog.layers;
    let t = layers[sl]
        .position_of(site_id)
        .ok_or_else(|| ReportError::NotFound(format!("no site has id {site_id:?}")))?;
    let f = &layers[sl].layer.features[t];
    let mut answers = Vec::new();
    for sc in Scenario::ALL {
        let list = cov.sites(layers, sc, None, deadline)?;
        answers.push(list[t].clone());
    }
    let text = |k: &str| f.property_text(k).unwrap_or_default();
    let (name, name_en) = (text("name"), text("name_en"));
    let area_m2 = answers[0].1;
    let mut h = String::with_capacity(32 * 1024);
    let _ = write!(
        h,
        r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>{title} — 地块报告 Site report</title>
<style>
@page {{ size: A4; margin: 14mm; }}
body {{ font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif; color: #222; font-size: 10.5pt; max-width: 190mm; margin: 0 auto; }}
h1 {{ font-size: 17pt; margin: 0 0 2pt; }} h2 {{ font-size: 12pt; border-bottom: 1px solid #999; margin: 14pt 0 6pt; }}
.sub {{ color: #555; }} .id {{ color: #777; font-size: 8.5pt; }}
table {{ border-collapse: collapse; width: 100%; page-break-inside: avoid; }}
th, td {{ border: 1px solid #ccc; padding: 3pt 4pt; text-align: left; vertical-align: top; }}
th {{ background: #f0f0f0; font-weight: 600; }}
.meta td {{ border: none; padding: 1pt 8pt 1pt 0; }}
.warn {{ color: #b00020; font-weight: 600; }} .ok {{ color: #1b5e20; }}
svg {{ border: 1px solid #bbb; width: 100%; height: auto; }}
.legend span {{ margin-right: 10pt; white-space: nowrap; }}
.foot {{ color: #666; font-size: 8.5pt; margin-top: 14pt; }}
</style></head><body>
<h1>{name}</h1><div class="sub">{name_en} · <span class="id">{id}</span></div>
<table class="meta"><tr><td>类型 Kind</td><td>{kind}</td><td>状态 Status</td><td>{status}</td></tr>
<tr><td>面积 Area</td><td>{ha:.2} ha ({mu:.1} 亩 mu)</td><td>数据版本 Revision</td><td>{rev}{rev_time}</td></tr>
<tr><td>生成时间 Generated</td><td colspan="3">{generated}</td></tr></table>
"#,
        title = esc(&name),
        name = esc(&name),
        name_en = esc(&name_en),
        id = esc(site_id),
        kind = esc(&text("kind")),
        status = esc(&text("status")),
        ha = area_m2 / 1e4,
        mu = area_m2 / (2000.0 / 3.0),
        rev = stamp.revision,
        rev_time = stamp
            .revision_time
            .as_deref()
            .map(|t| format!(" ({})", esc(t)))
            .unwrap_or_default(),
        generated = esc(&stamp.generated),
    );
    h.push_str("<h2>位置 Location</h2>");
    h.push_str(&map_svg(layers, &f.geometry, site_id, &sites_id));

    for (k, sc) in Scenario::ALL.into_iter().enumerate() {
        let _ = write!(
            h,
            "<h2>覆盖 Coverage — {}</h2><table><tr><th>服务 Service</th><th>可接入 Connectable</th><th>覆盖比例 Share</th><th>距离 / 服务半径 Distance / reach</th><th>接入设施 Connects to</th><th>来源 Sources</th><th>双源 Two sources</th></tr>",
            scenario_label(sc)
        );
        for a in &answers[k].2 {
            let cells = answer_cells(a);
            let _ = write!(h, "<tr><td>{}</td>", service_label(a.service));
            for c in cells {
                let _ = write!(h, "<td>{c}</td>");
            }
            h.push_str("</tr>");
        }
        h.push_str("</table>");
    }

    h.push_str("<h2>规划建成后的变化 Changes once the planned works are built</h2>");
    let changes: Vec<String> = answers[0]
        .2
        .iter()
        .zip(&answers[1].2)
        .filter_map(|(a, b)| {
            change(a, b).map(|c| format!("<li>{}: {c}</li>", service_label(a.service)))
        })
        .collect();
    if changes.is_empty() {
        h.push_str("<p>无变化 No change.</p>");
    } else {
        let _ = write!(h, "<ul>{}</ul>", changes.concat());
    }

    h.push_str("<h2>单点故障 Single points of failure</h2><table><tr><th>情景 Scenario</th><th>服务 Service</th><th>一旦停运即断供的设施 Assets whose loss alone cuts the site off</th></tr>");
    let mut any = false;
    for sc in Scenario::ALL {
        for service in ["water", "power"] {
            let Ok(c) = cov.critical_for_site(layers, service, sc, t, deadline) else {
                continue;
            };
            let hits: Vec<String> = c
                .assets
                .iter()
                .filter(|a| a.sites.iter().any(|s| s.id == site_id))
                .map(|a| {
                    format!(
                        "{} <span class=id>{}</span>",
                        esc(a.asset.name.as_deref().unwrap_or("")),
                        esc(&a.asset.id)
                    )
                })
                .collect();
            if !hits.is_empty() {
                any = true;
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td class=warn>{}</td></tr>",
                    scenario_label(sc),
                    service_label(service),
                    hits.join("<br>")
                );
            }
        }
    }
    if !any {
        h.push_str("<tr><td colspan=3 class=ok>无：每项设施单独停运都不会使本地块断供 None: no single asset's loss cuts this site off.</td></tr>");
    }
    h.push_str("</table>");

    h.push_str("<h2>电力容量 Power capacity</h2>");
    let mut rows = String::new();
    for sc in Scenario::ALL {
        match cov.capacity(layers, sc, deadline) {
            Ok(r) => rows.push_str(&capacity_row(&r, site_id, sc)),
            Err(crate::coverage::capacity::CapacityError::Exceeded(e)) => return Err(e.into()),
            Err(e) => {
                rows = format!("<tr><td colspan=5>{}</td></tr>", esc(&e.to_string()));
                break;
            }
        }
    }
    let _ = write!(
        h,
        "<table><tr><th>情景 Scenario</th><th>本地块负荷 Site demand</th><th>变电站 Substation</th><th>变电站负荷 / 容量 Load / capacity</th><th>负载率 Load ratio</th></tr>{rows}</table>"
    );
    h.push_str(
        "<p class=foot>覆盖按服务半径计算（coverage.toml）；距离与面积按椭球计算，精度见 README。示例数据为示意，不得用于工程决策。<br>\
         Coverage is reach-based (coverage.toml); distances and areas are ellipsoidal, accuracy as stated in the README. \
         The sample data is illustrative, not survey data.</p></body></html>",
    );
    Ok(h)
}

fn capacity_row(r: &CapacityReport, site_id: &str, sc: Scenario) -> String {
    for s in &r.substations {
        if let Some(d) = s.sites.iter().find(|d| d.site.id == site_id) {
            let demand = d.demand_kw.map_or("—".into(), |k| {
                format!(
                    "{k:.0} kW ({})",
                    if d.basis == "stated" {
                        "申报 stated".to_string()
                    } else {
                        format!("{} W/m²", d.density_w_per_m2.unwrap_or(0.0))
                    }
                )
            });
            let cap = s
                .capacity_kw
                .map_or("—".into(), |c| format!("{:.0} / {c:.0} kW", s.demand_kw));
            let ratio = s.load_ratio.map_or("—".into(), |x| {
                let cls = if s.overloaded { "warn" } else { "ok" };
                format!("<span class={cls}>{:.0} %</span>", x * 100.0)
            });
            return format!(
                "<tr><td>{}</td><td>{demand}</td><td>{} <span class=id>{}</span></td><td>{cap}</td><td>{ratio}</td></tr>",
                scenario_label(sc),
                esc(s.substation.name.as_deref().unwrap_or("")),
                esc(&s.substation.id)
            );
        }
    }
    let unserved = r.unserved.iter().any(|d| d.site.id == site_id);
    format!(
        "<tr><td>{}</td><td colspan=4>{}</td></tr>",
        scenario_label(sc),
        if unserved {
            "<span class=warn>无变电站覆盖 No substation reaches this site</span>"
        } else {
            "本情景不计入（状态）Not counted in this scenario (status)"
        }
    )
}

/// How a feature is drawn: stroke, fill, width, dash.
fn style(
    layer: &str,
    f: &crate::model::Feature,
) -> (&'static str, &'static str, f64, &'static str) {
    let prop = |k: &str| f.property_text(k).unwrap_or_default();
    match layer {
        "zone" => ("#555", "none", 1.0, "6 3"),
        "water" => ("#4a90c2", "#cfe6f7", 1.0, ""),
        "parks" => ("#4c9a4c", "#d8efd0", 1.0, ""),
        "sites" => ("#888", "#eeeeee", 1.0, ""),
        "roads" => match prop("status").as_str() {
            "existing" => ("#444", "none", 3.0, ""),
            "under_construction" => ("#e08a00", "none", 3.0, "6 3"),
            _ => ("#999", "none", 2.0, "2 3"),
        },
        "pipelines" => match prop("utility").as_str() {
            "water" => ("#1f6fd1", "none", 1.6, ""),
            "gas" => ("#d4a100", "none", 1.6, ""),
            "steam" => ("#c0392b", "none", 1.6, ""),
            _ => ("#666", "none", 1.2, ""),
        },
        "power_lines" => ("#7b3fb5", "none", 1.4, "4 2"),
        "substations" => ("#7b3fb5", "#7b3fb5", 1.0, ""),
        _ => ("#666", "none", 1.0, ""),
    }
}

/// An SVG map of the site and `MAP_MARGIN_M` around it, every layer drawn
/// from the snapshot (sites layer beneath the lines, the site on top).
fn map_svg(layers: &[Arc<IndexedLayer>], site: &Geometry, site_id: &str, sites_id: &str) -> String {
    let Some(b) = site.bounding_rect() else {
        return String::new();
    };
    let proj = LocalProjection::new(b.center());
    let (kx, ky) = geodesy::metres_per_degree(b.center().y);
    let (w_m, h_m) = (
        b.width() * kx + 2.0 * MAP_MARGIN_M,
        b.height() * ky + 2.0 * MAP_MARGIN_M,
    );
    // Metres per pixel: the whole window fits, aspect kept.
    let scale = (w_m / MAP_W).max(h_m / MAP_H);
    let window = Rect::new(
        Coord {
            x: b.center().x - scale * MAP_W / 2.0 / kx,
            y: b.center().y - scale * MAP_H / 2.0 / ky,
        },
        Coord {
            x: b.center().x + scale * MAP_W / 2.0 / kx,
            y: b.center().y + scale * MAP_H / 2.0 / ky,
        },
    );
    let px = |c: Coord| {
        let [x, y] = proj.to_xy(c);
        (MAP_W / 2.0 + x / scale, MAP_H / 2.0 - y / scale)
    };
    let path = |g: &Geometry| -> String {
        let mut d = String::new();
        let mut ring = |coords: &mut dyn Iterator<Item = Coord>, close: bool| {
            for (k, c) in coords.enumerate() {
                let (x, y) = px(c);
                let _ = write!(d, "{}{x:.1},{y:.1}", if k == 0 { "M" } else { "L" });
            }
            if close {
                d.push('Z');
            }
        };
        match g {
            Geometry::LineString(l) => ring(&mut l.coords().copied(), false),
            Geometry::MultiLineString(m) => {
                m.iter().for_each(|l| ring(&mut l.coords().copied(), false))
            }
            Geometry::Polygon(_) | Geometry::MultiPolygon(_) => {
                for p in &crate::coverage::polygons_of(g) {
                    for r in std::iter::once(p.exterior()).chain(p.interiors()) {
                        ring(&mut r.coords().copied(), true);
                    }
                }
            }
            _ => {}
        }
        d
    };
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {MAP_W} {MAP_H}"><rect width="100%" height="100%" fill="#fbfbf8"/>"##
    );
    // Areas first, then lines, then points, so nothing hides the networks.
    let order = [
        "zone",
        "water",
        "parks",
        "sites",
        "roads",
        "pipelines",
        "power_lines",
        "substations",
    ];
    let mut ids: Vec<&str> = layers.iter().map(|l| l.layer.meta.id.as_str()).collect();
    ids.sort_by_key(|id| order.iter().position(|o| o == id).unwrap_or(order.len()));
    for id in ids {
        let Some(l) = layers.iter().find(|l| l.layer.meta.id == id) else {
            continue;
        };
        for i in l.envelope_candidates(window) {
            let f = &l.layer.features[i];
            if id == sites_id && f.id == site_id {
                continue;
            }
            let (stroke, fill, width, dash) = style(id, f);
            match &f.geometry {
                Geometry::Point(p) => {
                    let (x, y) = px(p.0);
                    let _ = write!(
                        s,
                        r#"<rect x="{:.1}" y="{:.1}" width="9" height="9" fill="{fill}" stroke="white"><title>{}</title></rect>"#,
                        x - 4.5,
                        y - 4.5,
                        esc(&f.id)
                    );
                    if let Some(n) = f.property_text("name") {
                        let _ = write!(
                            s,
                            r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#4a2a70">{}</text>"##,
                            x + 7.0,
                            y + 4.0,
                            esc(&n)
                        );
                    }
                }
                g => {
                    let _ = write!(
                        s,
                        r#"<path d="{}" stroke="{stroke}" fill="{fill}" stroke-width="{width}" stroke-dasharray="{dash}" fill-rule="evenodd"><title>{}</title></path>"#,
                        path(g),
                        esc(&f.id)
                    );
                }
            }
        }
    }
    let _ = write!(
        s,
        r##"<path d="{}" stroke="#d0021b" stroke-width="2.5" fill="#d0021b" fill-opacity="0.18"/>"##,
        path(site)
    );
    // Scale bar: 200 m, and a north arrow.
    let bar = 200.0 / scale;
    let _ = write!(
        s,
        r##"<g font-size="10" fill="#222"><rect x="12" y="{y0:.1}" width="{bar:.1}" height="4" fill="#222"/><text x="12" y="{y1:.1}">0</text><text x="{x2:.1}" y="{y1:.1}">200 m</text><text x="{nx:.1}" y="22" font-size="14" font-weight="bold">N ↑</text></g></svg>"##,
        y0 = MAP_H - 18.0,
        y1 = MAP_H - 22.0,
        x2 = 12.0 + bar - 14.0,
        nx = MAP_W - 34.0,
    );
    s.push_str(
        r##"<div class="legend"><span style="color:#d0021b">■ 本地块 this site</span> <span style="color:#444">━ 道路 road</span> <span style="color:#e08a00">╍ 在建道路 road under construction</span> <span style="color:#1f6fd1">━ 给水 water</span> <span style="color:#d4a100">━ 燃气 gas</span> <span style="color:#c0392b">━ 蒸汽 steam</span> <span style="color:#7b3fb5">╍ 电力线 power line ■ 变电站 substation</span> <span style="color:#4c9a4c">■ 公园 park</span></div>"##,
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_the_data_says() {
        assert_eq!(esc("<b a=\"x\">&'"), "&lt;b a=&quot;x&quot;&gt;&amp;&#39;");
    }
}

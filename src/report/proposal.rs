//! The printable comparison of a proposal with the record, in Chinese and
//! English: what it adds, changes and removes, and the consequences side
//! by side (the `/diff` answer, laid out for a planner's file).
//!
//! Must not: know about HTTP. Every text from the data is escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::esc;

/// Per service: its English and Chinese titles, where the rules give them.
pub type Titles = BTreeMap<String, (Option<String>, Option<String>)>;

fn service_title(titles: &Titles, name: &str) -> String {
    match titles.get(name) {
        Some((en, zh)) => format!(
            "{} {}",
            esc(zh.as_deref().unwrap_or("")),
            esc(en.as_deref().unwrap_or(name))
        )
        .trim()
        .to_owned(),
        None => esc(name),
    }
}

fn pct(v: &Value) -> String {
    v.as_f64()
        .map(|x| format!("{:.1}%", x * 100.0))
        .unwrap_or_else(|| "—".into())
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "—".into(),
        Value::String(s) => esc(s),
        other => esc(&other.to_string()),
    }
}

fn scenario_title(sc: &str) -> &'static str {
    match sc {
        "current" => "现状 Current",
        _ => "规划建成后 Planned",
    }
}

/// The page for one `/diff` answer.
pub fn proposal_html(diff: &Value, titles: &Titles) -> String {
    let p = &diff["proposal"];
    let mut h = String::with_capacity(32 * 1024);
    let _ = write!(
        h,
        r#"<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>{title} — 方案比较 Proposal comparison</title>
<style>
@page {{ size: A4; margin: 14mm; }}
body {{ font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif; color: #222; font-size: 10.5pt; max-width: 190mm; margin: 0 auto; }}
h1 {{ font-size: 17pt; margin: 0 0 2pt; }} h2 {{ font-size: 12pt; border-bottom: 1px solid #999; margin: 14pt 0 6pt; }}
h3 {{ font-size: 11pt; margin: 10pt 0 4pt; }}
table {{ border-collapse: collapse; width: 100%; margin: 4pt 0; }} td, th {{ border: 1px solid #bbb; padding: 2pt 4pt; text-align: left; vertical-align: top; }}
th {{ background: #eee; }} .up {{ color: #176117; }} .down {{ color: #a11; }} .sub {{ color: #555; }}
.added {{ color: #176117; }} .removed {{ color: #a11; }} .changed {{ color: #8a5a00; }}
</style></head><body>
<h1>{title}</h1><div class="sub">方案比较 Proposal comparison · <span>{id}</span> · {status} · 作者 author {author}</div>
<p>{description}</p>
<table><tr><th>基准版本 Base revision</th><td>{base}</td><th>对比记录版本 Record revision</th><td>{rev}</td></tr></table>
"#,
        title = text(&p["title"]),
        id = text(&p["id"]),
        status = text(&p["status"]),
        author = text(&p["author"]),
        description = text(&p["description"]),
        base = text(&p["base"]),
        rev = text(&diff["record_revision"]),
    );
    let conflicts = diff["conflicts"].as_array().cloned().unwrap_or_default();
    if !conflicts.is_empty() {
        let _ = write!(h, "<h2>冲突 Conflicts</h2><ul>");
        for c in &conflicts {
            let _ = write!(h, "<li>{}/{}</li>", text(&c["collection"]), text(&c["id"]));
        }
        h.push_str("</ul>");
    }
    let f = &diff["features"];
    let _ = write!(
        h,
        "<h2>要素变化 Features</h2><p>新增 added {} · 修改 changed {} · 删除 removed {}</p><table><tr><th>图层 Collection</th><th>要素 Feature</th><th>变化 Change</th><th>属性 Properties</th></tr>",
        text(&f["added"]),
        text(&f["changed"]),
        text(&f["removed"])
    );
    for x in f["features"].as_array().into_iter().flatten() {
        let change = x["change"].as_str().unwrap_or("");
        let label = match change {
            "added" => "新增 added",
            "removed" => "删除 removed",
            _ => "修改 changed",
        };
        let detail = match change {
            "changed" => x["changed_properties"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|k| {
                    format!(
                        "{}: {} → {}",
                        esc(k),
                        text(&x["before"][k]),
                        text(&x["after"][k])
                    )
                })
                .chain(
                    x["geometry_changed"]
                        .as_bool()
                        .filter(|m| *m)
                        .map(|_| "几何 geometry moved".to_owned()),
                )
                .collect::<Vec<_>>()
                .join("<br>"),
            _ => {
                let name = &x["properties"]["name"];
                text(name)
            }
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"{change}\">{label}</td><td>{detail}</td></tr>",
            text(&x["collection"]),
            text(&x["id"]),
        );
    }
    h.push_str("</table>");
    let c = &diff["consequences"];
    for sc in ["current", "planned"] {
        let s = &c[sc];
        if s.is_null() {
            continue;
        }
        let _ = write!(h, "<h2>后果 Consequences — {}</h2>", scenario_title(sc));
        h.push_str("<h3>园区覆盖率 Zone coverage</h3><table><tr><th>服务 Service</th><th>现状记录 Record</th><th>方案 Proposal</th><th>变化 Change</th></tr>");
        for (name, z) in s["zone"].as_object().into_iter().flatten() {
            let d = z["change"].as_f64().unwrap_or(0.0);
            let class = if d > 1e-9 {
                "up"
            } else if d < -1e-9 {
                "down"
            } else {
                ""
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{:+.1} pp</td></tr>",
                service_title(titles, name),
                pct(&z["before"]),
                pct(&z["after"]),
                d * 100.0
            );
        }
        h.push_str("</table>");
        let areas: Vec<&Value> = s["areas"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["services"].is_object())
            .collect();
        if !areas.is_empty() {
            h.push_str("<h3>分区覆盖率 Coverage by area</h3><table><tr><th>分区 Area</th><th>服务 Service</th><th>记录 Record</th><th>方案 Proposal</th></tr>");
            for a in areas {
                for (name, x) in a["services"].as_object().into_iter().flatten() {
                    let d = x["change"].as_f64().unwrap_or(0.0);
                    if d.abs() < 1e-9 {
                        continue;
                    }
                    let _ = write!(
                        h,
                        "<tr><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        text(&a["name"]),
                        text(&a["name_en"]),
                        service_title(titles, name),
                        pct(&x["before"]),
                        pct(&x["after"])
                    );
                }
            }
            h.push_str("</table>");
        }
        let sites = s["sites"].as_array().cloned().unwrap_or_default();
        let _ = write!(
            h,
            "<h3>地块 Sites whose service changes ({})</h3>",
            sites.len()
        );
        if !sites.is_empty() {
            h.push_str("<table><tr><th>地块 Site</th><th>服务 Service</th><th>记录 Record</th><th>方案 Proposal</th></tr>");
            for site in &sites {
                for (name, ch) in site["services"].as_object().into_iter().flatten() {
                    let side = |v: &Value| {
                        if v.is_null() {
                            return "—".to_owned();
                        }
                        let conn = if v["connectable"].as_bool() == Some(true) {
                            "✔ 可接入 connectable"
                        } else {
                            "✘ 不可接入 not connectable"
                        };
                        let to = text(&v["connect_to"]);
                        let src = v["sources"]
                            .as_array()
                            .map(|a| a.iter().map(text).collect::<Vec<_>>().join(", "))
                            .unwrap_or_default();
                        let red = match v["redundant"].as_bool() {
                            Some(true) => " · 双电源 redundant",
                            _ => "",
                        };
                        format!(
                            "{conn} → {to}{}{red}",
                            if src.is_empty() {
                                String::new()
                            } else {
                                format!(" · 电源 sources {src}")
                            }
                        )
                    };
                    let _ = write!(
                        h,
                        "<tr><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        text(&site["site"]["name"]),
                        text(&site["site"]["id"]),
                        service_title(titles, name),
                        side(&ch["before"]),
                        side(&ch["after"])
                    );
                }
            }
            h.push_str("</table>");
        }
        if let Some(list) = s["substations"].as_array() {
            let _ = write!(h, "<h3>变电站负荷 Substation loads ({})</h3>", list.len());
            if !list.is_empty() {
                h.push_str("<table><tr><th>变电站 Substation</th><th>记录负载率 Record load</th><th>方案负载率 Proposal load</th></tr>");
                for x in list {
                    let load = |v: &Value| match v["load_ratio"].as_f64() {
                        Some(r) => format!(
                            "{:.0}% ({:.0} kW)",
                            r * 100.0,
                            v["demand_kw"].as_f64().unwrap_or(0.0)
                        ),
                        None if v.is_null() => "—".into(),
                        None => format!("{:.0} kW", v["demand_kw"].as_f64().unwrap_or(0.0)),
                    };
                    let name = x["after"]["substation"]["name"].clone();
                    let name = if name.is_null() {
                        x["before"]["substation"]["name"].clone()
                    } else {
                        name
                    };
                    let _ = write!(
                        h,
                        "<tr><td>{} {}</td><td>{}</td><td>{}</td></tr>",
                        text(&name),
                        text(&x["id"]),
                        load(&x["before"]),
                        load(&x["after"])
                    );
                }
                h.push_str("</table>");
            }
        }
        h.push_str("<h3>单点故障 Single points of failure</h3><table><tr><th>服务 Service</th><th>记录 Record</th><th>方案 Proposal</th><th>新增 Gained</th><th>消除 Lost</th></tr>");
        for (name, x) in s["critical"].as_object().into_iter().flatten() {
            let ids = |v: &Value| {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .map(|e| text(&e["asset"]["id"]))
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default()
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"down\">{}</td><td class=\"up\">{}</td></tr>",
                service_title(titles, name),
                text(&x["before"]),
                text(&x["after"]),
                ids(&x["gained"]),
                ids(&x["lost"])
            );
        }
        h.push_str("</table>");
        h.push_str("<h3>按状态统计 Assets by status</h3><table><tr><th>服务 Service</th><th>状态 Status</th><th>记录 Record</th><th>方案 Proposal</th></tr>");
        for (name, x) in s["by_status"].as_object().into_iter().flatten() {
            if x["differs"].as_bool() != Some(true) {
                continue;
            }
            let measure = x["measure"].as_str().unwrap_or("count");
            let statuses: std::collections::BTreeSet<&String> = x["before"]
                .as_object()
                .into_iter()
                .chain(x["after"].as_object())
                .flat_map(|o| o.keys())
                .collect();
            for st in statuses {
                let fig = |v: &Value| text(&v[st.as_str()][measure]);
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    service_title(titles, name),
                    esc(st),
                    fig(&x["before"]),
                    fig(&x["after"])
                );
            }
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>");
    h
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_comparison_escapes_what_the_data_says() {
        let diff = serde_json::json!({
            "proposal": {"title": "<script>x</script>", "id": "p-1", "status": "open", "author": "a&b", "description": "", "base": 3},
            "record_revision": 4,
            "features": {"added": 1, "changed": 0, "removed": 0, "features": [
                {"collection": "roads", "id": "R<1>", "change": "added", "properties": {"name": "<b>"}}]},
            "consequences": {},
        });
        let h = super::proposal_html(&diff, &Default::default());
        assert!(!h.contains("<script>x"));
        assert!(h.contains("&lt;script&gt;") && h.contains("R&lt;1&gt;") && h.contains("a&amp;b"));
    }
}

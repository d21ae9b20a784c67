//! Headline figures of a scenario: per service counts, lengths, areas and
//! capacities, and every service's assets by status (`by_status`, in its
//! `measure`: km of line, m² of area, or a count of points); sites by kind;
//! the zone's coverage shares.

use std::collections::BTreeMap;
use std::sync::Arc;

use geo::Geometry;
use serde_json::Value;

use super::{polygons_of, Coverage, Scenario};
use crate::geodesy;
use crate::index::IndexedLayer;
use crate::model::GeometryKind;

impl Coverage {
    /// Headline figures: roads by status, network lengths, substations by
    /// voltage, park area, site count, zone shares.
    pub fn stats(&self, layers: &[Arc<IndexedLayer>], sc: Scenario) -> Value {
        let status_prop = &self.rules.scenarios.status_property;
        let length_km = |g: &Geometry| -> f64 {
            match g {
                Geometry::LineString(ls) => geodesy::length_m(&ls.0) / 1000.0,
                Geometry::MultiLineString(m) => {
                    m.0.iter().map(|l| geodesy::length_m(&l.0)).sum::<f64>() / 1000.0
                }
                _ => 0.0,
            }
        };
        let round3 = |x: f64| (x * 1000.0).round() / 1000.0;
        let mut out = serde_json::Map::new();
        out.insert(
            "scenario".into(),
            serde_json::to_value(sc).unwrap_or(Value::Null),
        );
        for s in &self.services {
            let layer = &layers[s.layer];
            let kind = layer.layer.meta.geometry;
            // One pass, each asset measured once (km of line, m² of area):
            // by status over the planned scenario's assets, in total over
            // this scenario's.
            let measure_of = |g: &Geometry| match kind {
                GeometryKind::LineString => length_km(g),
                GeometryKind::Polygon => polygons_of(g)
                    .iter()
                    .map(geodesy::polygon_area_m2)
                    .sum::<f64>(),
                GeometryKind::Point => 0.0,
            };
            let mut by: BTreeMap<String, (usize, f64)> = BTreeMap::new();
            let (mut n, mut total) = (0usize, 0.0);
            for (i, f) in layer.layer.features.indexed() {
                let planned = s.eligible[Scenario::Planned.at()][i];
                let here = s.eligible[sc.at()][i];
                if !planned && !here {
                    continue;
                }
                let m = measure_of(&f.geometry);
                if planned {
                    let e = by
                        .entry(f.property_text(status_prop).unwrap_or_default())
                        .or_default();
                    e.0 += 1;
                    e.1 += m;
                }
                if here {
                    n += 1;
                    total += m;
                }
            }
            let figures = |n: usize, x: f64| match kind {
                GeometryKind::LineString => serde_json::json!({"count": n, "length_km": round3(x)}),
                GeometryKind::Polygon => serde_json::json!({"count": n, "area_m2": x.round()}),
                GeometryKind::Point => serde_json::json!({ "count": n }),
            };
            let mut v = match s.name {
                "road" => serde_json::json!({ "in_scenario": figures(n, total) }),
                "power" => {
                    let mut by_kv: BTreeMap<String, (usize, f64)> = BTreeMap::new();
                    let in_scenario = layer
                        .layer
                        .features
                        .indexed()
                        .filter(|(i, _)| s.eligible[sc.at()][*i]);
                    for (_, f) in in_scenario {
                        let e = by_kv
                            .entry(f.property_text("voltage_kv").unwrap_or_default())
                            .or_default();
                        e.0 += 1;
                        e.1 += f
                            .properties
                            .get("capacity_mva")
                            .and_then(Value::as_f64)
                            .unwrap_or(0.0);
                    }
                    let by_kv: serde_json::Map<String, Value> = by_kv
                        .into_iter()
                        .map(|(k, (n, mva))| {
                            (k, serde_json::json!({"count": n, "capacity_mva": mva}))
                        })
                        .collect();
                    serde_json::json!({"substations_by_voltage_kv": by_kv})
                }
                _ => figures(n, total),
            };
            let measure = match kind {
                GeometryKind::LineString => "length_km",
                GeometryKind::Polygon => "area_m2",
                GeometryKind::Point => "count",
            };
            let by_status: serde_json::Map<String, Value> = by
                .into_iter()
                .map(|(k, (n, x))| (k, figures(n, x)))
                .collect();
            if let Some(o) = v.as_object_mut() {
                o.insert("measure".into(), measure.into());
                o.insert("by_status".into(), Value::Object(by_status));
            }
            out.insert(s.name.to_string(), v);
        }
        if let Some(sl) = self.sites_layer {
            let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
            for f in layers[sl].layer.features.live() {
                *by_kind
                    .entry(f.property_text("kind").unwrap_or_default())
                    .or_default() += 1;
            }
            out.insert(
                "sites".into(),
                serde_json::json!({"count": layers[sl].layer.features.count(), "by_kind": by_kind}),
            );
        }
        let mut shares = serde_json::Map::new();
        let mut zone_area = 0.0;
        for s in &self.services {
            if let Some(z) = self.zone(layers, s.name, sc) {
                zone_area = z.area_m2;
                shares.insert(s.name.to_string(), serde_json::json!(z.share));
            }
        }
        out.insert(
            "zone".into(),
            serde_json::json!({"area_km2": round3(zone_area / 1e6), "coverage_share": shares}),
        );
        Value::Object(out)
    }
}

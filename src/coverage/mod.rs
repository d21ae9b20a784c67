//! Coverage answers: is a place served, by what, how far, what share of a
//! parcel or of the zone, where the gaps are, and which sources feed it.
//!
//! `Coverage::build` resolves `coverage.toml` against the loaded layers once:
//! which features provide each service in each scenario, each feature's
//! reach, and the network graphs for tracing. Zone shares and gap polygons
//! are computed on first use and cached (the catalog never changes).
//!
//! Must not: know about HTTP; do I/O (the rules arrive parsed).

pub mod area;
pub mod network;
pub mod rules;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use geo::{
    BoundingRect, Coord, Distance, Euclidean, Geometry, GeometryCollection, MultiPolygon, Rect,
};
use serde::Serialize;
use serde_json::Value;

use crate::geodesy::{self, LocalProjection};
use crate::index::IndexedLayer;
use network::{Network, Tracing};
use rules::{Rules, Selector, SERVICES};

/// Which assets count: only existing ones, or also those being built and planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    Current,
    Planned,
}

impl Scenario {
    pub const ALL: [Scenario; 2] = [Scenario::Current, Scenario::Planned];

    /// Parse `current` or `planned`.
    pub fn parse(s: &str) -> Option<Scenario> {
        match s {
            "current" => Some(Scenario::Current),
            "planned" => Some(Scenario::Planned),
            _ => None,
        }
    }

    fn at(self) -> usize {
        self as usize
    }
}

/// A feature named in an answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AssetRef {
    pub collection: String,
    pub id: String,
    pub name: Option<String>,
}

/// A feature switched off hypothetically (`?without=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch {
    pub layer: usize,
    pub feature: usize,
}

/// One service's answer at a point.
#[derive(Debug, Clone, Serialize)]
pub struct PointAnswer {
    pub service: &'static str,
    pub covered: bool,
    /// Metres to the nearest asset (the serving one for power); null when the
    /// scenario has none.
    pub distance_m: Option<f64>,
    pub reach_m: f64,
    pub nearest: Option<AssetRef>,
    #[serde(flatten)]
    pub supply: Option<Supply>,
}

/// Network tracing: the sources that reach a place, and whether two or more do.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Supply {
    pub sources: Vec<AssetRef>,
    pub redundant: bool,
}

/// One service's answer for an area.
#[derive(Debug, Clone, Serialize)]
pub struct AreaAnswer {
    pub service: &'static str,
    pub covered_m2: f64,
    pub share: f64,
    pub reach_m: f64,
    /// The assets whose reach touches the area.
    pub assets: Vec<AssetRef>,
    #[serde(flatten)]
    pub supply: Option<Supply>,
}

/// A service's coverage of the whole zone (cached).
#[derive(Debug, Clone)]
pub struct ZoneResult {
    pub area_m2: f64,
    pub covered_m2: f64,
    pub share: f64,
    /// The uncovered parts, lon/lat.
    pub gaps: MultiPolygon,
}

/// An area to measure: projected shape, its lon/lat extent, the projection.
#[derive(Clone, Copy)]
struct Region<'a> {
    shape: &'a MultiPolygon,
    bbox: Rect,
    proj: &'a LocalProjection,
}

#[derive(Debug)]
struct ServiceNetwork {
    lines_layer: usize,
    sources_layer: usize,
    /// Whether the service's own assets are the network's lines (water) or
    /// its sources (power substations).
    assets_are_lines: bool,
    line_on: [Vec<bool>; 2],
    source_on: [Vec<bool>; 2],
    graph: Network,
    traced: [Tracing; 2],
}

#[derive(Debug)]
struct Service {
    name: &'static str,
    layer: usize,
    eligible: [Vec<bool>; 2],
    reach: Vec<f64>,
    max_reach: f64,
    default_reach: f64,
    network: Option<ServiceNetwork>,
}

/// Coverage rules resolved against the layers.
#[derive(Debug)]
pub struct Coverage {
    pub rules: Rules,
    services: Vec<Service>,
    /// The zone (lon/lat) and in the catalog projection.
    zone: MultiPolygon,
    zone_metric: MultiPolygon,
    sites_layer: Option<usize>,
    proj: LocalProjection,
    cache: Vec<[OnceLock<ZoneResult>; 2]>,
    /// Set while `warm` computes the zone results in the background.
    warming: AtomicBool,
}

fn layer_index(layers: &[IndexedLayer], id: &str, what: &str) -> Result<usize, String> {
    layers
        .iter()
        .position(|l| l.layer.meta.id == id)
        .ok_or_else(|| format!("{what}: no collection {id:?}"))
}

/// Which features of a layer a selector picks (ignoring status).
fn selected(layer: &IndexedLayer, sel: &Selector) -> Vec<bool> {
    let filter = sel.filter_text();
    layer
        .layer
        .features
        .iter()
        .map(|f| {
            filter
                .iter()
                .all(|(k, v)| f.property_text(k).as_deref() == Some(v))
        })
        .collect()
}

fn polygons_of(g: &Geometry) -> Vec<geo::Polygon> {
    match g {
        Geometry::Polygon(p) => vec![p.clone()],
        Geometry::MultiPolygon(m) => m.0.clone(),
        _ => vec![],
    }
}

/// Shares to 6 decimals: the overlay's floating-point noise (1e-11) would
/// otherwise turn a full cover into 0.99999999995.
fn round_share(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn feature_name(f: &crate::model::Feature) -> Option<String> {
    f.property_text("name")
}

impl Coverage {
    /// Resolve the rules against the layers; errors name what is wrong.
    pub fn build(
        layers: &[IndexedLayer],
        proj: LocalProjection,
        rules: Rules,
    ) -> Result<Coverage, String> {
        let status_prop = rules.scenarios.status_property.clone();
        let sets = [
            rules.scenarios.current.clone(),
            rules.scenarios.planned.clone(),
        ];
        let in_scenario = |layer: &IndexedLayer, member: &[bool]| -> [Vec<bool>; 2] {
            Scenario::ALL.map(|sc| {
                layer
                    .layer
                    .features
                    .iter()
                    .zip(member)
                    .map(|(f, &m)| {
                        m && f
                            .property_text(&status_prop)
                            .is_none_or(|s| sets[sc.at()].contains(&s))
                    })
                    .collect()
            })
        };

        let mut services = Vec::new();
        for name in SERVICES {
            let Some(rule) = rules.services.get(name) else {
                continue;
            };
            let what = format!("service {name}");
            let li = layer_index(layers, &rule.collection, &what)?;
            let layer = &layers[li];
            let member = selected(layer, &rule.selector());
            let reach: Vec<f64> = layer
                .layer
                .features
                .iter()
                .map(|f| {
                    let own = rule
                        .reach_property
                        .as_ref()
                        .and_then(|p| f.properties.get(p))
                        .and_then(Value::as_f64)
                        .filter(|r| r.is_finite() && *r > 0.0);
                    let by = rule.reach_by.as_ref().and_then(|b| {
                        f.property_text(&b.property)
                            .and_then(|v| b.values.get(&v).copied())
                    });
                    own.or(by).unwrap_or(rule.reach_m)
                })
                .collect();
            let max_reach = reach
                .iter()
                .zip(&member)
                .filter(|(_, m)| **m)
                .map(|(r, _)| *r)
                .fold(rule.reach_m, f64::max);
            let network = match &rule.network {
                None => None,
                Some(n) => {
                    let lines_sel = n.lines.clone().unwrap_or_else(|| rule.selector());
                    let sources_sel = n.sources.clone().unwrap_or_else(|| rule.selector());
                    let lines_layer = layer_index(layers, &lines_sel.collection, &what)?;
                    let sources_layer = layer_index(layers, &sources_sel.collection, &what)?;
                    let line_member = selected(&layers[lines_layer], &lines_sel);
                    let source_member = selected(&layers[sources_layer], &sources_sel);
                    let geoms = |l: usize, m: &[bool]| -> Vec<Option<&Geometry>> {
                        layers[l]
                            .layer
                            .features
                            .iter()
                            .zip(m)
                            .map(|(f, &on)| on.then_some(&f.geometry))
                            .collect()
                    };
                    let graph = Network::build(
                        &geoms(lines_layer, &line_member),
                        &geoms(sources_layer, &source_member),
                        &proj,
                        n.tolerance_m,
                    );
                    let line_on = in_scenario(&layers[lines_layer], &line_member);
                    let source_on = in_scenario(&layers[sources_layer], &source_member);
                    let traced = Scenario::ALL
                        .map(|sc| graph.trace(|i| line_on[sc.at()][i], |i| source_on[sc.at()][i]));
                    Some(ServiceNetwork {
                        lines_layer,
                        sources_layer,
                        assets_are_lines: lines_layer == li && n.lines.is_none(),
                        line_on,
                        source_on,
                        graph,
                        traced,
                    })
                }
            };
            services.push(Service {
                name,
                layer: li,
                eligible: in_scenario(layer, &member),
                reach,
                max_reach,
                default_reach: rule.reach_m,
                network,
            });
        }

        let zone_layer = layer_index(layers, &rules.zone.collection, "zone")?;
        let zone_member = selected(&layers[zone_layer], &rules.zone);
        let zone_polys: Vec<geo::Polygon> = layers[zone_layer]
            .layer
            .features
            .iter()
            .zip(&zone_member)
            .filter(|(_, m)| **m)
            .flat_map(|(f, _)| polygons_of(&f.geometry))
            .collect();
        if zone_polys.is_empty() {
            return Err("zone: the selector matches no polygon".into());
        }
        let zone = MultiPolygon(zone_polys);
        let zone_metric = match area::to_metric(&Geometry::MultiPolygon(zone.clone()), &proj) {
            Geometry::MultiPolygon(m) => m,
            _ => unreachable!("map_coords keeps the geometry type"),
        };
        let sites_layer = match &rules.sites {
            Some(s) => Some(layer_index(layers, &s.collection, "sites")?),
            None => None,
        };
        let cache = services
            .iter()
            .map(|_| [OnceLock::new(), OnceLock::new()])
            .collect();
        Ok(Coverage {
            rules,
            services,
            zone,
            zone_metric,
            sites_layer,
            proj,
            cache,
            warming: AtomicBool::new(false),
        })
    }

    /// The services this data folder defines, in answer order.
    pub fn service_names(&self) -> Vec<&'static str> {
        self.services.iter().map(|s| s.name).collect()
    }

    /// Find a network feature to switch off by id, among every service's
    /// network lines and sources.
    pub fn find_switch(&self, layers: &[IndexedLayer], id: &str) -> Option<Switch> {
        for s in &self.services {
            if let Some(n) = &s.network {
                for layer in [n.lines_layer, n.sources_layer] {
                    if let Some(feature) = layers[layer].layer.position(id) {
                        return Some(Switch { layer, feature });
                    }
                }
            }
        }
        None
    }

    fn asset(&self, layers: &[IndexedLayer], layer: usize, i: usize) -> AssetRef {
        let f = &layers[layer].layer.features[i];
        AssetRef {
            collection: layers[layer].layer.meta.id.clone(),
            id: f.id.clone(),
            name: feature_name(f),
        }
    }

    /// Eligible in the scenario, and not switched off.
    fn on(&self, s: &Service, sc: Scenario, off: Option<Switch>, i: usize) -> bool {
        s.eligible[sc.at()][i]
            && off
                != Some(Switch {
                    layer: s.layer,
                    feature: i,
                })
    }

    /// Sources reaching the given assets of a service through its network.
    fn supply(
        &self,
        layers: &[IndexedLayer],
        s: &Service,
        sc: Scenario,
        off: Option<Switch>,
        assets: &[usize],
    ) -> Option<Supply> {
        let n = s.network.as_ref()?;
        let own;
        let traced = match off {
            None => &n.traced[sc.at()],
            Some(sw) => {
                own = n.graph.trace(
                    |i| {
                        n.line_on[sc.at()][i]
                            && sw
                                != Switch {
                                    layer: n.lines_layer,
                                    feature: i,
                                }
                    },
                    |i| {
                        n.source_on[sc.at()][i]
                            && sw
                                != Switch {
                                    layer: n.sources_layer,
                                    feature: i,
                                }
                    },
                );
                &own
            }
        };
        let mut found = BTreeSet::new();
        for &a in assets {
            let s = if n.assets_are_lines {
                n.graph.sources_of_line(traced, a)
            } else {
                n.graph.sources_of_source(traced, a)
            };
            found.extend(s);
        }
        let sources: Vec<AssetRef> = found
            .iter()
            .map(|&i| self.asset(layers, n.sources_layer, i))
            .collect();
        Some(Supply {
            redundant: sources.len() >= 2,
            sources,
        })
    }

    /// Every service's answer at a lon/lat point.
    pub fn at_point(
        &self,
        layers: &[IndexedLayer],
        q: Coord,
        sc: Scenario,
        off: Option<Switch>,
    ) -> Vec<PointAnswer> {
        self.services
            .iter()
            .map(|s| {
                let layer = &layers[s.layer];
                let keep = |i: usize| self.on(s, sc, off, i);
                // Serving: the nearest asset whose own reach includes q.
                let serving = layer
                    .within_where(q, s.max_reach, keep)
                    .into_iter()
                    .find(|h| h.distance_m <= s.reach[h.feature]);
                let (hit, covered) = match serving {
                    Some(h) => (Some(h), true),
                    None => (layer.nearest_where(q, 1, keep).into_iter().next(), false),
                };
                let supply = match (&s.network, hit) {
                    (Some(_), Some(h)) if covered => self.supply(layers, s, sc, off, &[h.feature]),
                    (Some(_), _) => Some(Supply {
                        sources: vec![],
                        redundant: false,
                    }),
                    (None, _) => None,
                };
                PointAnswer {
                    service: s.name,
                    covered,
                    distance_m: hit.map(|h| (h.distance_m * 100.0).round() / 100.0),
                    reach_m: hit.map_or(s.default_reach, |h| s.reach[h.feature]),
                    nearest: hit.map(|h| self.asset(layers, s.layer, h.feature)),
                    supply,
                }
            })
            .collect()
    }

    /// The part of a region within reach of a service, and the assets that
    /// reach it.
    fn covered_part(
        &self,
        layers: &[IndexedLayer],
        s: &Service,
        sc: Scenario,
        off: Option<Switch>,
        region: &Region,
    ) -> (MultiPolygon, Vec<usize>) {
        let Region {
            shape: region,
            bbox,
            proj,
        } = *region;
        let (kx, ky) = geodesy::metres_per_degree(bbox.center().y);
        let pad = s.max_reach * 1.01;
        let grown = Rect::new(
            Coord {
                x: bbox.min().x - pad / kx,
                y: bbox.min().y - pad / ky,
            },
            Coord {
                x: bbox.max().x + pad / kx,
                y: bbox.max().y + pad / ky,
            },
        );
        let region_g = Geometry::MultiPolygon(region.clone());
        let layer = &layers[s.layer];
        let mut by_reach: BTreeMap<u64, Vec<Geometry>> = BTreeMap::new();
        let mut reaching = Vec::new();
        for i in layer.envelope_candidates(grown) {
            if !self.on(s, sc, off, i) {
                continue;
            }
            let g = area::to_metric(&layer.layer.features[i].geometry, proj);
            if Euclidean.distance(&g, &region_g) <= s.reach[i] {
                reaching.push(i);
                by_reach.entry(s.reach[i].to_bits()).or_default().push(g);
            }
        }
        // One buffer per distinct reach: i_overlay unions within a call.
        let parts: Vec<MultiPolygon> = by_reach
            .into_iter()
            .map(|(r, gs)| {
                area::buffer(
                    &Geometry::GeometryCollection(GeometryCollection(gs)),
                    f64::from_bits(r),
                )
            })
            .collect();
        let reach_area = area::union_all(&parts);
        (area::intersection(&reach_area, region), reaching)
    }

    /// Coverage of a lon/lat (multi)polygon, per service.
    pub fn parcel(
        &self,
        layers: &[IndexedLayer],
        parcel: &MultiPolygon,
        sc: Scenario,
        off: Option<Switch>,
    ) -> (f64, Vec<AreaAnswer>) {
        let Some(bbox) = parcel.bounding_rect() else {
            return (0.0, vec![]);
        };
        let proj = LocalProjection::new(bbox.center());
        let region = match area::to_metric(&Geometry::MultiPolygon(parcel.clone()), &proj) {
            Geometry::MultiPolygon(m) => m,
            _ => unreachable!("map_coords keeps the geometry type"),
        };
        let total = area::area_m2(&region);
        let answers = self
            .services
            .iter()
            .map(|s| {
                let whole = Region {
                    shape: &region,
                    bbox,
                    proj: &proj,
                };
                let (covered, reaching) = self.covered_part(layers, s, sc, off, &whole);
                let covered_m2 = area::area_m2(&covered).min(total);
                AreaAnswer {
                    service: s.name,
                    covered_m2: covered_m2.round(),
                    share: if total > 0.0 {
                        round_share(covered_m2 / total)
                    } else {
                        0.0
                    },
                    reach_m: s.default_reach,
                    assets: reaching
                        .iter()
                        .map(|&i| self.asset(layers, s.layer, i))
                        .collect(),
                    supply: self.supply(layers, s, sc, off, &reaching),
                }
            })
            .collect();
        (total, answers)
    }

    /// A service's coverage of the whole zone, computed once per scenario.
    pub fn zone(
        &self,
        layers: &[IndexedLayer],
        service: &str,
        sc: Scenario,
    ) -> Option<&ZoneResult> {
        let idx = self.services.iter().position(|s| s.name == service)?;
        Some(self.cache[idx][sc.at()].get_or_init(|| {
            let s = &self.services[idx];
            let bbox = self.zone.bounding_rect().expect("zone has polygons");
            let whole = Region {
                shape: &self.zone_metric,
                bbox,
                proj: &self.proj,
            };
            let (covered, _) = self.covered_part(layers, s, sc, None, &whole);
            let area_m2 = area::area_m2(&self.zone_metric);
            let covered_m2 = area::area_m2(&covered).min(area_m2);
            let gaps = area::difference(&self.zone_metric, &covered);
            // Slivers below 1 m² are arithmetic noise of the overlay, not gaps.
            let gaps = MultiPolygon(
                gaps.0
                    .into_iter()
                    .filter(|p| geo::Area::unsigned_area(p) >= 1.0)
                    .collect(),
            );
            ZoneResult {
                area_m2,
                covered_m2,
                share: round_share(covered_m2 / area_m2),
                gaps: area::to_lonlat(&gaps, &self.proj),
            }
        }))
    }

    /// Compute every zone result now (both scenarios), so the first request
    /// does not wait. `main` runs it in the background after binding.
    pub fn warm(&self, layers: &[IndexedLayer]) {
        self.warming.store(true, Ordering::SeqCst);
        for sc in Scenario::ALL {
            for s in &self.services {
                self.zone(layers, s.name, sc);
            }
        }
        self.warming.store(false, Ordering::SeqCst);
    }

    /// Whether every zone result of a scenario is computed, or nobody is
    /// computing them (then a caller computes what it needs itself). Lets the
    /// API answer "not ready, retry" rather than hold a request for the
    /// seconds a city-scale dataset takes.
    pub fn zone_ready(&self, sc: Scenario) -> bool {
        !self.warming.load(Ordering::SeqCst)
            || self.cache.iter().all(|c| c[sc.at()].get().is_some())
    }

    /// Every site's coverage: the planner's checklist.
    pub fn sites(
        &self,
        layers: &[IndexedLayer],
        sc: Scenario,
        off: Option<Switch>,
    ) -> Vec<(AssetRef, f64, Vec<AreaAnswer>)> {
        let Some(sl) = self.sites_layer else {
            return vec![];
        };
        layers[sl]
            .layer
            .features
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let parcel = MultiPolygon(polygons_of(&f.geometry));
                let (area_m2, answers) = self.parcel(layers, &parcel, sc, off);
                (self.asset(layers, sl, i), area_m2, answers)
            })
            .collect()
    }

    /// Headline figures: roads by status, network lengths, substations by
    /// voltage, park area, site count, zone shares.
    pub fn stats(&self, layers: &[IndexedLayer], sc: Scenario) -> Value {
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
            let picked: Vec<&crate::model::Feature> = layer
                .layer
                .features
                .iter()
                .enumerate()
                .filter(|(i, _)| s.eligible[Scenario::Planned.at()][*i])
                .map(|(_, f)| f)
                .collect();
            let in_scenario = layer
                .layer
                .features
                .iter()
                .enumerate()
                .filter(|(i, _)| s.eligible[sc.at()][*i]);
            let v = match s.name {
                "road" => {
                    let mut by: BTreeMap<String, (usize, f64)> = BTreeMap::new();
                    for f in &picked {
                        let e = by
                            .entry(f.property_text(status_prop).unwrap_or_default())
                            .or_default();
                        e.0 += 1;
                        e.1 += length_km(&f.geometry);
                    }
                    let by_status: serde_json::Map<String, Value> = by
                        .into_iter()
                        .map(|(k, (n, km))| {
                            (k, serde_json::json!({"count": n, "length_km": round3(km)}))
                        })
                        .collect();
                    let (n, km) = in_scenario.fold((0, 0.0), |(n, km), (_, f)| {
                        (n + 1, km + length_km(&f.geometry))
                    });
                    serde_json::json!({"by_status": by_status, "in_scenario": {"count": n, "length_km": round3(km)}})
                }
                "power" => {
                    let mut by: BTreeMap<String, (usize, f64)> = BTreeMap::new();
                    for (_, f) in in_scenario {
                        let e = by
                            .entry(f.property_text("voltage_kv").unwrap_or_default())
                            .or_default();
                        e.0 += 1;
                        e.1 += f
                            .properties
                            .get("capacity_mva")
                            .and_then(Value::as_f64)
                            .unwrap_or(0.0);
                    }
                    let by_kv: serde_json::Map<String, Value> = by
                        .into_iter()
                        .map(|(k, (n, mva))| {
                            (k, serde_json::json!({"count": n, "capacity_mva": mva}))
                        })
                        .collect();
                    serde_json::json!({"substations_by_voltage_kv": by_kv})
                }
                "park" => {
                    let (n, m2) = in_scenario.fold((0, 0.0), |(n, a), (_, f)| {
                        (
                            n + 1,
                            a + polygons_of(&f.geometry)
                                .iter()
                                .map(geodesy::polygon_area_m2)
                                .sum::<f64>(),
                        )
                    });
                    serde_json::json!({"count": n, "area_m2": m2.round()})
                }
                _ => {
                    let (n, km) = in_scenario.fold((0, 0.0), |(n, km), (_, f)| {
                        (n + 1, km + length_km(&f.geometry))
                    });
                    serde_json::json!({"count": n, "length_km": round3(km)})
                }
            };
            out.insert(s.name.to_string(), v);
        }
        if let Some(sl) = self.sites_layer {
            let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
            for f in &layers[sl].layer.features {
                *by_kind
                    .entry(f.property_text("kind").unwrap_or_default())
                    .or_default() += 1;
            }
            out.insert(
                "sites".into(),
                serde_json::json!({"count": layers[sl].layer.features.len(), "by_kind": by_kind}),
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

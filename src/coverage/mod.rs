//! Coverage answers: is a place served, by what, how far, what share of a
//! parcel or of the zone, where the gaps are, and which sources feed it.
//!
//! `Coverage::build` resolves `coverage.toml` against the loaded layers once:
//! which features provide each service in each scenario, each feature's
//! reach, and the network graphs for tracing. After an edit,
//! `build_reusing` shares every service whose layers did not change and
//! carries per-feature values over for the features that did not. Zone
//! shares and gap polygons are computed on first use and cached per
//! snapshot (kept across edits that leave their inputs alone).
//!
//! Must not: know about HTTP; do I/O (the rules arrive parsed).

pub mod area;
pub mod capacity;
pub mod network;
pub mod outage;
pub mod rules;
mod separation;
pub mod suitable;
pub mod sweep;
mod zone;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use geo::{BoundingRect, Coord, Geometry, GeometryCollection, MultiPolygon, Rect};
use serde::Serialize;
use serde_json::Value;

use crate::budget::{Deadline, Exceeded};
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

    /// `current` or `planned`.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Current => "current",
            Scenario::Planned => "planned",
        }
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
    /// Whether some eligible asset lies within its reach of the area's
    /// boundary (or inside it): the area can be connected.
    pub connectable: bool,
    /// Metres from the area to the nearest eligible asset (0 when one lies
    /// inside or crosses it); null when none lies within the service's
    /// largest reach.
    pub distance_m: Option<f64>,
    /// The asset it would connect to: the nearest one whose reach includes
    /// the area.
    pub connect_to: Option<AssetRef>,
    pub covered_m2: f64,
    /// Share of the area within reach of the service (every point of it).
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

/// The assets of one service near one region (`Coverage::near`).
struct Near {
    /// Assets whose reach touches the region: distance (m), position,
    /// projected geometry.
    reaching: Vec<(f64, usize, Geometry)>,
    /// The nearest eligible asset in the reach window, with its distance (m).
    nearest: Option<(f64, usize)>,
}

impl Near {
    /// The nearest asset whose own reach includes the region.
    fn connect(&self) -> Option<usize> {
        self.reaching
            .iter()
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .map(|&(_, i, _)| i)
    }

    fn positions(&self) -> Vec<usize> {
        self.reaching.iter().map(|&(_, i, _)| i).collect()
    }
}

/// An area to measure: projected shape, its lon/lat extent, the projection.
#[derive(Clone, Copy)]
struct Region<'a> {
    shape: &'a MultiPolygon,
    /// The shape's parts, indexed for distances.
    parts: &'a area::Parts<'a>,
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
    /// Each site's own connections (site position -> line positions): lines
    /// naming it in the rules' `site_property`.
    links: SiteLinks,
    /// Lines naming a site that does not exist.
    dangling: Vec<Dangling>,
}

/// Each site's own connections: site position -> line positions.
type SiteLinks = HashMap<usize, Vec<usize>>;
/// A line naming a site that does not exist: (line id, site id).
pub type Dangling = (String, String);

/// What a place draws on: a site's own connections when it has any in the
/// scenario, else every asset within reach.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Feeds {
    /// Lines of the network (positions in its lines layer).
    Links(Vec<usize>),
    /// The service's own assets (positions in its layer).
    Assets(Vec<usize>),
}

/// Whether an asset (layer, position) is out of service hypothetically.
pub(crate) type Out<'a> = &'a dyn Fn(usize, usize) -> bool;

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
    /// The rules, shared across snapshots (they change only with a restart).
    pub rules: Arc<Rules>,
    /// Shared with the previous snapshot's coverage when the service's
    /// layers did not change (`build_reusing`).
    services: Vec<Arc<Service>>,
    /// The zone (lon/lat) and in the catalog projection.
    /// Shared with the previous coverage while the zone layer is unchanged.
    zone: Arc<MultiPolygon>,
    zone_metric: Arc<MultiPolygon>,
    sites_layer: Option<usize>,
    proj: LocalProjection,
    cache: Vec<[OnceLock<Arc<ZoneResult>>; 2]>,
    /// The sites checklist without a switched-off asset, per scenario:
    /// the map asks for it on every statistics render.
    sites_cache: [OnceLock<Arc<Vec<SiteAnswer>>>; 2],
    /// Set while `warm` computes the zone results in the background.
    warming: AtomicBool,
}

/// One site's row of the checklist: the site, its area, per-service answers.
pub type SiteAnswer = (AssetRef, f64, Vec<AreaAnswer>);

/// Why a parcel is refused before any computation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ParcelRefusal {
    /// Larger than the local projection computes accurately.
    #[error("the parcel spans {across_m:.0} m; at most {max_m:.0} m across can be computed within the stated accuracy (split it into smaller parcels)")]
    TooWide { across_m: f64, max_m: f64 },
    /// Its vertices times the candidate assets' vertices exceed the budget.
    #[error("the parcel is too costly to compute: {vertices} vertices against {candidates} candidate asset vertices (cost {cost}, at most {max}); send a simpler or smaller parcel")]
    TooCostly {
        vertices: usize,
        candidates: usize,
        cost: u64,
        max: u64,
    },
}

/// Largest cost (`parcel_cost`) a parcel request may have. Calibrated, when
/// every parcel went through buffers and overlay, on a 10,000-vertex star
/// over the sample (cost 85M, 4 s on one core: its spikes cross every buffer
/// boundary) and zone-sized rectangles over the 1M-segment city (cost 100M,
/// about 5 s), so the costliest accepted parcel stays under the default 10 s
/// deadline. Shares by scanlines made the star 1.7 s; the 37.6 km square
/// (overlay above `SWEEP_MAX_CAPSULES`) takes 5.1 s; `benches/queries.rs`
/// measures both.
pub const MAX_PARCEL_COST: u64 = 100_000_000;

/// Above this many asset segments near a region, its area within reach is
/// measured by overlay, not scanlines: rows (one per capsule end at least)
/// times the capsules each row crosses grow faster than the overlay. The
/// costliest accepted parcel on the 1M-segment city (a 37.6 km square,
/// about 600,000 candidate vertices) took 6.8 s by scanlines, 4.1 s by
/// overlay; a 200 m parcel (tens of segments) takes 80 µs by scanlines,
/// 1.5 ms by overlay (`cargo bench --bench queries`).
const SWEEP_MAX_CAPSULES: usize = 5_000;

/// Weight of a parcel vertex against a candidate asset vertex: distances
/// and the overlay's crossings grow with their product.
const PARCEL_VERTEX_WEIGHT: u64 = 7;

/// Buffer vertices per asset vertex (126-segment circles): what a candidate
/// costs to buffer and union even against a 4-vertex parcel.
const BUFFER_WEIGHT: u64 = 130;

fn layer_index(layers: &[Arc<IndexedLayer>], id: &str, what: &str) -> Result<usize, String> {
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
        .map(|f| filter.iter().all(|(k, v)| f.property_equals(k, v)))
        .collect()
}

/// A feature's reach for a service: its own `reach_property`, else the
/// rule's `reach_by` value, else the rule's default.
fn reach_of(
    rule: &rules::ServiceRule,
    f: &crate::model::Feature,
    what: &str,
) -> Result<f64, String> {
    let own = match rule
        .reach_property
        .as_ref()
        .and_then(|p| f.properties.get(p).map(|v| (p, v)))
    {
        None | Some((_, Value::Null)) => None,
        Some((p, v)) => match v.as_f64() {
            Some(r) if r > 0.0 && r <= rules::MAX_REACH_M => Some(r),
            _ => {
                return Err(format!(
                "{what}: feature {:?} has {p} = {v}, which is not a reach above 0 and at most {} m",
                f.id,
                rules::MAX_REACH_M
            ))
            }
        },
    };
    let by = rule.reach_by.as_ref().and_then(|b| {
        b.values
            .iter()
            .find(|(key, _)| f.property_equals(&b.property, key))
            .map(|(_, r)| *r)
    });
    Ok(own.or(by).unwrap_or(rule.reach_m))
}

/// `derive` of each feature of `new`, except that a feature which is the
/// same `Arc` as the next one of `old` takes its old value (`old_value` of
/// its old position). Edits keep the order of the features they leave
/// alone (see `live`), so one forward walk finds them all; a value is only
/// copied for the very same feature, so a missed match costs time, never
/// correctness.
fn carry<T>(
    new: &[Arc<crate::model::Feature>],
    old: Option<(&[Arc<crate::model::Feature>], impl Fn(usize) -> T)>,
    mut derive: impl FnMut(&crate::model::Feature) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let mut out = Vec::with_capacity(new.len());
    let mut i = 0;
    for f in new {
        if let Some((old, old_value)) = &old {
            // Old features before this one that are not it were deleted.
            while i < old.len() && !Arc::ptr_eq(&old[i], f) && old[i].id != f.id {
                i += 1;
            }
            if i < old.len() {
                i += 1;
                if Arc::ptr_eq(&old[i - 1], f) {
                    out.push(old_value(i - 1));
                    continue;
                }
            }
        }
        out.push(derive(f)?);
    }
    Ok(out)
}

/// Each site's own connections: the member lines whose `property` names a
/// site of the sites layer; and the lines naming a site that does not exist.
fn site_links(
    layers: &[Arc<IndexedLayer>],
    lines_layer: usize,
    member: &[bool],
    property: Option<&str>,
    sites_layer: Option<usize>,
) -> (SiteLinks, Vec<Dangling>) {
    let mut links: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut dangling = Vec::new();
    let (Some(property), Some(sl)) = (property, sites_layer) else {
        return (links, dangling);
    };
    for (i, f) in layers[lines_layer].layer.features.iter().enumerate() {
        if !member[i] {
            continue;
        }
        let Some(site) = f.property_text(property) else {
            continue;
        };
        match layers[sl].position_of(&site) {
            Some(p) => links.entry(p).or_default().push(i),
            None => dangling.push((f.id.clone(), site)),
        }
    }
    (links, dangling)
}

pub(crate) fn polygons_of(g: &Geometry) -> Vec<geo::Polygon> {
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

/// Whether a service is among those asked for (all when none are named).
fn picked(only: Option<&[&str]>, name: &str) -> bool {
    only.is_none_or(|o| o.contains(&name))
}

fn feature_name(f: &crate::model::Feature) -> Option<String> {
    f.property_text("name")
}

impl Coverage {
    /// Resolve the rules against the layers; errors name what is wrong.
    pub fn build(
        layers: &[Arc<IndexedLayer>],
        proj: LocalProjection,
        rules: Rules,
    ) -> Result<Coverage, String> {
        Coverage::build_reusing(layers, proj, Arc::new(rules), None)
    }

    /// Like `build`, reusing from `previous` (a coverage over
    /// `previous_layers`) every service whose layers are the same `Arc`s:
    /// an edited road does not rebuild the water network.
    pub fn build_reusing(
        layers: &[Arc<IndexedLayer>],
        proj: LocalProjection,
        rules: Arc<Rules>,
        previous: Option<(&Coverage, &[Arc<IndexedLayer>])>,
    ) -> Result<Coverage, String> {
        // A member feature counts in a scenario when its status is one of
        // the scenario's (or it has none).
        let scenarios = rules.scenarios.clone();
        let scenario_member = |f: &crate::model::Feature, member: bool| -> [bool; 2] {
            if member {
                scenarios.memberships(f)
            } else {
                [false; 2]
            }
        };
        let in_scenario = |layer: &IndexedLayer, member: &[bool]| -> [Vec<bool>; 2] {
            let both: Vec<[bool; 2]> = (layer.layer.features.iter().zip(member))
                .map(|(f, &m)| scenario_member(f, m))
                .collect();
            [0, 1].map(|sc| both.iter().map(|b| b[sc]).collect())
        };

        let sites_layer = match &rules.sites {
            Some(s) => Some(layer_index(layers, &s.collection, "sites")?),
            None => None,
        };
        let mut services = Vec::new();
        for name in SERVICES {
            let Some(rule) = rules.services.get(name) else {
                continue;
            };
            let what = format!("service {name}");
            let li = layer_index(layers, &rule.collection, &what)?;
            let mut inputs = vec![li];
            if let Some(n) = &rule.network {
                for sel in [&n.lines, &n.sources].into_iter().flatten() {
                    inputs.push(layer_index(layers, &sel.collection, &what)?);
                }
                // Site links name sites by id: a renumbered sites layer
                // rebuilds them.
                if let (Some(_), Some(sl)) = (&n.site_property, sites_layer) {
                    inputs.push(sl);
                }
            }
            let reusable = previous.and_then(|(old, old_layers)| {
                let same = inputs.iter().all(|&i| {
                    old_layers
                        .get(i)
                        .is_some_and(|o| Arc::ptr_eq(o, &layers[i]))
                });
                let prev = old.services.iter().find(|s| s.name == name)?;
                (same && prev.layer == li).then(|| Arc::clone(prev))
            });
            if let Some(prev) = reusable {
                services.push(prev);
                continue;
            }
            let layer = &layers[li];
            // A feature's reach and eligibility depend on the feature and the
            // rules alone: carry them over for every feature an edit left
            // untouched, so an edit costs what it changed, not the layer.
            let prior = previous.and_then(|(old, old_layers)| {
                let prev = old
                    .services
                    .iter()
                    .find(|s| s.name == name && s.layer == li)?;
                Some((prev, &old_layers.get(li)?.layer.features[..]))
            });
            let filter = rule.selector().filter_text();
            let per_feature = carry(
                &layer.layer.features,
                prior.map(|(prev, features)| {
                    (features, move |i: usize| {
                        (prev.reach[i], [prev.eligible[0][i], prev.eligible[1][i]])
                    })
                }),
                |f| {
                    let member = filter.iter().all(|(k, v)| f.property_equals(k, v));
                    Ok((reach_of(rule, f, &what)?, scenario_member(f, member)))
                },
            )?;
            let reach: Vec<f64> = per_feature.iter().map(|(r, _)| *r).collect();
            let eligible = [0, 1].map(|sc| per_feature.iter().map(|(_, e)| e[sc]).collect());
            let member: Vec<bool> = per_feature.iter().map(|(_, e)| e[0] || e[1]).collect();
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
                    let (links, dangling) = site_links(
                        layers,
                        lines_layer,
                        &line_member,
                        n.site_property.as_deref(),
                        sites_layer,
                    );
                    Some(ServiceNetwork {
                        lines_layer,
                        sources_layer,
                        assets_are_lines: lines_layer == li && n.lines.is_none(),
                        line_on,
                        source_on,
                        graph,
                        traced,
                        links,
                        dangling,
                    })
                }
            };
            services.push(Arc::new(Service {
                name,
                layer: li,
                eligible,
                reach,
                max_reach,
                default_reach: rule.reach_m,
                network,
            }));
        }

        let zone_layer = layer_index(layers, &rules.zone.collection, "zone")?;
        let same_zone = previous.and_then(|(old, old_layers)| {
            old_layers
                .get(zone_layer)
                .is_some_and(|o| Arc::ptr_eq(o, &layers[zone_layer]))
                .then(|| (Arc::clone(&old.zone), Arc::clone(&old.zone_metric)))
        });
        let (zone, zone_metric) = match same_zone {
            Some(z) => z,
            None => Coverage::zone_of(layers, zone_layer, &rules, &proj)?,
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
            sites_cache: [OnceLock::new(), OnceLock::new()],
            warming: AtomicBool::new(false),
        })
    }

    /// The zone (lon/lat and metric) from its layer.
    fn zone_of(
        layers: &[Arc<IndexedLayer>],
        zone_layer: usize,
        rules: &Rules,
        proj: &LocalProjection,
    ) -> Result<(Arc<MultiPolygon>, Arc<MultiPolygon>), String> {
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
        let zone_metric = area::to_metric_mp(&zone, proj);
        Ok((Arc::new(zone), Arc::new(zone_metric)))
    }

    /// Positions of the layers a service's zone result reads: its assets,
    /// its network's lines and sources, and the zone.
    fn inputs_of(&self, idx: usize, layers: &[Arc<IndexedLayer>]) -> Vec<usize> {
        let s = &self.services[idx];
        let mut v = vec![s.layer];
        if let Some(n) = &s.network {
            v.extend([n.lines_layer, n.sources_layer]);
        }
        if let Some(z) = layers
            .iter()
            .position(|l| l.layer.meta.id == self.rules.zone.collection)
        {
            v.push(z);
        }
        v
    }

    /// Keep the zone results of `old` (built over `old_layers`) for every
    /// service none of whose input layers changed (same `Arc`): an edited
    /// road does not recompute water.
    pub fn keep_unchanged_zone_results(
        &self,
        old: &Coverage,
        old_layers: &[Arc<IndexedLayer>],
        layers: &[Arc<IndexedLayer>],
    ) {
        for (idx, s) in self.services.iter().enumerate() {
            let Some(old_idx) = old.services.iter().position(|o| o.name == s.name) else {
                continue;
            };
            let same = self.inputs_of(idx, layers).into_iter().all(|i| {
                old_layers
                    .get(i)
                    .is_some_and(|o| Arc::ptr_eq(o, &layers[i]))
            });
            if !same {
                continue;
            }
            for sc in Scenario::ALL {
                if let Some(z) = old.cache[old_idx][sc.at()].get() {
                    let _ = self.cache[idx][sc.at()].set(Arc::clone(z));
                }
            }
        }
    }

    /// The services this data folder defines, in answer order.
    pub fn service_names(&self) -> Vec<&'static str> {
        self.services.iter().map(|s| s.name).collect()
    }

    /// Find a network feature to switch off by id, among every service's
    /// network lines and sources.
    pub fn find_switch(&self, layers: &[Arc<IndexedLayer>], id: &str) -> Option<Switch> {
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

    fn asset(&self, layers: &[Arc<IndexedLayer>], layer: usize, i: usize) -> AssetRef {
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

    /// The components of a service's network in a scenario with the assets
    /// `out` names switched off (the cached tracing when none is).
    fn traced<'n>(
        n: &'n ServiceNetwork,
        sc: Scenario,
        out: Option<Out>,
        own: &'n mut Option<Tracing>,
    ) -> &'n Tracing {
        match out {
            None => &n.traced[sc.at()],
            Some(out) => own.insert(n.graph.trace(
                |i| n.line_on[sc.at()][i] && !out(n.lines_layer, i),
                |i| n.source_on[sc.at()][i] && !out(n.sources_layer, i),
            )),
        }
    }

    /// The sources (positions in the sources layer) feeding a place through
    /// its feeds, none of which `out` may name.
    fn sources_of(
        s: &Service,
        n: &ServiceNetwork,
        traced: &Tracing,
        feeds: &Feeds,
        out: Option<Out>,
    ) -> BTreeSet<usize> {
        let is_out = |layer, i| out.is_some_and(|o| o(layer, i));
        let mut found = BTreeSet::new();
        match feeds {
            Feeds::Links(lines) => {
                for &l in lines.iter().filter(|&&l| !is_out(n.lines_layer, l)) {
                    found.extend(n.graph.sources_of_line(traced, l));
                }
            }
            Feeds::Assets(assets) => {
                for &a in assets.iter().filter(|&&a| !is_out(s.layer, a)) {
                    found.extend(if n.assets_are_lines {
                        n.graph.sources_of_line(traced, a)
                    } else {
                        n.graph.sources_of_source(traced, a)
                    });
                }
            }
        }
        found
    }

    /// Sources reaching a place through its feeds in a service's network.
    fn supply(
        &self,
        layers: &[Arc<IndexedLayer>],
        s: &Service,
        sc: Scenario,
        off: Option<Switch>,
        feeds: &Feeds,
    ) -> Option<Supply> {
        let n = s.network.as_ref()?;
        let switched = |layer: usize, feature: usize| off == Some(Switch { layer, feature });
        let out: Option<Out> = off.map(|_| &switched as Out);
        let mut own = None;
        let traced = Self::traced(n, sc, out, &mut own);
        let sources: Vec<AssetRef> = Self::sources_of(s, n, traced, feeds, out)
            .iter()
            .map(|&i| self.asset(layers, n.sources_layer, i))
            .collect();
        Some(Supply {
            redundant: sources.len() >= 2,
            sources,
        })
    }

    /// A site's own connections in a service's network in a scenario, if it
    /// has any (switched off or not: a site does not reconnect by itself).
    fn links_of(s: &Service, sc: Scenario, site: usize) -> Option<Vec<usize>> {
        let n = s.network.as_ref()?;
        let on: Vec<usize> = n
            .links
            .get(&site)?
            .iter()
            .copied()
            .filter(|&l| n.line_on[sc.at()][l])
            .collect();
        (!on.is_empty()).then_some(on)
    }

    /// Every service's answer at a lon/lat point.
    pub fn at_point(
        &self,
        layers: &[Arc<IndexedLayer>],
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
                // When the nearest asset's reach includes q, it is that
                // one; when it is beyond the largest reach, none is. Only
                // in between (reaches that differ by asset) are the other
                // assets within reach looked at.
                let nearest = layer.nearest_where(q, 1, keep).into_iter().next();
                let serving = match nearest {
                    Some(h) if h.distance_m <= s.reach[h.feature] => Some(h),
                    Some(h) if h.distance_m <= s.max_reach => layer
                        .within_where(q, s.max_reach, keep)
                        .into_iter()
                        .find(|h| h.distance_m <= s.reach[h.feature]),
                    _ => None,
                };
                let (hit, covered) = match serving {
                    Some(h) => (Some(h), true),
                    None => (nearest, false),
                };
                let supply = match (&s.network, hit) {
                    (Some(_), Some(h)) if covered => {
                        self.supply(layers, s, sc, off, &Feeds::Assets(vec![h.feature]))
                    }
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

    /// The lon/lat window in which assets can reach a region: its extent
    /// grown by the service's largest reach (plus 1%).
    fn reach_window(&self, s: &Service, bbox: Rect) -> Rect {
        let (kx, ky) = geodesy::metres_per_degree(bbox.center().y);
        let pad = s.max_reach * 1.01;
        Rect::new(
            Coord {
                x: bbox.min().x - pad / kx,
                y: bbox.min().y - pad / ky,
            },
            Coord {
                x: bbox.max().x + pad / kx,
                y: bbox.max().y + pad / ky,
            },
        )
    }

    /// The assets of a service near a region: those whose reach touches
    /// it (with their projected geometry) and the nearest eligible one in
    /// the reach window, with distances in metres.
    fn near(
        &self,
        layers: &[Arc<IndexedLayer>],
        s: &Service,
        sc: Scenario,
        off: Option<Switch>,
        region: &Region,
        deadline: &Deadline,
    ) -> Result<Near, Exceeded> {
        let grown = self.reach_window(s, region.bbox);
        let limit = s.max_reach * 1.01;
        let layer = &layers[s.layer];
        let mut near = Near {
            reaching: Vec::new(),
            nearest: None,
        };
        for (n, i) in layer.envelope_candidates(grown).into_iter().enumerate() {
            if n % 64 == 0 {
                deadline.check()?;
            }
            if !self.on(s, sc, off, i) {
                continue;
            }
            let g = area::to_metric(&layer.layer.features[i].geometry, region.proj);
            // Beyond the largest reach from every part: neither reaching
            // nor reported as nearest.
            let Some(d) = region.parts.distance_within(&g, limit) else {
                continue;
            };
            if near.nearest.is_none_or(|(best, _)| d < best) {
                near.nearest = Some((d, i));
            }
            if d <= s.reach[i] {
                near.reaching.push((d, i, g));
            }
        }
        deadline.check()?;
        Ok(near)
    }

    /// `near` for a lon/lat (multi)polygon, in its own local projection.
    fn near_parcel(
        &self,
        layers: &[Arc<IndexedLayer>],
        s: &Service,
        sc: Scenario,
        parcel: &MultiPolygon,
        deadline: &Deadline,
    ) -> Result<Near, Exceeded> {
        let Some(bbox) = parcel.bounding_rect() else {
            return Ok(Near {
                reaching: vec![],
                nearest: None,
            });
        };
        let proj = LocalProjection::new(bbox.center());
        let region = area::to_metric_mp(parcel, &proj);
        let parts = area::Parts::new(&region);
        let whole = Region {
            shape: &region,
            parts: &parts,
            bbox,
            proj: &proj,
        };
        self.near(layers, s, sc, None, &whole, deadline)
    }

    /// The part of a region within reach (projected), by buffers and
    /// overlay: for gap polygons, where the shape itself is the answer.
    fn covered_shape(
        s: &Service,
        reaching: impl IntoIterator<Item = (usize, Geometry)>,
        region: &MultiPolygon,
        deadline: &Deadline,
    ) -> Result<MultiPolygon, Exceeded> {
        Self::covered_shape_by(s, reaching, region, 0.0, deadline)
    }

    /// `covered_shape` with every reach `extra` metres longer.
    fn covered_shape_by(
        s: &Service,
        reaching: impl IntoIterator<Item = (usize, Geometry)>,
        region: &MultiPolygon,
        extra: f64,
        deadline: &Deadline,
    ) -> Result<MultiPolygon, Exceeded> {
        let mut by_reach: BTreeMap<u64, Vec<Geometry>> = BTreeMap::new();
        for (i, g) in reaching {
            by_reach
                .entry((s.reach[i] + extra).to_bits())
                .or_default()
                .push(g);
        }
        // One buffer per distinct reach: i_overlay unions within a call.
        let mut parts = Vec::with_capacity(by_reach.len());
        for (r, gs) in by_reach {
            parts.push(area::buffer(
                &Geometry::GeometryCollection(GeometryCollection(gs)),
                f64::from_bits(r),
            ));
            deadline.check()?;
        }
        let reach_area = area::union_all(&parts);
        deadline.check()?;
        Ok(area::intersection(&reach_area, region))
    }

    /// The area (m²) of a region within reach, without overlay: none when
    /// nothing reaches it, all of it when one asset segment's reach holds
    /// its convex hull, else by scanlines (`sweep`).
    fn covered_area(
        s: &Service,
        near: &Near,
        region: &Region,
        (hull, total): (&[Coord], f64),
        deadline: &Deadline,
    ) -> Result<f64, Exceeded> {
        if near.reaching.is_empty() {
            return Ok(0.0);
        }
        let Some(window) = region.shape.bounding_rect() else {
            return Ok(0.0);
        };
        let mut reach = sweep::Reach::new(window);
        for (_, i, g) in &near.reaching {
            reach.add(g, s.reach[*i]);
        }
        if reach.one_covers(hull) || reach.covers(region.shape) {
            return Ok(total);
        }
        if reach.capsules() > SWEEP_MAX_CAPSULES {
            // A region as big as a district: every capsule end is a slab
            // edge, and rows times capsules outgrow the overlay's cost.
            let reaching = near.reaching.iter().map(|(_, i, g)| (*i, g.clone()));
            let shape = Self::covered_shape(s, reaching, region.shape, deadline)?;
            return Ok(area::area_m2(&shape).min(total));
        }
        Ok(reach.area_within(region.shape, deadline)?.min(total))
    }

    /// The cost of a parcel request before computing it: the parcel's
    /// vertices (weighted) plus a buffer's, times the vertices of every
    /// candidate asset of every service within reach of its extent.
    /// Distances and overlay crossings grow with parcel × asset vertices,
    /// buffers and their union with ~130 × asset vertices.
    pub fn parcel_cost(
        &self,
        layers: &[Arc<IndexedLayer>],
        parcel: &MultiPolygon,
        only: Option<&[&str]>,
    ) -> (usize, usize, u64) {
        let Some(bbox) = parcel.bounding_rect() else {
            return (0, 0, 0);
        };
        let vertices: usize = parcel
            .0
            .iter()
            .map(|p| p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>())
            .sum();
        let mut candidates = 0usize;
        for s in self.services.iter().filter(|s| picked(only, s.name)) {
            let layer = &layers[s.layer];
            for i in layer.envelope_candidates(self.reach_window(s, bbox)) {
                candidates += geo::CoordsIter::coords_count(&layer.layer.features[i].geometry);
            }
        }
        let cost = (vertices as u64 * PARCEL_VERTEX_WEIGHT + BUFFER_WEIGHT)
            .saturating_mul(candidates as u64);
        (vertices, candidates, cost)
    }

    /// Refuse a parcel the method cannot compute accurately or cheaply
    /// enough, before spending anything on it; its cost when accepted.
    pub fn check_parcel(
        &self,
        layers: &[Arc<IndexedLayer>],
        parcel: &MultiPolygon,
        only: Option<&[&str]>,
    ) -> Result<u64, ParcelRefusal> {
        if let Some(b) = parcel.bounding_rect() {
            let (kx, ky) = geodesy::metres_per_degree(b.center().y);
            let across_m = (b.width() * kx).max(b.height() * ky);
            if across_m > geodesy::MAX_EXTENT_M {
                return Err(ParcelRefusal::TooWide {
                    across_m,
                    max_m: geodesy::MAX_EXTENT_M,
                });
            }
        }
        let (vertices, candidates, cost) = self.parcel_cost(layers, parcel, only);
        if cost > MAX_PARCEL_COST {
            return Err(ParcelRefusal::TooCostly {
                vertices,
                candidates,
                cost,
                max: MAX_PARCEL_COST,
            });
        }
        Ok(cost)
    }

    /// Coverage of a lon/lat (multi)polygon, per service (those `only`
    /// names, or all). Callers check it with `check_parcel` first when it
    /// comes from a client.
    pub fn parcel(
        &self,
        layers: &[Arc<IndexedLayer>],
        parcel: &MultiPolygon,
        sc: Scenario,
        off: Option<Switch>,
        only: Option<&[&str]>,
        deadline: &Deadline,
    ) -> Result<(f64, Vec<AreaAnswer>), Exceeded> {
        self.area_answers(layers, parcel, None, sc, off, only, deadline)
    }

    /// `parcel`, for a site (its position) or any parcel: a site with its
    /// own connections in a service's network is supplied through them.
    #[allow(clippy::too_many_arguments)]
    fn area_answers(
        &self,
        layers: &[Arc<IndexedLayer>],
        parcel: &MultiPolygon,
        site: Option<usize>,
        sc: Scenario,
        off: Option<Switch>,
        only: Option<&[&str]>,
        deadline: &Deadline,
    ) -> Result<(f64, Vec<AreaAnswer>), Exceeded> {
        let Some(bbox) = parcel.bounding_rect() else {
            return Ok((0.0, vec![]));
        };
        let proj = LocalProjection::new(bbox.center());
        let region = area::to_metric_mp(parcel, &proj);
        let total = area::area_m2(&region);
        let parts = area::Parts::new(&region);
        let hull = sweep::hull_vertices(&region);
        let whole = Region {
            shape: &region,
            parts: &parts,
            bbox,
            proj: &proj,
        };
        let mut answers = Vec::with_capacity(self.services.len());
        for s in self.services.iter().filter(|s| picked(only, s.name)) {
            let near = self.near(layers, s, sc, off, &whole, deadline)?;
            let covered_m2 = Self::covered_area(s, &near, &whole, (&hull, total), deadline)?;
            let connect = near.connect();
            let reaching = near.positions();
            answers.push(AreaAnswer {
                service: s.name,
                connectable: connect.is_some(),
                distance_m: near.nearest.map(|(d, _)| (d * 100.0).round() / 100.0),
                connect_to: connect.map(|i| self.asset(layers, s.layer, i)),
                covered_m2: covered_m2.round(),
                share: if total > 0.0 {
                    round_share(covered_m2 / total)
                } else {
                    0.0
                },
                reach_m: connect.map_or(s.default_reach, |i| s.reach[i]),
                assets: reaching
                    .iter()
                    .map(|&i| self.asset(layers, s.layer, i))
                    .collect(),
                supply: {
                    let links = site.and_then(|site| Self::links_of(s, sc, site));
                    let feeds = links.map_or_else(|| Feeds::Assets(reaching.clone()), Feeds::Links);
                    self.supply(layers, s, sc, off, &feeds)
                },
            });
        }
        Ok((total, answers))
    }

    /// A service's coverage of the whole zone, computed once per scenario.
    pub fn zone(
        &self,
        layers: &[Arc<IndexedLayer>],
        service: &str,
        sc: Scenario,
    ) -> Option<&ZoneResult> {
        let idx = self.services.iter().position(|s| s.name == service)?;
        Some(
            self.cache[idx][sc.at()]
                .get_or_init(|| Arc::new(self.zone_result(layers, &self.services[idx], sc))),
        )
    }

    /// Compute every zone result now (both scenarios), so the first request
    /// does not wait. `main` runs it in the background after binding.
    pub fn warm(&self, layers: &[Arc<IndexedLayer>]) {
        self.warming.store(true, Ordering::SeqCst);
        for sc in Scenario::ALL {
            for s in &self.services {
                self.zone(layers, s.name, sc);
            }
        }
        self.warming.store(false, Ordering::SeqCst);
    }

    /// Whether a service's zone result for a scenario is computed already.
    pub fn zone_cached(&self, service: &str, sc: Scenario) -> bool {
        self.services
            .iter()
            .position(|s| s.name == service)
            .is_some_and(|i| self.cache[i][sc.at()].get().is_some())
    }

    /// Whether every zone result of a scenario is computed, or nobody is
    /// computing them (then a caller computes what it needs itself). Lets the
    /// API answer "not ready, retry" rather than hold a request for the
    /// seconds a city-scale dataset takes.
    pub fn zone_ready(&self, sc: Scenario) -> bool {
        !self.warming.load(Ordering::SeqCst)
            || self.cache.iter().all(|c| c[sc.at()].get().is_some())
    }

    /// Every site's coverage: the planner's checklist. Without a switched-off
    /// asset the answer is computed once per scenario and kept.
    pub fn sites(
        &self,
        layers: &[Arc<IndexedLayer>],
        sc: Scenario,
        off: Option<Switch>,
        deadline: &Deadline,
    ) -> Result<Arc<Vec<SiteAnswer>>, Exceeded> {
        let Some(sl) = self.sites_layer else {
            return Ok(Arc::new(vec![]));
        };
        if off.is_none() {
            if let Some(hit) = self.sites_cache[sc.at()].get() {
                return Ok(Arc::clone(hit));
            }
        }
        let mut list = Vec::with_capacity(layers[sl].layer.features.len());
        for (i, f) in layers[sl].layer.features.iter().enumerate() {
            let parcel = MultiPolygon(polygons_of(&f.geometry));
            let (area_m2, answers) =
                self.area_answers(layers, &parcel, Some(i), sc, off, None, deadline)?;
            list.push((self.asset(layers, sl, i), area_m2, answers));
        }
        let list = Arc::new(list);
        if off.is_none() {
            // Two requests may compute it at once; either answer is the same.
            let _ = self.sites_cache[sc.at()].set(Arc::clone(&list));
        }
        Ok(list)
    }

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
            let picked: Vec<&crate::model::Feature> = layer
                .layer
                .features
                .iter()
                .enumerate()
                .filter(|(i, _)| s.eligible[Scenario::Planned.at()][*i])
                .map(|(_, f)| &**f)
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

/// What the coverage modules' tests share: the sample, a seeded generator.
#[cfg(test)]
pub(crate) mod testkit {
    /// The bundled sample, loaded.
    pub fn sample() -> crate::catalog::Catalog {
        crate::catalog::Catalog::open(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/geodata"
        )))
        .expect("sample")
    }

    /// Uniform numbers in [0, 1) from a seed (a 64-bit LCG).
    pub fn rng(mut seed: u64) -> impl FnMut() -> f64 {
        move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{Polygon, Rotate};

    /// A point's serving asset, found from the nearest asset first, is the
    /// nearest of those whose own reach includes the point, as a scan of
    /// every asset within the largest reach finds it (power's reaches
    /// differ by substation, so all three cases occur).
    #[test]
    fn the_serving_asset_is_the_nearest_whose_reach_includes_the_point() {
        let catalog = testkit::sample();
        let cov = catalog.coverage.as_ref().expect("rules");
        let layers = &catalog.layers;
        let mut rnd = testkit::rng(5);
        let mut cases = [0usize; 3];
        // Random points over the zone, and points just beyond each power
        // asset's own reach, where a larger substation may serve instead.
        let mut points: Vec<Coord> = (0..300)
            .map(|_| Coord {
                x: 113.47 + rnd() * 0.13,
                y: 34.65 + rnd() * 0.09,
            })
            .collect();
        let power = cov
            .services
            .iter()
            .find(|s| s.name == "power")
            .expect("power");
        for (i, f) in layers[power.layer].layer.features.iter().enumerate() {
            let Some(c) = geo::Centroid::centroid(&f.geometry) else {
                continue;
            };
            let (kx, ky) = geodesy::metres_per_degree(c.y());
            let d = power.reach[i] + 100.0;
            for k in 0..8 {
                let a = k as f64 * std::f64::consts::FRAC_PI_4;
                points.push(Coord {
                    x: c.x() + d * a.cos() / kx,
                    y: c.y() + d * a.sin() / ky,
                });
            }
        }
        for q in points {
            for sc in Scenario::ALL {
                let answers = cov.at_point(layers, q, sc, None);
                for (s, a) in cov.services.iter().zip(&answers) {
                    let keep = |i: usize| cov.on(s, sc, None, i);
                    let scan = layers[s.layer].within_where(q, s.max_reach, keep);
                    let want = scan.iter().find(|h| h.distance_m <= s.reach[h.feature]);
                    assert_eq!(a.covered, want.is_some(), "{} at {q:?}", s.name);
                    if let Some(h) = want {
                        let id = &layers[s.layer].layer.features[h.feature].id;
                        assert_eq!(a.nearest.as_ref().map(|n| &n.id), Some(id));
                        let nearest_serves = scan[0].feature == h.feature;
                        cases[usize::from(!nearest_serves)] += 1;
                    } else {
                        cases[2] += 1;
                    }
                }
            }
        }
        assert!(cases.iter().all(|&k| k > 0), "cases: {cases:?}");
    }

    /// The fast paths (nothing reaches: 0; one segment holds the hull, or
    /// cells prove the whole region within reach: all) and the scanline
    /// area agree with buffers and overlay, the way zone
    /// gaps are still computed, on random parcels over the sample.
    #[test]
    fn area_paths_agree_with_the_overlay_on_random_parcels() {
        let catalog = testkit::sample();
        let cov = catalog.coverage.as_ref().expect("rules");
        let layers = &catalog.layers;
        let mut rnd = testkit::rng(99);
        let none = Deadline::none();
        let mut paths = [0usize; 4];
        for n in 0..150 {
            let (lon, lat) = (113.49 + rnd() * 0.09, 34.665 + rnd() * 0.055);
            let (kx, ky) = geodesy::metres_per_degree(lat);
            let (w, h) = (10.0 + rnd() * 800.0, 10.0 + rnd() * 800.0);
            let rect = Rect::new(
                Coord { x: lon, y: lat },
                Coord {
                    x: lon + w / kx,
                    y: lat + h / ky,
                },
            );
            let mut p: Polygon = rect.to_polygon().rotate_around_centroid(rnd() * 90.0);
            if n % 3 == 0 {
                // A triangle: not every parcel is a rectangle.
                let mut ring = p.exterior().0.clone();
                ring.remove(1);
                p = Polygon::new(geo::LineString(ring), vec![]);
            }
            let parcel = MultiPolygon(vec![p]);
            let bbox = parcel.bounding_rect().expect("extent");
            let proj = LocalProjection::new(bbox.center());
            let region = area::to_metric_mp(&parcel, &proj);
            let parts = area::Parts::new(&region);
            let whole = Region {
                shape: &region,
                parts: &parts,
                bbox,
                proj: &proj,
            };
            let hull = sweep::hull_vertices(&region);
            let total = area::area_m2(&region);
            for sc in Scenario::ALL {
                for s in &cov.services {
                    let near = cov.near(layers, s, sc, None, &whole, &none).unwrap();
                    let fast =
                        Coverage::covered_area(s, &near, &whole, (&hull, total), &none).unwrap();
                    let path = if near.reaching.is_empty() {
                        0
                    } else {
                        let mut reach = sweep::Reach::new(region.bounding_rect().unwrap());
                        for (_, i, g) in &near.reaching {
                            reach.add(g, s.reach[*i]);
                        }
                        if reach.one_covers(&hull) {
                            1
                        } else if reach.covers(&region) {
                            2
                        } else {
                            3
                        }
                    };
                    paths[path] += 1;
                    let reaching = near.reaching.into_iter().map(|(_, i, g)| (i, g));
                    let shape = Coverage::covered_shape(s, reaching, &region, &none).unwrap();
                    let slow = area::area_m2(&shape).min(total);
                    // The overlay's 126-gons fall short of the circles by up
                    // to their sagitta, r(1 - cos 0.025), along the covered
                    // part's boundary.
                    let sagitta = s.max_reach * (1.0 - 0.025f64.cos());
                    let boundary: f64 = shape
                        .iter()
                        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
                        .map(|r| geo::Length::length(&geo::Euclidean, r))
                        .sum();
                    let tol = 0.0005 * total + 1.0 + sagitta * boundary;
                    assert!(
                        (fast - slow).abs() <= tol,
                        "parcel {n} {} ({sc:?}) path {path}: {fast} vs {slow} of {total}",
                        s.name
                    );
                }
            }
        }
        assert!(paths.iter().all(|&k| k >= 50), "paths taken: {paths:?}");
    }
}

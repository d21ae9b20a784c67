//! Resolving the rules against a snapshot's layers: which features provide
//! each service in each scenario, each feature's reach, the network graphs
//! for tracing, the zone. After an edit, `build_reusing` shares every
//! service whose layers did not change and carries per-feature values over
//! for the features that did not.
//!
//! Must not: answer questions (see `point`, `parcel`, `cache`).

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use geo::{Geometry, MultiPolygon};
use serde_json::Value;

use super::network::Network;
use super::rules::{self, Rules, Selector, SERVICES};
use super::{area, polygons_of, Coverage, Dangling, Scenario, Service, ServiceNetwork, SiteLinks};
use crate::chunked::Chunked;
use crate::geodesy::LocalProjection;
use crate::index::IndexedLayer;
use crate::model::Feature;
use crate::model::Features;

pub(super) fn layer_index(
    layers: &[Arc<IndexedLayer>],
    id: &str,
    what: &str,
) -> Result<usize, String> {
    layers
        .iter()
        .position(|l| l.layer.meta.id == id)
        .ok_or_else(|| format!("{what}: no collection {id:?}"))
}

/// Which features of a layer a selector picks (ignoring status), by
/// position (an empty place is not picked).
pub(super) fn selected(layer: &IndexedLayer, sel: &Selector) -> Vec<bool> {
    let filter = sel.filter_text();
    layer
        .layer
        .features
        .places_iter()
        .map(|f| f.is_some_and(|f| filter.iter().all(|(k, v)| f.property_equals(k, v))))
        .collect()
}

/// A feature's reach for a service: its own `reach_property`, else the
/// rule's `reach_by` value, else the rule's default.
pub(super) fn reach_of(
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

/// Each place's (reach, eligibility per scenario): `derive` of each feature
/// of `new`, except that where `old` holds the same numbering, the values
/// are `old`'s arrays with only the places an edit changed derived again —
/// an edit costs what it changed, and the arrays share every other chunk
/// with the previous snapshot's. An empty place is (0, not eligible).
pub(super) fn per_feature(
    new: &Features,
    old: Option<(&Features, &Service)>,
    mut derive: impl FnMut(&Feature) -> Result<(f64, [bool; 2]), String>,
) -> Result<PerFeature, String> {
    let changed = old.and_then(|(features, prev)| Some((new.changed_since(features)?, prev)));
    let Some((changed, prev)) = changed else {
        let mut reach = Vec::with_capacity(new.places());
        let mut eligible = [Vec::with_capacity(new.places()), Vec::new()];
        eligible[1].reserve(new.places());
        for f in new.places_iter() {
            let (r, e) = match f {
                Some(f) => derive(f)?,
                None => (0.0, [false; 2]),
            };
            reach.push(r);
            eligible[0].push(e[0]);
            eligible[1].push(e[1]);
        }
        let [e0, e1] = eligible;
        return Ok(PerFeature {
            reach: reach.into_iter().collect(),
            eligible: [e0.into_iter().collect(), e1.into_iter().collect()],
            changed: None,
        });
    };
    let mut out = PerFeature {
        reach: prev.reach.clone(),
        eligible: prev.eligible.clone(),
        changed: Some(Vec::with_capacity(changed.len())),
    };
    for p in changed {
        let before =
            (p < out.reach.len()).then(|| (out.reach[p], [out.eligible[0][p], out.eligible[1][p]]));
        let (r, e) = match new.get(p) {
            Some(f) => derive(f)?,
            None => (0.0, [false; 2]),
        };
        if before.is_some() {
            out.reach.set(p, r);
            out.eligible[0].set(p, e[0]);
            out.eligible[1].set(p, e[1]);
        } else {
            // Changed places run in order, so new places come last.
            out.reach.push(r);
            out.eligible[0].push(e[0]);
            out.eligible[1].push(e[1]);
        }
        if let Some(c) = &mut out.changed {
            c.push((before, (r, e)));
        }
    }
    Ok(out)
}

/// A service's per-feature values (see `per_feature`).
pub(super) struct PerFeature {
    reach: Chunked<f64>,
    eligible: [Chunked<bool>; 2],
    /// Carried from a previous service: each changed place's values
    /// before (`None`: a new place) and after.
    changed: Option<Vec<(Option<Values>, Values)>>,
}

/// A place's reach and eligibility per scenario.
type Values = (f64, [bool; 2]);

/// Catalogs with more features than this resolve their services each on
/// its own thread at start.
const PARALLEL_SERVICES_OVER: usize = 50_000;

impl PerFeature {
    /// The largest reach of a member feature, at least `default`, and how
    /// many members have it: from `prev`'s by the changes when carried
    /// (unless the changes removed every feature at the maximum), else by
    /// reading every place.
    fn max_reach(&self, default: f64, prev: Option<&Service>) -> (f64, usize) {
        let member = |e: [bool; 2]| e[0] || e[1];
        if let (Some(changed), Some(prev)) = (&self.changed, prev) {
            let (mut max, mut at) = (prev.max_reach, prev.at_max);
            let mut lost = false;
            for &(before, (r, e)) in changed {
                if let Some((r0, e0)) = before {
                    if member(e0) && r0 == max {
                        if at == 0 {
                            lost = true;
                        }
                        at = at.saturating_sub(1);
                    }
                }
                if member(e) && r > max {
                    (max, at) = (r, 1);
                } else if member(e) && r == max {
                    at += 1;
                }
            }
            // With none left at a maximum above the default, it may be
            // lower now: measure it.
            if !lost && (at > 0 || max <= default) {
                return (max.max(default), at);
            }
        }
        let mut max = default;
        let mut at = 0;
        for (i, &r) in self.reach.iter().enumerate() {
            if !(self.eligible[0][i] || self.eligible[1][i]) {
                continue;
            }
            if r > max {
                (max, at) = (r, 1);
            } else if r == max {
                at += 1;
            }
        }
        (max, at)
    }
}

/// Each site's own connections: the member lines whose `property` names a
/// site of the sites layer; and the lines naming a site that does not exist.
pub(super) fn site_links(
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
    for (i, f) in layers[lines_layer].layer.features.indexed() {
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
            let both: Vec<[bool; 2]> = (layer.layer.features.places_iter().zip(member))
                .map(|(f, &m)| f.map_or([false; 2], |f| scenario_member(f, m)))
                .collect();
            [0, 1].map(|sc| both.iter().map(|b| b[sc]).collect())
        };

        let sites_layer = match &rules.sites {
            Some(s) => Some(layer_index(layers, &s.collection, "sites")?),
            None => None,
        };
        // One service resolved; `None` when the rules name none of it.
        let one = |name: &'static str| -> Result<Option<Arc<Service>>, String> {
            let Some(rule) = rules.services.get(name) else {
                return Ok(None);
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
                return Ok(Some(prev));
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
                Some((&old_layers.get(li)?.layer.features, &**prev))
            });
            let filter = rule.selector().filter_text();
            let values = per_feature(&layer.layer.features, prior, |f| {
                let member = filter.iter().all(|(k, v)| f.property_equals(k, v));
                Ok((reach_of(rule, f, &what)?, scenario_member(f, member)))
            })?;
            let (max_reach, at_max) = values.max_reach(rule.reach_m, prior.map(|(_, s)| s));
            let PerFeature {
                reach, eligible, ..
            } = values;
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
                            .places_iter()
                            .zip(m)
                            .map(|(f, &on)| f.filter(|_| on).map(|f| &f.geometry))
                            .collect()
                    };
                    let levels: Option<Vec<Option<String>>> = n.level_property.as_ref().map(|p| {
                        layers[lines_layer]
                            .layer
                            .features
                            .places_iter()
                            .map(|f| f.and_then(|f| f.property_text(p)))
                            .collect()
                    });
                    let graph = Network::build(
                        &geoms(lines_layer, &line_member),
                        &geoms(sources_layer, &source_member),
                        levels.as_deref(),
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
            Ok(Some(Arc::new(Service {
                name,
                layer: li,
                eligible,
                reach,
                max_reach,
                at_max,
                default_reach: rule.reach_m,
                network,
            })))
        };
        let one = &one;
        // At start (nothing to reuse) a city's services are resolved each on
        // its own thread: their networks take seconds each to snap.
        let big = layers
            .iter()
            .map(|l| l.layer.features.count())
            .sum::<usize>()
            > PARALLEL_SERVICES_OVER;
        let built: Vec<Result<Option<Arc<Service>>, String>> = if previous.is_none() && big {
            std::thread::scope(|s| {
                let handles: Vec<_> = SERVICES
                    .iter()
                    .map(|&name| s.spawn(move || one(name)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("a service resolves without panicking"))
                    .collect()
            })
        } else {
            SERVICES.iter().map(|&name| one(name)).collect()
        };
        let mut services = Vec::new();
        for b in built {
            services.extend(b?);
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
        let seeds = services.iter().map(|_| Default::default()).collect();
        Ok(Coverage {
            rules,
            services,
            zone,
            zone_metric,
            sites_layer,
            proj,
            cache,
            seeds,
            sites_cache: [OnceLock::new(), OnceLock::new()],
            warming: AtomicBool::new(false),
        })
    }

    /// The zone (lon/lat and metric) from its layer.
    pub(super) fn zone_of(
        layers: &[Arc<IndexedLayer>],
        zone_layer: usize,
        rules: &Rules,
        proj: &LocalProjection,
    ) -> Result<(Arc<MultiPolygon>, Arc<MultiPolygon>), String> {
        let zone_member = selected(&layers[zone_layer], &rules.zone);
        let zone_polys: Vec<geo::Polygon> = layers[zone_layer]
            .layer
            .features
            .indexed()
            .filter(|(p, _)| zone_member[*p])
            .flat_map(|(_, f)| polygons_of(&f.geometry))
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
    pub(super) fn inputs_of(&self, idx: usize, layers: &[Arc<IndexedLayer>]) -> Vec<usize> {
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
    /// Where an edit changed a layer, projected: the extent of every
    /// feature not shared between the two versions (its old and its new
    /// geometry), grown by `reach`. Places are compared chunk by chunk,
    /// then by pointer (see `features`); a renumbered layer marks all.
    pub(super) fn edited_reach(
        &self,
        old: &IndexedLayer,
        new: &IndexedLayer,
        reach: f64,
    ) -> Vec<geo::Rect> {
        use geo::BoundingRect;
        let (a, b) = (&old.layer.features, &new.layer.features);
        let mut out = Vec::new();
        let mut mark = |f: &Feature| {
            let g = super::area::to_metric(&f.geometry, &self.proj);
            if let Some(r) = g.bounding_rect() {
                let d = reach * 1.01 + 1.0;
                out.push(geo::Rect::new(
                    geo::Coord {
                        x: r.min().x - d,
                        y: r.min().y - d,
                    },
                    geo::Coord {
                        x: r.max().x + d,
                        y: r.max().y + d,
                    },
                ));
            }
        };
        match b.changed_since(a) {
            Some(changed) => {
                for p in changed {
                    a.get(p).into_iter().chain(b.get(p)).for_each(|f| mark(f));
                }
            }
            // Renumbered: every feature of both.
            None => a.live().chain(b.live()).for_each(|f| mark(f)),
        }
        out
    }

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
                // The same zone, the service's assets edited: the next
                // zone computation redoes only the cells the edit reached.
                let zone_kept = Arc::ptr_eq(&self.zone_metric, &old.zone_metric);
                let s_old = &old.services[old_idx];
                if zone_kept && s_old.layer == s.layer {
                    let dirty = self.edited_reach(
                        &old_layers[s.layer],
                        &layers[s.layer],
                        s_old.max_reach.max(s.max_reach),
                    );
                    for sc in Scenario::ALL {
                        // From the old result, or from the seed the old
                        // snapshot never used (edits in a row), the edited
                        // extents adding up.
                        let carried = old.seeds[old_idx][sc.at()]
                            .lock()
                            .ok()
                            .and_then(|s| s.clone());
                        let seed = match (old.cache[old_idx][sc.at()].get(), carried) {
                            (Some(z), _) => {
                                Some(super::zone::Seed::new(Arc::clone(z), dirty.clone()))
                            }
                            (None, Some(mut earlier)) => {
                                earlier.add(dirty.iter().copied());
                                Some(earlier)
                            }
                            (None, None) => None,
                        };
                        if let (Some(seed), Ok(mut slot)) = (seed, self.seeds[idx][sc.at()].lock())
                        {
                            *slot = Some(seed);
                        }
                    }
                }
                continue;
            }
            for sc in Scenario::ALL {
                if let Some(z) = old.cache[old_idx][sc.at()].get() {
                    let _ = self.cache[idx][sc.at()].set(Arc::clone(z));
                }
            }
        }
    }
}

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
use crate::geodesy::LocalProjection;
use crate::index::IndexedLayer;

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

/// Which features of a layer a selector picks (ignoring status).
pub(super) fn selected(layer: &IndexedLayer, sel: &Selector) -> Vec<bool> {
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

/// `derive` of each feature of `new`, except that a feature which is the
/// same `Arc` as the next one of `old` takes its old value (`old_value` of
/// its old position). Edits keep the order of the features they leave
/// alone (see `live`), so one forward walk finds them all; a value is only
/// copied for the very same feature, so a missed match costs time, never
/// correctness.
pub(super) fn carry<T>(
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
                    let levels: Option<Vec<Option<String>>> = n.level_property.as_ref().map(|p| {
                        layers[lines_layer]
                            .layer
                            .features
                            .iter()
                            .map(|f| f.property_text(p))
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
    /// geometry), grown by `reach`. A superset: features are matched by
    /// position and pointer, so a reordering marks more than it must.
    pub(super) fn edited_reach(
        &self,
        old: &IndexedLayer,
        new: &IndexedLayer,
        reach: f64,
    ) -> Vec<geo::Rect> {
        use geo::BoundingRect;
        let (a, b) = (&old.layer.features, &new.layer.features);
        let mut out = Vec::new();
        let mut mark = |f: &crate::model::Feature| {
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
        let (mut i, mut p) = (0, 0);
        while i < a.len() || p < b.len() {
            match (a.get(i), b.get(p)) {
                (Some(x), Some(y)) if Arc::ptr_eq(x, y) => {
                    i += 1;
                    p += 1;
                }
                (Some(x), Some(y)) if x.id == y.id => {
                    mark(x);
                    mark(y);
                    i += 1;
                    p += 1;
                }
                (Some(x), _) => {
                    mark(x);
                    i += 1;
                }
                (None, Some(y)) => {
                    mark(y);
                    p += 1;
                }
                (None, None) => break,
            }
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
                            (Some(z), _) => Some(super::zone::Seed {
                                previous: Arc::clone(z),
                                dirty: dirty.clone(),
                            }),
                            (None, Some(mut earlier)) => {
                                earlier.dirty.extend(dirty.iter().copied());
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

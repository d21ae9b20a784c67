//! What an outage cuts off, and which single assets would cut someone off
//! (N-1): the engineers' questions about the networks.
//!
//! A site draws on its feeds (`Feeds`): its own connections in a service's
//! network when it has any in the scenario (a branch main, a dedicated
//! feeder), else every eligible asset within reach, as the sites checklist
//! does. It is supplied while some feed is traced to a source; without a
//! network (gas, steam, road, park), while some feed is in service.
//!
//! `outage` switches off any set of assets and compares each site's
//! sources, each asset's supply and the zone area within reach before and
//! after. `critical` finds every single asset whose loss cuts a site off
//! with one depth-first search (`separation`), not by trying each asset:
//! the tests check it against that brute force.
//!
//! Must not: know about HTTP.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use geo::{BoundingRect, Geometry, MultiPolygon, Rect};
use serde::Serialize;

use super::separation::Separators;
use super::{area, polygons_of, AssetRef, Coverage, Feeds, Out, Scenario, Service};
use crate::budget::{Deadline, Exceeded};
use crate::geodesy;
use crate::index::IndexedLayer;

/// One service's share of an outage.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceOutage {
    pub service: &'static str,
    /// The switched-off assets this service uses, in the scenario.
    pub assets_out: Vec<AssetRef>,
    /// Sites supplied before and not after.
    pub lose_supply: Vec<AssetRef>,
    /// Sites fed by two or more sources before and by one after.
    pub lose_redundancy: Vec<AssetRef>,
    /// Network lines and sources (or, without a network, the service's
    /// assets) supplied before and not after, the switched-off ones included.
    pub dead_assets: Vec<AssetRef>,
    /// Zone area within reach of a supplied asset before and not after (m²).
    pub lost_m2: f64,
    /// That area, lon/lat.
    #[serde(skip)]
    pub lost_area: MultiPolygon,
}

/// A single asset whose loss cuts sites off.
#[derive(Debug, Clone, Serialize)]
pub struct CriticalAsset {
    pub asset: AssetRef,
    pub sites: Vec<AssetRef>,
}

/// The N-1 answer for one service and scenario.
#[derive(Debug, Clone, Serialize)]
pub struct Critical {
    pub service: &'static str,
    pub scenario: Scenario,
    /// Critical assets, most sites first.
    pub assets: Vec<CriticalAsset>,
    /// Sites supplied in the scenario (the only ones an outage can cut off).
    pub sites_supplied: usize,
    /// Sites with no supply at all in the scenario.
    pub sites_unsupplied: Vec<AssetRef>,
    /// Lines that name a site that does not exist (their link is ignored).
    pub dangling_links: Vec<(String, String)>,
}

/// Why an outage or N-1 question cannot be answered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlanError {
    #[error("{0}")]
    Unknown(String),
    #[error(transparent)]
    Exceeded(#[from] Exceeded),
}

impl Coverage {
    /// The assets named by id, as (layer, position): network lines and
    /// sources of every service and every service's own assets. Errors name
    /// the first id found nowhere.
    pub fn find_assets(
        &self,
        layers: &[Arc<IndexedLayer>],
        ids: &[&str],
    ) -> Result<Vec<(usize, usize)>, String> {
        let mut candidate_layers = BTreeSet::new();
        for s in &self.services {
            candidate_layers.insert(s.layer);
            if let Some(n) = &s.network {
                candidate_layers.extend([n.lines_layer, n.sources_layer]);
            }
        }
        let mut out = Vec::new();
        for id in ids {
            let found: Vec<(usize, usize)> = candidate_layers
                .iter()
                .filter_map(|&l| layers[l].position_of(id).map(|p| (l, p)))
                .collect();
            if found.is_empty() {
                return Err(format!(
                    "no asset of any service (pipe, feeder, feed, substation, road, park) has id {id:?}"
                ));
            }
            out.extend(found);
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// The positions of a service's eligible assets within reach of a site.
    fn reaching_site(
        &self,
        layers: &[Arc<IndexedLayer>],
        s: &Service,
        sc: Scenario,
        site: usize,
        deadline: &Deadline,
    ) -> Result<Vec<usize>, Exceeded> {
        let Some(sl) = self.sites_layer else {
            return Ok(vec![]);
        };
        let parcel = MultiPolygon(polygons_of(&layers[sl].layer.features[site].geometry));
        Ok(self
            .near_parcel(layers, s, sc, &parcel, deadline)?
            .positions())
    }

    /// A site's feeds for a service in a scenario (see the module doc).
    fn site_feeds(
        &self,
        layers: &[Arc<IndexedLayer>],
        s: &Service,
        sc: Scenario,
        site: usize,
        deadline: &Deadline,
    ) -> Result<Feeds, Exceeded> {
        Ok(match Self::links_of(s, sc, site) {
            Some(links) => Feeds::Links(links),
            None => Feeds::Assets(self.reaching_site(layers, s, sc, site, deadline)?),
        })
    }

    /// What switching off `assets` (layer, position) cuts off, per service
    /// that uses any of them in the scenario.
    pub fn outage(
        &self,
        layers: &[Arc<IndexedLayer>],
        assets: &[(usize, usize)],
        sc: Scenario,
        deadline: &Deadline,
    ) -> Result<Vec<ServiceOutage>, Exceeded> {
        let out_fn = |layer: usize, i: usize| assets.binary_search(&(layer, i)).is_ok();
        let out: Out = &out_fn;
        let mut answers = Vec::new();
        for s in &self.services {
            let uses = |&(layer, i): &(usize, usize)| {
                (layer == s.layer && s.eligible[sc.at()][i])
                    || s.network.as_ref().is_some_and(|n| {
                        (layer == n.lines_layer && n.line_on[sc.at()][i])
                            || (layer == n.sources_layer && n.source_on[sc.at()][i])
                    })
            };
            let used: Vec<(usize, usize)> = assets.iter().copied().filter(uses).collect();
            if used.is_empty() {
                continue;
            }
            answers.push(self.service_outage(layers, s, sc, &used, out, deadline)?);
        }
        Ok(answers)
    }

    fn service_outage(
        &self,
        layers: &[Arc<IndexedLayer>],
        s: &Service,
        sc: Scenario,
        used: &[(usize, usize)],
        out: Out,
        deadline: &Deadline,
    ) -> Result<ServiceOutage, Exceeded> {
        let mut own = None;
        // The network with its tracings before and after.
        let net = s
            .network
            .as_ref()
            .map(|n| (n, Self::traced(n, sc, Some(out), &mut own)));
        // Sources of a place before and after; without a network, the feeds
        // in service stand for sources.
        let sources = |feeds: &Feeds, later: bool| -> BTreeSet<usize> {
            match net {
                Some((n, after)) => {
                    let t = if later { after } else { &n.traced[sc.at()] };
                    Self::sources_of(s, n, t, feeds, later.then_some(out))
                }
                None => match feeds {
                    Feeds::Assets(a) | Feeds::Links(a) => a
                        .iter()
                        .copied()
                        .filter(|&i| !(later && out(s.layer, i)))
                        .collect(),
                },
            }
        };
        let mut lose_supply = Vec::new();
        let mut lose_redundancy = Vec::new();
        if let Some(sl) = self.sites_layer {
            let places: Vec<usize> = layers[sl]
                .layer
                .features
                .indexed()
                .map(|(p, _)| p)
                .collect();
            for site in places {
                deadline.check()?;
                let feeds = self.site_feeds(layers, s, sc, site, deadline)?;
                let (before, later) = (sources(&feeds, false), sources(&feeds, true));
                if !before.is_empty() && later.is_empty() {
                    lose_supply.push(self.asset(layers, sl, site));
                } else if before.len() >= 2 && later.len() == 1 {
                    lose_redundancy.push(self.asset(layers, sl, site));
                }
            }
        }
        // Assets supplied before and not after.
        let mut dead: Vec<(usize, usize)> = Vec::new();
        match &s.network {
            Some(n) => {
                for (i, &on) in n.line_on[sc.at()].iter().enumerate() {
                    let feeds = Feeds::Links(vec![i]);
                    if on && !sources(&feeds, false).is_empty() && sources(&feeds, true).is_empty()
                    {
                        dead.push((n.lines_layer, i));
                    }
                }
                for (i, &on) in n.source_on[sc.at()].iter().enumerate() {
                    if on && out(n.sources_layer, i) && !dead.contains(&(n.sources_layer, i)) {
                        dead.push((n.sources_layer, i));
                    }
                }
            }
            None => dead.extend(used.iter().copied().filter(|&(l, _)| l == s.layer)),
        }
        // The zone area within reach of the service's dead assets and of no
        // asset still supplied.
        let dead_own: Vec<usize> = dead
            .iter()
            .filter(|&&(l, _)| l == s.layer)
            .map(|&(_, i)| i)
            .collect();
        let lost_metric = self.lost_area(
            layers,
            s,
            sc,
            &dead_own,
            &|i| {
                let feeds = Feeds::Assets(vec![i]);
                !out(s.layer, i) && !sources(&feeds, true).is_empty()
            },
            deadline,
        )?;
        let lost_m2 = area::area_m2(&lost_metric);
        let refs = |v: &[(usize, usize)]| -> Vec<AssetRef> {
            v.iter().map(|&(l, i)| self.asset(layers, l, i)).collect()
        };
        Ok(ServiceOutage {
            service: s.name,
            assets_out: refs(used),
            lose_supply,
            lose_redundancy,
            dead_assets: refs(&dead),
            lost_m2: lost_m2.round(),
            lost_area: area::to_lonlat(&lost_metric, &self.proj),
        })
    }

    /// The zone (metric) within reach of the `dead` assets of a service and
    /// of none of its assets that `alive` accepts.
    fn lost_area(
        &self,
        layers: &[Arc<IndexedLayer>],
        s: &Service,
        sc: Scenario,
        dead: &[usize],
        alive: &dyn Fn(usize) -> bool,
        deadline: &Deadline,
    ) -> Result<MultiPolygon, Exceeded> {
        let layer = &layers[s.layer];
        let metric = |i: usize| area::to_metric(&layer.layer.features[i].geometry, &self.proj);
        let Some(extent) = dead
            .iter()
            .filter_map(|&i| layer.layer.features[i].geometry.bounding_rect())
            .reduce(|a, b| {
                Rect::new(
                    geo::coord! {x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y)},
                    geo::coord! {x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y)},
                )
            })
        else {
            return Ok(MultiPolygon(vec![]));
        };
        let lost = Self::covered_shape(
            s,
            dead.iter().map(|&i| (i, metric(i))),
            &self.zone_metric,
            deadline,
        )?;
        if lost.0.is_empty() {
            return Ok(lost);
        }
        // Alive assets that can reach the dead ones' reach: within twice the
        // largest reach of their extent.
        let window = geodesy::grow_box_m(extent, 2.0 * s.max_reach);
        let keep: Vec<(usize, Geometry)> = layer
            .envelope_candidates(window)
            .into_iter()
            .filter(|&i| s.eligible[sc.at()][i] && alive(i))
            .map(|i| (i, metric(i)))
            .collect();
        let kept = Self::covered_shape(s, keep, &lost, deadline)?;
        Ok(area::difference(&lost, &kept))
    }

    /// Every single asset of a networked service whose loss cuts at least one
    /// site off, with the sites: one depth-first search over the network.
    pub fn critical(
        &self,
        layers: &[Arc<IndexedLayer>],
        service: &str,
        sc: Scenario,
        deadline: &Deadline,
    ) -> Result<Critical, PlanError> {
        self.critical_over(layers, service, sc, None, deadline)
    }

    /// `critical` for one site alone (by position): the same search, the
    /// feeds of that site only (a site report asks this).
    pub fn critical_for_site(
        &self,
        layers: &[Arc<IndexedLayer>],
        service: &str,
        sc: Scenario,
        site: usize,
        deadline: &Deadline,
    ) -> Result<Critical, PlanError> {
        self.critical_over(layers, service, sc, Some(site), deadline)
    }

    fn critical_over(
        &self,
        layers: &[Arc<IndexedLayer>],
        service: &str,
        sc: Scenario,
        only: Option<usize>,
        deadline: &Deadline,
    ) -> Result<Critical, PlanError> {
        let networked: Vec<&str> = self
            .services
            .iter()
            .filter(|s| s.network.is_some())
            .map(|s| s.name)
            .collect();
        let Some(s) = self
            .services
            .iter()
            .find(|s| s.name == service && s.network.is_some())
        else {
            return Err(PlanError::Unknown(format!(
                "service {service:?} has no traced network; critical assets are found for: {}",
                networked.join(", ")
            )));
        };
        let n = s.network.as_ref().expect("networked");
        // Nodes: the network's vertices, then one per asset in service, then
        // the root standing for every source.
        let vertices = n.graph.node_count();
        let mut node_of: HashMap<(usize, usize), u32> = HashMap::new();
        let mut asset_of: Vec<(usize, usize)> = Vec::new();
        let mut adj: Vec<Vec<u32>> = vec![Vec::new(); vertices];
        let mut add_asset = |adj: &mut Vec<Vec<u32>>, key: (usize, usize), nodes: &[u32]| -> u32 {
            let id = *node_of.entry(key).or_insert_with(|| {
                adj.push(Vec::new());
                asset_of.push(key);
                (adj.len() - 1) as u32
            });
            for &v in nodes {
                adj[id as usize].push(v);
                adj[v as usize].push(id);
            }
            id
        };
        for (i, &on) in n.line_on[sc.at()].iter().enumerate() {
            if on {
                add_asset(&mut adj, (n.lines_layer, i), n.graph.line_nodes(i));
            }
        }
        let mut sources = Vec::new();
        for (i, &on) in n.source_on[sc.at()].iter().enumerate() {
            if on {
                sources.push(add_asset(
                    &mut adj,
                    (n.sources_layer, i),
                    n.graph.source_nodes(i),
                ));
            }
        }
        let root = adj.len() as u32;
        adj.push(Vec::new());
        for &src in &sources {
            adj[src as usize].push(root);
            adj[root as usize].push(src);
        }
        for list in &mut adj {
            list.sort_unstable();
            list.dedup();
        }
        deadline.check()?;
        let sep = Separators::search(&adj, root);
        let mut hit: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        let mut supplied = 0;
        let mut unsupplied = Vec::new();
        let sites = self.sites_layer.map(|sl| &layers[sl].layer.features);
        let which: Vec<usize> = match (only, sites) {
            (Some(t), Some(f)) => f.get(t).map(|_| t).into_iter().collect(),
            (None, Some(f)) => f.indexed().map(|(p, _)| p).collect(),
            (_, None) => Vec::new(),
        };
        for site in which {
            deadline.check()?;
            let feeds = match self.site_feeds(layers, s, sc, site, deadline)? {
                Feeds::Links(l) => l.into_iter().map(|i| (n.lines_layer, i)).collect(),
                Feeds::Assets(a) => a.into_iter().map(|i| (s.layer, i)).collect::<Vec<_>>(),
            };
            let nodes: Vec<u32> = feeds
                .iter()
                .filter_map(|k| node_of.get(k))
                .copied()
                .collect();
            if !nodes.iter().any(|&v| sep.reached(v)) {
                unsupplied.push(site);
                continue;
            }
            supplied += 1;
            for cut in sep.cut_by(&nodes) {
                if (cut as usize) >= vertices && cut != root {
                    hit.entry(cut).or_default().push(site);
                }
            }
        }
        let sl = self.sites_layer.unwrap_or_default();
        let mut assets: Vec<CriticalAsset> = hit
            .into_iter()
            .map(|(node, sites)| {
                let (layer, i) = asset_of[node as usize - vertices];
                CriticalAsset {
                    asset: self.asset(layers, layer, i),
                    sites: sites.iter().map(|&t| self.asset(layers, sl, t)).collect(),
                }
            })
            .collect();
        assets.sort_by(|a, b| {
            b.sites
                .len()
                .cmp(&a.sites.len())
                .then_with(|| a.asset.id.cmp(&b.asset.id))
        });
        Ok(Critical {
            service: s.name,
            scenario: sc,
            assets,
            sites_supplied: supplied,
            sites_unsupplied: unsupplied
                .iter()
                .map(|&t| self.asset(layers, sl, t))
                .collect(),
            dangling_links: n.dangling.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Switch;
    use super::*;
    use crate::testkit;

    /// The N-1 list equals the brute force: switch off every network asset
    /// in turn (the sites checklist's `without`) and keep those after which
    /// some site supplied before has no source.
    #[test]
    fn critical_equals_switching_off_every_asset_in_turn() {
        let catalog = testkit::sample();
        let cov = catalog.coverage.as_ref().expect("rules");
        let layers = &catalog.layers;
        let none = Deadline::none();
        for service in ["water", "power"] {
            let s = cov.services.iter().find(|s| s.name == service).unwrap();
            let n = s.network.as_ref().unwrap();
            for sc in Scenario::ALL {
                let fast = cov.critical(layers, service, sc, &none).unwrap();
                let supplied = |off: Option<Switch>| -> Vec<bool> {
                    cov.sites(layers, sc, off, &none)
                        .unwrap()
                        .iter()
                        .map(|(_, _, answers)| {
                            let a = answers.iter().find(|a| a.service == service).unwrap();
                            !a.supply.as_ref().unwrap().sources.is_empty()
                        })
                        .collect()
                };
                let base = supplied(None);
                let mut slow: Vec<(String, Vec<usize>)> = Vec::new();
                let mut tried = BTreeSet::new();
                for (layer, on) in [
                    (n.lines_layer, &n.line_on[sc.at()]),
                    (n.sources_layer, &n.source_on[sc.at()]),
                ] {
                    for (feature, _) in on.iter().enumerate().filter(|(_, on)| **on) {
                        if !tried.insert((layer, feature)) {
                            continue;
                        }
                        let after = supplied(Some(Switch { layer, feature }));
                        let cut: Vec<usize> =
                            (0..base.len()).filter(|&t| base[t] && !after[t]).collect();
                        if !cut.is_empty() {
                            slow.push((layers[layer].layer.features[feature].id.clone(), cut));
                        }
                    }
                }
                let sites = &layers[cov.sites_layer.unwrap()].layer.features;
                let mut slow: Vec<(String, Vec<String>)> = slow
                    .into_iter()
                    .map(|(id, t)| (id, t.iter().map(|&i| sites[i].id.clone()).collect()))
                    .collect();
                slow.sort();
                let mut got: Vec<(String, Vec<String>)> = fast
                    .assets
                    .iter()
                    .map(|c| {
                        (
                            c.asset.id.clone(),
                            c.sites.iter().map(|t| t.id.clone()).collect(),
                        )
                    })
                    .collect();
                got.sort();
                assert_eq!(got, slow, "{service} {sc:?}");
                // One site at a time (the site report) gives that site's share.
                for (t, site) in sites.indexed() {
                    let one = cov
                        .critical_for_site(layers, service, sc, t, &none)
                        .unwrap();
                    let mine: Vec<String> = one.assets.iter().map(|c| c.asset.id.clone()).collect();
                    let mut want: Vec<String> = got
                        .iter()
                        .filter(|(_, s)| s.contains(&site.id))
                        .map(|(a, _)| a.clone())
                        .collect();
                    want.sort();
                    let mut mine = mine;
                    mine.sort();
                    assert_eq!(mine, want, "{service} {sc:?} {}", site.id);
                }
                if service == "water" {
                    assert!(!got.is_empty(), "the sample's branch mains are critical");
                }
            }
        }
    }
}

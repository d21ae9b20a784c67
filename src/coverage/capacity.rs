//! Will the substations carry the sites they serve? Site power demand set
//! against substation capacity, per scenario.
//!
//! A site's demand is its stated `demand_kw`, else its area times the
//! planning load density of its land use (`[capacity]` in `coverage.toml`).
//! It counts in a scenario when its status does (an existing plant today;
//! every project once planned). Its substation is the one its own feeder
//! touches, else the nearest whose supply radius includes it (the sites
//! checklist's `connect_to` for power). A substation's capacity in kW is
//! its MVA × 1000 × the power factor; above 1, its load ratio flags an
//! overload.
//!
//! Must not: know about HTTP.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::{AssetRef, Coverage, Scenario};
use crate::budget::{Deadline, Exceeded};
use crate::index::IndexedLayer;

/// One site's demand.
#[derive(Debug, Clone, Serialize)]
pub struct SiteDemand {
    pub site: AssetRef,
    pub kind: Option<String>,
    pub area_m2: f64,
    /// kW; null when neither stated nor estimable (no density for its kind).
    pub demand_kw: Option<f64>,
    /// `stated` (its own property) or `density` (area × density).
    pub basis: &'static str,
    pub density_w_per_m2: Option<f64>,
}

/// One substation's load.
#[derive(Debug, Clone, Serialize)]
pub struct SubstationLoad {
    pub substation: AssetRef,
    pub capacity_mva: Option<f64>,
    pub capacity_kw: Option<f64>,
    pub demand_kw: f64,
    /// Demand over capacity; null without a capacity.
    pub load_ratio: Option<f64>,
    pub overloaded: bool,
    pub sites: Vec<SiteDemand>,
}

/// The capacity report of one scenario.
#[derive(Debug, Clone, Serialize)]
pub struct CapacityReport {
    pub scenario: Scenario,
    pub power_factor: f64,
    /// Every substation in service in the scenario, most loaded first.
    pub substations: Vec<SubstationLoad>,
    /// Sites counting in the scenario that no substation reaches.
    pub unserved: Vec<SiteDemand>,
    pub total_demand_kw: f64,
}

/// Why no capacity report can be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CapacityError {
    #[error("{0}")]
    NotConfigured(String),
    #[error(transparent)]
    Exceeded(#[from] Exceeded),
}

fn positive(v: Option<&Value>) -> Option<f64> {
    v.and_then(Value::as_f64)
        .filter(|x| x.is_finite() && *x >= 0.0)
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

impl Coverage {
    /// Site demand against substation capacity in a scenario.
    pub fn capacity(
        &self,
        layers: &[Arc<IndexedLayer>],
        sc: Scenario,
        deadline: &Deadline,
    ) -> Result<CapacityReport, CapacityError> {
        let rule = self.rules.capacity.as_ref().ok_or_else(|| {
            CapacityError::NotConfigured(
                "the coverage rules have no [capacity] section (power factor and load densities)"
                    .into(),
            )
        })?;
        let power = self
            .services
            .iter()
            .find(|s| s.name == "power")
            .ok_or_else(|| {
                CapacityError::NotConfigured("the coverage rules define no power service".into())
            })?;
        let Some(sl) = self.sites_layer else {
            return Err(CapacityError::NotConfigured(
                "the coverage rules name no sites collection".into(),
            ));
        };
        let checklist = self.sites(layers, sc, None, deadline)?;
        let subs = &layers[power.layer].layer.features;
        let mut by_sub: BTreeMap<usize, Vec<SiteDemand>> = BTreeMap::new();
        let mut unserved = Vec::new();
        for (t, (site, area_m2, answers)) in checklist.iter().enumerate() {
            let f = &layers[sl].layer.features[t];
            if !self.rules.scenarios.counts(f, sc) {
                continue;
            }
            let kind = f.property_text(&rule.kind_property);
            let density = kind
                .as_ref()
                .and_then(|k| rule.density_w_per_m2.get(k))
                .copied();
            let stated = positive(f.properties.get(&rule.demand_property));
            let demand = SiteDemand {
                site: site.clone(),
                kind,
                area_m2: area_m2.round(),
                demand_kw: stated.or(density.map(|d| round1(d * area_m2 / 1000.0))),
                basis: if stated.is_some() {
                    "stated"
                } else {
                    "density"
                },
                density_w_per_m2: if stated.is_some() { None } else { density },
            };
            // The substation its own feeder touches, else the nearest in reach.
            let fed_by = Self::links_of(power, sc, t).and_then(|links| {
                // Only when the network's sources are the substations.
                let n = power
                    .network
                    .as_ref()
                    .filter(|n| n.sources_layer == power.layer)?;
                links.iter().find_map(|&l| {
                    let nodes = n.graph.line_nodes(l);
                    (0..n.source_on[sc.at()].len()).find(|&s| {
                        n.source_on[sc.at()][s]
                            && n.graph.source_nodes(s).iter().any(|v| nodes.contains(v))
                    })
                })
            });
            let nearest = answers
                .iter()
                .find(|a| a.service == "power")
                .and_then(|a| a.connect_to.as_ref())
                .and_then(|r| layers[power.layer].position_of(&r.id));
            match fed_by.or(nearest) {
                Some(s) => by_sub.entry(s).or_default().push(demand),
                None => unserved.push(demand),
            }
        }
        let mut substations = Vec::new();
        for (i, f) in subs.indexed() {
            if !power.eligible[sc.at()][i] {
                continue;
            }
            let sites = by_sub.remove(&i).unwrap_or_default();
            // (+ 0.0: an empty f64 sum is -0.0)
            let demand_kw = round1(sites.iter().filter_map(|d| d.demand_kw).sum::<f64>() + 0.0);
            let capacity_mva = positive(f.properties.get(&rule.capacity_property));
            let capacity_kw = capacity_mva.map(|m| m * 1000.0 * rule.power_factor);
            let load_ratio = capacity_kw
                .filter(|c| *c > 0.0)
                .map(|c| (demand_kw / c * 1e4).round() / 1e4);
            substations.push(SubstationLoad {
                substation: self.asset(layers, power.layer, i),
                capacity_mva,
                capacity_kw,
                demand_kw,
                load_ratio,
                overloaded: load_ratio.is_some_and(|r| r > 1.0),
                sites,
            });
        }
        // (A site's substation is always one in service; nothing is left.)
        unserved.extend(by_sub.into_values().flatten());
        substations.sort_by(|a, b| {
            b.load_ratio
                .unwrap_or(f64::INFINITY)
                .total_cmp(&a.load_ratio.unwrap_or(f64::INFINITY))
                .then_with(|| a.substation.id.cmp(&b.substation.id))
        });
        let total_demand_kw = round1(
            substations
                .iter()
                .map(|s| s.demand_kw)
                .chain(unserved.iter().filter_map(|d| d.demand_kw))
                .sum(),
        );
        Ok(CapacityReport {
            scenario: sc,
            power_factor: rule.power_factor,
            substations,
            unserved,
            total_demand_kw,
        })
    }
}

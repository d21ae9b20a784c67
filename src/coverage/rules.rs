//! `coverage.toml`: which assets provide each service, how far they reach,
//! what the scenarios count, and how networks are traced.
//!
//! Must not: touch layers (resolution against the catalog happens in
//! `coverage::Coverage::build`), do I/O beyond reading the one file.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The file's name inside a data folder.
pub use crate::load::RULES_FILE;

/// Largest reach accepted, in metres. Areas are computed in one local
/// projection per parcel or zone; beyond 50 km its scale error would pass
/// the stated accuracy (see `geodesy::MAX_EXTENT_M`).
pub const MAX_REACH_M: f64 = 50_000.0;

/// The six services, in answer order.
pub const SERVICES: [&str; 6] = ["water", "gas", "steam", "power", "road", "park"];

/// The whole rules file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub scenarios: Scenarios,
    /// The features whose union is "the zone" (shares and gaps).
    pub zone: Selector,
    /// The project sites checklist (`/api/coverage/sites`).
    pub sites: Option<Selector>,
    pub services: BTreeMap<String, ServiceRule>,
    /// Substation capacity against site demand (`/api/network/capacity`).
    #[serde(default)]
    pub capacity: Option<CapacityRule>,
}

/// How site power demand is estimated and set against substation capacity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapacityRule {
    /// The substations' property holding their capacity in MVA.
    #[serde(default = "default_capacity_property")]
    pub capacity_property: String,
    /// The sites' property holding a stated demand in kW (wins over density).
    #[serde(default = "default_demand_property")]
    pub demand_property: String,
    /// The sites' property naming their land use (the density's key).
    #[serde(default = "default_kind_property")]
    pub kind_property: String,
    /// Power factor turning MVA into kW (`kW = MVA × 1000 × pf`).
    pub power_factor: f64,
    /// Planning load density (W per m² of site) by land use.
    pub density_w_per_m2: BTreeMap<String, f64>,
}

fn default_capacity_property() -> String {
    "capacity_mva".into()
}
fn default_demand_property() -> String {
    "demand_kw".into()
}
fn default_kind_property() -> String {
    "kind".into()
}

pub use crate::model::DEFAULT_STATUS_PROPERTY;

/// Which asset statuses each scenario counts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenarios {
    /// The property holding an asset's status; assets without it always count.
    pub status_property: String,
    pub current: Vec<String>,
    pub planned: Vec<String>,
}

/// A collection and an equality filter on its properties.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    pub collection: String,
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, toml::Value>,
}

impl Selector {
    /// The filter as (property, text) pairs; numbers compare by their text.
    pub fn filter_text(&self) -> Vec<(String, String)> {
        self.filter
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    toml::Value::String(s) => s.clone(),
                    toml::Value::Integer(i) => i.to_string(),
                    toml::Value::Float(f) => f.to_string(),
                    toml::Value::Boolean(b) => b.to_string(),
                    other => format!("{other:?}"),
                };
                (k.clone(), text)
            })
            .collect()
    }
}

/// How one service is provided.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceRule {
    /// What the map and reports call it (English, Chinese); the service's
    /// name when not given.
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub title_zh: Option<String>,
    /// The collection of assets that provide it.
    pub collection: String,
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, toml::Value>,
    /// Default reach in metres from an asset.
    pub reach_m: f64,
    /// Reach by a property's value (e.g. substation voltage), overriding `reach_m`.
    #[serde(default)]
    pub reach_by: Option<ReachBy>,
    /// A per-feature property holding its own reach in metres, overriding both.
    #[serde(default)]
    pub reach_property: Option<String>,
    /// Network tracing (sources reaching a place through connected lines).
    #[serde(default)]
    pub network: Option<NetworkRule>,
}

impl ServiceRule {
    pub fn selector(&self) -> Selector {
        Selector {
            collection: self.collection.clone(),
            filter: self.filter.clone(),
        }
    }
}

/// Reach by the value of a property.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReachBy {
    pub property: String,
    /// Property value (as text) -> reach in metres.
    pub values: BTreeMap<String, f64>,
}

/// How a service's network is traced.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkRule {
    /// The lines that connect; defaults to the service's own assets.
    #[serde(default)]
    pub lines: Option<Selector>,
    /// The sources; defaults to the service's own assets.
    #[serde(default)]
    pub sources: Option<Selector>,
    /// Lines connect where vertices lie within this many metres.
    #[serde(default = "default_tolerance")]
    pub tolerance_m: f64,
    /// A line property naming the site (by id) the line connects directly
    /// (a branch main, a dedicated feeder). A site with such a line in a
    /// scenario is supplied through it alone; others through every asset
    /// within reach.
    #[serde(default)]
    pub site_property: Option<String>,
    /// A line property holding its level (`voltage_kv`, a pressure class).
    /// With it, lines join only lines of their level and meet a source
    /// (substation, regulator) only to be fed by it (see `network`).
    #[serde(default)]
    pub level_property: Option<String>,
}

fn default_tolerance() -> f64 {
    1.0
}

/// Parse and check the text of a `coverage.toml` (as a store keeps it).
pub fn parse(text: &str) -> Result<Rules, String> {
    let rules: Rules = toml::from_str(text).map_err(|e| e.to_string().trim().replace('\n', " "))?;
    for (name, rule) in &rules.services {
        if !SERVICES.contains(&name.as_str()) {
            return Err(format!(
                "unknown service {name:?}; the services are: {}",
                SERVICES.join(", ")
            ));
        }
        let mut reaches = vec![rule.reach_m];
        if let Some(by) = &rule.reach_by {
            reaches.extend(by.values.values());
        }
        if let Some(bad) = reaches
            .iter()
            .find(|r| !r.is_finite() || **r <= 0.0 || **r > MAX_REACH_M)
        {
            return Err(format!(
                "service {name:?}: reach {bad} m is out of range; every reach must be above 0 and at most {MAX_REACH_M} m"
            ));
        }
    }
    if let Some(c) = &rules.capacity {
        if !(c.power_factor > 0.0 && c.power_factor <= 1.0) {
            return Err(format!(
                "capacity: power_factor {} is out of range; it must be above 0 and at most 1",
                c.power_factor
            ));
        }
        if let Some((kind, d)) = c
            .density_w_per_m2
            .iter()
            .find(|(_, d)| !d.is_finite() || **d < 0.0)
        {
            return Err(format!(
                "capacity: density_w_per_m2.{kind} = {d} is not a load density (W/m², 0 or more)"
            ));
        }
    }
    Ok(rules)
}

impl Scenarios {
    /// Whether a feature counts in each scenario (`Scenario::ALL` order):
    /// its status is one of the scenario's, or it has none. One property
    /// lookup, both answers.
    pub fn memberships(&self, f: &crate::model::Feature) -> [bool; 2] {
        let status = f
            .properties
            .get(&self.status_property)
            .filter(|v| !v.is_null());
        [&self.current, &self.planned].map(|list| {
            status.is_none_or(|v| list.iter().any(|s| crate::query::value_equals(Some(v), s)))
        })
    }

    /// Whether a feature counts in one scenario.
    pub fn counts(&self, f: &crate::model::Feature, sc: super::Scenario) -> bool {
        self.memberships(f)[sc as usize]
    }

    /// The rule an edit must keep: a feature's status, when it has one, is
    /// one of the scenarios' statuses. The problem, worded for the client.
    pub fn check_status(&self, f: &crate::model::Feature) -> Result<(), String> {
        let prop = &self.status_property;
        let Some(v) = f.properties.get(prop) else {
            return Ok(());
        };
        let allowed: Vec<&String> = self.planned.iter().chain(&self.current).collect();
        if allowed
            .iter()
            .any(|a| crate::query::value_equals(Some(v), a))
        {
            return Ok(());
        }
        let mut names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        Err(format!(
            "property {prop:?} is {v}; allowed: {}",
            names.join(", ")
        ))
    }
}

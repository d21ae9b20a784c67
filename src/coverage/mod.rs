//! Coverage answers: is a place served, by what, how far, what share of a
//! parcel or of the zone, where the gaps are, and which sources feed it.
//!
//! `Coverage` holds the rules resolved against one snapshot's layers
//! (`build`). The questions are answered in the files beside this one:
//! `point`, `parcel` (areas and sites), `supply` (tracing), `cache` (zone
//! results and the sites checklist, kept per snapshot), `stats`; the
//! planner's in `suitable`, `outage`, `capacity`.
//!
//! Must not: know about HTTP; do I/O (the rules arrive parsed).

mod answers;
pub mod area;
mod build;
mod cache;
pub mod capacity;
pub mod network;
pub mod outage;
mod parcel;
mod point;
pub mod rules;
pub mod runs;
mod separation;
mod stats;
pub mod suitable;
mod supply;
pub mod sweep;
mod zone;

use crate::chunked::Chunked;
use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use geo::{Geometry, MultiPolygon};

pub use answers::*;
use parcel::Region;
pub use parcel::MAX_PARCEL_COST;
pub(crate) use supply::{Feeds, Out};

use crate::geodesy::LocalProjection;
use crate::index::IndexedLayer;
use network::{Network, Tracing};
use rules::Rules;

/// A service's network (lines and sources, e.g. power lines and
/// substations) as a graph, traced per scenario.
#[derive(Debug)]
pub(super) struct ServiceNetwork {
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

/// One service resolved: its layer, per feature whether it counts in each
/// scenario and its reach, and its network when it has one.
#[derive(Debug)]
pub(super) struct Service {
    name: &'static str,
    layer: usize,
    /// By position (see `features`); empty places are not eligible.
    eligible: [Chunked<bool>; 2],
    reach: Chunked<f64>,
    /// The largest reach of a member feature (or the rule's default).
    max_reach: f64,
    /// How many member features have `max_reach`: an edit recomputes the
    /// maximum only when it removes the last of them.
    at_max: usize,
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
    /// Per service and scenario, the previous snapshot's zone result and
    /// where an edit changed the service's assets: the next computation
    /// redoes only the cells the edit reached (`zone::Seed`).
    seeds: Vec<[std::sync::Mutex<Option<zone::Seed>>; 2]>,
    /// The sites checklist without a switched-off asset, per scenario:
    /// the map asks for it on every statistics render.
    sites_cache: [OnceLock<Arc<Vec<SiteAnswer>>>; 2],
    /// Set while `warm` computes the zone results in the background.
    warming: AtomicBool,
}

/// The polygons of a (multi)polygon geometry; none for other kinds.
pub(crate) fn polygons_of(g: &Geometry) -> Vec<geo::Polygon> {
    match g {
        Geometry::Polygon(p) => vec![p.clone()],
        Geometry::MultiPolygon(m) => m.0.clone(),
        _ => vec![],
    }
}

/// Shares to 6 decimals: the overlay's floating-point noise (1e-11) would
/// otherwise turn a full cover into 0.99999999995.
pub(super) fn round_share(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Whether a service is among those asked for (all when none are named).
pub(super) fn picked(only: Option<&[&str]>, name: &str) -> bool {
    only.is_none_or(|o| o.contains(&name))
}

pub(super) fn feature_name(f: &crate::model::Feature) -> Option<String> {
    f.property_text("name")
}

impl Coverage {
    /// The services this data folder defines, in answer order.
    pub fn service_names(&self) -> Vec<&'static str> {
        self.services.iter().map(|s| s.name).collect()
    }

    pub(super) fn asset(&self, layers: &[Arc<IndexedLayer>], layer: usize, i: usize) -> AssetRef {
        let f = &layers[layer].layer.features[i];
        AssetRef {
            collection: layers[layer].layer.meta.id.clone(),
            id: f.id.clone(),
            name: feature_name(f),
        }
    }

    /// Eligible in the scenario, and not switched off.
    pub(super) fn on(&self, s: &Service, sc: Scenario, off: Option<Switch>, i: usize) -> bool {
        s.eligible[sc.at()][i]
            && off
                != Some(Switch {
                    layer: s.layer,
                    feature: i,
                })
    }
}

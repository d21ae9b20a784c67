//! Supply tracing: which sources feed a place through its connections (a
//! site's own lines, else the assets within reach), with assets switched
//! off hypothetically.
//!
//! Must not: measure areas or distances (see `parcel`, `point`).

use std::collections::BTreeSet;
use std::sync::Arc;

use super::network::Tracing;
use super::{AssetRef, Coverage, Scenario, Service, ServiceNetwork, Supply, Switch};
use crate::index::IndexedLayer;

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

impl Coverage {
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

    /// The components of a service's network in a scenario with the assets
    /// `out` names switched off (the cached tracing when none is).
    pub(super) fn traced<'n>(
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
    pub(super) fn sources_of(
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
    pub(super) fn supply(
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
    pub(super) fn links_of(s: &Service, sc: Scenario, site: usize) -> Option<Vec<usize>> {
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
}

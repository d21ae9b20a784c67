//! Answers kept per snapshot: each service's zone result per scenario
//! (computed once, in the background after start-up, and kept across edits
//! that leave the service's layers alone) and the sites checklist.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use geo::MultiPolygon;

use super::{polygons_of, Coverage, Scenario, SiteAnswer, Switch, ZoneResult};
use crate::budget::{Deadline, Exceeded};
use crate::index::IndexedLayer;

impl Coverage {
    /// A service's coverage of the whole zone, computed once per scenario.
    pub fn zone(
        &self,
        layers: &[Arc<IndexedLayer>],
        service: &str,
        sc: Scenario,
    ) -> Option<&ZoneResult> {
        let idx = self.services.iter().position(|s| s.name == service)?;
        Some(self.cache[idx][sc.at()].get_or_init(|| {
            let seed = self.seeds[idx][sc.at()]
                .lock()
                .ok()
                .and_then(|mut s| s.take());
            Arc::new(self.zone_result(layers, &self.services[idx], sc, seed))
        }))
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
        let mut list = Vec::with_capacity(layers[sl].layer.features.count());
        for (i, f) in layers[sl].layer.features.indexed() {
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
}

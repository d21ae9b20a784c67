//! A snapshot rebuilt from scratch: the oracle an edited snapshot must
//! answer as (its live features, numbered afresh, indexed and their
//! coverage resolved anew).

use zoneatlas::catalog::Catalog;
use zoneatlas::model::Layer;

/// `snap`'s features and rules, built from scratch.
pub fn fresh(snap: &Catalog) -> Catalog {
    let layers: Vec<Layer> = snap
        .layers
        .iter()
        .map(|l| Layer::from_shared(l.layer.meta.clone(), l.layer.features.to_vec()))
        .collect();
    let rules = (*snap.coverage.as_ref().expect("rules").rules).clone();
    Catalog::build(snap.manifest.clone(), layers, Some(rules), 0, 0).expect("fresh build")
}

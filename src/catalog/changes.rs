//! The next snapshot from a set of feature changes: an edit's, other
//! writers' commits read from the change log, or the past (`asof`). The
//! one way a snapshot changes; unchanged features stay shared (pointers
//! are copied, not features), and so do unchanged layers with their
//! indexes and coverage.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Catalog, CatalogError};
use crate::model::{union_rect, Feature, Layer};

/// Per layer id, feature id -> its state after the changes (`None`: gone).
pub type Changes = HashMap<String, HashMap<String, Option<Arc<Feature>>>>;

impl Catalog {
    /// This snapshot with `changes` applied, as `revision` (with `version`
    /// for ETags). Changes to a layer this snapshot does not hold are left
    /// out (a layer added since start-up is served after a restart).
    pub fn with_changes(
        &self,
        changes: &Changes,
        version: u64,
        revision: u64,
    ) -> Result<Catalog, CatalogError> {
        let replaced = changes
            .iter()
            .filter_map(|(layer, states)| {
                patched(
                    self,
                    layer,
                    states.iter().map(|(id, s)| (id.as_str(), s.clone())),
                )
            })
            .collect();
        self.with_layers(replaced, version, revision)
    }
}

/// Layer `layer_id` of `snap` with `changes` applied (id → the feature's
/// new state, `None`: gone): replaced in its place, its place emptied, or
/// added after the others in id order. Only the chunks of places that
/// change are copied (see `features`), so unchanged features stay shared
/// and keep their positions (and their place in the indexes). When
/// deletions have left the layer sparse, it is renumbered (a new
/// generation). `None` for no such layer.
pub(super) fn patched<'a>(
    snap: &Catalog,
    layer_id: &str,
    changes: impl IntoIterator<Item = (&'a str, Option<Arc<Feature>>)>,
) -> Option<(usize, Layer)> {
    let pos = snap.layer_position(layer_id)?;
    let old = &snap.layers[pos].layer;
    let mut features = old.features.clone();
    let mut created: Vec<Arc<Feature>> = Vec::new();
    // The layer's extent, grown by what is new; measured afresh only when a
    // feature that leaves or changes touched its edge (reading every
    // feature's box is most of an edit's cost on a million features).
    let mut extent = Some(old.extent);
    let grow = |extent: &mut Option<Option<geo::Rect>>, b: geo::Rect| {
        if let Some(e) = extent {
            *e = Some(e.map_or(b, |e| union_rect(e, b)));
        }
    };
    for (id, state) in changes {
        let at = snap.feature_index(layer_id, id);
        if let (Some(p), Some(Some(e))) = (at, extent) {
            if on_edge(e, features[p].bbox) {
                extent = None;
            }
        }
        match (at, state) {
            (Some(p), Some(newer)) => {
                grow(&mut extent, newer.bbox);
                features.replace(p, newer);
            }
            (Some(p), None) => features.remove(p),
            (None, Some(newer)) => {
                grow(&mut extent, newer.bbox);
                created.push(newer);
            }
            (None, None) => {}
        }
    }
    created.sort_by(|a, b| a.id.cmp(&b.id));
    for f in created {
        features.push(f);
    }
    if features.sparse() {
        features = features.compacted();
    }
    let layer = match extent {
        Some(extent) if !features.is_empty() => Layer {
            meta: old.meta.clone(),
            features,
            extent,
        },
        _ => Layer::of(old.meta.clone(), features),
    };
    Some((pos, layer))
}

/// Whether `b` (inside `extent`) reaches its edge: removing it may shrink it.
fn on_edge(extent: geo::Rect, b: geo::Rect) -> bool {
    b.min().x <= extent.min().x
        || b.min().y <= extent.min().y
        || b.max().x >= extent.max().x
        || b.max().y >= extent.max().y
}

#[cfg(test)]
mod tests {
    use super::patched;
    use crate::catalog::Catalog;
    use crate::model::Feature;
    use std::sync::Arc;

    /// The extent kept incrementally equals the one measured afresh, over
    /// a walk of edits that grow it, shrink it (removing the features on
    /// its edges) and leave it alone.
    #[test]
    fn an_edited_layers_extent_equals_a_fresh_measure() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("geodata");
        let mut snap = Catalog::from_dataset(crate::load::load_folder(&dir).expect("sample loads"))
            .expect("sample rules");
        let mut seed = 7u64;
        for step in 0..200 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let layer = &snap.layer("roads").unwrap().layer;
            let n = layer.features.count();
            let pick = layer
                .features
                .nth_position((seed >> 33) as usize % n)
                .unwrap();
            let f = &layer.features[pick];
            let change: (String, Option<Arc<Feature>>) = match step % 4 {
                // Delete the feature holding the western edge.
                0 => {
                    let west = layer
                        .features
                        .live()
                        .min_by(|a, b| a.bbox.min().x.total_cmp(&b.bbox.min().x))
                        .unwrap();
                    (west.id.clone(), None)
                }
                // Move a feature by up to ±0.05°, in or out of the extent.
                1 | 2 => {
                    let dx = ((seed >> 20) % 1000) as f64 / 1e4 - 0.05;
                    let mut g = (**f).clone();
                    g.geometry = geo::MapCoords::map_coords(
                        &g.geometry,
                        |c| geo::coord! {x: c.x + dx, y: c.y - dx},
                    );
                    g.bbox = geo::BoundingRect::bounding_rect(&g.geometry).unwrap();
                    (g.id.clone(), Some(Arc::new(g)))
                }
                // A new copy far east.
                _ => {
                    let mut g = (**f).clone();
                    g.id = format!("NEW-{step}");
                    g.geometry = geo::MapCoords::map_coords(
                        &g.geometry,
                        |c| geo::coord! {x: c.x + 0.2, y: c.y},
                    );
                    g.bbox = geo::BoundingRect::bounding_rect(&g.geometry).unwrap();
                    (g.id.clone(), Some(Arc::new(g)))
                }
            };
            let (pos, layer) =
                patched(&snap, "roads", [(change.0.as_str(), change.1.clone())]).unwrap();
            let fresh = crate::model::Layer::of(layer.meta.clone(), layer.features.clone());
            assert_eq!(layer.extent, fresh.extent, "step {step}");
            snap = snap
                .with_layers(vec![(pos, layer)], step + 1, step + 1)
                .unwrap();
        }
    }
}

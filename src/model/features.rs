//! A layer's features by position, persistent across snapshots.
//!
//! Positions are stable for the life of a layer's generation: an edit
//! replaces a feature in its place, a deletion leaves the place empty, and a
//! new feature takes the next place. So a position named by an index, a
//! coverage array or a tile stays valid across edits, and the next version
//! after k changes shares everything else with the one before (see
//! `chunked`). Layer order — what `/items` pages through — is position
//! order over the live features: the order the features were loaded in,
//! new features after them in the order they were made.
//!
//! When deletions leave more than a quarter of the places empty,
//! `compacted` renumbers the live features into a new generation; whatever
//! keys on positions (indexes, per-feature coverage values) sees the new
//! generation and rebuilds instead of carrying over.
//!
//! Must not: do I/O.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::Feature;
use crate::chunked::Chunked;

/// Generations are numbered once per process: equal generations mean the
/// same numbering of positions.
static GENERATIONS: AtomicU64 = AtomicU64::new(1);

/// A layer's features: each position holds a feature or nothing (deleted).
#[derive(Debug, Clone, Default)]
pub struct Features {
    places: Chunked<Option<Arc<Feature>>>,
    /// How many places hold a feature.
    live: usize,
    generation: u64,
}

impl Features {
    /// Features in the order given, at positions `0..n`, as a new generation.
    pub fn new(features: impl IntoIterator<Item = Arc<Feature>>) -> Features {
        let places: Chunked<Option<Arc<Feature>>> = features.into_iter().map(Some).collect();
        Features {
            live: places.len(),
            places,
            generation: GENERATIONS.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// How many features it holds.
    pub fn count(&self) -> usize {
        self.live
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// How many places there are (live or empty): positions run below it,
    /// and arrays indexed by position have this length.
    pub fn places(&self) -> usize {
        self.places.len()
    }

    /// Which numbering of positions this is (see the module doc).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The feature at position `p`, if the place holds one.
    pub fn get(&self, p: usize) -> Option<&Arc<Feature>> {
        self.places.get(p)?.as_ref()
    }

    /// The live features in layer order.
    pub fn live(&self) -> impl Iterator<Item = &Arc<Feature>> + Clone + '_ {
        self.places.iter().flatten()
    }

    /// The live features in layer order, each with its position.
    pub fn indexed(&self) -> impl Iterator<Item = (usize, &Arc<Feature>)> + Clone + '_ {
        self.places
            .iter()
            .enumerate()
            .filter_map(|(p, f)| Some((p, f.as_ref()?)))
    }

    /// Each place in order, empty ones as `None`: for arrays indexed by
    /// position.
    pub fn places_iter(&self) -> impl Iterator<Item = Option<&Arc<Feature>>> + '_ {
        self.places.iter().map(Option::as_ref)
    }

    /// How many chunks of places there are (see `chunked`).
    pub fn chunk_count(&self) -> usize {
        self.places.chunk_count()
    }

    /// The live features of chunk `c`.
    pub fn chunk(&self, c: usize) -> impl Iterator<Item = &Arc<Feature>> {
        self.places.chunk(c).iter().flatten()
    }

    /// Whether chunk `c` is shared with `old` (then it holds the same
    /// features there).
    pub fn same_chunk(&self, old: &Features, c: usize) -> bool {
        self.generation == old.generation && self.places.same_chunk(&old.places, c)
    }

    /// The position of the `k`-th live feature (from 0) in layer order.
    pub fn nth_position(&self, k: usize) -> Option<usize> {
        if self.live == self.places.len() {
            return (k < self.live).then_some(k);
        }
        self.indexed().nth(k).map(|(p, _)| p)
    }

    /// Replace the feature at live position `p`.
    pub fn replace(&mut self, p: usize, f: Arc<Feature>) {
        debug_assert!(self.get(p).is_some(), "replacing an empty place");
        self.places.set(p, Some(f));
    }

    /// Empty the place at position `p`.
    pub fn remove(&mut self, p: usize) {
        if self.get(p).is_some() {
            self.places.set(p, None);
            self.live -= 1;
        }
    }

    /// Add a feature at the next position; returns it.
    pub fn push(&mut self, f: Arc<Feature>) -> usize {
        self.places.push(Some(f));
        self.live += 1;
        self.places.len() - 1
    }

    /// The live features, in layer order, as a vector (for loaders that
    /// rearrange a layer before it is served).
    pub fn to_vec(&self) -> Vec<Arc<Feature>> {
        self.live().cloned().collect()
    }

    /// Whether enough places are empty that renumbering pays.
    pub fn sparse(&self) -> bool {
        let empty = self.places.len() - self.live;
        empty > crate::chunked::CHUNK && empty * 4 > self.places.len()
    }

    /// The live features renumbered `0..count`, as a new generation.
    pub fn compacted(&self) -> Features {
        Features::new(self.live().cloned())
    }

    /// The positions that may differ from `old` (same generation): those
    /// whose chunk is not shared with it, filtered to the places whose
    /// content is not the same `Arc` (or emptiness). `None` when `old` is
    /// another generation (every position may differ).
    pub fn changed_since(&self, old: &Features) -> Option<Vec<usize>> {
        if old.generation != self.generation {
            return None;
        }
        let mut out = Vec::new();
        for range in self.places.changed_chunks(&old.places) {
            for p in range {
                let same = match (self.get(p), old.get(p)) {
                    (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                    (None, None) => p < old.places(),
                    _ => false,
                };
                if !same {
                    out.push(p);
                }
            }
        }
        Some(out)
    }
}

impl std::ops::Index<usize> for Features {
    type Output = Arc<Feature>;
    /// The feature at a live position. Positions come from this version's
    /// indexes and arrays, which name live places only.
    fn index(&self, p: usize) -> &Arc<Feature> {
        self.places[p]
            .as_ref()
            .expect("a position names a live feature")
    }
}

impl FromIterator<Arc<Feature>> for Features {
    fn from_iter<I: IntoIterator<Item = Arc<Feature>>>(iter: I) -> Self {
        Features::new(iter)
    }
}

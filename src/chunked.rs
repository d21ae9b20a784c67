//! A persistent vector in fixed-size chunks: a snapshot's per-feature
//! arrays (the features themselves, each feature's reach and eligibility).
//!
//! A clone copies one pointer per chunk, and a write copies only the chunk
//! it lands in (`Arc::make_mut`), so the next snapshot after k changes costs
//! O(n / CHUNK + k · CHUNK) pointer copies and shares every other chunk with
//! the one before — at a million features, ~1,000 chunk pointers instead of
//! a million feature pointers. Reads are two loads (`chunk`, `offset`), as
//! fast as a flat vector's in practice.
//!
//! Two versions can be compared chunk by chunk (`changed`): a chunk that is
//! the same `Arc` in both holds the same values, so what an edit changed is
//! found without reading what it did not.
//!
//! Must not: do I/O or know what it holds.

use std::ops::Index;
use std::sync::Arc;

/// Elements per chunk (a power of two).
pub const CHUNK: usize = 1 << CHUNK_BITS;
const CHUNK_BITS: usize = 10;

/// A vector of `T` shared chunk by chunk between versions.
#[derive(Debug)]
pub struct Chunked<T> {
    chunks: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T> Clone for Chunked<T> {
    fn clone(&self) -> Self {
        Chunked {
            chunks: self.chunks.clone(),
            len: self.len,
        }
    }
}

impl<T> Default for Chunked<T> {
    fn default() -> Self {
        Chunked {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Chunked<T> {
    /// How many elements it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The element at `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i >> CHUNK_BITS)?.get(i & (CHUNK - 1))
    }

    /// Every element, in order.
    pub fn iter(&self) -> impl Iterator<Item = &T> + Clone + '_ {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// The positions whose chunk differs from `old`'s (not the same `Arc`,
    /// or beyond `old`'s end), chunk by chunk, as ranges: a superset of what
    /// changed between the two, exact to the chunk.
    pub fn changed_chunks<'a>(
        &'a self,
        old: &'a Chunked<T>,
    ) -> impl Iterator<Item = std::ops::Range<usize>> + 'a {
        self.chunks
            .iter()
            .enumerate()
            .filter_map(move |(c, chunk)| {
                let same = old.chunks.get(c).is_some_and(|o| Arc::ptr_eq(o, chunk));
                let start = c << CHUNK_BITS;
                (!same).then(|| start..start + chunk.len())
            })
    }

    /// How many chunks it holds.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// The elements of chunk `c`.
    pub fn chunk(&self, c: usize) -> &[T] {
        &self.chunks[c]
    }

    /// Whether chunk `c` is the same (shared) in `old`.
    pub fn same_chunk(&self, old: &Chunked<T>, c: usize) -> bool {
        match (self.chunks.get(c), old.chunks.get(c)) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl<T: Clone> Chunked<T> {
    /// Replace the element at `i` (which must exist), copying its chunk if
    /// another version shares it.
    pub fn set(&mut self, i: usize, value: T) {
        let chunk = Arc::make_mut(&mut self.chunks[i >> CHUNK_BITS]);
        chunk[i & (CHUNK - 1)] = value;
    }

    /// Append an element.
    pub fn push(&mut self, value: T) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => Arc::make_mut(last).push(value),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(value);
                self.chunks.push(Arc::new(chunk));
            }
        }
        self.len += 1;
    }
}

impl<T> FromIterator<T> for Chunked<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        let mut out = Chunked::default();
        let mut chunk: Vec<T> = Vec::with_capacity(CHUNK);
        for v in iter {
            chunk.push(v);
            if chunk.len() == CHUNK {
                out.len += CHUNK;
                out.chunks.push(Arc::new(std::mem::replace(
                    &mut chunk,
                    Vec::with_capacity(CHUNK),
                )));
            }
        }
        if !chunk.is_empty() {
            out.len += chunk.len();
            chunk.shrink_to_fit();
            out.chunks.push(Arc::new(chunk));
        }
        out
    }
}

impl<T> Index<usize> for Chunked<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against a plain `Vec` over a walk of sets and pushes: the same
    /// elements, and every chunk an edit did not reach still shared.
    #[test]
    fn a_chunked_vector_equals_a_vec_and_shares_what_it_did_not_change() {
        let mut flat: Vec<u64> = (0..3000).collect();
        let mut chunked: Chunked<u64> = flat.iter().copied().collect();
        let mut seed = 11u64;
        for step in 0..500u64 {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            let before = chunked.clone();
            let i = (seed >> 33) as usize % (flat.len() + 1);
            if i == flat.len() {
                flat.push(step);
                chunked.push(step);
            } else {
                flat[i] = step;
                chunked.set(i, step);
            }
            assert_eq!(chunked.len(), flat.len());
            assert!(chunked.iter().copied().eq(flat.iter().copied()));
            assert_eq!(chunked[i.min(flat.len() - 1)], flat[i.min(flat.len() - 1)]);
            let changed: Vec<_> = chunked.changed_chunks(&before).collect();
            assert_eq!(changed.len(), 1, "step {step}: one chunk written");
            assert!(changed[0].contains(&i.min(flat.len() - 1)));
            assert_eq!(before.len() + usize::from(i == before.len()), chunked.len());
        }
        assert_eq!(chunked.get(flat.len()), None);
    }
}

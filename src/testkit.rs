//! What the library's unit tests share: the sample and other data folders
//! loaded as snapshots, a seeded generator.

use std::path::Path;

use crate::catalog::Catalog;

/// A data folder, loaded and indexed with its rules resolved.
pub fn open_folder(dir: &Path) -> Catalog {
    let data = crate::load::load_folder(dir).expect("a valid data folder");
    Catalog::from_dataset(data).expect("rules that fit the data")
}

/// The bundled sample, loaded.
pub fn sample() -> Catalog {
    open_folder(&Path::new(env!("CARGO_MANIFEST_DIR")).join("geodata"))
}

/// Uniform numbers in [0, 1) from a seed (a 64-bit LCG).
pub fn rng(mut seed: u64) -> impl FnMut() -> f64 {
    move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 11) as f64 / (1u64 << 53) as f64
    }
}

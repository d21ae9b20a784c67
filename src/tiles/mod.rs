//! Vector tiles from the in-memory index: the WebMercatorQuad tile matrix
//! set (OGC 17-083r4), and a tile rendered straight from the R-trees into
//! Mapbox Vector Tile bytes (`mvt.rs`).
//!
//! Per feature: candidates from the envelope R-tree over the tile plus its
//! buffer; coordinates to tile units (4096 a side; `Units`: Mercator's y
//! as a quartic around the tile near it, within 0.001 unit); clipped to
//! the buffered square (lines piecewise, polygon rings by Sutherland-Hodgman, which is
//! exact for a convex clip); simplified by Douglas-Peucker at half a pixel
//! of a 256-pixel tile (8 units), so what is drawn moves by less than a
//! pixel; rounded to whole units, repeated points dropped. Kept vertices
//! are original vertices and clip points lie on original edges, so every
//! decoded coordinate is within 0.71 unit of the original geometry.
//!
//! Small things, one rule everywhere: a line or polygon whose whole
//! envelope is smaller than one pixel of a 256-pixel tile (16 units) in
//! both directions at this zoom is left out of the tile (it would draw as
//! a speck, and the same feature is left out of every tile at that zoom);
//! points are always kept. Rings that round to nothing are dropped, a
//! polygon whose outer ring does is dropped, holes with it.
//!
//! Dense tiles, one more rule (tippecanoe's `--drop-smallest-as-needed`):
//! a tile is kept under `BUDGET` bytes by leaving out its smallest lines
//! and polygons (by envelope) first, all layers together, down to one size
//! threshold; points stay. Only low zooms over a city reach it (a z10 tile
//! of the synthetic 1M-segment city holds 15,000 features, 1.6 MB).
//!
//! The files: `matrix` (tile ids, boxes, lon/lat to tile units), `render`
//! (a tile from the R-trees, the byte budget), `clip` (clipping and
//! simplification in tile units), `mvt` (the protobuf encoding).
//!
//! Must not: know about HTTP, or decide which features a client may see
//! (the caller's `keep` does).

mod clip;
mod matrix;
pub mod mvt;
mod render;

pub use matrix::TileId;

/// A position in tile units.
type Pt = (f64, f64);
pub use render::{render, render_within, Properties, Source};

/// Tile units a side.
pub const EXTENT: u32 = 4096;
/// Units kept beyond each edge, so strokes join across tiles.
pub const BUFFER: f64 = 64.0;
/// Douglas-Peucker tolerance, in units: half a pixel of a 256-pixel tile.
pub const TOLERANCE: f64 = 8.0;
/// Lines and polygons smaller than this (units, both ways) are left out.
pub const SPECK: f64 = 16.0;
/// A tile's size beyond which the smallest features give way (bytes,
/// before compression; tippecanoe's default limit is 500 KB).
pub const BUDGET: usize = 256 * 1024;
/// The deepest zoom of WebMercatorQuad.
pub const MAX_ZOOM: u8 = 24;
/// Web Mercator's latitude limit.
pub use crate::crs::web_mercator::MAX_LAT;

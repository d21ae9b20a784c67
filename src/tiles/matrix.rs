//! The WebMercatorQuad tile matrix set (OGC 17-083r4): tile ids, their
//! lon/lat boxes, and lon/lat positions in a tile's units (4096 a side, y
//! down), exactly (`TileId::to_units`) and fast near the tile (`Units`).

use geo::{Coord, Rect};

use super::{EXTENT, MAX_ZOOM};
use crate::crs::web_mercator::{self, lat_of, lon_of};

/// One tile of WebMercatorQuad: row `y` counts down from the north.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileId {
    pub z: u8,
    pub x: u32,
    pub y: u32,
}

impl TileId {
    /// A tile, if it exists in the matrix.
    pub fn new(z: u32, x: u32, y: u32) -> Result<TileId, String> {
        if z > u32::from(MAX_ZOOM) {
            return Err(format!(
                "tileMatrix {z} is beyond WebMercatorQuad's deepest, {MAX_ZOOM}"
            ));
        }
        let n = 1u32 << z;
        if x >= n || y >= n {
            return Err(format!(
                "tile {z}/{y}/{x} is outside the matrix: at level {z}, row and column run 0 to {}",
                n - 1
            ));
        }
        Ok(TileId { z: z as u8, x, y })
    }

    fn scale(&self) -> f64 {
        f64::from(1u32 << self.z)
    }

    /// The tile's lon/lat box grown by `units` of the tile on each side.
    pub fn lonlat_box(&self, units: f64) -> Rect {
        let n = self.scale();
        let pad = units / f64::from(EXTENT);
        let (x0, x1) = (
            (f64::from(self.x) - pad) / n,
            (f64::from(self.x) + 1.0 + pad) / n,
        );
        let (y0, y1) = (
            (f64::from(self.y) - pad) / n,
            (f64::from(self.y) + 1.0 + pad) / n,
        );
        Rect::new(
            geo::coord! {x: lon_of(x0), y: lat_of(y1.min(1.0))},
            geo::coord! {x: lon_of(x1), y: lat_of(y0.max(0.0))},
        )
    }

    /// A lon/lat position in this tile's units (y down).
    #[inline]
    pub fn to_units(&self, c: Coord) -> (f64, f64) {
        let (mx, my) = web_mercator::unit(c);
        let (n, e) = (self.scale(), f64::from(EXTENT));
        (
            (mx * n - f64::from(self.x)) * e,
            (my * n - f64::from(self.y)) * e,
        )
    }
}

/// Lon/lat to one tile's units, as `TileId::to_units` but cheaper where
/// it matters: near the tile (within two tile heights, from z10 on, away
/// from the poles) Mercator's y is a quartic in the latitude around the
/// tile's centre, off by less than 0.001 unit (the test measures it), where
/// the exact form costs a sine and a logarithm per vertex.
#[derive(Debug, Clone, Copy)]
pub(super) struct Units {
    pub(super) tile: TileId,
    /// The tile's centre latitude (radians), and how far from it the quartic
    /// is used (radians; 0 when never).
    phi0: f64,
    span: f64,
    /// y in units = k[0] + d (k[1] + d (k[2] + d (k[3] + d k[4]))),
    /// d = φ - φ0.
    k: [f64; 5],
    /// x in units = ax λ + bx (λ in degrees): no division a vertex.
    ax: f64,
    bx: f64,
}

impl Units {
    pub(super) fn new(tile: TileId) -> Units {
        let n = tile.scale();
        let (top, bottom) = (
            lat_of(f64::from(tile.y) / n),
            lat_of((f64::from(tile.y) + 1.0) / n),
        );
        let phi0 = lat_of((f64::from(tile.y) + 0.5) / n).to_radians();
        let near_pole = top.abs().max(bottom.abs()) > 80.0;
        let span = if tile.z >= 10 && !near_pole {
            2.0 * (top - bottom).to_radians()
        } else {
            0.0
        };
        // y = (0.5 - ψ / 2π) n E - y_tile E with ψ = atanh(sin φ), whose
        // derivatives are sec φ, sec φ tan φ, sec φ (2 tan² φ + 1),
        // sec φ tan φ (6 tan² φ + 5).
        let e = f64::from(EXTENT);
        let b = n * e / (2.0 * std::f64::consts::PI);
        let (sec, tan) = (1.0 / phi0.cos(), phi0.tan());
        let psi0 = phi0.sin().atanh();
        let k = [
            (0.5 * n - f64::from(tile.y)) * e - b * psi0,
            -b * sec,
            -b * sec * tan / 2.0,
            -b * sec * (2.0 * tan * tan + 1.0) / 6.0,
            -b * sec * tan * (6.0 * tan * tan + 5.0) / 24.0,
        ];
        Units {
            tile,
            phi0,
            span,
            k,
            ax: n * e / 360.0,
            bx: (0.5 * n - f64::from(tile.x)) * e,
        }
    }

    /// A lon/lat position in the tile's units (y down).
    #[inline]
    pub(super) fn of(&self, c: Coord) -> (f64, f64) {
        let d = c.y.to_radians() - self.phi0;
        if d.abs() > self.span {
            return self.tile.to_units(c);
        }
        let k = &self.k;
        (
            self.ax * c.x + self.bx,
            k[0] + d * (k[1] + d * (k[2] + d * (k[3] + d * k[4]))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tiles::MAX_LAT;

    #[test]
    fn tile_boxes_match_the_published_matrix() {
        // z1: four tiles meeting at (0, 0); row 0 is the north.
        let t = TileId::new(1, 1, 0).unwrap();
        let b = t.lonlat_box(0.0);
        assert!((b.min().x - 0.0).abs() < 1e-12 && (b.max().x - 180.0).abs() < 1e-12);
        assert!((b.min().y - 0.0).abs() < 1e-9 && (b.max().y - MAX_LAT).abs() < 1e-9);
        // Zhengzhou at z14: the slippy-map formula, evaluated separately in
        // Python, puts (113.53, 34.69) at column 13358.876, row 6506.858.
        let t = TileId::new(14, 13358, 6506).unwrap();
        let (x, y) = t.to_units(geo::coord! {x: 113.53, y: 34.69});
        assert!((x - 0.876_444 * 4096.0).abs() < 0.01, "{x}");
        assert!((y - 0.857_639 * 4096.0).abs() < 0.01, "{y}");
        assert!(TileId::new(2, 4, 0).is_err());
        assert!(TileId::new(25, 0, 0).is_err());
    }

    #[test]
    fn the_fast_projection_is_within_a_thousandth_of_a_unit_of_the_exact_one() {
        let mut s = 0x2545_f491_4f6c_dd1du64;
        let mut unit = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut fast_used = 0;
        for _ in 0..20_000 {
            let z = 6 + (unit() * 19.0) as u32;
            let lat = -84.0 + unit() * 168.0;
            let lon = -180.0 + unit() * 360.0;
            let (mx, my) = web_mercator::unit(geo::coord! {x: lon, y: lat});
            let n = f64::from(1u32 << z);
            let tile = TileId::new(z, (mx * n) as u32, (my * n) as u32).unwrap();
            let u = Units::new(tile);
            // Points up to three tile heights away, either side.
            let b = tile.lonlat_box(0.0);
            let h = b.height();
            let c = geo::coord! {x: b.min().x + unit() * b.width(), y: b.min().y - 3.0 * h + unit() * 7.0 * h};
            let (x, y) = u.of(c);
            let (ex, ey) = tile.to_units(c);
            assert!(
                (x - ex).abs() < 1e-3 && (y - ey).abs() < 1e-3,
                "z{z} {c:?}: {x},{y} vs {ex},{ey}"
            );
            fast_used += usize::from((c.y.to_radians() - u.phi0).abs() <= u.span);
        }
        assert!(fast_used > 5_000, "{fast_used}");
    }
}

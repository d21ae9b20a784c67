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
//! Must not: know about HTTP, or decide which features a client may see
//! (the caller's `keep` does).

pub mod mvt;

use geo::{Coord, Geometry, Rect};
use serde_json::Value;

use crate::index::IndexedLayer;
use crate::model::Feature;
use mvt::{Commands, GeomType, LayerWriter, TileValue};

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
pub const MAX_LAT: f64 = 85.051_128_779_806_59;

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
        let (mx, my) = mercator(c);
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
struct Units {
    tile: TileId,
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
    fn new(tile: TileId) -> Units {
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
    fn of(&self, c: Coord) -> (f64, f64) {
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

/// Web Mercator, normalised to [0, 1] both ways, y down.
#[inline]
pub fn mercator(c: Coord) -> (f64, f64) {
    let lat = c.y.clamp(-MAX_LAT, MAX_LAT).to_radians();
    let x = (c.x + 180.0) / 360.0;
    // ln(tan φ + sec φ) = atanh(sin φ): one sine and one logarithm.
    let s = lat.sin();
    let y = 0.5 - ((1.0 + s) / (1.0 - s)).ln() / (4.0 * std::f64::consts::PI);
    (x, y)
}

fn lon_of(x: f64) -> f64 {
    x * 360.0 - 180.0
}

fn lat_of(y: f64) -> f64 {
    let n = std::f64::consts::PI * (1.0 - 2.0 * y);
    n.sinh().atan().to_degrees()
}

/// Which properties go into a tile.
#[derive(Debug, Clone, PartialEq)]
pub enum Properties {
    All,
    Only(Vec<String>),
}

/// One collection's contribution to a tile.
pub struct Source<'a> {
    pub layer: &'a IndexedLayer,
    /// Whether a feature may be in the tile (scenario, filter, ...).
    pub keep: &'a (dyn Fn(&Feature) -> bool + Sync),
    /// A narrower lon/lat region the kept features lie in, if known.
    pub within: Option<Rect>,
    pub properties: &'a Properties,
}

/// The tile's bytes, one MVT layer per source that has features in it
/// (named by collection id); empty when none has.
pub fn render(tile: TileId, sources: &[Source]) -> Vec<u8> {
    render_within(tile, sources, BUDGET)
}

/// `render` with a byte budget (see `BUDGET`).
pub fn render_within(tile: TileId, sources: &[Source], budget: usize) -> Vec<u8> {
    let area = tile.lonlat_box(BUFFER);
    let units = Units::new(tile);
    // Every feature's geometry first, with its size and a byte estimate.
    struct Drawn<'a> {
        f: &'a Feature,
        kind: GeomType,
        /// Its commands, in its layer's one buffer (not a vector each).
        commands: std::ops::Range<usize>,
        size: f64,
        /// Its bytes in the tile, roughly: commands are varints of 1-2
        /// bytes; tags and framing ~12 plus the id.
        bytes: usize,
    }
    let mut layers: Vec<(usize, Vec<Drawn>, Commands)> = Vec::with_capacity(sources.len());
    let mut bytes = 0usize;
    for (k, s) in sources.iter().enumerate() {
        let query = match s.within {
            Some(w) => match intersection(area, w) {
                Some(r) => r,
                None => continue,
            },
            None => area,
        };
        // Candidates lie anywhere in a big layer: read in blocks brought
        // into cache together (`model::warm`), not one miss at a time.
        let candidates = s.layer.envelope_candidates_unordered(query);
        let mut drawn = Vec::with_capacity(candidates.len());
        let mut scratch = Scratch::default();
        let mut c = Commands::default();
        c.out.reserve(candidates.len() * 16);
        for (_, f) in crate::model::warmed(&s.layer.layer.features, &candidates, true) {
            let size = size_units(f, &units);
            if size < SPECK && !is_point(f) || !(s.keep)(f) {
                continue;
            }
            let start = c.start();
            let Some(kind) = geometry(&f.geometry, &units, &mut scratch, &mut c) else {
                c.out.truncate(start);
                continue;
            };
            let commands = start..c.out.len();
            let estimate = commands.len() * 2 + 12 + f.id.len();
            bytes += estimate;
            drawn.push(Drawn {
                f,
                kind,
                commands,
                size: if is_point(f) { f64::INFINITY } else { size },
                bytes: estimate,
            });
        }
        layers.push((k, drawn, c));
    }
    // Over budget: the smallest lines and polygons give way first, across
    // all layers, down to one size threshold (ties kept).
    let floor = if bytes > budget {
        let mut all: Vec<(f64, usize)> = layers
            .iter()
            .flat_map(|(_, d, _)| d.iter().map(|x| (x.size, x.bytes)))
            .collect();
        // Largest first; equal sizes by bytes, so the floor does not depend
        // on the order the candidates came in.
        all.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut used = 0;
        let mut floor = f64::INFINITY;
        for (size, b) in all {
            if used + b > budget {
                break;
            }
            used += b;
            floor = size;
        }
        floor
    } else {
        0.0
    };
    let mut out = Vec::with_capacity(bytes.min(budget) + 256);
    for (k, drawn, c) in layers {
        let s = &sources[k];
        let mut writer = LayerWriter::new(&s.layer.layer.meta.id, EXTENT, drawn.len());
        for d in drawn.into_iter().filter(|d| d.size >= floor) {
            let id = d.f.numeric_id.then(|| d.f.id.parse::<u64>().ok()).flatten();
            writer.feature(id, tags(d.f, s.properties), d.kind, &c.out[d.commands]);
        }
        if !writer.is_empty() {
            writer.finish(&mut out);
        }
    }
    out
}

fn intersection(a: Rect, b: Rect) -> Option<Rect> {
    let (lo, hi) = (
        geo::coord! {x: a.min().x.max(b.min().x), y: a.min().y.max(b.min().y)},
        geo::coord! {x: a.max().x.min(b.max().x), y: a.max().y.min(b.max().y)},
    );
    (lo.x <= hi.x && lo.y <= hi.y).then(|| Rect::new(lo, hi))
}

fn is_point(f: &Feature) -> bool {
    matches!(f.geometry, Geometry::Point(_) | Geometry::MultiPoint(_))
}

/// A feature's size at this zoom: its whole envelope's larger side, in
/// tile units (the same in every tile of the zoom, to 0.002 unit).
///
/// The fast projection's (`Units`) is used where it cannot matter: more
/// than a unit from the speck size, the exact one's decides near it, so a
/// feature is a speck in every tile of the zoom or in none.
fn size_units(f: &Feature, units: &Units) -> f64 {
    let size = |to: &dyn Fn(Coord) -> (f64, f64)| {
        let ((x0, y0), (x1, y1)) = (to(f.bbox.min()), to(f.bbox.max()));
        (x1 - x0).abs().max((y1 - y0).abs())
    };
    let fast = size(&|c| units.of(c));
    if (fast - SPECK).abs() > 1.0 {
        return fast;
    }
    size(&|c| units.tile.to_units(c))
}

/// The feature id first (its own text, or number), then the chosen
/// properties; a property named `id` gives way to the feature's id.
fn tags<'a>(
    f: &'a Feature,
    which: &'a Properties,
) -> impl Iterator<Item = (&'a str, TileValue<'a>)> + 'a {
    // Ids are unique in a layer: no lookup in the value table for them.
    let number = f.numeric_id.then(|| f.id.parse::<i64>().ok()).flatten();
    let id = number.map_or(TileValue::OwnText(&f.id), TileValue::Int);
    // Either every property or the chosen ones, without boxing (this runs
    // for every feature of every tile).
    let (all, only) = match which {
        Properties::All => (Some(f.properties.iter()), None),
        Properties::Only(names) => (None, Some(names.iter())),
    };
    let props = all.into_iter().flatten().chain(
        only.into_iter()
            .flatten()
            .filter_map(|n| f.properties.get_key_value(n.as_str())),
    );
    std::iter::once(("id", id)).chain(
        props
            .filter(|(k, _)| *k != "id")
            .filter_map(|(k, v)| tile_value(v).map(|v| (k, v))),
    )
}

fn tile_value(v: &Value) -> Option<TileValue<'_>> {
    Some(match v {
        Value::Null => return None,
        Value::String(s) => TileValue::Text(s),
        Value::Bool(b) => TileValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => TileValue::Int(i),
            None => TileValue::Double(n.as_f64()?),
        },
        // Arrays and objects: not drawable; left out of tiles.
        _ => return None,
    })
}

type Pt = (f64, f64);

/// Buffers reused across a tile's features (a tile holds thousands; a
/// fresh vector for every step of every feature was a quarter of the time).
#[derive(Default)]
struct Scratch {
    pts: Vec<Pt>,
    piece: Vec<Pt>,
    ring: Vec<Pt>,
    clip: Vec<Pt>,
    simple: Vec<Pt>,
    keep: Vec<bool>,
    stack: Vec<(usize, usize)>,
    q: Vec<(i32, i32)>,
}

/// A geometry as tile commands appended to `c`, or `None` when nothing of
/// it is left (and then what it appended is for the caller to drop).
fn geometry(g: &Geometry, tile: &Units, sc: &mut Scratch, c: &mut Commands) -> Option<GeomType> {
    let lo = -BUFFER;
    let hi = f64::from(EXTENT) + BUFFER;
    let inside = |p: Pt| p.0 >= lo && p.0 <= hi && p.1 >= lo && p.1 <= hi;
    match g {
        Geometry::Point(p) => {
            let q = tile.of(p.0);
            inside(q).then(|| c.points(&[round(q)]))?;
            Some(GeomType::Point)
        }
        Geometry::MultiPoint(mp) => {
            let pts: Vec<(i32, i32)> =
                mp.0.iter()
                    .map(|p| tile.of(p.0))
                    .filter(|q| inside(*q))
                    .map(round)
                    .collect();
            (!pts.is_empty()).then(|| c.points(&pts))?;
            Some(GeomType::Point)
        }
        Geometry::LineString(l) => {
            let n = lines(std::slice::from_ref(l), tile, lo, hi, c, sc);
            (n > 0).then_some(GeomType::LineString)
        }
        Geometry::MultiLineString(ml) => {
            let n = lines(&ml.0, tile, lo, hi, c, sc);
            (n > 0).then_some(GeomType::LineString)
        }
        Geometry::Polygon(p) => {
            let n = polygons(std::slice::from_ref(p), tile, lo, hi, c, sc);
            (n > 0).then_some(GeomType::Polygon)
        }
        Geometry::MultiPolygon(mp) => {
            let n = polygons(&mp.0, tile, lo, hi, c, sc);
            (n > 0).then_some(GeomType::Polygon)
        }
        _ => None,
    }
}

/// To whole units, halves up. Without SSE4.1 `f64::round` is a libm call
/// (two a vertex); coordinates here are clipped to a few thousand units,
/// so shifting them positive makes the truncating cast a floor.
fn round(p: Pt) -> (i32, i32) {
    const SHIFT: f64 = 1_048_576.0;
    let r = |v: f64| ((v + (SHIFT + 0.5)) as i64 - SHIFT as i64) as i32;
    (r(p.0), r(p.1))
}

/// Rounded, without repeats, into `out`.
fn quantize_into(pts: &[Pt], out: &mut Vec<(i32, i32)>) {
    out.clear();
    for &p in pts {
        let q = round(p);
        if out.last() != Some(&q) {
            out.push(q);
        }
    }
}

#[cfg(test)]
fn quantize(pts: &[Pt]) -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    quantize_into(pts, &mut out);
    out
}

/// Write each line's clipped, simplified pieces; how many were written.
fn lines(
    ls: &[geo::LineString],
    tile: &Units,
    lo: f64,
    hi: f64,
    c: &mut Commands,
    sc: &mut Scratch,
) -> usize {
    let mut n = 0;
    for l in ls {
        sc.pts.clear();
        sc.pts.extend(l.0.iter().map(|p| tile.of(*p)));
        let Scratch {
            pts,
            piece,
            simple,
            keep,
            stack,
            q,
            ..
        } = sc;
        clip_line_each(pts, lo, hi, piece, |part| {
            simplify_into(part, TOLERANCE, keep, stack, simple);
            quantize_into(simple, q);
            if q.len() >= 2 {
                c.line(q);
                n += 1;
            }
        });
    }
    n
}

/// Write each polygon's clipped rings, outer ring clockwise on screen (the
/// MVT rule: positive area with y down), holes the other way.
fn polygons(
    ps: &[geo::Polygon],
    tile: &Units,
    lo: f64,
    hi: f64,
    c: &mut Commands,
    sc: &mut Scratch,
) -> usize {
    let mut n = 0;
    for p in ps {
        let ring =
            |r: &geo::LineString, outer: bool, sc: &mut Scratch| -> Option<Vec<(i32, i32)>> {
                sc.pts.clear();
                sc.pts.extend(r.0.iter().map(|p| tile.of(*p)));
                clip_ring_into(&sc.pts, lo, hi, &mut sc.ring, &mut sc.clip);
                if sc.clip.len() < 3 {
                    return None;
                }
                // Douglas-Peucker on a ring: close it, simplify, reopen. A thin
                // ring (a sliver the clip left) that simplifies to nothing is
                // kept unsimplified; only one that rounds to nothing drops.
                let first = sc.clip[0];
                sc.clip.push(first);
                let ring_of = |pts: &[Pt]| {
                    let mut q = Vec::with_capacity(pts.len());
                    quantize_into(pts, &mut q);
                    if q.len() > 1 && q.first() == q.last() {
                        q.pop();
                    }
                    let area = signed_area(&q);
                    (q.len() >= 3 && area != 0).then_some((q, area))
                };
                simplify_into(
                    &sc.clip,
                    TOLERANCE,
                    &mut sc.keep,
                    &mut sc.stack,
                    &mut sc.simple,
                );
                let (mut q, area) = ring_of(&sc.simple).or_else(|| ring_of(&sc.clip))?;
                if (area > 0) != outer {
                    q.reverse();
                }
                Some(q)
            };
        let Some(outer) = ring(p.exterior(), true, sc) else {
            continue;
        };
        c.ring(&outer);
        for h in p.interiors() {
            if let Some(h) = ring(h, false, sc) {
                c.ring(&h);
            }
        }
        n += 1;
    }
    n
}

/// Twice the area, positive when clockwise on screen (y down).
fn signed_area(r: &[(i32, i32)]) -> i64 {
    let mut s = 0i64;
    for i in 0..r.len() {
        let (a, b) = (r[i], r[(i + 1) % r.len()]);
        s += i64::from(a.0) * i64::from(b.1) - i64::from(b.0) * i64::from(a.1);
    }
    s
}

/// A polyline clipped to the square [lo, hi]²: each piece inside, in
/// order, handed to `emit` (Liang-Barsky per segment, consecutive pieces
/// joined), built in `cur`.
fn clip_line_each(pts: &[Pt], lo: f64, hi: f64, cur: &mut Vec<Pt>, mut emit: impl FnMut(&[Pt])) {
    cur.clear();
    if pts.len() < 2 {
        return;
    }
    for w in pts.windows(2) {
        let Some((a, b)) = clip_segment(w[0], w[1], lo, hi) else {
            if cur.len() >= 2 {
                emit(cur);
            }
            cur.clear();
            continue;
        };
        if cur.last() != Some(&a) {
            if cur.len() >= 2 {
                emit(cur);
            }
            cur.clear();
            cur.push(a);
        }
        cur.push(b);
        // Leaving the square ends the piece.
        if b != w[1] {
            emit(cur);
            cur.clear();
        }
    }
    if cur.len() >= 2 {
        emit(cur);
    }
}

#[cfg(test)]
fn clip_line(pts: &[Pt], lo: f64, hi: f64) -> Vec<Vec<Pt>> {
    let mut out = Vec::new();
    clip_line_each(pts, lo, hi, &mut Vec::new(), |p| out.push(p.to_vec()));
    out
}

fn clip_segment(a: Pt, b: Pt, lo: f64, hi: f64) -> Option<(Pt, Pt)> {
    // Most segments of a tile lie inside it: what the general case would
    // return, without its four divisions.
    let inside = |p: Pt| lo <= p.0 && p.0 <= hi && lo <= p.1 && p.1 <= hi;
    if inside(a) && inside(b) {
        return Some((a, b));
    }
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - lo),
        (dx, hi - a.0),
        (-dy, a.1 - lo),
        (dy, hi - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    let at = |t: f64| (a.0 + t * dx, a.1 + t * dy);
    Some((
        if t0 > 0.0 { at(t0) } else { a },
        if t1 < 1.0 { at(t1) } else { b },
    ))
}

/// A ring (closing point optional) clipped to the square, by
/// Sutherland-Hodgman against each of its four edges, into `out` (`work`
/// is scratch).
fn clip_ring_into(pts: &[Pt], lo: f64, hi: f64, work: &mut Vec<Pt>, out: &mut Vec<Pt>) {
    out.clear();
    out.extend_from_slice(pts);
    if out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    let (x0, y0, x1, y1) = out.iter().fold(
        (f64::MAX, f64::MAX, f64::MIN, f64::MIN),
        |(a, b, c, d), p| (a.min(p.0), b.min(p.1), c.max(p.0), d.max(p.1)),
    );
    if x0 >= lo && x1 <= hi && y0 >= lo && y1 <= hi {
        return;
    }
    if x1 < lo || x0 > hi || y1 < lo || y0 > hi {
        out.clear();
        return;
    }
    type Edge = (fn(Pt, f64) -> bool, fn(Pt, Pt, f64) -> Pt, f64);
    let edges: [Edge; 4] = [
        (|p, v| p.0 >= v, cross_x, lo),
        (|p, v| p.0 <= v, cross_x, hi),
        (|p, v| p.1 >= v, cross_y, lo),
        (|p, v| p.1 <= v, cross_y, hi),
    ];
    for (inside, cross, v) in edges {
        if out.is_empty() {
            break;
        }
        work.clear();
        for i in 0..out.len() {
            let (a, b) = (out[(i + out.len() - 1) % out.len()], out[i]);
            match (inside(a, v), inside(b, v)) {
                (true, true) => work.push(b),
                (true, false) => work.push(cross(a, b, v)),
                (false, true) => {
                    work.push(cross(a, b, v));
                    work.push(b);
                }
                (false, false) => {}
            }
        }
        std::mem::swap(work, out);
    }
}

#[cfg(test)]
fn clip_ring(pts: &[Pt], lo: f64, hi: f64) -> Vec<Pt> {
    let mut out = Vec::new();
    clip_ring_into(pts, lo, hi, &mut Vec::new(), &mut out);
    out
}

fn cross_x(a: Pt, b: Pt, x: f64) -> Pt {
    let t = (x - a.0) / (b.0 - a.0);
    (x, a.1 + t * (b.1 - a.1))
}

fn cross_y(a: Pt, b: Pt, y: f64) -> Pt {
    let t = (y - a.1) / (b.1 - a.1);
    (a.0 + t * (b.0 - a.0), y)
}

/// Douglas-Peucker, iterative; keeps the end points. Into `out`, with
/// `keep` and `stack` as scratch.
fn simplify_into(
    pts: &[Pt],
    tol: f64,
    keep: &mut Vec<bool>,
    stack: &mut Vec<(usize, usize)>,
    out: &mut Vec<Pt>,
) {
    out.clear();
    if pts.len() < 3 {
        out.extend_from_slice(pts);
        return;
    }
    keep.clear();
    keep.resize(pts.len(), false);
    keep[0] = true;
    keep[pts.len() - 1] = true;
    stack.clear();
    stack.push((0usize, pts.len() - 1));
    let tol2 = tol * tol;
    while let Some((i, j)) = stack.pop() {
        let (a, b) = (pts[i], pts[j]);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        // One division a span, not one a point.
        let inv = if len2 > 0.0 { 1.0 / len2 } else { 0.0 };
        let (mut worst, mut at) = (0.0, 0);
        for (k, &p) in pts.iter().enumerate().take(j).skip(i + 1) {
            let t = (((p.0 - a.0) * dx + (p.1 - a.1) * dy) * inv).clamp(0.0, 1.0);
            let (cx, cy) = (a.0 + t * dx - p.0, a.1 + t * dy - p.1);
            let d = cx * cx + cy * cy;
            if d > worst {
                worst = d;
                at = k;
            }
        }
        if worst > tol2 {
            keep[at] = true;
            stack.push((i, at));
            stack.push((at, j));
        }
    }
    out.extend(
        pts.iter()
            .zip(keep.iter())
            .filter(|(_, k)| **k)
            .map(|(p, _)| *p),
    );
}

#[cfg(test)]
fn simplify(pts: &[Pt], tol: f64) -> Vec<Pt> {
    let mut out = Vec::new();
    simplify_into(pts, tol, &mut Vec::new(), &mut Vec::new(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
            let (mx, my) = mercator(geo::coord! {x: lon, y: lat});
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

    #[test]
    fn clipping_keeps_what_is_inside() {
        let pieces = clip_line(
            &[(-100.0, 10.0), (50.0, 10.0), (50.0, 200.0), (50.0, -50.0)],
            0.0,
            100.0,
        );
        assert_eq!(
            pieces,
            vec![
                vec![(0.0, 10.0), (50.0, 10.0), (50.0, 100.0)],
                vec![(50.0, 100.0), (50.0, 0.0)]
            ]
        );
        let r = clip_ring(
            &[(-10.0, -10.0), (50.0, -10.0), (50.0, 50.0), (-10.0, 50.0)],
            0.0,
            100.0,
        );
        let q = quantize(&r);
        assert_eq!(signed_area(&q).abs(), 2 * 50 * 50);
    }

    #[test]
    fn an_over_budget_tile_keeps_its_largest_features() {
        use crate::model::{Layer, LayerMeta};
        // A z14 tile near Zhengzhou; lines of growing length (10 m to 1 km).
        let t = TileId::new(14, 13358, 6506).unwrap();
        let b = t.lonlat_box(0.0);
        let (x0, y0) = (b.min().x + 0.001, b.min().y + 0.001);
        let features: Vec<Feature> = (1..=100)
            .map(|k| {
                let len = f64::from(k) * 1e-4;
                let line =
                    geo::LineString::from(vec![(x0, y0 + len * 0.1), (x0 + len, y0 + len * 0.1)]);
                Feature {
                    id: format!("line-{k:03}"),
                    numeric_id: false,
                    bbox: geo::BoundingRect::bounding_rect(&line).unwrap(),
                    geometry: line.into(),
                    properties: Default::default(),
                    revision: 0,
                }
            })
            .collect();
        let meta: LayerMeta = toml::from_str("id='l'\ntitle='L'\ngeometry='LineString'").unwrap();
        let layer = IndexedLayer::build(
            Layer::new(meta, features),
            crate::geodesy::LocalProjection::new(geo::coord! {x: x0, y: y0}),
        );
        let keep = |_: &Feature| true;
        let src = [Source {
            layer: &layer,
            keep: &keep,
            within: None,
            properties: &Properties::All,
        }];
        let has = |bytes: &[u8], id: &str| bytes.windows(id.len()).any(|w| w == id.as_bytes());
        let all = render_within(t, &src, usize::MAX);
        assert!((1..=100).all(|k| has(&all, &format!("line-{k:03}"))));
        let some = render_within(t, &src, all.len() / 3);
        assert!(
            some.len() <= all.len() / 3 + 64,
            "{} of {}",
            some.len(),
            all.len()
        );
        let kept: Vec<u32> = (1..=100)
            .filter(|k| has(&some, &format!("line-{k:03}")))
            .collect();
        // The longest ones, and nothing shorter than the shortest kept.
        assert!(!kept.is_empty() && kept.len() < 100);
        assert_eq!(kept, (kept[0]..=100).collect::<Vec<_>>());
    }

    #[test]
    fn simplify_drops_only_what_moves_less_than_the_tolerance() {
        let line = [(0.0, 0.0), (10.0, 1.0), (20.0, 0.0), (30.0, 10.0)];
        assert_eq!(
            simplify(&line, 4.0),
            vec![(0.0, 0.0), (20.0, 0.0), (30.0, 10.0)]
        );
    }
}

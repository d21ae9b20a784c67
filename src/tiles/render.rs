//! A tile rendered straight from the R-trees into MVT bytes: candidates
//! per layer, their geometry in tile units, specks left out, and the
//! smallest features dropped first while the tile is over its byte budget.

use geo::{Coord, Geometry, Rect};
use serde_json::Value;

use super::clip::{clip_line_each, clip_ring_into, simplify_into};
use super::matrix::Units;
use super::mvt::{Commands, GeomType, LayerWriter, TileValue};
use super::{Pt, TileId, BUDGET, BUFFER, EXTENT, SPECK, TOLERANCE};
use crate::index::IndexedLayer;
use crate::model::Feature;

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
pub(super) fn quantize(pts: &[Pt]) -> Vec<(i32, i32)> {
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
pub(super) fn signed_area(r: &[(i32, i32)]) -> i64 {
    let mut s = 0i64;
    for i in 0..r.len() {
        let (a, b) = (r[i], r[(i + 1) % r.len()]);
        s += i64::from(a.0) * i64::from(b.1) - i64::from(b.0) * i64::from(a.1);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! GeoJSON geometries -> `geo` geometries, checked as loading checks them:
//! the layer's geometry kind, finite in-range lon/lat, lines of two
//! distinct positions, closed non-degenerate rings, valid polygons.

use geo::{Coord, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon};

use super::raw::{Budget, Nested, RawGeometry};
use super::validity::{polygon_problem, SweepProblem, MAX_SWEEP_PAIRS};
use crate::model::GeometryKind;

/// The polygons of a (Multi)Polygon geometry; none for other kinds.
pub(super) fn polygons_in(g: &Geometry) -> &[Polygon] {
    match g {
        Geometry::Polygon(p) => std::slice::from_ref(p),
        Geometry::MultiPolygon(m) => &m.0,
        _ => &[],
    }
}

pub(super) fn list<'a>(n: &'a Nested, what: &str) -> Result<&'a [Nested], String> {
    match n {
        Nested::List(items) => Ok(items),
        Nested::Num(_) => Err(format!("{what} must be an array, found a number")),
    }
}

pub(super) fn position(n: &Nested) -> Result<Coord, String> {
    let items = list(n, "a position")?;
    if !(2..=3).contains(&items.len()) {
        return Err(format!(
            "a position must have 2 or 3 numbers, found {}",
            items.len()
        ));
    }
    let num = |i: usize| match items[i] {
        Nested::Num(v) => Ok(v),
        Nested::List(_) => Err("a position must hold numbers, found an array".to_string()),
    };
    let (lon, lat) = (num(0)?, num(1)?);
    if items.len() == 3 {
        num(2)?;
    }
    if !lon.is_finite() || !lat.is_finite() {
        return Err(format!("coordinate [{lon}, {lat}] is not finite"));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(format!(
            "longitude {lon} is out of range [-180, 180] (are the coordinates WGS84 lon/lat?)"
        ));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(format!(
            "latitude {lat} is out of range [-90, 90] (are the coordinates lon/lat, in that order?)"
        ));
    }
    Ok(Coord { x: lon, y: lat })
}

/// Each item made by `make`, into a vector of exactly their number. (A
/// `collect` into `Result<Vec<_>, _>` cannot know it, and grows by
/// doubling: a nine-position line kept room for sixteen; 50 MB over the
/// 10M-segment city's 1.25M features.)
fn exactly<T>(
    items: &[Nested],
    make: impl Fn(&Nested) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push(make(item)?);
    }
    Ok(out)
}

pub(super) fn line(n: &Nested) -> Result<LineString, String> {
    let coords = exactly(list(n, "a LineString")?, position)?;
    if coords.len() < 2 {
        return Err(format!(
            "a LineString needs at least 2 positions, found {}",
            coords.len()
        ));
    }
    if coords.iter().all(|c| *c == coords[0]) {
        return Err("a LineString has zero length (all positions are equal)".into());
    }
    Ok(LineString(coords))
}

pub(super) fn ring(n: &Nested, which: &str) -> Result<LineString, String> {
    let mut coords = exactly(list(n, "a ring")?, position)?;
    // Repeated consecutive positions add nothing (and are not an error).
    coords.dedup();
    if coords.len() < 4 {
        return Err(format!(
            "{which} ring needs at least 4 positions, found {}",
            coords.len()
        ));
    }
    if coords.first() != coords.last() {
        return Err(format!(
            "{which} ring is not closed (first and last positions differ)"
        ));
    }
    if collinear(&coords) {
        return Err(format!(
            "{which} ring is degenerate (its positions lie on one line)"
        ));
    }
    Ok(LineString(coords))
}

/// True when every position lies on one line (or all are equal): such a
/// ring encloses nothing. A self-intersecting ring whose lobes cancel out
/// (zero signed area) is *not* collinear; validation reports it instead.
pub(super) fn collinear(coords: &[Coord]) -> bool {
    let a = coords[0];
    let Some(b) = coords.iter().find(|c| **c != a) else {
        return true;
    };
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let scale = dx.abs().max(dy.abs());
    coords.iter().all(|c| {
        let cross = dx * (c.y - a.y) - dy * (c.x - a.x);
        cross.abs() <= 1e-12 * scale.max((c.x - a.x).abs().max((c.y - a.y).abs()))
    })
}

pub(super) fn polygon(n: &Nested) -> Result<Polygon, String> {
    let rings = list(n, "a Polygon")?;
    let Some((outer, holes)) = rings.split_first() else {
        return Err("a Polygon needs at least one ring".into());
    };
    let outer = ring(outer, "the exterior")?;
    let holes = exactly(holes, |h| ring(h, "an interior"))?;
    Ok(Polygon::new(outer, holes))
}

/// Check a geometry already built (read from a store, or sent by a client)
/// by the rules of loading: the layer's kind, finite in-range coordinates,
/// lines of two distinct positions, valid rings and polygons.
pub fn validate_geometry(g: &Geometry, kind: GeometryKind) -> Result<(), String> {
    let name = match g {
        Geometry::Point(_) => "Point",
        Geometry::MultiPoint(_) => "MultiPoint",
        Geometry::LineString(_) => "LineString",
        Geometry::MultiLineString(_) => "MultiLineString",
        Geometry::Polygon(_) => "Polygon",
        Geometry::MultiPolygon(_) => "MultiPolygon",
        _ => "GeometryCollection",
    };
    let raw = RawGeometry {
        kind: name.to_owned(),
        coordinates: Some(nested_of(g)),
    };
    build_geometry(raw, kind, Budget::Files).map(|_| ())
}

/// A geometry's coordinates as the nested arrays GeoJSON would hold.
pub(super) fn nested_of(g: &Geometry) -> Nested {
    let pos = |c: &Coord| Nested::List(vec![Nested::Num(c.x), Nested::Num(c.y)]);
    let line = |l: &LineString| Nested::List(l.0.iter().map(pos).collect());
    let poly = |p: &Polygon| {
        Nested::List(
            std::iter::once(p.exterior())
                .chain(p.interiors())
                .map(line)
                .collect(),
        )
    };
    match g {
        Geometry::Point(p) => pos(&p.0),
        Geometry::MultiPoint(m) => Nested::List(m.0.iter().map(|p| pos(&p.0)).collect()),
        Geometry::LineString(l) => line(l),
        Geometry::MultiLineString(m) => Nested::List(m.0.iter().map(line).collect()),
        Geometry::Polygon(p) => poly(p),
        Geometry::MultiPolygon(m) => Nested::List(m.0.iter().map(poly).collect()),
        _ => Nested::List(vec![]),
    }
}

/// Vertices a line or ring may have whatever its length.
pub const FREE_VERTICES: usize = 1_000;

/// Beyond `FREE_VERTICES`, a line or ring may have one vertex per this many
/// metres of its length: coverage buffers every segment, so a line's cost
/// grows with its vertices, and a 3.6 km road of 40,000 vertices 0.1 m
/// apart (a zig-zag no survey draws) cost minutes of zone computation.
/// Surveyed and OpenStreetMap lines keep vertices metres apart.
pub const MIN_MEAN_SPACING_M: f64 = 0.5;

/// The most vertices one feature may have.
pub const MAX_VERTICES: usize = 200_000;

/// Why a geometry holds more vertices than coverage can afford, if it does:
/// a line or ring denser than `MIN_MEAN_SPACING_M` beyond `FREE_VERTICES`,
/// or more than `MAX_VERTICES` in all.
fn too_dense(g: &Geometry) -> Result<(), String> {
    use geo::CoordsIter;
    let total = g.coords_count();
    if total > MAX_VERTICES {
        return Err(format!(
            "the geometry has {total} vertices; at most {MAX_VERTICES} are accepted"
        ));
    }
    let check = |l: &LineString| -> Result<(), String> {
        let n = l.0.len();
        if n <= FREE_VERTICES {
            return Ok(());
        }
        let len = crate::geodesy::length_m(&l.0);
        let allowed = FREE_VERTICES as f64 + len / MIN_MEAN_SPACING_M;
        if n as f64 > allowed {
            return Err(format!(
                "a line of {n} vertices over {len:.0} m: more than one vertex per {MIN_MEAN_SPACING_M} m beyond the first {FREE_VERTICES} ({allowed:.0} allowed); simplify it (e.g. QGIS Simplify with a 0.5 m tolerance)"
            ));
        }
        Ok(())
    };
    match g {
        Geometry::LineString(l) => check(l),
        Geometry::MultiLineString(m) => m.0.iter().try_for_each(check),
        Geometry::Polygon(p) => std::iter::once(p.exterior())
            .chain(p.interiors())
            .try_for_each(check),
        Geometry::MultiPolygon(m) => {
            m.0.iter()
                .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
                .try_for_each(check)
        }
        _ => Ok(()),
    }
}

/// A layer feature's geometry, checked without a sweep budget (data files
/// are validated once, at load).
pub(super) fn build_geometry(
    raw: RawGeometry,
    kind: GeometryKind,
    budget: Budget,
) -> Result<Geometry, String> {
    let geometry = build_geometry_unchecked(raw, kind)?;
    too_dense(&geometry)?;
    let max_pairs = match budget {
        Budget::Files => None,
        Budget::Client => Some(MAX_SWEEP_PAIRS),
    };
    // Self-intersections, crossing rings, holes outside their shell.
    match polygon_problem(polygons_in(&geometry), max_pairs) {
        Some(SweepProblem::Invalid(m)) => Err(format!("invalid polygon: {m}")),
        Some(SweepProblem::TooComplex(m)) => Err(m),
        None => Ok(geometry),
    }
}

/// The geometry of a GeoJSON geometry object, every check but the polygon
/// sweep done.
pub(super) fn build_geometry_unchecked(
    raw: RawGeometry,
    kind: GeometryKind,
) -> Result<Geometry, String> {
    if !kind.accepts().contains(&raw.kind.as_str()) {
        return Err(format!(
            "geometry is a {}, but this layer holds {} (or {})",
            raw.kind,
            kind.accepts()[0],
            kind.accepts()[1]
        ));
    }
    let coords = raw
        .coordinates
        .ok_or_else(|| format!("{} has no \"coordinates\"", raw.kind))?;
    let geometry = match raw.kind.as_str() {
        "Point" => Geometry::Point(Point(position(&coords)?)),
        "MultiPoint" => {
            Geometry::MultiPoint(MultiPoint(exactly(list(&coords, "a MultiPoint")?, |p| {
                position(p).map(Point)
            })?))
        }
        "LineString" => Geometry::LineString(line(&coords)?),
        "MultiLineString" => Geometry::MultiLineString(MultiLineString(exactly(
            list(&coords, "a MultiLineString")?,
            line,
        )?)),
        "Polygon" => Geometry::Polygon(polygon(&coords)?),
        "MultiPolygon" => Geometry::MultiPolygon(MultiPolygon(exactly(
            list(&coords, "a MultiPolygon")?,
            polygon,
        )?)),
        other => return Err(format!("unsupported geometry type {other:?}")),
    };
    if let Geometry::MultiPoint(mp) = &geometry {
        if mp.0.is_empty() {
            return Err("a MultiPoint has no points".into());
        }
    }
    Ok(geometry)
}

#[cfg(test)]
mod density_tests {
    use super::*;
    use geo::{coord, LineString};

    fn zigzag(n: usize, step_deg: f64, amplitude_deg: f64) -> Geometry {
        Geometry::LineString(LineString(
            (0..n)
                .map(|i| coord! {x: 113.5 + i as f64 * step_deg, y: 34.7 + (i % 2) as f64 * amplitude_deg})
                .collect(),
        ))
    }

    #[test]
    fn a_dense_zigzag_is_refused_and_a_surveyed_line_passes() {
        // 40,000 vertices about 0.09 m apart (3.7 km): refused.
        let e = too_dense(&zigzag(40_000, 1e-6, 1e-6)).unwrap_err();
        assert!(e.contains("40000 vertices"), "{e}");
        // 5,000 vertices 5 m apart: a long surveyed road passes.
        assert!(too_dense(&zigzag(5_000, 5.5e-5, 0.0)).is_ok());
        // Up to FREE_VERTICES, any spacing.
        assert!(too_dense(&zigzag(FREE_VERTICES, 1e-7, 0.0)).is_ok());
    }
}

//! CQL2 filters (OGC API - Features Part 3): an expression parsed from
//! CQL2-Text (`text.rs`) or CQL2-JSON (`json.rs`) into one tree, checked
//! against a layer's properties (`compile`), then evaluated per feature.
//!
//! What it takes: comparisons (`= <> < <= > >=`), `LIKE`, `IN`, `BETWEEN`,
//! `IS NULL`, `CASEI`, `AND`/`OR`/`NOT`, the spatial functions `S_INTERSECTS`,
//! `S_DISJOINT`, `S_WITHIN`, `S_CONTAINS`, `S_OVERLAPS`, `S_TOUCHES`,
//! `S_CROSSES`, `S_EQUALS` against geometry literals (WKT / GeoJSON,
//! `BBOX(...)`), and, beyond the standard, `S_DWITHIN(geometry, literal,
//! metres)` (alias `DWITHIN`): distance in metres in a local projection
//! centred on the literal (`geodesy::LocalProjection`, within 0.1 % of the
//! geodesic distance over a zone).
//!
//! Rules: a property no feature of the layer carries is an error (a typo
//! must not read as "nothing matches"); a feature lacking a property does
//! not match a comparison on it; numbers compare as numbers under
//! `query`'s one equality rule (`110` = `110.0`, and a text "110" too);
//! comparing a text property with a number literal (or the reverse) is a
//! type error. Spatial predicates compare lon/lat coordinates (planar, as
//! PostGIS `geometry` does), after an envelope test.
//!
//! Must not: know about HTTP. The caller turns `Error` into a 400.

mod json;
pub(crate) mod text;

use std::cmp::Ordering;
use std::fmt;

use geo::{BoundingRect, Geometry, Rect};
use serde_json::Value;

use crate::geodesy::LocalProjection;
use crate::model::{Feature, PropertyKind, PropertySummary};

pub use json::parse as parse_json;
pub use text::parse as parse_text;

/// Where in the expression something is: a character offset in CQL2-Text,
/// or a JSON pointer in CQL2-JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Loc {
    Char(usize),
    Pointer(String),
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Loc::Char(i) => write!(f, "at character {}", i + 1),
            Loc::Pointer(p) if p.is_empty() => f.write_str("at the top level"),
            Loc::Pointer(p) => write!(f, "at {p}"),
        }
    }
}

/// A filter that cannot be used, and where its problem is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("filter {loc}: {what}")]
pub struct Error {
    pub loc: Loc,
    pub what: String,
    /// The problem is a property the layer does not have (a collection
    /// without it simply matches nothing in a many-collection tile).
    pub unknown_property: bool,
}

impl Error {
    pub(crate) fn at(loc: Loc, what: impl Into<String>) -> Error {
        Error {
            loc,
            what: what.into(),
            unknown_property: false,
        }
    }
}

/// A scalar operand.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Property(String, Loc),
    Text(String, Loc),
    Number(f64, Loc),
    Bool(bool, Loc),
    /// `CASEI(x)`: compared without regard to case.
    CaseI(Box<Scalar>, Loc),
}

impl Scalar {
    fn loc(&self) -> &Loc {
        match self {
            Scalar::Property(_, l)
            | Scalar::Text(_, l)
            | Scalar::Number(_, l)
            | Scalar::Bool(_, l)
            | Scalar::CaseI(_, l) => l,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The spatial relations, with the feature's geometry on the left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpatialOp {
    Intersects,
    Disjoint,
    Within,
    Contains,
    Overlaps,
    Touches,
    Crosses,
    Equals,
    /// Within a distance in metres.
    DWithin,
}

impl SpatialOp {
    /// By function name (`S_INTERSECTS`, any case; `DWITHIN` too).
    pub fn by_name(name: &str) -> Option<SpatialOp> {
        Some(match name.to_ascii_uppercase().as_str() {
            "S_INTERSECTS" => SpatialOp::Intersects,
            "S_DISJOINT" => SpatialOp::Disjoint,
            "S_WITHIN" => SpatialOp::Within,
            "S_CONTAINS" => SpatialOp::Contains,
            "S_OVERLAPS" => SpatialOp::Overlaps,
            "S_TOUCHES" => SpatialOp::Touches,
            "S_CROSSES" => SpatialOp::Crosses,
            "S_EQUALS" => SpatialOp::Equals,
            "S_DWITHIN" | "DWITHIN" => SpatialOp::DWithin,
            _ => return None,
        })
    }

    /// The same relation with its two sides swapped.
    fn swapped(self) -> SpatialOp {
        match self {
            SpatialOp::Within => SpatialOp::Contains,
            SpatialOp::Contains => SpatialOp::Within,
            other => other,
        }
    }
}

/// A spatial operand: the feature's geometry, or a literal (lon/lat
/// unless `filter-crs` said otherwise; `compile` converts).
#[derive(Debug, Clone, PartialEq)]
pub enum Spatial {
    Property(String, Loc),
    Literal(Geometry, Loc),
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Bool(bool),
    Compare(CmpOp, Scalar, Scalar),
    Like {
        value: Scalar,
        pattern: Scalar,
        negated: bool,
    },
    Between {
        value: Scalar,
        low: Scalar,
        high: Scalar,
        negated: bool,
    },
    In {
        value: Scalar,
        list: Vec<Scalar>,
        negated: bool,
    },
    IsNull {
        value: Scalar,
        negated: bool,
    },
    Spatial {
        op: SpatialOp,
        a: Spatial,
        b: Spatial,
        /// `S_DWITHIN`'s distance in metres.
        distance_m: Option<f64>,
        loc: Loc,
    },
}

impl Expr {
    /// Every property the expression names (not the geometry), with where.
    pub fn properties(&self) -> Vec<(&str, &Loc)> {
        fn scalar<'a>(s: &'a Scalar, out: &mut Vec<(&'a str, &'a Loc)>) {
            match s {
                Scalar::Property(p, l) => out.push((p, l)),
                Scalar::CaseI(x, _) => scalar(x, out),
                _ => {}
            }
        }
        fn walk<'a>(e: &'a Expr, out: &mut Vec<(&'a str, &'a Loc)>) {
            match e {
                Expr::And(xs) | Expr::Or(xs) => xs.iter().for_each(|x| walk(x, out)),
                Expr::Not(x) => walk(x, out),
                Expr::Bool(_) | Expr::Spatial { .. } => {}
                Expr::Compare(_, a, b) => {
                    scalar(a, out);
                    scalar(b, out);
                }
                Expr::Like { value, pattern, .. } => {
                    scalar(value, out);
                    scalar(pattern, out);
                }
                Expr::Between {
                    value, low, high, ..
                } => [value, low, high].into_iter().for_each(|x| scalar(x, out)),
                Expr::In { value, list, .. } => {
                    scalar(value, out);
                    list.iter().for_each(|x| scalar(x, out));
                }
                Expr::IsNull { value, .. } => scalar(value, out),
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }
}

/// The names a layer's features carry, and what they hold.
pub trait Properties {
    fn kind(&self, name: &str) -> Option<PropertyKind>;
    /// The name of the geometry, as queryables list it.
    fn is_geometry(&self, name: &str) -> bool {
        name == "geometry"
    }
}

impl Properties for PropertySummary {
    fn kind(&self, name: &str) -> Option<PropertyKind> {
        self.get(name).map(|p| p.kind)
    }
}

/// A filter checked against one layer, ready to run.
#[derive(Debug, Clone)]
pub struct Filter {
    node: Node,
}

/// A compiled spatial test: the literal with its envelope, and for
/// distances the literal projected to metres around its centre.
#[derive(Debug, Clone)]
struct SpatialTest {
    op: SpatialOp,
    literal: Geometry,
    envelope: Rect,
    /// `S_DWITHIN`: metres, the projection and the literal in it.
    distance: Option<(f64, LocalProjection, Geometry)>,
}

#[derive(Debug, Clone)]
enum Node {
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    Const(bool),
    Compare(CmpOp, Operand, Operand),
    Like(Operand, Pattern, bool),
    Between(Operand, Operand, Operand, bool),
    In(Operand, Vec<Operand>, bool),
    IsNull(Operand, bool),
    Spatial(Box<SpatialTest>),
}

#[derive(Debug, Clone)]
enum Operand {
    Property(String),
    Text(String),
    Number(f64),
    Bool(bool),
    CaseI(Box<Operand>),
}

/// A LIKE pattern: `%` any run, `_` one character, `\` escapes.
#[derive(Debug, Clone)]
struct Pattern {
    parts: Vec<LikePart>,
    casei: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum LikePart {
    Char(char),
    One,
    Any,
}

/// What a scalar can hold, as far as the types can tell before running.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ty {
    Text,
    Number,
    Bool,
    /// A property holding several kinds: checked per feature.
    Any,
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ty::Text => "text",
            Ty::Number => "a number",
            Ty::Bool => "a boolean",
            Ty::Any => "any value",
        })
    }
}

/// Check `expr` against a layer's properties and prepare it. `to_lonlat`
/// converts a literal from `filter-crs` (identity for CRS84).
pub fn compile(
    expr: &Expr,
    props: &dyn Properties,
    to_lonlat: &dyn Fn(&Geometry) -> Result<Geometry, String>,
) -> Result<Filter, Error> {
    Ok(Filter {
        node: Compiler { props, to_lonlat }.node(expr)?,
    })
}

struct Compiler<'a> {
    props: &'a dyn Properties,
    to_lonlat: &'a dyn Fn(&Geometry) -> Result<Geometry, String>,
}

impl Compiler<'_> {
    fn node(&self, e: &Expr) -> Result<Node, Error> {
        Ok(match e {
            Expr::And(xs) => Node::And(cheap_first(
                xs.iter().map(|x| self.node(x)).collect::<Result<_, _>>()?,
            )),
            Expr::Or(xs) => Node::Or(cheap_first(
                xs.iter().map(|x| self.node(x)).collect::<Result<_, _>>()?,
            )),
            Expr::Not(x) => Node::Not(Box::new(self.node(x)?)),
            Expr::Bool(b) => Node::Const(*b),
            Expr::Compare(op, a, b) => {
                let (ta, tb) = (self.ty(a)?, self.ty(b)?);
                self.same_type(ta, tb, b.loc())?;
                if ta == Ty::Bool && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                    return Err(Error::at(
                        b.loc().clone(),
                        "booleans compare only with = and <>",
                    ));
                }
                Node::Compare(*op, self.operand(a), self.operand(b))
            }
            Expr::Like {
                value,
                pattern,
                negated,
            } => {
                let tv = self.ty(value)?;
                if matches!(tv, Ty::Number | Ty::Bool) {
                    return Err(Error::at(
                        value.loc().clone(),
                        format!("LIKE compares text, and this is {tv}"),
                    ));
                }
                Node::Like(self.operand(value), self.pattern(pattern)?, *negated)
            }
            Expr::Between {
                value,
                low,
                high,
                negated,
            } => {
                let tv = self.ty(value)?;
                for bound in [low, high] {
                    let tb = self.ty(bound)?;
                    if tb != Ty::Number && tb != Ty::Any {
                        return Err(Error::at(
                            bound.loc().clone(),
                            format!("BETWEEN takes numbers, and this is {tb}"),
                        ));
                    }
                }
                if matches!(tv, Ty::Text | Ty::Bool) {
                    return Err(Error::at(
                        value.loc().clone(),
                        format!("BETWEEN takes numbers, and this property holds {tv}"),
                    ));
                }
                Node::Between(
                    self.operand(value),
                    self.operand(low),
                    self.operand(high),
                    *negated,
                )
            }
            Expr::In {
                value,
                list,
                negated,
            } => {
                let tv = self.ty(value)?;
                for x in list {
                    self.same_type(tv, self.ty(x)?, x.loc())?;
                }
                Node::In(
                    self.operand(value),
                    list.iter().map(|x| self.operand(x)).collect(),
                    *negated,
                )
            }
            Expr::IsNull { value, negated } => {
                self.ty(value)?;
                Node::IsNull(self.operand(value), *negated)
            }
            Expr::Spatial {
                op,
                a,
                b,
                distance_m,
                loc,
            } => self.spatial(*op, a, b, *distance_m, loc)?,
        })
    }

    fn spatial(
        &self,
        op: SpatialOp,
        a: &Spatial,
        b: &Spatial,
        distance_m: Option<f64>,
        loc: &Loc,
    ) -> Result<Node, Error> {
        let (op, literal, lloc) = match (a, b) {
            (Spatial::Property(p, l), Spatial::Literal(g, gl)) => {
                self.geometry_property(p, l)?;
                (op, g, gl)
            }
            (Spatial::Literal(g, gl), Spatial::Property(p, l)) => {
                self.geometry_property(p, l)?;
                (op.swapped(), g, gl)
            }
            (Spatial::Property(_, l), Spatial::Property(..)) => {
                return Err(Error::at(
                    l.clone(),
                    "a spatial function compares the geometry with a literal, not with itself",
                ))
            }
            (Spatial::Literal(..), Spatial::Literal(..)) => {
                return Err(Error::at(
                    loc.clone(),
                    "a spatial function needs the geometry property on one side",
                ))
            }
        };
        let literal = (self.to_lonlat)(literal).map_err(|e| Error::at(lloc.clone(), e))?;
        let Some(envelope) = literal.bounding_rect() else {
            return Err(Error::at(lloc.clone(), "the geometry literal is empty"));
        };
        let distance = match (op, distance_m) {
            (SpatialOp::DWithin, Some(d)) => {
                if !(d.is_finite() && (0.0..=100_000.0).contains(&d)) {
                    return Err(Error::at(
                        loc.clone(),
                        format!("S_DWITHIN distance {d} m is outside 0 to 100 km"),
                    ));
                }
                let proj = LocalProjection::new(envelope.center());
                let projected = project(&literal, &proj);
                Some((d, proj, projected))
            }
            (SpatialOp::DWithin, None) => {
                return Err(Error::at(
                    loc.clone(),
                    "S_DWITHIN takes a distance in metres",
                ))
            }
            _ => None,
        };
        Ok(Node::Spatial(Box::new(SpatialTest {
            op,
            literal,
            envelope,
            distance,
        })))
    }

    fn geometry_property(&self, name: &str, loc: &Loc) -> Result<(), Error> {
        if self.props.is_geometry(name) {
            Ok(())
        } else {
            Err(Error::at(
                loc.clone(),
                format!("{name:?} is not the geometry; spatial functions take \"geometry\""),
            ))
        }
    }

    fn ty(&self, s: &Scalar) -> Result<Ty, Error> {
        Ok(match s {
            Scalar::Text(..) => Ty::Text,
            Scalar::Number(..) => Ty::Number,
            Scalar::Bool(..) => Ty::Bool,
            Scalar::CaseI(x, l) => match self.ty(x)? {
                Ty::Number | Ty::Bool => {
                    return Err(Error::at(l.clone(), "CASEI takes text"));
                }
                t => t,
            },
            Scalar::Property(name, loc) => {
                if self.props.is_geometry(name) {
                    return Err(Error::at(
                        loc.clone(),
                        "the geometry is compared with spatial functions (S_INTERSECTS, ...)",
                    ));
                }
                match self.props.kind(name) {
                    None => {
                        return Err(Error {
                            loc: loc.clone(),
                            what: format!(
                                "no feature of this collection has a property {name:?} (see its queryables)"
                            ),
                            unknown_property: true,
                        })
                    }
                    Some(PropertyKind::Text) => Ty::Text,
                    Some(PropertyKind::Number) => Ty::Number,
                    Some(PropertyKind::Bool) => Ty::Bool,
                    Some(PropertyKind::Mixed) => Ty::Any,
                }
            }
        })
    }

    fn same_type(&self, a: Ty, b: Ty, loc: &Loc) -> Result<(), Error> {
        if a == b || a == Ty::Any || b == Ty::Any {
            Ok(())
        } else {
            Err(Error::at(
                loc.clone(),
                format!("type mismatch: {a} compared with {b}"),
            ))
        }
    }

    fn operand(&self, s: &Scalar) -> Operand {
        match s {
            Scalar::Property(p, _) => Operand::Property(p.clone()),
            Scalar::Text(t, _) => Operand::Text(t.clone()),
            Scalar::Number(n, _) => Operand::Number(*n),
            Scalar::Bool(b, _) => Operand::Bool(*b),
            Scalar::CaseI(x, _) => Operand::CaseI(Box::new(self.operand(x))),
        }
    }

    fn pattern(&self, s: &Scalar) -> Result<Pattern, Error> {
        let (text, casei) = match s {
            Scalar::Text(t, _) => (t.as_str(), false),
            Scalar::CaseI(x, _) => match &**x {
                Scalar::Text(t, _) => (t.as_str(), true),
                other => {
                    return Err(Error::at(
                        other.loc().clone(),
                        "a LIKE pattern is a text literal",
                    ))
                }
            },
            other => {
                return Err(Error::at(
                    other.loc().clone(),
                    "a LIKE pattern is a text literal",
                ))
            }
        };
        let mut parts = Vec::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            parts.push(match c {
                '%' => LikePart::Any,
                '_' => LikePart::One,
                '\\' => LikePart::Char(chars.next().unwrap_or('\\')),
                c if casei => LikePart::Char(c.to_lowercase().next().unwrap_or(c)),
                c => LikePart::Char(c),
            });
        }
        Ok(Pattern { parts, casei })
    }
}

/// The operands of an AND or OR with the geometric tests last: a property
/// comparison that settles the answer spares the geometry. Kleene's AND
/// and OR do not depend on the order.
fn cheap_first(mut xs: Vec<Node>) -> Vec<Node> {
    xs.sort_by_key(|x| matches!(x, Node::Spatial(_)));
    xs
}

/// A geometry in a local projection's metres.
fn project(g: &Geometry, proj: &LocalProjection) -> Geometry {
    use geo::MapCoords;
    g.map_coords(|c| {
        let [x, y] = proj.to_xy(c);
        geo::Coord { x, y }
    })
}

/// A value as the evaluator sees it.
#[derive(Debug, Clone, PartialEq)]
enum Val<'a> {
    Text(std::borrow::Cow<'a, str>),
    Number(f64),
    Bool(bool),
}

impl Filter {
    /// Whether the feature matches.
    pub fn matches(&self, f: &Feature) -> bool {
        eval(&self.node, f) == Some(true)
    }

    /// The features among `candidates` (positions in `features`) that
    /// match, in order, read in blocks brought into cache together
    /// (`model::warmed`): from a large layer each is a cache miss.
    pub fn select(
        &self,
        features: &crate::model::Features,
        candidates: &[usize],
        deadline: &crate::budget::Deadline,
    ) -> Result<Vec<usize>, crate::budget::Exceeded> {
        let mut out = Vec::new();
        for (k, (i, f)) in crate::model::warmed(features, candidates, true).enumerate() {
            if k % 256 == 0 {
                deadline.check()?;
            }
            if self.matches(f) {
                out.push(i);
            }
        }
        Ok(out)
    }

    /// A lon/lat box every matching feature's envelope meets, when the
    /// filter implies one (a spatial predicate in a conjunction): the
    /// candidates to take from the R-tree before anything else runs.
    pub fn envelope(&self) -> Option<Rect> {
        envelope(&self.node)
    }
}

fn envelope(n: &Node) -> Option<Rect> {
    match n {
        Node::Spatial(t) => match t.op {
            SpatialOp::Disjoint => None,
            SpatialOp::DWithin => {
                let (d, _, _) = t.distance.as_ref()?;
                Some(crate::geodesy::grow_box_m(t.envelope, *d))
            }
            _ => Some(t.envelope),
        },
        // Every conjunct holds, so any one's box will do: take the smallest.
        Node::And(xs) => xs.iter().filter_map(envelope).min_by(|a, b| {
            (a.width() * a.height())
                .partial_cmp(&(b.width() * b.height()))
                .unwrap_or(Ordering::Equal)
        }),
        // One of the disjuncts holds: all must have a box, and the union
        // is the box.
        Node::Or(xs) => {
            let boxes: Option<Vec<Rect>> = xs.iter().map(envelope).collect();
            boxes?.into_iter().reduce(|a, b| {
                Rect::new(
                    geo::coord! {x: a.min().x.min(b.min().x), y: a.min().y.min(b.min().y)},
                    geo::coord! {x: a.max().x.max(b.max().x), y: a.max().y.max(b.max().y)},
                )
            })
        }
        _ => None,
    }
}

/// Three-valued: `None` is "unknown" (a missing property), which a NOT
/// keeps unknown, so `NOT (x = 1)` does not match a feature lacking `x`.
fn eval(n: &Node, f: &Feature) -> Option<bool> {
    match n {
        Node::Const(b) => Some(*b),
        Node::And(xs) => {
            let mut unknown = false;
            for x in xs {
                match eval(x, f) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            if unknown {
                None
            } else {
                Some(true)
            }
        }
        Node::Or(xs) => {
            let mut unknown = false;
            for x in xs {
                match eval(x, f) {
                    Some(true) => return Some(true),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            if unknown {
                None
            } else {
                Some(false)
            }
        }
        Node::Not(x) => eval(x, f).map(|b| !b),
        Node::Compare(op, a, b) => {
            let (a, b) = (value(a, f)?, value(b, f)?);
            let ord = compare(&a, &b)?;
            Some(match op {
                CmpOp::Eq => ord == Ordering::Equal,
                CmpOp::Ne => ord != Ordering::Equal,
                CmpOp::Lt => ord == Ordering::Less,
                CmpOp::Le => ord != Ordering::Greater,
                CmpOp::Gt => ord == Ordering::Greater,
                CmpOp::Ge => ord != Ordering::Less,
            })
        }
        Node::Like(v, pat, negated) => {
            let text = match value(v, f)? {
                Val::Text(t) => t,
                _ => return None,
            };
            let hit = if pat.casei {
                like(&text.to_lowercase().chars().collect::<Vec<_>>(), &pat.parts)
            } else {
                like(&text.chars().collect::<Vec<_>>(), &pat.parts)
            };
            Some(hit != *negated)
        }
        Node::Between(v, lo, hi, negated) => {
            let x = value(v, f)?;
            let inside = compare(&x, &value(lo, f)?)? != Ordering::Less
                && compare(&x, &value(hi, f)?)? != Ordering::Greater;
            Some(inside != *negated)
        }
        Node::In(v, list, negated) => {
            let x = value(v, f)?;
            let hit = list
                .iter()
                .any(|y| value(y, f).and_then(|y| compare(&x, &y)) == Some(Ordering::Equal));
            Some(hit != *negated)
        }
        Node::IsNull(v, negated) => {
            let null = match v {
                Operand::Property(p) => matches!(f.properties.get(p), None | Some(Value::Null)),
                Operand::CaseI(x) => return eval(&Node::IsNull((**x).clone(), *negated), f),
                _ => false,
            };
            Some(null != *negated)
        }
        Node::Spatial(t) => Some(spatial(t, f)),
    }
}

fn spatial(t: &SpatialTest, f: &Feature) -> bool {
    use geo::{Distance, Euclidean, Intersects, Relate};
    let boxes_meet = f.bbox.intersects(&t.envelope);
    match t.op {
        SpatialOp::Intersects => boxes_meet && f.geometry.intersects(&t.literal),
        SpatialOp::Disjoint => !boxes_meet || !f.geometry.intersects(&t.literal),
        SpatialOp::DWithin => {
            let Some((d, proj, lit)) = &t.distance else {
                return false;
            };
            if !f
                .bbox
                .intersects(&crate::geodesy::grow_box_m(t.envelope, *d))
            {
                return false;
            }
            let area = matches!(f.geometry, Geometry::Polygon(_) | Geometry::MultiPolygon(_));
            if let (Geometry::Point(p), false) = (lit, area) {
                // The common case (within so far of a site) without
                // building the projected geometry: segment by segment (a
                // polygon's inside counts too, so not for polygons).
                let (q, d2) = ([p.x(), p.y()], d * d);
                return crate::index::any_segment(&f.geometry, |a, b| {
                    crate::index::segment_distance_2(proj.to_xy(a), proj.to_xy(b), &q) <= d2
                });
            }
            Euclidean.distance(&project(&f.geometry, proj), lit) <= *d
        }
        op => {
            if !boxes_meet {
                return false;
            }
            let m = f.geometry.relate(&t.literal);
            match op {
                SpatialOp::Within => m.is_within(),
                SpatialOp::Contains => m.is_contains(),
                SpatialOp::Overlaps => m.is_overlaps(),
                SpatialOp::Touches => m.is_touches(),
                SpatialOp::Crosses => m.is_crosses(),
                SpatialOp::Equals => m.is_equal_topo(),
                _ => unreachable!("handled above"),
            }
        }
    }
}

fn value<'a>(o: &'a Operand, f: &'a Feature) -> Option<Val<'a>> {
    match o {
        Operand::Text(t) => Some(Val::Text(t.as_str().into())),
        Operand::Number(n) => Some(Val::Number(*n)),
        Operand::Bool(b) => Some(Val::Bool(*b)),
        Operand::CaseI(x) => match value(x, f)? {
            Val::Text(t) => Some(Val::Text(t.to_lowercase().into())),
            other => Some(other),
        },
        Operand::Property(p) => match f.properties.get(p)? {
            Value::String(s) => Some(Val::Text(s.as_str().into())),
            Value::Number(n) => n.as_f64().map(Val::Number),
            Value::Bool(b) => Some(Val::Bool(*b)),
            _ => None,
        },
    }
}

/// The one comparison rule: numbers as numbers (a text holding a number
/// compares with a number as that number, as `query::value_equals` does),
/// texts by code point, booleans only for equality; anything else is
/// unknown.
fn compare(a: &Val, b: &Val) -> Option<Ordering> {
    match (a, b) {
        (Val::Number(x), Val::Number(y)) => x.partial_cmp(y),
        (Val::Text(x), Val::Text(y)) => Some(x.as_ref().cmp(y.as_ref())),
        (Val::Number(x), Val::Text(t)) => crate::query::number(t).and_then(|y| x.partial_cmp(&y)),
        (Val::Text(t), Val::Number(y)) => crate::query::number(t).and_then(|x| x.partial_cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// LIKE by backtracking on the last `%` (linear in practice).
fn like(text: &[char], parts: &[LikePart]) -> bool {
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match parts.get(p) {
            Some(LikePart::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(LikePart::One) => {
                t += 1;
                p += 1;
            }
            Some(LikePart::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    parts[p..].iter().all(|x| *x == LikePart::Any)
}

#[cfg(test)]
mod tests;

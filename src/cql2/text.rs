//! CQL2-Text into an `Expr`: a tokenizer that keeps each token's character
//! offset, and a recursive-descent parser over the grammar's precedence
//! (OR < AND < NOT < predicate). Geometry literals are WKT (2D; a Z value
//! is dropped) or `BBOX(minx, miny, maxx, maxy)`.

use geo::{Coord, Geometry, LineString, MultiLineString, MultiPoint, MultiPolygon, Point, Polygon};

use super::{CmpOp, Error, Expr, Loc, Scalar, Spatial, SpatialOp};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A word: keyword, function name or property.
    Word(String),
    /// A `"double-quoted"` property name.
    Quoted(String),
    Text(String),
    Number(f64),
    Op(&'static str),
    Open,
    Close,
    Comma,
    End,
}

struct Token {
    tok: Tok,
    at: usize,
}

fn tokenize(src: &str) -> Result<Vec<Token>, Error> {
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    // Offsets in characters, not bytes: what a user counts.
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        let at = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            '(' => {
                i += 1;
                Tok::Open
            }
            ')' => {
                i += 1;
                Tok::Close
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '=' => {
                i += 1;
                Tok::Op("=")
            }
            '<' | '>' => {
                let next = chars.get(i + 1).map(|x| x.1);
                let (op, len) = match (c, next) {
                    ('<', Some('>')) => ("<>", 2),
                    ('<', Some('=')) => ("<=", 2),
                    ('>', Some('=')) => (">=", 2),
                    ('<', _) => ("<", 1),
                    _ => (">", 1),
                };
                i += len;
                Tok::Op(op)
            }
            '\'' | '"' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i).map(|x| x.1) {
                        None => {
                            return Err(Error::at(
                                Loc::Char(at),
                                format!(
                                    "unterminated {}",
                                    if quote == '\'' { "text" } else { "quoted name" }
                                ),
                            ))
                        }
                        Some(q) if q == quote => {
                            // A doubled quote is one quote character.
                            if chars.get(i + 1).map(|x| x.1) == Some(quote) {
                                s.push(quote);
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some(x) => {
                            s.push(x);
                            i += 1;
                        }
                    }
                }
                if quote == '\'' {
                    Tok::Text(s)
                } else {
                    Tok::Quoted(s)
                }
            }
            c if c.is_ascii_digit() || c == '.' || c == '-' || c == '+' => {
                let start = i;
                i += 1;
                while let Some(&(_, x)) = chars.get(i) {
                    let exp_sign = (x == '-' || x == '+')
                        && matches!(chars.get(i - 1).map(|y| y.1), Some('e' | 'E'));
                    if x.is_ascii_digit() || x == '.' || x == 'e' || x == 'E' || exp_sign {
                        i += 1;
                    } else {
                        break;
                    }
                }
                let text: String = chars[start..i].iter().map(|x| x.1).collect();
                match text.parse::<f64>() {
                    Ok(v) if v.is_finite() => Tok::Number(v),
                    _ => {
                        return Err(Error::at(
                            Loc::Char(at),
                            format!("{text:?} is not a number"),
                        ))
                    }
                }
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = i;
                while let Some(&(_, x)) = chars.get(i) {
                    if x.is_alphanumeric() || x == '_' || x == '.' || x == ':' {
                        i += 1;
                    } else {
                        break;
                    }
                }
                Tok::Word(chars[start..i].iter().map(|x| x.1).collect())
            }
            other => {
                return Err(Error::at(
                    Loc::Char(at),
                    format!("unexpected character {other:?}"),
                ))
            }
        };
        out.push(Token { tok, at });
    }
    out.push(Token {
        tok: Tok::End,
        at: chars.len(),
    });
    Ok(out)
}

/// Parse CQL2-Text.
pub fn parse(src: &str) -> Result<Expr, Error> {
    let mut p = Parser {
        toks: tokenize(src)?,
        i: 0,
        depth: 0,
    };
    let e = p.or()?;
    match &p.peek().tok {
        Tok::End => Ok(e),
        other => Err(p.error(format!(
            "expected the end of the filter, found {}",
            show(other)
        ))),
    }
}

struct Parser {
    toks: Vec<Token>,
    i: usize,
    /// Nesting (parentheses, NOT, functions) so far: bounded, so no filter
    /// can exhaust the stack of the thread parsing it.
    depth: usize,
}

/// The deepest nesting a filter may have.
pub const MAX_DEPTH: usize = 64;

fn show(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("{w:?}"),
        Tok::Quoted(w) => format!("\"{w}\""),
        Tok::Text(s) => format!("'{s}'"),
        Tok::Number(n) => n.to_string(),
        Tok::Op(o) => format!("{o:?}"),
        Tok::Open => "\"(\"".into(),
        Tok::Close => "\")\"".into(),
        Tok::Comma => "\",\"".into(),
        Tok::End => "the end".into(),
    }
}

const RESERVED: &[&str] = &[
    "AND", "OR", "NOT", "LIKE", "BETWEEN", "IN", "IS", "NULL", "TRUE", "FALSE",
];

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.i]
    }
    fn loc(&self) -> Loc {
        Loc::Char(self.peek().at)
    }
    fn error(&self, what: impl Into<String>) -> Error {
        Error::at(self.loc(), what)
    }
    fn next(&mut self) -> &Token {
        let t = &self.toks[self.i];
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(&self.peek().tok, Tok::Word(x) if x.eq_ignore_ascii_case(w))
    }
    fn eat_word(&mut self, w: &str) -> bool {
        if self.is_word(w) {
            self.next();
            true
        } else {
            false
        }
    }
    fn expect(&mut self, want: Tok, what: &str) -> Result<(), Error> {
        if self.peek().tok == want {
            self.next();
            Ok(())
        } else {
            Err(self.error(format!("expected {what}, found {}", show(&self.peek().tok))))
        }
    }

    fn or(&mut self) -> Result<Expr, Error> {
        let mut xs = vec![self.and()?];
        while self.eat_word("OR") {
            xs.push(self.and()?);
        }
        Ok(if xs.len() == 1 {
            xs.pop().unwrap_or(Expr::Bool(false))
        } else {
            Expr::Or(xs)
        })
    }

    fn and(&mut self) -> Result<Expr, Error> {
        let mut xs = vec![self.not()?];
        while self.eat_word("AND") {
            xs.push(self.not()?);
        }
        Ok(if xs.len() == 1 {
            xs.pop().unwrap_or(Expr::Bool(true))
        } else {
            Expr::And(xs)
        })
    }

    fn not(&mut self) -> Result<Expr, Error> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("the filter nests deeper than {MAX_DEPTH} levels")));
        }
        let e = if self.eat_word("NOT") {
            self.not().map(|x| Expr::Not(Box::new(x)))
        } else {
            self.predicate()
        };
        self.depth -= 1;
        e
    }

    fn predicate(&mut self) -> Result<Expr, Error> {
        let at = self.loc();
        // A parenthesised condition, or a function.
        if self.peek().tok == Tok::Open {
            self.next();
            let e = self.or()?;
            self.expect(Tok::Close, "\")\"")?;
            return Ok(e);
        }
        if let Tok::Word(w) = &self.peek().tok {
            let w = w.clone();
            let call = self
                .toks
                .get(self.i + 1)
                .is_some_and(|t| t.tok == Tok::Open);
            if let (true, Some(op)) = (call, SpatialOp::by_name(&w)) {
                self.next();
                return self.spatial(op, at);
            }
            if w.eq_ignore_ascii_case("TRUE") || w.eq_ignore_ascii_case("FALSE") {
                let b = w.eq_ignore_ascii_case("TRUE");
                // A lone boolean is a condition; `TRUE = x` is a comparison.
                if !matches!(self.toks.get(self.i + 1).map(|t| &t.tok), Some(Tok::Op(_))) {
                    self.next();
                    return Ok(Expr::Bool(b));
                }
            }
        }
        let value = self.scalar()?;
        let negated = self.eat_word("NOT");
        if self.eat_word("LIKE") {
            let pattern = self.scalar()?;
            return Ok(Expr::Like {
                value,
                pattern,
                negated,
            });
        }
        if self.eat_word("BETWEEN") {
            let low = self.scalar()?;
            if !self.eat_word("AND") {
                return Err(self.error("expected AND between the BETWEEN bounds"));
            }
            let high = self.scalar()?;
            return Ok(Expr::Between {
                value,
                low,
                high,
                negated,
            });
        }
        if self.eat_word("IN") {
            self.expect(Tok::Open, "\"(\" opening the IN list")?;
            let mut list = vec![self.scalar()?];
            while self.peek().tok == Tok::Comma {
                self.next();
                list.push(self.scalar()?);
            }
            self.expect(Tok::Close, "\")\" closing the IN list")?;
            return Ok(Expr::In {
                value,
                list,
                negated,
            });
        }
        if negated {
            return Err(self.error("expected LIKE, BETWEEN or IN after NOT"));
        }
        if self.eat_word("IS") {
            let negated = self.eat_word("NOT");
            if !self.eat_word("NULL") {
                return Err(self.error("expected NULL after IS"));
            }
            return Ok(Expr::IsNull { value, negated });
        }
        let op = match self.peek().tok {
            Tok::Op(o) => o,
            ref other => {
                return Err(self.error(format!(
                "expected a comparison (=, <>, <, <=, >, >=, LIKE, BETWEEN, IN, IS NULL), found {}",
                show(other)
            )))
            }
        };
        self.next();
        let right = self.scalar()?;
        let op = match op {
            "=" => CmpOp::Eq,
            "<>" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            _ => CmpOp::Ge,
        };
        Ok(Expr::Compare(op, value, right))
    }

    fn scalar(&mut self) -> Result<Scalar, Error> {
        let loc = self.loc();
        let t = self.next().tok.clone();
        Ok(match t {
            Tok::Text(s) => Scalar::Text(s, loc),
            Tok::Number(n) => Scalar::Number(n, loc),
            Tok::Quoted(name) => Scalar::Property(name, loc),
            Tok::Word(w) => {
                if self.peek().tok == Tok::Open {
                    if w.eq_ignore_ascii_case("CASEI") || w.eq_ignore_ascii_case("LOWER") {
                        self.next();
                        self.depth += 1;
                        if self.depth > MAX_DEPTH {
                            return Err(Error::at(
                                loc,
                                format!("the filter nests deeper than {MAX_DEPTH} levels"),
                            ));
                        }
                        let inner = self.scalar()?;
                        self.depth -= 1;
                        self.expect(Tok::Close, "\")\" closing CASEI")?;
                        return Ok(Scalar::CaseI(Box::new(inner), loc));
                    }
                    return Err(Error::at(
                        loc,
                        format!("unsupported function {w:?} (this server has CASEI and the S_ spatial functions)"),
                    ));
                }
                if w.eq_ignore_ascii_case("TRUE") || w.eq_ignore_ascii_case("FALSE") {
                    return Ok(Scalar::Bool(w.eq_ignore_ascii_case("TRUE"), loc));
                }
                if RESERVED.iter().any(|r| w.eq_ignore_ascii_case(r)) {
                    return Err(Error::at(
                        loc,
                        format!("expected a value or a property, found {w:?}"),
                    ));
                }
                Scalar::Property(w, loc)
            }
            other => {
                return Err(Error::at(
                    loc,
                    format!("expected a value or a property, found {}", show(&other)),
                ))
            }
        })
    }

    fn spatial(&mut self, op: SpatialOp, loc: Loc) -> Result<Expr, Error> {
        self.expect(Tok::Open, "\"(\"")?;
        let a = self.spatial_arg()?;
        self.expect(Tok::Comma, "\",\" between the two geometries")?;
        let b = self.spatial_arg()?;
        let distance_m = if op == SpatialOp::DWithin {
            self.expect(Tok::Comma, "\",\" before the distance in metres")?;
            match self.next().tok {
                Tok::Number(d) => Some(d),
                _ => return Err(Error::at(self.loc(), "expected the distance in metres")),
            }
        } else {
            None
        };
        self.expect(Tok::Close, "\")\"")?;
        Ok(Expr::Spatial {
            op,
            a,
            b,
            distance_m,
            loc,
        })
    }

    fn spatial_arg(&mut self) -> Result<Spatial, Error> {
        let loc = self.loc();
        match self.peek().tok.clone() {
            Tok::Quoted(name) => {
                self.next();
                Ok(Spatial::Property(name, loc))
            }
            Tok::Word(w) => {
                let kind = w.to_ascii_uppercase();
                if self
                    .toks
                    .get(self.i + 1)
                    .is_some_and(|t| t.tok == Tok::Open)
                    || matches!(self.toks.get(self.i + 1).map(|t| &t.tok), Some(Tok::Word(z)) if z.eq_ignore_ascii_case("Z"))
                {
                    self.next();
                    self.eat_word("Z");
                    return Ok(Spatial::Literal(self.geometry(&kind, &loc)?, loc));
                }
                self.next();
                Ok(Spatial::Property(w, loc))
            }
            other => Err(self.error(format!(
                "expected a geometry or the geometry property, found {}",
                show(&other)
            ))),
        }
    }

    fn geometry(&mut self, kind: &str, loc: &Loc) -> Result<Geometry, Error> {
        Ok(match kind {
            "POINT" => {
                self.expect(Tok::Open, "\"(\"")?;
                let c = self.position()?;
                self.expect(Tok::Close, "\")\"")?;
                Geometry::Point(Point(c))
            }
            "LINESTRING" => Geometry::LineString(self.line(2)?),
            "POLYGON" => Geometry::Polygon(self.polygon()?),
            "MULTIPOINT" => {
                self.expect(Tok::Open, "\"(\"")?;
                let mut pts = Vec::new();
                loop {
                    // Both `MULTIPOINT((1 2), (3 4))` and `MULTIPOINT(1 2, 3 4)`.
                    if self.peek().tok == Tok::Open {
                        self.next();
                        pts.push(Point(self.position()?));
                        self.expect(Tok::Close, "\")\"")?;
                    } else {
                        pts.push(Point(self.position()?));
                    }
                    if self.peek().tok != Tok::Comma {
                        break;
                    }
                    self.next();
                }
                self.expect(Tok::Close, "\")\"")?;
                Geometry::MultiPoint(MultiPoint(pts))
            }
            "MULTILINESTRING" => {
                let lines = self.list(|p| p.line(2))?;
                Geometry::MultiLineString(MultiLineString(lines))
            }
            "MULTIPOLYGON" => {
                let polys = self.list(|p| p.polygon())?;
                Geometry::MultiPolygon(MultiPolygon(polys))
            }
            "BBOX" | "ENVELOPE" => {
                self.expect(Tok::Open, "\"(\"")?;
                let mut v = Vec::new();
                loop {
                    match self.next().tok {
                        Tok::Number(n) => v.push(n),
                        _ => return Err(Error::at(loc.clone(), "BBOX takes numbers")),
                    }
                    if self.peek().tok != Tok::Comma {
                        break;
                    }
                    self.next();
                }
                self.expect(Tok::Close, "\")\"")?;
                let (x0, y0, x1, y1) = match v[..] {
                    [a, b, c, d] => (a, b, c, d),
                    [a, b, _, c, d, _] => (a, b, c, d),
                    _ => return Err(Error::at(loc.clone(), "BBOX takes 4 (or 6) numbers")),
                };
                if x0 > x1 || y0 > y1 {
                    return Err(Error::at(loc.clone(), "BBOX: a minimum is above its maximum"));
                }
                Geometry::Rect(geo::Rect::new((x0, y0), (x1, y1)))
            }
            other => {
                return Err(Error::at(
                    loc.clone(),
                    format!("{other:?} is not a geometry literal this server reads (POINT, LINESTRING, POLYGON, their MULTI forms, BBOX)"),
                ))
            }
        })
    }

    /// `( item, item, ... )`.
    fn list<T>(&mut self, item: impl Fn(&mut Parser) -> Result<T, Error>) -> Result<Vec<T>, Error> {
        self.expect(Tok::Open, "\"(\"")?;
        let mut out = vec![item(self)?];
        while self.peek().tok == Tok::Comma {
            self.next();
            out.push(item(self)?);
        }
        self.expect(Tok::Close, "\")\"")?;
        Ok(out)
    }

    fn line(&mut self, min: usize) -> Result<LineString, Error> {
        let loc = self.loc();
        let pts = self.list(|p| p.position())?;
        if pts.len() < min {
            return Err(Error::at(loc, format!("needs at least {min} positions")));
        }
        Ok(LineString(pts))
    }

    fn polygon(&mut self) -> Result<Polygon, Error> {
        let loc = self.loc();
        let mut rings = self.list(|p| {
            let at = p.loc();
            let r = p.line(4)?;
            if r.0.first() != r.0.last() {
                return Err(Error::at(at, "a polygon ring must end where it starts"));
            }
            Ok(r)
        })?;
        if rings.is_empty() {
            return Err(Error::at(loc, "a polygon needs a ring"));
        }
        let exterior = rings.remove(0);
        Ok(Polygon::new(exterior, rings))
    }

    /// `x y` or `x y z` (z dropped).
    fn position(&mut self) -> Result<Coord, Error> {
        let mut v = Vec::with_capacity(3);
        while let Tok::Number(n) = self.peek().tok {
            v.push(n);
            self.next();
        }
        match v[..] {
            [x, y] | [x, y, _] => Ok(Coord { x, y }),
            _ => Err(self.error(format!("a position is 2 or 3 numbers, found {}", v.len()))),
        }
    }
}

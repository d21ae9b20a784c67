//! CQL2-JSON into an `Expr`. Problems are located by JSON pointer
//! (`/args/1/args/0`). Geometry literals are GeoJSON geometries or
//! `{"bbox": [...]}`.

use geo::Geometry;
use serde_json::Value;

use super::{CmpOp, Error, Expr, Loc, Scalar, Spatial, SpatialOp};

/// Parse CQL2-JSON text.
pub fn parse(src: &str) -> Result<Expr, Error> {
    let v: Value = serde_json::from_str(src).map_err(|e| {
        Error::at(
            Loc::Pointer(String::new()),
            format!("not JSON (line {}, column {}): {e}", e.line(), e.column()),
        )
    })?;
    expr(&v, "")
}

fn at(path: &str) -> Loc {
    Loc::Pointer(path.to_string())
}

fn args<'a>(o: &'a serde_json::Map<String, Value>, path: &str) -> Result<&'a [Value], Error> {
    match o.get("args") {
        Some(Value::Array(a)) => Ok(a),
        _ => Err(Error::at(at(path), "an operation needs \"args\", an array")),
    }
}

fn arity<'a>(a: &'a [Value], n: usize, op: &str, path: &str) -> Result<&'a [Value], Error> {
    if a.len() == n {
        Ok(a)
    } else {
        Err(Error::at(
            at(&format!("{path}/args")),
            format!("{op:?} takes {n} arguments, found {}", a.len()),
        ))
    }
}

fn expr(v: &Value, path: &str) -> Result<Expr, Error> {
    // serde_json stops at 128 levels; ours is the text parser's limit.
    if path.matches("/args/").count() > super::text::MAX_DEPTH {
        return Err(Error::at(
            at(path),
            format!(
                "the filter nests deeper than {} levels",
                super::text::MAX_DEPTH
            ),
        ));
    }
    let o = match v {
        Value::Bool(b) => return Ok(Expr::Bool(*b)),
        Value::Object(o) => o,
        other => {
            return Err(Error::at(
                at(path),
                format!("expected a condition (an object with \"op\" and \"args\"), found {other}"),
            ))
        }
    };
    let Some(Value::String(op)) = o.get("op") else {
        return Err(Error::at(at(path), "a condition needs \"op\", a string"));
    };
    let a = args(o, path)?;
    let arg = |i: usize| format!("{path}/args/{i}");
    let lower = op.to_ascii_lowercase();
    Ok(match lower.as_str() {
        "and" | "or" => {
            if a.len() < 2 {
                return Err(Error::at(
                    at(path),
                    format!("{op:?} takes at least 2 arguments"),
                ));
            }
            let xs = a
                .iter()
                .enumerate()
                .map(|(i, x)| expr(x, &arg(i)))
                .collect::<Result<Vec<_>, _>>()?;
            if lower == "and" {
                Expr::And(xs)
            } else {
                Expr::Or(xs)
            }
        }
        "not" => Expr::Not(Box::new(expr(&arity(a, 1, op, path)?[0], &arg(0))?)),
        "=" | "<>" | "<" | "<=" | ">" | ">=" => {
            let a = arity(a, 2, op, path)?;
            let cmp = match lower.as_str() {
                "=" => CmpOp::Eq,
                "<>" => CmpOp::Ne,
                "<" => CmpOp::Lt,
                "<=" => CmpOp::Le,
                ">" => CmpOp::Gt,
                _ => CmpOp::Ge,
            };
            Expr::Compare(cmp, scalar(&a[0], &arg(0))?, scalar(&a[1], &arg(1))?)
        }
        "like" => {
            let a = arity(a, 2, op, path)?;
            Expr::Like {
                value: scalar(&a[0], &arg(0))?,
                pattern: scalar(&a[1], &arg(1))?,
                negated: false,
            }
        }
        "between" => {
            // [value, low, high], or the draft's [value, [low, high]].
            let (low, high) = match a {
                [_, Value::Array(b)] if b.len() == 2 => (
                    scalar(&b[0], &format!("{}/0", arg(1)))?,
                    scalar(&b[1], &format!("{}/1", arg(1)))?,
                ),
                [_, l, h] => (scalar(l, &arg(1))?, scalar(h, &arg(2))?),
                _ => {
                    return Err(Error::at(
                        at(path),
                        "\"between\" takes a value, a low and a high",
                    ))
                }
            };
            Expr::Between {
                value: scalar(&a[0], &arg(0))?,
                low,
                high,
                negated: false,
            }
        }
        "in" => {
            let a = arity(a, 2, op, path)?;
            let Value::Array(list) = &a[1] else {
                return Err(Error::at(at(&arg(1)), "\"in\" takes a value and an array"));
            };
            if list.is_empty() {
                return Err(Error::at(at(&arg(1)), "the \"in\" list is empty"));
            }
            Expr::In {
                value: scalar(&a[0], &arg(0))?,
                list: list
                    .iter()
                    .enumerate()
                    .map(|(i, x)| scalar(x, &format!("{}/{i}", arg(1))))
                    .collect::<Result<_, _>>()?,
                negated: false,
            }
        }
        "isnull" => Expr::IsNull {
            value: scalar(&arity(a, 1, op, path)?[0], &arg(0))?,
            negated: false,
        },
        _ => match SpatialOp::by_name(op) {
            Some(SpatialOp::DWithin) => {
                let a = arity(a, 3, op, path)?;
                let Some(d) = a[2].as_f64() else {
                    return Err(Error::at(at(&arg(2)), "expected the distance in metres"));
                };
                Expr::Spatial {
                    op: SpatialOp::DWithin,
                    a: spatial(&a[0], &arg(0))?,
                    b: spatial(&a[1], &arg(1))?,
                    distance_m: Some(d),
                    loc: at(path),
                }
            }
            Some(sop) => {
                let a = arity(a, 2, op, path)?;
                Expr::Spatial {
                    op: sop,
                    a: spatial(&a[0], &arg(0))?,
                    b: spatial(&a[1], &arg(1))?,
                    distance_m: None,
                    loc: at(path),
                }
            }
            None => {
                return Err(Error::at(
                    at(&format!("{path}/op")),
                    format!("unsupported operation {op:?}"),
                ))
            }
        },
    })
}

fn scalar(v: &Value, path: &str) -> Result<Scalar, Error> {
    let loc = at(path);
    Ok(match v {
        Value::String(s) => Scalar::Text(s.clone(), loc),
        Value::Number(n) => Scalar::Number(n.as_f64().unwrap_or(f64::NAN), loc),
        Value::Bool(b) => Scalar::Bool(*b, loc),
        Value::Object(o) => {
            if let Some(p) = o.get("property") {
                let Value::String(name) = p else {
                    return Err(Error::at(loc, "\"property\" takes a name"));
                };
                Scalar::Property(name.clone(), loc)
            } else if let Some(x) = o.get("casei").or_else(|| o.get("lower")) {
                Scalar::CaseI(Box::new(scalar(x, &format!("{path}/casei"))?), loc)
            } else if matches!(o.get("op"), Some(Value::String(s)) if s.eq_ignore_ascii_case("casei"))
            {
                let a = args(o, path)?;
                let a = arity(a, 1, "casei", path)?;
                Scalar::CaseI(Box::new(scalar(&a[0], &format!("{path}/args/0"))?), loc)
            } else if let Some(Value::String(op)) = o.get("op") {
                return Err(Error::at(
                    at(&format!("{path}/op")),
                    format!("unsupported function {op:?} as a value"),
                ));
            } else {
                return Err(Error::at(loc, "expected a value or {\"property\": name}"));
            }
        }
        Value::Null => return Err(Error::at(loc, "null is not a value; use isNull")),
        Value::Array(_) => return Err(Error::at(loc, "an array is not a value here")),
    })
}

fn spatial(v: &Value, path: &str) -> Result<Spatial, Error> {
    let loc = at(path);
    let Value::Object(o) = v else {
        return Err(Error::at(
            loc,
            "expected a geometry (GeoJSON or {\"bbox\": ...}) or {\"property\": \"geometry\"}",
        ));
    };
    if let Some(Value::String(p)) = o.get("property") {
        return Ok(Spatial::Property(p.clone(), loc));
    }
    if let Some(b) = o.get("bbox").filter(|_| !o.contains_key("type")) {
        let nums: Option<Vec<f64>> = b
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect());
        let (x0, y0, x1, y1) = match nums.as_deref() {
            Some([a, b, c, d]) | Some([a, b, _, c, d, _]) => (*a, *b, *c, *d),
            _ => return Err(Error::at(loc, "\"bbox\" takes 4 (or 6) numbers")),
        };
        if x0 > x1 || y0 > y1 {
            return Err(Error::at(loc, "bbox: a minimum is above its maximum"));
        }
        return Ok(Spatial::Literal(
            Geometry::Rect(geo::Rect::new((x0, y0), (x1, y1))),
            loc,
        ));
    }
    let g: geojson::Geometry = serde_json::from_value(v.clone())
        .map_err(|e| Error::at(loc.clone(), format!("not a GeoJSON geometry: {e}")))?;
    let g: Geometry = g.try_into().map_err(|e: geojson::Error| {
        Error::at(loc.clone(), format!("not a usable geometry: {e}"))
    })?;
    Ok(Spatial::Literal(g, loc))
}

//! The one equality rule between a stored property value and a value given
//! as text (a query parameter, a `coverage.toml` selector, a `reach_by` key).
//!
//! Numbers compare as numbers, so `110`, `110.0` and `1.1e2` are equal
//! whichever side holds which (GDAL exports integers as reals); strings
//! compare exactly; booleans by their JSON text (`true`); null and missing
//! never match.
//!
//! Must not: know about HTTP or the layers.

use serde_json::Value;

/// Whether a property value equals the text `wanted` under the rule above.
pub fn value_equals(value: Option<&Value>, wanted: &str) -> bool {
    match value {
        Some(Value::Number(n)) => match (n.as_f64(), parse_number(wanted)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        },
        // A text property holding a number ("110") equals 110.0 too; the
        // numeric parse only runs when both sides start like a number.
        Some(Value::String(s)) => {
            s == wanted
                || (starts_numeric(s)
                    && starts_numeric(wanted)
                    && matches!((parse_number(s), parse_number(wanted)), (Some(a), Some(b)) if a == b))
        }
        Some(Value::Bool(b)) => wanted.trim() == if *b { "true" } else { "false" },
        Some(Value::Null) | None => false,
        Some(other) => {
            let text = other.to_string();
            text == wanted
        }
    }
}

/// Whether two texts (e.g. a TOML key and a property's text) are equal under
/// the same rule.
pub fn text_equals(a: &str, b: &str) -> bool {
    a == b || matches!((parse_number(a), parse_number(b)), (Some(x), Some(y)) if x == y)
}

/// Whether a text could be a number at all (its first non-blank byte is a
/// digit, a sign or a point): the cheap test before parsing.
fn starts_numeric(s: &str) -> bool {
    s.trim_start()
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.'))
}

/// A text as a number under the same rule (CQL2 ordering uses it).
pub fn number(s: &str) -> Option<f64> {
    if starts_numeric(s) {
        parse_number(s)
    } else {
        None
    }
}

/// A finite decimal number, or `None` (so "inf" and "NaN" are text).
fn parse_number(s: &str) -> Option<f64> {
    let t = s.trim();
    let looks_numeric = !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'));
    if !looks_numeric {
        return None;
    }
    t.parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn integer_and_real_spellings_of_a_number_are_equal_both_ways() {
        for stored in [json!(110), json!(110.0), json!("110"), json!("110.0")] {
            for wanted in ["110", "110.0", "1.1e2", " 110 "] {
                assert!(value_equals(Some(&stored), wanted), "{stored} vs {wanted}");
            }
            assert!(!value_equals(Some(&stored), "10"));
        }
        assert!(text_equals("110", "110.0"));
        assert!(!text_equals("110", "11"));
    }

    #[test]
    fn strings_booleans_and_missing_values() {
        assert!(value_equals(Some(&json!("planned")), "planned"));
        assert!(!value_equals(Some(&json!("planned")), "Planned"));
        assert!(value_equals(Some(&json!(true)), "true"));
        assert!(!value_equals(Some(&json!(true)), "1"));
        assert!(!value_equals(Some(&Value::Null), "null"));
        assert!(!value_equals(None, ""));
        // Words that Rust would parse as floats stay words.
        assert!(!value_equals(Some(&json!("inf")), "infinity"));
        assert!(value_equals(Some(&json!("NaN")), "NaN"));
    }
}

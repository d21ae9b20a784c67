//! Unit tests of CQL2: parsing both encodings, type checks, evaluation.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::model::{Feature, PropertySummary};

fn feature(id: &str, lon: f64, lat: f64, props: serde_json::Value) -> Arc<Feature> {
    let p = geo::Point::new(lon, lat);
    Arc::new(Feature {
        id: id.into(),
        numeric_id: false,
        geometry: p.into(),
        properties: props.as_object().cloned().unwrap_or_default().into(),
        bbox: geo::Rect::new(p.0, p.0),
        revision: 0,
    })
}

fn layer() -> Vec<Arc<Feature>> {
    vec![
        feature(
            "a",
            113.50,
            34.70,
            json!({"status": "planned", "width_m": 40, "name": "Jingkai Road"}),
        ),
        feature(
            "b",
            113.51,
            34.70,
            json!({"status": "existing", "width_m": 24.0, "name": "jingkai 2nd"}),
        ),
        feature(
            "c",
            113.60,
            34.80,
            json!({"status": "existing", "voltage_kv": "110"}),
        ),
    ]
}

fn ids(filter: &str, json: bool) -> Result<Vec<String>, Error> {
    let features = layer();
    let props = PropertySummary::of(features.iter());
    let e = if json {
        parse_json(filter)?
    } else {
        parse_text(filter)?
    };
    let f = compile(&e, &props, &|g| Ok(g.clone()))?;
    Ok(features
        .iter()
        .filter(|x| f.matches(x))
        .map(|x| x.id.clone())
        .collect())
}

#[test]
fn text_and_json_forms_agree() {
    let cases = [
        (
            "status = 'planned' AND width_m > 30",
            r#"{"op":"and","args":[{"op":"=","args":[{"property":"status"},"planned"]},{"op":">","args":[{"property":"width_m"},30]}]}"#,
            vec!["a"],
        ),
        (
            "width_m BETWEEN 20 AND 30",
            r#"{"op":"between","args":[{"property":"width_m"},20,30]}"#,
            vec!["b"],
        ),
        (
            "CASEI(name) LIKE 'jingkai%'",
            r#"{"op":"like","args":[{"op":"casei","args":[{"property":"name"}]},"jingkai%"]}"#,
            vec!["a", "b"],
        ),
        (
            "voltage_kv IS NULL",
            r#"{"op":"isNull","args":[{"property":"voltage_kv"}]}"#,
            vec!["a", "b"],
        ),
        (
            "S_DWITHIN(geometry, POINT(113.5 34.7), 1000)",
            r#"{"op":"s_dwithin","args":[{"property":"geometry"},{"type":"Point","coordinates":[113.5,34.7]},1000]}"#,
            vec!["a", "b"],
        ),
        (
            "S_INTERSECTS(geometry, BBOX(113.55, 34.75, 113.65, 34.85))",
            r#"{"op":"s_intersects","args":[{"property":"geometry"},{"bbox":[113.55,34.75,113.65,34.85]}]}"#,
            vec!["c"],
        ),
        (
            "NOT status IN ('planned')",
            r#"{"op":"not","args":[{"op":"in","args":[{"property":"status"},["planned"]]}]}"#,
            vec!["b", "c"],
        ),
    ];
    for (text, json, want) in cases {
        assert_eq!(ids(text, false).unwrap(), want, "{text}");
        assert_eq!(ids(json, true).unwrap(), want, "{json}");
    }
}

#[test]
fn a_missing_property_does_not_match_even_under_not() {
    // Only "a" and "b" carry width_m; "c" matches neither the test nor its negation.
    assert_eq!(ids("NOT (width_m > 30)", false).unwrap(), vec!["b"]);
    // One equality rule: 24.0 = 24, and a text "110" = 110.
    assert_eq!(ids("width_m = 24", false).unwrap(), vec!["b"]);
    assert_eq!(ids("voltage_kv = '110'", false).unwrap(), vec!["c"]);
}

#[test]
fn problems_say_where() {
    let e = ids("status = 'planned' AND widht_m > 30", false).unwrap_err();
    assert_eq!(e.loc, Loc::Char(23), "{e}");
    assert!(e.unknown_property);
    let e = ids("width_m > 'wide'", false).unwrap_err();
    assert_eq!(e.loc, Loc::Char(10), "{e}");
    let e = ids("status = 'planned", false).unwrap_err();
    assert_eq!(e.loc, Loc::Char(9), "{e}");
    let e = ids("S_BUFFER(geometry, 3)", false).unwrap_err();
    assert!(e.what.contains("unsupported"), "{e}");
    let e = ids(
        r#"{"op":"and","args":[{"op":"=","args":[{"property":"nope"},1]},true]}"#,
        true,
    )
    .unwrap_err();
    assert_eq!(e.loc, Loc::Pointer("/args/0/args/0".into()), "{e}");
}

#[test]
fn like_wildcards() {
    let chars = |s: &str| s.chars().collect::<Vec<_>>();
    let pat = |s: &str| {
        Compiler {
            props: &PropertySummary::default(),
            to_lonlat: &|g| Ok(g.clone()),
        }
        .pattern(&Scalar::Text(s.into(), Loc::Char(0)))
        .unwrap()
        .parts
    };
    assert!(like(&chars("abcabc"), &pat("%abc")));
    assert!(like(&chars("a_c"), &pat("a\\_c")));
    assert!(!like(&chars("abc"), &pat("a\\_c")));
    assert!(like(&chars("道路一"), &pat("道_一")));
    assert!(!like(&chars("ab"), &pat("a_b%")));
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    // Run on a small stack, as a server worker's: the limit must hold there.
    let deep = format!("{}status = 'x'{}", "(".repeat(5000), ")".repeat(5000));
    let nots = format!("{}status = 'x'", "NOT ".repeat(5000));
    let casei = format!("{}name{} = 'x'", "CASEI(".repeat(5000), ")".repeat(5000));
    let json = format!(
        "{}true{}",
        r#"{"op":"not","args":["#.repeat(100),
        "]}".repeat(100)
    );
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            for text in [deep, nots, casei] {
                let e = parse_text(&text).unwrap_err();
                assert!(e.what.contains("deeper than"), "{e}");
            }
            // serde_json's own limit (128 levels) refuses it first.
            let e = parse_json(&json).unwrap_err();
            assert!(
                e.what.contains("deeper than") || e.what.contains("recursion limit"),
                "{e}"
            );
            // Within the limit, fine.
            assert!(
                parse_text(&format!("{}status = 'x'{}", "(".repeat(30), ")".repeat(30))).is_ok()
            );
        })
        .unwrap()
        .join()
        .unwrap();
}

//! How a layer is drawn, as the data says: a colour, a width (a point's
//! radius), a fill, an opacity; overrides by the value of one property
//! (roads by class, pipelines by utility, power lines by voltage), each
//! value with its legend titles in English and Chinese; whether a status
//! property dashes it; which property labels it. Given in `layers.toml`
//! (`[layer.style]`) and in the OSM profile, served in each collection's
//! description, and defaulted by geometry kind for a layer without one (a
//! layer imported with `zoneatlas import`), so the map draws any layer
//! without code that knows its name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a layer's features are drawn as (its geometry kind; this module
/// stands below the model, which names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drawn {
    Points,
    Lines,
    Areas,
}

/// A layer's drawing hints.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LayerStyle {
    /// Stroke colour, `#rrggbb`.
    pub color: String,
    /// Line width in pixels (a point's radius).
    pub width: f64,
    /// Fill colour of areas and points, `#rrggbb`; none leaves them unfilled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill: Option<String>,
    /// Fill opacity, 0 to 1.
    #[serde(default = "default_fill_opacity")]
    pub fill_opacity: f64,
    /// A stroke dash pattern (`"14 6"`) for every feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dash: Option<String>,
    /// Dash features by their status (under construction, planned).
    #[serde(default = "yes")]
    pub dash_by_status: bool,
    /// Overrides by properties' values, applied in order (pipelines: colour
    /// by utility, then width by role).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by: Vec<StyleBy>,
    /// The property that labels features on the map.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// Overrides by the value of one property, in legend order.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StyleBy {
    pub property: String,
    /// Split the layer into one map layer per value (each shown or hidden
    /// alone in the layer control).
    #[serde(default)]
    pub split: bool,
    pub values: Vec<StyleValue>,
}

/// What one value of the `by` property changes, and its legend titles.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StyleValue {
    /// The property's value, as text (`110` for a number 110).
    pub value: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title_zh: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill_opacity: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dash: Option<String>,
}

fn default_fill_opacity() -> f64 {
    0.3
}

fn yes() -> bool {
    true
}

/// Colours given to layers without a style, in turn (ColorBrewer Dark2:
/// distinct on a light basemap and for the common colour blindnesses).
const PALETTE: [&str; 8] = [
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
];

impl LayerStyle {
    /// The style of a layer that has none: by its geometry kind, its
    /// colour picked from the layer's id so it stays the same across starts.
    pub fn default_for(id: &str, kind: Drawn) -> LayerStyle {
        let sum = id
            .bytes()
            .fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(b as usize));
        let color = PALETTE[sum % PALETTE.len()].to_owned();
        let (width, fill, fill_opacity) = match kind {
            Drawn::Points => (6.0, Some(color.clone()), 0.9),
            Drawn::Lines => (2.0, None, 0.3),
            Drawn::Areas => (1.5, Some(color.clone()), 0.25),
        };
        LayerStyle {
            color,
            width,
            fill,
            fill_opacity,
            dash: None,
            dash_by_status: true,
            by: vec![],
            label: None,
        }
    }

    /// An outline that leaves what it surrounds visible and clickable (the
    /// zone): dark, dashed, unfilled, whatever its status.
    pub fn outline() -> LayerStyle {
        LayerStyle {
            color: "#263238".into(),
            width: 2.5,
            fill: None,
            fill_opacity: 0.0,
            dash: Some("14 6".into()),
            dash_by_status: false,
            by: vec![],
            label: None,
        }
    }

    /// What is wrong with the hints, one line each (colours `#rrggbb`,
    /// widths and opacity in range, values given once).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let colour = |what: &str, c: &str, out: &mut Vec<String>| {
            let ok =
                c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit());
            if !ok {
                out.push(format!("style: {what} {c:?} is not a colour #rrggbb"));
            }
        };
        let width = |what: &str, w: f64, out: &mut Vec<String>| {
            if !(w.is_finite() && w > 0.0 && w <= 40.0) {
                out.push(format!(
                    "style: {what} {w} is not a width above 0 and at most 40"
                ));
            }
        };
        colour("color", &self.color, &mut out);
        width("width", self.width, &mut out);
        if let Some(f) = &self.fill {
            colour("fill", f, &mut out);
        }
        if !(0.0..=1.0).contains(&self.fill_opacity) {
            out.push(format!(
                "style: fill_opacity {} is not between 0 and 1",
                self.fill_opacity
            ));
        }
        if self.by.iter().filter(|b| b.split).count() > 1 {
            out.push("style: only one `by` may split the layer".into());
        }
        for by in &self.by {
            let mut seen = BTreeMap::new();
            for v in &by.values {
                if seen.insert(v.value.as_str(), ()).is_some() {
                    out.push(format!(
                        "style: value {:?} of {:?} is given twice",
                        v.value, by.property
                    ));
                }
                if let Some(c) = &v.color {
                    colour(&format!("color of {:?}", v.value), c, &mut out);
                }
                if let Some(c) = &v.fill {
                    colour(&format!("fill of {:?}", v.value), c, &mut out);
                }
                if let Some(w) = v.width {
                    width(&format!("width of {:?}", v.value), w, &mut out);
                }
                if v.fill_opacity.is_some_and(|o| !(0.0..=1.0).contains(&o)) {
                    out.push(format!(
                        "style: fill_opacity of {:?} is not between 0 and 1",
                        v.value
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_layer_without_a_style_gets_one_by_its_kind_and_the_same_one_each_time() {
        let p = LayerStyle::default_for("hydrants", Drawn::Points);
        assert_eq!(p, LayerStyle::default_for("hydrants", Drawn::Points));
        assert!(p.fill.is_some() && p.width > 0.0);
        assert!(p.problems().is_empty(), "{:?}", p.problems());
        let l = LayerStyle::default_for("cables", Drawn::Lines);
        assert!(l.fill.is_none());
    }

    #[test]
    fn bad_hints_are_named() {
        let mut s = LayerStyle::default_for("x", Drawn::Lines);
        s.color = "red".into();
        s.width = 0.0;
        let value = |v: &str, color: Option<&str>| StyleValue {
            value: v.into(),
            title: v.to_uppercase(),
            title_zh: None,
            color: color.map(str::to_owned),
            width: None,
            fill: None,
            fill_opacity: None,
            dash: None,
        };
        s.by = vec![StyleBy {
            property: "class".into(),
            split: false,
            values: vec![value("a", Some("#12345")), value("a", None)],
        }];
        let p = s.problems().join("\n");
        assert!(p.contains("\"red\""), "{p}");
        assert!(p.contains("width 0"), "{p}");
        assert!(p.contains("\"#12345\""), "{p}");
        assert!(p.contains("given twice"), "{p}");
    }
}

//! Property tests: the R-tree queries equal a brute-force scan over every
//! feature, on random layers, boxes and points.

use geo::{coord, Coord, Geometry, Intersects, LineString, Point, Polygon, Rect};
use proptest::prelude::*;
use zoneatlas::geodesy::{point_segment_distance_m, LocalProjection};
use zoneatlas::index::IndexedLayer;
use zoneatlas::model::{Feature, GeometryKind, Layer, LayerMeta};

fn meta(kind: GeometryKind) -> LayerMeta {
    LayerMeta {
        id: "t".into(),
        title: "T".into(),
        title_zh: None,
        description: String::new(),
        geometry: kind,
        required: vec![],
        queryable: vec![],
        style: None,
        attribution: None,
    }
}

fn feature(i: usize, geometry: Geometry) -> Feature {
    let bbox = geo::BoundingRect::bounding_rect(&geometry).expect("non-empty");
    Feature {
        id: i.to_string(),
        numeric_id: false,
        geometry,
        properties: Default::default(),
        bbox,
        revision: 0,
    }
}

/// A point in a 10 km square around Mazhai.
fn lonlat() -> impl Strategy<Value = Coord> {
    (113.48f64..113.60, 34.64f64..34.74).prop_map(|(x, y)| coord! {x: x, y: y})
}

fn lines() -> impl Strategy<Value = Vec<Vec<Coord>>> {
    prop::collection::vec(
        (
            lonlat(),
            // Up to 20 segments: several runs of the distance tree.
            prop::collection::vec((-0.004f64..0.004, -0.004f64..0.004), 1..20),
        )
            .prop_map(|(start, steps)| {
                let mut pts = vec![start];
                for (dx, dy) in steps {
                    let last = *pts.last().unwrap();
                    pts.push(coord! {x: last.x + dx, y: last.y + dy});
                }
                pts
            }),
        1..60,
    )
}

fn line_layer(lines: &[Vec<Coord>]) -> IndexedLayer {
    let features = lines
        .iter()
        .enumerate()
        .map(|(i, l)| feature(i, Geometry::LineString(LineString(l.clone()))))
        .collect();
    IndexedLayer::build(
        Layer::new(meta(GeometryKind::LineString), features),
        LocalProjection::new(coord! {x: 113.54, y: 34.69}),
    )
}

/// Brute force: the smallest distance from q to each feature, over every segment.
fn brute_distances(lines: &[Vec<Coord>], q: Coord) -> Vec<(usize, f64)> {
    let mut out: Vec<(usize, f64)> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let d = l
                .windows(2)
                .map(|w| point_segment_distance_m(q, w[0], w[1]).0)
                .fold(f64::INFINITY, f64::min);
            (i, d)
        })
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1));
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn bbox_equals_a_scan_of_true_intersections(ls in lines(), a in lonlat(), b in lonlat()) {
        let layer = line_layer(&ls);
        let rect = Rect::new(a, b);
        let expected: Vec<usize> = ls
            .iter()
            .enumerate()
            .filter(|(_, l)| LineString((*l).clone()).intersects(&rect))
            .map(|(i, _)| i)
            .collect();
        prop_assert_eq!(layer.bbox(&[rect]), expected);
    }

    /// Single segments and points: boxes are answered from the piece tree
    /// alone (no envelope tree), also for boxes whose edges lie exactly on
    /// features' coordinates.
    #[test]
    fn one_piece_features_answer_boxes_as_a_scan_does(
        ends in prop::collection::vec((lonlat(), lonlat(), any::<bool>()), 1..80),
        a in lonlat(),
        b in lonlat(),
        pick in 0usize..1000,
    ) {
        // Short segments (a few hundred metres), some of them points.
        let geoms: Vec<Geometry> = ends
            .iter()
            .map(|&(p, q, point)| {
                let q = coord! {x: p.x + (q.x - p.x) / 20.0, y: p.y + (q.y - p.y) / 20.0};
                if point { Geometry::Point(p.into()) } else { Geometry::LineString(LineString(vec![p, q])) }
            })
            .collect();
        let kind_of = |g: &Geometry| matches!(g, Geometry::Point(_));
        // One layer of each kind, as layers hold one kind.
        for points in [true, false] {
            let mine: Vec<(usize, &Geometry)> = geoms.iter().enumerate().filter(|(_, g)| kind_of(g) == points).collect();
            let features: Vec<Feature> = mine.iter().map(|&(i, g)| feature(i, g.clone())).collect();
            let kind = if points { GeometryKind::Point } else { GeometryKind::LineString };
            let layer = IndexedLayer::build(
                Layer::new(meta(kind), features),
                LocalProjection::new(coord! {x: 113.54, y: 34.69}),
            );
            let Some(&(_, g)) = mine.get(pick % mine.len().max(1)) else { continue };
            let end = geo::CoordsIter::coords_iter(g).nth(pick % 2).unwrap_or(a);
            for rect in [Rect::new(a, b), Rect::new(a, end), Rect::new(end, b), Rect::new(end, end)] {
                let hits: Vec<usize> = (0..mine.len()).filter(|&k| mine[k].1.intersects(&rect)).collect();
                prop_assert_eq!(layer.bbox(&[rect]), hits);
                let boxes: Vec<usize> = (0..mine.len())
                    .filter(|&k| geo::BoundingRect::bounding_rect(mine[k].1).is_some_and(|r| r.intersects(&rect)))
                    .collect();
                prop_assert_eq!(layer.envelope_candidates(rect), boxes);
            }
        }
    }

    #[test]
    fn nearest_k_equals_a_brute_force_scan(ls in lines(), q in lonlat(), k in 1usize..5) {
        let layer = line_layer(&ls);
        let got = layer.nearest(q, k);
        let want = brute_distances(&ls, q);
        prop_assert_eq!(got.len(), k.min(ls.len()));
        for (hit, (_, d)) in got.iter().zip(&want) {
            // Same distances in the same order (ids may swap only on exact ties).
            prop_assert!((hit.distance_m - d).abs() < 1e-6, "{} vs {}", hit.distance_m, d);
        }
    }

    #[test]
    fn within_distance_equals_a_brute_force_scan(ls in lines(), q in lonlat(), r in 10.0f64..3000.0) {
        let layer = line_layer(&ls);
        let mut got: Vec<usize> = layer.within(q, r).iter().map(|h| h.feature).collect();
        got.sort_unstable();
        let mut want: Vec<usize> = brute_distances(&ls, q)
            .into_iter()
            .filter(|(_, d)| *d <= r)
            .map(|(i, _)| i)
            .collect();
        want.sort_unstable();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn a_point_inside_a_polygon_is_at_distance_zero(c in lonlat(), w in 0.001f64..0.01, h in 0.001f64..0.01) {
        let ring = vec![c, coord! {x: c.x + w, y: c.y}, coord! {x: c.x + w, y: c.y + h}, coord! {x: c.x, y: c.y + h}, c];
        let poly = Polygon::new(LineString(ring), vec![]);
        let layer = IndexedLayer::build(
            Layer::new(meta(GeometryKind::Polygon), vec![feature(0, Geometry::Polygon(poly.clone()))]),
            LocalProjection::new(c),
        );
        let inside = coord! {x: c.x + w / 2.0, y: c.y + h / 3.0};
        prop_assert!(poly.intersects(&Point(inside)));
        prop_assert_eq!(layer.nearest(inside, 1)[0].distance_m, 0.0);
        prop_assert_eq!(layer.within(inside, 1.0).len(), 1);
    }
}

/// One edit of a layer: 0 replace, 1 delete, 2 create, at a position.
fn edits() -> impl Strategy<Value = Vec<(u8, usize, Vec<Coord>)>> {
    prop::collection::vec(
        (
            0u8..3,
            0usize..100,
            lines().prop_map(|mut ls| ls.swap_remove(0)),
        ),
        1..25,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// A layer edited step by step (its delta trees over a shared base, as a
    /// store edit makes it) answers exactly what a layer indexed from
    /// scratch answers, and a brute-force scan of its features.
    #[test]
    fn an_edited_layer_answers_as_one_indexed_from_scratch(
        ls in lines(), steps in edits(), q in lonlat(), r in 10.0f64..3000.0, a in lonlat(), b in lonlat()
    ) {
        use std::sync::Arc;
        let proj = LocalProjection::new(coord! {x: 113.54, y: 34.69});
        let mut layer = line_layer(&ls);
        let mut next_id = ls.len();
        let mut removed = Vec::new();
        for (op, at, geom) in steps {
            // Edited in place, as the catalog edits (positions stay).
            let mut features = layer.layer.features.clone();
            let n = features.count();
            match op {
                0 if n > 0 => {
                    let p = features.nth_position(at % n).unwrap();
                    let mut f = feature(0, Geometry::LineString(LineString(geom)));
                    f.id = features[p].id.clone();
                    features.replace(p, Arc::new(f));
                }
                1 if n > 0 => {
                    let p = features.nth_position(at % n).unwrap();
                    removed.push(features[p].id.clone());
                    features.remove(p);
                }
                _ => {
                    features.push(Arc::new(feature(next_id, Geometry::LineString(LineString(geom)))));
                    next_id += 1;
                }
            }
            layer = layer.with_features(Layer::of(meta(GeometryKind::LineString), features));
        }
        let fresh = IndexedLayer::build(layer.layer.clone(), proj);
        let rect = Rect::new(a, b);
        prop_assert_eq!(layer.bbox(&[rect]), fresh.bbox(&[rect]));
        prop_assert_eq!(layer.envelope_candidates(rect), fresh.envelope_candidates(rect));
        let mut got: Vec<usize> = layer.within(q, r).iter().map(|h| h.feature).collect();
        let mut want: Vec<usize> = fresh.within(q, r).iter().map(|h| h.feature).collect();
        got.sort_unstable();
        want.sort_unstable();
        prop_assert_eq!(got, want);
        let (g, w) = (layer.nearest(q, 3), fresh.nearest(q, 3));
        prop_assert_eq!(g.len(), w.len());
        for (x, y) in g.iter().zip(&w) {
            prop_assert!((x.distance_m - y.distance_m).abs() < 1e-9);
        }
        for (i, f) in layer.layer.features.indexed() {
            prop_assert_eq!(layer.position_of(&f.id), Some(i));
        }
        prop_assert_eq!(layer.position_of("no-such-id"), None);
        for id in &removed {
            prop_assert_eq!(layer.position_of(id), None);
        }
        prop_assert_eq!(layer.piece_count() >= fresh.piece_count(), true);
    }
}

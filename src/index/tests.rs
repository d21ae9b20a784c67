//! The index's own tests: which trees a layer gets, and distance
//! answers over every kind of part against a scan of every segment.

use super::*;
use crate::geodesy::point_segment_distance_m;
use crate::model::{Feature, LayerMeta};
use geo::{coord, Geometry, LineString};

fn layer(kind: GeometryKind, geoms: Vec<Geometry>) -> IndexedLayer {
    let meta: LayerMeta =
        toml::from_str(&format!("id='t'\ntitle='T'\ngeometry='{}'", kind.name())).unwrap();
    let features = geoms
        .into_iter()
        .enumerate()
        .map(|(i, geometry)| Feature {
            id: format!("f{i}"),
            numeric_id: false,
            bbox: geo::BoundingRect::bounding_rect(&geometry).unwrap(),
            geometry,
            properties: Default::default(),
            revision: 0,
        })
        .collect();
    IndexedLayer::build(
        Layer::new(meta, features),
        LocalProjection::new(coord! {x: 113.54, y: 34.69}),
    )
}

fn segment(x: f64, y: f64, dx: f64, dy: f64) -> Geometry {
    Geometry::LineString(LineString(vec![
        coord! {x: x, y: y},
        coord! {x: x + dx, y: y + dy},
    ]))
}

/// The smallest distance from `q` to each feature's segments (0
/// inside a polygon), by scanning them all.
fn scanned(l: &IndexedLayer, q: Coord) -> Vec<(usize, f64)> {
    let polygons = l.layer.meta.geometry == GeometryKind::Polygon;
    let mut out: Vec<(usize, f64)> = l
        .layer
        .features
        .indexed()
        .map(|(i, f)| {
            let mut d = f64::INFINITY;
            any_segment(&f.geometry, |a, b| {
                d = d.min(point_segment_distance_m(q, a, b).0);
                false
            });
            if polygons && f.geometry.intersects(&Point(q)) {
                d = 0.0;
            }
            (i, d)
        })
        .collect();
    out.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    out
}

#[test]
fn runs_of_every_kind_of_part_answer_as_a_scan() {
    // A walk of `n` steps from (x, y), seeded.
    let mut rng = crate::synth::Rng(7);
    let mut walk = |x: f64, y: f64, n: usize| -> LineString {
        let mut c = vec![coord! {x: x, y: y}];
        for _ in 0..n {
            let last = *c.last().unwrap();
            let (dx, dy) = (rng.unit() - 0.5, rng.unit() - 0.5);
            c.push(coord! {x: last.x + dx * 0.004, y: last.y + dy * 0.004});
        }
        c.into()
    };
    let ring = |x: f64, y: f64, r: f64| -> LineString {
        (0..=24)
            .map(|i| {
                let a = std::f64::consts::TAU * (i % 24) as f64 / 24.0;
                coord! {x: x + r * a.cos(), y: y + r * a.sin()}
            })
            .collect::<Vec<_>>()
            .into()
    };
    let lines = layer(
        GeometryKind::LineString,
        vec![
            Geometry::LineString(walk(113.52, 34.68, 40)),
            Geometry::MultiLineString(geo::MultiLineString(vec![
                walk(113.55, 34.70, 17),
                walk(113.56, 34.69, 3),
            ])),
            Geometry::LineString(walk(113.53, 34.71, 9)),
            segment(113.54, 34.69, 0.002, 0.001),
        ],
    );
    let polygons = layer(
        GeometryKind::Polygon,
        vec![
            Geometry::Polygon(geo::Polygon::new(
                ring(113.54, 34.69, 0.01),
                vec![ring(113.54, 34.69, 0.004)],
            )),
            Geometry::MultiPolygon(geo::MultiPolygon(vec![
                geo::Polygon::new(ring(113.57, 34.70, 0.003), vec![]),
                geo::Polygon::new(ring(113.51, 34.67, 0.006), vec![ring(113.51, 34.67, 0.002)]),
            ])),
        ],
    );
    let points = layer(
        GeometryKind::Point,
        vec![
            Geometry::MultiPoint(walk(113.53, 34.69, 30).0.into_iter().map(Point).collect()),
            geo::Point::new(113.55, 34.695).into(),
        ],
    );
    assert!(lines.tiers[0].runs.size() > 4 && lines.tiers[0].pieces.size() == 1);
    assert_eq!(lines.piece_count(), 40 + 17 + 3 + 9 + 1);
    for l in [&lines, &polygons, &points] {
        for _ in 0..300 {
            let q = coord! {x: 113.49 + rng.unit() * 0.1, y: 34.64 + rng.unit() * 0.1};
            let want = scanned(l, q);
            let got = l.nearest(q, 2);
            assert_eq!(got.len(), 2.min(want.len()));
            for (g, w) in got.iter().zip(&want) {
                assert!((g.distance_m - w.1).abs() < 1e-6, "{g:?} against {w:?}");
            }
            let r = 300.0 + rng.unit() * 700.0;
            let mut within: Vec<usize> = l.within(q, r).iter().map(|h| h.feature).collect();
            within.sort_unstable();
            let near: Vec<usize> = want.iter().filter(|w| w.1 <= r).map(|w| w.0).collect();
            let mut near = near;
            near.sort_unstable();
            assert_eq!(within, near, "within {r} m of {q:?}");
        }
    }
}

#[test]
fn only_layers_of_one_piece_features_go_without_an_envelope_tree() {
    let single = layer(
        GeometryKind::LineString,
        vec![
            segment(113.5, 34.7, 0.01, 0.01),
            segment(113.6, 34.7, -0.01, 0.01),
        ],
    );
    assert!(single.tiers[0].envelopes.is_none());
    // The falling segment's box, exactly: its edges are not strictly
    // inside, so the geometry decides (it meets it); a box touching
    // its corner only from outside meets the box, not the line.
    let r = Rect::new((113.59, 34.7), (113.6, 34.71));
    assert_eq!(single.bbox(&[r]), vec![1]);
    let corner = Rect::new((113.6, 34.71), (113.61, 34.72));
    assert_eq!(single.envelope_candidates(corner), vec![1]);
    assert!(single.bbox(&[corner]).is_empty());
    // Beyond 180° of longitude from the projection's origin: both trees.
    let far = layer(
        GeometryKind::LineString,
        vec![segment(-70.0, 0.0, 0.1, 0.1)],
    );
    assert!(far.tiers[0].envelopes.is_some());
    let mut two = LineString(vec![coord! {x: 113.5, y: 34.7}]);
    two.0.push(coord! {x: 113.51, y: 34.7});
    two.0.push(coord! {x: 113.51, y: 34.71});
    let multi = layer(GeometryKind::LineString, vec![Geometry::LineString(two)]);
    assert!(multi.tiers[0].envelopes.is_some());
    let points = layer(
        GeometryKind::Point,
        vec![geo::Point::new(113.5, 34.7).into()],
    );
    assert!(points.tiers[0].envelopes.is_none());
    assert_eq!(
        points.bbox(&[Rect::new((113.5, 34.7), (113.6, 34.8))]),
        vec![0]
    );
}

/// A long session of single edits (replaced, created, deleted roads, one
/// version each, as a busy store makes them): the small tier becomes
/// levels that merge two by two, so the tiers stay few, and after every
/// hundredth edit the layer answers boxes, nearest, within and ids as a
/// layer indexed from scratch and as a scan.
#[test]
fn a_long_session_of_edits_keeps_few_tiers_and_the_same_answers() {
    let mut rnd = crate::testkit::rng(11);
    let road = |rnd: &mut dyn FnMut() -> f64| {
        segment(
            113.5 + rnd() * 0.1,
            34.65 + rnd() * 0.1,
            rnd() * 0.004 - 0.002,
            rnd() * 0.004 - 0.002,
        )
    };
    let geoms: Vec<Geometry> = (0..3_000).map(|_| road(&mut rnd)).collect();
    let mut l = layer(GeometryKind::LineString, geoms);
    let proj = l.proj;
    let mut next = 3_000;
    let (mut most_tiers, mut levels_made) = (0, 0);
    for step in 1..=3_000 {
        let mut features = l.layer.features.clone();
        let n = features.count();
        let geometry = road(&mut rnd);
        let made = Feature {
            id: format!("f{next}"),
            numeric_id: false,
            bbox: geo::BoundingRect::bounding_rect(&geometry).unwrap(),
            geometry,
            properties: Default::default(),
            revision: step,
        };
        let pick = features
            .nth_position((rnd() * n as f64) as usize % n)
            .unwrap();
        match step % 4 {
            0 => features.remove(pick),
            1 => {
                let mut f = made;
                f.id = features[pick].id.clone();
                features.replace(pick, Arc::new(f));
            }
            _ => {
                features.push(Arc::new(made));
                next += 1;
            }
        }
        let before = l.tiers.len();
        l = l.with_features(Layer::of(l.layer.meta.clone(), features));
        levels_made += usize::from(l.tiers.len() > before);
        most_tiers = most_tiers.max(l.tiers.len());
        if step % 100 != 0 {
            continue;
        }
        let fresh = IndexedLayer::build(l.layer.clone(), proj);
        for _ in 0..20 {
            let q = coord! {x: 113.5 + rnd() * 0.1, y: 34.65 + rnd() * 0.1};
            let scan = scanned(&l, q);
            let got = l.nearest(q, 3);
            for (h, s) in got.iter().zip(&scan) {
                assert!(
                    (h.distance_m - s.1).abs() < 1e-6,
                    "step {step}: {h:?} vs {s:?}"
                );
            }
            let ids = |hits: Vec<Hit>| {
                let mut v: Vec<usize> = hits.iter().map(|h| h.feature).collect();
                v.sort_unstable();
                v
            };
            assert_eq!(ids(l.within(q, 300.0)), ids(fresh.within(q, 300.0)));
            let r = Rect::new(q, coord! {x: q.x + 0.01, y: q.y + 0.01});
            assert_eq!(l.bbox(&[r]), fresh.bbox(&[r]));
        }
        for (i, f) in l.layer.features.indexed() {
            assert_eq!(l.position_of(&f.id), Some(i));
        }
    }
    // Levels were made (the small tier overflowed) and merged: a level
    // per overflow would be dozens of tiers.
    assert!(levels_made >= 4, "{levels_made} levels made");
    assert!(most_tiers <= 2 + 6, "{most_tiers} tiers at most");
}

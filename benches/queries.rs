//! Criterion benchmarks: nearest and bbox queries on the sample and on a
//! synthetic 1M-segment city, and GeoJSON page encoding. Each has a baseline
//! measured in the same run (brute-force scan; `geojson::Value` trees), so the
//! figures read as ratios.
//!
//! The synthetic folder (2M segments, 1M of them roads) is written once to `target/synth-2m` by the library's
//! own generator (`zoneatlas synth` does the same from the command line).

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use geo::{coord, Coord, Rect};
use zoneatlas::catalog::Catalog;
use zoneatlas::encode::{FeaturePage, Features};
use zoneatlas::geodesy::point_segment_distance_m;

fn rng(seed: &mut u64) -> f64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*seed >> 11) as f64 / (1u64 << 53) as f64
}

fn points_in(extent: Rect, n: usize) -> Vec<Coord> {
    let mut s = 9;
    (0..n)
        .map(|_| {
            coord! {
                x: extent.min().x + rng(&mut s) * extent.width(),
                y: extent.min().y + rng(&mut s) * extent.height(),
            }
        })
        .collect()
}

fn sample() -> Catalog {
    Catalog::open(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/geodata"))).expect("sample")
}

fn synthetic() -> Catalog {
    // 2M segments in all, so the roads layer alone holds 1M.
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/target/synth-2m"));
    if !dir.join("layers.toml").exists() {
        zoneatlas::synth::write(dir, 2_000_000, 42).expect("synth");
    }
    Catalog::open(dir).expect("synthetic")
}

fn nearest(c: &mut Criterion) {
    let mut g = c.benchmark_group("nearest_line_with_distance");
    for (name, catalog, layer) in [
        ("sample_roads", sample(), "roads"),
        ("synth_roads", synthetic(), "roads"),
    ] {
        let l = catalog.layer(layer).expect("layer");
        let pts = points_in(l.layer.extent.expect("extent"), 1024);
        let mut i = 0;
        g.bench_function(
            BenchmarkId::new("rtree", format!("{name} ({} segments)", l.piece_count())),
            |b| {
                b.iter(|| {
                    i = (i + 1) % pts.len();
                    black_box(l.nearest(pts[i], 1))
                })
            },
        );
        // Baseline: scan every segment of every feature.
        let lines: Vec<Vec<Coord>> = l
            .layer
            .features
            .iter()
            .map(|f| match &f.geometry {
                geo::Geometry::LineString(ls) => ls.0.clone(),
                _ => vec![],
            })
            .collect();
        if l.piece_count() < 10_000 {
            g.bench_function(BenchmarkId::new("brute_force", name), |b| {
                b.iter(|| {
                    i = (i + 1) % pts.len();
                    let q = pts[i];
                    let best = lines
                        .iter()
                        .flat_map(|ls| ls.windows(2))
                        .map(|w| point_segment_distance_m(q, w[0], w[1]).0)
                        .fold(f64::INFINITY, f64::min);
                    black_box(best)
                })
            });
        }
    }
    g.finish();
}

fn bbox(c: &mut Criterion) {
    let mut g = c.benchmark_group("bbox_500m");
    for (name, catalog) in [
        ("sample_pipelines", sample()),
        ("synth_pipelines_700k", synthetic()),
    ] {
        let l = catalog.layer("pipelines").expect("layer");
        let pts = points_in(l.layer.extent.expect("extent"), 1024);
        let mut i = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                i = (i + 1) % pts.len();
                let p = pts[i];
                // ~500 m x 500 m at 34.7°N.
                let r = Rect::new(p, coord! {x: p.x + 0.0055, y: p.y + 0.0045});
                black_box(l.bbox(&[r]))
            })
        });
    }
    g.finish();
}

fn encode(c: &mut Criterion) {
    let catalog = sample();
    let l = catalog.layer("pipelines").expect("pipelines");
    let page: Vec<_> = l.layer.features.iter().take(100).collect();
    fn body<'a>(page: &[&'a zoneatlas::model::Feature]) -> FeaturePage<'a> {
        FeaturePage {
            kind: "FeatureCollection",
            number_matched: page.len(),
            number_returned: page.len(),
            time_stamp: "2026-11-25T00:00:00Z".into(),
            links: vec![],
            features: Features(page.to_vec()),
        }
    }
    let bytes = serde_json::to_vec(&body(&page)).expect("json").len();
    let mut g = c.benchmark_group("encode_page_100_features");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("serde_own_types", |b| {
        b.iter(|| black_box(serde_json::to_vec(&body(&page)).expect("json")))
    });
    // Baseline: build geojson::Feature values per request, then serialise.
    g.bench_function("geojson_value_tree", |b| {
        b.iter(|| {
            let fc = geojson::FeatureCollection {
                bbox: None,
                foreign_members: None,
                features: page
                    .iter()
                    .map(|f| geojson::Feature {
                        bbox: None,
                        geometry: Some(geojson::Geometry::from(&f.geometry)),
                        id: Some(geojson::feature::Id::String(f.id.clone())),
                        properties: Some(f.properties.clone()),
                        foreign_members: None,
                    })
                    .collect(),
            };
            black_box(serde_json::to_vec(&fc).expect("json"))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = nearest, bbox, encode
}
criterion_main!(benches);

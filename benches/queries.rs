//! Criterion benchmarks: nearest and bbox queries on the sample and on a
//! synthetic 1M-segment city, and GeoJSON page encoding. Each has a baseline
//! measured in the same run (brute-force scan; `geojson::Value` trees), so the
//! figures read as ratios.
//!
//! The synthetic folder (2M segments, 1M of them roads) is written once to `target/synth-2m` by the library's
//! own generator (`zoneatlas synth` does the same from the command line).

use std::hint::black_box;
use std::path::Path;

// The server's allocator, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use geo::{coord, Coord, Rect};
use zoneatlas::catalog::Catalog;
use zoneatlas::encode::{FeaturePage, Features};
use zoneatlas::geodesy::point_segment_distance_m;

/// A data folder loaded, indexed and its rules resolved.
fn open_folder(dir: &Path) -> zoneatlas::catalog::Catalog {
    let data = zoneatlas::load::load_folder(dir).expect("a valid data folder");
    zoneatlas::catalog::Catalog::from_dataset(data).expect("rules that fit")
}

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
    open_folder(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/geodata")))
}

/// A synthetic city of `segments` segments in all (roads hold half),
/// written once under `target/`.
fn synthetic_with(segments: usize) -> Catalog {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/synth-{}m", segments / 1_000_000));
    if !dir.join("coverage.toml").exists() {
        zoneatlas::synth::write(&dir, segments, 42).expect("synth");
    }
    open_folder(&dir)
}

/// 2M segments in all, so the roads layer alone holds 1M.
fn synthetic() -> Catalog {
    synthetic_with(2_000_000)
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
            .live()
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
    let page: Vec<&zoneatlas::model::Feature> =
        l.layer.features.live().take(100).map(|f| &**f).collect();
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
    // What the server sends: the same bytes, written directly.
    g.bench_function("direct", |b| b.iter(|| black_box(body(&page).to_bytes())));
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
                        properties: Some(f.properties.to_map()),
                        foreign_members: None,
                    })
                    .collect(),
            };
            black_box(serde_json::to_vec(&fc).expect("json"))
        })
    });
    g.finish();
}

fn coverage(c: &mut Criterion) {
    use zoneatlas::coverage::Scenario;
    let mut g = c.benchmark_group("coverage");
    for (name, catalog) in [
        ("sample", sample()),
        ("synth_1m", synthetic_with(1_000_000)),
    ] {
        let cov = catalog.coverage.as_ref().expect("coverage rules");
        let zone = catalog.layer("zone").expect("zone");
        let pts = points_in(zone.layer.extent.expect("extent"), 1024);
        let mut i = 0;
        g.bench_function(format!("point_all_six_services/{name}"), |b| {
            b.iter(|| {
                i = (i + 1) % pts.len();
                black_box(cov.at_point(&catalog.layers, pts[i], Scenario::Current, None))
            })
        });
        // 200 m x 200 m parcels; the figure covers all six services.
        let parcels: Vec<geo::MultiPolygon> = pts
            .iter()
            .take(64)
            .map(|p| {
                let (kx, ky) = zoneatlas::geodesy::metres_per_degree(p.y);
                let r = Rect::new(*p, coord! {x: p.x + 200.0 / kx, y: p.y + 200.0 / ky});
                geo::MultiPolygon(vec![r.to_polygon()])
            })
            .collect();
        let mut j = 0;
        g.bench_function(format!("parcel_200m_all_six_services/{name}"), |b| {
            b.iter(|| {
                j = (j + 1) % parcels.len();
                black_box(cov.parcel(
                    &catalog.layers,
                    &parcels[j],
                    Scenario::Current,
                    None,
                    None,
                    &zoneatlas::budget::Deadline::none(),
                ))
            })
        });
        // The peer script's workload: one service, roads at 100 m.
        g.bench_function(format!("parcel_200m_road_only/{name}"), |b| {
            b.iter(|| {
                j = (j + 1) % parcels.len();
                black_box(cov.parcel(
                    &catalog.layers,
                    &parcels[j],
                    Scenario::Current,
                    None,
                    Some(&["road"]),
                    &zoneatlas::budget::Deadline::none(),
                ))
            })
        });
        if name == "sample" {
            // Baseline: no index, buffer every gas asset and intersect.
            let gas: Vec<geo::Geometry> = catalog
                .layer("pipelines")
                .expect("pipelines")
                .layer
                .features
                .live()
                .filter(|f| f.property_text("utility").as_deref() == Some("gas"))
                .map(|f| f.geometry.clone())
                .collect();
            g.bench_function("parcel_200m_gas_only/brute_force_buffer_all/sample", |b| {
                b.iter(|| {
                    j = (j + 1) % parcels.len();
                    let proj =
                        zoneatlas::geodesy::LocalProjection::new(parcels[j].0[0].exterior().0[0]);
                    let metric: Vec<geo::Geometry> = gas
                        .iter()
                        .map(|g| zoneatlas::coverage::area::to_metric(g, &proj))
                        .collect();
                    let reach = zoneatlas::coverage::area::buffer(
                        &geo::Geometry::GeometryCollection(geo::GeometryCollection(metric)),
                        500.0,
                    );
                    let parcel = match zoneatlas::coverage::area::to_metric(
                        &geo::Geometry::MultiPolygon(parcels[j].clone()),
                        &proj,
                    ) {
                        geo::Geometry::MultiPolygon(m) => m,
                        _ => unreachable!(),
                    };
                    black_box(zoneatlas::coverage::area::intersection(&reach, &parcel))
                })
            });
        }
    }
    g.finish();
}

/// A parcel request as the server handles it: validate the GeoJSON, check
/// the cost budget, compute every service.
fn parcel_request(catalog: &Catalog, body: &serde_json::Value) -> usize {
    use zoneatlas::coverage::Scenario;
    let cov = catalog.coverage.as_ref().expect("coverage rules");
    let g = zoneatlas::load::polygon_from_geojson(body.clone()).expect("valid parcel");
    let parcel = match g {
        geo::Geometry::Polygon(p) => geo::MultiPolygon(vec![p]),
        geo::Geometry::MultiPolygon(m) => m,
        _ => unreachable!(),
    };
    cov.check_parcel(&catalog.layers, &parcel, None)
        .expect("within budget");
    let (_, answers) = cov
        .parcel(
            &catalog.layers,
            &parcel,
            Scenario::Current,
            None,
            None,
            &zoneatlas::budget::Deadline::none(),
        )
        .expect("no deadline");
    answers.len()
}

/// A star of `n` vertices: spikes crossing every buffer boundary.
fn star(n: usize, c: Coord, r1: f64, r2: f64) -> serde_json::Value {
    let mut ring: Vec<[f64; 2]> = (0..n)
        .map(|i| {
            let a = i as f64 / n as f64 * std::f64::consts::TAU;
            let r = if i % 2 == 0 { r1 } else { r2 };
            [c.x + r * a.cos() / 0.82, c.y + r * a.sin()]
        })
        .collect();
    ring.push(ring[0]);
    serde_json::json!({"type": "Polygon", "coordinates": [ring]})
}

/// The hardening issue's questions: does a MultiPolygon of many parts cost
/// about what one polygon of as many vertices does (validation no longer
/// compares every pair of parts), and how long does the costliest parcel
/// the budget still accepts take.
fn hardening(c: &mut Criterion) {
    let mut g = c.benchmark_group("parcel_request");
    g.sample_size(10);
    let catalog = sample();
    // 5,000 squares of 10 m, 20 m apart (25,000 positions), against one
    // polygon of 25,000 vertices over the same extent.
    let origin = coord! {x: 113.515, y: 34.695};
    let (kx, ky) = zoneatlas::geodesy::metres_per_degree(origin.y);
    let side = 71; // 71 x 71 > 5,000
    let parts: Vec<serde_json::Value> = (0..5_000)
        .map(|i| {
            let (x, y) = ((i % side) as f64 * 20.0, (i / side) as f64 * 20.0);
            let c = |dx: f64, dy: f64| [origin.x + (x + dx) / kx, origin.y + (y + dy) / ky];
            serde_json::json!([[c(0., 0.), c(10., 0.), c(10., 10.), c(0., 10.), c(0., 0.)]])
        })
        .collect();
    let multi = serde_json::json!({"type": "MultiPolygon", "coordinates": parts});
    let extent = side as f64 * 20.0;
    let centre = coord! {x: origin.x + extent / 2.0 / kx, y: origin.y + extent / 2.0 / ky};
    let one = star(24_999, centre, extent / 2.0 / ky, extent / 2.0 / ky);
    g.bench_function("multipolygon_5000_parts_25000_vertices/sample", |b| {
        b.iter(|| black_box(parcel_request(&catalog, &multi)))
    });
    g.bench_function("polygon_25000_vertices_same_extent/sample", |b| {
        b.iter(|| black_box(parcel_request(&catalog, &one)))
    });
    // The costliest accepted shape found: a 10,000-vertex star over the
    // zone (its spikes cross every buffer edge).
    let worst = star(10_000, coord! {x: 113.53, y: 34.70}, 0.03, 0.005);
    g.bench_function("worst_accepted_star_10000/sample", |b| {
        b.iter(|| black_box(parcel_request(&catalog, &worst)))
    });
    // On the city: the largest square the cost budget accepts.
    let city = synthetic_with(1_000_000);
    let cov = city.coverage.as_ref().expect("coverage rules");
    let mid = city
        .layer("zone")
        .expect("zone")
        .layer
        .extent
        .expect("extent")
        .center();
    let square = |half: f64| {
        geo::MultiPolygon(vec![Rect::new(
            coord! {x: mid.x - half, y: mid.y - half},
            coord! {x: mid.x + half, y: mid.y + half},
        )
        .to_polygon()])
    };
    let mut half = 0.01;
    while cov
        .check_parcel(&city.layers, &square(half * 1.05), None)
        .is_ok()
        && half < 1.0
    {
        half *= 1.05;
    }
    let big = serde_json::to_value(geojson::Geometry::from(&square(half).0[0])).expect("json");
    let (_, _, cost) = cov.parcel_cost(&city.layers, &square(half), None);
    eprintln!(
        "largest accepted square on synth_1m: {:.0} m across, cost {cost}",
        half * 2.0 * ky
    );
    g.bench_function("worst_accepted_square/synth_1m", |b| {
        b.iter(|| black_box(parcel_request(&city, &big)))
    });
    g.finish();
}

/// Points per second through each CRS, one core: 1,000 points per
/// iteration, WGS84 to the CRS (forward) and back (inverse); the copy of
/// the same points (CRS84, no work) is the baseline.
fn transforms(c: &mut Criterion) {
    use zoneatlas::crs::{Crs, Order};
    let mut seed = 7u64;
    let pts: Vec<Coord> = (0..1000)
        .map(|_| Coord {
            x: 112.5 + 3.0 * rng(&mut seed),
            y: 34.0 + 1.5 * rng(&mut seed),
        })
        .collect();
    let mut g = c.benchmark_group("crs");
    g.throughput(Throughput::Elements(pts.len() as u64));
    for (name, crs) in [
        ("crs84", Crs::Crs84),
        ("epsg3857", Crs::epsg(3857).expect("3857")),
        ("epsg4547_gauss_kruger", Crs::epsg(4547).expect("4547")),
        ("gcj02", Crs::Gcj02),
    ] {
        let projected: Vec<[f64; 2]> = pts
            .iter()
            .map(|&p| crs.from_lonlat(p, Order::Traditional))
            .collect();
        g.bench_function(BenchmarkId::new("forward", name), |b| {
            b.iter(|| {
                pts.iter()
                    .map(|&p| crs.from_lonlat(black_box(p), Order::Traditional)[0])
                    .sum::<f64>()
            })
        });
        g.bench_function(BenchmarkId::new("inverse", name), |b| {
            b.iter(|| {
                projected
                    .iter()
                    .map(|&p| {
                        crs.to_lonlat(black_box(p), Order::Traditional)
                            .map_or(0.0, |c| c.x)
                    })
                    .sum::<f64>()
            })
        });
    }
    g.finish();
}

/// The planner's N-1 list by one depth-first search, against the brute
/// force a client could run with the API: one outage question per network
/// asset (timed here for a sample of assets; the figure per asset times the
/// asset count is the whole). And the site finder on the sample.
fn planner(c: &mut Criterion) {
    use zoneatlas::budget::Deadline;
    use zoneatlas::coverage::suitable::Question;
    use zoneatlas::coverage::Scenario;
    let mut g = c.benchmark_group("planner");
    g.sample_size(10);
    let none = Deadline::none();
    for (name, catalog) in [
        ("sample", sample()),
        ("synth_1m", synthetic_with(1_000_000)),
    ] {
        let cov = catalog.coverage.as_ref().expect("coverage rules");
        let layers = &catalog.layers;
        let critical = cov
            .critical(layers, "power", Scenario::Current, &none)
            .expect("critical");
        let lines = catalog.layer_position("power_lines").expect("power lines");
        let subs = catalog.layer_position("substations").expect("substations");
        let assets = layers[lines].layer.features.count() + layers[subs].layer.features.count();
        eprintln!(
            "planner/{name}: {} power network assets, {} critical, {} sites supplied",
            assets,
            critical.assets.len(),
            critical.sites_supplied
        );
        g.bench_function(format!("critical_power/{name}"), |b| {
            b.iter(|| black_box(cov.critical(layers, "power", Scenario::Current, &none)))
        });
        let mut k = 0;
        g.bench_function(format!("outage_one_asset_power/{name}"), |b| {
            b.iter(|| {
                k = (k + 7919) % layers[lines].layer.features.count();
                black_box(cov.outage(layers, &[(lines, k)], Scenario::Current, &none))
            })
        });
        if name == "sample" {
            let q = Question {
                services: vec!["water", "gas", "steam", "power", "road"],
                scenario: Scenario::Current,
                min_area_m2: 80_000.0,
                exclude: zoneatlas::coverage::suitable::DEFAULT_EXCLUDE
                    .iter()
                    .filter_map(|id| catalog.layer_position(id))
                    .collect(),
                fit: None,
                extra_m: 0.0,
            };
            g.bench_function("suitable_five_services/sample", |b| {
                b.iter(|| black_box(cov.suitable(layers, &q, &none)))
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(3)).warm_up_time(std::time::Duration::from_secs(1));
    targets = nearest, bbox, encode, coverage, hardening, transforms, planner
}
criterion_main!(benches);

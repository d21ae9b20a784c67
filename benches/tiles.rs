//! Vector tiles and CQL2 in-process, on the 1M-segment synthetic city
//! (`target/synth-1m`, written once by the library's own generator; another
//! size with `ZONEATLAS_BENCH_SEGMENTS`, e.g. 10000000 for `target/synth-10m`):
//!
//! - uncached tile generation: 2,000 random z14 tiles drawn uniformly over
//!   the 1M city's extent (the middle of a bigger city), as
//!   `benches/peers/tiles.sh` draws its own (another
//!   generator, the same distribution; roads alone, and the three line
//!   layers in one tile), per tile with criterion, and tiles/s with both
//!   cores (two threads over the list), the figure `peers/tiles.sh` sets
//!   against Martin's;
//! - a low-zoom tile over the whole city (z10, the map's first view);
//! - a CQL2 spatial + property filter on the roads (within 500 m of a
//!   random point and planned; parse, compile, R-tree, test, GeoJSON of the
//!   first 100), the figure set against PostGIS's execution time.

// The server's allocator, so the figures are the server's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use zoneatlas::budget::Deadline;
use zoneatlas::catalog::Catalog;
use zoneatlas::encode::{FeaturePage, Features};
use zoneatlas::model::Feature;
use zoneatlas::tiles::{self, Properties, Source, TileId};

/// A data folder loaded, indexed and its rules resolved.
fn open_folder(dir: &Path) -> zoneatlas::catalog::Catalog {
    let data = zoneatlas::load::load_folder(dir).expect("a valid data folder");
    zoneatlas::catalog::Catalog::from_dataset(data).expect("rules that fit")
}

fn city() -> Catalog {
    let segments: usize = std::env::var("ZONEATLAS_BENCH_SEGMENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("target/synth-{}m", segments / 1_000_000));
    if !dir.join("coverage.toml").exists() {
        zoneatlas::synth::write(&dir, segments, 42).expect("synth");
    }
    open_folder(&dir)
}

/// The 1M city's extent (lon/lat), where `benches/peers/tiles.sh` draws
/// its tiles at every size: bigger cities grow around it.
const TILE_BOX: [f64; 4] = [113.2856, 34.474, 113.9544, 35.026];

/// SplitMix64 in [0, 1).
fn unit(s: &mut u64) -> f64 {
    *s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *s;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

/// 2,000 random z14 tiles over `TILE_BOX`.
fn z14_tiles() -> Vec<TileId> {
    let [w, south, e, n] = TILE_BOX;
    let mut s = 14;
    (0..2000)
        .map(|_| {
            let lon = w + unit(&mut s) * (e - w);
            let lat = south + unit(&mut s) * (n - south);
            let (x, y) = zoneatlas::crs::web_mercator::unit(geo::coord! {x: lon, y: lat});
            TileId::new(14, (x * 16384.0) as u32, (y * 16384.0) as u32).expect("a z14 tile")
        })
        .collect()
}

const LINES: [&str; 3] = ["roads", "pipelines", "power_lines"];

fn render(c: &Catalog, layers: &[&str], t: TileId, props: &Properties) -> usize {
    let keep = |_: &Feature| true;
    let sources: Vec<Source> = layers
        .iter()
        .map(|id| Source {
            layer: c.layer(id).expect("layer"),
            keep: &keep,
            within: None,
            properties: props,
        })
        .collect();
    tiles::render(t, &sources).len()
}

fn tiles_bench(c: &mut Criterion) {
    let city = city();
    let list = z14_tiles();
    let all = Properties::All;
    let styled = Properties::Only(
        ["status", "class", "utility", "role", "voltage_kv", "kind"]
            .map(String::from)
            .to_vec(),
    );
    let mut g = c.benchmark_group("tiles_1m_city");
    let mut i = 0;
    g.bench_function("z14_roads_all_properties", |b| {
        b.iter(|| {
            i = (i + 1) % list.len();
            black_box(render(&city, &["roads"], list[i], &all))
        })
    });
    g.bench_function("z14_three_line_layers_styled_properties", |b| {
        b.iter(|| {
            i = (i + 1) % list.len();
            black_box(render(&city, &LINES, list[i], &styled))
        })
    });
    let z10 = TileId::new(10, 835, 406).expect("z10");
    g.bench_function("z10_three_line_layers_whole_city_view", |b| {
        b.iter(|| black_box(render(&city, &LINES, z10, &styled)))
    });
    g.finish();

    // Both cores, as a server has them: tiles/s over the whole list.
    for (name, layers, props) in [
        ("roads, all properties", &["roads"][..], &all),
        ("three line layers", &LINES[..], &styled),
    ] {
        let start = Instant::now();
        let rounds = 10;
        let bytes: usize = std::thread::scope(|s| {
            let halves = list.split_at(list.len() / 2);
            let hs = [halves.0, halves.1].map(|part| {
                let city = &city;
                s.spawn(move || {
                    (0..rounds)
                        .flat_map(|_| part.iter())
                        .map(|t| render(city, layers, *t, props))
                        .sum::<usize>()
                })
            });
            hs.into_iter().map(|h| h.join().expect("thread")).sum()
        });
        let secs = start.elapsed().as_secs_f64();
        let n = (list.len() * rounds) as f64;
        println!(
            "z14 {name}: {:.0} tiles/s on two threads ({:.0} bytes a tile)",
            n / secs,
            bytes as f64 / n
        );
    }
}

/// A page of features as `/items` writes it (no links).
fn page(hits: Vec<&Feature>) -> FeaturePage<'_> {
    FeaturePage {
        kind: "FeatureCollection",
        number_matched: hits.len(),
        number_returned: hits.len(),
        time_stamp: "2026-11-26T00:00:00Z".into(),
        links: vec![],
        features: Features(hits),
    }
}

fn cql2_bench(c: &mut Criterion) {
    let city = city();
    let roads = city.layer("roads").expect("roads");
    let e = roads.layer.extent.expect("extent");
    let mut s = 7;
    let points: Vec<(f64, f64)> = (0..1000)
        .map(|_| {
            (
                e.min().x + unit(&mut s) * e.width(),
                e.min().y + unit(&mut s) * e.height(),
            )
        })
        .collect();
    let mut i = 0;
    let mut total = 0usize;
    let mut n = 0usize;
    c.bench_function("cql2_dwithin_500m_and_status_roads_1m_city", |b| {
        b.iter(|| {
            i = (i + 1) % points.len();
            let (lon, lat) = points[i];
            let text = format!(
                "S_DWITHIN(geometry, POINT({lon:.6} {lat:.6}), 500) AND status = 'planned'"
            );
            let expr = zoneatlas::cql2::parse_text(&text).expect("parse");
            let f = zoneatlas::cql2::compile(&expr, roads.properties(), &|g| Ok(g.clone()))
                .expect("compile");
            // As `/items` does: candidates from the R-tree, the filter,
            // the first page written.
            let candidates = roads.envelope_candidates(f.envelope().expect("a box"));
            let hits: Vec<&Feature> = f
                .select(&roads.layer.features, &candidates, &Deadline::none())
                .expect("no deadline")
                .into_iter()
                .take(100)
                .map(|k| &*roads.layer.features[k])
                .collect();
            total += hits.len();
            n += 1;
            black_box(page(hits).to_bytes())
        })
    });
    println!(
        "cql2: {:.1} roads an answer on average",
        total as f64 / n.max(1) as f64
    );
}

criterion_group!(benches, tiles_bench, cql2_bench);
criterion_main!(benches);

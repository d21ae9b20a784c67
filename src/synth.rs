//! A seeded synthetic city: a data folder of any size, for benchmarks.
//!
//! `write(dir, segments, seed)` lays out random-walk streets, pipes and
//! feeders (each 4-12 segments of 20-150 m, mostly axis-aligned like a street
//! grid) over a square sized so density stays city-like, plus substations,
//! parks, sites and a zone outline, in the same layer ids and properties as
//! the bundled sample. Same seed, same bytes.
//!
//! Must not: be used by the server at run time.

use std::fmt::Write as _;
use std::io::Write;
use std::path::Path;

use crate::geodesy::LocalProjection;

/// What `write` produced.
#[derive(Debug, Clone, Copy)]
pub struct SynthStats {
    pub segments: usize,
    pub features: usize,
    pub bytes: u64,
}

/// SplitMix64: tiny, fast, and good enough for layouts (and for the tests'
/// random walks).
pub struct Rng(pub u64);

impl Rng {
    pub fn bits(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.bits() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Uniform below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.bits() % n as u64) as usize
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.bits() % items.len() as u64) as usize]
    }
}

const STATUSES: &[&str] = &[
    "existing",
    "existing",
    "existing",
    "under_construction",
    "planned",
];

/// The manifest the synthetic folder uses (same schema as the sample).
pub const MANIFEST: &str = r#"title = "Synthetic city (zoneatlas synth)"
title_zh = "合成城市（zoneatlas synth）"
description = "Seeded synthetic data for benchmarks; not a real place."

[[layer]]
id = "zone"
title = "Zone outline"
title_zh = "开发区范围"
geometry = "Polygon"
required = ["name", "name_en", "source"]

[[layer]]
id = "roads"
title = "Roads"
title_zh = "道路"
geometry = "LineString"
required = ["name", "name_en", "status", "class", "width_m", "source"]
queryable = ["status", "class"]

[[layer]]
id = "pipelines"
title = "Pipelines"
title_zh = "管网"
geometry = "LineString"
required = ["name", "name_en", "utility", "status", "source"]
queryable = ["utility", "status"]

[[layer]]
id = "power_lines"
title = "Power lines"
title_zh = "电力线路"
geometry = "LineString"
required = ["name", "name_en", "voltage_kv", "status", "source"]
queryable = ["status", "voltage_kv"]

[[layer]]
id = "substations"
title = "Substations"
title_zh = "变电站"
geometry = "Point"
required = ["name", "name_en", "voltage_kv", "status", "source"]
queryable = ["status", "voltage_kv"]

[[layer]]
id = "parks"
title = "Parks"
title_zh = "公园"
geometry = "Polygon"
required = ["name", "name_en", "status", "source"]
queryable = ["status"]

[[layer]]
id = "sites"
title = "Project sites"
title_zh = "项目地块"
geometry = "Polygon"
required = ["name", "name_en", "kind", "status", "source"]
queryable = ["kind", "status"]
"#;

/// Write a synthetic data folder with about `segments` line segments.
pub fn write(dir: &Path, segments: usize, seed: u64) -> std::io::Result<SynthStats> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("layers.toml"), MANIFEST)?;
    // The same coverage rules as the bundled sample.
    std::fs::write(
        dir.join("coverage.toml"),
        include_str!("../geodata/coverage.toml"),
    )?;
    let mut rng = Rng(seed);
    // ~75 m per segment; a city has ~20 km of network per km², so size the
    // square to keep that density.
    let side_m = ((segments as f64 * 75.0 / 1000.0 / 20.0).sqrt() * 1000.0).max(2000.0);
    let proj = LocalProjection::new(geo::coord! { x: 113.62, y: 34.75 });
    let half = side_m / 2.0;
    let ll = |x: f64, y: f64| proj.to_lonlat([x, y]);
    let mut stats = SynthStats {
        segments: 0,
        features: 0,
        bytes: 0,
    };

    let shares = [("roads", 0.5), ("pipelines", 0.35), ("power_lines", 0.15)];
    for (layer, share) in shares {
        let target = (segments as f64 * share).round() as usize;
        let mut out = Collection::new();
        let mut made = 0;
        let mut n = 0;
        while made < target {
            let len = (4 + rng.bits() % 9) as usize;
            let len = len.min(target - made).max(1);
            let (mut x, mut y) = (rng.range(-half, half), rng.range(-half, half));
            let mut heading = (rng.bits() % 4) as f64 * std::f64::consts::FRAC_PI_2;
            let mut coords = vec![ll(x, y)];
            for _ in 0..len {
                if rng.unit() < 0.3 {
                    heading +=
                        if rng.unit() < 0.5 { 1.0 } else { -1.0 } * std::f64::consts::FRAC_PI_2;
                }
                let wobble = rng.range(-0.05, 0.05);
                let step = rng.range(20.0, 150.0);
                x = (x + step * (heading + wobble).cos()).clamp(-half, half);
                y = (y + step * (heading + wobble).sin()).clamp(-half, half);
                coords.push(ll(x, y));
            }
            if coords.windows(2).all(|w| w[0] == w[1]) {
                continue;
            }
            made += len;
            n += 1;
            let status = rng.pick(STATUSES);
            let props = match layer {
                "roads" => format!(
                    r#""name":"路{n}","name_en":"Road {n}","status":"{status}","class":"{}","width_m":{},"source":"illustrative""#,
                    rng.pick(&["trunk", "secondary", "branch", "branch"]),
                    [12, 18, 24, 36][(rng.bits() % 4) as usize]
                ),
                "pipelines" => format!(
                    r#""name":"管{n}","name_en":"Pipe {n}","utility":"{}","status":"{status}","diameter_mm":{},"source":"illustrative""#,
                    rng.pick(&["water", "gas", "steam"]),
                    [150, 300, 600][(rng.bits() % 3) as usize]
                ),
                _ => format!(
                    r#""name":"线{n}","name_en":"Feeder {n}","voltage_kv":{},"status":"{status}","source":"illustrative""#,
                    [10, 110][(rng.bits() % 2) as usize]
                ),
            };
            out.line(&format!("{layer}-{n}"), &coords, &props);
        }
        stats.segments += made;
        stats.features += n;
        stats.bytes += out.finish(&dir.join(format!("{layer}.geojson")))?;
    }

    let mut subs = Collection::new();
    for n in 0..(segments / 2000).max(3) {
        let c = ll(rng.range(-half, half), rng.range(-half, half));
        let props = format!(
            r#""name":"变电站{n}","name_en":"Substation {n}","voltage_kv":110,"capacity_mva":100,"status":"{}","source":"illustrative""#,
            rng.pick(STATUSES)
        );
        subs.point(&format!("substations-{n}"), c, &props);
    }
    stats.features += subs.count;
    stats.bytes += subs.finish(&dir.join("substations.geojson"))?;

    for (layer, count, size, name, kind) in [
        ("parks", (segments / 5000).max(2), 300.0, "Park", None),
        (
            "sites",
            (segments / 1000).max(5),
            150.0,
            "Site",
            Some(["industrial", "logistics", "incubator"]),
        ),
    ] {
        let mut out = Collection::new();
        for n in 0..count {
            let (x, y) = (
                rng.range(-half + size, half - size),
                rng.range(-half + size, half - size),
            );
            let w = rng.range(size / 2.0, size);
            let h = rng.range(size / 2.0, size);
            let ring = [
                ll(x, y),
                ll(x + w, y),
                ll(x + w, y + h),
                ll(x, y + h),
                ll(x, y),
            ];
            let mut props = format!(
                r#""name":"{name}{n}","name_en":"{name} {n}","status":"{}","source":"illustrative""#,
                rng.pick(STATUSES)
            );
            if let Some(kinds) = kind {
                let _ = write!(props, r#","kind":"{}""#, rng.pick(&kinds));
            }
            out.polygon(&format!("{layer}-{n}"), &ring, &props);
        }
        stats.features += out.count;
        stats.bytes += out.finish(&dir.join(format!("{layer}.geojson")))?;
    }

    let mut zone = Collection::new();
    let ring = [
        ll(-half, -half),
        ll(half, -half),
        ll(half, half),
        ll(-half, half),
        ll(-half, -half),
    ];
    zone.polygon(
        "zone",
        &ring,
        r#""name":"合成城区","name_en":"Synthetic city","kind":"zone","source":"illustrative""#,
    );
    stats.features += 1;
    stats.bytes += zone.finish(&dir.join("zone.geojson"))?;
    Ok(stats)
}

/// A FeatureCollection written as text, feature by feature.
struct Collection {
    buf: String,
    count: usize,
}

impl Collection {
    fn new() -> Self {
        Collection {
            buf: String::from("{\"type\":\"FeatureCollection\",\"features\":[\n"),
            count: 0,
        }
    }

    fn open(&mut self, id: &str, kind: &str) {
        if self.count > 0 {
            self.buf.push_str(",\n");
        }
        self.count += 1;
        let _ = write!(
            self.buf,
            "{{\"type\":\"Feature\",\"id\":\"{id}\",\"geometry\":{{\"type\":\"{kind}\",\"coordinates\":"
        );
    }

    fn coords(&mut self, coords: &[geo::Coord]) {
        self.buf.push('[');
        for (i, c) in coords.iter().enumerate() {
            if i > 0 {
                self.buf.push(',');
            }
            let _ = write!(self.buf, "[{:.7},{:.7}]", c.x, c.y);
        }
        self.buf.push(']');
    }

    fn close(&mut self, props: &str) {
        let _ = write!(self.buf, "}},\"properties\":{{{props}}}}}");
    }

    fn line(&mut self, id: &str, coords: &[geo::Coord], props: &str) {
        self.open(id, "LineString");
        self.coords(coords);
        self.close(props);
    }

    fn point(&mut self, id: &str, c: geo::Coord, props: &str) {
        self.open(id, "Point");
        let _ = write!(self.buf, "[{:.7},{:.7}]", c.x, c.y);
        self.close(props);
    }

    fn polygon(&mut self, id: &str, ring: &[geo::Coord], props: &str) {
        self.open(id, "Polygon");
        self.buf.push('[');
        self.coords(ring);
        self.buf.push(']');
        self.close(props);
    }

    fn finish(mut self, path: &Path) -> std::io::Result<u64> {
        self.buf.push_str("\n]}\n");
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        f.write_all(self.buf.as_bytes())?;
        f.flush()?;
        Ok(self.buf.len() as u64)
    }
}

//! Coordinate reference systems planners' data comes in, to and from WGS84
//! longitude/latitude (what zoneatlas stores): CRS84 and EPSG:4326, CGCS2000
//! (EPSG:4490), Web Mercator (EPSG:3857), the CGCS2000 3-degree
//! Gauss-Krüger zones (EPSG:4513-4554), UTM north (EPSG:32601-32660), and
//! the Chinese web offsets GCJ-02 and BD-09.
//!
//! Accuracy: transverse Mercator by Krüger's series to n⁶ both ways (Karney
//! 2011; the inverse's latitude from the conformal one by its series, no
//! iteration), well under a millimetre within a zone; GCJ-02 and BD-09 inverted by
//! fixed-point iteration to 1e-10 degrees (about 0.01 mm). CGCS2000 is
//! taken as WGS84: the two agree to a few centimetres (both ITRF-based), as
//! in pyproj's default (null) transformation between them.
//!
//! Axis order: `Order::Authority` follows the EPSG definition (EPSG:4326
//! and 4490 latitude first, the Gauss-Krüger CRSs northing first), which OGC
//! API - Features Part 2 asks for; `Order::Traditional` is easting /
//! longitude first, as files (Shapefile, GeoPackage, GeoJSON) hold them.
//!
//! Must not: do I/O.

use geo::Coord;

/// The OGC URI prefix of EPSG codes.
pub const EPSG_URI: &str = "http://www.opengis.net/def/crs/EPSG/0/";
/// OGC:CRS84, longitude first.
pub const CRS84_URI: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";

/// A supported coordinate reference system.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Crs {
    /// WGS84 longitude, latitude.
    Crs84,
    /// WGS84 (EPSG:4326) or CGCS2000 (EPSG:4490): latitude first by authority.
    Geographic {
        epsg: u32,
    },
    WebMercator,
    /// Transverse Mercator: CGCS2000 Gauss-Krüger or WGS84 UTM.
    TransverseMercator {
        epsg: u32,
        central_meridian: f64,
        false_easting: f64,
        scale: f64,
        ellipsoid: Ellipsoid,
        /// Northing first by authority (the Gauss-Krüger CRSs).
        northing_first: bool,
    },
    Gcj02,
    Bd09,
}

/// The URIs of every CRS a client may ask for (OGC API - Features Part 2):
/// CRS84 first (the storage CRS), then the EPSG codes in order.
pub fn offered_uris() -> Vec<String> {
    let mut codes: Vec<u32> = vec![3857, 4326, 4490];
    codes.extend(4513..=4554);
    codes.extend(32601..=32660);
    std::iter::once(CRS84_URI.to_owned())
        .chain(codes.into_iter().map(|c| format!("{EPSG_URI}{c}")))
        .collect()
}

/// Web Mercator's square extent: ±π·a metres.
const WEB_MERCATOR_EDGE: f64 = 20_037_508.342_789_244;

/// Axis order of coordinate pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// As the CRS's authority defines it (OGC API - Features Part 2).
    Authority,
    /// Easting / longitude first (files, GIS software).
    Traditional,
}

/// An ellipsoid by semi-major axis and flattening.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ellipsoid {
    pub a: f64,
    pub f: f64,
}

pub const WGS84: Ellipsoid = Ellipsoid {
    a: 6_378_137.0,
    f: 1.0 / 298.257_223_563,
};
pub const GRS80: Ellipsoid = Ellipsoid {
    a: 6_378_137.0,
    f: 1.0 / 298.257_222_101,
};

impl Crs {
    /// A CRS from an OGC URI (`http://www.opengis.net/def/crs/EPSG/0/4547`,
    /// the CRS84 URI), `EPSG:4547`, `CRS84`, `gcj02` or `bd09`.
    pub fn parse(text: &str) -> Result<Crs, String> {
        let t = text.trim();
        let lower = t.to_ascii_lowercase();
        if t == CRS84_URI || lower == "crs84" || lower == "ogc:crs84" {
            return Ok(Crs::Crs84);
        }
        match lower.as_str() {
            "gcj02" | "gcj-02" => return Ok(Crs::Gcj02),
            "bd09" | "bd-09" => return Ok(Crs::Bd09),
            _ => {}
        }
        let code = t
            .strip_prefix(EPSG_URI)
            .or_else(|| lower.strip_prefix("epsg:").map(|_| &t[5..]))
            .and_then(|c| c.parse::<u32>().ok())
            .ok_or_else(|| {
                format!(
                    "{text:?} is not a CRS this server knows; {}",
                    Crs::supported()
                )
            })?;
        Crs::epsg(code).ok_or_else(|| format!("EPSG:{code} is not supported; {}", Crs::supported()))
    }

    /// The CRS of an EPSG code, if supported.
    pub fn epsg(code: u32) -> Option<Crs> {
        let tm =
            |cm: f64, fe: f64, scale: f64, ellipsoid, northing_first| Crs::TransverseMercator {
                epsg: code,
                central_meridian: cm,
                false_easting: fe,
                scale,
                ellipsoid,
                northing_first,
            };
        Some(match code {
            4326 | 4490 => Crs::Geographic { epsg: code },
            3857 => Crs::WebMercator,
            // CGCS2000 / 3-degree Gauss-Kruger zone 25..45: the zone number
            // leads the false easting.
            4513..=4533 => {
                let zone = f64::from(code - 4513 + 25);
                tm(3.0 * zone, zone * 1e6 + 500_000.0, 1.0, GRS80, true)
            }
            // CGCS2000 / 3-degree Gauss-Kruger CM 75E..135E.
            4534..=4554 => tm(
                75.0 + 3.0 * f64::from(code - 4534),
                500_000.0,
                1.0,
                GRS80,
                true,
            ),
            32601..=32660 => {
                let zone = f64::from(code - 32600);
                tm(6.0 * zone - 183.0, 500_000.0, 0.9996, WGS84, false)
            }
            _ => return None,
        })
    }

    /// What `parse` accepts, for error messages.
    pub fn supported() -> &'static str {
        "supported: CRS84, EPSG:4326, EPSG:4490 (CGCS2000), EPSG:3857, EPSG:4513-4554 (CGCS2000 3-degree Gauss-Kruger), EPSG:32601-32660 (UTM north), gcj02, bd09"
    }

    /// The OGC URI of an EPSG or CRS84 CRS (`None` for GCJ-02 and BD-09,
    /// which have none).
    pub fn uri(&self) -> Option<String> {
        match self {
            Crs::Crs84 => Some(CRS84_URI.to_owned()),
            Crs::Geographic { epsg } | Crs::TransverseMercator { epsg, .. } => {
                Some(format!("{EPSG_URI}{epsg}"))
            }
            Crs::WebMercator => Some(format!("{EPSG_URI}3857")),
            Crs::Gcj02 | Crs::Bd09 => None,
        }
    }

    /// Whether the authority's axis order puts the second traditional axis
    /// (latitude, northing) first.
    fn swapped(&self, order: Order) -> bool {
        order == Order::Authority
            && match self {
                Crs::Geographic { .. } => true,
                Crs::TransverseMercator { northing_first, .. } => *northing_first,
                _ => false,
            }
    }

    /// A position in this CRS (in `order`) to WGS84 longitude/latitude.
    /// Errors when it lies outside what the CRS can hold.
    pub fn to_lonlat(&self, p: [f64; 2], order: Order) -> Result<Coord, String> {
        let [x, y] = if self.swapped(order) { [p[1], p[0]] } else { p };
        if !x.is_finite() || !y.is_finite() {
            return Err("a coordinate is not a finite number".into());
        }
        let c = match *self {
            Crs::Crs84 | Crs::Geographic { .. } => Coord { x, y },
            Crs::WebMercator => {
                let round = 2.0 * std::f64::consts::PI * WGS84.a;
                Coord {
                    x: web_mercator::lon_of(x / round + 0.5),
                    y: web_mercator::lat_of(0.5 - y / round),
                }
            }
            Crs::TransverseMercator {
                central_meridian,
                false_easting,
                scale,
                ellipsoid,
                ..
            } => {
                let tm = krueger(ellipsoid);
                let (lat, dlon) = tm.inverse((x - false_easting) / scale, y / scale);
                Coord {
                    x: central_meridian + dlon,
                    y: lat,
                }
            }
            Crs::Gcj02 => gcj02_to_wgs84(Coord { x, y }),
            Crs::Bd09 => gcj02_to_wgs84(bd09_to_gcj02(Coord { x, y })),
        };
        if !(-180.0..=180.0).contains(&c.x)
            || !(-90.0..=90.0).contains(&c.y)
            || !c.x.is_finite()
            || !c.y.is_finite()
        {
            return Err(format!(
                "({x}, {y}) is outside what {} can hold (it maps to longitude {:.6}, latitude {:.6})",
                self.name(),
                c.x,
                c.y
            ));
        }
        // A position outside the projection's domain (beyond the pole, a
        // zone's easting read in another) would map somewhere anyway.
        let outside = match *self {
            Crs::WebMercator => x.abs() > WEB_MERCATOR_EDGE || y.abs() > WEB_MERCATOR_EDGE,
            Crs::TransverseMercator {
                false_easting,
                scale,
                ellipsoid,
                ..
            } => {
                let a = krueger(ellipsoid).big_a;
                (y / scale).abs() > a * std::f64::consts::FRAC_PI_2
                    || ((x - false_easting) / scale).abs() > a
            }
            _ => false,
        };
        if outside {
            return Err(format!(
                "({x}, {y}) is not a position {} can hold",
                self.name()
            ));
        }
        if let Crs::TransverseMercator {
            central_meridian, ..
        } = *self
        {
            // Krüger's series hold to about 40° from the central meridian;
            // a zone's data lies within 3°.
            if (c.x - central_meridian).abs() > 30.0 {
                return Err(format!(
                    "({x}, {y}) lies {:.1}° from {}'s central meridian; coordinates of another zone?",
                    (c.x - central_meridian).abs(),
                    self.name()
                ));
            }
        }
        Ok(c)
    }

    /// WGS84 longitude/latitude to this CRS, in `order`.
    pub fn from_lonlat(&self, c: Coord, order: Order) -> [f64; 2] {
        let [x, y] = match *self {
            Crs::Crs84 | Crs::Geographic { .. } => [c.x, c.y],
            Crs::WebMercator => {
                let round = 2.0 * std::f64::consts::PI * WGS84.a;
                let (u, v) = web_mercator::unit(c);
                [(u - 0.5) * round, (0.5 - v) * round]
            }
            Crs::TransverseMercator {
                central_meridian,
                false_easting,
                scale,
                ellipsoid,
                ..
            } => {
                let (e, n) = krueger(ellipsoid).forward(c.y, c.x - central_meridian);
                [false_easting + scale * e, scale * n]
            }
            Crs::Gcj02 => {
                let g = wgs84_to_gcj02(c);
                [g.x, g.y]
            }
            Crs::Bd09 => {
                let b = gcj02_to_bd09(wgs84_to_gcj02(c));
                [b.x, b.y]
            }
        };
        if self.swapped(order) {
            [y, x]
        } else {
            [x, y]
        }
    }

    /// A short name for messages (`EPSG:4547`, `GCJ-02`).
    pub fn name(&self) -> String {
        match self {
            Crs::Crs84 => "CRS84".into(),
            Crs::Geographic { epsg } | Crs::TransverseMercator { epsg, .. } => {
                format!("EPSG:{epsg}")
            }
            Crs::WebMercator => "EPSG:3857".into(),
            Crs::Gcj02 => "GCJ-02".into(),
            Crs::Bd09 => "BD-09".into(),
        }
    }

    /// OGC WKT 1 of an EPSG or CRS84 CRS (for a `.prj` or a GeoPackage's
    /// `gpkg_spatial_ref_sys`), ending in its EPSG authority so readers
    /// (GDAL, QGIS, this module) recognise it. `None` for GCJ-02 and BD-09.
    pub fn wkt(&self) -> Option<String> {
        const DEG: &str = r#"PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]"#;
        let wgs84 = format!(
            r#"GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],{DEG},AUTHORITY["EPSG","4326"]]"#
        );
        let cgcs = format!(
            r#"GEOGCS["China Geodetic Coordinate System 2000",DATUM["China_2000",SPHEROID["CGCS2000",6378137,298.257222101]],{DEG},AUTHORITY["EPSG","4490"]]"#
        );
        Some(match *self {
            Crs::Crs84 | Crs::Geographic { epsg: 4326 } => wgs84,
            Crs::Geographic { .. } => cgcs,
            Crs::WebMercator => format!(
                r#"PROJCS["WGS 84 / Pseudo-Mercator",{wgs84},PROJECTION["Mercator_1SP"],PARAMETER["central_meridian",0],PARAMETER["scale_factor",1],PARAMETER["false_easting",0],PARAMETER["false_northing",0],UNIT["metre",1],EXTENSION["PROJ4","+proj=merc +a=6378137 +b=6378137 +lat_ts=0 +lon_0=0 +x_0=0 +y_0=0 +k=1 +units=m +nadgrids=@null +wktext +no_defs"],AUTHORITY["EPSG","3857"]]"#
            ),
            Crs::TransverseMercator {
                epsg,
                central_meridian,
                false_easting,
                scale,
                ellipsoid,
                ..
            } => {
                let (name, geog) = if ellipsoid == GRS80 {
                    (
                        format!("CGCS2000 / 3-degree Gauss-Kruger CM {central_meridian}E"),
                        cgcs,
                    )
                } else {
                    (format!("WGS 84 / UTM zone {}N", epsg - 32600), wgs84)
                };
                format!(
                    r#"PROJCS["{name}",{geog},PROJECTION["Transverse_Mercator"],PARAMETER["latitude_of_origin",0],PARAMETER["central_meridian",{central_meridian}],PARAMETER["scale_factor",{scale}],PARAMETER["false_easting",{false_easting}],PARAMETER["false_northing",0],UNIT["metre",1],AUTHORITY["EPSG","{epsg}"]]"#
                )
            }
            Crs::Gcj02 | Crs::Bd09 => return None,
        })
    }

    /// The EPSG code (4326 for CRS84), if any.
    pub fn epsg_code(&self) -> Option<u32> {
        match *self {
            Crs::Crs84 => Some(4326),
            Crs::Geographic { epsg } | Crs::TransverseMercator { epsg, .. } => Some(epsg),
            Crs::WebMercator => Some(3857),
            Crs::Gcj02 | Crs::Bd09 => None,
        }
    }

    /// Whether positions are WGS84 longitude/latitude already (no work).
    pub fn is_lonlat(&self) -> bool {
        matches!(self, Crs::Crs84 | Crs::Geographic { .. })
    }
}

/// Transverse Mercator on an ellipsoid by Krüger's n-series to sixth order
/// (C. F. F. Karney, "Transverse Mercator with an accuracy of a few
/// nanometers", J. Geodesy 85, 2011): unit scale, no false origin.
struct Krueger {
    /// Rectifying radius.
    big_a: f64,
    e: f64,
    alpha: [f64; 6],
    beta: [f64; 6],
    /// Conformal latitude χ to geodetic latitude: φ = χ + Σ δ_j sin 2jχ.
    delta: [f64; 6],
}

impl Krueger {
    fn new(el: Ellipsoid) -> Krueger {
        let n = el.f / (2.0 - el.f);
        let (n2, n3) = (n * n, n * n * n);
        let (n4, n5, n6) = (n3 * n, n3 * n2, n3 * n3);
        Krueger {
            big_a: el.a / (1.0 + n) * (1.0 + n2 / 4.0 + n4 / 64.0 + n6 / 256.0),
            e: (el.f * (2.0 - el.f)).sqrt(),
            alpha: [
                n / 2.0 - 2.0 * n2 / 3.0 + 5.0 * n3 / 16.0 + 41.0 * n4 / 180.0 - 127.0 * n5 / 288.0
                    + 7891.0 * n6 / 37800.0,
                13.0 * n2 / 48.0 - 3.0 * n3 / 5.0 + 557.0 * n4 / 1440.0 + 281.0 * n5 / 630.0
                    - 1983433.0 * n6 / 1935360.0,
                61.0 * n3 / 240.0 - 103.0 * n4 / 140.0
                    + 15061.0 * n5 / 26880.0
                    + 167603.0 * n6 / 181440.0,
                49561.0 * n4 / 161280.0 - 179.0 * n5 / 168.0 + 6601661.0 * n6 / 7257600.0,
                34729.0 * n5 / 80640.0 - 3418889.0 * n6 / 1995840.0,
                212378941.0 * n6 / 319334400.0,
            ],
            beta: [
                n / 2.0 - 2.0 * n2 / 3.0 + 37.0 * n3 / 96.0 - n4 / 360.0 - 81.0 * n5 / 512.0
                    + 96199.0 * n6 / 604800.0,
                n2 / 48.0 + n3 / 15.0 - 437.0 * n4 / 1440.0 + 46.0 * n5 / 105.0
                    - 1118711.0 * n6 / 3870720.0,
                17.0 * n3 / 480.0 - 37.0 * n4 / 840.0 - 209.0 * n5 / 4480.0 + 5569.0 * n6 / 90720.0,
                4397.0 * n4 / 161280.0 - 11.0 * n5 / 504.0 - 830251.0 * n6 / 7257600.0,
                4583.0 * n5 / 161280.0 - 108847.0 * n6 / 3991680.0,
                20648693.0 * n6 / 638668800.0,
            ],
            delta: [
                2.0 * n - 2.0 * n2 / 3.0 - 2.0 * n3 + 116.0 * n4 / 45.0 + 26.0 * n5 / 45.0
                    - 2854.0 * n6 / 675.0,
                7.0 * n2 / 3.0 - 8.0 * n3 / 5.0 - 227.0 * n4 / 45.0
                    + 2704.0 * n5 / 315.0
                    + 2323.0 * n6 / 945.0,
                56.0 * n3 / 15.0 - 136.0 * n4 / 35.0 - 1262.0 * n5 / 105.0 + 73814.0 * n6 / 2835.0,
                4279.0 * n4 / 630.0 - 332.0 * n5 / 35.0 - 399572.0 * n6 / 14175.0,
                4174.0 * n5 / 315.0 - 144838.0 * n6 / 6237.0,
                601676.0 * n6 / 22275.0,
            ],
        }
    }

    /// Latitude and longitude from the central meridian (degrees) to
    /// (easting, northing) in metres.
    fn forward(&self, lat: f64, dlon: f64) -> (f64, f64) {
        let (phi, lam) = (lat.to_radians(), dlon.to_radians());
        let s = phi.sin();
        let t = (s.atanh() - e_atanh_e(self.e * self.e, s)).sinh();
        let (sl, cl) = lam.sin_cos();
        let xi_p = t.atan2(cl);
        let eta_p = (sl / (1.0 + t * t).sqrt()).atanh();
        let (xi, eta) = clenshaw(&self.alpha, xi_p, eta_p, 1.0);
        (self.big_a * eta, self.big_a * xi)
    }

    /// (easting, northing) in metres to latitude and longitude from the
    /// central meridian (degrees).
    fn inverse(&self, easting: f64, northing: f64) -> (f64, f64) {
        let (xi, eta) = (northing / self.big_a, easting / self.big_a);
        let (xi_p, eta_p) = clenshaw(&self.beta, xi, eta, -1.0);
        let (sx, cx) = xi_p.sin_cos();
        let she = eta_p.sinh();
        let lam = she.atan2(cx);
        // The conformal latitude (its tangent is sin ξ' / √(sinh²η' + cos²ξ')),
        // then the geodetic one by its series in n: no iteration.
        let chi = sx.atan2((she * she + cx * cx).sqrt());
        let (s2, c2) = (2.0 * chi).sin_cos();
        let (mut y1, mut y2) = (0.0, 0.0);
        for &d in self.delta.iter().rev() {
            let y = 2.0 * c2 * y1 - y2 + d;
            y2 = y1;
            y1 = y;
        }
        ((chi + y1 * s2).to_degrees(), lam.to_degrees())
    }
}

/// `z + sign · Σ c_j sin(2j z)` for complex `z = ξ + iη`, by Clenshaw's
/// recurrence: four transcendental calls instead of twenty-four.
fn clenshaw(c: &[f64; 6], xi: f64, eta: f64, sign: f64) -> (f64, f64) {
    let (s2, c2) = (2.0 * xi).sin_cos();
    // sinh and cosh from one exponential (|2η| < 2 in a zone: no overflow).
    let ex = (2.0 * eta).exp();
    let (sh2, ch2) = ((ex - 1.0 / ex) / 2.0, (ex + 1.0 / ex) / 2.0);
    // a = 2 cos(2z) = 2 (cos 2ξ cosh 2η − i sin 2ξ sinh 2η)
    let (ar, ai) = (2.0 * c2 * ch2, -2.0 * s2 * sh2);
    // y_k = a·y_{k+1} − y_{k+2} + c_k, from k = 6 down to 1.
    let (mut y1r, mut y1i, mut y2r, mut y2i) = (0.0, 0.0, 0.0, 0.0);
    for &ck in c.iter().rev() {
        let (yr, yi) = (ar * y1r - ai * y1i - y2r + ck, ar * y1i + ai * y1r - y2i);
        y2r = y1r;
        y2i = y1i;
        y1r = yr;
        y1i = yi;
    }
    // Σ = y_1 · sin(2z), sin(2z) = sin 2ξ cosh 2η + i cos 2ξ sinh 2η.
    let (sr, si) = (s2 * ch2, c2 * sh2);
    (
        xi + sign * (y1r * sr - y1i * si),
        eta + sign * (y1r * si + y1i * sr),
    )
}

/// e·atanh(e·x) for |x| ≤ 1 and the Earth's small e² (0.0067), as its
/// series Σ e^2k x^(2k−1) / (2k−1): seven terms reach 1e-17, with no
/// logarithm.
fn e_atanh_e(e2: f64, x: f64) -> f64 {
    let q = e2 * x * x;
    // Horner on q with the reciprocal odd numbers: no division.
    let series = 1.0
        + q * (1.0 / 3.0
            + q * (1.0 / 5.0 + q * (1.0 / 7.0 + q * (1.0 / 9.0 + q * (1.0 / 11.0 + q / 13.0)))));
    e2 * x * series
}

/// Krüger's coefficients for the two ellipsoids in use, computed once.
fn krueger(el: Ellipsoid) -> &'static Krueger {
    static GRS: std::sync::OnceLock<Krueger> = std::sync::OnceLock::new();
    static WGS: std::sync::OnceLock<Krueger> = std::sync::OnceLock::new();
    if el == GRS80 {
        GRS.get_or_init(|| Krueger::new(GRS80))
    } else {
        WGS.get_or_init(|| Krueger::new(WGS84))
    }
}

/// Whether GCJ-02 applies (it is the identity outside China).
fn in_china(c: Coord) -> bool {
    (72.004..=137.8347).contains(&c.x) && (0.8293..=55.8271).contains(&c.y)
}

/// GCJ-02's published obfuscation (Krasovsky ellipsoid, the well-known
/// formulas of `eviltransform` and its kin): the offset in degrees.
fn gcj02_offset(c: Coord) -> Coord {
    use std::f64::consts::PI;
    const A: f64 = 6_378_245.0;
    const EE: f64 = 0.006_693_421_622_965_943;
    let (x, y) = (c.x - 105.0, c.y - 35.0);
    let waves = |x: f64| (20.0 * (6.0 * x * PI).sin() + 20.0 * (2.0 * x * PI).sin()) * 2.0 / 3.0;
    let d_lat = -100.0
        + 2.0 * x
        + 3.0 * y
        + 0.2 * y * y
        + 0.1 * x * y
        + 0.2 * x.abs().sqrt()
        + waves(x)
        + (20.0 * (y * PI).sin() + 40.0 * (y / 3.0 * PI).sin()) * 2.0 / 3.0
        + (160.0 * (y / 12.0 * PI).sin() + 320.0 * (y * PI / 30.0).sin()) * 2.0 / 3.0;
    let d_lon = 300.0
        + x
        + 2.0 * y
        + 0.1 * x * x
        + 0.1 * x * y
        + 0.1 * x.abs().sqrt()
        + waves(x)
        + (20.0 * (x * PI).sin() + 40.0 * (x / 3.0 * PI).sin()) * 2.0 / 3.0
        + (150.0 * (x / 12.0 * PI).sin() + 300.0 * (x / 30.0 * PI).sin()) * 2.0 / 3.0;
    let rad = c.y.to_radians();
    let magic = 1.0 - EE * rad.sin().powi(2);
    let sm = magic.sqrt();
    Coord {
        x: d_lon * 180.0 / (A / sm * rad.cos() * PI),
        y: d_lat * 180.0 / (A * (1.0 - EE) / (magic * sm) * PI),
    }
}

/// WGS84 → GCJ-02.
pub fn wgs84_to_gcj02(c: Coord) -> Coord {
    if !in_china(c) {
        return c;
    }
    let d = gcj02_offset(c);
    Coord {
        x: c.x + d.x,
        y: c.y + d.y,
    }
}

/// GCJ-02 → WGS84.
pub fn gcj02_to_wgs84(g: Coord) -> Coord {
    invert(wgs84_to_gcj02, g, g)
}

/// The `x` with `forward(x) = target`, by fixed-point iteration from
/// `start`: the offsets GCJ-02 and BD-09 add change by under a millimetre
/// over their own few hundred metres, so each step gains about five digits.
fn invert(forward: fn(Coord) -> Coord, target: Coord, start: Coord) -> Coord {
    let mut x = start;
    for _ in 0..10 {
        let f = forward(x);
        let (dx, dy) = (f.x - target.x, f.y - target.y);
        x = Coord {
            x: x.x - dx,
            y: x.y - dy,
        };
        if dx.abs() < 1e-11 && dy.abs() < 1e-11 {
            break;
        }
    }
    x
}

/// Web Mercator on the sphere of EPSG:3857, normalised to [0, 1] both ways
/// with y down, as tile matrices count: the one implementation, for tiles
/// and for `Crs::WebMercator` (metres are `(x - 0.5, 0.5 - y)` times the
/// equator's length).
pub mod web_mercator {
    use geo::Coord;

    /// The latitude where the square map ends (y = 0 and y = 1).
    pub const MAX_LAT: f64 = 85.051_128_779_806_59;

    /// A lon/lat position, normalised (latitudes clamped to the map).
    #[inline]
    pub fn unit(c: Coord) -> (f64, f64) {
        let lat = c.y.clamp(-MAX_LAT, MAX_LAT).to_radians();
        let x = (c.x + 180.0) / 360.0;
        // ln(tan φ + sec φ) = atanh(sin φ): one sine and one logarithm.
        let s = lat.sin();
        let y = 0.5 - ((1.0 + s) / (1.0 - s)).ln() / (4.0 * std::f64::consts::PI);
        (x, y)
    }

    /// The longitude of a normalised x.
    pub fn lon_of(x: f64) -> f64 {
        x * 360.0 - 180.0
    }

    /// The latitude of a normalised y.
    pub fn lat_of(y: f64) -> f64 {
        let n = std::f64::consts::PI * (1.0 - 2.0 * y);
        n.sinh().atan().to_degrees()
    }
}

const BD_PI: f64 = std::f64::consts::PI * 3000.0 / 180.0;

/// GCJ-02 → BD-09 (Baidu's further offset).
pub fn gcj02_to_bd09(g: Coord) -> Coord {
    let z = (g.x * g.x + g.y * g.y).sqrt() + 0.000_02 * (g.y * BD_PI).sin();
    let theta = g.y.atan2(g.x) + 0.000_003 * (g.x * BD_PI).cos();
    Coord {
        x: z * theta.cos() + 0.0065,
        y: z * theta.sin() + 0.006,
    }
}

/// BD-09 → GCJ-02.
pub fn bd09_to_gcj02(b: Coord) -> Coord {
    invert(
        gcj02_to_bd09,
        b,
        Coord {
            x: b.x - 0.0065,
            y: b.y - 0.006,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZHENGZHOU: Coord = Coord {
        x: 113.625,
        y: 34.746,
    };

    #[test]
    fn parses_uris_codes_and_names_and_refuses_the_rest() {
        assert_eq!(Crs::parse(CRS84_URI), Ok(Crs::Crs84));
        assert!(matches!(
            Crs::parse("http://www.opengis.net/def/crs/EPSG/0/4547"),
            Ok(Crs::TransverseMercator { epsg: 4547, .. })
        ));
        assert!(matches!(
            Crs::parse("EPSG:4490"),
            Ok(Crs::Geographic { epsg: 4490 })
        ));
        assert_eq!(Crs::parse("gcj02"), Ok(Crs::Gcj02));
        for bad in [
            "EPSG:2000",
            "EPSG:x",
            "http://www.opengis.net/def/crs/EPSG/0/",
            "wgs84",
            "",
        ] {
            let e = Crs::parse(bad).unwrap_err();
            assert!(e.contains("supported: CRS84"), "{bad}: {e}");
        }
    }

    #[test]
    fn gauss_krueger_zone_114_puts_zhengzhou_where_its_definition_says() {
        // EPSG:4547 is CM 114E, false easting 500 km; EPSG:4526 is zone 38
        // (CM 114E), false easting 38,500 km.
        let cm = Crs::epsg(4547).unwrap();
        let zone = Crs::epsg(4526).unwrap();
        let a = cm.from_lonlat(ZHENGZHOU, Order::Traditional);
        let b = zone.from_lonlat(ZHENGZHOU, Order::Traditional);
        assert!((b[0] - a[0] - 38e6).abs() < 1e-6);
        // West of the meridian by 0.375°: about 34.3 km west of 500 km.
        assert!((a[0] - (500_000.0 - 34_330.0)).abs() < 100.0, "{a:?}");
        // Authority order is northing first.
        let n = cm.from_lonlat(ZHENGZHOU, Order::Authority);
        assert_eq!(n, [a[1], a[0]]);
    }

    #[test]
    fn every_projection_round_trips_to_a_tenth_of_a_millimetre() {
        for code in [3857, 4513, 4526, 4547, 4554, 32649, 32601, 32660] {
            let crs = Crs::epsg(code).unwrap();
            let cm = match crs {
                Crs::TransverseMercator {
                    central_meridian, ..
                } => central_meridian,
                _ => 113.0,
            };
            for (dx, lat) in [(-2.9, 5.0), (0.0, 34.7), (1.4, 60.0), (2.9, -20.0)] {
                let c = Coord { x: cm + dx, y: lat };
                let p = crs.from_lonlat(c, Order::Authority);
                let back = crs.to_lonlat(p, Order::Authority).unwrap();
                let (kx, ky) = crate::geodesy::metres_per_degree(lat);
                let err = ((back.x - c.x) * kx).hypot((back.y - c.y) * ky);
                assert!(err < 1e-4, "EPSG:{code} at {c:?}: {err} m");
            }
        }
    }

    #[test]
    fn gcj02_is_about_570_m_off_at_zhengzhou_and_inverts_to_a_centimetre() {
        let g = wgs84_to_gcj02(ZHENGZHOU);
        let (kx, ky) = crate::geodesy::metres_per_degree(ZHENGZHOU.y);
        let off = ((g.x - ZHENGZHOU.x) * kx).hypot((g.y - ZHENGZHOU.y) * ky);
        assert!((450.0..700.0).contains(&off), "{off} m");
        let w = gcj02_to_wgs84(g);
        let err = ((w.x - ZHENGZHOU.x) * kx).hypot((w.y - ZHENGZHOU.y) * ky);
        assert!(err < 0.01, "{err} m");
        let b = gcj02_to_bd09(g);
        let back = bd09_to_gcj02(b);
        assert!(((back.x - g.x) * kx).hypot((back.y - g.y) * ky) < 0.01);
        // Outside China nothing moves.
        let helsinki = Coord { x: 24.94, y: 60.17 };
        assert_eq!(wgs84_to_gcj02(helsinki), helsinki);
    }

    #[test]
    fn coordinates_that_do_not_fit_are_refused() {
        let gk = Crs::epsg(4547).unwrap();
        assert!(gk.to_lonlat([500_000.0, 1e9], Order::Traditional).is_err());
        assert!(gk.to_lonlat([f64::NAN, 0.0], Order::Traditional).is_err());
        // A zone-prefixed easting read as CM-only: 38 million metres east.
        assert!(gk
            .to_lonlat([38_465_000.0, 3_846_000.0], Order::Traditional)
            .is_err());
        assert!(Crs::Geographic { epsg: 4326 }
            .to_lonlat([120.0, 34.0], Order::Authority)
            .is_err());
    }
}

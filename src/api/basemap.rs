//! The web map's basemap: a configured tile URL or a named preset
//! (Tianditu, Amap, OpenStreetMap), with its attribution and datum.

/// A tile basemap for the web map.
#[derive(Debug, Clone)]
pub struct Basemap {
    /// Leaflet URL template (`{z}`, `{x}`, `{y}`, `{s}`).
    pub url: String,
    pub attribution: String,
    /// What `{s}` takes (Leaflet's default: `abc`).
    pub subdomains: String,
    /// The datum its tiles are drawn in: `wgs84`, or `gcj02` (Amap and most
    /// Chinese web maps), in which case the page shifts every overlay.
    pub datum: String,
}

impl Basemap {
    /// A named preset: `tianditu` (needs `key`; CGCS2000, drawn as WGS84),
    /// `amap` (GCJ-02), `osm`.
    pub fn preset(name: &str, key: Option<&str>) -> Result<Basemap, String> {
        match name {
            "tianditu" => {
                let key = key.ok_or("the tianditu basemap needs --basemap-key (a Tianditu developer key)")?;
                Ok(Basemap {
                    url: format!("https://t{{s}}.tianditu.gov.cn/DataServer?T=vec_w&x={{x}}&y={{y}}&l={{z}}&tk={key}"),
                    attribution: "© 天地图 Tianditu".into(),
                    subdomains: "01234567".into(),
                    datum: "wgs84".into(),
                })
            }
            "amap" => Ok(Basemap {
                url: "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}".into(),
                attribution: "© 高德地图 AutoNavi".into(),
                subdomains: "1234".into(),
                datum: "gcj02".into(),
            }),
            "osm" => Ok(Basemap {
                url: "https://tile.openstreetmap.org/{z}/{x}/{y}.png".into(),
                attribution: "© OpenStreetMap contributors".into(),
                subdomains: "abc".into(),
                datum: "wgs84".into(),
            }),
            other => Err(format!("no basemap preset {other:?}; the presets are tianditu, amap, osm")),
        }
    }
}

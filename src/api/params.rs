//! Query-string parsing and validation: bbox, limit, offset, points.
//!
//! Parameters are read from the raw query string (not axum's `Query`), so
//! every rejection is ours and says which parameter was wrong and why.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use geo::{Coord, Rect};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::index::antimeridian_rects;

/// The parameter naming a past state of the data (any read takes it; the
/// middleware pins its snapshot).
pub const ASOF: &str = "asof";

/// The parameter naming a proposal: reads answer from its view, edits
/// go into it (the middleware pins it; `Zoneatlas-Proposal` says the same
/// as a header).
pub const PROPOSAL: &str = "proposal";

/// Parameters every read takes besides its own: the middleware acts on
/// them (`asof` pins a past snapshot, `proposal` a proposal's view).
pub const READ_PARAMS: &[&str] = &[ASOF, PROPOSAL];

/// Default page size of `/items`.
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page `/items` returns; larger `limit`s are clamped to it, as
/// OGC API - Features Part 1 asks (not an error).
pub const MAX_LIMIT: usize = 10_000;

/// The query string as decoded `name=value` pairs, in order.
#[derive(Debug, Default, Clone)]
pub struct QueryPairs(pub Vec<(String, String)>);

impl QueryPairs {
    /// Decode a raw query string (`None` when the URL has none).
    pub fn parse(raw: Option<&str>) -> Self {
        QueryPairs(
            raw.map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default(),
        )
    }

    /// The value of a parameter given at most once.
    pub fn single(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut values = self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v);
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::bad_request(format!(
                "parameter {name:?} is given more than once"
            )));
        }
        Ok(first.map(String::as_str))
    }

    /// 400 naming the first parameter that is not in `known`; every endpoint
    /// calls it, so a misspelt parameter is never silently ignored.
    pub fn reject_unknown(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.unknown(known).next() {
            Some(bad) => Err(ApiError::bad_request(if known.is_empty() {
                format!("unknown parameter {bad:?}; this resource takes no parameters")
            } else {
                format!(
                    "unknown parameter {bad:?}; this resource accepts: {}",
                    known.join(", ")
                )
            })),
            None => Ok(()),
        }
    }

    /// `reject_unknown` for a read: its own parameters and `READ_PARAMS`.
    pub fn reject_unknown_read(&self, own: &[&str]) -> Result<(), ApiError> {
        let known: Vec<&str> = own.iter().chain(READ_PARAMS).copied().collect();
        self.reject_unknown(&known)
    }

    /// Names that are not in `known`, for "unknown parameter" errors.
    pub fn unknown<'a>(&'a self, known: &[&str]) -> impl Iterator<Item = &'a str> {
        let known: Vec<String> = known.iter().map(|s| s.to_string()).collect();
        self.0
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(move |k| !known.iter().any(|n| n == k))
    }
}

/// Parse a finite number, naming the parameter on failure.
pub fn number(name: &str, value: &str) -> Result<f64, ApiError> {
    let v: f64 = value
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request(format!("{name}: {value:?} is not a number")))?;
    if !v.is_finite() {
        return Err(ApiError::bad_request(format!(
            "{name}: {value:?} is not a finite number"
        )));
    }
    Ok(v)
}

/// `bbox=west,south,east,north` (or the 6-number form with heights), CRS84.
/// Returns two rects when it crosses the antimeridian (west > east).
pub fn bbox(value: &str) -> Result<Vec<Rect>, ApiError> {
    let parts: Vec<&str> = value.split(',').collect();
    if parts.len() != 4 && parts.len() != 6 {
        return Err(ApiError::bad_request(format!(
            "bbox must be 4 or 6 comma-separated numbers (west,south,east,north), found {}",
            parts.len()
        )));
    }
    let nums = parts
        .iter()
        .map(|p| number("bbox", p))
        .collect::<Result<Vec<_>, _>>()?;
    let (w, s, e, n) = if nums.len() == 4 {
        (nums[0], nums[1], nums[2], nums[3])
    } else {
        (nums[0], nums[1], nums[3], nums[4])
    };
    for (what, lon) in [("west", w), ("east", e)] {
        if !(-180.0..=180.0).contains(&lon) {
            return Err(ApiError::bad_request(format!(
                "bbox: {what} longitude {lon} is outside [-180, 180]"
            )));
        }
    }
    for (what, lat) in [("south", s), ("north", n)] {
        if !(-90.0..=90.0).contains(&lat) {
            return Err(ApiError::bad_request(format!(
                "bbox: {what} latitude {lat} is outside [-90, 90]"
            )));
        }
    }
    if s > n {
        return Err(ApiError::bad_request(format!(
            "bbox: south {s} is above north {n}"
        )));
    }
    Ok(antimeridian_rects(w, s, e, n))
}

/// `limit`: a whole number >= 1, clamped to `MAX_LIMIT`.
pub fn limit(value: Option<&str>) -> Result<usize, ApiError> {
    let Some(v) = value else {
        return Ok(DEFAULT_LIMIT);
    };
    match v.trim().parse::<i64>() {
        Ok(n) if n >= 1 => Ok((n as usize).min(MAX_LIMIT)),
        Ok(n) => Err(ApiError::bad_request(format!(
            "limit must be at least 1, found {n}"
        ))),
        Err(_) if v.trim().parse::<u128>().is_ok() => Ok(MAX_LIMIT),
        Err(_) => Err(ApiError::bad_request(format!(
            "limit: {v:?} is not a whole number"
        ))),
    }
}

/// `offset`: a whole number >= 0.
pub fn offset(value: Option<&str>) -> Result<usize, ApiError> {
    let Some(v) = value else {
        return Ok(0);
    };
    match v.trim().parse::<i64>() {
        Ok(n) if n >= 0 => Ok(n as usize),
        Ok(n) => Err(ApiError::bad_request(format!(
            "offset must not be negative, found {n}"
        ))),
        Err(_) if v.trim().parse::<u128>().is_ok() => Ok(usize::MAX),
        Err(_) => Err(ApiError::bad_request(format!(
            "offset: {v:?} is not a whole number"
        ))),
    }
}

/// `lon` and `lat` as a WGS84 point; both required.
pub fn point(q: &QueryPairs) -> Result<Coord, ApiError> {
    let get = |name: &str| -> Result<f64, ApiError> {
        let v = q
            .single(name)?
            .ok_or_else(|| ApiError::bad_request(format!("parameter {name:?} is required")))?;
        number(name, v)
    };
    let (lon, lat) = (get("lon")?, get("lat")?);
    // With `crs`, lon and lat carry the position's x and y (easting,
    // northing) in that CRS.
    if let Some(text) = q.single("crs")? {
        let crs =
            crate::crs::Crs::parse(text).map_err(|e| ApiError::bad_request(format!("crs: {e}")))?;
        return crs
            .to_lonlat([lon, lat], crate::crs::Order::Traditional)
            .map_err(|e| ApiError::bad_request(format!("lon, lat in {}: {e}", crs.name())));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(ApiError::bad_request(format!(
            "lon {lon} is outside [-180, 180]"
        )));
    }
    if !(-90.0..=90.0).contains(&lat) {
        return Err(ApiError::bad_request(format!(
            "lat {lat} is outside [-90, 90]"
        )));
    }
    Ok(Coord { x: lon, y: lat })
}

/// `f`: the only output format is JSON; accept the names clients send for it.
pub fn format(q: &QueryPairs) -> Result<(), ApiError> {
    match q.single("f")? {
        None
        | Some("json")
        | Some("geojson")
        | Some("application/json")
        | Some("application/geo+json") => Ok(()),
        Some(other) => Err(ApiError::bad_request(format!(
            "f: format {other:?} is not offered; use json"
        ))),
    }
}

/// Path parameters whose rejection (e.g. `%FF`, not UTF-8) is our JSON
/// 400, not axum's plain-text one.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(v)) => Ok(ApiPath(v)),
            Err(e) => Err(ApiError::bad_request(format!(
                "the path is malformed: {}",
                e.body_text()
            ))),
        }
    }
}

/// The request's Content-Type as sent, and its essence (type/subtype,
/// lower case, without parameters).
pub fn content_type(headers: &HeaderMap) -> (&str, String) {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    (ct, essence)
}

/// 415 unless the body is declared as JSON (`application/json`,
/// `application/geo+json` or another `+json` type).
pub fn require_json(headers: &HeaderMap) -> Result<(), ApiError> {
    let (ct, essence) = content_type(headers);
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        return Ok(());
    }
    Err(ApiError::unsupported_media_type(if ct.is_empty() {
        "the body needs a Content-Type: application/json or application/geo+json".into()
    } else {
        format!(
            "Content-Type {ct:?} is not accepted; send application/json or application/geo+json"
        )
    }))
}

/// A client's GeoJSON geometry given in `crs` (easting first, as GeoJSON
/// files hold it), with every position converted to WGS84 lon/lat in place.
pub fn geometry_to_lonlat(
    v: &mut serde_json::Value,
    crs: &crate::crs::Crs,
) -> Result<(), ApiError> {
    use serde_json::Value;
    match v {
        Value::Array(items) if items.first().is_some_and(Value::is_number) => {
            let (Some(x), Some(y)) = (
                items.first().and_then(Value::as_f64),
                items.get(1).and_then(Value::as_f64),
            ) else {
                return Err(ApiError::bad_request("a position needs two numbers"));
            };
            let c = crs
                .to_lonlat([x, y], crate::crs::Order::Traditional)
                .map_err(|e| ApiError::bad_request(format!("a position in {}: {e}", crs.name())))?;
            *items = vec![Value::from(c.x), Value::from(c.y)];
            Ok(())
        }
        Value::Array(items) => items
            .iter_mut()
            .try_for_each(|x| geometry_to_lonlat(x, crs)),
        Value::Object(m) => {
            for key in ["coordinates", "geometry"] {
                if let Some(x) = m.get_mut(key) {
                    geometry_to_lonlat(x, crs)?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbox_rejects_each_malformed_form_with_a_reason() {
        for (input, needle) in [
            ("1,2,3", "4 or 6"),
            ("a,2,3,4", "not a number"),
            ("NaN,2,3,4", "not a finite"),
            ("0,91,1,92", "outside [-90, 90]"),
            ("0,10,1,5", "above north"),
            ("-181,0,1,1", "outside [-180, 180]"),
        ] {
            let e = bbox(input).expect_err(input);
            assert!(e.description.contains(needle), "{input}: {}", e.description);
        }
    }

    #[test]
    fn bbox_across_the_antimeridian_is_two_rects() {
        assert_eq!(bbox("170,-10,-170,10").unwrap().len(), 2);
        assert_eq!(bbox("1,2,0,3,4,10").unwrap().len(), 1);
    }

    #[test]
    fn limit_and_offset_bounds() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit(Some("50000")).unwrap(), MAX_LIMIT);
        assert!(limit(Some("0")).is_err());
        assert!(limit(Some("-3")).is_err());
        assert!(offset(Some("-1")).is_err());
        assert_eq!(offset(Some("7")).unwrap(), 7);
    }
}

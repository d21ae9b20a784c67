//! The `filter`, `filter-lang` and `filter-crs` parameters (OGC API -
//! Features Part 3), shared by `/items` and the tile endpoints: parsed
//! once per request, compiled per collection.

use geo::Geometry;

use super::params::QueryPairs;
use super::ApiError;
use crate::cql2::{self, Expr, Filter};
use crate::crs::{Crs, Order};
use crate::index::IndexedLayer;

/// A request's filter, parsed, with the CRS of its geometry literals.
pub struct Requested {
    pub expr: Expr,
    crs: Crs,
}

/// The filter a request carries, if any.
pub fn requested(q: &QueryPairs) -> Result<Option<Requested>, ApiError> {
    let lang = q.single("filter-lang")?;
    let crs_text = q.single("filter-crs")?;
    let crs = match crs_text {
        None => Crs::Crs84,
        Some(c) => {
            let crs =
                Crs::parse(c).map_err(|e| ApiError::bad_request(format!("filter-crs: {e}")))?;
            if crs.uri().is_none() {
                return Err(ApiError::bad_request(format!(
                    "filter-crs: {} has no URI; name a CRS of the collection's crs list",
                    crs.name()
                )));
            }
            crs
        }
    };
    let Some(text) = q.single("filter")? else {
        if lang.is_some() || crs_text.is_some() {
            return Err(ApiError::bad_request(
                "filter-lang and filter-crs describe a filter, and there is no filter parameter",
            ));
        }
        return Ok(None);
    };
    let json = match lang {
        Some("cql2-text") => false,
        Some("cql2-json") => true,
        // Not named: CQL2-Text, the standard's default, unless it is
        // plainly a JSON object.
        None => text.trim_start().starts_with('{'),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "filter-lang {other:?} is not offered; use cql2-text or cql2-json"
            )))
        }
    };
    let expr = if json {
        cql2::parse_json(text)
    } else {
        cql2::parse_text(text)
    }
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Some(Requested { expr, crs }))
}

impl Requested {
    /// The filter checked against one collection's properties.
    pub fn compile(&self, layer: &IndexedLayer) -> Result<Filter, cql2::Error> {
        let crs = self.crs;
        let to_lonlat = move |g: &Geometry| -> Result<Geometry, String> {
            if crs == Crs::Crs84 {
                return Ok(g.clone());
            }
            use geo::MapCoords;
            g.try_map_coords(|c| {
                crs.to_lonlat([c.x, c.y], Order::Authority)
                    .map_err(|e| format!("filter-crs {}: {e}", crs.name()))
            })
        };
        cql2::compile(&self.expr, layer.properties(), &to_lonlat)
    }
}

/// A compile error as the 400 it is; a property the collection lacks has
/// its own code, so the map can tell "not in this layer" from a mistake.
pub fn bad(collection: &str, e: cql2::Error) -> ApiError {
    let mut err = ApiError::bad_request(format!("{e} (collection {collection:?})"));
    if e.unknown_property {
        err.code = "UnknownProperty";
    }
    err
}

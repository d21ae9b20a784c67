//! What coverage questions answer: the scenario asked about, the assets
//! named, and the per-service answers for a point, an area, the zone and a
//! site. Plain serialisable types.
//!
//! Must not: compute anything (see the query files beside it).

use geo::MultiPolygon;
use serde::Serialize;

/// Which assets count: only existing ones, or also those being built and planned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    Current,
    Planned,
}

impl Scenario {
    pub const ALL: [Scenario; 2] = [Scenario::Current, Scenario::Planned];

    /// Parse `current` or `planned`.
    pub fn parse(s: &str) -> Option<Scenario> {
        match s {
            "current" => Some(Scenario::Current),
            "planned" => Some(Scenario::Planned),
            _ => None,
        }
    }

    pub(super) fn at(self) -> usize {
        self as usize
    }

    /// `current` or `planned`.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Current => "current",
            Scenario::Planned => "planned",
        }
    }
}

/// A feature named in an answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AssetRef {
    pub collection: String,
    pub id: String,
    pub name: Option<String>,
}

/// A feature switched off hypothetically (`?without=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Switch {
    pub layer: usize,
    pub feature: usize,
}

/// One service's answer at a point.
#[derive(Debug, Clone, Serialize)]
pub struct PointAnswer {
    pub service: &'static str,
    pub covered: bool,
    /// Metres to the nearest asset (the serving one for power); null when the
    /// scenario has none.
    pub distance_m: Option<f64>,
    pub reach_m: f64,
    pub nearest: Option<AssetRef>,
    #[serde(flatten)]
    pub supply: Option<Supply>,
}

/// Network tracing: the sources that reach a place, and whether two or more do.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Supply {
    pub sources: Vec<AssetRef>,
    pub redundant: bool,
}

/// One service's answer for an area.
#[derive(Debug, Clone, Serialize)]
pub struct AreaAnswer {
    pub service: &'static str,
    /// Whether some eligible asset lies within its reach of the area's
    /// boundary (or inside it): the area can be connected.
    pub connectable: bool,
    /// Metres from the area to the nearest eligible asset (0 when one lies
    /// inside or crosses it), within reach or not; null only when the
    /// scenario has no eligible asset at all.
    pub distance_m: Option<f64>,
    /// The asset it would connect to: the nearest one whose reach includes
    /// the area.
    pub connect_to: Option<AssetRef>,
    pub covered_m2: f64,
    /// Share of the area within reach of the service (every point of it).
    pub share: f64,
    pub reach_m: f64,
    /// The assets whose reach touches the area.
    pub assets: Vec<AssetRef>,
    #[serde(flatten)]
    pub supply: Option<Supply>,
}

/// A service's coverage of the whole zone (cached).
#[derive(Debug, Clone)]
pub struct ZoneResult {
    pub area_m2: f64,
    pub covered_m2: f64,
    pub share: f64,
    /// The uncovered parts, lon/lat.
    pub gaps: MultiPolygon,
    /// Each cell's share of the answer (projected), for the next snapshot
    /// to reuse where an edit did not reach (`zone::Seed`).
    pub(super) cells: Vec<super::zone::CellPart>,
    /// The gaps, projected, as joined across cells: where the next
    /// snapshot's join starts.
    pub(super) joined: Vec<geo::Polygon>,
}

/// One site's row of the checklist: the site, its area, per-service answers.
pub type SiteAnswer = (AssetRef, f64, Vec<AreaAnswer>);

/// Why a parcel is refused before any computation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ParcelRefusal {
    /// Larger than the local projection computes accurately.
    #[error("the parcel spans {across_m:.0} m; at most {max_m:.0} m across can be computed within the stated accuracy (split it into smaller parcels)")]
    TooWide { across_m: f64, max_m: f64 },
    /// Its vertices times the candidate assets' vertices exceed the budget.
    #[error("the parcel is too costly to compute: {vertices} vertices against {candidates} candidate asset vertices (cost {cost}, at most {max}); send a simpler or smaller parcel")]
    TooCostly {
        vertices: usize,
        candidates: usize,
        cost: u64,
        max: u64,
    },
}

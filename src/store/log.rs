//! The change log's rows as both stores write them: what each change
//! records (operation, the feature after it as GeoJSON, its status and
//! size, so progress reports never parse geometries), and which property
//! holds a feature's status.
//!
//! Must not: run SQL (each store writes the rows in its own dialect).

use serde::Deserialize;

use super::{Change, ChangeRecord, StoreError};
use crate::model::{Feature, GeometryKind, DEFAULT_STATUS_PROPERTY};

/// One change as the change log records it.
pub(crate) struct Entry {
    /// `create`, `replace` or `delete`.
    pub op: &'static str,
    pub id: String,
    /// The feature as stored (its revision set), for a create or replace.
    pub feature: Option<Feature>,
    /// The feature as GeoJSON text.
    pub after: Option<String>,
    pub status: Option<String>,
    pub size: Option<f64>,
}

impl Entry {
    /// What `change` writes at revision `next` (`None` for a new layer,
    /// which is not a feature's change).
    pub fn of(
        change: &Change,
        next: u64,
        kind: GeometryKind,
        status_property: &str,
    ) -> Option<Entry> {
        match change {
            Change::AddLayer { .. } => None,
            Change::Create { feature, .. }
            | Change::Replace { feature, .. }
            | Change::Update { feature, .. } => {
                let mut f = feature.clone();
                f.revision = next;
                let (status, size) = logged_shape(&f, kind, status_property);
                Some(Entry {
                    op: match change {
                        Change::Create { .. } => "create",
                        Change::Update { .. } => "update",
                        _ => "replace",
                    },
                    id: f.id.clone(),
                    after: Some(feature_json(&f)),
                    feature: Some(f),
                    status,
                    size: Some(size),
                })
            }
            Change::Delete { id, .. } => Some(Entry {
                op: "delete",
                id: id.clone(),
                feature: None,
                after: None,
                status: None,
                size: None,
            }),
        }
    }

    /// The row as `commit` reports it (without the feature, which the
    /// caller has).
    pub fn record(
        &self,
        seq: u64,
        revision: u64,
        time: &str,
        who: &str,
        layer: &str,
    ) -> ChangeRecord {
        ChangeRecord {
            seq,
            revision,
            time: time.to_owned(),
            who: who.to_owned(),
            op: self.op.to_owned(),
            collection: layer.to_owned(),
            feature_id: self.id.clone(),
            feature: None,
            proposal: None,
        }
    }
}

/// A feature's state at a past revision from its last change-log row then
/// (`None`: no row, or a delete): the revision and the feature's GeoJSON.
pub(crate) fn past_state(
    store: &str,
    collection: String,
    id: String,
    last: Option<(i64, Option<String>)>,
) -> Result<super::PastState, StoreError> {
    let state = match last {
        Some((rev, Some(text))) => Some((
            rev as u64,
            serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                path: store.to_owned(),
                message: format!("change log entry of {collection}/{id}: {e}"),
            })?,
        )),
        _ => None,
    };
    Ok((collection, id, state))
}

/// A feature's status and size as the change log keeps them.
pub(crate) fn logged_shape(
    f: &Feature,
    kind: GeometryKind,
    status_property: &str,
) -> (Option<String>, f64) {
    (
        f.property_text(status_property),
        crate::geodesy::feature_size(kind, &f.geometry),
    )
}

/// The feature as GeoJSON text, for the change log.
pub fn feature_json(f: &Feature) -> String {
    let links: [crate::encode::Link; 0] = [];
    serde_json::to_string(&crate::encode::FeatureJson {
        feature: f,
        links: &links,
    })
    .unwrap_or_default()
}

/// The property the coverage rules (TOML text, as a store keeps them) name
/// as the status (`[scenarios] status_property`), else the default. Only
/// that key is read: the rules are the catalog's to parse and check.
pub(crate) fn status_property(rules_text: Option<&str>) -> String {
    #[derive(Deserialize)]
    struct Rules {
        scenarios: Option<Scenarios>,
    }
    #[derive(Deserialize)]
    struct Scenarios {
        status_property: Option<String>,
    }
    rules_text
        .and_then(|t| toml::from_str::<Rules>(t).ok())
        .and_then(|r| r.scenarios?.status_property)
        .unwrap_or_else(|| DEFAULT_STATUS_PROPERTY.to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_status_property_is_read_from_the_rules_text() {
        let rules = "[scenarios]\nstatus_property = \"phase\"\ncurrent = [\"built\"]\n";
        assert_eq!(super::status_property(Some(rules)), "phase");
        assert_eq!(super::status_property(Some("[zone]\n")), "status");
        assert_eq!(super::status_property(None), "status");
    }
}

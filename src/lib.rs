//! zoneatlas: a development zone's infrastructure networks (roads, pipelines,
//! power, parks, project sites) served as OGC API - Features, with coverage
//! queries in metres.
//!
//! Data flows one way: `load` reads a data folder into `model` types,
//! `catalog` indexes them (`index`), and `api` serves them. Only `api` knows
//! HTTP; `geodesy` is the only place that turns degrees into metres.
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod budget;
pub mod catalog;
pub mod chunked;
pub mod clock;
pub mod commands;
pub mod compare;
pub mod config;
pub mod coverage;
pub mod cql2;
pub mod crs;
pub mod edit;
pub mod encode;
pub mod export;
pub mod geodesy;
pub mod hex;
pub mod history;
pub mod ids;
pub mod import;
pub mod index;
pub mod live;
pub mod load;
pub mod metrics;
pub mod model;
pub mod props;
pub mod query;
pub mod report;
pub mod store;
pub mod style;
pub mod synth;
pub mod tiles;

#[cfg(test)]
mod testkit;

use std::sync::Arc;

/// The whole HTTP application over the live seat; tests call it with
/// `tower::ServiceExt::oneshot`, `main` serves it.
pub fn app(live: Arc<live::Live>, options: api::Options) -> axum::Router {
    api::router(live, options)
}

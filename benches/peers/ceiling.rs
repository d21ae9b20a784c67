//! The ceiling for "nearest road + distance over HTTP": a bare axum + rstar
//! server, nothing else (no snapshot, no middleware, no status filter, no
//! coverage rules), answering `GET /nearest?lon=&lat=` with the nearest
//! segment's id and its distance in metres. `benches/peers/run.sh` sets
//! zoneatlas's `GET /api/coverage?lon=&lat=` against it in the same run.
//!
//! usage: cargo run --release --example ceiling -- ROADS.geojson ADDR

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use rstar::primitives::{GeomWithData, Line};
use rstar::{PointDistance, RTree};
use serde::Deserialize;
use zoneatlas::geodesy::LocalProjection;

#[derive(Deserialize)]
struct Collection {
    features: Vec<Feature>,
}

#[derive(Deserialize)]
struct Feature {
    id: String,
    geometry: LineGeometry,
}

#[derive(Deserialize)]
struct LineGeometry {
    coordinates: Vec<[f64; 2]>,
}

type Segment = GeomWithData<Line<[f64; 2]>, u32>;

struct Index {
    tree: RTree<Segment>,
    ids: Vec<String>,
    proj: LocalProjection,
}

#[derive(Deserialize)]
struct At {
    lon: f64,
    lat: f64,
}

async fn nearest(State(ix): State<Arc<Index>>, Query(at): Query<At>) -> Json<serde_json::Value> {
    let q = ix.proj.to_xy(geo::coord! {x: at.lon, y: at.lat});
    Json(match ix.tree.nearest_neighbor(&q) {
        Some(s) => serde_json::json!({
            "id": ix.ids[s.data as usize],
            "distance_m": s.geom().distance_2(&q).sqrt(),
        }),
        None => serde_json::Value::Null,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(addr)) = (args.next(), args.next()) else {
        return Err("usage: ceiling ROADS.geojson ADDR".into());
    };
    let fc: Collection = serde_json::from_slice(&std::fs::read(path)?)?;
    let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
    for f in &fc.features {
        for c in &f.geometry.coordinates {
            (sx, sy, n) = (sx + c[0], sy + c[1], n + 1.0);
        }
    }
    let proj = LocalProjection::new(geo::coord! {x: sx / n, y: sy / n});
    let mut segments = Vec::new();
    let mut ids = Vec::with_capacity(fc.features.len());
    for (i, f) in fc.features.into_iter().enumerate() {
        for w in f.geometry.coordinates.windows(2) {
            let a = proj.to_xy(geo::coord! {x: w[0][0], y: w[0][1]});
            let b = proj.to_xy(geo::coord! {x: w[1][0], y: w[1][1]});
            segments.push(GeomWithData::new(Line::new(a, b), i as u32));
        }
        ids.push(f.id);
    }
    let index = Arc::new(Index {
        tree: RTree::bulk_load(segments),
        ids,
        proj,
    });
    let app = Router::new()
        .route("/nearest", get(nearest))
        .with_state(index);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            eprintln!("ceiling listening on {addr}");
            axum::serve(listener, app).await
        })?;
    Ok(())
}

//! `/metrics`: what an operator's Prometheus scrapes. One test in this
//! binary, so no other test's requests are counted with it.

mod common;

use axum::http::StatusCode;
use common::{geodata, get};

/// The value of the sample `name{labels}` in an exposition text.
fn sample(text: &str, name_and_labels: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name_and_labels)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn requests_are_counted_by_route_pattern_and_status() {
    let app = common::app_on(&geodata());
    for id in ["roads", "pipelines", "roads"] {
        let r = get(&app, &format!("/api/collections/{id}/items?limit=1")).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    assert_eq!(
        get(&app, "/api/collections/nope/items").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&app, "/api/nothing/here").await.status,
        StatusCode::NOT_FOUND
    );
    let r = get(&app, "/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    // Changes without a new revision: never tagged, never a 304.
    assert_eq!(r.header("etag"), None);
    let text = String::from_utf8(r.bytes).unwrap();
    let items = "route=\"/api/collections/{collectionId}/items\",method=\"GET\"";
    let ok = format!("zoneatlas_http_requests_total{{{items},status=\"200\"}}");
    assert_eq!(sample(&text, &ok), Some(3.0), "{text}");
    let missing = format!("zoneatlas_http_requests_total{{{items},status=\"404\"}}");
    assert_eq!(sample(&text, &missing), Some(1.0));
    // Unknown API paths count under the catch-all pattern, not their path.
    assert!(!text.contains("nothing/here"));
    assert_eq!(
        sample(
            &text,
            "zoneatlas_http_requests_total{route=\"/api/{*rest}\",method=\"GET\",status=\"404\"}"
        ),
        Some(1.0)
    );
    let inf = format!(
        "zoneatlas_http_request_duration_seconds_bucket{{{items},status=\"200\",le=\"+Inf\"}}"
    );
    assert_eq!(sample(&text, &inf), Some(3.0));
    let count = format!("zoneatlas_http_request_duration_seconds_count{{{items},status=\"200\"}}");
    assert_eq!(sample(&text, &count), Some(3.0));
    // The scrape itself is in flight while it renders.
    assert_eq!(
        sample(&text, "zoneatlas_http_requests_in_flight"),
        Some(1.0)
    );
    let revision = get(&app, "/health").await.json()["revision"].as_f64();
    assert_eq!(sample(&text, "zoneatlas_snapshot_revision"), revision);
    if cfg!(target_os = "linux") {
        assert!(sample(&text, "process_resident_memory_bytes").unwrap() > 1e6);
    }
    // A second scrape counts the first.
    let again = String::from_utf8(get(&app, "/metrics").await.bytes).unwrap();
    assert_eq!(
        sample(
            &again,
            "zoneatlas_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"200\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        get(&app, "/metrics?x=1").await.status,
        StatusCode::BAD_REQUEST
    );
}

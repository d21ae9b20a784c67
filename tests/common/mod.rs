//! Shared helpers for the integration tests: build the app on a data folder
//! and call it without a socket, or serve it on a loopback port for real
//! clients (GDAL, Python).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use tower::ServiceExt;
use zoneatlas::catalog::Catalog;

/// The sample's layers, in manifest order.
pub const SAMPLE_LAYERS: [&str; 8] = [
    "zone",
    "water",
    "roads",
    "pipelines",
    "power_lines",
    "substations",
    "parks",
    "sites",
];

/// The bundled sample data folder.
pub fn geodata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("geodata")
}

/// The app over a data folder, as `main` builds it (without the web page).
pub fn app_on(dir: &Path) -> axum::Router {
    let catalog = Catalog::open(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    zoneatlas::app(Arc::new(catalog), zoneatlas::api::Options::default())
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.bytes)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Send one request through the router.
pub async fn send(app: &axum::Router, req: Request<Body>) -> Reply {
    let resp = app.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Reply {
        status,
        headers,
        bytes,
    }
}

/// GET a path (with query) with `Host: localhost`.
pub async fn get(app: &axum::Router, uri: &str) -> Reply {
    send(
        app,
        Request::get(uri)
            .header("host", "localhost")
            .body(Body::empty())
            .expect("request"),
    )
    .await
}

/// The features of a GeoJSON file, read with serde_json only (an oracle
/// independent of the loader).
pub fn file_features(dir: &Path, layer: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join(format!("{layer}.geojson"))).expect("read");
    let v: Value = serde_json::from_str(&text).expect("json");
    v["features"].as_array().expect("features").clone()
}

/// Whether a tool the tests can use is installed; when `ZONEATLAS_REQUIRE_TOOLS`
/// is set (CI), a missing tool is a failure rather than a loud skip.
pub fn tool_available(what: &str, probe: &mut std::process::Command) -> bool {
    let ok = probe
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        if std::env::var_os("ZONEATLAS_REQUIRE_TOOLS").is_some() {
            panic!("{what} is required (ZONEATLAS_REQUIRE_TOOLS is set) but not installed");
        }
        eprintln!("SKIPPED: {what} is not installed; this test did not run");
    }
    ok
}

/// Serve the app on 127.0.0.1 (a free port) in a background thread; returns
/// the base URL. The server lives until the test process ends.
pub fn serve_in_background(dir: &Path) -> String {
    serve_app(app_on(dir))
}

/// Like `serve_in_background`, with the web page from `web/`.
pub fn serve_with_web(dir: &Path) -> String {
    let catalog = Catalog::open(dir).expect("catalog");
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    serve_app(zoneatlas::app(
        Arc::new(catalog),
        zoneatlas::api::Options {
            web_dir: Some(web),
            ..Default::default()
        },
    ))
}

fn serve_app(app: axum::Router) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            axum::serve(listener, app).await.expect("serve");
        });
    });
    format!("http://{addr}")
}

pub fn python_has(module: &str) -> bool {
    tool_available(
        &format!("python3 module {module}"),
        Command::new("python3").args(["-c", &format!("import {module}")]),
    )
}

pub fn run_python(script: &str, args: &[&str], stdin: Option<&str>) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/oracle")
        .join(script);
    let mut child = Command::new("python3")
        .arg(path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().expect("python output");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python printed JSON")
}

pub fn http_get_json(url: &str) -> Value {
    // A tiny blocking HTTP/1.0 GET, to avoid pulling an HTTP client crate in.
    use std::io::Read;
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .expect("path");
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let text = String::from_utf8_lossy(&buf);
    let (_, body) = text.split_once("\r\n\r\n").expect("http body");
    serde_json::from_str(body).expect("json body")
}

//! Shared helpers for the integration tests: build the app on a data folder
//! and call it without a socket, or start the `zoneatlas` binary on a
//! loopback port for real clients (GDAL, Python, Chromium) and speak HTTP to
//! it over a plain socket.
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

pub mod pg;

/// A test step for the libtest-mimic harnesses: `msg` when `cond` fails.
pub fn check(cond: bool, msg: impl FnOnce() -> String) -> Result<(), libtest_mimic::Failed> {
    if cond {
        Ok(())
    } else {
        Err(msg().into())
    }
}

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

/// The app over a data folder served read-only, as `main` does for
/// `--data DIR` (without the web page).
pub fn app_on(dir: &Path) -> axum::Router {
    let live =
        zoneatlas::live::Live::open(Box::new(zoneatlas::store::folder::FolderStore::new(dir)))
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    zoneatlas::app(Arc::new(live), zoneatlas::api::Options::default())
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

/// GET each uri and expect its status and a JSON error body
/// (`{code, description}`) whose description contains the needle.
pub async fn expect_rejections(app: &axum::Router, cases: &[(&str, u16, &str)]) {
    for &(uri, status, needle) in cases {
        let r = get(app, uri).await;
        assert_eq!(r.status.as_u16(), status, "{uri}");
        let v = r.json();
        assert!(v["code"].as_str().is_some(), "{uri}: {v}");
        let d = v["description"].as_str().unwrap_or_default();
        assert!(d.contains(needle), "{uri}: {d}");
    }
}

/// The sample copied to a temporary folder, with `edit` applied to the
/// text of each file by name.
pub fn sample_copy(edit: impl Fn(&str, String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(geodata()).unwrap().flatten() {
        if e.path().is_file() {
            let name = e.file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(e.path()).unwrap();
            std::fs::write(dir.path().join(&name), edit(&name, text)).unwrap();
        }
    }
    dir
}

/// The features of a GeoJSON file, read with serde_json only (an oracle
/// independent of the loader).
pub fn file_features(dir: &Path, layer: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(dir.join(format!("{layer}.geojson"))).expect("read");
    let v: Value = serde_json::from_str(&text).expect("json");
    v["features"].as_array().expect("features").clone()
}

/// The `zoneatlas` binary running as the README starts it (from the
/// repository root, the sample data and the web page, a store created from
/// `geodata/` on first start), on a free loopback port, with a store of its
/// own so no test sees another's edits (or the user's). Killed when dropped.
pub struct Server {
    pub child: std::process::Child,
    pub base: String,
    pub addr: String,
    /// Everything the server logged (stderr), collected in the background.
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
    /// The store file, in a folder removed when the server is dropped.
    pub store: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// `zoneatlas --addr 127.0.0.1:0 --store <fresh file>` plus `extra`.
    pub fn start(extra: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = dir.path().join("zoneatlas.gpkg");
        let mut s = Server::start_on(&store, extra);
        s._dir = Some(dir);
        s
    }

    /// The binary on a given store file (created if missing), so a test can
    /// restart a server on the same store.
    pub fn start_on(store: &Path, extra: &[&str]) -> Server {
        let mut args = vec!["--store", store.to_str().expect("a UTF-8 path")];
        args.extend_from_slice(extra);
        Server::spawn(&args, store)
    }

    /// `zoneatlas serve --data <dir>`: a data folder served read-only, as
    /// the README starts one (no store).
    pub fn start_folder(dir: &Path) -> Server {
        Server::spawn(
            &["serve", "--data", dir.to_str().expect("a UTF-8 path")],
            dir,
        )
    }

    fn spawn(args: &[&str], store: &Path) -> Server {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(args)
            .args(["--addr", "127.0.0.1:0"])
            // Benchmarks quiet the per-request lines (the readers would
            // spend their time parsing logs).
            .env(
                "RUST_LOG",
                std::env::var("ZONEATLAS_TEST_RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env_remove("ZONEATLAS_DATA")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the zoneatlas binary");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    if let Some(t) = tx.take() {
                        let _ = t.send(rest.split('/').next().unwrap_or("").to_owned());
                    }
                }
                let mut l = sink.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the server did not start: {}", log.lock().unwrap()));
        Server {
            child,
            base: format!("http://{addr}"),
            addr,
            log,
            store: store.to_path_buf(),
            _dir: None,
        }
    }

    /// Keep the store's folder past this server (to restart on it).
    pub fn take_dir(&mut self) -> Option<tempfile::TempDir> {
        self._dir.take()
    }

    /// Send SIGTERM (as a service manager does).
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer read off a socket.
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on its own connection (`Connection: close`), so the
/// tests need no HTTP client crate. `extra` is raw header lines.
pub fn http(method: &str, url: &str, extra: &[(&str, &str)], body: &[u8]) -> Raw {
    use std::io::Read;
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = match rest.split_once('/') {
        Some((h, p)) => (h, format!("/{p}")),
        None => (rest, "/".to_owned()),
    };
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !extra.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {host}\r\n"));
    }
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) and close before the whole body is sent.
    let _ = s.write_all(body);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    parse_response(&buf)
}

/// Parse a whole HTTP/1.1 response (chunked bodies included).
pub fn parse_response(buf: &[u8]) -> Raw {
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(buf)));
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = buf[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(end) = rest.windows(2).position(|w| w == b"\r\n") {
            let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..end]).trim(), 16)
                .unwrap_or(0);
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[end + 2..end + 2 + size]);
            rest = &rest[end + 2 + size + 2..];
        }
        body = out;
    }
    Raw {
        status,
        headers,
        body,
    }
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
    let r = http("GET", url, &[], b"");
    assert_eq!(r.status, 200, "{url}: {}", String::from_utf8_lossy(&r.body));
    r.json()
}

/// A new token of `role` in the store, via the CLI as a user would.
pub fn token(store: &Path, role: &str, name: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_zoneatlas"))
        .args(["token", "add", "--store"])
        .arg(store)
        .args(["--role", role, "--name", name])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines().last().unwrap().trim().to_owned()
}

/// SQLite's own check of the store file.
pub fn integrity_ok(store: &Path) {
    let conn = rusqlite::Connection::open(store).unwrap();
    let r: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(r, "ok", "{}", store.display());
}

/// One kept-alive HTTP/1.1 connection, as a real client (or a load
/// balancer) holds them: no handshake per request.
pub struct KeepAlive {
    reader: std::io::BufReader<std::net::TcpStream>,
    host: String,
}

impl KeepAlive {
    pub fn new(base: &str) -> KeepAlive {
        let host = base.trim_start_matches("http://").to_owned();
        let stream = std::net::TcpStream::connect(&host).expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        KeepAlive {
            reader: std::io::BufReader::new(stream),
            host,
        }
    }

    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> u16 {
        use std::io::{BufRead, Read, Write};
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.host,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let s = self.reader.get_mut();
        s.write_all(head.as_bytes()).expect("write");
        s.write_all(body).expect("write");
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status");
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0u8; length];
        self.reader.read_exact(&mut body).expect("body");
        status
    }
}

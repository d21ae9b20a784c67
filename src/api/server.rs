//! The connection loop: accepts TCP connections, serves HTTP/1.1 on each with
//! hyper, and bounds what a client can hold on to.
//!
//! `axum::serve` has no timeouts: a client that sends half a header, or
//! nothing, keeps its socket (and a file descriptor) forever, and a graceful
//! shutdown waits for it. Here every connection is bounded:
//!
//! - headers must arrive within `header_timeout` (hyper's header-read timer,
//!   which also runs while a kept-alive connection waits for its next
//!   request, so it is the idle timeout too);
//! - bodies are read within `body_timeout` by the `buffer_body` middleware;
//! - at most `max_connections` are served at once; beyond them, `RESERVE`
//!   more connections are taken on an operators' lane that answers the
//!   `operator_paths` (`/health`, `/ready`) and, to anything else, a 503
//!   with `Retry-After` and `Connection: close`; beyond those, clients wait
//!   in the kernel's accept queue. So a crowd of clients (thousands of
//!   event streams, silent sockets) never keeps an operator from seeing
//!   the server's health;
//! - a first request line longer than hyper will parse gets a JSON 414
//!   (hyper's own answer has no body);
//! - on shutdown, connections get `shutdown_grace` to finish, then the loop
//!   returns regardless.
//!
//! Each request carries its peer's address (`ConnectInfo`), for limits
//! kept per client.
//!
//! Must not: know about resources or the data; it serves any `Router`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// Time and count limits of the connection loop (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub max_connections: usize,
    pub shutdown_grace: Duration,
    /// Paths the operators' lane answers when every ordinary slot is taken.
    pub operator_paths: &'static [&'static str],
    /// The reverse proxy whose `X-Forwarded-*` headers are believed.
    pub trusted_proxy: Option<std::net::IpAddr>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            max_connections: 4096,
            shutdown_grace: Duration::from_secs(10),
            operator_paths: &[],
            trusted_proxy: None,
        }
    }
}

/// Connections the operators' lane takes beyond `max_connections`.
pub const RESERVE: usize = 64;

/// The longest request line hyper parses (its URI limit is 65,534 bytes);
/// a longer one is answered here.
const HYPER_MAX_LINE: usize = 65_534;

/// Which lane a connection was given.
/// Each holds its semaphore's permit for the connection's life.
enum Lane {
    Full {
        _permit: tokio::sync::OwnedSemaphorePermit,
    },
    Operators(tokio::sync::OwnedSemaphorePermit),
}

/// The JSON 503 the operators' lane gives every other path.
fn busy() -> axum::response::Response {
    let body = serde_json::json!({
        "code": "ServiceUnavailable",
        "description": "the server is at its connection limit; this connection is answered on the operators' lane (health and readiness only); retry shortly",
    });
    let mut resp = axum::response::Response::new(axum::body::Body::from(body.to_string()));
    *resp.status_mut() = axum::http::StatusCode::SERVICE_UNAVAILABLE;
    let h = resp.headers_mut();
    h.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    h.insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("2"),
    );
    h.insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    resp
}

/// Proxy headers a client could forge: believed only from the trusted proxy.
const FORWARDED: [&str; 4] = [
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-for",
    "forwarded",
];

/// The client's address: the peer's, or behind the trusted proxy the last
/// address it appended to `X-Forwarded-For`. From any other peer the
/// forwarding headers are removed, so links and per-client limits never
/// follow what a client claims.
fn forwarded<B>(
    req: &mut Request<B>,
    peer: std::net::SocketAddr,
    trusted: Option<std::net::IpAddr>,
) -> std::net::SocketAddr {
    if trusted == Some(peer.ip()) {
        let client = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|a| a.trim().parse::<std::net::IpAddr>().ok());
        return client.map_or(peer, |ip| std::net::SocketAddr::new(ip, 0));
    }
    for h in FORWARDED {
        req.headers_mut().remove(h);
    }
    peer
}

/// What the first bytes on a connection say.
enum FirstLine {
    /// A request line hyper can parse (or bytes it will refuse itself).
    Fine,
    /// A request line longer than hyper parses: answered here.
    TooLong,
    /// Nothing within the header timeout: closed.
    Silent,
}

/// Peek (nothing is consumed) at the first request line on `stream`: wait
/// for its first bytes within the header timeout, then for at most
/// `LINE_PEEKS` short waits for its end, so a slow client costs a few
/// peeks and hyper's own header timer does the rest.
async fn first_line(stream: &tokio::net::TcpStream, within: Duration) -> FirstLine {
    const LINE_PEEKS: usize = 10;
    let mut buf = vec![0u8; HYPER_MAX_LINE + 2];
    let mut n = match tokio::time::timeout(within, stream.peek(&mut buf)).await {
        Ok(Ok(n)) => n,
        Ok(Err(_)) => return FirstLine::Fine,
        Err(_) => return FirstLine::Silent,
    };
    for _ in 0..LINE_PEEKS {
        if n == 0 || buf[..n].windows(2).any(|w| w == b"\r\n") {
            return FirstLine::Fine;
        }
        if n > HYPER_MAX_LINE {
            return FirstLine::TooLong;
        }
        // More of the line is on its way.
        tokio::time::sleep(Duration::from_millis(20)).await;
        n = match stream.peek(&mut buf).await {
            Ok(n) => n,
            Err(_) => return FirstLine::Fine,
        };
    }
    match n > HYPER_MAX_LINE {
        true => FirstLine::TooLong,
        false => FirstLine::Fine,
    }
}

/// Answer an overlong first request line with a JSON 414 and close.
async fn refuse_long_line(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let body = serde_json::json!({
        "code": "URITooLong",
        "description": format!("the request line is over {HYPER_MAX_LINE} bytes; URIs of at most 8,192 bytes are accepted"),
    })
    .to_string();
    let head = format!(
        "HTTP/1.1 414 URI Too Long\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Serve `app` on `listener` until `shutdown` completes, then give open
/// connections `shutdown_grace` to finish. Returns whether every connection
/// finished within the grace period.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()>,
) -> bool {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let reserve = Arc::new(Semaphore::new(RESERVE));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut operators = builder.clone();
    operators.keep_alive(false);
    tokio::pin!(shutdown);
    loop {
        // An ordinary slot when there is one, else the operators' lane.
        let lane = tokio::select! {
            biased;
            _ = &mut shutdown => break,
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => Lane::Full { _permit: p },
                Err(_) => break,
            },
            p = Arc::clone(&reserve).acquire_owned() => match p {
                Ok(p) => Lane::Operators(p),
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // EMFILE and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // A slot may have freed while this one waited on the lane.
        let lane = match lane {
            Lane::Operators(p) => match Arc::clone(&slots).try_acquire_owned() {
                Ok(full) => {
                    drop(p);
                    Lane::Full { _permit: full }
                }
                Err(_) => Lane::Operators(p),
            },
            full => full,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let only = match lane {
            Lane::Full { .. } => None,
            Lane::Operators(_) => Some(limits.operator_paths),
        };
        let trusted = limits.trusted_proxy;
        let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            let app = app.clone();
            let client = forwarded(&mut req, peer, trusted);
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(client));
            async move {
                if let Some(paths) = only {
                    if !paths.contains(&req.uri().path()) {
                        return Ok::<_, Infallible>(busy());
                    }
                }
                let resp = app.oneshot(req.map(axum::body::Body::new)).await;
                Ok::<_, Infallible>(match resp {
                    Ok(r) => r,
                    Err(never) => match never {},
                })
            }
        });
        let header_timeout = limits.header_timeout;
        let builder = match only {
            None => builder.clone(),
            Some(_) => operators.clone(),
        };
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _lane = lane;
            match first_line(&stream, header_timeout).await {
                FirstLine::Fine => {}
                FirstLine::TooLong => return refuse_long_line(stream).await,
                FirstLine::Silent => return,
            }
            let conn = watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!(
        grace_ms = limits.shutdown_grace.as_millis() as u64,
        "shutting down: no new connections; waiting for open ones"
    );
    tokio::select! {
        _ = graceful.shutdown() => true,
        _ = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("connections still open after the grace period; closing them");
            false
        }
    }
}

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
//! - at most `max_connections` are open at once (further clients wait in the
//!   kernel's accept queue);
//! - on shutdown, connections get `shutdown_grace` to finish, then the loop
//!   returns regardless.
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
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            max_connections: 4096,
            shutdown_grace: Duration::from_secs(10),
        }
    }
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
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
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
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let app = app.clone();
            async move {
                let resp = app.oneshot(req.map(axum::body::Body::new)).await;
                Ok::<_, Infallible>(match resp {
                    Ok(r) => r,
                    Err(never) => match never {},
                })
            }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            drop(permit);
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

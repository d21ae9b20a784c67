//! Connections to PostgreSQL that reconnect: every store operation runs
//! through `Conn::with`, which connects again after a failure; the
//! blocking client runs off the async workers.

use std::time::Duration;

use postgres::{Client, NoTls};

use super::shown;
use crate::store::StoreError;

/// Run blocking database work. The `postgres` client drives its own small
/// runtime, which tokio forbids on an async worker thread; some store calls
/// (token checks) come from one, so they leave the worker first.
pub(super) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Closing a client blocks too (it says goodbye to the server), and a
/// server shutting down drops its store inside the runtime.
pub(super) fn close(client: &mut Option<Client>) {
    if let Some(c) = client.take() {
        blocking(move || drop(c));
    }
}

/// A connection, failing within a few seconds when the server is away.
pub(super) fn connect(url: &str, role: &str) -> Result<Client, StoreError> {
    blocking(|| connect_now(url, role))
}

pub(super) fn connect_now(url: &str, role: &str) -> Result<Client, StoreError> {
    let mut cfg: postgres::Config = url
        .parse()
        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", shown(url))))?;
    cfg.connect_timeout(Duration::from_secs(3))
        .keepalives_idle(Duration::from_secs(10))
        .application_name(&format!("zoneatlas-{role}"));
    cfg.connect(NoTls)
        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", shown(url))))
}

/// A database error as a store error (the write, if any, was not made).
pub(super) fn failed(url: &str) -> impl Fn(postgres::Error) -> StoreError + '_ {
    move |e| StoreError::Unavailable(format!("{}: {}", shown(url), describe_error(&e)))
}

pub(super) fn describe_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// One connection, opened on first use and again after a break; all its
/// work (closing too) done off the async workers.
pub(super) struct Conn {
    pub(super) url: String,
    /// `application_name` suffix, to tell the connections apart.
    pub(super) role: &'static str,
    /// `None` until connected, and after the connection broke.
    pub(super) client: Option<Client>,
}

impl Conn {
    pub(super) fn new(url: &str, role: &'static str) -> Conn {
        Conn {
            url: url.to_owned(),
            role,
            client: None,
        }
    }

    /// Run `f` on the connection, connecting first if needed; a connection
    /// found broken is dropped so the next call reconnects.
    pub(super) fn with<T>(
        &mut self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        blocking(|| {
            if self.client.as_ref().is_none_or(|c| c.is_closed()) {
                self.client = None;
                self.client = Some(connect(&self.url, self.role)?);
            }
            let client = self.client.as_mut().expect("connected above");
            let out = f(client);
            if client.is_closed() {
                self.client = None;
            }
            out.map_err(failed(&self.url))
        })
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        close(&mut self.client);
    }
}

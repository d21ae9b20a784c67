//! Waiting for other writers' commits: LISTEN on its own connection (on its
//! own thread, never an async worker).

use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;

use super::conn::{failed, Conn};
use super::CHANNEL;
use crate::store::{Follower, StoreError};

/// LISTENs on its own connection (on its own thread, never an async
/// worker).
pub(super) struct PgFollower(pub(super) Conn);

impl Follower for PgFollower {
    fn wait(&mut self, timeout: Duration) -> Result<bool, StoreError> {
        let conn = &mut self.0;
        let Some(client) = conn.client.as_mut().filter(|c| !c.is_closed()) else {
            conn.client = None;
            conn.with(|c| c.batch_execute(&format!("LISTEN {CHANNEL}")))?;
            // Whatever was announced while we were away is in the log.
            return Ok(true);
        };
        let got = client.notifications().timeout_iter(timeout).next();
        match got {
            Ok(Some(_)) => {
                // One catch-up covers every announcement already here.
                while let Ok(Some(_)) = client.notifications().iter().next() {}
                Ok(true)
            }
            Ok(None) => match client.is_valid(Duration::from_secs(2)) {
                Ok(()) => Ok(false),
                Err(e) => {
                    conn.client = None;
                    Err(failed(&conn.url)(e))
                }
            },
            Err(e) => {
                conn.client = None;
                Err(failed(&conn.url)(e))
            }
        }
    }
}

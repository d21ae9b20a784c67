//! Who may hold an event stream (`/api/events`): at most `MAX_STREAMS` in
//! all and `MAX_STREAMS_PER_CLIENT` per client address, well below the
//! connection limit, so streams that never end can never take every
//! connection. Beyond either cap a client gets a 503 with `Retry-After` and
//! its connection closed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use super::ApiError;

/// Event streams open at once, in all.
pub const MAX_STREAMS: usize = 1024;

/// Event streams open at once from one client address.
pub const MAX_STREAMS_PER_CLIENT: usize = 32;

/// The streams open now: in all, and per client address (`None`: a
/// request without one, as in-process tests send).
#[derive(Default)]
pub struct Streams {
    open: Mutex<(usize, HashMap<Option<IpAddr>, usize>)>,
}

/// One admitted stream; dropping it (the stream ended, the client left)
/// frees its place.
pub struct Ticket {
    streams: Arc<Streams>,
    peer: Option<IpAddr>,
}

impl Streams {
    /// A place for a stream from `peer`, or the 503 saying which cap is full.
    pub fn admit(self: &Arc<Self>, peer: Option<IpAddr>) -> Result<Ticket, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let (total, by_peer) = &mut *open;
        let mine = by_peer.get(&peer).copied().unwrap_or(0);
        if *total >= MAX_STREAMS {
            return Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "TooManyStreams",
                format!("{MAX_STREAMS} event streams are open, the most this server holds; retry shortly"),
            ));
        }
        if mine >= MAX_STREAMS_PER_CLIENT {
            return Err(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "TooManyStreams",
                format!("this client address holds {mine} event streams, the most one may; close one first"),
            ));
        }
        *total += 1;
        *by_peer.entry(peer).or_default() += 1;
        Ok(Ticket {
            streams: Arc::clone(self),
            peer,
        })
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.open.lock().map_or(0, |o| o.0)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|p| p.into_inner());
        let (total, by_peer) = &mut *open;
        *total = total.saturating_sub(1);
        if let Some(n) = by_peer.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                by_peer.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caps_hold_and_a_dropped_ticket_frees_its_place() {
        let s = Arc::new(Streams::default());
        let a: Option<IpAddr> = Some([10, 0, 0, 1].into());
        let held: Vec<Ticket> = (0..MAX_STREAMS_PER_CLIENT)
            .map(|_| s.admit(a).expect("within the cap"))
            .collect();
        assert!(s.admit(a).is_err(), "one past the per-client cap");
        assert!(
            s.admit(Some([10, 0, 0, 2].into())).is_ok(),
            "another client"
        );
        drop(held);
        assert_eq!(s.open(), 0);
        assert!(s.admit(a).is_ok());
        // The total cap, over many addresses.
        let many: Vec<Ticket> = (0..MAX_STREAMS)
            .map(|i| s.admit(Some([10, 1, (i / 250) as u8, (i % 250) as u8].into())))
            .filter_map(Result::ok)
            .collect();
        assert_eq!(s.open(), MAX_STREAMS);
        assert!(s.admit(Some([192, 168, 0, 1].into())).is_err());
        drop(many);
    }
}

//! Failed bearer tokens per client address: a token bucket of
//! `FAILURES_PER_SECOND` (bursts of `BURST`); a client past it gets 429
//! with `Retry-After` for every token check, right or wrong, until the
//! bucket refills, so guessing tokens is slow whatever the client does.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

use super::ApiError;

/// Failed token checks a client address may make per second, sustained.
pub const FAILURES_PER_SECOND: f64 = 10.0;

/// Failed token checks a client address may make at once.
pub const BURST: f64 = 20.0;

/// Addresses remembered at most; past it, the full buckets are forgotten.
const MAX_ADDRESSES: usize = 10_000;

/// Per address: failures still allowed, and when that was counted.
#[derive(Default)]
pub struct Throttle {
    buckets: Mutex<HashMap<Option<IpAddr>, (f64, Instant)>>,
}

impl Throttle {
    fn level(&self, peer: Option<IpAddr>, spend: f64) -> f64 {
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if b.len() >= MAX_ADDRESSES {
            b.retain(|_, (left, at)| {
                *left + now.duration_since(*at).as_secs_f64() * FAILURES_PER_SECOND < BURST
            });
        }
        let (left, at) = b.entry(peer).or_insert((BURST, now));
        *left = (*left + now.duration_since(*at).as_secs_f64() * FAILURES_PER_SECOND).min(BURST);
        *at = now;
        *left -= spend;
        *left
    }

    /// Before checking a token: 429 while `peer` has no failures left.
    pub fn check(&self, peer: Option<IpAddr>) -> Result<(), ApiError> {
        if self.level(peer, 0.0) < 1.0 {
            return Err(ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                format!(
                    "too many wrong tokens from this address (more than {FAILURES_PER_SECOND} a second); wait a second"
                ),
            ));
        }
        Ok(())
    }

    /// After a wrong token.
    pub fn failed(&self, peer: Option<IpAddr>) {
        self.level(peer, 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_wrong_tokens_is_throttled_and_others_are_not() {
        let t = Throttle::default();
        let a = Some([10, 0, 0, 1].into());
        let mut allowed = 0;
        for _ in 0..100 {
            if t.check(a).is_ok() {
                allowed += 1;
                t.failed(a);
            }
        }
        // The burst (and what refilled meanwhile, microseconds' worth).
        assert_eq!(allowed, BURST as usize);
        assert!(t.check(Some([10, 0, 0, 2].into())).is_ok());
        std::thread::sleep(std::time::Duration::from_millis(250));
        assert!(t.check(a).is_ok(), "refilled after a quarter second");
    }
}

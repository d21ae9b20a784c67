//! Cooperative deadlines for CPU-heavy computations (parcels, sites).
//!
//! A computation that a client can make expensive checks its `Deadline`
//! between steps and gives up with `Exceeded` once it has run too long, so
//! one request cannot hold a worker for minutes. The zone computation at
//! start-up runs with `Deadline::none()`.
//!
//! Must not: sleep, spawn or know about HTTP.

use std::time::{Duration, Instant};

/// When a computation must stop.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    until: Option<Instant>,
    allowed: Duration,
}

/// A computation ran past its deadline and was abandoned.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the computation took longer than its deadline of {:.1} s", allowed.as_secs_f64())]
pub struct Exceeded {
    pub allowed: Duration,
}

impl Deadline {
    /// `allowed` from now.
    pub fn after(allowed: Duration) -> Self {
        Deadline {
            until: Instant::now().checked_add(allowed),
            allowed,
        }
    }

    /// No deadline (background work).
    pub fn none() -> Self {
        Deadline {
            until: None,
            allowed: Duration::MAX,
        }
    }

    /// What this deadline allows in all.
    pub fn allowed(&self) -> Duration {
        self.allowed
    }

    /// `Err(Exceeded)` once the deadline has passed.
    pub fn check(&self) -> Result<(), Exceeded> {
        match self.until {
            Some(t) if Instant::now() > t => Err(Exceeded {
                allowed: self.allowed,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_past_deadline_is_exceeded_and_none_never_is() {
        let d = Deadline::after(Duration::from_millis(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(d.check().is_err());
        assert!(Deadline::none().check().is_ok());
        assert!(Deadline::after(Duration::from_secs(60)).check().is_ok());
    }
}

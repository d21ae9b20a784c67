//! Runs CPU-heavy answers (parcels, sites) on the blocking thread pool,
//! never on the async workers, at most one per core at a time, each under a
//! deadline. While they run, cheap requests (`/health`, items, points) keep
//! answering on the async workers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::ApiError;
use crate::budget::{Deadline, Exceeded};

/// The bounded pool for CPU-heavy requests.
#[derive(Clone)]
pub struct Compute {
    slots: Arc<Semaphore>,
    deadline: Duration,
}

impl Compute {
    /// One slot per core; each computation gets `deadline`, which also bounds
    /// the wait for a slot.
    pub fn new(deadline: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Compute {
            slots: Arc::new(Semaphore::new(cores)),
            deadline,
        }
    }

    /// The deadline each computation gets.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Run `work` off the async workers. 503 when no slot frees up within
    /// the deadline or the work itself runs past it.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(Deadline) -> Result<T, Exceeded> + Send + 'static,
    ) -> Result<T, ApiError> {
        let started = Instant::now();
        let permit = tokio::time::timeout(self.deadline, Arc::clone(&self.slots).acquire_owned())
            .await
            .map_err(|_| {
                ApiError::not_ready(format!(
                    "the server is busy with other coverage computations (none finished within {:.0} s); retry",
                    self.deadline.as_secs_f64()
                ))
            })?
            .map_err(ApiError::internal)?;
        // The wait for a slot counts against the deadline.
        let left = self.deadline.saturating_sub(started.elapsed());
        let deadline = Deadline::after(left);
        let outcome = tokio::task::spawn_blocking(move || {
            let r = work(deadline);
            drop(permit);
            r
        })
        .await
        .map_err(|e| ApiError::internal(format!("a computation failed: {e}")))?;
        outcome.map_err(|e| {
            ApiError::not_ready(format!(
                "{e}; send a smaller or simpler area, or ask the operator to raise --compute-deadline"
            ))
        })
    }
}

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
    /// When each computation running now started (by a ticket number).
    running: Arc<std::sync::Mutex<std::collections::HashMap<u64, Instant>>>,
    tickets: Arc<std::sync::atomic::AtomicU64>,
}

/// Computations running now, and how many of them are past their deadline
/// (their deadline checks are cooperative: one that stopped checking runs
/// on, holding a core; `/health` says so).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Running {
    pub running: usize,
    pub overdue: usize,
}

/// Takes a computation off the running list when it ends, however it ends.
struct Registered {
    running: Arc<std::sync::Mutex<std::collections::HashMap<u64, Instant>>>,
    ticket: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut r) = self.running.lock() {
            r.remove(&self.ticket);
        }
    }
}

impl Compute {
    /// One slot per core; each computation gets `deadline`, which also bounds
    /// the wait for a slot.
    pub fn new(deadline: Duration) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Compute {
            slots: Arc::new(Semaphore::new(cores)),
            deadline,
            running: Arc::default(),
            tickets: Arc::default(),
        }
    }

    /// What runs now (for `/health`).
    pub fn running(&self) -> Running {
        let now = Instant::now();
        let r = self.running.lock().map(|r| r.clone()).unwrap_or_default();
        Running {
            running: r.len(),
            overdue: r
                .values()
                .filter(|&&t| now.duration_since(t) > self.deadline + Duration::from_secs(1))
                .count(),
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
        let ticket = self
            .tickets
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut r) = self.running.lock() {
            r.insert(ticket, started);
        }
        let registered = Registered {
            running: Arc::clone(&self.running),
            ticket,
        };
        let outcome = tokio::task::spawn_blocking(move || {
            let r = work(deadline);
            drop(permit);
            drop(registered);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_computation_past_its_deadline_is_counted_overdue_until_it_ends() {
        let c = Compute::new(Duration::from_millis(50));
        // Work that never checks its deadline, as a bug would.
        let job = {
            let c = c.clone();
            tokio::spawn(async move {
                c.run(|_deadline| {
                    std::thread::sleep(Duration::from_millis(1400));
                    Ok(())
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        let early = c.running();
        assert_eq!((early.running, early.overdue), (1, 0));
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let late = c.running();
        assert_eq!((late.running, late.overdue), (1, 1));
        assert!(job.await.unwrap().is_ok());
        let after = c.running();
        assert_eq!((after.running, after.overdue), (0, 0));
    }
}

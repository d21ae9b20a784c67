//! Zone computations as they run and finish, for whoever watches (the
//! server's `/metrics` and `/health`): coverage keeps no counters and
//! measures no memory itself.

use std::sync::OnceLock;

/// One zone computation (a service in a scenario) that finished.
#[derive(Debug, Clone)]
pub struct ZoneRun {
    pub service: &'static str,
    pub scenario: &'static str,
    pub seconds: f64,
    pub cells: usize,
}

/// How far a running zone computation got: cells done of its cells.
#[derive(Debug, Clone, Copy)]
pub struct ZoneProgress {
    pub service: &'static str,
    pub scenario: &'static str,
    pub done: usize,
    pub cells: usize,
}

static WATCHER: OnceLock<fn(&ZoneRun)> = OnceLock::new();
static PROGRESS: OnceLock<fn(&ZoneProgress)> = OnceLock::new();

/// Call `f` with every running computation's progress from now on (at its
/// start, then at most a few times a second).
pub fn watch_progress(f: fn(&ZoneProgress)) {
    let _ = PROGRESS.set(f);
}

/// A running computation got this far.
pub(super) fn progress(p: ZoneProgress) {
    if let Some(f) = PROGRESS.get() {
        f(&p);
    }
}

/// Call `f` with every zone computation from now on (the first caller's
/// `f` stays: one process, one registry).
pub fn watch(f: fn(&ZoneRun)) {
    let _ = WATCHER.set(f);
}

/// A computation finished.
pub(super) fn finished(run: ZoneRun) {
    if let Some(f) = WATCHER.get() {
        f(&run);
    }
}

//! Zone computations as they finish, for whoever watches (the server's
//! `/metrics`): coverage keeps no counters and measures no memory itself.

use std::sync::OnceLock;

/// One zone computation (a service in a scenario) that finished.
#[derive(Debug, Clone)]
pub struct ZoneRun {
    pub service: &'static str,
    pub scenario: &'static str,
    pub seconds: f64,
    pub cells: usize,
}

static WATCHER: OnceLock<fn(&ZoneRun)> = OnceLock::new();

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

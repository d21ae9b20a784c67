//! Counters for operators, in the Prometheus text format (0.0.4): requests
//! and their latency per route and status, requests in flight, the zone
//! computations (time, cells, memory; cells done of those running), the
//! process's memory.
//!
//! Recording is lock-free on the hot path: a series is found under a read
//! lock and counted with atomics; only a route and status seen for the
//! first time takes the write lock. Routes are the router's patterns
//! (`/api/collections/{collectionId}/items`), never raw paths, so the
//! number of series stays bounded whatever clients send.
//!
//! Must not: know about HTTP frameworks (the API passes plain values).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

/// Latency bucket bounds, seconds.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

#[derive(Default)]
struct Series {
    /// Per bucket (not cumulative; summed when written), then +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_ns: AtomicU64,
}

/// One zone computation (a service in a scenario) and the process's peak
/// resident memory when it finished (bytes).
pub type ZoneRun = (crate::coverage::runs::ZoneRun, Option<u64>);

/// A zone computation's service and scenario.
type ZoneKey = (&'static str, &'static str);

/// Route pattern → its (method, status, series).
type Routes = BTreeMap<String, Vec<(String, u16, Arc<Series>)>>;

/// The process-wide registry.
#[derive(Default)]
pub struct Metrics {
    /// Route pattern → (method, status, series).
    series: RwLock<Routes>,
    in_flight: AtomicI64,
    zone: Mutex<BTreeMap<ZoneKey, ZoneRun>>,
    /// Zone computations running now: (service, scenario) → cells done, of.
    running: Mutex<BTreeMap<ZoneKey, (usize, usize)>>,
}

/// The registry (one per process: the server has one router). The first
/// call also starts watching zone computations.
pub fn global() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        crate::coverage::runs::watch(zone_finished);
        crate::coverage::runs::watch_progress(zone_progress);
        Metrics::default()
    })
}

/// A zone computation finished: record it with the peak memory now.
fn zone_finished(run: &crate::coverage::runs::ZoneRun) {
    let peak = memory().peak;
    tracing::debug!(
        service = run.service,
        scenario = run.scenario,
        peak_rss_mb = peak.map(|b| b / (1 << 20)),
        "zone computation recorded"
    );
    global().zone_computed((run.clone(), peak));
}

/// A zone computation got this far.
fn zone_progress(p: &crate::coverage::runs::ZoneProgress) {
    let mut r = global().running.lock().unwrap_or_else(|e| e.into_inner());
    r.insert((p.service, p.scenario), (p.done, p.cells));
}

/// Counts a request in flight until dropped.
pub struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// Count one answered request.
    pub fn record(&self, route: &str, method: &str, status: u16, took: Duration) {
        let find = |map: &Routes| {
            map.get(route).and_then(|v| {
                v.iter()
                    .find(|(m, st, _)| m == method && *st == status)
                    .map(|(_, _, s)| Arc::clone(s))
            })
        };
        let found = find(&self.series.read().unwrap_or_else(|p| p.into_inner()));
        let series = match found {
            Some(s) => s,
            None => {
                let mut map = self.series.write().unwrap_or_else(|p| p.into_inner());
                match find(&map) {
                    Some(s) => s,
                    None => {
                        let s = Arc::new(Series::default());
                        map.entry(route.to_owned()).or_default().push((
                            method.to_owned(),
                            status,
                            Arc::clone(&s),
                        ));
                        s
                    }
                }
            }
        };
        let secs = took.as_secs_f64();
        let at = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        series.buckets[at].fetch_add(1, Ordering::Relaxed);
        series
            .sum_ns
            .fetch_add(took.as_nanos() as u64, Ordering::Relaxed);
    }

    /// Remember a zone computation (the latest per service and scenario).
    pub fn zone_computed(&self, run: ZoneRun) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&(run.0.service, run.0.scenario));
        let mut z = self.zone.lock().unwrap_or_else(|p| p.into_inner());
        z.insert((run.0.service, run.0.scenario), run);
    }

    /// Zone computations running now: service, scenario, cells done, cells.
    pub fn zone_running(&self) -> Vec<(&'static str, &'static str, usize, usize)> {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(&(s, sc), &(d, n))| (s, sc, d, n))
            .collect()
    }

    /// The exposition text; `revision` is the live snapshot's.
    pub fn render(&self, revision: u64) -> String {
        let mut out = String::new();
        let series = self.series.read().unwrap_or_else(|p| p.into_inner());
        out.push_str("# HELP zoneatlas_http_requests_total Requests answered, by route pattern, method and status.\n# TYPE zoneatlas_http_requests_total counter\n");
        type Row<'a> = (&'a str, &'a str, u16, [u64; BUCKETS.len() + 1], u64);
        let counts: Vec<Row> = series
            .iter()
            .flat_map(|(route, v)| {
                v.iter().map(move |(method, status, s)| {
                    let b = std::array::from_fn(|i| s.buckets[i].load(Ordering::Relaxed));
                    (
                        route.as_str(),
                        method.as_str(),
                        *status,
                        b,
                        s.sum_ns.load(Ordering::Relaxed),
                    )
                })
            })
            .collect();
        for (route, method, status, b, _) in &counts {
            let n: u64 = b.iter().sum();
            let _ = writeln!(
                out,
                "zoneatlas_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        out.push_str("# HELP zoneatlas_http_request_duration_seconds Time from request to response head, by route pattern, method and status.\n# TYPE zoneatlas_http_request_duration_seconds histogram\n");
        for (route, method, status, b, sum_ns) in &counts {
            let labels = format!(
                "route=\"{}\",method=\"{method}\",status=\"{status}\"",
                escape(route)
            );
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().enumerate() {
                cumulative += b[i];
                let _ = writeln!(
                    out,
                    "zoneatlas_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            cumulative += b[BUCKETS.len()];
            let _ = writeln!(
                out,
                "zoneatlas_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {cumulative}"
            );
            let _ = writeln!(
                out,
                "zoneatlas_http_request_duration_seconds_sum{{{labels}}} {}",
                *sum_ns as f64 / 1e9
            );
            let _ = writeln!(
                out,
                "zoneatlas_http_request_duration_seconds_count{{{labels}}} {cumulative}"
            );
        }
        drop(series);
        let _ = write!(
            out,
            "# HELP zoneatlas_http_requests_in_flight Requests being answered now.\n# TYPE zoneatlas_http_requests_in_flight gauge\nzoneatlas_http_requests_in_flight {}\n",
            self.in_flight.load(Ordering::Relaxed)
        );
        let _ = write!(
            out,
            "# HELP zoneatlas_snapshot_revision The revision of the data the server answers from.\n# TYPE zoneatlas_snapshot_revision gauge\nzoneatlas_snapshot_revision {revision}\n"
        );
        let zone = self.zone.lock().unwrap_or_else(|p| p.into_inner());
        type Gauge = fn(&ZoneRun) -> Option<f64>;
        let gauges: [(&str, &str, Gauge); 3] = [
            (
                "zoneatlas_zone_computation_seconds",
                "How long the latest zone coverage computation took, per service and scenario.",
                |z| Some(z.0.seconds),
            ),
            (
                "zoneatlas_zone_computation_cells",
                "Cells the zone was cut into for it.",
                |z| Some(z.0.cells as f64),
            ),
            (
                "zoneatlas_zone_computation_peak_resident_memory_bytes",
                "The process's peak resident memory when it finished.",
                |z| z.1.map(|b| b as f64),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n");
            for z in zone.values() {
                if let Some(v) = value(z) {
                    let _ = writeln!(
                        out,
                        "{name}{{service=\"{}\",scenario=\"{}\"}} {v}",
                        z.0.service, z.0.scenario
                    );
                }
            }
        }
        drop(zone);
        let running = self.zone_running();
        for (name, help, pick) in [
            (
                "zoneatlas_zone_running_cells_done",
                "Cells done of a zone computation running now, per service and scenario.",
                2,
            ),
            (
                "zoneatlas_zone_running_cells",
                "Cells of a zone computation running now.",
                3,
            ),
        ] {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n");
            for r in &running {
                let v = if pick == 2 { r.2 } else { r.3 };
                let _ = writeln!(
                    out,
                    "{name}{{service=\"{}\",scenario=\"{}\"}} {v}",
                    r.0, r.1
                );
            }
        }
        let mem = memory();
        if let Some(rss) = mem.rss {
            let _ = write!(out, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}\n");
        }
        if let Some(peak) = mem.peak {
            let _ = write!(out, "# HELP zoneatlas_process_peak_resident_memory_bytes Peak resident memory since start, bytes.\n# TYPE zoneatlas_process_peak_resident_memory_bytes gauge\nzoneatlas_process_peak_resident_memory_bytes {peak}\n");
        }
        out
    }
}

/// Label values escape backslash, quote and newline.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The process's resident memory now and at its peak (Linux; `None`
/// elsewhere).
#[derive(Debug, Default, Clone, Copy)]
pub struct Memory {
    pub rss: Option<u64>,
    pub peak: Option<u64>,
}

pub fn memory() -> Memory {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return Memory::default();
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Memory {
        rss: field("VmRSS:"),
        peak: field("VmHWM:"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_is_cumulative_and_counts_match() {
        let m = Metrics::default();
        let route = "/api/collections/{collectionId}/items";
        for ms in [0.05, 0.3, 3.0, 3.0, 20_000.0] {
            m.record(route, "GET", 200, Duration::from_secs_f64(ms / 1000.0));
        }
        m.record(route, "GET", 404, Duration::from_millis(1));
        let text = m.render(7);
        let labels =
            "route=\"/api/collections/{collectionId}/items\",method=\"GET\",status=\"200\"";
        for (le, want) in [
            ("0.0001", 1),
            ("0.0005", 2),
            ("0.005", 4),
            ("10", 4),
            ("+Inf", 5),
        ] {
            let line = format!(
                "zoneatlas_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {want}\n"
            );
            assert!(text.contains(&line), "{line} in\n{text}");
        }
        assert!(text.contains(&format!("zoneatlas_http_requests_total{{{labels}}} 5\n")));
        assert!(text.contains("status=\"404\"} 1\n"));
        assert!(text.contains("zoneatlas_snapshot_revision 7\n"));
        assert!(text.contains("zoneatlas_http_requests_in_flight 0\n"));
        let sum: f64 = text
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "zoneatlas_http_request_duration_seconds_sum{{{labels}}} "
                ))
            })
            .and_then(|v| v.parse().ok())
            .expect("sum");
        assert!((sum - 20.00635).abs() < 1e-6, "{sum}");
    }

    #[test]
    fn zone_runs_are_gauges_per_service_and_scenario() {
        let m = Metrics::default();
        m.zone_computed((
            crate::coverage::runs::ZoneRun {
                service: "road",
                scenario: "planned",
                seconds: 1.5,
                cells: 12,
            },
            Some(1 << 30),
        ));
        let text = m.render(0);
        let labels = "{service=\"road\",scenario=\"planned\"}";
        for line in [
            format!("zoneatlas_zone_computation_seconds{labels} 1.5\n"),
            format!("zoneatlas_zone_computation_cells{labels} 12\n"),
            format!("zoneatlas_zone_computation_peak_resident_memory_bytes{labels} 1073741824\n"),
        ] {
            assert!(text.contains(&line), "{line} in\n{text}");
        }
    }

    #[test]
    fn in_flight_counts_until_dropped() {
        let m = Metrics::default();
        let a = m.start();
        let b = m.start();
        assert!(m
            .render(0)
            .contains("zoneatlas_http_requests_in_flight 2\n"));
        drop(a);
        drop(b);
        assert!(m
            .render(0)
            .contains("zoneatlas_http_requests_in_flight 0\n"));
    }
}

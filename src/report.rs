//! Terminal tables.

use std::fmt::Write;

use sim_core::Balance;

use crate::lab::RunResult;
use crate::scenario::Scenario;

fn ms(d: sim_core::SimDuration) -> String {
    format!("{:.3}", d.as_millis_f64())
}

/// The width of a text column: its widest entry (in characters), at least `min` (the header).
pub fn column_width<'a>(entries: impl IntoIterator<Item = &'a str>, min: usize) -> usize {
    entries
        .into_iter()
        .map(|e| e.chars().count())
        .max()
        .unwrap_or(0)
        .max(min)
}

/// Requests per second of simulated time.
pub fn rps(r: &RunResult) -> f64 {
    let s = r.sim_time.as_secs_f64();
    if s > 0.0 {
        r.counts.ok as f64 / s
    } else {
        0.0
    }
}

/// Balance of requests over the nodes they entered at.
pub fn ingress_balance(r: &RunResult) -> Balance {
    Balance::of(&r.node_ingress)
}

/// The per-variant summary table and the per-change table.
pub fn tables(scenario: &Scenario, results: &[RunResult]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — {} nodes, {} simulated, seed {}",
        scenario.name,
        scenario.nodes.count,
        scenario.duration,
        results.first().map_or(scenario.seed, |r| r.seed)
    );
    let w = column_width(results.iter().map(|r| r.variant.as_str()), 7);
    let _ = writeln!(
        out,
        "{:<w$} {:>9} {:>9} {:>8} {:>8} {:>8} {:>9} {:>7} {:>7} {:>7} {:>6} {:>6} {:>8} {:>6}",
        "variant",
        "requests",
        "rps",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "reset",
        "timeout",
        "refused",
        "moved",
        "broken",
        "max/mean",
        "jain"
    );
    for r in results {
        let b = ingress_balance(r);
        let moved = r.connections_moved();
        let broken = r.connections_broken();
        let _ = writeln!(
            out,
            "{:<w$} {:>9} {:>9.1} {:>8} {:>8} {:>8} {:>9} {:>7} {:>7} {:>7} {:>6} {:>6} {:>8.3} {:>6.4}",
            r.variant,
            r.counts.started,
            rps(r),
            ms(r.latency.quantile(0.50)),
            ms(r.latency.quantile(0.90)),
            ms(r.latency.quantile(0.99)),
            ms(r.latency.quantile(0.999)),
            r.counts.reset,
            r.counts.timeout,
            r.counts.refused,
            moved,
            broken,
            b.max_over_mean,
            b.jain
        );
    }
    if results.iter().any(|r| r.failover().is_some()) {
        let _ = writeln!(
            out,
            "\nfailover as ping -i sees it: the longest gap between two answered probes (+: still down at the end)"
        );
        let _ = writeln!(
            out,
            "{:<w$} {:>12} {:>10} {:>12}",
            "variant", "failover s", "from t s", "lost probes"
        );
        for r in results {
            if let Some((gap, at)) = r.failover() {
                let open = if r.failover_open_at_end() { "+" } else { " " };
                let _ = writeln!(
                    out,
                    "{:<w$} {:>11.3}{open} {:>10.3} {:>12}",
                    r.variant,
                    gap.as_secs_f64(),
                    at.as_secs_f64(),
                    r.lost_probes().unwrap_or(0)
                );
            }
        }
    }
    if results.iter().any(|r| !r.changes.is_empty()) {
        let _ = writeln!(out, "\nroute changes: connections moved and broken by each");
        let cw = column_width(
            results
                .iter()
                .flat_map(|r| r.changes.iter().map(|c| c.cause.as_str())),
            6,
        );
        let _ = writeln!(
            out,
            "{:<w$} {:>8} {:<cw$} {:>9} {:>6} {:>6} {:>8} {:>6} {:>7}",
            "variant", "t s", "change", "group", "live", "moved", "moved %", "reset", "timeout"
        );
        for r in results {
            for c in &r.changes {
                let pct = if c.live > 0 {
                    100.0 * c.moved as f64 / c.live as f64
                } else {
                    0.0
                };
                let _ = writeln!(
                    out,
                    "{:<w$} {:>8.3} {:<cw$} {:>9} {:>6} {:>6} {:>8.1} {:>6} {:>7}",
                    r.variant,
                    c.time.as_secs_f64(),
                    c.cause,
                    format!("{} -> {}", c.group_before, c.group_after),
                    c.live,
                    c.moved,
                    pct,
                    c.broken_reset,
                    c.broken_timeout
                );
            }
        }
    }
    out
}

/// The line every run ends with: simulated time, events, requests, wall time, rates and the
/// process's peak memory. `noun` names what `results` are (`variant`, `run`).
pub fn closing_line(
    results: &[&RunResult],
    noun: &str,
    wall_secs: f64,
    peak_rss_mib: Option<f64>,
) -> String {
    let mut totals = RunTotals::default();
    for r in results {
        totals.add(r);
    }
    closing_line_of(totals, noun, wall_secs, peak_rss_mib)
}

/// What a closing line adds up, kept as runs finish (a sweep does not keep its runs).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RunTotals {
    /// Runs.
    pub runs: usize,
    /// Simulated seconds.
    pub sim_s: f64,
    /// Events handled.
    pub events: u64,
    /// Requests started.
    pub requests: u64,
}

impl RunTotals {
    /// Count one more run.
    pub fn add(&mut self, r: &RunResult) {
        self.runs += 1;
        self.sim_s += r.sim_time.as_secs_f64();
        self.events += r.events;
        self.requests += r.counts.started;
    }
}

/// [`closing_line`] from totals.
pub fn closing_line_of(
    t: RunTotals,
    noun: &str,
    wall_secs: f64,
    peak_rss_mib: Option<f64>,
) -> String {
    let RunTotals {
        runs,
        sim_s,
        events,
        requests,
    } = t;
    let rss = peak_rss_mib.map_or_else(String::new, |m| format!(", peak RSS {m:.1} MiB"));
    format!(
        "simulated {:.3} s ({} {noun}{}), {} events, {} requests in {:.3} s wall: {:.2} M events/s, {:.2} M requests/s{}",
        sim_s,
        runs,
        if runs == 1 { "" } else { "s" },
        events,
        requests,
        wall_secs,
        events as f64 / wall_secs / 1e6,
        requests as f64 / wall_secs / 1e6,
        rss
    )
}

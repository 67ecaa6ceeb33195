//! Terminal tables.

use std::fmt::Write;

use sim_core::Balance;

use crate::lab::{ArpMove, RunResult};
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

/// The per-variant tables: requests, probes and failover, route changes.
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
    requests_table(&mut out, results, w);
    if scenario.clients.iter().any(|c| c.retry.is_some()) {
        retry_table(&mut out, results, w);
    }
    probes_table(&mut out, results, w);
    changes_table(&mut out, results, w);
    if results.iter().any(|r| r.multi_service) {
        services_table(&mut out, results, w);
        service_nodes_table(&mut out, results, w);
    }
    out.push_str(&crate::dns::table(results));
    out.push_str(&crate::ingress::table(results));
    out.push_str(&crate::mitigations::table(scenario, results));
    out
}

/// Client retry: what users saw against what the wire carried, and the load retries added.
fn retry_table(out: &mut String, results: &[RunResult], w: usize) {
    let _ = writeln!(
        out,
        "\nclient retry: sent = first tries + retries; failed = retried + failed for users"
    );
    let _ = writeln!(
        out,
        "{:<w$} {:>11} {:>8} {:>11} {:>8} {:>8} {:>10} {:>14}",
        "variant",
        "first tries",
        "retries",
        "extra load",
        "failed",
        "retried",
        "user fails",
        "budget refused"
    );
    for r in results {
        let c = &r.counts;
        let first = c.started - c.retries;
        let extra = if first > 0 {
            100.0 * c.retries as f64 / first as f64
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "{:<w$} {:>11} {:>8} {:>10.2}% {:>8} {:>8} {:>10} {:>14}",
            r.variant,
            first,
            c.retries,
            extra,
            c.failed(),
            c.retried,
            c.user_failed(),
            c.retries_refused
        );
    }
}

/// Rows the per-service and per-node tables show; the CSVs have them all.
const TOP: usize = 20;

/// Per service (scenarios with `services`): the 20 with the most broken connections and
/// failed requests, then the totals.
fn services_table(out: &mut String, results: &[RunResult], w: usize) {
    let _ = writeln!(
        out,
        "\nservices: the {TOP} with the most broken connections and failed requests per variant (all in services.csv)"
    );
    let sw = column_width(
        results
            .iter()
            .flat_map(|r| r.services.iter().map(|s| s.name.as_str())),
        7,
    );
    let _ = writeln!(
        out,
        "{:<w$} {:<sw$} {:>15} {:>9} {:>9} {:>7} {:>7} {:>7} {:>7} {:>10} {:>8} {:>7} {:>6} {:>6} {:>7}",
        "variant",
        "service",
        "ip",
        "sent",
        "answered",
        "reset",
        "timeout",
        "refused",
        "retried",
        "user fails",
        "p99 ms",
        "changes",
        "moved",
        "broken",
        "nodes"
    );
    for r in results.iter().filter(|r| r.multi_service) {
        let mut order: Vec<usize> = (0..r.services.len()).collect();
        order.sort_by_key(|&i| {
            let s = &r.services[i];
            std::cmp::Reverse((s.broken + s.counts.failed(), s.moved, s.counts.started))
        });
        for &i in order.iter().take(TOP) {
            let s = &r.services[i];
            let p99 = s.latency.quantile(0.99).map_or("-".into(), ms);
            let _ = writeln!(
                out,
                "{:<w$} {:<sw$} {:>15} {:>9} {:>9} {:>7} {:>7} {:>7} {:>7} {:>10} {:>8} {:>7} {:>6} {:>6} {:>7}",
                r.variant,
                s.name,
                s.vip.to_string(),
                s.counts.started,
                s.counts.ok,
                s.counts.reset,
                s.counts.timeout,
                s.counts.refused,
                s.counts.retried,
                s.counts.user_failed(),
                p99,
                s.changes,
                s.moved,
                s.broken,
                s.announcers.len()
            );
        }
        let sum = |f: &dyn Fn(&crate::lab::ServiceResult) -> u64| -> u64 {
            r.services.iter().map(f).sum()
        };
        let _ = writeln!(
            out,
            "{:<w$} {:<sw$} {:>15} {:>9} {:>9} {:>7} {:>7} {:>7} {:>7} {:>10} {:>8} {:>7} {:>6} {:>6} {:>7}",
            r.variant,
            format!("total ({})", r.services.len()),
            "",
            sum(&|s| s.counts.started),
            sum(&|s| s.counts.ok),
            sum(&|s| s.counts.reset),
            sum(&|s| s.counts.timeout),
            sum(&|s| s.counts.refused),
            sum(&|s| s.counts.retried),
            sum(&|s| s.counts.user_failed()),
            ms(r.latency.quantile(0.99)),
            sum(&|s| s.changes),
            sum(&|s| s.moved),
            sum(&|s| s.broken),
            ""
        );
    }
}

/// How the services spread over the nodes: the 20 nodes that carry the most, and the
/// spread (in L2 mode, the leaders MetalLB's election chose).
fn service_nodes_table(out: &mut String, results: &[RunResult], w: usize) {
    let _ = writeln!(
        out,
        "\nservices per node: the {TOP} nodes carrying the most services (ECMP member or L2 leader) per variant (all in service_nodes.csv)"
    );
    let nw = column_width(
        results
            .iter()
            .flat_map(|r| r.node_names.iter().map(String::as_str)),
        4,
    );
    let _ = writeln!(
        out,
        "{:<w$} {:<nw$} {:>8} {:>9} {:>9}",
        "variant", "node", "services", "ingress", "served"
    );
    for r in results.iter().filter(|r| r.multi_service) {
        let per = crate::rows::services_per_node(r);
        let mut order: Vec<usize> = (0..per.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse((per[i], r.node_ingress[i])));
        for &i in order.iter().take(TOP) {
            let _ = writeln!(
                out,
                "{:<w$} {:<nw$} {:>8} {:>9} {:>9}",
                r.variant, r.node_names[i], per[i], r.node_ingress[i], r.node_served[i]
            );
        }
        let carrying = per.iter().filter(|&&n| n > 0).count();
        let max = per.iter().copied().max().unwrap_or(0);
        let _ = writeln!(
            out,
            "{:<w$} {carrying} of {} nodes carry services, at most {max} on one; ingress max/mean {:.3}",
            r.variant,
            per.len(),
            ingress_balance(r).max_over_mean
        );
    }
}

/// Requests (never probes): how many were sent and what became of them, latency, moves.
fn requests_table(out: &mut String, results: &[RunResult], w: usize) {
    let _ = writeln!(
        out,
        "requests: sent = answered + reset + timeout + refused + in flight; latency of the answered"
    );
    let _ = writeln!(
        out,
        "{:<w$} {:>9} {:>9} {:>10} {:>8} {:>8} {:>8} {:>9} {:>7} {:>7} {:>7} {:>9} {:>6} {:>6} {:>8} {:>6}",
        "variant",
        "sent",
        "answered",
        "answered/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "reset",
        "timeout",
        "refused",
        "in flight",
        "moved",
        "broken",
        "max/mean",
        "jain"
    );
    for r in results {
        let b = ingress_balance(r);
        let moved = r.connections_moved();
        let broken = r.connections_broken();
        let c = &r.counts;
        let _ = writeln!(
            out,
            "{:<w$} {:>9} {:>9} {:>10.1} {:>8} {:>8} {:>8} {:>9} {:>7} {:>7} {:>7} {:>9} {:>6} {:>6} {:>8.3} {:>6.4}",
            r.variant,
            c.started,
            c.ok,
            rps(r),
            ms(r.latency.quantile(0.50)),
            ms(r.latency.quantile(0.90)),
            ms(r.latency.quantile(0.99)),
            ms(r.latency.quantile(0.999)),
            c.reset,
            c.timeout,
            c.refused,
            c.in_flight,
            moved,
            broken,
            b.max_over_mean,
            b.jain
        );
    }
}

/// Ping probes and the failover they show; `none` where no probe went unanswered between two
/// answers (the longest gap is then just the interval).
fn probes_table(out: &mut String, results: &[RunResult], w: usize) {
    if !results.iter().any(|r| r.failover().is_some()) {
        return;
    }
    let _ = writeln!(
        out,
        "\nprobes (ping): sent = answered + lost + in flight; failover as ping -i sees it: the longest gap between two answered probes, none when no gap exceeds 1.5 intervals (+: still down at the end)"
    );
    let _ = writeln!(
        out,
        "{:<w$} {:>9} {:>9} {:>9} {:>9} {:>12} {:>10}",
        "variant", "sent", "answered", "lost", "in flight", "failover s", "from t s"
    );
    for r in results {
        let Some((gap, at)) = r.failover() else {
            continue;
        };
        let p = &r.probe_counts;
        let failover = if r.had_outage() {
            let open = if r.failover_open_at_end() { "+" } else { " " };
            format!(
                "{:>11.3}{open} {:>10.3}",
                gap.as_secs_f64(),
                at.as_secs_f64()
            )
        } else {
            format!("{:>11}  {:>10}", "none", "")
        };
        let line = format!(
            "{:<w$} {:>9} {:>9} {:>9} {:>9} {failover}",
            r.variant, p.sent, p.answered, p.lost, p.in_flight
        );
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// One row of the route-change table: the changes of one variant at one time with one effect
/// (e.g. every resolver's ARP entry moving from node-1 to node-4), summed.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRow {
    /// When.
    pub time: sim_core::SimTime,
    /// `withdraw node-2`, `arp resolver-0: node-1 -> node-4`, `arp 16 resolvers: node-1 -> node-4`.
    pub change: String,
    /// Next hops before and after.
    pub group: (usize, usize),
    /// Established connections at that moment.
    pub live: u64,
    /// Connections moved.
    pub moved: u64,
    /// Of those, reset later.
    pub reset: u64,
    /// ... or timed out.
    pub timeout: u64,
    /// How many services' changes the row sums (several-service scenarios).
    pub services: u32,
    /// The cause without the service's name, for collapsing.
    cause_key: String,
}

/// A multi-service change's cause without its `service: ` prefix.
fn strip_service<'a>(cause: &'a str, r: &RunResult, s: u32) -> &'a str {
    r.services
        .get(s as usize)
        .and_then(|svc| cause.strip_prefix(svc.name.as_str()))
        .and_then(|c| c.strip_prefix(": "))
        .unwrap_or(cause)
}

/// The route-change rows of one run, as the terminal shows them: changes at the same time
/// with the same effect collapsed into one row; first ARP resolutions that move nothing left
/// out (they are in changes.csv). Also returns how many were left out.
pub fn change_rows(r: &RunResult) -> (Vec<ChangeRow>, usize) {
    // Each row with the ARP move it stands for and how many resolvers made it.
    let mut rows: Vec<(ChangeRow, Option<(&ArpMove, u32)>)> = Vec::new();
    let mut left_out = 0;
    for c in &r.changes {
        if c.arp.as_ref().is_some_and(|a| a.from.is_none()) && c.moved == 0 {
            left_out += 1;
            continue;
        }
        let group = (c.group_before, c.group_after);
        let same = rows
            .iter_mut()
            .rev()
            .take_while(|(row, _)| row.time == c.time)
            .find(|(row, arp)| {
                row.group == group
                    && matches!((arp, &c.arp), (Some((a, _)), Some(b)) if a.from == b.from && a.to == b.to)
            });
        if let Some((row, Some((a, n)))) = same {
            *n += 1;
            let from = a.from.as_deref().unwrap_or("?");
            row.change = format!("arp {n} resolvers: {from} -> {}", a.to);
            row.live += c.live;
            row.moved += c.moved;
            row.reset += c.broken_reset;
            row.timeout += c.broken_timeout;
            continue;
        }
        if r.multi_service {
            // The same change of many services at one instant: one row, `[N services]`.
            let cause = strip_service(&c.cause, r, c.service);
            if let Some((row, None)) = rows
                .iter_mut()
                .rev()
                .take_while(|(row, _)| row.time == c.time)
                .find(|(row, arp)| {
                    arp.is_none() && c.arp.is_none() && row.group == group && row.cause_key == cause
                })
            {
                row.services += 1;
                row.change = format!("{cause} [{} services]", row.services);
                row.live += c.live;
                row.moved += c.moved;
                row.reset += c.broken_reset;
                row.timeout += c.broken_timeout;
                continue;
            }
        }
        let row = ChangeRow {
            cause_key: if r.multi_service {
                strip_service(&c.cause, r, c.service).to_string()
            } else {
                String::new()
            },
            services: 1,
            time: c.time,
            change: c.cause.clone(),
            group,
            live: c.live,
            moved: c.moved,
            reset: c.broken_reset,
            timeout: c.broken_timeout,
        };
        rows.push((row, c.arp.as_ref().map(|a| (a, 1))));
    }
    (rows.into_iter().map(|(row, _)| row).collect(), left_out)
}

/// Route changes and the connections each moved and broke.
fn changes_table(out: &mut String, results: &[RunResult], w: usize) {
    let per_run: Vec<(&RunResult, Vec<ChangeRow>, usize)> = results
        .iter()
        .map(|r| {
            let (rows, left_out) = change_rows(r);
            (r, rows, left_out)
        })
        .collect();
    if per_run.iter().any(|(_, rows, _)| !rows.is_empty()) {
        let _ = writeln!(out, "\nroute changes: connections moved and broken by each");
        let cw = column_width(
            per_run
                .iter()
                .flat_map(|(_, rows, _)| rows.iter().map(|c| c.change.as_str())),
            6,
        );
        let _ = writeln!(
            out,
            "{:<w$} {:>8} {:<cw$} {:>9} {:>6} {:>6} {:>8} {:>6} {:>7}",
            "variant", "t s", "change", "group", "live", "moved", "moved %", "reset", "timeout"
        );
        for (r, rows, _) in &per_run {
            // A scenario with many services may have thousands: the first rows, then a count.
            let shown = if r.multi_service { TOP } else { usize::MAX };
            for c in rows.iter().take(shown) {
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
                    c.change,
                    format!("{} -> {}", c.group.0, c.group.1),
                    c.live,
                    c.moved,
                    pct,
                    c.reset,
                    c.timeout
                );
            }
            if rows.len() > shown {
                let more = rows.len() - shown;
                let _ = writeln!(out, "{:<w$} ({more} more rows in changes.csv)", r.variant);
            }
        }
    }
    let left_out: usize = per_run.iter().map(|(_, _, n)| n).sum();
    if left_out > 0 {
        let _ = writeln!(
            out,
            "\n{left_out} first ARP resolution{} (? -> node), which move no connection, {} in changes.csv only",
            if left_out == 1 { "" } else { "s" },
            if left_out == 1 { "is" } else { "are" }
        );
    }
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

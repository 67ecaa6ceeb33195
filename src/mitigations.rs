//! The rehash study's table (issue 12): one row per (trigger, mitigation, mode), read from the
//! variants' per-service results, as `sim run` prints it and mitigations.csv holds it.
//!
//! ```text
//!  scenario.mitigations ─▶ cells: (trigger, mitigation, mode) ─▶ (variant, service) measured
//!                                                              └▶ or "does not apply: why"
//! ```
//! Each measured cell is one service of one variant: its connections live at the change, those
//! broken (reset or timed out), the requests that failed for its users, the p99 of its
//! clients' answers in the minute around the change, and the cost columns.
//!
//! Adding a mitigation (the hook the DNS split and the ingress tier, issue 12 part B, use):
//! name it in `mitigations.mitigations`, give its cells (a service of its own in some
//! variants, or `not_applicable`), and, for a cost of its own, append a [`CostColumn`] to
//! [`COST_COLUMNS`]: a header and a function from the cell's run to its text ("" where it has
//! nothing to say), as `dns drain` reads the run's DNS drains and `ingress hop p99` its
//! ingress tiers.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sim_core::{LogHistogram, SimDuration};

use crate::cluster::AdvertisementMode;
use crate::lab::{AtChange, RunResult, ServiceResult};
use crate::scenario::Scenario;

/// `mitigations` in a scenario: the table's triggers, mitigations and cells.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MitigationTable {
    /// When the triggers change things: the table counts what happened from then on (the
    /// services' books are kept at that instant, before the trigger acts).
    pub change_at: SimDuration,
    /// The p99 column covers `[change_at - before, change_at + after)`: "the minute around
    /// the change", 10 s before and 50 s after unless set.
    #[serde(default = "ten_s")]
    pub before: SimDuration,
    /// See `before`.
    #[serde(default = "fifty_s")]
    pub after: SimDuration,
    /// The triggers, in the table's order.
    pub triggers: Vec<String>,
    /// The mitigations, in the table's order.
    pub mitigations: Vec<String>,
    /// Every (trigger, mitigation, mode) once: measured, or why it does not apply.
    pub cells: Vec<Cell>,
}

/// One cell of the table.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Cell {
    /// One of `triggers`.
    pub trigger: String,
    /// One of `mitigations`.
    pub mitigation: String,
    /// The mode; unset: both (for a cell that applies in neither).
    #[serde(default)]
    pub mode: Option<AdvertisementMode>,
    /// The variant that measures it (of this mode).
    #[serde(default)]
    pub variant: Option<String>,
    /// The service of that variant it is read from.
    #[serde(default)]
    pub service: Option<String>,
    /// Instead of a variant and service: why the mitigation does not apply here.
    #[serde(default)]
    pub not_applicable: Option<String>,
    /// A cost the numbers do not show (e.g. what the mitigation needs from the router).
    #[serde(default)]
    pub note: Option<String>,
}

fn ten_s() -> SimDuration {
    SimDuration::from_secs(10)
}
fn fifty_s() -> SimDuration {
    SimDuration::from_secs(50)
}

/// A measured cell's run: the scenario, the variant's result, the service's.
pub struct CellRun<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// The variant's result.
    pub result: &'a RunResult,
    /// The service's result.
    pub service: &'a ServiceResult,
}

impl CellRun<'_> {
    /// The service's books at the change (empty when none were kept: all from the start).
    pub fn books(&self) -> AtChange {
        self.service.at_change.clone().unwrap_or_default()
    }
}

/// A cost column: its terminal header, its mitigations.csv column (unit in the name), and its
/// value for one measured cell (`None`: it has nothing to say there, a blank).
pub struct CostColumn {
    /// Terminal header.
    pub header: &'static str,
    /// CSV column.
    pub csv: &'static str,
    /// Decimals shown; 0: a count (an Int64 column).
    pub decimals: usize,
    /// The cell's value.
    pub value: fn(&CellRun<'_>) -> Option<f64>,
}

/// The cost columns, in order: what each mitigation costs besides what it spares.
pub const COST_COLUMNS: &[CostColumn] = &[
    CostColumn {
        header: "extra requests",
        csv: "extra_requests",
        decimals: 0,
        value: extra_requests,
    },
    CostColumn {
        header: "care nodes",
        csv: "care_nodes",
        decimals: 0,
        value: care_nodes,
    },
    CostColumn {
        header: "dns drain s",
        csv: "dns_drain_s",
        decimals: 1,
        value: dns_drain,
    },
    CostColumn {
        header: "ingress hop p99 ms",
        csv: "ingress_hop_p99_ms",
        decimals: 3,
        value: ingress_hop,
    },
];

impl CostColumn {
    /// The value as text: `decimals` places, "" when none.
    pub fn text(&self, v: Option<f64>) -> String {
        v.map_or(String::new(), |v| format!("{v:.*}", self.decimals))
    }
}

/// The DNS split (`src/dns.rs`): how long the service took to drain after the weights moved
/// away from it, before the trigger may touch it (the run's end if it never drained).
fn dns_drain(run: &CellRun<'_>) -> Option<f64> {
    let d = run.result.dns.as_ref()?;
    let x = d.drains.iter().find(|x| x.service == run.service.name)?;
    let end = x.drained_at.unwrap_or(run.result.sim_time);
    Some((end - x.changed_at).as_secs_f64())
}

/// The ingress tier (`src/ingress.rs`): its own time per answered request at p99, the extra
/// hop every request pays.
fn ingress_hop(run: &CellRun<'_>) -> Option<f64> {
    let p = run
        .result
        .proxies
        .iter()
        .find(|p| p.service == run.service.name)?;
    p.overhead.quantile(0.99).map(|d| d.as_millis_f64())
}

/// Client retry: the retries the service's clients sent from the change on (each an extra
/// request on the service).
fn extra_requests(run: &CellRun<'_>) -> Option<f64> {
    let (now, then) = (&run.service.counts, run.books().counts);
    Some((now.retried - then.retried) as f64)
}

/// Pinning: the nodes whose loss, drain or speaker restart can reach the service, those its
/// advertisements select and those its pods run on; pinning makes them few.
fn care_nodes(run: &CellRun<'_>) -> Option<f64> {
    Some(f64::from(run.service.care_nodes))
}

/// One row of the table (mitigations.csv).
#[derive(Debug, Clone, Serialize, Default)]
pub struct Row {
    /// The trigger.
    pub trigger: String,
    /// The mitigation.
    pub mitigation: String,
    /// `Bgp` or `L2`.
    pub mode: &'static str,
    /// The variant measured; empty when the cell does not apply.
    pub variant: String,
    /// Its service; empty when the cell does not apply.
    pub service: String,
    /// Connections live at the change(s) that touched the service.
    pub live_at_change: Option<u64>,
    /// Of those, broken afterwards (reset or timed out).
    pub connections_broken: Option<u64>,
    /// Requests that failed for the service's users (not retried).
    pub user_failed: Option<u64>,
    /// p99 of the service's clients' answers in the minute around the change, ms.
    pub p99_ms: Option<f64>,
    /// The [`COST_COLUMNS`], in order.
    pub costs: Vec<Option<f64>>,
    /// Why the cell does not apply, or the cell's note.
    pub note: String,
}

fn mode_name(m: AdvertisementMode) -> &'static str {
    match m {
        AdvertisementMode::Bgp => "Bgp",
        AdvertisementMode::L2 => "L2",
    }
}

/// The table's rows in the order triggers x mitigations x (BGP, L2); empty without a table.
pub fn rows(scenario: &Scenario, results: &[RunResult]) -> Vec<Row> {
    let Some(t) = &scenario.mitigations else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for trigger in &t.triggers {
        for mitigation in &t.mitigations {
            for mode in [AdvertisementMode::Bgp, AdvertisementMode::L2] {
                let Some(cell) = t.cell(trigger, mitigation, mode) else {
                    continue; // validation makes every cell present
                };
                out.push(row(scenario, t, cell, mode, results));
            }
        }
    }
    out
}

fn row(
    scenario: &Scenario,
    t: &MitigationTable,
    cell: &Cell,
    mode: AdvertisementMode,
    results: &[RunResult],
) -> Row {
    let mut row = Row {
        trigger: cell.trigger.clone(),
        mitigation: cell.mitigation.clone(),
        mode: mode_name(mode),
        note: cell.note.clone().unwrap_or_default(),
        ..Row::default()
    };
    if let Some(why) = &cell.not_applicable {
        row.note = format!("does not apply: {why}");
        return row;
    }
    let (Some(v), Some(s)) = (&cell.variant, &cell.service) else {
        return row;
    };
    let found = results.iter().find(|r| &r.variant == v).and_then(|r| {
        let svc = r.services.iter().find(|x| &x.name == s)?;
        Some((r, svc))
    });
    let Some((result, service)) = found else {
        row.note = format!("no result for variant {v:?}, service {s:?}");
        return row;
    };
    let run = CellRun {
        scenario,
        result,
        service,
    };
    row.variant = v.clone();
    row.service = s.clone();
    let books = run.books();
    row.live_at_change = Some(books.live);
    row.connections_broken = Some(service.conns_broken - books.conns_broken);
    row.user_failed = Some(service.counts.user_failed() - books.counts.user_failed());
    row.p99_ms = window_p99(&run, t).map(|d| d.as_millis_f64());
    row.costs = COST_COLUMNS.iter().map(|c| (c.value)(&run)).collect();
    row
}

/// p99 of the answers the service's client groups got in the window around the change (a
/// DNS split's users count with every service their name resolves to).
fn window_p99(run: &CellRun<'_>, t: &MitigationTable) -> Option<SimDuration> {
    let series = &run.result.series;
    let bucket = series.bucket.as_nanos().max(1);
    let at = t.change_at.as_nanos();
    let from = at.saturating_sub(t.before.as_nanos()) / bucket;
    let to = (at + t.after.as_nanos()).div_ceil(bucket);
    let mut hist = LogHistogram::default();
    for (spec, group) in run.scenario.clients.iter().zip(&series.groups) {
        if !crate::dns::sends_to(run.scenario, spec, &run.service.name) {
            continue;
        }
        for i in from..to.min(group.latency.len() as u64) {
            hist.merge(group.latency.get(i as usize));
        }
    }
    hist.quantile(0.99)
}

impl MitigationTable {
    /// The cell of (trigger, mitigation, mode): one for that mode, or one for both.
    pub fn cell(&self, trigger: &str, mitigation: &str, mode: AdvertisementMode) -> Option<&Cell> {
        self.cells.iter().find(|c| {
            c.trigger == trigger && c.mitigation == mitigation && c.mode.is_none_or(|m| m == mode)
        })
    }

    /// Every cell names a known trigger and mitigation, is measured (variant of its mode and a
    /// service of it) or says why not, and every (trigger, mitigation, mode) has one cell.
    ///
    /// # Errors
    /// The first refusal: (field path, what is wrong and what would be valid).
    pub fn check(&self, scenario: &Scenario) -> Result<(), (String, String)> {
        let variants = scenario.variant_list();
        let mut seen = BTreeSet::new();
        for (i, c) in self.cells.iter().enumerate() {
            let f = |s: &str| format!("mitigations.cells[{i}].{s}");
            if !self.triggers.contains(&c.trigger) {
                return Err((f("trigger"), one_of(&c.trigger, &self.triggers)));
            }
            if !self.mitigations.contains(&c.mitigation) {
                return Err((f("mitigation"), one_of(&c.mitigation, &self.mitigations)));
            }
            let modes = match c.mode {
                Some(m) => vec![m],
                None => vec![AdvertisementMode::Bgp, AdvertisementMode::L2],
            };
            for m in &modes {
                if !seen.insert((c.trigger.as_str(), c.mitigation.as_str(), mode_name(*m))) {
                    return Err((
                        f("mode"),
                        format!(
                            "({:?}, {:?}, {}) has a cell already",
                            c.trigger,
                            c.mitigation,
                            mode_name(*m)
                        ),
                    ));
                }
            }
            match (&c.not_applicable, &c.variant, &c.service) {
                (Some(_), None, None) => {}
                (None, Some(v), Some(s)) => check_run(scenario, &variants, c, v, s, &f)?,
                _ => {
                    return Err((
                        f("variant"),
                        "a cell is measured (variant and service) or says why it does not apply (not_applicable), one of the two".into(),
                    ))
                }
            }
            if c.mode.is_none() && c.not_applicable.is_none() {
                return Err((f("mode"), "a measured cell has one mode: Bgp or L2".into()));
            }
        }
        for t in &self.triggers {
            for m in &self.mitigations {
                for mode in ["Bgp", "L2"] {
                    if !seen.contains(&(t.as_str(), m.as_str(), mode)) {
                        return Err((
                            "mitigations.cells".into(),
                            format!("no cell for ({t:?}, {m:?}, {mode}): every cell is printed, measured or with why it does not apply"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

fn one_of(name: &str, valid: &[String]) -> String {
    format!("{name:?}: valid: {}", valid.join(", "))
}

/// A measured cell's variant exists and runs its mode; its service is one of the variant's.
fn check_run(
    scenario: &Scenario,
    variants: &[crate::scenario::Variant],
    c: &Cell,
    v: &str,
    s: &str,
    f: &dyn Fn(&str) -> String,
) -> Result<(), (String, String)> {
    let Some(variant) = variants.iter().find(|x| x.name == v) else {
        let names: Vec<String> = variants.iter().map(|x| x.name.clone()).collect();
        return Err((f("variant"), one_of(v, &names)));
    };
    let runs = match scenario.mode_of(variant) {
        crate::scenario::Mode::L2 => AdvertisementMode::L2,
        _ => AdvertisementMode::Bgp,
    };
    if c.mode.is_some_and(|m| m != runs) {
        return Err((
            f("mode"),
            format!("variant {v:?} runs {} mode", mode_name(runs)),
        ));
    }
    let services = variant.services.as_ref().unwrap_or(&scenario.services);
    if !services.iter().any(|e| e.name == s) {
        let names: Vec<String> = services.iter().map(|e| e.name.clone()).collect();
        return Err((f("service"), one_of(s, &names)));
    }
    Ok(())
}

/// The table as `sim run` prints it: every cell, measured or why not.
pub fn table(scenario: &Scenario, results: &[RunResult]) -> String {
    use std::fmt::Write;
    let (Some(t), rows) = (&scenario.mitigations, rows(scenario, results)) else {
        return String::new();
    };
    let at = t.change_at;
    let dash = |v: Option<u64>| v.map_or("-".to_string(), |x| x.to_string());
    let text: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut cols = vec![
                r.trigger.clone(),
                r.mitigation.clone(),
                r.mode.to_string(),
                dash(r.live_at_change),
                dash(r.connections_broken),
                dash(r.user_failed),
                r.p99_ms.map_or("-".into(), |p| format!("{p:.3}")),
            ];
            for (k, c) in COST_COLUMNS.iter().enumerate() {
                let v = r.costs.get(k).copied().flatten();
                let dash = r.live_at_change.is_none();
                cols.push(if dash { "-".into() } else { c.text(v) });
            }
            cols.push(r.note.clone());
            cols
        })
        .collect();
    let mut headers = vec![
        "trigger",
        "mitigation",
        "mode",
        "live",
        "broken",
        "user fails",
        "p99 ms",
    ];
    headers.extend(COST_COLUMNS.iter().map(|c| c.header));
    headers.push("note");
    let widths: Vec<usize> = (0..headers.len())
        .map(|k| crate::report::column_width(text.iter().map(|r| r[k].as_str()), headers[k].len()))
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nmitigations: one row per (trigger, mitigation, mode), from the change at {at} on: live = connections open at it, broken = connections reset or timed out after it, user fails = requests failed and not retried, p99 of the answers in [{at} - {}, {at} + {}) (all in mitigations.csv)",
        t.before, t.after
    );
    let line = |cols: &[&str]| {
        let mut l = String::new();
        for (k, c) in cols.iter().enumerate() {
            let w = widths[k];
            // Names left, numbers right, the note last and unpadded.
            if k + 1 == cols.len() {
                l.push_str(c);
            } else if k < 3 {
                let _ = write!(l, "{c:<w$} ");
            } else {
                let _ = write!(l, "{c:>w$} ");
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(&headers));
    for r in &text {
        let cols: Vec<&str> = r.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}", line(&cols));
    }
    out
}

/// mitigations.csv's rows: [`Row`] with the cost columns flattened.
pub fn csv_rows(scenario: &Scenario, results: &[RunResult]) -> Vec<Vec<String>> {
    let mut header: Vec<String> = [
        "variant",
        "trigger",
        "mitigation",
        "mode",
        "service",
        "live_at_change",
        "connections_broken",
        "user_failed",
        "p99_window_ms",
    ]
    .map(String::from)
    .to_vec();
    header.extend(COST_COLUMNS.iter().map(|c| c.csv.to_string()));
    header.push("note".into());
    let opt = |v: Option<u64>| v.map_or(String::new(), |x| x.to_string());
    let mut out = vec![header];
    for r in rows(scenario, results) {
        let mut cols = vec![
            r.variant,
            r.trigger,
            r.mitigation,
            r.mode.to_string(),
            r.service,
            opt(r.live_at_change),
            opt(r.connections_broken),
            opt(r.user_failed),
            r.p99_ms.map_or(String::new(), |p| format!("{p:.6}")),
        ];
        for (k, c) in COST_COLUMNS.iter().enumerate() {
            cols.push(c.text(r.costs.get(k).copied().flatten()));
        }
        cols.push(r.note);
        out.push(cols);
    }
    out
}

//! What a run will cost before it starts: events, peak memory and output bytes, estimated from
//! the scenario alone, and the check that refuses what exceeds a limit, naming the field
//! responsible.
//!
//! ```text
//!  Scenario ─▶ traffic (capacities ▶ per client group: started, answered, in flight)
//!           ─▶ run::variant (per mechanism: Items of events, working, retained, output bytes)
//!           ─▶ Estimate (variants in parallel: results kept until the end add up)
//!           ─▶ check(&Estimate, &Limits) ─▶ Refusal (field, numbers) ─▶ located ScenarioError
//! ```
//! The estimate is a handful of arithmetic per client group and node: it allocates nothing in
//! proportion to what it estimates.
//!
//! ```
//! use lbsim::cost::{self, Limits};
//! use lbsim::scenario::Scenario;
//!
//! let s = Scenario::parse(std::path::Path::new("x.ron"), r#"(
//!     name: "x", duration: "100000h", nodes: (count: 3),
//!     service: (pods: (replicas: 3, service_time: Constant(time: "100us"))),
//!     clients: [(name: "c", load: OpenLoop(rate: 10))])"#).unwrap();
//! let e = cost::estimate(&s);
//! let refusal = cost::check(&e, &Limits::default()).unwrap_err();
//! assert_eq!(refusal.field, "duration");
//! ```

mod run;
mod traffic;

use std::fmt::Write as _;
use std::path::Path;

use crate::scenario::{Scenario, ScenarioError};
use crate::suite::{Suite, SuiteError, SuiteOptions};

pub use run::{count, BASE_BYTES};
pub use traffic::mean_service_s;

/// Default `--max-memory`: 16 GiB, two thirds of the 24 GiB machine lbsim is built on, so the
/// system and a build beside it keep the rest.
pub const DEFAULT_MAX_MEMORY: u64 = 16 << 30;
/// Default `--max-events`: 10^10, about half an hour on both cores of a 2-core machine at the
/// engine's 5-10 million events per second and core.
pub const DEFAULT_MAX_EVENTS: u64 = 10_000_000_000;
/// Events per second one core handles (release build; the closing lines of the bundled
/// scenarios show 5-12 M), for the time a run will take.
pub const EVENTS_PER_SECOND: f64 = 6e6;

/// Items listed per kind in [`Estimate::table`].
const TOP_ITEMS: usize = 5;

/// What a command may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Peak resident memory, bytes.
    pub max_memory: u64,
    /// Events handled, over all runs of the command.
    pub max_events: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_memory: DEFAULT_MAX_MEMORY,
            max_events: DEFAULT_MAX_EVENTS,
        }
    }
}

/// How the command will run, beyond the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assumptions {
    /// Control-plane capture to pcap (`--pcap`): the frames are kept in memory.
    pub capture: bool,
    /// Runs side by side (rayon's threads).
    pub threads: usize,
    /// The results are written under `--out` at the end: each CSV's rows are built in memory
    /// (for every variant) before the file is written.
    pub out: bool,
}

impl Default for Assumptions {
    fn default() -> Self {
        Assumptions {
            capture: false,
            threads: rayon::current_num_threads(),
            out: false,
        }
    }
}

/// One mechanism's share of a run's cost, blamed on the field that makes it large.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// The scenario field responsible, e.g. `clients[2].load.interval`.
    pub field: String,
    /// What it is, with its numbers.
    pub what: String,
    /// Events it causes.
    pub events: f64,
    /// Bytes held while the run goes, freed when it ends.
    pub working: f64,
    /// Bytes its result keeps until the command ends.
    pub retained: f64,
    /// Bytes written under `--out` (and `--pcap`).
    pub output: f64,
}

/// The cost of one run (one variant, with one seed).
#[derive(Debug, Clone, PartialEq)]
pub struct RunCost {
    /// Variant name (for a suite: `test/variant`).
    pub name: String,
    /// Which scenario of the command it belongs to (0 for `sim run`; the test for a suite).
    pub source: usize,
    /// How many runs have this cost (a suite's iterations).
    pub copies: u64,
    /// Requests it starts.
    pub requests: f64,
    /// Where the cost comes from.
    pub items: Vec<Item>,
    /// Bytes of the rows it adds to the largest CSV while `--out` is written (its results
    /// are all still held then).
    pub writing: f64,
}

impl RunCost {
    fn new(name: String, items: Vec<Item>, requests: f64) -> Self {
        RunCost {
            name,
            source: 0,
            copies: 1,
            requests,
            items,
            writing: 0.0,
        }
    }

    /// Events handled.
    pub fn events(&self) -> f64 {
        self.items.iter().map(|i| i.events).sum()
    }

    /// Peak bytes while it runs, its result included.
    pub fn working(&self) -> f64 {
        self.items.iter().map(|i| i.working + i.retained).sum()
    }

    /// Bytes its result keeps until the command ends.
    pub fn retained(&self) -> f64 {
        self.items.iter().map(|i| i.retained).sum()
    }

    /// Bytes written under `--out`.
    pub fn output(&self) -> f64 {
        self.items.iter().map(|i| i.output).sum()
    }
}

/// The cost of a command: its runs, some side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Every distinct run.
    pub runs: Vec<RunCost>,
    /// Runs side by side.
    pub threads: usize,
}

impl Estimate {
    /// Events over all runs.
    pub fn events(&self) -> f64 {
        self.runs.iter().map(|r| r.events() * r.copies as f64).sum()
    }

    /// Requests over all runs.
    pub fn requests(&self) -> f64 {
        self.runs.iter().map(|r| r.requests * r.copies as f64).sum()
    }

    /// Peak resident memory: the process, every result (all are kept until the tables are
    /// printed), and the working memory of the `threads` largest runs at once, or, when it is
    /// larger, the rows of the largest CSV as `--out` writes them (one test and seed of a
    /// suite at a time).
    pub fn peak_memory(&self) -> f64 {
        let retained: f64 = self
            .runs
            .iter()
            .map(|r| r.retained() * r.copies as f64)
            .sum();
        let mut working: Vec<(f64, u64)> = self
            .runs
            .iter()
            .map(|r| (r.working() - r.retained(), r.copies))
            .collect();
        working.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut slots = self.threads.max(1) as u64;
        let mut busy = 0.0;
        for (w, copies) in working {
            let k = copies.min(slots);
            busy += w * k as f64;
            slots -= k;
            if slots == 0 {
                break;
            }
        }
        let writing = self
            .runs
            .iter()
            .map(|r| r.source)
            .map(|src| {
                self.runs
                    .iter()
                    .filter(|r| r.source == src)
                    .map(|r| r.writing)
                    .sum::<f64>()
            })
            .fold(0.0, f64::max);
        BASE_BYTES + retained + busy.max(writing)
    }

    /// Bytes written under `--out` (and `--pcap`).
    pub fn output_bytes(&self) -> f64 {
        self.runs.iter().map(|r| r.output() * r.copies as f64).sum()
    }

    /// Seconds of wall time the runs take on `threads` cores.
    pub fn wall_seconds(&self) -> f64 {
        let runs: u64 = self.runs.iter().map(|r| r.copies).sum();
        let cores = (self.threads.max(1) as u64).min(runs.max(1)) as f64;
        self.events() / EVENTS_PER_SECOND / cores
    }

    /// A table of the estimate, for `sim validate --cost`.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<40} {:>6} {:>14} {:>14} {:>11} {:>11} {:>11}",
            "run", "runs", "events", "requests", "memory", "kept", "output"
        );
        for r in &self.runs {
            let _ = writeln!(
                out,
                "{:<40} {:>6} {:>14} {:>14} {:>11} {:>11} {:>11}",
                r.name,
                r.copies,
                run::count(r.events()),
                run::count(r.requests),
                bytes(r.working()),
                bytes(r.retained()),
                bytes(r.output())
            );
        }
        let mut items: Vec<(&RunCost, &Item)> = self
            .runs
            .iter()
            .flat_map(|r| r.items.iter().map(move |i| (r, i)))
            .collect();
        items.sort_by(|a, b| (b.1.working + b.1.retained).total_cmp(&(a.1.working + a.1.retained)));
        let _ = writeln!(out, "largest memory items:");
        for (r, i) in items.iter().take(TOP_ITEMS) {
            let _ = writeln!(
                out,
                "  {:>11}  {}: {} (`{}`)",
                bytes(i.working + i.retained),
                r.name,
                i.what,
                i.field
            );
        }
        items.sort_by(|a, b| b.1.events.total_cmp(&a.1.events));
        let _ = writeln!(out, "largest event items:");
        for (r, i) in items.iter().take(TOP_ITEMS) {
            let _ = writeln!(
                out,
                "  {:>14}  {}: {} (`{}`)",
                run::count(i.events),
                r.name,
                i.what,
                i.field
            );
        }
        let _ = writeln!(
            out,
            "total: {} events, {} requests, peak memory {} ({} runs side by side), output {}, about {}",
            run::count(self.events()),
            run::count(self.requests()),
            bytes(self.peak_memory()),
            self.threads,
            bytes(self.output_bytes()),
            seconds(self.wall_seconds())
        );
        out
    }
}

/// The cost of running every variant of `s` (`sim run`), with default assumptions.
pub fn estimate(s: &Scenario) -> Estimate {
    estimate_with(s, &Assumptions::default())
}

/// The cost of running every variant of `s` under `a`.
pub fn estimate_with(s: &Scenario, a: &Assumptions) -> Estimate {
    let runs = s
        .variant_list()
        .iter()
        .enumerate()
        .map(|(i, v)| run::variant(s, i, v, a))
        .collect();
    Estimate {
        runs,
        threads: a.threads,
    }
}

/// The cost of one run of variant `v` of `s` (found among the scenario's variants by name,
/// for the field paths of its own sections).
pub fn run_cost(s: &Scenario, v: &crate::scenario::Variant, a: &Assumptions) -> RunCost {
    let i = s
        .variant_list()
        .iter()
        .position(|x| x.name == v.name)
        .unwrap_or(0);
    run::variant(s, i, v, a)
}

/// The cost of `sim suite`: every test x iteration x variant, all results kept to the end.
pub fn estimate_suite(suite: &Suite, opts: &SuiteOptions, a: &Assumptions) -> Estimate {
    let iterations = u64::from(opts.iterations.unwrap_or(suite.file.iterations).max(1));
    let mut runs = Vec::new();
    for (t, (spec, s)) in suite.file.tests.iter().zip(&suite.scenarios).enumerate() {
        for (i, v) in s.variant_list().iter().enumerate() {
            let mut r = run::variant(s, i, v, a);
            r.name = format!("{}/{}", spec.name, r.name);
            r.source = t;
            r.copies = iterations;
            runs.push(r);
        }
    }
    Estimate {
        runs,
        threads: a.threads,
    }
}

/// Why a command was refused: the field to change and the numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The scenario it is about ([`RunCost::source`]).
    pub source: usize,
    /// The field responsible.
    pub field: String,
    /// The estimate against the limit, and what makes it large.
    pub message: String,
}

/// Refuse what exceeds `limits`.
///
/// # Errors
/// A [`Refusal`] naming the field that contributes most to the cost over the limit.
pub fn check(e: &Estimate, limits: &Limits) -> Result<(), Refusal> {
    let memory = e.peak_memory();
    if memory > limits.max_memory as f64 {
        let (source, item, share, runs) = largest(e, |i| i.working + i.retained);
        return Err(Refusal {
            source,
            field: item.field.clone(),
            message: format!(
                "the run would need about {} of memory, more than the limit of {} (--max-memory); `{}` accounts for {}{}, most of it {}; lower it or raise --max-memory",
                bytes(memory),
                bytes(limits.max_memory as f64),
                item.field,
                bytes(share),
                over(runs),
                item.what
            ),
        });
    }
    let events = e.events();
    if events > limits.max_events as f64 {
        let (source, item, share, runs) = largest(e, |i| i.events);
        return Err(Refusal {
            source,
            field: item.field.clone(),
            message: format!(
                "the run would handle about {} events (about {} of wall time), more than the limit of {} (--max-events); `{}` accounts for {}{}, most of them {}; lower it or raise --max-events",
                run::count(events),
                seconds(e.wall_seconds()),
                run::count(limits.max_events as f64),
                item.field,
                run::count(share),
                over(runs),
                item.what
            ),
        });
    }
    Ok(())
}

/// The field (in its scenario) that costs the most by `cost`, summed over runs: its source,
/// its largest item, the field's total, and over how many runs.
fn largest(e: &Estimate, cost: impl Fn(&Item) -> f64) -> (usize, &Item, f64, u64) {
    let mut best: Option<(usize, &Item, f64, u64)> = None;
    for r in &e.runs {
        for item in &r.items {
            let (mut total, mut runs, mut top) = (0.0, 0, item);
            for o in e.runs.iter().filter(|o| o.source == r.source) {
                let mine = o.items.iter().filter(|i| i.field == item.field);
                let mut counted = false;
                for i in mine {
                    total += cost(i) * o.copies as f64;
                    counted = true;
                    if cost(i) > cost(top) {
                        top = i;
                    }
                }
                runs += if counted { o.copies } else { 0 };
            }
            if best.is_none_or(|b| total > b.2) {
                best = Some((r.source, top, total, runs));
            }
        }
    }
    best.unwrap_or_else(|| unreachable!("every run has items"))
}

/// ` over 13 runs`, or nothing for one.
fn over(runs: u64) -> String {
    if runs > 1 {
        format!(" over {runs} runs")
    } else {
        String::new()
    }
}

/// A refusal as an error of scenario file `path`, at the line and column of its field.
pub fn located(path: &Path, r: Refusal) -> ScenarioError {
    let position = std::fs::read(path).ok().and_then(|bytes| {
        let text = crate::input::decode(&bytes).ok()?;
        crate::input::locate(text, &r.field)
    });
    ScenarioError {
        file: path.to_path_buf(),
        position,
        field: r.field,
        message: r.message,
    }
}

/// A refusal of a suite's estimate as the error of the test's scenario file it is about.
pub fn located_in_suite(suite: &Suite, r: Refusal) -> SuiteError {
    let test = suite
        .file
        .tests
        .get(r.source)
        .map_or_else(String::new, |t| t.name.clone());
    let path = crate::suite::scenario_paths(suite)
        .get(r.source)
        .cloned()
        .unwrap_or_else(|| suite.path.clone());
    SuiteError::Scenario {
        test,
        source: located(&path, r),
    }
}

/// `1.5 GiB`, `340.0 KiB`.
pub fn bytes(b: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b.max(0.0);
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else if v.is_finite() && v < 1e6 {
        format!("{v:.1} {}", UNITS[u])
    } else {
        format!("{v:.1e} {}", UNITS[u])
    }
}

/// `45 s`, `12 min`, `3.2 h`, `5.0e3 years`.
pub fn seconds(s: f64) -> String {
    if !s.is_finite() {
        "forever".into()
    } else if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7_200.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3_600.0)
    } else if s < 3.2e7 {
        format!("{:.0} days", s / 86_400.0)
    } else {
        format!("{:.1e} years", s / 3.156e7)
    }
}

/// Parse a `--max-events` value: `20000000000`, `2e10`.
///
/// # Errors
/// A message saying what would be valid.
pub fn parse_count(text: &str) -> Result<u64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (1.0..1.8e19).contains(&v) => Ok(v as u64),
        _ => Err(format!("{text:?}: give a number of events such as 2e10")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_and_print() {
        assert_eq!(parse_count("2e10"), Ok(20_000_000_000));
        assert!(parse_count("lots").is_err());
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0), "3.0 MiB");
        assert_eq!(run::count(1234567.0), "1,234,567");
    }
}

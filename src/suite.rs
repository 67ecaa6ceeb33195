//! `sim suite DIR`: a whole real-cluster benchmark, simulated. A suite file lists scenario
//! files (the blog's Tests 1-7 in `scenarios/blog/`), how many iterations to run, and which
//! scenario and variant feeds which row of the three comparison tables (latency, throughput by
//! clients, failover).
//!
//! ```text
//!  suite.ron ─▶ Suite::load ─▶ scenarios ─▶ jobs (test x seed x variant) ─par_iter─▶ RunResult
//!                                                                   │ (back in job order)
//!            tables (mean ± 95 % CI, difference %) ◀── Aggregate ◀──┘──▶ OUT/<test>/seed-S/, OUT/suite.csv
//! ```
//! Every job is one single-threaded [`run_variant`]; jobs run on all cores, longest first,
//! and are put back in their declared order, so the tables and files are byte-identical
//! whatever the thread count.
//!
//! ```
//! use lbsim::suite::Stats;
//! let s = Stats::of(&[1.0, 2.0, 3.0]);
//! assert_eq!(s.mean, 2.0);
//! // t(0.975, 2) = 4.303, sd = 1, n = 3: half width 4.303 / sqrt(3) = 2.484
//! assert!((s.ci95.unwrap().1 - 4.484).abs() < 1e-3);
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::io;
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::Deserialize;

use crate::input::{self, locate, write_place};
use crate::lab::{run_variant, LabError, RunResult};
use crate::outdir::OutDir;
use crate::outdir::OutDirError;
use crate::output;
use crate::scenario::{Load, Scenario, ScenarioError};

/// The file `sim suite DIR` reads in DIR.
pub const SUITE_FILE: &str = "suite.ron";

/// A suite file: the tests and the tables they feed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    /// Short name, printed above the tables.
    pub name: String,
    /// What the suite reproduces.
    #[serde(default)]
    pub description: String,
    /// Runs of every test; iteration k uses seed `first_seed + k - 1` (`--iterations`
    /// overrides it).
    #[serde(
        default = "default_iterations",
        deserialize_with = "sim_core::setting::int_in::<_, _, 1, 1000>"
    )]
    pub iterations: u32,
    /// The scenarios, in the order their outputs are listed.
    pub tests: Vec<TestSpec>,
    /// Table (a): latency percentiles, L2 vs BGP.
    #[serde(default)]
    pub latency: Vec<LatencyRow>,
    /// Table (b): throughput by number of clients, L2 vs BGP.
    #[serde(default)]
    pub throughput: Vec<ThroughputRow>,
    /// Table (c): failover time per case, L2 vs BGP without and with BFD.
    #[serde(default)]
    pub failover: Vec<FailoverRow>,
    /// Bulk transfer (iperf3) rows: bits/s and mean RTT, L2 vs BGP.
    #[serde(default)]
    pub bulk: Vec<BulkRow>,
}

fn default_iterations() -> u32 {
    3
}
fn yes() -> bool {
    true
}
fn l2() -> String {
    "l2".into()
}
fn bgp() -> String {
    "bgp".into()
}
fn bgp_bfd() -> String {
    "bgp-bfd".into()
}

/// One scenario of the suite.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestSpec {
    /// Name: the output directory `OUT/<name>/` and the key tables refer to.
    pub name: String,
    /// The scenario file, relative to the suite file.
    pub scenario: PathBuf,
    /// Copy the first iteration's tool files (fortio, vegeta, wrk, iperf3 and ping outputs)
    /// to `OUT/` itself, under their own names, where the blog's scripts look for them.
    #[serde(default = "yes")]
    pub top_level: bool,
    /// One test per value of a scenario field, as `sim sweep --vary` takes it: test
    /// `<name>-<value>` runs the scenario with the field set to the value, e.g.
    /// `vary: (path: "clients[0].count", values: [10, 50])` makes `<name>-10` and `<name>-50`.
    #[serde(default)]
    pub vary: Option<crate::sweep::Axis>,
}

/// A latency row group: p50, p99, p99.9 of one test's L2 and BGP variants.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencyRow {
    /// What the rows show, e.g. "fortio -qps 1000 -c 50".
    pub label: String,
    /// The test.
    pub test: String,
    /// Its L2 variant.
    #[serde(default = "l2")]
    pub l2: String,
    /// Its BGP variant.
    #[serde(default = "bgp")]
    pub bgp: String,
}

/// A throughput row: requests answered per second with this many client instances, or of a
/// labelled test (e.g. a closed-loop saturation run).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThroughputRow {
    /// Client instances (the table's first column).
    #[serde(
        default,
        deserialize_with = "sim_core::setting::opt_int_in::<_, _, 1, 100000>"
    )]
    pub clients: Option<u32>,
    /// The first column's text instead of a client count.
    #[serde(default)]
    pub label: Option<String>,
    /// The test.
    pub test: String,
    /// Its L2 variant.
    #[serde(default = "l2")]
    pub l2: String,
    /// Its BGP variant.
    #[serde(default = "bgp")]
    pub bgp: String,
}

impl ThroughputRow {
    /// The table's first column: the label, else the client count.
    fn first_column(&self) -> String {
        match (&self.label, self.clients) {
            (Some(label), _) => label.clone(),
            (None, Some(n)) => n.to_string(),
            (None, None) => String::new(),
        }
    }
}

/// A failover row: the longest ping gap in one fault case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverRow {
    /// The case, e.g. "node failure".
    pub case: String,
    /// The test.
    pub test: String,
    /// Its L2 variant.
    #[serde(default = "l2")]
    pub l2: String,
    /// Its BGP variant without BFD.
    #[serde(default = "bgp")]
    pub bgp: String,
    /// Its BGP variant with BFD.
    #[serde(default = "bgp_bfd")]
    pub bgp_bfd: String,
}

/// A bulk row: iperf3 bits/s and mean RTT of one test's L2 and BGP variants.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkRow {
    /// What the row shows, e.g. "iperf3 -P 10".
    pub label: String,
    /// The test.
    pub test: String,
    /// Its L2 variant.
    #[serde(default = "l2")]
    pub l2: String,
    /// Its BGP variant.
    #[serde(default = "bgp")]
    pub bgp: String,
}

/// Why a suite could not be loaded, run or written.
#[derive(Debug)]
pub enum SuiteError {
    /// The suite file itself: located like scenario errors.
    File {
        /// The suite file.
        file: PathBuf,
        /// 1-based line and column, when known.
        position: Option<(usize, usize)>,
        /// The field path, e.g. `failover[1].test`.
        field: String,
        /// What is wrong and what would be valid.
        message: String,
    },
    /// A scenario the suite lists.
    Scenario {
        /// The test naming it.
        test: String,
        /// The scenario's own error (file, line, column, field).
        source: ScenarioError,
    },
    /// A run failed.
    Lab {
        /// The test.
        test: String,
        /// The seed.
        seed: u64,
        /// The cause.
        source: LabError,
    },
    /// Writing the outputs failed.
    Io {
        /// What was being written.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The output directory refused a file, or could not be written.
    Out(OutDirError),
}

impl fmt::Display for SuiteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SuiteError::File {
                file,
                position,
                field,
                message,
            } => {
                write_place(f, file, *position, "", field)?;
                write!(f, ": {message}")
            }
            SuiteError::Scenario { test, source } => write!(f, "test `{test}`: {source}"),
            SuiteError::Lab { test, seed, source } => {
                write!(f, "test `{test}`, seed {seed}: {source}")
            }
            SuiteError::Io { path, source } => write!(f, "writing {}: {source}", path.display()),
            SuiteError::Out(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for SuiteError {}

/// A loaded suite: the file and its validated scenarios, in the order of `tests`.
#[derive(Debug, Clone)]
pub struct Suite {
    /// Where the suite file is.
    pub path: PathBuf,
    /// Its contents.
    pub file: SuiteFile,
    /// One scenario per test.
    pub scenarios: Vec<Scenario>,
}

impl Suite {
    /// Load `path`: a suite file, or a directory holding [`SUITE_FILE`]; then every scenario it
    /// lists, and check every table row against the tests and their variants.
    ///
    /// # Errors
    /// A [`SuiteError::File`] located in the suite file, or a [`SuiteError::Scenario`].
    pub fn load(path: &Path) -> Result<Suite, SuiteError> {
        let path = if path.is_dir() {
            path.join(SUITE_FILE)
        } else {
            path.to_path_buf()
        };
        let bytes = std::fs::read(&path).map_err(|e| SuiteError::File {
            file: path.clone(),
            position: None,
            field: String::new(),
            message: format!("cannot read the suite file: {e}"),
        })?;
        let text = input::decode(&bytes).map_err(|e| SuiteError::File {
            file: path.clone(),
            position: e.position,
            field: e.field,
            message: e.message,
        })?;
        let file = SuiteFile::parse(&path, text)?;
        let mut suite = Suite {
            path,
            file,
            scenarios: Vec::new(),
        };
        for (t, p) in suite.file.tests.iter().zip(scenario_paths(&suite)) {
            let error = |source| SuiteError::Scenario {
                test: t.name.clone(),
                source,
            };
            let mut s = Scenario::load(&p).map_err(error)?;
            if let Some(axis) = &t.vary {
                let assigns: Vec<_> = axis.values.iter().map(|v| (&axis.path, &v.0)).collect();
                s = crate::sweep::path::with_values(&s, &assigns, &p).map_err(error)?;
            }
            suite.scenarios.push(s);
        }
        suite.check_variants(text)?;
        Ok(suite)
    }

    fn test_index(&self, name: &str) -> Option<usize> {
        self.file.tests.iter().position(|t| t.name == name)
    }

    /// Every table row's variants exist in its test's scenario; top-level tool files do not
    /// collide.
    fn check_variants(&self, text: &str) -> Result<(), SuiteError> {
        let mut refs: Vec<(String, &str, &str)> = Vec::new();
        for (i, r) in self.file.latency.iter().enumerate() {
            refs.push((format!("latency[{i}].l2"), &r.test, &r.l2));
            refs.push((format!("latency[{i}].bgp"), &r.test, &r.bgp));
        }
        for (i, r) in self.file.throughput.iter().enumerate() {
            if r.clients.is_none() && r.label.is_none() {
                let field = format!("throughput[{i}]");
                return Err(SuiteError::File {
                    file: self.path.clone(),
                    position: locate(text, &field),
                    field,
                    message: "a throughput row needs `clients: N` or `label: \"...\"` for its first column".into(),
                });
            }
            refs.push((format!("throughput[{i}].l2"), &r.test, &r.l2));
            refs.push((format!("throughput[{i}].bgp"), &r.test, &r.bgp));
        }
        for (i, r) in self.file.failover.iter().enumerate() {
            refs.push((format!("failover[{i}].l2"), &r.test, &r.l2));
            refs.push((format!("failover[{i}].bgp"), &r.test, &r.bgp));
            refs.push((format!("failover[{i}].bgp_bfd"), &r.test, &r.bgp_bfd));
        }
        for (i, r) in self.file.bulk.iter().enumerate() {
            refs.push((format!("bulk[{i}].l2"), &r.test, &r.l2));
            refs.push((format!("bulk[{i}].bgp"), &r.test, &r.bgp));
        }
        for (field, test, variant) in refs {
            let Some(t) = self.test_index(test) else {
                continue; // checked at parse
            };
            let names: Vec<String> = self.scenarios[t]
                .variant_list()
                .into_iter()
                .map(|v| v.name)
                .collect();
            if !names.iter().any(|n| n == variant) {
                return Err(SuiteError::File {
                    file: self.path.clone(),
                    position: locate(text, &field),
                    field,
                    message: format!(
                        "test `{test}` has no variant {variant:?}; its variants: {}",
                        names.join(", ")
                    ),
                });
            }
        }
        let mut owner: BTreeMap<String, &str> = BTreeMap::new();
        for (t, spec) in self.file.tests.iter().enumerate() {
            if !spec.top_level {
                continue;
            }
            for name in tool_file_names(&self.scenarios[t]) {
                if let Some(other) = owner.insert(name.clone(), &spec.name) {
                    let field = format!("tests[{t}].top_level");
                    return Err(SuiteError::File {
                        file: self.path.clone(),
                        position: locate(text, &field),
                        field,
                        message: format!(
                            "tests `{other}` and `{}` both write {name:?} to the top level; set `top_level: false` on one",
                            spec.name
                        ),
                    });
                }
            }
        }
        Ok(())
    }
}

/// The tool files a scenario's variants write (the base names of `output` templates).
fn tool_file_names(s: &Scenario) -> Vec<String> {
    let mut names = Vec::new();
    for v in s.variant_list() {
        for c in &s.clients {
            if let Some(t) = &c.output {
                names.push(t.replace("{variant}", &v.name));
            }
        }
    }
    names
}

impl SuiteFile {
    /// Parse and check suite text; `path` is only used in errors.
    ///
    /// # Errors
    /// A [`SuiteError::File`] with the line, column and field.
    pub fn parse(path: &Path, text: &str) -> Result<SuiteFile, SuiteError> {
        let error = |position, field: String, message: String| SuiteError::File {
            file: path.to_path_buf(),
            position,
            field,
            message,
        };
        let mut file: SuiteFile =
            input::parse_ron(text, 32).map_err(|e| error(e.position, e.field, e.message))?;
        file.tests = expand_varied(std::mem::take(&mut file.tests))
            .map_err(|(field, message)| error(locate(text, &field), field, message))?;
        file.validate()
            .map_err(|(field, message)| error(locate(text, &field), field, message))?;
        Ok(file)
    }

    /// Cross-field checks. Errors are (field path, message).
    fn validate(&self) -> Result<(), (String, String)> {
        if self.tests.is_empty() {
            return Err((
                "tests".into(),
                "at least one test is needed, e.g. (name: \"fortio\", scenario: \"test3_fortio.ron\")".into(),
            ));
        }
        let mut names = BTreeSet::new();
        for (i, t) in self.tests.iter().enumerate() {
            let plain = !t.name.is_empty()
                && !t.name.starts_with('.')
                && t.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !plain {
                return Err((
                    format!("tests[{i}].name"),
                    format!(
                        "{:?}: a test name is a directory name: letters, digits, '-', '_' and '.'",
                        t.name
                    ),
                ));
            }
            if !names.insert(t.name.as_str()) {
                return Err((
                    format!("tests[{i}].name"),
                    format!("test name {:?} is used twice", t.name),
                ));
            }
        }
        let valid = names.iter().copied().collect::<Vec<_>>().join(", ");
        let mut refs: Vec<(String, &str)> = Vec::new();
        refs.extend(
            self.latency
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("latency[{i}].test"), r.test.as_str())),
        );
        refs.extend(
            self.throughput
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("throughput[{i}].test"), r.test.as_str())),
        );
        refs.extend(
            self.failover
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("failover[{i}].test"), r.test.as_str())),
        );
        refs.extend(
            self.bulk
                .iter()
                .enumerate()
                .map(|(i, r)| (format!("bulk[{i}].test"), r.test.as_str())),
        );
        for (field, test) in refs {
            if !names.contains(test) {
                return Err((field, format!("no test {test:?}; the tests: {valid}")));
            }
        }
        Ok(())
    }
}

/// A test with `vary` becomes one test per value, `<name>-<value>`, each with that one value.
/// Errors are (field path, message).
fn expand_varied(tests: Vec<TestSpec>) -> Result<Vec<TestSpec>, (String, String)> {
    let mut out = Vec::with_capacity(tests.len());
    for (i, t) in tests.into_iter().enumerate() {
        match &t.vary {
            Some(axis) if axis.values.is_empty() => {
                return Err((
                    format!("tests[{i}].vary.values"),
                    "give at least one value".into(),
                ))
            }
            Some(axis) => {
                for v in &axis.values {
                    let mut one = t.clone();
                    one.name = format!("{}-{}", t.name, crate::sweep::path::label(&v.0));
                    one.vary = Some(crate::sweep::Axis {
                        path: axis.path.clone(),
                        values: vec![v.clone()],
                    });
                    out.push(one);
                }
            }
            None => out.push(t),
        }
    }
    Ok(out)
}

/// Mean and 95 % confidence interval of a sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Sample mean.
    pub mean: f64,
    /// `mean ± t(0.975, n-1) · s / √n` (Student t, sample standard deviation); `None` for
    /// n = 1.
    pub ci95: Option<(f64, f64)>,
    /// Sample size.
    pub n: usize,
}

impl Stats {
    /// The statistics of `values` (at least one).
    pub fn of(values: &[f64]) -> Stats {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n.max(1) as f64;
        let ci95 = (n > 1).then(|| {
            let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            let half = t975(n - 1) * (var / n as f64).sqrt();
            (mean - half, mean + half)
        });
        Stats { mean, ci95, n }
    }

    /// Half the interval's width (0 for n = 1).
    pub fn half_width(&self) -> f64 {
        self.ci95.map_or(0.0, |(lo, hi)| (hi - lo) / 2.0)
    }
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom: exact table to 30, then
/// the Cornish-Fisher expansion around the normal quantile (error < 1e-4 beyond 30).
pub fn t975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010,
        2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739,
        2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        _ => {
            let z: f64 = 1.959_964;
            let d = df as f64;
            let z3 = z.powi(3);
            let z5 = z.powi(5);
            let z7 = z.powi(7);
            z + (z3 + z) / (4.0 * d)
                + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * d * d)
                + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * d * d * d)
        }
    }
}

/// How to run a suite.
#[derive(Debug, Clone, Copy)]
pub struct SuiteOptions {
    /// Iterations (overrides the file's).
    pub iterations: Option<u32>,
    /// Seed of the first iteration; iteration k runs seed `first_seed + k - 1`.
    pub first_seed: u64,
}

impl Default for SuiteOptions {
    fn default() -> Self {
        SuiteOptions {
            iterations: None,
            first_seed: 1,
        }
    }
}

/// One test's runs.
#[derive(Debug)]
pub struct TestRuns {
    /// The test's name.
    pub name: String,
    /// Seeds, one per iteration.
    pub seeds: Vec<u64>,
    /// `results[k][v]`: iteration k, variant v (in the scenario's order).
    pub results: Vec<Vec<RunResult>>,
}

/// Everything a suite run produced.
#[derive(Debug)]
pub struct SuiteRun {
    /// Per test, in the suite's order.
    pub tests: Vec<TestRuns>,
}

impl SuiteRun {
    /// Every run, in job order.
    pub fn runs(&self) -> impl Iterator<Item = &RunResult> {
        self.tests.iter().flat_map(|t| t.results.iter().flatten())
    }
}

/// The number of (test, seed, variant) jobs a suite run has.
pub fn job_count(suite: &Suite, opts: &SuiteOptions) -> usize {
    let iterations = opts.iterations.unwrap_or(suite.file.iterations) as usize;
    suite
        .scenarios
        .iter()
        .map(|s| s.variant_list().len() * iterations)
        .sum()
}

/// The seed of every iteration: `first_seed + k - 1` for iteration k.
pub fn seeds(suite: &Suite, opts: &SuiteOptions) -> Vec<u64> {
    let iterations = u64::from(opts.iterations.unwrap_or(suite.file.iterations).max(1));
    (0..iterations)
        .map(|k| opts.first_seed.wrapping_add(k))
        .collect()
}

/// The scenario file of each test, as [`Suite::load`] found it (relative to the suite file).
pub fn scenario_paths(suite: &Suite) -> Vec<PathBuf> {
    let base = suite.path.parent().unwrap_or(Path::new("."));
    suite
        .file
        .tests
        .iter()
        .map(|t| base.join(&t.scenario))
        .collect()
}

/// The events a test's runs will handle ([`crate::cost`]), so the longest jobs start first and
/// the last one to finish is short.
fn cost_estimate(s: &Scenario) -> f64 {
    crate::cost::estimate(s).events()
}

/// Run every (test, seed, variant) of the suite as independent jobs on rayon's pool; `tick`
/// is called once per finished job (from worker threads: a progress bar).
///
/// # Errors
/// The first failed job's [`SuiteError::Lab`], in job order.
pub fn run(
    suite: &Suite,
    opts: &SuiteOptions,
    tick: &(dyn Fn() + Sync),
) -> Result<SuiteRun, SuiteError> {
    let seeds = seeds(suite, opts);
    let variants: Vec<_> = suite.scenarios.iter().map(Scenario::variant_list).collect();
    // (test, seed index, variant index), in declared order.
    let mut jobs: Vec<(usize, usize, usize)> = Vec::new();
    for (t, vs) in variants.iter().enumerate() {
        for k in 0..seeds.len() {
            for v in 0..vs.len() {
                jobs.push((t, k, v));
            }
        }
    }
    // Longest first (stable: ties keep declared order); the order of execution cannot reach a
    // result, since each job is its own deterministic simulation.
    let costs: Vec<f64> = suite.scenarios.iter().map(cost_estimate).collect();
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by(|&a, &b| costs[jobs[b].0].total_cmp(&costs[jobs[a].0]));
    let done: Vec<(usize, Result<RunResult, LabError>)> = order
        .par_iter()
        .with_max_len(1)
        .map(|&j| {
            let (t, k, v) = jobs[j];
            let r = run_variant(&suite.scenarios[t], &variants[t][v], seeds[k]);
            tick();
            (j, r)
        })
        .collect();
    let mut slots: Vec<Option<Result<RunResult, LabError>>> =
        (0..jobs.len()).map(|_| None).collect();
    for (j, r) in done {
        slots[j] = Some(r);
    }
    let mut tests: Vec<TestRuns> = suite
        .file
        .tests
        .iter()
        .map(|t| TestRuns {
            name: t.name.clone(),
            seeds: seeds.clone(),
            results: seeds.iter().map(|_| Vec::new()).collect(),
        })
        .collect();
    for (j, slot) in slots.into_iter().enumerate() {
        let (t, k, _) = jobs[j];
        match slot {
            Some(Ok(r)) => tests[t].results[k].push(r),
            Some(Err(source)) => {
                return Err(SuiteError::Lab {
                    test: tests[t].name.clone(),
                    seed: seeds[k],
                    source,
                })
            }
            None => unreachable!("every job index is run exactly once"),
        }
    }
    Ok(SuiteRun { tests })
}

/// One run's numbers, by metric name (units in the names, as in summary.csv).
pub fn metrics(s: &Scenario, r: &RunResult) -> Vec<(&'static str, f64)> {
    let mut m = Vec::new();
    let window = load_window_s(s);
    m.push(("requests_ok", r.counts.ok as f64));
    m.push((
        "errors",
        (r.counts.reset + r.counts.timeout + r.counts.refused) as f64,
    ));
    if r.counts.ok > 0 {
        let ms = |q: f64| r.latency.quantile(q).as_millis_f64();
        m.push(("latency_p50_ms", ms(0.5)));
        m.push(("latency_p99_ms", ms(0.99)));
        m.push(("latency_p999_ms", ms(0.999)));
        m.push(("latency_mean_ms", r.latency.mean().as_millis_f64()));
        if window > 0.0 {
            m.push(("throughput_rps", r.counts.ok as f64 / window));
        }
    }
    if let Some(offered) = offered_rps(s) {
        m.push(("offered_rps", offered));
    }
    let busiest = r
        .node_cpu
        .iter()
        .map(|&(cores, busy)| busy.as_secs_f64() / (f64::from(cores.max(1)) * window))
        .fold(0.0, f64::max);
    if window > 0.0 {
        m.push(("busiest_node_cpu_pct", 100.0 * busiest));
    }
    if let Some((gap, _)) = r.failover() {
        m.push(("failover_s", gap.as_secs_f64()));
        m.push((
            "failover_open_at_end",
            if r.failover_open_at_end() { 1.0 } else { 0.0 },
        ));
    }
    if r.lost_probes().is_some() {
        let p = &r.probe_counts;
        m.push(("probes_sent", p.sent as f64));
        m.push(("probes_answered", p.answered as f64));
        m.push(("probes_lost", p.lost as f64));
    }
    if !r.bulk.is_empty() {
        m.push(("bulk_sent_bps", r.bulk.iter().map(|b| b.sent_bps).sum()));
        m.push((
            "bulk_received_bps",
            r.bulk.iter().map(|b| b.received_bps).sum(),
        ));
        let rtt = r.bulk.iter().map(|b| b.mean_rtt_us).sum::<f64>() / r.bulk.len() as f64;
        m.push(("bulk_mean_rtt_us", rtt));
    }
    m
}

/// Requests per second the clients intend to send, when every request client is paced
/// (fortio, vegeta, open loop); `None` when one is closed loop (it sends as fast as answers
/// come, so what it "offers" is what it gets).
fn offered_rps(s: &Scenario) -> Option<f64> {
    let mut total = 0.0;
    for c in &s.clients {
        let count = f64::from(c.count);
        match c.load {
            Load::Fortio { qps, .. } => total += qps * count,
            Load::Vegeta { rate, .. } | Load::OpenLoop { rate, .. } => total += rate * count,
            Load::ClosedLoop { .. } | Load::Wrk { .. } => return None,
            Load::Iperf3 { .. } | Load::Ping { .. } => {}
        }
    }
    (total > 0.0).then_some(total)
}

/// The seconds the clients were issuing requests: first start to last stop (the tools' `-t`).
fn load_window_s(s: &Scenario) -> f64 {
    let end = s.duration.as_secs_f64();
    let start = s
        .clients
        .iter()
        .map(|c| c.start.as_secs_f64())
        .fold(f64::INFINITY, f64::min);
    let stop = s
        .clients
        .iter()
        .map(|c| c.stop.map_or(end, |t| t.as_secs_f64().min(end)))
        .fold(0.0, f64::max);
    (stop - start).max(0.0)
}

/// Per test, variant and metric: the statistics over iterations.
#[derive(Debug, Clone, Default)]
pub struct Aggregate {
    /// `(test, variant, metric)` -> statistics; in suite, variant and metric order.
    pub rows: Vec<(String, String, &'static str, Stats)>,
    index: BTreeMap<(String, String, &'static str), usize>,
}

impl Aggregate {
    /// Aggregate a suite run.
    pub fn of(suite: &Suite, run: &SuiteRun) -> Aggregate {
        let mut agg = Aggregate::default();
        for (t, test) in run.tests.iter().enumerate() {
            let scenario = &suite.scenarios[t];
            let variants = scenario.variant_list();
            for (v, variant) in variants.iter().enumerate() {
                // metric -> values over iterations, in first-seen order
                let mut order: Vec<&'static str> = Vec::new();
                let mut values: BTreeMap<&'static str, Vec<f64>> = BTreeMap::new();
                for iteration in &test.results {
                    let Some(r) = iteration.get(v) else { continue };
                    for (name, value) in metrics(scenario, r) {
                        let e = values.entry(name).or_default();
                        if e.is_empty() {
                            order.retain(|n| *n != name);
                            order.push(name);
                        }
                        e.push(value);
                    }
                }
                for name in order {
                    let stats = Stats::of(&values[name]);
                    agg.index.insert(
                        (test.name.clone(), variant.name.clone(), name),
                        agg.rows.len(),
                    );
                    agg.rows
                        .push((test.name.clone(), variant.name.clone(), name, stats));
                }
            }
        }
        agg
    }

    /// The statistics of one metric, if any iteration had it.
    pub fn get(&self, test: &str, variant: &str, metric: &'static str) -> Option<Stats> {
        self.index
            .get(&(test.to_string(), variant.to_string(), metric))
            .map(|&i| self.rows[i].3)
    }

    /// `suite.csv`: one row per test, variant and metric.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("test,variant,metric,mean,ci95_low,ci95_high,n\n");
        for (test, variant, metric, s) in &self.rows {
            let (lo, hi) = s.ci95.map_or((String::new(), String::new()), |(l, h)| {
                (format!("{l:.6}"), format!("{h:.6}"))
            });
            let _ = writeln!(
                out,
                "{test},{variant},{metric},{:.6},{lo},{hi},{}",
                s.mean, s.n
            );
        }
        out
    }
}

/// `12.345 ± 0.678` with `decimals`, or the value alone for one iteration; `-` if absent.
pub(crate) fn pm(s: Option<Stats>, scale: f64, decimals: usize) -> String {
    match s {
        None => "-".into(),
        Some(s) if s.n > 1 => format!(
            "{:.decimals$} ± {:.decimals$}",
            s.mean * scale,
            s.half_width() * scale
        ),
        Some(s) => format!("{:.decimals$}", s.mean * scale),
    }
}

/// `(b - a) / a` in percent, as the blog's analyze_benchmark.py prints it.
fn diff_pct(a: Option<Stats>, b: Option<Stats>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if a.mean != 0.0 => {
            format!("{:+.1}%", (b.mean - a.mean) / a.mean * 100.0)
        }
        _ => "n/a".into(),
    }
}

/// The comparison tables, as `sim suite` prints them.
pub fn tables(suite: &Suite, run: &SuiteRun, agg: &Aggregate) -> String {
    let mut out = String::new();
    let iterations = run.tests.first().map_or(0, |t| t.seeds.len());
    let seeds = run
        .tests
        .first()
        .map(|t| match (t.seeds.first(), t.seeds.last()) {
            (Some(a), Some(b)) if a != b => format!("seeds {a}..={b}"),
            (Some(a), _) => format!("seed {a}"),
            _ => String::new(),
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "{} — {} tests, {} iteration{} ({seeds}); each cell: mean{}",
        suite.file.name,
        run.tests.len(),
        iterations,
        if iterations == 1 { "" } else { "s" },
        if iterations > 1 {
            " ± half-width of the 95 % confidence interval (Student t)"
        } else {
            ""
        }
    );
    let f = &suite.file;
    if !f.latency.is_empty() {
        let _ = writeln!(
            out,
            "\n(a) latency, ms: L2 vs BGP (difference: (BGP - L2) / L2)"
        );
        let lw = crate::report::column_width(f.latency.iter().map(|r| r.label.as_str()), 6);
        let _ = writeln!(
            out,
            "{:<lw$}  {:<6} {:>18} {:>18} {:>10}",
            "source", "metric", "L2", "BGP", "difference"
        );
        let metrics = [
            ("p50", "latency_p50_ms", 1.0),
            ("p99", "latency_p99_ms", 1.0),
            ("p99.9", "latency_p999_ms", 1.0),
        ];
        for r in &f.latency {
            let row = (
                r.label.as_str(),
                r.test.as_str(),
                r.l2.as_str(),
                r.bgp.as_str(),
            );
            compare_rows(&mut out, agg, (lw, 6), row, &metrics, 3);
        }
    }
    if !f.throughput.is_empty() {
        let _ = writeln!(
            out,
            "\n(b) throughput by clients: requests answered per second of the load window; offered: what the paced clients ask for (closed loop: as fast as answers come); CPU: the busiest node's cores, packet work and pods"
        );
        let first: Vec<String> = f
            .throughput
            .iter()
            .map(ThroughputRow::first_column)
            .collect();
        let cw = crate::report::column_width(first.iter().map(String::as_str), 7);
        let _ = writeln!(
            out,
            "{:>cw$}  {:>9} {:>18} {:>18} {:>11} {:>14} {:>14}",
            "clients", "offered", "L2 rps", "BGP rps", "improvement", "L2 CPU %", "BGP CPU %"
        );
        for (r, first) in f.throughput.iter().zip(&first) {
            let a = agg.get(&r.test, &r.l2, "throughput_rps");
            let b = agg.get(&r.test, &r.bgp, "throughput_rps");
            let offered = agg
                .get(&r.test, &r.l2, "offered_rps")
                .map_or_else(|| "max".to_string(), |o| format!("{:.0}", o.mean));
            let cpu = |v: &str| pm(agg.get(&r.test, v, "busiest_node_cpu_pct"), 1.0, 0);
            let _ = writeln!(
                out,
                "{:>cw$}  {:>9} {:>18} {:>18} {:>11} {:>14} {:>14}",
                first,
                offered,
                pm(a, 1.0, 0),
                pm(b, 1.0, 0),
                diff_pct(a, b),
                cpu(&r.l2),
                cpu(&r.bgp)
            );
        }
    }
    if !f.failover.is_empty() {
        let _ = writeln!(
            out,
            "\n(c) failover, s: the longest gap between answered pings (ping -i 0.1); none: no gap exceeded 1.5 intervals in any iteration; + : still down when the probes stopped (a lower bound)"
        );
        let cw = crate::report::column_width(f.failover.iter().map(|r| r.case.as_str()), 8);
        let _ = writeln!(
            out,
            "{:<cw$}  {:>18} {:>18} {:>18}",
            "scenario", "L2", "BGP (no BFD)", "BGP (BFD)"
        );
        let cell = |test: &str, variant: &str| {
            if never_an_outage(suite, run, test, variant) {
                return "none ".to_string();
            }
            let s = agg.get(test, variant, "failover_s");
            let open = agg
                .get(test, variant, "failover_open_at_end")
                .is_some_and(|o| o.mean > 0.0);
            format!("{}{}", pm(s, 1.0, 2), if open { "+" } else { " " })
        };
        for r in &f.failover {
            let _ = writeln!(
                out,
                "{:<cw$}  {:>18} {:>18} {:>18}",
                r.case,
                cell(&r.test, &r.l2),
                cell(&r.test, &r.bgp),
                cell(&r.test, &r.bgp_bfd)
            );
        }
    }
    if !f.bulk.is_empty() {
        let _ = writeln!(out, "\nbulk (iperf3): sender Gbit/s and mean RTT");
        let lw = crate::report::column_width(f.bulk.iter().map(|r| r.label.as_str()), 6);
        let _ = writeln!(
            out,
            "{:<lw$}  {:<11} {:>18} {:>18} {:>10}",
            "source", "metric", "L2", "BGP", "difference"
        );
        let metrics = [
            ("Gbit/s", "bulk_sent_bps", 1e-9),
            ("mean RTT us", "bulk_mean_rtt_us", 1.0),
        ];
        for r in &f.bulk {
            let row = (
                r.label.as_str(),
                r.test.as_str(),
                r.l2.as_str(),
                r.bgp.as_str(),
            );
            compare_rows(&mut out, agg, (lw, 11), row, &metrics, 2);
        }
    }
    out
}

/// Whether every iteration of `variant` in `test` had ping probes and none of them saw an
/// outage (no gap between answers longer than 1.5 probe intervals).
fn never_an_outage(suite: &Suite, run: &SuiteRun, test: &str, variant: &str) -> bool {
    let Some(t) = suite.test_index(test) else {
        return false;
    };
    let Some(v) = suite.scenarios[t]
        .variant_list()
        .iter()
        .position(|x| x.name == variant)
    else {
        return false;
    };
    run.tests[t].results.iter().all(|iteration| {
        iteration
            .get(v)
            .is_some_and(|r| r.failover().is_some() && !r.had_outage())
    })
}

/// One L2-vs-BGP line per `(name, metric, scale)` of one source `(label, test, l2, bgp)`; the
/// label only on the first line. `widths`: the label and metric-name columns.
fn compare_rows(
    out: &mut String,
    agg: &Aggregate,
    (lw, mw): (usize, usize),
    (label, test, l2, bgp): (&str, &str, &str, &str),
    metrics: &[(&str, &'static str, f64)],
    decimals: usize,
) {
    for (i, &(name, metric, scale)) in metrics.iter().enumerate() {
        let a = agg.get(test, l2, metric);
        let b = agg.get(test, bgp, metric);
        let _ = writeln!(
            out,
            "{:<lw$}  {:<mw$} {:>18} {:>18} {:>10}",
            if i == 0 { label } else { "" },
            name,
            pm(a, scale, decimals),
            pm(b, scale, decimals),
            diff_pct(a, b)
        );
    }
}

/// Write `OUT/<test>/seed-<S>/` (each run's CSVs and tool files), the first iteration's tool
/// files of `top_level` tests in `OUT/`, and `OUT/suite.csv`, into `out`.
///
/// # Errors
/// A [`SuiteError::Out`] naming the path.
pub fn write_out(
    out: &OutDir,
    suite: &Suite,
    run: &SuiteRun,
    agg: &Aggregate,
    epoch_s: u64,
) -> Result<(), SuiteError> {
    for (spec, test) in suite.file.tests.iter().zip(&run.tests) {
        for (k, results) in test.results.iter().enumerate() {
            let sub = format!("{}/seed-{}/", test.name, test.seeds[k]);
            output::write_all(out, &sub, results, epoch_s).map_err(SuiteError::Out)?;
            if spec.top_level && k == 0 {
                for r in results {
                    for (name, bytes) in &r.tool_files {
                        out.write(name, bytes).map_err(SuiteError::Out)?;
                    }
                }
            }
        }
    }
    let merged = merged_latency(suite, run);
    let rows = merged
        .iter()
        .flat_map(|(test, variant, h)| crate::rows::suite_histogram(test, variant, h));
    output::write_csv(out, "suite_latency_histogram.csv", rows).map_err(SuiteError::Out)?;
    out.write("suite.csv", agg.to_csv().as_bytes())
        .map_err(SuiteError::Out)
}

/// Per test and variant, the latency histogram of all iterations together.
fn merged_latency<'a>(
    suite: &Suite,
    run: &'a SuiteRun,
) -> Vec<(&'a str, String, sim_core::LatencyHistogram)> {
    let mut out = Vec::new();
    for (t, test) in run.tests.iter().enumerate() {
        for (v, variant) in suite.scenarios[t].variant_list().iter().enumerate() {
            let mut h = sim_core::LatencyHistogram::new();
            for r in test.results.iter().filter_map(|it| it.get(v)) {
                h.merge(&r.latency);
            }
            out.push((test.name.as_str(), variant.name.clone(), h));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_tables() {
        assert!((t975(1) - 12.706).abs() < 1e-3);
        assert!((t975(9) - 2.262).abs() < 1e-3);
        // Beyond the table: t(0.975, 40) = 2.0211, 60 = 2.0003, 120 = 1.9799.
        assert!((t975(40) - 2.0211).abs() < 2e-4, "{}", t975(40));
        assert!((t975(60) - 2.0003).abs() < 2e-4, "{}", t975(60));
        assert!((t975(120) - 1.9799).abs() < 2e-4, "{}", t975(120));
        // Continuity at the seam.
        assert!(t975(31) < t975(30) && t975(31) > 2.03);
    }

    #[test]
    fn one_value_has_no_interval() {
        let s = Stats::of(&[4.0]);
        assert_eq!((s.mean, s.ci95, s.n), (4.0, None, 1));
        assert_eq!(pm(Some(s), 1.0, 2), "4.00");
    }
}

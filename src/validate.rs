//! Checking a file before anything runs: the one entry point through which `sim validate`,
//! `sim run` and `sim suite` load what they are given, so a check added to [`check_file`]
//! applies to all three.
//!
//! ```text
//!  path ─▶ check_file ─┬─ a suite (a directory, `suite.ron`, or a top level with `tests`)
//!                      │     ─▶ Suite::load (the suite file, then every scenario it lists)
//!                      ├─ a sweep (a top level with `scenario`) ─▶ Sweep::load (every point)
//!                      └─ otherwise ─▶ Scenario::load (bytes ─▶ text ─▶ RON ─▶ validation)
//!                                            │
//!                  Report { checked, warnings() } ◀─┘   or Error (file:line:col: field: why)
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use crate::cost::{self, Assumptions, Estimate, Limits};
use crate::input;
use crate::scenario::{Scenario, ScenarioError, Warning};
use crate::suite::{Suite, SuiteError, SUITE_FILE};
use crate::sweep::{Sweep, SweepArgs, SweepError};

/// What a file turned out to be, loaded and validated.
#[derive(Debug)]
pub enum Checked {
    /// A scenario file.
    Scenario(Box<Scenario>),
    /// A suite file and the scenarios it lists.
    Suite(Box<Suite>),
    /// A sweep file, every point built and checked.
    Sweep(Box<Sweep>),
}

/// A file that passed.
#[derive(Debug)]
pub struct Report {
    /// The path as given.
    pub file: PathBuf,
    /// What it holds.
    pub checked: Checked,
    /// What running it costs (a scenario: `sim run`; a suite: `sim suite` with the file's
    /// iterations); none for a sweep, which sizes its parallelism to the memory it has.
    pub estimate: Option<Estimate>,
}

impl Report {
    /// The warnings of the scenario, or of every scenario of the suite in the suite's order.
    pub fn warnings(&self) -> Vec<&Warning> {
        match &self.checked {
            Checked::Scenario(s) => s.warnings.iter().collect(),
            Checked::Suite(s) => s.scenarios.iter().flat_map(|s| &s.warnings).collect(),
            Checked::Sweep(s) => s.warnings.iter().collect(),
        }
    }

    /// One line for `sim validate`: `ok (3 variants)`, `ok (suite of 14 tests)`.
    pub fn summary(&self) -> String {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        match &self.checked {
            Checked::Scenario(s) => format!(
                "ok ({}{})",
                plural(s.variant_list().len(), "variant"),
                self.cost_summary()
            ),
            Checked::Suite(s) => {
                let variants = s.scenarios.iter().map(|s| s.variant_list().len()).sum();
                format!(
                    "ok (suite of {}, {}{})",
                    plural(s.scenarios.len(), "test"),
                    plural(variants, "variant"),
                    self.cost_summary()
                )
            }
            Checked::Sweep(s) => format!(
                "ok (sweep of {} x {} x {})",
                plural(s.points.len(), "point"),
                plural(s.def.seeds.len(), "seed"),
                plural(s.def.variants.len(), "variant")
            ),
        }
    }
}

impl Report {
    /// `; about 8,273,783 events, peak memory 11.1 MiB`, or nothing without an estimate.
    fn cost_summary(&self) -> String {
        self.estimate.as_ref().map_or_else(String::new, |e| {
            format!(
                "; about {} events, peak memory {}",
                cost::count(e.events()),
                cost::bytes(e.peak_memory())
            )
        })
    }
}

/// Why a file was refused: located in the file that is wrong (a suite's scenario errors name
/// the scenario file).
#[derive(Debug)]
pub enum Error {
    /// A scenario file.
    Scenario(ScenarioError),
    /// A suite file or one of its scenarios.
    Suite(SuiteError),
    /// A sweep file, its scenario or one of its points.
    Sweep(SweepError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Scenario(e) => e.fmt(f),
            Error::Suite(e) => e.fmt(f),
            Error::Sweep(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

/// Load and validate `path`: a suite (a directory holding `suite.ron`, a file named
/// `suite.ron`, or a file whose top level has `tests` and no `nodes`), a sweep file (a top
/// level with `scenario` and no `name`) or a scenario.
///
/// # Errors
/// An [`Error`] with the file, line, column, field and what would be valid.
pub fn check_file(path: &Path) -> Result<Report, Error> {
    check_file_with(path, &Limits::default(), &Assumptions::default())
}

/// [`check_file`], then refuse what running it would cost beyond `limits` ([`cost::check`]):
/// the refusal is located at the field responsible, in the scenario file it is about.
///
/// # Errors
/// An [`Error`] with the file, line, column, field and what would be valid, or the estimate
/// against the limit.
pub fn check_file_with(
    path: &Path,
    limits: &Limits,
    assume: &Assumptions,
) -> Result<Report, Error> {
    let (checked, estimate) = if is_suite(path) {
        let suite = Suite::load(path).map_err(Error::Suite)?;
        let e = cost::estimate_suite(&suite, &crate::suite::SuiteOptions::default(), assume);
        cost::check(&e, limits).map_err(|r| Error::Suite(cost::located_in_suite(&suite, r)))?;
        (Checked::Suite(Box::new(suite)), Some(e))
    } else if is_sweep(path) {
        let sweep = Sweep::load(path, &SweepArgs::default()).map_err(Error::Sweep)?;
        (Checked::Sweep(Box::new(sweep)), None)
    } else {
        let s = Scenario::load(path).map_err(Error::Scenario)?;
        let e = cost::estimate_with(&s, assume);
        cost::check(&e, limits).map_err(|r| Error::Scenario(cost::located(path, r)))?;
        (Checked::Scenario(Box::new(s)), Some(e))
    };
    Ok(Report {
        file: path.to_path_buf(),
        checked,
        estimate,
    })
}

/// Whether `path` is a suite rather than a scenario. A file that cannot be read is taken as a
/// scenario, whose loader then says why.
pub fn is_suite(path: &Path) -> bool {
    if path.is_dir() || path.file_name().is_some_and(|n| n == SUITE_FILE) {
        return true;
    }
    let fields = top_level_fields(path);
    fields.iter().any(|f| f == "tests") && !fields.iter().any(|f| f == "nodes")
}

/// Whether `path` is a sweep file ([`crate::sweep::is_sweep_file`]).
pub fn is_sweep(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    input::decode(&bytes).is_ok_and(crate::sweep::is_sweep_file)
}

/// The top-level field names of the RON file at `path` (none when it cannot be read).
fn top_level_fields(path: &Path) -> Vec<String> {
    let Ok(bytes) = std::fs::read(path) else {
        return Vec::new();
    };
    let Ok(text) = input::decode(&bytes) else {
        return Vec::new();
    };
    input::top_level_fields(text)
        .into_iter()
        .map(String::from)
        .collect()
}

//! Runs every variant of a scenario, side by side on all cores, results in declared order.

use rayon::prelude::*;

use crate::lab::{run_variant_opts, LabError, RunOptions, RunResult};
use crate::scenario::Scenario;

/// The results of all variants, in the order the scenario lists them.
///
/// # Errors
/// The first variant's [`LabError`], in declared order.
pub fn run_all(scenario: &Scenario, seed: u64) -> Result<Vec<RunResult>, LabError> {
    run_all_opts(scenario, seed, &RunOptions::default())
}

/// As [`run_all`], capturing each variant's control plane to pcap when `capture` is set.
///
/// # Errors
/// The first variant's [`LabError`], in declared order.
pub fn run_all_with(
    scenario: &Scenario,
    seed: u64,
    capture: bool,
) -> Result<Vec<RunResult>, LabError> {
    run_all_opts(
        scenario,
        seed,
        &RunOptions {
            capture,
            ..RunOptions::default()
        },
    )
}

/// As [`run_all`], with [`RunOptions`] for every variant.
///
/// # Errors
/// The first variant's [`LabError`], in declared order.
pub fn run_all_opts(
    scenario: &Scenario,
    seed: u64,
    opts: &RunOptions,
) -> Result<Vec<RunResult>, LabError> {
    let variants = scenario.variant_list();
    // Each variant is its own single-threaded simulation: parallelism never reaches inside a
    // run, so the thread count cannot change a result.
    let results: Vec<Result<RunResult, LabError>> = variants
        .par_iter()
        .map(|v| run_variant_opts(scenario, v, seed, opts))
        .collect();
    results.into_iter().collect()
}

//! Running a sweep: point x seed x variant jobs on rayon's pool, at most as many at once as
//! the memory budget allows, each reduced to its metrics as soon as it ends.

use rayon::prelude::*;

use super::budget;
use super::{Shard, Sweep, SweepError};
use crate::lab::{run_variant, RunResult};
use crate::report::RunTotals;
use crate::scenario::Scenario;

/// One number one run measured: a row of sweep.csv.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The point.
    pub point: usize,
    /// The seed.
    pub seed: u64,
    /// The variant.
    pub variant: String,
    /// The metric, unit in its name (as in suite.csv, and more: see docs/sweep.md).
    pub metric: String,
    /// Its value.
    pub value: f64,
}

/// One run's numbers, by metric name: the suite's (requests, errors, latency percentiles,
/// throughput, failover, probes, bulk) and the errors by kind and the connections that route
/// changes moved and broke.
pub fn metrics(s: &Scenario, r: &RunResult) -> Vec<(&'static str, f64)> {
    let mut m = crate::suite::metrics(s, r);
    m.push(("errors_reset", r.counts.reset as f64));
    m.push(("errors_timeout", r.counts.timeout as f64));
    m.push(("errors_refused", r.counts.refused as f64));
    m.push(("connections_moved", r.connections_moved() as f64));
    m.push(("connections_broken", r.connections_broken() as f64));
    m
}

/// How to run a sweep.
#[derive(Debug, Clone, Copy)]
pub struct RunPlan {
    /// Which points.
    pub shard: Shard,
    /// Memory the runs in flight may use together; `None`: no limit.
    pub memory_limit: Option<u64>,
    /// Threads at most (rayon's pool size by default).
    pub threads: usize,
}

impl Default for RunPlan {
    fn default() -> Self {
        RunPlan {
            shard: Shard::ALL,
            memory_limit: None,
            threads: rayon::current_num_threads(),
        }
    }
}

/// What a sweep produced: the records in point, seed, variant, metric order, the totals for
/// the closing line, and how many runs were in flight at most.
#[derive(Debug, Clone)]
pub struct SweepRun {
    /// sweep.csv's rows.
    pub records: Vec<Record>,
    /// Runs, simulated time, events and requests, summed.
    pub totals: RunTotals,
    /// The parallelism the memory budget allowed.
    pub in_flight: usize,
}

/// Run the points of `plan.shard`; `tick` is called once per finished run (from worker
/// threads: a progress bar).
///
/// # Errors
/// A run whose memory estimate alone exceeds the limit (before anything runs), or the first
/// failed run in job order.
pub fn run(
    sweep: &Sweep,
    plan: &RunPlan,
    tick: &(dyn Fn() + Sync),
) -> Result<SweepRun, SweepError> {
    let labels = sweep.def.labels();
    // (point, seed index, variant index), in declared order.
    let mut jobs: Vec<(usize, usize, usize)> = Vec::new();
    for (p, point) in sweep.points.iter().enumerate() {
        if !plan.shard.has(p) {
            continue;
        }
        for k in 0..sweep.def.seeds.len() {
            for v in 0..point.variants.len() {
                jobs.push((p, k, v));
            }
        }
    }
    let describe = |&(p, k, v): &(usize, usize, usize)| {
        let values: Vec<String> = sweep
            .def
            .axes
            .iter()
            .zip(&labels[p])
            .map(|(a, l)| format!("{}={l}", a.path))
            .collect();
        format!(
            "point {p} ({}), seed {}, variant {}",
            values.join(" "),
            sweep.def.seeds[k],
            sweep.points[p].variants[v].name
        )
    };
    let estimates: Vec<u64> = jobs
        .iter()
        .map(|&(p, _, v)| {
            let point = &sweep.points[p];
            budget::estimate_peak_bytes(&point.scenario, &point.variants[v])
        })
        .collect();
    let in_flight = budget::max_in_flight(&estimates, plan.memory_limit, plan.threads).map_err(|j| {
        SweepError::Memory(format!(
            "{}: one run is estimated at {} MiB, more than the memory limit of {} MiB; raise --max-memory or make the run smaller",
            describe(&jobs[j]),
            estimates[j] >> 20,
            plan.memory_limit.unwrap_or(0) >> 20
        ))
    })?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(in_flight)
        .build()
        .map_err(|e| SweepError::Arg(format!("cannot start {in_flight} threads: {e}")))?;
    // Each job is its own deterministic simulation and collect keeps job order, so neither the
    // pool size nor the schedule can reach a result. A run is reduced to its metrics at once:
    // only the runs in flight hold their full results.
    let done: Vec<_> = pool.install(|| {
        jobs.par_iter()
            .with_max_len(1)
            .map(|&(p, k, v)| {
                let point = &sweep.points[p];
                let seed = sweep.def.seeds[k];
                let out = run_variant(&point.scenario, &point.variants[v], seed).map(|r| {
                    let mut t = RunTotals::default();
                    t.add(&r);
                    (metrics(&point.scenario, &r), t)
                });
                tick();
                out
            })
            .collect()
    });
    let mut records = Vec::new();
    let mut totals = RunTotals::default();
    for (job, result) in jobs.iter().zip(done) {
        let (m, t) = result.map_err(|source| SweepError::Lab {
            run: describe(job),
            source,
        })?;
        let &(p, k, v) = job;
        totals.runs += t.runs;
        totals.sim_s += t.sim_s;
        totals.events += t.events;
        totals.requests += t.requests;
        let variant = &sweep.points[p].variants[v].name;
        records.extend(m.into_iter().map(|(metric, value)| Record {
            point: p,
            seed: sweep.def.seeds[k],
            variant: variant.clone(),
            metric: metric.to_string(),
            value,
        }));
    }
    Ok(SweepRun {
        records,
        totals,
        in_flight,
    })
}

//! lbsim's integration tests, one binary with a module per concern.

mod bad_scenarios;
mod cli;
mod control;
mod dataplane;
mod determinism;
mod layer2;
mod scenarios;
mod suite;
mod tools;

use std::path::Path;

use lbsim::lab::{run_variant, RunResult};
use lbsim::scenario::Scenario;

/// Parse scenario text (panics with the error: tests only).
pub fn scenario(text: &str) -> Scenario {
    Scenario::parse(Path::new("test.ron"), text).unwrap_or_else(|e| panic!("{e}"))
}

/// Run every variant of a scenario.
pub fn run(s: &Scenario) -> Vec<RunResult> {
    s.variant_list()
        .iter()
        .map(|v| run_variant(s, v, s.seed).unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// A small keep-alive BGP-mode cluster; `extra` is spliced into the top-level struct.
pub fn small(extra: &str) -> String {
    format!(
        r#"(
        name: "small",
        duration: "10s",
        nodes: (count: 4, cores: 2, packet_cost: "1us"),
        service: (pods: (replicas: 4, service_time: Exponential(mean: "100us"))),
        clients: [(name: "c", count: 4, load: OpenLoop(rate: 200), connections: KeepAlive(pool: 8), timeout: "1s")],
        {extra}
    )"#
    )
}

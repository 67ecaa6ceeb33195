//! lbsim's integration tests, one binary with a module per concern.

mod bad_scenarios;
mod calib;
mod cli;
mod compare;
mod control;
mod cost;
mod dataplane;
mod determinism;
mod dns_split;
mod ingress;
mod layer2;
mod mitigations;
mod outputs;
mod plotdata;
mod profile;
mod prometheus;
mod report;
mod scenarios;
mod services;
mod suite;
mod sweep;
mod tools;

use std::path::Path;

use lbsim::lab::{run_variant, RunResult};
use lbsim::scenario::Scenario;

/// Run the `sim` binary in `cwd`: (success, stdout, stderr).
pub fn sim_in(cwd: &Path, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

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

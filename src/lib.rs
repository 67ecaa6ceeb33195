//! lbsim: a deterministic, in-process lab simulator of bare-metal Kubernetes load balancing.
//!
//! ```text
//!  scenario (RON) ─▶ Scenario ─▶ variants ─▶ lab::run_variant (one Simulation each, in parallel)
//!                                          └▶ RunResult ─▶ report (terminal) + output (CSV)
//! ```
//! The engine lives in `sim-core`, ECMP and the BGP protocols in `bgp`, Layer 2 in `l2`.
#![warn(missing_docs)]

pub mod cluster;
pub mod compare;
pub mod cost;
pub mod dns;
pub mod hashcalc;
pub mod html;
pub mod ingress;
pub mod input;
pub mod lab;
pub mod manifest;
pub mod mitigations;
pub mod openmetrics;
pub mod outdir;
pub mod output;
pub mod profile;
pub mod report;
pub mod rows;
pub mod runner;
pub mod scenario;
pub mod suite;
pub mod sweep;
pub mod tools;
pub mod validate;

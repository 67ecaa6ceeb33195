//! The cost estimate: the limits' flags; the run-time guard; progress changing nothing; and
//! honesty: for every bundled scenario the estimate is within 0.5-2x (or 32 MiB) of the
//! measured peak RSS and within 25 % of the events, measured in a separate `sim` process.
//! (The blow-ups it refuses are cases of the bad-scenario corpus, `blowup_*.ron`, checked
//! through `validate::check_file` with the rest of the corpus.)

use std::path::{Path, PathBuf};

use lbsim::cost;
use lbsim::scenario::Scenario;
use lbsim::suite::{self, Suite, SuiteOptions};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn sim(args: &[&str]) -> (bool, String, String) {
    crate::sim_in(&repo(""), args)
}

#[test]
fn the_limits_are_flags_on_validate_run_and_suite() {
    let rehash = repo("scenarios/rehash.ron");
    let rehash = rehash.to_str().unwrap();
    let (ok, stdout, _) = sim(&["validate", "--cost", rehash]);
    assert!(
        ok && stdout.contains("events") && stdout.contains("peak memory"),
        "{stdout}"
    );
    let (ok, _, stderr) = sim(&["validate", "--max-events", "1e5", rehash]);
    assert!(!ok && stderr.contains("(--max-events)"), "{stderr}");
    assert!(stderr.contains("rehash.ron:"), "{stderr}");
    // Refused before it starts: no table, no closing line.
    let (ok, stdout, stderr) = sim(&["run", "--max-memory", "1MiB", rehash]);
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("more than the limit of 1.0 MiB (--max-memory)"),
        "{stderr}"
    );
    let (ok, _, stderr) = sim(&["run", "--max-memory", "lots", rehash]);
    assert!(!ok && stderr.contains("8GiB"), "{stderr}");
    let blog = repo("scenarios/blog");
    let (ok, stdout, stderr) = sim(&["suite", blog.to_str().unwrap(), "--max-events", "1e6"]);
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("test ") && stderr.contains(".ron:") && stderr.contains("--max-events"),
        "{stderr}"
    );
    // A blow-up that the defaults refuse runs nothing either.
    let case = repo("tests/fixtures/bad-scenarios/blowup_duration_100000h.ron");
    let (ok, stdout, stderr) = sim(&["run", case.to_str().unwrap()]);
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("field `duration`"), "{stderr}");
}

#[test]
fn the_run_time_guard_stops_a_run_that_outgrows_its_events_limit() {
    let s = crate::scenario(&crate::small(""));
    let opts = lbsim::lab::RunOptions {
        max_events: Some(5_000),
        ..lbsim::lab::RunOptions::default()
    };
    let err = lbsim::lab::run_variant_opts(&s, &s.variant_list()[0], 1, &opts).unwrap_err();
    assert!(
        err.to_string()
            .contains("events exceeded the limit of 5000"),
        "{err}"
    );
}

#[test]
fn counting_progress_changes_no_result() {
    let s = crate::scenario(&crate::small(r#"events: [(at: "3s", crash: "node-2")],"#));
    let v = &s.variant_list()[0];
    let plain = lbsim::lab::run_variant(&s, v, 7).unwrap();
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let opts = lbsim::lab::RunOptions {
        progress: Some(counter.clone()),
        max_events: Some(u64::MAX),
        ..lbsim::lab::RunOptions::default()
    };
    let watched = lbsim::lab::run_variant_opts(&s, v, 7, &opts).unwrap();
    assert_eq!(
        counter.load(std::sync::atomic::Ordering::Relaxed),
        watched.events
    );
    assert_eq!(plain.events, watched.events);
    assert_eq!(plain.counts, watched.counts);
    assert_eq!(
        plain.latency.quantile(0.999),
        watched.latency.quantile(0.999)
    );
    assert_eq!(plain.changes, watched.changes);
    assert_eq!(plain.conn_rows, watched.conn_rows);
}

#[test]
fn an_impossible_series_is_a_lab_error_not_an_abort() {
    // Past the cost check (a library caller may skip it): the build reports, never aborts.
    let mut s = crate::scenario(&crate::small(""));
    s.duration = sim_core::SimDuration::from_secs(360_000_000);
    s.timeseries_bucket = sim_core::SimDuration(1);
    let err = match lbsim::lab::Lab::build(&s, &s.variant_list()[0], 1, false) {
        Ok(_) => panic!("a 3.6e17-bucket series was allocated"),
        Err(e) => e,
    };
    assert!(err.to_string().contains("time series need"), "{err}");
}

/// One measured command: events and peak RSS from its closing line.
struct Measured {
    events: f64,
    rss_mib: Option<f64>,
}

fn measure(args: &[&str]) -> Measured {
    let (ok, stdout, stderr) = sim(args);
    assert!(ok, "{args:?}: {stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    let number_before = |word: &str| -> Option<f64> {
        let at = last.find(word)?;
        last[..at]
            .split_whitespace()
            .last()?
            .trim_matches(',')
            .parse()
            .ok()
    };
    let rss_mib = last
        .split("peak RSS ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|v| v.parse().ok());
    Measured {
        events: number_before(" events").unwrap_or_else(|| panic!("no events in {last:?}")),
        rss_mib,
    }
}

/// A case of the honesty table: its name, its estimate, and the command that measures it.
struct Case {
    name: String,
    estimate: cost::Estimate,
    args: Vec<String>,
    /// Keeps a one-test suite's directory alive while it runs.
    _dir: Option<tempfile::TempDir>,
}

/// Every bundled scenario as `sim run` runs it, and each test of the blog suite as the suite
/// runs it (its first iteration, seed 1): a suite of that one test, run by `sim suite`.
fn bundled() -> Vec<Case> {
    let mut cases = Vec::new();
    for dir in ["scenarios", "scenarios/bench"] {
        let mut here: Vec<PathBuf> = std::fs::read_dir(repo(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "ron"))
            .collect();
        here.sort();
        for p in here {
            let s = Scenario::load(&p).unwrap();
            cases.push(Case {
                name: format!("{dir}/{}", p.file_name().unwrap().to_string_lossy()),
                estimate: cost::estimate(&s),
                args: vec!["run".into(), p.display().to_string()],
                _dir: None,
            });
        }
    }
    let blog = Suite::load(&repo("scenarios/blog")).unwrap();
    for (t, path) in blog.file.tests.iter().zip(suite::scenario_paths(&blog)) {
        let vary = t.vary.as_ref().map_or_else(String::new, |a| {
            let values: Vec<String> = a
                .values
                .iter()
                .map(|v| match &v.0 {
                    serde_json::Value::String(s) => format!("{s:?}"),
                    other => lbsim::sweep::path::label(other),
                })
                .collect();
            format!(
                ", vary: (path: {:?}, values: [{}])",
                a.path.to_string(),
                values.join(", ")
            )
        });
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("suite.ron"),
            format!(
                "(name: \"one\", iterations: 1, tests: [(name: {:?}, scenario: {:?}{vary})])",
                t.name,
                path.display().to_string()
            ),
        )
        .unwrap();
        let one = Suite::load(dir.path()).unwrap();
        let opts = SuiteOptions {
            iterations: Some(1),
            first_seed: 1,
        };
        cases.push(Case {
            name: format!("blog suite: {}", t.name),
            estimate: cost::estimate_suite(&one, &opts, &cost::Assumptions::default()),
            args: vec![
                "suite".into(),
                dir.path().display().to_string(),
                "--iterations".into(),
                "1".into(),
                "--seed".into(),
                "1".into(),
            ],
            _dir: Some(dir),
        });
    }
    cases
}

#[test]
fn the_estimate_is_honest_for_every_bundled_scenario() {
    const SLACK_MIB: f64 = 32.0;
    let mut table = format!(
        "{:<44} {:>13} {:>13} {:>7} {:>9} {:>9} {:>6}\n",
        "scenario", "est. events", "events", "diff", "est. MiB", "RSS MiB", "ratio"
    );
    let mut failures = Vec::new();
    let mut rss_missing = false;
    for case in bundled() {
        let e = &case.estimate;
        let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
        let m = measure(&args);
        let est_mib = e.peak_memory() / (1024.0 * 1024.0);
        let diff = (e.events() - m.events) / m.events;
        let name = &case.name;
        let (rss, ratio) = match m.rss_mib {
            Some(r) => (format!("{r:.1}"), format!("{:.2}", est_mib / r)),
            None => ("?".into(), "?".into()),
        };
        table += &format!(
            "{name:<44} {:>13.0} {:>13.0} {:>6.1}% {est_mib:>9.1} {rss:>9} {ratio:>6}\n",
            e.events(),
            m.events,
            100.0 * diff
        );
        if diff.abs() > 0.25 {
            failures.push(format!("{name}: events off by {:.1} %", 100.0 * diff));
        }
        match m.rss_mib {
            Some(r) => {
                let ratio = est_mib / r;
                if !(0.5..=2.0).contains(&ratio) && (est_mib - r).abs() > SLACK_MIB {
                    failures.push(format!(
                        "{name}: memory {est_mib:.1} MiB estimated, {r:.1} MiB measured"
                    ));
                }
            }
            None => rss_missing = true,
        }
    }
    eprintln!("{table}");
    if rss_missing {
        println!("SKIPPED: cost honesty (peak RSS): /proc/self/status has no VmHWM on this system; run on Linux to compare memory");
    }
    assert!(failures.is_empty(), "{}\n{table}", failures.join("\n"));
}

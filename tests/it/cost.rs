//! The cost estimate: blow-ups refused before they start, located at the field responsible;
//! the limits' flags; the run-time guard; and honesty: for every bundled scenario the
//! estimate is within 0.5-2x (or 32 MiB) of the measured peak RSS and within 25 % of the
//! events, measured in a separate `sim` process.

use std::path::{Path, PathBuf};
use std::process::Command;

use lbsim::cost::{self, Assumptions, Limits};
use lbsim::scenario::Scenario;

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn sim(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The corpus's convention: `<case>.expect` lines `field: <path>`, `line: <n>`,
/// `contains: <text>`; the error must name the file, the field, the line and every fragment.
#[test]
fn resource_blowups_in_the_corpus_are_refused_at_their_field() {
    let dir = repo("tests/fixtures/bad-scenarios");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "ron")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("blowup-"))
        })
        .collect();
    cases.sort();
    assert!(cases.len() >= 7, "{cases:?}");
    for case in cases {
        let expect = std::fs::read_to_string(case.with_extension("expect")).unwrap();
        let err = match cost::load(&case, &Limits::default(), &Assumptions::default()) {
            Ok((_, e)) => panic!("{} was accepted: {}", case.display(), e.table()),
            Err(e) => e,
        };
        let text = err.to_string();
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        assert!(text.contains(&name), "{text}");
        for line in expect.lines() {
            let Some((key, value)) = line.split_once(": ") else {
                continue;
            };
            match key {
                "field" => assert!(text.contains(&format!("field `{value}`")), "{text}"),
                "line" => assert!(text.contains(&format!("{name}:{value}:")), "{text}"),
                "contains" => assert!(text.contains(value), "{name}: {value:?} not in {text}"),
                other => panic!("{name}.expect: unknown key {other:?}"),
            }
        }
    }
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
    let case = repo("tests/fixtures/bad-scenarios/blowup-duration-100000h.ron");
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

/// One measured run: events and peak RSS from `sim run`'s closing line.
struct Measured {
    events: f64,
    rss_mib: Option<f64>,
}

fn measure(file: &Path, seed: Option<u64>) -> Measured {
    let mut args = vec!["run".to_string(), file.display().to_string()];
    if let Some(seed) = seed {
        args.extend(["--seed".into(), seed.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, stdout, stderr) = sim(&args);
    assert!(ok, "{}: {stderr}", file.display());
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

/// Every bundled scenario as `sim run` runs it, and each test of the blog suite as the suite
/// runs its first iteration (seed 1).
fn bundled() -> Vec<(PathBuf, Option<u64>)> {
    let mut files = Vec::new();
    for dir in ["scenarios", "scenarios/bench"] {
        let mut here: Vec<PathBuf> = std::fs::read_dir(repo(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "ron"))
            .collect();
        here.sort();
        files.extend(here.into_iter().map(|p| (p, None)));
    }
    let suite = lbsim::suite::Suite::load(&repo("scenarios/blog")).unwrap();
    let base = suite.path.parent().unwrap().to_path_buf();
    files.extend(
        suite
            .file
            .tests
            .iter()
            .map(|t| (base.join(&t.scenario), Some(1))),
    );
    files
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
    for (file, seed) in bundled() {
        let s = Scenario::load(&file).unwrap();
        let e = cost::estimate(&s);
        let m = measure(&file, seed);
        let est_mib = e.peak_memory() / (1024.0 * 1024.0);
        let diff = (e.events() - m.events) / m.events;
        let name = file
            .strip_prefix(repo(""))
            .unwrap_or(&file)
            .display()
            .to_string();
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

//! `sim suite`: the suite file, the runs, the tables, the statistics, determinism.

use std::path::Path;

use lbsim::suite::{self, Aggregate, Stats, Suite, SuiteError, SuiteFile, SuiteOptions};

/// The lab both tiny scenarios share; `clients` and `rest` are spliced in.
fn lab(name: &str, duration: &str, clients: &str, rest: &str) -> String {
    format!(
        r#"(
        name: "{name}",
        duration: "{duration}",
        nodes: (count: 3, cores: 2, packet_cost: "1us"),
        service: (vip: "192.168.1.240", pods: (replicas: 3, service_time: Exponential(mean: "100us"))),
        clients: [{clients}],
        {rest}
    )"#
    )
}

const VARIANTS: &str = r#"variants: [
    (name: "l2", l2: (clients: BehindGateway)),
    (name: "bgp", bgp: (speaker: FrrDatacenter)),
],"#;

const FAILOVER_VARIANTS: &str = r#"variants: [
    (name: "l2", l2: (clients: BehindGateway)),
    (name: "bgp", bgp: (speaker: FrrDatacenter)),
    (name: "bgp-bfd", bgp: (speaker: FrrDatacenter, bfd: (transmit_interval: "300ms", receive_interval: "300ms", detect_multiplier: 3))),
],"#;

const SUITE: &str = r#"(
    name: "tiny",
    iterations: 2,
    tests: [
        (name: "load", scenario: "load.ron"),
        (name: "fail", scenario: "fail.ron", top_level: false),
    ],
    latency: [(label: "fortio", test: "load")],
    throughput: [(clients: 2, test: "load")],
    failover: [(case: "node failure", test: "fail")],
)"#;

/// A suite directory with two small scenarios; `suite` is the suite file's text.
fn tiny(suite: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let load = lab(
        "load",
        "3s",
        r#"(name: "fortio", count: 2, load: Fortio(qps: 100, connections: 4), start: "500ms", stop: "2500ms", output: "{variant}_fortio.json")"#,
        VARIANTS,
    );
    let fail = lab(
        "fail",
        "4s",
        r#"(name: "ping", count: 4, load: Ping(interval: "100ms"), timeout: "1s", start: "500ms", output: "{variant}_failover_results.txt")"#,
        &format!(r#"events: [(at: "1s", crash: "node-3")], {FAILOVER_VARIANTS}"#),
    );
    std::fs::write(dir.path().join("load.ron"), load).unwrap();
    std::fs::write(dir.path().join("fail.ron"), fail).unwrap();
    std::fs::write(dir.path().join("suite.ron"), suite).unwrap();
    dir
}

fn parse_err(text: &str) -> SuiteError {
    SuiteFile::parse(Path::new("s.ron"), text).unwrap_err()
}

#[test]
fn unknown_field_is_located_with_field_and_valid_names() {
    let e = parse_err(&SUITE.replace("iterations: 2,", "iterations: 2,\n    iteratons: 3,"));
    let text = e.to_string();
    assert!(text.starts_with("s.ron:4:"), "{text}");
    assert!(
        text.contains("iteratons") && text.contains("iterations"),
        "{text}"
    );
    let e = parse_err(&SUITE.replace("(clients: 2, test", "(clients: 2, tset: \"x\", test"));
    let text = e.to_string();
    assert!(
        text.contains("throughput[0]") && text.contains("tset"),
        "{text}"
    );
}

#[test]
fn table_naming_an_unknown_test_lists_the_tests() {
    let e = parse_err(&SUITE.replace(r#"test: "fail")"#, r#"test: "fial")"#));
    let text = e.to_string();
    assert!(text.starts_with("s.ron:10:"), "{text}");
    assert!(
        text.contains("failover[0].test") && text.contains("fail, load"),
        "{text}"
    );
}

#[test]
fn bad_values_are_refused() {
    assert!(parse_err(&SUITE.replace("iterations: 2", "iterations: 0"))
        .to_string()
        .contains("iterations"));
    let dup = SUITE.replace(r#"(name: "fail""#, r#"(name: "load""#);
    assert!(parse_err(&dup).to_string().contains("used twice"));
    let slash = SUITE.replace(r#"(name: "fail""#, r#"(name: "a/b""#);
    assert!(parse_err(&slash).to_string().contains("directory name"));
    assert!(parse_err("(name: \"x\", tests: [])")
        .to_string()
        .contains("at least one test"));
    for garbage in ["", "(", "[[", "(name: 1)", "\u{0}"] {
        assert!(SuiteFile::parse(Path::new("s.ron"), garbage).is_err());
    }
}

#[test]
fn unknown_variant_and_bad_scenario_name_their_files() {
    let dir = tiny(&SUITE.replace(
        r#"(case: "node failure", test: "fail")"#,
        r#"(case: "node failure", test: "fail", bgp_bfd: "bfd")"#,
    ));
    let text = Suite::load(dir.path()).unwrap_err().to_string();
    assert!(
        text.contains("suite.ron:10:")
            && text.contains("failover[0].bgp_bfd")
            && text.contains("l2, bgp, bgp-bfd"),
        "{text}"
    );
    let dir = tiny(SUITE);
    std::fs::write(
        dir.path().join("fail.ron"),
        "(name: \"fail\", duraton: \"1s\")",
    )
    .unwrap();
    let text = Suite::load(dir.path()).unwrap_err().to_string();
    assert!(
        text.contains("test `fail`") && text.contains("fail.ron:1:") && text.contains("duraton"),
        "{text}"
    );
    std::fs::remove_file(dir.path().join("fail.ron")).unwrap();
    let text = Suite::load(dir.path()).unwrap_err().to_string();
    assert!(
        text.contains("fail.ron") && text.contains("cannot read"),
        "{text}"
    );
}

#[test]
fn top_level_collisions_are_refused() {
    let dir = tiny(SUITE);
    let twice = SUITE.replace(
        r#"(name: "fail", scenario: "fail.ron", top_level: false),"#,
        r#"(name: "fail", scenario: "fail.ron", top_level: false),
        (name: "again", scenario: "load.ron"),"#,
    );
    std::fs::write(dir.path().join("suite.ron"), twice).unwrap();
    let text = Suite::load(dir.path()).unwrap_err().to_string();
    assert!(
        text.contains("l2_fortio.json") && text.contains("top_level"),
        "{text}"
    );
}

/// Run, aggregate, render and write one suite.
fn run_once(dir: &Path, out: &Path) -> String {
    let s = Suite::load(dir).unwrap_or_else(|e| panic!("{e}"));
    let run = suite::run(&s, &SuiteOptions::default(), &|| {}).unwrap_or_else(|e| panic!("{e}"));
    let agg = Aggregate::of(&s, &run);
    let dir = lbsim::outdir::OutDir::claim(out).unwrap();
    suite::write_out(&dir, &s, &run, &agg, lbsim::openmetrics::DEFAULT_EPOCH_S).unwrap();
    let seeds = suite::seeds(&s, &SuiteOptions::default());
    dir.seal(lbsim::manifest::Inputs::suite(&s, seeds).unwrap())
        .unwrap();
    suite::tables(&s, &run, &agg)
}

#[test]
fn tiny_suite_prints_three_tables_and_writes_its_files_identically_on_any_thread_count() {
    let dir = tiny(SUITE);
    let out1 = dir.path().join("out1");
    let out2 = dir.path().join("out2");
    let tables = run_once(dir.path(), &out1);
    for needle in [
        "tiny — 2 tests, 2 iterations (seeds 1..=2)",
        "(a) latency",
        "(b) throughput",
        "(c) failover",
        "p50",
        "p99.9",
        "node failure",
        "BGP (BFD)",
    ] {
        assert!(tables.contains(needle), "{needle:?} missing:\n{tables}");
    }
    let row = tables
        .lines()
        .find(|l| l.trim_start().starts_with("2 "))
        .unwrap_or_else(|| panic!("no throughput row for 2 clients:\n{tables}"));
    assert!(row.contains('%'), "{row}");
    // Both iterations of every test, per seed; the first iteration's tool files on top; only
    // top-level tests there.
    for f in [
        "load/seed-1/summary.csv",
        "load/seed-2/l2_fortio.json",
        "fail/seed-2/bgp-bfd_failover_results-1.txt",
        "l2_fortio.json",
        "bgp_fortio.json",
        "suite.csv",
    ] {
        assert!(out1.join(f).exists(), "{f}");
    }
    assert!(!out1.join("l2_failover_results-1.txt").exists());
    let csv = std::fs::read_to_string(out1.join("suite.csv")).unwrap();
    assert!(csv.starts_with("test,variant,metric,mean,ci95_low,ci95_high,n\n"));
    assert!(csv.contains("load,bgp,latency_p99_ms,") && csv.contains("fail,bgp-bfd,failover_s,"));
    assert!(csv.lines().skip(1).all(|l| l.ends_with(",2")), "{csv}");
    // The same suite again, on one thread: byte-identical tables and files.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let again = pool.install(|| run_once(dir.path(), &out2));
    assert_eq!(tables, again);
    for f in [
        "suite.csv",
        "l2_fortio.json",
        "load/seed-2/timeseries.csv",
        "run.json",
    ] {
        assert_eq!(
            std::fs::read(out1.join(f)).unwrap(),
            std::fs::read(out2.join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn one_iteration_prints_values_without_intervals() {
    let dir = tiny(&SUITE.replace("iterations: 2", "iterations: 1"));
    let s = Suite::load(dir.path()).unwrap();
    let opts = SuiteOptions {
        iterations: None,
        first_seed: 7,
    };
    assert_eq!(suite::job_count(&s, &opts), 5);
    let run = suite::run(&s, &opts, &|| {}).unwrap();
    let agg = Aggregate::of(&s, &run);
    let tables = suite::tables(&s, &run, &agg);
    assert!(
        tables.contains("1 iteration (seed 7)") && !tables.contains('±'),
        "{tables}"
    );
    // No interval from one value: the CSV leaves ci95_low and ci95_high empty.
    assert!(agg
        .to_csv()
        .lines()
        .skip(1)
        .all(|l| l.ends_with(",,,1") || l.contains(",,1")));
    assert!(agg.to_csv().lines().skip(1).all(|l| l.ends_with(",,1")));
}

#[test]
fn the_command_prints_tables_and_the_closing_line_and_no_progress_bar_in_logs() {
    let dir = tiny(&SUITE.replace("iterations: 2", "iterations: 1"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sim"))
        .args(["suite", dir.path().to_str().unwrap(), "--iterations", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("2 iterations") && stdout.contains("(c) failover"),
        "{stdout}"
    );
    let last = stdout.lines().last().unwrap();
    assert!(
        last.starts_with("simulated ") && last.contains("10 runs") && last.contains("events/s"),
        "{last}"
    );
    assert!(
        out.stderr.is_empty(),
        "stderr is not a terminal: no progress bar"
    );
}

#[test]
fn mean_and_confidence_interval_match_hand_computation() {
    // 2, 4, 6, 8: mean 5, s^2 = (9 + 1 + 1 + 9) / 3, s / sqrt(4) = 1.29099; t(0.975, 3) = 3.18245.
    let s = Stats::of(&[2.0, 4.0, 6.0, 8.0]);
    let half = 3.18245 * (20.0f64 / 3.0).sqrt() / 2.0;
    let (lo, hi) = s.ci95.unwrap();
    assert_eq!((s.mean, s.n), (5.0, 4));
    assert!((lo - (5.0 - half)).abs() < 1e-4 && (hi - (5.0 + half)).abs() < 1e-4);
    // Two equal values: no spread.
    assert_eq!(Stats::of(&[3.0, 3.0]).ci95, Some((3.0, 3.0)));
    // n = 2: t(0.975, 1) = 12.7062, s = sqrt(2)/... for 1 and 3: s = 1.41421, se = 1.
    let (lo, hi) = Stats::of(&[1.0, 3.0]).ci95.unwrap();
    assert!((lo - (2.0 - 12.7062 * 1.0)).abs() < 1e-3 && (hi - 14.7062).abs() < 1e-3);
    assert!((suite::t975(2) - 4.3027).abs() < 1e-4);
}

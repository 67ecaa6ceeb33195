//! Safe outputs: `--out` replaces only its own earlier output and seals it with run.json; a
//! killed run is recognisable; `--pcap DIR` writes inside; bad paths fail before the run; and
//! the terminal tables say what they count.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use lbsim::outdir::{MANIFEST, MARKER};
use lbsim::report;

use crate::{run, scenario, sim_in};

/// A scenario whose clients write fortio and vegeta files (vegeta's results stream is written
/// during the run), of `duration` and with vegeta at `rate`.
fn with_tools(duration: &str, rate: u32) -> String {
    format!(
        r#"(name: "tools", duration: "{duration}", nodes: (count: 2),
        service: (pods: (replicas: 2, service_time: Constant(time: "100us"))),
        clients: [
            (name: "fortio", load: Fortio(qps: 100, connections: 2), output: "{{variant}}_fortio.json"),
            (name: "vegeta", load: Vegeta(rate: {rate}), output: "{{variant}}_vegeta.json"),
        ])"#
    )
}

/// The same cluster with a plain client and no tool files.
const PLAIN: &str = r#"(name: "plain", duration: "2s", nodes: (count: 2),
    service: (pods: (replicas: 2, service_time: Constant(time: "100us"))),
    clients: [(name: "c", load: OpenLoop(rate: 100), connections: KeepAlive(pool: 2))])"#;

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    lbsim::outdir::list_files(dir)
        .unwrap()
        .into_iter()
        .map(|rel| {
            let bytes = fs::read(dir.join(&rel)).unwrap();
            (rel, bytes)
        })
        .collect()
}

/// A temporary directory holding scenario files `name -> text`.
fn scenarios(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

fn manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(dir.join(MANIFEST)).unwrap()).unwrap()
}

fn listed(dir: &Path) -> Vec<String> {
    manifest(dir)["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn out_into_an_empty_directory_is_sealed_by_a_manifest_of_every_file() {
    let tmp = scenarios(&[("tools.ron", &with_tools("2s", 100))]);
    fs::create_dir(tmp.path().join("out")).unwrap();
    let (ok, stdout, stderr) = sim_in(tmp.path(), &["run", "tools.ron", "--out", "out"]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("run.json"), "{stdout}");
    let out = tmp.path().join("out");
    assert!(!out.join(MARKER).exists(), "the marker outlived the run");
    let m = manifest(&out);
    assert_eq!(m["format"], "lbsim-run/1");
    assert_eq!(m["lbsim_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(m["command"], "run");
    assert_eq!(m["scenario"]["path"], "tools.ron");
    let (sha, _) = lbsim::manifest::sha256_file(&tmp.path().join("tools.ron")).unwrap();
    assert_eq!(m["scenario"]["sha256"], sha.as_str());
    assert_eq!(m["seed"], 1);
    assert_eq!(m["variants"], serde_json::json!(["base"]));
    // Every file there but run.json is listed, with its size and hash; the vegeta stream too.
    let files: Vec<String> = snapshot(&out)
        .into_keys()
        .filter(|f| f != MANIFEST)
        .collect();
    assert_eq!(listed(&out), files);
    for f in [
        "summary.csv",
        "events.csv",
        "base_fortio.json",
        "base_vegeta.json",
        "base_vegeta.csv",
    ] {
        assert!(files.iter().any(|x| x == f), "{f} not written: {files:?}");
    }
    let v = lbsim::manifest::verify(&out).unwrap();
    assert!(v.complete() && v.unlisted.is_empty(), "{v:?}");
    let (ok, stdout, stderr) = sim_in(tmp.path(), &["verify", "out"]);
    assert!(ok && stdout.contains("complete"), "{stdout}{stderr}");
}

#[test]
fn an_earlier_output_is_replaced_whole_and_its_stale_files_go() {
    let tmp = scenarios(&[("tools.ron", &with_tools("2s", 100)), ("plain.ron", PLAIN)]);
    let (ok, _, stderr) = sim_in(tmp.path(), &["run", "tools.ron", "--out", "out"]);
    assert!(ok, "{stderr}");
    let out = tmp.path().join("out");
    assert!(out.join("base_fortio.json").exists());
    let (ok, _, stderr) = sim_in(tmp.path(), &["run", "plain.ron", "--out", "out"]);
    assert!(ok, "{stderr}");
    for stale in ["base_fortio.json", "base_vegeta.json", "base_vegeta.csv"] {
        assert!(!out.join(stale).exists(), "{stale} survived the second run");
    }
    let files: Vec<String> = snapshot(&out)
        .into_keys()
        .filter(|f| f != MANIFEST)
        .collect();
    assert_eq!(listed(&out), files);
    assert_eq!(manifest(&out)["scenario"]["path"], "plain.ron");
    assert!(lbsim::manifest::verify(&out).unwrap().complete());
}

#[test]
fn a_directory_with_files_lbsim_did_not_write_is_refused_and_left_untouched() {
    let tmp = scenarios(&[("plain.ron", PLAIN)]);
    // A directory of the user's.
    let mine = tmp.path().join("mine");
    fs::create_dir_all(mine.join("plots")).unwrap();
    fs::write(mine.join("notes.txt"), "mine").unwrap();
    fs::write(mine.join("plots/a.png"), "png").unwrap();
    let before = snapshot(&mine);
    let (ok, stdout, stderr) = sim_in(tmp.path(), &["run", "plain.ron", "--out", "mine"]);
    assert!(!ok);
    assert!(
        stderr.contains("mine") && stderr.contains("not empty") && stderr.contains("run.json"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "the run started: {stdout}");
    assert_eq!(snapshot(&mine), before);
    // A run.json that is not ours does not make it ours.
    fs::write(mine.join(MANIFEST), "{\"format\": \"someone else\"}").unwrap();
    let before = snapshot(&mine);
    let (ok, _, stderr) = sim_in(tmp.path(), &["run", "plain.ron", "--out", "mine"]);
    assert!(!ok && stderr.contains("not an lbsim manifest"), "{stderr}");
    assert_eq!(snapshot(&mine), before);
    // An earlier lbsim output with a file of the user's added: refused, nothing deleted.
    let (ok, _, stderr) = sim_in(tmp.path(), &["run", "plain.ron", "--out", "ours"]);
    assert!(ok, "{stderr}");
    let ours = tmp.path().join("ours");
    fs::write(ours.join("analysis.ipynb"), "mine").unwrap();
    let before = snapshot(&ours);
    let (ok, _, stderr) = sim_in(tmp.path(), &["run", "plain.ron", "--out", "ours"]);
    assert!(!ok && stderr.contains("analysis.ipynb"), "{stderr}");
    assert_eq!(snapshot(&ours), before);
    // A file where the directory should be.
    fs::write(tmp.path().join("file"), "x").unwrap();
    let (ok, _, stderr) = sim_in(tmp.path(), &["run", "plain.ron", "--out", "file"]);
    assert!(!ok && stderr.contains("not a directory"), "{stderr}");
}

#[test]
fn a_killed_run_is_recognisable_and_replaced_by_the_next() {
    // Long enough that it is still running when killed (it is killed as soon as its vegeta
    // stream exists, so the test stays quick).
    let tmp = scenarios(&[
        ("long.ron", &with_tools("2000s", 1000)),
        ("plain.ron", PLAIN),
    ]);
    let out = tmp.path().join("out");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sim"))
        .current_dir(tmp.path())
        .args(["run", "long.ron", "--out", "out"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stream = out.join(".base_vegeta.csv.tmp");
    for _ in 0..2000 {
        if stream.exists() {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before it could be killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run finished before the kill");
    assert!(out.join(MARKER).exists() && !out.join(MANIFEST).exists());
    let marker = fs::read_to_string(out.join(MARKER)).unwrap();
    assert!(
        marker.contains("incomplete") && marker.contains("base_vegeta.csv"),
        "{marker}"
    );
    let v = lbsim::manifest::verify(&out).unwrap();
    assert!(!v.complete(), "{v:?}");
    let (ok, _, stderr) = sim_in(tmp.path(), &["verify", "out"]);
    assert!(!ok && stderr.contains("incomplete"), "{stderr}");
    // The next run recognises the remains as its own and replaces them.
    let (ok, _, stderr) = sim_in(tmp.path(), &["run", "plain.ron", "--out", "out"]);
    assert!(ok, "{stderr}");
    let files = snapshot(&out);
    assert!(
        files.keys().all(|f| !f.contains("vegeta")) && !files.contains_key(MARKER),
        "{:?}",
        files.keys()
    );
    assert!(lbsim::manifest::verify(&out).unwrap().complete());
}

#[test]
fn files_that_do_not_match_the_manifest_make_the_directory_incomplete() {
    let tmp = scenarios(&[("plain.ron", PLAIN)]);
    let (ok, _, stderr) = sim_in(tmp.path(), &["run", "plain.ron", "--out", "out"]);
    assert!(ok, "{stderr}");
    let out = tmp.path().join("out");
    // Same size, other bytes.
    let mut bytes = fs::read(out.join("summary.csv")).unwrap();
    bytes[0] ^= 1;
    fs::write(out.join("summary.csv"), &bytes).unwrap();
    let v = lbsim::manifest::verify(&out).unwrap();
    assert!(
        v.problems
            .iter()
            .any(|p| p.contains("summary.csv") && p.contains("sha256")),
        "{v:?}"
    );
    // Cut short, and a file gone.
    fs::write(out.join("events.csv"), "variant").unwrap();
    fs::remove_file(out.join("nodes.csv")).unwrap();
    let v = lbsim::manifest::verify(&out).unwrap();
    assert_eq!(v.problems.len(), 3, "{v:?}");
    let (ok, _, stderr) = sim_in(tmp.path(), &["verify", "out"]);
    assert!(!ok && stderr.contains("nodes.csv"), "{stderr}");
}

#[test]
fn run_json_is_byte_identical_across_runs_and_holds_no_absolute_path() {
    let tmp = scenarios(&[("tools.ron", &with_tools("2s", 100))]);
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    let (ok, _, stderr) = sim_in(tmp.path(), &["run", "tools.ron", "--out", "a"]);
    assert!(ok, "{stderr}");
    // The second run names everything by absolute path: run.json must not say so.
    let scenario = tmp.path().join("tools.ron");
    let (ok, _, stderr) = sim_in(
        Path::new("/"),
        &[
            "run",
            scenario.to_str().unwrap(),
            "--out",
            b.to_str().unwrap(),
        ],
    );
    assert!(ok, "{stderr}");
    let text = fs::read_to_string(a.join(MANIFEST)).unwrap();
    assert_eq!(text, fs::read_to_string(b.join(MANIFEST)).unwrap());
    let tmp_name = tmp.path().to_string_lossy();
    assert!(
        !text.contains(tmp_name.as_ref()) && !text.contains("\"/"),
        "{text}"
    );
    assert_eq!(snapshot(&a), snapshot(&b));
}

/// A BGP scenario with two variants, so two captures.
const BGP: &str = r#"(name: "cap", duration: "3s", nodes: (count: 2),
    service: (pods: (replicas: 2, service_time: Constant(time: "100us"))),
    bgp: (speaker: FrrDatacenter),
    clients: [(name: "p", load: Ping(), start: "1s")],
    variants: [(name: "one"), (name: "two")])"#;

#[test]
fn pcap_into_a_directory_writes_one_file_per_variant_inside_it() {
    let tmp = scenarios(&[("cap.ron", BGP)]);
    for (arg, dir) in [("caps/", "caps"), ("existing", "existing")] {
        if dir == "existing" {
            fs::create_dir(tmp.path().join(dir)).unwrap();
        }
        let (ok, stdout, stderr) = sim_in(tmp.path(), &["run", "cap.ron", "--pcap", arg]);
        assert!(ok, "{stderr}");
        for v in ["one", "two"] {
            let f = tmp.path().join(dir).join(format!("{v}.pcap"));
            let bytes = fs::read(&f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            assert!(sim_core::pcap::parse_capture(&bytes).is_ok());
            assert!(!tmp.path().join(format!("{dir}-{v}.pcap")).exists());
        }
        assert!(stdout.contains("one.pcap"), "{stdout}");
    }
    // A file path keeps its meaning: <stem>-<variant>.pcap beside it.
    let (ok, _, stderr) = sim_in(tmp.path(), &["run", "cap.ron", "--pcap", "c.pcap"]);
    assert!(ok, "{stderr}");
    assert!(tmp.path().join("c-one.pcap").exists() && tmp.path().join("c-two.pcap").exists());
    // Inside --out the captures are part of the output and of its run.json.
    let (ok, _, stderr) = sim_in(
        tmp.path(),
        &["run", "cap.ron", "--out", "out", "--pcap", "out/pcap/"],
    );
    assert!(ok, "{stderr}");
    let files = listed(&tmp.path().join("out"));
    assert!(
        files.contains(&"pcap/one.pcap".to_string()) && files.contains(&"pcap/two.pcap".into()),
        "{files:?}"
    );
    let (ok, _, stderr) = sim_in(tmp.path(), &["run", "cap.ron", "--out", "out"]);
    assert!(
        ok,
        "an output holding its captures is ours to replace: {stderr}"
    );
    assert!(
        !tmp.path().join("out/pcap").exists(),
        "stale captures survived"
    );
}

#[test]
fn unwritable_output_paths_fail_before_the_simulation_starts() {
    // 600 simulated seconds: the tables would take a while; the refusal must come first.
    let long = with_tools("600s", 1000);
    let tmp = scenarios(&[("long.ron", &long), ("cap.ron", BGP)]);
    fs::write(tmp.path().join("file"), "x").unwrap();
    for args in [
        &["run", "long.ron", "--out", "file/out"][..],
        &["run", "long.ron", "--pcap", "file/x.pcap"],
        &["run", "long.ron", "--pcap", "file/dir/"],
        &["run", "long.ron", "--pcap", "missing/x.pcap"],
    ] {
        let (ok, stdout, stderr) = sim_in(tmp.path(), args);
        assert!(!ok, "{args:?} succeeded");
        assert!(stdout.is_empty(), "{args:?} ran: {stdout}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    }
    let (_, _, stderr) = sim_in(tmp.path(), &["run", "long.ron", "--pcap", "file/x.pcap"]);
    assert!(
        stderr.contains("--pcap") && stderr.contains("file/x.pcap"),
        "{stderr}"
    );
    // --out is checked before it is emptied: a bad --pcap leaves an earlier output whole.
    let (ok, _, stderr) = sim_in(tmp.path(), &["run", "cap.ron", "--out", "out"]);
    assert!(ok, "{stderr}");
    let before = snapshot(&tmp.path().join("out"));
    let (ok, _, _) = sim_in(
        tmp.path(),
        &["run", "cap.ron", "--out", "out", "--pcap", "file/x.pcap"],
    );
    assert!(!ok);
    assert_eq!(snapshot(&tmp.path().join("out")), before);
    let (ok, stdout, stderr) = sim_in(
        tmp.path(),
        &["hash", "--flows", "1000000", "--per-flow", "file/per.csv"],
    );
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("--per-flow"), "{stderr}");
}

#[test]
fn a_suite_checks_its_out_directory_before_running_and_seals_it() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("plain.ron"), PLAIN).unwrap();
    fs::write(
        dir.path().join("suite.ron"),
        r#"(name: "s", iterations: 1, tests: [(name: "plain", scenario: "plain.ron")])"#,
    )
    .unwrap();
    let mine = dir.path().join("mine");
    fs::create_dir(&mine).unwrap();
    fs::write(mine.join("notes.txt"), "mine").unwrap();
    let (ok, stdout, stderr) = sim_in(dir.path(), &["suite", ".", "--out", "mine"]);
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("not empty"), "{stderr}");
    assert_eq!(fs::read_to_string(mine.join("notes.txt")).unwrap(), "mine");
    fs::write(dir.path().join("file"), "x").unwrap();
    let (ok, stdout, stderr) = sim_in(dir.path(), &["suite", ".", "--out", "file/out"]);
    assert!(!ok && stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("file/out"), "{stderr}");
    let (ok, _, stderr) = sim_in(dir.path(), &["suite", ".", "--out", "out"]);
    assert!(ok, "{stderr}");
    let m = manifest(&dir.path().join("out"));
    assert_eq!(m["command"], "suite");
    assert_eq!(m["suite"]["path"], "./suite.ron");
    assert_eq!(m["tests"][0]["scenario"]["path"], "./plain.ron");
    assert!(listed(&dir.path().join("out")).contains(&"plain/seed-1/summary.csv".to_string()));
    assert!(lbsim::manifest::verify(&dir.path().join("out"))
        .unwrap()
        .complete());
}

// ---- the terminal tables ------------------------------------------------------------------

/// 3 nodes in L2 mode, 6 web and 2 ping clients on the segment (8 resolvers); `events` per
/// test.
fn l2_tables(events: &str, duration: &str) -> (String, Vec<lbsim::lab::RunResult>) {
    let s = scenario(&format!(
        r#"(name: "l2", duration: "{duration}", nodes: (count: 3),
        service: (vip: "10.0.0.200", pods: (replicas: 3, service_time: Exponential(mean: "100us"))),
        l2: (clients: OnSegment),
        clients: [
            (name: "web", count: 6, load: OpenLoop(rate: 50), connections: KeepAlive(pool: 2), start: "1s"),
            (name: "ping", count: 2, load: Ping(interval: "100ms"), timeout: "1s", start: "1s"),
        ],
        events: {events},
    )"#
    ));
    let results = run(&s);
    (report::tables(&s, &results), results)
}

/// The first row under the header that follows the line starting with `title`.
fn first_row<'a>(tables: &'a str, title: &str) -> &'a str {
    tables
        .lines()
        .skip_while(|l| !l.starts_with(title))
        .nth(2)
        .unwrap_or_else(|| panic!("no row under {title:?}:\n{tables}"))
}

#[test]
fn a_variant_without_an_outage_prints_none_not_a_failover() {
    let (tables, results) = l2_tables("[]", "5s");
    assert_eq!(results[0].probe_counts.lost, 0);
    // The longest gap is the interval itself: no outage.
    assert_eq!(
        results[0].failover().map(|(g, _)| g.as_secs_f64()),
        Some(0.1)
    );
    assert!(!results[0].had_outage());
    let probes = first_row(&tables, "probes (ping)");
    assert!(probes.ends_with(" none"), "{probes}");
    assert!(
        !probes.contains("0.100") && !probes.contains("1.000"),
        "{probes}"
    );
}

#[test]
fn probes_are_counted_apart_from_requests_and_route_changes_collapse() {
    let (tables, results) = l2_tables(r#"[(at: "10s", crash: "node-2")]"#, "25s");
    let r = &results[0];
    let (c, p) = (&r.counts, &r.probe_counts);
    // Both books balance, and lost probes are not request timeouts.
    assert_eq!(c.started, c.ok + c.failed() + c.in_flight);
    assert_eq!(p.sent, p.answered + p.lost + p.in_flight);
    assert!(p.lost > 0 && p.sent == 2 * 240, "{p:?}");
    assert_eq!(r.lost_probes(), Some(p.lost));
    let web_sent: u64 = 6 * 50 * 24;
    assert!(
        c.started.abs_diff(web_sent) < web_sent / 10,
        "requests {} should be the web clients' alone (~{web_sent})",
        c.started
    );
    // Each group's series counts its own: the request groups' requests, the ping groups' probes.
    let sent = |kind| -> u64 {
        r.series
            .groups
            .iter()
            .filter(|g| g.kind == kind)
            .map(|g| g.sent.values().iter().sum::<u64>())
            .sum()
    };
    assert_eq!(
        sent(lbsim::lab::GroupKind::Requests),
        c.started,
        "request series: requests only"
    );
    assert_eq!(
        sent(lbsim::lab::GroupKind::Probes),
        p.sent,
        "probe series: probes only"
    );
    // The terminal shows the same split: requests columns, then probes with their own.
    let header = tables
        .lines()
        .find(|l| l.starts_with("variant") && l.contains("answered/s"))
        .unwrap_or_else(|| panic!("{tables}"));
    for col in ["sent", "answered", "answered/s", "in flight"] {
        assert!(header.contains(col), "{header}");
    }
    assert!(
        !header.contains("rps") && !header.contains("requests"),
        "{header}"
    );
    let req = first_row(&tables, "requests:");
    let cells: Vec<&str> = req.split_whitespace().collect();
    assert_eq!(cells[1], c.started.to_string(), "{req}");
    assert_eq!(cells[2], c.ok.to_string(), "{req}");
    assert_eq!(cells[9], c.timeout.to_string(), "{req}");
    let probe = first_row(&tables, "probes (ping)");
    let cells: Vec<&str> = probe.split_whitespace().collect();
    assert_eq!(
        &cells[1..5],
        [p.sent, p.answered, p.lost, p.in_flight].map(|n| n.to_string()),
        "{probe}"
    );
    // Route changes: every resolver (one per client instance on the segment) moving at one
    // instant is one row; first resolutions are left to changes.csv.
    let moves: Vec<_> = r
        .changes
        .iter()
        .filter(|ch| ch.arp.as_ref().is_some_and(|a| a.from.is_some()))
        .collect();
    let firsts = r.changes.len() - moves.len();
    assert_eq!((moves.len(), firsts), (8, 8), "{:?}", r.changes);
    assert!(moves.iter().all(|m| m.time == moves[0].time));
    let arp_rows: Vec<&str> = tables.lines().filter(|l| l.contains(" arp ")).collect();
    assert_eq!(arp_rows.len(), 1, "{tables}");
    assert!(
        arp_rows[0].contains("arp 8 resolvers: node-2 -> node-"),
        "{}",
        arp_rows[0]
    );
    assert!(!tables.contains(": ? -> node-"), "{tables}");
    assert!(
        tables.contains("8 first ARP resolutions (? -> node), which move no connection, are in changes.csv only"),
        "{tables}"
    );
    let (rows, left_out) = report::change_rows(r);
    assert_eq!((rows.len(), left_out), (1, 8));
    assert_eq!(rows[0].moved, moves.iter().map(|m| m.moved).sum::<u64>());
    assert_eq!(rows[0].live, moves.iter().map(|m| m.live).sum::<u64>());
}

/// `sim run` prints what the library renders (one scenario, both paths).
#[test]
fn the_binary_prints_the_separated_tables() {
    let tmp = scenarios(&[("cap.ron", BGP)]);
    let (ok, stdout, stderr) = sim_in(tmp.path(), &["run", "cap.ron"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("requests: sent = answered + reset + timeout + refused + in flight"),
        "{stdout}"
    );
    assert!(stdout.contains("probes (ping): sent = answered + lost + in flight"));
}

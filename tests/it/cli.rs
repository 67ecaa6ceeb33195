//! The `sim` binary as a user runs it.

use std::process::Command;

/// `sim` in the tests' own working directory.
fn sim(args: &[&str]) -> (bool, String, String) {
    crate::sim_in(std::path::Path::new("."), args)
}

#[test]
fn run_prints_tables_and_the_closing_line_and_writes_documented_csv() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.ron");
    std::fs::write(
        &scenario,
        crate::small(r#"events: [(at: "3s", withdraw: "node-2")],"#),
    )
    .unwrap();
    let out = dir.path().join("out");
    let (ok, stdout, stderr) = sim(&[
        "run",
        scenario.to_str().unwrap(),
        "--seed",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("p99.9 ms") && stdout.contains("withdraw node-2"),
        "{stdout}"
    );
    let last = stdout.lines().last().unwrap();
    assert!(
        last.starts_with("simulated ")
            && last.contains("events")
            && last.contains("wall")
            && last.contains("events/s"),
        "{last}"
    );
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/outputs.md")).unwrap();
    for file in [
        "summary.csv",
        "timeseries.csv",
        "connections.csv",
        "changes.csv",
        "events.csv",
        "nodes.csv",
    ] {
        let text = std::fs::read_to_string(out.join(file)).unwrap();
        let header = text.lines().next().unwrap();
        for col in header.split(',') {
            assert!(
                docs.contains(&format!("`{col}`")),
                "{file} column {col} is not described in docs/outputs.md"
            );
        }
        assert!(text.lines().count() > 1, "{file} has no rows");
    }
}

#[test]
fn validate_reports_file_line_column_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.ron");
    std::fs::write(
        &bad,
        crate::small("").replace("OpenLoop(rate: 200)", "OpenLoop(rate: 200, pacing: Bursty)"),
    )
    .unwrap();
    let (ok, _, stderr) = sim(&["validate", bad.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("bad.ron:6:"), "{stderr}");
    assert!(
        stderr.contains("clients[0].load.OpenLoop.pacing") && stderr.contains("Poisson"),
        "{stderr}"
    );
}

#[test]
fn hash_reproduces_the_closed_forms() {
    for (sel, pos, expect_collateral) in [
        ("hash-threshold", "first", 0.4),
        ("hash-threshold", "last", 0.4),
        ("modulo", "middle", 0.8),
    ] {
        let (ok, stdout, stderr) = sim(&[
            "hash",
            "--selection",
            sel,
            "-n",
            "6",
            "--remove",
            pos,
            "--flows",
            "100000",
            "--hash",
            "crc32",
            "--json",
        ]);
        assert!(ok, "{stderr}");
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let got = v["collateral_share"].as_f64().unwrap();
        assert!(
            (got - expect_collateral).abs() < 0.01,
            "{sel} remove {pos}: collateral {got}, closed form {expect_collateral}"
        );
        if sel == "hash-threshold" {
            let moved = v["moved_share"].as_f64().unwrap();
            assert!((moved - 0.5).abs() < 0.01, "{sel}: moved {moved}");
        }
    }
}

#[test]
fn hash_reads_real_flows_and_writes_each_flows_fate() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows.csv");
    std::fs::write(&flows, "src,dst,proto,sport,dport\n10.1.1.1,192.0.2.10,tcp,40000,80\n10.1.1.2,192.0.2.10,6,40001,80\n10.1.1.3,192.0.2.10,udp,53,53\n").unwrap();
    let per = dir.path().join("per.csv");
    let (ok, stdout, stderr) = sim(&[
        "hash",
        "--flows-file",
        flows.to_str().unwrap(),
        "--per-flow",
        per.to_str().unwrap(),
        "-n",
        "4",
        "--remove",
        "last",
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("flows             3"), "{stdout}");
    let text = std::fs::read_to_string(per).unwrap();
    assert_eq!(text.lines().count(), 4);
    assert!(text.starts_with("src,dst,proto,sport,dport,next_hop_before,next_hop_after,moved"));

    std::fs::write(
        &flows,
        "src,dst,proto,sport,dport\n10.1.1.1,192.0.2.10,tcp,99999,80\n",
    )
    .unwrap();
    let (ok, _, stderr) = sim(&["hash", "--flows-file", flows.to_str().unwrap()]);
    assert!(!ok);
    assert!(stderr.contains("flows.csv:2: sport \"99999\""), "{stderr}");
}

#[test]
fn the_control_plane_capture_decodes_in_tshark_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("s.ron");
    std::fs::write(
        &scenario,
        r#"(name: "cap", duration: "8s", nodes: (count: 3),
            service: (pods: (replicas: 3, service_time: Constant(time: "100us"))),
            bgp: (speaker: FrrDatacenter, bfd: ()),
            clients: [(name: "p", count: 3, load: Ping(), start: "1s")],
            events: [(at: "3s", shutdown: "node-1"), (at: "4s", crash: "node-2"), (at: "5s", withdraw: "node-3")])"#,
    )
    .unwrap();
    let pcap = dir.path().join("cap.pcap");
    let (ok, stdout, stderr) = sim(&[
        "run",
        scenario.to_str().unwrap(),
        "--pcap",
        pcap.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("wrote "), "{stdout}");
    let bytes = std::fs::read(&pcap).unwrap();
    let (_, records) = sim_core::pcap::parse_capture(&bytes).unwrap();
    assert!(records.len() > 100);
    let Some(tshark) = testkit::or_skip(testkit::program("tshark", "tshark")) else {
        return;
    };
    let out = Command::new(tshark)
        .args([
            "-r",
            pcap.to_str().unwrap(),
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
        ])
        .args(["-o", "ip.check_checksum:TRUE", "-V"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for bad in [
        "Malformed",
        "[Expert Info (Error",
        "incorrect",
        "Bad checksum",
    ] {
        assert!(!text.contains(bad), "tshark reports {bad:?}");
    }
    // Every kind of control message the run produced is dissected as what it is.
    for want in [
        "OPEN Message",
        "KEEPALIVE Message",
        "UPDATE Message",
        "NOTIFICATION Message",
        "BFD Control message",
    ] {
        assert!(text.contains(want), "tshark found no {want}");
    }
    let frames = text.matches("\nFrame ").count() + usize::from(text.starts_with("Frame "));
    assert_eq!(
        frames,
        records.len(),
        "tshark read a different number of frames"
    );
}

#[test]
fn validate_checks_the_blog_suite_file_as_a_suite_beside_its_scenarios() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/blog");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut args = vec!["validate"];
    args.extend(files.iter().map(String::as_str));
    let (ok, stdout, stderr) = sim(&args);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("suite.ron: ok (suite of 14 tests"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), files.len(), "{stdout}");
}

#[test]
fn warnings_go_to_stderr_with_their_place_and_the_run_goes_ahead() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gr0.ron");
    std::fs::write(
        &file,
        crate::small(r#"bgp: (speaker: FrrDatacenter, graceful_restart: "0s"),"#)
            .replace(r#"duration: "10s""#, r#"duration: "2s""#),
    )
    .unwrap();
    let path = file.to_str().unwrap();
    for command in ["validate", "run"] {
        let (ok, _, stderr) = sim(&[command, path]);
        assert!(ok, "{command}: {stderr}");
        assert!(
            stderr.contains("gr0.ron:7:39: warning")
                && stderr.contains(": warning: field `bgp.graceful_restart`: a restart time of 0s"),
            "{command}: {stderr}"
        );
    }
}

#[test]
fn run_refuses_a_suite_file_and_says_how_to_run_it() {
    let suite = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/blog/suite.ron");
    let (ok, _, stderr) = sim(&["run", suite]);
    assert!(!ok);
    assert!(
        stderr.contains("is a suite file: run it with `sim suite"),
        "{stderr}"
    );
}

#[test]
fn hash_refuses_flags_it_would_ignore_and_groups_it_would_misreport() {
    for (args, says) in [
        (
            &[
                "hash",
                "--selection",
                "resilient",
                "--buckets",
                "3",
                "-n",
                "6",
            ][..],
            "at least 6 buckets",
        ),
        (
            &["hash", "--buckets", "3"][..],
            "--buckets applies to --selection resilient only",
        ),
        (
            &["hash", "--selection", "modulo", "--idle-timer", "0s"][..],
            "--idle-timer applies to --selection resilient only",
        ),
        (
            &["hash", "--flows-file", "f.csv", "--flow-seed", "3"][..],
            "cannot be used with",
        ),
    ] {
        let (ok, _, stderr) = sim(args);
        assert!(!ok, "{args:?} was accepted");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
}

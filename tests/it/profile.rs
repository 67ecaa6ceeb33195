//! `sim profile`: a scenario derived from the committed lab profiles, every value with its
//! evidence, defaults said so, malformed files named with their line or key.

use std::path::{Path, PathBuf};

use crate::sim_in;

pub fn profiles() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("reallab/profiles")
}

/// A copy of a committed profile in `dir`, to edit.
pub fn copy_profile(name: &str, dir: &Path) -> PathBuf {
    let to = dir.join(name);
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(profiles().join(name)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    to
}

#[test]
fn calib_derives_a_valid_scenario_with_its_evidence() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("p.ron");
    let calib = profiles().join("calib");
    let check = profiles().join("check");
    let (ok, stdout, stderr) = sim_in(
        tmp.path(),
        &[
            "profile",
            calib.to_str().unwrap(),
            "--experiment",
            check.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
    );
    assert!(ok, "{stderr}");
    // Each value with the file and key it came from.
    for (field, value, evidence) in [
        ("nodes.count", "4", "check/lab.json: nodes"),
        (
            "service.pods.service_time",
            "Constant(time: \"11069ns\")",
            "calib/l2_wrk_results.txt: Requests/sec 5420.43",
        ),
        ("bgp.speaker hold", "9s", "bgpTimerHoldTimeMsecs"),
        (
            "bgp.bfd",
            "detect_multiplier: 3",
            "frr_bfd_peers_before.json",
        ),
        ("bgp.graceful_restart", "None", "remoteGrMode \"Helper\""),
        ("bgp.peer_down_delay", "12689us", "median of 24 = 72.7 ms"),
        (
            "ecmp.hash_source",
            "SocketTxhash(txrehash: false)",
            "reallab.hash_source",
        ),
        (
            "ecmp.nexthop_order",
            "ByAddress",
            "router_ip_route_before.json",
        ),
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(field))
            .unwrap_or_else(|| panic!("no {field} in\n{stdout}"));
        assert!(
            line.contains(value) && line.contains(evidence),
            "{field}: {line}"
        );
    }
    assert!(
        stdout.contains("nodes.cores, nodes.packet_cost")
            && stdout.contains("DEFAULT (not derived)")
    );
    assert!(stdout.contains("fitted (shown by sim compare, never judged): rps/l2, ping_rtt_ms/bgp, gbit_s/l2, session_down_fib_s/*"));
    let text = std::fs::read_to_string(&out).unwrap();
    // The fault timeline is check's: BFD-era faults in `bgp`, the hold rounds in `hold`.
    assert!(
        text.contains("neighbor_shutdown: \"node-3\", restart_after: \"6055008us\""),
        "{text}"
    );
    assert_eq!(
        text.matches("crash: \"node-").count(),
        1 + 9 + 2,
        "one BFD crash, nine hold crashes, the two L2 leader crashes"
    );
    // The L2 takeovers with the lab's arp_accept 0 and 1, and the 5 ms probe.
    for v in [
        "(name: \"l2_arp0\", l2: (clients: BehindGateway, arp_accept: Never)",
        "(name: \"l2_arp1\", l2: (clients: BehindGateway, arp_accept: Always)",
        "load: Ping(interval: \"5ms\")",
    ] {
        assert!(text.contains(v), "no {v} in\n{text}");
    }
    // The session-down-to-FIB delay per cause, as evidence for the single value.
    assert!(
        text.contains("ended by the node (NOTIFICATION received, TCP closed): median of 7 = ")
            && text.contains("by the router's timers (hold, BFD): median of 17 = 72.3 ms"),
        "{text}"
    );
    let (ok, _, stderr) = sim_in(tmp.path(), &["validate", out.to_str().unwrap()]);
    assert!(ok, "{stderr}");
    // Deterministic: the same profile gives the same bytes.
    let (_, again, _) = sim_in(
        tmp.path(),
        &[
            "profile",
            calib.to_str().unwrap(),
            "--experiment",
            check.to_str().unwrap(),
        ],
    );
    assert_eq!(again, text);
}

#[test]
fn an_empty_profile_keeps_every_default_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = sim_in(tmp.path(), &["profile", tmp.path().to_str().unwrap()]);
    assert!(ok, "{stderr}");
    let defaults = stderr
        .lines()
        .filter(|l| l.contains("DEFAULT (not derived)"))
        .count();
    assert!(defaults >= 12, "{stderr}");
    assert!(
        !stderr.contains("fitted (shown by sim compare, never judged): r"),
        "{stderr}"
    );
    lbsim::scenario::Scenario::parse(Path::new("p.ron"), &stdout).unwrap();
}

#[test]
fn malformed_profile_files_are_named_with_line_or_key() {
    let tmp = tempfile::tempdir().unwrap();
    type Edit<'a> = &'a dyn Fn(&str) -> String;
    let cases: [(&str, Edit, &str); 5] = [
        (
            "faults.csv",
            &|t| t.replacen(",crash,node-3,bfd", ",crush,node-3,bfd", 1),
            "faults.csv: line 18, column kind: unknown kind \"crush\"",
        ),
        (
            "faults.csv",
            &|t| t.replacen("1796351162.591504", "soon", 1),
            "faults.csv: line 18, column time",
        ),
        (
            "frr_bfd_peers_before.json",
            &|t| t.replacen("\"detect-multiplier\":3", "\"detect-multiplier\":1", 1),
            "frr_bfd_peers_before.json: key [0].detect-multiplier: expected 2..255",
        ),
        (
            "frr_bgp_neighbors_before.json",
            &|t| t[..200].to_string(),
            "frr_bgp_neighbors_before.json: line",
        ),
        (
            "sysctl.txt",
            &|t| {
                t.replacen(
                    "fib_multipath_hash_policy = 1",
                    "fib_multipath_hash_policy = 7",
                    1,
                )
            },
            "sysctl.txt: key net.ipv4.fib_multipath_hash_policy: expected 0 or 1",
        ),
    ];
    for (i, (file, edit, expect)) in cases.iter().enumerate() {
        let dir = copy_profile("calib", &tmp.path().join(i.to_string()));
        let t = std::fs::read_to_string(dir.join(file)).unwrap();
        std::fs::write(dir.join(file), edit(&t)).unwrap();
        let (ok, _, stderr) = sim_in(tmp.path(), &["profile", dir.to_str().unwrap()]);
        assert!(
            !ok && stderr.contains(expect),
            "{file}: expected {expect:?} in {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

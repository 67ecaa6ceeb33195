//! Layer 2 mode: failover follows from memberlist detection plus gratuitous ARP, or from the
//! neighbour cache's own timers where GARP is ignored.

use lbsim::lab::RunResult;

use crate::{run, scenario};

/// 3 nodes on 10.0.0.0/24 with VIP 10.0.0.200, whose leader is node-2 (sha256 order for this
/// IP: node-2, node-1, node-3); ping probes; `l2`, `events` and `service` per test.
fn l2_run(l2: &str, events: &str, policy: &str, duration: &str) -> RunResult {
    run(&scenario(&format!(
        r#"(
        name: "l2", duration: "{duration}", nodes: (count: 3),
        service: (vip: "10.0.0.200", traffic_policy: {policy}, pods: (replicas: 3, service_time: Exponential(mean: "100us"))),
        l2: {l2},
        clients: [
            (name: "web", count: 2, load: OpenLoop(rate: 50), connections: KeepAlive(pool: 4), start: "1s"),
            (name: "ping", count: 2, load: Ping(), timeout: "1s", start: "1s"),
        ],
        events: {events},
    )"#
    )))
    .remove(0)
}

fn leader_changes(r: &RunResult) -> Vec<(f64, String)> {
    r.log
        .entries()
        .iter()
        .filter(|e| e.kind == "l2_leader" && e.detail.ends_with("leader=true"))
        .map(|e| (e.time.as_secs_f64(), e.subject.clone()))
        .collect()
}

const CRASH_LEADER: &str = r#"[(at: "10s", crash: "node-2")]"#;

#[test]
fn the_elected_leader_follows_metallbs_sha256_order() {
    let r = l2_run("(clients: BehindGateway)", "[]", "Cluster", "3s");
    assert_eq!(leader_changes(&r), vec![(0.0, "node-2".to_string())]);
    assert_eq!(
        r.node_ingress.iter().filter(|&&n| n > 0).count(),
        1,
        "all traffic enters at the leader"
    );
}

#[test]
fn garp_accepting_hosts_fail_over_after_memberlist_detection() {
    for clients in ["BehindGateway", "OnSegment"] {
        let r = l2_run(
            &format!("(clients: {clients})"),
            CRASH_LEADER,
            "Cluster",
            "25s",
        );
        let takeover = leader_changes(&r)
            .into_iter()
            .find(|(t, _)| *t > 10.0)
            .expect("a new leader");
        // A probe round (<= 1 s, then 500 ms timeout and indirect probes) plus the 4 s suspicion
        // timeout of a 3-node cluster (memberlist suspicion.go, 4 x max(1, log10(3)) x 1 s).
        assert!(
            (14.5..17.5).contains(&takeover.0),
            "{clients}: takeover at {}",
            takeover.0
        );
        let (gap, _) = r.failover().unwrap();
        assert!(
            (4.5..7.5).contains(&gap.as_secs_f64()),
            "{clients}: ping gap {gap}"
        );
        assert!(r
            .log
            .entries()
            .iter()
            .any(|e| e.kind == "neighbour_mac" && e.time.as_secs_f64() >= takeover.0));
    }
}

#[test]
fn a_gateway_that_ignores_garp_waits_for_its_own_neighbour_timers() {
    let r = l2_run(
        "(clients: BehindGateway, ignores_garp: true)",
        CRASH_LEADER,
        "Cluster",
        "80s",
    );
    let (gap, _) = r.failover().unwrap();
    // REACHABLE (15-45 s after the last confirmation) -> STALE -> DELAY 5 s -> PROBE 3 x 1 s ->
    // FAILED -> broadcast request, answered by the new leader.
    assert!(
        gap.as_secs_f64() > 8.0,
        "ping gap {gap} should exceed the GARP-driven failover"
    );
    assert!(
        !r.failover_open_at_end(),
        "the gateway re-resolves within 80 s"
    );
    let states: Vec<&str> = r
        .log
        .entries()
        .iter()
        .filter(|e| e.kind == "neighbour_state" && e.time.as_secs_f64() > 10.0)
        .map(|e| e.detail.rsplit("to=").next().unwrap_or(""))
        .collect();
    for s in ["Stale", "Delay", "Probe", "Failed"] {
        assert!(
            states.contains(&s),
            "the gateway's entry never went {s}: {states:?}"
        );
    }
}

#[test]
fn graceful_shutdown_moves_the_ip_at_once() {
    let r = l2_run(
        "(clients: BehindGateway)",
        r#"[(at: "10s", shutdown: "node-2"), (at: "11s", crash: "node-2")]"#,
        "Cluster",
        "15s",
    );
    let takeover = leader_changes(&r)
        .into_iter()
        .find(|(t, _)| *t >= 10.0)
        .expect("a new leader");
    assert!(
        takeover.0 - 10.0 < 0.5,
        "takeover {:.3} s after the Leave",
        takeover.0 - 10.0
    );
    assert_eq!(r.lost_probes(), Some(0));
}

#[test]
fn draining_the_leader_moves_nothing_under_cluster_and_the_ip_under_local() {
    let drain = r#"[(at: "10s", drain: "node-2")]"#;
    let cluster = l2_run("(clients: BehindGateway)", drain, "Cluster", "15s");
    assert_eq!(
        leader_changes(&cluster).len(),
        1,
        "Cluster: the speaker stays, so does the IP"
    );
    assert_eq!(cluster.counts.failed(), 0);
    let local = l2_run("(clients: BehindGateway)", drain, "Local", "15s");
    let changes = leader_changes(&local);
    assert_eq!(
        changes.len(),
        2,
        "Local: the IP moves to a node with an endpoint: {changes:?}"
    );
    assert!((changes[1].0 - 10.0).abs() < 0.01);
}

#[test]
fn without_memberlist_a_dead_leader_keeps_the_ip_under_cluster_policy() {
    let r = l2_run(
        "(clients: BehindGateway, memberlist: false)",
        CRASH_LEADER,
        "Cluster",
        "60s",
    );
    assert_eq!(leader_changes(&r).len(), 1);
    assert!(
        r.failover_open_at_end(),
        "the outage lasts to the end of the run"
    );
}

#[test]
fn l2_capture_holds_gratuitous_arp_and_decodes_in_tshark() {
    let s = scenario(&format!(
        r#"(name: "cap", duration: "20s", nodes: (count: 3),
        service: (vip: "10.0.0.200", pods: (replicas: 3, service_time: Constant(time: "100us"))),
        l2: (clients: OnSegment),
        clients: [(name: "p", count: 2, load: Ping(), start: "1s")],
        events: {CRASH_LEADER})"#
    ));
    let r = lbsim::lab::run_variant_with(&s, &s.variant_list()[0], 1, true).unwrap();
    let pcap = r.pcap.expect("a capture");
    let (_, records) = sim_core::pcap::parse_capture(&pcap).unwrap();
    // Takeover bursts: a request and a reply at once, then every 1.1 s until 5 s after: 5 bursts.
    let garps = records
        .iter()
        .filter(|rec| {
            l2::wire::EthernetFrame::decode(rec.data)
                .ok()
                .and_then(|f| f.to_arp().ok())
                .is_some_and(|a| a.is_gratuitous() || a.sender_ip == a.target_ip)
        })
        .count();
    assert!(garps >= 10, "{garps} gratuitous ARP frames");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("l2.pcap");
    std::fs::write(&file, &pcap).unwrap();
    let Some(tshark) = testkit::or_skip(testkit::program("tshark", "tshark")) else {
        return;
    };
    let out = std::process::Command::new(tshark)
        .args(["-r", file.to_str().unwrap(), "-V"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        !text.contains("Malformed") && !text.contains("[Expert Info (Error"),
        "tshark found errors"
    );
    assert!(
        text.contains("Gratuitous ARP") || text.contains("Is gratuitous: True"),
        "no gratuitous ARP dissected"
    );
    assert_eq!(
        text.matches("Address Resolution Protocol").count(),
        records.len()
    );
}

/// metallb issue 2910, scaled down: aging 30 s, the gateway's entry REACHABLE 60-180 s.
fn blackhole(extra: &str) -> RunResult {
    run(&scenario(&format!(
        r#"(
        name: "bh", duration: "400s", nodes: (count: 3),
        service: (vip: "10.0.0.200", pods: (replicas: 3, service_time: Constant(time: "100us"))),
        l2: (clients: BehindGateway, base_reachable_time: "120s", switch_aging: "30s",
             flood_unknown_unicast: false, replies_refresh_switch: false{extra}),
        clients: [(name: "ping", count: 1, load: Ping(interval: "1s"), timeout: "1s", start: "1s", output: "ping.txt")],
    )"#
    )))
    .remove(0)
}

#[test]
fn switch_aging_shorter_than_the_gateways_arp_timeout_blackholes_the_vip() {
    let r = blackhole("");
    let (gap, _) = r.failover().unwrap();
    // The last frame from the leader's MAC is the end of its takeover burst (4.4 s); the entry
    // ages 30 s later; traffic returns only when the gateway's REACHABLE entry (60-180 s)
    // expires, its unicast probes are dropped too, and it broadcasts. Then it starts over.
    // The first probe into the hole is sent at 35 s (icmp_seq k leaves at k s: from 1 s, 1 s
    // apart); probes are not requests, so the ping log says which were lost.
    let log = &r
        .tool_files
        .iter()
        .find(|(n, _)| n == "ping.txt")
        .unwrap()
        .1;
    let log = lbsim::tools::ping::parse(&String::from_utf8_lossy(log)).unwrap();
    let first_loss = log.lost[0] as f64;
    assert!(
        (34.0..36.0).contains(&first_loss),
        "first lost probe sent at {first_loss} s"
    );
    assert!(gap.as_secs_f64() > 20.0, "blackhole lasts {gap}");
    assert!(r
        .log
        .entries()
        .iter()
        .any(|e| e.kind == "neighbour_state" && e.detail.ends_with("to=Failed")));
}

#[test]
fn periodic_gratuitous_arp_or_flooding_or_symmetric_replies_prevent_it() {
    for fix in [", gratuitous_arp_interval: \"10s\"", ""] {
        let r = if fix.is_empty() {
            run(&scenario(
                r#"(name: "bh", duration: "400s", nodes: (count: 3),
                service: (vip: "10.0.0.200", pods: (replicas: 3, service_time: Constant(time: "100us"))),
                l2: (clients: BehindGateway, base_reachable_time: "120s", switch_aging: "30s", flood_unknown_unicast: true, replies_refresh_switch: false),
                clients: [(name: "ping", count: 1, load: Ping(interval: "1s"), timeout: "1s", start: "1s")])"#,
            ))
            .remove(0)
        } else {
            blackhole(fix)
        };
        assert_eq!(r.lost_probes(), Some(0), "fix {fix:?} lost probes");
    }
}

#[test]
fn a_partitioned_leader_loses_the_ip_and_takes_it_back_after_the_heal() {
    let r = l2_run(
        "(clients: BehindGateway)",
        r#"[(at: "10s", partition: "node-2"), (at: "30s", heal: "node-2")]"#,
        "Cluster",
        "120s",
    );
    let changes = leader_changes(&r);
    // The majority side elects node-1 after detection; the cut-off node-2 keeps announcing
    // to nobody (split brain); after the heal and memberlist's re-join node-2 is first in the
    // sha256 order again and takes the IP back (MetalLB's election is not sticky).
    let n1 = changes
        .iter()
        .find(|(t, n)| *t > 10.0 && n == "node-1")
        .expect("node-1 takes over");
    assert!((14.0..18.0).contains(&n1.0), "takeover at {}", n1.0);
    let back: Vec<&str> = r
        .log
        .entries()
        .iter()
        .filter(|e| e.kind == "neighbour_mac" && e.time.as_secs_f64() > 30.0)
        .map(|e| e.detail.as_str())
        .collect();
    assert!(
        back.iter().any(|d| d.ends_with("to=node-2")),
        "the gateway never returned to node-2: {back:?}"
    );
}

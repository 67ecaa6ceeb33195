//! The BGP control plane: failover times follow from the timers that detect the failure.

use lbsim::lab::RunResult;

use crate::{run, scenario};

/// 3 nodes, ping probes from 6 sources, node-2 fails at 5 s; `bgp` and `events` per test.
fn failure(bgp: &str, events: &str, duration: &str) -> Vec<RunResult> {
    run(&scenario(&format!(
        r#"(
        name: "failure",
        duration: "{duration}",
        nodes: (count: 3),
        service: (pods: (replicas: 3, service_time: Exponential(mean: "100us"))),
        bgp: {bgp},
        clients: [
            (name: "web", count: 3, load: OpenLoop(rate: 50), connections: KeepAlive(pool: 4), start: "1s"),
            (name: "ping", count: 6, load: Ping(interval: "100ms"), timeout: "1s", start: "1s"),
        ],
        events: {events},
    )"#
    )))
}

/// When the router's session with `node` went down, in seconds.
fn router_session_down(r: &RunResult, node: &str) -> f64 {
    r.log
        .entries()
        .iter()
        .find(|e| {
            e.kind == "session_down" && e.subject == node && e.detail.starts_with("side=router")
        })
        .unwrap_or_else(|| panic!("no router-side session_down for {node}"))
        .time
        .as_secs_f64()
}

/// When the ECMP group lost `node`, in seconds.
fn group_lost(r: &RunResult, node: &str) -> f64 {
    r.changes
        .iter()
        .find(|c| c.cause.contains(&format!("-{node}")))
        .unwrap_or_else(|| panic!("the ECMP group never lost {node}: {:?}", r.changes))
        .time
        .as_secs_f64()
}

const CRASH: &str = r#"[(at: "5s", crash: "node-2")]"#;

#[test]
fn bfd_detects_a_crash_within_detect_mult_times_the_interval() {
    let r = &failure(
        "(speaker: FrrDatacenter, bfd: (transmit_interval: \"300ms\", receive_interval: \"300ms\", detect_multiplier: 3))",
        CRASH,
        "12s",
    )[0];
    let down = router_session_down(r, "node-2");
    // The last BFD packet left node-2 at most one interval (300 ms, jitter only shortens it)
    // before the crash; the router declares Down 3 x 300 ms after the last one it received.
    assert!((5.6..=5.901).contains(&down), "BFD session down at {down}");
    let fib = group_lost(r, "node-2");
    // bgpd's clear-node queue (10 ms), then its route queue (50 ms) and zebra's (10 ms).
    assert!(
        (fib - down - 0.070).abs() < 1e-6,
        "FIB programmed at {fib}, session down at {down}, delay 70 ms"
    );
    let (gap, _) = r.failover().unwrap();
    assert!(gap.as_secs_f64() < 1.1, "ping gap {gap}");
    assert!(
        r.lost_probes().unwrap() > 0,
        "some probes hash to node-2 and are lost"
    );
}

#[test]
fn hold_timer_detects_a_crash_nine_seconds_after_the_last_keepalive() {
    let r = &failure("(speaker: FrrDatacenter)", CRASH, "20s")[0];
    let down = router_session_down(r, "node-2");
    // Keepalives every 3 s: the last one reached the router in (2 s, 5 s]; hold 9 s after it.
    assert!((11.0..=14.001).contains(&down), "hold expiry at {down}");
    assert!(r
        .log
        .entries()
        .iter()
        .any(|e| e.kind == "session_down" && e.detail.contains("HoldTimerExpired")));
    let (gap, _) = r.failover().unwrap();
    assert!((6.0..9.2).contains(&gap.as_secs_f64()), "ping gap {gap}");
}

#[test]
fn native_speaker_failure_takes_the_ninety_second_hold() {
    let r = &failure("(speaker: Native)", CRASH, "100s")[0];
    let down = router_session_down(r, "node-2");
    // MetalLB native: hold 90 s, keepalive 30 s.
    assert!((65.0..=95.001).contains(&down), "hold expiry at {down}");
}

#[test]
fn graceful_shutdown_withdraws_within_a_round_trip_plus_the_fib_delay() {
    let r = &failure(
        "(speaker: FrrDatacenter)",
        r#"[(at: "5s", shutdown: "node-2"), (at: "6s", crash: "node-2")]"#,
        "8s",
    )[0];
    let lost = group_lost(r, "node-2");
    assert!(
        (0.070..0.0705).contains(&(lost - 5.0)),
        "group lost node-2 {:.6} s after the goodbye: a round trip plus 70 ms",
        lost - 5.0
    );
    // FRR without graceful restart says Cease / Peer De-configured (bgpd.c bgp_terminate).
    assert!(
        r.log.entries().iter().any(|e| e.kind == "session_down"
            && e.detail.contains("side=router")
            && e.detail.contains("NotificationReceived")),
        "the router should have received a NOTIFICATION"
    );
    assert_eq!(
        r.lost_probes(),
        Some(0),
        "a graceful shutdown loses no probe"
    );
}

#[test]
fn graceful_restart_keeps_the_route_while_the_speaker_restarts() {
    let events = r#"[(at: "5s", restart_speaker: "node-2", restart_after: "3s")]"#;
    let with_gr = &failure(
        "(speaker: FrrDatacenter, graceful_restart: \"120s\")",
        events,
        "15s",
    )[0];
    let without = &failure("(speaker: FrrDatacenter)", events, "15s")[0];
    // Without GR the group loses node-2 and gets it back: two rehashes after the first fill.
    assert!(without.changes.iter().any(|c| c.cause.contains("-node-2")));
    assert!(without
        .changes
        .iter()
        .any(|c| c.cause.contains("+node-2") && c.time.as_secs_f64() > 8.0));
    // With GR the router keeps node-2's route as stale and the group never changes.
    assert!(
        with_gr.changes.iter().all(|c| c.time.as_secs_f64() < 1.0),
        "{:?}",
        with_gr.changes
    );
    assert!(with_gr
        .log
        .entries()
        .iter()
        .any(|e| e.kind == "session_down" && !e.detail.contains("stale_for=none")));
}

#[test]
fn a_recovered_node_rejoins_the_group() {
    let r = &failure(
        "(speaker: FrrDatacenter, bfd: ())",
        r#"[(at: "5s", crash: "node-2"), (at: "8s", recover: "node-2")]"#,
        "15s",
    )[0];
    assert!(r
        .changes
        .iter()
        .any(|c| c.cause.contains("-node-2") && c.time.as_secs_f64() < 6.0));
    assert!(r
        .changes
        .iter()
        .any(|c| c.cause.contains("+node-2") && c.time.as_secs_f64() > 8.0));
}

#[test]
fn control_plane_runs_are_deterministic_down_to_the_capture() {
    let text = |seed: u64| {
        format!(
            r#"(name: "d", duration: "10s", seed: {seed}, nodes: (count: 3),
            service: (pods: (replicas: 3, service_time: Constant(time: "100us"))),
            bgp: (speaker: FrrDatacenter, bfd: ()),
            clients: [(name: "p", count: 3, load: Ping(), start: "1s")],
            events: [(at: "4s", crash: "node-3")])"#
        )
    };
    let capture = |seed| {
        let s = scenario(&text(seed));
        lbsim::lab::run_variant_with(&s, &s.variant_list()[0], seed, true)
            .unwrap()
            .pcap
            .unwrap()
    };
    let (a, b, c) = (capture(1), capture(1), capture(2));
    assert!(a.len() > 1000);
    assert_eq!(a, b, "same seed, different capture");
    assert_ne!(a, c, "another seed should change BFD jitter and ISNs");
}

#[test]
fn a_partition_withdraws_the_node_and_the_heal_brings_it_back() {
    let r = &failure(
        "(speaker: FrrDatacenter, bfd: ())",
        r#"[(at: "5s", partition: "node-2"), (at: "8s", heal: "node-2")]"#,
        "30s",
    )[0];
    let lost = group_lost(r, "node-2");
    assert!((5.6..5.95).contains(&lost), "withdrawn at {lost}");
    assert!(
        r.changes
            .iter()
            .any(|c| c.cause.contains("+node-2") && c.time.as_secs_f64() > 8.0),
        "node-2 never came back: {:?}",
        r.changes
    );
}

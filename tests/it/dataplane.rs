//! The data plane's mechanisms, each shown by a run whose outcome follows from it.

use crate::{run, scenario, small};

#[test]
fn withdrawing_a_node_resets_its_connections_under_loose_conntrack() {
    let r = &run(&scenario(&small(
        r#"events: [(at: "5s", withdraw: "node-3")], ecmp: (selection: Resilient(idle_timer: "0s")),"#,
    )))[0];
    let change = &r.changes[0];
    assert_eq!((change.group_before, change.group_after), (4, 3));
    assert_eq!(change.live, 32, "4 clients x 8 pooled connections");
    // Resilient: only node-3's connections move, and each breaks on its next request with a RST.
    assert!(change.moved > 0);
    assert_eq!(change.broken_reset, change.moved);
    assert_eq!(r.counts.reset, change.moved);
    assert_eq!(r.counts.timeout, 0);
    // Nothing reaches node-3 after the withdraw: its ingress share is well under a quarter.
    assert!(r.node_ingress[2] * 4 < r.node_ingress.iter().sum::<u64>());
}

#[test]
fn strict_conntrack_turns_resets_into_timeouts() {
    let r = &run(&scenario(&small(
        r#"events: [(at: "5s", withdraw: "node-3")], ecmp: (selection: Resilient(idle_timer: "0s")),
           variants: [(name: "strict", service: (conntrack_tcp_loose: false))],"#,
    )))[0];
    let change = &r.changes[0];
    assert!(change.moved > 0);
    assert_eq!(change.broken_timeout, change.moved);
    assert_eq!(change.broken_reset, 0);
    assert_eq!(r.counts.reset, 0);
    assert_eq!(r.counts.timeout, change.moved);
}

#[test]
fn modulo_moves_most_survivors_and_rendezvous_none() {
    let s = scenario(&small(
        r#"events: [(at: "5s", withdraw: "node-4")],
           clients: [(name: "c", count: 20, load: OpenLoop(rate: 100), connections: KeepAlive(pool: 20))],
           variants: [(name: "modulo", ecmp: (selection: Modulo)), (name: "rendezvous", ecmp: (selection: Rendezvous))],"#,
    )
    .replace(
        r#"clients: [(name: "c", count: 4, load: OpenLoop(rate: 200), connections: KeepAlive(pool: 8), timeout: "1s")],"#,
        "",
    ));
    let results = run(&s);
    let (modulo, rdv) = (&results[0].changes[0], &results[1].changes[0]);
    assert_eq!(modulo.live, 400);
    // Closed form: 1/4 sat on node-4; of the other 3/4, (N-2)/(N-1) = 2/3 move: 75 % in all.
    let share = modulo.moved as f64 / modulo.live as f64;
    assert!((0.65..0.85).contains(&share), "modulo moved {share}");
    // Rendezvous moves exactly node-4's connections: about a quarter.
    let share = rdv.moved as f64 / rdv.live as f64;
    assert!((0.15..0.35).contains(&share), "rendezvous moved {share}");
}

#[test]
fn crash_without_withdraw_blackholes_until_the_route_goes() {
    let r = &run(&scenario(&small(
        r#"events: [(at: "4s", crash: "node-2"), (at: "5s", withdraw: "node-2"), (at: "8s", recover: "node-2")],
           ecmp: (selection: Resilient(idle_timer: "0s")),"#,
    )))[0];
    // Between the crash and the withdraw, requests routed to node-2 are lost: timeouts.
    assert!(r.counts.timeout > 0);
    assert!(r.log.entries().iter().any(|e| e.kind == "node_crash"));
    assert!(r.log.entries().iter().any(|e| e.kind == "node_recover"));
    assert_eq!(
        r.counts.started,
        r.counts.ok + r.counts.failed() + r.counts.in_flight
    );
}

#[test]
fn no_route_is_refused_and_no_endpoints_is_refused() {
    // Every route withdrawn: the router has nothing, new connections are refused.
    let r = &run(&scenario(&small(
        r#"events: [(at: "2s", withdraw: "node-1"), (at: "2s", withdraw: "node-2"), (at: "2s", withdraw: "node-3"), (at: "2s", withdraw: "node-4")],"#,
    )
    .replace("KeepAlive(pool: 8)", "PerRequest")))[0];
    assert!(r.counts.refused > 1000, "{:?}", r.counts);
    assert_eq!(r.changes.last().unwrap().group_after, 0);
}

#[test]
fn local_policy_announces_only_nodes_with_a_pod() {
    let text = small(r#"variants: [(name: "local", service: (traffic_policy: Local))],"#).replace(
        "replicas: 4,",
        r#"replicas: 2, placement: OnNodes(["node-1", "node-3"]),"#,
    );
    let r = &run(&scenario(&text))[0];
    assert_eq!(r.node_ingress[1], 0);
    assert_eq!(r.node_ingress[3], 0);
    assert!(r.node_ingress[0] > 0 && r.node_ingress[2] > 0);
    assert_eq!(r.counts.failed(), 0);
}

#[test]
fn l3_hashing_pins_one_client_to_one_node() {
    let text = small(r#"ecmp: (fields: L3),"#)
        .replace("count: 4, load", "count: 1, load")
        .replace("KeepAlive(pool: 8)", "PerRequest");
    let r = &run(&scenario(&text))[0];
    let used = r.node_ingress.iter().filter(|&&n| n > 0).count();
    assert_eq!(
        used, 1,
        "one source IP under l3 hashing reached {used} nodes: {:?}",
        r.node_ingress
    );
}

#[test]
fn closed_loop_keeps_users_busy_and_latency_grows_with_queueing() {
    let text = |users: u32| {
        small("").replace(
            "load: OpenLoop(rate: 200), connections: KeepAlive(pool: 8)",
            &format!("load: ClosedLoop(users: {users}), connections: KeepAlive(pool: {users})"),
        )
    };
    let light = &run(&scenario(&text(1)))[0];
    let heavy = &run(&scenario(&text(64)))[0];
    // 4 pods of one core at 100 us mean: about 40,000 requests/s at most.
    let rps = heavy.counts.ok as f64 / 10.0;
    assert!(
        (30_000.0..42_000.0).contains(&rps),
        "saturated throughput {rps}"
    );
    assert!(heavy.latency.quantile(0.5).as_nanos() > 3 * light.latency.quantile(0.5).as_nanos());
}

#[test]
fn cluster_policy_second_hop_adds_latency() {
    // One pod on node-1; traffic entering at the other nodes takes one more hop to reach it.
    let text = small("").replace(
        "replicas: 4,",
        r#"replicas: 1, placement: OnNodes(["node-1"]),"#,
    );
    let cluster = &run(&scenario(&text))[0];
    let direct = &run(&scenario(
        &text.replace("count: 4, cores", "count: 1, cores"),
    ))[0];
    assert!(cluster.latency.quantile(0.9) > direct.latency.quantile(0.9));
    assert_eq!(cluster.counts.failed(), 0);
}

#[test]
fn ecmp_5k_reference_model_matches_queueing_theory() {
    let s = lbsim::scenario::Scenario::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/bench/ecmp-5k.ron"
    )))
    .unwrap();
    let r = &run(&s)[0];
    // M/M/1 per node: lambda 833/s, service 150 us, rho 0.125: sojourn Exp(mean 171 us), plus
    // 200 us of round trip: p50 = 200 + 171 ln 2 = 319 us; p99 = 200 + 171 ln 100 = 987 us.
    let p50 = r.latency.quantile(0.5).as_millis_f64();
    let p99 = r.latency.quantile(0.99).as_millis_f64();
    assert!((0.31..0.33).contains(&p50), "p50 {p50}");
    assert!((0.95..1.03).contains(&p99), "p99 {p99}");
    assert!(
        (297_000..303_000).contains(&r.counts.started),
        "{}",
        r.counts.started
    );
    assert_eq!(r.counts.failed(), 0);
}

#[test]
fn bulk_throughput_is_capped_by_the_l2_leaders_nic_and_scales_with_bgp() {
    let s = scenario(
        r#"(name: "iperf", duration: "12s", nodes: (count: 3, cores: 4, packet_cost: "1us"),
        network: (client_link: (delay: "50us", bandwidth: "40Gbit/s"), node_link: (delay: "50us", bandwidth: "10Gbit/s")),
        service: (vip: "10.0.0.200", traffic_policy: Local, pods: (replicas: 3, service_time: Constant(time: "100us"))),
        bgp: (speaker: FrrDatacenter),
        clients: [(name: "iperf", load: Iperf3(parallel: 12), start: "1s", stop: "11s", output: "{variant}_throughput.json")],
        variants: [(name: "bgp"), (name: "l2", l2: ())])"#,
    );
    let results = run(&s);
    let gbps = |i: usize| results[i].bulk[0].sent_bps / 1e9;
    // L2: every stream enters at the leader: one 10 Gbit/s NIC.
    assert!((gbps(1) - 10.0).abs() < 0.01, "l2 {} Gbit/s", gbps(1));
    // BGP: ECMP spreads 12 streams over three NICs; the 40 Gbit/s client link is not the limit.
    assert!(gbps(0) > 25.0, "bgp {} Gbit/s", gbps(0));
    // A saturated NIC's queue adds to the propagation RTT (200 us here).
    assert!(results[1].bulk[0].mean_rtt_us > 300.0);
    let file = &results[1]
        .tool_files
        .iter()
        .find(|(n, _)| n == "l2_throughput.json")
        .unwrap()
        .1;
    let v: serde_json::Value = serde_json::from_slice(file).unwrap();
    assert_eq!(v["end"]["streams"].as_array().unwrap().len(), 12);
    assert_eq!(v["intervals"].as_array().unwrap().len(), 10);
}

#[test]
fn vegeta_streams_every_result_to_a_file_in_its_csv_encoding() {
    let s = scenario(
        r#"(name: "v", duration: "3s", nodes: (count: 2),
        service: (pods: (replicas: 2, service_time: Constant(time: "100us"))),
        clients: [(name: "vegeta", load: Vegeta(rate: 200), start: "1s", stop: "2s", output: "{variant}_vegeta_200rps.json")])"#,
    );
    let dir = tempfile::tempdir().unwrap();
    let out = lbsim::outdir::OutDir::claim(dir.path()).unwrap();
    let opts = lbsim::lab::RunOptions {
        out: Some(std::sync::Arc::new(out)),
        ..lbsim::lab::RunOptions::default()
    };
    let r = lbsim::lab::run_variant_opts(&s, &s.variant_list()[0], 1, &opts).unwrap();
    let csv = std::fs::read_to_string(dir.path().join("base_vegeta_200rps.csv")).unwrap();
    assert_eq!(
        csv.lines().count() as u64,
        r.counts.started,
        "one line per request"
    );
    let parsed = lbsim::tools::vegeta::parse_csv(&csv).unwrap();
    assert_eq!(parsed.len(), 200);
    assert!(!dir.path().join(".base_vegeta_200rps.csv.tmp").exists());
}

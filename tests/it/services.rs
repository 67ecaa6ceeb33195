//! Several LoadBalancer services (issue 12 part 1): IPs from pools, a leader per IP in Layer 2
//! mode by MetalLB's election, announcements per advertisement in BGP mode, per-service books.

use lbsim::lab::RunResult;

/// scenarios/services.ron without its crash, in variant `v`.
fn services_run(v: &str) -> RunResult {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/services.ron"
    ))
    .unwrap()
    .replace(r#"events: [(at: "20s", crash: "node-5")],"#, "")
    .replace(r#"duration: "40s""#, r#"duration: "10s""#);
    let s = crate::scenario(&text);
    let v = s.variants.iter().find(|x| x.name == v).unwrap().clone();
    lbsim::lab::run_variant(&s, &v, s.seed).unwrap()
}

#[test]
fn every_l2_leader_is_metallbs_election_and_two_of_three_ingress_ips_share_a_node() {
    let r = services_run("l2");
    assert!(r.multi_service);
    let names: Vec<&str> = r.node_names.iter().map(String::as_str).collect();
    let mut led = vec![0u64; names.len()];
    for s in &r.services {
        // metallb layer2_controller.go: the first node in sha256(node#ip) order announces.
        let want = l2::election::leader(s.vip, &names).unwrap();
        let got: Vec<&str> = s
            .announcers
            .iter()
            .map(|&n| names[usize::from(n)])
            .collect();
        assert_eq!(got, [want], "{} {}", s.name, s.vip);
        led[usize::from(s.announcers[0])] += 1;
    }
    // metallb issue 2284: 7 nodes, 3 ingress services on contiguous IPs, one node hosts two.
    let ingress: Vec<&str> = r
        .services
        .iter()
        .filter(|s| s.name.starts_with("ingress-"))
        .map(|s| names[usize::from(s.announcers[0])])
        .collect();
    assert_eq!(ingress, ["node-1", "node-5", "node-5"]);
    // Per-node load shows it: all of a service's requests enter at its leader, so a node's
    // ingress is the requests of the services it leads, and a node leading none gets none.
    let per = lbsim::rows::services_per_node(&r);
    assert_eq!(per, led);
    for (i, &n) in per.iter().enumerate() {
        let led_requests: u64 = r
            .services
            .iter()
            .filter(|s| usize::from(s.announcers[0]) == i)
            .map(|s| s.counts.started - s.counts.in_flight)
            .sum();
        let ingress = r.node_ingress[i];
        assert!(
            ingress.abs_diff(led_requests) <= 8,
            "node-{}: leads {n}, ingress {ingress}, its services' requests {led_requests}",
            i + 1
        );
    }
}

#[test]
fn per_service_books_add_up_to_the_variant_totals() {
    for v in ["l2", "bgp"] {
        let r = services_run(v);
        let sum = |f: fn(&lbsim::lab::Counts) -> u64| -> u64 {
            r.services.iter().map(|s| f(&s.counts)).sum()
        };
        assert_eq!(sum(|c| c.started), r.counts.started, "{v}");
        assert_eq!(sum(|c| c.ok), r.counts.ok, "{v}");
        assert_eq!(sum(|c| c.failed()), r.counts.failed(), "{v}");
        assert_eq!(sum(|c| c.in_flight), r.counts.in_flight, "{v}");
        for s in &r.services {
            let c = &s.counts;
            assert!(c.started > 0, "{v} {}", s.name);
            assert_eq!(c.started, c.ok + c.failed() + c.in_flight, "{v} {}", s.name);
        }
    }
}

/// A BGP-mode cluster of 6 nodes, node-1..3 labelled zone=a, two services on a /28 pool.
fn selector_scenario(ad: &str, policy: &str) -> lbsim::scenario::Scenario {
    crate::scenario(&format!(
        r#"(name: "sel", duration: "6s",
            nodes: (count: 6, labels: [(label: "zone=a", nodes: ["node-1..node-3"])]),
            service: (traffic_policy: {policy}, pods: (replicas: 2, service_time: Exponential(mean: "100us"))),
            pools: [(name: "p", addresses: ["192.0.2.16/28"])],
            services: [(name: "a", pool: "p"), (name: "b", pool: "p")],
            advertisements: [{ad}],
            bgp: (speaker: FrrDatacenter),
            clients: [(name: "c", count: 4, service: "a", load: OpenLoop(rate: 100), connections: KeepAlive(pool: 2), timeout: "1s", start: "2s"),
                      (name: "d", count: 4, service: "b", load: OpenLoop(rate: 100), connections: KeepAlive(pool: 2), timeout: "1s", start: "2s")])"#
    ))
}

#[test]
fn bgp_advertisements_announce_from_the_nodes_their_selectors_pick() {
    let s = selector_scenario(r#"(mode: Bgp, node_selectors: [{"zone": "a"}])"#, "Cluster");
    let r = &crate::run(&s)[0];
    for svc in &r.services {
        assert_eq!(svc.announcers, [0, 1, 2], "{}", svc.name);
        assert_eq!(svc.counts.failed(), 0, "{}", svc.name);
    }
    assert!(
        r.node_ingress[..3].iter().all(|&n| n > 0),
        "{:?}",
        r.node_ingress
    );
    assert!(
        r.node_ingress[3..].iter().all(|&n| n == 0),
        "{:?}",
        r.node_ingress
    );
    // Without a selector every node announces.
    let s = selector_scenario("(mode: Bgp)", "Cluster");
    let r = &crate::run(&s)[0];
    assert!(r
        .services
        .iter()
        .all(|x| x.announcers == [0, 1, 2, 3, 4, 5]));
}

#[test]
fn an_aggregated_prefix_sends_local_traffic_to_nodes_without_its_pods() {
    // Service a's pods are on node-1, node-2; b's on node-3, node-4 (spread continues). With
    // Local policy each node announces only the services it has pods for. At /32 the router
    // sends each service's flows to its own pods' nodes: nothing fails. Aggregated to /24,
    // both services share one route announced by node-1..4, so half of each service's new
    // connections reach a node without a local endpoint, where KUBE-XLB drops them.
    let host = &crate::run(&selector_scenario("(mode: Bgp)", "Local"))[0];
    assert_eq!(host.counts.failed(), 0, "{:?}", host.counts);
    assert_eq!(host.services[0].announcers, [0, 1]);
    assert_eq!(host.services[1].announcers, [2, 3]);
    let agg = &crate::run(&selector_scenario(
        "(mode: Bgp, aggregation_length: 24)",
        "Local",
    ))[0];
    for svc in &agg.services {
        assert_eq!(svc.announcers, [0, 1, 2, 3], "{}", svc.name);
        let c = &svc.counts;
        assert!(c.timeout > 0 && c.ok > 0, "{}: {c:?}", svc.name);
    }
}

#[test]
fn a_one_entry_services_list_is_the_one_service_lab() {
    let base = crate::small(r#"events: [(at: "3s", withdraw: "node-2")], bgp: (),"#);
    let listed = base.replace(
        "clients: [",
        r#"services: [(name: "benchmark-base", ip: "192.0.2.10")], clients: ["#,
    );
    let (a, b) = (
        &crate::run(&crate::scenario(&base))[0],
        &crate::run(&crate::scenario(&listed))[0],
    );
    assert!(!a.multi_service && b.multi_service);
    assert_eq!(a.counts, b.counts);
    assert_eq!(a.node_ingress, b.node_ingress);
    assert_eq!(a.connections_broken(), b.connections_broken());
    assert_eq!(a.services[0].counts.started, b.services[0].counts.started);
}

/// Issue 12 part 2: a withdrawn next hop resets moved keep-alive connections; `retry` decides
/// whether users see it.
fn retry_scenario(retry: &str) -> lbsim::scenario::Scenario {
    crate::scenario(&format!(
        r#"(name: "retry", duration: "16s",
            nodes: (count: 6, cores: 4, packet_cost: "2us"),
            service: (pods: (replicas: 6, service_time: Exponential(mean: "200us"))),
            ecmp: (fields: FiveTuple, hash: Linux, seed: 24301, selection: HashThreshold),
            clients: [(name: "ext", count: 10, load: OpenLoop(rate: 200), connections: KeepAlive(pool: 10), timeout: "2s"{retry})],
            events: [(at: "8s", withdraw: "node-2")])"#
    ))
}

#[test]
fn client_retry_hides_resets_from_users_within_its_budget() {
    let none = &crate::run(&retry_scenario(""))[0];
    let resets = none.counts.reset;
    assert!(resets > 10, "{:?}", none.counts);
    assert_eq!(none.counts.user_failed(), resets);
    assert_eq!(none.counts.retries, 0);
    // With retry: as many resets on the wire (the same connections move), none for users, and
    // each reset costs exactly one extra request.
    let with = &crate::run(&retry_scenario(
        r#", retry: (attempts: 3, backoff: "50ms")"#,
    ))[0];
    let c = &with.counts;
    assert!(c.reset > 10, "{c:?}");
    assert_eq!(c.user_failed(), 0, "{c:?}");
    assert_eq!(c.retried, c.failed());
    assert_eq!(
        c.retries, c.retried,
        "every queued retry was sent before the end"
    );
    assert_eq!(
        c.started - c.retries,
        none.counts.started,
        "the same first tries"
    );
    // A budget of nothing: every failure reaches the user.
    let broke = &crate::run(&retry_scenario(
        r#", retry: (attempts: 3, backoff: "50ms", budget: 0.0, min_per_s: 0.0)"#,
    ))[0];
    assert_eq!(broke.counts.retries, 0);
    assert_eq!(broke.counts.retries_refused, broke.counts.failed());
    assert_eq!(broke.counts.user_failed(), broke.counts.failed());
}

/// Pinning (metallb-bgp-mode.md: "pin your service deployments to specific nodes"): pods on
/// the nodes labelled role=lb, Local policy, a BGPAdvertisement selecting those nodes.
fn pinned(pin: bool) -> lbsim::scenario::Scenario {
    let (placement, ads, policy) = if pin {
        (
            r#"placement: OnNodes(["node-1", "node-2"])"#,
            r#"advertisements: [(mode: Bgp, node_selectors: [{"role": "lb"}])],"#,
            "Local",
        )
    } else {
        ("placement: Spread", "", "Cluster")
    };
    crate::scenario(&format!(
        r#"(name: "pin", duration: "16s",
            nodes: (count: 6, cores: 4, packet_cost: "2us", labels: [(label: "role=lb", nodes: ["node-1", "node-2"])]),
            service: (traffic_policy: {policy}, pods: (replicas: 4, service_time: Exponential(mean: "200us"), {placement})),
            pools: [(name: "p", addresses: ["192.0.2.10-192.0.2.20"])],
            services: [(name: "web", pool: "p")],
            {ads}
            bgp: (speaker: FrrDatacenter, bfd: (transmit_interval: "300ms", receive_interval: "300ms", detect_multiplier: 3)),
            clients: [(name: "ext", count: 10, load: OpenLoop(rate: 200), connections: KeepAlive(pool: 10), timeout: "2s", start: "2s")],
            events: [(at: "8s", crash: "node-5")])"#
    ))
}

#[test]
fn pinning_makes_maintenance_elsewhere_touch_nothing() {
    let spread = &crate::run(&pinned(false))[0];
    assert!(spread.connections_broken() > 0, "{:?}", spread.counts);
    assert!(spread.counts.failed() > 0);
    let pin = &crate::run(&pinned(true))[0];
    assert_eq!(pin.services[0].announcers, [0, 1]);
    assert_eq!(pin.connections_moved(), 0, "{:?}", pin.changes);
    assert_eq!(pin.counts.failed(), 0, "{:?}", pin.counts);
}

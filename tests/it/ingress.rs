//! The ingress tier (issue 12 part B): clients' connections end at nginx pods (a MetalLB
//! service of their own, advertised from the ingress nodes), which proxy to backend pods.
//! Backend changes reset no client connection; requests in flight to a lost backend are
//! retried by nginx (`proxy_next_upstream error timeout`) within `proxy_next_upstream_tries`,
//! else answered 504; losing an ingress node resets client connections.

use lbsim::lab::{ProxyResult, RunResult, ServiceResult};

/// Ingress pods on node-1/2 (pool advertised from `role=ingress` only, Local policy), backend
/// `shop` on node-3..6; `ingress` spliced into the tier's settings, `events` into the run.
fn tier(ingress: &str, events: &str) -> RunResult {
    let text = format!(
        r#"(
    name: "ingress-tier",
    duration: "30s",
    nodes: (count: 6, cores: 4, packet_cost: "2us", labels: [(label: "role=ingress", nodes: ["node-1", "node-2"])]),
    service: (pods: (replicas: 4, service_time: Exponential(mean: "200us"))),
    pools: [(name: "edge", addresses: ["192.0.2.20-192.0.2.29"]), (name: "internal", addresses: ["192.0.2.50-192.0.2.59"])],
    services: [
        (name: "ingress", pool: "edge", traffic_policy: Local,
         pods: (replicas: 2, cpu: 2.0, service_time: Exponential(mean: "50us"), placement: OnNodes(["node-1", "node-2"])),
         ingress: (backend: "shop", upstream_timeout: "1s"{ingress})),
        (name: "shop", pool: "internal",
         pods: (replicas: 4, service_time: Exponential(mean: "200us"), placement: OnNodes(["node-3", "node-4", "node-5", "node-6"]))),
    ],
    advertisements: [
        (mode: Bgp, pools: ["edge"], node_selectors: [{{"role": "ingress"}}]),
        (mode: Bgp, pools: ["internal"]),
    ],
    bgp: (speaker: FrrDatacenter, bfd: (transmit_interval: "300ms", receive_interval: "300ms", detect_multiplier: 3)),
    clients: [(name: "users", count: 10, service: "ingress", load: OpenLoop(rate: 100), connections: KeepAlive(pool: 10), timeout: "2s", start: "2s")],
    events: [{events}],
)"#
    );
    let s = crate::scenario(&text);
    crate::run(&s).remove(0)
}

fn proxy(r: &RunResult) -> &ProxyResult {
    r.proxies.first().expect("one ingress tier")
}

fn ingress(r: &RunResult) -> &ServiceResult {
    r.services.iter().find(|s| s.name == "ingress").unwrap()
}

#[test]
fn a_lost_backend_node_resets_no_client_connection_and_nginx_retries_its_requests() {
    let r = tier("", r#"(at: "15s", crash: "node-5")"#);
    let s = ingress(&r);
    assert_eq!(s.counts.reset, 0, "{:?}", s.counts);
    assert_eq!(s.broken, 0, "the ingress service's route never changed");
    let p = proxy(&r);
    // The requests in node-5's pod at the crash, and those sent there before its endpoints
    // go (each marks the server failed for fail_timeout): all retried on another server.
    assert!(p.upstream_timeouts > 0, "{p:?}");
    assert_eq!(p.next_upstream, p.upstream_timeouts, "{p:?}");
    assert_eq!(p.gateway_timeout + p.bad_gateway, 0, "{p:?}");
    assert_eq!(s.counts.user_failed(), 0, "{:?}", s.counts);
    assert_eq!(r.counts.failed(), 0, "{:?}", r.counts);
}

#[test]
fn with_one_try_the_requests_on_a_lost_backend_fail_with_504_on_open_connections() {
    let r = tier(", tries: 1", r#"(at: "15s", crash: "node-5")"#);
    let p = proxy(&r);
    assert!(p.gateway_timeout > 0, "{p:?}");
    assert_eq!(p.next_upstream, 0);
    assert_eq!(p.gateway_timeout, p.upstream_timeouts);
    let s = ingress(&r);
    assert_eq!(s.counts.gateway, p.gateway_timeout, "{:?}", s.counts);
    // A 504 comes on the client's connection, which stays open: no reset, no new connection.
    assert_eq!(s.counts.reset, 0);
    assert_eq!(r.counts.connections, 100, "{:?}", r.counts);
}

#[test]
fn rescheduling_backend_pods_costs_nothing() {
    // kubectl drain: the pods leave the endpoints, nginx stops choosing them, in-flight
    // requests finish.
    let r = tier("", r#"(at: "15s", drain: "node-5")"#);
    assert_eq!(r.counts.failed(), 0, "{:?}", r.counts);
    assert_eq!(proxy(&r).upstream_timeouts, 0);
}

#[test]
fn losing_an_ingress_node_resets_client_connections() {
    let r = tier("", r#"(at: "15s", crash: "node-1")"#);
    let s = ingress(&r);
    assert!(
        s.moved > 0,
        "the ingress service's ECMP group shrank: {s:?}"
    );
    assert!(s.counts.reset + s.counts.timeout > 0, "{:?}", s.counts);
}

#[test]
fn the_tier_costs_its_processing_and_a_hop() {
    let r = tier("", "");
    let p = proxy(&r);
    let p50 = p.overhead.quantile(0.5).unwrap().as_secs_f64();
    // nginx's 50 us mean plus one hop to a backend node and back over 2 links each way.
    assert!(p50 > 50e-6 && p50 < 2e-3, "{p50}");
    // Every answered request went through the tier (a few were still upstream at the end).
    assert!(p.requests >= r.counts.ok && p.requests <= r.counts.ok + r.counts.in_flight);
    // Upstream keep-alive: far fewer upstream connections than requests.
    assert!(p.upstream_connections * 100 < p.requests, "{p:?}");
}

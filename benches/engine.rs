//! Speed of the parts on the hot path and of a whole run.
//!
//! `cargo bench --bench engine` (criterion). Compare ratios within one run: the machine is
//! shared and figures are noisy.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::path::Path;

use bgp::ecmp::whatif::random_flows;
use bgp::ecmp::{EcmpGroup, FlowHasher, HashFields, HashFunction, Selection};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use lbsim::lab::{run_variant, Endpoints, KubeProxy, Lab, Pod};
use lbsim::scenario::{KubeProxyMode, Scenario, TrafficPolicy};
use sim_core::{Scheduler, SimDuration, SimTime, Streams};

/// Push and pop through a queue holding ~1000 pending events, as a busy run does.
fn event_queue(c: &mut Criterion) {
    let mut g = c.benchmark_group("event_queue");
    g.throughput(Throughput::Elements(100_000));
    g.bench_function("hold_1000_push_pop_100k", |b| {
        b.iter_batched(
            || {
                let mut q = Scheduler::new();
                for i in 0..1000u64 {
                    q.schedule_at(SimTime(i * 997 % 10_000), i).unwrap();
                }
                q
            },
            |mut q| {
                let mut x = 12345u64;
                for _ in 0..100_000 {
                    let (_, e) = q.pop().unwrap();
                    x = x
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    q.schedule_in(SimDuration((x >> 40) % 10_000), e);
                }
                q
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn hashes(c: &mut Criterion) {
    let flows = random_flows(1, 4096, Ipv4Addr::new(192, 0, 2, 10), 80);
    let mut g = c.benchmark_group("hash_5tuple");
    g.throughput(Throughput::Elements(flows.len() as u64));
    for &f in HashFunction::ALL {
        let h = FlowHasher::new(HashFields::FiveTuple, f, 0x5eed);
        g.bench_function(f.to_string(), |b| {
            b.iter(|| {
                flows
                    .iter()
                    .fold(0u32, |acc, fl| acc ^ h.hash(black_box(fl)))
            })
        });
    }
    g.finish();
    let hashes: Vec<u32> = flows
        .iter()
        .map(|f| FlowHasher::new(HashFields::FiveTuple, HashFunction::Crc32, 1).hash(f))
        .collect();
    let mut g = c.benchmark_group("select_of_8");
    g.throughput(Throughput::Elements(hashes.len() as u64));
    for &s in Selection::ALL {
        let group = EcmpGroup::new(s, &(0..8).collect::<Vec<_>>()).unwrap();
        g.bench_function(s.to_string(), |b| {
            b.iter(|| {
                hashes
                    .iter()
                    .fold(0u32, |acc, &h| acc ^ group.peek(black_box(h)).unwrap_or(0))
            })
        });
    }
    g.finish();
}

/// kube-proxy's endpoint choice for a new connection with one pod per node, as ecmp-5k and
/// ecmp-500k-600n have: under Local policy (their setting) and under Cluster policy (the
/// service's ready endpoints kept as a list) it should cost the same at 6, 600 and 6,000 nodes.
fn endpoint_choice(c: &mut Criterion) {
    const CHOICES: u64 = 4096;
    let streams = Streams::new(1);
    for (policy, name) in [
        (TrafficPolicy::Local, "endpoint_choice_local"),
        (TrafficPolicy::Cluster, "endpoint_choice_cluster"),
    ] {
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(CHOICES));
        for nodes in [6u16, 600, 6000] {
            let pods: Vec<Pod> = (0..nodes)
                .map(|n| Pod::new(n, 1.0, streams.stream("pod")))
                .collect();
            // The kube-proxy of one node in the middle (each node has its own).
            let node = nodes / 2;
            let mut kp = KubeProxy::new(KubeProxyMode::Iptables, streams.stream("kp"));
            let eps = Endpoints::new(&pods, usize::from(nodes));
            g.bench_with_input(BenchmarkId::from_parameter(nodes), &pods, |b, pods| {
                b.iter(|| {
                    (0..CHOICES).fold(0u32, |acc, _| {
                        let pick = kp.choose_for(0, node, policy, black_box(pods), &eps);
                        acc ^ pick.unwrap_or(0)
                    })
                })
            });
        }
        g.finish();
    }
}

fn whole_run(c: &mut Criterion) {
    let s = Scenario::load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/bench/ecmp-5k.ron"
    )))
    .unwrap();
    let v = s.variant_list().remove(0);
    let mut g = c.benchmark_group("whole_run");
    g.sample_size(10);
    g.throughput(Throughput::Elements(300_000));
    g.bench_function("ecmp-5k (60 s, ~300k requests)", |b| {
        b.iter(|| run_variant(&s, &v, 1).unwrap().counts.started)
    });
    g.finish();
}

/// A route change that re-evaluates every established connection: `conns` keep-alive
/// connections (1,000 clients sending twice their pool per second: pools full by 1.2 s) over
/// 100 nodes with Maglev; each iteration withdraws node-7 or announces it back, a change that
/// moves about 1 % of them. `connection_rows: Moved`, as `scenarios/bench/conns-1m.ron`.
fn route_change(c: &mut Criterion) {
    let mut g = c.benchmark_group("route_change");
    g.sample_size(10);
    for conns in [10_000u32, 100_000, 1_000_000] {
        let pool = conns / 1000;
        let text = format!(
            r#"(name: "rc", duration: "100s", nodes: (count: 100, cores: 2),
                service: (traffic_policy: Local,
                          pods: (replicas: 100, service_time: Exponential(mean: "150us"))),
                ecmp: (selection: Maglev(table_size: 65537)),
                connection_rows: Moved,
                clients: [(name: "c", count: 1000, load: OpenLoop(rate: {rate}),
                           connections: KeepAlive(pool: {pool}), timeout: "2s")])"#,
            rate = 2 * pool
        );
        let s = Scenario::parse(Path::new("rc.ron"), &text).unwrap();
        let mut sim = Lab::build(&s, &s.variant_list()[0], 1, false).unwrap();
        sim.run_until(SimTime(1_200_000_000));
        assert_eq!(sim.model.open_connections(), conns as usize);
        let mut announce = false;
        g.throughput(Throughput::Elements(u64::from(conns)));
        g.bench_function(BenchmarkId::from_parameter(conns), |b| {
            b.iter(|| {
                sim.model.change_route(6, announce, &mut sim.sched);
                announce = !announce;
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    event_queue,
    hashes,
    endpoint_choice,
    route_change,
    whole_run
);
criterion_main!(benches);

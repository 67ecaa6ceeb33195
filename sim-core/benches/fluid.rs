//! Cost of one max-min recomputation of a [`FluidNetwork`], for 10, 100 and 1000 flows over
//! 20 resources (a client NIC, a router, uplinks and node NICs of a small cluster).
//!
//! `cargo bench -p sim-core --bench fluid` (criterion). Compare ratios within one run: the
//! machine is shared and figures are noisy.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use sim_core::fluid::{FluidNetwork, ResourceId};
use sim_core::{SimDuration, SimTime};

const GBPS: u64 = 1_000_000_000;
const RESOURCES: usize = 20;

/// 20 resources: 4 client NICs, a router, 5 router->node links, 5 node forwarding
/// capacities, 5 node NICs; `flows` streams spread over clients and nodes (as ECMP would),
/// a third of them capped (window-limited).
fn network(flows: usize) -> (FluidNetwork, Vec<ResourceId>) {
    let mut net = FluidNetwork::new();
    let r: Vec<ResourceId> = (0..RESOURCES)
        .map(|i| {
            let capacity = match i {
                0..=3 => 10 * GBPS,
                4 => 40 * GBPS,
                5..=9 => 10 * GBPS,
                10..=14 => 3 * GBPS + i as u64 * 100_000_000,
                _ => 25 * GBPS,
            };
            net.add_resource(
                &format!("r{i}"),
                capacity,
                SimDuration::from_micros(10),
                1 << 20,
            )
        })
        .collect();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut specs = Vec::with_capacity(flows);
    for i in 0..flows {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let client = (x >> 33) as usize % 4;
        let node = (x >> 45) as usize % 5;
        let path = vec![r[client], r[4], r[5 + node], r[10 + node], r[15 + node]];
        let cap = (i % 3 == 0).then_some(GBPS / 2 + (x >> 40) % GBPS);
        specs.push((path, cap));
    }
    net.start_flows(SimTime::ZERO, specs.iter().map(|(p, c)| (&p[..], *c)));
    (net, r)
}

fn recompute(c: &mut Criterion) {
    let mut g = c.benchmark_group("fluid_recompute");
    for flows in [10usize, 100, 1000] {
        g.bench_with_input(BenchmarkId::from_parameter(flows), &flows, |b, &flows| {
            // A capacity change forces one full recomputation; a fresh network per batch keeps
            // the rate histories from growing across iterations.
            b.iter_batched(
                || network(flows),
                |(mut net, r)| {
                    net.set_capacity(SimTime(1), r[4], 20 * GBPS);
                    black_box(net.rate_bps(net.active_flows()[0]));
                    net
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, recompute);
criterion_main!(benches);

//! Speed of the parts on the hot path and of a whole run.
//!
//! `cargo bench --bench engine` (criterion). Compare ratios within one run: the machine is
//! shared and figures are noisy.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::path::Path;

use bgp::ecmp::whatif::random_flows;
use bgp::ecmp::{EcmpGroup, FlowHasher, HashFields, HashFunction, Selection};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use lbsim::lab::run_variant;
use lbsim::scenario::Scenario;
use sim_core::{Scheduler, SimDuration, SimTime};

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

criterion_group!(benches, event_queue, hashes, whole_run);
criterion_main!(benches);

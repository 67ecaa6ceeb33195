//! Speed of the event queue at the sizes runs have: a handful of pending events (ecmp-5k holds
//! about 20), a few hundred (ecmp-500k-600n) and a million (a million live connections' timers).
//!
//! `cargo bench -p sim-core --bench queue` (criterion). Each iteration pops the earliest event
//! and schedules one in its place, 0..10 us ahead, so the queue keeps its size, as a run's
//! steady state does. Compare ratios within one run: the machine is shared and figures are noisy.

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use sim_core::{Scheduler, SimDuration, SimTime};

/// An event payload the size of the lab's (16 bytes).
type Payload = (u64, u32, u32);

fn hold(c: &mut Criterion) {
    const OPS: u64 = 100_000;
    let mut g = c.benchmark_group("event_queue_hold");
    g.throughput(Throughput::Elements(OPS));
    for size in [20u64, 400, 1_000_000] {
        g.sample_size(if size > 100_000 { 10 } else { 50 });
        g.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
            b.iter_batched(
                || {
                    let mut q: Scheduler<Payload> = Scheduler::new();
                    let mut x = 7u64;
                    for i in 0..size {
                        x = lcg(x);
                        q.schedule_at(SimTime((x >> 40) % 10_000_000), (i, 0, 0))
                            .unwrap();
                    }
                    q
                },
                |mut q| {
                    let mut x = 12345u64;
                    for _ in 0..OPS {
                        let (_, e) = q.pop().unwrap();
                        x = lcg(x);
                        // Some ties: the (time, insertion) order must hold for them too.
                        q.schedule_in(SimDuration((x >> 40) % 10_000 / 8 * 8), e);
                    }
                    q
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();
}

fn lcg(x: u64) -> u64 {
    x.wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
}

criterion_group!(benches, hold);
criterion_main!(benches);

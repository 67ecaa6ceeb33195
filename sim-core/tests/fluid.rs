//! Fluid flows: textbook max-min allocations, exact byte accounting across changes, the
//! iperf3 `-P 10 -t 60` figure, round-trip estimates, and property tests of the max-min
//! property, capacity limits and determinism over random topologies.

use proptest::prelude::*;
use sim_core::fluid::{window_limit_bps, FlowId, FluidNetwork, RateChange, ResourceId};
use sim_core::{SimDuration, SimTime};

const GBPS: u64 = 1_000_000_000;
const MBPS: u64 = 1_000_000;

fn secs(s: u64) -> SimTime {
    SimTime(SimDuration::from_secs(s).as_nanos())
}

fn ms(m: u64) -> SimTime {
    SimTime(SimDuration::from_millis(m).as_nanos())
}

fn link(net: &mut FluidNetwork, name: &str, capacity_bps: u64) -> ResourceId {
    net.add_resource(name, capacity_bps, SimDuration::from_micros(10), 0)
}

#[test]
fn one_bottleneck_is_shared_equally() {
    let mut net = FluidNetwork::new();
    let l = link(&mut net, "l", 3 * GBPS);
    let a = net.start_flow(SimTime::ZERO, &[l], None);
    assert_eq!(net.rate_bps(a), 3 * GBPS);
    let b = net.start_flow(SimTime::ZERO, &[l], None);
    let c = net.start_flow(SimTime::ZERO, &[l], None);
    for f in [a, b, c] {
        assert_eq!(net.rate_bps(f), GBPS);
        assert_eq!(net.bottleneck(f), Some(l));
    }
    assert_eq!(net.load_bps(l), 3 * GBPS);
    assert!(net.is_bottleneck(l));
    assert_eq!(net.utilisation(l), 1.0);
}

#[test]
fn a_share_that_does_not_divide_is_rounded_down_and_never_overcommits() {
    let mut net = FluidNetwork::new();
    let l = link(&mut net, "l", GBPS);
    let path = [l];
    let flows = net.start_flows(SimTime::ZERO, (0..3).map(|_| (&path[..], None)));
    for &f in &flows {
        assert_eq!(net.rate_bps(f), 333_333_333);
    }
    // One bit/s per flow at most is left unused.
    assert_eq!(net.load_bps(l), GBPS - 1);
}

#[test]
fn parking_lot_all_equal_links_give_everyone_half() {
    // Bertsekas & Gallager's parking lot: one long flow over three unit links, one short flow
    // per link. Max-min: everyone gets 1/2.
    let mut net = FluidNetwork::new();
    let links: Vec<_> = (0..3)
        .map(|i| link(&mut net, &format!("l{i}"), GBPS))
        .collect();
    let long = net.start_flow(SimTime::ZERO, &links, None);
    let short: Vec<_> = links
        .iter()
        .map(|&l| net.start_flow(SimTime::ZERO, &[l], None))
        .collect();
    assert_eq!(net.rate_bps(long), GBPS / 2);
    for &f in &short {
        assert_eq!(net.rate_bps(f), GBPS / 2);
    }
}

#[test]
fn parking_lot_with_a_narrow_link_gives_the_known_max_min_rates() {
    // Links 10, 10, 6 Gbit/s; long flow over all three, one short flow per link.
    // Link 3 fills first at 3 each (long and short-3); links 1 and 2 give the rest, 7, to their
    // short flows: (long, s1, s2, s3) = (3, 7, 7, 3).
    let mut net = FluidNetwork::new();
    let l1 = link(&mut net, "l1", 10 * GBPS);
    let l2 = link(&mut net, "l2", 10 * GBPS);
    let l3 = link(&mut net, "l3", 6 * GBPS);
    let long = net.start_flow(SimTime::ZERO, &[l1, l2, l3], None);
    let s1 = net.start_flow(SimTime::ZERO, &[l1], None);
    let s2 = net.start_flow(SimTime::ZERO, &[l2], None);
    let s3 = net.start_flow(SimTime::ZERO, &[l3], None);
    let rates: Vec<_> = [long, s1, s2, s3]
        .iter()
        .map(|&f| net.rate_bps(f) / GBPS)
        .collect();
    assert_eq!(rates, [3, 7, 7, 3]);
    assert_eq!(net.bottleneck(long), Some(l3));
    assert_eq!(net.bottleneck(s1), Some(l1));
    assert!(net.is_bottleneck(l1) && net.is_bottleneck(l2) && net.is_bottleneck(l3));
}

#[test]
fn a_cap_redistributes_the_remainder() {
    let mut net = FluidNetwork::new();
    let l = link(&mut net, "l", GBPS);
    let capped = net.start_flow(SimTime::ZERO, &[l], Some(100 * MBPS));
    let a = net.start_flow(SimTime::ZERO, &[l], None);
    let b = net.start_flow(SimTime::ZERO, &[l], None);
    assert_eq!(net.rate_bps(capped), 100 * MBPS);
    assert_eq!(net.bottleneck(capped), None);
    assert_eq!(net.rate_bps(a), 450 * MBPS);
    assert_eq!(net.rate_bps(b), 450 * MBPS);
    // A cap above the fair share does not bind.
    net.set_flow_cap(SimTime::ZERO, capped, Some(900 * MBPS));
    for f in [capped, a, b] {
        assert_eq!(net.rate_bps(f), 333_333_333);
    }
    // A cap-only flow (empty path) just runs at its cap.
    let alone = net.start_flow(SimTime::ZERO, &[], Some(5 * MBPS));
    assert_eq!(net.rate_bps(alone), 5 * MBPS);
}

#[test]
fn flows_on_disjoint_paths_do_not_interact() {
    let mut net = FluidNetwork::new();
    let x = link(&mut net, "x", GBPS);
    let y = link(&mut net, "y", 2 * GBPS);
    let a = net.start_flow(SimTime::ZERO, &[x], None);
    let b = net.start_flow(SimTime::ZERO, &[y], None);
    assert_eq!((net.rate_bps(a), net.rate_bps(b)), (GBPS, 2 * GBPS));
    let c = net.start_flow(secs(1), &[y], None);
    assert_eq!(net.rate_bps(a), GBPS);
    assert_eq!((net.rate_bps(b), net.rate_bps(c)), (GBPS, GBPS));
    // a's history never changed.
    assert_eq!(net.rate_history(a).count(), 1);
}

#[test]
fn a_repeated_resource_counts_once() {
    let mut net = FluidNetwork::new();
    let l = link(&mut net, "l", GBPS);
    let f = net.start_flow(SimTime::ZERO, &[l, l], None);
    assert_eq!(net.path(f), &[l]);
    assert_eq!(net.rate_bps(f), GBPS);
}

#[test]
fn starting_and_stopping_conserves_bytes_exactly() {
    // a alone 0-10 s at 1 Gbit/s; b joins 10-30 s (500 Mbit/s each); a stops at 30 s; b alone
    // to 40 s at 1 Gbit/s.
    let mut net = FluidNetwork::new();
    let l = link(&mut net, "l", GBPS);
    let a = net.start_flow(SimTime::ZERO, &[l], None);
    let b = net.start_flow(secs(10), &[l], None);
    assert_eq!(net.rate_bps(a), GBPS / 2);
    net.stop_flow(secs(30), a);
    assert_eq!(net.rate_bps(a), 0);
    assert_eq!(net.rate_bps(b), GBPS);
    net.stop_flow(secs(40), b);
    assert_eq!(net.recomputations(), 4);

    let a_bytes = (10 * GBPS + 20 * GBPS / 2) / 8;
    let b_bytes = (20 * GBPS / 2 + 10 * GBPS) / 8;
    assert_eq!(net.bytes_sent(a, secs(100)), a_bytes);
    assert_eq!(net.bytes_sent(b, secs(100)), b_bytes);
    // Conservation: the link carried exactly capacity x busy time.
    assert_eq!(a_bytes + b_bytes, 40 * GBPS / 8);
    // The exact integral agrees with the rate history.
    for f in [a, b] {
        let hist: Vec<RateChange> = net.rate_history(f).collect();
        let integral: u128 = hist
            .windows(2)
            .map(|w| u128::from(w[0].rate_bps) * u128::from((w[1].at - w[0].at).as_nanos()))
            .sum();
        assert_eq!(net.bit_ns_sent(f, secs(100)), integral);
        assert_eq!(hist.last().unwrap().rate_bps, 0);
    }
    assert_eq!(
        net.rate_history(a).collect::<Vec<_>>(),
        [
            RateChange {
                at: SimTime::ZERO,
                rate_bps: GBPS
            },
            RateChange {
                at: secs(10),
                rate_bps: GBPS / 2
            },
            RateChange {
                at: secs(30),
                rate_bps: 0
            },
        ]
    );
    // Stopping again does nothing.
    net.stop_flow(secs(50), a);
    assert_eq!(net.recomputations(), 4);
}

#[test]
fn iperf3_p10_t60_over_a_10g_nic() {
    let mut net = FluidNetwork::new();
    let nic = net.add_resource("nic", 10 * GBPS, SimDuration::from_micros(20), 1 << 20);
    let path = [nic];
    let flows = net.start_flows(SimTime::ZERO, (0..10).map(|_| (&path[..], None)));
    net.stop_flows(secs(60), &flows);
    assert_eq!(net.recomputations(), 2, "a handful, not per packet");
    let each: Vec<u64> = flows.iter().map(|&f| net.bytes_sent(f, secs(60))).collect();
    let total: u64 = each.iter().sum();
    let rel = |x: u64, want: f64| ((x as f64 - want) / want).abs();
    assert!(rel(total, 75e9) < 1e-6, "total {total}");
    for &e in &each {
        assert!(rel(e, 7.5e9) < 1e-6, "per stream {e}");
    }
    // iperf3's 1 s interval reports add up to the total, to the byte.
    for &f in &flows {
        let sum: u64 = (0..60)
            .map(|s| net.interval_bytes(f, secs(s), secs(s + 1)))
            .sum();
        assert_eq!(sum, net.bytes_sent(f, secs(60)));
        assert_eq!(net.interval_bytes(f, secs(59), secs(60)), 125_000_000);
        assert_eq!(net.interval_bytes(f, secs(60), secs(61)), 0);
    }
    // Starting them one by one costs one recomputation each: still a handful.
    let mut one_by_one = FluidNetwork::new();
    let nic = one_by_one.add_resource("nic", 10 * GBPS, SimDuration::ZERO, 0);
    let flows: Vec<FlowId> = (0..10)
        .map(|_| one_by_one.start_flow(SimTime::ZERO, &[nic], None))
        .collect();
    assert_eq!(one_by_one.recomputations(), 10);
    assert_eq!(one_by_one.bytes_sent(flows[9], secs(60)), 7_500_000_000);
}

#[test]
fn intervals_split_a_rate_change_exactly() {
    let mut net = FluidNetwork::new();
    let l = link(&mut net, "l", 8 * MBPS); // 1 MB/s
    let a = net.start_flow(SimTime::ZERO, &[l], None);
    let _b = net.start_flow(ms(1500), &[l], None);
    // Second 1-2: 0.5 s at 1 MB/s then 0.5 s at 0.5 MB/s.
    assert_eq!(net.interval_bytes(a, secs(1), secs(2)), 750_000);
    assert_eq!(net.interval_bytes(a, secs(0), secs(1)), 1_000_000);
    assert_eq!(net.interval_bytes(a, secs(2), secs(3)), 500_000);
    // Queries may look back before the latest change.
    assert_eq!(net.bytes_sent(a, ms(500)), 500_000);
    assert_eq!(net.interval_bytes(a, secs(3), secs(2)), 0);
}

#[test]
fn a_capacity_change_and_a_path_change_recompute() {
    let mut net = FluidNetwork::new();
    let up = link(&mut net, "router->node-1", GBPS);
    let other = link(&mut net, "router->node-2", GBPS);
    let a = net.start_flow(SimTime::ZERO, &[up], None);
    let b = net.start_flow(SimTime::ZERO, &[up], None);
    assert_eq!(net.rate_bps(a), GBPS / 2);
    // The link goes down: nothing moves.
    net.set_capacity(secs(1), up, 0);
    assert_eq!((net.rate_bps(a), net.rate_bps(b)), (0, 0));
    assert_eq!(net.utilisation(up), 0.0);
    // ECMP rehashes b to the other node.
    net.set_path(secs(2), b, &[other]);
    assert_eq!(net.rate_bps(b), GBPS);
    assert_eq!(net.rate_bps(a), 0);
    net.set_capacity(secs(3), up, GBPS);
    assert_eq!(net.rate_bps(a), GBPS);
    assert_eq!(net.bytes_sent(a, secs(4)), GBPS / 2 / 8 + GBPS / 8);
    assert_eq!(net.bytes_sent(b, secs(4)), GBPS / 2 / 8 + 2 * GBPS / 8);
    assert_eq!(net.recomputations(), 5);
}

#[test]
fn rtt_adds_a_full_buffer_only_at_a_bottleneck() {
    let mut net = FluidNetwork::new();
    // 1 Gbit/s with a 125 kB buffer: a full buffer is 1 ms.
    let nic = net.add_resource("nic", GBPS, SimDuration::from_micros(10), 125_000);
    let sw = net.add_resource("switch", 10 * GBPS, SimDuration::from_micros(5), 1_000_000);
    let capped = net.start_flow(SimTime::ZERO, &[nic, sw], Some(100 * MBPS));
    // Nothing saturated: propagation only, 2 x (10 + 5) us.
    assert_eq!(net.rtt(capped), SimDuration::from_micros(30));
    assert_eq!(net.propagation_rtt(capped), SimDuration::from_micros(30));
    assert_eq!(net.queue_delay(nic), SimDuration::ZERO);
    // A greedy flow fills the NIC: its queue adds 1 ms to both; the switch stays idle-ish.
    let greedy = net.start_flow(SimTime::ZERO, &[nic, sw], None);
    assert_eq!(net.rate_bps(greedy), 900 * MBPS);
    assert_eq!(net.queue_delay(nic), SimDuration::from_millis(1));
    assert_eq!(net.queue_delay(sw), SimDuration::ZERO);
    let want = SimDuration::from_micros(30) + SimDuration::from_millis(1);
    assert_eq!(net.rtt(greedy), want);
    assert_eq!(net.rtt(capped), want);
    assert_eq!(net.retransmits(greedy), 0);
}

#[test]
fn window_limit_is_window_over_rtt() {
    // 64 KiB over 1 ms: 524.288 Mbit/s.
    assert_eq!(
        window_limit_bps(65_536, SimDuration::from_millis(1)),
        524_288_000
    );
    assert_eq!(window_limit_bps(1, SimDuration::ZERO), u64::MAX);
}

#[test]
#[should_panic(expected = "time order")]
fn changes_in_the_past_are_refused() {
    let mut net = FluidNetwork::new();
    let l = link(&mut net, "l", GBPS);
    net.start_flow(secs(2), &[l], None);
    net.start_flow(secs(1), &[l], None);
}

#[test]
#[should_panic(expected = "needs a cap")]
fn an_unbounded_flow_is_refused() {
    let mut net = FluidNetwork::new();
    net.start_flow(SimTime::ZERO, &[], None);
}

// ---- property tests ----

/// A random network: capacities, then flows (path as resource indices, optional cap) and a
/// script of later changes.
#[derive(Debug, Clone)]
struct Case {
    capacities: Vec<u64>,
    flows: Vec<(Vec<usize>, Option<u64>)>,
    /// (at ms, which change): 0 = stop flow i, 1 = change capacity of resource i, 2 = move
    /// flow i to the path of flow j.
    script: Vec<(u64, u8, usize, usize, u64)>,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..20).prop_flat_map(|nr| {
        let capacities =
            prop::collection::vec(prop_oneof![Just(0u64), 1_000u64..100_000_000_000], nr);
        let flow = (
            prop::collection::vec(0..nr, 1..6),
            prop::option::weighted(0.3, 0u64..20_000_000_000),
        );
        let flows = prop::collection::vec(flow, 1..60);
        let script = prop::collection::vec(
            (
                0u64..10_000,
                0u8..3,
                any::<usize>(),
                any::<usize>(),
                0u64..50_000_000_000,
            ),
            0..15,
        );
        (capacities, flows, script).prop_map(|(capacities, flows, script)| Case {
            capacities,
            flows,
            script,
        })
    })
}

/// Builds the case, checking the max-min property after every change; returns every flow's
/// rate history and bytes at the end, for the determinism check.
fn run(case: &Case) -> Vec<(Vec<RateChange>, u128)> {
    let mut net = FluidNetwork::new();
    let rs: Vec<ResourceId> = case
        .capacities
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            net.add_resource(
                &format!("r{i}"),
                c,
                SimDuration::from_micros(i as u64),
                1000,
            )
        })
        .collect();
    let path = |p: &[usize]| p.iter().map(|&i| rs[i]).collect::<Vec<_>>();
    let mut flows = Vec::new();
    for (i, (p, cap)) in case.flows.iter().enumerate() {
        // Half start at once, the rest one by one.
        if i % 2 == 0 {
            flows.push(net.start_flow(SimTime::ZERO, &path(p), *cap));
        } else {
            flows.extend(net.start_flows(SimTime::ZERO, [(&path(p)[..], *cap)]));
        }
        check_max_min(&net);
    }
    let mut script = case.script.clone();
    script.sort_by_key(|s| s.0);
    for &(at, kind, i, j, cap) in &script {
        let now = ms(at);
        match kind {
            0 => net.stop_flow(now, flows[i % flows.len()]),
            1 => net.set_capacity(now, rs[i % rs.len()], cap),
            _ => {
                let to = net.path(flows[j % flows.len()]).to_vec();
                let f = flows[i % flows.len()];
                if !to.is_empty() || net.flow_cap_bps(f).is_some() {
                    net.set_path(now, f, &to);
                }
            }
        }
        check_max_min(&net);
    }
    let end = ms(20_000);
    flows
        .iter()
        .map(|&f| (net.rate_history(f).collect(), net.bit_ns_sent(f, end)))
        .collect()
}

fn check_max_min(net: &FluidNetwork) {
    let nr = net.resource_count();
    let mut load = vec![0u64; nr];
    let mut count = vec![0u64; nr];
    let mut max_rate = vec![0u64; nr];
    for &f in net.active_flows() {
        for &r in net.path(f) {
            load[r.index()] += net.rate_bps(f);
            count[r.index()] += 1;
            max_rate[r.index()] = max_rate[r.index()].max(net.rate_bps(f));
        }
    }
    for r in net.resource_ids() {
        let i = r.index();
        let cap = net.capacity_bps(r);
        // Never over capacity (exactly; the brief's tolerance is 1e-9 relative).
        assert!(
            load[i] <= cap,
            "resource {i}: load {} > capacity {cap}",
            load[i]
        );
        assert_eq!(load[i], net.load_bps(r));
    }
    for &f in net.active_flows() {
        let rate = net.rate_bps(f);
        if let Some(cap) = net.flow_cap_bps(f) {
            assert!(rate <= cap);
            if rate == cap {
                continue;
            }
        }
        // Bottlenecked somewhere: a resource left with less than 1 bit/s per flow of spare
        // capacity, where this flow's rate is the largest.
        let limited = net.path(f).iter().any(|&r| {
            let i = r.index();
            net.capacity_bps(r) - load[i] < count[i].max(1) && rate == max_rate[i]
        });
        assert!(limited, "flow {f:?} at {rate} bit/s is not bottlenecked");
        let b = net
            .bottleneck(f)
            .expect("an uncapped-limited flow names its bottleneck");
        assert!(net.path(f).contains(&b));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn max_min_holds_and_runs_are_deterministic(case in case()) {
        let first = run(&case);
        let second = run(&case);
        prop_assert_eq!(first, second);
    }
}

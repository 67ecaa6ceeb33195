//! The `sim hash` what-if calculator: how many flows move when a group changes, and how even
//! the spread is before and after.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use super::hash::splitmix64;
use super::{EcmpGroup, FlowHasher, FlowKey, NextHop};

/// How flows spread over a group's members.
#[derive(Debug, Clone, PartialEq)]
pub struct Balance {
    /// Flows per member, in the group's member order (members with no flow included).
    pub per_next_hop: Vec<(NextHop, u64)>,
    /// Largest count over the mean count (1.0 = perfect; 0.0 for no members or no flows).
    pub max_over_mean: f64,
    /// Jain's fairness index (Σx)² / (n·Σx²): 1.0 = perfect, 1/n = all on one member;
    /// 0.0 for no members or no flows.
    pub jain: f64,
}

impl Balance {
    /// The balance of `flows` (already hashed) over `group`, without marking anything.
    fn of(group: &EcmpGroup, hashes: &[u32]) -> Self {
        let members = group.next_hops();
        let mut counts = vec![0u64; members.len()];
        for &h in hashes {
            if let Some(nh) = group.peek(h) {
                if let Some(i) = members.iter().position(|&m| m == nh) {
                    counts[i] += 1;
                }
            }
        }
        let total: u64 = counts.iter().sum();
        let (max_over_mean, jain) = if total == 0 {
            (0.0, 0.0)
        } else {
            let b = sim_core::Balance::of(&counts);
            (b.max_over_mean, b.jain)
        };
        Balance {
            per_next_hop: members.iter().copied().zip(counts).collect(),
            max_over_mean,
            jain,
        }
    }
}

/// One flow's next hop before and after a change (None: the group had no member).
pub type Move = (Option<NextHop>, Option<NextHop>);

/// What a change of group did to a set of flows.
#[derive(Debug, Clone, PartialEq)]
pub struct RemapReport {
    /// Flows examined.
    pub flows: u64,
    /// Flows whose next hop differs after the change.
    pub moved: u64,
    /// `moved / flows` (0 when there are no flows).
    pub moved_share: f64,
    /// Flows whose old next hop is still in the group.
    pub survivors: u64,
    /// Survivors that moved anyway: connections broken for no reason of their own.
    pub collateral: u64,
    /// `collateral / survivors` (0 when there are no survivors).
    pub collateral_share: f64,
    /// Spread before the change.
    pub before: Balance,
    /// Spread after the change.
    pub after: Balance,
}

/// Hashes every flow once and compares its next hop in `before` with `after`. Returns the
/// summary and, per flow in input order, (old next hop, new next hop). Nothing is marked
/// used in either group.
pub fn remap(
    hasher: &FlowHasher,
    before: &EcmpGroup,
    after: &EcmpGroup,
    flows: &[FlowKey],
) -> (RemapReport, Vec<Move>) {
    let hashes: Vec<u32> = flows.iter().map(|f| hasher.hash(f)).collect();
    remap_hashes(&hashes, before, after)
}

/// [`remap`] for flows whose router hashes are already known (one per flow, in order): for a
/// hash that is not a function of the flow's header (`HashSource::SocketTxhash`).
pub fn remap_hashes(
    hashes: &[u32],
    before: &EcmpGroup,
    after: &EcmpGroup,
) -> (RemapReport, Vec<Move>) {
    let mut pairs = Vec::with_capacity(hashes.len());
    let (mut moved, mut survivors, mut collateral) = (0u64, 0u64, 0u64);
    for &h in hashes {
        let old = before.peek(h);
        let new = after.peek(h);
        if old != new {
            moved += 1;
        }
        if let Some(o) = old {
            if after.next_hops().contains(&o) {
                survivors += 1;
                if new != old {
                    collateral += 1;
                }
            }
        }
        pairs.push((old, new));
    }
    let share = |part: u64, whole: u64| {
        if whole == 0 {
            0.0
        } else {
            part as f64 / whole as f64
        }
    };
    let n = hashes.len() as u64;
    let report = RemapReport {
        flows: n,
        moved,
        moved_share: share(moved, n),
        survivors,
        collateral,
        collateral_share: share(collateral, survivors),
        before: Balance::of(before, hashes),
        after: Balance::of(after, hashes),
    };
    (report, pairs)
}

/// First and last ephemeral port of Linux's default `net.ipv4.ip_local_port_range`.
const EPHEMERAL_PORTS: (u16, u16) = (32_768, 60_999);

/// `n` distinct TCP flows to `dst:dport` from random sources in 10.0.0.0/8 and random
/// ephemeral ports (32768..=60999, Linux's default range), drawn from a SplitMix64 stream
/// started at `seed`: the same arguments always give the same flows in the same order.
pub fn random_flows(seed: u64, n: usize, dst: Ipv4Addr, dport: u16) -> Vec<FlowKey> {
    let mut state = seed;
    let mut seen: HashSet<(u32, u16)> = HashSet::with_capacity(n); // lookups only
    let mut flows = Vec::with_capacity(n);
    let port_span = u64::from(EPHEMERAL_PORTS.1 - EPHEMERAL_PORTS.0) + 1;
    while flows.len() < n {
        let r = splitmix64(&mut state);
        let src = 0x0a00_0000 | ((r >> 40) as u32 & 0x00ff_ffff);
        let sport = EPHEMERAL_PORTS.0 + ((r & 0xffff_ffff) % port_span) as u16;
        if seen.insert((src, sport)) {
            flows.push(FlowKey {
                src: Ipv4Addr::from(src),
                dst,
                proto: 6,
                sport,
                dport,
            });
        }
    }
    flows
}

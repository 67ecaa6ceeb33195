//! ECMP: hash fields x hash function x selection algorithm.
//!
//! A router with several equal-cost next hops for a prefix picks one per flow: it hashes
//! some header fields ([`HashFields`](crate::ecmp::HashFields)) with a seeded function ([`HashFunction`](crate::ecmp::HashFunction)) into a
//! 31-bit value ([`FlowHasher::hash`](crate::ecmp::FlowHasher::hash)), and the prefix's [`EcmpGroup`](crate::ecmp::EcmpGroup) turns that value into
//! a next hop ([`Selection`](crate::ecmp::Selection)). What matters for a load balancer is what happens to existing
//! flows when the member list changes; [`whatif::remap`](crate::ecmp::whatif::remap) measures it.
//!
//! ```text
//!  FlowKey ──▶ FlowHasher (fields × function × seed) ──▶ u32 (31 bits)
//!                                                          │
//!  BGP: next hops ──▶ EcmpGroup::set_next_hops ──▶ EcmpGroup::select(now, hash) ──▶ NextHop
//! ```
//!
//! `linux` with `hash-threshold` or `resilient` reproduces the Linux kernel's choice exactly
//! (checked against a real kernel by `tests/kernel_ecmp.rs`); for IPv6 flows
//! ([`FlowKey6`]) [`Ipv6Hasher`] is the kernel's `rt6_multipath_hash`, whose 31-bit value the
//! same [`EcmpGroup`] selections take.
//!
//! ```
//! use bgp::ecmp::{EcmpGroup, FlowHasher, FlowKey, HashFields, HashFunction, Selection};
//! use sim_core::SimTime;
//!
//! let hasher = FlowHasher::new(HashFields::FiveTuple, HashFunction::Linux, 42);
//! let mut group = EcmpGroup::new(Selection::HashThreshold, &[1, 2, 3]).unwrap();
//! let flow = FlowKey {
//!     src: "10.1.2.3".parse().unwrap(),
//!     dst: "203.0.113.10".parse().unwrap(),
//!     proto: 6,
//!     sport: 40_000,
//!     dport: 80,
//! };
//! let before = group.select(SimTime::ZERO, hasher.hash(&flow)).unwrap();
//! group.set_next_hops(SimTime::ZERO, &[1, 2, 3, 4]);
//! let after = group.select(SimTime::ZERO, hasher.hash(&flow)).unwrap();
//! assert!([1, 2, 3].contains(&before) && [1, 2, 3, 4].contains(&after));
//! ```

use std::net::Ipv4Addr;

mod config;
mod group;
pub mod hash;
mod linux;
pub mod linux6;
mod resilient;
pub mod whatif;

pub use config::{
    HashFields, HashFunction, HashSource, ParseNameError, RssKey, Selection, DEFAULT_IDLE_TIMER,
    DEFAULT_MAGLEV_TABLE_SIZE, DEFAULT_RESILIENT_BUCKETS, DEFAULT_UNBALANCED_TIMER,
    MAX_RESILIENT_TIMER,
};
pub use group::{EcmpGroup, MAX_MAGLEV_TABLE_SIZE};
pub use hash::FlowHasher;
pub use linux6::{random_flows6, FlowKey6, Ipv6HashPath, Ipv6HashPolicy, Ipv6Hasher};

/// A flow as the router's hash sees it: IPv4 addresses, protocol and ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey {
    /// Source address (the client).
    pub src: Ipv4Addr,
    /// Destination address (the service VIP).
    pub dst: Ipv4Addr,
    /// IP protocol number (6 = TCP, 17 = UDP).
    pub proto: u8,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
}

/// The caller's opaque id of a next hop (the lab uses node indices).
pub type NextHop = u32;

/// Why a group could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EcmpError {
    /// The same next hop appears twice in the list given to [`EcmpGroup::new`].
    #[error("next hop {0} is listed twice")]
    DuplicateNextHop(NextHop),
    /// A resilient group with `buckets: 0` (Linux refuses it too).
    #[error("a resilient group needs at least one bucket")]
    ZeroBuckets,
    /// Maglev's table size must be prime so that every permutation covers the table.
    #[error("maglev table_size {0} is not prime (e.g. 251, 4099, 65537)")]
    TableSizeNotPrime(u32),
    /// Maglev's table size is over [`MAX_MAGLEV_TABLE_SIZE`].
    #[error("maglev table_size {size} is larger than the maximum {max}")]
    TableTooLarge {
        /// The size asked for.
        size: u32,
        /// The largest size accepted.
        max: u32,
    },
    /// A resilient timer longer than Linux can hold ([`MAX_RESILIENT_TIMER`]).
    #[error("resilient {name} {timer} is longer than Linux takes (at most {max}: a u32 of 1/100 s)", max = MAX_RESILIENT_TIMER)]
    TimerTooLarge {
        /// `idle_timer` or `unbalanced_timer`.
        name: &'static str,
        /// The timer asked for.
        timer: sim_core::SimDuration,
    },
    /// A resilient group with fewer buckets than members: Linux gives member i
    /// round(buckets (i+1) / N) - round(buckets i / N) buckets (`nh_res_group_rebalance`), so
    /// some members get none and never receive traffic.
    #[error("a resilient group of {buckets} buckets cannot spread {next_hops} next hops: some would get no bucket and no traffic; use at least {next_hops} buckets (at most 65535; Linux's default is 128)")]
    TooFewBuckets {
        /// Buckets asked for.
        buckets: u16,
        /// Members the group has at most.
        next_hops: usize,
    },
    /// A Maglev table with fewer slots than members: some members get no slot.
    #[error("a maglev table of {size} slots cannot hold {next_hops} next hops: some would get no slot and no traffic; use a prime of at least {next_hops} (e.g. 65537)")]
    TableSmallerThanGroup {
        /// The table size.
        size: u32,
        /// Members the group has at most.
        next_hops: usize,
    },
}

//! The session's timers as an enum-indexed table, and its seeded random stream.
//!
//! The runner asks [`TimerTable::next`] for the earliest deadline and wakes the session then; a
//! wake-up that finds nothing due does nothing, so nothing ever needs cancelling in the runner's
//! queue (quinn-proto `connection/timer.rs`).

use serde::{Deserialize, Serialize};
use sim_core::{SimDuration, SimTime};

/// The session's timers (RFC 4271 §8.1.1 and §10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Timer {
    /// ConnectRetryTimer: in Connect, how long a dial may take; in Active, when to dial again.
    ConnectRetry,
    /// HoldTimer: the peer must be heard from before it runs out.
    Hold,
    /// KeepaliveTimer: when to send the next KEEPALIVE.
    Keepalive,
    /// IdleHoldTimer (RFC 4271 §8.1.1, AutomaticStart): when to start again after going down.
    IdleHold,
    /// FRR's update-group coalesce timer (`subgroup_coalesce_timer`, bgp_updgrp_adj.c): when
    /// the first UPDATEs of an Established session go out.
    Coalesce,
}

impl Timer {
    /// Every timer, in table order (ties fire in this order).
    pub const ALL: [Timer; 5] = [
        Timer::ConnectRetry,
        Timer::Hold,
        Timer::Keepalive,
        Timer::IdleHold,
        Timer::Coalesce,
    ];

    fn index(self) -> usize {
        match self {
            Timer::ConnectRetry => 0,
            Timer::Hold => 1,
            Timer::Keepalive => 2,
            Timer::IdleHold => 3,
            Timer::Coalesce => 4,
        }
    }
}

/// One optional deadline per [`Timer`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerTable {
    deadlines: [Option<SimTime>; 5],
}

impl TimerTable {
    /// Arms `timer` to fire at `at` (replacing any earlier deadline).
    pub fn set(&mut self, timer: Timer, at: SimTime) {
        self.deadlines[timer.index()] = Some(at);
    }

    /// Disarms `timer`.
    pub fn stop(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    /// Disarms every timer.
    pub fn stop_all(&mut self) {
        self.deadlines = [None; 5];
    }

    /// The deadline of `timer`, if armed.
    pub fn get(&self, timer: Timer) -> Option<SimTime> {
        self.deadlines[timer.index()]
    }

    /// The earliest deadline of all.
    pub fn next(&self) -> Option<SimTime> {
        self.deadlines.iter().flatten().copied().min()
    }

    /// The earliest timer due at `now` (deadline <= now), disarmed; ties in [`Timer::ALL`] order.
    pub fn take_due(&mut self, now: SimTime) -> Option<Timer> {
        let due = Timer::ALL
            .into_iter()
            .filter_map(|t| self.get(t).filter(|&at| at <= now).map(|at| (at, t)))
            .min()?;
        self.stop(due.1);
        Some(due.1)
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny, fast, seedable stream; the session's only
/// source of randomness (keepalive jitter). Never OS entropy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A stream starting from `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `d` multiplied by a factor drawn uniformly from 0.75..=1.0 (RFC 4271 §10 jitter), in whole
    /// nanoseconds, without floating point.
    pub fn jitter(&mut self, d: SimDuration) -> SimDuration {
        const SCALE: u128 = 1 << 20;
        // factor = (3/4 + r/4) with r in [0, 1]: (3·SCALE + r·SCALE) / (4·SCALE).
        let r = u128::from(self.next_u64()) % (SCALE + 1);
        let ns = u128::from(d.as_nanos()) * (3 * SCALE + r) / (4 * SCALE);
        SimDuration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn take_due_fires_earliest_first_and_nothing_early() {
        let mut t = TimerTable::default();
        t.set(Timer::Keepalive, SimTime(10));
        t.set(Timer::Hold, SimTime(5));
        assert_eq!(t.next(), Some(SimTime(5)));
        assert_eq!(t.take_due(SimTime(4)), None);
        assert_eq!(t.take_due(SimTime(20)), Some(Timer::Hold));
        assert_eq!(t.take_due(SimTime(20)), Some(Timer::Keepalive));
        assert_eq!(t.take_due(SimTime(20)), None);
        assert_eq!(t.next(), None);
    }

    #[test]
    fn jitter_stays_within_three_quarters_and_one() {
        let mut rng = SplitMix64::new(42);
        let d = SimDuration::from_secs(30);
        for _ in 0..10_000 {
            let j = rng.jitter(d);
            assert!(j.as_nanos() >= d.as_nanos() * 3 / 4 && j <= d, "{j:?}");
        }
    }

    #[test]
    fn same_seed_same_stream() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
    }
}

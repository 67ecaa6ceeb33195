//! Client retry: Finagle's retry budget over a sliding window, and exponential backoff with
//! full jitter.
//!
//! The budget follows Finagle's `RetryBudget.apply(ttl, minRetriesPerSec, percentCanRetry)`
//! (finagle-core `service/RetryBudget.scala`): a leaky token bucket (twitter util
//! `TokenBucket.newLeakyBucket`) whose tokens sit in a `WindowedAdder` of ten slices over
//! `ttl`, so deposits and withdrawals expire after about `ttl`; every first try deposits
//! 1,000 tokens (the scale factor), a retry withdraws `1000 / percentCanRetry`, and a fixed
//! reserve of `minRetriesPerSec x ttl` retries' worth is always added to the balance. A burst
//! of resets therefore spends what the last 10 s of requests earned, not the whole run's.
//!
//! The backoff is gRPC's (proposal A6, "Retry Policy"): the n-th retry waits
//! `random(0, min(initial x 2^(n-1), max))`, the "full jitter" of AWS's "Exponential Backoff
//! And Jitter" (2015), so clients reset together do not come back together.

use rand::Rng;
use sim_core::{SimDuration, SimTime, Stream};

use crate::scenario::RetrySpec;

/// Finagle's `TokenRetryBudget.ScaleFactor`: tokens per deposit, so shares need no floats.
const SCALE: i64 = 1000;
/// twitter util `TokenBucket.newLeakyBucket`: a `WindowedAdder(ttl, 10 slices)`.
const SLICES: usize = 10;

/// One client's retry budget and its jitter stream.
#[derive(Debug)]
pub struct RetryBudget {
    /// Tokens per slice of the window, oldest overwritten first.
    slices: [i64; SLICES],
    /// The slice index (time / slice width) the newest entry belongs to.
    newest: u64,
    /// `ttl / SLICES`, ns.
    slice_ns: u64,
    /// Tokens one first try deposits (0 when the share is 0: only the reserve allows retries).
    deposit: i64,
    /// Tokens one retry costs.
    withdrawal: i64,
    /// The fixed reserve, in tokens.
    reserve: i64,
    /// Backoff of the first retry, and the cap.
    initial: SimDuration,
    max: SimDuration,
    /// The jitter's own stream (`client/<name>/retry`), apart from the arrivals'.
    rng: Stream,
}

impl RetryBudget {
    /// The budget `spec` describes, with jitter drawn from `rng`.
    pub fn new(spec: &RetrySpec, rng: Stream) -> Self {
        let ttl_s = spec.window.as_nanos() / 1_000_000_000;
        // RetryBudget.apply: percentCanRetry 0 means "every retry costs 1, no credit".
        let (deposit, withdrawal) = if spec.budget == 0.0 {
            (0, 1)
        } else {
            (SCALE, (SCALE as f64 / spec.budget) as i64)
        };
        RetryBudget {
            slices: [0; SLICES],
            newest: 0,
            slice_ns: (spec.window.as_nanos() / SLICES as u64).max(1),
            deposit,
            withdrawal,
            reserve: (spec.min_per_s * ttl_s as f64) as i64 * withdrawal,
            initial: spec.backoff,
            max: spec.max_backoff,
            rng,
        }
    }

    /// Expire the slices older than the window at `now`; the current slice's index.
    fn advance(&mut self, now: SimTime) -> usize {
        let slice = now.as_nanos() / self.slice_ns;
        let stale = slice.saturating_sub(self.newest).min(SLICES as u64);
        for k in 1..=stale {
            self.slices[((self.newest + k) % SLICES as u64) as usize] = 0;
        }
        self.newest = self.newest.max(slice);
        (self.newest % SLICES as u64) as usize
    }

    /// A first try was sent: it earns retries (Finagle's `deposit()`).
    pub fn deposit(&mut self, now: SimTime) {
        let i = self.advance(now);
        self.slices[i] += self.deposit;
    }

    /// Whether one more retry is allowed now; if so it is paid for (`tryWithdraw()`).
    pub fn try_withdraw(&mut self, now: SimTime) -> bool {
        let i = self.advance(now);
        let balance = self.slices.iter().sum::<i64>() + self.reserve;
        if balance < self.withdrawal {
            return false;
        }
        self.slices[i] -= self.withdrawal;
        true
    }

    /// How long retry `n` (1: the first) waits: full jitter under the capped exponential.
    pub fn backoff(&mut self, n: u8) -> SimDuration {
        let ceiling = self
            .initial
            .as_nanos()
            .saturating_mul(1 << (n.saturating_sub(1)).min(40))
            .min(self.max.as_nanos());
        SimDuration(self.rng.random_range(0..=ceiling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn spec(budget: f64, min_per_s: f64) -> RetrySpec {
        RetrySpec {
            attempts: 3,
            backoff: SimDuration::from_millis(50),
            max_backoff: SimDuration::from_secs(1),
            budget,
            min_per_s,
            window: SimDuration::from_secs(10),
        }
    }

    fn at(s: f64) -> SimTime {
        SimTime(SimDuration::from_secs_f64(s).as_nanos())
    }

    #[test]
    fn retries_are_a_share_of_the_last_window_plus_the_reserve() {
        let mut b = RetryBudget::new(&spec(0.2, 1.0), Stream::seed_from_u64(1));
        for k in 0..100 {
            b.deposit(at(f64::from(k) * 0.01));
        }
        // 20 % of 100 requests plus 1/s x 10 s of reserve.
        let allowed = (0..100).take_while(|_| b.try_withdraw(at(1.0))).count();
        assert_eq!(allowed, 30);
        // 11 s later the deposits and withdrawals expired: the reserve alone is left.
        let later = (0..100).take_while(|_| b.try_withdraw(at(12.5))).count();
        assert_eq!(later, 10);
    }

    #[test]
    fn a_zero_budget_allows_nothing() {
        let mut b = RetryBudget::new(&spec(0.0, 0.0), Stream::seed_from_u64(1));
        b.deposit(at(0.0));
        assert!(!b.try_withdraw(at(0.0)));
    }

    #[test]
    fn backoff_is_jittered_under_a_capped_doubling() {
        let mut b = RetryBudget::new(&spec(0.2, 10.0), Stream::seed_from_u64(7));
        for n in 1..=6u8 {
            let cap = (50_000_000u64 << (n - 1)).min(1_000_000_000);
            let waits: Vec<u64> = (0..200).map(|_| b.backoff(n).as_nanos()).collect();
            assert!(waits.iter().all(|&w| w <= cap), "retry {n} above its cap");
            // Full jitter: spread over the whole range, mean near half the cap.
            let mean = waits.iter().sum::<u64>() as f64 / 200.0;
            assert!(
                (mean / cap as f64 - 0.5).abs() < 0.1,
                "retry {n}: mean {mean}"
            );
        }
    }
}

//! Metrics: latency histograms (HdrHistogram), time series in fixed buckets, and balance.

use hdrhistogram::Histogram;

use crate::time::{SimDuration, SimTime};

/// The default width of a time-series bucket.
pub const DEFAULT_BUCKET: SimDuration = SimDuration::from_millis(100);

/// Latencies in nanoseconds, 1 ns to 1 hour, 3 significant digits (HdrHistogram).
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    hist: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    const MAX_NS: u64 = 3_600_000_000_000;
    const DIGITS: u8 = 3;

    /// Bytes of counts every histogram allocates, whatever it records: HdrHistogram keeps
    /// `(buckets + 1) * sub_buckets / 2` counters of 8 bytes, sub-buckets the power of two
    /// above `2 * 10^digits`, buckets doubling from there to the largest value
    /// (`Histogram::new_with_bounds`, hdrhistogram `lib.rs`).
    pub const HEAP_BYTES: usize = {
        let sub_buckets = (2 * 10u64.pow(Self::DIGITS as u32)).next_power_of_two();
        let mut smallest_untrackable = sub_buckets;
        let mut buckets = 1;
        while smallest_untrackable <= Self::MAX_NS {
            smallest_untrackable <<= 1;
            buckets += 1;
        }
        (buckets + 1) * (sub_buckets as usize / 2) * 8
    };

    /// An empty histogram.
    pub fn new() -> Self {
        let hist = Histogram::new_with_bounds(1, Self::MAX_NS, Self::DIGITS)
            .expect("constant bounds 1 ns .. 1 h with 3 digits are valid");
        LatencyHistogram { hist }
    }

    /// Record one latency; values beyond an hour are clamped to an hour.
    #[inline]
    pub fn record(&mut self, latency: SimDuration) {
        let v = latency.as_nanos().clamp(1, Self::MAX_NS);
        // Cannot fail: v lies within the bounds the histogram was built with.
        let _ = self.hist.record(v);
    }

    /// Number of values recorded.
    pub fn count(&self) -> u64 {
        self.hist.len()
    }

    /// The value at quantile `q` (0..=1), or zero when empty.
    pub fn quantile(&self, q: f64) -> SimDuration {
        if self.hist.is_empty() {
            return SimDuration::ZERO;
        }
        SimDuration(self.hist.value_at_quantile(q))
    }

    /// Mean, or zero when empty.
    pub fn mean(&self) -> SimDuration {
        SimDuration(self.hist.mean().round() as u64)
    }

    /// Smallest value, or zero when empty.
    pub fn min(&self) -> SimDuration {
        SimDuration(if self.hist.is_empty() {
            0
        } else {
            self.hist.min()
        })
    }

    /// Largest value, or zero when empty.
    pub fn max(&self) -> SimDuration {
        SimDuration(self.hist.max())
    }

    /// Standard deviation, or zero when empty.
    pub fn stdev(&self) -> SimDuration {
        SimDuration(self.hist.stdev().round() as u64)
    }

    /// Add all of `other`'s values.
    pub fn merge(&mut self, other: &LatencyHistogram) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.hist.add(&other.hist);
    }

    /// The underlying HdrHistogram, for bucketed output.
    pub fn raw(&self) -> &Histogram<u64> {
        &self.hist
    }
}

/// Counts or sums per fixed time bucket (100 ms by default), growing as time advances.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeSeries {
    bucket: SimDuration,
    values: Vec<u64>,
}

impl TimeSeries {
    /// An empty series with buckets of `bucket` (at least 1 ns), pre-sized for `horizon`.
    ///
    /// # Errors
    /// The allocation failed (a fine bucket over a long horizon can ask for more memory than
    /// there is): reported, never an abort.
    pub fn new(
        bucket: SimDuration,
        horizon: SimDuration,
    ) -> Result<Self, std::collections::TryReserveError> {
        let bucket = SimDuration(bucket.as_nanos().max(1));
        let n = horizon.as_nanos().div_ceil(bucket.as_nanos());
        Ok(TimeSeries {
            bucket,
            values: zeroed(usize::try_from(n).unwrap_or(usize::MAX))?,
        })
    }

    /// Add `v` to the bucket holding `t`.
    #[inline]
    pub fn add(&mut self, t: SimTime, v: u64) {
        let i = (t.as_nanos() / self.bucket.as_nanos()) as usize;
        if i >= self.values.len() {
            self.values.resize(i + 1, 0);
        }
        self.values[i] += v;
    }

    /// The bucket width.
    pub fn bucket(&self) -> SimDuration {
        self.bucket
    }

    /// Values per bucket, bucket `i` covering `[i * bucket, (i + 1) * bucket)`.
    pub fn values(&self) -> &[u64] {
        &self.values
    }

    /// Value of bucket `i` (zero past the end).
    pub fn get(&self, i: usize) -> u64 {
        self.values.get(i).copied().unwrap_or(0)
    }

    /// Number of buckets.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when no bucket exists.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// `n` zeros, or the allocation error.
///
/// # Errors
/// There is not that much memory.
fn zeroed(n: usize) -> Result<Vec<u64>, std::collections::TryReserveError> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)?;
    v.resize(n, 0);
    Ok(v)
}

/// A small log-linear latency histogram for one time bucket: 16 bins per power of two (values
/// below 16 ns exact), kept dense between the smallest and the largest bin in use, so a bucket
/// holds only the span its latencies fell in and a value finds its counter by one index (no
/// search: at 600 nodes the per-node histograms are cold in cache, and a search's chain of
/// loads missed on every step).
///
/// Size: 56 bytes, plus 4 bytes per bin from the smallest to the largest in use (at most 976
/// bins; a bucket whose latencies span a factor of two uses at most 17). A quantile is its
/// bin's middle, at most 1/32 of the value (3.125 %) from the true one, and never above the
/// bucket's largest value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogHistogram {
    /// Counts of bins `first`, `first + 1`, ...: the first and the last are never zero (so
    /// equal contents are equal values).
    counts: Vec<u32>,
    first: u16,
    count: u64,
    sum_ns: u64,
    max_ns: u64,
}

impl LogHistogram {
    /// Bins per power of two.
    const SUB: u64 = 16;

    /// The bin of `v` ns.
    fn bin(v: u64) -> u16 {
        if v < Self::SUB {
            return v as u16;
        }
        let e = u64::from(63 - v.leading_zeros()); // floor(log2 v) >= 4
        let sub = (v >> (e - 4)) & (Self::SUB - 1);
        (Self::SUB + (e - 4) * Self::SUB + sub) as u16
    }

    /// The smallest and largest value (ns) bin `b` holds.
    pub fn bin_bounds(b: u16) -> (u64, u64) {
        let b = u64::from(b);
        if b < Self::SUB {
            return (b, b);
        }
        let e = (b - Self::SUB) / Self::SUB + 4;
        let sub = (b - Self::SUB) % Self::SUB;
        let lower = (Self::SUB + sub) << (e - 4);
        (lower, lower + (1u64 << (e - 4)) - 1)
    }

    /// Add `n` to bin `b`, widening the span to hold it.
    #[inline]
    fn add(&mut self, b: u16, n: u32) {
        if self.counts.is_empty() {
            self.first = b;
        } else if b < self.first {
            let grow = usize::from(self.first - b);
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.first = b;
        }
        let i = usize::from(b - self.first);
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] = self.counts[i].saturating_add(n);
    }

    /// The bins in use, `(bin, count)` in bin order.
    fn bins(&self) -> impl Iterator<Item = (u16, u32)> + '_ {
        (self.first..)
            .zip(self.counts.iter().copied())
            .filter(|&(_, n)| n > 0)
    }

    /// Record one latency.
    #[inline]
    pub fn record(&mut self, latency: SimDuration) {
        let v = latency.as_nanos();
        self.add(Self::bin(v), 1);
        self.count += 1;
        self.sum_ns = self.sum_ns.saturating_add(v);
        self.max_ns = self.max_ns.max(v);
    }

    /// Add all of `other`'s values.
    pub fn merge(&mut self, other: &LogHistogram) {
        for (b, n) in other.bins() {
            self.add(b, n);
        }
        self.count += other.count;
        self.sum_ns = self.sum_ns.saturating_add(other.sum_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The value at quantile `q` (0..=1): the middle of the bin holding the value of rank
    /// `max(1, ceil(q n))`, capped at the largest value (which the top rank is, exactly);
    /// `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<SimDuration> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        if rank == self.count {
            return Some(SimDuration(self.max_ns));
        }
        let mut seen = 0u64;
        for (b, n) in self.bins() {
            seen += u64::from(n);
            if seen >= rank {
                let (lo, hi) = Self::bin_bounds(b);
                return Some(SimDuration((lo + (hi - lo) / 2).min(self.max_ns)));
            }
        }
        Some(SimDuration(self.max_ns))
    }

    /// Mean (exact), `None` when empty.
    pub fn mean(&self) -> Option<SimDuration> {
        (self.count > 0)
            .then(|| SimDuration((self.sum_ns as f64 / self.count as f64).round() as u64))
    }

    /// Largest value (exact), `None` when empty.
    pub fn max(&self) -> Option<SimDuration> {
        (self.count > 0).then_some(SimDuration(self.max_ns))
    }
}

/// One [`LogHistogram`] per fixed time bucket, growing as time advances.
#[derive(Debug, Clone, Default)]
pub struct HistogramSeries {
    bucket: SimDuration,
    hists: Vec<LogHistogram>,
}

impl HistogramSeries {
    /// An empty series with buckets of `bucket` (at least 1 ns), pre-sized for `horizon`.
    ///
    /// # Errors
    /// The allocation failed (as [`TimeSeries::new`]).
    pub fn new(
        bucket: SimDuration,
        horizon: SimDuration,
    ) -> Result<Self, std::collections::TryReserveError> {
        let bucket = SimDuration(bucket.as_nanos().max(1));
        let n = horizon.as_nanos().div_ceil(bucket.as_nanos());
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        let mut hists = Vec::new();
        hists.try_reserve_exact(n)?;
        hists.resize(n, LogHistogram::default());
        Ok(HistogramSeries { bucket, hists })
    }

    /// Record `latency` in the bucket holding `t`.
    pub fn record(&mut self, t: SimTime, latency: SimDuration) {
        let i = (t.as_nanos() / self.bucket.as_nanos()) as usize;
        if i >= self.hists.len() {
            self.hists.resize(i + 1, LogHistogram::default());
        }
        self.hists[i].record(latency);
    }

    /// Bucket `i`'s histogram (empty past the end).
    pub fn get(&self, i: usize) -> &LogHistogram {
        static EMPTY: LogHistogram = LogHistogram {
            counts: Vec::new(),
            first: 0,
            count: 0,
            sum_ns: 0,
            max_ns: 0,
        };
        self.hists.get(i).unwrap_or(&EMPTY)
    }

    /// Number of buckets.
    pub fn len(&self) -> usize {
        self.hists.len()
    }

    /// True when no bucket exists.
    pub fn is_empty(&self) -> bool {
        self.hists.is_empty()
    }
}

/// How evenly load spreads: max/mean and Jain's fairness index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Balance {
    /// Largest share over the mean share; 1.0 is perfect.
    pub max_over_mean: f64,
    /// Jain's index (sum x)^2 / (n * sum x^2); 1.0 is perfect, 1/n is all on one.
    pub jain: f64,
}

impl Balance {
    /// Balance of `loads`; an empty or all-zero set counts as perfectly balanced.
    pub fn of(loads: &[u64]) -> Balance {
        let n = loads.len() as f64;
        let sum: f64 = loads.iter().map(|&x| x as f64).sum();
        if loads.is_empty() || sum == 0.0 {
            return Balance {
                max_over_mean: 1.0,
                jain: 1.0,
            };
        }
        let max = loads.iter().copied().max().unwrap_or(0) as f64;
        let sum_sq: f64 = loads.iter().map(|&x| (x as f64) * (x as f64)).sum();
        Balance {
            max_over_mean: max / (sum / n),
            jain: sum * sum / (n * sum_sq),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_within_three_digits() {
        let mut h = LatencyHistogram::new();
        for us in 1..=1000u64 {
            h.record(SimDuration::from_micros(us));
        }
        assert_eq!(h.count(), 1000);
        let p50 = h.quantile(0.5).as_nanos() as f64;
        let p99 = h.quantile(0.99).as_nanos() as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.002, "{p50}");
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.002, "{p99}");
        assert_eq!(LatencyHistogram::new().quantile(0.99), SimDuration::ZERO);
    }

    #[test]
    fn heap_bytes_is_what_a_histogram_allocates() {
        let h = LatencyHistogram::new();
        assert_eq!(LatencyHistogram::HEAP_BYTES, h.raw().distinct_values() * 8);
    }

    #[test]
    fn series_buckets_by_time() {
        let mut s = TimeSeries::new(DEFAULT_BUCKET, SimDuration::from_secs(1)).unwrap();
        assert_eq!(s.len(), 10);
        s.add(SimTime(0), 1);
        s.add(SimTime(99_999_999), 1);
        s.add(SimTime(100_000_000), 5);
        s.add(SimTime(2_050_000_000), 7);
        assert_eq!(&s.values()[..2], &[2, 5]);
        assert_eq!(s.get(20), 7);
        assert_eq!(s.get(99), 0);
    }

    #[test]
    fn an_impossible_series_is_an_error_not_an_abort() {
        let r = TimeSeries::new(SimDuration(1), SimDuration(u64::MAX));
        assert!(r.is_err());
    }

    #[test]
    fn log_histogram_bins_tile_and_quantiles_stay_within_a_32nd() {
        // Bins tile the integers: each starts one past the previous one's end.
        let mut next = 0;
        for b in 0..200u16 {
            let (lo, hi) = LogHistogram::bin_bounds(b);
            assert_eq!(lo, next, "bin {b}");
            assert!(hi >= lo);
            assert_eq!(LogHistogram::bin(lo), b);
            assert_eq!(LogHistogram::bin(hi), b);
            next = hi + 1;
        }
        let mut h = LogHistogram::default();
        assert_eq!(h.quantile(0.5), None);
        for us in 1..=1000u64 {
            h.record(SimDuration::from_micros(us));
        }
        for (q, want) in [(0.5, 500_000.0), (0.99, 990_000.0)] {
            let got = h.quantile(q).unwrap().as_nanos() as f64;
            assert!((got - want).abs() / want <= 1.0 / 32.0, "q {q}: {got}");
        }
        assert_eq!(h.quantile(1.0), Some(SimDuration::from_micros(1000)));
        assert_eq!(h.max(), Some(SimDuration::from_micros(1000)));
        assert_eq!(h.mean(), Some(SimDuration(500_500)));
        // Dense over the span in use: latencies within one power of two use 16 bins.
        let mut narrow = LogHistogram::default();
        for ns in ((1u64 << 20)..(1u64 << 21)).rev() {
            narrow.record(SimDuration(ns));
        }
        assert_eq!(narrow.counts.len(), 16);
        let mut merged = LogHistogram::default();
        merged.merge(&h);
        merged.merge(&narrow);
        assert_eq!(merged.count(), 1000 + (1 << 20));
        // The order values come in changes nothing, nor does merging instead of recording.
        let mut other_way = LogHistogram::default();
        for ns in (1u64 << 20)..(1u64 << 21) {
            other_way.record(SimDuration(ns));
        }
        for us in (1..=1000u64).rev() {
            other_way.record(SimDuration::from_micros(us));
        }
        assert_eq!(merged, other_way);
        for q in [0.0, 0.1, 0.5, 0.9, 0.999, 1.0] {
            assert_eq!(merged.quantile(q), other_way.quantile(q));
        }
    }

    #[test]
    fn balance_extremes() {
        let even = Balance::of(&[5, 5, 5, 5]);
        assert_eq!(even.max_over_mean, 1.0);
        assert_eq!(even.jain, 1.0);
        let skewed = Balance::of(&[8, 0, 0, 0]);
        assert_eq!(skewed.max_over_mean, 4.0);
        assert_eq!(skewed.jain, 0.25);
    }
}

//! Simulated time: an integer count of nanoseconds, never read from a clock.
//!
//! Durations in scenario text are written `"300ms"`, `"1.5s"`, `"90s"`, `"50us"`, `"2m"`;
//! [`SimDuration`] parses them exactly (decimal fractions, no floating point).

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::str::FromStr;

/// A point in simulated time, nanoseconds since the start of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimTime(pub u64);

/// A span of simulated time in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimDuration(pub u64);

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// Later than any event a run can hold.
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// Nanoseconds since the start.
    pub fn as_nanos(self) -> u64 {
        self.0
    }
    /// Seconds since the start, for output only (never for decisions).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// The time elapsed since `earlier`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
}

impl SimDuration {
    /// No time at all.
    pub const ZERO: SimDuration = SimDuration(0);

    /// A duration of `ns` nanoseconds.
    pub const fn from_nanos(ns: u64) -> Self {
        SimDuration(ns)
    }
    /// A duration of `us` microseconds.
    pub const fn from_micros(us: u64) -> Self {
        SimDuration(us * 1_000)
    }
    /// A duration of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        SimDuration(ms * 1_000_000)
    }
    /// A duration of `s` seconds.
    pub const fn from_secs(s: u64) -> Self {
        SimDuration(s * 1_000_000_000)
    }
    /// The nearest whole nanosecond to `s` seconds (negative and NaN give zero).
    pub fn from_secs_f64(s: f64) -> Self {
        if s.is_finite() && s > 0.0 {
            SimDuration((s * 1e9).round() as u64)
        } else {
            SimDuration(0)
        }
    }
    /// Nanoseconds.
    pub fn as_nanos(self) -> u64 {
        self.0
    }
    /// Seconds, for output and for rates.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }
    /// Milliseconds, for output.
    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    fn add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}
impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, d: SimDuration) {
        *self = *self + d;
    }
}
impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    fn sub(self, earlier: SimTime) -> SimDuration {
        self.saturating_since(earlier)
    }
}
impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, d: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(d.0))
    }
}

/// Why a duration text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {text:?}: {reason}; write a number and a unit, e.g. \"300ms\", \"1.5s\", \"50us\" (units: ns, us, ms, s, m, h)")]
pub struct ParseDurationError {
    /// The text as written.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for SimDuration {
    type Err = ParseDurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseDurationError {
            text: text.to_string(),
            reason,
        };
        let s = text.trim();
        if s.starts_with('-') {
            return Err(err("durations cannot be negative"));
        }
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| err("missing unit"))?;
        let (number, unit) = s.split_at(split);
        let unit_ns: u64 = match unit.trim() {
            "ns" => 1,
            "us" | "µs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" | "min" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(err("unknown unit")),
        };
        let (int_part, frac_part) = match number.split_once('.') {
            Some((i, f)) => (i, f),
            None => (number, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(err("missing number"));
        }
        if frac_part.contains('.') {
            return Err(err("more than one decimal point"));
        }
        let int: u64 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| err("number too large"))?
        };
        // Exact decimal fraction: digits beyond nanosecond resolution must be zero.
        let mut frac_ns: u64 = 0;
        let mut scale = unit_ns;
        for d in frac_part.bytes() {
            let digit = u64::from(d - b'0');
            if !scale.is_multiple_of(10) {
                if digit != 0 {
                    return Err(err("finer than one nanosecond"));
                }
                continue;
            }
            scale /= 10;
            frac_ns += digit * scale;
        }
        int.checked_mul(unit_ns)
            .and_then(|ns| ns.checked_add(frac_ns))
            .map(SimDuration)
            .ok_or_else(|| err("number too large"))
    }
}

impl fmt::Display for SimDuration {
    /// The shortest exact form in the largest unit that keeps it whole-ish: `300ms`, `1.5s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        for (unit, size) in [("s", 1_000_000_000u64), ("ms", 1_000_000), ("us", 1_000)] {
            if ns >= size {
                let whole = ns / size;
                let frac = ns % size;
                if frac == 0 {
                    return write!(f, "{whole}{unit}");
                }
                let digits = size.ilog10() as usize;
                let frac_text = format!("{frac:0digits$}");
                return write!(f, "{whole}.{}{unit}", frac_text.trim_end_matches('0'));
            }
        }
        write!(f, "{ns}ns")
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6}s", self.as_secs_f64())
    }
}

impl serde::Serialize for SimDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SimDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::setting::from_text(
            d,
            "a duration in quotes, a number and a unit, e.g. \"300ms\" or \"1.5s\"",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_scenario_durations() {
        assert_eq!("300ms".parse(), Ok(SimDuration::from_millis(300)));
        assert_eq!("1.5s".parse(), Ok(SimDuration::from_millis(1500)));
        assert_eq!("90s".parse(), Ok(SimDuration::from_secs(90)));
        assert_eq!("50us".parse(), Ok(SimDuration::from_micros(50)));
        assert_eq!("0.000000001s".parse(), Ok(SimDuration(1)));
        assert_eq!("2m".parse(), Ok(SimDuration::from_secs(120)));
    }

    #[test]
    fn refuses_bad_durations() {
        for bad in [
            "",
            "10",
            "ms",
            "1.2.3s",
            "5 parsecs",
            "0.5ns",
            "99999999999999999999s",
            "-1s",
        ] {
            assert!(bad.parse::<SimDuration>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_negative_duration_says_so() {
        let e = "-5s".parse::<SimDuration>().unwrap_err();
        assert_eq!(e.reason, "durations cannot be negative");
    }

    #[test]
    fn display_round_trips() {
        for text in ["300ms", "1.5s", "90s", "50us", "7ns", "1.000001s"] {
            let d: SimDuration = text.parse().unwrap();
            assert_eq!(d.to_string(), text);
            assert_eq!(d.to_string().parse::<SimDuration>().unwrap(), d);
        }
    }
}

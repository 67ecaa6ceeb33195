//! How many runs may be in flight at once so that together they stay within a memory limit:
//! the sweep lowers its parallelism rather than exceed it.
//!
//! ```
//! use lbsim::sweep::budget::max_in_flight;
//! // Four runs of 3, 2, 2, 1 GiB under 5 GiB: any two fit (the two largest: 5), three may not.
//! let gib = 1u64 << 30;
//! assert_eq!(max_in_flight(&[3 * gib, 2 * gib, 2 * gib, gib], Some(5 * gib), 8), Ok(2));
//! assert_eq!(max_in_flight(&[3 * gib], Some(2 * gib), 8), Err(0));
//! ```

use crate::scenario::{Scenario, Variant};

/// Estimated peak memory of one run, in bytes: its working memory and its result at the
/// end ([`crate::cost::run_cost`]; a sweep reduces each result to its metrics as it ends).
pub fn estimate_peak_bytes(s: &Scenario, v: &Variant) -> u64 {
    let assume = crate::cost::Assumptions {
        capture: false,
        threads: 1,
        out: false,
    };
    crate::cost::run_cost(s, v, &assume)
        .working()
        .min(u64::MAX as f64) as u64
}

/// The most runs that may be in flight at once: whichever `n` of them run together, their
/// estimates add up to at most `limit` (since the `n` largest do), and no more than
/// `threads`. At least 1 when runs fit at all.
///
/// # Errors
/// The index of a run whose estimate alone exceeds `limit`.
pub fn max_in_flight(
    estimates: &[u64],
    limit: Option<u64>,
    threads: usize,
) -> Result<usize, usize> {
    let threads = threads.max(1).min(estimates.len().max(1));
    let Some(limit) = limit else {
        return Ok(threads);
    };
    if let Some((i, _)) = estimates.iter().enumerate().find(|(_, &e)| e > limit) {
        return Err(i);
    }
    let mut largest = estimates.to_vec();
    largest.sort_unstable_by(|a, b| b.cmp(a));
    let mut sum = 0u64;
    let fit = largest
        .iter()
        .take_while(|&&e| {
            sum = sum.saturating_add(e);
            sum <= limit
        })
        .count();
    Ok(fit.clamp(1, threads))
}

/// The memory available now, where Linux tells it: the system's `MemAvailable`
/// (/proc/meminfo), and inside a cgroup v2 limit (a container) what is left of it
/// (`memory.max - memory.current`), whichever is smaller. The default limit of a sweep.
pub fn available_bytes() -> Option<u64> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let system = read("/proc/meminfo").and_then(|info| {
        let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    });
    // "max" (no limit) does not parse, and so counts as none.
    let cgroup = read("/sys/fs/cgroup/memory.max")
        .and_then(|m| m.trim().parse::<u64>().ok())
        .map(|max| {
            let used = read("/sys/fs/cgroup/memory.current")
                .and_then(|c| c.trim().parse::<u64>().ok())
                .unwrap_or(0);
            max.saturating_sub(used)
        });
    match (system, cgroup) {
        (Some(s), Some(c)) => Some(s.min(c)),
        (s, c) => s.or(c),
    }
}

/// A size as `--max-memory` takes it: `512MiB`, `8GiB`, `2GB`, `1000000` (bytes).
///
/// # Errors
/// Text that is not a number with one of the units B, KiB, MiB, GiB, TiB, kB, MB, GB, TB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let scale: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KiB" | "K" => 1024.0,
        "MiB" | "M" => 1024.0 * 1024.0,
        "GiB" | "G" => 1024.0 * 1024.0 * 1024.0,
        "TiB" | "T" => 1024.0f64.powi(4),
        "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        _ => return Err(format!("{text:?}: give a size such as 512MiB or 8GiB (units B, KiB, MiB, GiB, TiB, kB, MB, GB, TB)")),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{text:?}: {num:?} is not a number"))?;
    let bytes = v * scale;
    if !(1.0..1.0e18).contains(&bytes) {
        return Err(format!("{text:?}: must be between 1 byte and 1 EB"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallelism_drops_to_what_fits() {
        let mib = 1u64 << 20;
        let e = [100 * mib; 8];
        assert_eq!(max_in_flight(&e, None, 4), Ok(4));
        assert_eq!(max_in_flight(&e, Some(1000 * mib), 4), Ok(4));
        assert_eq!(max_in_flight(&e, Some(250 * mib), 4), Ok(2));
        assert_eq!(max_in_flight(&e, Some(100 * mib), 4), Ok(1));
        assert_eq!(max_in_flight(&e, Some(99 * mib), 4), Err(0));
        assert_eq!(max_in_flight(&[], Some(mib), 4), Ok(1));
        // One large run among small ones: the bound holds for any set in flight.
        assert_eq!(
            max_in_flight(&[mib, mib, 10 * mib, mib], Some(12 * mib), 8),
            Ok(3)
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("8GiB"), Ok(8 << 30));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("0").is_err());
    }
}

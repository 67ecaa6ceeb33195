//! wrk 4.1 `--latency` text (wg/wrk `src/wrk.c` `main`, `print_stats_header`, `print_stats`,
//! `print_units`, `print_stats_latency`; `src/units.c`; `src/stats.c`), checked line by line
//! against `tests/fixtures/real-tools/wrk_*.txt`.
//!
//! Facts from the source:
//! - Latency statistics are kept in **microseconds**; `Req/Sec` is sampled per thread every
//!   100 ms as that thread's rate (samples of 0 requests are not recorded).
//! - Stdev is the sample deviation (n − 1); `+/- Stdev` is the share within mean ± 1 stdev;
//!   percentiles use rank `round(p/100 · n + 0.5)`. Exactly four: 50, 75, 90, 99.
//! - Units: `format_time_us` (`us`, `ms`, then `s`, `m` from 1 s), `format_metric` (`k`, `M`,
//!   ...), `format_binary` (`K`, `M`, ... of 1024); a unit is used once the amount reaches
//!   0.85 of the next scale; two decimals.
//! - `Socket errors: connect N, read N, write N, timeout N` and `Non-2xx or 3xx responses: N`
//!   only when non-zero. The header's duration uses `format_time_s` (`-d60s` prints `1m`).
//! - Timed-out requests have no latency sample; responses with any status have one.

use super::{LoadReport, ToolError};

struct Units {
    scale: f64,
    base: &'static str,
    units: &'static [&'static str],
}

const TIME_US: Units = Units {
    scale: 1000.0,
    base: "us",
    units: &["ms", "s"],
};
const TIME_S: Units = Units {
    scale: 60.0,
    base: "s",
    units: &["m", "h"],
};
const BINARY: Units = Units {
    scale: 1024.0,
    base: "",
    units: &["K", "M", "G", "T", "P"],
};
const METRIC: Units = Units {
    scale: 1000.0,
    base: "",
    units: &["k", "M", "G", "T", "P"],
};

/// `format_units`: the last unit is never reached (`m->units[i+1]` must exist).
fn format_units(n: f64, m: &Units, p: usize) -> String {
    let mut amt = n;
    let mut unit = m.base;
    let threshold = m.scale * 0.85;
    let mut i = 0;
    while i + 1 < m.units.len() && amt >= threshold {
        amt /= m.scale;
        unit = m.units[i];
        i += 1;
    }
    format!("{amt:.p$}{unit}")
}

/// wrk's `format_time_us` (microseconds in).
pub fn format_time_us(us: f64) -> String {
    if us >= 1_000_000.0 {
        format_units(us / 1_000_000.0, &TIME_S, 2)
    } else {
        format_units(us, &TIME_US, 2)
    }
}

/// wrk's `format_time_s` (seconds in, no decimals).
pub fn format_time_s(s: f64) -> String {
    format_units(s, &TIME_S, 0)
}

/// wrk's `format_metric`.
pub fn format_metric(n: f64) -> String {
    format_units(n, &METRIC, 2)
}

/// wrk's `format_binary`.
pub fn format_binary(n: f64) -> String {
    format_units(n, &BINARY, 2)
}

/// `print_units`: right-align in `width` minus the padding two unit letters would have used.
fn print_units(out: &mut String, text: &str, width: usize) {
    let b = text.as_bytes();
    let mut pad = 2usize;
    if b.last().is_some_and(u8::is_ascii_alphabetic) {
        pad -= 1;
    }
    if b.len() >= 2 && b[b.len() - 2].is_ascii_alphabetic() {
        pad -= 1;
    }
    let w = width - pad;
    // `%*.*s`: at most `w` characters, right-aligned in `w`.
    let t: String = text.chars().take(w).collect();
    out.push_str(&format!("{t:>w$}"));
    out.push_str(&"  "[..pad]);
}

/// wrk's `stats` over integer values: (value, count) ascending.
struct Stats {
    values: Vec<(u64, u64)>,
    count: u64,
}

impl Stats {
    fn new(mut values: Vec<(u64, u64)>) -> Self {
        values.retain(|v| v.1 > 0);
        values.sort_unstable();
        let count = values.iter().map(|v| v.1).sum();
        Stats { values, count }
    }
    fn max(&self) -> u64 {
        self.values.last().map_or(0, |v| v.0)
    }
    fn mean(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let sum: f64 = self.values.iter().map(|&(v, n)| v as f64 * n as f64).sum();
        sum / self.count as f64
    }
    fn stdev(&self, mean: f64) -> f64 {
        if self.count < 2 {
            return 0.0;
        }
        let sum: f64 = self
            .values
            .iter()
            .map(|&(v, n)| (v as f64 - mean).powi(2) * n as f64)
            .sum();
        (sum / (self.count - 1) as f64).sqrt()
    }
    fn within_stdev(&self, mean: f64, stdev: f64) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let (lo, hi) = (mean - stdev, mean + stdev);
        let n: u64 = self
            .values
            .iter()
            .filter(|&&(v, _)| v as f64 >= lo && v as f64 <= hi)
            .map(|v| v.1)
            .sum();
        n as f64 / self.count as f64 * 100.0
    }
    fn percentile(&self, p: f64) -> u64 {
        let rank = (p / 100.0 * self.count as f64 + 0.5).round() as u64;
        let mut total = 0;
        for &(v, n) in &self.values {
            total += n;
            if total >= rank {
                return v;
            }
        }
        0
    }
}

fn print_stats(out: &mut String, name: &str, s: &Stats, fmt: fn(f64) -> String) {
    let mean = s.mean();
    let stdev = s.stdev(mean);
    out.push_str(&format!("    {name:<10}"));
    print_units(out, &fmt(mean), 8);
    print_units(out, &fmt(stdev), 10);
    print_units(out, &fmt(s.max() as f64), 9);
    out.push_str(&format!("{:8.2}%\n", s.within_stdev(mean, stdev)));
}

/// wrk's `stats_correct` (src/stats.c): every latency `n` of at least twice the `expected`
/// interval stands for the requests a closed loop did not send while it waited, so it also
/// counts at `n - expected`, `n - 2 expected`, ... while above `expected`. Values in us.
fn correct_coordinated_omission(values: Vec<(u64, u64)>, expected: u64) -> Vec<(u64, u64)> {
    if expected == 0 {
        return values;
    }
    let mut out = values.clone();
    for &(n, count) in values.iter().filter(|&&(n, _)| n >= 2 * expected) {
        let mut m = n - expected;
        while m > expected {
            out.push((m, count));
            m -= expected;
        }
    }
    out
}

/// `wrk -t{threads} -c{connections} -d{duration} --latency {url}` output for `report`
/// (threads, connections, duration and URL from `report.meta`).
///
/// `Req/Sec` samples come from `report.completed_per_100ms`, each window spread evenly over the
/// threads (remainders to the first threads). Socket errors: `connect` = 0, `read` = reset,
/// `write` = refused, `timeout` = timeouts. wrk counts `connect` only when connect(2) fails at
/// once; for a plain TCP socket `sock_connect` reports success as soon as the socket is
/// writable, so a refused connection fails at the request's write (`socket_writeable`,
/// wg/wrk `src/wrk.c`, `src/net.c`), as `wrk_errors_refused.txt` shows. The latency
/// histogram's values are truncated to whole microseconds, as wrk measures them.
pub fn to_text(report: &LoadReport) -> String {
    let m = &report.meta;
    let threads = u64::from(m.threads.max(1));
    let mut latency = report.ok.clone();
    latency.merge(&report.http_errors);
    let recorded: Vec<(u64, u64)> = latency
        .raw()
        .iter_recorded()
        .map(|v| (v.value_iterated_to() / 1000, v.count_at_value()))
        .collect();
    // wrk.c corrects its latency statistics before printing them: the expected interval is
    // the run time over the requests each connection completed.
    let complete = report.responses();
    let per_connection = complete / u64::from(m.connections.max(1));
    let runtime_us = m.actual_duration.as_nanos() / 1000;
    let lat = Stats::new(match runtime_us.checked_div(per_connection) {
        Some(interval) if per_connection > 0 => correct_coordinated_omission(recorded, interval),
        _ => recorded,
    });
    let mut rates = Vec::new();
    for &c in &report.completed_per_100ms {
        for t in 0..threads {
            let share = c / threads + u64::from(t < c % threads);
            if share > 0 {
                rates.push((share * 10, 1));
            }
        }
    }
    let req = Stats::new(rates);

    let runtime_s = runtime_us as f64 / 1e6;
    let (req_per_s, bytes_per_s) = if runtime_s > 0.0 {
        (
            complete as f64 / runtime_s,
            report.bytes_in as f64 / runtime_s,
        )
    } else {
        (0.0, 0.0)
    };

    let mut out = String::new();
    out.push_str(&format!(
        "Running {} test @ {}\n",
        format_time_s((m.requested_duration.as_nanos() / 1_000_000_000) as f64),
        m.url
    ));
    out.push_str(&format!(
        "  {} threads and {} connections\n",
        m.threads, m.connections
    ));
    out.push_str(&format!(
        "  Thread Stats{:>6}{:>11}{:>8}{:>12}\n",
        "Avg", "Stdev", "Max", "+/- Stdev"
    ));
    print_stats(&mut out, "Latency", &lat, format_time_us);
    print_stats(&mut out, "Req/Sec", &req, format_metric);
    out.push_str("  Latency Distribution\n");
    for p in [50.0, 75.0, 90.0, 99.0] {
        out.push_str(&format!("{p:7.0}%"));
        print_units(&mut out, &format_time_us(lat.percentile(p) as f64), 10);
        out.push('\n');
    }
    out.push_str(&format!(
        "  {complete} requests in {}, {}B read\n",
        format_time_us(runtime_us as f64),
        format_binary(report.bytes_in as f64)
    ));
    let e = &report.errors_by_kind;
    if e.total() > 0 {
        out.push_str(&format!(
            "  Socket errors: connect 0, read {}, write {}, timeout {}\n",
            e.reset, e.refused, e.timeout
        ));
    }
    let non2xx = report.http_errors.count();
    if non2xx > 0 {
        out.push_str(&format!("  Non-2xx or 3xx responses: {non2xx}\n"));
    }
    out.push_str(&format!("Requests/sec: {req_per_s:9.2}\n"));
    out.push_str(&format!(
        "Transfer/sec: {:>10}B\n",
        format_binary(bytes_per_s)
    ));
    out
}

/// wrk's socket error counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketErrors {
    /// connect errors.
    pub connect: u64,
    /// read errors.
    pub read: u64,
    /// write errors.
    pub write: u64,
    /// timeouts.
    pub timeout: u64,
}

/// What a reader keeps of wrk's output. Times in nanoseconds, rates per second, sizes in bytes
/// (as precise as wrk's two decimals allow).
#[derive(Debug, Clone, PartialEq)]
pub struct WrkSummary {
    /// URL.
    pub url: String,
    /// Requested duration, ns.
    pub duration_ns: u64,
    /// Threads.
    pub threads: u64,
    /// Connections.
    pub connections: u64,
    /// Latency mean, stdev, max (ns) and % within ±1 stdev.
    pub latency: (u64, u64, u64, f64),
    /// Req/Sec per thread: mean, stdev, max and % within ±1 stdev.
    pub req_per_thread: (f64, f64, f64, f64),
    /// Latency distribution `(percentile, ns)`; empty without `--latency`.
    pub percentiles: Vec<(f64, u64)>,
    /// Completed requests.
    pub requests: u64,
    /// Elapsed, ns.
    pub runtime_ns: u64,
    /// Bytes read.
    pub bytes_read: u64,
    /// Socket errors (zero when the line is absent).
    pub socket_errors: SocketErrors,
    /// Non-2xx or 3xx responses (zero when absent).
    pub non_2xx_3xx: u64,
    /// Requests/sec.
    pub requests_per_sec: f64,
    /// Transfer/sec, bytes.
    pub transfer_per_sec: f64,
}

/// Parse a wrk time (`2.15ms`, `1.66us`, `3.11s`, `1.50m`, `1h`) into nanoseconds.
pub fn parse_time_ns(s: &str) -> Option<u64> {
    let (num, mult) = split_unit(
        s,
        &[
            ("us", 1e3),
            ("ms", 1e6),
            ("s", 1e9),
            ("m", 60e9),
            ("h", 3600e9),
        ],
    )?;
    Some((num * mult).round() as u64)
}

fn parse_metric(s: &str) -> Option<f64> {
    let (n, m) = split_unit(
        s,
        &[("", 1.0), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)],
    )?;
    Some(n * m)
}

fn parse_binary(s: &str) -> Option<f64> {
    let s = s.strip_suffix('B')?;
    let k = 1024f64;
    let (n, m) = split_unit(
        s,
        &[
            ("", 1.0),
            ("K", k),
            ("M", k * k),
            ("G", k * k * k),
            ("T", k * k * k * k),
        ],
    )?;
    Some(n * m)
}

fn split_unit(s: &str, units: &[(&str, f64)]) -> Option<(f64, f64)> {
    let idx = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(idx);
    let n: f64 = num.parse().ok()?;
    let &(_, mult) = units.iter().find(|(u, _)| *u == unit)?;
    Some((n, mult))
}

struct Lines<'a> {
    it: std::iter::Peekable<std::iter::Enumerate<std::str::Lines<'a>>>,
    last: usize,
}

impl<'a> Lines<'a> {
    fn next(&mut self, expected: &'static str) -> Result<(usize, &'a str), ToolError> {
        match self.it.next() {
            Some((i, l)) => {
                self.last = i + 1;
                Ok((i + 1, l))
            }
            None => Err(ToolError::Truncated {
                line: self.last + 1,
                expected,
            }),
        }
    }
    fn peek_starts(&mut self, prefix: &str) -> bool {
        self.it
            .peek()
            .is_some_and(|(_, l)| l.trim_start().starts_with(prefix))
    }
}

fn bad(line: usize, expected: &'static str, found: &str) -> ToolError {
    ToolError::Line {
        line,
        expected,
        found: found.to_string(),
    }
}

/// Parse the four columns of a `Latency`/`Req/Sec` line.
fn stats_line<T>(
    line: usize,
    text: &str,
    name: &str,
    conv: fn(&str) -> Option<T>,
    expected: &'static str,
) -> Result<(T, T, T, f64), ToolError> {
    let mut w = text.split_whitespace();
    if w.next() != Some(name) {
        return Err(bad(line, expected, text));
    }
    let mut val = || -> Result<T, ToolError> {
        w.next()
            .and_then(conv)
            .ok_or_else(|| bad(line, expected, text))
    };
    let (a, b, c) = (val()?, val()?, val()?);
    let pct = w
        .next()
        .and_then(|p| p.strip_suffix('%'))
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| bad(line, expected, text))?;
    Ok((a, b, c, pct))
}

/// Read wrk's output (with or without `--latency`).
///
/// # Errors
/// [`ToolError::Line`] with the line number and the expected shape; [`ToolError::Truncated`]
/// when the output stops early.
pub fn parse(text: &str) -> Result<WrkSummary, ToolError> {
    let mut lines = Lines {
        it: text.lines().enumerate().peekable(),
        last: 0,
    };
    const HEAD: &str = "`Running <duration> test @ <url>`";
    let (n, l) = lines.next(HEAD)?;
    let rest = l.strip_prefix("Running ").ok_or_else(|| bad(n, HEAD, l))?;
    let (dur, url) = rest.split_once(" test @ ").ok_or_else(|| bad(n, HEAD, l))?;
    let duration_ns = parse_time_ns(dur).ok_or_else(|| bad(n, HEAD, l))?;

    const THREADS: &str = "`<N> threads and <M> connections`";
    let (n, l) = lines.next(THREADS)?;
    let w: Vec<&str> = l.split_whitespace().collect();
    let (threads, connections) = match w.as_slice() {
        [t, "threads", "and", c, "connections"] => (
            t.parse().map_err(|_| bad(n, THREADS, l))?,
            c.parse().map_err(|_| bad(n, THREADS, l))?,
        ),
        _ => return Err(bad(n, THREADS, l)),
    };

    const HDR: &str = "`Thread Stats   Avg      Stdev     Max   +/- Stdev`";
    let (n, l) = lines.next(HDR)?;
    if l.split_whitespace().collect::<Vec<_>>()
        != ["Thread", "Stats", "Avg", "Stdev", "Max", "+/-", "Stdev"]
    {
        return Err(bad(n, HDR, l));
    }
    const LAT: &str = "`Latency <avg> <stdev> <max> <pct>%` with time units";
    let (n, l) = lines.next(LAT)?;
    let latency = stats_line(n, l, "Latency", parse_time_ns, LAT)?;
    const RPS: &str = "`Req/Sec <avg> <stdev> <max> <pct>%`";
    let (n, l) = lines.next(RPS)?;
    let req_per_thread = stats_line(n, l, "Req/Sec", parse_metric, RPS)?;

    let mut percentiles = Vec::new();
    if lines.peek_starts("Latency Distribution") {
        lines.next("`Latency Distribution`")?;
        const PCT: &str = "`<p>% <time>`";
        for _ in 0..4 {
            let (n, l) = lines.next(PCT)?;
            let mut w = l.split_whitespace();
            let p = w
                .next()
                .and_then(|p| p.strip_suffix('%'))
                .and_then(|p| p.parse::<f64>().ok())
                .ok_or_else(|| bad(n, PCT, l))?;
            let t = w
                .next()
                .and_then(parse_time_ns)
                .ok_or_else(|| bad(n, PCT, l))?;
            percentiles.push((p, t));
        }
    }

    const REQS: &str = "`<N> requests in <time>, <size>B read`";
    let (n, l) = lines.next(REQS)?;
    let w: Vec<&str> = l.split_whitespace().collect();
    let (requests, runtime_ns, bytes_read) = match w.as_slice() {
        [r, "requests", "in", t, b, "read"] => (
            r.parse().map_err(|_| bad(n, REQS, l))?,
            t.strip_suffix(',')
                .and_then(parse_time_ns)
                .ok_or_else(|| bad(n, REQS, l))?,
            parse_binary(b).ok_or_else(|| bad(n, REQS, l))?.round() as u64,
        ),
        _ => return Err(bad(n, REQS, l)),
    };

    let mut socket_errors = SocketErrors::default();
    let mut non_2xx_3xx = 0;
    let mut requests_per_sec = None;
    let mut transfer_per_sec = None;
    for (i, l) in lines.it.by_ref() {
        let n = i + 1;
        let t = l.trim();
        if let Some(rest) = t.strip_prefix("Socket errors:") {
            const SE: &str = "`Socket errors: connect N, read N, write N, timeout N`";
            let w: Vec<&str> = rest.split([',', ' ']).filter(|s| !s.is_empty()).collect();
            match w.as_slice() {
                ["connect", c, "read", r, "write", wr, "timeout", to] => {
                    let p = |s: &str| s.parse::<u64>().map_err(|_| bad(n, SE, l));
                    socket_errors = SocketErrors {
                        connect: p(c)?,
                        read: p(r)?,
                        write: p(wr)?,
                        timeout: p(to)?,
                    };
                }
                _ => return Err(bad(n, SE, l)),
            }
        } else if let Some(rest) = t.strip_prefix("Non-2xx or 3xx responses:") {
            non_2xx_3xx = rest
                .trim()
                .parse()
                .map_err(|_| bad(n, "`Non-2xx or 3xx responses: N`", l))?;
        } else if let Some(rest) = t.strip_prefix("Requests/sec:") {
            requests_per_sec = Some(
                rest.trim()
                    .parse()
                    .map_err(|_| bad(n, "`Requests/sec: <float>`", l))?,
            );
        } else if let Some(rest) = t.strip_prefix("Transfer/sec:") {
            transfer_per_sec = Some(
                parse_binary(rest.trim()).ok_or_else(|| bad(n, "`Transfer/sec: <size>B`", l))?,
            );
        } else if !t.is_empty() && requests_per_sec.is_none() {
            return Err(bad(
                n,
                "`Socket errors:`, `Non-2xx or 3xx responses:` or `Requests/sec:`",
                l,
            ));
        }
    }
    let end = lines.last.max(text.lines().count());
    Ok(WrkSummary {
        url: url.to_string(),
        duration_ns,
        threads,
        connections,
        latency: (latency.0, latency.1, latency.2, latency.3),
        req_per_thread,
        percentiles,
        requests,
        runtime_ns,
        bytes_read,
        socket_errors,
        non_2xx_3xx,
        requests_per_sec: requests_per_sec.ok_or(ToolError::Truncated {
            line: end + 1,
            expected: "`Requests/sec: <float>`",
        })?,
        transfer_per_sec: transfer_per_sec.ok_or(ToolError::Truncated {
            line: end + 1,
            expected: "`Transfer/sec: <size>B`",
        })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_match_wrk() {
        assert_eq!(format_time_us(2150.0), "2.15ms");
        assert_eq!(format_time_us(850.0), "0.85ms");
        assert_eq!(format_time_us(849.0), "849.00us");
        assert_eq!(format_time_us(3_110_000.0), "3.11s");
        assert_eq!(format_time_us(60_000_000.0), "1.00m");
        assert_eq!(format_time_s(60.0), "1m");
        assert_eq!(format_time_s(5.0), "5s");
        assert_eq!(format_metric(11390.0), "11.39k");
        assert_eq!(format_binary(14.90 * 1024.0 * 1024.0), "14.90M");
    }

    #[test]
    fn coordinated_omission_correction_is_wrks() {
        // expected 10 us: 35 also counts at 25 and 15 (not 5: only while above 10); 19 is
        // below twice the interval and is left alone.
        let mut got = correct_coordinated_omission(vec![(19, 1), (35, 2)], 10);
        got.sort_unstable();
        assert_eq!(got, vec![(15, 2), (19, 1), (25, 2), (35, 2)]);
        assert_eq!(
            correct_coordinated_omission(vec![(35, 1)], 0),
            vec![(35, 1)]
        );
    }

    #[test]
    fn print_units_pads_like_wrk() {
        let mut s = String::new();
        print_units(&mut s, "2.15ms", 8);
        print_units(&mut s, "11.39k", 8);
        print_units(&mut s, "849.00us", 10);
        print_units(&mut s, "12.00", 8);
        assert_eq!(s, "  2.15ms 11.39k   849.00us 12.00  ");
    }

    #[test]
    fn percentile_rank() {
        let s = Stats::new(vec![(1, 1), (2, 1), (3, 1), (4, 1)]);
        assert_eq!(s.percentile(50.0), 3); // round(2.5) = 3 (C round: half away from zero)
        assert_eq!(s.percentile(99.0), 4);
    }

    #[test]
    fn truncated_output_is_an_error() {
        let e = parse("Running 5s test @ http://x/\n").unwrap_err();
        assert!(matches!(e, ToolError::Truncated { line: 2, .. }), "{e}");
    }
}

//! The seed's failover log: `ping -i 0.1 <vip> | while read line; do echo "$(date +%s.%N)
//! $line"; done` (iputils ping, `ping/ping.c`, `ping/ping_common.c`, `ping/ping_output.c`),
//! checked against `tests/fixtures/real-tools/ping_failover*.log`.
//!
//! Facts from the source and fixtures:
//! - A reply: `64 bytes from <ip>: icmp_seq=N ttl=T time=X ms`, X from the trip time in
//!   microseconds: 3 decimals under 1 ms, 2 under 10 ms, 1 under 100 ms, none above (rounded).
//! - Linux ping prints **nothing** for a lost probe; with `-O` it prints
//!   `no answer yet for icmp_seq=N` just before sending probe N+1 if N is unanswered. It never
//!   prints macOS's `Request timeout`, so the seed's `grep -c "Request timeout"` counts 0;
//!   failover time is the longest gap between answers.
//! - On SIGINT: an empty line, `--- <ip> ping statistics ---`,
//!   `T packets transmitted, R received, L% packet loss, time Nms` (`%g` of a float; time from
//!   the first to the last send), `rtt min/avg/max/mdev = a/b/c/d ms` (µs integers as
//!   `%ld.%03ld`). The seed's script kills the reading loop, not ping, so its logs end without
//!   them.

use super::format::fmt_g;
use super::{PingLog, ToolError};

/// iputils' reply time text from a trip time in microseconds.
pub fn trip_time_text(us: u64) -> String {
    if us >= 100_000 - 50 {
        format!("{}", (us + 500) / 1000)
    } else if us >= 10_000 - 5 {
        format!("{}.{:01}", (us + 50) / 1000, ((us + 50) % 1000) / 100)
    } else if us >= 1000 {
        format!("{}.{:02}", (us + 5) / 1000, ((us + 5) % 1000) / 10)
    } else {
        format!("{}.{:03}", us / 1000, us % 1000)
    }
}

/// `date +%s.%N` of epoch nanoseconds.
fn stamp(epoch_ns: u64) -> String {
    format!(
        "{}.{:09}",
        epoch_ns / 1_000_000_000,
        epoch_ns % 1_000_000_000
    )
}

fn llsqrt(a: i128) -> i128 {
    let mut prev = i128::MAX;
    let mut x = a;
    if x > 0 {
        while x < prev {
            prev = x;
            x = (x + a / x) / 2;
        }
    }
    x
}

/// The seed script's log for `log`: each line prefixed with the epoch time it was printed.
pub fn to_log(log: &PingLog) -> String {
    // (time, order, text): order keeps same-instant lines in program order.
    let mut lines: Vec<(u64, u64, String)> = Vec::new();
    lines.push((
        log.start.as_nanos(),
        0,
        format!("PING {t} ({t}) 56(84) bytes of data.", t = log.target),
    ));
    let end = log.summary.map_or(u64::MAX, |t| t.as_nanos());
    let mut order = 1;
    let (mut tx, mut rx) = (0u64, 0u64);
    let (mut tsum, mut tsum2, mut tmin, mut tmax) = (0i128, 0i128, i128::MAX, 0i128);
    for (i, p) in log.probes.iter().enumerate() {
        if p.sent.as_nanos() > end {
            break;
        }
        tx += 1;
        if log.report_outstanding && i > 0 {
            let prev = &log.probes[i - 1];
            if !matches!(prev.reply, Some(r) if r <= p.sent) {
                lines.push((
                    p.sent.as_nanos(),
                    order,
                    format!("no answer yet for icmp_seq={}", prev.seq),
                ));
                order += 1;
            }
        }
        if let Some(r) = p.reply.filter(|r| r.as_nanos() <= end) {
            let us = r.saturating_since(p.sent).as_nanos() / 1000;
            rx += 1;
            let t = i128::from(us);
            tsum += t;
            tsum2 += t * t;
            tmin = tmin.min(t);
            tmax = tmax.max(t);
            lines.push((
                r.as_nanos(),
                order,
                format!(
                    "64 bytes from {}: icmp_seq={} ttl={} time={} ms",
                    log.target,
                    p.seq,
                    log.ttl,
                    trip_time_text(us)
                ),
            ));
            order += 1;
        }
    }
    if let Some(at) = log.summary {
        let t = at.as_nanos();
        let mut push = |s: String| {
            lines.push((t, order, s));
            order += 1;
        };
        push(String::new());
        push(format!("--- {} ping statistics ---", log.target));
        let sent: Vec<u64> = log
            .probes
            .iter()
            .map(|p| p.sent.as_nanos())
            .filter(|&s| s <= t)
            .collect();
        let span_ns = match (sent.first(), sent.last()) {
            (Some(a), Some(b)) => b - a,
            _ => 0,
        };
        let mut stats = format!("{tx} packets transmitted, {rx} received");
        if tx > 0 {
            let loss = ((tx - rx) as f64 * 100.0 / tx as f64) as f32;
            stats.push_str(&format!(
                ", {}% packet loss, time {}ms",
                fmt_g(f64::from(loss), 6),
                (span_ns + 500_000) / 1_000_000
            ));
        }
        push(stats);
        if rx > 0 {
            let total = i128::from(rx);
            let avg = tsum / total;
            let var = (tsum2 - tsum * tsum / total) / total;
            let mdev = llsqrt(var);
            let f = |v: i128| format!("{}.{:03}", v / 1000, v % 1000);
            push(format!(
                "rtt min/avg/max/mdev = {}/{}/{}/{} ms",
                f(tmin),
                f(avg),
                f(tmax),
                f(mdev)
            ));
        }
    }
    lines.sort_by_key(|l| (l.0, l.1));
    let mut out = String::new();
    for (t, _, text) in lines {
        out.push_str(&stamp(log.epoch_ns + t));
        out.push(' ');
        out.push_str(&text);
        out.push('\n');
    }
    out
}

/// ping's closing statistics, when present.
#[derive(Debug, Clone, PartialEq)]
pub struct PingStats {
    /// Probes sent.
    pub transmitted: u64,
    /// Replies received.
    pub received: u64,
    /// Loss in percent as printed.
    pub loss_percent: f64,
    /// Time from first to last send, ms.
    pub time_ms: u64,
    /// rtt min/avg/max/mdev in ms, when any reply came.
    pub rtt_ms: Option<[f64; 4]>,
}

/// One answered probe.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Answer {
    /// `icmp_seq`.
    pub seq: u64,
    /// Epoch nanoseconds of the log line.
    pub at_ns: u64,
    /// Round-trip time in ms.
    pub time_ms: f64,
}

/// What a reader keeps of a failover ping log.
#[derive(Debug, Clone, PartialEq)]
pub struct PingSummary {
    /// Destination from the `PING` line.
    pub target: String,
    /// Epoch nanoseconds of the `PING` line.
    pub started_ns: u64,
    /// Answers in log order.
    pub answers: Vec<Answer>,
    /// Probes with no answer: sequence numbers up to the last one known to be sent (the
    /// summary's count, or the highest seq seen) that were never answered.
    pub lost: Vec<u64>,
    /// Longest time between two consecutive answers, ns (the failover time), and the seqs
    /// on either side.
    pub longest_gap: Option<(u64, u64, u64)>,
    /// `no answer yet` lines (`-O`).
    pub no_answer_lines: u64,
    /// Closing statistics.
    pub stats: Option<PingStats>,
}

fn parse_stamp(s: &str) -> Option<u64> {
    let (a, b) = s.split_once('.')?;
    if b.len() != 9 || !b.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    a.parse::<u64>()
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(b.parse().ok()?)
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.split_whitespace().find_map(|w| w.strip_prefix(key))
}

/// Read a failover log (with or without `-O`, with or without the closing statistics).
///
/// # Errors
/// [`ToolError::Line`] naming the line and what was expected there;
/// [`ToolError::Truncated`] for an input without the `PING` line.
pub fn parse(text: &str) -> Result<PingSummary, ToolError> {
    let mut target = None;
    let mut started_ns = 0;
    let mut answers: Vec<Answer> = Vec::new();
    let mut max_seq = 0;
    let mut no_answer_lines = 0;
    let mut stats: Option<PingStats> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let bad = |expected: &'static str| ToolError::Line {
            line: n,
            expected,
            found: raw.to_string(),
        };
        if raw.trim().is_empty() {
            continue;
        }
        let (ts, rest) = raw.split_once(' ').unwrap_or((raw, ""));
        let at_ns =
            parse_stamp(ts).ok_or_else(|| bad("a `date +%s.%N` timestamp, then a ping line"))?;
        let rest = rest.trim_end();
        if let Some(r) = rest.strip_prefix("PING ") {
            if target.is_some() {
                return Err(bad("one ping run per log (a second `PING` line)"));
            }
            target = Some(r.split_whitespace().next().unwrap_or("").to_string());
            started_ns = at_ns;
            continue;
        }
        if target.is_none() && !rest.is_empty() {
            return Err(bad("the `PING <ip> (<ip>) ...` line first"));
        }
        if rest.is_empty() {
            continue;
        }
        if rest.contains(" bytes from ") {
            const REPLY: &str = "`<n> bytes from <ip>: icmp_seq=N ttl=T time=X ms`";
            let seq: u64 = field(rest, "icmp_seq=")
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad(REPLY))?;
            let time_ms: f64 = field(rest, "time=")
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| bad(REPLY))?;
            if !rest.contains("(DUP!)") {
                answers.push(Answer {
                    seq,
                    at_ns,
                    time_ms,
                });
            }
            max_seq = max_seq.max(seq);
        } else if let Some(s) = rest.strip_prefix("no answer yet for icmp_seq=") {
            let seq: u64 = s
                .trim()
                .parse()
                .map_err(|_| bad("`no answer yet for icmp_seq=N`"))?;
            no_answer_lines += 1;
            max_seq = max_seq.max(seq);
        } else if rest.starts_with("From ") {
            // ICMP errors (`Destination Host Unreachable`): not an answer.
            if let Some(seq) = field(rest, "icmp_seq=").and_then(|s| s.parse().ok()) {
                max_seq = max_seq.max(seq);
            }
        } else if rest.starts_with("--- ") && rest.ends_with(" ping statistics ---") {
            continue;
        } else if rest.contains(" packets transmitted, ") {
            const ST: &str = "`T packets transmitted, R received, L% packet loss, time Nms`";
            let parts: Vec<&str> = rest.split(", ").collect();
            let num =
                |s: &str, suffix: &str| -> Option<u64> { s.strip_suffix(suffix)?.parse().ok() };
            let transmitted = parts
                .first()
                .and_then(|s| num(s, " packets transmitted"))
                .ok_or_else(|| bad(ST))?;
            let received = parts
                .get(1)
                .and_then(|s| num(s, " received"))
                .ok_or_else(|| bad(ST))?;
            let loss_percent = parts
                .iter()
                .find_map(|s| s.strip_suffix("% packet loss"))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0.0);
            let time_ms = parts
                .iter()
                .find_map(|s| s.strip_prefix("time ")?.strip_suffix("ms")?.parse().ok())
                .unwrap_or(0);
            stats = Some(PingStats {
                transmitted,
                received,
                loss_percent,
                time_ms,
                rtt_ms: None,
            });
        } else if let Some(r) = rest.strip_prefix("rtt min/avg/max/mdev = ") {
            const RTT: &str = "`rtt min/avg/max/mdev = a/b/c/d ms`";
            let nums: Vec<f64> = r
                .split(' ')
                .next()
                .unwrap_or("")
                .split('/')
                .map(|s| s.parse().map_err(|_| bad(RTT)))
                .collect::<Result<_, _>>()?;
            let st = stats
                .as_mut()
                .ok_or_else(|| bad("the `packets transmitted` line first"))?;
            st.rtt_ms = Some(nums.try_into().map_err(|_| bad(RTT))?);
        } else {
            return Err(bad(
                "a reply, `no answer yet`, `From ...`, or the closing statistics",
            ));
        }
    }
    let target = target.ok_or(ToolError::Truncated {
        line: text.lines().count() + 1,
        expected: "the `PING <ip> (<ip>) 56(84) bytes of data.` line",
    })?;
    let last_sent = stats
        .as_ref()
        .map_or(max_seq, |s| s.transmitted.max(max_seq));
    let mut answered: Vec<u64> = answers.iter().map(|a| a.seq).collect();
    answered.sort_unstable();
    answered.dedup();
    let lost = (1..=last_sent)
        .filter(|s| answered.binary_search(s).is_err())
        .collect();
    let longest_gap = answers
        .windows(2)
        .map(|w| (w[1].at_ns.saturating_sub(w[0].at_ns), w[0].seq, w[1].seq))
        .max_by_key(|g| g.0);
    Ok(PingSummary {
        target,
        started_ns,
        answers,
        lost,
        longest_gap,
        no_answer_lines,
        stats,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trip_times_like_iputils() {
        assert_eq!(trip_time_text(235), "0.235");
        assert_eq!(trip_time_text(1234), "1.23");
        assert_eq!(trip_time_text(12_345), "12.3");
        assert_eq!(trip_time_text(123_456), "123");
    }

    #[test]
    fn stamps_round_trip() {
        assert_eq!(stamp(1_795_256_363_482_219_070), "1795256363.482219070");
        assert_eq!(
            parse_stamp("1795256363.482219070"),
            Some(1_795_256_363_482_219_070)
        );
        assert_eq!(parse_stamp("1795256363.48"), None);
    }

    #[test]
    fn garbage_is_a_line_error() {
        let e =
            parse("1.000000000 PING 1.2.3.4 (1.2.3.4) 56(84) bytes of data.\n1.100000000 hello\n")
                .unwrap_err();
        assert!(matches!(e, ToolError::Line { line: 2, .. }), "{e}");
        assert!(matches!(parse(""), Err(ToolError::Truncated { .. })));
        assert!(matches!(
            parse("x y\n"),
            Err(ToolError::Line { line: 1, .. })
        ));
    }
}

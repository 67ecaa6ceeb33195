//! iperf3 `--json` (esnet/iperf `src/iperf_api.c`, printed with cJSON's formatted layout and a
//! final newline), TCP client side, checked against the real iperf 3.12 outputs in
//! `tests/fixtures/real-tools/iperf3_*.json`.
//!
//! Facts from the source and fixtures:
//! - `bits_per_second` in bits/s; `seconds`/`start`/`end` in seconds; `rtt`, `rttvar`,
//!   `mean_rtt`, `min_rtt`, `max_rtt` in **microseconds**; `snd_cwnd`/`snd_wnd` in bytes.
//! - Per-interval stream entries carry `retransmits`, `snd_cwnd`, `snd_wnd`, `rtt`, `rttvar`,
//!   `pmtu` only when the client sends; with `-R` they are absent, `sender` is false, and the
//!   end-of-test RTT fields are 0 (the server's RTT is not exchanged).
//! - `end.sum_sent` carries `retransmits`; `end.sum_received` does not.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::format::{http_date, to_string_with, CJsonFormatter};
use super::{from_json, IperfReport, ToolError};

/// What lbsim writes as iperf3's `version`.
pub const VERSION: &str = "iperf 3.12";

#[derive(Serialize)]
struct Output {
    start: Start,
    intervals: Vec<Interval>,
    end: End,
}

#[derive(Serialize)]
struct Start {
    connected: Vec<Connected>,
    version: &'static str,
    system_info: String,
    timestamp: Timestamp,
    connecting_to: ConnectingTo,
    cookie: String,
    tcp_mss_default: u64,
    target_bitrate: u64,
    sock_bufsize: u64,
    sndbuf_actual: u64,
    rcvbuf_actual: u64,
    test_start: TestStart,
}

#[derive(Serialize)]
struct Connected {
    socket: u32,
    local_host: String,
    local_port: u16,
    remote_host: String,
    remote_port: u16,
}

#[derive(Serialize)]
struct Timestamp {
    time: String,
    timesecs: u64,
}

#[derive(Serialize)]
struct ConnectingTo {
    host: String,
    port: u16,
}

#[derive(Serialize)]
struct TestStart {
    protocol: &'static str,
    num_streams: usize,
    blksize: u64,
    omit: u64,
    duration: u64,
    bytes: u64,
    blocks: u64,
    reverse: u8,
    tos: u8,
    target_bitrate: u64,
}

#[derive(Serialize)]
struct Interval {
    streams: Vec<IntervalStream>,
    sum: IntervalSum,
}

#[derive(Serialize)]
struct IntervalStream {
    socket: u32,
    start: f64,
    end: f64,
    seconds: f64,
    bytes: u64,
    bits_per_second: f64,
    #[serde(flatten)]
    tcp: Option<TcpInfo>,
    omitted: bool,
    sender: bool,
}

#[derive(Serialize)]
struct TcpInfo {
    retransmits: u64,
    snd_cwnd: u64,
    snd_wnd: u64,
    rtt: u64,
    rttvar: u64,
    pmtu: u32,
}

#[derive(Serialize)]
struct IntervalSum {
    start: f64,
    end: f64,
    seconds: f64,
    bytes: u64,
    bits_per_second: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    retransmits: Option<u64>,
    omitted: bool,
    sender: bool,
}

#[derive(Serialize)]
struct End {
    streams: Vec<EndStream>,
    sum_sent: SumSent,
    sum_received: SumReceived,
    cpu_utilization_percent: Cpu,
    sender_tcp_congestion: String,
    receiver_tcp_congestion: String,
}

#[derive(Serialize)]
struct EndStream {
    sender: EndSender,
    receiver: EndReceiver,
}

#[derive(Serialize)]
struct EndSender {
    socket: u32,
    start: f64,
    end: f64,
    seconds: f64,
    bytes: u64,
    bits_per_second: f64,
    retransmits: u64,
    max_snd_cwnd: u64,
    max_snd_wnd: u64,
    max_rtt: u64,
    min_rtt: u64,
    mean_rtt: u64,
    sender: bool,
}

#[derive(Serialize)]
struct EndReceiver {
    socket: u32,
    start: f64,
    end: f64,
    seconds: f64,
    bytes: u64,
    bits_per_second: f64,
    sender: bool,
}

#[derive(Serialize)]
struct SumSent {
    start: f64,
    end: f64,
    seconds: f64,
    bytes: u64,
    bits_per_second: f64,
    retransmits: u64,
    sender: bool,
}

#[derive(Serialize)]
struct SumReceived {
    start: f64,
    end: f64,
    seconds: f64,
    bytes: u64,
    bits_per_second: f64,
    sender: bool,
}

#[derive(Serialize)]
struct Cpu {
    host_total: f64,
    host_user: f64,
    host_system: f64,
    remote_total: f64,
    remote_user: f64,
    remote_system: f64,
}

fn bps(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 * 8.0 / secs
    } else {
        0.0
    }
}

/// iperf3 uses sockets 5, 7, 9, ... after its control connection; the exact numbers are the
/// kernel's choice, only their distinctness matters.
fn socket(i: usize) -> u32 {
    5 + 2 * i as u32
}

/// A 36-character cookie derived from the inputs (iperf3 draws it at random).
fn cookie(seed: u64) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut x = seed ^ 0x9e37_79b9_7f4a_7c15;
    (0..36)
        .map(|_| {
            // SplitMix64 step.
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            ALPHABET[((z ^ (z >> 31)) % 32) as usize] as char
        })
        .collect()
}

/// iperf3 `--json` output of a TCP client test, with its final newline.
///
/// Intervals are `report.interval` long (the last one shorter when the duration is not a
/// multiple); a stream's `bytes_per_interval` gives the bytes per interval, missing entries
/// count as 0. The CPU utilisation is not modelled and is written as 0.
pub fn to_json(report: &IperfReport) -> String {
    let r = report;
    let start_ns = r.epoch_ns + r.start.as_nanos();
    let interval_s = r.interval.as_secs_f64();
    let duration_s = r.duration.as_secs_f64();
    let n_intervals = if r.interval.as_nanos() == 0 {
        0
    } else {
        r.duration.as_nanos().div_ceil(r.interval.as_nanos()) as usize
    };
    let sender = !r.reverse;
    let mss = u64::from(r.pmtu.saturating_sub(52));
    let at = |v: &Vec<u64>, i: usize| v.get(i).copied().unwrap_or(0);

    let mut intervals = Vec::with_capacity(n_intervals);
    for i in 0..n_intervals {
        let start = i as f64 * interval_s;
        let end = ((i + 1) as f64 * interval_s).min(duration_s);
        let seconds = end - start;
        let streams: Vec<IntervalStream> = r
            .streams
            .iter()
            .enumerate()
            .map(|(k, s)| {
                let bytes = at(&s.bytes_per_interval, i);
                IntervalStream {
                    socket: socket(k),
                    start,
                    end,
                    seconds,
                    bytes,
                    bits_per_second: bps(bytes, seconds),
                    tcp: sender.then(|| TcpInfo {
                        retransmits: at(&s.retransmits_per_interval, i),
                        snd_cwnd: at(&s.snd_cwnd_per_interval, i),
                        snd_wnd: at(&s.snd_cwnd_per_interval, i),
                        rtt: at(&s.rtt_us_per_interval, i),
                        rttvar: at(&s.rttvar_us_per_interval, i),
                        pmtu: r.pmtu,
                    }),
                    omitted: false,
                    sender,
                }
            })
            .collect();
        let bytes: u64 = streams.iter().map(|s| s.bytes).sum();
        let retransmits: u64 = streams
            .iter()
            .map(|s| s.tcp.as_ref().map_or(0, |t| t.retransmits))
            .sum();
        intervals.push(Interval {
            streams,
            sum: IntervalSum {
                start,
                end,
                seconds,
                bytes,
                bits_per_second: bps(bytes, seconds),
                retransmits: sender.then_some(retransmits),
                omitted: false,
                sender,
            },
        });
    }

    let mut end_streams = Vec::new();
    let (mut sent, mut received, mut retrans) = (0u64, 0u64, 0u64);
    for (k, s) in r.streams.iter().enumerate() {
        let bytes: u64 = s.bytes_per_interval.iter().sum();
        let rt: u64 = s.retransmits_per_interval.iter().sum();
        sent += bytes;
        received += s.bytes_received;
        retrans += rt;
        let rtts = &s.rtt_us_per_interval;
        let (max_rtt, min_rtt, mean_rtt) = if sender && !rtts.is_empty() {
            (
                rtts.iter().copied().max().unwrap_or(0),
                rtts.iter().copied().min().unwrap_or(0),
                rtts.iter().sum::<u64>() / rtts.len() as u64,
            )
        } else {
            (0, 0, 0)
        };
        let max_cwnd = if sender {
            s.snd_cwnd_per_interval.iter().copied().max().unwrap_or(0)
        } else {
            0
        };
        end_streams.push(EndStream {
            sender: EndSender {
                socket: socket(k),
                start: 0.0,
                end: duration_s,
                seconds: duration_s,
                bytes,
                bits_per_second: bps(bytes, duration_s),
                retransmits: rt,
                max_snd_cwnd: max_cwnd,
                max_snd_wnd: max_cwnd,
                max_rtt,
                min_rtt,
                mean_rtt,
                sender,
            },
            receiver: EndReceiver {
                socket: socket(k),
                start: 0.0,
                end: duration_s,
                seconds: duration_s,
                bytes: s.bytes_received,
                bits_per_second: bps(s.bytes_received, duration_s),
                sender,
            },
        });
    }

    let out = Output {
        start: Start {
            connected: r
                .streams
                .iter()
                .enumerate()
                .map(|(k, s)| Connected {
                    socket: socket(k),
                    local_host: r.client.clone(),
                    local_port: s.local_port,
                    remote_host: r.server.clone(),
                    remote_port: r.port,
                })
                .collect(),
            version: VERSION,
            system_info: "Linux lbsim (simulated host)".into(),
            timestamp: Timestamp {
                time: http_date(start_ns / 1_000_000_000),
                timesecs: start_ns / 1_000_000_000,
            },
            connecting_to: ConnectingTo {
                host: r.server.clone(),
                port: r.port,
            },
            cookie: cookie(start_ns ^ u64::from(r.port)),
            tcp_mss_default: mss,
            target_bitrate: 0,
            sock_bufsize: 0,
            sndbuf_actual: 16384,
            rcvbuf_actual: 131072,
            test_start: TestStart {
                protocol: "TCP",
                num_streams: r.streams.len(),
                blksize: 131072,
                omit: 0,
                duration: r.duration.as_nanos() / 1_000_000_000,
                bytes: 0,
                blocks: 0,
                reverse: u8::from(r.reverse),
                tos: 0,
                target_bitrate: 0,
            },
        },
        intervals,
        end: End {
            streams: end_streams,
            sum_sent: SumSent {
                start: 0.0,
                end: duration_s,
                seconds: duration_s,
                bytes: sent,
                bits_per_second: bps(sent, duration_s),
                retransmits: retrans,
                sender,
            },
            sum_received: SumReceived {
                start: 0.0,
                end: duration_s,
                seconds: duration_s,
                bytes: received,
                bits_per_second: bps(received, duration_s),
                sender,
            },
            cpu_utilization_percent: Cpu {
                host_total: 0.0,
                host_user: 0.0,
                host_system: 0.0,
                remote_total: 0.0,
                remote_user: 0.0,
                remote_system: 0.0,
            },
            sender_tcp_congestion: r.congestion.clone(),
            receiver_tcp_congestion: r.congestion.clone(),
        },
    };
    let mut s = to_string_with(&out, CJsonFormatter::default());
    s.push('\n');
    s
}

/// What a reader keeps of an iperf3 result: what the seed's `jq` line extracts and more.
#[derive(Debug, Clone, PartialEq)]
pub struct IperfSummary {
    /// `end.sum_sent.bits_per_second`.
    pub sent_bps: f64,
    /// `end.sum_received.bits_per_second`.
    pub received_bps: f64,
    /// `end.sum_sent.retransmits`.
    pub retransmits: u64,
    /// `end.streams[0].sender.mean_rtt`, microseconds (0 with `-R`).
    pub mean_rtt_us: u64,
    /// Streams (`-P`).
    pub streams: usize,
    /// `start.test_start.reverse`.
    pub reverse: bool,
    /// `end.sum_sent.seconds`.
    pub seconds: f64,
    /// `intervals[i].sum.bits_per_second`.
    pub interval_bps: Vec<f64>,
}

#[derive(Deserialize)]
struct In {
    #[serde(default)]
    error: Option<String>,
    start: InStart,
    intervals: Vec<InInterval>,
    end: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct InStart {
    #[serde(default)]
    test_start: Option<InTestStart>,
}

#[derive(Deserialize)]
struct InTestStart {
    reverse: u8,
}

#[derive(Deserialize)]
struct InInterval {
    sum: InSum,
}

#[derive(Deserialize)]
struct InSum {
    bits_per_second: f64,
}

#[derive(Deserialize)]
struct InEnd {
    streams: Vec<InEndStream>,
    sum_sent: InSumSent,
    sum_received: InSumReceived,
}

#[derive(Deserialize)]
struct InEndStream {
    sender: InEndSender,
}

#[derive(Deserialize)]
struct InEndSender {
    mean_rtt: u64,
}

#[derive(Deserialize)]
struct InSumSent {
    seconds: f64,
    bits_per_second: f64,
    retransmits: u64,
}

#[derive(Deserialize)]
struct InSumReceived {
    bits_per_second: f64,
}

/// Read iperf3 `--json` output.
///
/// # Errors
/// [`ToolError::ToolReported`] when iperf3 wrote an `"error"` (e.g. connection refused);
/// [`ToolError::Json`] with position and path for malformed input or missing fields.
pub fn parse(text: &str) -> Result<IperfSummary, ToolError> {
    let doc: In = from_json(text)?;
    if let Some(e) = doc.error {
        return Err(ToolError::ToolReported(e));
    }
    // Re-read `end` typed, so errors name the path below `end`.
    let end_text = serde_json::to_string(&doc.end).unwrap_or_default();
    let end: InEnd = from_json(&end_text).map_err(|e| match e {
        ToolError::Json { path, message, .. } => {
            let (line, column) = line_of_key(text, "\"end\"");
            ToolError::Json {
                line,
                column,
                path: format!("end.{path}"),
                message,
            }
        }
        other => other,
    })?;
    Ok(IperfSummary {
        sent_bps: end.sum_sent.bits_per_second,
        received_bps: end.sum_received.bits_per_second,
        retransmits: end.sum_sent.retransmits,
        mean_rtt_us: end.streams.first().map_or(0, |s| s.sender.mean_rtt),
        streams: end.streams.len(),
        reverse: doc.start.test_start.is_some_and(|t| t.reverse != 0),
        seconds: end.sum_sent.seconds,
        interval_bps: doc
            .intervals
            .iter()
            .map(|i| i.sum.bits_per_second)
            .collect(),
    })
}

/// 1-based line and column of the first occurrence of `needle` (for error positions).
fn line_of_key(text: &str, needle: &str) -> (usize, usize) {
    let Some(off) = text.find(needle) else {
        return (0, 0);
    };
    let before = &text[..off];
    let line = before.matches('\n').count() + 1;
    let col = off - before.rfind('\n').map_or(0, |p| p + 1) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_36_chars_and_deterministic() {
        assert_eq!(cookie(1).len(), 36);
        assert_eq!(cookie(1), cookie(1));
        assert_ne!(cookie(1), cookie(2));
    }

    #[test]
    fn malformed_json_is_an_error_with_position() {
        match parse("{\n  \"start\": {},\n  \"intervals\": 3\n}") {
            Err(ToolError::Json { line, path, .. }) => {
                assert_eq!(line, 3);
                assert_eq!(path, "intervals");
            }
            other => panic!("{other:?}"),
        }
    }
}

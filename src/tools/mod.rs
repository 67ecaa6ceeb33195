//! The output formats of the tools people run against real clusters (fortio, vegeta, iperf3,
//! wrk, ping), so scripts written for the real tools read lbsim's results unchanged, and readers
//! of the real tools' outputs (for tests and `sim compare`).
//!
//! ```text
//!  lab ──RequestRecord──▶ LoadRecorder ──finish──▶ LoadReport ──▶ fortio::to_json   (fortio load -json)
//!   │                      (bounded memory)                    ├─▶ vegeta::report_json (vegeta report -type=json)
//!   │                                                          └─▶ wrk::to_text      (wrk --latency)
//!   ├──RequestRecord──▶ vegeta::VegetaCsvWriter (vegeta attack | vegeta encode -to csv)
//!   ├──IperfReport────▶ iperf3::to_json (iperf3 --json)
//!   └──PingLog────────▶ ping::to_log    (the seed's `ping -i 0.1 | date`-prefixed log)
//!
//!  real files ──▶ iperf3::parse, wrk::parse, ping::parse, fortio::parse, vegeta::parse
//! ```
//!
//! Every writer is a pure function of its input: timestamps come from the caller's fixed epoch
//! plus simulated time, maps are ordered, so equal inputs give byte-identical outputs.
//!
//! ```
//! use lbsim::tools::{LoadRecorder, LoadMeta, Outcome, RequestRecord};
//! use sim_core::{SimDuration, SimTime};
//!
//! let mut rec = LoadRecorder::new();
//! for i in 0..100u64 {
//!     rec.record(&RequestRecord {
//!         seq: i,
//!         start: SimTime(i * 10_000_000),
//!         latency: SimDuration::from_micros(800 + i),
//!         outcome: Outcome::Response(200),
//!         bytes_in: 615,
//!         bytes_out: 0,
//!     });
//! }
//! let report = rec.finish(LoadMeta::new("l2", "http://10.0.0.100/", SimDuration::from_secs(1)));
//! let json = lbsim::tools::vegeta::report_json(&report);
//! assert!(json.contains("\"requests\":100"));
//! ```

use std::collections::BTreeMap;
use std::fmt;

use sim_core::{LatencyHistogram, SimDuration, SimTime};

pub mod format;
pub mod fortio;
pub mod iperf3;
pub mod ping;
pub mod vegeta;
pub mod wrk;

/// 2026-01-01T00:00:00Z in nanoseconds since the Unix epoch: the default fixed epoch that
/// simulated time 0 maps to in tool outputs.
pub const DEFAULT_EPOCH_NS: u64 = 1_767_225_600_000_000_000;

/// Why a request failed below HTTP (DESIGN.md §4: errors by kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransportError {
    /// The connection was refused (RST to SYN): wrk's `write` (see [`wrk::to_text`]), Go's
    /// `connection refused`.
    Refused,
    /// An established connection was reset: wrk's `read`, Go's `connection reset by peer`.
    Reset,
    /// No answer within the client's timeout: wrk's `timeout`, Go's `Client.Timeout exceeded`.
    Timeout,
}

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// An HTTP response with this status code.
    Response(u16),
    /// No response: a transport error.
    Failed(TransportError),
}

impl Outcome {
    /// 2xx or 3xx, the success rule of vegeta (`lib/metrics.go`) and wrk.
    pub fn is_success(self) -> bool {
        matches!(self, Outcome::Response(c) if (200..400).contains(&c))
    }
}

/// One request as the lab saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// Sequence number within the attack (vegeta's `seq`).
    pub seq: u64,
    /// When the request was sent (simulated time).
    pub start: SimTime,
    /// Time from sending to the response, or to the failure.
    pub latency: SimDuration,
    /// Response status or transport error.
    pub outcome: Outcome,
    /// Bytes received (headers and body).
    pub bytes_in: u64,
    /// Bytes sent (request body).
    pub bytes_out: u64,
}

/// Transport errors by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ErrorCounts {
    /// Connections refused.
    pub refused: u64,
    /// Connections reset.
    pub reset: u64,
    /// Requests timed out.
    pub timeout: u64,
}

impl ErrorCounts {
    /// All transport errors.
    pub fn total(&self) -> u64 {
        self.refused + self.reset + self.timeout
    }
    fn add(&mut self, e: TransportError) {
        match e {
            TransportError::Refused => self.refused += 1,
            TransportError::Reset => self.reset += 1,
            TransportError::Timeout => self.timeout += 1,
        }
    }
}

/// What the run was asked to do (the load tool's command line), given at the end of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadMeta {
    /// Free text label (fortio `Labels`, vegeta attack name).
    pub label: String,
    /// Target URL, e.g. `http://10.0.0.100/`.
    pub url: String,
    /// Nanoseconds since the Unix epoch that simulated time 0 maps to.
    pub epoch_ns: u64,
    /// When the load started (simulated time).
    pub start: SimTime,
    /// `-t` / `-d` / `-duration`.
    pub requested_duration: SimDuration,
    /// Measured elapsed time of the run (defaults to the requested duration).
    pub actual_duration: SimDuration,
    /// `-qps` / `-rate`; `None` for "as fast as possible" (fortio `max`, wrk).
    pub requested_qps: Option<f64>,
    /// Connections (`-c`).
    pub connections: u32,
    /// Threads (wrk `-t`, fortio goroutines = connections).
    pub threads: u32,
    /// Response header bytes per response (fortio `HeaderSizes`); part of `bytes_in`.
    pub header_bytes: u64,
}

impl LoadMeta {
    /// Defaults: epoch [`DEFAULT_EPOCH_NS`], start 0, actual = requested duration, no rate
    /// limit, 1 connection, 1 thread, 0 header bytes.
    pub fn new(label: &str, url: &str, duration: SimDuration) -> Self {
        LoadMeta {
            label: label.into(),
            url: url.into(),
            epoch_ns: DEFAULT_EPOCH_NS,
            start: SimTime::ZERO,
            requested_duration: duration,
            actual_duration: duration,
            requested_qps: None,
            connections: 1,
            threads: 1,
            header_bytes: 0,
        }
    }
}

/// A finished load run, the neutral input of the fortio, vegeta and wrk writers.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// The command line.
    pub meta: LoadMeta,
    /// Latency of requests answered 2xx/3xx.
    pub ok: LatencyHistogram,
    /// Latency of requests answered with another status.
    pub http_errors: LatencyHistogram,
    /// Time until the failure of requests that got no response.
    pub transport_errors: LatencyHistogram,
    /// Responses by HTTP status (transport errors are not here; see `errors_by_kind`).
    pub status_codes: BTreeMap<u16, u64>,
    /// Transport errors by kind.
    pub errors_by_kind: ErrorCounts,
    /// Distinct failures in the order first seen (vegeta's `errors` list).
    pub error_order: Vec<Outcome>,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Sum of all latencies in nanoseconds (exact; vegeta `latencies.total`).
    pub latency_sum_ns: u128,
    /// First request sent (vegeta `earliest`), if any.
    pub earliest: Option<SimTime>,
    /// Last request sent (vegeta `latest`).
    pub latest: Option<SimTime>,
    /// Latest completion (vegeta `end`).
    pub end: Option<SimTime>,
    /// Responses completed per 100 ms window since `meta.start` (wrk `Req/Sec`, which wrk
    /// samples per thread every 100 ms; the writer spreads each window over the threads).
    pub completed_per_100ms: Vec<u64>,
}

impl LoadReport {
    /// Requests that ended (success, HTTP error or transport error).
    pub fn requests(&self) -> u64 {
        self.ok.count() + self.http_errors.count() + self.transport_errors.count()
    }
    /// Requests answered with any HTTP status.
    pub fn responses(&self) -> u64 {
        self.ok.count() + self.http_errors.count()
    }
    /// All latencies together.
    pub fn all_latencies(&self) -> LatencyHistogram {
        let mut h = self.ok.clone();
        h.merge(&self.http_errors);
        h.merge(&self.transport_errors);
        h
    }
    /// Epoch nanoseconds of a simulated instant.
    pub fn epoch_ns(&self, t: SimTime) -> u64 {
        self.meta.epoch_ns + t.as_nanos()
    }
}

/// Accumulates [`RequestRecord`]s into a [`LoadReport`] in bounded memory (histograms and
/// counters; the per-100 ms counts grow with simulated duration only).
#[derive(Debug, Clone, Default)]
pub struct LoadRecorder {
    report: Option<LoadReport>,
}

impl LoadRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        LoadRecorder::default()
    }

    fn report(&mut self) -> &mut LoadReport {
        self.report.get_or_insert_with(|| LoadReport {
            meta: LoadMeta::new("", "", SimDuration::ZERO),
            ok: LatencyHistogram::new(),
            http_errors: LatencyHistogram::new(),
            transport_errors: LatencyHistogram::new(),
            status_codes: BTreeMap::new(),
            errors_by_kind: ErrorCounts::default(),
            error_order: Vec::new(),
            bytes_in: 0,
            bytes_out: 0,
            latency_sum_ns: 0,
            earliest: None,
            latest: None,
            end: None,
            completed_per_100ms: Vec::new(),
        })
    }

    /// Add one finished request.
    pub fn record(&mut self, r: &RequestRecord) {
        let rep = self.report();
        match r.outcome {
            Outcome::Response(code) => {
                *rep.status_codes.entry(code).or_insert(0) += 1;
                if r.outcome.is_success() {
                    rep.ok.record(r.latency);
                } else {
                    rep.http_errors.record(r.latency);
                }
            }
            Outcome::Failed(e) => {
                rep.errors_by_kind.add(e);
                rep.transport_errors.record(r.latency);
            }
        }
        if !r.outcome.is_success() && !rep.error_order.contains(&r.outcome) {
            rep.error_order.push(r.outcome);
        }
        rep.bytes_in += r.bytes_in;
        rep.bytes_out += r.bytes_out;
        rep.latency_sum_ns += u128::from(r.latency.as_nanos());
        rep.earliest = Some(rep.earliest.map_or(r.start, |e| e.min(r.start)));
        rep.latest = Some(rep.latest.map_or(r.start, |e| e.max(r.start)));
        let done = r.start + r.latency;
        rep.end = Some(rep.end.map_or(done, |e| e.max(done)));
        if matches!(r.outcome, Outcome::Response(_)) {
            let w = (done.as_nanos() / 100_000_000) as usize;
            if rep.completed_per_100ms.len() <= w {
                rep.completed_per_100ms.resize(w + 1, 0);
            }
            rep.completed_per_100ms[w] += 1;
        }
    }

    /// The report, with the command line. `completed_per_100ms` is re-based to `meta.start`.
    pub fn finish(mut self, meta: LoadMeta) -> LoadReport {
        let mut rep = self.report().clone();
        let skip = (meta.start.as_nanos() / 100_000_000) as usize;
        rep.completed_per_100ms
            .drain(..skip.min(rep.completed_per_100ms.len()));
        rep.meta = meta;
        rep
    }
}

/// One iperf3 TCP stream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamReport {
    /// Bytes the sender sent in each reporting interval.
    pub bytes_per_interval: Vec<u64>,
    /// Bytes the receiver got over the whole test.
    pub bytes_received: u64,
    /// TCP retransmissions in each interval (sender side).
    pub retransmits_per_interval: Vec<u64>,
    /// Smoothed RTT at the end of each interval, microseconds.
    pub rtt_us_per_interval: Vec<u64>,
    /// RTT variance at the end of each interval, microseconds.
    pub rttvar_us_per_interval: Vec<u64>,
    /// Congestion window at the end of each interval, bytes.
    pub snd_cwnd_per_interval: Vec<u64>,
    /// Client local port.
    pub local_port: u16,
}

/// An iperf3 TCP test (the neutral input of [`iperf3::to_json`]).
#[derive(Debug, Clone, PartialEq)]
pub struct IperfReport {
    /// Server address as given to `-c`.
    pub server: String,
    /// Server port (`-p`, default 5201).
    pub port: u16,
    /// Client address.
    pub client: String,
    /// Nanoseconds since the Unix epoch that simulated time 0 maps to.
    pub epoch_ns: u64,
    /// When the test started (simulated).
    pub start: SimTime,
    /// Reporting interval (`-i`, default 1 s).
    pub interval: SimDuration,
    /// Test length (`-t`).
    pub duration: SimDuration,
    /// `-R`: the server sends, the client receives.
    pub reverse: bool,
    /// Path MTU in bytes.
    pub pmtu: u32,
    /// The streams (`-P`).
    pub streams: Vec<StreamReport>,
    /// Sender-side TCP congestion control name.
    pub congestion: String,
}

/// One ping probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingProbe {
    /// `icmp_seq`, from 1.
    pub seq: u64,
    /// When the echo request was sent (simulated).
    pub sent: SimTime,
    /// When the reply came back, or `None` if it never did.
    pub reply: Option<SimTime>,
}

/// A ping run (the neutral input of [`ping::to_log`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PingLog {
    /// Destination address.
    pub target: String,
    /// Nanoseconds since the Unix epoch that simulated time 0 maps to.
    pub epoch_ns: u64,
    /// When ping started (the `PING` header line).
    pub start: SimTime,
    /// Probes in order of `seq`.
    pub probes: Vec<PingProbe>,
    /// `-O`: print `no answer yet for icmp_seq=N` before sending the next probe.
    pub report_outstanding: bool,
    /// Print the statistics at the end (ping got SIGINT); the seed's script kills the reading
    /// loop instead, so its logs have none.
    pub summary: Option<SimTime>,
    /// TTL of replies.
    pub ttl: u8,
}

/// A reader's error: where in the input, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolError {
    /// A text line did not have the expected shape.
    #[error("line {line}: expected {expected}, found {found:?}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What the reader expected.
        expected: &'static str,
        /// The line (or token) found.
        found: String,
    },
    /// The input ended before something required.
    #[error("line {line}: input ended, expected {expected}")]
    Truncated {
        /// 1-based line number of the end.
        line: usize,
        /// What the reader expected.
        expected: &'static str,
    },
    /// JSON that does not parse, or lacks a field, or has one of the wrong type.
    #[error("line {line}, column {column}: at `{path}`: {message}")]
    Json {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Path of the offending field (`end.sum_sent.bits_per_second`).
        path: String,
        /// serde's description (`missing field ...`, `invalid type ...`).
        message: String,
    },
    /// The tool itself reported an error (iperf3's `"error"`).
    #[error("the tool reported an error: {0}")]
    ToolReported(String),
}

/// Deserialize JSON into `T`, with the path and position of any failure.
pub(crate) fn from_json<'de, T: serde::Deserialize<'de>>(text: &'de str) -> Result<T, ToolError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        ToolError::Json {
            line: inner.line(),
            column: inner.column(),
            path,
            message: inner.to_string(),
        }
    })?;
    de.end().map_err(|e| ToolError::Json {
        line: e.line(),
        column: e.column(),
        path: ".".into(),
        message: e.to_string(),
    })?;
    Ok(value)
}

/// `http://host[:port]/path` split into host and port (default 80, or 443 for https).
pub(crate) fn host_port(url: &str) -> (String, u16) {
    let (rest, default) = if let Some(r) = url.strip_prefix("https://") {
        (r, 443)
    } else {
        (url.strip_prefix("http://").unwrap_or(url), 80)
    };
    let authority = rest.split('/').next().unwrap_or("");
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => match p.parse() {
            Ok(port) => (h.to_string(), port),
            Err(_) => (authority.to_string(), default),
        },
        _ => (authority.to_string(), default),
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportError::Refused => "connection refused",
            TransportError::Reset => "connection reset by peer",
            TransportError::Timeout => "timeout",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_defaults() {
        assert_eq!(host_port("http://10.0.0.1/"), ("10.0.0.1".into(), 80));
        assert_eq!(
            host_port("http://10.0.0.1:8080/x"),
            ("10.0.0.1".into(), 8080)
        );
        assert_eq!(
            host_port("https://example.org"),
            ("example.org".into(), 443)
        );
    }

    #[test]
    fn recorder_counts_every_request_once() {
        let mut rec = LoadRecorder::new();
        let outcomes = [
            Outcome::Response(200),
            Outcome::Response(503),
            Outcome::Failed(TransportError::Reset),
            Outcome::Response(503),
            Outcome::Failed(TransportError::Timeout),
        ];
        for (i, o) in outcomes.iter().enumerate() {
            rec.record(&RequestRecord {
                seq: i as u64,
                start: SimTime(i as u64 * 1_000_000),
                latency: SimDuration::from_millis(1),
                outcome: *o,
                bytes_in: 10,
                bytes_out: 1,
            });
        }
        let r = rec.finish(LoadMeta::new("t", "http://x/", SimDuration::from_secs(1)));
        assert_eq!(r.requests(), 5);
        assert_eq!(r.ok.count(), 1);
        assert_eq!(r.http_errors.count(), 2);
        assert_eq!(r.errors_by_kind.total(), 2);
        assert_eq!(
            r.error_order,
            vec![
                Outcome::Response(503),
                Outcome::Failed(TransportError::Reset),
                Outcome::Failed(TransportError::Timeout)
            ]
        );
        assert_eq!(r.completed_per_100ms, vec![3]);
        assert_eq!(r.end, Some(SimTime(5_000_000)));
    }
}

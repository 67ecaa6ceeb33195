//! fortio `load -json FILE`: the JSON of `fhttp.HTTPRunnerResults` (fortio/fortio
//! `fhttp/httprunner.go`), which embeds `periodic.RunnerResults` (`periodic/periodic.go`) and
//! `HTTPOptions` (`fhttp/http_client.go`, with `TLSOptions` from `fhttp/http_utils.go`), written
//! by `cli/fortio_main.go` with `json.MarshalIndent(res, "", "  ")` and a final newline.
//!
//! Facts from the source:
//! - Durations in histograms are **seconds** (`Offset` 0, `Divider` = `Resolution` 0.001);
//!   `ActualDuration` and `HTTPReqTimeOut` are Go `time.Duration`, i.e. **nanoseconds**.
//! - `DurationHistogram` holds **every** call, errors included; `ErrorsDurationHistogram` only
//!   the calls whose code is not OK (`codeIsOK`: 2xx or 418). `ActualQPS` = all calls / elapsed.
//! - Percentiles come from the CLI default `-p 50,75,90,99,99.9`, in that order; `Percentiles`
//!   is `omitempty`, so it is absent when `Count` is 0 (and on `Sizes`/`HeaderSizes`, which are
//!   exported without percentiles); `Data` is `null` when empty.
//! - `RetCodes` keys are the status codes as strings; transport errors count under `"-1"`
//!   (`SocketError`). Go sorts map keys as strings.
//! - `RequestedQPS` is `fmt.Sprintf("%.9g", qps)` or `"max"`; `RequestedDuration` is
//!   `time.Duration.String()` (`"1m0s"`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::format::{fmt_g, go_duration, rfc3339_nano, to_string_with, GoFormatter};
use super::{from_json, host_port, LoadReport, Outcome, ToolError};

/// The percentiles fortio's CLI computes by default (`-p 50,75,90,99,99.9`).
pub const DEFAULT_PERCENTILES: [f64; 5] = [50.0, 75.0, 90.0, 99.0, 99.9];

/// What lbsim writes as fortio's `Version`.
pub const VERSION: &str = concat!("lbsim-", env!("CARGO_PKG_VERSION"));

/// fortio's bucket boundaries (`stats/stats.go` `histogramBucketValues`), in units of `Divider`.
const BUCKETS: [i32; NUM_VALUES] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 18, 20, 25, 30, 35, 40, 45, 50, 60, 70, 80,
    90, 100, 120, 140, 160, 180, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800, 900, 1000, 2000,
    3000, 4000, 5000, 7500, 10000, 20000, 30000, 40000, 50000, 75000, 100000,
];
const NUM_VALUES: usize = 56;

/// One bucket of `HistogramData.Data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(non_snake_case)]
pub struct Bucket {
    /// Start of the interval (exclusive except for the first bucket, which starts at `Min`).
    pub Start: f64,
    /// End of the interval (inclusive; the last bucket ends at `Max`).
    pub End: f64,
    /// Cumulative percentage up to this bucket.
    pub Percent: f64,
    /// Values in this bucket.
    pub Count: i64,
}

/// One entry of `HistogramData.Percentiles`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(non_snake_case)]
pub struct Percentile {
    /// The percentile, e.g. 99.9.
    pub Percentile: f64,
    /// Its value (seconds for durations).
    pub Value: f64,
}

/// fortio's `stats.HistogramData`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[allow(non_snake_case)]
pub struct HistogramData {
    /// Number of values.
    pub Count: i64,
    /// Smallest value.
    pub Min: f64,
    /// Largest value.
    pub Max: f64,
    /// Sum of values.
    pub Sum: f64,
    /// Mean.
    pub Avg: f64,
    /// Population standard deviation.
    pub StdDev: f64,
    /// Non-empty buckets; `null` when there is no data.
    pub Data: Option<Vec<Bucket>>,
    /// Requested percentiles; omitted when none were computed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub Percentiles: Option<Vec<Percentile>>,
}

impl HistogramData {
    /// Export `(value, count)` pairs (ascending) as fortio's `Histogram.Export()` does with
    /// `offset` and `divider`, then `CalcPercentiles(percentiles)` when given.
    pub fn from_values(
        values: &[(f64, u64)],
        offset: f64,
        divider: f64,
        percentiles: Option<&[f64]>,
    ) -> Self {
        let mut hdata = [0i64; NUM_VALUES + 1];
        let (mut count, mut min, mut max, mut sum, mut sum_sq) = (0i64, 0.0f64, 0.0f64, 0.0, 0.0);
        for &(v, n) in values {
            if n == 0 {
                continue;
            }
            if count == 0 {
                min = v;
                max = v;
            } else {
                min = min.min(v);
                max = max.max(v);
            }
            count += n as i64;
            sum += v * n as f64;
            sum_sq += v * v * n as f64;
            hdata[bucket_index(v, offset, divider)] += n as i64;
        }
        let avg = if count == 0 { 0.0 } else { sum / count as f64 };
        let stddev = if count == 0 {
            0.0
        } else {
            let c = count as f64;
            ((sum_sq - sum * sum / c) / c).max(0.0).sqrt()
        };
        let mut res = HistogramData {
            Count: count,
            Min: min,
            Max: max,
            Sum: sum,
            Avg: avg,
            StdDev: stddev,
            Data: None,
            Percentiles: None,
        };
        if count > 0 {
            let mut data = Vec::new();
            let mut prev = BUCKETS[0];
            let mut total = 0i64;
            for (i, &n) in hdata.iter().enumerate() {
                if n == 0 {
                    if i < NUM_VALUES {
                        prev = BUCKETS[i];
                    }
                    continue;
                }
                total += n;
                let start = if data.is_empty() {
                    min
                } else {
                    divider * f64::from(prev) + offset
                };
                let end = if i < NUM_VALUES {
                    let cur = BUCKETS[i];
                    prev = cur;
                    divider * f64::from(cur) + offset
                } else {
                    max
                };
                data.push(Bucket {
                    Start: start,
                    End: end,
                    Percent: 100.0 * total as f64 / count as f64,
                    Count: n,
                });
            }
            if let Some(last) = data.last_mut() {
                last.End = max;
            }
            res.Data = Some(data);
            if let Some(ps) = percentiles {
                res.Percentiles = Some(
                    ps.iter()
                        .map(|&p| Percentile {
                            Percentile: p,
                            Value: res.calc_percentile(p),
                        })
                        .collect(),
                );
            }
        }
        res
    }

    /// fortio's `CalcPercentile`: linear interpolation inside the bucket.
    pub fn calc_percentile(&self, percentile: f64) -> f64 {
        let Some(data) = self.Data.as_deref().filter(|d| !d.is_empty()) else {
            return 0.0;
        };
        if percentile >= 100.0 {
            return self.Max;
        }
        let mut pp = 100.0 / self.Count as f64;
        if percentile <= pp {
            return self.Min;
        }
        for b in data {
            if percentile <= b.Percent {
                return b.Start + (percentile - pp) / (b.Percent - pp) * (b.End - b.Start);
            }
            pp = b.Percent;
        }
        self.Max
    }
}

/// fortio's `Histogram.record` bucket choice: intervals are `]prev, cur]`.
fn bucket_index(v: f64, offset: f64, divider: f64) -> usize {
    let scaled = (v - offset) / divider;
    if scaled <= f64::from(BUCKETS[0]) {
        0
    } else if scaled > f64::from(BUCKETS[NUM_VALUES - 1]) {
        NUM_VALUES
    } else {
        let mut sv = scaled as i64;
        if scaled - (sv as f64) < 1e-12 {
            sv -= 1;
        }
        BUCKETS[..NUM_VALUES]
            .iter()
            .position(|&b| i64::from(b) > sv)
            .unwrap_or(NUM_VALUES - 1)
    }
}

/// The latencies of `hist` as `(seconds, count)` pairs, ascending.
fn seconds(hist: &sim_core::LatencyHistogram) -> Vec<(f64, u64)> {
    hist.raw()
        .iter_recorded()
        .map(|v| (v.value_iterated_to() as f64 / 1e9, v.count_at_value()))
        .collect()
}

/// The JSON fortio writes, field order as Go declares it (embedded structs flattened).
#[derive(Debug, Clone, Serialize)]
#[allow(non_snake_case)]
struct HttpRunnerResults {
    RunType: &'static str,
    Labels: String,
    StartTime: String,
    RequestedQPS: String,
    RequestedDuration: String,
    ActualQPS: f64,
    ActualDuration: u64,
    NumThreads: u32,
    Version: &'static str,
    DurationHistogram: HistogramData,
    ErrorsDurationHistogram: HistogramData,
    Exactly: i64,
    Jitter: bool,
    Uniform: bool,
    NoCatchUp: bool,
    RunID: i64,
    AccessLoggerInfo: &'static str,
    ID: String,
    RetCodes: BTreeMap<String, u64>,
    IPCountMap: BTreeMap<String, u64>,
    Insecure: bool,
    MTLS: bool,
    CACert: &'static str,
    Cert: &'static str,
    Key: &'static str,
    UnixDomainSocket: &'static str,
    URL: String,
    NumConnections: u32,
    Compression: bool,
    DisableFastClient: bool,
    HTTP10: bool,
    H2: bool,
    DisableKeepAlive: bool,
    AllowHalfClose: bool,
    FollowRedirects: bool,
    Resolve: &'static str,
    HTTPReqTimeOut: u64,
    UserCredentials: &'static str,
    ContentType: &'static str,
    Payload: Option<String>,
    MethodOverride: &'static str,
    LogErrors: bool,
    SequentialWarmup: bool,
    ConnReuseRange: [u32; 2],
    NoResolveEachConn: bool,
    Offset: u64,
    Resolution: f64,
    Sizes: HistogramData,
    HeaderSizes: HistogramData,
    Sockets: Vec<u64>,
    SocketCount: u64,
    ConnectionStats: HistogramData,
    AbortOn: i64,
}

/// fortio's default `-timeout` (`HTTPReqTimeOut`), 3 s.
const DEFAULT_TIMEOUT_NS: u64 = 3_000_000_000;

/// fortio `load -json` output for `report`, with its final newline.
///
/// The connection-time histogram (`ConnectionStats`) has one value per connection, each
/// `connect_time` (one TCP handshake); body sizes are `bytes_in / responses` per response.
pub fn to_json(report: &LoadReport, connect_time: sim_core::SimDuration) -> String {
    let m = &report.meta;
    let all = report.all_latencies();
    let mut errors = report.http_errors.clone();
    errors.merge(&report.transport_errors);
    let calls = report.requests();
    let elapsed = m.actual_duration.as_secs_f64();
    let mut ret_codes: BTreeMap<String, u64> = report
        .status_codes
        .iter()
        .map(|(c, n)| (c.to_string(), *n))
        .collect();
    if report.errors_by_kind.total() > 0 {
        ret_codes.insert("-1".into(), report.errors_by_kind.total());
    }
    let (host, port) = host_port(&m.url);
    let threads = m.connections.max(1);
    let responses = report.responses();
    let size = report.bytes_in.checked_div(responses).unwrap_or(0) as f64;
    let start_ns = report.epoch_ns(m.start);
    let out = HttpRunnerResults {
        RunType: "HTTP",
        Labels: m.label.clone(),
        StartTime: rfc3339_nano(start_ns),
        RequestedQPS: m
            .requested_qps
            .map_or_else(|| "max".to_string(), |q| fmt_g(q, 9)),
        RequestedDuration: go_duration(m.requested_duration.as_nanos()),
        ActualQPS: if elapsed > 0.0 {
            calls as f64 / elapsed
        } else {
            0.0
        },
        ActualDuration: m.actual_duration.as_nanos(),
        NumThreads: threads,
        Version: VERSION,
        DurationHistogram: HistogramData::from_values(
            &seconds(&all),
            0.0,
            0.001,
            Some(&DEFAULT_PERCENTILES),
        ),
        ErrorsDurationHistogram: HistogramData::from_values(
            &seconds(&errors),
            0.0,
            0.001,
            Some(&DEFAULT_PERCENTILES),
        ),
        Exactly: 0,
        Jitter: false,
        Uniform: false,
        NoCatchUp: false,
        RunID: 0,
        AccessLoggerInfo: "",
        ID: run_id(start_ns, &m.label, &m.url),
        RetCodes: ret_codes,
        IPCountMap: BTreeMap::from([(format!("{host}:{port}"), u64::from(threads))]),
        Insecure: false,
        MTLS: false,
        CACert: "",
        Cert: "",
        Key: "",
        UnixDomainSocket: "",
        URL: m.url.clone(),
        NumConnections: 1,
        Compression: false,
        DisableFastClient: false,
        HTTP10: false,
        H2: false,
        DisableKeepAlive: false,
        AllowHalfClose: false,
        FollowRedirects: false,
        Resolve: "",
        HTTPReqTimeOut: DEFAULT_TIMEOUT_NS,
        UserCredentials: "",
        ContentType: "",
        Payload: None,
        MethodOverride: "",
        LogErrors: false,
        SequentialWarmup: false,
        ConnReuseRange: [0, 0],
        NoResolveEachConn: false,
        Offset: 0,
        Resolution: 0.001,
        Sizes: HistogramData::from_values(&[(size, calls)], 0.0, 100.0, None),
        HeaderSizes: HistogramData::from_values(&[(m.header_bytes as f64, calls)], 0.0, 5.0, None),
        Sockets: vec![1; threads as usize],
        SocketCount: u64::from(threads),
        ConnectionStats: HistogramData::from_values(
            &[(connect_time.as_secs_f64(), u64::from(threads))],
            0.0,
            0.001,
            Some(&DEFAULT_PERCENTILES),
        ),
        AbortOn: 0,
    };
    let mut s = to_string_with(&out, GoFormatter::indented());
    s.push('\n');
    s
}

/// fortio's run ID shape: `YYYY-MM-DD-HHMMSS_` + the sanitized URL and labels.
fn run_id(start_ns: u64, label: &str, url: &str) -> String {
    let c = super::format::civil_from_unix(start_ns / 1_000_000_000);
    let mut id = format!(
        "{:04}-{:02}-{:02}-{:02}{:02}{:02}_",
        c.year, c.month, c.day, c.hms.0, c.hms.1, c.hms.2
    );
    let tail = url
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let src = if label.is_empty() {
        tail.to_string()
    } else {
        format!("{tail}_{label}")
    };
    let mut last_us = false;
    for ch in src.chars() {
        if ch.is_ascii_alphanumeric() {
            id.push(ch);
            last_us = false;
        } else if !last_us {
            id.push('_');
            last_us = true;
        }
    }
    id.trim_end_matches('_').chars().take(96).collect()
}

/// What a reader keeps of a fortio result (real or lbsim's).
#[derive(Debug, Clone, PartialEq)]
pub struct FortioSummary {
    /// `ActualQPS`.
    pub actual_qps: f64,
    /// `ActualDuration`, nanoseconds.
    pub actual_duration_ns: u64,
    /// `DurationHistogram`: all calls.
    pub all: HistogramData,
    /// `ErrorsDurationHistogram`: failed calls.
    pub errors: HistogramData,
    /// `RetCodes`.
    pub ret_codes: BTreeMap<String, u64>,
}

#[derive(Deserialize)]
#[allow(non_snake_case)]
struct FortioIn {
    ActualQPS: f64,
    ActualDuration: u64,
    DurationHistogram: HistogramData,
    ErrorsDurationHistogram: HistogramData,
    #[serde(default)]
    RetCodes: BTreeMap<String, u64>,
}

/// Read fortio `-json` output.
///
/// # Errors
/// [`ToolError::Json`] with the position and path of a syntax error, missing or mistyped field.
pub fn parse(text: &str) -> Result<FortioSummary, ToolError> {
    let f: FortioIn = from_json(text)?;
    Ok(FortioSummary {
        actual_qps: f.ActualQPS,
        actual_duration_ns: f.ActualDuration,
        all: f.DurationHistogram,
        errors: f.ErrorsDurationHistogram,
        ret_codes: f.RetCodes,
    })
}

/// Whether fortio counts `outcome` as OK (`codeIsOK`: 2xx or 418 I'm a teapot).
pub fn code_is_ok(outcome: Outcome) -> bool {
    matches!(outcome, Outcome::Response(c) if (200..300).contains(&c) || c == 418)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_fortio_intervals() {
        // 1 ms exactly falls in ]0, 1] (index 1); 1.5 ms in ]1, 2].
        assert_eq!(bucket_index(0.001, 0.0, 0.001), 1);
        assert_eq!(bucket_index(0.0015, 0.0, 0.001), 2);
        assert_eq!(bucket_index(0.0, 0.0, 0.001), 0);
        assert_eq!(bucket_index(200.0, 0.0, 0.001), NUM_VALUES);
        assert_eq!(BUCKETS[NUM_VALUES - 1], 100_000);
    }

    #[test]
    fn readme_example_percentiles() {
        // fortio README: 4 values in one bucket [0.00027292, 0.000930407]: p50 = 0.00049208...
        let vals = [(0.00027292, 1), (0.0005, 1), (0.0006, 1), (0.000930407, 1)];
        let h = HistogramData::from_values(&vals, 0.0, 0.001, Some(&DEFAULT_PERCENTILES));
        let p = h.Percentiles.unwrap();
        assert!((p[0].Value - 0.0004920823333333334).abs() < 1e-12, "{p:?}");
        assert_eq!(h.Data.unwrap().len(), 1);
    }

    #[test]
    fn empty_histogram_has_null_data_and_no_percentiles() {
        let h = HistogramData::from_values(&[], 0.0, 0.001, Some(&DEFAULT_PERCENTILES));
        let s = serde_json::to_string(&h).unwrap();
        assert!(s.contains("\"Data\":null"));
        assert!(!s.contains("Percentiles"));
    }
}

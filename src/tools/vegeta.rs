//! vegeta: `vegeta report -type=json` (tsenart/vegeta `lib/metrics.go` `Metrics`, written by
//! `lib/reporters.go` `NewJSONReporter` = `json.NewEncoder(w).Encode(m)`: compact, one line,
//! final newline) and the CSV result encoding (`lib/results.go` `NewCSVEncoder`).
//!
//! Facts from the source:
//! - `latencies.*`, `duration`, `wait` are Go `time.Duration`: integer **nanoseconds**;
//!   `latencies.mean` = total / requests, truncated.
//! - `earliest`/`latest` are the first and last request *start* times, `end` the latest
//!   start + latency; `duration` = latest − earliest; `wait` = end − latest.
//! - `rate` = requests / duration; `throughput` = successes / (duration + wait); `success` is
//!   a **ratio** (0..1) of codes in 200..=399.
//! - `status_codes` keys are strings; a transport error has code `"0"`.
//! - `errors` is the list of distinct error strings in first-seen order, `[]` when none: for a
//!   bad status the response's status line (`"503 Service Unavailable"`), for a transport
//!   error Go's error text.
//! - CSV columns: timestamp (Unix ns), code, latency (ns), bytes out, bytes in, error,
//!   base64 body, attack name, seq, method, URL, base64 headers; Go `encoding/csv` quoting,
//!   `\n` line ends.

use std::collections::BTreeMap;
use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use super::format::{rfc3339_nano, to_string_with, GoFormatter, GO_ZERO_TIME};
use super::{from_json, host_port, LoadReport, Outcome, RequestRecord, ToolError, TransportError};

/// `latencies` of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyMetrics {
    /// Sum of all latencies, ns.
    pub total: u64,
    /// Mean, ns.
    pub mean: u64,
    /// Median, ns.
    #[serde(rename = "50th")]
    pub p50: u64,
    /// 90th percentile, ns.
    #[serde(rename = "90th")]
    pub p90: u64,
    /// 95th percentile, ns.
    #[serde(rename = "95th")]
    pub p95: u64,
    /// 99th percentile, ns.
    #[serde(rename = "99th")]
    pub p99: u64,
    /// Largest, ns.
    pub max: u64,
    /// Smallest, ns.
    pub min: u64,
}

/// `bytes_in` / `bytes_out` of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ByteMetrics {
    /// Total bytes.
    pub total: u64,
    /// Mean bytes per request.
    pub mean: f64,
}

/// vegeta's `Metrics` as JSON (field order as declared; `buckets` is omitted, as without
/// `-buckets`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Latencies.
    pub latencies: LatencyMetrics,
    /// Bytes received.
    pub bytes_in: ByteMetrics,
    /// Bytes sent.
    pub bytes_out: ByteMetrics,
    /// First request start (RFC 3339 with ns).
    pub earliest: String,
    /// Last request start.
    pub latest: String,
    /// Latest request end.
    pub end: String,
    /// latest − earliest, ns.
    pub duration: u64,
    /// end − latest, ns.
    pub wait: u64,
    /// Requests.
    pub requests: u64,
    /// Requests per second sent.
    pub rate: f64,
    /// Successful requests per second.
    pub throughput: f64,
    /// Ratio of successful requests, 0..=1.
    pub success: f64,
    /// Responses by code (`"0"`: transport error).
    pub status_codes: BTreeMap<String, u64>,
    /// Distinct error strings, first seen first.
    pub errors: Vec<String>,
}

/// The reason phrase Go's `http.StatusText` gives a code (empty for unknown codes).
pub fn status_text(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    }
}

/// The error string vegeta records for a failed request (`Result.Error`): the status line for
/// a bad status (`res.Error = r.Status`), else Go's `net/http` client error text (the local
/// address of a reset is left out, so each kind is one distinct string).
pub fn error_text(outcome: Outcome, method: &str, url: &str) -> String {
    let verb = go_method_word(method);
    let (host, port) = host_port(url);
    match outcome {
        Outcome::Response(code) if (200..400).contains(&code) => String::new(),
        Outcome::Response(code) => format!("{code} {}", status_text(code)),
        Outcome::Failed(TransportError::Refused) => {
            format!("{verb} \"{url}\": dial tcp {host}:{port}: connect: connection refused")
        }
        Outcome::Failed(TransportError::Reset) => {
            format!("{verb} \"{url}\": read tcp {host}:{port}: read: connection reset by peer")
        }
        Outcome::Failed(TransportError::Timeout) => format!(
            "{verb} \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        ),
    }
}

/// Go's `url.Error` spells the method with one capital (`Get`, `Post`).
fn go_method_word(method: &str) -> String {
    let lower = method.to_ascii_lowercase();
    let mut c = lower.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => "Get".into(),
    }
}

/// The report's metrics for `report` (the method is taken to be GET).
pub fn metrics(report: &LoadReport) -> Metrics {
    let requests = report.requests();
    if requests == 0 {
        return Metrics {
            latencies: LatencyMetrics {
                total: 0,
                mean: 0,
                p50: 0,
                p90: 0,
                p95: 0,
                p99: 0,
                max: 0,
                min: 0,
            },
            bytes_in: ByteMetrics {
                total: 0,
                mean: 0.0,
            },
            bytes_out: ByteMetrics {
                total: 0,
                mean: 0.0,
            },
            earliest: GO_ZERO_TIME.into(),
            latest: GO_ZERO_TIME.into(),
            end: GO_ZERO_TIME.into(),
            duration: 0,
            wait: 0,
            requests: 0,
            rate: 0.0,
            throughput: 0.0,
            success: 0.0,
            status_codes: BTreeMap::new(),
            errors: Vec::new(),
        };
    }
    let all = report.all_latencies();
    let earliest = report.earliest.unwrap_or(report.meta.start);
    let latest = report.latest.unwrap_or(earliest);
    let end = report.end.unwrap_or(latest);
    let duration = latest.saturating_since(earliest).as_nanos();
    let wait = end.saturating_since(latest).as_nanos();
    let success = report.ok.count();
    let (rate, throughput) = if duration > 0 {
        (
            requests as f64 / (duration as f64 / 1e9),
            success as f64 / ((duration + wait) as f64 / 1e9),
        )
    } else {
        (requests as f64, success as f64)
    };
    let mut status_codes: BTreeMap<String, u64> = report
        .status_codes
        .iter()
        .map(|(c, n)| (c.to_string(), *n))
        .collect();
    if report.errors_by_kind.total() > 0 {
        status_codes.insert("0".into(), report.errors_by_kind.total());
    }
    let total = u64::try_from(report.latency_sum_ns).unwrap_or(u64::MAX);
    Metrics {
        latencies: LatencyMetrics {
            total,
            mean: (total as f64 / requests as f64) as u64,
            p50: all.quantile(0.50).as_nanos(),
            p90: all.quantile(0.90).as_nanos(),
            p95: all.quantile(0.95).as_nanos(),
            p99: all.quantile(0.99).as_nanos(),
            max: all.max().as_nanos(),
            min: all.min().as_nanos(),
        },
        bytes_in: ByteMetrics {
            total: report.bytes_in,
            mean: report.bytes_in as f64 / requests as f64,
        },
        bytes_out: ByteMetrics {
            total: report.bytes_out,
            mean: report.bytes_out as f64 / requests as f64,
        },
        earliest: rfc3339_nano(report.epoch_ns(earliest)),
        latest: rfc3339_nano(report.epoch_ns(latest)),
        end: rfc3339_nano(report.epoch_ns(end)),
        duration,
        wait,
        requests,
        rate,
        throughput,
        success: success as f64 / requests as f64,
        status_codes,
        errors: report
            .error_order
            .iter()
            .map(|o| error_text(*o, "GET", &report.meta.url))
            .collect(),
    }
}

/// `vegeta report -type=json` output for `report`, with its final newline.
pub fn report_json(report: &LoadReport) -> String {
    let mut s = to_string_with(&metrics(report), GoFormatter::compact());
    s.push('\n');
    s
}

/// Read `vegeta report -type=json` output.
///
/// # Errors
/// [`ToolError::Json`] with the position and path of a syntax error, missing or mistyped field.
pub fn parse(text: &str) -> Result<Metrics, ToolError> {
    from_json(text)
}

/// Streams vegeta's CSV result encoding, one line per request, in constant memory.
#[derive(Debug)]
pub struct VegetaCsvWriter<W: Write> {
    out: W,
    epoch_ns: u64,
    attack: String,
    method: String,
    url: String,
    line: String,
}

impl<W: Write> VegetaCsvWriter<W> {
    /// A writer for the attack `attack` (`-name`) of `method url`; simulated time 0 is
    /// `epoch_ns` nanoseconds after the Unix epoch.
    pub fn new(out: W, epoch_ns: u64, attack: &str, method: &str, url: &str) -> Self {
        VegetaCsvWriter {
            out,
            epoch_ns,
            attack: attack.into(),
            method: method.into(),
            url: url.into(),
            line: String::new(),
        }
    }

    /// Write one result. Body and headers are empty (lbsim models sizes, not contents).
    ///
    /// # Errors
    /// The underlying writer's error.
    pub fn write(&mut self, r: &RequestRecord) -> io::Result<()> {
        let code = match r.outcome {
            Outcome::Response(c) => c,
            Outcome::Failed(_) => 0,
        };
        let error = error_text(r.outcome, &self.method, &self.url);
        self.line.clear();
        let fields: [&str; 12] = [
            &(self.epoch_ns + r.start.as_nanos()).to_string(),
            &code.to_string(),
            &r.latency.as_nanos().to_string(),
            &r.bytes_out.to_string(),
            &r.bytes_in.to_string(),
            &error,
            "",
            &self.attack,
            &r.seq.to_string(),
            &self.method,
            &self.url,
            "",
        ];
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                self.line.push(',');
            }
            push_go_csv_field(&mut self.line, f);
        }
        self.line.push('\n');
        self.out.write_all(self.line.as_bytes())
    }

    /// Flush and return the underlying writer.
    ///
    /// # Errors
    /// The underlying writer's flush error.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Go `encoding/csv` `Writer`: quote a field holding `,` `"` `\r` `\n`, equal to `\.`, or
/// starting with white space; double the quotes inside.
fn push_go_csv_field(out: &mut String, f: &str) {
    let needs = !f.is_empty()
        && (f == r"\."
            || f.contains([',', '"', '\r', '\n'])
            || f.chars().next().is_some_and(char::is_whitespace));
    if needs {
        out.push('"');
        out.push_str(&f.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(f);
    }
}

/// One decoded CSV result (the columns lbsim can fill).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvResult {
    /// Unix nanoseconds the request started.
    pub timestamp_ns: u64,
    /// Status code (0: transport error).
    pub code: u16,
    /// Latency, ns.
    pub latency_ns: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Error text.
    pub error: String,
    /// Attack name.
    pub attack: String,
    /// Sequence number.
    pub seq: u64,
    /// Method.
    pub method: String,
    /// URL.
    pub url: String,
}

/// Read vegeta CSV results (12 columns, as `NewCSVDecoder` requires).
///
/// # Errors
/// [`ToolError::Line`] naming the line and the column that did not parse.
pub fn parse_csv(text: &str) -> Result<Vec<CsvResult>, ToolError> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| ToolError::Line {
            line: e.position().map_or(0, |p| p.line() as usize),
            expected: "a CSV record",
            found: e.to_string(),
        })?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        if rec.len() != 12 {
            return Err(ToolError::Line {
                line,
                expected: "12 CSV fields",
                found: format!("{} fields", rec.len()),
            });
        }
        let num = |i: usize, what: &'static str| -> Result<u64, ToolError> {
            rec[i].trim().parse().map_err(|_| ToolError::Line {
                line,
                expected: what,
                found: rec[i].to_string(),
            })
        };
        out.push(CsvResult {
            timestamp_ns: num(0, "a timestamp in ns")?,
            code: u16::try_from(num(1, "a status code")?).map_err(|_| ToolError::Line {
                line,
                expected: "a status code below 65536",
                found: rec[1].to_string(),
            })?,
            latency_ns: num(2, "a latency in ns")?,
            bytes_out: num(3, "bytes out")?,
            bytes_in: num(4, "bytes in")?,
            error: rec[5].to_string(),
            attack: rec[7].to_string(),
            seq: num(8, "a sequence number")?,
            method: rec[9].to_string(),
            url: rec[10].to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_csv_quoting() {
        let mut s = String::new();
        push_go_csv_field(&mut s, "a,b");
        push_go_csv_field(&mut s, " x");
        push_go_csv_field(&mut s, "say \"hi\"");
        push_go_csv_field(&mut s, "");
        assert_eq!(s, "\"a,b\"\" x\"\"say \"\"hi\"\"\"");
    }

    #[test]
    fn error_texts() {
        let u = "http://10.0.0.100/";
        assert_eq!(
            error_text(Outcome::Response(503), "GET", u),
            "503 Service Unavailable"
        );
        assert_eq!(
            error_text(Outcome::Failed(TransportError::Refused), "GET", u),
            "Get \"http://10.0.0.100/\": dial tcp 10.0.0.100:80: connect: connection refused"
        );
        assert_eq!(error_text(Outcome::Response(200), "GET", u), "");
    }
}

//! Tool-format writers and readers against the real tools' outputs
//! (`tests/fixtures/real-tools/`, made by `capture.sh` there) and hand-written fixtures taken
//! from the tools' sources.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use lbsim::tools::{
    fortio, iperf3, ping, vegeta, wrk, IperfReport, LoadMeta, LoadRecorder, LoadReport, Outcome,
    PingLog, PingProbe, RequestRecord, StreamReport, ToolError, TransportError,
};
use serde_json::Value;
use sim_core::{SimDuration, SimTime};
use testkit::Missing;

// ---------------------------------------------------------------------------------------------
// Helpers

/// A real tool's output, committed under `tests/fixtures/real-tools/`.
fn fixture(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/real-tools")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// The kind of a JSON value; numbers are one kind (cJSON and Go write whole floats without a
/// decimal point).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Objects whose keys are data, not field names.
const MAP_KEYS: [&str; 3] = [".RetCodes", ".IPCountMap", ".status_codes"];

/// Recursive comparison of structure: the same keys at every level, the same kinds of values;
/// every element of our arrays has the shape of the real array's first element. Reports the
/// first differing path.
fn assert_same_shape(ours: &Value, real: &Value, path: &str) {
    match (ours, real) {
        // Maps keyed by data (status codes, addresses): compare the value kinds only.
        (Value::Object(a), Value::Object(b)) if MAP_KEYS.iter().any(|k| path.ends_with(k)) => {
            for v in a.values().chain(b.values()) {
                assert!(v.is_number(), "`{path}` maps to numbers");
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            let ka: Vec<&String> = a.keys().collect();
            let kb: Vec<&String> = b.keys().collect();
            assert_eq!(ka, kb, "keys differ at `{path}`");
            for (k, v) in a {
                assert_same_shape(v, &b[k], &format!("{path}.{k}"));
            }
        }
        (Value::Array(a), Value::Array(b)) => match b.first() {
            Some(y) => {
                for (i, x) in a.iter().enumerate() {
                    assert_same_shape(x, y, &format!("{path}[{i}]"));
                }
            }
            None => assert!(a.is_empty(), "the real array is empty at `{path}`"),
        },
        _ => assert_eq!(kind(ours), kind(real), "kinds differ at `{path}`"),
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON: {e}\n{text}"))
}

/// Keys in document order (serde_json's map is sorted, so read the order from the text).
fn top_level_key_order(text: &str, keys: &[&str]) -> Vec<usize> {
    keys.iter()
        .map(|k| {
            text.find(&format!("\"{k}\""))
                .unwrap_or_else(|| panic!("key {k} missing"))
        })
        .collect()
}

/// Line shape: each whitespace-separated token with digits replaced by `#`, units kept apart
/// (so `2.15ms` and `849.00us` are both `#<unit>`).
fn token_shape(line: &str) -> Vec<String> {
    line.split_whitespace()
        .map(|t| {
            if t.starts_with("http://") {
                "<url>".to_string()
            } else if t.starts_with(|c: char| c.is_ascii_digit()) {
                let unit: String = t
                    .chars()
                    .skip_while(|c| c.is_ascii_digit() || *c == '.')
                    .collect();
                let unit = match unit.as_str() {
                    "us" | "ms" | "s" | "m" | "h" => "<time>".to_string(),
                    "k" | "M" | "G" | "" => "<metric>".to_string(),
                    "KB" | "MB" | "GB" | "B" => "<bytes>".to_string(),
                    "ms," | "s," | "us," | "m," => "<time>,".to_string(),
                    other => other.to_string(),
                };
                format!("#{unit}")
            } else {
                t.to_string()
            }
        })
        .collect()
}

/// Line shape for ping: every number (digits with an optional fraction) becomes `#`.
fn digit_shape(line: &str) -> String {
    let mut out = String::new();
    let mut in_num = false;
    for c in line.chars() {
        if c.is_ascii_digit() || (in_num && c == '.') {
            if !in_num {
                out.push('#');
                in_num = true;
            }
        } else {
            in_num = false;
            out.push(c);
        }
    }
    out
}

/// A load run: `n` requests at `rate` per second, with the given outcomes cycling.
fn load_report(label: &str, n: u64, rate: u64, outcomes: &[(Outcome, u64)]) -> LoadReport {
    let mut rec = LoadRecorder::new();
    let pattern: Vec<Outcome> = outcomes
        .iter()
        .flat_map(|(o, k)| std::iter::repeat_n(*o, *k as usize))
        .collect();
    for i in 0..n {
        let outcome = pattern[(i as usize) % pattern.len()];
        // Latencies spread 0.5 .. 8 ms, deterministic.
        let lat_us = 500 + (i * 7919) % 7500;
        rec.record(&RequestRecord {
            seq: i,
            start: SimTime(i * 1_000_000_000 / rate),
            latency: match outcome {
                Outcome::Failed(TransportError::Timeout) => SimDuration::from_secs(1),
                _ => SimDuration::from_micros(lat_us),
            },
            outcome,
            bytes_in: if matches!(outcome, Outcome::Response(_)) {
                853
            } else {
                0
            },
            bytes_out: 0,
        });
    }
    let mut meta = LoadMeta::new(
        label,
        "http://10.0.0.100/",
        SimDuration::from_secs(n / rate),
    );
    meta.requested_qps = Some(rate as f64);
    meta.connections = 100;
    meta.threads = 4;
    meta.header_bytes = 238;
    meta.actual_duration = SimDuration(n * 1_000_000_000 / rate + 3_000_000);
    rec.finish(meta)
}

fn ok_report(label: &str) -> LoadReport {
    load_report(label, 5000, 1000, &[(Outcome::Response(200), 1)])
}

// ---------------------------------------------------------------------------------------------
// iperf3

fn iperf_report(streams: usize, secs: u64, reverse: bool) -> IperfReport {
    IperfReport {
        server: "10.0.0.100".into(),
        port: 5201,
        client: "10.0.1.10".into(),
        epoch_ns: lbsim::tools::DEFAULT_EPOCH_NS,
        start: SimTime(SimDuration::from_secs(2).as_nanos()),
        interval: SimDuration::from_secs(1),
        duration: SimDuration::from_secs(secs),
        reverse,
        pmtu: 1500,
        streams: (0..streams)
            .map(|k| StreamReport {
                bytes_per_interval: (0..secs)
                    .map(|i| 100_000_000 + i * 1000 + k as u64)
                    .collect(),
                bytes_received: 100_000_000 * secs - 5000,
                retransmits_per_interval: (0..secs).map(|i| i % 2).collect(),
                rtt_us_per_interval: (0..secs).map(|i| 400 + 10 * i).collect(),
                rttvar_us_per_interval: vec![50; secs as usize],
                snd_cwnd_per_interval: vec![1_000_000; secs as usize],
                local_port: 40_000 + k as u16,
            })
            .collect(),
        congestion: "cubic".into(),
    }
}

#[test]
fn iperf3_json_has_the_real_structure() {
    for (name, streams, secs, reverse) in [
        ("iperf3_single.json", 1, 2, false),
        ("iperf3_P10.json", 10, 3, false),
        ("iperf3_reverse.json", 1, 2, true),
    ] {
        let real_text = fixture(name);
        let ours_text = iperf3::to_json(&iperf_report(streams, secs, reverse));
        let (ours, real) = (json(&ours_text), json(&real_text));
        assert_same_shape(&ours, &real, name);
        assert_eq!(ours["intervals"].as_array().unwrap().len(), secs as usize);
        assert_eq!(ours["end"]["streams"].as_array().unwrap().len(), streams);
        // Same layout conventions: tab indentation, `"key":\t`, final newline.
        assert!(ours_text.starts_with("{\n\t\"start\":\t{\n\t\t\"connected\":\t[{\n"));
        assert!(ours_text.ends_with("}\n"));
        assert!(real_text.ends_with("}\n"));
        // Key order as iperf3 writes it.
        let order = top_level_key_order(&ours_text, &["start", "intervals", "end"]);
        assert!(order.windows(2).all(|w| w[0] < w[1]));
    }
}

#[test]
fn iperf3_reader_reads_real_outputs() {
    let single = iperf3::parse(&fixture("iperf3_single.json")).unwrap();
    // serde_json's default float parsing may differ from the text in the last bit.
    assert!((single.sent_bps - 9_833_021_540.866_28).abs() < 1e-3);
    assert_eq!(single.mean_rtt_us, 209);
    assert_eq!(single.retransmits, 416);
    assert_eq!((single.streams, single.reverse), (1, false));
    assert_eq!(single.interval_bps.len(), 2);

    let p10 = iperf3::parse(&fixture("iperf3_P10.json")).unwrap();
    assert_eq!((p10.streams, p10.retransmits), (10, 23));
    assert_eq!(p10.mean_rtt_us, 1472);
    assert!((p10.sent_bps - 7_777_360_637.780_63).abs() < 1e-3);

    let rev = iperf3::parse(&fixture("iperf3_reverse.json")).unwrap();
    assert!(rev.reverse);
    assert_eq!(rev.mean_rtt_us, 0, "with -R the RTT fields are 0");

    match iperf3::parse(&fixture("iperf3_error.json")) {
        Err(ToolError::ToolReported(m)) => assert!(m.contains("Connection refused"), "{m}"),
        other => panic!("expected the tool's error, got {other:?}"),
    }
}

#[test]
fn iperf3_round_trip_and_units() {
    let r = iperf_report(2, 3, false);
    let s = iperf3::parse(&iperf3::to_json(&r)).unwrap();
    let sent: u64 = r.streams.iter().flat_map(|s| &s.bytes_per_interval).sum();
    assert!(
        (s.sent_bps - sent as f64 * 8.0 / 3.0).abs() < 1e-3,
        "bits per second"
    );
    // Two streams, retransmits 0, 1, 0 per interval each.
    assert_eq!(s.retransmits, 2);
    assert_eq!(s.mean_rtt_us, 410, "mean of 400, 410, 420 µs");
    let rev = iperf3::parse(&iperf3::to_json(&iperf_report(1, 3, true))).unwrap();
    assert_eq!(rev.mean_rtt_us, 0);
    assert!(rev.reverse);
}

#[test]
fn iperf3_reader_rejects_malformed_input_with_a_position() {
    let mut real = fixture("iperf3_single.json");
    real = real.replace("\"sum_sent\"", "\"sum_sent_x\"");
    match iperf3::parse(&real) {
        Err(ToolError::Json {
            path,
            message,
            line,
            ..
        }) => {
            assert!(path.starts_with("end"), "{path}");
            assert!(message.contains("sum_sent"), "{message}");
            assert!(line > 1);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        iperf3::parse("{\"start\": "),
        Err(ToolError::Json { .. })
    ));
    assert!(matches!(iperf3::parse("[]"), Err(ToolError::Json { .. })));
}

// ---------------------------------------------------------------------------------------------
// wrk

fn assert_same_lines(ours: &str, real: &str, name: &str) {
    let (o, r): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), real.lines().collect());
    assert_eq!(
        o.len(),
        r.len(),
        "{name}: line count\nours:\n{ours}\nreal:\n{real}"
    );
    for (i, (a, b)) in o.iter().zip(&r).enumerate() {
        assert_eq!(
            token_shape(a),
            token_shape(b),
            "{name} line {}:\nours: {a:?}\nreal: {b:?}",
            i + 1
        );
    }
    // The fixed-width columns: the stats and distribution lines have the same widths.
    for i in 2..9 {
        assert_eq!(
            o[i].len(),
            r[i].len(),
            "{name} line {} width:\n{:?}\n{:?}",
            i + 1,
            o[i],
            r[i]
        );
    }
}

#[test]
fn wrk_text_matches_the_real_layout() {
    let ok = ok_report("wrk");
    assert_same_lines(
        &wrk::to_text(&ok),
        &fixture("wrk_latency.txt"),
        "wrk_latency.txt",
    );

    let timeouts = load_report(
        "wrk",
        5000,
        1000,
        &[
            (Outcome::Response(200), 49),
            (Outcome::Failed(TransportError::Timeout), 1),
        ],
    );
    assert_same_lines(
        &wrk::to_text(&timeouts),
        &fixture("wrk_errors_timeout.txt"),
        "wrk_errors_timeout.txt",
    );

    let refused = load_report(
        "wrk",
        3000,
        1000,
        &[
            (Outcome::Response(200), 20),
            (Outcome::Failed(TransportError::Reset), 1),
            (Outcome::Failed(TransportError::Refused), 2),
        ],
    );
    assert_same_lines(
        &wrk::to_text(&refused),
        &fixture("wrk_errors_refused.txt"),
        "wrk_errors_refused.txt",
    );

    let non2xx = load_report("wrk", 3000, 1000, &[(Outcome::Response(404), 1)]);
    assert_same_lines(
        &wrk::to_text(&non2xx),
        &fixture("wrk_errors_non2xx.txt"),
        "wrk_errors_non2xx.txt",
    );
}

#[test]
fn wrk_reader_reads_real_outputs() {
    let s = wrk::parse(&fixture("wrk_latency.txt")).unwrap();
    assert_eq!((s.threads, s.connections, s.requests), (4, 100, 352_042));
    assert_eq!(s.duration_ns, 3_000_000_000);
    assert_eq!(s.latency.0, 1_730_000);
    assert_eq!(
        s.percentiles,
        vec![
            (50.0, 628_000),
            (75.0, 1_400_000),
            (90.0, 3_740_000),
            (99.0, 18_820_000)
        ]
    );
    assert_eq!(s.runtime_ns, 3_110_000_000);
    assert_eq!(s.socket_errors, wrk::SocketErrors::default());
    assert_eq!(s.requests_per_sec, 113370.19);
    assert!((s.req_per_thread.0 - 29_190.0).abs() < 1e-6);

    let t = wrk::parse(&fixture("wrk_errors_timeout.txt")).unwrap();
    assert_eq!(t.socket_errors.timeout, 98);
    let r = wrk::parse(&fixture("wrk_errors_refused.txt")).unwrap();
    assert_eq!(
        (
            r.socket_errors.connect,
            r.socket_errors.read,
            r.socket_errors.write
        ),
        (0, 115, 172_242),
        "a refused connection is a write error"
    );
    let n = wrk::parse(&fixture("wrk_errors_non2xx.txt")).unwrap();
    assert_eq!(n.non_2xx_3xx, 88_263);
    assert_eq!(n.bytes_read, (25.93f64 * 1024.0 * 1024.0).round() as u64);
}

#[test]
fn wrk_round_trip() {
    let rep = load_report(
        "wrk",
        5000,
        1000,
        &[
            (Outcome::Response(200), 9),
            (Outcome::Failed(TransportError::Refused), 1),
        ],
    );
    let text = wrk::to_text(&rep);
    let s = wrk::parse(&text).unwrap();
    assert_eq!(s.requests, rep.responses());
    // A refused connection is a write error in wrk (see `wrk::to_text`).
    assert_eq!(s.socket_errors.write, rep.errors_by_kind.refused);
    assert_eq!(s.socket_errors.connect, 0);
    assert_eq!(s.url, "http://10.0.0.100/");
    let p99 = s.percentiles[3].1 as f64;
    let ours = rep.ok.quantile(0.99).as_nanos() as f64;
    assert!((p99 - ours).abs() / ours < 0.01, "p99 {p99} vs {ours}");
}

#[test]
fn wrk_reader_errors_name_the_line() {
    let mut lines: Vec<String> = fixture("wrk_latency.txt")
        .lines()
        .map(String::from)
        .collect();
    lines[3] = "    Latency     fast    1.66ms  21.44ms   84.58%".into();
    match wrk::parse(&lines.join("\n")) {
        Err(ToolError::Line { line, found, .. }) => {
            assert_eq!(line, 4);
            assert!(found.contains("fast"));
        }
        other => panic!("{other:?}"),
    }
    let cut: String = fixture("wrk_latency.txt")
        .lines()
        .take(6)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(matches!(wrk::parse(&cut), Err(ToolError::Truncated { .. })));
}

// ---------------------------------------------------------------------------------------------
// ping

/// Probes every 100 ms for `n`, none answered in [outage_from, outage_to).
fn ping_log(n: u64, outage: (u64, u64), outstanding: bool, summary: bool) -> PingLog {
    let start = SimTime(SimDuration::from_secs(10).as_nanos());
    let probes = (1..=n)
        .map(|seq| {
            let sent = start + SimDuration::from_millis(2 + 100 * (seq - 1));
            let lost = seq >= outage.0 && seq < outage.1;
            PingProbe {
                seq,
                sent,
                reply: (!lost).then(|| sent + SimDuration::from_micros(55 + seq % 7)),
            }
        })
        .collect();
    PingLog {
        target: "10.200.0.100".into(),
        epoch_ns: lbsim::tools::DEFAULT_EPOCH_NS,
        start,
        probes,
        report_outstanding: outstanding,
        summary: summary.then(|| start + SimDuration::from_millis(100 * n + 40)),
        ttl: 64,
    }
}

#[test]
fn ping_log_parses_like_the_real_one() {
    // The 1.5 s outage began right after the answer to probe 17; where it ended against ping's
    // roughly 104 ms interval decides whether probe 31 was lost.
    for (name, outstanding, summary, last_lost) in [
        ("ping_failover.log", false, false, 30),
        ("ping_failover_O.log", true, true, 31),
    ] {
        let real = ping::parse(&fixture(name)).unwrap();
        assert_eq!(real.target, "10.200.0.100");
        assert_eq!(real.lost, (18..=last_lost).collect::<Vec<_>>(), "{name}");
        let (gap, before, after) = real.longest_gap.unwrap();
        assert_eq!((before, after), (17, last_lost + 1), "{name}");
        assert!(
            (1_500_000_000..1_700_000_000).contains(&gap),
            "{name}: {gap}"
        );
        assert_eq!(real.answers.len() as u64, 51 - (last_lost - 17), "{name}");

        // Ours, same outage, parses with the same parser.
        let text = ping::to_log(&ping_log(51, (18, last_lost + 1), outstanding, summary));
        let ours = ping::parse(&text).unwrap();
        assert_eq!(ours.lost, real.lost, "{name}");
        let (g, b, a) = ours.longest_gap.unwrap();
        assert_eq!((b, a), (17, last_lost + 1));
        let rtt_us = |seq: u64| 55 + seq % 7;
        let probes = last_lost + 1 - 17;
        assert_eq!(
            g,
            probes * 100_000_000 + (rtt_us(last_lost + 1) - rtt_us(17)) * 1000
        );
        assert_eq!(ours.no_answer_lines, real.no_answer_lines, "{name}");
        assert_eq!(ours.stats.is_some(), real.stats.is_some());
        if let (Some(o), Some(r)) = (&ours.stats, &real.stats) {
            assert_eq!((o.transmitted, o.received), (r.transmitted, r.received));
            assert_eq!(o.loss_percent, r.loss_percent, "same %g of the same loss");
            assert!(o.rtt_ms.is_some());
        }
        // Line by line: same shapes, modulo numbers.
        let real_text = fixture(name);
        let shapes = |t: &str| -> Vec<String> { t.lines().map(digit_shape).collect() };
        assert_eq!(shapes(&text), shapes(&real_text), "{name}");
    }
}

#[test]
fn ping_seed_grep_counts_nothing_on_linux() {
    // The seed's `grep -c "Request timeout"` is a macOS-ism; Linux output never has it.
    let text = ping::to_log(&ping_log(51, (18, 32), true, true));
    assert_eq!(text.matches("Request timeout").count(), 0);
    assert_eq!(
        fixture("ping_failover_O.log")
            .matches("Request timeout")
            .count(),
        0
    );
}

// ---------------------------------------------------------------------------------------------
// fortio: no real output here, so a fixture written by hand from fortio's source.

/// The keys and value kinds of `fortio load -json` output, in the order Go writes them,
/// from fortio/fortio `fhttp/httprunner.go` `HTTPRunnerResults` (embedding
/// `periodic/periodic.go` `RunnerResults`, `fhttp/http_client.go` `HTTPOptions` and
/// `fhttp/http_utils.go` `TLSOptions`) and `stats/stats.go` `HistogramData`; the shape matches
/// the README's `result.json` example except where the source changed since (`Percentiles` is
/// `omitempty`; `HTTPOptions.ID` is `json:"-"`, the top-level `ID` is a string).
const FORTIO_FIXTURE: &str = r#"{
  "RunType": "HTTP",
  "Labels": "",
  "StartTime": "2022-03-19T15:34:23.279389-07:00",
  "RequestedQPS": "40",
  "RequestedDuration": "100ms",
  "ActualQPS": 38.44836361217263,
  "ActualDuration": 104035637,
  "NumThreads": 2,
  "Version": "X.Y.Z",
  "DurationHistogram": {
    "Count": 4, "Min": 0.00027292, "Max": 0.000930407, "Sum": 0.002332047,
    "Avg": 0.00058301175, "StdDev": 0.00028491034912527755,
    "Data": [{"Start": 0.00027292, "End": 0.000930407, "Percent": 100, "Count": 4}],
    "Percentiles": [
      {"Percentile": 50, "Value": 0.0004920823333333334},
      {"Percentile": 75, "Value": 0.0007112446666666667},
      {"Percentile": 90, "Value": 0.0008427420666666666},
      {"Percentile": 99, "Value": 0.0009216405066666668},
      {"Percentile": 99.9, "Value": 0.0009295303506666667}
    ]
  },
  "ErrorsDurationHistogram": {
    "Count": 0, "Min": 0, "Max": 0, "Sum": 0, "Avg": 0, "StdDev": 0, "Data": null
  },
  "Exactly": 0, "Jitter": false, "Uniform": false, "NoCatchUp": false, "RunID": 7,
  "AccessLoggerInfo": "", "ID": "2022-03-19-153423_localhost_8080",
  "RetCodes": {"200": 4},
  "IPCountMap": {"127.0.0.1:8080": 2},
  "Insecure": false, "MTLS": false, "CACert": "", "Cert": "", "Key": "", "UnixDomainSocket": "",
  "URL": "http://localhost:8080", "NumConnections": 1, "Compression": false,
  "DisableFastClient": false, "HTTP10": false, "H2": false, "DisableKeepAlive": false,
  "AllowHalfClose": false, "FollowRedirects": false, "Resolve": "", "HTTPReqTimeOut": 3000000000,
  "UserCredentials": "", "ContentType": "", "Payload": null, "MethodOverride": "",
  "LogErrors": false, "SequentialWarmup": false, "ConnReuseRange": [0, 0],
  "NoResolveEachConn": false, "Offset": 0, "Resolution": 0.001,
  "Sizes": {"Count": 4, "Min": 118, "Max": 118, "Sum": 472, "Avg": 118, "StdDev": 0,
    "Data": [{"Start": 118, "End": 118, "Percent": 100, "Count": 4}]},
  "HeaderSizes": {"Count": 4, "Min": 115, "Max": 115, "Sum": 460, "Avg": 115, "StdDev": 0,
    "Data": [{"Start": 115, "End": 115, "Percent": 100, "Count": 4}]},
  "Sockets": [1, 1],
  "SocketCount": 2,
  "ConnectionStats": {"Count": 2, "Min": 0.0001, "Max": 0.0001, "Sum": 0.0002, "Avg": 0.0001,
    "StdDev": 0, "Data": [{"Start": 0.0001, "End": 0.0001, "Percent": 100, "Count": 2}],
    "Percentiles": [{"Percentile": 50, "Value": 0.0001}, {"Percentile": 75, "Value": 0.0001},
      {"Percentile": 90, "Value": 0.0001}, {"Percentile": 99, "Value": 0.0001},
      {"Percentile": 99.9, "Value": 0.0001}]},
  "AbortOn": 0
}"#;

const FORTIO_ORDER: [&str; 10] = [
    "RunType",
    "StartTime",
    "ActualQPS",
    "DurationHistogram",
    "ErrorsDurationHistogram",
    "RetCodes",
    "URL",
    "Sizes",
    "ConnectionStats",
    "AbortOn",
];

#[test]
fn fortio_json_has_fortios_structure() {
    let text = fortio::to_json(&ok_report("l2"), SimDuration::from_micros(120));
    let ours = json(&text);
    assert_same_shape(&ours, &json(FORTIO_FIXTURE), "fortio");
    let order = top_level_key_order(&text, &FORTIO_ORDER);
    assert!(order.windows(2).all(|w| w[0] < w[1]), "Go's field order");
    assert!(
        text.starts_with("{\n  \"RunType\": \"HTTP\",\n"),
        "MarshalIndent layout"
    );
    assert!(text.ends_with("}\n"));

    // Units and values: seconds in histograms, ns for ActualDuration, percentiles in order.
    let h = &ours["DurationHistogram"];
    assert_eq!(h["Count"], 5000);
    let pcts: Vec<f64> = h["Percentiles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Percentile"].as_f64().unwrap())
        .collect();
    assert_eq!(pcts, fortio::DEFAULT_PERCENTILES);
    let p50 = h["Percentiles"][0]["Value"].as_f64().unwrap();
    assert!((0.0005..0.009).contains(&p50), "p50 in seconds: {p50}");
    assert_eq!(ours["ActualDuration"], 5_003_000_000u64);
    assert_eq!(ours["RequestedQPS"], "1000");
    assert_eq!(ours["RequestedDuration"], "5s");
    assert_eq!(ours["StartTime"], "2026-01-01T00:00:00Z");
    let qps = ours["ActualQPS"].as_f64().unwrap();
    assert!((qps - 5000.0 / 5.003).abs() < 1e-9);

    // With errors: ErrorsDurationHistogram has data; transport errors count under "-1".
    let bad = load_report(
        "l2",
        1000,
        1000,
        &[
            (Outcome::Response(200), 8),
            (Outcome::Response(503), 1),
            (Outcome::Failed(TransportError::Reset), 1),
        ],
    );
    let v = json(&fortio::to_json(&bad, SimDuration::ZERO));
    assert_eq!(v["ErrorsDurationHistogram"]["Count"], 200);
    assert_eq!(v["DurationHistogram"]["Count"], 1000);
    assert_eq!(v["RetCodes"]["-1"], 100);
    assert_eq!(v["RetCodes"]["503"], 100);
    assert_eq!(
        v["ErrorsDurationHistogram"]["Percentiles"]
            .as_array()
            .unwrap()
            .len(),
        5
    );

    // The reader reads it back.
    let s = fortio::parse(&text).unwrap();
    assert_eq!(s.all.Count, 5000);
    assert_eq!(s.errors.Count, 0);
    assert!(s.errors.Percentiles.is_none());
    let f = fortio::parse(FORTIO_FIXTURE).unwrap();
    assert_eq!(f.ret_codes, BTreeMap::from([("200".to_string(), 4)]));
    assert!(matches!(
        fortio::parse("{\"ActualQPS\": \"fast\"}"),
        Err(ToolError::Json { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// vegeta: hand-written fixture from tsenart/vegeta README.md (`vegeta report -type=json`
// example) and `lib/metrics.go` (`Metrics`, `LatencyMetrics`, `ByteMetrics` JSON tags), without
// `buckets`, which appears only with `-buckets`.

const VEGETA_FIXTURE: &str = r#"{"latencies":{"total":237119463,"mean":2371194,"50th":2854306,"90th":3228223,"95th":3478629,"99th":3530000,"max":3660505,"min":1949582},"bytes_in":{"total":606700,"mean":6067},"bytes_out":{"total":0,"mean":0},"earliest":"2015-09-19T14:45:50.645818631+02:00","latest":"2015-09-19T14:45:51.635818575+02:00","end":"2015-09-19T14:45:51.639325797+02:00","duration":989999944,"wait":3507222,"requests":100,"rate":101.01010672380401,"throughput":101.00012489812,"success":1,"status_codes":{"200":100},"errors":[]}
"#;

#[test]
fn vegeta_report_has_vegetas_structure() {
    let rep = ok_report("l2");
    let text = vegeta::report_json(&rep);
    assert_eq!(text.lines().count(), 1, "json.Encoder writes one line");
    assert!(text.ends_with("}\n"));
    let ours = json(&text);
    assert_same_shape(&ours, &json(VEGETA_FIXTURE), "vegeta");
    let order = top_level_key_order(
        &text,
        &[
            "latencies",
            "bytes_in",
            "earliest",
            "duration",
            "requests",
            "success",
            "errors",
        ],
    );
    assert!(order.windows(2).all(|w| w[0] < w[1]));
    // Units: ns integers, success a ratio, times RFC 3339 with ns.
    assert_eq!(ours["requests"], 5000);
    assert_eq!(ours["success"], 1);
    assert_eq!(ours["duration"], 4_999_000_000u64);
    assert_eq!(ours["earliest"], "2026-01-01T00:00:00Z");
    assert_eq!(ours["latest"], "2026-01-01T00:00:04.999Z");
    let mean = ours["latencies"]["mean"].as_u64().unwrap();
    assert!((500_000..8_000_000).contains(&mean), "ns: {mean}");
    assert!((ours["rate"].as_f64().unwrap() - 5000.0 / 4.999).abs() < 1e-9);

    let bad = load_report(
        "l2",
        1000,
        1000,
        &[
            (Outcome::Response(200), 8),
            (Outcome::Response(503), 1),
            (Outcome::Failed(TransportError::Refused), 1),
        ],
    );
    let m = vegeta::parse(&vegeta::report_json(&bad)).unwrap();
    assert_eq!(m.status_codes["0"], 100);
    assert_eq!(m.status_codes["503"], 100);
    assert!((m.success - 0.8).abs() < 1e-12);
    assert_eq!(
        m.errors,
        vec![
            "503 Service Unavailable".to_string(),
            "Get \"http://10.0.0.100/\": dial tcp 10.0.0.100:80: connect: connection refused"
                .to_string()
        ]
    );
    assert_eq!(vegeta::parse(VEGETA_FIXTURE).unwrap().requests, 100);
}

#[test]
fn vegeta_csv_streams_vegetas_columns() {
    let mut w = vegeta::VegetaCsvWriter::new(
        Vec::new(),
        lbsim::tools::DEFAULT_EPOCH_NS,
        "l2",
        "GET",
        "http://10.0.0.100/",
    );
    let recs = [
        (Outcome::Response(200), 853),
        (Outcome::Failed(TransportError::Timeout), 0),
    ];
    for (i, (o, b)) in recs.iter().enumerate() {
        w.write(&RequestRecord {
            seq: i as u64,
            start: SimTime(1_000 * i as u64),
            latency: SimDuration::from_micros(750),
            outcome: *o,
            bytes_in: *b,
            bytes_out: 0,
        })
        .unwrap();
    }
    let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
    let first = text.lines().next().unwrap();
    assert_eq!(
        first,
        format!(
            "{},200,750000,0,853,,,l2,0,GET,http://10.0.0.100/,",
            lbsim::tools::DEFAULT_EPOCH_NS
        )
    );
    let rows = vegeta::parse_csv(&text).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].code, 0);
    assert!(rows[1].error.contains("Client.Timeout exceeded"));
    assert_eq!(rows[1].timestamp_ns, lbsim::tools::DEFAULT_EPOCH_NS + 1000);
    match vegeta::parse_csv("1,200,3\n") {
        Err(ToolError::Line { line: 1, .. }) => {}
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The seed's analyze_benchmark.py, run on lbsim's files.

/// The seed's `analyze_benchmark.py`. The seed is not in the repository: it is in the project's
/// shared directory, which CI places beside the workspace as `../shared`.
fn seed_script() -> Result<String, Missing> {
    const SEED: &str = "../shared/seeds/benchmark-l2-vs-bgp.md";
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(SEED)).map_err(|e| {
            Missing::new(
                format!("{SEED} (the seed, outside the repository): {e}"),
                "place the project's shared directory (DESIGN.md, seeds/) beside the workspace \
                 as ../shared, as CI does",
            )
        })?;
    let body: Vec<&str> = text
        .lines()
        .skip_while(|l| l.trim() != "# analyze_benchmark.py")
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .collect();
    assert!(
        body.len() > 20,
        "analyze_benchmark.py not found in the seed"
    );
    Ok(body.join("\n") + "\n")
}

#[test]
fn seed_analyze_benchmark_reads_our_files() {
    let needs = seed_script().and_then(|s| Ok((s, testkit::program("python3", "python3")?)));
    let Some((script, python3)) = testkit::or_skip(needs) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let w = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
    w(
        "l2_fortio.json",
        fortio::to_json(&ok_report("l2"), SimDuration::from_micros(120)),
    );
    w(
        "bgp_fortio.json",
        fortio::to_json(
            &load_report(
                "bgp",
                5000,
                1000,
                &[(Outcome::Response(200), 99), (Outcome::Response(503), 1)],
            ),
            SimDuration::from_micros(120),
        ),
    );
    for rate in [1000u64, 2000, 5000, 10000] {
        for mode in ["l2", "bgp"] {
            let rep = load_report(mode, rate * 2, rate, &[(Outcome::Response(200), 1)]);
            w(
                &format!("{mode}_vegeta_{rate}rps.json"),
                vegeta::report_json(&rep),
            );
        }
    }
    w("analyze_benchmark.py", script.clone());
    let out = Command::new(&python3)
        .arg("analyze_benchmark.py")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!(
        "analyze_benchmark.py exited {}:\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains("HTTP Latency (Fortio)"),
        "{stdout}\n{stderr}"
    );
    for key in ["qps", "p50", "p75", "p90", "p99", "p999", "mean", "errors"] {
        assert!(
            stdout.lines().any(|l| l.starts_with(&format!("{key} "))),
            "fortio row {key} missing:\n{stdout}"
        );
    }
    // The seed's compare_results formats vegeta's `errors` (a JSON list, `[]` even when empty,
    // per lib/metrics.go) with `{:<15}`, which Python refuses for a list: the script stops at the
    // first vegeta table on real vegeta output as on ours. Accept exactly that failure.
    if !out.status.success() {
        assert!(
            stderr.contains("unsupported format string passed to list.__format__"),
            "the script failed for another reason:\n{stdout}\n{stderr}"
        );
        assert!(
            stdout.contains("HTTP Throughput at 1000 RPS (Vegeta)"),
            "{stdout}"
        );
    }
    // With only that line changed to count the errors, the whole script runs on our files and
    // prints every table: nothing else in them trips it.
    let patched = script.replace(
        "'errors': data['errors']",
        "'errors': len(data['errors'] or [])",
    );
    assert_ne!(patched, script, "the seed's errors line moved");
    w("analyze_benchmark_counted.py", patched);
    let out = Command::new(&python3)
        .arg("analyze_benchmark_counted.py")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for rate in [1000, 2000, 5000, 10000] {
        assert!(
            stdout.contains(&format!("HTTP Throughput at {rate} RPS (Vegeta)")),
            "{stdout}"
        );
    }
    assert!(stdout.contains("SUMMARY AND RECOMMENDATIONS"), "{stdout}");
    // Its vegeta loader does read our files.
    let check = Command::new(&python3)
        .arg("-c")
        .arg(
            "import analyze_benchmark as a\n\
             for r in [1000, 2000, 5000, 10000]:\n\
             \x20   v = a.load_vegeta_results(f'l2_vegeta_{r}rps.json')\n\
             \x20   assert abs(v['rps'] - r) / r < 0.01, v\n\
             \x20   assert v['success_rate'] == 100.0, v\n\
             \x20   assert 0.5 < v['p50_latency'] < 8.0, v\n\
             print('vegeta ok')",
        )
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// Determinism

#[test]
fn writers_are_deterministic() {
    let outcomes = [
        (Outcome::Response(200), 30),
        (Outcome::Response(404), 1),
        (Outcome::Failed(TransportError::Reset), 1),
    ];
    let a = load_report("x", 3000, 1000, &outcomes);
    let b = load_report("x", 3000, 1000, &outcomes);
    assert_eq!(
        fortio::to_json(&a, SimDuration::ZERO),
        fortio::to_json(&b, SimDuration::ZERO)
    );
    assert_eq!(vegeta::report_json(&a), vegeta::report_json(&b));
    assert_eq!(wrk::to_text(&a), wrk::to_text(&b));
    assert_eq!(
        iperf3::to_json(&iperf_report(3, 4, false)),
        iperf3::to_json(&iperf_report(3, 4, false))
    );
    assert_eq!(
        ping::to_log(&ping_log(40, (10, 20), true, true)),
        ping::to_log(&ping_log(40, (10, 20), true, true))
    );
}

//! The seed's Grafana dashboard on simulated data: `sim run --out` writes openmetrics.txt,
//! `promtool tsdb create-blocks-from openmetrics` turns it into TSDB blocks, a real Prometheus
//! (Debian's `prometheus`) serves them on loopback, and the seed's two dashboard queries must
//! answer what the CSVs say: p99 in the same histogram bucket, requests per second within 1 %.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{or_skip, program};

/// The seed's dashboard queries, verbatim from seeds/benchmark-l2-vs-bgp.md ("Key Metrics to
/// Monitor", the `metallb-benchmark.json` ConfigMap), with `{service}` for the Service name.
const P99_QUERY: &str = "histogram_quantile(0.99, sum(rate(http_request_duration_seconds_bucket{service='{service}'}[5m])) by (le))";
const RPS_QUERY: &str = "sum(rate(nginx_http_requests_total{service='{service}'}[1m]))";

/// Both modes, with latencies spread over several of the histogram's buckets (30 ms mean
/// service time on 12 single-worker pods at 6 cores' worth of load), 5 minutes long so the
/// p99 query's 5-minute window holds the whole run.
const SCENARIO: &str = r#"(
    name: "dashboard",
    duration: "300s",
    seed: 5,
    nodes: (count: 4, cores: 4, packet_cost: "2us"),
    service: (pods: (replicas: 12, cpu: 1.0, service_time: Exponential(mean: "30ms"))),
    clients: [
        (name: "web", count: 4, load: OpenLoop(rate: 50), connections: KeepAlive(pool: 32), timeout: "5s"),
    ],
    variants: [
        (name: "l2", l2: ()),
        (name: "bgp", bgp: ()),
    ],
)"#;

/// The test's epoch: an hour boundary, as any would do.
const EPOCH: u64 = 1_767_225_600;

/// Prometheus, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free port on loopback (bound and released; Prometheus takes it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// `GET path` on 127.0.0.1:`port`: (status, body), or `None` when nothing answers.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Some((status, body.to_string()))
}

/// Percent-encode a query parameter (RFC 3986 unreserved characters stay).
fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The instant query's single value at `time` (Unix seconds).
fn query(port: u16, q: &str, time: u64) -> f64 {
    let (status, body) = get(
        port,
        &format!("/api/v1/query?query={}&time={time}", encode(q)),
    )
    .unwrap_or_else(|| panic!("Prometheus did not answer {q}"));
    assert_eq!(status, 200, "{q}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let result = &v["data"]["result"];
    assert_eq!(result.as_array().map(Vec::len), Some(1), "{q}: {body}");
    result[0]["value"][1].as_str().unwrap().parse().unwrap()
}

/// Rows of a CSV as maps from column to field.
fn rows(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            headers
                .iter()
                .zip(rec.iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// `(lower, upper]` of the `le` bucket holding `ns`.
fn le_bucket(ns: u64) -> (f64, f64) {
    let s = ns as f64 / 1e9;
    let mut lower = 0.0;
    for &le in &lbsim::lab::DURATION_BUCKETS_S {
        if s <= le {
            return (lower, le);
        }
        lower = le;
    }
    (lower, f64::INFINITY)
}

/// The simulated p99 of `variant` from latency_histogram.csv: the HdrHistogram bucket of rank
/// `ceil(0.99 n)`, as `(lower_ns, upper_ns)`.
fn simulated_p99(out: &Path, variant: &str) -> (u64, u64) {
    let buckets: Vec<(u64, u64, u64)> = rows(&out.join("latency_histogram.csv"))
        .into_iter()
        .filter(|r| r["variant"] == variant)
        .map(|r| {
            (
                r["lower_ns"].parse().unwrap(),
                r["upper_ns"].parse().unwrap(),
                r["count"].parse().unwrap(),
            )
        })
        .collect();
    let n: u64 = buckets.iter().map(|b| b.2).sum();
    let rank = (0.99 * n as f64).ceil() as u64;
    let mut seen = 0;
    for (lo, hi, c) in buckets {
        seen += c;
        if seen >= rank {
            return (lo, hi);
        }
    }
    panic!("{variant}: empty histogram");
}

/// Requests the pods started serving in `[from_s, to_s)`, per second, from timeseries_nodes.csv.
fn simulated_rps(out: &Path, variant: &str, from_s: f64, to_s: f64) -> f64 {
    let served: u64 = rows(&out.join("timeseries_nodes.csv"))
        .into_iter()
        .filter(|r| r["variant"] == variant)
        .filter(|r| {
            let t: f64 = r["t_s"].parse().unwrap();
            t >= from_s - 1e-9 && t < to_s - 1e-9
        })
        .map(|r| r["served_requests"].parse::<u64>().unwrap())
        .sum();
    served as f64 / (to_s - from_s)
}

#[test]
fn prometheus_answers_the_seeds_dashboard_queries_on_simulated_data() {
    let Some(promtool) = or_skip(program("promtool", "prometheus")) else {
        return;
    };
    let Some(prometheus) = or_skip(program("prometheus", "prometheus")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard.ron");
    std::fs::write(&file, SCENARIO).unwrap();
    let out = dir.path().join("out");
    let (ok, _, stderr) = crate::sim_in(
        dir.path(),
        &[
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--epoch",
            &EPOCH.to_string(),
        ],
    );
    assert!(ok, "{stderr}");
    let om = std::fs::read_to_string(out.join("openmetrics.txt")).unwrap();
    assert!(om.ends_with("# EOF\n"));

    let data = dir.path().join("data");
    let made = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(out.join("openmetrics.txt"))
        .arg(&data)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "promtool: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, "global:\n  scrape_interval: 15s\n").unwrap();
    let port = free_port();
    let server = Server(
        Command::new(&prometheus)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            // Blocks reach back to the epoch; retention counts from the newest block.
            .arg("--storage.tsdb.retention.time=100y")
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(port, "/-/ready").map(|r| r.0) != Some(200) {
        assert!(
            Instant::now() < deadline,
            "Prometheus not ready within 60 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The last scrape: the p99 query's 5-minute window holds the whole run.
    let end = EPOCH + 300;
    for (variant, service) in [("l2", "benchmark-l2"), ("bgp", "benchmark-bgp")] {
        let p99 = query(port, &P99_QUERY.replace("{service}", service), end);
        let (lo_ns, hi_ns) = simulated_p99(&out, variant);
        let bucket = le_bucket(lo_ns);
        assert_eq!(
            bucket,
            le_bucket(hi_ns),
            "{variant}: the simulated p99's HdrHistogram bucket straddles an le bound; pick another seed"
        );
        println!(
            "{service}: simulated p99 {:.3} ms, in le bucket ({}, {}] s; Prometheus histogram_quantile {:.3} ms",
            lo_ns as f64 / 1e6,
            bucket.0,
            bucket.1,
            p99 * 1e3
        );
        assert!(
            p99 > bucket.0 && p99 <= bucket.1,
            "{service}: Prometheus p99 {p99} s is not in the simulated p99's bucket {bucket:?}"
        );
        // Steady load: 4 minutes in, the query's minute against the same minute's CSV rows.
        let at = 240.0;
        let rps = query(
            port,
            &RPS_QUERY.replace("{service}", service),
            EPOCH + at as u64,
        );
        let sim = simulated_rps(&out, variant, at - 60.0, at);
        println!("{service}: simulated {sim:.3} requests/s over [180 s, 240 s); Prometheus rate {rps:.3}");
        assert!(
            (rps - sim).abs() <= 0.01 * sim,
            "{service}: Prometheus {rps} requests/s, simulated {sim}"
        );
    }
    drop(server);
}

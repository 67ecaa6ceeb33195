//! `openmetrics.txt`: a run as Prometheus would have scraped it every 15 s (the seed's
//! ServiceMonitor `interval: 15s`), in the OpenMetrics text format (ends in `# EOF`), for
//! `promtool tsdb create-blocks-from openmetrics`. Timestamps are `epoch` plus simulated time.
//!
//! Families (docs/outputs.md lists their labels):
//! - `http_request_duration_seconds` (histogram, client_golang's `DefBuckets`) and
//!   `nginx_http_requests_total` (nginx-prometheus-exporter's counter) per variant's Service,
//!   labelled `service="<name>"` as the seed's dashboard selects them;
//! - MetalLB's speaker gauges with the labels of MetalLB's FRR metrics collector
//!   (frr-tools/metrics/collector/bgp.go: `peer="<ip>:<port>"`, `vrf`; bfd.go: `peer="<ip>"`,
//!   `vrf`) and of `metallb_speaker_announced` (`service`, `protocol`, `node`, `ip`), and the
//!   `up` that Prometheus records per speaker target.

use std::fmt::Write as _;

use sim_core::{SimTime, TimeSeries};

use crate::lab::{RunResult, DURATION_BUCKETS_S, SCRAPE_INTERVAL};

/// The default `--epoch`: 2026-01-01T00:00:00Z, the tool files' epoch.
pub const DEFAULT_EPOCH_S: u64 = 1_767_225_600;

/// The namespace of the benchmark's Services (the seed's `namespace: benchmark`).
const NAMESPACE: &str = "benchmark";
/// MetalLB's speaker metrics port (`--port`, default 7472).
const SPEAKER_PORT: u16 = 7472;
/// The BGP port, part of MetalLB's `peer` label for BGP sessions.
const BGP_PORT: u16 = 179;

/// A label value escaped as OpenMetrics requires (`\`, `"`, newline).
fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

/// `{k="v",...}` from pairs.
fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// The scrape times of a run: 0, 15 s, ... up to its end.
fn scrapes(r: &RunResult) -> u64 {
    r.sim_time.as_nanos() / SCRAPE_INTERVAL.as_nanos() + 1
}

/// A counter's value at scrape `k`: everything before `k` intervals.
fn cumulative(ts: &TimeSeries, k: u64) -> u64 {
    (0..k as usize).map(|i| ts.get(i)).sum()
}

/// The whole file for `results`, timestamps `epoch_s` + simulated time.
pub fn render(results: &[RunResult], epoch_s: u64) -> String {
    let mut out = String::new();
    let ts = |k: u64| epoch_s + k * SCRAPE_INTERVAL.as_nanos() / 1_000_000_000;
    let service = |r: &RunResult| {
        labels(&[
            ("namespace", NAMESPACE),
            ("service", &r.service),
            ("variant", &r.variant),
        ])
    };

    out.push_str("# TYPE http_request_duration_seconds histogram\n");
    out.push_str("# UNIT http_request_duration_seconds seconds\n");
    out.push_str("# HELP http_request_duration_seconds Latency of answered requests, from when each was due to its answer.\n");
    for r in results {
        let base = service(r);
        let base = &base[1..base.len() - 1];
        let sc = &r.series.scrapes;
        for k in 0..scrapes(r) {
            let mut cum = 0;
            for (b, le) in DURATION_BUCKETS_S.iter().enumerate() {
                cum += cumulative(&sc.buckets[b], k);
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{{base},le=\"{le:?}\"}} {cum} {}",
                    ts(k)
                );
            }
            cum += cumulative(&sc.buckets[DURATION_BUCKETS_S.len()], k);
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{{base},le=\"+Inf\"}} {cum} {}",
                ts(k)
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{{base}}} {cum} {}",
                ts(k)
            );
            let sum = cumulative(&sc.sum_ns, k) as f64 / 1e9;
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{{base}}} {sum:?} {}",
                ts(k)
            );
        }
    }

    out.push_str("# TYPE nginx_http_requests counter\n");
    out.push_str("# HELP nginx_http_requests Total http requests\n");
    for r in results {
        let l = service(r);
        for k in 0..scrapes(r) {
            let n = cumulative(&r.series.scrapes.served, k);
            let _ = writeln!(out, "nginx_http_requests_total{l} {n} {}", ts(k));
        }
    }

    let speakers: Vec<(&RunResult, Vec<Speaker>)> =
        results.iter().map(|r| (r, Speaker::all(r))).collect();
    let family =
        |out: &mut String, name: &str, help: &str, value: &dyn Fn(&State) -> Option<u8>| {
            let mut head = false;
            for (r, nodes) in &speakers {
                for s in nodes {
                    let mut lines = Vec::new();
                    for k in 0..scrapes(r) {
                        let t = SimTime(k * SCRAPE_INTERVAL.as_nanos());
                        let state = s.at(t);
                        // A crashed node's speaker is not scraped: only `up` has a sample.
                        if !state.up && name != "up" {
                            continue;
                        }
                        if let Some(v) = value(&state) {
                            lines.push(format!("{name}{} {v} {}", s.labels(name), ts(k)));
                        }
                    }
                    if lines.is_empty() {
                        continue;
                    }
                    if !head {
                        let _ = writeln!(out, "# TYPE {name} gauge\n# HELP {name} {help}");
                        head = true;
                    }
                    for l in lines {
                        out.push_str(&l);
                        out.push('\n');
                    }
                }
            }
        };
    family(
        &mut out,
        "up",
        "1 if the speaker's metrics endpoint answered the scrape, 0 if its node was down.",
        &|s| Some(u8::from(s.up)),
    );
    family(
        &mut out,
        "metallb_bgp_session_up",
        "BGP session state (1 is up, 0 is down)",
        &|s| s.bgp.map(u8::from),
    );
    family(
        &mut out,
        "metallb_bfd_session_up",
        "BFD session state (1 is up, 0 is down)",
        &|s| s.bfd.map(u8::from),
    );
    family(
        &mut out,
        "metallb_speaker_announced",
        "Services being announced from this node. This is desired state, it does not guarantee that the routing protocols have converged.",
        &|s| s.announced.map(u8::from),
    );
    out.push_str("# EOF\n");
    out
}

/// One speaker's state at a scrape.
#[derive(Debug, Clone, Copy)]
struct State {
    up: bool,
    bgp: Option<bool>,
    bfd: Option<bool>,
    announced: Option<bool>,
}

/// One node's speaker: its labels and its state changes (from the event log), in time order.
struct Speaker {
    variant: String,
    service: String,
    node: String,
    ip: String,
    vip: String,
    changes: Vec<(SimTime, State)>,
}

impl Speaker {
    /// The speakers of `r`'s nodes, with their states from its event log.
    fn all(r: &RunResult) -> Vec<Speaker> {
        let mut out: Vec<Speaker> = Vec::new();
        for (i, name) in r.node_names.iter().enumerate() {
            let mut state = State {
                up: true,
                bgp: None,
                bfd: None,
                announced: None,
            };
            let mut changes = Vec::new();
            let mut speaker = false;
            let mut vip = String::new();
            for e in r.log.entries().iter().filter(|e| e.subject == *name) {
                let side_speaker = e.detail.starts_with("side=speaker");
                let before = (state.up, state.bgp, state.bfd, state.announced);
                match e.kind {
                    "node_crash" => state.up = false,
                    "node_recover" => state.up = true,
                    // MetalLB's NewSession sets session_up to 0 when the session is created.
                    "bgp_start" if side_speaker => {
                        speaker = true;
                        state.bgp.get_or_insert(false);
                    }
                    "session_up" if side_speaker => state.bgp = Some(true),
                    "session_down" if side_speaker => state.bgp = Some(false),
                    "bfd_state" if side_speaker => {
                        state.bfd = Some(e.detail.contains(" to=Up"));
                    }
                    "speaker_start" => speaker = true,
                    "l2_leader" => {
                        speaker = true;
                        if let Some(ip) = field(&e.detail, "ip") {
                            vip = ip.to_string();
                        }
                        state.announced = Some(field(&e.detail, "leader") == Some("true"));
                    }
                    _ => {}
                }
                if before != (state.up, state.bgp, state.bfd, state.announced) {
                    changes.push((e.time, state));
                }
            }
            if speaker {
                out.push(Speaker {
                    variant: r.variant.clone(),
                    service: format!("{NAMESPACE}/{}", r.service),
                    node: name.clone(),
                    ip: crate::lab::node_ip(i as u16).to_string(),
                    vip,
                    changes,
                });
            }
        }
        out
    }

    /// The state at `t`: the last change at or before it.
    fn at(&self, t: SimTime) -> State {
        let idx = self.changes.partition_point(|(at, _)| *at <= t);
        match idx {
            0 => State {
                up: true,
                bgp: None,
                bfd: None,
                announced: None,
            },
            i => self.changes[i - 1].1,
        }
    }

    /// The labels of family `name` for this speaker.
    fn labels(&self, name: &str) -> String {
        let instance = format!("{}:{SPEAKER_PORT}", self.ip);
        let router = crate::lab::router_ip().to_string();
        let bgp_peer = format!("{router}:{BGP_PORT}");
        let mut l: Vec<(&str, &str)> = vec![
            ("instance", &instance),
            ("job", "metallb-speaker"),
            ("namespace", "metallb-system"),
            ("variant", &self.variant),
        ];
        match name {
            "metallb_bgp_session_up" => l.extend([("peer", bgp_peer.as_str()), ("vrf", "default")]),
            "metallb_bfd_session_up" => l.extend([("peer", router.as_str()), ("vrf", "default")]),
            "metallb_speaker_announced" => l.extend([
                ("ip", self.vip.as_str()),
                ("node", self.node.as_str()),
                ("protocol", "layer2"),
                ("service", self.service.as_str()),
            ]),
            _ => {}
        }
        labels(&l)
    }
}

/// The value of `key=` in an event's detail.
fn field<'a>(detail: &'a str, key: &str) -> Option<&'a str> {
    detail
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

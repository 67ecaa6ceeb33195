//! The rows of every CSV under `--out`, and of `--json`: one struct per file, one builder
//! per struct. Columns and their dtypes are listed in docs/outputs.md (a test keeps the two
//! equal). A value that does not exist (the p50 of a bucket without answers) is `None`: an
//! empty CSV field, JSON `null`; a count of 0 is a real 0.

use serde::{Serialize, Serializer};
use sim_core::{LogHistogram, SimDuration, SimTime};

use crate::lab::{GroupKind, RunResult};
use crate::report::{ingress_balance, rps};

/// `x` rounded to `decimals` places, written as the shortest decimal that reads back as it.
fn round(x: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (x * scale).round() / scale
}

fn r3<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round(*x, 3))
}
fn r6<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round(*x, 6))
}
fn r9<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round(*x, 9))
}
/// `None` is an empty field (JSON `null`).
fn o6<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match x {
        Some(v) => s.serialize_some(&round(*v, 6)),
        None => s.serialize_none(),
    }
}
fn o9<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match x {
        Some(v) => s.serialize_some(&round(*v, 9)),
        None => s.serialize_none(),
    }
}

fn secs(t: SimTime) -> f64 {
    t.as_secs_f64()
}
fn ms(d: SimDuration) -> f64 {
    d.as_millis_f64()
}

/// summary.csv: one row per variant.
#[derive(Serialize, Default)]
pub struct SummaryRow<'a> {
    variant: &'a str,
    seed: u64,
    #[serde(serialize_with = "r9")]
    sim_time_s: f64,
    requests_started: u64,
    requests_ok: u64,
    errors_reset: u64,
    errors_timeout: u64,
    errors_refused: u64,
    in_flight_end: u64,
    connections_opened: u64,
    #[serde(serialize_with = "r3")]
    throughput_rps: f64,
    route_changes: usize,
    connections_moved: u64,
    connections_broken: u64,
    #[serde(serialize_with = "r6")]
    balance_max_over_mean: f64,
    #[serde(serialize_with = "r6")]
    balance_jain: f64,
}

/// summary.csv's rows.
pub fn summary(results: &[RunResult]) -> Vec<SummaryRow<'_>> {
    results
        .iter()
        .map(|r| {
            let b = ingress_balance(r);
            SummaryRow {
                variant: &r.variant,
                seed: r.seed,
                sim_time_s: secs(r.sim_time),
                requests_started: r.counts.started,
                requests_ok: r.counts.ok,
                errors_reset: r.counts.reset,
                errors_timeout: r.counts.timeout,
                errors_refused: r.counts.refused,
                in_flight_end: r.counts.in_flight,
                connections_opened: r.counts.connections,
                throughput_rps: rps(r),
                route_changes: r.changes.len(),
                connections_moved: r.connections_moved(),
                connections_broken: r.connections_broken(),
                balance_max_over_mean: b.max_over_mean,
                balance_jain: b.jain,
            }
        })
        .collect()
}

/// latency.csv: one row per variant that answered at least one request.
#[derive(Serialize, Default)]
pub struct LatencyRow<'a> {
    variant: &'a str,
    #[serde(serialize_with = "r6")]
    latency_p50_ms: f64,
    #[serde(serialize_with = "r6")]
    latency_p90_ms: f64,
    #[serde(serialize_with = "r6")]
    latency_p99_ms: f64,
    #[serde(serialize_with = "r6")]
    latency_p999_ms: f64,
    #[serde(serialize_with = "r6")]
    latency_mean_ms: f64,
    #[serde(serialize_with = "r6")]
    latency_min_ms: f64,
    #[serde(serialize_with = "r6")]
    latency_max_ms: f64,
}

/// latency.csv's rows.
pub fn latency(results: &[RunResult]) -> Vec<LatencyRow<'_>> {
    results
        .iter()
        .filter(|r| r.latency.count() > 0)
        .map(|r| {
            let l = &r.latency;
            LatencyRow {
                variant: &r.variant,
                latency_p50_ms: ms(l.quantile(0.5)),
                latency_p90_ms: ms(l.quantile(0.9)),
                latency_p99_ms: ms(l.quantile(0.99)),
                latency_p999_ms: ms(l.quantile(0.999)),
                latency_mean_ms: ms(l.mean()),
                latency_min_ms: ms(l.min()),
                latency_max_ms: ms(l.max()),
            }
        })
        .collect()
}

/// latency_histogram.csv: one row per variant and HdrHistogram bucket that holds a value.
#[derive(Serialize, Default)]
pub struct HistogramRow<'a> {
    variant: &'a str,
    lower_ns: u64,
    upper_ns: u64,
    count: u64,
}

/// suite_latency_histogram.csv: [`HistogramRow`] per test, over all iterations.
#[derive(Serialize, Default)]
pub struct SuiteHistogramRow<'a> {
    test: &'a str,
    variant: &'a str,
    lower_ns: u64,
    upper_ns: u64,
    count: u64,
}

/// The non-empty buckets of `h` as `(lower_ns, upper_ns, count)`: every value in a bucket
/// lies in `[lower_ns, upper_ns]` and buckets do not overlap, so the counts summed up to a
/// bucket over the total are exactly the share of latencies `<= upper_ns` (the CDF at the
/// histogram's 3 significant digits).
pub fn buckets_of(h: &sim_core::LatencyHistogram) -> Vec<(u64, u64, u64)> {
    let raw = h.raw();
    raw.iter_recorded()
        .map(|v| {
            let upper = v.value_iterated_to();
            (raw.lowest_equivalent(upper), upper, v.count_at_value())
        })
        .collect()
}

/// latency_histogram.csv's rows.
pub fn histogram(results: &[RunResult]) -> Vec<HistogramRow<'_>> {
    results
        .iter()
        .flat_map(|r| {
            buckets_of(&r.latency)
                .into_iter()
                .map(|(lower_ns, upper_ns, count)| HistogramRow {
                    variant: &r.variant,
                    lower_ns,
                    upper_ns,
                    count,
                })
        })
        .collect()
}

/// suite_latency_histogram.csv's rows for one test's variant.
pub fn suite_histogram<'a>(
    test: &'a str,
    variant: &'a str,
    h: &sim_core::LatencyHistogram,
) -> Vec<SuiteHistogramRow<'a>> {
    buckets_of(h)
        .into_iter()
        .map(|(lower_ns, upper_ns, count)| SuiteHistogramRow {
            test,
            variant,
            lower_ns,
            upper_ns,
            count,
        })
        .collect()
}

/// probes.csv: one row per variant and ping client group.
#[derive(Serialize, Default)]
pub struct ProbeRow<'a> {
    variant: &'a str,
    client_group: &'a str,
    probes_sent: u64,
    probes_answered: u64,
    probes_lost: u64,
    probes_in_flight_end: u64,
    #[serde(serialize_with = "o6")]
    failover_s: Option<f64>,
    #[serde(serialize_with = "o9")]
    failover_start_t_s: Option<f64>,
    failover_open_at_end: Option<bool>,
}

/// probes.csv's rows.
pub fn probes(results: &[RunResult]) -> Vec<ProbeRow<'_>> {
    let mut rows = Vec::new();
    for r in results {
        for (g, s) in r.series.groups.iter().enumerate() {
            if s.kind != GroupKind::Probes {
                continue;
            }
            let answered = (0..s.latency.len()).map(|i| s.latency.get(i).count()).sum();
            let lost = [&s.reset, &s.timeout, &s.refused]
                .iter()
                .map(|t| t.values().iter().sum::<u64>())
                .sum();
            let failover = r.group_failover(g as u32);
            rows.push(ProbeRow {
                variant: &r.variant,
                client_group: &s.name,
                probes_sent: s.sent.values().iter().sum(),
                probes_answered: answered,
                probes_lost: lost,
                probes_in_flight_end: s.in_flight_end,
                failover_s: failover.map(|f| f.0.as_secs_f64()),
                failover_start_t_s: failover.map(|f| secs(f.1)),
                failover_open_at_end: failover.map(|f| f.2),
            });
        }
    }
    rows
}

/// A bucket's p50, p99, mean and max in ms: `None` (blank) when it answered nothing.
struct BucketLatency {
    p50: Option<f64>,
    p99: Option<f64>,
    mean: Option<f64>,
    max: Option<f64>,
}

impl BucketLatency {
    fn of(h: &LogHistogram) -> BucketLatency {
        BucketLatency {
            p50: h.quantile(0.5).map(ms),
            p99: h.quantile(0.99).map(ms),
            mean: h.mean().map(ms),
            max: h.max().map(ms),
        }
    }
}

/// timeseries.csv: one row per variant and bucket, all request groups together.
#[derive(Serialize, Default)]
pub struct RequestSeriesRow<'a> {
    variant: &'a str,
    #[serde(serialize_with = "r9")]
    t_s: f64,
    requests_started: u64,
    requests_ok: u64,
    errors_reset: u64,
    errors_timeout: u64,
    errors_refused: u64,
    #[serde(serialize_with = "r3")]
    ok_rps: f64,
    #[serde(serialize_with = "o6")]
    latency_p50_ms: Option<f64>,
    #[serde(serialize_with = "o6")]
    latency_p99_ms: Option<f64>,
    #[serde(serialize_with = "o6")]
    latency_mean_ms: Option<f64>,
    #[serde(serialize_with = "o6")]
    latency_max_ms: Option<f64>,
}

/// timeseries_clients.csv: one row per variant, bucket and request client group.
#[derive(Serialize, Default)]
pub struct ClientSeriesRow<'a> {
    variant: &'a str,
    #[serde(serialize_with = "r9")]
    t_s: f64,
    client_group: &'a str,
    requests_started: u64,
    requests_ok: u64,
    errors_reset: u64,
    errors_timeout: u64,
    errors_refused: u64,
    #[serde(serialize_with = "r3")]
    ok_rps: f64,
    #[serde(serialize_with = "o6")]
    latency_p50_ms: Option<f64>,
    #[serde(serialize_with = "o6")]
    latency_p99_ms: Option<f64>,
    #[serde(serialize_with = "o6")]
    latency_mean_ms: Option<f64>,
    #[serde(serialize_with = "o6")]
    latency_max_ms: Option<f64>,
}

/// The buckets a run's rows cover from `first`: up to the end of the run.
fn buckets(r: &RunResult, first: usize) -> std::ops::Range<usize> {
    let n = r
        .sim_time
        .as_nanos()
        .div_ceil(r.series.bucket.as_nanos().max(1)) as usize;
    first.min(n)..n
}

/// timeseries.csv's rows: every variant's request groups summed per bucket, from the first
/// request group's start; none without request groups.
pub fn series(results: &[RunResult]) -> Vec<RequestSeriesRow<'_>> {
    let mut rows = Vec::new();
    for r in results {
        let s = &r.series;
        let Some(first) = s.first_request_bucket() else {
            continue;
        };
        let width = s.bucket.as_secs_f64();
        let reqs: Vec<_> = s
            .groups
            .iter()
            .filter(|g| g.kind == GroupKind::Requests)
            .collect();
        for i in buckets(r, first) {
            let sum = |f: fn(&crate::lab::GroupSeries) -> &sim_core::TimeSeries| {
                reqs.iter().map(|g| f(g).get(i)).sum::<u64>()
            };
            let h = s.requests_latency(i);
            let l = BucketLatency::of(&h);
            rows.push(RequestSeriesRow {
                variant: &r.variant,
                t_s: i as f64 * width,
                requests_started: sum(|g| &g.sent),
                requests_ok: h.count(),
                errors_reset: sum(|g| &g.reset),
                errors_timeout: sum(|g| &g.timeout),
                errors_refused: sum(|g| &g.refused),
                ok_rps: h.count() as f64 / width,
                latency_p50_ms: l.p50,
                latency_p99_ms: l.p99,
                latency_mean_ms: l.mean,
                latency_max_ms: l.max,
            });
        }
    }
    rows
}

/// timeseries_clients.csv's rows: per request group from its own start, ordered by variant,
/// time, then group.
pub fn client_series(results: &[RunResult]) -> Vec<ClientSeriesRow<'_>> {
    let mut rows = Vec::new();
    for r in results {
        let s = &r.series;
        let Some(first) = s.first_request_bucket() else {
            continue;
        };
        let width = s.bucket.as_secs_f64();
        for i in buckets(r, first) {
            for g in &s.groups {
                if g.kind != GroupKind::Requests || i < s.bucket_of(g.start) {
                    continue;
                }
                let h = g.latency.get(i);
                let l = BucketLatency::of(h);
                rows.push(ClientSeriesRow {
                    variant: &r.variant,
                    t_s: i as f64 * width,
                    client_group: &g.name,
                    requests_started: g.sent.get(i),
                    requests_ok: h.count(),
                    errors_reset: g.reset.get(i),
                    errors_timeout: g.timeout.get(i),
                    errors_refused: g.refused.get(i),
                    ok_rps: h.count() as f64 / width,
                    latency_p50_ms: l.p50,
                    latency_p99_ms: l.p99,
                    latency_mean_ms: l.mean,
                    latency_max_ms: l.max,
                });
            }
        }
    }
    rows
}

/// timeseries_nodes.csv: one row per variant, bucket and node.
#[derive(Serialize, Default)]
pub struct NodeSeriesRow<'a> {
    variant: &'a str,
    #[serde(serialize_with = "r9")]
    t_s: f64,
    node: &'a str,
    ingress_requests: u64,
    served_requests: u64,
    requests_ok: u64,
    #[serde(serialize_with = "o6")]
    latency_p50_ms: Option<f64>,
    #[serde(serialize_with = "o6")]
    latency_p99_ms: Option<f64>,
    #[serde(serialize_with = "o6")]
    latency_mean_ms: Option<f64>,
    #[serde(serialize_with = "o6")]
    latency_max_ms: Option<f64>,
}

/// timeseries_nodes.csv's rows, over the buckets of timeseries.csv.
pub fn node_series(results: &[RunResult]) -> Vec<NodeSeriesRow<'_>> {
    let mut rows = Vec::new();
    for r in results {
        let s = &r.series;
        let Some(first) = s.first_request_bucket() else {
            continue;
        };
        let width = s.bucket.as_secs_f64();
        for i in buckets(r, first) {
            for (n, ns) in s.nodes.iter().enumerate() {
                let h = ns.latency.get(i);
                let l = BucketLatency::of(h);
                rows.push(NodeSeriesRow {
                    variant: &r.variant,
                    t_s: i as f64 * width,
                    node: r.node_names.get(n).map_or("", String::as_str),
                    ingress_requests: ns.ingress.get(i),
                    served_requests: ns.served.get(i),
                    requests_ok: h.count(),
                    latency_p50_ms: l.p50,
                    latency_p99_ms: l.p99,
                    latency_mean_ms: l.mean,
                    latency_max_ms: l.max,
                });
            }
        }
    }
    rows
}

/// timeseries_probes.csv: one row per variant, bucket and ping client group.
#[derive(Serialize, Default)]
pub struct ProbeSeriesRow<'a> {
    variant: &'a str,
    #[serde(serialize_with = "r9")]
    t_s: f64,
    client_group: &'a str,
    probes_sent: u64,
    probes_answered: u64,
    probes_lost: u64,
    #[serde(serialize_with = "o6")]
    rtt_p50_ms: Option<f64>,
    #[serde(serialize_with = "o6")]
    rtt_p99_ms: Option<f64>,
    #[serde(serialize_with = "o6")]
    rtt_mean_ms: Option<f64>,
    #[serde(serialize_with = "o6")]
    rtt_max_ms: Option<f64>,
}

/// timeseries_probes.csv's rows: per ping group from its own start.
pub fn probe_series(results: &[RunResult]) -> Vec<ProbeSeriesRow<'_>> {
    let mut rows = Vec::new();
    for r in results {
        let s = &r.series;
        let pings: Vec<_> = s
            .groups
            .iter()
            .filter(|g| g.kind == GroupKind::Probes)
            .collect();
        let Some(first) = pings.iter().map(|g| s.bucket_of(g.start)).min() else {
            continue;
        };
        let width = s.bucket.as_secs_f64();
        for i in buckets(r, first) {
            for g in pings.iter().filter(|g| i >= s.bucket_of(g.start)) {
                let h = g.latency.get(i);
                let l = BucketLatency::of(h);
                rows.push(ProbeSeriesRow {
                    variant: &r.variant,
                    t_s: i as f64 * width,
                    client_group: &g.name,
                    probes_sent: g.sent.get(i),
                    probes_answered: h.count(),
                    probes_lost: g.reset.get(i) + g.timeout.get(i) + g.refused.get(i),
                    rtt_p50_ms: l.p50,
                    rtt_p99_ms: l.p99,
                    rtt_mean_ms: l.mean,
                    rtt_max_ms: l.max,
                });
            }
        }
    }
    rows
}

/// connections.csv: one row per established connection per route change.
#[derive(Serialize, Default)]
pub struct ConnectionRow<'a> {
    variant: &'a str,
    conn_id: u32,
    client: &'a str,
    src: String,
    sport: u16,
    dst: String,
    dport: u16,
    proto: u8,
    #[serde(serialize_with = "r9")]
    opened_t_s: f64,
    change_id: u32,
    #[serde(serialize_with = "r9")]
    change_t_s: f64,
    node_before: &'a str,
    node_after: &'a str,
    fate: &'a str,
}

fn node_name(r: &RunResult, n: Option<u16>) -> &str {
    n.and_then(|i| r.node_names.get(usize::from(i)))
        .map_or("", String::as_str)
}

/// connections.csv's rows.
pub fn connections(results: &[RunResult]) -> Vec<ConnectionRow<'_>> {
    results
        .iter()
        .flat_map(|r| {
            r.conn_rows.iter().map(move |c| ConnectionRow {
                variant: &r.variant,
                conn_id: c.conn,
                client: r
                    .client_names
                    .get(c.client as usize)
                    .map_or("", String::as_str),
                src: c.flow.src.to_string(),
                sport: c.flow.sport,
                dst: c.flow.dst.to_string(),
                dport: c.flow.dport,
                proto: c.flow.proto,
                opened_t_s: secs(c.opened_at),
                change_id: c.change,
                // Every row's change is in the run's list (rows are made at the change).
                change_t_s: r
                    .changes
                    .get(c.change as usize)
                    .map_or(0.0, |ch| secs(ch.time)),
                node_before: node_name(r, c.node_before),
                node_after: node_name(r, c.node_after),
                fate: c.fate,
            })
        })
        .collect()
}

/// changes.csv: one row per route change.
#[derive(Serialize, Default)]
pub struct ChangeRow<'a> {
    variant: &'a str,
    change_id: u32,
    #[serde(serialize_with = "r9")]
    t_s: f64,
    cause: &'a str,
    group_size_before: usize,
    group_size_after: usize,
    live_connections: u64,
    moved: u64,
    broken_reset: u64,
    broken_timeout: u64,
}

/// changes.csv's rows.
pub fn changes(results: &[RunResult]) -> Vec<ChangeRow<'_>> {
    results
        .iter()
        .flat_map(|r| {
            r.changes.iter().map(move |c| ChangeRow {
                variant: &r.variant,
                change_id: c.id,
                t_s: secs(c.time),
                cause: &c.cause,
                group_size_before: c.group_before,
                group_size_after: c.group_after,
                live_connections: c.live,
                moved: c.moved,
                broken_reset: c.broken_reset,
                broken_timeout: c.broken_timeout,
            })
        })
        .collect()
}

/// events.csv: the structured event log.
#[derive(Serialize, Default)]
pub struct EventRow<'a> {
    variant: &'a str,
    #[serde(serialize_with = "r9")]
    t_s: f64,
    kind: &'a str,
    subject: &'a str,
    detail: &'a str,
}

/// events.csv's rows.
pub fn events(results: &[RunResult]) -> Vec<EventRow<'_>> {
    results
        .iter()
        .flat_map(|r| {
            r.log.entries().iter().map(move |e| EventRow {
                variant: &r.variant,
                t_s: secs(e.time),
                kind: e.kind,
                subject: &e.subject,
                detail: &e.detail,
            })
        })
        .collect()
}

/// nodes.csv: one row per variant and node.
#[derive(Serialize, Default)]
pub struct NodeRow<'a> {
    variant: &'a str,
    node: &'a str,
    ingress_requests: u64,
    served_requests: u64,
    cores: u16,
    #[serde(serialize_with = "r9")]
    cpu_busy_s: f64,
}

/// nodes.csv's rows.
pub fn nodes(results: &[RunResult]) -> Vec<NodeRow<'_>> {
    results
        .iter()
        .flat_map(|r| {
            r.node_names.iter().enumerate().map(move |(i, n)| NodeRow {
                variant: &r.variant,
                node: n,
                ingress_requests: r.node_ingress[i],
                served_requests: r.node_served[i],
                cores: r.node_cpu[i].0,
                cpu_busy_s: r.node_cpu[i].1.as_secs_f64(),
            })
        })
        .collect()
}

/// services.csv: one row per variant and service (scenarios with `services`).
#[derive(Serialize, Default)]
pub struct ServiceRow<'a> {
    variant: &'a str,
    service: &'a str,
    pool: &'a str,
    ip: String,
    traffic_policy: &'static str,
    requests_started: u64,
    requests_ok: u64,
    errors_reset: u64,
    errors_timeout: u64,
    errors_refused: u64,
    in_flight_end: u64,
    retried: u64,
    user_failed: u64,
    #[serde(serialize_with = "o6")]
    latency_p50_ms: Option<f64>,
    #[serde(serialize_with = "o6")]
    latency_p99_ms: Option<f64>,
    route_changes: u64,
    live_at_changes: u64,
    connections_moved: u64,
    connections_broken: u64,
    announcing_nodes: usize,
    announced_by: String,
}

/// services.csv's rows.
pub fn services(results: &[RunResult]) -> Vec<ServiceRow<'_>> {
    results
        .iter()
        .filter(|r| r.multi_service)
        .flat_map(|r| {
            r.services.iter().map(move |s| ServiceRow {
                variant: &r.variant,
                service: &s.name,
                pool: &s.pool,
                ip: s.vip.to_string(),
                traffic_policy: match s.policy {
                    crate::scenario::TrafficPolicy::Cluster => "Cluster",
                    crate::scenario::TrafficPolicy::Local => "Local",
                },
                requests_started: s.counts.started,
                requests_ok: s.counts.ok,
                errors_reset: s.counts.reset,
                errors_timeout: s.counts.timeout,
                errors_refused: s.counts.refused,
                in_flight_end: s.counts.in_flight,
                retried: s.counts.retried,
                user_failed: s.counts.user_failed(),
                latency_p50_ms: s.latency.quantile(0.5).map(ms),
                latency_p99_ms: s.latency.quantile(0.99).map(ms),
                route_changes: s.changes,
                live_at_changes: s.live_at_changes,
                connections_moved: s.moved,
                connections_broken: s.broken,
                announcing_nodes: s.announcers.len(),
                announced_by: s
                    .announcers
                    .iter()
                    .map(|&n| r.node_names[usize::from(n)].as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            })
        })
        .collect()
}

/// Per node of a run: how many services its traffic for enters through at the end (ECMP
/// member, or L2 leader).
pub fn services_per_node(r: &RunResult) -> Vec<u64> {
    let mut per = vec![0u64; r.node_names.len()];
    for s in &r.services {
        for &n in &s.announcers {
            per[usize::from(n)] += 1;
        }
    }
    per
}

/// service_nodes.csv: one row per variant and node (scenarios with `services`).
#[derive(Serialize, Default)]
pub struct ServiceNodeRow<'a> {
    variant: &'a str,
    node: &'a str,
    services_announced: u64,
    ingress_requests: u64,
    served_requests: u64,
}

/// service_nodes.csv's rows.
pub fn service_nodes(results: &[RunResult]) -> Vec<ServiceNodeRow<'_>> {
    results
        .iter()
        .filter(|r| r.multi_service)
        .flat_map(|r| {
            let per = services_per_node(r);
            r.node_names
                .iter()
                .enumerate()
                .map(move |(i, n)| ServiceNodeRow {
                    variant: &r.variant,
                    node: n,
                    services_announced: per[i],
                    ingress_requests: r.node_ingress[i],
                    served_requests: r.node_served[i],
                })
        })
        .collect()
}

/// `sim run --json`: the terminal tables' content, one document.
#[derive(Serialize)]
pub struct RunJson<'a> {
    /// `lbsim-run-json/1`.
    pub format: &'static str,
    /// The scenario's name.
    pub scenario: &'a str,
    /// summary.csv's rows.
    pub summary: Vec<SummaryRow<'a>>,
    /// latency.csv's rows.
    pub latency: Vec<LatencyRow<'a>>,
    /// probes.csv's rows.
    pub probes: Vec<ProbeRow<'a>>,
    /// changes.csv's rows.
    pub changes: Vec<ChangeRow<'a>>,
    /// services.csv's rows (only for scenarios with `services`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceRow<'a>>,
    /// mitigations.csv's rows (only for scenarios with a `mitigations` table).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mitigations: Vec<crate::mitigations::Row>,
}

impl<'a> RunJson<'a> {
    /// The document of `results`.
    pub fn of(scenario: &'a str, results: &'a [RunResult]) -> RunJson<'a> {
        RunJson {
            format: "lbsim-run-json/1",
            scenario,
            summary: summary(results),
            latency: latency(results),
            probes: probes(results),
            changes: changes(results),
            services: services(results),
            mitigations: Vec::new(),
        }
    }
}

/// One row of suite.csv, for `sim suite --json`.
#[derive(Serialize)]
pub struct SuiteRow<'a> {
    test: &'a str,
    variant: &'a str,
    metric: &'a str,
    mean: f64,
    ci95_low: Option<f64>,
    ci95_high: Option<f64>,
    n: usize,
}

/// `sim suite --json`: suite.csv's rows, one document.
#[derive(Serialize)]
pub struct SuiteJson<'a> {
    /// `lbsim-suite-json/1`.
    pub format: &'static str,
    /// The suite's name.
    pub suite: &'a str,
    /// suite.csv's rows.
    pub rows: Vec<SuiteRow<'a>>,
}

impl<'a> SuiteJson<'a> {
    /// The document of `agg`.
    pub fn of(suite: &'a str, agg: &'a crate::suite::Aggregate) -> SuiteJson<'a> {
        SuiteJson {
            format: "lbsim-suite-json/1",
            suite,
            rows: agg
                .rows
                .iter()
                .map(|(test, variant, metric, s)| SuiteRow {
                    test,
                    variant,
                    metric,
                    mean: s.mean,
                    ci95_low: s.ci95.map(|c| c.0),
                    ci95_high: s.ci95.map(|c| c.1),
                    n: s.n,
                })
                .collect(),
        }
    }
}

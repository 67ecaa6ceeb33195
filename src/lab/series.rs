//! Per-bucket time series of one variant: per client group (requests and ping probes apart),
//! per node, and the 15 s scrapes the OpenMetrics file is made of (docs/outputs.md).
//!
//! Memory, per variant, with B = duration / timeseries_bucket buckets and S = duration / 15 s
//! scrapes: each request or ping group B x (4 x 8 + 48) bytes, each node B x (2 x 8 + 48)
//! bytes, plus 8 bytes per latency bin in use in a bucket (a [`LogHistogram`] holds only the
//! bins its latencies fell in: 16 per power of two of spread); the scrapes S x 14 x 8 bytes.
//! iperf3 groups have no series.

use std::collections::TryReserveError;

use sim_core::{HistogramSeries, LogHistogram, SimDuration, SimTime, TimeSeries};

use super::ErrorKind;
use crate::scenario::{Load, Scenario};

/// How often the seed's ServiceMonitor scrapes (`interval: 15s`): one OpenMetrics sample per
/// series per interval.
pub const SCRAPE_INTERVAL: SimDuration = SimDuration::from_secs(15);

/// `http_request_duration_seconds` bucket bounds (`le`): the Prometheus client libraries'
/// default buckets (client_golang `prometheus.DefBuckets`), which ingress-nginx's request
/// duration histogram also uses unless `--time-buckets` says otherwise.
pub const DURATION_BUCKETS_S: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// What a client group sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    /// HTTP requests over TCP (open and closed loop, fortio, wrk, vegeta).
    Requests,
    /// ICMP echo probes (ping).
    Probes,
    /// iperf3 bulk flows: no per-request series.
    Bulk,
}

/// One client group's series.
#[derive(Debug, Clone)]
pub struct GroupSeries {
    /// The group's name in the scenario.
    pub name: String,
    /// What it sends.
    pub kind: GroupKind,
    /// When it starts.
    pub start: SimTime,
    /// Requests (or probes) sent, by send time.
    pub sent: TimeSeries,
    /// Failures by the time they were declared: reset, timeout, refused (for probes all three
    /// are losses).
    pub reset: TimeSeries,
    /// See `reset`.
    pub timeout: TimeSeries,
    /// See `reset`.
    pub refused: TimeSeries,
    /// Latency (round-trip time for probes) of the answered, by answer time.
    pub latency: HistogramSeries,
    /// Outstanding when the run ended.
    pub in_flight_end: u64,
}

/// One node's series (requests only, never probes).
#[derive(Debug, Clone)]
pub struct NodeSeries {
    /// Requests the router (or an in-cluster client's kube-proxy) sent to this node.
    pub ingress: TimeSeries,
    /// Requests this node's pods started serving.
    pub served: TimeSeries,
    /// Latency of the answered requests that entered at this node, by answer time.
    pub latency: HistogramSeries,
}

/// The variant's service as a scrape every 15 s would see it: per interval `[15 k, 15 (k+1))`.
#[derive(Debug, Clone)]
pub struct Scrapes {
    /// Requests the service's pods started serving (`nginx_http_requests_total`).
    pub served: TimeSeries,
    /// Answered requests per duration bucket (not cumulative), by [`DURATION_BUCKETS_S`]; the
    /// last entry counts those above 10 s.
    pub buckets: Vec<TimeSeries>,
    /// Sum of the answered requests' latencies, ns.
    pub sum_ns: TimeSeries,
}

/// All series of one variant.
#[derive(Debug, Clone)]
pub struct Series {
    /// Bucket width (`timeseries_bucket`).
    pub bucket: SimDuration,
    /// Per scenario client group, in the scenario's order.
    pub groups: Vec<GroupSeries>,
    /// Per node.
    pub nodes: Vec<NodeSeries>,
    /// The 15 s scrapes.
    pub scrapes: Scrapes,
}

impl Series {
    /// Empty series for `scenario` with `nodes` nodes.
    ///
    /// # Errors
    /// An allocation failed: the series of a fine bucket over a long run are the largest thing
    /// a run allocates at once.
    pub fn new(scenario: &Scenario, nodes: usize) -> Result<Series, TryReserveError> {
        let bucket = scenario.timeseries_bucket;
        let horizon = scenario.duration;
        let ts = || TimeSeries::new(bucket, horizon);
        let mut groups = Vec::with_capacity(scenario.clients.len());
        for c in &scenario.clients {
            let kind = match c.load {
                Load::Ping { .. } => GroupKind::Probes,
                Load::Iperf3 { .. } => GroupKind::Bulk,
                _ => GroupKind::Requests,
            };
            // iperf3 groups never record: no memory for them.
            let h = if kind == GroupKind::Bulk {
                SimDuration::ZERO
            } else {
                horizon
            };
            groups.push(GroupSeries {
                name: c.name.clone(),
                kind,
                start: SimTime(c.start.as_nanos()),
                sent: TimeSeries::new(bucket, h)?,
                reset: TimeSeries::new(bucket, h)?,
                timeout: TimeSeries::new(bucket, h)?,
                refused: TimeSeries::new(bucket, h)?,
                latency: HistogramSeries::new(bucket, h)?,
                in_flight_end: 0,
            });
        }
        let mut node_series = Vec::with_capacity(nodes);
        for _ in 0..nodes {
            node_series.push(NodeSeries {
                ingress: ts()?,
                served: ts()?,
                latency: HistogramSeries::new(bucket, horizon)?,
            });
        }
        let scrape = || TimeSeries::new(SCRAPE_INTERVAL, horizon);
        let mut buckets = Vec::with_capacity(DURATION_BUCKETS_S.len() + 1);
        for _ in 0..=DURATION_BUCKETS_S.len() {
            buckets.push(scrape()?);
        }
        let scrapes = Scrapes {
            served: scrape()?,
            buckets,
            sum_ns: scrape()?,
        };
        Ok(Series {
            bucket,
            groups,
            nodes: node_series,
            scrapes,
        })
    }

    /// Bytes per time bucket this scenario's series hold, for a memory estimate: the fixed
    /// part (module docs) plus 32 latency bins per series (latencies of one bucket within a
    /// factor of 4 of each other; a wider spread holds more, at most 976 bins).
    pub fn bytes_per_bucket(scenario: &Scenario) -> u64 {
        const BINS: u64 = 32 * 8;
        let groups = scenario
            .clients
            .iter()
            .filter(|c| !matches!(c.load, Load::Iperf3 { .. }))
            .count() as u64;
        groups * (4 * 8 + 48 + BINS) + u64::from(scenario.nodes.count) * (2 * 8 + 48 + BINS)
    }

    /// Group `g` sent a request or probe.
    pub fn sent(&mut self, g: u32, now: SimTime) {
        if let Some(s) = self.groups.get_mut(g as usize) {
            s.sent.add(now, 1);
        }
    }

    /// Group `g`'s request or probe was answered after `latency`; a request entered at `node`.
    pub fn answered(&mut self, g: u32, node: u16, now: SimTime, latency: SimDuration) {
        let Some(s) = self.groups.get_mut(g as usize) else {
            return;
        };
        s.latency.record(now, latency);
        if s.kind != GroupKind::Requests {
            return;
        }
        if let Some(n) = self.nodes.get_mut(usize::from(node)) {
            n.latency.record(now, latency);
        }
        // Prometheus buckets count `value <= le`.
        let secs = latency.as_secs_f64();
        let b = DURATION_BUCKETS_S
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(DURATION_BUCKETS_S.len());
        self.scrapes.buckets[b].add(now, 1);
        self.scrapes.sum_ns.add(now, latency.as_nanos());
    }

    /// Group `g`'s request or probe failed.
    pub fn failed(&mut self, g: u32, kind: ErrorKind, now: SimTime) {
        if let Some(s) = self.groups.get_mut(g as usize) {
            match kind {
                ErrorKind::Reset => &mut s.reset,
                ErrorKind::Timeout => &mut s.timeout,
                ErrorKind::Refused => &mut s.refused,
                // timeseries.csv has no column for an ingress tier's 502/504: the run's counts
                // and its ingress table have them.
                ErrorKind::Gateway { .. } => return,
            }
            .add(now, 1);
        }
    }

    /// A request entered at `node`.
    pub fn ingress(&mut self, node: u16, now: SimTime) {
        if let Some(n) = self.nodes.get_mut(usize::from(node)) {
            n.ingress.add(now, 1);
        }
    }

    /// A pod on `node` started serving a request.
    pub fn served(&mut self, node: u16, now: SimTime) {
        if let Some(n) = self.nodes.get_mut(usize::from(node)) {
            n.served.add(now, 1);
        }
        self.scrapes.served.add(now, 1);
    }

    /// The first bucket of the request series: the earliest request group's start; `None`
    /// without request groups.
    pub fn first_request_bucket(&self) -> Option<usize> {
        self.groups
            .iter()
            .filter(|g| g.kind == GroupKind::Requests)
            .map(|g| self.bucket_of(g.start))
            .min()
    }

    /// The bucket holding `t`.
    pub fn bucket_of(&self, t: SimTime) -> usize {
        (t.as_nanos() / self.bucket.as_nanos().max(1)) as usize
    }

    /// The answered requests of all request groups in bucket `i`, merged.
    pub fn requests_latency(&self, i: usize) -> LogHistogram {
        let mut h = LogHistogram::default();
        for g in self.groups.iter().filter(|g| g.kind == GroupKind::Requests) {
            h.merge(g.latency.get(i));
        }
        h
    }
}

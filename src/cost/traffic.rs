//! The traffic a variant will carry, from its capacities: what each client group offers, what
//! the cluster can serve, and so what each group starts, gets answered and keeps in flight.
//!
//! A fluid bound, not a queueing solution: per stretch of time in which the same groups are
//! active, every group's offered rate is scaled by one factor so that no resource runs over
//! 100 %: a node's cores (its ingress packets at `2 x packet_cost` per request, its pods'
//! service time), its pods' workers (`cpu / service time` each), its NIC, each client's link.
//! Closed loops (wrk, fortio's `-c`, keep-alive pools, `ClosedLoop` users) offer at most
//! `users / round trip`; open loops offer their rate whatever happens to it, so under overload
//! they keep starting requests that are never answered. In Layer 2 mode every external request
//! enters at the one leader node; with BGP (or scripted routes) ECMP spreads them over the
//! announcing nodes; a client in the cluster enters at its own node.

use crate::scenario::{
    ClientLocation, ClientSpec, Connections, Load, Mode, Placement, Scenario, ServiceTime,
    TrafficPolicy,
};

/// How one client group behaves, for the estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// Arrivals at a rate that does not wait for answers, a new connection each (OpenLoop
    /// per-request, ping).
    Open,
    /// Arrivals at a rate, but at most `pool` requests out per instance (OpenLoop keep-alive).
    Pooled(u32),
    /// Arrivals at a rate, connections added while all are busy (vegeta).
    Elastic,
    /// `n` requests out per instance at most, each sent when the last one is answered (wrk,
    /// fortio's connections, ClosedLoop users), after `think` seconds.
    Closed(u32, f64),
    /// iperf3: fluid streams, no requests.
    Bulk,
}

/// What one client group does over the run (all its instances together).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GroupLoad {
    /// Arrival events (open loops: every scheduled arrival, served or not).
    pub arrivals: f64,
    /// Requests started.
    pub started: f64,
    /// Requests answered.
    pub served: f64,
    /// Peak requests outstanding (all instances).
    pub live: f64,
    /// Peak connections open (all instances).
    pub conns: f64,
    /// Connections opened over the run.
    pub opened: f64,
    /// Peak entries in one instance's timeout queue (the sends since its oldest outstanding
    /// request).
    pub deadlines_per_instance: f64,
    /// Requests an instance queues behind a full pool (keep-alive under overload), peak.
    pub backlog: f64,
    /// Requests waiting behind a saturated resource with their next event pending (open
    /// loops under overload: the backlog grows for as long as the overload lasts), peak.
    pub queued: f64,
    /// Seconds the group is active.
    pub window: f64,
    /// Round trip without queueing, seconds.
    pub rtt: f64,
    /// Requests per second offered per instance (before any capacity limit).
    pub offered_rate: f64,
    /// Part of its active time the cluster could not keep up (0..1).
    pub saturated: f64,
    /// Share of its requests whose pod is on another node than the ingress.
    pub remote: f64,
}

/// The traffic of one variant.
#[derive(Debug, Clone)]
pub struct Traffic {
    /// Per client group, in the scenario's order.
    pub groups: Vec<GroupLoad>,
    /// Peak rate of external requests through the L2 gateway (0 outside L2 behind a gateway).
    pub gateway_peak_rate: f64,
    /// Requests through the L2 gateway over the run.
    pub gateway_requests: f64,
    /// Seconds from the first to the last request through the gateway.
    pub gateway_window: f64,
}

/// Mean of a service-time distribution, seconds.
pub fn mean_service_s(st: &ServiceTime) -> f64 {
    match *st {
        ServiceTime::Constant { time } => time.as_secs_f64(),
        ServiceTime::Exponential { mean } => mean.as_secs_f64(),
        // E[median * exp(sigma Z)] = median * exp(sigma^2 / 2).
        ServiceTime::LogNormal { median, sigma } => {
            median.as_secs_f64() * (sigma * sigma / 2.0).exp()
        }
    }
}

/// The shape of a client group.
pub fn shape(c: &ClientSpec) -> Shape {
    match (c.load, c.connections) {
        (Load::Iperf3 { .. }, _) => Shape::Bulk,
        (Load::Vegeta { .. }, _) => Shape::Elastic,
        (Load::Fortio { connections, .. } | Load::Wrk { connections, .. }, _) => {
            Shape::Closed(connections, 0.0)
        }
        (Load::ClosedLoop { users, think_time }, _) => {
            Shape::Closed(users, think_time.as_secs_f64())
        }
        (Load::OpenLoop { .. }, Connections::KeepAlive { pool }) => Shape::Pooled(pool),
        (Load::OpenLoop { .. } | Load::Ping { .. }, _) => Shape::Open,
    }
}

/// Requests per second one instance offers when nothing holds it back (closed loops: none
/// of their own; their round trip decides).
pub fn offered_rate(c: &ClientSpec) -> f64 {
    match c.load {
        Load::OpenLoop { rate, .. } | Load::Vegeta { rate, .. } => rate,
        Load::Fortio { qps, .. } => qps,
        Load::Ping { interval } => 1.0 / interval.as_secs_f64().max(1e-9),
        Load::ClosedLoop { .. } | Load::Wrk { .. } | Load::Iperf3 { .. } => f64::INFINITY,
    }
}

/// The nodes and pods of a variant, as the capacity model sees them.
pub struct Cluster<'a> {
    s: &'a Scenario,
    mode: Mode,
    policy: TrafficPolicy,
    nodes: usize,
    /// The node external traffic enters at in L2 mode.
    leader: usize,
    /// Nodes announcing the service in BGP (or scripted) mode: all under Cluster policy,
    /// those with a pod under Local (MetalLB's rule).
    members: usize,
    packet_s: f64,
    service_s: f64,
}

impl<'a> Cluster<'a> {
    /// The cluster of a variant with this mode and traffic policy.
    pub fn new(s: &'a Scenario, mode: Mode, policy: TrafficPolicy) -> Self {
        let nodes = usize::from(s.nodes.count).max(1);
        // The L2 leader: with Local policy a node with endpoints (MetalLB announces only
        // there); the one with the most pods stands for it (pods are spread round robin).
        let leader = (0..nodes)
            .max_by_key(|&i| (pods_on(s, i), std::cmp::Reverse(i)))
            .unwrap_or(0);
        let members = (0..nodes)
            .filter(|&i| policy == TrafficPolicy::Cluster || pods_on(s, i) > 0)
            .count();
        Cluster {
            s,
            mode,
            policy,
            nodes,
            leader,
            members,
            packet_s: s.nodes.packet_cost.as_secs_f64(),
            service_s: mean_service_s(&s.service.pods.service_time),
        }
    }

    /// Ingress share of node `i` for the group's requests.
    fn ingress(&self, c: &ClientSpec, i: usize) -> f64 {
        match &c.location {
            ClientLocation::InCluster(name) => {
                f64::from(u8::from(node_index(self.s, name) == Some(i)))
            }
            ClientLocation::External => self.external_ingress(i),
        }
    }

    /// Ingress share of node `i` for requests from outside the cluster.
    fn external_ingress(&self, i: usize) -> f64 {
        match self.mode {
            Mode::L2 => f64::from(u8::from(i == self.leader)),
            Mode::Bgp | Mode::Scripted => {
                if self.policy == TrafficPolicy::Local && pods_on(self.s, i) == 0 {
                    return 0.0;
                }
                1.0 / self.members.max(1) as f64
            }
        }
    }

    /// Share of requests whose pod is remote from their ingress.
    fn remote(&self, c: &ClientSpec) -> f64 {
        let local: f64 = (0..self.nodes)
            .map(|i| {
                let e = self.ingress(c, i);
                if e == 0.0 {
                    0.0
                } else {
                    e * local_pods_share(self, c, i)
                }
            })
            .sum();
        (1.0 - local).clamp(0.0, 1.0)
    }

    /// The round trip of one request with no queueing anywhere, seconds.
    fn rtt(&self, c: &ClientSpec, remote: f64) -> f64 {
        let net = &self.s.network;
        let link = |l: &crate::scenario::LinkSpec| {
            let ser = if l.bandwidth.0 == 0 {
                0.0
            } else {
                f64::from(c.request_bytes + c.response_bytes) * 8.0 / l.bandwidth.0 as f64
            };
            2.0 * l.delay.as_secs_f64() + ser
        };
        let hops = link(&net.client_link) + link(&net.node_link) * (1.0 + remote);
        if matches!(c.load, Load::Ping { .. }) {
            return hops + self.packet_s;
        }
        let cpu = self.s.service.pods.cpu;
        let speed = cpu / cpu.ceil().max(1.0);
        hops + 2.0 * self.packet_s + self.service_s / speed
    }

    /// Utilisation per request per second of the busiest resource, for groups at `rates`
    /// (requests per second of all instances): the cluster keeps up while this is <= 1.
    /// Groups are summed into classes first (external, or in the cluster at one node), so
    /// this is one pass over the groups and one over the nodes.
    fn utilisation(&self, groups: &[&ClientSpec], rates: &[f64]) -> f64 {
        use std::collections::BTreeMap;
        // Per class: request-packet CPU seconds per second, and bits per second.
        let (mut ext_cpu, mut ext_bits) = (0.0, 0.0);
        let mut inside: BTreeMap<usize, (f64, f64)> = BTreeMap::new();
        // Pod work per second: spread over all pods, or local to the external ingress.
        let (mut spread_work, mut local_work) = (0.0, 0.0);
        for (c, &rate) in groups.iter().zip(rates) {
            let ping = matches!(c.load, Load::Ping { .. });
            let packets = if ping { 1.0 } else { 2.0 };
            let cpu = rate * packets * self.packet_s;
            let bits = rate * f64::from(c.response_bytes.max(c.request_bytes)) * 8.0;
            let in_cluster = match &c.location {
                ClientLocation::InCluster(name) => node_index(self.s, name),
                ClientLocation::External => None,
            };
            match in_cluster {
                Some(k) => {
                    let e = inside.entry(k).or_default();
                    e.0 += cpu;
                    e.1 += bits;
                }
                None => {
                    ext_cpu += cpu;
                    ext_bits += bits;
                }
            }
            if !ping {
                let work = rate * self.service_s;
                if self.policy == TrafficPolicy::Local && in_cluster.is_none() {
                    local_work += work;
                } else {
                    spread_work += work;
                }
            }
        }
        let cores = f64::from(self.s.nodes.cores.max(1));
        let cpu_limit = self.s.service.pods.cpu;
        let nic = self.s.network.node_link.bandwidth.0 as f64;
        let replicas = f64::from(self.s.service.pods.replicas.max(1));
        let mut worst: f64 = 0.0;
        for i in 0..self.nodes {
            let e = self.external_ingress(i);
            let (in_cpu, in_bits) = inside.get(&i).copied().unwrap_or_default();
            let here = pods_on(self.s, i) as f64;
            let pods = spread_work * here / replicas + local_work * e;
            let cpu = e * ext_cpu + in_cpu + pods;
            let bits = e * ext_bits + in_bits;
            worst = worst.max(cpu / cores);
            if here > 0.0 {
                worst = worst.max(pods / (here * cpu_limit));
            }
            if nic > 0.0 {
                worst = worst.max(bits / nic);
            }
        }
        worst
    }
}

/// Share of node `i`'s ingress requests whose pod is local to `i`.
fn local_pods_share(cl: &Cluster<'_>, c: &ClientSpec, i: usize) -> f64 {
    if matches!(c.load, Load::Ping { .. }) {
        return 1.0;
    }
    let in_cluster = matches!(c.location, ClientLocation::InCluster(_));
    if cl.policy == TrafficPolicy::Local && !in_cluster {
        return 1.0;
    }
    pods_on(cl.s, i) as f64 / f64::from(cl.s.service.pods.replicas.max(1))
}

/// The peak of a count whose mean is `mean` over a run: Poisson-like fluctuations, four
/// standard deviations above the mean.
fn peak(mean: f64) -> f64 {
    mean + 4.0 * mean.sqrt() + 1.0
}

/// Pods placed on node `i` (round robin over all nodes, or over the pinned ones).
pub fn pods_on(s: &Scenario, i: usize) -> usize {
    let replicas = usize::from(s.service.pods.replicas);
    let (hosts, slot) = match &s.service.pods.placement {
        Placement::Spread => (usize::from(s.nodes.count).max(1), Some(i)),
        Placement::OnNodes(list) => {
            let name = format!("node-{}", i + 1);
            (list.len().max(1), list.iter().position(|n| *n == name))
        }
    };
    match slot {
        Some(k) if k < hosts => replicas / hosts + usize::from(k < replicas % hosts),
        _ => 0,
    }
}

fn node_index(s: &Scenario, name: &str) -> Option<usize> {
    let n: usize = name.strip_prefix("node-")?.parse().ok()?;
    (1..=usize::from(s.nodes.count)).contains(&n).then(|| n - 1)
}

/// The traffic of a variant running in `mode` with `policy`.
pub fn traffic(s: &Scenario, mode: Mode, policy: TrafficPolicy, gateway: bool) -> Traffic {
    let cl = Cluster::new(s, mode, policy);
    let end = s.duration.as_secs_f64();
    let window = |c: &ClientSpec| {
        let stop = c.stop.map_or(end, |t| t.as_secs_f64().min(end));
        (
            c.start.as_secs_f64().min(end),
            stop.max(c.start.as_secs_f64().min(end)),
        )
    };
    let specs: Vec<&ClientSpec> = s.clients.iter().collect();
    let remote: Vec<f64> = specs.iter().map(|c| cl.remote(c)).collect();
    let rtt: Vec<f64> = specs
        .iter()
        .zip(&remote)
        .map(|(c, &r)| cl.rtt(c, r))
        .collect();
    // What each group offers (all instances), capped by its own concurrency and link.
    let offered: Vec<f64> = specs
        .iter()
        .zip(&rtt)
        .map(|(c, &rtt)| {
            let n = f64::from(c.count);
            let own = offered_rate(c);
            let cap = match shape(c) {
                Shape::Bulk => 0.0,
                Shape::Closed(users, think) => f64::from(users) / (rtt + think),
                Shape::Pooled(pool) => f64::from(pool) / rtt,
                Shape::Open | Shape::Elastic => f64::INFINITY,
            };
            let link = &s.network.client_link.bandwidth;
            let wire = if link.0 == 0 {
                f64::INFINITY
            } else {
                link.0 as f64 / (f64::from(c.response_bytes.max(c.request_bytes)) * 8.0)
            };
            n * own.min(cap).min(wire)
        })
        .collect();
    // Stretches of time in which the same groups are active.
    let mut cuts: Vec<f64> = vec![0.0, end];
    for c in &specs {
        let (a, b) = window(c);
        cuts.push(a);
        cuts.push(b);
    }
    cuts.sort_by(f64::total_cmp);
    cuts.dedup();
    let mut groups: Vec<GroupLoad> = specs
        .iter()
        .zip(&rtt)
        .zip(&remote)
        .map(|((c, &rtt), &remote)| {
            let (a, b) = window(c);
            GroupLoad {
                window: b - a,
                rtt,
                remote,
                offered_rate: offered_rate(c),
                ..GroupLoad::default()
            }
        })
        .collect();
    let (mut gateway_peak_rate, mut gateway_requests) = (0.0f64, 0.0);
    let (mut gateway_from, mut gateway_to) = (f64::INFINITY, 0.0f64);
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let len = b - a;
        if len <= 0.0 {
            continue;
        }
        let active: Vec<usize> = (0..specs.len())
            .filter(|&g| {
                let (s0, s1) = window(specs[g]);
                s0 <= a && b <= s1 && shape(specs[g]) != Shape::Bulk
            })
            .collect();
        let act: Vec<&ClientSpec> = active.iter().map(|&g| specs[g]).collect();
        let rates: Vec<f64> = active.iter().map(|&g| offered[g]).collect();
        let u = cl.utilisation(&act, &rates);
        let scale = if u > 1.0 { 1.0 / u } else { 1.0 };
        let mut gateway_rate = 0.0;
        for &g in &active {
            let c = specs[g];
            let n = f64::from(c.count);
            let gl = &mut groups[g];
            let served = offered[g] * scale;
            gl.served += served * len;
            let own = offered_rate(c).min(f64::from(u32::MAX)) * n;
            let started = match shape(c) {
                // Open loops start every arrival whether or not it can be served.
                Shape::Open | Shape::Elastic => own,
                Shape::Pooled(_) | Shape::Closed(..) | Shape::Bulk => served,
            };
            gl.started += started * len;
            gl.arrivals += match shape(c) {
                Shape::Open | Shape::Elastic | Shape::Pooled(_) => own * len,
                Shape::Closed(..) | Shape::Bulk => 0.0,
            };
            // Held back by the cluster, or (an open loop) by its own link, where requests
            // queue for transmission.
            let behind = scale < 1.0 || served < started * 0.999;
            if behind {
                gl.saturated += len / gl.window.max(f64::MIN_POSITIVE);
            }
            let timeout = c.timeout.as_secs_f64();
            // Little: in flight = rate x time in the system. Saturated, closed loops keep all
            // their users out and open loops' requests wait up to their timeout.
            let mean_live = match (shape(c), behind) {
                // Users not thinking wait in a queue somewhere.
                (Shape::Closed(k, think), true) => (f64::from(k) * n - served * think).max(0.0),
                (Shape::Pooled(k), true) => f64::from(k) * n,
                (_, true) => started * timeout,
                (_, false) => served * gl.rtt,
            };
            let live = match shape(c) {
                Shape::Pooled(k) | Shape::Closed(k, _) => peak(mean_live).min(f64::from(k) * n),
                _ => peak(mean_live),
            };
            gl.live = gl.live.max(live);
            // The timeout queue forgets finished requests at its front (lab `finish`): it holds
            // the sends since the oldest outstanding request, a whole timeout's worth only when
            // requests wait that long; else 20 round trips (queueing aside) or 100 ms, whichever
            // is longer, cover the tail of an unsaturated run.
            let held = if behind {
                timeout
            } else {
                (20.0 * gl.rtt).max(0.1).min(timeout)
            };
            gl.deadlines_per_instance = gl.deadlines_per_instance.max(started / n * held);
            if let Shape::Pooled(_) = shape(c) {
                gl.backlog = gl.backlog.max((own - served).max(0.0) * len / n);
            }
            if behind && matches!(shape(c), Shape::Open | Shape::Elastic) {
                gl.queued += (started - served).max(0.0) * len;
            }
            if gateway && !matches!(c.location, ClientLocation::InCluster(_)) {
                gateway_rate += started;
                gateway_requests += started * len;
                gateway_from = gateway_from.min(a);
                gateway_to = gateway_to.max(b);
            }
        }
        gateway_peak_rate = gateway_peak_rate.max(gateway_rate);
    }
    for (c, gl) in specs.iter().zip(&mut groups) {
        let n = f64::from(c.count);
        if gl.window > 0.0 && matches!(shape(c), Shape::Open | Shape::Elastic | Shape::Pooled(_)) {
            // Each instance's first arrival is at its start, the gaps come after it.
            let answered = gl.served / gl.started.max(f64::MIN_POSITIVE);
            gl.arrivals += n;
            gl.started += n;
            gl.served += n * answered.min(1.0);
        }
        let (conns, opened) = match shape(c) {
            Shape::Open => (gl.live, gl.started),
            Shape::Elastic => (gl.live.max(1.0 * n), gl.live.max(1.0 * n)),
            Shape::Pooled(k) | Shape::Closed(k, _) => {
                let k = f64::from(k) * n;
                (k, k)
            }
            Shape::Bulk => (0.0, 0.0),
        };
        gl.conns = conns;
        gl.opened = opened;
    }
    Traffic {
        groups,
        gateway_peak_rate,
        gateway_requests,
        gateway_window: (gateway_to - gateway_from).max(0.0),
    }
}

//! Pods and kube-proxy: which endpoint a new connection gets, and how long a pod takes.

use std::collections::VecDeque;

use rand::Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};
use sim_core::{SimDuration, SimTime, Stream};

use crate::scenario::{KubeProxyMode, ServiceTime, TrafficPolicy};

/// A node's CPU cores. Packet processing (softirq: forwarding, conntrack, NAT) and the node's
/// pods share them.
///
/// Work can be offered ahead of time (a response's packet cost at its future arrival, a pod's
/// next request when its worker frees), so each core keeps its reserved intervals, and a piece
/// of work takes the earliest gap at or after its time on any core: work offered for an earlier
/// time never waits behind work reserved for a later one, and nothing runs twice at once on one
/// core, so a saturated node is capped at its cores.
#[derive(Debug, Clone)]
pub struct Cores {
    /// Per core: reserved `[start, end)` intervals, sorted, disjoint, merged when they touch;
    /// intervals over before the current time are dropped.
    reserved: Vec<VecDeque<(SimTime, SimTime)>>,
    /// CPU time spent so far (all cores): packet work and pod work.
    busy: SimDuration,
}

impl Cores {
    /// `n` idle cores (at least one).
    pub fn new(n: usize) -> Self {
        Cores {
            reserved: vec![VecDeque::new(); n.max(1)],
            busy: SimDuration::ZERO,
        }
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.reserved.len()
    }

    /// CPU time spent so far, over all cores.
    pub fn busy(&self) -> SimDuration {
        self.busy
    }

    /// Whether there are none (never: at least one is made).
    pub fn is_empty(&self) -> bool {
        self.reserved.is_empty()
    }

    /// Run `work` from `at` (at or after the current time `now`) in the earliest gap of any
    /// core; returns when it is done.
    #[inline]
    pub fn run(&mut self, now: SimTime, at: SimTime, work: SimDuration) -> SimTime {
        if work == SimDuration::ZERO {
            return at;
        }
        self.busy = self.busy + work;
        let mut best: Option<(SimTime, usize)> = None;
        for (i, core) in self.reserved.iter_mut().enumerate() {
            while core.front().is_some_and(|&(_, end)| end <= now) {
                core.pop_front();
            }
            let start = earliest_gap(core, at, work);
            if best.is_none_or(|(b, _)| start < b) {
                best = Some((start, i));
            }
        }
        let Some((start, i)) = best else {
            return at + work;
        };
        if let Some(core) = self.reserved.get_mut(i) {
            reserve(core, start, start + work);
        }
        start + work
    }

    /// All idle (a rebooted node).
    pub fn reset(&mut self) {
        self.reserved.iter_mut().for_each(VecDeque::clear);
    }
}

/// The earliest start at or after `at` where `work` fits between `core`'s reservations.
fn earliest_gap(core: &VecDeque<(SimTime, SimTime)>, at: SimTime, work: SimDuration) -> SimTime {
    let mut start = at;
    for &(s, e) in core {
        if e <= start {
            continue;
        }
        if s >= start + work {
            break;
        }
        start = e;
    }
    start
}

/// Insert `[start, end)` (it overlaps nothing) in order, merging with touching neighbours.
fn reserve(core: &mut VecDeque<(SimTime, SimTime)>, start: SimTime, end: SimTime) {
    let i = core.partition_point(|&(s, _)| s < start);
    let touches_prev = i > 0 && core[i - 1].1 == start;
    let touches_next = i < core.len() && core[i].0 == end;
    match (touches_prev, touches_next) {
        (true, true) => {
            core[i - 1].1 = core[i].1;
            core.remove(i);
        }
        (true, false) => core[i - 1].1 = end,
        (false, true) => core[i].0 = start,
        (false, false) => core.insert(i, (start, end)),
    }
}

/// One pod: a FIFO queue in front of `workers` servers.
#[derive(Debug, Clone)]
pub struct Pod {
    /// Index of the node it runs on; fixed when it is made (kube-proxy keeps per-node lists).
    pub node: u16,
    /// In the service's endpoints (kube-proxy may choose it).
    pub ready: bool,
    /// Running (a crash of its node stops it).
    pub alive: bool,
    /// Bumped on every crash, so work queued before it is recognised as lost.
    pub epoch: u32,
    /// When each worker finishes its queued work.
    free_at: Vec<SimTime>,
    /// Work rate of one worker relative to a full core.
    speed: f64,
    /// Requests served, for per-pod balance.
    pub served: u64,
    /// Connections kube-proxy has given it and that are still open (IPVS lc).
    pub active_conns: u32,
    rng: Stream,
}

impl Pod {
    /// A ready pod on `node` with a CPU limit of `cpu` cores.
    pub fn new(node: u16, cpu: f64, rng: Stream) -> Self {
        let workers = cpu.ceil().max(1.0) as usize;
        Pod {
            node,
            ready: true,
            alive: true,
            epoch: 0,
            free_at: vec![SimTime::ZERO; workers],
            speed: cpu / workers as f64,
            served: 0,
            active_conns: 0,
            rng,
        }
    }

    /// Queue one request arriving at `now`; returns when it is done. FIFO over the pod's
    /// workers (its CPU limit), and each piece of work also needs one of its node's `cores`,
    /// which the node's packet processing uses too. A limit below one core stretches the work
    /// (CFS quota) without holding the core longer than the work itself.
    #[inline]
    pub fn serve(&mut self, now: SimTime, dist: &ServiceTime, cores: &mut Cores) -> SimTime {
        let work = sample(dist, &mut self.rng);
        let stretched = SimDuration::from_secs_f64(work.as_secs_f64() / self.speed);
        let (i, free) = self
            .free_at
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(_, t)| t)
            .unwrap_or((0, SimTime::ZERO));
        let done = cores.run(now, free.max(now), work)
            + SimDuration(stretched.as_nanos().saturating_sub(work.as_nanos()));
        if let Some(slot) = self.free_at.get_mut(i) {
            *slot = done;
        }
        self.served += 1;
        done
    }

    /// Stop: queued work is lost.
    pub fn crash(&mut self) {
        self.alive = false;
        self.epoch = self.epoch.wrapping_add(1);
        self.active_conns = 0;
    }

    /// Start again, idle.
    pub fn restart(&mut self, now: SimTime) {
        self.alive = true;
        self.ready = true;
        self.free_at.iter_mut().for_each(|t| *t = now);
    }
}

/// Draw one service time.
#[inline]
pub fn sample(dist: &ServiceTime, rng: &mut Stream) -> SimDuration {
    match *dist {
        ServiceTime::Constant { time } => time,
        ServiceTime::Exponential { mean } => {
            let x: f64 = Exp1.sample(rng);
            SimDuration::from_secs_f64(mean.as_secs_f64() * x)
        }
        ServiceTime::LogNormal { median, sigma } => {
            let z: f64 = StandardNormal.sample(rng);
            SimDuration::from_secs_f64(median.as_secs_f64() * (sigma * z).exp())
        }
    }
}

/// kube-proxy on one node: picks an endpoint for each new connection it sees.
#[derive(Debug, Clone)]
pub struct KubeProxy {
    mode: KubeProxyMode,
    /// IPVS round robin's position, per virtual service (ip_vs_rr.c keeps it per service);
    /// grown on first use.
    rr_next: Vec<usize>,
    rng: Stream,
    /// Scratch for the eligible endpoints of one choice (kept to reuse its allocation).
    eligible: Vec<u32>,
}

impl KubeProxy {
    /// kube-proxy in `mode`, drawing from `rng`.
    pub fn new(mode: KubeProxyMode, rng: Stream) -> Self {
        KubeProxy {
            mode,
            rr_next: Vec::new(),
            rng,
            eligible: Vec::new(),
        }
    }

    /// The endpoint for a new connection arriving at `node`, or `None` if this node has no
    /// endpoint to offer (for Local policy: no local ready pod).
    ///
    /// The endpoints are the ready pods (for Local policy: of this node) in pod order, as the
    /// KUBE-SVC / KUBE-SVL chains and IPVS destinations list them.
    pub fn choose(&mut self, node: u16, policy: TrafficPolicy, pods: &[Pod]) -> Option<u32> {
        let nodes = pods
            .iter()
            .map(|p| usize::from(p.node) + 1)
            .max()
            .unwrap_or(0);
        let eps = Endpoints::new(pods, nodes.max(usize::from(node) + 1));
        self.choose_for(0, node, policy, pods, &eps)
    }

    /// [`choose`](Self::choose) among the endpoints `pods` of service `service`, listed by
    /// `eps` (kept by the caller as readiness changes): a choice costs what the node has under
    /// Local policy and the same at 6 pods as at 6,000 under Cluster policy, never a pass over
    /// every pod.
    pub fn choose_for(
        &mut self,
        service: u32,
        node: u16,
        policy: TrafficPolicy,
        pods: &[Pod],
        eps: &Endpoints,
    ) -> Option<u32> {
        let s = service as usize;
        let mut scratch = std::mem::take(&mut self.eligible);
        scratch.clear();
        let eligible: &[u32] = match policy {
            TrafficPolicy::Cluster => {
                debug_assert_eq!(eps.ready, ready_endpoints(pods), "stale endpoints");
                &eps.ready
            }
            TrafficPolicy::Local => {
                scratch.extend(eps.on_node(node).iter().copied().filter(|&i| {
                    let p = &pods[i as usize];
                    debug_assert_eq!(p.node, node, "a pod moved to another node");
                    p.ready
                }));
                &scratch
            }
        };
        let pick = match self.mode {
            _ if eligible.is_empty() => None,
            // KUBE-SVC chain: rule i matches with probability 1/(n-i): uniform overall.
            KubeProxyMode::Iptables => Some(eligible[self.rng.random_range(0..eligible.len())]),
            KubeProxyMode::IpvsRoundRobin => {
                if self.rr_next.len() <= s {
                    self.rr_next.resize(s + 1, 0);
                }
                let pick = self.rr_next[s] % eligible.len();
                self.rr_next[s] = self.rr_next[s].wrapping_add(1);
                Some(eligible[pick])
            }
            // ip_vs_lc.c: fewest active connections, first in list on ties.
            KubeProxyMode::IpvsLeastConnection => eligible
                .iter()
                .copied()
                .min_by_key(|&i| (pods[i as usize].active_conns, i)),
        };
        self.eligible = scratch;
        pick
    }
}

/// The ready endpoints of `pods` in pod order (as the KUBE-SVC chain and IPVS list them).
pub fn ready_endpoints(pods: &[Pod]) -> Vec<u32> {
    (0..pods.len() as u32)
        .filter(|&i| pods[i as usize].ready)
        .collect()
}

/// One service's endpoints as kube-proxy programs them: its ready pods (the Cluster list) and,
/// per node, its pods there (a pod's node is fixed when it is made; readiness is checked at
/// the choice). Indices are into the service's pods.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    ready: Vec<u32>,
    /// The pods node by node, ascending within a node; node `n`'s are
    /// `by_node[node_start[n]..node_start[n + 1]]`.
    by_node: Vec<u32>,
    node_start: Vec<u32>,
}

impl Endpoints {
    /// The endpoints of `pods` on a cluster of `nodes` nodes.
    pub fn new(pods: &[Pod], nodes: usize) -> Self {
        let mut node_start = vec![0u32; nodes + 1];
        for p in pods {
            node_start[usize::from(p.node) + 1] += 1;
        }
        for n in 0..nodes {
            node_start[n + 1] += node_start[n];
        }
        let mut next = node_start.clone();
        let mut by_node = vec![0u32; pods.len()];
        for (i, p) in pods.iter().enumerate() {
            let at = &mut next[usize::from(p.node)];
            by_node[*at as usize] = i as u32;
            *at += 1;
        }
        Endpoints {
            ready: ready_endpoints(pods),
            by_node,
            node_start,
        }
    }

    /// Some pod's readiness changed.
    pub fn refresh(&mut self, pods: &[Pod]) {
        self.ready = ready_endpoints(pods);
    }

    /// The ready pods, in pod order.
    pub fn ready(&self) -> &[u32] {
        &self.ready
    }

    /// Every pod on `node` (ready or not), ascending.
    pub fn on_node(&self, node: u16) -> &[u32] {
        let n = usize::from(node);
        match (self.node_start.get(n), self.node_start.get(n + 1)) {
            (Some(&a), Some(&b)) => &self.by_node[a as usize..b as usize],
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sim_core::Streams;

    #[test]
    fn pod_is_fifo_over_its_workers() {
        let s = Streams::new(1);
        let dist = ServiceTime::Constant {
            time: SimDuration::from_micros(100),
        };
        let mut cores = Cores::new(4);
        let mut one = Pod::new(0, 1.0, s.stream("a"));
        assert_eq!(one.serve(SimTime(0), &dist, &mut cores), SimTime(100_000));
        assert_eq!(one.serve(SimTime(0), &dist, &mut cores), SimTime(200_000));
        let mut half = Pod::new(0, 0.5, s.stream("b"));
        assert_eq!(half.serve(SimTime(0), &dist, &mut cores), SimTime(200_000));
        let mut two = Pod::new(0, 2.0, s.stream("c"));
        let mut cores = Cores::new(4);
        assert_eq!(two.serve(SimTime(0), &dist, &mut cores), SimTime(100_000));
        assert_eq!(two.serve(SimTime(0), &dist, &mut cores), SimTime(100_000));
        assert_eq!(two.serve(SimTime(0), &dist, &mut cores), SimTime(200_000));
    }

    #[test]
    fn pods_and_packet_work_share_the_nodes_cores() {
        let s = Streams::new(1);
        let dist = ServiceTime::Constant {
            time: SimDuration::from_micros(100),
        };
        // One core, busy with 50 us of softirq work: the pod's request waits for it.
        let mut cores = Cores::new(1);
        assert_eq!(
            cores.run(SimTime(0), SimTime(0), SimDuration::from_micros(50)),
            SimTime(50_000)
        );
        let mut pod = Pod::new(0, 1.0, s.stream("a"));
        assert_eq!(pod.serve(SimTime(0), &dist, &mut cores), SimTime(150_000));
    }

    #[test]
    fn cores_never_run_more_than_they_have() {
        let us = SimDuration::from_micros;
        let mut cores = Cores::new(2);
        // Work reserved ahead of time (a response due at 100 us) ...
        assert_eq!(
            cores.run(SimTime(0), SimTime(100_000), us(10)),
            SimTime(110_000)
        );
        // ... does not delay work offered for earlier ...
        assert_eq!(cores.run(SimTime(0), SimTime(0), us(10)), SimTime(10_000));
        // ... and a burst at time 0 fills both cores, gaps first: capped at 2 cores' worth.
        let done: Vec<u64> = (0..6)
            .map(|_| cores.run(SimTime(0), SimTime(0), us(30)).0 / 1000)
            .collect();
        assert_eq!(done, vec![30, 40, 60, 70, 90, 100]);
        assert_eq!(cores.busy(), us(200));
    }

    #[test]
    fn local_policy_only_offers_local_pods() {
        let s = Streams::new(1);
        let pods: Vec<Pod> = (0..4)
            .map(|i| Pod::new(i % 2, 1.0, s.stream("p")))
            .collect();
        let mut kp = KubeProxy::new(KubeProxyMode::Iptables, s.stream("kp"));
        for _ in 0..50 {
            let p = kp.choose(1, TrafficPolicy::Local, &pods).unwrap();
            assert_eq!(pods[p as usize].node, 1);
        }
        // Every node runs its own kube-proxy (its Local endpoints are cached per node).
        let mut on_node_5 = KubeProxy::new(KubeProxyMode::Iptables, s.stream("kp5"));
        assert_eq!(on_node_5.choose(5, TrafficPolicy::Local, &pods), None);
        let mut rr = KubeProxy::new(KubeProxyMode::IpvsRoundRobin, s.stream("rr"));
        let picks: Vec<u32> = (0..5)
            .map(|_| rr.choose(0, TrafficPolicy::Cluster, &pods).unwrap())
            .collect();
        assert_eq!(picks, vec![0, 1, 2, 3, 0]);
    }

    #[test]
    fn endpoints_list_each_nodes_pods_and_the_ready_ones() {
        let s = Streams::new(1);
        let mut pods: Vec<Pod> = [2u16, 0, 2, 1, 0]
            .iter()
            .map(|&n| Pod::new(n, 1.0, s.stream("p")))
            .collect();
        let mut eps = Endpoints::new(&pods, 4);
        assert_eq!(eps.on_node(0), [1, 4]);
        assert_eq!(eps.on_node(1), [3]);
        assert_eq!(eps.on_node(2), [0, 2]);
        assert!(eps.on_node(3).is_empty() && eps.on_node(9).is_empty());
        assert_eq!(eps.ready(), [0, 1, 2, 3, 4]);
        pods[2].ready = false;
        eps.refresh(&pods);
        assert_eq!(eps.ready(), [0, 1, 3, 4]);
        let mut kp = KubeProxy::new(KubeProxyMode::IpvsRoundRobin, s.stream("kp"));
        let picks: Vec<_> = (0..3)
            .map(|_| kp.choose_for(0, 2, TrafficPolicy::Local, &pods, &eps))
            .collect();
        assert_eq!(picks, [Some(0), Some(0), Some(0)], "pod 2 is not ready");
    }

    #[test]
    fn iptables_is_uniform() {
        let s = Streams::new(3);
        let pods: Vec<Pod> = (0..4).map(|i| Pod::new(i, 1.0, s.stream("p"))).collect();
        let mut kp = KubeProxy::new(KubeProxyMode::Iptables, s.stream("kp"));
        let mut counts = [0u32; 4];
        for _ in 0..40_000 {
            counts[kp.choose(0, TrafficPolicy::Cluster, &pods).unwrap() as usize] += 1;
        }
        // 10,000 expected each; 5 sigma is about 430.
        assert!(
            counts.iter().all(|&c| (9_500..10_500).contains(&c)),
            "{counts:?}"
        );
    }
}

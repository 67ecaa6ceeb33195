//! Pods and kube-proxy: which endpoint a new connection gets, and how long a pod takes.

use rand::Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};
use sim_core::{SimDuration, SimTime, Stream};

use crate::scenario::{KubeProxyMode, ServiceTime, TrafficPolicy};

/// A node's CPU cores. Packet processing (softirq: forwarding, conntrack, NAT) and the node's
/// pods share them: work runs FIFO on whichever core frees first.
#[derive(Debug, Clone)]
pub struct Cores {
    free_at: Vec<SimTime>,
    /// The latest time work was offered at.
    last_offer: SimTime,
}

impl Cores {
    /// `n` idle cores (at least one).
    pub fn new(n: usize) -> Self {
        Cores {
            free_at: vec![SimTime::ZERO; n.max(1)],
            last_offer: SimTime::ZERO,
        }
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.free_at.len()
    }

    /// Whether there are none (never: at least one is made).
    pub fn is_empty(&self) -> bool {
        self.free_at.is_empty()
    }

    /// Run `work` no earlier than `at` on the first free core; returns when it is done.
    ///
    /// As a link's queue (`sim_core::topology::Link::transmit`): work offered for an earlier
    /// time than work already reserved (a response's future arrival) does not wait for it; its
    /// cost still lands on the core.
    #[inline]
    pub fn run(&mut self, at: SimTime, work: SimDuration) -> SimTime {
        if work == SimDuration::ZERO {
            return at;
        }
        let (i, free) = self
            .free_at
            .iter()
            .copied()
            .enumerate()
            .min_by_key(|&(_, t)| t)
            .unwrap_or((0, at));
        let in_order = at >= self.last_offer;
        self.last_offer = self.last_offer.max(at);
        let queued = free.max(at) + work;
        if let Some(c) = self.free_at.get_mut(i) {
            *c = queued;
        }
        if in_order {
            queued
        } else {
            at + work
        }
    }

    /// All idle from `now` (a rebooted node).
    pub fn reset(&mut self, now: SimTime) {
        self.free_at.iter_mut().for_each(|t| *t = now);
        self.last_offer = now;
    }
}

/// One pod: a FIFO queue in front of `workers` servers.
#[derive(Debug, Clone)]
pub struct Pod {
    /// Index of the node it runs on.
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
        let done = cores.run(free.max(now), work)
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
    rr_next: usize,
    rng: Stream,
}

impl KubeProxy {
    /// kube-proxy in `mode`, drawing from `rng`.
    pub fn new(mode: KubeProxyMode, rng: Stream) -> Self {
        KubeProxy {
            mode,
            rr_next: 0,
            rng,
        }
    }

    /// The endpoint for a new connection arriving at `node`, or `None` if this node has no
    /// endpoint to offer (for Local policy: no local ready pod).
    pub fn choose(&mut self, node: u16, policy: TrafficPolicy, pods: &[Pod]) -> Option<u32> {
        let eligible = |p: &Pod| p.ready && (policy == TrafficPolicy::Cluster || p.node == node);
        let count = pods.iter().filter(|p| eligible(p)).count();
        if count == 0 {
            return None;
        }
        let nth = |n: usize| {
            pods.iter()
                .enumerate()
                .filter(|(_, p)| eligible(p))
                .nth(n)
                .map(|(i, _)| i as u32)
        };
        match self.mode {
            // KUBE-SVC chain: rule i matches with probability 1/(n-i): uniform overall.
            KubeProxyMode::Iptables => nth(self.rng.random_range(0..count)),
            KubeProxyMode::IpvsRoundRobin => {
                let pick = self.rr_next % count;
                self.rr_next = self.rr_next.wrapping_add(1);
                nth(pick)
            }
            // ip_vs_lc.c: fewest active connections, first in list on ties.
            KubeProxyMode::IpvsLeastConnection => pods
                .iter()
                .enumerate()
                .filter(|(_, p)| eligible(p))
                .min_by_key(|(i, p)| (p.active_conns, *i))
                .map(|(i, _)| i as u32),
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
            cores.run(SimTime(0), SimDuration::from_micros(50)),
            SimTime(50_000)
        );
        let mut pod = Pod::new(0, 1.0, s.stream("a"));
        assert_eq!(pod.serve(SimTime(0), &dist, &mut cores), SimTime(150_000));
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
        assert_eq!(kp.choose(5, TrafficPolicy::Local, &pods), None);
        let mut rr = KubeProxy::new(KubeProxyMode::IpvsRoundRobin, s.stream("rr"));
        let picks: Vec<u32> = (0..5)
            .map(|_| rr.choose(0, TrafficPolicy::Cluster, &pods).unwrap())
            .collect();
        assert_eq!(picks, vec![0, 1, 2, 3, 0]);
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

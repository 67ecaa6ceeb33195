//! The ingress tier at run time: a request that reached an ingress-controller pod (and spent
//! the ingress's own processing there, its `pods.service_time`) is proxied by nginx to a pod
//! of the backend service, straight to the pod's IP over an upstream keep-alive connection,
//! and its answer goes back the way the client's request came.
//!
//! What nginx does on the way, after ngx_http_upstream.c and ngx_http_upstream_round_robin.c:
//! - the upstream servers are the backend's ready endpoints; each ingress pod picks among
//!   them round robin (equal weights: plain rotation), skipping servers it already tried for
//!   this request and servers that failed `max_fails` times within `fail_timeout`; none left:
//!   502 ("no live upstreams");
//! - a server that does not answer within `upstream_timeout` is a `timeout`; with
//!   `proxy_next_upstream error timeout` (the default) the request goes to the next server
//!   (`ngx_http_upstream_next`) while `proxy_next_upstream_tries` allows, else the client
//!   gets 504 on its open connection: a failed request, not a reset;
//! - an answered request returns its upstream connection to the idle pool (`keepalive`);
//!   a failed one closes it, and the next request to that server opens a new one.
//!
//! The client's connection ends at the ingress pod, so a backend change never moves or resets
//! it; only the ingress service's own route changes can. Servers a request tried are kept in
//! a 64-bit mask, as nginx's `tried` bitmap, over the server's index modulo 64.

use std::collections::BTreeMap;

use sim_core::LogHistogram;

use super::*;
use crate::ingress::IngressSpec;

/// The ingress tiers of a run and their requests in flight upstream.
#[derive(Debug, Default)]
pub struct Proxy {
    /// Per service: its tier, when it is one.
    tiers: Vec<Option<Tier>>,
    legs: BTreeMap<Key, Leg>,
    /// When requests in an ingress pod got there (until their leg starts).
    arrived: BTreeMap<Key, SimTime>,
}

#[derive(Debug)]
struct Tier {
    spec: IngressSpec,
    backend: u32,
    /// Per ingress pod (its offset in the tier's pods): the round robin's next server, and
    /// each server's failures and when the last was counted.
    rr: Vec<usize>,
    peers: Vec<Vec<(u32, SimTime)>>,
    /// Idle upstream connections per (ingress pod, backend pod).
    idle: BTreeMap<(u32, u32), u32>,
    book: ProxyResult,
}

/// One request on its way upstream.
#[derive(Debug, Clone, Copy)]
struct Leg {
    tier: u32,
    /// The ingress pod (lab pod index) and the backend pod now tried.
    ingress_pod: u32,
    peer: u32,
    tries: u8,
    tried: u64,
    /// The backend pod's epoch when it took the request.
    epoch: u32,
    /// When the request reached the ingress pod, and the backend time of the current try
    /// (from its arrival at the backend pod until the pod finished it).
    arrived: SimTime,
    backend_from: SimTime,
    backend_time: SimDuration,
}

/// What one ingress tier did in a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyResult {
    /// The ingress service.
    pub service: String,
    /// Its backend service.
    pub backend: String,
    /// Requests proxied (first tries).
    pub requests: u64,
    /// Tries beyond the first (`proxy_next_upstream`).
    pub next_upstream: u64,
    /// Tries that timed out (`upstream_timeout`).
    pub upstream_timeouts: u64,
    /// Requests answered 504 (every try timed out).
    pub gateway_timeout: u64,
    /// Requests answered 502 (no live upstream left).
    pub bad_gateway: u64,
    /// Upstream connections opened (a keep-alive pool miss).
    pub upstream_connections: u64,
    /// The tier's own cost per answered request: its time from the request reaching the
    /// ingress pod to the answer leaving it, without the backend pod's time (nginx's queue
    /// and processing, the hop to the backend and back, and any upstream retries).
    pub overhead: LogHistogram,
}

impl Proxy {
    /// The tiers among `svcs` (defined by `defs`), or none without one.
    pub(super) fn new(defs: &[crate::cluster::ServiceDef], svcs: &[Svc]) -> Option<Proxy> {
        if defs.iter().all(|d| d.ingress.is_none()) {
            return None;
        }
        let tiers = defs
            .iter()
            .zip(svcs)
            .map(|(d, s)| {
                let spec = d.ingress.clone()?;
                let backend = svcs.iter().position(|b| b.name == spec.backend)?;
                let (own, theirs) = (s.pods.len(), svcs[backend].pods.len());
                Some(Tier {
                    book: ProxyResult {
                        service: s.name.clone(),
                        backend: spec.backend.clone(),
                        ..ProxyResult::default()
                    },
                    spec,
                    backend: backend as u32,
                    rr: vec![0; own],
                    peers: vec![vec![(0, SimTime::ZERO); theirs]; own],
                    idle: BTreeMap::new(),
                })
            })
            .collect();
        Some(Proxy {
            tiers,
            legs: BTreeMap::new(),
            arrived: BTreeMap::new(),
        })
    }

    /// Whether service `s` is an ingress tier.
    pub(super) fn is_tier(&self, s: u32) -> bool {
        matches!(self.tiers.get(s as usize), Some(Some(_)))
    }

    /// Request `key` reached an ingress pod of tier `s` at `now`.
    pub(super) fn arrive(&mut self, key: Key, s: u32, now: SimTime) {
        if self.is_tier(s) {
            self.arrived.insert(key, now);
        }
    }

    /// The tiers' books.
    pub(super) fn results(&self) -> Vec<ProxyResult> {
        self.tiers
            .iter()
            .flatten()
            .map(|t| t.book.clone())
            .collect()
    }
}

impl Lab {
    /// Request `key` is done at ingress pod `ipod` of tier `s`: proxy it upstream.
    pub(super) fn proxy_request(&mut self, key: Key, ipod: u32, s: u32, sched: &mut Scheduler<Ev>) {
        let Some(proxy) = self.proxy.as_mut() else {
            return;
        };
        if let Some(Some(t)) = proxy.tiers.get_mut(s as usize) {
            t.book.requests += 1;
        }
        let arrived = proxy.arrived.remove(&key).unwrap_or(sched.now());
        proxy.legs.insert(
            key,
            Leg {
                tier: s,
                ingress_pod: ipod,
                peer: 0,
                tries: 0,
                tried: 0,
                epoch: 0,
                arrived,
                backend_from: SimTime::ZERO,
                backend_time: SimDuration::ZERO,
            },
        );
        self.proxy_try(key, sched);
    }

    /// Send request `key` to the next upstream server, or answer 502 when none is left.
    fn proxy_try(&mut self, key: Key, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(proxy) = self.proxy.as_mut() else {
            return;
        };
        let Some(leg) = proxy.legs.get_mut(&key) else {
            return;
        };
        let Some(Some(tier)) = proxy.tiers.get_mut(leg.tier as usize) else {
            return;
        };
        let own = (leg.ingress_pod - self.svcs[leg.tier as usize].pods.start) as usize;
        let backends = self.svcs[tier.backend as usize].pods.clone();
        let n = backends.len();
        let (max_fails, fail_timeout) = (tier.spec.max_fails, tier.spec.fail_timeout);
        let chosen = (0..n).map(|j| (tier.rr[own] + j) % n).find(|&j| {
            let ready = self.pods[backends.start as usize + j].ready;
            let tried = leg.tried & (1 << (j % 64)) != 0;
            let (fails, at) = tier.peers[own][j];
            let down = max_fails > 0 && fails >= max_fails && now < at + fail_timeout;
            ready && !tried && !down
        });
        let Some(j) = chosen else {
            tier.book.bad_gateway += 1;
            proxy.legs.remove(&key);
            self.proxy_answer(key, Reply::Gateway { timeout: false }, sched);
            return;
        };
        tier.rr[own] = (j + 1) % n;
        leg.tried |= 1 << (j % 64);
        leg.tries += 1;
        if leg.tries > 1 {
            tier.book.next_upstream += 1;
        }
        leg.peer = backends.start + j as u32;
        let pair = (leg.ingress_pod, leg.peer);
        match tier.idle.get_mut(&pair) {
            Some(k) if *k > 0 => *k -= 1,
            _ => tier.book.upstream_connections += 1,
        }
        let (tries, timeout) = (leg.tries, tier.spec.upstream_timeout);
        let from = self.pods[leg.ingress_pod as usize].node;
        let to = self.pods[leg.peer as usize].node;
        let bytes = self
            .reqs
            .get(key)
            .map_or(0, |r| self.clients[r.client as usize].request_bytes);
        if let Some(at) = self.pod_to_pod(from, to, now, bytes) {
            let _ = sched.schedule_at(at, Ev::AtUpstream(key, tries));
        }
        let _ = sched.schedule_at(now + timeout, Ev::UpstreamTimeout(key, tries));
    }

    /// From a pod on node `from` to a pod on node `to`: over the bridge on one node, else
    /// through the router; `None` when a link on the way is down.
    fn pod_to_pod(&mut self, from: u16, to: u16, now: SimTime, bytes: u32) -> Option<SimTime> {
        if from == to {
            return Some(now);
        }
        let path = [
            self.nodes[usize::from(from)].uplink,
            self.nodes[usize::from(to)].downlink,
        ];
        self.topo.send(&path, now, bytes)
    }

    /// The current leg of `key`, if `tries` is still its try and the request still lives.
    fn live_leg(&mut self, key: Key, tries: u8) -> Option<Leg> {
        let leg = *self.proxy.as_ref()?.legs.get(&key)?;
        if self.reqs.get(key).is_none() {
            // The client gave up (timeout): nginx would see the client close and stop.
            self.proxy.as_mut()?.legs.remove(&key);
            return None;
        }
        (leg.tries == tries).then_some(leg)
    }

    /// Try `tries` of `key` reached its backend pod: served if the pod runs.
    pub(super) fn at_upstream(&mut self, key: Key, tries: u8, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(leg) = self.live_leg(key, tries) else {
            return;
        };
        let backend = self.proxy_tier(leg.tier);
        let pod = &mut self.pods[leg.peer as usize];
        if !pod.alive {
            return; // nothing answers: the upstream timeout will
        }
        let epoch = pod.epoch;
        let cores = &mut self.nodes[usize::from(pod.node)].cores;
        let done = pod.serve(now, &self.svcs[backend as usize].service_time, cores);
        self.series.served(pod.node, now);
        if let Some(l) = self.proxy.as_mut().and_then(|p| p.legs.get_mut(&key)) {
            l.epoch = epoch;
            l.backend_from = now;
        }
        let _ = sched.schedule_at(done, Ev::UpstreamDone(key, tries));
    }

    /// The backend service of tier `s`.
    fn proxy_tier(&self, s: u32) -> u32 {
        match self.proxy.as_ref().and_then(|p| p.tiers.get(s as usize)) {
            Some(Some(t)) => t.backend,
            _ => s,
        }
    }

    /// The backend pod finished try `tries` of `key`: its answer goes back to the ingress pod.
    pub(super) fn upstream_done(&mut self, key: Key, tries: u8, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(leg) = self.live_leg(key, tries) else {
            return;
        };
        let pod = &self.pods[leg.peer as usize];
        if !pod.alive || pod.epoch != leg.epoch || !self.nodes[usize::from(pod.node)].up {
            return; // died with the request in it
        }
        if let Some(l) = self.proxy.as_mut().and_then(|p| p.legs.get_mut(&key)) {
            l.backend_time = now - l.backend_from;
        }
        let (from, to) = (pod.node, self.pods[leg.ingress_pod as usize].node);
        let bytes = self
            .reqs
            .get(key)
            .map_or(0, |r| self.clients[r.client as usize].response_bytes);
        if let Some(at) = self.pod_to_pod(from, to, now, bytes) {
            let _ = sched.schedule_at(at, Ev::UpstreamReply(key, tries));
        }
    }

    /// The backend's answer reached the ingress pod: the upstream connection goes back to the
    /// pool, the server's failures are forgotten, and the client gets the answer.
    pub(super) fn upstream_reply(&mut self, key: Key, tries: u8, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(leg) = self.live_leg(key, tries) else {
            return;
        };
        let Some(proxy) = self.proxy.as_mut() else {
            return;
        };
        proxy.legs.remove(&key);
        if let Some(Some(tier)) = proxy.tiers.get_mut(leg.tier as usize) {
            let own = (leg.ingress_pod - self.svcs[leg.tier as usize].pods.start) as usize;
            let j = (leg.peer - self.svcs[tier.backend as usize].pods.start) as usize;
            tier.peers[own][j].0 = 0;
            let idle = tier.idle.entry((leg.ingress_pod, leg.peer)).or_insert(0);
            if *idle < tier.spec.keepalive {
                *idle += 1;
            }
            let own_time = now.saturating_since(leg.arrived);
            tier.book.overhead.record(SimDuration(
                own_time
                    .as_nanos()
                    .saturating_sub(leg.backend_time.as_nanos()),
            ));
        }
        let ipod = &self.pods[leg.ingress_pod as usize];
        let epoch = self.reqs.get(key).map_or(0, |r| r.pod_epoch);
        if !ipod.alive || ipod.epoch != epoch {
            return; // the ingress pod died meanwhile
        }
        self.proxy_answer(key, Reply::Response, sched);
    }

    /// Try `tries` of `key` got no answer in time: the server counts a failure, its upstream
    /// connection is closed, and the request goes to the next server or is answered 504.
    pub(super) fn upstream_timeout(&mut self, key: Key, tries: u8, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(leg) = self.live_leg(key, tries) else {
            return;
        };
        let Some(proxy) = self.proxy.as_mut() else {
            return;
        };
        let Some(Some(tier)) = proxy.tiers.get_mut(leg.tier as usize) else {
            return;
        };
        let own = (leg.ingress_pod - self.svcs[leg.tier as usize].pods.start) as usize;
        let j = (leg.peer - self.svcs[tier.backend as usize].pods.start) as usize;
        let peer = &mut tier.peers[own][j];
        *peer = (peer.0 + 1, now);
        tier.book.upstream_timeouts += 1;
        if leg.tries < tier.spec.tries {
            self.proxy_try(key, sched);
        } else {
            tier.book.gateway_timeout += 1;
            proxy.legs.remove(&key);
            self.proxy_answer(key, Reply::Gateway { timeout: true }, sched);
        }
    }

    /// The ingress pod of `key` answers the client with `reply`.
    fn proxy_answer(&mut self, key: Key, reply: Reply, sched: &mut Scheduler<Ev>) {
        let pod = self
            .reqs
            .get(key)
            .and_then(|r| self.conns.get(r.conn))
            .and_then(|c| c.pod());
        if let Some(p) = pod {
            let node = self.pods[p as usize].node;
            self.respond(key, node, reply, sched);
        }
    }
}

//! The router RIB: Adj-RIB-In per peer, multipath best path, stale routes, FIB programming;
//! and MetalLB's rule for which nodes advertise a service.
//!
//! ```text
//!  UPDATE from peer ──▶ Rib::update ──┐          (changed prefixes)
//!  session down ──▶ Rib::peer_down ───┼─▶ best set per prefix ──▶ Fib::rib_changed
//!  End-of-RIB ──▶ Rib::end_of_rib ────┤                                │ + fib_delay
//!  stale timer ──▶ Rib::on_timeout ───┘        Fib::on_timeout ◀───────┘
//!                                                 └─▶ (prefix, next hops) ──▶ EcmpGroup
//! ```
//!
//! Simplification, on purpose: every route to a prefix is equal. RFC 4271 §9.1 picks the best
//! route by LOCAL_PREF, AS path length, origin, MED and so on, and multipath (FRR
//! `bgpd/bgp_mpath.c`, `maximum-paths`) keeps the routes that tie with it. MetalLB's speakers
//! all send the same attributes for a service (same ASN, no MED, the pool's LOCAL_PREF and
//! communities), so every peer's route ties and the multipath set is every peer that announces
//! the prefix, up to `maximum_paths`. Attributes are therefore not stored.
//!
//! ```
//! use bgp::rib::{Fib, Rib};
//! use bgp::wire::Ipv4Prefix;
//! use sim_core::{SimDuration, SimTime};
//!
//! let vip = Ipv4Prefix::host("203.0.113.10".parse().unwrap());
//! let mut rib = Rib::default();
//! let mut fib = Fib::new(Fib::DEFAULT_PROGRAMMING_DELAY);
//! let t0 = SimTime::ZERO;
//! for (node, addr) in [(1, "10.0.0.11"), (2, "10.0.0.12")] {
//!     let changed = rib.update(t0, node, &[(vip, addr.parse().unwrap())], &[]);
//!     fib.rib_changed(t0, &rib, &changed);
//! }
//! assert_eq!(rib.next_hops(vip), vec![1, 2]);
//! let due = fib.next_timeout().unwrap();
//! assert_eq!(due, t0 + SimDuration::from_millis(60));
//! assert_eq!(fib.on_timeout(due), vec![(vip, vec![1, 2])]);
//! ```

use crate::wire::Ipv4Prefix;
use sim_core::{SimDuration, SimTime};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// A BGP peer of the router: the lab's node index.
pub type PeerId = u32;

/// One route in a peer's Adj-RIB-In.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    /// NEXT_HOP as announced (MetalLB: the node's own address).
    pub next_hop: Ipv4Addr,
    /// Kept across the peer's restart (RFC 4724 §4.2), until replaced, End-of-RIB or expiry.
    pub stale: bool,
    /// When the route was last announced.
    pub learned_at: SimTime,
}

/// The router's routes: Adj-RIB-In per peer, multipath over all of them (see the module doc),
/// and graceful-restart stale timers per peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rib {
    maximum_paths: usize,
    /// Prefix -> peer -> route; both ordered, so iteration order is deterministic.
    routes: BTreeMap<Ipv4Prefix, BTreeMap<PeerId, Route>>,
    /// Peers in graceful restart: when their stale routes go (RFC 4724 §4.2 Restart Time).
    stale_until: BTreeMap<PeerId, SimTime>,
}

impl Default for Rib {
    /// No limit on the multipath set.
    fn default() -> Rib {
        Rib::new(usize::MAX)
    }
}

impl Rib {
    /// An empty RIB using at most `maximum_paths` routes per prefix (FRR `maximum-paths`; the
    /// first ones in next-hop order are used). Zero is raised to 1.
    pub fn new(maximum_paths: usize) -> Rib {
        Rib {
            maximum_paths: maximum_paths.max(1),
            routes: BTreeMap::new(),
            stale_until: BTreeMap::new(),
        }
    }

    /// Applies one UPDATE from `peer`: `withdrawn` leave its Adj-RIB-In, `announced` enter or
    /// replace (a stale route announced again is fresh again, RFC 4724 §4.2). A prefix in both
    /// lists counts as announced (RFC 4271 §4.3: treat the UPDATE "as though the WITHDRAWN
    /// ROUTES do not contain the address prefix"); if announced twice, the last wins.
    ///
    /// Returns the prefixes whose best set ([`Rib::next_hops`]) changed, ascending.
    pub fn update(
        &mut self,
        now: SimTime,
        peer: PeerId,
        announced: &[(Ipv4Prefix, Ipv4Addr)],
        withdrawn: &[Ipv4Prefix],
    ) -> Vec<Ipv4Prefix> {
        let mut touched: Vec<Ipv4Prefix> = withdrawn
            .iter()
            .copied()
            .chain(announced.iter().map(|&(prefix, _)| prefix))
            .collect();
        touched.sort_unstable();
        touched.dedup();
        let before = self.best_sets(&touched);
        for prefix in withdrawn {
            if announced.iter().all(|(p, _)| p != prefix) {
                self.remove(*prefix, peer);
            }
        }
        for &(prefix, next_hop) in announced {
            self.routes.entry(prefix).or_default().insert(
                peer,
                Route {
                    next_hop,
                    stale: false,
                    learned_at: now,
                },
            );
        }
        self.changed_since(before)
    }

    /// The BGP session with `peer` went down. Without graceful restart (`None`) its routes go
    /// at once. With it (`Some(restart_time)`, RFC 4724 §4.2 Receiving Speaker), they stay in
    /// use, marked stale, until [`Rib::end_of_rib`] from the peer or until `restart_time` has
    /// passed ([`Rib::on_timeout`]); a new down during that time restarts the clock.
    ///
    /// Returns the prefixes whose best set changed, ascending (none when routes are kept).
    pub fn peer_down(
        &mut self,
        now: SimTime,
        peer: PeerId,
        keep_stale_for: Option<SimDuration>,
    ) -> Vec<Ipv4Prefix> {
        let Some(keep) = keep_stale_for else {
            self.stale_until.remove(&peer);
            return self.drop_routes(peer, |_| true);
        };
        let mut any = false;
        for route in self.routes.values_mut().filter_map(|r| r.get_mut(&peer)) {
            route.stale = true;
            any = true;
        }
        if any {
            self.stale_until.insert(peer, now + keep);
        }
        Vec::new()
    }

    /// End-of-RIB from `peer` (RFC 4724 §2, an empty UPDATE): it has re-sent everything, so
    /// its routes still stale are gone (§4.2). Returns the prefixes whose best set changed.
    pub fn end_of_rib(&mut self, _now: SimTime, peer: PeerId) -> Vec<Ipv4Prefix> {
        self.stale_until.remove(&peer);
        self.drop_routes(peer, |route| route.stale)
    }

    /// When the next stale timer expires.
    pub fn next_timeout(&self) -> Option<SimTime> {
        self.stale_until.values().min().copied()
    }

    /// Drops the stale routes of every peer whose restart time has passed by `now` (RFC 4724
    /// §4.2). Nothing due does nothing. Returns the prefixes whose best set changed, ascending.
    pub fn on_timeout(&mut self, now: SimTime) -> Vec<Ipv4Prefix> {
        let due: Vec<PeerId> = self
            .stale_until
            .iter()
            .filter(|&(_, &until)| until <= now)
            .map(|(&peer, _)| peer)
            .collect();
        let mut changed = Vec::new();
        for peer in due {
            self.stale_until.remove(&peer);
            changed.extend(self.drop_routes(peer, |route| route.stale));
        }
        changed.sort_unstable();
        changed.dedup();
        changed
    }

    /// The multipath set for `prefix`: the peers whose routes are used, in the order FRR keeps
    /// its multipath list (`bgp_mpath.c` `bgp_path_info_mpath_cmp`: by next-hop address, then
    /// by peer), cut to `maximum_paths`. Stale routes count: graceful restart keeps forwarding.
    pub fn next_hops(&self, prefix: Ipv4Prefix) -> Vec<PeerId> {
        let Some(routes) = self.routes.get(&prefix) else {
            return Vec::new();
        };
        let mut paths: Vec<(Ipv4Addr, PeerId)> = routes
            .iter()
            .map(|(&peer, route)| (route.next_hop, peer))
            .collect();
        paths.sort_unstable();
        paths
            .into_iter()
            .take(self.maximum_paths)
            .map(|(_, peer)| peer)
            .collect()
    }

    /// `peer`'s route to `prefix`, if any.
    pub fn route(&self, prefix: Ipv4Prefix, peer: PeerId) -> Option<Route> {
        self.routes.get(&prefix)?.get(&peer).copied()
    }

    /// Every prefix with at least one route, ascending.
    pub fn prefixes(&self) -> impl Iterator<Item = Ipv4Prefix> + '_ {
        self.routes.keys().copied()
    }

    /// When `peer`'s stale routes expire, if it is in graceful restart.
    pub fn stale_until(&self, peer: PeerId) -> Option<SimTime> {
        self.stale_until.get(&peer).copied()
    }

    fn remove(&mut self, prefix: Ipv4Prefix, peer: PeerId) {
        if let Some(routes) = self.routes.get_mut(&prefix) {
            routes.remove(&peer);
            if routes.is_empty() {
                self.routes.remove(&prefix);
            }
        }
    }

    /// Removes `peer`'s routes that `which` selects; returns the prefixes whose best set changed.
    fn drop_routes(&mut self, peer: PeerId, which: impl Fn(&Route) -> bool) -> Vec<Ipv4Prefix> {
        let touched: Vec<Ipv4Prefix> = self
            .routes
            .iter()
            .filter(|(_, routes)| routes.get(&peer).is_some_and(&which))
            .map(|(&prefix, _)| prefix)
            .collect();
        let before = self.best_sets(&touched);
        for &prefix in &touched {
            self.remove(prefix, peer);
        }
        self.changed_since(before)
    }

    fn best_sets(&self, prefixes: &[Ipv4Prefix]) -> Vec<(Ipv4Prefix, Vec<PeerId>)> {
        prefixes
            .iter()
            .map(|&prefix| (prefix, self.next_hops(prefix)))
            .collect()
    }

    fn changed_since(&self, before: Vec<(Ipv4Prefix, Vec<PeerId>)>) -> Vec<Ipv4Prefix> {
        before
            .into_iter()
            .filter(|(prefix, hops)| self.next_hops(*prefix) != *hops)
            .map(|(prefix, _)| prefix)
            .collect()
    }
}

/// The forwarding table and the delay of programming it: a best-set change at `t` reaches the
/// kernel's FIB at `t + delay` (bgpd -> zebra -> netlink). Changes to one prefix within that
/// delay coalesce; the last one wins, at the time the first one was due.
///
/// The delay follows FRR's work queues and the lab's measurement: 60 ms by default
/// ([`Fib::DEFAULT_PROGRAMMING_DELAY`]); set it from the scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fib {
    delay: SimDuration,
    /// Prefix -> (when it is programmed, the next hops it gets then).
    pending: BTreeMap<Ipv4Prefix, (SimTime, Vec<PeerId>)>,
    /// What the FIB holds now.
    programmed: BTreeMap<Ipv4Prefix, Vec<PeerId>>,
}

impl Fib {
    /// Default programming delay, a best-path change to the kernel: FRR's work-queue holds,
    /// bgpd's route processing queue 50 ms (`process_queue->spec.hold`, bgp_route.c
    /// `bgp_process_queue_init`) then zebra's RIB queue 10 ms (`ZEBRA_RIB_PROCESS_HOLD_TIME`,
    /// zebra_router.h). Measured: a received UPDATE to the kernel's route change 61 ms
    /// (reallab/profiles/*: frr_router.log End-of-RIB -> router_monitor.log).
    pub const DEFAULT_PROGRAMMING_DELAY: SimDuration = SimDuration::from_millis(60);
    /// What a peer going down adds before the RIB changes: bgpd clears its routes through the
    /// peer's clear-node work queue, held 10 ms (`clear_node_queue->spec.hold`, bgp_route.c).
    /// With [`Fib::DEFAULT_PROGRAMMING_DELAY`], 70 ms; measured 68-85 ms from FRR's
    /// `%ADJCHANGE ... Down` to the route change (reallab/profiles/*: frr_router.log +
    /// router_monitor.log, every fault kind).
    pub const DEFAULT_PEER_DOWN_DELAY: SimDuration = SimDuration::from_millis(10);

    /// An empty FIB that programs changes `delay` after they happen.
    pub fn new(delay: SimDuration) -> Fib {
        Fib {
            delay,
            pending: BTreeMap::new(),
            programmed: BTreeMap::new(),
        }
    }

    /// The programming delay.
    pub fn delay(&self) -> SimDuration {
        self.delay
    }

    /// The best set of `prefix` became `next_hops` at `now` (empty: no route). Programmed at
    /// `now + delay`, or with the change already waiting for that prefix, replacing it.
    pub fn best_changed(&mut self, now: SimTime, prefix: Ipv4Prefix, next_hops: Vec<PeerId>) {
        self.best_changed_after(now, SimDuration::ZERO, prefix, next_hops);
    }

    /// [`Fib::best_changed`] for a change that reaches the programming queue `extra` after
    /// `now` (a peer's routes cleared through a work queue of its own).
    pub fn best_changed_after(
        &mut self,
        now: SimTime,
        extra: SimDuration,
        prefix: Ipv4Prefix,
        next_hops: Vec<PeerId>,
    ) {
        let due = now + extra + self.delay;
        self.pending
            .entry(prefix)
            .and_modify(|(_, hops)| hops.clone_from(&next_hops))
            .or_insert((due, next_hops));
    }

    /// [`Fib::best_changed`] for each of `changed`, with its best set read from `rib`.
    pub fn rib_changed(&mut self, now: SimTime, rib: &Rib, changed: &[Ipv4Prefix]) {
        self.rib_changed_after(now, SimDuration::ZERO, rib, changed);
    }

    /// [`Fib::rib_changed`] with [`Fib::best_changed_after`]'s `extra`.
    pub fn rib_changed_after(
        &mut self,
        now: SimTime,
        extra: SimDuration,
        rib: &Rib,
        changed: &[Ipv4Prefix],
    ) {
        for &prefix in changed {
            self.best_changed_after(now, extra, prefix, rib.next_hops(prefix));
        }
    }

    /// When the next change is programmed.
    pub fn next_timeout(&self) -> Option<SimTime> {
        self.pending.values().map(|&(due, _)| due).min()
    }

    /// Programs every change due by `now` and returns them, ascending by prefix: the prefix and
    /// its new next hops (empty: route removed). A change that ends where the FIB already is
    /// (a flap within the delay) programs nothing. Nothing due does nothing.
    pub fn on_timeout(&mut self, now: SimTime) -> Vec<(Ipv4Prefix, Vec<PeerId>)> {
        let due: Vec<Ipv4Prefix> = self
            .pending
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(&prefix, _)| prefix)
            .collect();
        let mut programmed = Vec::new();
        for prefix in due {
            let Some((_, hops)) = self.pending.remove(&prefix) else {
                continue;
            };
            let current = self.programmed.get(&prefix).map_or(&[][..], Vec::as_slice);
            if current == hops.as_slice() {
                continue;
            }
            if hops.is_empty() {
                self.programmed.remove(&prefix);
            } else {
                self.programmed.insert(prefix, hops.clone());
            }
            programmed.push((prefix, hops));
        }
        programmed
    }

    /// The next hops the FIB holds for `prefix` now (empty: none).
    pub fn next_hops(&self, prefix: Ipv4Prefix) -> &[PeerId] {
        self.programmed.get(&prefix).map_or(&[], Vec::as_slice)
    }
}

/// A Service's `externalTrafficPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum TrafficPolicy {
    /// Any node accepts and may forward to an endpoint elsewhere.
    Cluster,
    /// Only nodes with a local endpoint accept; the client address is kept.
    Local,
}

/// Whether a node's MetalLB speaker advertises a service in BGP mode (metallb
/// `speaker/bgp_controller.go` `ShouldAnnounce`):
/// - `node_eligible`: the checks before the endpoint rule: a BGPAdvertisement of the pool
///   selects this node (`poolMatchesNodeBGP`), the node's `NetworkUnavailable` condition is not
///   True, and it does not carry the `node.kubernetes.io/exclude-from-external-load-balancers`
///   label. Cordon (`spec.unschedulable`) and a NotReady node are *not* among them;
/// - `any_ready_endpoint`, `node_has_ready_local_endpoint`: some endpoint can serve
///   (`epslices.EndpointCanServe`: Ready unset or true, or Serving true), anywhere / on this
///   node (`hasHealthyEndpoint`).
///
/// Cluster: advertise while any endpoint can serve ("noEndpoints" otherwise). Local: only with a
/// local one ("noLocalEndpoints"), and the any-endpoint check also applies, as in the source.
pub fn advertises(
    policy: TrafficPolicy,
    node_has_ready_local_endpoint: bool,
    any_ready_endpoint: bool,
    node_eligible: bool,
) -> bool {
    let endpoints_ok = match policy {
        TrafficPolicy::Cluster => any_ready_endpoint,
        TrafficPolicy::Local => node_has_ready_local_endpoint && any_ready_endpoint,
    };
    node_eligible && endpoints_ok
}

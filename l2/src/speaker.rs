//! MetalLB's Layer 2 speaker on one node: who announces each service IP, the gratuitous ARP
//! bursts of a new leader, and ARP replies for the IPs it leads.
//!
//! ```text
//!  memberlist live set ─┐                                  ┌─► gratuitous ARP request + reply
//!  Kubernetes nodes ────┼─► reconcile every service ──────►│   at once, then on a 1.1 s ticker
//!  services, endpoints ─┘   (ShouldAnnounce: election)     │   until 5 s after the last SetBalancer
//!  ARP request for a VIP we lead ─────────────────────────►└─► unicast ARP reply
//! ```
//!
//! Sources:
//! - metallb `speaker/layer2_controller.go` `ShouldAnnounce`: no serving endpoint anywhere, no
//!   announcement; candidates are the speakers memberlist lists (`UsableSpeakers`: Alive and
//!   Suspect) or, with memberlist disabled, every Kubernetes node; nodes with the
//!   NetworkUnavailable condition or the `exclude-from-external-load-balancers` label are
//!   dropped; under `externalTrafficPolicy: Local` only nodes with a serving endpoint remain;
//!   the first in [`crate::election::election_order`] announces. Every reconcile that finds this
//!   node the winner calls `SetBalancer`, otherwise `DeleteBalancer`.
//! - metallb `internal/layer2/announcer.go` `SetBalancer`/`spamLoop`/`gratuitous`: each
//!   `SetBalancer` sets the IP's spam end to now + 5 s; an IP not already being spammed gets a
//!   burst at once; one ticker per speaker (1100 ms, metallb issue 172) starts when the spam map
//!   goes from empty to non-empty, and each tick sends a burst for every IP whose end has not
//!   passed (`now.After(until)` drops it) and stops when the map is empty. A single takeover
//!   thus gives bursts at 0, 1.1, 2.2, 3.3 and 4.4 s (the 5.5 s tick finds the end passed):
//!   five bursts, as DESIGN.md says. Two details DESIGN.md does not spell out: a later
//!   reconcile (any membership change) *extends* the bursts to 5 s after it, and an IP that
//!   joins while another is being spammed rides the existing ticker's phase. A burst for an IP
//!   no longer led sends nothing (`ipRefcnt <= 0`).
//! - metallb `internal/layer2/arp.go` `Gratuitous` (request then reply, both broadcast, built
//!   by [`Arp::metallb_gratuitous_frames`]) and `processRequest`: only requests, only to the
//!   broadcast address or this node's MAC, only for an IP being announced; the answer is
//!   mdlayher/arp `Reply`, unicast to the requester.
//! - IPv6 IPs go to the NDP responder instead ([`crate::ndp_responder`]; announcer.go
//!   `gratuitous` and `SetBalancer` pick `a.ndps` for an IP whose `To4()` is nil): a burst is
//!   one unsolicited NA, `Watch` joins the VIP's solicited-node group, and which NS are
//!   answered is the responder's (metallb issue 2920: unicast NUD probes are not, unless
//!   [`SpeakerConfig::answer_unicast_solicitations`]). A dual-stack service announces both its
//!   IPs and is elected on the first ([`ServiceSpec::ips`], `toAnnounce[0]`).
//!
//! Model choices: Go iterates the spam map in random order; bursts within one tick go out in
//! IP order here. A service whose IP changes is withdrawn from the old IP first (upstream
//! keeps both until the next `DeleteBalancer`). Interfaces, L2Advertisement selectors and
//! preferred nodes are not modelled: every node may announce every service.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use sim_core::{SimDuration, SimTime};

use crate::election::election_order;
use crate::ndp_responder::{NdpResponder, NdpResponderConfig};
use crate::wire::{Arp, ArpOp, EtherType, EthernetFrame, MacAddr};

/// `externalTrafficPolicy` of a Service.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum TrafficPolicy {
    /// Any node may announce; kube-proxy forwards to pods anywhere.
    #[default]
    Cluster,
    /// Only nodes with a serving endpoint may announce.
    Local,
}

/// What the speaker knows of one LoadBalancer Service.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceSpec {
    /// `namespace/name`.
    pub name: String,
    /// The ingress IPs, one per family (a dual-stack service has two); the first is the
    /// election key (`toAnnounce[0]` in layer2_controller.go). Empty: nothing is announced.
    pub ips: Vec<IpAddr>,
    /// `externalTrafficPolicy`.
    pub policy: TrafficPolicy,
    /// Nodes with at least one serving endpoint (EndpointSlice `EndpointCanServe`).
    pub serving_nodes: BTreeSet<String>,
}

/// What the speaker reads from a Kubernetes Node object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KubeNode {
    /// Node name (the speaker's memberlist name).
    pub name: String,
    /// Labelled `node.kubernetes.io/exclude-from-external-load-balancers`.
    pub excluded: bool,
    /// Condition `NetworkUnavailable` is true.
    pub network_unavailable: bool,
}

impl KubeNode {
    /// A plain node.
    pub fn new(name: &str) -> Self {
        KubeNode {
            name: name.to_string(),
            excluded: false,
            network_unavailable: false,
        }
    }
}

/// One speaker's settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SpeakerConfig {
    /// This node's name.
    pub node: String,
    /// This node's NIC MAC (MetalLB answers with the node's real MAC).
    pub mac: MacAddr,
    /// Memberlist on (the default); off makes every Kubernetes node a candidate.
    pub memberlist: bool,
    /// Gratuitous ARP ticker period, 1100 ms.
    pub spam_interval: SimDuration,
    /// Bursts continue until this long after the last `SetBalancer`, 5 s.
    pub spam_duration: SimDuration,
    /// Periodic gratuitous ARP for every IP this speaker announces (the speaker flag
    /// `--gratuitous-arp-interval`, metallb PR 3125, the fix for issue 2910's FDB-aging
    /// blackhole); `None` (the default, flag 0) sends them only on takeover.
    pub gratuitous_arp_interval: Option<SimDuration>,
    /// Answer unicast Neighbor Solicitations to an IPv6 VIP too (not MetalLB: the fix metallb
    /// issue 2920 asks for); off by default.
    pub answer_unicast_solicitations: bool,
}

impl SpeakerConfig {
    /// MetalLB's defaults for node `node` with NIC `mac`.
    pub fn metallb(node: &str, mac: MacAddr) -> Self {
        SpeakerConfig {
            node: node.to_string(),
            mac,
            memberlist: true,
            spam_interval: SimDuration::from_millis(1100),
            spam_duration: SimDuration::from_secs(5),
            gratuitous_arp_interval: None,
            answer_unicast_solicitations: false,
        }
    }
}

/// When Kubernetes notices a failed node, for the "without memberlist" case: endpoints on it
/// stop serving once the node controller marks it NotReady (`MarkPodsNotReady`), and its pods
/// are evicted when the `unreachable`/`not-ready` taints' 300 s toleration runs out. The
/// controller's 5 s monitor period is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeLifecycle {
    /// kube-controller-manager `--node-monitor-grace-period`: 40 s, 50 s from Kubernetes 1.32.
    pub node_monitor_grace_period: SimDuration,
    /// `tolerationSeconds` of the default NoExecute taint tolerations, 300 s.
    pub eviction_toleration: SimDuration,
}

impl NodeLifecycle {
    /// Kubernetes before 1.32.
    pub const K8S_1_31: NodeLifecycle = NodeLifecycle {
        node_monitor_grace_period: SimDuration::from_secs(40),
        eviction_toleration: SimDuration::from_secs(300),
    };
    /// Kubernetes 1.32 and later.
    pub const K8S_1_32: NodeLifecycle = NodeLifecycle {
        node_monitor_grace_period: SimDuration::from_secs(50),
        eviction_toleration: SimDuration::from_secs(300),
    };

    /// When endpoints on a node that failed at `failed_at` stop serving.
    pub fn endpoints_not_ready_at(&self, failed_at: SimTime) -> SimTime {
        failed_at + self.node_monitor_grace_period
    }

    /// When its pods are evicted (the taint goes on at NotReady).
    pub fn pods_evicted_at(&self, failed_at: SimTime) -> SimTime {
        self.endpoints_not_ready_at(failed_at) + self.eviction_toleration
    }
}

/// What happens to a speaker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Memberlist's live members changed ([`crate::memberlist::Member::live_members`]);
    /// MetalLB's `ForceSync` reconciles every service. Ignored with memberlist off.
    Members(Vec<String>),
    /// The Kubernetes Node objects changed; every service is reconciled.
    Nodes(Vec<KubeNode>),
    /// A service was added or changed (endpoints included); it is reconciled.
    Service(ServiceSpec),
    /// A service was deleted.
    ServiceDeleted {
        /// `namespace/name`.
        name: String,
    },
    /// A frame reached this node's NIC.
    Frame(EthernetFrame),
    /// A wake-up requested by [`Speaker::next_timeout`]; nothing due means nothing done.
    Timer,
}

/// What the speaker asks the node to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Put this frame on the wire.
    Frame(EthernetFrame),
    /// This node started (`true`) or stopped (`false`) announcing `ip`.
    Announcing {
        /// The service IP.
        ip: IpAddr,
        /// Whether this node now announces it.
        leader: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// The announcer's spam ticker.
    Spam,
    /// The periodic announcement ticker (off by default).
    Periodic,
}

impl Timer {
    const COUNT: usize = 2;
}

/// MetalLB's L2 speaker on one node. Pure: feed it [`Input`]s with the current time, perform
/// the [`Output`]s, wake it at [`Speaker::next_timeout`].
///
/// ```
/// use std::net::Ipv4Addr;
/// use l2::speaker::{Input, Output, ServiceSpec, Speaker, SpeakerConfig, TrafficPolicy};
/// use l2::wire::MacAddr;
/// use sim_core::SimTime;
///
/// let vip = Ipv4Addr::new(192, 168, 1, 240);
/// let mut a = Speaker::new(SpeakerConfig::metallb("node-a", MacAddr([2, 0, 0, 0, 0, 0xa])));
/// a.handle(SimTime::ZERO, Input::Members(vec!["node-a".into(), "node-b".into()]));
/// let out = a.handle(SimTime::ZERO, Input::Service(ServiceSpec {
///     name: "default/web".into(),
///     ips: vec![vip.into()],
///     policy: TrafficPolicy::Cluster,
///     serving_nodes: ["node-b".to_string()].into(),
/// }));
/// // node-a is first in the sha256 order for this IP: it announces and sends a burst at once.
/// assert_eq!(out[0], Output::Announcing { ip: vip.into(), leader: true });
/// assert_eq!(out.iter().filter(|o| matches!(o, Output::Frame(_))).count(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct Speaker {
    config: SpeakerConfig,
    members: BTreeSet<String>,
    nodes: BTreeMap<String, KubeNode>,
    services: BTreeMap<String, ServiceSpec>,
    /// Services this node announces, and their IPs (announcer `ips`).
    announced: BTreeMap<String, Vec<IpAddr>>,
    /// Services per announced IP (announcer `ipRefcnt`).
    ip_users: BTreeMap<IpAddr, BTreeSet<String>>,
    /// IP -> end of its bursts (announcer `spamLoop`'s map).
    spam: BTreeMap<IpAddr, SimTime>,
    timers: [Option<SimTime>; Timer::COUNT],
    /// The NDP responder for IPv6 IPs (announcer `ndps`).
    ndp: NdpResponder,
}

impl Speaker {
    /// A speaker with no members, nodes or services yet.
    pub fn new(config: SpeakerConfig) -> Self {
        let ndp = NdpResponder::new(NdpResponderConfig {
            answer_unicast_solicitations: config.answer_unicast_solicitations,
            ..NdpResponderConfig::metallb(config.mac)
        });
        Speaker {
            ndp,
            config,
            members: BTreeSet::new(),
            nodes: BTreeMap::new(),
            services: BTreeMap::new(),
            announced: BTreeMap::new(),
            ip_users: BTreeMap::new(),
            spam: BTreeMap::new(),
            timers: [None; Timer::COUNT],
        }
    }

    /// The settings.
    pub fn config(&self) -> &SpeakerConfig {
        &self.config
    }

    /// Whether this node announces `ip` now.
    pub fn is_announcing(&self, ip: impl Into<IpAddr>) -> bool {
        self.ip_users.contains_key(&ip.into())
    }

    /// The IPs this node announces, ascending (IPv4 first).
    pub fn announced_ips(&self) -> Vec<IpAddr> {
        self.ip_users.keys().copied().collect()
    }

    /// The earliest time the speaker needs an [`Input::Timer`].
    pub fn next_timeout(&self) -> Option<SimTime> {
        self.timers.iter().flatten().copied().min()
    }

    /// Feeds one input at `now`; returns what to do, in order. A due ticker runs first.
    pub fn handle(&mut self, now: SimTime, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        self.run_due(now, &mut out);
        match input {
            Input::Timer => {}
            Input::Members(members) => {
                if self.config.memberlist {
                    self.members = members.into_iter().collect();
                    self.reconcile_all(now, &mut out);
                }
            }
            Input::Nodes(nodes) => {
                self.nodes = nodes.into_iter().map(|n| (n.name.clone(), n)).collect();
                self.reconcile_all(now, &mut out);
            }
            Input::Service(spec) => {
                let name = spec.name.clone();
                if let Some(old) = self.announced.get(&name) {
                    if *old != spec.ips {
                        self.delete_balancer(&name, &mut out);
                    }
                }
                self.services.insert(name.clone(), spec);
                self.reconcile(now, &name, &mut out);
            }
            Input::ServiceDeleted { name } => {
                self.services.remove(&name);
                self.delete_balancer(&name, &mut out);
            }
            Input::Frame(frame) if frame.ethertype == EtherType::Ipv6 => {
                // ndp.go processRequest, behind the responder's link-local-bound socket.
                if let Ok(reply) = self.ndp.receive(&frame) {
                    out.push(Output::Frame(reply));
                }
            }
            Input::Frame(frame) => self.answer_arp(&frame, &mut out),
        }
        out
    }

    /// Whether this node should announce `service` (metallb `ShouldAnnounce`), from the
    /// current membership and nodes.
    pub fn should_announce(&self, service: &ServiceSpec) -> bool {
        let Some(&first_ip) = service.ips.first() else {
            return false;
        };
        if service.serving_nodes.is_empty() {
            return false;
        }
        let eligible: Vec<&str> = if self.config.memberlist {
            self.members.iter().map(String::as_str).collect()
        } else {
            self.nodes.keys().map(String::as_str).collect()
        };
        let candidates: Vec<&str> = eligible
            .into_iter()
            .filter(|n| {
                self.nodes
                    .get(*n)
                    .is_none_or(|k| !k.excluded && !k.network_unavailable)
            })
            .filter(|n| {
                service.policy == TrafficPolicy::Cluster || service.serving_nodes.contains(*n)
            })
            .collect();
        election_order(first_ip, &candidates).first() == Some(&self.config.node.as_str())
    }

    fn reconcile_all(&mut self, now: SimTime, out: &mut Vec<Output>) {
        let names: Vec<String> = self.services.keys().cloned().collect();
        for name in names {
            self.reconcile(now, &name, out);
        }
    }

    fn reconcile(&mut self, now: SimTime, name: &str, out: &mut Vec<Output>) {
        let Some(spec) = self.services.get(name) else {
            return;
        };
        if self.should_announce(spec) {
            let ips = spec.ips.clone();
            self.set_balancer(now, name, ips, out);
        } else {
            self.delete_balancer(name, out);
        }
    }

    /// announcer `SetBalancer`: record, then spam (always, even when already announced).
    fn set_balancer(&mut self, now: SimTime, name: &str, ips: Vec<IpAddr>, out: &mut Vec<Output>) {
        for &ip in &ips {
            let users = self.ip_users.entry(ip).or_default();
            let first = users.is_empty();
            users.insert(name.to_string());
            if first {
                if let IpAddr::V6(v6) = ip {
                    // ndp.go Watch: join the solicited-node group (its burst comes below).
                    self.ndp.watch(v6);
                }
                out.push(Output::Announcing { ip, leader: true });
            }
        }
        self.announced.insert(name.to_string(), ips.clone());
        if let Some(every) = self.config.gratuitous_arp_interval {
            if self.timers[Timer::Periodic as usize].is_none() && every > SimDuration::ZERO {
                self.timers[Timer::Periodic as usize] = Some(now + every);
            }
        }
        for ip in ips {
            // spamLoop receiving from spamCh.
            if self.spam.is_empty() {
                self.timers[Timer::Spam as usize] = Some(now + self.config.spam_interval);
            }
            let already = self
                .spam
                .insert(ip, now + self.config.spam_duration)
                .is_some();
            if !already {
                self.gratuitous(ip, out);
            }
        }
    }

    /// announcer `DeleteBalancer`. The spam entry stays until it expires; its bursts are empty.
    fn delete_balancer(&mut self, name: &str, out: &mut Vec<Output>) {
        let Some(ips) = self.announced.remove(name) else {
            return;
        };
        for ip in ips {
            if let Some(users) = self.ip_users.get_mut(&ip) {
                users.remove(name);
                if users.is_empty() {
                    self.ip_users.remove(&ip);
                    if let IpAddr::V6(v6) = ip {
                        self.ndp.withdraw(v6); // ndp.go Unwatch
                    }
                    out.push(Output::Announcing { ip, leader: false });
                }
            }
        }
    }

    fn gratuitous(&self, ip: IpAddr, out: &mut Vec<Output>) {
        if !self.ip_users.contains_key(&ip) {
            // "We've lost control of the IP, someone else is doing announcements."
            return;
        }
        match ip {
            IpAddr::V4(v4) => {
                for frame in Arp::metallb_gratuitous_frames(self.config.mac, v4) {
                    out.push(Output::Frame(frame));
                }
            }
            IpAddr::V6(v6) => out.push(Output::Frame(self.ndp.unsolicited(v6))),
        }
    }

    fn run_due(&mut self, now: SimTime, out: &mut Vec<Output>) {
        self.run_periodic(now, out);
        let Some(at) = self.timers[Timer::Spam as usize].filter(|t| *t <= now) else {
            return;
        };
        // One tick per call: the runner wakes us at each deadline (a late wake-up is one
        // tick, as Go's ticker drops ticks a slow receiver missed).
        let ips: Vec<(IpAddr, SimTime)> = self.spam.iter().map(|(i, u)| (*i, *u)).collect();
        for (ip, until) in ips {
            if at > until {
                self.spam.remove(&ip);
            } else {
                self.gratuitous(ip, out);
            }
        }
        self.timers[Timer::Spam as usize] = if self.spam.is_empty() {
            None
        } else {
            Some(at + self.config.spam_interval)
        };
    }

    /// The periodic ticker: one gratuitous request and reply per announced IP.
    fn run_periodic(&mut self, now: SimTime, out: &mut Vec<Output>) {
        let (Some(at), Some(every)) = (
            self.timers[Timer::Periodic as usize].filter(|t| *t <= now),
            self.config.gratuitous_arp_interval,
        ) else {
            return;
        };
        let ips: Vec<IpAddr> = self.ip_users.keys().copied().collect();
        for ip in ips {
            self.gratuitous(ip, out);
        }
        self.timers[Timer::Periodic as usize] = Some(at + every);
    }

    /// arp.go `processRequest`.
    fn answer_arp(&self, frame: &EthernetFrame, out: &mut Vec<Output>) {
        let Ok(arp) = frame.to_arp() else {
            return;
        };
        if arp.op != ArpOp::Request {
            return;
        }
        if !frame.dst.is_broadcast() && frame.dst != self.config.mac {
            return;
        }
        if !self.is_announcing(IpAddr::V4(arp.target_ip)) {
            return;
        }
        let reply = Arp::reply_to(&arp, self.config.mac);
        out.push(Output::Frame(EthernetFrame::arp(
            arp.sender_mac,
            self.config.mac,
            &reply,
        )));
    }
}

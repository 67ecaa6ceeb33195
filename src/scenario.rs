//! The scenario file: what to simulate, in RON.
//!
//! Every struct refuses unknown fields; optional values may be written bare (RON's
//! `implicit_some`). Errors name the file, line, column and field, and what would be valid.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use bgp::ecmp::{HashFields, HashFunction, HashSource, Selection};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sim_core::{setting, SimDuration};

use crate::input::{self, locate, write_place};

/// A whole scenario file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in output.
    pub name: String,
    /// What question the scenario answers.
    #[serde(default)]
    pub description: String,
    /// Simulated time to run.
    pub duration: SimDuration,
    /// Master seed; `sim run --seed` overrides it.
    #[serde(
        default = "default_seed",
        deserialize_with = "setting::int_in::<_, _, 0, 18446744073709551615>"
    )]
    pub seed: u64,
    /// Width of the time-series buckets.
    #[serde(default = "default_bucket")]
    pub timeseries_bucket: SimDuration,
    /// Links between clients, router and nodes.
    #[serde(default)]
    pub network: Network,
    /// The worker nodes.
    pub nodes: Nodes,
    /// The LoadBalancer service and its pods; with `services`, the defaults every entry
    /// takes for what it leaves out, and the node-wide settings (kube-proxy, conntrack).
    pub service: Service,
    /// MetalLB IPAddressPools the services take their IPs from.
    #[serde(default)]
    pub pools: Vec<crate::cluster::AddressPool>,
    /// Several LoadBalancer services (none: the one `service`).
    #[serde(default)]
    pub services: Vec<crate::cluster::ServiceEntry>,
    /// BGPAdvertisements and L2Advertisements (none: every pool from every node, /32).
    #[serde(default)]
    pub advertisements: Vec<crate::cluster::Advertisement>,
    /// How the router spreads flows over the nodes.
    #[serde(default)]
    pub ecmp: Ecmp,
    /// The BGP control plane: speakers on the nodes peering with the router. Without it the
    /// route table is driven by scripted `withdraw`/`announce` events only.
    #[serde(default)]
    pub bgp: Option<BgpSpec>,
    /// MetalLB Layer 2 mode instead: a switch, ARP, a leader per service IP. Exclusive with `bgp`.
    #[serde(default)]
    pub l2: Option<L2Spec>,
    /// DNS names with weighted records pointing at services (the DNS split, `crate::dns`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<crate::dns::DnsName>,
    /// Load generators.
    pub clients: Vec<ClientSpec>,
    /// Scripted route changes and faults.
    #[serde(default)]
    pub events: Vec<ScriptedEvent>,
    /// Variants run side by side; none means one variant called `base`.
    #[serde(default)]
    pub variants: Vec<Variant>,
    /// The rehash study's table: one row per (trigger, mitigation, mode), each read from a
    /// service of a variant or saying why it does not apply (`src/mitigations.rs`).
    #[serde(default)]
    pub mitigations: Option<crate::mitigations::MitigationTable>,
    /// Which connections a route change writes to connections.csv: `All` (default) or `Moved`.
    #[serde(default, skip_serializing_if = "ConnectionRows::is_all")]
    pub connection_rows: ConnectionRows,
    /// What validation found valid but worth saying (not part of the file).
    #[serde(skip)]
    pub warnings: Vec<Warning>,
}

fn default_seed() -> u64 {
    1
}
fn default_bucket() -> SimDuration {
    sim_core::metrics::DEFAULT_BUCKET
}

/// A link's delay and rate.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// One-way propagation delay.
    pub delay: SimDuration,
    /// Rate; `"0"` or `"unlimited"` for no serialisation delay.
    #[serde(default = "ten_gig")]
    pub bandwidth: Bandwidth,
}

fn ten_gig() -> Bandwidth {
    Bandwidth(10_000_000_000)
}

/// Where clients, router and nodes sit relative to each other.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Network {
    /// Each client to the router.
    #[serde(default = "default_hop")]
    pub client_link: LinkSpec,
    /// The router to each node (its bandwidth is the node's NIC).
    #[serde(default = "default_hop")]
    pub node_link: LinkSpec,
}

fn default_hop() -> LinkSpec {
    // DESIGN.md: "tens of microseconds per hop", 10 Gbit/s NICs.
    LinkSpec {
        delay: SimDuration::from_micros(50),
        bandwidth: ten_gig(),
    }
}

impl Default for Network {
    fn default() -> Self {
        Network {
            client_link: default_hop(),
            node_link: default_hop(),
        }
    }
}

/// The worker nodes: `node-1` .. `node-N`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Nodes {
    /// How many.
    #[serde(deserialize_with = "setting::int_in::<_, _, 1, 10000>")]
    pub count: u16,
    /// Cores available for forwarding and NAT.
    #[serde(
        default = "default_cores",
        deserialize_with = "setting::int_in::<_, _, 1, 65535>"
    )]
    pub cores: u16,
    /// CPU time per packet for forwarding/NAT (kube-proxy's iptables or IPVS path).
    #[serde(default)]
    pub packet_cost: SimDuration,
    /// Node labels, for advertisements' `node_selectors`.
    #[serde(default)]
    pub labels: Vec<crate::cluster::NodeLabel>,
}

fn default_cores() -> u16 {
    4
}

/// Which established connections a route change records (connections.csv).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
pub enum ConnectionRows {
    /// Every one, `unaffected` ones too.
    #[default]
    All,
    /// Only those whose next hop changed: with a million connections and a consistent hash,
    /// a change keeps rows for the few that moved, not a row for every one (changes.csv still
    /// counts them all in `live_connections`).
    Moved,
}

impl ConnectionRows {
    fn is_all(&self) -> bool {
        *self == ConnectionRows::All
    }
}

/// `spec.externalTrafficPolicy`.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum TrafficPolicy {
    /// Any node accepts, SNATs, and may forward to a pod on another node.
    Cluster,
    /// Only nodes with a local endpoint serve; the client address is kept.
    Local,
}

/// kube-proxy's mode and, for IPVS, its scheduler.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum KubeProxyMode {
    /// iptables: a uniformly random endpoint per new connection (statistic --probability chain).
    Iptables,
    /// IPVS round robin.
    IpvsRoundRobin,
    /// IPVS least connection.
    IpvsLeastConnection,
}

/// The LoadBalancer service.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    /// The Kubernetes Service's name: the `service` label of its series in the OpenMetrics
    /// file (the seed's dashboard selects `service='benchmark-l2'`). Unset: `benchmark-<variant>`
    /// (variants `l2` and `bgp` get the seed's `benchmark-l2` and `benchmark-bgp`).
    #[serde(default)]
    pub name: Option<String>,
    /// The LoadBalancer IP.
    #[serde(default = "default_vip")]
    pub vip: Ipv4Addr,
    /// The service port.
    #[serde(default = "default_port", deserialize_with = "service_port")]
    pub port: u16,
    /// `externalTrafficPolicy`.
    #[serde(default = "default_policy")]
    pub traffic_policy: TrafficPolicy,
    /// kube-proxy mode.
    #[serde(default = "default_kube_proxy")]
    pub kube_proxy: KubeProxyMode,
    /// `net.netfilter.nf_conntrack_tcp_loose`: a mid-connection packet without a conntrack entry
    /// is picked up and answered with RST (true, the kernel default) or dropped (false).
    #[serde(default = "yes")]
    pub conntrack_tcp_loose: bool,
    /// After a node crashes, how long until its pods leave the endpoints
    /// (node-monitor-grace-period: 40 s, 50 s from Kubernetes 1.32).
    #[serde(default = "default_endpoint_removal")]
    pub endpoint_removal_delay: SimDuration,
    /// The Deployment behind the service.
    pub pods: Pods,
}

fn default_vip() -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 10)
}
fn default_port() -> u16 {
    80
}
/// Kubernetes `ServicePort.port` (validation.IsValidPortNum: 1 to 65535).
fn service_port<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    setting::integer(d, 1, 65_535, "a Kubernetes service port")
}
fn default_policy() -> TrafficPolicy {
    TrafficPolicy::Cluster
}
fn default_kube_proxy() -> KubeProxyMode {
    KubeProxyMode::Iptables
}
fn yes() -> bool {
    true
}
fn default_endpoint_removal() -> SimDuration {
    SimDuration::from_secs(40)
}

/// Where pods go.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub enum Placement {
    /// Round robin over all nodes (anti-affinity spread): pod i on node (i mod N) + 1.
    Spread,
    /// Round robin over the named nodes only (pinning).
    OnNodes(Vec<String>),
}

/// Pods: replicas, CPU and how long a request takes.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Pods {
    /// Number of pods.
    #[serde(deserialize_with = "setting::int_in::<_, _, 1, 65535>")]
    pub replicas: u16,
    /// CPU limit in cores: a pod serves `ceil(cpu)` requests at once, each at speed
    /// `cpu / ceil(cpu)` (so `0.5` halves the speed of one worker).
    #[serde(default = "one")]
    pub cpu: f64,
    /// CPU time one request needs at full speed.
    pub service_time: ServiceTime,
    /// Placement on nodes.
    #[serde(default = "spread")]
    pub placement: Placement,
}

fn one() -> f64 {
    1.0
}
fn spread() -> Placement {
    Placement::Spread
}

/// A distribution of service times.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
pub enum ServiceTime {
    /// Always the same.
    Constant {
        /// The time.
        time: SimDuration,
    },
    /// Exponential (memoryless).
    Exponential {
        /// Mean.
        mean: SimDuration,
    },
    /// Log-normal: `median * exp(sigma * N(0,1))`.
    LogNormal {
        /// Median.
        median: SimDuration,
        /// Shape (standard deviation of the log).
        sigma: f64,
    },
}

/// The router's ECMP configuration.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ecmp {
    /// Which header fields feed the hash.
    #[serde(default = "default_fields")]
    pub fields: HashFields,
    /// The hash function.
    #[serde(default = "default_hash")]
    pub hash: HashFunction,
    /// The hash seed (for `Linux`, `net.ipv4.fib_multipath_hash_seed`).
    #[serde(
        default = "default_hash_seed",
        deserialize_with = "setting::int_in::<_, _, 0, 4294967295>"
    )]
    pub seed: u32,
    /// How a hash picks a next hop.
    #[serde(default = "default_selection")]
    pub selection: Selection,
    /// The order in which the routing daemon installs next hops.
    #[serde(default = "default_order")]
    pub nexthop_order: NexthopOrder,
    /// What the router hashes for a TCP packet it forwards with `fields: FiveTuple, hash:
    /// Linux` (`fib_multipath_hash_policy` 1, which takes a packet's L4 hash when it has one):
    /// `FlowKeys` (no L4 hash: what `ip route get` computes), `NicRss(key: "6d:5a:...")` (the
    /// NIC's Toeplitz hash of the 4-tuple, key from `ethtool -x`; a real router) or
    /// `SocketTxhash(txrehash: true)` (the client socket's random hash, kept across a veth:
    /// reallab/profiles/*: route_get_agreement at chance level, sysctl.txt).
    #[serde(default)]
    pub hash_source: HashSource,
}

fn default_fields() -> HashFields {
    HashFields::FiveTuple
}
fn default_hash() -> HashFunction {
    HashFunction::Linux
}
fn default_hash_seed() -> u32 {
    0x5eed
}
fn default_selection() -> Selection {
    Selection::HashThreshold
}
fn default_order() -> NexthopOrder {
    NexthopOrder::ByAddress
}

impl Default for Ecmp {
    fn default() -> Self {
        Ecmp {
            fields: default_fields(),
            hash: default_hash(),
            seed: default_hash_seed(),
            selection: default_selection(),
            nexthop_order: default_order(),
            hash_source: HashSource::FlowKeys,
        }
    }
}

/// Next-hop order in the ECMP group.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum NexthopOrder {
    /// Sorted by next-hop address, as zebra keeps a nexthop group (`nexthop_group_add_sorted`
    /// in FRR lib/nexthop_group.c).
    ByAddress,
    /// In the order routes arrived (a returning node goes to the end).
    ByArrival,
}

/// The BGP control plane.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BgpSpec {
    /// Which speaker runs on the nodes.
    #[serde(default = "default_speaker")]
    pub speaker: SpeakerKind,
    /// BFD between each speaker and the router.
    #[serde(default)]
    pub bfd: Option<BfdSpec>,
    /// Graceful restart (RFC 4724): the restart time both sides advertise.
    #[serde(default)]
    pub graceful_restart: Option<SimDuration>,
    /// The router's hold time (it negotiates min(its own, the speaker's)).
    #[serde(default = "default_router_hold")]
    pub router_hold_time: SimDuration,
    /// Delay from a best-path change to the kernel FIB (bgpd -> zebra -> netlink -> ECMP group):
    /// FRR's work-queue holds, bgpd's route processing 50 ms plus zebra's RIB queue 10 ms
    /// (`bgp::rib::Fib::DEFAULT_PROGRAMMING_DELAY`); measured 61 ms from a received UPDATE to
    /// the route change (reallab/profiles/calib, check: frr_router.log + router_monitor.log).
    #[serde(default = "default_fib_delay")]
    pub fib_delay: SimDuration,
    /// What a session going down adds before `fib_delay` starts: bgpd clears the peer's
    /// routes through a work queue held 10 ms (`bgp::rib::Fib::DEFAULT_PEER_DOWN_DELAY`);
    /// with `fib_delay` 70 ms, measured 68-85 ms from `%ADJCHANGE ... Down` to the route
    /// change for every fault kind (reallab/profiles/calib, check: frr_router.log +
    /// router_monitor.log).
    #[serde(default = "default_peer_down_delay")]
    pub peer_down_delay: SimDuration,
    /// How long an FRR speaker's first UPDATEs wait after its session is Established (FRR's
    /// update-group coalesce time, `bgp coalesce-time`): by default FRR's heuristic for a
    /// speaker with one peer, 1000 ms + 50 ms (bgpd/bgp_updgrp.h), 1.05 s from Up to the first
    /// UPDATE in reallab/profiles/calib, check (frr_router.log). The router's own is 1000 ms +
    /// 50 ms per node. Not for MetalLB's native speaker, which sends at once.
    #[serde(default)]
    pub coalesce_time: Option<SimDuration>,
    /// Where in its keepalive cycle each session is when the run starts.
    #[serde(default)]
    pub keepalive_phase: KeepalivePhase,
    /// The nodes' AS.
    #[serde(default = "default_node_as", deserialize_with = "as_number")]
    pub node_as: u32,
    /// The router's AS.
    #[serde(default = "default_router_as", deserialize_with = "as_number")]
    pub router_as: u32,
}

fn default_speaker() -> SpeakerKind {
    SpeakerKind::Native
}
fn default_router_hold() -> SimDuration {
    // FRR's traditional default (bgpd.h BGP_DEFAULT_HOLDTIME).
    SimDuration::from_secs(180)
}
fn default_fib_delay() -> SimDuration {
    bgp::rib::Fib::DEFAULT_PROGRAMMING_DELAY
}
fn default_peer_down_delay() -> SimDuration {
    bgp::rib::Fib::DEFAULT_PEER_DOWN_DELAY
}

/// The keepalive cycle of the sessions a run starts with.
///
/// Time zero stands for a cluster that has been up: its sessions came up at unrelated moments
/// (node boots, speaker restarts), so a failure finds each one at its own point of its
/// keepalive cycle, and a hold-timer detection takes anything from hold - keepalive to hold
/// (reallab/profiles/calib, check: the last KEEPALIVE 0.08-2.94 s before the crash, the route
/// change a constant 9.07-9.09 s after it, control.pcap). Sessions that come up later in the
/// run (recover, restart, resume) start their cycle then, as real ones do.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
pub enum KeepalivePhase {
    /// Each node's session is at a seeded uniform point of its cycle: every seed gives other
    /// phases.
    #[default]
    Random,
    /// Every cycle starts when the session comes up at time zero: one phase for every seed.
    Aligned,
}
fn default_node_as() -> u32 {
    64513
}
fn default_router_as() -> u32 {
    64512
}
/// A 4-octet AS number other than 0, which RFC 7607 reserves (MetalLB: "missing local ASN").
fn as_number<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    setting::integer(d, 1, 4_294_967_295, "AS 0 is reserved, RFC 7607")
}

/// Layer 2 mode: the nodes, the clients' gateway (or the clients themselves) and a switch on
/// one segment; each node's speaker runs memberlist and answers ARP for the IP it leads.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct L2Spec {
    /// Where the clients sit.
    #[serde(default = "behind_gateway")]
    pub clients: ClientPlacement,
    /// Failure detection by memberlist (MetalLB's default); off: Kubernetes decides.
    #[serde(default = "yes")]
    pub memberlist: bool,
    /// The gateway (or on-segment clients) drops gratuitous ARP, like devices with
    /// `drop_gratuitous_arp` or routers that only learn from replies to their own requests.
    #[serde(default)]
    pub ignores_garp: bool,
    /// `net.ipv4.conf.*.arp_accept` of the hosts that hold the VIP's ARP entry.
    #[serde(default)]
    pub arp_accept: ArpAcceptSetting,
    /// `base_reachable_time` of those hosts (Linux: 30 s; a router with a fixed ARP timeout,
    /// e.g. 1200 s, can be approximated by setting it here).
    #[serde(default = "default_reachable")]
    pub base_reachable_time: SimDuration,
    /// The switch's MAC aging time.
    #[serde(default = "default_aging")]
    pub switch_aging: SimDuration,
    /// The switch floods unknown unicast (true) or drops it (flood blocking, a Linux bridge
    /// port with `flood off`).
    #[serde(default = "yes")]
    pub flood_unknown_unicast: bool,
    /// The nodes' replies cross the same switch and keep its entry for their MAC fresh (true);
    /// false models an asymmetric return path (replies leave by another interface or switch).
    #[serde(default = "yes")]
    pub replies_refresh_switch: bool,
    /// MetalLB's `--gratuitous-arp-interval` (PR 3125): periodic gratuitous ARP for every
    /// announced IP; none by default (only on takeover).
    #[serde(default)]
    pub gratuitous_arp_interval: Option<SimDuration>,
}

fn behind_gateway() -> ClientPlacement {
    ClientPlacement::BehindGateway
}
fn default_reachable() -> SimDuration {
    SimDuration::from_secs(30)
}
fn default_aging() -> SimDuration {
    SimDuration::from_secs(300)
}

/// Where L2-mode clients sit.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum ClientPlacement {
    /// On the nodes' segment: each client resolves the VIP itself.
    OnSegment,
    /// Behind a gateway router: the gateway resolves the VIP for all of them.
    BehindGateway,
}

/// `arp_accept` values.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
pub enum ArpAcceptSetting {
    /// 0: unsolicited ARP never creates an entry (it still updates one).
    #[default]
    Never,
    /// 1: it creates entries.
    Always,
    /// 2: only for addresses in the interface's subnet.
    SameSubnet,
}

/// The speaker on the nodes.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
pub enum SpeakerKind {
    /// MetalLB's own Go speaker: hold 90 s, no NOTIFICATION on close, no receive hold timer.
    Native,
    /// MetalLB's FRR mode with explicit timers.
    Frr {
        /// Keepalive interval.
        keepalive: SimDuration,
        /// Hold time.
        hold: SimDuration,
        /// Connect retry.
        #[serde(default = "default_connect_retry")]
        connect_retry: SimDuration,
    },
    /// FRR's traditional defaults: keepalive 60 s, hold 180 s, connect retry 120 s.
    FrrTraditional,
    /// FRR's datacenter profile: keepalive 3 s, hold 9 s, connect retry 10 s.
    FrrDatacenter,
}

fn default_connect_retry() -> SimDuration {
    SimDuration::from_secs(10)
}

/// A BFD profile (MetalLB BFDProfile: receiveInterval, transmitInterval, detectMultiplier).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct BfdSpec {
    /// Desired minimum transmit interval.
    #[serde(default = "default_bfd_interval")]
    pub transmit_interval: SimDuration,
    /// Required minimum receive interval.
    #[serde(default = "default_bfd_interval")]
    pub receive_interval: SimDuration,
    /// Detection multiplier.
    #[serde(default = "default_bfd_mult", deserialize_with = "detect_multiplier")]
    pub detect_multiplier: u8,
}

fn default_bfd_interval() -> SimDuration {
    // metallb api/v1beta1/bfdprofile_types.go: 300 ms defaults.
    SimDuration::from_millis(300)
}
fn default_bfd_mult() -> u8 {
    3
}
/// metallb api/v1beta1/bfdprofile_types.go: `detectMultiplier` Minimum 2, Maximum 255.
fn detect_multiplier<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    setting::integer(d, 2, 255, "MetalLB's BFDProfile detectMultiplier")
}

/// A kind of load generator.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Name; instances are `name-1` .. `name-count`.
    pub name: String,
    /// How many independent instances, each with its own IP.
    #[serde(
        default = "one_u32",
        deserialize_with = "setting::int_in::<_, _, 1, 100000>"
    )]
    pub count: u32,
    /// How requests are issued.
    pub load: Load,
    /// Connection reuse.
    #[serde(default = "per_request")]
    pub connections: Connections,
    /// A request without an answer by then counts as a timeout.
    #[serde(default = "default_timeout")]
    pub timeout: SimDuration,
    /// Request size on the wire.
    #[serde(
        default = "default_request_bytes",
        deserialize_with = "setting::int_in::<_, _, 1, 4294967295>"
    )]
    pub request_bytes: u32,
    /// Response size on the wire.
    #[serde(
        default = "default_response_bytes",
        deserialize_with = "setting::int_in::<_, _, 1, 4294967295>"
    )]
    pub response_bytes: u32,
    /// When the client starts.
    #[serde(default)]
    pub start: SimDuration,
    /// When it stops issuing requests (the tool's `-t`/`-d`/`-duration`); the run's end if unset.
    #[serde(default)]
    pub stop: Option<SimDuration>,
    /// Where it runs: outside the cluster (through the router or gateway) or on a node, where
    /// kube-proxy intercepts the LoadBalancer IP and neither MetalLB mode is on the path.
    #[serde(default)]
    pub location: ClientLocation,
    /// Write this client group's results in its tool's own format under `--out`, to this file
    /// name; `{variant}` is replaced by the variant's name (e.g. `"{variant}_fortio.json"`).
    /// Fortio, Vegeta (JSON report, and the results stream as `<name>.csv`), Wrk, Iperf3 and
    /// Ping loads have a format.
    #[serde(default)]
    pub output: Option<String>,
    /// Retry a request that was reset or timed out, after a backoff, within a budget (open
    /// loop only; none: a failure is the user's).
    #[serde(default)]
    pub retry: Option<RetrySpec>,
    /// A daily profile in steps, the trough of a diurnal load: from each step's `at` on, that
    /// `share` of the group's instances (its users) are online, the first
    /// `round(share x count)` of them; an instance going offline closes its keep-alive
    /// connections (a busy one once its request ends) and stops sending until it is online
    /// again. Live connections, and what a change resets, follow the share. Open loop only;
    /// none: every instance is online all the time.
    #[serde(default)]
    pub profile: Vec<LoadStep>,
    /// The service it sends to: a service's name, or the base name of a `services` entry with
    /// `count` > 1 (instance k then sends to the k-th of them, round robin); unset: the first.
    #[serde(default)]
    pub service: Option<String>,
    /// Find the service by resolving a DNS name instead (exclusive with `service`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<crate::dns::DnsClient>,
    /// Close a keep-alive connection after so many requests or at an age (none: keep it
    /// until it breaks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_limit: Option<crate::dns::ConnectionLimit>,
}

/// A client's retry policy: on a reset or a timeout the request is sent again, at most
/// `attempts` times, after a backoff with full jitter (gRPC proposal A6: retry n waits
/// `random(0, min(backoff x 2^(n-1), max_backoff))`), while Finagle's RetryBudget allows it:
/// retries within `budget` of the first tries of the last `window` plus `min_per_s` per
/// second of the window (`percentCanRetry` 20 %, `minRetriesPerSec` 10 and a 10 s ttl by
/// default). The lab's `retry` module has the mechanism.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Retries per request at most.
    #[serde(default = "three", deserialize_with = "setting::int_in::<_, _, 0, 10>")]
    pub attempts: u8,
    /// The first retry's backoff ceiling (gRPC's `initialBackoff`); it doubles per retry.
    #[serde(default = "default_backoff")]
    pub backoff: SimDuration,
    /// The backoff ceiling's cap (gRPC's `maxBackoff`).
    #[serde(default = "default_max_backoff")]
    pub max_backoff: SimDuration,
    /// Retries allowed as a share of the first tries in the window (0 to 1).
    #[serde(default = "default_budget")]
    pub budget: f64,
    /// Retries allowed per second of the window on top of the share.
    #[serde(default = "ten_f")]
    pub min_per_s: f64,
    /// How long a first try's credit lasts (Finagle's `ttl`: whole seconds, 1 to 60).
    #[serde(default = "default_retry_window")]
    pub window: SimDuration,
}

fn three() -> u8 {
    3
}
fn default_backoff() -> SimDuration {
    SimDuration::from_millis(50)
}
fn default_max_backoff() -> SimDuration {
    SimDuration::from_secs(1)
}
fn default_retry_window() -> SimDuration {
    SimDuration::from_secs(10)
}
fn default_budget() -> f64 {
    0.2
}
fn ten_f() -> f64 {
    10.0
}

/// One step of a client group's daily profile (`clients[i].profile`).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoadStep {
    /// From when.
    pub at: SimDuration,
    /// The share of the group's instances online from then on (0 to 1).
    pub share: f64,
}

/// Where a client runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, Default)]
pub enum ClientLocation {
    /// Outside the cluster.
    #[default]
    External,
    /// In a pod on this node.
    InCluster(String),
}

fn one_u32() -> u32 {
    1
}
fn per_request() -> Connections {
    Connections::PerRequest
}
fn default_timeout() -> SimDuration {
    SimDuration::from_secs(2)
}
fn default_request_bytes() -> u32 {
    200
}
fn default_response_bytes() -> u32 {
    1000
}

/// Open or closed loop.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
pub enum Load {
    /// Requests at a rate regardless of answers (vegeta, fortio).
    OpenLoop {
        /// Requests per second per client instance.
        rate: f64,
        /// Spacing of arrivals.
        #[serde(default = "poisson")]
        pacing: Pacing,
    },
    /// Each user sends, waits for the answer, thinks, sends again (wrk).
    ClosedLoop {
        /// Concurrent users per client instance.
        #[serde(deserialize_with = "setting::int_in::<_, _, 1, 100000>")]
        users: u32,
        /// Pause between an answer and the next request.
        #[serde(default)]
        think_time: SimDuration,
    },
    /// `fortio load -qps Q -c C`: C keep-alive connections, each paced at Q/C requests per
    /// second; a connection behind its schedule sends at once when its answer arrives (fortio's
    /// catch-up), never two at a time.
    Fortio {
        /// Total requests per second (fortio -qps).
        qps: f64,
        /// Connections (fortio -c).
        #[serde(deserialize_with = "setting::int_in::<_, _, 1, 100000>")]
        connections: u32,
    },
    /// `wrk -t T -c C --timeout 2s`: C keep-alive connections in a closed loop.
    Wrk {
        /// Threads (wrk -t); they only share the connections out.
        #[serde(deserialize_with = "setting::int_in::<_, _, 1, 100000>")]
        threads: u32,
        /// Connections (wrk -c).
        #[serde(deserialize_with = "setting::int_in::<_, _, 1, 100000>")]
        connections: u32,
    },
    /// `vegeta attack -rate R`: constant pacing over keep-alive connections, `workers` of them
    /// to start with and more while all are busy (vegeta's default max-workers is unbounded).
    Vegeta {
        /// Requests per second (vegeta -rate).
        rate: f64,
        /// Initial workers (vegeta -workers, default 10).
        #[serde(
            default = "ten",
            deserialize_with = "setting::int_in::<_, _, 1, 100000>"
        )]
        workers: u32,
    },
    /// `iperf3 -P N [-R]`: N bulk TCP streams as fluid flows, max-min fair over the links,
    /// NICs and node forwarding capacity on their path.
    Iperf3 {
        /// Parallel streams (iperf3 -P).
        #[serde(default = "one_u32", deserialize_with = "iperf3_streams")]
        parallel: u32,
        /// Server sends, client receives (iperf3 -R).
        #[serde(default)]
        reverse: bool,
    },
    /// `ping -i interval`: ICMP echo to the service IP, answered by the kernel of the node the
    /// router picks (the VIP sits on kube-ipvs0 in IPVS mode). ICMP has no ports, so every
    /// probe of one instance hashes to the same next hop. The failover probe of the benchmark.
    Ping {
        /// Gap between probes (ping -i).
        #[serde(default = "default_ping_interval")]
        interval: SimDuration,
    },
}

fn ten() -> u32 {
    10
}
/// iperf3 refuses `-P` outside 1 to 128 (src/iperf.h `MAX_STREAMS`).
fn iperf3_streams<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    setting::integer(d, 1, 128, "iperf3 -P")
}

fn poisson() -> Pacing {
    Pacing::Poisson
}

fn default_ping_interval() -> SimDuration {
    SimDuration::from_millis(100)
}

/// Arrival spacing of an open loop.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum Pacing {
    /// Exponential gaps.
    Poisson,
    /// Equal gaps.
    Constant,
}

/// Connection reuse.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum Connections {
    /// A new connection (fresh source port) for every request.
    PerRequest,
    /// A pool of keep-alive connections per client instance; a broken one is replaced.
    KeepAlive {
        /// Pool size.
        #[serde(deserialize_with = "setting::int_in::<_, _, 1, 100000>")]
        pool: u32,
    },
}

/// One scripted change: exactly one action at a time.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScriptedEvent {
    /// When.
    pub at: SimDuration,
    /// The router loses the node's route (as if its BGP session went down).
    #[serde(default)]
    pub withdraw: Option<String>,
    /// The router learns the node's route.
    #[serde(default)]
    pub announce: Option<String>,
    /// The node dies: NIC and processes gone, conntrack lost, nothing said.
    #[serde(default)]
    pub crash: Option<String>,
    /// The node comes back with empty conntrack; its pods are ready again; its speaker starts.
    #[serde(default)]
    pub recover: Option<String>,
    /// An orderly shutdown of the node's speaker: it says goodbye (NOTIFICATION Cease or FIN,
    /// BFD AdminDown); the node keeps forwarding until a later `crash`.
    #[serde(default)]
    pub shutdown: Option<String>,
    /// The node's speaker process restarts: stops as in `shutdown` and starts again after
    /// `restart_after`; the data plane keeps forwarding (what graceful restart protects).
    #[serde(default)]
    pub restart_speaker: Option<String>,
    /// `neighbor <router> shutdown` in the node's FRR: its session to the router ends with
    /// NOTIFICATION Cease / Administrative Shutdown (RFC 8203), bgpd and BFD stay up. With
    /// `restart_after`, `no neighbor <router> shutdown` then: the session starts after FRR's
    /// start timer (1 s), not at once ([`bgp::session::Input::AdminStart`]).
    #[serde(default)]
    pub neighbor_shutdown: Option<String>,
    /// Cordon and evict the node's pods; the speaker (a DaemonSet) stays.
    #[serde(default)]
    pub drain: Option<String>,
    /// Cut the node off the network (its links go down) while it keeps running.
    #[serde(default)]
    pub partition: Option<String>,
    /// Reconnect a partitioned node.
    #[serde(default)]
    pub heal: Option<String>,
    /// The node's routing daemon is killed (SIGKILL of bgpd; the host, zebra and bfdd stay
    /// up): the kernel closes its socket with FIN (RST if received data were unread), bfdd
    /// drops the BFD session bgpd had registered, nothing else is said. With `restart_after`
    /// it is started again then.
    #[serde(default)]
    pub kill_speaker: Option<String>,
    /// The node's routing daemons stop (SIGSTOP) as `daemons` says: their sockets stay open
    /// and the kernel still acknowledges and accepts, but nothing is read, sent or timed
    /// until `resume_speaker`.
    #[serde(default)]
    pub hang_speaker: Option<String>,
    /// The node's hung daemons continue (SIGCONT): overdue timers fire first, then what the
    /// kernel queued is read.
    #[serde(default)]
    pub resume_speaker: Option<String>,
    /// Which daemons a `hang_speaker` stops (`All` when not given).
    #[serde(default)]
    pub daemons: Option<Daemons>,
    /// The router drops everything the clients send it for this long (the lab's `iptables -I
    /// FORWARD -i <client interface> -j DROP`), without any route change.
    #[serde(default)]
    pub blackout: Option<SimDuration>,
    /// How long a `restart_speaker` keeps the speaker down (5 s when not given), or when a
    /// `kill_speaker` starts it again or a `neighbor_shutdown` is undone; see
    /// [`ScriptedEvent::restart_after`].
    #[serde(default)]
    pub restart_after: Option<SimDuration>,
    /// Give the records of this DNS name the new `weights` (the DNS split's operator step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_weights: Option<String>,
    /// The new weights of a `dns_weights` event, one per record in their order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<u32>>,
}

/// Which of a node's FRR daemons a `hang_speaker` stops.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
pub enum Daemons {
    /// bgpd alone: bfdd still answers, so BFD stays up and only the router's hold timer can
    /// notice (reallab: 6.1-6.4 s with hold 9 s).
    Bgpd,
    /// zebra, bfdd and bgpd: BFD notices (reallab: 0.80-0.88 s with 300 ms x 3).
    All,
}

/// How long a `restart_speaker` keeps the speaker down when the event does not say.
pub const DEFAULT_RESTART_AFTER: SimDuration = SimDuration::from_secs(5);

/// What a scripted event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See [`ScriptedEvent::withdraw`].
    Withdraw,
    /// See [`ScriptedEvent::announce`].
    Announce,
    /// See [`ScriptedEvent::crash`].
    Crash,
    /// See [`ScriptedEvent::recover`].
    Recover,
    /// See [`ScriptedEvent::shutdown`].
    Shutdown,
    /// See [`ScriptedEvent::restart_speaker`].
    RestartSpeaker,
    /// See [`ScriptedEvent::neighbor_shutdown`].
    NeighborShutdown,
    /// See [`ScriptedEvent::drain`].
    Drain,
    /// See [`ScriptedEvent::partition`].
    Partition,
    /// See [`ScriptedEvent::heal`].
    Heal,
    /// See [`ScriptedEvent::kill_speaker`].
    KillSpeaker,
    /// See [`ScriptedEvent::hang_speaker`].
    HangSpeaker,
    /// See [`ScriptedEvent::resume_speaker`].
    ResumeSpeaker,
    /// See [`ScriptedEvent::blackout`]; its subject is the router.
    Blackout,
    /// See [`ScriptedEvent::dns_weights`]; its subject is the DNS name.
    DnsWeights,
}

impl Action {
    /// The scenario keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            Action::Withdraw => "withdraw",
            Action::Announce => "announce",
            Action::Crash => "crash",
            Action::Recover => "recover",
            Action::Shutdown => "shutdown",
            Action::RestartSpeaker => "restart_speaker",
            Action::NeighborShutdown => "neighbor_shutdown",
            Action::Drain => "drain",
            Action::Partition => "partition",
            Action::Heal => "heal",
            Action::KillSpeaker => "kill_speaker",
            Action::HangSpeaker => "hang_speaker",
            Action::ResumeSpeaker => "resume_speaker",
            Action::Blackout => "blackout",
            Action::DnsWeights => "dns_weights",
        }
    }
}

impl ScriptedEvent {
    /// How long a `restart_speaker` keeps the speaker down.
    pub fn restart_after(&self) -> SimDuration {
        self.restart_after.unwrap_or(DEFAULT_RESTART_AFTER)
    }

    /// The single action and the node it names (validated at load); a `blackout` names the
    /// router.
    pub fn action(&self) -> Option<(Action, &str)> {
        let all = [
            (Action::Withdraw, self.withdraw.as_deref()),
            (Action::Announce, self.announce.as_deref()),
            (Action::Crash, self.crash.as_deref()),
            (Action::Recover, self.recover.as_deref()),
            (Action::Shutdown, self.shutdown.as_deref()),
            (Action::RestartSpeaker, self.restart_speaker.as_deref()),
            (Action::NeighborShutdown, self.neighbor_shutdown.as_deref()),
            (Action::Drain, self.drain.as_deref()),
            (Action::Partition, self.partition.as_deref()),
            (Action::Heal, self.heal.as_deref()),
            (Action::KillSpeaker, self.kill_speaker.as_deref()),
            (Action::HangSpeaker, self.hang_speaker.as_deref()),
            (Action::ResumeSpeaker, self.resume_speaker.as_deref()),
            (Action::Blackout, self.blackout.map(|_| "router")),
            (Action::DnsWeights, self.dns_weights.as_deref()),
        ];
        let mut set = all.into_iter().filter_map(|(a, n)| n.map(|n| (a, n)));
        let first = set.next()?;
        set.next().is_none().then_some(first)
    }
}

/// A variant: the base scenario with some settings replaced.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Name in output.
    pub name: String,
    /// ECMP settings to replace.
    #[serde(default)]
    pub ecmp: Option<EcmpPatch>,
    /// Service settings to replace.
    #[serde(default)]
    pub service: Option<ServicePatch>,
    /// Replaces the scripted events.
    #[serde(default)]
    pub events: Option<Vec<ScriptedEvent>>,
    /// Replaces the whole `bgp` section (fields left out take their defaults); clears `l2`.
    #[serde(default)]
    pub bgp: Option<BgpSpec>,
    /// Replaces the whole `l2` section; clears `bgp`.
    #[serde(default)]
    pub l2: Option<L2Spec>,
    /// Replaces the `services` list.
    #[serde(default)]
    pub services: Option<Vec<crate::cluster::ServiceEntry>>,
    /// Replaces the `advertisements` list.
    #[serde(default)]
    pub advertisements: Option<Vec<crate::cluster::Advertisement>>,
}

/// Replacement ECMP settings.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EcmpPatch {
    /// See [`Ecmp::fields`].
    pub fields: Option<HashFields>,
    /// See [`Ecmp::hash`].
    pub hash: Option<HashFunction>,
    /// See [`Ecmp::seed`].
    #[serde(
        default,
        deserialize_with = "setting::opt_int_in::<_, _, 0, 4294967295>"
    )]
    pub seed: Option<u32>,
    /// See [`Ecmp::selection`].
    pub selection: Option<Selection>,
    /// See [`Ecmp::nexthop_order`].
    pub nexthop_order: Option<NexthopOrder>,
    /// See [`Ecmp::hash_source`].
    pub hash_source: Option<HashSource>,
}

/// Replacement service settings.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ServicePatch {
    /// See [`Service::name`].
    pub name: Option<String>,
    /// See [`Service::traffic_policy`].
    pub traffic_policy: Option<TrafficPolicy>,
    /// See [`Service::kube_proxy`].
    pub kube_proxy: Option<KubeProxyMode>,
    /// See [`Service::conntrack_tcp_loose`].
    pub conntrack_tcp_loose: Option<bool>,
}

/// A bit rate, written `"10Gbit/s"`, `"1Gbps"`, `"100Mbit/s"`, `"0"` or `"unlimited"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bandwidth(pub u64);

impl FromStr for Bandwidth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t == "0" || t == "unlimited" {
            return Ok(Bandwidth(0));
        }
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let scale = match unit.trim() {
            "bit/s" | "bps" => 1.0,
            "kbit/s" | "Kbit/s" | "kbps" => 1e3,
            "Mbit/s" | "Mbps" => 1e6,
            "Gbit/s" | "Gbps" => 1e9,
            "Tbit/s" | "Tbps" => 1e12,
            _ => {
                return Err(format!(
                    "invalid bandwidth {s:?}: write a number and a unit, e.g. \"10Gbit/s\", \"100Mbit/s\" (units: bit/s, kbit/s, Mbit/s, Gbit/s, Tbit/s), or \"unlimited\""
                ))
            }
        };
        let v: f64 = num
            .parse()
            .map_err(|_| format!("invalid bandwidth {s:?}: {num:?} is not a number"))?;
        let bps = v * scale;
        if !(1.0..1e15).contains(&bps) {
            return Err(format!(
                "invalid bandwidth {s:?}: must be between 1 bit/s and 1 Pbit/s"
            ));
        }
        Ok(Bandwidth(bps.round() as u64))
    }
}

impl fmt::Display for Bandwidth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0 => f.write_str("unlimited"),
            b if b % 1_000_000_000 == 0 => write!(f, "{}Gbit/s", b / 1_000_000_000),
            b if b % 1_000_000 == 0 => write!(f, "{}Mbit/s", b / 1_000_000),
            b => write!(f, "{b}bit/s"),
        }
    }
}

/// Written as it is read (`"10Gbit/s"`), so a scenario serializes to what its file says.
impl Serialize for Bandwidth {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Bandwidth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        setting::from_text(
            d,
            "a rate in quotes, e.g. \"10Gbit/s\", \"100Mbit/s\" or \"unlimited\"",
        )
    }
}

/// A scenario that could not be loaded, located in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// The field path, e.g. `clients[0].load.rate`.
    pub field: String,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_place(f, &self.file, self.position, "", &self.field)?;
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ScenarioError {}

/// A setting that is valid but does something a reader may not expect (a restart time of 0,
/// a client that would run past the end). `sim validate`, `sim run` and `sim suite` print
/// each to stderr; the run goes ahead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file.
    pub file: PathBuf,
    /// 1-based line and column, when known.
    pub position: Option<(usize, usize)>,
    /// The field path.
    pub field: String,
    /// What the setting does and how to say it plainly.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_place(f, &self.file, self.position, "warning", &self.field)?;
        write!(f, ": {}", self.message)
    }
}

/// A setting refused by validation: (field path, what is wrong and what would be valid).
type Refusal = (String, String);

fn refuse<T>(field: impl Into<String>, message: String) -> Result<T, Refusal> {
    Err((field.into(), message))
}

/// A client group's daily profile: open loop, steps in time order, shares from 0 to 1.
fn check_profile(i: usize, c: &ClientSpec) -> Result<(), Refusal> {
    if !c.profile.is_empty() && !matches!(c.load, Load::OpenLoop { .. }) {
        return refuse(
            format!("clients[{i}].profile"),
            "a profile applies to OpenLoop loads (users online send at the load's rate)".into(),
        );
    }
    for (k, step) in c.profile.iter().enumerate() {
        if !(step.share.is_finite() && (0.0..=1.0).contains(&step.share)) {
            return refuse(
                format!("clients[{i}].profile[{k}].share"),
                format!("{}: a share of the group's instances, 0 to 1", step.share),
            );
        }
        if k > 0 && step.at <= c.profile[k - 1].at {
            return refuse(
                format!("clients[{i}].profile[{k}].at"),
                format!(
                    "{}: steps go in time order, each after the one before",
                    step.at
                ),
            );
        }
    }
    Ok(())
}

/// What validation says about valid settings: (field path, message).
#[derive(Default)]
struct Notes(Vec<(String, String)>);

impl Notes {
    fn warn(&mut self, field: impl Into<String>, message: String) {
        self.0.push((field.into(), message));
    }
}

impl Scenario {
    /// Read and validate a scenario file.
    ///
    /// # Errors
    /// A [`ScenarioError`] naming the file, position, field and the problem.
    pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
        let bytes = std::fs::read(path).map_err(|e| ScenarioError {
            file: path.to_path_buf(),
            position: None,
            field: String::new(),
            message: format!("cannot read the file: {e}"),
        })?;
        Scenario::parse_bytes(path, &bytes)
    }

    /// Parse and validate a scenario file's bytes: UTF-8, a leading byte-order mark skipped;
    /// `path` is only used in errors and warnings.
    ///
    /// # Errors
    /// A [`ScenarioError`] naming the file, position, field and the problem; for bytes that
    /// are not UTF-8 text, the byte offset of the first bad one.
    pub fn parse_bytes(path: &Path, bytes: &[u8]) -> Result<Scenario, ScenarioError> {
        let text = input::decode(bytes).map_err(|e| ScenarioError {
            file: path.to_path_buf(),
            position: e.position,
            field: e.field,
            message: e.message,
        })?;
        Scenario::parse(path, text)
    }

    /// Parse and validate scenario text; `path` is only used in errors and warnings.
    ///
    /// # Errors
    /// A [`ScenarioError`] naming the file, position, field and the problem.
    pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
        let scenario: Scenario = input::parse_ron(text, 64).map_err(|e| ScenarioError {
            file: path.to_path_buf(),
            position: e.position,
            field: e.field,
            message: e.message,
        })?;
        scenario.checked_at(path, |field| locate(text, field))
    }

    /// Check a scenario built in memory (a sweep point) as [`Scenario::parse`] checks a file,
    /// with its warnings; errors and warnings name `path` and the field, without a line.
    ///
    /// # Errors
    /// A [`ScenarioError`] naming the field and the problem.
    pub fn checked(self, path: &Path) -> Result<Scenario, ScenarioError> {
        self.checked_at(path, |_| None)
    }

    /// Validate, keeping the warnings; `position` locates a field in the file.
    fn checked_at(
        mut self,
        path: &Path,
        position: impl Fn(&str) -> Option<(usize, usize)>,
    ) -> Result<Scenario, ScenarioError> {
        let notes = self.validate().map_err(|(field, message)| ScenarioError {
            file: path.to_path_buf(),
            position: position(&field),
            field,
            message,
        })?;
        self.warnings = notes
            .into_iter()
            .map(|(field, message)| Warning {
                file: path.to_path_buf(),
                position: position(&field),
                field,
                message,
            })
            .collect();
        Ok(self)
    }

    /// The names of the nodes, `node-1` ..
    pub fn node_names(&self) -> Vec<String> {
        (1..=self.nodes.count)
            .map(|i| format!("node-{i}"))
            .collect()
    }

    /// The variants to run: the declared ones, or one called `base`.
    pub fn variant_list(&self) -> Vec<Variant> {
        if self.variants.is_empty() {
            vec![Variant {
                name: "base".into(),
                ..Variant::default()
            }]
        } else {
            self.variants.clone()
        }
    }

    /// The Kubernetes Service name variant `v` runs under ([`Service::name`]).
    pub fn service_name(&self, v: &Variant) -> String {
        v.service
            .as_ref()
            .and_then(|p| p.name.clone())
            .or_else(|| self.service.name.clone())
            .unwrap_or_else(|| format!("benchmark-{}", v.name))
    }

    /// Cross-field checks serde cannot do: the first refusal, or the warnings. Ranges of
    /// single integers are checked as they are read (`setting`).
    fn validate(&self) -> Result<Vec<(String, String)>, Refusal> {
        let mut notes = Notes::default();
        self.check_run(&mut notes)?;
        self.check_service()?;
        self.check_clients(&mut notes)?;
        self.check_modes(&mut notes)?;
        self.check_ecmp()?;
        self.check_variants(&mut notes)?;
        self.check_cluster()?;
        crate::dns::check(self)?;
        crate::ingress::check(self)?;
        if let Some(t) = &self.mitigations {
            t.check(self)?;
        }
        Ok(notes.0)
    }

    fn check_run(&self, notes: &mut Notes) -> Result<(), Refusal> {
        if self.duration == SimDuration::ZERO {
            return refuse("duration", "must be longer than zero, e.g. \"60s\"".into());
        }
        if self.timeseries_bucket == SimDuration::ZERO {
            return refuse(
                "timeseries_bucket",
                "must be longer than zero, e.g. \"100ms\"".into(),
            );
        }
        if self.timeseries_bucket > self.duration {
            notes.warn(
                "timeseries_bucket",
                format!(
                    "{} is longer than the run ({}): the time series has a single bucket",
                    self.timeseries_bucket, self.duration
                ),
            );
        }
        Ok(())
    }

    fn check_service(&self) -> Result<(), Refusal> {
        let vip = self.service.vip;
        // Kubernetes ValidateNonSpecialIP (pkg/apis/core/validation) refuses unspecified,
        // loopback and link-local addresses for service IPs; no host answers ARP for a
        // multicast or broadcast address.
        let special = if vip.is_unspecified() {
            Some("is unspecified")
        } else if vip.is_loopback() {
            Some("is in the loopback range 127.0.0.0/8")
        } else if vip.is_link_local() {
            Some("is in the link-local range 169.254.0.0/16")
        } else if vip.is_multicast() || vip.is_broadcast() {
            Some("is a multicast or broadcast address")
        } else {
            None
        };
        if let Some(why) = special {
            return refuse(
                "service.vip",
                format!("{vip} {why}: a LoadBalancer IP is a unicast address such as 192.0.2.10"),
            );
        }
        if let Some(owner) = crate::lab::address_owner(vip, self.nodes.count) {
            return refuse(
                "service.vip",
                format!(
                    "{vip} is {owner} in the lab's address plan (router 10.0.0.1, nodes 10.0.0.11 up, clients 198.18.0.0/15): choose another, e.g. 192.0.2.10"
                ),
            );
        }
        let pods = &self.service.pods;
        if !(pods.cpu.is_finite() && pods.cpu > 0.0 && pods.cpu <= 256.0) {
            return refuse(
                "service.pods.cpu",
                format!("{}: must be a number of cores in (0, 256]", pods.cpu),
            );
        }
        let (what, time) = match pods.service_time {
            ServiceTime::Constant { time } => ("time", time),
            ServiceTime::Exponential { mean } => ("mean", mean),
            ServiceTime::LogNormal { median, .. } => ("median", median),
        };
        if time == SimDuration::ZERO {
            return refuse(
                format!("service.pods.service_time.{what}"),
                "must be longer than zero: a request takes some CPU time, e.g. \"100us\"".into(),
            );
        }
        if let ServiceTime::LogNormal { sigma, .. } = pods.service_time {
            if !(sigma.is_finite() && (0.0..=10.0).contains(&sigma)) {
                return refuse(
                    "service.pods.service_time.sigma",
                    format!("{sigma}: must be in [0, 10]"),
                );
            }
        }
        if let Placement::OnNodes(list) = &pods.placement {
            if list.is_empty() {
                return refuse("service.pods.placement", "names no node".into());
            }
            for (i, n) in list.iter().enumerate() {
                self.known_node(&format!("service.pods.placement[{i}]"), n)?;
            }
        }
        Ok(())
    }

    /// Pools, services and advertisements resolve in every variant, and every client's
    /// `service` names one.
    fn check_cluster(&self) -> Result<(), Refusal> {
        for v in self.variant_list() {
            let c = crate::cluster::Cluster::resolve(self, &v)?;
            for (i, spec) in self.clients.iter().enumerate() {
                if c.targets(spec.service.as_deref()).is_empty() {
                    let names: Vec<&str> = c.services.iter().map(|d| d.name.as_str()).collect();
                    return refuse(
                        format!("clients[{i}].service"),
                        format!(
                            "no service {:?}; valid: {}",
                            spec.service.as_deref().unwrap_or(""),
                            names.join(", ")
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    /// `node` is one of `node-1` .. `node-N`.
    fn known_node(&self, field: &str, node: &str) -> Result<(), Refusal> {
        let names = self.node_names();
        if names.iter().any(|n| n == node) {
            return Ok(());
        }
        refuse(
            field,
            format!("no node {node:?}; valid: {}", names.join(", ")),
        )
    }

    fn check_clients(&self, notes: &mut Notes) -> Result<(), Refusal> {
        if self.clients.is_empty() {
            return refuse("clients", "at least one client is needed".into());
        }
        for (i, c) in self.clients.iter().enumerate() {
            if let Some(r) = &c.retry {
                if !matches!(c.load, Load::OpenLoop { .. }) {
                    return refuse(
                        format!("clients[{i}].retry"),
                        "retry applies to OpenLoop loads (a closed-loop user or a tool's connection paces itself)".into(),
                    );
                }
                if !(r.budget.is_finite() && (0.0..=1.0).contains(&r.budget)) {
                    return refuse(
                        format!("clients[{i}].retry.budget"),
                        format!("{}: a share of requests, 0 to 1", r.budget),
                    );
                }
                if !(r.min_per_s.is_finite() && r.min_per_s >= 0.0) {
                    return refuse(
                        format!("clients[{i}].retry.min_per_s"),
                        format!("{}: retries per second, 0 or more", r.min_per_s),
                    );
                }
                let w = r.window.as_nanos();
                if w % 1_000_000_000 != 0 || !(1..=60).contains(&(w / 1_000_000_000)) {
                    return refuse(
                        format!("clients[{i}].retry.window"),
                        format!(
                            "{}: whole seconds from 1s to 60s (Finagle's RetryBudget ttl)",
                            r.window
                        ),
                    );
                }
                if r.max_backoff < r.backoff {
                    return refuse(
                        format!("clients[{i}].retry.max_backoff"),
                        format!("{}: at least the backoff ({})", r.max_backoff, r.backoff),
                    );
                }
            }
        }
        for (i, c) in self.clients.iter().enumerate() {
            check_profile(i, c)?;
        }
        let mut seen = BTreeSet::new();
        for (i, c) in self.clients.iter().enumerate() {
            let f = |s: &str| format!("clients[{i}].{s}");
            if c.name.is_empty() {
                return refuse(f("name"), "a client needs a name, e.g. \"web\"".into());
            }
            if !seen.insert(c.name.as_str()) {
                return refuse(f("name"), format!("client name {:?} is used twice", c.name));
            }
            check_load(&f, c)?;
            if c.start >= self.duration {
                return refuse(
                    f("start"),
                    format!(
                        "start {} is not before the end of the run ({}): the client would send nothing",
                        c.start, self.duration
                    ),
                );
            }
            if let Some(stop) = c.stop {
                if stop <= c.start {
                    return refuse(
                        f("stop"),
                        format!(
                            "stop {stop} is not after start {}: the client would send nothing",
                            c.start
                        ),
                    );
                }
                if stop > self.duration {
                    notes.warn(
                        f("stop"),
                        format!(
                            "stop {stop} is after the end of the run ({}): the client stops with the run",
                            self.duration
                        ),
                    );
                }
            }
            match &c.location {
                ClientLocation::InCluster(node) => self.known_node(&f("location"), node)?,
                ClientLocation::External => {
                    // Out and back over the client's link and a node's link, at least.
                    let net = &self.network;
                    let rtt = SimDuration(
                        2 * (net.client_link.delay.as_nanos() + net.node_link.delay.as_nanos()),
                    );
                    if rtt >= c.timeout {
                        notes.warn(
                            f("timeout"),
                            format!(
                                "{} is not longer than the round trip over the links ({rtt}, network.client_link and network.node_link): every request times out",
                                c.timeout
                            ),
                        );
                    }
                }
            }
            if let Some(out) = &c.output {
                let name = out.replace("{variant}", "x");
                let tool = !matches!(c.load, Load::OpenLoop { .. } | Load::ClosedLoop { .. });
                if !tool {
                    return refuse(
                        f("output"),
                        "only Fortio, Wrk, Vegeta, Iperf3 and Ping loads have a tool format".into(),
                    );
                }
                if !plain_file_name(&name) {
                    return refuse(
                        f("output"),
                        format!(
                            "{out:?}: give a plain file name such as \"{{variant}}_fortio.json\""
                        ),
                    );
                }
            }
            if c.timeout == SimDuration::ZERO {
                return refuse(f("timeout"), "must be longer than zero".into());
            }
        }
        Ok(())
    }

    /// One mode per scenario and per variant; each `bgp` and `l2` section checked.
    fn check_modes(&self, notes: &mut Notes) -> Result<(), Refusal> {
        if self.bgp.is_some() && self.l2.is_some() {
            return refuse("l2", "a scenario is in BGP mode or in L2 mode: give `bgp` or `l2`, not both (variants may switch)".into());
        }
        if let Some(b) = &self.bgp {
            check_bgp("bgp", b, notes)?;
        }
        if let Some(l) = &self.l2 {
            check_l2("l2", l, notes)?;
        }
        for (i, v) in self.variants.iter().enumerate() {
            if v.bgp.is_some() && v.l2.is_some() {
                return refuse(
                    format!("variants[{i}].l2"),
                    "a variant gives `bgp` or `l2`, not both".into(),
                );
            }
            if let Some(b) = &v.bgp {
                check_bgp(&format!("variants[{i}].bgp"), b, notes)?;
            }
            if let Some(l) = &v.l2 {
                check_l2(&format!("variants[{i}].l2"), l, notes)?;
            }
        }
        Ok(())
    }

    /// Selection parameters at load, with the file's line, rather than when a run builds the
    /// router's group: every node may announce, so the group has up to `nodes.count` members.
    fn check_ecmp(&self) -> Result<(), Refusal> {
        let n = usize::from(self.nodes.count);
        let base = std::iter::once(("ecmp.hash_source".to_string(), self.ecmp));
        let patched = self
            .variants
            .iter()
            .enumerate()
            .map(|(i, v)| (format!("variants[{i}].ecmp.hash_source"), self.ecmp_of(v)));
        for (field, e) in base.chain(patched) {
            if e.hash_source != HashSource::FlowKeys && !HashSource::applies_to(e.fields, e.hash) {
                return refuse(
                    field,
                    format!(
                        "{} is an L4 hash, which only Linux's fib_multipath_hash_policy 1 takes (net/ipv4/route.c fib_multipath_hash: `if (skb->l4_hash) return skb_get_hash_raw(skb) >> 1`): give fields: FiveTuple and hash: Linux, or hash_source: FlowKeys (here fields: {:?}, hash: {:?})",
                        e.hash_source.cli_name(),
                        e.fields,
                        e.hash
                    ),
                );
            }
        }
        let base = std::iter::once(("ecmp.selection".to_string(), Some(self.ecmp.selection)));
        let patched = self.variants.iter().enumerate().map(|(i, v)| {
            (
                format!("variants[{i}].ecmp.selection"),
                v.ecmp.and_then(|p| p.selection),
            )
        });
        for (field, selection) in base.chain(patched) {
            if let Some(Err(e)) = selection.map(|s| s.check_for(n)) {
                return refuse(field, format!("{e} (the group holds up to {n} nodes)"));
            }
        }
        Ok(())
    }

    fn check_variants(&self, notes: &mut Notes) -> Result<(), Refusal> {
        // The base events run in every variant that does not replace them: each of those
        // variants must have what an event needs.
        let users: Vec<Mode> = if self.variants.is_empty() {
            vec![Mode::of(self.bgp.is_some(), self.l2.is_some())]
        } else {
            self.variants
                .iter()
                .filter(|v| v.events.is_none())
                .map(|v| self.mode_of(v))
                .collect()
        };
        self.check_events("events", &self.events, &users, notes)?;
        let mut names = BTreeSet::new();
        for (i, v) in self.variants.iter().enumerate() {
            let field = format!("variants[{i}].name");
            // The name becomes part of output file names (`{variant}`, pcap files).
            if !plain_file_name(&v.name) {
                return refuse(
                    field,
                    format!(
                        "{:?}: a variant name is part of output file names: no '/', '\\' or control character, not starting with '.'",
                        v.name
                    ),
                );
            }
            if !names.insert(v.name.as_str()) {
                return refuse(field, format!("variant name {:?} is used twice", v.name));
            }
            if let Some(ev) = &v.events {
                self.check_events(
                    &format!("variants[{i}].events"),
                    ev,
                    &[self.mode_of(v)],
                    notes,
                )?;
            }
        }
        self.check_service_names()
    }

    /// Every variant's Service name (the OpenMetrics `service` label) is its own: variants
    /// run over the same simulated time, so a shared name would sum them in the seed's queries.
    fn check_service_names(&self) -> Result<(), Refusal> {
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for (i, v) in self.variant_list().iter().enumerate() {
            let name = self.service_name(v);
            let field = match v.service.as_ref().and_then(|p| p.name.as_ref()) {
                Some(_) => format!("variants[{i}].service.name"),
                None if self.service.name.is_some() => "service.name".to_string(),
                None => format!("variants[{i}].name"),
            };
            if name.is_empty() || name.chars().any(char::is_control) {
                return refuse(
                    field,
                    format!("{name:?}: a Service name is a non-empty label value without control characters, e.g. \"benchmark-l2\""),
                );
            }
            if let Some(other) = seen.insert(name.clone(), v.name.clone()) {
                return refuse(
                    field,
                    format!(
                        "variants {other:?} and {:?} both run as Service {name:?}: give each variant its own `service: (name: ...)`, since its series in the OpenMetrics file would add up with the other's",
                        v.name
                    ),
                );
            }
        }
        Ok(())
    }

    fn check_events(
        &self,
        path: &str,
        events: &[ScriptedEvent],
        modes: &[Mode],
        notes: &mut Notes,
    ) -> Result<(), Refusal> {
        for (i, e) in events.iter().enumerate() {
            let field = format!("{path}[{i}]");
            let Some((action, node)) = e.action() else {
                return refuse(
                    field,
                    "give exactly one of withdraw, announce, crash, recover, shutdown, restart_speaker, neighbor_shutdown, kill_speaker, hang_speaker, resume_speaker, drain, partition, heal, blackout, dns_weights, e.g. (at: \"20s\", withdraw: \"node-2\")".into(),
                );
            };
            let keyword = action.keyword();
            let needs = match action {
                Action::NeighborShutdown
                | Action::KillSpeaker
                | Action::HangSpeaker
                | Action::ResumeSpeaker => Some(Mode::Bgp),
                // An orderly stop (and, for a restart, the start after it) of the BGP or the
                // L2 speaker.
                Action::Shutdown | Action::RestartSpeaker => {
                    modes.iter().find(|m| **m == Mode::Scripted).copied()
                }
                _ => None,
            };
            let lacking = match needs {
                Some(Mode::Bgp) => modes.iter().any(|m| *m != Mode::Bgp),
                Some(_) => true,
                None => false,
            };
            if lacking {
                return refuse(
                    format!("{field}.{keyword}"),
                    format!(
                        "{keyword} needs a speaker in every variant that runs it: neighbor_shutdown, kill_speaker, hang_speaker and resume_speaker a `bgp: (...)` section, shutdown and restart_speaker a `bgp` or an `l2` one"
                    ),
                );
            }
            crate::dns::check_event(self, &field, e)?;
            if action == Action::DnsWeights {
                // Checked above: a known name and one weight per record.
            } else if action == Action::Blackout {
                if e.blackout == Some(SimDuration::ZERO) {
                    return refuse(
                        format!("{field}.blackout"),
                        "must be longer than zero, e.g. \"1.5s\"".into(),
                    );
                }
            } else {
                self.known_node(&format!("{field}.{keyword}"), node)?;
            }
            if e.at >= self.duration {
                return refuse(
                    format!("{field}.at"),
                    format!(
                        "at {} is not before the end of the run ({}): the event would never happen",
                        e.at, self.duration
                    ),
                );
            }
            if e.daemons.is_some() && action != Action::HangSpeaker {
                return refuse(
                    format!("{field}.daemons"),
                    format!("daemons applies only to hang_speaker, not to {keyword}"),
                );
            }
            match (action, e.restart_after) {
                (Action::RestartSpeaker, _)
                | (Action::KillSpeaker | Action::NeighborShutdown, Some(_)) => {
                    let back = e.at + e.restart_after();
                    if back >= self.duration {
                        notes.warn(
                            format!("{field}.restart_after"),
                            format!(
                                "the speaker would start again at {back}, not before the end of the run ({}): it stays down",
                                self.duration
                            ),
                        );
                    }
                }
                (_, Some(_)) => {
                    return refuse(
                        format!("{field}.restart_after"),
                        format!("restart_after applies only to restart_speaker, neighbor_shutdown and kill_speaker, not to {keyword}"),
                    );
                }
                (_, None) => {}
            }
        }
        Ok(())
    }
}

/// A name that is safe as (part of) a file name in the output directory: no path separator,
/// no control character, not hidden.
fn plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name
            .chars()
            .any(|c| c == '/' || c == '\\' || c.is_control())
}

/// The load's parameters that depend on each other or are not integers.
fn check_load(f: &dyn Fn(&str) -> String, c: &ClientSpec) -> Result<(), Refusal> {
    let rate_ok = |r: f64| r.is_finite() && r > 0.0 && r <= 1e8;
    match c.load {
        Load::OpenLoop { rate, .. } | Load::Vegeta { rate, .. } if !rate_ok(rate) => refuse(
            f("load.rate"),
            format!("{rate}: must be a rate in (0, 1e8] requests/s"),
        ),
        Load::Fortio { qps, .. } if !rate_ok(qps) => refuse(
            f("load.qps"),
            format!("{qps}: must be in (0, 1e8] requests/s"),
        ),
        Load::Wrk {
            threads,
            connections,
        } if threads > connections => refuse(
            f("load.threads"),
            format!("threads {threads} with connections {connections}: wrk refuses fewer connections than threads"),
        ),
        Load::Ping { interval } if interval == SimDuration::ZERO => refuse(
            f("load.interval"),
            "must be longer than zero, e.g. \"100ms\"".into(),
        ),
        Load::ClosedLoop { users, .. } => match c.connections {
            Connections::KeepAlive { pool } if pool < users => refuse(
                f("connections.pool"),
                format!("pool {pool} is smaller than users {users}: each closed-loop user holds one connection"),
            ),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// `d` is a whole number of `unit` from `lo` to `hi` units; `source` names whose range it is.
fn duration_in(
    field: &str,
    d: SimDuration,
    (unit, unit_name): (SimDuration, &str),
    (lo, hi): (u64, u64),
    source: &str,
) -> Result<(), Refusal> {
    let units = d.as_nanos() / unit.as_nanos();
    if !d.as_nanos().is_multiple_of(unit.as_nanos()) || !(lo..=hi).contains(&units) {
        // `SimDuration` shows zero as "0ns"; in a range of seconds "0s" reads better.
        let show = |n: u64| match n {
            0 => "0s".to_string(),
            n => SimDuration(n * unit.as_nanos()).to_string(),
        };
        let given = if d == SimDuration::ZERO {
            "0s".to_string()
        } else {
            d.to_string()
        };
        return refuse(
            field,
            format!(
                "{given}: must be {} to {} in whole {unit_name} ({source})",
                show(lo),
                show(hi)
            ),
        );
    }
    Ok(())
}

const SECONDS: (SimDuration, &str) = (SimDuration::from_secs(1), "seconds");
const MILLIS: (SimDuration, &str) = (SimDuration::from_millis(1), "milliseconds");

/// A BGP hold time: 0 (no keepalives, no hold timer) or 3 to 65535 whole seconds (RFC 4271
/// §4.2: the OPEN's 2-octet Hold Time in seconds, "either zero or at least three seconds";
/// MetalLB refuses the rest, internal/config `parseTimers`).
fn check_hold(field: &str, hold: SimDuration) -> Result<(), Refusal> {
    if hold == SimDuration::ZERO {
        return Ok(());
    }
    duration_in(
        field,
        hold,
        SECONDS,
        (3, 65_535),
        "RFC 4271 §4.2; or 0 for no hold timer",
    )
}

fn check_bgp(path: &str, b: &BgpSpec, notes: &mut Notes) -> Result<(), Refusal> {
    let f = |s: &str| format!("{path}.{s}");
    if b.speaker == SpeakerKind::Native {
        // metallb internal/bgp/native: SyncBFDProfiles refuses BFD profiles.
        if b.bfd.is_some() {
            return refuse(f("bfd"), "MetalLB's native speaker has no BFD; use speaker: FrrDatacenter, FrrTraditional or Frr(...)".into());
        }
        // metallb api/v1beta2/bgppeer_types.go: enableGracefulRestart is "Supported for FRR
        // mode only".
        if b.graceful_restart.is_some() {
            return refuse(f("graceful_restart"), "MetalLB's native speaker has no graceful restart (BGPPeer enableGracefulRestart is FRR mode only); use speaker: FrrDatacenter, FrrTraditional or Frr(...)".into());
        }
        // metallb internal/bgp/native `connect`: the UPDATEs follow the OPEN exchange at once.
        if b.coalesce_time.is_some() {
            return refuse(f("coalesce_time"), "MetalLB's native speaker sends its UPDATEs right after the OPEN exchange; coalesce_time is FRR's (use speaker: FrrDatacenter, FrrTraditional or Frr(...))".into());
        }
    }
    if let Some(bfd) = &b.bfd {
        // metallb api/v1beta1/bfdprofile_types.go: receiveInterval and transmitInterval are
        // milliseconds, Minimum 10, Maximum 60000 (detectMultiplier is checked as it is read).
        for (name, d) in [
            ("transmit_interval", bfd.transmit_interval),
            ("receive_interval", bfd.receive_interval),
        ] {
            duration_in(
                &f(&format!("bfd.{name}")),
                d,
                MILLIS,
                (10, 60_000),
                "MetalLB's BFDProfile",
            )?;
        }
    }
    if let SpeakerKind::Frr {
        keepalive,
        hold,
        connect_retry,
    } = b.speaker
    {
        check_hold(&f("speaker.hold"), hold)?;
        // FRR `neighbor PEER timers (0-65535) (0-65535)`; MetalLB parseTimers: "must be lower
        // than holdTime".
        duration_in(
            &f("speaker.keepalive"),
            keepalive,
            SECONDS,
            (0, 65_535),
            "FRR neighbor timers",
        )?;
        if keepalive > hold {
            return refuse(
                f("speaker.keepalive"),
                format!("keepalive {keepalive} is longer than hold {hold}: the session would expire between keepalives (MetalLB refuses it)"),
            );
        }
        if keepalive == SimDuration::ZERO && hold != SimDuration::ZERO {
            // RFC 4271 §4.4: keepalives are sent often enough that the hold timer does not
            // expire; none at all means the router drops the session every hold time.
            return refuse(
                f("speaker.keepalive"),
                format!("keepalive 0s with hold {hold}: no KEEPALIVE is sent, so the session drops every {hold} (RFC 4271 §4.4); give 1s up to hold/3, or hold 0s to turn both off"),
            );
        }
        let third = SimDuration::from_secs(hold.as_nanos() / 3_000_000_000);
        if keepalive > third && hold != SimDuration::ZERO {
            notes.warn(
                f("speaker.keepalive"),
                format!("{keepalive} is more than a third of hold {hold}: FRR sends keepalives every {third} instead (bgp_packet.c bgp_open_receive: keepalive at most holdtime / 3)"),
            );
        }
        // FRR `neighbor PEER timers connect (1-65535)`.
        duration_in(
            &f("speaker.connect_retry"),
            connect_retry,
            SECONDS,
            (1, 65_535),
            "FRR neighbor timers connect",
        )?;
    }
    check_hold(&f("router_hold_time"), b.router_hold_time)?;
    if let Some(c) = b.coalesce_time {
        // FRR `bgp coalesce-time (0-4294967295)`, milliseconds.
        duration_in(
            &f("coalesce_time"),
            c,
            MILLIS,
            (0, 4_294_967_295),
            "FRR bgp coalesce-time",
        )?;
    }
    if let Some(restart) = b.graceful_restart {
        // RFC 4724 §3: Restart Time is 12 bits of seconds; FRR `bgp graceful-restart
        // restart-time (0-4095)`.
        duration_in(
            &f("graceful_restart"),
            restart,
            SECONDS,
            (0, 4_095),
            "RFC 4724 §3: a 12-bit Restart Time",
        )?;
        if restart == SimDuration::ZERO {
            notes.warn(
                f("graceful_restart"),
                "a restart time of 0s tells the router to delete the speaker's routes as soon as the session drops (RFC 4724 §4.2), as without graceful restart; give 1s to 4095s to keep them".into(),
            );
        }
    }
    Ok(())
}

fn check_l2(path: &str, l: &L2Spec, notes: &mut Notes) -> Result<(), Refusal> {
    let f = |s: &str| format!("{path}.{s}");
    if l.base_reachable_time == SimDuration::ZERO {
        return refuse(
            f("base_reachable_time"),
            "must be longer than zero (Linux: 30s): with 0 every ARP entry is stale at once".into(),
        );
    }
    // IEEE 802.1D-2004 Table 7-5 (802.1Q §8.8.3): Ageing Time range 10 to 1 000 000 s,
    // default 300 s. Switches that take 0 mean "never age"; write a long time for that.
    duration_in(
        &f("switch_aging"),
        l.switch_aging,
        SECONDS,
        (10, 1_000_000),
        "IEEE 802.1D Ageing Time; for entries that never age write \"1000000s\"",
    )?;
    if l.gratuitous_arp_interval == Some(SimDuration::ZERO) {
        notes.warn(
            f("gratuitous_arp_interval"),
            "0s turns periodic gratuitous ARP off, as MetalLB's --gratuitous-arp-interval=0 does: leave the field out to say so".into(),
        );
    }
    Ok(())
}

/// How a variant's routes are decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Scripted announce/withdraw, no protocol.
    Scripted,
    /// BGP speakers and a router.
    Bgp,
    /// Layer 2: ARP and a leader per IP.
    L2,
}

impl Mode {
    fn of(bgp: bool, l2: bool) -> Mode {
        if l2 {
            Mode::L2
        } else if bgp {
            Mode::Bgp
        } else {
            Mode::Scripted
        }
    }
}

impl Scenario {
    /// The ECMP settings a variant runs with: the base with the variant's patch applied.
    pub fn ecmp_of(&self, v: &Variant) -> Ecmp {
        let mut ecmp = self.ecmp;
        if let Some(p) = &v.ecmp {
            ecmp.fields = p.fields.unwrap_or(ecmp.fields);
            ecmp.hash = p.hash.unwrap_or(ecmp.hash);
            ecmp.seed = p.seed.unwrap_or(ecmp.seed);
            ecmp.selection = p.selection.unwrap_or(ecmp.selection);
            ecmp.nexthop_order = p.nexthop_order.unwrap_or(ecmp.nexthop_order);
            ecmp.hash_source = p.hash_source.unwrap_or(ecmp.hash_source);
        }
        ecmp
    }

    /// The BGP section a variant runs with (its own replaces the base; an `l2` clears it).
    pub fn bgp_of(&self, v: &Variant) -> Option<BgpSpec> {
        match (v.bgp, v.l2) {
            (Some(b), _) => Some(b),
            (None, Some(_)) => None,
            (None, None) => self.bgp,
        }
    }

    /// The L2 section a variant runs with (its own replaces the base; a `bgp` clears it).
    pub fn l2_of(&self, v: &Variant) -> Option<L2Spec> {
        match (v.l2, v.bgp) {
            (Some(l), _) => Some(l),
            (None, Some(_)) => None,
            (None, None) => self.l2,
        }
    }

    /// The mode a variant runs in.
    pub fn mode_of(&self, v: &Variant) -> Mode {
        Mode::of(self.bgp_of(v).is_some(), self.l2_of(v).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"(
        name: "t",
        duration: "1s",
        nodes: (count: 3),
        service: (pods: (replicas: 3, service_time: Constant(time: "100us"))),
        clients: [(name: "c", load: OpenLoop(rate: 100))],
    )"#;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(Path::new("x.ron"), text)
    }

    #[test]
    fn minimal_scenario_takes_defaults() {
        let s = parse(MINIMAL).unwrap();
        assert_eq!(s.ecmp.selection, Selection::HashThreshold);
        assert_eq!(s.network.node_link.delay, SimDuration::from_micros(50));
        assert_eq!(s.clients[0].timeout, SimDuration::from_secs(2));
        assert_eq!(s.variant_list()[0].name, "base");
    }

    #[test]
    fn unknown_field_names_line_column_field_and_valid_ones() {
        let bad = MINIMAL.replace("nodes: (count: 3)", "nodes: (count: 3, corez: 2)");
        let e = parse(&bad).unwrap_err();
        assert_eq!(e.position.map(|p| p.0), Some(4));
        let text = e.to_string();
        assert!(text.contains("corez") && text.contains("cores"), "{text}");
        assert!(text.starts_with("x.ron:4:"), "{text}");
    }

    #[test]
    fn bad_enum_variant_lists_alternatives() {
        let bad = MINIMAL.replace(
            "OpenLoop(rate: 100)",
            "OpenLoop(rate: 100, pacing: Uniform)",
        );
        let e = parse(&bad).unwrap_err();
        assert_eq!(e.field, "clients[0].load.OpenLoop.pacing");
        assert!(
            e.message.contains("Poisson") && e.message.contains("Constant"),
            "{e}"
        );
    }

    #[test]
    fn bad_duration_is_located() {
        let bad = MINIMAL.replace("\"100us\"", "\"100 parsecs\"");
        let e = parse(&bad).unwrap_err();
        assert_eq!(e.field, "service.pods.service_time.Constant.time");
        assert!(e.message.contains("unknown unit"), "{e}");
        assert_eq!(e.position.map(|p| p.0), Some(5));
    }

    #[test]
    fn event_naming_a_missing_node_is_an_error_with_valid_names() {
        let bad = MINIMAL.replace(
            "clients:",
            "events: [(at: \"1s\", withdraw: \"node-7\")], clients:",
        );
        let e = parse(&bad).unwrap_err();
        assert_eq!(e.field, "events[0].withdraw");
        assert!(e.message.contains("node-1, node-2, node-3"), "{e}");
        assert!(e.position.is_some());
    }

    #[test]
    fn event_with_two_actions_is_refused() {
        let bad = MINIMAL.replace(
            "clients:",
            "events: [(at: \"1s\", withdraw: \"node-1\", crash: \"node-1\")], clients:",
        );
        assert!(parse(&bad).unwrap_err().message.contains("exactly one"));
    }

    #[test]
    fn a_client_that_stops_before_it_starts_is_refused() {
        let bad = MINIMAL.replace(
            "OpenLoop(rate: 100)",
            "OpenLoop(rate: 100), start: \"0.5s\", stop: \"0.2s\"",
        );
        let e = parse(&bad).unwrap_err();
        assert_eq!(e.field, "clients[0].stop");
        assert!(e.message.contains("not after start"), "{e}");
    }

    #[test]
    fn bandwidths() {
        assert_eq!("10Gbit/s".parse(), Ok(Bandwidth(10_000_000_000)));
        assert_eq!("2.5Gbps".parse(), Ok(Bandwidth(2_500_000_000)));
        assert_eq!("unlimited".parse(), Ok(Bandwidth(0)));
        assert!("10 furlongs".parse::<Bandwidth>().is_err());
        assert!("-1Gbit/s".parse::<Bandwidth>().is_err());
    }

    /// MINIMAL with `extra` fields before `clients`.
    fn with(extra: &str) -> String {
        MINIMAL.replace("clients:", &format!("{extra}\n        clients:"))
    }

    fn refusal(text: &str) -> ScenarioError {
        parse(text).expect_err("refused")
    }

    #[test]
    fn an_event_at_or_after_the_end_is_refused_on_its_line() {
        for at in ["1s", "1000s"] {
            let e = refusal(&with(&format!(
                "events: [(at: \"{at}\", crash: \"node-1\")],"
            )));
            assert_eq!(e.field, "events[0].at");
            assert_eq!(e.position.map(|p| p.0), Some(6), "{e}");
            assert!(e.message.contains("never happen"), "{e}");
        }
        assert!(parse(&with("events: [(at: \"0.9s\", crash: \"node-1\")],")).is_ok());
    }

    #[test]
    fn bfd_outside_metallbs_bfdprofile_ranges_is_refused() {
        let bfd = |spec: &str| with(&format!("bgp: (speaker: FrrDatacenter, bfd: ({spec})),"));
        for ok in [
            "transmit_interval: \"10ms\"",
            "receive_interval: \"60s\"",
            "detect_multiplier: 2",
            "detect_multiplier: 255",
        ] {
            assert!(parse(&bfd(ok)).is_ok(), "{ok}");
        }
        for (bad, field, says) in [
            (
                "transmit_interval: \"1ns\"",
                "bgp.bfd.transmit_interval",
                "10ms to 60s",
            ),
            (
                "transmit_interval: \"9ms\"",
                "bgp.bfd.transmit_interval",
                "10ms to 60s",
            ),
            (
                "receive_interval: \"10.5ms\"",
                "bgp.bfd.receive_interval",
                "whole milliseconds",
            ),
            (
                "receive_interval: \"60001ms\"",
                "bgp.bfd.receive_interval",
                "10ms to 60s",
            ),
            (
                "detect_multiplier: 1",
                "bgp.bfd.detect_multiplier",
                "2 to 255",
            ),
            (
                "detect_multiplier: 256",
                "bgp.bfd.detect_multiplier",
                "2 to 255",
            ),
        ] {
            let e = refusal(&bfd(bad));
            assert_eq!(
                (e.field.as_str(), e.position.map(|p| p.0)),
                (field, Some(6)),
                "{e}"
            );
            assert!(e.message.contains(says), "{e}");
        }
    }

    #[test]
    fn hold_and_keepalive_follow_rfc_4271_and_metallb() {
        let frr = |k: &str, h: &str| {
            with(&format!(
                "bgp: (speaker: Frr(keepalive: \"{k}\", hold: \"{h}\")),"
            ))
        };
        for (k, h) in [("3s", "9s"), ("0s", "0s"), ("1s", "3s"), ("60s", "65535s")] {
            assert!(parse(&frr(k, h)).is_ok(), "keepalive {k} hold {h}");
        }
        for (k, h, field, says) in [
            ("1s", "1s", "bgp.speaker.hold", "RFC 4271 §4.2"),
            ("1s", "2s", "bgp.speaker.hold", "3s to 65535s"),
            ("3s", "65536s", "bgp.speaker.hold", "3s to 65535s"),
            ("3s", "9.5s", "bgp.speaker.hold", "whole seconds"),
            ("30s", "9s", "bgp.speaker.keepalive", "longer than hold"),
            ("0s", "9s", "bgp.speaker.keepalive", "RFC 4271 §4.4"),
        ] {
            let e = refusal(&frr(k, h));
            assert_eq!(e.field, field, "keepalive {k} hold {h}: {e}");
            assert!(e.message.contains(says), "{e}");
        }
        let e = refusal(&with(
            "bgp: (speaker: FrrDatacenter, router_hold_time: \"2s\"),",
        ));
        assert_eq!(e.field, "bgp.router_hold_time");
        let s = parse(&frr("5s", "9s")).unwrap();
        assert!(
            s.warnings[0].message.contains("every 3s instead"),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn a_graceful_restart_time_of_zero_is_a_located_warning() {
        let gr = |t: &str| {
            with(&format!(
                "bgp: (speaker: FrrDatacenter, graceful_restart: \"{t}\"),"
            ))
        };
        let s = parse(&gr("0s")).unwrap();
        let w = &s.warnings[0];
        assert_eq!(
            (w.field.as_str(), w.position),
            ("bgp.graceful_restart", Some((6, 39)))
        );
        assert!(w.message.contains("RFC 4724 §4.2"), "{w}");
        assert!(
            w.to_string()
                .starts_with("x.ron:6:39: warning: field `bgp.graceful_restart`"),
            "{w}"
        );
        assert!(parse(&gr("4095s")).unwrap().warnings.is_empty());
        assert!(refusal(&gr("4096s")).message.contains("0s to 4095s"));
        let native = with("bgp: (speaker: Native, graceful_restart: \"120s\"),");
        assert_eq!(refusal(&native).field, "bgp.graceful_restart");
    }

    #[test]
    fn ecmp_parameters_are_refused_at_load_on_their_line() {
        for (ecmp, field, says) in [
            ("Maglev(table_size: 65536)", "ecmp.selection", "not prime"),
            (
                "Maglev(table_size: 2)",
                "ecmp.selection",
                "cannot hold 3 next hops",
            ),
            (
                "Resilient(buckets: 0)",
                "ecmp.selection.Resilient.buckets",
                "not 0",
            ),
            (
                "Resilient(buckets: 2)",
                "ecmp.selection",
                "at least 3 buckets",
            ),
        ] {
            let e = refusal(&with(&format!("ecmp: (selection: {ecmp}),")));
            assert_eq!(e.field, field, "{e}");
            assert_eq!(e.position.map(|p| p.0), Some(6), "{e}");
            assert!(e.message.contains(says), "{e}");
        }
    }

    #[test]
    fn zero_layer2_timers_are_refused_or_explained() {
        let l2 = |spec: &str| with(&format!("l2: ({spec}),"));
        let e = refusal(&l2("switch_aging: \"0s\""));
        assert_eq!(e.field, "l2.switch_aging");
        assert!(e.message.contains("IEEE 802.1D"), "{e}");
        assert!(refusal(&l2("base_reachable_time: \"0s\""))
            .message
            .contains("longer than zero"));
        let s = parse(&l2("gratuitous_arp_interval: \"0s\"")).unwrap();
        assert_eq!(s.warnings[0].field, "l2.gratuitous_arp_interval");
        assert!(parse(&l2("gratuitous_arp_interval: \"60s\""))
            .unwrap()
            .warnings
            .is_empty());
    }

    #[test]
    fn integers_beyond_their_type_say_the_valid_range() {
        let e = refusal(&MINIMAL.replace("count: 3", "count: 70000"));
        assert_eq!(e.field, "nodes.count");
        assert!(e.message.contains("must be 1 to 10000"), "{e}");
        let e = refusal(&MINIMAL.replace("duration: \"1s\",", "duration: \"1s\", seed: -1,"));
        assert!(
            e.message.contains("must be 0 to 18446744073709551615"),
            "{e}"
        );
        let e = refusal(&MINIMAL.replace("\"1s\"", "\"-5s\""));
        assert!(e.message.contains("durations cannot be negative"), "{e}");
    }

    #[test]
    fn the_loader_reads_bytes_a_bom_is_skipped_and_bad_bytes_located() {
        let path = Path::new("b.ron");
        let bom = [b"\xEF\xBB\xBF".as_slice(), MINIMAL.as_bytes()].concat();
        assert!(Scenario::parse_bytes(path, &bom).is_ok());
        let bad = MINIMAL.replace("\"t\"", "\"t?\"").into_bytes();
        let at = bad.iter().position(|&b| b == b'?').unwrap();
        let mut bad = bad;
        bad[at] = 0xFF;
        let e = Scenario::parse_bytes(path, &bad).unwrap_err();
        assert_eq!(e.position, Some((2, 17)));
        assert!(e.message.contains(&format!("offset {at}")), "{e}");
    }

    #[test]
    fn runs_past_the_end_are_warnings() {
        let s = parse(&MINIMAL.replace("OpenLoop(rate: 100)", "OpenLoop(rate: 100), stop: \"5s\""))
            .unwrap();
        assert_eq!(s.warnings[0].field, "clients[0].stop");
        let s = parse(&with(
            "bgp: (speaker: FrrDatacenter), events: [(at: \"0.5s\", restart_speaker: \"node-1\")],",
        ))
        .unwrap();
        assert_eq!(s.warnings[0].field, "events[0].restart_after");
        let e = refusal(&with(
            "events: [(at: \"0.5s\", crash: \"node-1\", restart_after: \"1s\")],",
        ));
        assert_eq!(e.field, "events[0].restart_after");
    }

    #[test]
    fn daemon_faults_are_validated_on_their_line() {
        let bgp = "bgp: (speaker: FrrDatacenter),";
        let ok = with(&format!(
            "{bgp} events: [(at: \"0.1s\", kill_speaker: \"node-1\", restart_after: \"0.2s\"), (at: \"0.5s\", hang_speaker: \"node-2\", daemons: Bgpd), (at: \"0.7s\", resume_speaker: \"node-2\"), (at: \"0.8s\", blackout: \"0.1s\")],"
        ));
        let s = parse(&ok).unwrap();
        let actions: Vec<_> = s.events.iter().map(|e| e.action().unwrap()).collect();
        assert_eq!(
            actions,
            vec![
                (Action::KillSpeaker, "node-1"),
                (Action::HangSpeaker, "node-2"),
                (Action::ResumeSpeaker, "node-2"),
                (Action::Blackout, "router"),
            ]
        );
        for (events, field, says) in [
            (
                "[(at: \"0.5s\", hang_speaker: \"node-9\")]",
                "events[0].hang_speaker",
                "node-1, node-2, node-3",
            ),
            (
                "[(at: \"0.5s\", resume_speaker: \"node-1\", daemons: All)]",
                "events[0].daemons",
                "only to hang_speaker",
            ),
            (
                "[(at: \"0.5s\", hang_speaker: \"node-1\", restart_after: \"1s\")]",
                "events[0].restart_after",
                "restart_speaker, neighbor_shutdown and kill_speaker",
            ),
            (
                "[(at: \"0.5s\", blackout: \"0s\")]",
                "events[0].blackout",
                "longer than zero",
            ),
            (
                "[(at: \"0.5s\", hang_speaker: \"node-1\", daemons: Zebra)]",
                "events[0].daemons",
                "Bgpd",
            ),
        ] {
            let e = refusal(&with(&format!("{bgp} events: {events},")));
            assert_eq!(e.field, field, "{e}");
            assert_eq!(e.position.map(|p| p.0), Some(6), "{e}");
            assert!(e.message.contains(says), "{e}");
        }
        let e = refusal(&with("events: [(at: \"0.5s\", kill_speaker: \"node-1\")],"));
        assert_eq!(e.field, "events[0].kill_speaker");
        assert!(e.message.contains("needs a speaker"), "{e}");
    }

    #[test]
    fn an_l4_hash_source_needs_policy_one_and_native_has_no_coalesce_time() {
        let e = refusal(&with(
            "ecmp: (fields: L3, hash_source: SocketTxhash(txrehash: true)),",
        ));
        assert_eq!(e.field, "ecmp.hash_source");
        assert!(e.message.contains("fib_multipath_hash_policy 1"), "{e}");
        let s = parse(&with(
            "ecmp: (hash_source: NicRss(key: \"6d:5a:56:da:25:5b:0e:c2:41:67:25:3d:43:a3:8f:b0:d0:ca:2b:cb:ae:7b:30:b4:77:cb:2d:a3:80:30:f2:0c:6a:42:b7:3b:be:ac:01:fa\")),",
        ))
        .unwrap();
        assert_eq!(
            s.ecmp.hash_source,
            HashSource::NicRss {
                key: bgp::ecmp::RssKey::default()
            }
        );
        let e = refusal(&with("ecmp: (hash_source: NicRss(key: \"6d:5a\")),"));
        assert!(e.message.contains("40 bytes"), "{e}");
        let e = refusal(&with("bgp: (speaker: Native, coalesce_time: \"1s\"),"));
        assert_eq!(e.field, "bgp.coalesce_time");
        let s = parse(&with("bgp: (speaker: FrrDatacenter),")).unwrap();
        let b = s.bgp.unwrap();
        assert_eq!(
            (b.fib_delay, b.peer_down_delay, b.keepalive_phase),
            (
                SimDuration::from_millis(60),
                SimDuration::from_millis(10),
                KeepalivePhase::Random
            )
        );
    }

    #[test]
    fn garbage_never_panics() {
        for text in [
            "",
            "(",
            ")",
            "(name: 1)",
            "[[[[",
            "(name: \"x\", duration: \"1s\", nodes: (count: 0))",
            "\u{0}",
        ] {
            assert!(parse(text).is_err());
        }
    }
}

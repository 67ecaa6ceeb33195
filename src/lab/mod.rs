//! The lab: a BGP-mode cluster assembled from a scenario, driven by the event queue.
//!
//! ```text
//!  client ─link─▶ router ──ECMP(hash of 5-tuple)──link─▶ node (kube-proxy, conntrack)
//!                                                          └─▶ pod (local, or another node)
//!  client ◀─link── router ◀──link── ingress node (un-NAT) ◀── pod
//! ```
//! Requests are records carrying a connection id; each resource (link, node CPU, pod) is
//! reserved when the request reaches it, so queues form where capacity is short.
//!
//! The rooms: `requests.rs` (a request at its client), `datapath.rs` (router, node, pod and
//! back), `changes.rs` (scripted events, route changes and what they did to connections),
//! `recording.rs` (the load tools' files), `service.rs` (one service's route, pods, books),
//! `control.rs` and `layer2.rs` (the two MetalLB modes), `bulk.rs` (iperf3). This file keeps
//! the shared records, the build, the event enum and its one dispatch match.

mod bulk;
mod changes;
mod client;
mod conn;
mod control;
mod datapath;
mod dns;
mod kube;
mod layer2;
mod proxy;
mod recording;
mod requests;
mod retry;
mod router;
mod series;
mod service;
mod slab;

use std::net::Ipv4Addr;

use bgp::ecmp::{FlowKey, NextHop};
use sim_core::{
    DeviceKind, EventLog, LatencyHistogram, LinkId, Model, Scheduler, SimDuration, SimTime,
    Simulation, Streams, Topology,
};

pub use bulk::{Bulk, BulkSummary};
pub use client::{Client, Pool, NO_USER};
use conn::{Conn, ConnRows};
pub use control::{ControlPlane, Machine, Side};
pub use dns::{DnsResult, DrainRecord};
pub use kube::{ready_endpoints, Cores, Endpoints, KubeProxy, Pod};
pub use layer2::{L2Machine, Layer2};
pub use proxy::ProxyResult;
pub use router::{RouteChange, ServiceRoute};
pub use series::{
    GroupKind, GroupSeries, NodeSeries, Scrapes, Series, DURATION_BUCKETS_S, SCRAPE_INTERVAL,
};
pub use service::{AtChange, ServiceResult, Svc};
use slab::{Key, Slab};

use crate::cluster::{AdDef, Cluster};
use crate::scenario::{Action, Load, Scenario, ScriptedEvent, TrafficPolicy, Variant};

/// Why a run could not be built or did not add up.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// The ECMP settings are not usable.
    #[error("variant {variant}: ecmp: {source}")]
    Ecmp {
        /// Variant name.
        variant: String,
        /// The cause.
        source: bgp::ecmp::EcmpError,
    },
    /// The services, pools or advertisements do not resolve (validation refuses these first).
    #[error("variant {variant}: {field}: {message}")]
    Cluster {
        /// Variant name.
        variant: String,
        /// The field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The topology could not be assembled.
    #[error("variant {variant}: topology: {source}")]
    Topology {
        /// Variant name.
        variant: String,
        /// The cause.
        source: sim_core::topology::TopologyError,
    },
    /// The conservation identity failed: a bug, reported instead of hidden.
    #[error("variant {variant}: conservation of {what} violated: sent {started} != answered {ok} + failed {failed} + in flight {in_flight}")]
    Conservation {
        /// Variant name.
        variant: String,
        /// `requests` or `probes`.
        what: &'static str,
        /// Sent.
        started: u64,
        /// Succeeded.
        ok: u64,
        /// Failed, all kinds.
        failed: u64,
        /// Still outstanding at the end.
        in_flight: u64,
    },
    /// A results stream could not be written.
    #[error("variant {variant}: writing {path}: {source}")]
    Io {
        /// Variant name.
        variant: String,
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// An allocation the run needs failed.
    #[error("variant {variant}: {what} need {bytes} bytes, more than this machine can allocate; `sim validate --cost` shows what the scenario costs")]
    Memory {
        /// Variant name.
        variant: String,
        /// What needed it.
        what: &'static str,
        /// How much.
        bytes: u64,
    },
    /// The output directory refused a stream file.
    #[error("variant {variant}: {source}")]
    Out {
        /// Variant name.
        variant: String,
        /// The cause.
        source: crate::outdir::OutDirError,
    },
    /// The run would exceed a resource limit.
    #[error("variant {variant}: {what} exceeded the limit of {limit}; shorten the run or lower the load")]
    Limit {
        /// Variant name.
        variant: String,
        /// What grew too large.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
}

/// How a request ended badly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorKind {
    /// "connection reset by peer": a RST reached the client.
    Reset,
    /// No answer within the client's timeout.
    Timeout,
    /// "connection refused" (kube-proxy REJECT: no endpoints) or ICMP unreachable (no route).
    Refused,
    /// An ingress tier's 504 (every upstream try timed out) or 502 (no live upstream), on a
    /// connection that stays open.
    Gateway {
        /// 504 rather than 502.
        timeout: bool,
    },
}

/// What arrives back at a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// The answer.
    Response,
    /// A TCP RST.
    Reset,
    /// A REJECT or ICMP unreachable.
    Refused,
    /// An ingress tier's 502 or 504.
    Gateway {
        /// 504 rather than 502.
        timeout: bool,
    },
}

/// The events of a lab run.
#[derive(Debug, Clone, Copy)]
pub enum Ev {
    /// An open-loop client's next arrival.
    Arrival(u32),
    /// Closed-loop user `u` of client `c` sends (after thinking, or at its fortio slot).
    UserSend(u32, u32),
    /// A request reaches the router.
    AtRouter(Key),
    /// A request reaches its ingress node.
    AtNode(Key),
    /// A request reaches its pod.
    AtPod(Key),
    /// A pod finished a request.
    PodDone(Key),
    /// A reply reaches the client.
    AtClient(Key, Reply),
    /// Check a client's outstanding requests for timeouts.
    TimeoutCheck(u32),
    /// Scripted event i.
    Script(u32),
    /// The ECMP group's own timer (resilient bucket migration).
    EcmpTimer,
    /// A crashed node's pods leave the endpoints (node, node epoch at the crash).
    EndpointRemoval(u16, u32),
    /// A control packet (BGP in TCP, BFD) arrives.
    Ctrl(Key),
    /// A control-plane machine's timer: node, side, machine, stack generation.
    CtrlWake(u16, Side, Machine, u32),
    /// The router's FIB programs pending changes.
    FibTimer,
    /// The router's RIB expires stale (graceful restart) routes.
    RibTimer,
    /// A restarted speaker comes back.
    SpeakerStart(u16),
    /// A `neighbor_shutdown`'s `no neighbor shutdown` (node).
    NeighborStart(u16),
    /// An ARP frame reaches a host (L2 mode).
    L2Frame(Key),
    /// A memberlist message reaches a node (L2 mode).
    L2Note(Key),
    /// An L2 machine's timer: machine, index, generation.
    L2Wake(L2Machine, u32, u32),
    /// An iperf3 client starts its streams.
    BulkStart(u32),
    /// An iperf3 client's test time is over.
    BulkStop(u32),
    /// A lost request's retransmission timer expired (`ecmp.hash_source: SocketTxhash`).
    Retransmit(Key),
    /// A scripted `kill_speaker`'s restart, or a hung speaker's `resume_speaker` (node).
    SpeakerResume(u16),
    /// A client's retries whose backoff is over are sent.
    Retry(u32),
    /// An ingress tier's try (number) of a request reaches its backend pod.
    AtUpstream(Key, u8),
    /// The backend pod finished that try.
    UpstreamDone(Key, u8),
    /// The backend's answer to that try reaches the ingress pod.
    UpstreamReply(Key, u8),
    /// That try's upstream timeout.
    UpstreamTimeout(Key, u8),
    /// A client's user goes online (true) or offline (its profile).
    Online(u32, bool),
    /// The mitigations table's `change_at`: keep every service's books.
    KeepBooks,
}

/// A worker node.
#[derive(Debug, Clone)]
pub struct Node {
    /// `node-i`.
    pub name: String,
    /// Its address (the next hop it announces).
    pub ip: Ipv4Addr,
    /// Running.
    pub up: bool,
    /// Cut off the network by a partition (still running).
    pub isolated: bool,
    /// Bumped on crash and recovery: conntrack entries of an older epoch are gone.
    pub epoch: u32,
    /// Its CPU, shared by packet processing and its pods.
    cores: Cores,
    /// Router -> node.
    pub downlink: LinkId,
    /// Node -> router.
    pub uplink: LinkId,
    /// Requests that entered the cluster here.
    pub ingress_requests: u64,
    /// New connections kube-proxy admitted here (conntrack entries created).
    pub conntrack_created: u64,
    kube_proxy: KubeProxy,
}

impl Node {
    /// Cores for forwarding and NAT.
    pub fn cores(&self) -> usize {
        self.cores.len()
    }

    /// CPU time its cores have spent (packets and pods).
    pub fn cpu_busy(&self) -> SimDuration {
        self.cores.busy()
    }

    /// Spend `cost` of CPU (packet processing) from `at` (at or after the current time `now`);
    /// returns when done.
    #[inline]
    fn cpu(&mut self, now: SimTime, at: SimTime, cost: SimDuration) -> SimTime {
        self.cores.run(now, at, cost)
    }
}

#[derive(Debug)]
struct Req {
    client: u32,
    conn: Key,
    /// When the request was due (latency counts from here, so queueing at the client shows).
    start: SimTime,
    ingress: u16,
    pod_epoch: u32,
    /// The closed-loop user (or fortio connection) that sent it, or [`client::NO_USER`].
    user: u32,
    /// The client's request sequence number (from 0).
    seq: u64,
    /// When the client last put it on the wire (its retransmission timer runs from there).
    sent: SimTime,
    /// Retransmissions so far (the RTO doubles with each).
    retransmits: u32,
    /// 0 for a first try; k for the k-th retry of a request (`clients[i].retry`).
    attempt: u8,
}

/// One route change (or resilient migration) and what it did to live connections.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    /// Sequence number within the run.
    pub id: u32,
    /// The service whose route (or ARP entry) changed.
    pub service: u32,
    /// When.
    pub time: SimTime,
    /// What caused it, e.g. `withdraw node-2` (changes.csv's `cause`).
    pub cause: String,
    /// Layer 2 mode: the resolving host whose ARP entry for the VIP moved, and where.
    pub arp: Option<ArpMove>,
    /// Next hops before.
    pub group_before: usize,
    /// Next hops after.
    pub group_after: usize,
    /// Established connections at that moment.
    pub live: u64,
    /// Connections whose next hop changed.
    pub moved: u64,
    /// Of those that left their conntrack node, how many later got a RST.
    pub broken_reset: u64,
    /// ... or silently lost packets and timed out.
    pub broken_timeout: u64,
}

/// One resolving host's ARP entry for the VIP changing owner (Layer 2 mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArpMove {
    /// The resolving host (`resolver-N`).
    pub resolver: u32,
    /// The node whose MAC the entry held before; `None`: the first resolution.
    pub from: Option<String>,
    /// The node whose MAC it holds now (`?`: a MAC no node owns).
    pub to: String,
}

impl ArpMove {
    /// The change's cause as changes.csv shows it: `arp resolver-3: node-1 -> node-4`.
    pub fn cause(&self) -> String {
        let from = self.from.as_deref().unwrap_or("?");
        format!("arp resolver-{}: {from} -> {}", self.resolver, self.to)
    }
}

/// One live connection at one change (connections.csv).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnRow {
    /// Connection id (slab slot; unique among live connections).
    pub conn: u32,
    /// Client instance.
    pub client: u32,
    /// The flow.
    pub flow: FlowKey,
    /// When it opened.
    pub opened_at: SimTime,
    /// The change.
    pub change: u32,
    /// Next hop before the change.
    pub node_before: Option<u16>,
    /// Next hop after.
    pub node_after: Option<u16>,
    /// What became of it.
    pub fate: &'static str,
}

/// Totals of a run's requests (ping probes are not requests: see [`ProbeCounts`]). Every
/// attempt is a request here; with client retry, `retries` of them were retries, and as many
/// failures were retried instead of reaching the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests that were a retry of a failed one (`clients[i].retry`).
    pub retries: u64,
    /// Failed requests that were retried (sent again, or waiting for their backoff at the end).
    pub retried: u64,
    /// Failed requests the client wanted to retry but its budget did not allow.
    pub retries_refused: u64,
    /// Requests started.
    pub started: u64,
    /// Answered.
    pub ok: u64,
    /// Reset by peer.
    pub reset: u64,
    /// Timed out.
    pub timeout: u64,
    /// Refused.
    pub refused: u64,
    /// Answered 502 or 504 by an ingress tier.
    pub gateway: u64,
    /// Outstanding at the end.
    pub in_flight: u64,
    /// TCP connections opened.
    pub connections: u64,
}

/// Totals of a run's ping probes (ICMP echo), kept apart from requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeCounts {
    /// Echo requests sent.
    pub sent: u64,
    /// Answered.
    pub answered: u64,
    /// Never answered (timed out, or refused by ICMP unreachable).
    pub lost: u64,
    /// Outstanding when the run ended.
    pub in_flight: u64,
}

impl Counts {
    /// All failures.
    pub fn failed(&self) -> u64 {
        self.reset + self.timeout + self.refused + self.gateway
    }

    /// Failures the user saw: those not retried (a retry queued at the end counts as retried).
    pub fn user_failed(&self) -> u64 {
        self.failed() - self.retried
    }
}

/// Everything one variant's run produced.
#[derive(Debug)]
pub struct RunResult {
    /// Variant name.
    pub variant: String,
    /// The Kubernetes Service it runs as ([`Scenario::service_name`]).
    pub service: String,
    /// Seed used.
    pub seed: u64,
    /// Simulated time covered.
    pub sim_time: SimTime,
    /// Events handled.
    pub events: u64,
    /// Totals of requests.
    pub counts: Counts,
    /// Totals of ping probes.
    pub probe_counts: ProbeCounts,
    /// Latency of answered requests (probes not included).
    pub latency: LatencyHistogram,
    /// Time series per client group and node, and the 15 s scrapes.
    pub series: Series,
    /// Per client instance: its group (an index into `series.groups`).
    pub client_groups: Vec<u32>,
    /// Route changes.
    pub changes: Vec<ChangeRecord>,
    /// Connections at changes.
    pub conn_rows: Vec<ConnRow>,
    /// Structured log.
    pub log: EventLog,
    /// The control-plane capture (pcap bytes), when asked for and BGP runs.
    pub pcap: Option<Vec<u8>>,
    /// Node names.
    pub node_names: Vec<String>,
    /// Requests that entered at each node.
    pub node_ingress: Vec<u64>,
    /// Requests each node's pods served.
    pub node_served: Vec<u64>,
    /// Per node: its cores, and the CPU time they spent (packet processing and pods).
    pub node_cpu: Vec<(u16, SimDuration)>,
    /// Client instance names.
    pub client_names: Vec<String>,
    /// Per client instance: its probe interval when it is a ping client, and its answer gaps.
    pub probes: Vec<(Option<SimDuration>, client::ProbeStats)>,
    /// Files in the load tools' own formats (client groups with an `output`): name, bytes.
    pub tool_files: Vec<(String, Vec<u8>)>,
    /// What each iperf3 client measured.
    pub bulk: Vec<BulkSummary>,
    /// Per service: its books and where its traffic entered at the end.
    pub services: Vec<ServiceResult>,
    /// The scenario lists `services`: per-service tables and files are written.
    pub multi_service: bool,
    /// The DNS split's drains and failures, when the scenario has `dns` names.
    pub dns: Option<DnsResult>,
    /// What each ingress tier did.
    pub proxies: Vec<ProxyResult>,
}

impl RunResult {
    /// The failover time as the probes saw it: the longest gap between two answered pings of
    /// any ping instance, with the time it started; `None` without ping clients.
    pub fn failover(&self) -> Option<(SimDuration, SimTime)> {
        self.pings()
            .filter_map(|(_, p)| p.longest_gap)
            .max_by_key(|&(gap, at)| (gap, std::cmp::Reverse(at)))
    }

    /// Whether any ping client saw an outage: a gap between two answered probes longer than
    /// 1.5 of its intervals, i.e. at least one probe in between went unanswered. Without one,
    /// [`failover`](Self::failover) is just the probe interval.
    pub fn had_outage(&self) -> bool {
        self.pings().any(|(interval, p)| {
            p.longest_gap
                .is_some_and(|(gap, _)| 2 * gap.as_nanos() > 3 * interval.as_nanos())
        })
    }

    /// The ping clients: interval and answer gaps.
    fn pings(&self) -> impl Iterator<Item = (SimDuration, &client::ProbeStats)> {
        self.probes.iter().filter_map(|(i, p)| i.map(|i| (i, p)))
    }

    /// [`failover`](Self::failover) among the instances of client group `g` alone, and
    /// whether that gap was still open at the end; `None` when no instance of it had two
    /// answered pings.
    pub fn group_failover(&self, g: u32) -> Option<(SimDuration, SimTime, bool)> {
        let mine = || {
            self.probes
                .iter()
                .zip(&self.client_groups)
                .filter(move |(_, &cg)| cg == g)
                .map(|(p, _)| &p.1)
        };
        let longest = mine()
            .filter_map(|p| p.longest_gap)
            .max_by_key(|&(gap, at)| (gap, std::cmp::Reverse(at)))?;
        let open = mine().any(|p| p.open_at_end && p.longest_gap == Some(longest));
        Some((longest.0, longest.1, open))
    }

    /// Whether the longest ping gap was still open when the run ended.
    pub fn failover_open_at_end(&self) -> bool {
        let longest = self.failover();
        self.pings()
            .any(|(_, p)| p.open_at_end && p.longest_gap == longest)
    }

    /// Established connections whose next hop changed, summed over the route changes.
    pub fn connections_moved(&self) -> u64 {
        self.changes.iter().map(|c| c.moved).sum()
    }

    /// Of the moved connections, those that failed (reset or timeout) at their next packet.
    pub fn connections_broken(&self) -> u64 {
        self.changes
            .iter()
            .map(|c| c.broken_reset + c.broken_timeout)
            .sum()
    }

    /// Pings that got no answer, over all ping instances; `None` without ping clients.
    pub fn lost_probes(&self) -> Option<u64> {
        let mut pings = self.pings().peekable();
        pings.peek()?;
        Some(pings.map(|(_, p)| p.lost).sum())
    }
}

/// Bytes of one item of each structure of a run that grows with the scenario, taken from the
/// types themselves so the cost estimate (`crate::cost`) follows them when they change.
#[derive(Debug, Clone, Copy)]
pub struct Footprint {
    /// A pending event in the queue.
    pub event: usize,
    /// A live request (slab slot).
    pub request: usize,
    /// A live connection (slab slot).
    pub connection: usize,
    /// A client's entry in its timeout queue.
    pub deadline: usize,
    /// A connections.csv row held until the end.
    pub conn_row: usize,
    /// An event-log entry (its strings are extra).
    pub log_entry: usize,
    /// A ping probe kept for the ping log.
    pub ping_probe: usize,
    /// A client instance's record.
    pub client: usize,
    /// A client instance's probe record in the result.
    pub probe_stats: usize,
    /// A latency histogram's counters.
    pub histogram: usize,
}

/// The [`Footprint`] of this build.
pub const FOOTPRINT: Footprint = Footprint {
    event: Scheduler::<Ev>::ENTRY_BYTES,
    request: Slab::<Req>::SLOT_BYTES + 4,
    connection: Slab::<Conn>::SLOT_BYTES + 4,
    deadline: std::mem::size_of::<(SimTime, Key)>(),
    conn_row: ConnRows::ROW_BYTES,
    log_entry: std::mem::size_of::<sim_core::LogEntry>(),
    ping_probe: std::mem::size_of::<crate::tools::PingProbe>(),
    client: std::mem::size_of::<Client>(),
    probe_stats: std::mem::size_of::<(bool, client::ProbeStats)>(),
    histogram: LatencyHistogram::HEAP_BYTES,
};

/// Limits that stop a run with a message instead of exhausting the machine.
const MAX_LIVE_REQUESTS: usize = 5_000_000;
/// `TCP_RTO_MIN` (include/net/tcp.h, HZ/5): the floor of Linux's retransmission timeout, and
/// its value on a LAN, where the smoothed RTT is far below it (the lab's client:
/// `tcp_rto_min_us = 200000`, reallab/profiles/*/sysctl.txt).
const TCP_RTO_MIN: SimDuration = SimDuration::from_millis(200);
/// `TCP_RTO_MAX` (include/net/tcp.h, 120 s): the cap of the exponential backoff.
const TCP_RTO_MAX: SimDuration = SimDuration::from_secs(120);

/// The simulated world of one variant.
pub struct Lab {
    variant: String,
    service: String,
    seed: u64,
    topo: Topology,
    /// The services, each with its route, pods and books.
    svcs: Vec<Svc>,
    /// The advertisements of the variant's mode.
    ads: Vec<AdDef>,
    /// Per service: the nodes its advertisements select.
    selected: Vec<Vec<bool>>,
    /// The scenario lists `services` (logs name the service; big lists are summarised).
    multi: bool,
    nodes: Vec<Node>,
    pods: Vec<Pod>,
    clients: Vec<Client>,
    conns: Slab<Conn>,
    reqs: Slab<Req>,
    script: Vec<ScriptedEvent>,
    /// The mitigations table's `change_at`: the services' books are kept then.
    change_at: Option<SimDuration>,
    loose: bool,
    packet_cost: SimDuration,
    endpoint_removal_delay: SimDuration,
    end: SimTime,
    counts: Counts,
    probe_counts: ProbeCounts,
    latency: LatencyHistogram,
    series: Series,
    changes: Vec<ChangeRecord>,
    conn_rows: ConnRows,
    log: EventLog,
    limit_hit: Option<(&'static str, u64)>,
    /// The BGP control plane, when the scenario has one.
    control: Option<ControlPlane>,
    /// Per client group with a load-tool output: its results so far.
    recorders: Vec<Option<crate::tools::LoadRecorder>>,
    /// Per client group running vegeta with an output: its per-request results stream.
    streams: Vec<Option<recording::ResultStream>>,
    /// The first error writing a stream.
    stream_error: Option<(String, std::io::Error)>,
    /// The client groups as the scenario gives them.
    groups: Vec<crate::scenario::ClientSpec>,
    /// Nodes a scripted `withdraw` took out of advertising (BGP mode).
    withdrawn_by_script: Vec<u16>,
    /// The Layer 2 plane, in L2 mode.
    layer2: Option<Layer2>,
    /// Bulk (iperf3) flows, when a client runs iperf3.
    bulk: Option<Bulk>,
    /// One-way delay of a node's link (the segment's hop in L2 mode).
    node_link_delay: SimDuration,
    /// The router drops what clients send until then (a scripted `blackout`).
    blackout_until: SimTime,
    /// The stream of the clients' sockets' random `sk_txhash` values.
    txhash_rng: u64,
    /// The DNS split: names, resolver caches, drains (none without `dns` names).
    dns: Option<dns::Dns>,
    /// Requests made on each connection of a client with a `connection_limit`.
    conn_uses: std::collections::BTreeMap<Key, u32>,
    /// The ingress tiers (none without one).
    proxy: Option<proxy::Proxy>,
}

/// Node `i`'s address: 10.0.0.11, 10.0.0.12, ...; ids grow with addresses.
/// The router's address (the speakers' BGP and BFD peer).
pub(crate) fn router_ip() -> Ipv4Addr {
    control::ROUTER_IP
}

pub(crate) fn node_ip(i: u16) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 11)) + u32::from(i))
}

/// Node `i`'s NIC MAC: locally administered 02:00:00:00:00:0b and up (the router is ...:01).
fn node_mac(i: u16) -> [u8; 6] {
    let b = (0x0b + i).to_be_bytes();
    [0x02, 0, 0, 0, b[0], b[1]]
}

/// A capture in memory, written out atomically at the end; timestamps are 2000-01-01T00:00:00Z
/// plus simulated time (fixed, never the clock). Writing into memory cannot fail.
fn new_capture(capture: bool) -> Option<sim_core::pcap::PcapWriter<Vec<u8>>> {
    const EPOCH: SimDuration = SimDuration::from_secs(946_684_800);
    capture
        .then(|| sim_core::pcap::PcapWriter::with_epoch(Vec::new(), EPOCH).ok())
        .flatten()
}

/// Make sure client `c` has a timeout check at `deadline` or earlier: one pending check per
/// client (the earliest), never one per request; a later one is superseded, not cancelled.
fn arm_timeout(client: &mut Client, c: u32, deadline: SimTime, sched: &mut Scheduler<Ev>) {
    if client.timeout_at.is_none_or(|t| t > deadline) {
        client.timeout_at = Some(deadline);
        let _ = sched.schedule_at(deadline, Ev::TimeoutCheck(c));
    }
}

/// Client instance `i`'s address, from the benchmarking range 198.18.0.0/15 (RFC 2544).
fn client_ip(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 1)) + i)
}

/// What `ip` already is in the lab's address plan with `nodes` nodes (the router, a node, the
/// clients' range), if anything: a service IP must be none of them.
pub(crate) fn address_owner(ip: Ipv4Addr, nodes: u16) -> Option<String> {
    if ip == control::ROUTER_IP {
        return Some("the router's address".into());
    }
    if let Some(i) = (0..nodes).find(|&i| node_ip(i) == ip) {
        return Some(format!("node-{}'s address", i + 1));
    }
    // RFC 2544's 198.18.0.0/15, where client_ip counts from.
    let clients = u32::from(Ipv4Addr::new(198, 18, 0, 0));
    (u32::from(ip) & 0xfffe_0000 == clients).then(|| "in the clients' range".into())
}

impl Lab {
    /// Assemble the world of `variant` of `scenario` with master seed `seed`, and schedule its
    /// first events.
    ///
    /// # Errors
    /// [`LabError`] if the ECMP settings or topology are unusable.
    pub fn build(
        scenario: &Scenario,
        variant: &Variant,
        seed: u64,
        capture: bool,
    ) -> Result<Simulation<Lab>, LabError> {
        let vname = variant.name.clone();
        let streams = Streams::new(seed);
        let ecmp = scenario.ecmp_of(variant);
        let svc = &scenario.service;
        let mut kube_mode = svc.kube_proxy;
        let mut loose = svc.conntrack_tcp_loose;
        if let Some(p) = &variant.service {
            kube_mode = p.kube_proxy.unwrap_or(kube_mode);
            loose = p.conntrack_tcp_loose.unwrap_or(loose);
        }
        let cluster =
            Cluster::resolve(scenario, variant).map_err(|(field, message)| LabError::Cluster {
                variant: vname.clone(),
                field,
                message,
            })?;
        let route = ServiceRoute::new(&ecmp).map_err(|source| LabError::Ecmp {
            variant: vname.clone(),
            source,
        })?;

        let mut topo = Topology::new();
        let router = topo.add_device("router", DeviceKind::Router);
        let net = &scenario.network;
        let node_names = scenario.node_names();
        let mut nodes = Vec::with_capacity(node_names.len());
        for (i, name) in node_names.iter().enumerate() {
            let dev = topo.add_device(name.clone(), DeviceKind::Node);
            let (down, up) =
                topo.connect(router, dev, net.node_link.delay, net.node_link.bandwidth.0);
            nodes.push(Node {
                name: name.clone(),
                ip: node_ip(i as u16),
                up: true,
                isolated: false,
                epoch: 0,
                cores: Cores::new(usize::from(scenario.nodes.cores)),
                downlink: down,
                uplink: up,
                ingress_requests: 0,
                conntrack_created: 0,
                kube_proxy: KubeProxy::new(
                    kube_mode,
                    streams.stream(&format!("{name}/kube-proxy")),
                ),
            });
        }
        // Every service's pods in one list, service by service; the first service's streams
        // keep the names of the one-service lab.
        let mut pods: Vec<Pod> = Vec::new();
        let mut svcs = Vec::with_capacity(cluster.services.len());
        for (k, d) in cluster.services.iter().enumerate() {
            let start = pods.len() as u32;
            for (i, &node) in d.pod_nodes.iter().enumerate() {
                let stream = if k == 0 {
                    format!("pod-{}", i + 1)
                } else {
                    format!("{}/pod-{}", d.name, i + 1)
                };
                pods.push(Pod::new(node, d.pods.cpu, streams.stream(&stream)));
            }
            svcs.push(Svc {
                name: d.name.clone(),
                pool: d.pool.clone(),
                vip: d.vip,
                port: d.port,
                policy: d.policy,
                service_time: d.pods.service_time,
                route: route.clone(),
                pods: start..pods.len() as u32,
                prefixes: d.prefixes(&cluster.ads),
                ad_prefixes: d
                    .ads
                    .iter()
                    .filter_map(|&a| {
                        let len = cluster.ads[a as usize].prefix_len;
                        bgp::wire::Ipv4Prefix::new(d.vip, len).map(|p| (a, p))
                    })
                    .collect(),
                counts: Counts::default(),
                latency: sim_core::LogHistogram::default(),
                conns_broken: 0,
                at_change: None,
                endpoints: Endpoints::new(&pods[start as usize..], node_names.len()),
            });
        }
        let proxy = proxy::Proxy::new(&cluster.services, &svcs);
        let selected: Vec<Vec<bool>> = cluster
            .services
            .iter()
            .map(|d| {
                (0..scenario.nodes.count)
                    .map(|n| d.selected(&cluster.ads, n))
                    .collect()
            })
            .collect();
        // One record per instance: the largest vector a build grows (bounded by the cost check;
        // a failure here is an error, never an abort).
        let instances: u64 = scenario.clients.iter().map(|c| u64::from(c.count)).sum();
        let mut clients = Vec::new();
        clients
            .try_reserve_exact(usize::try_from(instances).unwrap_or(usize::MAX))
            .map_err(|_| LabError::Memory {
                variant: vname.clone(),
                what: "client instances",
                bytes: instances.saturating_mul(FOOTPRINT.client as u64),
            })?;
        let end = SimTime(scenario.duration.as_nanos());
        for (group, spec) in scenario.clients.iter().enumerate() {
            let targets = cluster.targets(spec.service.as_deref());
            for k in 0..spec.count {
                let idx = clients.len() as u32;
                let name = format!("{}-{}", spec.name, k + 1);
                let dev = topo.add_device(name.clone(), DeviceKind::Client);
                let links = topo.connect(
                    dev,
                    router,
                    net.client_link.delay,
                    net.client_link.bandwidth.0,
                );
                clients.push(Client::new(
                    spec,
                    (k, group as u32),
                    client_ip(idx),
                    links,
                    streams.stream(&format!("client/{name}")),
                    end,
                ));
                // Instance k sends to the k-th of the group's services, round robin.
                if let Some(c) = clients.last_mut() {
                    c.service = targets[k as usize % targets.len().max(1)];
                    c.retry = spec.retry.map(|r| {
                        let jitter = streams.stream(&format!("client/{name}/retry"));
                        Box::new((r, retry::RetryBudget::new(&r, jitter)))
                    });
                }
            }
        }
        for client in &mut clients {
            let spec = &scenario.clients[client.group as usize];
            if let crate::scenario::ClientLocation::InCluster(node) = &spec.location {
                client.in_cluster = node_names.iter().position(|n| n == node).map(|i| i as u16);
            }
        }
        // One recorder per client group whose results go out in a load tool's format.
        let recorders = scenario
            .clients
            .iter()
            .map(|spec| {
                let tool = matches!(
                    spec.load,
                    Load::Fortio { .. } | Load::Wrk { .. } | Load::Vegeta { .. }
                );
                (tool && spec.output.is_some()).then(crate::tools::LoadRecorder::new)
            })
            .collect();
        // The largest allocations a build makes; `cost::check` refuses scenarios that would not
        // fit, and a failure here is an error, never an abort.
        let series = Series::new(scenario, nodes.len()).map_err(|_| LabError::Memory {
            variant: vname.clone(),
            what: "time series",
            bytes: (scenario.duration.as_nanos() / scenario.timeseries_bucket.as_nanos().max(1))
                .saturating_mul(Series::bytes_per_bucket(scenario)),
        })?;
        let vip = svcs[0].vip;
        let control = scenario
            .bgp_of(variant)
            .map(|spec| ControlPlane::new(spec, scenario.nodes.count, vip, seed, capture));
        let layer2 = scenario.l2_of(variant).map(|spec| {
            // Who holds the VIP's ARP entry: each client on the segment, or one gateway.
            let resolvers = match spec.clients {
                crate::scenario::ClientPlacement::OnSegment => clients.len() as u32,
                crate::scenario::ClientPlacement::BehindGateway => 1,
            };
            Layer2::new(spec, scenario.nodes.count, resolvers, vip, seed, capture)
        });
        let dns = dns::Dns::new(&scenario.dns, &svcs, &clients, &scenario.clients, &streams);
        let mut script = variant
            .events
            .clone()
            .unwrap_or_else(|| scenario.events.clone());
        // Stable: events at the same instant keep their written order.
        script.sort_by_key(|e| e.at);
        let lab = Lab {
            service: scenario.service_name(variant),
            variant: vname,
            seed,
            topo,
            svcs,
            ads: cluster.ads,
            selected,
            multi: cluster.multi,
            nodes,
            pods,
            clients,
            conns: Slab::default(),
            reqs: Slab::default(),
            script,
            change_at: scenario.mitigations.as_ref().map(|t| t.change_at),
            loose,
            packet_cost: scenario.nodes.packet_cost,
            endpoint_removal_delay: svc.endpoint_removal_delay,
            end,
            counts: Counts::default(),
            probe_counts: ProbeCounts::default(),
            latency: LatencyHistogram::new(),
            series,
            changes: Vec::new(),
            conn_rows: ConnRows::new(scenario.connection_rows),
            log: EventLog::new(),
            limit_hit: None,
            control,
            recorders,
            streams: Vec::new(),
            stream_error: None,
            groups: scenario.clients.clone(),
            withdrawn_by_script: Vec::new(),
            layer2,
            bulk: None,
            node_link_delay: net.node_link.delay,
            blackout_until: SimTime::ZERO,
            txhash_rng: seed ^ sim_core::rng::fnv1a(b"sk_txhash"),
            dns,
            conn_uses: std::collections::BTreeMap::new(),
            proxy,
        };
        let mut sim = Simulation::new(lab);
        sim.model.start(&mut sim.sched);
        Ok(sim)
    }

    /// Initial routes and first events.
    fn start(&mut self, sched: &mut Scheduler<Ev>) {
        if self.layer2.is_some() {
            // L2 mode: speakers elect a leader per IP; resolvers learn its MAC by ARP.
            self.l2_start(sched);
        } else if self.control.is_some() {
            // The speakers announce through BGP; the group fills as sessions come up.
            self.control_start(sched);
        } else {
            // Scripted routes: every eligible node is announced from the start: Cluster, all
            // nodes its advertisements select; Local, those with a local endpoint (MetalLB BGP
            // speaker rules).
            for s in 0..self.svcs.len() {
                let svc = &self.svcs[s];
                let mut has_pod = vec![false; self.nodes.len()];
                for p in &self.pods[svc.pod_range()] {
                    has_pod[usize::from(p.node)] = true;
                }
                let eligible: Vec<NextHop> = (0..self.nodes.len() as u16)
                    .filter(|&i| {
                        self.selected[s][usize::from(i)]
                            && (svc.policy == TrafficPolicy::Cluster || has_pod[usize::from(i)])
                    })
                    .map(NextHop::from)
                    .collect();
                let route = &mut self.svcs[s].route;
                if matches!(route.selection(), bgp::ecmp::Selection::Resilient { .. }) {
                    // A resilient table fills bucket by bucket as next hops arrive: keep the
                    // announcements one at a time.
                    for nh in eligible {
                        route.apply(SimTime::ZERO, RouteChange::Announce(nh));
                    }
                } else {
                    // The others are a function of the final list: install it once (one
                    // group build, not one per node).
                    route.set_members(SimTime::ZERO, &eligible);
                }
            }
        }
        for s in 0..self.svcs.len() {
            let members = self.member_names(s);
            self.log.push(
                SimTime::ZERO,
                "ecmp_group",
                self.svcs[s].vip.to_string(),
                format!(
                    "size={} members={members}",
                    self.svcs[s].route.members().len()
                ),
            );
        }
        // First, so that at the same instant the books are kept before the trigger acts.
        if let Some(at) = self.change_at {
            sched.schedule_in(at, Ev::KeepBooks);
        }
        for (i, e) in self.script.iter().enumerate() {
            sched.schedule_in(e.at, Ev::Script(i as u32));
        }
        for c in 0..self.clients.len() as u32 {
            let client = &self.clients[c as usize];
            match client.load {
                _ if client.open_loop() => {
                    sched.schedule_in(client.start, Ev::Arrival(c));
                    self.clients[c as usize].arriving = true;
                    for &(at, on) in &self.clients[c as usize].online_flips {
                        sched.schedule_in(at, Ev::Online(c, on));
                    }
                }
                // Bulk streams are fluid flows, not requests.
                Load::Iperf3 { .. } => {}
                _ => {
                    let users = client.users();
                    let start = SimTime(client.start.as_nanos());
                    self.clients[c as usize].slots = vec![start; users as usize];
                    for u in 0..users {
                        sched.schedule_in(self.clients[c as usize].start, Ev::UserSend(c, u));
                    }
                }
            }
        }
        self.bulk_start(sched);
        self.arm_ecmp_timer(sched);
    }

    /// Service `s`'s ECMP members by name (the first 16, and how many more).
    fn member_names(&self, s: usize) -> String {
        let members = self.svcs[s].route.members();
        self.node_list(members.iter().map(|&m| m as u16))
    }

    /// Node names, space-separated; more than 16 are cut to the first 16 and `(+N more)`, so
    /// a 1,000-node cluster's logs stay readable and small.
    pub(crate) fn node_list(&self, nodes: impl Iterator<Item = u16>) -> String {
        const SHOWN: usize = 16;
        let mut out = String::new();
        let mut more = 0;
        for (i, n) in nodes.enumerate() {
            if i >= SHOWN {
                more += 1;
                continue;
            }
            if i > 0 {
                out.push(' ');
            }
            out.push_str(&self.nodes[usize::from(n)].name);
        }
        if more > 0 {
            out.push_str(&format!(" (+{more} more)"));
        }
        out
    }

    /// A route change's cause as changes.csv shows it: with several services, prefixed by the
    /// service's name.
    fn cause_for(&self, s: usize, cause: String) -> String {
        if self.multi {
            format!("{}: {cause}", self.svcs[s].name)
        } else {
            cause
        }
    }

    /// The service connection `conn` of client `c` goes to (the client's, once it is closed):
    /// with DNS a client's connections may go to different services.
    fn service_of(&self, conn: Key, c: u32) -> usize {
        self.conns
            .get(conn)
            .map_or(self.clients[c as usize].service, |k| k.service) as usize
    }

    /// The ECMP settings every service's route shares (hash source, TCP rehash).
    fn ecmp(&self) -> &ServiceRoute {
        &self.svcs[0].route
    }

    fn arm_ecmp_timer(&self, sched: &mut Scheduler<Ev>) {
        if let Some(t) = self
            .svcs
            .iter()
            .filter_map(|s| s.route.next_timeout())
            .min()
        {
            if t < self.end {
                // A wake-up that finds nothing due does nothing, so duplicates are harmless.
                let _ = sched.schedule_at(t.max(sched.now()), Ev::EcmpTimer);
            }
        }
    }

    /// Close the books: conservation check and the result.
    ///
    /// # Errors
    /// [`LabError::Conservation`] if requests or probes do not add up, [`LabError::Limit`] if a
    /// limit was hit.
    pub fn finish_run(mut self, events: u64, now: SimTime) -> Result<RunResult, LabError> {
        if let Some((what, limit)) = self.limit_hit {
            return Err(LabError::Limit {
                variant: self.variant,
                what,
                limit,
            });
        }
        let clients = &self.clients;
        let probes_live = self
            .reqs
            .keys()
            .filter_map(|k| self.reqs.get(k))
            .filter(|r| clients[r.client as usize].is_probe())
            .count() as u64;
        self.counts.in_flight = self.reqs.len() as u64 - probes_live;
        self.probe_counts.in_flight = probes_live;
        for k in self.reqs.keys().collect::<Vec<_>>() {
            if let Some(r) = self.reqs.get(k) {
                let g = self.clients[r.client as usize].group as usize;
                if let Some(s) = self.series.groups.get_mut(g) {
                    s.in_flight_end += 1;
                }
            }
        }
        let c = &self.counts;
        let p = &self.probe_counts;
        // Both books must balance: requests and probes.
        for (what, started, ok, failed, in_flight) in [
            ("requests", c.started, c.ok, c.failed(), c.in_flight),
            ("probes", p.sent, p.answered, p.lost, p.in_flight),
        ] {
            if started != ok + failed + in_flight {
                return Err(LabError::Conservation {
                    variant: self.variant.clone(),
                    what,
                    started,
                    ok,
                    failed,
                    in_flight,
                });
            }
        }
        for c in &mut self.clients {
            c.probes.close(now);
        }
        self.close_streams()?;
        let mut tool_files = self.tool_files(now);
        let (bulk, bulk_files) = self.bulk_results(now);
        tool_files.extend(bulk_files);
        let mut node_served = vec![0; self.nodes.len()];
        for p in &self.pods {
            node_served[usize::from(p.node)] += p.served;
        }
        let services = self.service_results();
        let dns = self.dns.as_ref().map(|d| d.result(&self.svcs));
        let proxies = self.proxy.as_ref().map_or_else(Vec::new, |p| p.results());
        Ok(RunResult {
            dns,
            proxies,
            service: self.service,
            variant: self.variant,
            seed: self.seed,
            sim_time: now,
            events,
            counts: self.counts,
            probe_counts: self.probe_counts,
            latency: self.latency,
            series: self.series,
            changes: self.changes,
            conn_rows: self.conn_rows.into_rows(),
            log: self.log,
            node_names: self.nodes.iter().map(|n| n.name.clone()).collect(),
            node_ingress: self.nodes.iter().map(|n| n.ingress_requests).collect(),
            node_served,
            node_cpu: self
                .nodes
                .iter()
                .map(|n| (n.cores() as u16, n.cpu_busy()))
                .collect(),
            pcap: match (&mut self.control, &mut self.layer2) {
                (Some(cp), _) => cp.take_pcap(),
                (None, Some(l2)) => l2.take_pcap(),
                (None, None) => None,
            },
            client_names: self.clients.iter().map(|c| c.name.clone()).collect(),
            client_groups: self.clients.iter().map(|c| c.group).collect(),
            tool_files,
            bulk,
            services,
            multi_service: self.multi,
            probes: self
                .clients
                .iter()
                .map(|c| {
                    let interval = match c.load {
                        Load::Ping { interval } => Some(interval),
                        _ => None,
                    };
                    (interval, c.probes.clone())
                })
                .collect(),
        })
    }
}

impl Lab {
    /// Each service's books at the end of the run.
    fn service_results(&mut self) -> Vec<ServiceResult> {
        let mut in_flight = vec![0u64; self.svcs.len()];
        for k in self.reqs.keys().collect::<Vec<_>>() {
            if let Some(r) = self.reqs.get(k) {
                if !self.clients[r.client as usize].is_probe() {
                    in_flight[self.service_of(r.conn, r.client)] += 1;
                }
            }
        }
        let mut per = vec![(0u64, 0u64, 0u64, 0u64); self.svcs.len()];
        for ch in &self.changes {
            let e = &mut per[ch.service as usize];
            e.0 += 1;
            e.1 += ch.live;
            e.2 += ch.moved;
            e.3 += ch.broken_reset + ch.broken_timeout;
        }
        let leaders: Option<Vec<Option<u16>>> = self
            .layer2
            .as_ref()
            .map(|l2| self.svcs.iter().map(|s| l2.leader_of(s.vip)).collect());
        self.svcs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let mut counts = s.counts.clone();
                counts.in_flight = in_flight[i];
                let announcers = match &leaders {
                    Some(l) => l[i].into_iter().collect(),
                    None => s.route.members().iter().map(|&m| m as u16).collect(),
                };
                let (changes, live_at_changes, moved, broken) = per[i];
                // Nodes a change on reaches it: selected to announce it, or running its pods.
                let pods = &self.pods[s.pod_range()];
                let care_nodes = (0..self.nodes.len())
                    .filter(|&n| {
                        self.selected[i][n] || pods.iter().any(|p| usize::from(p.node) == n)
                    })
                    .count() as u32;
                ServiceResult {
                    name: s.name.clone(),
                    pool: s.pool.clone().unwrap_or_default(),
                    vip: s.vip,
                    policy: s.policy,
                    counts,
                    latency: s.latency.clone(),
                    announcers,
                    changes,
                    live_at_changes,
                    moved,
                    broken,
                    conns_broken: s.conns_broken,
                    at_change: s.at_change.clone(),
                    care_nodes,
                }
            })
            .collect()
    }
}

impl Model for Lab {
    type Event = Ev;

    #[inline]
    fn handle(&mut self, ev: Ev, sched: &mut Scheduler<Ev>) {
        match ev {
            Ev::Arrival(c) => {
                let now = sched.now();
                if now < self.clients[c as usize].stop {
                    let client = &mut self.clients[c as usize];
                    if !client.online {
                        client.arriving = false;
                        return;
                    }
                    if let Some(retry) = &mut client.retry {
                        let (_, budget) = &mut **retry;
                        budget.deposit(now);
                    }
                    self.send_request(c, now, NO_USER, sched);
                    let gap = self.clients[c as usize].next_gap();
                    sched.schedule_in(gap, Ev::Arrival(c));
                }
            }
            Ev::UserSend(c, u) => {
                let now = sched.now();
                if now < self.clients[c as usize].stop {
                    self.send_request(c, now, u, sched);
                }
            }
            Ev::AtRouter(k) => self.at_router(k, sched),
            Ev::AtNode(k) => self.at_node(k, sched),
            Ev::AtPod(k) => self.at_pod(k, sched),
            Ev::PodDone(k) => self.pod_done(k, sched),
            Ev::AtClient(k, r) => self.at_client(k, r, sched),
            Ev::TimeoutCheck(c) => self.timeout_check(c, sched),
            Ev::Script(i) => self.script(i, sched),
            Ev::EcmpTimer => self.ecmp_timer(sched),
            Ev::EndpointRemoval(n, e) => self.endpoint_removal(n, e, sched),
            Ev::Ctrl(k) => self.control_deliver(k, sched),
            Ev::CtrlWake(node, side, m, generation) => {
                self.control_wake(node, side, m, generation, sched)
            }
            Ev::FibTimer => self.fib_timer(sched),
            Ev::RibTimer => self.rib_timer(sched),
            Ev::SpeakerStart(node) => self.speaker_start(node, sched),
            Ev::NeighborStart(node) => self.control_neighbor_start(node, sched),
            Ev::L2Frame(k) => self.l2_frame(k, sched),
            Ev::L2Note(k) => self.l2_note(k, sched),
            Ev::L2Wake(m, i, generation) => self.l2_wake(m, i, generation, sched),
            Ev::BulkStart(c) => self.bulk_begin(c, sched),
            Ev::BulkStop(c) => self.bulk_end(c, sched),
            Ev::Retransmit(k) => self.retransmit(k, sched),
            Ev::SpeakerResume(node) => self.control_resume(node, sched),
            Ev::Retry(c) => self.send_retries(c, sched),
            Ev::AtUpstream(k, t) => self.at_upstream(k, t, sched),
            Ev::UpstreamDone(k, t) => self.upstream_done(k, t, sched),
            Ev::UpstreamReply(k, t) => self.upstream_reply(k, t, sched),
            Ev::UpstreamTimeout(k, t) => self.upstream_timeout(k, t, sched),
            Ev::Online(c, on) => self.set_online(c, on, sched),
            Ev::KeepBooks => self.keep_books(),
        }
    }
}

/// Run one variant to the scenario's end.
///
/// # Errors
/// [`LabError`] when the variant cannot be built or its books do not balance.
pub fn run_variant(
    scenario: &Scenario,
    variant: &Variant,
    seed: u64,
) -> Result<RunResult, LabError> {
    run_variant_with(scenario, variant, seed, false)
}

/// Run one variant, capturing the control plane to pcap when `capture` is set.
///
/// # Errors
/// [`LabError`] when the variant cannot be built or its books do not balance.
pub fn run_variant_with(
    scenario: &Scenario,
    variant: &Variant,
    seed: u64,
    capture: bool,
) -> Result<RunResult, LabError> {
    run_variant_opts(
        scenario,
        variant,
        seed,
        &RunOptions {
            capture,
            ..RunOptions::default()
        },
    )
}

/// How to run a variant, beyond what the scenario says.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Capture the control plane to pcap.
    pub capture: bool,
    /// Stream per-request results (vegeta's CSV encoding) into files in this output directory
    /// while the run goes, so memory stays bounded by what is live, not by requests simulated.
    pub out: Option<std::sync::Arc<crate::outdir::OutDir>>,
    /// Add the events handled here as the run goes (a progress bar reads it; it cannot change
    /// a result).
    pub progress: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    /// Stop with [`LabError::Limit`] after this many events: the guard behind the cost
    /// estimate, should a run outgrow it.
    pub max_events: Option<u64>,
}

/// Events handled between looks at progress and limits.
const SLICE: u64 = 1 << 16;

/// Run one variant with [`RunOptions`].
///
/// # Errors
/// [`LabError`] when the variant cannot be built, a stream file cannot be written, or the
/// books do not balance.
pub fn run_variant_opts(
    scenario: &Scenario,
    variant: &Variant,
    seed: u64,
    opts: &RunOptions,
) -> Result<RunResult, LabError> {
    let mut sim = Lab::build(scenario, variant, seed, opts.capture)?;
    if let Some(out) = &opts.out {
        sim.model.open_streams(out)?;
    }
    let end = SimTime(scenario.duration.as_nanos());
    let mut reported = 0;
    loop {
        let done = sim.run_for(end, SLICE);
        let events = sim.events_processed();
        if let Some(p) = &opts.progress {
            p.fetch_add(events - reported, std::sync::atomic::Ordering::Relaxed);
            reported = events;
        }
        if let Some(max) = opts.max_events.filter(|&m| events > m) {
            sim.model.limit_hit = Some(("events", max));
        }
        if done || sim.model.limit_hit.is_some() {
            break;
        }
    }
    let events = sim.events_processed();
    let now = sim.now();
    sim.model.finish_run(events, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn scenario() -> Scenario {
        Scenario::parse(
            Path::new("t.ron"),
            r#"(name: "t", duration: "2s", nodes: (count: 3),
                service: (pods: (replicas: 3, service_time: Exponential(mean: "200us"))),
                clients: [(name: "c", count: 2, load: OpenLoop(rate: 1000), connections: KeepAlive(pool: 4), timeout: "100ms")],
                events: [(at: "1s", crash: "node-1")])"#,
        )
        .unwrap()
    }

    #[test]
    fn conservation_holds_with_requests_lost_to_a_crash() {
        let s = scenario();
        let r = run_variant(&s, &s.variant_list()[0], 1).unwrap();
        assert!(
            r.counts.timeout > 0,
            "the crash should strand some requests: {:?}",
            r.counts
        );
        assert_eq!(
            r.counts.started,
            r.counts.ok + r.counts.failed() + r.counts.in_flight
        );
    }

    /// Run `s` to 1.5 s, forget the first request in flight that `probe` says is (or is not) a
    /// probe without accounting for it, and close the books.
    fn forget_one(s: &Scenario, probe: bool) -> LabError {
        let mut sim = Lab::build(s, &s.variant_list()[0], 1, false).unwrap();
        sim.run_until(SimTime(1_500_000_000));
        let m = &sim.model;
        let key = m
            .reqs
            .keys()
            .find(|&k| {
                m.reqs
                    .get(k)
                    .is_some_and(|r| m.clients[r.client as usize].is_probe() == probe)
            })
            .expect("one in flight at 1.5 s");
        sim.model.reqs.remove(key);
        sim.model.finish_run(0, SimTime(1_500_000_000)).unwrap_err()
    }

    #[test]
    fn the_conservation_check_catches_a_lost_request() {
        let err = forget_one(&scenario(), false);
        assert!(
            matches!(
                err,
                LabError::Conservation {
                    what: "requests",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn probes_have_books_of_their_own_and_they_are_checked_too() {
        let s = Scenario::parse(
            Path::new("t.ron"),
            r#"(name: "t", duration: "2s", nodes: (count: 3),
                service: (pods: (replicas: 3, service_time: Exponential(mean: "200us"))),
                clients: [
                    (name: "c", load: OpenLoop(rate: 1000), connections: KeepAlive(pool: 4), timeout: "100ms"),
                    (name: "p", load: Ping(interval: "10ms"), timeout: "500ms"),
                ],
                events: [(at: "1s", crash: "node-1")])"#,
        )
        .unwrap();
        let r = run_variant(&s, &s.variant_list()[0], 1).unwrap();
        let (c, p) = (&r.counts, &r.probe_counts);
        assert_eq!(c.started, c.ok + c.failed() + c.in_flight);
        assert_eq!(p.sent, p.answered + p.lost + p.in_flight);
        assert_eq!(p.sent, 200, "one probe every 10 ms for 2 s");
        assert!(c.started > 1500 && c.started < 2500, "{c:?}");
        // Probes open no TCP connection: the keep-alive pool's 4 and their replacements.
        assert!(c.connections < 100, "{c:?}");
        // A probe the books forget is caught like a request.
        let err = forget_one(&s, true);
        assert!(
            matches!(err, LabError::Conservation { what: "probes", .. }),
            "{err}"
        );
    }
}

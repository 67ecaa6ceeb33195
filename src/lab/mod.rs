//! The lab: a BGP-mode cluster assembled from a scenario, driven by the event queue.
//!
//! ```text
//!  client ─link─▶ router ──ECMP(hash of 5-tuple)──link─▶ node (kube-proxy, conntrack)
//!                                                          └─▶ pod (local, or another node)
//!  client ◀─link── router ◀──link── ingress node (un-NAT) ◀── pod
//! ```
//! Requests are records carrying a connection id; each resource (link, node CPU, pod) is
//! reserved when the request reaches it, so queues form where capacity is short.

mod bulk;
mod client;
mod control;
mod kube;
mod layer2;
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
pub use control::{ControlPlane, Machine, Side};
pub use kube::{Cores, KubeProxy, Pod};
pub use layer2::{L2Machine, Layer2};
pub use router::{RouteChange, ServiceRoute};
pub use series::{
    GroupKind, GroupSeries, NodeSeries, Scrapes, Series, DURATION_BUCKETS_S, SCRAPE_INTERVAL,
};
pub use service::{ServiceResult, Svc};
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
struct Conn {
    client: u32,
    /// The service it goes to.
    service: u32,
    flow: FlowKey,
    hash: u32,
    opened_at: SimTime,
    /// The node holding this connection's conntrack entry and that entry's epoch.
    conntrack: Option<(u16, u32)>,
    pod: Option<u32>,
    /// Where the router sends it now (as of the last change or packet).
    path_node: Option<u16>,
    /// The change that moved it away from its conntrack node, while it is away.
    moved_by: Option<u32>,
    /// connections.csv rows waiting for this connection's fate.
    pending_rows: Vec<u32>,
    /// A packet hit a node without its conntrack entry.
    broken: bool,
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

/// Totals of a run's requests (ping probes are not requests: see [`ProbeCounts`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
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
        self.reset + self.timeout + self.refused
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

/// A vegeta results stream being written: to `tmp`, renamed to `path` at the end.
struct ResultStream {
    writer: crate::tools::vegeta::VegetaCsvWriter<std::io::BufWriter<std::fs::File>>,
    tmp: std::path::PathBuf,
    path: std::path::PathBuf,
}

/// `name.json` -> `name.csv`: the results stream beside a vegeta report.
fn stream_name(report: &str) -> String {
    let stem = report.strip_suffix(".json").unwrap_or(report);
    format!("{stem}.csv")
}

/// `name.ext` -> `name-k.ext`, for the files of several instances of one client group.
fn instance_name(name: &str, k: usize) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}-{k}.{ext}"),
        None => format!("{name}-{k}"),
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
    conn_row: std::mem::size_of::<ConnRow>(),
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
    loose: bool,
    packet_cost: SimDuration,
    endpoint_removal_delay: SimDuration,
    end: SimTime,
    counts: Counts,
    probe_counts: ProbeCounts,
    latency: LatencyHistogram,
    series: Series,
    changes: Vec<ChangeRecord>,
    conn_rows: Vec<ConnRow>,
    log: EventLog,
    limit_hit: Option<(&'static str, u64)>,
    /// The BGP control plane, when the scenario has one.
    control: Option<ControlPlane>,
    /// Per client group with a load-tool output: its results so far.
    recorders: Vec<Option<crate::tools::LoadRecorder>>,
    /// Per client group running vegeta with an output: its per-request results stream.
    streams: Vec<Option<ResultStream>>,
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
            });
        }
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
            loose,
            packet_cost: scenario.nodes.packet_cost,
            endpoint_removal_delay: svc.endpoint_removal_delay,
            end,
            counts: Counts::default(),
            probe_counts: ProbeCounts::default(),
            latency: LatencyHistogram::new(),
            series,
            changes: Vec::new(),
            conn_rows: Vec::new(),
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
                for i in 0..self.nodes.len() as u16 {
                    let svc = &self.svcs[s];
                    let eligible = self.selected[s][usize::from(i)]
                        && (svc.policy == TrafficPolicy::Cluster
                            || self.pods[svc.pod_range()].iter().any(|p| p.node == i));
                    if eligible {
                        self.svcs[s]
                            .route
                            .apply(SimTime::ZERO, RouteChange::Announce(NextHop::from(i)));
                    }
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
        for (i, e) in self.script.iter().enumerate() {
            sched.schedule_in(e.at, Ev::Script(i as u32));
        }
        for c in 0..self.clients.len() as u32 {
            let client = &self.clients[c as usize];
            match client.load {
                _ if client.open_loop() => sched.schedule_in(client.start, Ev::Arrival(c)),
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

    // ---- clients -------------------------------------------------------------------------

    /// Issue one request from client `c`, due at `start`.
    fn send_request(&mut self, c: u32, start: SimTime, user: u32, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let conn = match self.clients[c as usize].pool {
            Pool::PerRequest => self.open_conn(c, now),
            Pool::Elastic => {
                let client = &mut self.clients[c as usize];
                if let Some(k) = client.idle.pop_front() {
                    k
                } else {
                    client.open_conns += 1;
                    self.open_conn(c, now)
                }
            }
            Pool::Fixed(pool) => {
                // The pool fills first (fortio's -c opens every connection), then the least
                // recently used idle connection carries the request.
                let client = &mut self.clients[c as usize];
                if client.open_conns < pool {
                    client.open_conns += 1;
                    self.open_conn(c, now)
                } else if let Some(k) = client.idle.pop_front() {
                    k
                } else {
                    client.backlog.push_back(start);
                    return;
                }
            }
        };
        if self.clients[c as usize].is_probe() {
            self.probe_counts.sent += 1;
        } else {
            self.counts.started += 1;
            let s = self.clients[c as usize].service as usize;
            self.svcs[s].counts.started += 1;
        }
        self.series.sent(self.clients[c as usize].group, now);
        if self.reqs.len() >= MAX_LIVE_REQUESTS {
            self.limit_hit = Some(("live requests", MAX_LIVE_REQUESTS as u64));
        }
        let client = &mut self.clients[c as usize];
        let seq = client.next_seq;
        client.next_seq += 1;
        if let Some(log) = &mut client.ping_log {
            log.push(crate::tools::PingProbe {
                seq: seq + 1,
                sent: now,
                reply: None,
            });
        }
        let req = self.reqs.insert(Req {
            client: c,
            conn,
            start,
            ingress: 0,
            pod_epoch: 0,
            user,
            seq,
            sent: now,
            retransmits: 0,
        });
        let client = &mut self.clients[c as usize];
        let deadline = now + client.timeout;
        client.deadlines.push_back((deadline, req));
        arm_timeout(client, c, deadline, sched);
        let (uplink, bytes) = (client.uplink, client.request_bytes);
        if let Some(at) = self.topo.link_mut(uplink).transmit(now, bytes) {
            let _ = sched.schedule_at(at, Ev::AtRouter(req));
        }
    }

    fn open_conn(&mut self, c: u32, now: SimTime) -> Key {
        let client = &mut self.clients[c as usize];
        let service = client.service;
        let svc = &self.svcs[service as usize];
        let flow = if matches!(client.load, Load::Ping { .. }) {
            // ICMP echo: no ports for the multipath hash (the flow dissector fills ports only
            // for port-carrying protocols), so one ping source always takes one path.
            FlowKey {
                src: client.ip,
                dst: svc.vip,
                proto: 1,
                sport: 0,
                dport: 0,
            }
        } else {
            FlowKey {
                src: client.ip,
                dst: svc.vip,
                proto: 6,
                sport: client.take_port(),
                dport: svc.port,
            }
        };
        let txhash = self.ecmp().uses_txhash().then(|| self.draw_txhash());
        let hash = self.ecmp().forwarded_hash(&flow, txhash);
        if flow.proto == 6 {
            self.counts.connections += 1;
        }
        self.conns.insert(Conn {
            client: c,
            service,
            flow,
            hash,
            opened_at: now,
            conntrack: None,
            pod: None,
            path_node: None,
            moved_by: None,
            pending_rows: Vec::new(),
            broken: false,
        })
    }

    /// Close a connection; its pending connections.csv rows take `fate`.
    fn close_conn(&mut self, key: Key, fate: &'static str) {
        let Some(conn) = self.conns.remove(key) else {
            return;
        };
        for r in conn.pending_rows {
            self.conn_rows[r as usize].fate = fate;
        }
        if let Some(p) = conn.pod {
            let pod = &mut self.pods[p as usize];
            pod.active_conns = pod.active_conns.saturating_sub(1);
        }
        let client = &mut self.clients[conn.client as usize];
        if client.pool != Pool::PerRequest {
            client.open_conns = client.open_conns.saturating_sub(1);
        }
    }

    /// A request ended (answered, failed or timed out): free its connection for what's next.
    fn finish(&mut self, req: Req, outcome: Result<(), ErrorKind>, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        // Forget the finished requests at the front of the client's deadlines (this one is out
        // of `reqs` already): the timeout check would only skip them, and requests finish
        // nearly in send order, so the queue holds about what is outstanding, not a whole
        // timeout's worth of sends.
        let deadlines = &mut self.clients[req.client as usize].deadlines;
        while deadlines
            .front()
            .is_some_and(|&(_, k)| self.reqs.get(k).is_none())
        {
            deadlines.pop_front();
        }
        self.record_tool(&req, outcome, now);
        let probes = &mut self.clients[req.client as usize].probes;
        match outcome {
            Ok(()) => {
                probes.answered(req.start);
                self.l2_confirm(req.client, sched);
            }
            Err(_) => probes.lost(),
        }
        if self.clients[req.client as usize].is_probe() {
            // Probes have their own books, apart from requests' counts, errors and latency.
            match outcome {
                Ok(()) => self.probe_counts.answered += 1,
                Err(_) => self.probe_counts.lost += 1,
            }
        } else {
            self.count_request(outcome, now - req.start);
            let s = self.clients[req.client as usize].service as usize;
            self.svcs[s].count(outcome, now - req.start);
        }
        // Requests and probes alike, in their own group's series.
        let group = self.clients[req.client as usize].group;
        match outcome {
            Ok(()) => self
                .series
                .answered(group, req.ingress, now, now - req.start),
            Err(kind) => self.series.failed(group, kind, now),
        }
        self.after_request(req, outcome, sched);
    }

    /// Count a finished request in the totals: answered (with its latency) or failed.
    fn count_request(&mut self, outcome: Result<(), ErrorKind>, lat: SimDuration) {
        match outcome {
            Ok(()) => {
                self.counts.ok += 1;
                self.latency.record(lat);
            }
            Err(ErrorKind::Reset) => self.counts.reset += 1,
            Err(ErrorKind::Timeout) => self.counts.timeout += 1,
            Err(ErrorKind::Refused) => self.counts.refused += 1,
        }
    }

    /// What a client does once a request ended: reuse or close its connection, send the next.
    fn after_request(
        &mut self,
        req: Req,
        outcome: Result<(), ErrorKind>,
        sched: &mut Scheduler<Ev>,
    ) {
        let now = sched.now();
        let c = req.client;
        let keep_alive = self.clients[c as usize].pool != Pool::PerRequest;
        match (outcome, keep_alive) {
            (Ok(()), true) => {
                let client = &mut self.clients[c as usize];
                if let Some(start) = client.backlog.pop_front() {
                    // The freed connection carries the oldest waiting request; put it back first.
                    client.idle.push_front(req.conn);
                    self.send_request(c, start, NO_USER, sched);
                } else {
                    client.idle.push_back(req.conn);
                }
            }
            (Ok(()), false) => self.close_conn(req.conn, "closed"),
            (Err(kind), _) => {
                let fate = match kind {
                    ErrorKind::Reset => "reset",
                    ErrorKind::Timeout => "timeout",
                    ErrorKind::Refused => "refused",
                };
                self.close_conn(req.conn, fate);
                // A keep-alive client replaces the connection for whoever waits.
                let client = &mut self.clients[c as usize];
                if keep_alive {
                    if let Some(start) = client.backlog.pop_front() {
                        self.send_request(c, start, NO_USER, sched);
                    }
                }
            }
        }
        let client = &mut self.clients[c as usize];
        if req.user != NO_USER && now < client.stop {
            let u = req.user;
            match client.load {
                Load::ClosedLoop { think_time, .. } if think_time > SimDuration::ZERO => {
                    sched.schedule_in(think_time, Ev::UserSend(c, u));
                }
                // fortio: the next slot of this connection, or at once if behind (catch-up).
                Load::Fortio { .. } => {
                    let gap = client.slot_gap;
                    let slot = &mut client.slots[u as usize];
                    *slot += gap;
                    if *slot > now {
                        let _ = sched.schedule_at(*slot, Ev::UserSend(c, u));
                    } else {
                        self.send_request(c, now, u, sched);
                    }
                }
                _ => self.send_request(c, now, u, sched),
            }
        }
    }

    /// The client groups' results in their tools' formats.
    fn tool_files(&mut self, now: SimTime) -> Vec<(String, Vec<u8>)> {
        use crate::tools::{fortio, ping, vegeta, wrk, LoadMeta, PingLog, DEFAULT_EPOCH_NS};
        let mut files = Vec::new();
        for (g, spec) in self.groups.iter().enumerate() {
            let svc = &self.svcs[self.group_service(g)];
            let (vip, url) = (svc.vip, format!("http://{}:{}/", svc.vip, svc.port));
            let Some(template) = &spec.output else {
                continue;
            };
            let name = template.replace("{variant}", &self.variant);
            let start = SimTime(spec.start.as_nanos());
            let stop = spec.stop.map_or(now, |d| SimTime(d.as_nanos()).min(now));
            if let Some(rec) = self.recorders.get_mut(g).and_then(Option::take) {
                let mut meta = LoadMeta::new(&spec.name, &url, stop - start);
                meta.start = start;
                let (qps, connections, threads) = match spec.load {
                    Load::Fortio { qps, connections } => (Some(qps), connections, connections),
                    Load::Wrk {
                        threads,
                        connections,
                    } => (None, connections, threads),
                    Load::Vegeta { rate, workers } => (Some(rate), workers, workers),
                    _ => (None, 1, 1),
                };
                meta.requested_qps = qps.map(|q| q * f64::from(spec.count));
                meta.connections = connections * spec.count;
                meta.threads = threads * spec.count;
                let report = rec.finish(meta);
                match spec.load {
                    Load::Fortio { .. } => {
                        // fortio times the connect of each connection: one round trip here.
                        let rtt = self.client_rtt();
                        files.push((name.clone(), fortio::to_json(&report, rtt).into_bytes()));
                    }
                    Load::Wrk { .. } => {
                        files.push((name.clone(), wrk::to_text(&report).into_bytes()))
                    }
                    Load::Vegeta { .. } => {
                        files.push((name.clone(), vegeta::report_json(&report).into_bytes()))
                    }
                    _ => {}
                }
            }
            if matches!(spec.load, Load::Ping { .. }) {
                let instances: Vec<&Client> = self
                    .clients
                    .iter()
                    .filter(|c| c.group as usize == g)
                    .collect();
                for (k, client) in instances.iter().enumerate() {
                    let Some(probes) = &client.ping_log else {
                        continue;
                    };
                    let log = PingLog {
                        target: vip.to_string(),
                        epoch_ns: DEFAULT_EPOCH_NS,
                        start,
                        probes: probes.clone(),
                        report_outstanding: false,
                        summary: None,
                        ttl: 64,
                    };
                    let file = if instances.len() == 1 {
                        name.clone()
                    } else {
                        instance_name(&name, k + 1)
                    };
                    files.push((file, ping::to_log(&log).into_bytes()));
                }
            }
        }
        files
    }

    /// The service client group `g` sends to (its first instance's).
    fn group_service(&self, g: usize) -> usize {
        self.clients
            .iter()
            .find(|c| c.group as usize == g)
            .map_or(0, |c| c.service as usize)
    }

    /// One round trip client -> router -> node and back, without queueing.
    fn client_rtt(&self) -> SimDuration {
        let one_way = self.topo.link(self.clients[0].uplink).delay + self.node_link_delay;
        one_way + one_way
    }

    /// Open the vegeta results streams of the client groups that write one.
    fn open_streams(&mut self, out: &crate::outdir::OutDir) -> Result<(), LabError> {
        let err = |variant: &str, path: &std::path::Path, source| LabError::Io {
            variant: variant.to_string(),
            path: path.display().to_string(),
            source,
        };
        self.streams = Vec::with_capacity(self.groups.len());
        for (g, spec) in self.groups.iter().enumerate() {
            let svc = &self.svcs[self.group_service(g)];
            let url = format!("http://{}:{}/", svc.vip, svc.port);
            let stream = match (&spec.load, &spec.output) {
                (Load::Vegeta { .. }, Some(template)) => {
                    let name = stream_name(&template.replace("{variant}", &self.variant));
                    let path = out.file(&name).map_err(|e| LabError::Out {
                        variant: self.variant.clone(),
                        source: e,
                    })?;
                    let tmp = crate::output::tmp_path(&path);
                    let file =
                        std::fs::File::create(&tmp).map_err(|e| err(&self.variant, &tmp, e))?;
                    let writer = crate::tools::vegeta::VegetaCsvWriter::new(
                        std::io::BufWriter::new(file),
                        crate::tools::DEFAULT_EPOCH_NS,
                        &spec.name,
                        "GET",
                        &url,
                    );
                    Some(ResultStream { writer, tmp, path })
                }
                _ => None,
            };
            self.streams.push(stream);
        }
        Ok(())
    }

    /// Flush and rename the results streams.
    fn close_streams(&mut self) -> Result<(), LabError> {
        use std::io::Write;
        if let Some((path, source)) = self.stream_error.take() {
            return Err(LabError::Io {
                variant: self.variant.clone(),
                path,
                source,
            });
        }
        for s in std::mem::take(&mut self.streams).into_iter().flatten() {
            let io = |source| LabError::Io {
                variant: self.variant.clone(),
                path: s.path.display().to_string(),
                source,
            };
            let mut w = s.writer.into_inner().map_err(io)?;
            w.flush().map_err(io)?;
            std::fs::rename(&s.tmp, &s.path).map_err(io)?;
        }
        Ok(())
    }

    /// Feed a finished request to its group's load-tool recorder and its ping log.
    fn record_tool(&mut self, req: &Req, outcome: Result<(), ErrorKind>, now: SimTime) {
        let client = &mut self.clients[req.client as usize];
        if let Some(probe) = client
            .ping_log
            .as_mut()
            .and_then(|l| l.get_mut(req.seq as usize))
        {
            if outcome.is_ok() {
                probe.reply = Some(now);
            }
        }
        let group = client.group as usize;
        let (bytes_out, bytes_in) = (client.request_bytes, client.response_bytes);
        let Some(Some(rec)) = self.recorders.get_mut(group) else {
            return;
        };
        use crate::tools::{Outcome, RequestRecord, TransportError};
        let outcome = match outcome {
            Ok(()) => Outcome::Response(200),
            Err(ErrorKind::Reset) => Outcome::Failed(TransportError::Reset),
            Err(ErrorKind::Timeout) => Outcome::Failed(TransportError::Timeout),
            Err(ErrorKind::Refused) => Outcome::Failed(TransportError::Refused),
        };
        let record = RequestRecord {
            seq: req.seq,
            start: req.start,
            latency: now - req.start,
            outcome,
            bytes_in: if outcome.is_success() {
                u64::from(bytes_in)
            } else {
                0
            },
            bytes_out: u64::from(bytes_out),
        };
        rec.record(&record);
        if let Some(Some(stream)) = self.streams.get_mut(group) {
            if let Err(e) = stream.writer.write(&record) {
                if self.stream_error.is_none() {
                    self.stream_error = Some((stream.path.display().to_string(), e));
                }
            }
        }
    }

    fn timeout_check(&mut self, c: u32, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let client = &mut self.clients[c as usize];
        if client.timeout_at != Some(now) {
            return; // superseded by an earlier check that has already run
        }
        client.timeout_at = None;
        while let Some(&(deadline, key)) = self.clients[c as usize].deadlines.front() {
            if self.reqs.get(key).is_none() {
                self.clients[c as usize].deadlines.pop_front();
                continue;
            }
            if deadline > now {
                arm_timeout(&mut self.clients[c as usize], c, deadline, sched);
                break;
            }
            self.clients[c as usize].deadlines.pop_front();
            if let Some(req) = self.reqs.remove(key) {
                self.finish(req, Err(ErrorKind::Timeout), sched);
            }
        }
    }

    // ---- the data path ----------------------------------------------------------------------

    fn at_router(&mut self, key: Key, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(req) = self.reqs.get(key) else {
            return;
        };
        let Some(conn) = self.conns.get_mut(req.conn) else {
            return;
        };
        let c = req.client as usize;
        if let Some(node) = self.clients[c].in_cluster {
            // kube-proxy on the client's own node intercepts the LoadBalancer IP (KUBE-SERVICES
            // matches it in OUTPUT): no router, no ECMP, no ARP.
            conn.path_node = Some(node);
            if let Some(req) = self.reqs.get_mut(key) {
                req.ingress = node;
            }
            self.count_ingress(node, c, now);
            let _ = sched.schedule_at(now, Ev::AtNode(key));
            return;
        }
        if now < self.blackout_until {
            // The router drops what the clients send (iptables FORWARD DROP).
            self.lost(key, sched);
            return;
        }
        if self.layer2.is_some() {
            let client = req.client;
            self.l2_route(key, client, sched);
            return;
        }
        let Some(nh) = self.svcs[conn.service as usize]
            .route
            .select(now, conn.hash)
        else {
            // No route: the router answers ICMP unreachable, the client's connect fails at once.
            let bytes = self.clients[c].response_bytes.min(70);
            if let Some(at) = self
                .topo
                .link_mut(self.clients[c].downlink)
                .transmit(now, bytes)
            {
                let _ = sched.schedule_at(at, Ev::AtClient(key, Reply::Refused));
            }
            return;
        };
        let node = nh as u16;
        conn.path_node = Some(node);
        self.count_ingress(node, c, now);
        let downlink = self.nodes[usize::from(node)].downlink;
        let bytes = self.clients[c].request_bytes;
        if let Some(req) = self.reqs.get_mut(key) {
            req.ingress = node;
        }
        match self.topo.link_mut(downlink).transmit(now, bytes) {
            Some(at) => {
                let _ = sched.schedule_at(at, Ev::AtNode(key));
            }
            None => self.lost(key, sched),
        }
    }

    /// A request's packet was dropped on the way in. Under `hash_source: SocketTxhash` the
    /// client's TCP retransmits it when its retransmission timer expires: TCP_RTO_MIN 200 ms
    /// (include/net/tcp.h; a LAN's smoothed RTT is far below it) doubling with every
    /// expiry up to TCP_RTO_MAX 120 s (net/ipv4/tcp_timer.c `tcp_retransmit_timer`). Other
    /// sources keep the simpler model: the request is lost and the client's timeout counts it.
    fn lost(&mut self, key: Key, sched: &mut Scheduler<Ev>) {
        if !self.ecmp().uses_txhash() {
            return;
        }
        let Some(req) = self.reqs.get(key) else {
            return;
        };
        let tcp = self.conns.get(req.conn).is_some_and(|c| c.flow.proto == 6);
        if !tcp {
            return;
        }
        let rto = TCP_RTO_MIN
            .as_nanos()
            .saturating_mul(1 << req.retransmits.min(20));
        let rto = SimDuration(rto.min(TCP_RTO_MAX.as_nanos()));
        let _ = sched.schedule_at((req.sent + rto).max(sched.now()), Ev::Retransmit(key));
    }

    /// The retransmission timer of a lost request expired: with `net.core.txrehash` 1 the
    /// socket first draws a new `sk_txhash` (`sk_rethink_txhash`, called from
    /// `tcp_write_timeout`), so the router may send the retransmission to another node.
    fn retransmit(&mut self, key: Key, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(req) = self.reqs.get_mut(key) else {
            return; // answered or timed out meanwhile
        };
        req.retransmits += 1;
        req.sent = now;
        let (c, conn_key, n) = (req.client as usize, req.conn, req.retransmits);
        let redraw = self.ecmp().txrehash();
        if redraw {
            let txhash = self.draw_txhash();
            if let Some(conn) = self.conns.get_mut(conn_key) {
                conn.hash = self.svcs[0].route.forwarded_hash(&conn.flow, Some(txhash));
            }
        }
        let name = self.clients[c].name.clone();
        let detail = format!(
            "retransmission={n} txhash={}",
            if redraw { "redrawn" } else { "kept" }
        );
        self.log.push(now, "tcp_rto", name, detail);
        let (uplink, bytes) = (self.clients[c].uplink, self.clients[c].request_bytes);
        if let Some(at) = self.topo.link_mut(uplink).transmit(now, bytes) {
            let _ = sched.schedule_at(at, Ev::AtRouter(key));
        }
    }

    /// The next socket's random `sk_txhash` (`net_tx_rndhash`), from the run's own stream.
    fn draw_txhash(&mut self) -> u32 {
        bgp::ecmp::hash::txhash_from(sim_core::rng::splitmix64(&mut self.txhash_rng))
    }

    fn at_node(&mut self, key: Key, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(req) = self.reqs.get(key) else {
            return;
        };
        let (ingress, conn_key, c) = (req.ingress, req.conn, req.client as usize);
        let node = &mut self.nodes[usize::from(ingress)];
        if !node.up {
            self.lost(key, sched); // lost with the node
            return;
        }
        let t = node.cpu(now, now, self.packet_cost);
        let epoch = node.epoch;
        if matches!(self.clients[c].load, Load::Ping { .. }) {
            // ICMP echo: the node's kernel answers; no conntrack pinning, no pod.
            self.reply_from_node(key, ingress, t, c, Reply::Response, sched);
            return;
        }
        let Some(conn) = self.conns.get_mut(conn_key) else {
            return;
        };
        let pod = match conn.conntrack {
            None => {
                // First packet: kube-proxy picks an endpoint, conntrack pins it (DNAT; SNAT too
                // under Cluster policy).
                conn.conntrack = Some((ingress, epoch));
                let n = &mut self.nodes[usize::from(ingress)];
                n.conntrack_created += 1;
                // externalTrafficPolicy applies to external traffic; a pod's own traffic to the
                // VIP follows the Cluster rules (any ready endpoint).
                let svc = &self.svcs[conn.service as usize];
                let policy = if self.clients[c].in_cluster.is_some() {
                    TrafficPolicy::Cluster
                } else {
                    svc.policy
                };
                let range = svc.pod_range();
                let offset = svc.pods.start;
                let pods = &self.pods[range];
                match n.kube_proxy.choose_for(conn.service, ingress, policy, pods) {
                    Some(p) => {
                        let p = p + offset;
                        conn.pod = Some(p);
                        self.pods[p as usize].active_conns += 1;
                        p
                    }
                    None => {
                        match svc.policy {
                            // KUBE-SVC has no endpoints: REJECT, the client sees "connection refused".
                            TrafficPolicy::Cluster => {
                                self.reply_from_node(key, ingress, t, c, Reply::Refused, sched)
                            }
                            // KUBE-XLB without local endpoints drops: the client times out.
                            TrafficPolicy::Local => {}
                        }
                        return;
                    }
                }
            }
            Some((n, e)) if n == ingress && e == epoch => match conn.pod {
                Some(p) => p,
                None => return,
            },
            Some(_) => {
                // A mid-connection packet at a node with no conntrack entry for it
                // (nf_conntrack_proto_tcp.c, tcp_in_window / nf_conntrack_tcp_loose): picked up
                // and answered with RST by a socket-less endpoint, or dropped.
                conn.broken = true;
                let fate = if self.loose { "reset" } else { "timeout" };
                for r in std::mem::take(&mut conn.pending_rows) {
                    self.conn_rows[r as usize].fate = fate;
                }
                if let Some(ch) = conn
                    .moved_by
                    .and_then(|id| self.changes.get_mut(id as usize))
                {
                    if self.loose {
                        ch.broken_reset += 1;
                    } else {
                        ch.broken_timeout += 1;
                    }
                }
                if self.loose {
                    self.reply_from_node(key, ingress, t, c, Reply::Reset, sched);
                }
                return;
            }
        };
        let pod_node = self.pods[pod as usize].node;
        let arrive = if pod_node == ingress {
            Some(t)
        } else {
            // Cluster policy, remote endpoint: one more hop through the router.
            let path = [
                self.nodes[usize::from(ingress)].uplink,
                self.nodes[usize::from(pod_node)].downlink,
            ];
            self.topo.send(&path, t, self.clients[c].request_bytes)
        };
        match arrive {
            Some(at) if at == now => self.at_pod(key, sched),
            Some(at) => {
                let _ = sched.schedule_at(at, Ev::AtPod(key));
            }
            None => {}
        }
    }

    /// A request of client `c` entered at `node` (the ingress balance); probes do not count.
    pub(super) fn count_ingress(&mut self, node: u16, c: usize, now: SimTime) {
        if !self.clients[c].is_probe() {
            self.nodes[usize::from(node)].ingress_requests += 1;
            self.series.ingress(node, now);
        }
    }

    /// Send a small reply (RST, REJECT) from `node` at `t` back to client `c`.
    fn reply_from_node(
        &mut self,
        key: Key,
        node: u16,
        t: SimTime,
        c: usize,
        reply: Reply,
        sched: &mut Scheduler<Ev>,
    ) {
        self.l2_reply_seen(node, c as u32, t);
        let path = [
            self.nodes[usize::from(node)].uplink,
            self.clients[c].downlink,
        ];
        if let Some(at) = self.topo.send(&path, t, 60) {
            let _ = sched.schedule_at(at, Ev::AtClient(key, reply));
        }
    }

    fn at_pod(&mut self, key: Key, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(req) = self.reqs.get_mut(key) else {
            return;
        };
        let Some((p, s)) = self
            .conns
            .get(req.conn)
            .and_then(|c| c.pod.map(|p| (p, c.service)))
        else {
            return;
        };
        let pod = &mut self.pods[p as usize];
        if !pod.alive {
            return;
        }
        req.pod_epoch = pod.epoch;
        let cores = &mut self.nodes[usize::from(pod.node)].cores;
        let done = pod.serve(now, &self.svcs[s as usize].service_time, cores);
        self.series.served(pod.node, now);
        let _ = sched.schedule_at(done, Ev::PodDone(key));
    }

    fn pod_done(&mut self, key: Key, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(req) = self.reqs.get(key) else {
            return;
        };
        let Some(p) = self.conns.get(req.conn).and_then(|c| c.pod) else {
            return;
        };
        let pod = &self.pods[p as usize];
        if !pod.alive || pod.epoch != req.pod_epoch {
            return; // the pod died with the request in it
        }
        let (ingress, c) = (req.ingress, req.client as usize);
        let bytes = self.clients[c].response_bytes;
        let mut t = Some(now);
        if pod.node != ingress {
            // Back to the node that SNATed it.
            let path = [
                self.nodes[usize::from(pod.node)].uplink,
                self.nodes[usize::from(ingress)].downlink,
            ];
            t = self.topo.send(&path, now, bytes);
        }
        self.l2_reply_seen(ingress, c as u32, now);
        let node = &mut self.nodes[usize::from(ingress)];
        let Some(t) = t.filter(|_| node.up) else {
            return;
        };
        let t = node.cpu(now, t, self.packet_cost);
        let path = [node.uplink, self.clients[c].downlink];
        if let Some(at) = self.topo.send(&path, t, bytes) {
            let _ = sched.schedule_at(at, Ev::AtClient(key, Reply::Response));
        }
    }

    fn at_client(&mut self, key: Key, reply: Reply, sched: &mut Scheduler<Ev>) {
        let Some(req) = self.reqs.remove(key) else {
            return;
        };
        let outcome = match reply {
            Reply::Response => Ok(()),
            Reply::Reset => Err(ErrorKind::Reset),
            Reply::Refused => Err(ErrorKind::Refused),
        };
        self.finish(req, outcome, sched);
    }

    // ---- route changes and faults ------------------------------------------------------------

    fn script(&mut self, i: u32, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(ev) = self.script.get(i as usize).cloned() else {
            return;
        };
        let Some((action, name)) = ev.action() else {
            return;
        };
        if let Some(length) = ev.blackout {
            self.blackout_until = self.blackout_until.max(now + length);
            self.log
                .push(now, "blackout", "router", format!("for={length}"));
            return;
        }
        let Some(idx) = self.nodes.iter().position(|n| n.name == name) else {
            return;
        };
        let node = idx as u16;
        match action {
            Action::Withdraw if self.control.is_some() => {
                self.control_script_advertise(node, false, sched)
            }
            Action::Announce if self.control.is_some() => {
                self.control_script_advertise(node, true, sched)
            }
            Action::Shutdown => {
                self.control_shutdown(node, sched);
                self.l2_shutdown(node, sched);
            }
            Action::Drain => self.drain(node, sched),
            Action::Partition | Action::Heal => {
                let cut = action == Action::Partition;
                let n = &mut self.nodes[idx];
                if n.isolated == cut || !n.up {
                    return;
                }
                n.isolated = cut;
                if let Ok(dev) = self.topo.find(name) {
                    self.topo.set_device_links_up(dev, !cut);
                }
                self.l2_set_port(node, !cut, now);
                let kind = if cut { "node_partition" } else { "node_heal" };
                self.log.push(
                    now,
                    kind,
                    name,
                    "links=".to_string() + if cut { "down" } else { "up" },
                );
            }
            Action::RestartSpeaker => self.control_restart(node, ev.restart_after(), sched),
            Action::KillSpeaker => {
                self.control_kill(node, sched);
                if let Some(after) = ev.restart_after {
                    sched.schedule_in(after, Ev::SpeakerStart(node));
                }
            }
            Action::HangSpeaker => {
                let all = ev.daemons.unwrap_or(crate::scenario::Daemons::All)
                    == crate::scenario::Daemons::All;
                self.control_hang(node, all, sched);
            }
            Action::ResumeSpeaker => self.control_resume(node, sched),
            Action::Blackout => {}
            // Scripted routes: the node's route for every service it is selected for.
            Action::Withdraw | Action::Announce => {
                let (change, verb) = if action == Action::Withdraw {
                    (RouteChange::Withdraw(NextHop::from(node)), "withdraw")
                } else {
                    (RouteChange::Announce(NextHop::from(node)), "announce")
                };
                for s in 0..self.svcs.len() {
                    if self.selected[s][idx] {
                        self.route_change(s, change, format!("{verb} {name}"), sched);
                    }
                }
            }
            Action::Crash => {
                let n = &mut self.nodes[idx];
                if !n.up {
                    return;
                }
                n.up = false;
                n.epoch = n.epoch.wrapping_add(1);
                let epoch = n.epoch;
                let dev = self.topo.find(name).ok();
                if let Some(dev) = dev {
                    self.topo.set_device_links_up(dev, false);
                }
                for pod in self.pods.iter_mut().filter(|p| p.node == node) {
                    pod.crash();
                }
                self.log.push(
                    now,
                    "node_crash",
                    name,
                    "nic=down conntrack=lost pods=stopped",
                );
                sched.schedule_in(
                    self.endpoint_removal_delay,
                    Ev::EndpointRemoval(node, epoch),
                );
                self.control_crash(node);
                self.bulk_node_up(node, false, now);
                self.l2_crash(node, sched);
            }
            Action::Recover => {
                let n = &mut self.nodes[idx];
                if n.up {
                    return;
                }
                n.up = true;
                n.epoch = n.epoch.wrapping_add(1);
                n.cores.reset();
                if let Ok(dev) = self.topo.find(name) {
                    self.topo.set_device_links_up(dev, true);
                }
                for pod in self.pods.iter_mut().filter(|p| p.node == node) {
                    pod.restart(now);
                }
                self.log.push(
                    now,
                    "node_recover",
                    name,
                    "nic=up conntrack=empty pods=ready",
                );
                self.control_recover(node, sched);
                self.bulk_node_up(node, true, now);
                self.l2_recover(node, sched);
                self.l2_endpoints_changed(sched);
            }
        }
    }

    /// `kubectl drain`: the node's pods are evicted (not rescheduled here); the speaker stays.
    fn drain(&mut self, node: u16, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let mut evicted = 0;
        for pod in self.pods.iter_mut().filter(|p| p.node == node && p.ready) {
            pod.ready = false;
            evicted += 1;
        }
        let name = self.nodes[usize::from(node)].name.clone();
        self.log
            .push(now, "node_drain", name, format!("pods_evicted={evicted}"));
        self.l2_endpoints_changed(sched);
        self.control_endpoints_changed(sched);
    }

    fn endpoint_removal(&mut self, node: u16, epoch: u32, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let n = &self.nodes[usize::from(node)];
        if n.up || n.epoch != epoch {
            return;
        }
        let mut removed = 0;
        for pod in self.pods.iter_mut().filter(|p| p.node == node && p.ready) {
            pod.ready = false;
            removed += 1;
        }
        self.log.push(
            now,
            "endpoints_removed",
            n.name.clone(),
            format!("pods={removed}"),
        );
        self.l2_endpoints_changed(sched);
    }

    /// Apply a route change through the router's one interface, then re-evaluate every
    /// established connection's path.
    fn route_change(
        &mut self,
        s: usize,
        change: RouteChange,
        cause: String,
        sched: &mut Scheduler<Ev>,
    ) {
        let now = sched.now();
        let svc = &mut self.svcs[s];
        let before = svc.route.members().len();
        let (kind, subject) = match change {
            RouteChange::Announce(nh) => ("route_announce", self.nodes[nh as usize].name.clone()),
            RouteChange::Withdraw(nh) => ("route_withdraw", self.nodes[nh as usize].name.clone()),
        };
        let vip = svc.vip;
        self.log
            .push(now, kind, subject, format!("prefix={vip}/32"));
        if !self.svcs[s].route.apply(now, change) {
            self.log.push(
                now,
                "ecmp_unchanged",
                vip.to_string(),
                format!("size={before}"),
            );
            return;
        }
        self.record_change(s, cause, before, sched);
    }

    /// Service `s`'s ECMP group changed: re-evaluate its established connections.
    fn record_change(&mut self, s: usize, cause: String, before: usize, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let after = self.svcs[s].route.members().len();
        let members = self.member_names(s);
        self.log.push(
            now,
            "ecmp_group",
            self.svcs[s].vip.to_string(),
            format!("size={after} members={members}"),
        );
        let route = &self.svcs[s].route;
        let service = s as u32;
        let updates: Vec<(Key, Option<u16>)> = self
            .conns
            .keys()
            .filter_map(|k| {
                self.conns
                    .get(k)
                    .filter(|c| c.service == service)
                    .map(|c| (k, route.peek(c.hash).map(|n| n as u16)))
            })
            .collect();
        let cause = self.cause_for(s, cause);
        self.apply_path_change(s, (cause, None), (before, after), updates, now);
        self.arm_ecmp_timer(sched);
    }

    /// L2 mode: a resolver's ARP entry for service `s`'s IP now points at `node`: the
    /// connections it carries to that service move there.
    fn record_path_change(
        &mut self,
        s: usize,
        arp: ArpMove,
        node: Option<u16>,
        sched: &mut Scheduler<Ev>,
    ) {
        let now = sched.now();
        let service = s as u32;
        let updates: Vec<(Key, Option<u16>)> = self
            .conns
            .keys()
            .filter_map(|k| {
                let c = self.conns.get(k).filter(|c| c.service == service)?;
                self.l2_path_for(c.client, Some(arp.resolver), node)
                    .map(|n| (k, n))
            })
            .collect();
        let cause = self.cause_for(s, arp.cause());
        let sizes = (1, usize::from(node.is_some()));
        self.apply_path_change(s, (cause, Some(arp)), sizes, updates, now);
    }

    /// Re-evaluate established connections against their new paths (moved, returned home, or
    /// unaffected) and record the change.
    fn apply_path_change(
        &mut self,
        s: usize,
        (cause, arp): (String, Option<ArpMove>),
        (before, after): (usize, usize),
        updates: Vec<(Key, Option<u16>)>,
        now: SimTime,
    ) {
        let id = self.changes.len() as u32;
        let mut live = 0;
        let mut moved = 0;
        for (key, new) in updates {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            let Some((home, _)) = conn.conntrack else {
                continue;
            };
            if conn.broken {
                continue;
            }
            live += 1;
            let old = conn.path_node;
            let fate = if old == new {
                "unaffected"
            } else if new == Some(home) {
                // Sent home before it sent anything elsewhere: no harm done.
                for r in std::mem::take(&mut conn.pending_rows) {
                    self.conn_rows[r as usize].fate = "returned";
                }
                conn.moved_by = None;
                "returned"
            } else {
                if conn.moved_by.is_none() {
                    conn.moved_by = Some(id);
                }
                conn.pending_rows.push(self.conn_rows.len() as u32);
                "open-at-end"
            };
            if old != new {
                moved += 1;
            }
            conn.path_node = new;
            self.conn_rows.push(ConnRow {
                conn: key.slot(),
                client: conn.client,
                flow: conn.flow,
                opened_at: conn.opened_at,
                change: id,
                node_before: old,
                node_after: new,
                fate,
            });
        }
        self.log.push(
            now,
            "connections_rehashed",
            self.svcs[s].vip.to_string(),
            format!("change={id} live={live} moved={moved}"),
        );
        self.changes.push(ChangeRecord {
            id,
            service: s as u32,
            time: now,
            cause,
            arp,
            group_before: before,
            group_after: after,
            live,
            moved,
            broken_reset: 0,
            broken_timeout: 0,
        });
    }

    fn ecmp_timer(&mut self, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let mut migrated = false;
        for s in 0..self.svcs.len() {
            let route = &mut self.svcs[s].route;
            let due = route.next_timeout().is_some_and(|t| t <= now);
            if due && route.on_timeout(now) {
                let size = route.members().len();
                self.record_change(s, "resilient buckets migrated".into(), size, sched);
                migrated = true;
            }
        }
        if !migrated {
            self.arm_ecmp_timer(sched);
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
        Ok(RunResult {
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
            conn_rows: self.conn_rows,
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
                let c = &self.clients[r.client as usize];
                if !c.is_probe() {
                    in_flight[c.service as usize] += 1;
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
            Ev::L2Frame(k) => self.l2_frame(k, sched),
            Ev::L2Note(k) => self.l2_note(k, sched),
            Ev::L2Wake(m, i, generation) => self.l2_wake(m, i, generation, sched),
            Ev::BulkStart(c) => self.bulk_begin(c, sched),
            Ev::BulkStop(c) => self.bulk_end(c, sched),
            Ev::Retransmit(k) => self.retransmit(k, sched),
            Ev::SpeakerResume(node) => self.control_resume(node, sched),
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

//! Load generators: open loop (vegeta, fortio) and closed loop (wrk), with a new connection per
//! request or a keep-alive pool.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use rand::Rng;
use rand_distr::{Distribution, Exp1};
use sim_core::{LinkId, SimDuration, SimTime, Stream};

use super::slab::Key;
use crate::scenario::{ClientSpec, Connections, Load, LoadStep, Pacing};

/// Linux's default ephemeral port range (`net.ipv4.ip_local_port_range` 32768 60999).
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

/// How a client keeps its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    /// A new connection for every request.
    PerRequest,
    /// This many keep-alive connections, all opened first (fortio -c, wrk -c), then reused
    /// least recently used first; requests wait when all are busy.
    Fixed(u32),
    /// Reuse an idle connection, else open another (vegeta adds workers while all are busy).
    Elastic,
}

/// No closed-loop user: the request came from an open-loop arrival.
pub const NO_USER: u32 = u32::MAX;

/// One client instance with its own address.
#[derive(Debug)]
pub struct Client {
    /// Instance name, e.g. `ext-3`.
    pub name: String,
    /// Its address (the flow's source).
    pub ip: Ipv4Addr,
    /// How it issues requests.
    pub load: Load,
    /// Connection reuse.
    pub pool: Pool,
    /// The client group (scenario `clients` entry) it belongs to.
    pub group: u32,
    /// When it stops issuing requests.
    pub stop: SimTime,
    /// Requests issued so far (the next one's sequence number).
    pub next_seq: u64,
    /// Fortio: each connection's next send slot.
    pub slots: Vec<SimTime>,
    /// Fortio: the gap between one connection's slots (connections / qps).
    pub slot_gap: SimDuration,
    /// Ping with a tool output: every probe, for the ping log.
    pub ping_log: Option<Vec<crate::tools::PingProbe>>,
    /// In a pod on this node: kube-proxy there intercepts the VIP (set by the lab).
    pub in_cluster: Option<u16>,
    /// The service it sends to (an index into the lab's services).
    pub service: u32,
    /// Per-request timeout.
    pub timeout: SimDuration,
    /// Request size.
    pub request_bytes: u32,
    /// Response size.
    pub response_bytes: u32,
    /// When it starts: the group's start, plus, for the second and later fortio instances of a
    /// group, a random phase within one connection's slot gap. Instances launched by a shell
    /// loop are separate processes that do not start in the same nanosecond; fortio without
    /// `-uniform` starts all connections of one process at once (periodic.go), so without this
    /// every instance's connections would fire in one synchronised burst.
    pub start: SimDuration,
    /// Client -> router.
    pub uplink: LinkId,
    /// Router -> client.
    pub downlink: LinkId,
    /// Its random stream (arrivals, ports).
    pub rng: Stream,
    next_port: u16,
    /// Idle keep-alive connections, least recently used first.
    pub idle: VecDeque<Key>,
    /// Keep-alive connections open (idle or busy).
    pub open_conns: u32,
    /// Open-loop requests waiting for a free connection: (intended start).
    pub backlog: VecDeque<(SimTime, u8)>,
    /// Its retry policy, and the budget and jitter stream that go with it.
    pub retry: Option<Box<(crate::scenario::RetrySpec, super::retry::RetryBudget)>>,
    /// Retries waiting for their backoff: (due, the original's due time, attempt).
    pub retry_queue: Vec<(SimTime, SimTime, u8)>,
    /// Retries it sent or queued.
    pub retries: u64,
    /// Whether its user is online (`clients[i].profile`); always, without a profile.
    pub online: bool,
    /// Whether its chain of open-loop arrivals is running (it stops while offline).
    pub arriving: bool,
    /// When its profile takes it offline (false) or online again (true).
    pub online_flips: Vec<(SimDuration, bool)>,
    /// Outstanding requests by deadline (deadlines only grow: sends are in time order).
    pub deadlines: VecDeque<(SimTime, Key)>,
    /// When the pending timeout check fires (the earliest one scheduled), if one is.
    pub timeout_at: Option<SimTime>,
    /// Probe bookkeeping (every client keeps it; it matters for `Ping`).
    pub probes: ProbeStats,
}

/// Success gaps as `ping` shows them: the longest stretch between two answered probes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeStats {
    /// Requests answered.
    pub ok: u64,
    /// Requests failed (for ping: lost probes).
    pub lost: u64,
    /// When the last answered request was sent.
    pub last_ok_sent: Option<SimTime>,
    /// Longest gap between the send times of two consecutive answered requests, and where it
    /// started.
    pub longest_gap: Option<(SimDuration, SimTime)>,
    /// Failures since the last answer.
    pub lost_since_ok: u64,
    /// The longest gap was still open when the run ended (no answer came back).
    pub open_at_end: bool,
}

impl ProbeStats {
    /// Record an answer to a request sent at `sent`.
    pub fn answered(&mut self, sent: SimTime) {
        self.ok += 1;
        self.lost_since_ok = 0;
        if let Some(prev) = self.last_ok_sent {
            let gap = sent - prev;
            if self.longest_gap.is_none_or(|(g, _)| gap > g) {
                self.longest_gap = Some((gap, prev));
            }
        }
        self.last_ok_sent = Some(self.last_ok_sent.map_or(sent, |p| p.max(sent)));
    }

    /// Record a failure.
    pub fn lost(&mut self) {
        self.lost += 1;
        self.lost_since_ok += 1;
    }

    /// At the end of the run: an outage that never ended is a gap up to `end` at least.
    pub fn close(&mut self, end: SimTime) {
        let Some(last) = self.last_ok_sent else {
            return;
        };
        if self.lost_since_ok == 0 {
            return;
        }
        let gap = end - last;
        if self.longest_gap.is_none_or(|(g, _)| gap > g) {
            self.longest_gap = Some((gap, last));
            self.open_at_end = true;
        }
    }
}

/// When instance `k` of `n` goes offline or online again under `profile`: online while
/// `k < round(share x n)`, so the first instances are the last to leave; online before the
/// first step.
pub fn online_flips(profile: &[LoadStep], k: u32, n: u32) -> Vec<(SimDuration, bool)> {
    let mut online = true;
    let mut flips = Vec::new();
    for step in profile {
        let now = f64::from(k) < (step.share * f64::from(n)).round();
        if now != online {
            flips.push((step.at, now));
            online = now;
        }
    }
    flips
}

impl Client {
    /// Instance `index` (0-based) of `spec`, with address `ip` and its links.
    pub fn new(
        spec: &ClientSpec,
        (index, group): (u32, u32),
        ip: Ipv4Addr,
        links: (LinkId, LinkId),
        mut rng: Stream,
        end: SimTime,
    ) -> Self {
        let next_port = rng.random_range(EPHEMERAL);
        let slot_gap = match spec.load {
            Load::Fortio { qps, connections } => {
                SimDuration::from_secs_f64(f64::from(connections) / qps)
            }
            _ => SimDuration::ZERO,
        };
        let phase = if index > 0 && slot_gap > SimDuration::ZERO {
            SimDuration(rng.random_range(0..slot_gap.as_nanos()))
        } else {
            SimDuration::ZERO
        };
        Client {
            name: format!("{}-{}", spec.name, index + 1),
            ip,
            load: spec.load,
            pool: match (spec.load, spec.connections) {
                (Load::Fortio { connections, .. } | Load::Wrk { connections, .. }, _) => {
                    Pool::Fixed(connections)
                }
                (Load::Vegeta { .. }, _) => Pool::Elastic,
                (_, Connections::PerRequest) => Pool::PerRequest,
                (_, Connections::KeepAlive { pool }) => Pool::Fixed(pool),
            },
            group,
            stop: spec.stop.map_or(end, |d| SimTime(d.as_nanos()).min(end)),
            next_seq: 0,
            slots: Vec::new(),
            slot_gap,
            in_cluster: None,
            service: 0,
            ping_log: (matches!(spec.load, Load::Ping { .. }) && spec.output.is_some())
                .then(Vec::new),
            timeout: spec.timeout,
            request_bytes: spec.request_bytes,
            response_bytes: spec.response_bytes,
            start: spec.start + phase,
            uplink: links.0,
            downlink: links.1,
            rng,
            next_port,
            idle: VecDeque::new(),
            open_conns: 0,
            backlog: VecDeque::new(),
            retry: None,
            retry_queue: Vec::new(),
            online: true,
            arriving: false,
            online_flips: online_flips(&spec.profile, index, spec.count),
            retries: 0,
            deadlines: VecDeque::new(),
            timeout_at: None,
            probes: ProbeStats::default(),
        }
    }

    /// Closed-loop users: each sends, waits for its answer, sends again.
    pub fn users(&self) -> u32 {
        match self.load {
            Load::ClosedLoop { users, .. } => users,
            Load::Wrk { connections, .. } | Load::Fortio { connections, .. } => connections,
            _ => 0,
        }
    }

    /// Whether it sends ping probes (ICMP echo), which are counted apart from requests.
    pub fn is_probe(&self) -> bool {
        matches!(self.load, Load::Ping { .. })
    }

    /// Whether arrivals drive it (open loop, vegeta, ping).
    pub fn open_loop(&self) -> bool {
        matches!(
            self.load,
            Load::OpenLoop { .. } | Load::Vegeta { .. } | Load::Ping { .. }
        )
    }

    /// A source port for a new connection: sequential through the ephemeral range from a
    /// random start, as a connect() without bind walks it.
    pub fn take_port(&mut self) -> u16 {
        let p = self.next_port;
        self.next_port = if p >= *EPHEMERAL.end() {
            *EPHEMERAL.start()
        } else {
            p + 1
        };
        p
    }

    /// The gap to the next open-loop arrival or probe.
    pub fn next_gap(&mut self) -> SimDuration {
        let (rate, pacing) = match self.load {
            Load::OpenLoop { rate, pacing } => (rate, pacing),
            // vegeta's constant pacer.
            Load::Vegeta { rate, .. } => (rate, Pacing::Constant),
            Load::Ping { interval } => return interval,
            Load::ClosedLoop { .. }
            | Load::Fortio { .. }
            | Load::Wrk { .. }
            | Load::Iperf3 { .. } => return SimDuration::ZERO,
        };
        let mean = 1.0 / rate;
        let gap = match pacing {
            Pacing::Constant => mean,
            Pacing::Poisson => {
                let x: f64 = Exp1.sample(&mut self.rng);
                mean * x
            }
        };
        // At least 1 ns so time always advances.
        SimDuration(SimDuration::from_secs_f64(gap).as_nanos().max(1))
    }
}

//! Load generators: open loop (vegeta, fortio) and closed loop (wrk), with a new connection per
//! request or a keep-alive pool.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use rand::Rng;
use rand_distr::{Distribution, Exp1};
use sim_core::{LinkId, SimDuration, SimTime, Stream};

use super::slab::Key;
use crate::scenario::{ClientSpec, Connections, Load, Pacing};

/// Linux's default ephemeral port range (`net.ipv4.ip_local_port_range` 32768 60999).
const EPHEMERAL: std::ops::RangeInclusive<u16> = 32768..=60999;

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
    pub connections: Connections,
    /// Per-request timeout.
    pub timeout: SimDuration,
    /// Request size.
    pub request_bytes: u32,
    /// Response size.
    pub response_bytes: u32,
    /// When it starts.
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
    pub backlog: VecDeque<SimTime>,
    /// Outstanding requests by deadline (deadlines only grow: sends are in time order).
    pub deadlines: VecDeque<(SimTime, Key)>,
    /// Whether a timeout check is scheduled.
    pub timeout_armed: bool,
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

impl Client {
    /// Instance `index` (0-based) of `spec`, with address `ip` and its links.
    pub fn new(
        spec: &ClientSpec,
        index: u32,
        ip: Ipv4Addr,
        links: (LinkId, LinkId),
        mut rng: Stream,
    ) -> Self {
        let next_port = rng.random_range(EPHEMERAL);
        Client {
            name: format!("{}-{}", spec.name, index + 1),
            ip,
            load: spec.load,
            connections: spec.connections,
            timeout: spec.timeout,
            request_bytes: spec.request_bytes,
            response_bytes: spec.response_bytes,
            start: spec.start,
            uplink: links.0,
            downlink: links.1,
            rng,
            next_port,
            idle: VecDeque::new(),
            open_conns: 0,
            backlog: VecDeque::new(),
            deadlines: VecDeque::new(),
            timeout_armed: false,
            probes: ProbeStats::default(),
        }
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
            Load::Ping { interval } => return interval,
            Load::ClosedLoop { .. } => return SimDuration::ZERO,
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

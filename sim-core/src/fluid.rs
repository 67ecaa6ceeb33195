//! Bulk transfers as fluid flows sharing capacity max-min fairly (the SimGrid approach).
//!
//! An iperf3 stream is not simulated packet by packet: it is a *flow* with a constant rate
//! between changes. Rates are recomputed only when something changes (a flow starts, stops,
//! moves to another path, a per-flow cap or a resource capacity changes), so a 60 s,
//! 10-stream test costs a handful of recomputations.
//!
//! ```text
//!  resources: capacity (bit/s), one-way delay, buffer (bytes)     e.g. a NIC, a link, a node's
//!  flows:     path = [resource, ...], optional cap (bit/s)         forwarding capacity
//!
//!  change ──▶ progressive filling ──▶ rate per flow (whole bit/s) ──▶ rate history per flow
//!                                                                    └▶ bytes over any interval,
//!                                                                       exactly (integer bit·ns)
//! ```
//!
//! # Sharing: max-min fairness by progressive filling
//! Every flow's rate rises together until a resource is full; the flows crossing it are frozen
//! at its fair share, the share is subtracted from the other resources they cross, and filling
//! goes on with the rest (Bertsekas & Gallager, *Data Networks*, 2nd ed., §6.5.2). A per-flow
//! cap behaves like a private resource that only its flow crosses. This is SimGrid's flow-level
//! model (`lmm` max-min solver, `network_cm02.cpp`) without its calibration factors: SimGrid's
//! LV08 model also bounds each TCP flow by `tcp_gamma / (2 x latency)`, a window over a round
//! trip; [`window_limit_bps`] gives that bound for use as a flow's cap.
//!
//! # Exactness and determinism
//! Everything is integer. Capacities and rates are whole bits per second; the solver compares
//! fair shares as exact fractions (`remaining / flows`, cross-multiplied in `u128`) and gives
//! each frozen flow the share rounded *down*. Consequences, for every recomputation:
//! - no resource carries more than its capacity, exactly;
//! - a resource that limits a flow (its *bottleneck*) is left with less than one bit/s of spare
//!   capacity per flow crossing it, and the flow's rate is the largest on it (the max-min
//!   property, up to that rounding: relative error `flows / capacity`, 1e-9 for 10 flows on
//!   10 Gbit/s);
//! - ties are broken by the lowest resource index, then the lowest flow id.
//!
//! Bytes are integrated exactly: each flow keeps its rate history (one entry per change), and
//! the data sent up to time `t` is the integer `sum(rate_bps x ns)`, divided by `8e9` once, at
//! the end, rounding down. [`FluidNetwork::interval_bytes`] is a difference of two such values,
//! so consecutive intervals add up to the total to the byte.
//!
//! # Round-trip time
//! [`FluidNetwork::rtt`] is propagation plus standing queues. Propagation is twice the sum of
//! the one-way delays on the path (the reverse path, carrying ACKs, is assumed symmetric and
//! uncongested). Queueing follows the buffer-sizing argument: a loss-based TCP (Reno, CUBIC)
//! keeps increasing its window until the bottleneck's buffer overflows, so a saturated
//! drop-tail resource with greedy flows holds a queue near its buffer size B, adding B / capacity
//! to every flow crossing it (Appenzeller, Keslassy & McKeown, "Sizing Router Buffers",
//! SIGCOMM 2004; Gettys & Nichols, "Bufferbloat: Dark Buffers in the Internet", ACM Queue 2011).
//! An unsaturated resource adds nothing. With a single flow the queue oscillates between empty
//! and full (a Reno sawtooth), so its average is nearer B/2: the model gives the upper,
//! many-flow figure. A resource filled exactly by capped flows is not a bottleneck and adds
//! nothing (a capped flow is not greedy).
//!
//! # Retransmissions
//! A fluid model loses no packets: [`FluidNetwork::retransmits`] is always 0. Real iperf3 runs
//! show retransmissions when the bottleneck is a remote drop-tail queue and few or none when it
//! is the sender's own NIC (the kernel throttles the socket instead of dropping); a loss-rate
//! estimate (e.g. Mathis et al. 1997, `p = 1.5 (MSS / (RTT x rate))^2`) is left to the caller.
//!
//! # Example
//! ```
//! use sim_core::fluid::FluidNetwork;
//! use sim_core::{SimDuration, SimTime};
//!
//! let mut net = FluidNetwork::new();
//! let nic = net.add_resource("client-nic", 10_000_000_000, SimDuration::from_micros(20), 1 << 20);
//! let t0 = SimTime::ZERO;
//! let t60 = SimTime(SimDuration::from_secs(60).as_nanos());
//! // iperf3 -P 10 -t 60: ten streams start together (one recomputation) ...
//! let path = [nic];
//! let flows = net.start_flows(t0, (0..10).map(|_| (&path[..], None)));
//! assert_eq!(net.rate_bps(flows[0]), 1_000_000_000);
//! // ... and stop together (a second one).
//! net.stop_flows(t60, &flows);
//! assert_eq!(net.recomputations(), 2);
//! assert_eq!(net.bytes_sent(flows[3], t60), 7_500_000_000);
//! let second_10 = SimTime(SimDuration::from_secs(10).as_nanos());
//! let second_11 = SimTime(SimDuration::from_secs(11).as_nanos());
//! assert_eq!(net.interval_bytes(flows[3], second_10, second_11), 125_000_000);
//! ```

use crate::time::{SimDuration, SimTime};

/// Nanoseconds per second, for converting `bit/s x ns` to bits.
const NS_PER_S: u128 = 1_000_000_000;

/// A resource of a [`FluidNetwork`]: a link direction, a NIC, a node's forwarding capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId(u32);

impl ResourceId {
    /// The resource's position, in order of creation from 0.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A flow of a [`FluidNetwork`]: one iperf3 stream, one bulk transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowId(u32);

impl FlowId {
    /// The flow's position, in order of creation from 0.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A flow's rate from `at` until the next change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateChange {
    /// When the rate took effect.
    pub at: SimTime,
    /// The rate, bits per second.
    pub rate_bps: u64,
}

/// One entry of a flow's rate history, with the data sent before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Breakpoint {
    at: SimTime,
    rate_bps: u64,
    /// `sum(rate_bps x ns)` over everything before `at`: bits x 1e9.
    bit_ns_before: u128,
}

#[derive(Debug, Clone)]
struct Resource {
    name: String,
    capacity_bps: u64,
    delay: SimDuration,
    buffer_bytes: u64,
    /// Sum of the rates of the flows crossing it, as of the last recomputation.
    load_bps: u64,
    /// Whether it froze at least one flow in the last recomputation.
    bottleneck: bool,
}

#[derive(Debug, Clone)]
struct Flow {
    /// Resources crossed, first occurrence order, no repeats.
    path: Vec<ResourceId>,
    cap_bps: Option<u64>,
    active: bool,
    rate_bps: u64,
    /// The resource that froze it, `None` if its cap did (or it is stopped).
    bottleneck: Option<ResourceId>,
    history: Vec<Breakpoint>,
}

impl Flow {
    /// Sets the rate from `now` on, recording a breakpoint if it changes.
    fn set_rate(&mut self, now: SimTime, rate_bps: u64) {
        if rate_bps == self.rate_bps {
            return;
        }
        self.rate_bps = rate_bps;
        match self.history.last_mut() {
            Some(last) if last.at == now => last.rate_bps = rate_bps,
            last => {
                let bit_ns_before = last.map_or(0, |b| bit_ns_after(b, now));
                self.history.push(Breakpoint {
                    at: now,
                    rate_bps,
                    bit_ns_before,
                });
            }
        }
    }

    /// `sum(rate x ns)` from the flow's start to `at`.
    fn bit_ns_at(&self, at: SimTime) -> u128 {
        let i = self.history.partition_point(|b| b.at <= at);
        match i {
            0 => 0,
            _ => bit_ns_after(&self.history[i - 1], at),
        }
    }
}

/// Data sent up to `at`, for `at` not before `b.at` and no change in between.
fn bit_ns_after(b: &Breakpoint, at: SimTime) -> u128 {
    let dt = u128::from(at.saturating_since(b.at).as_nanos());
    b.bit_ns_before.saturating_add(u128::from(b.rate_bps) * dt)
}

fn bytes_of(bit_ns: u128) -> u64 {
    u64::try_from(bit_ns / (8 * NS_PER_S)).unwrap_or(u64::MAX)
}

/// Working memory of the solver, kept between recomputations to avoid reallocating.
#[derive(Debug, Clone, Default)]
struct Scratch {
    /// Capacity not yet given to frozen flows, per resource.
    remaining: Vec<u64>,
    /// Unfrozen flows crossing it, per resource.
    unfrozen: Vec<u32>,
    /// Flows (positions in `active`) crossing each resource: `members[start[r]..start[r + 1]]`.
    start: Vec<usize>,
    members: Vec<u32>,
    /// Next free slot of each resource's row while filling `members`.
    fill: Vec<usize>,
    frozen: Vec<bool>,
    rate: Vec<u64>,
    bottleneck: Vec<Option<ResourceId>>,
    /// Capped flows by (cap, position), smallest first.
    capped: Vec<(u64, u32)>,
}

/// Resources with capacities and flows with paths; rates by max-min fair sharing.
///
/// All changes take the current simulated time and must come in time order; queries about
/// data sent take any time and answer from the rate history as it stands (extrapolating the
/// current rates past the latest change).
#[derive(Debug, Clone, Default)]
pub struct FluidNetwork {
    resources: Vec<Resource>,
    flows: Vec<Flow>,
    /// Flows currently sending, ascending ids.
    active: Vec<FlowId>,
    /// Time of the latest change.
    now: SimTime,
    recomputations: u64,
    scratch: Scratch,
}

impl FluidNetwork {
    /// An empty network at time zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a resource: `capacity_bps` bits per second (0 carries nothing: a link that is
    /// down), a one-way propagation `delay`, and a buffer of `buffer_bytes` that fills when the
    /// resource is a bottleneck (see the module's notes on round-trip time).
    pub fn add_resource(
        &mut self,
        name: &str,
        capacity_bps: u64,
        delay: SimDuration,
        buffer_bytes: u64,
    ) -> ResourceId {
        let id =
            ResourceId(u32::try_from(self.resources.len()).expect("fewer than 2^32 resources"));
        self.resources.push(Resource {
            name: name.to_string(),
            capacity_bps,
            delay,
            buffer_bytes,
            load_bps: 0,
            bottleneck: false,
        });
        id
    }

    /// Changes a resource's capacity at `now` (a link going down is 0) and recomputes.
    ///
    /// # Panics
    /// If `r` is unknown or `now` is before the latest change.
    pub fn set_capacity(&mut self, now: SimTime, r: ResourceId, capacity_bps: u64) {
        self.enter(now);
        self.resources[r.index()].capacity_bps = capacity_bps;
        self.recompute();
    }

    /// Starts a flow at `now` over `path` (resources in order; a repeated resource counts
    /// once), at most `cap_bps` if given, and recomputes.
    ///
    /// # Panics
    /// If a resource is unknown, if the path is empty and there is no cap (the rate would be
    /// unbounded), or if `now` is before the latest change.
    pub fn start_flow(
        &mut self,
        now: SimTime,
        path: &[ResourceId],
        cap_bps: Option<u64>,
    ) -> FlowId {
        let ids = self.start_flows(now, [(path, cap_bps)]);
        ids[0]
    }

    /// Starts several flows at `now`, `(path, cap_bps)` each, with a single recomputation
    /// (iperf3 `-P`). Ids are given in order.
    ///
    /// # Panics
    /// As [`FluidNetwork::start_flow`].
    pub fn start_flows<'a>(
        &mut self,
        now: SimTime,
        flows: impl IntoIterator<Item = (&'a [ResourceId], Option<u64>)>,
    ) -> Vec<FlowId> {
        self.enter(now);
        let mut ids = Vec::new();
        for (path, cap_bps) in flows {
            let path = self.checked_path(path, cap_bps);
            let id = FlowId(u32::try_from(self.flows.len()).expect("fewer than 2^32 flows"));
            self.flows.push(Flow {
                path,
                cap_bps,
                active: true,
                rate_bps: 0,
                bottleneck: None,
                history: Vec::new(),
            });
            self.active.push(id); // ids grow, so `active` stays sorted
            ids.push(id);
        }
        if !ids.is_empty() {
            self.recompute();
        }
        ids
    }

    /// Stops a flow at `now` and recomputes; stopping a stopped flow does nothing.
    ///
    /// # Panics
    /// If `f` is unknown or `now` is before the latest change.
    pub fn stop_flow(&mut self, now: SimTime, f: FlowId) {
        self.stop_flows(now, &[f]);
    }

    /// Stops several flows at `now` with a single recomputation.
    ///
    /// # Panics
    /// As [`FluidNetwork::stop_flow`].
    pub fn stop_flows(&mut self, now: SimTime, flows: &[FlowId]) {
        self.enter(now);
        let mut changed = false;
        for &f in flows {
            let flow = &mut self.flows[f.index()];
            if !flow.active {
                continue;
            }
            flow.active = false;
            flow.bottleneck = None;
            flow.set_rate(now, 0);
            if let Ok(pos) = self.active.binary_search(&f) {
                self.active.remove(pos);
            }
            changed = true;
        }
        if changed {
            self.recompute();
        }
    }

    /// Moves a flow to another path at `now` (an ECMP rehash, a failover) and recomputes. A
    /// stopped flow only records the new path.
    ///
    /// # Panics
    /// As [`FluidNetwork::start_flow`], and if `f` is unknown.
    pub fn set_path(&mut self, now: SimTime, f: FlowId, path: &[ResourceId]) {
        self.enter(now);
        let cap = self.flows[f.index()].cap_bps;
        let path = self.checked_path(path, cap);
        let flow = &mut self.flows[f.index()];
        flow.path = path;
        if flow.active {
            self.recompute();
        }
    }

    /// Changes a flow's cap at `now` (e.g. a new window / RTT limit) and recomputes. A stopped
    /// flow only records the new cap.
    ///
    /// # Panics
    /// If `f` is unknown, if the flow's path is empty and `cap_bps` is `None`, or if `now` is
    /// before the latest change.
    pub fn set_flow_cap(&mut self, now: SimTime, f: FlowId, cap_bps: Option<u64>) {
        self.enter(now);
        let flow = &mut self.flows[f.index()];
        assert!(
            cap_bps.is_some() || !flow.path.is_empty(),
            "a flow with an empty path needs a cap"
        );
        flow.cap_bps = cap_bps;
        if flow.active {
            self.recompute();
        }
    }

    /// The flow's current rate in bits per second (0 once stopped).
    pub fn rate_bps(&self, f: FlowId) -> u64 {
        self.flows[f.index()].rate_bps
    }

    /// The flow's rate history: one entry per change, in time order. Before the first entry
    /// the flow sent nothing.
    pub fn rate_history(&self, f: FlowId) -> impl Iterator<Item = RateChange> + '_ {
        self.flows[f.index()].history.iter().map(|b| RateChange {
            at: b.at,
            rate_bps: b.rate_bps,
        })
    }

    /// Bytes the flow has sent from its start up to `at` (rounded down), exact for the rates
    /// as they stand.
    pub fn bytes_sent(&self, f: FlowId, at: SimTime) -> u64 {
        bytes_of(self.flows[f.index()].bit_ns_at(at))
    }

    /// Bytes the flow sent in `[start, end)`: `bytes_sent(end) - bytes_sent(start)`, so that
    /// consecutive intervals (iperf3's 1 s reports) add up to the total exactly. Zero if `end`
    /// is not after `start`.
    pub fn interval_bytes(&self, f: FlowId, start: SimTime, end: SimTime) -> u64 {
        self.bytes_sent(f, end)
            .saturating_sub(self.bytes_sent(f, start))
    }

    /// Bits the flow has sent up to `at`, exactly, as a fraction: `bits x 1e9`.
    pub fn bit_ns_sent(&self, f: FlowId, at: SimTime) -> u128 {
        self.flows[f.index()].bit_ns_at(at)
    }

    /// The flow's estimated round-trip time: [`propagation_rtt`](Self::propagation_rtt) plus
    /// the [`queue_delay`](Self::queue_delay) of each resource on its path (see the module's
    /// notes for the model and its sources).
    pub fn rtt(&self, f: FlowId) -> SimDuration {
        let queueing = self.flows[f.index()]
            .path
            .iter()
            .fold(SimDuration::ZERO, |acc, &r| acc + self.queue_delay(r));
        self.propagation_rtt(f) + queueing
    }

    /// Twice the sum of the one-way delays on the flow's path.
    pub fn propagation_rtt(&self, f: FlowId) -> SimDuration {
        let one_way = self.flows[f.index()]
            .path
            .iter()
            .fold(SimDuration::ZERO, |acc, &r| {
                acc + self.resources[r.index()].delay
            });
        one_way + one_way
    }

    /// The standing queue at a resource: `buffer x 8 / capacity` if it is a bottleneck (it
    /// limits at least one flow), else zero. Zero for a resource of zero capacity (nothing
    /// crosses it).
    pub fn queue_delay(&self, r: ResourceId) -> SimDuration {
        let res = &self.resources[r.index()];
        if !res.bottleneck || res.capacity_bps == 0 {
            return SimDuration::ZERO;
        }
        let ns = u128::from(res.buffer_bytes) * 8 * NS_PER_S / u128::from(res.capacity_bps);
        SimDuration(u64::try_from(ns).unwrap_or(u64::MAX))
    }

    /// Retransmitted segments: always 0, a fluid model loses nothing (see the module's notes).
    pub fn retransmits(&self, f: FlowId) -> u64 {
        let _ = &self.flows[f.index()];
        0
    }

    /// The resource that limits the flow, or `None` if its cap does or it is stopped.
    pub fn bottleneck(&self, f: FlowId) -> Option<ResourceId> {
        self.flows[f.index()].bottleneck
    }

    /// Whether the flow is sending.
    pub fn is_active(&self, f: FlowId) -> bool {
        self.flows[f.index()].active
    }

    /// The flow's path (a repeated resource appears once).
    pub fn path(&self, f: FlowId) -> &[ResourceId] {
        &self.flows[f.index()].path
    }

    /// The flow's cap, bits per second.
    pub fn flow_cap_bps(&self, f: FlowId) -> Option<u64> {
        self.flows[f.index()].cap_bps
    }

    /// Flows currently sending, ascending ids.
    pub fn active_flows(&self) -> &[FlowId] {
        &self.active
    }

    /// Flows ever started (the next flow's index).
    pub fn flow_count(&self) -> usize {
        self.flows.len()
    }

    /// Resources added (the next resource's index).
    pub fn resource_count(&self) -> usize {
        self.resources.len()
    }

    /// Every resource, in order of creation.
    pub fn resource_ids(&self) -> impl Iterator<Item = ResourceId> {
        (0..self.resources.len() as u32).map(ResourceId)
    }

    /// The resource's name, as given.
    pub fn resource_name(&self, r: ResourceId) -> &str {
        &self.resources[r.index()].name
    }

    /// The resource's capacity, bits per second.
    pub fn capacity_bps(&self, r: ResourceId) -> u64 {
        self.resources[r.index()].capacity_bps
    }

    /// The sum of the rates of the flows crossing the resource, bits per second.
    pub fn load_bps(&self, r: ResourceId) -> u64 {
        self.resources[r.index()].load_bps
    }

    /// Load over capacity, for output (0 for a resource of zero capacity).
    pub fn utilisation(&self, r: ResourceId) -> f64 {
        let res = &self.resources[r.index()];
        if res.capacity_bps == 0 {
            0.0
        } else {
            res.load_bps as f64 / res.capacity_bps as f64
        }
    }

    /// Whether the resource limits at least one flow (it is full, up to rounding).
    pub fn is_bottleneck(&self, r: ResourceId) -> bool {
        self.resources[r.index()].bottleneck
    }

    /// How many times rates have been recomputed.
    pub fn recomputations(&self) -> u64 {
        self.recomputations
    }

    /// The time of the latest change.
    pub fn now(&self) -> SimTime {
        self.now
    }

    fn enter(&mut self, now: SimTime) {
        assert!(
            now >= self.now,
            "fluid network changes must come in time order: {now} is before {}",
            self.now
        );
        self.now = now;
    }

    fn checked_path(&self, path: &[ResourceId], cap_bps: Option<u64>) -> Vec<ResourceId> {
        assert!(
            cap_bps.is_some() || !path.is_empty(),
            "a flow with an empty path needs a cap"
        );
        let mut out: Vec<ResourceId> = Vec::with_capacity(path.len());
        for &r in path {
            assert!(
                r.index() < self.resources.len(),
                "unknown resource {r:?} in a flow's path"
            );
            // Paths are short (a handful of hops): a linear scan beats a set.
            if !out.contains(&r) {
                out.push(r);
            }
        }
        out
    }

    /// Progressive filling over the active flows; records the rate changes at `self.now`.
    fn recompute(&mut self) {
        self.recomputations += 1;
        let s = &mut self.scratch;
        let nr = self.resources.len();
        let na = self.active.len();

        s.remaining.clear();
        s.remaining
            .extend(self.resources.iter().map(|r| r.capacity_bps));
        s.unfrozen.clear();
        s.unfrozen.resize(nr, 0);
        for &f in &self.active {
            for &r in &self.flows[f.index()].path {
                s.unfrozen[r.index()] += 1;
            }
        }
        // Members of each resource, compressed rows.
        s.start.clear();
        s.start.reserve(nr + 1);
        let mut acc = 0usize;
        s.start.push(0);
        for &n in &s.unfrozen {
            acc += n as usize;
            s.start.push(acc);
        }
        s.members.clear();
        s.members.resize(acc, 0);
        s.fill.clear();
        s.fill.extend_from_slice(&s.start[..nr]);
        s.capped.clear();
        for (pos, &f) in self.active.iter().enumerate() {
            let flow = &self.flows[f.index()];
            for &r in &flow.path {
                s.members[s.fill[r.index()]] = pos as u32;
                s.fill[r.index()] += 1;
            }
            if let Some(cap) = flow.cap_bps {
                s.capped.push((cap, pos as u32));
            }
        }
        s.capped.sort_unstable();
        s.frozen.clear();
        s.frozen.resize(na, false);
        s.rate.clear();
        s.rate.resize(na, 0);
        s.bottleneck.clear();
        s.bottleneck.resize(na, None);
        for res in &mut self.resources {
            res.bottleneck = false;
        }

        let mut next_cap = 0usize;
        let mut left = na;
        while left > 0 {
            // The most constrained resource: least remaining / unfrozen, lowest index on ties.
            let mut best: Option<usize> = None;
            for r in 0..nr {
                if s.unfrozen[r] == 0 {
                    continue;
                }
                let better = match best {
                    None => true,
                    Some(b) => {
                        u128::from(s.remaining[r]) * u128::from(s.unfrozen[b])
                            < u128::from(s.remaining[b]) * u128::from(s.unfrozen[r])
                    }
                };
                if better {
                    best = Some(r);
                }
            }
            while next_cap < s.capped.len() && s.frozen[s.capped[next_cap].1 as usize] {
                next_cap += 1;
            }
            let cap = s.capped.get(next_cap).copied();
            // A cap at or below the fair share binds first.
            let cap_first = match (cap, best) {
                (Some(_), None) => true,
                (Some((c, _)), Some(r)) => {
                    u128::from(c) * u128::from(s.unfrozen[r]) <= u128::from(s.remaining[r])
                }
                (None, _) => false,
            };
            if cap_first {
                let (c, pos) = cap.expect("cap_first implies a cap");
                freeze(s, &self.active, &self.flows, pos as usize, c, None);
                next_cap += 1;
                left -= 1;
            } else if let Some(r) = best {
                let share = s.remaining[r] / u64::from(s.unfrozen[r]);
                self.resources[r].bottleneck = true;
                let rid = ResourceId(r as u32);
                for i in s.start[r]..s.start[r + 1] {
                    let pos = s.members[i] as usize;
                    if !s.frozen[pos] {
                        freeze(s, &self.active, &self.flows, pos, share, Some(rid));
                        left -= 1;
                    }
                }
            } else {
                // Unreachable: every flow has a path or a cap (checked on entry).
                break;
            }
        }

        for (res, &rem) in self.resources.iter_mut().zip(&s.remaining) {
            res.load_bps = res.capacity_bps - rem;
        }
        let now = self.now;
        for (pos, &f) in self.active.iter().enumerate() {
            let flow = &mut self.flows[f.index()];
            flow.set_rate(now, s.rate[pos]);
            flow.bottleneck = s.bottleneck[pos];
        }
    }
}

/// Freezes the flow at position `pos` of `active` at `rate`, taking it from every resource it
/// crosses. The caller guarantees `rate` fits (it is at most the smallest fair share).
fn freeze(
    s: &mut Scratch,
    active: &[FlowId],
    flows: &[Flow],
    pos: usize,
    rate: u64,
    bottleneck: Option<ResourceId>,
) {
    s.frozen[pos] = true;
    s.rate[pos] = rate;
    s.bottleneck[pos] = bottleneck;
    for &r in &flows[active[pos].index()].path {
        let r = r.index();
        debug_assert!(s.remaining[r] >= rate, "progressive filling overcommitted");
        s.remaining[r] -= rate;
        s.unfrozen[r] -= 1;
    }
}

/// The rate a window of `window_bytes` allows over a round trip of `rtt`: `window x 8 / rtt`
/// bits per second (SimGrid bounds every TCP flow this way, with `tcp_gamma` as the window).
/// `u64::MAX` for a zero round trip.
pub fn window_limit_bps(window_bytes: u64, rtt: SimDuration) -> u64 {
    if rtt.as_nanos() == 0 {
        return u64::MAX;
    }
    let bps = u128::from(window_bytes) * 8 * NS_PER_S / u128::from(rtt.as_nanos());
    u64::try_from(bps).unwrap_or(u64::MAX)
}

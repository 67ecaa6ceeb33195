//! The failure detector MetalLB's speakers run among themselves: hashicorp/memberlist (SWIM
//! with Lifeguard's refinements) with `DefaultLANConfig`, as a pure machine per speaker.
//!
//! ```text
//!   every probe interval (1 s)            no ack in 500 ms           no ack by the end of
//!   ping the next member of a    ──────►  IndirectPing via 3   ────► the interval: Suspect,
//!   shuffled round-robin list             random Alive members        gossip it; Dead when the
//!                                         (they ping and relay)       suspicion timer fires
//!
//!   Suspect ──(independent confirmations shorten the timer: 4·max(1, log10 n) s … 6× that)──► Dead
//!      │ the suspect hears it: refutes with a higher incarnation Alive
//!      ▼
//!    Alive                     graceful stop: Dead about itself (from == node) ──► Left at once
//! ```
//!
//! What this follows (hashicorp/memberlist, `state.go` unless said otherwise):
//! - `probe`/`probeNode`: one probe per [`MemberConfig::probe_interval`] tick (first tick after
//!   a random stagger in `[0, interval)`, `triggerFunc`), to the next node of `nodes` that is not
//!   us and not Dead/Left; the list is reshuffled and dead nodes older than
//!   `gossip_to_the_dead_time` reaped on each wrap (`resetNodes`). A node already Suspect is
//!   pinged together with a Suspect message so it can refute early.
//! - Direct ping, then after `probe_timeout` indirect pings through `indirect_checks` random
//!   Alive members; any ack before the end of the (awareness-scaled) interval is success. The
//!   relay pings the target with its own sequence number, forwards the ack, and sends a Nack if
//!   none came within `probe_timeout` (`net.go` `handleIndirectPing`).
//! - Lifeguard's local health (`awareness.go`): success -1, a failed probe +1 per missing nack
//!   (or +1 when no nacks were expected), a refute +1, clamped to `[0, 7]`; the probe interval
//!   is scaled by `score + 1`. Go's ticker keeps one missed tick, so a probe that outlasts the
//!   interval is followed at once by the next.
//! - `suspectNode`, `suspicion.go`: k = SuspicionMult - 2 expected confirmations (0 when n - 2 <
//!   k), `min = SuspicionMult · max(1, log10 n) · interval` (`util.go` `suspicionTimeout`),
//!   `max = SuspicionMaxTimeoutMult · min`. The timer starts at **max** (min when k = 0), and the
//!   c-th distinct confirmation resets it to `max(min, max - log(c+1)/log(k+1) · (max - min))`
//!   (floored to whole milliseconds) counted from the start. n counts every node in the list,
//!   us and not-yet-reaped dead ones included (`estNumNodes`).
//! - `aliveNode`, `deadNode`, `refute`: incarnation rules as upstream; nodes start at
//!   incarnation 1 (`setAlive` takes `nextIncarnation()`); Dead with `from == node` is Left.
//! - Gossip (`gossip`, `queue.go`): every `gossip_interval`, up to `gossip_nodes` random
//!   members that are Alive, Suspect, or Dead for less than `gossip_to_the_dead_time` each get
//!   the queued state messages, fewest transmissions first; a message is dropped after
//!   `retransmit_mult · ceil(log10(n + 1))` transmissions; a newer message about a node
//!   replaces the queued one (named broadcasts).
//! - Push/pull (`pushPull`, `mergeState`): every `push_pull_interval` a full state exchange with
//!   one random Alive member; a remote Dead or Suspect becomes a local suspicion, a remote Left
//!   a Left. [`Input::Join`] is the same exchange (memberlist `Join`).
//! - metallb `internal/speakerlist/speakerlist.go` `joinMembers`: every minute the speaker
//!   re-joins the speaker pods that are not members (not Dead/Left): [`MemberConfig::rejoin_interval`]
//!   with the peers given at construction. This is what heals a partition.
//! - `Leave`: Dead about ourselves queued for gossip; MetalLB's `Stop` waits for it up to 1 s
//!   (`Leave(time.Second)`) and shuts down. Here the member stops once the message has been
//!   transmitted the full retransmit count, or after [`MemberConfig::leave_timeout`].
//!
//! Simplifications, each with no effect on a crash or a partition:
//! - Messages are not piggybacked on pings and acks, only gossiped; the UDP packet size limit
//!   is not modelled (all queued messages fit).
//! - No TCP fallback ping (`DisableTcpPings`): it only helps when UDP alone is lost.
//! - `kRandomNodes` shuffles the whole list for every n (upstream does so for n < 3k and samples
//!   at random above that); both draw uniformly without replacement.
//! - Members are named, not addressed; metadata, protocol versions, encryption are left out.

use std::collections::{BTreeMap, BTreeSet};

use sim_core::rng::splitmix64;
use sim_core::{SimDuration, SimTime};

/// memberlist's `Config` fields that shape failure detection. [`MemberConfig::lan`] gives
/// `DefaultLANConfig` (memberlist `config.go`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MemberConfig {
    /// `ProbeInterval`, 1 s.
    pub probe_interval: SimDuration,
    /// `ProbeTimeout`, 500 ms: wait for a direct ack before asking for indirect pings.
    pub probe_timeout: SimDuration,
    /// `IndirectChecks`, 3.
    pub indirect_checks: usize,
    /// `SuspicionMult`, 4.
    pub suspicion_mult: u32,
    /// `SuspicionMaxTimeoutMult`, 6.
    pub suspicion_max_timeout_mult: u32,
    /// `RetransmitMult`, 4.
    pub retransmit_mult: u32,
    /// `GossipInterval`, 200 ms.
    pub gossip_interval: SimDuration,
    /// `GossipNodes`, 3.
    pub gossip_nodes: usize,
    /// `GossipToTheDeadTime`, 30 s.
    pub gossip_to_the_dead_time: SimDuration,
    /// `AwarenessMaxMultiplier`, 8.
    pub awareness_max_multiplier: u32,
    /// `PushPullInterval`, 30 s (upstream scales it above 32 nodes; not modelled).
    pub push_pull_interval: SimDuration,
    /// MetalLB's re-join of non-member speakers, every minute; `None` turns it off.
    pub rejoin_interval: Option<SimDuration>,
    /// How long a leaving member waits for its Leave to be gossiped (MetalLB: 1 s).
    pub leave_timeout: SimDuration,
}

impl MemberConfig {
    /// memberlist `DefaultLANConfig`, plus MetalLB's 1-minute re-join and 1 s leave timeout.
    pub fn lan() -> Self {
        MemberConfig {
            probe_interval: SimDuration::from_secs(1),
            probe_timeout: SimDuration::from_millis(500),
            indirect_checks: 3,
            suspicion_mult: 4,
            suspicion_max_timeout_mult: 6,
            retransmit_mult: 4,
            gossip_interval: SimDuration::from_millis(200),
            gossip_nodes: 3,
            gossip_to_the_dead_time: SimDuration::from_secs(30),
            awareness_max_multiplier: 8,
            push_pull_interval: SimDuration::from_secs(30),
            rejoin_interval: Some(SimDuration::from_secs(60)),
            leave_timeout: SimDuration::from_secs(1),
        }
    }

    /// `suspicionTimeout` (memberlist `util.go`): `mult · max(1, log10 n) · interval`, the
    /// scale kept to thousandths as upstream does.
    pub fn suspicion_min(&self, n: usize) -> SimDuration {
        let scale = (n.max(1) as f64).log10().max(1.0);
        let milli = (scale * 1000.0) as u64;
        SimDuration::from_nanos(
            u64::from(self.suspicion_mult) * milli * self.probe_interval.as_nanos() / 1000,
        )
    }

    /// Expected independent confirmations of a suspicion in a cluster of `n`: SuspicionMult - 2,
    /// or 0 when fewer than that many nodes besides us and the suspect exist (`suspectNode`).
    pub fn suspicion_confirmations_expected(&self, n: usize) -> u32 {
        let k = self.suspicion_mult.saturating_sub(2);
        if (n as i64) - 2 < i64::from(k) {
            0
        } else {
            k
        }
    }

    /// The whole suspicion timeout, from suspicion start to Dead, in a cluster of `n` after
    /// `confirmations` distinct confirmations (`suspicion.go`): max (min when none are
    /// expected) at first, then `max(min, max - log(c+1)/log(k+1) · (max - min))`, floored to
    /// whole milliseconds.
    pub fn suspicion_timeout(&self, n: usize, confirmations: u32) -> SimDuration {
        let k = self.suspicion_confirmations_expected(n);
        let min = self.suspicion_min(n);
        let max =
            SimDuration::from_nanos(min.as_nanos() * u64::from(self.suspicion_max_timeout_mult));
        if k < 1 {
            return min;
        }
        let frac = (f64::from(confirmations) + 1.0).ln() / (f64::from(k) + 1.0).ln();
        let (min_s, max_s) = (min.as_secs_f64(), max.as_secs_f64());
        let raw = max_s - frac * (max_s - min_s);
        let ms = (1000.0 * raw).floor().max(0.0) as u64;
        SimDuration::from_millis(ms).max(min)
    }

    /// `retransmitLimit` (memberlist `util.go`): `mult · ceil(log10(n + 1))`.
    pub fn retransmit_limit(&self, n: usize) -> u32 {
        self.retransmit_mult * ((n as f64 + 1.0).log10().ceil() as u32)
    }
}

impl Default for MemberConfig {
    fn default() -> Self {
        Self::lan()
    }
}

/// A member's state as another member sees it (memberlist `NodeStateType`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum NodeState {
    /// Answering probes (or not yet found failing).
    Alive,
    /// Failed a probe; still a member (MetalLB keeps it as a candidate) until the suspicion
    /// timer runs out or it refutes.
    Suspect,
    /// Declared failed.
    Dead,
    /// Left gracefully.
    Left,
}

impl NodeState {
    /// Dead or Left: not in memberlist's `Members()`.
    pub fn is_dead_or_left(self) -> bool {
        matches!(self, NodeState::Dead | NodeState::Left)
    }
}

/// One member's entry in a push/pull state exchange (memberlist `pushNodeState`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PushNodeState {
    /// The member.
    pub node: String,
    /// Its incarnation.
    pub incarnation: u32,
    /// Its state.
    pub state: NodeState,
}

/// What members send each other over the (simulated) network. Upstream sends these as UDP
/// packets (push/pull over TCP); the runner carries them, so a partition drops them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Message {
    /// `ping`: "are you `target`? ack `seq` to `from`".
    Ping {
        /// Sequence number the ack must carry.
        seq: u32,
        /// Who to ack.
        from: String,
        /// The node meant; a ping for another name is ignored.
        target: String,
    },
    /// `ackResp`.
    Ack {
        /// The ping's sequence number.
        seq: u32,
        /// Who acks.
        from: String,
    },
    /// `nackResp`: a relay's ping of the target went unanswered.
    Nack {
        /// The indirect ping's sequence number.
        seq: u32,
        /// The relay.
        from: String,
    },
    /// `indirectPingReq`: "ping `target` for me and relay its ack under `seq`".
    IndirectPing {
        /// The requester's sequence number.
        seq: u32,
        /// The requester, who gets the ack or nack.
        requester: String,
        /// Who to ping.
        target: String,
    },
    /// `suspect`.
    Suspect {
        /// Incarnation suspected.
        incarnation: u32,
        /// The suspect.
        node: String,
        /// Who suspects (confirmations count distinct senders).
        from: String,
    },
    /// `alive`.
    Alive {
        /// Incarnation.
        incarnation: u32,
        /// The node.
        node: String,
    },
    /// `dead`; `from == node` is a graceful leave.
    Dead {
        /// Incarnation.
        incarnation: u32,
        /// The node.
        node: String,
        /// Who declares it.
        from: String,
    },
    /// A full state exchange; the receiver of a request answers with its own state.
    PushPull {
        /// The sender.
        from: String,
        /// Every member the sender knows.
        states: Vec<PushNodeState>,
        /// `true` for the answer.
        reply: bool,
    },
}

/// What happens to a member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A message arrived.
    Receive(Message),
    /// A wake-up requested by [`Member::next_timeout`]; nothing due means nothing done.
    Timer,
    /// Graceful stop (memberlist `Leave` then `Shutdown`).
    Leave,
    /// Push/pull with these members now (memberlist `Join`; MetalLB does it at start).
    Join {
        /// Names to contact.
        peers: Vec<String>,
    },
}

/// What a member asks the runner to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Deliver `msg` to member `to`.
    Send {
        /// Destination member.
        to: String,
        /// The message.
        msg: Message,
    },
    /// This member's view of `node` changed.
    MemberState {
        /// The node.
        node: String,
        /// Its new state.
        state: NodeState,
    },
}

/// The member-wide timers (per-node suspicion and per-relay timers are kept with their entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// The probe ticker.
    ProbeTick,
    /// `ProbeTimeout` of the current probe: time for indirect pings.
    ProbeTimeout,
    /// End of the current probe's (scaled) interval: no ack means Suspect.
    ProbeDeadline,
    /// The gossip ticker.
    Gossip,
    /// The push/pull ticker.
    PushPull,
    /// MetalLB's re-join ticker.
    Rejoin,
    /// Give up waiting for the Leave to be gossiped.
    LeaveTimeout,
}

impl Timer {
    const COUNT: usize = 7;
}

#[derive(Debug, Clone)]
struct NodeEntry {
    incarnation: u32,
    state: NodeState,
    state_change: SimTime,
}

#[derive(Debug, Clone)]
struct Probe {
    seq: u32,
    target: String,
    expected_nacks: usize,
    nacks: usize,
}

/// A relayed ping (we are the intermediary of someone's indirect probe).
#[derive(Debug, Clone)]
struct Relay {
    requester: String,
    requester_seq: u32,
    /// Ack handler expiry and nack time, both `probe_timeout` after the request.
    deadline: SimTime,
}

/// `suspicion.go`.
#[derive(Debug, Clone)]
struct Suspicion {
    k: u32,
    n: u32,
    /// Cluster size when the suspicion began (upstream fixes k, min and max then).
    nodes: usize,
    start: SimTime,
    deadline: SimTime,
    confirmations: BTreeSet<String>,
    /// The node's `StateChange` when the timer was set: a timer for an older suspicion does
    /// nothing (upstream compares `state.StateChange.Equal(changeTime)`).
    change_time: SimTime,
}

#[derive(Debug, Clone)]
struct Broadcast {
    /// The node the message is about: a newer one replaces it.
    about: String,
    msg: Message,
    transmits: u32,
    /// Insertion order; newer first among equal transmit counts.
    id: u64,
    /// This is our own Leave.
    leave: bool,
}

/// One speaker's memberlist instance. Pure: feed it [`Input`]s with the current time, perform
/// the [`Output`]s, wake it at [`Member::next_timeout`].
///
/// ```
/// use l2::memberlist::{Input, Member, MemberConfig, Message, Output};
/// use sim_core::SimTime;
///
/// let mut a = Member::new(MemberConfig::lan(), "node-a", &["node-b"], 1, SimTime::ZERO);
/// assert_eq!(a.live_members(), ["node-a", "node-b"]);
/// // Answer a ping meant for us.
/// let ping = Message::Ping { seq: 7, from: "node-b".into(), target: "node-a".into() };
/// let out = a.handle(SimTime::ZERO, Input::Receive(ping));
/// assert!(out.contains(&Output::Send {
///     to: "node-b".into(),
///     msg: Message::Ack { seq: 7, from: "node-a".into() },
/// }));
/// ```
#[derive(Debug, Clone)]
pub struct Member {
    config: MemberConfig,
    name: String,
    /// The peers MetalLB would find as speaker pods (for re-join).
    peers: Vec<String>,
    nodes: BTreeMap<String, NodeEntry>,
    /// memberlist's `nodes` slice: probe order.
    probe_list: Vec<String>,
    probe_index: usize,
    incarnation: u32,
    seq: u32,
    awareness: u32,
    probe: Option<Probe>,
    /// A probe tick came while a probe was running (Go's ticker buffers one).
    tick_pending: bool,
    relays: BTreeMap<u32, Relay>,
    suspicions: BTreeMap<String, Suspicion>,
    broadcasts: Vec<Broadcast>,
    next_broadcast_id: u64,
    timers: [Option<SimTime>; Timer::COUNT],
    leaving: bool,
    shut_down: bool,
    rng: u64,
}

impl Member {
    /// A member called `name` that has joined a cluster of `peers` (all Alive, incarnation 1,
    /// as after memberlist's `Join` at start), at time `now`. `seed` feeds its own random
    /// stream (tick staggers, probe order, random members); derive it from the run seed and the
    /// node name.
    pub fn new(config: MemberConfig, name: &str, peers: &[&str], seed: u64, now: SimTime) -> Self {
        let mut member = Member {
            config,
            name: name.to_string(),
            peers: peers
                .iter()
                .filter(|p| **p != name)
                .map(|p| p.to_string())
                .collect(),
            nodes: BTreeMap::new(),
            probe_list: Vec::new(),
            probe_index: 0,
            incarnation: 1,
            seq: 0,
            awareness: 0,
            probe: None,
            tick_pending: false,
            relays: BTreeMap::new(),
            suspicions: BTreeMap::new(),
            broadcasts: Vec::new(),
            next_broadcast_id: 0,
            timers: [None; Timer::COUNT],
            leaving: false,
            shut_down: false,
            rng: seed,
        };
        let mut names: Vec<String> = member.peers.clone();
        names.push(member.name.clone());
        names.sort();
        names.dedup();
        for node in &names {
            member.nodes.insert(
                node.clone(),
                NodeEntry {
                    incarnation: 1,
                    state: NodeState::Alive,
                    state_change: now,
                },
            );
        }
        member.probe_list = names;
        member.shuffle_probe_list();
        // triggerFunc: each ticker starts after a random stagger in [0, interval).
        let probe = member.stagger(member.config.probe_interval);
        let gossip = member.stagger(member.config.gossip_interval);
        let push_pull = member.stagger(member.config.push_pull_interval);
        member.set(Timer::ProbeTick, now + probe);
        member.set(Timer::Gossip, now + gossip);
        member.set(Timer::PushPull, now + push_pull);
        if let Some(every) = member.config.rejoin_interval {
            member.set(Timer::Rejoin, now + every);
        }
        member
    }

    /// This member's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This member's incarnation number.
    pub fn incarnation(&self) -> u32 {
        self.incarnation
    }

    /// Lifeguard's local health score (0 is healthy).
    pub fn health_score(&self) -> u32 {
        self.awareness
    }

    /// Whether the member has left and shut down; it then ignores every input.
    pub fn is_shut_down(&self) -> bool {
        self.shut_down
    }

    /// How this member sees `node`.
    pub fn state_of(&self, node: &str) -> Option<NodeState> {
        self.nodes.get(node).map(|e| e.state)
    }

    /// Members not Dead or Left, this one included, sorted by name: memberlist's `Members()`,
    /// which MetalLB's speakerlist `UsableSpeakers` takes as the live speakers (Suspect counts).
    pub fn live_members(&self) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|(_, e)| !e.state.is_dead_or_left())
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// The earliest time the member needs an [`Input::Timer`].
    pub fn next_timeout(&self) -> Option<SimTime> {
        if self.shut_down {
            return None;
        }
        let relays = self.relays.values().map(|r| r.deadline);
        let suspicions = self.suspicions.values().map(|s| s.deadline);
        self.timers
            .iter()
            .flatten()
            .copied()
            .chain(relays)
            .chain(suspicions)
            .min()
    }

    /// Feeds one input at `now`; returns what to do, in order. Timers due at `now` run first,
    /// then the input, then anything it made due at once.
    pub fn handle(&mut self, now: SimTime, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        if self.shut_down {
            return out;
        }
        self.run_due(now, &mut out);
        match input {
            Input::Timer => {}
            Input::Receive(msg) => self.receive(now, msg, &mut out),
            Input::Leave => self.leave(now, &mut out),
            Input::Join { peers } => {
                for peer in peers {
                    if peer != self.name {
                        self.send_push_pull(peer, false, &mut out);
                    }
                }
            }
        }
        self.run_due(now, &mut out);
        out
    }

    // ---- timers ----------------------------------------------------------------------------

    fn set(&mut self, timer: Timer, at: SimTime) {
        self.timers[timer as usize] = Some(at);
    }

    fn clear(&mut self, timer: Timer) {
        self.timers[timer as usize] = None;
    }

    fn due(&self, timer: Timer, now: SimTime) -> bool {
        self.timers[timer as usize].is_some_and(|t| t <= now)
    }

    fn run_due(&mut self, now: SimTime, out: &mut Vec<Output>) {
        // Loop because one expiry can arm another at `now` (a probe ending starts the next).
        loop {
            if self.shut_down {
                return;
            }
            if let Some(timer) = self.first_due_timer(now) {
                let at = self.timers[timer as usize].unwrap_or(now);
                self.clear(timer);
                self.on_timer(timer, at, now, out);
                continue;
            }
            if let Some(seq) = self
                .relays
                .iter()
                .find(|(_, r)| r.deadline <= now)
                .map(|(s, _)| *s)
            {
                if let Some(relay) = self.relays.remove(&seq) {
                    // handleIndirectPing: no ack within ProbeTimeout, tell the requester.
                    out.push(Output::Send {
                        to: relay.requester,
                        msg: Message::Nack {
                            seq: relay.requester_seq,
                            from: self.name.clone(),
                        },
                    });
                }
                continue;
            }
            if let Some(node) = self
                .suspicions
                .iter()
                .find(|(_, s)| s.deadline <= now)
                .map(|(n, _)| n.clone())
            {
                self.suspicion_expired(now, &node, out);
                continue;
            }
            return;
        }
    }

    fn first_due_timer(&self, now: SimTime) -> Option<Timer> {
        [
            Timer::ProbeDeadline,
            Timer::ProbeTimeout,
            Timer::ProbeTick,
            Timer::Gossip,
            Timer::PushPull,
            Timer::Rejoin,
            Timer::LeaveTimeout,
        ]
        .into_iter()
        .filter(|t| self.due(*t, now))
        .min_by_key(|t| self.timers[*t as usize])
    }

    fn on_timer(&mut self, timer: Timer, at: SimTime, now: SimTime, out: &mut Vec<Output>) {
        match timer {
            Timer::ProbeTick => {
                // A time.Ticker: the grid stays put whatever the probes do.
                self.set(Timer::ProbeTick, at + self.config.probe_interval);
                if self.probe.is_some() {
                    self.tick_pending = true;
                } else {
                    self.start_probe(now, out);
                }
            }
            Timer::ProbeTimeout => self.send_indirect_pings(out),
            Timer::ProbeDeadline => self.probe_failed(now, out),
            Timer::Gossip => {
                self.set(Timer::Gossip, at + self.config.gossip_interval);
                self.gossip(now, out);
            }
            Timer::PushPull => {
                self.set(Timer::PushPull, at + self.config.push_pull_interval);
                let alive = self.random_nodes(1, |_, e| e.state != NodeState::Alive);
                if let Some(peer) = alive.into_iter().next() {
                    self.send_push_pull(peer, false, out);
                }
            }
            Timer::Rejoin => {
                if let Some(every) = self.config.rejoin_interval {
                    self.set(Timer::Rejoin, at + every);
                }
                // speakerlist mlJoin: join every speaker that is not a member.
                let missing: Vec<String> = self
                    .peers
                    .iter()
                    .filter(|p| self.nodes.get(*p).is_none_or(|e| e.state.is_dead_or_left()))
                    .cloned()
                    .collect();
                for peer in missing {
                    self.send_push_pull(peer, false, out);
                }
            }
            Timer::LeaveTimeout => self.shut_down = true,
        }
    }

    // ---- probing ---------------------------------------------------------------------------

    /// memberlist `probe`: the next node of the list that is not us and not Dead/Left.
    fn start_probe(&mut self, now: SimTime, out: &mut Vec<Output>) {
        self.tick_pending = false;
        let mut checked = 0;
        let target = loop {
            if checked >= self.probe_list.len() {
                return;
            }
            if self.probe_index >= self.probe_list.len() {
                self.reset_nodes(now);
                self.probe_index = 0;
                checked += 1;
                continue;
            }
            let node = self.probe_list[self.probe_index].clone();
            self.probe_index += 1;
            let skip = node == self.name
                || self
                    .nodes
                    .get(&node)
                    .is_none_or(|e| e.state.is_dead_or_left());
            if skip {
                checked += 1;
                continue;
            }
            break node;
        };
        let Some(entry) = self.nodes.get(&target) else {
            return;
        };
        let (state, incarnation) = (entry.state, entry.incarnation);
        let seq = self.next_seq();
        out.push(Output::Send {
            to: target.clone(),
            msg: Message::Ping {
                seq,
                from: self.name.clone(),
                target: target.clone(),
            },
        });
        if state != NodeState::Alive {
            // probeNode: a suspect gets the accusation with the ping, to refute it sooner.
            out.push(Output::Send {
                to: target.clone(),
                msg: Message::Suspect {
                    incarnation,
                    node: target.clone(),
                    from: self.name.clone(),
                },
            });
        }
        let interval = self.scaled_probe_interval();
        self.set(Timer::ProbeTimeout, now + self.config.probe_timeout);
        self.set(Timer::ProbeDeadline, now + interval);
        self.probe = Some(Probe {
            seq,
            target,
            expected_nacks: 0,
            nacks: 0,
        });
    }

    fn scaled_probe_interval(&self) -> SimDuration {
        SimDuration::from_nanos(
            self.config.probe_interval.as_nanos() * (u64::from(self.awareness) + 1),
        )
    }

    fn send_indirect_pings(&mut self, out: &mut Vec<Output>) {
        let Some(probe) = &self.probe else { return };
        let (seq, target) = (probe.seq, probe.target.clone());
        let me = self.name.clone();
        let relays = self.random_nodes(self.config.indirect_checks, |n, e| {
            *n == me || *n == target || e.state != NodeState::Alive
        });
        for relay in &relays {
            out.push(Output::Send {
                to: relay.clone(),
                msg: Message::IndirectPing {
                    seq,
                    requester: self.name.clone(),
                    target: target.clone(),
                },
            });
        }
        if let Some(probe) = &mut self.probe {
            probe.expected_nacks = relays.len();
        }
    }

    fn end_probe(&mut self, now: SimTime, out: &mut Vec<Output>) {
        self.probe = None;
        self.clear(Timer::ProbeTimeout);
        self.clear(Timer::ProbeDeadline);
        if self.tick_pending {
            self.start_probe(now, out);
        }
    }

    fn probe_failed(&mut self, now: SimTime, out: &mut Vec<Output>) {
        let Some(probe) = self.probe.clone() else {
            return;
        };
        // Lifeguard: penalise ourselves for nacks that did not come (or for the failure itself
        // when nobody could vouch for us).
        let delta = if probe.expected_nacks > 0 {
            probe.expected_nacks.saturating_sub(probe.nacks) as i64
        } else {
            1
        };
        self.apply_awareness(delta);
        let incarnation = self.nodes.get(&probe.target).map_or(0, |e| e.incarnation);
        self.probe = None;
        self.clear(Timer::ProbeTimeout);
        self.clear(Timer::ProbeDeadline);
        self.suspect_node(now, incarnation, &probe.target, &self.name.clone(), out);
        if self.tick_pending {
            self.start_probe(now, out);
        }
    }

    fn apply_awareness(&mut self, delta: i64) {
        let max = i64::from(self.config.awareness_max_multiplier.max(1)) - 1;
        self.awareness = (i64::from(self.awareness) + delta).clamp(0, max) as u32;
    }

    /// memberlist `resetNodes`: reap nodes Dead/Left for longer than gossip-to-the-dead, then
    /// shuffle.
    fn reset_nodes(&mut self, now: SimTime) {
        let reap_after = self.config.gossip_to_the_dead_time;
        let reaped: Vec<String> = self
            .nodes
            .iter()
            .filter(|(n, e)| {
                **n != self.name
                    && e.state.is_dead_or_left()
                    && now.saturating_since(e.state_change) > reap_after
            })
            .map(|(n, _)| n.clone())
            .collect();
        for node in &reaped {
            self.nodes.remove(node);
            self.suspicions.remove(node);
        }
        self.probe_list.retain(|n| !reaped.contains(n));
        self.shuffle_probe_list();
    }

    // ---- messages --------------------------------------------------------------------------

    fn receive(&mut self, now: SimTime, msg: Message, out: &mut Vec<Output>) {
        match msg {
            Message::Ping { seq, from, target } => {
                // handlePing: a ping for another name is ignored.
                if target == self.name {
                    out.push(Output::Send {
                        to: from,
                        msg: Message::Ack {
                            seq,
                            from: self.name.clone(),
                        },
                    });
                }
            }
            Message::Ack { seq, .. } => {
                if self.probe.as_ref().is_some_and(|p| p.seq == seq) {
                    self.apply_awareness(-1);
                    self.end_probe(now, out);
                } else if let Some(relay) = self.relays.remove(&seq) {
                    out.push(Output::Send {
                        to: relay.requester,
                        msg: Message::Ack {
                            seq: relay.requester_seq,
                            from: self.name.clone(),
                        },
                    });
                }
            }
            Message::Nack { seq, .. } => {
                if let Some(probe) = self.probe.as_mut().filter(|p| p.seq == seq) {
                    probe.nacks += 1;
                }
            }
            Message::IndirectPing {
                seq,
                requester,
                target,
            } => {
                let local = self.next_seq();
                out.push(Output::Send {
                    to: target.clone(),
                    msg: Message::Ping {
                        seq: local,
                        from: self.name.clone(),
                        target,
                    },
                });
                self.relays.insert(
                    local,
                    Relay {
                        requester,
                        requester_seq: seq,
                        deadline: now + self.config.probe_timeout,
                    },
                );
            }
            Message::Suspect {
                incarnation,
                node,
                from,
            } => self.suspect_node(now, incarnation, &node, &from, out),
            Message::Alive { incarnation, node } => self.alive_node(now, incarnation, &node, out),
            Message::Dead {
                incarnation,
                node,
                from,
            } => self.dead_node(now, incarnation, &node, &from, out),
            Message::PushPull {
                from,
                states,
                reply,
            } => {
                if !reply {
                    self.send_push_pull(from, true, out);
                }
                self.merge_state(now, states, out);
            }
        }
    }

    fn send_push_pull(&mut self, to: String, reply: bool, out: &mut Vec<Output>) {
        let states = self
            .nodes
            .iter()
            .map(|(n, e)| PushNodeState {
                node: n.clone(),
                incarnation: e.incarnation,
                state: e.state,
            })
            .collect();
        out.push(Output::Send {
            to,
            msg: Message::PushPull {
                from: self.name.clone(),
                states,
                reply,
            },
        });
    }

    /// memberlist `mergeState`.
    fn merge_state(&mut self, now: SimTime, states: Vec<PushNodeState>, out: &mut Vec<Output>) {
        let me = self.name.clone();
        for s in states {
            match s.state {
                NodeState::Alive => self.alive_node(now, s.incarnation, &s.node, out),
                NodeState::Left => self.dead_node(now, s.incarnation, &s.node, &s.node, out),
                // "If the remote node believes a node is dead, we prefer to suspect that node
                // instead of declaring it dead instantly."
                NodeState::Dead | NodeState::Suspect => {
                    self.suspect_node(now, s.incarnation, &s.node, &me, out)
                }
            }
        }
    }

    /// memberlist `aliveNode`.
    fn alive_node(&mut self, now: SimTime, incarnation: u32, node: &str, out: &mut Vec<Output>) {
        let local = node == self.name;
        if local && self.leaving {
            return;
        }
        if !self.nodes.contains_key(node) {
            // A new node goes in at a random place of the probe list (upstream: "important to
            // ensure the failure detection bound is low on average").
            self.nodes.insert(
                node.to_string(),
                NodeEntry {
                    incarnation: 0,
                    state: NodeState::Dead,
                    state_change: now,
                },
            );
            let n = self.probe_list.len();
            let offset = self.below(n as u64 + 1) as usize;
            self.probe_list.insert(offset.min(n), node.to_string());
        }
        let Some(entry) = self.nodes.get(node) else {
            return;
        };
        if (!local && incarnation <= entry.incarnation)
            || (local && incarnation < entry.incarnation)
        {
            return;
        }
        self.suspicions.remove(node);
        if local {
            if incarnation == entry.incarnation {
                return;
            }
            self.refute(incarnation);
            return;
        }
        self.queue_broadcast(
            node,
            Message::Alive {
                incarnation,
                node: node.to_string(),
            },
            false,
        );
        if let Some(entry) = self.nodes.get_mut(node) {
            entry.incarnation = incarnation;
            if entry.state != NodeState::Alive {
                entry.state = NodeState::Alive;
                entry.state_change = now;
                out.push(Output::MemberState {
                    node: node.to_string(),
                    state: NodeState::Alive,
                });
            }
        }
    }

    /// memberlist `suspectNode`.
    fn suspect_node(
        &mut self,
        now: SimTime,
        incarnation: u32,
        node: &str,
        from: &str,
        out: &mut Vec<Output>,
    ) {
        let Some(entry) = self.nodes.get(node) else {
            return;
        };
        if incarnation < entry.incarnation {
            return;
        }
        if let Some(suspicion) = self.suspicions.get_mut(node) {
            // Confirm: a new, independent accuser shortens the timer; re-gossip it so more
            // confirmations flow.
            if suspicion.n < suspicion.k && suspicion.confirmations.insert(from.to_string()) {
                suspicion.n += 1;
                suspicion.deadline =
                    suspicion.start + self.config.suspicion_timeout(suspicion.nodes, suspicion.n);
                let msg = Message::Suspect {
                    incarnation,
                    node: node.to_string(),
                    from: from.to_string(),
                };
                self.queue_broadcast(node, msg, false);
            }
            return;
        }
        if entry.state != NodeState::Alive {
            return;
        }
        if node == self.name {
            self.refute(incarnation);
            return;
        }
        self.queue_broadcast(
            node,
            Message::Suspect {
                incarnation,
                node: node.to_string(),
                from: from.to_string(),
            },
            false,
        );
        if let Some(entry) = self.nodes.get_mut(node) {
            entry.incarnation = incarnation;
            entry.state = NodeState::Suspect;
            entry.state_change = now;
        }
        out.push(Output::MemberState {
            node: node.to_string(),
            state: NodeState::Suspect,
        });
        // "we set up k such that we hit the nominal timeout two probe intervals short of what
        // we expect given the suspicion multiplier"; see MemberConfig::suspicion_timeout.
        let n = self.nodes.len();
        self.suspicions.insert(
            node.to_string(),
            Suspicion {
                k: self.config.suspicion_confirmations_expected(n),
                n: 0,
                nodes: n,
                start: now,
                deadline: now + self.config.suspicion_timeout(n, 0),
                confirmations: BTreeSet::from([from.to_string()]),
                change_time: now,
            },
        );
    }

    fn suspicion_expired(&mut self, now: SimTime, node: &str, out: &mut Vec<Output>) {
        let Some(suspicion) = self.suspicions.remove(node) else {
            return;
        };
        let Some(entry) = self.nodes.get(node) else {
            return;
        };
        if entry.state == NodeState::Suspect && entry.state_change == suspicion.change_time {
            let incarnation = entry.incarnation;
            let me = self.name.clone();
            self.dead_node(now, incarnation, node, &me, out);
        }
    }

    /// memberlist `deadNode`.
    fn dead_node(
        &mut self,
        now: SimTime,
        incarnation: u32,
        node: &str,
        from: &str,
        out: &mut Vec<Output>,
    ) {
        let Some(entry) = self.nodes.get(node) else {
            return;
        };
        if incarnation < entry.incarnation {
            return;
        }
        self.suspicions.remove(node);
        let Some(entry) = self.nodes.get(node) else {
            return;
        };
        if entry.state.is_dead_or_left() {
            return;
        }
        let local = node == self.name;
        if local && !self.leaving {
            self.refute(incarnation);
            return;
        }
        let msg = Message::Dead {
            incarnation,
            node: node.to_string(),
            from: from.to_string(),
        };
        self.queue_broadcast(node, msg, local);
        let state = if node == from {
            NodeState::Left
        } else {
            NodeState::Dead
        };
        if let Some(entry) = self.nodes.get_mut(node) {
            entry.incarnation = incarnation;
            entry.state = state;
            entry.state_change = now;
        }
        out.push(Output::MemberState {
            node: node.to_string(),
            state,
        });
    }

    /// memberlist `refute`: beat the accusation's incarnation and gossip Alive.
    fn refute(&mut self, accused: u32) {
        let mut inc = self.incarnation + 1;
        if accused >= inc {
            inc = accused + 1;
        }
        self.incarnation = inc;
        if let Some(entry) = self.nodes.get_mut(&self.name) {
            entry.incarnation = inc;
        }
        self.apply_awareness(1);
        let me = self.name.clone();
        self.queue_broadcast(
            &me.clone(),
            Message::Alive {
                incarnation: inc,
                node: me,
            },
            false,
        );
    }

    fn leave(&mut self, now: SimTime, out: &mut Vec<Output>) {
        if self.leaving {
            return;
        }
        self.leaving = true;
        let (me, inc) = (self.name.clone(), self.incarnation);
        self.dead_node(now, inc, &me, &me, out);
        let anyone_alive = self
            .nodes
            .iter()
            .any(|(n, e)| *n != self.name && e.state == NodeState::Alive);
        if anyone_alive {
            self.set(Timer::LeaveTimeout, now + self.config.leave_timeout);
        } else {
            self.shut_down = true;
        }
    }

    // ---- gossip ----------------------------------------------------------------------------

    fn queue_broadcast(&mut self, about: &str, msg: Message, leave: bool) {
        // Named broadcasts: a newer message about the same node invalidates the queued one.
        self.broadcasts.retain(|b| b.about != about);
        self.broadcasts.push(Broadcast {
            about: about.to_string(),
            msg,
            transmits: 0,
            id: self.next_broadcast_id,
            leave,
        });
        self.next_broadcast_id += 1;
    }

    fn gossip(&mut self, now: SimTime, out: &mut Vec<Output>) {
        let me = self.name.clone();
        let to_the_dead = self.config.gossip_to_the_dead_time;
        let targets = self.random_nodes(self.config.gossip_nodes, |n, e| {
            *n == me
                || match e.state {
                    NodeState::Alive | NodeState::Suspect => false,
                    NodeState::Dead => now.saturating_since(e.state_change) > to_the_dead,
                    NodeState::Left => true,
                }
        });
        let limit = self.config.retransmit_limit(self.nodes.len());
        for target in targets {
            if self.broadcasts.is_empty() {
                break;
            }
            // GetBroadcasts: fewest transmissions first, newest first among equals.
            self.broadcasts
                .sort_by(|a, b| a.transmits.cmp(&b.transmits).then(b.id.cmp(&a.id)));
            for b in &mut self.broadcasts {
                b.transmits += 1;
                out.push(Output::Send {
                    to: target.clone(),
                    msg: b.msg.clone(),
                });
            }
            let finished_leave = self
                .broadcasts
                .iter()
                .any(|b| b.leave && b.transmits >= limit);
            self.broadcasts.retain(|b| b.transmits < limit);
            if finished_leave {
                // Leave returns once its broadcast is done; MetalLB then shuts down.
                self.shut_down = true;
                return;
            }
        }
    }

    // ---- randomness ------------------------------------------------------------------------

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Uniform in `[0, n)` (multiply-high, no modulo bias); 0 when `n` is 0.
    fn below(&mut self, n: u64) -> u64 {
        let x = splitmix64(&mut self.rng);
        ((u128::from(x) * u128::from(n)) >> 64) as u64
    }

    fn stagger(&mut self, interval: SimDuration) -> SimDuration {
        SimDuration::from_nanos(self.below(interval.as_nanos()))
    }

    fn shuffle_probe_list(&mut self) {
        let mut list = std::mem::take(&mut self.probe_list);
        self.shuffle(&mut list);
        self.probe_list = list;
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// memberlist `kRandomNodes`: up to `k` nodes not excluded, uniformly without replacement.
    fn random_nodes(
        &mut self,
        k: usize,
        exclude: impl Fn(&String, &NodeEntry) -> bool,
    ) -> Vec<String> {
        let mut candidates: Vec<String> = self
            .probe_list
            .iter()
            .filter(|n| self.nodes.get(*n).is_some_and(|e| !exclude(n, e)))
            .cloned()
            .collect();
        // Sorting first makes the draw independent of the probe list's order.
        candidates.sort();
        self.shuffle(&mut candidates);
        candidates.truncate(k);
        candidates
    }
}

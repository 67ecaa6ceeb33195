//! Memberlist scenarios: several `Member`s (each with its node's `Speaker`) on a tiny message
//! bus that delivers after a fixed delay and drops traffic to or from crashed or partitioned
//! nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use l2::memberlist::{self, Member, MemberConfig, Message, NodeState};
use l2::speaker::{self, ServiceSpec, Speaker, SpeakerConfig, TrafficPolicy};
use l2::wire::MacAddr;
use sim_core::rng::fnv1a;
use sim_core::{SimDuration, SimTime};

pub const VIP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 240);

/// What the trace records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `at` changed its view of `node`.
    State { node: String, state: NodeState },
    /// `at` sent a gratuitous ARP frame for `ip`.
    Garp { ip: Ipv4Addr },
    /// `at` started or stopped announcing.
    Announcing { ip: IpAddr, leader: bool },
}

/// (time, node where it happened, event).
pub type Trace = Vec<(SimTime, String, Event)>;

pub struct Bus {
    pub now: SimTime,
    pub members: BTreeMap<String, Member>,
    pub speakers: BTreeMap<String, Speaker>,
    pub crashed: BTreeSet<String>,
    /// Nodes cut off from everyone else (each side still talks within itself).
    pub isolated: BTreeSet<String>,
    queue: BTreeMap<(SimTime, u64), (String, String, Message)>,
    seq: u64,
    delay: SimDuration,
    pub trace: Trace,
}

pub fn names(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("node-{}", (b'a' + i as u8) as char))
        .collect()
}

fn mac_of(name: &str) -> MacAddr {
    let h = fnv1a(name.as_bytes()).to_be_bytes();
    MacAddr([2, h[1], h[2], h[3], h[4], h[5]])
}

impl Bus {
    /// `n` members, all joined at time zero, each with a speaker announcing one Cluster
    /// service (endpoints on every node). Delivery takes 100 µs.
    pub fn new(n: usize, seed: u64) -> Self {
        let all = names(n);
        let peers: Vec<&str> = all.iter().map(String::as_str).collect();
        let mut bus = Bus {
            now: SimTime::ZERO,
            members: BTreeMap::new(),
            speakers: BTreeMap::new(),
            crashed: BTreeSet::new(),
            isolated: BTreeSet::new(),
            queue: BTreeMap::new(),
            seq: 0,
            delay: SimDuration::from_micros(100),
            trace: Vec::new(),
        };
        for name in &all {
            let member = Member::new(
                MemberConfig::lan(),
                name,
                &peers,
                seed ^ fnv1a(name.as_bytes()),
                SimTime::ZERO,
            );
            bus.members.insert(name.clone(), member);
            bus.speakers.insert(
                name.clone(),
                Speaker::new(SpeakerConfig::metallb(name, mac_of(name))),
            );
        }
        let service = ServiceSpec {
            name: "default/web".into(),
            ips: vec![VIP.into()],
            policy: TrafficPolicy::Cluster,
            serving_nodes: all.iter().cloned().collect(),
        };
        for name in &all {
            bus.refresh_speaker(name);
            let out = bus
                .speakers
                .get_mut(name)
                .unwrap()
                .handle(SimTime::ZERO, speaker::Input::Service(service.clone()));
            bus.speaker_outputs(name, out);
        }
        bus
    }

    pub fn crash(&mut self, node: &str) {
        self.crashed.insert(node.to_string());
    }

    /// Feeds an input to `node`'s member now.
    pub fn input(&mut self, node: &str, input: memberlist::Input) {
        let out = self.members.get_mut(node).unwrap().handle(self.now, input);
        self.member_outputs(node, out);
    }

    fn cut(&self, a: &str, b: &str) -> bool {
        self.crashed.contains(a)
            || self.crashed.contains(b)
            || (self.isolated.contains(a) != self.isolated.contains(b))
    }

    fn refresh_speaker(&mut self, node: &str) {
        let live: Vec<String> = self.members[node]
            .live_members()
            .into_iter()
            .map(String::from)
            .collect();
        let out = self
            .speakers
            .get_mut(node)
            .unwrap()
            .handle(self.now, speaker::Input::Members(live));
        self.speaker_outputs(node, out);
    }

    fn speaker_outputs(&mut self, node: &str, out: Vec<speaker::Output>) {
        for o in out {
            let event = match o {
                speaker::Output::Frame(frame) => Event::Garp {
                    ip: frame.to_arp().unwrap().sender_ip,
                },
                speaker::Output::Announcing { ip, leader } => Event::Announcing { ip, leader },
            };
            self.trace.push((self.now, node.to_string(), event));
        }
    }

    fn member_outputs(&mut self, node: &str, out: Vec<memberlist::Output>) {
        let mut changed = false;
        for o in out {
            match o {
                memberlist::Output::Send { to, msg } => {
                    self.seq += 1;
                    self.queue.insert(
                        (self.now + self.delay, self.seq),
                        (node.to_string(), to, msg),
                    );
                }
                memberlist::Output::MemberState { node: about, state } => {
                    changed = true;
                    self.trace.push((
                        self.now,
                        node.to_string(),
                        Event::State { node: about, state },
                    ));
                }
            }
        }
        if changed {
            // MetalLB: a memberlist event triggers ForceSync of every service.
            self.refresh_speaker(node);
        }
    }

    fn next_event(&self) -> Option<SimTime> {
        let msg = self.queue.keys().next().map(|(t, _)| *t);
        let alive = |n: &&String| !self.crashed.contains(*n);
        let members = self
            .members
            .iter()
            .filter(|(n, _)| alive(n))
            .filter_map(|(_, m)| m.next_timeout());
        let speakers = self
            .speakers
            .iter()
            .filter(|(n, _)| alive(n))
            .filter_map(|(_, s)| s.next_timeout());
        msg.into_iter().chain(members).chain(speakers).min()
    }

    pub fn run_until(&mut self, end: SimTime) {
        while let Some(t) = self.next_event().filter(|t| *t <= end) {
            self.now = t;
            while let Some(entry) = self.queue.first_entry() {
                if entry.key().0 > t {
                    break;
                }
                let (from, to, msg) = entry.remove();
                if self.cut(&from, &to) || !self.members.contains_key(&to) {
                    continue;
                }
                self.input(&to, memberlist::Input::Receive(msg));
            }
            let names: Vec<String> = self.members.keys().cloned().collect();
            for name in names {
                if self.crashed.contains(&name) {
                    continue;
                }
                if self.members[&name].next_timeout().is_some_and(|d| d <= t) {
                    self.input(&name, memberlist::Input::Timer);
                }
                if self.speakers[&name].next_timeout().is_some_and(|d| d <= t) {
                    let out = self
                        .speakers
                        .get_mut(&name)
                        .unwrap()
                        .handle(t, speaker::Input::Timer);
                    self.speaker_outputs(&name, out);
                }
            }
        }
        self.now = end;
    }

    /// When `observer` first saw `node` in `state`.
    pub fn first_state(&self, observer: &str, node: &str, state: NodeState) -> Option<SimTime> {
        self.trace.iter().find_map(|(t, at, e)| match e {
            Event::State { node: n, state: s } if at == observer && n == node && *s == state => {
                Some(*t)
            }
            _ => None,
        })
    }

    pub fn garps(&self, node: &str) -> Vec<SimTime> {
        self.trace
            .iter()
            .filter(|(_, at, e)| at == node && matches!(e, Event::Garp { .. }))
            .map(|(t, _, _)| *t)
            .collect()
    }

    /// A stable digest of the trace (FNV-1a over its Debug text).
    pub fn trace_hash(&self) -> u64 {
        fnv1a(format!("{:?}", self.trace).as_bytes())
    }
}

fn secs(t: SimTime) -> f64 {
    t.as_secs_f64()
}

fn at(s: f64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs_f64(s)
}

#[test]
fn election_order_of_the_scenarios() {
    // The scenarios below rely on this order (DESIGN.md's test vector).
    assert_eq!(
        l2::election::election_order(VIP, &["node-a", "node-b", "node-c"]),
        ["node-a", "node-c", "node-b"]
    );
}

#[test]
fn three_nodes_leader_crash_is_detected_in_probe_plus_four_seconds() {
    for seed in 0..20 {
        let mut bus = Bus::new(3, seed);
        assert!(bus.speakers["node-a"].is_announcing(VIP), "seed {seed}");
        bus.crash("node-a");
        bus.run_until(at(20.0));
        for survivor in ["node-b", "node-c"] {
            let dead = bus
                .first_state(survivor, "node-a", NodeState::Dead)
                .unwrap_or_else(|| panic!("seed {seed}: {survivor} never saw node-a dead"));
            // Earliest suspicion: first probe tick (stagger) + one interval >= 1 s; latest:
            // second probe (a shuffled list of two) ends by 3 s. n = 3 -> k = 0, timeout = 4 s.
            assert!(
                (4.5..=7.5).contains(&secs(dead)),
                "seed {seed}: {survivor} saw node-a dead at {dead}"
            );
        }
        // The first node to declare it dead held it Suspect for exactly min = 4 s.
        let (first_dead, who) = ["node-b", "node-c"]
            .iter()
            .map(|n| (bus.first_state(n, "node-a", NodeState::Dead).unwrap(), *n))
            .min()
            .unwrap();
        let suspect = bus.first_state(who, "node-a", NodeState::Suspect).unwrap();
        assert_eq!(
            first_dead - suspect,
            SimDuration::from_secs(4),
            "seed {seed}"
        );

        // node-c is next in line: its first gratuitous ARP goes out the instant it sees
        // node-a dead; node-b never sends one.
        let c_dead = bus
            .first_state("node-c", "node-a", NodeState::Dead)
            .unwrap();
        let c_garps = bus.garps("node-c");
        assert_eq!(c_garps.first(), Some(&c_dead), "seed {seed}");
        assert!(bus.garps("node-b").is_empty(), "seed {seed}");
        assert!(bus.speakers["node-c"].is_announcing(VIP));
    }
}

#[test]
fn ten_nodes_detection_is_scaled_and_shortened_by_confirmations() {
    let mut suspicion_secs = Vec::new();
    for seed in 0..20 {
        let mut bus = Bus::new(10, seed);
        bus.crash("node-a");
        bus.run_until(at(40.0));
        let survivors: Vec<String> = names(10).into_iter().skip(1).collect();
        let (first_dead, who) = survivors
            .iter()
            .map(|n| {
                let t = bus
                    .first_state(n, "node-a", NodeState::Dead)
                    .unwrap_or_else(|| panic!("seed {seed}: {n} never saw node-a dead"));
                (t, n.clone())
            })
            .min()
            .unwrap();
        let last_dead = survivors
            .iter()
            .map(|n| bus.first_state(n, "node-a", NodeState::Dead).unwrap())
            .max()
            .unwrap();
        // DESIGN.md: 6-25 s for 4-10 nodes.
        assert!(
            (5.0..=25.0).contains(&secs(first_dead)),
            "seed {seed}: first dead at {first_dead}"
        );
        assert!(
            last_dead - first_dead < SimDuration::from_secs(1),
            "seed {seed}: Dead gossip took {}",
            last_dead - first_dead
        );
        // n = 10: min = 4 s, max = 24 s, k = 2. The timer starts at max and only
        // confirmations bring it down, never below min.
        let suspect = bus.first_state(&who, "node-a", NodeState::Suspect).unwrap();
        let held = first_dead - suspect;
        assert!(
            held >= SimDuration::from_secs(4) && held <= SimDuration::from_secs(24),
            "seed {seed}: suspicion lasted {held}"
        );
        suspicion_secs.push(held.as_secs_f64());
        eprintln!("seed {seed}: first Dead at {first_dead}, last at {last_dead}");
    }
    eprintln!("10 nodes, suspicion held (s): {suspicion_secs:?}");
    // With nine probers the two confirmations nearly always arrive within the 4 s minimum
    // (each survivor probes the dead node once per ~9 s pass), so most suspicions end at or
    // near min rather than the 24 s a lone accuser would wait.
    let short = suspicion_secs.iter().filter(|s| **s < 12.0).count();
    assert!(short >= 15, "suspicions {suspicion_secs:?}");
}

#[test]
fn suspicion_bounds_follow_log10_n() {
    let c = MemberConfig::lan();
    assert_eq!(c.suspicion_min(3), SimDuration::from_secs(4));
    assert_eq!(c.suspicion_min(10), SimDuration::from_secs(4));
    // 4 x log10(30) = 4 x 1.477 (thousandths, as upstream) = 5.908 s.
    assert_eq!(c.suspicion_min(30), SimDuration::from_millis(5908));
    // n = 3: no confirmations expected, the timeout is min from the start.
    assert_eq!(c.suspicion_confirmations_expected(3), 0);
    assert_eq!(c.suspicion_timeout(3, 0), SimDuration::from_secs(4));
    // n = 10: k = 2; 24 s, then 24 - ln2/ln3 x 20 = 11.381 s, then min.
    assert_eq!(c.suspicion_confirmations_expected(10), 2);
    assert_eq!(c.suspicion_timeout(10, 0), SimDuration::from_secs(24));
    assert_eq!(c.suspicion_timeout(10, 1), SimDuration::from_millis(11_381));
    assert_eq!(c.suspicion_timeout(10, 2), SimDuration::from_secs(4));
    assert_eq!(c.suspicion_timeout(4, 0), SimDuration::from_secs(24));
    assert_eq!(c.retransmit_limit(3), 4);
    assert_eq!(c.retransmit_limit(10), 8);
}

#[test]
fn graceful_leave_is_seen_at_once() {
    for seed in 0..10 {
        let mut bus = Bus::new(3, seed);
        bus.run_until(at(10.0));
        bus.input("node-a", memberlist::Input::Leave);
        bus.run_until(at(12.0));
        for other in ["node-b", "node-c"] {
            let left = bus
                .first_state(other, "node-a", NodeState::Left)
                .unwrap_or_else(|| panic!("seed {seed}: {other} never saw node-a leave"));
            assert!(
                left - at(10.0) < SimDuration::from_millis(500),
                "seed {seed}: {left}"
            );
            assert!(bus.first_state(other, "node-a", NodeState::Dead).is_none());
        }
        assert!(bus.members["node-a"].is_shut_down());
        // node-c takes over as soon as it hears.
        let left_c = bus
            .first_state("node-c", "node-a", NodeState::Left)
            .unwrap();
        assert_eq!(bus.garps("node-c").first(), Some(&left_c));
    }
}

/// The first time every member again lists all three as live.
fn healed_at(bus: &Bus) -> Option<SimTime> {
    // Rebuild each member's live set from the trace as it went.
    let mut views: BTreeMap<String, BTreeSet<String>> = names(3)
        .into_iter()
        .map(|n| (n.clone(), names(3).into_iter().collect()))
        .collect();
    let mut healed = None;
    for (t, at, e) in &bus.trace {
        if let Event::State { node, state } = e {
            let view = views.get_mut(at).unwrap();
            if state.is_dead_or_left() {
                view.remove(node);
                healed = None;
            } else {
                view.insert(node.clone());
            }
            if healed.is_none() && views.values().all(|v| v.len() == 3) {
                healed = Some(*t);
            }
        }
    }
    healed
}

#[test]
fn long_partition_splits_the_brain_until_metallb_rejoins() {
    let mut bus = Bus::new(3, 7);
    bus.run_until(at(10.0));
    bus.isolated.insert("node-b".into());
    bus.run_until(at(50.0));
    // Each side declares the other dead; isolated node-b elects itself (split brain).
    assert_eq!(bus.members["node-a"].live_members(), ["node-a", "node-c"]);
    assert_eq!(bus.members["node-b"].live_members(), ["node-b"]);
    assert!(bus.speakers["node-b"].is_announcing(VIP));
    assert!(bus.speakers["node-a"].is_announcing(VIP));
    // The isolated node's failed probes (no nacks) raised its Lifeguard score.
    assert!(bus.members["node-b"].health_score() > 0);

    bus.isolated.clear();
    bus.run_until(at(130.0));
    // Dead members were reaped after GossipToTheDeadTime (30 s), so nobody gossips or
    // push/pulls across any more: only MetalLB's one-minute re-join ends the split, at 60 s
    // (tickers started at 0) - 10 s after the heal. After reaping it is a fresh join: no
    // refutation needed.
    let healed = healed_at(&bus).expect("never healed");
    assert!((at(60.0)..at(60.1)).contains(&healed), "healed at {healed}");
    for m in ["node-a", "node-b", "node-c"] {
        assert_eq!(
            bus.members[m].live_members(),
            ["node-a", "node-b", "node-c"]
        );
    }
    assert!(!bus.speakers["node-b"].is_announcing(VIP));
    assert!(bus.speakers["node-a"].is_announcing(VIP));
}

#[test]
fn partitioned_node_declared_dead_refutes_on_rejoin() {
    // Partition 28-40 s: node-b is Dead at the others from about 33 s, and the dead are reaped
    // only 30 s later, so the 60 s re-join's push/pull still carries that verdict to node-b,
    // which refutes with a higher incarnation and is Alive again.
    let mut bus = Bus::new(3, 7);
    bus.run_until(at(28.0));
    bus.isolated.insert("node-b".into());
    bus.run_until(at(40.0));
    assert_eq!(
        bus.members["node-a"].state_of("node-b"),
        Some(NodeState::Dead)
    );
    bus.isolated.clear();
    bus.run_until(at(70.0));
    let healed = healed_at(&bus).expect("never healed");
    assert!(healed < at(61.0), "healed at {healed}");
    assert!(bus.members["node-b"].incarnation() > 1);
    for m in ["node-a", "node-b", "node-c"] {
        assert_eq!(
            bus.members[m].live_members(),
            ["node-a", "node-b", "node-c"]
        );
    }
}

#[test]
fn short_partition_suspect_refutes_before_dead() {
    // Cut node-b off for 1.5 s: long enough to fail a probe, far shorter than the 4 s
    // suspicion. When it hears the accusation (a ping to a Suspect carries it) it refutes.
    let mut refuted = 0;
    for seed in 0..20 {
        let mut bus = Bus::new(3, seed);
        bus.run_until(at(10.0));
        bus.isolated.insert("node-b".into());
        bus.run_until(at(11.5));
        bus.isolated.clear();
        bus.run_until(at(30.0));
        let suspected = ["node-a", "node-c"]
            .iter()
            .any(|n| bus.first_state(n, "node-b", NodeState::Suspect).is_some());
        for n in ["node-a", "node-c"] {
            assert!(
                bus.first_state(n, "node-b", NodeState::Dead).is_none(),
                "seed {seed}: {n} declared node-b dead"
            );
            assert_eq!(bus.members[n].state_of("node-b"), Some(NodeState::Alive));
        }
        if suspected {
            assert!(bus.members["node-b"].incarnation() > 1, "seed {seed}");
            refuted += 1;
        }
    }
    assert!(refuted >= 5, "only {refuted} runs saw a suspicion");
}

#[test]
fn same_seed_same_trace() {
    let run = |seed| {
        let mut bus = Bus::new(10, seed);
        bus.run_until(at(3.0));
        bus.crash("node-d");
        bus.isolated.insert("node-g".into());
        bus.run_until(at(45.0));
        bus.isolated.clear();
        bus.run_until(at(120.0));
        (bus.trace_hash(), bus.trace)
    };
    let (h1, t1) = run(42);
    let (h2, t2) = run(42);
    if h1 != h2 {
        let first = t1.iter().zip(&t2).position(|(a, b)| a != b);
        panic!(
            "seed 42: traces differ first at {:?}",
            first.map(|i| t1[i].0)
        );
    }
    assert_eq!(t1, t2);
    let (h3, _) = run(43);
    assert_ne!(h1, h3, "another seed should change the trace");
}

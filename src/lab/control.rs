//! The BGP control plane of a lab: on every node a speaker stack (BGP session over a simulated
//! TCP connection, optionally BFD), on the router one peer stack per node, the router's RIB and
//! FIB, and the wire between them. Control packets travel on the same links as data, as real
//! bytes (BGP messages in TCP segments, BFD control packets), and every frame a live machine
//! transmits is written to the pcap capture.
//!
//! ```text
//!  speaker: Session ⇄ TcpEndpoint ─segments─▶ router peer: TcpEndpoint ⇄ Session
//!           BfdSession ─────────── UDP 3784 ──────────────▶ BfdSession ──Down──▶ Session
//!  router Session ─RoutesReceived / SessionDown─▶ Rib ─best changed─▶ Fib (+delay)
//!      ─▶ ServiceRoute::set_members ─▶ EcmpGroup, and every established connection re-evaluated
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::Ipv4Addr;

use bgp::bfd::session::{BfdConfig, BfdInput, BfdOutput, BfdSession};
use bgp::bfd::{BfdControl, Diagnostic, SessionState, BFD_CONTROL_PORT};
use bgp::ecmp::NextHop;
use bgp::rib::{Fib, Rib};
use bgp::session::{
    frr_coalesce_time, Direction, FrrTimers, Input as BgpIn, Output as BgpOut, Session,
    SessionConfig,
};
use bgp::tcp::{
    CloseReason, Input as TcpIn, Output as TcpOut, Segment, TcpConfig, TcpEndpoint, TcpState,
};
use bgp::wire::Ipv4Prefix;
use bytes::BytesMut;
use sim_core::pcap::{frame, PcapWriter};
use sim_core::rng::{fnv1a, splitmix64};
use sim_core::{Scheduler, SimDuration, SimTime};

use super::slab::{Key, Slab};
use super::{node_ip, node_mac, Ev, Lab};
use crate::scenario::{BgpSpec, KeepalivePhase, SpeakerKind};

/// The router's address on the node segment.
pub(crate) const ROUTER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const BGP_PORT: u16 = 179;
/// RFC 5881 §4: single-hop BFD control packets go to UDP 3784 from a port in 49152..65535.
const BFD_PORT: u16 = BFD_CONTROL_PORT;
const BFD_SRC_PORT: u16 = 49152;

/// Which end of a node's BGP peering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The MetalLB speaker on the node.
    Speaker,
    /// The router's side of the peering with that node.
    Router,
}

/// Which machine of a stack a wake-up is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machine {
    /// The BGP session.
    Bgp,
    /// Its TCP connection.
    Tcp,
    /// BFD.
    Bfd,
}

const MACHINES: [Machine; 3] = [Machine::Bgp, Machine::Tcp, Machine::Bfd];

fn machine_index(m: Machine) -> usize {
    match m {
        Machine::Bgp => 0,
        Machine::Tcp => 1,
        Machine::Bfd => 2,
    }
}

/// One end of a peering: the machines and what the runner knows about them.
struct Stack {
    bgp: Session,
    /// The connection the session uses; on the router, a listening socket while there is none.
    tcp: Option<TcpEndpoint>,
    /// Sockets the application closed and the kernel still finishes (FIN retransmission,
    /// TIME-WAIT): they answer segments but no longer talk to the session.
    orphans: Vec<TcpEndpoint>,
    bfd: Option<BfdSession>,
    /// The process runs (a crash or a stop makes it false: inputs are dropped).
    running: bool,
    /// Bumped on every (re)start: wake-ups of an older incarnation are ignored.
    generation: u32,
    /// The session was told the TCP connection closed (tell it once).
    tcp_close_reported: bool,
    /// bgpd is stopped (SIGSTOP): its sockets stay open and the kernel keeps acknowledging and
    /// queueing, but the session reads nothing and its timers do not run.
    bgp_hung: bool,
    /// bfdd is stopped too: it neither sends nor reads.
    bfd_hung: bool,
    /// What the kernel queued for the stopped bgpd, in order.
    held: VecDeque<BgpIn>,
    /// Wake-ups scheduled per machine.
    armed: [Option<SimTime>; 3],
    seed: u64,
    next_port: u16,
    ip_id: u16,
}

struct Packet {
    node: u16,
    to: Side,
    body: Body,
}

enum Body {
    Tcp(Segment),
    Bfd(BfdControl),
}

enum Work {
    Bgp(BgpIn),
    Tcp(TcpIn),
    Bfd(BfdInput),
    /// Open a new connection (the session said Connect).
    Dial,
    /// Hand the connection to the kernel to close (`Close` or `Abort`).
    CloseConnection(TcpIn),
}

/// The control plane of one lab.
pub struct ControlPlane {
    spec: BgpSpec,
    speakers: Vec<Stack>,
    peers: Vec<Stack>,
    rib: Rib,
    fib: Fib,
    packets: Slab<Packet>,
    pcap: Option<PcapWriter<Vec<u8>>>,
    prefix: Ipv4Prefix,
    /// What each speaker was last told to advertise.
    advertising: Vec<BTreeSet<Ipv4Prefix>>,
    /// Per announced prefix: the services whose traffic may follow it (longest match).
    prefix_services: BTreeMap<Ipv4Prefix, Vec<u32>>,
    seed: u64,
}

fn mac(node: Option<u16>) -> [u8; 6] {
    match node {
        // Locally administered addresses: 02:00:00:00:00:01 is the router.
        None => [0x02, 0, 0, 0, 0, 0x01],
        Some(i) => node_mac(i),
    }
}

impl ControlPlane {
    /// The control plane for `nodes` nodes announcing `vip`.
    pub fn new(spec: BgpSpec, nodes: u16, vip: Ipv4Addr, seed: u64, capture: bool) -> Self {
        let seed = seed ^ fnv1a(b"control-plane");
        let stacks = |side: Side| {
            (0..nodes)
                .map(|i| {
                    let s = stack_seed(seed, side, i, 0);
                    Stack::new(session_config(&spec, side, i, nodes, None), s)
                })
                .collect::<Vec<_>>()
        };
        ControlPlane {
            speakers: stacks(Side::Speaker),
            peers: stacks(Side::Router),
            rib: Rib::default(),
            fib: Fib::new(spec.fib_delay),
            packets: Slab::default(),
            // Writing into memory cannot fail; the file is written atomically at the end.
            pcap: super::new_capture(capture),
            prefix: Ipv4Prefix::host(vip),
            advertising: vec![BTreeSet::new(); usize::from(nodes)],
            prefix_services: BTreeMap::new(),
            spec,
            seed,
        }
    }

    /// The capture, if one was asked for.
    pub fn take_pcap(&mut self) -> Option<Vec<u8>> {
        self.pcap.take().map(PcapWriter::into_inner)
    }

    fn stack(&mut self, side: Side, node: u16) -> &mut Stack {
        match side {
            Side::Speaker => &mut self.speakers[usize::from(node)],
            Side::Router => &mut self.peers[usize::from(node)],
        }
    }
}

fn stack_seed(seed: u64, side: Side, node: u16, generation: u32) -> u64 {
    let mut s = seed
        ^ (u64::from(node) << 32)
        ^ u64::from(generation)
        ^ if side == Side::Router { 0x5a5a } else { 0 };
    splitmix64(&mut s)
}

/// The session of one end; `at_start` for the sessions the run opens with, which stand for a
/// converged cluster: their routes go out at once and each node's keepalive cycle has its
/// own phase (`keepalive_phase`, a fraction in millionths drawn per node).
fn session_config(
    spec: &BgpSpec,
    side: Side,
    node: u16,
    nodes: u16,
    at_start: Option<u32>,
) -> SessionConfig {
    let (local_as, peer_as, id) = match side {
        Side::Speaker => (spec.node_as, spec.router_as, node_ip(node)),
        Side::Router => (spec.router_as, spec.node_as, ROUTER_IP),
    };
    let cfg = match (side, spec.speaker) {
        (Side::Speaker, SpeakerKind::Native) => SessionConfig::native(local_as, peer_as, id),
        (Side::Speaker, SpeakerKind::FrrTraditional) => {
            SessionConfig::frr_traditional(local_as, peer_as, id)
        }
        (Side::Speaker, SpeakerKind::FrrDatacenter) => {
            SessionConfig::frr_datacenter(local_as, peer_as, id)
        }
        (
            Side::Speaker,
            SpeakerKind::Frr {
                keepalive,
                hold,
                connect_retry,
            },
        ) => SessionConfig::frr(
            local_as,
            peer_as,
            id,
            FrrTimers {
                keepalive,
                hold,
                connect_retry,
            },
        ),
        // The router is an FRR box with the scenario's hold time; it waits for the speakers.
        (Side::Router, _) => {
            let hold = spec.router_hold_time;
            let timers = FrrTimers {
                keepalive: SimDuration(hold.as_nanos() / 3),
                hold,
                connect_retry: SimDuration::from_secs(120),
            };
            let mut c = SessionConfig::frr(local_as, peer_as, id, timers);
            c.passive = true;
            c
        }
    };
    let mut cfg = match spec.graceful_restart {
        Some(t) => cfg.with_graceful_restart(t),
        None => cfg,
    };
    if cfg.flavour == bgp::session::Flavour::Frr {
        cfg.coalesce_time = match side {
            Side::Speaker => spec.coalesce_time.unwrap_or(cfg.coalesce_time),
            // The router's bgpd has one peer per node.
            Side::Router => frr_coalesce_time(u32::from(nodes)),
        };
    }
    if let Some(phase) = at_start {
        cfg.converged = true;
        cfg.keepalive_phase = (spec.keepalive_phase == KeepalivePhase::Random).then_some(phase);
    }
    cfg
}

/// A node's keepalive phase for the sessions the run opens with: uniform in 1..=1,000,000,
/// from the run's named stream for that node.
fn keepalive_phase(seed: u64, node: u16) -> u32 {
    use rand::Rng;
    sim_core::Streams::new(seed)
        .stream(&format!("node-{}/keepalive-phase", node + 1))
        .random_range(1..=1_000_000)
}

impl Stack {
    fn new(config: SessionConfig, seed: u64) -> Stack {
        let mut s = seed;
        Stack {
            bgp: Session::new(config, splitmix64(&mut s)),
            tcp: None,
            orphans: Vec::new(),
            bfd: None,
            running: false,
            generation: 0,
            tcp_close_reported: false,
            bgp_hung: false,
            bfd_hung: false,
            held: VecDeque::new(),
            armed: [None; 3],
            seed: splitmix64(&mut s),
            next_port: 32768 + (splitmix64(&mut s) % 28232) as u16,
            ip_id: splitmix64(&mut s) as u16,
        }
    }

    fn draw(&mut self) -> u64 {
        splitmix64(&mut self.seed)
    }

    /// The machine's process is stopped.
    fn hung(&self, m: Machine) -> bool {
        match m {
            Machine::Bgp => self.bgp_hung,
            Machine::Bfd => self.bfd_hung,
            // The kernel's TCP runs on.
            Machine::Tcp => false,
        }
    }

    fn next_timeout(&self, m: Machine) -> Option<SimTime> {
        if self.hung(m) {
            return None;
        }
        match m {
            Machine::Bgp => self.bgp.next_timeout(),
            Machine::Tcp => self
                .tcp
                .iter()
                .chain(&self.orphans)
                .filter_map(TcpEndpoint::next_timeout)
                .min(),
            Machine::Bfd => self.bfd.as_ref().and_then(BfdSession::next_timeout),
        }
    }
}

fn bfd_config(spec: &BgpSpec, side: Side, node: u16) -> Option<BfdConfig> {
    let b = spec.bfd?;
    Some(BfdConfig {
        desired_min_tx: b.transmit_interval,
        required_min_rx: b.receive_interval,
        detect_mult: b.detect_multiplier,
        my_discriminator: u32::from(node) + if side == Side::Router { 0x1000 } else { 0x2000 },
        passive: false,
    })
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Speaker => "speaker",
        Side::Router => "router",
    }
}

impl Lab {
    fn cp(&mut self) -> &mut ControlPlane {
        self.control
            .as_mut()
            .expect("control-plane events are only scheduled when a bgp section exists")
    }

    /// Start every speaker and every router peer at time zero.
    pub(super) fn control_start(&mut self, sched: &mut Scheduler<Ev>) {
        let mut prefix_services: BTreeMap<Ipv4Prefix, Vec<u32>> = BTreeMap::new();
        for (i, svc) in self.svcs.iter().enumerate() {
            for &p in &svc.prefixes {
                prefix_services.entry(p).or_default().push(i as u32);
            }
        }
        let Some(cp) = &mut self.control else { return };
        cp.prefix_services = prefix_services;
        let n = cp.speakers.len() as u16;
        for i in 0..n {
            self.start_stack(Side::Router, i, true, sched);
            self.start_stack(Side::Speaker, i, true, sched);
        }
    }

    /// (Re)start one end: a fresh session (ManualStart), BFD, and for the router a listening
    /// socket; a speaker is told what to advertise.
    fn start_stack(&mut self, side: Side, node: u16, at_start: bool, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let spec = self.cp().spec;
        let seed = self.cp().seed;
        let nodes = self.cp().speakers.len() as u16;
        let stack = self.cp().stack(side, node);
        let generation = stack.generation.wrapping_add(1);
        let phase = at_start.then(|| keepalive_phase(seed, node));
        let mut fresh = Stack::new(
            session_config(&spec, side, node, nodes, phase),
            stack_seed(seed, side, node, generation),
        );
        fresh.generation = generation;
        fresh.running = true;
        fresh.bfd = bfd_config(&spec, side, node).map(|c| {
            let s = fresh.draw();
            BfdSession::new(c, now, s)
        });
        *self.cp().stack(side, node) = fresh;
        self.listen_again(side, node, sched);
        self.log.push(
            now,
            "bgp_start",
            self.nodes[usize::from(node)].name.clone(),
            format!("side={}", side_name(side)),
        );
        self.pump(side, node, Work::Bgp(BgpIn::ManualStart), sched);
        if side == Side::Speaker {
            self.cp().advertising[usize::from(node)].clear();
            self.readvertise(node, sched);
        }
        self.arm(side, node, sched);
    }

    /// Tell a speaker what to advertise, following MetalLB's BGP rule per service: each
    /// BGPAdvertisement of the service's pool whose nodeSelectors pick this node announces the
    /// IP at its aggregationLength (speaker/bgp_controller.go), when the service is eligible
    /// here (Local: a ready local endpoint; Cluster: one anywhere).
    fn readvertise(&mut self, node: u16, sched: &mut Scheduler<Ev>) {
        let eligible = !self.withdrawn_by_script.contains(&node);
        let mut want = BTreeSet::new();
        for svc in &self.svcs {
            let pods = &self.pods[svc.pod_range()];
            let local = pods.iter().any(|p| p.node == node && p.ready);
            let any = pods.iter().any(|p| p.ready);
            let policy = match svc.policy {
                crate::scenario::TrafficPolicy::Cluster => bgp::rib::TrafficPolicy::Cluster,
                crate::scenario::TrafficPolicy::Local => bgp::rib::TrafficPolicy::Local,
            };
            if !bgp::rib::advertises(policy, local, any, eligible) {
                continue;
            }
            want.extend(self.announced_from(svc, node));
        }
        self.set_advertising(node, want, sched);
    }

    /// The prefixes `svc`'s advertisements announce from `node`.
    fn announced_from<'a>(
        &'a self,
        svc: &'a super::Svc,
        node: u16,
    ) -> impl Iterator<Item = Ipv4Prefix> + 'a {
        svc.ad_prefixes
            .iter()
            .filter(move |(ad, _)| self.ads[*ad as usize].nodes[usize::from(node)])
            .map(|&(_, p)| p)
    }

    fn set_advertising(
        &mut self,
        node: u16,
        want: BTreeSet<Ipv4Prefix>,
        sched: &mut Scheduler<Ev>,
    ) {
        let cp = self.cp();
        let have = &cp.advertising[usize::from(node)];
        if *have == want {
            return;
        }
        let added: Vec<Ipv4Prefix> = want.difference(have).copied().collect();
        let removed: Vec<Ipv4Prefix> = have.difference(&want).copied().collect();
        cp.advertising[usize::from(node)] = want;
        if !removed.is_empty() {
            self.pump(
                Side::Speaker,
                node,
                Work::Bgp(BgpIn::Withdraw(removed)),
                sched,
            );
        }
        if !added.is_empty() {
            let input = BgpIn::Announce {
                prefixes: added,
                next_hop: node_ip(node),
            };
            self.pump(Side::Speaker, node, Work::Bgp(input), sched);
        }
    }

    /// A scripted `withdraw`/`announce` with BGP running: the node's speaker stops or starts
    /// advertising (as when the service stops being eligible there), and BGP carries it.
    pub(super) fn control_script_advertise(
        &mut self,
        node: u16,
        announce: bool,
        sched: &mut Scheduler<Ev>,
    ) {
        if announce {
            self.withdrawn_by_script.retain(|&n| n != node);
        } else if !self.withdrawn_by_script.contains(&node) {
            self.withdrawn_by_script.push(node);
        }
        self.readvertise(node, sched);
    }

    /// Endpoints changed: every speaker re-applies MetalLB's advertisement rule.
    pub(super) fn control_endpoints_changed(&mut self, sched: &mut Scheduler<Ev>) {
        if self.control.is_none() {
            return;
        }
        for i in 0..self.nodes.len() as u16 {
            if self.nodes[usize::from(i)].up {
                self.readvertise(i, sched);
            }
        }
    }

    /// The node crashed: its speaker stops dead, saying nothing.
    pub(super) fn control_crash(&mut self, node: u16) {
        if let Some(cp) = &mut self.control {
            let s = &mut cp.speakers[usize::from(node)];
            s.running = false;
            s.generation = s.generation.wrapping_add(1);
        }
    }

    /// The node is back: its speaker starts again.
    pub(super) fn control_recover(&mut self, node: u16, sched: &mut Scheduler<Ev>) {
        if self.control.is_some() {
            self.start_stack(Side::Speaker, node, false, sched);
        }
    }

    /// An orderly stop of the node's speaker: BGP says goodbye as its flavour does, BFD sends
    /// AdminDown (RFC 5880 §6.8.16); the kernel finishes the TCP close.
    pub(super) fn control_shutdown(&mut self, node: u16, sched: &mut Scheduler<Ev>) {
        self.stop_speaker(node, true, sched);
    }

    /// Stop the node's speaker, orderly (`graceful`) or killed; BFD says AdminDown either way.
    fn stop_speaker(&mut self, node: u16, graceful: bool, sched: &mut Scheduler<Ev>) {
        if self.control.is_none() {
            return;
        }
        let (kind, detail) = if graceful {
            ("speaker_shutdown", "graceful=true")
        } else {
            ("speaker_kill", "daemon=bgpd host=up")
        };
        self.speaker_log(node, kind, detail.to_string(), sched);
        if !graceful {
            let stack = self.cp().stack(Side::Speaker, node);
            stack.bgp_hung = false;
            stack.bfd_hung = false;
            stack.held.clear();
        }
        self.pump(Side::Speaker, node, Work::Bfd(BfdInput::AdminDown), sched);
        self.pump(
            Side::Speaker,
            node,
            Work::Bgp(BgpIn::ManualStop { graceful }),
            sched,
        );
        if !graceful {
            // bfdd deletes the session its client registered.
            self.cp().stack(Side::Speaker, node).bfd = None;
        }
    }

    fn speaker_log(
        &mut self,
        node: u16,
        kind: &'static str,
        detail: String,
        sched: &Scheduler<Ev>,
    ) {
        let name = self.nodes[usize::from(node)].name.clone();
        self.log.push(sched.now(), kind, name, detail);
    }

    /// Restart the node's speaker after `after`.
    pub(super) fn speaker_start(&mut self, node: u16, sched: &mut Scheduler<Ev>) {
        if !self.nodes[usize::from(node)].up {
            return;
        }
        if self.control.is_some() {
            self.start_stack(Side::Speaker, node, false, sched);
        }
        self.l2_recover(node, sched);
    }

    /// `neighbor <router> shutdown` on the node: Cease / Administrative Shutdown, nothing
    /// else. BFD stays: FRR 8.4 `bgp_fsm.c` `bgp_stop` uninstalls the peer's BFD session only
    /// on an update-source change.
    pub(super) fn control_neighbor_shutdown(&mut self, node: u16, sched: &mut Scheduler<Ev>) {
        if self.control.is_none() {
            return;
        }
        self.speaker_log(node, "speaker_neighbor_shutdown", String::new(), sched);
        self.pump(Side::Speaker, node, Work::Bgp(BgpIn::AdminShutdown), sched);
    }

    /// `no neighbor <router> shutdown`: the session starts after FRR's start timer.
    pub(super) fn control_neighbor_start(&mut self, node: u16, sched: &mut Scheduler<Ev>) {
        if self.control.is_none() || !self.nodes[usize::from(node)].up {
            return;
        }
        self.speaker_log(node, "speaker_neighbor_start", String::new(), sched);
        self.pump(Side::Speaker, node, Work::Bgp(BgpIn::AdminStart), sched);
    }

    /// bgpd is killed on a live host (SIGKILL): nothing is said; the kernel closes its socket,
    /// with FIN since nothing received is left unread (RFC 9293 §3.10.4; reallab/profiles/
    /// check control.pcap: FIN from the node, the router's FIN back, no RST). bfdd drops the
    /// BFD session bgpd had registered (the lab's pcap: one last Down packet, then silence),
    /// so the router's BFD goes Down as the neighbour said, which does not take BGP down
    /// (RFC 5882 §3.2): the closed TCP connection does, at once.
    pub(super) fn control_kill(&mut self, node: u16, sched: &mut Scheduler<Ev>) {
        self.stop_speaker(node, false, sched);
    }

    /// The node's daemons stop (SIGSTOP): bgpd, and with `all` zebra and bfdd too.
    pub(super) fn control_hang(&mut self, node: u16, all: bool, sched: &mut Scheduler<Ev>) {
        if self.control.is_none() {
            return;
        }
        let which = if all { "zebra bfdd bgpd" } else { "bgpd" };
        self.speaker_log(node, "speaker_hang", format!("daemons={which}"), sched);
        let stack = self.cp().stack(Side::Speaker, node);
        stack.bgp_hung = true;
        stack.bfd_hung |= all;
    }

    /// The hung daemons continue (SIGCONT). Overdue timers fire first, then bgpd reads what
    /// the kernel queued (reallab/profiles/check control.pcap: the node's first message after
    /// SIGCONT is its own Hold Timer Expired, or Cease/BFD Down, before anything queued is
    /// answered).
    pub(super) fn control_resume(&mut self, node: u16, sched: &mut Scheduler<Ev>) {
        if self.control.is_none() {
            return;
        }
        let stack = self.cp().stack(Side::Speaker, node);
        if !(stack.bgp_hung || stack.bfd_hung) {
            return;
        }
        let bfd = stack.bfd_hung;
        stack.bgp_hung = false;
        stack.bfd_hung = false;
        stack.armed = [None; 3];
        let held = std::mem::take(&mut stack.held);
        let queued = format!("queued={}", held.len());
        self.speaker_log(node, "speaker_resume", queued, sched);
        if bfd {
            self.pump(Side::Speaker, node, Work::Bfd(BfdInput::Timer), sched);
        }
        self.pump(Side::Speaker, node, Work::Bgp(BgpIn::Timer), sched);
        for input in held {
            self.pump(Side::Speaker, node, Work::Bgp(input), sched);
        }
        self.arm(Side::Speaker, node, sched);
    }

    /// Feed one input to a stack and everything it causes, in order.
    fn pump(&mut self, side: Side, node: u16, first: Work, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let mut queue = VecDeque::from([first]);
        while let Some(work) = queue.pop_front() {
            let stack = self.cp().stack(side, node);
            if !stack.running {
                return;
            }
            match work {
                Work::Bgp(input) if stack.bgp_hung => stack.held.push_back(input),
                // A stopped bfdd reads nothing; by the time it runs again its detection timer
                // has decided.
                Work::Bfd(_) if stack.bfd_hung => {}
                Work::Bgp(input) => {
                    for out in stack.bgp.handle(now, input) {
                        self.on_bgp(side, node, out, &mut queue, sched);
                    }
                }
                Work::Tcp(input) => {
                    let Some(tcp) = stack.tcp.as_mut() else {
                        continue;
                    };
                    for out in tcp.handle(now, input) {
                        self.on_tcp(side, node, out, &mut queue, sched);
                    }
                }
                Work::Bfd(input) => {
                    let Some(bfd) = stack.bfd.as_mut() else {
                        continue;
                    };
                    for out in bfd.handle(now, input) {
                        self.on_bfd(side, node, out, &mut queue, sched);
                    }
                }
                Work::Dial => {
                    self.orphan_connection(side, node, TcpIn::Abort, sched);
                    let stack = self.cp().stack(side, node);
                    let port = stack.next_port;
                    stack.next_port = if port >= 60999 { 32768 } else { port + 1 };
                    let isn = stack.draw() as u32;
                    stack.tcp = Some(TcpEndpoint::new(TcpConfig::default(), port, BGP_PORT, isn));
                    stack.tcp_close_reported = false;
                    queue.push_back(Work::Tcp(TcpIn::Open { active: true }));
                }
                Work::CloseConnection(how) => self.orphan_connection(side, node, how, sched),
            }
        }
        self.arm(side, node, sched);
    }

    /// Schedule a wake-up for each machine whose deadline is earlier than the one armed.
    fn arm(&mut self, side: Side, node: u16, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let stack = self.cp().stack(side, node);
        if !stack.running {
            return;
        }
        let generation = stack.generation;
        for m in MACHINES {
            let i = machine_index(m);
            let Some(t) = stack.next_timeout(m) else {
                continue;
            };
            let t = t.max(now);
            if stack.armed[i].is_some_and(|a| a <= t && a >= now) {
                continue;
            }
            stack.armed[i] = Some(t);
            let _ = sched.schedule_at(t, Ev::CtrlWake(node, side, m, generation));
        }
    }

    /// A machine's wake-up.
    pub(super) fn control_wake(
        &mut self,
        node: u16,
        side: Side,
        m: Machine,
        generation: u32,
        sched: &mut Scheduler<Ev>,
    ) {
        let now = sched.now();
        let stack = self.cp().stack(side, node);
        if stack.generation != generation || !stack.running {
            return;
        }
        let i = machine_index(m);
        if stack.armed[i] == Some(now) {
            stack.armed[i] = None;
        }
        if stack.hung(m) {
            return; // a stopped process's timers wait for SIGCONT
        }
        let work = match m {
            Machine::Bgp => Work::Bgp(BgpIn::Timer),
            Machine::Tcp => {
                let orphans = self.cp().stack(side, node).orphans.len();
                for i in 0..orphans {
                    self.orphan_input(side, node, i, TcpIn::Timer, sched);
                }
                self.prune_orphans(side, node);
                Work::Tcp(TcpIn::Timer)
            }
            Machine::Bfd => Work::Bfd(BfdInput::Timer),
        };
        self.pump(side, node, work, sched);
    }

    fn dir(side: Side) -> Direction {
        // Speakers connect; the router listens (MetalLB peers are usually configured so).
        match side {
            Side::Speaker => Direction::Outbound,
            Side::Router => Direction::Inbound,
        }
    }

    fn on_bgp(
        &mut self,
        side: Side,
        node: u16,
        out: BgpOut,
        queue: &mut VecDeque<Work>,
        sched: &mut Scheduler<Ev>,
    ) {
        let now = sched.now();
        let name = self.nodes[usize::from(node)].name.clone();
        match out {
            BgpOut::Connect => queue.push_back(Work::Dial),
            BgpOut::Send { bytes, .. } => queue.push_back(Work::Tcp(TcpIn::Send(bytes))),
            BgpOut::CloseTcp { reset, .. } => {
                let how = if reset { TcpIn::Abort } else { TcpIn::Close };
                queue.push_back(Work::CloseConnection(how));
            }
            BgpOut::StateChanged { from, to } => {
                self.log.push(
                    now,
                    "bgp_state",
                    name,
                    format!("side={} from={from:?} to={to:?}", side_name(side)),
                );
            }
            BgpOut::Established {
                hold_time,
                graceful_restart,
                ..
            } => {
                let gr = graceful_restart.map_or_else(|| "none".to_string(), |t| t.to_string());
                self.log.push(
                    now,
                    "session_up",
                    name,
                    format!(
                        "side={} hold={hold_time} graceful_restart={gr}",
                        side_name(side)
                    ),
                );
            }
            BgpOut::RoutesReceived {
                announced,
                withdrawn,
            } => {
                if side != Side::Router {
                    return; // the router advertises nothing to the speakers
                }
                if self.multi {
                    // Hundreds of prefixes per UPDATE: one line each way.
                    if let Some((p, nh)) = announced.first() {
                        let detail =
                            format!("prefixes={} first={p} next_hop={nh}", announced.len());
                        self.log.push(now, "route_received", name.clone(), detail);
                    }
                    if let Some(p) = withdrawn.first() {
                        let detail = format!("prefixes={} first={p} by=update", withdrawn.len());
                        self.log.push(now, "route_withdrawn", name.clone(), detail);
                    }
                } else {
                    for (p, nh) in &announced {
                        self.log.push(
                            now,
                            "route_received",
                            name.clone(),
                            format!("prefix={p} next_hop={nh}"),
                        );
                    }
                    for p in &withdrawn {
                        self.log.push(
                            now,
                            "route_withdrawn",
                            name.clone(),
                            format!("prefix={p} by=update"),
                        );
                    }
                }
                let cp = self.cp();
                let changed = cp.rib.update(now, u32::from(node), &announced, &withdrawn);
                self.rib_changed(&changed, sched);
            }
            BgpOut::EndOfRib => {
                if side == Side::Router {
                    let changed = self.cp().rib.end_of_rib(now, u32::from(node));
                    self.rib_changed(&changed, sched);
                }
            }
            BgpOut::SessionDown {
                reason,
                keep_routes_for,
            } => {
                let kept = keep_routes_for.map_or_else(|| "none".to_string(), |t| t.to_string());
                self.log.push(
                    now,
                    "session_down",
                    name.clone(),
                    format!(
                        "side={} reason={reason:?} stale_for={kept}",
                        side_name(side)
                    ),
                );
                if side == Side::Router {
                    let changed = self
                        .cp()
                        .rib
                        .peer_down(now, u32::from(node), keep_routes_for);
                    if keep_routes_for.is_none() && !changed.is_empty() {
                        self.log
                            .push(now, "route_withdrawn", name, "by=session_down".to_string());
                    }
                    // bgpd clears a downed peer's routes through its clear-node work queue.
                    let clear = self.cp().spec.peer_down_delay;
                    self.rib_changed_after(clear, &changed, sched);
                    self.arm_rib(sched);
                }
            }
        }
    }

    fn on_tcp(
        &mut self,
        side: Side,
        node: u16,
        out: TcpOut,
        queue: &mut VecDeque<Work>,
        sched: &mut Scheduler<Ev>,
    ) {
        let dir = Self::dir(side);
        match out {
            TcpOut::Transmit(seg) => self.transmit(side, node, Body::Tcp(seg), sched),
            TcpOut::Connected => queue.push_back(Work::Bgp(BgpIn::TcpConnected { dir })),
            TcpOut::Data(bytes) => queue.push_back(Work::Bgp(BgpIn::Bytes { dir, bytes })),
            TcpOut::PeerClosed => {
                let stack = self.cp().stack(side, node);
                if !stack.tcp_close_reported {
                    stack.tcp_close_reported = true;
                    queue.push_back(Work::Bgp(BgpIn::TcpClosed { dir, reset: false }));
                }
            }
            TcpOut::Closed { reason } => {
                let stack = self.cp().stack(side, node);
                let was_connected = stack.bgp.state() != bgp::session::State::Connect;
                if !stack.tcp_close_reported {
                    stack.tcp_close_reported = true;
                    let input = match reason {
                        CloseReason::TimedOut if !was_connected => BgpIn::TcpConnectionFails,
                        CloseReason::Reset | CloseReason::TimedOut => {
                            BgpIn::TcpClosed { dir, reset: true }
                        }
                        CloseReason::Normal | CloseReason::Aborted => {
                            BgpIn::TcpClosed { dir, reset: false }
                        }
                    };
                    queue.push_back(Work::Bgp(input));
                }
                // The connection is spent; the router listens again.
                stack.tcp = None;
                self.listen_again(side, node, sched);
            }
        }
    }

    fn on_bfd(
        &mut self,
        side: Side,
        node: u16,
        out: BfdOutput,
        queue: &mut VecDeque<Work>,
        sched: &mut Scheduler<Ev>,
    ) {
        let now = sched.now();
        match out {
            BfdOutput::Send(pkt) => self.transmit(side, node, Body::Bfd(pkt), sched),
            BfdOutput::StateChanged { from, to, diag } => {
                let name = self.nodes[usize::from(node)].name.clone();
                self.log.push(
                    now,
                    "bfd_state",
                    name,
                    format!(
                        "side={} from={from:?} to={to:?} diag={diag:?}",
                        side_name(side)
                    ),
                );
                // RFC 5882 §3.2: a session that went down because the neighbour signalled
                // AdminDown is not a failure; the client protocol is not told.
                if from == SessionState::Up
                    && to == SessionState::Down
                    && diag != Diagnostic::NeighborSignaledSessionDown
                {
                    queue.push_back(Work::Bgp(BgpIn::BfdDown));
                }
            }
        }
    }

    /// The session is done with its connection: hand it to the kernel to finish closing
    /// (`how` is `Close` or `Abort`); the router listens again at once.
    fn orphan_connection(&mut self, side: Side, node: u16, how: TcpIn, sched: &mut Scheduler<Ev>) {
        let stack = self.cp().stack(side, node);
        let Some(conn) = stack.tcp.take() else { return };
        stack.tcp_close_reported = true;
        if conn.state() == TcpState::Listen {
            stack.tcp = Some(conn); // a listener is not a connection: keep listening
            return;
        }
        stack.orphans.push(conn);
        let last = stack.orphans.len() - 1;
        self.orphan_input(side, node, last, how, sched);
        self.listen_again(side, node, sched);
    }

    /// On the router, open a fresh listening socket if none is there.
    fn listen_again(&mut self, side: Side, node: u16, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let stack = self.cp().stack(side, node);
        stack.tcp_close_reported = false;
        if side != Side::Router || stack.tcp.is_some() {
            return;
        }
        let isn = stack.draw() as u32;
        let mut listener = TcpEndpoint::new(TcpConfig::default(), BGP_PORT, 0, isn);
        // A passive open emits nothing.
        let _ = listener.handle(now, TcpIn::Open { active: false });
        stack.tcp = Some(listener);
    }

    /// Feed an orphaned socket; only what it transmits matters. Closed ones are dropped.
    fn orphan_input(
        &mut self,
        side: Side,
        node: u16,
        index: usize,
        input: TcpIn,
        sched: &mut Scheduler<Ev>,
    ) {
        let now = sched.now();
        let stack = self.cp().stack(side, node);
        let Some(conn) = stack.orphans.get_mut(index) else {
            return;
        };
        let outs = conn.handle(now, input);
        for out in outs {
            if let TcpOut::Transmit(seg) = out {
                self.transmit(side, node, Body::Tcp(seg), sched);
            }
        }
    }

    fn prune_orphans(&mut self, side: Side, node: u16) {
        self.cp()
            .stack(side, node)
            .orphans
            .retain(|t| t.state() != TcpState::Closed);
    }

    /// Put a control packet on the wire between a node and the router, and capture it.
    fn transmit(&mut self, from: Side, node: u16, body: Body, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let n = usize::from(node);
        let (src_ip, dst_ip, src_mac, dst_mac, link) = match from {
            Side::Speaker => (
                node_ip(node),
                ROUTER_IP,
                mac(Some(node)),
                mac(None),
                self.nodes[n].uplink,
            ),
            Side::Router => (
                ROUTER_IP,
                node_ip(node),
                mac(None),
                mac(Some(node)),
                self.nodes[n].downlink,
            ),
        };
        let stack = self.cp().stack(from, node);
        let ip_id = stack.ip_id;
        stack.ip_id = ip_id.wrapping_add(1);
        let l4 = match &body {
            // eBGP single hop: TTL 1 is enough; FRR sends 1 without multihop/GTSM.
            Body::Tcp(seg) => {
                frame::tcp(&seg.header(), &seg.payload, src_ip, dst_ip).map(|s| (6u8, 1u8, s))
            }
            // RFC 5881 §5: single-hop BFD is sent with TTL 255 (GTSM).
            Body::Bfd(pkt) => {
                let mut b = BytesMut::with_capacity(pkt.encoded_len());
                pkt.encode(&mut b);
                let src_port = BFD_SRC_PORT + node;
                frame::udp(src_port, BFD_PORT, &b, src_ip, dst_ip).map(|s| (17u8, 255u8, s))
            }
        };
        let Ok((proto, ttl, l4)) = l4 else { return };
        let Ok(ip) = frame::ipv4(src_ip, dst_ip, proto, ttl, ip_id, &l4) else {
            return;
        };
        let eth = frame::ethernet(dst_mac, src_mac, 0x0800, &ip);
        if let Some(p) = &mut self.cp().pcap {
            let _ = p.write_frame(now, &eth);
        }
        let to = match from {
            Side::Speaker => Side::Router,
            Side::Router => Side::Speaker,
        };
        if let Some(at) = self.topo.link_mut(link).transmit(now, eth.len() as u32) {
            let key = self.cp().packets.insert(Packet { node, to, body });
            let _ = sched.schedule_at(at, Ev::Ctrl(key));
        }
    }

    /// A control packet arrives.
    pub(super) fn control_deliver(&mut self, key: Key, sched: &mut Scheduler<Ev>) {
        let Some(pkt) = self.cp().packets.remove(key) else {
            return;
        };
        let (node, to) = (pkt.node, pkt.to);
        if to == Side::Speaker && !self.nodes[usize::from(node)].up {
            return; // a dead host hears nothing
        }
        match pkt.body {
            Body::Bfd(ctrl) => {
                if self.cp().stack(to, node).running {
                    self.pump(to, node, Work::Bfd(BfdInput::Received(ctrl)), sched);
                }
            }
            Body::Tcp(seg) => {
                let stack = self.cp().stack(to, node);
                // Exact four-tuple matches first; a listener only takes connection requests.
                let exact = |t: &TcpEndpoint| {
                    t.local_port() == seg.dst_port && t.remote_port() == seg.src_port
                };
                let request = seg.flags.syn && !seg.flags.ack;
                let matches = stack.running
                    && stack.tcp.as_ref().is_some_and(|t| {
                        exact(t)
                            || (request
                                && t.state() == TcpState::Listen
                                && t.local_port() == seg.dst_port)
                    });
                let orphan = stack.orphans.iter().position(exact);
                if matches {
                    self.pump(to, node, Work::Tcp(TcpIn::Segment(seg)), sched);
                } else if let Some(i) = orphan.filter(|_| stack.running) {
                    self.orphan_input(to, node, i, TcpIn::Segment(seg), sched);
                    self.prune_orphans(to, node);
                    self.arm(to, node, sched);
                } else if let Some(rst) = TcpEndpoint::rst_for(&seg) {
                    // No socket for it on a live host: the kernel answers RST (RFC 9293
                    // §3.10.7.1): a killed speaker's peer learns at once.
                    self.transmit(to, node, Body::Tcp(rst), sched);
                }
            }
        }
    }

    fn rib_changed(&mut self, changed: &[Ipv4Prefix], sched: &mut Scheduler<Ev>) {
        self.rib_changed_after(SimDuration::ZERO, changed, sched);
    }

    /// The RIB changed; the change reaches the FIB's queue `extra` later.
    fn rib_changed_after(
        &mut self,
        extra: SimDuration,
        changed: &[Ipv4Prefix],
        sched: &mut Scheduler<Ev>,
    ) {
        if changed.is_empty() {
            return;
        }
        let now = sched.now();
        let multi = self.multi;
        let cp = self.cp();
        cp.fib.rib_changed_after(now, extra, &cp.rib, changed);
        // With several services, one line per change of the RIB: how many prefixes, the first.
        let first = if multi { changed[0] } else { cp.prefix };
        let hops = cp.rib.next_hops(first);
        let names = self.node_list(hops.iter().map(|&h| h as u16));
        if self.multi {
            let detail = format!("prefixes={} first={first} next_hops={names}", changed.len());
            self.log.push(now, "rib_best", "router", detail);
        } else {
            let vip = first.addr();
            let detail = format!("prefix={vip} next_hops={names}");
            self.log.push(now, "rib_best", vip.to_string(), detail);
        }
        if let Some(t) = self.cp().fib.next_timeout() {
            let _ = sched.schedule_at(t.max(now), Ev::FibTimer);
        }
    }

    fn arm_rib(&mut self, sched: &mut Scheduler<Ev>) {
        if let Some(t) = self.cp().rib.next_timeout() {
            let _ = sched.schedule_at(t.max(sched.now()), Ev::RibTimer);
        }
    }

    /// Graceful-restart stale timers.
    pub(super) fn rib_timer(&mut self, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        if self.cp().rib.next_timeout().is_some_and(|t| t <= now) {
            let changed = self.cp().rib.on_timeout(now);
            if !changed.is_empty() {
                let subject = if self.multi {
                    "router".to_string()
                } else {
                    self.cp().prefix.addr().to_string()
                };
                self.log.push(
                    now,
                    "route_withdrawn",
                    subject,
                    "by=stale_timer".to_string(),
                );
            }
            self.rib_changed(&changed, sched);
        }
        self.arm_rib(sched);
    }

    /// The FIB programs what the RIB chose, after its delay: the ECMP group changes here.
    pub(super) fn fib_timer(&mut self, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let cp = self.cp();
        if cp.fib.next_timeout().is_none_or(|t| t > now) {
            return;
        }
        let programmed = cp.fib.on_timeout(now);
        // The services whose longest announced prefix with next hops may have changed.
        let mut touched = BTreeSet::new();
        for (p, hops) in &programmed {
            if let Some(list) = self.cp().prefix_services.get(p) {
                touched.extend(list.iter().copied());
            }
            if !self.multi {
                let names = self.node_list(hops.iter().map(|&h| h as u16));
                let detail = format!("next_hops={names}");
                self.log
                    .push(now, "fib_programmed", p.addr().to_string(), detail);
            }
        }
        if self.multi {
            if let Some((p, hops)) = programmed.first() {
                let names = self.node_list(hops.iter().map(|&h| h as u16));
                let detail = format!("prefixes={} first={p} next_hops={names}", programmed.len());
                self.log.push(now, "fib_programmed", "router", detail);
            }
        }
        for s in touched {
            let s = s as usize;
            // Longest prefix match: the most specific announced prefix that has next hops.
            let fib = &self.control.as_ref().expect("bgp runs").fib;
            let hops: Vec<NextHop> = self.svcs[s]
                .prefixes
                .iter()
                .map(|&p| fib.next_hops(p))
                .find(|h| !h.is_empty())
                .map(<[NextHop]>::to_vec)
                .unwrap_or_default();
            let before: Vec<NextHop> = self.svcs[s].route.members().to_vec();
            if self.svcs[s].route.set_members(now, &hops) {
                let removed = before.iter().copied().filter(|h| !hops.contains(h));
                let added = hops.iter().copied().filter(|h| !before.contains(h));
                let mut cause = String::from("fib");
                let mut shown = 0;
                let mut more = 0;
                for (sign, h) in removed.map(|h| ('-', h)).chain(added.map(|h| ('+', h))) {
                    if shown == 16 {
                        more += 1;
                        continue;
                    }
                    shown += 1;
                    cause.push_str(&format!(" {sign}{}", self.nodes[h as usize].name));
                }
                if more > 0 {
                    cause.push_str(&format!(" (+{more} more)"));
                }
                self.record_change(s, cause, before.len(), sched);
            }
        }
        if let Some(t) = self.cp().fib.next_timeout() {
            let _ = sched.schedule_at(t.max(now), Ev::FibTimer);
        }
    }
}

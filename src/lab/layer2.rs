//! Layer 2 mode: one segment with the nodes, a learning switch, and the hosts that resolve the
//! service IP with ARP (the clients' gateway, or the clients themselves). Each node runs
//! MetalLB's speaker: memberlist for failure detection, the election, gratuitous ARP on
//! takeover, ARP replies for the IP it leads. Data packets go to whichever node owns the MAC
//! the sender's neighbour cache holds for the VIP.
//!
//! ```text
//!  client ─▶ gateway (NeighbourCache: VIP -> MAC) ─▶ switch ─▶ node with that MAC ─▶ kube-proxy
//!  node speakers: Member ⇄ Member (probes over the segment) ─live set─▶ Speaker ─GARP─▶ switch
//! ```
//! ARP frames are real bytes through the switch machine and are captured to pcap; memberlist
//! messages travel between nodes with the segment's delay (no codec: not captured).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use l2::memberlist::{Input as MemberIn, Member, MemberConfig, Message, Output as MemberOut};
use l2::neighbour::{
    ArpAccept, Input as CacheIn, NeighbourCache, NeighbourConfig, NudState, Output as CacheOut,
    PacketId,
};
use l2::speaker::{
    Input as SpeakerIn, KubeNode, Output as SpeakerOut, ServiceSpec, Speaker, SpeakerConfig,
};
use l2::switch::{PortId, Switch, SwitchConfig};
use l2::wire::{EthernetFrame, MacAddr};
use sim_core::pcap::PcapWriter;
use sim_core::rng::{fnv1a, splitmix64};
use sim_core::{Scheduler, SimDuration, SimTime};

use super::slab::{Key, Slab};
use super::{Ev, Lab};
use crate::scenario::{ArpAcceptSetting, ClientPlacement, L2Spec, TrafficPolicy};

/// Which L2 machine a wake-up is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L2Machine {
    /// Node i's memberlist member.
    Member,
    /// Node i's speaker.
    Speaker,
    /// Neighbour cache i (the gateway's, or client i's).
    Cache,
}

/// Where a frame goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    Node(u16),
    Cache(u32),
}

struct InFlight {
    to: Host,
    frame: EthernetFrame,
}

struct Note {
    to: u16,
    msg: Message,
}

/// The L2 plane of one lab.
pub struct Layer2 {
    spec: L2Spec,
    switch: Switch,
    members: Vec<Option<Member>>,
    speakers: Vec<Option<Speaker>>,
    caches: Vec<NeighbourCache>,
    node_macs: Vec<MacAddr>,
    /// Bumped on every (re)start of a node's speaker, so stale wake-ups are ignored.
    generation: Vec<u32>,
    frames: Slab<InFlight>,
    notes: Slab<Note>,
    pcap: Option<PcapWriter<Vec<u8>>>,
    /// Last upper-layer confirmation fed to each cache.
    confirmed: Vec<SimTime>,
    seed: u64,
}

/// TCP forward progress confirms a neighbour (`dst_confirm`); confirming more often than this
/// changes nothing that matters.
const CONFIRM_EVERY: SimDuration = SimDuration::from_millis(100);

fn cache_mac(i: u32) -> MacAddr {
    let b = (0x1000 + i).to_be_bytes();
    MacAddr([0x02, 0, 0x01, b[1], b[2], b[3]])
}

/// The segment is the VIP's /24: nodes at .11 up, resolving hosts at .2 up.
fn segment_ip(vip: Ipv4Addr, host: u32) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(vip) & 0xffff_ff00) | (host & 0xff))
}

impl Layer2 {
    /// The L2 plane for `nodes` nodes and `resolvers` hosts holding the VIP's ARP entry.
    pub fn new(
        spec: L2Spec,
        nodes: u16,
        resolvers: u32,
        vip: Ipv4Addr,
        seed: u64,
        capture: bool,
    ) -> Self {
        let seed = seed ^ fnv1a(b"layer2");
        let ports = u32::from(nodes) + resolvers;
        let mut switch_cfg = SwitchConfig::new(ports);
        switch_cfg.aging_time = spec.switch_aging;
        switch_cfg.flood_unknown_unicast = spec.flood_unknown_unicast;
        let caches = (0..resolvers)
            .map(|i| {
                let mut s = seed ^ u64::from(i);
                let mut cfg = NeighbourConfig::linux(
                    cache_mac(i),
                    segment_ip(vip, 2 + i),
                    24,
                    splitmix64(&mut s),
                );
                cfg.nud.base_reachable_time = spec.base_reachable_time;
                cfg.ignores_garp = spec.ignores_garp;
                cfg.arp_accept = match spec.arp_accept {
                    ArpAcceptSetting::Never => ArpAccept::Never,
                    ArpAcceptSetting::Always => ArpAccept::Always,
                    ArpAcceptSetting::SameSubnet => ArpAccept::SameSubnet,
                };
                NeighbourCache::new(cfg)
            })
            .collect();
        Layer2 {
            spec,
            switch: Switch::new(switch_cfg),
            members: (0..nodes).map(|_| None).collect(),
            speakers: (0..nodes).map(|_| None).collect(),
            caches,
            node_macs: (0..nodes).map(|i| MacAddr(super::node_mac(i))).collect(),
            generation: vec![0; usize::from(nodes)],
            frames: Slab::default(),
            notes: Slab::default(),
            pcap: super::new_capture(capture),
            confirmed: vec![SimTime::ZERO; resolvers as usize],
            seed,
        }
    }

    /// The capture, if one was asked for.
    pub fn take_pcap(&mut self) -> Option<Vec<u8>> {
        self.pcap.take().map(PcapWriter::into_inner)
    }

    fn port(&self, host: Host) -> PortId {
        match host {
            Host::Node(i) => PortId(u32::from(i)),
            Host::Cache(i) => PortId(self.node_macs.len() as u32 + i),
        }
    }

    fn host_of(&self, port: PortId) -> Host {
        let n = self.node_macs.len() as u32;
        if port.0 < n {
            Host::Node(port.0 as u16)
        } else {
            Host::Cache(port.0 - n)
        }
    }

    /// The node that announces `ip` now (the lowest-numbered, should two claim it).
    pub fn leader_of(&self, ip: Ipv4Addr) -> Option<u16> {
        self.speakers
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.is_announcing(ip)))
            .map(|i| i as u16)
    }

    /// The node whose NIC has `mac`.
    pub fn node_of(&self, mac: MacAddr) -> Option<u16> {
        self.node_macs
            .iter()
            .position(|&m| m == mac)
            .map(|i| i as u16)
    }
}

impl Lab {
    fn l2(&mut self) -> &mut Layer2 {
        self.layer2
            .as_mut()
            .expect("L2 events are only scheduled in L2 mode")
    }

    /// Which neighbour cache resolves the VIP for client `c`.
    pub(super) fn cache_of(&self, c: u32) -> u32 {
        match self.layer2.as_ref().map(|l| l.spec.clients) {
            Some(ClientPlacement::OnSegment) => c,
            _ => 0,
        }
    }

    /// What the speakers know of service `s`. MetalLB elects among the live nodes that an
    /// L2Advertisement of the service's pool selects (layer2_controller.go `ShouldAnnounce`,
    /// nodes filtered by the advertisements' nodeSelectors); a selector that leaves nodes out
    /// is given to the speaker as a Local-style candidate list (the selected nodes, when any
    /// endpoint is ready), which elects over exactly those.
    fn service_spec(&self, s: usize) -> ServiceSpec {
        let svc = &self.svcs[s];
        let pods = &self.pods[svc.pod_range()];
        let selected = &self.selected[s];
        let all = selected.iter().all(|&x| x);
        let mut serving: BTreeSet<String> = pods
            .iter()
            .filter(|p| p.ready && selected[usize::from(p.node)])
            .map(|p| self.nodes[usize::from(p.node)].name.clone())
            .collect();
        let mut policy = match svc.policy {
            TrafficPolicy::Cluster => l2::speaker::TrafficPolicy::Cluster,
            TrafficPolicy::Local => l2::speaker::TrafficPolicy::Local,
        };
        if svc.policy == TrafficPolicy::Cluster && !all {
            let any = pods.iter().any(|p| p.ready);
            serving = if any {
                (0..self.nodes.len())
                    .filter(|&n| selected[n])
                    .map(|n| self.nodes[n].name.clone())
                    .collect()
            } else {
                BTreeSet::new()
            };
            policy = l2::speaker::TrafficPolicy::Local;
        } else if svc.policy == TrafficPolicy::Cluster {
            serving = pods
                .iter()
                .filter(|p| p.ready)
                .map(|p| self.nodes[usize::from(p.node)].name.clone())
                .collect();
        }
        ServiceSpec {
            name: if s == 0 {
                "default/service".into()
            } else {
                format!("default/{}", svc.name)
            },
            ips: vec![svc.vip.into()],
            policy,
            serving_nodes: serving,
        }
    }

    /// The service whose IP is `ip`.
    fn service_of_ip(&self, ip: Ipv4Addr) -> Option<usize> {
        self.svcs.iter().position(|s| s.vip == ip)
    }

    /// Start every node's speaker at time zero.
    pub(super) fn l2_start(&mut self, sched: &mut Scheduler<Ev>) {
        for i in 0..self.nodes.len() as u16 {
            self.l2_start_node(i, false, sched);
        }
    }

    /// (Re)start node `i`'s memberlist member and speaker.
    fn l2_start_node(&mut self, i: u16, rejoin: bool, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let names: Vec<String> = self.nodes.iter().map(|n| n.name.clone()).collect();
        let name = names[usize::from(i)].clone();
        let peers: Vec<&str> = names
            .iter()
            .filter(|n| **n != name)
            .map(String::as_str)
            .collect();
        let l2 = self.l2();
        l2.generation[usize::from(i)] = l2.generation[usize::from(i)].wrapping_add(1);
        let mut s = l2.seed ^ u64::from(i) << 20 ^ u64::from(l2.generation[usize::from(i)]);
        let memberlist = l2.spec.memberlist;
        let mut speaker_cfg = SpeakerConfig::metallb(&name, l2.node_macs[usize::from(i)]);
        speaker_cfg.memberlist = memberlist;
        speaker_cfg.gratuitous_arp_interval = l2.spec.gratuitous_arp_interval;
        l2.speakers[usize::from(i)] = Some(Speaker::new(speaker_cfg));
        let port = l2.port(Host::Node(i));
        l2.switch.set_port_up(now, port, true);
        if memberlist {
            l2.members[usize::from(i)] = Some(Member::new(
                MemberConfig::lan(),
                &name,
                &peers,
                splitmix64(&mut s),
                now,
            ));
        }
        self.log.push(
            now,
            "speaker_start",
            name.clone(),
            format!("mode=l2 memberlist={memberlist}"),
        );
        let kube: Vec<KubeNode> = names.iter().map(|n| KubeNode::new(n)).collect();
        self.speaker_input(i, SpeakerIn::Nodes(kube), sched);
        if memberlist {
            if rejoin {
                let peers = peers.iter().map(|p| p.to_string()).collect();
                self.member_input(i, MemberIn::Join { peers }, sched);
            }
            let live = self.live_members(i);
            self.speaker_input(i, SpeakerIn::Members(live), sched);
        }
        for s in 0..self.svcs.len() {
            let spec = self.service_spec(s);
            self.speaker_input(i, SpeakerIn::Service(spec), sched);
        }
        self.l2_arm(L2Machine::Member, u32::from(i), sched);
    }

    fn live_members(&mut self, i: u16) -> Vec<String> {
        self.l2().members[usize::from(i)]
            .as_ref()
            .map(|m| m.live_members().into_iter().map(String::from).collect())
            .unwrap_or_default()
    }

    fn speaker_input(&mut self, i: u16, input: SpeakerIn, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(sp) = self.l2().speakers[usize::from(i)].as_mut() else {
            return;
        };
        let outs = sp.handle(now, input);
        for out in outs {
            match out {
                SpeakerOut::Frame(f) => self.l2_send(Host::Node(i), f, sched),
                SpeakerOut::Announcing { ip, leader } => {
                    let name = self.nodes[usize::from(i)].name.clone();
                    self.log
                        .push(now, "l2_leader", name, format!("ip={ip} leader={leader}"));
                }
            }
        }
        self.l2_arm(L2Machine::Speaker, u32::from(i), sched);
    }

    fn member_input(&mut self, i: u16, input: MemberIn, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(m) = self.l2().members[usize::from(i)].as_mut() else {
            return;
        };
        let outs = m.handle(now, input);
        let mut changed = false;
        for out in outs {
            match out {
                MemberOut::Send { to, msg } => {
                    let Some(to) = self.nodes.iter().position(|n| n.name == to) else {
                        continue;
                    };
                    // Node to switch to node; a dead or cut-off node sends and hears nothing.
                    let (from, dest) = (&self.nodes[usize::from(i)], &self.nodes[to]);
                    if from.up && !from.isolated && !dest.isolated {
                        let delay = self.node_link_delay + self.node_link_delay;
                        let key = self.l2().notes.insert(Note { to: to as u16, msg });
                        sched.schedule_in(delay, Ev::L2Note(key));
                    }
                }
                MemberOut::MemberState { node, state } => {
                    let name = self.nodes[usize::from(i)].name.clone();
                    self.log.push(
                        now,
                        "member_state",
                        name,
                        format!("node={node} state={state:?}"),
                    );
                    changed = true;
                }
            }
        }
        if changed {
            // MetalLB's ForceSync: every memberlist event reconciles every service.
            let live = self.live_members(i);
            self.speaker_input(i, SpeakerIn::Members(live), sched);
        }
        self.l2_arm(L2Machine::Member, u32::from(i), sched);
    }

    /// A memberlist message arrives.
    pub(super) fn l2_note(&mut self, key: Key, sched: &mut Scheduler<Ev>) {
        let Some(note) = self.l2().notes.remove(key) else {
            return;
        };
        let dest = &self.nodes[usize::from(note.to)];
        if dest.up && !dest.isolated {
            self.member_input(note.to, MemberIn::Receive(note.msg), sched);
        }
    }

    fn cache_input(&mut self, c: u32, input: CacheIn, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let l2 = self.l2();
        let Some(cache) = l2.caches.get_mut(c as usize) else {
            return;
        };
        let outs = cache.handle(now, input);
        for out in outs {
            match &out {
                CacheOut::Transmit { packet_id, mac, .. } => {
                    self.l2_forward(Key::from_raw(packet_id.0), *mac, sched)
                }
                CacheOut::Solicit { .. } | CacheOut::Answer { .. } | CacheOut::Announce { .. } => {
                    if let Some(f) = self.l2().caches[c as usize].frame_for(&out) {
                        self.l2_send(Host::Cache(c), f, sched);
                    }
                }
                // The request is lost; the client's timeout counts it.
                CacheOut::Drop { .. } => {}
                CacheOut::StateChanged { ip, from, to } => {
                    if self.service_of_ip(*ip).is_some() {
                        self.log.push(
                            now,
                            "neighbour_state",
                            format!("resolver-{c}"),
                            format!("ip={ip} from={from:?} to={to:?}"),
                        );
                    }
                }
                CacheOut::MacChanged { ip, from, to } => {
                    if let Some(s) = self.service_of_ip(*ip) {
                        let name = |m: Option<MacAddr>| {
                            m.and_then(|m| self.layer2.as_ref().and_then(|l| l.node_of(m)))
                                .map_or_else(
                                    || "?".to_string(),
                                    |n| self.nodes[usize::from(n)].name.clone(),
                                )
                        };
                        let (before, after) = (name(*from), name(Some(*to)));
                        self.log.push(
                            now,
                            "neighbour_mac",
                            format!("resolver-{c}"),
                            format!("ip={ip} from={before} to={after}"),
                        );
                        let node = self.layer2.as_ref().and_then(|l| l.node_of(*to));
                        let arp = super::ArpMove {
                            resolver: c,
                            from: from.map(|_| before),
                            to: after,
                        };
                        self.record_path_change(s, arp, node, sched);
                    }
                }
            }
        }
        self.l2_arm(L2Machine::Cache, c, sched);
    }

    /// A request reaches the segment: the resolving host looks up the VIP's MAC.
    pub(super) fn l2_route(&mut self, key: Key, client: u32, sched: &mut Scheduler<Ev>) {
        let c = self.cache_of(client);
        let conn = self.reqs.get(key).map(|r| r.conn);
        let s = conn.map_or(self.clients[client as usize].service as usize, |k| {
            self.service_of(k, client)
        });
        let vip = self.svcs[s].vip;
        let l2 = self.l2();
        // Fast path: a REACHABLE entry needs no state change (neigh_event_send returns at once).
        if let Some((NudState::Reachable, Some(mac))) = l2.caches[c as usize].lookup(vip) {
            self.l2_forward(key, mac, sched);
            return;
        }
        self.cache_input(
            c,
            CacheIn::Send {
                ip: vip,
                packet_id: PacketId(key.to_raw()),
            },
            sched,
        );
    }

    /// An answer reached client `client`: TCP forward progress confirms the VIP's entry, if the
    /// client resolved it itself (a gateway only forwards: nothing confirms its entry).
    pub(super) fn l2_confirm(&mut self, client: u32, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(l2) = self.layer2.as_mut() else {
            return;
        };
        if l2.spec.clients != ClientPlacement::OnSegment {
            return;
        }
        let c = client as usize;
        if now.saturating_since(l2.confirmed[c]) < CONFIRM_EVERY && l2.confirmed[c] != SimTime::ZERO
        {
            return;
        }
        l2.confirmed[c] = now;
        let vip = self.svcs[self.clients[c].service as usize].vip;
        self.cache_input(client, CacheIn::Confirm { ip: vip }, sched);
    }

    /// Send request `key` to the node with `mac` (through the switch).
    fn l2_forward(&mut self, key: Key, mac: MacAddr, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(node) = self.layer2.as_ref().and_then(|l| l.node_of(mac)) else {
            return;
        };
        let Some(client) = self.reqs.get(key).map(|r| r.client) else {
            return;
        };
        let c = self.cache_of(client);
        let l2 = self.l2();
        // The switch decides: a known MAC goes to its port; an unknown one is flooded (the
        // owner gets it) or, with flood blocking, dropped: metallb issue 2910's blackhole.
        let ingress = l2.port(Host::Cache(c));
        let egress = l2.switch.handle(now, ingress, cache_mac(c), mac);
        if !egress.ports.contains(&l2.port(Host::Node(node))) {
            return;
        }
        let Some(req) = self.reqs.get_mut(key) else {
            return;
        };
        req.ingress = node;
        let (conn, client) = (req.conn, req.client as usize);
        if let Some(conn) = self.conns.get_mut(conn) {
            conn.set_path_node(Some(node));
        }
        self.count_ingress(node, client, now);
        let downlink = self.nodes[usize::from(node)].downlink;
        let bytes = self.clients[client].request_bytes;
        // A dead node's link is down: the frame is lost, as is a frame to a MAC nobody owns.
        if let Some(at) = self.topo.link_mut(downlink).transmit(now, bytes) {
            let _ = sched.schedule_at(at, Ev::AtNode(key));
        }
    }

    /// A partition cuts (or heals) node `node`'s switch port.
    pub(super) fn l2_set_port(&mut self, node: u16, up: bool, now: SimTime) {
        if let Some(l2) = self.layer2.as_mut() {
            let port = l2.port(Host::Node(node));
            l2.switch.set_port_up(now, port, up);
        }
    }

    /// Node `node` sent a reply towards client `client`'s resolver: the switch learns the
    /// node's MAC again, unless replies take another path.
    pub(super) fn l2_reply_seen(&mut self, node: u16, client: u32, now: SimTime) {
        let c = self.cache_of(client);
        let Some(l2) = self.layer2.as_mut() else {
            return;
        };
        if !l2.spec.replies_refresh_switch {
            return;
        }
        let port = l2.port(Host::Node(node));
        let mac = l2.node_macs[usize::from(node)];
        let _ = l2.switch.handle(now, port, mac, cache_mac(c));
    }

    /// Put an ARP frame on the segment from `from`, capture it, and deliver it where the
    /// switch sends it.
    fn l2_send(&mut self, from: Host, frame: EthernetFrame, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        if let Host::Node(i) = from {
            if !self.nodes[usize::from(i)].up {
                return;
            }
        }
        let delay = self.node_link_delay;
        let l2 = self.l2();
        if let Some(p) = &mut l2.pcap {
            let mut b = bytes::BytesMut::with_capacity(frame.encoded_len());
            frame.encode(&mut b);
            let _ = p.write_frame(now, &b);
        }
        let ingress = l2.port(from);
        let egress = l2.switch.handle_frame(now, ingress, &frame);
        for port in egress.ports {
            let to = l2.host_of(port);
            let key = l2.frames.insert(InFlight {
                to,
                frame: frame.clone(),
            });
            sched.schedule_in(delay + delay, Ev::L2Frame(key));
        }
    }

    /// An ARP frame reaches a host.
    pub(super) fn l2_frame(&mut self, key: Key, sched: &mut Scheduler<Ev>) {
        let Some(InFlight { to, frame }) = self.l2().frames.remove(key) else {
            return;
        };
        match to {
            Host::Node(i) => {
                if self.nodes[usize::from(i)].up {
                    self.speaker_input(i, SpeakerIn::Frame(frame), sched);
                }
            }
            Host::Cache(c) => {
                if let Ok(arp) = frame.to_arp() {
                    self.cache_input(
                        c,
                        CacheIn::ArpReceived {
                            arp,
                            eth_dst: frame.dst,
                        },
                        sched,
                    );
                }
            }
        }
    }

    fn l2_arm(&mut self, m: L2Machine, i: u32, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let l2 = self.l2();
        let (t, generation) = match m {
            L2Machine::Member => (
                l2.members
                    .get(i as usize)
                    .and_then(|x| x.as_ref())
                    .and_then(Member::next_timeout),
                l2.generation[i as usize],
            ),
            L2Machine::Speaker => (
                l2.speakers
                    .get(i as usize)
                    .and_then(|x| x.as_ref())
                    .and_then(Speaker::next_timeout),
                l2.generation[i as usize],
            ),
            L2Machine::Cache => (
                l2.caches
                    .get(i as usize)
                    .and_then(NeighbourCache::next_timeout),
                0,
            ),
        };
        // Wake-ups that find nothing due do nothing; duplicates are harmless.
        if let Some(t) = t {
            let _ = sched.schedule_at(t.max(now), Ev::L2Wake(m, i, generation));
        }
    }

    /// An L2 machine's timer.
    pub(super) fn l2_wake(
        &mut self,
        m: L2Machine,
        i: u32,
        generation: u32,
        sched: &mut Scheduler<Ev>,
    ) {
        let now = sched.now();
        let l2 = self.l2();
        let due = match m {
            L2Machine::Member | L2Machine::Speaker if l2.generation[i as usize] != generation => {
                false
            }
            L2Machine::Member => l2.members[i as usize]
                .as_ref()
                .and_then(Member::next_timeout)
                .is_some_and(|t| t <= now),
            L2Machine::Speaker => l2.speakers[i as usize]
                .as_ref()
                .and_then(Speaker::next_timeout)
                .is_some_and(|t| t <= now),
            L2Machine::Cache => l2.caches[i as usize]
                .next_timeout()
                .is_some_and(|t| t <= now),
        };
        if !due {
            return;
        }
        match m {
            L2Machine::Member => self.member_input(i as u16, MemberIn::Timer, sched),
            L2Machine::Speaker => self.speaker_input(i as u16, SpeakerIn::Timer, sched),
            L2Machine::Cache => self.cache_input(i, CacheIn::Timer, sched),
        }
    }

    /// Node `i` crashed: its speaker and member stop dead and its switch port goes down.
    pub(super) fn l2_crash(&mut self, i: u16, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(l2) = self.layer2.as_mut() else {
            return;
        };
        l2.members[usize::from(i)] = None;
        l2.speakers[usize::from(i)] = None;
        l2.generation[usize::from(i)] = l2.generation[usize::from(i)].wrapping_add(1);
        let port = l2.port(Host::Node(i));
        l2.switch.set_port_up(now, port, false);
    }

    /// Node `i` is back, or its speaker pod restarted (`restart_speaker`): its speaker starts
    /// and rejoins memberlist.
    pub(super) fn l2_recover(&mut self, i: u16, sched: &mut Scheduler<Ev>) {
        if self.layer2.is_some() {
            self.l2_start_node(i, true, sched);
        }
    }

    /// An orderly stop of node `i`'s speaker: memberlist Leave, then silence.
    pub(super) fn l2_shutdown(&mut self, i: u16, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        if self.layer2.is_none() {
            return;
        }
        self.log.push(
            now,
            "speaker_shutdown",
            self.nodes[usize::from(i)].name.clone(),
            "mode=l2 graceful=true",
        );
        self.member_input(i, MemberIn::Leave, sched);
        let l2 = self.l2();
        l2.speakers[usize::from(i)] = None;
    }

    /// Endpoints changed: every speaker reconciles the service.
    pub(super) fn l2_endpoints_changed(&mut self, sched: &mut Scheduler<Ev>) {
        if self.layer2.is_none() {
            return;
        }
        for s in 0..self.svcs.len() {
            let spec = self.service_spec(s);
            for i in 0..self.nodes.len() as u16 {
                self.speaker_input(i, SpeakerIn::Service(spec.clone()), sched);
            }
        }
    }

    /// The node each established connection of resolver `c` now reaches, for a path change.
    pub(super) fn l2_path_for(
        &self,
        client: u32,
        resolver: Option<u32>,
        node: Option<u16>,
    ) -> Option<Option<u16>> {
        match resolver {
            Some(r) if self.cache_of(client) != r => None,
            _ => Some(node),
        }
    }
}

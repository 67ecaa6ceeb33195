//! A host's IPv6 neighbour cache as Linux keeps it: the NUD engine shared with IPv4
//! ([`crate::nud`], net/core/neighbour.c, as `nd_tbl` shares it with `arp_tbl`) fed by Neighbor
//! Discovery (net/ipv6/ndisc.c) instead of ARP.
//!
//! What the kernel does and this model follows:
//! - Solicitations (`ndisc_solicit`): INCOMPLETE sends `mcast_solicit` NS to the target's
//!   solicited-node group, PROBE `ucast_solicit` NS to the target itself at the cached MAC,
//!   both with the Source Link-Layer Address option. The source is the interface address of the
//!   target's scope (link-local for a link-local target, else the global one:
//!   `ipv6_dev_get_saddr`, RFC 6724 rule 2).
//! - A received NA (`ndisc_recv_na`): `drop_unsolicited_na` drops every NA without the
//!   Solicited flag first; an NA for one of our own addresses is ignored; an NA for an address
//!   with no entry is ignored, unless the host forwards (`forwarding`, a router), the NA has a
//!   Target Link-Layer Address option and `accept_untracked_na` allows it (1: always, 2: the
//!   source is in the interface's prefix), which creates a STALE entry (RFC 9131); an entry in
//!   FAILED is not touched. Otherwise `neigh_update` with WEAK_OVERRIDE, OVERRIDE from the O
//!   flag and the router flag from R: S=1 proposes REACHABLE, S=0 STALE; O=0 with another MAC
//!   turns a REACHABLE entry STALE (keeping the MAC) and leaves other states alone; O=1
//!   replaces the MAC. An NA without TLLA only confirms the cached MAC.
//! - A received NS for one of our addresses (`ndisc_recv_ns`): from `::` (duplicate address
//!   detection) it is answered to all-nodes; otherwise the sender's entry is created (for a
//!   unicast NS, or one carrying SLLA) and updated STALE with OVERRIDE, and answered with S=1,
//!   Override and the Target Link-Layer Address option only if the NS was multicast (`inc`).
//! - `ndisc_notify` (NETDEV_UP): an unsolicited NA with Override for every address of the
//!   interface (`ndisc_send_unsol_na`, global scope before link-local as `addr_list` keeps
//!   them); NETDEV_NOTIFY_PEERS sends them whatever `ndisc_notify` says.
//!
//! nd_tbl's defaults equal arp_tbl's (base_reachable_time 30 s, retrans 1 s, delay 5 s, 3
//! unicast and 3 multicast probes) except locktime, which ndisc never reads.
//!
//! Model choices: an answer to a unicast NS without SLLA from a host not yet in the cache is
//! not sent (the kernel would first resolve the requester; Linux's own probes always carry
//! SLLA); addresses are never tentative (DAD has completed); the router flag is kept per
//! entry ([`Neighbour6Cache::is_router`]) but `rt6_clean_tohost` on a router-to-host change is
//! not modelled.

use std::net::Ipv6Addr;

use sim_core::{SimDuration, SimTime};

pub use crate::nud::{DropReason, NudState, PacketId};
use crate::nud::{NudParams, NudTable, UpdateFlags};
use crate::wire::{
    is_solicited_node, link_local_from_mac, solicited_node, EthernetFrame, MacAddr, NdpMessage,
    NdpOption, NdpPacket, ALL_NODES,
};

/// `net.ipv6.conf.*.accept_untracked_na` (Documentation/networking/ip-sysctl.rst).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum AcceptUntrackedNa {
    /// 0 (default): an NA for an address without an entry is ignored.
    #[default]
    Never,
    /// 1: it creates a STALE entry (on a forwarding interface).
    Always,
    /// 2: as 1, only if the NA's source is in a prefix configured on the interface.
    SameSubnet,
}

/// Settings of one host interface, with the kernel's defaults from [`Neighbour6Config::linux`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Neighbour6Config {
    /// This interface's MAC.
    pub own_mac: MacAddr,
    /// This interface's global address.
    pub own_ip: Ipv6Addr,
    /// Prefix length of `own_ip` (for `accept_untracked_na = 2`).
    pub prefix_len: u8,
    /// This interface's link-local address (by default the MAC's EUI-64 one).
    pub link_local: Ipv6Addr,
    /// The NUD knobs (nd_tbl's: no `locktime`).
    pub nud: NudParams,
    /// `net.ipv6.conf.*.forwarding`: the host is a router (sets R in its NAs; untracked NAs
    /// may create entries).
    pub forwarding: bool,
    /// `accept_untracked_na`, 0.
    pub accept_untracked_na: AcceptUntrackedNa,
    /// `drop_unsolicited_na`, 0: when set, NAs without the Solicited flag are dropped.
    pub drop_unsolicited_na: bool,
    /// `ndisc_notify`, 0: when set, [`Input::LinkUp`] sends unsolicited NAs.
    pub ndisc_notify: bool,
    /// Seed of this host's reachable_time draws (derive it from the run seed and host name).
    pub seed: u64,
}

impl Neighbour6Config {
    /// Linux defaults (net/ipv6/ndisc.c `nd_tbl`, ip-sysctl.rst) for an interface
    /// `own_ip/prefix_len` at `own_mac`, a host (forwarding 0).
    pub fn linux(own_mac: MacAddr, own_ip: Ipv6Addr, prefix_len: u8, seed: u64) -> Self {
        Neighbour6Config {
            own_mac,
            own_ip,
            prefix_len,
            link_local: link_local_from_mac(own_mac),
            nud: NudParams::linux(SimDuration::ZERO),
            forwarding: false,
            accept_untracked_na: AcceptUntrackedNa::Never,
            drop_unsolicited_na: false,
            ndisc_notify: false,
            seed,
        }
    }

    fn owns(&self, ip: Ipv6Addr) -> bool {
        ip == self.own_ip || ip == self.link_local
    }

    /// `ipv6_chk_prefix`: `ip` is in the prefix of one of the interface's addresses.
    fn in_own_prefix(&self, ip: Ipv6Addr) -> bool {
        let same = |a: Ipv6Addr, len: u8| {
            let mask = match len.min(128) {
                0 => 0,
                n => u128::MAX << (128 - u32::from(n)),
            };
            u128::from(ip) & mask == u128::from(a) & mask
        };
        same(self.own_ip, self.prefix_len) || same(self.link_local, 64)
    }
}

/// What happens to a host's IPv6 neighbour cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The host wants to send a packet to the on-link next hop `ip`.
    Send {
        /// Next hop.
        ip: Ipv6Addr,
        /// The packet, returned in an output.
        packet_id: PacketId,
    },
    /// An NDP packet arrived in a frame to `eth_dst` (a unicast frame for another MAC is
    /// ignored, `PACKET_OTHERHOST`).
    NdpReceived {
        /// The NS or NA.
        packet: NdpPacket,
        /// Ethernet destination of the frame that carried it.
        eth_dst: MacAddr,
    },
    /// Upper-layer proof that `ip` is reachable (TCP forward progress: `dst_confirm_neigh`).
    Confirm {
        /// Next hop.
        ip: Ipv6Addr,
    },
    /// The interface came up (NETDEV_UP): unsolicited NAs if `ndisc_notify` is set.
    LinkUp,
    /// NETDEV_NOTIFY_PEERS (e.g. a bond failed over): unsolicited NAs in any case.
    NotifyPeers,
    /// A wake-up requested by [`Neighbour6Cache::next_timeout`].
    Timer,
}

/// What the IPv6 cache asks the host to do, in order ([`Output::Solicit`] is an NS,
/// [`Output::Answer`] a solicited NA, [`Output::Announce`] an unsolicited one).
pub type Output = crate::nud::Output<Ipv6Addr>;

/// One host interface's IPv6 neighbour cache. Pure, like [`crate::neighbour::NeighbourCache`].
///
/// ```
/// use std::net::Ipv6Addr;
/// use l2::neighbour6::{Input, Neighbour6Cache, Neighbour6Config, NudState, Output, PacketId};
/// use l2::wire::{MacAddr, NdpPacket};
/// use sim_core::SimTime;
///
/// let (me, node) = (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
/// let vip: Ipv6Addr = "2001:db8::10".parse().unwrap();
/// let mut cache = Neighbour6Cache::new(Neighbour6Config::linux(me, "2001:db8::1".parse().unwrap(), 64, 7));
/// let out = cache.handle(SimTime::ZERO, Input::Send { ip: vip, packet_id: PacketId(1) });
/// assert!(out.contains(&Output::Solicit { target_ip: vip, unicast_to: None }));
/// // MetalLB's unsolicited NA (S=0, O=1) resolves the INCOMPLETE entry as STALE.
/// let na = NdpPacket::metallb_unsolicited(node, "fe80::2".parse().unwrap(), vip);
/// let out = cache.handle(SimTime(1_000), Input::NdpReceived { packet: na, eth_dst: MacAddr([0x33, 0x33, 0, 0, 0, 1]) });
/// assert!(out.contains(&Output::Transmit { packet_id: PacketId(1), ip: vip, mac: node }));
/// assert_eq!(cache.lookup(vip), Some((NudState::Stale, Some(node))));
/// ```
#[derive(Debug, Clone)]
pub struct Neighbour6Cache {
    config: Neighbour6Config,
    table: NudTable<Ipv6Addr>,
}

impl Neighbour6Cache {
    /// An empty cache, as at time zero.
    pub fn new(config: Neighbour6Config) -> Self {
        Neighbour6Cache {
            table: NudTable::new(config.nud, config.seed),
            config,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Neighbour6Config {
        &self.config
    }

    /// How long REACHABLE lasts after a confirmation, as currently drawn.
    pub fn reachable_time(&self) -> SimDuration {
        self.table.reachable_time()
    }

    /// State and MAC of the entry for `ip` (the MAC only while valid).
    pub fn lookup(&self, ip: Ipv6Addr) -> Option<(NudState, Option<MacAddr>)> {
        self.table.lookup(ip)
    }

    /// The entry's router flag (NTF_ROUTER, from the last NA's R flag).
    pub fn is_router(&self, ip: Ipv6Addr) -> bool {
        self.table.is_router(ip)
    }

    /// The earliest time the cache needs a [`Input::Timer`].
    pub fn next_timeout(&self) -> Option<SimTime> {
        self.table.next_timeout()
    }

    /// Processes one input at `now` and returns what to do, in order.
    pub fn handle(&mut self, now: SimTime, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Send { ip, packet_id } => self.table.send(now, ip, packet_id, &mut out),
            Input::NdpReceived { packet, eth_dst } => {
                self.ndp_received(now, &packet, eth_dst, &mut out)
            }
            Input::Confirm { ip } => self.table.confirm(now, ip),
            Input::LinkUp if self.config.ndisc_notify => self.unsolicited(&mut out),
            Input::LinkUp => {}
            Input::NotifyPeers => self.unsolicited(&mut out),
            Input::Timer => self.table.timers(now, &mut out),
        }
        out
    }

    /// The NDP frame for an output ([`Output::Solicit`], [`Output::Answer`],
    /// [`Output::Announce`]); `None` for the others.
    pub fn frame_for(&self, output: &Output) -> Option<EthernetFrame> {
        let cfg = &self.config;
        let me = cfg.own_mac;
        let packet = match *output {
            Output::Solicit {
                target_ip,
                unicast_to,
            } => {
                let src = self.source_for(target_ip);
                return Some(match unicast_to {
                    Some(mac) => NdpPacket::probe(me, src, target_ip).frame(me, mac),
                    None => NdpPacket::solicit(me, src, target_ip).frame(me, MacAddr::ZERO),
                });
            }
            Output::Answer {
                target_ip,
                target_mac,
                own_ip,
                to_multicast,
            } => {
                let na = self.advertisement(target_ip, own_ip, to_multicast, to_multicast);
                return Some(na.frame(me, target_mac));
            }
            Output::Announce { own_ip } => self.advertisement(ALL_NODES, own_ip, true, true),
            _ => return None,
        };
        Some(packet.frame(me, MacAddr::ZERO))
    }

    /// `ndisc_send_na`: from `own_ip` to `dst`; Solicited unless sent to a group.
    fn advertisement(
        &self,
        dst: Ipv6Addr,
        own_ip: Ipv6Addr,
        override_flag: bool,
        with_tlla: bool,
    ) -> NdpPacket {
        let options = if with_tlla {
            vec![NdpOption::TargetLinkLayer(self.config.own_mac)]
        } else {
            Vec::new()
        };
        NdpPacket::new(
            own_ip,
            dst,
            NdpMessage::Advertisement {
                router: self.config.forwarding,
                solicited: !dst.is_multicast(),
                override_flag,
                target: own_ip,
                options,
            },
        )
    }

    /// Source address selection for an NS about `target` (scope match, RFC 6724 rule 2).
    fn source_for(&self, target: Ipv6Addr) -> Ipv6Addr {
        if target.is_unicast_link_local() {
            self.config.link_local
        } else {
            self.config.own_ip
        }
    }

    /// `ndisc_send_unsol_na`: global address first, then link-local.
    fn unsolicited(&self, out: &mut Vec<Output>) {
        for own_ip in [self.config.own_ip, self.config.link_local] {
            out.push(Output::Announce { own_ip });
        }
    }

    // --- receiving (net/ipv6/ndisc.c ndisc_rcv) ---

    fn ndp_received(
        &mut self,
        now: SimTime,
        packet: &NdpPacket,
        eth_dst: MacAddr,
        out: &mut Vec<Output>,
    ) {
        let cfg = &self.config;
        if eth_dst.is_unicast() && eth_dst != cfg.own_mac {
            return;
        }
        // ip6_input: unicast to one of our addresses, or a group we joined (all-nodes, our
        // addresses' solicited-node groups).
        let delivered = cfg.owns(packet.dst)
            || packet.dst == ALL_NODES
            || (is_solicited_node(packet.dst)
                && [cfg.own_ip, cfg.link_local]
                    .iter()
                    .any(|&a| solicited_node(a) == packet.dst));
        if !delivered || packet.validate().is_err() {
            return;
        }
        match &packet.message {
            NdpMessage::Solicitation { target, .. } => {
                self.recv_ns(now, packet, *target, out);
            }
            NdpMessage::Advertisement {
                router,
                solicited,
                override_flag,
                target,
                ..
            } => {
                let flags = UpdateFlags {
                    override_: *override_flag,
                    weak_override: true,
                    is_router: Some(*router),
                };
                self.recv_na(now, packet, *target, *solicited, flags, out);
            }
        }
    }

    /// `ndisc_recv_ns` for a solicitation that reached this host.
    fn recv_ns(
        &mut self,
        now: SimTime,
        packet: &NdpPacket,
        target: Ipv6Addr,
        out: &mut Vec<Output>,
    ) {
        let cfg = &self.config;
        if !cfg.owns(target) {
            return; // not ours (no proxy NDP, no anycast)
        }
        let lladdr = packet.message.source_link_layer();
        if packet.src.is_unspecified() {
            // DAD for our address: defend it to all-nodes (validate() made sure no SLLA).
            out.push(Output::Answer {
                target_ip: ALL_NODES,
                target_mac: crate::wire::multicast_mac(ALL_NODES),
                own_ip: target,
                to_multicast: true,
            });
            return;
        }
        let inc = packet.dst.is_multicast();
        if !inc || lladdr.is_some() {
            self.table.create(now, packet.src);
        }
        let flags = UpdateFlags {
            override_: true,
            weak_override: true,
            is_router: None,
        };
        self.table
            .update(now, packet.src, lladdr, NudState::Stale, flags, out);
        if let Some(target_mac) = lladdr.or_else(|| self.table.valid_mac(packet.src)) {
            out.push(Output::Answer {
                target_ip: packet.src,
                target_mac,
                own_ip: target,
                to_multicast: inc,
            });
        }
    }

    /// `ndisc_recv_na`.
    fn recv_na(
        &mut self,
        now: SimTime,
        packet: &NdpPacket,
        target: Ipv6Addr,
        solicited: bool,
        flags: UpdateFlags,
        out: &mut Vec<Output>,
    ) {
        let cfg = &self.config;
        // "drop_unsolicited_na takes precedence over accept_untracked_na".
        if !solicited && cfg.drop_unsolicited_na {
            return;
        }
        let lladdr = packet.message.target_link_layer();
        if cfg.owns(target) {
            return; // "NA: someone advertised our address"
        }
        let mut state = if solicited {
            NudState::Reachable
        } else {
            NudState::Stale
        };
        if !self.table.present(target) {
            let accept = match cfg.accept_untracked_na {
                AcceptUntrackedNa::Never => false,
                AcceptUntrackedNa::Always => true,
                AcceptUntrackedNa::SameSubnet => cfg.in_own_prefix(packet.src),
            };
            // RFC 9131: only routers learn from untracked NAs, and only with a TLLA.
            if !(lladdr.is_some() && cfg.forwarding && accept) {
                return;
            }
            self.table.create(now, target);
            state = NudState::Stale;
        }
        if self.table.lookup(target).map(|(s, _)| s) == Some(NudState::Failed) {
            return;
        }
        self.table.update(now, target, lladdr, state, flags, out);
    }
}

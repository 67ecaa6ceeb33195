//! A host's IPv4 neighbour cache as Linux keeps it (NUD, "neighbour unreachability
//! detection"): the state machine shared with IPv6 is [`crate::nud`] (net/core/neighbour.c);
//! this module is what a received ARP does (net/ipv4/arp.c) and the IPv4 knobs
//! (Documentation/networking/ip-sysctl.rst).
//!
//! What the kernel does and this model follows (timers and states: see [`crate::nud`]):
//! - A received ARP updates an existing entry for its SPA (`arp_process`, "Update our ARP
//!   tables"). Changing the MAC of a valid entry needs *override*: the entry last changed more
//!   than `locktime` ago, or the frame is gratuitous (`arp_is_garp`: SPA == TPA, for replies
//!   also THA == SHA, and SPA unicast). A reply addressed to this host makes the entry
//!   REACHABLE; requests and broadcast replies make it STALE (same MAC: state kept).
//! - `arp_accept` decides whether unsolicited ARP creates an entry: 0 never, 1 for a
//!   gratuitous ARP or any reply from a unicast SPA, 2 as 1 but only if SPA is in a subnet
//!   configured on the interface (ip-sysctl.rst `arp_accept`; arp.c `arp_accept`).
//! - A request for this host's own address creates or refreshes the requester's entry as STALE
//!   and is answered (`neigh_event_ns`, `arp_send(ARPOP_REPLY, ...)`), with `arp_ignore` 0.
//!
//! Model choice: `ignores_garp` models hosts that do not learn from gratuitous ARP. It behaves
//! like the kernel's `drop_gratuitous_arp` sysctl: every frame with SPA == TPA is dropped on
//! receipt.

use std::net::Ipv4Addr;

use sim_core::{SimDuration, SimTime};

pub use crate::nud::{DropReason, NudState, PacketId};
use crate::nud::{NudParams, NudTable, UpdateFlags};
use crate::wire::{Arp, ArpOp, EthernetFrame, MacAddr};

/// `net.ipv4.conf.*.arp_accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ArpAccept {
    /// 0 (default): unsolicited ARP never creates an entry; existing entries still update.
    #[default]
    Never,
    /// 1: gratuitous ARP and unsolicited replies create entries.
    Always,
    /// 2: as 1, but only when SPA is in the interface's subnet.
    SameSubnet,
}

/// Settings of one host interface, with the kernel's defaults from [`NeighbourConfig::linux`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NeighbourConfig {
    /// This interface's MAC (ARP frames addressed here are "for us").
    pub own_mac: MacAddr,
    /// This interface's IPv4 address.
    pub own_ip: Ipv4Addr,
    /// Prefix length of `own_ip`'s subnet (for `arp_accept = 2` and broadcast detection).
    pub prefix_len: u8,
    /// The NUD knobs (arp_tbl's: `locktime` 1 s, a valid entry's MAC changes only if it last
    /// changed longer ago, or the ARP is gratuitous).
    pub nud: NudParams,
    /// `arp_accept`, 0.
    pub arp_accept: ArpAccept,
    /// Host drops every gratuitous-looking ARP (SPA == TPA), like `drop_gratuitous_arp = 1`.
    pub ignores_garp: bool,
    /// Seed of this host's reachable_time draws (derive it from the run seed and host name).
    pub seed: u64,
}

impl NeighbourConfig {
    /// Linux defaults (net/ipv4/arp.c `arp_tbl`) for an interface `own_ip/prefix_len` at
    /// `own_mac`.
    pub fn linux(own_mac: MacAddr, own_ip: Ipv4Addr, prefix_len: u8, seed: u64) -> Self {
        NeighbourConfig {
            own_mac,
            own_ip,
            prefix_len,
            nud: NudParams::linux(SimDuration::from_secs(1)),
            arp_accept: ArpAccept::Never,
            ignores_garp: false,
            seed,
        }
    }
}

/// What happens to a host's neighbour cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The host wants to send a packet to the on-link next hop `ip`.
    Send {
        /// Next hop.
        ip: Ipv4Addr,
        /// The packet, returned in an output.
        packet_id: PacketId,
    },
    /// An ARP frame arrived; `eth_dst` is its Ethernet destination, which decides whether it
    /// was addressed to this host (a reply only confirms reachability then; a unicast frame
    /// for another MAC is ignored, like `PACKET_OTHERHOST` in arp_rcv).
    ArpReceived {
        /// The ARP message.
        arp: Arp,
        /// Ethernet destination of the frame that carried it.
        eth_dst: MacAddr,
    },
    /// Upper-layer proof that `ip` is reachable (TCP forward progress: `dst_confirm_neigh`).
    Confirm {
        /// Next hop.
        ip: Ipv4Addr,
    },
    /// A wake-up requested by [`NeighbourCache::next_timeout`]; nothing due means nothing done.
    Timer,
}

/// What the IPv4 cache asks the host to do, in order ([`Output::Solicit`] is an ARP request,
/// [`Output::Answer`] an ARP reply; [`Output::Announce`] does not occur).
pub type Output = crate::nud::Output<Ipv4Addr>;

/// One host interface's neighbour cache. Pure: feed it [`Input`]s with the current time,
/// perform the [`Output`]s, and wake it at [`NeighbourCache::next_timeout`].
///
/// ```
/// use std::net::Ipv4Addr;
/// use l2::neighbour::{Input, NeighbourCache, NeighbourConfig, NudState, Output, PacketId};
/// use l2::wire::{Arp, MacAddr};
/// use sim_core::SimTime;
///
/// let me = MacAddr([2, 0, 0, 0, 0, 1]);
/// let gw = MacAddr([2, 0, 0, 0, 0, 2]);
/// let mut cache = NeighbourCache::new(NeighbourConfig::linux(me, Ipv4Addr::new(10, 0, 0, 1), 24, 7));
/// let out = cache.handle(SimTime::ZERO, Input::Send { ip: Ipv4Addr::new(10, 0, 0, 2), packet_id: PacketId(1) });
/// assert!(out.contains(&Output::Solicit { target_ip: Ipv4Addr::new(10, 0, 0, 2), unicast_to: None }));
/// let request = Arp::request(me, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
/// let out = cache.handle(SimTime(1_000), Input::ArpReceived { arp: Arp::reply_to(&request, gw), eth_dst: me });
/// assert!(out.contains(&Output::Transmit { packet_id: PacketId(1), ip: Ipv4Addr::new(10, 0, 0, 2), mac: gw }));
/// assert_eq!(cache.lookup(Ipv4Addr::new(10, 0, 0, 2)), Some((NudState::Reachable, Some(gw))));
/// ```
#[derive(Debug, Clone)]
pub struct NeighbourCache {
    config: NeighbourConfig,
    table: NudTable<Ipv4Addr>,
}

impl NeighbourCache {
    /// An empty cache, as at time zero.
    pub fn new(config: NeighbourConfig) -> Self {
        NeighbourCache {
            table: NudTable::new(config.nud, config.seed),
            config,
        }
    }

    /// The settings.
    pub fn config(&self) -> &NeighbourConfig {
        &self.config
    }

    /// How long REACHABLE lasts after a confirmation, as currently drawn.
    pub fn reachable_time(&self) -> SimDuration {
        self.table.reachable_time()
    }

    /// State and MAC of the entry for `ip`; the MAC only while the state is valid (as
    /// `ip neigh` shows it).
    pub fn lookup(&self, ip: Ipv4Addr) -> Option<(NudState, Option<MacAddr>)> {
        self.table.lookup(ip)
    }

    /// The earliest time the cache needs a [`Input::Timer`].
    pub fn next_timeout(&self) -> Option<SimTime> {
        self.table.next_timeout()
    }

    /// The Ethernet frame for an ARP output ([`Output::Solicit`], [`Output::Answer`]); `None`
    /// for other outputs.
    pub fn frame_for(&self, output: &Output) -> Option<EthernetFrame> {
        let (me, my_ip) = (self.config.own_mac, self.config.own_ip);
        match *output {
            Output::Solicit {
                target_ip,
                unicast_to,
            } => Some(EthernetFrame::arp(
                unicast_to.unwrap_or(MacAddr::BROADCAST),
                me,
                &Arp::request(me, my_ip, target_ip),
            )),
            Output::Answer {
                target_ip,
                target_mac,
                own_ip,
                ..
            } => Some(EthernetFrame::arp(
                target_mac,
                me,
                &Arp {
                    op: ArpOp::Reply,
                    sender_mac: me,
                    sender_ip: own_ip,
                    target_mac,
                    target_ip,
                },
            )),
            _ => None,
        }
    }

    /// Processes one input at `now` and returns what to do, in order.
    pub fn handle(&mut self, now: SimTime, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Send { ip, packet_id } => self.table.send(now, ip, packet_id, &mut out),
            Input::ArpReceived { arp, eth_dst } => self.arp_received(now, &arp, eth_dst, &mut out),
            Input::Confirm { ip } => self.table.confirm(now, ip),
            Input::Timer => self.table.timers(now, &mut out),
        }
        out
    }

    // --- receiving (net/ipv4/arp.c arp_process) ---

    fn arp_received(&mut self, now: SimTime, arp: &Arp, eth_dst: MacAddr, out: &mut Vec<Output>) {
        let cfg = &self.config;
        let for_us = eth_dst == cfg.own_mac;
        // arp_rcv drops frames for other hosts (PACKET_OTHERHOST).
        if !for_us && eth_dst.is_unicast() {
            return;
        }
        if !matches!(arp.op, ArpOp::Request | ArpOp::Reply) {
            return;
        }
        if arp.target_ip.is_multicast() || arp.target_ip.is_loopback() {
            return;
        }
        // drop_gratuitous_arp: "gratuitous ARP frames are attacks" in some deployments.
        if cfg.ignores_garp && arp.sender_ip == arp.target_ip {
            return;
        }
        let (sip, sha) = (arp.sender_ip, arp.sender_mac);
        let answer = Output::Answer {
            target_ip: sip,
            target_mac: sha,
            own_ip: cfg.own_ip,
            to_multicast: !eth_dst.is_unicast(),
        };
        if sip.is_unspecified() {
            // Duplicate address detection probe (RFC 5227): defend our address.
            if arp.op == ArpOp::Request && arp.target_ip == cfg.own_ip {
                out.push(answer);
            }
            return;
        }
        if arp.op == ArpOp::Request && arp.target_ip == cfg.own_ip {
            // neigh_event_ns: the requester will talk to us, cache it as STALE; then reply.
            self.table.create(now, sip);
            let flags = UpdateFlags {
                override_: true,
                ..UpdateFlags::default()
            };
            self.table
                .update(now, sip, Some(sha), NudState::Stale, flags, out);
            out.push(answer);
            return;
        }

        // "Update our ARP tables".
        let exists = self.table.exists(sip);
        let accept = match cfg.arp_accept {
            ArpAccept::Never => false,
            ArpAccept::Always => true,
            ArpAccept::SameSubnet => self.in_own_subnet(sip),
        };
        let sip_unicast = self.is_unicast_for_us(sip);
        let is_garp = (exists || accept) && arp.is_gratuitous() && sip_unicast;
        if !exists && accept && (is_garp || (arp.op == ArpOp::Reply && sip_unicast)) {
            self.table.create(now, sip);
        }
        let Some(updated) = self.table.updated(sip) else {
            return;
        };
        // "If several different ARP replies follow back-to-back, use the FIRST one."
        let override_ = now > updated + self.table.locktime() || is_garp;
        // "Broadcast replies and request packets do not assert neighbour reachability."
        let state = if arp.op == ArpOp::Reply && for_us {
            NudState::Reachable
        } else {
            NudState::Stale
        };
        let flags = UpdateFlags {
            override_,
            ..UpdateFlags::default()
        };
        self.table.update(now, sip, Some(sha), state, flags, out);
    }

    // --- helpers ---

    fn in_own_subnet(&self, ip: Ipv4Addr) -> bool {
        let mask = prefix_mask(self.config.prefix_len);
        u32::from(ip) & mask == u32::from(self.config.own_ip) & mask
    }

    /// `inet_addr_type(..) == RTN_UNICAST` as far as one interface can tell: not unspecified,
    /// limited or subnet broadcast, multicast, loopback, or our own address.
    fn is_unicast_for_us(&self, ip: Ipv4Addr) -> bool {
        let mask = prefix_mask(self.config.prefix_len);
        let subnet_broadcast = self.config.prefix_len < 31
            && self.in_own_subnet(ip)
            && u32::from(ip) | mask == u32::MAX;
        !(ip.is_unspecified()
            || ip.is_broadcast()
            || ip.is_multicast()
            || ip.is_loopback()
            || ip == self.config.own_ip
            || subnet_broadcast)
    }
}

fn prefix_mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        n => u32::MAX << (32 - u32::from(n.min(32))),
    }
}

//! MetalLB's NDP responder on one node (metallb `internal/layer2/ndp.go`, `ndpClient`): which
//! Neighbor Solicitations reach it, which it answers and how, and its unsolicited NAs.
//!
//! Which solicitations reach it at all is decided by the socket, not by MetalLB's code: the
//! responder is `ndp.Dial(ifi, ndp.LinkLocal)` (mdlayher/ndp), an ICMPv6 raw socket bound to
//! the interface's link-local address, plus `JoinGroup` of each VIP's solicited-node group
//! (`Watch`). Linux delivers a packet to a bound raw IPv6 socket only when its destination is
//! the bound address or a multicast group the host listens to (net/ipv6/raw.c `raw_v6_match`;
//! `inet6_mc_check` passes any joined group with the default `IPV6_MULTICAST_ALL`), and only
//! if the packet is delivered locally at all. So:
//!
//! - the multicast NS of address resolution (to `ff02::1:ffXX:XXXX`, RFC 4861 §7.2.2) reaches
//!   it and is answered;
//! - the unicast NS of Neighbor Unreachability Detection, sent to the VIP itself (RFC 4861
//!   §7.3.3; Linux `ndisc_solicit` sends `ucast_probes` = 3 of them to the target in PROBE,
//!   from its link-local address when the traffic was forwarded, from its global one when the
//!   host sent it itself) never does: the router's entry for the VIP goes PROBE, then FAILED,
//!   and traffic drops until the next multicast resolution. That is metallb issue 2920
//!   ("NDP implementation is incomplete (Neighbor Unreachability Detection)").
//!
//! [`NdpResponderConfig::answer_unicast_solicitations`] models a speaker that also receives
//! those (the fix the issue asks for), and [`NdpResponderConfig::unsolicited_interval`] the
//! periodic unsolicited NAs of metallb PR 3125 (`--gratuitous-arp-interval`, which sends
//! NDP too), the workaround that refreshes routers' entries before they go stale.
//!
//! What MetalLB then does with a solicitation that reached it (`processRequest`): only NS;
//! one without a Source Link-Layer Address option is dropped (`dropReasonNoSourceLL`, which
//! includes every duplicate address detection NS); the target must be a VIP this node
//! announces; the answer is a NA from the link-local address to the solicitation's source,
//! Solicited set, Override clear, with the node's MAC as Target Link-Layer Address
//! ([`NdpPacket::metallb_reply`]).

use std::collections::BTreeSet;
use std::net::Ipv6Addr;

use sim_core::{SimDuration, SimTime};

use crate::wire::{
    is_solicited_node, link_local_from_mac, solicited_node, EthernetFrame, MacAddr, NdpMessage,
    NdpPacket, ALL_NODES,
};

/// One node's NDP responder settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NdpResponderConfig {
    /// The node's NIC MAC.
    pub mac: MacAddr,
    /// Answer unicast solicitations to a VIP too (not MetalLB's behaviour: issue 2920's fix).
    pub answer_unicast_solicitations: bool,
    /// Send an unsolicited NA for every announced VIP this often (metallb PR 3125); `None`,
    /// the default, only on takeover.
    pub unsolicited_interval: Option<SimDuration>,
}

impl NdpResponderConfig {
    /// MetalLB's behaviour on a node with NIC `mac`.
    pub fn metallb(mac: MacAddr) -> Self {
        NdpResponderConfig {
            mac,
            answer_unicast_solicitations: false,
            unsolicited_interval: None,
        }
    }
}

/// Why a frame got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// Not an NDP packet, or one RFC 4861 §7.1 makes invalid.
    NotNdp,
    /// Its destination is neither a group the host listens to nor the link-local address: the
    /// raw socket never sees it (issue 2920's unicast NUD probes).
    NotDelivered,
    /// An advertisement, not a solicitation (`dropReasonMessageType`).
    NotSolicitation,
    /// No Source Link-Layer Address option (`dropReasonNoSourceLL`).
    NoSourceLinkLayer,
    /// The target is no VIP this node announces.
    NotOurs,
}

/// MetalLB's NDP responder on one node.
#[derive(Debug, Clone)]
pub struct NdpResponder {
    config: NdpResponderConfig,
    link_local: Ipv6Addr,
    announced: BTreeSet<Ipv6Addr>,
    next_periodic: Option<SimTime>,
}

impl NdpResponder {
    /// A responder with nothing announced; its link-local address is the MAC's EUI-64 one.
    pub fn new(config: NdpResponderConfig) -> Self {
        NdpResponder {
            link_local: link_local_from_mac(config.mac),
            config,
            announced: BTreeSet::new(),
            next_periodic: None,
        }
    }

    /// The link-local address it answers from.
    pub fn link_local(&self) -> Ipv6Addr {
        self.link_local
    }

    /// The VIPs it announces, ascending.
    pub fn announced(&self) -> Vec<Ipv6Addr> {
        self.announced.iter().copied().collect()
    }

    /// Starts announcing `vip` (the node won its election, [`crate::election`]): `Watch` joins
    /// the solicited-node group and `Gratuitous` sends one unsolicited NA, Override set, to
    /// all nodes. Returns the frames to send.
    pub fn announce(&mut self, now: SimTime, vip: Ipv6Addr) -> Vec<EthernetFrame> {
        if !self.watch(vip) {
            return Vec::new();
        }
        if let (None, Some(every)) = (self.next_periodic, self.config.unsolicited_interval) {
            self.next_periodic = Some(now + every);
        }
        vec![self.unsolicited(vip)]
    }

    /// `Watch` alone: joins `vip`'s solicited-node group, so its solicitations reach the
    /// socket (the L2 speaker sends the unsolicited NAs itself, on its burst schedule).
    /// Returns whether it was new.
    pub fn watch(&mut self, vip: Ipv6Addr) -> bool {
        self.announced.insert(vip)
    }

    /// Stops announcing `vip` (`Unwatch`: the group is left).
    pub fn withdraw(&mut self, vip: Ipv6Addr) {
        self.announced.remove(&vip);
        if self.announced.is_empty() {
            self.next_periodic = None;
        }
    }

    /// The unsolicited NA for `vip` (`Gratuitous`).
    pub fn unsolicited(&self, vip: Ipv6Addr) -> EthernetFrame {
        NdpPacket::metallb_unsolicited(self.config.mac, self.link_local, vip)
            .frame(self.config.mac, MacAddr::ZERO)
    }

    /// When the periodic ticker next fires.
    pub fn next_timeout(&self) -> Option<SimTime> {
        self.next_periodic
    }

    /// Runs the periodic ticker if due: one unsolicited NA per announced VIP.
    pub fn timer(&mut self, now: SimTime) -> Vec<EthernetFrame> {
        let (Some(at), Some(every)) = (self.next_periodic, self.config.unsolicited_interval) else {
            return Vec::new();
        };
        if at > now {
            return Vec::new();
        }
        self.next_periodic = Some(at + every);
        self.announced
            .iter()
            .map(|&v| self.unsolicited(v))
            .collect()
    }

    /// What the node does with a frame from the wire: the NA to send, or why none.
    ///
    /// # Errors
    /// [`Ignored`]: the first reason the solicitation goes unanswered.
    pub fn receive(&self, frame: &EthernetFrame) -> Result<EthernetFrame, Ignored> {
        let packet = frame.to_ndp().map_err(|_| Ignored::NotNdp)?;
        packet.validate().map_err(|_| Ignored::NotNdp)?;
        // Groups the host listens to: all nodes, and the VIPs' solicited-node groups (the
        // node's own addresses' groups carry no solicitation for a VIP).
        let joined = packet.dst == ALL_NODES
            || (is_solicited_node(packet.dst)
                && self
                    .announced
                    .iter()
                    .any(|&vip| solicited_node(vip) == packet.dst));
        let unicast_to_vip = self.config.answer_unicast_solicitations
            && self.announced.contains(&packet.dst)
            && frame.dst == self.config.mac;
        if !(joined || packet.dst == self.link_local || unicast_to_vip) {
            return Err(Ignored::NotDelivered);
        }
        let NdpMessage::Solicitation { target, .. } = &packet.message else {
            return Err(Ignored::NotSolicitation);
        };
        let Some(requester) = packet.message.source_link_layer() else {
            return Err(Ignored::NoSourceLinkLayer);
        };
        if !self.announced.contains(target) {
            return Err(Ignored::NotOurs);
        }
        Ok(
            NdpPacket::metallb_reply(&packet, self.config.mac, self.link_local)
                .frame(self.config.mac, requester),
        )
    }
}

//! MetalLB's NDP responder: multicast solicitations answered, unicast NUD probes not (metallb
//! issue 2920) unless the option says so, no answer without a source link-layer address,
//! unsolicited NAs on takeover and periodically.

use std::net::Ipv6Addr;

use l2::ndp_responder::{Ignored, NdpResponder, NdpResponderConfig};
use l2::wire::{link_local_from_mac, MacAddr, NdpMessage, NdpOption, NdpPacket, ALL_NODES};
use sim_core::{SimDuration, SimTime};

const NODE_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x0a]);
const ROUTER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x01]);
const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xf0);
const ROUTER_GLOBAL: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

fn responder(config: NdpResponderConfig) -> NdpResponder {
    let mut r = NdpResponder::new(config);
    let frames = r.announce(SimTime::ZERO, VIP);
    assert_eq!(frames.len(), 1, "one unsolicited NA on takeover");
    r
}

fn router_ll() -> Ipv6Addr {
    link_local_from_mac(ROUTER_MAC)
}

#[test]
fn multicast_resolution_is_answered_as_metallb_does() {
    let r = responder(NdpResponderConfig::metallb(NODE_MAC));
    for src in [ROUTER_GLOBAL, router_ll()] {
        let ns = NdpPacket::solicit(ROUTER_MAC, src, VIP).frame(ROUTER_MAC, MacAddr::ZERO);
        let na = r.receive(&ns).expect("answered").to_ndp().unwrap();
        assert_eq!((na.src, na.dst), (r.link_local(), src));
        assert_eq!(
            na.message,
            NdpMessage::Advertisement {
                router: false,
                solicited: true,
                override_flag: false,
                target: VIP,
                options: vec![NdpOption::TargetLinkLayer(NODE_MAC)],
            }
        );
    }
}

/// Issue 2920: the router's NUD probes go to the VIP itself, unicast, and never reach the
/// socket bound to the link-local address, whatever their source.
#[test]
fn unicast_nud_probes_go_unanswered_unless_the_option_is_on() {
    let metallb = responder(NdpResponderConfig::metallb(NODE_MAC));
    let fixed = responder(NdpResponderConfig {
        answer_unicast_solicitations: true,
        ..NdpResponderConfig::metallb(NODE_MAC)
    });
    for src in [ROUTER_GLOBAL, router_ll()] {
        let probe = NdpPacket::probe(ROUTER_MAC, src, VIP).frame(ROUTER_MAC, NODE_MAC);
        assert_eq!(metallb.receive(&probe), Err(Ignored::NotDelivered));
        let na = fixed.receive(&probe).expect("answered").to_ndp().unwrap();
        assert_eq!(na.dst, src);
        assert_eq!(na.message.target(), VIP);
    }
    // A unicast NS to the node's own link-local address is delivered (the bound address).
    let mut to_ll = NdpPacket::probe(ROUTER_MAC, router_ll(), VIP);
    to_ll.dst = metallb.link_local();
    assert!(metallb.receive(&to_ll.frame(ROUTER_MAC, NODE_MAC)).is_ok());
}

#[test]
fn what_metallb_drops() {
    let r = responder(NdpResponderConfig::metallb(NODE_MAC));
    // Duplicate address detection: from ::, no SLLA.
    let dad = NdpPacket::solicit(ROUTER_MAC, Ipv6Addr::UNSPECIFIED, VIP);
    assert_eq!(
        r.receive(&dad.frame(ROUTER_MAC, MacAddr::ZERO)),
        Err(Ignored::NoSourceLinkLayer)
    );
    // Same solicited-node group (low 24 bits), other target.
    let other: Ipv6Addr = "2001:db8:1::f0".parse().unwrap();
    let ns = NdpPacket::solicit(ROUTER_MAC, ROUTER_GLOBAL, other);
    assert_eq!(
        r.receive(&ns.frame(ROUTER_MAC, MacAddr::ZERO)),
        Err(Ignored::NotOurs)
    );
    // An advertisement to all nodes reaches the socket but is no solicitation.
    let na = NdpPacket::metallb_unsolicited(ROUTER_MAC, router_ll(), VIP);
    assert_eq!(
        r.receive(&na.frame(ROUTER_MAC, MacAddr::ZERO)),
        Err(Ignored::NotSolicitation)
    );
    // Hop limit below 255: invalid (RFC 4861 §7.1.1).
    let mut far = NdpPacket::solicit(ROUTER_MAC, ROUTER_GLOBAL, VIP);
    far.hop_limit = 64;
    assert_eq!(
        r.receive(&far.frame(ROUTER_MAC, MacAddr::ZERO)),
        Err(Ignored::NotNdp)
    );
    // After withdrawing, nothing is answered.
    let mut gone = r.clone();
    gone.withdraw(VIP);
    let ns = NdpPacket::solicit(ROUTER_MAC, ROUTER_GLOBAL, VIP);
    assert_eq!(
        gone.receive(&ns.frame(ROUTER_MAC, MacAddr::ZERO)),
        Err(Ignored::NotDelivered)
    );
}

#[test]
fn unsolicited_nas_on_takeover_and_periodically() {
    let mut r = NdpResponder::new(NdpResponderConfig {
        unsolicited_interval: Some(SimDuration::from_secs(30)),
        ..NdpResponderConfig::metallb(NODE_MAC)
    });
    let first = r.announce(SimTime::ZERO, VIP);
    let na = first[0].to_ndp().unwrap();
    assert_eq!(na.dst, ALL_NODES);
    assert_eq!(first[0].dst, MacAddr([0x33, 0x33, 0, 0, 0, 1]));
    assert!(matches!(
        na.message,
        NdpMessage::Advertisement {
            solicited: false,
            override_flag: true,
            ..
        }
    ));
    assert!(
        r.announce(SimTime::ZERO, VIP).is_empty(),
        "already announced"
    );
    let at = r.next_timeout().unwrap();
    assert_eq!(at, SimTime::ZERO + SimDuration::from_secs(30));
    assert!(r.timer(SimTime(at.0 - 1)).is_empty());
    assert_eq!(r.timer(at).len(), 1);
    assert_eq!(
        r.next_timeout(),
        Some(SimTime::ZERO + SimDuration::from_secs(60))
    );
    r.withdraw(VIP);
    assert_eq!(r.next_timeout(), None);
}

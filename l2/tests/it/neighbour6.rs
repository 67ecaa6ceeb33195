//! The IPv6 neighbour cache, one test per rule of net/ipv6/ndisc.c (named in each test), and
//! metallb issue 2920's timeline with the real frames between a Linux router's cache and
//! MetalLB's NDP responder.

use std::net::Ipv6Addr;

use l2::ndp_responder::{Ignored, NdpResponder, NdpResponderConfig};
use l2::neighbour6::{
    AcceptUntrackedNa, DropReason, Input, Neighbour6Cache, Neighbour6Config, NudState, Output,
    PacketId,
};
use l2::nud::NudParams;
use l2::wire::{
    link_local_from_mac, multicast_mac, solicited_node, MacAddr, NdpMessage, NdpOption, NdpPacket,
    ALL_NODES,
};
use sim_core::{SimDuration, SimTime};

const ME: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x01]);
const ME_IP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xf0);
const OLD: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x0a]);
const NEW: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x0b]);

fn secs(s: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(s)
}

fn host() -> Neighbour6Config {
    Neighbour6Config::linux(ME, ME_IP, 64, 42)
}

fn router() -> Neighbour6Config {
    Neighbour6Config {
        forwarding: true,
        ..host()
    }
}

/// An NA for VIP from the node at `mac`, to us (solicited) or to all-nodes.
fn na(mac: MacAddr, solicited: bool, override_flag: bool, tlla: bool) -> Input {
    let dst = if solicited { ME_IP } else { ALL_NODES };
    let options = if tlla {
        vec![NdpOption::TargetLinkLayer(mac)]
    } else {
        Vec::new()
    };
    let packet = NdpPacket::new(
        link_local_from_mac(mac),
        dst,
        NdpMessage::Advertisement {
            router: false,
            solicited,
            override_flag,
            target: VIP,
            options,
        },
    );
    Input::NdpReceived {
        eth_dst: if solicited {
            ME
        } else {
            multicast_mac(ALL_NODES)
        },
        packet,
    }
}

fn send(id: u64) -> Input {
    Input::Send {
        ip: VIP,
        packet_id: PacketId(id),
    }
}

/// Runs the timers due up to `until`, returning their outputs with times.
fn run(cache: &mut Neighbour6Cache, until: SimTime) -> Vec<(SimTime, Output)> {
    let mut log = Vec::new();
    while let Some(t) = cache.next_timeout().filter(|t| *t <= until) {
        log.extend(cache.handle(t, Input::Timer).into_iter().map(|o| (t, o)));
    }
    log
}

/// A cache holding VIP -> OLD as REACHABLE (resolved at 0 s by a solicited NA).
fn resolved(cfg: Neighbour6Config) -> Neighbour6Cache {
    let mut cache = Neighbour6Cache::new(cfg);
    cache.handle(SimTime::ZERO, send(0));
    cache.handle(SimTime::ZERO, na(OLD, true, true, true));
    assert_eq!(cache.lookup(VIP), Some((NudState::Reachable, Some(OLD))));
    cache
}

/// ndisc_solicit: INCOMPLETE multicasts NS to the solicited-node group from the global
/// address with SLLA; a solicited NA resolves it and the queue leaves.
#[test]
fn resolution_multicasts_ns_and_a_solicited_na_makes_it_reachable() {
    let mut cache = Neighbour6Cache::new(host());
    let out = cache.handle(SimTime::ZERO, send(1));
    let solicit = Output::Solicit {
        target_ip: VIP,
        unicast_to: None,
    };
    assert_eq!(out.last(), Some(&solicit));
    let frame = cache.frame_for(&solicit).unwrap();
    assert_eq!(frame.dst, multicast_mac(solicited_node(VIP)));
    let ns = frame.to_ndp().unwrap();
    assert_eq!((ns.src, ns.dst), (ME_IP, solicited_node(VIP)));
    assert_eq!(ns.message.source_link_layer(), Some(ME));
    let out = cache.handle(secs(0), na(OLD, true, false, true));
    assert!(out.contains(&Output::Transmit {
        packet_id: PacketId(1),
        ip: VIP,
        mac: OLD
    }));
    assert_eq!(cache.lookup(VIP), Some((NudState::Reachable, Some(OLD))));
    // A link-local target is solicited from the link-local address.
    let ll = link_local_from_mac(OLD);
    let frame = cache
        .frame_for(&Output::Solicit {
            target_ip: ll,
            unicast_to: Some(OLD),
        })
        .unwrap();
    let probe = frame.to_ndp().unwrap();
    assert_eq!(
        (frame.dst, probe.src, probe.dst),
        (OLD, host().link_local, ll)
    );
}

/// nd_tbl's NUD: unanswered unicast probes end in FAILED and a queued packet is dropped; an NA
/// without TLLA does not resolve an INCOMPLETE entry (neigh_update: "No address is supplied").
#[test]
fn unanswered_resolution_fails_and_na_without_tlla_cannot_resolve() {
    let mut cache = Neighbour6Cache::new(host());
    cache.handle(SimTime::ZERO, send(1));
    assert!(cache.handle(secs(0), na(OLD, true, true, false)).is_empty());
    let log = run(&mut cache, secs(10));
    let solicits = log
        .iter()
        .filter(|(_, o)| matches!(o, Output::Solicit { .. }))
        .count();
    assert_eq!(solicits, 2, "3 multicast NS in all, 1 s apart");
    assert!(log.iter().any(|(t, o)| *t == secs(3)
        && *o
            == Output::Drop {
                packet_id: PacketId(1),
                ip: VIP,
                reason: DropReason::Unreachable
            }));
    assert_eq!(cache.lookup(VIP), Some((NudState::Failed, None)));
}

/// ndisc_recv_na: an unsolicited NA with Override (MetalLB's takeover NA) replaces the MAC
/// and leaves the entry STALE; without Override it turns REACHABLE into STALE keeping the old
/// MAC (NEIGH_UPDATE_F_WEAK_OVERRIDE) and is ignored by a STALE entry.
#[test]
fn override_flag_decides_whether_a_new_mac_is_taken() {
    let mut cache = resolved(host());
    cache.handle(secs(1), na(NEW, false, false, true));
    assert_eq!(cache.lookup(VIP), Some((NudState::Stale, Some(OLD))));
    cache.handle(secs(2), na(NEW, false, false, true));
    assert_eq!(cache.lookup(VIP), Some((NudState::Stale, Some(OLD))));
    let out = cache.handle(secs(3), na(NEW, false, true, true));
    assert!(out.contains(&Output::MacChanged {
        ip: VIP,
        from: Some(OLD),
        to: NEW
    }));
    assert_eq!(cache.lookup(VIP), Some((NudState::Stale, Some(NEW))));
    // Solicited with the same MAC and no TLLA: confirms (REACHABLE) the cached MAC.
    cache.handle(secs(4), na(NEW, true, false, false));
    assert_eq!(cache.lookup(VIP), Some((NudState::Reachable, Some(NEW))));
}

/// ndisc_recv_na: "if (neigh->nud_state & NUD_FAILED) goto out" — a FAILED entry learns
/// nothing from an NA, even an unsolicited one with Override; the next send resolves anew.
#[test]
fn failed_entry_ignores_advertisements() {
    let mut cache = Neighbour6Cache::new(host());
    cache.handle(SimTime::ZERO, send(1));
    run(&mut cache, secs(5));
    assert_eq!(cache.lookup(VIP), Some((NudState::Failed, None)));
    assert!(cache.handle(secs(6), na(NEW, false, true, true)).is_empty());
    assert_eq!(cache.lookup(VIP), Some((NudState::Failed, None)));
}

/// accept_untracked_na (RFC 9131): only a forwarding interface, only an NA with TLLA, and
/// per the sysctl (2: the source in the interface's prefix) creates a STALE entry.
#[test]
fn untracked_advertisements_create_entries_only_on_routers_that_accept_them() {
    let unsolicited = || na(NEW, false, true, true);
    for (cfg, created) in [
        (
            Neighbour6Config {
                accept_untracked_na: AcceptUntrackedNa::Always,
                ..host()
            },
            false,
        ),
        (router(), false),
        (
            Neighbour6Config {
                accept_untracked_na: AcceptUntrackedNa::Always,
                ..router()
            },
            true,
        ),
        (
            Neighbour6Config {
                // The NA comes from fe80::, in the link-local prefix.
                accept_untracked_na: AcceptUntrackedNa::SameSubnet,
                ..router()
            },
            true,
        ),
    ] {
        let mut cache = Neighbour6Cache::new(cfg.clone());
        cache.handle(secs(1), unsolicited());
        let expect = created.then_some((NudState::Stale, Some(NEW)));
        assert_eq!(cache.lookup(VIP), expect, "{cfg:?}");
        // A solicited NA creates no more than an unsolicited one ("new_state = NUD_STALE").
        let mut cache = Neighbour6Cache::new(cfg);
        cache.handle(secs(1), na(NEW, true, true, true));
        assert_eq!(cache.lookup(VIP), expect);
    }
    // SameSubnet with a global source outside 2001:db8::/64.
    let mut cache = Neighbour6Cache::new(Neighbour6Config {
        accept_untracked_na: AcceptUntrackedNa::SameSubnet,
        ..router()
    });
    let Input::NdpReceived {
        mut packet,
        eth_dst,
    } = unsolicited()
    else {
        unreachable!()
    };
    packet.src = "2001:db8:1::5".parse().unwrap();
    cache.handle(secs(1), Input::NdpReceived { packet, eth_dst });
    assert_eq!(cache.lookup(VIP), None);
    // Without TLLA nothing is created.
    let mut cache = Neighbour6Cache::new(Neighbour6Config {
        accept_untracked_na: AcceptUntrackedNa::Always,
        ..router()
    });
    cache.handle(secs(1), na(NEW, false, true, false));
    assert_eq!(cache.lookup(VIP), None);
}

/// drop_unsolicited_na: NAs without S are dropped before anything else (it "takes precedence
/// over accept_untracked_na"); solicited ones still count.
#[test]
fn drop_unsolicited_na_drops_takeover_advertisements() {
    let cfg = Neighbour6Config {
        drop_unsolicited_na: true,
        accept_untracked_na: AcceptUntrackedNa::Always,
        ..router()
    };
    let mut cache = resolved(cfg.clone());
    assert!(cache.handle(secs(1), na(NEW, false, true, true)).is_empty());
    assert_eq!(cache.lookup(VIP), Some((NudState::Reachable, Some(OLD))));
    cache.handle(secs(2), na(NEW, true, true, true));
    assert_eq!(cache.lookup(VIP), Some((NudState::Reachable, Some(NEW))));
    let mut fresh = Neighbour6Cache::new(cfg);
    fresh.handle(secs(1), na(NEW, false, true, true));
    assert_eq!(fresh.lookup(VIP), None);
}

/// The R flag (NEIGH_UPDATE_F_OVERRIDE_ISROUTER): an accepted NA sets the router flag; an NA
/// ignored for lack of Override does not change it.
#[test]
fn router_flag_follows_accepted_advertisements() {
    let mut cache = resolved(host());
    let with_r = |mac: MacAddr, override_flag: bool| {
        let Input::NdpReceived {
            mut packet,
            eth_dst,
        } = na(mac, true, override_flag, true)
        else {
            unreachable!()
        };
        if let NdpMessage::Advertisement { router, .. } = &mut packet.message {
            *router = true;
        }
        Input::NdpReceived { packet, eth_dst }
    };
    assert!(!cache.is_router(VIP));
    cache.handle(secs(1), na(OLD, false, false, true)); // to STALE, same MAC
    cache.handle(secs(2), with_r(NEW, false)); // other MAC, no override: ignored
    assert!(!cache.is_router(VIP));
    cache.handle(secs(3), with_r(OLD, false));
    assert!(cache.is_router(VIP));
    assert_eq!(cache.lookup(VIP), Some((NudState::Reachable, Some(OLD))));
}

/// ndisc_recv_ns: a multicast NS for our address caches the requester STALE and is answered
/// S=1, O=1 with TLLA; a unicast one S=1, O=0 without TLLA; a DAD NS to all-nodes, S=0.
#[test]
fn solicitations_for_our_address_are_answered_as_linux_does() {
    let mut cache = Neighbour6Cache::new(host());
    let peer: Ipv6Addr = "2001:db8::7".parse().unwrap();
    let ns = NdpPacket::solicit(OLD, peer, ME_IP);
    let out = cache.handle(
        secs(1),
        Input::NdpReceived {
            packet: ns,
            eth_dst: multicast_mac(solicited_node(ME_IP)),
        },
    );
    assert_eq!(cache.lookup(peer), Some((NudState::Stale, Some(OLD))));
    let answer = out.last().unwrap();
    let reply = cache.frame_for(answer).unwrap();
    assert_eq!(reply.dst, OLD);
    let reply = reply.to_ndp().unwrap();
    assert_eq!((reply.src, reply.dst), (ME_IP, peer));
    assert_eq!(
        reply.message,
        NdpMessage::Advertisement {
            router: false,
            solicited: true,
            override_flag: true,
            target: ME_IP,
            options: vec![NdpOption::TargetLinkLayer(ME)],
        }
    );
    let probe = NdpPacket::probe(OLD, peer, ME_IP);
    let out = cache.handle(
        secs(2),
        Input::NdpReceived {
            packet: probe,
            eth_dst: ME,
        },
    );
    let reply = cache
        .frame_for(out.last().unwrap())
        .unwrap()
        .to_ndp()
        .unwrap();
    assert!(matches!(
        reply.message,
        NdpMessage::Advertisement { solicited: true, override_flag: false, ref options, .. }
            if options.is_empty()
    ));
    let dad = NdpPacket::solicit(NEW, Ipv6Addr::UNSPECIFIED, ME_IP);
    let out = cache.handle(
        secs(3),
        Input::NdpReceived {
            packet: dad,
            eth_dst: multicast_mac(solicited_node(ME_IP)),
        },
    );
    let defend = cache.frame_for(&out[0]).unwrap();
    assert_eq!(defend.dst, multicast_mac(ALL_NODES));
    let defend = defend.to_ndp().unwrap();
    assert!(matches!(
        defend.message,
        NdpMessage::Advertisement {
            solicited: false,
            override_flag: true,
            ..
        }
    ));
    // Someone else's address, or a unicast frame for another MAC: nothing.
    let other = NdpPacket::solicit(OLD, peer, VIP);
    let to = multicast_mac(solicited_node(VIP));
    assert!(cache
        .handle(
            secs(4),
            Input::NdpReceived {
                packet: other,
                eth_dst: to
            }
        )
        .is_empty());
    let probe = NdpPacket::probe(OLD, peer, ME_IP);
    assert!(cache
        .handle(
            secs(4),
            Input::NdpReceived {
                packet: probe,
                eth_dst: NEW
            }
        )
        .is_empty());
}

/// ndisc_notify (ndisc_netdev_event NETDEV_UP) and NETDEV_NOTIFY_PEERS: unsolicited NAs with
/// Override for the global, then the link-local address.
#[test]
fn ndisc_notify_announces_every_address_on_link_up() {
    let mut quiet = Neighbour6Cache::new(host());
    assert!(quiet.handle(secs(1), Input::LinkUp).is_empty());
    assert_eq!(quiet.handle(secs(1), Input::NotifyPeers).len(), 2);
    let mut notify = Neighbour6Cache::new(Neighbour6Config {
        ndisc_notify: true,
        ..router()
    });
    let out = notify.handle(secs(1), Input::LinkUp);
    let targets: Vec<_> = out
        .iter()
        .map(|o| {
            let f = notify.frame_for(o).unwrap();
            assert_eq!(f.dst, multicast_mac(ALL_NODES));
            let p = f.to_ndp().unwrap();
            assert!(p.validate().is_ok());
            match p.message {
                NdpMessage::Advertisement {
                    router: true,
                    solicited: false,
                    override_flag: true,
                    target,
                    ..
                } => target,
                other => panic!("{other:?}"),
            }
        })
        .collect();
    assert_eq!(targets, [ME_IP, router().link_local]);
    // Another host takes the announced address over at once.
    let mut peer = Neighbour6Cache::new(Neighbour6Config::linux(OLD, VIP, 64, 1));
    peer.handle(
        SimTime::ZERO,
        Input::Send {
            ip: ME_IP,
            packet_id: PacketId(9),
        },
    );
    let frame = notify.frame_for(&out[0]).unwrap();
    let got = peer.handle(
        secs(1),
        Input::NdpReceived {
            packet: frame.to_ndp().unwrap(),
            eth_dst: frame.dst,
        },
    );
    assert!(got.contains(&Output::Transmit {
        packet_id: PacketId(9),
        ip: ME_IP,
        mac: ME
    }));
    assert!(peer.is_router(ME_IP));
}

/// metallb issue 2920 between a Linux router and MetalLB's responder, frame by frame: the
/// entry goes STALE, the next packet starts DELAY then PROBE, the three unicast NS to the VIP
/// never reach the link-local-bound socket, the entry FAILS; the next packet multicasts an
/// NS, which MetalLB answers. With the option that answers unicast NS the probe confirms the
/// entry and it never fails.
#[test]
fn issue_2920_probes_fail_against_metallb_and_succeed_with_the_option() {
    for answer_unicast in [false, true] {
        let mut responder = NdpResponder::new(NdpResponderConfig {
            answer_unicast_solicitations: answer_unicast,
            ..NdpResponderConfig::metallb(OLD)
        });
        responder.announce(SimTime::ZERO, VIP);
        let mut cache = Neighbour6Cache::new(router());
        let deliver = |cache: &mut Neighbour6Cache, now: SimTime, outs: Vec<Output>| {
            let mut failed = false;
            let mut queue = outs;
            while let Some(o) = queue.pop() {
                failed |= matches!(
                    o,
                    Output::StateChanged {
                        to: NudState::Failed,
                        ..
                    }
                );
                let Some(frame) = cache.frame_for(&o) else {
                    continue;
                };
                match responder.receive(&frame) {
                    Ok(reply) => {
                        let packet = reply.to_ndp().unwrap();
                        let input = Input::NdpReceived {
                            packet,
                            eth_dst: reply.dst,
                        };
                        queue.extend(cache.handle(now, input));
                    }
                    Err(why) => {
                        let probe = matches!(
                            o,
                            Output::Solicit {
                                unicast_to: Some(_),
                                ..
                            }
                        );
                        assert_eq!(probe, why == Ignored::NotDelivered, "{o:?} {why:?}");
                    }
                }
            }
            failed
        };
        let first = cache.handle(SimTime::ZERO, send(0));
        assert!(!deliver(&mut cache, SimTime::ZERO, first));
        assert_eq!(cache.lookup(VIP), Some((NudState::Reachable, Some(OLD))));
        // Traffic every 10 s (no upper-layer confirmation, as for forwarded traffic).
        let mut failures = 0;
        for i in 1..=30u64 {
            let now = secs(10 * i);
            while let Some(t) = cache.next_timeout().filter(|t| *t <= now) {
                let outs = cache.handle(t, Input::Timer);
                failures += u32::from(deliver(&mut cache, t, outs));
            }
            let outs = cache.handle(now, send(i));
            assert!(
                !outs.iter().any(|o| matches!(o, Output::Drop { .. })),
                "Linux keeps forwarding to the cached MAC while probing"
            );
            failures += u32::from(deliver(&mut cache, now, outs));
        }
        if answer_unicast {
            assert_eq!(failures, 0);
        } else {
            assert!(failures >= 3, "{failures} failures in 300 s");
        }
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[derive(Debug, Clone)]
    enum Step {
        Wait(u64),
        Send(u8),
        Confirm(u8),
        LinkUp,
        /// An NA for `target` from `mac` with the flags, TLLA or not, to us or all-nodes.
        Na {
            target: u8,
            mac: u8,
            flags: u8,
            tlla: bool,
            to_us: bool,
        },
        /// An NS from `src` for `target`, multicast or unicast, with SLLA or not.
        Ns {
            src: u8,
            target: u8,
            multicast: bool,
            slla: bool,
        },
    }

    fn ip(i: u8) -> Ipv6Addr {
        // Neighbours, our addresses, the unspecified address, one off-prefix.
        [
            VIP,
            Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 7),
            ME_IP,
            host().link_local,
            Ipv6Addr::UNSPECIFIED,
            Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 1),
        ][usize::from(i) % 6]
    }
    fn mac(i: u8) -> MacAddr {
        [OLD, NEW, ME][usize::from(i) % 3]
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u64..20_000).prop_map(Step::Wait),
            any::<u8>().prop_map(Step::Send),
            any::<u8>().prop_map(Step::Confirm),
            Just(Step::LinkUp),
            (
                any::<u8>(),
                any::<u8>(),
                0u8..8,
                any::<bool>(),
                any::<bool>()
            )
                .prop_map(|(target, mac, flags, tlla, to_us)| Step::Na {
                    target,
                    mac,
                    flags,
                    tlla,
                    to_us
                }),
            (any::<u8>(), any::<u8>(), any::<bool>(), any::<bool>()).prop_map(
                |(src, target, multicast, slla)| Step::Ns {
                    src,
                    target,
                    multicast,
                    slla
                }
            ),
        ]
    }

    fn accept() -> impl Strategy<Value = AcceptUntrackedNa> {
        prop_oneof![
            Just(AcceptUntrackedNa::Never),
            Just(AcceptUntrackedNa::Always),
            Just(AcceptUntrackedNa::SameSubnet)
        ]
    }

    proptest! {
        /// Packets leave once (sent or dropped), timers advance, every frame the cache asks
        /// for is a valid NDP packet, and a valid entry always has a MAC.
        #[test]
        fn any_input_sequence_keeps_the_invariants(
            steps in proptest::collection::vec(step(), 1..120),
            accept_untracked_na in accept(),
            forwarding in any::<bool>(),
            drop_unsolicited_na in any::<bool>(),
            ndisc_notify in any::<bool>(),
            unres_qlen in 0usize..4,
            seed in any::<u64>(),
        ) {
            let cfg = Neighbour6Config {
                accept_untracked_na, forwarding, drop_unsolicited_na, ndisc_notify, seed,
                nud: NudParams { unres_qlen, ..host().nud }, ..host()
            };
            let mut cache = Neighbour6Cache::new(cfg);
            let mut now = SimTime::ZERO;
            let mut next_packet = 0u64;
            let mut settled = BTreeSet::new();
            for step in steps {
                let input = match step {
                    Step::Wait(ms) => {
                        now += SimDuration::from_millis(ms);
                        while let Some(t) = cache.next_timeout().filter(|t| *t <= now) {
                            let out = cache.handle(t, Input::Timer);
                            prop_assert!(cache.next_timeout().is_none_or(|n| n > t), "timer did not advance");
                            check(&cache, &out, next_packet, &mut settled)?;
                        }
                        continue;
                    }
                    Step::Send(i) => {
                        next_packet += 1;
                        Input::Send { ip: ip(i), packet_id: PacketId(next_packet) }
                    }
                    Step::Confirm(i) => Input::Confirm { ip: ip(i) },
                    Step::LinkUp => Input::LinkUp,
                    Step::Na { target, mac: m, flags, tlla, to_us } => {
                        let options = if tlla { vec![NdpOption::TargetLinkLayer(mac(m))] } else { Vec::new() };
                        let message = NdpMessage::Advertisement {
                            router: flags & 1 != 0,
                            solicited: flags & 2 != 0,
                            override_flag: flags & 4 != 0,
                            target: ip(target),
                            options,
                        };
                        let dst = if to_us { ME_IP } else { ALL_NODES };
                        let packet = NdpPacket::new(link_local_from_mac(mac(m)), dst, message);
                        Input::NdpReceived { packet, eth_dst: if to_us { ME } else { multicast_mac(ALL_NODES) } }
                    }
                    Step::Ns { src, target, multicast, slla } => {
                        let mut packet = if multicast {
                            NdpPacket::solicit(OLD, ip(src), ip(target))
                        } else {
                            NdpPacket::probe(OLD, ip(src), ip(target))
                        };
                        if !slla {
                            if let NdpMessage::Solicitation { options, .. } = &mut packet.message {
                                options.clear();
                            }
                        }
                        let eth_dst = if multicast { multicast_mac(packet.dst) } else { ME };
                        Input::NdpReceived { packet, eth_dst }
                    }
                };
                let out = cache.handle(now, input);
                check(&cache, &out, next_packet, &mut settled)?;
            }
        }
    }

    fn check(
        cache: &Neighbour6Cache,
        out: &[Output],
        sent: u64,
        settled: &mut BTreeSet<PacketId>,
    ) -> Result<(), TestCaseError> {
        for o in out {
            match o {
                Output::Transmit { packet_id, .. } | Output::Drop { packet_id, .. } => {
                    prop_assert!((1..=sent).contains(&packet_id.0));
                    prop_assert!(settled.insert(*packet_id), "{packet_id:?} left twice");
                }
                Output::StateChanged { ip, to, .. } if to.is_valid() => {
                    prop_assert!(cache.lookup(*ip).is_some_and(|(_, m)| m.is_some()));
                }
                _ => {}
            }
            if let Some(frame) = cache.frame_for(o) {
                let packet = frame
                    .to_ndp()
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(packet.validate().is_ok(), "{packet:?}");
            }
        }
        Ok(())
    }
}

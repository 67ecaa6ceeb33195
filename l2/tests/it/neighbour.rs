//! Neighbour cache timelines: resolution, failover with and without gratuitous ARP, locktime,
//! arp_accept, queueing.

use std::net::Ipv4Addr;

use l2::neighbour::{
    ArpAccept, DropReason, Input, NeighbourCache, NeighbourConfig, NudState, Output, PacketId,
};
use l2::nud::NudParams;
use l2::wire::{Arp, ArpOp, EtherType, MacAddr};
use sim_core::{SimDuration, SimTime};

const ME: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x63]);
const ME_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const VIP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 240);
/// The node that announced the VIP first (dies in the failover tests).
const OLD: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x0a]);
/// The node that takes over.
const NEW: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x0b]);

fn ms(ms: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_millis(ms)
}
fn secs(s: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_secs(s)
}

fn config() -> NeighbourConfig {
    NeighbourConfig::linux(ME, ME_IP, 24, 42)
}

/// A unicast reply from `mac` for VIP, addressed to us (what the leader sends to a request).
fn reply_from(mac: MacAddr) -> Input {
    let request = Arp::request(ME, ME_IP, VIP);
    Input::ArpReceived {
        arp: Arp::reply_to(&request, mac),
        eth_dst: ME,
    }
}

/// MetalLB's gratuitous request and reply, both Ethernet broadcast.
fn metallb_garp(mac: MacAddr) -> [Input; 2] {
    [ArpOp::Request, ArpOp::Reply].map(|op| Input::ArpReceived {
        arp: Arp::metallb_gratuitous(op, mac, VIP),
        eth_dst: MacAddr::BROADCAST,
    })
}

/// Runs every timer due up to and including `until`, logging outputs with their time.
fn run_timers(cache: &mut NeighbourCache, until: SimTime, log: &mut Vec<(SimTime, Output)>) {
    while let Some(t) = cache.next_timeout().filter(|t| *t <= until) {
        for out in cache.handle(t, Input::Timer) {
            log.push((t, out));
        }
    }
}

fn feed(
    cache: &mut NeighbourCache,
    now: SimTime,
    input: Input,
    log: &mut Vec<(SimTime, Output)>,
) -> Vec<Output> {
    run_timers(cache, now, log);
    let out = cache.handle(now, input);
    log.extend(out.iter().cloned().map(|o| (now, o)));
    out
}

/// Resolves VIP -> OLD at `t`: a send, a broadcast request, a unicast reply 1 ms later.
fn resolved(cfg: NeighbourConfig, t: SimTime) -> (NeighbourCache, Vec<(SimTime, Output)>) {
    let mut cache = NeighbourCache::new(cfg);
    let mut log = Vec::new();
    feed(
        &mut cache,
        t,
        Input::Send {
            ip: VIP,
            packet_id: PacketId(0),
        },
        &mut log,
    );
    feed(
        &mut cache,
        t + SimDuration::from_millis(1),
        reply_from(OLD),
        &mut log,
    );
    assert_eq!(cache.lookup(VIP), Some((NudState::Reachable, Some(OLD))));
    (cache, log)
}

fn arp_requests(log: &[(SimTime, Output)]) -> Vec<(SimTime, Option<MacAddr>)> {
    log.iter()
        .filter_map(|(t, o)| match o {
            Output::Solicit {
                target_ip,
                unicast_to,
            } if *target_ip == VIP => Some((*t, *unicast_to)),
            _ => None,
        })
        .collect()
}

fn transitions(log: &[(SimTime, Output)]) -> Vec<(SimTime, Option<NudState>, NudState)> {
    log.iter()
        .filter_map(|(t, o)| match o {
            Output::StateChanged { ip, from, to } if *ip == VIP => Some((*t, *from, *to)),
            _ => None,
        })
        .collect()
}

#[test]
fn resolution_broadcasts_three_times_then_fails_and_drops_the_queue() {
    let mut cache = NeighbourCache::new(config());
    let mut log = Vec::new();
    let first = feed(
        &mut cache,
        secs(0),
        Input::Send {
            ip: VIP,
            packet_id: PacketId(1),
        },
        &mut log,
    );
    assert_eq!(
        first,
        [
            Output::StateChanged {
                ip: VIP,
                from: None,
                to: NudState::Incomplete
            },
            Output::Solicit {
                target_ip: VIP,
                unicast_to: None
            },
        ]
    );
    feed(
        &mut cache,
        ms(500),
        Input::Send {
            ip: VIP,
            packet_id: PacketId(2),
        },
        &mut log,
    );
    assert_eq!(cache.lookup(VIP), Some((NudState::Incomplete, None)));
    run_timers(&mut cache, secs(10), &mut log);
    assert_eq!(
        arp_requests(&log),
        [(secs(0), None), (secs(1), None), (secs(2), None)]
    );
    assert_eq!(
        transitions(&log).last(),
        Some(&(secs(3), Some(NudState::Incomplete), NudState::Failed))
    );
    let drops: Vec<_> = log
        .iter()
        .filter_map(|(t, o)| match o {
            Output::Drop {
                packet_id,
                reason: DropReason::Unreachable,
                ..
            } => Some((*t, *packet_id)),
            _ => None,
        })
        .collect();
    assert_eq!(drops, [(secs(3), PacketId(1)), (secs(3), PacketId(2))]);
    assert_eq!(
        cache.next_timeout().map(|t| t > secs(10)),
        Some(true),
        "only the table timer is left"
    );

    // The next packet starts a fresh broadcast resolution.
    let again = feed(
        &mut cache,
        secs(20),
        Input::Send {
            ip: VIP,
            packet_id: PacketId(3),
        },
        &mut log,
    );
    assert!(again.contains(&Output::Solicit {
        target_ip: VIP,
        unicast_to: None
    }));
    let answered = feed(&mut cache, ms(20_002), reply_from(NEW), &mut log);
    assert!(answered.contains(&Output::Transmit {
        packet_id: PacketId(3),
        ip: VIP,
        mac: NEW
    }));
}

#[test]
fn queue_keeps_the_newest_unres_qlen_packets() {
    let mut cache = NeighbourCache::new(NeighbourConfig {
        nud: NudParams {
            unres_qlen: 2,
            ..config().nud
        },
        ..config()
    });
    let mut log = Vec::new();
    for id in 1..=3 {
        feed(
            &mut cache,
            ms(id),
            Input::Send {
                ip: VIP,
                packet_id: PacketId(id),
            },
            &mut log,
        );
    }
    assert!(log.iter().any(|(_, o)| *o
        == Output::Drop {
            packet_id: PacketId(1),
            ip: VIP,
            reason: DropReason::QueueFull
        }));
    let out = feed(&mut cache, ms(10), reply_from(OLD), &mut log);
    let sent: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Transmit { packet_id, mac, .. } => Some((*packet_id, *mac)),
            _ => None,
        })
        .collect();
    assert_eq!(sent, [(PacketId(2), OLD), (PacketId(3), OLD)]);
}

#[test]
fn garp_accepting_client_switches_mac_at_once() {
    let (mut cache, mut log) = resolved(config(), secs(0));
    // The old leader dies at 10 s; the new one announces at 15 s.
    let [request, reply] = metallb_garp(NEW);
    let out = feed(&mut cache, secs(15), request, &mut log);
    assert_eq!(
        out,
        [
            Output::StateChanged {
                ip: VIP,
                from: Some(NudState::Reachable),
                to: NudState::Stale
            },
            Output::MacChanged {
                ip: VIP,
                from: Some(OLD),
                to: NEW
            },
        ]
    );
    // MetalLB's reply right behind it carries the same MAC: nothing more happens.
    assert_eq!(feed(&mut cache, secs(15), reply, &mut log), []);
    assert_eq!(cache.lookup(VIP), Some((NudState::Stale, Some(NEW))));

    // The next packet goes to the new node and starts DELAY; forward progress confirms it.
    let out = feed(
        &mut cache,
        ms(15_100),
        Input::Send {
            ip: VIP,
            packet_id: PacketId(9),
        },
        &mut log,
    );
    assert!(out.contains(&Output::Transmit {
        packet_id: PacketId(9),
        ip: VIP,
        mac: NEW
    }));
    feed(&mut cache, ms(15_200), Input::Confirm { ip: VIP }, &mut log);
    run_timers(&mut cache, secs(21), &mut log);
    assert_eq!(cache.lookup(VIP), Some((NudState::Reachable, Some(NEW))));
    assert!(arp_requests(&log).len() == 1, "no probe was needed");
}

#[test]
fn garp_request_overrides_even_inside_locktime() {
    let (mut cache, mut log) = resolved(config(), secs(0));
    let [request, reply] = metallb_garp(NEW);
    // MetalLB's reply alone is not gratuitous to the kernel (THA != SHA): locked out.
    assert_eq!(feed(&mut cache, ms(500), reply, &mut log), []);
    assert_eq!(cache.lookup(VIP), Some((NudState::Reachable, Some(OLD))));
    // The request is gratuitous: it overrides at once.
    feed(&mut cache, ms(600), request, &mut log);
    assert_eq!(cache.lookup(VIP), Some((NudState::Stale, Some(NEW))));
}

#[test]
fn locktime_keeps_the_first_answer_for_one_second() {
    let (mut cache, mut log) = resolved(config(), secs(0)); // updated at 1 ms
                                                            // A competing unicast reply inside locktime loses ("use the FIRST one").
    assert_eq!(feed(&mut cache, ms(900), reply_from(NEW), &mut log), []);
    // A same-MAC update is no change, so it does not move the window either.
    feed(&mut cache, ms(950), reply_from(OLD), &mut log);
    // After locktime the competing reply wins; unicast to us, so REACHABLE.
    let out = feed(&mut cache, ms(1_002), reply_from(NEW), &mut log);
    assert!(out.contains(&Output::MacChanged {
        ip: VIP,
        from: Some(OLD),
        to: NEW
    }));
    assert_eq!(cache.lookup(VIP), Some((NudState::Reachable, Some(NEW))));
    // And a broadcast reply after locktime changes the MAC but only to STALE.
    let [_, metallb_reply] = metallb_garp(OLD);
    feed(&mut cache, ms(2_100), metallb_reply, &mut log);
    assert_eq!(cache.lookup(VIP), Some((NudState::Stale, Some(OLD))));
}

/// The slow path: a client that ignores gratuitous ARP keeps sending to the dead node until
/// REACHABLE runs out, then STALE -> DELAY 5 s -> PROBE 3 x 1 s -> FAILED -> broadcast.
#[test]
fn garp_ignoring_client_keeps_the_dead_mac_until_nud_gives_up() {
    let cfg = NeighbourConfig {
        ignores_garp: true,
        ..config()
    };
    let (mut cache, mut log) = resolved(cfg, secs(0));
    let rt = cache.reachable_time();
    assert!(
        rt >= SimDuration::from_secs(15) && rt < SimDuration::from_secs(45),
        "{rt}"
    );

    // One packet a second; while the old node lives, each is confirmed by forward progress.
    let death = 20u64;
    let mut failed_at = None;
    let mut switched_at = None;
    for s in 1..200u64 {
        let now = secs(s);
        let out = feed(
            &mut cache,
            now,
            Input::Send {
                ip: VIP,
                packet_id: PacketId(s),
            },
            &mut log,
        );
        if s <= death {
            feed(&mut cache, now, Input::Confirm { ip: VIP }, &mut log);
        }
        if s == death + 1 {
            // The new leader's gratuitous ARP: dropped on receipt.
            for garp in metallb_garp(NEW) {
                assert_eq!(feed(&mut cache, now, garp, &mut log), []);
            }
        }
        if failed_at.is_none() {
            failed_at = transitions(&log)
                .iter()
                .find(|(_, _, to)| *to == NudState::Failed)
                .map(|(t, _, _)| *t);
        }
        if out.contains(&Output::Solicit {
            target_ip: VIP,
            unicast_to: None,
        }) {
            // The broadcast resolution: the new leader answers 1 ms later.
            let answered = feed(
                &mut cache,
                now + SimDuration::from_millis(1),
                reply_from(NEW),
                &mut log,
            );
            assert!(answered.contains(&Output::Transmit {
                packet_id: PacketId(s),
                ip: VIP,
                mac: NEW
            }));
            switched_at = Some(now);
            break;
        }
        // Until then every packet leaves for the dead MAC.
        assert!(
            out.contains(&Output::Transmit {
                packet_id: PacketId(s),
                ip: VIP,
                mac: OLD
            }),
            "at {s} s: {out:?}"
        );
    }

    // REACHABLE ends reachable_time after the last confirmation; the unused entry goes STALE.
    // At exactly confirmed + reachable_time the kernel still says "alive" (time_before_eq)
    // and re-arms at the HZ/100 floor, hence the extra 10 ms.
    let stale_at = secs(death) + rt + SimDuration::from_millis(10);
    let states: Vec<_> = transitions(&log).into_iter().skip(2).collect(); // after the resolution
    let delay_at = secs(stale_at.as_nanos().div_ceil(1_000_000_000)); // the next packet
    let probe_at = delay_at + SimDuration::from_secs(5);
    assert_eq!(
        states,
        [
            (stale_at, Some(NudState::Reachable), NudState::Stale),
            (delay_at, Some(NudState::Stale), NudState::Delay),
            (probe_at, Some(NudState::Delay), NudState::Probe),
            (
                probe_at + SimDuration::from_secs(3),
                Some(NudState::Probe),
                NudState::Failed
            ),
            (
                probe_at + SimDuration::from_secs(3),
                Some(NudState::Failed),
                NudState::Incomplete
            ),
            (
                probe_at + SimDuration::from_millis(3_001),
                Some(NudState::Incomplete),
                NudState::Reachable
            ),
        ]
    );
    // Three unicast probes to the dead MAC, 1 s apart, then the broadcast.
    let probes: Vec<_> = arp_requests(&log).into_iter().skip(1).collect();
    let second = SimDuration::from_secs(1);
    assert_eq!(
        probes,
        [
            (probe_at, Some(OLD)),
            (probe_at + second, Some(OLD)),
            (probe_at + second + second, Some(OLD)),
            (probe_at + SimDuration::from_secs(3), None),
        ]
    );
    assert_eq!(failed_at, Some(probe_at + SimDuration::from_secs(3)));
    // DESIGN.md's bound: up to about 45 + 5 + 3 s of the dead MAC (plus packet spacing).
    let outage = switched_at.unwrap() - secs(death);
    assert!(outage <= SimDuration::from_secs(45 + 5 + 3 + 1), "{outage}");
    assert_eq!(cache.lookup(VIP), Some((NudState::Reachable, Some(NEW))));
}

#[test]
fn reachable_goes_straight_to_delay_if_used_within_delay_first_probe_time() {
    // A short base so REACHABLE ends while the resolving send (the last `used`) is recent.
    let cfg = NeighbourConfig {
        nud: NudParams {
            base_reachable_time: SimDuration::from_secs(2),
            ..config().nud
        },
        ..config()
    };
    let (mut cache, mut log) = resolved(cfg, secs(0));
    run_timers(&mut cache, secs(4), &mut log);
    let states = transitions(&log);
    assert_eq!(states[2].1, Some(NudState::Reachable));
    assert_eq!(states[2].2, NudState::Delay);
}

#[test]
fn delay_with_confirmation_returns_to_reachable_without_probing() {
    let (mut cache, mut log) = resolved(config(), secs(0));
    let rt = cache.reachable_time();
    run_timers(
        &mut cache,
        secs(0) + rt + SimDuration::from_millis(20),
        &mut log,
    );
    assert_eq!(cache.lookup(VIP).map(|(s, _)| s), Some(NudState::Stale));
    feed(
        &mut cache,
        secs(60),
        Input::Send {
            ip: VIP,
            packet_id: PacketId(5),
        },
        &mut log,
    );
    feed(&mut cache, secs(62), Input::Confirm { ip: VIP }, &mut log);
    run_timers(&mut cache, secs(66), &mut log);
    assert_eq!(
        transitions(&log).last(),
        Some(&(secs(65), Some(NudState::Delay), NudState::Reachable))
    );
    assert_eq!(arp_requests(&log).len(), 1);
}

#[test]
fn arp_accept_decides_whether_unsolicited_arp_creates_entries() {
    let outside = Ipv4Addr::new(10, 9, 9, 9);
    let garp_from = |ip: Ipv4Addr| Input::ArpReceived {
        arp: Arp::metallb_gratuitous(ArpOp::Request, NEW, ip),
        eth_dst: MacAddr::BROADCAST,
    };
    let mut never = NeighbourCache::new(config());
    never.handle(secs(1), garp_from(VIP));
    assert_eq!(never.lookup(VIP), None, "arp_accept=0 creates nothing");

    let mut always = NeighbourCache::new(NeighbourConfig {
        arp_accept: ArpAccept::Always,
        ..config()
    });
    let out = always.handle(secs(1), garp_from(VIP));
    assert_eq!(
        out[0],
        Output::StateChanged {
            ip: VIP,
            from: None,
            to: NudState::Stale
        }
    );
    assert_eq!(always.lookup(VIP), Some((NudState::Stale, Some(NEW))));
    always.handle(secs(1), garp_from(outside));
    assert!(always.lookup(outside).is_some());
    // An unsolicited (non-gratuitous) reply also creates an entry under 1.
    let other = Ipv4Addr::new(192, 168, 1, 77);
    let unsolicited = Arp {
        op: ArpOp::Reply,
        sender_mac: OLD,
        sender_ip: other,
        target_mac: ME,
        target_ip: ME_IP,
    };
    always.handle(
        secs(2),
        Input::ArpReceived {
            arp: unsolicited.clone(),
            eth_dst: ME,
        },
    );
    assert_eq!(always.lookup(other), Some((NudState::Reachable, Some(OLD))));
    never.handle(
        secs(2),
        Input::ArpReceived {
            arp: unsolicited,
            eth_dst: ME,
        },
    );
    assert_eq!(never.lookup(other), None);

    let mut subnet = NeighbourCache::new(NeighbourConfig {
        arp_accept: ArpAccept::SameSubnet,
        ..config()
    });
    subnet.handle(secs(1), garp_from(VIP));
    subnet.handle(secs(1), garp_from(outside));
    assert!(subnet.lookup(VIP).is_some());
    assert_eq!(
        subnet.lookup(outside),
        None,
        "arp_accept=2: only the interface's subnet"
    );
}

#[test]
fn requests_for_our_address_are_answered_and_cache_the_requester() {
    let mut cache = NeighbourCache::new(config());
    let gw = Ipv4Addr::new(192, 168, 1, 1);
    let request = Arp::request(OLD, gw, ME_IP);
    let out = cache.handle(
        secs(1),
        Input::ArpReceived {
            arp: request.clone(),
            eth_dst: MacAddr::BROADCAST,
        },
    );
    let reply = Output::Answer {
        target_ip: gw,
        target_mac: OLD,
        own_ip: ME_IP,
        to_multicast: true,
    };
    assert_eq!(out.last(), Some(&reply));
    assert_eq!(cache.lookup(gw), Some((NudState::Stale, Some(OLD))));
    let frame = cache.frame_for(&reply).unwrap();
    assert_eq!(
        (frame.dst, frame.src, frame.ethertype),
        (OLD, ME, EtherType::Arp)
    );
    assert_eq!(frame.to_arp(), Ok(Arp::reply_to(&request, ME)));
    let probe = cache
        .frame_for(&Output::Solicit {
            target_ip: VIP,
            unicast_to: None,
        })
        .unwrap();
    assert_eq!(probe.dst, MacAddr::BROADCAST);
    assert_eq!(probe.to_arp(), Ok(Arp::request(ME, ME_IP, VIP)));
    // A duplicate-address probe for our address is defended.
    let dad = Arp::request(NEW, Ipv4Addr::UNSPECIFIED, ME_IP);
    let out = cache.handle(
        secs(2),
        Input::ArpReceived {
            arp: dad,
            eth_dst: MacAddr::BROADCAST,
        },
    );
    assert_eq!(
        out,
        [Output::Answer {
            target_ip: Ipv4Addr::UNSPECIFIED,
            target_mac: NEW,
            own_ip: ME_IP,
            to_multicast: true,
        }]
    );
}

#[test]
fn frames_for_other_hosts_and_odd_operations_are_ignored() {
    let (mut cache, mut log) = resolved(config(), secs(0));
    let request = Arp::request(ME, ME_IP, VIP);
    let to_someone_else = Input::ArpReceived {
        arp: Arp::reply_to(&request, NEW),
        eth_dst: OLD,
    };
    assert_eq!(feed(&mut cache, secs(5), to_someone_else, &mut log), []);
    let rarp = Arp {
        op: ArpOp::Unknown(3),
        ..Arp::metallb_gratuitous(ArpOp::Request, NEW, VIP)
    };
    assert_eq!(
        feed(
            &mut cache,
            secs(5),
            Input::ArpReceived {
                arp: rarp,
                eth_dst: MacAddr::BROADCAST
            },
            &mut log
        ),
        []
    );
    assert_eq!(cache.lookup(VIP).map(|(_, mac)| mac), Some(Some(OLD)));
}

#[test]
fn reachable_time_is_drawn_per_host_and_redrawn_every_315_s() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..200 {
        let cache = NeighbourCache::new(NeighbourConfig { seed, ..config() });
        let rt = cache.reachable_time();
        assert!(
            rt >= SimDuration::from_secs(15) && rt < SimDuration::from_secs(45),
            "{rt}"
        );
        seen.insert(rt.as_nanos() / 1_000_000_000);
    }
    assert!(seen.len() > 20, "draws spread over the range: {seen:?}");
    // Same seed, same draw: determinism.
    assert_eq!(
        NeighbourCache::new(config()).reachable_time(),
        NeighbourCache::new(config()).reachable_time()
    );

    let mut cache = NeighbourCache::new(config());
    let first = cache.reachable_time();
    assert_eq!(cache.next_timeout(), Some(secs(315)));
    assert_eq!(cache.handle(secs(315), Input::Timer), []);
    assert_ne!(cache.reachable_time(), first);
    assert_eq!(cache.next_timeout(), Some(secs(630)));
    // A wake-up with nothing due does nothing.
    assert_eq!(cache.handle(secs(400), Input::Timer), []);
    assert_eq!(cache.next_timeout(), Some(secs(630)));
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
        Arp {
            op: u16,
            sha: u8,
            spa: u8,
            tha: u8,
            tpa: u8,
            to_us: bool,
        },
    }

    fn ip(i: u8) -> Ipv4Addr {
        // A few neighbours, our own address, one outside the subnet, the broadcast.
        [
            VIP,
            Ipv4Addr::new(192, 168, 1, 1),
            ME_IP,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(192, 168, 1, 255),
        ][usize::from(i) % 5]
    }
    fn mac(i: u8) -> MacAddr {
        [OLD, NEW, ME, MacAddr::BROADCAST][usize::from(i) % 4]
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u64..20_000).prop_map(Step::Wait),
            any::<u8>().prop_map(Step::Send),
            any::<u8>().prop_map(Step::Confirm),
            (
                1u16..4,
                any::<u8>(),
                any::<u8>(),
                any::<u8>(),
                any::<u8>(),
                any::<bool>()
            )
                .prop_map(|(op, sha, spa, tha, tpa, to_us)| Step::Arp {
                    op,
                    sha,
                    spa,
                    tha,
                    tpa,
                    to_us
                }),
        ]
    }

    fn accept() -> impl Strategy<Value = ArpAccept> {
        prop_oneof![
            Just(ArpAccept::Never),
            Just(ArpAccept::Always),
            Just(ArpAccept::SameSubnet)
        ]
    }

    proptest! {
        #[test]
        fn any_input_sequence_keeps_the_invariants(
            steps in proptest::collection::vec(step(), 1..120),
            arp_accept in accept(),
            ignores_garp in any::<bool>(),
            unres_qlen in 0usize..4,
            seed in any::<u64>(),
        ) {
            let cfg = NeighbourConfig {
                arp_accept, ignores_garp, seed, nud: NudParams { unres_qlen, ..config().nud }, ..config()
            };
            let mut cache = NeighbourCache::new(cfg);
            let mut now = SimTime::ZERO;
            let mut next_packet = 0u64;
            let mut sent = BTreeSet::new();
            let mut settled = BTreeSet::new();
            for step in steps {
                let input = match step {
                    Step::Wait(ms) => {
                        now += SimDuration::from_millis(ms);
                        // Deliver every timer due by then, in order.
                        while let Some(t) = cache.next_timeout().filter(|t| *t <= now) {
                            let out = cache.handle(t, Input::Timer);
                            // (A match rather than `is_none_or`, which is newer than the MSRV.)
                            let advanced = match cache.next_timeout() {
                                Some(next) => next > t,
                                None => true,
                            };
                            prop_assert!(advanced, "timer did not advance");
                            check(&out, &sent, &mut settled)?;
                        }
                        continue;
                    }
                    Step::Send(i) => {
                        next_packet += 1;
                        sent.insert(PacketId(next_packet));
                        Input::Send { ip: ip(i), packet_id: PacketId(next_packet) }
                    }
                    Step::Confirm(i) => Input::Confirm { ip: ip(i) },
                    Step::Arp { op, sha, spa, tha, tpa, to_us } => Input::ArpReceived {
                        arp: Arp { op: ArpOp::from(op), sender_mac: mac(sha), sender_ip: ip(spa), target_mac: mac(tha), target_ip: ip(tpa) },
                        eth_dst: if to_us { ME } else { MacAddr::BROADCAST },
                    },
                };
                let out = cache.handle(now, input);
                check(&out, &sent, &mut settled)?;
                prop_assert!(cache.next_timeout().is_some(), "the table timer is always armed");
            }
        }
    }

    fn check(
        out: &[Output],
        sent: &BTreeSet<PacketId>,
        settled: &mut BTreeSet<PacketId>,
    ) -> Result<(), TestCaseError> {
        for o in out {
            match o {
                Output::Transmit { packet_id, .. } => {
                    prop_assert!(sent.contains(packet_id));
                    prop_assert!(settled.insert(*packet_id), "{packet_id:?} left twice");
                }
                Output::Drop { packet_id, .. } => {
                    prop_assert!(sent.contains(packet_id));
                    prop_assert!(settled.insert(*packet_id), "{packet_id:?} left twice");
                }
                _ => {}
            }
        }
        Ok(())
    }
}

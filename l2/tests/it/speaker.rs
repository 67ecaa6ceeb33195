//! The L2 speaker alone: gratuitous ARP schedule, leader changes, ARP replies, policies.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use l2::speaker::{
    Input, KubeNode, NodeLifecycle, Output, ServiceSpec, Speaker, SpeakerConfig, TrafficPolicy,
};
use l2::wire::{Arp, ArpOp, EthernetFrame, MacAddr};
use sim_core::{SimDuration, SimTime};

const VIP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 240);
const MAC_A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa]);
const MAC_C: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xc]);
const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x63]);
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);

fn ms(t: u64) -> SimTime {
    SimTime::ZERO + SimDuration::from_millis(t)
}

fn members(names: &[&str]) -> Input {
    Input::Members(names.iter().map(|n| n.to_string()).collect())
}

fn service(policy: TrafficPolicy, serving: &[&str]) -> ServiceSpec {
    ServiceSpec {
        name: "default/web".into(),
        ips: vec![VIP.into()],
        policy,
        serving_nodes: serving.iter().map(|n| n.to_string()).collect(),
    }
}

fn frames(out: &[Output]) -> Vec<EthernetFrame> {
    out.iter()
        .filter_map(|o| match o {
            Output::Frame(f) => Some(f.clone()),
            Output::Announcing { .. } => None,
        })
        .collect()
}

/// Runs `speaker` on its own timers up to `end`, returning (time, frames) per wake-up with
/// frames.
fn run(speaker: &mut Speaker, end: SimTime) -> Vec<(SimTime, Vec<EthernetFrame>)> {
    let mut bursts = Vec::new();
    while let Some(t) = speaker.next_timeout().filter(|t| *t <= end) {
        let out = speaker.handle(t, Input::Timer);
        let f = frames(&out);
        if !f.is_empty() {
            bursts.push((t, f));
        }
    }
    bursts
}

fn leader_a() -> Speaker {
    let mut a = Speaker::new(SpeakerConfig::metallb("node-a", MAC_A));
    a.handle(SimTime::ZERO, members(&["node-a", "node-b", "node-c"]));
    a
}

#[test]
fn takeover_sends_five_bursts_1100_ms_apart() {
    let mut a = leader_a();
    let out = a.handle(
        ms(0),
        Input::Service(service(TrafficPolicy::Cluster, &["node-b"])),
    );
    assert_eq!(
        out[0],
        Output::Announcing {
            ip: VIP.into(),
            leader: true
        }
    );
    // At once: request then reply, both broadcast from the node's MAC (arp.go Gratuitous).
    assert_eq!(
        frames(&out),
        Arp::metallb_gratuitous_frames(MAC_A, VIP).to_vec()
    );
    let first = frames(&out);
    assert_eq!(first[0].to_arp().unwrap().op, ArpOp::Request);
    assert_eq!(first[1].to_arp().unwrap().op, ArpOp::Reply);
    let later = run(&mut a, ms(20_000));
    let times: Vec<SimTime> = later.iter().map(|(t, _)| *t).collect();
    // The 5.5 s tick finds the 5 s end passed and stops the ticker.
    assert_eq!(times, [ms(1100), ms(2200), ms(3300), ms(4400)]);
    assert!(later.iter().all(|(_, f)| f.len() == 2));
    assert_eq!(a.next_timeout(), None);
}

#[test]
fn another_reconcile_extends_the_bursts() {
    let mut a = leader_a();
    a.handle(
        ms(0),
        Input::Service(service(TrafficPolicy::Cluster, &["node-b"])),
    );
    let mut times: Vec<SimTime> = run(&mut a, ms(3000)).iter().map(|(t, _)| *t).collect();
    // A membership event at 3 s: ForceSync calls SetBalancer again; no immediate burst (the
    // IP is still in the spam map), but the end moves to 8 s.
    let out = a.handle(ms(3000), members(&["node-a", "node-b"]));
    assert!(frames(&out).is_empty());
    times.extend(run(&mut a, ms(20_000)).iter().map(|(t, _)| *t));
    assert_eq!(
        times,
        [
            ms(1100),
            ms(2200),
            ms(3300),
            ms(4400),
            ms(5500),
            ms(6600),
            ms(7700)
        ]
    );
}

#[test]
fn leader_change_on_membership_change_and_silent_old_leader() {
    let svc = service(TrafficPolicy::Cluster, &["node-a", "node-b", "node-c"]);
    let mut a = leader_a();
    let mut c = Speaker::new(SpeakerConfig::metallb("node-c", MAC_C));
    c.handle(ms(0), members(&["node-a", "node-b", "node-c"]));
    assert!(!frames(&a.handle(ms(0), Input::Service(svc.clone()))).is_empty());
    assert!(frames(&c.handle(ms(0), Input::Service(svc.clone()))).is_empty());

    // node-a gone from node-c's memberlist: node-c (next in sha256 order) takes over at once.
    let out = c.handle(ms(6000), members(&["node-b", "node-c"]));
    assert_eq!(
        out[0],
        Output::Announcing {
            ip: VIP.into(),
            leader: true
        }
    );
    assert_eq!(
        frames(&out),
        Arp::metallb_gratuitous_frames(MAC_C, VIP).to_vec()
    );

    // node-a, still running, loses the election (here: it gets excluded from load
    // balancers). It stops at once, sends nothing, and its remaining ticks are empty.
    assert_eq!(frames(&a.handle(ms(1100), Input::Timer)).len(), 2);
    let out = a.handle(
        ms(1500),
        Input::Nodes(vec![
            KubeNode {
                excluded: true,
                ..KubeNode::new("node-a")
            },
            KubeNode::new("node-b"),
            KubeNode::new("node-c"),
        ]),
    );
    assert_eq!(
        out,
        [Output::Announcing {
            ip: VIP.into(),
            leader: false
        }]
    );
    assert!(run(&mut a, ms(20_000)).is_empty());
    assert!(!a.is_announcing(VIP));
}

fn request(dst: MacAddr, target: Ipv4Addr) -> EthernetFrame {
    EthernetFrame::arp(
        dst,
        CLIENT_MAC,
        &Arp::request(CLIENT_MAC, CLIENT_IP, target),
    )
}

#[test]
fn answers_arp_only_for_a_led_vip() {
    let mut a = leader_a();
    a.handle(
        ms(0),
        Input::Service(service(TrafficPolicy::Cluster, &["node-a"])),
    );
    let out = a.handle(ms(10), Input::Frame(request(MacAddr::BROADCAST, VIP)));
    let reply = Arp::reply_to(&Arp::request(CLIENT_MAC, CLIENT_IP, VIP), MAC_A);
    assert_eq!(
        out,
        [Output::Frame(EthernetFrame::arp(CLIENT_MAC, MAC_A, &reply))]
    );
    // Unicast to us (a PROBE-state probe) is answered too.
    assert_eq!(a.handle(ms(20), Input::Frame(request(MAC_A, VIP))).len(), 1);
    // Another IP, a unicast for another MAC, a reply: ignored.
    let other = Ipv4Addr::new(192, 168, 1, 241);
    assert!(a
        .handle(ms(30), Input::Frame(request(MacAddr::BROADCAST, other)))
        .is_empty());
    assert!(a
        .handle(ms(40), Input::Frame(request(MAC_C, VIP)))
        .is_empty());
    let reply_frame = EthernetFrame::arp(MacAddr::BROADCAST, CLIENT_MAC, &reply);
    assert!(a.handle(ms(50), Input::Frame(reply_frame)).is_empty());

    // A non-leader answers nothing.
    let mut c = Speaker::new(SpeakerConfig::metallb("node-c", MAC_C));
    c.handle(ms(0), members(&["node-a", "node-b", "node-c"]));
    c.handle(
        ms(0),
        Input::Service(service(TrafficPolicy::Cluster, &["node-a"])),
    );
    assert!(c
        .handle(ms(10), Input::Frame(request(MacAddr::BROADCAST, VIP)))
        .is_empty());
}

#[test]
fn local_policy_and_no_endpoints() {
    // Local: only nodes with a serving endpoint; node-a has none, so node-c leads.
    let mut c = Speaker::new(SpeakerConfig::metallb("node-c", MAC_C));
    c.handle(ms(0), members(&["node-a", "node-b", "node-c"]));
    c.handle(
        ms(0),
        Input::Service(service(TrafficPolicy::Local, &["node-b", "node-c"])),
    );
    assert!(c.is_announcing(VIP));
    // No serving endpoint anywhere: nobody announces, even under Cluster.
    let out = c.handle(ms(10), Input::Service(service(TrafficPolicy::Cluster, &[])));
    assert_eq!(
        out,
        [Output::Announcing {
            ip: VIP.into(),
            leader: false
        }]
    );
    // Deleting the service withdraws it.
    c.handle(
        ms(20),
        Input::Service(service(TrafficPolicy::Local, &["node-c"])),
    );
    assert!(c.is_announcing(VIP));
    let out = c.handle(
        ms(30),
        Input::ServiceDeleted {
            name: "default/web".into(),
        },
    );
    assert_eq!(
        out,
        [Output::Announcing {
            ip: VIP.into(),
            leader: false
        }]
    );
}

#[test]
fn without_memberlist_a_dead_node_stays_candidate_or_waits_for_kubernetes() {
    let nodes = || {
        vec![
            KubeNode::new("node-a"),
            KubeNode::new("node-b"),
            KubeNode::new("node-c"),
        ]
    };
    let config = SpeakerConfig {
        memberlist: false,
        ..SpeakerConfig::metallb("node-c", MAC_C)
    };
    let all: BTreeSet<String> = ["node-a", "node-b", "node-c"]
        .iter()
        .map(|s| s.to_string())
        .collect();

    // Cluster: node-a crashed, but its Node object remains; membership news is ignored, so
    // node-c never takes over (the IP stays on the dead node).
    let mut c = Speaker::new(config.clone());
    c.handle(ms(0), Input::Nodes(nodes()));
    c.handle(
        ms(0),
        Input::Service(service(TrafficPolicy::Cluster, &["node-b"])),
    );
    c.handle(ms(1000), members(&["node-b", "node-c"]));
    assert!(!c.is_announcing(VIP));

    // Local: node-a's endpoints stop serving when the node controller marks it NotReady.
    let mut c = Speaker::new(config);
    c.handle(ms(0), Input::Nodes(nodes()));
    let mut svc = service(TrafficPolicy::Local, &[]);
    svc.serving_nodes = all.clone();
    c.handle(ms(0), Input::Service(svc.clone()));
    assert!(!c.is_announcing(VIP));
    let crash = ms(1000);
    for (k8s, grace_s) in [(NodeLifecycle::K8S_1_31, 40), (NodeLifecycle::K8S_1_32, 50)] {
        let not_ready = k8s.endpoints_not_ready_at(crash);
        assert_eq!(not_ready, crash + SimDuration::from_secs(grace_s));
        assert_eq!(
            k8s.pods_evicted_at(crash),
            not_ready + SimDuration::from_secs(300)
        );
    }
    let not_ready = NodeLifecycle::K8S_1_31.endpoints_not_ready_at(crash);
    svc.serving_nodes.remove("node-a");
    let out = c.handle(not_ready, Input::Service(svc));
    assert_eq!(
        out[0],
        Output::Announcing {
            ip: VIP.into(),
            leader: true
        }
    );
    assert_eq!(frames(&out).len(), 2);
}

#[test]
fn two_ips_share_one_ticker() {
    let mut a = leader_a();
    a.handle(
        ms(0),
        Input::Service(service(TrafficPolicy::Cluster, &["node-a"])),
    );
    // A second service whose IP node-a also leads, added 500 ms later: its first burst is
    // immediate, the rest ride the existing ticker (1.1 s, 2.2 s, ... from time zero).
    let other = (0..=255u8)
        .map(|i| Ipv4Addr::new(10, 0, 0, i))
        .find(|ip| l2::election::leader(*ip, &["node-a", "node-b", "node-c"]) == Some("node-a"))
        .unwrap();
    let out = a.handle(
        ms(500),
        Input::Service(ServiceSpec {
            name: "default/api".into(),
            ips: vec![other.into()],
            policy: TrafficPolicy::Cluster,
            serving_nodes: ["node-a".to_string()].into(),
        }),
    );
    assert_eq!(frames(&out).len(), 2);
    let bursts = run(&mut a, ms(20_000));
    let per_tick: Vec<(SimTime, usize)> = bursts.iter().map(|(t, f)| (*t, f.len())).collect();
    // Ticks at 1.1..4.4 carry both IPs; the 5.5 s tick only the second (end 5.5 s: not
    // after), then 6.6 s finds both ended.
    assert_eq!(
        per_tick,
        [
            (ms(1100), 4),
            (ms(2200), 4),
            (ms(3300), 4),
            (ms(4400), 4),
            (ms(5500), 2)
        ]
    );
}

#[test]
fn periodic_gratuitous_arp_keeps_announcing_after_the_burst() {
    use l2::speaker::{Input, Output, ServiceSpec, Speaker, SpeakerConfig, TrafficPolicy};
    use l2::wire::MacAddr;
    use sim_core::{SimDuration, SimTime};
    let vip = std::net::Ipv4Addr::new(192, 168, 1, 240);
    let mut cfg = SpeakerConfig::metallb("node-a", MacAddr([2, 0, 0, 0, 0, 0xa]));
    cfg.gratuitous_arp_interval = Some(SimDuration::from_secs(60));
    let mut sp = Speaker::new(cfg);
    sp.handle(SimTime::ZERO, Input::Members(vec!["node-a".into()]));
    sp.handle(
        SimTime::ZERO,
        Input::Service(ServiceSpec {
            name: "default/web".into(),
            ips: vec![vip.into()],
            policy: TrafficPolicy::Cluster,
            serving_nodes: ["node-a".to_string()].into(),
        }),
    );
    // Run the timers for 200 s and collect when frames leave.
    let mut sent = Vec::new();
    while let Some(t) = sp.next_timeout().filter(|t| t.as_secs_f64() <= 200.0) {
        let n = sp
            .handle(t, Input::Timer)
            .iter()
            .filter(|o| matches!(o, Output::Frame(_)))
            .count();
        if n > 0 {
            sent.push((t.as_secs_f64(), n));
        }
    }
    // The takeover burst ends by 5 s; then one request and one reply every 60 s.
    let late: Vec<(f64, usize)> = sent.into_iter().filter(|(t, _)| *t > 6.0).collect();
    assert_eq!(late, vec![(60.0, 2), (120.0, 2), (180.0, 2)]);
}

#[test]
fn flood_blocking_drops_unknown_unicast_but_not_broadcast() {
    use l2::switch::{Delivery, PortId, Switch, SwitchConfig};
    use l2::wire::MacAddr;
    use sim_core::SimTime;
    let mut cfg = SwitchConfig::new(3);
    cfg.flood_unknown_unicast = false;
    let mut sw = Switch::new(cfg);
    let (a, b) = (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
    assert_eq!(
        sw.handle(SimTime::ZERO, PortId(0), a, b).delivery,
        Delivery::Dropped
    );
    assert_eq!(
        sw.handle(SimTime::ZERO, PortId(1), b, MacAddr::BROADCAST)
            .ports,
        vec![PortId(0), PortId(2)]
    );
    assert_eq!(
        sw.handle(SimTime::ZERO, PortId(0), a, b).ports,
        vec![PortId(1)]
    );
}

/// IPv6 and dual-stack services (announcer.go `gratuitous`/`SetBalancer` pick the NDP
/// responder for an IP whose `To4()` is nil; layer2_controller.go elects on `toAnnounce[0]`).
mod ipv6 {
    use std::net::{IpAddr, Ipv6Addr};

    use l2::election::leader;
    use l2::neighbour6::{Input as CacheIn, Neighbour6Cache, Neighbour6Config, NudState};
    use l2::wire::{multicast_mac, NdpMessage, NdpOption, NdpPacket, ALL_NODES};

    use super::*;

    const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xf0);
    const ROUTER_IP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

    fn nodes() -> [&'static str; 3] {
        ["node-a", "node-b", "node-c"]
    }

    fn with_ips(ips: Vec<IpAddr>) -> ServiceSpec {
        ServiceSpec {
            ips,
            ..service(TrafficPolicy::Cluster, &["node-b"])
        }
    }

    /// The elected node of `ips` among the three, and its speaker with the service.
    fn elected(ips: Vec<IpAddr>, config: impl Fn(&str, MacAddr) -> SpeakerConfig) -> Speaker {
        let name = leader(ips[0], &nodes()).unwrap();
        let mut sp = Speaker::new(config(name, MAC_A));
        sp.handle(SimTime::ZERO, members(&nodes()));
        let out = sp.handle(SimTime::ZERO, Input::Service(with_ips(ips.clone())));
        for ip in ips {
            assert!(out.contains(&Output::Announcing { ip, leader: true }));
        }
        sp
    }

    fn unsolicited_na(frame: &EthernetFrame) -> Option<Ipv6Addr> {
        let p = frame.to_ndp().ok()?;
        match p.message {
            NdpMessage::Advertisement {
                solicited: false,
                override_flag: true,
                target,
                ref options,
                ..
            } if p.dst == ALL_NODES
                && frame.dst == multicast_mac(ALL_NODES)
                && options == &[NdpOption::TargetLinkLayer(MAC_A)] =>
            {
                Some(target)
            }
            _ => None,
        }
    }

    #[test]
    fn takeover_sends_five_unsolicited_na_bursts_for_an_ipv6_vip() {
        let name = leader(VIP6, &nodes()).unwrap();
        let mut sp = Speaker::new(SpeakerConfig::metallb(name, MAC_A));
        sp.handle(SimTime::ZERO, members(&nodes()));
        let first = sp.handle(ms(0), Input::Service(with_ips(vec![VIP6.into()])));
        let mut bursts = vec![(ms(0), frames(&first))];
        bursts.extend(run(&mut sp, ms(10_000)));
        let bursts: Vec<_> = bursts.into_iter().filter(|(_, f)| !f.is_empty()).collect();
        let times: Vec<u64> = bursts
            .iter()
            .map(|(t, _)| t.as_nanos() / 1_000_000)
            .collect();
        assert_eq!(times, [0, 1100, 2200, 3300, 4400]);
        for (_, f) in &bursts {
            assert_eq!(f.len(), 1, "one NA per burst, no ARP");
            assert_eq!(unsolicited_na(&f[0]), Some(VIP6));
        }
    }

    #[test]
    fn the_leader_answers_multicast_ns_but_not_unicast_probes_unless_configured() {
        for answer in [false, true] {
            let mut sp = elected(vec![VIP6.into()], |n, m| SpeakerConfig {
                answer_unicast_solicitations: answer,
                ..SpeakerConfig::metallb(n, m)
            });
            run(&mut sp, ms(10_000)); // the takeover bursts are over
            let ns =
                NdpPacket::solicit(CLIENT_MAC, ROUTER_IP, VIP6).frame(CLIENT_MAC, MacAddr::ZERO);
            let out = sp.handle(ms(10_000), Input::Frame(ns));
            let na = frames(&out)[0].to_ndp().unwrap();
            assert!(matches!(
                na.message,
                NdpMessage::Advertisement {
                    solicited: true,
                    ..
                }
            ));
            let probe = NdpPacket::probe(CLIENT_MAC, ROUTER_IP, VIP6).frame(CLIENT_MAC, MAC_A);
            let out = sp.handle(ms(10_000), Input::Frame(probe));
            assert_eq!(frames(&out).len(), usize::from(answer), "issue 2920");
        }
        // A node that does not lead the VIP answers nothing.
        let follower = nodes()
            .into_iter()
            .find(|n| Some(*n) != leader(VIP6, &nodes()))
            .unwrap();
        let mut sp = Speaker::new(SpeakerConfig::metallb(follower, MAC_C));
        sp.handle(SimTime::ZERO, members(&nodes()));
        let out = sp.handle(ms(0), Input::Service(with_ips(vec![VIP6.into()])));
        assert!(out.is_empty());
        let ns = NdpPacket::solicit(CLIENT_MAC, ROUTER_IP, VIP6).frame(CLIENT_MAC, MacAddr::ZERO);
        assert!(sp.handle(ms(10), Input::Frame(ns)).is_empty());
    }

    /// A dual-stack service is elected on its first IP and announced on both: ARP for the
    /// IPv4 one, NDP for the IPv6 one, in one burst.
    #[test]
    fn dual_stack_services_are_elected_on_the_first_ip_and_announce_both() {
        for ips in [
            vec![IpAddr::from(VIP), VIP6.into()],
            vec![VIP6.into(), IpAddr::from(VIP)],
        ] {
            let mut sp = Speaker::new(SpeakerConfig::metallb("node-a", MAC_A));
            sp.handle(SimTime::ZERO, members(&nodes()));
            let out = sp.handle(ms(0), Input::Service(with_ips(ips.clone())));
            let leads = leader(ips[0], &nodes()) == Some("node-a");
            assert_eq!(sp.is_announcing(VIP), leads);
            assert_eq!(sp.is_announcing(VIP6), leads);
            if leads {
                let f = frames(&out);
                assert_eq!(f.iter().filter(|f| f.to_arp().is_ok()).count(), 2);
                assert_eq!(
                    f.iter().filter_map(unsolicited_na).collect::<Vec<_>>(),
                    [VIP6]
                );
            }
        }
        // The two orders elect differently for some node set: the key is really the first IP.
        let differs = (0..20).any(|i| {
            let names: Vec<String> = (0..3).map(|n| format!("node-{i}-{n}")).collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            leader(VIP, &refs) != leader(VIP6, &refs)
        });
        assert!(differs);
    }

    /// Failover over IPv6: the new leader's unsolicited NA (Override) moves a router's
    /// REACHABLE entry to the new MAC at once.
    #[test]
    fn takeover_na_moves_a_linux_routers_entry() {
        let mut router = Neighbour6Cache::new(Neighbour6Config {
            forwarding: true,
            ..Neighbour6Config::linux(CLIENT_MAC, ROUTER_IP, 64, 3)
        });
        router.handle(
            SimTime::ZERO,
            CacheIn::Send {
                ip: VIP6,
                packet_id: l2::neighbour6::PacketId(1),
            },
        );
        let old = NdpPacket::metallb_unsolicited(MAC_C, "fe80::c".parse().unwrap(), VIP6);
        router.handle(
            ms(1),
            CacheIn::NdpReceived {
                packet: old,
                eth_dst: multicast_mac(ALL_NODES),
            },
        );
        assert_eq!(router.lookup(VIP6), Some((NudState::Stale, Some(MAC_C))));
        let mut sp = Speaker::new(SpeakerConfig::metallb(
            leader(VIP6, &nodes()).unwrap(),
            MAC_A,
        ));
        sp.handle(SimTime::ZERO, members(&nodes()));
        let out = sp.handle(ms(5), Input::Service(with_ips(vec![VIP6.into()])));
        assert_eq!(sp.announced_ips(), [IpAddr::from(VIP6)]);
        let na = frames(&out).remove(0);
        router.handle(
            ms(5),
            CacheIn::NdpReceived {
                packet: na.to_ndp().unwrap(),
                eth_dst: na.dst,
            },
        );
        assert_eq!(router.lookup(VIP6), Some((NudState::Stale, Some(MAC_A))));
    }
}

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
        ip: VIP,
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
            ip: VIP,
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
            ip: VIP,
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
            ip: VIP,
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
            ip: VIP,
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
            ip: VIP,
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
            ip: VIP,
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
            ip: other,
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
            ip: vip,
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

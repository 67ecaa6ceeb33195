//! metallb issue 2920 over an hour: a Linux router (its IPv6 neighbour cache, forwarding on)
//! sends a packet to an IPv6 VIP every 100 ms; the VIP's MetalLB L2 speaker answers NDP as
//! MetalLB does, or with the option that answers unicast solicitations, or with periodic
//! unsolicited NAs (metallb PR 3125's `--gratuitous-arp-interval`). Frames go between the two
//! machines with no delay; every frame is kept and the first two minutes go through tshark.
//!
//! What the model shows: with MetalLB's behaviour the router's entry cycles REACHABLE -> STALE
//! -> DELAY -> PROBE -> FAILED (three unanswered unicast NS) about once per reachable_time +
//! delay_first_probe_time + ucast_solicit x retrans_time (15..45 s + 5 s + 3 s), then the next
//! packet resolves it again by multicast, which MetalLB answers. A Linux router keeps
//! forwarding to the cached MAC while probing and queues during the re-resolution, so no packet
//! is lost here; the periodic unsolicited NA does not prevent the cycle either, because an NA
//! with the cached MAC and no Solicited flag leaves the state as it is (neigh_update: "do not
//! change entry state, if new one is STALE"). Answering unicast NS does.

use std::net::Ipv6Addr;

use bytes::BytesMut;
use l2::neighbour6::{
    Input as CacheIn, Neighbour6Cache, Neighbour6Config, NudState, Output, PacketId,
};
use l2::speaker::{self, ServiceSpec, Speaker, SpeakerConfig, TrafficPolicy};
use l2::wire::{EthernetFrame, MacAddr};
use sim_core::pcap::PcapWriter;
use sim_core::{SimDuration, SimTime};

const ROUTER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x01]);
const NODE_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x0a]);
const ROUTER_IP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xf0);

#[derive(Debug, Default, PartialEq)]
struct Hour {
    /// Times the router's entry went FAILED.
    failed: u32,
    /// Packets the router dropped.
    dropped: u32,
    /// Unicast NS the router sent (NUD probes).
    probes: u32,
    /// Multicast NS (resolutions).
    resolutions: u32,
}

fn run(config: SpeakerConfig, until: SimTime, frames: &mut Vec<(SimTime, EthernetFrame)>) -> Hour {
    let mut router = Neighbour6Cache::new(Neighbour6Config {
        forwarding: true,
        ..Neighbour6Config::linux(ROUTER_MAC, ROUTER_IP, 64, 2920)
    });
    let mut node = Speaker::new(config);
    node.handle(
        SimTime::ZERO,
        speaker::Input::Members(vec!["node-a".into()]),
    );
    let mut hour = Hour::default();
    let mut to_router: Vec<EthernetFrame> = speaker_frames(node.handle(
        SimTime::ZERO,
        speaker::Input::Service(ServiceSpec {
            name: "default/web".into(),
            ips: vec![VIP.into()],
            policy: TrafficPolicy::Cluster,
            serving_nodes: ["node-a".to_string()].into(),
        }),
    ));
    let tick = SimDuration::from_millis(100);
    let mut next_send = SimTime::ZERO;
    let mut id = 0;
    loop {
        // The earliest of: the next packet, the router's timer, the speaker's timer.
        let now = [Some(next_send), router.next_timeout(), node.next_timeout()]
            .into_iter()
            .flatten()
            .min()
            .unwrap();
        if now > until {
            return hour;
        }
        let mut outs = Vec::new();
        if router.next_timeout().is_some_and(|t| t <= now) {
            outs.extend(router.handle(now, CacheIn::Timer));
        }
        if node.next_timeout().is_some_and(|t| t <= now) {
            to_router.extend(speaker_frames(node.handle(now, speaker::Input::Timer)));
        }
        if next_send <= now {
            id += 1;
            outs.extend(router.handle(
                now,
                CacheIn::Send {
                    ip: VIP,
                    packet_id: PacketId(id),
                },
            ));
            next_send = now + tick;
        }
        // Exchange frames until both sides are quiet.
        loop {
            for o in outs.drain(..) {
                match &o {
                    Output::StateChanged {
                        to: NudState::Failed,
                        ..
                    } => hour.failed += 1,
                    Output::Drop { .. } => hour.dropped += 1,
                    Output::Solicit {
                        unicast_to: Some(_),
                        ..
                    } => hour.probes += 1,
                    Output::Solicit {
                        unicast_to: None, ..
                    } => hour.resolutions += 1,
                    _ => {}
                }
                if let Some(f) = router.frame_for(&o) {
                    frames.push((now, f.clone()));
                    to_router.extend(speaker_frames(node.handle(now, speaker::Input::Frame(f))));
                }
            }
            if to_router.is_empty() {
                break;
            }
            for f in std::mem::take(&mut to_router) {
                frames.push((now, f.clone()));
                let packet = f
                    .to_ndp()
                    .expect("the speaker sends only NDP for an IPv6 VIP");
                outs.extend(router.handle(
                    now,
                    CacheIn::NdpReceived {
                        packet,
                        eth_dst: f.dst,
                    },
                ));
            }
        }
    }
}

fn speaker_frames(out: Vec<speaker::Output>) -> Vec<EthernetFrame> {
    out.into_iter()
        .filter_map(|o| match o {
            speaker::Output::Frame(f) => Some(f),
            speaker::Output::Announcing { .. } => None,
        })
        .collect()
}

fn metallb() -> SpeakerConfig {
    SpeakerConfig::metallb("node-a", NODE_MAC)
}

#[test]
fn an_hour_of_issue_2920_with_each_speaker_behaviour() {
    let hour = SimTime::ZERO + SimDuration::from_secs(3600);
    let mut frames = Vec::new();
    let upstream = run(metallb(), hour, &mut frames);
    let answering = run(
        SpeakerConfig {
            answer_unicast_solicitations: true,
            ..metallb()
        },
        hour,
        &mut Vec::new(),
    );
    let periodic = run(
        SpeakerConfig {
            gratuitous_arp_interval: Some(SimDuration::from_secs(10)),
            ..metallb()
        },
        hour,
        &mut Vec::new(),
    );
    eprintln!("per hour: metallb {upstream:?}\n answer-unicast {answering:?}\n periodic-na-10s {periodic:?}");
    // One cycle per 15..45 s + 8 s: between 3600/53 and 3600/23 failures.
    assert!((67..=157).contains(&upstream.failed), "{upstream:?}");
    assert_eq!(upstream.probes, 3 * upstream.failed);
    assert_eq!(upstream.resolutions, upstream.failed + 1);
    assert_eq!(
        upstream.dropped, 0,
        "Linux forwards while probing and queues while resolving"
    );
    assert_eq!(answering.failed, 0, "{answering:?}");
    assert_eq!(answering.resolutions, 1);
    assert!(
        answering.probes > 0,
        "the entry still goes STALE and is probed, successfully"
    );
    assert!(
        periodic.failed > 0,
        "unsolicited NAs with the same MAC do not stop NUD: {periodic:?}"
    );

    // The first two minutes of MetalLB's run through tshark.
    let Some(tshark) = testkit::or_skip(testkit::program("tshark", "tshark")) else {
        return;
    };
    let end = SimTime::ZERO + SimDuration::from_secs(120);
    let mut pcap = PcapWriter::new(Vec::new()).unwrap();
    let mut kept = 0;
    for (t, f) in frames.iter().filter(|(t, _)| *t <= end) {
        let mut b = BytesMut::new();
        f.encode(&mut b);
        pcap.write_frame(*t, &b).unwrap();
        kept += 1;
    }
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("l2-issue2920.pcap");
    std::fs::write(&path, pcap.into_inner()).unwrap();
    let text = testkit::tshark_verbose(&tshark, &[], &path);
    let dump = || format!("tshark -V output:\n{text}");
    assert_eq!(
        text.matches("Internet Protocol Version 6").count(),
        kept,
        "{}",
        dump()
    );
    assert_eq!(
        text.matches("[Checksum Status: Good]").count(),
        kept,
        "{}",
        dump()
    );
    assert!(
        text.contains("Type: Neighbor Solicitation (135)"),
        "{}",
        dump()
    );
    assert!(
        text.contains("Type: Neighbor Advertisement (136)"),
        "{}",
        dump()
    );
    assert!(!text.contains("Malformed"), "{}", dump());
    assert!(!text.contains("[Expert Info (Error"), "{}", dump());
}

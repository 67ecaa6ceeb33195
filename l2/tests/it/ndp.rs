//! NDP codec (RFC 4861): frames captured from the real `ndisc6` tool and the Linux kernel's
//! answers decode and re-encode byte for byte; MetalLB's NAs have the layout its source gives;
//! round trips over the whole value space; the decoder never panics; tshark reads the frames
//! with good checksums and nothing malformed.

use std::net::Ipv6Addr;

use bytes::BytesMut;
use l2::wire::{
    icmpv6_checksum, is_solicited_node, link_local_from_mac, multicast_mac, solicited_node,
    DecodeError, EtherType, EthernetFrame, MacAddr, NdpInvalid, NdpMessage, NdpOption, NdpPacket,
    ALL_NODES,
};
use proptest::prelude::*;
use sim_core::pcap::PcapWriter;
use sim_core::SimTime;

fn unhex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn encode(frame: &EthernetFrame) -> Vec<u8> {
    let mut buf = BytesMut::new();
    frame.encode(&mut buf);
    buf.to_vec()
}

const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x63]);
const NODE_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0x0a]);
const CLIENT_IP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10);
const TARGET: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xf0);

// Captured with tshark on a veth pair between two network namespaces (Linux 6.x, Debian 12):
// `ndisc6 -1 -s 2001:db8::10 2001:db8::f0 va` from 02:00:00:00:00:63 and `ndisc6 -1
// 2001:db8::f0 va` (source chosen by the kernel: the link-local address), each followed by the
// kernel's NA from 02:00:00:00:00:0a, which owns 2001:db8::f0.

/// ndisc6's NS from the global address: multicast to ff02::1:ff00:f0, flow label 0xed0b9
/// (the kernel's auto flow label), SLLA option.
const NDISC6_NS_GLOBAL: &str = "33 33 ff 00 00 f0 02 00 00 00 00 63 86 dd 60 0e d0 b9 00 20 3a ff
    20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 10 ff 02 00 00 00 00 00 00 00 00 00 01 ff 00 00 f0
    87 00 19 da 00 00 00 00 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 f0 01 01 02 00 00 00 00 63";
/// The kernel's answer: unicast, S and O set, TLLA option, flow label 0.
const KERNEL_NA_GLOBAL: &str = "02 00 00 00 00 63 02 00 00 00 00 0a 86 dd 60 00 00 00 00 20 3a ff
    20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 f0 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 10
    88 00 88 7e 60 00 00 00 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 f0 02 01 02 00 00 00 00 0a";
/// ndisc6's NS from the link-local fe80::ff:fe00:63 (EUI-64 of 02:00:00:00:00:63).
const NDISC6_NS_LINK_LOCAL: &str = "33 33 ff 00 00 f0 02 00 00 00 00 63 86 dd 60 07 7b 98 00 20 3a ff
    fe 80 00 00 00 00 00 00 00 00 00 ff fe 00 00 63 ff 02 00 00 00 00 00 00 00 00 00 01 ff 00 00 f0
    87 00 49 bf 00 00 00 00 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 f0 01 01 02 00 00 00 00 63";
/// The kernel's answer to it, to the link-local address.
const KERNEL_NA_LINK_LOCAL: &str = "02 00 00 00 00 63 02 00 00 00 00 0a 86 dd 60 00 00 00 00 20 3a ff
    20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 f0 fe 80 00 00 00 00 00 00 00 00 00 ff fe 00 00 63
    88 00 b8 63 60 00 00 00 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 f0 02 01 02 00 00 00 00 0a";

fn decode_frame(hex: &str) -> (EthernetFrame, NdpPacket) {
    let frame = EthernetFrame::decode(&unhex(hex)).unwrap();
    assert_eq!(frame.ethertype, EtherType::Ipv6);
    let packet = frame.to_ndp().unwrap();
    (frame, packet)
}

#[test]
fn captured_frames_decode_and_re_encode_byte_for_byte() {
    for hex in [
        NDISC6_NS_GLOBAL,
        KERNEL_NA_GLOBAL,
        NDISC6_NS_LINK_LOCAL,
        KERNEL_NA_LINK_LOCAL,
    ] {
        let (frame, packet) = decode_frame(hex);
        assert_eq!(packet.validate(), Ok(()), "{packet:?}");
        let again = packet.frame(frame.src, frame.dst);
        assert_eq!(encode(&again), unhex(hex), "{packet:?}");
    }
}

#[test]
fn captured_solicitation_is_what_solicit_builds() {
    let (_, ns) = decode_frame(NDISC6_NS_GLOBAL);
    assert_eq!(ns.flow_label, 0xed0b9);
    let built = NdpPacket {
        flow_label: 0xed0b9,
        ..NdpPacket::solicit(CLIENT_MAC, CLIENT_IP, TARGET)
    };
    assert_eq!(ns, built);
    assert_eq!(
        encode(&built.frame(CLIENT_MAC, MacAddr::ZERO)),
        unhex(NDISC6_NS_GLOBAL)
    );
    assert_eq!(ns.message.source_link_layer(), Some(CLIENT_MAC));
    assert_eq!(ns.message.target_link_layer(), None);

    let (_, na) = decode_frame(KERNEL_NA_GLOBAL);
    assert_eq!(
        na.message,
        NdpMessage::Advertisement {
            router: false,
            solicited: true,
            override_flag: true,
            target: TARGET,
            options: vec![NdpOption::TargetLinkLayer(NODE_MAC)],
        }
    );
    assert_eq!((na.src, na.dst), (TARGET, CLIENT_IP));
}

#[test]
fn addresses_derived_as_the_rfcs_say() {
    assert_eq!(
        solicited_node(TARGET),
        "ff02::1:ff00:f0".parse::<Ipv6Addr>().unwrap()
    );
    assert_eq!(
        solicited_node("2001:db8::abcd:1234:5678".parse().unwrap()),
        "ff02::1:ff34:5678".parse::<Ipv6Addr>().unwrap()
    );
    assert!(is_solicited_node(solicited_node(TARGET)));
    assert!(!is_solicited_node(ALL_NODES));
    assert_eq!(
        multicast_mac(solicited_node(TARGET)),
        MacAddr([0x33, 0x33, 0xff, 0, 0, 0xf0])
    );
    assert_eq!(multicast_mac(ALL_NODES), MacAddr([0x33, 0x33, 0, 0, 0, 1]));
    // The link-local address the kernel formed in the capture.
    assert_eq!(
        link_local_from_mac(CLIENT_MAC),
        "fe80::ff:fe00:63".parse::<Ipv6Addr>().unwrap()
    );
    assert_eq!(
        link_local_from_mac(MacAddr([0x00, 0x1b, 0x21, 0x3c, 0x4d, 0x5e])),
        "fe80::21b:21ff:fe3c:4d5e".parse::<Ipv6Addr>().unwrap()
    );
}

/// MetalLB's unsolicited NA for 2001:db8::f0 from node 02:00:00:00:00:0a, written by hand from
/// metallb internal/layer2/ndp.go (S=0, O=1, TLLA) and RFC 4861 §4.4; the checksum computed by
/// hand-summing the pseudo-header and checked by tshark below.
const METALLB_UNSOLICITED_HEX: &str =
    "33 33 00 00 00 01 02 00 00 00 00 0a 86 dd 60 00 00 00 00 20 3a ff
    fe 80 00 00 00 00 00 00 00 00 00 ff fe 00 00 0a ff 02 00 00 00 00 00 00 00 00 00 00 00 00 00 01
    88 00 CSUM 20 00 00 00 20 01 0d b8 00 00 00 00 00 00 00 00 00 00 00 f0 02 01 02 00 00 00 00 0a";

#[test]
fn metallb_unsolicited_na_layout() {
    let node_ll = link_local_from_mac(NODE_MAC);
    let packet = NdpPacket::metallb_unsolicited(NODE_MAC, node_ll, TARGET);
    let bytes = encode(&packet.frame(NODE_MAC, MacAddr::ZERO));
    // The checksum: the one's complement sum of the pseudo-header and the message with the
    // field zero, done here independently of the codec on 16-bit words.
    let template = unhex(&METALLB_UNSOLICITED_HEX.replace("CSUM", "00 00"));
    let mut words: Vec<u32> = Vec::new();
    for chunk in template[22..54].chunks(2) {
        words.push(u32::from(chunk[0]) << 8 | u32::from(chunk[1]));
    }
    words.extend([32, 58]);
    for chunk in template[54..].chunks(2) {
        words.push(u32::from(chunk[0]) << 8 | u32::from(chunk[1]));
    }
    let mut sum: u32 = words.iter().sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let csum = !(sum as u16);
    let want = unhex(&METALLB_UNSOLICITED_HEX.replace("CSUM", &format!("{:04x}", csum)));
    assert_eq!(bytes, want);
    assert_eq!(packet.validate(), Ok(()));
    assert_eq!(icmpv6_checksum(node_ll, ALL_NODES, &bytes[54..]), 0);
}

#[test]
fn metallb_reply_answers_the_solicitation() {
    let (_, ns) = decode_frame(NDISC6_NS_LINK_LOCAL);
    let node_ll = link_local_from_mac(NODE_MAC);
    let na = NdpPacket::metallb_reply(&ns, NODE_MAC, node_ll);
    assert_eq!((na.src, na.dst), (node_ll, ns.src));
    assert_eq!(
        na.message,
        NdpMessage::Advertisement {
            router: false,
            solicited: true,
            override_flag: false,
            target: TARGET,
            options: vec![NdpOption::TargetLinkLayer(NODE_MAC)],
        }
    );
    assert_eq!(na.validate(), Ok(()));
    // Unicast: the Ethernet destination is the solicitation's SLLA.
    let frame = na.frame(NODE_MAC, ns.message.source_link_layer().unwrap());
    assert_eq!(frame.dst, CLIENT_MAC);
}

#[test]
fn typed_errors() {
    let good = unhex(NDISC6_NS_GLOBAL)[14..].to_vec();
    let with = |at: usize, value: u8| {
        let mut bytes = good.clone();
        bytes[at] = value;
        NdpPacket::decode(&bytes)
    };
    assert!(matches!(
        NdpPacket::decode(&good[..39]),
        Err(DecodeError::Truncated { needed: 40, .. })
    ));
    assert_eq!(with(0, 0x40), Err(DecodeError::NotIpv6(4)));
    assert_eq!(with(6, 17), Err(DecodeError::NotIcmpv6(17)));
    assert_eq!(
        with(40, 128),
        Err(DecodeError::NotNdp { kind: 128, code: 0 })
    );
    assert_eq!(with(41, 1), Err(DecodeError::NotNdp { kind: 135, code: 1 }));
    assert_eq!(
        with(43, 0xdb),
        Err(DecodeError::BadChecksum { found: 0x19db })
    );
    assert!(matches!(
        NdpPacket::decode(&good[..70]),
        Err(DecodeError::Truncated {
            what: "IPv6 payload",
            ..
        })
    ));
    // An option of length zero: fix the checksum so only the option is wrong.
    let mut zero = good.clone();
    zero[65] = 0;
    let sum = {
        zero[42] = 0;
        zero[43] = 0;
        icmpv6_checksum(CLIENT_IP, solicited_node(TARGET), &zero[40..])
    };
    zero[42..44].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(
        NdpPacket::decode(&zero),
        Err(DecodeError::BadNdpOption {
            offset: 64,
            units: 0
        })
    );
    let arp = EthernetFrame::decode(&[0u8; 60]).unwrap();
    assert_eq!(arp.to_ndp(), Err(DecodeError::NotIpv6Frame(0)));
}

#[test]
fn validity_rules_of_rfc_4861() {
    let ns = NdpPacket::solicit(CLIENT_MAC, CLIENT_IP, TARGET);
    assert_eq!(ns.validate(), Ok(()));
    let hop = NdpPacket {
        hop_limit: 254,
        ..ns.clone()
    };
    assert_eq!(hop.validate(), Err(NdpInvalid::HopLimit(254)));
    // Duplicate address detection: from ::, no SLLA, to the solicited-node group.
    let dad = NdpPacket::solicit(CLIENT_MAC, Ipv6Addr::UNSPECIFIED, TARGET);
    assert_eq!(dad.message.source_link_layer(), None);
    assert_eq!(dad.validate(), Ok(()));
    let dad_unicast = NdpPacket::probe(CLIENT_MAC, Ipv6Addr::UNSPECIFIED, TARGET);
    assert_eq!(
        dad_unicast.validate(),
        Err(NdpInvalid::DadNotToSolicitedNode)
    );
    let dad_slla = NdpPacket {
        message: ns.message.clone(),
        ..dad.clone()
    };
    assert_eq!(dad_slla.validate(), Err(NdpInvalid::DadWithSourceLinkLayer));
    let multicast_target = NdpPacket::solicit(CLIENT_MAC, CLIENT_IP, ALL_NODES);
    assert_eq!(
        multicast_target.validate(),
        Err(NdpInvalid::MulticastTarget)
    );
    let mut na = NdpPacket::metallb_unsolicited(NODE_MAC, link_local_from_mac(NODE_MAC), TARGET);
    if let NdpMessage::Advertisement { solicited, .. } = &mut na.message {
        *solicited = true;
    }
    assert_eq!(na.validate(), Err(NdpInvalid::SolicitedToMulticast));
    // The NUD probe goes to the target itself, to its MAC.
    let probe = NdpPacket::probe(CLIENT_MAC, CLIENT_IP, TARGET);
    assert_eq!(probe.dst, TARGET);
    assert_eq!(probe.frame(CLIENT_MAC, NODE_MAC).dst, NODE_MAC);
}

fn any_ipv6() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from)
}

fn any_option() -> impl Strategy<Value = NdpOption> {
    prop_oneof![
        any::<[u8; 6]>().prop_map(|m| NdpOption::SourceLinkLayer(MacAddr(m))),
        any::<[u8; 6]>().prop_map(|m| NdpOption::TargetLinkLayer(MacAddr(m))),
        (any::<u8>(), 1usize..4, any::<u8>()).prop_filter_map(
            "link-layer options of length 1 decode as such",
            |(kind, units, fill)| {
                (!(matches!(kind, 1 | 2) && units == 1)).then(|| NdpOption::Other {
                    kind,
                    data: vec![fill; units * 8 - 2],
                })
            }
        ),
    ]
}

fn any_packet() -> impl Strategy<Value = NdpPacket> {
    let message = prop_oneof![
        (any_ipv6(), proptest::collection::vec(any_option(), 0..4))
            .prop_map(|(target, options)| NdpMessage::Solicitation { target, options }),
        (
            any::<[bool; 3]>(),
            any_ipv6(),
            proptest::collection::vec(any_option(), 0..4)
        )
            .prop_map(|([r, s, o], target, options)| NdpMessage::Advertisement {
                router: r,
                solicited: s,
                override_flag: o,
                target,
                options,
            }),
    ];
    (
        any_ipv6(),
        any_ipv6(),
        any::<u8>(),
        any::<u8>(),
        0u32..(1 << 20),
        message,
    )
        .prop_map(
            |(src, dst, hop_limit, traffic_class, flow_label, message)| NdpPacket {
                src,
                dst,
                hop_limit,
                traffic_class,
                flow_label,
                message,
            },
        )
}

proptest! {
    #[test]
    fn ndp_round_trips(packet in any_packet(), padding in proptest::collection::vec(any::<u8>(), 0..16)) {
        let mut buf = BytesMut::new();
        packet.encode(&mut buf);
        prop_assert_eq!(buf.len(), packet.encoded_len());
        // Ethernet padding after the IPv6 payload is ignored.
        buf.extend_from_slice(&padding);
        prop_assert_eq!(NdpPacket::decode(&buf), Ok(packet.clone()));
        let frame = packet.frame(MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
        let back = EthernetFrame::decode(&encode(&frame)).unwrap();
        prop_assert_eq!(back.to_ndp(), Ok(packet));
    }

    #[test]
    fn ndp_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = NdpPacket::decode(&bytes);
    }

    /// Mutations of a real frame: most fail the checksum, none panics, and whatever decodes
    /// re-encodes to a packet that decodes to itself.
    #[test]
    fn mutated_capture_never_panics(at in 0usize..72, value in any::<u8>(), cut in 0usize..80) {
        let mut bytes = unhex(NDISC6_NS_GLOBAL)[14..].to_vec();
        bytes[at] = value;
        bytes.truncate(cut.max(1));
        if let Ok(packet) = NdpPacket::decode(&bytes) {
            let mut buf = BytesMut::new();
            packet.encode(&mut buf);
            prop_assert_eq!(NdpPacket::decode(&buf), Ok(packet));
        }
    }
}

/// The frames of an NDP exchange as lbsim builds them, in a pcap tshark reads with ICMPv6
/// checksum checking on: every frame is NS or NA, none malformed, every checksum good.
#[test]
fn tshark_decodes_ndp_without_errors() {
    let Some(tshark) = testkit::or_skip(testkit::program("tshark", "tshark")) else {
        return;
    };
    let node_ll = link_local_from_mac(NODE_MAC);
    let ns = NdpPacket::solicit(CLIENT_MAC, CLIENT_IP, TARGET);
    let probe = NdpPacket::probe(CLIENT_MAC, link_local_from_mac(CLIENT_MAC), TARGET);
    let dad = NdpPacket::solicit(CLIENT_MAC, Ipv6Addr::UNSPECIFIED, TARGET);
    let frames = [
        ns.frame(CLIENT_MAC, MacAddr::ZERO),
        NdpPacket::metallb_reply(&ns, NODE_MAC, node_ll).frame(NODE_MAC, CLIENT_MAC),
        probe.frame(CLIENT_MAC, NODE_MAC),
        NdpPacket::metallb_reply(&probe, NODE_MAC, node_ll).frame(NODE_MAC, CLIENT_MAC),
        NdpPacket::metallb_unsolicited(NODE_MAC, node_ll, TARGET).frame(NODE_MAC, MacAddr::ZERO),
        dad.frame(CLIENT_MAC, MacAddr::ZERO),
    ];
    let mut pcap = PcapWriter::new(Vec::new()).unwrap();
    for (i, frame) in frames.iter().enumerate() {
        pcap.write_frame(SimTime(i as u64 * 1_000_000), &encode(frame))
            .unwrap();
    }
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("l2-ndp.pcap");
    std::fs::write(&path, pcap.into_inner()).unwrap();
    let text = testkit::tshark_verbose(&tshark, &[], &path);
    let dump = || format!("tshark -V output:\n{text}");
    assert_eq!(
        text.matches("Type: Neighbor Solicitation (135)").count(),
        3,
        "{}",
        dump()
    );
    assert_eq!(
        text.matches("Type: Neighbor Advertisement (136)").count(),
        3,
        "{}",
        dump()
    );
    assert_eq!(
        text.matches("[Checksum Status: Good]").count(),
        6,
        "{}",
        dump()
    );
    assert!(text.contains("Override: Set"), "{}", dump());
    assert!(!text.contains("Malformed"), "{}", dump());
    assert!(!text.contains("[Expert Info (Error"), "{}", dump());
    assert!(!text.contains("[Expert Info (Warn"), "{}", dump());
}

//! Ethernet and ARP codec: fixed bytes in both directions, full-range round trips, and
//! decoders that never panic.

use std::net::Ipv4Addr;

use bytes::{Bytes, BytesMut};
use l2::wire::{
    Arp, ArpOp, DecodeError, EtherType, EthernetFrame, MacAddr, ARP_LEN, ETHERNET_MIN_FRAME_LEN,
};
use proptest::prelude::*;

fn unhex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

const NODE_MAC: MacAddr = MacAddr([0x02, 0x00, 0x00, 0x00, 0x00, 0x0a]);
const VIP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 240);

/// MetalLB's gratuitous request for 192.168.1.240 from 02:00:00:00:00:0a, written by hand.
const GARP_REQUEST_HEX: &str = "
    ff ff ff ff ff ff  02 00 00 00 00 0a  08 06
    00 01 08 00 06 04 00 01  02 00 00 00 00 0a  c0 a8 01 f0  ff ff ff ff ff ff  c0 a8 01 f0
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00";

/// The matching reply: only OPER differs.
const GARP_REPLY_HEX: &str = "
    ff ff ff ff ff ff  02 00 00 00 00 0a  08 06
    00 01 08 00 06 04 00 02  02 00 00 00 00 0a  c0 a8 01 f0  ff ff ff ff ff ff  c0 a8 01 f0
    00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00";

/// A Linux client's broadcast request: who has 192.168.1.240? tell 192.168.1.10 (THA zero).
const CLIENT_REQUEST_ARP_HEX: &str = "
    00 01 08 00 06 04 00 01  02 00 00 00 00 63  c0 a8 01 0a  00 00 00 00 00 00  c0 a8 01 f0";

fn encode_frame(frame: &EthernetFrame) -> Vec<u8> {
    let mut buf = BytesMut::new();
    frame.encode(&mut buf);
    assert_eq!(buf.len(), frame.encoded_len());
    buf.to_vec()
}

#[test]
fn metallb_gratuitous_frames_match_hand_written_bytes() {
    let [request, reply] = Arp::metallb_gratuitous_frames(NODE_MAC, VIP);
    assert_eq!(encode_frame(&request), unhex(GARP_REQUEST_HEX));
    assert_eq!(encode_frame(&reply), unhex(GARP_REPLY_HEX));
    assert_eq!(unhex(GARP_REQUEST_HEX).len(), ETHERNET_MIN_FRAME_LEN);
}

#[test]
fn hand_written_bytes_decode_to_the_struct() {
    let frame = EthernetFrame::decode(&unhex(GARP_REQUEST_HEX)).unwrap();
    assert_eq!(frame.dst, MacAddr::BROADCAST);
    assert_eq!(frame.src, NODE_MAC);
    assert_eq!(frame.ethertype, EtherType::Arp);
    assert_eq!(frame.payload.len(), 46, "padding stays in the payload");
    let arp = frame.to_arp().unwrap();
    assert_eq!(
        arp,
        Arp {
            op: ArpOp::Request,
            sender_mac: NODE_MAC,
            sender_ip: VIP,
            target_mac: MacAddr::BROADCAST,
            target_ip: VIP,
        }
    );
    assert!(arp.is_gratuitous());

    let reply = EthernetFrame::decode(&unhex(GARP_REPLY_HEX))
        .unwrap()
        .to_arp()
        .unwrap();
    assert_eq!(reply.op, ArpOp::Reply);
    // THA (broadcast) != SHA: the kernel's arp_is_garp says no to MetalLB's reply.
    assert!(!reply.is_gratuitous());
}

#[test]
fn client_request_both_ways() {
    let arp = Arp::request(
        MacAddr([2, 0, 0, 0, 0, 0x63]),
        Ipv4Addr::new(192, 168, 1, 10),
        VIP,
    );
    let mut buf = BytesMut::new();
    arp.encode(&mut buf);
    assert_eq!(buf.to_vec(), unhex(CLIENT_REQUEST_ARP_HEX));
    assert_eq!(Arp::decode(&unhex(CLIENT_REQUEST_ARP_HEX)).unwrap(), arp);
    assert!(!arp.is_gratuitous());
    let reply = Arp::reply_to(&arp, NODE_MAC);
    assert_eq!(
        (reply.sender_ip, reply.target_mac, reply.target_ip),
        (VIP, arp.sender_mac, arp.sender_ip)
    );
}

#[test]
fn gratuitous_reply_needs_tha_equal_sha() {
    let mut reply = Arp::metallb_gratuitous(ArpOp::Reply, NODE_MAC, VIP);
    assert!(!reply.is_gratuitous());
    reply.target_mac = NODE_MAC;
    assert!(reply.is_gratuitous());
    reply.target_ip = Ipv4Addr::new(192, 168, 1, 1);
    assert!(!reply.is_gratuitous());
    assert!(!Arp {
        op: ArpOp::Unknown(3),
        ..Arp::metallb_gratuitous(ArpOp::Request, NODE_MAC, VIP)
    }
    .is_gratuitous());
}

#[test]
fn typed_errors() {
    assert_eq!(
        EthernetFrame::decode(&[0; 13]),
        Err(DecodeError::Truncated {
            what: "Ethernet header",
            needed: 14,
            available: 13
        })
    );
    let good = unhex(CLIENT_REQUEST_ARP_HEX);
    assert_eq!(
        Arp::decode(&good[..27]),
        Err(DecodeError::Truncated {
            what: "ARP",
            needed: 28,
            available: 27
        })
    );
    let mut ieee802 = good.clone();
    ieee802[1] = 6;
    assert_eq!(
        Arp::decode(&ieee802),
        Err(DecodeError::UnsupportedHardwareType {
            offset: 0,
            value: 6
        })
    );
    let mut ipv6 = good.clone();
    ipv6[2..4].copy_from_slice(&[0x86, 0xdd]);
    assert_eq!(
        Arp::decode(&ipv6),
        Err(DecodeError::UnsupportedProtocolType {
            offset: 2,
            value: 0x86dd
        })
    );
    let mut lens = good.clone();
    lens[4] = 8;
    assert_eq!(
        Arp::decode(&lens),
        Err(DecodeError::BadAddressLength {
            offset: 4,
            hlen: 8,
            plen: 4
        })
    );
    let ipv4_frame = EthernetFrame {
        dst: MacAddr::BROADCAST,
        src: NODE_MAC,
        ethertype: EtherType::Ipv4,
        payload: Bytes::from(good),
    };
    assert_eq!(ipv4_frame.to_arp(), Err(DecodeError::NotArp(0x0800)));
    // Errors read as sentences.
    assert_eq!(
        DecodeError::UnsupportedHardwareType {
            offset: 0,
            value: 6
        }
        .to_string(),
        "ARP hardware type 6 at offset 0 is not Ethernet (1)"
    );
}

#[test]
fn mac_display_and_parse() {
    let mac = MacAddr([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
    assert_eq!(mac.to_string(), "aa:bb:cc:dd:ee:ff");
    assert_eq!("aa:bb:cc:dd:ee:ff".parse::<MacAddr>(), Ok(mac));
    assert!("aa:bb:cc:dd:ee".parse::<MacAddr>().is_err());
    assert!("aa:bb:cc:dd:ee:ff:00".parse::<MacAddr>().is_err());
    assert!("aa:bb:cc:dd:ee:gg".parse::<MacAddr>().is_err());
    assert!(MacAddr::BROADCAST.is_multicast() && NODE_MAC.is_unicast());
}

fn any_mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(MacAddr)
}

fn any_arp() -> impl Strategy<Value = Arp> {
    (
        any::<u16>(),
        any_mac(),
        any::<u32>(),
        any_mac(),
        any::<u32>(),
    )
        .prop_map(|(op, sha, spa, tha, tpa)| Arp {
            op: ArpOp::from(op),
            sender_mac: sha,
            sender_ip: Ipv4Addr::from(spa),
            target_mac: tha,
            target_ip: Ipv4Addr::from(tpa),
        })
}

proptest! {
    #[test]
    fn arp_round_trips(arp in any_arp(), padding in proptest::collection::vec(any::<u8>(), 0..32)) {
        let mut buf = BytesMut::new();
        arp.encode(&mut buf);
        prop_assert_eq!(buf.len(), ARP_LEN);
        buf.extend_from_slice(&padding);
        prop_assert_eq!(Arp::decode(&buf), Ok(arp));
    }

    #[test]
    fn ethernet_round_trips(
        dst in any_mac(), src in any_mac(), ethertype in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..1600),
    ) {
        let frame = EthernetFrame { dst, src, ethertype: EtherType::from(ethertype), payload: Bytes::from(payload) };
        let bytes = encode_frame(&frame);
        prop_assert!(bytes.len() >= ETHERNET_MIN_FRAME_LEN);
        let back = EthernetFrame::decode(&bytes).unwrap();
        prop_assert_eq!((back.dst, back.src, back.ethertype), (dst, src, frame.ethertype));
        // Short payloads come back with their zero padding, longer ones exactly.
        prop_assert!(back.payload.starts_with(&frame.payload));
        prop_assert!(back.payload[frame.payload.len()..].iter().all(|&b| b == 0));
        prop_assert_eq!(back.payload.len(), frame.payload.len().max(46));
        prop_assert_eq!(u16::from(EtherType::from(ethertype)), ethertype);
    }

    #[test]
    fn arp_in_a_frame_round_trips(arp in any_arp(), dst in any_mac(), src in any_mac()) {
        let bytes = encode_frame(&EthernetFrame::arp(dst, src, &arp));
        prop_assert_eq!(bytes.len(), ETHERNET_MIN_FRAME_LEN);
        prop_assert_eq!(EthernetFrame::decode(&bytes).unwrap().to_arp(), Ok(arp));
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = Arp::decode(&bytes);
        if let Ok(frame) = EthernetFrame::decode(&bytes) {
            let _ = frame.to_arp();
        }
    }

    #[test]
    fn arp_decoder_never_panics_near_valid(mut bytes in proptest::collection::vec(any::<u8>(), 0..40), cut in 0usize..40) {
        // Bias toward the valid header so the address part is reached too.
        if bytes.len() >= 6 {
            bytes[..6].copy_from_slice(&[0, 1, 8, 0, 6, 4]);
        }
        bytes.truncate(cut);
        let _ = Arp::decode(&bytes);
    }
}

//! Multiprotocol BGP for IPv6 unicast (RFC 4760, RFC 2545): MP_REACH_NLRI / MP_UNREACH_NLRI
//! with fixed bytes both ways, the IPv6 End-of-RIB, typed errors, round trips, and tshark
//! reading the messages inside TCP over IPv6 with no malformed field.

use bgp::wire::*;
use bytes::BytesMut;
use proptest::prelude::*;
use std::net::Ipv6Addr;

const FOUR: CodecOptions = CodecOptions::FOUR_OCTET_AS;

/// Parses a hex fixture; whitespace is ignored, and so is everything after `#` on a line.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .lines()
        .flat_map(|l| l.split('#').next().unwrap_or("").bytes())
        .filter(u8::is_ascii_hexdigit)
        .collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn encode(m: &Message) -> Vec<u8> {
    let mut buf = BytesMut::new();
    m.encode(&mut buf, FOUR);
    assert_eq!(buf.len(), m.encoded_len(FOUR));
    buf.to_vec()
}

const VIP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xff, 0, 0, 0, 0, 0x10);
const NEXT_HOP: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xfe, 0, 0, 0, 0, 2);
const LINK_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0xff, 0xfe00, 2);

/// UPDATE announcing 2001:db8:ff::10/128 from AS 64513 via 2001:db8:fe::2 and its link-local
/// fe80::ff:fe00:2, laid out by hand from RFC 4271 §4.3, RFC 4760 §3 and RFC 2545 §3.
const ANNOUNCE_HEX: &str = "
    ffffffff ffffffff ffffffff ffffffff 005d 02
    0000                         # withdrawn routes length
    0046                         # total path attribute length (70)
    40 01 01 00                  # ORIGIN IGP
    40 02 06 02 01 0000fc01      # AS_PATH sequence [64513]
    80 0e 36                     # MP_REACH_NLRI, optional non-transitive, 54 octets
       0002 01 20                # AFI 2, SAFI 1, next hop length 32
       20010db8 00fe0000 00000000 00000002
       fe800000 00000000 000000ff fe000002
       00                        # reserved
       80 20010db8 00ff0000 00000000 00000010";

/// UPDATE withdrawing it: MP_UNREACH_NLRI alone.
const WITHDRAW_HEX: &str = "
    ffffffff ffffffff ffffffff ffffffff 002e 02
    0000 0017
    80 0f 14  0002 01  80 20010db8 00ff0000 00000000 00000010";

/// IPv6 unicast End-of-RIB (RFC 4724 §2): an empty MP_UNREACH_NLRI.
const EOR_HEX: &str = "
    ffffffff ffffffff ffffffff ffffffff 001d 02
    0000 0006  80 0f 03 0002 01";

/// FRR 8.4's UPDATE passing 2001:db8:ff::10/128 back to lbsim in `tests/interop_frr.rs`
/// (eBGP, its own global next hop 2001:db8:fe::1, AS_PATH 64512 64513), as captured there: FRR
/// puts MP_REACH_NLRI first and sets Extended Length on it and on AS_PATH.
const FRR_REACH_HEX: &str =
    "ffffffffffffffffffffffffffffffff0053020000003c900e00260002011020010db800fe0000
    0000000000000001008020010db800ff00000000000000000010400101005002000a02020000fc000000fc01";
/// FRR's withdrawal of it.
const FRR_UNREACH_HEX: &str =
    "ffffffffffffffffffffffffffffffff002f0200000018900f00140002018020010db800ff00000000000000000010";

#[test]
fn frr_bytes_decode_and_re_encode_byte_for_byte() {
    for text in [FRR_REACH_HEX, FRR_UNREACH_HEX] {
        let bytes = hex(text);
        let msg = Message::decode(&bytes, FOUR).unwrap();
        assert_eq!(encode(&msg), bytes);
    }
    let Ok(Message::Update(reach)) = Message::decode(&hex(FRR_REACH_HEX), FOUR) else {
        panic!()
    };
    let mp = reach.mp_reach_ipv6().unwrap();
    assert_eq!(mp.next_hop, "2001:db8:fe::1".parse::<Ipv6Addr>().unwrap());
    assert_eq!(
        (mp.link_local, mp.nlri.as_slice()),
        (None, &[Ipv6Prefix::host(VIP)][..])
    );
    assert_eq!(reach.as_path(), Some(&AsPath::sequence(vec![64512, 64513])));
}

fn announce() -> Update {
    Update::announce_ipv6(
        vec![
            PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
            PathAttribute::new(AttributeValue::AsPath(AsPath::sequence(vec![64513]))),
        ],
        NEXT_HOP,
        Some(LINK_LOCAL),
        vec![Ipv6Prefix::host(VIP)],
    )
}

#[test]
fn fixed_bytes_both_ways() {
    let cases = [
        (ANNOUNCE_HEX, announce()),
        (
            WITHDRAW_HEX,
            Update::withdraw_ipv6(vec![Ipv6Prefix::host(VIP)]),
        ),
        (EOR_HEX, Update::end_of_rib_ipv6()),
    ];
    for (text, update) in cases {
        let bytes = hex(text);
        let msg = Message::Update(update);
        assert_eq!(encode(&msg), bytes, "{msg:?}");
        assert_eq!(Message::decode(&bytes, FOUR), Ok(msg));
    }
    let eor = Update::decode(&hex(EOR_HEX), FOUR).unwrap();
    assert!(eor.is_end_of_rib_ipv6());
    assert!(!eor.is_end_of_rib(), "not the IPv4 marker");
    assert!(!Update::end_of_rib().is_end_of_rib_ipv6());
    let a = Update::decode(&hex(ANNOUNCE_HEX), FOUR).unwrap();
    let mp = a.mp_reach_ipv6().unwrap();
    assert_eq!(
        (mp.next_hop, mp.link_local, mp.nlri.as_slice()),
        (NEXT_HOP, Some(LINK_LOCAL), &[Ipv6Prefix::host(VIP)][..])
    );
    assert_eq!(a.next_hop(), None, "no IPv4 NEXT_HOP");
    assert_eq!(Ipv6Prefix::host(VIP).to_string(), "2001:db8:ff::10/128");
}

#[test]
fn global_only_next_hop_and_short_prefixes() {
    let update = Update::announce_ipv6(
        vec![
            PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
            PathAttribute::new(AttributeValue::AsPath(AsPath::default())),
        ],
        NEXT_HOP,
        None,
        vec![
            Ipv6Prefix::new("2001:db8:ab00::".parse().unwrap(), 40).unwrap(),
            Ipv6Prefix::new("::".parse().unwrap(), 0).unwrap(),
        ],
    );
    let bytes = encode(&Message::Update(update.clone()));
    // ... 80 0e len 0002 01 10 <16> 00 28 20010db8ab 00
    let tail = hex("0002 01 10 20010db8 00fe0000 00000000 00000002 00 28 20010db8ab 00");
    assert!(bytes.ends_with(&tail), "{bytes:02x?}");
    assert_eq!(Update::decode(&bytes, FOUR), Ok(update));
    // Host bits are cleared.
    assert_eq!(
        Ipv6Prefix::new("2001:db8::ffff".parse().unwrap(), 32)
            .unwrap()
            .addr(),
        "2001:db8::".parse::<Ipv6Addr>().unwrap()
    );
    assert_eq!(Ipv6Prefix::new(VIP, 129), None);
}

#[test]
fn typed_errors() {
    // A next hop of 17 octets.
    let mut bad_nh = hex(ANNOUNCE_HEX);
    let at = bad_nh.len() - (17 + 1 + 32 + 1);
    assert_eq!(bad_nh[at], 0x20);
    bad_nh[at] = 17;
    assert!(matches!(
        Update::decode(&bad_nh, FOUR),
        Err(DecodeError::AttributeLengthError { type_code: 14, .. })
    ));
    // A prefix length of 129.
    let mut bad_len = hex(WITHDRAW_HEX);
    let at = bad_len.len() - 17;
    assert_eq!(bad_len[at], 0x80);
    bad_len[at] = 129;
    assert!(matches!(
        Update::decode(&bad_len, FOUR),
        Err(DecodeError::InvalidNetworkField { .. })
    ));
    // MP_REACH_NLRI marked transitive.
    let mut transitive = hex(ANNOUNCE_HEX);
    let at = 19 + 4 + 4 + 9;
    assert_eq!(&transitive[at..at + 2], &[0x80, 0x0e]);
    transitive[at] = 0xc0;
    assert!(matches!(
        Update::decode(&transitive, FOUR),
        Err(DecodeError::AttributeFlagsError { type_code: 14, .. })
    ));
    // MP_REACH_NLRI without ORIGIN (RFC 4760 §3).
    let no_origin = Update {
        attributes: announce().attributes[1..].to_vec(),
        ..Update::default()
    };
    let bytes = encode(&Message::Update(no_origin));
    assert_eq!(
        Update::decode(&bytes, FOUR),
        Err(DecodeError::MissingWellKnownAttribute { type_code: 1 })
    );
    // Another family's MP_REACH_NLRI (AFI 1 SAFI 2, multicast) stays unknown, byte for byte.
    let mut other = hex(ANNOUNCE_HEX);
    let at = 19 + 4 + 4 + 9 + 3;
    other[at..at + 3].copy_from_slice(&[0, 1, 2]);
    let decoded = Update::decode(&other, FOUR).unwrap();
    assert!(matches!(
        decoded.attribute(14),
        Some(AttributeValue::Unknown { type_code: 14, .. })
    ));
    assert_eq!(encode(&Message::Update(decoded)), other);
}

fn arb_prefix() -> impl Strategy<Value = Ipv6Prefix> {
    (any::<u128>(), 0u8..=128).prop_map(|(a, l)| Ipv6Prefix::new(Ipv6Addr::from(a), l).unwrap())
}

proptest! {
    #[test]
    fn mp_updates_round_trip(
        nh in any::<u128>(), ll in proptest::option::of(any::<u128>()),
        nlri in proptest::collection::vec(arb_prefix(), 0..40),
        withdrawn in proptest::collection::vec(arb_prefix(), 0..40),
    ) {
        let reach = Update::announce_ipv6(
            announce().attributes[..2].to_vec(),
            Ipv6Addr::from(nh),
            ll.map(Ipv6Addr::from),
            nlri,
        );
        let unreach = Update::withdraw_ipv6(withdrawn);
        for update in [reach, unreach] {
            let bytes = encode(&Message::Update(update.clone()));
            // Long attributes come back with the Extended Length flag the encoder set; the
            // values and the bytes are what must survive.
            let Ok(Message::Update(back)) = Message::decode(&bytes, FOUR) else {
                panic!("does not decode: {update:?}");
            };
            prop_assert_eq!(back.mp_reach_ipv6(), update.mp_reach_ipv6());
            prop_assert_eq!(back.mp_unreach_ipv6(), update.mp_unreach_ipv6());
            prop_assert_eq!(encode(&Message::Update(back)), bytes);
        }
    }

    #[test]
    fn mutated_announcement_never_panics(at in 0usize..93, value in any::<u8>()) {
        let mut bytes = hex(ANNOUNCE_HEX);
        bytes[at] = value;
        if let Ok(msg) = Message::decode(&bytes, FOUR) {
            let again = encode(&msg);
            prop_assert_eq!(Message::decode(&again, FOUR), Ok(msg));
        }
    }
}

/// The one's complement sum of `data` as 16-bit words.
fn sum16(data: &[u8]) -> u32 {
    data.chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0)))
        .sum()
}

/// An Ethernet frame carrying `payload` in a TCP segment over IPv6, checksums right.
fn tcp6_frame(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    sport: u16,
    dport: u16,
    seq: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut tcp = Vec::new();
    tcp.extend_from_slice(&sport.to_be_bytes());
    tcp.extend_from_slice(&dport.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&1u32.to_be_bytes()); // ack
    tcp.extend_from_slice(&[0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]); // PSH|ACK, window
    tcp.extend_from_slice(payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&(tcp.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 6]);
    let mut sum = sum16(&pseudo) + sum16(&tcp);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let csum = !(sum as u16);
    tcp[16..18].copy_from_slice(&csum.to_be_bytes());
    let mut frame = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x86, 0xdd];
    frame.extend_from_slice(&[0x60, 0, 0, 0]);
    frame.extend_from_slice(&(tcp.len() as u16).to_be_bytes());
    frame.extend_from_slice(&[6, 64]);
    frame.extend_from_slice(&src.octets());
    frame.extend_from_slice(&dst.octets());
    frame.extend_from_slice(&tcp);
    frame
}

#[test]
fn tshark_decodes_mp_bgp_over_ipv6_without_errors() {
    let Some(tshark) = testkit::or_skip(testkit::program("tshark", "tshark")) else {
        return;
    };
    let open = Open::new(
        64513,
        90,
        "192.0.2.2".parse().unwrap(),
        vec![
            Capability::Multiprotocol {
                afi: Afi::Ipv4,
                safi: Safi::Unicast,
            },
            Capability::Multiprotocol {
                afi: Afi::Ipv6,
                safi: Safi::Unicast,
            },
            Capability::FourOctetAs { asn: 64513 },
        ],
    );
    let mut stream = encode(&Message::Open(open));
    for update in [
        announce(),
        Update::end_of_rib_ipv6(),
        Update::withdraw_ipv6(vec![Ipv6Prefix::host(VIP)]),
    ] {
        stream.extend(encode(&Message::Update(update)));
    }
    let mut pcap = sim_core::pcap::PcapWriter::new(Vec::new()).unwrap();
    // One message per segment, so tshark needs no reassembly.
    let mut seq = 1u32;
    let mut rest = &stream[..];
    let mut t = 0;
    while !rest.is_empty() {
        let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        let (msg, tail) = rest.split_at(len);
        let frame = tcp6_frame(
            NEXT_HOP,
            "2001:db8:fe::1".parse().unwrap(),
            40000,
            179,
            seq,
            msg,
        );
        pcap.write_frame(sim_core::SimTime(t), &frame).unwrap();
        seq += len as u32;
        t += 1_000_000;
        rest = tail;
    }
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bgp-mp-ipv6.pcap");
    std::fs::write(&path, pcap.into_inner()).unwrap();
    let text = testkit::tshark_verbose(
        &tshark,
        &["-o", "tcp.check_checksum:TRUE", "-d", "tcp.port==179,bgp"],
        &path,
    );
    let dump = || format!("tshark -V output:\n{text}");
    assert!(text.contains("MP_REACH_NLRI"), "{}", dump());
    assert!(text.contains("MP_UNREACH_NLRI"), "{}", dump());
    assert!(text.contains("2001:db8:ff::10/128"), "{}", dump());
    assert!(text.contains("fe80::ff:fe00:2"), "{}", dump());
    assert!(text.contains("IPv6 (2)"), "{}", dump());
    assert!(!text.contains("Malformed"), "{}", dump());
    assert!(!text.contains("[Expert Info (Error"), "{}", dump());
    assert!(
        !text.to_lowercase().contains("checksum status: bad"),
        "{}",
        dump()
    );
}

//! The pcap sink: checksums against fixtures, header bytes, parser round trips, and (when
//! tshark is installed) a capture that Wireshark's dissectors read without complaint.

use proptest::prelude::*;
use sim_core::pcap::frame::{self, TcpFlags, TcpHeader};
use sim_core::pcap::{self, CaptureError, PcapWriter};
use sim_core::{SimDuration, SimTime};
use std::net::Ipv4Addr;

const A_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const B_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const A_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

#[test]
fn internet_checksum_matches_rfc1071_example() {
    // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2; the checksum is its complement.
    let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(frame::internet_checksum(&[&bytes]), !0xddf2);
    // Split across chunks at an odd boundary: same sum.
    assert_eq!(
        frame::internet_checksum(&[&bytes[..3], &bytes[3..]]),
        !0xddf2
    );
}

#[test]
fn ipv4_header_matches_the_classic_example() {
    // The header on Wikipedia's "IPv4 header checksum" page:
    // 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7.
    let payload = [0u8; 0x73 - 20];
    let packet = frame::ipv4(
        Ipv4Addr::new(192, 168, 0, 1),
        Ipv4Addr::new(192, 168, 0, 199),
        frame::IPPROTO_UDP,
        0x40,
        0,
        &payload,
    )
    .unwrap();
    let expected: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];
    assert_eq!(packet[..20], expected);
    let view = frame::parse_ipv4(&packet).unwrap();
    assert!(view.checksum_ok && view.dont_fragment);
    assert_eq!(view.payload.len(), payload.len());
}

#[test]
fn udp_checksum_matches_fixture() {
    // Computed independently (a separate RFC 768/1071 implementation) for
    // 192.168.0.1:1234 -> 192.168.0.199:5678, payload "hello".
    let (src, dst) = (
        Ipv4Addr::new(192, 168, 0, 1),
        Ipv4Addr::new(192, 168, 0, 199),
    );
    let d = frame::udp(1234, 5678, b"hello", src, dst).unwrap();
    assert_eq!(
        d,
        [0x04, 0xd2, 0x16, 0x2e, 0x00, 0x0d, 0x1e, 0xe9, b'h', b'e', b'l', b'l', b'o']
    );
    let view = frame::parse_udp(&d, src, dst).unwrap();
    assert!(view.checksum_ok);
    assert_eq!(view.payload, b"hello");
    // The pseudo-header counts: other addresses do not verify.
    let elsewhere = Ipv4Addr::new(192, 168, 0, 200);
    assert!(!frame::parse_udp(&d, src, elsewhere).unwrap().checksum_ok);
}

#[test]
fn tcp_syn_with_mss_matches_fixture() {
    // Computed independently: 192.168.0.1:40000 -> 192.168.0.199:179, seq 1, SYN, window
    // 65535, MSS 1460.
    let (src, dst) = (
        Ipv4Addr::new(192, 168, 0, 1),
        Ipv4Addr::new(192, 168, 0, 199),
    );
    let header = TcpHeader {
        src_port: 40000,
        dst_port: 179,
        seq: 1,
        ack: 0,
        flags: TcpFlags {
            syn: true,
            ..TcpFlags::default()
        },
        window: 65535,
        mss: Some(1460),
    };
    let s = frame::tcp(&header, &[], src, dst).unwrap();
    let expected: [u8; 24] = [
        0x9c, 0x40, 0x00, 0xb3, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xff, 0xff, 0x79, 0x19, 0, 0,
        2, 4, 0x05, 0xb4,
    ];
    assert_eq!(s, expected);
    let view = frame::parse_tcp(&s, src, dst).unwrap();
    assert!(view.checksum_ok);
    assert_eq!(view.header, header);
}

#[test]
fn ethernet_pads_short_frames_to_60_bytes() {
    let f = frame::ethernet(B_MAC, A_MAC, frame::ETHERTYPE_ARP, &[1, 2, 3]);
    assert_eq!(f.len(), 60);
    assert_eq!(&f[..14], &[2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    assert_eq!(&f[14..17], &[1, 2, 3]);
    assert!(f[17..].iter().all(|&b| b == 0));
    let long = frame::ethernet(B_MAC, A_MAC, frame::ETHERTYPE_IPV4, &[7; 100]);
    assert_eq!(long.len(), 114);
    let view = frame::parse_ethernet(&long).unwrap();
    assert_eq!((view.dst, view.src, view.ethertype), (B_MAC, A_MAC, 0x0800));
}

#[test]
fn oversized_payloads_are_errors_not_panics() {
    let big = vec![0u8; 70_000];
    assert!(frame::ipv4(A_IP, B_IP, 6, 64, 0, &big).is_err());
    assert!(frame::udp(1, 2, &big, A_IP, B_IP).is_err());
    assert!(frame::tcp(&TcpHeader::default(), &big, A_IP, B_IP).is_err());
    let e: std::io::Error = frame::udp(1, 2, &big, A_IP, B_IP).unwrap_err().into();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
fn global_and_record_headers_are_byte_exact() {
    let mut w = PcapWriter::with_epoch(Vec::new(), SimDuration::from_secs(1_700_000_000)).unwrap();
    let frame_bytes = [0xabu8; 60];
    w.write_frame(SimTime(2_000_000_123), &frame_bytes).unwrap();
    assert_eq!(w.frames_written(), 1);
    let bytes = w.into_inner();
    let global: [u8; 24] = [
        0x4d, 0x3c, 0xb2, 0xa1, // magic, nanosecond resolution, little-endian
        2, 0, 4, 0, // version 2.4
        0, 0, 0, 0, // thiszone
        0, 0, 0, 0, // sigfigs
        0x00, 0x00, 0x04, 0x00, // snaplen 262144
        1, 0, 0, 0, // LINKTYPE_ETHERNET
    ];
    assert_eq!(bytes[..24], global);
    let secs: u32 = 1_700_000_002;
    let mut record = Vec::new();
    record.extend_from_slice(&secs.to_le_bytes());
    record.extend_from_slice(&123u32.to_le_bytes());
    record.extend_from_slice(&60u32.to_le_bytes());
    record.extend_from_slice(&60u32.to_le_bytes());
    assert_eq!(bytes[24..40], record[..]);
    assert_eq!(bytes[40..], frame_bytes);

    let (header, records) = pcap::parse_capture(&bytes).unwrap();
    assert!(header.nanosecond && !header.big_endian);
    assert_eq!(header.version, (2, 4));
    assert_eq!(header.snaplen, pcap::SNAPLEN);
    assert_eq!(header.linktype, pcap::LINKTYPE_ETHERNET);
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].ts_sec, records[0].ts_frac, records[0].orig_len),
        (secs, 123, 60)
    );
    assert_eq!(records[0].data, frame_bytes);
}

#[test]
fn frames_past_snaplen_are_cut_and_timestamps_past_2106_refused() {
    let mut w = PcapWriter::new(Vec::new()).unwrap();
    let jumbo = vec![1u8; pcap::SNAPLEN as usize + 10];
    w.write_frame(SimTime::ZERO, &jumbo).unwrap();
    let far = SimTime(SimDuration::from_secs(u64::from(u32::MAX) + 1).as_nanos());
    assert!(w.write_frame(far, &[0; 60]).is_err());
    let bytes = w.into_inner();
    let (_, records) = pcap::parse_capture(&bytes).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].data.len(), pcap::SNAPLEN as usize);
    assert_eq!(records[0].orig_len as usize, jumbo.len());
}

#[test]
fn parse_capture_reports_what_is_wrong() {
    assert_eq!(
        pcap::parse_capture(&[0; 24]),
        Err(CaptureError::BadMagic(0))
    );
    let mut bytes = PcapWriter::new(Vec::new()).unwrap().into_inner();
    bytes.extend_from_slice(&[0; 10]);
    assert!(matches!(
        pcap::parse_capture(&bytes),
        Err(CaptureError::Truncated {
            what: "record header",
            ..
        })
    ));
}

proptest! {
    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = pcap::parse_capture(&bytes);
        let _ = frame::parse_ethernet(&bytes);
        let _ = frame::parse_ipv4(&bytes);
        let _ = frame::parse_tcp(&bytes, A_IP, B_IP);
        let _ = frame::parse_udp(&bytes, A_IP, B_IP);
    }

    #[test]
    fn tcp_udp_ipv4_round_trip(
        src_port in any::<u16>(), dst_port in any::<u16>(), seq in any::<u32>(),
        ack in any::<u32>(), bits in 0u8..32, window in any::<u16>(),
        mss in proptest::option::of(any::<u16>()),
        payload in proptest::collection::vec(any::<u8>(), 0..100),
        src in any::<u32>(), dst in any::<u32>(), ttl in any::<u8>(), id in any::<u16>(),
    ) {
        let (src, dst) = (Ipv4Addr::from(src), Ipv4Addr::from(dst));
        let header = TcpHeader {
            src_port, dst_port, seq, ack, flags: TcpFlags::from_bits(bits), window, mss,
        };
        let seg = frame::tcp(&header, &payload, src, dst).unwrap();
        let packet = frame::ipv4(src, dst, frame::IPPROTO_TCP, ttl, id, &seg).unwrap();
        let eth = frame::ethernet(B_MAC, A_MAC, frame::ETHERTYPE_IPV4, &packet);
        let ip = frame::parse_ipv4(frame::parse_ethernet(&eth).unwrap().payload).unwrap();
        prop_assert!(ip.checksum_ok);
        prop_assert_eq!((ip.src, ip.dst, ip.ttl, ip.identification), (src, dst, ttl, id));
        let tcp = frame::parse_tcp(ip.payload, ip.src, ip.dst).unwrap();
        prop_assert!(tcp.checksum_ok);
        prop_assert_eq!(tcp.header, header);
        prop_assert_eq!(tcp.payload, &payload[..]);
        prop_assert_eq!(TcpFlags::from_bits(bits).to_bits(), bits);

        let dgram = frame::udp(src_port, dst_port, &payload, src, dst).unwrap();
        let udp = frame::parse_udp(&dgram, src, dst).unwrap();
        prop_assert!(udp.checksum_ok);
        prop_assert_ne!(&dgram[6..8], &[0, 0]);
        prop_assert_eq!(udp.payload, &payload[..]);
    }
}

/// An Ethernet/IPv4/TCP frame from `(mac, ip)` to `(mac, ip)`.
fn tcp_frame(
    from: ([u8; 6], Ipv4Addr),
    to: ([u8; 6], Ipv4Addr),
    h: TcpHeader,
    data: &[u8],
) -> Vec<u8> {
    let seg = frame::tcp(&h, data, from.1, to.1).unwrap();
    let ip = frame::ipv4(from.1, to.1, frame::IPPROTO_TCP, 64, 0, &seg).unwrap();
    frame::ethernet(to.0, from.0, frame::ETHERTYPE_IPV4, &ip)
}

/// A capture of a TCP handshake to port 179 carrying one BGP KEEPALIVE, then a BFD Control
/// packet (state Up) on UDP 3784.
fn bgp_and_bfd_capture() -> Vec<u8> {
    let (a, b) = ((A_MAC, A_IP), (B_MAC, B_IP));
    let flags = |syn, ack, psh| TcpFlags {
        syn,
        ack,
        psh,
        ..TcpFlags::default()
    };
    let (a_isn, b_isn) = (1_000u32, 5_000u32);
    let h = |src_port, dst_port, seq, ack, flags, mss| TcpHeader {
        src_port,
        dst_port,
        seq,
        ack,
        flags,
        window: 64_240,
        mss,
    };
    // BGP KEEPALIVE (RFC 4271 §4.4): marker of 16 x 0xff, length 19, type 4.
    let mut keepalive = vec![0xff; 16];
    keepalive.extend_from_slice(&[0, 19, 4]);
    // BFD Control (RFC 5880 §4.1): version 1, diag 0, state Up, detect mult 3, length 24,
    // discriminators 1 and 2, 300 ms desired TX and required RX, no echo.
    let mut bfd = vec![0x20, 0xc0, 3, 24];
    for word in [1u32, 2, 300_000, 300_000, 0] {
        bfd.extend_from_slice(&word.to_be_bytes());
    }

    let ms = |n: u64| SimTime(SimDuration::from_millis(n).as_nanos());
    let mut w = PcapWriter::with_epoch(Vec::new(), SimDuration::from_secs(1_700_000_000)).unwrap();
    let frames = [
        (
            ms(0),
            tcp_frame(
                a,
                b,
                h(40_000, 179, a_isn, 0, flags(true, false, false), Some(1460)),
                &[],
            ),
        ),
        (
            ms(1),
            tcp_frame(
                b,
                a,
                h(
                    179,
                    40_000,
                    b_isn,
                    a_isn + 1,
                    flags(true, true, false),
                    Some(1460),
                ),
                &[],
            ),
        ),
        (
            ms(2),
            tcp_frame(
                a,
                b,
                h(
                    40_000,
                    179,
                    a_isn + 1,
                    b_isn + 1,
                    flags(false, true, false),
                    None,
                ),
                &[],
            ),
        ),
        (
            ms(3),
            tcp_frame(
                a,
                b,
                h(
                    40_000,
                    179,
                    a_isn + 1,
                    b_isn + 1,
                    flags(false, true, true),
                    None,
                ),
                &keepalive,
            ),
        ),
        (
            ms(4),
            tcp_frame(
                b,
                a,
                h(
                    179,
                    40_000,
                    b_isn + 1,
                    a_isn + 20,
                    flags(false, true, false),
                    None,
                ),
                &[],
            ),
        ),
    ];
    for (t, f) in &frames {
        w.write_frame(*t, f).unwrap();
    }
    let udp = frame::udp(49_152, 3784, &bfd, A_IP, B_IP).unwrap();
    let ip = frame::ipv4(A_IP, B_IP, frame::IPPROTO_UDP, 255, 7, &udp).unwrap();
    w.write_frame(
        ms(5),
        &frame::ethernet(B_MAC, A_MAC, frame::ETHERTYPE_IPV4, &ip),
    )
    .unwrap();
    w.into_inner()
}

#[test]
fn tshark_decodes_bgp_keepalive_and_bfd_without_errors() {
    let Some(tshark) = testkit::or_skip(testkit::program("tshark", "tshark")) else {
        return;
    };
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("sim-core-bgp-bfd.pcap");
    std::fs::write(&path, bgp_and_bfd_capture()).unwrap();
    let text = testkit::tshark_verbose(
        &tshark,
        &[
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
        ],
        &path,
    );
    let dump = || format!("tshark -V output:\n{text}");
    assert!(
        text.contains("Border Gateway Protocol - KEEPALIVE Message"),
        "{}",
        dump()
    );
    assert!(text.contains("BFD Control message"), "{}", dump());
    assert!(text.contains("Session State: Up"), "{}", dump());
    assert!(!text.contains("Malformed"), "{}", dump());
    assert!(!text.contains("[Expert Info (Error"), "{}", dump());
    assert!(
        !text.to_lowercase().contains("checksum status: bad"),
        "{}",
        dump()
    );
    assert!(!text.contains("incorrect"), "{}", dump());
    // IPv4 (6), TCP (5) and UDP (1) checksums were all checked and found good.
    assert_eq!(
        text.matches("[Header checksum status: Good]").count(),
        6,
        "{}",
        dump()
    );
    assert_eq!(
        text.matches("[Checksum Status: Good]").count(),
        6,
        "{}",
        dump()
    );
}

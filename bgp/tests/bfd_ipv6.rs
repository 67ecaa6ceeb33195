//! BFD over IPv6 (RFC 5881): packets built and read back, the hop-limit and checksum rules a
//! receiver applies, no panic on any bytes, and tshark decoding the frames with good checksums.

use bgp::bfd::ipv6::{ipv6_packet, receive_ipv6, Ipv6BfdError, BFD_HOP_LIMIT};
use bgp::bfd::{BfdControl, Diagnostic, SessionState};
use proptest::prelude::*;
use std::net::Ipv6Addr;

const A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xfe, 0, 0, 0, 0, 1);
const B: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xfe, 0, 0, 0, 0, 2);

fn control(state: SessionState) -> BfdControl {
    BfdControl {
        diag: Diagnostic::NoDiagnostic,
        state,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 7,
        your_discriminator: if state == SessionState::Down { 0 } else { 9 },
        desired_min_tx_us: 300_000,
        required_min_rx_us: 300_000,
        required_min_echo_rx_us: 0,
        auth: None,
    }
}

#[test]
fn built_packets_read_back() {
    let up = control(SessionState::Up);
    let packet = ipv6_packet(A, B, 49152, &up);
    assert_eq!(packet.len(), 40 + 8 + 24);
    assert_eq!(packet[7], BFD_HOP_LIMIT);
    assert_eq!(&packet[42..44], &3784u16.to_be_bytes());
    assert_eq!(receive_ipv6(&packet), Ok((A, 49152, up)));
}

#[test]
fn receivers_drop_what_rfc_5881_says() {
    let packet = ipv6_packet(A, B, 50000, &control(SessionState::Init));
    let mut hop = packet.clone();
    hop[7] = 254;
    assert_eq!(receive_ipv6(&hop), Err(Ipv6BfdError::HopLimit(254)));
    let mut sum = packet.clone();
    sum[46] ^= 0x01;
    assert_eq!(receive_ipv6(&sum), Err(Ipv6BfdError::BadChecksum));
    let mut port = packet.clone();
    port[43] = 0xc1; // 3777
    assert_eq!(receive_ipv6(&port), Err(Ipv6BfdError::NotBfd));
    assert_eq!(receive_ipv6(&packet[..47]), Err(Ipv6BfdError::NotBfd));
    // The checksum covers the addresses: another destination fails it.
    let mut other = packet;
    other[39] = 3;
    assert_eq!(receive_ipv6(&other), Err(Ipv6BfdError::BadChecksum));
}

proptest! {
    #[test]
    fn receive_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
        let _ = receive_ipv6(&bytes);
    }

    #[test]
    fn mutations_never_panic(at in 0usize..72, value in any::<u8>()) {
        let mut packet = ipv6_packet(A, B, 49153, &control(SessionState::Up));
        packet[at] = value;
        let _ = receive_ipv6(&packet);
    }
}

#[test]
fn tshark_decodes_bfd_over_ipv6_without_errors() {
    let Some(tshark) = testkit::or_skip(testkit::program("tshark", "tshark")) else {
        return;
    };
    let mut pcap = sim_core::pcap::PcapWriter::new(Vec::new()).unwrap();
    for (i, (src, dst, state)) in [
        (A, B, SessionState::Down),
        (B, A, SessionState::Init),
        (A, B, SessionState::Up),
    ]
    .into_iter()
    .enumerate()
    {
        let mut frame = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd];
        frame.extend(ipv6_packet(src, dst, 49152, &control(state)));
        pcap.write_frame(sim_core::SimTime(i as u64 * 300_000_000), &frame)
            .unwrap();
    }
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bfd-ipv6.pcap");
    std::fs::write(&path, pcap.into_inner()).unwrap();
    let text = testkit::tshark_verbose(&tshark, &["-o", "udp.check_checksum:TRUE"], &path);
    let dump = || format!("tshark -V output:\n{text}");
    assert_eq!(text.matches("BFD Control message").count(), 3, "{}", dump());
    assert!(text.contains("Session State: Up"), "{}", dump());
    assert_eq!(text.matches("Hop Limit: 255").count(), 3, "{}", dump());
    assert_eq!(
        text.matches("[Checksum Status: Good]").count(),
        3,
        "{}",
        dump()
    );
    assert!(!text.contains("Malformed"), "{}", dump());
    assert!(!text.contains("[Expert Info (Error"), "{}", dump());
}

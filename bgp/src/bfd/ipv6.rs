//! BFD over IPv6, single hop (RFC 5881): the Control packet in UDP to port 3784 from a source
//! port in 49152..=65535 (§4), with hop limit 255 on send and required on receipt (§5, the
//! Generalized TTL Security Mechanism: FRR's bfdd drops single-hop packets that arrive with
//! less), and the UDP checksum that IPv6 makes mandatory (RFC 8200 §8.1).
//!
//! Pure: bytes for a capture or a socket-free check; the session machine is the same as for
//! IPv4.

use std::net::Ipv6Addr;

use bytes::BytesMut;

use super::{BfdControl, BfdDecodeError, BFD_CONTROL_PORT};

/// Hop limit a single-hop BFD packet is sent with and must arrive with (RFC 5881 §5).
pub const BFD_HOP_LIMIT: u8 = 255;
/// The source port range of RFC 5881 §4.
pub const BFD_SOURCE_PORTS: std::ops::RangeInclusive<u16> = 49152..=65535;

const IPV6_HEADER_LEN: usize = 40;
const UDP_HEADER_LEN: usize = 8;
const NEXT_HEADER_UDP: u8 = 17;

/// The UDP checksum over the IPv6 pseudo-header (RFC 8200 §8.1) of `udp` (header and payload,
/// checksum field zero); 0 is sent as 0xffff, IPv6 having no "no checksum" value.
pub fn udp6_checksum(src: Ipv6Addr, dst: Ipv6Addr, udp: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |bytes: &[u8]| {
        for pair in bytes.chunks(2) {
            let hi = u64::from(pair[0]) << 8;
            sum += hi | pair.get(1).map_or(0, |&lo| u64::from(lo));
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(udp.len() as u32).to_be_bytes());
    add(&[0, 0, 0, NEXT_HEADER_UDP]);
    add(udp);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    match !(sum as u16) {
        0 => 0xffff,
        c => c,
    }
}

/// The IPv6 packet (header, UDP, BFD Control) a single-hop BFD session sends from
/// `src`:`sport` to `dst`:3784.
pub fn ipv6_packet(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, control: &BfdControl) -> Vec<u8> {
    let mut bfd = BytesMut::new();
    control.encode(&mut bfd);
    let udp_len = UDP_HEADER_LEN + bfd.len();
    let mut udp = Vec::with_capacity(udp_len);
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&BFD_CONTROL_PORT.to_be_bytes());
    udp.extend_from_slice(&(udp_len as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&bfd);
    let sum = udp6_checksum(src, dst, &udp);
    udp[6..8].copy_from_slice(&sum.to_be_bytes());
    let mut packet = Vec::with_capacity(IPV6_HEADER_LEN + udp_len);
    packet.extend_from_slice(&[0x60, 0, 0, 0]);
    packet.extend_from_slice(&(udp_len as u16).to_be_bytes());
    packet.extend_from_slice(&[NEXT_HEADER_UDP, BFD_HOP_LIMIT]);
    packet.extend_from_slice(&src.octets());
    packet.extend_from_slice(&dst.octets());
    packet.extend_from_slice(&udp);
    packet
}

/// Why a received IPv6 packet is not a BFD Control packet this single-hop session takes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ipv6BfdError {
    /// Shorter than the IPv6 and UDP headers, or not IPv6 / UDP / port 3784.
    #[error("not a single-hop BFD packet over IPv6 (UDP port 3784)")]
    NotBfd,
    /// Hop limit below 255 (RFC 5881 §5: "MUST be discarded").
    #[error("hop limit {0} is not 255: the packet crossed a router")]
    HopLimit(u8),
    /// The UDP checksum does not verify.
    #[error("UDP checksum does not verify")]
    BadChecksum,
    /// The BFD Control packet itself.
    #[error(transparent)]
    Control(#[from] BfdDecodeError),
}

/// Reads a single-hop BFD Control packet from an IPv6 packet as a receiver must (RFC 5881
/// §4, §5): UDP to 3784, hop limit 255, a checksum that verifies. Returns the source, the
/// source port and the packet.
///
/// # Errors
/// [`Ipv6BfdError`]: the first rule broken.
pub fn receive_ipv6(packet: &[u8]) -> Result<(Ipv6Addr, u16, BfdControl), Ipv6BfdError> {
    if packet.len() < IPV6_HEADER_LEN + UDP_HEADER_LEN
        || packet[0] >> 4 != 6
        || packet[6] != NEXT_HEADER_UDP
    {
        return Err(Ipv6BfdError::NotBfd);
    }
    let addr = |at: usize| {
        let mut o = [0u8; 16];
        o.copy_from_slice(&packet[at..at + 16]);
        Ipv6Addr::from(o)
    };
    let (src, dst) = (addr(8), addr(24));
    let payload_len = usize::from(u16::from_be_bytes([packet[4], packet[5]]));
    let udp = packet
        .get(IPV6_HEADER_LEN..IPV6_HEADER_LEN + payload_len)
        .ok_or(Ipv6BfdError::NotBfd)?;
    if udp.len() < UDP_HEADER_LEN || u16::from_be_bytes([udp[2], udp[3]]) != BFD_CONTROL_PORT {
        return Err(Ipv6BfdError::NotBfd);
    }
    if packet[7] != BFD_HOP_LIMIT {
        return Err(Ipv6BfdError::HopLimit(packet[7]));
    }
    let mut zeroed = udp.to_vec();
    let found = u16::from_be_bytes([udp[6], udp[7]]);
    zeroed[6..8].copy_from_slice(&[0, 0]);
    if udp6_checksum(src, dst, &zeroed) != found {
        return Err(Ipv6BfdError::BadChecksum);
    }
    let sport = u16::from_be_bytes([udp[0], udp[1]]);
    let udp_len =
        usize::from(u16::from_be_bytes([udp[4], udp[5]])).clamp(UDP_HEADER_LEN, udp.len());
    Ok((
        src,
        sport,
        BfdControl::decode(&udp[UDP_HEADER_LEN..udp_len])?,
    ))
}

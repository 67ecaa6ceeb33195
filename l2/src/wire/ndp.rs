//! IPv6 Neighbor Discovery (RFC 4861) on the wire: Neighbor Solicitation and Neighbor
//! Advertisement inside their IPv6 header, with the link-layer address options, the ICMPv6
//! checksum over the IPv6 pseudo-header (RFC 4443 §2.3, RFC 8200 §8.1), solicited-node multicast
//! addresses (RFC 4291 §2.7.1) and their Ethernet multicast MACs (RFC 2464 §7).
//!
//! NDP is IPv6's ARP: "who has T?" is a multicast NS to T's solicited-node group, "T is at M" a
//! NA with the Target Link-Layer Address option, and gratuitous ARP's place is taken by an
//! unsolicited NA to all-nodes with the Override flag (RFC 4861 §7.2.6).

use std::net::Ipv6Addr;

use bytes::{BufMut, BytesMut};

use super::{DecodeError, EtherType, EthernetFrame, MacAddr};

/// Bytes of the fixed IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
/// IPv6 Next Header value of ICMPv6.
pub const NEXT_HEADER_ICMPV6: u8 = 58;
/// The hop limit every NDP message is sent with and must arrive with (RFC 4861 §7.1.1, §7.1.2):
/// a message that crossed a router has a smaller one and is dropped.
pub const NDP_HOP_LIMIT: u8 = 255;
/// ICMPv6 type of a Neighbor Solicitation.
pub const ICMPV6_NEIGHBOR_SOLICITATION: u8 = 135;
/// ICMPv6 type of a Neighbor Advertisement.
pub const ICMPV6_NEIGHBOR_ADVERTISEMENT: u8 = 136;
/// ICMPv6 header, reserved/flags word and target address: the fixed part of NS and NA.
pub const NDP_FIXED_LEN: usize = 24;

/// `ff02::1`, all nodes on the link (RFC 4291 §2.7.1): where unsolicited NAs go.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

const OPTION_SOURCE_LL: u8 = 1;
const OPTION_TARGET_LL: u8 = 2;

/// The solicited-node multicast address of `addr`: `ff02::1:ff00:0/104` plus its low 24 bits
/// (RFC 4291 §2.7.1). A multicast NS for `addr` goes here.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    let mut out = [0u8; 16];
    out[0] = 0xff;
    out[1] = 0x02;
    out[11] = 0x01;
    out[12] = 0xff;
    out[13..].copy_from_slice(&o[13..]);
    Ipv6Addr::from(out)
}

/// The Ethernet destination of an IPv6 multicast packet: `33:33` and the address's low 32 bits
/// (RFC 2464 §7).
pub fn multicast_mac(addr: Ipv6Addr) -> MacAddr {
    let o = addr.octets();
    MacAddr([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

/// The link-local address a Linux interface forms from its MAC (modified EUI-64, RFC 4291
/// §2.5.1 and appendix A; `addrconf_ifid_eui48` in net/ipv6/addrconf.c): `fe80::` and the MAC
/// with `ff:fe` in the middle and the universal/local bit flipped.
pub fn link_local_from_mac(mac: MacAddr) -> Ipv6Addr {
    let m = mac.0;
    let mut out = [0u8; 16];
    out[0] = 0xfe;
    out[1] = 0x80;
    out[8] = m[0] ^ 0x02;
    out[9] = m[1];
    out[10] = m[2];
    out[11] = 0xff;
    out[12] = 0xfe;
    out[13..].copy_from_slice(&m[3..]);
    Ipv6Addr::from(out)
}

/// The Ethernet destination for an IPv6 destination: the multicast MAC for a multicast address,
/// otherwise `unicast` (what the sender resolved).
pub fn ethernet_dst(dst: Ipv6Addr, unicast: MacAddr) -> MacAddr {
    if dst.is_multicast() {
        multicast_mac(dst)
    } else {
        unicast
    }
}

/// The ICMPv6 checksum of `message` (checksum field zero or not: the caller passes the bytes
/// with the field zeroed to compute it, or as received to verify it, which then sums to 0).
/// The one's complement sum runs over the pseudo-header (source, destination, upper-layer
/// length, next header 58; RFC 8200 §8.1) and the message.
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) -> u16 {
    let mut sum: u64 = 0;
    let mut add = |bytes: &[u8]| {
        for pair in bytes.chunks(2) {
            let word = match *pair {
                [hi, lo] => u16::from_be_bytes([hi, lo]),
                [hi] => u16::from_be_bytes([hi, 0]),
                _ => 0,
            };
            sum += u64::from(word);
        }
    };
    add(&src.octets());
    add(&dst.octets());
    // NDP messages are far below 4 GiB; a longer slice only arises from fuzzed lengths, which
    // the decoder has already bounded by the 16-bit payload length.
    let len = u32::try_from(message.len()).unwrap_or(u32::MAX);
    add(&len.to_be_bytes());
    add(&[0, 0, 0, NEXT_HEADER_ICMPV6]);
    add(message);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An NDP option (RFC 4861 §4.6). The two link-layer address options are read when they have
/// the Ethernet length (one 8-octet unit); any other option, or a link-layer option of another
/// length, is kept as [`NdpOption::Other`], so a decode re-encodes to the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum NdpOption {
    /// Type 1: the sender's MAC.
    SourceLinkLayer(MacAddr),
    /// Type 2: the target's MAC.
    TargetLinkLayer(MacAddr),
    /// Any other option: its type and the bytes after the length octet (a multiple of 8, less
    /// 2).
    Other {
        /// The Type octet.
        kind: u8,
        /// The option's bytes after Type and Length.
        data: Vec<u8>,
    },
}

impl NdpOption {
    fn encoded_len(&self) -> usize {
        match self {
            NdpOption::SourceLinkLayer(_) | NdpOption::TargetLinkLayer(_) => 8,
            // Padded up to whole 8-octet units on encode.
            NdpOption::Other { data, .. } => (data.len() + 2).div_ceil(8) * 8,
        }
    }

    fn encode(&self, buf: &mut BytesMut) {
        match self {
            NdpOption::SourceLinkLayer(mac) | NdpOption::TargetLinkLayer(mac) => {
                let kind = if matches!(self, NdpOption::SourceLinkLayer(_)) {
                    OPTION_SOURCE_LL
                } else {
                    OPTION_TARGET_LL
                };
                buf.put_u8(kind);
                buf.put_u8(1);
                buf.put_slice(&mac.0);
            }
            NdpOption::Other { kind, data } => {
                let len = self.encoded_len();
                buf.put_u8(*kind);
                // An option longer than 255 units cannot be written; such values never come
                // from `decode`, and the length octet saturates rather than wraps.
                buf.put_u8(u8::try_from(len / 8).unwrap_or(u8::MAX));
                buf.put_slice(data);
                buf.put_bytes(0, len - 2 - data.len());
            }
        }
    }
}

/// The two NDP messages lbsim models. Router Solicitation/Advertisement and Redirect are not
/// modelled (the segment has no IPv6 router advertising prefixes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum NdpMessage {
    /// Type 135 (RFC 4861 §4.3): "who has `target`?".
    Solicitation {
        /// The address being resolved or probed.
        target: Ipv6Addr,
        /// Options in order.
        options: Vec<NdpOption>,
    },
    /// Type 136 (RFC 4861 §4.4): "`target` is at ...".
    Advertisement {
        /// R: the sender is a router.
        router: bool,
        /// S: sent in answer to a solicitation (confirms reachability).
        solicited: bool,
        /// O: replace a cached link-layer address.
        override_flag: bool,
        /// The address advertised.
        target: Ipv6Addr,
        /// Options in order.
        options: Vec<NdpOption>,
    },
}

impl NdpMessage {
    /// The target address of either message.
    pub fn target(&self) -> Ipv6Addr {
        match self {
            NdpMessage::Solicitation { target, .. } | NdpMessage::Advertisement { target, .. } => {
                *target
            }
        }
    }

    /// The options of either message.
    pub fn options(&self) -> &[NdpOption] {
        match self {
            NdpMessage::Solicitation { options, .. }
            | NdpMessage::Advertisement { options, .. } => options,
        }
    }

    /// The first Source Link-Layer Address option's MAC.
    pub fn source_link_layer(&self) -> Option<MacAddr> {
        self.options().iter().find_map(|o| match o {
            NdpOption::SourceLinkLayer(mac) => Some(*mac),
            _ => None,
        })
    }

    /// The first Target Link-Layer Address option's MAC.
    pub fn target_link_layer(&self) -> Option<MacAddr> {
        self.options().iter().find_map(|o| match o {
            NdpOption::TargetLinkLayer(mac) => Some(*mac),
            _ => None,
        })
    }

    fn encoded_len(&self) -> usize {
        NDP_FIXED_LEN
            + self
                .options()
                .iter()
                .map(NdpOption::encoded_len)
                .sum::<usize>()
    }
}

/// Why a well-formed NDP packet must still be dropped (RFC 4861 §7.1.1 for NS, §7.1.2 for NA;
/// net/ipv6/ndisc.c ndisc_rcv, ndisc_recv_ns, ndisc_recv_na).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NdpInvalid {
    /// The hop limit is not 255: the packet crossed a router.
    #[error("hop limit {0} is not 255")]
    HopLimit(u8),
    /// The target is a multicast address.
    #[error("the target address is multicast")]
    MulticastTarget,
    /// An NS from the unspecified address (duplicate address detection) that is not sent to a
    /// solicited-node multicast address.
    #[error("an NS from :: must go to a solicited-node multicast address")]
    DadNotToSolicitedNode,
    /// An NS from the unspecified address that carries a Source Link-Layer Address option.
    #[error("an NS from :: must not carry a source link-layer address")]
    DadWithSourceLinkLayer,
    /// An NA to a multicast address with the Solicited flag set.
    #[error("an NA to a multicast address must not have the Solicited flag")]
    SolicitedToMulticast,
}

/// A Neighbor Discovery packet: the IPv6 header fields that matter and the ICMPv6 message.
///
/// ```text
///  IPv6 header (40 octets): version 6 | traffic class | flow label | payload length |
///                           next header 58 | hop limit 255 | source | destination
///  ICMPv6:
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +---------------+---------------+-------------------------------+
/// | Type 135/136  |    Code 0     |           Checksum            |
/// +-+-+-+---------+---------------+-------------------------------+
/// |R|S|O|                 Reserved (NS: all 32 bits)              |
/// +-+-+-+---------------------------------------------------------+
/// |                    Target Address (16 octets)                 |
/// +---------------------------------------------------------------+
/// |   Options: Type | Length (8-octet units) | value ...          |
/// ```
///
/// Reserved bits are ignored on decode and sent as zero (RFC 4861 §4.3, §4.4), and the
/// checksum is computed on encode and verified on decode, so neither is a field here.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct NdpPacket {
    /// IPv6 source.
    pub src: Ipv6Addr,
    /// IPv6 destination.
    pub dst: Ipv6Addr,
    /// IPv6 hop limit (255 for a valid NDP message).
    pub hop_limit: u8,
    /// IPv6 traffic class.
    pub traffic_class: u8,
    /// IPv6 flow label, 20 bits (Linux sets a hashed one on some NS; replies carry 0).
    pub flow_label: u32,
    /// The NS or NA.
    pub message: NdpMessage,
}

impl NdpPacket {
    /// A packet from `src` to `dst` with hop limit 255 and a zero flow label.
    pub fn new(src: Ipv6Addr, dst: Ipv6Addr, message: NdpMessage) -> Self {
        NdpPacket {
            src,
            dst,
            hop_limit: NDP_HOP_LIMIT,
            traffic_class: 0,
            flow_label: 0,
            message,
        }
    }

    /// A multicast NS for `target` as Linux's ndisc_send_ns sends it to resolve an address:
    /// to `target`'s solicited-node group, with a Source Link-Layer Address option unless the
    /// source is `::` (RFC 4861 §7.2.2).
    pub fn solicit(src_mac: MacAddr, src: Ipv6Addr, target: Ipv6Addr) -> Self {
        Self::solicit_to(src_mac, src, target, solicited_node(target))
    }

    /// A unicast NS for `target` sent to `target` itself: the probe of Neighbor Unreachability
    /// Detection (RFC 4861 §7.3.3, PROBE state).
    pub fn probe(src_mac: MacAddr, src: Ipv6Addr, target: Ipv6Addr) -> Self {
        Self::solicit_to(src_mac, src, target, target)
    }

    fn solicit_to(src_mac: MacAddr, src: Ipv6Addr, target: Ipv6Addr, dst: Ipv6Addr) -> Self {
        let options = if src.is_unspecified() {
            Vec::new()
        } else {
            vec![NdpOption::SourceLinkLayer(src_mac)]
        };
        NdpPacket::new(src, dst, NdpMessage::Solicitation { target, options })
    }

    /// The NA MetalLB's speaker sends in answer to an NS for a VIP it leads: from the node's
    /// link-local address (`ndp.Dial(ifi, ndp.LinkLocal)`) to the solicitation's source, Solicited
    /// set, Override clear, a Target Link-Layer Address option with the node's MAC (metallb
    /// internal/layer2/ndp.go `advertise(src, target, false)`).
    pub fn metallb_reply(solicitation: &NdpPacket, node_mac: MacAddr, node_ll: Ipv6Addr) -> Self {
        NdpPacket::new(
            node_ll,
            solicitation.src,
            NdpMessage::Advertisement {
                router: false,
                solicited: true,
                override_flag: false,
                target: solicitation.message.target(),
                options: vec![NdpOption::TargetLinkLayer(node_mac)],
            },
        )
    }

    /// MetalLB's unsolicited NA for `vip`, IPv6's gratuitous ARP: to all-nodes `ff02::1`,
    /// Solicited clear, Override set, Target Link-Layer Address option with the node's MAC
    /// (metallb internal/layer2/ndp.go `Gratuitous`: `advertise(IPv6linklocalallnodes, ip, true)`).
    pub fn metallb_unsolicited(node_mac: MacAddr, node_ll: Ipv6Addr, vip: Ipv6Addr) -> Self {
        NdpPacket::new(
            node_ll,
            ALL_NODES,
            NdpMessage::Advertisement {
                router: false,
                solicited: false,
                override_flag: true,
                target: vip,
                options: vec![NdpOption::TargetLinkLayer(node_mac)],
            },
        )
    }

    /// The Ethernet frame carrying this packet from `src_mac`; its destination is the multicast
    /// MAC for a multicast IPv6 destination, otherwise `unicast_dst`.
    pub fn frame(&self, src_mac: MacAddr, unicast_dst: MacAddr) -> EthernetFrame {
        let mut buf = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut buf);
        EthernetFrame {
            dst: ethernet_dst(self.dst, unicast_dst),
            src: src_mac,
            ethertype: EtherType::Ipv6,
            payload: buf.freeze(),
        }
    }

    /// Bytes of the IPv6 packet: header plus ICMPv6 message.
    pub fn encoded_len(&self) -> usize {
        IPV6_HEADER_LEN + self.message.encoded_len()
    }

    /// Appends the IPv6 packet to `buf`, with its ICMPv6 checksum.
    pub fn encode(&self, buf: &mut BytesMut) {
        let icmp_len = self.message.encoded_len();
        buf.reserve(IPV6_HEADER_LEN + icmp_len);
        let first =
            (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0xf_ffff);
        buf.put_u32(first);
        buf.put_u16(u16::try_from(icmp_len).unwrap_or(u16::MAX));
        buf.put_u8(NEXT_HEADER_ICMPV6);
        buf.put_u8(self.hop_limit);
        buf.put_slice(&self.src.octets());
        buf.put_slice(&self.dst.octets());
        let icmp_start = buf.len();
        let (kind, flags, target, options) = match &self.message {
            NdpMessage::Solicitation { target, options } => {
                (ICMPV6_NEIGHBOR_SOLICITATION, 0u32, target, options)
            }
            NdpMessage::Advertisement {
                router,
                solicited,
                override_flag,
                target,
                options,
            } => {
                let flags = (u32::from(*router) << 31)
                    | (u32::from(*solicited) << 30)
                    | (u32::from(*override_flag) << 29);
                (ICMPV6_NEIGHBOR_ADVERTISEMENT, flags, target, options)
            }
        };
        buf.put_u8(kind);
        buf.put_u8(0);
        buf.put_u16(0); // checksum, filled in below
        buf.put_u32(flags);
        buf.put_slice(&target.octets());
        for option in options {
            option.encode(buf);
        }
        let sum = icmpv6_checksum(self.src, self.dst, &buf[icmp_start..]);
        buf[icmp_start + 2..icmp_start + 4].copy_from_slice(&sum.to_be_bytes());
    }

    /// Reads an NS or NA from the start of an IPv6 packet; bytes after the IPv6 payload length
    /// (Ethernet padding) are ignored.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] when the header or the payload its length announces is cut
    /// short; [`DecodeError::NotIpv6`] for another IP version; [`DecodeError::NotIcmpv6`] when
    /// the next header is not ICMPv6 (extension headers included: NDP never carries them);
    /// [`DecodeError::NotNdp`] for other ICMPv6 types or a non-zero code;
    /// [`DecodeError::BadChecksum`]; [`DecodeError::BadNdpOption`] for an option of length
    /// zero or running past the end (RFC 4861 §4.6: silently discarded).
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes.len() < IPV6_HEADER_LEN {
            return Err(DecodeError::Truncated {
                what: "IPv6 header",
                needed: IPV6_HEADER_LEN,
                available: bytes.len(),
            });
        }
        let first = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let version = (first >> 28) as u8;
        if version != 6 {
            return Err(DecodeError::NotIpv6(version));
        }
        let payload_len = usize::from(u16::from_be_bytes([bytes[4], bytes[5]]));
        let next_header = bytes[6];
        let hop_limit = bytes[7];
        let src = ipv6_at(bytes, 8);
        let dst = ipv6_at(bytes, 24);
        if next_header != NEXT_HEADER_ICMPV6 {
            return Err(DecodeError::NotIcmpv6(next_header));
        }
        let end = IPV6_HEADER_LEN + payload_len;
        if bytes.len() < end {
            return Err(DecodeError::Truncated {
                what: "IPv6 payload",
                needed: end,
                available: bytes.len(),
            });
        }
        let icmp = &bytes[IPV6_HEADER_LEN..end];
        if icmp.len() < 4 {
            return Err(DecodeError::Truncated {
                what: "ICMPv6 header",
                needed: IPV6_HEADER_LEN + 4,
                available: end,
            });
        }
        let (kind, code) = (icmp[0], icmp[1]);
        if !matches!(
            kind,
            ICMPV6_NEIGHBOR_SOLICITATION | ICMPV6_NEIGHBOR_ADVERTISEMENT
        ) || code != 0
        {
            return Err(DecodeError::NotNdp { kind, code });
        }
        if icmp.len() < NDP_FIXED_LEN {
            return Err(DecodeError::Truncated {
                what: "NDP message",
                needed: IPV6_HEADER_LEN + NDP_FIXED_LEN,
                available: end,
            });
        }
        if icmpv6_checksum(src, dst, icmp) != 0 {
            return Err(DecodeError::BadChecksum {
                found: u16::from_be_bytes([icmp[2], icmp[3]]),
            });
        }
        let flags = u32::from_be_bytes([icmp[4], icmp[5], icmp[6], icmp[7]]);
        let target = ipv6_at(icmp, 8);
        let options = decode_options(&icmp[NDP_FIXED_LEN..])?;
        let message = if kind == ICMPV6_NEIGHBOR_SOLICITATION {
            NdpMessage::Solicitation { target, options }
        } else {
            NdpMessage::Advertisement {
                router: flags & (1 << 31) != 0,
                solicited: flags & (1 << 30) != 0,
                override_flag: flags & (1 << 29) != 0,
                target,
                options,
            }
        };
        Ok(NdpPacket {
            src,
            dst,
            hop_limit,
            traffic_class: ((first >> 20) & 0xff) as u8,
            flow_label: first & 0xf_ffff,
            message,
        })
    }

    /// The receiver's validity checks of RFC 4861 §7.1.1 (NS) and §7.1.2 (NA) beyond what
    /// `decode` already checks (code, checksum, length, option lengths), in the order
    /// net/ipv6/ndisc.c applies them.
    ///
    /// # Errors
    /// The first rule broken.
    pub fn validate(&self) -> Result<(), NdpInvalid> {
        if self.hop_limit != NDP_HOP_LIMIT {
            return Err(NdpInvalid::HopLimit(self.hop_limit));
        }
        if self.message.target().is_multicast() {
            return Err(NdpInvalid::MulticastTarget);
        }
        match &self.message {
            NdpMessage::Solicitation { .. } if self.src.is_unspecified() => {
                if !is_solicited_node(self.dst) {
                    return Err(NdpInvalid::DadNotToSolicitedNode);
                }
                if self.message.source_link_layer().is_some() {
                    return Err(NdpInvalid::DadWithSourceLinkLayer);
                }
            }
            NdpMessage::Advertisement { solicited, .. }
                if *solicited && self.dst.is_multicast() =>
            {
                return Err(NdpInvalid::SolicitedToMulticast);
            }
            _ => {}
        }
        Ok(())
    }
}

/// Whether `addr` is in `ff02::1:ff00:0/104`.
pub fn is_solicited_node(addr: Ipv6Addr) -> bool {
    let o = addr.octets();
    o[..13] == solicited_node(addr).octets()[..13]
}

fn ipv6_at(bytes: &[u8], at: usize) -> Ipv6Addr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&bytes[at..at + 16]);
    Ipv6Addr::from(octets)
}

fn decode_options(mut rest: &[u8]) -> Result<Vec<NdpOption>, DecodeError> {
    let mut options = Vec::new();
    let mut offset = IPV6_HEADER_LEN + NDP_FIXED_LEN;
    while !rest.is_empty() {
        let (kind, units) = match rest {
            [kind, units, ..] => (*kind, usize::from(*units)),
            _ => return Err(DecodeError::BadNdpOption { offset, units: 0 }),
        };
        let len = units * 8;
        if units == 0 || len > rest.len() {
            return Err(DecodeError::BadNdpOption {
                offset,
                units: units as u8,
            });
        }
        let body = &rest[2..len];
        let option = match (kind, units) {
            (OPTION_SOURCE_LL | OPTION_TARGET_LL, 1) => {
                let mut mac = [0u8; 6];
                mac.copy_from_slice(body);
                if kind == OPTION_SOURCE_LL {
                    NdpOption::SourceLinkLayer(MacAddr(mac))
                } else {
                    NdpOption::TargetLinkLayer(MacAddr(mac))
                }
            }
            _ => NdpOption::Other {
                kind,
                data: body.to_vec(),
            },
        };
        options.push(option);
        rest = &rest[len..];
        offset += len;
    }
    Ok(options)
}

impl EthernetFrame {
    /// A frame carrying `packet` from `src`; see [`NdpPacket::frame`].
    pub fn ndp(unicast_dst: MacAddr, src: MacAddr, packet: &NdpPacket) -> Self {
        packet.frame(src, unicast_dst)
    }

    /// The NDP packet this frame carries.
    ///
    /// # Errors
    /// [`DecodeError::NotIpv6Frame`] if the EtherType is not IPv6, or any error of
    /// [`NdpPacket::decode`].
    pub fn to_ndp(&self) -> Result<NdpPacket, DecodeError> {
        if self.ethertype != EtherType::Ipv6 {
            return Err(DecodeError::NotIpv6Frame(self.ethertype.into()));
        }
        NdpPacket::decode(&self.payload)
    }
}

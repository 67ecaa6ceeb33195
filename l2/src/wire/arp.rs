//! ARP for IPv4 over Ethernet (RFC 826), and gratuitous ARP as MetalLB sends it and as the
//! Linux kernel judges it.

use std::net::Ipv4Addr;

use bytes::{BufMut, BytesMut};
use nom::bytes::complete::take;
use nom::combinator::map;
use nom::number::complete::{be_u16, be_u8};
use nom::{IResult, Parser};

use super::{DecodeError, EthernetFrame, MacAddr};

/// Length of an Ethernet/IPv4 ARP message.
pub const ARP_LEN: usize = 28;

const HTYPE_ETHERNET: u16 = 1;
const PTYPE_IPV4: u16 = 0x0800;

/// Byte offsets, named once.
mod field {
    use std::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const TPA: Range<usize> = 24..28;
}

/// The ARP operation. Values other than request and reply are kept (`Unknown`); the kernel
/// ignores them (net/ipv4/arp.c arp_process, "Understand only these message types").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum ArpOp {
    /// 1.
    Request,
    /// 2.
    Reply,
    /// Any other value (RARP 3/4, InARP 8/9, ...).
    Unknown(u16),
}

impl From<u16> for ArpOp {
    fn from(value: u16) -> Self {
        match value {
            1 => ArpOp::Request,
            2 => ArpOp::Reply,
            other => ArpOp::Unknown(other),
        }
    }
}

impl From<ArpOp> for u16 {
    fn from(value: ArpOp) -> Self {
        match value {
            ArpOp::Request => 1,
            ArpOp::Reply => 2,
            ArpOp::Unknown(other) => other,
        }
    }
}

/// An Ethernet/IPv4 ARP message (RFC 826). HTYPE, PTYPE, HLEN and PLEN are fixed at 1,
/// 0x0800, 6 and 4; others are refused by [`Arp::decode`] with a typed error.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-------------------------------+-------------------------------+
/// |      HTYPE (1 = Ethernet)     |      PTYPE (0x0800 = IPv4)    |
/// +---------------+---------------+-------------------------------+
/// |   HLEN (6)    |   PLEN (4)    |   OPER (1 request, 2 reply)   |
/// +---------------+---------------+-------------------------------+
/// |               Sender hardware address (SHA), 6 octets         |
/// +                               +-------------------------------+
/// |                               | Sender protocol address (SPA) |
/// +-------------------------------+-------------------------------+
/// |           SPA (cont.)         | Target hardware address (THA) |
/// +-------------------------------+                               +
/// |                         THA (cont.)                           |
/// +---------------------------------------------------------------+
/// |                Target protocol address (TPA)                  |
/// +---------------------------------------------------------------+
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Arp {
    /// OPER.
    pub op: ArpOp,
    /// SHA.
    pub sender_mac: MacAddr,
    /// SPA.
    pub sender_ip: Ipv4Addr,
    /// THA.
    pub target_mac: MacAddr,
    /// TPA.
    pub target_ip: Ipv4Addr,
}

fn mac(input: &[u8]) -> IResult<&[u8], MacAddr> {
    map(take(6usize), |b: &[u8]| {
        let mut octets = [0u8; 6];
        octets.copy_from_slice(b);
        MacAddr(octets)
    })
    .parse(input)
}

fn ipv4(input: &[u8]) -> IResult<&[u8], Ipv4Addr> {
    map(take(4usize), |b: &[u8]| {
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    })
    .parse(input)
}

type Fixed = (u16, u16, u8, u8, u16);
type Addresses = (MacAddr, Ipv4Addr, MacAddr, Ipv4Addr);

fn fixed(input: &[u8]) -> IResult<&[u8], Fixed> {
    (be_u16, be_u16, be_u8, be_u8, be_u16).parse(input)
}

fn addresses(input: &[u8]) -> IResult<&[u8], Addresses> {
    (mac, ipv4, mac, ipv4).parse(input)
}

impl Arp {
    /// Reads an ARP message from the start of `bytes`; trailing bytes (Ethernet padding) are
    /// ignored.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] below 28 bytes; [`DecodeError::UnsupportedHardwareType`],
    /// [`DecodeError::UnsupportedProtocolType`], [`DecodeError::BadAddressLength`] for anything
    /// but Ethernet/IPv4.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let truncated = || DecodeError::Truncated {
            what: "ARP",
            needed: ARP_LEN,
            available: bytes.len(),
        };
        // Check the fixed part first so a foreign ARP (e.g. IPv6-free hardware types) gets its
        // own error even when shorter than an Ethernet/IPv4 one.
        let (rest, (htype, ptype, hlen, plen, oper)) = fixed(bytes).map_err(|_| truncated())?;
        if htype != HTYPE_ETHERNET {
            return Err(DecodeError::UnsupportedHardwareType {
                offset: field::HTYPE.start,
                value: htype,
            });
        }
        if ptype != PTYPE_IPV4 {
            return Err(DecodeError::UnsupportedProtocolType {
                offset: field::PTYPE.start,
                value: ptype,
            });
        }
        if hlen != 6 || plen != 4 {
            return Err(DecodeError::BadAddressLength {
                offset: field::HLEN,
                hlen,
                plen,
            });
        }
        let (_padding, (sender_mac, sender_ip, target_mac, target_ip)) =
            addresses(rest).map_err(|_| truncated())?;
        Ok(Arp {
            op: ArpOp::from(oper),
            sender_mac,
            sender_ip,
            target_mac,
            target_ip,
        })
    }

    /// Always [`ARP_LEN`].
    pub fn encoded_len(&self) -> usize {
        ARP_LEN
    }

    /// Appends the 28 bytes to `buf`.
    pub fn encode(&self, buf: &mut BytesMut) {
        let start = buf.len();
        buf.reserve(ARP_LEN);
        buf.put_u16(HTYPE_ETHERNET);
        buf.put_u16(PTYPE_IPV4);
        buf.put_u8(6);
        buf.put_u8(4);
        buf.put_u16(self.op.into());
        debug_assert_eq!(buf.len() - start, field::OPER.end);
        buf.put_slice(&self.sender_mac.0);
        debug_assert_eq!(buf.len() - start, field::SHA.end);
        buf.put_slice(&self.sender_ip.octets());
        buf.put_slice(&self.target_mac.0);
        buf.put_slice(&self.target_ip.octets());
        debug_assert_eq!(buf.len() - start, field::TPA.end);
    }

    /// A request "who has `target_ip`? tell `sender_ip`" as the kernel's arp_solicit builds it:
    /// THA all zeros (net/ipv4/arp.c arp_create: `memset(arp_ptr, 0, ...)` without a target).
    pub fn request(sender_mac: MacAddr, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Self {
        Arp {
            op: ArpOp::Request,
            sender_mac,
            sender_ip,
            target_mac: MacAddr::ZERO,
            target_ip,
        }
    }

    /// The reply to `request` from the owner of its TPA: "`request.target_ip` is at `mac`",
    /// addressed back to the requester (metallb `internal/layer2/arp.go` uses
    /// `conn.Reply(pkt, hwAddr, pkt.TargetIP)`; the kernel's arp_process the same).
    pub fn reply_to(request: &Arp, mac: MacAddr) -> Self {
        Arp {
            op: ArpOp::Reply,
            sender_mac: mac,
            sender_ip: request.target_ip,
            target_mac: request.sender_mac,
            target_ip: request.sender_ip,
        }
    }

    /// A gratuitous ARP exactly as MetalLB sends it for `vip` from a node whose NIC is
    /// `node_mac`: SHA = node MAC, SPA = TPA = VIP, THA = ff:ff:ff:ff:ff:ff, for both the
    /// request and the reply (metallb `internal/layer2/arp.go` `Gratuitous`:
    /// `arp.NewPacket(op, hardwareAddr, ip, ethernet.Broadcast, ip)` for
    /// `op` in request, reply).
    ///
    /// Note the reply's THA (broadcast) differs from its SHA, so the kernel does *not* count
    /// MetalLB's reply as gratuitous ([`Arp::is_gratuitous`]); only the request is.
    pub fn metallb_gratuitous(op: ArpOp, node_mac: MacAddr, vip: Ipv4Addr) -> Self {
        Arp {
            op,
            sender_mac: node_mac,
            sender_ip: vip,
            target_mac: MacAddr::BROADCAST,
            target_ip: vip,
        }
    }

    /// The two frames MetalLB writes for one announcement, in order: request, then reply,
    /// each to the Ethernet broadcast address from the node's MAC (`conn.WriteTo(pkt,
    /// ethernet.Broadcast)`; mdlayher/arp sets the Ethernet source to the interface address).
    pub fn metallb_gratuitous_frames(node_mac: MacAddr, vip: Ipv4Addr) -> [EthernetFrame; 2] {
        [ArpOp::Request, ArpOp::Reply].map(|op| {
            EthernetFrame::arp(
                MacAddr::BROADCAST,
                node_mac,
                &Arp::metallb_gratuitous(op, node_mac, vip),
            )
        })
    }

    /// Whether the kernel treats this message as gratuitous (net/ipv4/arp.c `arp_is_garp`):
    /// SPA == TPA, and for a reply also THA == SHA. Other operations never are (arp_process
    /// drops them before asking).
    ///
    /// The kernel adds one more condition that needs routing state: SPA must be a unicast
    /// address for the receiving host (`inet_addr_type_dev_table(..) == RTN_UNICAST`); the
    /// neighbour cache checks that part.
    pub fn is_gratuitous(&self) -> bool {
        match self.op {
            ArpOp::Request => self.sender_ip == self.target_ip,
            ArpOp::Reply => self.sender_ip == self.target_ip && self.target_mac == self.sender_mac,
            ArpOp::Unknown(_) => false,
        }
    }
}

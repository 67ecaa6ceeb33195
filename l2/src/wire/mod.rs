//! Ethernet II, ARP (RFC 826) and IPv6 Neighbor Discovery (RFC 4861) on the wire: owned structs, `decode`, `encoded_len`, `encode`.
//!
//! Contract, checked by property tests in `l2/tests/wire.rs`: `decode` never panics on any
//! input, and `encode` then `decode` gives back the value (for Ethernet, up to the zero padding
//! that brings a short frame to the 60-byte minimum).

mod arp;
mod ethernet;
mod ndp;

pub use arp::{Arp, ArpOp, ARP_LEN};
pub use ethernet::{EtherType, EthernetFrame, ETHERNET_HEADER_LEN, ETHERNET_MIN_FRAME_LEN};
pub use ndp::{
    ethernet_dst, icmpv6_checksum, is_solicited_node, link_local_from_mac, multicast_mac,
    solicited_node, NdpInvalid, NdpMessage, NdpOption, NdpPacket, ALL_NODES,
    ICMPV6_NEIGHBOR_ADVERTISEMENT, ICMPV6_NEIGHBOR_SOLICITATION, IPV6_HEADER_LEN, NDP_FIXED_LEN,
    NDP_HOP_LIMIT, NEXT_HEADER_ICMPV6,
};

use std::fmt;
use std::str::FromStr;

/// A 48-bit IEEE 802 MAC address. Displays as `aa:bb:cc:dd:ee:ff`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `ff:ff:ff:ff:ff:ff`, the Ethernet broadcast address.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// `00:00:00:00:00:00`, what an ARP request carries as THA when the target is unknown.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// The six octets.
    pub const fn octets(self) -> [u8; 6] {
        self.0
    }
    /// `ff:ff:ff:ff:ff:ff`.
    pub fn is_broadcast(self) -> bool {
        self == Self::BROADCAST
    }
    /// Group address (the I/G bit, least significant bit of the first octet); broadcast is one.
    /// A switch floods these and never learns them as a source.
    pub fn is_multicast(self) -> bool {
        self.0[0] & 0x01 != 0
    }
    /// An individual (unicast) address.
    pub fn is_unicast(self) -> bool {
        !self.is_multicast()
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

/// Why a MAC address text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {text:?}: write six hex octets separated by ':', e.g. \"02:00:00:00:00:01\"")]
pub struct ParseMacError {
    /// The text as written.
    pub text: String,
}

impl FromStr for MacAddr {
    type Err = ParseMacError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = || ParseMacError {
            text: text.to_string(),
        };
        let mut out = [0u8; 6];
        let mut parts = text.split(':');
        for slot in &mut out {
            let part = parts.next().ok_or_else(err)?;
            if part.len() != 2 {
                return Err(err());
            }
            *slot = u8::from_str_radix(part, 16).map_err(|_| err())?;
        }
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(MacAddr(out))
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(octets: [u8; 6]) -> Self {
        MacAddr(octets)
    }
}

/// Why bytes could not be decoded. Offsets count from the start of the slice given to
/// `decode` (for ARP, the start of the ARP payload).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the fixed layout needs.
    #[error("{what} truncated: needs {needed} bytes, got {available}")]
    Truncated {
        /// Which message was being read.
        what: &'static str,
        /// Bytes the layout needs.
        needed: usize,
        /// Bytes given.
        available: usize,
    },
    /// ARP hardware type other than Ethernet (1). The kernel also accepts IEEE 802 (6) on
    /// Ethernet devices (net/ipv4/arp.c arp_process); lbsim's segments only carry type 1.
    #[error("ARP hardware type {value} at offset {offset} is not Ethernet (1)")]
    UnsupportedHardwareType {
        /// Byte offset of the field.
        offset: usize,
        /// The value read.
        value: u16,
    },
    /// ARP protocol type other than IPv4 (0x0800).
    #[error("ARP protocol type {value:#06x} at offset {offset} is not IPv4 (0x0800)")]
    UnsupportedProtocolType {
        /// Byte offset of the field.
        offset: usize,
        /// The value read.
        value: u16,
    },
    /// ARP address lengths other than 6 (hardware) and 4 (protocol); the kernel drops these in
    /// arp_rcv (`ar_hln != dev->addr_len || ar_pln != 4`).
    #[error("ARP address lengths hlen={hlen} plen={plen} at offset {offset} (expected 6 and 4)")]
    BadAddressLength {
        /// Byte offset of the HLEN field.
        offset: usize,
        /// Hardware address length read.
        hlen: u8,
        /// Protocol address length read.
        plen: u8,
    },
    /// The Ethernet payload is not ARP (asked to read ARP from a frame of another type).
    #[error("ethertype {0:#06x} is not ARP (0x0806)")]
    NotArp(u16),
    /// The Ethernet payload is not IPv6 (asked to read NDP from a frame of another type).
    #[error("ethertype {0:#06x} is not IPv6 (0x86dd)")]
    NotIpv6Frame(u16),
    /// The IP version nibble is not 6.
    #[error("IP version {0} at offset 0 is not 6")]
    NotIpv6(u8),
    /// The IPv6 next header is not ICMPv6 (58); NDP never carries extension headers.
    #[error("IPv6 next header {0} at offset 6 is not ICMPv6 (58)")]
    NotIcmpv6(u8),
    /// An ICMPv6 message that is not a Neighbor Solicitation (135) or Advertisement (136) with
    /// code 0 (RFC 4861 §7.1: a non-zero code is invalid).
    #[error(
        "ICMPv6 type {kind} code {code} at offset 40 is not an NS (135) or NA (136) with code 0"
    )]
    NotNdp {
        /// ICMPv6 type.
        kind: u8,
        /// ICMPv6 code.
        code: u8,
    },
    /// The ICMPv6 checksum over the pseudo-header does not verify.
    #[error("ICMPv6 checksum {found:#06x} at offset 42 does not verify")]
    BadChecksum {
        /// The checksum field as received.
        found: u16,
    },
    /// An NDP option of length zero or running past the message (RFC 4861 §4.6).
    #[error(
        "NDP option at offset {offset} has length {units} (8-octet units): zero or past the end"
    )]
    BadNdpOption {
        /// Byte offset of the option in the IPv6 packet.
        offset: usize,
        /// Its Length octet.
        units: u8,
    },
}

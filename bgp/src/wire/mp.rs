//! Multiprotocol extensions for IPv6 unicast (RFC 4760, RFC 2545): MP_REACH_NLRI (type 14)
//! and MP_UNREACH_NLRI (type 15) for AFI 2 / SAFI 1, and the IPv6 prefixes they carry.
//!
//! Other AFI/SAFI pairs stay [`AttributeValue::Unknown`](super::AttributeValue::Unknown), byte
//! for byte.

use super::error::DecodeError;
use super::reader::Reader;
use bytes::{BufMut, BytesMut};
use std::fmt;
use std::net::Ipv6Addr;

/// AFI 2 (IPv6).
pub(crate) const AFI_IPV6: u16 = 2;
/// SAFI 1 (unicast).
pub(crate) const SAFI_UNICAST: u8 = 1;

/// An IPv6 prefix as MP_REACH_NLRI / MP_UNREACH_NLRI carry it (RFC 4760 §5: length in bits,
/// then the fewest octets that hold it). Host bits are always zero.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Ipv6Prefix {
    addr: Ipv6Addr,
    len: u8,
}

impl Ipv6Prefix {
    /// The prefix `addr/len` with host bits cleared, or `None` when `len > 128`.
    pub fn new(addr: Ipv6Addr, len: u8) -> Option<Ipv6Prefix> {
        if len > 128 {
            return None;
        }
        let mask = u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0);
        Some(Ipv6Prefix {
            addr: Ipv6Addr::from(u128::from(addr) & mask),
            len,
        })
    }

    /// A /128 host route, as MetalLB (through FRR) announces an IPv6 service IP.
    pub fn host(addr: Ipv6Addr) -> Ipv6Prefix {
        Ipv6Prefix { addr, len: 128 }
    }

    /// Network address.
    pub fn addr(&self) -> Ipv6Addr {
        self.addr
    }

    /// Prefix length in bits (0..=128).
    pub fn len(&self) -> u8 {
        self.len
    }

    /// Whether this is `::/0`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn octets_len(self) -> usize {
        usize::from(self.len).div_ceil(8)
    }

    pub(crate) fn encoded_len(self) -> usize {
        1 + self.octets_len()
    }

    pub(crate) fn encode(self, buf: &mut BytesMut) {
        buf.put_u8(self.len);
        let octets = self.addr.octets();
        buf.put_slice(octets.get(..self.octets_len()).unwrap_or(&octets));
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Ipv6Prefix, DecodeError> {
        let offset = r.offset();
        let invalid = DecodeError::InvalidNetworkField { offset };
        let len = r.u8().ok_or(invalid.clone())?;
        if len > 128 {
            return Err(invalid);
        }
        let bytes = r
            .take(usize::from(len).div_ceil(8))
            .ok_or(invalid.clone())?;
        let mut octets = [0u8; 16];
        for (slot, byte) in octets.iter_mut().zip(bytes) {
            *slot = *byte;
        }
        Ipv6Prefix::new(Ipv6Addr::from(octets), len).ok_or(invalid)
    }
}

impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// MP_REACH_NLRI for IPv6 unicast (RFC 4760 §3): the next hop and the announced prefixes.
///
/// ```text
/// +---------------------------------------------------------+
/// | AFI 2 (2 octets) | SAFI 1 (1 octet)                     |
/// | Length of Next Hop (1 octet): 16, or 32 with link-local |
/// | Next Hop: global (16) [+ link-local (16)] (RFC 2545 §3) |
/// | Reserved (1 octet, 0)                                   |
/// | NLRI (variable)                                         |
/// +---------------------------------------------------------+
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct MpReachIpv6 {
    /// The global next hop.
    pub next_hop: Ipv6Addr,
    /// The link-local next hop, sent when the peer shares the link (RFC 2545 §3; FRR sends
    /// both to a directly connected peer).
    pub link_local: Option<Ipv6Addr>,
    /// Announced prefixes.
    pub nlri: Vec<Ipv6Prefix>,
}

impl MpReachIpv6 {
    pub(crate) fn encoded_len(&self) -> usize {
        let nh = if self.link_local.is_some() { 32 } else { 16 };
        3 + 1 + nh + 1 + self.nlri.iter().map(|p| p.encoded_len()).sum::<usize>()
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        buf.put_u16(AFI_IPV6);
        buf.put_u8(SAFI_UNICAST);
        buf.put_u8(if self.link_local.is_some() { 32 } else { 16 });
        buf.put_slice(&self.next_hop.octets());
        if let Some(ll) = self.link_local {
            buf.put_slice(&ll.octets());
        }
        buf.put_u8(0);
        self.nlri.iter().for_each(|p| p.encode(buf));
    }

    /// Decodes the value after AFI and SAFI (already read and found 2/1). `length_error` is the
    /// error for a next hop of a length other than 16 or 32.
    pub(crate) fn decode_rest(
        r: &mut Reader<'_>,
        length_error: impl Fn() -> DecodeError,
    ) -> Result<MpReachIpv6, DecodeError> {
        let nh_len = r.u8().ok_or_else(&length_error)?;
        if nh_len != 16 && nh_len != 32 {
            return Err(length_error());
        }
        let nh = r.take(usize::from(nh_len)).ok_or_else(&length_error)?;
        let addr = |b: &[u8]| {
            let mut o = [0u8; 16];
            o.copy_from_slice(b);
            Ipv6Addr::from(o)
        };
        let next_hop = addr(&nh[..16]);
        let link_local = (nh_len == 32).then(|| addr(&nh[16..]));
        // Reserved: "MUST be ignored upon receipt" (RFC 4760 §3).
        r.u8().ok_or_else(&length_error)?;
        let mut nlri = Vec::new();
        while !r.is_empty() {
            nlri.push(Ipv6Prefix::decode(r)?);
        }
        Ok(MpReachIpv6 {
            next_hop,
            link_local,
            nlri,
        })
    }
}

/// MP_UNREACH_NLRI for IPv6 unicast (RFC 4760 §4): AFI 2, SAFI 1, withdrawn prefixes. With no
/// prefix it is IPv6 unicast's End-of-RIB marker (RFC 4724 §2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct MpUnreachIpv6 {
    /// Withdrawn prefixes.
    pub withdrawn: Vec<Ipv6Prefix>,
}

impl MpUnreachIpv6 {
    pub(crate) fn encoded_len(&self) -> usize {
        3 + self
            .withdrawn
            .iter()
            .map(|p| p.encoded_len())
            .sum::<usize>()
    }

    pub(crate) fn encode(&self, buf: &mut BytesMut) {
        buf.put_u16(AFI_IPV6);
        buf.put_u8(SAFI_UNICAST);
        self.withdrawn.iter().for_each(|p| p.encode(buf));
    }

    pub(crate) fn decode_rest(r: &mut Reader<'_>) -> Result<MpUnreachIpv6, DecodeError> {
        let mut withdrawn = Vec::new();
        while !r.is_empty() {
            withdrawn.push(Ipv6Prefix::decode(r)?);
        }
        Ok(MpUnreachIpv6 { withdrawn })
    }
}

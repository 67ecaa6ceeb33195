//! Ethernet II framing (IEEE 802.3 clause 3 with a DIX type field).

use bytes::{BufMut, Bytes, BytesMut};
use nom::bytes::complete::take;
use nom::combinator::map;
use nom::number::complete::be_u16;
use nom::{IResult, Parser};

use super::{Arp, DecodeError, MacAddr};

/// Destination, source and type: the bytes before the payload.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// The shortest frame on the wire without its 4-byte FCS; shorter frames are zero-padded.
pub const ETHERNET_MIN_FRAME_LEN: usize = 60;

/// Byte ranges of the header, named once.
mod field {
    use std::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: usize = 14;
}

/// The EtherType field. Values without a name are kept in `Unknown`, so nothing read is lost;
/// build values with `From<u16>` so a named type never hides in `Unknown`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum EtherType {
    /// 0x0800.
    Ipv4,
    /// 0x0806.
    Arp,
    /// 0x8100, an IEEE 802.1Q tag (not parsed further here).
    Vlan,
    /// 0x86DD.
    Ipv6,
    /// Any other value.
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(value: u16) -> Self {
        match value {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x8100 => EtherType::Vlan,
            0x86DD => EtherType::Ipv6,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(value: EtherType) -> Self {
        match value {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Vlan => 0x8100,
            EtherType::Ipv6 => 0x86DD,
            EtherType::Unknown(other) => other,
        }
    }
}

/// An Ethernet II frame without preamble and FCS.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +---------------------------------------------------------------+
/// |                  Destination MAC (6 octets)                   |
/// +                               +-------------------------------+
/// |                               |                               |
/// +-------------------------------+                               +
/// |                     Source MAC (6 octets)                     |
/// +-------------------------------+-------------------------------+
/// |          EtherType            |   Payload (46..=1500 octets;  |
/// +-------------------------------+   shorter ones are padded)    |
/// ```
///
/// Ethernet II has no length field, so `decode` cannot tell padding from payload: the
/// payload it returns includes any padding, and the protocol decoder above (e.g.
/// [`Arp::decode`]) ignores trailing bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EthernetFrame {
    /// Destination address.
    pub dst: MacAddr,
    /// Source address.
    pub src: MacAddr,
    /// What the payload is.
    pub ethertype: EtherType,
    /// The payload as carried (on decode: including any padding).
    pub payload: Bytes,
}

fn mac(input: &[u8]) -> IResult<&[u8], MacAddr> {
    map(take(6usize), |b: &[u8]| {
        let mut octets = [0u8; 6];
        octets.copy_from_slice(b);
        MacAddr(octets)
    })
    .parse(input)
}

fn header(input: &[u8]) -> IResult<&[u8], (MacAddr, MacAddr, u16)> {
    (mac, mac, be_u16).parse(input)
}

impl EthernetFrame {
    /// A frame carrying `arp` from `src` to `dst`.
    pub fn arp(dst: MacAddr, src: MacAddr, arp: &Arp) -> Self {
        let mut buf = BytesMut::with_capacity(arp.encoded_len());
        arp.encode(&mut buf);
        EthernetFrame {
            dst,
            src,
            ethertype: EtherType::Arp,
            payload: buf.freeze(),
        }
    }

    /// Reads a frame. Frames shorter than the 60-byte minimum are accepted as long as the
    /// 14-byte header is whole (a simulator or capture may strip padding).
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] when fewer than 14 bytes are given.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let truncated = || DecodeError::Truncated {
            what: "Ethernet header",
            needed: ETHERNET_HEADER_LEN,
            available: bytes.len(),
        };
        if bytes.len() < ETHERNET_HEADER_LEN {
            return Err(truncated());
        }
        let (rest, (dst, src, ethertype)) = header(bytes).map_err(|_| truncated())?;
        debug_assert_eq!(bytes.len() - rest.len(), field::PAYLOAD);
        Ok(EthernetFrame {
            dst,
            src,
            ethertype: EtherType::from(ethertype),
            payload: Bytes::copy_from_slice(rest),
        })
    }

    /// Bytes on the wire without FCS: header plus payload, at least 60.
    pub fn encoded_len(&self) -> usize {
        (ETHERNET_HEADER_LEN + self.payload.len()).max(ETHERNET_MIN_FRAME_LEN)
    }

    /// Appends the frame to `buf`, zero-padded to the 60-byte minimum.
    pub fn encode(&self, buf: &mut BytesMut) {
        let start = buf.len();
        buf.reserve(self.encoded_len());
        buf.put_slice(&self.dst.0);
        buf.put_slice(&self.src.0);
        buf.put_u16(self.ethertype.into());
        debug_assert_eq!(buf.len() - start, field::ETHERTYPE.end);
        buf.put_slice(&self.payload);
        let written = buf.len() - start;
        if written < ETHERNET_MIN_FRAME_LEN {
            buf.put_bytes(0, ETHERNET_MIN_FRAME_LEN - written);
        }
    }

    /// The ARP message this frame carries.
    ///
    /// # Errors
    /// [`DecodeError::NotArp`] if the EtherType is not ARP, or any error of [`Arp::decode`].
    pub fn to_arp(&self) -> Result<Arp, DecodeError> {
        if self.ethertype != EtherType::Arp {
            return Err(DecodeError::NotArp(self.ethertype.into()));
        }
        Arp::decode(&self.payload)
    }
}

// Keep the named ranges honest: they document the layout the code above writes.
const _: () =
    assert!(field::DST.end == field::SRC.start && field::SRC.end == field::ETHERTYPE.start);

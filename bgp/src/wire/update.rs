//! UPDATE (RFC 4271 §4.3): withdrawn IPv4 routes, path attributes, IPv4 NLRI.

use super::error::DecodeError;
use super::header::{self, encode_header, MessageType, HEADER_LEN};
use super::mp::{Ipv6Prefix, MpReachIpv6, MpUnreachIpv6, AFI_IPV6, SAFI_UNICAST};
use super::open::AS_TRANS;
use super::reader::Reader;
use super::CodecOptions;
use bytes::{BufMut, BytesMut};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Byte offsets of the UPDATE fields, named once (the rest are variable).
mod field {
    pub(super) const WITHDRAWN_LEN: usize = super::HEADER_LEN;
}

/// Path attribute type codes this codec knows (RFC 4271 §5.1, RFC 1997).
mod type_code {
    pub(super) const ORIGIN: u8 = 1;
    pub(super) const AS_PATH: u8 = 2;
    pub(super) const NEXT_HOP: u8 = 3;
    pub(super) const MULTI_EXIT_DISC: u8 = 4;
    pub(super) const LOCAL_PREF: u8 = 5;
    pub(super) const ATOMIC_AGGREGATE: u8 = 6;
    pub(super) const AGGREGATOR: u8 = 7;
    pub(super) const COMMUNITIES: u8 = 8;
    pub(super) const MP_REACH_NLRI: u8 = 14;
    pub(super) const MP_UNREACH_NLRI: u8 = 15;
}

/// An IPv4 prefix as carried in Withdrawn Routes and NLRI (RFC 4271 §4.3). Host bits are always
/// zero (RFC 4271 calls the trailing bits "irrelevant"; clearing them keeps encoding canonical).
///
/// ```text
/// +---------------------------+
/// |   Length (1 octet)        |
/// +---------------------------+
/// |   Prefix (variable)       |  ceil(Length / 8) octets
/// +---------------------------+
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Ipv4Prefix {
    addr: Ipv4Addr,
    len: u8,
}

impl Ipv4Prefix {
    /// The prefix `addr/len` with host bits cleared, or `None` when `len > 32`.
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Ipv4Prefix> {
        if len > 32 {
            return None;
        }
        // A shift by 32 overflows, so /0 gets its (empty) mask from `checked_shl`.
        let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
        Some(Ipv4Prefix {
            addr: Ipv4Addr::from(u32::from(addr) & mask),
            len,
        })
    }

    /// A /32 host route, as MetalLB announces a service IP.
    pub fn host(addr: Ipv4Addr) -> Ipv4Prefix {
        Ipv4Prefix { addr, len: 32 }
    }

    /// Network address.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// Prefix length in bits (0..=32).
    pub fn len(&self) -> u8 {
        self.len
    }

    /// Whether this is the default route 0.0.0.0/0 (the only prefix of length 0).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn octets_len(self) -> usize {
        usize::from(self.len).div_ceil(8)
    }

    fn encoded_len(self) -> usize {
        1 + self.octets_len()
    }

    fn encode(self, buf: &mut BytesMut) {
        buf.put_u8(self.len);
        let octets = self.addr.octets();
        buf.put_slice(octets.get(..self.octets_len()).unwrap_or(&octets));
    }

    fn decode(r: &mut Reader<'_>) -> Result<Ipv4Prefix, DecodeError> {
        let offset = r.offset();
        let invalid = DecodeError::InvalidNetworkField { offset };
        let len = r.u8().ok_or(invalid.clone())?;
        if len > 32 {
            return Err(invalid);
        }
        let bytes = r
            .take(usize::from(len).div_ceil(8))
            .ok_or(invalid.clone())?;
        let mut octets = [0u8; 4];
        for (slot, byte) in octets.iter_mut().zip(bytes) {
            *slot = *byte;
        }
        Ipv4Prefix::new(Ipv4Addr::from(octets), len).ok_or(invalid)
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// ORIGIN values (RFC 4271 §4.3); anything else is an error, so there is no `Unknown`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Origin {
    /// 0: IGP.
    Igp,
    /// 1: EGP.
    Egp,
    /// 2: INCOMPLETE.
    Incomplete,
}

/// AS_PATH segment types (RFC 4271 §4.3, confederations RFC 5065 §3); anything else is a
/// Malformed AS_PATH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AsSegmentType {
    /// 1: AS_SET, unordered.
    AsSet,
    /// 2: AS_SEQUENCE, ordered.
    AsSequence,
    /// 3: AS_CONFED_SEQUENCE (RFC 5065).
    AsConfedSequence,
    /// 4: AS_CONFED_SET (RFC 5065).
    AsConfedSet,
}

impl AsSegmentType {
    fn from_u8(value: u8) -> Option<AsSegmentType> {
        match value {
            1 => Some(AsSegmentType::AsSet),
            2 => Some(AsSegmentType::AsSequence),
            3 => Some(AsSegmentType::AsConfedSequence),
            4 => Some(AsSegmentType::AsConfedSet),
            _ => None,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            AsSegmentType::AsSet => 1,
            AsSegmentType::AsSequence => 2,
            AsSegmentType::AsConfedSequence => 3,
            AsSegmentType::AsConfedSet => 4,
        }
    }
}

/// One AS_PATH segment. On the wire a segment holds 1..=255 ASes: longer ones are written as
/// several segments of the same type and empty ones are left out.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct AsSegment {
    /// Segment type.
    pub kind: AsSegmentType,
    /// AS numbers, 4 octets wide in memory whatever the session negotiated.
    pub asns: Vec<u32>,
}

/// AS_PATH value (RFC 4271 §4.3 and §5.1.2; 4-octet form RFC 6793).
///
/// ```text
/// +---------------+---------------+---------------------------------+
/// | segment type  | segment length| AS numbers (2 or 4 octets each) |
/// +---------------+---------------+---------------------------------+
/// ```
///
/// With 2-octet AS numbers, an AS above 65535 is written as AS_TRANS (RFC 6793 §4.2.2); carrying
/// the real path in AS4_PATH is up to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct AsPath {
    /// Segments in order.
    pub segments: Vec<AsSegment>,
}

/// Most ASes one segment can carry (one length byte).
const MAX_SEGMENT_ASNS: usize = 255;

impl AsPath {
    /// A path of one AS_SEQUENCE (empty when `asns` is).
    pub fn sequence(asns: Vec<u32>) -> AsPath {
        AsPath {
            segments: vec![AsSegment {
                kind: AsSegmentType::AsSequence,
                asns,
            }],
        }
    }

    /// Path length for best-path selection (RFC 4271 §9.1.2.2 a): an AS_SET counts 1, a
    /// confederation segment 0 (RFC 5065 §5.3).
    pub fn path_length(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                AsSegmentType::AsSequence => s.asns.len(),
                AsSegmentType::AsSet => usize::from(!s.asns.is_empty()),
                AsSegmentType::AsConfedSequence | AsSegmentType::AsConfedSet => 0,
            })
            .sum()
    }

    fn encoded_len(&self, width: usize) -> usize {
        self.segments
            .iter()
            .flat_map(|s| s.asns.chunks(MAX_SEGMENT_ASNS))
            .map(|chunk| 2 + width * chunk.len())
            .sum()
    }

    fn encode(&self, buf: &mut BytesMut, options: CodecOptions) {
        for segment in &self.segments {
            for chunk in segment.asns.chunks(MAX_SEGMENT_ASNS) {
                buf.put_u8(segment.kind.to_u8());
                buf.put_u8(chunk.len() as u8);
                for &asn in chunk {
                    put_asn(buf, asn, options);
                }
            }
        }
    }

    fn decode(mut r: Reader<'_>, options: CodecOptions) -> Result<AsPath, DecodeError> {
        let mut segments = Vec::new();
        while !r.is_empty() {
            let offset = r.offset();
            let malformed = DecodeError::MalformedAsPath { offset };
            let (Some(kind), Some(count)) = (r.u8(), r.u8()) else {
                return Err(malformed);
            };
            let kind = AsSegmentType::from_u8(kind).ok_or(malformed.clone())?;
            // An empty segment says nothing and cannot be told apart on re-encoding
            // (RFC 7606 §7.2 also treats it as malformed).
            if count == 0 {
                return Err(malformed);
            }
            let mut asns = Vec::with_capacity(usize::from(count));
            for _ in 0..count {
                asns.push(get_asn(&mut r, options).ok_or(malformed.clone())?);
            }
            segments.push(AsSegment { kind, asns });
        }
        Ok(AsPath { segments })
    }
}

fn asn_width(options: CodecOptions) -> usize {
    if options.four_octet_as {
        4
    } else {
        2
    }
}

fn put_asn(buf: &mut BytesMut, asn: u32, options: CodecOptions) {
    if options.four_octet_as {
        buf.put_u32(asn);
    } else {
        // RFC 6793 §4.2.2: an AS that does not fit becomes AS_TRANS.
        buf.put_u16(u16::try_from(asn).unwrap_or(AS_TRANS));
    }
}

fn get_asn(r: &mut Reader<'_>, options: CodecOptions) -> Option<u32> {
    if options.four_octet_as {
        r.u32()
    } else {
        r.u16().map(u32::from)
    }
}

/// A COMMUNITIES value (RFC 1997): by convention the high 16 bits are an AS.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Community(pub u32);

impl Community {
    /// NO_EXPORT (RFC 1997).
    pub const NO_EXPORT: Community = Community(0xFFFF_FF01);
    /// NO_ADVERTISE (RFC 1997).
    pub const NO_ADVERTISE: Community = Community(0xFFFF_FF02);
    /// NO_EXPORT_SUBCONFED (RFC 1997).
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xFFFF_FF03);
    /// GRACEFUL_SHUTDOWN (RFC 8326).
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xFFFF_0000);
    /// BLACKHOLE (RFC 7999).
    pub const BLACKHOLE: Community = Community(0xFFFF_029A);

    /// `asn:value` form.
    pub fn new(asn: u16, value: u16) -> Community {
        Community((u32::from(asn) << 16) | u32::from(value))
    }
}

impl fmt::Display for Community {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff)
    }
}

/// The flags byte of a path attribute (RFC 4271 §4.3); only the high 4 bits mean anything and
/// the low 4 are dropped on decode (RFC 4271: "MUST be ignored when received").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct AttributeFlags(pub u8);

impl AttributeFlags {
    /// Optional (1) or well-known (0).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive.
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial: an optional transitive attribute some speaker on the path did not recognise.
    pub const PARTIAL: u8 = 0x20;
    /// Extended Length: a 2-octet Attribute Length. The encoder sets it whenever the value exceeds
    /// 255 bytes (so such a value always comes back with it); it is kept when received on a
    /// shorter value, so re-encoding gives the same bytes.
    pub const EXTENDED_LENGTH: u8 = 0x10;
    const DEFINED: u8 = 0xf0;

    /// Well-known (mandatory or discretionary) attribute: transitive.
    pub const WELL_KNOWN: AttributeFlags = AttributeFlags(Self::TRANSITIVE);
    /// Optional transitive attribute.
    pub const OPTIONAL_TRANSITIVE: AttributeFlags =
        AttributeFlags(Self::OPTIONAL | Self::TRANSITIVE);
    /// Optional non-transitive attribute.
    pub const OPTIONAL_NON_TRANSITIVE: AttributeFlags = AttributeFlags(Self::OPTIONAL);

    /// Whether every bit of `bits` is set.
    pub fn contains(self, bits: u8) -> bool {
        self.0 & bits == bits
    }

    /// The same flags with `bits` also set.
    pub fn with(self, bits: u8) -> AttributeFlags {
        AttributeFlags(self.0 | bits)
    }
}

/// The value of a path attribute.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum AttributeValue {
    /// 1 ORIGIN, well-known mandatory.
    Origin(Origin),
    /// 2 AS_PATH, well-known mandatory.
    AsPath(AsPath),
    /// 3 NEXT_HOP, well-known mandatory.
    NextHop(Ipv4Addr),
    /// 4 MULTI_EXIT_DISC, optional non-transitive.
    MultiExitDisc(u32),
    /// 5 LOCAL_PREF, well-known (mandatory on iBGP sessions).
    LocalPref(u32),
    /// 6 ATOMIC_AGGREGATE, well-known discretionary.
    AtomicAggregate,
    /// 7 AGGREGATOR, optional transitive; the AS is 2 or 4 octets as negotiated.
    Aggregator {
        /// AS of the aggregating speaker.
        asn: u32,
        /// Its BGP Identifier.
        address: Ipv4Addr,
    },
    /// 8 COMMUNITIES (RFC 1997), optional transitive.
    Communities(Vec<Community>),
    /// 14 MP_REACH_NLRI for IPv6 unicast (RFC 4760 §3), optional non-transitive.
    MpReachIpv6(MpReachIpv6),
    /// 15 MP_UNREACH_NLRI for IPv6 unicast (RFC 4760 §4), optional non-transitive.
    MpUnreachIpv6(MpUnreachIpv6),
    /// Any optional attribute this codec does not know (for example MP_REACH_NLRI of another
    /// AFI/SAFI, AS4_PATH, LARGE_COMMUNITY), kept byte for byte. Only for type codes other than
    /// 1..=8, and for 14 and 15 only when not AFI 2 / SAFI 1.
    Unknown {
        /// Attribute Type Code.
        type_code: u8,
        /// Attribute value.
        value: Vec<u8>,
    },
}

impl AttributeValue {
    /// Attribute Type Code.
    pub fn type_code(&self) -> u8 {
        match self {
            AttributeValue::Origin(_) => type_code::ORIGIN,
            AttributeValue::AsPath(_) => type_code::AS_PATH,
            AttributeValue::NextHop(_) => type_code::NEXT_HOP,
            AttributeValue::MultiExitDisc(_) => type_code::MULTI_EXIT_DISC,
            AttributeValue::LocalPref(_) => type_code::LOCAL_PREF,
            AttributeValue::AtomicAggregate => type_code::ATOMIC_AGGREGATE,
            AttributeValue::Aggregator { .. } => type_code::AGGREGATOR,
            AttributeValue::Communities(_) => type_code::COMMUNITIES,
            AttributeValue::MpReachIpv6(_) => type_code::MP_REACH_NLRI,
            AttributeValue::MpUnreachIpv6(_) => type_code::MP_UNREACH_NLRI,
            AttributeValue::Unknown { type_code, .. } => *type_code,
        }
    }

    /// Length of the encoded value alone (what the Attribute Length field says).
    pub fn encoded_len(&self, options: CodecOptions) -> usize {
        match self {
            AttributeValue::Origin(_) => 1,
            AttributeValue::AsPath(path) => path.encoded_len(asn_width(options)),
            AttributeValue::NextHop(_)
            | AttributeValue::MultiExitDisc(_)
            | AttributeValue::LocalPref(_) => 4,
            AttributeValue::AtomicAggregate => 0,
            AttributeValue::Aggregator { .. } => asn_width(options) + 4,
            AttributeValue::Communities(c) => 4 * c.len(),
            AttributeValue::MpReachIpv6(mp) => mp.encoded_len(),
            AttributeValue::MpUnreachIpv6(mp) => mp.encoded_len(),
            AttributeValue::Unknown { value, .. } => value.len(),
        }
    }

    fn encode(&self, buf: &mut BytesMut, options: CodecOptions) {
        match self {
            AttributeValue::Origin(origin) => buf.put_u8(match origin {
                Origin::Igp => 0,
                Origin::Egp => 1,
                Origin::Incomplete => 2,
            }),
            AttributeValue::AsPath(path) => path.encode(buf, options),
            AttributeValue::NextHop(addr) => buf.put_u32((*addr).into()),
            AttributeValue::MultiExitDisc(v) | AttributeValue::LocalPref(v) => buf.put_u32(*v),
            AttributeValue::AtomicAggregate => {}
            AttributeValue::Aggregator { asn, address } => {
                put_asn(buf, *asn, options);
                buf.put_u32((*address).into());
            }
            AttributeValue::Communities(c) => c.iter().for_each(|c| buf.put_u32(c.0)),
            AttributeValue::MpReachIpv6(mp) => mp.encode(buf),
            AttributeValue::MpUnreachIpv6(mp) => mp.encode(buf),
            AttributeValue::Unknown { value, .. } => buf.put_slice(value),
        }
    }
}

/// A path attribute (RFC 4271 §4.3): flags, then the value.
///
/// ```text
///  0                   1
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+---------------+----------------+
/// |O|T|P|E|unused | Attr Type Code| Length (1 or 2 octets, E bit)  | value...
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+---------------+----------------+
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct PathAttribute {
    /// Flags as received (high 4 bits). For known attributes Optional and Transitive always match
    /// the type; Partial may be set on AGGREGATOR and COMMUNITIES.
    pub flags: AttributeFlags,
    /// The value.
    pub value: AttributeValue,
}

impl PathAttribute {
    /// The attribute with the flags RFC 4271 §5 gives its type; an unknown one is made optional
    /// transitive.
    pub fn new(value: AttributeValue) -> PathAttribute {
        let flags = match value.type_code() {
            type_code::ORIGIN
            | type_code::AS_PATH
            | type_code::NEXT_HOP
            | type_code::LOCAL_PREF
            | type_code::ATOMIC_AGGREGATE => AttributeFlags::WELL_KNOWN,
            type_code::MULTI_EXIT_DISC | type_code::MP_REACH_NLRI | type_code::MP_UNREACH_NLRI => {
                AttributeFlags::OPTIONAL_NON_TRANSITIVE
            }
            _ => AttributeFlags::OPTIONAL_TRANSITIVE,
        };
        PathAttribute { flags, value }
    }

    /// What to send on when re-advertising this attribute (RFC 4271 §5 and §9.1.4 "unrecognized
    /// optional" rules): an unknown non-transitive attribute is dropped; an unknown transitive
    /// one goes on with the Partial bit set; a known one goes on as is.
    pub fn passed_on(&self) -> Option<PathAttribute> {
        match &self.value {
            AttributeValue::Unknown { .. } if !self.flags.contains(AttributeFlags::TRANSITIVE) => {
                None
            }
            AttributeValue::Unknown { .. } => Some(PathAttribute {
                flags: self.flags.with(AttributeFlags::PARTIAL),
                value: self.value.clone(),
            }),
            _ => Some(self.clone()),
        }
    }

    fn wire_flags(&self, value_len: usize) -> u8 {
        let flags = self.flags.0 & AttributeFlags::DEFINED;
        if value_len > 255 {
            flags | AttributeFlags::EXTENDED_LENGTH
        } else {
            flags
        }
    }

    /// Length of the encoded attribute: flags, type, length and value.
    pub fn encoded_len(&self, options: CodecOptions) -> usize {
        let value_len = self.value.encoded_len(options);
        let len_len = if self.wire_flags(value_len) & AttributeFlags::EXTENDED_LENGTH != 0 {
            2
        } else {
            1
        };
        2 + len_len + value_len
    }

    fn encode(&self, buf: &mut BytesMut, options: CodecOptions) {
        let value_len = self.value.encoded_len(options);
        let flags = self.wire_flags(value_len);
        buf.put_u8(flags);
        buf.put_u8(self.value.type_code());
        if flags & AttributeFlags::EXTENDED_LENGTH != 0 {
            buf.put_u16(value_len as u16);
        } else {
            buf.put_u8(value_len as u8);
        }
        self.value.encode(buf, options);
    }

    /// Decodes one attribute; `seen` tracks type codes to catch duplicates.
    fn decode(
        r: &mut Reader<'_>,
        options: CodecOptions,
        seen: &mut [bool; 256],
    ) -> Result<PathAttribute, DecodeError> {
        let offset = r.offset();
        let whole = r.peek_rest();
        let list_error = DecodeError::MalformedAttributeList { offset };
        let (Some(raw_flags), Some(code)) = (r.u8(), r.u8()) else {
            return Err(list_error);
        };
        let flags = AttributeFlags(raw_flags & AttributeFlags::DEFINED);
        let len = if flags.contains(AttributeFlags::EXTENDED_LENGTH) {
            r.u16().map(usize::from)
        } else {
            r.u8().map(usize::from)
        }
        .ok_or(list_error.clone())?;
        let header_len = r.offset() - offset;
        // RFC 4271 §6.3: an attribute running past Total Path Attribute Length makes the list
        // malformed.
        let mut value = r.sub(len).ok_or(list_error)?;
        let attribute = || whole.get(..header_len + len).unwrap_or(whole).to_vec();

        if let Some(slot) = seen.get_mut(usize::from(code)) {
            if *slot {
                return Err(DecodeError::DuplicateAttribute {
                    offset,
                    type_code: code,
                });
            }
            *slot = true;
        }

        let flag_bits =
            |f: AttributeFlags| f.0 & (AttributeFlags::OPTIONAL | AttributeFlags::TRANSITIVE);
        // MP_REACH_NLRI / MP_UNREACH_NLRI of IPv6 unicast are read; those of other families
        // fall through to the unknown optional attributes below, kept byte for byte.
        let rest = value.peek_rest();
        let ipv6_unicast = rest.len() >= 3
            && u16::from_be_bytes([rest[0], rest[1]]) == AFI_IPV6
            && rest[2] == SAFI_UNICAST;
        if ipv6_unicast && (code == type_code::MP_REACH_NLRI || code == type_code::MP_UNREACH_NLRI)
        {
            // RFC 4760 §3, §4: optional non-transitive.
            if flag_bits(flags) != AttributeFlags::OPTIONAL
                || flags.contains(AttributeFlags::PARTIAL)
            {
                return Err(DecodeError::AttributeFlagsError {
                    offset,
                    type_code: code,
                    attribute: attribute(),
                });
            }
            value.take(3);
            let value = if code == type_code::MP_REACH_NLRI {
                let length_error = || DecodeError::AttributeLengthError {
                    offset,
                    type_code: code,
                    attribute: attribute(),
                };
                AttributeValue::MpReachIpv6(MpReachIpv6::decode_rest(&mut value, length_error)?)
            } else {
                AttributeValue::MpUnreachIpv6(MpUnreachIpv6::decode_rest(&mut value)?)
            };
            return Ok(PathAttribute { flags, value });
        }
        let expected = match code {
            type_code::ORIGIN
            | type_code::AS_PATH
            | type_code::NEXT_HOP
            | type_code::LOCAL_PREF
            | type_code::ATOMIC_AGGREGATE => Some((AttributeFlags::WELL_KNOWN, false)),
            type_code::MULTI_EXIT_DISC => Some((AttributeFlags::OPTIONAL_NON_TRANSITIVE, false)),
            type_code::AGGREGATOR | type_code::COMMUNITIES => {
                Some((AttributeFlags::OPTIONAL_TRANSITIVE, true))
            }
            _ => None,
        };
        let Some((expected, partial_allowed)) = expected else {
            // RFC 4271 §6.3: an unrecognised well-known attribute is an error; unrecognised
            // optional ones are kept (and passed on or not by `passed_on`).
            if !flags.contains(AttributeFlags::OPTIONAL) {
                return Err(DecodeError::UnrecognizedWellKnownAttribute {
                    offset,
                    type_code: code,
                    attribute: attribute(),
                });
            }
            return Ok(PathAttribute {
                flags,
                value: AttributeValue::Unknown {
                    type_code: code,
                    value: value.peek_rest().to_vec(),
                },
            });
        };
        // RFC 4271 §4.3: Partial is 0 for well-known and optional non-transitive attributes.
        if flag_bits(flags) != flag_bits(expected)
            || (!partial_allowed && flags.contains(AttributeFlags::PARTIAL))
        {
            return Err(DecodeError::AttributeFlagsError {
                offset,
                type_code: code,
                attribute: attribute(),
            });
        }
        let length_error = || DecodeError::AttributeLengthError {
            offset,
            type_code: code,
            attribute: attribute(),
        };
        let fixed_len = match code {
            type_code::ORIGIN => Some(1),
            type_code::NEXT_HOP | type_code::MULTI_EXIT_DISC | type_code::LOCAL_PREF => Some(4),
            type_code::ATOMIC_AGGREGATE => Some(0),
            type_code::AGGREGATOR => Some(asn_width(options) + 4),
            _ => None,
        };
        if fixed_len.is_some_and(|want| want != len)
            || (code == type_code::COMMUNITIES && len % 4 != 0)
        {
            return Err(length_error());
        }
        let value = match code {
            type_code::ORIGIN => match value.u8().ok_or_else(length_error)? {
                0 => AttributeValue::Origin(Origin::Igp),
                1 => AttributeValue::Origin(Origin::Egp),
                2 => AttributeValue::Origin(Origin::Incomplete),
                other => {
                    return Err(DecodeError::InvalidOrigin {
                        offset,
                        value: other,
                        attribute: attribute(),
                    })
                }
            },
            type_code::AS_PATH => AttributeValue::AsPath(AsPath::decode(value, options)?),
            type_code::NEXT_HOP => {
                let addr = value.ipv4().ok_or_else(length_error)?;
                // RFC 4271 §6.3: a next hop must at least be a unicast host address.
                if addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() {
                    return Err(DecodeError::InvalidNextHop {
                        offset,
                        value: addr,
                        attribute: attribute(),
                    });
                }
                AttributeValue::NextHop(addr)
            }
            type_code::MULTI_EXIT_DISC => {
                AttributeValue::MultiExitDisc(value.u32().ok_or_else(length_error)?)
            }
            type_code::LOCAL_PREF => {
                AttributeValue::LocalPref(value.u32().ok_or_else(length_error)?)
            }
            type_code::ATOMIC_AGGREGATE => AttributeValue::AtomicAggregate,
            type_code::AGGREGATOR => {
                let asn = get_asn(&mut value, options).ok_or_else(length_error)?;
                let address = value.ipv4().ok_or_else(length_error)?;
                AttributeValue::Aggregator { asn, address }
            }
            _ => {
                let mut communities = Vec::with_capacity(len / 4);
                while !value.is_empty() {
                    communities.push(Community(value.u32().ok_or_else(length_error)?));
                }
                AttributeValue::Communities(communities)
            }
        };
        Ok(PathAttribute { flags, value })
    }
}

/// UPDATE message (RFC 4271 §4.3), header included when encoded. An UPDATE with nothing in it
/// is the End-of-RIB marker for IPv4 unicast (RFC 4724 §2).
///
/// ```text
/// +-----------------------------------------------------+
/// |   Withdrawn Routes Length (2 octets)                |
/// +-----------------------------------------------------+
/// |   Withdrawn Routes (variable)                       |
/// +-----------------------------------------------------+
/// |   Total Path Attribute Length (2 octets)            |
/// +-----------------------------------------------------+
/// |   Path Attributes (variable)                        |
/// +-----------------------------------------------------+
/// |   Network Layer Reachability Information (variable) |
/// +-----------------------------------------------------+
/// ```
///
/// Encoding does not split: keep [`Update::encoded_len`] within
/// [`MAX_MESSAGE_LEN`](super::MAX_MESSAGE_LEN) or peers will reject the message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct Update {
    /// Withdrawn routes.
    pub withdrawn: Vec<Ipv4Prefix>,
    /// Path attributes, in order, each type at most once.
    pub attributes: Vec<PathAttribute>,
    /// Announced prefixes; when non-empty ORIGIN, AS_PATH and NEXT_HOP must be present.
    pub nlri: Vec<Ipv4Prefix>,
}

impl Update {
    /// The End-of-RIB marker for IPv4 unicast: an empty UPDATE (RFC 4724 §2).
    pub fn end_of_rib() -> Update {
        Update::default()
    }

    /// Whether this is the IPv4 unicast End-of-RIB marker.
    pub fn is_end_of_rib(&self) -> bool {
        self.withdrawn.is_empty() && self.attributes.is_empty() && self.nlri.is_empty()
    }

    /// The End-of-RIB marker for IPv6 unicast: an UPDATE with only an empty MP_UNREACH_NLRI
    /// for AFI 2 / SAFI 1 (RFC 4724 §2).
    pub fn end_of_rib_ipv6() -> Update {
        Update {
            attributes: vec![PathAttribute::new(AttributeValue::MpUnreachIpv6(
                MpUnreachIpv6::default(),
            ))],
            ..Update::default()
        }
    }

    /// Whether this is the IPv6 unicast End-of-RIB marker.
    pub fn is_end_of_rib_ipv6(&self) -> bool {
        self.withdrawn.is_empty()
            && self.nlri.is_empty()
            && matches!(
                self.attributes.as_slice(),
                [PathAttribute { value: AttributeValue::MpUnreachIpv6(mp), .. }] if mp.withdrawn.is_empty()
            )
    }

    /// UPDATE announcing IPv6 `prefixes` via `next_hop` (and `link_local`) with `attributes`
    /// (ORIGIN, AS_PATH, ...; no NEXT_HOP: the next hop is MP_REACH_NLRI's, RFC 4760 §3), the
    /// MP_REACH_NLRI attribute appended.
    pub fn announce_ipv6(
        mut attributes: Vec<PathAttribute>,
        next_hop: Ipv6Addr,
        link_local: Option<Ipv6Addr>,
        prefixes: Vec<Ipv6Prefix>,
    ) -> Update {
        attributes.push(PathAttribute::new(AttributeValue::MpReachIpv6(
            MpReachIpv6 {
                next_hop,
                link_local,
                nlri: prefixes,
            },
        )));
        Update {
            attributes,
            ..Update::default()
        }
    }

    /// UPDATE withdrawing IPv6 `prefixes` (MP_UNREACH_NLRI alone).
    pub fn withdraw_ipv6(prefixes: Vec<Ipv6Prefix>) -> Update {
        Update {
            attributes: vec![PathAttribute::new(AttributeValue::MpUnreachIpv6(
                MpUnreachIpv6 {
                    withdrawn: prefixes,
                },
            ))],
            ..Update::default()
        }
    }

    /// MP_REACH_NLRI for IPv6 unicast, if present.
    pub fn mp_reach_ipv6(&self) -> Option<&MpReachIpv6> {
        match self.attribute(type_code::MP_REACH_NLRI) {
            Some(AttributeValue::MpReachIpv6(mp)) => Some(mp),
            _ => None,
        }
    }

    /// MP_UNREACH_NLRI for IPv6 unicast, if present.
    pub fn mp_unreach_ipv6(&self) -> Option<&MpUnreachIpv6> {
        match self.attribute(type_code::MP_UNREACH_NLRI) {
            Some(AttributeValue::MpUnreachIpv6(mp)) => Some(mp),
            _ => None,
        }
    }

    /// The attribute with this type code, if present.
    pub fn attribute(&self, type_code: u8) -> Option<&AttributeValue> {
        self.attributes
            .iter()
            .map(|a| &a.value)
            .find(|v| v.type_code() == type_code)
    }

    /// NEXT_HOP, if present.
    pub fn next_hop(&self) -> Option<Ipv4Addr> {
        match self.attribute(type_code::NEXT_HOP) {
            Some(AttributeValue::NextHop(addr)) => Some(*addr),
            _ => None,
        }
    }

    /// AS_PATH, if present.
    pub fn as_path(&self) -> Option<&AsPath> {
        match self.attribute(type_code::AS_PATH) {
            Some(AttributeValue::AsPath(path)) => Some(path),
            _ => None,
        }
    }

    fn attributes_len(&self, options: CodecOptions) -> usize {
        self.attributes.iter().map(|a| a.encoded_len(options)).sum()
    }

    fn prefixes_len(prefixes: &[Ipv4Prefix]) -> usize {
        prefixes.iter().map(|p| p.encoded_len()).sum()
    }

    /// Length of the encoded message, header included.
    pub fn encoded_len(&self, options: CodecOptions) -> usize {
        HEADER_LEN
            + 2
            + Self::prefixes_len(&self.withdrawn)
            + 2
            + self.attributes_len(options)
            + Self::prefixes_len(&self.nlri)
    }

    /// Writes the whole message, header included, with AS numbers as `options` says.
    pub fn encode(&self, buf: &mut BytesMut, options: CodecOptions) {
        encode_header(buf, MessageType::Update, self.encoded_len(options));
        buf.put_u16(Self::prefixes_len(&self.withdrawn) as u16);
        self.withdrawn.iter().for_each(|p| p.encode(buf));
        buf.put_u16(self.attributes_len(options) as u16);
        self.attributes.iter().for_each(|a| a.encode(buf, options));
        self.nlri.iter().for_each(|p| p.encode(buf));
    }

    /// Decodes one whole UPDATE message, header included; `options` says whether AS numbers
    /// are 4 octets (RFC 6793).
    ///
    /// # Errors
    /// Header errors (RFC 4271 §6.1) and the UPDATE errors of RFC 4271 §6.3, in its order:
    /// attribute list, flags, lengths, values, then NLRI, then missing mandatory attributes.
    pub fn decode(input: &[u8], options: CodecOptions) -> Result<Update, DecodeError> {
        let body = header::message_body(input, MessageType::Update)?;
        Update::decode_body(body, options)
    }

    /// Decodes the part after the header.
    pub(crate) fn decode_body(body: &[u8], options: CodecOptions) -> Result<Update, DecodeError> {
        let mut r = Reader::new(body, field::WITHDRAWN_LEN);
        // RFC 4271 §6.3: lengths that overrun the message make the attribute list malformed.
        let malformed = |offset| DecodeError::MalformedAttributeList { offset };
        let at = r.offset();
        let withdrawn_len = r.u16().ok_or(malformed(at))?;
        let mut withdrawn_r = r.sub(usize::from(withdrawn_len)).ok_or(malformed(at))?;
        let at = r.offset();
        let attrs_len = r.u16().ok_or(malformed(at))?;
        let mut attrs_r = r.sub(usize::from(attrs_len)).ok_or(malformed(at))?;

        let mut seen = [false; 256];
        let mut attributes = Vec::new();
        while !attrs_r.is_empty() {
            attributes.push(PathAttribute::decode(&mut attrs_r, options, &mut seen)?);
        }
        let mut withdrawn = Vec::new();
        while !withdrawn_r.is_empty() {
            withdrawn.push(Ipv4Prefix::decode(&mut withdrawn_r)?);
        }
        let mut nlri = Vec::new();
        while !r.is_empty() {
            nlri.push(Ipv4Prefix::decode(&mut r)?);
        }
        // RFC 4760 §3: an UPDATE with MP_REACH_NLRI also carries ORIGIN and AS_PATH (NEXT_HOP
        // only with IPv4 NLRI).
        if seen[usize::from(type_code::MP_REACH_NLRI)] {
            for code in [type_code::ORIGIN, type_code::AS_PATH] {
                if !seen[usize::from(code)] {
                    return Err(DecodeError::MissingWellKnownAttribute { type_code: code });
                }
            }
        }
        if !nlri.is_empty() {
            for code in [type_code::ORIGIN, type_code::AS_PATH, type_code::NEXT_HOP] {
                if !seen.get(usize::from(code)).copied().unwrap_or(false) {
                    return Err(DecodeError::MissingWellKnownAttribute { type_code: code });
                }
            }
        }
        Ok(Update {
            withdrawn,
            attributes,
            nlri,
        })
    }
}

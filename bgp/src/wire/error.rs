//! Typed decode errors and the NOTIFICATION each one calls for (RFC 4271 §6.1–6.3).

use super::header::MessageType;
use super::notification::{
    ErrorCode, HeaderSubcode, Notification, OpenSubcode, RouteRefreshSubcode, UpdateSubcode,
};
use super::open::BGP_VERSION;
use std::net::Ipv4Addr;

/// Why bytes are not a valid BGP message. Offsets count from the first marker byte of the
/// message; `attribute` fields hold the whole offending attribute (flags, type, length, value),
/// which RFC 4271 §6.3 puts in the NOTIFICATION's Data field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the message needs (a slice cut short; the framer waits instead).
    #[error("message truncated: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes the message needs (its Length field, or 19 for the header).
        needed: usize,
        /// Bytes given.
        available: usize,
    },
    /// More bytes than the Length field says were given to a single-message decoder.
    #[error("{count} bytes after the end of the message at offset {offset}")]
    TrailingBytes {
        /// Where the message ends (its Length field).
        offset: usize,
        /// How many extra bytes.
        count: usize,
    },
    /// Marker not all ones (RFC 4271 §6.1, Connection Not Synchronized).
    #[error("marker byte at offset {offset} is not 0xff: connection not synchronized")]
    BadMarker {
        /// First marker byte that is not 0xff.
        offset: usize,
    },
    /// Length field outside 19..=4096 or wrong for the message type (RFC 4271 §6.1).
    #[error("bad message length {value} (field at offset {offset})")]
    BadLength {
        /// Offset of the Length field.
        offset: usize,
        /// Its value.
        value: u16,
    },
    /// Type field not recognised (RFC 4271 §6.1).
    #[error("unknown message type {value} at offset {offset}")]
    BadMessageType {
        /// Offset of the Type field.
        offset: usize,
        /// Its value.
        value: u8,
    },
    /// A message of one type was given to another type's decoder (a caller mistake).
    #[error("expected a {expected:?} message, found {found:?} (type at offset {offset})")]
    UnexpectedMessageType {
        /// Offset of the Type field.
        offset: usize,
        /// The decoder's type.
        expected: MessageType,
        /// The type in the header.
        found: MessageType,
    },
    /// OPEN Version is not 4 (RFC 4271 §6.2).
    #[error("unsupported BGP version {value} at offset {offset} (only 4 is supported)")]
    UnsupportedVersion {
        /// Offset of the Version field.
        offset: usize,
        /// Its value.
        value: u8,
    },
    /// AS number 0 in My Autonomous System or the 4-octet AS capability (RFC 7607 §2).
    #[error("bad peer AS {value} at offset {offset}")]
    BadPeerAs {
        /// Offset of the AS number.
        offset: usize,
        /// Its value.
        value: u32,
    },
    /// BGP Identifier 0 (RFC 6286 §2.2: it must be non-zero).
    #[error("bad BGP identifier {value} at offset {offset}")]
    BadBgpIdentifier {
        /// Offset of the BGP Identifier field.
        offset: usize,
        /// Its value.
        value: Ipv4Addr,
    },
    /// Hold Time 1 or 2 seconds (RFC 4271 §6.2: it must be 0 or at least 3).
    #[error("unacceptable hold time {value} s at offset {offset} (must be 0 or >= 3)")]
    UnacceptableHoldTime {
        /// Offset of the Hold Time field.
        offset: usize,
        /// Its value in seconds.
        value: u16,
    },
    /// Optional Parameters whose lengths do not add up to Opt Parm Len (RFC 4271 §4.2, RFC 9072).
    #[error("malformed optional parameters at offset {offset}")]
    MalformedOptionalParameters {
        /// Where the inconsistency was found.
        offset: usize,
    },
    /// A known capability with a value of the wrong shape (RFC 5492 §4).
    #[error("malformed capability {code} at offset {offset}")]
    MalformedCapability {
        /// Offset of the capability's code byte.
        offset: usize,
        /// Capability code.
        code: u8,
    },
    /// Withdrawn Routes Length, Total Path Attribute Length or an attribute's length overruns
    /// the message (RFC 4271 §6.3).
    #[error("malformed attribute list at offset {offset}")]
    MalformedAttributeList {
        /// Where the overrun was found.
        offset: usize,
    },
    /// An attribute appears twice (RFC 4271 §6.3: Malformed Attribute List).
    #[error("attribute {} appears twice (second at offset {offset})", attribute_name(*.type_code))]
    DuplicateAttribute {
        /// Offset of the second occurrence.
        offset: usize,
        /// Its type code.
        type_code: u8,
    },
    /// A well-known (non-optional) attribute this codec does not know (RFC 4271 §6.3).
    #[error("unrecognized well-known attribute {type_code} at offset {offset}")]
    UnrecognizedWellKnownAttribute {
        /// Offset of the attribute's flags byte.
        offset: usize,
        /// Its type code.
        type_code: u8,
        /// The whole attribute.
        attribute: Vec<u8>,
    },
    /// NLRI present without ORIGIN, AS_PATH or NEXT_HOP (RFC 4271 §6.3).
    #[error("missing well-known attribute {}", attribute_name(*.type_code))]
    MissingWellKnownAttribute {
        /// The missing attribute's type code.
        type_code: u8,
    },
    /// Optional/Transitive/Partial flags that conflict with the type code (RFC 4271 §6.3).
    #[error("attribute flags error for {} at offset {offset}", attribute_name(*.type_code))]
    AttributeFlagsError {
        /// Offset of the attribute's flags byte.
        offset: usize,
        /// Its type code.
        type_code: u8,
        /// The whole attribute.
        attribute: Vec<u8>,
    },
    /// Attribute length that conflicts with its type (RFC 4271 §6.3).
    #[error("attribute length error for {} at offset {offset}", attribute_name(*.type_code))]
    AttributeLengthError {
        /// Offset of the attribute's flags byte.
        offset: usize,
        /// Its type code.
        type_code: u8,
        /// The whole attribute.
        attribute: Vec<u8>,
    },
    /// ORIGIN other than 0, 1, 2 (RFC 4271 §6.3).
    #[error("invalid ORIGIN {value} at offset {offset}")]
    InvalidOrigin {
        /// Offset of the attribute's flags byte.
        offset: usize,
        /// The ORIGIN value.
        value: u8,
        /// The whole attribute.
        attribute: Vec<u8>,
    },
    /// NEXT_HOP that is not a unicast host address: 0.0.0.0, 255.255.255.255 or multicast
    /// (RFC 4271 §6.3 "syntactically incorrect"; the semantic checks belong to the session).
    #[error("invalid NEXT_HOP {value} at offset {offset}")]
    InvalidNextHop {
        /// Offset of the attribute's flags byte.
        offset: usize,
        /// The address.
        value: Ipv4Addr,
        /// The whole attribute.
        attribute: Vec<u8>,
    },
    /// A prefix longer than 32 bits or cut short (RFC 4271 §6.3).
    #[error("invalid network field at offset {offset}")]
    InvalidNetworkField {
        /// Offset of the prefix's length byte.
        offset: usize,
    },
    /// AS_PATH with an unknown segment type, an empty segment, or a segment that overruns it
    /// (RFC 4271 §6.3).
    #[error("malformed AS_PATH at offset {offset}")]
    MalformedAsPath {
        /// Where the bad segment starts.
        offset: usize,
    },
    /// Enhanced route refresh BoRR/EoRR whose length is not 23 (RFC 7313 §5).
    #[error("ROUTE-REFRESH length {value} is invalid for its subtype (field at offset {offset})")]
    RouteRefreshBadLength {
        /// Offset of the Length field.
        offset: usize,
        /// Its value.
        value: u16,
        /// The complete message, which RFC 7313 §5 puts in the NOTIFICATION's Data.
        message: Vec<u8>,
    },
}

/// A path attribute's name for messages.
pub(crate) fn attribute_name(type_code: u8) -> &'static str {
    match type_code {
        1 => "ORIGIN",
        2 => "AS_PATH",
        3 => "NEXT_HOP",
        4 => "MULTI_EXIT_DISC",
        5 => "LOCAL_PREF",
        6 => "ATOMIC_AGGREGATE",
        7 => "AGGREGATOR",
        8 => "COMMUNITIES",
        14 => "MP_REACH_NLRI",
        15 => "MP_UNREACH_NLRI",
        17 => "AS4_PATH",
        18 => "AS4_AGGREGATOR",
        _ => "(unknown attribute)",
    }
}

impl From<&DecodeError> for Notification {
    /// The NOTIFICATION RFC 4271 §6.1–6.3 (and RFC 7313 §5) prescribes for this error, with the
    /// Data field it asks for.
    fn from(error: &DecodeError) -> Notification {
        use DecodeError as E;
        let header = |s, data| Notification::new(ErrorCode::MessageHeader(s), data);
        let open = |s| Notification::new(ErrorCode::OpenMessage(s), Vec::new());
        let update = |s, data: &[u8]| Notification::new(ErrorCode::UpdateMessage(s), data.to_vec());
        let length_data = |len: usize| {
            u16::try_from(len)
                .unwrap_or(u16::MAX)
                .to_be_bytes()
                .to_vec()
        };
        match error {
            // §6.1: Data is the erroneous Length field.
            E::Truncated { needed, .. } => {
                header(HeaderSubcode::BadMessageLength, length_data(*needed))
            }
            E::TrailingBytes { offset, .. } => {
                header(HeaderSubcode::BadMessageLength, length_data(*offset))
            }
            E::BadLength { value, .. } => header(
                HeaderSubcode::BadMessageLength,
                value.to_be_bytes().to_vec(),
            ),
            E::BadMarker { .. } => header(HeaderSubcode::ConnectionNotSynchronized, Vec::new()),
            // §6.1: Data is the erroneous Type field.
            E::BadMessageType { value, .. } => header(HeaderSubcode::BadMessageType, vec![*value]),
            E::UnexpectedMessageType { found, .. } => {
                header(HeaderSubcode::BadMessageType, vec![u8::from(*found)])
            }
            // §6.2: Data is the largest supported version below the bid, or else the smallest.
            E::UnsupportedVersion { .. } => Notification::new(
                ErrorCode::OpenMessage(OpenSubcode::UnsupportedVersionNumber),
                u16::from(BGP_VERSION).to_be_bytes().to_vec(),
            ),
            E::BadPeerAs { .. } => open(OpenSubcode::BadPeerAs),
            E::BadBgpIdentifier { .. } => open(OpenSubcode::BadBgpIdentifier),
            E::UnacceptableHoldTime { .. } => open(OpenSubcode::UnacceptableHoldTime),
            // RFC 4271 §4.5: no subcode fits, so Unspecific.
            E::MalformedOptionalParameters { .. } | E::MalformedCapability { .. } => {
                open(OpenSubcode::Unspecific)
            }
            E::MalformedAttributeList { .. } | E::DuplicateAttribute { .. } => {
                update(UpdateSubcode::MalformedAttributeList, &[])
            }
            E::UnrecognizedWellKnownAttribute { attribute, .. } => {
                update(UpdateSubcode::UnrecognizedWellKnownAttribute, attribute)
            }
            // §6.3: Data is the type code of the missing attribute.
            E::MissingWellKnownAttribute { type_code } => {
                update(UpdateSubcode::MissingWellKnownAttribute, &[*type_code])
            }
            E::AttributeFlagsError { attribute, .. } => {
                update(UpdateSubcode::AttributeFlagsError, attribute)
            }
            E::AttributeLengthError { attribute, .. } => {
                update(UpdateSubcode::AttributeLengthError, attribute)
            }
            E::InvalidOrigin { attribute, .. } => {
                update(UpdateSubcode::InvalidOriginAttribute, attribute)
            }
            E::InvalidNextHop { attribute, .. } => {
                update(UpdateSubcode::InvalidNextHopAttribute, attribute)
            }
            E::InvalidNetworkField { .. } => update(UpdateSubcode::InvalidNetworkField, &[]),
            E::MalformedAsPath { .. } => update(UpdateSubcode::MalformedAsPath, &[]),
            E::RouteRefreshBadLength { message, .. } => Notification::new(
                ErrorCode::RouteRefresh(RouteRefreshSubcode::InvalidMessageLength),
                message.clone(),
            ),
        }
    }
}

impl From<DecodeError> for Notification {
    fn from(error: DecodeError) -> Notification {
        Notification::from(&error)
    }
}

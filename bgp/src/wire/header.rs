//! The fixed 19-byte header every BGP message starts with (RFC 4271 §4.1).

use super::error::DecodeError;
use super::reader::Reader;
use bytes::{BufMut, BytesMut};

/// Byte offsets of the header fields, named once.
pub(crate) mod field {
    use std::ops::Range;
    pub(crate) const MARKER: Range<usize> = 0..16;
    pub(crate) const LENGTH: usize = 16;
    pub(crate) const TYPE: usize = 18;
}

/// The all-ones marker (RFC 4271 §4.1: "MUST be set to all ones").
pub const MARKER: [u8; 16] = [0xff; 16];
/// Length of the fixed header in bytes.
pub const HEADER_LEN: usize = 19;
/// Largest message RFC 4271 §4.1 allows (RFC 8654 extended messages are not negotiated here).
pub const MAX_MESSAGE_LEN: usize = 4096;

code_enum! {
    /// The header's Type field (RFC 4271 §4.1, RFC 2918 §3).
    pub enum MessageType: u8 {
        /// 1: OPEN.
        Open = 1,
        /// 2: UPDATE.
        Update = 2,
        /// 3: NOTIFICATION.
        Notification = 3,
        /// 4: KEEPALIVE.
        Keepalive = 4,
        /// 5: ROUTE-REFRESH (RFC 2918).
        RouteRefresh = 5,
    }
}

impl MessageType {
    /// Smallest valid Length for this type (RFC 4271 §4.2–4.4 and §6.1, RFC 2918 §3), and whether
    /// it is also the only valid one (KEEPALIVE is exactly 19).
    fn min_len(self) -> Option<(usize, bool)> {
        match self {
            MessageType::Open => Some((29, false)),
            MessageType::Update => Some((23, false)),
            MessageType::Notification => Some((21, false)),
            MessageType::Keepalive => Some((HEADER_LEN, true)),
            MessageType::RouteRefresh => Some((23, false)),
            MessageType::Unknown(_) => None,
        }
    }
}

/// The message header.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                                                               |
/// +                                                               +
/// |                                                               |
/// +                                                               +
/// |                           Marker                              |
/// +                                                               +
/// |                                                               |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |          Length               |      Type     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Header {
    /// Total message length in bytes, header included.
    pub length: u16,
    /// Message type.
    pub message_type: MessageType,
}

impl Header {
    /// Decodes and checks the first 19 bytes of `input` (the rest is ignored), in the order of
    /// RFC 4271 §6.1: marker, length in 19..=4096, known type, length valid for that type.
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] when fewer than 19 bytes are given (after checking the marker
    /// bytes that are there), [`DecodeError::BadMarker`], [`DecodeError::BadLength`],
    /// [`DecodeError::BadMessageType`].
    pub fn decode(input: &[u8]) -> Result<Header, DecodeError> {
        check_marker_prefix(input)?;
        let mut r = Reader::new(input, 0);
        let (Some(_), Some(length), Some(raw_type)) =
            (r.take(field::MARKER.len()), r.u16(), r.u8())
        else {
            return Err(DecodeError::Truncated {
                needed: HEADER_LEN,
                available: input.len(),
            });
        };
        let bad_length = DecodeError::BadLength {
            offset: field::LENGTH,
            value: length,
        };
        let len = usize::from(length);
        if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) {
            return Err(bad_length);
        }
        let message_type = MessageType::from(raw_type);
        match message_type.min_len() {
            None => Err(DecodeError::BadMessageType {
                offset: field::TYPE,
                value: raw_type,
            }),
            Some((min, exact)) if len < min || (exact && len != min) => Err(bad_length),
            Some(_) => Ok(Header {
                length,
                message_type,
            }),
        }
    }

    /// Writes the header.
    pub(crate) fn encode(self, buf: &mut BytesMut) {
        buf.put_slice(&MARKER);
        buf.put_u16(self.length);
        buf.put_u8(self.message_type.into());
    }
}

/// Checks the marker bytes that have arrived so far, so a stream that is out of sync fails
/// as soon as it shows, not after 19 bytes (RFC 4271 §6.1 "Connection Not Synchronized").
pub(crate) fn check_marker_prefix(input: &[u8]) -> Result<(), DecodeError> {
    match input
        .iter()
        .take(field::MARKER.len())
        .position(|&b| b != 0xff)
    {
        Some(offset) => Err(DecodeError::BadMarker { offset }),
        None => Ok(()),
    }
}

/// Writes a header for a message of `total_len` bytes. Lengths beyond `u16` cannot be valid BGP
/// and are written truncated (callers check `encoded_len() <= MAX_MESSAGE_LEN`).
pub(crate) fn encode_header(buf: &mut BytesMut, message_type: MessageType, total_len: usize) {
    Header {
        length: total_len as u16,
        message_type,
    }
    .encode(buf);
}

/// Checks the header of one whole message in `input` and returns the bytes after it.
///
/// `input` must hold exactly one message: fewer bytes than the Length field says is
/// [`DecodeError::Truncated`], more is [`DecodeError::TrailingBytes`].
pub(crate) fn message_body(input: &[u8], expected: MessageType) -> Result<&[u8], DecodeError> {
    let header = Header::decode(input)?;
    if header.message_type != expected {
        return Err(DecodeError::UnexpectedMessageType {
            offset: field::TYPE,
            expected,
            found: header.message_type,
        });
    }
    split_body(input, header)
}

/// The body of the message whose (already checked) header is `header`.
pub(crate) fn split_body(input: &[u8], header: Header) -> Result<&[u8], DecodeError> {
    let len = usize::from(header.length);
    match input.len().cmp(&len) {
        std::cmp::Ordering::Less => Err(DecodeError::Truncated {
            needed: len,
            available: input.len(),
        }),
        std::cmp::Ordering::Greater => Err(DecodeError::TrailingBytes {
            offset: len,
            count: input.len() - len,
        }),
        std::cmp::Ordering::Equal => Ok(input.get(HEADER_LEN..).unwrap_or_default()),
    }
}

//! Any BGP message: the header's type picks the body decoder.

use super::error::DecodeError;
use super::header::{self, encode_header, Header, MessageType, HEADER_LEN};
use super::notification::Notification;
use super::open::Open;
use super::route_refresh::RouteRefresh;
use super::update::Update;
use super::CodecOptions;
use bytes::BytesMut;

/// KEEPALIVE message (RFC 4271 §4.4): the header alone, 19 bytes.
///
/// ```text
/// +-----------------------------------------------+
/// |  Marker (16) | Length = 19 (2) | Type = 4 (1) |
/// +-----------------------------------------------+
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct Keepalive;

impl Keepalive {
    /// Length of the encoded message: 19.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the message.
    pub fn encode(&self, buf: &mut BytesMut) {
        encode_header(buf, MessageType::Keepalive, HEADER_LEN);
    }

    /// Decodes one whole KEEPALIVE message.
    ///
    /// # Errors
    /// Header errors (RFC 4271 §6.1): a KEEPALIVE's Length must be exactly 19.
    pub fn decode(input: &[u8]) -> Result<Keepalive, DecodeError> {
        header::message_body(input, MessageType::Keepalive).map(|_| Keepalive)
    }
}

/// Any BGP message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Message {
    /// OPEN.
    Open(Open),
    /// UPDATE.
    Update(Update),
    /// NOTIFICATION.
    Notification(Notification),
    /// KEEPALIVE.
    Keepalive(Keepalive),
    /// ROUTE-REFRESH.
    RouteRefresh(RouteRefresh),
}

impl Message {
    /// The header's Type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::Open,
            Message::Update(_) => MessageType::Update,
            Message::Notification(_) => MessageType::Notification,
            Message::Keepalive(_) => MessageType::Keepalive,
            Message::RouteRefresh(_) => MessageType::RouteRefresh,
        }
    }

    /// Length of the encoded message, header included.
    pub fn encoded_len(&self, options: CodecOptions) -> usize {
        match self {
            Message::Open(m) => m.encoded_len(),
            Message::Update(m) => m.encoded_len(options),
            Message::Notification(m) => m.encoded_len(),
            Message::Keepalive(m) => m.encoded_len(),
            Message::RouteRefresh(m) => m.encoded_len(),
        }
    }

    /// Writes the whole message; `options` matters for UPDATE only.
    pub fn encode(&self, buf: &mut BytesMut, options: CodecOptions) {
        match self {
            Message::Open(m) => m.encode(buf),
            Message::Update(m) => m.encode(buf, options),
            Message::Notification(m) => m.encode(buf),
            Message::Keepalive(m) => m.encode(buf),
            Message::RouteRefresh(m) => m.encode(buf),
        }
    }

    /// Decodes exactly one whole message; `options` matters for UPDATE only.
    ///
    /// # Errors
    /// Any [`DecodeError`]; [`Notification::from`] gives the NOTIFICATION to answer with.
    pub fn decode(input: &[u8], options: CodecOptions) -> Result<Message, DecodeError> {
        let header = Header::decode(input)?;
        let body = header::split_body(input, header)?;
        Ok(match header.message_type {
            MessageType::Open => Message::Open(Open::decode_body(body)?),
            MessageType::Update => Message::Update(Update::decode_body(body, options)?),
            MessageType::Notification => Message::Notification(Notification::decode_body(body)),
            MessageType::Keepalive => Message::Keepalive(Keepalive),
            MessageType::RouteRefresh => {
                Message::RouteRefresh(RouteRefresh::decode_body(input, body)?)
            }
            // `Header::decode` already refused unknown types.
            MessageType::Unknown(value) => {
                return Err(DecodeError::BadMessageType { offset: 18, value })
            }
        })
    }
}

impl From<Open> for Message {
    fn from(m: Open) -> Message {
        Message::Open(m)
    }
}

impl From<Update> for Message {
    fn from(m: Update) -> Message {
        Message::Update(m)
    }
}

impl From<Notification> for Message {
    fn from(m: Notification) -> Message {
        Message::Notification(m)
    }
}

impl From<Keepalive> for Message {
    fn from(m: Keepalive) -> Message {
        Message::Keepalive(m)
    }
}

impl From<RouteRefresh> for Message {
    fn from(m: RouteRefresh) -> Message {
        Message::RouteRefresh(m)
    }
}

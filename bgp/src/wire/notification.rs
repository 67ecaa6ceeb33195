//! NOTIFICATION (RFC 4271 §4.5) with its error codes and subcodes, the Cease subcodes of
//! RFC 4486 and later, and the shutdown communication of RFC 9003 (formerly RFC 8203).

use super::error::DecodeError;
use super::header::{self, encode_header, MessageType, HEADER_LEN};
use super::reader::Reader;
use bytes::{BufMut, BytesMut};
use std::fmt;

/// Byte offsets of the NOTIFICATION fields, named once.
mod field {
    pub(super) const CODE: usize = super::HEADER_LEN;
}

/// Longest shutdown communication, in bytes of UTF-8 (RFC 9003 §2 raised it from 128 to 255).
pub const MAX_SHUTDOWN_COMMUNICATION_LEN: usize = 255;

code_enum! {
    /// Subcodes of Error Code 1, Message Header Error (RFC 4271 §4.5).
    pub enum HeaderSubcode: u8 {
        /// 0: no specific subcode (RFC 4271 §4.5).
        Unspecific = 0,
        /// 1: marker not all ones.
        ConnectionNotSynchronized = 1,
        /// 2: Length field out of range for the message type.
        BadMessageLength = 2,
        /// 3: Type field not recognised.
        BadMessageType = 3,
    }
}

code_enum! {
    /// Subcodes of Error Code 2, OPEN Message Error (RFC 4271 §4.5, RFC 5492, RFC 9234).
    pub enum OpenSubcode: u8 {
        /// 0: no specific subcode.
        Unspecific = 0,
        /// 1: Unsupported Version Number.
        UnsupportedVersionNumber = 1,
        /// 2: Bad Peer AS.
        BadPeerAs = 2,
        /// 3: Bad BGP Identifier.
        BadBgpIdentifier = 3,
        /// 4: Unsupported Optional Parameter.
        UnsupportedOptionalParameter = 4,
        /// 5: Authentication Failure (deprecated, RFC 4271 Appendix A).
        AuthenticationFailure = 5,
        /// 6: Unacceptable Hold Time.
        UnacceptableHoldTime = 6,
        /// 7: Unsupported Capability (RFC 5492 §5).
        UnsupportedCapability = 7,
        /// 11: Role Mismatch (RFC 9234 §4.2).
        RoleMismatch = 11,
    }
}

code_enum! {
    /// Subcodes of Error Code 3, UPDATE Message Error (RFC 4271 §4.5).
    pub enum UpdateSubcode: u8 {
        /// 0: no specific subcode.
        Unspecific = 0,
        /// 1: Malformed Attribute List.
        MalformedAttributeList = 1,
        /// 2: Unrecognized Well-known Attribute.
        UnrecognizedWellKnownAttribute = 2,
        /// 3: Missing Well-known Attribute.
        MissingWellKnownAttribute = 3,
        /// 4: Attribute Flags Error.
        AttributeFlagsError = 4,
        /// 5: Attribute Length Error.
        AttributeLengthError = 5,
        /// 6: Invalid ORIGIN Attribute.
        InvalidOriginAttribute = 6,
        /// 7: AS Routing Loop (deprecated, RFC 4271 Appendix A).
        AsRoutingLoop = 7,
        /// 8: Invalid NEXT_HOP Attribute.
        InvalidNextHopAttribute = 8,
        /// 9: Optional Attribute Error.
        OptionalAttributeError = 9,
        /// 10: Invalid Network Field.
        InvalidNetworkField = 10,
        /// 11: Malformed AS_PATH.
        MalformedAsPath = 11,
    }
}

code_enum! {
    /// Subcodes of Error Code 5, Finite State Machine Error (RFC 6608 §3).
    pub enum FsmSubcode: u8 {
        /// 0: Unspecified Error.
        Unspecified = 0,
        /// 1: Receive Unexpected Message in OpenSent State.
        UnexpectedMessageInOpenSent = 1,
        /// 2: Receive Unexpected Message in OpenConfirm State.
        UnexpectedMessageInOpenConfirm = 2,
        /// 3: Receive Unexpected Message in Established State.
        UnexpectedMessageInEstablished = 3,
    }
}

code_enum! {
    /// Subcodes of Error Code 6, Cease (RFC 4486 §4, RFC 8538 §5, RFC 9384 §2).
    pub enum CeaseSubcode: u8 {
        /// 0: no specific subcode.
        Unspecific = 0,
        /// 1: Maximum Number of Prefixes Reached.
        MaximumPrefixesReached = 1,
        /// 2: Administrative Shutdown (may carry a shutdown communication, RFC 9003).
        AdministrativeShutdown = 2,
        /// 3: Peer De-configured.
        PeerDeconfigured = 3,
        /// 4: Administrative Reset (may carry a shutdown communication, RFC 9003).
        AdministrativeReset = 4,
        /// 5: Connection Rejected.
        ConnectionRejected = 5,
        /// 6: Other Configuration Change.
        OtherConfigurationChange = 6,
        /// 7: Connection Collision Resolution.
        ConnectionCollisionResolution = 7,
        /// 8: Out of Resources.
        OutOfResources = 8,
        /// 9: Hard Reset (RFC 8538): graceful restart state is not kept.
        HardReset = 9,
        /// 10: BFD Down (RFC 9384).
        BfdDown = 10,
    }
}

code_enum! {
    /// Subcodes of Error Code 7, ROUTE-REFRESH Message Error (RFC 7313 §5).
    pub enum RouteRefreshSubcode: u8 {
        /// 0: reserved.
        Reserved = 0,
        /// 1: Invalid Message Length.
        InvalidMessageLength = 1,
    }
}

/// Error Code and Error Subcode of a NOTIFICATION (RFC 4271 §4.5), decoded together because a
/// subcode only means something under its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ErrorCode {
    /// 1: Message Header Error.
    MessageHeader(HeaderSubcode),
    /// 2: OPEN Message Error.
    OpenMessage(OpenSubcode),
    /// 3: UPDATE Message Error.
    UpdateMessage(UpdateSubcode),
    /// 4: Hold Timer Expired; RFC 4271 defines no subcodes, the raw one is kept.
    HoldTimerExpired(u8),
    /// 5: Finite State Machine Error.
    Fsm(FsmSubcode),
    /// 6: Cease.
    Cease(CeaseSubcode),
    /// 7: ROUTE-REFRESH Message Error (RFC 7313).
    RouteRefresh(RouteRefreshSubcode),
    /// Any other code, kept as received. Only for codes not listed above.
    Unknown {
        /// Error Code.
        code: u8,
        /// Error Subcode.
        subcode: u8,
    },
}

impl ErrorCode {
    /// The pair as read from the wire.
    pub fn from_codes(code: u8, subcode: u8) -> ErrorCode {
        match code {
            1 => ErrorCode::MessageHeader(subcode.into()),
            2 => ErrorCode::OpenMessage(subcode.into()),
            3 => ErrorCode::UpdateMessage(subcode.into()),
            4 => ErrorCode::HoldTimerExpired(subcode),
            5 => ErrorCode::Fsm(subcode.into()),
            6 => ErrorCode::Cease(subcode.into()),
            7 => ErrorCode::RouteRefresh(subcode.into()),
            _ => ErrorCode::Unknown { code, subcode },
        }
    }

    /// Error Code byte.
    pub fn code(self) -> u8 {
        match self {
            ErrorCode::MessageHeader(_) => 1,
            ErrorCode::OpenMessage(_) => 2,
            ErrorCode::UpdateMessage(_) => 3,
            ErrorCode::HoldTimerExpired(_) => 4,
            ErrorCode::Fsm(_) => 5,
            ErrorCode::Cease(_) => 6,
            ErrorCode::RouteRefresh(_) => 7,
            ErrorCode::Unknown { code, .. } => code,
        }
    }

    /// Error Subcode byte.
    pub fn subcode(self) -> u8 {
        match self {
            ErrorCode::MessageHeader(s) => s.into(),
            ErrorCode::OpenMessage(s) => s.into(),
            ErrorCode::UpdateMessage(s) => s.into(),
            ErrorCode::HoldTimerExpired(s) => s,
            ErrorCode::Fsm(s) => s.into(),
            ErrorCode::Cease(s) => s.into(),
            ErrorCode::RouteRefresh(s) => s.into(),
            ErrorCode::Unknown { subcode, .. } => subcode,
        }
    }

    /// Whether this subcode carries a shutdown communication (RFC 9003 §2: Cease subcodes
    /// Administrative Shutdown and Administrative Reset).
    pub fn has_shutdown_communication(self) -> bool {
        matches!(
            self,
            ErrorCode::Cease(
                CeaseSubcode::AdministrativeShutdown | CeaseSubcode::AdministrativeReset
            )
        )
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorCode::MessageHeader(s) => write!(f, "Message Header Error / {s:?}"),
            ErrorCode::OpenMessage(s) => write!(f, "OPEN Message Error / {s:?}"),
            ErrorCode::UpdateMessage(s) => write!(f, "UPDATE Message Error / {s:?}"),
            ErrorCode::HoldTimerExpired(s) => write!(f, "Hold Timer Expired / {s}"),
            ErrorCode::Fsm(s) => write!(f, "Finite State Machine Error / {s:?}"),
            ErrorCode::Cease(s) => write!(f, "Cease / {s:?}"),
            ErrorCode::RouteRefresh(s) => write!(f, "ROUTE-REFRESH Message Error / {s:?}"),
            ErrorCode::Unknown { code, subcode } => write!(f, "error code {code} / {subcode}"),
        }
    }
}

/// NOTIFICATION message (RFC 4271 §4.5), sent just before the connection is closed.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Error code    | Error subcode |   Data (variable)             |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// Cease / Administrative Shutdown or Reset, with a shutdown communication (RFC 9003 §2):
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Error code 6  |    Subcode    |    Length     |     ...       \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+               /
/// \                 ... Shutdown Communication ...                \
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Notification {
    /// Error Code and Subcode.
    pub error: ErrorCode,
    /// The operator's message, for Cease subcodes 2 and 4 only (RFC 9003), at most
    /// [`MAX_SHUTDOWN_COMMUNICATION_LEN`] bytes of UTF-8; longer text is cut at a character
    /// boundary when encoded. A length byte that overruns the data or text that is not UTF-8 is
    /// not an error (RFC 9003 §3 says log it): it stays in `data` and this is `None`.
    pub shutdown_communication: Option<String>,
    /// The Data field (after the shutdown communication when there is one).
    pub data: Vec<u8>,
}

impl Notification {
    /// A NOTIFICATION with the given error and data.
    pub fn new(error: ErrorCode, data: Vec<u8>) -> Notification {
        Notification {
            error,
            shutdown_communication: None,
            data,
        }
    }

    /// Cease with a subcode and no data.
    pub fn cease(subcode: CeaseSubcode) -> Notification {
        Notification::new(ErrorCode::Cease(subcode), Vec::new())
    }

    /// Cease / Administrative Shutdown with a shutdown communication (RFC 9003).
    pub fn administrative_shutdown(text: impl Into<String>) -> Notification {
        Notification {
            error: ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown),
            shutdown_communication: Some(text.into()),
            data: Vec::new(),
        }
    }

    /// Hold Timer Expired (RFC 4271 §6.5).
    pub fn hold_timer_expired() -> Notification {
        Notification::new(ErrorCode::HoldTimerExpired(0), Vec::new())
    }

    /// Finite State Machine Error (RFC 4271 §6.6, subcodes RFC 6608).
    pub fn fsm_error(subcode: FsmSubcode) -> Notification {
        Notification::new(ErrorCode::Fsm(subcode), Vec::new())
    }

    /// The shutdown communication as it will be encoded: cut to 255 bytes at a char boundary.
    fn communication_bytes(&self) -> Option<&[u8]> {
        let text = self.shutdown_communication.as_deref()?;
        let mut end = text.len().min(MAX_SHUTDOWN_COMMUNICATION_LEN);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.get(..end).map(str::as_bytes)
    }

    /// Length of the encoded message, header included.
    pub fn encoded_len(&self) -> usize {
        let comm = self.communication_bytes().map_or(0, |c| 1 + c.len());
        HEADER_LEN + 2 + comm + self.data.len()
    }

    /// Writes the whole message, header included.
    pub fn encode(&self, buf: &mut BytesMut) {
        encode_header(buf, MessageType::Notification, self.encoded_len());
        buf.put_u8(self.error.code());
        buf.put_u8(self.error.subcode());
        if let Some(comm) = self.communication_bytes() {
            buf.put_u8(comm.len() as u8);
            buf.put_slice(comm);
        }
        buf.put_slice(&self.data);
    }

    /// Decodes one whole NOTIFICATION message, header included.
    ///
    /// # Errors
    /// Header errors (RFC 4271 §6.1), or [`DecodeError::UnexpectedMessageType`] when the header
    /// names another type. Any data is accepted.
    pub fn decode(input: &[u8]) -> Result<Notification, DecodeError> {
        let body = header::message_body(input, MessageType::Notification)?;
        Ok(Notification::decode_body(body))
    }

    /// Decodes the part after the header; the header check guarantees at least 2 bytes.
    pub(crate) fn decode_body(body: &[u8]) -> Notification {
        let mut r = Reader::new(body, field::CODE);
        let code = r.u8().unwrap_or(0);
        let subcode = r.u8().unwrap_or(0);
        let error = ErrorCode::from_codes(code, subcode);
        let mut shutdown_communication = None;
        if error.has_shutdown_communication() {
            // RFC 9003 §2: one length byte, then that many bytes of UTF-8.
            let mut probe = r.clone();
            if let Some(text) = probe
                .u8()
                .and_then(|len| probe.take(usize::from(len)))
                .and_then(|bytes| std::str::from_utf8(bytes).ok())
            {
                shutdown_communication = Some(text.to_owned());
                r = probe;
            }
        }
        Notification {
            error,
            shutdown_communication,
            data: r.peek_rest().to_vec(),
        }
    }
}

impl fmt::Display for Notification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if let Some(text) = &self.shutdown_communication {
            write!(f, ": {text:?}")?;
        }
        if !self.data.is_empty() {
            write!(f, " (data")?;
            for b in &self.data {
                write!(f, " {b:02x}")?;
            }
            write!(f, ")")?;
        }
        Ok(())
    }
}

//! BGP-4 wire codec (RFC 4271 and the extensions lbsim's speakers and router negotiate).
//!
//! Pure: bytes in, owned structs out, and back. No I/O, no clocks. Decoding never panics, on any
//! input; encoding is canonical, so `encode(decode(encode(m))) == encode(m)` byte for byte.
//!
//! ```text
//!  TCP bytes ──▶ MessageReader::push ──▶ next_message() ──▶ Message::{Open, Update, ...}
//!                                     └──▶ DecodeError ──▶ Notification (RFC 4271 §6)
//!  Message ──▶ encode(&mut BytesMut) ──▶ TCP bytes
//! ```
//!
//! ```
//! use bgp::wire::{CodecOptions, Keepalive, Message, MessageReader};
//! use bytes::BytesMut;
//!
//! let mut out = BytesMut::new();
//! Message::Keepalive(Keepalive).encode(&mut out, CodecOptions::FOUR_OCTET_AS);
//! Message::Keepalive(Keepalive).encode(&mut out, CodecOptions::FOUR_OCTET_AS);
//!
//! let mut reader = MessageReader::new(CodecOptions::FOUR_OCTET_AS);
//! reader.push(&out[..20]); // one whole message and one byte of the next
//! assert_eq!(reader.next_message(), Some(Ok(Message::Keepalive(Keepalive))));
//! assert_eq!(reader.next_message(), None);
//! reader.push(&out[20..]);
//! assert_eq!(reader.next_message(), Some(Ok(Message::Keepalive(Keepalive))));
//! ```

/// Declares a code-point enum that keeps values it does not know (`Unknown(raw)`), so nothing
/// read is lost, with `From` conversions both ways (smoltcp's `enum_with_unknown!` idea).
///
/// `Unknown` must only ever hold values not listed: build values with `From<raw>`.
macro_rules! code_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident : $raw:ty {
            $( $(#[$vmeta:meta])* $variant:ident = $value:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value without an assigned meaning here, kept as received.
            Unknown($raw),
        }

        impl From<$raw> for $name {
            fn from(value: $raw) -> Self {
                match value {
                    $( $value => $name::$variant, )+
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $raw {
            fn from(value: $name) -> $raw {
                match value {
                    $( $name::$variant => $value, )+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}
pub(crate) use code_enum;

mod error;
mod framer;
mod header;
mod message;
mod mp;
mod notification;
mod open;
pub(crate) mod reader;
mod route_refresh;
mod update;

pub use error::DecodeError;
pub use framer::MessageReader;
pub use header::{Header, MessageType, HEADER_LEN, MARKER, MAX_MESSAGE_LEN};
pub use message::{Keepalive, Message};
pub use mp::{Ipv6Prefix, MpReachIpv6, MpUnreachIpv6};
pub use notification::{
    CeaseSubcode, ErrorCode, FsmSubcode, HeaderSubcode, Notification, OpenSubcode,
    RouteRefreshSubcode, UpdateSubcode, MAX_SHUTDOWN_COMMUNICATION_LEN,
};
pub use open::{
    AddPathFamily, AddPathMode, Afi, Capability, GracefulRestart, GracefulRestartFamily, Open,
    OptionalParameter, Safi, AS_TRANS, BGP_VERSION,
};
pub use route_refresh::{RouteRefresh, RouteRefreshSubtype};
pub use update::{
    AsPath, AsSegment, AsSegmentType, AttributeFlags, AttributeValue, Community, Ipv4Prefix,
    Origin, PathAttribute, Update,
};

/// What the two speakers negotiated in their OPENs that changes how UPDATEs are laid out.
///
/// Before the OPEN exchange completes no UPDATE can arrive, so the value only matters after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct CodecOptions {
    /// Both sides advertised the 4-octet AS capability (RFC 6793 §3), so AS_PATH and AGGREGATOR
    /// carry 4-octet AS numbers.
    pub four_octet_as: bool,
}

impl CodecOptions {
    /// 4-octet AS numbers negotiated (RFC 6793): what every modern speaker does.
    pub const FOUR_OCTET_AS: CodecOptions = CodecOptions {
        four_octet_as: true,
    };
    /// Plain RFC 4271 2-octet AS numbers.
    pub const TWO_OCTET_AS: CodecOptions = CodecOptions {
        four_octet_as: false,
    };
}

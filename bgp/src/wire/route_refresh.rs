//! ROUTE-REFRESH (RFC 2918 §3) with the enhanced route refresh subtypes (RFC 7313 §3.2).

use super::error::DecodeError;
use super::header::{self, encode_header, MessageType, HEADER_LEN};
use super::open::{Afi, Safi};
use super::reader::Reader;
use bytes::{BufMut, BytesMut};

/// Byte offsets of the ROUTE-REFRESH fields, named once.
mod field {
    use super::HEADER_LEN;
    pub(super) const LENGTH: usize = 16;
    pub(super) const AFI: usize = HEADER_LEN;
    /// The smallest (and, for BoRR/EoRR, only) ROUTE-REFRESH length.
    pub(super) const END: usize = HEADER_LEN + 4;
}

code_enum! {
    /// Message Subtype, the former Reserved byte (RFC 7313 §3.2).
    pub enum RouteRefreshSubtype: u8 {
        /// 0: normal route refresh request (RFC 2918).
        Normal = 0,
        /// 1: Beginning of Route Refresh (BoRR).
        BeginningOfRouteRefresh = 1,
        /// 2: End of Route Refresh (EoRR).
        EndOfRouteRefresh = 2,
    }
}

/// ROUTE-REFRESH message (RFC 2918 §3, RFC 7313 §3.2), header included when encoded.
///
/// ```text
///  0       7      15      23      31
///  +-------+-------+-------+-------+
///  |      AFI      | Subt. | SAFI  |
///  +-------+-------+-------+-------+
///  |  ORF entries (RFC 5291), raw  |
///  +-------+-------+-------+-------+
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct RouteRefresh {
    /// Address family to refresh.
    pub afi: Afi,
    /// Normal request, BoRR or EoRR; unknown subtypes are kept (RFC 7313 §5: the session
    /// ignores the message).
    pub subtype: RouteRefreshSubtype,
    /// Subsequent address family to refresh.
    pub safi: Safi,
    /// Bytes after SAFI: Outbound Route Filtering entries (RFC 5291), kept raw. Always empty
    /// for BoRR and EoRR (not encoded for them).
    pub orf: Vec<u8>,
}

impl RouteRefresh {
    /// A plain refresh request for one address family (RFC 2918).
    pub fn new(afi: Afi, safi: Safi) -> RouteRefresh {
        RouteRefresh {
            afi,
            subtype: RouteRefreshSubtype::Normal,
            safi,
            orf: Vec::new(),
        }
    }

    /// ORF bytes as encoded: none for BoRR and EoRR, whose length is fixed (RFC 7313 §5).
    fn wire_orf(&self) -> &[u8] {
        match self.subtype {
            RouteRefreshSubtype::BeginningOfRouteRefresh
            | RouteRefreshSubtype::EndOfRouteRefresh => &[],
            _ => &self.orf,
        }
    }

    /// Length of the encoded message, header included.
    pub fn encoded_len(&self) -> usize {
        field::END + self.wire_orf().len()
    }

    /// Writes the whole message, header included.
    pub fn encode(&self, buf: &mut BytesMut) {
        encode_header(buf, MessageType::RouteRefresh, self.encoded_len());
        buf.put_u16(self.afi.into());
        buf.put_u8(self.subtype.into());
        buf.put_u8(self.safi.into());
        buf.put_slice(self.wire_orf());
    }

    /// Decodes one whole ROUTE-REFRESH message, header included.
    ///
    /// # Errors
    /// Header errors (RFC 4271 §6.1), or [`DecodeError::RouteRefreshBadLength`] for a BoRR or
    /// EoRR that is not exactly 23 bytes (RFC 7313 §5).
    pub fn decode(input: &[u8]) -> Result<RouteRefresh, DecodeError> {
        let body = header::message_body(input, MessageType::RouteRefresh)?;
        RouteRefresh::decode_body(input, body)
    }

    /// Decodes the part after the header; `message` is the whole message, for the error data.
    pub(crate) fn decode_body(message: &[u8], body: &[u8]) -> Result<RouteRefresh, DecodeError> {
        let mut r = Reader::new(body, field::AFI);
        let (Some(afi), Some(subtype), Some(safi)) = (r.u16(), r.u8(), r.u8()) else {
            return Err(DecodeError::Truncated {
                needed: field::END,
                available: message.len(),
            });
        };
        let subtype = RouteRefreshSubtype::from(subtype);
        let borr_or_eorr = matches!(
            subtype,
            RouteRefreshSubtype::BeginningOfRouteRefresh | RouteRefreshSubtype::EndOfRouteRefresh
        );
        if borr_or_eorr && !r.is_empty() {
            return Err(DecodeError::RouteRefreshBadLength {
                offset: field::LENGTH,
                value: u16::try_from(message.len()).unwrap_or(u16::MAX),
                message: message.to_vec(),
            });
        }
        Ok(RouteRefresh {
            afi: afi.into(),
            subtype,
            safi: safi.into(),
            orf: r.peek_rest().to_vec(),
        })
    }
}

//! OPEN (RFC 4271 §4.2) with optional parameters (RFC 9072 extended length) and capabilities
//! (RFC 5492): multiprotocol (RFC 4760), route refresh (RFC 2918, RFC 7313), 4-octet AS
//! (RFC 6793), graceful restart (RFC 4724, RFC 8538), ADD-PATH (RFC 7911).

use super::error::DecodeError;
use super::header::{self, encode_header, MessageType, HEADER_LEN};
use super::reader::Reader;
use bytes::{BufMut, BytesMut};
use std::net::Ipv4Addr;

/// Byte offsets of the OPEN fields, named once.
mod field {
    use super::HEADER_LEN;
    pub(super) const VERSION: usize = HEADER_LEN;
    pub(super) const MY_AS: usize = HEADER_LEN + 1;
    pub(super) const HOLD_TIME: usize = HEADER_LEN + 3;
    pub(super) const BGP_IDENTIFIER: usize = HEADER_LEN + 5;
    pub(super) const OPT_PARM_LEN: usize = HEADER_LEN + 9;
    /// Where the optional parameters start; also the smallest OPEN (29 bytes).
    pub(super) const OPT_PARMS: usize = HEADER_LEN + 10;
}

/// The only BGP version spoken (RFC 4271 §4.2).
pub const BGP_VERSION: u8 = 4;
/// The 2-octet AS that stands in for a 4-octet one (RFC 6793 §9).
pub const AS_TRANS: u16 = 23456;

/// Optional parameter type of the Capabilities parameter (RFC 5492 §4).
const PARAM_CAPABILITIES: u8 = 2;
/// Non-Ext OP Type and Len that announce the extended format (RFC 9072 §2).
const PARAM_EXTENDED: u8 = 255;

code_enum! {
    /// Address Family Identifier (IANA "Address Family Numbers").
    pub enum Afi: u16 {
        /// 1: IPv4.
        Ipv4 = 1,
        /// 2: IPv6.
        Ipv6 = 2,
        /// 25: L2VPN.
        L2vpn = 25,
    }
}

code_enum! {
    /// Subsequent Address Family Identifier (IANA "SAFI Values").
    pub enum Safi: u8 {
        /// 1: unicast.
        Unicast = 1,
        /// 2: multicast.
        Multicast = 2,
        /// 4: MPLS labels (RFC 8277).
        MplsLabel = 4,
        /// 70: EVPN (RFC 7432).
        Evpn = 70,
        /// 128: MPLS-labeled VPN (RFC 4364).
        MplsVpn = 128,
        /// 133: Flow Specification (RFC 8955).
        FlowSpec = 133,
    }
}

code_enum! {
    /// ADD-PATH Send/Receive field (RFC 7911 §4).
    pub enum AddPathMode: u8 {
        /// 1: willing to receive multiple paths.
        Receive = 1,
        /// 2: would like to send multiple paths.
        Send = 2,
        /// 3: both.
        Both = 3,
    }
}

/// One address family in a graceful restart capability (RFC 4724 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct GracefulRestartFamily {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
    /// Flags for Address Family, all 8 bits as received ([`Self::FORWARDING_STATE`] is the one
    /// RFC 4724 defines).
    pub flags: u8,
}

impl GracefulRestartFamily {
    /// F bit: forwarding state was preserved across the restart.
    pub const FORWARDING_STATE: u8 = 0x80;

    /// Whether the F bit is set.
    pub fn forwarding_preserved(&self) -> bool {
        self.flags & Self::FORWARDING_STATE != 0
    }
}

/// Graceful restart capability value (RFC 4724 §3, N bit from RFC 8538 §2).
///
/// ```text
/// +--------------------------------------------------+
/// | Restart Flags (4 bits)                           |
/// +--------------------------------------------------+
/// | Restart Time in seconds (12 bits)                |
/// +--------------------------------------------------+
/// | Address Family Identifier (16 bits)              |
/// +--------------------------------------------------+
/// | Subsequent Address Family Identifier (8 bits)    |
/// +--------------------------------------------------+
/// | Flags for Address Family (8 bits)                |
/// +--------------------------------------------------+
/// | ...                                              |
/// +--------------------------------------------------+
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct GracefulRestart {
    /// The 4 Restart Flags bits (0..=15), as received.
    pub restart_flags: u8,
    /// Restart Time, 12 bits (0..=4095 seconds).
    pub restart_time_s: u16,
    /// Families whose state is preserved; at most 63 fit in a capability and more are not
    /// encoded.
    pub families: Vec<GracefulRestartFamily>,
}

impl GracefulRestart {
    /// R bit: the sender has restarted.
    pub const RESTART_STATE: u8 = 0x8;
    /// N bit: the sender supports graceful restart for NOTIFICATIONs (RFC 8538 §2).
    pub const NOTIFICATION: u8 = 0x4;
    /// Largest Restart Time (12 bits).
    pub const MAX_RESTART_TIME_S: u16 = 0x0fff;
    const MAX_FAMILIES: usize = (255 - 2) / 4;
}

/// One address family in an ADD-PATH capability (RFC 7911 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct AddPathFamily {
    /// Address family.
    pub afi: Afi,
    /// Subsequent address family.
    pub safi: Safi,
    /// Send, receive or both.
    pub mode: AddPathMode,
}

/// ADD-PATH families that fit in one capability (one length byte, 4 bytes each).
const ADD_PATH_MAX_FAMILIES: usize = 255 / 4;

/// A capability (RFC 5492 §4), one code-length-value triple.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Capability {
    /// 1: Multiprotocol Extensions (RFC 4760 §8).
    Multiprotocol {
        /// Address family.
        afi: Afi,
        /// Subsequent address family.
        safi: Safi,
    },
    /// 2: Route Refresh (RFC 2918 §2).
    RouteRefresh,
    /// 64: Graceful Restart (RFC 4724 §3).
    GracefulRestart(GracefulRestart),
    /// 65: Support for 4-octet AS numbers (RFC 6793 §3).
    FourOctetAs {
        /// The speaker's AS number.
        asn: u32,
    },
    /// 69: ADD-PATH (RFC 7911 §4); at most 63 families are encoded.
    AddPath(Vec<AddPathFamily>),
    /// 70: Enhanced Route Refresh (RFC 7313 §3).
    EnhancedRouteRefresh,
    /// Any other capability, kept as received (only for codes not listed above); values longer
    /// than 255 bytes are cut when encoded.
    Unknown {
        /// Capability code.
        code: u8,
        /// Capability value.
        value: Vec<u8>,
    },
}

mod cap_code {
    pub(super) const MULTIPROTOCOL: u8 = 1;
    pub(super) const ROUTE_REFRESH: u8 = 2;
    pub(super) const GRACEFUL_RESTART: u8 = 64;
    pub(super) const FOUR_OCTET_AS: u8 = 65;
    pub(super) const ADD_PATH: u8 = 69;
    pub(super) const ENHANCED_ROUTE_REFRESH: u8 = 70;
}

impl Capability {
    /// Capability code.
    pub fn code(&self) -> u8 {
        match self {
            Capability::Multiprotocol { .. } => cap_code::MULTIPROTOCOL,
            Capability::RouteRefresh => cap_code::ROUTE_REFRESH,
            Capability::GracefulRestart(_) => cap_code::GRACEFUL_RESTART,
            Capability::FourOctetAs { .. } => cap_code::FOUR_OCTET_AS,
            Capability::AddPath(_) => cap_code::ADD_PATH,
            Capability::EnhancedRouteRefresh => cap_code::ENHANCED_ROUTE_REFRESH,
            Capability::Unknown { code, .. } => *code,
        }
    }

    /// Length of the value (the Capability Length byte caps it at 255).
    fn value_len(&self) -> usize {
        match self {
            Capability::Multiprotocol { .. } | Capability::FourOctetAs { .. } => 4,
            Capability::RouteRefresh | Capability::EnhancedRouteRefresh => 0,
            Capability::GracefulRestart(gr) => {
                2 + 4 * gr.families.len().min(GracefulRestart::MAX_FAMILIES)
            }
            Capability::AddPath(families) => 4 * families.len().min(ADD_PATH_MAX_FAMILIES),
            Capability::Unknown { value, .. } => value.len().min(255),
        }
    }

    fn encoded_len(&self) -> usize {
        2 + self.value_len()
    }

    fn encode(&self, buf: &mut BytesMut) {
        buf.put_u8(self.code());
        buf.put_u8(self.value_len() as u8);
        match self {
            Capability::Multiprotocol { afi, safi } => {
                buf.put_u16((*afi).into());
                buf.put_u8(0); // Reserved (RFC 4760 §8): sent as 0, ignored on receipt.
                buf.put_u8((*safi).into());
            }
            Capability::RouteRefresh | Capability::EnhancedRouteRefresh => {}
            Capability::GracefulRestart(gr) => {
                let flags_and_time = (u16::from(gr.restart_flags & 0x0f) << 12)
                    | (gr.restart_time_s & GracefulRestart::MAX_RESTART_TIME_S);
                buf.put_u16(flags_and_time);
                for family in gr.families.iter().take(GracefulRestart::MAX_FAMILIES) {
                    buf.put_u16(family.afi.into());
                    buf.put_u8(family.safi.into());
                    buf.put_u8(family.flags);
                }
            }
            Capability::FourOctetAs { asn } => buf.put_u32(*asn),
            Capability::AddPath(families) => {
                for family in families.iter().take(ADD_PATH_MAX_FAMILIES) {
                    buf.put_u16(family.afi.into());
                    buf.put_u8(family.safi.into());
                    buf.put_u8(family.mode.into());
                }
            }
            Capability::Unknown { value, .. } => buf.put_slice(value.get(..255).unwrap_or(value)),
        }
    }

    /// Decodes one capability's value; `offset` is that of its code byte.
    fn decode(code: u8, mut r: Reader<'_>, offset: usize) -> Result<Capability, DecodeError> {
        let malformed = DecodeError::MalformedCapability { offset, code };
        let len = r.remaining();
        let cap = match code {
            cap_code::MULTIPROTOCOL if len == 4 => {
                let (Some(afi), Some(_reserved), Some(safi)) = (r.u16(), r.u8(), r.u8()) else {
                    return Err(malformed);
                };
                Capability::Multiprotocol {
                    afi: afi.into(),
                    safi: safi.into(),
                }
            }
            cap_code::ROUTE_REFRESH if len == 0 => Capability::RouteRefresh,
            cap_code::ENHANCED_ROUTE_REFRESH if len == 0 => Capability::EnhancedRouteRefresh,
            cap_code::GRACEFUL_RESTART if len >= 2 && (len - 2) & 3 == 0 => {
                let flags_and_time = r.u16().ok_or_else(|| malformed.clone())?;
                let mut families = Vec::with_capacity((len - 2) / 4);
                while !r.is_empty() {
                    let (Some(afi), Some(safi), Some(flags)) = (r.u16(), r.u8(), r.u8()) else {
                        return Err(malformed);
                    };
                    families.push(GracefulRestartFamily {
                        afi: afi.into(),
                        safi: safi.into(),
                        flags,
                    });
                }
                Capability::GracefulRestart(GracefulRestart {
                    restart_flags: (flags_and_time >> 12) as u8,
                    restart_time_s: flags_and_time & GracefulRestart::MAX_RESTART_TIME_S,
                    families,
                })
            }
            cap_code::FOUR_OCTET_AS if len == 4 => {
                let value_offset = r.offset();
                let asn = r.u32().ok_or_else(|| malformed.clone())?;
                // RFC 7607 §2: AS 0 here is a Bad Peer AS.
                if asn == 0 {
                    return Err(DecodeError::BadPeerAs {
                        offset: value_offset,
                        value: asn,
                    });
                }
                Capability::FourOctetAs { asn }
            }
            cap_code::ADD_PATH if len & 3 == 0 => {
                let mut families = Vec::with_capacity(len / 4);
                while !r.is_empty() {
                    let (Some(afi), Some(safi), Some(mode)) = (r.u16(), r.u8(), r.u8()) else {
                        return Err(malformed);
                    };
                    families.push(AddPathFamily {
                        afi: afi.into(),
                        safi: safi.into(),
                        mode: mode.into(),
                    });
                }
                Capability::AddPath(families)
            }
            cap_code::MULTIPROTOCOL
            | cap_code::ROUTE_REFRESH
            | cap_code::ENHANCED_ROUTE_REFRESH
            | cap_code::GRACEFUL_RESTART
            | cap_code::FOUR_OCTET_AS
            | cap_code::ADD_PATH => return Err(malformed),
            _ => Capability::Unknown {
                code,
                value: r.peek_rest().to_vec(),
            },
        };
        Ok(cap)
    }
}

/// An optional parameter of an OPEN (RFC 4271 §4.2). One Capabilities parameter may hold several
/// capabilities (RFC 5492 §4); the grouping is kept so re-encoding gives the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum OptionalParameter {
    /// Type 2: Capabilities (RFC 5492).
    Capabilities(Vec<Capability>),
    /// Any other type (1, Authentication, is deprecated), kept as received; the session decides
    /// whether to answer Unsupported Optional Parameter (RFC 4271 §6.2). Only for types other
    /// than 2.
    Unknown {
        /// Parameter Type.
        param_type: u8,
        /// Parameter Value.
        value: Vec<u8>,
    },
}

impl OptionalParameter {
    fn param_type(&self) -> u8 {
        match self {
            OptionalParameter::Capabilities(_) => PARAM_CAPABILITIES,
            OptionalParameter::Unknown { param_type, .. } => *param_type,
        }
    }

    fn value_len(&self) -> usize {
        match self {
            OptionalParameter::Capabilities(caps) => caps.iter().map(Capability::encoded_len).sum(),
            OptionalParameter::Unknown { value, .. } => value.len(),
        }
    }

    fn encode_value(&self, buf: &mut BytesMut) {
        match self {
            OptionalParameter::Capabilities(caps) => caps.iter().for_each(|c| c.encode(buf)),
            OptionalParameter::Unknown { value, .. } => buf.put_slice(value),
        }
    }
}

/// OPEN message (RFC 4271 §4.2), header included when encoded.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+
/// |    Version    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |     My Autonomous System      |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |           Hold Time           |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                         BGP Identifier                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// | Opt Parm Len  |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |             Optional Parameters (variable)                    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
///
/// Each optional parameter:             Extended form (RFC 9072 §2), when they exceed 255 bytes:
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+    Opt Parm Len = 255, then Type = 255, then a 2-byte
/// |  Parm. Type   | Parm. Length  |    Extended Opt. Parm. Length, and each parameter has a
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+    2-byte Parm. Length.
/// ~  Parameter Value (variable)   ~
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
///
/// The Version is always 4: any other is a decode error, so it is not a field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Open {
    /// My Autonomous System: the 2-octet AS, or [`AS_TRANS`] when the real one needs 4 octets
    /// (then it is in [`Capability::FourOctetAs`]). Never 0 (RFC 7607).
    pub my_as: u16,
    /// Proposed Hold Time: 0 or at least 3 seconds.
    pub hold_time_s: u16,
    /// BGP Identifier, never 0.0.0.0 (RFC 6286).
    pub bgp_identifier: Ipv4Addr,
    /// Optional parameters, in order.
    pub optional_parameters: Vec<OptionalParameter>,
}

impl Open {
    /// An OPEN for AS `asn` with one Capabilities parameter. `my_as` is `asn` when it fits in 2
    /// octets, [`AS_TRANS`] otherwise (RFC 6793 §4.1); the caller includes
    /// [`Capability::FourOctetAs`] in `capabilities` when it speaks RFC 6793.
    pub fn new(
        asn: u32,
        hold_time_s: u16,
        bgp_identifier: Ipv4Addr,
        capabilities: Vec<Capability>,
    ) -> Open {
        Open {
            my_as: u16::try_from(asn).unwrap_or(AS_TRANS),
            hold_time_s,
            bgp_identifier,
            optional_parameters: vec![OptionalParameter::Capabilities(capabilities)],
        }
    }

    /// Every capability, in order, across all Capabilities parameters.
    pub fn capabilities(&self) -> impl Iterator<Item = &Capability> {
        self.optional_parameters.iter().flat_map(|p| match p {
            OptionalParameter::Capabilities(caps) => caps.as_slice(),
            OptionalParameter::Unknown { .. } => &[],
        })
    }

    /// The sender's AS: from the 4-octet AS capability when present (RFC 6793 §4.1), else
    /// `my_as`.
    pub fn asn(&self) -> u32 {
        self.capabilities()
            .find_map(|c| match c {
                Capability::FourOctetAs { asn } => Some(*asn),
                _ => None,
            })
            .unwrap_or(u32::from(self.my_as))
    }

    /// Whether the extended optional parameters format (RFC 9072) is needed: when they do not
    /// fit in 255 bytes, or when the first parameter's type (255) would read as its marker.
    fn uses_extended_params(&self) -> bool {
        let plain_len: usize = self
            .optional_parameters
            .iter()
            .map(|p| 2 + p.value_len())
            .sum();
        plain_len > 255
            || self.optional_parameters.iter().any(|p| p.value_len() > 255)
            || (plain_len == 255
                && self
                    .optional_parameters
                    .first()
                    .map(OptionalParameter::param_type)
                    == Some(PARAM_EXTENDED))
    }

    fn params_len(&self, extended: bool) -> usize {
        let per_param = if extended { 3 } else { 2 };
        self.optional_parameters
            .iter()
            .map(|p| per_param + p.value_len())
            .sum()
    }

    /// Length of the encoded message, header included.
    pub fn encoded_len(&self) -> usize {
        let extended = self.uses_extended_params();
        let prefix = if extended { 3 } else { 0 };
        field::OPT_PARMS + prefix + self.params_len(extended)
    }

    /// Writes the whole message, header included.
    pub fn encode(&self, buf: &mut BytesMut) {
        encode_header(buf, MessageType::Open, self.encoded_len());
        buf.put_u8(BGP_VERSION);
        buf.put_u16(self.my_as);
        buf.put_u16(self.hold_time_s);
        buf.put_u32(self.bgp_identifier.into());
        let extended = self.uses_extended_params();
        let params_len = self.params_len(extended);
        if extended {
            buf.put_u8(PARAM_EXTENDED);
            buf.put_u8(PARAM_EXTENDED);
            buf.put_u16(params_len as u16);
        } else {
            buf.put_u8(params_len as u8);
        }
        for param in &self.optional_parameters {
            buf.put_u8(param.param_type());
            if extended {
                buf.put_u16(param.value_len() as u16);
            } else {
                buf.put_u8(param.value_len() as u8);
            }
            param.encode_value(buf);
        }
    }

    /// Decodes one whole OPEN message, header included.
    ///
    /// # Errors
    /// Header errors (RFC 4271 §6.1); [`DecodeError::UnsupportedVersion`],
    /// [`DecodeError::BadPeerAs`], [`DecodeError::UnacceptableHoldTime`],
    /// [`DecodeError::BadBgpIdentifier`], [`DecodeError::MalformedOptionalParameters`],
    /// [`DecodeError::MalformedCapability`] (RFC 4271 §6.2).
    pub fn decode(input: &[u8]) -> Result<Open, DecodeError> {
        let body = header::message_body(input, MessageType::Open)?;
        Open::decode_body(body)
    }

    /// Decodes the part after the header.
    pub(crate) fn decode_body(body: &[u8]) -> Result<Open, DecodeError> {
        let mut r = Reader::new(body, field::VERSION);
        let truncated = || DecodeError::Truncated {
            needed: field::OPT_PARMS,
            available: HEADER_LEN + body.len(),
        };
        let (Some(version), Some(my_as), Some(hold_time_s), Some(id), Some(opt_len)) =
            (r.u8(), r.u16(), r.u16(), r.ipv4(), r.u8())
        else {
            return Err(truncated());
        };
        if version != BGP_VERSION {
            return Err(DecodeError::UnsupportedVersion {
                offset: field::VERSION,
                value: version,
            });
        }
        if my_as == 0 {
            return Err(DecodeError::BadPeerAs {
                offset: field::MY_AS,
                value: 0,
            });
        }
        // RFC 4271 §6.2: the Hold Time MUST be zero or at least three seconds.
        if matches!(hold_time_s, 1 | 2) {
            return Err(DecodeError::UnacceptableHoldTime {
                offset: field::HOLD_TIME,
                value: hold_time_s,
            });
        }
        if id.is_unspecified() {
            return Err(DecodeError::BadBgpIdentifier {
                offset: field::BGP_IDENTIFIER,
                value: id,
            });
        }
        let optional_parameters = decode_parameters(&mut r, opt_len)?;
        Ok(Open {
            my_as,
            hold_time_s,
            bgp_identifier: id,
            optional_parameters,
        })
    }
}

/// Reads the optional parameters after Opt Parm Len; `r` must end exactly where they do.
fn decode_parameters(
    r: &mut Reader<'_>,
    opt_len: u8,
) -> Result<Vec<OptionalParameter>, DecodeError> {
    debug_assert!(r.offset() == field::OPT_PARM_LEN + 1);
    // RFC 9072 §2: Opt Parm Len 255 followed by type 255 announces the extended format.
    let extended = opt_len == PARAM_EXTENDED && r.peek_rest().first() == Some(&PARAM_EXTENDED);
    let malformed = |offset| DecodeError::MalformedOptionalParameters { offset };
    let total = if extended {
        let _ = r.u8();
        let at = r.offset();
        usize::from(r.u16().ok_or(malformed(at))?)
    } else {
        usize::from(opt_len)
    };
    let start = r.offset();
    let mut params = r.sub(total).ok_or(malformed(start))?;
    // RFC 4271 §4.2: the message ends with the optional parameters.
    if !r.is_empty() {
        return Err(malformed(r.offset()));
    }
    let mut out = Vec::new();
    while !params.is_empty() {
        let at = params.offset();
        let param_type = params.u8().ok_or(malformed(at))?;
        let len = if extended {
            params.u16().map(usize::from)
        } else {
            params.u8().map(usize::from)
        }
        .ok_or(malformed(at))?;
        let value = params.sub(len).ok_or(malformed(at))?;
        out.push(if param_type == PARAM_CAPABILITIES {
            OptionalParameter::Capabilities(decode_capabilities(value)?)
        } else {
            OptionalParameter::Unknown {
                param_type,
                value: value.peek_rest().to_vec(),
            }
        });
    }
    Ok(out)
}

fn decode_capabilities(mut r: Reader<'_>) -> Result<Vec<Capability>, DecodeError> {
    let mut caps = Vec::new();
    while !r.is_empty() {
        let at = r.offset();
        let malformed = DecodeError::MalformedOptionalParameters { offset: at };
        let (Some(code), Some(len)) = (r.u8(), r.u8()) else {
            return Err(malformed);
        };
        let value = r.sub(usize::from(len)).ok_or(malformed)?;
        caps.push(Capability::decode(code, value, at)?);
    }
    Ok(caps)
}

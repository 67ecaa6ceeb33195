//! BFD Control packet (RFC 5880 §4.1), carried in UDP to port 3784 (RFC 5881 §4).
//!
//! Decoding applies the reception checks of RFC 5880 §6.8.6 that need no session state; the
//! rest (discriminator lookup, authentication) belong to the session.

use crate::wire::code_enum;
use crate::wire::reader::Reader;
use bytes::{BufMut, BytesMut};

/// UDP destination port of single-hop BFD Control packets (RFC 5881 §4).
pub const BFD_CONTROL_PORT: u16 = 3784;
/// UDP destination port of single-hop BFD Echo packets (RFC 5881 §4).
pub const BFD_ECHO_PORT: u16 = 3785;
/// UDP destination port of multihop BFD Control packets (RFC 5883 §5).
pub const BFD_MULTIHOP_CONTROL_PORT: u16 = 4784;
/// The only BFD version (RFC 5880 §4.1).
pub const BFD_VERSION: u8 = 1;

/// Byte offsets of the Control packet fields, named once.
mod field {
    pub(super) const VERSION_DIAG: usize = 0;
    pub(super) const STATE_FLAGS: usize = 1;
    pub(super) const DETECT_MULT: usize = 2;
    pub(super) const LENGTH: usize = 3;
    pub(super) const MY_DISCRIMINATOR: usize = 4;
    pub(super) const YOUR_DISCRIMINATOR: usize = 8;
    /// Where the optional authentication section starts; also the packet length without it.
    pub(super) const AUTH: usize = 24;
    pub(super) const AUTH_LEN: usize = 25;
}

/// Flag bits of the second byte (RFC 5880 §4.1), below the 2-bit State.
mod flag {
    pub(super) const POLL: u8 = 0x20;
    pub(super) const FINAL: u8 = 0x10;
    pub(super) const CONTROL_PLANE_INDEPENDENT: u8 = 0x08;
    pub(super) const AUTH_PRESENT: u8 = 0x04;
    pub(super) const DEMAND: u8 = 0x02;
    pub(super) const MULTIPOINT: u8 = 0x01;
}

code_enum! {
    /// Diagnostic code, 5 bits (RFC 5880 §4.1, code 9 from RFC 6428 §3.4). Values above 31 cannot
    /// be encoded and are masked.
    pub enum Diagnostic: u8 {
        /// 0: No Diagnostic.
        NoDiagnostic = 0,
        /// 1: Control Detection Time Expired.
        ControlDetectionTimeExpired = 1,
        /// 2: Echo Function Failed.
        EchoFunctionFailed = 2,
        /// 3: Neighbor Signaled Session Down.
        NeighborSignaledSessionDown = 3,
        /// 4: Forwarding Plane Reset.
        ForwardingPlaneReset = 4,
        /// 5: Path Down.
        PathDown = 5,
        /// 6: Concatenated Path Down.
        ConcatenatedPathDown = 6,
        /// 7: Administratively Down.
        AdministrativelyDown = 7,
        /// 8: Reverse Concatenated Path Down.
        ReverseConcatenatedPathDown = 8,
        /// 9: Mis-Connectivity Defect (RFC 6428).
        MisConnectivityDefect = 9,
    }
}

code_enum! {
    /// Authentication Type (RFC 5880 §4.1).
    pub enum AuthType: u8 {
        /// 0: reserved.
        Reserved = 0,
        /// 1: Simple Password.
        SimplePassword = 1,
        /// 2: Keyed MD5.
        KeyedMd5 = 2,
        /// 3: Meticulous Keyed MD5.
        MeticulousKeyedMd5 = 3,
        /// 4: Keyed SHA1.
        KeyedSha1 = 4,
        /// 5: Meticulous Keyed SHA1.
        MeticulousKeyedSha1 = 5,
    }
}

/// Session state, 2 bits (RFC 5880 §4.1): all four values are assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SessionState {
    /// 0: AdminDown.
    AdminDown,
    /// 1: Down.
    Down,
    /// 2: Init.
    Init,
    /// 3: Up.
    Up,
}

impl SessionState {
    fn from_bits(bits: u8) -> SessionState {
        match bits & 0x3 {
            0 => SessionState::AdminDown,
            1 => SessionState::Down,
            2 => SessionState::Init,
            _ => SessionState::Up,
        }
    }

    fn to_bits(self) -> u8 {
        match self {
            SessionState::AdminDown => 0,
            SessionState::Down => 1,
            SessionState::Init => 2,
            SessionState::Up => 3,
        }
    }
}

/// The optional authentication section, kept raw: checking it needs keys and sequence state,
/// which belong to the session (RFC 5880 §6.7).
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Auth Type   |   Auth Len    |    Authentication Data...     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct BfdAuth {
    /// Auth Type.
    pub auth_type: AuthType,
    /// Authentication Data (Auth Len minus 2 bytes). The packet's one-byte Length bounds it to
    /// 229 bytes; more is cut when encoded.
    pub data: Vec<u8>,
}

impl BfdAuth {
    /// Length (one byte) covers the 24 fixed bytes, Auth Type and Auth Len too.
    const MAX_DATA_LEN: usize = 255 - field::AUTH - 2;

    fn wire_data(&self) -> &[u8] {
        self.data.get(..Self::MAX_DATA_LEN).unwrap_or(&self.data)
    }
}

/// Why bytes are not a BFD Control packet this side accepts (RFC 5880 §6.8.6: discard it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BfdDecodeError {
    /// Fewer than 24 bytes.
    #[error("BFD packet truncated: {available} bytes, at least 24 needed")]
    Truncated {
        /// Bytes given.
        available: usize,
    },
    /// Version is not 1.
    #[error("unsupported BFD version {value} at offset {offset}")]
    UnsupportedVersion {
        /// Offset of the Version field.
        offset: usize,
        /// Its value.
        value: u8,
    },
    /// Length below 24 (26 with authentication) or beyond the bytes given.
    #[error("bad BFD length {value} at offset {offset} ({available} bytes received)")]
    BadLength {
        /// Offset of the Length field.
        offset: usize,
        /// Its value.
        value: u8,
        /// Bytes given.
        available: usize,
    },
    /// Detect Mult is zero.
    #[error("BFD detect multiplier is zero (offset {offset})")]
    ZeroDetectMult {
        /// Offset of the Detect Mult field.
        offset: usize,
    },
    /// Multipoint (M) bit set.
    #[error("BFD multipoint bit set (offset {offset})")]
    MultipointSet {
        /// Offset of the flags byte.
        offset: usize,
    },
    /// My Discriminator is zero.
    #[error("BFD My Discriminator is zero (offset {offset})")]
    ZeroMyDiscriminator {
        /// Offset of the My Discriminator field.
        offset: usize,
    },
    /// Your Discriminator is zero while State is Init or Up.
    #[error("BFD Your Discriminator is zero in state {state:?} (offset {offset})")]
    ZeroYourDiscriminator {
        /// Offset of the Your Discriminator field.
        offset: usize,
        /// The State field.
        state: SessionState,
    },
    /// Auth Len below 2 or not ending where Length says the packet does.
    #[error("bad BFD Auth Len {value} at offset {offset}")]
    BadAuthLength {
        /// Offset of the Auth Len field.
        offset: usize,
        /// Its value.
        value: u8,
    },
}

/// BFD Control packet (RFC 5880 §4.1). The Version is always 1 and the Multipoint bit always 0
/// (anything else fails to decode), so neither is a field; the A bit follows `auth`.
///
/// ```text
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                       My Discriminator                        |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                      Your Discriminator                       |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                    Desired Min TX Interval                    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                   Required Min RX Interval                    |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |                 Required Min Echo RX Interval                 |
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// |   Auth Type   |   Auth Len    |    Authentication Data...     |  (if A)
/// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct BfdControl {
    /// Diagnostic: why the sender's session last went down.
    pub diag: Diagnostic,
    /// Sender's session state.
    pub state: SessionState,
    /// P: the sender asks for a Final (parameter change, RFC 5880 §6.5).
    pub poll: bool,
    /// F: answer to a Poll.
    pub final_: bool,
    /// C: Control Plane Independent.
    pub control_plane_independent: bool,
    /// D: the sender wants Demand mode.
    pub demand: bool,
    /// Detect time multiplier, never 0.
    pub detect_mult: u8,
    /// Sender's discriminator, never 0.
    pub my_discriminator: u32,
    /// The receiver's discriminator as the sender knows it, 0 when unknown (only in Down or
    /// AdminDown).
    pub your_discriminator: u32,
    /// Desired Min TX Interval, microseconds.
    pub desired_min_tx_us: u32,
    /// Required Min RX Interval, microseconds.
    pub required_min_rx_us: u32,
    /// Required Min Echo RX Interval, microseconds (0: no echo).
    pub required_min_echo_rx_us: u32,
    /// Authentication section; `Some` sets the A bit.
    pub auth: Option<BfdAuth>,
}

impl BfdControl {
    /// Length of the encoded packet: 24, plus the authentication section.
    pub fn encoded_len(&self) -> usize {
        field::AUTH + self.auth.as_ref().map_or(0, |a| 2 + a.wire_data().len())
    }

    /// Writes the packet (the UDP payload).
    pub fn encode(&self, buf: &mut BytesMut) {
        let diag = u8::from(self.diag) & 0x1f;
        buf.put_u8((BFD_VERSION << 5) | diag);
        let mut flags = self.state.to_bits() << 6;
        for (set, bit) in [
            (self.poll, flag::POLL),
            (self.final_, flag::FINAL),
            (
                self.control_plane_independent,
                flag::CONTROL_PLANE_INDEPENDENT,
            ),
            (self.auth.is_some(), flag::AUTH_PRESENT),
            (self.demand, flag::DEMAND),
        ] {
            if set {
                flags |= bit;
            }
        }
        buf.put_u8(flags);
        buf.put_u8(self.detect_mult);
        buf.put_u8(self.encoded_len() as u8);
        buf.put_u32(self.my_discriminator);
        buf.put_u32(self.your_discriminator);
        buf.put_u32(self.desired_min_tx_us);
        buf.put_u32(self.required_min_rx_us);
        buf.put_u32(self.required_min_echo_rx_us);
        if let Some(auth) = &self.auth {
            let data = auth.wire_data();
            buf.put_u8(auth.auth_type.into());
            buf.put_u8((2 + data.len()) as u8);
            buf.put_slice(data);
        }
    }

    /// Decodes a packet (the UDP payload). Bytes after Length are ignored (RFC 5880 §6.8.6 only
    /// requires that Length not exceed the payload); so are bytes between the end of the fixed
    /// part and Length when there is no authentication section.
    ///
    /// # Errors
    /// The stateless discard rules of RFC 5880 §6.8.6, in its order: version, length, detect
    /// multiplier, multipoint, My Discriminator, Your Discriminator vs State; then the
    /// authentication section's length.
    pub fn decode(input: &[u8]) -> Result<BfdControl, BfdDecodeError> {
        let mut r = Reader::new(input, field::VERSION_DIAG);
        let (
            Some(version_diag),
            Some(state_flags),
            Some(detect_mult),
            Some(length),
            Some(my_discriminator),
            Some(your_discriminator),
            Some(desired_min_tx_us),
            Some(required_min_rx_us),
            Some(required_min_echo_rx_us),
        ) = (
            r.u8(),
            r.u8(),
            r.u8(),
            r.u8(),
            r.u32(),
            r.u32(),
            r.u32(),
            r.u32(),
            r.u32(),
        )
        else {
            return Err(BfdDecodeError::Truncated {
                available: input.len(),
            });
        };
        let version = version_diag >> 5;
        if version != BFD_VERSION {
            return Err(BfdDecodeError::UnsupportedVersion {
                offset: field::VERSION_DIAG,
                value: version,
            });
        }
        let auth_present = state_flags & flag::AUTH_PRESENT != 0;
        let min_len = if auth_present {
            field::AUTH + 2
        } else {
            field::AUTH
        };
        let len = usize::from(length);
        if len < min_len || len > input.len() {
            return Err(BfdDecodeError::BadLength {
                offset: field::LENGTH,
                value: length,
                available: input.len(),
            });
        }
        if detect_mult == 0 {
            return Err(BfdDecodeError::ZeroDetectMult {
                offset: field::DETECT_MULT,
            });
        }
        if state_flags & flag::MULTIPOINT != 0 {
            return Err(BfdDecodeError::MultipointSet {
                offset: field::STATE_FLAGS,
            });
        }
        if my_discriminator == 0 {
            return Err(BfdDecodeError::ZeroMyDiscriminator {
                offset: field::MY_DISCRIMINATOR,
            });
        }
        let state = SessionState::from_bits(state_flags >> 6);
        if your_discriminator == 0 && matches!(state, SessionState::Init | SessionState::Up) {
            return Err(BfdDecodeError::ZeroYourDiscriminator {
                offset: field::YOUR_DISCRIMINATOR,
                state,
            });
        }
        let auth = if auth_present {
            let (Some(auth_type), Some(auth_len)) = (r.u8(), r.u8()) else {
                return Err(BfdDecodeError::BadLength {
                    offset: field::LENGTH,
                    value: length,
                    available: input.len(),
                });
            };
            // Auth Len counts Type and Len too, and the section ends the packet (§4.1).
            let bad_auth_len = BfdDecodeError::BadAuthLength {
                offset: field::AUTH_LEN,
                value: auth_len,
            };
            if usize::from(auth_len) < 2 || field::AUTH + usize::from(auth_len) != len {
                return Err(bad_auth_len);
            }
            let data = r.take(usize::from(auth_len) - 2).ok_or(bad_auth_len)?;
            Some(BfdAuth {
                auth_type: auth_type.into(),
                data: data.to_vec(),
            })
        } else {
            None
        };
        Ok(BfdControl {
            diag: Diagnostic::from(version_diag & 0x1f),
            state,
            poll: state_flags & flag::POLL != 0,
            final_: state_flags & flag::FINAL != 0,
            control_plane_independent: state_flags & flag::CONTROL_PLANE_INDEPENDENT != 0,
            demand: state_flags & flag::DEMAND != 0,
            detect_mult,
            my_discriminator,
            your_discriminator,
            desired_min_tx_us,
            required_min_rx_us,
            required_min_echo_rx_us,
            auth,
        })
    }
}

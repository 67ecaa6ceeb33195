//! BFD (RFC 5880, single hop over UDP RFC 5881): the Control packet codec and the session
//! machine (asynchronous mode); [`ipv6`] carries it over IPv6 (hop limit 255, UDP checksum).
//!
//! ```text
//!  UDP payload ──▶ BfdControl::decode ──▶ BfdInput::Received ──▶ BfdSession::handle(now, ..)
//!  runner wake-up at BfdSession::next_timeout ──▶ BfdInput::Timer ──┘        │
//!        BfdOutput::Send(BfdControl) ──▶ encode ──▶ UDP to port 3784 ◀──────┤
//!        BfdOutput::StateChanged { to: Down, .. } ──▶ BGP session down ◀────┘
//! ```
//!
//! ```
//! use bgp::bfd::{BfdControl, Diagnostic, SessionState};
//! use bytes::BytesMut;
//!
//! let up = BfdControl {
//!     diag: Diagnostic::NoDiagnostic,
//!     state: SessionState::Up,
//!     poll: false,
//!     final_: false,
//!     control_plane_independent: false,
//!     demand: false,
//!     detect_mult: 3,
//!     my_discriminator: 1,
//!     your_discriminator: 2,
//!     desired_min_tx_us: 300_000,
//!     required_min_rx_us: 300_000,
//!     required_min_echo_rx_us: 0,
//!     auth: None,
//! };
//! let mut buf = BytesMut::new();
//! up.encode(&mut buf);
//! assert_eq!(buf.len(), 24);
//! assert_eq!(BfdControl::decode(&buf), Ok(up));
//! ```

pub mod ipv6;
mod packet;
pub mod session;

pub use packet::{
    AuthType, BfdAuth, BfdControl, BfdDecodeError, Diagnostic, SessionState, BFD_CONTROL_PORT,
    BFD_ECHO_PORT, BFD_MULTIHOP_CONTROL_PORT, BFD_VERSION,
};

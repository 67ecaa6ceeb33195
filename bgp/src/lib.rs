//! The BGP side of lbsim: how a router spreads flows over next hops (ECMP), and the BGP and
//! BFD protocols that feed it.
//!
//! ```text
//!  scenario / BGP speaker ──▶ EcmpGroup (next hops, selection state)
//!  flow 5-tuple ──▶ FlowHasher (fields × function × seed) ──▶ EcmpGroup::select ──▶ next hop
//! ```
#![warn(missing_docs)]

/// BFD codec and session.
pub mod bfd;
/// ECMP next-hop selection.
pub mod ecmp;
/// The router's RIB and MetalLB's advertisement rules.
pub mod rib;
/// The BGP session state machine.
pub mod session;
/// TCP between peers inside the simulation.
pub mod tcp;
/// BGP wire codec.
pub mod wire;

//! BGP wire codec (RFC 4271 and friends).

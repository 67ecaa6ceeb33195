//! The BGP session FSM (RFC 4271 section 8), sans-IO.

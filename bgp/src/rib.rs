//! The router RIB: Adj-RIB-In per peer, multipath best path, stale routes, FIB programming.

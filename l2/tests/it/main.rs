//! Integration tests of the `l2` crate, one binary with a module per part.

mod issue2920;
mod memberlist;
mod ndp;
mod ndp_responder;
mod neighbour;
mod neighbour6;
mod speaker;
mod wire;

//! Integration tests of the `l2` crate, one binary with a module per part.

mod neighbour;
mod wire;

//! ECMP: hash fields x hash function x selection algorithm.

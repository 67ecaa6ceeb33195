//! The Layer 2 side of lbsim: Ethernet and ARP on the wire, the switch, the host neighbour
//! cache, and MetalLB's L2 speaker (election, failure detection, gratuitous ARP).
#![warn(missing_docs)]

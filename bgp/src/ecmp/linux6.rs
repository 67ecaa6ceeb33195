//! The Linux kernel's IPv6 multipath hash, `rt6_multipath_hash()` (net/ipv6/route.c, Linux
//! 6.18), reproduced bit for bit, for its two callers:
//!
//! - [`Ipv6HashPath::Forwarded`]: a packet the router forwards (`ip6_route_input` ->
//!   `fib6_select_path(.., skb)`), keys read from the packet;
//! - [`Ipv6HashPath::RouteLookup`]: a lookup without a packet, from a `struct flowi6`
//!   (`RTM_GETROUTE`, i.e. `ip -6 route get`, and locally sent traffic).
//!
//! The two differ, which is why both exist:
//!
//! | policy | hashed fields | forwarded | route lookup |
//! |---|---|---|---|
//! | 0 (L3) | src, dst, flow label, next header | label as the header holds it (`ip6_flowlabel`: big-endian) | same (`flowi6_get_flowlabel`: big-endian) |
//! | 1 (L4) | src, dst, ports, next header | same | same |
//! | 2 (L3 or inner L3) | src, dst, flow label, next header | label from the flow dissector, **host order** (`ntohl`) | big-endian |
//! | 3 (custom: `fib_multipath_hash_fields`) | the fields chosen | label host order, result `jhash_2words(outer, inner, 0)` | label big-endian, no jhash |
//!
//! Everything else is the IPv4 machinery (see `linux.rs`): a zeroed `struct flow_keys`, the
//! SipHash key from `net.ipv4.fib_multipath_hash_seed` (the IPv4 seed serves both families,
//! `fib_multipath_hash_from_keys`), `__flow_hash_consistentify` (IPv6 addresses ordered by
//! `memcmp`, ports separately), SipHash-2-4 over `flow_keys_hash_length` bytes (72 for IPv6:
//! both 16-byte addresses and 4 bytes of tail padding), 0 turned into 1, and the final `>> 1`.
//!
//! Not modelled: ICMPv6 errors (`ip6_multipath_l3_keys` hashes the embedded header's
//! addresses), tunnels (policy 2's inner header, policy 3's inner fields), and policy 1's
//! short cut through an L4 hash the packet already carries (`skb->l4_hash`).

use std::fmt;
use std::net::Ipv6Addr;

use siphasher::sip::SipHasher24;

use super::hash::splitmix64;
use super::linux::{jhash_2words, siphash_key};

/// An IPv6 flow as `rt6_multipath_hash` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowKey6 {
    /// Source address (the client).
    pub src: Ipv6Addr,
    /// Destination address (the service VIP).
    pub dst: Ipv6Addr,
    /// The 20-bit flow label of the IPv6 header.
    pub flow_label: u32,
    /// Next header / protocol (6 = TCP, 17 = UDP).
    pub proto: u8,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
}

/// `net.ipv6.fib_multipath_hash_policy` (Documentation/networking/ip-sysctl.rst), with policy
/// 3's `net.ipv6.fib_multipath_hash_fields`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ipv6HashPolicy {
    /// 0: source, destination, flow label, next header.
    L3,
    /// 1: source, destination, ports, next header.
    L4,
    /// 2: as 0 (or the inner header's, for tunnels, not modelled).
    InnerL3,
    /// 3: the outer fields of this mask (`FIB_MULTIPATH_HASH_FIELD_*`).
    Custom(u32),
}

/// `FIB_MULTIPATH_HASH_FIELD_*` bits (include/net/ip_fib.h), the outer ones.
pub mod field {
    /// Source address.
    pub const SRC_IP: u32 = 0x01;
    /// Destination address.
    pub const DST_IP: u32 = 0x02;
    /// Protocol / next header.
    pub const IP_PROTO: u32 = 0x04;
    /// Flow label (IPv6 only).
    pub const FLOWLABEL: u32 = 0x08;
    /// Source port.
    pub const SRC_PORT: u32 = 0x10;
    /// Destination port.
    pub const DST_PORT: u32 = 0x20;
    /// All outer fields (`FIB_MULTIPATH_HASH_FIELD_OUTER_MASK`).
    pub const OUTER_MASK: u32 = 0x3f;
}

impl Ipv6HashPolicy {
    /// The policy for the sysctl values `policy` and (for 3) `fields`; `None` for a policy
    /// the kernel refuses (above 3).
    pub fn from_sysctl(policy: u8, fields: u32) -> Option<Self> {
        match policy {
            0 => Some(Ipv6HashPolicy::L3),
            1 => Some(Ipv6HashPolicy::L4),
            2 => Some(Ipv6HashPolicy::InnerL3),
            3 => Some(Ipv6HashPolicy::Custom(fields)),
            _ => None,
        }
    }

    /// The `fib_multipath_hash_policy` number.
    pub fn number(self) -> u8 {
        match self {
            Ipv6HashPolicy::L3 => 0,
            Ipv6HashPolicy::L4 => 1,
            Ipv6HashPolicy::InnerL3 => 2,
            Ipv6HashPolicy::Custom(_) => 3,
        }
    }
}

impl fmt::Display for Ipv6HashPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ipv6HashPolicy::Custom(fields) => write!(f, "policy 3 (fields {fields:#06x})"),
            other => write!(f, "policy {}", other.number()),
        }
    }
}

/// Which caller of `rt6_multipath_hash` (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ipv6HashPath {
    /// A forwarded packet (`skb` given).
    Forwarded,
    /// A lookup from a `flowi6` alone (`RTM_GETROUTE`, local output).
    RouteLookup,
}

/// A prepared IPv6 multipath hash: policy, path and seed.
#[derive(Clone)]
pub struct Ipv6Hasher {
    policy: Ipv6HashPolicy,
    path: Ipv6HashPath,
    key: SipHasher24,
}

impl fmt::Debug for Ipv6Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ipv6Hasher")
            .field("policy", &self.policy)
            .field("path", &self.path)
            .finish()
    }
}

/// Byte offsets in the hashed part of `struct flow_keys`, counted from `basic` (the layout
/// `linux.rs` draws); for IPv6 `flow_keys_hash_length` is `80 - (8 + 32 - 32)` = 72.
mod offset {
    pub const IP_PROTO: usize = 2;
    pub const FLOW_LABEL: usize = 4;
    pub const SPORT: usize = 28;
    pub const DPORT: usize = 30;
    pub const SRC: usize = 36;
    pub const DST: usize = 52;
    pub const HASH_LEN: usize = 72;
}

/// How the flow label sits in `flow_keys.tags.flow_label` on a little-endian machine.
#[derive(Clone, Copy)]
enum LabelOrder {
    /// The `__be32` of the header, masked (`ip6_flowlabel`, `flowi6_get_flowlabel`).
    Network,
    /// `ntohl` of it (the flow dissector, `__skb_flow_dissect`).
    Host,
}

impl Ipv6Hasher {
    /// The hash of `policy` on `path`, keyed by `net.ipv4.fib_multipath_hash_seed` = `seed`
    /// (0, which makes the kernel draw a secret seed, is modelled as key 0).
    pub fn new(policy: Ipv6HashPolicy, path: Ipv6HashPath, seed: u32) -> Self {
        let (k0, k1) = siphash_key(seed);
        Ipv6Hasher {
            policy,
            path,
            key: SipHasher24::new_with_keys(k0, k1),
        }
    }

    /// The policy.
    pub fn policy(&self) -> Ipv6HashPolicy {
        self.policy
    }

    /// The path.
    pub fn path(&self) -> Ipv6HashPath {
        self.path
    }

    /// `rt6_multipath_hash` for `flow`: the kernel's 31-bit value, compared with the next
    /// hops' upper bounds by hash-threshold and resilient selection alike.
    pub fn hash(&self, flow: &FlowKey6) -> u32 {
        let forwarded = self.path == Ipv6HashPath::Forwarded;
        let dissector_order = if forwarded {
            LabelOrder::Host
        } else {
            LabelOrder::Network
        };
        let all = field::SRC_IP | field::DST_IP | field::IP_PROTO;
        let mhash = match self.policy {
            // ip6_multipath_l3_keys (forwarded, no flkeys) reads the header: big-endian.
            Ipv6HashPolicy::L3 => self.keys(flow, all | field::FLOWLABEL, LabelOrder::Network),
            Ipv6HashPolicy::L4 => self.keys(
                flow,
                all | field::SRC_PORT | field::DST_PORT,
                LabelOrder::Network,
            ),
            Ipv6HashPolicy::InnerL3 => self.keys(flow, all | field::FLOWLABEL, dissector_order),
            Ipv6HashPolicy::Custom(fields) => {
                let outer = if fields & field::OUTER_MASK == 0 {
                    0
                } else {
                    self.keys(flow, fields, dissector_order)
                };
                if forwarded {
                    // rt6_multipath_custom_hash_skb: inner hash 0 (no tunnel).
                    jhash_2words(outer, 0, 0)
                } else {
                    outer
                }
            }
        };
        mhash >> 1
    }

    /// `fib_multipath_hash_from_keys` over a zeroed `flow_keys` holding `fields` of `flow`.
    fn keys(&self, flow: &FlowKey6, fields: u32, order: LabelOrder) -> u32 {
        let mut bytes = [0u8; offset::HASH_LEN];
        if fields & field::IP_PROTO != 0 {
            bytes[offset::IP_PROTO] = flow.proto;
        }
        if fields & field::FLOWLABEL != 0 {
            let label = flow.flow_label & 0xf_ffff;
            let stored = match order {
                LabelOrder::Network => label.to_be_bytes(),
                LabelOrder::Host => label.to_le_bytes(),
            };
            bytes[offset::FLOW_LABEL..offset::FLOW_LABEL + 4].copy_from_slice(&stored);
        }
        // __flow_hash_consistentify: addresses by memcmp, then the ports on their own, both
        // compared as the little-endian CPU loads them.
        let mut src = if fields & field::SRC_IP != 0 {
            flow.src.octets()
        } else {
            [0; 16]
        };
        let mut dst = if fields & field::DST_IP != 0 {
            flow.dst.octets()
        } else {
            [0; 16]
        };
        if dst < src {
            std::mem::swap(&mut src, &mut dst);
        }
        bytes[offset::SRC..offset::SRC + 16].copy_from_slice(&src);
        bytes[offset::DST..offset::DST + 16].copy_from_slice(&dst);
        let mut sport = if fields & field::SRC_PORT != 0 {
            flow.sport.to_be_bytes()
        } else {
            [0; 2]
        };
        let mut dport = if fields & field::DST_PORT != 0 {
            flow.dport.to_be_bytes()
        } else {
            [0; 2]
        };
        if u16::from_le_bytes(dport) < u16::from_le_bytes(sport) {
            std::mem::swap(&mut sport, &mut dport);
        }
        bytes[offset::SPORT..offset::SPORT + 2].copy_from_slice(&sport);
        bytes[offset::DPORT..offset::DPORT + 2].copy_from_slice(&dport);
        match self.key.hash(&bytes) as u32 {
            0 => 1,
            h => h,
        }
    }
}

/// `n` distinct TCP flows to `dst:dport` from pseudo-random clients in `2001:db8:100::/48` with
/// random ephemeral source ports and flow labels, drawn from a SplitMix64 stream at `seed`
/// (the IPv6 counterpart of `whatif::random_flows`).
pub fn random_flows6(seed: u64, n: usize, dst: Ipv6Addr, dport: u16) -> Vec<FlowKey6> {
    let mut state = seed;
    let mut flows: Vec<FlowKey6> = Vec::with_capacity(n);
    let mut seen = std::collections::BTreeSet::new();
    while flows.len() < n {
        let a = splitmix64(&mut state);
        let b = splitmix64(&mut state);
        let mut octets = [
            0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        octets[6..14].copy_from_slice(&a.to_be_bytes());
        octets[14..16].copy_from_slice(&(b as u16).to_be_bytes());
        let sport = 32768 + ((b >> 16) % 28232) as u16;
        let flow = FlowKey6 {
            src: Ipv6Addr::from(octets),
            dst,
            flow_label: ((b >> 32) as u32) & 0xf_ffff,
            proto: 6,
            sport,
            dport,
        };
        if seen.insert((flow.src, flow.sport)) {
            flows.push(flow);
        }
    }
    flows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow() -> FlowKey6 {
        FlowKey6 {
            src: "2001:db8:10::1234".parse().unwrap(),
            dst: "2001:db8:ff::10".parse().unwrap(),
            flow_label: 0x12345,
            proto: 6,
            sport: 40000,
            dport: 80,
        }
    }

    #[test]
    fn the_two_paths_differ_only_where_the_kernel_does() {
        let f = flow();
        for policy in [Ipv6HashPolicy::L3, Ipv6HashPolicy::L4] {
            let fwd = Ipv6Hasher::new(policy, Ipv6HashPath::Forwarded, 9);
            let get = Ipv6Hasher::new(policy, Ipv6HashPath::RouteLookup, 9);
            assert_eq!(fwd.hash(&f), get.hash(&f), "{policy}");
        }
        let p2f = Ipv6Hasher::new(Ipv6HashPolicy::InnerL3, Ipv6HashPath::Forwarded, 9);
        let p2g = Ipv6Hasher::new(Ipv6HashPolicy::InnerL3, Ipv6HashPath::RouteLookup, 9);
        let p0 = Ipv6Hasher::new(Ipv6HashPolicy::L3, Ipv6HashPath::RouteLookup, 9);
        assert_eq!(p2g.hash(&f), p0.hash(&f), "policy 2 looks up like policy 0");
        assert_ne!(
            p2f.hash(&f),
            p2g.hash(&f),
            "host-order label when forwarding"
        );
        let custom = Ipv6HashPolicy::Custom(0x0f);
        let cf = Ipv6Hasher::new(custom, Ipv6HashPath::Forwarded, 9);
        let cg = Ipv6Hasher::new(custom, Ipv6HashPath::RouteLookup, 9);
        assert_ne!(cf.hash(&f), cg.hash(&f));
        let outer = cf.keys(&f, 0x0f, LabelOrder::Host);
        assert_eq!(cf.hash(&f), jhash_2words(outer, 0, 0) >> 1);
        assert_eq!(outer >> 1, p2f.hash(&f), "fields 0x0f are policy 2's");
    }

    #[test]
    fn symmetric_and_label_sensitive() {
        let f = flow();
        let back = FlowKey6 {
            src: f.dst,
            dst: f.src,
            sport: f.dport,
            dport: f.sport,
            ..f
        };
        let l4 = Ipv6Hasher::new(Ipv6HashPolicy::L4, Ipv6HashPath::Forwarded, 3);
        assert_eq!(l4.hash(&f), l4.hash(&back));
        let l3 = Ipv6Hasher::new(Ipv6HashPolicy::L3, Ipv6HashPath::Forwarded, 3);
        let relabelled = FlowKey6 {
            flow_label: 0x54321,
            ..f
        };
        assert_ne!(l3.hash(&f), l3.hash(&relabelled));
        assert_eq!(
            l4.hash(&f),
            l4.hash(&relabelled),
            "policy 1 ignores the label"
        );
        // No outer field: the lookup hashes to 0, forwarding to jhash(0, 0, 0) >> 1.
        let none = Ipv6Hasher::new(Ipv6HashPolicy::Custom(0), Ipv6HashPath::RouteLookup, 3);
        assert_eq!(none.hash(&f), 0);
        let none_f = Ipv6Hasher::new(Ipv6HashPolicy::Custom(0), Ipv6HashPath::Forwarded, 3);
        assert_eq!(none_f.hash(&f), jhash_2words(0, 0, 0) >> 1);
    }
}

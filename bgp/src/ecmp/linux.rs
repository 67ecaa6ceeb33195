//! The Linux kernel's IPv4 multipath hash, reproduced bit for bit for a forwarded packet
//! (Linux 6.18; the layout has been stable since `icmp` joined `struct flow_keys` in 5.x).
//!
//! What the kernel does for a packet it forwards (`ip_route_input_slow` ->
//! `ip_mkroute_input` -> `fib_multipath_hash(net, NULL, skb, flkeys)`, net/ipv4/route.c):
//!
//! 1. It zeroes a `struct flow_keys` and copies in only the fields the policy names
//!    (`fib_multipath_hash_policy` 0: addresses; 1: addresses, ports and protocol; 3: the
//!    fields of `fib_multipath_hash_fields`). `n_proto`, VLANs, key id and ICMP stay zero.
//! 2. `fib_multipath_hash_from_keys` (include/net/ip_fib.h) builds the SipHash key from the
//!    32-bit `mp_seed` (`fib_multipath_hash_construct_key`: both 64-bit key halves are
//!    `seed << 32 | seed`) and calls `flow_hash_from_keys_seed`.
//! 3. `__flow_hash_from_keys` (net/core/flow_dissector.c) first sorts the addresses and,
//!    separately, the ports (`__flow_hash_consistentify`: swap if dst < src, comparing the
//!    raw big-endian words as the little-endian host reads them), then hashes the bytes from
//!    `basic` to the end of the IPv4 addresses (`flow_keys_hash_start`,
//!    `flow_keys_hash_length`) with SipHash-2-4 (lib/siphash.c), keeps the low 32 bits and
//!    turns 0 into 1.
//! 4. Policy 3 on the forwarding path goes through `fib_multipath_custom_hash_skb`, which
//!    combines the outer hash with the inner one (0 here: no inner fields are selected) as
//!    `jhash_2words(outer, inner, 0)` (include/linux/jhash.h).
//! 5. `fib_multipath_hash` returns the result shifted right by one (a non-negative `int`).
//!
//! The seed: `net.ipv4.fib_multipath_hash_seed` (since Linux 6.11). Writing 0 makes the kernel
//! draw a random `mp_seed` that userspace cannot read, so seed 0 cannot be matched; this model
//! then uses the key built from `mp_seed = 0`, which stays deterministic.

use std::net::Ipv4Addr;

use siphasher::sip::SipHasher24;

use super::{FlowKey, HashFields};

/// Byte offsets inside the hashed part of `struct flow_keys` (include/net/flow_dissector.h),
/// counted from `basic`, which the kernel aligns to 8 bytes after the 8-byte `control`:
///
/// ```text
///  0 basic   { n_proto: u16, ip_proto: u8, padding: u8 }
///  4 tags    { flow_label: u32 }
///  8 vlan    { tci: u16, tpid: u16, eth_type: u16, padding: u16 }
/// 16 cvlan   (same)
/// 24 keyid   { keyid: u32 }
/// 28 ports   { src: be16, dst: be16 }
/// 32 icmp    { type: u8, code: u8, id: u16 }
/// 36 addrs   union { v4addrs { src: be32, dst: be32 }, v6addrs (32 bytes), .. }
/// ```
///
/// `sizeof(struct flow_keys)` is 80 (76 rounded up to the 8-byte alignment), and
/// `flow_keys_hash_length` for IPv4 is `80 - (8 + 32 - 8)` = 48 bytes: it takes the four
/// bytes of tail padding after the IPv4 addresses along, which are zero.
mod field {
    pub const IP_PROTO: usize = 2;
    pub const SPORT: usize = 28;
    pub const DPORT: usize = 30;
    pub const SRC: usize = 36;
    pub const DST: usize = 40;
    pub const HASH_LEN: usize = 48;
}

/// `JHASH_INITVAL` (include/linux/jhash.h).
const JHASH_INITVAL: u32 = 0xdead_beef;

/// `fib_multipath_hash_construct_key` (include/net/ip_fib.h): the 32-bit seed fills both
/// halves of both 64-bit SipHash key words.
pub(crate) fn siphash_key(seed: u32) -> (u64, u64) {
    let half = u64::from(seed);
    let k = (half << 32) | half;
    (k, k)
}

/// `fib_multipath_hash` for an IPv4 TCP/UDP packet being forwarded, policy chosen by
/// `fields` (see the module documentation). Returns the kernel's 31-bit value.
pub(crate) fn multipath_hash(key: &SipHasher24, fields: HashFields, flow: &FlowKey) -> u32 {
    let (proto, ports) = match fields {
        HashFields::L3 => (0, None),
        HashFields::ThreeTuple => (flow.proto, None),
        HashFields::FiveTuple => (flow.proto, Some((flow.sport, flow.dport))),
    };
    let outer = flow_hash(key, flow.src, flow.dst, proto, ports);
    let hash = match fields {
        // fib_multipath_custom_hash_skb: jhash_2words(outer, inner = 0, 0).
        HashFields::ThreeTuple => jhash_2words(outer, 0, 0),
        HashFields::L3 | HashFields::FiveTuple => outer,
    };
    hash >> 1
}

/// `__flow_hash_from_keys` over a zeroed `struct flow_keys` holding only the given fields.
fn flow_hash(
    key: &SipHasher24,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    ports: Option<(u16, u16)>,
) -> u32 {
    let mut bytes = [0u8; field::HASH_LEN];
    bytes[field::IP_PROTO] = proto;

    // __flow_hash_consistentify: addresses and ports are ordered independently, comparing
    // the network-order values as a little-endian CPU loads them (`(__force u32)`).
    let (mut a, mut b) = (src.octets(), dst.octets());
    if u32::from_le_bytes(b) < u32::from_le_bytes(a) {
        std::mem::swap(&mut a, &mut b);
    }
    bytes[field::SRC..field::SRC + 4].copy_from_slice(&a);
    bytes[field::DST..field::DST + 4].copy_from_slice(&b);

    if let Some((sport, dport)) = ports {
        let (mut s, mut d) = (sport.to_be_bytes(), dport.to_be_bytes());
        if u16::from_le_bytes(d) < u16::from_le_bytes(s) {
            std::mem::swap(&mut s, &mut d);
        }
        bytes[field::SPORT..field::SPORT + 2].copy_from_slice(&s);
        bytes[field::DPORT..field::DPORT + 2].copy_from_slice(&d);
    }

    // siphash() returns u64; the kernel keeps the low 32 bits, and 0 means "no hash".
    let hash = key.hash(&bytes) as u32;
    if hash == 0 {
        1
    } else {
        hash
    }
}

/// `jhash_2words(a, b, initval)` (include/linux/jhash.h): `__jhash_nwords(a, b, 0,
/// initval + JHASH_INITVAL + (2 << 2))`, i.e. add the init value to all three words and
/// run `__jhash_final`.
pub(crate) fn jhash_2words(a: u32, b: u32, initval: u32) -> u32 {
    let init = initval.wrapping_add(JHASH_INITVAL).wrapping_add(2 << 2);
    let (mut a, mut b, mut c) = (a.wrapping_add(init), b.wrapping_add(init), init);
    // __jhash_final: seven xor / subtract-rotate steps.
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(14));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(11));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(25));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(16));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(4));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(14));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(24));
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consistentify_makes_the_hash_symmetric() {
        let (k0, k1) = siphash_key(7);
        let key = SipHasher24::new_with_keys(k0, k1);
        let a = Ipv4Addr::new(10, 1, 2, 3);
        let b = Ipv4Addr::new(203, 0, 113, 10);
        assert_eq!(
            flow_hash(&key, a, b, 6, Some((40000, 80))),
            flow_hash(&key, b, a, 6, Some((80, 40000)))
        );
    }

    #[test]
    fn seed_fills_both_halves() {
        assert_eq!(
            siphash_key(0x1234_5678),
            (0x1234_5678_1234_5678, 0x1234_5678_1234_5678)
        );
    }
}

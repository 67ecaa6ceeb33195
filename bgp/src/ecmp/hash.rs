//! Flow hashing: which bytes of a flow are hashed, and the hash functions themselves.
//!
//! [`FlowHasher`] is the hot path (one call per new connection): everything that depends
//! only on (fields, function, seed) is prepared in [`FlowHasher::new`], and
//! [`FlowHasher::hash`] allocates nothing.
//!
//! The primitives are public so that tests can check them against published check values.

use std::fmt;

use crc::{Crc, CRC_16_IBM_3740, CRC_32_ISO_HDLC};
use siphasher::sip::SipHasher24;

use super::{linux, FlowKey, HashFields, HashFunction, HashSource, RssKey};

/// CRC-16/IBM-3740 (a.k.a. CRC-16/CCITT-FALSE: poly 0x1021, no reflection, no final xor),
/// the CCITT polynomial offered by switch ASICs for ECMP/LAG hashing.
static CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_IBM_3740);
/// CRC-32/ISO-HDLC (the Ethernet / zlib CRC: poly 0x04C11DB7 reflected, final xor).
static CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// CRC-16/IBM-3740 of `data` with the register starting at `init` (the catalogue algorithm
/// starts at 0xFFFF; check value of `"123456789"` = 0x29B1).
pub fn crc16(init: u16, data: &[u8]) -> u16 {
    let mut digest = CRC16.digest_with_initial(init);
    digest.update(data);
    digest.finalize()
}

/// CRC-32/ISO-HDLC of `data`, continuing from a previous CRC value `prev` exactly as zlib's
/// `crc32(prev, data)` does (the register starts at `!prev`). `prev = 0` is the plain CRC-32
/// (check value of `"123456789"` = 0xCBF43926).
///
/// Table-driven, eight bytes per step ("slicing-by-8", Kounavis and Berry, Intel 2005; zlib's
/// crc32.c braids the same way): the same function as the catalogue's byte-at-a-time CRC
/// ([`crc32_bytewise`], the `crc` crate), in about a third of the time on a 13-byte 5-tuple.
#[inline]
pub fn crc32(prev: u32, data: &[u8]) -> u32 {
    let t = &CRC32_SLICES;
    let mut c = !prev;
    let mut chunks = data.chunks_exact(8);
    for b in &mut chunks {
        let lo = c ^ u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        c = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][usize::from(b[4])]
            ^ t[2][usize::from(b[5])]
            ^ t[1][usize::from(b[6])]
            ^ t[0][usize::from(b[7])];
    }
    for &b in chunks.remainder() {
        c = t[0][((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// [`crc32`] one byte at a time through the `crc` crate's catalogue CRC-32/ISO-HDLC: the
/// reference the table-driven one is tested against.
pub fn crc32_bytewise(prev: u32, data: &[u8]) -> u32 {
    // The crc crate reflects a custom initial value for reflected algorithms; hand it the
    // bit-reversed register so that the register really starts at !prev.
    let mut digest = CRC32.digest_with_initial((!prev).reverse_bits());
    digest.update(data);
    digest.finalize()
}

/// `CRC32_SLICES[0]` is the reflected CRC-32 table (poly 0xEDB88320) of one byte; `[k][i]` is
/// byte `i` followed by `k` zero bytes.
static CRC32_SLICES: [[u32; 256]; 8] = crc32_slices();

const fn crc32_slices() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut k = 1;
        while k < 8 {
            let prev = t[k - 1][i];
            t[k][i] = t[0][(prev & 0xff) as usize] ^ (prev >> 8);
            k += 1;
        }
        i += 1;
    }
    t
}

/// The Microsoft RSS default Toeplitz key ("Verifying the RSS Hash Calculation", Windows
/// driver documentation), used by most NIC drivers as their default.
pub const MICROSOFT_RSS_KEY: [u8; 40] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// The Toeplitz key for a seed: the Microsoft default key for seed 0, otherwise 40 bytes
/// drawn from a SplitMix64 stream started at the seed.
pub fn toeplitz_key(seed: u32) -> [u8; 40] {
    if seed == 0 {
        return MICROSOFT_RSS_KEY;
    }
    let mut key = [0u8; 40];
    let mut state = u64::from(seed);
    for chunk in key.chunks_mut(8) {
        chunk.copy_from_slice(&splitmix64(&mut state).to_be_bytes());
    }
    key
}

/// The RSS Toeplitz hash of `data` under `key`: for every set bit of the input (most
/// significant bit of the first byte first), XOR in the 32-bit window of the key that starts
/// at that bit position. `data` longer than `key.len() - 4` bytes is cut there.
pub fn toeplitz(key: &[u8; 40], data: &[u8]) -> u32 {
    let mut result = 0u32;
    for (i, &byte) in data.iter().enumerate().take(key.len() - 4) {
        // The key bits from position 8*i on: 40 bits cover the windows of all 8 input bits.
        let window = u64::from_be_bytes([
            0,
            0,
            0,
            key[i],
            key[i + 1],
            key[i + 2],
            key[i + 3],
            key.get(i + 4).copied().unwrap_or(0),
        ]);
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                result ^= (window >> (8 - bit)) as u32;
            }
        }
    }
    result
}

/// The L4 hash a NIC's RSS stores for a received TCP packet: the Toeplitz hash of the
/// "TCP/IPv4" input (source address, destination address, source port, destination port;
/// Microsoft's RSS specification) under `key`. Other protocols get `None`: an ICMP packet
/// has only an L3 RSS type (no `l4_hash`), and UDP's 4-tuple hashing is off by default on
/// most NICs (`ethtool -N <if> rx-flow-hash udp4`).
pub fn rss_l4_hash(key: &RssKey, flow: &FlowKey) -> Option<u32> {
    if flow.proto != 6 {
        return None;
    }
    let (buf, n) = rss_bytes(HashFields::L3, flow);
    let mut input = [0u8; 12];
    input[..n].copy_from_slice(&buf[..n]);
    input[8..10].copy_from_slice(&flow.sport.to_be_bytes());
    input[10..12].copy_from_slice(&flow.dport.to_be_bytes());
    Some(toeplitz(&key.0, &input))
}

/// A socket's random `sk_txhash` from 64 random bits: `net_tx_rndhash()` (include/net/sock.h)
/// takes a random u32 and turns 0 into 1.
pub fn txhash_from(bits: u64) -> u32 {
    match bits as u32 {
        0 => 1,
        h => h,
    }
}

/// XOR-fold: XOR the 32-bit words of the selected fields together, XOR in the seed, and mix
/// with the MurmurHash3 32-bit finaliser (`fmix32`) so that every input bit reaches every
/// output bit. Like cheap switch hashing, the fold is symmetric: swapping source and
/// destination (and ports) gives the same value.
pub fn xor_fold(words: &[u32], seed: u32) -> u32 {
    let folded = words.iter().fold(0u32, |acc, w| acc ^ w);
    fmix32(folded ^ seed)
}

/// MurmurHash3's 32-bit finaliser (Austin Appleby, public domain).
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// SplitMix64 (Steele, Lea, Flood 2014): one step of the generator.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The header bytes a switch would feed its CRC, in packet order: IP protocol (3- and
/// 5-tuple), source and destination address, then source and destination port (5-tuple),
/// all in network byte order. Returns the buffer and its used length.
pub fn header_bytes(fields: HashFields, flow: &FlowKey) -> ([u8; 13], usize) {
    let mut buf = [0u8; 13];
    let mut n = 0;
    if fields.uses_proto() {
        buf[0] = flow.proto;
        n = 1;
    }
    buf[n..n + 4].copy_from_slice(&flow.src.octets());
    buf[n + 4..n + 8].copy_from_slice(&flow.dst.octets());
    n += 8;
    if fields.uses_ports() {
        buf[n..n + 2].copy_from_slice(&flow.sport.to_be_bytes());
        buf[n + 2..n + 4].copy_from_slice(&flow.dport.to_be_bytes());
        n += 4;
    }
    (buf, n)
}

/// The Toeplitz input in RSS order (source address, destination address, source port,
/// destination port, as Microsoft's RSS specification lays it out), followed by the
/// protocol byte for 3- and 5-tuple (RSS itself does not hash the protocol; it picks a hash
/// type per protocol). For `l3` and `5-tuple` of a TCP flow the first 8 / 12 bytes are exactly
/// the RSS "IPv4" / "TCP/IPv4" input.
pub fn rss_bytes(fields: HashFields, flow: &FlowKey) -> ([u8; 13], usize) {
    let mut buf = [0u8; 13];
    buf[0..4].copy_from_slice(&flow.src.octets());
    buf[4..8].copy_from_slice(&flow.dst.octets());
    let mut n = 8;
    if fields.uses_ports() {
        buf[8..10].copy_from_slice(&flow.sport.to_be_bytes());
        buf[10..12].copy_from_slice(&flow.dport.to_be_bytes());
        n = 12;
    }
    if fields.uses_proto() {
        buf[n] = flow.proto;
        n += 1;
    }
    (buf, n)
}

/// The 32-bit words XOR-fold combines: source, destination, protocol (3- and 5-tuple) and
/// `sport << 16 | dport` (5-tuple); absent fields are zero, which XOR ignores.
pub fn fold_words(fields: HashFields, flow: &FlowKey) -> [u32; 4] {
    [
        u32::from(flow.src),
        u32::from(flow.dst),
        if fields.uses_proto() {
            u32::from(flow.proto)
        } else {
            0
        },
        if fields.uses_ports() {
            (u32::from(flow.sport) << 16) | u32::from(flow.dport)
        } else {
            0
        },
    ]
}

/// A 16-bit hash as a 31-bit value: the hash itself in the top 16 bits, so that threshold
/// selection compares it exactly as a switch comparing 16-bit values would, and `fmix32` of
/// it in the low 15 bits, so that selections using low bits or a remainder (modulo, resilient
/// buckets, Maglev's prime table) see a well-spread function of it. (Repeating the hash's own
/// bits there instead collapses `% 65537` = 2^16 + 1 onto two values.) Still only 65,536
/// distinct results: a 16-bit hash collides as much as it does in silicon.
pub fn spread16(c: u16) -> u32 {
    let c = u32::from(c);
    (c << 15) | (fmix32(c) & 0x7fff)
}

/// Per-function state prepared once.
#[derive(Clone)]
enum Prepared {
    /// CRC-16 register start value.
    Crc16(u16),
    /// zlib-style previous CRC value.
    Crc32(u32),
    XorFold(u32),
    Toeplitz(Box<[u8; 40]>),
    Linux(SipHasher24),
}

/// A seeded flow hash: (fields, function, seed), prepared once and applied per flow.
///
/// The functions, and what the seed means to each:
///
/// | function   | input                                  | seed                                   |
/// |------------|----------------------------------------|----------------------------------------|
/// | `crc16`    | [`header_bytes`]                       | register starts at `!(lo16 ^ hi16)`: seed 0 is plain CRC-16/IBM-3740 |
/// | `crc32`    | [`header_bytes`]                       | zlib `crc32(seed, bytes)`: seed 0 is plain CRC-32 |
/// | `xor-fold` | [`fold_words`]                         | XORed in before the final mix          |
/// | `toeplitz` | [`rss_bytes`]                          | key = [`toeplitz_key`]: seed 0 is the Microsoft default key |
/// | `linux`    | the kernel's `struct flow_keys`        | `net.ipv4.fib_multipath_hash_seed`; 0 (kernel: random, unknowable) is modelled as key 0 |
///
/// Every result is a 31-bit value, as Linux's `fib_multipath_hash` returns: 32-bit results
/// are shifted right by one; the 16-bit CRC goes through [`spread16`].
#[derive(Clone)]
pub struct FlowHasher {
    fields: HashFields,
    function: HashFunction,
    seed: u32,
    prepared: Prepared,
}

impl fmt::Debug for FlowHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowHasher")
            .field("fields", &self.fields)
            .field("function", &self.function)
            .field("seed", &self.seed)
            .finish()
    }
}

impl FlowHasher {
    /// Prepares the hash of `fields` with `function` and `seed`.
    pub fn new(fields: HashFields, function: HashFunction, seed: u32) -> Self {
        let prepared = match function {
            HashFunction::Crc16 => Prepared::Crc16(!((seed as u16) ^ ((seed >> 16) as u16))),
            HashFunction::Crc32 => Prepared::Crc32(seed),
            HashFunction::XorFold => Prepared::XorFold(seed),
            HashFunction::Toeplitz => Prepared::Toeplitz(Box::new(toeplitz_key(seed))),
            HashFunction::Linux => {
                let (k0, k1) = linux::siphash_key(seed);
                Prepared::Linux(SipHasher24::new_with_keys(k0, k1))
            }
        };
        FlowHasher {
            fields,
            function,
            seed,
            prepared,
        }
    }

    /// The hashed fields.
    pub fn fields(&self) -> HashFields {
        self.fields
    }

    /// The hash function.
    pub fn function(&self) -> HashFunction {
        self.function
    }

    /// The seed.
    pub fn seed(&self) -> u32 {
        self.seed
    }

    /// A 31-bit value (0..2^31) as Linux's fib_multipath_hash returns; 32-bit functions are
    /// shifted right by one.
    #[inline]
    pub fn hash(&self, flow: &FlowKey) -> u32 {
        match &self.prepared {
            Prepared::Crc16(init) => {
                let (buf, n) = header_bytes(self.fields, flow);
                spread16(crc16(*init, &buf[..n]))
            }
            Prepared::Crc32(prev) => {
                let (buf, n) = header_bytes(self.fields, flow);
                crc32(*prev, &buf[..n]) >> 1
            }
            Prepared::XorFold(seed) => xor_fold(&fold_words(self.fields, flow), *seed) >> 1,
            Prepared::Toeplitz(key) => {
                let (buf, n) = rss_bytes(self.fields, flow);
                toeplitz(key, &buf[..n]) >> 1
            }
            Prepared::Linux(key) => linux::multipath_hash(key, self.fields, flow),
        }
    }

    /// What a forwarding Linux router hashes for a packet of `flow` arriving from `source`:
    /// `fib_multipath_hash()` (net/ipv4/route.c) with policy 1 returns the packet's L4 hash
    /// shifted right by one when it has one (`skb_get_hash_raw(skb) >> 1`), and dissects the
    /// flow keys otherwise. `txhash` is the sending socket's `sk_txhash`, for
    /// [`HashSource::SocketTxhash`] (`None`: a socket without one, such as ping's).
    #[inline]
    pub fn forwarded(&self, source: &HashSource, flow: &FlowKey, txhash: Option<u32>) -> u32 {
        let l4 = if HashSource::applies_to(self.fields, self.function) {
            match source {
                HashSource::FlowKeys => None,
                HashSource::NicRss { key } => rss_l4_hash(key, flow),
                HashSource::SocketTxhash { .. } => txhash.filter(|_| flow.proto == 6),
            }
        } else {
            None
        };
        match l4 {
            Some(h) => h >> 1,
            None => self.hash(flow),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// Microsoft's "Verifying the RSS Hash Calculation" table, IPv4 with TCP ports: source
    /// 66.9.149.187:2794 to 161.142.100.80:1766 hashes to 0x51ccc178 under the default key.
    #[test]
    fn rss_matches_microsofts_verification_suite() {
        let flow = FlowKey {
            src: Ipv4Addr::new(66, 9, 149, 187),
            dst: Ipv4Addr::new(161, 142, 100, 80),
            proto: 6,
            sport: 2794,
            dport: 1766,
        };
        assert_eq!(rss_l4_hash(&RssKey::default(), &flow), Some(0x51cc_c178));
        let icmp = FlowKey { proto: 1, ..flow };
        assert_eq!(rss_l4_hash(&RssKey::default(), &icmp), None);
    }

    #[test]
    fn the_short_cut_is_policy_one_only() {
        let flow = FlowKey {
            src: Ipv4Addr::new(198, 18, 0, 2),
            dst: Ipv4Addr::new(198, 18, 1, 250),
            proto: 6,
            sport: 40000,
            dport: 80,
        };
        let tx = HashSource::SocketTxhash { txrehash: true };
        let p1 = FlowHasher::new(HashFields::FiveTuple, HashFunction::Linux, 1);
        assert_eq!(p1.forwarded(&tx, &flow, Some(0x8000_0002)), 0x4000_0001);
        assert_eq!(
            p1.forwarded(&HashSource::FlowKeys, &flow, None),
            p1.hash(&flow)
        );
        let p0 = FlowHasher::new(HashFields::L3, HashFunction::Linux, 1);
        assert_eq!(p0.forwarded(&tx, &flow, Some(0x8000_0002)), p0.hash(&flow));
        assert_eq!(txhash_from(1 << 32), 1);
    }
}

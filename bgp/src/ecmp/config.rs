//! The three choices a scenario makes about ECMP: which header fields are hashed, with which
//! function, and how the hash picks a next hop.
//!
//! Scenario files (RON) name them by their Rust variant names (`FiveTuple`, `Crc32`,
//! `HashThreshold`, `Resilient(buckets: 64, idle_timer: "0s")`); the command line uses the
//! short names of [`fmt::Display`] / [`FromStr`] (`5-tuple`, `crc32`, `hash-threshold`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use sim_core::SimDuration;

use super::{EcmpError, MAX_MAGLEV_TABLE_SIZE};

/// A name on the command line that matches no variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {name:?}; valid names: {valid}")]
pub struct ParseNameError {
    /// What was being parsed (`hash fields`, `hash function`, `selection`).
    pub kind: &'static str,
    /// The text as given.
    pub name: String,
    /// The accepted names, comma separated.
    pub valid: String,
}

/// Display names and FromStr for an enum whose every variant has one CLI name.
macro_rules! cli_names {
    ($ty:ident, $kind:literal, [$($variant:ident => $name:literal),+ $(,)?]) => {
        impl $ty {
            /// The command-line name of this value.
            pub fn cli_name(&self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.cli_name())
            }
        }

        impl FromStr for $ty {
            type Err = ParseNameError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let wanted = s.trim().to_ascii_lowercase();
                $(if wanted == $name {
                    return Ok($ty::$variant);
                })+
                Err(ParseNameError {
                    kind: $kind,
                    name: s.to_string(),
                    valid: [$($name),+].join(", "),
                })
            }
        }
    };
}

/// Which header fields feed the hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HashFields {
    /// Source and destination address (`l3`; Linux `fib_multipath_hash_policy = 0`).
    L3,
    /// Protocol, source and destination address (`3-tuple`; Linux policy 3 with
    /// `fib_multipath_hash_fields = 0x7`).
    ThreeTuple,
    /// Protocol, addresses and ports (`5-tuple`; Linux policy 1).
    FiveTuple,
}

impl HashFields {
    /// Every value, in a stable order (for sweeps and tests).
    pub const ALL: &'static [Self] = &[Self::L3, Self::ThreeTuple, Self::FiveTuple];

    /// Whether the transport ports are hashed.
    pub fn uses_ports(self) -> bool {
        self == Self::FiveTuple
    }

    /// Whether the IP protocol number is hashed.
    pub fn uses_proto(self) -> bool {
        self != Self::L3
    }
}

cli_names!(HashFields, "hash fields", [
    L3 => "l3",
    ThreeTuple => "3-tuple",
    FiveTuple => "5-tuple",
]);

/// The hash function applied to the selected fields. Every function is seeded and is a pure
/// function of (fields, seed, flow); see [`crate::ecmp::FlowHasher`] for each one's definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HashFunction {
    /// CRC-16 (switch silicon style) over the header bytes.
    Crc16,
    /// CRC-32 (switch silicon style) over the header bytes.
    Crc32,
    /// XOR of the field words, then a seeded mix.
    XorFold,
    /// The RSS Toeplitz hash.
    Toeplitz,
    /// The Linux kernel's own IPv4 multipath hash (SipHash over `struct flow_keys`).
    Linux,
}

impl HashFunction {
    /// Every value, in a stable order.
    pub const ALL: &'static [Self] = &[
        Self::Crc16,
        Self::Crc32,
        Self::XorFold,
        Self::Toeplitz,
        Self::Linux,
    ];
}

cli_names!(HashFunction, "hash function", [
    Crc16 => "crc16",
    Crc32 => "crc32",
    XorFold => "xor-fold",
    Toeplitz => "toeplitz",
    Linux => "linux",
]);

/// The Linux default bucket count of a resilient group (`ip nexthop ... buckets`).
pub const DEFAULT_RESILIENT_BUCKETS: u16 = 128;
/// The Linux default idle timer of a resilient group: 120 s
/// (`NH_RES_DEFAULT_IDLE_TIMER` in include/net/nexthop.h).
pub const DEFAULT_IDLE_TIMER: SimDuration = SimDuration::from_secs(120);
/// The Linux default unbalanced timer: 0, meaning "never force a busy bucket to move"
/// (`NH_RES_DEFAULT_UNBALANCED_TIMER`).
pub const DEFAULT_UNBALANCED_TIMER: SimDuration = SimDuration::ZERO;
/// The Maglev paper's example table size, a prime.
pub const DEFAULT_MAGLEV_TABLE_SIZE: u32 = 65_537;

fn default_buckets() -> u16 {
    DEFAULT_RESILIENT_BUCKETS
}
fn default_idle_timer() -> SimDuration {
    DEFAULT_IDLE_TIMER
}
fn default_unbalanced_timer() -> SimDuration {
    DEFAULT_UNBALANCED_TIMER
}
fn default_table_size() -> u32 {
    DEFAULT_MAGLEV_TABLE_SIZE
}

/// Linux takes the bucket count as a u16 and refuses 0 (`NHA_RES_GROUP_BUCKETS`;
/// net/ipv4/nexthop.c `rtm_to_nh_config_grp_res`: "Number of buckets needs to be non-0").
fn bucket_count<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    sim_core::setting::integer(d, 1, 65_535, "Linux: a u16, not 0")
}

/// A Maglev table needs a prime size (checked by [`Selection::check`]) of at most
/// [`MAX_MAGLEV_TABLE_SIZE`].
fn table_size<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    sim_core::setting::integer(
        d,
        2,
        i128::from(MAX_MAGLEV_TABLE_SIZE),
        "a prime such as 251, 4099 or 65537",
    )
}

/// The largest resilient timer Linux takes: `NHA_RES_GROUP_IDLE_TIMER` and
/// `NHA_RES_GROUP_UNBALANCED_TIMER` are u32 counts of clock_t (1/100 s).
pub const MAX_RESILIENT_TIMER: SimDuration = SimDuration::from_millis(u32::MAX as u64 * 10);

/// How a group turns a flow hash into a next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Selection {
    /// `hash % N` over the member list.
    Modulo,
    /// RFC 2992 hash-threshold, computed as Linux does (`fib_select_multipath`).
    HashThreshold,
    /// A Linux resilient nexthop group (net/ipv4/nexthop.c): a bucket table in which only
    /// the buckets that must move, move.
    Resilient {
        /// Number of buckets (Linux default 128).
        #[serde(default = "default_buckets", deserialize_with = "bucket_count")]
        buckets: u16,
        /// A bucket unused for this long may move to an underweight next hop (default 120 s).
        #[serde(default = "default_idle_timer")]
        idle_timer: SimDuration,
        /// After the group has been unbalanced this long, busy buckets move too; 0 = never.
        #[serde(default = "default_unbalanced_timer")]
        unbalanced_timer: SimDuration,
    },
    /// Google Maglev consistent hashing (NSDI 2016, section 3.4).
    Maglev {
        /// Lookup table size; must be prime (default 65537).
        #[serde(default = "default_table_size", deserialize_with = "table_size")]
        table_size: u32,
    },
    /// Highest random weight (rendezvous) hashing over (flow hash, next hop id).
    Rendezvous,
}

impl Selection {
    /// Resilient hashing with the Linux defaults.
    pub const RESILIENT_DEFAULT: Self = Self::Resilient {
        buckets: DEFAULT_RESILIENT_BUCKETS,
        idle_timer: DEFAULT_IDLE_TIMER,
        unbalanced_timer: DEFAULT_UNBALANCED_TIMER,
    };
    /// Maglev with the default table size.
    pub const MAGLEV_DEFAULT: Self = Self::Maglev {
        table_size: DEFAULT_MAGLEV_TABLE_SIZE,
    };

    /// Every algorithm once, with default parameters.
    pub const ALL: &'static [Self] = &[
        Self::Modulo,
        Self::HashThreshold,
        Self::RESILIENT_DEFAULT,
        Self::MAGLEV_DEFAULT,
        Self::Rendezvous,
    ];

    /// Whether the parameters are usable at all: a resilient group has at least one bucket and
    /// timers Linux can hold; a Maglev table size is prime and at most
    /// [`MAX_MAGLEV_TABLE_SIZE`].
    ///
    /// # Errors
    /// The first parameter that is not.
    pub fn check(&self) -> Result<(), EcmpError> {
        match *self {
            Self::Resilient {
                buckets,
                idle_timer,
                unbalanced_timer,
            } => {
                if buckets == 0 {
                    return Err(EcmpError::ZeroBuckets);
                }
                for (name, t) in [
                    ("idle_timer", idle_timer),
                    ("unbalanced_timer", unbalanced_timer),
                ] {
                    if t > MAX_RESILIENT_TIMER {
                        return Err(EcmpError::TimerTooLarge { name, timer: t });
                    }
                }
                Ok(())
            }
            Self::Maglev { table_size } => {
                if table_size > MAX_MAGLEV_TABLE_SIZE {
                    return Err(EcmpError::TableTooLarge {
                        size: table_size,
                        max: MAX_MAGLEV_TABLE_SIZE,
                    });
                }
                if !is_prime(table_size) {
                    return Err(EcmpError::TableSizeNotPrime(table_size));
                }
                Ok(())
            }
            Self::Modulo | Self::HashThreshold | Self::Rendezvous => Ok(()),
        }
    }

    /// [`Selection::check`], and that a group of up to `next_hops` members gives every member a
    /// share: a resilient group with fewer buckets than members, or a Maglev table with fewer
    /// slots, leaves some members without any and so without traffic.
    ///
    /// # Errors
    /// The first parameter that does not fit.
    pub fn check_for(&self, next_hops: usize) -> Result<(), EcmpError> {
        self.check()?;
        match *self {
            Self::Resilient { buckets, .. } if usize::from(buckets) < next_hops => {
                Err(EcmpError::TooFewBuckets { buckets, next_hops })
            }
            Self::Maglev { table_size } if (table_size as usize) < next_hops => {
                Err(EcmpError::TableSmallerThanGroup {
                    size: table_size,
                    next_hops,
                })
            }
            _ => Ok(()),
        }
    }

    /// The command-line name of the algorithm (parameters are not shown).
    pub fn cli_name(&self) -> &'static str {
        match self {
            Self::Modulo => "modulo",
            Self::HashThreshold => "hash-threshold",
            Self::Resilient { .. } => "resilient",
            Self::Maglev { .. } => "maglev",
            Self::Rendezvous => "rendezvous",
        }
    }
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.cli_name())
    }
}

impl FromStr for Selection {
    type Err = ParseNameError;

    /// Parses a CLI name; `resilient` and `maglev` get their default parameters.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Self::ALL
            .iter()
            .copied()
            .find(|sel| sel.cli_name() == wanted)
            .ok_or_else(|| ParseNameError {
                kind: "selection",
                name: s.to_string(),
                valid: Self::ALL
                    .iter()
                    .map(Self::cli_name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl Default for Selection {
    /// Hash-threshold: what Linux does for a plain multipath route.
    fn default() -> Self {
        Self::HashThreshold
    }
}

/// Trial division; table sizes are at most 2^24, so at most 2^12 divisions.
pub(crate) fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    let n = u64::from(n);
    let mut d = 2u64;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes() {
        let primes: Vec<u32> = (0..30).filter(|&n| is_prime(n)).collect();
        assert_eq!(primes, vec![2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
        assert!(is_prime(65_537));
        assert!(!is_prime(65_536));
    }

    #[test]
    fn a_group_smaller_than_its_table_is_refused_with_the_valid_range() {
        let res = |buckets| Selection::Resilient {
            buckets,
            idle_timer: DEFAULT_IDLE_TIMER,
            unbalanced_timer: DEFAULT_UNBALANCED_TIMER,
        };
        assert_eq!(res(0).check(), Err(EcmpError::ZeroBuckets));
        let e = res(3).check_for(6).unwrap_err();
        assert_eq!(
            e,
            EcmpError::TooFewBuckets {
                buckets: 3,
                next_hops: 6
            }
        );
        assert!(e.to_string().contains("at least 6 buckets"), "{e}");
        assert_eq!(res(6).check_for(6), Ok(()));
        let maglev = |table_size| Selection::Maglev { table_size };
        assert_eq!(maglev(4).check(), Err(EcmpError::TableSizeNotPrime(4)));
        assert!(matches!(
            maglev(5).check_for(6),
            Err(EcmpError::TableSmallerThanGroup { size: 5, .. })
        ));
        assert_eq!(maglev(7).check_for(6), Ok(()));
    }

    #[test]
    fn resilient_timers_are_bounded_by_what_linux_holds() {
        let sel = Selection::Resilient {
            buckets: 128,
            idle_timer: MAX_RESILIENT_TIMER + SimDuration::from_millis(10),
            unbalanced_timer: SimDuration::ZERO,
        };
        assert!(matches!(
            sel.check(),
            Err(EcmpError::TimerTooLarge {
                name: "idle_timer",
                ..
            })
        ));
    }
}

/// A NIC's 40-byte RSS (Toeplitz) key, written as `ethtool -x <if>` prints it: 40 hex bytes
/// separated by colons (`6d:5a:56:da:...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RssKey(pub [u8; 40]);

impl Default for RssKey {
    /// The Microsoft default key ([`crate::ecmp::hash::MICROSOFT_RSS_KEY`]), which many drivers
    /// ship; Linux drivers that call `netdev_rss_key_fill()` use a random key per boot instead.
    fn default() -> Self {
        RssKey(super::hash::MICROSOFT_RSS_KEY)
    }
}

impl FromStr for RssKey {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bytes: Vec<&str> = s.trim().split(':').collect();
        let parsed: Result<Vec<u8>, _> = bytes
            .iter()
            .map(|b| {
                if b.len() == 2 {
                    u8::from_str_radix(b, 16).map_err(|_| ())
                } else {
                    Err(())
                }
            })
            .collect();
        match parsed {
            Ok(v) if v.len() == 40 => {
                let mut key = [0u8; 40];
                key.copy_from_slice(&v);
                Ok(RssKey(key))
            }
            Ok(v) => Err(format!(
                "an RSS key has 40 bytes (ethtool -x prints them as 6d:5a:...), not {}",
                v.len()
            )),
            Err(()) => Err(format!(
                "invalid RSS key {s:?}: write 40 two-digit hex bytes separated by colons, as `ethtool -x <if>` prints them (e.g. 6d:5a:56:da:...)"
            )),
        }
    }
}

impl fmt::Display for RssKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl Serialize for RssKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RssKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn yes() -> bool {
    true
}

/// Where a forwarding Linux router's multipath hash of a packet comes from.
///
/// `fib_multipath_hash()` (net/ipv4/route.c), policy 1, forwarding: "short-circuit if we
/// already have L4 hash present": `if (skb->l4_hash) return skb_get_hash_raw(skb) >> 1;`;
/// only a packet without one is dissected into flow keys, which is also all `ip route get`
/// ever hashes. Policies 0 and 3 always hash the flow keys. Which packets carry an L4 hash
/// depends on how they reached the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum HashSource {
    /// No L4 hash on arrival: the kernel hashes the flow keys (what `ip route get` computes;
    /// a NIC without RSS, or policy 0).
    #[default]
    FlowKeys,
    /// The receiving NIC's RSS: a Toeplitz hash of the TCP 4-tuple under the NIC's key, which
    /// the driver stores as an L4 hash (`skb_set_hash(skb, hash, PKT_HASH_TYPE_L4)`,
    /// include/linux/skbuff.h). Per flow, but not the kernel's flow-key hash; packets without
    /// an L4 RSS type (ICMP; UDP on NICs that hash it by addresses only) fall back to the
    /// flow keys.
    NicRss {
        /// The NIC's key (`ethtool -x`); the Microsoft default when not given.
        #[serde(default)]
        key: RssKey,
    },
    /// The sending socket's random `sk_txhash`, carried as the packet's L4 hash
    /// (`skb_set_hash_from_sk`, include/net/sock.h) when nothing re-hashes it on the way, as
    /// across a veth: random per TCP connection (`net_tx_rndhash()`), redrawn by
    /// `sk_rethink_txhash()` on every retransmission timeout (net/ipv4/tcp_timer.c
    /// `tcp_write_timeout`) when the client's `net.core.txrehash` is 1. Not a function of the
    /// 5-tuple at all.
    SocketTxhash {
        /// The client's `net.core.txrehash` (Linux default 1).
        #[serde(default = "yes")]
        txrehash: bool,
    },
}

impl HashSource {
    /// The command-line name.
    pub fn cli_name(&self) -> &'static str {
        match self {
            HashSource::FlowKeys => "flow-keys",
            HashSource::NicRss { .. } => "nic-rss",
            HashSource::SocketTxhash { .. } => "socket-txhash",
        }
    }

    /// Whether the router would take this short cut: only `fib_multipath_hash_policy` 1
    /// (five-tuple fields with the kernel's own hash) looks at `skb->l4_hash`.
    pub fn applies_to(fields: HashFields, function: HashFunction) -> bool {
        fields == HashFields::FiveTuple && function == HashFunction::Linux
    }
}

impl FromStr for HashSource {
    type Err = ParseNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "flow-keys" => Ok(HashSource::FlowKeys),
            "nic-rss" => Ok(HashSource::NicRss {
                key: RssKey::default(),
            }),
            "socket-txhash" => Ok(HashSource::SocketTxhash { txrehash: true }),
            _ => Err(ParseNameError {
                kind: "hash source",
                name: s.to_string(),
                valid: "flow-keys, nic-rss, socket-txhash".into(),
            }),
        }
    }
}

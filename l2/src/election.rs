//! MetalLB's Layer 2 leader choice: which node answers ARP for a service IP.
//!
//! Stateless and the same on every speaker: sort the candidate nodes by
//! `sha256(node_name + "#" + ip)` compared as raw bytes, ascending; the first announces
//! (metallb `speaker/layer2_controller.go`, `ShouldAnnounce` and `sortL2Candidates`). `ip` is
//! the service's first ingress IP in Go's `net.IP.String()` form ([`go_ip_string`]): for IPv4
//! the dotted quad that `Ipv4Addr`'s `Display` writes too; for IPv6 RFC 5952's form, which
//! `Ipv6Addr`'s `Display` writes too, except for IPv4-mapped addresses (`::ffff:a.b.c.d`),
//! which Go writes as the bare dotted quad. A dual-stack service is elected on its first IP
//! only (`toAnnounce[0].String()`), so both of its addresses get the same leader.
//!
//! Who the candidates are (live memberlist members, minus excluded or NetworkUnavailable
//! nodes, and under `externalTrafficPolicy: Local` only nodes with a ready endpoint) is the
//! caller's business.
//!
//! Two things in upstream's current source that DESIGN.md does not mention:
//! - `L2Advertisement` preferred-node selectors (metallb commit 2cb4221, "support
//!   PreferredNodeSelectors in L2 election"): the highest summed preference weight wins and the
//!   hash only breaks ties. Without preferences (the default) the order is the pure hash order.
//!   [`election_order_preferred`] models it.
//! - An optional Kubernetes Lease mode (metallb commit 08a7143, "Add optional Kubernetes Lease
//!   coordination for L2") replaces the hash election when enabled; it is not modelled.

use std::collections::BTreeMap;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

/// `ip` as Go's `net.IP.String()` writes it (go/src/net/ip.go: an address whose `To4()` is
/// non-nil, i.e. IPv4 or IPv4-mapped IPv6, in dotted notation; any other IPv6 address through
/// `netip.Addr.String`: lowercase hex, the first longest run of two or more zero groups
/// compressed to `::`, RFC 5952 §4). Rust's `Ipv6Addr` display follows the same RFC 5952
/// rules (first longest run on ties, a lone zero group not compressed); it differs only on
/// IPv4-mapped addresses, handled here.
pub fn go_ip_string(ip: impl Into<IpAddr>) -> String {
    match ip.into() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6.to_string(),
        },
    }
}

/// The hash a node is ranked by for `ip`: `sha256(node + "#" + ip)`, `ip` in Go's form.
pub fn election_key(node: &str, ip: impl Into<IpAddr>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(node.as_bytes());
    hasher.update(b"#");
    hasher.update(go_ip_string(ip).as_bytes());
    hasher.finalize().into()
}

/// All candidates in election order for `ip`, the leader first. Duplicate names count once
/// (upstream builds the candidate list from a map keyed by node name). The order never
/// depends on the order of `candidates`.
pub fn election_order<'a>(ip: impl Into<IpAddr>, candidates: &[&'a str]) -> Vec<&'a str> {
    election_order_preferred(ip, candidates, &BTreeMap::new())
}

/// The node that announces `ip`, or `None` without candidates.
pub fn leader<'a>(ip: impl Into<IpAddr>, candidates: &[&'a str]) -> Option<&'a str> {
    election_order(ip, candidates).first().copied()
}

/// Election order with per-node preference scores (missing nodes score 0): higher score
/// first, then the hash order (metallb `sortL2Candidates`).
pub fn election_order_preferred<'a>(
    ip: impl Into<IpAddr>,
    candidates: &[&'a str],
    scores: &BTreeMap<&str, i64>,
) -> Vec<&'a str> {
    let ip: IpAddr = ip.into();
    let mut keyed: Vec<(i64, [u8; 32], &'a str)> = candidates
        .iter()
        .map(|&node| {
            (
                scores.get(node).copied().unwrap_or(0),
                election_key(node, ip),
                node,
            )
        })
        .collect();
    // Upstream uses Go's unstable sort.Slice; with distinct names sha256 ties cannot happen,
    // and equal names are the same node, so a total order on (score, hash, name) loses nothing.
    keyed.sort_by(|a, b| {
        b.0.cmp(&a.0)
            .then_with(|| a.1.cmp(&b.1))
            .then_with(|| a.2.cmp(b.2))
    });
    keyed.dedup_by(|a, b| a.2 == b.2);
    keyed.into_iter().map(|(_, _, node)| node).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::net::Ipv4Addr;

    const VIP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 240);

    const NODES: [&str; 4] = ["node-a", "node-b", "node-c", "node-d"];

    /// Go's `net.IP.String()` forms, as go/src/net/ip.go and net/netip write them.
    #[test]
    fn go_forms_of_ipv6_addresses() {
        for (ip, go) in [
            // Two zero runs of equal length: the first is compressed.
            ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
            // The longer run wins even when it comes second.
            ("2001:0:0:1:0:0:0:1", "2001:0:0:1::1"),
            // A lone zero group is not compressed.
            ("2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"),
            // IPv4-mapped: To4() is non-nil, so the dotted quad alone.
            ("::ffff:192.0.2.1", "192.0.2.1"),
            // IPv4-translated (::ffff:0:0/96) is not mapped: hex.
            ("::ffff:0:c000:201", "::ffff:0:c000:201"),
            ("0:0:0:0:0:0:0:1", "::1"),
            ("2001:DB8::A", "2001:db8::a"),
        ] {
            let addr: IpAddr = ip.parse().unwrap();
            assert_eq!(go_ip_string(addr), go, "{ip}");
        }
    }

    /// Election orders for IPv6 service IPs: sha256("<node>#<Go form>") sorted ascending,
    /// computed independently with `printf '%s' "node-a#<ip>" | sha256sum | sort`.
    #[test]
    fn ipv6_test_vectors() {
        for (ip, order) in [
            (
                "2001:db8:0:0:1:0:0:1",
                ["node-a", "node-c", "node-d", "node-b"],
            ),
            ("::ffff:192.0.2.1", ["node-c", "node-a", "node-d", "node-b"]),
            (
                "2001:0:0:1:0:0:0:1",
                ["node-a", "node-d", "node-c", "node-b"],
            ),
            (
                "2001:db8:0:1:1:1:1:1",
                ["node-d", "node-c", "node-b", "node-a"],
            ),
            (
                "::ffff:0:c000:201",
                ["node-c", "node-a", "node-d", "node-b"],
            ),
            ("::1", ["node-a", "node-d", "node-c", "node-b"]),
        ] {
            let addr: IpAddr = ip.parse().unwrap();
            assert_eq!(election_order(addr, &NODES), order, "{ip}");
        }
        // The mapped address elects exactly as its IPv4 address does.
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(
            election_order(mapped, &NODES),
            election_order(Ipv4Addr::new(192, 0, 2, 1), &NODES)
        );
        // The forms Go does not write give other orders (sha256sum of "::ffff:192.0.2.1" and
        // of "2001:db8:0:0:1::1"): the form matters.
        assert_ne!(
            ["node-a", "node-d", "node-c", "node-b"],
            election_order(mapped, &NODES)[..]
        );
        let tie: IpAddr = "2001:db8:0:0:1:0:0:1".parse().unwrap();
        assert_ne!(
            ["node-d", "node-b", "node-c", "node-a"],
            election_order(tie, &NODES)[..]
        );
    }

    #[test]
    fn design_test_vector() {
        assert_eq!(
            election_order(VIP, &["node-a", "node-b", "node-c"]),
            ["node-a", "node-c", "node-b"]
        );
        assert_eq!(leader(VIP, &["node-c", "node-b", "node-a"]), Some("node-a"));
    }

    #[test]
    fn key_is_sha256_of_name_hash_ip() {
        // sha256("node-a#192.168.1.240"), computed independently with `sha256sum`.
        let hex: String = election_key("node-a", VIP)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hex, KEY_NODE_A);
    }

    #[test]
    fn no_candidates_no_leader() {
        assert_eq!(leader(VIP, &[]), None);
    }

    #[test]
    fn duplicates_count_once() {
        assert_eq!(
            election_order(VIP, &["node-b", "node-a", "node-b"]),
            ["node-a", "node-b"]
        );
    }

    #[test]
    fn preference_beats_hash() {
        let scores = BTreeMap::from([("node-b", 10)]);
        assert_eq!(
            election_order_preferred(VIP, &["node-a", "node-b", "node-c"], &scores),
            ["node-b", "node-a", "node-c"]
        );
    }

    fn node_set() -> impl Strategy<Value = Vec<String>> {
        proptest::collection::btree_set("[a-z]{1,6}-[0-9]{1,2}", 1..12)
            .prop_map(|s| s.into_iter().collect())
    }

    proptest! {
        #[test]
        fn removing_a_non_leader_never_moves_the_ip(
            nodes in node_set(), ip in any::<u32>(), pick in any::<prop::sample::Index>()
        ) {
            let ip = Ipv4Addr::from(ip);
            let names: Vec<&str> = nodes.iter().map(String::as_str).collect();
            let before = leader(ip, &names).unwrap();
            let gone = names[pick.index(names.len())];
            prop_assume!(gone != before);
            let rest: Vec<&str> = names.iter().copied().filter(|n| *n != gone).collect();
            prop_assert_eq!(leader(ip, &rest), Some(before));
            // Stronger: the survivors keep their relative order.
            let expected: Vec<&str> =
                election_order(ip, &names).into_iter().filter(|n| *n != gone).collect();
            prop_assert_eq!(election_order(ip, &rest), expected);
        }

        #[test]
        fn order_never_depends_on_input_order(
            nodes in node_set(), ip in any::<u32>(), seed in any::<u64>()
        ) {
            let ip = Ipv4Addr::from(ip);
            let names: Vec<&str> = nodes.iter().map(String::as_str).collect();
            let mut shuffled = names.clone();
            // A seeded Fisher-Yates; proptest shrinks the seed, not the permutation.
            let mut state = seed;
            for i in (1..shuffled.len()).rev() {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let j = (state >> 33) as usize % (i + 1);
                shuffled.swap(i, j);
            }
            prop_assert_eq!(election_order(ip, &names), election_order(ip, &shuffled));
        }
    }

    const KEY_NODE_A: &str = "0905ce28e61d7edba0d1a1e81637d349ef0299ecc2fb9fc9c8347049ba3a9c82";
}

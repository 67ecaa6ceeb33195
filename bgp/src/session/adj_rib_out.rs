//! Routes this side advertises (the Adj-RIB-Out) and the UPDATEs that carry them.

use super::config::Flavour;
use crate::wire::{
    AsPath, AttributeValue, CodecOptions, Ipv4Prefix, Ipv6Prefix, Origin, PathAttribute, Update,
    HEADER_LEN, MAX_MESSAGE_LEN,
};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

/// An IPv6 route's next hops: global, and link-local on a shared link (RFC 2545 §3).
pub(crate) type NextHop6 = (Ipv6Addr, Option<Ipv6Addr>);

/// IPv6 prefix -> next hops, ordered like [`AdjRibOut`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AdjRibOut6 {
    routes: BTreeMap<Ipv6Prefix, NextHop6>,
}

impl AdjRibOut6 {
    /// Records the prefixes; returns those that are new or got new next hops.
    pub(crate) fn announce(
        &mut self,
        prefixes: &[Ipv6Prefix],
        next_hop: NextHop6,
    ) -> Vec<(Ipv6Prefix, NextHop6)> {
        let mut changed = BTreeMap::new();
        for &p in prefixes {
            if self.routes.insert(p, next_hop) != Some(next_hop) {
                changed.insert(p, next_hop);
            }
        }
        changed.into_iter().collect()
    }

    /// Forgets the prefixes; returns those that were there.
    pub(crate) fn withdraw(&mut self, prefixes: &[Ipv6Prefix]) -> Vec<Ipv6Prefix> {
        let asked: BTreeSet<Ipv6Prefix> = prefixes.iter().copied().collect();
        asked
            .into_iter()
            .filter(|p| self.routes.remove(p).is_some())
            .collect()
    }

    /// Everything, in prefix order.
    pub(crate) fn all(&self) -> Vec<(Ipv6Prefix, NextHop6)> {
        self.routes.iter().map(|(p, nh)| (*p, *nh)).collect()
    }
}

/// Prefix -> NEXT_HOP, ordered so that what is sent never depends on insertion order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AdjRibOut {
    routes: BTreeMap<Ipv4Prefix, Ipv4Addr>,
}

impl AdjRibOut {
    /// Records the prefixes; returns those that are new or got a new next hop.
    pub(crate) fn announce(
        &mut self,
        prefixes: &[Ipv4Prefix],
        next_hop: Ipv4Addr,
    ) -> Vec<(Ipv4Prefix, Ipv4Addr)> {
        let mut changed = BTreeMap::new();
        for &p in prefixes {
            if self.routes.insert(p, next_hop) != Some(next_hop) {
                changed.insert(p, next_hop);
            }
        }
        changed.into_iter().collect()
    }

    /// Forgets the prefixes; returns those that were there.
    pub(crate) fn withdraw(&mut self, prefixes: &[Ipv4Prefix]) -> Vec<Ipv4Prefix> {
        let asked: BTreeSet<Ipv4Prefix> = prefixes.iter().copied().collect();
        asked
            .into_iter()
            .filter(|p| self.routes.remove(p).is_some())
            .collect()
    }

    /// Everything, in prefix order.
    pub(crate) fn all(&self) -> Vec<(Ipv4Prefix, Ipv4Addr)> {
        self.routes.iter().map(|(p, nh)| (*p, *nh)).collect()
    }
}

/// How this speaker lays out its UPDATEs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UpdateLayout {
    pub(crate) local_as: u32,
    pub(crate) ibgp: bool,
    pub(crate) local_pref: u32,
    pub(crate) flavour: Flavour,
    pub(crate) codec: CodecOptions,
}

/// Worst-case encoded size of one IPv4 prefix (length byte + 4 octets).
const MAX_PREFIX_LEN: usize = 5;
/// Worst-case encoded size of one IPv6 prefix (length byte + 16 octets).
const MAX_PREFIX6_LEN: usize = 17;

impl UpdateLayout {
    /// ORIGIN IGP, AS_PATH (empty on iBGP, our AS on eBGP), NEXT_HOP, and LOCAL_PREF on iBGP
    /// (RFC 4271 §5.1; metallb `messages.go` `encodePathAttrs` writes the same set, in this order).
    fn attributes(&self, next_hop: Ipv4Addr) -> Vec<PathAttribute> {
        let as_path = if self.ibgp {
            AsPath::default()
        } else {
            AsPath::sequence(vec![self.local_as])
        };
        let mut attrs = vec![
            PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
            PathAttribute::new(AttributeValue::AsPath(as_path)),
            PathAttribute::new(AttributeValue::NextHop(next_hop)),
        ];
        if self.ibgp {
            attrs.push(PathAttribute::new(AttributeValue::LocalPref(
                self.local_pref,
            )));
        }
        attrs
    }

    /// UPDATEs announcing `routes`. Native: one per prefix (metallb `sendUpdate` takes one
    /// advertisement). FRR: prefixes sharing a next hop (hence all attributes) packed together,
    /// split only at the 4096-byte message limit.
    pub(crate) fn announcements(&self, routes: &[(Ipv4Prefix, Ipv4Addr)]) -> Vec<Update> {
        match self.flavour {
            Flavour::Native => routes
                .iter()
                .map(|&(p, nh)| Update {
                    withdrawn: Vec::new(),
                    attributes: self.attributes(nh),
                    nlri: vec![p],
                })
                .collect(),
            Flavour::Frr => {
                let mut by_next_hop: BTreeMap<Ipv4Addr, Vec<Ipv4Prefix>> = BTreeMap::new();
                for &(p, nh) in routes {
                    by_next_hop.entry(nh).or_default().push(p);
                }
                let mut updates = Vec::new();
                for (nh, prefixes) in by_next_hop {
                    let attributes = self.attributes(nh);
                    let attrs_len: usize =
                        attributes.iter().map(|a| a.encoded_len(self.codec)).sum();
                    let room = MAX_MESSAGE_LEN - HEADER_LEN - 4 - attrs_len;
                    for chunk in prefixes.chunks((room / MAX_PREFIX_LEN).max(1)) {
                        updates.push(Update {
                            withdrawn: Vec::new(),
                            attributes: attributes.clone(),
                            nlri: chunk.to_vec(),
                        });
                    }
                }
                updates
            }
        }
    }

    /// UPDATEs announcing IPv6 `routes` (FRR only; MetalLB's native speaker has no IPv6):
    /// ORIGIN, AS_PATH (and LOCAL_PREF on iBGP) with MP_REACH_NLRI instead of NEXT_HOP (RFC
    /// 4760 §3), prefixes sharing next hops packed together, split at the message limit.
    pub(crate) fn announcements6(&self, routes: &[(Ipv6Prefix, NextHop6)]) -> Vec<Update> {
        let mut by_next_hop: BTreeMap<NextHop6, Vec<Ipv6Prefix>> = BTreeMap::new();
        for &(p, nh) in routes {
            by_next_hop.entry(nh).or_default().push(p);
        }
        let mut updates = Vec::new();
        for ((next_hop, link_local), prefixes) in by_next_hop {
            let mut attributes = self.attributes(Ipv4Addr::UNSPECIFIED);
            attributes.retain(|a| !matches!(a.value, AttributeValue::NextHop(_)));
            let attrs_len: usize = attributes.iter().map(|a| a.encoded_len(self.codec)).sum();
            // MP_REACH_NLRI: 4-octet attribute header, AFI/SAFI, next hop length and 32
            // octets at most, reserved.
            let room = MAX_MESSAGE_LEN - HEADER_LEN - 4 - attrs_len - (4 + 4 + 32 + 1);
            for chunk in prefixes.chunks((room / MAX_PREFIX6_LEN).max(1)) {
                updates.push(Update::announce_ipv6(
                    attributes.clone(),
                    next_hop,
                    link_local,
                    chunk.to_vec(),
                ));
            }
        }
        updates
    }

    /// UPDATEs withdrawing IPv6 `prefixes` (MP_UNREACH_NLRI), as few as fit.
    pub(crate) fn withdrawals6(&self, prefixes: &[Ipv6Prefix]) -> Vec<Update> {
        let room = MAX_MESSAGE_LEN - HEADER_LEN - 4 - (4 + 3);
        prefixes
            .chunks(room / MAX_PREFIX6_LEN)
            .map(|chunk| Update::withdraw_ipv6(chunk.to_vec()))
            .collect()
    }

    /// UPDATEs withdrawing `prefixes`: as few as fit (metallb `sendWithdraw` puts them all in
    /// one; FRR packs them too).
    pub(crate) fn withdrawals(&self, prefixes: &[Ipv4Prefix]) -> Vec<Update> {
        let room = MAX_MESSAGE_LEN - HEADER_LEN - 4;
        prefixes
            .chunks(room / MAX_PREFIX_LEN)
            .map(|chunk| Update {
                withdrawn: chunk.to_vec(),
                attributes: Vec::new(),
                nlri: Vec::new(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(i: u32) -> Ipv4Prefix {
        Ipv4Prefix::host(Ipv4Addr::from(0x0a00_0000 + i))
    }

    fn layout(flavour: Flavour, ibgp: bool) -> UpdateLayout {
        UpdateLayout {
            local_as: 64512,
            ibgp,
            local_pref: 100,
            flavour,
            codec: CodecOptions::FOUR_OCTET_AS,
        }
    }

    #[test]
    fn announce_reports_only_changes() {
        let mut rib = AdjRibOut::default();
        let nh = Ipv4Addr::new(192, 0, 2, 1);
        assert_eq!(rib.announce(&[host(1), host(2)], nh).len(), 2);
        assert_eq!(rib.announce(&[host(1)], nh), vec![]);
        let nh2 = Ipv4Addr::new(192, 0, 2, 2);
        assert_eq!(rib.announce(&[host(1)], nh2), vec![(host(1), nh2)]);
        assert_eq!(rib.withdraw(&[host(2), host(2), host(9)]), vec![host(2)]);
        assert_eq!(rib.all(), vec![(host(1), nh2)]);
    }

    #[test]
    fn native_sends_one_update_per_prefix_frr_packs_and_splits() {
        let nh = Ipv4Addr::new(192, 0, 2, 1);
        let routes: Vec<_> = (0..2000).map(|i| (host(i), nh)).collect();
        assert_eq!(
            layout(Flavour::Native, false)
                .announcements(&routes[..3])
                .len(),
            3
        );
        let frr = layout(Flavour::Frr, true).announcements(&routes);
        assert!(frr.len() >= 2, "2000 prefixes need more than one message");
        assert_eq!(frr.iter().map(|u| u.nlri.len()).sum::<usize>(), 2000);
        for u in &frr {
            assert!(u.encoded_len(CodecOptions::FOUR_OCTET_AS) <= MAX_MESSAGE_LEN);
            assert!(u.attribute(5).is_some(), "iBGP carries LOCAL_PREF");
        }
    }

    #[test]
    fn ebgp_as_path_is_our_as_ibgp_empty() {
        let nh = Ipv4Addr::new(192, 0, 2, 1);
        let e = &layout(Flavour::Frr, false).announcements(&[(host(1), nh)])[0];
        assert_eq!(e.as_path(), Some(&AsPath::sequence(vec![64512])));
        assert!(e.attribute(5).is_none());
        let i = &layout(Flavour::Frr, true).announcements(&[(host(1), nh)])[0];
        assert_eq!(i.as_path().map(AsPath::path_length), Some(0));
    }
}

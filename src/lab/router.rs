//! The router's view of a service IP: which nodes announce it, in what order the routing daemon
//! installs them, and the ECMP group built from that list.
//!
//! This is the one interface through which routes change: the scenario script drives it today,
//! the BGP control plane will drive the same calls.

use bgp::ecmp::{EcmpError, EcmpGroup, FlowHasher, FlowKey, HashSource, NextHop, Selection};
use sim_core::SimTime;

use crate::scenario::{Ecmp, NexthopOrder};

/// A route change as the router applies it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteChange {
    /// A node's route appears.
    Announce(NextHop),
    /// A node's route disappears.
    Withdraw(NextHop),
}

/// The router's state for one service IP.
#[derive(Debug, Clone)]
pub struct ServiceRoute {
    /// The hash over the flow's header fields.
    pub hasher: FlowHasher,
    /// Where the hash of a forwarded packet comes from.
    source: HashSource,
    group: EcmpGroup,
    order: NexthopOrder,
    /// Announcing next hops in installation order.
    members: Vec<NextHop>,
}

impl ServiceRoute {
    /// A route with no next hop yet.
    ///
    /// # Errors
    /// When the selection's parameters are invalid (e.g. a Maglev table size that is not prime).
    pub fn new(ecmp: &Ecmp) -> Result<Self, EcmpError> {
        Ok(ServiceRoute {
            hasher: FlowHasher::new(ecmp.fields, ecmp.hash, ecmp.seed),
            source: ecmp.hash_source,
            group: EcmpGroup::new(ecmp.selection, &[])?,
            order: ecmp.nexthop_order,
            members: Vec::new(),
        })
    }

    /// The router's hash of a packet of `flow` whose sending socket has `txhash`
    /// ([`FlowHasher::forwarded`]).
    pub fn forwarded_hash(&self, flow: &FlowKey, txhash: Option<u32>) -> u32 {
        self.hasher.forwarded(&self.source, flow, txhash)
    }

    /// The hash is the client socket's `sk_txhash` (so the client's TCP matters).
    pub fn uses_txhash(&self) -> bool {
        matches!(self.source, HashSource::SocketTxhash { .. })
            && HashSource::applies_to(self.hasher.fields(), self.hasher.function())
    }

    /// The client's TCP redraws its hash on a retransmission timeout (`net.core.txrehash` 1).
    pub fn txrehash(&self) -> bool {
        self.uses_txhash() && matches!(self.source, HashSource::SocketTxhash { txrehash: true })
    }

    /// Apply a change; returns true if the installed next-hop list changed.
    pub fn apply(&mut self, now: SimTime, change: RouteChange) -> bool {
        match change {
            RouteChange::Announce(nh) => {
                if self.members.contains(&nh) {
                    return false;
                }
                match self.order {
                    // Node ids grow with their addresses, so sorting ids sorts addresses.
                    NexthopOrder::ByAddress => {
                        let at = self.members.partition_point(|&m| m < nh);
                        self.members.insert(at, nh);
                    }
                    NexthopOrder::ByArrival => self.members.push(nh),
                }
            }
            RouteChange::Withdraw(nh) => {
                let Some(at) = self.members.iter().position(|&m| m == nh) else {
                    return false;
                };
                self.members.remove(at);
            }
        }
        self.group.set_next_hops(now, &self.members);
        true
    }

    /// Install a whole next-hop list at once (the FIB programs a prefix's multipath set in one
    /// netlink message); returns true if the installed list changed.
    pub fn set_members(&mut self, now: SimTime, next_hops: &[NextHop]) -> bool {
        let mut members: Vec<NextHop> = match self.order {
            NexthopOrder::ByAddress => {
                let mut v = next_hops.to_vec();
                v.sort_unstable();
                v
            }
            // Keep the survivors' order, append newcomers.
            NexthopOrder::ByArrival => {
                let mut v: Vec<NextHop> = self
                    .members
                    .iter()
                    .copied()
                    .filter(|m| next_hops.contains(m))
                    .collect();
                v.extend(
                    next_hops
                        .iter()
                        .copied()
                        .filter(|n| !self.members.contains(n)),
                );
                v
            }
        };
        members.dedup();
        if members == self.members {
            return false;
        }
        self.members = members;
        self.group.set_next_hops(now, &self.members);
        true
    }

    /// The next hop for a flow hash, marking a resilient bucket used.
    #[inline]
    pub fn select(&mut self, now: SimTime, hash: u32) -> Option<NextHop> {
        self.group.select(now, hash)
    }

    /// The next hop a flow hash would take now.
    #[inline]
    pub fn peek(&self, hash: u32) -> Option<NextHop> {
        self.group.peek(hash)
    }

    /// Installed next hops.
    pub fn members(&self) -> &[NextHop] {
        &self.members
    }

    /// The selection algorithm.
    pub fn selection(&self) -> Selection {
        self.group.selection()
    }

    /// When the group next wants a timer (resilient bucket migration).
    pub fn next_timeout(&self) -> Option<SimTime> {
        self.group.next_timeout()
    }

    /// Run due timers; true if any bucket moved.
    pub fn on_timeout(&mut self, now: SimTime) -> bool {
        self.group.on_timeout(now)
    }
}

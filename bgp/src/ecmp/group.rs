//! An ECMP group: the next hops of one prefix and the state that maps a flow hash to one of
//! them. All per-group tables are built when the member list changes, never per lookup.

use sim_core::SimTime;
use siphasher::sip::SipHasher24;

use super::resilient::ResilientTable;
use super::{EcmpError, NextHop, Selection};

/// Largest Maglev table accepted (64 MiB of entries); larger tables are refused rather than
/// allocated.
pub const MAX_MAGLEV_TABLE_SIZE: u32 = 1 << 24;

/// Precomputed selection state.
#[derive(Debug, Clone)]
enum Table {
    Modulo,
    /// Upper bound of each member (`fib_nh_upper_bound`).
    HashThreshold(Vec<i64>),
    Resilient(ResilientTable),
    /// Member index per slot; `u32::MAX` for a slot no member filled (empty group).
    Maglev(Vec<u32>),
    Rendezvous,
}

/// The next hops of one prefix and how a flow hash chooses among them.
#[derive(Debug, Clone)]
pub struct EcmpGroup {
    selection: Selection,
    next_hops: Vec<NextHop>,
    table: Table,
}

impl EcmpGroup {
    /// A group with `next_hops` in the order given (the order the routing daemon installs
    /// them). A resilient group is created as Linux creates one: at time zero, every bucket
    /// filled in one sweep.
    ///
    /// # Errors
    /// A next hop listed twice, or parameters [`Selection::check`] refuses.
    pub fn new(selection: Selection, next_hops: &[NextHop]) -> Result<Self, EcmpError> {
        for (i, nh) in next_hops.iter().enumerate() {
            if next_hops[..i].contains(nh) {
                return Err(EcmpError::DuplicateNextHop(*nh));
            }
        }
        selection.check()?;
        let table = match selection {
            Selection::Modulo => Table::Modulo,
            Selection::HashThreshold => Table::HashThreshold(threshold_bounds(next_hops.len())),
            Selection::Resilient {
                buckets,
                idle_timer,
                unbalanced_timer,
            } => Table::Resilient(ResilientTable::new(
                SimTime::ZERO,
                buckets,
                idle_timer,
                unbalanced_timer,
                next_hops,
            )),
            Selection::Maglev { table_size } => Table::Maglev(maglev_table(table_size, next_hops)),
            Selection::Rendezvous => Table::Rendezvous,
        };
        Ok(EcmpGroup {
            selection,
            next_hops: next_hops.to_vec(),
            table,
        })
    }

    /// Replace the member list (the order given is the order the routing daemon installs
    /// them). A next hop listed more than once counts once, at its first position.
    pub fn set_next_hops(&mut self, now: SimTime, next_hops: &[NextHop]) {
        // Duplicates dropped, first occurrences kept in order; a set, not a scan of the list
        // per entry, so a 6,000-member group is built in linear time (it is only looked up).
        let mut seen = std::collections::HashSet::with_capacity(next_hops.len());
        let list: Vec<NextHop> = next_hops
            .iter()
            .copied()
            .filter(|&nh| seen.insert(nh))
            .collect();
        match &mut self.table {
            Table::Modulo | Table::Rendezvous => {}
            Table::HashThreshold(bounds) => *bounds = threshold_bounds(list.len()),
            Table::Resilient(table) => {
                table.replace(now, &list);
            }
            Table::Maglev(entries) => {
                *entries = maglev_table(entries.len() as u32, &list);
            }
        }
        self.next_hops = list;
    }

    /// Choose for a hash; marks a resilient bucket used at `now`. None when the group is
    /// empty.
    #[inline]
    pub fn select(&mut self, now: SimTime, hash: u32) -> Option<NextHop> {
        // With a single path Linux does not hash at all (`ip_mkroute_input` and
        // `fib_select_path` test `fib_info_num_path(fi) > 1`), so no bucket is marked used;
        // that matters later, when a bucket's idleness decides whether it may move.
        if let (Table::Resilient(table), true) = (&mut self.table, self.next_hops.len() > 1) {
            let member = table.select(now, hash)?;
            return self.next_hops.get(member).copied();
        }
        self.peek(hash)
    }

    /// Same choice without marking anything.
    ///
    /// Hash-threshold compares the hash with 31-bit bounds as Linux does; a hash of 2^31 or
    /// more (which [`crate::ecmp::FlowHasher`] never returns) is taken modulo 2^31.
    #[inline]
    pub fn peek(&self, hash: u32) -> Option<NextHop> {
        let n = self.next_hops.len();
        if n == 0 {
            return None;
        }
        let member = match &self.table {
            Table::Modulo => (hash % n as u32) as usize,
            Table::HashThreshold(bounds) => {
                // fib_select_multipath: the first member whose upper bound is >= hash; the
                // bounds never decrease, so a binary search finds the same one.
                let h = i64::from(hash & 0x7fff_ffff);
                bounds.partition_point(|&b| b < h).min(n - 1)
            }
            Table::Resilient(table) => table.peek(hash)?,
            Table::Maglev(entries) => {
                let slot = entries[(hash % entries.len() as u32) as usize];
                usize::try_from(slot).ok().filter(|&m| m < n)?
            }
            Table::Rendezvous => rendezvous(hash, &self.next_hops),
        };
        self.next_hops.get(member).copied()
    }

    /// The members, in installation order.
    pub fn next_hops(&self) -> &[NextHop] {
        &self.next_hops
    }

    /// The selection algorithm and its parameters.
    pub fn selection(&self) -> Selection {
        self.selection
    }

    /// Resilient: when pending bucket migrations (idle / unbalanced timers) may next happen.
    pub fn next_timeout(&self) -> Option<SimTime> {
        match &self.table {
            Table::Resilient(table) => table.next_timeout(),
            _ => None,
        }
    }

    /// Perform migrations due at `now`; returns true if any bucket changed owner.
    pub fn on_timeout(&mut self, now: SimTime) -> bool {
        match &mut self.table {
            Table::Resilient(table) => table.on_timeout(now, &self.next_hops),
            _ => false,
        }
    }

    /// Resilient: the next hop of every bucket in index order (None: unoccupied, which only
    /// an empty group has), as `ip nexthop bucket show` lists them. None for other
    /// selections.
    pub fn resilient_buckets(&self) -> Option<Vec<Option<NextHop>>> {
        match &self.table {
            Table::Resilient(table) => Some(table.owners()),
            _ => None,
        }
    }
}

/// `fib_rebalance` (net/ipv4/fib_semantics.c) and `nh_hthr_group_rebalance`
/// (net/ipv4/nexthop.c) with every weight 1: member i's upper bound is
/// DIV_ROUND_CLOSEST((i + 1) << 31, n) - 1, so member i takes hashes up to it (RFC 2992).
fn threshold_bounds(n: usize) -> Vec<i64> {
    let total = n as u64;
    (1..=total)
        .map(|w| (((w << 31) + total / 2) / total) as i64 - 1)
        .collect()
}

/// Rendezvous (highest random weight, Thaler & Ravishankar 1998): every member scores
/// (flow hash, member id) and the highest score wins, ties to the larger id. A member's
/// score does not depend on the others, so removing one moves only its own flows.
fn rendezvous(hash: u32, members: &[NextHop]) -> usize {
    let mut best = 0;
    let mut best_key = (0u64, 0u32);
    for (i, &id) in members.iter().enumerate() {
        let key = (mix64((u64::from(hash) << 32) | u64::from(id)), id);
        if i == 0 || key > best_key {
            best = i;
            best_key = key;
        }
    }
    best
}

/// The SplitMix64 output function: a bijective 64-bit mixer.
fn mix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The two fixed SipHash keys Maglev's `offset` and `skip` come from ("maglev-offset" and
/// "maglev-skip" as ASCII). Fixed, so that the table is a function of the member ids alone,
/// as in the paper, where they hash the backend's name.
const MAGLEV_OFFSET_KEY: (u64, u64) = (0x6d61_676c_6576_2d6f, 0x6666_7365_7400_0000);
const MAGLEV_SKIP_KEY: (u64, u64) = (0x6d61_676c_6576_2d73, 0x6b69_7000_0000_0000);

/// Maglev lookup table (Eisenbud et al., NSDI 2016, section 3.4, "Pseudocode 1"): each member
/// i walks its own permutation of the slots, `(offset_i + j * skip_i) mod M`, with
/// `offset = h1(id) mod M` and `skip = h2(id) mod (M - 1) + 1`; members take turns claiming
/// their next free slot until the table is full. M prime makes every permutation cover all
/// slots, so every walk ends.
fn maglev_table(size: u32, members: &[NextHop]) -> Vec<u32> {
    let m = u64::from(size);
    let mut entries = vec![u32::MAX; size as usize];
    if members.is_empty() || size == 0 {
        return entries;
    }
    let offset_hasher = SipHasher24::new_with_keys(MAGLEV_OFFSET_KEY.0, MAGLEV_OFFSET_KEY.1);
    let skip_hasher = SipHasher24::new_with_keys(MAGLEV_SKIP_KEY.0, MAGLEV_SKIP_KEY.1);
    let perms: Vec<(u64, u64)> = members
        .iter()
        .map(|id| {
            let bytes = id.to_be_bytes();
            let offset = offset_hasher.hash(&bytes) % m;
            let skip = if m > 1 {
                skip_hasher.hash(&bytes) % (m - 1) + 1
            } else {
                1
            };
            (offset, skip)
        })
        .collect();
    let mut next = vec![0u64; members.len()];
    let mut filled = 0u64;
    'fill: loop {
        for (i, &(offset, skip)) in perms.iter().enumerate() {
            let mut slot = (offset + next[i] * skip) % m;
            while entries[slot as usize] != u32::MAX {
                next[i] += 1;
                slot = (offset + next[i] * skip) % m;
            }
            entries[slot as usize] = i as u32;
            next[i] += 1;
            filled += 1;
            if filled == m {
                break 'fill;
            }
        }
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_bounds_split_the_31_bit_space() {
        // Two members: 2^30 - 1 and 2^31 - 1; three: round(2^31/3) - 1 = 715827882 etc.
        assert_eq!(threshold_bounds(2), vec![(1 << 30) - 1, (1 << 31) - 1]);
        assert_eq!(
            threshold_bounds(3),
            vec![715_827_882, 1_431_655_764, 2_147_483_647]
        );
    }

    #[test]
    fn maglev_fills_every_slot_evenly() {
        let table = maglev_table(251, &[10, 20, 30]);
        assert!(table.iter().all(|&e| e < 3));
        for i in 0..3 {
            let count = table.iter().filter(|&&e| e == i).count();
            // Round robin: each member claims 83 or 84 of 251 slots.
            assert!((83..=84).contains(&count), "member {i}: {count}");
        }
    }
}

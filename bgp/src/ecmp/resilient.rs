//! A Linux resilient nexthop group (net/ipv4/nexthop.c, Linux 5.13+), reproduced bucket for
//! bucket, including its history.
//!
//! The group owns a table of buckets; a flow uses bucket `hash % buckets`
//! (`nexthop_select_path_res`) and marks it used. Each member *wants* a share of the buckets
//! (`nh_res_group_rebalance`); a member holding fewer is *underweight* and sits on a list,
//! newest first (`list_add`). A bucket moves only if it is unoccupied (its member left) or
//! belongs to an *overweight* member and is idle or the group has been unbalanced for longer
//! than the unbalanced timer (`nh_res_bucket_should_migrate`); it goes to the head of the
//! underweight list (`nh_res_bucket_migrate`). The table is swept in index order
//! (`nh_res_table_upkeep`) whenever the member list changes, and again at the earliest time a
//! migration may become possible, but not sooner than half a second later
//! (`NH_RES_UPKEEP_DW_MINIMUM_INTERVAL`).
//!
//! The model keeps time in [`SimTime`] nanoseconds where the kernel counts jiffies; the only
//! visible difference is the kernel's rounding to its tick.

use sim_core::{SimDuration, SimTime};

use super::NextHop;

/// `NH_RES_UPKEEP_DW_MINIMUM_INTERVAL` = HZ / 2.
const MIN_UPKEEP_INTERVAL: SimDuration = SimDuration::from_millis(500);

/// `struct nh_res_bucket`.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// The member this bucket points at. Like the kernel's `nh_entry`, the pointer stays when
    /// the member leaves (then `occupied` is false), and it is what the next member-list
    /// change looks the bucket up by (`nh_res_table_migrate_buckets`). None before the first
    /// fill only.
    next_hop: Option<NextHop>,
    /// Index of `next_hop` in the current member list, when occupied.
    member: usize,
    occupied: bool,
    used_time: SimTime,
    migrated_time: SimTime,
}

/// `struct nh_res_table` plus the per-member counters of `struct nh_grp_entry`.
#[derive(Debug, Clone)]
pub(crate) struct ResilientTable {
    buckets: Vec<Bucket>,
    idle_timer: SimDuration,
    unbalanced_timer: SimDuration,
    /// Per member: buckets held (`res.count_buckets`).
    count: Vec<u32>,
    /// Per member: buckets wanted (`res.wants_buckets`).
    wants: Vec<u32>,
    /// Underweight members, head first (`uw_nh_entries`).
    underweight: Vec<usize>,
    unbalanced_since: SimTime,
    /// When the delayed upkeep work is queued for (`upkeep_dw`).
    upkeep_at: Option<SimTime>,
}

impl ResilientTable {
    /// A new group, as `insert_nexthop` creates it: all buckets unoccupied, then rebalance
    /// and one upkeep, which fills every bucket.
    pub(crate) fn new(
        now: SimTime,
        buckets: u16,
        idle_timer: SimDuration,
        unbalanced_timer: SimDuration,
        members: &[NextHop],
    ) -> Self {
        let mut table = ResilientTable {
            buckets: vec![
                Bucket {
                    next_hop: None,
                    member: 0,
                    occupied: false,
                    used_time: SimTime::ZERO,
                    migrated_time: SimTime::ZERO,
                };
                usize::from(buckets)
            ],
            idle_timer,
            unbalanced_timer,
            count: Vec::new(),
            wants: Vec::new(),
            underweight: Vec::new(),
            unbalanced_since: SimTime::ZERO,
            upkeep_at: None,
        };
        table.count = vec![0; members.len()];
        table.rebalance(now, members.len());
        table.upkeep(now, members);
        table
    }

    /// The member list changed (`replace_nexthop_grp_res`): re-point buckets at the new
    /// members by id, unoccupy the rest, rebalance, keep the old unbalanced-since time if the
    /// group was and stays unbalanced, and run upkeep now. Returns whether any bucket changed
    /// owner during the upkeep.
    pub(crate) fn replace(&mut self, now: SimTime, members: &[NextHop]) -> bool {
        let prev_unbalanced_since = self.unbalanced_since;
        let prev_has_underweight = !self.underweight.is_empty();
        self.upkeep_at = None; // nh_res_table_cancel_upkeep

        // nh_res_table_migrate_buckets: the new group's entries start with zero counts.
        self.count = vec![0; members.len()];
        for bucket in &mut self.buckets {
            match bucket
                .next_hop
                .and_then(|id| members.iter().position(|&m| m == id))
            {
                Some(j) => {
                    bucket.member = j;
                    bucket.occupied = true;
                    self.count[j] += 1;
                }
                None => bucket.occupied = false,
            }
        }
        self.rebalance(now, members.len());
        if prev_has_underweight && !self.underweight.is_empty() {
            self.unbalanced_since = prev_unbalanced_since;
        }
        self.upkeep(now, members)
    }

    /// `nh_res_group_rebalance` with every weight 1: member i's upper bound is
    /// DIV_ROUND_CLOSEST(buckets * (i + 1), n); it wants the difference to the previous bound.
    /// Underweight members are pushed at the head of the list.
    fn rebalance(&mut self, now: SimTime, n: usize) {
        self.underweight.clear();
        self.wants = vec![0; n];
        if n == 0 {
            return; // the kernel never has an empty group; nothing is wanted
        }
        let total = n as u64;
        let num_buckets = self.buckets.len() as u64;
        let mut prev_upper = 0u64;
        for i in 0..n {
            let w = i as u64 + 1;
            let upper = (num_buckets * w + total / 2) / total;
            self.wants[i] = (upper - prev_upper) as u32;
            prev_upper = upper;
            if self.count[i] < self.wants[i] {
                if self.underweight.is_empty() {
                    self.unbalanced_since = now;
                }
                self.underweight.insert(0, i);
            }
        }
    }

    /// `nh_res_table_upkeep`: sweep the buckets in index order, migrate those that should,
    /// and queue the next sweep if the group is still unbalanced.
    fn upkeep(&mut self, now: SimTime, members: &[NextHop]) -> bool {
        let mut deadline = now
            + if self.unbalanced_timer > SimDuration::ZERO {
                self.unbalanced_timer
            } else {
                self.idle_timer
            };
        let mut changed = false;
        for i in 0..self.buckets.len() {
            if !self.should_migrate(now, i, &mut deadline) {
                continue;
            }
            if self.migrate(now, i, members) {
                changed = true;
            } else {
                // No underweight member to take it (only possible for an empty group): the
                // kernel marks the bucket busy and retries after its idle time.
                self.buckets[i].used_time = now;
                let idle_point = self.idle_point(now, i);
                deadline = deadline.min(idle_point);
            }
        }
        self.upkeep_at = if self.underweight.is_empty() {
            None
        } else {
            Some(deadline.max(now + MIN_UPKEEP_INTERVAL))
        };
        changed
    }

    /// `nh_res_bucket_idle_point`: a bucket not used since it migrated is idle now.
    fn idle_point(&self, now: SimTime, i: usize) -> SimTime {
        let b = &self.buckets[i];
        if b.used_time == b.migrated_time {
            now
        } else {
            b.used_time + self.idle_timer
        }
    }

    /// `nh_res_bucket_should_migrate`.
    fn should_migrate(&self, now: SimTime, i: usize, deadline: &mut SimTime) -> bool {
        let b = &self.buckets[i];
        if !b.occupied {
            return true; // forced: its member is gone
        }
        // Only buckets of an overweight member move.
        if self.count[b.member] <= self.wants[b.member] {
            return false;
        }
        let idle_point = self.idle_point(now, i);
        if now >= idle_point {
            return true;
        }
        if self.unbalanced_timer > SimDuration::ZERO {
            let unbalanced_point = self.unbalanced_since + self.unbalanced_timer;
            if now > unbalanced_point {
                return true; // busy, but the group has been unbalanced too long
            }
            *deadline = (*deadline).min(unbalanced_point);
        }
        *deadline = (*deadline).min(idle_point);
        false
    }

    /// `nh_res_bucket_migrate`: hand bucket `i` to the head of the underweight list and mark
    /// it freshly migrated; a member that reaches its share leaves the list.
    fn migrate(&mut self, now: SimTime, i: usize, members: &[NextHop]) -> bool {
        let Some(&new) = self.underweight.first() else {
            return false;
        };
        let b = &mut self.buckets[i];
        if b.occupied {
            self.count[b.member] -= 1;
        }
        b.member = new;
        b.occupied = true;
        b.next_hop = members.get(new).copied();
        b.used_time = now;
        b.migrated_time = now;
        self.count[new] += 1;
        if self.count[new] == self.wants[new] {
            self.underweight.remove(0);
        }
        true
    }

    /// The member index for `hash`, marking its bucket used at `now`.
    #[inline]
    pub(crate) fn select(&mut self, now: SimTime, hash: u32) -> Option<usize> {
        let n = self.buckets.len() as u32;
        if n == 0 {
            return None;
        }
        let b = &mut self.buckets[(hash % n) as usize];
        if !b.occupied {
            return None;
        }
        b.used_time = now; // nh_res_bucket_set_busy
        Some(b.member)
    }

    /// The member index for `hash`, without marking anything.
    #[inline]
    pub(crate) fn peek(&self, hash: u32) -> Option<usize> {
        let n = self.buckets.len() as u32;
        if n == 0 {
            return None;
        }
        let b = &self.buckets[(hash % n) as usize];
        b.occupied.then_some(b.member)
    }

    /// When the queued upkeep runs.
    pub(crate) fn next_timeout(&self) -> Option<SimTime> {
        self.upkeep_at
    }

    /// Runs the queued upkeep if it is due.
    pub(crate) fn on_timeout(&mut self, now: SimTime, members: &[NextHop]) -> bool {
        match self.upkeep_at {
            Some(at) if now >= at => self.upkeep(now, members),
            _ => false,
        }
    }

    /// Each bucket's next hop (None: unoccupied).
    pub(crate) fn owners(&self) -> Vec<Option<NextHop>> {
        self.buckets
            .iter()
            .map(|b| if b.occupied { b.next_hop } else { None })
            .collect()
    }
}

//! The neighbour state machine both address families share, as Linux shares it: one
//! `struct neigh_table` engine in net/core/neighbour.c serves `arp_tbl` (IPv4,
//! [`crate::neighbour`]) and `nd_tbl` (IPv6, [`crate::neighbour6`]). The family modules decode
//! their own messages (ARP, NDP) and call [`NudTable::update`] the way `arp_process` and
//! `ndisc_recv_na` call `neigh_update`; everything timed lives here.
//!
//! ```text
//!  (none)/FAILED ──send──► INCOMPLETE ──reply──► REACHABLE ──reachable_time──► STALE
//!                          │ mcast_solicit            ▲  ▲                       │ send
//!                          │ multicast, 1 s apart     │  └── confirmed ◄─┐       ▼
//!                          ▼                          └── unicast reply  └──── DELAY (5 s)
//!                        FAILED ◄── ucast_solicit unicast probes, 1 s apart ── PROBE ◄┘
//! ```
//!
//! What the kernel does and this engine follows:
//! - REACHABLE lasts `reachable_time`, one value per device drawn uniformly from
//!   [base/2, 3·base/2) (`neigh_rand_reach_time`) and redrawn by `neigh_periodic_work` at its
//!   first run more than 300 s after the last draw; that work runs every base/2 (15 s), so the
//!   redraw comes every 315 s. Draws come from a per-host seed.
//! - A REACHABLE entry whose time is up goes to DELAY if it was *used* within
//!   delay_first_probe_time, else to STALE (`neigh_timer_handler`). Sends in REACHABLE take the
//!   cached-header fast path (`neigh_output` -> `neigh_hh_output`, include/net/neighbour.h),
//!   which does not touch `used`, so in practice REACHABLE -> STALE, and the next send makes
//!   it DELAY.
//! - DELAY becomes REACHABLE if the entry was confirmed (forward progress) within
//!   delay_first_probe_time, else PROBE: `ucast_solicit` unicast solicitations to the cached
//!   MAC `retrans_time` apart (packets keep flowing to that MAC meanwhile), then FAILED.
//! - INCOMPLETE sends `mcast_solicit` multicast (ARP: broadcast) solicitations `retrans_time`
//!   apart, the first at once; packets wait in a queue of `unres_qlen` (oldest dropped on
//!   overflow, `__neigh_event_send`). On FAILED they are all dropped (`neigh_invalidate`). The
//!   next send starts a new multicast resolution.
//! - `neigh_update` with its override rules: a valid entry's MAC changes only with OVERRIDE;
//!   with WEAK_OVERRIDE (NDP) a REACHABLE entry offered another MAC without override goes
//!   STALE and keeps its MAC; the same MAC offered as STALE keeps the state.
//!
//! Model choices: garbage collection (gc_stale_time, gc_thresh*) is left out (it never changes
//! what is sent, only memory); app_solicit is 0; the queue limit counts packets (`unres_qlen`,
//! default 101 = unres_qlen_bytes 212992 / truesize of a full frame) rather than bytes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Debug;

use sim_core::{SimDuration, SimTime};

use crate::wire::MacAddr;

/// Identifies a data packet the caller wants delivered; the cache hands it back in
/// [`Output::Transmit`] or [`Output::Drop`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct PacketId(pub u64);

/// NUD state of an entry (include/uapi/linux/neighbour.h). NONE, NOARP and PERMANENT do not
/// occur: entries leave NONE within the call that creates them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum NudState {
    /// Resolving: multicast solicitations out, packets queued.
    Incomplete,
    /// Confirmed recently; packets go to the cached MAC.
    Reachable,
    /// Not confirmed lately; packets still go to the cached MAC, the next one starts DELAY.
    Stale,
    /// Waiting delay_first_probe_time for a confirmation before probing.
    Delay,
    /// Unicast probes to the cached MAC.
    Probe,
    /// Resolution failed.
    Failed,
}

impl NudState {
    /// NUD_VALID: the cached MAC is used for sending.
    pub fn is_valid(self) -> bool {
        matches!(
            self,
            NudState::Reachable | NudState::Stale | NudState::Delay | NudState::Probe
        )
    }
    /// NUD_CONNECTED.
    pub fn is_connected(self) -> bool {
        self == NudState::Reachable
    }
    /// NUD_IN_TIMER: a per-entry timer runs.
    fn in_timer(self) -> bool {
        matches!(
            self,
            NudState::Incomplete | NudState::Reachable | NudState::Delay | NudState::Probe
        )
    }
}

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DropReason {
    /// The unresolved queue was full; the oldest packet made room (`unres_discards`).
    QueueFull,
    /// Resolution failed (the kernel answers the sender with ICMP host unreachable).
    Unreachable,
}

/// What a neighbour cache asks its host to do, in order. `A` is the address family's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output<A> {
    /// Send the packet to `mac`.
    Transmit {
        /// The packet.
        packet_id: PacketId,
        /// Its next hop.
        ip: A,
        /// Ethernet destination.
        mac: MacAddr,
    },
    /// Solicit `target_ip` (ARP request; NDP Neighbor Solicitation), multicast (ARP: broadcast)
    /// or unicast to `unicast_to`. The family's `frame_for` builds the frame.
    Solicit {
        /// Address being resolved.
        target_ip: A,
        /// `Some(mac)` for a PROBE-state unicast probe.
        unicast_to: Option<MacAddr>,
    },
    /// Answer a solicitation for one of this host's addresses (ARP reply; solicited NA).
    Answer {
        /// The requester's address (ARP: 0.0.0.0 when defending against a duplicate-address
        /// probe; NDP: all-nodes when answering one).
        target_ip: A,
        /// The requester's MAC.
        target_mac: MacAddr,
        /// Which of this host's addresses was asked for.
        own_ip: A,
        /// The solicitation was multicast (ARP: broadcast). Linux's NA then sets Override and
        /// carries the Target Link-Layer Address option (`ndisc_recv_ns`: `inc`).
        to_multicast: bool,
    },
    /// Tell every neighbour that `own_ip` is at this host's MAC (an unsolicited NA with
    /// Override, `ndisc_send_unsol_na`).
    Announce {
        /// This host's address.
        own_ip: A,
    },
    /// The packet is lost.
    Drop {
        /// The packet.
        packet_id: PacketId,
        /// Its next hop.
        ip: A,
        /// Why.
        reason: DropReason,
    },
    /// An entry changed state (`from: None` for a new entry).
    StateChanged {
        /// The entry.
        ip: A,
        /// Previous state.
        from: Option<NudState>,
        /// New state.
        to: NudState,
    },
    /// An entry's cached MAC changed.
    MacChanged {
        /// The entry.
        ip: A,
        /// Previous MAC, if any.
        from: Option<MacAddr>,
        /// New MAC.
        to: MacAddr,
    },
}

/// The per-table knobs of the NUD engine (`struct neigh_parms`), shared by the ARP and NDP
/// caches; [`NudParams::linux`] has the kernel's defaults (arp_tbl and nd_tbl agree on all but
/// `locktime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NudParams {
    /// `base_reachable_time_ms`, 30 s.
    pub base_reachable_time: SimDuration,
    /// `delay_first_probe_time`, 5 s.
    pub delay_first_probe_time: SimDuration,
    /// `retrans_time_ms`, 1 s.
    pub retrans_time: SimDuration,
    /// `ucast_solicit`, 3: unicast probes in PROBE.
    pub ucast_solicit: u32,
    /// `mcast_solicit`, 3: multicast/broadcast solicitations in INCOMPLETE.
    pub mcast_solicit: u32,
    /// `mcast_resolicit`, 0: multicast/broadcast solicitations in PROBE after the unicast ones.
    pub mcast_resolicit: u32,
    /// `locktime`: a valid entry's MAC changes only if it last changed longer ago (ARP: 1 s;
    /// nd_tbl has none, 0).
    pub locktime: SimDuration,
    /// Packets queued per unresolved address, 101.
    pub unres_qlen: usize,
}

impl NudParams {
    /// Linux's defaults (net/ipv4/arp.c `arp_tbl`, net/ipv6/ndisc.c `nd_tbl`) with `locktime`.
    pub fn linux(locktime: SimDuration) -> Self {
        NudParams {
            base_reachable_time: SimDuration::from_secs(30),
            delay_first_probe_time: SimDuration::from_secs(5),
            retrans_time: SimDuration::from_secs(1),
            ucast_solicit: 3,
            mcast_solicit: 3,
            mcast_resolicit: 0,
            locktime,
            unres_qlen: 101,
        }
    }
}

/// `neigh_update`'s flags that the callers here use (include/net/neighbour.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct UpdateFlags {
    /// NEIGH_UPDATE_F_OVERRIDE: a different MAC may replace a valid one.
    pub override_: bool,
    /// NEIGH_UPDATE_F_WEAK_OVERRIDE: without override, a different MAC turns a REACHABLE
    /// entry STALE (keeping the MAC) instead of being ignored.
    pub weak_override: bool,
    /// NEIGH_UPDATE_F_OVERRIDE_ISROUTER with NEIGH_UPDATE_F_ISROUTER's value: `Some(r)` sets
    /// the entry's router flag to `r` (NDP's R flag).
    pub is_router: Option<bool>,
}

#[derive(Debug, Clone)]
struct Entry {
    /// `None` is NUD_NONE, only between creation and the first transition.
    state: Option<NudState>,
    mac: Option<MacAddr>,
    /// `None`: long ago (the kernel sets `jiffies - 2 * base_reachable_time`).
    confirmed: Option<SimTime>,
    updated: SimTime,
    used: SimTime,
    probes: u32,
    timer: Option<SimTime>,
    queue: VecDeque<PacketId>,
    /// NTF_ROUTER.
    is_router: bool,
}

impl Entry {
    fn new(now: SimTime) -> Self {
        Entry {
            state: None,
            mac: None,
            confirmed: None,
            updated: now,
            used: now,
            probes: 0,
            timer: None,
            queue: VecDeque::new(),
            is_router: false,
        }
    }
    fn valid(&self) -> bool {
        self.state.is_some_and(NudState::is_valid)
    }
}

/// Timers of the table as a whole (entry timers are kept per entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TableTimer {
    /// `neigh_periodic_work` run that redraws reachable_time.
    RedrawReachableTime,
}

impl TableTimer {
    const COUNT: usize = 1;
}

/// The smallest timer step the kernel arms (`HZ/100`).
const MIN_TIMER_STEP: SimDuration = SimDuration::from_millis(10);
/// `neigh_periodic_work` redraws reachable_time when more than this has passed.
const REDRAW_AFTER: SimDuration = SimDuration::from_secs(300);

/// One interface's table of entries keyed by `A`, with their timers.
#[derive(Debug, Clone)]
pub(crate) struct NudTable<A> {
    params: NudParams,
    /// The host's seed of its reachable_time draws.
    seed: u64,
    entries: BTreeMap<A, Entry>,
    /// (deadline, ip) of every armed entry timer, earliest first.
    entry_timers: BTreeSet<(SimTime, A)>,
    table_timers: [Option<SimTime>; TableTimer::COUNT],
    reachable_time: SimDuration,
    draws: u64,
}

impl<A: Copy + Ord + Debug> NudTable<A> {
    /// An empty table, as at time zero; `seed` drives its reachable_time draws.
    pub fn new(params: NudParams, seed: u64) -> Self {
        let mut table = NudTable {
            params,
            seed,
            entries: BTreeMap::new(),
            entry_timers: BTreeSet::new(),
            table_timers: [None; TableTimer::COUNT],
            reachable_time: SimDuration::ZERO,
            draws: 0,
        };
        table.reachable_time = table.draw_reachable_time();
        table.table_timers[TableTimer::RedrawReachableTime as usize] =
            Some(table.next_redraw(SimTime::ZERO));
        table
    }

    pub fn reachable_time(&self) -> SimDuration {
        self.reachable_time
    }

    /// State and MAC; the MAC only while the state is valid (as `ip neigh` shows it).
    pub fn lookup(&self, ip: A) -> Option<(NudState, Option<MacAddr>)> {
        let entry = self.entries.get(&ip)?;
        let state = entry.state?;
        Some((state, if state.is_valid() { entry.mac } else { None }))
    }

    /// The entry's NTF_ROUTER flag.
    pub fn is_router(&self, ip: A) -> bool {
        self.entries.get(&ip).is_some_and(|e| e.is_router)
    }

    /// The entry exists and has left NUD_NONE.
    pub fn exists(&self, ip: A) -> bool {
        self.entries.get(&ip).is_some_and(|e| e.state.is_some())
    }

    /// The entry exists, in any state including NUD_NONE (`neigh_lookup` finds it).
    pub fn present(&self, ip: A) -> bool {
        self.entries.contains_key(&ip)
    }

    /// The cached MAC of a valid entry.
    pub fn valid_mac(&self, ip: A) -> Option<MacAddr> {
        self.entries
            .get(&ip)
            .filter(|e| e.valid())
            .and_then(|e| e.mac)
    }

    /// `neigh_create` / `__neigh_lookup(.., creat = 1)`: the entry, NUD_NONE if new.
    pub fn create(&mut self, now: SimTime, ip: A) {
        self.entries.entry(ip).or_insert_with(|| Entry::new(now));
    }

    /// The time the entry last changed (`neigh->updated`), for locktime.
    pub fn updated(&self, ip: A) -> Option<SimTime> {
        self.entries.get(&ip).map(|e| e.updated)
    }

    pub fn locktime(&self) -> SimDuration {
        self.params.locktime
    }

    pub fn next_timeout(&self) -> Option<SimTime> {
        let entry = self.entry_timers.first().map(|(t, _)| *t);
        self.table_timers
            .iter()
            .copied()
            .chain([entry])
            .flatten()
            .min()
    }

    /// `neigh_confirm`: only the timestamp; the timers read it when they fire.
    pub fn confirm(&mut self, now: SimTime, ip: A) {
        if let Some(entry) = self.entries.get_mut(&ip) {
            entry.confirmed = Some(now);
        }
    }

    // --- sending (net/core/neighbour.c __neigh_event_send) ---

    pub fn send(&mut self, now: SimTime, ip: A, packet_id: PacketId, out: &mut Vec<Output<A>>) {
        let p = self.params;
        let entry = self.entries.entry(ip).or_insert_with(|| Entry::new(now));
        match entry.state {
            Some(NudState::Reachable) => {
                // Fast path (neigh_hh_output): `used` is not touched.
            }
            _ => entry.used = now,
        }
        match entry.state {
            Some(NudState::Reachable | NudState::Delay | NudState::Probe) => {
                out.push(transmit(packet_id, ip, entry));
            }
            Some(NudState::Stale) => {
                set_state(ip, entry, NudState::Delay, out);
                entry.updated = now;
                let deadline = now + p.delay_first_probe_time;
                set_timer(&mut self.entry_timers, ip, entry, Some(deadline));
                out.push(transmit(packet_id, ip, entry));
            }
            Some(NudState::Incomplete) => enqueue(ip, entry, packet_id, p.unres_qlen, out),
            None | Some(NudState::Failed) => {
                if p.mcast_solicit == 0 {
                    set_state(ip, entry, NudState::Failed, out);
                    entry.updated = now;
                    out.push(Output::Drop {
                        packet_id,
                        ip,
                        reason: DropReason::Unreachable,
                    });
                    return;
                }
                // Skip the unicast probes: nothing is cached to probe.
                entry.probes = p.ucast_solicit;
                set_state(ip, entry, NudState::Incomplete, out);
                entry.updated = now;
                let deadline = now + p.retrans_time.max(MIN_TIMER_STEP);
                set_timer(&mut self.entry_timers, ip, entry, Some(deadline));
                enqueue(ip, entry, packet_id, p.unres_qlen, out);
                solicit(&p, ip, entry, out);
            }
        }
    }

    // --- timers (neigh_timer_handler, neigh_periodic_work) ---

    pub fn timers(&mut self, now: SimTime, out: &mut Vec<Output<A>>) {
        let slot = TableTimer::RedrawReachableTime as usize;
        if self.table_timers[slot].is_some_and(|t| t <= now) {
            self.reachable_time = self.draw_reachable_time();
            self.table_timers[slot] = Some(self.next_redraw(now));
        }
        // Each handler re-arms at least MIN_TIMER_STEP later, so this ends.
        while let Some(&(deadline, ip)) = self.entry_timers.first() {
            if deadline > now {
                break;
            }
            self.entry_timers.pop_first();
            if let Some(entry) = self.entries.get_mut(&ip) {
                entry.timer = None;
            }
            self.entry_timer(now, ip, out);
        }
    }

    fn entry_timer(&mut self, now: SimTime, ip: A, out: &mut Vec<Output<A>>) {
        let p = self.params;
        let reachable_time = self.reachable_time;
        let Some(entry) = self.entries.get_mut(&ip) else {
            return;
        };
        let retrans = p.retrans_time.max(MIN_TIMER_STEP);
        let mut next = now + SimDuration::from_secs(1);
        match entry.state {
            Some(NudState::Reachable) => {
                let confirmed_until = entry.confirmed.map(|c| c + reachable_time);
                if confirmed_until.is_some_and(|until| now <= until) {
                    next = confirmed_until.unwrap_or(next);
                } else if now <= entry.used + p.delay_first_probe_time {
                    set_state(ip, entry, NudState::Delay, out);
                    entry.updated = now;
                    next = now + p.delay_first_probe_time;
                } else {
                    set_state(ip, entry, NudState::Stale, out);
                    entry.updated = now;
                }
            }
            Some(NudState::Delay) => {
                let confirmed_recently = entry
                    .confirmed
                    .is_some_and(|c| now <= c + p.delay_first_probe_time);
                if confirmed_recently {
                    set_state(ip, entry, NudState::Reachable, out);
                    entry.updated = now;
                    next = entry.confirmed.map_or(next, |c| c + reachable_time);
                } else {
                    set_state(ip, entry, NudState::Probe, out);
                    entry.updated = now;
                    entry.probes = 0;
                    next = now + retrans;
                }
            }
            Some(NudState::Incomplete | NudState::Probe) => next = now + retrans,
            // No timer runs in these states (a deadline left from before a transition was
            // removed with it); a wake-up finding one does nothing.
            Some(NudState::Stale | NudState::Failed) | None => return,
        }

        let probing = matches!(entry.state, Some(NudState::Incomplete | NudState::Probe));
        if probing && entry.probes >= max_probes(&p, entry) {
            set_state(ip, entry, NudState::Failed, out);
            // neigh_invalidate
            entry.updated = now;
            for packet_id in entry.queue.drain(..) {
                out.push(Output::Drop {
                    packet_id,
                    ip,
                    reason: DropReason::Unreachable,
                });
            }
            return;
        }
        if entry.state.is_some_and(NudState::in_timer) {
            set_timer(
                &mut self.entry_timers,
                ip,
                entry,
                Some(next.max(now + MIN_TIMER_STEP)),
            );
        }
        if probing {
            solicit(&p, ip, entry, out);
        }
    }

    /// `neigh_update` without the administrative flags. `lladdr: None` is a message without
    /// a link-layer address option: it can only confirm a valid entry's cached MAC.
    pub fn update(
        &mut self,
        now: SimTime,
        ip: A,
        lladdr: Option<MacAddr>,
        proposed: NudState,
        flags: UpdateFlags,
        out: &mut Vec<Output<A>>,
    ) {
        let reachable_time = self.reachable_time;
        let Some(entry) = self.entries.get_mut(&ip) else {
            return;
        };
        let old = entry.state;
        let old_valid = entry.valid();
        // "No address is supplied; if we know something, use it, otherwise discard."
        let Some(mut lladdr) = lladdr.or(if old_valid { entry.mac } else { None }) else {
            return;
        };
        if proposed.is_connected() {
            entry.confirmed = Some(now);
        }
        let mut new = Some(proposed);
        let mut update_isrouter = flags.is_router.is_some();
        if old_valid {
            let same_mac = entry.mac == Some(lladdr);
            if !same_mac && !flags.override_ {
                update_isrouter = false;
                if flags.weak_override && old.is_some_and(NudState::is_connected) {
                    lladdr = entry.mac.unwrap_or(lladdr);
                    new = Some(NudState::Stale);
                } else {
                    return;
                }
            } else if same_mac && proposed == NudState::Stale {
                // A valid entry with the same address keeps its state.
                new = old;
            }
        }
        let same_mac = old_valid && entry.mac == Some(lladdr);
        if update_isrouter {
            entry.is_router = flags.is_router.unwrap_or(entry.is_router);
        }
        if new != old || !same_mac {
            // Only real changes move the locktime window.
            entry.updated = now;
        }
        if let Some(to) = new.filter(|&n| Some(n) != old) {
            let deadline = match to {
                NudState::Reachable => Some(now + reachable_time),
                s if s.in_timer() => Some(now),
                _ => None,
            };
            set_timer(&mut self.entry_timers, ip, entry, deadline);
            set_state(ip, entry, to, out);
        }
        if !same_mac {
            if entry.mac != Some(lladdr) {
                out.push(Output::MacChanged {
                    ip,
                    from: entry.mac,
                    to: lladdr,
                });
            }
            entry.mac = Some(lladdr);
            if !new.is_some_and(NudState::is_connected) {
                entry.confirmed = None;
            }
        }
        if new == old {
            return;
        }
        if !old_valid {
            // Resolved: the queued packets leave, oldest first.
            for packet_id in entry.queue.drain(..) {
                out.push(Output::Transmit {
                    packet_id,
                    ip,
                    mac: lladdr,
                });
            }
        }
    }

    /// neigh_rand_reach_time: uniform in [base/2, 3·base/2), from the host's seed.
    fn draw_reachable_time(&mut self) -> SimDuration {
        let base = self.params.base_reachable_time.as_nanos();
        let x = splitmix64(
            self.seed
                .wrapping_add(self.draws.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        );
        self.draws += 1;
        // Multiply-high maps x onto [0, base) without modulo bias.
        let offset = ((u128::from(x) * u128::from(base)) >> 64) as u64;
        SimDuration::from_nanos(base / 2 + offset)
    }

    /// The first neigh_periodic_work run (every base/2 from time zero) strictly more than
    /// 300 s after `last_draw`.
    fn next_redraw(&self, last_draw: SimTime) -> SimTime {
        let period =
            (self.params.base_reachable_time.as_nanos() / 2).max(MIN_TIMER_STEP.as_nanos());
        let threshold = last_draw.as_nanos().saturating_add(REDRAW_AFTER.as_nanos());
        SimTime(
            (threshold / period)
                .saturating_add(1)
                .saturating_mul(period),
        )
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn transmit<A>(packet_id: PacketId, ip: A, entry: &Entry) -> Output<A> {
    // Valid states always hold a MAC; broadcast keeps this total should that ever break.
    Output::Transmit {
        packet_id,
        ip,
        mac: entry.mac.unwrap_or(MacAddr::BROADCAST),
    }
}

fn set_state<A>(ip: A, entry: &mut Entry, to: NudState, out: &mut Vec<Output<A>>) {
    if entry.state != Some(to) {
        out.push(Output::StateChanged {
            ip,
            from: entry.state,
            to,
        });
        entry.state = Some(to);
    }
}

fn set_timer<A: Ord + Copy>(
    index: &mut BTreeSet<(SimTime, A)>,
    ip: A,
    entry: &mut Entry,
    deadline: Option<SimTime>,
) {
    if let Some(old) = entry.timer.take() {
        index.remove(&(old, ip));
    }
    if let Some(t) = deadline {
        index.insert((t, ip));
        entry.timer = Some(t);
    }
}

fn enqueue<A: Copy>(
    ip: A,
    entry: &mut Entry,
    packet_id: PacketId,
    limit: usize,
    out: &mut Vec<Output<A>>,
) {
    // Like the kernel's byte budget: make room by dropping the oldest, then queue anyway.
    while entry.queue.len() >= limit.max(1) {
        match entry.queue.pop_front() {
            Some(old) => out.push(Output::Drop {
                packet_id: old,
                ip,
                reason: DropReason::QueueFull,
            }),
            None => break,
        }
    }
    entry.queue.push_back(packet_id);
}

/// neigh_max_probes.
fn max_probes(p: &NudParams, entry: &Entry) -> u32 {
    let multicast = if entry.state == Some(NudState::Probe) {
        p.mcast_resolicit
    } else {
        p.mcast_solicit
    };
    p.ucast_solicit.saturating_add(multicast)
}

/// neigh_probe -> arp_solicit / ndisc_solicit: the first `ucast_solicit` probes go to the
/// cached MAC, the rest are multicast (INCOMPLETE starts counting at `ucast_solicit`, so it
/// only multicasts).
fn solicit<A>(p: &NudParams, ip: A, entry: &mut Entry, out: &mut Vec<Output<A>>) {
    let unicast_to = if entry.probes < p.ucast_solicit {
        entry.mac
    } else {
        None
    };
    out.push(Output::Solicit {
        target_ip: ip,
        unicast_to,
    });
    entry.probes = entry.probes.saturating_add(1);
}

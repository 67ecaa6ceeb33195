//! A host's IPv4 neighbour cache as Linux keeps it (NUD, "neighbour unreachability
//! detection"): net/core/neighbour.c for the state machine, net/ipv4/arp.c for what a received
//! ARP does, Documentation/networking/ip-sysctl.rst for the knobs.
//!
//! ```text
//!  (none)/FAILED ──send──► INCOMPLETE ──reply──► REACHABLE ──reachable_time──► STALE
//!                          │ mcast_solicit            ▲  ▲                       │ send
//!                          │ broadcasts, 1 s apart    │  └── confirmed ◄─┐       ▼
//!                          ▼                          └── unicast reply  └──── DELAY (5 s)
//!                        FAILED ◄── ucast_solicit unicast probes, 1 s apart ── PROBE ◄┘
//! ```
//!
//! What the kernel does and this model follows:
//! - REACHABLE lasts `reachable_time`, one value per device drawn uniformly from
//!   [base/2, 3·base/2) (`neigh_rand_reach_time`) and redrawn by `neigh_periodic_work` at its
//!   first run more than 300 s after the last draw; that work runs every base/2 (15 s), so the
//!   redraw comes every 315 s. Draws come from a per-host seed (`NeighbourConfig::seed`).
//! - A REACHABLE entry whose time is up goes to DELAY if it was *used* within
//!   delay_first_probe_time, else to STALE (`neigh_timer_handler`). Sends in REACHABLE take the
//!   cached-header fast path (`neigh_output` -> `neigh_hh_output`, include/net/neighbour.h),
//!   which does not touch `used`, so in practice REACHABLE -> STALE, and the next send makes
//!   it DELAY.
//! - DELAY becomes REACHABLE if the entry was confirmed (forward progress, [`Input::Confirm`])
//!   within delay_first_probe_time, else PROBE: `ucast_solicit` unicast requests to the cached
//!   MAC `retrans_time` apart (packets keep flowing to that MAC meanwhile), then FAILED.
//! - INCOMPLETE sends `mcast_solicit` broadcast requests `retrans_time` apart, the first at
//!   once; packets wait in a queue of `unres_qlen` (oldest dropped on overflow,
//!   `__neigh_event_send`). On FAILED they are all dropped (`neigh_invalidate`; the kernel
//!   reports "host unreachable" to their senders via `arp_error_report`). The next send
//!   starts a new broadcast resolution.
//! - A received ARP updates an existing entry for its SPA (`arp_process`, "Update our ARP
//!   tables"). Changing the MAC of a valid entry needs *override*: the entry last changed more
//!   than `locktime` ago, or the frame is gratuitous (`arp_is_garp`: SPA == TPA, for replies
//!   also THA == SHA, and SPA unicast). A reply addressed to this host makes the entry
//!   REACHABLE; requests and broadcast replies make it STALE (same MAC: state kept).
//! - `arp_accept` decides whether unsolicited ARP creates an entry: 0 never, 1 for a
//!   gratuitous ARP or any reply from a unicast SPA, 2 as 1 but only if SPA is in a subnet
//!   configured on the interface (ip-sysctl.rst `arp_accept`; arp.c `arp_accept`).
//! - A request for this host's own address creates or refreshes the requester's entry as STALE
//!   and is answered (`neigh_event_ns`, `arp_send(ARPOP_REPLY, ...)`), with `arp_ignore` 0.
//!
//! Model choices:
//! - `ignores_garp` models hosts that do not learn from gratuitous ARP. It behaves like the
//!   kernel's `drop_gratuitous_arp` sysctl: every frame with SPA == TPA is dropped on receipt.
//! - Garbage collection (gc_stale_time, gc_thresh*) is left out: entries, FAILED ones too, stay
//!   until the cache is dropped. It never changes what is sent, only memory.
//! - app_solicit (user-space arpd) is 0 and not modelled; the queue limit counts packets
//!   (`unres_qlen`, default 101 = unres_qlen_bytes 212992 / truesize of a full frame) rather
//!   than bytes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::Ipv4Addr;

use sim_core::{SimDuration, SimTime};

use crate::wire::{Arp, ArpOp, EthernetFrame, MacAddr};

/// Identifies a data packet the caller wants delivered; the cache hands it back in
/// [`Output::Transmit`] or [`Output::Drop`].
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct PacketId(pub u64);

/// `net.ipv4.conf.*.arp_accept`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ArpAccept {
    /// 0 (default): unsolicited ARP never creates an entry; existing entries still update.
    #[default]
    Never,
    /// 1: gratuitous ARP and unsolicited replies create entries.
    Always,
    /// 2: as 1, but only when SPA is in the interface's subnet.
    SameSubnet,
}

/// Settings of one host interface, with the kernel's defaults from [`NeighbourConfig::linux`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NeighbourConfig {
    /// This interface's MAC (ARP frames addressed here are "for us").
    pub own_mac: MacAddr,
    /// This interface's IPv4 address.
    pub own_ip: Ipv4Addr,
    /// Prefix length of `own_ip`'s subnet (for `arp_accept = 2` and broadcast detection).
    pub prefix_len: u8,
    /// `base_reachable_time_ms`, 30 s.
    pub base_reachable_time: SimDuration,
    /// `delay_first_probe_time`, 5 s.
    pub delay_first_probe_time: SimDuration,
    /// `retrans_time_ms`, 1 s.
    pub retrans_time: SimDuration,
    /// `ucast_solicit`, 3: unicast probes in PROBE.
    pub ucast_solicit: u32,
    /// `mcast_solicit`, 3: broadcast requests in INCOMPLETE.
    pub mcast_solicit: u32,
    /// `mcast_resolicit`, 0: broadcast requests in PROBE after the unicast ones.
    pub mcast_resolicit: u32,
    /// `locktime`, 1 s: a valid entry's MAC changes only if it last changed longer ago
    /// (or the ARP is gratuitous).
    pub locktime: SimDuration,
    /// Packets queued per unresolved address, 101.
    pub unres_qlen: usize,
    /// `arp_accept`, 0.
    pub arp_accept: ArpAccept,
    /// Host drops every gratuitous-looking ARP (SPA == TPA), like `drop_gratuitous_arp = 1`.
    pub ignores_garp: bool,
    /// Seed of this host's reachable_time draws (derive it from the run seed and host name).
    pub seed: u64,
}

impl NeighbourConfig {
    /// Linux defaults (net/ipv4/arp.c `arp_tbl`) for an interface `own_ip/prefix_len` at
    /// `own_mac`.
    pub fn linux(own_mac: MacAddr, own_ip: Ipv4Addr, prefix_len: u8, seed: u64) -> Self {
        NeighbourConfig {
            own_mac,
            own_ip,
            prefix_len,
            base_reachable_time: SimDuration::from_secs(30),
            delay_first_probe_time: SimDuration::from_secs(5),
            retrans_time: SimDuration::from_secs(1),
            ucast_solicit: 3,
            mcast_solicit: 3,
            mcast_resolicit: 0,
            locktime: SimDuration::from_secs(1),
            unres_qlen: 101,
            arp_accept: ArpAccept::Never,
            ignores_garp: false,
            seed,
        }
    }
}

/// NUD state of an entry (include/uapi/linux/neighbour.h). NONE, NOARP and PERMANENT do not
/// occur: entries leave NONE within the call that creates them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum NudState {
    /// Resolving: broadcast requests out, packets queued.
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

/// What happens to a host's neighbour cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The host wants to send a packet to the on-link next hop `ip`.
    Send {
        /// Next hop.
        ip: Ipv4Addr,
        /// The packet, returned in an output.
        packet_id: PacketId,
    },
    /// An ARP frame arrived; `eth_dst` is its Ethernet destination, which decides whether it
    /// was addressed to this host (a reply only confirms reachability then; a unicast frame
    /// for another MAC is ignored, like `PACKET_OTHERHOST` in arp_rcv).
    ArpReceived {
        /// The ARP message.
        arp: Arp,
        /// Ethernet destination of the frame that carried it.
        eth_dst: MacAddr,
    },
    /// Upper-layer proof that `ip` is reachable (TCP forward progress: `dst_confirm_neigh`).
    Confirm {
        /// Next hop.
        ip: Ipv4Addr,
    },
    /// A wake-up requested by [`NeighbourCache::next_timeout`]; nothing due means nothing done.
    Timer,
}

/// Why a packet was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DropReason {
    /// The unresolved queue was full; the oldest packet made room (`unres_discards`).
    QueueFull,
    /// Resolution failed (the kernel answers the sender with ICMP host unreachable).
    Unreachable,
}

/// What the cache asks the host to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send the packet to `mac`.
    Transmit {
        /// The packet.
        packet_id: PacketId,
        /// Its next hop.
        ip: Ipv4Addr,
        /// Ethernet destination.
        mac: MacAddr,
    },
    /// Send an ARP request for `target_ip` from this interface, broadcast or unicast to
    /// `unicast_to`. [`NeighbourCache::frame_for`] builds the frame.
    SendArpRequest {
        /// Address being resolved.
        target_ip: Ipv4Addr,
        /// `Some(mac)` for a PROBE-state unicast probe.
        unicast_to: Option<MacAddr>,
    },
    /// Answer a request for this host's address: "own_ip is at own_mac", to `target_mac`.
    SendArpReply {
        /// The requester's IP (0.0.0.0 when defending against a duplicate-address probe).
        target_ip: Ipv4Addr,
        /// The requester's MAC.
        target_mac: MacAddr,
    },
    /// The packet is lost.
    Drop {
        /// The packet.
        packet_id: PacketId,
        /// Its next hop.
        ip: Ipv4Addr,
        /// Why.
        reason: DropReason,
    },
    /// An entry changed state (`from: None` for a new entry).
    StateChanged {
        /// The entry.
        ip: Ipv4Addr,
        /// Previous state.
        from: Option<NudState>,
        /// New state.
        to: NudState,
    },
    /// An entry's cached MAC changed.
    MacChanged {
        /// The entry.
        ip: Ipv4Addr,
        /// Previous MAC, if any.
        from: Option<MacAddr>,
        /// New MAC.
        to: MacAddr,
    },
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

/// One host interface's neighbour cache. Pure: feed it [`Input`]s with the current time,
/// perform the [`Output`]s, and wake it at [`NeighbourCache::next_timeout`].
///
/// ```
/// use std::net::Ipv4Addr;
/// use l2::neighbour::{Input, NeighbourCache, NeighbourConfig, NudState, Output, PacketId};
/// use l2::wire::{Arp, MacAddr};
/// use sim_core::SimTime;
///
/// let me = MacAddr([2, 0, 0, 0, 0, 1]);
/// let gw = MacAddr([2, 0, 0, 0, 0, 2]);
/// let mut cache = NeighbourCache::new(NeighbourConfig::linux(me, Ipv4Addr::new(10, 0, 0, 1), 24, 7));
/// let out = cache.handle(SimTime::ZERO, Input::Send { ip: Ipv4Addr::new(10, 0, 0, 2), packet_id: PacketId(1) });
/// assert!(out.contains(&Output::SendArpRequest { target_ip: Ipv4Addr::new(10, 0, 0, 2), unicast_to: None }));
/// let request = Arp::request(me, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
/// let out = cache.handle(SimTime(1_000), Input::ArpReceived { arp: Arp::reply_to(&request, gw), eth_dst: me });
/// assert!(out.contains(&Output::Transmit { packet_id: PacketId(1), ip: Ipv4Addr::new(10, 0, 0, 2), mac: gw }));
/// assert_eq!(cache.lookup(Ipv4Addr::new(10, 0, 0, 2)), Some((NudState::Reachable, Some(gw))));
/// ```
#[derive(Debug, Clone)]
pub struct NeighbourCache {
    config: NeighbourConfig,
    entries: BTreeMap<Ipv4Addr, Entry>,
    /// (deadline, ip) of every armed entry timer, earliest first.
    entry_timers: BTreeSet<(SimTime, Ipv4Addr)>,
    table_timers: [Option<SimTime>; TableTimer::COUNT],
    reachable_time: SimDuration,
    draws: u64,
}

impl NeighbourCache {
    /// An empty cache, as at time zero.
    pub fn new(config: NeighbourConfig) -> Self {
        let mut cache = NeighbourCache {
            config,
            entries: BTreeMap::new(),
            entry_timers: BTreeSet::new(),
            table_timers: [None; TableTimer::COUNT],
            reachable_time: SimDuration::ZERO,
            draws: 0,
        };
        cache.reachable_time = cache.draw_reachable_time();
        cache.table_timers[TableTimer::RedrawReachableTime as usize] =
            Some(cache.next_redraw(SimTime::ZERO));
        cache
    }

    /// The settings.
    pub fn config(&self) -> &NeighbourConfig {
        &self.config
    }

    /// How long REACHABLE lasts after a confirmation, as currently drawn.
    pub fn reachable_time(&self) -> SimDuration {
        self.reachable_time
    }

    /// State and MAC of the entry for `ip`; the MAC only while the state is valid (as
    /// `ip neigh` shows it).
    pub fn lookup(&self, ip: Ipv4Addr) -> Option<(NudState, Option<MacAddr>)> {
        let entry = self.entries.get(&ip)?;
        let state = entry.state?;
        Some((state, if state.is_valid() { entry.mac } else { None }))
    }

    /// The earliest time the cache needs a [`Input::Timer`].
    pub fn next_timeout(&self) -> Option<SimTime> {
        let entry = self.entry_timers.first().map(|(t, _)| *t);
        self.table_timers
            .iter()
            .copied()
            .chain([entry])
            .flatten()
            .min()
    }

    /// The Ethernet frame for an ARP output ([`Output::SendArpRequest`],
    /// [`Output::SendArpReply`]); `None` for other outputs.
    pub fn frame_for(&self, output: &Output) -> Option<EthernetFrame> {
        let (me, my_ip) = (self.config.own_mac, self.config.own_ip);
        match *output {
            Output::SendArpRequest {
                target_ip,
                unicast_to,
            } => Some(EthernetFrame::arp(
                unicast_to.unwrap_or(MacAddr::BROADCAST),
                me,
                &Arp::request(me, my_ip, target_ip),
            )),
            Output::SendArpReply {
                target_ip,
                target_mac,
            } => Some(EthernetFrame::arp(
                target_mac,
                me,
                &Arp {
                    op: ArpOp::Reply,
                    sender_mac: me,
                    sender_ip: my_ip,
                    target_mac,
                    target_ip,
                },
            )),
            _ => None,
        }
    }

    /// Processes one input at `now` and returns what to do, in order.
    pub fn handle(&mut self, now: SimTime, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Send { ip, packet_id } => self.send(now, ip, packet_id, &mut out),
            Input::ArpReceived { arp, eth_dst } => self.arp_received(now, &arp, eth_dst, &mut out),
            Input::Confirm { ip } => {
                // neigh_confirm: only the timestamp; the timers read it when they fire.
                if let Some(entry) = self.entries.get_mut(&ip) {
                    entry.confirmed = Some(now);
                }
            }
            Input::Timer => self.timers(now, &mut out),
        }
        out
    }

    // --- sending (net/core/neighbour.c __neigh_event_send) ---

    fn send(&mut self, now: SimTime, ip: Ipv4Addr, packet_id: PacketId, out: &mut Vec<Output>) {
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
                let deadline = now + self.config.delay_first_probe_time;
                set_timer(&mut self.entry_timers, ip, entry, Some(deadline));
                out.push(transmit(packet_id, ip, entry));
            }
            Some(NudState::Incomplete) => {
                enqueue(ip, entry, packet_id, self.config.unres_qlen, out)
            }
            None | Some(NudState::Failed) => {
                if self.config.mcast_solicit == 0 {
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
                entry.probes = self.config.ucast_solicit;
                set_state(ip, entry, NudState::Incomplete, out);
                entry.updated = now;
                let deadline = now + self.config.retrans_time.max(MIN_TIMER_STEP);
                set_timer(&mut self.entry_timers, ip, entry, Some(deadline));
                enqueue(ip, entry, packet_id, self.config.unres_qlen, out);
                solicit(&self.config, ip, entry, out);
            }
        }
    }

    // --- timers (neigh_timer_handler, neigh_periodic_work) ---

    fn timers(&mut self, now: SimTime, out: &mut Vec<Output>) {
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

    fn entry_timer(&mut self, now: SimTime, ip: Ipv4Addr, out: &mut Vec<Output>) {
        let cfg = &self.config;
        let reachable_time = self.reachable_time;
        let Some(entry) = self.entries.get_mut(&ip) else {
            return;
        };
        let retrans = cfg.retrans_time.max(MIN_TIMER_STEP);
        let mut next = now + SimDuration::from_secs(1);
        match entry.state {
            Some(NudState::Reachable) => {
                let confirmed_until = entry.confirmed.map(|c| c + reachable_time);
                if confirmed_until.is_some_and(|until| now <= until) {
                    next = confirmed_until.unwrap_or(next);
                } else if now <= entry.used + cfg.delay_first_probe_time {
                    set_state(ip, entry, NudState::Delay, out);
                    entry.updated = now;
                    next = now + cfg.delay_first_probe_time;
                } else {
                    set_state(ip, entry, NudState::Stale, out);
                    entry.updated = now;
                }
            }
            Some(NudState::Delay) => {
                let confirmed_recently = entry
                    .confirmed
                    .is_some_and(|c| now <= c + cfg.delay_first_probe_time);
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
        if probing && entry.probes >= max_probes(cfg, entry) {
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
            solicit(cfg, ip, entry, out);
        }
    }

    // --- receiving (net/ipv4/arp.c arp_process) ---

    fn arp_received(&mut self, now: SimTime, arp: &Arp, eth_dst: MacAddr, out: &mut Vec<Output>) {
        let cfg = &self.config;
        let for_us = eth_dst == cfg.own_mac;
        // arp_rcv drops frames for other hosts (PACKET_OTHERHOST).
        if !for_us && eth_dst.is_unicast() {
            return;
        }
        if !matches!(arp.op, ArpOp::Request | ArpOp::Reply) {
            return;
        }
        if arp.target_ip.is_multicast() || arp.target_ip.is_loopback() {
            return;
        }
        // drop_gratuitous_arp: "gratuitous ARP frames are attacks" in some deployments.
        if cfg.ignores_garp && arp.sender_ip == arp.target_ip {
            return;
        }
        let (sip, sha) = (arp.sender_ip, arp.sender_mac);
        if sip.is_unspecified() {
            // Duplicate address detection probe (RFC 5227): defend our address.
            if arp.op == ArpOp::Request && arp.target_ip == cfg.own_ip {
                out.push(Output::SendArpReply {
                    target_ip: sip,
                    target_mac: sha,
                });
            }
            return;
        }
        if arp.op == ArpOp::Request && arp.target_ip == cfg.own_ip {
            // neigh_event_ns: the requester will talk to us, cache it as STALE; then reply.
            self.entries.entry(sip).or_insert_with(|| Entry::new(now));
            self.update(now, sip, sha, NudState::Stale, true, out);
            out.push(Output::SendArpReply {
                target_ip: sip,
                target_mac: sha,
            });
            return;
        }

        // "Update our ARP tables".
        let exists = self.entries.get(&sip).is_some_and(|e| e.state.is_some());
        let accept = match cfg.arp_accept {
            ArpAccept::Never => false,
            ArpAccept::Always => true,
            ArpAccept::SameSubnet => self.in_own_subnet(sip),
        };
        let sip_unicast = self.is_unicast_for_us(sip);
        let is_garp = (exists || accept) && arp.is_gratuitous() && sip_unicast;
        if !exists && accept && (is_garp || (arp.op == ArpOp::Reply && sip_unicast)) {
            self.entries.entry(sip).or_insert_with(|| Entry::new(now));
        }
        let Some(entry) = self.entries.get(&sip) else {
            return;
        };
        // "If several different ARP replies follow back-to-back, use the FIRST one."
        let override_ = now > entry.updated + self.config.locktime || is_garp;
        // "Broadcast replies and request packets do not assert neighbour reachability."
        let state = if arp.op == ArpOp::Reply && for_us {
            NudState::Reachable
        } else {
            NudState::Stale
        };
        self.update(now, sip, sha, state, override_, out);
    }

    /// neigh_update without the administrative flags.
    fn update(
        &mut self,
        now: SimTime,
        ip: Ipv4Addr,
        lladdr: MacAddr,
        proposed: NudState,
        override_: bool,
        out: &mut Vec<Output>,
    ) {
        let reachable_time = self.reachable_time;
        let Some(entry) = self.entries.get_mut(&ip) else {
            return;
        };
        let old = entry.state;
        let old_valid = entry.valid();
        let same_mac = old_valid && entry.mac == Some(lladdr);
        if proposed.is_connected() {
            entry.confirmed = Some(now);
        }
        let mut new = Some(proposed);
        if old_valid {
            if !same_mac && !override_ {
                return;
            }
            if same_mac && proposed == NudState::Stale {
                // A valid entry with the same address keeps its state.
                new = old;
            }
        }
        if new != old || !same_mac {
            // Only real changes move the locktime window.
            entry.updated = now;
        }
        if new != old {
            let deadline = match new {
                Some(NudState::Reachable) => Some(now + reachable_time),
                Some(s) if s.in_timer() => Some(now),
                _ => None,
            };
            set_timer(&mut self.entry_timers, ip, entry, deadline);
            set_state(ip, entry, proposed, out); // `new` is `Some(proposed)` here
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

    // --- helpers ---

    fn in_own_subnet(&self, ip: Ipv4Addr) -> bool {
        let mask = prefix_mask(self.config.prefix_len);
        u32::from(ip) & mask == u32::from(self.config.own_ip) & mask
    }

    /// `inet_addr_type(..) == RTN_UNICAST` as far as one interface can tell: not unspecified,
    /// limited or subnet broadcast, multicast, loopback, or our own address.
    fn is_unicast_for_us(&self, ip: Ipv4Addr) -> bool {
        let mask = prefix_mask(self.config.prefix_len);
        let subnet_broadcast = self.config.prefix_len < 31
            && self.in_own_subnet(ip)
            && u32::from(ip) | mask == u32::MAX;
        !(ip.is_unspecified()
            || ip.is_broadcast()
            || ip.is_multicast()
            || ip.is_loopback()
            || ip == self.config.own_ip
            || subnet_broadcast)
    }

    /// neigh_rand_reach_time: uniform in [base/2, 3·base/2), from the host's seed.
    fn draw_reachable_time(&mut self) -> SimDuration {
        let base = self.config.base_reachable_time.as_nanos();
        let x = splitmix64(
            self.config
                .seed
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
            (self.config.base_reachable_time.as_nanos() / 2).max(MIN_TIMER_STEP.as_nanos());
        let threshold = last_draw.as_nanos().saturating_add(REDRAW_AFTER.as_nanos());
        SimTime(
            (threshold / period)
                .saturating_add(1)
                .saturating_mul(period),
        )
    }
}

fn prefix_mask(prefix_len: u8) -> u32 {
    match prefix_len {
        0 => 0,
        n => u32::MAX << (32 - u32::from(n.min(32))),
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn transmit(packet_id: PacketId, ip: Ipv4Addr, entry: &Entry) -> Output {
    // Valid states always hold a MAC; broadcast keeps this total should that ever break.
    Output::Transmit {
        packet_id,
        ip,
        mac: entry.mac.unwrap_or(MacAddr::BROADCAST),
    }
}

fn set_state(ip: Ipv4Addr, entry: &mut Entry, to: NudState, out: &mut Vec<Output>) {
    if entry.state != Some(to) {
        out.push(Output::StateChanged {
            ip,
            from: entry.state,
            to,
        });
        entry.state = Some(to);
    }
}

fn set_timer(
    index: &mut BTreeSet<(SimTime, Ipv4Addr)>,
    ip: Ipv4Addr,
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

fn enqueue(
    ip: Ipv4Addr,
    entry: &mut Entry,
    packet_id: PacketId,
    limit: usize,
    out: &mut Vec<Output>,
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
fn max_probes(cfg: &NeighbourConfig, entry: &Entry) -> u32 {
    let multicast = if entry.state == Some(NudState::Probe) {
        cfg.mcast_resolicit
    } else {
        cfg.mcast_solicit
    };
    cfg.ucast_solicit.saturating_add(multicast)
}

/// neigh_probe -> arp_solicit: the first `ucast_solicit` probes go to the cached MAC, the
/// rest are broadcast (INCOMPLETE starts counting at `ucast_solicit`, so it only broadcasts).
fn solicit(cfg: &NeighbourConfig, ip: Ipv4Addr, entry: &mut Entry, out: &mut Vec<Output>) {
    let unicast_to = if entry.probes < cfg.ucast_solicit {
        entry.mac
    } else {
        None
    };
    out.push(Output::SendArpRequest {
        target_ip: ip,
        unicast_to,
    });
    entry.probes = entry.probes.saturating_add(1);
}

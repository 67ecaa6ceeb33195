//! A pure learning switch (IEEE 802.1D transparent bridging, the part lbsim needs): ports
//! that are up or down, MAC learning on the source address, flooding of broadcast, multicast
//! and unknown unicast (never back out of the ingress port), per-entry aging, and a flush of
//! the entries on a port that goes down.
//!
//! Defaults follow 802.1D's recommended ageing time of 300 s, which Linux bridges also use
//! (`br->ageing_time = BR_DEFAULT_AGEING_TIME`, 300 * HZ, net/bridge/br_device.c br_dev_setup). MetalLB answers
//! with the node's real MAC, so an L2 failover needs no switch update (DESIGN.md, "Switch").
//!
//! ```text
//!   frame (ingress, src, dst) ──► learn src→ingress ──► dst known? ──yes──► [that port]
//!                                                           │ no / group address
//!                                                           └──────────► every up port but ingress
//! ```
//!
//! Timers: one deadline per table entry, so instead of an enum-indexed table the switch keeps
//! an ordered index of (expiry, MAC); [`Switch::next_timeout`] is its first element.

use std::collections::{BTreeMap, BTreeSet};

use sim_core::{SimDuration, SimTime};

use crate::wire::{EthernetFrame, MacAddr};

/// A switch port, numbered from 0.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct PortId(pub u32);

/// Switch settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SwitchConfig {
    /// Number of ports, numbered 0..port_count; all start up.
    pub port_count: u32,
    /// How long a learned address lives without being seen as a source again (300 s).
    pub aging_time: SimDuration,
    /// Flood unknown unicast (the default). `false` drops it, as a Linux bridge port with
    /// `flood off` (net/bridge/br_forward.c br_flood skips ports without BR_FLOOD) or a switch
    /// with unknown-unicast flood blocking does.
    pub flood_unknown_unicast: bool,
}

impl SwitchConfig {
    /// `port_count` ports, 300 s aging.
    pub fn new(port_count: u32) -> Self {
        SwitchConfig {
            port_count,
            aging_time: SimDuration::from_secs(300),
            flood_unknown_unicast: true,
        }
    }
}

/// Why a frame went where it went, for metrics and traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Delivery {
    /// Destination known: one port.
    Unicast,
    /// Broadcast or multicast destination: every up port but the ingress.
    FloodGroup,
    /// Unknown unicast destination: every up port but the ingress.
    FloodUnknown,
    /// Destination known on the ingress port itself: nothing to send.
    Filtered,
    /// Ingress port down or out of range: the frame is lost.
    Dropped,
}

/// Where a frame leaves the switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Egress {
    /// Egress ports, ascending.
    pub ports: Vec<PortId>,
    /// Why.
    pub delivery: Delivery,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FdbEntry {
    port: PortId,
    expires: SimTime,
}

/// The learning switch. See the module documentation.
#[derive(Debug, Clone)]
pub struct Switch {
    config: SwitchConfig,
    up: Vec<bool>,
    fdb: BTreeMap<MacAddr, FdbEntry>,
    /// (expiry, address) for every entry of `fdb`, so the earliest deadline is first.
    expiry: BTreeSet<(SimTime, MacAddr)>,
}

impl Switch {
    /// A switch with every port up and an empty address table.
    pub fn new(config: SwitchConfig) -> Self {
        let up = vec![true; config.port_count as usize];
        Switch {
            config,
            up,
            fdb: BTreeMap::new(),
            expiry: BTreeSet::new(),
        }
    }

    /// Forwards a frame that arrived on `ingress` with addresses `src` and `dst`: learns `src`
    /// (unless it is a group address) and returns the egress ports. Entries that expired by
    /// `now` are aged out first, so the answer never depends on whether the runner has
    /// delivered the timeout yet.
    pub fn handle(&mut self, now: SimTime, ingress: PortId, src: MacAddr, dst: MacAddr) -> Egress {
        self.age(now);
        if !self.is_up(ingress) {
            return Egress {
                ports: Vec::new(),
                delivery: Delivery::Dropped,
            };
        }
        if src.is_unicast() {
            self.learn(now, src, ingress);
        }
        if dst.is_multicast() {
            return self.flood(ingress, Delivery::FloodGroup);
        }
        match self.fdb.get(&dst) {
            Some(entry) if entry.port == ingress => Egress {
                ports: Vec::new(),
                delivery: Delivery::Filtered,
            },
            Some(entry) => Egress {
                ports: vec![entry.port],
                delivery: Delivery::Unicast,
            },
            None if self.config.flood_unknown_unicast => {
                self.flood(ingress, Delivery::FloodUnknown)
            }
            None => Egress {
                ports: Vec::new(),
                delivery: Delivery::Dropped,
            },
        }
    }

    /// [`Switch::handle`] for a whole frame.
    pub fn handle_frame(&mut self, now: SimTime, ingress: PortId, frame: &EthernetFrame) -> Egress {
        self.handle(now, ingress, frame.src, frame.dst)
    }

    /// Brings a port up or down. Going down flushes every address learned on it (Linux:
    /// net/bridge/br_stp_if.c br_stp_disable_port -> br_fdb_delete_by_port), so traffic to those stations floods
    /// until they are heard again elsewhere. Unknown ports are ignored.
    pub fn set_port_up(&mut self, now: SimTime, port: PortId, up: bool) {
        self.age(now);
        let Some(slot) = self.up.get_mut(port.0 as usize) else {
            return;
        };
        *slot = up;
        if !up {
            let gone: Vec<MacAddr> = self
                .fdb
                .iter()
                .filter(|(_, e)| e.port == port)
                .map(|(mac, _)| *mac)
                .collect();
            for mac in gone {
                self.remove(mac);
            }
        }
    }

    /// Ages out entries whose time has come. Calling it with nothing expired does nothing.
    pub fn handle_timeout(&mut self, now: SimTime) {
        self.age(now);
    }

    /// The earliest entry expiry, if any entry exists.
    pub fn next_timeout(&self) -> Option<SimTime> {
        self.expiry.first().map(|(t, _)| *t)
    }

    /// The port `mac` is learned on, if it is in the table (and not expired by `now`).
    pub fn lookup(&self, now: SimTime, mac: MacAddr) -> Option<PortId> {
        self.fdb
            .get(&mac)
            .filter(|e| e.expires > now)
            .map(|e| e.port)
    }

    /// Whether `port` exists and is up.
    pub fn is_up(&self, port: PortId) -> bool {
        self.up.get(port.0 as usize).copied().unwrap_or(false)
    }

    /// Number of learned addresses.
    pub fn table_len(&self) -> usize {
        self.fdb.len()
    }

    fn learn(&mut self, now: SimTime, mac: MacAddr, port: PortId) {
        self.remove(mac);
        let expires = now + self.config.aging_time;
        self.fdb.insert(mac, FdbEntry { port, expires });
        self.expiry.insert((expires, mac));
    }

    fn remove(&mut self, mac: MacAddr) {
        if let Some(old) = self.fdb.remove(&mac) {
            self.expiry.remove(&(old.expires, mac));
        }
    }

    /// An entry lives while `now < expires`: at exactly `last_seen + aging_time` it is gone.
    fn age(&mut self, now: SimTime) {
        while let Some(&(expires, mac)) = self.expiry.first() {
            if expires > now {
                break;
            }
            self.expiry.pop_first();
            self.fdb.remove(&mac);
        }
    }

    fn flood(&self, ingress: PortId, delivery: Delivery) -> Egress {
        let ports = (0..self.config.port_count)
            .map(PortId)
            .filter(|&p| p != ingress && self.is_up(p))
            .collect();
        Egress { ports, delivery }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xa]);
    const B: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xb]);
    const C: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xc]);
    const MCAST: MacAddr = MacAddr([0x01, 0x00, 0x5e, 0, 0, 1]);

    fn secs(s: u64) -> SimTime {
        SimTime::ZERO + SimDuration::from_secs(s)
    }

    fn ports(list: &[u32]) -> Vec<PortId> {
        list.iter().copied().map(PortId).collect()
    }

    #[test]
    fn unknown_unicast_floods_then_learning_makes_it_unicast() {
        let mut sw = Switch::new(SwitchConfig::new(4));
        let first = sw.handle(secs(0), PortId(0), A, B);
        assert_eq!(
            first,
            Egress {
                ports: ports(&[1, 2, 3]),
                delivery: Delivery::FloodUnknown
            }
        );
        // B answers from port 2: A is known, so the reply goes only to port 0.
        let reply = sw.handle(secs(0), PortId(2), B, A);
        assert_eq!(
            reply,
            Egress {
                ports: ports(&[0]),
                delivery: Delivery::Unicast
            }
        );
        assert_eq!(sw.handle(secs(1), PortId(0), A, B).ports, ports(&[2]));
        assert_eq!(sw.table_len(), 2);
    }

    #[test]
    fn broadcast_and_multicast_flood_but_never_back_to_ingress() {
        let mut sw = Switch::new(SwitchConfig::new(3));
        sw.handle(secs(0), PortId(1), B, A);
        let bcast = sw.handle(secs(0), PortId(1), B, MacAddr::BROADCAST);
        assert_eq!(
            bcast,
            Egress {
                ports: ports(&[0, 2]),
                delivery: Delivery::FloodGroup
            }
        );
        assert_eq!(
            sw.handle(secs(0), PortId(2), C, MCAST).ports,
            ports(&[0, 1])
        );
        // A group source address is never learned.
        sw.handle(secs(0), PortId(0), MCAST, A);
        assert_eq!(sw.lookup(secs(0), MCAST), None);
    }

    #[test]
    fn destination_on_ingress_port_is_filtered() {
        let mut sw = Switch::new(SwitchConfig::new(3));
        sw.handle(secs(0), PortId(1), B, MacAddr::BROADCAST);
        assert_eq!(
            sw.handle(secs(0), PortId(1), C, B),
            Egress {
                ports: vec![],
                delivery: Delivery::Filtered
            }
        );
    }

    #[test]
    fn station_move_relearns_the_port() {
        let mut sw = Switch::new(SwitchConfig::new(3));
        sw.handle(secs(0), PortId(1), B, MacAddr::BROADCAST);
        sw.handle(secs(1), PortId(2), B, MacAddr::BROADCAST);
        assert_eq!(sw.lookup(secs(1), B), Some(PortId(2)));
        assert_eq!(sw.handle(secs(1), PortId(0), A, B).ports, ports(&[2]));
        assert_eq!(
            sw.next_timeout(),
            Some(secs(301)),
            "the old expiry left the index"
        );
    }

    #[test]
    fn entries_age_out_after_300_s_unless_refreshed() {
        let mut sw = Switch::new(SwitchConfig::new(3));
        sw.handle(secs(0), PortId(1), B, MacAddr::BROADCAST);
        sw.handle(secs(10), PortId(2), C, MacAddr::BROADCAST);
        assert_eq!(sw.next_timeout(), Some(secs(300)));
        sw.handle(secs(200), PortId(2), C, MacAddr::BROADCAST); // refresh C
        sw.handle_timeout(secs(299));
        assert_eq!(sw.lookup(secs(299), B), Some(PortId(1)));
        sw.handle_timeout(secs(300));
        assert_eq!(sw.lookup(secs(300), B), None);
        assert_eq!(sw.next_timeout(), Some(secs(500)));
        // Aging also applies lazily inside handle, without a timeout call.
        let egress = sw.handle(secs(500), PortId(0), A, C);
        assert_eq!(egress.delivery, Delivery::FloodUnknown);
    }

    #[test]
    fn aging_time_is_configurable() {
        let mut sw = Switch::new(SwitchConfig {
            aging_time: SimDuration::from_secs(5),
            ..SwitchConfig::new(2)
        });
        sw.handle(secs(0), PortId(1), B, MacAddr::BROADCAST);
        assert_eq!(sw.next_timeout(), Some(secs(5)));
        sw.handle_timeout(secs(5));
        assert_eq!(sw.table_len(), 0);
        assert_eq!(sw.next_timeout(), None);
    }

    #[test]
    fn port_down_flushes_its_entries_and_drops_its_frames() {
        let mut sw = Switch::new(SwitchConfig::new(4));
        sw.handle(secs(0), PortId(1), B, MacAddr::BROADCAST);
        sw.handle(secs(0), PortId(2), C, MacAddr::BROADCAST);
        sw.set_port_up(secs(1), PortId(1), false);
        assert_eq!(sw.lookup(secs(1), B), None);
        assert_eq!(sw.lookup(secs(1), C), Some(PortId(2)));
        // Unknown again, and the flood skips the down port.
        assert_eq!(
            sw.handle(secs(1), PortId(0), A, B),
            Egress {
                ports: ports(&[2, 3]),
                delivery: Delivery::FloodUnknown
            }
        );
        assert_eq!(
            sw.handle(secs(1), PortId(1), B, A),
            Egress {
                ports: vec![],
                delivery: Delivery::Dropped
            }
        );
        assert_eq!(
            sw.lookup(secs(1), B),
            None,
            "nothing learned from a down port"
        );
        sw.set_port_up(secs(2), PortId(1), true);
        assert_eq!(sw.handle(secs(2), PortId(1), B, A).ports, ports(&[0]));
        // Out-of-range ports are down, not a panic.
        assert_eq!(
            sw.handle(secs(2), PortId(9), B, A).delivery,
            Delivery::Dropped
        );
        sw.set_port_up(secs(2), PortId(9), false);
    }
}

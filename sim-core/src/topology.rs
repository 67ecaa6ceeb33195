//! Devices and links on a petgraph graph. A link has a propagation delay, a bandwidth and a
//! FIFO queue: a packet waits until the link is free, is serialised at the link's rate, then
//! propagates. Paths are looked up once (fewest hops, then least delay) and then used by index.

use petgraph::algo::astar;
use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::time::{SimDuration, SimTime};

/// Index of a device in the topology.
pub type DeviceId = NodeIndex<u32>;
/// Index of a (one-way) link in the topology.
pub type LinkId = EdgeIndex<u32>;

/// What a device is; the topology itself does not care, the runner does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeviceKind {
    /// A load generator outside (or inside) the cluster.
    Client,
    /// An IP router (the BGP peer, the clients' gateway).
    Router,
    /// An L2 switch.
    Switch,
    /// A Kubernetes worker node.
    Node,
}

/// A device: a named vertex.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Stable name, e.g. `node-2`.
    pub name: String,
    /// Its role.
    pub kind: DeviceKind,
}

/// A one-way link with a FIFO transmit queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// One-way propagation delay.
    pub delay: SimDuration,
    /// Rate in bits per second; 0 means infinitely fast.
    pub bandwidth_bps: u64,
    /// When the transmitter finishes what is already queued.
    busy_until: SimTime,
    /// The latest time a packet was offered at (offers can come out of order: a multi-hop
    /// send reserves downstream links ahead of time).
    last_offer: SimTime,
    /// Whether the link carries traffic.
    pub up: bool,
    /// Bytes sent, for utilisation.
    pub bytes_sent: u64,
}

impl Link {
    /// A link that is up and idle.
    pub fn new(delay: SimDuration, bandwidth_bps: u64) -> Self {
        Link {
            delay,
            bandwidth_bps,
            busy_until: SimTime::ZERO,
            last_offer: SimTime::ZERO,
            up: true,
            bytes_sent: 0,
        }
    }

    /// Time to put `bytes` on the wire.
    #[inline]
    pub fn serialisation(&self, bytes: u32) -> SimDuration {
        if self.bandwidth_bps == 0 {
            return SimDuration::ZERO;
        }
        // ceil(bits * 1e9 / bps) in u128 so 64 KiB at 1 bit/s cannot overflow.
        let bits = u128::from(bytes) * 8;
        let bps = u128::from(self.bandwidth_bps);
        SimDuration(((bits * 1_000_000_000).div_ceil(bps)) as u64)
    }

    /// Enqueue a packet of `bytes` offered at `now`: returns when its last bit arrives at the far
    /// end, or `None` if the link is down (the packet is lost).
    #[inline]
    pub fn transmit(&mut self, now: SimTime, bytes: u32) -> Option<SimTime> {
        if !self.up {
            return None;
        }
        let ser = self.serialisation(bytes);
        let done = if now >= self.last_offer {
            // In order: FIFO behind what is queued.
            let done = self.busy_until.max(now) + ser;
            self.busy_until = done;
            done
        } else {
            // Offered earlier than a packet already queued for a later time (a downstream hop
            // reserved ahead): a real FIFO would have sent this one first. Let it through and
            // charge its serialisation to the queue (work-conserving), rather than making it
            // wait for a packet that has not arrived yet.
            self.busy_until = self.busy_until.max(now) + ser;
            now + ser
        };
        self.last_offer = self.last_offer.max(now);
        self.bytes_sent += u64::from(bytes);
        Some(done + self.delay)
    }
}

/// The graph of devices and links.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    graph: DiGraph<Device, Link, u32>,
}

/// A topology query that names something absent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// No device of that name.
    #[error("no device named {0:?}")]
    UnknownDevice(String),
    /// The devices are not connected.
    #[error("no path from {from} to {to}")]
    NoPath {
        /// Source device name.
        from: String,
        /// Destination device name.
        to: String,
    },
}

impl Topology {
    /// An empty topology.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a device; names should be unique (the first match wins in [`Topology::find`]).
    pub fn add_device(&mut self, name: impl Into<String>, kind: DeviceKind) -> DeviceId {
        self.graph.add_node(Device {
            name: name.into(),
            kind,
        })
    }

    /// Connect `a` and `b` with two one-way links of the same delay and bandwidth.
    pub fn connect(
        &mut self,
        a: DeviceId,
        b: DeviceId,
        delay: SimDuration,
        bandwidth_bps: u64,
    ) -> (LinkId, LinkId) {
        let ab = self.graph.add_edge(a, b, Link::new(delay, bandwidth_bps));
        let ba = self.graph.add_edge(b, a, Link::new(delay, bandwidth_bps));
        (ab, ba)
    }

    /// The device called `name`.
    ///
    /// # Errors
    /// [`TopologyError::UnknownDevice`] when there is none.
    pub fn find(&self, name: &str) -> Result<DeviceId, TopologyError> {
        self.graph
            .node_indices()
            .find(|&i| self.graph[i].name == name)
            .ok_or_else(|| TopologyError::UnknownDevice(name.to_string()))
    }

    /// A device by id.
    pub fn device(&self, id: DeviceId) -> &Device {
        &self.graph[id]
    }

    /// All devices in insertion order.
    pub fn devices(&self) -> impl Iterator<Item = (DeviceId, &Device)> {
        self.graph.node_indices().map(move |i| (i, &self.graph[i]))
    }

    /// A link by id.
    pub fn link(&self, id: LinkId) -> &Link {
        &self.graph[id]
    }

    /// A link by id, to transmit on it or take it down.
    pub fn link_mut(&mut self, id: LinkId) -> &mut Link {
        &mut self.graph[id]
    }

    /// The one-way link from `a` to `b`, if they are adjacent.
    pub fn link_between(&self, a: DeviceId, b: DeviceId) -> Option<LinkId> {
        self.graph.find_edge(a, b)
    }

    /// The links from `from` to `to`: fewest hops, ties broken by least total delay.
    ///
    /// # Errors
    /// [`TopologyError::NoPath`] when `to` cannot be reached.
    pub fn path(&self, from: DeviceId, to: DeviceId) -> Result<Vec<LinkId>, TopologyError> {
        // Cost = hops scaled far above any delay, plus the delay: lexicographic (hops, delay).
        const HOP: u128 = 1 << 64;
        let found = astar(
            &self.graph,
            from,
            |n| n == to,
            |e| HOP + u128::from(e.weight().delay.as_nanos()),
            |_| 0,
        );
        let (_, nodes) = found.ok_or_else(|| TopologyError::NoPath {
            from: self.graph[from].name.clone(),
            to: self.graph[to].name.clone(),
        })?;
        Ok(nodes
            .windows(2)
            .filter_map(|w| self.graph.find_edge(w[0], w[1]))
            .collect())
    }

    /// Send `bytes` at `now` hop by hop along `path` (store and forward): when the packet
    /// reaches the end, or `None` if a link on the way is down.
    ///
    /// Every link of the path is reserved now, so queueing is exact on the first link and an
    /// approximation on later ones (a packet reserves a downstream link before it gets there).
    pub fn send(&mut self, path: &[LinkId], now: SimTime, bytes: u32) -> Option<SimTime> {
        let mut t = now;
        for &l in path {
            t = self.graph[l].transmit(t, bytes)?;
        }
        Some(t)
    }

    /// Total one-way propagation delay along `path`, without queueing or serialisation.
    pub fn path_delay(&self, path: &[LinkId]) -> SimDuration {
        path.iter()
            .fold(SimDuration::ZERO, |acc, &l| acc + self.graph[l].delay)
    }

    /// Take every link touching `device` down or up (a crash cuts its NIC).
    pub fn set_device_links_up(&mut self, device: DeviceId, up: bool) {
        let edges: Vec<LinkId> = self
            .graph
            .edges(device)
            .map(|e| e.id())
            .chain(
                self.graph
                    .edges_directed(device, petgraph::Direction::Incoming)
                    .map(|e| e.id()),
            )
            .collect();
        for e in edges {
            self.graph[e].up = up;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_queue_serialises_back_to_back() {
        // 10 Gbit/s: 1250 bytes take exactly 1 us.
        let mut l = Link::new(SimDuration::from_micros(50), 10_000_000_000);
        assert_eq!(l.transmit(SimTime(0), 1250), Some(SimTime(51_000)));
        // Offered at the same instant, it waits for the first to finish.
        assert_eq!(l.transmit(SimTime(0), 1250), Some(SimTime(52_000)));
        // Offered after the queue drained, no wait.
        assert_eq!(l.transmit(SimTime(10_000), 1250), Some(SimTime(61_000)));
        l.up = false;
        assert_eq!(l.transmit(SimTime(20_000), 1), None);
    }

    #[test]
    fn an_earlier_offer_does_not_wait_for_a_later_reservation() {
        let mut l = Link::new(SimDuration::from_micros(50), 10_000_000_000);
        // A downstream hop reserved for t = 100 us...
        assert_eq!(l.transmit(SimTime(100_000), 1250), Some(SimTime(151_000)));
        // ...does not delay a packet offered at t = 10 us.
        assert_eq!(l.transmit(SimTime(10_000), 1250), Some(SimTime(61_000)));
        // The queue keeps the work: the next in-order packet waits for both.
        assert_eq!(l.transmit(SimTime(100_000), 1250), Some(SimTime(153_000)));
    }

    #[test]
    fn path_prefers_fewest_hops_then_least_delay() {
        let mut t = Topology::new();
        let c = t.add_device("client", DeviceKind::Client);
        let r = t.add_device("router", DeviceKind::Router);
        let n1 = t.add_device("node-1", DeviceKind::Node);
        let n2 = t.add_device("node-2", DeviceKind::Node);
        let us = SimDuration::from_micros;
        t.connect(c, r, us(50), 0);
        t.connect(r, n1, us(50), 0);
        t.connect(r, n2, us(50), 0);
        t.connect(n1, n2, us(500), 0);
        let p = t.path(c, n2).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(t.path_delay(&p), us(100));
        // node-1 -> node-2: direct (1 hop, 500 us) beats via router (2 hops, 100 us).
        assert_eq!(t.path(n1, n2).unwrap().len(), 1);
        assert_eq!(t.send(&p, SimTime(0), 100), Some(SimTime(100_000)));
        t.set_device_links_up(n2, false);
        assert_eq!(t.send(&p, SimTime(0), 100), None);
        assert!(matches!(
            t.find("node-9"),
            Err(TopologyError::UnknownDevice(_))
        ));
    }
}

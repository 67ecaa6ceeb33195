//! Bulk transfers (iperf3 `-P N`) as fluid flows: each stream is a max-min fair flow over the
//! capacities on its path (the client's link, the ingress node's NIC and forwarding capacity,
//! the second hop of Cluster policy), so a 60 s, 10-stream test costs a handful of events.
//!
//! ```text
//!  iperf3 stream ─hash(5-tuple)─▶ ingress node (ECMP next hop, L2 leader, or the client's node)
//!      path: client link ▶ node NIC in ▶ node forwarding [▶ NIC out ▶ pod node NIC in ▶ forwarding]
//!  FluidNetwork: rates recomputed when a stream starts or stops or a node's capacity changes
//! ```
//! A stream keeps the path it started on (its ingress node is chosen once, as a TCP connection
//! is pinned by conntrack); bulk flows and request traffic do not queue behind each other.

use bgp::ecmp::FlowKey;
use sim_core::fluid::{FlowId, FluidNetwork, ResourceId};
use sim_core::{Scheduler, SimDuration, SimTime};

use super::{Ev, Lab};
use crate::scenario::{Load, TrafficPolicy};
use crate::tools::{iperf3, IperfReport, StreamReport, DEFAULT_EPOCH_NS};

/// What one iperf3 client measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BulkSummary {
    /// Client instance.
    pub client: String,
    /// Parallel streams.
    pub streams: u32,
    /// Bits per second the sender sent, all streams.
    pub sent_bps: f64,
    /// Bits per second the receiver got, all streams.
    pub received_bps: f64,
    /// Mean RTT over the streams, microseconds (propagation plus queueing at bottlenecks).
    pub mean_rtt_us: f64,
    /// Retransmissions: a fluid model has none.
    pub retransmits: u64,
}

/// Link buffers assumed for queueing delay at a saturated resource (a typical NIC ring plus
/// qdisc: 1000 packets of 1500 bytes would be 1.5 MB; 256 KiB keeps RTT increases modest).
const BUFFER_BYTES: u64 = 256 * 1024;
/// Capacity standing for "unlimited" (a link with bandwidth 0 in the scenario).
const UNLIMITED_BPS: u64 = 1_000_000_000_000_000;
/// What one packet of a bulk stream is to a forwarding node: a GRO aggregate. The NIC driver's
/// GRO merges consecutive segments of a TCP flow into one packet of up to 64 KiB before the
/// stack sees it (net/core/gro.c, `GRO_LEGACY_MAX_SIZE`), and forwarding hands the aggregate to
/// GSO/TSO on the way out, so routing, conntrack and NAT run once per aggregate, not once per
/// 1500-byte frame. Request/response traffic gets no such help: one message, one packet.
const GRO_BITS: u64 = 65_536 * 8;
/// iperf3's default server port.
const IPERF_PORT: u16 = 5201;

/// Per node: NIC in, NIC out, forwarding capacity.
struct NodeResources {
    nic_in: ResourceId,
    nic_out: ResourceId,
    forward: ResourceId,
}

struct Stream {
    flow: FlowId,
    port: u16,
    /// RTT while the test ran (sampled before the flows stop and the queues drain).
    rtt: SimDuration,
}

struct Test {
    client: u32,
    streams: Vec<Stream>,
    started: SimTime,
    stopped: Option<SimTime>,
    reverse: bool,
}

/// The bulk-transfer state of one lab.
pub struct Bulk {
    net: FluidNetwork,
    nodes: Vec<NodeResources>,
    /// Per client: its link's (up, down) resources.
    clients: Vec<(ResourceId, ResourceId)>,
    tests: Vec<Test>,
}

/// A node's forwarding capacity for bulk streams: `cores / packet_cost` GRO aggregates per
/// second (unlimited when forwarding costs nothing).
fn forwarding_bps(cores: u64, packet_cost_ns: u64) -> u64 {
    (cores * 1_000_000_000)
        .checked_div(packet_cost_ns)
        .map_or(UNLIMITED_BPS, |pps| pps * GRO_BITS)
}

fn capacity(bps: u64) -> u64 {
    if bps == 0 {
        UNLIMITED_BPS
    } else {
        bps
    }
}

impl Lab {
    /// Build the fluid network and schedule every iperf3 client's start and stop.
    pub(super) fn bulk_start(&mut self, sched: &mut Scheduler<Ev>) {
        if !self
            .clients
            .iter()
            .any(|c| matches!(c.load, Load::Iperf3 { .. }))
        {
            return;
        }
        let mut net = FluidNetwork::new();
        let cost = self.packet_cost.as_nanos();
        let nodes = self
            .nodes
            .iter()
            .map(|n| {
                let nic = |l| {
                    let link = self.topo.link(l);
                    (capacity(link.bandwidth_bps), link.delay)
                };
                let (bps_in, delay) = nic(n.downlink);
                let (bps_out, _) = nic(n.uplink);
                // cores / packet_cost GRO aggregates per second.
                let cores = n.cores() as u64;
                let fwd = forwarding_bps(cores, cost);
                NodeResources {
                    nic_in: net.add_resource(
                        &format!("{}/nic-in", n.name),
                        bps_in,
                        delay,
                        BUFFER_BYTES,
                    ),
                    nic_out: net.add_resource(
                        &format!("{}/nic-out", n.name),
                        bps_out,
                        delay,
                        BUFFER_BYTES,
                    ),
                    forward: net.add_resource(
                        &format!("{}/forward", n.name),
                        fwd,
                        SimDuration::ZERO,
                        BUFFER_BYTES,
                    ),
                }
            })
            .collect();
        let clients = self
            .clients
            .iter()
            .map(|c| {
                let up = self.topo.link(c.uplink);
                let down = self.topo.link(c.downlink);
                (
                    net.add_resource(
                        &format!("{}/up", c.name),
                        capacity(up.bandwidth_bps),
                        up.delay,
                        BUFFER_BYTES,
                    ),
                    net.add_resource(
                        &format!("{}/down", c.name),
                        capacity(down.bandwidth_bps),
                        down.delay,
                        BUFFER_BYTES,
                    ),
                )
            })
            .collect();
        self.bulk = Some(Bulk {
            net,
            nodes,
            clients,
            tests: Vec::new(),
        });
        for c in 0..self.clients.len() as u32 {
            let client = &self.clients[c as usize];
            if matches!(client.load, Load::Iperf3 { .. }) {
                sched.schedule_in(client.start, Ev::BulkStart(c));
                let _ = sched.schedule_at(client.stop, Ev::BulkStop(c));
            }
        }
    }

    /// Where a new connection of client `c` with hash `hash` enters the cluster now.
    fn ingress_for(&self, c: u32, hash: u32) -> Option<u16> {
        if let Some(node) = self.clients[c as usize].in_cluster {
            return Some(node);
        }
        let svc = &self.svcs[self.clients[c as usize].service as usize];
        match &self.layer2 {
            Some(l2) => l2.leader_of(svc.vip),
            None => svc.route.peek(hash).map(|n| n as u16),
        }
    }

    /// An iperf3 client starts its streams.
    pub(super) fn bulk_begin(&mut self, c: u32, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Load::Iperf3 { parallel, reverse } = self.clients[c as usize].load else {
            return;
        };
        let mut paths = Vec::new();
        let mut ports = Vec::new();
        let s = self.clients[c as usize].service;
        for _ in 0..parallel {
            let client = &mut self.clients[c as usize];
            let port = client.take_port();
            let flow = FlowKey {
                src: client.ip,
                dst: self.svcs[s as usize].vip,
                proto: 6,
                sport: port,
                dport: IPERF_PORT,
            };
            let hash = self.svcs[s as usize].route.hasher.hash(&flow);
            let Some(ingress) = self.ingress_for(c, hash) else {
                continue;
            };
            let svc = &self.svcs[s as usize];
            let policy = if self.clients[c as usize].in_cluster.is_some() {
                TrafficPolicy::Cluster
            } else {
                svc.policy
            };
            // The stream is one TCP connection: kube-proxy on the ingress node picks its pod.
            let Some(pod) = self.nodes[usize::from(ingress)]
                .kube_proxy
                .choose_for(
                    s,
                    ingress,
                    policy,
                    &self.pods[svc.pod_range()],
                    &svc.endpoints,
                )
                .map(|p| p + svc.pods.start)
            else {
                continue;
            };
            let pod_node = self.pods[pod as usize].node;
            let Some(bulk) = &self.bulk else { return };
            let (up, down) = bulk.clients[c as usize];
            let (a, b) = (
                &bulk.nodes[usize::from(ingress)],
                &bulk.nodes[usize::from(pod_node)],
            );
            let mut path = if reverse {
                vec![b.forward, b.nic_out]
            } else {
                vec![up, a.nic_in, a.forward]
            };
            if pod_node != ingress {
                // Cluster policy's second hop, through the ingress node both ways.
                if reverse {
                    path.extend([a.nic_in, a.forward, a.nic_out]);
                } else {
                    path.extend([a.nic_out, b.nic_in, b.forward]);
                }
            }
            if reverse {
                path.push(down);
            }
            paths.push(path);
            ports.push(port);
        }
        let Some(bulk) = &mut self.bulk else { return };
        let flows = bulk
            .net
            .start_flows(now, paths.iter().map(|p| (p.as_slice(), None)));
        let streams = flows
            .into_iter()
            .zip(ports)
            .map(|(flow, port)| Stream {
                flow,
                port,
                rtt: SimDuration::ZERO,
            })
            .collect();
        bulk.tests.push(Test {
            client: c,
            streams,
            started: now,
            stopped: None,
            reverse,
        });
        let name = self.clients[c as usize].name.clone();
        self.log.push(
            now,
            "bulk_start",
            name,
            format!("streams={parallel} reverse={reverse}"),
        );
    }

    /// An iperf3 client's `-t` is over.
    pub(super) fn bulk_end(&mut self, c: u32, sched: &mut Scheduler<Ev>) {
        let now = sched.now();
        let Some(bulk) = &mut self.bulk else { return };
        for t in bulk
            .tests
            .iter_mut()
            .filter(|t| t.client == c && t.stopped.is_none())
        {
            for s in &mut t.streams {
                s.rtt = bulk.net.rtt(s.flow);
            }
            let flows: Vec<FlowId> = t.streams.iter().map(|s| s.flow).collect();
            bulk.net.stop_flows(now, &flows);
            t.stopped = Some(now);
        }
    }

    /// A node went down or came back: its capacities follow.
    pub(super) fn bulk_node_up(&mut self, node: u16, up: bool, now: SimTime) {
        let Some(bulk) = &mut self.bulk else { return };
        let n = &self.nodes[usize::from(node)];
        let caps = if up {
            let cost = self.packet_cost.as_nanos();
            let fwd = forwarding_bps(n.cores() as u64, cost);
            [
                capacity(self.topo.link(n.downlink).bandwidth_bps),
                capacity(self.topo.link(n.uplink).bandwidth_bps),
                fwd,
            ]
        } else {
            [0, 0, 0]
        };
        let r = &bulk.nodes[usize::from(node)];
        for (res, cap) in [r.nic_in, r.nic_out, r.forward].into_iter().zip(caps) {
            bulk.net.set_capacity(now, res, cap);
        }
    }

    /// The iperf3 results: summaries, and files in iperf3's `--json` format.
    pub(super) fn bulk_results(
        &mut self,
        now: SimTime,
    ) -> (Vec<BulkSummary>, Vec<(String, Vec<u8>)>) {
        let Some(bulk) = &self.bulk else {
            return (Vec::new(), Vec::new());
        };
        let mut summaries = Vec::new();
        let mut files = Vec::new();
        for t in &bulk.tests {
            let client = &self.clients[t.client as usize];
            let end = t.stopped.unwrap_or(now);
            let secs = (end - t.started).as_secs_f64();
            let interval = SimDuration::from_secs(1);
            let mut reports = Vec::new();
            let (mut bytes, mut rtt_sum) = (0u64, 0.0);
            for s in &t.streams {
                let mut per = Vec::new();
                let mut at = t.started;
                while at < end {
                    let next = (at + interval).min(end);
                    per.push(bulk.net.interval_bytes(s.flow, at, next));
                    at = next;
                }
                let total = bulk.net.bytes_sent(s.flow, end);
                bytes += total;
                let rtt = if t.stopped.is_some() {
                    s.rtt
                } else {
                    bulk.net.rtt(s.flow)
                };
                let rtt_us = rtt.as_nanos() / 1000;
                rtt_sum += rtt_us as f64;
                let n = per.len();
                reports.push(StreamReport {
                    bytes_per_interval: per,
                    bytes_received: total,
                    retransmits_per_interval: vec![0; n],
                    rtt_us_per_interval: vec![rtt_us; n],
                    rttvar_us_per_interval: vec![0; n],
                    snd_cwnd_per_interval: vec![0; n],
                    local_port: s.port,
                });
            }
            let bps = if secs > 0.0 {
                bytes as f64 * 8.0 / secs
            } else {
                0.0
            };
            summaries.push(BulkSummary {
                client: client.name.clone(),
                streams: t.streams.len() as u32,
                sent_bps: bps,
                received_bps: bps,
                mean_rtt_us: if t.streams.is_empty() {
                    0.0
                } else {
                    rtt_sum / t.streams.len() as f64
                },
                retransmits: 0,
            });
            let group = &self.groups[client.group as usize];
            if let Some(template) = &group.output {
                let report = IperfReport {
                    server: self.svcs[client.service as usize].vip.to_string(),
                    port: IPERF_PORT,
                    client: client.ip.to_string(),
                    epoch_ns: DEFAULT_EPOCH_NS,
                    start: t.started,
                    interval,
                    duration: end - t.started,
                    reverse: t.reverse,
                    pmtu: 1500,
                    streams: reports,
                    congestion: "cubic".into(),
                };
                let mut name = template.replace("{variant}", &self.variant);
                if group.count > 1 {
                    let k = self.clients[..t.client as usize]
                        .iter()
                        .filter(|o| o.group == client.group)
                        .count();
                    name = super::recording::instance_name(&name, k + 1);
                }
                files.push((name, iperf3::to_json(&report).into_bytes()));
            }
        }
        (summaries, files)
    }
}

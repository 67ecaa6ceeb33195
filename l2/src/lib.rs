//! The Layer 2 side of lbsim: Ethernet and ARP on the wire, the switch, the host neighbour
//! cache, and MetalLB's L2 speaker (election, failure detection, gratuitous ARP).
//!
//! Every part is pure: no clock, no sockets, no global randomness. Machines take `now` and an
//! input, return outputs, and say when they next need waking (`next_timeout`); the root
//! package's runner owns the event loop.
//!
//! ```text
//!  client host                      switch                       worker nodes
//!  ┌───────────────────┐   frames   ┌──────────────────┐  frames  ┌─────────────────────┐
//!  │ neighbour::        │ ─────────► │ switch::Switch   │ ───────► │ speaker (election:: │
//!  │ NeighbourCache     │ ◄───────── │ learn / flood /  │ ◄─────── │ leader answers ARP, │
//!  │ (Linux NUD)        │            │ age              │          │ sends gratuitous    │
//!  └───────────────────┘            └──────────────────┘          │ ARP on takeover)    │
//!        all frames are wire::EthernetFrame carrying wire::Arp     └─────────────────────┘
//! ```
//!
//! Modules:
//! - [`wire`]: Ethernet II and ARP codec ([`wire::EthernetFrame`], [`wire::Arp`],
//!   [`wire::MacAddr`]), MetalLB's gratuitous ARP frames, the kernel's test for "gratuitous";
//!   IPv6 Neighbor Discovery ([`wire::NdpPacket`]: NS/NA with link-layer options, the ICMPv6
//!   checksum, solicited-node groups and their `33:33` MACs, MetalLB's NAs).
//! - [`election`]: MetalLB's per-IP leader choice, `sha256(node + "#" + ip)` ascending.
//! - [`switch`]: a learning switch with per-entry aging and port up/down.
//! - [`ndp_responder`]: MetalLB's NDP responder (which solicitations reach its link-local
//!   bound socket, which it answers, unsolicited NAs; metallb issue 2920's unanswered unicast
//!   NUD probes and the option that answers them).
//! - [`nud`]: the neighbour state machine both families share, as Linux's net/core/neighbour.c
//!   serves `arp_tbl` and `nd_tbl` (INCOMPLETE, REACHABLE, STALE, DELAY, PROBE, FAILED; the
//!   override rules of `neigh_update`).
//! - [`neighbour`]: a host's ARP cache as Linux keeps it (locktime; arp_accept; hosts that
//!   ignore gratuitous ARP).
//! - [`neighbour6`]: a host's IPv6 neighbour cache (ndisc.c: NA Override/Solicited/Router
//!   flags, `accept_untracked_na`, `drop_unsolicited_na`, answers to NS, `ndisc_notify`).
//! - [`memberlist`]: the speakers' failure detector, hashicorp/memberlist with LAN defaults
//!   (probes, indirect probes, suspicion shortened by confirmations, refutation, gossip,
//!   push/pull, leave) and MetalLB's one-minute re-join; one [`memberlist::Member`] per
//!   speaker, its messages carried by the runner so partitions really partition.
//! - [`speaker`]: MetalLB's L2 speaker on one node: the per-service election from memberlist's
//!   live set (or Kubernetes nodes without memberlist), gratuitous ARP bursts on takeover
//!   (at once, then every 1.1 s until 5 s after the last reconcile), unicast ARP replies for
//!   the VIPs it leads.
//!
//! Per node the runner wires them so: each [`memberlist::Output::MemberState`] feeds
//! [`speaker::Input::Members`] with [`memberlist::Member::live_members`] (MetalLB's
//! `ForceSync` on memberlist events), and every [`speaker::Output::Frame`] goes on the wire.
//!
//! A failover in miniature: the elected node announces, the client's cache moves at once.
//!
//! ```
//! use std::net::Ipv4Addr;
//! use l2::election::leader;
//! use l2::neighbour::{Input, NeighbourCache, NeighbourConfig, NudState, PacketId};
//! use l2::switch::{PortId, Switch, SwitchConfig};
//! use l2::wire::{Arp, MacAddr};
//! use sim_core::{SimDuration, SimTime};
//!
//! let vip = Ipv4Addr::new(192, 168, 1, 240);
//! let macs = [("node-a", MacAddr([2, 0, 0, 0, 0, 0xa])), ("node-c", MacAddr([2, 0, 0, 0, 0, 0xc]))];
//! let client_mac = MacAddr([2, 0, 0, 0, 0, 0x63]);
//! let mut client = NeighbourCache::new(NeighbourConfig::linux(client_mac, Ipv4Addr::new(192, 168, 1, 10), 24, 1));
//! let mut switch = Switch::new(SwitchConfig::new(3)); // port 0: client, 1: node-a, 2: node-c
//!
//! // node-a leads; the client resolves the VIP to it.
//! assert_eq!(leader(vip, &["node-a", "node-c"]), Some("node-a"));
//! client.handle(SimTime::ZERO, Input::Send { ip: vip, packet_id: PacketId(1) });
//! let reply = Arp::reply_to(&Arp::request(client_mac, Ipv4Addr::new(192, 168, 1, 10), vip), macs[0].1);
//! client.handle(SimTime(1_000_000), Input::ArpReceived { arp: reply, eth_dst: client_mac });
//!
//! // node-a dies; node-c is next in line and announces. The switch floods the broadcast.
//! let now = SimTime::ZERO + SimDuration::from_secs(10);
//! assert_eq!(leader(vip, &["node-c"]), Some("node-c"));
//! for frame in Arp::metallb_gratuitous_frames(macs[1].1, vip) {
//!     let egress = switch.handle_frame(now, PortId(2), &frame);
//!     assert!(egress.ports.contains(&PortId(0)));
//!     client.handle(now, Input::ArpReceived { arp: frame.to_arp().unwrap(), eth_dst: frame.dst });
//! }
//! assert_eq!(client.lookup(vip), Some((NudState::Stale, Some(macs[1].1))));
//! ```
#![warn(missing_docs)]

pub mod election;
pub mod memberlist;
pub mod ndp_responder;
pub mod neighbour;
pub mod neighbour6;
pub mod nud;
pub mod speaker;
pub mod switch;
pub mod wire;

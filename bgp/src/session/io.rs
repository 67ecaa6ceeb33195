//! What goes into a session and what comes out.

use crate::wire::{ErrorCode, Ipv4Prefix, Ipv6Prefix};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sim_core::SimDuration;
use std::net::{Ipv4Addr, Ipv6Addr};

/// RFC 4271 §8.2.2 session states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum State {
    /// Refuses connections; waits for a start.
    Idle,
    /// Waiting for the outbound TCP connection to complete.
    Connect,
    /// Waiting for an inbound connection (or the next dial).
    Active,
    /// OPEN sent, waiting for the peer's.
    OpenSent,
    /// OPENs exchanged, waiting for the peer's KEEPALIVE.
    OpenConfirm,
    /// Up: UPDATEs and KEEPALIVEs flow.
    Established,
}

/// Which of the (at most two) TCP connections between the same two speakers an input or output
/// is about: the one this side dialled, or the one the peer dialled. Two are possible only
/// during a connection collision (RFC 4271 §6.8), which the session resolves itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Direction {
    /// The connection this side opened (after [`Output::Connect`]).
    Outbound,
    /// The connection the peer opened to this side.
    Inbound,
}

/// An event fed to [`Session::handle`](super::Session::handle). RFC 4271 §8.1 event names in
/// the docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Event 1 ManualStart (Event 5 ManualStart_with_PassiveTcpEstablishment when
    /// `config.passive`): the daemon starts this peer.
    ManualStart,
    /// Event 2 ManualStop. `graceful`: an orderly daemon stop (FRR on SIGTERM sends Cease /
    /// Peer De-configured unless graceful restart was negotiated; native closes with FIN).
    /// Not graceful: the process is killed; the kernel closes its sockets (FIN), nothing else
    /// is sent. (A crash where the node vanishes is no input at all: stop feeding the session.)
    ManualStop {
        /// Orderly stop, as opposed to a kill.
        graceful: bool,
    },
    /// `neighbor X shutdown` in FRR: Cease / Administrative Shutdown (RFC 4486), skipped when
    /// graceful restart was negotiated (FRR `bgpd.c` `peer_notify_shutdown`); no restart after.
    AdminShutdown,
    /// `no neighbor X shutdown` in FRR: the peer may start again, after the start timer
    /// (`idle_hold`), not at once. FRR 8.4 `bgpd.c` `peer_flag_modify_action` resets `v_start`
    /// to `BGP_INIT_START_TIMER` (1 s, `bgpd.h`) and raises BGP_Stop; in Idle `bgp_timer_set`
    /// (`bgp_fsm.c`) runs the start timer, whose expiry is BGP_Start (reallab/profiles/*:
    /// 0.95-1.0 s from the command to the session's Up). Ignored unless stopped in Idle.
    AdminStart,
    /// Events 16/17 Tcp_CR_Acked / TcpConnectionConfirmed: a TCP connection is up, the one this
    /// side dialled (`Outbound`) or one the peer dialled (`Inbound`).
    TcpConnected {
        /// Which connection.
        dir: Direction,
    },
    /// Event 18 TcpConnectionFails before establishment: the outbound dial failed (refused or
    /// timed out).
    TcpConnectionFails,
    /// Event 18 TcpConnectionFails after establishment: the peer closed (`reset: false`, FIN)
    /// or reset (`reset: true`, RST) the connection.
    TcpClosed {
        /// Which connection.
        dir: Direction,
        /// RST rather than FIN.
        reset: bool,
    },
    /// Bytes arrived on a connection, in order, cut anywhere (framing is the session's job).
    Bytes {
        /// Which connection.
        dir: Direction,
        /// The stream bytes.
        bytes: Bytes,
    },
    /// A wake-up at or after [`Session::next_timeout`](super::Session::next_timeout). Fires
    /// every timer that is due; does nothing when none is.
    Timer,
    /// The BFD session to the peer went down (RFC 9384: bring BGP down at once, NOTIFICATION
    /// Cease / BFD Down).
    BfdDown,
    /// Advertise these prefixes with this next hop (added to or replacing the Adj-RIB-Out; sent
    /// now if Established, else on establishment).
    Announce {
        /// Prefixes.
        prefixes: Vec<Ipv4Prefix>,
        /// NEXT_HOP to advertise.
        next_hop: Ipv4Addr,
    },
    /// Stop advertising these prefixes.
    Withdraw(Vec<Ipv4Prefix>),
    /// Advertise these IPv6 prefixes (MP_REACH_NLRI, RFC 4760) with this global next hop and,
    /// on a shared link, the link-local one (RFC 2545 §3). Sent only when IPv6 unicast is
    /// negotiated.
    Announce6 {
        /// Prefixes.
        prefixes: Vec<Ipv6Prefix>,
        /// Global next hop.
        next_hop: Ipv6Addr,
        /// Link-local next hop.
        link_local: Option<Ipv6Addr>,
    },
    /// Stop advertising these IPv6 prefixes (MP_UNREACH_NLRI).
    Withdraw6(Vec<Ipv6Prefix>),
}

/// Why an Established session went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DownReason {
    /// Our hold timer ran out (we sent NOTIFICATION Hold Timer Expired).
    HoldTimerExpired,
    /// The peer sent this NOTIFICATION.
    NotificationReceived(ErrorCode),
    /// We sent this NOTIFICATION (a protocol error on our side of the judgement).
    NotificationSent(ErrorCode),
    /// The peer closed TCP with FIN.
    TcpClosed,
    /// TCP was reset.
    TcpReset,
    /// BFD reported the path down (we sent Cease / BFD Down unless native).
    BfdDown,
    /// We were stopped or shut down.
    ManualStop,
}

/// What the session asks the runner to do or tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open a TCP connection to the peer; answer with `TcpConnected { dir: Outbound }` or
    /// `TcpConnectionFails`. A new `Connect` supersedes an attempt still pending.
    Connect,
    /// Write these bytes (one or more whole BGP messages) on a connection.
    Send {
        /// Which connection.
        dir: Direction,
        /// Encoded messages.
        bytes: Bytes,
    },
    /// Close a connection: FIN, or RST when `reset`.
    CloseTcp {
        /// Which connection.
        dir: Direction,
        /// RST rather than FIN.
        reset: bool,
    },
    /// The FSM changed state.
    StateChanged {
        /// Old state.
        from: State,
        /// New state.
        to: State,
    },
    /// The session is up.
    Established {
        /// The peer's BGP Identifier.
        peer_router_id: Ipv4Addr,
        /// Negotiated hold time (zero: no keepalives, no hold timer).
        hold_time: SimDuration,
        /// The peer's Restart Time when both sides advertised graceful restart.
        graceful_restart: Option<SimDuration>,
    },
    /// Routes from one UPDATE.
    RoutesReceived {
        /// Prefixes announced, with their NEXT_HOP.
        announced: Vec<(Ipv4Prefix, Ipv4Addr)>,
        /// Prefixes withdrawn.
        withdrawn: Vec<Ipv4Prefix>,
    },
    /// The peer sent End-of-RIB (RFC 4724 §2): its initial table is complete.
    EndOfRib,
    /// An Established session went down. Emitted only when leaving Established.
    SessionDown {
        /// Why.
        reason: DownReason,
        /// Keep the peer's routes (stale) this long: graceful restart was negotiated and the
        /// connection merely dropped (RFC 4724 §4.2). `None`: drop them now.
        keep_routes_for: Option<SimDuration>,
    },
}

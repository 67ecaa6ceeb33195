//! What a session is told at construction: identities, timers and the implementation it imitates.

use serde::{Deserialize, Serialize};
use sim_core::SimDuration;
use std::net::Ipv4Addr;

/// Which real BGP speaker the session behaves like, where they differ from RFC 4271.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Flavour {
    /// MetalLB's own Go speaker (metallb `internal/bgp/native/native.go`, `messages.go`):
    /// active only (dials, never listens); treats the OPEN exchange as done once it has read
    /// the peer's OPEN and sent its KEEPALIVE (no OpenConfirm wait); no receive hold timer (the
    /// read loop `consumeBGP` has no deadline once established); never sends a NOTIFICATION
    /// (every error and `Close()` just close the socket: FIN); ignores received UPDATEs; one
    /// UPDATE per prefix; keepalive every negotiated hold / 3, no jitter (`time.NewTicker`).
    Native,
    /// FRR `bgpd` (`bgp_fsm.c`, `bgpd.c`, `bgp_packet.c`, `bgp_keepalives.c`): RFC 4271 FSM,
    /// NOTIFICATIONs on errors and stops, prefixes with the same attributes packed in one
    /// UPDATE, whole-second timer arithmetic.
    Frr,
}

/// How the wait before the next connection attempt grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConnectBackoff {
    /// RFC 4271 §8: every ConnectRetryTimer runs `connect_retry`; after a session goes down the
    /// next start waits `idle_hold` (FRR up to 10.2: `BGP_DEFAULT_CONNECT_RETRY` 120 s, start
    /// timer `BGP_INIT_START_TIMER` 1 s).
    Fixed,
    /// Waits 0, `first`, 2·`first`, 4·`first` ... capped at `connect_retry` before each attempt
    /// after a failure, back to 0 once Established (metallb `internal/bgp/native/backoff.go`:
    /// first 1 s, factor 2, max 2 min, `Reset()` on success). A dial or OPEN exchange that does
    /// not finish within `open_hold_time` counts as a failure.
    ImmediateThenDoubling {
        /// The second wait (the first is zero).
        first: SimDuration,
    },
}

/// The address families a session carries (RFC 4760 Multiprotocol capabilities): MetalLB's
/// FRR mode activates IPv4 unicast, IPv6 unicast or both on a session (both with
/// `dualStackAddressFamily: true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Families {
    /// IPv4 unicast (AFI 1, SAFI 1).
    pub ipv4_unicast: bool,
    /// IPv6 unicast (AFI 2, SAFI 1).
    pub ipv6_unicast: bool,
}

impl Families {
    /// IPv4 unicast only: every session before IPv6.
    pub const IPV4: Families = Families {
        ipv4_unicast: true,
        ipv6_unicast: false,
    };
    /// IPv6 unicast only.
    pub const IPV6: Families = Families {
        ipv4_unicast: false,
        ipv6_unicast: true,
    };
    /// Both on one session.
    pub const DUAL_STACK: Families = Families {
        ipv4_unicast: true,
        ipv6_unicast: true,
    };

    /// The families both sides have.
    pub fn and(self, other: Families) -> Families {
        Families {
            ipv4_unicast: self.ipv4_unicast && other.ipv4_unicast,
            ipv6_unicast: self.ipv6_unicast && other.ipv6_unicast,
        }
    }

    /// Whether no family is in the set.
    pub fn is_empty(self) -> bool {
        !self.ipv4_unicast && !self.ipv6_unicast
    }
}

impl Default for Families {
    fn default() -> Self {
        Families::IPV4
    }
}

/// Everything a [`Session`](super::Session) needs to know about itself and its peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionConfig {
    /// Our AS number (sent as AS_TRANS 23456 in the OPEN when above 65535, RFC 6793).
    pub local_as: u32,
    /// The AS the peer must announce; anything else gets OPEN Error / Bad Peer AS.
    pub peer_as: u32,
    /// Our BGP Identifier.
    pub router_id: Ipv4Addr,
    /// Hold Time we propose (whole seconds are sent); the session uses min(ours, peer's).
    pub hold_time: SimDuration,
    /// Keepalive interval; `None` = negotiated hold / 3. Never more than hold / 3.
    pub keepalive: Option<SimDuration>,
    /// Multiply each keepalive interval by a random factor in 0.75..=1.0 (RFC 4271 §10). Off in
    /// both flavours: FRR's keepalive thread (`bgp_keepalives.c`) sends exactly every
    /// `v_keepalive` and bgpd applies no jitter to any timer; Go's `time.Ticker` neither.
    pub keepalive_jitter: bool,
    /// ConnectRetryTime (RFC 4271 §10: 120 s), or the cap of the backoff.
    pub connect_retry: SimDuration,
    /// How waits between attempts grow.
    pub connect_backoff: ConnectBackoff,
    /// Wait in Idle after a session went down before starting again (RFC 4271 §8.1.1
    /// AutomaticStart with IdleHoldTimer; FRR's start timer). Unused with a backoff.
    pub idle_hold: SimDuration,
    /// Hold timer in OpenSent (RFC 4271 §8.2.2: "a large value", suggested 4 minutes).
    pub open_hold_time: SimDuration,
    /// Only accept connections, never dial (RFC 4271 PassiveTcpEstablishment).
    pub passive: bool,
    /// Which implementation to imitate.
    pub flavour: Flavour,
    /// Advertise the Graceful Restart capability (RFC 4724) with this Restart Time; `None` =
    /// capability not sent.
    pub graceful_restart: Option<SimDuration>,
    /// LOCAL_PREF sent on iBGP sessions.
    pub local_pref: u32,
    /// How long the first UPDATEs wait after the session is Established (FRR's update-group
    /// coalesce time, [`frr_coalesce_time`]); routes announced or withdrawn meanwhile go out
    /// with them. Zero: at once (metallb's native speaker).
    pub coalesce_time: SimDuration,
    /// The first periodic KEEPALIVE after the OPEN exchange comes after this share of the
    /// keepalive interval, in millionths (1..=1,000,000), instead of the whole interval: a
    /// session that has been up since an unrelated moment, whose keepalive cycle has its own
    /// phase. `None`: the cycle starts when the session comes up, as in every real speaker.
    pub keepalive_phase: Option<u32>,
    /// The first time the session is Established its UPDATEs go out at once, without the
    /// coalesce time: a session of a cluster that had converged before the run began.
    pub converged: bool,
    /// The address families FRR activates on this session (its MP capabilities and what it
    /// sends). The native speaker always offers IPv4 and IPv6 unicast (metallb `sendOpen`)
    /// and sends its IPv4 routes whatever was negotiated; it has no IPv6 routes.
    #[serde(default)]
    pub families: Families,
}

/// FRR's update-group coalesce time for a speaker with `peers` configured peers:
/// `BGP_DEFAULT_SUBGROUP_COALESCE_TIME` 1000 ms plus `BGP_PEER_ADJUST_SUBGROUP_COALESCE_TIME`
/// 50 ms per peer, at most `BGP_MAX_SUBGROUP_COALESCE_TIME` 10 s (bgpd/bgp_updgrp.h; applied in
/// bgpd.c `peer_create`). A MetalLB node's FRR has one peer, the router: 1050 ms, the 1.05 s
/// from a session's Up to its first UPDATE in reallab/profiles/*/frr_router.log.
pub fn frr_coalesce_time(peers: u32) -> SimDuration {
    let ms = (1_000 + 50 * u64::from(peers)).min(10_000);
    SimDuration::from_millis(ms)
}

/// The three timers FRR lets an operator set, in its order (`timers bgp KEEPALIVE HOLD`,
/// `timers connect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FrrTimers {
    /// Keepalive interval.
    pub keepalive: SimDuration,
    /// Proposed hold time.
    pub hold: SimDuration,
    /// ConnectRetry interval.
    pub connect_retry: SimDuration,
}

impl FrrTimers {
    /// `frr defaults traditional` (FRR `bgpd/bgpd.h` BGP_DEFAULT_KEEPALIVE 60,
    /// BGP_DEFAULT_HOLDTIME 180; ConnectRetry 120 s as in FRR up to 10.2 — FRR 10.3 lowered
    /// BGP_DEFAULT_CONNECT_RETRY to 30 s doubling to BGP_MAX_CONNECT_RETRY 120 s).
    pub const TRADITIONAL: FrrTimers = FrrTimers {
        keepalive: SimDuration::from_secs(60),
        hold: SimDuration::from_secs(180),
        connect_retry: SimDuration::from_secs(120),
    };
    /// `frr defaults datacenter` (FRR `bgpd/bgp_vty.h` profile values 3 / 9 / 10).
    pub const DATACENTER: FrrTimers = FrrTimers {
        keepalive: SimDuration::from_secs(3),
        hold: SimDuration::from_secs(9),
        connect_retry: SimDuration::from_secs(10),
    };
}

/// RFC 4271 §8.2.2: the OpenSent hold timer's "large value", 4 minutes.
pub const LARGE_HOLD_TIME: SimDuration = SimDuration::from_secs(240);

impl SessionConfig {
    /// MetalLB's native Go speaker, as `internal/bgp/native/native.go` does it: hold 90 s when
    /// none is configured (`NewSession`), keepalive negotiated hold / 3 (`sendKeepalives`;
    /// the configured keepalive is not used there), reconnect backoff 0, 1, 2, 4 ... 120 s
    /// (`backoff.go`), a 10 s deadline on dial plus OPEN exchange (`connect`), no graceful
    /// restart, LOCAL_PREF 0 unless configured (`adv.LocalPref`).
    pub fn native(local_as: u32, peer_as: u32, router_id: Ipv4Addr) -> SessionConfig {
        SessionConfig {
            local_as,
            peer_as,
            router_id,
            hold_time: SimDuration::from_secs(90),
            keepalive: None,
            keepalive_jitter: false,
            connect_retry: SimDuration::from_secs(120),
            connect_backoff: ConnectBackoff::ImmediateThenDoubling {
                first: SimDuration::from_secs(1),
            },
            idle_hold: SimDuration::ZERO,
            open_hold_time: SimDuration::from_secs(10),
            passive: false,
            flavour: Flavour::Native,
            graceful_restart: None,
            local_pref: 0,
            // metallb `connect`: the UPDATEs follow the KEEPALIVE at once.
            coalesce_time: SimDuration::ZERO,
            keepalive_phase: None,
            converged: false,
            families: Families::IPV4,
        }
    }

    /// FRR bgpd with the given timers: active and listening, OpenSent hold 245 s (FRR
    /// `bgp_fsm.c` sets `v_holdtime = 245` "4 minutes" when the connection comes up), start
    /// timer 1 s after a session goes down (`BGP_INIT_START_TIMER`), LOCAL_PREF 100
    /// (`BGP_DEFAULT_LOCAL_PREF`), no graceful restart unless set, the first UPDATEs after the
    /// coalesce time of a speaker with one peer ([`frr_coalesce_time`]).
    pub fn frr(local_as: u32, peer_as: u32, router_id: Ipv4Addr, timers: FrrTimers) -> Self {
        SessionConfig {
            local_as,
            peer_as,
            router_id,
            hold_time: timers.hold,
            keepalive: Some(timers.keepalive),
            keepalive_jitter: false,
            connect_retry: timers.connect_retry,
            connect_backoff: ConnectBackoff::Fixed,
            idle_hold: SimDuration::from_secs(1),
            open_hold_time: SimDuration::from_secs(245),
            passive: false,
            flavour: Flavour::Frr,
            graceful_restart: None,
            local_pref: 100,
            coalesce_time: frr_coalesce_time(1),
            keepalive_phase: None,
            converged: false,
            families: Families::IPV4,
        }
    }

    /// FRR with `frr defaults traditional`: keepalive 60 s, hold 180 s, connect retry 120 s.
    pub fn frr_traditional(local_as: u32, peer_as: u32, router_id: Ipv4Addr) -> Self {
        SessionConfig::frr(local_as, peer_as, router_id, FrrTimers::TRADITIONAL)
    }

    /// FRR with `frr defaults datacenter`: keepalive 3 s, hold 9 s, connect retry 10 s.
    pub fn frr_datacenter(local_as: u32, peer_as: u32, router_id: Ipv4Addr) -> Self {
        SessionConfig::frr(local_as, peer_as, router_id, FrrTimers::DATACENTER)
    }

    /// The same session advertising graceful restart with `restart_time` (RFC 4724; FRR's
    /// default `BGP_DEFAULT_RESTART_TIME` is 120 s).
    pub fn with_graceful_restart(mut self, restart_time: SimDuration) -> Self {
        self.graceful_restart = Some(restart_time);
        self
    }

    /// The same session carrying `families`.
    pub fn with_families(mut self, families: Families) -> Self {
        self.families = families;
        self
    }

    /// Whether this is an iBGP session (same AS on both ends).
    pub fn is_ibgp(&self) -> bool {
        self.local_as == self.peer_as
    }
}

//! The BGP session FSM (RFC 4271 section 8), sans-IO.
//!
//! A [`Session`] is one speaker's view of one peering. It reads no clock and opens no socket:
//! the runner feeds it [`Input`]s with the current time and carries out the [`Output`]s it
//! returns (dial, write bytes, close), and wakes it at [`Session::next_timeout`].
//!
//! ```text
//!             ManualStart                 TcpConnected        OPEN ok          KEEPALIVE
//!   Idle ───────────────────▶ Connect ─────────────────▶ OpenSent ──────▶ OpenConfirm ──────▶ Established
//!    ▲  ◀── IdleHold (restart)  │  ▲ ConnectRetry          │ (native skips OpenConfirm)          │
//!    │                    fails ▼  │                       │                                     │
//!    │                         Active                      │                                     │
//!    └──────── errors, NOTIFICATION, hold expiry, TCP closed, BFD down, stop ◀───────────────────┘
//! ```
//!
//! Connection collisions (RFC 4271 §6.8): each side may dial the other while accepting the
//! other's dial, so a session may briefly hold two connections, told apart by [`Direction`].
//! The FSM runs on one (the first up); a second one gets our OPEN, and when the first OPEN
//! arrives on either, the BGP Identifiers decide: the higher identifier's outbound connection
//! survives, the other gets NOTIFICATION Cease / Connection Collision Resolution. A session in
//! Established refuses a second connection the same way.
//!
//! ```
//! use bgp::session::{Input, Output, Session, SessionConfig};
//! use sim_core::SimTime;
//! use std::net::{Ipv4Addr, Ipv6Addr};
//!
//! let config = SessionConfig::native(64512, 64512, Ipv4Addr::new(10, 0, 0, 1));
//! let mut speaker = Session::new(config, 7);
//! let out = speaker.handle(SimTime::ZERO, Input::ManualStart);
//! assert!(out.contains(&Output::Connect));
//! assert!(speaker.next_timeout().is_some()); // the 10 s dial + OPEN deadline
//! ```

mod adj_rib_out;
mod config;
mod io;
mod timer;

pub use config::{
    frr_coalesce_time, ConnectBackoff, Families, Flavour, FrrTimers, SessionConfig, LARGE_HOLD_TIME,
};
pub use io::{Direction, DownReason, Input, Output, State};
pub use timer::{SplitMix64, Timer, TimerTable};

use crate::wire::{
    Afi, Capability, CeaseSubcode, CodecOptions, DecodeError, ErrorCode, FsmSubcode,
    GracefulRestart, GracefulRestartFamily, Ipv4Prefix, Ipv6Prefix, Keepalive, Message,
    MessageReader, Notification, Open, OpenSubcode, Safi, Update,
};
use adj_rib_out::{AdjRibOut, AdjRibOut6, UpdateLayout};
use bytes::BytesMut;
use sim_core::{SimDuration, SimTime};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Most timers one wake-up fires (a zero-length wait may arm a timer due at once).
const MAX_DUE_PER_WAKE: usize = 16;

/// Internal FSM events, RFC 4271 §8.1 names on each.
#[derive(Debug, Clone)]
enum Event {
    /// Event 1 ManualStart / Event 5 ManualStart_with_PassiveTcpEstablishment.
    ManualStart,
    /// Event 2 ManualStop.
    ManualStop(Stop),
    /// Event 3 AutomaticStart (IdleHoldTimer expired after a session went down).
    AutomaticStart,
    /// [`Input::AdminStart`]: allowed to start again, after the IdleHoldTimer.
    AdminStart,
    /// Event 9 ConnectRetryTimer_Expires.
    ConnectRetryTimerExpires,
    /// Event 10 HoldTimer_Expires.
    HoldTimerExpires,
    /// Event 11 KeepaliveTimer_Expires.
    KeepaliveTimerExpires,
    /// Events 16/17 Tcp_CR_Acked / TcpConnectionConfirmed.
    TcpConnectionConfirmed,
    /// Event 18 TcpConnectionFails (a dial that never connected).
    TcpConnectionFails,
    /// Event 18 TcpConnectionFails on an open connection: FIN or RST from the peer.
    TcpClosed { reset: bool },
    /// Event 19 BGPOpen.
    BgpOpen(Open),
    /// Events 21 BGPHeaderErr, 22 BGPOpenMsgErr, 28 UpdateMsgErr.
    MsgErr(DecodeError),
    /// Events 24 NotifMsgVerErr / 25 NotifMsg.
    NotifMsg(Notification),
    /// Event 26 KeepAliveMsg.
    KeepAliveMsg,
    /// Event 27 UpdateMsg.
    UpdateMsg(Update),
    /// ROUTE-REFRESH (RFC 2918 §4); not an RFC 4271 event.
    RouteRefreshMsg,
    /// RFC 9384: BFD reports the peer unreachable.
    BfdDown,
}

/// How a stop comes about; decides the NOTIFICATION sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// Daemon stops (FRR SIGTERM: `bgp_terminate` -> Cease / Peer De-configured).
    Daemon,
    /// `neighbor shutdown` (FRR `peer_notify_shutdown` -> Cease / Administrative Shutdown).
    Admin,
    /// The process is killed: the kernel closes its sockets, nothing else is said.
    Kill,
}

/// One TCP connection and what has been read from it.
#[derive(Debug, Clone)]
struct Connection {
    dir: Direction,
    reader: MessageReader,
}

impl Connection {
    fn new(dir: Direction) -> Connection {
        Connection {
            dir,
            reader: MessageReader::new(CodecOptions::FOUR_OCTET_AS),
        }
    }
}

/// What the OPEN exchange settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Negotiated {
    peer_router_id: Ipv4Addr,
    hold: SimDuration,
    keepalive: SimDuration,
    /// The peer's Restart Time when both sides advertised graceful restart.
    peer_restart: Option<SimDuration>,
    codec: CodecOptions,
    /// The families both OPENs offered (RFC 4760 §8), which FRR sends UPDATEs for.
    families: Families,
}

/// Which connection slot bytes belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// The connection the FSM runs on.
    Primary,
    /// A second connection awaiting collision resolution.
    Second,
}

/// One speaker's BGP session with one peer: a pure state machine.
///
/// Feed it with [`Session::handle`]; wake it at [`Session::next_timeout`]. Same config, seed
/// and inputs give the same outputs.
#[derive(Debug, Clone)]
pub struct Session {
    config: SessionConfig,
    state: State,
    timers: TimerTable,
    rng: SplitMix64,
    /// The connection the FSM runs on.
    conn: Option<Connection>,
    /// A second connection during a collision (RFC 4271 §6.8).
    second: Option<Connection>,
    /// An outbound dial is pending.
    dialling: bool,
    negotiated: Option<Negotiated>,
    adj_rib_out: AdjRibOut,
    adj_rib_out6: AdjRibOut6,
    /// Next wait of the reconnect backoff.
    backoff: SimDuration,
    /// Restart by itself after going down (false after a stop).
    auto_restart: bool,
    /// Why the session is leaving Established, set by the FSM arm, read by the transition.
    down: Option<(DownReason, Option<SimDuration>)>,
    /// [`SessionConfig::keepalive_phase`], until the first keepalive cycle is armed.
    phase_pending: Option<u32>,
    /// [`SessionConfig::converged`], until the session is first Established.
    converged_pending: bool,
}

impl Session {
    /// A session in Idle. `seed` feeds its random stream (keepalive jitter); derive it from the
    /// run's master seed and a stable name of the peering.
    pub fn new(config: SessionConfig, seed: u64) -> Session {
        Session {
            state: State::Idle,
            timers: TimerTable::default(),
            rng: SplitMix64::new(seed),
            conn: None,
            second: None,
            dialling: false,
            negotiated: None,
            adj_rib_out: AdjRibOut::default(),
            adj_rib_out6: AdjRibOut6::default(),
            backoff: SimDuration::ZERO,
            auto_restart: false,
            down: None,
            phase_pending: config.keepalive_phase,
            converged_pending: config.converged,
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// The FSM state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The deadline of one timer, if armed.
    pub fn timer(&self, timer: Timer) -> Option<SimTime> {
        self.timers.get(timer)
    }

    /// When to wake the session with [`Input::Timer`]: the earliest armed timer.
    pub fn next_timeout(&self) -> Option<SimTime> {
        self.timers.next()
    }

    /// The negotiated hold time once the OPENs are exchanged.
    pub fn negotiated_hold_time(&self) -> Option<SimDuration> {
        self.negotiated.map(|n| n.hold)
    }

    /// The routes this side advertises, in prefix order.
    pub fn advertised(&self) -> Vec<(Ipv4Prefix, Ipv4Addr)> {
        self.adj_rib_out.all()
    }

    /// Processes one input at `now` (never earlier than the previous call's `now`).
    ///
    /// The runner must deliver [`Input::Timer`] at [`Session::next_timeout`] before any input
    /// at a later time: a deadline is only acted on when the wake-up arrives.
    pub fn handle(&mut self, now: SimTime, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::ManualStart => self.event(now, Event::ManualStart, &mut out),
            Input::ManualStop { graceful } => {
                let stop = if graceful { Stop::Daemon } else { Stop::Kill };
                self.event(now, Event::ManualStop(stop), &mut out);
            }
            Input::AdminShutdown => self.event(now, Event::ManualStop(Stop::Admin), &mut out),
            Input::AdminStart => self.event(now, Event::AdminStart, &mut out),
            Input::TcpConnected { dir } => self.tcp_connected(now, dir, &mut out),
            Input::TcpConnectionFails => {
                // Only a pending dial can fail; a late report after Idle changed nothing.
                if std::mem::take(&mut self.dialling) && self.conn.is_none() {
                    self.event(now, Event::TcpConnectionFails, &mut out);
                }
            }
            Input::TcpClosed { dir, reset } => match self.slot(dir) {
                Some(Slot::Primary) => self.event(now, Event::TcpClosed { reset }, &mut out),
                Some(Slot::Second) => self.second = None,
                // Already closed on our side: nothing left to tear down.
                None => {}
            },
            Input::Bytes { dir, bytes } => self.bytes(now, dir, &bytes, &mut out),
            Input::Timer => self.fire_due(now, &mut out),
            Input::BfdDown => self.event(now, Event::BfdDown, &mut out),
            Input::Announce { prefixes, next_hop } => {
                let changed = self.adj_rib_out.announce(&prefixes, next_hop);
                if self.sending_updates() && self.sends_ipv4() && !changed.is_empty() {
                    let updates = self.layout().announcements(&changed);
                    self.send_updates(updates, &mut out);
                }
            }
            Input::Withdraw(prefixes) => {
                let removed = self.adj_rib_out.withdraw(&prefixes);
                if self.sending_updates() && self.sends_ipv4() && !removed.is_empty() {
                    let updates = self.layout().withdrawals(&removed);
                    self.send_updates(updates, &mut out);
                }
            }
            Input::Announce6 {
                prefixes,
                next_hop,
                link_local,
            } => {
                let changed = self
                    .adj_rib_out6
                    .announce(&prefixes, (next_hop, link_local));
                if self.sending_updates() && self.sends_ipv6() && !changed.is_empty() {
                    let updates = self.layout().announcements6(&changed);
                    self.send_updates(updates, &mut out);
                }
            }
            Input::Withdraw6(prefixes) => {
                let removed = self.adj_rib_out6.withdraw(&prefixes);
                if self.sending_updates() && self.sends_ipv6() && !removed.is_empty() {
                    let updates = self.layout().withdrawals6(&removed);
                    self.send_updates(updates, &mut out);
                }
            }
        }
        out
    }

    /// Whether IPv4 UPDATEs go out: always from the native speaker (metallb sends them
    /// whatever the peer's capabilities); from FRR only when IPv4 unicast was negotiated
    /// (bgpd sends per negotiated AFI/SAFI, `afc_nego`).
    fn sends_ipv4(&self) -> bool {
        self.config.flavour == Flavour::Native
            || self.negotiated.is_some_and(|n| n.families.ipv4_unicast)
    }

    /// Whether IPv6 UPDATEs go out: FRR with IPv6 unicast negotiated.
    fn sends_ipv6(&self) -> bool {
        self.config.flavour == Flavour::Frr
            && self.negotiated.is_some_and(|n| n.families.ipv6_unicast)
    }

    /// The IPv6 routes advertised (Adj-RIB-Out), in prefix order.
    pub fn advertised6(&self) -> Vec<(Ipv6Prefix, Ipv6Addr, Option<Ipv6Addr>)> {
        self.adj_rib_out6
            .all()
            .into_iter()
            .map(|(p, (nh, ll))| (p, nh, ll))
            .collect()
    }

    /// Established and past the coalesce time: a change goes out at once (before, it waits
    /// for the first full announcement).
    fn sending_updates(&self) -> bool {
        self.state == State::Established && self.timers.get(Timer::Coalesce).is_none()
    }

    // ----- input routing -------------------------------------------------------------------

    fn slot(&self, dir: Direction) -> Option<Slot> {
        if self.conn.as_ref().is_some_and(|c| c.dir == dir) {
            Some(Slot::Primary)
        } else if self.second.as_ref().is_some_and(|c| c.dir == dir) {
            Some(Slot::Second)
        } else {
            None
        }
    }

    fn fire_due(&mut self, now: SimTime, out: &mut Vec<Output>) {
        for _ in 0..MAX_DUE_PER_WAKE {
            let Some(timer) = self.timers.take_due(now) else {
                return;
            };
            let event = match timer {
                Timer::ConnectRetry => Event::ConnectRetryTimerExpires,
                Timer::Hold => Event::HoldTimerExpires,
                Timer::Keepalive => Event::KeepaliveTimerExpires,
                Timer::IdleHold => Event::AutomaticStart,
                // Not an RFC 4271 event: the subgroup's first announcement.
                Timer::Coalesce => {
                    if self.state == State::Established {
                        self.announce_all(out);
                    }
                    continue;
                }
            };
            self.event(now, event, out);
        }
    }

    fn tcp_connected(&mut self, now: SimTime, dir: Direction, out: &mut Vec<Output>) {
        if dir == Direction::Outbound {
            self.dialling = false;
        }
        let refuse = |out: &mut Vec<Output>| out.push(Output::CloseTcp { dir, reset: true });
        // metallb's native speaker dials and never listens: an inbound SYN finds no socket.
        if dir == Direction::Inbound && self.config.flavour == Flavour::Native {
            return refuse(out);
        }
        match (&self.conn, self.state) {
            (None, State::Connect | State::Active) => {
                self.conn = Some(Connection::new(dir));
                self.event(now, Event::TcpConnectionConfirmed, out);
            }
            (None, State::Idle) if dir == Direction::Inbound && self.accepts_while_idle() => {
                self.conn = Some(Connection::new(dir));
                self.event(now, Event::TcpConnectionConfirmed, out);
            }
            // RFC 4271 §8.2.2 Idle: "refuses all incoming BGP connections".
            (None, _) => refuse(out),
            // The runner reported the same connection twice: keep the one we have.
            (Some(c), _) if c.dir == dir => {}
            // RFC 4271 §6.8: a collision with an Established session closes the new connection.
            (Some(_), State::Established) => {
                let cease = Notification::cease(CeaseSubcode::ConnectionCollisionResolution);
                self.send_message(dir, &Message::Notification(cease), out);
                out.push(Output::CloseTcp { dir, reset: false });
            }
            (Some(_), _) if self.second.is_none() => {
                self.second = Some(Connection::new(dir));
                let open = self.our_open();
                self.send_message(dir, &Message::Open(open), out);
            }
            (Some(_), _) => refuse(out),
        }
    }

    fn bytes(&mut self, now: SimTime, dir: Direction, bytes: &[u8], out: &mut Vec<Output>) {
        let conn = match self.slot(dir) {
            Some(Slot::Primary) => self.conn.as_mut(),
            Some(Slot::Second) => self.second.as_mut(),
            // Bytes still in flight on a connection we closed.
            None => None,
        };
        if let Some(c) = conn {
            c.reader.push(bytes);
        }
        // The slot is looked up again for every message: a collision may promote the second
        // connection or drop either one midway.
        loop {
            let (slot, message) = match self.slot(dir) {
                Some(Slot::Primary) => (Slot::Primary, self.conn.as_mut()),
                Some(Slot::Second) => (Slot::Second, self.second.as_mut()),
                None => return,
            };
            let Some(message) = message.and_then(|c| c.reader.next_message()) else {
                return;
            };
            match slot {
                Slot::Primary => {
                    let event = match message {
                        Ok(Message::Open(open)) => Event::BgpOpen(open),
                        Ok(Message::Update(update)) => Event::UpdateMsg(update),
                        Ok(Message::Notification(n)) => Event::NotifMsg(n),
                        Ok(Message::Keepalive(_)) => Event::KeepAliveMsg,
                        Ok(Message::RouteRefresh(_)) => Event::RouteRefreshMsg,
                        Err(e) => Event::MsgErr(e),
                    };
                    self.event(now, event, out);
                }
                Slot::Second => self.second_message(now, message, out),
            }
        }
    }

    /// The second connection of a collision only ever expects an OPEN.
    fn second_message(
        &mut self,
        now: SimTime,
        message: Result<Message, DecodeError>,
        out: &mut Vec<Output>,
    ) {
        let Some(dir) = self.second.as_ref().map(|c| c.dir) else {
            return;
        };
        match message {
            Ok(Message::Open(open)) => {
                if self.state == State::Established {
                    // RFC 4271 §6.8: the Established connection always wins.
                    self.close_second(CeaseSubcode::ConnectionCollisionResolution, out);
                } else if self.collision_keeps(dir, open.bgp_identifier) {
                    self.close_primary_and_promote(now, Some(open), out);
                } else {
                    self.close_second(CeaseSubcode::ConnectionCollisionResolution, out);
                }
            }
            // The peer gave this connection up (its collision resolution, or an error).
            Ok(Message::Notification(_)) => {
                self.second = None;
                out.push(Output::CloseTcp { dir, reset: false });
            }
            Err(e) => {
                self.second = None;
                self.send_notification_on(dir, Notification::from(&e), out);
                out.push(Output::CloseTcp { dir, reset: false });
            }
            Ok(_) => {
                self.second = None;
                let n = Notification::fsm_error(FsmSubcode::UnexpectedMessageInOpenSent);
                self.send_notification_on(dir, n, out);
                out.push(Output::CloseTcp { dir, reset: false });
            }
        }
    }

    /// RFC 4271 §6.8 with both connections up: whether `candidate` survives. The connection
    /// opened by the speaker with the higher BGP Identifier wins (FRR `bgp_collision_detect`
    /// reads the rule the same way).
    fn collision_keeps(&self, candidate: Direction, peer_id: Ipv4Addr) -> bool {
        let winner = if u32::from(self.config.router_id) > u32::from(peer_id) {
            Direction::Outbound
        } else {
            Direction::Inbound
        };
        candidate == winner
    }

    fn close_second(&mut self, subcode: CeaseSubcode, out: &mut Vec<Output>) {
        if let Some(c) = self.second.take() {
            self.send_notification_on(c.dir, Notification::cease(subcode), out);
            out.push(Output::CloseTcp {
                dir: c.dir,
                reset: false,
            });
        }
    }

    /// The primary connection lost (collision, or it closed before establishment): the second
    /// one takes over, from OpenSent since our OPEN went out on it.
    fn close_primary_and_promote(
        &mut self,
        now: SimTime,
        pending_open: Option<Open>,
        out: &mut Vec<Output>,
    ) {
        if let Some(c) = self.conn.take() {
            let cease = Notification::cease(CeaseSubcode::ConnectionCollisionResolution);
            self.send_notification_on(c.dir, cease, out);
            out.push(Output::CloseTcp {
                dir: c.dir,
                reset: false,
            });
        }
        self.promote(now, pending_open, out);
    }

    fn promote(&mut self, now: SimTime, pending_open: Option<Open>, out: &mut Vec<Output>) {
        self.conn = self.second.take();
        self.negotiated = None;
        self.timers.stop(Timer::Keepalive);
        self.timers
            .set(Timer::Hold, now + self.config.open_hold_time);
        let from = self.state;
        self.transition(now, from, State::OpenSent, out);
        if let Some(open) = pending_open {
            self.event(now, Event::BgpOpen(open), out);
        }
    }

    // ----- the FSM ---------------------------------------------------------------------------

    /// One match on (state, event) (RFC 4271 §8.2.2), then the shared transition block.
    fn event(&mut self, now: SimTime, event: Event, out: &mut Vec<Output>) {
        use State::*;
        let from = self.state;
        let to = match (from, event) {
            // -- Idle ------------------------------------------------------------------------
            (Idle, Event::ManualStart) => {
                self.auto_restart = true;
                self.start(now, out)
            }
            (Idle, Event::AutomaticStart) => self.start(now, out),
            (Idle, Event::AdminStart) => {
                if !self.auto_restart {
                    self.auto_restart = true;
                    self.timers
                        .set(Timer::IdleHold, now + self.config.idle_hold);
                }
                Idle
            }
            // Reached only for a connection FRR accepts while it waits in Idle (see
            // `accepts_while_idle`): its doppelganger goes Active, then TCP_connection_open.
            (Idle, Event::TcpConnectionConfirmed) => self.connection_confirmed(now, out),
            (Idle, Event::ManualStop(_)) => {
                // A stopped session must not restart by itself.
                self.auto_restart = false;
                self.timers.stop(Timer::IdleHold);
                Idle
            }
            // RFC 4271 §8.2.2 Idle: "Any other event (Events 9-12, 15-28) received in the Idle
            // state does not cause change in the state of the local system."
            (Idle, _) => Idle,

            // RFC 4271 §8.2.2: Events 1 and 3-7 are ignored in every other state.
            (_, Event::ManualStart | Event::AutomaticStart | Event::AdminStart) => from,

            // -- any connected or connecting state: stops ----------------------------------
            (_, Event::ManualStop(stop)) => self.stop(stop, out),

            // -- Connect / Active ----------------------------------------------------------
            (Connect, Event::ConnectRetryTimerExpires) => match self.config.connect_backoff {
                // RFC: drop the attempt, restart the timer, dial again.
                ConnectBackoff::Fixed => {
                    self.dial(now, out);
                    Connect
                }
                // metallb: the 10 s dial deadline passed; a failure like any other.
                ConnectBackoff::ImmediateThenDoubling { .. } => {
                    self.dialling = false;
                    let wait = self.next_backoff();
                    self.timers.set(Timer::ConnectRetry, now + wait);
                    Active
                }
            },
            (Active, Event::ConnectRetryTimerExpires) => {
                self.dial(now, out);
                Connect
            }
            (Connect | Active, Event::TcpConnectionConfirmed) => {
                self.connection_confirmed(now, out)
            }
            // FRR (`bgp_fsm.c` table: Connect + TCP_connection_open_failed -> Active) keeps the
            // ConnectRetry timer running and listens; RFC 4271 would go to Idle. metallb sleeps
            // its backoff.
            (Connect, Event::TcpConnectionFails) => {
                if let ConnectBackoff::ImmediateThenDoubling { .. } = self.config.connect_backoff {
                    let wait = self.next_backoff();
                    self.timers.set(Timer::ConnectRetry, now + wait);
                }
                Active
            }
            // BFD only guards a session whose OPENs are exchanged (FRR `bgp_bfd.c` acts on
            // Established peers); before that there is nothing to bring down.
            (Connect | Active, Event::BfdDown) => from,

            // -- OpenSent --------------------------------------------------------------------
            (OpenSent, Event::BgpOpen(open)) => self.receive_open(now, open, out),

            // -- OpenSent, OpenConfirm, Established: failures ------------------------------
            (OpenSent | OpenConfirm | Established, Event::HoldTimerExpires) => self.go_down(
                DownReason::HoldTimerExpired,
                Some(Notification::hold_timer_expired()),
                out,
            ),
            (OpenSent | OpenConfirm | Established, Event::TcpClosed { reset }) => {
                if reset {
                    self.conn = None; // nothing left to close
                }
                if from != Established && self.second.is_some() {
                    if let Some(c) = self.conn.take() {
                        out.push(Output::CloseTcp {
                            dir: c.dir,
                            reset: false,
                        });
                    }
                    self.promote(now, None, out);
                    return;
                }
                let reason = if reset {
                    DownReason::TcpReset
                } else {
                    DownReason::TcpClosed
                };
                self.go_down(reason, None, out)
            }
            (OpenSent | OpenConfirm | Established, Event::MsgErr(e)) => {
                let n = Notification::from(&e);
                self.go_down(DownReason::NotificationSent(n.error), Some(n), out)
            }
            (OpenSent | OpenConfirm | Established, Event::NotifMsg(n)) => {
                // The peer may have resolved a collision against this connection first.
                if from != Established && self.second.is_some() {
                    if let Some(c) = self.conn.take() {
                        out.push(Output::CloseTcp {
                            dir: c.dir,
                            reset: false,
                        });
                    }
                    self.promote(now, None, out);
                    return;
                }
                self.go_down(DownReason::NotificationReceived(n.error), None, out)
            }
            // RFC 9384 §2: Cease / BFD Down.
            (OpenSent | OpenConfirm | Established, Event::BfdDown) => self.go_down(
                DownReason::BfdDown,
                Some(Notification::cease(CeaseSubcode::BfdDown)),
                out,
            ),

            // -- OpenConfirm, Established: keepalives --------------------------------------
            (OpenConfirm | Established, Event::KeepaliveTimerExpires) => {
                self.send_primary(&Message::Keepalive(Keepalive), out);
                self.arm_keepalive(now);
                from
            }
            (OpenConfirm, Event::KeepAliveMsg) => {
                self.restart_hold(now);
                Established
            }

            // -- Established -----------------------------------------------------------------
            (Established, Event::KeepAliveMsg) => {
                self.restart_hold(now);
                Established
            }
            (Established, Event::UpdateMsg(update)) => {
                self.restart_hold(now);
                self.receive_update(update, out);
                Established
            }
            // RFC 2918 §4: send the Adj-RIB-Out again.
            (Established, Event::RouteRefreshMsg) => {
                self.restart_hold(now);
                self.send_adj_rib_out(out);
                Established
            }

            // -- anything else: NOTIFICATION FSM Error (RFC 4271 §6.6, RFC 6608 §4) -----------
            (state, _) => self.unexpected(state, out),
        };
        self.transition(now, from, to, out);
    }

    /// What every transition does: report it, run exit and entry actions, keep only the timers
    /// the new state uses (as FRR's `bgp_timer_set` does per state).
    fn transition(&mut self, now: SimTime, from: State, to: State, out: &mut Vec<Output>) {
        if from == to {
            return;
        }
        self.state = to;
        out.push(Output::StateChanged { from, to });
        if from == State::Established {
            let (reason, keep_routes_for) =
                self.down.take().unwrap_or((DownReason::ManualStop, None));
            out.push(Output::SessionDown {
                reason,
                keep_routes_for,
            });
        }
        self.down = None;
        match to {
            State::Idle => {
                for c in [self.conn.take(), self.second.take()].into_iter().flatten() {
                    out.push(Output::CloseTcp {
                        dir: c.dir,
                        reset: false,
                    });
                }
                self.timers.stop_all();
                self.negotiated = None;
                self.dialling = false;
                if self.auto_restart {
                    let wait = match self.config.connect_backoff {
                        ConnectBackoff::Fixed => self.config.idle_hold,
                        ConnectBackoff::ImmediateThenDoubling { .. } => self.next_backoff(),
                    };
                    self.timers.set(Timer::IdleHold, now + wait);
                }
            }
            State::Connect | State::Active => {
                self.timers.stop(Timer::Hold);
                self.timers.stop(Timer::Keepalive);
                self.timers.stop(Timer::IdleHold);
            }
            State::OpenSent => {
                self.timers.stop(Timer::ConnectRetry);
                self.timers.stop(Timer::IdleHold);
                self.timers.stop(Timer::Keepalive);
            }
            State::OpenConfirm => {
                self.timers.stop(Timer::ConnectRetry);
                self.timers.stop(Timer::IdleHold);
            }
            State::Established => {
                self.timers.stop(Timer::ConnectRetry);
                self.timers.stop(Timer::IdleHold);
                self.backoff = SimDuration::ZERO;
                if let Some(n) = self.negotiated {
                    out.push(Output::Established {
                        peer_router_id: n.peer_router_id,
                        hold_time: n.hold,
                        graceful_restart: n.peer_restart,
                    });
                    // FRR: the new update subgroup announces after its coalesce time.
                    let at_once = std::mem::take(&mut self.converged_pending);
                    if self.config.coalesce_time > SimDuration::ZERO && !at_once {
                        self.timers
                            .set(Timer::Coalesce, now + self.config.coalesce_time);
                    } else {
                        self.announce_all(out);
                    }
                }
            }
        }
    }

    /// The whole Adj-RIB-Out, then End-of-RIB when graceful restart is negotiated (RFC 4724 §2:
    /// End-of-RIB after the initial update).
    fn announce_all(&mut self, out: &mut Vec<Output>) {
        self.send_adj_rib_out(out);
        if self.negotiated.is_some_and(|n| n.peer_restart.is_some()) {
            if self.sends_ipv4() {
                self.send_updates(vec![Update::end_of_rib()], out);
            }
            if self.sends_ipv6() {
                self.send_updates(vec![Update::end_of_rib_ipv6()], out);
            }
        }
    }

    /// Every route of the negotiated families: IPv4, then IPv6.
    fn send_adj_rib_out(&mut self, out: &mut Vec<Output>) {
        if self.sends_ipv4() {
            let updates = self.layout().announcements(&self.adj_rib_out.all());
            self.send_updates(updates, out);
        }
        if self.sends_ipv6() {
            let updates = self.layout().announcements6(&self.adj_rib_out6.all());
            self.send_updates(updates, out);
        }
    }

    // ----- FSM actions -----------------------------------------------------------------------

    /// TCP is up: our OPEN, and the OpenSent hold timer.
    fn connection_confirmed(&mut self, now: SimTime, out: &mut Vec<Output>) -> State {
        self.send_open(out);
        self.timers
            .set(Timer::Hold, now + self.config.open_hold_time);
        State::OpenSent
    }

    /// Whether a connection the peer dialled is taken while we wait in Idle. RFC 4271 §8.2.2
    /// refuses it; FRR 8.4 `bgp_network.c` `bgp_accept` refuses only a peer that is shut down
    /// (BGP_PEER_START_SUPPRESSED), Clearing or Deleted, and otherwise makes a doppelganger
    /// that runs the OPEN exchange while the configured peer's start timer is still running.
    /// So a node that returns while the router waits out its start timer after the session
    /// went down is taken at once, not refused and redialled a start timer later.
    fn accepts_while_idle(&self) -> bool {
        self.config.flavour == Flavour::Frr && self.auto_restart
    }

    fn start(&mut self, now: SimTime, out: &mut Vec<Output>) -> State {
        if self.config.passive {
            // FRR `bgp_timer_set` Active: a passive peer runs no connect timer.
            State::Active
        } else {
            self.dial(now, out);
            State::Connect
        }
    }

    fn dial(&mut self, now: SimTime, out: &mut Vec<Output>) {
        out.push(Output::Connect);
        self.dialling = true;
        let deadline = match self.config.connect_backoff {
            ConnectBackoff::Fixed => self.config.connect_retry,
            // metallb `connect`: one 10 s context covers the dial and the OPEN exchange.
            ConnectBackoff::ImmediateThenDoubling { .. } => self.config.open_hold_time,
        };
        self.timers.set(Timer::ConnectRetry, now + deadline);
    }

    /// metallb `backoff.Duration`: returns the current wait, then doubles it (0 -> first).
    fn next_backoff(&mut self) -> SimDuration {
        let wait = self.backoff;
        self.backoff = match self.config.connect_backoff {
            ConnectBackoff::ImmediateThenDoubling { first } if wait == SimDuration::ZERO => first,
            _ => SimDuration::from_nanos(
                wait.as_nanos()
                    .saturating_mul(2)
                    .min(self.config.connect_retry.as_nanos()),
            ),
        };
        wait
    }

    fn stop(&mut self, stop: Stop, out: &mut Vec<Output>) -> State {
        self.auto_restart = false;
        let gr = self.negotiated.is_some_and(|n| n.peer_restart.is_some());
        // FRR `bgpd.c`: `bgp_terminate` (SIGTERM) sends Cease / Peer De-configured and
        // `peer_notify_shutdown` Cease / Administrative Shutdown, both skipped when
        // BGP_PEER_GRACEFUL_RESTART_CAPABLE (GR advertised and received) so the peer keeps
        // our routes stale. metallb `Close()` just closes the socket.
        let notification = match stop {
            Stop::Daemon if !gr => Some(Notification::cease(CeaseSubcode::PeerDeconfigured)),
            Stop::Admin if !gr => Some(Notification::cease(CeaseSubcode::AdministrativeShutdown)),
            Stop::Daemon | Stop::Admin | Stop::Kill => None,
        };
        self.go_down(DownReason::ManualStop, notification, out)
    }

    /// Leaves for Idle: sends `notification` (unless native), records why for SessionDown.
    fn go_down(
        &mut self,
        reason: DownReason,
        notification: Option<Notification>,
        out: &mut Vec<Output>,
    ) -> State {
        if let Some(n) = notification {
            if let Some(dir) = self.conn.as_ref().map(|c| c.dir) {
                self.send_notification_on(dir, n, out);
            }
        }
        // RFC 4724 §4.2: only a dropped connection (no NOTIFICATION) keeps the routes stale.
        let keep = match reason {
            DownReason::TcpClosed | DownReason::TcpReset => {
                self.negotiated.and_then(|n| n.peer_restart)
            }
            _ => None,
        };
        self.down = Some((reason, keep));
        State::Idle
    }

    fn unexpected(&mut self, state: State, out: &mut Vec<Output>) -> State {
        let subcode = match state {
            State::OpenSent => FsmSubcode::UnexpectedMessageInOpenSent,
            State::OpenConfirm => FsmSubcode::UnexpectedMessageInOpenConfirm,
            State::Established => FsmSubcode::UnexpectedMessageInEstablished,
            State::Idle | State::Connect | State::Active => FsmSubcode::Unspecified,
        };
        let n = Notification::fsm_error(subcode);
        self.go_down(DownReason::NotificationSent(n.error), Some(n), out)
    }

    /// OPEN in OpenSent: collision check, validation (RFC 4271 §6.2), negotiation.
    fn receive_open(&mut self, now: SimTime, open: Open, out: &mut Vec<Output>) -> State {
        if let Some(second) = self.second.as_ref().map(|c| c.dir) {
            if self.collision_keeps(second, open.bgp_identifier) {
                // The OPEN came on the losing connection; wait for the peer's on the winner.
                self.close_primary_and_promote(now, None, out);
                return self.state;
            }
            self.close_second(CeaseSubcode::ConnectionCollisionResolution, out);
        }
        let bad_open = |subcode| Notification::new(ErrorCode::OpenMessage(subcode), Vec::new());
        if open.asn() != self.config.peer_as {
            let n = bad_open(OpenSubcode::BadPeerAs);
            return self.go_down(DownReason::NotificationSent(n.error), Some(n), out);
        }
        // RFC 6286 §2.2: on iBGP the identifiers must differ.
        if self.config.is_ibgp() && open.bgp_identifier == self.config.router_id {
            let n = bad_open(OpenSubcode::BadBgpIdentifier);
            return self.go_down(DownReason::NotificationSent(n.error), Some(n), out);
        }
        let negotiated = self.negotiate(&open);
        if let Some(n) = self.unsupported_families(&open, negotiated.families) {
            return self.go_down(DownReason::NotificationSent(n.error), Some(n), out);
        }
        self.negotiated = Some(negotiated);
        if let Some(c) = self.conn.as_mut() {
            c.reader.set_options(negotiated.codec);
        }
        self.send_primary(&Message::Keepalive(Keepalive), out);
        // RFC 4271 §4.2: a zero hold time means neither keepalives nor a hold timer.
        self.timers.stop(Timer::Hold);
        self.restart_hold(now);
        self.arm_keepalive(now);
        match self.config.flavour {
            Flavour::Frr => State::OpenConfirm,
            // metallb `connect`: after its KEEPALIVE it starts sending UPDATEs at once.
            Flavour::Native => State::Established,
        }
    }

    fn negotiate(&self, open: &Open) -> Negotiated {
        let local_s = self.config.hold_time.as_nanos() / 1_000_000_000;
        let hold_s = local_s.min(u64::from(open.hold_time_s));
        let hold = SimDuration::from_secs(hold_s);
        let keepalive = match self.config.flavour {
            // metallb `sendKeepalives`: `time.NewTicker(ht / 3)`, exact.
            Flavour::Native => SimDuration::from_nanos(hold.as_nanos() / 3),
            // FRR `bgp_packet.c` `bgp_open_receive`: configured (or default) keepalive, at most
            // holdtime / 3, in whole seconds.
            Flavour::Frr => {
                let cap = SimDuration::from_secs(hold_s / 3);
                self.config.keepalive.map_or(cap, |k| k.min(cap))
            }
        };
        let peer_gr = open.capabilities().find_map(|c| match c {
            Capability::GracefulRestart(gr) => Some(gr.restart_time_s),
            _ => None,
        });
        let peer_restart = match (self.config.graceful_restart, peer_gr) {
            (Some(_), Some(secs)) => Some(SimDuration::from_secs(u64::from(secs))),
            _ => None,
        };
        let four_octet_as = open
            .capabilities()
            .any(|c| matches!(c, Capability::FourOctetAs { .. }));
        Negotiated {
            peer_router_id: open.bgp_identifier,
            hold,
            keepalive,
            peer_restart,
            codec: CodecOptions { four_octet_as },
            families: self.config.families.and(peer_families(open)),
        }
    }

    /// FRR's refusal of an OPEN with no family in common (bgpd `bgp_open_option_parse`:
    /// "Configured AFI/SAFIs do not overlap with received MP capabilities"): OPEN Message Error
    /// / Unsupported Capability, its data the peer's Multiprotocol capabilities for families
    /// not configured here, each as received (code, length, value; `bgp_capability_parse`
    /// copies them). Only when the peer sent MP capabilities at all; the native speaker never
    /// refuses.
    fn unsupported_families(&self, open: &Open, common: Families) -> Option<Notification> {
        if self.config.flavour != Flavour::Frr || !common.is_empty() {
            return None;
        }
        let mut data = Vec::new();
        let mut any_mp = false;
        for cap in open.capabilities() {
            if let Capability::Multiprotocol { afi, safi } = cap {
                any_mp = true;
                let ours = match (afi, safi) {
                    (Afi::Ipv4, Safi::Unicast) => self.config.families.ipv4_unicast,
                    (Afi::Ipv6, Safi::Unicast) => self.config.families.ipv6_unicast,
                    _ => false,
                };
                if !ours {
                    data.extend_from_slice(&[1, 4]);
                    data.extend_from_slice(&u16::from(*afi).to_be_bytes());
                    data.push(0);
                    data.push(u8::from(*safi));
                }
            }
        }
        any_mp.then(|| {
            Notification::new(
                ErrorCode::OpenMessage(OpenSubcode::UnsupportedCapability),
                data,
            )
        })
    }

    fn receive_update(&mut self, update: Update, out: &mut Vec<Output>) {
        // metallb `consumeBGP` reads and discards whatever the peer sends.
        if self.config.flavour == Flavour::Native {
            return;
        }
        if update.is_end_of_rib() {
            out.push(Output::EndOfRib);
            return;
        }
        // IPv6 routes from the peer (and its IPv6 End-of-RIB) are not consumed: MetalLB's
        // speakers learn nothing from their routers, and lbsim's router side takes IPv4 only.
        if update.nlri.is_empty()
            && update.withdrawn.is_empty()
            && (update.mp_reach_ipv6().is_some() || update.mp_unreach_ipv6().is_some())
        {
            return;
        }
        let announced = match update.next_hop() {
            Some(nh) => update.nlri.iter().map(|&p| (p, nh)).collect(),
            None => Vec::new(),
        };
        out.push(Output::RoutesReceived {
            announced,
            withdrawn: update.withdrawn,
        });
    }

    // ----- timers ----------------------------------------------------------------------------

    /// RFC 4271 §8.2.2: the hold timer restarts on every KEEPALIVE and UPDATE. metallb's native
    /// speaker has none once established (`consumeBGP` reads without a deadline).
    fn restart_hold(&mut self, now: SimTime) {
        let Some(n) = self.negotiated else { return };
        if self.config.flavour == Flavour::Frr && n.hold > SimDuration::ZERO {
            self.timers.set(Timer::Hold, now + n.hold);
        }
    }

    fn arm_keepalive(&mut self, now: SimTime) {
        let Some(n) = self.negotiated else { return };
        if n.hold == SimDuration::ZERO || n.keepalive == SimDuration::ZERO {
            self.timers.stop(Timer::Keepalive);
            return;
        }
        let interval = if let Some(millionths) = self.phase_pending.take() {
            // A cycle already under way: the next KEEPALIVE is due after this share of it.
            let share = u64::from(millionths.clamp(1, 1_000_000));
            SimDuration::from_nanos(
                (u128::from(n.keepalive.as_nanos()) * u128::from(share) / 1_000_000) as u64,
            )
        } else if self.config.keepalive_jitter {
            self.rng.jitter(n.keepalive)
        } else {
            n.keepalive
        };
        self.timers.set(Timer::Keepalive, now + interval);
    }

    // ----- sending ---------------------------------------------------------------------------

    fn our_open(&self) -> Open {
        let c = &self.config;
        let mp = |afi| Capability::Multiprotocol {
            afi,
            safi: Safi::Unicast,
        };
        // metallb `sendOpen`: MP IPv4 and IPv6 unicast, 4-octet AS; nothing else. FRR: one MP
        // capability per activated family (bgpd `bgp_open_capability`), then Route Refresh.
        let families = match c.flavour {
            Flavour::Native => Families::DUAL_STACK,
            Flavour::Frr => c.families,
        };
        let mut caps = Vec::new();
        if families.ipv4_unicast {
            caps.push(mp(Afi::Ipv4));
        }
        if families.ipv6_unicast {
            caps.push(mp(Afi::Ipv6));
        }
        if c.flavour == Flavour::Frr {
            caps.push(Capability::RouteRefresh);
        }
        caps.push(Capability::FourOctetAs { asn: c.local_as });
        if let Some(restart) = c.graceful_restart {
            let secs = restart.as_nanos() / 1_000_000_000;
            caps.push(Capability::GracefulRestart(GracefulRestart {
                restart_flags: 0,
                restart_time_s: u16::try_from(secs)
                    .unwrap_or(u16::MAX)
                    .min(GracefulRestart::MAX_RESTART_TIME_S),
                families: [
                    (families.ipv4_unicast, Afi::Ipv4),
                    (
                        c.flavour == Flavour::Frr && families.ipv6_unicast,
                        Afi::Ipv6,
                    ),
                ]
                .into_iter()
                .filter(|(on, _)| *on)
                .map(|(_, afi)| GracefulRestartFamily {
                    afi,
                    safi: Safi::Unicast,
                    flags: GracefulRestartFamily::FORWARDING_STATE,
                })
                .collect(),
            }));
        }
        let hold_s = u16::try_from(c.hold_time.as_nanos() / 1_000_000_000).unwrap_or(u16::MAX);
        Open::new(c.local_as, hold_s, c.router_id, caps)
    }

    fn send_open(&mut self, out: &mut Vec<Output>) {
        let open = self.our_open();
        self.send_primary(&Message::Open(open), out);
    }

    fn layout(&self) -> UpdateLayout {
        UpdateLayout {
            local_as: self.config.local_as,
            ibgp: self.config.is_ibgp(),
            local_pref: self.config.local_pref,
            flavour: self.config.flavour,
            codec: self.codec(),
        }
    }

    fn codec(&self) -> CodecOptions {
        self.negotiated
            .map_or(CodecOptions::FOUR_OCTET_AS, |n| n.codec)
    }

    fn send_updates(&mut self, updates: Vec<Update>, out: &mut Vec<Output>) {
        for update in updates {
            self.send_primary(&Message::Update(update), out);
        }
    }

    fn send_primary(&mut self, message: &Message, out: &mut Vec<Output>) {
        if let Some(dir) = self.conn.as_ref().map(|c| c.dir) {
            self.send_message(dir, message, out);
        }
    }

    /// NOTIFICATIONs are never sent by the native speaker (metallb closes the socket instead).
    fn send_notification_on(&mut self, dir: Direction, n: Notification, out: &mut Vec<Output>) {
        if self.config.flavour == Flavour::Frr {
            self.send_message(dir, &Message::Notification(n), out);
        }
    }

    fn send_message(&self, dir: Direction, message: &Message, out: &mut Vec<Output>) {
        let mut buf = BytesMut::with_capacity(message.encoded_len(self.codec()));
        message.encode(&mut buf, self.codec());
        out.push(Output::Send {
            dir,
            bytes: buf.freeze(),
        });
    }
}

/// The families a peer's OPEN offers: its Multiprotocol capabilities for IPv4 and IPv6
/// unicast, or IPv4 unicast alone when it sent none (RFC 4760 §8; bgpd `bgp_open_receive`
/// then takes IPv4 unicast as negotiated).
fn peer_families(open: &Open) -> Families {
    let mut families = Families {
        ipv4_unicast: false,
        ipv6_unicast: false,
    };
    let mut any_mp = false;
    for cap in open.capabilities() {
        if let Capability::Multiprotocol { afi, safi } = cap {
            any_mp = true;
            match (afi, safi) {
                (Afi::Ipv4, Safi::Unicast) => families.ipv4_unicast = true,
                (Afi::Ipv6, Safi::Unicast) => families.ipv6_unicast = true,
                _ => {}
            }
        }
    }
    if any_mp {
        families
    } else {
        Families::IPV4
    }
}

#[cfg(test)]
mod tests;

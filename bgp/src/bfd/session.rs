//! One BFD session in asynchronous mode (RFC 5880 §6.8, single hop RFC 5881), as a pure machine.
//!
//! The runner feeds it [`BfdInput`]s with the current time and delivers the [`BfdOutput::Send`]
//! packets; it wakes the session at [`BfdSession::next_timeout`] with [`BfdInput::Timer`]. A
//! wake-up that finds nothing due does nothing.
//!
//! What it models, and where from:
//! - the state table of §6.8.6 as one match on (local state, remote state), after holo's
//!   `holo-bfd/src/events.rs`;
//! - slow start: while not Up, Desired Min TX is at least 1 s (§6.8.3), so packets go out about
//!   once a second until the session is Up;
//! - once Up, TX interval = max(local Desired Min TX, remote Required Min RX) (§6.8.7), each
//!   interval reduced by a random 0-25 % (10-25 % when Detect Mult is 1), drawn from a seeded
//!   SplitMix64 stream (FRR `bfdd/bfd.c` `ptm_bfd_start_xmt_timer` draws the same range);
//! - Detection Time = remote Detect Mult × max(local Required Min RX, remote Desired Min TX)
//!   (§6.8.4), measured from the last packet accepted;
//! - Poll/Final (§6.5, §6.8.3): changed intervals are advertised at once with P set, but this
//!   side keeps using the old ones for its own TX and detection until a packet with F arrives
//!   (FRR `bfdd/bfd.c` `bs_final_handler` does the same); a received P is answered with F at
//!   once (§6.8.6; FRR `bfdd/bfd_packet.c`);
//! - AdminDown (§6.8.16): state AdminDown, diag 7, received packets discarded (§6.8.6). The
//!   session keeps sending AdminDown at the slow rate; FRR's `bfd_set_shutdown` sends a single
//!   AdminDown packet and stops, so there a lost packet leaves the peer to its detection timer.
//!
//! Not modelled: Demand mode (a remote D bit is ignored, as in FRR and holo), Echo, and
//! authentication (packets with the A bit are discarded, §6.8.6, "no authentication in use").

use super::packet::{BfdControl, Diagnostic, SessionState};
use sim_core::rng::splitmix64;
use sim_core::{SimDuration, SimTime};

/// The slow-start floor of Desired Min TX while the session is not Up: 1 s (RFC 5880 §6.8.3).
pub const SLOW_TX_US: u32 = 1_000_000;

/// Settings of one session (RFC 5880 §6.8.1 `bfd.DesiredMinTxInterval`,
/// `bfd.RequiredMinRxInterval`, `bfd.DetectMult`, `bfd.LocalDiscr`, and the Passive role of §6.1).
///
/// Intervals travel in whole microseconds; finer parts are dropped, and values beyond
/// `u32::MAX` µs are capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BfdConfig {
    /// The fastest this side wants to send (before the jitter). Zero is raised to 1 µs.
    pub desired_min_tx: SimDuration,
    /// The fastest this side accepts packets; zero asks the peer not to send periodically.
    pub required_min_rx: SimDuration,
    /// Detect Mult sent to the peer: it declares this side dead after that many intervals
    /// without a packet. Zero is raised to 1.
    pub detect_mult: u8,
    /// This session's discriminator, unique on this system. Zero is raised to 1.
    pub my_discriminator: u32,
    /// Passive role (RFC 5880 §6.1): send nothing until the peer's discriminator is known.
    pub passive: bool,
}

impl BfdConfig {
    /// MetalLB's BFDProfile defaults: receive and transmit intervals 300 ms, detect multiplier 3,
    /// active (metallb `api/v1beta1/bfdprofile_types.go`; the multiplier default is FRR's).
    pub fn metallb_default(my_discriminator: u32) -> BfdConfig {
        BfdConfig {
            desired_min_tx: SimDuration::from_millis(300),
            required_min_rx: SimDuration::from_millis(300),
            detect_mult: 3,
            my_discriminator,
            passive: false,
        }
    }
}

/// What the runner feeds a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BfdInput {
    /// A Control packet from the peer (already decoded, so the stateless checks of §6.8.6
    /// passed; they are made again for packets built in memory).
    Received(BfdControl),
    /// The wake-up asked for by [`BfdSession::next_timeout`].
    Timer,
    /// Take the session administratively down (§6.8.16).
    AdminDown,
    /// Leave AdminDown (to Down).
    AdminUp,
    /// New local parameters. While Up, the intervals take effect after a Poll Sequence (§6.8.3);
    /// otherwise at once. Detect Mult takes effect at once.
    SetIntervals {
        /// New Desired Min TX Interval.
        desired_min_tx: SimDuration,
        /// New Required Min RX Interval.
        required_min_rx: SimDuration,
        /// New Detect Mult.
        detect_mult: u8,
    },
}

/// What a session asks the runner to do or tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BfdOutput {
    /// Transmit this Control packet to the peer (UDP port 3784, RFC 5881 §4).
    Send(BfdControl),
    /// The local state changed; `diag` is the local diagnostic after the change. A change to
    /// Down is what brings a BGP session down at once.
    StateChanged {
        /// State before.
        from: SessionState,
        /// State after.
        to: SessionState,
        /// Local diagnostic (why the session went down; `NoDiagnostic` on the way up).
        diag: Diagnostic,
    },
}

/// The session's timers, indexing [`BfdSession`]'s timer table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// Control Detection Time (§6.8.4): no packet accepted for this long means the peer is gone.
    Detect = 0,
    /// Next periodic transmission (§6.8.7).
    Tx = 1,
}

impl Timer {
    /// In the order a wake-up handles them: detection first, so a Down goes out in the same
    /// packet as a due periodic one.
    const ALL: [Timer; 2] = [Timer::Detect, Timer::Tx];
}

/// What the peer last told us (§6.8.1 `bfd.Remote*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Remote {
    state: SessionState,
    /// `bfd.RemoteDiscr`, 0 while unknown.
    discriminator: u32,
    /// 0 until a packet was accepted (and again after the Detection Time passed).
    detect_mult: u8,
    desired_min_tx_us: u32,
    /// `bfd.RemoteMinRxInterval`, initially 1 µs (§6.8.1).
    required_min_rx_us: u32,
}

impl Remote {
    const UNKNOWN: Remote = Remote {
        state: SessionState::Down,
        discriminator: 0,
        detect_mult: 0,
        desired_min_tx_us: 0,
        required_min_rx_us: 1,
    };
}

/// What a received packet does, from the (local, remote) state table of RFC 5880 §6.8.6.
enum Step {
    /// AdminDown: the packet is discarded.
    Discard,
    /// No state change.
    Stay,
    /// Change to this state with this diagnostic.
    Go(SessionState, Diagnostic),
}

/// Packets a handle call owes the peer; sent in the shared block at its end.
#[derive(Default)]
struct Owed {
    /// A regular packet: a state or parameter change (§6.8.7 "contents would differ") or the
    /// periodic one.
    regular: bool,
    /// A Final answering a Poll (§6.8.6).
    final_: bool,
}

/// One BFD session: the state variables of RFC 5880 §6.8.1 and its two timers.
///
/// ```
/// use bgp::bfd::session::{BfdConfig, BfdInput, BfdOutput, BfdSession};
/// use bgp::bfd::SessionState;
/// use sim_core::SimTime;
///
/// let mut a = BfdSession::new(BfdConfig::metallb_default(1), SimTime::ZERO, 7);
/// assert_eq!(a.next_timeout(), Some(SimTime::ZERO)); // the first packet goes out at once
/// let out = a.handle(SimTime::ZERO, BfdInput::Timer);
/// let BfdOutput::Send(hello) = &out[0] else { unreachable!() };
/// assert_eq!((hello.state, hello.desired_min_tx_us), (SessionState::Down, 1_000_000));
/// ```
#[derive(Debug, Clone)]
pub struct BfdSession {
    config: BfdConfig,
    state: SessionState,
    diag: Diagnostic,
    remote: Remote,
    /// Desired Min TX in force for this side's transmissions (§6.8.3: changed while Up only by
    /// a completed Poll Sequence).
    cur_desired_min_tx_us: u32,
    /// Required Min RX in force for the Detection Time (same rule).
    cur_required_min_rx_us: u32,
    /// A Poll Sequence is in progress: regular packets carry P.
    polling: bool,
    timers: [Option<SimTime>; 2],
    rng: u64,
}

fn to_us(d: SimDuration) -> u32 {
    u32::try_from(d.as_nanos() / 1_000).unwrap_or(u32::MAX)
}

fn from_us(us: u32) -> SimDuration {
    SimDuration::from_micros(u64::from(us))
}

impl BfdSession {
    /// A session in state Down, created at `now`. An active session sends its first packet at
    /// `now` (FRR sends at once on session creation); a passive one waits for the peer.
    /// `seed` starts the jitter stream: derive it from the master seed and the session's name.
    pub fn new(config: BfdConfig, now: SimTime, seed: u64) -> BfdSession {
        let config = BfdConfig {
            desired_min_tx: config.desired_min_tx.max(SimDuration::from_micros(1)),
            detect_mult: config.detect_mult.max(1),
            my_discriminator: config.my_discriminator.max(1),
            ..config
        };
        let mut session = BfdSession {
            config,
            state: SessionState::Down,
            diag: Diagnostic::NoDiagnostic,
            remote: Remote::UNKNOWN,
            cur_desired_min_tx_us: 0,
            cur_required_min_rx_us: 0,
            polling: false,
            timers: [None; 2],
            rng: seed,
        };
        session.sync_intervals(&mut Owed::default());
        if !config.passive {
            session.timers[Timer::Tx as usize] = Some(now);
        }
        session
    }

    /// The local session state.
    pub fn state(&self) -> SessionState {
        self.state
    }

    /// The local diagnostic: why the session last went down.
    pub fn diag(&self) -> Diagnostic {
        self.diag
    }

    /// The session's settings (with zeros raised as [`BfdConfig`] says).
    pub fn config(&self) -> &BfdConfig {
        &self.config
    }

    /// The peer's discriminator as learnt from its packets (`bfd.RemoteDiscr`), 0 while unknown.
    pub fn remote_discriminator(&self) -> u32 {
        self.remote.discriminator
    }

    /// Whether a Poll Sequence is in progress.
    pub fn polling(&self) -> bool {
        self.polling
    }

    /// Detection Time (RFC 5880 §6.8.4): remote Detect Mult × max(local Required Min RX in
    /// force, remote Desired Min TX). `None` before the first packet from the peer, and after
    /// the Detection Time passed without one.
    pub fn detection_time(&self) -> Option<SimDuration> {
        if self.remote.detect_mult == 0 {
            return None;
        }
        let interval_us = self
            .cur_required_min_rx_us
            .max(self.remote.desired_min_tx_us);
        Some(SimDuration::from_micros(
            u64::from(self.remote.detect_mult) * u64::from(interval_us),
        ))
    }

    /// The nominal interval between periodic packets, before the jitter (RFC 5880 §6.8.7):
    /// max(Desired Min TX in force, remote Required Min RX). At least 1 s while not Up.
    pub fn tx_interval(&self) -> SimDuration {
        from_us(
            self.cur_desired_min_tx_us
                .max(self.remote.required_min_rx_us),
        )
    }

    /// The earliest armed timer: when the runner must wake the session with
    /// [`BfdInput::Timer`]. Never earlier than the `now` of the last `handle` call.
    pub fn next_timeout(&self) -> Option<SimTime> {
        self.timers.iter().flatten().min().copied()
    }

    /// Feeds one input at `now`; returns the state changes (first) and the packets to send.
    pub fn handle(&mut self, now: SimTime, input: BfdInput) -> Vec<BfdOutput> {
        let mut out = Vec::new();
        let mut owed = Owed::default();
        let interval_before = self.tx_interval();
        match input {
            BfdInput::Received(packet) => self.receive(now, &packet, &mut out, &mut owed),
            BfdInput::Timer => self.on_timers(now, &mut out, &mut owed),
            BfdInput::AdminDown => {
                if self.state != SessionState::AdminDown {
                    // §6.8.16: AdminDown, diag 7; no detection while AdminDown.
                    self.change_state(
                        SessionState::AdminDown,
                        Diagnostic::AdministrativelyDown,
                        &mut out,
                        &mut owed,
                    );
                    self.timers[Timer::Detect as usize] = None;
                }
            }
            BfdInput::AdminUp => {
                if self.state == SessionState::AdminDown {
                    self.change_state(SessionState::Down, self.diag, &mut out, &mut owed);
                }
            }
            BfdInput::SetIntervals {
                desired_min_tx,
                required_min_rx,
                detect_mult,
            } => {
                let before = self.advertised();
                self.config.desired_min_tx = desired_min_tx.max(SimDuration::from_micros(1));
                self.config.required_min_rx = required_min_rx;
                self.config.detect_mult = detect_mult.max(1);
                // §6.8.7: a packet whose contents would differ SHOULD go out at once.
                owed.regular |= self.advertised() != before;
            }
        }

        // Shared block, whatever the input: intervals in force, packets owed, the TX timer.
        self.sync_intervals(&mut owed);
        let sent = self.transmit(&owed, &mut out);
        let can_send = self.can_send_periodic();
        let interval = self.tx_interval();
        let tx = &mut self.timers[Timer::Tx as usize];
        if sent || (tx.is_none() && can_send) {
            // Every transmission restarts the periodic interval; a passive session that just
            // learnt the peer's discriminator starts sending.
            *tx = if can_send {
                Some(now + jittered(&mut self.rng, interval, self.config.detect_mult))
            } else {
                None
            };
        } else if let Some(due) = *tx {
            if interval != interval_before {
                // §6.8.2: honour a new interval at once (holo, FRR restart the TX timer); a
                // shorter one never postpones the packet already due.
                let next = now + jittered(&mut self.rng, interval, self.config.detect_mult);
                *tx = Some(if interval < interval_before {
                    due.min(next)
                } else {
                    next
                });
            }
        }
        out
    }

    /// RFC 5880 §6.8.6, reception of a Control packet.
    fn receive(
        &mut self,
        now: SimTime,
        packet: &BfdControl,
        out: &mut Vec<BfdOutput>,
        owed: &mut Owed,
    ) {
        // The stateless discard rules, again for packets not from the decoder, and the
        // session's own: P and F together (§6.5; holo discards them), an A bit without
        // authentication in use, a Your Discriminator that is not ours (no such session).
        let stateless_ok = packet.detect_mult != 0
            && packet.my_discriminator != 0
            && (packet.your_discriminator != 0
                || matches!(packet.state, SessionState::Down | SessionState::AdminDown));
        if !stateless_ok
            || (packet.poll && packet.final_)
            || packet.auth.is_some()
            || (packet.your_discriminator != 0
                && packet.your_discriminator != self.config.my_discriminator)
        {
            return;
        }

        self.remote = Remote {
            state: packet.state,
            discriminator: packet.my_discriminator,
            detect_mult: packet.detect_mult,
            desired_min_tx_us: packet.desired_min_tx_us,
            required_min_rx_us: packet.required_min_rx_us,
        };
        if self.polling && packet.final_ {
            // §6.8.6: the Final ends the Poll Sequence; the new intervals are now in force.
            self.polling = false;
            self.cur_desired_min_tx_us = self.advertised_desired_min_tx_us();
            self.cur_required_min_rx_us = to_us(self.config.required_min_rx);
        }

        use SessionState::{AdminDown, Down, Init, Up};
        let step = match (self.state, packet.state) {
            (AdminDown, _) => Step::Discard,
            // "If received state is AdminDown: if bfd.SessionState is not Down, set
            // bfd.LocalDiag to 3 and bfd.SessionState to Down."
            (Down, AdminDown) => Step::Stay,
            (Init | Up, AdminDown) => Step::Go(Down, Diagnostic::NeighborSignaledSessionDown),
            // Down: received Down -> Init, received Init -> Up; Up is ignored (the peer cannot
            // be Up before we were Init: a stale packet).
            (Down, Down) => Step::Go(Init, Diagnostic::NoDiagnostic),
            (Down, Init) => Step::Go(Up, Diagnostic::NoDiagnostic),
            (Down, Up) => Step::Stay,
            // Init: received Init or Up -> Up; Down keeps us waiting.
            (Init, Down) => Step::Stay,
            (Init, Init | Up) => Step::Go(Up, Diagnostic::NoDiagnostic),
            // Up: received Down -> Down with "Neighbor Signaled Session Down".
            (Up, Down) => Step::Go(Down, Diagnostic::NeighborSignaledSessionDown),
            (Up, Init | Up) => Step::Stay,
        };
        match step {
            Step::Discard => return,
            Step::Stay => {}
            Step::Go(to, diag) => self.change_state(to, diag, out, owed),
        }
        // "If the Poll (P) bit is set, send a BFD Control packet to the remote system with the
        // Poll (P) bit clear, and the Final (F) bit set" at once.
        owed.final_ |= packet.poll;
        // "If the packet was not discarded, ... reset the Detection Timer".
        self.timers[Timer::Detect as usize] = self.detection_time().map(|d| now + d);
    }

    /// Handles every timer due at `now`, in [`Timer::ALL`] order; nothing due does nothing.
    fn on_timers(&mut self, now: SimTime, out: &mut Vec<BfdOutput>, owed: &mut Owed) {
        for timer in Timer::ALL {
            let slot = &mut self.timers[timer as usize];
            if !slot.is_some_and(|due| due <= now) {
                continue;
            }
            *slot = None;
            match timer {
                Timer::Detect => {
                    // §6.8.4: in Init or Up the session goes Down with diag 1. §6.8.1: the
                    // remote discriminator is forgotten when the Detection Time passes without
                    // a packet, whatever the state; so is the rest of what the peer said.
                    if matches!(self.state, SessionState::Init | SessionState::Up) {
                        self.change_state(
                            SessionState::Down,
                            Diagnostic::ControlDetectionTimeExpired,
                            out,
                            owed,
                        );
                    }
                    self.remote = Remote::UNKNOWN;
                }
                Timer::Tx => owed.regular |= self.can_send_periodic(),
            }
        }
    }

    fn change_state(
        &mut self,
        to: SessionState,
        diag: Diagnostic,
        out: &mut Vec<BfdOutput>,
        owed: &mut Owed,
    ) {
        let from = self.state;
        self.state = to;
        self.diag = diag;
        out.push(BfdOutput::StateChanged { from, to, diag });
        // §6.8.7: the new state goes out at once, not at the next periodic packet.
        owed.regular = true;
    }

    /// Brings the intervals in force in line with the configuration (RFC 5880 §6.8.3): at once
    /// while not Up; while Up through a Poll Sequence, started here when they differ.
    fn sync_intervals(&mut self, owed: &mut Owed) {
        let desired = self.advertised_desired_min_tx_us();
        let required = to_us(self.config.required_min_rx);
        if self.state != SessionState::Up {
            self.polling = false;
            self.cur_desired_min_tx_us = desired;
            self.cur_required_min_rx_us = required;
        } else if !self.polling
            && (desired, required) != (self.cur_desired_min_tx_us, self.cur_required_min_rx_us)
        {
            // Going Up drops the 1 s floor, so this also starts the Poll after the handshake
            // (FRR `ptm_bfd_sess_up`); the P packet goes out at once, so the peer's shorter
            // Detection Time meets faster packets within a round trip.
            self.polling = true;
            owed.regular = true;
        }
    }

    /// Emits the packets owed. Returns whether any went out.
    fn transmit(&self, owed: &Owed, out: &mut Vec<BfdOutput>) -> bool {
        // §6.8.7: a passive session sends nothing until it knows the peer's discriminator.
        if self.config.passive && self.remote.discriminator == 0 {
            return false;
        }
        let mut sent = false;
        if owed.final_ {
            out.push(BfdOutput::Send(self.packet(false, true)));
            sent = true;
        }
        // The Final already carries the current state and parameters; a second packet is only
        // needed to carry P, which must not share a packet with F (§6.5).
        if owed.regular && (!owed.final_ || self.polling) {
            out.push(BfdOutput::Send(self.packet(self.polling, false)));
            sent = true;
        }
        sent
    }

    /// §6.8.7: no periodic packets while passive without a peer, nor when the peer asks for
    /// none (Required Min RX 0).
    fn can_send_periodic(&self) -> bool {
        !(self.config.passive && self.remote.discriminator == 0)
            && self.remote.required_min_rx_us != 0
    }

    /// Desired Min TX as sent: at least 1 s while not Up (§6.8.3).
    fn advertised_desired_min_tx_us(&self) -> u32 {
        let configured = to_us(self.config.desired_min_tx);
        if self.state == SessionState::Up {
            configured
        } else {
            configured.max(SLOW_TX_US)
        }
    }

    /// The parameters a packet carries, to notice when they change.
    fn advertised(&self) -> (u32, u32, u8) {
        (
            self.advertised_desired_min_tx_us(),
            to_us(self.config.required_min_rx),
            self.config.detect_mult,
        )
    }

    /// A Control packet with the session's current contents (§6.8.7 "Transmitting BFD Control
    /// Packets"): no echo (Required Min Echo RX 0), no Demand, no authentication.
    fn packet(&self, poll: bool, final_: bool) -> BfdControl {
        BfdControl {
            diag: self.diag,
            state: self.state,
            poll,
            final_,
            control_plane_independent: false,
            demand: false,
            detect_mult: self.config.detect_mult,
            my_discriminator: self.config.my_discriminator,
            your_discriminator: self.remote.discriminator,
            desired_min_tx_us: self.advertised_desired_min_tx_us(),
            required_min_rx_us: to_us(self.config.required_min_rx),
            required_min_echo_rx_us: 0,
            auth: None,
        }
    }
}

/// One periodic interval after the jitter of RFC 5880 §6.8.7: reduced by a random 0-25 %, or by
/// 10-25 % when Detect Mult is 1 (the interval then "MUST NOT be more than 90%" and "no less
/// than 75%" of the nominal one).
fn jittered(rng: &mut u64, interval: SimDuration, detect_mult: u8) -> SimDuration {
    let ns = interval.as_nanos();
    let most = ns / 4;
    let least = if detect_mult == 1 { ns.div_ceil(10) } else { 0 };
    let span = most.saturating_sub(least) + 1;
    let cut = least + splitmix64(rng) % span;
    SimDuration::from_nanos(ns - cut.min(ns))
}

//! A small reliable byte stream (TCP) between simulated peers, sans-IO.
//!
//! BGP runs over TCP (RFC 4271 §2). Inside the simulation, speakers and the router exchange
//! real segments through [`TcpEndpoint`](crate::tcp::TcpEndpoint), so a capture shows real
//! sequence and acknowledgment numbers and BGP messages cut across segment boundaries. One
//! endpoint is one connection (RFC 9293 §3.3.2 states):
//!
//! ```text
//!  active:  Closed ─Open/SYN─▶ SynSent ─SYN,ACK/ACK─▶ Established
//!  passive: Closed ─Open─▶ Listen ─SYN/SYN,ACK─▶ SynReceived ─ACK─▶ Established
//!  Established ─Close/FIN─▶ FinWait1 ─ACK─▶ FinWait2 ─FIN/ACK─▶ TimeWait ─time_wait─▶ Closed
//!  Established ─FIN/ACK─▶ CloseWait ─Close/FIN─▶ LastAck ─ACK─▶ Closed
//! ```
//!
//! What is kept: the three-way handshake (and simultaneous open), MSS-sized segments with the
//! MSS option on SYNs, cumulative ACKs, the peer's receive window as the limit of data in
//! flight, retransmission on an RFC 6298 timer (initial RTO 1 s, Linux's 200 ms floor and
//! 120 s ceiling, exponential backoff, Karn's rule) with go-back-N, FIN in both directions,
//! RST sent and received.
//!
//! What is simplified, because the simulation's links deliver in order and lose segments only
//! while down:
//! - no congestion control, no fast retransmit, no SACK, no reassembly queue: a segment beyond
//!   `RCV.NXT` is dropped and answered with a duplicate ACK; after a timeout everything from
//!   `SND.UNA` is sent again (go-back-N);
//! - every segment that carries data or FIN is acknowledged at once (no delayed ACK) and no
//!   Nagle: a `Send` on an open window goes out at once, so small sends do not coalesce unless
//!   they wait (during the handshake, behind a full window or during a retransmission backoff),
//!   in which case they leave together in MSS-sized segments;
//! - the application reads at once, so the advertised window is the fixed
//!   [`TcpConfig::window`](crate::tcp::TcpConfig::window) (no window scaling, no zero-window
//!   probes);
//! - `Close` enters FIN-WAIT-1 (or LAST-ACK) at once and the FIN follows the queued data;
//! - TIME-WAIT lasts [`TcpConfig::time_wait`](crate::tcp::TcpConfig::time_wait) (60 s as
//!   Linux, not 2 MSL of 4 min) and answers a retransmitted FIN with an ACK, restarting the
//!   wait; FIN-WAIT-2 gives up after
//!   [`TcpConfig::fin_wait2_timeout`](crate::tcp::TcpConfig::fin_wait2_timeout), as Linux's
//!   `tcp_fin_timeout` does;
//! - ACKs answering invalid segments (out of window without data, SYN, ACK of unsent data)
//!   leave at most every 500 ms, as Linux `tcp_invalid_ratelimit`, so desynchronized ends
//!   cannot ACK each other forever;
//! - a RST in SYN-RECEIVED closes the endpoint instead of returning to LISTEN; RFC 5961's
//!   exact-match RST check is not made (any in-window RST resets), an in-window SYN gets a
//!   challenge ACK;
//! - one endpoint, one connection: after `Closed` the endpoint ignores `Open`; the runner makes
//!   a new one (with a new ISN) to reconnect. A segment for no endpoint is the runner's to
//!   answer with [`TcpEndpoint::rst_for`](crate::tcp::TcpEndpoint::rst_for).
//!
//! ```
//! use bgp::tcp::{Input, Output, Segment, TcpConfig, TcpEndpoint, TcpState};
//! use sim_core::SimTime;
//!
//! fn segments(outputs: Vec<Output>) -> Vec<Segment> {
//!     outputs.into_iter().filter_map(|o| match o {
//!         Output::Transmit(seg) => Some(seg),
//!         _ => None,
//!     }).collect()
//! }
//! let t = SimTime::ZERO;
//! let mut speaker = TcpEndpoint::new(TcpConfig::default(), 40_000, 179, 1_000);
//! let mut router = TcpEndpoint::new(TcpConfig::default(), 179, 0, 9_000); // any remote port
//! router.handle(t, Input::Open { active: false });
//! let syn = segments(speaker.handle(t, Input::Open { active: true }));
//! let syn_ack = segments(router.handle(t, Input::Segment(syn[0].clone())));
//! let ack = segments(speaker.handle(t, Input::Segment(syn_ack[0].clone())));
//! let outputs = router.handle(t, Input::Segment(ack[0].clone()));
//! assert_eq!(outputs, vec![Output::Connected]);
//! assert_eq!((speaker.state(), router.state()), (TcpState::Established, TcpState::Established));
//! ```

use bytes::{Buf, Bytes, BytesMut};
use sim_core::pcap::frame::{TcpFlags, TcpHeader};
use sim_core::{SimDuration, SimTime};

/// Least time between two ACKs answering invalid segments: Linux `tcp_invalid_ratelimit`.
const OUT_OF_WINDOW_ACK_INTERVAL: SimDuration = SimDuration::from_millis(500);

/// The MSS used when the peer's SYN carries no MSS option (RFC 9293 §3.7.1).
const DEFAULT_PEER_MSS: u16 = 536;

/// One TCP segment as it travels between endpoints. Wrap it with
/// [`sim_core::pcap::frame::tcp`] (see [`Segment::header`]) to capture it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number of the first octet (of the SYN, if set).
    pub seq: u32,
    /// Next sequence number the sender expects (valid when `flags.ack`).
    pub ack: u32,
    /// Control bits.
    pub flags: TcpFlags,
    /// The sender's receive window.
    pub window: u16,
    /// The MSS option, on SYNs.
    pub mss: Option<u16>,
    /// The data.
    pub payload: Bytes,
}

impl Segment {
    /// Sequence space the segment takes: its data plus one each for SYN and FIN (RFC 9293
    /// §3.4, `SEG.LEN`).
    pub fn seq_len(&self) -> u32 {
        self.payload.len() as u32 + u32::from(self.flags.syn) + u32::from(self.flags.fin)
    }

    /// The header fields for [`sim_core::pcap::frame::tcp`].
    pub fn header(&self) -> TcpHeader {
        TcpHeader {
            src_port: self.src_port,
            dst_port: self.dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            mss: self.mss,
        }
    }
}

/// Knobs of an endpoint; the defaults follow RFC 6298 and Linux.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpConfig {
    /// Largest payload this endpoint sends and the MSS option it announces (Ethernet: 1460).
    pub mss: u16,
    /// The receive window it advertises, fixed (the application reads at once).
    pub window: u16,
    /// RTO before any round-trip sample: 1 s (RFC 6298 §2.1).
    pub rto_initial: SimDuration,
    /// Floor of the RTO: 200 ms as Linux (`TCP_RTO_MIN`), not RFC 6298's 1 s.
    pub rto_min: SimDuration,
    /// Ceiling of the backed-off RTO: 120 s as Linux (`TCP_RTO_MAX`).
    pub rto_max: SimDuration,
    /// Retransmissions of a SYN or SYN-ACK before giving up: 6 as Linux `tcp_syn_retries`
    /// (the last timeout ends 127 s after the first SYN).
    pub syn_retries: u32,
    /// Retransmissions of data or FIN before giving up: 15 as Linux `tcp_retries2`.
    pub data_retries: u32,
    /// How long TIME-WAIT lasts: 60 s as Linux `TCP_TIMEWAIT_LEN`.
    pub time_wait: SimDuration,
    /// How long FIN-WAIT-2 waits for the peer's FIN: 60 s as Linux `tcp_fin_timeout`.
    pub fin_wait2_timeout: SimDuration,
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            mss: 1460,
            window: 65_535,
            rto_initial: SimDuration::from_secs(1),
            rto_min: SimDuration::from_millis(200),
            rto_max: SimDuration::from_secs(120),
            syn_retries: 6,
            data_retries: 15,
            time_wait: SimDuration::from_secs(60),
            fin_wait2_timeout: SimDuration::from_secs(60),
        }
    }
}

/// What the runner or the application asks of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// OPEN call (RFC 9293 §3.10.1): active sends a SYN, passive listens.
    Open {
        /// Active (connect) or passive (listen).
        active: bool,
    },
    /// SEND call (§3.10.2): queue bytes for the peer.
    Send(Bytes),
    /// CLOSE call (§3.10.4): no more data from us; FIN after the queued data.
    Close,
    /// ABORT call (§3.10.5): drop everything and send RST.
    Abort,
    /// A segment from the peer (SEGMENT ARRIVES, §3.10.7).
    Segment(Segment),
    /// The runner's wake-up at [`TcpEndpoint::next_timeout`] (§3.10.8); early wake-ups do nothing.
    Timer,
}

/// What an endpoint asks of the runner or tells the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this segment to the peer.
    Transmit(Segment),
    /// The handshake completed (ESTABLISHED).
    Connected,
    /// In-order bytes from the peer.
    Data(Bytes),
    /// The peer sent FIN: no more data will come (BGP: "TCP connection fails").
    PeerClosed,
    /// The connection is over; emitted once. The side that closed first gets it on entering
    /// TIME-WAIT: the endpoint then lingers (re-acknowledging a retransmitted FIN) until its
    /// last timer passes and [`TcpEndpoint::state`] reads `Closed`; the runner may keep it
    /// until then or drop it at once.
    Closed {
        /// Why.
        reason: CloseReason,
    },
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Both FINs exchanged and acknowledged (or closed before connecting).
    Normal,
    /// The peer sent RST (including "connection refused" to a SYN).
    Reset,
    /// Retransmissions ran out (peer vanished or path down too long).
    TimedOut,
    /// This side called [`Input::Abort`].
    Aborted,
}

/// Connection states (RFC 9293 §3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TcpState {
    /// No connection.
    Closed,
    /// Waiting for a SYN.
    Listen,
    /// SYN sent, waiting for SYN-ACK.
    SynSent,
    /// SYN received and SYN-ACK sent, waiting for its ACK.
    SynReceived,
    /// Open; data flows both ways.
    Established,
    /// We sent FIN (or will after the queued data); waiting for its ACK.
    FinWait1,
    /// Our FIN acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// Peer sent FIN; we may still send.
    CloseWait,
    /// Both sent FIN, ours not yet acknowledged.
    Closing,
    /// Peer's FIN received, our FIN sent, waiting for its ACK.
    LastAck,
    /// Both FINs done; lingering to re-acknowledge a retransmitted FIN.
    TimeWait,
}

/// The endpoint's timers, indexing its deadline table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    /// Retransmission timeout (RFC 6298).
    Retransmission,
    /// FIN-WAIT-2 give-up (Linux `tcp_fin_timeout`).
    FinWait2,
    /// TIME-WAIT end (2 MSL).
    TimeWait,
}

impl Timer {
    const ALL: [Timer; 3] = [Timer::Retransmission, Timer::FinWait2, Timer::TimeWait];
}

/// `a < b` in sequence space (RFC 9293 §3.4, modulo 2^32).
fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// `a <= b` in sequence space.
fn seq_le(a: u32, b: u32) -> bool {
    a == b || seq_lt(a, b)
}

/// One end of one TCP connection, as a pure state machine: feed it [`Input`]s with the current
/// time through [`Self::handle`], act on the [`Output`]s, and wake it at
/// [`Self::next_timeout`].
#[derive(Debug, Clone)]
pub struct TcpEndpoint {
    config: TcpConfig,
    local_port: u16,
    remote_port: u16,
    state: TcpState,
    /// Initial send sequence number; the SYN's.
    iss: u32,
    /// Oldest unacknowledged sequence number (`SND.UNA`).
    snd_una: u32,
    /// Next sequence number to send (`SND.NXT`); moves back to `SND.UNA` on a timeout.
    snd_nxt: u32,
    /// Highest sequence number ever sent, plus one; ACKs up to it are acceptable.
    snd_max: u32,
    /// The peer's window (`SND.WND`).
    snd_wnd: u32,
    /// Sequence number of `send_buf[0]`.
    buf_seq: u32,
    /// Data queued and not yet acknowledged, from `buf_seq` on.
    send_buf: BytesMut,
    /// CLOSE was called: a FIN follows the queued data, at `buf_seq + send_buf.len()`.
    fin_queued: bool,
    /// Next sequence number expected from the peer (`RCV.NXT`).
    rcv_nxt: u32,
    /// The MSS the peer announced.
    peer_mss: u16,
    timers: [Option<SimTime>; Timer::ALL.len()],
    rto: SimDuration,
    srtt: Option<SimDuration>,
    rttvar: SimDuration,
    /// Consecutive timeouts without progress.
    retries: u32,
    /// When the last ACK for an invalid segment went out.
    last_invalid_ack: Option<SimTime>,
    /// A SYN or SYN-ACK timed out: the RTO restarts at 3 s, not 1 s (RFC 6298 §5.7).
    syn_timed_out: bool,
    /// The one segment being timed: (sequence number that acknowledges it, time sent).
    rtt_probe: Option<(u32, SimTime)>,
    /// `Closed` was emitted; the endpoint is spent.
    closed_reported: bool,
}

impl TcpEndpoint {
    /// A closed endpoint on `local_port`, for a peer on `remote_port` (0: any, learnt from the
    /// SYN of a passive open), with initial sequence number `isn` (draw it from the entity's
    /// seeded stream).
    pub fn new(config: TcpConfig, local_port: u16, remote_port: u16, isn: u32) -> TcpEndpoint {
        TcpEndpoint {
            config,
            local_port,
            remote_port,
            state: TcpState::Closed,
            iss: isn,
            snd_una: isn,
            snd_nxt: isn,
            snd_max: isn,
            snd_wnd: 0,
            buf_seq: isn.wrapping_add(1),
            send_buf: BytesMut::new(),
            fin_queued: false,
            rcv_nxt: 0,
            peer_mss: DEFAULT_PEER_MSS,
            timers: [None; Timer::ALL.len()],
            rto: config.rto_initial,
            srtt: None,
            rttvar: SimDuration::ZERO,
            retries: 0,
            syn_timed_out: false,
            last_invalid_ack: None,
            rtt_probe: None,
            closed_reported: false,
        }
    }

    /// The current state.
    pub fn state(&self) -> TcpState {
        self.state
    }

    /// The local port.
    pub fn local_port(&self) -> u16 {
        self.local_port
    }

    /// The peer's port (0 while a passive open has not seen a SYN).
    pub fn remote_port(&self) -> u16 {
        self.remote_port
    }

    /// Bytes queued by `Send` and not yet acknowledged.
    pub fn unacknowledged_len(&self) -> usize {
        self.send_buf.len()
    }

    /// The earliest armed deadline, if any.
    pub fn next_timeout(&self) -> Option<SimTime> {
        self.timers.iter().flatten().min().copied()
    }

    /// The reply of a host with no connection for `seg` (RFC 9293 §3.10.7.1): `None` for a RST,
    /// `<SEQ=SEG.ACK><CTL=RST>` if it carries an ACK, else
    /// `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`.
    pub fn rst_for(seg: &Segment) -> Option<Segment> {
        if seg.flags.rst {
            return None;
        }
        let (seq, ack, flags) = if seg.flags.ack {
            (seg.ack, 0, ctl::RST)
        } else {
            (0, seg.seq.wrapping_add(seg.seq_len()), ctl::RST_ACK)
        };
        Some(Segment {
            src_port: seg.dst_port,
            dst_port: seg.src_port,
            seq,
            ack,
            flags,
            window: 0,
            mss: None,
            payload: Bytes::new(),
        })
    }

    /// Processes one input at `now` and returns what to do.
    pub fn handle(&mut self, now: SimTime, input: Input) -> Vec<Output> {
        use TcpState::*;
        let mut out = Vec::new();
        match (self.state, input) {
            (_, Input::Segment(seg)) => self.on_segment(now, seg, &mut out),
            (_, Input::Timer) => self.on_timer(now, &mut out),
            // §3.10.1 OPEN. A spent endpoint stays closed: one endpoint, one connection.
            (Closed, Input::Open { active: true }) if !self.closed_reported => {
                self.state = SynSent;
                self.send_syn(now, &mut out);
            }
            (Closed, Input::Open { active: false }) if !self.closed_reported => {
                self.state = Listen;
            }
            (_, Input::Open { .. }) => {} // "error: connection already exists"
            // §3.10.2 SEND: queued before ESTABLISHED, sent as the window allows after.
            (Listen | SynSent | SynReceived | Established | CloseWait, Input::Send(data))
                if !self.fin_queued =>
            {
                self.send_buf.extend_from_slice(&data);
                self.transmit_pending(now, &mut out);
            }
            (_, Input::Send(_)) => {} // "error: connection closing" / "does not exist"
            // §3.10.4 CLOSE.
            (Listen | SynSent, Input::Close) => self.enter_closed(CloseReason::Normal, &mut out),
            (SynReceived, Input::Close) => self.fin_queued = true, // FIN once established
            (Established, Input::Close) => {
                self.fin_queued = true;
                self.state = FinWait1;
                self.transmit_pending(now, &mut out);
            }
            (CloseWait, Input::Close) => {
                self.fin_queued = true;
                self.state = LastAck;
                self.transmit_pending(now, &mut out);
            }
            // Already closing (or closed): nothing more to do.
            (Closed | FinWait1 | FinWait2 | Closing | LastAck | TimeWait, Input::Close) => {}
            // §3.10.5 ABORT: RST only where the peer knows of the connection.
            (SynReceived | Established | FinWait1 | FinWait2 | CloseWait, Input::Abort) => {
                let rst = self.segment(self.snd_nxt, ctl::RST, Bytes::new());
                out.push(Output::Transmit(rst));
                self.enter_closed(CloseReason::Aborted, &mut out);
            }
            (Listen | SynSent | Closing | LastAck | TimeWait, Input::Abort) => {
                self.enter_closed(CloseReason::Aborted, &mut out);
            }
            (Closed, Input::Abort) => {}
        }
        out
    }

    /// SEGMENT ARRIVES (RFC 9293 §3.10.7).
    fn on_segment(&mut self, now: SimTime, seg: Segment, out: &mut Vec<Output>) {
        if seg.dst_port != self.local_port
            || (self.remote_port != 0 && seg.src_port != self.remote_port)
        {
            return; // not this connection's: the runner demultiplexes
        }
        match self.state {
            TcpState::Closed => out.extend(Self::rst_for(&seg).map(Output::Transmit)),
            TcpState::Listen => self.on_segment_listen(now, seg, out),
            TcpState::SynSent => self.on_segment_syn_sent(now, seg, out),
            _ => self.on_segment_synchronized(now, seg, out),
        }
    }

    /// §3.10.7.2: LISTEN.
    fn on_segment_listen(&mut self, now: SimTime, seg: Segment, out: &mut Vec<Output>) {
        if seg.flags.rst {
            return;
        }
        if seg.flags.ack {
            out.extend(Self::rst_for(&seg).map(Output::Transmit));
            return;
        }
        if seg.flags.syn {
            self.remote_port = seg.src_port;
            self.learn_peer_syn(&seg);
            self.state = TcpState::SynReceived;
            self.send_syn(now, out);
        }
    }

    /// §3.10.7.3: SYN-SENT.
    fn on_segment_syn_sent(&mut self, now: SimTime, seg: Segment, out: &mut Vec<Output>) {
        let ack_ok = seg.flags.ack && seq_lt(self.iss, seg.ack) && seq_le(seg.ack, self.snd_max);
        if seg.flags.ack && !ack_ok {
            if !seg.flags.rst {
                out.extend(Self::rst_for(&seg).map(Output::Transmit));
            }
            return;
        }
        if seg.flags.rst {
            if ack_ok {
                self.enter_closed(CloseReason::Reset, out); // "connection reset" (refused)
            }
            return;
        }
        if !seg.flags.syn {
            return;
        }
        self.learn_peer_syn(&seg);
        if ack_ok {
            self.on_new_ack(now, seg.ack);
            self.send_ack(out); // the handshake's third segment, then any queued data
            self.on_established(now, out);
        } else {
            // Simultaneous open: answer with SYN-ACK on the same ISS.
            self.state = TcpState::SynReceived;
            self.send_syn(now, out);
        }
    }

    /// §3.10.7.4: the synchronized states, SYN-RECEIVED to TIME-WAIT.
    fn on_segment_synchronized(&mut self, now: SimTime, seg: Segment, out: &mut Vec<Output>) {
        use TcpState::*;
        // The peer's SYN again (our SYN-ACK was lost): answer it again, as Linux does.
        if self.state == SynReceived
            && seg.flags.syn
            && !seg.flags.ack
            && !seg.flags.rst
            && seg.seq.wrapping_add(1) == self.rcv_nxt
        {
            self.send_syn(now, out);
            return;
        }
        // First: is the sequence number acceptable?
        if !self.acceptable(&seg) {
            if !seg.flags.rst {
                // Data and FIN always get their duplicate ACK; empty segments only at a
                // limited rate, so two desynchronized ends cannot ACK each other forever.
                if seg.payload.is_empty() && !seg.flags.fin || seg.flags.syn {
                    self.send_ack_rate_limited(now, out);
                } else {
                    self.send_ack(out);
                }
            }
            if self.state == TimeWait && seg.flags.fin {
                self.arm(Timer::TimeWait, now + self.config.time_wait); // restart 2 MSL
            }
            return;
        }
        // Second: RST.
        if seg.flags.rst {
            self.enter_closed(CloseReason::Reset, out);
            return;
        }
        // Fourth: a SYN in a synchronized state gets a challenge ACK (RFC 5961 §4).
        if seg.flags.syn {
            self.send_ack_rate_limited(now, out);
            return;
        }
        // Fifth: ACK.
        if !seg.flags.ack {
            return;
        }
        if self.state == SynReceived {
            if seq_lt(self.snd_una, seg.ack) && seq_le(seg.ack, self.snd_max) {
                self.on_new_ack(now, seg.ack);
                self.snd_wnd = u32::from(seg.window);
                self.on_established(now, out);
            } else {
                out.extend(Self::rst_for(&seg).map(Output::Transmit));
                return;
            }
        }
        if seq_lt(self.snd_max, seg.ack) {
            self.send_ack_rate_limited(now, out); // acknowledges something not yet sent
            return;
        }
        if seq_lt(self.snd_una, seg.ack) {
            self.on_new_ack(now, seg.ack);
        }
        if seq_le(self.snd_una, seg.ack) {
            self.snd_wnd = u32::from(seg.window);
        }
        let fin_acked = self.fin_queued && self.snd_una == self.fin_seq().wrapping_add(1);
        match (self.state, fin_acked) {
            (FinWait1, true) => {
                self.state = FinWait2;
                self.arm(Timer::FinWait2, now + self.config.fin_wait2_timeout);
            }
            (Closing, true) => self.enter_time_wait(now, out),
            (LastAck, true) => {
                self.enter_closed(CloseReason::Normal, out);
                return;
            }
            (FinWait1 | Closing | LastAck, false) => {} // our FIN still unacknowledged
            (Established | FinWait2 | CloseWait | TimeWait, _) => {} // no FIN of ours in flight
            (Closed | Listen | SynSent | SynReceived, _) => {} // not synchronized: left above
        }
        // Sixth and seventh: segment text, in order only.
        let mut need_ack = false;
        let mut in_order = seg.seq == self.rcv_nxt;
        if matches!(self.state, Established | FinWait1 | FinWait2) && !seg.payload.is_empty() {
            need_ack = true;
            if seq_le(seg.seq, self.rcv_nxt) {
                let skip = self.rcv_nxt.wrapping_sub(seg.seq) as usize;
                if skip < seg.payload.len() {
                    let fresh = seg.payload.slice(skip..);
                    self.rcv_nxt = self.rcv_nxt.wrapping_add(fresh.len() as u32);
                    out.push(Output::Data(fresh));
                }
                in_order = true;
            } else {
                in_order = false; // a gap: dropped, the duplicate ACK asks for what is missing
            }
        }
        // Eighth: FIN, when it is the next thing expected.
        let fin_seq = seg.seq.wrapping_add(seg.payload.len() as u32);
        if seg.flags.fin
            && in_order
            && fin_seq == self.rcv_nxt
            && matches!(self.state, Established | FinWait1 | FinWait2)
        {
            self.rcv_nxt = self.rcv_nxt.wrapping_add(1);
            need_ack = true;
            out.push(Output::PeerClosed);
            match self.state {
                Established => self.state = CloseWait,
                FinWait1 if fin_acked => self.enter_time_wait(now, out),
                FinWait1 => self.state = Closing,
                _ => self.enter_time_wait(now, out), // FinWait2, the one state the guard leaves
            }
        }
        let sent = out.len();
        self.transmit_pending(now, out);
        if need_ack && out.len() == sent {
            self.send_ack(out);
        }
    }

    /// §3.10.7.4 first check: does the segment overlap the receive window?
    fn acceptable(&self, seg: &Segment) -> bool {
        let wnd = u32::from(self.config.window);
        let len = seg.seq_len();
        let in_window =
            |s: u32| seq_le(self.rcv_nxt, s) && seq_lt(s, self.rcv_nxt.wrapping_add(wnd));
        match (len, wnd) {
            (0, 0) => seg.seq == self.rcv_nxt,
            (0, _) => in_window(seg.seq),
            (_, 0) => false,
            (_, _) => in_window(seg.seq) || in_window(seg.seq.wrapping_add(len - 1)),
        }
    }

    /// §3.10.8: the timers that have expired by `now`.
    fn on_timer(&mut self, now: SimTime, out: &mut Vec<Output>) {
        for timer in Timer::ALL {
            let Some(deadline) = self.timers[timer as usize] else {
                continue;
            };
            if deadline > now {
                continue;
            }
            self.timers[timer as usize] = None;
            match timer {
                Timer::Retransmission => self.on_retransmission_timeout(now, out),
                Timer::FinWait2 => self.enter_closed(CloseReason::Normal, out),
                Timer::TimeWait => self.state = TcpState::Closed, // Closed already reported
            }
        }
    }

    /// RFC 6298 §5.4-5.6: back off and send again from `SND.UNA` (go-back-N).
    fn on_retransmission_timeout(&mut self, now: SimTime, out: &mut Vec<Output>) {
        use TcpState::*;
        let limit = match self.state {
            SynSent | SynReceived => self.config.syn_retries,
            Established | FinWait1 | CloseWait | Closing | LastAck => self.config.data_retries,
            Closed | Listen | FinWait2 | TimeWait => return, // nothing outstanding
        };
        if self.snd_una == self.snd_max {
            return;
        }
        if self.retries >= limit {
            self.enter_closed(CloseReason::TimedOut, out);
            return;
        }
        self.retries += 1;
        self.syn_timed_out |= matches!(self.state, SynSent | SynReceived);
        self.rto = SimDuration(self.rto.as_nanos().saturating_mul(2)).min(self.config.rto_max);
        self.rtt_probe = None; // Karn: no samples from retransmitted segments
        self.snd_nxt = self.snd_una;
        match self.state {
            SynSent | SynReceived => self.send_syn(now, out),
            _ => self.transmit_pending(now, out),
        }
    }

    /// Sends the SYN (SYN-SENT) or SYN-ACK (SYN-RECEIVED) at ISS, with the MSS option.
    fn send_syn(&mut self, now: SimTime, out: &mut Vec<Output>) {
        let flags = if self.state == TcpState::SynReceived {
            ctl::SYN_ACK
        } else {
            ctl::SYN
        };
        let mut syn = self.segment(self.iss, flags, Bytes::new());
        syn.mss = Some(self.config.mss);
        self.snd_nxt = self.iss.wrapping_add(1);
        if self.snd_max == self.iss {
            self.snd_max = self.snd_nxt;
            self.rtt_probe = Some((self.snd_nxt, now));
        } else {
            self.rtt_probe = None; // Karn: a resent SYN gives no sample
        }
        if self.timers[Timer::Retransmission as usize].is_none() {
            self.arm(Timer::Retransmission, now + self.rto);
        }
        out.push(Output::Transmit(syn));
    }

    /// Sends queued data, then the FIN, as the peer's window allows.
    fn transmit_pending(&mut self, now: SimTime, out: &mut Vec<Output>) {
        use TcpState::*;
        if !matches!(
            self.state,
            Established | CloseWait | FinWait1 | Closing | LastAck
        ) {
            return;
        }
        let mss = u32::from(self.config.mss.min(self.peer_mss).max(1));
        let data_end = self.fin_seq();
        loop {
            let in_flight = self.snd_nxt.wrapping_sub(self.snd_una);
            let room = self.snd_wnd.saturating_sub(in_flight);
            let seg = if seq_lt(self.snd_nxt, data_end) {
                let len = data_end.wrapping_sub(self.snd_nxt).min(mss).min(room);
                if len == 0 {
                    break;
                }
                let start = self.snd_nxt.wrapping_sub(self.buf_seq) as usize;
                let payload = Bytes::copy_from_slice(&self.send_buf[start..start + len as usize]);
                // PSH on the segment that empties the queue, as Linux does.
                let last = self.snd_nxt.wrapping_add(len) == data_end;
                let flags = if last { ctl::PSH_ACK } else { ctl::ACK };
                self.segment(self.snd_nxt, flags, payload)
            } else if self.fin_queued && self.snd_nxt == data_end {
                self.segment(self.snd_nxt, ctl::FIN_ACK, Bytes::new())
            } else {
                break;
            };
            let end = self.snd_nxt.wrapping_add(seg.seq_len());
            if seq_lt(self.snd_max, end) {
                if self.snd_max == self.snd_nxt && self.rtt_probe.is_none() {
                    self.rtt_probe = Some((end, now));
                }
                self.snd_max = end;
            }
            self.snd_nxt = end;
            if self.timers[Timer::Retransmission as usize].is_none() {
                self.arm(Timer::Retransmission, now + self.rto);
            }
            out.push(Output::Transmit(seg));
        }
    }

    /// `SND.UNA` moved to `ack`: drop acknowledged data, sample the RTT, re-arm the timer
    /// (RFC 6298 §5.2-5.3).
    fn on_new_ack(&mut self, now: SimTime, ack: u32) {
        if seq_lt(self.buf_seq, ack) {
            let n = (ack.wrapping_sub(self.buf_seq) as usize).min(self.send_buf.len());
            self.send_buf.advance(n);
            self.buf_seq = self.buf_seq.wrapping_add(n as u32);
        }
        self.snd_una = ack;
        if seq_lt(self.snd_nxt, ack) {
            self.snd_nxt = ack;
        }
        self.retries = 0;
        match self.rtt_probe {
            Some((end, sent)) if seq_le(end, ack) => {
                self.rtt_probe = None;
                self.sample_rtt(now - sent);
            }
            // Progress ends the backoff (as Linux does), even without a sample.
            _ => self.rto = self.computed_rto(),
        }
        self.timers[Timer::Retransmission as usize] = None;
        if self.snd_una != self.snd_max {
            self.arm(Timer::Retransmission, now + self.rto);
        }
    }

    /// RFC 6298 §2.2-2.3: smoothed RTT and its variation.
    fn sample_rtt(&mut self, r: SimDuration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = SimDuration(r.as_nanos() / 2);
            }
            Some(srtt) => {
                let delta = srtt.as_nanos().abs_diff(r.as_nanos());
                self.rttvar = SimDuration((3 * self.rttvar.as_nanos() + delta) / 4);
                self.srtt = Some(SimDuration((7 * srtt.as_nanos() + r.as_nanos()) / 8));
            }
        }
        self.rto = self.computed_rto();
    }

    /// `RTO = SRTT + 4 RTTVAR`, within `[rto_min, rto_max]` (clock granularity G = 0); before
    /// any sample the initial RTO, or 3 s after a SYN timed out (RFC 6298 §2.1, §5.7).
    fn computed_rto(&self) -> SimDuration {
        let Some(srtt) = self.srtt else {
            return if self.syn_timed_out {
                self.config.rto_initial.max(SimDuration::from_secs(3))
            } else {
                self.config.rto_initial
            };
        };
        let rto = srtt + SimDuration(self.rttvar.as_nanos().saturating_mul(4));
        rto.max(self.config.rto_min).min(self.config.rto_max)
    }

    /// The peer's SYN: its sequence number, MSS and window.
    fn learn_peer_syn(&mut self, seg: &Segment) {
        self.rcv_nxt = seg.seq.wrapping_add(1);
        self.peer_mss = seg.mss.unwrap_or(DEFAULT_PEER_MSS);
        self.snd_wnd = u32::from(seg.window);
    }

    /// Enters ESTABLISHED (or FIN-WAIT-1 if CLOSE came during the handshake).
    fn on_established(&mut self, now: SimTime, out: &mut Vec<Output>) {
        out.push(Output::Connected);
        self.state = if self.fin_queued {
            TcpState::FinWait1
        } else {
            TcpState::Established
        };
        self.transmit_pending(now, out);
    }

    fn enter_time_wait(&mut self, now: SimTime, out: &mut Vec<Output>) {
        self.state = TcpState::TimeWait;
        self.timers = [None; Timer::ALL.len()];
        self.arm(Timer::TimeWait, now + self.config.time_wait);
        self.report_closed(CloseReason::Normal, out);
    }

    fn enter_closed(&mut self, reason: CloseReason, out: &mut Vec<Output>) {
        self.state = TcpState::Closed;
        self.timers = [None; Timer::ALL.len()];
        self.send_buf.clear();
        self.report_closed(reason, out);
    }

    fn report_closed(&mut self, reason: CloseReason, out: &mut Vec<Output>) {
        if !self.closed_reported {
            self.closed_reported = true;
            out.push(Output::Closed { reason });
        }
    }

    /// Where the FIN goes (or would go): right after the queued data.
    fn fin_seq(&self) -> u32 {
        self.buf_seq.wrapping_add(self.send_buf.len() as u32)
    }

    fn arm(&mut self, timer: Timer, at: SimTime) {
        self.timers[timer as usize] = Some(at);
    }

    /// An ACK for an invalid segment, at most one per [`OUT_OF_WINDOW_ACK_INTERVAL`]
    /// (Linux `tcp_oow_rate_limited`), which breaks ACK wars (RFC 9293 §3.10.7.4 note).
    fn send_ack_rate_limited(&mut self, now: SimTime, out: &mut Vec<Output>) {
        if self
            .last_invalid_ack
            .is_some_and(|last| now - last < OUT_OF_WINDOW_ACK_INTERVAL)
        {
            return;
        }
        self.last_invalid_ack = Some(now);
        self.send_ack(out);
    }

    fn send_ack(&self, out: &mut Vec<Output>) {
        let ack = self.segment(self.snd_nxt, ctl::ACK, Bytes::new());
        out.push(Output::Transmit(ack));
    }

    /// A segment from this endpoint; the ACK field is `RCV.NXT` when the ACK bit is set.
    fn segment(&self, seq: u32, flags: TcpFlags, payload: Bytes) -> Segment {
        Segment {
            src_port: self.local_port,
            dst_port: self.remote_port,
            seq,
            ack: if flags.ack { self.rcv_nxt } else { 0 },
            flags,
            window: self.config.window,
            mss: None,
            payload,
        }
    }
}

/// Control bits by name.
mod ctl {
    use sim_core::pcap::frame::TcpFlags;

    const NONE: TcpFlags = TcpFlags {
        syn: false,
        ack: false,
        fin: false,
        rst: false,
        psh: false,
    };
    pub(super) const SYN: TcpFlags = TcpFlags { syn: true, ..NONE };
    pub(super) const SYN_ACK: TcpFlags = TcpFlags {
        syn: true,
        ack: true,
        ..NONE
    };
    pub(super) const ACK: TcpFlags = TcpFlags { ack: true, ..NONE };
    pub(super) const PSH_ACK: TcpFlags = TcpFlags {
        psh: true,
        ack: true,
        ..NONE
    };
    pub(super) const FIN_ACK: TcpFlags = TcpFlags {
        fin: true,
        ack: true,
        ..NONE
    };
    pub(super) const RST: TcpFlags = TcpFlags { rst: true, ..NONE };
    pub(super) const RST_ACK: TcpFlags = TcpFlags {
        rst: true,
        ack: true,
        ..NONE
    };
}

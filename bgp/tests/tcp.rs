//! `bgp::tcp`: two endpoints over an in-test pipe with a one-way delay and a drop rule.

use bgp::tcp::{CloseReason, Input, Output, Segment, TcpConfig, TcpEndpoint, TcpState};
use bgp::wire::{CodecOptions, Keepalive, Message, MessageReader, Open};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use sim_core::pcap::frame::{self, TcpFlags};
use sim_core::pcap::PcapWriter;
use sim_core::{SimDuration, SimTime};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

const A: usize = 0;
const B: usize = 1;
const A_PORT: u16 = 40_000;
const BGP_PORT: u16 = 179;
const A_ISN: u32 = 0xffff_f000; // wraps during the larger transfers
const B_ISN: u32 = 7_000;

/// Decides whether a segment sent at `now` by endpoint `from` is lost.
type DropRule = Box<dyn FnMut(SimTime, usize, &Segment) -> bool>;

/// Two endpoints joined by a link with a fixed one-way delay, in order, and a drop rule.
struct Pipe {
    ends: [TcpEndpoint; 2],
    delay: SimDuration,
    now: SimTime,
    /// Segments on the wire: (arrival, insertion order) -> (receiver, segment).
    wire: BTreeMap<(SimTime, u64), (usize, Segment)>,
    order: u64,
    drop: DropRule,
    /// Every segment sent: (time, sender, segment, dropped).
    sent: Vec<(SimTime, usize, Segment, bool)>,
    received: [Vec<u8>; 2],
    /// Non-transmit outputs per endpoint, in order, with their time.
    events: [Vec<(SimTime, Output)>; 2],
}

impl Pipe {
    fn new(config: TcpConfig, delay: SimDuration) -> Pipe {
        Pipe {
            ends: [
                TcpEndpoint::new(config, A_PORT, BGP_PORT, A_ISN),
                TcpEndpoint::new(config, BGP_PORT, 0, B_ISN),
            ],
            delay,
            now: SimTime::ZERO,
            wire: BTreeMap::new(),
            order: 0,
            drop: Box::new(|_, _, _| false),
            sent: Vec::new(),
            received: [Vec::new(), Vec::new()],
            events: [Vec::new(), Vec::new()],
        }
    }

    /// A pipe with A opening actively and B listening.
    fn opening(config: TcpConfig) -> Pipe {
        let mut pipe = Pipe::new(config, SimDuration::from_micros(500));
        pipe.input(B, Input::Open { active: false });
        pipe.input(A, Input::Open { active: true });
        pipe
    }

    fn input(&mut self, who: usize, input: Input) {
        let outputs = self.ends[who].handle(self.now, input);
        for output in outputs {
            match output {
                Output::Transmit(seg) => {
                    let lost = (self.drop)(self.now, who, &seg);
                    self.sent.push((self.now, who, seg.clone(), lost));
                    if !lost {
                        self.order += 1;
                        self.wire
                            .insert((self.now + self.delay, self.order), (1 - who, seg));
                    }
                }
                Output::Data(bytes) => {
                    self.received[who].extend_from_slice(&bytes);
                    self.events[who].push((self.now, Output::Data(bytes)));
                }
                other => self.events[who].push((self.now, other)),
            }
        }
    }

    /// Runs the next event (a delivery or a timer) if it is due by `until`.
    fn step(&mut self, until: SimTime) -> bool {
        let delivery = self.wire.keys().next().map(|k| k.0);
        let timers = [self.ends[A].next_timeout(), self.ends[B].next_timeout()];
        let Some(next) = [delivery, timers[A], timers[B]].into_iter().flatten().min() else {
            return false;
        };
        if next > until {
            return false;
        }
        assert!(next >= self.now, "time went back: {next} < {}", self.now);
        self.now = next;
        if delivery == Some(next) {
            let (_, (to, seg)) = self.wire.pop_first().unwrap();
            self.input(to, Input::Segment(seg));
        } else {
            let who = if timers[A] == Some(next) { A } else { B };
            self.input(who, Input::Timer);
        }
        true
    }

    fn run_until(&mut self, until: SimTime) {
        let mut steps = 0;
        while self.step(until) {
            steps += 1;
            assert!(steps < 1_000_000, "no quiescence by {}", self.now);
        }
    }

    fn run_for(&mut self, d: SimDuration) {
        let until = self.now + d;
        self.run_until(until);
        self.now = until;
    }

    /// Runs until nothing is left to do (timers included).
    fn run(&mut self) {
        self.run_until(SimTime::MAX);
    }

    fn events_of(&self, who: usize) -> Vec<Output> {
        self.events[who].iter().map(|(_, o)| o.clone()).collect()
    }

    fn closed_reason(&self, who: usize) -> Option<CloseReason> {
        self.events[who].iter().find_map(|(_, o)| match o {
            Output::Closed { reason } => Some(*reason),
            _ => None,
        })
    }

    /// Payload sizes of the data segments `who` sent, in order.
    fn data_segments(&self, who: usize) -> Vec<usize> {
        self.sent
            .iter()
            .filter(|(_, from, seg, _)| *from == who && !seg.payload.is_empty())
            .map(|(_, _, seg, _)| seg.payload.len())
            .collect()
    }
}

fn pattern(len: usize, salt: u8) -> Bytes {
    (0..len).map(|i| (i % 251) as u8 ^ salt).collect()
}

fn secs(s: u64) -> SimDuration {
    SimDuration::from_secs(s)
}

#[test]
fn three_way_handshake() {
    let mut pipe = Pipe::opening(TcpConfig::default());
    pipe.run();
    assert_eq!(pipe.ends[A].state(), TcpState::Established);
    assert_eq!(pipe.ends[B].state(), TcpState::Established);
    assert_eq!(pipe.ends[B].remote_port(), A_PORT);
    assert_eq!(pipe.events_of(A), vec![Output::Connected]);
    assert_eq!(pipe.events_of(B), vec![Output::Connected]);
    let segs: Vec<_> = pipe
        .sent
        .iter()
        .map(|(_, w, s, _)| (*w, s.clone()))
        .collect();
    assert_eq!(segs.len(), 3);
    let (syn, syn_ack, ack) = (&segs[0].1, &segs[1].1, &segs[2].1);
    assert_eq!((segs[0].0, segs[1].0, segs[2].0), (A, B, A));
    assert!(syn.flags.syn && !syn.flags.ack);
    assert_eq!(
        (syn.seq, syn.mss, syn.src_port, syn.dst_port),
        (A_ISN, Some(1460), A_PORT, BGP_PORT)
    );
    assert!(syn_ack.flags.syn && syn_ack.flags.ack);
    assert_eq!(
        (syn_ack.seq, syn_ack.ack, syn_ack.mss),
        (B_ISN, A_ISN.wrapping_add(1), Some(1460))
    );
    assert!(ack.flags.ack && !ack.flags.syn);
    assert_eq!(
        (ack.seq, ack.ack, ack.mss),
        (A_ISN.wrapping_add(1), B_ISN + 1, None)
    );
    // Quiet afterwards: no timer left armed.
    assert_eq!(pipe.ends[A].next_timeout(), None);
    assert_eq!(pipe.ends[B].next_timeout(), None);
}

#[test]
fn ten_kilobytes_arrive_in_order_in_mss_segments() {
    let mut pipe = Pipe::opening(TcpConfig::default());
    pipe.run();
    let data = pattern(10_000, 0);
    pipe.input(A, Input::Send(data.clone()));
    pipe.run();
    assert_eq!(pipe.received[B], data);
    assert_eq!(
        pipe.data_segments(A),
        vec![1460, 1460, 1460, 1460, 1460, 1460, 1240]
    );
    // PSH only on the segment that empties the queue; sequence numbers contiguous.
    let data_segs: Vec<_> = pipe
        .sent
        .iter()
        .filter(|(_, w, s, _)| *w == A && !s.payload.is_empty())
        .collect();
    let mut seq = A_ISN.wrapping_add(1);
    for (i, (_, _, seg, _)) in data_segs.iter().enumerate() {
        assert_eq!(seg.seq, seq);
        assert_eq!(seg.flags.psh, i == data_segs.len() - 1);
        seq = seq.wrapping_add(seg.payload.len() as u32);
    }
    assert_eq!(pipe.ends[A].unacknowledged_len(), 0);
    // Every data segment is acknowledged at once (no delayed ACK).
    let acks = pipe
        .sent
        .iter()
        .filter(|(_, w, s, _)| *w == B && s.flags.ack && s.payload.is_empty())
        .count();
    assert_eq!(acks, 1 + 7); // SYN-ACK + one per segment
}

#[test]
fn small_sends_coalesce_only_while_waiting() {
    // Sends during the handshake wait, then leave together.
    let mut pipe = Pipe::opening(TcpConfig::default());
    pipe.input(A, Input::Send(pattern(10, 1)));
    pipe.input(A, Input::Send(pattern(10, 2)));
    pipe.run();
    assert_eq!(pipe.data_segments(A), vec![20]);
    // Once established, each send goes out at once (no Nagle).
    pipe.input(A, Input::Send(pattern(10, 3)));
    pipe.input(A, Input::Send(pattern(10, 4)));
    pipe.run();
    assert_eq!(pipe.data_segments(A), vec![20, 10, 10]);
    let expected: Vec<u8> = [
        pattern(10, 1),
        pattern(10, 2),
        pattern(10, 3),
        pattern(10, 4),
    ]
    .concat();
    assert_eq!(pipe.received[B], expected);
}

#[test]
fn bgp_messages_cross_segment_boundaries() {
    let config = TcpConfig {
        mss: 7,
        ..TcpConfig::default()
    };
    let mut pipe = Pipe::opening(config);
    pipe.run();
    let mut wire = BytesMut::new();
    Keepalive.encode(&mut wire);
    Keepalive.encode(&mut wire);
    pipe.input(A, Input::Send(wire.freeze()));
    pipe.run();
    assert_eq!(pipe.data_segments(A), vec![7, 7, 7, 7, 7, 3]);
    let mut reader = MessageReader::new(CodecOptions::FOUR_OCTET_AS);
    reader.push(&pipe.received[B]);
    assert_eq!(
        reader.next_message(),
        Some(Ok(Message::Keepalive(Keepalive)))
    );
    assert_eq!(
        reader.next_message(),
        Some(Ok(Message::Keepalive(Keepalive)))
    );
    assert_eq!(reader.next_message(), None);
}

#[test]
fn fin_close_both_ways() {
    let mut pipe = Pipe::opening(TcpConfig::default());
    pipe.run();
    pipe.input(A, Input::Send(pattern(3_000, 5)));
    pipe.input(A, Input::Close);
    assert_eq!(pipe.ends[A].state(), TcpState::FinWait1);
    pipe.run_for(secs(1));
    // B has all the data, then the FIN; A waits in FIN-WAIT-2.
    assert_eq!(pipe.received[B], pattern(3_000, 5));
    assert_eq!(pipe.events_of(B).last(), Some(&Output::PeerClosed));
    assert_eq!(pipe.ends[B].state(), TcpState::CloseWait);
    assert_eq!(pipe.ends[A].state(), TcpState::FinWait2);
    // B may still send, then closes.
    pipe.input(B, Input::Send(pattern(100, 6)));
    pipe.input(B, Input::Close);
    pipe.run_for(secs(1));
    assert_eq!(pipe.received[A], pattern(100, 6));
    assert_eq!(pipe.ends[B].state(), TcpState::Closed);
    assert_eq!(pipe.closed_reason(B), Some(CloseReason::Normal));
    assert_eq!(pipe.ends[A].state(), TcpState::TimeWait);
    assert_eq!(
        pipe.events_of(A)[2..],
        [
            Output::PeerClosed,
            Output::Closed {
                reason: CloseReason::Normal
            }
        ]
    );
    // TIME-WAIT ends after 60 s, silently.
    let entered = pipe.now;
    pipe.run();
    assert_eq!(pipe.ends[A].state(), TcpState::Closed);
    assert!(pipe.now - entered <= secs(60));
    assert_eq!(pipe.events_of(A).len(), 4);
    // A spent endpoint answers with RST and does not reopen.
    let late = pipe.ends[A].handle(pipe.now, Input::Open { active: true });
    assert!(late.is_empty());
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let mut pipe = Pipe::opening(TcpConfig::default());
    pipe.run();
    pipe.input(A, Input::Close);
    pipe.input(B, Input::Close);
    pipe.run_for(secs(1));
    for who in [A, B] {
        assert_eq!(pipe.ends[who].state(), TcpState::TimeWait);
        assert_eq!(pipe.closed_reason(who), Some(CloseReason::Normal));
        assert!(pipe.events_of(who).contains(&Output::PeerClosed));
    }
    pipe.run();
    assert_eq!(pipe.ends[A].state(), TcpState::Closed);
    assert_eq!(pipe.ends[B].state(), TcpState::Closed);
}

#[test]
fn abort_sends_rst_and_peer_sees_reset() {
    let mut pipe = Pipe::opening(TcpConfig::default());
    pipe.run();
    pipe.input(A, Input::Abort);
    pipe.run();
    let rst = &pipe.sent.last().unwrap().2;
    assert!(rst.flags.rst && !rst.flags.ack);
    assert_eq!(rst.seq, A_ISN.wrapping_add(1));
    assert_eq!(pipe.closed_reason(A), Some(CloseReason::Aborted));
    assert_eq!(pipe.closed_reason(B), Some(CloseReason::Reset));
    assert_eq!(pipe.ends[B].state(), TcpState::Closed);
}

#[test]
fn syn_to_a_closed_port_is_refused() {
    let mut pipe = Pipe::new(TcpConfig::default(), SimDuration::from_micros(500));
    // B never opens: a closed endpoint answers like a host with no such socket.
    pipe.input(A, Input::Open { active: true });
    pipe.run();
    assert_eq!(pipe.closed_reason(A), Some(CloseReason::Reset));
    let rst = &pipe.sent[1].2;
    assert!(rst.flags.rst && rst.flags.ack);
    assert_eq!((rst.seq, rst.ack), (0, A_ISN.wrapping_add(1)));
}

#[test]
fn rst_for_follows_rfc_9293_closed_state() {
    let syn = Segment {
        src_port: 1,
        dst_port: 2,
        seq: 100,
        ack: 0,
        flags: TcpFlags {
            syn: true,
            ..TcpFlags::default()
        },
        window: 1000,
        mss: Some(1460),
        payload: Bytes::new(),
    };
    let rst = TcpEndpoint::rst_for(&syn).unwrap();
    assert_eq!(
        (rst.src_port, rst.dst_port, rst.seq, rst.ack),
        (2, 1, 0, 101)
    );
    assert!(rst.flags.rst && rst.flags.ack && !rst.flags.syn);
    let data = Segment {
        seq: 500,
        ack: 900,
        flags: TcpFlags {
            ack: true,
            psh: true,
            ..TcpFlags::default()
        },
        payload: Bytes::from_static(b"abc"),
        mss: None,
        ..syn.clone()
    };
    let rst = TcpEndpoint::rst_for(&data).unwrap();
    assert_eq!((rst.seq, rst.flags.ack, rst.flags.rst), (900, false, true));
    assert!(TcpEndpoint::rst_for(&rst).is_none(), "never answer a RST");
}

#[test]
fn link_down_then_up_retransmits_everything() {
    let mut pipe = Pipe::opening(TcpConfig::default());
    pipe.run();
    let (down, up) = (SimTime(secs(1).as_nanos()), SimTime(secs(5).as_nanos()));
    pipe.drop = Box::new(move |now, _, _| now >= down && now < up);
    pipe.run_until(down);
    pipe.now = down;
    let data = pattern(50_000, 9);
    pipe.input(A, Input::Send(data.clone()));
    pipe.run();
    assert_eq!(pipe.received[B], data);
    assert_eq!(pipe.ends[A].unacknowledged_len(), 0);
    // The first segment went out several times, with doubling gaps (RTO 200 ms floor).
    let first_seq = A_ISN.wrapping_add(1);
    let times: Vec<SimTime> = pipe
        .sent
        .iter()
        .filter(|(_, w, s, _)| *w == A && s.seq == first_seq && !s.payload.is_empty())
        .map(|(t, _, _, _)| *t)
        .collect();
    let gaps: Vec<u64> = times
        .windows(2)
        .map(|w| (w[1] - w[0]).as_nanos() / 1_000_000)
        .collect();
    assert_eq!(gaps, vec![200, 400, 800, 1600, 3200]);
    assert!(times[5] >= up);
    assert_eq!(pipe.ends[A].state(), TcpState::Established);
}

#[test]
fn vanished_peer_times_out_after_linux_retries() {
    let mut pipe = Pipe::opening(TcpConfig::default());
    pipe.run();
    let gone = pipe.now;
    pipe.drop = Box::new(move |now, _, _| now >= gone);
    pipe.input(A, Input::Send(pattern(100, 0)));
    pipe.run();
    assert_eq!(pipe.closed_reason(A), Some(CloseReason::TimedOut));
    let at = pipe.events[A].last().unwrap().0;
    // 0.2 + 0.4 + ... + 102.4 s, then six times the 120 s ceiling: tcp_retries2 = 15.
    assert_eq!((at - gone).as_nanos(), 924_600_000_000);
    let retransmissions = pipe
        .sent
        .iter()
        .filter(|(_, w, s, _)| *w == A && !s.payload.is_empty())
        .count();
    assert_eq!(retransmissions, 16);
    assert_eq!(pipe.ends[A].next_timeout(), None);
}

#[test]
fn unanswered_syn_times_out_after_127_seconds() {
    let mut pipe = Pipe::new(TcpConfig::default(), SimDuration::from_micros(500));
    pipe.drop = Box::new(|_, _, _| true);
    pipe.input(A, Input::Open { active: true });
    pipe.run();
    assert_eq!(pipe.closed_reason(A), Some(CloseReason::TimedOut));
    assert_eq!(
        pipe.events[A].last().unwrap().0,
        SimTime(secs(127).as_nanos())
    );
    assert_eq!(pipe.sent.len(), 7); // SYN and 6 retries
}

#[test]
fn lost_syn_ack_and_lost_final_ack_recover() {
    // Drop B's first SYN-ACK, and A's first pure ACK.
    let mut pipe = Pipe::opening(TcpConfig::default());
    let mut dropped = [false; 2];
    pipe.drop = Box::new(move |_, from, seg| {
        let first = &mut dropped[from];
        let kind = if from == B {
            seg.flags.syn
        } else {
            !seg.flags.syn && seg.payload.is_empty()
        };
        if kind && !*first {
            *first = true;
            return true;
        }
        false
    });
    // Re-run the opening under the new rule.
    pipe.wire.clear();
    pipe.sent.clear();
    pipe.ends = [
        TcpEndpoint::new(TcpConfig::default(), A_PORT, BGP_PORT, A_ISN),
        TcpEndpoint::new(TcpConfig::default(), BGP_PORT, 0, B_ISN),
    ];
    pipe.events = [Vec::new(), Vec::new()];
    pipe.input(B, Input::Open { active: false });
    pipe.input(A, Input::Open { active: true });
    pipe.input(A, Input::Send(pattern(10, 0)));
    pipe.run();
    assert_eq!(pipe.ends[A].state(), TcpState::Established);
    assert_eq!(pipe.ends[B].state(), TcpState::Established);
    assert_eq!(pipe.received[B], pattern(10, 0));
    let syn_acks = pipe
        .sent
        .iter()
        .filter(|(_, w, s, _)| *w == B && s.flags.syn)
        .count();
    // Sent again on B's timer, and again when A's SYN came again.
    assert!(syn_acks >= 2, "the lost SYN-ACK was sent again");
    let connected = pipe
        .events_of(B)
        .iter()
        .filter(|o| **o == Output::Connected)
        .count();
    assert_eq!(connected, 1);
}

#[test]
fn same_inputs_same_segments() {
    let run = || {
        let mut pipe = Pipe::opening(TcpConfig::default());
        pipe.drop = Box::new(|now, _, _| now.as_nanos() % 3 == 0);
        pipe.run();
        pipe.input(A, Input::Send(pattern(20_000, 1)));
        pipe.input(B, Input::Send(pattern(5_000, 2)));
        pipe.run();
        pipe.sent
    };
    assert_eq!(run(), run());
}

/// Runs one random exchange: both sides send `sizes`, the first `drops.len()` transmissions
/// are lost where `drops` says, and the link is down during `outage` (seconds from start).
fn random_exchange(
    sizes: &[usize],
    drops: Vec<bool>,
    outage: (u64, u64),
) -> Result<(), TestCaseError> {
    // Never give up here: the property is delivery, not the give-up timers. (With the
    // defaults, a FIN lost often enough outlives the peer's TIME-WAIT and meets a RST, as in
    // real TCP.)
    let config = TcpConfig {
        mss: 536,
        syn_retries: 64,
        data_retries: 64,
        fin_wait2_timeout: secs(100_000),
        time_wait: secs(100_000),
        ..TcpConfig::default()
    };
    let mut pipe = Pipe::opening(config);
    let (down, up) = (
        SimTime(secs(outage.0).as_nanos()),
        SimTime(secs(outage.0 + outage.1).as_nanos()),
    );
    let mut count = 0;
    pipe.drop = Box::new(move |now, _, _| {
        count += 1;
        drops.get(count - 1).copied().unwrap_or(false) || (now >= down && now < up)
    });
    let mut expected = [Vec::new(), Vec::new()];
    for (i, &size) in sizes.iter().enumerate() {
        let who = i % 2;
        let bytes = pattern(size, i as u8);
        expected[who].extend_from_slice(&bytes);
        pipe.input(who, Input::Send(bytes));
        pipe.run_for(SimDuration::from_millis(300));
    }
    pipe.run();
    prop_assert_eq!(&pipe.received[B], &expected[A]);
    prop_assert_eq!(&pipe.received[A], &expected[B]);
    pipe.input(A, Input::Close);
    pipe.input(B, Input::Close);
    pipe.run();
    for who in [A, B] {
        prop_assert_eq!(pipe.ends[who].state(), TcpState::Closed);
        prop_assert_eq!(pipe.closed_reason(who), Some(CloseReason::Normal));
        let connected = pipe
            .events_of(who)
            .iter()
            .filter(|o| **o == Output::Connected)
            .count();
        prop_assert_eq!(connected, 1);
    }
    Ok(())
}

#[test]
fn rto_backoff_ends_once_the_handshake_gets_through() {
    // Found by the property below: after four lost SYNs the RTO had backed off to 16 s and,
    // with no RTT sample (Karn), stayed there; now progress resets it to 3 s (RFC 6298 §5.7).
    let mut pipe = Pipe::opening(TcpConfig::default());
    let up = SimTime(secs(8).as_nanos());
    let mut data_lost = false;
    pipe.drop = Box::new(move |now, _, seg| {
        if now < up {
            return true;
        }
        // The first data segment after the handshake is lost once.
        let lose = !seg.payload.is_empty() && !data_lost;
        data_lost |= lose;
        lose
    });
    pipe.input(A, Input::Send(pattern(1, 0)));
    pipe.run();
    let data: Vec<SimTime> = pipe
        .sent
        .iter()
        .filter(|(_, w, s, _)| *w == A && !s.payload.is_empty())
        .map(|(t, _, _, _)| *t)
        .collect();
    assert_eq!(data.len(), 2);
    assert_eq!(data[1] - data[0], secs(3));
    assert_eq!(pipe.received[B], pattern(1, 0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_sends_and_drops_deliver_exactly_the_bytes(
        sizes in proptest::collection::vec(0usize..4_000, 1..12),
        drops in proptest::collection::vec(proptest::bool::weighted(0.3), 0..60),
        outage in (0u64..5, 0u64..20),
    ) {
        random_exchange(&sizes, drops, outage)?;
    }

    #[test]
    fn arbitrary_segments_never_panic(
        state_steps in 0usize..4,
        segs in proptest::collection::vec(
            (
                any::<u32>(),
                any::<u32>(),
                0u8..32,
                any::<u16>(),
                proptest::collection::vec(any::<u8>(), 0..40),
                any::<bool>(),
            ),
            1..30,
        ),
    ) {
        let mut pipe = Pipe::opening(TcpConfig::default());
        pipe.run();
        // Optionally move A along the close path first.
        if state_steps >= 1 { pipe.input(A, Input::Send(pattern(2_000, 0))); }
        if state_steps >= 2 { pipe.input(A, Input::Close); }
        if state_steps >= 3 { pipe.run(); }
        for (seq, ack, bits, window, payload, near) in segs {
            let base = pipe.ends[B].next_timeout().map_or(0, |_| 1);
            let seg = Segment {
                src_port: BGP_PORT,
                dst_port: A_PORT,
                // Near the expected numbers half the time, so the in-window paths run too.
                seq: if near { B_ISN.wrapping_add(1 + (seq % 64)) } else { seq },
                ack: if near { A_ISN.wrapping_add(base + ack % 4_000) } else { ack },
                flags: TcpFlags::from_bits(bits),
                window,
                mss: None,
                payload: Bytes::from(payload),
            };
            pipe.input(A, Input::Segment(seg));
            pipe.run_for(SimDuration::from_millis(50));
        }
        pipe.run();
        prop_assert!(pipe.ends[A].next_timeout().is_none());
    }
}

/// A capture of a real exchange: handshake, an OPEN and two KEEPALIVEs cut into 10-byte
/// segments, a lost segment and its retransmission, and FIN close.
fn exchange_capture() -> Vec<u8> {
    let config = TcpConfig {
        mss: 10,
        ..TcpConfig::default()
    };
    let mut pipe = Pipe::opening(config);
    pipe.run();
    let mut lost_one = false;
    pipe.drop = Box::new(move |_, from, seg| {
        if from == A && seg.payload.len() == 10 && !lost_one {
            lost_one = true;
            return true;
        }
        false
    });
    let mut wire = BytesMut::new();
    Open {
        my_as: 64_512,
        hold_time_s: 90,
        bgp_identifier: Ipv4Addr::new(10, 0, 0, 1),
        optional_parameters: Vec::new(),
    }
    .encode(&mut wire);
    Keepalive.encode(&mut wire);
    pipe.input(A, Input::Send(wire.freeze()));
    pipe.run_for(secs(2));
    let mut wire = BytesMut::new();
    Keepalive.encode(&mut wire);
    pipe.input(B, Input::Send(wire.freeze()));
    pipe.run_for(secs(1));
    pipe.input(A, Input::Close);
    pipe.input(B, Input::Close);
    pipe.run_for(secs(1));

    let macs = [[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]];
    let ips = [Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)];
    let mut pcap = PcapWriter::with_epoch(Vec::new(), secs(1_700_000_000)).unwrap();
    for (id, (t, from, seg, _)) in pipe.sent.iter().enumerate() {
        let to = 1 - from;
        let tcp = frame::tcp(&seg.header(), &seg.payload, ips[*from], ips[to]).unwrap();
        let ip = frame::ipv4(ips[*from], ips[to], frame::IPPROTO_TCP, 64, id as u16, &tcp).unwrap();
        let eth = frame::ethernet(macs[to], macs[*from], frame::ETHERTYPE_IPV4, &ip);
        pcap.write_frame(*t, &eth).unwrap();
    }
    pcap.into_inner()
}

#[test]
fn tshark_reassembles_bgp_over_the_endpoint_segments() {
    let Some(tshark) = testkit::or_skip(testkit::program("tshark", "tshark")) else {
        return;
    };
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bgp-tcp-exchange.pcap");
    std::fs::write(&path, exchange_capture()).unwrap();
    let out = std::process::Command::new(tshark)
        .args([
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-r",
        ])
        .arg(&path)
        .arg("-V")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let dump = || format!("tshark -V output:\n{text}");
    assert_eq!(
        text.matches("Border Gateway Protocol - OPEN Message")
            .count(),
        1,
        "{}",
        dump()
    );
    assert_eq!(
        text.matches("Border Gateway Protocol - KEEPALIVE Message")
            .count(),
        2,
        "{}",
        dump()
    );
    assert!(
        text.contains("This frame is a (suspected) retransmission"),
        "{}",
        dump()
    );
    assert!(!text.contains("Malformed"), "{}", dump());
    assert!(!text.contains("[Expert Info (Error"), "{}", dump());
    assert!(!text.to_lowercase().contains("status: bad"), "{}", dump());
}

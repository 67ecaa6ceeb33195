//! BFD session machine (RFC 5880 asynchronous mode): two sessions over an in-test pipe with a
//! 1 ms delay, and a no-panic property over arbitrary inputs.

use bgp::bfd::session::{BfdConfig, BfdInput, BfdOutput, BfdSession};
use bgp::bfd::{BfdControl, Diagnostic, SessionState};
use bytes::BytesMut;
use proptest::prelude::*;
use sim_core::{SimDuration, SimTime};

const PIPE_DELAY: SimDuration = SimDuration::from_millis(1);

fn ms(n: u64) -> SimDuration {
    SimDuration::from_millis(n)
}

fn at_ms(n: u64) -> SimTime {
    SimTime::ZERO + ms(n)
}

/// What happened in a lab run: `(time, session index, output)`.
type Log = Vec<(SimTime, usize, BfdOutput)>;

/// Two sessions joined by a pipe that delivers each packet `PIPE_DELAY` later, in order, through
/// the wire codec. The pipe can be cut: packets sent after the cut are lost.
struct Lab {
    sessions: [BfdSession; 2],
    in_flight: Vec<(SimTime, usize, BfdControl)>,
    cut_after: Option<SimTime>,
    log: Log,
}

impl Lab {
    fn new(a: BfdConfig, b: BfdConfig, seed: u64) -> Lab {
        Lab {
            sessions: [
                BfdSession::new(a, SimTime::ZERO, seed),
                BfdSession::new(b, SimTime::ZERO, seed.wrapping_add(1)),
            ],
            in_flight: Vec::new(),
            cut_after: None,
            log: Vec::new(),
        }
    }

    fn metallb(seed: u64) -> Lab {
        Lab::new(
            BfdConfig::metallb_default(0x0a),
            BfdConfig::metallb_default(0x0b),
            seed,
        )
    }

    /// Feeds `input` to session `idx` at `now` and routes what it outputs.
    fn feed(&mut self, now: SimTime, idx: usize, input: BfdInput) {
        let out = self.sessions[idx].handle(now, input);
        if let Some(next) = self.sessions[idx].next_timeout() {
            assert!(next >= now, "timeout {next} in the past at {now}");
        }
        for o in out {
            if let BfdOutput::Send(packet) = &o {
                let mut buf = BytesMut::new();
                packet.encode(&mut buf);
                let decoded = BfdControl::decode(&buf).expect("session sent an invalid packet");
                assert_eq!(&decoded, packet);
                if self.cut_after.is_none_or(|cut| now <= cut) {
                    self.in_flight.push((now + PIPE_DELAY, 1 - idx, decoded));
                }
            }
            self.log.push((now, idx, o));
        }
    }

    /// Runs events up to and including `end`: deliveries first on ties, then session 0's timer.
    fn run_until(&mut self, end: SimTime) {
        loop {
            let delivery = self.in_flight.first().map(|(t, _, _)| *t);
            let timers = [0, 1].map(|i| self.sessions[i].next_timeout());
            let next = [delivery, timers[0], timers[1]].into_iter().flatten().min();
            let Some(now) = next.filter(|&t| t <= end) else {
                return;
            };
            if delivery == Some(now) {
                let (_, to, packet) = self.in_flight.remove(0);
                self.feed(now, to, BfdInput::Received(packet));
            } else if timers[0] == Some(now) {
                self.feed(now, 0, BfdInput::Timer);
            } else {
                self.feed(now, 1, BfdInput::Timer);
            }
        }
    }

    fn sent_by(&self, idx: usize) -> Vec<(SimTime, &BfdControl)> {
        self.log
            .iter()
            .filter(|(_, i, _)| *i == idx)
            .filter_map(|(t, _, o)| match o {
                BfdOutput::Send(p) => Some((*t, p)),
                BfdOutput::StateChanged { .. } => None,
            })
            .collect()
    }

    fn changes_of(&self, idx: usize) -> Vec<(SimTime, SessionState, SessionState, Diagnostic)> {
        self.log
            .iter()
            .filter(|(_, i, _)| *i == idx)
            .filter_map(|(t, _, o)| match o {
                BfdOutput::StateChanged { from, to, diag } => Some((*t, *from, *to, *diag)),
                BfdOutput::Send(_) => None,
            })
            .collect()
    }
}

/// Gaps between consecutive send times.
fn gaps(times: &[SimTime]) -> Vec<SimDuration> {
    times.windows(2).map(|w| w[1] - w[0]).collect()
}

#[test]
fn three_way_handshake_reaches_up_then_polls_down_to_300ms() {
    use SessionState::{Down, Init, Up};
    let mut b = BfdConfig::metallb_default(0x0b);
    b.passive = true;
    let mut lab = Lab::new(BfdConfig::metallb_default(0x0a), b, 1);
    assert_eq!(lab.sessions[1].next_timeout(), None, "passive waits");
    lab.run_until(at_ms(20));

    // A (active): Down -(Init)-> Up at 2 ms; B (passive): Down -(Down)-> Init -(Up)-> Up.
    let a: Vec<_> = lab.changes_of(0).iter().map(|c| (c.0, c.1, c.2)).collect();
    let b: Vec<_> = lab.changes_of(1).iter().map(|c| (c.0, c.1, c.2)).collect();
    assert_eq!(a, vec![(at_ms(2), Down, Up)]);
    assert_eq!(b, vec![(at_ms(1), Down, Init), (at_ms(3), Init, Up)]);

    // Slow start in the handshake's packets, then the Poll carrying 300 ms once Up (§6.8.3).
    let sent = lab.sent_by(0);
    assert_eq!(sent[0].1.state, Down);
    assert_eq!(sent[0].1.your_discriminator, 0);
    assert_eq!(sent[0].1.desired_min_tx_us, 1_000_000);
    let first_up = sent.iter().find(|(_, p)| p.state == Up).unwrap().1;
    assert!(first_up.poll && !first_up.final_);
    assert_eq!(first_up.desired_min_tx_us, 300_000);
    assert_eq!(first_up.your_discriminator, 0x0b);

    for s in &lab.sessions {
        assert_eq!(s.state(), Up);
        assert!(!s.polling(), "the Final arrived");
        assert_eq!(s.tx_interval(), ms(300));
        assert_eq!(s.detection_time(), Some(ms(900)));
    }
    assert_eq!(lab.sessions[0].remote_discriminator(), 0x0b);
    assert_eq!(lab.sessions[1].remote_discriminator(), 0x0a);
}

#[test]
fn both_active_handshake_goes_through_init() {
    let mut lab = Lab::metallb(2);
    lab.run_until(at_ms(20));
    for idx in 0..2 {
        let states: Vec<_> = lab.changes_of(idx).iter().map(|c| c.2).collect();
        assert_eq!(states, vec![SessionState::Init, SessionState::Up]);
    }
}

#[test]
fn cut_pipe_goes_down_one_detection_time_after_the_last_packet() {
    for (seed, cut_ms) in [(3, 5_000), (4, 7_321), (5, 12_345)] {
        let mut lab = Lab::metallb(seed);
        let cut = at_ms(cut_ms);
        lab.run_until(cut);
        assert_eq!(lab.sessions[0].state(), SessionState::Up);
        lab.cut_after = Some(cut);
        lab.run_until(cut + SimDuration::from_secs(5));

        for (me, peer) in [(0, 1), (1, 0)] {
            let t0 = lab
                .sent_by(peer)
                .iter()
                .map(|(t, _)| *t)
                .filter(|&t| t <= cut)
                .max()
                .unwrap();
            let down = lab.changes_of(me);
            let (t_down, from, to, diag) = *down.last().unwrap();
            assert_eq!((from, to), (SessionState::Up, SessionState::Down));
            assert_eq!(diag, Diagnostic::ControlDetectionTimeExpired);
            // 3 × 300 ms from the last packet received, which left the peer at t0.
            let want = t0 + ms(900);
            let error = if t_down > want {
                t_down - want
            } else {
                want - t_down
            };
            assert!(
                error <= PIPE_DELAY,
                "seed {seed}: down at {t_down}, want {want} ± 1 ms"
            );
            // §6.8.1: the peer's discriminator is forgotten with it.
            assert_eq!(lab.sessions[me].remote_discriminator(), 0);
        }
    }
}

#[test]
fn slow_start_sends_about_once_a_second_until_up() {
    // Alone on the wire: Down forever, every 0.75-1 s (§6.8.3 floor, §6.8.7 jitter).
    let mut s = BfdSession::new(BfdConfig::metallb_default(9), SimTime::ZERO, 11);
    let mut sends = Vec::new();
    while let Some(t) = s.next_timeout().filter(|&t| t <= at_ms(60_000)) {
        for o in s.handle(t, BfdInput::Timer) {
            if let BfdOutput::Send(p) = o {
                assert_eq!(p.state, SessionState::Down);
                assert_eq!(p.desired_min_tx_us, 1_000_000);
                sends.push(t);
            }
        }
    }
    assert_eq!(sends[0], SimTime::ZERO);
    assert!(sends.len() > 60, "{} packets in 60 s", sends.len());
    for gap in gaps(&sends) {
        assert!((ms(750)..=ms(1_000)).contains(&gap), "gap {gap}");
    }
    assert_eq!(s.tx_interval(), SimDuration::from_secs(1));
}

#[test]
fn up_before_the_final_still_sends_at_the_slow_rate() {
    // Between going Up and the Final, A keeps the 1 s interval (§6.8.3, FRR `bs_final_handler`).
    let mut lab = Lab::metallb(6);
    lab.run_until(at_ms(2)); // A is Up at 2 ms and has sent its Poll
    assert_eq!(lab.sessions[0].state(), SessionState::Up);
    assert!(lab.sessions[0].polling());
    assert_eq!(lab.sessions[0].tx_interval(), SimDuration::from_secs(1));
    lab.run_until(at_ms(4));
    assert!(!lab.sessions[0].polling());
    assert_eq!(lab.sessions[0].tx_interval(), ms(300));
}

/// Send gaps of session 0 once the session is Up and the intervals settled.
fn steady_gaps(lab: &Lab, from: SimTime) -> Vec<SimDuration> {
    let times: Vec<SimTime> = lab
        .sent_by(0)
        .iter()
        .map(|(t, _)| *t)
        .filter(|&t| t >= from)
        .collect();
    gaps(&times)
}

#[test]
fn jitter_keeps_intervals_within_75_to_100_percent() {
    for seed in 0..4 {
        let mut lab = Lab::metallb(100 + seed);
        lab.run_until(at_ms(300_000));
        assert_eq!(lab.sessions[0].state(), SessionState::Up);
        let gaps = steady_gaps(&lab, at_ms(100));
        assert!(gaps.len() > 1_000);
        for &gap in &gaps {
            assert!((ms(225)..=ms(300)).contains(&gap), "seed {seed}: gap {gap}");
        }
        // The whole range is used: the extremes come within 2 % of the bounds.
        let (lo, hi) = (gaps.iter().min().unwrap(), gaps.iter().max().unwrap());
        assert!(*lo < ms(231) && *hi > ms(294), "seed {seed}: {lo}..{hi}");
        let mean_ns = gaps.iter().map(|g| g.as_nanos()).sum::<u64>() / gaps.len() as u64;
        // Uniform 0-25 % cut: mean 262.5 ms; tolerance 3 ms for > 1000 samples.
        assert!(
            mean_ns.abs_diff(262_500_000) < 3_000_000,
            "seed {seed}: mean {mean_ns} ns"
        );
    }
}

#[test]
fn jitter_with_detect_mult_1_stays_within_75_to_90_percent() {
    let mut a = BfdConfig::metallb_default(1);
    a.detect_mult = 1;
    let mut b = BfdConfig::metallb_default(2);
    b.detect_mult = 1;
    for seed in 0..4 {
        let mut lab = Lab::new(a, b, 200 + seed);
        lab.run_until(at_ms(300_000));
        assert_eq!(lab.sessions[0].state(), SessionState::Up, "no false Down");
        assert_eq!(lab.changes_of(0).len(), 2, "Init, Up and nothing else");
        let gaps = steady_gaps(&lab, at_ms(100));
        assert!(gaps.len() > 1_000);
        for &gap in &gaps {
            assert!((ms(225)..=ms(270)).contains(&gap), "seed {seed}: gap {gap}");
        }
        let (lo, hi) = (gaps.iter().min().unwrap(), gaps.iter().max().unwrap());
        assert!(*lo < ms(228) && *hi > ms(267), "seed {seed}: {lo}..{hi}");
    }
}

#[test]
fn poll_final_applies_new_intervals_after_the_final() {
    let mut lab = Lab::metallb(7);
    lab.run_until(at_ms(1_000));
    let t = at_ms(1_000) + SimDuration::from_micros(500);
    let before = lab.log.len();
    lab.feed(
        t,
        0,
        BfdInput::SetIntervals {
            desired_min_tx: SimDuration::from_secs(1),
            required_min_rx: SimDuration::from_secs(1),
            detect_mult: 3,
        },
    );
    // The Poll goes out at once with the new values; A keeps the old ones meanwhile.
    let BfdOutput::Send(poll) = &lab.log[before].2 else {
        panic!("no packet at once: {:?}", &lab.log[before..]);
    };
    assert!(poll.poll && !poll.final_);
    assert_eq!(
        (poll.desired_min_tx_us, poll.required_min_rx_us),
        (1_000_000, 1_000_000)
    );
    let a = &lab.sessions[0];
    assert!(a.polling());
    assert_eq!(a.tx_interval(), ms(300));
    assert_eq!(a.detection_time(), Some(ms(900)));

    // B answers at once with F (and no P); it honours A's slower RX at once.
    lab.run_until(t + PIPE_DELAY);
    let (t_final, final_) = *lab.sent_by(1).last().unwrap();
    assert_eq!(t_final, t + PIPE_DELAY);
    assert!(final_.final_ && !final_.poll);
    let b = &lab.sessions[1];
    assert_eq!(b.tx_interval(), SimDuration::from_secs(1));
    assert_eq!(b.detection_time(), Some(SimDuration::from_secs(3)));

    // The Final reaches A: the Poll Sequence ends and the new values are in force.
    lab.run_until(t + PIPE_DELAY + PIPE_DELAY);
    let a = &lab.sessions[0];
    assert!(!a.polling());
    assert_eq!(a.tx_interval(), SimDuration::from_secs(1));
    assert_eq!(a.detection_time(), Some(SimDuration::from_secs(3)));

    // And the session lives on at the new pace.
    lab.run_until(at_ms(30_000));
    assert_eq!(lab.sessions[0].state(), SessionState::Up);
    assert_eq!(lab.sessions[1].state(), SessionState::Up);
    for gap in steady_gaps(&lab, at_ms(1_100)) {
        assert!((ms(750)..=ms(1_000)).contains(&gap), "gap {gap}");
    }
}

#[test]
fn admin_down_signals_the_peer_and_admin_up_recovers() {
    let mut lab = Lab::metallb(8);
    lab.run_until(at_ms(2_000));
    let t = at_ms(2_000) + SimDuration::from_micros(250);
    lab.feed(t, 0, BfdInput::AdminDown);
    assert_eq!(
        lab.changes_of(0).last().unwrap(),
        &(
            t,
            SessionState::Up,
            SessionState::AdminDown,
            Diagnostic::AdministrativelyDown
        )
    );
    let (t_sent, p) = *lab.sent_by(0).last().unwrap();
    assert_eq!(t_sent, t);
    assert_eq!(
        (p.state, p.diag),
        (SessionState::AdminDown, Diagnostic::AdministrativelyDown)
    );

    lab.run_until(at_ms(10_000));
    assert_eq!(
        lab.changes_of(1).last().unwrap(),
        &(
            t + PIPE_DELAY,
            SessionState::Up,
            SessionState::Down,
            Diagnostic::NeighborSignaledSessionDown
        )
    );
    // Both stay put: B's Down packets are discarded by A; A has no detection timer.
    assert_eq!(lab.sessions[0].state(), SessionState::AdminDown);
    assert_eq!(lab.sessions[1].state(), SessionState::Down);
    // AdminDown is not Up: back to the slow rate.
    assert_eq!(lab.sessions[0].tx_interval(), SimDuration::from_secs(1));

    let t_up = at_ms(10_000) + SimDuration::from_micros(250);
    lab.feed(t_up, 0, BfdInput::AdminUp);
    lab.run_until(t_up + ms(10));
    assert_eq!(lab.sessions[0].state(), SessionState::Up);
    assert_eq!(lab.sessions[1].state(), SessionState::Up);
}

fn packet(state: SessionState, my: u32, your: u32) -> BfdControl {
    BfdControl {
        diag: Diagnostic::NoDiagnostic,
        state,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: my,
        your_discriminator: your,
        desired_min_tx_us: 1_000_000,
        required_min_rx_us: 300_000,
        required_min_echo_rx_us: 0,
        auth: None,
    }
}

#[test]
fn discard_rules_of_section_6_8_6() {
    let mut s = BfdSession::new(BfdConfig::metallb_default(5), SimTime::ZERO, 1);
    let now = at_ms(10);
    let mut poll_and_final = packet(SessionState::Down, 9, 5);
    poll_and_final.poll = true;
    poll_and_final.final_ = true;
    let mut with_auth = packet(SessionState::Down, 9, 5);
    with_auth.auth = Some(bgp::bfd::BfdAuth {
        auth_type: bgp::bfd::AuthType::SimplePassword,
        data: b"\x01secret".to_vec(),
    });
    let mut zero_mult = packet(SessionState::Down, 9, 0);
    zero_mult.detect_mult = 0;
    for bad in [
        packet(SessionState::Down, 9, 6), // not our discriminator: no such session
        packet(SessionState::Init, 9, 0), // Init without Your Discriminator
        packet(SessionState::Down, 0, 0), // My Discriminator zero
        zero_mult,
        poll_and_final,
        with_auth,
    ] {
        assert_eq!(
            s.handle(now, BfdInput::Received(bad.clone())),
            vec![],
            "{bad:?}"
        );
        assert_eq!(s.remote_discriminator(), 0, "{bad:?} was learnt");
    }
    // A good one is learnt and answered.
    let out = s.handle(now, BfdInput::Received(packet(SessionState::Down, 9, 0)));
    assert_eq!(s.remote_discriminator(), 9);
    assert_eq!(s.state(), SessionState::Init);
    assert!(out
        .iter()
        .any(|o| matches!(o, BfdOutput::Send(p) if p.your_discriminator == 9)));
}

#[test]
fn detection_timeout_in_down_forgets_the_peer_and_passive_goes_quiet() {
    let mut cfg = BfdConfig::metallb_default(5);
    cfg.passive = true;
    let mut s = BfdSession::new(cfg, SimTime::ZERO, 1);
    assert_eq!(s.next_timeout(), None);
    // The peer is AdminDown: no state change, but the passive side now knows it and sends.
    let t = at_ms(100);
    s.handle(t, BfdInput::Received(packet(SessionState::AdminDown, 9, 0)));
    assert_eq!(s.state(), SessionState::Down);
    assert_eq!(s.remote_discriminator(), 9);
    assert_eq!(s.detection_time(), Some(SimDuration::from_secs(3)));
    // Nothing further from the peer: after 3 s it is forgotten and the passive side stops.
    let mut sent_after = 0;
    while let Some(next) = s.next_timeout() {
        assert!(
            next <= t + SimDuration::from_secs(4),
            "still armed at {next}"
        );
        let out = s.handle(next, BfdInput::Timer);
        if next > t + SimDuration::from_secs(3) {
            sent_after += out.len();
        }
    }
    assert_eq!(s.remote_discriminator(), 0);
    assert_eq!(s.detection_time(), None);
    assert_eq!(sent_after, 0);
    assert_eq!(s.state(), SessionState::Down);
}

#[test]
fn a_wake_up_with_nothing_due_does_nothing() {
    let mut lab = Lab::metallb(9);
    lab.run_until(at_ms(1_000));
    let next = lab.sessions[0].next_timeout().unwrap();
    let early = SimTime(next.as_nanos() - 1);
    let before = lab.sessions[0].clone();
    assert_eq!(lab.sessions[0].handle(early, BfdInput::Timer), vec![]);
    assert_eq!(lab.sessions[0].next_timeout(), before.next_timeout());
}

#[test]
fn same_seed_same_run() {
    let run = |seed| {
        let mut lab = Lab::metallb(seed);
        lab.run_until(at_ms(20_000));
        lab.cut_after = Some(at_ms(20_000));
        lab.run_until(at_ms(25_000));
        lab.log
    };
    assert_eq!(run(42), run(42));
    assert_ne!(run(42), run(43));
}

fn arb_state() -> impl Strategy<Value = SessionState> {
    prop_oneof![
        Just(SessionState::AdminDown),
        Just(SessionState::Down),
        Just(SessionState::Init),
        Just(SessionState::Up),
    ]
}

/// Packets the decoder accepts (§6.8.6 stateless rules hold), aimed at discriminator 5 mostly.
fn arb_packet() -> impl Strategy<Value = BfdControl> {
    (
        arb_state(),
        any::<(bool, bool, bool)>(),
        1u8..=255,
        1u32..=4,
        prop_oneof![Just(5u32), Just(0u32), any::<u32>()],
        prop_oneof![Just(300_000u32), Just(1_000_000u32), any::<u32>()],
        prop_oneof![Just(300_000u32), Just(0u32), any::<u32>()],
        0u8..32,
    )
        .prop_map(
            |(state, (poll, final_, demand), detect_mult, my, your, tx, rx, diag)| {
                let your = match state {
                    SessionState::Init | SessionState::Up if your == 0 => 5,
                    _ => your,
                };
                BfdControl {
                    diag: Diagnostic::from(diag),
                    state,
                    poll,
                    final_,
                    control_plane_independent: false,
                    demand,
                    detect_mult,
                    my_discriminator: my,
                    your_discriminator: your,
                    desired_min_tx_us: tx,
                    required_min_rx_us: rx,
                    required_min_echo_rx_us: 0,
                    auth: None,
                }
            },
        )
}

#[derive(Debug, Clone)]
enum Step {
    Receive(BfdControl),
    /// Wake at the next timeout (if any).
    Wake,
    /// Wake at an arbitrary time.
    Timer,
    AdminDown,
    AdminUp,
    SetIntervals(u32, u32, u8),
}

fn arb_step() -> impl Strategy<Value = (u64, Step)> {
    (
        0u64..2_000_000_000,
        prop_oneof![
            4 => arb_packet().prop_map(Step::Receive),
            4 => Just(Step::Wake),
            1 => Just(Step::Timer),
            1 => Just(Step::AdminDown),
            1 => Just(Step::AdminUp),
            1 => (0u32..2_000_000, 0u32..2_000_000, any::<u8>())
                .prop_map(|(tx, rx, m)| Step::SetIntervals(tx, rx, m)),
        ],
    )
}

proptest! {
    #[test]
    fn arbitrary_inputs_never_panic_nor_schedule_in_the_past(
        passive in any::<bool>(),
        seed in any::<u64>(),
        steps in prop::collection::vec(arb_step(), 1..200),
    ) {
        let mut cfg = BfdConfig::metallb_default(5);
        cfg.passive = passive;
        let mut s = BfdSession::new(cfg, SimTime::ZERO, seed);
        let mut now = SimTime::ZERO;
        for (dt_ns, step) in steps {
            // Like a runner: time only moves on through the wake-ups the session asked for.
            let later = now + SimDuration::from_nanos(dt_ns);
            let advance = |s: &mut BfdSession, now: &mut SimTime| {
                while let Some(t) = s.next_timeout().filter(|&t| t < later) {
                    *now = t;
                    s.handle(t, BfdInput::Timer);
                }
                *now = later;
            };
            let input = match step {
                Step::Receive(p) => {
                    advance(&mut s, &mut now);
                    BfdInput::Received(p)
                }
                Step::Wake => {
                    now = s.next_timeout().unwrap_or(now).max(now);
                    BfdInput::Timer
                }
                Step::Timer => {
                    advance(&mut s, &mut now);
                    BfdInput::Timer
                }
                Step::AdminDown => BfdInput::AdminDown,
                Step::AdminUp => BfdInput::AdminUp,
                Step::SetIntervals(tx, rx, m) => BfdInput::SetIntervals {
                    desired_min_tx: SimDuration::from_micros(u64::from(tx)),
                    required_min_rx: SimDuration::from_micros(u64::from(rx)),
                    detect_mult: m,
                },
            };
            let quiet = matches!(input, BfdInput::Timer)
                && s.next_timeout().is_none_or(|t| t > now);
            let out = s.handle(now, input);
            if quiet {
                prop_assert!(out.is_empty(), "nothing due, yet {:?}", out);
            }
            if let Some(t) = s.next_timeout() {
                prop_assert!(t >= now, "timeout {} before now {}", t, now);
            }
            for o in &out {
                if let BfdOutput::Send(p) = o {
                    let mut buf = BytesMut::new();
                    p.encode(&mut buf);
                    prop_assert_eq!(BfdControl::decode(&buf), Ok(p.clone()));
                    prop_assert!(!(p.poll && p.final_));
                }
            }
        }
    }
}

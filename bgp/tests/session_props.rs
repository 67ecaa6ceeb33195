//! Property: any interleaving of inputs and timer fires never panics and never leaves a timer
//! scheduled in the past.

use bgp::session::{Direction, Input, Session, SessionConfig};
use bgp::wire::{
    Capability, CeaseSubcode, CodecOptions, Ipv4Prefix, Keepalive, Message, Notification, Open,
    Update,
};
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use sim_core::{SimDuration, SimTime};
use std::net::Ipv4Addr;

fn encode(m: Message) -> Bytes {
    let mut buf = BytesMut::new();
    m.encode(&mut buf, CodecOptions::FOUR_OCTET_AS);
    buf.freeze()
}

fn config(kind: u8) -> SessionConfig {
    let id = Ipv4Addr::new(10, 0, 0, 1);
    match kind % 4 {
        0 => SessionConfig::native(64512, 64513, id),
        1 => SessionConfig::frr_datacenter(64512, 64513, id),
        2 => SessionConfig::frr_traditional(64512, 64513, id)
            .with_graceful_restart(SimDuration::from_secs(120)),
        _ => SessionConfig {
            passive: true,
            keepalive_jitter: true,
            ..SessionConfig::frr_datacenter(64512, 64513, id)
        },
    }
}

fn message_bytes() -> impl Strategy<Value = Bytes> {
    let peer = Ipv4Addr::new(10, 0, 0, 2);
    prop_oneof![
        (0u16..20, prop::bool::ANY).prop_map(move |(hold, gr)| {
            let mut caps = vec![Capability::FourOctetAs { asn: 64513 }];
            if gr {
                caps.push(Capability::GracefulRestart(bgp::wire::GracefulRestart {
                    restart_flags: 0,
                    restart_time_s: 90,
                    families: vec![],
                }));
            }
            encode(Message::Open(Open::new(64513, hold, peer, caps)))
        }),
        Just(encode(Message::Open(Open::new(1, 9, peer, vec![])))),
        Just(encode(Message::Keepalive(Keepalive))),
        Just(encode(Message::Update(Update::end_of_rib()))),
        Just(encode(Message::Notification(Notification::cease(
            CeaseSubcode::AdministrativeShutdown
        )))),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from),
    ]
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::Outbound), Just(Direction::Inbound)]
}

#[derive(Debug, Clone)]
enum Step {
    Input(Input),
    /// Jump to the session's next deadline and fire it.
    FireNext,
}

fn step() -> impl Strategy<Value = Step> {
    let prefix = (0u32..4).prop_map(|i| Ipv4Prefix::host(Ipv4Addr::from(0x0a60_0000 + i)));
    prop_oneof![
        Just(Step::Input(Input::ManualStart)),
        any::<bool>().prop_map(|graceful| Step::Input(Input::ManualStop { graceful })),
        Just(Step::Input(Input::AdminShutdown)),
        direction().prop_map(|dir| Step::Input(Input::TcpConnected { dir })),
        Just(Step::Input(Input::TcpConnectionFails)),
        (direction(), any::<bool>())
            .prop_map(|(dir, reset)| Step::Input(Input::TcpClosed { dir, reset })),
        (direction(), message_bytes(), 0usize..30).prop_map(|(dir, bytes, cut)| {
            // Sometimes only part of a message: framing must wait for the rest.
            let cut = cut.min(bytes.len());
            Step::Input(Input::Bytes {
                dir,
                bytes: bytes.slice(..cut.max(1).min(bytes.len())),
            })
        }),
        (direction(), message_bytes())
            .prop_map(|(dir, bytes)| Step::Input(Input::Bytes { dir, bytes })),
        Just(Step::Input(Input::Timer)),
        Just(Step::Input(Input::BfdDown)),
        prop::collection::vec(prefix.clone(), 0..3).prop_map(|prefixes| Step::Input(
            Input::Announce {
                prefixes,
                next_hop: Ipv4Addr::new(10, 0, 0, 1)
            }
        )),
        prop::collection::vec(prefix, 0..3).prop_map(|p| Step::Input(Input::Withdraw(p))),
        Just(Step::FireNext),
        Just(Step::FireNext),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn never_panics_never_schedules_in_the_past(
        kind in any::<u8>(),
        seed in any::<u64>(),
        steps in prop::collection::vec((0u64..5_000, step()), 1..80),
    ) {
        let mut session = Session::new(config(kind), seed);
        let mut now = SimTime::ZERO;
        // Feeds one input and checks the deadline it leaves.
        let feed = |session: &mut Session, now: SimTime, input: Input| {
            let _ = session.handle(now, input);
            match session.next_timeout() {
                Some(t) if t < now => Err(format!("timer at {t:?} before now {now:?}")),
                _ => Ok(()),
            }
        };
        for (advance_ms, step) in steps {
            match step {
                Step::Input(input) => {
                    // As a runner does: every deadline up to the input's time fires first.
                    let target = now + SimDuration::from_millis(advance_ms);
                    while let Some(t) = session.next_timeout().filter(|&t| t <= target) {
                        now = now.max(t);
                        feed(&mut session, now, Input::Timer).map_err(TestCaseError::fail)?;
                    }
                    now = target;
                    feed(&mut session, now, input).map_err(TestCaseError::fail)?;
                }
                Step::FireNext => {
                    if let Some(t) = session.next_timeout() {
                        now = now.max(t);
                    }
                    feed(&mut session, now, Input::Timer).map_err(TestCaseError::fail)?;
                }
            }
        }
    }
}

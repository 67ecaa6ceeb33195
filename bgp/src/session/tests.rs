//! One test per FSM arm that matters.

use super::*;
use crate::wire::{AsPath, AttributeValue, Origin, PathAttribute};
use bytes::Bytes;

const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const OUT: Direction = Direction::Outbound;

fn t(s: u64) -> SimTime {
    SimTime(SimDuration::from_secs(s).as_nanos())
}

fn encode(m: Message) -> Bytes {
    let mut buf = BytesMut::new();
    m.encode(&mut buf, CodecOptions::FOUR_OCTET_AS);
    buf.freeze()
}

fn open(asn: u32, hold_s: u16, id: Ipv4Addr, gr: Option<u16>) -> Bytes {
    let mut caps = vec![Capability::FourOctetAs { asn }];
    if let Some(secs) = gr {
        caps.push(Capability::GracefulRestart(GracefulRestart {
            restart_flags: 0,
            restart_time_s: secs,
            families: vec![],
        }));
    }
    encode(Message::Open(Open::new(asn, hold_s, id, caps)))
}

fn keepalive() -> Bytes {
    encode(Message::Keepalive(Keepalive))
}

fn bytes(b: Bytes) -> Input {
    Input::Bytes { dir: OUT, bytes: b }
}

/// Every message the outputs send, decoded.
fn sent(out: &[Output]) -> Vec<Message> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .flat_map(|b| {
            let mut r = MessageReader::new(CodecOptions::FOUR_OCTET_AS);
            r.push(&b);
            r.map(|m| m.expect("session sends valid messages"))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn notification(out: &[Output]) -> Option<ErrorCode> {
    sent(out).into_iter().find_map(|m| match m {
        Message::Notification(n) => Some(n.error),
        _ => None,
    })
}

fn frr() -> SessionConfig {
    SessionConfig::frr_datacenter(64512, 64513, A)
}

/// Drives a session to Established against a scripted peer with `peer_hold_s`.
fn established(config: SessionConfig, peer_hold_s: u16, peer_gr: Option<u16>) -> Session {
    let mut s = Session::new(config, 1);
    s.handle(t(0), Input::ManualStart);
    s.handle(t(0), Input::TcpConnected { dir: OUT });
    let peer_as = s.config().peer_as;
    s.handle(t(0), bytes(open(peer_as, peer_hold_s, B, peer_gr)));
    s.handle(t(0), bytes(keepalive()));
    assert_eq!(s.state(), State::Established);
    s
}

#[test]
fn idle_start_dials_and_passive_listens() {
    let mut s = Session::new(frr(), 1);
    assert_eq!(
        s.handle(t(0), Input::Timer),
        vec![],
        "nothing due: nothing done"
    );
    assert_eq!(
        s.handle(t(0), Input::BfdDown),
        vec![],
        "Idle ignores other events"
    );
    let out = s.handle(t(0), Input::ManualStart);
    assert_eq!(out[0], Output::Connect);
    assert_eq!(s.state(), State::Connect);
    assert_eq!(s.timer(Timer::ConnectRetry), Some(t(10)));

    let mut p = Session::new(
        SessionConfig {
            passive: true,
            ..frr()
        },
        1,
    );
    let out = p.handle(t(0), Input::ManualStart);
    assert!(!out.contains(&Output::Connect));
    assert_eq!(p.state(), State::Active);
    assert_eq!(p.next_timeout(), None);
}

#[test]
fn idle_refuses_connections() {
    let mut s = Session::new(frr(), 1);
    let out = s.handle(
        t(0),
        Input::TcpConnected {
            dir: Direction::Inbound,
        },
    );
    assert_eq!(
        out,
        vec![Output::CloseTcp {
            dir: Direction::Inbound,
            reset: true
        }]
    );
}

#[test]
fn frr_dial_failure_waits_connect_retry_in_active() {
    let mut s = Session::new(frr(), 1);
    s.handle(t(0), Input::ManualStart);
    s.handle(t(1), Input::TcpConnectionFails);
    assert_eq!(s.state(), State::Active);
    assert_eq!(s.handle(t(5), Input::Timer), vec![]);
    let out = s.handle(t(10), Input::Timer);
    assert!(out.contains(&Output::Connect));
    assert_eq!(s.state(), State::Connect);
    assert_eq!(s.timer(Timer::ConnectRetry), Some(t(20)));
}

#[test]
fn native_backoff_is_0_1_2_4_up_to_120() {
    let mut s = Session::new(SessionConfig::native(64512, 64513, A), 1);
    s.handle(t(0), Input::ManualStart);
    let mut now = t(0);
    let mut waits = Vec::new();
    for _ in 0..10 {
        s.handle(now, Input::TcpConnectionFails);
        let next = s.next_timeout().unwrap();
        waits.push((next - now).as_secs_f64() as u64);
        now = next;
        let out = s.handle(now, Input::Timer);
        assert!(out.contains(&Output::Connect));
    }
    assert_eq!(waits, vec![0, 1, 2, 4, 8, 16, 32, 64, 120, 120]);
}

#[test]
fn open_exchange_negotiates_min_hold_and_keepalive() {
    let mut s = Session::new(frr(), 1);
    s.handle(t(0), Input::ManualStart);
    let out = s.handle(t(0), Input::TcpConnected { dir: OUT });
    let Message::Open(ours) = &sent(&out)[0] else {
        panic!("OPEN first")
    };
    assert_eq!(
        (ours.my_as, ours.hold_time_s, ours.asn()),
        (64512, 9, 64512)
    );
    assert_eq!(s.state(), State::OpenSent);
    assert_eq!(
        s.timer(Timer::Hold),
        Some(t(245)),
        "FRR's large OpenSent hold"
    );
    let out = s.handle(t(1), bytes(open(64513, 6, B, None)));
    assert_eq!(sent(&out), vec![Message::Keepalive(Keepalive)]);
    assert_eq!(s.state(), State::OpenConfirm);
    assert_eq!(s.negotiated_hold_time(), Some(SimDuration::from_secs(6)));
    assert_eq!(s.timer(Timer::Hold), Some(t(7)));
    assert_eq!(s.timer(Timer::Keepalive), Some(t(3)), "min(3, 6/3)");
    let out = s.handle(t(2), bytes(keepalive()));
    assert!(out.contains(&Output::Established {
        peer_router_id: B,
        hold_time: SimDuration::from_secs(6),
        graceful_restart: None
    }));
    assert_eq!(s.timer(Timer::Hold), Some(t(8)));
}

#[test]
fn four_octet_as_goes_as_as_trans() {
    let mut s = Session::new(SessionConfig::frr_datacenter(4_200_000_000, 64513, A), 1);
    s.handle(t(0), Input::ManualStart);
    let out = s.handle(t(0), Input::TcpConnected { dir: OUT });
    let Message::Open(ours) = &sent(&out)[0] else {
        panic!()
    };
    assert_eq!(
        (ours.my_as, ours.asn()),
        (crate::wire::AS_TRANS, 4_200_000_000)
    );
}

#[test]
fn native_skips_open_confirm_and_has_no_hold_timer() {
    let mut s = Session::new(SessionConfig::native(64512, 64513, A), 1);
    s.handle(t(0), Input::ManualStart);
    s.handle(t(0), Input::TcpConnected { dir: OUT });
    assert_eq!(
        s.timer(Timer::Hold),
        Some(t(10)),
        "native's 10 s OPEN deadline"
    );
    let out = s.handle(t(0), bytes(open(64513, 9, B, None)));
    assert_eq!(s.state(), State::Established);
    assert!(out.contains(&Output::StateChanged {
        from: State::OpenSent,
        to: State::Established
    }));
    assert_eq!(s.timer(Timer::Hold), None);
    assert_eq!(s.timer(Timer::Keepalive), Some(t(3)));
}

#[test]
fn bad_peer_as_gets_open_error_native_just_closes() {
    let mut s = Session::new(frr(), 1);
    s.handle(t(0), Input::ManualStart);
    s.handle(t(0), Input::TcpConnected { dir: OUT });
    let out = s.handle(t(0), bytes(open(65000, 9, B, None)));
    assert_eq!(
        notification(&out),
        Some(ErrorCode::OpenMessage(OpenSubcode::BadPeerAs))
    );
    assert!(out.contains(&Output::CloseTcp {
        dir: OUT,
        reset: false
    }));
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.timer(Timer::IdleHold), Some(t(1)), "restarts by itself");

    let mut n = Session::new(SessionConfig::native(64512, 64513, A), 1);
    n.handle(t(0), Input::ManualStart);
    n.handle(t(0), Input::TcpConnected { dir: OUT });
    let out = n.handle(t(0), bytes(open(65000, 9, B, None)));
    assert_eq!(notification(&out), None);
    assert!(out.contains(&Output::CloseTcp {
        dir: OUT,
        reset: false
    }));
}

#[test]
fn hold_time_of_two_seconds_is_refused() {
    let mut s = Session::new(frr(), 1);
    s.handle(t(0), Input::ManualStart);
    s.handle(t(0), Input::TcpConnected { dir: OUT });
    let out = s.handle(t(0), bytes(open(64513, 2, B, None)));
    assert_eq!(
        notification(&out),
        Some(ErrorCode::OpenMessage(OpenSubcode::UnacceptableHoldTime))
    );
    assert_eq!(s.state(), State::Idle);
}

#[test]
fn zero_hold_means_no_keepalives_and_no_hold_timer() {
    let s = established(frr(), 0, None);
    assert_eq!(s.timer(Timer::Hold), None);
    assert_eq!(s.timer(Timer::Keepalive), None);
    // Only the coalesce timer of the first UPDATEs is left.
    assert_eq!(s.next_timeout(), s.timer(Timer::Coalesce));
}

#[test]
fn unexpected_messages_get_fsm_error_with_rfc6608_subcode() {
    let mut s = Session::new(frr(), 1);
    s.handle(t(0), Input::ManualStart);
    s.handle(t(0), Input::TcpConnected { dir: OUT });
    let out = s.handle(t(0), bytes(keepalive()));
    assert_eq!(
        notification(&out),
        Some(ErrorCode::Fsm(FsmSubcode::UnexpectedMessageInOpenSent))
    );

    let mut s = Session::new(frr(), 1);
    s.handle(t(0), Input::ManualStart);
    s.handle(t(0), Input::TcpConnected { dir: OUT });
    s.handle(t(0), bytes(open(64513, 9, B, None)));
    let out = s.handle(t(0), bytes(encode(Message::Update(Update::end_of_rib()))));
    assert_eq!(
        notification(&out),
        Some(ErrorCode::Fsm(FsmSubcode::UnexpectedMessageInOpenConfirm))
    );

    let mut s = established(frr(), 9, None);
    let out = s.handle(t(1), bytes(open(64513, 9, B, None)));
    assert_eq!(
        notification(&out),
        Some(ErrorCode::Fsm(FsmSubcode::UnexpectedMessageInEstablished))
    );
    assert!(out.iter().any(|o| matches!(
        o,
        Output::SessionDown {
            reason: DownReason::NotificationSent(_),
            ..
        }
    )));
}

#[test]
fn hold_expiry_sends_notification_and_goes_down() {
    let mut s = established(frr(), 9, None);
    s.handle(t(3), bytes(keepalive()));
    assert_eq!(s.timer(Timer::Hold), Some(t(12)));
    let out = s.handle(t(12), Input::Timer);
    assert_eq!(notification(&out), Some(ErrorCode::HoldTimerExpired(0)));
    assert!(out.contains(&Output::SessionDown {
        reason: DownReason::HoldTimerExpired,
        keep_routes_for: None
    }));
}

#[test]
fn keepalives_every_interval() {
    let mut s = established(frr(), 9, None);
    let out = s.handle(t(3), Input::Timer);
    assert_eq!(sent(&out), vec![Message::Keepalive(Keepalive)]);
    assert_eq!(s.timer(Timer::Keepalive), Some(t(6)));
}

#[test]
fn keepalive_jitter_stays_in_window() {
    let config = SessionConfig {
        keepalive_jitter: true,
        ..SessionConfig::frr_traditional(1, 2, A)
    };
    let mut s = established(config, 180, None);
    let mut now = t(0);
    for _ in 0..50 {
        let next = s.timer(Timer::Keepalive).unwrap();
        let gap = (next - now).as_secs_f64();
        assert!((45.0..=60.0).contains(&gap), "{gap}");
        now = next;
        s.handle(now, bytes(keepalive()));
        s.handle(now, Input::Timer);
    }
}

#[test]
fn stops_say_goodbye_as_frr_does() {
    let mut s = established(frr(), 9, None);
    let out = s.handle(t(1), Input::ManualStop { graceful: true });
    assert_eq!(
        notification(&out),
        Some(ErrorCode::Cease(CeaseSubcode::PeerDeconfigured))
    );
    assert!(out.contains(&Output::CloseTcp {
        dir: OUT,
        reset: false
    }));
    assert_eq!(s.next_timeout(), None, "a stopped session stays stopped");

    let mut s = established(frr(), 9, None);
    let out = s.handle(t(1), Input::AdminShutdown);
    assert_eq!(
        notification(&out),
        Some(ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown))
    );

    let mut s = established(frr(), 9, None);
    let out = s.handle(t(1), Input::ManualStop { graceful: false });
    assert_eq!(notification(&out), None);

    let gr = frr().with_graceful_restart(SimDuration::from_secs(120));
    let mut s = established(gr, 9, Some(120));
    let out = s.handle(t(1), Input::ManualStop { graceful: true });
    assert_eq!(notification(&out), None, "GR negotiated: just FIN");
    assert!(out.contains(&Output::CloseTcp {
        dir: OUT,
        reset: false
    }));
}

#[test]
fn gr_keeps_routes_on_tcp_loss_only() {
    let gr = frr().with_graceful_restart(SimDuration::from_secs(120));
    let mut s = established(gr.clone(), 9, Some(90));
    let out = s.handle(
        t(1),
        Input::TcpClosed {
            dir: OUT,
            reset: false,
        },
    );
    assert!(out.contains(&Output::SessionDown {
        reason: DownReason::TcpClosed,
        keep_routes_for: Some(SimDuration::from_secs(90))
    }));
    let mut s = established(gr, 9, Some(90));
    let cease = encode(Message::Notification(Notification::cease(
        CeaseSubcode::PeerDeconfigured,
    )));
    let out = s.handle(t(1), bytes(cease));
    assert!(out.contains(&Output::SessionDown {
        reason: DownReason::NotificationReceived(ErrorCode::Cease(CeaseSubcode::PeerDeconfigured)),
        keep_routes_for: None
    }));
}

#[test]
fn bfd_down_sends_cease_10() {
    let mut s = established(frr(), 9, None);
    let out = s.handle(t(1), Input::BfdDown);
    assert_eq!(
        notification(&out),
        Some(ErrorCode::Cease(CeaseSubcode::BfdDown))
    );
    assert!(out.iter().any(|o| matches!(
        o,
        Output::SessionDown {
            reason: DownReason::BfdDown,
            ..
        }
    )));
}

#[test]
fn adj_rib_out_is_sent_on_establishment_with_end_of_rib_under_gr() {
    let gr = frr().with_graceful_restart(SimDuration::from_secs(120));
    let mut s = Session::new(gr, 1);
    let p = Ipv4Prefix::host(Ipv4Addr::new(10, 96, 0, 1));
    assert_eq!(
        s.handle(
            t(0),
            Input::Announce {
                prefixes: vec![p],
                next_hop: A
            }
        ),
        vec![]
    );
    s.handle(t(0), Input::ManualStart);
    s.handle(t(0), Input::TcpConnected { dir: OUT });
    s.handle(t(0), bytes(open(64513, 9, B, Some(120))));
    let out = s.handle(t(0), bytes(keepalive()));
    assert!(sent(&out).is_empty(), "FRR waits its coalesce time");
    let due = s.timer(Timer::Coalesce).expect("coalesce timer armed");
    assert_eq!(due, SimTime::ZERO + SimDuration::from_millis(1050));
    let out = s.handle(due, Input::Timer);
    let updates: Vec<_> = sent(&out)
        .into_iter()
        .filter_map(|m| match m {
            Message::Update(u) => Some(u),
            _ => None,
        })
        .collect();
    assert_eq!(updates.len(), 2);
    assert_eq!(updates[0].nlri, vec![p]);
    assert_eq!(updates[0].as_path(), Some(&AsPath::sequence(vec![64512])));
    assert!(updates[1].is_end_of_rib());
    let out = s.handle(t(2), Input::Withdraw(vec![p]));
    let Message::Update(w) = &sent(&out)[0] else {
        panic!()
    };
    assert_eq!(w.withdrawn, vec![p]);
}

#[test]
fn changes_during_the_coalesce_time_go_out_with_the_first_announcement() {
    let mut s = established(frr(), 9, None);
    let p = Ipv4Prefix::host(Ipv4Addr::new(10, 96, 0, 1));
    let q = Ipv4Prefix::host(Ipv4Addr::new(10, 96, 0, 2));
    let out = s.handle(
        t(0),
        Input::Announce {
            prefixes: vec![p, q],
            next_hop: A,
        },
    );
    assert!(sent(&out).is_empty());
    assert!(sent(&s.handle(t(0), Input::Withdraw(vec![q]))).is_empty());
    let due = s.timer(Timer::Coalesce).unwrap();
    let out = s.handle(due, Input::Timer);
    let nlri: Vec<_> = sent(&out)
        .into_iter()
        .filter_map(|m| match m {
            Message::Update(u) => Some(u.nlri),
            _ => None,
        })
        .collect();
    assert_eq!(nlri, vec![vec![p]]);
}

#[test]
fn a_keepalive_phase_shortens_only_the_first_cycle() {
    let config = SessionConfig {
        keepalive_phase: Some(250_000),
        ..frr()
    };
    let mut s = established(config, 9, None);
    let first = s.timer(Timer::Keepalive).unwrap();
    assert_eq!(first, SimTime::ZERO + SimDuration::from_millis(750));
    s.handle(first, Input::Timer);
    let second = s.timer(Timer::Keepalive).unwrap();
    assert_eq!(second - first, SimDuration::from_secs(3));
}

#[test]
fn received_updates_become_routes() {
    let mut s = established(frr(), 9, None);
    let p = Ipv4Prefix::host(Ipv4Addr::new(10, 96, 0, 1));
    let u = Update {
        withdrawn: vec![],
        attributes: vec![
            PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
            PathAttribute::new(AttributeValue::AsPath(AsPath::sequence(vec![64513]))),
            PathAttribute::new(AttributeValue::NextHop(B)),
        ],
        nlri: vec![p],
    };
    let out = s.handle(t(1), bytes(encode(Message::Update(u))));
    assert_eq!(
        out,
        vec![Output::RoutesReceived {
            announced: vec![(p, B)],
            withdrawn: vec![]
        }]
    );
    assert_eq!(
        s.timer(Timer::Hold),
        Some(t(10)),
        "UPDATE restarts the hold timer"
    );
    let out = s.handle(t(1), bytes(encode(Message::Update(Update::end_of_rib()))));
    assert_eq!(out, vec![Output::EndOfRib]);
}

#[test]
fn decode_error_sends_the_codec_notification() {
    let mut s = established(frr(), 9, None);
    let mut garbage = vec![0xff; 16];
    garbage.extend_from_slice(&[0, 19, 9]); // unknown type 9
    let out = s.handle(t(1), bytes(Bytes::from(garbage)));
    assert_eq!(
        notification(&out),
        Some(ErrorCode::MessageHeader(
            crate::wire::HeaderSubcode::BadMessageType
        ))
    );
}

#[test]
fn collision_keeps_the_higher_identifiers_connection() {
    // We are 10.0.0.1 < peer 10.0.0.2: the peer's connection (our Inbound) survives.
    let mut s = Session::new(frr(), 1);
    s.handle(t(0), Input::ManualStart);
    s.handle(t(0), Input::TcpConnected { dir: OUT });
    let out = s.handle(
        t(0),
        Input::TcpConnected {
            dir: Direction::Inbound,
        },
    );
    assert!(
        matches!(sent(&out)[..], [Message::Open(_)]),
        "OPEN on the second connection"
    );
    let out = s.handle(
        t(0),
        Input::Bytes {
            dir: Direction::Inbound,
            bytes: open(64513, 9, B, None),
        },
    );
    assert!(out.contains(&Output::CloseTcp {
        dir: OUT,
        reset: false
    }));
    assert_eq!(
        notification(&out),
        Some(ErrorCode::Cease(
            CeaseSubcode::ConnectionCollisionResolution
        ))
    );
    assert_eq!(s.state(), State::OpenConfirm);
    let out = s.handle(
        t(0),
        Input::Bytes {
            dir: Direction::Inbound,
            bytes: keepalive(),
        },
    );
    assert!(out.iter().any(|o| matches!(o, Output::Established { .. })));
}

fn open_with(asn: u32, caps: Vec<Capability>) -> Bytes {
    let mut all = caps;
    all.push(Capability::FourOctetAs { asn });
    encode(Message::Open(Open::new(asn, 9, B, all)))
}

fn mp(afi: Afi) -> Capability {
    Capability::Multiprotocol {
        afi,
        safi: Safi::Unicast,
    }
}

fn our_open_of(config: SessionConfig) -> Open {
    let mut s = Session::new(config, 1);
    s.handle(t(0), Input::ManualStart);
    let out = s.handle(t(0), Input::TcpConnected { dir: OUT });
    sent(&out)
        .into_iter()
        .find_map(|m| match m {
            Message::Open(o) => Some(o),
            _ => None,
        })
        .expect("an OPEN")
}

#[test]
fn frr_offers_one_mp_capability_per_family() {
    let caps = |f| {
        our_open_of(frr().with_families(f))
            .capabilities()
            .filter_map(|c| match c {
                Capability::Multiprotocol { afi, .. } => Some(*afi),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(caps(Families::IPV4), [Afi::Ipv4]);
    assert_eq!(caps(Families::IPV6), [Afi::Ipv6]);
    assert_eq!(caps(Families::DUAL_STACK), [Afi::Ipv4, Afi::Ipv6]);
    // The native speaker always offers both (metallb `sendOpen`).
    let native = our_open_of(SessionConfig::native(64512, 64513, A));
    assert!(native.capabilities().any(|c| *c == mp(Afi::Ipv6)));
}

/// FRR refuses an OPEN with no family in common: OPEN Message Error / Unsupported Capability
/// with the peer's MP capabilities it did not configure (bgpd `bgp_open_option_parse`).
#[test]
fn frr_without_a_common_family_sends_unsupported_capability() {
    let mut s = Session::new(frr(), 1);
    s.handle(t(0), Input::ManualStart);
    s.handle(t(0), Input::TcpConnected { dir: OUT });
    let out = s.handle(t(0), bytes(open_with(64513, vec![mp(Afi::Ipv6)])));
    let n = sent(&out)
        .into_iter()
        .find_map(|m| match m {
            Message::Notification(n) => Some(n),
            _ => None,
        })
        .expect("a NOTIFICATION");
    assert_eq!(
        n.error,
        ErrorCode::OpenMessage(OpenSubcode::UnsupportedCapability)
    );
    assert_eq!(n.data, vec![1, 4, 0, 2, 0, 1]);
    assert_ne!(s.state(), State::Established);
    // An OPEN without any MP capability means IPv4 unicast: accepted by an IPv4 session.
    let s = established(frr(), 9, None);
    assert_eq!(s.state(), State::Established);
}

#[test]
fn ipv6_only_session_sends_ipv6_and_no_ipv4() {
    let config = SessionConfig {
        coalesce_time: SimDuration::ZERO,
        ..frr().with_families(Families::IPV6)
    };
    let mut s = Session::new(config, 1);
    s.handle(t(0), Input::ManualStart);
    s.handle(t(0), Input::TcpConnected { dir: OUT });
    s.handle(
        t(0),
        bytes(open_with(64513, vec![mp(Afi::Ipv4), mp(Afi::Ipv6)])),
    );
    s.handle(t(0), bytes(keepalive()));
    assert_eq!(s.state(), State::Established);
    let v4 = s.handle(
        t(1),
        Input::Announce {
            prefixes: vec![Ipv4Prefix::host(Ipv4Addr::new(192, 0, 2, 10))],
            next_hop: A,
        },
    );
    assert!(sent(&v4).is_empty(), "IPv4 not negotiated: no IPv4 UPDATE");
    let vip: Ipv6Addr = "2001:db8:ff::10".parse().unwrap();
    let nh: Ipv6Addr = "2001:db8:fe::1".parse().unwrap();
    let v6 = s.handle(
        t(1),
        Input::Announce6 {
            prefixes: vec![Ipv6Prefix::host(vip)],
            next_hop: nh,
            link_local: None,
        },
    );
    let updates: Vec<Update> = sent(&v6)
        .into_iter()
        .filter_map(|m| match m {
            Message::Update(u) => Some(u),
            _ => None,
        })
        .collect();
    assert_eq!(updates.len(), 1);
    let mp_reach = updates[0].mp_reach_ipv6().expect("MP_REACH_NLRI");
    assert_eq!(
        (mp_reach.next_hop, &mp_reach.nlri[..]),
        (nh, &[Ipv6Prefix::host(vip)][..])
    );
    assert_eq!(updates[0].next_hop(), None);
    assert!(updates[0].as_path().is_some());
    let w = s.handle(t(2), Input::Withdraw6(vec![Ipv6Prefix::host(vip)]));
    assert!(sent(&w)
        .iter()
        .any(|m| matches!(m, Message::Update(u) if u.mp_unreach_ipv6().is_some())));
    assert!(s.advertised6().is_empty());
}

#[test]
fn dual_stack_with_graceful_restart_ends_each_family() {
    let config = SessionConfig {
        coalesce_time: SimDuration::ZERO,
        ..frr()
            .with_families(Families::DUAL_STACK)
            .with_graceful_restart(SimDuration::from_secs(120))
    };
    let mut s = Session::new(config, 1);
    s.handle(t(0), Input::ManualStart);
    s.handle(t(0), Input::TcpConnected { dir: OUT });
    let mut caps = vec![mp(Afi::Ipv4), mp(Afi::Ipv6)];
    caps.push(Capability::GracefulRestart(GracefulRestart {
        restart_flags: 0,
        restart_time_s: 120,
        families: vec![],
    }));
    s.handle(t(0), bytes(open_with(64513, caps)));
    let out = s.handle(t(0), bytes(keepalive()));
    let msgs = sent(&out);
    assert!(msgs
        .iter()
        .any(|m| matches!(m, Message::Update(u) if u.is_end_of_rib())));
    assert!(msgs
        .iter()
        .any(|m| matches!(m, Message::Update(u) if u.is_end_of_rib_ipv6())));
}

#[test]
fn no_neighbor_shutdown_starts_after_the_start_timer() {
    let mut s = established(frr(), 9, None);
    s.handle(t(1), Input::AdminShutdown);
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.next_timeout(), None, "shut down: no start timer");
    let inbound = Input::TcpConnected {
        dir: Direction::Inbound,
    };
    let out = s.handle(t(2), inbound.clone());
    assert!(
        out.contains(&Output::CloseTcp {
            dir: Direction::Inbound,
            reset: true
        }),
        "bgp_accept refuses a shut-down peer: {out:?}"
    );
    // `no neighbor shutdown` at 5 s: BGP_INIT_START_TIMER (1 s) first, then the dial.
    assert_eq!(s.handle(t(5), Input::AdminStart), vec![]);
    assert_eq!(s.timer(Timer::IdleHold), Some(t(6)));
    assert_eq!(s.handle(t(6), Input::Timer)[0], Output::Connect);
    assert_eq!(s.state(), State::Connect);
    assert_eq!(s.handle(t(7), Input::AdminStart), vec![], "only Idle cares");
}

#[test]
fn frr_takes_a_connection_while_its_start_timer_runs() {
    let mut s = established(frr(), 9, None);
    s.handle(t(1), Input::BfdDown);
    assert_eq!(s.state(), State::Idle);
    assert_eq!(s.timer(Timer::IdleHold), Some(t(2)));
    let out = s.handle(
        t(1),
        Input::TcpConnected {
            dir: Direction::Inbound,
        },
    );
    assert_eq!(s.state(), State::OpenSent);
    assert!(matches!(sent(&out)[..], [Message::Open(_)]), "{out:?}");
    assert_eq!(s.timer(Timer::IdleHold), None);
}

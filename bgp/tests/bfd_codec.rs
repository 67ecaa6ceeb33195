//! BFD Control packet codec: fixtures, the RFC 5880 §6.8.6 discard checks, round-trip and
//! no-panic properties.

use bgp::bfd::*;
use bytes::BytesMut;
use proptest::prelude::*;

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

fn encode(p: &BfdControl) -> Vec<u8> {
    let mut buf = BytesMut::new();
    p.encode(&mut buf);
    assert_eq!(buf.len(), p.encoded_len());
    buf.to_vec()
}

/// An Up packet with FRR's default 300 ms intervals and multiplier 3.
fn up() -> BfdControl {
    BfdControl {
        diag: Diagnostic::NoDiagnostic,
        state: SessionState::Up,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 1,
        your_discriminator: 2,
        desired_min_tx_us: 300_000,
        required_min_rx_us: 300_000,
        required_min_echo_rx_us: 0,
        auth: None,
    }
}

const UP_HEX: &str = "20 c0 03 18 | 00000001 | 00000002 | 000493e0 | 000493e0 | 00000000";

#[test]
fn up_packet_fixture() {
    let bytes = hex(UP_HEX);
    assert_eq!(BfdControl::decode(&bytes), Ok(up()));
    assert_eq!(encode(&up()), bytes);
}

#[test]
fn down_packet_with_diag_poll_and_simple_password() {
    // Version 1, diag 1 (detection time expired); Down, P and A set; Length 31.
    let bytes = hex(
        "21 64 05 1f | 0000abcd | 00000000 | 000f4240 | 000f4240 | 00000000 | 01 07 01 70617373",
    );
    let want = BfdControl {
        diag: Diagnostic::ControlDetectionTimeExpired,
        state: SessionState::Down,
        poll: true,
        detect_mult: 5,
        my_discriminator: 0xabcd,
        your_discriminator: 0,
        desired_min_tx_us: 1_000_000,
        required_min_rx_us: 1_000_000,
        auth: Some(BfdAuth {
            auth_type: AuthType::SimplePassword,
            data: hex("01 70617373"),
        }),
        ..up()
    };
    assert_eq!(BfdControl::decode(&bytes), Ok(want.clone()));
    assert_eq!(encode(&want), bytes);
}

#[test]
fn oversized_auth_data_is_cut_to_fit_length() {
    let p = BfdControl {
        auth: Some(BfdAuth {
            auth_type: AuthType::KeyedSha1,
            data: vec![9; 300],
        }),
        ..up()
    };
    let bytes = encode(&p);
    assert_eq!(bytes.len(), 255);
    let back = BfdControl::decode(&bytes).unwrap();
    assert_eq!(back.auth.unwrap().data.len(), 229);
}

#[test]
fn bytes_after_length_are_ignored() {
    let mut bytes = hex(UP_HEX);
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(BfdControl::decode(&bytes), Ok(up()));
}

#[test]
fn reception_checks_of_rfc5880_6_8_6() {
    let up_bytes = hex(UP_HEX);
    let with = |i: usize, b: u8| {
        let mut v = up_bytes.clone();
        v[i] = b;
        v
    };
    assert_eq!(
        BfdControl::decode(&up_bytes[..23]),
        Err(BfdDecodeError::Truncated { available: 23 })
    );
    assert_eq!(
        BfdControl::decode(&with(0, 0x40)),
        Err(BfdDecodeError::UnsupportedVersion {
            offset: 0,
            value: 2
        })
    );
    assert_eq!(
        BfdControl::decode(&with(3, 23)),
        Err(BfdDecodeError::BadLength {
            offset: 3,
            value: 23,
            available: 24
        })
    );
    assert_eq!(
        BfdControl::decode(&with(3, 25)),
        Err(BfdDecodeError::BadLength {
            offset: 3,
            value: 25,
            available: 24
        })
    );
    // A set but Length 24: below the 26 an authentication section needs.
    assert_eq!(
        BfdControl::decode(&with(1, 0xc4)),
        Err(BfdDecodeError::BadLength {
            offset: 3,
            value: 24,
            available: 24
        })
    );
    assert_eq!(
        BfdControl::decode(&with(2, 0)),
        Err(BfdDecodeError::ZeroDetectMult { offset: 2 })
    );
    assert_eq!(
        BfdControl::decode(&with(1, 0xc1)),
        Err(BfdDecodeError::MultipointSet { offset: 1 })
    );
    assert_eq!(
        BfdControl::decode(&with(7, 0)),
        Err(BfdDecodeError::ZeroMyDiscriminator { offset: 4 })
    );
    for (state_byte, state) in [(0xc0, SessionState::Up), (0x80, SessionState::Init)] {
        let mut v = with(11, 0);
        v[1] = state_byte;
        assert_eq!(
            BfdControl::decode(&v),
            Err(BfdDecodeError::ZeroYourDiscriminator { offset: 8, state })
        );
    }
    // Your Discriminator 0 is fine while Down or AdminDown.
    for state_byte in [0x40, 0x00] {
        let mut v = with(11, 0);
        v[1] = state_byte;
        assert!(BfdControl::decode(&v).is_ok());
    }
    // Auth Len that does not end the packet, or is below 2.
    let auth = hex(&format!(
        "{} 01 05 01 70",
        UP_HEX.replacen("20 c0 03 18", "20 c4 03 1c", 1)
    ));
    assert_eq!(
        BfdControl::decode(&auth),
        Err(BfdDecodeError::BadAuthLength {
            offset: 25,
            value: 5
        })
    );
    let auth = hex(&format!(
        "{} 01 01",
        UP_HEX.replacen("20 c0 03 18", "20 c4 03 1a", 1)
    ));
    assert_eq!(
        BfdControl::decode(&auth),
        Err(BfdDecodeError::BadAuthLength {
            offset: 25,
            value: 1
        })
    );
    for e in [
        BfdDecodeError::ZeroDetectMult { offset: 2 },
        BfdDecodeError::BadLength {
            offset: 3,
            value: 1,
            available: 2,
        },
    ] {
        assert!(!e.to_string().is_empty());
    }
}

fn arb_state() -> impl Strategy<Value = SessionState> {
    prop_oneof![
        Just(SessionState::AdminDown),
        Just(SessionState::Down),
        Just(SessionState::Init),
        Just(SessionState::Up),
    ]
}

fn arb_packet() -> impl Strategy<Value = BfdControl> {
    (
        (0u8..32, arb_state(), any::<[bool; 4]>(), 1u8..),
        (
            1u32..,
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
        ),
        prop::option::of((any::<u8>(), prop::collection::vec(any::<u8>(), 0..=229))),
    )
        .prop_map(
            |((diag, state, [p, f, c, d], mult), (my, your, tx, rx, echo), auth)| {
                let your = match state {
                    SessionState::Init | SessionState::Up => your.max(1),
                    _ => your,
                };
                BfdControl {
                    diag: diag.into(),
                    state,
                    poll: p,
                    final_: f,
                    control_plane_independent: c,
                    demand: d,
                    detect_mult: mult,
                    my_discriminator: my,
                    your_discriminator: your,
                    desired_min_tx_us: tx,
                    required_min_rx_us: rx,
                    required_min_echo_rx_us: echo,
                    auth: auth.map(|(t, data)| BfdAuth {
                        auth_type: t.into(),
                        data,
                    }),
                }
            },
        )
}

proptest! {
    #[test]
    fn round_trip(p in arb_packet()) {
        let bytes = encode(&p);
        prop_assert_eq!(BfdControl::decode(&bytes), Ok(p));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(p) = BfdControl::decode(&bytes) {
            // Whatever decodes re-encodes to a fixed point.
            let once = encode(&p);
            prop_assert_eq!(BfdControl::decode(&once), Ok(p));
        }
    }

    #[test]
    fn mutated_packets_never_panic(
        p in arb_packet(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode(&p);
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        if let Ok(p) = BfdControl::decode(&bytes) {
            prop_assert_eq!(BfdControl::decode(&encode(&p)), Ok(p));
        }
        let _ = BfdControl::decode(&bytes[..cut.index(bytes.len())]);
    }
}

//! BGP wire codec: fixed bytes <-> structs, round-trip and no-panic properties, framing, and the
//! NOTIFICATION each decode error calls for (RFC 4271 §6).

use bgp::wire::*;
use bytes::BytesMut;
use proptest::prelude::*;
use std::net::Ipv4Addr;

const FOUR: CodecOptions = CodecOptions::FOUR_OCTET_AS;
const TWO: CodecOptions = CodecOptions::TWO_OCTET_AS;

/// Parses a hex fixture; whitespace and `|` separators are ignored.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    assert_eq!(digits.len() % 2, 0, "odd hex fixture");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

const MARKER_HEX: &str = "ffffffff ffffffff ffffffff ffffffff";

/// A message of type `ty` around `body`, with a correct Length.
fn message(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xff; 16];
    out.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    out.push(ty);
    out.extend_from_slice(body);
    out
}

fn encode_msg(m: &Message, options: CodecOptions) -> Vec<u8> {
    let mut buf = BytesMut::new();
    m.encode(&mut buf, options);
    assert_eq!(
        buf.len(),
        m.encoded_len(options),
        "encoded_len disagrees with encode"
    );
    buf.to_vec()
}

fn assert_notification(err: &DecodeError, code: u8, subcode: u8, data: &[u8]) {
    let n = Notification::from(err);
    assert_eq!(
        (n.error.code(), n.error.subcode(), n.data.as_slice()),
        (code, subcode, data),
        "mapping of {err:?}"
    );
    assert!(!err.to_string().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Fixed bytes <-> struct
// ---------------------------------------------------------------------------------------------

/// OPEN from AS 4200000001 (so My AS is AS_TRANS), hold 90 s, id 10.0.0.1, one Capabilities
/// parameter: MP IPv4/unicast, route refresh, enhanced route refresh, 4-octet AS, graceful
/// restart (N bit, 120 s, IPv4/unicast forwarding preserved), ADD-PATH receive, and FQDN (73),
/// which this codec keeps as unknown.
fn open_fixture() -> (Vec<u8>, Open) {
    let bytes = hex(&format!(
        "{MARKER_HEX} 0046 01 | 04 5ba0 005a 0a000001 29 | 02 27
         01 04 0001 00 01 | 02 00 | 46 00 | 41 04 fa56ea01 | 40 06 4078 0001 01 80
         | 45 04 0001 01 01 | 49 07 05 6e6f646531 00"
    ));
    let open = Open {
        my_as: AS_TRANS,
        hold_time_s: 90,
        bgp_identifier: Ipv4Addr::new(10, 0, 0, 1),
        optional_parameters: vec![OptionalParameter::Capabilities(vec![
            Capability::Multiprotocol {
                afi: Afi::Ipv4,
                safi: Safi::Unicast,
            },
            Capability::RouteRefresh,
            Capability::EnhancedRouteRefresh,
            Capability::FourOctetAs { asn: 4_200_000_001 },
            Capability::GracefulRestart(GracefulRestart {
                restart_flags: GracefulRestart::NOTIFICATION,
                restart_time_s: 120,
                families: vec![GracefulRestartFamily {
                    afi: Afi::Ipv4,
                    safi: Safi::Unicast,
                    flags: GracefulRestartFamily::FORWARDING_STATE,
                }],
            }),
            Capability::AddPath(vec![AddPathFamily {
                afi: Afi::Ipv4,
                safi: Safi::Unicast,
                mode: AddPathMode::Receive,
            }]),
            Capability::Unknown {
                code: 73,
                value: hex("05 6e6f646531 00"),
            },
        ])],
    };
    (bytes, open)
}

#[test]
fn open_fixture_both_directions() {
    let (bytes, open) = open_fixture();
    assert_eq!(bytes.len(), 70);
    assert_eq!(Open::decode(&bytes), Ok(open.clone()));
    assert_eq!(
        Message::decode(&bytes, TWO),
        Ok(Message::Open(open.clone()))
    );
    let mut buf = BytesMut::new();
    open.encode(&mut buf);
    assert_eq!(buf.as_ref(), bytes.as_slice());
    assert_eq!(open.encoded_len(), 70);
    assert_eq!(open.asn(), 4_200_000_001);
    assert_eq!(open.capabilities().count(), 7);
}

#[test]
fn open_new_uses_as_trans_for_wide_as() {
    let open = Open::new(4_200_000_001, 90, Ipv4Addr::new(10, 0, 0, 1), vec![]);
    assert_eq!(open.my_as, AS_TRANS);
    assert_eq!(
        Open::new(64512, 90, Ipv4Addr::new(10, 0, 0, 1), vec![]).my_as,
        64512
    );
}

#[test]
fn open_minimal_and_extended_optional_parameters() {
    // No optional parameters: 29 bytes.
    let bytes = message(1, &hex("04 fde8 00b4 c0000201 00"));
    let open = Open::decode(&bytes).unwrap();
    assert_eq!(open.my_as, 65000);
    assert_eq!(open.hold_time_s, 180);
    assert!(open.optional_parameters.is_empty());

    // RFC 9072 extended form: Opt Parm Len 255, type 255, 2-byte lengths.
    let bytes = message(
        1,
        &hex("04 fde8 00b4 c0000201 ff ff 0009 | 02 0006 | 01 04 0001 00 01"),
    );
    let open = Open::decode(&bytes).unwrap();
    assert_eq!(
        open.capabilities().collect::<Vec<_>>(),
        vec![&Capability::Multiprotocol {
            afi: Afi::Ipv4,
            safi: Safi::Unicast
        }]
    );
    // Small enough for the plain form, so that is what re-encoding uses (canonical).
    let mut buf = BytesMut::new();
    open.encode(&mut buf);
    assert_eq!(buf.len(), 29 + 8);
    assert_eq!(Open::decode(&buf), Ok(open.clone()));

    // Parameters over 255 bytes go extended and come back.
    let big = Open {
        optional_parameters: vec![OptionalParameter::Unknown {
            param_type: 9,
            value: vec![7; 300],
        }],
        ..open
    };
    let mut buf = BytesMut::new();
    big.encode(&mut buf);
    assert_eq!(buf.len(), big.encoded_len());
    assert_eq!(buf.get(28..30), Some(&[0xff, 0xff][..]));
    assert_eq!(Open::decode(&buf), Ok(big));
}

/// UPDATE announcing 192.0.2.10/32 with ORIGIN IGP, AS_PATH 64512 and NEXT_HOP 10.0.0.11 (a
/// MetalLB speaker announcing a service IP).
fn update_fixture() -> Update {
    Update {
        withdrawn: vec![],
        attributes: vec![
            PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
            PathAttribute::new(AttributeValue::AsPath(AsPath::sequence(vec![64512]))),
            PathAttribute::new(AttributeValue::NextHop(Ipv4Addr::new(10, 0, 0, 11))),
        ],
        nlri: vec![Ipv4Prefix::host(Ipv4Addr::new(192, 0, 2, 10))],
    }
}

#[test]
fn update_fixture_four_octet_as() {
    let bytes = hex(&format!(
        "{MARKER_HEX} 0030 02 | 0000 | 0014 | 40 01 01 00 | 40 02 06 02 01 0000fc00
         | 40 03 04 0a00000b | 20 c000020a"
    ));
    let update = update_fixture();
    assert_eq!(Update::decode(&bytes, FOUR), Ok(update.clone()));
    let mut buf = BytesMut::new();
    update.encode(&mut buf, FOUR);
    assert_eq!(buf.as_ref(), bytes.as_slice());
    assert_eq!(update.next_hop(), Some(Ipv4Addr::new(10, 0, 0, 11)));
    assert_eq!(update.as_path().map(AsPath::path_length), Some(1));
}

#[test]
fn update_fixture_two_octet_as() {
    let bytes = hex(&format!(
        "{MARKER_HEX} 002e 02 | 0000 | 0012 | 40 01 01 00 | 40 02 04 02 01 fc00
         | 40 03 04 0a00000b | 20 c000020a"
    ));
    let update = update_fixture();
    assert_eq!(Update::decode(&bytes, TWO), Ok(update.clone()));
    let mut buf = BytesMut::new();
    update.encode(&mut buf, TWO);
    assert_eq!(buf.as_ref(), bytes.as_slice());
    // The same bytes read as 4-octet ASes are a malformed AS_PATH (RFC 6793 §2 mismatch).
    assert!(matches!(
        Update::decode(&bytes, FOUR),
        Err(DecodeError::MalformedAsPath { offset: 30 })
    ));
}

#[test]
fn update_as_trans_and_split_segments() {
    // A 4-octet AS on a 2-octet session is written as AS_TRANS (RFC 6793 §4.2.2).
    let update = Update {
        attributes: vec![
            PathAttribute::new(AttributeValue::Origin(Origin::Igp)),
            PathAttribute::new(AttributeValue::AsPath(AsPath::sequence(vec![
                4_200_000_001,
            ]))),
            PathAttribute::new(AttributeValue::NextHop(Ipv4Addr::new(10, 0, 0, 11))),
        ],
        ..update_fixture()
    };
    let mut buf = BytesMut::new();
    update.encode(&mut buf, TWO);
    let back = Update::decode(&buf, TWO).unwrap();
    assert_eq!(back.as_path(), Some(&AsPath::sequence(vec![23456])));

    // 300 ASes become segments of 255 and 45.
    let long = AsPath::sequence((1..=300).collect());
    let update = Update {
        attributes: vec![PathAttribute::new(AttributeValue::AsPath(long))],
        ..Update::default()
    };
    let mut buf = BytesMut::new();
    update.encode(&mut buf, FOUR);
    let back = Update::decode(&buf, FOUR).unwrap();
    let segments = &back.as_path().unwrap().segments;
    assert_eq!(
        segments.iter().map(|s| s.asns.len()).collect::<Vec<_>>(),
        vec![255, 45]
    );
    // The AS_PATH value is 1220 bytes, so the extended length bit was set.
    assert!(back.attributes[0]
        .flags
        .contains(AttributeFlags::EXTENDED_LENGTH));
}

#[test]
fn update_withdraw_med_local_pref_aggregator_communities_unknown() {
    let bytes = message(
        2,
        &hex("0005 18 c00002 00
             003b
             40 01 01 02
             50 02 0000
             40 03 04 0a000001
             80 04 04 00000064
             40 05 04 000000c8
             40 06 00
             e0 07 08 0000fde8 0a000001
             c0 08 08 fde80064 ffffff01
             e0 63 02 abcd
             18 c63364"),
    );
    let update = Update::decode(&bytes, FOUR).unwrap();
    assert_eq!(
        update.withdrawn,
        vec![
            Ipv4Prefix::new(Ipv4Addr::new(192, 0, 2, 0), 24).unwrap(),
            Ipv4Prefix::new(Ipv4Addr::UNSPECIFIED, 0).unwrap()
        ]
    );
    assert_eq!(
        update.nlri,
        vec![Ipv4Prefix::new(Ipv4Addr::new(198, 51, 100, 0), 24).unwrap()]
    );
    let values: Vec<_> = update.attributes.iter().map(|a| a.value.clone()).collect();
    assert_eq!(
        values,
        vec![
            AttributeValue::Origin(Origin::Incomplete),
            AttributeValue::AsPath(AsPath::default()),
            AttributeValue::NextHop(Ipv4Addr::new(10, 0, 0, 1)),
            AttributeValue::MultiExitDisc(100),
            AttributeValue::LocalPref(200),
            AttributeValue::AtomicAggregate,
            AttributeValue::Aggregator {
                asn: 65000,
                address: Ipv4Addr::new(10, 0, 0, 1)
            },
            AttributeValue::Communities(vec![Community::new(65000, 100), Community::NO_EXPORT]),
            AttributeValue::Unknown {
                type_code: 0x63,
                value: vec![0xab, 0xcd]
            },
        ]
    );
    // Flags are kept: extended length on an empty AS_PATH, Partial on AGGREGATOR.
    assert_eq!(update.attributes[1].flags, AttributeFlags(0x50));
    assert_eq!(update.attributes[6].flags, AttributeFlags(0xe0));
    let mut buf = BytesMut::new();
    update.encode(&mut buf, FOUR);
    assert_eq!(buf.as_ref(), bytes.as_slice());
}

#[test]
fn unknown_attributes_when_passed_on() {
    let transitive = PathAttribute {
        flags: AttributeFlags::OPTIONAL_TRANSITIVE,
        value: AttributeValue::Unknown {
            type_code: 32,
            value: vec![1, 2, 3],
        },
    };
    let passed = transitive.passed_on().unwrap();
    assert!(passed.flags.contains(AttributeFlags::PARTIAL));
    assert_eq!(passed.value, transitive.value);
    let non_transitive = PathAttribute {
        flags: AttributeFlags::OPTIONAL_NON_TRANSITIVE,
        ..transitive
    };
    assert_eq!(non_transitive.passed_on(), None);
    let med = PathAttribute::new(AttributeValue::MultiExitDisc(5));
    assert_eq!(med.passed_on(), Some(med));
}

#[test]
fn end_of_rib_is_an_empty_update() {
    let bytes = hex(&format!("{MARKER_HEX} 0017 02 0000 0000"));
    let eor = Update::decode(&bytes, FOUR).unwrap();
    assert!(eor.is_end_of_rib());
    assert_eq!(eor, Update::end_of_rib());
    assert_eq!(encode_msg(&Message::Update(eor), FOUR), bytes);
}

#[test]
fn prefix_host_bits_are_cleared() {
    // 192.0.2.255/24 on the wire: the trailing bits are irrelevant (RFC 4271 §4.3).
    let bytes = message(2, &hex("0004 18 c00002 0000"));
    let u = Update::decode(&bytes, FOUR).unwrap();
    assert_eq!(u.withdrawn[0].to_string(), "192.0.2.0/24");
    let bytes = message(2, &hex("0004 17 c00003 0000"));
    let u = Update::decode(&bytes, FOUR).unwrap();
    assert_eq!(u.withdrawn[0].to_string(), "192.0.2.0/23");
    assert_eq!(Ipv4Prefix::new(Ipv4Addr::BROADCAST, 33), None);
}

#[test]
fn notification_administrative_shutdown_fixture() {
    let bytes = hex(&format!(
        "{MARKER_HEX} 0021 03 | 06 02 0b 6d61696e74656e616e6365"
    ));
    let n = Notification::administrative_shutdown("maintenance");
    assert_eq!(Notification::decode(&bytes), Ok(n.clone()));
    let mut buf = BytesMut::new();
    n.encode(&mut buf);
    assert_eq!(buf.as_ref(), bytes.as_slice());
    assert_eq!(
        n.to_string(),
        "Cease / AdministrativeShutdown: \"maintenance\""
    );
}

#[test]
fn notification_codes_and_invalid_communication() {
    // Hold Timer Expired: no data.
    let bytes = message(3, &hex("04 00"));
    assert_eq!(
        Notification::decode(&bytes),
        Ok(Notification::hold_timer_expired())
    );
    // BFD Down (RFC 9384) and Hard Reset (RFC 8538).
    let n = Notification::decode(&message(3, &hex("06 0a"))).unwrap();
    assert_eq!(n.error, ErrorCode::Cease(CeaseSubcode::BfdDown));
    let n = Notification::decode(&message(3, &hex("06 09 06 04"))).unwrap();
    assert_eq!(n.error, ErrorCode::Cease(CeaseSubcode::HardReset));
    assert_eq!(n.data, vec![6, 4]);
    // A communication whose length overruns, or that is not UTF-8, stays raw (RFC 9003 §3).
    let n = Notification::decode(&message(3, &hex("06 04 05 6869"))).unwrap();
    assert_eq!(n.shutdown_communication, None);
    assert_eq!(n.data, hex("05 6869"));
    let n = Notification::decode(&message(3, &hex("06 02 02 c328"))).unwrap();
    assert_eq!(n.shutdown_communication, None);
    // Unknown code kept.
    let n = Notification::decode(&message(3, &hex("09 01 aa"))).unwrap();
    assert_eq!(
        n.error,
        ErrorCode::Unknown {
            code: 9,
            subcode: 1
        }
    );
    // A communication longer than 255 bytes is cut at a character boundary.
    let n = Notification::administrative_shutdown("é".repeat(200));
    let mut buf = BytesMut::new();
    n.encode(&mut buf);
    let back = Notification::decode(&buf).unwrap();
    assert_eq!(back.shutdown_communication, Some("é".repeat(127)));
}

#[test]
fn keepalive_fixture() {
    let bytes = hex(&format!("{MARKER_HEX} 0013 04"));
    assert_eq!(Keepalive::decode(&bytes), Ok(Keepalive));
    assert_eq!(encode_msg(&Message::Keepalive(Keepalive), FOUR), bytes);
}

#[test]
fn route_refresh_fixtures() {
    let bytes = hex(&format!("{MARKER_HEX} 0017 05 | 0001 01 01"));
    let borr = RouteRefresh {
        subtype: RouteRefreshSubtype::BeginningOfRouteRefresh,
        ..RouteRefresh::new(Afi::Ipv4, Safi::Unicast)
    };
    assert_eq!(RouteRefresh::decode(&bytes), Ok(borr.clone()));
    assert_eq!(encode_msg(&Message::RouteRefresh(borr), FOUR), bytes);
    // A normal refresh may carry ORF entries (RFC 5291), kept raw.
    let bytes = message(5, &hex("0001 00 01 01 40 0004 aabbccdd"));
    let rr = RouteRefresh::decode(&bytes).unwrap();
    assert_eq!(rr.subtype, RouteRefreshSubtype::Normal);
    assert_eq!(rr.orf, hex("01 40 0004 aabbccdd"));
    assert_eq!(encode_msg(&Message::RouteRefresh(rr), FOUR), bytes);
}

// ---------------------------------------------------------------------------------------------
// Framing
// ---------------------------------------------------------------------------------------------

fn three_messages() -> (Vec<u8>, Vec<Message>) {
    let msgs = vec![
        Message::Open(open_fixture().1),
        Message::Update(update_fixture()),
        Message::Keepalive(Keepalive),
    ];
    let bytes = msgs.iter().flat_map(|m| encode_msg(m, FOUR)).collect();
    (bytes, msgs)
}

#[test]
fn framer_three_messages_in_one_chunk() {
    let (bytes, msgs) = three_messages();
    let mut reader = MessageReader::new(FOUR);
    reader.push(&bytes);
    let got: Vec<_> = reader.by_ref().collect::<Result<_, _>>().unwrap();
    assert_eq!(got, msgs);
    assert_eq!(reader.buffered_len(), 0);
}

#[test]
fn framer_byte_by_byte() {
    let (bytes, msgs) = three_messages();
    let mut reader = MessageReader::new(FOUR);
    let mut got = Vec::new();
    for b in &bytes {
        reader.push(&[*b]);
        while let Some(m) = reader.next_message() {
            got.push(m.unwrap());
        }
    }
    assert_eq!(got, msgs);
}

#[test]
fn framer_reports_header_errors_early_and_stops() {
    let mut reader = MessageReader::new(FOUR);
    reader.push(&[0xff, 0xff, 0x00]);
    assert_eq!(
        reader.next_message(),
        Some(Err(DecodeError::BadMarker { offset: 2 }))
    );
    assert!(reader.has_failed());
    reader.push(&hex(&format!("{MARKER_HEX} 0013 04")));
    assert_eq!(reader.next_message(), None);

    // A bad Length shows once the header is in, without waiting for the body.
    let mut reader = MessageReader::new(FOUR);
    reader.push(&hex(&format!("{MARKER_HEX} 1001 02")));
    assert_eq!(
        reader.next_message(),
        Some(Err(DecodeError::BadLength {
            offset: 16,
            value: 4097
        }))
    );
}

#[test]
fn framer_options_change_between_messages() {
    let two = encode_msg(&Message::Update(update_fixture()), TWO);
    let four = encode_msg(&Message::Update(update_fixture()), FOUR);
    let mut reader = MessageReader::new(TWO);
    reader.push(&two);
    reader.push(&four);
    assert_eq!(
        reader.next_message(),
        Some(Ok(Message::Update(update_fixture())))
    );
    reader.set_options(FOUR);
    assert_eq!(reader.options(), FOUR);
    assert_eq!(
        reader.next_message(),
        Some(Ok(Message::Update(update_fixture())))
    );
}

// ---------------------------------------------------------------------------------------------
// Decode errors and the NOTIFICATION they call for (RFC 4271 §6.1–6.3)
// ---------------------------------------------------------------------------------------------

fn decode_err(bytes: &[u8]) -> DecodeError {
    Message::decode(bytes, FOUR).expect_err("should not decode")
}

const OPEN_FIXED: &str = "04 fde8 00b4 c0000201";

#[test]
fn header_errors() {
    let mut ka = message(4, &[]);
    ka[3] = 0;
    let e = decode_err(&ka);
    assert_eq!(e, DecodeError::BadMarker { offset: 3 });
    assert_notification(&e, 1, 1, &[]);

    for (len, ty) in [
        (18u16, 4u8),
        (4097, 2),
        (20, 4),
        (28, 1),
        (22, 2),
        (20, 3),
        (22, 5),
    ] {
        let mut bytes = vec![0xff; 16];
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.push(ty);
        bytes.resize(usize::from(len).max(19), 0);
        let e = decode_err(&bytes);
        assert_eq!(
            e,
            DecodeError::BadLength {
                offset: 16,
                value: len
            },
            "len {len} type {ty}"
        );
        assert_notification(&e, 1, 2, &len.to_be_bytes());
    }

    let e = decode_err(&message(6, &[]));
    assert_eq!(
        e,
        DecodeError::BadMessageType {
            offset: 18,
            value: 6
        }
    );
    assert_notification(&e, 1, 3, &[6]);

    let full = message(4, &[]);
    let e = decode_err(&full[..10]);
    assert_eq!(
        e,
        DecodeError::Truncated {
            needed: 19,
            available: 10
        }
    );
    assert_notification(&e, 1, 2, &[0, 19]);
    let open = message(1, &hex(&format!("{OPEN_FIXED} 00")));
    let e = decode_err(&open[..25]);
    assert_eq!(
        e,
        DecodeError::Truncated {
            needed: 29,
            available: 25
        }
    );

    let mut long = message(4, &[]);
    long.push(0);
    let e = decode_err(&long);
    assert_eq!(
        e,
        DecodeError::TrailingBytes {
            offset: 19,
            count: 1
        }
    );
    assert_notification(&e, 1, 2, &[0, 19]);

    let e = Open::decode(&message(4, &[])).unwrap_err();
    assert_eq!(
        e,
        DecodeError::UnexpectedMessageType {
            offset: 18,
            expected: MessageType::Open,
            found: MessageType::Keepalive
        }
    );
    assert_notification(&e, 1, 3, &[4]);
}

#[test]
fn open_errors() {
    let e = decode_err(&message(1, &hex("03 fde8 00b4 c0000201 00")));
    assert_eq!(
        e,
        DecodeError::UnsupportedVersion {
            offset: 19,
            value: 3
        }
    );
    assert_notification(&e, 2, 1, &[0, 4]);

    let e = decode_err(&message(1, &hex("04 0000 00b4 c0000201 00")));
    assert_eq!(
        e,
        DecodeError::BadPeerAs {
            offset: 20,
            value: 0
        }
    );
    assert_notification(&e, 2, 2, &[]);
    let e = decode_err(&message(
        1,
        &hex("04 5ba0 00b4 c0000201 08 02 06 41 04 00000000"),
    ));
    assert_eq!(
        e,
        DecodeError::BadPeerAs {
            offset: 33,
            value: 0
        }
    );

    for hold in [1u16, 2] {
        let body = hex(&format!("04 fde8 {hold:04x} c0000201 00"));
        let e = decode_err(&message(1, &body));
        assert_eq!(
            e,
            DecodeError::UnacceptableHoldTime {
                offset: 22,
                value: hold
            }
        );
        assert_notification(&e, 2, 6, &[]);
        assert!(e.to_string().contains("hold time"));
    }
    for hold in [0u16, 3, 65535] {
        let body = hex(&format!("04 fde8 {hold:04x} c0000201 00"));
        assert!(Message::decode(&message(1, &body), FOUR).is_ok());
    }

    let e = decode_err(&message(1, &hex("04 fde8 00b4 00000000 00")));
    assert_eq!(
        e,
        DecodeError::BadBgpIdentifier {
            offset: 24,
            value: Ipv4Addr::UNSPECIFIED
        }
    );
    assert_notification(&e, 2, 3, &[]);

    // Opt Parm Len says 4, only 2 bytes follow.
    let e = decode_err(&message(1, &hex(&format!("{OPEN_FIXED} 04 02 00"))));
    assert_eq!(e, DecodeError::MalformedOptionalParameters { offset: 29 });
    assert_notification(&e, 2, 0, &[]);
    // A parameter whose length overruns Opt Parm Len.
    let e = decode_err(&message(1, &hex(&format!("{OPEN_FIXED} 02 02 05"))));
    assert_eq!(e, DecodeError::MalformedOptionalParameters { offset: 29 });

    // Multiprotocol capability of length 3.
    let e = decode_err(&message(
        1,
        &hex(&format!("{OPEN_FIXED} 07 02 05 01 03 000100")),
    ));
    assert_eq!(
        e,
        DecodeError::MalformedCapability {
            offset: 31,
            code: 1
        }
    );
    assert_notification(&e, 2, 0, &[]);

    // An unknown optional parameter is kept for the session to judge.
    let open = Open::decode(&message(1, &hex(&format!("{OPEN_FIXED} 03 09 01 aa")))).unwrap();
    assert_eq!(
        open.optional_parameters,
        vec![OptionalParameter::Unknown {
            param_type: 9,
            value: vec![0xaa]
        }]
    );
}

#[test]
fn update_errors() {
    // Withdrawn Routes Length overruns the message.
    let e = decode_err(&message(2, &hex("0009 00 0000")));
    assert_eq!(e, DecodeError::MalformedAttributeList { offset: 19 });
    assert_notification(&e, 3, 1, &[]);
    // Total Path Attribute Length overruns the message.
    let e = decode_err(&message(2, &hex("0000 0005 40010100")));
    assert_eq!(e, DecodeError::MalformedAttributeList { offset: 21 });
    // An attribute overruns Total Path Attribute Length.
    let e = decode_err(&message(2, &hex("0000 0004 40 01 02 00")));
    assert_eq!(e, DecodeError::MalformedAttributeList { offset: 23 });

    let e = decode_err(&message(2, &hex("0000 0008 40010100 40010100")));
    assert_eq!(
        e,
        DecodeError::DuplicateAttribute {
            offset: 27,
            type_code: 1
        }
    );
    assert_notification(&e, 3, 1, &[]);

    let e = decode_err(&message(2, &hex("0000 0005 40 63 02 abcd")));
    assert!(matches!(
        e,
        DecodeError::UnrecognizedWellKnownAttribute {
            offset: 23,
            type_code: 0x63,
            ..
        }
    ));
    assert_notification(&e, 3, 2, &hex("40 63 02 abcd"));

    // NLRI without NEXT_HOP.
    let e = decode_err(&message(
        2,
        &hex("0000 000d 40010100 40 02 06 02 01 0000fc00 20 c000020a"),
    ));
    assert_eq!(e, DecodeError::MissingWellKnownAttribute { type_code: 3 });
    assert_notification(&e, 3, 3, &[3]);
    assert!(e.to_string().contains("NEXT_HOP"));

    // ORIGIN marked optional; MED marked transitive; LOCAL_PREF with Partial.
    for attr in ["c0 01 01 00", "c0 04 04 00000001", "60 05 04 00000001"] {
        let attr = hex(attr);
        let mut body = hex("0000");
        body.extend_from_slice(&(attr.len() as u16).to_be_bytes());
        body.extend_from_slice(&attr);
        let e = decode_err(&message(2, &body));
        assert!(
            matches!(e, DecodeError::AttributeFlagsError { offset: 23, .. }),
            "{e:?}"
        );
        assert_notification(&e, 3, 4, &attr);
    }

    // Wrong lengths for fixed-size attributes, AGGREGATOR of the other AS width, COMMUNITIES.
    for attr in [
        "40 01 02 0000",
        "40 03 05 0a00000101",
        "80 04 03 000001",
        "40 05 00",
        "40 06 01 00",
        "c0 07 06 fde8 0a000001",
        "c0 08 03 000001",
    ] {
        let attr = hex(attr);
        let mut body = hex("0000");
        body.extend_from_slice(&(attr.len() as u16).to_be_bytes());
        body.extend_from_slice(&attr);
        let e = decode_err(&message(2, &body));
        assert!(
            matches!(e, DecodeError::AttributeLengthError { offset: 23, .. }),
            "{e:?}"
        );
        assert_notification(&e, 3, 5, &attr);
    }

    let e = decode_err(&message(2, &hex("0000 0004 40 01 01 03")));
    assert!(matches!(
        e,
        DecodeError::InvalidOrigin {
            offset: 23,
            value: 3,
            ..
        }
    ));
    assert_notification(&e, 3, 6, &hex("40 01 01 03"));

    for nh in ["00000000", "ffffffff", "e0000001"] {
        let attr = hex(&format!("40 03 04 {nh}"));
        let mut body = hex("0000 0007");
        body.extend_from_slice(&attr);
        let e = decode_err(&message(2, &body));
        assert!(
            matches!(e, DecodeError::InvalidNextHop { offset: 23, .. }),
            "{e:?}"
        );
        assert_notification(&e, 3, 8, &attr);
    }

    // Prefix length 33 in NLRI; a prefix cut short in Withdrawn Routes.
    let e = decode_err(&message(2, &hex("0000 0000 21 c000020a00")));
    assert_eq!(e, DecodeError::InvalidNetworkField { offset: 23 });
    assert_notification(&e, 3, 10, &[]);
    let e = decode_err(&message(2, &hex("0002 18 c0 0000")));
    assert_eq!(e, DecodeError::InvalidNetworkField { offset: 21 });

    // AS_PATH: unknown segment type, empty segment, segment overrun.
    for path in ["05 01 0000fde8", "02 00", "02 02 0000fde8"] {
        let value = hex(path);
        let mut body = hex("0000");
        body.extend_from_slice(&((value.len() + 3) as u16).to_be_bytes());
        body.extend_from_slice(&[0x40, 0x02, value.len() as u8]);
        body.extend_from_slice(&value);
        let e = decode_err(&message(2, &body));
        assert_eq!(e, DecodeError::MalformedAsPath { offset: 26 }, "{path}");
        assert_notification(&e, 3, 11, &[]);
    }
}

#[test]
fn route_refresh_errors() {
    let bytes = message(5, &hex("0001 02 01 00"));
    let e = decode_err(&bytes);
    assert_eq!(
        e,
        DecodeError::RouteRefreshBadLength {
            offset: 16,
            value: 24,
            message: bytes.clone()
        }
    );
    assert_notification(&e, 7, 1, &bytes);
}

// ---------------------------------------------------------------------------------------------
// Round trips over every field's full bit width
// ---------------------------------------------------------------------------------------------

fn arb_afi() -> impl Strategy<Value = Afi> + Clone {
    any::<u16>().prop_map(Afi::from)
}

fn arb_safi() -> impl Strategy<Value = Safi> + Clone {
    any::<u8>().prop_map(Safi::from)
}

fn arb_capability() -> impl Strategy<Value = Capability> {
    let family = (arb_afi(), arb_safi(), any::<u8>());
    prop_oneof![
        (arb_afi(), arb_safi()).prop_map(|(afi, safi)| Capability::Multiprotocol { afi, safi }),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        (
            0u8..16,
            0u16..4096,
            prop::collection::vec(family.clone(), 0..=63)
        )
            .prop_map(|(restart_flags, restart_time_s, families)| {
                Capability::GracefulRestart(GracefulRestart {
                    restart_flags,
                    restart_time_s,
                    families: families
                        .into_iter()
                        .map(|(afi, safi, flags)| GracefulRestartFamily { afi, safi, flags })
                        .collect(),
                })
            }),
        (1u32..).prop_map(|asn| Capability::FourOctetAs { asn }),
        prop::collection::vec(family, 0..=63).prop_map(|f| Capability::AddPath(
            f.into_iter()
                .map(|(afi, safi, mode)| AddPathFamily {
                    afi,
                    safi,
                    mode: mode.into()
                })
                .collect()
        )),
        (
            any::<u8>().prop_filter("known code", |c| !matches!(c, 1 | 2 | 64 | 65 | 69 | 70)),
            prop::collection::vec(any::<u8>(), 0..=255)
        )
            .prop_map(|(code, value)| Capability::Unknown { code, value }),
    ]
}

fn arb_open() -> impl Strategy<Value = Open> {
    let param = prop_oneof![
        prop::collection::vec(arb_capability(), 0..6).prop_map(OptionalParameter::Capabilities),
        (
            any::<u8>().prop_filter("capabilities", |t| *t != 2),
            prop::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(param_type, value)| OptionalParameter::Unknown { param_type, value }),
    ];
    (
        1u16..,
        prop_oneof![Just(0u16), 3u16..],
        1u32..,
        prop::collection::vec(param, 0..4),
    )
        .prop_map(|(my_as, hold_time_s, id, optional_parameters)| Open {
            my_as,
            hold_time_s,
            bgp_identifier: Ipv4Addr::from(id),
            optional_parameters,
        })
        .prop_filter("fits in 4096 bytes", |o| o.encoded_len() <= MAX_MESSAGE_LEN)
}

fn arb_prefix() -> impl Strategy<Value = Ipv4Prefix> {
    (any::<u32>(), 0u8..=32).prop_map(|(a, l)| Ipv4Prefix::new(Ipv4Addr::from(a), l).unwrap())
}

fn arb_asn(options: CodecOptions) -> BoxedStrategy<u32> {
    if options.four_octet_as {
        any::<u32>().boxed()
    } else {
        any::<u16>().prop_map(u32::from).boxed()
    }
}

fn arb_as_path(options: CodecOptions) -> impl Strategy<Value = AsPath> {
    let kind = prop_oneof![
        Just(AsSegmentType::AsSet),
        Just(AsSegmentType::AsSequence),
        Just(AsSegmentType::AsConfedSequence),
        Just(AsSegmentType::AsConfedSet),
    ];
    let segment = (kind, prop::collection::vec(arb_asn(options), 1..=255))
        .prop_map(|(kind, asns)| AsSegment { kind, asns });
    prop::collection::vec(segment, 0..3).prop_map(|segments| AsPath { segments })
}

/// Known attributes with their type's Optional/Transitive bits, random Partial where allowed and
/// random Extended Length; unknown optional ones with any flags.
fn arb_attributes(
    options: CodecOptions,
    mandatory: bool,
) -> impl Strategy<Value = Vec<PathAttribute>> {
    let ext = any::<bool>().prop_map(|e| {
        if e {
            AttributeFlags::EXTENDED_LENGTH
        } else {
            0
        }
    });
    let partial = any::<bool>().prop_map(|p| if p { AttributeFlags::PARTIAL } else { 0 });
    let origin = prop_oneof![
        Just(Origin::Igp),
        Just(Origin::Egp),
        Just(Origin::Incomplete)
    ];
    let next_hop = any::<u32>()
        .prop_map(Ipv4Addr::from)
        .prop_filter("unicast", |a| {
            !(a.is_unspecified() || a.is_broadcast() || a.is_multicast())
        });
    let well_known = |v: BoxedStrategy<AttributeValue>| {
        (v, ext.clone())
            .prop_map(|(value, e)| PathAttribute {
                flags: AttributeFlags(0x40 | e),
                value,
            })
            .boxed()
    };
    let opt_transitive = |v: BoxedStrategy<AttributeValue>| {
        (v, ext.clone(), partial.clone())
            .prop_map(|(value, e, p)| PathAttribute {
                flags: AttributeFlags(0xc0 | e | p),
                value,
            })
            .boxed()
    };
    let maybe = |s: BoxedStrategy<PathAttribute>, always: bool| {
        if always {
            s.prop_map(Some).boxed()
        } else {
            prop::option::of(s).boxed()
        }
    };
    let unknown = prop::collection::btree_map(
        any::<u8>().prop_filter("known type", |t| {
            !(1..=8).contains(t) && !matches!(t, 14 | 15)
        }),
        (any::<u8>(), prop::collection::vec(any::<u8>(), 0..300)),
        0..4,
    )
    .prop_map(|m| {
        m.into_iter()
            .map(|(type_code, (flags, value))| PathAttribute {
                flags: AttributeFlags(0x80 | (flags & 0x70)),
                value: AttributeValue::Unknown { type_code, value },
            })
            .collect::<Vec<_>>()
    });
    (
        maybe(
            well_known(origin.prop_map(AttributeValue::Origin).boxed()),
            mandatory,
        ),
        maybe(
            well_known(
                arb_as_path(options)
                    .prop_map(AttributeValue::AsPath)
                    .boxed(),
            ),
            mandatory,
        ),
        maybe(
            well_known(next_hop.prop_map(AttributeValue::NextHop).boxed()),
            mandatory,
        ),
        maybe(
            (any::<u32>(), ext.clone())
                .prop_map(|(v, e)| PathAttribute {
                    flags: AttributeFlags(0x80 | e),
                    value: AttributeValue::MultiExitDisc(v),
                })
                .boxed(),
            false,
        ),
        maybe(
            well_known(any::<u32>().prop_map(AttributeValue::LocalPref).boxed()),
            false,
        ),
        maybe(
            well_known(Just(AttributeValue::AtomicAggregate).boxed()),
            false,
        ),
        maybe(
            opt_transitive(
                (arb_asn(options), any::<u32>())
                    .prop_map(|(asn, a)| AttributeValue::Aggregator {
                        asn,
                        address: a.into(),
                    })
                    .boxed(),
            ),
            false,
        ),
        maybe(
            opt_transitive(
                prop::collection::vec(any::<u32>().prop_map(Community), 0..40)
                    .prop_map(AttributeValue::Communities)
                    .boxed(),
            ),
            false,
        ),
        unknown,
    )
        .prop_map(move |(a, b, c, d, e, f, g, h, unknown)| {
            let mut all: Vec<_> = [a, b, c, d, e, f, g, h].into_iter().flatten().collect();
            all.extend(unknown);
            // A value over 255 bytes always travels with the Extended Length bit.
            for attr in &mut all {
                if attr.value.encoded_len(options) > 255 {
                    attr.flags = attr.flags.with(AttributeFlags::EXTENDED_LENGTH);
                }
            }
            all
        })
        .prop_shuffle()
}

fn arb_update(options: CodecOptions) -> impl Strategy<Value = Update> {
    (
        prop::collection::vec(arb_prefix(), 0..40),
        prop::collection::vec(arb_prefix(), 0..40),
    )
        .prop_flat_map(move |(withdrawn, nlri)| {
            let mandatory = !nlri.is_empty();
            arb_attributes(options, mandatory).prop_map(move |attributes| Update {
                withdrawn: withdrawn.clone(),
                attributes,
                nlri: nlri.clone(),
            })
        })
        .prop_filter("fits in 4096 bytes", move |u| {
            u.encoded_len(options) <= MAX_MESSAGE_LEN
        })
}

fn arb_notification() -> impl Strategy<Value = Notification> {
    (
        any::<u8>(),
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..200),
        ".{0,100}",
    )
        .prop_map(|(code, subcode, data, text)| {
            let error = ErrorCode::from_codes(code, subcode);
            let mut text = text;
            while text.len() > MAX_SHUTDOWN_COMMUNICATION_LEN {
                text.pop();
            }
            Notification {
                error,
                shutdown_communication: error.has_shutdown_communication().then_some(text),
                data,
            }
        })
}

fn arb_route_refresh() -> impl Strategy<Value = RouteRefresh> {
    (
        arb_afi(),
        any::<u8>(),
        arb_safi(),
        prop::collection::vec(any::<u8>(), 0..100),
    )
        .prop_map(|(afi, subtype, safi, orf)| {
            let subtype = RouteRefreshSubtype::from(subtype);
            let fixed = matches!(
                subtype,
                RouteRefreshSubtype::BeginningOfRouteRefresh
                    | RouteRefreshSubtype::EndOfRouteRefresh
            );
            RouteRefresh {
                afi,
                subtype,
                safi,
                orf: if fixed { vec![] } else { orf },
            }
        })
}

fn arb_options() -> impl Strategy<Value = CodecOptions> {
    any::<bool>().prop_map(|four_octet_as| CodecOptions { four_octet_as })
}

fn arb_message() -> impl Strategy<Value = (CodecOptions, Message)> {
    arb_options().prop_flat_map(|options| {
        let msg = prop_oneof![
            arb_open().prop_map(Message::Open),
            arb_update(options).prop_map(Message::Update),
            arb_notification().prop_map(Message::Notification),
            Just(Message::Keepalive(Keepalive)),
            arb_route_refresh().prop_map(Message::RouteRefresh),
        ];
        (Just(options), msg)
    })
}

proptest! {
    #[test]
    fn open_round_trip(open in arb_open()) {
        let mut buf = BytesMut::new();
        open.encode(&mut buf);
        prop_assert_eq!(buf.len(), open.encoded_len());
        prop_assert_eq!(Open::decode(&buf), Ok(open));
    }

    #[test]
    fn update_round_trip((options, update) in arb_options().prop_flat_map(|o| (Just(o), arb_update(o)))) {
        let mut buf = BytesMut::new();
        update.encode(&mut buf, options);
        prop_assert_eq!(buf.len(), update.encoded_len(options));
        prop_assert_eq!(Update::decode(&buf, options), Ok(update));
    }

    #[test]
    fn notification_round_trip(n in arb_notification()) {
        let mut buf = BytesMut::new();
        n.encode(&mut buf);
        prop_assert_eq!(buf.len(), n.encoded_len());
        prop_assert_eq!(Notification::decode(&buf), Ok(n));
    }

    #[test]
    fn route_refresh_round_trip(rr in arb_route_refresh()) {
        let mut buf = BytesMut::new();
        rr.encode(&mut buf);
        prop_assert_eq!(RouteRefresh::decode(&buf), Ok(rr));
    }

    #[test]
    fn message_round_trip((options, msg) in arb_message()) {
        let bytes = encode_msg(&msg, options);
        prop_assert_eq!(Message::decode(&bytes, options), Ok(msg));
    }

    /// Any decodable bytes re-encode to a fixed point: encode∘decode∘encode == encode.
    #[test]
    fn encoding_is_canonical((options, msg) in arb_message(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4)) {
        let mut bytes = encode_msg(&msg, options);
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        if let Ok(decoded) = Message::decode(&bytes, options) {
            let once = encode_msg(&decoded, options);
            let again = Message::decode(&once, options);
            prop_assert_eq!(again.as_ref(), Ok(&decoded));
            prop_assert_eq!(encode_msg(&again.unwrap(), options), once);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding never panics
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decode_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..5000), options in arb_options()) {
        let _ = Message::decode(&bytes, options);
        let _ = Header::decode(&bytes);
    }

    /// A valid header in front of arbitrary bytes, so the body decoders see the garbage.
    #[test]
    fn decode_arbitrary_bodies_never_panics(ty in 1u8..=5, body in prop::collection::vec(any::<u8>(), 0..600), options in arb_options()) {
        let bytes = message(ty, &body);
        if let Err(e) = Message::decode(&bytes, options) {
            let _ = Notification::from(&e).to_string();
            let _ = e.to_string();
        }
    }

    #[test]
    fn decode_mutated_messages_never_panics(
        (options, msg) in arb_message(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode_msg(&msg, options);
        for (i, b) in flips {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        let _ = Message::decode(&bytes, options);
        let _ = Message::decode(&bytes[..cut.index(bytes.len())], options);
    }

    #[test]
    fn framer_never_panics(chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..100), 0..20)) {
        let mut reader = MessageReader::new(FOUR);
        for chunk in &chunks {
            reader.push(chunk);
            while reader.next_message().is_some() {}
        }
    }
}

proptest! {
    /// Valid messages split at arbitrary points come out whole and in order.
    #[test]
    fn framer_reassembles_any_split(
        msgs in prop::collection::vec(arb_message().prop_filter("four-octet", |(o, _)| o.four_octet_as), 1..5),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let bytes: Vec<u8> = msgs.iter().flat_map(|(o, m)| encode_msg(m, *o)).collect();
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        cuts.push(0);
        cuts.push(bytes.len());
        cuts.sort_unstable();
        let mut reader = MessageReader::new(FOUR);
        let mut got = Vec::new();
        for pair in cuts.windows(2) {
            reader.push(&bytes[pair[0]..pair[1]]);
            while let Some(m) = reader.next_message() {
                got.push(m.unwrap());
            }
        }
        let want: Vec<Message> = msgs.into_iter().map(|(_, m)| m).collect();
        prop_assert_eq!(got, want);
        prop_assert_eq!(reader.buffered_len(), 0);
    }
}

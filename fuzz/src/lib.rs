//! The fuzz targets' bodies: one function per decoder, each checking the decoder's contract on
//! any bytes (never a panic, and the round trip or error shape it promises).
//!
//! Two callers, one body: the AFL++ binaries in `fuzz/afl` (one per target, stable toolchain,
//! see docs/fuzzing.md) and the replay test `fuzz/tests/replay.rs`, which runs every committed
//! corpus and regression file of every target under `cargo test --workspace`.
//!
//! A contract violation panics (an `assert!`), which is what both callers look for.

use bgp::bfd::BfdControl;
use bgp::wire::{CodecOptions, Message, MessageReader, Notification};
use bytes::BytesMut;
use l2::wire::{
    Arp, EtherType, EthernetFrame, MacAddr, NdpPacket, ETHERNET_HEADER_LEN, ETHERNET_MIN_FRAME_LEN,
};
use lbsim::scenario::Scenario;
use lbsim::suite::SuiteFile;
use std::path::Path;

/// A named target: its body and the directory name of its corpus.
pub struct Target {
    /// Name of the AFL binary and of `fuzz/corpus/<name>` and `fuzz/regressions/<name>`.
    pub name: &'static str,
    /// The body: panics when the contract is broken.
    pub run: fn(&[u8]),
}

/// Every target, in the order docs/fuzzing.md lists them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "bgp_message",
        run: bgp_message,
    },
    Target {
        name: "bgp_stream",
        run: bgp_stream,
    },
    Target {
        name: "bfd_control",
        run: bfd_control,
    },
    Target {
        name: "l2_frame",
        run: l2_frame,
    },
    Target {
        name: "ndp_packet",
        run: ndp_packet,
    },
    Target {
        name: "scenario",
        run: scenario,
    },
    Target {
        name: "suite",
        run: suite,
    },
];

/// The first input byte picks the codec options (bit 0: 4-octet AS), so both UPDATE layouts
/// get fuzzed; the rest is the input proper.
fn options_and_rest(data: &[u8]) -> Option<(CodecOptions, &[u8])> {
    let (&flag, rest) = data.split_first()?;
    let options = CodecOptions {
        four_octet_as: flag & 1 == 1,
    };
    Some((options, rest))
}

fn encode_message(msg: &Message, options: CodecOptions) -> BytesMut {
    let mut buf = BytesMut::new();
    msg.encode(&mut buf, options);
    assert_eq!(
        buf.len(),
        msg.encoded_len(options),
        "encoded_len of {msg:?}"
    );
    buf
}

/// `Message::decode` (RFC 4271 §4): whatever decodes re-encodes to bytes that decode to the
/// same value and re-encode to the same bytes (the encoding is canonical); whatever fails maps
/// to a NOTIFICATION (§6) that itself survives the wire.
pub fn bgp_message(data: &[u8]) {
    let Some((options, bytes)) = options_and_rest(data) else {
        return;
    };
    match Message::decode(bytes, options) {
        Ok(msg) => {
            let once = encode_message(&msg, options);
            let again = Message::decode(&once, options);
            assert_eq!(again.as_ref(), Ok(&msg), "re-encoded {msg:?}");
            assert_eq!(encode_message(&msg, options), once, "encoding is canonical");
        }
        Err(error) => {
            let _ = error.to_string();
            let notification = Notification::from(&error);
            let mut buf = BytesMut::new();
            notification.encode(&mut buf);
            assert_eq!(
                Notification::decode(&buf),
                Ok(notification),
                "the NOTIFICATION for {error:?}"
            );
        }
    }
}

/// `MessageReader` (RFC 4271 §4.1 framing): the messages read do not depend on how TCP cut the
/// stream. The input is chunks, each a length byte then up to that many bytes; the same bytes
/// pushed whole must give the same messages and the same error, and nothing after an error.
pub fn bgp_stream(data: &[u8]) {
    let Some((options, mut rest)) = options_and_rest(data) else {
        return;
    };
    let mut chunked = MessageReader::new(options);
    let mut got = Vec::new();
    let mut whole_stream = Vec::new();
    while let Some((&len, tail)) = rest.split_first() {
        let (chunk, tail) = tail.split_at(usize::from(len).min(tail.len()));
        chunked.push(chunk);
        whole_stream.extend_from_slice(chunk);
        got.extend(chunked.by_ref());
        rest = tail;
    }
    let mut whole = MessageReader::new(options);
    whole.push(&whole_stream);
    let want: Vec<_> = whole.by_ref().collect();
    assert_eq!(got, want, "chunked and whole streams disagree");
    if let Some(pos) = got.iter().position(Result::is_err) {
        assert_eq!(pos + 1, got.len(), "a message after an error");
        assert!(chunked.has_failed() && whole.has_failed());
    } else {
        assert_eq!(chunked.buffered_len(), whole.buffered_len());
    }
}

/// `BfdControl::decode` (RFC 5880 §6.8.6): whatever decodes re-encodes to its declared length
/// and decodes back to itself.
pub fn bfd_control(data: &[u8]) {
    if let Ok(packet) = BfdControl::decode(data) {
        let mut once = BytesMut::new();
        packet.encode(&mut once);
        assert_eq!(once.len(), packet.encoded_len());
        assert_eq!(BfdControl::decode(&once).as_ref(), Ok(&packet));
    }
}

/// `EthernetFrame::decode` then, for ARP frames, `to_arp` (RFC 826): a frame re-encodes to the
/// same header and payload up to the zero padding to 60 bytes; an ARP message re-encodes, alone
/// and inside a frame, to itself.
pub fn l2_frame(data: &[u8]) {
    let Ok(frame) = EthernetFrame::decode(data) else {
        assert!(
            data.len() < ETHERNET_HEADER_LEN,
            "a whole header must decode"
        );
        return;
    };
    let mut once = BytesMut::new();
    frame.encode(&mut once);
    assert_eq!(once.len(), frame.encoded_len());
    assert!(once.len() >= ETHERNET_MIN_FRAME_LEN);
    let back = EthernetFrame::decode(&once).expect("an encoded frame decodes");
    assert_eq!(
        (back.dst, back.src, back.ethertype),
        (frame.dst, frame.src, frame.ethertype)
    );
    let (payload, padding) = back.payload.split_at(frame.payload.len());
    assert_eq!(payload, frame.payload.as_ref());
    assert!(padding.iter().all(|&b| b == 0), "padding is zeros");

    if frame.ethertype != EtherType::Arp {
        assert!(frame.to_arp().is_err(), "only ARP frames carry ARP");
        return;
    }
    if let Ok(arp) = frame.to_arp() {
        let mut alone = BytesMut::new();
        arp.encode(&mut alone);
        assert_eq!(alone.len(), arp.encoded_len());
        assert_eq!(Arp::decode(&alone).as_ref(), Ok(&arp));
        let framed = EthernetFrame::arp(frame.dst, frame.src, &arp);
        let mut bytes = BytesMut::new();
        framed.encode(&mut bytes);
        let decoded = EthernetFrame::decode(&bytes).expect("an encoded frame decodes");
        assert_eq!(decoded.to_arp().as_ref(), Ok(&arp));
    }
}

/// `NdpPacket::decode` (RFC 4861 NS/NA in their IPv6 header), then `validate`: whatever
/// decodes re-encodes to `encoded_len` bytes that decode to the same value, alone and inside an
/// Ethernet frame, and re-encode to the same bytes; bytes after the IPv6 payload are ignored.
pub fn ndp_packet(data: &[u8]) {
    let Ok(packet) = NdpPacket::decode(data) else {
        return;
    };
    let _ = packet.validate();
    let mut once = BytesMut::new();
    packet.encode(&mut once);
    assert_eq!(
        once.len(),
        packet.encoded_len(),
        "encoded_len of {packet:?}"
    );
    assert!(
        once.len() <= data.len(),
        "an encoding longer than its input"
    );
    assert_eq!(NdpPacket::decode(&once).as_ref(), Ok(&packet));
    let mut again = BytesMut::new();
    packet.encode(&mut again);
    assert_eq!(again, once, "encoding is canonical");
    let frame = packet.frame(MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
    let mut bytes = BytesMut::new();
    frame.encode(&mut bytes);
    let decoded = EthernetFrame::decode(&bytes).expect("an encoded frame decodes");
    assert_eq!(decoded.to_ndp().as_ref(), Ok(&packet));
}

/// Where a loader error points must exist in the input: line 1 to one past the last line,
/// column from 1 (a RON span at end of input points just past the last character).
fn assert_position_in(data: &[u8], position: Option<(usize, usize)>, error: &str) {
    if let Some((line, col)) = position {
        let lines = data.split(|&b| b == b'\n').count();
        assert!(
            (1..=lines + 1).contains(&line),
            "line {line} of {lines}: {error}"
        );
        assert!(col >= 1, "column {col}: {error}");
    }
}

const SCENARIO_FILE: &str = "fuzz.ron";

/// `Scenario::parse_bytes` (the loader behind `sim run` and `sim validate`: UTF-8, BOM, then
/// RON and validation): any bytes give a scenario whose variants resolve, or an error naming
/// the file at a position inside the input.
pub fn scenario(data: &[u8]) {
    match Scenario::parse_bytes(Path::new(SCENARIO_FILE), data) {
        Ok(scenario) => {
            for variant in scenario.variant_list() {
                let _ = scenario.mode_of(&variant);
                let _ = scenario.bgp_of(&variant);
                let _ = scenario.l2_of(&variant);
            }
        }
        Err(error) => {
            let shown = error.to_string();
            assert!(shown.contains(SCENARIO_FILE), "no file name: {shown}");
            assert_position_in(data, error.position, &shown);
        }
    }
}

/// A suite file as `Suite::load` reads it (`input::decode`: UTF-8, BOM; then
/// `SuiteFile::parse`, the suite's own checks; the scenarios it lists are files, not read
/// here): any bytes give a suite or an error naming the file at a position inside the input.
pub fn suite(data: &[u8]) {
    let text = match lbsim::input::decode(data) {
        Ok(text) => text,
        Err(error) => {
            assert_position_in(data, error.position, &error.message);
            return;
        }
    };
    if let Err(error) = SuiteFile::parse(Path::new("suite.ron"), text) {
        let shown = error.to_string();
        assert!(shown.contains("suite.ron"), "no file name: {shown}");
        if let lbsim::suite::SuiteError::File { position, .. } = &error {
            assert_position_in(data, *position, &shown);
        }
    }
}

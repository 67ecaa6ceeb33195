//! `BfdControl::decode` never panics, and whatever decodes re-encodes to a fixed point.
#![no_main]

use bgp::bfd::BfdControl;
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = BfdControl::decode(data) {
        let mut once = BytesMut::new();
        packet.encode(&mut once);
        assert_eq!(BfdControl::decode(&once), Ok(packet));
    }
});

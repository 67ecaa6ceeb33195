//! `Message::decode` never panics, and whatever decodes re-encodes to a fixed point.
#![no_main]

use bgp::wire::{CodecOptions, Message};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flag, bytes)) = data.split_first() else {
        return;
    };
    let options = CodecOptions {
        four_octet_as: flag & 1 == 1,
    };
    if let Ok(msg) = Message::decode(bytes, options) {
        let mut once = BytesMut::new();
        msg.encode(&mut once, options);
        let again = Message::decode(&once, options).expect("re-encoded message decodes");
        assert_eq!(again, msg);
    }
});

//! `MessageReader` never panics on any stream cut at any points.
#![no_main]

use bgp::wire::{CodecOptions, MessageReader};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut reader = MessageReader::new(CodecOptions::FOUR_OCTET_AS);
    // The first byte of each chunk says how long the chunk is.
    let mut rest = data;
    while let Some((&len, tail)) = rest.split_first() {
        let (chunk, tail) = tail.split_at(usize::from(len).min(tail.len()));
        reader.push(chunk);
        while reader.next_message().is_some() {}
        rest = tail;
    }
});

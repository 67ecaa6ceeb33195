//! A cursor over input bytes that keeps nom's combinators (and error types) inside the decoder.
//!
//! Every read returns `None` when the input runs out; callers turn that into the typed
//! [`DecodeError`](super::DecodeError) the RFC prescribes for the field being read, using
//! [`Reader::offset`] to say where. Nothing here indexes a slice, so nothing here can panic.

use nom::bytes::complete::take;
use nom::number::complete::{be_u16, be_u32, be_u8};
use nom::Parser;
use std::net::Ipv4Addr;

type NomError<'a> = nom::error::Error<&'a [u8]>;

/// Reads big-endian fields from a byte slice, tracking the absolute offset in the message.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
    offset: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `input`, whose first byte sits at `offset` in the whole message.
    pub(crate) fn new(input: &'a [u8], offset: usize) -> Self {
        Reader {
            rest: input,
            offset,
        }
    }

    /// Offset, in the whole message, of the next byte to be read.
    pub(crate) fn offset(&self) -> usize {
        self.offset
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// True when everything has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The unread bytes, without consuming them.
    pub(crate) fn peek_rest(&self) -> &'a [u8] {
        self.rest
    }

    fn run<O>(
        &mut self,
        mut parser: impl Parser<&'a [u8], Output = O, Error = NomError<'a>>,
    ) -> Option<O> {
        let (rest, out) = parser.parse(self.rest).ok()?;
        self.offset += self.rest.len() - rest.len();
        self.rest = rest;
        Some(out)
    }

    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.run(be_u8)
    }

    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.run(be_u16)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.run(be_u32)
    }

    pub(crate) fn ipv4(&mut self) -> Option<Ipv4Addr> {
        self.u32().map(Ipv4Addr::from)
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        self.run(take(n))
    }

    /// A reader over the next `n` bytes (offsets stay absolute); `self` moves past them.
    pub(crate) fn sub(&mut self, n: usize) -> Option<Reader<'a>> {
        let offset = self.offset;
        self.take(n).map(|bytes| Reader::new(bytes, offset))
    }
}

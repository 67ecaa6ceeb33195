//! Stream framing: TCP delivers bytes, not messages (RFC 4271 §4.1: the Length field delimits).

use super::error::DecodeError;
use super::header::{self, Header, HEADER_LEN};
use super::message::Message;
use super::CodecOptions;
use bytes::{Buf, BytesMut};

/// Cuts a TCP byte stream into BGP messages: several messages in one segment and one message
/// across several segments both work.
///
/// After a decode error the stream cannot be resynchronised (RFC 4271 §6: send the
/// NOTIFICATION and close), so the reader drops what it holds and yields nothing more.
///
/// ```
/// use bgp::wire::{CodecOptions, Keepalive, Message, MessageReader};
/// use bytes::BytesMut;
///
/// let mut wire = BytesMut::new();
/// Keepalive.encode(&mut wire);
/// let mut reader = MessageReader::new(CodecOptions::FOUR_OCTET_AS);
/// for byte in wire.iter() {
///     reader.push(&[*byte]);
/// }
/// assert_eq!(reader.next_message(), Some(Ok(Message::Keepalive(Keepalive))));
/// ```
#[derive(Debug, Clone)]
pub struct MessageReader {
    buf: BytesMut,
    options: CodecOptions,
    failed: bool,
}

impl MessageReader {
    /// An empty reader. Start with what is known before the OPEN exchange (or the value the
    /// speaker will negotiate) and call [`Self::set_options`] once the OPENs are in.
    pub fn new(options: CodecOptions) -> MessageReader {
        MessageReader {
            buf: BytesMut::new(),
            options,
            failed: false,
        }
    }

    /// Changes how later UPDATEs are decoded. Messages are decoded lazily by
    /// [`Self::next_message`], so bytes already pushed but not yet taken are affected too.
    pub fn set_options(&mut self, options: CodecOptions) {
        self.options = options;
    }

    /// The options in force.
    pub fn options(&self) -> CodecOptions {
        self.options
    }

    /// Appends bytes as they arrive from TCP. Ignored after a decode error.
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Bytes held that do not yet make a whole message.
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// Whether a decode error ended the stream.
    pub fn has_failed(&self) -> bool {
        self.failed
    }

    /// The next whole message, `None` when more bytes are needed (or after an error), or the
    /// error. Header errors show as soon as the header (or a bad marker byte) arrives, before the
    /// rest of the message.
    pub fn next_message(&mut self) -> Option<Result<Message, DecodeError>> {
        if self.failed {
            return None;
        }
        let result = self.try_next()?;
        if result.is_err() {
            self.failed = true;
            self.buf.clear();
        }
        Some(result)
    }

    fn try_next(&mut self) -> Option<Result<Message, DecodeError>> {
        if let Err(e) = header::check_marker_prefix(&self.buf) {
            return Some(Err(e));
        }
        if self.buf.len() < HEADER_LEN {
            return None;
        }
        let header = match Header::decode(&self.buf) {
            Ok(header) => header,
            Err(e) => return Some(Err(e)),
        };
        let len = usize::from(header.length);
        let frame = self.buf.get(..len)?;
        let result = Message::decode(frame, self.options);
        self.buf.advance(len);
        Some(result)
    }
}

impl Iterator for MessageReader {
    type Item = Result<Message, DecodeError>;

    /// Same as [`MessageReader::next_message`].
    fn next(&mut self) -> Option<Self::Item> {
        self.next_message()
    }
}

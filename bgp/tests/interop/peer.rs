//! lbsim's side of the session: the wire codec over a real tokio TCP socket.
//!
//! Not a BGP implementation: the test scripts the messages. This only frames and decodes what
//! the daemon sends (every byte of it, refusing any decode error), keeps the session alive with
//! KEEPALIVEs once the OPENs are exchanged, and notices when the daemon closes the connection.

use bgp::wire::{CodecOptions, Keepalive, Message, MessageReader};
use bytes::BytesMut;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{sleep, sleep_until, timeout, timeout_at, Instant};

/// BGP's TCP port (RFC 4271 §8.2.1).
const BGP_PORT: u16 = 179;

/// One message as the daemon sent it, decoded by lbsim's codec.
#[derive(Debug, Clone)]
pub struct Received {
    /// The decoded message.
    pub message: Message,
    /// Its bytes on the wire, header included.
    pub bytes: Vec<u8>,
}

/// An established TCP connection to the daemon, speaking through lbsim's codec.
pub struct Peer {
    stream: TcpStream,
    reader: MessageReader,
    /// Everything the daemon sent, in order; `consumed` of it are whole decoded messages.
    raw: Vec<u8>,
    consumed: usize,
    received: Vec<Received>,
    /// KEEPALIVE period and next due time, once the OPENs are exchanged.
    keepalive: Option<(Duration, Instant)>,
    closed: bool,
}

impl Peer {
    /// Connects from `local` to `remote`:179, retrying refused attempts until `within` ends (the
    /// daemon accepts only once it has seen its interface come up).
    ///
    /// # Errors
    /// No connection within `within`.
    pub async fn connect(
        local: Ipv4Addr,
        remote: Ipv4Addr,
        within: Duration,
        options: CodecOptions,
    ) -> Result<Peer, String> {
        let deadline = Instant::now() + within;
        let remote = SocketAddr::V4(SocketAddrV4::new(remote, BGP_PORT));
        loop {
            let attempt = async {
                let socket = TcpSocket::new_v4()?;
                socket.bind(SocketAddr::V4(SocketAddrV4::new(local, 0)))?;
                socket.connect(remote).await
            };
            let error = match timeout(Duration::from_secs(1), attempt).await {
                Ok(Ok(stream)) => {
                    stream.set_nodelay(true).map_err(|e| e.to_string())?;
                    return Ok(Peer {
                        stream,
                        reader: MessageReader::new(options),
                        raw: Vec::new(),
                        consumed: 0,
                        received: Vec::new(),
                        keepalive: None,
                        closed: false,
                    });
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => "connect timed out".to_string(),
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "cannot connect to {remote} within {within:?}: {error}"
                ));
            }
            sleep(Duration::from_millis(200)).await;
        }
    }

    /// Encodes and sends one message.
    ///
    /// # Errors
    /// The connection is closed or the write fails.
    pub async fn send(&mut self, message: impl Into<Message>) -> Result<(), String> {
        let message = message.into();
        if self.closed {
            return Err(format!(
                "cannot send {message:?}: the daemon closed the connection"
            ));
        }
        let mut buf = BytesMut::new();
        message.encode(&mut buf, self.reader.options());
        self.stream
            .write_all(&buf)
            .await
            .map_err(|e| format!("sending {:?}: {e}", message.message_type()))
    }

    /// What was negotiated changes how UPDATEs are laid out, both ways.
    pub fn set_options(&mut self, options: CodecOptions) {
        self.reader.set_options(options);
    }

    /// Starts sending a KEEPALIVE every `period`, the first one now.
    pub fn keep_alive(&mut self, period: Duration) {
        self.keepalive = Some((period, Instant::now()));
    }

    /// Every message the daemon sent so far, in order.
    pub fn received(&self) -> &[Received] {
        &self.received
    }

    /// Whether the daemon closed the connection.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Reads and decodes for `period`, sending KEEPALIVEs as they fall due.
    ///
    /// # Errors
    /// A read or write error other than the daemon closing, or bytes the codec refuses.
    pub async fn pump(&mut self, period: Duration) -> Result<(), String> {
        let until = Instant::now() + period;
        let mut buf = [0u8; 4096];
        loop {
            if self.closed {
                sleep_until(until).await;
                return Ok(());
            }
            let mut wake = until;
            if let Some((every, due)) = self.keepalive {
                if due <= Instant::now() {
                    self.send(Keepalive).await?;
                    self.keepalive = Some((every, due + every));
                    continue;
                }
                wake = wake.min(due);
            }
            match timeout_at(wake, self.stream.read(&mut buf)).await {
                Err(_) if wake == until => return Ok(()),
                Err(_) => continue,
                Ok(Ok(0)) => self.closed = true,
                Ok(Ok(n)) => self.take(&buf[..n])?,
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => self.closed = true,
                Ok(Err(e)) => return Err(format!("reading from the daemon: {e}")),
            }
        }
    }

    /// Pumps until `check` gives `Some` (asked first, then every 100 ms), at most `within`.
    ///
    /// # Errors
    /// [`Self::pump`]'s errors, `check`'s errors, or the time ran out.
    pub async fn wait_for<T>(
        &mut self,
        what: &str,
        within: Duration,
        mut check: impl FnMut(&Peer) -> Result<Option<T>, String>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(value) = check(self)? {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(format!("timed out after {within:?} waiting for {what}"));
            }
            self.pump(Duration::from_millis(100)).await?;
        }
    }

    /// Frames and decodes newly read bytes; every whole message must decode.
    fn take(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.raw.extend_from_slice(bytes);
        self.reader.push(bytes);
        while let Some(result) = self.reader.next_message() {
            let start = self.consumed;
            self.consumed = self.raw.len() - self.reader.buffered_len();
            match result {
                Ok(message) => self.received.push(Received {
                    message,
                    bytes: self.raw[start..self.consumed].to_vec(),
                }),
                Err(e) => {
                    return Err(format!(
                        "lbsim's codec refused what the daemon sent: {e}\n\
                         stream from that message on: {}",
                        hex(&self.raw[start..])
                    ))
                }
            }
        }
        Ok(())
    }
}

/// Bytes as hex, for failure messages.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

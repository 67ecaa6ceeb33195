//! The capture sink: classic pcap files of simulated frames, for Wireshark and tshark.
//!
//! ```text
//!  payload ─▶ frame::tcp / frame::udp ─▶ frame::ipv4 ─▶ frame::ethernet ─▶ PcapWriter::write_frame
//! ```
//!
//! The file format is the classic one (not pcapng): a 24-byte global header, then per frame a
//! 16-byte record header and the frame bytes. Timestamps have nanosecond resolution (magic
//! `0xa1b23c4d`), are written little-endian, and are sim time plus a fixed epoch given at
//! construction: nothing here reads the wall clock, so one run always gives one file.
//! Source: <https://www.tcpdump.org/manpages/pcap-savefile.5.txt>.
//!
//! ```
//! use sim_core::pcap::{frame, PcapWriter};
//! use sim_core::SimTime;
//! use std::net::Ipv4Addr;
//!
//! let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
//! let udp = frame::udp(49152, 3784, &[0u8; 24], a, b)?;
//! let ip = frame::ipv4(a, b, frame::IPPROTO_UDP, 255, 1, &udp)?;
//! let eth = frame::ethernet([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], frame::ETHERTYPE_IPV4, &ip);
//!
//! let mut pcap = PcapWriter::new(Vec::new())?;
//! pcap.write_frame(SimTime(1_500_000_000), &eth)?;
//! let bytes = pcap.into_inner();
//! assert_eq!(bytes.len(), 24 + 16 + eth.len());
//! # Ok::<(), std::io::Error>(())
//! ```

use crate::time::{SimDuration, SimTime};
use std::io::{self, Write};

/// Magic number of a classic pcap file with nanosecond timestamps.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// Magic number of a classic pcap file with microsecond timestamps (read only).
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Link type of every record we write: Ethernet II frames without FCS.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// The snapshot length we declare (libpcap's `MAXIMUM_SNAPLEN`); longer frames are cut.
pub const SNAPLEN: u32 = 262_144;
/// Bytes of the global header.
pub const GLOBAL_HEADER_LEN: usize = 24;
/// Bytes of each record header.
pub const RECORD_HEADER_LEN: usize = 16;

/// Writes Ethernet frames to a classic pcap stream.
///
/// The global header is written by the constructor; each [`Self::write_frame`] writes one
/// record. Wrap a file in a `BufWriter`: records are small.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    epoch: SimDuration,
    frames: u64,
}

impl<W: Write> PcapWriter<W> {
    /// A writer whose timestamps start at the Unix epoch (1970-01-01 00:00:00 UTC = sim time 0).
    ///
    /// # Errors
    /// Any error of `out` while writing the global header.
    pub fn new(out: W) -> io::Result<Self> {
        Self::with_epoch(out, SimDuration::ZERO)
    }

    /// A writer that stamps sim time `t` as Unix time `epoch + t`, so Wireshark shows a plausible
    /// date. Pass a fixed value (from the scenario), never the wall clock.
    ///
    /// # Errors
    /// Any error of `out` while writing the global header.
    pub fn with_epoch(mut out: W, epoch: SimDuration) -> io::Result<Self> {
        let mut header = [0u8; GLOBAL_HEADER_LEN];
        header[0..4].copy_from_slice(&MAGIC_NANOS.to_le_bytes());
        header[4..6].copy_from_slice(&2u16.to_le_bytes()); // version 2.4
        header[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone (GMT offset) and sigfigs stay zero, as every writer does.
        header[16..20].copy_from_slice(&SNAPLEN.to_le_bytes());
        header[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        out.write_all(&header)?;
        Ok(PcapWriter {
            out,
            epoch,
            frames: 0,
        })
    }

    /// Appends one frame captured at sim time `time`. Frames longer than [`SNAPLEN`] are cut
    /// to it (the record keeps the original length, as libpcap does).
    ///
    /// # Errors
    /// `InvalidInput` if the timestamp passes the format's 32-bit seconds (year 2106) or the
    /// frame is 4 GiB or more; otherwise any error of the underlying writer.
    pub fn write_frame(&mut self, time: SimTime, frame: &[u8]) -> io::Result<()> {
        let ns = self
            .epoch
            .as_nanos()
            .checked_add(time.as_nanos())
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidInput, "pcap timestamp overflows")
            })?;
        let secs = u32::try_from(ns / 1_000_000_000).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "pcap timestamp past the 32-bit seconds of the classic format",
            )
        })?;
        let nanos = (ns % 1_000_000_000) as u32; // < 1e9, fits
        let orig_len = u32::try_from(frame.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame of 4 GiB or more"))?;
        let incl_len = orig_len.min(SNAPLEN);
        let mut record = [0u8; RECORD_HEADER_LEN];
        record[0..4].copy_from_slice(&secs.to_le_bytes());
        record[4..8].copy_from_slice(&nanos.to_le_bytes());
        record[8..12].copy_from_slice(&incl_len.to_le_bytes());
        record[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.out.write_all(&record)?;
        self.out.write_all(&frame[..incl_len as usize])?;
        self.frames += 1;
        Ok(())
    }

    /// How many frames have been written.
    pub fn frames_written(&self) -> u64 {
        self.frames
    }

    /// Flushes the underlying writer.
    ///
    /// # Errors
    /// Any error of the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// The underlying writer (not flushed: call [`Self::flush`] first for a buffered one).
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// The global header of a capture, as read by [`parse_capture`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureHeader {
    /// Whether timestamps have nanosecond (true) or microsecond (false) resolution.
    pub nanosecond: bool,
    /// Whether the file is big-endian.
    pub big_endian: bool,
    /// Format version, `(2, 4)` in practice.
    pub version: (u16, u16),
    /// Declared snapshot length.
    pub snaplen: u32,
    /// Link type of the records ([`LINKTYPE_ETHERNET`] for ours).
    pub linktype: u32,
}

/// One record of a capture, as read by [`parse_capture`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureRecord<'a> {
    /// Seconds part of the timestamp.
    pub ts_sec: u32,
    /// Sub-second part: nanoseconds or microseconds, as the header says.
    pub ts_frac: u32,
    /// Length of the frame on the wire.
    pub orig_len: u32,
    /// The captured bytes (at most `snaplen`).
    pub data: &'a [u8],
}

/// Why [`parse_capture`] refused its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// The first four bytes are no classic pcap magic number.
    #[error("not a classic pcap file: magic {0:#010x}")]
    BadMagic(u32),
    /// The input ends inside a header or a record.
    #[error("capture truncated at byte {offset}: {what} needs {needed} bytes")]
    Truncated {
        /// Where the incomplete part starts.
        offset: usize,
        /// Which part.
        what: &'static str,
        /// How many bytes it needs.
        needed: usize,
    },
}

/// Reads a whole classic pcap file (either byte order, either resolution), for tests and tools.
/// Never panics.
///
/// # Errors
/// [`CaptureError`] when the magic is unknown or the input ends early.
pub fn parse_capture(
    bytes: &[u8],
) -> Result<(CaptureHeader, Vec<CaptureRecord<'_>>), CaptureError> {
    let header = bytes
        .get(..GLOBAL_HEADER_LEN)
        .ok_or(CaptureError::Truncated {
            offset: 0,
            what: "global header",
            needed: GLOBAL_HEADER_LEN,
        })?;
    let le_magic = u32_at(header, 0, false);
    let (nanosecond, big_endian) = match le_magic {
        MAGIC_NANOS => (true, false),
        MAGIC_MICROS => (false, false),
        m if m.swap_bytes() == MAGIC_NANOS => (true, true),
        m if m.swap_bytes() == MAGIC_MICROS => (false, true),
        m => return Err(CaptureError::BadMagic(m)),
    };
    let u16_at = |at: usize| {
        let b = [header[at], header[at + 1]];
        if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    };
    let global = CaptureHeader {
        nanosecond,
        big_endian,
        version: (u16_at(4), u16_at(6)),
        snaplen: u32_at(header, 16, big_endian),
        linktype: u32_at(header, 20, big_endian),
    };
    let mut records = Vec::new();
    let mut offset = GLOBAL_HEADER_LEN;
    while offset < bytes.len() {
        let rec = bytes
            .get(offset..offset + RECORD_HEADER_LEN)
            .ok_or(CaptureError::Truncated {
                offset,
                what: "record header",
                needed: RECORD_HEADER_LEN,
            })?;
        let incl_len = u32_at(rec, 8, big_endian) as usize;
        let start = offset + RECORD_HEADER_LEN;
        let data = start
            .checked_add(incl_len)
            .and_then(|end| bytes.get(start..end))
            .ok_or(CaptureError::Truncated {
                offset: start,
                what: "record data",
                needed: incl_len,
            })?;
        records.push(CaptureRecord {
            ts_sec: u32_at(rec, 0, big_endian),
            ts_frac: u32_at(rec, 4, big_endian),
            orig_len: u32_at(rec, 12, big_endian),
            data,
        });
        offset = start + incl_len;
    }
    Ok((global, records))
}

/// A u32 at `at`; callers have checked that `bytes` holds `at + 4` bytes.
fn u32_at(bytes: &[u8], at: usize, big_endian: bool) -> u32 {
    let b = [bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]];
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

pub mod frame {
    //! Frame builders (Ethernet II, IPv4, TCP, UDP) with correct checksums, and parsers for
    //! tests.
    //!
    //! The builders are pure functions returning the encoded bytes; layer them inside out
    //! (see the [module example](super)). Checksums follow RFC 1071; the TCP and UDP ones cover
    //! the IPv4 pseudo-header (RFC 9293 §3.1, RFC 768), so the addresses must be the ones given
    //! to [`ipv4`].

    use std::fmt;
    use std::io;
    use std::net::Ipv4Addr;

    /// EtherType of IPv4.
    pub const ETHERTYPE_IPV4: u16 = 0x0800;
    /// EtherType of ARP.
    pub const ETHERTYPE_ARP: u16 = 0x0806;
    /// IPv4 protocol number of TCP.
    pub const IPPROTO_TCP: u8 = 6;
    /// IPv4 protocol number of UDP.
    pub const IPPROTO_UDP: u8 = 17;
    /// Bytes of an Ethernet II header.
    pub const ETHERNET_HEADER_LEN: usize = 14;
    /// Shortest Ethernet frame without its 4-byte FCS; shorter ones are padded with zeros.
    pub const ETHERNET_MIN_LEN: usize = 60;
    /// Bytes of an IPv4 header without options.
    pub const IPV4_HEADER_LEN: usize = 20;
    /// Bytes of a TCP header without options.
    pub const TCP_HEADER_LEN: usize = 20;
    /// Bytes of a UDP header.
    pub const UDP_HEADER_LEN: usize = 8;

    /// A payload too long for the 16-bit length field of its header.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct PayloadTooLong {
        /// Which header: `"IPv4"`, `"TCP"`, `"UDP"`.
        pub layer: &'static str,
        /// The payload length given.
        pub len: usize,
    }

    impl fmt::Display for PayloadTooLong {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "{} payload of {} bytes does not fit a 16-bit length field",
                self.layer, self.len
            )
        }
    }

    impl std::error::Error for PayloadTooLong {}

    impl From<PayloadTooLong> for io::Error {
        fn from(e: PayloadTooLong) -> io::Error {
            io::Error::new(io::ErrorKind::InvalidInput, e)
        }
    }

    /// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of
    /// 16-bit big-endian words, an odd last byte padded with zero. Summing a header that holds
    /// its correct checksum gives 0.
    pub fn internet_checksum(chunks: &[&[u8]]) -> u16 {
        let mut sum: u64 = 0;
        let mut odd: Option<u8> = None;
        for chunk in chunks {
            for &byte in *chunk {
                match odd.take() {
                    Some(high) => sum += u64::from(u16::from_be_bytes([high, byte])),
                    None => odd = Some(byte),
                }
            }
        }
        if let Some(high) = odd {
            sum += u64::from(u16::from_be_bytes([high, 0]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    /// The IPv4 pseudo-header that TCP and UDP checksums cover (RFC 9293 §3.1, RFC 768).
    fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, len: u16) -> [u8; 12] {
        let mut p = [0u8; 12];
        p[0..4].copy_from_slice(&src.octets());
        p[4..8].copy_from_slice(&dst.octets());
        p[9] = protocol;
        p[10..12].copy_from_slice(&len.to_be_bytes());
        p
    }

    /// An Ethernet II frame (no FCS), padded with zeros to [`ETHERNET_MIN_LEN`].
    pub fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let len = (ETHERNET_HEADER_LEN + payload.len()).max(ETHERNET_MIN_LEN);
        let mut f = Vec::with_capacity(len);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&src);
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f.resize(len, 0);
        f
    }

    /// An IPv4 packet (RFC 791): version 4, IHL 5 (no options), DSCP 0, Don't Fragment set,
    /// fragment offset 0, and a correct header checksum.
    ///
    /// # Errors
    /// [`PayloadTooLong`] if the total length passes 65535 bytes.
    pub fn ipv4(
        src: Ipv4Addr,
        dst: Ipv4Addr,
        protocol: u8,
        ttl: u8,
        identification: u16,
        payload: &[u8],
    ) -> Result<Vec<u8>, PayloadTooLong> {
        let total = u16::try_from(IPV4_HEADER_LEN + payload.len()).map_err(|_| PayloadTooLong {
            layer: "IPv4",
            len: payload.len(),
        })?;
        let mut p = Vec::with_capacity(usize::from(total));
        p.push(0x45); // version 4, IHL 5 words
        p.push(0); // DSCP 0, ECN 0
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&identification.to_be_bytes());
        p.extend_from_slice(&0x4000u16.to_be_bytes()); // flags: DF; fragment offset 0
        p.push(ttl);
        p.push(protocol);
        p.extend_from_slice(&[0, 0]); // checksum, filled below
        p.extend_from_slice(&src.octets());
        p.extend_from_slice(&dst.octets());
        let checksum = internet_checksum(&[&p]);
        p[10..12].copy_from_slice(&checksum.to_be_bytes());
        p.extend_from_slice(payload);
        Ok(p)
    }

    /// The TCP control bits this simulation uses (RFC 9293 §3.1); URG, ECE and CWR stay clear.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct TcpFlags {
        /// Synchronize sequence numbers.
        pub syn: bool,
        /// The acknowledgment field is significant.
        pub ack: bool,
        /// No more data from the sender.
        pub fin: bool,
        /// Reset the connection.
        pub rst: bool,
        /// Push function.
        pub psh: bool,
    }

    impl TcpFlags {
        /// The flags byte of the TCP header (CWR ECE URG ACK PSH RST SYN FIN, high to low).
        pub fn to_bits(self) -> u8 {
            u8::from(self.fin)
                | u8::from(self.syn) << 1
                | u8::from(self.rst) << 2
                | u8::from(self.psh) << 3
                | u8::from(self.ack) << 4
        }

        /// The flags this type keeps from a header byte (URG, ECE, CWR are dropped).
        pub fn from_bits(bits: u8) -> TcpFlags {
            TcpFlags {
                fin: bits & 0x01 != 0,
                syn: bits & 0x02 != 0,
                rst: bits & 0x04 != 0,
                psh: bits & 0x08 != 0,
                ack: bits & 0x10 != 0,
            }
        }
    }

    /// The fields of a TCP header that a caller chooses; offsets, checksum and padding are
    /// computed by [`tcp`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct TcpHeader {
        /// Source port.
        pub src_port: u16,
        /// Destination port.
        pub dst_port: u16,
        /// Sequence number.
        pub seq: u32,
        /// Acknowledgment number (meaningful when `flags.ack`; written as given either way).
        pub ack: u32,
        /// Control bits.
        pub flags: TcpFlags,
        /// Receive window.
        pub window: u16,
        /// Maximum Segment Size option (kind 2, RFC 9293 §3.2), sent on SYNs.
        pub mss: Option<u16>,
    }

    /// A TCP segment (RFC 9293 §3.1) with a correct checksum over the IPv4 pseudo-header.
    ///
    /// # Errors
    /// [`PayloadTooLong`] if header and payload pass 65535 bytes.
    pub fn tcp(
        header: &TcpHeader,
        payload: &[u8],
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
    ) -> Result<Vec<u8>, PayloadTooLong> {
        let header_len = TCP_HEADER_LEN + if header.mss.is_some() { 4 } else { 0 };
        let len = u16::try_from(header_len + payload.len()).map_err(|_| PayloadTooLong {
            layer: "TCP",
            len: payload.len(),
        })?;
        let mut s = Vec::with_capacity(usize::from(len));
        s.extend_from_slice(&header.src_port.to_be_bytes());
        s.extend_from_slice(&header.dst_port.to_be_bytes());
        s.extend_from_slice(&header.seq.to_be_bytes());
        s.extend_from_slice(&header.ack.to_be_bytes());
        s.push(((header_len / 4) as u8) << 4); // data offset in words; reserved bits 0
        s.push(header.flags.to_bits());
        s.extend_from_slice(&header.window.to_be_bytes());
        s.extend_from_slice(&[0, 0, 0, 0]); // checksum (filled below), urgent pointer
        if let Some(mss) = header.mss {
            s.extend_from_slice(&[2, 4]);
            s.extend_from_slice(&mss.to_be_bytes());
        }
        s.extend_from_slice(payload);
        let pseudo = pseudo_header(src_ip, dst_ip, IPPROTO_TCP, len);
        let checksum = internet_checksum(&[&pseudo, &s]);
        s[16..18].copy_from_slice(&checksum.to_be_bytes());
        Ok(s)
    }

    /// A UDP datagram (RFC 768) with a correct checksum over the IPv4 pseudo-header; a computed
    /// checksum of 0 is sent as 0xffff, since 0 means "no checksum".
    ///
    /// # Errors
    /// [`PayloadTooLong`] if header and payload pass 65535 bytes.
    pub fn udp(
        src_port: u16,
        dst_port: u16,
        payload: &[u8],
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
    ) -> Result<Vec<u8>, PayloadTooLong> {
        let len = u16::try_from(UDP_HEADER_LEN + payload.len()).map_err(|_| PayloadTooLong {
            layer: "UDP",
            len: payload.len(),
        })?;
        let mut d = Vec::with_capacity(usize::from(len));
        d.extend_from_slice(&src_port.to_be_bytes());
        d.extend_from_slice(&dst_port.to_be_bytes());
        d.extend_from_slice(&len.to_be_bytes());
        d.extend_from_slice(&[0, 0]);
        d.extend_from_slice(payload);
        let pseudo = pseudo_header(src_ip, dst_ip, IPPROTO_UDP, len);
        let checksum = match internet_checksum(&[&pseudo, &d]) {
            0 => 0xffff,
            c => c,
        };
        d[6..8].copy_from_slice(&checksum.to_be_bytes());
        Ok(d)
    }

    /// Why a parser refused its input: which layer, where, what.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct MalformedFrame {
        /// `"Ethernet"`, `"IPv4"`, `"TCP"` or `"UDP"`.
        pub layer: &'static str,
        /// Byte offset in that layer's input where the problem is.
        pub offset: usize,
        /// What is wrong.
        pub reason: &'static str,
    }

    impl fmt::Display for MalformedFrame {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "malformed {} at byte {}: {}",
                self.layer, self.offset, self.reason
            )
        }
    }

    impl std::error::Error for MalformedFrame {}

    fn malformed(layer: &'static str, offset: usize, reason: &'static str) -> MalformedFrame {
        MalformedFrame {
            layer,
            offset,
            reason,
        }
    }

    fn be16(b: &[u8], at: usize) -> u16 {
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    /// An Ethernet II frame as read by [`parse_ethernet`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct EthernetView<'a> {
        /// Destination MAC.
        pub dst: [u8; 6],
        /// Source MAC.
        pub src: [u8; 6],
        /// EtherType.
        pub ethertype: u16,
        /// Everything after the header, padding included.
        pub payload: &'a [u8],
    }

    /// Reads an Ethernet II header. Never panics.
    ///
    /// # Errors
    /// [`MalformedFrame`] if the frame is shorter than the header.
    pub fn parse_ethernet(f: &[u8]) -> Result<EthernetView<'_>, MalformedFrame> {
        if f.len() < ETHERNET_HEADER_LEN {
            return Err(malformed("Ethernet", f.len(), "shorter than 14 bytes"));
        }
        let mut dst = [0u8; 6];
        let mut src = [0u8; 6];
        dst.copy_from_slice(&f[0..6]);
        src.copy_from_slice(&f[6..12]);
        Ok(EthernetView {
            dst,
            src,
            ethertype: be16(f, 12),
            payload: &f[ETHERNET_HEADER_LEN..],
        })
    }

    /// An IPv4 packet as read by [`parse_ipv4`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Ipv4View<'a> {
        /// Source address.
        pub src: Ipv4Addr,
        /// Destination address.
        pub dst: Ipv4Addr,
        /// Protocol number.
        pub protocol: u8,
        /// Time to live.
        pub ttl: u8,
        /// Identification.
        pub identification: u16,
        /// Don't Fragment bit.
        pub dont_fragment: bool,
        /// Whether the header checksum verifies.
        pub checksum_ok: bool,
        /// The payload, cut at the total length (Ethernet padding removed).
        pub payload: &'a [u8],
    }

    /// Reads an IPv4 header (options skipped). Never panics.
    ///
    /// # Errors
    /// [`MalformedFrame`] on a wrong version, a header length below 20 or past the input, or a
    /// total length that disagrees with the input.
    pub fn parse_ipv4(p: &[u8]) -> Result<Ipv4View<'_>, MalformedFrame> {
        if p.len() < IPV4_HEADER_LEN {
            return Err(malformed("IPv4", p.len(), "shorter than 20 bytes"));
        }
        if p[0] >> 4 != 4 {
            return Err(malformed("IPv4", 0, "version is not 4"));
        }
        let ihl = usize::from(p[0] & 0x0f) * 4;
        if ihl < IPV4_HEADER_LEN {
            return Err(malformed("IPv4", 0, "header length below 20 bytes"));
        }
        let total = usize::from(be16(p, 2));
        if total < ihl || total > p.len() {
            return Err(malformed("IPv4", 2, "total length outside the packet"));
        }
        Ok(Ipv4View {
            src: Ipv4Addr::new(p[12], p[13], p[14], p[15]),
            dst: Ipv4Addr::new(p[16], p[17], p[18], p[19]),
            protocol: p[9],
            ttl: p[8],
            identification: be16(p, 4),
            dont_fragment: p[6] & 0x40 != 0,
            checksum_ok: internet_checksum(&[&p[..ihl]]) == 0,
            payload: &p[ihl..total],
        })
    }

    /// A TCP segment as read by [`parse_tcp`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct TcpView<'a> {
        /// The header fields (only the MSS option is kept).
        pub header: TcpHeader,
        /// Whether the checksum verifies over the pseudo-header of the addresses given.
        pub checksum_ok: bool,
        /// The payload.
        pub payload: &'a [u8],
    }

    /// Reads a TCP segment; `src_ip` and `dst_ip` are those of the carrying IPv4 header, for
    /// the checksum. Options other than MSS are skipped. Never panics.
    ///
    /// # Errors
    /// [`MalformedFrame`] on a data offset below 5 words or past the input, or a segment longer
    /// than 65535 bytes.
    pub fn parse_tcp(
        s: &[u8],
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
    ) -> Result<TcpView<'_>, MalformedFrame> {
        if s.len() < TCP_HEADER_LEN {
            return Err(malformed("TCP", s.len(), "shorter than 20 bytes"));
        }
        let len =
            u16::try_from(s.len()).map_err(|_| malformed("TCP", 0, "longer than 65535 bytes"))?;
        let offset = usize::from(s[12] >> 4) * 4;
        if offset < TCP_HEADER_LEN || offset > s.len() {
            return Err(malformed("TCP", 12, "data offset outside the segment"));
        }
        let mut mss = None;
        let mut at = TCP_HEADER_LEN;
        while at < offset {
            match s[at] {
                0 => break,   // End of Option List
                1 => at += 1, // No-Operation
                kind => {
                    let opt_len = match s.get(at + 1) {
                        Some(&l) if l >= 2 && at + usize::from(l) <= offset => usize::from(l),
                        _ => return Err(malformed("TCP", at, "option length outside the header")),
                    };
                    if kind == 2 && opt_len == 4 {
                        mss = Some(be16(s, at + 2));
                    }
                    at += opt_len;
                }
            }
        }
        let pseudo = pseudo_header(src_ip, dst_ip, IPPROTO_TCP, len);
        Ok(TcpView {
            header: TcpHeader {
                src_port: be16(s, 0),
                dst_port: be16(s, 2),
                seq: be32(s, 4),
                ack: be32(s, 8),
                flags: TcpFlags::from_bits(s[13]),
                window: be16(s, 14),
                mss,
            },
            checksum_ok: internet_checksum(&[&pseudo, s]) == 0,
            payload: &s[offset..],
        })
    }

    /// A UDP datagram as read by [`parse_udp`].
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct UdpView<'a> {
        /// Source port.
        pub src_port: u16,
        /// Destination port.
        pub dst_port: u16,
        /// Whether the checksum verifies (true when the sender sent none, 0).
        pub checksum_ok: bool,
        /// The payload, cut at the UDP length.
        pub payload: &'a [u8],
    }

    /// Reads a UDP datagram; `src_ip` and `dst_ip` are those of the carrying IPv4 header.
    /// Never panics.
    ///
    /// # Errors
    /// [`MalformedFrame`] if the length field is below 8 or past the input.
    pub fn parse_udp(
        d: &[u8],
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
    ) -> Result<UdpView<'_>, MalformedFrame> {
        if d.len() < UDP_HEADER_LEN {
            return Err(malformed("UDP", d.len(), "shorter than 8 bytes"));
        }
        let len = be16(d, 4);
        let end = usize::from(len);
        if end < UDP_HEADER_LEN || end > d.len() {
            return Err(malformed("UDP", 4, "length outside the datagram"));
        }
        let pseudo = pseudo_header(src_ip, dst_ip, IPPROTO_UDP, len);
        Ok(UdpView {
            src_port: be16(d, 0),
            dst_port: be16(d, 2),
            checksum_ok: be16(d, 6) == 0 || internet_checksum(&[&pseudo, &d[..end]]) == 0,
            payload: &d[UDP_HEADER_LEN..end],
        })
    }
}

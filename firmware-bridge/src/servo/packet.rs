//! Packets of the two servo protocols, both directions: what a host sends (instructions) and
//! what a servo answers (status packets), so the driver and the simulated bus share one parser.
//!
//! **Feetech SCS/STS** (Dynamixel Protocol 1.0's layout):
//! `FF FF id len x params… checksum`, `len = params + 2`, `checksum = !(id + len + x + Σparams)`;
//! `x` is the instruction, or in a status packet the servo's error bits.
//!
//! **Dynamixel Protocol 2.0**: `FF FF FD 00 id len_lo len_hi x params… crc_lo crc_hi`,
//! `len = params + 3`; CRC-16 with polynomial 0x8005 (initial 0, not reflected) over every byte
//! before it; byte stuffing puts an extra `FD` after every `FF FF FD` from `x` on, so the
//! header never appears inside a packet. A status packet's `x` is `0x55` and its first parameter
//! the error byte.

use std::ops::Range;

/// Which protocol a bus speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// Feetech SCS/STS (SO-100/101's STS3215).
    Feetech,
    /// Dynamixel Protocol 2.0 (X series).
    Dynamixel,
}

impl std::str::FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "feetech" => Ok(Self::Feetech),
            "dynamixel" => Ok(Self::Dynamixel),
            _ => Err(format!("unknown protocol `{s}` (feetech, dynamixel)")),
        }
    }
}

/// Instruction codes (the same numbers in both protocols).
pub mod inst {
    /// Is anyone there?
    pub const PING: u8 = 0x01;
    /// Read registers.
    pub const READ: u8 = 0x02;
    /// Write registers.
    pub const WRITE: u8 = 0x03;
    /// One register range of many servos, each answering in turn.
    pub const SYNC_READ: u8 = 0x82;
    /// One register range of many servos, no answer.
    pub const SYNC_WRITE: u8 = 0x83;
    /// Dynamixel 2.0's status packet.
    pub const STATUS: u8 = 0x55;
}

/// Every servo listens to this id; none answers it.
pub const BROADCAST: u8 = 0xFE;

/// Longest packet either side accepts (longer length fields are garbage).
pub const MAX_PACKET: usize = 1024;

/// What a byte buffer starts with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Not enough bytes yet: the packet needs this many in all.
    Need(usize),
    /// Bytes before a header (noise, a partial packet): drop this many.
    Skip(usize),
    /// A header whose packet is broken: drop this many and report `reason`.
    Bad {
        /// Bytes to drop.
        skip: usize,
        /// What was wrong.
        reason: String,
    },
    /// A whole packet.
    Packet {
        /// Its id.
        id: u8,
        /// Instruction, or the status packet's marker/error byte.
        x: u8,
        /// The parameters' bytes (still stuffed, for Dynamixel).
        params: Range<usize>,
        /// Its length in bytes.
        len: usize,
    },
}

fn header_at(buf: &[u8], header: &[u8]) -> Option<usize> {
    buf.windows(header.len()).position(|w| w == header)
}

/// Feetech's checksum of `id len x params`.
#[must_use]
pub fn feetech_checksum(bytes: &[u8]) -> u8 {
    !bytes.iter().fold(0u8, |a, &b| a.wrapping_add(b))
}

/// Dynamixel 2.0's CRC-16 (polynomial 0x8005, initial 0, MSB first).
#[must_use]
pub fn dynamixel_crc(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 { crc << 1 } else { (crc << 1) ^ 0x8005 };
        }
    }
    crc
}

impl Protocol {
    /// Parse the start of `buf`.
    #[must_use]
    pub fn frame(self, buf: &[u8]) -> Frame {
        match self {
            Self::Feetech => feetech_frame(buf),
            Self::Dynamixel => dynamixel_frame(buf),
        }
    }

    /// Append a packet (`x` an instruction or error byte) to `out`.
    pub fn packet(self, id: u8, x: u8, params: &[u8], out: &mut Vec<u8>) {
        match self {
            Self::Feetech => {
                let start = out.len();
                out.extend_from_slice(&[0xFF, 0xFF, id, (params.len() + 2) as u8, x]);
                out.extend_from_slice(params);
                let sum = feetech_checksum(&out[start + 2..]);
                out.push(sum);
            }
            Self::Dynamixel => {
                let start = out.len();
                out.extend_from_slice(&[0xFF, 0xFF, 0xFD, 0x00, id, 0, 0, x]);
                for &b in params {
                    out.push(b);
                    let n = out.len();
                    if b == 0xFD && out[n - 2] == 0xFF && out[n - 3] == 0xFF {
                        out.push(0xFD);
                    }
                }
                let len = (out.len() - start - 8 + 3) as u16;
                out[start + 5..start + 7].copy_from_slice(&len.to_le_bytes());
                let crc = dynamixel_crc(&out[start..]);
                out.extend_from_slice(&crc.to_le_bytes());
            }
        }
    }

    /// Append a status packet: Feetech's error byte in place of the instruction, Dynamixel's
    /// `0x55` then the error byte as the first parameter.
    pub fn status(self, id: u8, error: u8, params: &[u8], out: &mut Vec<u8>) {
        match self {
            Self::Feetech => self.packet(id, error, params, out),
            Self::Dynamixel => {
                let mut p = Vec::with_capacity(params.len() + 1);
                p.push(error);
                p.extend_from_slice(params);
                self.packet(id, inst::STATUS, &p, out);
            }
        }
    }

    /// The parameters of a parsed packet, unstuffed, into `out` (cleared first).
    pub fn params(self, buf: &[u8], params: Range<usize>, out: &mut Vec<u8>) {
        out.clear();
        match self {
            Self::Feetech => out.extend_from_slice(&buf[params]),
            Self::Dynamixel => {
                // `FF FF FD FD` in the stuffed bytes stands for `FF FF FD` (the bytes before
                // the parameters count as context).
                for k in params {
                    let stuffed = buf[k] == 0xFD
                        && buf[k - 1] == 0xFD
                        && buf[k - 2] == 0xFF
                        && buf[k - 3] == 0xFF;
                    if !stuffed {
                        out.push(buf[k]);
                    }
                }
            }
        }
    }

    /// Register addresses and lengths as a protocol writes them (Feetech one byte each,
    /// Dynamixel two).
    pub fn address(self, addr: u16, len: u16, out: &mut Vec<u8>) {
        match self {
            Self::Feetech => out.extend_from_slice(&[addr as u8, len as u8]),
            Self::Dynamixel => {
                out.extend_from_slice(&addr.to_le_bytes());
                out.extend_from_slice(&len.to_le_bytes());
            }
        }
    }

    /// Read `(addr, len)` back from the start of instruction parameters; `None` if too short.
    #[must_use]
    pub fn parse_address(self, p: &[u8]) -> Option<(u16, u16, usize)> {
        match self {
            Self::Feetech => (p.len() >= 2).then(|| (u16::from(p[0]), u16::from(p[1]), 2)),
            Self::Dynamixel => (p.len() >= 4)
                .then(|| (u16::from_le_bytes([p[0], p[1]]), u16::from_le_bytes([p[2], p[3]]), 4)),
        }
    }

    /// A write instruction's start address and data; `None` without data.
    #[must_use]
    pub fn parse_write(self, p: &[u8]) -> Option<(u16, &[u8])> {
        let w = self.address_width();
        (p.len() > w).then(|| {
            let addr = if w == 1 { u16::from(p[0]) } else { u16::from_le_bytes([p[0], p[1]]) };
            (addr, &p[w..])
        })
    }

    /// A write's start address: Feetech one byte, Dynamixel two.
    #[must_use]
    pub fn address_width(self) -> usize {
        match self {
            Self::Feetech => 1,
            Self::Dynamixel => 2,
        }
    }

    /// The servo error bits of a status packet, in words; `None` when clear.
    #[must_use]
    pub fn error_text(self, error: u8) -> Option<String> {
        if error == 0 {
            return None;
        }
        let mut parts = Vec::new();
        match self {
            Self::Feetech => {
                for (bit, name) in [
                    (1, "input voltage out of range"),
                    (2, "angle sensor error"),
                    (4, "overheated"),
                    (8, "overcurrent"),
                    (32, "overloaded"),
                ] {
                    if error & bit != 0 {
                        parts.push(name.to_owned());
                    }
                }
                if parts.is_empty() {
                    parts.push(format!("error bits {error:#04x}"));
                }
            }
            Self::Dynamixel => {
                if error & 0x80 != 0 {
                    parts.push("hardware alert (read Hardware_Error_Status)".to_owned());
                }
                let num = error & 0x7F;
                if num != 0 {
                    parts.push(
                        match num {
                            1 => "result fail",
                            2 => "instruction error",
                            3 => "CRC error",
                            4 => "data range error",
                            5 => "data length error",
                            6 => "data limit error",
                            7 => "access error",
                            _ => "unknown error",
                        }
                        .to_owned(),
                    );
                }
            }
        }
        Some(parts.join(", "))
    }
}

fn feetech_frame(buf: &[u8]) -> Frame {
    let Some(at) = header_at(buf, &[0xFF, 0xFF]) else {
        // Keep a trailing 0xFF: it may start the next header.
        let keep = usize::from(buf.last() == Some(&0xFF));
        return if buf.len() > keep { Frame::Skip(buf.len() - keep) } else { Frame::Need(2) };
    };
    if at > 0 {
        return Frame::Skip(at);
    }
    if buf.len() < 4 {
        return Frame::Need(4);
    }
    let id = buf[2];
    if id == 0xFF {
        return Frame::Skip(1);
    }
    let len = buf[3] as usize;
    if len < 2 {
        return Frame::Bad { skip: 2, reason: format!("length byte {len} is below 2") };
    }
    let total = len + 4;
    if buf.len() < total {
        return Frame::Need(total);
    }
    let sum = feetech_checksum(&buf[2..total - 1]);
    if sum != buf[total - 1] {
        return Frame::Bad {
            skip: 2,
            reason: format!("checksum {:#04x}, computed {sum:#04x}", buf[total - 1]),
        };
    }
    Frame::Packet { id, x: buf[4], params: 5..total - 1, len: total }
}

fn dynamixel_frame(buf: &[u8]) -> Frame {
    let header = [0xFF, 0xFF, 0xFD, 0x00];
    let Some(at) = header_at(buf, &header) else {
        // Keep a tail that may be the start of a header.
        let keep = (1..=3.min(buf.len()))
            .rev()
            .find(|&k| buf[buf.len() - k..] == header[..k])
            .unwrap_or(0);
        return if buf.len() > keep { Frame::Skip(buf.len() - keep) } else { Frame::Need(4) };
    };
    if at > 0 {
        return Frame::Skip(at);
    }
    if buf.len() < 7 {
        return Frame::Need(7);
    }
    let id = buf[4];
    if id == 0xFF {
        return Frame::Bad { skip: 4, reason: "id 0xFF".into() };
    }
    let len = u16::from_le_bytes([buf[5], buf[6]]) as usize;
    if len < 3 || len + 7 > MAX_PACKET {
        return Frame::Bad { skip: 4, reason: format!("length field {len} is out of range") };
    }
    let total = len + 7;
    if buf.len() < total {
        return Frame::Need(total);
    }
    let crc = dynamixel_crc(&buf[..total - 2]);
    let carried = u16::from_le_bytes([buf[total - 2], buf[total - 1]]);
    if crc != carried {
        return Frame::Bad { skip: 4, reason: format!("CRC {carried:#06x}, computed {crc:#06x}") };
    }
    Frame::Packet { id, x: buf[7], params: 8..total - 2, len: total }
}

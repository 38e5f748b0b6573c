//! `spelunk-wire`: the messages a Spelunk host and a robot's own firmware exchange, and how they
//! are framed on a byte stream (a UART, a USB CDC port, a UDP datagram).
//!
//! `#![no_std]` and no allocator: a microcontroller links the same code as the host, so the
//! two can never disagree on a byte.
//!
//! A frame on the wire, byte by byte (all integers and floats little-endian):
//!
//! ```text
//! COBS( version:u8 | kind:u8 | body | crc16:u16 ) 0x00
//! ```
//!
//! - COBS byte stuffing (Cheshire and Baker, 1999) removes every zero from the payload, so a
//!   `0x00` always ends a frame and a receiver that joins mid-stream, or loses bytes, resyncs
//!   at the next zero;
//! - `version` is [`VERSION`]; a frame of another version is reported, never guessed at;
//! - `crc16` is CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF, no reflection) over
//!   `version | kind | body`;
//! - the payload is at most [`MAX_PAYLOAD`] bytes, the encoded frame at most [`MAX_FRAME`];
//!   longer runs of bytes without a zero are reported once and skipped.
//!
//! Bodies (`n` ≤ [`MAX_JOINTS`] joints):
//!
//! | kind | message | body |
//! |---|---|---|
//! | 1 | [`Hello`] | firmware:u16, device_id:u32, joints:u8 |
//! | 2 | [`JointTargets`] | seq:u32, deadline_us:u32, n:u8, n × position:f32 |
//! | 3 | [`JointStates`] | seq:u32, timestamp_us:u64, n:u8, n × (position:f32, velocity:f32, load:i16, temperature:u8, flags:u8) |
//! | 4 | heartbeat | seq:u32 |
//! | 5 | e-stop | reason:u8 |
//! | 6 | reset | (empty) |
//! | 7 | [`Limits`] | n:u8, n × (lower:f32, upper:f32, max_velocity:f32, max_step:f32) |
//! | 8 | [`Fault`] | code:u8, joint:u8, detail:u16 |
//!
//! Every decoded message has been checked: exact body length, joint count, finite numbers,
//! ordered limits, known fault codes. A bad frame is an error naming what was wrong, and the
//! [`Decoder`] carries on with the next frame.

#![no_std]

use core::fmt;

/// The protocol version this crate speaks.
pub const VERSION: u8 = 1;
/// Most joints one message carries.
pub const MAX_JOINTS: usize = 8;
/// Longest body (a [`Limits`] message for [`MAX_JOINTS`] joints).
pub const MAX_BODY: usize = 1 + 16 * MAX_JOINTS;
/// Longest payload: version, kind, body, CRC.
pub const MAX_PAYLOAD: usize = 2 + MAX_BODY + 2;
/// Longest frame on the wire: the COBS-encoded payload (one overhead byte per 254) and the
/// closing zero.
pub const MAX_FRAME: usize = MAX_PAYLOAD + MAX_PAYLOAD.div_ceil(254) + 1;

/// Joint status flags in [`JointState::flags`].
pub mod flags {
    /// Temperature above the firmware's limit.
    pub const OVERHEAT: u8 = 1;
    /// Load above the firmware's limit.
    pub const OVERLOAD: u8 = 1 << 1;
    /// Supply voltage out of range.
    pub const VOLTAGE: u8 = 1 << 2;
    /// The joint sits at one of its limits (a target was clipped).
    pub const AT_LIMIT: u8 = 1 << 3;
    /// Torque is off.
    pub const TORQUE_OFF: u8 = 1 << 4;
    /// The firmware is holding because targets stopped or expired (its watchdog).
    pub const HOLDING: u8 = 1 << 5;
    /// The firmware's e-stop is latched.
    pub const ESTOP: u8 = 1 << 6;
}

/// What a device says first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// Firmware version.
    pub firmware: u16,
    /// The device's own id (a serial number).
    pub device_id: u32,
    /// Joints the device drives.
    pub joints: u8,
}

/// Joint positions to move to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JointTargets {
    /// Sequence number; the device echoes the last one it applied in [`JointStates::seq`].
    pub seq: u32,
    /// The targets expire this long after they arrive, µs: a device that has not applied them
    /// by then (or receives nothing newer) holds.
    pub deadline_us: u32,
    /// Joints used (the first `n` of `positions`).
    pub n: u8,
    /// Positions, rad (revolute) or m (prismatic).
    pub positions: [f32; MAX_JOINTS],
}

/// One joint's measured state.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct JointState {
    /// Position, rad or m.
    pub position: f32,
    /// Velocity, rad/s or m/s.
    pub velocity: f32,
    /// Load, per mille of the rated torque (signed).
    pub load: i16,
    /// Temperature, °C.
    pub temperature: u8,
    /// [`flags`].
    pub flags: u8,
}

/// The device's joints as measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JointStates {
    /// The last [`JointTargets::seq`] applied.
    pub seq: u32,
    /// The device's clock, µs.
    pub timestamp_us: u64,
    /// Joints used.
    pub n: u8,
    /// Each joint's state.
    pub joints: [JointState; MAX_JOINTS],
}

/// One joint's limits, enforced by the firmware as well as by the host.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct JointLimit {
    /// Lowest position.
    pub lower: f32,
    /// Highest position.
    pub upper: f32,
    /// Largest speed, units/s.
    pub max_velocity: f32,
    /// Largest change of target from one message to the next.
    pub max_step: f32,
}

/// Limits for each joint.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// Joints used.
    pub n: u8,
    /// Each joint's limits.
    pub joints: [JointLimit; MAX_JOINTS],
}

/// Why a device reports a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FaultCode {
    /// Commands stopped or expired: the watchdog fired.
    Watchdog = 1,
    /// The e-stop latched.
    EStop = 2,
    /// A target outside the limits was clipped.
    Limit = 3,
    /// A joint is too hot.
    Overheat = 4,
    /// A joint is overloaded.
    Overload = 5,
    /// Supply voltage out of range.
    Voltage = 6,
    /// The device received a frame it could not decode.
    BadFrame = 7,
}

impl FaultCode {
    fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Watchdog,
            2 => Self::EStop,
            3 => Self::Limit,
            4 => Self::Overheat,
            5 => Self::Overload,
            6 => Self::Voltage,
            7 => Self::BadFrame,
            _ => return None,
        })
    }
}

/// A fault report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// What happened.
    pub code: FaultCode,
    /// Which joint (`0xFF` for the device as a whole).
    pub joint: u8,
    /// Code-specific detail (a temperature, the frame error's kind, ...).
    pub detail: u16,
}

/// Every message of the protocol.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Message {
    /// Device → host, first.
    Hello(Hello),
    /// Host → device.
    JointTargets(JointTargets),
    /// Device → host.
    JointStates(JointStates),
    /// Either way: "I am alive" (the host sends it while it has no new targets).
    Heartbeat {
        /// Sequence number.
        seq: u32,
    },
    /// Either way: stop now and stay stopped until a reset.
    EStop {
        /// Why (free for the application; 0 = unspecified).
        reason: u8,
    },
    /// Host → device: clear a latched e-stop.
    Reset,
    /// Host → device.
    Limits(Limits),
    /// Device → host.
    Fault(Fault),
}

impl Message {
    fn kind(&self) -> u8 {
        match self {
            Self::Hello(_) => 1,
            Self::JointTargets(_) => 2,
            Self::JointStates(_) => 3,
            Self::Heartbeat { .. } => 4,
            Self::EStop { .. } => 5,
            Self::Reset => 6,
            Self::Limits(_) => 7,
            Self::Fault(_) => 8,
        }
    }
}

/// What was wrong with a frame or a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// More than [`MAX_FRAME`] bytes without a closing zero (the bytes were skipped).
    TooLong,
    /// The COBS encoding is broken (a code byte points past the frame's end).
    Cobs,
    /// Fewer bytes than version, kind and CRC.
    Short {
        /// Payload bytes received.
        len: usize,
    },
    /// The CRC does not match.
    Crc {
        /// CRC computed over the payload.
        computed: u16,
        /// CRC the frame carried.
        carried: u16,
    },
    /// Another protocol version.
    Version(u8),
    /// An unknown message kind.
    Kind(u8),
    /// The body's length is wrong for its kind.
    Length {
        /// Message kind.
        kind: u8,
        /// Bytes its header implies.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// More joints than [`MAX_JOINTS`].
    Joints(u8),
    /// A number that must be finite is not (NaN or infinite).
    NotFinite {
        /// Which field.
        field: &'static str,
        /// Which joint.
        joint: u8,
    },
    /// A limit with `lower > upper`, or a negative speed or step.
    Range {
        /// Which field.
        field: &'static str,
        /// Which joint.
        joint: u8,
    },
    /// An unknown fault code.
    FaultCode(u8),
    /// The output buffer is too small (encoding only).
    Buffer,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => write!(f, "more than {MAX_FRAME} bytes without a frame end (skipped)"),
            Self::Cobs => write!(f, "broken byte stuffing (COBS)"),
            Self::Short { len } => {
                write!(f, "a {len}-byte frame is shorter than its header and CRC")
            }
            Self::Crc { computed, carried } => {
                write!(f, "CRC mismatch: computed {computed:#06x}, frame carries {carried:#06x}")
            }
            Self::Version(v) => write!(f, "protocol version {v}, this side speaks {VERSION}"),
            Self::Kind(k) => write!(f, "unknown message kind {k}"),
            Self::Length { kind, expected, got } => {
                write!(f, "message kind {kind}: body of {got} bytes, expected {expected}")
            }
            Self::Joints(n) => write!(f, "{n} joints, at most {MAX_JOINTS}"),
            Self::NotFinite { field, joint } => write!(f, "{field} of joint {joint} is not finite"),
            Self::Range { field, joint } => write!(f, "{field} of joint {joint} is out of range"),
            Self::FaultCode(c) => write!(f, "unknown fault code {c}"),
            Self::Buffer => write!(f, "output buffer too small"),
        }
    }
}

impl core::error::Error for WireError {}

/// CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor); the check
/// value of `b"123456789"` is 0x29B1.
#[must_use]
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in bytes {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 == 0 { crc << 1 } else { (crc << 1) ^ 0x1021 };
        }
    }
    crc
}

/// COBS-encode `src` into `dst` (no closing zero); returns the encoded length.
///
/// # Errors
/// [`WireError::Buffer`] when `dst` is too small (it needs `src.len() + src.len() / 254 + 1`).
pub fn cobs_encode(src: &[u8], dst: &mut [u8]) -> Result<usize, WireError> {
    if dst.len() < src.len() + src.len() / 254 + 1 {
        return Err(WireError::Buffer);
    }
    let mut code_at = 0;
    let mut out = 1;
    let mut code: u8 = 1;
    for (k, &b) in src.iter().enumerate() {
        if b == 0 {
            dst[code_at] = code;
            code_at = out;
            out += 1;
            code = 1;
        } else {
            dst[out] = b;
            out += 1;
            code += 1;
            // A full block ends; a new one starts only if bytes follow (canonical COBS).
            if code == 0xFF && k + 1 < src.len() {
                dst[code_at] = code;
                code_at = out;
                out += 1;
                code = 1;
            }
        }
    }
    dst[code_at] = code;
    Ok(out)
}

/// COBS-decode `buf` (one frame without its closing zero) in place; returns the decoded length.
///
/// # Errors
/// [`WireError::Cobs`] on a zero inside the frame or a code byte that runs past its end.
pub fn cobs_decode(buf: &mut [u8]) -> Result<usize, WireError> {
    let mut read = 0;
    let mut write = 0;
    while read < buf.len() {
        let code = buf[read] as usize;
        if code == 0 || read + code > buf.len() {
            return Err(WireError::Cobs);
        }
        read += 1;
        for _ in 1..code {
            if buf[read] == 0 {
                return Err(WireError::Cobs);
            }
            buf[write] = buf[read];
            write += 1;
            read += 1;
        }
        if code != 0xFF && read < buf.len() {
            buf[write] = 0;
            write += 1;
        }
    }
    Ok(write)
}

struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    fn f32(&mut self, v: f32) {
        self.bytes(&v.to_le_bytes());
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        out.copy_from_slice(&self.buf[self.at..self.at + N]);
        self.at += N;
        out
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.take())
    }
    fn f32(&mut self) -> f32 {
        f32::from_le_bytes(self.take())
    }
}

fn joints(n: u8) -> Result<usize, WireError> {
    if n as usize > MAX_JOINTS {
        return Err(WireError::Joints(n));
    }
    Ok(n as usize)
}

fn finite(v: f32, field: &'static str, joint: usize) -> Result<f32, WireError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(WireError::NotFinite { field, joint: joint as u8 })
    }
}

/// Check what a message may carry: joint counts, finite numbers, ordered limits.
///
/// # Errors
/// The first field that is wrong.
pub fn validate(msg: &Message) -> Result<(), WireError> {
    match msg {
        Message::JointTargets(t) => {
            for (j, &p) in t.positions[..joints(t.n)?].iter().enumerate() {
                finite(p, "position", j)?;
            }
        }
        Message::JointStates(s) => {
            for (j, st) in s.joints[..joints(s.n)?].iter().enumerate() {
                finite(st.position, "position", j)?;
                finite(st.velocity, "velocity", j)?;
            }
        }
        Message::Limits(l) => {
            for (j, lim) in l.joints[..joints(l.n)?].iter().enumerate() {
                finite(lim.lower, "lower", j)?;
                finite(lim.upper, "upper", j)?;
                finite(lim.max_velocity, "max_velocity", j)?;
                finite(lim.max_step, "max_step", j)?;
                if lim.lower > lim.upper {
                    return Err(WireError::Range { field: "lower > upper", joint: j as u8 });
                }
                if lim.max_velocity < 0.0 {
                    return Err(WireError::Range { field: "max_velocity", joint: j as u8 });
                }
                if lim.max_step < 0.0 {
                    return Err(WireError::Range { field: "max_step", joint: j as u8 });
                }
            }
        }
        Message::Hello(h) => {
            joints(h.joints)?;
        }
        Message::Heartbeat { .. } | Message::EStop { .. } | Message::Reset | Message::Fault(_) => {}
    }
    Ok(())
}

/// Encode one message as a complete frame (closing zero included) into `out`; returns the
/// frame's length.
///
/// # Errors
/// What [`validate`] finds: a message that could not be decoded is never sent.
pub fn encode(msg: &Message, out: &mut [u8; MAX_FRAME]) -> Result<usize, WireError> {
    validate(msg)?;
    let mut payload = [0u8; MAX_PAYLOAD];
    let mut w = Writer { buf: &mut payload, len: 0 };
    w.u8(VERSION);
    w.u8(msg.kind());
    match msg {
        Message::Hello(h) => {
            w.u16(h.firmware);
            w.u32(h.device_id);
            w.u8(h.joints);
        }
        Message::JointTargets(t) => {
            w.u32(t.seq);
            w.u32(t.deadline_us);
            w.u8(t.n);
            for &p in &t.positions[..t.n as usize] {
                w.f32(p);
            }
        }
        Message::JointStates(s) => {
            w.u32(s.seq);
            w.bytes(&s.timestamp_us.to_le_bytes());
            w.u8(s.n);
            for j in &s.joints[..s.n as usize] {
                w.f32(j.position);
                w.f32(j.velocity);
                w.bytes(&j.load.to_le_bytes());
                w.u8(j.temperature);
                w.u8(j.flags);
            }
        }
        Message::Heartbeat { seq } => w.u32(*seq),
        Message::EStop { reason } => w.u8(*reason),
        Message::Reset => {}
        Message::Limits(l) => {
            w.u8(l.n);
            for j in &l.joints[..l.n as usize] {
                w.f32(j.lower);
                w.f32(j.upper);
                w.f32(j.max_velocity);
                w.f32(j.max_step);
            }
        }
        Message::Fault(f) => {
            w.u8(f.code as u8);
            w.u8(f.joint);
            w.u16(f.detail);
        }
    }
    let crc = crc16(&w.buf[..w.len]);
    w.u16(crc);
    let len = w.len;
    let n = cobs_encode(&payload[..len], &mut out[..])?;
    out[n] = 0;
    Ok(n + 1)
}

/// The body length a kind implies, given its joint count (the byte after the fixed fields).
fn body_len(kind: u8, body: &[u8]) -> Result<usize, WireError> {
    let n = |at: usize| -> Result<usize, WireError> {
        let count =
            *body.get(at).ok_or(WireError::Length { kind, expected: at + 1, got: body.len() })?;
        joints(count)
    };
    Ok(match kind {
        1 => 7,
        2 => 9 + 4 * n(8)?,
        3 => 13 + 12 * n(12)?,
        4 | 8 => 4,
        5 => 1,
        6 => 0,
        7 => 1 + 16 * n(0)?,
        k => return Err(WireError::Kind(k)),
    })
}

/// Decode a payload (COBS already removed): version, kind, body, CRC.
///
/// # Errors
/// The first thing wrong, checked in the order CRC, version, kind, length, values.
pub fn decode_payload(payload: &[u8]) -> Result<Message, WireError> {
    if payload.len() < 4 {
        return Err(WireError::Short { len: payload.len() });
    }
    let (data, crc) = payload.split_at(payload.len() - 2);
    let carried = u16::from_le_bytes([crc[0], crc[1]]);
    let computed = crc16(data);
    if computed != carried {
        return Err(WireError::Crc { computed, carried });
    }
    if data[0] != VERSION {
        return Err(WireError::Version(data[0]));
    }
    let kind = data[1];
    let body = &data[2..];
    let expected = body_len(kind, body)?;
    if body.len() != expected {
        return Err(WireError::Length { kind, expected, got: body.len() });
    }
    let mut r = Reader { buf: body, at: 0 };
    let msg = match kind {
        1 => Message::Hello(Hello { firmware: r.u16(), device_id: r.u32(), joints: r.u8() }),
        2 => {
            let (seq, deadline_us, n) = (r.u32(), r.u32(), r.u8());
            let mut positions = [0.0; MAX_JOINTS];
            for p in &mut positions[..n as usize] {
                *p = r.f32();
            }
            Message::JointTargets(JointTargets { seq, deadline_us, n, positions })
        }
        3 => {
            let seq = r.u32();
            let timestamp_us = u64::from_le_bytes(r.take());
            let n = r.u8();
            let mut joints = [JointState::default(); MAX_JOINTS];
            for j in &mut joints[..n as usize] {
                *j = JointState {
                    position: r.f32(),
                    velocity: r.f32(),
                    load: i16::from_le_bytes(r.take()),
                    temperature: r.u8(),
                    flags: r.u8(),
                };
            }
            Message::JointStates(JointStates { seq, timestamp_us, n, joints })
        }
        4 => Message::Heartbeat { seq: r.u32() },
        5 => Message::EStop { reason: r.u8() },
        6 => Message::Reset,
        7 => {
            let n = r.u8();
            let mut joints = [JointLimit::default(); MAX_JOINTS];
            for j in &mut joints[..n as usize] {
                *j = JointLimit {
                    lower: r.f32(),
                    upper: r.f32(),
                    max_velocity: r.f32(),
                    max_step: r.f32(),
                };
            }
            Message::Limits(Limits { n, joints })
        }
        _ => {
            let code = r.u8();
            let code = FaultCode::from_u8(code).ok_or(WireError::FaultCode(code))?;
            Message::Fault(Fault { code, joint: r.u8(), detail: r.u16() })
        }
    };
    validate(&msg)?;
    Ok(msg)
}

/// A streaming decoder: push bytes as they arrive, get a message (or the reason a frame was
/// bad) each time a frame ends. Holds one frame; never allocates.
#[derive(Clone, Debug)]
pub struct Decoder {
    buf: [u8; MAX_FRAME],
    len: usize,
    overflow: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// An empty decoder.
    #[must_use]
    pub const fn new() -> Self {
        Self { buf: [0; MAX_FRAME], len: 0, overflow: false }
    }

    /// Forget a partly received frame (after a port was reopened).
    pub fn clear(&mut self) {
        self.len = 0;
        self.overflow = false;
    }

    /// Take one byte; at a frame's end, the decoded message or what was wrong with the frame.
    /// Zeros between frames are ignored.
    pub fn push(&mut self, byte: u8) -> Option<Result<Message, WireError>> {
        if byte != 0 {
            if self.len == MAX_FRAME - 1 {
                self.overflow = true;
            } else if !self.overflow {
                self.buf[self.len] = byte;
                self.len += 1;
            }
            return None;
        }
        let len = core::mem::replace(&mut self.len, 0);
        if core::mem::replace(&mut self.overflow, false) {
            return Some(Err(WireError::TooLong));
        }
        if len == 0 {
            return None;
        }
        let frame = &mut self.buf[..len];
        Some(cobs_decode(frame).and_then(|n| decode_payload(&frame[..n])))
    }

    /// Push every byte of `bytes`, calling `on_frame` at each frame's end.
    pub fn feed(&mut self, bytes: &[u8], mut on_frame: impl FnMut(Result<Message, WireError>)) {
        for &b in bytes {
            if let Some(r) = self.push(b) {
                on_frame(r);
            }
        }
    }
}

//! Exact save/restore of environment state.
//!
//! A [`Snapshot`] is the environment's full state (layout, agent, RNG, step counters) as
//! bytes with a `kind` tag naming the environment family and a format version. Bytes make
//! snapshots cheap to clone, easy to checkpoint (Go-Explore archives) and easy to send
//! between processes. Restoring a snapshot into an environment of another family, or a
//! truncated/corrupt one, is an error, never a panic.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The saved state of one environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Environment family tag, e.g. `minigrid/1` (borrowed from the env's constant when it
    /// makes one, so a snapshot costs one allocation: its bytes).
    pub kind: Cow<'static, str>,
    /// Encoded state.
    pub bytes: Vec<u8>,
}

impl Snapshot {
    /// Check the tag before decoding; `kind` is the restoring env's tag.
    pub fn expect_kind(&self, kind: &str) -> Result<ByteReader<'_>> {
        if self.kind != kind {
            return Err(Error::Snapshot(format!(
                "snapshot is of kind `{}` but this environment restores `{kind}`",
                self.kind
            )));
        }
        Ok(ByteReader::new(&self.bytes))
    }
}

/// Little-endian byte writer for snapshot encoding.
#[derive(Default, Debug)]
pub struct ByteWriter {
    buf: Vec<u8>,
}

impl ByteWriter {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }
    /// An empty writer with room for `bytes` (one allocation for a state of known size).
    pub fn with_capacity(bytes: usize) -> Self {
        Self { buf: Vec::with_capacity(bytes) }
    }
    /// Append one byte.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// Append a bool.
    pub fn bool(&mut self, v: bool) {
        self.buf.push(u8::from(v));
    }
    /// Append a `u32`.
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Append an `i32`.
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Append a `u64`.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Append an `f32`.
    pub fn f32(&mut self, v: f32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Append an `f64`.
    pub fn f64(&mut self, v: f64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    /// Append a length-prefixed byte string.
    pub fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.buf.extend_from_slice(v);
    }
    /// Append a generator state.
    pub fn rng(&mut self, rng: &crate::Rng) {
        for w in rng.state() {
            self.u64(w);
        }
    }
    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
    /// Finish into a snapshot with the given kind tag.
    pub fn finish(self, kind: impl Into<Cow<'static, str>>) -> Snapshot {
        Snapshot { kind: kind.into(), bytes: self.buf }
    }
}

/// Reader matching [`ByteWriter`]; every read checks bounds and reports truncation.
#[derive(Debug)]
pub struct ByteReader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    /// Read from a byte slice.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len()).ok_or_else(|| {
            Error::Snapshot(format!(
                "snapshot truncated: wanted {n} bytes at offset {} of {}",
                self.pos,
                self.data.len()
            ))
        })?;
        let s = &self.data[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    /// Read one byte.
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    /// Read a bool (rejects values other than 0 and 1).
    pub fn bool(&mut self) -> Result<bool> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(Error::Snapshot(format!("corrupt snapshot: bool byte {v}"))),
        }
    }
    /// Read a `u32`.
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    /// Read an `i32`.
    pub fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    /// Read a `u64`.
    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    /// Read an `f32`.
    pub fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_le_bytes(self.array()?))
    }
    /// Read an `f64`.
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array()?))
    }
    /// Read a length-prefixed byte string.
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    /// Read a generator state.
    pub fn rng(&mut self) -> Result<crate::Rng> {
        Ok(crate::Rng::from_state([self.u64()?, self.u64()?, self.u64()?, self.u64()?]))
    }
    /// Fail unless every byte was read.
    pub fn finish(self) -> Result<()> {
        if self.pos == self.data.len() {
            Ok(())
        } else {
            Err(Error::Snapshot(format!(
                "snapshot has {} trailing bytes; it was written by another version",
                self.data.len() - self.pos
            )))
        }
    }
}

//! A stable 64-bit digest (FNV-1a) of observations, rewards and flags, for golden tests.
//!
//! FNV-1a is not cryptographic; it is stable across platforms, versions and thread counts,
//! which is what a determinism check needs.

/// Incremental FNV-1a digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest(u64);

impl Default for Digest {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Digest {
    /// A fresh digest.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed bytes.
    #[inline]
    pub fn bytes(&mut self, data: &[u8]) {
        for &b in data {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// Feed an `f32` by its bit pattern.
    pub fn f32(&mut self, v: f32) {
        self.bytes(&v.to_bits().to_le_bytes());
    }

    /// Feed a slice of `f32` by bit pattern.
    pub fn f32s(&mut self, v: &[f32]) {
        for &x in v {
            self.f32(x);
        }
    }

    /// Feed a `u64`.
    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }

    /// Feed a flag.
    pub fn flag(&mut self, v: bool) {
        self.bytes(&[u8::from(v)]);
    }

    /// The digest value.
    pub fn value(&self) -> u64 {
        self.0
    }

    /// The digest as 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

//! Observation and action spaces, after Gymnasium's `spaces` module.
//!
//! Every space has a flat storage layout: [`Space::flat_len`] elements of one element type
//! ([`Space::dtype`]). Vector environments store observations of N envs back to back in one
//! buffer of `N * flat_len` elements. A `Dict` space stores its members in declaration order;
//! `Discrete` members of a `u8` dict take one byte, so MiniGrid's `{image, direction}`
//! observation is 147 + 1 bytes.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Rng;

/// Element type of a flat observation buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DType {
    /// Unsigned bytes (grid encodings, pixels, text).
    U8,
    /// 32-bit floats (continuous states).
    F32,
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::U8 => "u8",
            DType::F32 => "f32",
        })
    }
}

/// A Gymnasium-style space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Space {
    /// Integers `start..start + n`.
    Discrete {
        /// Number of values.
        n: u64,
        /// Smallest value.
        start: i64,
    },
    /// One discrete value per entry, entry *k* in `0..nvec[k]`.
    MultiDiscrete {
        /// Sizes per entry.
        nvec: Vec<u64>,
    },
    /// A box of `dtype` values with per-element bounds.
    Box {
        /// Shape, row-major.
        shape: Vec<usize>,
        /// Lower bound per element (flat, row-major).
        low: Vec<f32>,
        /// Upper bound per element (flat, row-major).
        high: Vec<f32>,
        /// Element type.
        dtype: DType,
    },
    /// `n` binary values.
    MultiBinary {
        /// Number of bits.
        n: usize,
    },
    /// UTF-8 text of at most `max_length` bytes, stored zero-padded.
    Text {
        /// Maximum length in bytes.
        max_length: usize,
    },
    /// Named sub-spaces, stored back to back in this order.
    Dict(Vec<(String, Space)>),
}

/// A value drawn from a space.
#[derive(Clone, Debug, PartialEq)]
pub enum Sample {
    /// A discrete value.
    Discrete(i64),
    /// Several discrete values (also `MultiBinary`).
    Ints(Vec<i64>),
    /// Box values.
    Floats(Vec<f32>),
    /// Text.
    Text(String),
    /// Dict members in declaration order.
    Dict(Vec<Sample>),
}

impl Space {
    /// `Discrete(n)` starting at 0.
    pub fn discrete(n: u64) -> Self {
        Space::Discrete { n, start: 0 }
    }

    /// A box with the same bounds for every element.
    pub fn uniform_box(shape: &[usize], low: f32, high: f32, dtype: DType) -> Self {
        let len = shape.iter().product();
        Space::Box { shape: shape.to_vec(), low: vec![low; len], high: vec![high; len], dtype }
    }

    /// Number of elements in the flat layout.
    pub fn flat_len(&self) -> usize {
        match self {
            Space::Discrete { .. } => 1,
            Space::MultiDiscrete { nvec } => nvec.len(),
            Space::Box { shape, .. } => shape.iter().product(),
            Space::MultiBinary { n } => *n,
            Space::Text { max_length } => *max_length,
            Space::Dict(items) => items.iter().map(|(_, s)| s.flat_len()).sum(),
        }
    }

    /// Element type of the flat layout. Discrete values and bits are stored as `u8` when a
    /// `u8` fits them (and inside `u8` dicts), otherwise as `f32`.
    pub fn dtype(&self) -> DType {
        match self {
            Space::Discrete { n, start } => {
                if *start >= 0 && (*start as u64 + *n) <= 256 {
                    DType::U8
                } else {
                    DType::F32
                }
            }
            Space::MultiDiscrete { nvec } => {
                if nvec.iter().all(|&n| n <= 256) {
                    DType::U8
                } else {
                    DType::F32
                }
            }
            Space::Box { dtype, .. } => *dtype,
            Space::MultiBinary { .. } | Space::Text { .. } => DType::U8,
            Space::Dict(items) => {
                if items.iter().all(|(_, s)| s.dtype() == DType::U8) {
                    DType::U8
                } else {
                    DType::F32
                }
            }
        }
    }

    /// Number of discrete actions, if this is a `Discrete` space.
    pub fn n(&self) -> Option<u64> {
        match self {
            Space::Discrete { n, .. } => Some(*n),
            _ => None,
        }
    }

    /// The member of a dict space with its offset in the flat layout.
    pub fn member(&self, name: &str) -> Option<(usize, &Space)> {
        let Space::Dict(items) = self else { return None };
        let mut offset = 0;
        for (k, s) in items {
            if k == name {
                return Some((offset, s));
            }
            offset += s.flat_len();
        }
        None
    }

    /// Draw a uniform sample.
    pub fn sample(&self, rng: &mut Rng) -> Sample {
        match self {
            Space::Discrete { n, start } => Sample::Discrete(start + rng.below(*n) as i64),
            Space::MultiDiscrete { nvec } => {
                Sample::Ints(nvec.iter().map(|&n| rng.below(n) as i64).collect())
            }
            Space::Box { low, high, .. } => Sample::Floats(
                low.iter()
                    .zip(high)
                    .map(|(&l, &h)| {
                        let (l, h) = (l.max(-1e6), h.min(1e6));
                        l + (h - l) * rng.f32()
                    })
                    .collect(),
            ),
            Space::MultiBinary { n } => {
                Sample::Ints((0..*n).map(|_| rng.below(2) as i64).collect())
            }
            Space::Text { max_length } => {
                let len = rng.index(max_length + 1);
                Sample::Text((0..len).map(|_| char::from(b'a' + rng.below(26) as u8)).collect())
            }
            Space::Dict(items) => Sample::Dict(items.iter().map(|(_, s)| s.sample(rng)).collect()),
        }
    }

    /// Whether a sample lies in the space.
    pub fn contains(&self, sample: &Sample) -> bool {
        match (self, sample) {
            (Space::Discrete { n, start }, Sample::Discrete(v)) => {
                *v >= *start && ((*v - *start) as u64) < *n
            }
            (Space::MultiDiscrete { nvec }, Sample::Ints(v)) => {
                v.len() == nvec.len() && v.iter().zip(nvec).all(|(&x, &n)| x >= 0 && (x as u64) < n)
            }
            (Space::Box { low, high, .. }, Sample::Floats(v)) => {
                v.len() == low.len()
                    && v.iter().zip(low.iter().zip(high)).all(|(&x, (&l, &h))| x >= l && x <= h)
            }
            (Space::MultiBinary { n }, Sample::Ints(v)) => {
                v.len() == *n && v.iter().all(|&x| x == 0 || x == 1)
            }
            (Space::Text { max_length }, Sample::Text(s)) => s.len() <= *max_length,
            (Space::Dict(items), Sample::Dict(v)) => {
                items.len() == v.len() && items.iter().zip(v).all(|((_, s), x)| s.contains(x))
            }
            _ => false,
        }
    }
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Space::Discrete { n, start: 0 } => write!(f, "Discrete({n})"),
            Space::Discrete { n, start } => write!(f, "Discrete({n}, start={start})"),
            Space::MultiDiscrete { nvec } => write!(f, "MultiDiscrete({nvec:?})"),
            Space::Box { shape, low, high, dtype } => {
                let lo = low.iter().copied().fold(f32::INFINITY, f32::min);
                let hi = high.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                write!(f, "Box({lo}, {hi}, {shape:?}, {dtype})")
            }
            Space::MultiBinary { n } => write!(f, "MultiBinary({n})"),
            Space::Text { max_length } => write!(f, "Text({max_length})"),
            Space::Dict(items) => {
                f.write_str("Dict(")?;
                for (i, (k, s)) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {s}")?;
                }
                f.write_str(")")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_contained() {
        let space = Space::Dict(vec![
            ("image".into(), Space::uniform_box(&[7, 7, 3], 0.0, 255.0, DType::U8)),
            ("direction".into(), Space::discrete(4)),
            ("keys".into(), Space::MultiBinary { n: 4 }),
            ("mission".into(), Space::Text { max_length: 16 }),
            ("arms".into(), Space::MultiDiscrete { nvec: vec![3, 5] }),
        ]);
        let mut rng = Rng::seed_from_u64(1);
        for _ in 0..100 {
            let s = space.sample(&mut rng);
            assert!(space.contains(&s));
        }
        assert_eq!(space.flat_len(), 147 + 1 + 4 + 16 + 2);
        assert_eq!(space.dtype(), DType::U8);
        assert_eq!(space.member("direction").map(|(o, _)| o), Some(147));
        assert!(!Space::discrete(4).contains(&Sample::Discrete(4)));
        assert!(!Space::discrete(4).contains(&Sample::Discrete(-1)));
    }
}

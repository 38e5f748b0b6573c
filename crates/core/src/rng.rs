//! The one random generator Spelunk environments draw from.
//!
//! xoshiro256++ (Blackman & Vigna, 2019), seeded through `SplitMix64` so that nearby seeds
//! (`seed + i` for env *i* of a vector env) give unrelated streams. Its state is four `u64`
//! words, so snapshots store it exactly and restore continues the same stream. Bounded
//! integers use Lemire's nearly-divisionless method, so the stream is identical on every
//! platform and no draw is biased.

use serde::{Deserialize, Serialize};

/// A small, fast, seedable generator with an exactly serialisable state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rng {
    s: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator seeded from one `u64`.
    pub fn seed_from_u64(seed: u64) -> Self {
        let mut sm = seed;
        let s =
            [splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm), splitmix64(&mut sm)];
        Self { s }
    }

    /// The raw state, for snapshots.
    pub fn state(&self) -> [u64; 4] {
        self.s
    }

    /// Rebuild from a raw state. An all-zero state is invalid for xoshiro and is replaced by
    /// the state of seed 0.
    pub fn from_state(s: [u64; 4]) -> Self {
        if s == [0; 4] {
            Self::seed_from_u64(0)
        } else {
            Self { s }
        }
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let result = (self.s[0].wrapping_add(self.s[3])).rotate_left(23).wrapping_add(self.s[0]);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Next 32 random bits.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform integer in `0..n`. Returns 0 when `n == 0`.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        let mut lo = m as u64;
        if lo < n {
            let threshold = n.wrapping_neg() % n;
            while lo < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
                lo = m as u64;
            }
        }
        (m >> 64) as u64
    }

    /// Uniform integer in `low..high` (high exclusive). Returns `low` when the range is empty.
    #[inline]
    pub fn range_i64(&mut self, low: i64, high: i64) -> i64 {
        if high <= low {
            return low;
        }
        low + self.below(high.abs_diff(low)) as i64
    }

    /// Uniform `usize` in `0..n`.
    #[inline]
    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// Uniform `f64` in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform `f32` in `[0, 1)` with 24 random bits.
    #[inline]
    pub fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// `true` with probability `p`.
    #[inline]
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Standard normal draw (Box–Muller, one value per call so the state stays four words).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.f64(); // (0, 1]
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Fill `out` with `N(0, std²)` draws, both halves of each Box–Muller pair used (half the
    /// uniforms and logarithms of calling [`Rng::normal`] per value).
    pub fn fill_normal(&mut self, out: &mut [f32], std: f64) {
        for pair in out.chunks_mut(2) {
            let u1 = 1.0 - self.f64();
            let u2 = self.f64();
            let r = (-2.0 * u1.ln()).sqrt() * std;
            let (sin, cos) = (std::f64::consts::TAU * u2).sin_cos();
            pair[0] = (r * cos) as f32;
            if let Some(second) = pair.get_mut(1) {
                *second = (r * sin) as f32;
            }
        }
    }

    /// Gamma(shape, 1) draw by Marsaglia & Tsang (2000); shapes below 1 use the boost
    /// `Gamma(a) = Gamma(a + 1) · U^(1/a)`.
    pub fn gamma(&mut self, shape: f64) -> f64 {
        if shape <= 0.0 || !shape.is_finite() {
            return 0.0;
        }
        if shape < 1.0 {
            let u = 1.0 - self.f64();
            return self.gamma(shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let x = self.normal();
            let v = 1.0 + c * x;
            if v <= 0.0 {
                continue;
            }
            let v = v * v * v;
            let u = 1.0 - self.f64();
            if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// Beta(a, b) draw from two gamma draws.
    pub fn beta(&mut self, a: f64, b: f64) -> f64 {
        let x = self.gamma(a);
        let y = self.gamma(b);
        if x + y == 0.0 {
            0.5
        } else {
            x / (x + y)
        }
    }

    /// Shuffle a slice in place (Fisher–Yates).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.index(i + 1);
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn below_is_uniform_enough() {
        let mut rng = Rng::seed_from_u64(7);
        let mut counts = [0u32; 6];
        for _ in 0..60_000 {
            counts[rng.below(6) as usize] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
    }

    #[test]
    fn beta_mean_matches_closed_form() {
        let mut rng = Rng::seed_from_u64(3);
        let n = 40_000;
        let mean: f64 = (0..n).map(|_| rng.beta(2.0, 5.0)).sum::<f64>() / f64::from(n);
        assert!((mean - 2.0 / 7.0).abs() < 0.005, "{mean}");
    }

    #[test]
    fn fill_normal_has_the_right_moments_and_uncorrelated_halves() {
        let mut rng = Rng::seed_from_u64(5);
        let mut v = vec![0.0f32; 200_001];
        rng.fill_normal(&mut v, 2.0);
        let n = v.len() as f64;
        let mean = v.iter().map(|x| f64::from(*x)).sum::<f64>() / n;
        let var = v.iter().map(|x| (f64::from(*x) - mean).powi(2)).sum::<f64>() / n;
        // Standard errors: mean 2/√n ≈ 0.0045, variance 4·√(2/n) ≈ 0.013.
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 4.0).abs() < 0.06, "variance {var}");
        let pairs = v.len() / 2;
        let cov = (0..pairs).map(|i| f64::from(v[2 * i]) * f64::from(v[2 * i + 1])).sum::<f64>()
            / pairs as f64;
        assert!((cov / 4.0).abs() < 0.015, "correlation {}", cov / 4.0);
    }

    #[test]
    fn state_round_trips() {
        let mut a = Rng::seed_from_u64(11);
        a.next_u64();
        let mut b = Rng::from_state(a.state());
        assert_eq!(a.next_u64(), b.next_u64());
    }
}

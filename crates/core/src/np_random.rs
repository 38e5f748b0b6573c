//! numpy's default generator, bit for bit: `np.random.Generator(np.random.PCG64(
//! np.random.SeedSequence(seed)))`, which is what Gymnasium's `env.np_random` is after
//! `reset(seed=seed)`.
//!
//! Environments ported from Python (MiniGrid) draw from it so that a seed means the same
//! layout here as in the Python package. Implemented from numpy's `bit_generator.pyx`
//! (SeedSequence's hash mixing), `pcg64.h` (PCG XSL-RR 128/64, 32-bit draws served from the
//! two halves of a 64-bit draw) and `distributions.c` (Lemire's bounded integers).
//! `tests/fixtures/np_random/` holds draws made by numpy that the tests compare against.

const INIT_A: u32 = 0x43b0_d7e5;
const MULT_A: u32 = 0x931e_8875;
const INIT_B: u32 = 0x8b51_f9dd;
const MULT_B: u32 = 0x58f3_8ded;
const MIX_MULT_L: u32 = 0xca01_f9dd;
const MIX_MULT_R: u32 = 0x4973_f715;
const XSHIFT: u32 = 16;
const POOL_SIZE: usize = 4;
const PCG_MULT: u128 = 0x2360_ED05_1FC6_5DA4_4385_DF64_9FCC_F645;

fn hashmix(value: u32, hash_const: &mut u32) -> u32 {
    let mut v = value ^ *hash_const;
    *hash_const = hash_const.wrapping_mul(MULT_A);
    v = v.wrapping_mul(*hash_const);
    v ^ (v >> XSHIFT)
}

fn mix(x: u32, y: u32) -> u32 {
    let r = MIX_MULT_L.wrapping_mul(x).wrapping_sub(MIX_MULT_R.wrapping_mul(y));
    r ^ (r >> XSHIFT)
}

/// numpy's `SeedSequence(seed).generate_state(n_words, np.uint32)` for an integer seed.
pub fn seed_sequence_state(seed: u64, n_words: usize) -> Vec<u32> {
    // The entropy as little-endian 32-bit words (0 is one zero word).
    let mut entropy = vec![seed as u32];
    if seed >> 32 != 0 {
        entropy.push((seed >> 32) as u32);
    }
    let mut pool = [0u32; POOL_SIZE];
    let mut hc = INIT_A;
    for (i, p) in pool.iter_mut().enumerate() {
        *p = hashmix(entropy.get(i).copied().unwrap_or(0), &mut hc);
    }
    for src in 0..POOL_SIZE {
        for dst in 0..POOL_SIZE {
            if src != dst {
                pool[dst] = mix(pool[dst], hashmix(pool[src], &mut hc));
            }
        }
    }
    for &e in entropy.iter().skip(POOL_SIZE) {
        for p in &mut pool {
            *p = mix(*p, hashmix(e, &mut hc));
        }
    }
    let mut hb = INIT_B;
    (0..n_words)
        .map(|i| {
            let mut v = pool[i % POOL_SIZE] ^ hb;
            hb = hb.wrapping_mul(MULT_B);
            v = v.wrapping_mul(hb);
            v ^ (v >> XSHIFT)
        })
        .collect()
}

/// numpy's `Generator(PCG64(SeedSequence(seed)))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NpRandom {
    state: u128,
    inc: u128,
    has_uint32: bool,
    uinteger: u32,
}

impl NpRandom {
    /// Seeded as Gymnasium's `np_random(seed)`.
    pub fn new(seed: u64) -> Self {
        let w = seed_sequence_state(seed, 8);
        let word = |k: usize| u64::from(w[2 * k]) | (u64::from(w[2 * k + 1]) << 32);
        let init_state = (u128::from(word(0)) << 64) | u128::from(word(1));
        let init_seq = (u128::from(word(2)) << 64) | u128::from(word(3));
        let mut rng = Self { state: 0, inc: (init_seq << 1) | 1, has_uint32: false, uinteger: 0 };
        rng.step();
        rng.state = rng.state.wrapping_add(init_state);
        rng.step();
        rng
    }

    #[inline]
    fn step(&mut self) {
        self.state = self.state.wrapping_mul(PCG_MULT).wrapping_add(self.inc);
    }

    /// Next 64 bits (PCG XSL-RR 128/64).
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.step();
        let hi = (self.state >> 64) as u64;
        let lo = self.state as u64;
        (hi ^ lo).rotate_right((hi >> 58) as u32)
    }

    /// Next 32 bits: the low half of a 64-bit draw, then its high half.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        if self.has_uint32 {
            self.has_uint32 = false;
            return self.uinteger;
        }
        let next = self.next_u64();
        self.has_uint32 = true;
        self.uinteger = (next >> 32) as u32;
        next as u32
    }

    /// `Generator.random()`: a float in `[0, 1)` with 53 random bits.
    pub fn random(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `Generator.integers(low, high)` (high exclusive, int64): Lemire's method on 32-bit
    /// draws when the range fits 32 bits, on 64-bit draws otherwise. An empty or one-value
    /// range returns `low` without drawing, as numpy does.
    pub fn integers(&mut self, low: i64, high: i64) -> i64 {
        if high <= low {
            return low;
        }
        let rng = (high.wrapping_sub(low) as u64).wrapping_sub(1);
        if rng == 0 {
            return low;
        }
        if let Ok(rng) = u32::try_from(rng) {
            if rng == u32::MAX {
                return low.wrapping_add(i64::from(self.next_u32()));
            }
            let excl = rng + 1;
            let mut m = u64::from(self.next_u32()) * u64::from(excl);
            let mut leftover = m as u32;
            if leftover < excl {
                let threshold = (u32::MAX - rng) % excl;
                while leftover < threshold {
                    m = u64::from(self.next_u32()) * u64::from(excl);
                    leftover = m as u32;
                }
            }
            return low.wrapping_add((m >> 32) as i64);
        }
        if rng == u64::MAX {
            return low.wrapping_add(self.next_u64() as i64);
        }
        let excl = rng + 1;
        let mut m = u128::from(self.next_u64()) * u128::from(excl);
        let mut leftover = m as u64;
        if leftover < excl {
            let threshold = (u64::MAX - rng) % excl;
            while leftover < threshold {
                m = u128::from(self.next_u64()) * u128::from(excl);
                leftover = m as u64;
            }
        }
        low.wrapping_add((m >> 64) as i64)
    }

    /// The raw state, for snapshots: `(state, inc, has_uint32, uinteger)`.
    pub fn raw(&self) -> (u128, u128, bool, u32) {
        (self.state, self.inc, self.has_uint32, self.uinteger)
    }

    /// Rebuild from [`NpRandom::raw`]. The increment of a PCG stream is odd; an even one is
    /// made odd.
    pub fn from_raw(state: u128, inc: u128, has_uint32: bool, uinteger: u32) -> Self {
        Self { state, inc: inc | 1, has_uint32, uinteger }
    }
}

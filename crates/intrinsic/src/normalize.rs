//! Normalising an intrinsic reward stream, kept apart from the extrinsic reward.
//!
//! - [`Normalization::None`].
//! - [`Normalization::ReturnStd`]: divide by the running standard deviation of the
//!   discounted intrinsic return `R ← γR + r` (Burda et al. 2018, RND, §2.4; γ = 0.99 there).
//! - [`Normalization::Ema`]: `(r − μ)/σ` or `r/σ` with exponential moving averages of the
//!   mean and variance (BYOL-Explore normalises by an EMA of the std; α = 0.99 by default).
//!
//! [`BonusStream`] applies one of them to a module's raw bonus, then a coefficient that can
//! decay linearly to zero, so the extrinsic and intrinsic parts are logged and weighted on
//! their own.

use serde::{Deserialize, Serialize};

/// How a raw bonus is normalised.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Normalization {
    /// Raw bonus.
    None,
    /// Divide by the running std of the discounted intrinsic return.
    ReturnStd {
        /// Discount of the return filter.
        gamma: f64,
    },
    /// Exponential moving averages of mean and variance.
    Ema {
        /// Decay per batch.
        alpha: f64,
        /// Subtract the mean too.
        center: bool,
    },
}

/// Welford's running mean and variance, merged batch by batch (Chan et al.).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RunningMeanStd {
    /// Samples seen.
    pub count: f64,
    /// Mean.
    pub mean: f64,
    /// Sum of squared deviations.
    pub m2: f64,
}

impl RunningMeanStd {
    /// Merge a batch.
    pub fn update(&mut self, xs: &[f64]) {
        if xs.is_empty() {
            return;
        }
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let m2: f64 = xs.iter().map(|x| (x - mean).powi(2)).sum();
        let total = self.count + n;
        let delta = mean - self.mean;
        self.mean += delta * n / total;
        self.m2 += m2 + delta * delta * self.count * n / total;
        self.count = total;
    }
    /// Population variance.
    pub fn var(&self) -> f64 {
        if self.count > 0.0 {
            self.m2 / self.count
        } else {
            1.0
        }
    }
}

/// One normalised, weighted intrinsic stream over N parallel envs.
#[derive(Clone, Debug)]
pub struct BonusStream {
    /// Normalisation.
    pub normalization: Normalization,
    /// Coefficient at the start.
    pub coef: f64,
    /// Steps over which the coefficient decays linearly to zero (`None`: constant).
    pub decay_steps: Option<u64>,
    returns: Vec<f64>,
    stats: RunningMeanStd,
    ema_mean: f64,
    ema_var: f64,
    ema_started: bool,
    steps: u64,
    scratch: Vec<f64>,
}

impl BonusStream {
    /// A stream for `num_envs` parallel envs.
    pub fn new(
        normalization: Normalization,
        coef: f64,
        decay_steps: Option<u64>,
        num_envs: usize,
    ) -> Self {
        Self {
            normalization,
            coef,
            decay_steps,
            returns: vec![0.0; num_envs],
            stats: RunningMeanStd::default(),
            ema_mean: 0.0,
            ema_var: 1.0,
            ema_started: false,
            steps: 0,
            scratch: Vec::new(),
        }
    }

    /// The coefficient now.
    pub fn current_coef(&self) -> f64 {
        match self.decay_steps {
            Some(d) if d > 0 => self.coef * (1.0 - (self.steps as f64 / d as f64)).max(0.0),
            _ => self.coef,
        }
    }

    /// One raw bonus normalised and weighted with the statistics as they are now, without
    /// updating them: for agents that keep raw bonuses and normalise them again when they
    /// plan, so that old entries are judged on today's scale.
    pub fn normalize_current(&self, raw: f32) -> f32 {
        let x = f64::from(raw);
        let y = match self.normalization {
            Normalization::None => x,
            Normalization::ReturnStd { .. } => x / self.stats.var().sqrt().max(1e-8),
            Normalization::Ema { center, .. } => {
                let x = if center { x - self.ema_mean } else { x };
                x / self.ema_var.sqrt().max(1e-8)
            }
        };
        (y * self.current_coef()) as f32
    }

    /// Normalise and weight one step of raw bonuses (one per env) in place; `dones` resets
    /// the return filter of envs whose episode ended (RND keeps it running across episodes;
    /// pass all `false` for that).
    pub fn apply(&mut self, bonus: &mut [f32], dones: &[bool]) {
        let coef = self.current_coef();
        self.steps += 1;
        match self.normalization {
            Normalization::None => {}
            Normalization::ReturnStd { gamma } => {
                if self.returns.len() != bonus.len() {
                    self.returns.resize(bonus.len(), 0.0);
                }
                self.scratch.clear();
                for (i, &b) in bonus.iter().enumerate() {
                    self.returns[i] = self.returns[i] * gamma + f64::from(b);
                    self.scratch.push(self.returns[i]);
                    if dones.get(i).copied().unwrap_or(false) {
                        self.returns[i] = 0.0;
                    }
                }
                self.stats.update(&self.scratch);
                let std = self.stats.var().sqrt().max(1e-8);
                for b in bonus.iter_mut() {
                    *b = (f64::from(*b) / std) as f32;
                }
            }
            Normalization::Ema { alpha, center } => {
                let n = bonus.len().max(1) as f64;
                let mean = bonus.iter().map(|&b| f64::from(b)).sum::<f64>() / n;
                let var = bonus.iter().map(|&b| (f64::from(b) - mean).powi(2)).sum::<f64>() / n;
                if self.ema_started {
                    self.ema_mean = alpha * self.ema_mean + (1.0 - alpha) * mean;
                    self.ema_var = alpha * self.ema_var + (1.0 - alpha) * var;
                } else {
                    (self.ema_mean, self.ema_var, self.ema_started) = (mean, var.max(1e-8), true);
                }
                let std = self.ema_var.sqrt().max(1e-8);
                for b in bonus.iter_mut() {
                    let x = if center { f64::from(*b) - self.ema_mean } else { f64::from(*b) };
                    *b = (x / std) as f32;
                }
            }
        }
        for b in bonus.iter_mut() {
            *b = (f64::from(*b) * coef) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_std_normalisation_is_scale_free() {
        let mut a = BonusStream::new(Normalization::ReturnStd { gamma: 0.99 }, 1.0, None, 2);
        let mut b = BonusStream::new(Normalization::ReturnStd { gamma: 0.99 }, 1.0, None, 2);
        for t in 0..200 {
            let raw = [(t % 7) as f32 * 0.1, (t % 3) as f32 * 0.2];
            let mut x = raw;
            let mut y = [raw[0] * 1000.0, raw[1] * 1000.0];
            a.apply(&mut x, &[false, false]);
            b.apply(&mut y, &[false, false]);
            assert!((x[0] - y[0]).abs() < 1e-4 && (x[1] - y[1]).abs() < 1e-4, "t={t}: {x:?} {y:?}");
        }
    }

    #[test]
    fn running_stats_match_two_pass_formulas() {
        let xs: Vec<f64> = (0..1000).map(|i| f64::from((i * 37) % 101)).collect();
        let mut s = RunningMeanStd::default();
        for chunk in xs.chunks(17) {
            s.update(chunk);
        }
        let mean = xs.iter().sum::<f64>() / 1000.0;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / 1000.0;
        assert!((s.mean - mean).abs() < 1e-9 && (s.var() - var).abs() < 1e-6);
    }

    #[test]
    fn coefficient_decays_linearly_to_zero() {
        let mut s = BonusStream::new(Normalization::None, 2.0, Some(10), 1);
        let mut seen = Vec::new();
        for _ in 0..12 {
            let mut b = [1.0];
            s.apply(&mut b, &[false]);
            seen.push(b[0]);
        }
        assert!(
            (seen[0] - 2.0).abs() < 1e-6
                && (seen[5] - 1.0).abs() < 1e-6
                && seen[10] == 0.0
                && seen[11] == 0.0,
            "{seen:?}"
        );
    }

    #[test]
    fn current_normalisation_matches_the_last_applied_step() {
        for norm in [Normalization::Ema { alpha: 0.9, center: true }, Normalization::None] {
            let mut s = BonusStream::new(norm, 2.0, None, 3);
            let mut last = [0.0; 3];
            for t in 0..50 {
                last = [t as f32 * 0.1, 1.0 + (t % 5) as f32, 0.5];
                let raw = last;
                s.apply(&mut last, &[false; 3]);
                if t == 49 {
                    for (r, n) in raw.iter().zip(&last) {
                        assert!((s.normalize_current(*r) - n).abs() < 1e-5, "{norm:?}");
                    }
                }
            }
            assert!(last.iter().all(|x| x.is_finite()));
        }
    }

    #[test]
    fn ema_centres_and_scales() {
        let mut s = BonusStream::new(Normalization::Ema { alpha: 0.0, center: true }, 1.0, None, 4);
        let mut b = [1.0, 2.0, 3.0, 4.0];
        s.apply(&mut b, &[false; 4]);
        let mean: f32 = b.iter().sum::<f32>() / 4.0;
        let var: f32 = b.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / 4.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-5, "{b:?}");
    }
}

//! Observation features and their running normalisation: the scale of raw byte observations,
//! the policy's input row, and Welford statistics per feature.

use spelunk_core::ObsRef;

use super::{Deserialize, Serialize, Space};

/// Flat f32 features of an observation buffer: values divided by the space's largest finite
/// upper bound (so MiniGrid's small integer codes and pixels both land in [0, 1]).
pub(super) fn feature_scale(space: &Space) -> f32 {
    fn walk(s: &Space, m: &mut f32) {
        match s {
            Space::Box { high, .. } => {
                for &h in high {
                    if h.is_finite() {
                        *m = m.max(h.abs());
                    }
                }
            }
            Space::Discrete { n, .. } => *m = m.max(*n as f32),
            Space::MultiDiscrete { nvec } => {
                for &n in nvec {
                    *m = m.max(n as f32);
                }
            }
            Space::Dict(members) => {
                for (_, s) in members {
                    walk(s, m);
                }
            }
            Space::MultiBinary { .. } | Space::Text { .. } => {}
        }
    }
    let mut m = 1f32;
    walk(space, &mut m);
    m
}

/// Put a head's token ids (`span` of the observation) back into a feature row as they are:
/// ids are not scaled or normalised.
pub(super) fn raw_tokens(buf: ObsRef<'_>, span: &std::ops::Range<usize>, row: &mut [f32]) {
    if let Some(x) = buf.as_f32() {
        row[span.clone()].copy_from_slice(&x[span.clone()]);
    } else if let Some(x) = buf.as_u8() {
        for (o, &v) in row[span.clone()].iter_mut().zip(&x[span.clone()]) {
            *o = f32::from(v);
        }
    }
}

pub(super) fn features(buf: ObsRef<'_>, scale: f32, out: &mut Vec<f32>) {
    if let Some(x) = buf.as_f32() {
        out.extend(x.iter().map(|v| v / scale));
    } else if let Some(x) = buf.as_u8() {
        out.extend(x.iter().map(|&v| f32::from(v) / scale));
    }
}

/// Running mean and variance of each feature (Welford's algorithm).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunningNorm {
    /// Observations counted.
    pub count: f64,
    /// Mean per feature.
    pub mean: Vec<f64>,
    /// Sum of squared deviations per feature.
    pub m2: Vec<f64>,
}

impl RunningNorm {
    pub(super) fn new(dim: usize) -> Self {
        Self { count: 0.0, mean: vec![0.0; dim], m2: vec![0.0; dim] }
    }
    /// Add rows of `dim` features.
    pub(super) fn update(&mut self, rows: &[f32]) {
        let d = self.mean.len();
        for row in rows.chunks(d) {
            self.count += 1.0;
            for ((m, s), &x) in self.mean.iter_mut().zip(&mut self.m2).zip(row) {
                let x = f64::from(x);
                let delta = x - *m;
                *m += delta / self.count;
                *s += delta * (x - *m);
            }
        }
    }
    /// Take in the observations that `other` counted (Chan et al.'s pairwise update of the
    /// mean and the squared deviations).
    pub(super) fn merge(&mut self, other: &RunningNorm) {
        if other.count == 0.0 {
            return;
        }
        let n = self.count + other.count;
        for ((m, s), (&om, &os)) in
            self.mean.iter_mut().zip(&mut self.m2).zip(other.mean.iter().zip(&other.m2))
        {
            let delta = om - *m;
            *m += delta * other.count / n;
            *s += os + delta * delta * self.count * other.count / n;
        }
        self.count = n;
    }
    /// Normalise rows in place.
    pub(super) fn apply(&self, rows: &mut [f32]) {
        let d = self.mean.len();
        let n = self.count.max(1.0);
        for row in rows.chunks_mut(d) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.m2) {
                let std = (s / n).sqrt() + 1e-8;
                *x = ((f64::from(*x) - m) / std).clamp(-5.0, 5.0) as f32;
            }
        }
    }
}

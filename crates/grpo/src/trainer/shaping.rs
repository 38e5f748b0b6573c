//! Advantage shapers: composable parts that change a batch's group advantages after the
//! task's own, in order — ProGRPO's confidence re-weighting, then the intrinsic stream.
//! Each is its own type; the trainer holds a list of those its config asks for.

use std::collections::BTreeMap;

use spelunk_core::Rng;
use spelunk_intrinsic::IntrinsicReward;

use super::{
    answer_confidence, group_advantages, informative_groups, progrpo_reweight, Episode,
    IntrinsicConfig, Result,
};
use crate::advantage::GroupAdvantage;
use crate::explore::ProGrpoConfig;

/// A batch of groups as a shaper sees it.
pub(super) struct Groups<'e> {
    /// The episodes, G per group.
    pub(super) eps: &'e [Episode],
    /// Each episode's return (task reward plus shaping).
    pub(super) returns: &'e [f32],
    /// Each episode's advantage so far.
    pub(super) adv: &'e mut [f32],
    /// Whether each group carries a learning signal (dynamic sampling keeps only those).
    pub(super) informative: &'e mut [bool],
    /// Group size.
    pub(super) g: usize,
    /// How advantages are made from a group's returns.
    pub(super) kind: GroupAdvantage,
    /// Iterations done before this one.
    pub(super) iteration: usize,
    /// Width of a policy input row, and action tokens per step.
    pub(super) obs_dim: usize,
    pub(super) dims: usize,
    /// The run's generator.
    pub(super) rng: &'e mut Rng,
}

/// Changes a batch's advantages after the task's own.
pub(super) trait AdvantageShaper: Send {
    /// A new iteration begins (reset per-iteration sums).
    fn begin_iteration(&mut self) {}
    /// Change the advantages (and which groups are informative).
    fn shape(&mut self, groups: Groups<'_>) -> Result<()>;
    /// This iteration's metrics, over `n_eps` episodes.
    fn write_metrics(&self, _m: &mut BTreeMap<String, f64>, _n_eps: f64) {}
    /// The bonus module a checkpoint keeps, if any.
    fn bonus(&self) -> Option<&dyn IntrinsicReward> {
        None
    }
    /// The same, to restore it.
    fn bonus_mut(&mut self) -> Option<&mut dyn IntrinsicReward> {
        None
    }
}

/// ProGRPO: advantages re-weighted by each episode's confidence in its own answer.
pub(super) struct ProGrpo(pub(super) ProGrpoConfig);

impl AdvantageShaper for ProGrpo {
    fn shape(&mut self, b: Groups<'_>) -> Result<()> {
        let conf: Vec<f32> =
            b.eps.iter().map(|e| answer_confidence(&e.old_logp, self.0.low_fraction)).collect();
        progrpo_reweight(b.adv, b.returns, &conf, b.g, &self.0)?;
        Ok(())
    }
}

/// The intrinsic stream: each episode's intrinsic return gets its own group advantages, and a
/// group whose task returns are all equal learns from `c · A_int` (`c` decaying linearly to 0
/// over `decay_iterations`, if set).
pub(super) struct IntrinsicStream {
    pub(super) config: IntrinsicConfig,
    pub(super) bonus: Box<dyn IntrinsicReward>,
    /// This iteration's intrinsic returns, summed, and the coefficient in use.
    sum: f64,
    coef: f64,
}

impl IntrinsicStream {
    /// A stream on `bonus`.
    pub(super) fn new(config: IntrinsicConfig, bonus: Box<dyn IntrinsicReward>) -> Self {
        Self { config, bonus, sum: 0.0, coef: 0.0 }
    }

    /// Each episode's intrinsic return (raw bonus averaged over the observations it reached),
    /// then one update of the bonus module on up to 4,096 of those observations.
    fn returns(
        &mut self,
        eps: &[Episode],
        d: usize,
        dims: usize,
        rng: &mut Rng,
    ) -> Result<Vec<f32>> {
        let bonus = &mut self.bonus;
        let mut obs = Vec::new();
        let mut next = Vec::new();
        let mut actions = Vec::new();
        let mut owner = Vec::new();
        for (k, e) in eps.iter().enumerate() {
            for t in 0..e.steps {
                obs.extend_from_slice(&e.obs[t * d..(t + 1) * d]);
                if t + 1 < e.steps {
                    next.extend_from_slice(&e.obs[(t + 1) * d..(t + 2) * d]);
                } else {
                    next.extend_from_slice(&e.last_obs);
                }
                actions.push(i64::from(e.tokens[t * dims]));
                owner.push(k);
            }
        }
        let batch = spelunk_intrinsic::Batch {
            obs: &obs,
            actions: spelunk_intrinsic::BatchActions::Discrete(&actions),
            next_obs: &next,
            obs_dim: d,
        };
        let mut out = vec![0f32; owner.len()];
        bonus.compute(&batch, &mut out)?;
        // The mean bonus per step: a sum would pay for long episodes, which the task's own
        // reward (finish fast) punishes, and the two streams would pull apart.
        let mut ret = vec![0f32; eps.len()];
        for (&k, &b) in owner.iter().zip(&out) {
            ret[k] += b;
        }
        for (r, e) in ret.iter_mut().zip(eps) {
            *r /= e.steps.max(1) as f32;
        }
        // Train on a random subset (all of it when small).
        let n = owner.len();
        let take = n.min(4096);
        let mut pick: Vec<usize> = (0..n).collect();
        for i in 0..take {
            let j = i + rng.index(n - i);
            pick.swap(i, j);
        }
        let mut so = Vec::with_capacity(take * d);
        let mut sn = Vec::with_capacity(take * d);
        let mut sa = Vec::with_capacity(take);
        for &i in &pick[..take] {
            so.extend_from_slice(&obs[i * d..(i + 1) * d]);
            sn.extend_from_slice(&next[i * d..(i + 1) * d]);
            sa.push(actions[i]);
        }
        let sub = spelunk_intrinsic::Batch {
            obs: &so,
            actions: spelunk_intrinsic::BatchActions::Discrete(&sa),
            next_obs: &sn,
            obs_dim: d,
        };
        bonus.on_step(&sub)?;
        bonus.update(&sub)?;
        Ok(ret)
    }
}

impl AdvantageShaper for IntrinsicStream {
    fn begin_iteration(&mut self) {
        self.sum = 0.0;
        self.coef = 0.0;
    }

    fn shape(&mut self, b: Groups<'_>) -> Result<()> {
        let ic = self.config;
        let coef = match ic.decay_iterations {
            Some(n) => ic.coef * (1.0 - b.iteration as f64 / n.max(1) as f64).max(0.0),
            None => ic.coef,
        };
        let int = self.returns(b.eps, b.obs_dim, b.dims, b.rng)?;
        self.sum += int.iter().map(|&x| f64::from(x)).sum::<f64>();
        self.coef = coef;
        let g = b.g;
        let int_adv = group_advantages(&int, g, b.kind)?;
        // Exploration speaks only where correctness is silent: a group whose task returns
        // differ learns from them alone; a group without any task signal learns from its
        // intrinsic returns (and is kept by dynamic sampling).
        let int_informative = informative_groups(&int, g)?;
        for k in 0..b.informative.len() {
            if b.informative[k] || coef <= 0.0 || !int_informative[k] {
                continue;
            }
            b.informative[k] = true;
            for (a, x) in b.adv[k * g..(k + 1) * g].iter_mut().zip(&int_adv[k * g..(k + 1) * g]) {
                *a += (coef * f64::from(*x)) as f32;
            }
        }
        Ok(())
    }

    fn write_metrics(&self, m: &mut BTreeMap<String, f64>, n_eps: f64) {
        m.insert("charts/intrinsic_return".into(), self.sum / n_eps);
        m.insert("charts/intrinsic_coef".into(), self.coef);
    }

    fn bonus(&self) -> Option<&dyn IntrinsicReward> {
        Some(self.bonus.as_ref())
    }

    fn bonus_mut(&mut self) -> Option<&mut dyn IntrinsicReward> {
        Some(self.bonus.as_mut())
    }
}

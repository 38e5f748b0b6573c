//! Per-iteration metrics that need bookkeeping over episodes: where episodes end (time
//! limit, lives lost, room, items held).

use super::{BTreeMap, Episode};

/// An iteration's sampled episodes summed: returns, successes, lengths, shaping, ends.
#[derive(Default)]
pub(super) struct Tally {
    ends: Ends,
    successes: usize,
    lengths: usize,
    returns: Vec<f32>,
    shaping: f64,
}

impl Tally {
    pub(super) fn add(&mut self, eps: &[Episode]) {
        for e in eps {
            self.successes += usize::from(e.success);
            self.lengths += e.steps;
            self.ends.record(e);
        }
        self.returns.extend(eps.iter().map(|e| e.ret));
        self.shaping += eps.iter().map(|e| f64::from(e.shaping)).sum::<f64>();
    }

    /// Episodes (at least 1, as the metrics' denominator).
    pub(super) fn n(&self) -> f64 {
        self.returns.len().max(1) as f64
    }

    pub(super) fn success_rate(&self) -> f64 {
        self.successes as f64 / self.n()
    }

    /// The episode metrics: ends, return, success, length, shaping (with demo shaping) and
    /// the share of groups kept.
    pub(super) fn write(
        &self,
        m: &mut BTreeMap<String, f64>,
        shaping: bool,
        kept_groups: usize,
        sampled_groups: usize,
    ) {
        let n = self.n();
        self.ends.write(m, n);
        m.insert(
            "charts/episodic_return".into(),
            self.returns.iter().map(|&r| f64::from(r)).sum::<f64>() / n,
        );
        m.insert("charts/success_rate".into(), self.success_rate());
        if shaping {
            m.insert("charts/shaping_return".into(), self.shaping / n);
        }
        m.insert("charts/episode_length".into(), self.lengths as f64 / n);
        m.insert("charts/kept_groups".into(), kept_groups as f64 / sampled_groups.max(1) as f64);
    }
}

/// How an iteration's episodes ended: cut by the time limit, lives lost, the room they ended
/// in and the items held — where a policy gets stuck, for envs that report them.
#[derive(Default)]
pub(super) struct Ends {
    truncated: usize,
    lives_lost: u64,
    with_lives: usize,
    rooms: BTreeMap<u32, usize>,
    items: BTreeMap<u64, usize>,
}

impl Ends {
    pub(super) fn record(&mut self, e: &Episode) {
        self.truncated += usize::from(e.truncated);
        if let (Some(a), Some(b)) = e.lives {
            self.lives_lost += u64::from(a.saturating_sub(b));
            self.with_lives += 1;
        }
        if let Some(r) = e.end_room {
            *self.rooms.entry(r).or_default() += 1;
        }
        if let Some(i) = e.end_items {
            *self.items.entry(i).or_default() += 1;
        }
    }
    pub(super) fn write(&self, m: &mut BTreeMap<String, f64>, n_eps: f64) {
        m.insert("charts/truncated_rate".into(), self.truncated as f64 / n_eps);
        if self.with_lives > 0 {
            m.insert("charts/lives_lost".into(), self.lives_lost as f64 / self.with_lives as f64);
        }
        for (r, &n) in &self.rooms {
            m.insert(format!("charts/end_room/{r}"), n as f64 / n_eps);
        }
        for (i, &n) in &self.items {
            m.insert(format!("charts/end_items/{i}"), n as f64 / n_eps);
        }
    }
}

/// The loss terms of an iteration's optimiser steps, summed, then averaged per step.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct LossSums {
    policy_loss: f64,
    clip_fraction: f64,
    approx_kl: f64,
    entropy: f64,
    lp_reg_protected: f64,
    imitation_nll: f64,
    imitation_weight: f64,
    ref_kl: f64,
    demo_nll: f64,
    updates: usize,
}

impl LossSums {
    /// Add one optimiser step's statistics, Lp-Reg's protected fraction and the imitation
    /// term's (negative log-likelihood, weight).
    pub(super) fn add(
        &mut self,
        st: &crate::loss::LossStats,
        protected: f64,
        imitation: (f64, f64),
    ) {
        self.lp_reg_protected += protected;
        self.imitation_nll += imitation.0;
        self.imitation_weight += imitation.1;
        self.policy_loss += st.loss;
        self.clip_fraction += st.clip_fraction;
        self.approx_kl += st.approx_kl;
        self.entropy += st.entropy;
        self.ref_kl += st.ref_kl;
        self.updates += 1;
    }

    /// Add one optimiser step's kept-demonstration token loss (its mean negative
    /// log-likelihood).
    pub(super) fn add_demo_nll(&mut self, nll: f64) {
        self.demo_nll += nll;
    }

    /// `losses/ref_kl`: the mean per-token KL to the reference policy.
    pub(super) fn write_ref_kl(&self, m: &mut BTreeMap<String, f64>) {
        m.insert("losses/ref_kl".into(), self.ref_kl / self.updates.max(1) as f64);
    }

    /// `losses/demo_nll`: the kept demonstrations' mean token negative log-likelihood.
    pub(super) fn write_demo_nll(&self, m: &mut BTreeMap<String, f64>) {
        m.insert("losses/demo_nll".into(), self.demo_nll / self.updates.max(1) as f64);
    }

    /// The means per step as `losses/*` metrics (Lp-Reg's and imitation's where in use).
    pub(super) fn write(&self, m: &mut BTreeMap<String, f64>, lp_reg: bool, imitation: bool) {
        let u = self.updates.max(1) as f64;
        m.insert("losses/policy_loss".into(), self.policy_loss / u);
        m.insert("losses/clip_fraction".into(), self.clip_fraction / u);
        m.insert("losses/approx_kl".into(), self.approx_kl / u);
        m.insert("losses/entropy".into(), self.entropy / u);
        if lp_reg {
            m.insert("losses/lp_reg_protected".into(), self.lp_reg_protected / u);
        }
        if imitation {
            m.insert("losses/imitation_nll".into(), self.imitation_nll / u);
            m.insert("losses/imitation_weight".into(), self.imitation_weight / u);
        }
    }
}

//! The learning step: the clipped token loss over minibatches (with the imitation and Lp-Reg
//! terms where configured).
//!
//! A minibatch's episodes split into `shards` fixed parts; each part's loss (normalised by the
//! whole minibatch's tokens and sequences, so the parts' losses add up to the minibatch's) is
//! backpropagated on its own, on the run's threads, and Adam steps along the sum of the parts'
//! gradients, added in shard order. The imitation term rides with the first part.

use candle_core::backprop::GradStore;
use candle_core::Device;

use super::{
    lp_reg_targets, policy_loss, shards, token_logp_entropy, Episode, Learner, LossInputs,
    LpRegConfig, Policy, Result, StepNorm, Tensor, Trainer,
};
use crate::loss::{LossConfig, LossStats};

/// What every part of a minibatch reads.
struct Parts<'s> {
    policy: &'s dyn Policy,
    /// The KL term's reference policy, where the loss has one.
    reference: Option<&'s dyn Policy>,
    learner: &'s dyn Learner,
    loss: &'s LossConfig,
    lp_reg: Option<&'s LpRegConfig>,
    device: &'s Device,
    eps: &'s [Episode],
    adv: &'s [f32],
    /// The whole minibatch's tokens and sequences.
    norm: StepNorm,
    /// The whole minibatch's steps.
    steps: usize,
}

/// One part's gradient and diagnostics.
struct Part {
    grads: GradStore,
    stats: LossStats,
    /// Unmasked tokens in this part.
    tokens: f64,
    /// Lp-Reg: protected token rows, and all token rows, of this part.
    protected: (usize, usize),
}

impl Parts<'_> {
    /// The loss of the episodes `chunk` (plus `extra`, the imitation term, on the first part),
    /// backpropagated.
    fn part(&self, chunk: &[usize], extra: Option<&Tensor>) -> Result<Part> {
        let (eps, adv) = (self.eps, self.adv);
        let dims = self.policy.codec().dims();
        let obs_dim = self.policy.obs_dim();
        let mut obs = Vec::new();
        let mut tokens = Vec::new();
        let mut old = Vec::new();
        let max_t = chunk.iter().map(|&i| eps[i].tokens.len()).max().unwrap_or(0);
        let mut index = Vec::with_capacity(chunk.len() * max_t);
        let mut mask = Vec::with_capacity(chunk.len() * max_t);
        let mut a = Vec::with_capacity(chunk.len());
        let ppo = !self.learner.group_relative();
        let mut tok_adv = Vec::new();
        let mut returns = Vec::new();
        // One advantage per token row, in the order of the logits (for Lp-Reg).
        let mut row_adv = Vec::new();
        for &i in chunk {
            let e = &eps[i];
            let start = tokens.len() as u32;
            obs.extend_from_slice(&e.obs);
            tokens.extend_from_slice(&e.tokens);
            for t in 0..max_t {
                let real = t < e.tokens.len();
                index.push(if real { start + t as u32 } else { 0 });
                mask.push(if real { 1f32 } else { 0.0 });
                old.push(if real { e.old_logp[t] } else { 0.0 });
                if ppo {
                    tok_adv.push(if real { e.step_adv[t / dims] } else { 0.0 });
                }
            }
            a.push(adv[i]);
            returns.extend_from_slice(&e.step_ret);
            if self.lp_reg.is_some() {
                for t in 0..e.tokens.len() {
                    row_adv.push(if ppo { e.step_adv[t / dims] } else { adv[i] });
                }
            }
        }
        let here = tokens.len() as f64;
        let steps = tokens.len() / dims;
        let dev = self.device;
        let x = Tensor::from_vec(obs, (steps, obs_dim), dev)?;
        let tok = Tensor::from_vec(tokens, (steps, dims), dev)?;
        // Sequence heads compute a whole episode's decisions in one pass when they can.
        let lengths: Vec<usize> = chunk.iter().map(|&i| eps[i].tokens.len() / dims).collect();
        let logits = match self.policy.episode_logits(&x, &lengths)? {
            Some(l) => l,
            None => self.policy.logits(&x)?,
        };
        let (lp, ent) = token_logp_entropy(&logits, &tok)?;
        let lp_reg = match self.lp_reg {
            Some(cfg) => Some(Trainer::lp_reg_term(&logits, &tok, &row_adv, cfg)?),
            None => None,
        };
        let b = chunk.len();
        let idx = Tensor::from_vec(index, b * max_t, dev)?;
        let lp = lp.flatten_all()?.index_select(&idx, 0)?.reshape((b, max_t))?;
        let ent = ent.flatten_all()?.index_select(&idx, 0)?.reshape((b, max_t))?;
        let ref_lp = match self.reference {
            Some(r) => {
                let logits = match r.episode_logits(&x, &lengths)? {
                    Some(l) => l,
                    None => r.logits(&x)?,
                };
                let (rlp, _) = token_logp_entropy(&logits.detach(), &tok)?;
                Some(rlp.flatten_all()?.index_select(&idx, 0)?.reshape((b, max_t))?.detach())
            }
            None => None,
        };
        let old = Tensor::from_vec(old, (b, max_t), dev)?;
        let mask_t = Tensor::from_vec(mask, (b, max_t), dev)?;
        let adv_t = if ppo {
            Tensor::from_vec(tok_adv, (b, max_t), dev)?
        } else {
            Tensor::from_vec(a, b, dev)?
        };
        let inp = LossInputs {
            logp: &lp,
            old_logp: &old,
            ref_logp: ref_lp.as_ref(),
            advantages: &adv_t,
            mask: &mask_t,
            entropy: Some(&ent),
        };
        let (mut loss, stats) = policy_loss(&inp, self.loss, self.norm)?;
        let mut protected = (0, steps * dims);
        if let Some((term, n)) = lp_reg {
            protected.0 = n;
            if let Some(term) = term {
                loss = (loss + (term / self.norm.tokens.max(1.0))?)?;
            }
        }
        if let Some(term) = self.learner.extra_loss(&x, returns, self.steps)? {
            loss = (loss + term)?;
        }
        if let Some(term) = extra {
            loss = (loss + term)?;
        }
        Ok(Part { grads: loss.backward()?, stats, tokens: here, protected })
    }
}

impl Trainer<'_> {
    /// One Adam step on the episodes `chunk` of `eps`: returns the loss's diagnostics, the
    /// fraction of tokens Lp-Reg protected, the imitation term's (loss, weight) and the kept
    /// demonstrations' mean token loss (0 without them).
    pub(super) fn update(
        &mut self,
        eps: &[Episode],
        adv: &[f32],
        chunk: &[usize],
    ) -> Result<(LossStats, f64, (f64, f64), f64)> {
        let dims = self.policy.codec().dims();
        let tokens: usize = chunk.iter().map(|&i| eps[i].tokens.len()).sum();
        let imitation = self.imitation_term()?;
        let demos = self.kept_demos_term()?;
        let device = self.policy.params().device().clone();
        let parts = Parts {
            policy: self.policy.as_ref(),
            reference: self.reference.as_deref(),
            learner: self.learner.as_ref(),
            loss: &self.config.loss,
            lp_reg: self.config.lp_reg.as_ref(),
            device: &device,
            eps,
            adv,
            norm: StepNorm { tokens: tokens as f64, sequences: chunk.len() as f64 },
            steps: tokens / dims.max(1),
        };
        let ranges = shards::ranges(chunk.len(), self.config.shards);
        let extra = match (imitation.as_ref(), demos.as_ref()) {
            (Some(i), Some(d)) => Some((&i.0 + &d.0)?),
            (Some(i), None) => Some(i.0.clone()),
            (None, Some(d)) => Some(d.0.clone()),
            (None, None) => None,
        };
        let done = shards::run(self.workers(), ranges, |k, r| {
            parts.part(&chunk[r], if k == 0 { extra.as_ref() } else { None })
        })?;
        let (stats, protected) = combine(&done);
        self.adam.step_summed(done.into_iter().map(|p| p.grads).collect())?;
        Ok((
            stats,
            protected,
            imitation.map_or((0.0, 0.0), |t| (t.1, t.2)),
            demos.map_or(0.0, |d| d.1),
        ))
    }

    /// Lp-Reg: `coef · Σ_protected KL(π_proxy ‖ π_θ)` (not yet divided by the step's tokens)
    /// and the number of protected token rows.
    pub(super) fn lp_reg_term(
        logits: &Tensor,
        tokens: &Tensor,
        row_adv: &[f32],
        cfg: &LpRegConfig,
    ) -> Result<(Option<Tensor>, usize)> {
        let (steps, dims, vocab) = logits.dims3()?;
        let rows = steps * dims;
        let logp = spelunk_models::policy::log_softmax(logits)?.reshape((rows, vocab))?;
        let probs: Vec<f32> = logp.detach().exp()?.flatten_all()?.to_vec1()?;
        let toks: Vec<u32> = tokens.flatten_all()?.to_vec1()?;
        let (proxy, n) = lp_reg_targets(&probs, vocab, &toks, row_adv, cfg);
        if n == 0 || cfg.coef == 0.0 {
            return Ok((None, n));
        }
        // KL(q‖p) = Σ q (ln q − ln p); the ln q part is a constant but keeps the value honest.
        let q_ln_q: f32 = proxy.iter().filter(|&&q| q > 0.0).map(|&q| q * q.ln()).sum();
        let q = Tensor::from_vec(proxy, (rows, vocab), logits.device())?;
        let kl = ((q * logp)?.sum_all()?.neg()? + f64::from(q_ln_q))?;
        Ok((Some((kl * cfg.coef)?), n))
    }
}

/// The minibatch's diagnostics from its parts': losses add up (each is already divided by the
/// minibatch's totals), means over tokens are weighted by each part's tokens; the fraction of
/// token rows Lp-Reg protected.
fn combine(parts: &[Part]) -> (LossStats, f64) {
    let (n, rows) = parts.iter().fold((0, 0), |(n, r), p| (n + p.protected.0, r + p.protected.1));
    let frac = n as f64 / rows.max(1) as f64;
    if let [one] = parts {
        return (one.stats, frac);
    }
    let tokens: f64 = parts.iter().map(|p| p.tokens).sum::<f64>().max(1.0);
    let mean = |f: fn(&LossStats) -> f64| {
        parts.iter().map(|p| f(&p.stats) * p.tokens).sum::<f64>() / tokens
    };
    let stats = LossStats {
        loss: parts.iter().map(|p| p.stats.loss).sum(),
        clip_fraction: mean(|s| s.clip_fraction),
        approx_kl: mean(|s| s.approx_kl),
        ratio_mean: mean(|s| s.ratio_mean),
        ref_kl: mean(|s| s.ref_kl),
        entropy: mean(|s| s.entropy),
    };
    (stats, frac)
}

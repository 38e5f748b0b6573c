//! The learning step: GAE for PPO, the intrinsic stream's returns, and the clipped token loss
//! over minibatches (with the imitation and Lp-Reg terms where configured).

use super::{
    lp_reg_targets, policy_loss, token_logp_entropy, Episode, LossInputs, LpRegConfig, Result,
    StepNorm, Tensor, Trainer,
};

impl Trainer<'_> {
    /// PPO: per-step GAE advantages (bootstrapped from the value of the last observation when
    /// an episode was truncated, 0 when it terminated) and returns, advantages normalised
    /// over the batch.
    pub(super) fn gae(&self, eps: &mut [Episode]) -> Result<()> {
        let Some((_, vnet)) = &self.value else { return Ok(()) };
        let d = self.policy.obs_dim();
        for e in eps.iter_mut() {
            let mut x = e.obs.clone();
            x.extend_from_slice(&e.last_obs);
            let n = e.steps + 1;
            let v: Vec<f32> = vnet
                .forward(&Tensor::from_vec(x, (n, d), self.policy.params().device())?)?
                .squeeze(1)?
                .to_vec1()?;
            let mut values = v;
            if e.terminated {
                values[e.steps] = 0.0;
            }
            let dones = vec![false; e.steps];
            let (adv, ret) = crate::advantage::gae(
                &e.rewards,
                &values,
                &dones,
                self.config.gamma,
                self.config.gae_lambda,
            )?;
            e.step_adv = adv;
            e.step_ret = ret;
        }
        let all: Vec<f32> = eps.iter().flat_map(|e| e.step_adv.iter().copied()).collect();
        let n = all.len().max(1) as f32;
        let mean = all.iter().sum::<f32>() / n;
        let std = (all.iter().map(|a| (a - mean).powi(2)).sum::<f32>() / n).sqrt();
        // A batch without any reward has advantages made only of the value head's errors;
        // normalised to unit scale they would be noise that the policy follows (and its
        // entropy collapses where it has never been rewarded). Such a batch trains the value
        // head and the entropy term only.
        let silent = eps.iter().all(|e| e.rewards.iter().all(|&r| r == 0.0));
        for e in eps.iter_mut() {
            for a in &mut e.step_adv {
                *a = if silent { 0.0 } else { (*a - mean) / (std + 1e-8) };
            }
        }
        Ok(())
    }

    /// Each episode's intrinsic return (raw bonus averaged over the observations it reached),
    /// then one update of the bonus module on up to 4,096 of those observations.
    pub(super) fn intrinsic_returns(&mut self, eps: &[Episode]) -> Result<Vec<f32>> {
        let Some(bonus) = self.bonus.as_mut() else { return Ok(vec![0.0; eps.len()]) };
        let d = self.policy.obs_dim();
        let mut obs = Vec::new();
        let mut next = Vec::new();
        let mut actions = Vec::new();
        let mut owner = Vec::new();
        let dims = self.policy.codec().dims();
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
            let j = i + self.rng.index(n - i);
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

    pub(super) fn update(
        &mut self,
        eps: &[Episode],
        adv: &[f32],
        chunk: &[usize],
    ) -> Result<(crate::loss::LossStats, f64, (f64, f64))> {
        let dims = self.policy.codec().dims();
        let obs_dim = self.policy.obs_dim();
        let mut obs = Vec::new();
        let mut tokens = Vec::new();
        let mut old = Vec::new();
        let max_t = chunk.iter().map(|&i| eps[i].tokens.len()).max().unwrap_or(0);
        let mut index = Vec::with_capacity(chunk.len() * max_t);
        let mut mask = Vec::with_capacity(chunk.len() * max_t);
        let mut a = Vec::with_capacity(chunk.len());
        let ppo = self.value.is_some();
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
            if self.config.lp_reg.is_some() {
                for t in 0..e.tokens.len() {
                    row_adv.push(if ppo { e.step_adv[t / dims] } else { adv[i] });
                }
            }
        }
        let steps = tokens.len() / dims;
        let x = Tensor::from_vec(obs, (steps, obs_dim), self.policy.params().device())?;
        let tok = Tensor::from_vec(tokens, (steps, dims), self.policy.params().device())?;
        // Sequence heads compute a whole episode's decisions in one pass when they can.
        let lengths: Vec<usize> = chunk.iter().map(|&i| eps[i].tokens.len() / dims).collect();
        let logits = match self.policy.episode_logits(&x, &lengths)? {
            Some(l) => l,
            None => self.policy.logits(&x)?,
        };
        let (lp, ent) = token_logp_entropy(&logits, &tok)?;
        let lp_reg = match &self.config.lp_reg {
            Some(cfg) => Some(Self::lp_reg_term(&logits, &tok, &row_adv, cfg)?),
            None => None,
        };
        let b = chunk.len();
        let idx = Tensor::from_vec(index, b * max_t, self.policy.params().device())?;
        let lp = lp.flatten_all()?.index_select(&idx, 0)?.reshape((b, max_t))?;
        let ent = ent.flatten_all()?.index_select(&idx, 0)?.reshape((b, max_t))?;
        let old = Tensor::from_vec(old, (b, max_t), self.policy.params().device())?;
        let mask_t = Tensor::from_vec(mask, (b, max_t), self.policy.params().device())?;
        let adv_t = if ppo {
            Tensor::from_vec(tok_adv, (b, max_t), self.policy.params().device())?
        } else {
            Tensor::from_vec(a, b, self.policy.params().device())?
        };
        let norm =
            StepNorm { tokens: mask_t.sum_all()?.to_scalar::<f32>()?.into(), sequences: b as f64 };
        let inp = LossInputs {
            logp: &lp,
            old_logp: &old,
            ref_logp: None,
            advantages: &adv_t,
            mask: &mask_t,
            entropy: Some(&ent),
        };
        let (mut loss, stats) = policy_loss(&inp, &self.config.loss, norm)?;
        let mut protected = 0.0;
        if let Some((term, frac)) = lp_reg {
            protected = frac;
            if let Some(term) = term {
                loss = (loss + (term / norm.tokens.max(1.0))?)?;
            }
        }
        if let Some((_, vnet)) = &self.value {
            let v = vnet.forward(&x)?.squeeze(1)?;
            let target = Tensor::from_vec(returns, steps, self.policy.params().device())?;
            let vloss = (v - target)?.sqr()?.mean_all()?;
            loss = (loss + (vloss * self.config.value_coef)?)?;
        }
        let mut imitation = (0.0, 0.0);
        if let Some(term) = self.imitation_term()? {
            imitation = (term.1, term.2);
            loss = (loss + term.0)?;
        }
        self.adam.backward_step(&loss)?;
        Ok((stats, protected, imitation))
    }

    /// Lp-Reg: `coef · Σ_protected KL(π_proxy ‖ π_θ)` (not yet divided by the step's tokens)
    /// and the fraction of protected tokens.
    pub(super) fn lp_reg_term(
        logits: &Tensor,
        tokens: &Tensor,
        row_adv: &[f32],
        cfg: &LpRegConfig,
    ) -> Result<(Option<Tensor>, f64)> {
        let (steps, dims, vocab) = logits.dims3()?;
        let rows = steps * dims;
        let logp = spelunk_models::policy::log_softmax(logits)?.reshape((rows, vocab))?;
        let probs: Vec<f32> = logp.detach().exp()?.flatten_all()?.to_vec1()?;
        let toks: Vec<u32> = tokens.flatten_all()?.to_vec1()?;
        let (proxy, n) = lp_reg_targets(&probs, vocab, &toks, row_adv, cfg);
        let frac = n as f64 / rows.max(1) as f64;
        if n == 0 || cfg.coef == 0.0 {
            return Ok((None, frac));
        }
        // KL(q‖p) = Σ q (ln q − ln p); the ln q part is a constant but keeps the value honest.
        let q_ln_q: f32 = proxy.iter().filter(|&&q| q > 0.0).map(|&q| q * q.ln()).sum();
        let q = Tensor::from_vec(proxy, (rows, vocab), logits.device())?;
        let kl = ((q * logp)?.sum_all()?.neg()? + f64::from(q_ln_q))?;
        Ok((Some((kl * cfg.coef)?), frac))
    }
}

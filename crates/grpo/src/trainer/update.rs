//! The learning step: the clipped token loss
//! over minibatches (with the imitation and Lp-Reg terms where configured).

use super::{
    lp_reg_targets, policy_loss, token_logp_entropy, Episode, LossInputs, LpRegConfig, Result,
    StepNorm, Tensor, Trainer,
};

impl Trainer<'_> {
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
        if let Some(term) = self.learner.extra_loss(&x, returns)? {
            loss = (loss + term)?;
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

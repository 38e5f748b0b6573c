//! Rollouts: the policy samples action tokens for many envs at once, episodes run in
//! lockstep from their starts, tree rollouts branch from states of earlier episodes.

use super::{
    begin, branch_points, env_action, features, raw_tokens, Action, ActionCodec, Arc, Env, Episode,
    Error, ObsBuf, Result, Start, Tensor, Trainer, TreeConfig,
};

impl Trainer<'_> {
    /// Sample (or pick) one token per action dimension; returns tokens, their
    /// log-probabilities and each row's entropy (summed over dimensions).
    pub(super) fn sample_tokens(
        &mut self,
        logits: &Tensor,
        greedy: bool,
    ) -> Result<(Vec<u32>, Vec<f32>, Vec<f32>)> {
        let logp = spelunk_models::policy::log_softmax(logits)?;
        let rows: Vec<Vec<Vec<f32>>> = logp.to_vec3()?;
        let mut tokens = Vec::new();
        let mut lps = Vec::new();
        let mut ents = Vec::with_capacity(rows.len());
        for row in rows {
            let mut h = 0f32;
            for dim in row {
                h -= dim.iter().map(|lp| lp.exp() * lp).sum::<f32>();
                let k = if greedy {
                    dim.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(k, _)| k)
                } else {
                    let u = self.rng.f32();
                    let mut acc = 0f32;
                    let mut pick = dim.len() - 1;
                    for (k, lp) in dim.iter().enumerate() {
                        acc += lp.exp();
                        if u < acc {
                            pick = k;
                            break;
                        }
                    }
                    pick
                };
                tokens.push(k as u32);
                lps.push(dim[k]);
            }
            ents.push(h);
        }
        Ok((tokens, lps, ents))
    }

    /// Run `starts.len() × per_seed` episodes in lockstep.
    /// Envs are built once and kept: each episode begins from its start.
    pub(super) fn rollouts(
        &mut self,
        starts: &[Start],
        per_seed: usize,
        greedy: bool,
    ) -> Result<Vec<Episode>> {
        let n = starts.len() * per_seed;
        let mut pool = std::mem::take(&mut self.pool);
        let mut result = Ok(());
        while pool.len() < n && result.is_ok() {
            match (self.make_env)(None) {
                Ok(env) => {
                    let buf = ObsBuf::for_space(env.observation_space());
                    pool.push((env, buf));
                }
                Err(e) => result = Err(Error::Env(e)),
            }
        }
        let eps = result.and_then(|()| self.rollouts_in(&mut pool[..n], starts, per_seed, greedy));
        self.pool = pool;
        eps
    }

    pub(super) fn rollouts_in(
        &mut self,
        pool: &mut [(Box<dyn Env>, ObsBuf)],
        starts: &[Start],
        per_seed: usize,
        greedy: bool,
    ) -> Result<Vec<Episode>> {
        let n = pool.len();
        let mut eps = vec![Episode::default(); n];
        let mut alive = vec![true; n];
        for (i, (env, buf)) in pool.iter_mut().enumerate() {
            let start = &starts[i / per_seed];
            begin(env.as_mut(), start, buf)?;
            eps[i].start = start.clone();
            eps[i].lives.0 = env.info().lives;
        }
        let gamma = self.config.gamma;
        let mut phi: Vec<f32> = match &self.progress {
            Some(p) => pool.iter().map(|(env, _)| p.potential(&env.info())).collect(),
            None => Vec::new(),
        };
        let dims = self.policy.codec().dims();
        let obs_dim = self.policy.obs_dim();
        let mut batch = Vec::with_capacity(n * obs_dim);
        let mut action = vec![0f32; dims];
        while alive.iter().any(|&a| a) {
            let idx: Vec<usize> = (0..n).filter(|&i| alive[i]).collect();
            batch.clear();
            for &i in &idx {
                features(&pool[i].1, self.scale, &mut batch);
            }
            if let Some(norm) = self.obs_norm.as_mut() {
                if !self.norm_frozen {
                    norm.update(&batch);
                }
                norm.apply(&mut batch);
            }
            if let Some(span) = self.policy.token_span() {
                for (k, &i) in idx.iter().enumerate() {
                    raw_tokens(&pool[i].1, &span, &mut batch[k * obs_dim..(k + 1) * obs_dim]);
                }
            }
            let x =
                Tensor::from_slice(&batch, (idx.len(), obs_dim), self.policy.params().device())?;
            let logits = self.policy.logits(&x)?;
            let (tokens, lps, ents) = self.sample_tokens(&logits, greedy)?;
            for (k, &i) in idx.iter().enumerate() {
                let ep = &mut eps[i];
                ep.entropy.push(ents[k]);
                ep.obs.extend_from_slice(&batch[k * obs_dim..(k + 1) * obs_dim]);
                let toks = &tokens[k * dims..(k + 1) * dims];
                ep.tokens.extend_from_slice(toks);
                ep.old_logp.extend_from_slice(&lps[k * dims..(k + 1) * dims]);
                let act = match self.policy.codec() {
                    ActionCodec::Discrete { start, .. } => {
                        Action::Discrete(i64::from(toks[0]) + start)
                    }
                    codec @ ActionCodec::Binned { .. } => {
                        for (d, a) in action.iter_mut().enumerate() {
                            *a = codec.decode(d, toks[d]);
                        }
                        Action::Continuous(&action)
                    }
                };
                match act {
                    Action::Discrete(a) => ep.actions.push(a as f32),
                    Action::Continuous(v) => ep.actions.extend_from_slice(v),
                    Action::MultiDiscrete(v) => ep.actions.extend(v.iter().map(|&a| a as f32)),
                }
                let (env, buf) = &mut pool[i];
                let s = env.step(act, buf.as_mut())?;
                ep.ret += s.reward;
                let mut r = s.reward;
                if let Some(p) = &self.progress {
                    let next = if s.terminated { 0.0 } else { p.potential(&s.info) };
                    let f = gamma * next - phi[i];
                    phi[i] = next;
                    ep.shaping += f;
                    r += f;
                }
                ep.rewards.push(r);
                ep.terminated = s.terminated;
                ep.steps += 1;
                self.env_steps += 1;
                if s.terminated || s.truncated {
                    self.policy_row(&pool[i].1, &mut ep.last_obs);
                    ep.success = s.info.is_success.unwrap_or(s.terminated && s.reward > 0.0);
                    ep.truncated = s.truncated && !s.terminated;
                    ep.lives.1 = s.info.lives;
                    ep.end_room = s.info.room;
                    ep.end_items = s.info.inventory;
                    alive[i] = false;
                }
            }
        }
        Ok(eps)
    }

    /// Tree rollouts: replay each group's most uncertain steps and sample children there.
    /// Returns the children (in sibling groups) and the sibling-group size.
    pub(super) fn branch(
        &mut self,
        eps: &[Episode],
        g: usize,
        t: TreeConfig,
    ) -> Result<(Vec<Episode>, usize)> {
        let per = if t.children == 0 { g } else { t.children };
        if self.replay.is_none() {
            let env = (self.make_env)(None)?;
            let buf = ObsBuf::for_space(env.observation_space());
            self.replay = Some((env, buf));
        }
        let dims = self.policy.codec().dims();
        let mut starts = Vec::new();
        for group in eps.chunks(g) {
            let ents: Vec<&[f32]> = group.iter().map(|e| e.entropy.as_slice()).collect();
            for (e, step) in branch_points(&ents, t.branch_points) {
                let ep = &group[e];
                let Some((env, buf)) = self.replay.as_mut() else { unreachable!() };
                begin(env.as_mut(), &ep.start, buf)?;
                let seed = match ep.start {
                    Start::Seed(s) | Start::Restore(s, _, _) => s,
                };
                let codec = self.policy.codec().clone();
                for k in 0..step {
                    let a = env_action(&codec, &ep.actions[k * dims..(k + 1) * dims]);
                    env.step(a, buf.as_mut())?;
                }
                let snap = env.snapshot().map_err(|e| {
                    Error::Config(format!("tree rollouts need an env that can snapshot: {e}"))
                })?;
                starts.push(Start::Restore(seed, Arc::new(snap), None));
            }
        }
        Ok((self.rollouts(&starts, per, false)?, per))
    }

    /// Append the policy's input row for one observation: scaled features, normalised by
    /// the running statistics (not updated), token ids kept raw.
    pub(super) fn policy_row(&self, buf: &ObsBuf, out: &mut Vec<f32>) {
        let start = out.len();
        features(buf, self.scale, out);
        let row = &mut out[start..];
        if let Some(norm) = &self.obs_norm {
            norm.apply(row);
        }
        if let Some(span) = self.policy.token_span() {
            raw_tokens(buf, &span, row);
        }
    }
}

//! Rollouts: the policy samples action tokens for many envs at once, episodes run in
//! lockstep from their starts, tree rollouts branch from states of earlier episodes.

use spelunk_core::{Actions, AutoReset, ObsRef, VecEnv, VecEnvConfig};

use super::{
    begin, branch_points, env_action, features, raw_tokens, ActionCodec, Arc, Episode, Error,
    ObsBuf, Result, Start, Tensor, Trainer, TreeConfig,
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

    /// Run `starts.len() × per_seed` episodes in lockstep on a vector env of that many envs
    /// (built once per size and kept): each episode begins from its start, the policy acts for
    /// every live episode at once, the envs step on `threads` threads, and envs whose episode
    /// has ended idle until the last one ends.
    pub(super) fn rollouts(
        &mut self,
        starts: &[Start],
        per_seed: usize,
        greedy: bool,
    ) -> Result<Vec<Episode>> {
        let n = starts.len() * per_seed;
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut venv = if let Some(v) = self.pools.remove(&n) {
            v
        } else {
            let threads = match self.config.threads {
                0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
                t => t,
            };
            let config =
                VecEnvConfig { num_threads: threads.min(n), autoreset: AutoReset::Disabled };
            VecEnv::from_fn(n, config, |_| (self.make_env)(None))?
        };
        let eps = self.rollouts_in(&mut venv, starts, per_seed, greedy);
        self.pools.insert(n, venv);
        eps
    }

    pub(super) fn rollouts_in(
        &mut self,
        venv: &mut VecEnv,
        starts: &[Start],
        per_seed: usize,
        greedy: bool,
    ) -> Result<Vec<Episode>> {
        let n = venv.num_envs();
        let mut eps = vec![Episode::default(); n];
        let mut alive = vec![true; n];
        for (i, ep) in eps.iter_mut().enumerate() {
            let start = &starts[i / per_seed];
            let info = venv.begin_env(i, |env, obs| begin(env, start, obs))?;
            ep.start = start.clone();
            ep.lives.0 = info.lives;
        }
        let gamma = self.config.gamma;
        let mut phi: Vec<f32> = match &self.progress {
            Some(p) => venv.infos().iter().map(|info| p.potential(info)).collect(),
            None => Vec::new(),
        };
        let dims = self.policy.codec().dims();
        let obs_dim = self.policy.obs_dim();
        let mut batch = Vec::with_capacity(n * obs_dim);
        let mut actions = match self.policy.codec() {
            ActionCodec::Discrete { .. } => Actions::Discrete(vec![0; n]),
            ActionCodec::Binned { .. } => Actions::Continuous { values: vec![0.0; n * dims], dims },
        };

        while alive.iter().any(|&a| a) {
            let idx: Vec<usize> = (0..n).filter(|&i| alive[i]).collect();
            batch.clear();
            for &i in &idx {
                features(row(venv, i)?, self.scale, &mut batch);
            }
            if let Some(norm) = self.obs_norm.as_mut() {
                if !self.norm_frozen {
                    norm.update(&batch);
                }
                norm.apply(&mut batch);
            }
            if let Some(span) = self.policy.token_span() {
                for (k, &i) in idx.iter().enumerate() {
                    raw_tokens(row(venv, i)?, &span, &mut batch[k * obs_dim..(k + 1) * obs_dim]);
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
                match (self.policy.codec(), &mut actions) {
                    (ActionCodec::Discrete { start, .. }, Actions::Discrete(a)) => {
                        a[i] = i64::from(toks[0]) + start;
                        ep.actions.push(a[i] as f32);
                    }
                    (codec @ ActionCodec::Binned { .. }, Actions::Continuous { values, .. }) => {
                        let a = &mut values[i * dims..(i + 1) * dims];
                        for (d, v) in a.iter_mut().enumerate() {
                            *v = codec.decode(d, toks[d]);
                        }
                        ep.actions.extend_from_slice(a);
                    }
                    _ => return Err(Error::Shape("actions do not match the codec".into())),
                }
            }
            venv.set_active(&alive)?;
            venv.step(&actions)?;
            for &i in &idx {
                let ep = &mut eps[i];
                let (reward, info) = (venv.rewards()[i], venv.infos()[i]);
                let (terminated, truncated) = (venv.terminated()[i], venv.truncated()[i]);
                ep.ret += reward;
                let mut r = reward;
                if let Some(p) = &self.progress {
                    let next = if terminated { 0.0 } else { p.potential(&info) };
                    let f = gamma * next - phi[i];
                    phi[i] = next;
                    ep.shaping += f;
                    r += f;
                }
                ep.rewards.push(r);
                ep.terminated = terminated;
                ep.steps += 1;
                self.env_steps += 1;
                if terminated || truncated {
                    self.policy_row(row(venv, i)?, &mut ep.last_obs);
                    ep.success = info.is_success.unwrap_or(terminated && reward > 0.0);
                    ep.truncated = truncated && !terminated;
                    ep.lives.1 = info.lives;
                    ep.end_room = info.room;
                    ep.end_items = info.inventory;
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
                begin(env.as_mut(), &ep.start, buf.as_mut())?;
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
    pub(super) fn policy_row(&self, buf: ObsRef<'_>, out: &mut Vec<f32>) {
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

/// The observation row of env `i`.
fn row(venv: &VecEnv, i: usize) -> Result<ObsRef<'_>> {
    venv.obs_row(i).ok_or_else(|| Error::Shape(format!("no observation row {i}")))
}

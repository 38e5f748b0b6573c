//! Rollouts: the policy samples action tokens for many envs at once, episodes run in
//! lockstep from their starts, tree rollouts branch from states of earlier episodes.
//!
//! The envs split into `shards` fixed parts, each with a vector env of its own, stepped in a
//! lockstep of its own on one of the run's threads: its observations go through the policy as
//! one batch, its tokens are drawn from a generator of its own (with one shard, the run's), and
//! with `obs_norm` it normalises by a copy of the statistics that its own observations update;
//! the run's statistics then take in every shard's observations, in shard order.

use spelunk_core::{Actions, AutoReset, ObsRef, Rng, VecEnv, VecEnvConfig};
use spelunk_models::policy::Policy;

use super::{
    begin, branch_points, env_action, features, raw_tokens, shards, ActionCodec, Arc, Episode,
    Error, ObsBuf, Progress, Result, RunningNorm, Start, Tensor, Trainer, TreeConfig,
};

/// What every shard of a rollout reads.
pub(super) struct Lockstep<'s> {
    pub(super) policy: &'s dyn Policy,
    pub(super) scale: f32,
    pub(super) progress: Option<&'s Progress>,
    pub(super) gamma: f32,
    pub(super) greedy: bool,
    /// Update the observation statistics (training) or only use them (evaluation).
    pub(super) learn_norm: bool,
    /// Every episode's start; the episode of env `i` (counted over all shards) begins from
    /// `starts[i / per_seed]`.
    pub(super) starts: &'s [Start],
    pub(super) per_seed: usize,
}

/// A shard's generator of tokens and its observation statistics.
pub(super) struct Generators {
    pub(super) rng: Rng,
    /// The statistics it normalises by (its own copy).
    pub(super) norm: Option<RunningNorm>,
    /// Statistics of its own observations alone (only kept with several shards).
    pub(super) fresh: Option<RunningNorm>,
}

/// One shard's envs and what it changes.
struct Shard<'s> {
    venv: &'s mut VecEnv,
    /// Index of its first env among all shards'.
    offset: usize,
    gen: Generators,
}

/// What a shard hands back.
struct Done {
    eps: Vec<Episode>,
    steps: u64,
    gen: Generators,
}

impl Trainer<'_> {
    /// Threads of the run (`threads`, 0 meaning every core).
    pub(super) fn threads(&self) -> usize {
        match self.config.threads {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            t => t,
        }
    }

    /// The workers of the policy's shards (none: the calling thread runs them).
    pub(super) fn workers(&self) -> Option<&rayon::ThreadPool> {
        self.workers.get_or_init(|| shards::pool(self.threads())).as_ref()
    }

    /// A shard's generator and statistics for a rollout: with one shard, the run's own
    /// generator (handed back by [`Trainer::shard_finished`]) and statistics; with several, a
    /// generator seeded from the run's, a copy of the statistics and fresh ones of its own.
    pub(super) fn shard_generators(&mut self, several: bool) -> Generators {
        let rng = if several {
            Rng::seed_from_u64(self.rng.next_u64())
        } else {
            std::mem::replace(&mut self.rng, Rng::seed_from_u64(0))
        };
        let fresh = (several && !self.norm_frozen)
            .then(|| self.obs_norm.as_ref().map(|m| RunningNorm::new(m.mean.len())))
            .flatten();
        Generators { rng, norm: self.obs_norm.clone(), fresh }
    }

    /// A shard's rollout is done (in shard order): one shard's generator and statistics
    /// become the run's; several shards' own statistics merge into the run's.
    pub(super) fn shard_finished(&mut self, several: bool, gen: Generators) {
        if !several {
            self.rng = gen.rng;
            if !self.norm_frozen {
                self.obs_norm = gen.norm;
            }
        } else if let (Some(run), Some(fresh)) = (self.obs_norm.as_mut(), &gen.fresh) {
            run.merge(fresh);
        }
    }

    /// Vector envs for the shards `ranges` (threads beyond one per shard step each shard's
    /// envs), every env started by the caller.
    pub(super) fn shard_venvs(&self, ranges: &[std::ops::Range<usize>]) -> Result<Vec<VecEnv>> {
        let per = (self.threads() / ranges.len().max(1)).max(1);
        let mut v = Vec::with_capacity(ranges.len());
        for r in ranges {
            let config =
                VecEnvConfig { num_threads: per.min(r.len()), autoreset: AutoReset::Disabled };
            v.push(VecEnv::from_fn(r.len(), config, |_| (self.make_env)(None))?);
        }
        Ok(v)
    }

    /// Run `starts.len() × per_seed` episodes in lockstep, in `shards` parts (each a vector
    /// env built once per size and kept): each episode begins from its start, the policy acts
    /// for every live episode of a part at once, and envs whose episode has ended idle until
    /// the last one of their part ends.
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
        let ranges = shards::ranges(n, self.config.shards);
        let parts = ranges.len();
        let mut venvs = match self.pools.remove(&(n, parts)) {
            Some(v) => v,
            None => self.shard_venvs(&ranges)?,
        };
        let several = parts > 1;
        let mut shard_states = Vec::with_capacity(parts);
        for (venv, r) in venvs.iter_mut().zip(&ranges) {
            let gen = self.shard_generators(several);
            shard_states.push(Shard { venv, offset: r.start, gen });
        }
        let step = Lockstep {
            policy: self.policy.as_ref(),
            scale: self.scale,
            progress: self.progress.as_ref(),
            gamma: self.config.gamma,
            greedy,
            learn_norm: !self.norm_frozen,
            starts,
            per_seed,
        };
        let done = shards::run(self.workers(), shard_states, |_, shard| step.run(shard));
        self.pools.insert((n, parts), venvs);
        let mut eps = Vec::with_capacity(n);
        for d in done? {
            eps.extend(d.eps);
            self.env_steps += d.steps;
            self.shard_finished(several, d.gen);
        }
        Ok(eps)
    }
}

impl Lockstep<'_> {
    /// Actions for `n` envs, to be filled by [`Lockstep::decide`].
    pub(super) fn action_buffer(&self, n: usize) -> Actions {
        let dims = self.policy.codec().dims();
        match self.policy.codec() {
            ActionCodec::Discrete { .. } => Actions::Discrete(vec![0; n]),
            ActionCodec::Binned { .. } => Actions::Continuous { values: vec![0.0; n * dims], dims },
        }
    }

    /// One decision for the envs `idx` of `venv`: their input rows (normalised, the
    /// statistics learning from them in training) through the policy as one batch, a token
    /// per action dimension drawn from `gen.rng`; each env's episode in `eps` records its row,
    /// tokens, their log-probabilities, the entropy and the action, written into `actions`.
    pub(super) fn decide(
        &self,
        venv: &VecEnv,
        idx: &[usize],
        gen: &mut Generators,
        batch: &mut Vec<f32>,
        eps: &mut [Episode],
        actions: &mut Actions,
    ) -> Result<()> {
        let codec = self.policy.codec();
        let dims = codec.dims();
        let obs_dim = self.policy.obs_dim();
        let device = self.policy.params().device();
        batch.clear();
        for &i in idx {
            features(row(venv, i)?, self.scale, batch);
        }
        if let Some(norm) = gen.norm.as_mut() {
            if self.learn_norm {
                norm.update(batch);
                if let Some(f) = gen.fresh.as_mut() {
                    f.update(batch);
                }
            }
            norm.apply(batch);
        }
        if let Some(span) = self.policy.token_span() {
            for (k, &i) in idx.iter().enumerate() {
                raw_tokens(row(venv, i)?, &span, &mut batch[k * obs_dim..(k + 1) * obs_dim]);
            }
        }
        let x = Tensor::from_slice(batch, (idx.len(), obs_dim), device)?;
        let logp = spelunk_models::policy::log_softmax(&self.policy.logits(&x)?)?;
        let (tokens, lps, ents) = sample_tokens(logp.to_vec3()?, self.greedy, &mut gen.rng);
        for (k, &i) in idx.iter().enumerate() {
            let ep = &mut eps[i];
            ep.entropy.push(ents[k]);
            ep.obs.extend_from_slice(&batch[k * obs_dim..(k + 1) * obs_dim]);
            let toks = &tokens[k * dims..(k + 1) * dims];
            ep.tokens.extend_from_slice(toks);
            ep.old_logp.extend_from_slice(&lps[k * dims..(k + 1) * dims]);
            match (codec, &mut *actions) {
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
        Ok(())
    }

    /// Append env `i`'s observation to `out` as the policy's input row (normalised by `norm`,
    /// not updated): an episode's or a segment's last observation.
    pub(super) fn last_row(
        &self,
        venv: &VecEnv,
        i: usize,
        norm: Option<&RunningNorm>,
        out: &mut Vec<f32>,
    ) -> Result<()> {
        policy_row(self.policy, self.scale, norm, row(venv, i)?, out);
        Ok(())
    }

    /// The shard's episodes, stepped in lockstep until the last one ends.
    fn run(&self, shard: Shard<'_>) -> Result<Done> {
        let Shard { venv, offset, mut gen } = shard;
        let n = venv.num_envs();
        let mut eps = vec![Episode::default(); n];
        let mut alive = vec![true; n];
        for (i, ep) in eps.iter_mut().enumerate() {
            let start = &self.starts[(offset + i) / self.per_seed];
            let info = venv.begin_env(i, |env, obs| begin(env, start, obs))?;
            ep.start = start.clone();
            ep.lives.0 = info.lives;
        }
        let gamma = self.gamma;
        let mut phi: Vec<f32> = match self.progress {
            Some(p) => venv.infos().iter().map(|info| p.potential(info)).collect(),
            None => Vec::new(),
        };
        let mut batch = Vec::with_capacity(n * self.policy.obs_dim());
        let mut actions = self.action_buffer(n);
        let mut steps = 0u64;

        while alive.iter().any(|&a| a) {
            let idx: Vec<usize> = (0..n).filter(|&i| alive[i]).collect();
            self.decide(venv, &idx, &mut gen, &mut batch, &mut eps, &mut actions)?;
            venv.set_active(&alive)?;
            venv.step(&actions)?;
            for &i in &idx {
                let ep = &mut eps[i];
                let (reward, info) = (venv.rewards()[i], venv.infos()[i]);
                let (terminated, truncated) = (venv.terminated()[i], venv.truncated()[i]);
                ep.ret += reward;
                let mut r = reward;
                if let Some(p) = self.progress {
                    let next = if terminated { 0.0 } else { p.potential(&info) };
                    let f = gamma * next - phi[i];
                    phi[i] = next;
                    ep.shaping += f;
                    r += f;
                }
                ep.rewards.push(r);
                ep.terminated = terminated;
                ep.steps += 1;
                steps += 1;
                if terminated || truncated {
                    self.last_row(venv, i, gen.norm.as_ref(), &mut ep.last_obs)?;
                    ep.success = info.is_success.unwrap_or(terminated && reward > 0.0);
                    ep.truncated = truncated && !terminated;
                    ep.lives.1 = info.lives;
                    ep.end_room = info.room;
                    ep.end_items = info.inventory;
                    alive[i] = false;
                }
            }
        }
        Ok(Done { eps, steps, gen })
    }
}

/// Sample (or pick) one token per action dimension from each row's log-probabilities
/// (`[row][dimension][token]`); returns tokens, their log-probabilities and each row's entropy
/// (summed over dimensions).
fn sample_tokens(
    rows: Vec<Vec<Vec<f32>>>,
    greedy: bool,
    rng: &mut Rng,
) -> (Vec<u32>, Vec<f32>, Vec<f32>) {
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
                let u = rng.f32();
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
    (tokens, lps, ents)
}

/// Append the policy's input row for one observation: scaled features, normalised by `norm`
/// (not updated), token ids kept raw.
fn policy_row(
    policy: &dyn Policy,
    scale: f32,
    norm: Option<&RunningNorm>,
    buf: ObsRef<'_>,
    out: &mut Vec<f32>,
) {
    let start = out.len();
    features(buf, scale, out);
    let row = &mut out[start..];
    if let Some(norm) = norm {
        norm.apply(row);
    }
    if let Some(span) = policy.token_span() {
        raw_tokens(buf, &span, row);
    }
}

impl Trainer<'_> {
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

    /// The policy's action for one observation (a robot's twin, a served policy): its input
    /// row as in evaluation (normalisation statistics used, not updated), one token per action
    /// dimension — the most likely with `greedy`, else sampled from the trainer's generator —
    /// decoded to the env's action values (a discrete action as one value).
    ///
    /// # Errors
    /// An observation that does not fit the policy.
    pub fn act(&mut self, obs: ObsRef<'_>, greedy: bool) -> Result<Vec<f32>> {
        let logits = self.logits(obs)?;
        let logp = spelunk_models::policy::log_softmax(&logits)?;
        let (tokens, _, _) = sample_tokens(logp.to_vec3()?, greedy, &mut self.rng);
        let codec = self.policy.codec();
        Ok(match codec {
            ActionCodec::Discrete { start, .. } => vec![(i64::from(tokens[0]) + start) as f32],
            ActionCodec::Binned { .. } => {
                tokens.iter().enumerate().map(|(d, &t)| codec.decode(d, t)).collect()
            }
        })
    }

    /// The policy's logits `[1, dims, vocab]` for one raw observation (its input row as in
    /// evaluation).
    ///
    /// # Errors
    /// An observation that does not fit the policy.
    pub fn logits(&self, obs: ObsRef<'_>) -> Result<Tensor> {
        let mut row = Vec::with_capacity(self.policy.obs_dim());
        self.policy_row(obs, &mut row);
        if row.len() != self.policy.obs_dim() {
            return Err(Error::Shape(format!(
                "an observation of {} features for a policy of {}",
                row.len(),
                self.policy.obs_dim()
            )));
        }
        let device = self.policy.params().device();
        let x = Tensor::from_slice(&row, (1, row.len()), device)?;
        Ok(self.policy.logits(&x)?)
    }

    /// The policy as an ONNX model (bytes of a `.onnx` file): the raw observation through the
    /// trainer's feature scale and normalisation to the head's logits (see
    /// `spelunk_models::onnx`), with `metadata` in the model.
    ///
    /// # Errors
    /// A head that reads token ids (the transformer and VLA heads) or cannot be exported.
    pub fn export_onnx(&self, metadata: &[(String, String)]) -> Result<Vec<u8>> {
        if self.policy.token_span().is_some() {
            return Err(Error::Config(format!(
                "the {} head reads token ids; only the MLP and CNN heads export to ONNX",
                self.policy.module()
            )));
        }
        let norm = self.obs_norm.as_ref().map(|n| {
            let count = n.count.max(1.0);
            let mean = n.mean.iter().map(|&m| m as f32).collect();
            let std = n.m2.iter().map(|&s| ((s / count).sqrt() + 1e-8) as f32).collect();
            (mean, std)
        });
        let pre = spelunk_models::onnx::Preprocess { scale: self.scale, norm };
        Ok(spelunk_models::onnx::export(self.policy.as_ref(), &pre, metadata)?)
    }

    /// Append the policy's input row for one observation: scaled features, normalised by the
    /// running statistics (not updated), token ids kept raw.
    pub(super) fn policy_row(&self, buf: ObsRef<'_>, out: &mut Vec<f32>) {
        policy_row(self.policy.as_ref(), self.scale, self.obs_norm.as_ref(), buf, out);
    }

    /// The row the policy reads for one observation (as rollouts make it), to ask the policy
    /// about it: `trainer.policy.keypoints(&row)`, its logits.
    ///
    /// # Errors
    /// A device error.
    pub fn policy_input(&self, buf: ObsRef<'_>) -> Result<Tensor> {
        let mut row = Vec::with_capacity(self.policy.obs_dim());
        self.policy_row(buf, &mut row);
        let device = self.policy.params().device();
        Ok(Tensor::from_vec(row, (1, self.policy.obs_dim()), device)?)
    }
}

/// The observation row of env `i`.
fn row(venv: &VecEnv, i: usize) -> Result<ObsRef<'_>> {
    venv.obs_row(i).ok_or_else(|| Error::Shape(format!("no observation row {i}")))
}

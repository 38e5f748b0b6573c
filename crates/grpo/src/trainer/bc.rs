//! Behaviour cloning: the policy's action tokens fitted to demonstrations by cross-entropy
//! (OpenVLA's recipe for its binned action tokens), before or instead of RL.
//!
//! Each demonstrated action is encoded to its token per dimension by the head's codec (the
//! nearest bin of a continuous dimension); the loss is the tokens' mean negative log-likelihood
//! under the policy, taken with the trainer's own Adam over shuffled minibatches. The
//! observation rows are those the policy sees in rollouts — scaled, normalised, token ids raw —
//! and with `obs_norm` the statistics are set from the demonstrations first and then kept fixed,
//! so RL fine-tuning that follows sees its inputs normalised as the clone was fitted to them
//! (statistics that went on updating from the rollouts undid a cloned arm head within a few
//! iterations, its weights unchanged).

use candle_core::{DType, Tensor};
use serde::{Deserialize, Serialize};
use spelunk_core::ObsRef;

use super::{norm::RunningNorm, Trainer};
use crate::{Error, Result};

/// Settings of [`Trainer::behaviour_clone`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BcConfig {
    /// Passes over the training frames.
    pub epochs: usize,
    /// Frames per minibatch.
    pub batch: usize,
    /// The share of episodes (the last ones) held out to measure the fit.
    pub holdout: f64,
    /// Adam's learning rate while cloning (`None`: the trainer's `adam.lr`, which stays the
    /// rate of RL afterwards).
    pub lr: Option<f64>,
    /// The weight of the demonstrations' token loss kept in the RL fine-tuning that follows
    /// (0: none; [`Trainer::keep_demos`]). Read by the callers that fine-tune.
    pub rl_coef: f64,
    /// Demonstrated frames per RL optimiser step when `rl_coef` > 0.
    pub rl_batch: usize,
}

impl Default for BcConfig {
    fn default() -> Self {
        Self { epochs: 20, batch: 256, holdout: 0.1, lr: None, rl_coef: 0.0, rl_batch: 256 }
    }
}

/// One epoch of behaviour cloning.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BcEpoch {
    /// Mean token loss over the epoch's minibatches.
    pub train_loss: f64,
    /// Mean token loss on the held-out episodes.
    pub holdout_loss: f64,
    /// Share of held-out action tokens that are the policy's most likely ones.
    pub holdout_accuracy: f64,
}

impl Trainer<'_> {
    /// Fit the policy to demonstrations: `obs` holds one raw observation row per frame (the
    /// env's flat layout), `actions` one action per frame, `episodes` the frames of each
    /// episode in order (the last `holdout` share of them is held out). `on_epoch` hears each
    /// epoch's figures. Deterministic for the trainer's seed.
    ///
    /// # Errors
    /// Rows or actions that do not fit the policy, no frames to train on.
    pub fn behaviour_clone(
        &mut self,
        obs: &[f32],
        actions: &[f32],
        episodes: &[usize],
        config: &BcConfig,
        on_epoch: &mut dyn FnMut(usize, &BcEpoch),
    ) -> Result<Vec<BcEpoch>> {
        let rl_lr = self.adam.lr();
        if let Some(lr) = config.lr {
            self.adam.set_lr(lr)?;
        }
        let out = self.clone_epochs(obs, actions, episodes, config, on_epoch);
        self.adam.set_lr(rl_lr)?;
        // RL that follows is held near the cloned policy, not the random one it started from.
        self.freeze_reference()?;
        out
    }

    /// Make the present policy the KL term's reference (with `loss.kl_coef > 0`; otherwise
    /// nothing to do). [`Trainer::behaviour_clone`] does this when it ends.
    ///
    /// # Errors
    /// Parameters that cannot be copied (a device error).
    pub fn freeze_reference(&mut self) -> Result<()> {
        if let Some(r) = &self.reference {
            r.params().copy_from(self.policy.params())?;
        }
        Ok(())
    }

    /// Keep demonstrations in the RL loss that follows: every optimiser step adds `coef` × the
    /// mean token negative log-likelihood of `batch` demonstrated frames drawn at random (the
    /// demonstration-augmented policy gradient of Rajeswaran et al., 2018, with a constant
    /// weight), so fine-tuning improves on the cloned policy without forgetting what it was
    /// shown. `obs` and `actions` as for [`Trainer::behaviour_clone`]; the rows are taken
    /// with the observation statistics as they are now. `coef` 0 removes them.
    ///
    /// # Errors
    /// Rows or actions that do not fit the policy, a negative or non-finite `coef`, `batch` 0.
    pub fn keep_demos(
        &mut self,
        obs: &[f32],
        actions: &[f32],
        coef: f64,
        batch: usize,
    ) -> Result<()> {
        if !(coef >= 0.0 && coef.is_finite()) || batch == 0 {
            return Err(Error::Config(format!(
                "kept demonstrations: the weight must be a finite number, 0 or more (got \
                 {coef}), and the batch at least 1 (got {batch})"
            )));
        }
        if coef == 0.0 {
            self.kept_demos = None;
            return Ok(());
        }
        let frames = self.demo_frames(obs, actions, "kept demonstrations")?;
        self.kept_demos = Some(KeptDemos { frames, coef, batch });
        Ok(())
    }

    /// The kept demonstrations' term for one optimiser step: `coef` × the mean token negative
    /// log-likelihood of a random batch of frames, and that mean (`None` without them).
    pub(super) fn kept_demos_term(&mut self) -> Result<Option<(Tensor, f64)>> {
        let Some(k) = &self.kept_demos else {
            return Ok(None);
        };
        let frames = k.frames.len();
        let idx: Vec<usize> = (0..k.batch.min(frames)).map(|_| self.rng.index(frames)).collect();
        let (x, t) = k.frames.batch(&idx, self.policy.params().device())?;
        let nll = mean_token_nll(&self.policy.logits(&x)?, &t)?;
        let mean = f64::from(nll.to_scalar::<f32>()?);
        Ok(Some(((nll * k.coef)?, mean)))
    }

    /// Policy rows and action tokens of demonstrated frames, checked against the policy.
    fn demo_frames(&self, obs: &[f32], actions: &[f32], what: &str) -> Result<Frames> {
        let dim = self.policy.obs_dim();
        let codec = self.policy.codec();
        let dims = codec.dims();
        let frames = obs.len() / dim.max(1);
        if frames == 0 || obs.len() != frames * dim || actions.len() != frames * dims {
            return Err(Error::Shape(format!(
                "{what}: observation rows of {dim} and actions of {dims} values, for the same \
                 frames; got {} and {} values",
                obs.len(),
                actions.len()
            )));
        }
        let mut rows = Vec::with_capacity(obs.len());
        for row in obs.chunks(dim) {
            self.policy_row(ObsRef::F32(row), &mut rows);
        }
        let tokens = actions
            .chunks(dims)
            .flat_map(|a| a.iter().enumerate().map(|(d, &x)| codec.encode(d, x)))
            .collect();
        Ok(Frames { rows, tokens, dim, dims })
    }

    fn clone_epochs(
        &mut self,
        obs: &[f32],
        actions: &[f32],
        episodes: &[usize],
        config: &BcConfig,
        on_epoch: &mut dyn FnMut(usize, &BcEpoch),
    ) -> Result<Vec<BcEpoch>> {
        let dim = self.policy.obs_dim();
        let codec = self.policy.codec().clone();
        let dims = codec.dims();
        let frames: usize = episodes.iter().sum();
        if frames == 0 || obs.len() != frames * dim || actions.len() != frames * dims {
            return Err(Error::Shape(format!(
                "behaviour cloning: {frames} frames need {} observation values and {} action \
                 values (rows of {dim} and {dims}); got {} and {}",
                frames * dim,
                frames * dims,
                obs.len(),
                actions.len()
            )));
        }
        if config.batch == 0 || !(0.0..1.0).contains(&config.holdout) {
            return Err(Error::Config("bc: batch must be at least 1 and holdout in [0, 1)".into()));
        }
        if self.obs_norm.is_some() {
            let mut scaled = Vec::with_capacity(obs.len());
            for row in obs.chunks(dim) {
                super::norm::features(ObsRef::F32(row), self.scale, &mut scaled);
            }
            let mut norm = RunningNorm::new(dim);
            norm.update(&scaled);
            self.obs_norm = Some(norm);
            // Fixed from now on: RL that follows sees its inputs as the clone was fitted to.
            self.norm_frozen = true;
        }
        let demos = self.demo_frames(obs, actions, "behaviour cloning")?;
        let held_episodes = ((episodes.len() as f64) * config.holdout).round() as usize;
        let held_episodes = held_episodes.min(episodes.len().saturating_sub(1));
        let train_frames: usize = episodes[..episodes.len() - held_episodes].iter().sum();
        let device = self.policy.params().device().clone();
        let batch_of = |idx: &[usize]| demos.batch(idx, &device);
        let mut out = Vec::with_capacity(config.epochs);
        let mut order: Vec<usize> = (0..train_frames).collect();
        let held: Vec<usize> = (train_frames..frames).collect();
        for epoch in 0..config.epochs {
            shuffle(&mut order, &mut self.rng);
            let (mut sum, mut n) = (0.0, 0usize);
            for chunk in order.chunks(config.batch) {
                let (x, t) = batch_of(chunk)?;
                let (logits, aux) = self.policy.logits_with_aux(&x)?;
                let loss = mean_token_nll(&logits, &t)?;
                sum += f64::from(loss.to_scalar::<f32>()?);
                n += 1;
                let total = match aux {
                    Some(aux) => (loss + aux)?,
                    None => loss,
                };
                self.adam.backward_step(&total)?;
            }
            let (mut hl, mut hits, mut count) = (0.0, 0usize, 0usize);
            for chunk in held.chunks(config.batch.max(512)) {
                let (x, t) = batch_of(chunk)?;
                let logits = self.policy.logits(&x)?;
                let logp = spelunk_models::policy::log_softmax(&logits)?;
                hl += f64::from(logp.gather(&t, 2)?.sum_all()?.neg()?.to_scalar::<f32>()?);
                let best =
                    logits.argmax(2)?.to_dtype(DType::U32)?.flatten_all()?.to_vec1::<u32>()?;
                let want = t.flatten_all()?.to_vec1::<u32>()?;
                hits += best.iter().zip(&want).filter(|(a, b)| a == b).count();
                count += want.len();
            }
            let e = BcEpoch {
                train_loss: sum / n.max(1) as f64,
                holdout_loss: if count > 0 { hl / count as f64 } else { f64::NAN },
                holdout_accuracy: if count > 0 { hits as f64 / count as f64 } else { f64::NAN },
            };
            on_epoch(epoch, &e);
            out.push(e);
        }
        Ok(out)
    }
}

/// Demonstrated frames as the policy reads them: its input rows and the actions' tokens.
struct Frames {
    /// Policy rows, `dim` values each.
    rows: Vec<f32>,
    /// Action tokens, `dims` per frame.
    tokens: Vec<u32>,
    dim: usize,
    dims: usize,
}

impl Frames {
    fn len(&self) -> usize {
        self.tokens.len() / self.dims.max(1)
    }

    /// The frames `idx` as `[n, dim]` rows and `[n, dims, 1]` tokens.
    fn batch(&self, idx: &[usize], device: &candle_core::Device) -> Result<(Tensor, Tensor)> {
        let (dim, dims) = (self.dim, self.dims);
        let mut x = Vec::with_capacity(idx.len() * dim);
        let mut t = Vec::with_capacity(idx.len() * dims);
        for &i in idx {
            x.extend_from_slice(&self.rows[i * dim..(i + 1) * dim]);
            t.extend_from_slice(&self.tokens[i * dims..(i + 1) * dims]);
        }
        Ok((
            Tensor::from_vec(x, (idx.len(), dim), device)?,
            Tensor::from_vec(t, (idx.len(), dims, 1), device)?,
        ))
    }
}

/// The mean negative log-likelihood of `tokens` (`[n, dims, 1]`) under `logits`
/// (`[n, dims, vocab]`): behaviour cloning's loss.
fn mean_token_nll(logits: &Tensor, tokens: &Tensor) -> Result<Tensor> {
    let logp = spelunk_models::policy::log_softmax(logits)?;
    Ok(logp.gather(tokens, 2)?.mean_all()?.neg()?)
}

/// Demonstrated frames kept in the RL loss ([`Trainer::keep_demos`]).
pub(super) struct KeptDemos {
    frames: Frames,
    /// The term's weight.
    coef: f64,
    /// Frames per optimiser step.
    batch: usize,
}

/// Fisher–Yates with the trainer's generator.
fn shuffle(v: &mut [usize], rng: &mut spelunk_core::Rng) {
    for i in (1..v.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        v.swap(i, j);
    }
}

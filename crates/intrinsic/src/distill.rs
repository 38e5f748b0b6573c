//! Distillation bonuses: a predictor network chases a fixed random target network.
//!
//! **RND** (Burda, Edwards, Storkey & Klimov 2018, "Exploration by Random Network
//! Distillation"): bonus `‖P(s') − T(s')‖² / d` (their code averages over the `d` outputs),
//! predictor trained on the same error, on a random `update_proportion` of each batch
//! (0.25 in the paper, so the predictor does not learn too fast with many envs);
//! observations normalised per feature by running mean/std and clipped to ±5. Defaults
//! here: `d = 64` (512 for pixels in the paper), hidden `[128, 128]` for the predictor and
//! `[128]` for the target (the paper's predictor is deeper than its target), Adam lr 1e-4.
//!
//! **RDD** (Random Distribution Distillation, 2025): the target's output is drawn afresh at
//! every update as `y = T(s) + σε`, `ε ~ N(0, I)`, and the predictor is trained on
//! `‖P(s) − y‖² / d`; the bonus stays `‖P(s') − T(s')‖² / d`. For a predictor that averages
//! the n noisy targets a state has received, `E[bonus] = σ²/n + ‖P̄ − T‖²/d`: a pseudo-count
//! term plus the predictor's discrepancy (so `bonus / σ²` tracks `1/n(s)`). Defaults:
//! `σ = 1`, `d = 64` (512 for pixels), the rest as RND.
//!
//! Both share [`Distillation`]; [`rnd`] and [`rdd`] build them with their papers' settings.

use serde::{Deserialize, Serialize};
use spelunk_core::{ByteWriter, Rng};
use spelunk_models::dense::{DenseMlp, Trace};
use spelunk_models::{Adam, AdamConfig, Device, ParamStore, Tensor};

use crate::neural::{self, candle_err, model_err, Encoder, ObsNorm};
use crate::{Batch, Error, IntrinsicReward, ModuleState, Result};

/// 2: the optimiser's moments are saved too.
const VERSION: u32 = 2;

/// Settings of a distillation bonus.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DistillConfig {
    /// Values per observation.
    pub obs_dim: usize,
    /// Output size d of target and predictor.
    pub embed_dim: usize,
    /// Predictor hidden sizes.
    pub predictor_hidden: Vec<usize>,
    /// Target hidden sizes.
    pub target_hidden: Vec<usize>,
    /// Noise σ of the target's output at each update (0 = RND).
    pub sigma: f64,
    /// Fraction of each batch the predictor trains on.
    pub update_proportion: f64,
    /// Normalise observations by running mean/std (clipped to ±5).
    pub normalize_obs: bool,
    /// Optimiser.
    pub optimizer: AdamConfig,
    /// Treat observations as `[height, width, channels]` frames (row-major, as the pixel
    /// observations of the envs are) and use CNN trunks (RND's conv 8×8/4, 4×4/2, 3×3/1);
    /// `None` for flat state observations and MLPs.
    pub pixels: Option<[usize; 3]>,
    /// Seed of the networks, the update mask and the target noise.
    pub seed: u64,
}

impl DistillConfig {
    /// RDD's defaults: noisy targets (σ = 1), every sample of a batch trained.
    pub fn rdd(obs_dim: usize, seed: u64) -> Self {
        Self { obs_dim, seed, sigma: 1.0, update_proportion: 1.0, ..Self::default() }
    }
}

impl Default for DistillConfig {
    fn default() -> Self {
        Self {
            obs_dim: 0,
            embed_dim: 64,
            predictor_hidden: vec![128, 128],
            target_hidden: vec![128],
            sigma: 0.0,
            update_proportion: 0.25,
            normalize_obs: true,
            optimizer: AdamConfig { lr: 1e-4, ..AdamConfig::default() },
            pixels: None,
            seed: 0,
        }
    }
}

/// The target or the predictor: the target is `obs → target_hidden → d` (for pixels the
/// CNN straight to `d`), the predictor `obs → predictor_hidden → d` (for pixels the CNN to
/// `predictor_hidden[0]`, then an MLP — RND makes its predictor deeper than its target).
fn network(
    params: &mut ParamStore,
    name: &str,
    config: &DistillConfig,
    hidden: &[usize],
    deeper: bool,
) -> spelunk_models::Result<Encoder> {
    let hidden = if config.pixels.is_some() && !deeper { &[][..] } else { hidden };
    Encoder::new(params, name, config.obs_dim, config.pixels, hidden, config.embed_dim)
}

/// RND's defaults for `obs_dim` inputs.
pub fn rnd(obs_dim: usize, seed: u64) -> Result<Distillation> {
    Distillation::new("rnd", DistillConfig { obs_dim, seed, ..DistillConfig::default() })
}

/// RDD's defaults for `obs_dim` inputs.
pub fn rdd(obs_dim: usize, seed: u64) -> Result<Distillation> {
    Distillation::new("rdd", DistillConfig::rdd(obs_dim, seed))
}

/// A predictor distilling a random target (RND, RDD).
pub struct Distillation {
    name: &'static str,
    config: DistillConfig,
    device: Device,
    predictor_params: ParamStore,
    predictor: Encoder,
    target_params: ParamStore,
    target: Encoder,
    opt: Adam,
    norm: ObsNorm,
    rng: Rng,
    /// Bumped whenever the observation normaliser changes, so a cache from before is stale.
    norm_version: u64,
    /// What `compute` worked out, for an `update` on the same batch to reuse.
    cache: Option<Cache>,
    /// The dense fast path, for MLP networks (state observations).
    fast: Option<Fast>,
    /// Whether `update` may reuse `compute`'s forward passes on the same batch.
    reuse_forward: bool,
}

/// MLP networks evaluated and trained through [`DenseMlp`] instead of candle's autograd:
/// the same weights and arithmetic, several times faster at these sizes (the parameters stay
/// in the stores, so checkpoints and the candle-based [`Distillation::error`] are unchanged).
struct Fast {
    target: DenseMlp,
    predictor: DenseMlp,
    target_trace: Trace,
    predictor_trace: Trace,
    /// The rows and normaliser version the traces were computed on (`None`: stale).
    traced: Option<(Vec<f32>, u64)>,
    d_out: Vec<f32>,
    grads: Vec<Vec<f32>>,
}

/// The last `compute`'s rows with their normalised input, target embedding and predictor
/// output (the last with its graph, so `update` can differentiate it). The parameters do not
/// change between a `compute` and the `update` that follows it, so these are exactly what
/// `update` would compute again: the update does one predictor pass and no target pass
/// fewer than it would alone.
struct Cache {
    rows: Vec<f32>,
    norm_version: u64,
    x: Tensor,
    target: Tensor,
    pred: Tensor,
}

impl std::fmt::Debug for Distillation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Distillation")
            .field("name", &self.name)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Distillation {
    /// Build with a config; `name` is `rnd` or `rdd` (the checkpoint tag).
    pub fn new(name: &'static str, config: DistillConfig) -> Result<Self> {
        let bad = |m: String| Error::Config { module: name, message: m };
        if config.obs_dim == 0 || config.embed_dim == 0 {
            return Err(bad("obs_dim and embed_dim must be positive".into()));
        }
        neural::check_pixels(name, config.obs_dim, config.pixels)?;
        if !(config.sigma >= 0.0 && config.sigma.is_finite()) {
            return Err(bad(format!("sigma must be finite and ≥ 0, got {}", config.sigma)));
        }
        if !(config.update_proportion > 0.0 && config.update_proportion <= 1.0) {
            return Err(bad(format!(
                "update_proportion must be in (0, 1], got {}",
                config.update_proportion
            )));
        }
        let device = Device::Cpu;
        let me = model_err(name);
        let mut target_params = ParamStore::new(&device, config.seed ^ 0x7A4E_7000);
        let target = network(&mut target_params, "target", &config, &config.target_hidden, false)
            .map_err(&me)?;
        let mut predictor_params = ParamStore::new(&device, config.seed ^ 0x9E3D_0001);
        let predictor =
            network(&mut predictor_params, "predictor", &config, &config.predictor_hidden, true)
                .map_err(&me)?;
        let opt = Adam::new(&predictor_params, config.optimizer).map_err(&me)?;
        let fast = match (&target, &predictor) {
            (Encoder::Mlp(t), Encoder::Mlp(p)) => Some(Fast {
                target: DenseMlp::from_mlp(t).map_err(&me)?,
                predictor: DenseMlp::from_mlp(p).map_err(&me)?,
                target_trace: Trace::default(),
                predictor_trace: Trace::default(),
                traced: None,
                d_out: Vec::new(),
                grads: Vec::new(),
            }),
            _ => None,
        };
        Ok(Self {
            fast,
            name,
            norm: ObsNorm::new(config.obs_dim, 5.0),
            rng: Rng::seed_from_u64(config.seed ^ 0x5EED),
            norm_version: 0,
            cache: None,
            reuse_forward: true,
            config,
            device,
            predictor_params,
            predictor,
            target_params,
            target,
            opt,
        })
    }

    /// Whether `update` on the batch `compute` just saw reuses its forward passes (on by
    /// default; the result is the same either way). Off, an update runs both networks again,
    /// the work per sample an implementation without the reuse does — what a like-for-like
    /// speed comparison needs.
    pub fn set_reuse_forward(&mut self, on: bool) {
        self.reuse_forward = on;
        if !on {
            self.cache = None;
            if let Some(f) = &mut self.fast {
                f.traced = None;
            }
        }
    }

    /// See [`Distillation::set_reuse_forward`].
    #[must_use]
    pub fn reuse_forward(&self) -> bool {
        self.reuse_forward
    }

    /// The config.
    pub fn config(&self) -> &DistillConfig {
        &self.config
    }

    /// The predictor's parameters (for gradient checks).
    pub fn predictor_params(&self) -> &ParamStore {
        &self.predictor_params
    }

    fn input(&self, obs: &[f32]) -> Result<Tensor> {
        neural::rows(&self.input_rows(obs), self.config.obs_dim, &self.device)
            .map_err(candle_err(self.name))
    }

    fn input_rows(&self, obs: &[f32]) -> Vec<f32> {
        if self.config.normalize_obs {
            self.norm.apply(obs)
        } else {
            obs.to_vec()
        }
    }

    /// The target's noise for `count` values: `σε` (RDD), or nothing (RND).
    fn target_noise(&mut self, count: usize) -> Option<Vec<f32>> {
        let sigma = self.config.sigma;
        (sigma > 0.0).then(|| {
            let mut noise = vec![0.0; count];
            self.rng.fill_normal(&mut noise, sigma);
            noise
        })
    }

    /// Refresh the fast path's weight copies from the stores.
    fn refresh_fast(&mut self) -> Result<()> {
        let me = model_err(self.name);
        if let (Some(f), Encoder::Mlp(t), Encoder::Mlp(p)) =
            (&mut self.fast, &self.target, &self.predictor)
        {
            f.target.refresh(t).map_err(&me)?;
            f.predictor.refresh(p).map_err(&me)?;
            f.traced = None;
        }
        Ok(())
    }

    /// `compute` on the fast path.
    fn compute_fast(&mut self, next_obs: &[f32], out: &mut [f32]) -> Result<()> {
        let me = model_err(self.name);
        let x = self.input_rows(next_obs);
        let rows = out.len();
        let version = self.norm_version;
        let f = self.fast.as_mut().expect("fast path");
        f.target.forward(&x, rows, &mut f.target_trace).map_err(&me)?;
        f.predictor.forward(&x, rows, &mut f.predictor_trace).map_err(&me)?;
        let d = self.config.embed_dim;
        let (t, p) = (f.target_trace.output(), f.predictor_trace.output());
        for (r, o) in out.iter_mut().enumerate() {
            let (t, p) = (&t[r * d..(r + 1) * d], &p[r * d..(r + 1) * d]);
            *o = t.iter().zip(p).map(|(a, b)| (b - a) * (b - a)).sum::<f32>() / d as f32;
        }
        f.traced = self.reuse_forward.then(|| (next_obs.to_vec(), version));
        Ok(())
    }

    /// `update` on the fast path: the loss `mean ‖P − y‖²` over the kept rows, its gradient by
    /// hand (`2(P − y)/(rows·d)`), one Adam step.
    fn update_fast(&mut self, next_obs: &[f32], kept: &[u32]) -> Result<(f32, f64)> {
        let me = model_err(self.name);
        let dim = self.config.obs_dim;
        let d = self.config.embed_dim;
        let n = next_obs.len() / dim;
        let version = self.norm_version;
        let reuse = kept.len() == n
            && self.fast.as_ref().and_then(|f| f.traced.as_ref())
                == Some(&(next_obs.to_vec(), version));
        if !reuse {
            let rows: Vec<f32> = kept
                .iter()
                .flat_map(|&k| next_obs[k as usize * dim..(k as usize + 1) * dim].iter().copied())
                .collect();
            let x = self.input_rows(&rows);
            let f = self.fast.as_mut().expect("fast path");
            f.target.forward(&x, kept.len(), &mut f.target_trace).map_err(&me)?;
            f.predictor.forward(&x, kept.len(), &mut f.predictor_trace).map_err(&me)?;
        }
        let count = kept.len() * d;
        let noise = self.target_noise(count);
        let f = self.fast.as_mut().expect("fast path");
        f.traced = None;
        let (t, p) = (f.target_trace.output(), f.predictor_trace.output());
        let scale = 2.0 / count as f32;
        let mut loss = 0.0f64;
        f.d_out.clear();
        for i in 0..count {
            let y = t[i] + noise.as_ref().map_or(0.0, |z| z[i]);
            let e = p[i] - y;
            loss += f64::from(e * e);
            f.d_out.push(scale * e);
        }
        f.predictor.backward(&mut f.predictor_trace, &f.d_out, &mut f.grads).map_err(&me)?;
        let grad_norm = self.opt.step_with_grads(&f.grads).map_err(&me)?;
        if let (Some(f), Encoder::Mlp(p)) = (&mut self.fast, &self.predictor) {
            f.predictor.refresh(p).map_err(&me)?;
        }
        Ok(((loss / count as f64) as f32, grad_norm))
    }

    /// Per-row `‖P(x) − T(x)‖² / d` as a tensor (gradients flow into the predictor).
    pub fn error(&self, obs: &[f32]) -> Result<Tensor> {
        let ce = candle_err(self.name);
        let me = model_err(self.name);
        let x = self.input(obs)?;
        let t = self.target.forward(&x).map_err(&me)?.detach();
        let p = self.predictor.forward(&x).map_err(&me)?;
        (p - t).and_then(|d| d.sqr()).and_then(|d| d.mean(1)).map_err(ce)
    }

    /// The training loss on a set of rows (noisy targets for RDD).
    pub fn loss(&mut self, obs: &[f32]) -> Result<Tensor> {
        let me = model_err(self.name);
        let x = self.input(obs)?;
        let t = self.target.forward(&x).map_err(&me)?.detach();
        let p = self.predictor.forward(&x).map_err(&me)?;
        self.loss_of(p, t)
    }

    /// `mean ‖P − y‖²` with `y = T`, or `y = T + σε` for RDD (fresh noise every call).
    fn loss_of(&mut self, p: Tensor, t: Tensor) -> Result<Tensor> {
        let ce = candle_err(self.name);
        let mut t = t;
        if let Some(noise) = self.target_noise(t.elem_count()) {
            let noise = Tensor::from_vec(noise, t.dims(), &self.device).map_err(&ce)?;
            t = (t + noise).map_err(&ce)?;
        }
        (p - t).and_then(|d| d.sqr()).and_then(|d| d.mean_all()).map_err(ce)
    }

    /// The rows `update` trains on: each kept with probability `update_proportion` (RND's
    /// subsampling), as row indices.
    fn kept_rows(&mut self, n: usize) -> Vec<u32> {
        let keep = self.config.update_proportion;
        if keep >= 1.0 {
            return (0..n as u32).collect();
        }
        (0..n as u32).filter(|_| self.rng.bernoulli(keep)).collect()
    }
}

impl IntrinsicReward for Distillation {
    fn name(&self) -> &'static str {
        self.name
    }
    fn obs_dim(&self) -> usize {
        self.config.obs_dim
    }
    fn on_step(&mut self, batch: &Batch<'_>) -> Result<()> {
        batch.validate(self.name, self.config.obs_dim)?;
        if self.config.normalize_obs {
            self.norm.update(batch.next_obs);
            self.norm_version += 1;
            self.cache = None;
        }
        Ok(())
    }
    fn compute(&mut self, batch: &Batch<'_>, out: &mut [f32]) -> Result<()> {
        batch.validate_out(self.name, self.config.obs_dim, out)?;
        if self.fast.is_some() {
            return self.compute_fast(batch.next_obs, out);
        }
        let ce = candle_err(self.name);
        let me = model_err(self.name);
        let x = self.input(batch.next_obs)?;
        let target = self.target.forward(&x).map_err(&me)?.detach();
        let pred = self.predictor.forward(&x).map_err(&me)?;
        let e = (&pred - &target)
            .and_then(|d| d.sqr())
            .and_then(|d| d.mean(1))
            .and_then(|d| d.to_vec1::<f32>())
            .map_err(ce)?;
        out.copy_from_slice(&e);
        if !self.reuse_forward {
            return Ok(());
        }
        self.cache = Some(Cache {
            rows: batch.next_obs.to_vec(),
            norm_version: self.norm_version,
            x,
            target,
            pred,
        });
        Ok(())
    }
    fn update(&mut self, batch: &Batch<'_>) -> Result<Vec<(&'static str, f32)>> {
        batch.validate(self.name, self.config.obs_dim)?;
        let ce = candle_err(self.name);
        let me = model_err(self.name);
        let d = self.config.obs_dim;
        let n = batch.len();
        let kept = self.kept_rows(n);
        if kept.is_empty() {
            return Ok(vec![("loss", 0.0)]);
        }
        if self.fast.is_some() {
            let (loss, grad_norm) = self.update_fast(batch.next_obs, &kept)?;
            return Ok(vec![("loss", loss), ("grad_norm", grad_norm as f32)]);
        }
        let cache = self
            .cache
            .take()
            .filter(|c| c.norm_version == self.norm_version && c.rows == batch.next_obs);
        let loss = match cache {
            Some(c) if kept.len() == n => self.loss_of(c.pred, c.target)?,
            Some(c) => {
                let idx = Tensor::new(kept.as_slice(), &self.device).map_err(&ce)?;
                let x = c.x.index_select(&idx, 0).map_err(&ce)?;
                let t = c.target.index_select(&idx, 0).map_err(&ce)?;
                let p = self.predictor.forward(&x).map_err(&me)?;
                self.loss_of(p, t)?
            }
            None => {
                let rows: Vec<f32> = kept
                    .iter()
                    .flat_map(|&k| {
                        batch.next_obs[k as usize * d..(k as usize + 1) * d].iter().copied()
                    })
                    .collect();
                self.loss(&rows)?
            }
        };
        let value = loss.to_scalar::<f32>().map_err(candle_err(self.name))?;
        let grad_norm = self.opt.backward_step(&loss).map_err(model_err(self.name))?;
        Ok(vec![("loss", value), ("grad_norm", grad_norm as f32)])
    }
    fn save(&self) -> Result<ModuleState> {
        let mut extra = ByteWriter::new();
        self.norm.write(&mut extra);
        extra.rng(&self.rng);
        let cfg =
            serde_json::to_string(&self.config).map_err(|e| Error::Checkpoint(e.to_string()))?;
        neural::save_state(
            self.name,
            VERSION,
            &[&self.predictor_params, &self.target_params],
            &[&self.opt],
            &extra,
            &cfg,
        )
    }
    fn load(&mut self, state: &ModuleState) -> Result<()> {
        let extra = neural::load_state(
            state,
            self.name,
            VERSION,
            &[&self.predictor_params, &self.target_params],
            &mut [&mut self.opt],
        )?;
        let mut r = spelunk_core::ByteReader::new(&extra);
        let bad = |e: spelunk_core::Error| Error::Checkpoint(e.to_string());
        let mut norm = self.norm.clone();
        norm.read(&mut r).map_err(bad)?;
        let rng = r.rng().map_err(bad)?;
        r.finish().map_err(bad)?;
        self.norm = norm;
        self.rng = rng;
        self.norm_version += 1;
        self.cache = None;
        self.refresh_fast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BatchActions;

    fn batch<'a>(rows: &'a [f32], dim: usize, actions: &'a [i64]) -> Batch<'a> {
        Batch { obs: rows, actions: BatchActions::Discrete(actions), next_obs: rows, obs_dim: dim }
    }

    fn one_hot(k: usize, n: usize) -> Vec<f32> {
        let mut v = vec![0.0; n];
        v[k] = 1.0;
        v
    }

    #[test]
    fn reusing_compute_forward_passes_changes_no_number() {
        // RND (fast path) and RDD, with pixel trunks too (candle path), update proportion 1 so
        // every row is kept and the cache applies: the same bonuses and losses either way.
        let run = |reuse: bool, name: &'static str, pixels: bool| {
            let config = DistillConfig {
                obs_dim: if pixels { 12 * 12 * 3 } else { 10 },
                embed_dim: 16,
                pixels: pixels.then_some([12, 12, 3]),
                sigma: if name == "rdd" { 1.0 } else { 0.0 },
                update_proportion: 1.0,
                ..DistillConfig::default()
            };
            let dim = config.obs_dim;
            let mut m = Distillation::new(name, config).expect("module");
            m.set_reuse_forward(reuse);
            assert_eq!(m.reuse_forward(), reuse);
            let mut rng = Rng::seed_from_u64(9);
            let mut seen = Vec::new();
            for _ in 0..4 {
                let rows: Vec<f32> = (0..6 * dim).map(|_| rng.f32()).collect();
                let a = [0i64; 6];
                let b = batch(&rows, dim, &a);
                let mut out = [0.0; 6];
                m.on_step(&b).expect("step");
                m.compute(&b, &mut out).expect("bonus");
                seen.extend(out.map(f64::from));
                seen.extend(m.update(&b).expect("update").iter().map(|(_, v)| f64::from(*v)));
            }
            seen
        };
        for (name, pixels) in [("rnd", false), ("rdd", false), ("rnd", true)] {
            let (on, off) = (run(true, name, pixels), run(false, name, pixels));
            assert_eq!(on.len(), off.len());
            for (a, b) in on.iter().zip(&off) {
                assert!(
                    (a - b).abs() <= 1e-6 * a.abs().max(1.0),
                    "{name} {pixels}: {on:?} vs {off:?}"
                );
            }
        }
    }

    #[test]
    fn every_predictor_parameter_gets_a_gradient() {
        for mut m in [rnd(6, 1).expect("rnd"), rdd(6, 2).expect("rdd")] {
            let rows: Vec<f32> = (0..48).map(|i| (i as f32 * 0.37).sin()).collect();
            let loss = m.loss(&rows).expect("loss");
            let dead = spelunk_models::params_without_gradient(m.predictor_params(), &loss)
                .expect("grads");
            assert!(dead.is_empty(), "{}: no gradient for {dead:?}", m.name());
        }
    }

    #[test]
    fn pixel_trunks_get_gradients_everywhere() {
        for sigma in [0.0, 1.0] {
            let config = DistillConfig {
                obs_dim: 36 * 36 * 3,
                embed_dim: 32,
                pixels: Some([36, 36, 3]),
                sigma,
                ..DistillConfig::default()
            };
            let mut m =
                Distillation::new(if sigma > 0.0 { "rdd" } else { "rnd" }, config).expect("module");
            let mut rng = Rng::seed_from_u64(4);
            let rows: Vec<f32> = (0..2 * 36 * 36 * 3).map(|_| rng.f32()).collect();
            let loss = m.loss(&rows).expect("loss");
            let dead = spelunk_models::params_without_gradient(m.predictor_params(), &loss)
                .expect("grads");
            assert!(dead.is_empty(), "{dead:?}");
            let a = [0i64, 0];
            let mut out = [0.0; 2];
            m.compute(&batch(&rows, 36 * 36 * 3, &a), &mut out).expect("bonus");
            assert!(out.iter().all(|v| v.is_finite() && *v > 0.0), "{out:?}");
        }
        let bad =
            DistillConfig { obs_dim: 10, pixels: Some([2, 2, 3]), ..DistillConfig::default() };
        assert!(Distillation::new("rnd", bad).is_err());
    }

    #[test]
    fn trained_states_earn_less_than_novel_ones() {
        for mut m in [rnd(8, 3).expect("rnd"), rdd(8, 4).expect("rdd")] {
            m.config.optimizer.lr = 3e-3;
            m.opt = Adam::new(&m.predictor_params, m.config.optimizer).expect("adam");
            m.config.update_proportion = 1.0;
            let familiar: Vec<f32> = (0..4).flat_map(|k| one_hot(k, 8)).collect();
            let novel: Vec<f32> = (4..8).flat_map(|k| one_hot(k, 8)).collect();
            let a = [0i64; 4];
            m.on_step(&batch(&familiar, 8, &a)).expect("step");
            m.on_step(&batch(&novel, 8, &a)).expect("step");
            for _ in 0..400 {
                m.update(&batch(&familiar, 8, &a)).expect("update");
            }
            let (mut f, mut n) = ([0.0; 4], [0.0; 4]);
            m.compute(&batch(&familiar, 8, &a), &mut f).expect("bonus");
            m.compute(&batch(&novel, 8, &a), &mut n).expect("bonus");
            let (f, n) = (f.iter().sum::<f32>(), n.iter().sum::<f32>());
            assert!(f < 0.2 * n, "{}: familiar {f} vs novel {n}", m.name());
        }
    }

    #[test]
    fn rdd_bonus_falls_with_visit_count() {
        // 64 one-hot states in four groups visited 1, 4, 16 and 64 times, in a shuffled
        // order, one update per visit on a linear predictor. The pseudo-count term σ²/n says
        // the mean bonus of a group falls as its visit count grows. (Its exact size σ²/n
        // holds for a predictor that averages its targets — SGD with step 1/n per state;
        // Adam's constant-size steps keep a floor, so only the ordering is asserted.)
        let groups = [1usize, 4, 16, 64];
        let per_group = 16;
        let states = groups.len() * per_group;
        let mut m = Distillation::new(
            "rdd",
            DistillConfig {
                obs_dim: states,
                predictor_hidden: vec![],
                target_hidden: vec![],
                sigma: 1.0,
                update_proportion: 1.0,
                normalize_obs: false,
                optimizer: AdamConfig { lr: 0.05, ..AdamConfig::default() },
                seed: 5,
                ..DistillConfig::default()
            },
        )
        .expect("rdd");
        let mut visits: Vec<usize> =
            (0..states).flat_map(|s| std::iter::repeat_n(s, groups[s / per_group])).collect();
        Rng::seed_from_u64(9).shuffle(&mut visits);
        let a = [0i64];
        for &s in &visits {
            m.update(&batch(&one_hot(s, states), states, &a)).expect("update");
        }
        let all: Vec<f32> = (0..states).flat_map(|s| one_hot(s, states)).collect();
        let aa = vec![0i64; states];
        let mut bonus = vec![0.0; states];
        m.compute(&batch(&all, states, &aa), &mut bonus).expect("bonus");
        let means: Vec<f32> =
            bonus.chunks(per_group).map(|c| c.iter().sum::<f32>() / per_group as f32).collect();
        assert!(
            means.windows(2).all(|w| w[0] > w[1]),
            "mean bonus by visits {groups:?}: {means:?}"
        );
    }

    #[test]
    fn state_round_trips_and_refuses_other_modules() {
        let mut a = rdd(4, 1).expect("rdd");
        let rows = [0.1f32, 0.2, 0.3, 0.4, 1.0, 0.0, -1.0, 2.0];
        let acts = [0i64, 1];
        a.on_step(&batch(&rows, 4, &acts)).expect("step");
        a.update(&batch(&rows, 4, &acts)).expect("update");
        let saved = a.save().expect("save");
        let mut b = rdd(4, 99).expect("rdd");
        b.load(&saved).expect("load");
        let (mut x, mut y) = ([0.0; 2], [0.0; 2]);
        a.compute(&batch(&rows, 4, &acts), &mut x).expect("a");
        b.compute(&batch(&rows, 4, &acts), &mut y).expect("b");
        assert_eq!(
            x.map(f32::to_bits),
            y.map(f32::to_bits),
            "restored module computes the same bonus"
        );
        let mut r = rnd(4, 1).expect("rnd");
        assert!(r.load(&saved).expect_err("other module").to_string().contains("rdd"));
        let mut wide = rdd(5, 1).expect("rdd");
        assert!(wide.load(&saved).is_err());
        let mut cut = saved.clone();
        cut.bytes.truncate(cut.bytes.len() / 2);
        assert!(b.load(&cut).is_err());
        let nan = [f32::NAN, 0.0, 0.0, 0.0];
        assert!(a.compute(&batch(&nan, 4, &acts[..1]), &mut x[..1]).is_err());
    }
}

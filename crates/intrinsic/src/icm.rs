//! **ICM**, the Intrinsic Curiosity Module (Pathak, Agrawal, Efros & Darrell 2017).
//!
//! An encoder `φ` is trained by an inverse model `g(φ(s), φ(s')) → a`; a forward model
//! `f(φ(s), a) → φ̂(s')` predicts the next features; the bonus is the forward error
//! `r = η/2 ‖φ̂(s') − φ(s')‖²`. Loss `(1 − β) L_inverse + β L_forward`, `β = 0.2`, η = 1
//! here (the paper scales the policy loss by λ = 0.1 instead). Discrete actions use a
//! cross-entropy inverse loss, continuous ones a squared error.
//!
//! Differs from the paper's code: the forward loss does not train the encoder (`φ(s')` is
//! detached), which keeps features from collapsing to make prediction trivial; the encoder
//! learns from the inverse loss only, which is the paper's stated design.

use serde::{Deserialize, Serialize};
use spelunk_core::ByteWriter;
use spelunk_models::{Activation, Adam, AdamConfig, Device, Mlp, ParamStore, Tensor};

use crate::neural::{self, candle_err, model_err, Encoder};
use crate::{Batch, BatchActions, Error, IntrinsicReward, ModuleState, Result};

/// 2: the optimiser's moments are saved too.
const VERSION: u32 = 2;

/// The action space a learned bonus sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionSpec {
    /// `n` discrete actions (one-hot inputs).
    Discrete(usize),
    /// Continuous actions of `dims` values.
    Continuous(usize),
}

impl ActionSpec {
    /// Width of the action input.
    pub fn width(self) -> usize {
        match self {
            ActionSpec::Discrete(n) | ActionSpec::Continuous(n) => n,
        }
    }
}

/// ICM settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IcmConfig {
    /// Values per observation.
    pub obs_dim: usize,
    /// Actions.
    pub actions: ActionSpec,
    /// Feature size of φ.
    pub feature_dim: usize,
    /// Hidden sizes of every network.
    pub hidden: Vec<usize>,
    /// Weight of the forward loss.
    pub beta: f64,
    /// Bonus scale η.
    pub eta: f64,
    /// Optimiser.
    pub optimizer: AdamConfig,
    /// Treat observations as `[height, width, channels]` frames and encode them with the CNN
    /// trunk (conv 8×8/4, 4×4/2, 3×3/1) before the hidden layers; `None` for state vectors.
    pub pixels: Option<[usize; 3]>,
    /// Seed.
    pub seed: u64,
}

impl Default for IcmConfig {
    fn default() -> Self {
        Self {
            obs_dim: 0,
            actions: ActionSpec::Discrete(1),
            feature_dim: 64,
            hidden: vec![128],
            beta: 0.2,
            eta: 1.0,
            optimizer: AdamConfig::default(),
            pixels: None,
            seed: 0,
        }
    }
}

/// The Intrinsic Curiosity Module.
pub struct Icm {
    config: IcmConfig,
    device: Device,
    params: ParamStore,
    encoder: Encoder,
    inverse: Mlp,
    forward: Mlp,
    opt: Adam,
}

impl Icm {
    /// Build.
    pub fn new(config: IcmConfig) -> Result<Self> {
        if config.obs_dim == 0 || config.actions.width() == 0 || config.feature_dim == 0 {
            return Err(Error::Config {
                module: "icm",
                message: "obs_dim, actions and feature_dim must be positive".into(),
            });
        }
        neural::check_pixels("icm", config.obs_dim, config.pixels)?;
        let me = model_err("icm");
        let device = Device::Cpu;
        let mut params = ParamStore::new(&device, config.seed);
        let f = config.feature_dim;
        let a = config.actions.width();
        let encoder =
            Encoder::new(&mut params, "encoder", config.obs_dim, config.pixels, &config.hidden, f)
                .map_err(&me)?;
        let inverse = Mlp::new(&mut params, "inverse", 2 * f, &config.hidden, a, Activation::Relu)
            .map_err(&me)?;
        let forward = Mlp::new(&mut params, "forward", f + a, &config.hidden, f, Activation::Relu)
            .map_err(&me)?;
        let opt = Adam::new(&params, config.optimizer).map_err(&me)?;
        Ok(Self { config, device, params, encoder, inverse, forward, opt })
    }

    /// The parameters (for gradient checks).
    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    /// Per-row forward error `η/2 ‖φ̂(s') − φ(s')‖²` and the training loss.
    pub fn losses(&self, batch: &Batch<'_>) -> Result<(Tensor, Tensor)> {
        let ce = candle_err("icm");
        let me = model_err("icm");
        let d = self.config.obs_dim;
        let s = neural::rows(batch.obs, d, &self.device).map_err(&ce)?;
        let s2 = neural::rows(batch.next_obs, d, &self.device).map_err(&ce)?;
        let a = neural::actions("icm", batch.actions, self.config.actions.width(), &self.device)?;
        let phi = self.encoder.forward(&s).map_err(&me)?;
        let phi2 = self.encoder.forward(&s2).map_err(&me)?;
        let pred = self.forward.forward(&Tensor::cat(&[&phi, &a], 1).map_err(&ce)?).map_err(&me)?;
        let fwd_err =
            (pred - phi2.detach()).and_then(|x| x.sqr()).and_then(|x| x.sum(1)).map_err(&ce)?;
        let bonus = (&fwd_err * (self.config.eta / 2.0)).map_err(&ce)?;
        let logits =
            self.inverse.forward(&Tensor::cat(&[&phi, &phi2], 1).map_err(&ce)?).map_err(&me)?;
        let inv = match batch.actions {
            BatchActions::Discrete(_) => {
                let logp = neural::log_softmax(&logits).map_err(&ce)?;
                (logp * &a)
                    .and_then(|x| x.sum(1))
                    .and_then(|x| x.mean_all())
                    .and_then(|x| x.neg())
                    .map_err(&ce)?
            }
            BatchActions::Continuous { .. } => {
                (logits - &a).and_then(|x| x.sqr()).and_then(|x| x.mean_all()).map_err(&ce)?
            }
        };
        let fwd = (fwd_err.mean_all().map_err(&ce)? * 0.5).map_err(&ce)?;
        let loss = ((inv * (1.0 - self.config.beta)).map_err(&ce)?
            + (fwd * self.config.beta).map_err(&ce)?)
        .map_err(&ce)?;
        Ok((bonus, loss))
    }
}

impl IntrinsicReward for Icm {
    fn name(&self) -> &'static str {
        "icm"
    }
    fn obs_dim(&self) -> usize {
        self.config.obs_dim
    }
    fn compute(&mut self, batch: &Batch<'_>, out: &mut [f32]) -> Result<()> {
        batch.validate_out("icm", self.config.obs_dim, out)?;
        let (bonus, _) = self.losses(batch)?;
        out.copy_from_slice(&bonus.to_vec1::<f32>().map_err(candle_err("icm"))?);
        Ok(())
    }
    fn update(&mut self, batch: &Batch<'_>) -> Result<Vec<(&'static str, f32)>> {
        batch.validate("icm", self.config.obs_dim)?;
        let (_, loss) = self.losses(batch)?;
        let value = loss.to_scalar::<f32>().map_err(candle_err("icm"))?;
        self.opt.backward_step(&loss).map_err(model_err("icm"))?;
        Ok(vec![("loss", value)])
    }
    fn save(&self) -> Result<ModuleState> {
        let cfg =
            serde_json::to_string(&self.config).map_err(|e| Error::Checkpoint(e.to_string()))?;
        neural::save_state("icm", VERSION, &[&self.params], &[&self.opt], &ByteWriter::new(), &cfg)
    }
    fn load(&mut self, state: &ModuleState) -> Result<()> {
        neural::load_state(state, "icm", VERSION, &[&self.params], &mut [&mut self.opt]).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parameter_gets_a_gradient_and_the_forward_error_falls() {
        for actions in [ActionSpec::Discrete(3), ActionSpec::Continuous(2)] {
            let mut m = Icm::new(IcmConfig {
                obs_dim: 4,
                actions,
                feature_dim: 8,
                hidden: vec![16],
                seed: 1,
                ..IcmConfig::default()
            })
            .expect("icm");
            let s: Vec<f32> = (0..32).map(|i| (i as f32 * 0.3).sin()).collect();
            let s2: Vec<f32> = (0..32).map(|i| (i as f32 * 0.3 + 0.5).sin()).collect();
            let disc: Vec<i64> = (0..8).map(|i| i % 3).collect();
            let cont: Vec<f32> = (0..16).map(|i| (i as f32 * 0.1).cos()).collect();
            let acts = match actions {
                ActionSpec::Discrete(_) => BatchActions::Discrete(&disc),
                ActionSpec::Continuous(d) => BatchActions::Continuous { values: &cont, dims: d },
            };
            let b = Batch { obs: &s, actions: acts, next_obs: &s2, obs_dim: 4 };
            let (_, loss) = m.losses(&b).expect("losses");
            let dead = spelunk_models::params_without_gradient(m.params(), &loss).expect("grads");
            assert!(dead.is_empty(), "{actions:?}: {dead:?}");
            let mut before = [0.0; 8];
            m.compute(&b, &mut before).expect("bonus");
            for _ in 0..200 {
                m.update(&b).expect("update");
            }
            let mut after = [0.0; 8];
            m.compute(&b, &mut after).expect("bonus");
            // The bonus on familiar transitions shrinks once the forward model fits the
            // (moving) features; compare totals.
            assert!(
                after.iter().sum::<f32>() < before.iter().sum::<f32>(),
                "{actions:?}: {before:?} → {after:?}"
            );
        }
    }

    #[test]
    fn pixel_frames_go_through_the_cnn_trunk() {
        let dim = 20 * 20 * 3;
        let config = IcmConfig {
            obs_dim: dim,
            actions: ActionSpec::Discrete(3),
            pixels: Some([20, 20, 3]),
            ..IcmConfig::default()
        };
        let mut m = Icm::new(config.clone()).expect("icm");
        assert!(m.params().named().iter().any(|(n, _)| n.starts_with("encoder.cnn.conv0")));
        let mut rng = spelunk_core::Rng::seed_from_u64(3);
        let s: Vec<f32> = (0..4 * dim).map(|_| rng.f32()).collect();
        let s2: Vec<f32> = (0..4 * dim).map(|_| rng.f32()).collect();
        let a = [0i64, 1, 2, 1];
        let b = Batch { obs: &s, actions: BatchActions::Discrete(&a), next_obs: &s2, obs_dim: dim };
        let (_, loss) = m.losses(&b).expect("losses");
        let dead = spelunk_models::params_without_gradient(m.params(), &loss).expect("grads");
        assert!(dead.is_empty(), "{dead:?}");
        let mut out = [0.0; 4];
        m.compute(&b, &mut out).expect("bonus");
        m.update(&b).expect("update");
        assert!(out.iter().all(|v| v.is_finite() && *v > 0.0), "{out:?}");
        let bad = IcmConfig { pixels: Some([20, 20, 4]), ..config };
        let err = Icm::new(bad).err().expect("refused").to_string();
        assert!(err.contains("do not make obs_dim"), "{err}");
    }

    #[test]
    fn actions_outside_the_space_are_errors() {
        let mut m = Icm::new(IcmConfig {
            obs_dim: 2,
            actions: ActionSpec::Discrete(2),
            ..IcmConfig::default()
        })
        .expect("icm");
        let s = [0.0f32, 1.0];
        let a = [5i64];
        let b = Batch { obs: &s, actions: BatchActions::Discrete(&a), next_obs: &s, obs_dim: 2 };
        assert!(m.update(&b).expect_err("bad action").to_string().contains("outside"));
    }
}

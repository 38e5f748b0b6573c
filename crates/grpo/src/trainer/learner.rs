//! GRPO and PPO as two implementations of one [`Learner`] trait: what turns an iteration's
//! episodes into the policy's learning signal.
//!
//! - [`Grpo`]: the advantage is relative to the group (G episodes from one start), one number
//!   per episode; a group whose returns are all equal says nothing, so dynamic sampling may
//!   drop and replace it and tree rollouts may add sibling groups.
//! - [`Ppo`]: a value head (an MLP of the policy's hidden sizes) gives per-step GAE
//!   advantages, normalised over the batch, and adds `value_coef · mean (V − return)²` to the
//!   loss.

use candle_core::{Device, Tensor};
use spelunk_models::{Mlp, ParamStore};

use super::{Episode, Result, TrainConfig};

/// PPO's value head and its parameters.
pub(super) struct Critic {
    pub(super) params: ParamStore,
    pub(super) net: Mlp,
}

/// What turns episodes into advantages, and what else is learned beside the policy.
pub(super) trait Learner: Send + Sync {
    /// Whether advantages are relative to the group (dynamic sampling and tree rollouts apply).
    fn group_relative(&self) -> bool;
    /// The value head, if the algorithm has one.
    fn critic(&self) -> Option<&Critic>;
    /// Per-step advantages and returns of the kept episodes, before the update (PPO: GAE).
    fn prepare(&self, eps: &mut [Episode], obs_dim: usize, device: &Device) -> Result<()>;
    /// The loss's extra term on observations `x` and per-step `returns`, part of a minibatch
    /// of `steps` steps in all (PPO: the value loss, its squared errors summed here and
    /// divided by `steps`, so that the parts' terms add up to the minibatch's).
    fn extra_loss(&self, x: &Tensor, returns: Vec<f32>, steps: usize) -> Result<Option<Tensor>>;
}

/// Group Relative Policy Optimisation.
pub(super) struct Grpo;

impl Learner for Grpo {
    fn group_relative(&self) -> bool {
        true
    }
    fn critic(&self) -> Option<&Critic> {
        None
    }
    fn prepare(&self, _: &mut [Episode], _: usize, _: &Device) -> Result<()> {
        Ok(())
    }
    fn extra_loss(&self, _: &Tensor, _: Vec<f32>, _: usize) -> Result<Option<Tensor>> {
        Ok(None)
    }
}

/// PPO with a value head and GAE.
pub(super) struct Ppo {
    pub(super) critic: Critic,
    gamma: f32,
    gae_lambda: f32,
    value_coef: f64,
}

impl Ppo {
    /// A value head from `obs_dim` features through the policy's hidden sizes, its
    /// parameters drawn from the run's seed.
    pub(super) fn new(config: &TrainConfig, obs_dim: usize, device: &Device) -> Result<Self> {
        let mut params = ParamStore::new(device, config.seed ^ 0x7661_6c75);
        let net = Mlp::new(
            &mut params,
            "value",
            obs_dim,
            &config.policy.hidden,
            1,
            config.policy.activation,
        )?;
        Ok(Self {
            critic: Critic { params, net },
            gamma: config.gamma,
            gae_lambda: config.gae_lambda,
            value_coef: config.value_coef,
        })
    }
}

impl Learner for Ppo {
    fn group_relative(&self) -> bool {
        false
    }
    fn critic(&self) -> Option<&Critic> {
        Some(&self.critic)
    }

    /// Per-step GAE advantages (bootstrapped from the value of the last observation when an
    /// episode was truncated, 0 when it terminated) and returns, advantages normalised over
    /// the batch.
    fn prepare(&self, eps: &mut [Episode], d: usize, device: &Device) -> Result<()> {
        let vnet = &self.critic.net;
        for e in eps.iter_mut() {
            let mut x = e.obs.clone();
            x.extend_from_slice(&e.last_obs);
            let n = e.steps + 1;
            let v: Vec<f32> =
                vnet.forward(&Tensor::from_vec(x, (n, d), device)?)?.squeeze(1)?.to_vec1()?;
            let mut values = v;
            if e.terminated {
                values[e.steps] = 0.0;
            }
            let dones = vec![false; e.steps];
            let (adv, ret) =
                crate::advantage::gae(&e.rewards, &values, &dones, self.gamma, self.gae_lambda)?;
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

    fn extra_loss(&self, x: &Tensor, returns: Vec<f32>, steps: usize) -> Result<Option<Tensor>> {
        let v = self.critic.net.forward(x)?.squeeze(1)?;
        let target = Tensor::from_vec(returns, v.dims1()?, x.device())?;
        let vloss = ((v - target)?.sqr()?.sum_all()? / steps.max(1) as f64)?;
        Ok(Some((vloss * self.value_coef)?))
    }
}

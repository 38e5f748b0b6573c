//! Demonstrations for privileged starts: the demo replayed into snapshots, places and
//! imitation targets, and the imitation loss term.

use super::{
    place, token_logp_entropy, Action, Arc, Demo, DemoAction, Error, MakeEnv, ObsBuf,
    PrivilegedConfig, Replayed, Result, Tensor, TrainConfig, Trainer,
};

impl Trainer<'_> {
    /// Replay a demonstration once, keeping a snapshot before every action and after the last
    /// and, for shaping, the place of every state.
    pub(super) fn replay_demo(
        make_env: &MakeEnv<'_>,
        config: &TrainConfig,
        p: &PrivilegedConfig,
    ) -> Result<Replayed> {
        let demo = Demo::load(&p.demo)?;
        let where_ = p.demo.display();
        if demo.env != config.env {
            return Err(Error::Config(format!(
                "{where_}: the demo is for {}, this run trains on {}",
                demo.env, config.env
            )));
        }
        let mut env = make_env(demo.env_config.as_ref())?;
        let mut buf = ObsBuf::for_space(env.observation_space());
        let err = |t: usize, e: spelunk_core::Error| {
            Error::Config(format!("{where_}: replaying the demo at step {t}: {e}"))
        };
        env.reset(Some(demo.seed), None, buf.as_mut()).map_err(|e| err(0, e))?;
        let mut snaps = Vec::with_capacity(demo.actions.len() + 1);
        let mut places = Vec::new();
        let shaping = p.shaping > 0.0;
        let mut done = None;
        let mut at = |info: &spelunk_core::Info, t: usize| match place(info) {
            Some(pl) => {
                places.push(pl);
                Ok(())
            }
            None => Err(Error::Config(format!(
                "{where_}: shaping needs an env whose info reports a position (x, y); {} does \
                 not at step {t}",
                demo.env
            ))),
        };
        let imitate = p.imitation > 0.0;
        let (mut obs, mut rewards) = (Vec::new(), Vec::new());
        for (t, a) in demo.actions.iter().enumerate() {
            snaps.push(Arc::new(env.snapshot().map_err(|e| err(t, e))?));
            if shaping {
                at(&env.info(), t)?;
            }
            if imitate {
                obs.push(buf.clone());
            }
            let act = match a {
                DemoAction::Discrete(k) => Action::Discrete(*k),
                DemoAction::Continuous(v) => Action::Continuous(v),
            };
            let s = env.step(act, buf.as_mut()).map_err(|e| err(t, e))?;
            rewards.push(s.reward);
            if s.terminated || s.truncated {
                if shaping {
                    at(&s.info, t + 1)?;
                }
                done = Some((t, s));
                break;
            }
        }
        match done {
            Some((t, s)) if t + 1 == demo.actions.len() => {
                let ok = s.info.is_success.unwrap_or(s.terminated && s.reward > 0.0);
                if !ok {
                    return Err(Error::Config(format!(
                        "{where_}: the demo's episode ends at step {t} without success"
                    )));
                }
            }
            Some((t, _)) => {
                return Err(Error::Config(format!(
                    "{where_}: the episode ends at step {t}, before the demo's {} actions",
                    demo.actions.len()
                )))
            }
            None => {
                return Err(Error::Config(format!(
                    "{where_}: the demo's {} actions do not finish the episode",
                    demo.actions.len()
                )))
            }
        }
        Ok(Replayed { demo, snaps, places, obs, rewards })
    }

    /// Demo imitation: `coef · mean_t w_t · −log π(a_t | s_t)` over the demo's steps, with
    /// its mean negative log-likelihood and mean weight (see `PrivilegedConfig::imitation`).
    pub(super) fn imitation_term(&self) -> Result<Option<(Tensor, f64, f64)>> {
        let (Some(im), Some(p)) = (&self.imitation, &self.config.privileged) else {
            return Ok(None);
        };
        let obs_dim = self.policy.obs_dim();
        let n = im.obs.len();
        let mut x = Vec::with_capacity(n * obs_dim);
        for b in &im.obs {
            self.policy_row(b.view(), &mut x);
        }
        let dev = self.policy.params().device();
        let x = Tensor::from_vec(x, (n, obs_dim), dev)?;
        let weights: Vec<f32> = match self.learner.critic() {
            Some(c) => {
                let v: Vec<f32> = c.net.forward(&x)?.squeeze(1)?.detach().to_vec1()?;
                im.returns.iter().zip(&v).map(|(r, v)| (r - v).max(0.0)).collect()
            }
            None => vec![1.0; n],
        };
        let logits = self.policy.logits(&x)?;
        let tok = Tensor::from_slice(&im.tokens, (n, 1), dev)?;
        let (lp, _) = token_logp_entropy(&logits, &tok)?;
        let nll = lp.squeeze(1)?.neg()?;
        let w = Tensor::from_slice(&weights, n, dev)?;
        let mean_nll = f64::from(nll.detach().mean_all()?.to_scalar::<f32>()?);
        let mean_w = weights.iter().map(|&w| f64::from(w)).sum::<f64>() / n.max(1) as f64;
        let term = ((nll * w)?.mean_all()? * p.imitation)?;
        Ok(Some((term, mean_nll, mean_w)))
    }
}

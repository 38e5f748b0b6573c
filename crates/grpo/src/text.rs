//! GRPO for a language model acting through text: each step the environment's text
//! observation is the prompt, the model samples up to `max_new_tokens` tokens, and a parser
//! turns the text into an action — the first run of digits, an action index. A generation
//! that does not parse (or names an action outside the space) is an **invalid action**: the
//! environment is not stepped, the step earns `invalid_reward`, and the episode goes on (up to
//! the env's own time limit in steps). Nothing about a malformed generation crashes.
//!
//! Groups are G episodes from the same seed; an episode's return gives its group advantage,
//! shared by every token it generated; the loss is the core's clipped token loss over the
//! generated tokens only (prompt tokens are masked out), one Adam step per iteration.

use std::collections::BTreeMap;
use std::path::PathBuf;

use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};
use spelunk_core::{Action, ObsBuf, Rng};
use spelunk_models::{Adam, AdamConfig, KvCache, LanguageModel, TransformerConfig};

use crate::advantage::{group_advantages, GroupAdvantage};
use crate::loss::{policy_loss, LossConfig, LossInputs, StepNorm};
use crate::{Error, Result};

/// Settings of a text-policy run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TextConfig {
    /// A Hugging Face Llama folder to start from (`None`: a fresh model of `model` sizes).
    pub pretrained: Option<PathBuf>,
    /// `tokenizer.json` for a fresh model (a pretrained folder brings its own).
    pub tokenizer: Option<PathBuf>,
    /// Sizes of a fresh model (`vocab` is taken from the tokenizer).
    pub model: TransformerConfig,
    /// Seed of the parameters, the sampling and the group seeds.
    pub seed: u64,
    /// Episodes per group (G).
    pub group_size: usize,
    /// Groups per iteration.
    pub groups_per_step: usize,
    /// Tokens generated per step at most.
    pub max_new_tokens: usize,
    /// Prompt tokens kept (the latest).
    pub max_prompt_tokens: usize,
    /// Sampling temperature.
    pub temperature: f64,
    /// Reward of a step whose text is not a valid action.
    pub invalid_reward: f32,
    /// Adam steps per iteration on the iteration's episodes (the first is on-policy; later
    /// ones are clipped by the ratio to the sampling policy).
    pub epochs: usize,
    /// Group advantage.
    pub advantage: GroupAdvantage,
    /// The loss.
    pub loss: LossConfig,
    /// The optimiser.
    pub adam: AdamConfig,
    /// Where the model runs: `cpu`, or `cuda` / `cuda:N` in a build with the `cuda` feature.
    pub device: String,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self {
            pretrained: None,
            tokenizer: None,
            model: TransformerConfig {
                d_model: 32,
                layers: 2,
                heads: 4,
                ffn: 64,
                ..Default::default()
            },
            seed: 0,
            group_size: 8,
            groups_per_step: 4,
            max_new_tokens: 3,
            max_prompt_tokens: 256,
            temperature: 1.0,
            invalid_reward: -1.0,
            epochs: 2,
            advantage: GroupAdvantage::Grpo,
            loss: LossConfig::default(),
            device: "cpu".into(),
            adam: AdamConfig { lr: 3e-3, max_grad_norm: Some(1.0), ..AdamConfig::default() },
        }
    }
}

/// The first run of ASCII digits in `text` as an action index below `n`.
pub fn parse_action(text: &str, n: u64) -> Option<u64> {
    let start = text.find(|c: char| c.is_ascii_digit())?;
    let digits: String = text[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse::<u64>().ok().filter(|a| *a < n)
}

/// One generated answer: the prompt, the sampled tokens and their log-probabilities.
struct Turn {
    prompt: Vec<u32>,
    generated: Vec<u32>,
    old_logp: Vec<f32>,
}

/// One episode of a group: its turns, return, invalid steps and steps.
#[derive(Default)]
struct TextEpisode {
    turns: Vec<Turn>,
    ret: f32,
    invalid: usize,
    steps: usize,
}

/// A text-policy GRPO run.
pub struct TextTrainer {
    /// The settings.
    pub config: TextConfig,
    /// The model being trained.
    pub lm: LanguageModel,
    adam: Adam,
    make_env: Box<spelunk_core::EnvFactory<'static>>,
    rng: Rng,
    /// Iterations done.
    pub iteration: usize,
}

impl std::fmt::Debug for TextTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTrainer").field("config", &self.config).finish_non_exhaustive()
    }
}

impl TextTrainer {
    /// A fresh run on the envs `make_env` builds (their observation must be `Text`, their
    /// action space `Discrete`).
    pub fn new(
        config: TextConfig,
        make_env: Box<spelunk_core::EnvFactory<'static>>,
    ) -> Result<Self> {
        if config.group_size < 2
            || config.groups_per_step == 0
            || config.max_new_tokens == 0
            || config.epochs == 0
        {
            return Err(Error::Config(
                "group_size must be ≥ 2; groups_per_step, max_new_tokens and epochs ≥ 1".into(),
            ));
        }
        if !(config.temperature > 0.0 && config.temperature.is_finite()) {
            return Err(Error::Config(format!(
                "temperature must be > 0, got {}",
                config.temperature
            )));
        }
        config.loss.validate()?;
        if config.loss.kl_coef > 0.0 {
            // The language model is fine-tuned without a frozen copy of itself to compare with.
            return Err(Error::Config(
                "loss.kl_coef: the text trainer keeps no reference model; use kl_coef = 0".into(),
            ));
        }
        let env = make_env(None)?;
        if !matches!(env.observation_space(), spelunk_core::Space::Text { .. })
            || env.action_space().n().is_none()
        {
            return Err(Error::Config(format!(
                "a text policy needs a Text observation and Discrete actions; {} has {} and {}",
                env.id(),
                env.observation_space(),
                env.action_space()
            )));
        }
        let device = spelunk_models::device(&config.device)?;
        let lm = match (&config.pretrained, &config.tokenizer) {
            (Some(dir), _) => LanguageModel::from_pretrained(dir, &device)?,
            (None, Some(tok)) => {
                LanguageModel::fresh_with_tokenizer(&config.model, tok, &device, config.seed)?
            }
            (None, None) => {
                return Err(Error::Config(
                    "give `pretrained` or a `tokenizer` for a fresh model".into(),
                ))
            }
        };
        if lm.tokenizer().is_none() {
            return Err(Error::Config("the model has no tokenizer.json".into()));
        }
        let adam = Adam::new(lm.params(), config.adam)?;
        Ok(Self {
            rng: Rng::seed_from_u64(config.seed ^ 0x7e47),
            config,
            lm,
            adam,
            make_env,
            iteration: 0,
        })
    }

    /// Draw a token from `logits` at the run's temperature: the token and its log-probability.
    fn sample(&mut self, logits: &[f32]) -> (u32, f32) {
        let t = self.config.temperature as f32;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let exps: Vec<f64> = logits.iter().map(|l| f64::from((l - max) / t).exp()).collect();
        let total: f64 = exps.iter().sum();
        let mut u = self.rng.f64() * total;
        let mut tok = exps.len() - 1;
        for (i, e) in exps.iter().enumerate() {
            if u < *e {
                tok = i;
                break;
            }
            u -= e;
        }
        (tok as u32, (exps[tok] / total).ln() as f32)
    }

    /// `m` completions of up to `max_new_tokens` tokens after one `prompt`: the prompt is run
    /// once and its keys and values shared, then the `m` completions decode together, one
    /// position per token ([`spelunk_models::KvCache`]).
    fn generate(&mut self, prompt: &[u32], m: usize) -> Result<Vec<Turn>> {
        let device = self.lm.params().device().clone();
        let mut cache = KvCache::default();
        let x = Tensor::from_vec(prompt.to_vec(), (1, prompt.len()), &device)?;
        let logits = self.lm.logits_cached(&x, &mut cache)?;
        let last: Vec<f32> =
            logits.squeeze(0)?.narrow(0, prompt.len() - 1, 1)?.squeeze(0)?.to_vec1()?;
        let mut turns: Vec<Turn> = (0..m)
            .map(|_| Turn { prompt: prompt.to_vec(), generated: Vec::new(), old_logp: Vec::new() })
            .collect();
        for t in &mut turns {
            let (tok, lp) = self.sample(&last);
            t.generated.push(tok);
            t.old_logp.push(lp);
        }
        if self.config.max_new_tokens > 1 {
            let mut cache = cache.repeat(m)?;
            for _ in 1..self.config.max_new_tokens {
                let next: Vec<u32> =
                    turns.iter().map(|t| t.generated[t.generated.len() - 1]).collect();
                let x = Tensor::from_vec(next, (m, 1), &device)?;
                let rows: Vec<Vec<f32>> =
                    self.lm.logits_cached(&x, &mut cache)?.squeeze(1)?.to_vec2()?;
                for (t, row) in turns.iter_mut().zip(&rows) {
                    let (tok, lp) = self.sample(row);
                    t.generated.push(tok);
                    t.old_logp.push(lp);
                }
            }
        }
        Ok(turns)
    }

    /// The prompt of an observation: its text's tokens, the latest `max_prompt_tokens`.
    fn prompt_of(&self, obs: &ObsBuf) -> Result<Vec<u32>> {
        let bytes = obs.as_u8().unwrap_or(&[]);
        let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
        let text = String::from_utf8_lossy(&bytes[..end]).into_owned();
        let mut prompt = self.lm.encode(&text)?;
        if prompt.len() > self.config.max_prompt_tokens {
            prompt.drain(..prompt.len() - self.config.max_prompt_tokens);
        }
        if prompt.is_empty() {
            prompt.push(0);
        }
        Ok(prompt)
    }

    /// Run a group: `g` episodes from `seed` in lockstep. At each step the episodes whose
    /// prompts are equal (all of them at the first step) share one prompt pass. Per episode:
    /// its turns, return, invalid-step count and steps.
    fn group(&mut self, seed: u64, g: usize) -> Result<Vec<TextEpisode>> {
        let env_err = Error::Env;
        let mut envs = Vec::with_capacity(g);
        let mut bufs = Vec::with_capacity(g);
        for _ in 0..g {
            let mut env = (self.make_env)(None).map_err(env_err)?;
            let mut obs = ObsBuf::for_space(env.observation_space());
            env.reset(Some(seed), None, obs.as_mut()).map_err(env_err)?;
            envs.push(env);
            bufs.push(obs);
        }
        let n = envs[0].action_space().n().unwrap_or(0);
        let limit = envs[0].max_episode_steps().unwrap_or(1000) as usize;
        let mut out: Vec<TextEpisode> = (0..g).map(|_| TextEpisode::default()).collect();
        let mut alive = vec![true; g];
        while alive.iter().any(|&a| a) {
            // Alive episodes grouped by prompt, in order of first appearance.
            let mut by_prompt: Vec<(Vec<u32>, Vec<usize>)> = Vec::new();
            for i in (0..g).filter(|&i| alive[i]) {
                let p = self.prompt_of(&bufs[i])?;
                match by_prompt.iter_mut().find(|(q, _)| *q == p) {
                    Some((_, members)) => members.push(i),
                    None => by_prompt.push((p, vec![i])),
                }
            }
            for (prompt, members) in by_prompt {
                let turns = self.generate(&prompt, members.len())?;
                for (i, turn) in members.into_iter().zip(turns) {
                    let answer = self.lm.decode(&turn.generated)?.replace(' ', "");
                    let ep = &mut out[i];
                    ep.turns.push(turn);
                    ep.steps += 1;
                    if let Some(a) = parse_action(&answer, n) {
                        let s = envs[i]
                            .step(Action::Discrete(a as i64), bufs[i].as_mut())
                            .map_err(env_err)?;
                        ep.ret += s.reward;
                        if s.terminated || s.truncated {
                            alive[i] = false;
                        }
                    } else {
                        ep.ret += self.config.invalid_reward;
                        ep.invalid += 1;
                    }
                    if ep.steps >= limit {
                        alive[i] = false;
                    }
                }
            }
        }
        Ok(out)
    }

    /// One Adam step of the clipped loss on the episodes' generated tokens.
    fn update(&mut self, episodes: &[Vec<Turn>], adv: &[f32]) -> Result<crate::loss::LossStats> {
        // Per episode, the log-probabilities of its generated tokens under the current model.
        let mut rows = Vec::new();
        let mut olds = Vec::new();
        for turns in episodes {
            let mut parts = Vec::new();
            let mut old = Vec::new();
            for t in turns {
                let mut ids = t.prompt.clone();
                ids.extend_from_slice(&t.generated);
                let len = ids.len();
                let x = Tensor::from_vec(ids, (1, len), self.lm.params().device())?;
                let logits = self.lm.logits(&x)?.squeeze(0)?;
                let (p, m) = (t.prompt.len(), t.generated.len());
                // The token at position p + i is predicted at position p + i − 1.
                let pred = (logits.narrow(0, p - 1, m)? / self.config.temperature)?;
                let logp = spelunk_models::policy::log_softmax(&pred)?;
                let idx = Tensor::from_vec(t.generated.clone(), (m, 1), self.lm.params().device())?;
                parts.push(logp.gather(&idx, D::Minus1)?.squeeze(1)?);
                old.extend_from_slice(&t.old_logp);
            }
            rows.push(Tensor::cat(&parts, 0)?);
            olds.push(old);
        }
        let max_t = rows.iter().map(|r| r.dims1().unwrap_or(0)).max().unwrap_or(0);
        let b = rows.len();
        let mut padded = Vec::with_capacity(b);
        let mut mask = Vec::with_capacity(b * max_t);
        let mut old = Vec::with_capacity(b * max_t);
        for (r, o) in rows.iter().zip(&olds) {
            let len = r.dims1()?;
            let row = if len < max_t {
                Tensor::cat(&[r, &Tensor::zeros(max_t - len, r.dtype(), r.device())?], 0)?
            } else {
                r.clone()
            };
            padded.push(row);
            mask.extend((0..max_t).map(|i| if i < len { 1f32 } else { 0.0 }));
            old.extend(o.iter().copied().chain(std::iter::repeat(0.0)).take(max_t));
        }
        let logp = Tensor::stack(&padded, 0)?;
        let old = Tensor::from_vec(old, (b, max_t), self.lm.params().device())?;
        let mask_t = Tensor::from_vec(mask, (b, max_t), self.lm.params().device())?;
        let adv_t = Tensor::from_vec(adv.to_vec(), b, self.lm.params().device())?;
        let norm = StepNorm {
            tokens: f64::from(mask_t.sum_all()?.to_scalar::<f32>()?),
            sequences: b as f64,
        };
        let inp = LossInputs {
            logp: &logp,
            old_logp: &old,
            ref_logp: None,
            advantages: &adv_t,
            mask: &mask_t,
            entropy: None,
        };
        let (loss, stats) = policy_loss(&inp, &self.config.loss, norm)?;
        self.adam.backward_step(&loss)?;
        Ok(stats)
    }

    /// One iteration: `groups_per_step` groups of `group_size` episodes, one Adam step.
    pub fn iterate(&mut self) -> Result<BTreeMap<String, f64>> {
        let g = self.config.group_size;
        let mut episodes = Vec::new();
        let mut returns = Vec::new();
        let (mut invalid, mut steps) = (0usize, 0usize);
        for k in 0..self.config.groups_per_step {
            let seed = self
                .config
                .seed
                .wrapping_mul(1_000_003)
                .wrapping_add((self.iteration * self.config.groups_per_step + k) as u64);
            for ep in self.group(seed, g)? {
                episodes.push(ep.turns);
                returns.push(ep.ret);
                invalid += ep.invalid;
                steps += ep.steps;
            }
        }
        let adv = group_advantages(&returns, g, self.config.advantage)?;
        let mut stats = None;
        for _ in 0..self.config.epochs {
            stats = Some(self.update(&episodes, &adv)?);
        }
        let stats = stats.expect("at least one epoch");
        self.iteration += 1;
        let mean = returns.iter().map(|r| f64::from(*r)).sum::<f64>() / returns.len() as f64;
        let mut m = BTreeMap::new();
        m.insert("iteration".into(), self.iteration as f64);
        m.insert("charts/episodic_return".into(), mean);
        m.insert("charts/invalid_fraction".into(), invalid as f64 / steps.max(1) as f64);
        m.insert("losses/policy_loss".into(), stats.loss);
        m.insert("losses/approx_kl".into(), stats.approx_kl);
        m.insert("losses/clip_fraction".into(), stats.clip_fraction);
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_action;

    #[test]
    fn the_first_digit_run_is_the_action() {
        assert_eq!(parse_action("3", 5), Some(3));
        assert_eq!(parse_action("arm 4!", 5), Some(4));
        assert_eq!(parse_action("x12y", 20), Some(12));
        assert_eq!(parse_action("7", 5), None, "outside the space");
        assert_eq!(parse_action("no digits", 5), None);
        assert_eq!(parse_action("", 5), None);
        assert_eq!(parse_action("99999999999999999999999", 5), None, "overflow is invalid");
    }
}

//! The clipped policy loss over action tokens, shared by every policy head.
//!
//! Per token t of sequence i (mask `m`, advantage `A_i`, or `A_it` for per-token advantages):
//!
//! - log-ratio `r = logπ − logπ_old`, clamped to ±`log_ratio_clamp` (20 by default) before
//!   the exponential so that one stale token cannot overflow the loss;
//! - ratio `ρ = exp(r)` per token (PPO/GRPO), or per sequence `ρ_i = exp(Σ_t m r / Σ_t m)`
//!   (GSPO, Zheng et al. 2025, which clips whole sequences and uses ε about 3e-4/4e-4);
//! - surrogate `min(ρA, clip(ρ, 1 − ε_low, 1 + ε_high) A)` with separate ε (DAPO's
//!   clip-higher, Yu et al. 2025; defaults 0.2/0.28), and with dual clip (Ye et al. 2020) the
//!   surrogate of a negative advantage is at least `c·A` (c = 3 when enabled);
//! - KL to a reference policy with Schulman's estimators of `KL(π‖π_ref)`, `s = logπ_ref − logπ`:
//!   k1 = `−s`, k2 = `s²/2`, k3 = `eˢ − 1 − s` (k3 is unbiased and never negative; the default),
//!   in the loss with coefficient β (0 by default; `KlPlacement::Reward` leaves it to the
//!   trainer, which subtracts β·ΣKL from the rewards);
//! - entropy bonus `−α H` (α = 0 by default).
//!
//! Per-token losses `ℓ = −surrogate + β·KL − α·H` are aggregated over an **optimiser step**
//! (gradient accumulation included, so the caller passes the step's totals in [`StepNorm`]):
//! token-mean `Σ m ℓ / tokens_in_step`; sequence-mean `Σ_i (Σ_t m ℓ / Σ_t m) / sequences_in_step`;
//! or Dr. GRPO's constant `Σ m ℓ / (max_tokens · sequences_in_step)`.
//!
//! Only differentiable candle ops are used (exp, clamp, minimum, maximum, where_cond, sums).

use candle_core::{DType, Tensor, D};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Token-level or sequence-level importance ratio.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RatioLevel {
    /// One ratio per token (PPO, GRPO).
    #[default]
    Token,
    /// One ratio per sequence, the exponential of the mean token log-ratio (GSPO).
    Sequence,
}

/// How per-token losses are averaged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Aggregation {
    /// Over every token of the optimiser step.
    #[default]
    TokenMean,
    /// Each sequence's token mean, averaged over the step's sequences.
    SequenceMean,
    /// Dr. GRPO: the token sum over `max_tokens × sequences` (a constant).
    Constant {
        /// The constant length (the generation budget).
        max_tokens: usize,
    },
}

/// Estimator of KL(π‖π_ref) per token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KlEstimator {
    /// `logπ − logπ_ref`.
    K1,
    /// `(logπ − logπ_ref)² / 2`.
    K2,
    /// `exp(logπ_ref − logπ) − 1 − (logπ_ref − logπ)`.
    #[default]
    K3,
}

/// Where the KL term goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KlPlacement {
    /// In the loss, per token.
    #[default]
    Loss,
    /// Subtracted from the rewards by the trainer (the loss ignores it).
    Reward,
}

/// Loss settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LossConfig {
    /// Lower clip ε (ratio ≥ 1 − ε_low).
    pub clip_low: f64,
    /// Upper clip ε (ratio ≤ 1 + ε_high).
    pub clip_high: f64,
    /// Dual-clip constant c > 1 for negative advantages (`None`: off).
    pub dual_clip: Option<f64>,
    /// Token or sequence ratio.
    pub ratio: RatioLevel,
    /// Averaging.
    pub aggregation: Aggregation,
    /// KL coefficient β (0: no reference term).
    pub kl_coef: f64,
    /// KL estimator.
    pub kl_estimator: KlEstimator,
    /// Where the KL term goes.
    pub kl_placement: KlPlacement,
    /// Entropy bonus coefficient α.
    pub entropy_coef: f64,
    /// Clamp of the log-ratio before the exponential (`None`: no clamp).
    pub log_ratio_clamp: Option<f64>,
}

impl Default for LossConfig {
    fn default() -> Self {
        Self {
            clip_low: 0.2,
            clip_high: 0.28,
            dual_clip: None,
            ratio: RatioLevel::Token,
            aggregation: Aggregation::TokenMean,
            kl_coef: 0.0,
            kl_estimator: KlEstimator::K3,
            kl_placement: KlPlacement::Loss,
            entropy_coef: 0.0,
            log_ratio_clamp: Some(20.0),
        }
    }
}

impl LossConfig {
    /// Check the settings.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        if !(self.clip_low > 0.0 && self.clip_low < 1.0) {
            return bad(format!("clip_low must be in (0, 1), got {}", self.clip_low));
        }
        if !(self.clip_high > 0.0 && self.clip_high.is_finite()) {
            return bad(format!("clip_high must be positive, got {}", self.clip_high));
        }
        if let Some(c) = self.dual_clip {
            if c <= 1.0 {
                return bad(format!("dual_clip must be above 1, got {c}"));
            }
        }
        for (name, c) in [("loss.kl_coef", self.kl_coef), ("loss.entropy_coef", self.entropy_coef)]
        {
            if !(c >= 0.0 && c.is_finite()) {
                return bad(format!("{name} must be a finite number, 0 or more, got {c}"));
            }
        }
        if let Aggregation::Constant { max_tokens: 0 } = self.aggregation {
            return bad("aggregation max_tokens must be positive".into());
        }
        Ok(())
    }
}

/// Totals over the optimiser step that the aggregation divides by.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepNorm {
    /// Unmasked tokens in the whole step (all micro-batches).
    pub tokens: f64,
    /// Sequences in the whole step.
    pub sequences: f64,
}

/// The tensors of one micro-batch, `[batch, tokens]` unless said otherwise.
#[derive(Clone, Copy, Debug)]
pub struct LossInputs<'a> {
    /// Log-probabilities of the taken tokens under the policy being trained (with gradient).
    pub logp: &'a Tensor,
    /// The same under the policy that sampled them.
    pub old_logp: &'a Tensor,
    /// The same under the reference policy (needed when the KL term is in the loss).
    pub ref_logp: Option<&'a Tensor>,
    /// Advantages: `[batch]` (one per sequence) or `[batch, tokens]`.
    pub advantages: &'a Tensor,
    /// 1 for real tokens, 0 for padding.
    pub mask: &'a Tensor,
    /// Per-token entropy of the policy (needed when α > 0).
    pub entropy: Option<&'a Tensor>,
}

/// Diagnostics of one loss evaluation (over this micro-batch's unmasked tokens).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossStats {
    /// The aggregated loss.
    pub loss: f64,
    /// Fraction of tokens whose ratio was clipped.
    pub clip_fraction: f64,
    /// k3 estimate of KL(π_old‖π) (how far this update moved).
    pub approx_kl: f64,
    /// Mean ratio.
    pub ratio_mean: f64,
    /// Mean KL to the reference (0 without one).
    pub ref_kl: f64,
    /// Mean entropy (0 when not given).
    pub entropy: f64,
}

/// Per-token KL estimate of KL(π‖π_ref) from log-probabilities.
pub fn kl_estimate(logp: &Tensor, ref_logp: &Tensor, estimator: KlEstimator) -> Result<Tensor> {
    let s = (ref_logp - logp)?;
    Ok(match estimator {
        KlEstimator::K1 => s.neg()?,
        KlEstimator::K2 => (s.sqr()? * 0.5)?,
        KlEstimator::K3 => ((s.exp()? - 1.0)? - &s)?,
    })
}

fn masked_mean(x: &Tensor, mask: &Tensor, tokens: f64) -> Result<f64> {
    Ok((x * mask)?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()? / tokens.max(1.0))
}

/// The loss of one micro-batch, already divided by the step's totals, so that summing the
/// micro-batches' gradients gives the step's gradient.
pub fn policy_loss(
    inp: &LossInputs<'_>,
    cfg: &LossConfig,
    norm: StepNorm,
) -> Result<(Tensor, LossStats)> {
    let (b, t) = inp.logp.dims2()?;
    for (name, x) in [("old_logp", inp.old_logp), ("mask", inp.mask)] {
        if x.dims() != [b, t] {
            return Err(Error::Shape(format!("{name} is {:?}, logp is [{b}, {t}]", x.dims())));
        }
    }
    let adv = match inp.advantages.dims() {
        [n] if *n == b => inp.advantages.unsqueeze(1)?.broadcast_as((b, t))?,
        [n, m] if *n == b && *m == t => inp.advantages.clone(),
        other => {
            return Err(Error::Shape(format!("advantages are {other:?}, need [{b}] or [{b}, {t}]")))
        }
    };
    let mask = inp.mask;
    let seq_tokens = mask.sum_keepdim(D::Minus1)?; // [b, 1]
    let mut log_ratio = (inp.logp - inp.old_logp)?;
    if let Some(c) = cfg.log_ratio_clamp {
        log_ratio = log_ratio.clamp(-c, c)?;
    }
    let log_ratio = match cfg.ratio {
        RatioLevel::Token => log_ratio,
        RatioLevel::Sequence => (log_ratio * mask)?
            .sum_keepdim(D::Minus1)?
            .broadcast_div(&seq_tokens.clamp(1.0, f64::INFINITY)?)?
            .broadcast_as((b, t))?,
    };
    let ratio = log_ratio.exp()?;
    let clipped = ratio.clamp(1.0 - cfg.clip_low, 1.0 + cfg.clip_high)?;
    let s1 = (&ratio * &adv)?;
    let s2 = (&clipped * &adv)?;
    let mut surrogate = s1.minimum(&s2)?;
    if let Some(c) = cfg.dual_clip {
        let floor = (&adv * c)?;
        let negative = adv.lt(0.0)?;
        surrogate = negative.where_cond(&surrogate.maximum(&floor)?, &surrogate)?;
    }
    let mut per_token = surrogate.neg()?;
    let mut ref_kl = 0.0;
    let tokens_here = mask.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    if cfg.kl_coef > 0.0 && cfg.kl_placement == KlPlacement::Loss {
        let r = inp.ref_logp.ok_or_else(|| {
            Error::Config("kl_coef > 0 with the KL in the loss needs ref_logp".into())
        })?;
        let kl = kl_estimate(inp.logp, r, cfg.kl_estimator)?;
        ref_kl = masked_mean(&kl, mask, tokens_here)?;
        per_token = (per_token + (kl * cfg.kl_coef)?)?;
    }
    let mut entropy = 0.0;
    if let Some(h) = inp.entropy {
        entropy = masked_mean(h, mask, tokens_here)?;
        if cfg.entropy_coef > 0.0 {
            per_token = (per_token - (h * cfg.entropy_coef)?)?;
        }
    } else if cfg.entropy_coef > 0.0 {
        return Err(Error::Config("entropy_coef > 0 needs the per-token entropy".into()));
    }
    let masked = (per_token * mask)?;
    let loss = match cfg.aggregation {
        Aggregation::TokenMean => (masked.sum_all()? / norm.tokens.max(1.0))?,
        Aggregation::SequenceMean => {
            let per_seq = masked
                .sum_keepdim(D::Minus1)?
                .broadcast_div(&seq_tokens.clamp(1.0, f64::INFINITY)?)?;
            (per_seq.sum_all()? / norm.sequences.max(1.0))?
        }
        Aggregation::Constant { max_tokens } => {
            (masked.sum_all()? / (max_tokens as f64 * norm.sequences.max(1.0)))?
        }
    };
    // Diagnostics, without gradient.
    let ratio_d = ratio.detach();
    let outside = (ratio_d.lt(1.0 - cfg.clip_low)?.to_dtype(mask.dtype())?
        + ratio_d.gt(1.0 + cfg.clip_high)?.to_dtype(mask.dtype())?)?;
    let lr = (inp.old_logp - inp.logp.detach())?;
    let approx_kl = ((lr.exp()? - 1.0)? - &lr)?;
    let stats = LossStats {
        loss: loss.to_dtype(DType::F64)?.to_scalar::<f64>()?,
        clip_fraction: masked_mean(&outside, mask, tokens_here)?,
        approx_kl: masked_mean(&approx_kl, mask, tokens_here)?,
        ratio_mean: masked_mean(&ratio_d, mask, tokens_here)?,
        ref_kl,
        entropy,
    };
    Ok((loss, stats))
}

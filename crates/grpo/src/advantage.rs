//! Advantages from rewards.
//!
//! Group estimators (a *group* is G rollouts from the same task and seed, stored contiguously):
//!
//! - **GRPO** (Shao et al. 2024, DeepSeekMath): `A_i = (R_i − mean_g) / (std_g + ε)` with the
//!   group's sample standard deviation (n − 1 in the denominator, as TRL computes it), ε = 1e-4.
//! - **Dr. GRPO** (Liu et al. 2025, "Understanding R1-Zero-like training"): `A_i = R_i − mean_g`;
//!   dividing by the standard deviation weights easy and hard groups unequally.
//! - **RLOO** (Ahmadian et al. 2024): `A_i = R_i − mean_{j≠i} R_j = G/(G−1) · (R_i − mean_g)`.
//! - **Batch std** (REINFORCE++-style): `A_i = (R_i − mean_g) / (std_batch + ε)`, the group
//!   mean removed and one standard deviation for the whole batch.
//!
//! And **GAE** (Schulman et al. 2016) for PPO with a value head:
//! `δ_t = r_t + γ V_{t+1} (1 − done_t) − V_t`, `A_t = δ_t + γλ (1 − done_t) A_{t+1}`, defaults
//! γ = 0.99, λ = 0.95.
//!
//! [`informative_groups`] is DAPO's dynamic-sampling test: a group whose rewards are all equal
//! has zero advantage everywhere and teaches nothing, so the trainer drops it and samples more.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Which group estimator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupAdvantage {
    /// `(R − mean_g) / (std_g + ε)`.
    #[default]
    Grpo,
    /// `R − mean_g`.
    DrGrpo,
    /// Leave-one-out baseline.
    Rloo,
    /// `(R − mean_g) / (std_batch + ε)`.
    BatchStd,
}

/// ε added to standard deviations.
pub const STD_EPS: f64 = 1e-4;

fn check(rewards: &[f32], group: usize) -> Result<()> {
    if group < 2 {
        return Err(Error::Config(format!("a group needs at least 2 rollouts, got {group}")));
    }
    if rewards.len() % group != 0 {
        return Err(Error::Shape(format!(
            "{} rewards do not split into groups of {group}",
            rewards.len()
        )));
    }
    if let Some(k) = rewards.iter().position(|r| !r.is_finite()) {
        return Err(Error::Shape(format!("reward {k} is {}", rewards[k])));
    }
    Ok(())
}

fn mean_std(xs: &[f32], ddof: f64) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
    let var = xs.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / (n - ddof).max(1.0);
    (mean, var.sqrt())
}

/// Advantages of `rewards` laid out as consecutive groups of `group`.
pub fn group_advantages(rewards: &[f32], group: usize, kind: GroupAdvantage) -> Result<Vec<f32>> {
    check(rewards, group)?;
    let batch_std = mean_std(rewards, 1.0).1;
    let mut out = Vec::with_capacity(rewards.len());
    for g in rewards.chunks(group) {
        let (mean, std) = mean_std(g, 1.0);
        let n = group as f64;
        for &r in g {
            let centred = f64::from(r) - mean;
            out.push(match kind {
                GroupAdvantage::Grpo => centred / (std + STD_EPS),
                GroupAdvantage::DrGrpo => centred,
                GroupAdvantage::Rloo => centred * n / (n - 1.0),
                GroupAdvantage::BatchStd => centred / (batch_std + STD_EPS),
            } as f32);
        }
    }
    Ok(out)
}

/// For each group, whether its rewards differ (DAPO's dynamic sampling keeps only these).
pub fn informative_groups(rewards: &[f32], group: usize) -> Result<Vec<bool>> {
    check(rewards, group)?;
    Ok(rewards.chunks(group).map(|g| g.iter().any(|&r| r.to_bits() != g[0].to_bits())).collect())
}

/// Generalised advantage estimation over one trajectory (or several joined, separated by
/// `dones`). `values` has one more entry than `rewards`: the value after the last step.
/// Returns (advantages, returns = advantages + values).
pub fn gae(
    rewards: &[f32],
    values: &[f32],
    dones: &[bool],
    gamma: f32,
    lambda: f32,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let n = rewards.len();
    if values.len() != n + 1 || dones.len() != n {
        return Err(Error::Shape(format!(
            "gae needs values = rewards + 1 and dones = rewards, got {n} rewards, {} values, {} \
             dones",
            values.len(),
            dones.len()
        )));
    }
    let mut adv = vec![0f32; n];
    let mut next = 0f32;
    for t in (0..n).rev() {
        let keep = if dones[t] { 0.0 } else { 1.0 };
        let delta = rewards[t] + gamma * values[t + 1] * keep - values[t];
        next = delta + gamma * lambda * keep * next;
        adv[t] = next;
    }
    let returns = adv.iter().zip(values).map(|(a, v)| a + v).collect();
    Ok((adv, returns))
}

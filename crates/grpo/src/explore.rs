//! Exploration inside the GRPO core: privileged starts, tree rollouts, ProGRPO's advantage
//! re-weighting and Lp-Reg's protection of low-probability tokens.
//!
//! **Privileged starts** (POPE, Qu et al. 2025; the backward algorithm of Salimans & Chen 2018
//! that Go-Explore's robustification uses): a demonstration — the env id, the reset seed and
//! the actions that reach the goal, as `spelunk explore --method go-explore` writes it — is
//! replayed once and a snapshot kept at every step. Each group starts from a snapshot drawn
//! uniformly from demo steps `[cursor, cursor + window]`; when an iteration's success rate
//! reaches `threshold` the cursor moves `step_back` steps towards the start. The cursor begins
//! `step_back` steps before the end; at 0 the episodes start where a user's would. Defaults:
//! threshold 0.5, step_back 10, window 5 (ours; the papers tune them per game).
//!
//! **Tree rollouts** (LATR, Sibling-GRPO in V-STAR, BranchGRPO): after a group's G rollouts,
//! the `branch_points` steps where the policy was least sure (largest entropy of its action
//! tokens; one per episode, never the last step) are recreated by replaying the episode's
//! actions from its seed, and G children are sampled from each. The children form their own
//! group: their return counts from the branch point on, and their advantages are relative to
//! their siblings, so the credit lands on the decision that split them.
//!
//! **ProGRPO** (Li et al. 2026, "Back to Basics"): in a group with any non-zero reward, each
//! advantage becomes `A_i + α (c(q) − c(o_i|q))`, where the answer confidence `c(o_i|q)` is the
//! mean log-probability of the episode's least likely `low_fraction` of tokens (the paper's
//! T_low, 20%). Our sequences have no prompt tokens, so the prompt term `c(q)` is the group's
//! mean answer confidence: over-confident rollouts get less credit, the rare correct ones more,
//! and the group's advantages still sum to zero. Defaults α = 0.1, low_fraction 0.2.
//!
//! **Lp-Reg** (Huang et al. 2025): a proxy distribution keeps the policy's tokens whose
//! probability exceeds `tau` and renormalises them (tokens below are taken for noise). A
//! sampled token is protected when its probability is below the `rho` quantile of the
//! minibatch's sampled-token probabilities, the proxy keeps it, and its advantage is negative:
//! for such tokens the loss adds `coef · KL(π_proxy ‖ π_θ)` over the whole action vocabulary, so
//! a rare useful action is not pushed to zero by one bad outcome. Defaults coef 1, tau 0.02
//! (the paper's fixed threshold) and rho 0.05 (ours: our minibatches hold thousands of tokens,
//! a 1% quantile would protect almost none).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Privileged starts from a demonstration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivilegedConfig {
    /// The demonstration file (JSON: `env`, `seed`, `actions`).
    pub demo: PathBuf,
    /// Success rate at which the start moves back.
    pub threshold: f64,
    /// Demo steps the start moves back each time.
    pub step_back: usize,
    /// Starts are drawn from `[cursor, cursor + window]`.
    pub window: usize,
    /// Share of each iteration's starts drawn from the frontier, `[cursor, cursor +
    /// step_back)`. Above 0 the start moves back on the frontier's success rate alone (the
    /// rest of the window is practice); at 0, on the whole window's.
    pub frontier: f64,
    /// Demo-progress shaping (0: off): the potential of a state is `shaping · i / len`, `i`
    /// the last demo step in the same place (`info`'s level, room, x, y and items; 0 off the
    /// demo), added as `γ·Φ(s') − Φ(s)` per step, `Φ = 0` once terminated (Ng et al. 1999).
    pub shaping: f64,
    /// Imitation of the demo (0: off), self-imitation style (Oh et al. 2018): the loss adds
    /// `imitation · mean_t w_t · −log π(a_t | s_t)` over the demo's steps, `w_t = max(R_t −
    /// V(s_t), 0)` under PPO (`R_t` the demo's discounted return from `t`: imitate only where
    /// the demo does better than the policy expects to), 1 under GRPO. Discrete actions.
    pub imitation: f64,
}

impl Default for PrivilegedConfig {
    fn default() -> Self {
        Self {
            demo: PathBuf::new(),
            threshold: 0.5,
            step_back: 10,
            window: 5,
            frontier: 0.0,
            shaping: 0.0,
            imitation: 0.0,
        }
    }
}

pub use spelunk_core::demo::{Demo, DemoAction};

/// A place in an env, as `info` reports it: level, room, x, y, items held.
pub type Place = (Option<u32>, Option<u32>, i32, i32, Option<u64>);

/// The place `info` reports, for envs that report a position.
pub fn place(info: &spelunk_core::Info) -> Option<Place> {
    Some((info.level, info.room, info.x?, info.y?, info.inventory))
}

/// Demo-progress potential: each place the demo passes, mapped to the last step there.
#[derive(Clone, Debug)]
pub struct Progress {
    last: std::collections::HashMap<Place, usize>,
    scale: f32,
}

impl Progress {
    /// From the demo's places, step 0 (the reset state) to the end; `coef` is the potential
    /// of the demo's last state.
    pub fn new(places: &[Place], coef: f64) -> Self {
        let mut last = std::collections::HashMap::with_capacity(places.len());
        for (i, p) in places.iter().enumerate() {
            last.insert(*p, i);
        }
        let scale = (coef / places.len().saturating_sub(1).max(1) as f64) as f32;
        Self { last, scale }
    }
    /// The potential of a state: 0 off the demo's places.
    pub fn potential(&self, info: &spelunk_core::Info) -> f32 {
        place(info).and_then(|p| self.last.get(&p)).map_or(0.0, |&i| i as f32 * self.scale)
    }
}

/// Where privileged starts begin now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Curriculum {
    /// Earliest demo step starts are drawn from.
    pub cursor: usize,
    /// Demo length (steps).
    pub len: usize,
}

impl Curriculum {
    /// A curriculum over a demo of `len` steps.
    pub fn new(len: usize, cfg: &PrivilegedConfig) -> Self {
        Self { cursor: len.saturating_sub(cfg.step_back.max(1)), len }
    }
    /// The range of start steps.
    pub fn range(&self, cfg: &PrivilegedConfig) -> (usize, usize) {
        let hi = (self.cursor + cfg.window).min(self.len.saturating_sub(1)).max(self.cursor);
        (self.cursor, hi)
    }
    /// The frontier: the starts whose success moves the cursor when `frontier > 0`.
    pub fn frontier(&self, cfg: &PrivilegedConfig) -> (usize, usize) {
        let (lo, hi) = self.range(cfg);
        (lo, (lo + cfg.step_back.max(1) - 1).min(hi))
    }
    /// Record an iteration's success rate; returns whether the start moved back.
    pub fn record(&mut self, success_rate: f64, cfg: &PrivilegedConfig) -> bool {
        if self.cursor > 0 && success_rate >= cfg.threshold {
            self.cursor = self.cursor.saturating_sub(cfg.step_back.max(1));
            true
        } else {
            false
        }
    }
}

/// Tree rollouts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TreeConfig {
    /// Branch points per group.
    pub branch_points: usize,
    /// Children per branch point (0: the group size).
    pub children: usize,
}

impl Default for TreeConfig {
    fn default() -> Self {
        Self { branch_points: 1, children: 0 }
    }
}

/// The branch points of one group: `(episode, step)` of the largest per-step entropies, one
/// per episode, never an episode's last step, at most `n`.
pub fn branch_points(entropies: &[&[f32]], n: usize) -> Vec<(usize, usize)> {
    let mut best: Vec<(f32, usize, usize)> = entropies
        .iter()
        .enumerate()
        .filter_map(|(e, h)| {
            let inner = &h[..h.len().saturating_sub(1)];
            inner
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                .map(|(t, &v)| (v, e, t))
        })
        .collect();
    best.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    best.into_iter().take(n).map(|(_, e, t)| (e, t)).collect()
}

/// ProGRPO's settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProGrpoConfig {
    /// Weight α of the confidence term.
    pub alpha: f64,
    /// Fraction of least likely tokens the confidence averages.
    pub low_fraction: f64,
}

impl Default for ProGrpoConfig {
    fn default() -> Self {
        Self { alpha: 0.1, low_fraction: 0.2 }
    }
}

/// The mean of the lowest `ceil(fraction · n)` log-probabilities (at least one).
pub fn answer_confidence(logp: &[f32], fraction: f64) -> f32 {
    if logp.is_empty() {
        return 0.0;
    }
    let mut v = logp.to_vec();
    v.sort_by(f32::total_cmp);
    let k = ((fraction * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[..k].iter().sum::<f32>() / k as f32
}

/// Re-weight group advantages in place: `A + α(mean_group(c) − c)` for groups with any
/// non-zero return.
pub fn progrpo_reweight(
    adv: &mut [f32],
    returns: &[f32],
    confidence: &[f32],
    g: usize,
    cfg: &ProGrpoConfig,
) -> Result<()> {
    if g == 0 || adv.len() != returns.len() || adv.len() != confidence.len() || adv.len() % g != 0 {
        return Err(Error::Shape(format!(
            "ProGRPO: {} advantages, {} returns, {} confidences, group size {g}",
            adv.len(),
            returns.len(),
            confidence.len()
        )));
    }
    for ((a, r), c) in adv.chunks_mut(g).zip(returns.chunks(g)).zip(confidence.chunks(g)) {
        if r.iter().all(|&x| x == 0.0) {
            continue;
        }
        let mean = c.iter().sum::<f32>() / g as f32;
        for (ai, ci) in a.iter_mut().zip(c) {
            *ai += (cfg.alpha * f64::from(mean - ci)) as f32;
        }
    }
    Ok(())
}

/// Lp-Reg's settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LpRegConfig {
    /// Coefficient of the KL term.
    pub coef: f64,
    /// Probability below which the proxy drops a token as noise.
    pub tau: f64,
    /// Quantile of sampled-token probabilities below which a token is protected.
    pub rho: f64,
}

impl Default for LpRegConfig {
    fn default() -> Self {
        Self { coef: 1.0, tau: 0.02, rho: 0.05 }
    }
}

/// Lp-Reg's targets for `rows` token positions over a vocabulary of `vocab`: `probs` are the
/// policy's (detached) probabilities, `tokens` the sampled tokens, `advantages` one per row.
/// Returns the proxy distribution per row (all zeros for rows not protected) and the number of
/// protected rows.
pub fn lp_reg_targets(
    probs: &[f32],
    vocab: usize,
    tokens: &[u32],
    advantages: &[f32],
    cfg: &LpRegConfig,
) -> (Vec<f32>, usize) {
    let rows = tokens.len();
    let mut out = vec![0f32; rows * vocab];
    if rows == 0 || vocab == 0 {
        return (out, 0);
    }
    let taken: Vec<f32> =
        tokens.iter().enumerate().map(|(r, &t)| probs[r * vocab + t as usize]).collect();
    let mut sorted = taken.clone();
    sorted.sort_by(f32::total_cmp);
    let q = ((cfg.rho * rows as f64).floor() as usize).min(rows - 1);
    let cut = sorted[q];
    let tau = cfg.tau as f32;
    let mut n = 0;
    for r in 0..rows {
        let p = taken[r];
        if !(p <= cut && p > tau && advantages[r] < 0.0) {
            continue;
        }
        let row = &probs[r * vocab..(r + 1) * vocab];
        let kept: f32 = row.iter().filter(|&&x| x > tau).sum();
        if kept <= 0.0 {
            continue;
        }
        for (o, &x) in out[r * vocab..(r + 1) * vocab].iter_mut().zip(row) {
            *o = if x > tau { x / kept } else { 0.0 };
        }
        n += 1;
    }
    (out, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(room: u32, x: i32, y: i32, items: u64) -> spelunk_core::Info {
        spelunk_core::Info {
            room: Some(room),
            x: Some(x),
            y: Some(y),
            inventory: Some(items),
            ..Default::default()
        }
    }

    #[test]
    #[expect(clippy::float_cmp, reason = "the potentials are exact multiples of 0.5")]
    fn progress_is_the_last_demo_step_at_the_place_scaled_to_the_coefficient() {
        // A demo of 4 actions: out to a key and back past the start, now holding it.
        let states = [info(0, 1, 1, 0), info(0, 2, 1, 0), info(0, 2, 1, 1), info(0, 1, 1, 1)];
        let places: Vec<Place> = states.iter().map(|i| place(i).expect("a position")).collect();
        let p = Progress::new(&[places.clone(), vec![places[0]]].concat(), 2.0);
        // Five states (4 steps): the potential rises by 2 / 4 per step.
        assert_eq!(p.potential(&states[1]), 0.5);
        assert_eq!(p.potential(&states[2]), 1.0);
        assert_eq!(p.potential(&states[3]), 1.5);
        // The start is passed again at the end: its last step counts.
        assert_eq!(p.potential(&states[0]), 2.0);
        // Same square, other items, or off the demo: nothing.
        assert_eq!(p.potential(&info(0, 1, 1, 7)), 0.0);
        assert_eq!(p.potential(&info(1, 1, 1, 0)), 0.0);
        assert_eq!(p.potential(&spelunk_core::Info::default()), 0.0, "no position");
    }

    #[test]
    fn the_frontier_is_the_cursors_first_step_back_steps() {
        let cfg = PrivilegedConfig { step_back: 3, window: 40, ..Default::default() };
        let c = Curriculum { cursor: 10, len: 100 };
        assert_eq!(c.range(&cfg), (10, 50));
        assert_eq!(c.frontier(&cfg), (10, 12));
        let end = Curriculum { cursor: 98, len: 100 };
        assert_eq!(end.frontier(&cfg), (98, 99), "clipped to the demo");
    }
}

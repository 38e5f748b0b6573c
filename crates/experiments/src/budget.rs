//! Memory budgets: the memory a run's settings imply, estimated before anything is allocated
//! and refused above a limit, with the estimate and its parts in the message — instead of
//! "memory allocation failed" (or a machine that swaps to a halt) a minute later.
//!
//! The limit is half the machine's memory (`MemTotal` in `/proc/meminfo`; 8 GiB where that
//! cannot be read), or `SPELUNK_MEMORY_LIMIT` (bytes, or with a `K`, `M`, `G` or `T` suffix).

use crate::error::{bail, Result};

/// The variable that overrides the limit.
pub const LIMIT_VAR: &str = "SPELUNK_MEMORY_LIMIT";

/// Parse `512M`, `8G`, `1.5T`, `1048576`.
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        (i, 't' | 'T') => (&s[..i], 1 << 40),
        _ => (s, 1),
    };
    let v: f64 = num.trim().parse().ok()?;
    (v.is_finite() && v > 0.0).then_some((v * mult as f64) as u64)
}

/// The limit, and where it comes from.
pub fn limit() -> Result<(u64, String)> {
    if let Ok(v) = std::env::var(LIMIT_VAR) {
        return match parse_bytes(&v) {
            Some(b) => Ok((b, format!("{LIMIT_VAR}={v}"))),
            None => bail!("{LIMIT_VAR}={v:?} is not a size (bytes, or a number with K, M, G or T)"),
        };
    }
    let total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        let line = t.lines().find(|l| l.starts_with("MemTotal:"))?;
        let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb * 1024)
    });
    Ok(match total {
        Some(t) => (t / 2, format!("half this machine's {}; set {LIMIT_VAR} to change it", gib(t))),
        None => (
            8 << 30,
            format!(
                "the default, as this machine's memory is unknown; set {LIMIT_VAR} to change it"
            ),
        ),
    })
}

fn gib(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.1} GiB", b as f64 / f64::from(1u32 << 30))
    } else {
        format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20))
    }
}

/// What a run will hold in memory, part by part.
#[derive(Clone, Debug, Default)]
pub struct Estimate {
    parts: Vec<(String, u64)>,
}

impl Estimate {
    /// Add `count × each` bytes for `what` (saturating: a huge setting is a huge estimate,
    /// not an overflow).
    pub fn add(&mut self, what: impl Into<String>, count: u64, each: u64) -> &mut Self {
        self.parts.push((what.into(), count.saturating_mul(each)));
        self
    }

    /// The total, bytes.
    pub fn total(&self) -> u64 {
        self.parts.iter().fold(0u64, |a, (_, b)| a.saturating_add(*b))
    }

    /// Refuse `job` when the total is above the limit; the message has the total, its largest
    /// parts and the limit.
    pub fn check(&self, job: &str) -> Result<()> {
        let (limit, why) = limit()?;
        self.check_against(job, limit, &why)
    }

    /// [`Estimate::check`] against a given limit.
    pub fn check_against(&self, job: &str, limit: u64, why: &str) -> Result<()> {
        let total = self.total();
        if total <= limit {
            return Ok(());
        }
        let mut parts = self.parts.clone();
        parts.sort_by_key(|p| std::cmp::Reverse(p.1));
        let list: Vec<String> =
            parts.iter().take(3).map(|(w, b)| format!("{w}: {}", gib(*b))).collect();
        bail!(
            "{job} would need about {} of memory ({}), more than the limit of {} ({why}); make \
             the settings smaller",
            gib(total),
            list.join(", "),
            gib(limit)
        )
    }
}

/// What training `cfg` on envs like `env` holds: the envs, a step's rollout records for every
/// episode of an iteration, the evaluation's episodes, and the policy's parameters with their
/// gradients, Adam moments and activations.
pub fn training(cfg: &spelunk_grpo::TrainConfig, env: &dyn spelunk_core::Env) -> Estimate {
    use spelunk_models::policy::Head;
    let obs = env.observation_space().flat_len() as u64;
    let steps = u64::from(env.max_episode_steps().unwrap_or(1000));
    let episodes = (cfg.group_size as u64).saturating_mul(cfg.groups_per_step as u64);
    let env_bytes = env.snapshot().map_or(4096, |s| s.bytes.len() as u64) + obs * 4;
    let p = &cfg.policy;
    let widest = p.hidden.iter().copied().max().unwrap_or(0) as u64;
    let params = match p.head {
        Head::Transformer | Head::Vla => {
            let t = &p.transformer;
            let (d, ffn) = (t.d_model as u64, t.ffn as u64);
            (t.layers as u64).saturating_mul(4 * d * d + 3 * d * ffn) + (t.vocab as u64) * d
        }
        _ => {
            let mut dims = vec![obs];
            dims.extend(p.hidden.iter().map(|&h| h as u64));
            dims.push(p.bins.max(16) as u64);
            dims.windows(2).fold(0u64, |a, w| a.saturating_add(w[0].saturating_mul(w[1])))
        }
    };
    let per_minibatch = episodes.saturating_mul(steps) / cfg.minibatches.max(1) as u64;
    let mut e = Estimate::default();
    e.add(format!("{episodes} envs (group_size × groups_per_step)"), episodes, env_bytes)
        .add(
            format!("rollouts ({episodes} episodes of up to {steps} steps, {obs} values each)"),
            episodes.saturating_mul(steps),
            obs * 4 + 32,
        )
        .add(
            format!("evaluation ({} episodes)", cfg.eval_episodes),
            cfg.eval_episodes as u64,
            env_bytes + steps * 16,
        )
        .add("policy parameters, gradients and Adam moments", params, 16)
        .add(
            "activations of a minibatch",
            per_minibatch,
            (widest.max(p.transformer.d_model as u64))
                .saturating_mul(p.hidden.len().max(1) as u64 * 8),
        );
    e
}

/// What `count` envs like `env` hold (their state and two observation buffers).
pub fn envs(count: u64, env: &dyn spelunk_core::Env) -> Estimate {
    let obs = env.observation_space().flat_len() as u64;
    let each = env.snapshot().map_or(4096, |s| s.bytes.len() as u64) + obs * 8;
    let mut e = Estimate::default();
    e.add(format!("{count} envs"), count, each);
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_oversized_estimates_say_what_is_too_big() {
        assert_eq!(parse_bytes("512M"), Some(512 << 20));
        assert_eq!(parse_bytes("8g"), Some(8 << 30));
        assert_eq!(parse_bytes("1024"), Some(1024));
        assert_eq!(parse_bytes("-1G"), None);
        assert_eq!(parse_bytes("lots"), None);
        let mut e = Estimate::default();
        e.add("rollouts (1000000000 episodes)", 1_000_000_000, 4096).add("policy", 1, 1 << 20);
        let msg = e.check_against("training", 8 << 30, "test").expect_err("too big").to_string();
        assert!(msg.contains("rollouts (1000000000 episodes)") && msg.contains("8.0 GiB"), "{msg}");
        let mut small = Estimate::default();
        small.add("x", u64::MAX, u64::MAX);
        assert_eq!(small.total(), u64::MAX, "saturates");
        assert!(Estimate::default().check_against("nothing", 1, "test").is_ok());
    }
}

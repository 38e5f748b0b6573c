//! An iteration split in two, for rollout workers in other processes or on other machines:
//! a worker [`Trainer::collect`]s groups of episodes with the policy weights the learner sent
//! it ([`Trainer::policy_weights`], [`Trainer::load_policy_weights`]) and returns them as a
//! [`Batch`] of bytes; the learner [`Trainer::learn`]s from the workers' batches, in the order
//! given, with the group-relative (GRPO) or GAE (PPO) advantages and the same update as
//! [`Trainer::iterate`].
//!
//! A batch is a pure function of the weights, the iteration and its groups: the groups' seeds
//! are those `iterate` would draw, and the actions are sampled from a generator seeded by the
//! run's seed, the iteration and the first group. So a worker that dies can be asked again
//! and returns the same batch, and a run is reproduced by the same split of groups between
//! batches (each batch draws its own generator) — not by `iterate`, whose rollouts draw from
//! the trainer's generator.

use std::collections::BTreeMap;

use spelunk_core::{ByteReader, ByteWriter, Rng};

use super::metrics::Tally;
use super::{Episode, Start, Trainer};
use crate::advantage::{group_advantages, informative_groups};
use crate::{Error, Result};

/// Format tag of [`Batch`] bytes.
const BATCH_MAGIC: &str = "spelunk-grpo/batch/1";

/// Episodes a worker collected: whole groups, each `group_size` episodes of one seed.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    episodes: Vec<Episode>,
}

fn put_f32s(w: &mut ByteWriter, v: &[f32]) {
    w.u64(v.len() as u64);
    for x in v {
        w.f32(*x);
    }
}

fn put_opt_u32(w: &mut ByteWriter, v: Option<u32>) {
    w.bool(v.is_some());
    w.u32(v.unwrap_or(0));
}

fn bad(e: impl std::fmt::Display) -> Error {
    Error::Config(format!("batch: {e}"))
}

/// A length read from the bytes, refused when it cannot fit in what is left of them.
fn len(r: &mut ByteReader<'_>, width: usize, left: usize) -> Result<usize> {
    let n = r.u64().map_err(bad)?;
    match usize::try_from(n) {
        Ok(n) if n.checked_mul(width).is_some_and(|b| b <= left) => Ok(n),
        _ => Err(bad(format!("a list of {n} values is longer than the batch"))),
    }
}

fn get_f32s(r: &mut ByteReader<'_>, left: usize) -> Result<Vec<f32>> {
    let n = len(r, 4, left)?;
    (0..n).map(|_| r.f32().map_err(bad)).collect()
}

fn get_opt_u32(r: &mut ByteReader<'_>) -> Result<Option<u32>> {
    let some = r.bool().map_err(bad)?;
    let v = r.u32().map_err(bad)?;
    Ok(some.then_some(v))
}

impl Batch {
    /// Episodes in the batch.
    pub fn len(&self) -> usize {
        self.episodes.len()
    }

    /// Whether it holds no episode.
    pub fn is_empty(&self) -> bool {
        self.episodes.is_empty()
    }

    /// Environment steps the batch took.
    pub fn env_steps(&self) -> u64 {
        self.episodes.iter().map(|e| e.steps as u64).sum()
    }

    /// The batch as bytes (a tag, then each episode; floats exactly).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut w = ByteWriter::new();
        w.bytes(BATCH_MAGIC.as_bytes());
        w.u64(self.episodes.len() as u64);
        for e in &self.episodes {
            let Start::Seed(seed) = e.start else {
                return Err(bad("only episodes from seeds travel in batches"));
            };
            w.u64(seed);
            put_f32s(&mut w, &e.actions);
            put_f32s(&mut w, &e.entropy);
            put_f32s(&mut w, &e.obs);
            put_f32s(&mut w, &e.last_obs);
            w.u64(e.tokens.len() as u64);
            for t in &e.tokens {
                w.u32(*t);
            }
            put_f32s(&mut w, &e.old_logp);
            w.f32(e.ret);
            w.f32(e.shaping);
            put_f32s(&mut w, &e.rewards);
            w.bool(e.terminated);
            w.bool(e.success);
            w.u64(e.steps as u64);
            w.bool(e.truncated);
            put_opt_u32(&mut w, e.lives.0);
            put_opt_u32(&mut w, e.lives.1);
            put_opt_u32(&mut w, e.end_room);
            w.bool(e.end_items.is_some());
            w.u64(e.end_items.unwrap_or(0));
        }
        Ok(w.as_bytes().to_vec())
    }

    /// A batch [`Batch::to_bytes`] wrote; anything else (another format, cut short, lengths
    /// that do not fit) is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let mut r = ByteReader::new(bytes);
        let magic = r.bytes().map_err(bad)?;
        if magic != BATCH_MAGIC.as_bytes() {
            return Err(bad(format!("not a batch of episodes (expected `{BATCH_MAGIC}`)")));
        }
        let total = bytes.len();
        let n = len(&mut r, 8, total)?;
        let mut episodes = Vec::with_capacity(n);
        for _ in 0..n {
            let start = Start::Seed(r.u64().map_err(bad)?);
            let actions = get_f32s(&mut r, total)?;
            let entropy = get_f32s(&mut r, total)?;
            let obs = get_f32s(&mut r, total)?;
            let last_obs = get_f32s(&mut r, total)?;
            let t = len(&mut r, 4, total)?;
            let tokens = (0..t).map(|_| r.u32().map_err(bad)).collect::<Result<Vec<u32>>>()?;
            let old_logp = get_f32s(&mut r, total)?;
            let ret = r.f32().map_err(bad)?;
            let shaping = r.f32().map_err(bad)?;
            let rewards = get_f32s(&mut r, total)?;
            let terminated = r.bool().map_err(bad)?;
            let success = r.bool().map_err(bad)?;
            let steps = usize::try_from(r.u64().map_err(bad)?).map_err(bad)?;
            let truncated = r.bool().map_err(bad)?;
            let lives = (get_opt_u32(&mut r)?, get_opt_u32(&mut r)?);
            let end_room = get_opt_u32(&mut r)?;
            let has_items = r.bool().map_err(bad)?;
            let items = r.u64().map_err(bad)?;
            if rewards.len() != steps || old_logp.len() != tokens.len() {
                return Err(bad(format!(
                    "an episode of {steps} steps has {} rewards and {} log-probabilities for {} \
                     tokens",
                    rewards.len(),
                    old_logp.len(),
                    tokens.len()
                )));
            }
            episodes.push(Episode {
                start,
                actions,
                entropy,
                obs,
                last_obs,
                tokens,
                old_logp,
                ret,
                shaping,
                rewards,
                terminated,
                success,
                steps,
                truncated,
                lives,
                end_room,
                end_items: has_items.then_some(items),
                ..Episode::default()
            });
        }
        r.finish().map_err(bad)?;
        Ok(Self { episodes })
    }
}

impl Trainer<'_> {
    /// Settings whose state lives in the rollouts or the trainer's generator between
    /// iterations, which a split iteration cannot carry.
    fn check_splittable(&self) -> Result<()> {
        let c = &self.config;
        let refused = [
            (c.privileged.is_some(), "privileged starts"),
            (c.tree.is_some(), "tree rollouts"),
            (c.progrpo.is_some(), "ProGRPO"),
            (c.intrinsic.is_some(), "an intrinsic stream"),
            (c.obs_norm, "obs_norm"),
            (c.rollout_steps > 0, "fixed-length rollouts (rollout_steps)"),
        ];
        match refused.iter().find(|(on, _)| *on) {
            Some((_, what)) => Err(Error::Config(format!(
                "{what} cannot be split between rollout workers and a learner; train it with \
                 `iterate`"
            ))),
            None => Ok(()),
        }
    }

    /// The policy's parameters as bytes (safetensors, tagged with the head's module), for
    /// [`Trainer::load_policy_weights`] on a worker.
    pub fn policy_weights(&self) -> Result<Vec<u8>> {
        let config = serde_json::to_string(&self.config.policy)
            .map_err(|e| Error::Config(format!("policy settings: {e}")))?;
        Ok(self.policy.params().to_bytes(self.policy.module(), &config)?)
    }

    /// Take the policy parameters [`Trainer::policy_weights`] gave (the same head and sizes).
    pub fn load_policy_weights(&mut self, bytes: &[u8]) -> Result<()> {
        self.policy.params().load_bytes(bytes, self.policy.module(), "policy weights")?;
        Ok(())
    }

    /// A worker's part of `iteration`: groups `first_group .. first_group + groups` of the
    /// `groups_per_step` that `iterate` would roll out from fresh seeds, each `group_size`
    /// episodes, with the current policy and actions sampled from a generator of the run's
    /// seed, the iteration and `first_group`.
    pub fn collect(
        &mut self,
        iteration: usize,
        first_group: usize,
        groups: usize,
    ) -> Result<Batch> {
        self.check_splittable()?;
        let end = first_group.checked_add(groups).filter(|&e| e <= self.config.groups_per_step);
        if groups == 0 || end.is_none() {
            return Err(Error::Config(format!(
                "groups {first_group}..{first_group}+{groups}: the iteration has {} groups",
                self.config.groups_per_step
            )));
        }
        let base = (self.config.seed << 32) + (iteration as u64) * 4096;
        let starts: Vec<Start> =
            (first_group..first_group + groups).map(|k| Start::Seed(base + k as u64)).collect();
        let seed = self.config.seed ^ 0x636f_6c6c ^ ((iteration as u64) << 20) ^ first_group as u64;
        let kept = std::mem::replace(&mut self.rng, Rng::seed_from_u64(seed));
        let eps = self.rollouts(&starts, self.config.group_size, false);
        self.rng = kept;
        Ok(Batch { episodes: eps? })
    }

    /// The learner's part of an iteration: advantages over the batches' groups (in the order
    /// given), dynamic sampling's filter, the update; returns the iteration's metrics as
    /// [`Trainer::iterate`] names them. The batches' steps count as the run's.
    pub fn learn(&mut self, batches: Vec<Batch>) -> Result<BTreeMap<String, f64>> {
        self.check_splittable()?;
        let g = self.config.group_size;
        let steps: u64 = batches.iter().map(Batch::env_steps).sum();
        // The episodes are moved, not copied: observations are most of a batch.
        let eps: Vec<Episode> = batches.into_iter().flat_map(|b| b.episodes).collect();
        if eps.is_empty() || eps.len() % g != 0 {
            return Err(Error::Config(format!(
                "batches of {} episodes: expected whole groups of {g}",
                eps.len()
            )));
        }
        let returns: Vec<f32> = eps.iter().map(|e| e.ret + e.shaping).collect();
        let adv = group_advantages(&returns, g, self.config.advantage)?;
        let informative = informative_groups(&returns, g)?;
        let mut tally = Tally::default();
        tally.add(&eps);
        let filter = self.config.dynamic_sampling && self.learner.group_relative();
        let sampled = eps.len() / g;
        let (mut kept, mut advantages) = (Vec::with_capacity(eps.len()), Vec::new());
        for (i, e) in eps.into_iter().enumerate() {
            if filter && !informative[i / g] {
                continue;
            }
            kept.push(e);
            advantages.push(adv[i]);
        }
        self.env_steps += steps;
        let mut m = BTreeMap::new();
        tally.write(&mut m, false, kept.len() / g, sampled);
        self.update_on(kept, &advantages, m)
    }
}

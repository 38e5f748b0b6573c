//! PPO's fixed-length rollouts (`rollout_steps` > 0), as CleanRL's PPO runs: the run keeps
//! `groups_per_step × group_size` envs (in `shards` vector envs, as whole-episode rollouts
//! split them), each iteration steps every env `rollout_steps` times, and an env whose
//! episode ends resets to its next episode within the slice.
//!
//! The update learns from segments — the part of an episode inside one slice — each an
//! [`Episode`] whose `terminated` says whether the episode truly ended there: a segment cut by
//! the slice's end, or by the time limit, bootstraps from the value of its `last_obs`. The
//! episode metrics come from whole episodes, their returns and lengths summed across the
//! slices they spanned, counted in the iteration they ended in.
//!
//! Between iterations the envs sit mid-episode. A checkpoint keeps each env's snapshot (taken
//! at the end of every iteration) and its episode's running sums (`rollouts.bin`), so a
//! resumed run steps on from the same states.

use std::ops::Range;

use spelunk_core::{ByteReader, ByteWriter, Snapshot, VecEnv};

use super::rollout::{Generators, Lockstep};
use super::{begin, shards, Arc, Episode, Error, Path, Result, Start, Trainer};

/// The checkpoint file of the envs' states.
const FILE: &str = "rollouts.bin";
/// Its format's tag.
const FORMAT: &str = "spelunk-grpo/rollouts/1";

/// The episode an env is in: its seed and number, and its sums so far.
#[derive(Clone, Copy, Debug, Default)]
struct Running {
    seed: u64,
    /// How many episodes this env began before this one.
    episode: u64,
    ret: f32,
    steps: u64,
    lives: Option<u32>,
}

/// The run's persistent envs.
pub(super) struct Slices {
    venvs: Vec<VecEnv>,
    ranges: Vec<Range<usize>>,
    running: Vec<Running>,
    /// Each env's snapshot at the end of the last iteration (for checkpoints), or why there is
    /// none.
    snaps: std::result::Result<Vec<Snapshot>, String>,
}

/// One shard's part of an iteration.
struct SliceShard<'s> {
    venv: &'s mut VecEnv,
    running: &'s mut [Running],
    gen: Generators,
}

/// What a shard hands back: segments, the episodes that ended (their sums only).
struct SliceDone {
    segments: Vec<Episode>,
    ended: Vec<Episode>,
    gen: Generators,
}

/// The seed of env `i`'s `k`-th episode among `n` envs.
fn seed_of(run_seed: u64, n: usize, i: usize, k: u64) -> u64 {
    (run_seed << 32).wrapping_add(k.wrapping_mul(n as u64)).wrapping_add(i as u64)
}

impl Trainer<'_> {
    /// The persistent envs, built (each at its first episode) on first use.
    fn slices(&mut self) -> Result<Slices> {
        if let Some(s) = self.slices.take() {
            return Ok(s);
        }
        let n = self.config.groups_per_step * self.config.group_size;
        let ranges = shards::ranges(n, self.config.shards);
        let mut venvs = self.shard_venvs(&ranges)?;
        let mut running = Vec::with_capacity(n);
        for (venv, r) in venvs.iter_mut().zip(&ranges) {
            for j in 0..r.len() {
                let seed = seed_of(self.config.seed, n, r.start + j, 0);
                let info = venv.begin_env(j, |env, obs| begin(env, &Start::Seed(seed), obs))?;
                running.push(Running { seed, episode: 0, ret: 0.0, steps: 0, lives: info.lives });
            }
        }
        Ok(Slices { venvs, ranges, running, snaps: Err("no iteration has run".into()) })
    }

    /// One iteration's slice: every env steps `rollout_steps` times. Returns the segments to
    /// learn from and the episodes that ended (for the metrics).
    pub(super) fn slice_rollouts(&mut self) -> Result<(Vec<Episode>, Vec<Episode>)> {
        let mut sl = self.slices()?;
        let several = sl.ranges.len() > 1;
        let (steps, n, run_seed) = (self.config.rollout_steps, sl.running.len(), self.config.seed);
        let mut parts = Vec::with_capacity(sl.venvs.len());
        let mut rest: &mut [Running] = &mut sl.running;
        for (venv, r) in sl.venvs.iter_mut().zip(&sl.ranges) {
            let (mine, more) = rest.split_at_mut(r.len());
            rest = more;
            let gen = self.shard_generators(several);
            parts.push(SliceShard { venv, running: mine, gen });
        }
        let step = Lockstep {
            policy: self.policy.as_ref(),
            scale: self.scale,
            progress: None,
            gamma: self.config.gamma,
            greedy: false,
            learn_norm: !self.norm_frozen,
            starts: &[],
            per_seed: 1,
        };
        let offsets: Vec<usize> = sl.ranges.iter().map(|r| r.start).collect();
        // On an error the envs are dropped mid-step; a next iteration starts them afresh.
        let done = shards::run(self.workers(), parts, |k, part| {
            step.slice(part, steps, offsets[k], n, run_seed)
        })?;
        let (mut segments, mut ended) = (Vec::new(), Vec::new());
        for d in done {
            segments.extend(d.segments);
            ended.extend(d.ended);
            self.shard_finished(several, d.gen);
        }
        self.env_steps += (n * steps) as u64;
        let mut snaps = Vec::with_capacity(n);
        for venv in &mut sl.venvs {
            for j in 0..venv.num_envs() {
                snaps.push(venv.with_env(j, |env| env.snapshot())?);
            }
        }
        sl.snaps =
            snaps.into_iter().collect::<spelunk_core::Result<_>>().map_err(|e| e.to_string());
        self.slices = Some(sl);
        Ok((segments, ended))
    }

    /// The envs' states for a checkpoint (`None` before the first iteration).
    pub(super) fn slices_bytes(&self) -> Result<Option<Vec<u8>>> {
        let Some(sl) = &self.slices else { return Ok(None) };
        let snaps = sl.snaps.as_ref().map_err(|e| {
            Error::Config(format!(
                "rollout_steps: a checkpoint keeps each env mid-episode, and {} cannot \
                 snapshot: {e}",
                self.config.env
            ))
        })?;
        let mut w = ByteWriter::new();
        w.bytes(FORMAT.as_bytes());
        w.u64(sl.running.len() as u64);
        for (r, s) in sl.running.iter().zip(snaps) {
            w.u64(r.seed);
            w.u64(r.episode);
            w.f32(r.ret);
            w.u64(r.steps);
            w.bool(r.lives.is_some());
            w.u32(r.lives.unwrap_or(0));
            w.bytes(s.kind.as_bytes());
            w.bytes(&s.bytes);
        }
        Ok(Some(w.as_bytes().to_vec()))
    }

    /// Restore the envs from a checkpoint's `rollouts.bin` (a checkpoint from before the
    /// first iteration has none: the envs start fresh).
    pub(super) fn resume_slices(&mut self, dir: &Path) -> Result<()> {
        let path = dir.join(FILE);
        if !path.exists() {
            self.slices = None;
            return Ok(());
        }
        let bytes = spelunk_core::files::read_capped(&path, spelunk_core::files::MAX_BINARY_BYTES)
            .map_err(|e| Error::Config(e.to_string()))?;
        let bad = |m: String| Error::Config(format!("{}: {m}", path.display()));
        let mut r = ByteReader::new(&bytes);
        let read = || -> spelunk_core::Result<(Vec<Running>, Vec<Snapshot>)> {
            let tag = r.bytes()?;
            if tag != FORMAT.as_bytes() {
                return Err(spelunk_core::Error::Snapshot(format!(
                    "not a rollouts file (`{}`)",
                    String::from_utf8_lossy(tag)
                )));
            }
            let n = r.u64()?;
            let (mut running, mut snaps) = (Vec::new(), Vec::new());
            for _ in 0..n {
                let (seed, episode, ret, steps) = (r.u64()?, r.u64()?, r.f32()?, r.u64()?);
                let (has, lives) = (r.bool()?, r.u32()?);
                running.push(Running { seed, episode, ret, steps, lives: has.then_some(lives) });
                let kind = String::from_utf8_lossy(r.bytes()?).into_owned();
                snaps.push(Snapshot { kind: kind.into(), bytes: r.bytes()?.to_vec() });
            }
            r.finish()?;
            Ok((running, snaps))
        };
        let (running, snaps) = read().map_err(|e| bad(e.to_string()))?;
        let n = self.config.groups_per_step * self.config.group_size;
        if running.len() != n {
            return Err(bad(format!(
                "{} envs in the checkpoint, {n} (groups_per_step × group_size) in this run",
                running.len()
            )));
        }
        self.slices = None;
        let mut sl = self.slices()?;
        let mut i = 0;
        for venv in &mut sl.venvs {
            for j in 0..venv.num_envs() {
                let start = Start::Restore(running[i].seed, Arc::new(snaps[i].clone()), None);
                venv.begin_env(j, |env, obs| begin(env, &start, obs))
                    .map_err(|e| bad(format!("env {i}: {e}")))?;
                i += 1;
            }
        }
        sl.running = running;
        sl.snaps = Ok(snaps);
        self.slices = Some(sl);
        Ok(())
    }
}

impl Lockstep<'_> {
    /// One shard's slice: `steps` decisions for each of its envs (the first, `offset`-th of
    /// `n` in the run).
    fn slice(
        &self,
        part: SliceShard<'_>,
        steps: usize,
        offset: usize,
        n: usize,
        run_seed: u64,
    ) -> Result<SliceDone> {
        let SliceShard { venv, running, mut gen } = part;
        let m = venv.num_envs();
        let fresh_segment =
            |r: &Running| Episode { start: Start::Seed(r.seed), ..Episode::default() };
        let mut segs: Vec<Episode> = running.iter().map(fresh_segment).collect();
        let (mut segments, mut ended) = (Vec::new(), Vec::new());
        let idx: Vec<usize> = (0..m).collect();
        let mut batch = Vec::with_capacity(m * self.policy.obs_dim());
        let mut actions = self.action_buffer(m);
        for _ in 0..steps {
            self.decide(venv, &idx, &mut gen, &mut batch, &mut segs, &mut actions)?;
            venv.step(&actions)?;
            for i in 0..m {
                let (reward, info) = (venv.rewards()[i], venv.infos()[i]);
                let (terminated, truncated) = (venv.terminated()[i], venv.truncated()[i]);
                let seg = &mut segs[i];
                seg.rewards.push(reward);
                seg.ret += reward;
                seg.steps += 1;
                seg.terminated = terminated;
                let run = &mut running[i];
                run.ret += reward;
                run.steps += 1;
                if !(terminated || truncated) {
                    continue;
                }
                self.last_row(venv, i, gen.norm.as_ref(), &mut seg.last_obs)?;
                seg.truncated = truncated && !terminated;
                ended.push(Episode {
                    start: seg.start.clone(),
                    ret: run.ret,
                    steps: usize::try_from(run.steps).unwrap_or(usize::MAX),
                    success: info.is_success.unwrap_or(terminated && reward > 0.0),
                    truncated: truncated && !terminated,
                    terminated,
                    lives: (run.lives, info.lives),
                    end_room: info.room,
                    end_items: info.inventory,
                    ..Episode::default()
                });
                segments.push(std::mem::take(seg));
                let (k, seed) =
                    (run.episode + 1, seed_of(run_seed, n, offset + i, run.episode + 1));
                let info = venv.begin_env(i, |env, obs| begin(env, &Start::Seed(seed), obs))?;
                *run = Running { seed, episode: k, ret: 0.0, steps: 0, lives: info.lives };
                segs[i] = fresh_segment(run);
            }
        }
        for (i, mut seg) in segs.into_iter().enumerate() {
            if seg.steps > 0 {
                self.last_row(venv, i, gen.norm.as_ref(), &mut seg.last_obs)?;
                segments.push(seg);
            }
        }
        Ok(SliceDone { segments, ended, gen })
    }
}

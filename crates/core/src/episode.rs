//! Episode files: what replays a recorded episode and proves the replay is that episode.
//!
//! An [`EpisodeFile`] holds the env id, its config overrides, the reset seed and the actions
//! (as a [`Demo`](crate::Demo) does), plus a checksum of every state — the observation, the
//! step's reward and flags and the typed `info` — from the reset on. Replaying re-simulates
//! the episode in a fresh env and compares each state's checksum with the recorded one, so a
//! replay that drifts (another env version, another config, a non-deterministic env) is
//! caught at the first step that differs, with that step named.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::demo::DemoAction;
use crate::events::{EnvStep, EpisodeFinished, EpisodeStarted, Observer, ObserverError};
use crate::{Digest, Env, Error, Info, ObsBuf, ObsRef, Result};

/// The version of the episode file format this build writes and reads.
pub const EPISODE_FORMAT: u32 = 1;

/// One recorded episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EpisodeFile {
    /// File format version ([`EPISODE_FORMAT`]).
    pub format: u32,
    /// Environment id.
    pub env: String,
    /// Env config overrides, if any.
    #[serde(default)]
    pub env_config: Option<serde_json::Value>,
    /// Reset seed.
    pub seed: u64,
    /// The actions from reset.
    pub actions: Vec<DemoAction>,
    /// One checksum per state: after reset, then after each action ([`state_checksum`]).
    pub checksums: Vec<u64>,
    /// The episode's undiscounted return.
    pub episodic_return: f64,
}

/// The checksum of one state: the observation, the step's reward and flags (zero and false
/// after a reset), and every `info` field.
pub fn state_checksum(
    obs: ObsRef<'_>,
    reward: f64,
    terminated: bool,
    truncated: bool,
    info: &Info,
) -> u64 {
    let mut d = Digest::new();
    match obs {
        ObsRef::U8(b) => d.bytes(b),
        ObsRef::F32(v) => d.f32s(v),
    }
    d.u64(reward.to_bits());
    d.flag(terminated);
    d.flag(truncated);
    let opt = |d: &mut Digest, v: Option<u64>| {
        d.flag(v.is_some());
        d.u64(v.unwrap_or(0));
    };
    opt(&mut d, info.x.map(|v| v as u64));
    opt(&mut d, info.y.map(|v| v as u64));
    opt(&mut d, info.room.map(u64::from));
    opt(&mut d, info.level.map(u64::from));
    opt(&mut d, info.inventory);
    opt(&mut d, info.score.map(|v| u64::from(v.to_bits())));
    opt(&mut d, info.lives.map(u64::from));
    opt(&mut d, info.direction.map(u64::from));
    opt(&mut d, info.is_success.map(u64::from));
    d.value()
}

impl EpisodeFile {
    /// Read an episode file; the message names the file and what is wrong.
    pub fn load(path: &Path) -> Result<Self> {
        let what = path.display().to_string();
        let text = crate::files::read_text(path)?;
        let e: EpisodeFile = serde_json::from_str(&text).map_err(|e| Error::Parse {
            source_name: what.clone(),
            line: e.line(),
            column: e.column(),
            message: format!("not an episode file: {e}"),
        })?;
        if e.format != EPISODE_FORMAT {
            return Err(Error::Config {
                what,
                message: format!(
                    "episode file format {} (this build reads format {EPISODE_FORMAT})",
                    e.format
                ),
            });
        }
        if e.checksums.len() != e.actions.len() + 1 {
            return Err(Error::Config {
                what,
                message: format!(
                    "{} actions need {} checksums (one per state), the file has {}",
                    e.actions.len(),
                    e.actions.len() + 1,
                    e.checksums.len()
                ),
            });
        }
        Ok(e)
    }

    /// Write the file (whole, then renamed into place).
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::demo::write_json(self, "episode", path)
    }

    /// Re-simulate the episode in `env` (an env of the file's id and config), checking every
    /// state's checksum; `observer` is told the episode's start and each step once it is
    /// checked (as episode `episode`). Fails at the first state that differs, naming it.
    pub fn replay(
        &self,
        env: &mut dyn Env,
        episode: u64,
        observer: &mut dyn Observer,
    ) -> Result<EpisodeFinished> {
        let observer_error =
            |e: ObserverError| Error::Config { what: "observer".into(), message: e.to_string() };
        if env.id() != self.env {
            return Err(Error::Replay(format!(
                "the episode file records {}, not {}",
                self.env,
                env.id()
            )));
        }
        let mut obs = ObsBuf::for_space(env.observation_space());
        let info = env.reset(Some(self.seed), None, obs.as_mut())?;
        self.check(0, state_checksum(obs.view(), 0.0, false, false, &info))?;
        observer
            .episode_started(&EpisodeStarted {
                env: &*env,
                episode,
                seed: self.seed,
                iteration: None,
            })
            .map_err(observer_error)?;
        let (mut ret, mut success) = (0.0, false);
        for (k, a) in self.actions.iter().enumerate() {
            let s = env.step(a.as_action(), obs.as_mut())?;
            let reward = f64::from(s.reward);
            self.check(
                k + 1,
                state_checksum(obs.view(), reward, s.terminated, s.truncated, &s.info),
            )?;
            ret += reward;
            success |= s.info.is_success == Some(true);
            observer
                .env_step(&EnvStep {
                    env: &*env,
                    episode,
                    step: k as u64 + 1,
                    action: a.as_action(),
                    obs: obs.view(),
                    reward,
                    bonuses: &[],
                    terminated: s.terminated,
                    truncated: s.truncated,
                    info: s.info,
                })
                .map_err(observer_error)?;
        }
        Ok(EpisodeFinished {
            env_id: self.env.clone(),
            env_config: self.env_config.clone(),
            seed: self.seed,
            actions: self.actions.clone(),
            episodic_return: ret,
            success,
            length: self.actions.len() as u64,
        })
    }

    fn check(&self, step: usize, got: u64) -> Result<()> {
        let want = self.checksums[step];
        if got == want {
            return Ok(());
        }
        Err(Error::Replay(format!(
            "state {step} differs from the recording (checksum {got:016x}, recorded {want:016x}): \
             {} or its config is not the one recorded, or the file was edited",
            self.env
        )))
    }
}

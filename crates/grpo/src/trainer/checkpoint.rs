//! Checkpoints: the policy, value head, optimiser and bonus module as files written whole and
//! renamed, and `state.json` as one serde [`RunState`] naming its writer.

use super::{
    Curriculum, Deserialize, Error, Path, PathBuf, Result, Rng, RunningNorm, Serialize, Trainer,
    VALUE_MODULE,
};

impl Trainer<'_> {
    /// Write the policy and the run state into `dir` (each file written whole, then renamed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let io = |path: PathBuf| move |source| Error::Io { path, source };
        std::fs::create_dir_all(dir).map_err(io(dir.to_owned()))?;
        let cfg = serde_json::to_string(&self.config).map_err(|e| Error::Config(e.to_string()))?;
        let bytes = self.policy.params().to_bytes(self.policy.module(), &cfg)?;
        let state = RunState {
            writer: Some(RUN_STATE_WRITER.to_owned()),
            iteration: self.iteration as u64,
            env_steps: self.env_steps,
            rng: self.rng.state(),
            curriculum: self.curriculum(),
            obs_norm: self.obs_norm.clone(),
            obs_norm_fixed: self.norm_frozen,
        };
        let state = serde_json::to_vec(&state).map_err(|e| Error::Config(e.to_string()))?;
        let mut files = vec![("policy.safetensors", bytes), ("state.json", state)];
        if let Some(c) = self.learner.critic() {
            files.push(("value.safetensors", c.params.to_bytes(VALUE_MODULE, &cfg)?));
        }
        if let Some(r) = &self.reference {
            files.push(("reference.safetensors", r.params().to_bytes(r.module(), &cfg)?));
        }
        files.push(("optimizer.safetensors", self.adam.state_bytes()?));
        if let Some(b) = self.slices_bytes()? {
            files.push(("rollouts.bin", b));
        }
        if let Some(b) = self.shapers.iter().find_map(|s| s.bonus()) {
            let st = b.save()?;
            let mut w = spelunk_core::ByteWriter::new();
            w.bytes(st.module.as_bytes());
            w.u32(st.version);
            w.bytes(&st.bytes);
            files.push(("intrinsic.bin", w.as_bytes().to_vec()));
        }
        for (name, data) in files {
            let tmp = dir.join(format!(".{name}.tmp"));
            std::fs::write(&tmp, data).map_err(io(tmp.clone()))?;
            std::fs::rename(&tmp, dir.join(name)).map_err(io(dir.join(name)))?;
        }
        Ok(())
    }

    /// Continue a run saved by [`Trainer::save`]: policy, value head, Adam's moments, the
    /// generator, observation statistics and curriculum, so the run goes on exactly as if it
    /// had not stopped.
    pub fn resume(&mut self, dir: &Path) -> Result<()> {
        let path = dir.join("policy.safetensors");
        self.policy.params().load(&path, self.policy.module())?;
        if let Some(c) = self.learner.critic() {
            c.params.load(&dir.join("value.safetensors"), VALUE_MODULE)?;
        }
        if let Some(r) = &self.reference {
            // A checkpoint written without a KL term: its policy becomes the reference.
            let path = dir.join("reference.safetensors");
            if path.exists() {
                r.params().load(&path, r.module())?;
            } else {
                r.params().copy_from(self.policy.params())?;
            }
        }
        let opt = dir.join("optimizer.safetensors");
        let bytes = spelunk_core::files::read_capped(&opt, spelunk_core::files::MAX_BINARY_BYTES)
            .map_err(|e| Error::Config(e.to_string()))?;
        self.adam.load_state(&bytes, &opt.display().to_string())?;
        if let Some(b) = self.shapers.iter_mut().find_map(|s| s.bonus_mut()) {
            let path = dir.join("intrinsic.bin");
            let bad = |m: String| Error::Config(format!("{}: {m}", path.display()));
            let bytes =
                spelunk_core::files::read_capped(&path, spelunk_core::files::MAX_BINARY_BYTES)
                    .map_err(|e| Error::Config(e.to_string()))?;
            let mut r = spelunk_core::ByteReader::new(&bytes);
            let mut read = || -> spelunk_core::Result<spelunk_intrinsic::ModuleState> {
                let module = String::from_utf8_lossy(r.bytes()?).into_owned();
                let version = r.u32()?;
                let bytes = r.bytes()?.to_vec();
                Ok(spelunk_intrinsic::ModuleState { module, version, bytes })
            };
            let st = read().map_err(|e| bad(e.to_string()))?;
            b.load(&st).map_err(|e| bad(e.to_string()))?;
        }
        let state_path = dir.join("state.json");
        let text = spelunk_core::files::read_text(&state_path)
            .map_err(|e| Error::Config(e.to_string()))?;
        let v: RunState = serde_json::from_str(&text).map_err(|e| {
            Error::Config(format!("{}: not a run state: {e}", state_path.display()))
        })?;
        let bad =
            || Error::Config(format!("{}: missing or malformed fields", state_path.display()));
        if let Some(w) = v.writer.as_deref().filter(|w| *w != RUN_STATE_WRITER) {
            return Err(Error::Config(format!(
                "{}: written by `{w}`, not by `{RUN_STATE_WRITER}`",
                state_path.display()
            )));
        }
        if self.config.rollout_steps > 0 {
            self.resume_slices(dir)?;
        }
        self.iteration = usize::try_from(v.iteration).map_err(|_| bad())?;
        self.env_steps = v.env_steps;
        self.rng = Rng::from_state(v.rng);
        if self.obs_norm.is_some() {
            let n = v.obs_norm.ok_or_else(bad)?;
            if n.mean.len() != self.policy.obs_dim() || n.m2.len() != n.mean.len() {
                return Err(bad());
            }
            self.obs_norm = Some(n);
            self.norm_frozen = v.obs_norm_fixed;
        }
        if let Some(c) = v.curriculum {
            let own = self.curriculum();
            if own.is_some_and(|own| own.len != c.len) {
                return Err(Error::Config(format!(
                    "{}: the checkpoint's demo has {} steps, this run's {}",
                    state_path.display(),
                    c.len,
                    own.map_or(0, |o| o.len)
                )));
            }
            if let Some(p) = self.privileged.as_mut() {
                p.curriculum = c;
            }
        }
        Ok(())
    }
}

/// Who writes `state.json` (checkpoints from before this field was written have none).
pub(super) const RUN_STATE_WRITER: &str = "spelunk-grpo/trainer";

/// `state.json` of a checkpoint: where the run is, besides the networks and optimiser.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RunState {
    /// The crate and module that wrote it.
    #[serde(default)]
    writer: Option<String>,
    /// Iterations done.
    iteration: u64,
    /// Env steps taken.
    env_steps: u64,
    /// The run's generator.
    rng: [u64; 4],
    /// The privileged starts' curriculum, if any.
    #[serde(default)]
    curriculum: Option<Curriculum>,
    /// Observation statistics, if normalised.
    #[serde(default)]
    obs_norm: Option<RunningNorm>,
    /// Whether they are fixed (set by behaviour cloning) rather than running.
    #[serde(default)]
    obs_norm_fixed: bool,
}

impl spelunk_core::events::Checkpoint for Trainer<'_> {
    fn save_to(&self, dir: &Path) -> spelunk_core::events::ObserverResult {
        Ok(self.save(dir)?)
    }
}

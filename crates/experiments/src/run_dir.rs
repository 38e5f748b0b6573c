//! The run folder contract every resumable job follows (training, Go-Explore): work is
//! committed, never half-written.
//!
//! A folder holds `manifest.json`, `metrics.jsonl` and `checkpoint/<iteration>/`. A commit
//! writes the run's files into a fresh `checkpoint/<iteration>/`, flushes them and the metrics
//! to disk, and only then replaces `manifest.json` (written beside it, flushed, renamed): the
//! manifest names the run (`run_id`), its kind, the settings that define it and their hash,
//! the committed iteration, the checkpoint folder with every file's size and checksum, and how
//! many bytes of `metrics.jsonl` belong to it. Older checkpoint folders are removed after the
//! rename. A kill at any instruction therefore leaves the previous commit or the new one whole.
//!
//! Resuming checks every file against the manifest (a file from another run, cut short or
//! changed is refused by name), refuses settings that would make it another run (naming each
//! field), and cuts `metrics.jsonl` back to the committed iteration so no line is duplicated.
//! A folder that holds a run is never written over without `--resume` or `--force`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use spelunk_core::events::{Checkpoint, IterationMetrics, Observer, ObserverResult, RunFinished};
use spelunk_core::Digest;

use crate::error::{bail, Error, Result};

/// The manifest's file name.
pub const MANIFEST: &str = "manifest.json";
/// The metrics file's name.
pub const METRICS: &str = "metrics.jsonl";
/// The folder of checkpoints.
pub const CHECKPOINTS: &str = "checkpoint";
/// The manifest format this build writes and reads.
pub const MANIFEST_FORMAT: u32 = 1;
/// Who writes manifests.
const WRITER: &str = "spelunk-experiments/run-dir";

/// A file's size and FNV-1a checksum.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSum {
    /// Bytes.
    pub bytes: u64,
    /// FNV-1a 64 of the contents, 16 hex digits.
    pub fnv1a: String,
}

impl FileSum {
    /// The size and checksum of `data`.
    pub fn of(data: &[u8]) -> Self {
        let mut d = Digest::new();
        d.bytes(data);
        Self { bytes: data.len() as u64, fnv1a: d.hex() }
    }
}

/// `manifest.json`: what a run folder's last commit holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    /// The crate and module that wrote it.
    pub writer: String,
    /// The job: `train`, `go-explore`.
    pub kind: String,
    /// Made when the run started; every commit of the run carries it.
    pub run_id: String,
    /// The settings that define the run (what may change on resume — the budget, thread
    /// counts, evaluation sizes — left out).
    pub identity: Value,
    /// FNV-1a of `identity`'s JSON.
    pub config_hash: String,
    /// Iterations done at the commit.
    pub iteration: u64,
    /// Env steps (frames) at the commit.
    pub env_steps: u64,
    /// The checkpoint folder, relative to the run folder.
    pub checkpoint: String,
    /// Every file of the checkpoint folder.
    pub files: BTreeMap<String, FileSum>,
    /// Bytes of `metrics.jsonl` written up to the commit.
    pub metrics_bytes: u64,
}

/// Where a commit can be cut short, for tests of the contract (a kill at each step).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CommitStep {
    /// The new checkpoint folder made, still empty.
    FolderMade,
    /// The run's files written into it.
    FilesWritten,
    /// Those files and the metrics flushed to disk.
    Flushed,
    /// The new manifest written beside the old one.
    ManifestWritten,
    /// The new manifest renamed over the old one.
    ManifestRenamed,
}

impl CommitStep {
    /// Every step, in order.
    pub const ALL: [CommitStep; 5] = [
        CommitStep::FolderMade,
        CommitStep::FilesWritten,
        CommitStep::Flushed,
        CommitStep::ManifestWritten,
        CommitStep::ManifestRenamed,
    ];
}

/// A run folder being written.
#[derive(Debug)]
pub struct RunDir {
    dir: PathBuf,
    kind: String,
    run_id: String,
    identity: Value,
    last: Option<Manifest>,
    kill_after: Option<(u64, CommitStep)>,
}

/// The hash of a run's identity.
fn hash_identity(identity: &Value) -> String {
    let mut d = Digest::new();
    d.bytes(identity.to_string().as_bytes());
    d.hex()
}

/// A run id: the folder and process hashed with the standard library's per-process random
/// keys (a label; nothing the run computes depends on it).
fn new_run_id(dir: &Path) -> String {
    use std::hash::{BuildHasher as _, Hash as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    dir.hash(&mut h);
    std::process::id().hash(&mut h);
    format!("{:016x}", h.finish())
}

/// The fields where `a` and `b` differ, as `path: a → b` lines (at most 8).
pub fn differences(a: &Value, b: &Value) -> Vec<String> {
    fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                for k in keys {
                    let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                    walk(
                        &p,
                        x.get(k).unwrap_or(&Value::Null),
                        y.get(k).unwrap_or(&Value::Null),
                        out,
                    );
                }
            }
            _ if a != b => out.push(format!("{path}: {a} (the run) → {b} (now)")),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", a, b, &mut out);
    out.truncate(8);
    out
}

fn sync_file(path: &Path) -> Result<()> {
    std::fs::File::open(path).and_then(|f| f.sync_all()).map_err(Error::io(path))
}

fn sync_dir(path: &Path) {
    // Flushing a folder's entries is not possible on every platform; the rename is then as
    // durable as the platform makes it.
    let _ = std::fs::File::open(path).and_then(|f| f.sync_all());
}

/// Read the manifest of `dir`, if it has one.
pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST);
    if !path.exists() {
        return Ok(None);
    }
    let text = spelunk_core::files::read_text(&path)?;
    let m: Manifest = serde_json::from_str(&text).map_err(|e| {
        Error::Invalid(format!(
            "{}:{}:{}: not a run manifest: {e}",
            path.display(),
            e.line(),
            e.column()
        ))
    })?;
    if m.format != MANIFEST_FORMAT || m.writer != WRITER {
        bail!(
            "{}: manifest format {} by `{}` (this build reads format {MANIFEST_FORMAT} by `{WRITER}`)",
            path.display(),
            m.format,
            m.writer
        );
    }
    Ok(Some(m))
}

/// What a committed run folder holds, checked: the manifest, and the checkpoint folder whose
/// every file matches it.
#[derive(Clone, Debug)]
pub struct Committed {
    /// The manifest.
    pub manifest: Manifest,
    /// The checkpoint folder.
    pub checkpoint: PathBuf,
}

/// Check `dir`'s last commit for a run of `kind` with `identity`: the manifest, the settings
/// (each differing field named), and every file of its checkpoint (size and checksum).
/// `Ok(None)` for a folder written before manifests (a `legacy` file at its old place).
pub fn check(dir: &Path, kind: &str, identity: &Value, legacy: &str) -> Result<Option<Committed>> {
    let Some(m) = read_manifest(dir)? else {
        if dir.join(legacy).exists() {
            return Ok(None);
        }
        bail!(
            "{}: no committed checkpoint (no {MANIFEST}): the run stopped before its first \
             save, or this is not a run folder; start it again (--force replaces it)",
            dir.display()
        );
    };
    let here = dir.join(MANIFEST);
    if m.kind != kind {
        bail!("{}: a `{}` run, not a `{kind}` run", here.display(), m.kind);
    }
    if hash_identity(&m.identity) != m.config_hash {
        bail!("{}: its settings do not match their hash (the manifest was edited)", here.display());
    }
    let diff = differences(&m.identity, identity);
    if !diff.is_empty() {
        bail!(
            "{}: these settings differ from those in its {MANIFEST}, so it would be another \
             run (only the budget, thread counts and evaluation sizes may change on \
             resume):\n  {}",
            dir.display(),
            diff.join("\n  ")
        );
    }
    let rel = Path::new(&m.checkpoint);
    if rel.is_absolute() || rel.components().any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        bail!("{}: checkpoint `{}` is not a folder inside the run", here.display(), m.checkpoint);
    }
    let ckpt = dir.join(rel);
    for (name, sum) in &m.files {
        if Path::new(name).components().count() != 1 {
            bail!("{}: file `{name}` is not inside its checkpoint folder", here.display());
        }
        let path = ckpt.join(name);
        let data = spelunk_core::files::read_capped(&path, spelunk_core::files::MAX_BINARY_BYTES)?;
        let got = FileSum::of(&data);
        if got != *sum {
            bail!(
                "{}: {} bytes with checksum {}, the manifest of run {} says {} bytes with {}: \
                 the file is cut short, changed, or from another run",
                path.display(),
                got.bytes,
                got.fnv1a,
                m.run_id,
                sum.bytes,
                sum.fnv1a
            );
        }
    }
    Ok(Some(Committed { manifest: m, checkpoint: ckpt }))
}

impl RunDir {
    /// A new run of `kind` in `dir`. A folder that already holds a run (a manifest, metrics
    /// or checkpoints, or any of `also`) is refused unless `force`, which removes them first.
    pub fn create(
        dir: &Path,
        kind: &str,
        identity: Value,
        force: bool,
        also: &[&str],
    ) -> Result<Self> {
        let taken: Vec<&str> = [MANIFEST, METRICS, CHECKPOINTS]
            .iter()
            .chain(also)
            .copied()
            .filter(|f| dir.join(f).exists())
            .collect();
        if !taken.is_empty() {
            if !force {
                bail!(
                    "{} already holds a run ({}): continue it with --resume, replace it with \
                     --force, or use another folder (nothing was changed)",
                    dir.display(),
                    taken.join(", ")
                );
            }
            // The manifest first: a folder without one is not a run, whatever else remains.
            for f in taken {
                let p = dir.join(f);
                let r =
                    if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                r.map_err(Error::io(&p))?;
            }
        }
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        Ok(Self::new(dir, kind, identity))
    }

    /// A folder with a new run id and no commit yet.
    fn new(dir: &Path, kind: &str, identity: Value) -> Self {
        Self {
            dir: dir.to_owned(),
            kind: kind.to_owned(),
            run_id: new_run_id(dir),
            identity,
            last: None,
            kill_after: None,
        }
    }

    /// Continue the run in `dir`: its last commit checked ([`check`]), and `metrics.jsonl`
    /// cut back to it. Returns the folder and the checkpoint to load (`None`: a folder from
    /// before manifests, loaded from its `legacy` place unchecked; the first commit adds one).
    pub fn resume(
        dir: &Path,
        kind: &str,
        identity: Value,
        legacy: &str,
    ) -> Result<(Self, Option<PathBuf>)> {
        let committed = check(dir, kind, &identity, legacy)?;
        let mut rd = Self::new(dir, kind, identity);
        let Some(c) = committed else { return Ok((rd, None)) };
        let metrics = dir.join(METRICS);
        let len = std::fs::metadata(&metrics).map_or(0, |m| m.len());
        if len < c.manifest.metrics_bytes {
            bail!(
                "{}: {len} bytes, fewer than the {} the last commit wrote (the file was cut \
                 or replaced)",
                metrics.display(),
                c.manifest.metrics_bytes
            );
        }
        if len > c.manifest.metrics_bytes {
            // Lines of iterations after the commit: they are run again.
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&metrics)
                .map_err(Error::io(&metrics))?;
            f.set_len(c.manifest.metrics_bytes).map_err(Error::io(&metrics))?;
            f.sync_all().map_err(Error::io(&metrics))?;
        }
        rd.run_id.clone_from(&c.manifest.run_id);
        rd.last = Some(c.manifest);
        Ok((rd, Some(c.checkpoint)))
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The last commit's manifest (this session's, or the one resumed from).
    pub fn last_commit(&self) -> Option<&Manifest> {
        self.last.as_ref()
    }

    /// Stop the commit of `iteration` after `step`, as a kill there would (for tests of the
    /// contract): the commit returns an error and leaves the folder as the kill would.
    pub fn kill_after(&mut self, iteration: u64, step: CommitStep) {
        self.kill_after = Some((iteration, step));
    }

    fn killed(&self, iteration: u64, step: CommitStep) -> Result<()> {
        if self.kill_after == Some((iteration, step)) {
            bail!("killed after {step:?} of the commit of iteration {iteration}");
        }
        Ok(())
    }

    /// Commit `run` at `iteration` (`env_steps` done). A second commit of the same
    /// iteration and steps does nothing.
    pub fn commit(&mut self, run: &dyn Checkpoint, iteration: u64, env_steps: u64) -> Result<()> {
        if self.last.as_ref().is_some_and(|m| {
            (m.iteration, m.env_steps, &m.run_id) == (iteration, env_steps, &self.run_id)
        }) {
            return Ok(());
        }
        let rel = format!("{CHECKPOINTS}/{iteration:010}");
        let ckpt = self.dir.join(&rel);
        if ckpt.exists() {
            // Left by a commit that never finished (the committed one is never rewritten:
            // its iteration is behind this one).
            std::fs::remove_dir_all(&ckpt).map_err(Error::io(&ckpt))?;
        }
        std::fs::create_dir_all(&ckpt).map_err(Error::io(&ckpt))?;
        self.killed(iteration, CommitStep::FolderMade)?;
        run.save_to(&ckpt)?;
        self.killed(iteration, CommitStep::FilesWritten)?;
        let mut files = BTreeMap::new();
        let mut names: Vec<PathBuf> = std::fs::read_dir(&ckpt)
            .map_err(Error::io(&ckpt))?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()
            .map_err(Error::io(&ckpt))?;
        names.sort();
        for path in names {
            let name =
                path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            if !path.is_file() || name.starts_with('.') {
                continue;
            }
            sync_file(&path)?;
            let data = std::fs::read(&path).map_err(Error::io(&path))?;
            files.insert(name, FileSum::of(&data));
        }
        sync_dir(&ckpt);
        let metrics = self.dir.join(METRICS);
        let metrics_bytes = if metrics.exists() {
            sync_file(&metrics)?;
            std::fs::metadata(&metrics).map_err(Error::io(&metrics))?.len()
        } else {
            0
        };
        self.killed(iteration, CommitStep::Flushed)?;
        let m = Manifest {
            format: MANIFEST_FORMAT,
            writer: WRITER.to_owned(),
            kind: self.kind.clone(),
            run_id: self.run_id.clone(),
            config_hash: hash_identity(&self.identity),
            identity: self.identity.clone(),
            iteration,
            env_steps,
            checkpoint: rel.clone(),
            files,
            metrics_bytes,
        };
        let tmp = self.dir.join(format!(".{MANIFEST}.tmp"));
        let text = serde_json::to_string_pretty(&m)?;
        {
            let mut f = std::fs::File::create(&tmp).map_err(Error::io(&tmp))?;
            f.write_all(text.as_bytes()).and_then(|()| f.sync_all()).map_err(Error::io(&tmp))?;
        }
        self.killed(iteration, CommitStep::ManifestWritten)?;
        let path = self.dir.join(MANIFEST);
        std::fs::rename(&tmp, &path).map_err(Error::io(&path))?;
        sync_dir(&self.dir);
        self.last = Some(m);
        self.killed(iteration, CommitStep::ManifestRenamed)?;
        // Older checkpoints (and debris of unfinished commits) go once the new one counts.
        let all = self.dir.join(CHECKPOINTS);
        for e in std::fs::read_dir(&all).map_err(Error::io(&all))?.flatten() {
            if e.file_name().to_string_lossy() != format!("{iteration:010}") {
                let p = e.path();
                let _ =
                    if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
            }
        }
        Ok(())
    }
}

/// Set by Ctrl-C (the CLI's handler): long runs commit and stop after the iteration in
/// progress.
static INTERRUPT: AtomicBool = AtomicBool::new(false);

/// Ask running jobs to commit and stop after the current iteration.
pub fn interrupt() {
    INTERRUPT.store(true, Ordering::SeqCst);
}

/// Whether [`interrupt`] was called (and not cleared).
pub fn interrupted() -> bool {
    INTERRUPT.load(Ordering::SeqCst)
}

/// Forget an interrupt (for a library running several jobs in turn).
pub fn clear_interrupt() {
    INTERRUPT.store(false, Ordering::SeqCst);
}

/// When [`Commits`] commits.
#[derive(Clone, Copy, Debug)]
pub enum CommitSchedule {
    /// Every this many iterations.
    Iterations(u64),
    /// When this long has passed since the last commit (large archives take long to write).
    Interval(Duration),
}

/// The observer that commits a run into its [`RunDir`]: on its schedule, at the end, and at
/// once when interrupted (then the run stops with [`Error::Interrupted`]). Put it after the
/// metrics writer, so a commit covers the iteration's line.
#[derive(Debug)]
pub struct Commits {
    dir: RunDir,
    schedule: CommitSchedule,
    last: Instant,
}

impl Commits {
    /// Commit into `dir` on `schedule`.
    pub fn new(dir: RunDir, schedule: CommitSchedule) -> Self {
        Self { dir, schedule, last: Instant::now() }
    }
}

impl Observer for Commits {
    fn iteration(&mut self, m: &IterationMetrics, run: &dyn Checkpoint) -> ObserverResult {
        let due = match self.schedule {
            CommitSchedule::Iterations(n) => m.iteration % n.max(1) == 0,
            CommitSchedule::Interval(d) => self.last.elapsed() >= d,
        };
        if due || interrupted() {
            self.dir.commit(run, m.iteration, m.env_steps)?;
            self.last = Instant::now();
        }
        if interrupted() {
            return Err(Error::Interrupted {
                dir: self.dir.path().to_owned(),
                iteration: m.iteration,
            }
            .into());
        }
        Ok(())
    }
    fn run_finished(&mut self, f: &RunFinished, run: &dyn Checkpoint) -> ObserverResult {
        Ok(self.dir.commit(run, f.iterations, f.env_steps)?)
    }
}

//! `spelunk export`: a training run's policy as an ONNX model (`spelunk_models::onnx`), with a
//! check file of sample observations and our own logits for them, so any ONNX runtime can be
//! held to the same numbers (`scripts/onnx/check_export.py` holds onnxruntime to them).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use spelunk_core::{ObsBuf, ObsRef};

use crate::error::{bail, write_file, Result};

/// How far an exported model's logits may be from ours.
pub const TOLERANCE: f32 = 1e-5;

/// Sample observations and the logits our policy gives them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckFile {
    /// Raw observations, one row each (as the env writes them, as f32).
    pub obs: Vec<Vec<f32>>,
    /// Our logits for each, flattened `[dims · vocab]`.
    pub logits: Vec<Vec<f32>>,
    /// `[dims, vocab]`.
    pub shape: [usize; 2],
}

/// What an export wrote.
#[derive(Clone, Debug, PartialEq)]
pub struct Exported {
    /// The model.
    pub model: PathBuf,
    /// Its size, bytes.
    pub bytes: usize,
    /// The check file (`MODEL.check.json`).
    pub check: PathBuf,
    /// The largest difference between the model's logits (run by ort on tract) and ours, when
    /// the `onnx` feature is on.
    pub max_abs_diff: Option<f32>,
}

/// A raw observation as the f32 row an exported model takes.
#[must_use]
pub fn raw_row(obs: ObsRef<'_>) -> Vec<f32> {
    if let Some(x) = obs.as_f32() {
        x.to_vec()
    } else if let Some(x) = obs.as_u8() {
        x.iter().map(|&v| f32::from(v)).collect()
    } else {
        Vec::new()
    }
}

/// Export the policy of run folder `run` to `out`, with `samples` reset observations (seeds
/// 0, 1, …) and our logits in `out.check.json`.
///
/// # Errors
/// The run cannot be loaded, its head cannot be exported, or a file cannot be written.
pub fn export_onnx(run: &Path, out: &Path, samples: usize) -> Result<Exported> {
    let (cfg, trainer) = crate::train::load_run(run)?;
    let meta = vec![
        ("spelunk.env".to_owned(), cfg.env.clone()),
        ("spelunk.env_config".to_owned(), serde_json::to_string(&cfg.env_config)?),
        ("spelunk.iterations".to_owned(), trainer.iteration.to_string()),
    ];
    let bytes = trainer.export_onnx(&meta)?;
    write_file(out, &bytes)?;
    let make = crate::registry().factory(&cfg.env, cfg.env_config.clone());
    let mut env = make(None)?;
    let mut buf = ObsBuf::for_space(env.observation_space());
    let mut check = CheckFile { obs: Vec::new(), logits: Vec::new(), shape: [0, 0] };
    for seed in 0..samples as u64 {
        env.reset(Some(seed), None, buf.as_mut())?;
        let row = raw_row(buf.view());
        if row.is_empty() {
            bail!("{} has observations that are not numbers; nothing to export", cfg.env);
        }
        let logits = trainer.logits(buf.view())?;
        let dims = logits.dims().to_vec();
        check.shape = [dims[1], dims[2]];
        let values = logits.flatten_all().and_then(|t| t.to_vec1::<f32>());
        check.logits.push(values.map_err(spelunk_models::Error::from)?);
        check.obs.push(row);
    }
    let check_path = PathBuf::from(format!("{}.check.json", out.display()));
    write_file(&check_path, serde_json::to_string(&check)? + "\n")?;
    let max_abs_diff = runtime_diff(&bytes, &check)?;
    if let Some(d) = max_abs_diff.filter(|&d| d.is_nan() || d > TOLERANCE) {
        bail!(
            "{}: ort's logits differ from ours by {d:e} (more than {TOLERANCE:e})",
            out.display()
        );
    }
    Ok(Exported { model: out.to_owned(), bytes: bytes.len(), check: check_path, max_abs_diff })
}

#[cfg(feature = "onnx")]
fn runtime_diff(bytes: &[u8], check: &CheckFile) -> Result<Option<f32>> {
    let mut p = spelunk_models::onnx::OnnxPolicy::from_bytes(bytes)?;
    let mut worst = 0f32;
    for (obs, ours) in check.obs.iter().zip(&check.logits) {
        let (theirs, _) = p.run(obs, 1)?;
        for (a, b) in theirs.iter().zip(ours) {
            worst = worst.max((a - b).abs());
        }
    }
    Ok(Some(worst))
}

#[cfg(not(feature = "onnx"))]
#[expect(clippy::unnecessary_wraps, reason = "the signature of the `onnx` build's runtime_diff")]
fn runtime_diff(_: &[u8], _: &CheckFile) -> Result<Option<f32>> {
    Ok(None)
}

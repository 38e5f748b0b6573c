//! `spelunk export`: a training run's policy as an ONNX model over
//! `spelunk_experiments::export`.
//!
//! ```sh
//! spelunk export --run runs/reach --onnx reach.onnx     # also reach.onnx.check.json
//! spelunk bridge run --port sim --policy reach.onnx
//! ```

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

/// `spelunk export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The training run folder.
    #[arg(long)]
    run: PathBuf,
    /// Where to write the ONNX model.
    #[arg(long)]
    onnx: PathBuf,
    /// Reset observations (seeds 0, 1, …) written with our logits to `MODEL.check.json`.
    #[arg(long, default_value_t = 8)]
    samples: usize,
}

/// Run `spelunk export`.
pub fn run(a: &ExportArgs) -> Result<()> {
    let e = spelunk_experiments::export::export_onnx(&a.run, &a.onnx, a.samples)?;
    outln!("wrote {} ({} bytes) and {}", e.model.display(), e.bytes, e.check.display());
    if let Some(d) = e.max_abs_diff {
        outln!(
            "ort (tract backend) against our logits on {} observations: max |Δ| = {d:e}",
            a.samples
        );
    }
    Ok(())
}

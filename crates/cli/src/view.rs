//! `spelunk view …`: hands its arguments to the Bevy viewer, `spelunk-viewer`, a binary of its
//! own (a cold Bevy build takes many minutes, so the `spelunk` binary never waits for it).

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::{bail, Context as _, Result};
use clap::Args;

/// Arguments of `spelunk view`: everything after `view` goes to `spelunk-viewer`.
#[derive(Args, Debug)]
pub struct ViewArgs {
    /// `replay FILE…`, `watch ENV --policy …`, `teleop ENV`, with `--screenshot OUT.png` to
    /// render offscreen; `spelunk view --help` shows the viewer's own help.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    args: Vec<OsString>,
}

/// The viewer beside this binary, else on `PATH`.
fn viewer() -> Option<PathBuf> {
    let name = format!("spelunk-viewer{}", std::env::consts::EXE_SUFFIX);
    let beside = std::env::current_exe().ok()?.parent()?.join(&name);
    if beside.is_file() {
        return Some(beside);
    }
    std::env::var_os("PATH")?
        .to_str()
        .map(|p| std::env::split_paths(p).map(|d| d.join(&name)).find(|p| p.is_file()))?
}

/// Run the viewer with the arguments; its exit status is ours.
pub fn run(args: &ViewArgs) -> Result<()> {
    let Some(bin) = viewer() else {
        bail!(
            "spelunk-viewer is not built: `cargo build --release --manifest-path \
             crates/viewer/Cargo.toml` builds it into the same target folder (many minutes the \
             first time), or put it on PATH"
        );
    };
    let status = std::process::Command::new(&bin)
        .args(&args.args)
        .status()
        .with_context(|| format!("running {}", bin.display()))?;
    if !status.success() {
        std::process::exit(status.code().unwrap_or(1));
    }
    Ok(())
}

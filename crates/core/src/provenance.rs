//! Where a published figure came from: the command that wrote it, the commit it was built
//! from and the machine it ran on. Every report under `docs/results/` carries one.

use serde::{Deserialize, Serialize};

/// The command, the commit and the machine behind a report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The command line, as typed (program name first).
    pub command: String,
    /// The commit of the working tree the program ran in (`git rev-parse HEAD`), with
    /// `-dirty` when it had uncommitted changes; the build's `SPELUNK_COMMIT` outside a
    /// checkout; `unknown` when neither says.
    pub commit: String,
    /// Cores and CPU model.
    pub machine: String,
}

impl Provenance {
    /// This process's command line, commit and machine.
    #[must_use]
    pub fn here() -> Self {
        let mut args = std::env::args();
        let program = args.next().map_or_else(String::new, |p| {
            std::path::Path::new(&p)
                .file_name()
                .map_or(p.clone(), |f| f.to_string_lossy().into_owned())
        });
        let command = std::iter::once(program).chain(args).collect::<Vec<_>>().join(" ");
        Self { command, commit: commit(), machine: machine() }
    }
}

/// The commit of the checkout the process runs in, `-dirty` if it has uncommitted changes.
#[must_use]
pub fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "HEAD"]) {
        Some(head) if !head.is_empty() => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{head}-dirty")
            } else {
                head
            }
        }
        _ => option_env!("SPELUNK_COMMIT").unwrap_or("unknown").to_owned(),
    }
}

/// `"<cores> cores, <CPU model>"`: the machine's cores and model from `/proc/cpuinfo` where
/// there is one (not the cores this process may use: a run pinned to one core still ran on the
/// same machine), else the cores available to the process.
#[must_use]
pub fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let listed = info.lines().filter(|l| l.starts_with("processor")).count();
    let cores = if listed > 0 {
        listed
    } else {
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    };
    let cpu = info
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or_else(|| "unknown CPU".into(), |(_, m)| m.trim().to_owned());
    format!("{cores} cores, {cpu}")
}

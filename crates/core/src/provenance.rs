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

/// The CPU time this process has used so far, user and system, over all its threads, in
/// seconds (`/proc/self/stat`'s `utime + stime`, in the kernel's fixed 100 ticks a second);
/// `None` where there is no `/proc`. The difference of two readings is what a stage cost,
/// whatever else the machine was running beside it.
#[must_use]
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: fields after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    // `rest` starts at field 3 (state); utime and stime are fields 14 and 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn cpu_seconds_count_the_work_done_between_two_readings() {
        let before = super::cpu_seconds().expect("Linux has /proc/self/stat");
        // Spin until the kernel's 10 ms tick has charged at least 0.2 s to this process.
        let mut x = 0u64;
        let started = std::time::Instant::now();
        while super::cpu_seconds().unwrap() - before < 0.2 {
            for k in 0..100_000u64 {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(k);
            }
            assert!(started.elapsed().as_secs() < 60, "no CPU time charged in 60 s of spinning");
        }
        std::hint::black_box(x);
        let spent = super::cpu_seconds().unwrap() - before;
        assert!((0.2..30.0).contains(&spent), "{spent}");
    }
}

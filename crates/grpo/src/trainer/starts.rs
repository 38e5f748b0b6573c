//! Privileged starts as a part of the iteration: groups start from states of a demonstration
//! around the curriculum's cursor (a share of them on its frontier) until the cursor reaches
//! the real start; the frontier's success rate (or all episodes', with `frontier = 0`) moves
//! the cursor back (`crate::explore::Curriculum`).

use std::collections::BTreeMap;

use spelunk_core::{Demo, Rng, Snapshot};

use super::{Arc, Curriculum, Episode, PrivilegedConfig, Start};

/// A demonstration's states and the curriculum over them.
pub(super) struct PrivilegedStarts {
    /// The demonstration.
    pub(super) demo: Demo,
    /// Its snapshots, step 0 to the end.
    snaps: Vec<Arc<Snapshot>>,
    /// Where starts begin now.
    pub(super) curriculum: Curriculum,
    config: PrivilegedConfig,
    /// Whether this iteration's groups start from the demo (the cursor was past step 0 when
    /// it began).
    active: bool,
    /// This iteration's episodes that started on the frontier, and their successes.
    front_eps: usize,
    front_successes: usize,
}

impl PrivilegedStarts {
    /// Starts from `demo`'s `snaps`, the cursor at the end.
    pub(super) fn new(demo: Demo, snaps: Vec<Arc<Snapshot>>, config: PrivilegedConfig) -> Self {
        let curriculum = Curriculum::new(demo.actions.len(), &config);
        Self { demo, snaps, curriculum, config, active: false, front_eps: 0, front_successes: 0 }
    }

    /// A new iteration begins.
    pub(super) fn begin_iteration(&mut self) {
        self.active = self.curriculum.cursor > 0;
        self.front_eps = 0;
        self.front_successes = 0;
    }

    /// `want` starts for a round, and whether each lies on the frontier; `None` once the
    /// cursor has reached the real start (groups then start from seeds). `base` seeds the
    /// env's randomness after each restore.
    pub(super) fn draw(
        &self,
        want: usize,
        base: u64,
        rng: &mut Rng,
    ) -> Option<(Vec<Start>, Vec<bool>)> {
        if !self.active {
            return None;
        }
        let (c, p) = (&self.curriculum, &self.config);
        let (lo, hi) = c.range(p);
        let (_, front_hi) = c.frontier(p);
        let n_front = (p.frontier * want as f64).ceil() as usize;
        let mut on_frontier = Vec::with_capacity(want);
        let starts = (0..want as u64)
            .map(|k| {
                let top = if (k as usize) < n_front { front_hi } else { hi };
                let at = lo + rng.index(top - lo + 1);
                on_frontier.push(at <= front_hi);
                Start::Restore(self.demo.seed, Arc::clone(&self.snaps[at]), Some(base + k))
            })
            .collect();
        Some((starts, on_frontier))
    }

    /// Count a round's episodes (G per start) that began on the frontier.
    pub(super) fn record(&mut self, eps: &[Episode], g: usize, on_frontier: &[bool]) {
        for (i, e) in eps.iter().enumerate() {
            if on_frontier.get(i / g).copied().unwrap_or(false) {
                self.front_eps += 1;
                self.front_successes += usize::from(e.success);
            }
        }
    }

    /// The iteration's metrics (`charts/demo_start`, `charts/demo_length`,
    /// `charts/frontier_success_rate`), then the cursor moved by the frontier's success rate
    /// (or by `success_rate`, all episodes', without a frontier).
    pub(super) fn finish(&mut self, success_rate: f64, m: &mut BTreeMap<String, f64>) {
        let c = &mut self.curriculum;
        m.insert("charts/demo_start".into(), c.cursor as f64);
        m.insert("charts/demo_length".into(), c.len as f64);
        if self.active {
            // No frontier episode this iteration: a rate of 0, so the start stays.
            let front = self.front_successes as f64 / self.front_eps.max(1) as f64;
            if self.front_eps > 0 {
                m.insert("charts/frontier_success_rate".into(), front);
            }
            let rate = if self.config.frontier > 0.0 { front } else { success_rate };
            c.record(rate, &self.config);
        }
    }
}
